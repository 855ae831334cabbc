/* The libcurl transport (see transport.h). */
#include "http/transport.h"

#include "util/err.h"
#include "util/mem.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#define POOL_MAX           16
#define DEFAULT_CONNECT_MS 15000
/* The relay's memory, held once per concurrent blob copy: a ring of two download buffers
 * (allocated when a relay starts, at most the blob's size, freed when it ends: one fills while
 * the PUT sends the other), curl's download buffer of the GET and upload buffer of the PUT at
 * libcurl's 16 KiB default and minimum, and a small download buffer for the PUT, whose answer
 * is a status line and a few headers. A ring of four buffers, or larger buffers, moved no more
 * bytes per second between loopback registries (hack/bench/sync.sh) and cost 32 KiB more per
 * concurrent blob. */
#define RELAY_CURL_BUFFER     (16L << 10)
#define RELAY_RING_BYTES      ((size_t)RELAY_CURL_BUFFER * 2)
#define RELAY_PUT_RECV_BUFFER 4096L

struct sl_transport {
    /* custom transports */
    const struct sl_transport_ops *ops;
    void *ctx;
    /* the libcurl transport */
    struct sl_transport_opts opts; /* strings below, owned */
    char *user_agent, *ca_pem, *client_cert_pem, *client_key_pem;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t mu; /* guards the pool and trust_state */
    CURL *pool[POOL_MAX];
    int npool;
    /* The certificates every TLS connection of this transport verifies against, built once at
     * the first verifying exchange and shared by all its connections (trust_state 1), where
     * libcurl would load the CA bundle into each connection's own TLS context again: about
     * 0.9 MB per live connection with Debian's 145 CAs. trust_state -1: it could not be built
     * (libcurl without OpenSSL, a CA file that does not load), and libcurl loads the CAs
     * itself as before, reporting what fails. */
    X509_STORE *trust;
    int trust_state;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --connect-to: set once at start-up, before any transport runs; read by every setup() */
static struct curl_slist *g_connect_to;

/* One part of HOST:PORT:CONNECT-HOST:CONNECT-PORT: a host (a name, an IPv4 address or a
 * bracketed IPv6 one) or a port, empty for "any"; *p is moved past it and its ':'. */
static bool connect_to_part(const char **p, bool port, bool last)
{
    const char *s = *p;
    if (!port && *s == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return false;
        for (const char *c = s + 1; c < e; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return false;
        s = e + 1;
    } else {
        long digits = 0;
        while (*s && *s != ':') {
            unsigned char c = (unsigned char)*s;
            if (port ? !isdigit(c) : !(isalnum(c) || c == '-' || c == '.' || c == '_'))
                return false;
            s++;
            digits++;
        }
        if (port && (digits > 5 || (digits && strtol(*p, NULL, 10) > 65535)))
            return false;
    }
    if (last) {
        if (*s)
            return false;
    } else if (*s++ != ':') {
        return false;
    }
    *p = s;
    return true;
}

int sl_transport_set_connect_to(const char *const *entries, size_t n, char *bad, size_t bad_len)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *p = entries[i];
        if (strlen(p) > 300 || !connect_to_part(&p, false, false) ||
            !connect_to_part(&p, true, false) || !connect_to_part(&p, false, false) ||
            !connect_to_part(&p, true, true)) {
            snprintf(bad, bad_len, "%.300s", entries[i]);
            curl_slist_free_all(list);
            return SL_EINVAL;
        }
        struct curl_slist *next = curl_slist_append(list, entries[i]);
        if (!next) {
            /* out of memory, as sl_xmalloc would report it */
            fputs("{\"level\":\"fatal\",\"msg\":\"out of memory (--connect-to)\"}\n", stderr);
            abort();
        }
        list = next;
    }
    curl_slist_free_all(g_connect_to);
    g_connect_to = list;
    return 0;
}

int sl_transport_global_init(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_init_result == CURLE_OK ? 0 : SL_EFAIL;
}

void sl_transport_global_cleanup(void)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result == CURLE_OK)
        curl_global_cleanup();
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userp)
{
    (void)handle;
    (void)access;
    struct sl_transport *t = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&t->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userp)
{
    (void)handle;
    struct sl_transport *t = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&t->share_locks[data]);
}

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

struct sl_transport *sl_transport_new(const struct sl_transport_opts *opts)
{
    if (sl_transport_global_init() != 0)
        return NULL;
    struct sl_transport *t = sl_xcalloc(1, sizeof(*t));
    if (opts)
        t->opts = *opts;
    t->user_agent = sl_xstrdup(opts && opts->user_agent ? opts->user_agent : "sealift/" SL_VERSION);
    t->ca_pem = dup_or_null(opts ? opts->ca_pem : NULL);
    t->client_cert_pem = dup_or_null(opts ? opts->client_cert_pem : NULL);
    t->client_key_pem = dup_or_null(opts ? opts->client_key_pem : NULL);
    t->opts.user_agent = t->opts.ca_pem = NULL;
    t->opts.client_cert_pem = t->opts.client_key_pem = NULL;
    if (t->opts.connect_timeout_ms <= 0)
        t->opts.connect_timeout_ms = DEFAULT_CONNECT_MS;
    pthread_mutex_init(&t->mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&t->share_locks[i], NULL);
    if (t->opts.share_connections) {
        t->share = curl_share_init();
        if (!t->share) {
            sl_transport_free(t);
            return NULL;
        }
        curl_share_setopt(t->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(t->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(t->share, CURLSHOPT_USERDATA, t);
        curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    return t;
}

struct sl_transport *sl_transport_new_custom(const struct sl_transport_ops *ops, void *ctx)
{
    struct sl_transport *t = sl_xcalloc(1, sizeof(*t));
    t->ops = ops;
    t->ctx = ctx;
    return t;
}

void sl_transport_free(struct sl_transport *t)
{
    if (!t)
        return;
    if (!t->ops) {
        for (int i = 0; i < t->npool; i++)
            curl_easy_cleanup(t->pool[i]);
        if (t->share)
            curl_share_cleanup(t->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&t->share_locks[i]);
        pthread_mutex_destroy(&t->mu);
        X509_STORE_free(t->trust);
        free(t->user_agent);
        free(t->ca_pem);
        free(t->client_cert_pem);
        sl_secure_free_str(t->client_key_pem);
    }
    free(t);
}

char *sl_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = sl_xmalloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}

char *sl_http_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (!u) {
        fprintf(stderr, "sealift: curl_url failed\n");
        abort();
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        for (char *p = scheme; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        for (char *p = host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        out = sl_xasprintf("%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static CURL *handle_get(struct sl_transport *t)
{
    CURL *h = NULL;
    pthread_mutex_lock(&t->mu);
    if (t->npool > 0)
        h = t->pool[--t->npool];
    pthread_mutex_unlock(&t->mu);
    if (!h)
        h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "sealift: curl_easy_init failed\n");
        abort();
    }
    return h;
}

static void handle_put(struct sl_transport *t, CURL *h)
{
    pthread_mutex_lock(&t->mu);
    if (t->npool < POOL_MAX) {
        t->pool[t->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one exchange on a handle ---- */

struct call {
    const struct sl_http_exchange *x;
    CURL *h;
    /* relay state (NULL for a plain exchange) */
    struct relay_state *relay;
};

static size_t header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    struct call *c = ud;
    size_t n = sz * nm;
    if (c->x->on_header)
        c->x->on_header(c->x->ud, p, n);
    return n;
}

static size_t body_cb(char *p, size_t sz, size_t nm, void *ud)
{
    struct call *c = ud;
    size_t n = sz * nm;
    if (!c->x->on_body)
        return n;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    return c->x->on_body(c->x->ud, status, p, n);
}

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct call *c = ud;
    return c->x->cancelled(c->x->ud) ? 1 : 0;
}

/* Adds the certificates of pem (PEM text) to st. Returns how many, or -1 when none parses. */
static int store_add_pem(X509_STORE *st, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    int added = 0;
    X509 *cert;
    while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(st, cert) == 1)
            added++;
        X509_free(cert);
    }
    BIO_free(bio);
    return added > 0 ? added : -1;
}

/* The trust libcurl would give a connection of t, in one store: unless ca_only the system's
 * CAs as libcurl was built to find them (read from h, just reset, so the defaults), and the
 * transport's CAs; the flags libcurl sets on each store. The system's bundle file is parsed
 * once here (about 0.9 MB with Debian's CAs) instead of once per connection, and the CA
 * directory is added as a lookup read on demand, so the store trusts what libcurl trusts.
 * NULL when any part does not load. */
static X509_STORE *trust_store_new(const struct sl_transport *t, CURL *h)
{
    X509_STORE *st = X509_STORE_new();
    bool ok = st != NULL;
#if LIBCURL_VERSION_NUM >= 0x075400 /* CURLINFO_CAINFO, CURLINFO_CAPATH: 7.84.0 */
    if (ok && !t->opts.ca_only) {
        char *file = NULL, *dir = NULL;
        curl_easy_getinfo(h, CURLINFO_CAINFO, &file);
        curl_easy_getinfo(h, CURLINFO_CAPATH, &dir);
        /* both, as libcurl loads both: a system with only the bundle file (sealift's release
         * image ships ca-certificates.crt without the hashed directory) or only the directory
         * trusts what it trusted before */
        if (!file && !dir)
            ok = false; /* libcurl's own fallback, whatever it is, stays in charge */
        if (ok && file && access(file, R_OK) == 0)
            ok = X509_STORE_load_file(st, file) == 1;
        else if (ok && file && !dir)
            ok = false;
        if (ok && dir)
            ok = X509_STORE_load_path(st, dir) == 1;
    }
#else
    (void)h;
    ok = ok && t->opts.ca_only;
#endif
    if (ok && t->ca_pem && store_add_pem(st, t->ca_pem) < 0)
        ok = false;
    if (ok)
        ok = X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_TRUSTED_FIRST) == 1;
    ERR_clear_error(); /* what failed is reported by libcurl, which loads the CAs itself then */
    if (!ok) {
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

/* t's shared store (built at the first call), or NULL: libcurl loads the CAs per connection. */
static X509_STORE *trust_store(struct sl_transport *t, CURL *h)
{
    pthread_mutex_lock(&t->mu);
    if (t->trust_state == 0) {
        t->trust = trust_store_new(t, h);
        t->trust_state = t->trust ? 1 : -1;
    }
    X509_STORE *st = t->trust;
    pthread_mutex_unlock(&t->mu);
    return st;
}

/* libcurl's hook before each TLS handshake: the connection's context verifies against the
 * transport's shared store (a reference, not a copy). */
static CURLcode use_trust_store(CURL *h, void *ssl_ctx, void *ud)
{
    (void)h;
    SSL_CTX_set1_cert_store(ssl_ctx, ud);
    return CURLE_OK;
}

/* Resets h and applies the transport's settings and x's; *hdrs (the request headers) is freed
 * by the caller with free_headers after the transfer. */
static void setup(struct sl_transport *t, CURL *h, struct call *c, struct curl_slist **hdrs,
                  char *errbuf)
{
    const struct sl_http_exchange *x = c->x;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (g_connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, g_connect_to);
    curl_easy_setopt(h, CURLOPT_USERAGENT, t->user_agent);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)t->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (t->opts.keepalive_idle_s > 0)
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, t->opts.keepalive_idle_s);
    if (t->opts.keepalive_interval_s > 0)
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, t->opts.keepalive_interval_s);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
                     t->opts.insecure || t->opts.http_redirects ? "http,https" : "https");
    if (t->share)
        curl_easy_setopt(h, CURLOPT_SHARE, t->share);
    if (t->opts.accept_encoding)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (t->opts.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    X509_STORE *trust = t->opts.insecure ? NULL : trust_store(t, h);
    if (trust && curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, use_trust_store) == CURLE_OK) {
        /* verification stays on: only where its certificates come from changes */
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, trust);
        curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    } else if (t->ca_pem) {
        struct curl_blob blob = {
            .data = t->ca_pem, .len = strlen(t->ca_pem), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
        if (t->opts.ca_only)
            curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    if (t->client_cert_pem && t->client_key_pem) {
        struct curl_blob cert = {
            .data = t->client_cert_pem, .len = strlen(t->client_cert_pem), .flags = CURL_BLOB_COPY};
        struct curl_blob key = {
            .data = t->client_key_pem, .len = strlen(t->client_key_pem), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }

    curl_easy_setopt(h, CURLOPT_URL, x->url);
    for (size_t i = 0; i < x->n_headers; i++)
        *hdrs = curl_slist_append(*hdrs, x->headers[i]);
    /* bodies are sent at once, never after waiting for a 100-continue */
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    if (strcmp(x->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(x->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (x->body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)x->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        if (strcmp(x->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    } else if (!c->relay) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    }
    if (x->max_redirects > 0) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)x->max_redirects);
    }
    if (x->timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
    if (x->low_speed_s > 0) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, x->low_speed_bytes);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, x->low_speed_s);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    if (x->cancelled) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    }
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

/* Wipes the request headers (they may hold credentials), frees them and clears what the
 * handle still points at (a request body may hold credentials too). */
static void finish(CURL *h, struct curl_slist *hdrs)
{
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    for (struct curl_slist *l = hdrs; l; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(hdrs);
}

/* true when a TLS alert the server sent is about certificates: the client verifies the
 * server's certificate itself (CURLE_PEER_FAILED_VERIFICATION), so an alert of the server that
 * names a certificate is about the client's, missing or refused. With TLS 1.3 it comes after the
 * client's side of the handshake, on the first read. */
static bool client_cert_alert(CURLcode cc, const char *errbuf)
{
    static const char *const alerts[] = {
        "alert certificate required",   "alert bad certificate",     "alert unknown ca",
        "alert certificate unknown",    "alert certificate expired", "alert certificate revoked",
        "alert unsupported certificate"};
    if (cc != CURLE_SSL_CONNECT_ERROR && cc != CURLE_RECV_ERROR && cc != CURLE_SEND_ERROR)
        return false;
    for (size_t i = 0; errbuf && i < sizeof(alerts) / sizeof(alerts[0]); i++)
        if (strstr(errbuf, alerts[i]))
            return true;
    return false;
}

static void set_result(struct sl_http_result *res, CURL *h, CURLcode cc, const char *errbuf)
{
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    switch (cc) {
    case CURLE_OK:
        res->failure = SL_HTTP_OK;
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        res->failure = SL_HTTP_ABORTED;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        res->failure = SL_HTTP_TIMEOUT;
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        res->failure = SL_HTTP_BAD_URL;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        res->failure = SL_HTTP_TLS_VERIFY;
        break;
    case CURLE_SSL_CONNECT_ERROR:
        res->failure = SL_HTTP_TLS_CONNECT;
        break;
    default:
        res->failure = SL_HTTP_NETWORK;
        break;
    }
    if (client_cert_alert(cc, errbuf))
        res->failure = SL_HTTP_TLS_CLIENT_CERT;
    if (cc != CURLE_OK)
        snprintf(res->error, sizeof(res->error), "%s",
                 errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

enum sl_http_failure sl_transport_perform(struct sl_transport *t, const struct sl_http_exchange *x,
                                          struct sl_http_result *res)
{
    memset(res, 0, sizeof(*res));
    if (t->ops) {
        t->ops->perform(t->ctx, x, res);
        return res->failure;
    }
    CURL *h = handle_get(t);
    struct call c = {.x = x, .h = h};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    setup(t, h, &c, &hdrs, errbuf);
    CURLcode cc = curl_easy_perform(h);
    set_result(res, h, cc, errbuf);
    finish(h, hdrs);
    handle_put(t, h);
    return res->failure;
}

/* ---- relay ---- */

struct sl_http_relayer {
    CURLM *multi;
    CURL *get, *put;
};

struct sl_http_relayer *sl_http_relayer_new(void)
{
    if (sl_transport_global_init() != 0) {
        fprintf(stderr, "sealift: cannot initialize libcurl\n");
        abort();
    }
    struct sl_http_relayer *rl = sl_xcalloc(1, sizeof(*rl));
    rl->multi = curl_multi_init();
    rl->get = curl_easy_init();
    rl->put = curl_easy_init();
    if (!rl->multi || !rl->get || !rl->put) {
        fprintf(stderr, "sealift: cannot create curl handles\n");
        abort();
    }
    return rl;
}

void sl_http_relayer_free(struct sl_http_relayer *rl)
{
    if (!rl)
        return;
    curl_easy_cleanup(rl->get);
    curl_easy_cleanup(rl->put);
    curl_multi_cleanup(rl->multi);
    free(rl);
}

struct relay_state {
    const struct sl_http_relay *r;
    char *ring; /* this relay's, freed when it ends */
    size_t ring_cap;
    size_t head, used; /* ring read position and fill */
    int64_t received, sent;
    size_t get_pending; /* bytes of a write the ring could not take (paused) */
    int get_paused, put_paused;
    int get_done, get_failed, verified, refused;
};

static size_t relay_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct call *c = ud;
    struct relay_state *st = c->relay;
    size_t n = sz * nm;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) /* an error body, for the caller's message */
        return c->x->on_body ? c->x->on_body(c->x->ud, status, p, n) : n;
    if (st->r->size >= 0 && st->received + (int64_t)n > st->r->size) {
        /* more than the PUT's Content-Length is never relayed: stop now rather than wait with
         * a full ring (sized to the blob) for an upload that sends no more; on_chunk sees the
         * bytes first, to say why */
        if (st->r->on_chunk)
            st->r->on_chunk(st->r->ud, p, n);
        return 0;
    }
    size_t cap = st->ring_cap;
    if (n > cap - st->used) {
        if (n > cap)
            return 0;
        st->get_paused = 1;
        st->get_pending = n;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (st->r->on_chunk && st->r->on_chunk(st->r->ud, p, n) != 0)
        return 0;
    size_t tail = (st->head + st->used) % cap;
    size_t first = n < cap - tail ? n : cap - tail;
    memcpy(st->ring + tail, p, first);
    memcpy(st->ring, p + first, n - first);
    st->used += n;
    st->received += (int64_t)n;
    return n;
}

static size_t relay_read(char *p, size_t sz, size_t nm, void *ud)
{
    struct call *c = ud;
    struct relay_state *st = c->relay;
    size_t max = sz * nm;
    if (st->refused || st->get_failed)
        return CURL_READFUNC_ABORT;
    size_t avail = st->used;
    /* hold the last byte back until the download is accepted */
    if (!st->verified) {
        int64_t allowed = st->r->size - 1 - st->sent;
        if (allowed < 0)
            allowed = 0;
        if ((int64_t)avail > allowed)
            avail = (size_t)allowed;
    }
    if (avail == 0) {
        if (st->verified && st->sent >= st->r->size)
            return 0;
        st->put_paused = 1;
        return CURL_READFUNC_PAUSE;
    }
    size_t n = avail < max ? avail : max;
    size_t cap = st->ring_cap;
    size_t first = n < cap - st->head ? n : cap - st->head;
    memcpy(p, st->ring + st->head, first);
    memcpy(p + first, st->ring, n - first);
    st->head = (st->head + n) % cap;
    st->used -= n;
    st->sent += (int64_t)n;
    return n;
}

void sl_transport_relay(struct sl_http_relayer *rl, struct sl_transport *get_t,
                        struct sl_transport *put_t, const struct sl_http_relay *r,
                        struct sl_http_result *get_res, struct sl_http_result *put_res)
{
    memset(get_res, 0, sizeof(*get_res));
    memset(put_res, 0, sizeof(*put_res));
    if (get_t->ops) {
        get_t->ops->relay(get_t->ctx, put_t, r, get_res, put_res);
        return;
    }
    /* a small blob (a config, a small layer) gets a ring of its size: curl never hands the
     * write callback more than its buffer, nor more than the body */
    size_t ring_cap = RELAY_RING_BYTES;
    if (r->size >= 0 && (uint64_t)r->size < ring_cap)
        ring_cap = r->size > (int64_t)RELAY_CURL_BUFFER ? (size_t)r->size : RELAY_CURL_BUFFER;
    struct relay_state st = {.r = r, .ring = sl_xmalloc(ring_cap), .ring_cap = ring_cap};
    struct call gc = {.x = &r->get, .h = rl->get, .relay = &st};
    struct call pc = {.x = &r->put, .h = rl->put, .relay = &st};
    struct curl_slist *get_hdrs = NULL, *put_hdrs = NULL;
    char get_err[CURL_ERROR_SIZE], put_err[CURL_ERROR_SIZE];
    setup(get_t, rl->get, &gc, &get_hdrs, get_err);
    curl_easy_setopt(rl->get, CURLOPT_BUFFERSIZE, RELAY_CURL_BUFFER);
    curl_easy_setopt(rl->get, CURLOPT_WRITEFUNCTION, relay_write);
    setup(put_t, rl->put, &pc, &put_hdrs, put_err);
    curl_easy_setopt(rl->put, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(rl->put, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->size);
    curl_easy_setopt(rl->put, CURLOPT_UPLOAD_BUFFERSIZE, RELAY_CURL_BUFFER);
    curl_easy_setopt(rl->put, CURLOPT_BUFFERSIZE, RELAY_PUT_RECV_BUFFER);
    curl_easy_setopt(rl->put, CURLOPT_READFUNCTION, relay_read);
    curl_easy_setopt(rl->put, CURLOPT_READDATA, &pc);

    CURLcode get_cc = CURLE_OK, put_cc = CURLE_OK;
    curl_multi_add_handle(rl->multi, rl->get);
    curl_multi_add_handle(rl->multi, rl->put);
    int get_in = 1, put_in = 1, get_stopped = 0;
    while (get_in || put_in) {
        int running = 0;
        curl_multi_perform(rl->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(rl->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            if (msg->easy_handle == rl->get) {
                get_cc = msg->data.result;
                curl_multi_remove_handle(rl->multi, rl->get);
                get_in = 0;
                st.get_done = 1;
                long status = 0;
                curl_easy_getinfo(rl->get, CURLINFO_RESPONSE_CODE, &status);
                if (get_cc != CURLE_OK || status != 200)
                    st.get_failed = 1;
            } else if (msg->easy_handle == rl->put) {
                put_cc = msg->data.result;
                curl_multi_remove_handle(rl->multi, rl->put);
                put_in = 0;
            }
        }
        if (!put_in && get_in) { /* the upload ended early (error): stop downloading */
            curl_multi_remove_handle(rl->multi, rl->get);
            get_in = 0;
            if (!st.get_done) {
                st.get_done = 1;
                st.get_failed = 1;
                get_stopped = 1;
            }
        }
        if (st.get_done && !st.get_failed && !st.refused && !st.verified) {
            if (r->on_get_done && r->on_get_done(r->ud) != 0)
                st.refused = 1;
            else
                st.verified = 1;
        }
        if (get_in && st.get_paused && st.ring_cap - st.used >= st.get_pending) {
            st.get_paused = 0;
            curl_easy_pause(rl->get, CURLPAUSE_CONT);
        }
        if (put_in && st.put_paused && (st.used > 0 || st.get_done || st.refused)) {
            st.put_paused = 0;
            curl_easy_pause(rl->put, CURLPAUSE_CONT);
        }
        if (get_in || put_in)
            curl_multi_poll(rl->multi, NULL, 0, 200, NULL);
    }
    /* libcurl's short texts, as the blob copy always reported them */
    set_result(get_res, rl->get, get_cc, NULL);
    if (get_stopped) {
        get_res->failure = SL_HTTP_STOPPED;
        snprintf(get_res->error, sizeof(get_res->error), "stopped: the upload ended");
    }
    set_result(put_res, rl->put, put_cc, NULL);
    put_res->sent = st.sent;
    finish(rl->get, get_hdrs);
    finish(rl->put, put_hdrs);
    free(st.ring);
}
