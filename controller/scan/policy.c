/* The ScanPolicy reconciler and the ImageDelivery scan gate (see policy.h). */
#include "scan/policy.h"

#include "kube/secret.h"
#include "oci/auth.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"
#include "runtime/refindex.h"
#include "runtime/config.h"
#include "runtime/status.h"
#include "scan/advisory.h"
#include "scan/engine.h"
#include "scan/harbor.h"
#include "scan/imageattest.h"
#include "scan/malware.h"
#include "scan/regimage.h"
#include "scan/scanner.h"
#include "scan/vex.h"
#include "scan/vexatt.h"
#include "scanner/harbor_api.h"
#include "scanner/harbor_client.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HSB_MAX        ((size_t)64 << 20)
#define MSG_MAX        2048
#define WORST_NAMED    3
#define VEX_LISTED     20 /* suppressed findings named in an ImageDelivery's status */
#define DEFAULT_RESCAN (24LL * 3600 * 1000)

/* ---- the loaded database (refcounted, shared by the reconciler and the gate) ---- */

struct scandb {
    int refs; /* guarded by store_lock */
    struct sl_advdb adv;
    struct sl_hsbdb hsb;
    bool have_adv, have_hsb;
    char digest[72];   /* artifact manifest digest, or the directory content digest, or "" */
    char source[1100]; /* what was loaded: image@digest or path, for the fingerprint */
    char hsb_rv[128];  /* ConfigMap resourceVersion the hashes came from */
    char loaded_at[40];
    /* spec.scanner.harbor: findings come from this adapter instead of adv */
    char *harbor_url;
    char *harbor_auth; /* Authorization header value for the adapter (secret), or NULL */
    char *harbor_ca;   /* PEM, or NULL */
    bool harbor_insecure;
    struct sl_harbor_scanner harbor_scanner; /* from the adapter's metadata (status.scanner) */
};

/* The OpenVEX statements of spec.vex (refcounted like scandb; immutable once stored). */
struct vexset {
    int refs; /* guarded by store_lock */
    struct sl_vex vex;
    char fingerprint[SL_SCANPOLICY_MAX_VEX * 1200]; /* each source and its version */
    struct sl_vexatt_trust trust; /* spec.vex[].attestations: keys (nkeys 0 without) */
};

struct pol_entry {
    char *ns, *name;
    json_t *spec;    /* deep copy of the spec the database was loaded for (immutable) */
    uint64_t serial; /* changes whenever spec, db or vex change: part of the cache key */
    struct scandb *db;
    struct vexset *vex; /* NULL without spec.vex */
    bool ready;         /* the last reconcile said Ready=True */
};

struct cache_entry {
    char *key; /* ns/name|serial|image digest */
    json_t *summary;
    int rc;
    char msg[MSG_MAX];
    int64_t at_ms, ttl_ms;
    uint64_t used;
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pol_entry *entries;
static size_t nentries;
static uint64_t next_serial = 1;
static struct cache_entry cache[SL_SCAN_CACHE_MAX];
static size_t ncache;
static uint64_t cache_clock;

static void scandb_unref_locked(struct scandb *db)
{
    if (!db || --db->refs > 0)
        return;
    sl_advdb_free(&db->adv);
    sl_hsbdb_free(&db->hsb);
    free(db->harbor_url);
    sl_secure_free_str(db->harbor_auth);
    free(db->harbor_ca);
    free(db);
}

static void vexset_unref_locked(struct vexset *v)
{
    if (!v || --v->refs > 0)
        return;
    sl_vex_free(&v->vex);
    sl_vexatt_trust_clear(&v->trust);
    free(v);
}

static void vexset_unref(struct vexset *v)
{
    pthread_mutex_lock(&store_lock);
    vexset_unref_locked(v);
    pthread_mutex_unlock(&store_lock);
}

/* Takes a reference to ns/name's VEX statements (NULL when none). */
static struct vexset *store_get_vex(const char *ns, const char *name);

static void scandb_unref(struct scandb *db)
{
    pthread_mutex_lock(&store_lock);
    scandb_unref_locked(db);
    pthread_mutex_unlock(&store_lock);
}

static struct pol_entry *find_locked(const char *ns, const char *name)
{
    for (size_t i = 0; i < nentries; i++)
        if (strcmp(entries[i].ns, ns) == 0 && strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

/* Takes a reference to ns/name's database (NULL when none). */
static struct scandb *store_get_db(const char *ns, const char *name)
{
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    struct scandb *db = e ? e->db : NULL;
    if (db)
        db->refs++;
    pthread_mutex_unlock(&store_lock);
    return db;
}

static struct vexset *store_get_vex(const char *ns, const char *name)
{
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    struct vexset *v = e ? e->vex : NULL;
    if (v)
        v->refs++;
    pthread_mutex_unlock(&store_lock);
    return v;
}

/* Installs db (reference taken over) and spec for ns/name; db NULL only updates the spec. vex
 * (reference taken over, NULL without spec.vex) replaces the statements in use. ready false
 * keeps a newly loaded database for the next reconcile while the gate waits (spec.vex could
 * not be read). */
static void store_put(const char *ns, const char *name, const json_t *spec, struct scandb *db,
                      struct vexset *vex, bool ready)
{
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    if (!e) {
        entries = sl_xrealloc(entries, (nentries + 1) * sizeof(*entries));
        e = &entries[nentries++];
        memset(e, 0, sizeof(*e));
        e->ns = sl_xstrdup(ns);
        e->name = sl_xstrdup(name);
    }
    bool changed = db != NULL || !e->spec || !json_equal(e->spec, spec);
    changed =
        changed || strcmp(e->vex ? e->vex->fingerprint : "", vex ? vex->fingerprint : "") != 0;
    if (changed) {
        json_decref(e->spec);
        e->spec = json_deep_copy(spec);
        e->serial = next_serial++;
    }
    if (db) {
        scandb_unref_locked(e->db);
        e->db = db;
    }
    vexset_unref_locked(e->vex);
    e->vex = vex;
    e->ready = ready && e->db != NULL;
    pthread_mutex_unlock(&store_lock);
}

/* The policy is not Ready (bad spec, missing Secret): the gate waits. */
static void store_unready(const char *ns, const char *name)
{
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    if (e)
        e->ready = false;
    pthread_mutex_unlock(&store_lock);
}

static void store_remove(const char *ns, const char *name)
{
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    if (e) {
        scandb_unref_locked(e->db);
        vexset_unref_locked(e->vex);
        json_decref(e->spec);
        free(e->ns);
        free(e->name);
        *e = entries[--nentries];
    }
    pthread_mutex_unlock(&store_lock);
}

void sl_scanpolicy_store_reset(void)
{
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < nentries; i++) {
        scandb_unref_locked(entries[i].db);
        vexset_unref_locked(entries[i].vex);
        json_decref(entries[i].spec);
        free(entries[i].ns);
        free(entries[i].name);
    }
    free(entries);
    entries = NULL;
    nentries = 0;
    for (size_t i = 0; i < ncache; i++) {
        free(cache[i].key);
        json_decref(cache[i].summary);
    }
    ncache = 0;
    pthread_mutex_unlock(&store_lock);
}

/* ---- spec helpers shared by the reconciler and the gate ---- */

static int64_t rescan_ms_of(const json_t *spec)
{
    int64_t ms = DEFAULT_RESCAN;
    const char *s = json_string_value(json_object_get(spec, "rescanInterval"));
    if (s && sl_duration_parse_ms(&ms, s) != 0)
        ms = DEFAULT_RESCAN;
    if (ms < 1000)
        ms = 1000;
    /* a tenant does not get to make the controller rescan (and pull) faster than the
     * administrator's --min-interval */
    return sl_controller_clamp_interval_ms(sl_controller_config_get(), ms);
}

/* Parses "2027-01-01" or an RFC 3339 time. */
static int parse_until(time_t *out, const char *s)
{
    if (sl_time_parse_rfc3339(out, s) == 0)
        return 0;
    char buf[40];
    snprintf(buf, sizeof(buf), "%.10sT00:00:00Z", s);
    return strlen(s) == 10 && sl_time_parse_rfc3339(out, buf) == 0 ? 0 : -1;
}

struct parsed_policy {
    struct sl_scan_policy pol;
    struct sl_allow_entry *allow;
    size_t nallow;
};

static void parsed_policy_free(struct parsed_policy *p)
{
    free(p->allow);
    memset(p, 0, sizeof(*p));
}

/* Fills p from spec (strings borrowed from spec). Returns 0 or SL_EINVAL with err naming the
 * field. */
static int policy_from_spec(struct parsed_policy *p, const json_t *spec, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    p->pol.now = time(NULL);
    const char *thr = json_string_value(json_object_get(spec, "severityThreshold"));
    if (!thr)
        thr = "High";
    if (strcmp(thr, "None") != 0) {
        enum sl_severity sev;
        if (sl_severity_parse(&sev, thr) != 0 || sev < SL_SEV_LOW)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.severityThreshold: Unsupported value: \"%.32s\": supported "
                              "values: \"Critical\", \"High\", \"Medium\", \"Low\", \"None\"",
                              thr);
        p->pol.fail_on_enabled = true;
        p->pol.fail_on = sev;
    }
    p->pol.ignore_unfixed = json_is_true(json_object_get(spec, "ignoreUnfixed"));
    json_t *allow = json_object_get(spec, "allowlist");
    size_t n = json_array_size(allow);
    p->allow = sl_xcalloc(n ? n : 1, sizeof(*p->allow));
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(allow, i);
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *until = json_string_value(json_object_get(a, "until"));
        if (!id || !*id) {
            parsed_policy_free(p);
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.allowlist[%zu].id: Required value", i);
        }
        struct sl_allow_entry *e = &p->allow[p->nallow++];
        e->id = (char *)id;
        e->reason = (char *)json_string_value(json_object_get(a, "reason"));
        if (until && parse_until(&e->until, until) != 0) {
            parsed_policy_free(p);
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.allowlist[%zu].until: Invalid value: \"%.40s\": want "
                              "YYYY-MM-DD or an RFC 3339 time",
                              i, until);
        }
    }
    p->pol.allow = p->allow;
    p->pol.nallow = p->nallow;
    json_t *b = json_object_get(spec, "baseline");
    p->pol.forbid_root_user = json_is_true(json_object_get(b, "forbidRootUser"));
    p->pol.forbid_secrets_in_env = json_is_true(json_object_get(b, "forbidSecretsInEnv"));
    p->pol.forbid_setuid = json_is_true(json_object_get(b, "forbidSetuid"));
    p->pol.forbid_private_keys = json_is_true(json_object_get(b, "forbidPrivateKeys"));
    return 0;
}

static bool host_insecure(const char *host)
{
    const struct sl_controller_config *cc = sl_controller_config_get();
    for (size_t i = 0; i < cc->n_insecure_registries; i++)
        if (strcmp(cc->insecure_registries[i], host) == 0)
            return true;
    return false;
}

/* ---- the reconciler ---- */

struct sp_reconciler {
    struct sl_reconciler base; /* first: freed through base.free */
    /* which ScanPolicy refers to which Secret / ConfigMap, so their changes enqueue it */
    struct sl_refindex *refs;
};

/* Replaces the references of ScanPolicy ns/name (any name may be NULL): the database pull
 * Secret, the hashes ConfigMap, the Harbor adapter's credentials and CA Secrets. */
static void index_update(struct sp_reconciler *r, const char *ns, const char *name,
                         const char *secret, const char *configmap, const char *secret2,
                         const char *secret3, const json_t *vex)
{
    struct sl_refindex_ref refs[4 + 2 * SL_SCANPOLICY_MAX_VEX + SL_VEXATT_MAX_AUTHORITIES];
    size_t n = 0;
    /* spec.vex: each entry's ConfigMap or pull Secret (the spec was checked to hold at most
     * SL_SCANPOLICY_MAX_VEX entries; more are not watched) */
    for (size_t i = 0; i < json_array_size(vex) && i < SL_SCANPOLICY_MAX_VEX; i++) {
        const json_t *v = json_array_get(vex, i);
        const char *cm = sl_kube_json_path_str(v, "configMapRef.name");
        const char *sec = sl_kube_json_path_str(v, "credentials.secretRef.name");
        if (cm && *cm)
            refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = cm};
        if (sec && *sec)
            refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = sec};
        /* the ConfigMaps of trusted attestation keys (one attestations entry, checked) */
        const json_t *auths = sl_kube_json_path(v, "attestations.authorities");
        for (size_t k = 0; k < json_array_size(auths) && k < SL_VEXATT_MAX_AUTHORITIES; k++) {
            const char *kcm =
                sl_kube_json_path_str(json_array_get(auths, k), "key.configMapRef.name");
            if (kcm && *kcm && n < sizeof(refs) / sizeof(refs[0]) - 4)
                refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = kcm};
        }
    }
    if (secret)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret};
    if (secret2)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret2};
    if (secret3)
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret3};
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
    struct sl_runtime *rt;
    const struct sl_reconcile_request *req;
    const json_t *obj, *spec;
    const char *ns, *name;
    const char *image, *path, *creds_secret, *cm_name, *cm_key;
    bool insecure;
    const char *harbor_url, *harbor_secret, *harbor_ca_secret; /* spec.scanner.harbor */
    bool harbor_insecure;
    struct parsed_policy policy;
    struct scandb *prev;     /* the last good database (reference), or NULL */
    struct scandb *loaded;   /* newly loaded this time (reference), or NULL */
    char fresh_digest[72];   /* HEAD of the image */
    json_t *cm;              /* the hashes ConfigMap */
    const json_t *vex_spec;  /* spec.vex (array) or NULL */
    struct vexset *prev_vex; /* the statements in use (reference), or NULL */
    struct vexset *vex;      /* what spec.vex holds now (reference), or NULL */
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

static int step_read_spec(struct sp_run *run)
{
    struct sl_err err = {0};
    const json_t *spec = run->spec;
    str_or_null(&run->image, spec, "database.image");
    str_or_null(&run->path, spec, "database.path");
    str_or_null(&run->creds_secret, spec, "database.credentials.secretRef.name");
    str_or_null(&run->cm_name, spec, "malware.hashes.configMapRef.name");
    str_or_null(&run->cm_key, spec, "malware.hashes.configMapRef.key");
    run->insecure = json_is_true(sl_kube_json_path(spec, "database.insecure"));
    if (run->image && run->path) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.database: Invalid value: give exactly one of image and path");
        return -1;
    }
    const struct sl_controller_config *cc = sl_controller_config_get();
    if (run->path && !cc->allow_local_paths) {
        /* the digest and load errors of any readable file would come back in status */
        set_outcome(run, SL_RESULT_STALLED, "LocalPathNotAllowed",
                    "spec.database.path: Forbidden: reading the controller's filesystem is off "
                    "(the administrator's --allow-local-paths turns it on); use "
                    "spec.database.image");
        return -1;
    }
    if (sl_kube_json_path(spec, "scanner.harbor")) {
        str_or_null(&run->harbor_url, spec, "scanner.harbor.url");
        str_or_null(&run->harbor_secret, spec, "scanner.harbor.credentials.secretRef.name");
        str_or_null(&run->harbor_ca_secret, spec, "scanner.harbor.caSecretRef.name");
        run->harbor_insecure = json_is_true(sl_kube_json_path(spec, "scanner.harbor.insecure"));
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
    if (run->cm_name && !run->cm_key) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.malware.hashes.configMapRef.key: Required value");
        return -1;
    }
    const json_t *vex = json_object_get(spec, "vex");
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
        if (att && sl_vexatt_spec_check(att, i, &err) != 0) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "%s", err.msg);
            return -1;
        }
        if (has_cm && (!cm || !*cm || !key || !*key)) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                        "spec.vex[%zu].configMapRef: Required value: name and key", i);
            return -1;
        }
    }
    run->vex_spec = json_array_size(vex) ? vex : NULL;
    if (policy_from_spec(&run->policy, spec, &err) != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "%s", err.msg);
        return -1;
    }
    int64_t rescan = rescan_ms_of(spec);
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

static int load_creds(struct sp_run *run, struct sl_creds *creds, const char *registry)
{
    return load_creds_from(run, creds, registry, run->creds_secret,
                           "spec.database.credentials.secretRef.name");
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

/* The load failed: record it, keeping the previous database when there is one. */
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
    } else {
        set_outcome(run, kind, reason_first, "%s", msg);
        if (kind == SL_RESULT_STALLED) {
            /* a bad artifact may be replaced under the same tag: look again later */
            run->out.kind = SL_RESULT_DONE;
            run->out.requeue_after_ms = run->recheck_ms;
        }
    }
    return -1;
}

static enum sl_result_kind kind_for(int rc)
{
    return rc == SL_ERETRY || rc == SL_EFAIL ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED;
}

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
    struct scandb *db = NULL;

    if (run->image) {
        rc = sl_ref_parse(&ref, run->image, &err);
        if (rc != 0) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "spec.database.image: %s", err.msg);
            goto done;
        }
        if ((rc = load_creds(run, &creds, ref.registry)) != 0)
            goto done;
        const char *host = sl_ref_api_host(&ref);
        struct sl_registry_opts o = {.insecure = run->insecure || host_insecure(host)};
        reg = sl_registry_new(host, creds.username ? &creds : NULL, &o);
        const char *reference = ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest");
        rc = sl_registry_manifest_head(run->fresh_digest, NULL, reg, ref.repository, reference,
                                       &err);
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

    db = sl_xcalloc(1, sizeof(*db));
    db->refs = 1;
    sl_advdb_init(&db->adv);
    sl_hsbdb_init(&db->hsb);
    snprintf(db->source, sizeof(db->source), "%s", source);
    snprintf(db->hsb_rv, sizeof(db->hsb_rv), "%s", hsb_rv ? hsb_rv : "");
    if (run->image) {
        rc = sl_advdb_load_image(&db->adv, reg, ref.repository, run->fresh_digest, &err);
        if (rc != 0) {
            rc = load_failed_as(run, kind_for(rc), "DatabaseLoadFailed",
                                "loading spec.database.image %s: %s", run->image, err.msg);
            goto done;
        }
        if (sl_advdb_require_records(&db->adv, &err) != 0) {
            rc = load_failed_as(run, SL_RESULT_STALLED, "DatabaseEmpty",
                                "spec.database.image %s: %s", run->image, err.msg);
            goto done;
        }
        db->have_adv = true;
    } else if (run->path) {
        rc = sl_advdb_load_dir(&db->adv, run->path, &err);
        if (rc != 0) {
            rc = load_failed_as(run, SL_RESULT_STALLED, "DatabaseLoadFailed",
                                "loading spec.database.path %s: %s", run->path, err.msg);
            goto done;
        }
        if (sl_advdb_require_records(&db->adv, &err) != 0) {
            rc = load_failed_as(run, SL_RESULT_STALLED, "DatabaseEmpty",
                                "spec.database.path %s: %s", run->path, err.msg);
            goto done;
        }
        db->have_adv = true;
    }
    if (run->cm) {
        json_t *v = json_object_get(json_object_get(run->cm, "data"), run->cm_key);
        if (json_string_length(v) > HSB_MAX ||
            sl_hsbdb_load(&db->hsb, json_string_value(v), json_string_length(v), &err) != 0) {
            rc = load_failed_as(run, SL_RESULT_STALLED, "DatabaseLoadFailed",
                                "ConfigMap \"%s\" key %s: %s", run->cm_name, run->cm_key,
                                json_string_length(v) > HSB_MAX ? "larger than 64 MiB" : err.msg);
            goto done;
        }
        db->have_hsb = true;
    }
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
    if (db) {
        db->refs = 1;
        scandb_unref(db);
    }
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

/* spec.scanner.harbor: reads the adapter's credentials and CA, asks the adapter for its
 * metadata (it must consume image manifests and produce the v1.1 vulnerability report) and
 * installs the adapter's settings as the policy's "database". */
static int step_harbor(struct sp_run *run)
{
    struct sl_err err = {0};
    json_t *sec = NULL, *ca_sec = NULL;
    char *auth = NULL, *ca_pem = NULL, *meta = NULL;
    size_t meta_len = 0;
    struct sl_harbor_client *c = NULL;
    struct sl_harbor_scanner info;
    struct scandb *db = NULL;
    int rc = -1;
    if (run->harbor_secret) {
        if (get_secret(run, &sec, "spec.scanner.harbor.credentials.secretRef.name",
                       run->harbor_secret) != 0)
            goto done;
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
        if (!auth) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidSecret",
                        "spec.scanner.harbor.credentials.secretRef.name: Secret \"%s\" has "
                        "neither key token nor keys username and password (one line each)",
                        run->harbor_secret);
            goto done;
        }
    }
    if (run->harbor_ca_secret) {
        if (get_secret(run, &ca_sec, "spec.scanner.harbor.caSecretRef.name",
                       run->harbor_ca_secret) != 0)
            goto done;
        unsigned char *pem = NULL;
        size_t pem_len = 0;
        if (sl_kube_secret_bytes(&pem, &pem_len, ca_sec, "ca.crt") != 0 || pem_len == 0 ||
            strlen((char *)pem) != pem_len) {
            if (pem)
                sl_secure_free(pem, pem_len + 1);
            set_outcome(run, SL_RESULT_STALLED, "InvalidSecret",
                        "spec.scanner.harbor.caSecretRef.name: Secret \"%s\" has no key ca.crt",
                        run->harbor_ca_secret);
            goto done;
        }
        ca_pem = sl_xstrdup((char *)pem);
        sl_secure_free(pem, pem_len + 1);
    }
    struct sl_harbor_client_opts o = {.insecure = run->harbor_insecure,
                                      .ca_pem = ca_pem,
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
        str_eq(run->prev->harbor_auth, auth) && str_eq(run->prev->harbor_ca, ca_pem))
        goto done; /* unchanged: keep the cached results */
    db = sl_xcalloc(1, sizeof(*db));
    db->refs = 1;
    sl_advdb_init(&db->adv);
    sl_hsbdb_init(&db->hsb);
    snprintf(db->source, sizeof(db->source), "%s", source);
    sl_time_now_rfc3339(db->loaded_at, sizeof(db->loaded_at));
    db->harbor_url = sl_xstrdup(run->harbor_url);
    db->harbor_auth = auth;
    db->harbor_ca = ca_pem;
    db->harbor_insecure = run->harbor_insecure;
    db->harbor_scanner = info;
    auth = NULL;
    ca_pem = NULL;
    run->loaded = db;
done:
    sl_harbor_client_free(c);
    free(meta);
    sl_secure_free_str(auth);
    free(ca_pem);
    json_decref(sec);
    json_decref(ca_sec);
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
};

static void vex_source_free(struct vex_source *src)
{
    json_decref(src->cm);
    sl_registry_free(src->reg);
    sl_ref_free(&src->ref);
    sl_vexatt_trust_clear(&src->trust);
    memset(src, 0, sizeof(*src));
}

/* VEX could not be used: Ready=False (the gate waits), looked at again at the recheck. */
static int vex_failed(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int vex_failed(struct sp_run *run, enum sl_result_kind kind, const char *reason,
                      const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set_outcome(run, kind, reason, "%s", msg);
    if (kind == SL_RESULT_STALLED) {
        /* a ConfigMap change enqueues the policy; an artifact may be replaced under its tag */
        run->out.kind = SL_RESULT_DONE;
        run->out.requeue_after_ms = run->recheck_ms;
    }
    return -1;
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
            return vex_failed(run,
                              rc == SL_ENOTFOUND ? SL_RESULT_WAITING
                              : rc == SL_EINVAL  ? SL_RESULT_STALLED
                                                 : SL_RESULT_TRANSIENT,
                              reason, "%s", err.msg);
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
            return vex_failed(run, SL_RESULT_WAITING, "ConfigMapNotFound",
                              "%s: ConfigMap \"%s\" not found", src->label, cm);
        if (rc != 0)
            return vex_failed(run, SL_RESULT_TRANSIENT, "APIError", "%s: reading ConfigMap: %s",
                              src->label, err.msg);
        const char *rv = sl_kube_obj_resource_version(src->cm);
        snprintf(fp + used, fp_cap - used, "cm:%s/%s@%s;", cm, src->cm_key, rv ? rv : "");
        return 0;
    }
    const char *image = sl_kube_json_path_str(v, "image");
    const char *secret = sl_kube_json_path_str(v, "credentials.secretRef.name");
    snprintf(src->label, sizeof(src->label), "spec.vex[%zu] (%s)", i, image);
    if (sl_ref_parse(&src->ref, image, &err) != 0)
        return vex_failed(run, SL_RESULT_STALLED, "InvalidSpec", "spec.vex[%zu].image: %s", i,
                          err.msg);
    struct sl_creds creds;
    memset(&creds, 0, sizeof(creds));
    char field[64];
    snprintf(field, sizeof(field), "spec.vex[%zu].credentials.secretRef.name", i);
    if (load_creds_from(run, &creds, src->ref.registry, secret && *secret ? secret : NULL, field) !=
        0)
        return -1;
    const char *host = sl_ref_api_host(&src->ref);
    struct sl_registry_opts o = {.insecure = json_is_true(json_object_get(v, "insecure")) ||
                                             host_insecure(host)};
    src->reg = sl_registry_new(host, creds.username ? &creds : NULL, &o);
    sl_creds_free(&creds);
    const char *reference =
        src->ref.digest ? src->ref.digest : (src->ref.tag ? src->ref.tag : "latest");
    int rc = sl_registry_manifest_head(src->digest, NULL, src->reg, src->ref.repository, reference,
                                       &err);
    if (rc != 0)
        return vex_failed(
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
            return vex_failed(run, SL_RESULT_STALLED, "InvalidVEX",
                              "%s: the ConfigMap has no key \"%s\"", src->label, src->cm_key);
        if (sl_vex_load(vex, src->label, json_string_value(val), json_string_length(val), &err) !=
            0)
            return vex_failed(run, SL_RESULT_STALLED, "InvalidVEX", "%s", err.msg);
        return 0;
    }
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    int result = -1;
    int rc = sl_registry_manifest_get(&rm, src->reg, src->ref.repository, src->digest, &err);
    if (rc != 0) {
        vex_failed(run,
                   kind_for(rc) == SL_RESULT_TRANSIENT ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED,
                   "VEXLoadFailed", "%s: %s", src->label, err.msg);
        goto done;
    }
    if (sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, &err) != 0 ||
        m.kind != SL_MANIFEST_IMAGE) {
        vex_failed(run, SL_RESULT_STALLED, "InvalidVEX", "%s: %s", src->label,
                   m.kind != SL_MANIFEST_IMAGE && !err.msg[0]
                       ? "an index, not an artifact manifest with the document as a layer"
                       : err.msg);
        goto done;
    }
    if (m.n_layers == 0 || m.n_layers > SL_SCANPOLICY_MAX_VEX_LAYERS) {
        vex_failed(run, SL_RESULT_STALLED, "InvalidVEX",
                   "%s: the artifact has %zu layers; want 1 to %d OpenVEX documents", src->label,
                   m.n_layers, SL_SCANPOLICY_MAX_VEX_LAYERS);
        goto done;
    }
    for (size_t k = 0; k < m.n_layers; k++) {
        char *data = NULL;
        size_t len = 0;
        char name[sizeof(src->label) + 100];
        snprintf(name, sizeof(name), "%s layer %zu", src->label, k);
        rc = sl_registry_blob_get(&data, &len, src->reg, src->ref.repository, m.layers[k].digest,
                                  SL_VEX_MAX_DOC_BYTES, &err);
        if (rc != 0) {
            vex_failed(
                run, kind_for(rc) == SL_RESULT_TRANSIENT ? SL_RESULT_TRANSIENT : SL_RESULT_STALLED,
                "VEXLoadFailed", "%s: %s", name, err.msg);
            goto done;
        }
        rc = sl_vex_load(vex, name, data, len, &err);
        free(data);
        if (rc != 0) {
            vex_failed(run, SL_RESULT_STALLED, "InvalidVEX", "%s", err.msg);
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
    struct vexset *set = sl_xcalloc(1, sizeof(*set));
    set->refs = 1;
    sl_vex_init(&set->vex);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = vex_locate(run, &srcs[i], i, set->fingerprint, sizeof(set->fingerprint));
    if (rc != 0)
        goto done;
    if (run->prev_vex && strcmp(run->prev_vex->fingerprint, set->fingerprint) == 0) {
        pthread_mutex_lock(&store_lock);
        run->prev_vex->refs++;
        pthread_mutex_unlock(&store_lock);
        run->vex = run->prev_vex;
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
    if (set)
        vexset_unref(set);
    return rc;
}

static void record_event(struct sp_run *run, const char *type, const char *reason,
                         const char *message)
{
    if (run->rt->record_event != NULL)
        run->rt->record_event(run->rt->event_ctx, run->obj, type, reason, message);
}

static int finish(struct sp_run *run, struct sl_reconcile_result *result, struct sl_err *err)
{
    const json_t *old_status = json_object_get(run->obj, "status");
    json_t *old_ready = sl_condition_get(old_status, "Ready");
    const char *old_ready_status = json_string_value(json_object_get(old_ready, "status"));
    const char *old_reason = json_string_value(json_object_get(old_ready, "reason"));
    long long generation = sl_kube_obj_generation(run->obj);
    const struct scandb *cur = run->loaded ? run->loaded : run->prev;

    json_t *status = json_object();
    json_t *old_conditions = json_object_get(old_status, "conditions");
    if (json_is_array(old_conditions))
        json_object_set_new(status, "conditions", json_deep_copy(old_conditions));
    json_object_set_new(status, "observedGeneration", json_integer(generation));
    if (cur && run->out.ready && !cur->harbor_url) {
        json_t *d = json_pack("{s:I, s:s}", "records", (json_int_t)cur->adv.records, "loadedAt",
                              cur->loaded_at);
        if (cur->digest[0])
            json_object_set_new(d, "digest", json_string(cur->digest));
        json_object_set_new(status, "database", d);
        json_object_set_new(status, "malwareHashes", json_integer((json_int_t)cur->hsb.count));
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
    sl_outcome_apply(status, &outcome, generation);
    int rc = sl_status_write(NULL, &run->rt->kube, &SL_RES_SCANPOLICY, run->obj, status, err);
    json_decref(status);
    if (rc == SL_ENOTFOUND) {
        result->kind = SL_RESULT_DONE;
        return 0;
    }
    if (rc != 0) {
        sl_err_prefix(err, "writing status of ScanPolicy %s/%s", run->ns, run->name);
        return rc;
    }
    /* a (re)load is worth a line in the log: what was loaded, from where, with which digest */
    if (run->loaded && run->out.ready)
        sl_log_info(&run->req->log, "database loaded: %s", run->out.message);
    if (run->loaded && run->prev && strcmp(run->loaded->digest, run->prev->digest) != 0)
        record_event(run, "Normal", "DatabaseUpdated", run->out.message);
    bool changed = old_ready_status == NULL || strcmp(old_ready_status, cond_status) != 0 ||
                   old_reason == NULL || strcmp(old_reason, run->out.reason) != 0;
    if (changed) {
        if (run->out.ready && (strcmp(run->out.reason, "DatabaseLoaded") == 0 ||
                               strcmp(run->out.reason, "ScannerReady") == 0)) {
            record_event(run, "Normal", run->out.reason, run->out.message);
        } else {
            record_event(run, "Warning", run->out.reason, run->out.message);
            sl_log_warn(&run->req->log, "%s: %s", run->out.reason, run->out.message);
        }
    }
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
        store_remove(req->ns, req->name);
        index_update(r, req->ns, req->name, NULL, NULL, NULL, NULL, NULL);
        return 0;
    }
    json_t *empty = json_object();
    struct sp_run run = {
        .rt = rt,
        .req = req,
        .obj = req->obj,
        .ns = req->ns,
        .name = req->name,
    };
    run.spec = json_object_get(req->obj, "spec");
    if (!json_is_object(run.spec))
        run.spec = empty;
    run.prev = store_get_db(req->ns, req->name);
    run.prev_vex = store_get_vex(req->ns, req->name);
    int rc = step_read_spec(&run);
    /* remember references first, so a Secret or ConfigMap that appears later enqueues us */
    index_update(r, run.ns, run.name, run.creds_secret, run.cm_name, run.harbor_secret,
                 run.harbor_ca_secret, run.vex_spec);
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
        const struct scandb *cur = run.loaded ? run.loaded : run.prev;
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
    if (run.vex) {
        pthread_mutex_lock(&store_lock);
        run.vex->refs++; /* one for the store, one kept for finish() */
        pthread_mutex_unlock(&store_lock);
    }
    if (run.loaded) {
        run.loaded->refs++; /* one for the store, one kept for finish() */
        store_put(req->ns, req->name, run.spec, run.loaded, run.vex, run.out.ready);
    } else if (run.out.ready) {
        store_put(req->ns, req->name, run.spec, NULL, run.vex, true);
    } else {
        vexset_unref(run.vex);
        store_unready(req->ns, req->name);
    }
    rc = finish(&run, result, err);
    if (run.loaded)
        scandb_unref(run.loaded);
    scandb_unref(run.prev);
    vexset_unref(run.vex);
    vexset_unref(run.prev_vex);
    parsed_policy_free(&run.policy);
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
    free(r);
}

static const struct sl_kube_resource *const secondary_resources[] = {&SL_RES_SECRET,
                                                                     &SL_RES_CONFIGMAP, NULL};

int sl_scanpolicy_reconciler_new(struct sl_reconciler **out, struct sl_err *err)
{
    (void)err;
    struct sp_reconciler *r = sl_xcalloc(1, sizeof(*r));
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

/* ---- the gate ---- */

static int64_t now_ms(void)
{
    return sl_mono_ms();
}

/* Looks key up in the cache; on a fresh hit copies the answer out and returns 1. */
static int cache_lookup(const char *key, json_t **summary, int *rc, char *msg, size_t msg_cap)
{
    int hit = 0;
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < ncache; i++) {
        struct cache_entry *c = &cache[i];
        if (strcmp(c->key, key) != 0)
            continue;
        if (now_ms() - c->at_ms < c->ttl_ms) {
            *summary = json_deep_copy(c->summary);
            *rc = c->rc;
            snprintf(msg, msg_cap, "%s", c->msg);
            c->used = ++cache_clock;
            hit = 1;
        }
        break;
    }
    pthread_mutex_unlock(&store_lock);
    return hit;
}

static void cache_store(const char *key, const json_t *summary, int rc, const char *msg,
                        int64_t ttl_ms)
{
    pthread_mutex_lock(&store_lock);
    struct cache_entry *c = NULL;
    for (size_t i = 0; i < ncache && !c; i++)
        if (strcmp(cache[i].key, key) == 0)
            c = &cache[i];
    if (!c && ncache < SL_SCAN_CACHE_MAX) {
        c = &cache[ncache++];
        memset(c, 0, sizeof(*c));
    }
    if (!c) { /* evict the least recently used */
        c = &cache[0];
        for (size_t i = 1; i < ncache; i++)
            if (cache[i].used < c->used)
                c = &cache[i];
    }
    if (!c->key || strcmp(c->key, key) != 0) {
        free(c->key);
        c->key = sl_xstrdup(key);
    }
    json_decref(c->summary);
    c->summary = json_deep_copy(summary);
    c->rc = rc;
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    c->at_ms = now_ms();
    c->ttl_ms = ttl_ms;
    c->used = ++cache_clock;
    pthread_mutex_unlock(&store_lock);
}

/* "CVE-2023-4911 (High) in libc6 2.36-9+deb12u1, fixed in 2.36-9+deb12u3; ..." for the worst
 * findings that fail the policy, then failed baseline rules and malware hits. */
static void describe_failure(char *out, size_t cap, const struct sl_scan_report *rep,
                             const struct sl_scan_policy *pol)
{
    size_t len = 0, named = 0, blocking = 0;
    out[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (len < cap) {                                                                           \
            int n_ = snprintf(out + len, cap - len, __VA_ARGS__);                                  \
            if (n_ > 0)                                                                            \
                len += (size_t)n_;                                                                 \
        }                                                                                          \
    } while (0)
    if (rep->vuln_failed) {
        for (size_t i = 0; i < rep->nfindings; i++) {
            const struct sl_finding *f = &rep->findings[i];
            if (f->allowlisted || f->vex_suppressed || f->severity < pol->fail_on ||
                (pol->ignore_unfixed && !f->fixed))
                continue;
            blocking++;
            if (named >= WORST_NAMED)
                continue;
            APPEND("%s%s (%s) in %s %s", named ? "; " : "", f->id, sl_severity_name(f->severity),
                   f->pkg, f->installed);
            if (f->fixed)
                APPEND(", fixed in %s", f->fixed);
            else
                APPEND(", no fix available");
            named++;
        }
        if (blocking > named)
            APPEND(" and %zu more at or above %s", blocking - named,
                   sl_severity_name(pol->fail_on));
    }
    for (size_t i = 0; i < rep->nbaseline; i++) {
        const struct sl_baseline_issue *b = &rep->baseline[i];
        if (!b->enforced)
            continue;
        APPEND("%sbaseline %s: %s", len ? "; " : "", sl_baseline_rule_name(b->rule), b->subject);
    }
    for (size_t i = 0; i < rep->nmalware; i++)
        APPEND("%smalware %s in %s", len ? "; " : "", rep->malware[i].signature,
               rep->malware[i].path);
    if (rep->nissues)
        APPEND("%slayer %u entry %s: %s", len ? "; " : "", rep->issues[0].layer,
               rep->issues[0].path, rep->issues[0].problem);
#undef APPEND
    if (!out[0])
        snprintf(out, cap, "the scan failed the policy");
}

/* s cut to at most max bytes (on a UTF-8 character boundary); "" for NULL. */
static json_t *bounded_string(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return json_stringn(s ? s : "", n);
}

/* Appends the findings VEX suppressed in rep to list (at most VEX_LISTED in all). */
static void add_vex_suppressed(json_t *list, const struct sl_scan_report *rep, const char *platform)
{
    for (size_t i = 0; i < rep->nfindings && json_array_size(list) < VEX_LISTED; i++) {
        const struct sl_finding *f = &rep->findings[i];
        if (!f->vex_suppressed)
            continue;
        /* cut to the lengths the CRD allows, so a long statement cannot fail the status write */
        json_t *e = json_object();
        json_object_set_new(e, "id", bounded_string(f->id, 256));
        json_object_set_new(e, "package", bounded_string(f->pkg, 256));
        json_object_set_new(e, "status", bounded_string(f->vex_status, 64));
        json_object_set_new(e, "document", bounded_string(f->vex_document, 1024));
        if (f->vex_justification)
            json_object_set_new(e, "justification", bounded_string(f->vex_justification, 128));
        else if (f->vex_impact)
            json_object_set_new(e, "impactStatement", bounded_string(f->vex_impact, 4096));
        if (platform && platform[0])
            json_object_set_new(e, "platform", json_string(platform));
        json_array_append_new(list, e);
    }
}

static json_t *summary_of(const struct sl_scan_report *rep, const char *policy)
{
    char now[40];
    sl_time_now_rfc3339(now, sizeof(now));
    size_t enforced = 0;
    for (size_t i = 0; i < rep->nbaseline; i++)
        if (rep->baseline[i].enforced)
            enforced++;
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "result",
        rep->passed ? "Passed" : "Failed", "critical", (json_int_t)rep->counts[SL_SEV_CRITICAL],
        "high", (json_int_t)rep->counts[SL_SEV_HIGH], "medium",
        (json_int_t)rep->counts[SL_SEV_MEDIUM], "low", (json_int_t)rep->counts[SL_SEV_LOW],
        "unknown", (json_int_t)(rep->counts[SL_SEV_UNKNOWN] + rep->counts[SL_SEV_NONE]), "baseline",
        (json_int_t)enforced, "malware", (json_int_t)rep->nmalware, "policy", policy, "scannedAt",
        now);
}

struct target {
    char digest[72];
    char platform[100];   /* "linux/arm64" for an index child, "" for a plain image */
    char media_type[128]; /* of the image manifest, "" when unknown */
};

/* Parses the platform filter into plats[0..n) and writes its cache-key text to key: the
 * selectors sorted and ","-joined ("" = no filter), so the order in spec.platforms does not
 * matter. Returns 0 or SL_EINVAL. */
static int platform_filter(struct sl_platform *plats, char *key, size_t key_cap,
                           const char *const *platforms, size_t n, struct sl_err *err)
{
    char text[SL_IMD_MAX_PLATFORMS][100];
    key[0] = '\0';
    if (n > SL_IMD_MAX_PLATFORMS)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "at most %d platforms",
                          SL_IMD_MAX_PLATFORMS);
    for (size_t i = 0; i < n; i++) {
        int rc = sl_platform_parse(&plats[i], platforms[i], err);
        if (rc != 0)
            return rc;
        snprintf(text[i], sizeof(text[i]), "%s/%s%s%s", plats[i].os, plats[i].arch,
                 plats[i].variant[0] ? "/" : "", plats[i].variant);
    }
    /* insertion sort: at most SL_IMD_MAX_PLATFORMS short strings */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(text[j - 1], text[j]) > 0; j--) {
            char tmp[100];
            memcpy(tmp, text[j], sizeof(tmp));
            memcpy(text[j], text[j - 1], sizeof(tmp));
            memcpy(text[j - 1], tmp, sizeof(tmp));
        }
    }
    size_t len = 0;
    for (size_t i = 0; i < n && len < key_cap; i++) {
        int w = snprintf(key + len, key_cap - len, "%s%s", i ? "," : "", text[i]);
        if (w > 0)
            len += (size_t)w;
    }
    return 0;
}

/* The image manifests under digest that a delivery with the platform filter plats[0..nplats)
 * puts into the targets: digest itself for an image manifest; for an index, each child
 * (attestation manifests, platform unknown/unknown, and nested indexes are skipped) or, with a
 * filter, each child matching it (sl_platform_match, as the copy engine selects). An index
 * with nothing to scan is SL_EINVAL. */
static int scan_targets(struct target **out, size_t *n, struct sl_registry *src, const char *repo,
                        const char *digest, const struct sl_platform *plats, size_t nplats,
                        const char *filter_text, struct sl_err *err)
{
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    *out = NULL;
    *n = 0;
    int rc = sl_registry_manifest_get(&rm, src, repo, digest, err);
    if (rc == 0)
        rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, err);
    if (rc != 0)
        goto done;
    if (m.kind == SL_MANIFEST_IMAGE) {
        *out = sl_xcalloc(1, sizeof(**out));
        snprintf((*out)[0].digest, sizeof((*out)[0].digest), "%s", digest);
        snprintf((*out)[0].media_type, sizeof((*out)[0].media_type), "%s",
                 rm.media_type ? rm.media_type : "");
        *n = 1;
        goto done;
    }
    *out = sl_xcalloc(m.n_children ? m.n_children : 1, sizeof(**out));
    for (size_t i = 0; i < m.n_children; i++) {
        const struct sl_descriptor *c = &m.children[i];
        if (c->os && strcmp(c->os, "unknown") == 0)
            continue;
        if (c->media_type && sl_manifest_type_is_index(c->media_type))
            continue;
        if (nplats > 0 && !sl_platform_match(c, plats, nplats))
            continue;
        struct target *t = &(*out)[(*n)++];
        snprintf(t->digest, sizeof(t->digest), "%s", c->digest);
        snprintf(t->media_type, sizeof(t->media_type), "%s", c->media_type ? c->media_type : "");
        snprintf(t->platform, sizeof(t->platform), "%s/%s%s%s", c->os ? c->os : "?",
                 c->arch ? c->arch : "?", c->variant ? "/" : "", c->variant ? c->variant : "");
    }
    if (*n == 0 && nplats > 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "no image of index %s matches spec.platforms (%s)", digest, filter_text);
    else if (*n == 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is an index without images", digest);
done:
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

/* Scans one image with the policy's Harbor scanner adapter: checks the adapter consumes the
 * manifest's media type, POSTs a ScanRequest naming the source registry with a pull token for
 * repo (with token auth; nothing with Basic auth: the ImageDelivery's password never leaves the
 * controller), polls the report and applies pol to its findings. Adapter
 * failures are SL_ERETRY with class SL_ERRC_SCANNER (retried with the queue's backoff). */
static int harbor_scan(struct sl_scan_report *rep, const struct scandb *db, struct sl_registry *src,
                       const char *repo, const struct target *t, const struct sl_scan_policy *pol,
                       struct sl_err *err)
{
    char *reg_url = NULL, *reg_auth = NULL, *body = NULL, *id = NULL, *meta = NULL;
    char *report = NULL;
    size_t meta_len = 0, report_len = 0;
    struct sl_harbor_client *c = NULL;
    const char *mime =
        t->media_type[0] ? t->media_type : "application/vnd.oci.image.manifest.v1+json";
    int rc = sl_registry_base_url(&reg_url, src, err);
    if (rc != 0)
        goto done;
    struct sl_harbor_client_opts o = {.insecure = db->harbor_insecure,
                                      .ca_pem = db->harbor_ca,
                                      .authorization = db->harbor_auth,
                                      .request_timeout_ms = 60000,
                                      .report_timeout_ms = 300000};
    c = sl_harbor_client_new(db->harbor_url, &o);
    rc = sl_harbor_client_metadata(&meta, &meta_len, c, err);
    if (rc == 0) {
        rc = sl_harbor_metadata_check(NULL, meta, meta_len, mime, err);
        if (rc != 0)
            sl_err_prefix(err, "scanner adapter %s", db->harbor_url);
    }
    if (rc != 0)
        goto done;
    /* the adapter gets a token for pulling this one repository, never the password */
    bool withheld = false;
    rc = sl_registry_pull_authorization(&reg_auth, &withheld, src, repo, err);
    if (rc != 0) {
        sl_err_prefix(err, "pull token for the scanner adapter");
        goto done;
    }
    struct sl_harbor_scan_request req = {
        .registry_url = reg_url,
        .authorization = reg_auth,
        .repository = (char *)repo,
        .digest = (char *)t->digest,
        .mime_type = (char *)mime,
    };
    body = sl_harbor_scan_request_json(&req);
    rc = sl_harbor_client_scan(&id, c, body, err);
    if (rc == 0)
        rc = sl_harbor_client_wait_report(&report, &report_len, c, id, err);
    /* first in the message, so a long adapter error cannot push it out */
    if (rc != 0 && withheld)
        sl_err_prefix(err,
                      "the adapter got no registry credential (%s uses Basic authentication; "
                      "adapters get pull tokens, never passwords)",
                      sl_registry_host(src));
    if (rc == 0) {
        rc = sl_harbor_report_parse(rep, report, report_len, err);
        if (rc != 0)
            sl_err_prefix(err, "scanner adapter %s: report of scan %s", db->harbor_url, id);
    }
    if (rc == 0)
        sl_scan_apply_policy(rep, pol);
done:
    if (rc != 0 && err && err->klass == SL_ERRC_SCANNER) {
        rc = SL_ERETRY;
        err->code = rc;
    }
    sl_harbor_client_free(c);
    free(reg_url);
    sl_secure_free_str(reg_auth);
    sl_secure_free_str(body);
    free(id);
    free(meta);
    free(report);
    return rc;
}

static int gate_scan(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                     struct sl_registry *src, const char *repo, const char *digest,
                     const char *const *platforms, size_t n_platforms, json_t **out_summary,
                     struct sl_err *err)
{
    (void)ctx;
    (void)rt;
    struct scandb *db = NULL;
    struct vexset *vex = NULL;
    json_t *spec = NULL;
    uint64_t serial = 0;
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, policy_name);
    bool ready = e && e->ready && e->db;
    if (ready) {
        db = e->db;
        db->refs++;
        vex = e->vex;
        if (vex)
            vex->refs++;
        spec = json_incref(e->spec);
        serial = e->serial;
    }
    pthread_mutex_unlock(&store_lock);
    if (!ready)
        return sl_err_set(err, SL_SCAN_GATE_WAITING, SL_ERRC_INPUT, "ScanPolicy \"%s\" %s",
                          policy_name,
                          e ? "is not Ready" : "not found or its database is not loaded yet");

    int rc = 0;
    char key[600 + SL_IMD_MAX_PLATFORMS * 100], msg[MSG_MAX];
    char filter[SL_IMD_MAX_PLATFORMS * 100];
    struct sl_platform plats[SL_IMD_MAX_PLATFORMS];
    struct parsed_policy pp;
    struct target *targets = NULL;
    size_t ntargets = 0;
    json_t *total = NULL;
    struct sl_vexatt att;
    bool with_att = vex && vex->trust.nkeys > 0;
    memset(&pp, 0, sizeof(pp));
    memset(&att, 0, sizeof(att));
    rc = platform_filter(plats, filter, sizeof(filter), platforms, n_platforms, err);
    if (rc != 0)
        goto done;
    /* the image's OpenVEX attestations are read on every pass (bounded, vexatt.h): a verdict
     * is reused only for the same attestations */
    if (with_att && (rc = sl_vexatt_read(&att, src, repo, digest, &vex->trust, err)))
        goto done;
    /* the same digest delivered with another platform filter is another scan */
    snprintf(key, sizeof(key), "%s/%s|%llu|%s|%s|%s|%s", ns, policy_name,
             (unsigned long long)serial, db->digest, digest, filter, att.fingerprint);
    if (cache_lookup(key, out_summary, &rc, msg, sizeof(msg))) {
        if (rc != 0)
            sl_err_set(err, rc, SL_ERRC_INPUT, "%s", msg);
        goto done;
    }
    rc = policy_from_spec(&pp, spec, err);
    if (rc == 0 && with_att)
        rc = sl_vexatt_merge(&att, &vex->vex, err);
    if (rc != 0)
        goto done;
    pp.pol.malware_fails = db->have_hsb;
    /* VEX products name the scanned manifest, the index delivered or the source repository */
    char repository[1024];
    snprintf(repository, sizeof(repository), "%s/%s", sl_registry_host(src), repo);
    pp.pol.vex = with_att ? &att.vex : vex ? &vex->vex : NULL;
    pp.pol.vex_image.repository = repository;
    rc = scan_targets(&targets, &ntargets, src, repo, digest, plats, n_platforms, filter, err);
    if (rc != 0)
        goto done;
    /* every platform that is delivered is scanned: one failing platform blocks the digest */
    msg[0] = '\0';
    bool failed = false;
    for (size_t i = 0; i < ntargets; i++) {
        struct sl_reg_image img;
        struct sl_scan_report rep;
        memset(&img, 0, sizeof(img));
        memset(&rep, 0, sizeof(rep));
        pp.pol.vex_image.digest = targets[i].digest;
        pp.pol.vex_image.index_digest = strcmp(targets[i].digest, digest) != 0 ? digest : NULL;
        if (db->harbor_url)
            rc = harbor_scan(&rep, db, src, repo, &targets[i], &pp.pol, err);
        else
            rc = sl_reg_image_open(&img, src, repo, targets[i].digest, NULL, err);
        if (rc == 0 && !db->harbor_url) {
            struct sl_image_source is;
            sl_reg_image_source(&is, &img);
            rc = sl_scan_image(&rep, &is, db->have_adv ? &db->adv : NULL,
                               db->have_hsb ? &db->hsb : NULL, &pp.pol, NULL, err);
        }
        if (rc != 0) {
            if (targets[i].platform[0])
                sl_err_prefix(err, "%s", targets[i].platform);
        } else {
            json_t *one = summary_of(&rep, policy_name);
            json_object_set_new(one, "vexSuppressed", json_integer((json_int_t)rep.vex_suppressed));
            if (!total) {
                total = one;
            } else {
                static const char *const counts[] = {"critical", "high",         "medium",
                                                     "low",      "unknown",      "baseline",
                                                     "malware",  "vexSuppressed"};
                for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
                    json_object_set_new(
                        total, counts[k],
                        json_integer(json_integer_value(json_object_get(total, counts[k])) +
                                     json_integer_value(json_object_get(one, counts[k]))));
                json_decref(one);
            }
            if (rep.vex_suppressed) {
                json_t *list = json_object_get(total, "suppressed");
                if (!list) {
                    list = json_array();
                    json_object_set_new(total, "suppressed", list);
                }
                add_vex_suppressed(list, &rep, targets[i].platform);
            }
            if (!rep.passed) {
                char one_msg[MSG_MAX];
                describe_failure(one_msg, sizeof(one_msg), &rep, &pp.pol);
                size_t l = strlen(msg);
                snprintf(msg + l, sizeof(msg) - l, "%s%s%s%s", failed ? "; " : "",
                         targets[i].platform, targets[i].platform[0] ? ": " : "", one_msg);
                failed = true;
            }
        }
        sl_scan_report_free(&rep);
        sl_reg_image_free(&img);
        if (rc != 0)
            goto done;
    }
    json_object_set_new(total, "result", json_string(failed ? "Failed" : "Passed"));
    if (with_att)
        json_object_set_new(total, "vexAttestations", sl_vexatt_summary(&att));
    if (failed && att.ignored) {
        /* say why a vendor's statement did not count */
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof(msg) - l, "; %zu OpenVEX attestation%s ignored: %s", att.ignored,
                 att.ignored == 1 ? "" : "s", att.ignored_why);
    }
    if (failed) {
        json_object_set_new(total, "message", json_string(msg));
        rc = sl_err_set(err, SL_SCAN_GATE_BLOCKED, SL_ERRC_INPUT, "%s", msg);
    }
    *out_summary = total;
    total = NULL;
    cache_store(key, *out_summary, rc, msg, rescan_ms_of(spec));
done:
    /* SL_ENOTFOUND means "policy not ready" to the reconciler: a manifest or blob that vanished
     * after the digest was resolved (a tag moved, content deleted) is an error to retry */
    if (rc == SL_ENOTFOUND) {
        rc = SL_EFAIL;
        if (err)
            err->code = rc;
    }
    json_decref(total);
    free(targets);
    parsed_policy_free(&pp);
    json_decref(spec);
    sl_vexatt_free(&att);
    scandb_unref(db);
    vexset_unref(vex);
    return rc;
}

int sl_scanpolicy_revision(char *out, size_t cap, const char *ns, const char *name)
{
    int rc = SL_ENOTFOUND;
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, name);
    if (e && e->ready && e->db) {
        snprintf(out, cap, "%llu|%s", (unsigned long long)e->serial, e->db->digest);
        rc = 0;
    }
    pthread_mutex_unlock(&store_lock);
    return rc;
}

/* The attestation gate: every image manifest of digest in the target (the platforms the
 * delivery holds) gets the SBOM and/or the vulnerability report of the policy's database and
 * rules (scan/imageattest.h). */
static int gate_attest(void *ctx, struct sl_registry *reg, const char *repo,
                       const char *subject_name, const char *digest,
                       const struct sl_attest_request *req, char revision_out[128],
                       size_t *images_out, struct sl_err *err)
{
    (void)ctx;
    struct scandb *db = NULL;
    struct vexset *vex = NULL;
    json_t *spec = NULL;
    struct parsed_policy pp;
    struct target *targets = NULL;
    size_t ntargets = 0;
    char filter[SL_IMD_MAX_PLATFORMS * 100];
    struct sl_platform plats[SL_IMD_MAX_PLATFORMS];
    struct sl_vexatt att;
    memset(&pp, 0, sizeof(pp));
    memset(&att, 0, sizeof(att));
    revision_out[0] = '\0';
    *images_out = 0;
    int rc = 0;
    bool vuln = req->vuln;
    if (vuln) {
        pthread_mutex_lock(&store_lock);
        struct pol_entry *e = find_locked(req->ns, req->policy_name);
        bool ready = e && e->ready && e->db;
        if (ready) {
            db = e->db;
            db->refs++;
            vex = e->vex;
            if (vex)
                vex->refs++;
            spec = json_incref(e->spec);
        }
        pthread_mutex_unlock(&store_lock);
        if (!ready)
            return sl_err_set(err, SL_SCAN_GATE_WAITING, SL_ERRC_INPUT, "ScanPolicy \"%s\" %s",
                              req->policy_name,
                              e ? "is not Ready" : "not found or its database is not loaded yet");
        if ((db->harbor_url || !db->have_adv) && req->vuln_optional) {
            vuln = false; /* nothing to report with: the SBOM alone */
        } else if (db->harbor_url || !db->have_adv) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                            "vulnerability attestations need the built-in scanner with an "
                            "advisory database (ScanPolicy \"%s\")",
                            req->policy_name);
            goto done;
        }
        if (vuln) {
            rc = policy_from_spec(&pp, spec, err);
            if (rc)
                goto done;
            snprintf(revision_out, 128, "%s", db->digest);
        }
    }
    if (!vuln && !req->sbom)
        goto done;
    rc = platform_filter(plats, filter, sizeof(filter), req->platforms, req->n_platforms, err);
    if (!rc)
        rc = scan_targets(&targets, &ntargets, reg, repo, digest, plats, req->n_platforms, filter,
                          err);
    if (rc)
        goto done;
    struct sl_image_attest_opts o = {
        .key = req->key,
        .sbom = req->sbom,
        .sbom_format = req->sbom_cyclonedx ? SL_SBOM_CYCLONEDX : SL_SBOM_SPDX,
        .vuln = vuln,
        .db = vuln ? &db->adv : NULL,
        .db_uri = vuln ? db->source : NULL,
        .policy = vuln ? &pp.pol : NULL,
        .where = {.tag = req->tag, .referrer = req->referrer},
    };
    /* the findings the scan gate suppressed by OpenVEX are marked in the report too, so the
     * admission check (which skips them) decides as the gate did */
    char repository[1024];
    if (req->vex_repository)
        snprintf(repository, sizeof(repository), "%s", req->vex_repository);
    else
        snprintf(repository, sizeof(repository), "%s/%s", sl_registry_host(reg), repo);
    if (vuln) {
        pp.pol.vex = vex ? &vex->vex : NULL;
        pp.pol.vex_image.repository = repository;
    }
    /* and the source image's OpenVEX attestations, as the scan gate read them */
    if (vuln && vex && vex->trust.nkeys > 0 && req->vex_source) {
        rc = sl_vexatt_read(&att, req->vex_source, req->vex_source_repo, digest, &vex->trust, err);
        if (!rc)
            rc = sl_vexatt_merge(&att, &vex->vex, err);
        if (rc)
            goto done;
        pp.pol.vex = &att.vex;
    }
    for (size_t i = 0; i < ntargets; i++) {
        pp.pol.vex_image.digest = targets[i].digest;
        pp.pol.vex_image.index_digest = strcmp(targets[i].digest, digest) != 0 ? digest : NULL;
        rc = sl_image_attest(NULL, reg, repo, subject_name, targets[i].digest, &o, err);
        if (rc) {
            if (targets[i].platform[0])
                sl_err_prefix(err, "%s", targets[i].platform);
            goto done;
        }
        (*images_out)++;
    }
done:
    free(targets);
    parsed_policy_free(&pp);
    json_decref(spec);
    sl_vexatt_free(&att);
    if (db)
        scandb_unref(db);
    if (vex)
        vexset_unref(vex);
    return rc;
}

static bool gate_vuln_due(void *ctx, const char *ns, const char *policy_name, const char *revision,
                          time_t attested_at, time_t now)
{
    (void)ctx;
    pthread_mutex_lock(&store_lock);
    struct pol_entry *e = find_locked(ns, policy_name);
    bool due = false;
    if (e && e->ready && e->db && e->db->have_adv && !e->db->harbor_url)
        due = !revision || strcmp(e->db->digest, revision) != 0 ||
              (int64_t)(now - attested_at) * 1000 >= rescan_ms_of(e->spec);
    pthread_mutex_unlock(&store_lock);
    return due;
}

void sl_scanpolicy_attest_gate(struct sl_attest_gate *out)
{
    memset(out, 0, sizeof(*out));
    out->attest = gate_attest;
    out->vuln_due = gate_vuln_due;
}

void sl_scanpolicy_gate(struct sl_scan_gate *out)
{
    memset(out, 0, sizeof(*out));
    out->scan = gate_scan;
}
