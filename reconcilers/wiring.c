/* The reconcilers `sealift controller` runs, and the HTTP routes they serve (wiring.h). */
#include "wiring.h"
#include "deploypolicy/reconciler.h"
#include "git/fetchproc.h"
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

struct sl_reconcilers {
    struct sl_controller_config cc; /* the controller's settings (strings borrowed) */
    /* What the ScanPolicy reconciler loaded, read by the scan and attestation gates. */
    struct sl_scan_store *scan_store;
    /* What the ScanPolicies passed or blocked in this process (the ImageDelivery reconciler's
     * scans through the gate, and the webhook's own): the admission webhook decides
     * requireScanPassed from it. */
    struct sl_scan_record *scan_record;
    struct sl_admission_webhook *admission;
    struct sl_gitsource_webhook *push_hooks;
    /* reconcilers were made and sl_reconcilers_teardown has not run since */
    bool in_use;
};

struct sl_reconcilers *sl_reconcilers_new(void)
{
    return sl_xcalloc(1, sizeof(struct sl_reconcilers));
}

void sl_reconcilers_free(struct sl_reconcilers *w)
{
    /* a controller that exited with reconciles still running skipped the teardown: they may
     * still read the store, the record and w itself, so all of it is left to the process's
     * exit */
    if (!w || w->in_use)
        return;
    free(w);
}

void sl_reconcilers_wiring(struct sl_controller_wiring *out, struct sl_reconcilers *w)
{
    *out = (struct sl_controller_wiring){.ctx = w,
                                         .reconcilers = sl_reconcilers_all,
                                         .setup_servers = sl_reconcilers_setup_servers,
                                         .teardown = sl_reconcilers_teardown};
}

typedef int (*constructor_fn)(struct sl_reconcilers *w, struct sl_reconciler **out,
                              struct sl_err *err);

static int new_signingkey(struct sl_reconcilers *w, struct sl_reconciler **out, struct sl_err *err)
{
    return sl_signingkey_reconciler_new(out, err);
}

static int bounded_fetch(void *ctx, struct sl_git_result *out, const char *cache_dir,
                         const char *url, const struct sl_git_ref *ref,
                         const struct sl_git_auth *auth, int64_t timeout_ms, struct sl_err *err)
{
    return sl_git_fetch_bounded(out, ctx, cache_dir, url, ref, auth, timeout_ms, err);
}

static int new_gitsource(struct sl_reconcilers *w, struct sl_reconciler **out, struct sl_err *err)
{
    char *cache = sl_xasprintf("%s/git", w->cc.state_dir ? w->cc.state_dir : "/var/lib/sealift");
    /* the real fetch, each in a child process of this binary that a timeout can stop */
    struct sl_git_ops git = {.ctx = "/proc/self/exe", .fetch = bounded_fetch};
    int rc = sl_gitsource_reconciler_new(out, cache, &w->cc, &git, err);
    free(cache);
    return rc;
}

/* The admission webhook's routes are on the --webhook-addr listener, which the controller
 * starts before any reconcile (and exits when it cannot). */
static bool admission_serving(void *ctx)
{
    struct sl_reconcilers *w = ctx;
    return w->admission != NULL;
}

static int new_deploypolicy(struct sl_reconcilers *w, struct sl_reconciler **out,
                            struct sl_err *err)
{
    struct sl_deploypolicy_opts o = {.cert_dir = w->cc.webhook_cert_dir,
                                     .service_port = w->cc.webhook_service_port,
                                     .webhook_serving = admission_serving,
                                     .webhook_ctx = w};
    return sl_deploypolicy_reconciler_new(out, &o, err);
}

/* The built-in scanner answers the ImageDelivery scan gate (ScanPolicy store), every verdict
 * recorded for the admission webhook, and writes the signed SBOM and vulnerability attestations
 * of signed deliveries. */
static int new_imagedelivery(struct sl_reconcilers *w, struct sl_reconciler **out,
                             struct sl_err *err)
{
    struct sl_scan_gate recorded;
    struct sl_attest_gate attest;
    sl_scan_record_gate(&recorded, w->scan_record);
    sl_scanpolicy_attest_gate(&attest, w->scan_store);
    struct sl_imagedelivery_deps deps = {
        .config = &w->cc, .scan_gate = &recorded, .attest_gate = &attest};
    return sl_imagedelivery_reconciler_new(out, &deps, err);
}

static int new_scanpolicy(struct sl_reconcilers *w, struct sl_reconciler **out, struct sl_err *err)
{
    return sl_scanpolicy_reconciler_new(out, w->scan_store, &w->cc, NULL, err);
}

int sl_reconcilers_all(void *ctx, const struct sl_controller_config *cc,
                       struct sl_reconciler ***out, size_t *n, struct sl_err *err)
{
    static const constructor_fn constructors[] = {
        new_signingkey, new_gitsource, new_deploypolicy, new_imagedelivery, new_scanpolicy,
    };
    struct sl_reconcilers *w = ctx;
    w->cc = *cc;
    w->in_use = true;
    if (!w->scan_store)
        w->scan_store = sl_scan_store_new();
    if (!w->scan_record) {
        struct sl_scan_gate gate;
        sl_scanpolicy_gate(&gate, w->scan_store);
        w->scan_record = sl_scan_record_new(&gate, sl_scanpolicy_revision, w->scan_store, 0);
    }
    size_t total = sizeof(constructors) / sizeof(constructors[0]);
    struct sl_reconciler **list = sl_xcalloc(total, sizeof(*list));
    size_t count = 0;
    for (size_t i = 0; i < total; i++) {
        int rc = constructors[i](w, &list[count], err);
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

int sl_reconcilers_setup_servers(void *ctx, struct sl_manager *m, struct sl_http_server *metrics,
                                 struct sl_http_server *webhook, struct sl_err *err)
{
    struct sl_reconcilers *w = ctx;
    struct sl_runtime *rt = sl_manager_runtime(m);
    if (metrics) {
        int rc = sl_gitsource_webhook_new(&w->push_hooks, rt, err);
        if (rc)
            return rc;
        sl_gitsource_webhook_register(w->push_hooks, metrics);
    }
    if (webhook) {
        struct sl_admission_lookup lookup = {.ctx = m, .get = lookup_get, .list = lookup_list};
        struct sl_scan_gate recorded;
        sl_scan_record_gate(&recorded, w->scan_record);
        struct sl_admission_webhook_opts wo = {.insecure_registries = w->cc.insecure_registries,
                                               .n_insecure = w->cc.n_insecure_registries,
                                               .cache_ttl_ms = w->cc.webhook_cache_ttl_ms,
                                               .reveal_details = w->cc.webhook_client_auth,
                                               .scans = w->scan_record,
                                               .scan_gate = w->scan_record ? &recorded : NULL};
        int rc = sl_admission_webhook_new(&w->admission, rt, &lookup, &wo, err);
        if (rc)
            return rc;
        sl_admission_webhook_register(w->admission, webhook);
    }
    return 0;
}

void sl_reconcilers_teardown(void *ctx)
{
    struct sl_reconcilers *w = ctx;
    sl_admission_webhook_free(w->admission);
    w->admission = NULL;
    sl_gitsource_webhook_free(w->push_hooks);
    w->push_hooks = NULL;
    /* the reconcilers and the webhook that scanned through the record are gone */
    sl_scan_record_free(w->scan_record);
    w->scan_record = NULL;
    sl_scan_store_free(w->scan_store);
    w->scan_store = NULL;
    w->in_use = false;
}
