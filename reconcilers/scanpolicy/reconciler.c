/* The ScanPolicy reconciler (see reconciler.h). */
#include "scanpolicy/reconciler.h"

#include "kube/pullsecrets.h"
#include "kube/secret.h"
#include "oci/auth.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "runtime/cloudcreds.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"
#include "runtime/refindex.h"
#include "runtime/config.h"
#include "runtime/status.h"
#include "scan/advisory.h"
#include "scan/malware.h"
#include "scan/policy.h"
#include "scan/regimage.h"
#include "scan/store.h"
#include "scan/vex.h"
#include "scan/vexatt.h"
#include "scanner/harbor_api.h"
#include "scanner/harbor_client.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HSB_MAX ((size_t)64 << 20)
#define MSG_MAX 2048

/* spec.rescanInterval: a tenant does not get to make the controller rescan (and pull) faster
 * than the administrator's --min-interval */
static int64_t rescan_ms(const struct sl_controller_config *cc, const json_t *spec)
{
    return sl_controller_clamp_interval_ms(cc, sl_scanpolicy_rescan_ms(spec));
}

#define INSECURE_MSG                                                                               \
    "%s: registry %s is not one this controller may reach over plain http or without TLS "         \
    "verification (the administrator allows such registries with --insecure-registry); nothing "   \
    "was sent to it"

static bool host_insecure(const struct sl_controller_config *cc, const char *host)
{
    for (size_t i = 0; i < cc->n_insecure_registries; i++)
        if (strcmp(cc->insecure_registries[i], host) == 0)
            return true;
    return false;
}

/* ---- the reconciler ---- */

struct sp_reconciler {
    struct sl_reconciler base;      /* first: freed through base.free */
    struct sl_scan_store *store;    /* borrowed: where the gates read what is loaded */
    struct sl_controller_config cc; /* the administrator's settings (strings borrowed) */
    /* which ScanPolicy refers to which Secret / ConfigMap, so their changes enqueue it */
    struct sl_refindex *refs;
    struct sl_cloud_ops cloud; /* provider aws, azure, gcp logins */
    struct sl_cloud_cache *cloud_cache;
    time_t (*wall_now)(void *clock_ctx);
    void *clock_ctx;
};

/* Replaces the references of ScanPolicy ns/name (any name may be NULL): the database pull
 * Secret, the hashes ConfigMap, the Harbor adapter's credentials and CA Secrets. */
static void index_update(struct sp_reconciler *r, const char *ns, const char *name,
                         const char *secret, const char *configmap, const char *secret2,
                         const char *secret3, const char *secret4, const json_t *vex,
                         const json_t *service_accounts)
{
    struct sl_refindex_ref refs[5 + 3 * SL_SCANPOLICY_MAX_VEX + SL_VEXATT_MAX_AUTHORITIES +
                                (1 + SL_SCANPOLICY_MAX_VEX) * SL_KUBE_PULL_SECRETS_MAX];
    size_t n = 0;
    /* the imagePullSecrets of the ServiceAccounts read for the database and VEX images (the
     * ServiceAccounts themselves are not watched: their failures are looked at again) */
    for (size_t i = 0; i < json_array_size(service_accounts) && i < 1 + SL_SCANPOLICY_MAX_VEX;
         i++) {
        const char *pulls[SL_KUBE_PULL_SECRETS_MAX];
        size_t np = sl_kube_pull_secret_names(json_array_get(service_accounts, i), pulls,
                                              SL_KUBE_PULL_SECRETS_MAX);
        for (size_t k = 0; k < np; k++)
            refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = pulls[k]};
    }
    /* spec.vex: each entry's ConfigMap or pull Secret (the spec was checked to hold at most
     * SL_SCANPOLICY_MAX_VEX entries; more are not watched) */
    for (size_t i = 0; i < json_array_size(vex) && i < SL_SCANPOLICY_MAX_VEX; i++) {
        const json_t *v = json_array_get(vex, i);
        const char *cm = sl_kube_json_path_str(v, "configMapRef.name");
        const char *sec = sl_kube_json_path_str(v, "secretRef.name");
        const char *cert = sl_kube_json_path_str(v, "certSecretRef.name");
        if (cm && *cm)
            refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = cm};
        if (sec && *sec)
            refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = sec};
        if (cert && *cert)
            refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = cert};
        /* the ConfigMaps of trusted attestation keys (one attestations entry, checked) */
        const json_t *auths = sl_kube_json_path(v, "attestations.authorities");
        for (size_t k = 0; k < json_array_size(auths) && k < SL_VEXATT_MAX_AUTHORITIES; k++) {
            const char *kcm =
                sl_kube_json_path_str(json_array_get(auths, k), "key.configMapRef.name");
            if (kcm && *kcm && n < sizeof(refs) / sizeof(refs[0]) - 5)
                refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = kcm};
        }
    }
    if (secret)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret};
    if (secret2)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret2};
    if (secret3)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret3};
    if (secret4)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret4};
    if (configmap)
        refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = configmap};
    sl_refindex_set(r->refs, ns, name, refs, n);
}

static void map_secondary(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    struct sp_reconciler *r = self;
    const char *ns = sl_kube_obj_namespace(obj), *name = sl_kube_obj_name(obj);
    if (!ns || !name)
        return;
    const char *kind = strcmp(res->kind, "ConfigMap") == 0 ? "ConfigMap" : "Secret";
    sl_refindex_enqueue(r->refs, kind, ns, name, enqueue, qctx);
}

struct outcome {
    enum sl_result_kind kind;
    int64_t requeue_after_ms;
    bool ready;
    const char *reason;
    char message[MSG_MAX];
};

struct sp_run {
    struct sp_reconciler *r;
    struct sl_runtime *rt;
    const struct sl_controller_config *cc;
    const struct sl_reconcile_request *req;
    const json_t *obj, *spec;
    const char *ns, *name;
    const char *image, *path, *creds_secret, *cm_name, *cm_key;
    const char *db_cert_secret;         /* spec.database.certSecretRef.name */
    const char *db_service_account;     /* spec.database.serviceAccountName */
    enum sl_cloud_provider db_provider; /* spec.database.provider */
    json_t *service_accounts;           /* the ServiceAccounts read for credentials (array) */
    bool insecure;
    const char *harbor_url, *harbor_secret, *harbor_ca_secret; /* spec.scanner.harbor */
    bool harbor_insecure;
    struct sl_scanpolicy_rules policy;
    struct sl_scan_db *prev;         /* the last good database (reference), or NULL */
    struct sl_scan_db *loaded;       /* newly loaded this time (reference), or NULL */
    char fresh_digest[72];           /* HEAD of the image */
    json_t *cm;                      /* the hashes ConfigMap */
    const json_t *vex_spec;          /* spec.vex (array) or NULL */
    struct sl_scan_vexset *prev_vex; /* the statements in use (reference), or NULL */
    struct sl_scan_vexset *vex;      /* what spec.vex holds now (reference), or NULL */
    int64_t recheck_ms;
    struct outcome out;
};

static void set_outcome(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_outcome(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...)
{
    run->out.kind = kind;
    run->out.reason = reason;
    run->out.ready = false;
    run->out.requeue_after_ms = kind == SL_RESULT_WAITING ? SL_SCANPOLICY_RETRY_MS : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->out.message, sizeof(run->out.message), fmt, ap);
    va_end(ap);
}

static int str_or_null(const char **out, const json_t *obj, const char *path)
{
    const char *s = sl_kube_json_path_str(obj, path);
    *out = s && *s ? s : NULL;
    return 0;
}

/* provider of the registry entry entry (spec.database or spec.vex[i]) at field: generic, or aws,
 * azure or gcp (sl_cloud_provider_parse: the image's registry is that cloud's, a ServiceAccount,
 * verified TLS, the controller's --workload-identity). Only an image entry takes one. Returns 0
 * with *out or -1 with the outcome set. */
static int check_provider(struct sp_run *run, enum sl_cloud_provider *out, const json_t *entry,
                          const char *field)
{
    const char *provider = sl_kube_json_path_str(entry, "provider");
    const char *image = sl_kube_json_path_str(entry, "image");
    struct sl_cloud_fail fail;
    struct sl_err err = {0};
    struct sl_ref ref;
    *out = SL_CLOUD_GENERIC;
    if (!provider || strcmp(provider, "generic") == 0)
        return 0;
    if (!image || !*image) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "%s.provider: Forbidden: only with image", field);
        return -1;
    }
    memset(&ref, 0, sizeof(ref));
    if (sl_ref_parse(&ref, image, &err) != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "%s.image: %s", field, err.msg);
        return -1;
    }
    const char *sa = sl_kube_json_path_str(entry, "serviceAccountName");
    int rc = sl_cloud_provider_parse(out, provider, ref.registry, sa && *sa ? sa : NULL,
                                     json_is_true(json_object_get(entry, "insecure")),
                                     json_is_true(json_object_get(entry, "insecureSkipTLSVerify")),
                                     run->cc->workload_identity, field, &fail);
    sl_ref_free(&ref);
    if (rc != 0) {
        set_outcome(run, fail.kind, fail.reason, "%s", fail.message);
        return -1;
    }
    return 0;
}

/* Where the cloud credentials of an image entry come from: provider p (not generic), the
 * entry's field ("spec.database", "spec.vex[2]"), its registry, ServiceAccount sa and
 * certSecretRef tls (Azure's exchange is with the registry; NULL: none). */
struct cloud_source {
    enum sl_cloud_provider p;
    const char *field, *registry, *sa;
    const struct sl_kube_tls_secret *tls;
};

static void cloud_request(struct sp_run *run, const struct cloud_source *cs,
                          struct sl_cloud_request *req)
{
    struct sp_reconciler *r = run->r;
    *req = (struct sl_cloud_request){
        .kube = &run->rt->kube,
        .ns = run->ns,
        .service_account = cs->sa,
        .field = cs->field,
        .registry = cs->registry,
        .provider = cs->p,
        .registry_tls = cs->tls,
        .ops = &r->cloud,
        .cache = r->cloud_cache,
        .now_unix = (int64_t)(r->wall_now ? r->wall_now(r->clock_ctx) : time(NULL)),
    };
}

/* Registry credentials of cs from the cloud identity of its ServiceAccount
 * (sl_cloud_creds_load). Returns 0 with creds and *cached set, or -1 with the outcome set. */
static int load_cloud_creds(struct sp_run *run, struct sl_creds *creds, bool *cached,
                            const struct cloud_source *cs)
{
    struct sl_cloud_fail fail;
    struct sl_cloud_request req;
    cloud_request(run, cs, &req);
    if (sl_cloud_creds_load(creds, cached, &req, &fail) != 0) {
        set_outcome(run, fail.kind, fail.reason, "%s", fail.message);
        return -1;
    }
    return 0;
}

/* The registry of cs refused its cloud credentials (SL_EAUTH): forgets them (refused NULL:
 * whatever the cache holds for cs), so the next load logs in again instead of offering them
 * until they near expiry. A generic entry (a Secret's credentials) is left alone. */
static void cloud_refused(struct sp_run *run, const struct cloud_source *cs,
                          const struct sl_creds *refused)
{
    if (cs->p == SL_CLOUD_GENERIC)
        return;
    struct sl_cloud_request req;
    cloud_request(run, cs, &req);
    sl_cloud_creds_forget(&req, refused);
}

/* The first request to the registry of cs was refused (refusal: its message) with *creds, which
 * came from the cache when cached. Forgets them; when cached, logs in again into *creds and
 * writes the text of a Normal event into renewed (MSG_MAX bytes) for renewal_done: returns 1,
 * the caller opens a new client and asks once more (once: the new credentials are not from the
 * cache). Returns 0 when the caller records the refusal as it is, -1 when the new login failed
 * (the outcome set). */
static int cloud_relogin(struct sp_run *run, struct sl_creds *creds, bool cached,
                         const struct cloud_source *cs, const char *refusal, char *renewed)
{
    if (cs->p == SL_CLOUD_GENERIC)
        return 0;
    cloud_refused(run, cs, creds);
    if (!cached)
        return 0;
    struct sl_creds fresh = {0};
    bool again_cached = false;
    if (load_cloud_creds(run, &fresh, &again_cached, cs) != 0) {
        char msg[MSG_MAX];
        snprintf(msg, sizeof(msg),
                 "%s (after the registry refused the credentials kept from the last login: "
                 "%.600s)",
                 run->out.message, refusal);
        snprintf(run->out.message, sizeof(run->out.message), "%s", msg);
        return -1;
    }
    sl_creds_free(creds);
    *creds = fresh;
    snprintf(renewed, MSG_MAX,
             "%s: the registry refused the cloud credentials kept from the last login (%.600s); "
             "logged in again as ServiceAccount %s/%s",
             cs->field, refusal, run->ns, cs->sa);
    return 1;
}

/* After asking again with cloud_relogin's new credentials (rc the answer): the Normal event
 * CloudCredentialsRenewed only when the registry took them; a refusal of the new credentials
 * too is the policy's failure, and no event claims a renewal. */
static void renewal_done(struct sp_run *run, const char *renewed, int rc)
{
    if (renewed[0] && rc != SL_EAUTH)
        sl_runtime_event(run->rt, run->obj, "Normal", "CloudCredentialsRenewed", renewed);
}

/* spec.database: an image or (with --allow-local-paths) a path, and its pull Secret; the name of
 * the malware hashes ConfigMap. Returns 0 or -1 with the outcome set. */
static int read_database_spec(struct sp_run *run)
{
    const json_t *spec = run->spec;
    const json_t *spec_db = json_object_get(spec, "database");
    str_or_null(&run->image, spec, "database.image");
    str_or_null(&run->path, spec, "database.path");
    str_or_null(&run->creds_secret, spec, "database.secretRef.name");
    str_or_null(&run->db_cert_secret, spec, "database.certSecretRef.name");
    str_or_null(&run->db_service_account, spec, "database.serviceAccountName");
    str_or_null(&run->cm_name, spec, "malware.hashes.configMapRef.name");
    str_or_null(&run->cm_key, spec, "malware.hashes.configMapRef.key");
    run->insecure = json_is_true(sl_kube_json_path(spec, "database.insecure"));
    if (run->image && run->path) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.database: Invalid value: give exactly one of image and path");
        return -1;
    }
    if (run->creds_secret && run->db_service_account) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.database: set at most one of secretRef and serviceAccountName");
        return -1;
    }
    if (check_provider(run, &run->db_provider, spec_db, "spec.database") != 0)
        return -1;
    const struct sl_controller_config *cc = run->cc;
    if (run->path && !cc->allow_local_paths) {
        /* the digest and load errors of any readable file would come back in status */
        set_outcome(run, SL_RESULT_STALLED, "LocalPathNotAllowed",
                    "spec.database.path: Forbidden: reading the controller's filesystem is off "
                    "(the administrator's --allow-local-paths turns it on); use "
                    "spec.database.image");
        return -1;
    }
    return 0;
}

/* spec.scanner.harbor: an adapter the administrator allows, and none of what only the built-in
 * scanner uses. Returns 0 or -1 with the outcome set. */
static int read_harbor_spec(struct sp_run *run)
{
    const json_t *spec = run->spec;
    const struct sl_controller_config *cc = run->cc;
    if (sl_kube_json_path(spec, "scanner.harbor")) {
        str_or_null(&run->harbor_url, spec, "scanner.harbor.url");
        str_or_null(&run->harbor_secret, spec, "scanner.harbor.secretRef.name");
        str_or_null(&run->harbor_ca_secret, spec, "scanner.harbor.certSecretRef.name");
        run->harbor_insecure =
            json_is_true(sl_kube_json_path(spec, "scanner.harbor.insecureSkipTLSVerify"));
        const char *extra = NULL;
        json_t *b = json_object_get(spec, "baseline");
        if (run->image || run->path)
            extra = "spec.database";
        else if (sl_kube_json_path(spec, "malware.hashes"))
            extra = "spec.malware";
        else if (json_is_true(json_object_get(b, "forbidRootUser")) ||
                 json_is_true(json_object_get(b, "forbidSecretsInEnv")) ||
                 json_is_true(json_object_get(b, "forbidSetuid")) ||
                 json_is_true(json_object_get(b, "forbidPrivateKeys")))
            extra = "spec.baseline";
        if (!run->harbor_url || (strncmp(run->harbor_url, "http://", 7) != 0 &&
                                 strncmp(run->harbor_url, "https://", 8) != 0)) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.scanner.harbor.url: Invalid value: want an http:// or https:// URL "
                        "of the scanner adapter");
            return -1;
        }
        if (!sl_controller_scanner_url_allowed(cc, run->harbor_url)) {
            /* the adapter receives pull tokens and image digests: which adapters exist is the
             * administrator's choice, not a tenant's */
            set_outcome(run, SL_RESULT_STALLED, "ScannerURLNotAllowed",
                        "spec.scanner.harbor.url: Forbidden: \"%.512s\" is not an adapter the "
                        "administrator allows (--scanner-url PREFIX%s)",
                        run->harbor_url,
                        cc->n_scanner_urls ? "" : "; none is set, so Harbor adapters are off");
            return -1;
        }
        if (sl_kube_json_path(spec, "scanner.builtin"))
            extra = "spec.scanner.builtin";
        if (extra) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "%s: Forbidden: not used with spec.scanner.harbor (the adapter scans "
                        "for vulnerabilities with its own database; baseline and malware checks "
                        "need the built-in scanner)",
                        extra);
            return -1;
        }
    }
    return 0;
}

/* spec.vex: at most SL_SCANPOLICY_MAX_VEX entries, each a ConfigMap key or an image. Returns 0
 * or -1 with the outcome set. */
static int read_vex_spec(struct sp_run *run)
{
    const json_t *vex = json_object_get(run->spec, "vex");
    if (vex && !json_is_array(vex)) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.vex: Invalid value: want a list of {configMapRef}, {image} or "
                    "{attestations}");
        return -1;
    }
    if (json_array_size(vex) > SL_SCANPOLICY_MAX_VEX) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "spec.vex: Too many: at most %d",
                    SL_SCANPOLICY_MAX_VEX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(vex); i++) {
        const json_t *v = json_array_get(vex, i);
        const char *cm = sl_kube_json_path_str(v, "configMapRef.name");
        const char *key = sl_kube_json_path_str(v, "configMapRef.key");
        const char *image = sl_kube_json_path_str(v, "image");
        bool has_cm = json_object_get(v, "configMapRef") != NULL;
        const json_t *att = json_object_get(v, "attestations");
        if ((int)has_cm + (image != NULL) + (att != NULL) != 1) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.vex[%zu]: Invalid value: set exactly one of configMapRef, image "
                        "and attestations",
                        i);
            return -1;
        }
        for (size_t k = 0; att && k < i; k++)
            if (json_object_get(json_array_get(vex, k), "attestations")) {
                set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                            "spec.vex[%zu].attestations: Duplicate value: one attestations "
                            "entry lists every trusted authority",
                            i);
                return -1;
            }
        struct sl_err err = {0};
        if (att && sl_vexatt_spec_check(att, i, &err) != 0) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "%s", err.msg);
            return -1;
        }
        /* a registry's credentials and certificates belong to image entries only */
        const char *sec = sl_kube_json_path_str(v, "secretRef.name");
        const char *sa = sl_kube_json_path_str(v, "serviceAccountName");
        const char *extra = json_object_get(v, "serviceAccountName") ? "serviceAccountName"
                            : json_object_get(v, "certSecretRef")    ? "certSecretRef"
                            : json_object_get(v, "provider")         ? "provider"
                                                                     : NULL;
        if (!image && extra) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.vex[%zu].%s: Forbidden: only with image", i, extra);
            return -1;
        }
        if (sec && *sec && sa && *sa) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.vex[%zu]: set at most one of secretRef and serviceAccountName", i);
            return -1;
        }
        char field[32];
        enum sl_cloud_provider p;
        snprintf(field, sizeof(field), "spec.vex[%zu]", i);
        if (image && check_provider(run, &p, v, field) != 0)
            return -1;
        if (has_cm && (!cm || !*cm || !key || !*key)) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.vex[%zu].configMapRef: Required value: name and key", i);
            return -1;
        }
    }
    run->vex_spec = json_array_size(vex) ? vex : NULL;
    return 0;
}

/* Reads and checks the spec, in this order: the database, the Harbor adapter, the malware
 * hashes' key, spec.vex, the rules; then when to look again. */
static int step_read_spec(struct sp_run *run)
{
    struct sl_err err = {0};
    const json_t *spec = run->spec;
    if (read_database_spec(run) != 0 || read_harbor_spec(run) != 0)
        return -1;
    if (run->cm_name && !run->cm_key) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.malware.hashes.configMapRef.key: Required value");
        return -1;
    }
    if (read_vex_spec(run) != 0)
        return -1;
    if (sl_scanpolicy_rules_parse(&run->policy, spec, &err) != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "%s", err.msg);
        return -1;
    }
    int64_t rescan = rescan_ms(run->cc, spec);
    run->recheck_ms = rescan < SL_SCANPOLICY_RECHECK_MS ? rescan : SL_SCANPOLICY_RECHECK_MS;
    return 0;
}

/* Credentials for host from the dockerconfigjson Secret. Returns 0 (creds may stay anonymous)
 * or -1 with the outcome set. */
static int load_creds_from(struct sp_run *run, struct sl_creds *creds, const char *registry,
                           const char *secret_name, const char *field)
{
    if (!secret_name)
        return 0;
    struct sl_err err = {0};
    json_t *secret = NULL;
    int rc =
        run->rt->kube.get(run->rt->kube.ctx, &secret, &SL_RES_SECRET, run->ns, secret_name, &err);
    if (rc == SL_ENOTFOUND) {
        set_outcome(run, SL_RESULT_WAITING, "SecretNotFound", "%s: Secret \"%s\" not found", field,
                    secret_name);
        return -1;
    }
    if (rc != 0) {
        set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "reading Secret \"%s\": %s", secret_name,
                    err.msg);
        return -1;
    }
    unsigned char *text = NULL;
    size_t len = 0;
    if (sl_kube_secret_bytes(&text, &len, secret, ".dockerconfigjson") != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSecret",
                    "%s: Secret \"%s\" has no valid .dockerconfigjson", field, secret_name);
        json_decref(secret);
        return -1;
    }
    rc = sl_dockerconfig_lookup(creds, (const char *)text, len, registry, &err);
    sl_secure_free(text, len + 1);
    json_decref(secret);
    if (rc == SL_ENOTFOUND)
        return 0;
    if (rc != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSecret", "%s: Secret \"%s\": %s", field,
                    secret_name, err.msg);
        return -1;
    }
    return 0;
}

struct sa_match {
    struct sl_creds *creds;
    const char *registry;
};

/* an sl_kube_dockerconfig_match: the registry's credentials from one pull Secret's text */
static int sa_match_creds(void *ctx, const char *json, size_t len, struct sl_err *err)
{
    struct sa_match *m = ctx;
    return sl_dockerconfig_lookup(m->creds, json, len, m->registry, err);
}

/* Credentials for registry from the imagePullSecrets of ServiceAccount name of the policy's
 * namespace (kube/pullsecrets.h, as ImageDelivery's serviceAccountName): field is the entry
 * holding serviceAccountName ("spec.database", "spec.vex[i]"). No entry for the registry stops
 * the load (never an anonymous attempt). Returns 0 with creds set, or -1 with the outcome set. */
static int load_service_account_creds(struct sp_run *run, struct sl_creds *creds,
                                      const char *registry, const char *name, const char *field)
{
    struct sl_err err = {0};
    struct sa_match m = {creds, registry};
    const char *reason = "APIError";
    json_t *sa = NULL;
    struct sl_kube_pull_request req = {.kube = &run->rt->kube,
                                       .ns = run->ns,
                                       .service_account = name,
                                       .field = field,
                                       .registry = registry,
                                       .match = sa_match_creds,
                                       .ctx = &m};
    int rc = sl_kube_pull_secrets_find(&sa, &reason, &req, &err);
    if (sa) /* its pull Secrets are watched for this policy */
        json_array_append_new(run->service_accounts, sa);
    if (rc == 0)
        return 0;
    set_outcome(run, sl_outcome_kind_for_read(rc), reason, "%s", err.msg);
    return -1;
}

static int load_creds(struct sp_run *run, struct sl_creds *creds, const char *registry)
{
    if (run->db_service_account)
        return load_service_account_creds(run, creds, registry, run->db_service_account,
                                          "spec.database");
    return load_creds_from(run, creds, registry, run->creds_secret, "spec.database.secretRef.name");
}

/* Reads the malware hashes ConfigMap; run->cm set. */
static int step_read_configmap(struct sp_run *run)
{
    if (!run->cm_name)
        return 0;
    struct sl_err err = {0};
    int rc = run->rt->kube.get(run->rt->kube.ctx, &run->cm, &SL_RES_CONFIGMAP, run->ns,
                               run->cm_name, &err);
    if (rc == SL_ENOTFOUND) {
        set_outcome(run, SL_RESULT_WAITING, "ConfigMapNotFound",
                    "spec.malware.hashes.configMapRef.name: ConfigMap \"%s\" not found",
                    run->cm_name);
        return -1;
    }
    if (rc != 0) {
        set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "reading ConfigMap \"%s\": %s",
                    run->cm_name, err.msg);
        return -1;
    }
    if (!json_is_string(json_object_get(json_object_get(run->cm, "data"), run->cm_key))) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidConfigMap",
                    "spec.malware.hashes.configMapRef.key: ConfigMap \"%s\" has no key \"%s\"",
                    run->cm_name, run->cm_key);
        return -1;
    }
    return 0;
}

/* A failure (Ready=False, the gate waits), set as set_outcome does, except that a STALLED one is
 * looked at again at the recheck: a ConfigMap change enqueues the policy, but an artifact may be
 * replaced under its tag. Returns -1. */
static int failed_until_recheck(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int failed_until_recheck(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                                const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set_outcome(run, kind, reason, "%s", msg);
    if (kind == SL_RESULT_STALLED) {
        run->out.kind = SL_RESULT_DONE;
        run->out.requeue_after_ms = run->recheck_ms;
    }
    return -1;
}

/* A load that failed (reason_first: the reason when no database was loaded before, e.g.
 * DatabaseLoadFailed or DatabaseEmpty): keeps the last good database (StaleDatabase) if any. */
static int load_failed_as(struct sp_run *run, enum sl_result_kind kind, const char *reason_first,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int load_failed_as(struct sp_run *run, enum sl_result_kind kind, const char *reason_first,
                          const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (run->prev) {
        set_outcome(run, kind == SL_RESULT_STALLED ? SL_RESULT_DONE : kind, "StaleDatabase",
                    "%s; keeping the last good database %s (%zu records, loaded %s)", msg,
                    run->prev->digest[0] ? run->prev->digest : run->prev->source,
                    run->prev->adv.records, run->prev->loaded_at);
        run->out.ready = true;
        if (run->out.kind == SL_RESULT_DONE)
            run->out.requeue_after_ms = run->recheck_ms;
        return -1;
    }
    return failed_until_recheck(run, kind, reason_first, "%s", msg);
}

static enum sl_result_kind kind_for(int rc)
{
    return rc == SL_ERETRY || rc == SL_EFAIL ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED;
}

/* Loads the advisory records of spec.database (the image at run->fresh_digest in repo of reg,
 * whose cloud credentials cs are forgotten when the registry refuses them, or the path) into
 * db. Returns 0 or -1 with the outcome set. */
static int load_advisories(struct sp_run *run, struct sl_scan_db *db, struct sl_registry *reg,
                           const char *repo, const struct cloud_source *cs)
{
    struct sl_err err = {0};
    int rc = 0;
    if (run->image) {
        rc = sl_advdb_load_image(&db->adv, reg, repo, run->fresh_digest, &err);
        if (rc == SL_EAUTH)
            cloud_refused(run, cs, NULL);
        if (rc != 0)
            return load_failed_as(run, kind_for(rc), "DatabaseLoadFailed",
                                  "loading spec.database.image %s: %s", run->image, err.msg);
        if (sl_advdb_require_records(&db->adv, &err) != 0)
            return load_failed_as(run, SL_RESULT_STALLED, "DatabaseEmpty",
                                  "spec.database.image %s: %s", run->image, err.msg);
        db->have_adv = true;
    } else if (run->path) {
        rc = sl_advdb_load_dir(&db->adv, run->path, &err);
        if (rc != 0)
            return load_failed_as(run, SL_RESULT_STALLED, "DatabaseLoadFailed",
                                  "loading spec.database.path %s: %s", run->path, err.msg);
        if (sl_advdb_require_records(&db->adv, &err) != 0)
            return load_failed_as(run, SL_RESULT_STALLED, "DatabaseEmpty",
                                  "spec.database.path %s: %s", run->path, err.msg);
        db->have_adv = true;
    }
    return 0;
}

/* Loads the malware hashes of the ConfigMap run->cm into db. Returns 0 or -1 with the outcome
 * set. */
static int load_hashes(struct sp_run *run, struct sl_scan_db *db)
{
    if (!run->cm)
        return 0;
    struct sl_err err = {0};
    json_t *v = json_object_get(json_object_get(run->cm, "data"), run->cm_key);
    if (json_string_length(v) > HSB_MAX ||
        sl_hsbdb_load(&db->hsb, json_string_value(v), json_string_length(v), &err) != 0)
        return load_failed_as(run, SL_RESULT_STALLED, "DatabaseLoadFailed",
                              "ConfigMap \"%s\" key %s: %s", run->cm_name, run->cm_key,
                              json_string_length(v) > HSB_MAX ? "larger than 64 MiB" : err.msg);
    db->have_hsb = true;
    return 0;
}

static int load_registry_tls(struct sp_run *run, struct sl_kube_tls_secret *out, const char *field,
                             const char *name);

/* Loads the database when the source, its digest or the hashes changed. */
static int step_load(struct sp_run *run)
{
    struct sl_err err = {0};
    struct sl_ref ref;
    struct sl_creds creds;
    struct sl_registry *reg = NULL;
    memset(&ref, 0, sizeof(ref));
    memset(&creds, 0, sizeof(creds));
    char source[1100] = "";
    const char *hsb_rv = run->cm ? sl_kube_obj_resource_version(run->cm) : NULL;
    int rc = 0;
    struct sl_scan_db *db = NULL;
    struct cloud_source db_cloud = {
        .p = run->db_provider, .field = "spec.database", .sa = run->db_service_account};

    if (run->image) {
        rc = sl_ref_parse(&ref, run->image, &err);
        if (rc != 0) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "spec.database.image: %s", err.msg);
            goto done;
        }
        const char *host = sl_ref_api_host(&ref);
        /* plain http and unverified TLS only to a registry the administrator listed: a tenant
         * could otherwise point the controller at any http endpoint, or take a database (which
         * decides what passes the scan) from whoever sits on the path */
        if (run->insecure && !sl_controller_insecure_allowed(run->cc, host)) {
            set_outcome(run, SL_RESULT_STALLED, "InsecureRegistryNotAllowed", INSECURE_MSG,
                        "spec.database.insecure", host);
            rc = -1;
            goto done;
        }
        if (run->db_provider == SL_CLOUD_GENERIC &&
            (rc = load_creds(run, &creds, ref.registry)) != 0)
            goto done;
        struct sl_kube_tls_secret tls;
        if ((rc = load_registry_tls(run, &tls, "spec.database.certSecretRef.name",
                                    run->db_cert_secret)) != 0)
            goto done;
        /* after certSecretRef: Azure's exchange is with the registry itself, over its TLS */
        db_cloud.registry = ref.registry;
        db_cloud.tls = &tls;
        bool cached = false;
        if (run->db_provider != SL_CLOUD_GENERIC &&
            (rc = load_cloud_creds(run, &creds, &cached, &db_cloud)) != 0) {
            sl_kube_tls_secret_clear(&tls);
            goto done;
        }
        struct sl_registry_opts o = {.insecure = run->insecure || host_insecure(run->cc, host),
                                     .ca_pem = tls.ca_pem,
                                     .client_cert_pem = tls.cert_pem,
                                     .client_key_pem = tls.key_pem};
        const char *reference = ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest");
        int again = 1;
        char renewed[MSG_MAX] = "";
        for (int tries = 0; tries < 2 && again > 0; tries++) {
            sl_registry_free(reg);
            reg = sl_registry_new(host, creds.username ? &creds : NULL, &o);
            rc = sl_registry_manifest_head(run->fresh_digest, NULL, reg, ref.repository, reference,
                                           &err);
            again = rc == SL_EAUTH ? cloud_relogin(run, &creds, cached && tries == 0, &db_cloud,
                                                   err.msg, renewed)
                                   : 0;
        }
        renewal_done(run, renewed, rc);
        db_cloud.tls = NULL;
        sl_kube_tls_secret_clear(&tls); /* the client keeps its own copies */
        if (again < 0) {
            rc = -1;
            goto done;
        }
        if (rc != 0) {
            rc = load_failed_as(run, kind_for(rc), "DatabaseLoadFailed",
                                "spec.database.image %s: %s", run->image, err.msg);
            goto done;
        }
        snprintf(source, sizeof(source), "%s@%s", run->image, run->fresh_digest);
    } else if (run->path) {
        snprintf(source, sizeof(source), "%s", run->path);
    }
    /* unchanged image and hashes: keep what is loaded (a path is reread every recheck) */
    if (run->prev && !run->path && strcmp(run->prev->source, source) == 0 &&
        strcmp(run->prev->hsb_rv, hsb_rv ? hsb_rv : "") == 0 &&
        run->prev->have_hsb == (run->cm != NULL))
        goto done;

    db = sl_scan_db_new();
    snprintf(db->source, sizeof(db->source), "%s", source);
    snprintf(db->hsb_rv, sizeof(db->hsb_rv), "%s", hsb_rv ? hsb_rv : "");
    if ((rc = load_advisories(run, db, reg, ref.repository, &db_cloud)) != 0 ||
        (rc = load_hashes(run, db)) != 0)
        goto done;
    /* a directory whose content did not change: keep the database in use (and the gate's
     * cached results with it) */
    if (run->prev && run->path && strcmp(run->prev->digest, db->adv.digest) == 0 &&
        strcmp(run->prev->hsb_rv, db->hsb_rv) == 0 && run->prev->have_hsb == db->have_hsb) {
        rc = 0;
        goto done;
    }
    sl_time_now_rfc3339(db->loaded_at, sizeof(db->loaded_at));
    snprintf(db->digest, sizeof(db->digest), "%s", db->adv.digest);
    run->loaded = db;
    db = NULL;
    rc = 0;
done:
    sl_scan_db_unref(db);
    sl_registry_free(reg);
    sl_creds_free(&creds);
    sl_ref_free(&ref);
    return rc;
}

/* Reads Secret name for field; -1 with the outcome set when it is missing or unreadable. */
static int get_secret(struct sp_run *run, json_t **out, const char *field, const char *name)
{
    struct sl_err err = {0};
    int rc = sl_kube_secret_get(out, &run->rt->kube, run->ns, name, field, &err);
    if (rc == SL_ENOTFOUND) {
        set_outcome(run, SL_RESULT_WAITING, "SecretNotFound", "%s", err.msg);
        return -1;
    }
    if (rc != 0) {
        set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "%s", err.msg);
        return -1;
    }
    return 0;
}

/* The CA and client certificate of a registry or Harbor adapter the policy reads, from the
 * certSecretRef Secret name that field names (NULL: none, *out empty). Returns 0 with *out
 * filled (clear with sl_kube_tls_secret_clear), or -1 with the outcome set (the Secret and the
 * key named). */
static int load_registry_tls(struct sp_run *run, struct sl_kube_tls_secret *out, const char *field,
                             const char *name)
{
    memset(out, 0, sizeof(*out));
    if (!name)
        return 0;
    json_t *secret = NULL;
    if (get_secret(run, &secret, field, name) != 0)
        return -1;
    struct sl_err err = {0};
    int rc = sl_kube_secret_tls(out, secret, name, &err);
    sl_kube_secret_decref(secret);
    if (rc != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSecret", "%s: %s", field, err.msg);
        return -1;
    }
    return 0;
}

/* A Secret value without surrounding whitespace; NULL when absent, empty or holding CR/LF/NUL
 * inside (it goes into an HTTP header). Caller frees with sl_secure_free_str. */
static char *secret_header_value(const json_t *secret, const char *key)
{
    unsigned char *v = NULL;
    size_t len = 0;
    if (sl_kube_secret_bytes(&v, &len, secret, key) != 0)
        return NULL;
    char *s = (char *)v;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    bool bad = len == 0 || strlen(s) != len || strpbrk(s, "\r\n") != NULL;
    if (bad) {
        sl_secure_free(v, len + 1);
        return NULL;
    }
    char *out = sl_xstrdup(s);
    sl_secure_free(v, len + 1);
    return out;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The Authorization header value for the adapter from the Secret
 * spec.scanner.harbor.secretRef names (*out NULL without one; caller frees with
 * sl_secure_free_str): "Bearer <token>", or Basic from username and password. Returns 0 or -1
 * with the outcome set. */
static int harbor_authorization(struct sp_run *run, char **out)
{
    json_t *sec = NULL;
    char *auth = NULL;
    *out = NULL;
    if (!run->harbor_secret)
        return 0;
    if (get_secret(run, &sec, "spec.scanner.harbor.secretRef.name", run->harbor_secret) != 0) {
        json_decref(sec);
        return -1;
    }
    char *token = secret_header_value(sec, "token");
    char *user = secret_header_value(sec, "username");
    char *pass = secret_header_value(sec, "password");
    if (token) {
        auth = sl_xasprintf("Bearer %s", token);
    } else if (user && pass) {
        struct sl_creds cr = {.username = user, .password = pass};
        char *b64 = sl_auth_basic_value(&cr);
        auth = sl_xasprintf("Basic %s", b64);
        sl_secure_free_str(b64);
    }
    sl_secure_free_str(token);
    sl_secure_free_str(user);
    sl_secure_free_str(pass);
    json_decref(sec);
    if (!auth) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSecret",
                    "spec.scanner.harbor.secretRef.name: Secret \"%s\" has "
                    "neither key token nor keys username and password (one line each)",
                    run->harbor_secret);
        return -1;
    }
    *out = auth;
    return 0;
}

/* spec.scanner.harbor: reads the adapter's credentials, CA and client certificate
 * (certSecretRef: ca.crt and/or tls.crt + tls.key, checked as for registries), asks the adapter
 * for its metadata (it must consume image manifests and produce the v1.1 vulnerability report)
 * and installs the adapter's settings as the policy's "database". */
static int step_harbor(struct sp_run *run)
{
    struct sl_err err = {0};
    char *auth = NULL, *meta = NULL;
    struct sl_kube_tls_secret tls = {0};
    size_t meta_len = 0;
    struct sl_harbor_client *c = NULL;
    struct sl_harbor_scanner info;
    struct sl_scan_db *db = NULL;
    int rc = -1;
    if (harbor_authorization(run, &auth) != 0 ||
        load_registry_tls(run, &tls, "spec.scanner.harbor.certSecretRef.name",
                          run->harbor_ca_secret) != 0)
        goto done;
    /* the client certificate goes to the adapter only: the registry a ScanRequest names gets
     * a pull token from the policy's gate, never this certificate */
    struct sl_harbor_client_opts o = {.insecure = run->harbor_insecure,
                                      .ca_pem = tls.ca_pem,
                                      .client_cert_pem = tls.cert_pem,
                                      .client_key_pem = tls.key_pem,
                                      .authorization = auth,
                                      .request_timeout_ms = 30000};
    c = sl_harbor_client_new(run->harbor_url, &o);
    int hrc = sl_harbor_client_metadata(&meta, &meta_len, c, &err);
    if (hrc == 0) {
        hrc = sl_harbor_metadata_check(&info, meta, meta_len, NULL, &err);
        if (hrc != 0)
            sl_err_prefix(&err, "scanner adapter %s: GET /api/v1/metadata", run->harbor_url);
    }
    if (hrc != 0) {
        /* the adapter may come up or be fixed: retry with backoff */
        set_outcome(run, SL_RESULT_TRANSIENT, "ScannerError", "%s", err.msg);
        goto done;
    }
    char source[1100];
    snprintf(source, sizeof(source), "harbor:%s|%s|%s|%s|%d", run->harbor_url, info.name,
             info.vendor, info.version, run->harbor_insecure);
    snprintf(run->out.message, sizeof(run->out.message), "Harbor scanner adapter %s: %s %s by %s",
             run->harbor_url, info.name[0] ? info.name : "(unnamed)", info.version, info.vendor);
    rc = 0;
    if (run->prev && strcmp(run->prev->source, source) == 0 &&
        str_eq(run->prev->harbor_auth, auth) && str_eq(run->prev->harbor_ca, tls.ca_pem) &&
        str_eq(run->prev->harbor_cert, tls.cert_pem) && str_eq(run->prev->harbor_key, tls.key_pem))
        goto done; /* unchanged: keep the cached results */
    db = sl_scan_db_new();
    snprintf(db->source, sizeof(db->source), "%s", source);
    sl_time_now_rfc3339(db->loaded_at, sizeof(db->loaded_at));
    db->harbor_url = sl_xstrdup(run->harbor_url);
    db->harbor_auth = auth;
    db->harbor_ca = tls.ca_pem;
    db->harbor_cert = tls.cert_pem;
    db->harbor_key = tls.key_pem;
    db->harbor_insecure = run->harbor_insecure;
    db->harbor_scanner = info;
    auth = NULL;
    memset(&tls, 0, sizeof(tls)); /* the database owns them now */
    run->loaded = db;
done:
    sl_harbor_client_free(c);
    free(meta);
    sl_secure_free_str(auth);
    sl_kube_tls_secret_clear(&tls);
    return rc;
}

/* The data of one spec.vex entry: the ConfigMap value, or the artifact's layers. */
struct vex_source {
    char label[400]; /* names the entry in messages and as the documents' name */
    json_t *cm;      /* configMapRef: the ConfigMap */
    const char *cm_key;
    struct sl_registry *reg; /* image: the registry, repository and manifest digest */
    struct sl_ref ref;
    char digest[72];
    bool attestations;            /* attestations: the keys, read in vex_locate */
    struct sl_vexatt_trust trust; /* moved to the vexset when the statements are new */
    char field[64];               /* "spec.vex[i]" */
    struct cloud_source cloud;    /* the entry's provider (generic: none) */
};

static void vex_source_free(struct vex_source *src)
{
    json_decref(src->cm);
    sl_registry_free(src->reg);
    sl_ref_free(&src->ref);
    sl_vexatt_trust_clear(&src->trust);
    memset(src, 0, sizeof(*src));
}

/* Reads where spec.vex[i] stands: the ConfigMap (and its resourceVersion) or the artifact's
 * digest (HEAD); appends that to fp. Returns 0 or -1 with the outcome set. */
static int vex_locate(struct sp_run *run, struct vex_source *src, size_t i, char *fp, size_t fp_cap)
{
    struct sl_err err = {0};
    const json_t *v = json_array_get(run->vex_spec, i);
    const char *cm = sl_kube_json_path_str(v, "configMapRef.name");
    size_t used = strlen(fp);
    if (json_object_get(v, "attestations")) {
        /* the image's own attestations are read by the gate; here only the trusted keys */
        const char *reason = "APIError";
        src->attestations = true;
        int rc = sl_vexatt_trust_load(&src->trust, &run->rt->kube, run->ns,
                                      json_object_get(v, "attestations"), i, &reason, &err);
        if (rc != 0)
            return failed_until_recheck(run, sl_outcome_kind_for_read(rc), reason, "%s", err.msg);
        snprintf(fp + used, fp_cap - used, "att:%s;", src->trust.fingerprint);
        return 0;
    }
    if (cm) {
        src->cm_key = sl_kube_json_path_str(v, "configMapRef.key");
        snprintf(src->label, sizeof(src->label), "spec.vex[%zu] (ConfigMap %s key %s)", i, cm,
                 src->cm_key);
        int rc =
            run->rt->kube.get(run->rt->kube.ctx, &src->cm, &SL_RES_CONFIGMAP, run->ns, cm, &err);
        if (rc == SL_ENOTFOUND)
            return failed_until_recheck(run, SL_RESULT_WAITING, "ConfigMapNotFound",
                                        "%s: ConfigMap \"%s\" not found", src->label, cm);
        if (rc != 0)
            return failed_until_recheck(run, SL_RESULT_TRANSIENT, "APIError",
                                        "%s: reading ConfigMap: %s", src->label, err.msg);
        const char *rv = sl_kube_obj_resource_version(src->cm);
        snprintf(fp + used, fp_cap - used, "cm:%s/%s@%s;", cm, src->cm_key, rv ? rv : "");
        return 0;
    }
    const char *image = sl_kube_json_path_str(v, "image");
    const char *secret = sl_kube_json_path_str(v, "secretRef.name");
    snprintf(src->label, sizeof(src->label), "spec.vex[%zu] (%s)", i, image);
    if (sl_ref_parse(&src->ref, image, &err) != 0)
        return failed_until_recheck(run, SL_RESULT_STALLED, "InvalidSpec",
                                    "spec.vex[%zu].image: %s", i, err.msg);
    bool insecure = json_is_true(json_object_get(v, "insecure"));
    if (insecure && !sl_controller_insecure_allowed(run->cc, sl_ref_api_host(&src->ref))) {
        char what[64];
        snprintf(what, sizeof(what), "spec.vex[%zu].insecure", i);
        return failed_until_recheck(run, SL_RESULT_STALLED, "InsecureRegistryNotAllowed",
                                    INSECURE_MSG, what, sl_ref_api_host(&src->ref));
    }
    struct sl_creds creds;
    memset(&creds, 0, sizeof(creds));
    char field[64];
    const char *sa = sl_kube_json_path_str(v, "serviceAccountName");
    enum sl_cloud_provider provider;
    snprintf(field, sizeof(field), "spec.vex[%zu]", i);
    if (check_provider(run, &provider, v, field) != 0) /* read_vex_spec checked it */
        return -1;
    /* a cloud provider's login comes after certSecretRef below */
    if (provider == SL_CLOUD_GENERIC && sa && *sa) {
        if (load_service_account_creds(run, &creds, src->ref.registry, sa, field) != 0)
            return -1;
    } else if (provider == SL_CLOUD_GENERIC) {
        snprintf(field, sizeof(field), "spec.vex[%zu].secretRef.name", i);
        if (load_creds_from(run, &creds, src->ref.registry, secret && *secret ? secret : NULL,
                            field) != 0)
            return -1;
    }
    /* certSecretRef: CAs and a client certificate for this VEX image's registry only */
    const char *cert = sl_kube_json_path_str(v, "certSecretRef.name");
    struct sl_kube_tls_secret tls;
    snprintf(field, sizeof(field), "spec.vex[%zu].certSecretRef.name", i);
    if (load_registry_tls(run, &tls, field, cert && *cert ? cert : NULL) != 0) {
        sl_creds_free(&creds);
        return -1;
    }
    snprintf(src->field, sizeof(src->field), "spec.vex[%zu]", i);
    src->cloud = (struct cloud_source){
        .p = provider, .field = src->field, .registry = src->ref.registry, .sa = sa, .tls = &tls};
    bool cached = false;
    if (provider != SL_CLOUD_GENERIC && load_cloud_creds(run, &creds, &cached, &src->cloud) != 0) {
        sl_kube_tls_secret_clear(&tls);
        src->cloud.tls = NULL;
        return -1;
    }
    const char *host = sl_ref_api_host(&src->ref);
    struct sl_registry_opts o = {.insecure = insecure || host_insecure(run->cc, host),
                                 .ca_pem = tls.ca_pem,
                                 .client_cert_pem = tls.cert_pem,
                                 .client_key_pem = tls.key_pem};
    const char *reference =
        src->ref.digest ? src->ref.digest : (src->ref.tag ? src->ref.tag : "latest");
    int rc = 0, again = 1;
    char renewed[MSG_MAX] = "";
    for (int tries = 0; tries < 2 && again > 0; tries++) {
        sl_registry_free(src->reg);
        src->reg = sl_registry_new(host, creds.username ? &creds : NULL, &o);
        rc = sl_registry_manifest_head(src->digest, NULL, src->reg, src->ref.repository, reference,
                                       &err);
        again = rc == SL_EAUTH ? cloud_relogin(run, &creds, cached && tries == 0, &src->cloud,
                                               err.msg, renewed)
                               : 0;
    }
    renewal_done(run, renewed, rc);
    src->cloud.tls = NULL;
    sl_kube_tls_secret_clear(&tls); /* the client keeps its own copies */
    sl_creds_free(&creds);
    if (again < 0)
        return -1;
    if (rc != 0)
        return failed_until_recheck(
            run, kind_for(rc) == SL_RESULT_TRANSIENT ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED,
            "VEXLoadFailed", "%s: %s", src->label, err.msg);
    snprintf(fp + used, fp_cap - used, "img:%s@%s;", image, src->digest);
    return 0;
}

/* Parses the documents of one located source into vex. Returns 0 or -1 with the outcome
 * set. */
static int vex_read(struct sp_run *run, struct sl_vex *vex, struct vex_source *src)
{
    struct sl_err err = {0};
    if (src->attestations)
        return 0;
    if (src->cm) {
        json_t *val = json_object_get(json_object_get(src->cm, "data"), src->cm_key);
        if (!json_is_string(val))
            return failed_until_recheck(run, SL_RESULT_STALLED, "InvalidVEX",
                                        "%s: the ConfigMap has no key \"%s\"", src->label,
                                        src->cm_key);
        if (sl_vex_load(vex, src->label, json_string_value(val), json_string_length(val), &err) !=
            0)
            return failed_until_recheck(run, SL_RESULT_STALLED, "InvalidVEX", "%s", err.msg);
        return 0;
    }
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    int result = -1;
    int rc = sl_registry_manifest_get(&rm, src->reg, src->ref.repository, src->digest, &err);
    if (rc == SL_EAUTH)
        cloud_refused(run, &src->cloud, NULL);
    if (rc != 0) {
        failed_until_recheck(
            run, kind_for(rc) == SL_RESULT_TRANSIENT ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED,
            "VEXLoadFailed", "%s: %s", src->label, err.msg);
        goto done;
    }
    if (sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, &err) != 0 ||
        m.kind != SL_MANIFEST_IMAGE) {
        failed_until_recheck(run, SL_RESULT_STALLED, "InvalidVEX", "%s: %s", src->label,
                             m.kind != SL_MANIFEST_IMAGE && !err.msg[0]
                                 ? "an index, not an artifact manifest with the document as a layer"
                                 : err.msg);
        goto done;
    }
    if (m.n_layers == 0 || m.n_layers > SL_SCANPOLICY_MAX_VEX_LAYERS) {
        failed_until_recheck(run, SL_RESULT_STALLED, "InvalidVEX",
                             "%s: the artifact has %zu layers; want 1 to %d OpenVEX documents",
                             src->label, m.n_layers, SL_SCANPOLICY_MAX_VEX_LAYERS);
        goto done;
    }
    for (size_t k = 0; k < m.n_layers; k++) {
        char *data = NULL;
        size_t len = 0;
        char name[sizeof(src->label) + 100];
        snprintf(name, sizeof(name), "%s layer %zu", src->label, k);
        rc = sl_registry_blob_get(&data, &len, src->reg, src->ref.repository, m.layers[k].digest,
                                  SL_VEX_MAX_DOC_BYTES, &err);
        if (rc == SL_EAUTH)
            cloud_refused(run, &src->cloud, NULL);
        if (rc != 0) {
            failed_until_recheck(
                run, kind_for(rc) == SL_RESULT_TRANSIENT ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED,
                "VEXLoadFailed", "%s: %s", name, err.msg);
            goto done;
        }
        rc = sl_vex_load(vex, name, data, len, &err);
        free(data);
        if (rc != 0) {
            failed_until_recheck(run, SL_RESULT_STALLED, "InvalidVEX", "%s", err.msg);
            goto done;
        }
    }
    result = 0;
done:
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return result;
}

/* spec.vex: locates every source; when one of them changed since the statements in use were
 * loaded, reads all of them again. run->vex holds the result. */
static int step_vex(struct sp_run *run)
{
    size_t n = json_array_size(run->vex_spec);
    if (n == 0)
        return 0;
    struct vex_source *srcs = sl_xcalloc(n, sizeof(*srcs));
    struct sl_scan_vexset *set = sl_scan_vexset_new();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = vex_locate(run, &srcs[i], i, set->fingerprint, sizeof(set->fingerprint));
    if (rc != 0)
        goto done;
    if (run->prev_vex && strcmp(run->prev_vex->fingerprint, set->fingerprint) == 0) {
        run->vex = sl_scan_vexset_ref(run->prev_vex);
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = vex_read(run, &set->vex, &srcs[i]);
        if (rc == 0 && srcs[i].attestations) {
            set->trust = srcs[i].trust;
            memset(&srcs[i].trust, 0, sizeof(srcs[i].trust));
        }
    }
    if (rc != 0)
        goto done;
    run->vex = set;
    set = NULL;
done:
    for (size_t i = 0; i < n; i++)
        vex_source_free(&srcs[i]);
    free(srcs);
    sl_scan_vexset_unref(set);
    return rc;
}

/* A ScanPolicy announces a loaded database or a ready scanner as Normal; every other state,
 * a stale database included (Ready stays True), as a Warning. */
static bool scanpolicy_event(void *ctx, const struct sl_outcome *o, const char **type,
                             const char **reason)
{
    (void)ctx;
    bool healthy =
        o->ready && strcmp(o->ready, "True") == 0 &&
        (strcmp(o->reason, "DatabaseLoaded") == 0 || strcmp(o->reason, "ScannerReady") == 0);
    *type = healthy ? "Normal" : "Warning";
    *reason = o->reason;
    return true;
}

/* status.database.fetchedAt for the database in use (borrowed): the previous status's while it
 * names the same digest (a recheck, a reload of the hashes or a restart of the controller does
 * not make the advisories younger), else when this process loaded it. */
static const char *fetched_at(const json_t *old_status, const struct sl_scan_db *cur)
{
    const json_t *old_db = json_object_get(old_status, "database");
    const char *old_digest = json_string_value(json_object_get(old_db, "digest"));
    const char *old_fetched = json_string_value(json_object_get(old_db, "fetchedAt"));
    time_t t;
    if (cur->digest[0] && old_digest && strcmp(old_digest, cur->digest) == 0 && old_fetched &&
        strlen(old_fetched) < 64 && sl_time_parse_rfc3339(&t, old_fetched) == 0)
        return old_fetched;
    return cur->loaded_at;
}

static int finish(struct sp_run *run, struct sl_reconcile_result *result, struct sl_err *err)
{
    const json_t *old_status = json_object_get(run->obj, "status");
    long long generation = sl_kube_obj_generation(run->obj);
    const struct sl_scan_db *cur = run->loaded ? run->loaded : run->prev;

    json_t *status = sl_outcome_status_new(run->obj, generation);
    if (cur && run->out.ready && !cur->harbor_url) {
        json_t *d = json_pack("{s:I, s:s, s:s}", "records", (json_int_t)cur->adv.records,
                              "loadedAt", cur->loaded_at, "fetchedAt", fetched_at(old_status, cur));
        if (cur->digest[0])
            json_object_set_new(d, "digest", json_string(cur->digest));
        json_object_set_new(status, "database", d);
        json_object_set_new(status, "malwareHashes", json_integer((json_int_t)cur->hsb.count));
    }
    /* whether the database in use is the latest one read: a reload that failed keeps the last
     * good database (Ready stays True, reason StaleDatabase), which this condition makes visible
     * on its own */
    if (cur && run->out.ready && !cur->harbor_url) {
        bool stale = strcmp(run->out.reason, "StaleDatabase") == 0;
        sl_condition_set(status, "DatabaseFresh", stale ? "False" : "True",
                         stale ? "StaleDatabase" : "DatabaseLoaded",
                         stale ? run->out.message : "the database in use is the latest one read",
                         generation, NULL);
    } else {
        sl_condition_remove(status, "DatabaseFresh");
    }
    /* which scanner produces the findings: the adapter's own words once its metadata was read,
     * sealift itself for the built-in scanner (whatever the state of the database) */
    if (cur && run->out.ready && cur->harbor_url) {
        const struct sl_harbor_scanner *s = &cur->harbor_scanner;
        json_object_set_new(status, "scanner",
                            json_pack("{s:s, s:s, s:s}", "name", s->name, "vendor", s->vendor,
                                      "version", s->version));
    } else if (!run->harbor_url) {
        json_object_set_new(status, "scanner",
                            json_pack("{s:s, s:s, s:s}", "name", "sealift", "vendor", "sealift",
                                      "version", SL_VERSION));
    }
    if (run->vex && run->out.ready)
        json_object_set_new(status, "vex",
                            json_pack("{s:I, s:I}", "documents", (json_int_t)run->vex->vex.ndocs,
                                      "statements", (json_int_t)run->vex->vex.nstatements));
    const char *cond_status = run->out.ready ? "True" : "False";
    struct sl_outcome outcome = {run->out.kind, cond_status, run->out.reason, run->out.message,
                                 false};
    int rc =
        sl_outcome_write(run->rt, &SL_RES_SCANPOLICY, run->obj, status, &outcome, generation, err);
    json_decref(status);
    if (rc == SL_ENOTFOUND) {
        result->kind = SL_RESULT_DONE;
        return 0;
    }
    if (rc != 0)
        return rc;
    /* a (re)load is worth a line in the log: what was loaded, from where, with which digest */
    if (run->loaded && run->out.ready)
        sl_log_info(&run->req->log, "database loaded: %s", run->out.message);
    if (run->loaded && run->prev && strcmp(run->loaded->digest, run->prev->digest) != 0)
        sl_runtime_event(run->rt, run->obj, "Normal", "DatabaseUpdated", run->out.message);
    sl_outcome_announce(run->rt, &run->req->log, run->obj, old_status, &outcome, scanpolicy_event,
                        NULL);
    result->kind = run->out.kind;
    result->requeue_after_ms = run->out.requeue_after_ms;
    return 0;
}

static int reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *result, struct sl_err *err)
{
    struct sp_reconciler *r = self;
    result->kind = SL_RESULT_DONE;
    result->requeue_after_ms = 0;
    if (req->obj == NULL || sl_kube_json_path(req->obj, "metadata.deletionTimestamp") != NULL) {
        sl_scan_store_remove(r->store, req->ns, req->name);
        index_update(r, req->ns, req->name, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        return 0;
    }
    json_t *empty = json_object();
    struct sp_run run = {
        .r = r,
        .rt = rt,
        .cc = &r->cc,
        .req = req,
        .obj = req->obj,
        .ns = req->ns,
        .name = req->name,
        .service_accounts = json_array(),
    };
    run.spec = json_object_get(req->obj, "spec");
    if (!json_is_object(run.spec))
        run.spec = empty;
    sl_scan_store_loaded(&run.prev, &run.prev_vex, r->store, req->ns, req->name);
    int rc = step_read_spec(&run);
    /* remember references first, so a Secret or ConfigMap that appears later enqueues us */
    index_update(r, run.ns, run.name, run.creds_secret, run.cm_name, run.harbor_secret,
                 run.harbor_ca_secret, run.db_cert_secret, run.vex_spec, NULL);
    if (rc == 0 && run.harbor_url) {
        rc = step_harbor(&run);
        if (rc == 0) {
            run.out.kind = SL_RESULT_DONE;
            run.out.requeue_after_ms = run.recheck_ms;
            run.out.ready = true;
            run.out.reason = "ScannerReady";
        }
    } else {
        if (rc == 0)
            rc = step_read_configmap(&run);
        if (rc == 0)
            rc = step_load(&run);
    }
    if (rc == 0 && !run.harbor_url) {
        const struct sl_scan_db *cur = run.loaded ? run.loaded : run.prev;
        run.out.kind = SL_RESULT_DONE;
        run.out.requeue_after_ms = run.recheck_ms;
        run.out.ready = true;
        run.out.reason = "DatabaseLoaded";
        if (cur->have_adv)
            snprintf(run.out.message, sizeof(run.out.message),
                     "%zu advisory records from %s%s%s, %zu malware hashes", cur->adv.records,
                     run.image ? run.image : run.path, cur->digest[0] ? " " : "", cur->digest,
                     cur->hsb.count);
        else
            snprintf(run.out.message, sizeof(run.out.message),
                     "no advisory database configured: baseline and malware checks only, %zu "
                     "malware hashes",
                     cur->hsb.count);
    }
    /* VEX is read once the scanner is ready; a VEX problem makes the whole policy not Ready */
    /* (also with a stale database, which stays in use: so do the statements) */
    if (run.out.ready && step_vex(&run) != 0)
        rc = -1;
    if (run.out.ready && run.vex) {
        size_t l = strlen(run.out.message);
        snprintf(run.out.message + l, sizeof(run.out.message) - l,
                 "; %zu OpenVEX statements from %zu documents%s", run.vex->vex.nstatements,
                 run.vex->vex.ndocs,
                 run.vex->trust.nkeys ? " and each image's signed OpenVEX attestations" : "");
    }
    /* the gate sees the new spec, database and VEX before status says Ready */
    if (run.vex)
        sl_scan_vexset_ref(run.vex); /* one for the store, one kept for finish() */
    if (run.loaded) {
        sl_scan_db_ref(run.loaded); /* one for the store, one kept for finish() */
        sl_scan_store_put(r->store, req->ns, req->name, run.spec, rescan_ms(&r->cc, run.spec),
                          run.loaded, run.vex, run.out.ready);
    } else if (run.out.ready) {
        sl_scan_store_put(r->store, req->ns, req->name, run.spec, rescan_ms(&r->cc, run.spec), NULL,
                          run.vex, true);
    } else {
        sl_scan_vexset_unref(run.vex);
        sl_scan_store_unready(r->store, req->ns, req->name);
    }
    /* and the pull Secrets of the ServiceAccounts read, now that they are known */
    if (json_array_size(run.service_accounts))
        index_update(r, run.ns, run.name, run.creds_secret, run.cm_name, run.harbor_secret,
                     run.harbor_ca_secret, run.db_cert_secret, run.vex_spec, run.service_accounts);
    rc = finish(&run, result, err);
    json_decref(run.service_accounts);
    sl_scan_db_unref(run.loaded);
    sl_scan_db_unref(run.prev);
    sl_scan_vexset_unref(run.vex);
    sl_scan_vexset_unref(run.prev_vex);
    sl_scanpolicy_rules_free(&run.policy);
    json_decref(run.cm);
    json_decref(empty);
    return rc;
}

static void reconciler_free(void *self)
{
    struct sp_reconciler *r = self;
    if (!r)
        return;
    sl_refindex_free(r->refs);
    sl_cloud_cache_free(r->cloud_cache);
    free(r);
}

static const struct sl_kube_resource *const secondary_resources[] = {&SL_RES_SECRET,
                                                                     &SL_RES_CONFIGMAP, NULL};

int sl_scanpolicy_reconciler_new(struct sl_reconciler **out, struct sl_scan_store *store,
                                 const struct sl_controller_config *cc,
                                 const struct sl_scanpolicy_deps *deps, struct sl_err *err)
{
    (void)err;
    struct sp_reconciler *r = sl_xcalloc(1, sizeof(*r));
    r->store = store;
    if (cc)
        r->cc = *cc;
    if (deps && deps->cloud)
        r->cloud = *deps->cloud;
    else
        sl_cloud_ops_real(&r->cloud);
    r->cloud_cache = sl_cloud_cache_new();
    if (deps) {
        r->wall_now = deps->wall_now;
        r->clock_ctx = deps->clock_ctx;
    }
    r->refs = sl_refindex_new();
    r->base = (struct sl_reconciler){
        .kind = "ScanPolicy",
        .resource = &SL_RES_SCANPOLICY,
        .self = r,
        .reconcile = reconcile,
        .secondary = secondary_resources,
        .map_secondary = map_secondary,
        .free = reconciler_free,
    };
    *out = &r->base;
    return 0;
}
