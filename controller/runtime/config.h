/* The settings of `sealift controller` that reconcilers and the engines they use read
 * (--state-dir, --insecure-registry, --min-interval, ...), and the checks made against them. */
#ifndef SL_RUNTIME_CONFIG_H
#define SL_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settings of `sealift controller` that reconcilers need. cmd_controller fills them from its
 * flags and hands them to the wiring, which passes them to each reconciler's constructor (a
 * reconciler keeps a copy; the strings are borrowed for the life of the controller). A zeroed
 * struct is the defaults of a unit test: nothing insecure, no local paths, no minimum interval,
 * no registry deadline, no scanner adapters. */
struct sl_controller_config {
    const char *state_dir;        /* --state-dir (clones, caches); default /var/lib/sealift */
    const char *webhook_cert_dir; /* --webhook-cert-dir, or NULL */
    /* --webhook-client-ca: the webhook's admission routes only answer callers with a client
     * certificate of that CA (the API server), so its denials may carry digests and registry
     * errors; without it they say only "not verified" (/convert and /healthz answer anyone) */
    bool webhook_client_auth;
    /* --webhook-service-port: the port of the sealift-webhook Service the generated
     * ValidatingWebhookConfiguration names (0 = 443) */
    int webhook_service_port;
    /* --insecure-registry HOST[:PORT]: the only registries a tenant's `insecure: true` may
     * reach over plain http (an entry without a port matches every port of that host); none by
     * default */
    const char *const *insecure_registries;
    size_t n_insecure_registries;
    /* --allow-local-paths: ScanPolicy spec.database.path and GitSource file:// URLs may read
     * the controller's filesystem; off by default */
    bool allow_local_paths;
    /* --min-interval: the shortest interval / rescanInterval a tenant's object gets (shorter
     * ones are raised to it); default 10 s */
    int64_t min_interval_ms;
    /* --registry-timeout: the longest one reconcile may spend on registry exchanges (an
     * ImageDelivery pass ends TRANSIENT after it, naming the registry; blobs copied before it
     * stay copied, so the next pass goes on from there); default 30 min, 0 = none (config not
     * set, as in unit tests) */
    int64_t registry_timeout_ms;
    /* --image-parallel-copies: blobs one image copy streams at a time; 0 = the copy engine's
     * default (2) */
    int image_parallel_copies;
    /* --webhook-cache-ttl: how long the admission webhook keeps an admitted decision; default
     * 5 min, 0 = the webhook's default */
    int64_t webhook_cache_ttl_ms;
    /* --scanner-url PREFIX: Harbor scanner adapter URLs a ScanPolicy may name (prefix match on
     * the whole URL, scheme included, so an http:// adapter must be listed as such); none by
     * default, which turns spec.scanner.harbor off */
    const char *const *scanner_urls;
    size_t n_scanner_urls;
    /* --workload-identity: registry `provider: aws` may exchange a token of the object's
     * serviceAccountName for cloud registry credentials (the controller then needs RBAC to
     * create ServiceAccount tokens, crds/workload-identity.yaml); off by default */
    bool workload_identity;
};
/* True when hostport ("host" or "host:port" of a registry a tenant marked insecure) is listed
 * by --insecure-registry: an entry "host:port" matches exactly, an entry "host" any port. */
bool sl_controller_insecure_allowed(const struct sl_controller_config *cc, const char *hostport);
/* True when url starts with one of the --scanner-url prefixes, on a path boundary. */
bool sl_controller_scanner_url_allowed(const struct sl_controller_config *cc, const char *url);
/* interval_ms raised to --min-interval (0 and negative values are returned unchanged: they mean
 * "not set" to the callers). */
int64_t sl_controller_clamp_interval_ms(const struct sl_controller_config *cc, int64_t interval_ms);

#endif
