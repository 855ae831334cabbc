/* The admission webhook (controller/policy/webhook.c) on an in-process HTTP server, with
 * in-memory object lookups and, as the only registry, a TCP black hole on 127.0.0.1 that
 * accepts connections and never answers. requireScanPassed needs no registry for an image
 * pinned by digest that sealift's own scan record has, while an image given by tag must be
 * resolved in the registry: so reviews of
 * tags get stuck in a worker, and the test checks what users see meanwhile: reviews of other
 * images are answered (from a worker, then from the cache) while the stuck ones are still
 * open; a review of the same tag joins the stuck check; a full queue denies at once; a stuck
 * review is denied when its time is up; shutdown joins the workers. Order, not time, is
 * asserted (the only clock is the review's ?timeout=). */
#include "check.h"
#include "http/server.h"
#include "policy/webhook.h"
#include "kube/client.h"
#include "oci/manifest.h"
#include "runtime/metrics.h"
#include "scan/record.h"
#include "sign/cosign.h"
#include "sign/keys.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DIGEST_OK     "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DIGEST_FORGED "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DIGEST_FAILED "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* ---- a registry that never answers ---- */

struct black_hole {
    int listen_fd;
    char host[64];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fds[64];
    int n;
    int stopping;
};

static void *hole_main(void *arg)
{
    struct black_hole *b = arg;
    for (;;) {
        int fd = accept(b->listen_fd, NULL, NULL);
        pthread_mutex_lock(&b->mu);
        if (fd < 0 || b->stopping) {
            pthread_mutex_unlock(&b->mu);
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        if (b->n < 64)
            b->fds[b->n++] = fd;
        else
            close(fd);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
}

static void hole_start(struct black_hole *b)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    CHECK_INT_EQ(bind(b->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_INT_EQ(listen(b->listen_fd, 16), 0);
    getsockname(b->listen_fd, (struct sockaddr *)&a, &len);
    snprintf(b->host, sizeof(b->host), "127.0.0.1:%d", ntohs(a.sin_port));
    pthread_create(&b->thread, NULL, hole_main, b);
}

static void hole_wait_accepted(struct black_hole *b, int n)
{
    pthread_mutex_lock(&b->mu);
    while (b->n < n)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Closes every connection and the listener: from now on the registry refuses connections. */
static void hole_release(struct black_hole *b)
{
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    for (int i = 0; i < b->n; i++) {
        shutdown(b->fds[i], SHUT_RDWR);
        close(b->fds[i]);
    }
    b->n = 0;
    pthread_mutex_unlock(&b->mu);
    shutdown(b->listen_fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(b->thread, NULL);
    close(b->listen_fd);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

/* ---- objects the webhook looks up ---- */

static char delivered_image[128];

/* One verifyImages entry for every image with requireScanPassed trusting ScanPolicy
 * sec/default; enforcement as given (NULL = Deny). */
static json_t *scan_policy(const char *name, const char *enforcement)
{
    json_t *p =
        json_pack("{s:{s:s, s:i}, s:{s:[{s:[s], s:{s:[{s:s, s:s}]}}]}}", "metadata", "name", name,
                  "generation", 3, "spec", "verifyImages", "imageReferences", "*",
                  "requireScanPassed", "scanPolicyRefs", "namespace", "sec", "name", "default");
    if (enforcement)
        json_object_set_new(json_object_get(p, "spec"), "enforcement", json_string(enforcement));
    return p;
}

static json_t *lookup_get(void *ctx, const char *kind, const char *ns, const char *name)
{
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "scanned") == 0)
        return scan_policy("scanned", NULL);
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "scanned-warn") == 0)
        return scan_policy("scanned-warn", "Warn");
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "scanned-audit") == 0)
        return scan_policy("scanned-audit", "Audit");
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "scoped") == 0)
        return json_pack("{s:{s:s, s:i}, s:{s:[{s:[s], s:{s:[{s:s, s:s}]}}]}}", "metadata", "name",
                         "scoped", "generation", 1, "spec", "verifyImages", "imageReferences",
                         "127.0.0.1:9/mirror/*", "requireScanPassed", "scanPolicyRefs", "namespace",
                         "sec", "name", "default");
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "legacy") == 0)
        /* v1alpha1's `requireScanPassed: true` converts to an entry naming no ScanPolicy */
        return json_pack("{s:{s:s, s:i}, s:{s:[{s:[s], s:{}}]}}", "metadata", "name", "legacy",
                         "generation", 1, "spec", "verifyImages", "imageReferences", "*",
                         "requireScanPassed");
    return NULL;
}

/* Every ImageDelivery status claims a Passed scan of every digest (a forged status): the
 * webhook must not read it. */
static json_t *lookup_list(void *ctx, const char *kind)
{
    if (strcmp(kind, "ImageDelivery") != 0)
        return json_array();
    char forged[160];
    snprintf(forged, sizeof(forged), "%.100s", delivered_image);
    return json_pack("[{s:{s:[{s:{s:s}, s:[{s:s, s:s}, {s:s, s:s}]}]}}]", "status", "images",
                     "scan", "result", "Passed", "targets", "image", forged, "digest", DIGEST_OK,
                     "image", forged, "digest", DIGEST_FORGED);
}

/* ScanPolicy sec/default is loaded at revision current_revision; nothing else is. */
static char current_revision[8] = "r1";
static pthread_mutex_t revision_mu = PTHREAD_MUTEX_INITIALIZER;

static int revision_of(void *ctx, char *out, size_t cap, const char *ns, const char *name)
{
    if (strcmp(ns, "sec") != 0 || strcmp(name, "default") != 0)
        return -1;
    pthread_mutex_lock(&revision_mu);
    snprintf(out, cap, "%s", current_revision);
    pthread_mutex_unlock(&revision_mu);
    return 0;
}

static void set_revision(const char *rev)
{
    pthread_mutex_lock(&revision_mu);
    snprintf(current_revision, sizeof(current_revision), "%s", rev);
    pthread_mutex_unlock(&revision_mu);
}

/* ---- reviews ---- */

static char *review_body(const char *uid, const char *image)
{
    json_t *r = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:{s:s, s:{s:[{s:s, "
                          "s:s}]}}}}",
                          "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request",
                          "uid", uid, "kind", "group", "", "version", "v1", "kind", "Pod",
                          "namespace", "shop", "operation", "CREATE", "object", "kind", "Pod",
                          "spec", "containers", "name", "app", "image", image);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

/* A Pod review in namespace ns, with imagePullSecrets [secret] unless secret is NULL. */
static char *review_body_ns(const char *uid, const char *ns, const char *secret, const char *image)
{
    char *text = review_body(uid, image);
    json_t *r = json_loads(text, 0, NULL);
    free(text);
    json_t *req = json_object_get(r, "request");
    json_object_set_new(req, "namespace", json_string(ns));
    if (secret)
        json_object_set_new(json_object_get(json_object_get(req, "object"), "spec"),
                            "imagePullSecrets", json_pack("[{s:s}]", "name", secret));
    char *out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return out;
}

struct answer {
    int curl_rc;
    long status;
    int allowed; /* -1 = no answer */
    char message[1024];
    char warning[1024]; /* response.warnings[0] */
    char audit[1024];   /* response.auditAnnotations.violation */
};

static void post_body(struct answer *out, const char *url, const char *uid, char *body);

static void post_review(struct answer *out, const char *url, const char *uid, const char *image)
{
    post_body(out, url, uid, review_body(uid, image));
}

/* POSTs body (taken) and parses the AdmissionReview answer. */
static void post_body(struct answer *out, const char *url, const char *uid, char *body)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    out->curl_rc = (int)curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    fclose(mem);
    out->allowed = -1;
    out->message[0] = '\0';
    out->warning[0] = '\0';
    out->audit[0] = '\0';
    json_t *j = buf ? json_loads(buf, 0, NULL) : NULL;
    json_t *r = json_object_get(j, "response");
    if (json_is_object(r)) {
        out->allowed = json_is_true(json_object_get(r, "allowed"));
        const char *m = json_string_value(json_object_get(json_object_get(r, "status"), "message"));
        snprintf(out->message, sizeof(out->message), "%s", m ? m : "");
        const char *wn = json_string_value(json_array_get(json_object_get(r, "warnings"), 0));
        snprintf(out->warning, sizeof(out->warning), "%s", wn ? wn : "");
        const char *au =
            json_string_value(json_object_get(json_object_get(r, "auditAnnotations"), "violation"));
        snprintf(out->audit, sizeof(out->audit), "%s", au ? au : "");
        CHECK_STR_EQ(json_string_value(json_object_get(r, "uid")), uid);
    }
    json_decref(j);
    free(buf);
    curl_easy_cleanup(h);
    free(body);
}

struct bg_review {
    char url[256], uid[32], image[160], ns[32], secret[32];
    struct answer a;
    pthread_t thread;
    pthread_mutex_t mu;
    int done;
};

static void *bg_main(void *arg)
{
    struct bg_review *b = arg;
    struct answer a;
    if (b->ns[0])
        post_body(&a, b->url, b->uid,
                  review_body_ns(b->uid, b->ns, b->secret[0] ? b->secret : NULL, b->image));
    else
        post_review(&a, b->url, b->uid, b->image);
    pthread_mutex_lock(&b->mu);
    b->a = a;
    b->done = 1;
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void bg_start(struct bg_review *b, const char *url, const char *uid, const char *image)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->url, sizeof(b->url), "%s", url);
    snprintf(b->uid, sizeof(b->uid), "%s", uid);
    snprintf(b->image, sizeof(b->image), "%s", image);
    pthread_mutex_init(&b->mu, NULL);
    pthread_create(&b->thread, NULL, bg_main, b);
}

static int bg_done(struct bg_review *b)
{
    pthread_mutex_lock(&b->mu);
    int d = b->done;
    pthread_mutex_unlock(&b->mu);
    return d;
}

static void bg_join(struct bg_review *b)
{
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
}

/* The value of a counter or gauge series in the metrics text, or -1. */
static double metric(struct sl_metrics *m, const char *series)
{
    struct sl_buf out;
    sl_buf_init(&out, 0);
    sl_metrics_render(m, &out);
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = sl_buf_cstr(&out); p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    sl_buf_free(&out);
    return v;
}

#define CHECKS(via) metric(m, "sealift_admission_image_checks_total{via=\"" via "\"}")

/* Waits (without a clock) until a metric series reaches v. */
static void wait_metric(struct sl_metrics *m, const char *series, double v)
{
    while (metric(m, series) < v)
        usleep(2000);
}

static void test_slow_registry_does_not_stall_reviews(void)
{
    struct black_hole hole;
    hole_start(&hole);
    snprintf(delivered_image, sizeof(delivered_image), "%s/mirror/app:1.0", hole.host);
    char stuck[160], other_tag[160], third_tag[160], scanned[160], unscanned[160];
    snprintf(stuck, sizeof(stuck), "%s/mirror/app:1.0", hole.host);
    snprintf(other_tag, sizeof(other_tag), "%s/mirror/app:2.0", hole.host);
    snprintf(third_tag, sizeof(third_tag), "%s/mirror/app:3.0", hole.host);
    snprintf(scanned, sizeof(scanned), "%s/mirror/app@%s", hole.host, DIGEST_OK);
    snprintf(unscanned, sizeof(unscanned), "%s/mirror/app@%s", hole.host, DIGEST_FORGED);

    struct sl_metrics *m = sl_metrics_new();
    struct sl_runtime rt = {.metrics = m}; /* no imagePullSecrets: the API is never asked */
    struct sl_admission_lookup lookup = {.get = lookup_get, .list = lookup_list};
    const char *insecure[] = {hole.host};
    /* sealift's own scans: DIGEST_OK passed ScanPolicy sec/default at its current revision */
    struct sl_scan_record *scans = sl_scan_record_new(NULL, revision_of, NULL, 0);
    sl_scan_record_put(scans, "sec", "default", DIGEST_OK, SL_SCAN_PASSED);
    struct sl_admission_webhook_opts wo = {.insecure_registries = insecure,
                                           .n_insecure = 1,
                                           .workers = 1,
                                           .queue_max = 1,
                                           .reveal_details = true,
                                           .scans = scans};
    struct sl_admission_webhook *w = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_admission_webhook_new(&w, &rt, &lookup, &wo, &err), 0);
    struct sl_http_server *srv = NULL;
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_admission_webhook_register(w, srv);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    char url[256], url_short[256];
    snprintf(url, sizeof(url), "http://%s/admission/scanned", sl_http_server_addr(srv));
    /* the API server's ?timeout=: the webhook answers a second before it runs out */
    snprintf(url_short, sizeof(url_short), "%s?timeout=2s", url);

    /* a digest decided by a worker, then by the cache on the loop */
    struct answer a;
    post_review(&a, url, "warm-1", scanned);
    CHECK_INT_EQ(a.allowed, 1);
    post_review(&a, url, "warm-2", scanned);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK(CHECKS("worker") == 1 && CHECKS("cache") == 1);

    /* a tag: the only worker gets stuck resolving it in the black hole */
    struct bg_review cold, joiner, queued;
    bg_start(&cold, url, "cold", stuck);
    hole_wait_accepted(&hole, 1);
    /* the same tag joins that check; another one waits in the (one-slot) queue */
    bg_start(&joiner, url_short, "joiner", stuck);
    wait_metric(m, "sealift_admission_image_checks_total{via=\"coalesced\"}", 1);
    bg_start(&queued, url, "queued", other_tag);
    wait_metric(m, "sealift_admission_check_queue_depth", 1);
    /* the queue is full: a third tag is denied at once */
    post_review(&a, url, "busy", third_tag);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "the admission webhook is busy");
    CHECK_CONTAINS(a.message, third_tag);
    CHECK_CONTAINS(a.message, "failing closed");
    CHECK(CHECKS("rejected") == 1);
    /* the cache still answers, on the loop, while all of those are open */
    post_review(&a, url, "warm-3", scanned);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK(!bg_done(&cold) && !bg_done(&queued));

    /* the joiner's time runs out first: denied by the server's fallback, not left hanging */
    bg_join(&joiner);
    CHECK_INT_EQ(joiner.a.status, 200);
    CHECK_INT_EQ(joiner.a.allowed, 0);
    CHECK_CONTAINS(joiner.a.message, "the check did not finish within 1000 ms");
    CHECK_CONTAINS(joiner.a.message, stuck);
    CHECK(!bg_done(&cold)); /* the first one has a longer deadline */
    post_review(&a, url, "warm-4", scanned);
    CHECK_INT_EQ(a.allowed, 1);

    /* the registry goes away: the stuck check ends with a registry error, then the queued one
     * runs (and fails the same way) */
    hole_release(&hole);
    bg_join(&cold);
    bg_join(&queued);
    CHECK_INT_EQ(cold.a.allowed, 0);
    CHECK_INT_EQ(queued.a.allowed, 0);
    CHECK_CONTAINS(cold.a.message, "its tag cannot be resolved");
    CHECK_CONTAINS(queued.a.message, other_tag);
    CHECK(CHECKS("worker") == 3);

    /* a digest sealift never scanned, although every ImageDelivery status says Passed: denied
     * (this controller has no scanner to scan it now) */
    post_review(&a, url, "unscanned", unscanned);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "requireScanPassed: ScanPolicy sec/default has not scanned");
    CHECK_CONTAINS(a.message, "(container app, " DIGEST_FORGED ")");

    /* shutdown order of the controller: the server stops, then the webhook joins its workers */
    sl_http_server_stop(srv);
    sl_admission_webhook_free(w);
    sl_http_server_free(srv);
    sl_scan_record_free(scans);
    sl_metrics_free(m);
}

/* ---- requireScanPassed from sealift's own scans; enforcement ---- */

static int fake_scans;
static pthread_mutex_t fake_scan_mu = PTHREAD_MUTEX_INITIALIZER;

/* The scanner behind the webhook's gate: every image fails ScanPolicy sec/default. */
static int fake_scan_blocked(void *ctx, struct sl_runtime *rt, const char *ns,
                             const char *policy_name, struct sl_registry *src, const char *repo,
                             const char *digest, const char *const *platforms, size_t n_platforms,
                             json_t **out_summary, struct sl_err *err)
{
    pthread_mutex_lock(&fake_scan_mu);
    fake_scans++;
    pthread_mutex_unlock(&fake_scan_mu);
    CHECK_STR_EQ(ns, "sec");
    CHECK_STR_EQ(policy_name, "default");
    CHECK_STR_EQ(repo, "mirror/app");
    CHECK_INT_EQ((int)n_platforms, 0);
    *out_summary = json_pack("{s:s}", "result", "Failed");
    return sl_err_set(err, SL_SCAN_GATE_BLOCKED, SL_ERRC_INPUT, "CVE-2026-0001 (Critical)");
}

static int scans_done(void)
{
    pthread_mutex_lock(&fake_scan_mu);
    int n = fake_scans;
    pthread_mutex_unlock(&fake_scan_mu);
    return n;
}

struct webhook_env {
    struct sl_scan_record *scans;
    struct sl_admission_webhook *w;
    struct sl_http_server *srv;
    char base[200];
};

static void env_start(struct webhook_env *e, struct sl_runtime *rt,
                      const struct sl_admission_lookup *lookup,
                      struct sl_admission_webhook_opts *wo)
{
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_admission_webhook_new(&e->w, rt, lookup, wo, &err), 0);
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&e->srv, &so, &err), 0);
    sl_admission_webhook_register(e->w, e->srv);
    CHECK_INT_EQ(sl_http_server_start(e->srv, &err), 0);
    snprintf(e->base, sizeof(e->base), "http://%s/admission/", sl_http_server_addr(e->srv));
}

static void env_stop(struct webhook_env *e)
{
    sl_http_server_stop(e->srv);
    sl_admission_webhook_free(e->w);
    sl_http_server_free(e->srv);
}

static void test_scan_verdicts_and_enforcement(void)
{
    /* no registry is reached: images are pinned and the scanner is a fake */
    snprintf(delivered_image, sizeof(delivered_image), "127.0.0.1:9/mirror/app:1.0");
    char forged[160], failed[160], passed[160], url[300];
    snprintf(forged, sizeof(forged), "127.0.0.1:9/mirror/app@%s", DIGEST_FORGED);
    snprintf(failed, sizeof(failed), "127.0.0.1:9/mirror/app@%s", DIGEST_FAILED);
    snprintf(passed, sizeof(passed), "127.0.0.1:9/mirror/app@%s", DIGEST_OK);
    struct sl_scan_gate blocked = {.scan = fake_scan_blocked}, recorded;
    struct webhook_env e = {0};
    e.scans = sl_scan_record_new(&blocked, revision_of, NULL, 0);
    sl_scan_record_gate(&recorded, e.scans);
    sl_scan_record_put(e.scans, "sec", "default", DIGEST_OK, SL_SCAN_PASSED);
    sl_scan_record_put(e.scans, "sec", "default", DIGEST_FAILED, SL_SCAN_FAILED);
    struct sl_runtime rt = {0};
    struct sl_admission_lookup lookup = {.get = lookup_get, .list = lookup_list};
    struct sl_admission_webhook_opts wo = {
        .reveal_details = true, .scans = e.scans, .scan_gate = &recorded};
    env_start(&e, &rt, &lookup, &wo);
    struct answer a;

    snprintf(url, sizeof(url), "%sscanned", e.base);
    post_review(&a, url, "passed", passed);
    CHECK_INT_EQ(a.allowed, 1);
    post_review(&a, url, "failed", failed);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "requireScanPassed: the image fails ScanPolicy sec/default");

    /* every ImageDelivery status says the forged digest passed: sealift has not scanned it, so
     * it is denied while sealift scans it itself, and the scan's verdict decides afterwards */
    post_review(&a, url, "forged", forged);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "scan pending");
    while (scans_done() < 1)
        usleep(2000);
    /* the verdict is recorded when the gate returns, just after the counter moved */
    for (;;) {
        post_review(&a, url, "forged-again", forged);
        CHECK_INT_EQ(a.allowed, 0);
        if (!strstr(a.message, "scan pending"))
            break;
        usleep(2000);
    }
    CHECK_CONTAINS(a.message, "requireScanPassed: the image fails ScanPolicy sec/default");
    CHECK_INT_EQ(scans_done(), 1);

    /* Warn and Audit admit a violation and say so; Deny above rejected it */
    snprintf(url, sizeof(url), "%sscanned-warn", e.base);
    post_review(&a, url, "warn", failed);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK_CONTAINS(a.warning, "the image fails ScanPolicy sec/default");
    CHECK_STR_EQ(a.audit, "");
    snprintf(url, sizeof(url), "%sscanned-audit", e.base);
    post_review(&a, url, "audit", failed);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK_CONTAINS(a.audit, "the image fails ScanPolicy sec/default");
    CHECK_STR_EQ(a.warning, "");
    post_review(&a, url, "audit-ok", passed);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK_STR_EQ(a.audit, "");

    /* the old `requireScanPassed: true` trusts nothing: fail closed */
    snprintf(url, sizeof(url), "%slegacy", e.base);
    post_review(&a, url, "legacy", passed);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "verifyImages[0].requireScanPassed names no ScanPolicy");

    /* an entry covers only the images its imageReferences match, on reference boundaries:
     * a failed digest elsewhere is not this entry's business */
    char elsewhere[160], deeper[160];
    snprintf(elsewhere, sizeof(elsewhere), "127.0.0.1:10/mirror/app@%s", DIGEST_FAILED);
    snprintf(deeper, sizeof(deeper), "127.0.0.1:9/mirror/team/app@%s", DIGEST_FAILED);
    snprintf(url, sizeof(url), "%sscoped", e.base);
    post_review(&a, url, "scoped-covered", failed);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "verifyImages[0].requireScanPassed: the image fails ScanPolicy");
    post_review(&a, url, "scoped-other-port", elsewhere);
    CHECK_INT_EQ(a.allowed, 1);
    post_review(&a, url, "scoped-deeper", deeper);
    CHECK_INT_EQ(a.allowed, 1);

    /* a new database: the pass recorded (and cached) for the old one no longer answers */
    snprintf(url, sizeof(url), "%sscanned", e.base);
    post_review(&a, url, "passed-cached", passed);
    CHECK_INT_EQ(a.allowed, 1);
    set_revision("r2");
    post_review(&a, url, "passed-new-db", passed);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "scan pending");
    while (scans_done() < 2)
        usleep(2000);
    set_revision("r1");

    env_stop(&e);
    sl_scan_record_free(e.scans);
}

/* ---- a registry on 127.0.0.1 (requireSignature) ---- */

#define HOSTILE_LAYERS 3000

struct fake_registry {
    struct sl_http_server *srv;
    char host[64];
    char auth[128]; /* the Authorization header it accepts */
    pthread_mutex_t mu;
    int down;       /* answer 503 to signature manifests */
    int hide;       /* answer 404 to requests without the credentials, as registries that hide
                       private repositories do */
    int requests;   /* every request */
    int slow_blobs; /* blob requests of the slow hostile image */
    int fast_blobs; /* blob requests of the fast hostile image */
    char good[72], unsigned_digest[72], slow[72], fast[72];
    char *good_sig, *slow_sig, *fast_sig; /* signature manifests */
    char *att_manifest, *att_envelope;    /* good's .att tag and its one layer, or NULL */
    char att_digest[72];
    char *payload; /* the good signature's payload */
    char payload_digest[72];
    char *unsigned_manifest; /* tag 2.0 */
    struct sl_http_deferred *held[64];
    int nheld;
};

static char *sig_manifest(const char *layers_json)
{
    return sl_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/"
                        "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
                        "vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
                        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
                        "\"size\":2},\"layers\":%s}",
                        layers_json);
}

/* A signature manifest of n layers that all point at blobs named after prefix and i. */
static char *hostile_manifest(char prefix)
{
    json_t *layers = json_array();
    for (int i = 0; i < HOSTILE_LAYERS; i++) {
        char d[80];
        snprintf(d, sizeof(d), "sha256:%c%063d", prefix, i);
        json_array_append_new(layers, json_pack("{s:s, s:s, s:i, s:{s:s}}", "mediaType",
                                                SL_COSIGN_SIG_MEDIA_TYPE, "digest", d, "size", 100,
                                                "annotations", SL_COSIGN_SIG_ANNOTATION, "AAAA"));
    }
    char *l = json_dumps(layers, JSON_COMPACT);
    json_decref(layers);
    char *m = sig_manifest(l);
    free(l);
    return m;
}

static void reply_json(struct sl_http_response *resp, int status, const char *body)
{
    resp->status = status;
    resp->content_type = "application/vnd.oci.image.manifest.v1+json";
    sl_buf_append_str(&resp->body, body);
}

static void h_registry(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct fake_registry *f = ctx;
    const char *auth = sl_http_request_header(req, "Authorization");
    pthread_mutex_lock(&f->mu);
    f->requests++;
    int down = f->down, hide = f->hide;
    pthread_mutex_unlock(&f->mu);
    if (hide && (!auth || strcmp(auth, f->auth) != 0) && strcmp(req->path, "/v2/") != 0) {
        reply_json(resp, 404, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}");
        return;
    }
    if (!auth || strcmp(auth, f->auth) != 0) {
        sl_http_request_add_response_header(req, "WWW-Authenticate", "Basic realm=\"fake\"");
        resp->status = 401;
        resp->content_type = "application/json";
        sl_buf_append_str(&resp->body, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
        return;
    }
    const char *p = req->path;
    if (strcmp(p, "/v2/") == 0) {
        reply_json(resp, 200, "{}");
        return;
    }
    char tag[100];
    if (strncmp(p, "/v2/mirror/app/manifests/", 25) == 0) {
        const char *ref = p + 25;
        const char *body = NULL;
        if (down) {
            reply_json(resp, 503, "{\"errors\":[{\"code\":\"UNAVAILABLE\"}]}");
            return;
        }
        if (sl_cosign_sig_tag(tag, sizeof(tag), f->good) == 0 && strcmp(ref, tag) == 0)
            body = f->good_sig;
        else if (sl_cosign_sig_tag(tag, sizeof(tag), f->slow) == 0 && strcmp(ref, tag) == 0)
            body = f->slow_sig;
        else if (sl_cosign_sig_tag(tag, sizeof(tag), f->fast) == 0 && strcmp(ref, tag) == 0)
            body = f->fast_sig;
        else if (strcmp(ref, "2.0") == 0 || strcmp(ref, f->unsigned_digest) == 0)
            body = f->unsigned_manifest;
        else if (f->att_manifest && strncmp(ref, "sha256-", 7) == 0 &&
                 strncmp(ref + 7, f->good + 7, 64) == 0 && strcmp(ref + 71, ".att") == 0)
            body = f->att_manifest;
        if (!body) {
            reply_json(resp, 404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}");
            return;
        }
        char d[72];
        sl_digest_sha256(d, body, strlen(body));
        sl_http_request_add_response_header(req, "Docker-Content-Digest", d);
        reply_json(resp, 200, body);
        return;
    }
    if (strncmp(p, "/v2/mirror/app/blobs/", 21) == 0) {
        const char *d = p + 21;
        if (strcmp(d, f->payload_digest) == 0) {
            resp->content_type = "application/octet-stream";
            sl_buf_append_str(&resp->body, f->payload);
            return;
        }
        if (f->att_envelope && strcmp(d, f->att_digest) == 0) {
            resp->content_type = "application/octet-stream";
            sl_buf_append_str(&resp->body, f->att_envelope);
            return;
        }
        if (strncmp(d, "sha256:e", 8) == 0) {
            /* the slow hostile image: its layers never come (until the test ends) */
            pthread_mutex_lock(&f->mu);
            f->slow_blobs++;
            struct sl_http_response fb = {.status = 404};
            sl_buf_init(&fb.body, 0);
            if (f->nheld < 64) {
                struct sl_http_deferred *hd = sl_http_request_defer(req, 120000, &fb);
                if (hd)
                    f->held[f->nheld++] = hd;
            }
            sl_buf_free(&fb.body);
            pthread_mutex_unlock(&f->mu);
            return;
        }
        if (strncmp(d, "sha256:f", 8) == 0) {
            pthread_mutex_lock(&f->mu);
            f->fast_blobs++;
            pthread_mutex_unlock(&f->mu);
        }
        reply_json(resp, 404, "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}");
        return;
    }
    reply_json(resp, 404, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}");
}

static int counter(struct fake_registry *f, int *c)
{
    pthread_mutex_lock(&f->mu);
    int v = *c;
    pthread_mutex_unlock(&f->mu);
    return v;
}

static struct sl_key *signer;
static char *signer_pem;
static char signer_fingerprint[SL_KEY_FINGERPRINT_LEN];

/* A signed image, an unsigned one (tag 2.0) and two hostile signature manifests. */
static void registry_start(struct fake_registry *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    struct sl_err err = {0};
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&f->srv, &so, &err), 0);
    sl_http_server_route(f->srv, NULL, "/v2/*", h_registry, f);
    CHECK_INT_EQ(sl_http_server_start(f->srv, &err), 0);
    snprintf(f->host, sizeof(f->host), "%s", sl_http_server_addr(f->srv));
    char *b = sl_base64_encode("puller:secret", 13);
    snprintf(f->auth, sizeof(f->auth), "Basic %s", b);
    free(b);

    snprintf(f->good, sizeof(f->good), "sha256:%064d", 7);
    snprintf(f->slow, sizeof(f->slow), "sha256:%064d", 8);
    snprintf(f->fast, sizeof(f->fast), "sha256:%064d", 9);
    f->unsigned_manifest = sig_manifest("[]");
    sl_digest_sha256(f->unsigned_digest, f->unsigned_manifest, strlen(f->unsigned_manifest));
    char ref[100];
    snprintf(ref, sizeof(ref), "%s/mirror/app", f->host);
    size_t plen = 0;
    CHECK_INT_EQ(sl_cosign_payload(&f->payload, &plen, ref, f->good, &err), 0);
    sl_digest_sha256(f->payload_digest, f->payload, plen);
    unsigned char *sig = NULL;
    size_t slen = 0;
    CHECK_INT_EQ(sl_key_sign(&sig, &slen, signer, f->payload, plen, &err), 0);
    char *sig_b64 = sl_base64_encode(sig, slen);
    free(sig);
    json_t *layers = json_pack("[{s:s, s:s, s:i, s:{s:s}}]", "mediaType", SL_COSIGN_SIG_MEDIA_TYPE,
                               "digest", f->payload_digest, "size", (int)plen, "annotations",
                               SL_COSIGN_SIG_ANNOTATION, sig_b64);
    free(sig_b64);
    char *l = json_dumps(layers, JSON_COMPACT);
    json_decref(layers);
    f->good_sig = sig_manifest(l);
    free(l);
    f->slow_sig = hostile_manifest('e');
    f->fast_sig = hostile_manifest('f');
}

static void registry_stop(struct fake_registry *f)
{
    sl_http_server_stop(f->srv);
    for (int i = 0; i < f->nheld; i++)
        sl_http_deferred_finish(f->held[i], NULL);
    sl_http_server_free(f->srv);
    free(f->good_sig);
    free(f->slow_sig);
    free(f->fast_sig);
    free(f->payload);
    free(f->unsigned_manifest);
    free(f->att_manifest);
    free(f->att_envelope);
    pthread_mutex_destroy(&f->mu);
}

static struct fake_registry *the_registry;

/* Whether Secret "late" exists yet (set by the test; read by the webhook's threads). */
static int late_secret;

/* The API: Secret "pull" exists in every namespace and holds the registry's pull credential;
 * Secret "late" the same once late_secret is set. */
static int fake_kube_get(void *ctx, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, const char *name, struct sl_err *err)
{
    bool late = strcmp(name, "late") == 0 && __atomic_load_n(&late_secret, __ATOMIC_SEQ_CST);
    if (res != &SL_RES_SECRET || (strcmp(name, "pull") != 0 && !late))
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_KUBE, "not found");
    char *cred = sl_base64_encode("puller:secret", 13);
    char *cfg = sl_xasprintf("{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}", the_registry->host, cred);
    char *cfg_b64 = sl_base64_encode(cfg, strlen(cfg));
    *out = json_pack("{s:{s:s}}", "data", ".dockerconfigjson", cfg_b64);
    free(cred);
    free(cfg);
    free(cfg_b64);
    return 0;
}

static json_t *signed_lookup_get(void *ctx, const char *kind, const char *ns, const char *name)
{
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "attested") == 0)
        return json_pack("{s:{s:s, s:i}, s:{s:[{s:[s], s:[{s:s, s:{s:{s:s, s:s, s:s}}}]}], "
                         "s:{s:[{s:s, s:s}]}}}",
                         "metadata", "name", name, "generation", 1, "spec", "verifyImages",
                         "imageReferences", "*", "authorities", "name", "release", "key",
                         "signingKeyRef", "namespace", "vendor", "name", "release", "fingerprint",
                         signer_fingerprint, "rules", "requireAttestations", "type", "vuln",
                         "maxAge", "1h");
    if (strcmp(kind, "DeployPolicy") == 0 &&
        (strcmp(name, "signed") == 0 || strcmp(name, "signed2") == 0))
        return json_pack("{s:{s:s, s:i}, s:{s:[{s:[s], s:[{s:s, s:{s:{s:s, s:s, s:s}}}]}]}}",
                         "metadata", "name", name, "generation", 1, "spec", "verifyImages",
                         "imageReferences", "*", "authorities", "name", "release", "key",
                         "signingKeyRef", "namespace", "vendor", "name", "release", "fingerprint",
                         signer_fingerprint);
    if (strcmp(kind, "SigningKey") == 0 && strcmp(ns, "vendor") == 0 &&
        strcmp(name, "release") == 0)
        return json_pack("{s:{s:s}}", "status", "publicKey", signer_pem);
    /* the Secret watch's copy (metadata only) */
    if (strcmp(kind, "Secret") == 0 && strcmp(name, "pull") == 0)
        return json_pack("{s:{s:s}}", "metadata", "resourceVersion", "1");
    if (strcmp(kind, "Secret") == 0 && strcmp(name, "late") == 0 &&
        __atomic_load_n(&late_secret, __ATOMIC_SEQ_CST))
        return json_pack("{s:{s:s}}", "metadata", "resourceVersion", "7");
    return NULL;
}

static json_t *empty_list(void *ctx, const char *kind)
{
    return json_array();
}

static void bg_start_in(struct bg_review *b, const char *url, const char *uid, const char *ns,
                        const char *secret, const char *image)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->ns, sizeof(b->ns), "%s", ns);
    snprintf(b->secret, sizeof(b->secret), "%s", secret ? secret : "");
    snprintf(b->url, sizeof(b->url), "%s", url);
    snprintf(b->uid, sizeof(b->uid), "%s", uid);
    snprintf(b->image, sizeof(b->image), "%s", image);
    pthread_mutex_init(&b->mu, NULL);
    pthread_create(&b->thread, NULL, bg_main, b);
}

static void review_in(struct answer *a, const char *url, const char *uid, const char *ns,
                      const char *secret, const char *image)
{
    post_body(a, url, uid, review_body_ns(uid, ns, secret, image));
}

static void test_registry_attacks(void)
{
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&signer, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&signer_pem, signer, &err), 0);
    CHECK_INT_EQ(sl_key_fingerprint(signer_fingerprint, signer, &err), 0);
    struct fake_registry f;
    registry_start(&f);
    the_registry = &f;
    char good[200], slow[200], fast[200], by_tag[200], url[300], quiet_url[300];
    snprintf(good, sizeof(good), "%s/mirror/app@%s", f.host, f.good);
    snprintf(slow, sizeof(slow), "%s/mirror/app@%s", f.host, f.slow);
    snprintf(fast, sizeof(fast), "%s/mirror/app@%s", f.host, f.fast);
    snprintf(by_tag, sizeof(by_tag), "%s/mirror/app:2.0", f.host);

    struct sl_metrics *m = sl_metrics_new();
    struct sl_runtime rt = {.kube = {.get = fake_kube_get}, .metrics = m};
    struct sl_admission_lookup lookup = {.get = signed_lookup_get, .list = empty_list};
    const char *insecure[] = {f.host};
    /* two workers, one per namespace at a time; a check may take 1 s */
    struct sl_admission_webhook_opts wo = {.insecure_registries = insecure,
                                           .n_insecure = 1,
                                           .workers = 2,
                                           .namespace_share = 1,
                                           .check_deadline_ms = 1000,
                                           .reveal_details = true};
    struct webhook_env e = {0}, quiet = {0};
    env_start(&e, &rt, &lookup, &wo);
    snprintf(url, sizeof(url), "%ssigned", e.base);
    /* the same webhook for callers that are not authenticated */
    struct sl_admission_webhook_opts qo = wo;
    qo.reveal_details = false;
    env_start(&quiet, &rt, &lookup, &qo);
    snprintf(quiet_url, sizeof(quiet_url), "%ssigned", quiet.base);
    struct answer a;

    /* namespace a has no pull Secret: the private registry refuses, denied */
    review_in(&a, url, "a-1", "a", NULL, good);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "registry error");
    /* namespace b has one: its legitimate signed image is admitted (not the cached denial) */
    review_in(&a, url, "b-1", "b", "pull", good);
    CHECK_INT_EQ(a.allowed, 1);
    /* and b's answer does not admit a's pod either */
    review_in(&a, url, "a-2", "a", NULL, good);
    CHECK_INT_EQ(a.allowed, 0);
    /* a registry error is answered, not kept: the next review asks again */
    pthread_mutex_lock(&f.mu);
    f.down = 1;
    pthread_mutex_unlock(&f.mu);
    review_in(&a, url, "c-1", "c", "pull", good);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "registry error");
    pthread_mutex_lock(&f.mu);
    f.down = 0;
    pthread_mutex_unlock(&f.mu);
    review_in(&a, url, "c-2", "c", "pull", good);
    CHECK_INT_EQ(a.allowed, 1);

    /* a registry that hides private repositories says "not found" without credentials: the
     * denial of a Pod whose pull Secret does not exist yet is not kept once the Secret exists */
    pthread_mutex_lock(&f.mu);
    f.hide = 1;
    pthread_mutex_unlock(&f.mu);
    review_in(&a, url, "late-1", "late-ns", "late", good);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "no signature");
    __atomic_store_n(&late_secret, 1, __ATOMIC_SEQ_CST);
    review_in(&a, url, "late-2", "late-ns", "late", good);
    CHECK_INT_EQ(a.allowed, 1);
    pthread_mutex_lock(&f.mu);
    f.hide = 0;
    pthread_mutex_unlock(&f.mu);

    /* a signature manifest with thousands of layers: at most 16 are looked at */
    review_in(&a, url, "fast", "evil", "pull", fast);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "more than 16 signatures to check");
    CHECK_INT_EQ(counter(&f, &f.fast_blobs), 16);

    /* thousands of layers that never arrive: one namespace holds one worker, the other worker
     * keeps answering the other namespaces, and the check ends at its deadline */
    char url2[300];
    snprintf(url2, sizeof(url2), "%ssigned2", e.base);
    struct bg_review evil1, evil2;
    bg_start_in(&evil1, url, "evil-1", "evil", "pull", slow);
    while (counter(&f, &f.slow_blobs) < 1)
        usleep(2000);
    bg_start_in(&evil2, url2, "evil-2", "evil", "pull", slow); /* another policy: another check */
    wait_metric(m, "sealift_admission_check_queue_depth", 1);
    /* the namespace's share is used up: its next check is refused at once */
    review_in(&a, url, "evil-3", "evil", "pull", by_tag);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "the admission webhook is busy");
    /* another namespace is answered by the free worker while evil's checks are still open */
    review_in(&a, url, "d-1", "d", "pull", good);
    CHECK_INT_EQ(a.allowed, 1);
    CHECK(!bg_done(&evil1) && !bg_done(&evil2));
    bg_join(&evil1);
    bg_join(&evil2);
    CHECK_INT_EQ(evil1.a.allowed, 0);
    CHECK_CONTAINS(evil1.a.message, "the check ran out of time");
    CHECK_INT_EQ(evil2.a.allowed, 0);
    /* the registry saw a handful of those layer requests, not thousands */
    CHECK(counter(&f, &f.slow_blobs) <= 4);

    /* callers that are not authenticated learn nothing about the registry: not whether the
     * namespace's credentials work, not the digest a tag resolves to */
    review_in(&a, quiet_url, "q-1", "a", NULL, good);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "is not verified");
    /* (not "401" itself: the registry's random port may contain it) */
    CHECK(strstr(a.message, "registry") == NULL && strstr(a.message, "nauthorized") == NULL &&
          strstr(a.message, "UNAUTHORIZED") == NULL);
    review_in(&a, quiet_url, "q-2", "b", "pull", by_tag);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "is not verified");
    CHECK(strstr(a.message, "sha256:") == NULL);
    review_in(&a, url, "q-3", "b", "pull", by_tag);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, f.unsigned_digest); /* what an authenticated caller sees */
    CHECK_CONTAINS(a.message, "verifyImages[0].authorities: no signature");

    env_stop(&quiet);
    env_stop(&e);
    registry_stop(&f);
    sl_key_free(signer);
    free(signer_pem);
    sl_metrics_free(m);
}

/* Gives the good image a vuln attestation by signer whose scan finished at `finished`: the
 * DSSE envelope as the one layer of its .att manifest. */
static void attest_good(struct fake_registry *f, time_t finished)
{
    char when[32];
    sl_time_format_rfc3339(when, sizeof(when), finished);
    json_t *st =
        json_pack("{s:s, s:[{s:{s:s}}], s:s, s:{s:{s:{s:[]}}, s:{s:s}}}", "_type",
                  "https://in-toto.io/Statement/v0.1", "subject", "digest", "sha256", f->good + 7,
                  "predicateType", "https://cosign.sigstore.dev/attestation/vuln/v1", "predicate",
                  "scanner", "result", "vulnerabilities", "metadata", "scanFinishedOn", when);
    char *statement = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    char *pae =
        sl_xasprintf("DSSEv1 28 application/vnd.in-toto+json %zu %s", strlen(statement), statement);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, signer, pae, strlen(pae), &err), 0);
    char *p64 = sl_base64_encode(statement, strlen(statement));
    char *s64 = sl_base64_encode(sig, sig_len);
    json_t *env = json_pack("{s:s, s:s, s:[{s:s}]}", "payloadType", "application/vnd.in-toto+json",
                            "payload", p64, "signatures", "sig", s64);
    pthread_mutex_lock(&f->mu);
    free(f->att_envelope);
    free(f->att_manifest);
    f->att_envelope = json_dumps(env, JSON_COMPACT);
    sl_digest_sha256(f->att_digest, f->att_envelope, strlen(f->att_envelope));
    char *layers = sl_xasprintf("[{\"mediaType\":\"application/vnd.dsse.envelope.v1+json\","
                                "\"digest\":\"%s\",\"size\":%zu}]",
                                f->att_digest, strlen(f->att_envelope));
    f->att_manifest = sig_manifest(layers);
    pthread_mutex_unlock(&f->mu);
    free(layers);
    json_decref(env);
    free(statement);
    free(pae);
    free(sig);
    free(p64);
    free(s64);
}

/* requireAttestations: an image whose vuln attestation is fresh is admitted, and that decision is
 * kept only while the attestation is younger than maxAge (the cache's own TTL is 5 minutes): the
 * same review is denied as stale once it is older. */
static void test_attestation_decision_expires_with_the_attestation(void)
{
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&signer, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&signer_pem, signer, &err), 0);
    CHECK_INT_EQ(sl_key_fingerprint(signer_fingerprint, signer, &err), 0);
    struct fake_registry f;
    registry_start(&f);
    the_registry = &f;
    char good[200], url[300];
    snprintf(good, sizeof(good), "%s/mirror/app@%s", f.host, f.good);
    struct sl_metrics *m = sl_metrics_new();
    struct sl_runtime rt = {.kube = {.get = fake_kube_get}, .metrics = m};
    struct sl_admission_lookup lookup = {.get = signed_lookup_get, .list = empty_list};
    const char *insecure[] = {f.host};
    struct sl_admission_webhook_opts wo = {
        .insecure_registries = insecure, .n_insecure = 1, .reveal_details = true};
    struct webhook_env e = {0};
    env_start(&e, &rt, &lookup, &wo);
    snprintf(url, sizeof(url), "%sattested", e.base);
    struct answer a;

    /* (another namespace: this denial is cached for it alone) */
    review_in(&a, url, "none", "lab", "pull", good);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "requireAttestations: no vuln attestation");
    /* an hour old but for 10 seconds: admitted, then answered from the cache */
    attest_good(&f, time(NULL) - 3600 + 10);
    char uid[32];
    int allowed_reviews = 0;
    for (int i = 0; i < 600; i++) {
        snprintf(uid, sizeof(uid), "fresh-%d", i);
        review_in(&a, url, uid, "shop", "pull", good);
        if (a.allowed != 1)
            break;
        allowed_reviews++;
        usleep(100 * 1000);
    }
    CHECK(allowed_reviews > 0);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "older than maxAge 1h0m");
    env_stop(&e);
    registry_stop(&f);
    sl_key_free(signer);
    free(signer_pem);
    sl_metrics_free(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    RUN(test_slow_registry_does_not_stall_reviews);
    RUN(test_scan_verdicts_and_enforcement);
    RUN(test_registry_attacks);
    RUN(test_attestation_decision_expires_with_the_attestation);
    curl_global_cleanup();
    return CHECK_EXIT();
}
