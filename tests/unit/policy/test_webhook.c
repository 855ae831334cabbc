/* The admission webhook (reconcilers/policy/webhook.c) on an in-process HTTP server, with
 * in-memory object lookups and, as the only registry, a TCP black hole on 127.0.0.1 that
 * accepts connections and never answers. requireScanPassed needs no registry for an image
 * pinned by digest, while an image given by tag must be resolved in the registry: so reviews of
 * tags get stuck in a worker, and the test checks what users see meanwhile: reviews of other
 * images are answered (from a worker, then from the cache) while the stuck ones are still
 * open; a review of the same tag joins the stuck check; a full queue denies at once; a stuck
 * review is denied when its time is up; shutdown joins the workers. Order, not time, is
 * asserted (the only clock is the review's ?timeout=). */
#include "check.h"
#include "http/server.h"
#include "policy/webhook.h"
#include "runtime/metrics.h"
#include "util/buf.h"
#include "util/mem.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DIGEST_OK "sha256:1111111111111111111111111111111111111111111111111111111111111111"

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

static json_t *lookup_get(void *ctx, const char *kind, const char *ns, const char *name)
{
    if (strcmp(kind, "DeployPolicy") == 0 && strcmp(name, "scanned") == 0)
        return json_pack("{s:{s:s, s:i}, s:{s:{s:b}}}", "metadata", "name", "scanned", "generation",
                         3, "spec", "rules", "requireScanPassed", 1);
    return NULL;
}

static json_t *lookup_list(void *ctx, const char *kind)
{
    if (strcmp(kind, "ImageDelivery") != 0)
        return json_array();
    return json_pack("[{s:{s:[{s:{s:s}, s:[{s:s, s:s}]}]}}]", "status", "images", "scan", "result",
                     "Passed", "targets", "image", delivered_image, "digest", DIGEST_OK);
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

struct answer {
    int curl_rc;
    long status;
    int allowed; /* -1 = no answer */
    char message[1024];
};

static void post_review(struct answer *out, const char *url, const char *uid, const char *image)
{
    char *body = review_body(uid, image);
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
    json_t *j = buf ? json_loads(buf, 0, NULL) : NULL;
    json_t *r = json_object_get(j, "response");
    if (json_is_object(r)) {
        out->allowed = json_is_true(json_object_get(r, "allowed"));
        const char *m = json_string_value(json_object_get(json_object_get(r, "status"), "message"));
        snprintf(out->message, sizeof(out->message), "%s", m ? m : "");
        CHECK_STR_EQ(json_string_value(json_object_get(r, "uid")), uid);
    }
    json_decref(j);
    free(buf);
    curl_easy_cleanup(h);
    free(body);
}

struct bg_review {
    char url[256], uid[32], image[160];
    struct answer a;
    pthread_t thread;
    pthread_mutex_t mu;
    int done;
};

static void *bg_main(void *arg)
{
    struct bg_review *b = arg;
    struct answer a;
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
static double metric(const char *series)
{
    struct sl_buf out;
    sl_buf_init(&out, 0);
    sl_metrics_render(&out);
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

#define CHECKS(via) metric("sealift_admission_image_checks_total{via=\"" via "\"}")

/* Waits (without a clock) until a metric series reaches v. */
static void wait_metric(const char *series, double v)
{
    while (metric(series) < v)
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
    snprintf(unscanned, sizeof(unscanned), "%s/mirror/app@sha256:%064d", hole.host, 2);

    struct sl_runtime rt = {0}; /* no imagePullSecrets: the API is never asked */
    struct sl_admission_lookup lookup = {.get = lookup_get, .list = lookup_list};
    const char *insecure[] = {hole.host};
    struct sl_admission_webhook_opts wo = {
        .insecure_registries = insecure, .n_insecure = 1, .workers = 1, .queue_max = 1};
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
    wait_metric("sealift_admission_image_checks_total{via=\"coalesced\"}", 1);
    bg_start(&queued, url, "queued", other_tag);
    wait_metric("sealift_admission_check_queue_depth", 1);
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

    /* a digest without a Passed scan: denied by a worker, the reason cached */
    post_review(&a, url, "unscanned", unscanned);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "requireScanPassed");
    post_review(&a, url, "unscanned-again", unscanned);
    CHECK_INT_EQ(a.allowed, 0);
    CHECK_CONTAINS(a.message, "(container app, sha256:");
    CHECK_CONTAINS(a.message, "requireScanPassed");

    /* shutdown order of the controller: the server stops, then the webhook joins its workers */
    sl_http_server_stop(srv);
    sl_admission_webhook_free(w);
    sl_http_server_free(srv);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    RUN(test_slow_registry_does_not_stall_reviews);
    curl_global_cleanup();
    return CHECK_EXIT();
}
