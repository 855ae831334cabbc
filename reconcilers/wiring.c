/* The reconcilers `sealift controller` runs, and the HTTP routes they serve (wiring.h). */
#include "wiring.h"
#include "deploypolicy/reconciler.h"
#include "gitsource/reconciler.h"
#include "gitsource/webhook.h"
#include "imagedelivery/gates.h"
#include "imagedelivery/reconciler.h"
#include "policy/webhook.h"
#include "runtime/config.h"
#include "runtime/informer.h"
#include "runtime/manager.h"
#include "scan/policy.h"
#include "scan/record.h"
#include "scan/store.h"
#include "scanpolicy/reconciler.h"
#include "signingkey/reconciler.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdlib.h>

typedef int (*constructor_fn)(struct sl_reconciler **out, struct sl_err *err);

/* What the ScanPolicies passed or blocked in this process (the ImageDelivery reconciler's scans
 * through the gate below, and the webhook's own): the admission webhook decides
 * requireScanPassed from it. Made with the reconcilers, freed at teardown. */
static struct sl_scan_record *scan_record;

/* What the ScanPolicy reconciler loaded, read by the scan and attestation gates. */
static struct sl_scan_store *scan_store;

static int new_scanpolicy(struct sl_reconciler **out, struct sl_err *err)
{
    return sl_scanpolicy_reconciler_new(out, scan_store, err);
}

static int new_gitsource(struct sl_reconciler **out, struct sl_err *err)
{
    const struct sl_controller_config *cc = sl_controller_config_get();
    char *cache = sl_xasprintf("%s/git", cc->state_dir ? cc->state_dir : "/var/lib/sealift");
    int rc = sl_gitsource_reconciler_new(out, cache, NULL, err);
    free(cache);
    return rc;
}

static struct sl_admission_webhook *admission;

/* The admission webhook's routes are on the --webhook-addr listener, which the controller
 * starts before any reconcile (and exits when it cannot). */
static bool admission_serving(void *ctx)
{
    (void)ctx;
    return admission != NULL;
}

static int new_deploypolicy(struct sl_reconciler **out, struct sl_err *err)
{
    const struct sl_controller_config *cc = sl_controller_config_get();
    struct sl_deploypolicy_opts o = {.cert_dir = cc->webhook_cert_dir,
                                     .service_port = cc->webhook_service_port,
                                     .webhook_serving = admission_serving};
    return sl_deploypolicy_reconciler_new(out, &o, err);
}

int sl_reconcilers_all(struct sl_reconciler ***out, size_t *n, struct sl_err *err)
{
    static const constructor_fn constructors[] = {
        sl_signingkey_reconciler_new,    new_gitsource,  new_deploypolicy,
        sl_imagedelivery_reconciler_new, new_scanpolicy,
    };
    /* the built-in scanner answers the ImageDelivery scan gate (ScanPolicy store); every
     * verdict is recorded for the admission webhook */
    if (!scan_store)
        scan_store = sl_scan_store_new();
    struct sl_scan_gate gate, recorded;
    sl_scanpolicy_gate(&gate, scan_store);
    if (!scan_record)
        scan_record = sl_scan_record_new(&gate, sl_scanpolicy_revision, scan_store, 0);
    sl_scan_record_gate(&recorded, scan_record);
    sl_imagedelivery_set_scan_gate(&recorded);
    /* and writes the signed SBOM and vulnerability attestations of signed deliveries */
    struct sl_attest_gate attest;
    sl_scanpolicy_attest_gate(&attest, scan_store);
    sl_imagedelivery_set_attest_gate(&attest);
    size_t total = sizeof(constructors) / sizeof(constructors[0]);
    struct sl_reconciler **list = sl_xcalloc(total, sizeof(*list));
    size_t count = 0;
    for (size_t i = 0; i < total; i++) {
        int rc = constructors[i](&list[count], err);
        if (rc) {
            for (size_t j = 0; j < count; j++)
                sl_reconciler_free(list[j]);
            free(list);
            return rc;
        }
        count++;
    }
    *out = list;
    *n = count;
    return 0;
}

/* ---- servers ---- */

static struct sl_gitsource_webhook *push_hooks;

/* Object lookups for the admission webhook: the manager's informer caches where the kind has
 * one, else a GET/LIST through the API. */
static json_t *lookup_get(void *ctx, const char *kind, const char *ns, const char *name)
{
    struct sl_manager *m = ctx;
    struct sl_informer *inf = sl_manager_informer(m, kind);
    if (inf)
        return sl_informer_get(inf, ns, name);
    return NULL;
}

static json_t *lookup_list(void *ctx, const char *kind)
{
    struct sl_manager *m = ctx;
    struct sl_informer *inf = sl_manager_informer(m, kind);
    return inf ? sl_informer_list(inf) : json_array();
}

int sl_reconcilers_setup_servers(struct sl_manager *m, struct sl_http_server *metrics,
                                 struct sl_http_server *webhook, struct sl_err *err)
{
    struct sl_runtime *rt = sl_manager_runtime(m);
    if (metrics) {
        int rc = sl_gitsource_webhook_new(&push_hooks, rt, err);
        if (rc)
            return rc;
        sl_gitsource_webhook_register(push_hooks, metrics);
    }
    if (webhook) {
        const struct sl_controller_config *cc = sl_controller_config_get();
        struct sl_admission_lookup lookup = {.ctx = m, .get = lookup_get, .list = lookup_list};
        struct sl_scan_gate recorded;
        sl_scan_record_gate(&recorded, scan_record);
        struct sl_admission_webhook_opts wo = {.insecure_registries = cc->insecure_registries,
                                               .n_insecure = cc->n_insecure_registries,
                                               .cache_ttl_ms = cc->webhook_cache_ttl_ms,
                                               .reveal_details = cc->webhook_client_auth,
                                               .scans = scan_record,
                                               .scan_gate = scan_record ? &recorded : NULL};
        int rc = sl_admission_webhook_new(&admission, rt, &lookup, &wo, err);
        if (rc)
            return rc;
        sl_admission_webhook_register(admission, webhook);
    }
    return 0;
}

void sl_reconcilers_teardown(void)
{
    sl_admission_webhook_free(admission);
    admission = NULL;
    sl_gitsource_webhook_free(push_hooks);
    push_hooks = NULL;
    /* the reconcilers are gone: take the gates away before the record and the store go */
    sl_imagedelivery_set_scan_gate(NULL);
    sl_imagedelivery_set_attest_gate(NULL);
    sl_scan_record_free(scan_record);
    scan_record = NULL;
    sl_scan_store_free(scan_store);
    scan_store = NULL;
}
