/* The git push hook endpoint served by a real in-process HTTP server, with an API server that
 * answers slowly (a fake whose GET waits until the test releases it): the hook is answered
 * once the API answers, and /healthz on the same listener is answered meanwhile. */
#include "check.h"
#include "fake_kube.h"
#include "gitsource/webhook.h"
#include "http/server.h"
#include "util/mem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "team-a"

/* A slow API server: GETs block until released. */
struct slow_kube {
    struct sl_kube_ops inner;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool released;
    int waiting;
};

static int slow_get(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                    const char *name, struct sl_err *err)
{
    struct slow_kube *k = ctx;
    pthread_mutex_lock(&k->mu);
    k->waiting++;
    pthread_cond_broadcast(&k->cond);
    while (!k->released)
        pthread_cond_wait(&k->cond, &k->mu);
    pthread_mutex_unlock(&k->mu);
    return k->inner.get(k->inner.ctx, out, res, ns, name, err);
}

static void wait_for_api_call(struct slow_kube *k)
{
    pthread_mutex_lock(&k->mu);
    while (k->waiting == 0)
        pthread_cond_wait(&k->cond, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

static void release(struct slow_kube *k)
{
    pthread_mutex_lock(&k->mu);
    k->released = true;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
}

static int enqueued;
static void on_enqueue(void *ctx, const char *kind, const char *ns, const char *name)
{
    (void)ctx;
    if (strcmp(kind, "GitSource") == 0 && strcmp(ns, NS) == 0 && strcmp(name, "app") == 0)
        __atomic_add_fetch(&enqueued, 1, __ATOMIC_SEQ_CST);
}

static void h_healthz(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    sl_buf_append_str(&resp->body, "ok\n");
}

struct hook_call {
    char url[300];
    long status;
    pthread_t thread;
};

static void *post_hook(void *arg)
{
    struct hook_call *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "X-Gitlab-Token: hook-s3cret");
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stderr);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static long get_status(const char *url)
{
    long status = 0;
    CURL *h = curl_easy_init();
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, devnull);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    fclose(devnull);
    return status;
}

static void test_slow_api_does_not_block_healthz(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct slow_kube k = {0};
    pthread_mutex_init(&k.mu, NULL);
    pthread_cond_init(&k.cond, NULL);
    sl_fake_kube_ops(fk, &k.inner);
    json_t *gs = json_pack("{s:{s:s, s:s}, s:{s:{s:{s:s}}}}", "metadata", "name", "app",
                           "namespace", NS, "spec", "webhook", "secretRef", "name", "hook");
    json_t *sec = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "hook", "namespace", NS,
                            "data", "token", "aG9vay1zM2NyZXQ="); /* hook-s3cret */
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_GITSOURCE, gs), 0);
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SECRET, sec), 0);
    struct sl_runtime rt = {0};
    rt.kube = k.inner;
    rt.kube.ctx = &k;
    rt.kube.get = slow_get;
    rt.enqueue = on_enqueue;

    struct sl_err err = {0};
    struct sl_gitsource_webhook *w = NULL;
    CHECK_INT_EQ(sl_gitsource_webhook_new(&w, &rt, &err), 0);
    struct sl_http_server *srv = NULL;
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, "GET", "/healthz", h_healthz, NULL);
    sl_gitsource_webhook_register(w, srv);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);

    struct hook_call call = {0};
    snprintf(call.url, sizeof(call.url), "http://%s/hooks/gitsource/" NS "/app",
             sl_http_server_addr(srv));
    pthread_create(&call.thread, NULL, post_hook, &call);
    wait_for_api_call(&k); /* the hook is now waiting for the API server */
    char health[300];
    snprintf(health, sizeof(health), "http://%s/healthz", sl_http_server_addr(srv));
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(get_status(health), 200);
    CHECK_INT_EQ(call.status, 0); /* still waiting */
    release(&k);
    pthread_join(call.thread, NULL);
    CHECK_INT_EQ(call.status, 202);
    CHECK_INT_EQ(__atomic_load_n(&enqueued, __ATOMIC_SEQ_CST), 1);

    /* a wrong token after the API answered: 401, nothing enqueued */
    json_object_set_new(json_object_get(sec, "data"), "token", json_string("b3RoZXI=")); /* other */
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SECRET, sec), 0);
    call.status = 0;
    pthread_create(&call.thread, NULL, post_hook, &call);
    pthread_join(call.thread, NULL);
    CHECK_INT_EQ(call.status, 401);
    CHECK_INT_EQ(__atomic_load_n(&enqueued, __ATOMIC_SEQ_CST), 1);

    sl_http_server_stop(srv);
    sl_gitsource_webhook_free(w);
    sl_http_server_free(srv);
    json_decref(gs);
    json_decref(sec);
    sl_fake_kube_free(fk);
    pthread_mutex_destroy(&k.mu);
    pthread_cond_destroy(&k.cond);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    RUN(test_slow_api_does_not_block_healthz);
    curl_global_cleanup();
    return CHECK_EXIT();
}
