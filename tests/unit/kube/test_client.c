/* The HTTP-independent parts of the client (URLs, error mapping, watch stream splitting) and a
 * few calls against a tiny HTTP server on 127.0.0.1 run by a thread of this test.
 * argv[1] is tests/unit/kube/data. */
#include "check.h"

#include "kube/client.h"
#include "kube/internal.h"
#include "kube/ops.h"
#include "util/err.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *data_dir;

/* ---- URL building ---- */

static void test_paths(void)
{
    char *p = sl_kube_build_path(&SL_RES_IMAGEDELIVERY, "team", "web", NULL, NULL);
    CHECK_STR_EQ(p, "/apis/sealift.dev/v1beta1/namespaces/team/imagedeliveries/web");
    free(p);
    p = sl_kube_build_path(&SL_RES_IMAGEDELIVERY, "team", "web", "status", NULL);
    CHECK_STR_EQ(p, "/apis/sealift.dev/v1beta1/namespaces/team/imagedeliveries/web/status");
    free(p);
    p = sl_kube_build_path(&SL_RES_IMAGEDELIVERY, NULL, NULL, NULL, NULL);
    CHECK_STR_EQ(p, "/apis/sealift.dev/v1beta1/imagedeliveries");
    free(p);
    p = sl_kube_build_path(&SL_RES_SECRET, "kube-system", "a", NULL, NULL);
    CHECK_STR_EQ(p, "/api/v1/namespaces/kube-system/secrets/a");
    free(p);
    /* cluster-scoped: the namespace is ignored */
    p = sl_kube_build_path(&SL_RES_DEPLOYPOLICY, "team", "strict", NULL, NULL);
    CHECK_STR_EQ(p, "/apis/sealift.dev/v1beta1/deploypolicies/strict");
    free(p);
    p = sl_kube_build_path(&SL_RES_NAMESPACE, NULL, "team", NULL, NULL);
    CHECK_STR_EQ(p, "/api/v1/namespaces/team");
    free(p);
    const char *q[] = {"labelSelector",
                       "app in (a,b),tier!=db",
                       "fieldSelector",
                       NULL,
                       "limit",
                       "500",
                       "continue",
                       "eyJ2IjoxfQ==",
                       NULL};
    p = sl_kube_build_path(&SL_RES_LEASE, "ns", NULL, NULL, q);
    CHECK_STR_EQ(p, "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
                    "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb&limit=500"
                    "&continue=eyJ2IjoxfQ%3D%3D");
    free(p);
    char *e = sl_kube_url_escape("a/b c+d~_.-");
    CHECK_STR_EQ(e, "a%2Fb%20c%2Bd~_.-");
    free(e);
}

/* ---- error mapping ---- */

static char *read_data(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    char *out = NULL;
    struct sl_err err = {0};
    if (sl_kube_read_file(&out, NULL, path, 1 << 20, &err) != 0)
        fprintf(stderr, "%s\n", err.msg);
    return out;
}

static void test_error_mapping(void)
{
    struct sl_err err = {0};
    const char *nf =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
        "\"imagedeliveries.sealift.dev \\\"x\\\" not found\",\"reason\":\"NotFound\","
        "\"code\":404}";
    CHECK_INT_EQ(sl_kube_error_from_response(404, nf, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(err.msg, "imagedeliveries.sealift.dev \"x\" not found");
    CHECK_INT_EQ(err.http_status, 404);
    CHECK_INT_EQ(err.klass, SL_ERRC_KUBE);

    const char *exists = "{\"kind\":\"Status\",\"message\":\"secrets \\\"a\\\" already exists\","
                         "\"reason\":\"AlreadyExists\",\"code\":409}";
    CHECK_INT_EQ(sl_kube_error_from_response(409, exists, &err), SL_EEXISTS);
    const char *conflict = "{\"kind\":\"Status\",\"message\":\"Operation cannot be fulfilled\","
                           "\"reason\":\"Conflict\",\"code\":409}";
    CHECK_INT_EQ(sl_kube_error_from_response(409, conflict, &err), SL_ECONFLICT);
    CHECK_INT_EQ(sl_kube_error_from_response(410, "{\"reason\":\"Expired\"}", &err), SL_EGONE);
    CHECK_CONTAINS(err.msg, "Expired");
    CHECK_INT_EQ(sl_kube_error_from_response(400, NULL, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_kube_error_from_response(415, "", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_kube_error_from_response(401, "", &err), SL_EAUTH);
    CHECK_INT_EQ(sl_kube_error_from_response(403, "", &err), SL_EAUTH);
    CHECK_INT_EQ(sl_kube_error_from_response(429, "", &err), SL_ERETRY);
    CHECK_INT_EQ(sl_kube_error_from_response(500, "", &err), SL_ERETRY);
    CHECK_INT_EQ(err.http_status, 500);
    CHECK_INT_EQ(sl_kube_error_from_response(503, "<html>\n<b>Service Unavailable</b>", &err),
                 SL_ERETRY);
    CHECK_STR_EQ(err.msg, "HTTP 503 from the API server: <html> <b>Service Unavailable</b>");
    CHECK_INT_EQ(sl_kube_error_from_response(418, "", &err), SL_EFAIL);

    char *invalid = read_data("status_invalid.json");
    CHECK_INT_EQ(sl_kube_error_from_response(422, invalid, &err), SL_EINVAL);
    /* the message, plus the cause it does not already carry */
    CHECK_STR_EQ(err.msg, "ImageDelivery.sealift.dev \"web\" is invalid: spec.source.image: "
                          "Required value; spec.mode: Unsupported value: \"Sometimes\": "
                          "supported values: \"Deny\", \"Warn\"");
    free(invalid);
}

/* ---- watch splitting ---- */

struct collected {
    int n;
    enum sl_watch_event_type types[16];
    char names[16][32];
    int stop_after;
};

static int collect(void *ctx, enum sl_watch_event_type type, json_t *obj)
{
    struct collected *c = ctx;
    if (c->n < 16) {
        c->types[c->n] = type;
        const char *name = sl_kube_obj_name(obj);
        snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name ? name : "");
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\r\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
    "\"message\":\"too old resource version: 5 (9)\"}}\n"
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"never\"}}}\n";

static void test_splitter_pieces(void)
{
    /* every split size, including one byte at a time */
    size_t len = strlen(stream);
    for (size_t piece = 1; piece <= len; piece += (piece < 8 ? 1 : 37)) {
        struct collected c = {0};
        struct sl_kube_watch_splitter s;
        sl_kube_watch_splitter_init(&s, collect, &c, 0);
        int rc = 0;
        for (size_t off = 0; off < len && rc == 0; off += piece)
            rc = sl_kube_watch_splitter_feed(&s, stream + off,
                                             off + piece > len ? len - off : piece);
        CHECK_INT_EQ(rc, SL_EGONE);
        CHECK_INT_EQ(c.n, 5);
        CHECK_INT_EQ(c.types[0], SL_WATCH_ADDED);
        CHECK_STR_EQ(c.names[0], "a");
        CHECK_INT_EQ(c.types[1], SL_WATCH_MODIFIED);
        CHECK_STR_EQ(c.names[1], "b");
        CHECK_INT_EQ(c.types[2], SL_WATCH_BOOKMARK);
        CHECK_INT_EQ(c.types[3], SL_WATCH_DELETED);
        CHECK_INT_EQ(c.types[4], SL_WATCH_ERROR);
        CHECK_CONTAINS(s.err.msg, "too old resource version");
        sl_kube_watch_splitter_free(&s);
    }
}

static void test_splitter_limits(void)
{
    struct collected c = {.stop_after = 1};
    struct sl_kube_watch_splitter s;
    sl_kube_watch_splitter_init(&s, collect, &c, 0);
    CHECK_INT_EQ(sl_kube_watch_splitter_feed(&s, stream, strlen(stream)), 1);
    CHECK_INT_EQ(c.n, 1);
    sl_kube_watch_splitter_free(&s);

    struct collected c2 = {0};
    sl_kube_watch_splitter_init(&s, collect, &c2, 64);
    CHECK_INT_EQ(sl_kube_watch_splitter_feed(&s, stream, 40), 0);
    CHECK_INT_EQ(sl_kube_watch_splitter_feed(&s, stream + 40, 40), SL_ETOOBIG);
    CHECK_INT_EQ(c2.n, 0);
    sl_kube_watch_splitter_free(&s);

    sl_kube_watch_splitter_init(&s, collect, &c2, 0);
    CHECK_INT_EQ(sl_kube_watch_splitter_feed(&s, "{\"type\":\n", 10), SL_EINVAL);
    sl_kube_watch_splitter_free(&s);
}

/* ---- loopback server ---- */

enum reply_mode {
    REPLY_PLAIN,  /* status + body with Content-Length */
    REPLY_CHUNKS, /* 200, chunked, body in the given pieces, proper end */
    REPLY_DROP,   /* 200, chunked, pieces, then close without the last chunk */
    REPLY_HOLD,   /* 200, chunked, pieces, then wait for the client to go away */
};

struct reply {
    enum reply_mode mode;
    int status;
    const char *body;      /* REPLY_PLAIN */
    const char *chunks[8]; /* others */
};

struct server {
    int fd;
    int port;
    const struct reply *replies;
    int nreplies;
    char requests[8][4096]; /* request line + headers + body of each connection */
    pthread_t thread;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void read_request(int fd, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 5000) <= 0)
            return;
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        out[len] = '\0';
        char *end = strstr(out, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(out, "\r\nContent-Length:");
        size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - out) + want || len >= cap - 1)
            return;
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (int i = 0; i < s->nreplies; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        read_request(c, s->requests[i], sizeof(s->requests[i]));
        const struct reply *r = &s->replies[i];
        char head[256];
        if (r->mode == REPLY_PLAIN) {
            snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     r->status, strlen(r->body));
            send_all(c, head, strlen(head));
            send_all(c, r->body, strlen(r->body));
        } else {
            snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            send_all(c, head, strlen(head));
            for (int k = 0; k < 8 && r->chunks[k]; k++) {
                char size[32];
                snprintf(size, sizeof(size), "%zx\r\n", strlen(r->chunks[k]));
                send_all(c, size, strlen(size));
                send_all(c, r->chunks[k], strlen(r->chunks[k]));
                send_all(c, "\r\n", 2);
                usleep(20000);
            }
            if (r->mode == REPLY_CHUNKS) {
                send_all(c, "0\r\n\r\n", 5);
            } else if (r->mode == REPLY_HOLD) {
                char buf[256];
                struct pollfd pfd = {c, POLLIN, 0};
                /* until the client closes (or 20 s, so a broken test cannot hang) */
                while (poll(&pfd, 1, 20000) > 0 && recv(c, buf, sizeof(buf), 0) > 0)
                    ;
            }
        }
        shutdown(c, SHUT_RDWR);
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s, const struct reply *replies, int n)
{
    memset(s, 0, sizeof(*s));
    s->replies = replies;
    s->nreplies = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    listen(s->fd, 8);
    socklen_t al = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static struct sl_kube_client *client_for(struct server *s, const char *token,
                                         const char *token_file)
{
    char server[64];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", s->port);
    struct sl_kube_config cfg = {.server = server,
                                 .namespace = "team",
                                 .token = (char *)token,
                                 .token_file = (char *)token_file};
    struct sl_kube_client *c = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_kube_client_new(&c, &cfg, NULL, &err), 0);
    return c;
}

static void test_loopback_crud(void)
{
    static const struct reply replies[] = {
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"7\"}}", {0}},
        {REPLY_PLAIN,
         404,
         "{\"kind\":\"Status\",\"message\":\"imagedeliveries.sealift.dev "
         "\\\"gone\\\" not found\",\"reason\":\"NotFound\",\"code\":404}",
         {0}},
        {REPLY_PLAIN,
         409,
         "{\"kind\":\"Status\",\"message\":\"secrets \\\"s\\\" already "
         "exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
         {0}},
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"web\"}}", {0}},
        {REPLY_PLAIN, 200, "{\"kind\":\"Status\",\"status\":\"Success\"}", {0}},
        {REPLY_PLAIN, 503, "upstream down", {0}},
    };
    struct server s;
    server_start(&s, replies, 6);
    struct sl_kube_client *c = client_for(&s, "tok-1", NULL);
    struct sl_kube_ops ops;
    sl_kube_ops_from_client(&ops, c);
    struct sl_err err = {0};
    json_t *out = NULL;

    CHECK_STR_EQ(sl_kube_client_namespace(c), "team");
    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, NULL, "web", &err), 0);
    CHECK_STR_EQ(sl_kube_obj_resource_version(out), "7");
    json_decref(out);
    out = NULL;
    CHECK_INT_EQ(sl_kube_get(&out, c, &SL_RES_IMAGEDELIVERY, "team", "gone", &err), SL_ENOTFOUND);
    CHECK_STR_EQ(err.msg, "imagedeliveries.sealift.dev \"gone\" not found");
    CHECK_INT_EQ(err.http_status, 404);

    json_t *secret = json_pack("{s:{s:s, s:s}}", "metadata", "name", "s", "namespace", "vault");
    CHECK_INT_EQ(sl_kube_create(&out, c, &SL_RES_SECRET, NULL, secret, &err), SL_EEXISTS);
    json_decref(secret);

    struct sl_kube_patch_opts apply = {
        .type = SL_PATCH_APPLY, .field_manager = "sealift", .force = true};
    CHECK_INT_EQ(
        sl_kube_patch(&out, c, &SL_RES_IMAGEDELIVERY, "team", "web", "{\"spec\":{}}", &apply, &err),
        0);
    json_decref(out);
    out = NULL;
    CHECK_INT_EQ(sl_kube_delete(c, &SL_RES_DEPLOYPOLICY, NULL, "strict", &err), 0);
    CHECK_INT_EQ(sl_kube_get(&out, c, &SL_RES_SECRET, NULL, "x", &err), SL_ERETRY);
    CHECK_INT_EQ(err.http_status, 503);
    CHECK_CONTAINS(err.msg, "upstream down");
    sl_kube_client_free(c);
    server_stop(&s);

    CHECK_CONTAINS(s.requests[0],
                   "GET /apis/sealift.dev/v1beta1/namespaces/team/imagedeliveries/web HTTP/1.1");
    CHECK_CONTAINS(s.requests[0], "Accept: application/json");
    CHECK_CONTAINS(s.requests[0], "Authorization: Bearer tok-1");
    CHECK_CONTAINS(s.requests[0], "User-Agent: sealift/");
    /* create takes the namespace from the object */
    CHECK_CONTAINS(s.requests[2], "POST /api/v1/namespaces/vault/secrets HTTP/1.1");
    CHECK_CONTAINS(s.requests[2], "Content-Type: application/json");
    CHECK_CONTAINS(s.requests[2], "\"name\":\"s\"");
    CHECK_CONTAINS(s.requests[3], "PATCH /apis/sealift.dev/v1beta1/namespaces/team/"
                                  "imagedeliveries/web?fieldManager=sealift&force=true HTTP/1.1");
    CHECK_CONTAINS(s.requests[3], "Content-Type: application/apply-patch+yaml");
    CHECK_CONTAINS(s.requests[3], "{\"spec\":{}}");
    CHECK_CONTAINS(s.requests[4], "DELETE /apis/sealift.dev/v1beta1/deploypolicies/strict"
                                  "?propagationPolicy=Background HTTP/1.1");
}

/* An impersonating handle sends Impersonate-User (and -Group when given) on its own requests
 * only; the base client's requests, before and after, carry none, and all send the base's
 * token. A ServiceAccount is impersonated without group headers (the API server derives its
 * groups; naming them would need `impersonate` on groups). */
static void test_loopback_impersonation(void)
{
    static const struct reply replies[] = {
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"a\"}}", {0}},
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"b\"}}", {0}},
        {REPLY_PLAIN,
         403,
         "{\"kind\":\"Status\",\"message\":\"secrets is forbidden: User "
         "\\\"system:serviceaccount:team:deployer\\\" cannot create resource\",\"reason\":"
         "\"Forbidden\",\"code\":403}",
         {0}},
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"d\"}}", {0}},
        {REPLY_PLAIN, 200, "{\"metadata\":{\"name\":\"e\"}}", {0}},
    };
    struct server s;
    server_start(&s, replies, 5);
    struct sl_kube_client *c = client_for(&s, "tok-1", NULL);
    struct sl_kube_ops base, as_sa;
    sl_kube_ops_from_client(&base, c);
    struct sl_err err = {0};
    json_t *out = NULL;

    CHECK_INT_EQ(base.get(base.ctx, &out, &SL_RES_CONFIGMAP, "team", "a", &err), 0);
    json_decref(out);
    out = NULL;
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&as_sa, &base, "team", "deployer", &err), 0);
    CHECK_INT_EQ(as_sa.get(as_sa.ctx, &out, &SL_RES_CONFIGMAP, "team", "b", &err), 0);
    json_decref(out);
    out = NULL;
    json_t *secret = json_pack("{s:{s:s}}", "metadata", "name", "s");
    CHECK_INT_EQ(as_sa.create(as_sa.ctx, &out, &SL_RES_SECRET, "team", secret, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "system:serviceaccount:team:deployer");
    json_decref(secret);
    CHECK_INT_EQ(base.get(base.ctx, &out, &SL_RES_CONFIGMAP, "team", "d", &err), 0);
    json_decref(out);
    out = NULL;
    struct sl_kube_client *grouped = NULL;
    const char *groups[] = {"ops", "auditors"};
    CHECK_INT_EQ(sl_kube_client_impersonate(&grouped, c, "jane", groups, 2, &err), 0);
    CHECK_INT_EQ(sl_kube_get(&out, grouped, &SL_RES_CONFIGMAP, "team", "e", &err), 0);
    json_decref(out);
    sl_kube_client_free(grouped);
    sl_kube_ops_release(&as_sa);
    sl_kube_client_free(c);
    server_stop(&s);

    for (int i = 0; i < 5; i++)
        CHECK_CONTAINS(s.requests[i], "Authorization: Bearer tok-1");
    CHECK(strstr(s.requests[0], "Impersonate-") == NULL);
    CHECK(strstr(s.requests[3], "Impersonate-") == NULL);
    for (int i = 1; i <= 2; i++) {
        CHECK_CONTAINS(s.requests[i], "Impersonate-User: system:serviceaccount:team:deployer\r\n");
        CHECK(strstr(s.requests[i], "Impersonate-Group") == NULL);
    }
    CHECK_CONTAINS(s.requests[4], "Impersonate-User: jane\r\n");
    CHECK_CONTAINS(s.requests[4], "Impersonate-Group: ops\r\nImpersonate-Group: auditors\r\n");
}

/* Names from a tenant's object cannot smuggle header lines, and a derived handle does not derive
 * again (its identity is fixed). */
static void test_impersonation_refusals(void)
{
    struct sl_kube_config cfg = {.server = "http://127.0.0.1:1", .namespace = "team"};
    struct sl_kube_client *c = NULL, *d = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_kube_client_new(&c, &cfg, NULL, &err), 0);
    struct sl_kube_ops base, as_sa;
    sl_kube_ops_from_client(&base, c);
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&as_sa, &base, "team", "a\r\nX-Evil: 1", &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, "DNS label");
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&as_sa, &base, "", "deployer", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&as_sa, &base, "team", "Deployer", &err),
                 SL_EINVAL);
    const char *bad_groups[] = {"ok", "line\nbreak"};
    CHECK_INT_EQ(sl_kube_client_impersonate(&d, c, "u", bad_groups, 2, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_kube_client_impersonate(&d, c, "u\r\n", NULL, 0, &err), SL_EINVAL);
    CHECK(d == NULL);
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&as_sa, &base, "team", "deployer", &err), 0);
    struct sl_kube_ops again;
    CHECK_INT_EQ(sl_kube_ops_as_service_account(&again, &as_sa, "team", "admin", &err), SL_EFAIL);
    sl_kube_ops_release(&as_sa);
    sl_kube_client_free(c);
}

static void test_loopback_token_reload(void)
{
    char path[] = "/tmp/sl-kube-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *tok = "rotated-token\n";
    CHECK_INT_EQ(write(fd, tok, strlen(tok)), (long long)strlen(tok));
    close(fd);
    static const struct reply replies[] = {
        {REPLY_PLAIN, 401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}", {0}},
        {REPLY_PLAIN, 200, "{\"items\":[],\"metadata\":{\"resourceVersion\":\"3\"}}", {0}},
        {REPLY_PLAIN, 401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}", {0}},
    };
    struct server s;
    server_start(&s, replies, 3);
    struct sl_kube_client *c = client_for(&s, "old-token", path);
    struct sl_err err = {0};
    json_t *out = NULL;
    struct sl_kube_list_opts lo = {.label_selector = "a=b", .limit = 10};
    CHECK_INT_EQ(sl_kube_list(&out, c, &SL_RES_CONFIGMAP, "", &lo, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "metadata.resourceVersion"), "3");
    json_decref(out);
    out = NULL;
    /* the same token again: no second retry */
    CHECK_INT_EQ(sl_kube_list(&out, c, &SL_RES_CONFIGMAP, "", NULL, &err), SL_EAUTH);
    CHECK_INT_EQ(err.http_status, 401);
    sl_kube_client_free(c);
    server_stop(&s);
    unlink(path);
    CHECK_CONTAINS(s.requests[0], "Authorization: Bearer old-token");
    CHECK_CONTAINS(s.requests[1], "Authorization: Bearer rotated-token");
    CHECK_CONTAINS(s.requests[1], "GET /api/v1/configmaps?labelSelector=a%3Db&limit=10 ");
}

/* Cancels 300 ms after the first event, while the stream is silent: only a callback that is
 * polled during silence can notice (the server would otherwise hold the stream for 20 s). */
static int cancel_after_first(void *ctx)
{
    struct collected *c = ctx;
    static int64_t first_ms;
    if (c->n < 1)
        return 0;
    if (!first_ms)
        first_ms = sl_mono_ms();
    return sl_mono_ms() - first_ms >= 300;
}

static void test_loopback_watch(void)
{
    static const struct reply replies[] = {
        {REPLY_CHUNKS,
         200,
         NULL,
         {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":\"MOD",
          "IFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n",
          "{\"type\":\"ERROR\","
          "\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":"
          "\"too old resource version\"}}\n",
          NULL}},
        {REPLY_DROP,
         200,
         NULL,
         {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n{\"type\":", NULL}},
        {REPLY_HOLD,
         200,
         NULL,
         {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n", NULL}},
        {REPLY_CHUNKS,
         200,
         NULL,
         {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}\n",
          NULL}},
        {REPLY_PLAIN,
         403,
         "{\"kind\":\"Status\",\"message\":\"forbidden: cannot watch\","
         "\"reason\":\"Forbidden\",\"code\":403}",
         {0}},
    };
    struct server s;
    server_start(&s, replies, 5);
    struct sl_kube_client *c = client_for(&s, NULL, NULL);
    struct sl_err err = {0};

    struct collected got = {0};
    struct sl_kube_watch_opts wo = {
        .resource_version = "5", .allow_bookmarks = true, .timeout_seconds = 30};
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_IMAGEDELIVERY, "team", &wo, collect, &got, &err),
                 SL_EGONE);
    CHECK_INT_EQ(got.n, 3);
    CHECK_INT_EQ(got.types[1], SL_WATCH_MODIFIED);
    CHECK_INT_EQ(got.types[2], SL_WATCH_ERROR);
    CHECK_CONTAINS(err.msg, "too old resource version");

    struct collected dropped = {0};
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_IMAGEDELIVERY, NULL, NULL, collect, &dropped, &err),
                 SL_ERETRY);
    CHECK_INT_EQ(dropped.n, 1);

    struct collected held = {0};
    struct sl_kube_watch_opts co = {.cancelled = cancel_after_first};
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_IMAGEDELIVERY, NULL, &co, collect, &held, &err),
                 SL_ECANCELED);
    CHECK_INT_EQ(held.n, 1);

    struct collected ended = {0};
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_SECRET, "ns", NULL, collect, &ended, &err), 0);
    CHECK_INT_EQ(ended.n, 1);
    CHECK_INT_EQ(ended.types[0], SL_WATCH_BOOKMARK);

    struct collected denied = {0};
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_SECRET, "ns", NULL, collect, &denied, &err), SL_EAUTH);
    CHECK_STR_EQ(err.msg, "forbidden: cannot watch");
    CHECK_INT_EQ(denied.n, 0);

    sl_kube_client_free(c);
    server_stop(&s);
    CHECK_CONTAINS(s.requests[0], "GET /apis/sealift.dev/v1beta1/namespaces/team/imagedeliveries"
                                  "?watch=1&resourceVersion=5&allowWatchBookmarks=true"
                                  "&timeoutSeconds=30 HTTP/1.1");
    CHECK(strstr(s.requests[0], "Authorization") == NULL);
    CHECK_CONTAINS(s.requests[1], "GET /apis/sealift.dev/v1beta1/imagedeliveries?watch=1 ");
}

static void test_connection_refused(void)
{
    /* a port that was free a moment ago */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    struct server fake = {.port = ntohs(a.sin_port)};
    struct sl_kube_client *c = client_for(&fake, NULL, NULL);
    struct sl_err err = {0};
    json_t *out = NULL;
    CHECK_INT_EQ(sl_kube_get(&out, c, &SL_RES_SECRET, "ns", "x", &err), SL_ERETRY);
    CHECK_INT_EQ(err.klass, SL_ERRC_HTTP);
    CHECK_INT_EQ(sl_kube_watch(c, &SL_RES_SECRET, "ns", NULL, collect, NULL, &err), SL_ERETRY);
    sl_kube_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    RUN(test_paths);
    RUN(test_error_mapping);
    RUN(test_splitter_pieces);
    RUN(test_splitter_limits);
    RUN(test_loopback_crud);
    RUN(test_loopback_impersonation);
    RUN(test_impersonation_refusals);
    RUN(test_loopback_token_reload);
    RUN(test_loopback_watch);
    RUN(test_connection_refused);
    return CHECK_EXIT();
}
