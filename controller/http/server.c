/* HTTP(S) server on libevent's evhttp.
 *
 * Shape: sl_http_server_start() binds a listening socket, builds an event_base and an evhttp on
 * the calling thread, then runs event_base_dispatch() on a dedicated pthread. Every request goes
 * through one generic callback (on_request) that decodes the path, picks a route (routes.c:
 * exact path beats the longest '*' prefix; 404 when no pattern matches, 405 with an Allow header
 * when the path is known but not for this method), exposes the body as a NUL-terminated string,
 * calls the handler and sends its sl_http_response. Limits: request bodies above max_body_bytes
 * get 413 (evhttp_set_max_body_size, plus our own check for chunked bodies), headers above
 * SL_HTTP_MAX_HEADER_BYTES are refused, and a connection idle or stalled for SL_HTTP_TIMEOUT_S
 * seconds is closed. Keep-alive is libevent's.
 *
 * Connections: evhttp counts bytes, not time, so a client sending one byte every few seconds
 * would hold a connection forever, and evhttp accepts without bound. The server therefore makes
 * every connection's bufferevent itself (bevcb, also for plain HTTP) and keeps a reference to
 * it in a list: a connection must deliver a whole request (headers and body) within
 * request_timeout_ms of being accepted, or within SL_HTTP_TIMEOUT_S of its previous answer going
 * out (keep-alive); the clock stops while its request is with a handler (deferred ones
 * included). A sweep timer on the loop closes
 * connections past their deadline with evhttp_connection_free, and closes at once connections
 * accepted beyond max_connections. evhttp owns the connection; the sweep learns that evhttp
 * freed one when bufferevent_free cleared the bufferevent's callbacks (the reference keeps the
 * struct readable), and only then drops its reference. The callbacks' argument is evhttp's
 * connection, which is how the sweep finds what to close.
 *
 * TLS: with cert and key files, every accepted connection gets an OpenSSL bufferevent made from
 * the current SSL_CTX (TLS 1.2+, ECDHE AEAD suites for 1.2). On a new connection, at most once
 * per reload interval (default SL_HTTP_TLS_RELOAD_MS), the files' identity (inode, size, mtime,
 * ctime) is compared with the last one seen; a change loads a fresh SSL_CTX and swaps it in. A
 * reload that fails (missing file, key not matching the certificate) logs an error and keeps
 * the old context; the files are tried again once they change again.
 *
 * Threads: sl_http_server_new/route/start/stop/free are called from one controlling thread
 * (start and stop also take an internal lock, so a stray second stop is harmless). route() is
 * only allowed before start. Handlers, the TLS reload and every evhttp object run on the loop
 * thread only; the SSL_CTX pointer is read and swapped only there, and each SSL holds its own
 * reference to the context it was made from, so swapping never frees a context in use.
 * stop() wakes the loop from the calling thread through a user event (event_active is
 * thread-safe once evthread_use_pthreads() ran, which start() ensures), joins the thread, then
 * frees the evhttp (closing open connections) and the base. Never call stop() from a handler.
 *
 * Deferred replies: a handler may keep its request open (sl_http_request_defer) and answer
 * from another thread (sl_http_deferred_finish). The answer goes into a queue under defer_lock
 * and a second user event (done_ev) wakes the loop, which sends it: evhttp objects stay on the
 * loop thread. Each deferral arms a timer on the loop; when it fires first, the loop sends the
 * fallback response and the late answer is dropped. evhttp keeps a request alive until it is
 * answered (it stops reading from the connection meanwhile, so a client hanging up is noticed
 * only when the answer is written) or until evhttp_free; stop() therefore marks every open
 * deferral orphaned (under defer_lock, after the loop thread ended) before freeing the evhttp,
 * and finishing an orphan only frees its handle.
 *
 * The process ignores SIGPIPE from the first start on (a peer closing mid-write must not kill
 * the controller), unless a handler for it is already installed. */
#include "http/server.h"
#include "http/routes.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL_HTTP_DEFAULT_MAX_BODY   ((size_t)1 << 20)
#define SL_HTTP_MAX_HEADER_BYTES   (64 * 1024)
#define SL_HTTP_TIMEOUT_S          30
#define SL_HTTP_REQUEST_TIMEOUT_MS 10000
#define SL_HTTP_MAX_CONNECTIONS    256
#define SL_HTTP_SWEEP_MS           200
#define SL_HTTP_TLS_RELOAD_MS      2000
#define SL_HTTP_LISTEN_BACKLOG     1024
/* Bodies up to this size are copied into the reply; larger ones are handed over by reference. */
#define SL_HTTP_COPY_BODY_MAX 16384
#define SL_HTTP_ADDR_MAX      (NI_MAXHOST + 16)

/* What identifies one version of a file on disk. */
struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
    int exists;
};

/* One accepted connection (loop thread only). */
struct conn {
    struct bufferevent *bev; /* a reference of ours (bufferevent_incref) */
    int64_t deadline_ms;     /* the whole next request must be in by then; 0 = with a handler */
    struct conn *prev, *next;
};

struct sl_http_server {
    /* configuration, fixed after new() */
    char *addr_opt;
    char *cert_file;
    char *key_file;
    char *client_ca_file;      /* require client certificates of this CA, or NULL */
    char *client_name;         /* and this DNS name / CN in them, or NULL */
    bool client_cert_required; /* a client without a certificate fails the handshake */
    size_t max_body_bytes;
    int64_t request_timeout_ms;
    size_t max_connections;
    int tls_reload_ms;
    struct sl_http_routes routes;

    /* lifecycle, under life_lock */
    pthread_mutex_t life_lock;
    int running;
    pthread_t thread;
    char bound[SL_HTTP_ADDR_MAX];

    /* loop objects; touched by the loop thread while running, by start/stop otherwise */
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;

    /* accepted connections (loop thread only while running) */
    struct conn *conns;
    size_t nconns;
    struct event *sweep_ev;

    /* deferred replies: the list of open deferrals, the queue of answers waiting for the loop
     * and whether the loop still takes answers (all under defer_lock); done_ev as stop_ev */
    pthread_mutex_t defer_lock;
    struct sl_http_deferred *deferred;
    struct sl_http_deferred *done_head, *done_tail;
    int loop_live;
    struct event *done_ev;

    /* TLS state: loop thread only while running */
    SSL_CTX *ssl_ctx;
    struct file_stamp cert_seen;
    struct file_stamp key_seen;
    struct file_stamp ca_seen;
    int64_t tls_checked_ms;
};

/* What a request's impl points to while its handler runs. */
struct req_impl {
    struct evhttp_request *ereq;
    struct sl_http_server *s;
    struct sl_http_deferred *deferred; /* set by sl_http_request_defer */
};

struct sl_http_deferred {
    struct sl_http_server *s;
    struct evhttp_request *ereq; /* loop thread; NULL once the fallback went out or orphaned */
    struct event *timer;         /* loop thread */
    int fallback_status;
    char *fallback_type;
    struct sl_buf fallback_body;
    /* under s->defer_lock (orphaned is also read without it; see sl_http_deferred_finish) */
    int orphaned;
    int answer_status;
    char *answer_type;
    struct sl_buf answer_body;
    struct sl_http_deferred *prev, *next; /* s->deferred */
    struct sl_http_deferred *done_next;   /* s->done_head queue */
};

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int threads_ok;

static void init_threads(void)
{
    threads_ok = evthread_use_pthreads() == 0;
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

/* ---- requests and responses ---- */

static struct evhttp_request *req_ereq(const struct sl_http_request *req)
{
    if (!req || !req->impl)
        return NULL;
    return ((const struct req_impl *)req->impl)->ereq;
}

const char *sl_http_request_header(const struct sl_http_request *req, const char *name)
{
    struct evhttp_request *ereq = req_ereq(req);
    if (!ereq || !name)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(ereq), name);
}

int sl_http_request_add_response_header(const struct sl_http_request *req, const char *name,
                                        const char *value)
{
    struct evhttp_request *ereq = req_ereq(req);
    if (!ereq || !name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return SL_EINVAL;
    if (evhttp_add_header(evhttp_request_get_output_headers(ereq), name, value) != 0)
        return SL_EINVAL;
    return 0;
}

const char *sl_http_request_peer(const struct sl_http_request *req)
{
    struct evhttp_request *ereq = req_ereq(req);
    if (!ereq)
        return NULL;
    struct evhttp_connection *conn = evhttp_request_get_connection(ereq);
    if (!conn)
        return NULL;
    char *host = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &host, &port);
    return host;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    }
    if (status >= 200 && status < 300)
        return "OK";
    if (status >= 400 && status < 500)
        return "Client Error";
    if (status >= 500)
        return "Server Error";
    return "Status";
}

static void free_reference(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

static void send_reply(struct evhttp_request *ereq, int status, const char *content_type,
                       struct sl_buf *body)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(ereq);
    /* 1xx would need protocol support evhttp lacks; an out-of-range status is a handler bug */
    if (status < 200 || status > 599)
        status = 500;
    evhttp_add_header(headers, "Content-Type",
                      content_type ? content_type : "text/plain; charset=utf-8");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    struct evbuffer *out = evhttp_request_get_output_buffer(ereq);
    if (body && body->len > SL_HTTP_COPY_BODY_MAX) {
        size_t len = 0;
        char *data = sl_buf_steal(body, &len);
        if (evbuffer_add_reference(out, data, len, free_reference, NULL) != 0)
            free(data);
    } else if (body && body->len) {
        evbuffer_add(out, body->data, body->len);
    }
    evhttp_send_reply(ereq, status, reason_phrase(status), NULL);
}

static void send_text(struct evhttp_request *ereq, int status, const char *text)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_buf_append_str(&b, text);
    send_reply(ereq, status, NULL, &b);
    sl_buf_free(&b);
}

static struct conn *conn_of(struct sl_http_server *s, struct evhttp_request *ereq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    for (struct conn *c = s->conns; c && bev; c = c->next)
        if (c->bev == bev)
            return c;
    return NULL;
}

/* evhttp sent the answer: the connection has until the keep-alive deadline to deliver its
 * next request. That is longer than for a new connection's first request, as idle keep-alive
 * connections were kept before (SL_HTTP_TIMEOUT_S): a client closing them sooner than expected
 * would race its next request against the close. */
static void on_reply_sent(struct evhttp_request *ereq, void *arg)
{
    struct sl_http_server *s = arg;
    struct conn *c = conn_of(s, ereq);
    int64_t wait_ms = SL_HTTP_TIMEOUT_S * 1000;
    if (s->request_timeout_ms > wait_ms)
        wait_ms = s->request_timeout_ms;
    if (c)
        c->deadline_ms = sl_mono_ms() + wait_ms;
}

/* Did the caller of ereq present a client certificate that verified (chain and name) in the
 * handshake of its connection? */
static bool client_verified(struct evhttp_request *ereq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl && SSL_get0_peer_certificate(ssl) != NULL && SSL_get_verify_result(ssl) == X509_V_OK;
}

static void on_request(struct evhttp_request *ereq, void *arg)
{
    struct sl_http_server *s = arg;
    /* the request is in: its handler's time does not count against the connection */
    struct conn *conn = conn_of(s, ereq);
    if (conn) {
        conn->deadline_ms = 0;
        evhttp_request_set_on_complete_cb(ereq, on_reply_sent, s);
    }
    const char *method = method_name(evhttp_request_get_command(ereq));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ereq);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    size_t raw_len = raw_path ? strlen(raw_path) : 0;
    char stack_path[1024];
    char *path = stack_path, *heap_path = NULL;
    size_t path_len = 0;
    struct sl_http_response resp;
    sl_buf_init(&resp.body, 0);
    resp.status = 200;
    resp.content_type = NULL;

    if (raw_len + 2 > sizeof(stack_path))
        path = heap_path = sl_xmalloc(raw_len + 2);
    if (!uri || sl_http_path_decode(path, raw_len + 2, &path_len, raw_path) != 0) {
        send_text(ereq, 400, "bad request path\n");
        goto done;
    }

    const struct sl_http_route *route = NULL;
    int rc = sl_http_routes_find(&route, &s->routes, method, path);
    if (rc == SL_ENOTFOUND) {
        send_text(ereq, 404, "404 page not found\n");
        goto done;
    }
    if (rc != 0) {
        char allow[256];
        sl_http_routes_allow(allow, sizeof(allow), &s->routes, path);
        evhttp_add_header(evhttp_request_get_output_headers(ereq), "Allow", allow);
        send_text(ereq, 405, "405 method not allowed\n");
        goto done;
    }

    if (s->client_ca_file && !route->anonymous && !client_verified(ereq)) {
        send_text(ereq, 403, "a client certificate of the listener's client CA is required\n");
        goto done;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(ereq);
    size_t body_len = evbuffer_get_length(in);
    const char *body = "";
    /* evhttp enforces the cap on Content-Length and chunk sizes; this catches anything else */
    if (body_len > s->max_body_bytes) {
        send_text(ereq, 413, "request body too large\n");
        goto done;
    }
    if (body_len) {
        /* one NUL after the data, then one contiguous block: handlers get a C string */
        evbuffer_add(in, "", 1);
        body = (const char *)evbuffer_pullup(in, -1);
    }
    struct req_impl impl = {.ereq = ereq, .s = s};
    struct sl_http_request req = {
        .method = method,
        .path = path,
        .query = evhttp_uri_get_query(uri),
        .body = body,
        .body_len = body_len,
        .impl = &impl,
    };
    route->fn(route->ctx, &req, &resp);
    /* a deferred request is answered later, by the loop, from sl_http_deferred_finish */
    if (!impl.deferred)
        send_reply(ereq, resp.status, resp.content_type, &resp.body);

done:
    sl_buf_free(&resp.body);
    free(heap_path);
}

/* ---- deferred replies ---- */

static void deferred_free(struct sl_http_deferred *d)
{
    free(d->fallback_type);
    sl_buf_free(&d->fallback_body);
    free(d->answer_type);
    sl_buf_free(&d->answer_body);
    free(d);
}

/* Under defer_lock. */
static void deferred_unlink(struct sl_http_server *s, struct sl_http_deferred *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else if (s->deferred == d)
        s->deferred = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

/* Loop thread: the deadline passed before an answer came; send the fallback. The handle stays
 * open until its owner finishes it. */
static void on_deferred_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sl_http_deferred *d = arg;
    if (!d->ereq)
        return;
    sl_log_kv(SL_LOG_WARN, NULL, "deferred HTTP request timed out; sent the fallback answer",
              "path", evhttp_request_get_uri(d->ereq), "addr", d->s->bound, NULL);
    send_reply(d->ereq, d->fallback_status, d->fallback_type, &d->fallback_body);
    d->ereq = NULL;
    sl_buf_free(&d->fallback_body);
}

/* Loop thread: sends the answers sl_http_deferred_finish queued and frees their handles. */
static void on_deferred_done(evutil_socket_t fd, short what, void *arg)
{
    struct sl_http_server *s = arg;
    pthread_mutex_lock(&s->defer_lock);
    struct sl_http_deferred *list = s->done_head;
    s->done_head = s->done_tail = NULL;
    for (struct sl_http_deferred *d = list; d; d = d->done_next)
        deferred_unlink(s, d);
    pthread_mutex_unlock(&s->defer_lock);
    while (list) {
        struct sl_http_deferred *d = list;
        list = d->done_next;
        if (d->timer)
            event_free(d->timer);
        if (d->ereq)
            send_reply(d->ereq, d->answer_status, d->answer_type, &d->answer_body);
        deferred_free(d);
    }
}

struct sl_http_deferred *sl_http_request_defer(const struct sl_http_request *req,
                                               int64_t timeout_ms,
                                               const struct sl_http_response *fallback)
{
    struct req_impl *impl = req ? req->impl : NULL;
    if (!impl || !impl->s || impl->deferred || timeout_ms <= 0 || !fallback)
        return NULL;
    struct sl_http_server *s = impl->s;
    struct sl_http_deferred *d = sl_xcalloc(1, sizeof(*d));
    d->s = s;
    d->ereq = impl->ereq;
    d->fallback_status = fallback->status ? fallback->status : 200;
    d->fallback_type = fallback->content_type ? sl_xstrdup(fallback->content_type) : NULL;
    sl_buf_init(&d->fallback_body, 0);
    if (fallback->body.len)
        sl_buf_append(&d->fallback_body, fallback->body.data, fallback->body.len);
    sl_buf_init(&d->answer_body, 0);
    d->timer = evtimer_new(s->base, on_deferred_timeout, d);
    if (!d->timer) {
        fprintf(stderr, "sealift: out of memory creating a timer\n");
        abort();
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(d->timer, &tv);
    pthread_mutex_lock(&s->defer_lock);
    d->next = s->deferred;
    if (s->deferred)
        s->deferred->prev = d;
    s->deferred = d;
    pthread_mutex_unlock(&s->defer_lock);
    impl->deferred = d;
    return d;
}

void sl_http_deferred_finish(struct sl_http_deferred *d, struct sl_http_response *resp)
{
    if (!d) {
        if (resp)
            sl_buf_free(&resp->body);
        return;
    }
    /* the answer is taken over whatever becomes of it */
    d->answer_status = resp && resp->status ? resp->status : 200;
    d->answer_type = resp && resp->content_type ? sl_xstrdup(resp->content_type) : NULL;
    if (resp) {
        d->answer_body = resp->body;
        sl_buf_init(&resp->body, resp->body.max_bytes);
    }
    /* an orphan (set under defer_lock by stop, which precedes free) no longer touches its
     * server, which may be gone */
    if (__atomic_load_n(&d->orphaned, __ATOMIC_ACQUIRE)) {
        deferred_free(d);
        return;
    }
    struct sl_http_server *s = d->s;
    pthread_mutex_lock(&s->defer_lock);
    if (d->orphaned) {
        pthread_mutex_unlock(&s->defer_lock);
        deferred_free(d);
        return;
    }
    if (s->done_tail)
        s->done_tail->done_next = d;
    else
        s->done_head = d;
    s->done_tail = d;
    if (s->loop_live)
        event_active(s->done_ev, 0, 0);
    pthread_mutex_unlock(&s->defer_lock);
}

/* After the loop thread ended, before the evhttp is freed (which frees the requests): answers
 * queued for the loop are dropped, open deferrals become orphans their owners free. */
static void deferred_orphan_all(struct sl_http_server *s)
{
    pthread_mutex_lock(&s->defer_lock);
    s->loop_live = 0;
    struct sl_http_deferred *list = s->done_head;
    s->done_head = s->done_tail = NULL;
    for (struct sl_http_deferred *d = list; d; d = d->done_next)
        deferred_unlink(s, d);
    while (s->deferred) {
        struct sl_http_deferred *d = s->deferred;
        deferred_unlink(s, d);
        if (d->timer)
            event_free(d->timer);
        d->timer = NULL;
        d->ereq = NULL;
        __atomic_store_n(&d->orphaned, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&s->defer_lock);
    while (list) {
        struct sl_http_deferred *d = list;
        list = d->done_next;
        if (d->timer)
            event_free(d->timer);
        deferred_free(d);
    }
}

/* ---- TLS ---- */

static int tls_fail(struct sl_err *err, const char *what, const char *file)
{
    /* the first queued error names the cause ("no start line"), the last one the step */
    char first[160] = "", last[160] = "";
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (!first[0])
            ERR_error_string_n(e, first, sizeof(first));
        else
            ERR_error_string_n(e, last, sizeof(last));
    }
    return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "%s%s%s: %s%s%s", what, file ? " " : "",
                      file ? file : "", first[0] ? first : "failed", last[0] ? "; " : "", last);
}

/* Makes ctx ask for a client certificate that chains to the CAs of ca_file and, when name is
 * set, names it (DNS SAN, or the CN when the certificate has no DNS SAN). A client presenting
 * another certificate fails the handshake; one presenting none completes it, and on_request
 * lets it reach anonymous routes only (client_verified), unless required makes it fail the
 * handshake too. */
static int tls_request_client_cert(SSL_CTX *ctx, const char *ca_file, const char *name,
                                   bool required, struct sl_err *err)
{
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        return tls_fail(err, "loading client CA", ca_file);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (!names)
        return tls_fail(err, "reading client CA names", ca_file);
    SSL_CTX_set_client_CA_list(ctx, names);
    if (name && *name) {
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
            return tls_fail(err, "setting the client certificate name", NULL);
    }
    /* by default requested, not required: kube-apiserver presents no client certificate to the
     * CRDs' conversion webhook, so that handshake cannot demand one (on_request checks per
     * route); a listener without anonymous routes may refuse the TLS session instead */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       NULL);
    /* every connection shows its certificate again: no resumption, no TLS 1.3 tickets */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    return 0;
}

/* Builds a server SSL_CTX from PEM files; *out is the caller's (SSL_CTX_free). With ca_file,
 * clients must present a certificate of that CA (named name, when set) to reach a route that is
 * not anonymous, and with required to complete the handshake at all. */
static int tls_ctx_new(SSL_CTX **out, const char *cert_file, const char *key_file,
                       const char *ca_file, const char *name, bool required, struct sl_err *err)
{
    int rc = SL_EFAIL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        rc = tls_fail(err, "creating TLS context", NULL);
        goto done;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        rc = tls_fail(err, "setting minimum TLS version", NULL);
        goto done;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_cipher_list(ctx,
                                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
        rc = tls_fail(err, "setting TLS 1.2 ciphers", NULL);
        goto done;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        rc = tls_fail(err, "loading certificate", cert_file);
        goto done;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        rc = tls_fail(err, "loading private key", key_file);
        goto done;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        rc = tls_fail(err, "private key does not match certificate", cert_file);
        goto done;
    }
    static const unsigned char sid_ctx[] = "sealift-http";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (ca_file) {
        rc = tls_request_client_cert(ctx, ca_file, name, required, err);
        if (rc != 0)
            goto done;
    }
    *out = ctx;
    ctx = NULL;
    rc = 0;
done:
    SSL_CTX_free(ctx);
    return rc;
}

static void file_stamp_get(struct file_stamp *out, const char *path)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0)
        return;
    out->exists = 1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime = st.st_mtim;
    out->ctime = st.st_ctim;
}

static int file_stamp_eq(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Loop thread only. Swaps in a new SSL_CTX when the cert or key file changed. */
static void tls_maybe_reload(struct sl_http_server *s)
{
    int64_t now = sl_mono_ms();
    if (s->tls_checked_ms && now - s->tls_checked_ms < s->tls_reload_ms)
        return;
    s->tls_checked_ms = now;
    struct file_stamp cert, key, ca = {0};
    /* stamps are taken before reading, so a write racing the load is seen on the next check */
    file_stamp_get(&cert, s->cert_file);
    file_stamp_get(&key, s->key_file);
    if (s->client_ca_file)
        file_stamp_get(&ca, s->client_ca_file);
    if (file_stamp_eq(&cert, &s->cert_seen) && file_stamp_eq(&key, &s->key_seen) &&
        file_stamp_eq(&ca, &s->ca_seen))
        return;
    s->cert_seen = cert;
    s->key_seen = key;
    s->ca_seen = ca;
    struct sl_err err;
    sl_err_clear(&err);
    SSL_CTX *fresh = NULL;
    if (tls_ctx_new(&fresh, s->cert_file, s->key_file, s->client_ca_file, s->client_name,
                    s->client_cert_required, &err) != 0) {
        sl_log_kv(SL_LOG_ERROR, NULL, "TLS certificate reload failed; keeping the previous one",
                  "error", err.msg, "addr", s->bound, NULL);
        return;
    }
    SSL_CTX_free(s->ssl_ctx);
    s->ssl_ctx = fresh;
    sl_log_kv(SL_LOG_INFO, NULL, "TLS certificate reloaded", "cert", s->cert_file, "addr", s->bound,
              NULL);
}

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    struct sl_http_server *s = arg;
    tls_maybe_reload(s);
    /* a refused handshake (e.g. a client without a certificate) can leave errors in this
     * thread's OpenSSL queue; the next connection's SSL_get_error must not see them */
    ERR_clear_error();
    SSL *ssl = SSL_new(s->ssl_ctx);
    struct bufferevent *bev = NULL;
    if (ssl)
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        /* evhttp would fall back to a plaintext bufferevent on NULL; never serve TLS ports in
         * clear. This only happens when memory is exhausted, which sealift does not survive. */
        fprintf(stderr, "sealift: out of memory creating a TLS connection\n");
        abort();
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- connections: cap and request deadline ---- */

/* Reads and discards what the peer sent and nobody read, before the socket is closed: closing a
 * TCP socket with unread bytes sends a reset instead of an orderly end, and a reset can overtake
 * what was sent before it. The case that matters is a refused TLS 1.3 handshake (a client
 * without a required certificate): the server stops reading at the client's Certificate, its
 * Finished stays unread, and the reset could reach the client before the alert that says why.
 * Bounded: a peer that keeps sending more than this gets its reset. */
static void drain_unread(evutil_socket_t fd)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            break;
    }
}

static void conn_drop(struct sl_http_server *s, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    /* evhttp freed the connection; our reference is the last one unless a deferred callback
     * still holds another, and the socket closes when the last one goes */
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0)
        drain_unread(fd);
    bufferevent_decref(c->bev);
    free(c);
}

/* Loop thread: forgets connections evhttp closed and, with close_late, closes those past their
 * deadline. */
static void conns_check(struct sl_http_server *s, int close_late)
{
    int64_t now = sl_mono_ms();
    struct conn *next = NULL;
    for (struct conn *c = s->conns; c; c = next) {
        next = c->next;
        bufferevent_event_cb eventcb = NULL;
        void *evcon = NULL;
        bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &evcon);
        if (!eventcb) { /* bufferevent_free ran: evhttp is done with it */
            conn_drop(s, c);
            continue;
        }
        if (close_late && c->deadline_ms && now >= c->deadline_ms && evcon) {
            /* evhttp_connection_free -> bufferevent_free clears the callbacks: the next sweep
             * drops the entry */
            evhttp_connection_free(evcon);
            c->deadline_ms = 0;
        }
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    conns_check(arg, 1);
}

/* Every accepted connection's bufferevent, made here so the server can track it. */
static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    struct sl_http_server *s = arg;
    struct bufferevent *bev =
        s->ssl_ctx ? tls_bevcb(base, arg) : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        fprintf(stderr, "sealift: out of memory creating a connection\n");
        abort();
    }
    struct conn *c = sl_xcalloc(1, sizeof(*c));
    c->bev = bev;
    bufferevent_incref(bev);
    int64_t now = sl_mono_ms();
    c->deadline_ms = now + s->request_timeout_ms;
    if (s->nconns >= s->max_connections)
        conns_check(s, 0); /* count only connections that are still open */
    if (s->nconns >= s->max_connections) {
        /* over the cap: closed by the sweep that runs next, before it can send a request */
        c->deadline_ms = now;
        event_active(s->sweep_ev, 0, 0);
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return bev;
}

/* ---- listening socket ---- */

/* Splits "host:port", "[v6]:port" or ":port" into host (possibly "") and port. */
static int parse_addr(char *host, size_t host_size, char *port, size_t port_size, const char *addr,
                      struct sl_err *err)
{
    const char *colon, *h = addr;
    size_t hlen;
    if (!addr)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "listen address missing");
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "listen address %s: want [ipv6]:port",
                              addr);
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "listen address %s: want host:port",
                              addr);
        hlen = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    char *end = NULL;
    errno = 0;
    long pn = strtol(p, &end, 10);
    if (!*p || *end || errno || pn < 0 || pn > 65535 || hlen >= host_size)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "listen address %s: bad port or host",
                          addr);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, port_size, "%ld", pn);
    return 0;
}

static int bind_one(int *out, const struct sockaddr *sa, socklen_t salen, int dual_stack)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one, sizeof(int));
    /* Accepted sockets inherit this on Linux. Without it, a TLS reply (header and body are
     * separate records) waits on Nagle plus the client's delayed ACK: ~40 ms per request. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, sa, salen) != 0 || listen(fd, SL_HTTP_LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

static void format_bound(char *out, size_t n, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, n, "?");
        return;
    }
    if (ss.ss_family == AF_INET6)
        snprintf(out, n, "[%s]:%s", host, serv);
    else
        snprintf(out, n, "%s:%s", host, serv);
}

/* Binds and listens on addr; *out is a non-blocking listening socket. */
static int listen_on(int *out, const char *addr, struct sl_err *err)
{
    char host[NI_MAXHOST], port[16];
    int rc = parse_addr(host, sizeof(host), port, sizeof(port), addr, err);
    if (rc != 0)
        return rc;
    int e;
    if (!host[0]) {
        /* all interfaces: one dual-stack IPv6 socket, or IPv4 only where IPv6 is absent */
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof(a6));
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons((uint16_t)strtol(port, NULL, 10));
        e = bind_one(out, (struct sockaddr *)&a6, sizeof(a6), 1);
        if (e == -EAFNOSUPPORT || e == -EADDRNOTAVAIL) {
            struct sockaddr_in a4;
            memset(&a4, 0, sizeof(a4));
            a4.sin_family = AF_INET;
            a4.sin_addr.s_addr = htonl(INADDR_ANY);
            a4.sin_port = a6.sin6_port;
            e = bind_one(out, (struct sockaddr *)&a4, sizeof(a4), 0);
        }
        if (e != 0)
            return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "listen on %s: %s", addr, strerror(-e));
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "listen address %s: %s", addr,
                          gai_strerror(gai));
    e = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        e = bind_one(out, ai->ai_addr, ai->ai_addrlen, 0);
        if (e == 0)
            break;
    }
    freeaddrinfo(res);
    if (e != 0)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "listen on %s: %s", addr, strerror(-e));
    return 0;
}

/* ---- lifecycle ---- */

int sl_http_server_new(struct sl_http_server **out, const struct sl_http_server_opts *opts,
                       struct sl_err *err)
{
    if (!opts || !opts->addr || !*opts->addr)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "http server: listen address missing");
    int have_cert = opts->tls_cert_file && *opts->tls_cert_file;
    int have_key = opts->tls_key_file && *opts->tls_key_file;
    if (have_cert != have_key)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "http server %s: TLS needs both a certificate and a key file",
                          opts->addr);
    int have_ca = opts->tls_client_ca_file && *opts->tls_client_ca_file;
    if ((have_ca && !have_cert) || (opts->tls_client_name && *opts->tls_client_name && !have_ca))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "http server %s: client certificates need TLS, and a client name needs "
                          "a client CA",
                          opts->addr);
    struct sl_http_server *s = sl_xcalloc(1, sizeof(*s));
    s->addr_opt = sl_xstrdup(opts->addr);
    if (have_cert) {
        s->cert_file = sl_xstrdup(opts->tls_cert_file);
        s->key_file = sl_xstrdup(opts->tls_key_file);
    }
    if (have_ca) {
        s->client_ca_file = sl_xstrdup(opts->tls_client_ca_file);
        if (opts->tls_client_name && *opts->tls_client_name)
            s->client_name = sl_xstrdup(opts->tls_client_name);
        s->client_cert_required = opts->tls_client_cert_required;
    }
    s->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : SL_HTTP_DEFAULT_MAX_BODY;
    s->request_timeout_ms =
        opts->request_timeout_ms > 0 ? opts->request_timeout_ms : SL_HTTP_REQUEST_TIMEOUT_MS;
    s->max_connections = opts->max_connections ? opts->max_connections : SL_HTTP_MAX_CONNECTIONS;
    s->tls_reload_ms = SL_HTTP_TLS_RELOAD_MS;
    sl_http_routes_init(&s->routes);
    pthread_mutex_init(&s->life_lock, NULL);
    pthread_mutex_init(&s->defer_lock, NULL);
    *out = s;
    return 0;
}

void sl_http_server_set_tls_reload_interval_ms(struct sl_http_server *s, int interval_ms)
{
    if (s && interval_ms >= 0)
        s->tls_reload_ms = interval_ms;
}

void sl_http_server_route(struct sl_http_server *s, const char *method, const char *pattern,
                          sl_http_handler_fn fn, void *ctx)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->life_lock);
    if (s->running)
        sl_log_error(NULL, "http server %s: route %s added after start; ignored", s->bound,
                     pattern ? pattern : "(null)");
    else
        sl_http_routes_add(&s->routes, method, pattern, fn, ctx);
    pthread_mutex_unlock(&s->life_lock);
}

void sl_http_server_route_anonymous(struct sl_http_server *s, const char *method,
                                    const char *pattern, sl_http_handler_fn fn, void *ctx)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->life_lock);
    if (s->running) {
        sl_log_error(NULL, "http server %s: route %s added after start; ignored", s->bound,
                     pattern ? pattern : "(null)");
    } else {
        struct sl_http_route *rt = sl_http_routes_add(&s->routes, method, pattern, fn, ctx);
        if (rt)
            rt->anonymous = 1;
    }
    pthread_mutex_unlock(&s->life_lock);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct sl_http_server *s = arg;
    event_base_loopbreak(s->base);
}

static void *loop_main(void *arg)
{
    struct sl_http_server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

/* Frees the loop objects; the loop thread must not be running. */
static void teardown(struct sl_http_server *s)
{
    deferred_orphan_all(s);
    if (s->http)
        evhttp_free(s->http);
    /* evhttp_free freed every connection: drop our references while the base exists */
    while (s->conns)
        conn_drop(s, s->conns);
    if (s->sweep_ev)
        event_free(s->sweep_ev);
    s->sweep_ev = NULL;
    if (s->stop_ev)
        event_free(s->stop_ev);
    if (s->done_ev)
        event_free(s->done_ev);
    /* a connection that failed just before the loop stopped (a refused TLS handshake) can
     * still have a deferred callback queued, holding a reference to its bufferevent;
     * event_base_free drops such callbacks without running them, which would leak the
     * connection and its SSL: run them once now that nothing else is registered */
    if (s->base)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    if (s->base)
        event_base_free(s->base);
    SSL_CTX_free(s->ssl_ctx);
    s->http = NULL;
    s->stop_ev = NULL;
    s->done_ev = NULL;
    s->base = NULL;
    s->ssl_ctx = NULL;
    memset(&s->cert_seen, 0, sizeof(s->cert_seen));
    memset(&s->key_seen, 0, sizeof(s->key_seen));
    memset(&s->ca_seen, 0, sizeof(s->ca_seen));
    s->tls_checked_ms = 0;
}

int sl_http_server_start(struct sl_http_server *s, struct sl_err *err)
{
    int rc = SL_EFAIL, fd = -1;
    pthread_mutex_lock(&s->life_lock);
    if (s->running) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "http server %s already running",
                        s->bound);
        pthread_mutex_unlock(&s->life_lock);
        return rc;
    }
    pthread_once(&threads_once, init_threads);
    if (!threads_ok) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "libevent: no pthreads support");
        goto done;
    }
    if (s->cert_file) {
        file_stamp_get(&s->cert_seen, s->cert_file);
        file_stamp_get(&s->key_seen, s->key_file);
        if (s->client_ca_file)
            file_stamp_get(&s->ca_seen, s->client_ca_file);
        rc = tls_ctx_new(&s->ssl_ctx, s->cert_file, s->key_file, s->client_ca_file, s->client_name,
                         s->client_cert_required, err);
        if (rc != 0)
            goto done;
        s->tls_checked_ms = sl_mono_ms();
    }
    rc = listen_on(&fd, s->addr_opt, err);
    if (rc != 0)
        goto done;
    format_bound(s->bound, sizeof(s->bound), fd);

    rc = SL_EFAIL;
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    s->stop_ev = s->base ? event_new(s->base, -1, 0, on_stop, s) : NULL;
    s->done_ev = s->base ? event_new(s->base, -1, 0, on_deferred_done, s) : NULL;
    s->sweep_ev = s->base ? event_new(s->base, -1, EV_PERSIST, on_sweep, s) : NULL;
    if (!s->http || !s->stop_ev || !s->done_ev || !s->sweep_ev) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "http server %s: libevent setup failed",
                   s->bound);
        goto done;
    }
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->max_body_bytes);
    evhttp_set_max_headers_size(s->http, SL_HTTP_MAX_HEADER_BYTES);
    evhttp_set_timeout(s->http, SL_HTTP_TIMEOUT_S);
    /* answer 413 to oversized bodies instead of resetting the connection mid-upload */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(s->http, "text/plain; charset=utf-8");
    evhttp_set_bevcb(s->http, bevcb, s);
    struct timeval sweep_tv = {.tv_sec = 0, .tv_usec = SL_HTTP_SWEEP_MS * 1000};
    event_add(s->sweep_ev, &sweep_tv);
    if (!evhttp_accept_socket_with_handle(s->http, fd)) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "http server %s: cannot accept", s->bound);
        goto done;
    }
    fd = -1; /* the evhttp listener owns it now */
    /* before the loop runs: a request deferred and finished at once must wake it */
    pthread_mutex_lock(&s->defer_lock);
    s->loop_live = 1;
    pthread_mutex_unlock(&s->defer_lock);
    if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "http server %s: cannot start thread", s->bound);
        goto done;
    }
    s->running = 1;
    sl_log_kv(SL_LOG_INFO, NULL, "http server listening", "addr", s->bound, "tls",
              s->ssl_ctx ? "true" : "false", NULL);
    rc = 0;
done:
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        teardown(s);
        s->bound[0] = '\0';
    }
    pthread_mutex_unlock(&s->life_lock);
    return rc;
}

const char *sl_http_server_addr(const struct sl_http_server *s)
{
    return s ? s->bound : "";
}

void sl_http_server_stop(struct sl_http_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->life_lock);
    if (s->running) {
        event_active(s->stop_ev, 0, 0);
        pthread_join(s->thread, NULL);
        teardown(s);
        s->running = 0;
        sl_log_kv(SL_LOG_INFO, NULL, "http server stopped", "addr", s->bound, NULL);
    }
    pthread_mutex_unlock(&s->life_lock);
}

void sl_http_server_free(struct sl_http_server *s)
{
    if (!s)
        return;
    sl_http_server_stop(s);
    sl_http_routes_free(&s->routes);
    pthread_mutex_destroy(&s->life_lock);
    pthread_mutex_destroy(&s->defer_lock);
    free(s->addr_opt);
    free(s->cert_file);
    free(s->key_file);
    free(s->client_ca_file);
    free(s->client_name);
    free(s);
}
