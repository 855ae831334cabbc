/* The in-memory registry behind a fake transport (see fake_registry.h). */
#include "fake_registry.h"

#include "http/transport.h"
#include "oci/manifest.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
    char *key; /* "b host/repo@digest", "m host/repo@digest", "t host/repo:tag", "u id" */
    char *data;
    size_t len;
    char *media_type; /* manifests; uploads: "host/repo" */
    bool tampered;
    struct item *next;
};

struct failure {
    char *match;
    long status;
    int times;
    struct failure *next;
};

struct sl_fake_registry {
    pthread_mutex_t mu;
    struct item *items;
    struct failure *failures;
    json_t *log;
    unsigned uploads;
    struct sl_transport *transport;
};

/* One answer being built. */
struct answer {
    long status;
    char *headers[6];
    size_t nh;
    char *body;
    size_t len;
};

static struct item *find(struct sl_fake_registry *fr, const char *key)
{
    for (struct item *it = fr->items; it; it = it->next)
        if (strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

static struct item *store(struct sl_fake_registry *fr, char *key, const void *data, size_t len)
{
    struct item *it = find(fr, key);
    if (it) {
        free(key);
        free(it->data);
    } else {
        it = sl_xcalloc(1, sizeof(*it));
        it->key = key;
        it->next = fr->items;
        fr->items = it;
    }
    it->data = sl_xmalloc(len + 1);
    memcpy(it->data, data, len);
    it->data[len] = '\0';
    it->len = len;
    return it;
}

static void header(struct answer *a, const char *fmt, const char *v)
{
    if (a->nh < sizeof(a->headers) / sizeof(a->headers[0]))
        a->headers[a->nh++] = sl_xasprintf(fmt, v);
}

static void error_answer(struct answer *a, long status, const char *code)
{
    a->status = status;
    a->body = sl_xasprintf("{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}", code, code);
    a->len = strlen(a->body);
    header(a, "Content-Type: %s", "application/json");
}

static void body_answer(struct answer *a, long status, const char *data, size_t len)
{
    a->status = status;
    a->body = sl_xmalloc(len + 1);
    memcpy(a->body, data, len);
    a->len = len;
    char n[32];
    snprintf(n, sizeof(n), "%zu", len);
    header(a, "Content-Length: %s", n);
}

/* The decoded value of name in query (caller frees), or NULL. */
static char *query_param(const char *query, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t vl = strcspn(v, "&");
            char *out = sl_xmalloc(vl + 1);
            size_t o = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] == '%' && i + 2 < vl) {
                    char hex[3] = {v[i + 1], v[i + 2], 0};
                    out[o++] = (char)strtol(hex, NULL, 16);
                    i += 2;
                } else {
                    out[o++] = v[i];
                }
            }
            out[o] = '\0';
            return out;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return NULL;
}

static const char *request_header(const struct sl_http_exchange *x, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < x->n_headers; i++)
        if (strncasecmp(x->headers[i], name, nl) == 0 && x->headers[i][nl] == ':') {
            const char *v = x->headers[i] + nl + 1;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

static void finish_blob(struct sl_fake_registry *fr, struct answer *a, const char *host,
                        const char *repo, const char *digest, const char *data, size_t len)
{
    char computed[72];
    sl_digest_sha256(computed, data, len);
    if (!digest || strcmp(computed, digest) != 0) {
        error_answer(a, 400, "DIGEST_INVALID");
        return;
    }
    store(fr, sl_xasprintf("b %s/%s@%s", host, repo, digest), data, len);
    a->status = 201;
    header(a, "Docker-Content-Digest: %s", digest);
}

/* Answers x (fr->mu held). */
static void handle(struct sl_fake_registry *fr, const struct sl_http_exchange *x, struct answer *a)
{
    const char *u = strstr(x->url, "://");
    u = u ? u + 3 : x->url;
    size_t hl = strcspn(u, "/");
    char *host = sl_xstrndup(u, hl);
    const char *path_start = u + hl;
    size_t pl = strcspn(path_start, "?");
    char *path = sl_xstrndup(path_start, pl);
    const char *query = path_start[pl] == '?' ? path_start + pl + 1 : "";
    char *scheme = sl_xstrndup(x->url, (size_t)(u - x->url));
    json_array_append_new(fr->log, json_sprintf("%s %s%s", x->method, host, path));
    char *line = sl_xasprintf("%s %s", x->method, path);
    for (struct failure *f = fr->failures; f; f = f->next) {
        if (f->times > 0 && strstr(line, f->match)) {
            f->times--;
            error_answer(a, f->status, f->status == 404 ? "NAME_UNKNOWN" : "UNAVAILABLE");
            goto done;
        }
    }
    if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
        body_answer(a, 200, "{}", 2);
        goto done;
    }
    if (strncmp(path, "/v2/", 4) != 0) {
        error_answer(a, 404, "NOT_FOUND");
        goto done;
    }
    const char *rest = path + 4;
    const char *m;
    bool head = strcmp(x->method, "HEAD") == 0;
    if ((m = strstr(rest, "/manifests/"))) {
        char *repo = sl_xstrndup(rest, (size_t)(m - rest));
        const char *ref = m + 11;
        if (strcmp(x->method, "PUT") == 0) {
            char d[72];
            sl_digest_sha256(d, x->body, x->body_len);
            if (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, d) != 0) {
                error_answer(a, 400, "DIGEST_INVALID");
            } else {
                const char *ct = request_header(x, "Content-Type");
                struct item *it =
                    store(fr, sl_xasprintf("m %s/%s@%s", host, repo, d), x->body, x->body_len);
                free(it->media_type);
                it->media_type = sl_xstrdup(ct ? ct : "");
                if (strncmp(ref, "sha256:", 7) != 0)
                    store(fr, sl_xasprintf("t %s/%s:%s", host, repo, ref), d, strlen(d));
                a->status = 201;
                header(a, "Docker-Content-Digest: %s", d);
            }
        } else {
            const char *mref = sl_fake_registry_manifest(fr, host, repo, ref);
            if (!mref) {
                error_answer(a, 404, "MANIFEST_UNKNOWN");
            } else {
                char d[72];
                sl_digest_sha256(d, mref, strlen(mref));
                char *key = sl_xasprintf("m %s/%s@%s", host, repo, d);
                struct item *it = find(fr, key);
                free(key);
                body_answer(a, 200, it->data, it->len);
                header(a, "Content-Type: %s", it->media_type);
                header(a, "Docker-Content-Digest: %s", d);
            }
        }
        free(repo);
    } else if ((m = strstr(rest, "/blobs/uploads/"))) {
        char *repo = sl_xstrndup(rest, (size_t)(m - rest));
        const char *id = m + 15;
        char *digest = query_param(query, "digest");
        if (strcmp(x->method, "POST") == 0) {
            char *mount = query_param(query, "mount"), *from = query_param(query, "from");
            char *key = mount && from ? sl_xasprintf("b %s/%s@%s", host, from, mount) : NULL;
            struct item *src = key ? find(fr, key) : NULL;
            if (src) {
                store(fr, sl_xasprintf("b %s/%s@%s", host, repo, mount), src->data, src->len);
                a->status = 201;
                header(a, "Docker-Content-Digest: %s", mount);
            } else if (digest) {
                finish_blob(fr, a, host, repo, digest, x->body, x->body_len);
            } else {
                char *uid = sl_xasprintf("u%u", ++fr->uploads);
                char *ukey = sl_xasprintf("u %s", uid);
                struct item *it = store(fr, ukey, "", 0);
                it->media_type = sl_xasprintf("%s/%s", host, repo);
                a->status = 202;
                char *loc = sl_xasprintf("%s%s/v2/%s/blobs/uploads/%s", scheme, host, repo, uid);
                header(a, "Location: %s", loc);
                free(loc);
                free(uid);
            }
            free(key);
            free(mount);
            free(from);
        } else {
            char *ukey = sl_xasprintf("u %s", id);
            struct item *up = find(fr, ukey);
            free(ukey);
            if (!up) {
                error_answer(a, 404, "BLOB_UPLOAD_UNKNOWN");
            } else if (strcmp(x->method, "DELETE") == 0) {
                up->len = 0;
                a->status = 204;
            } else {
                if (x->body_len) {
                    up->data = sl_xrealloc(up->data, up->len + x->body_len + 1);
                    memcpy(up->data + up->len, x->body, x->body_len);
                    up->len += x->body_len;
                }
                if (strcmp(x->method, "PATCH") == 0) {
                    a->status = 202;
                    char *loc = sl_xasprintf("%s%s%s", scheme, host, path);
                    header(a, "Location: %s", loc);
                    free(loc);
                } else {
                    finish_blob(fr, a, host, repo, digest, up->data, up->len);
                }
            }
        }
        free(digest);
        free(repo);
    } else if ((m = strstr(rest, "/blobs/"))) {
        char *repo = sl_xstrndup(rest, (size_t)(m - rest));
        char *key = sl_xasprintf("b %s/%s@%s", host, repo, m + 7);
        struct item *it = find(fr, key);
        free(key);
        if (!it) {
            error_answer(a, 404, "BLOB_UNKNOWN");
        } else {
            body_answer(a, 200, it->data, it->len);
            if (it->tampered && a->len)
                a->body[0] ^= 0x5a;
            header(a, "Docker-Content-Digest: %s", m + 7);
        }
        free(repo);
    } else if ((m = strstr(rest, "/tags/list"))) {
        char *repo = sl_xstrndup(rest, (size_t)(m - rest));
        char *prefix = sl_xasprintf("t %s/%s:", host, repo);
        json_t *tags = json_array();
        for (struct item *it = fr->items; it; it = it->next)
            if (strncmp(it->key, prefix, strlen(prefix)) == 0)
                json_array_append_new(tags, json_string(it->key + strlen(prefix)));
        json_t *o = json_pack("{s:s, s:o}", "name", repo, "tags", tags);
        char *s = json_dumps(o, JSON_COMPACT);
        body_answer(a, 200, s, strlen(s));
        free(s);
        json_decref(o);
        free(prefix);
        free(repo);
    } else {
        error_answer(a, 404, "NOT_FOUND"); /* referrers: not supported */
    }
    if (head) {
        free(a->body);
        a->body = NULL;
    }
done:
    free(line);
    free(scheme);
    free(path);
    free(host);
}

static void answer_free(struct answer *a)
{
    for (size_t i = 0; i < a->nh; i++)
        free(a->headers[i]);
    free(a->body);
}

static void deliver_headers(const struct sl_http_exchange *x, const struct answer *a)
{
    if (!x->on_header)
        return;
    char line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %ld Fake\r\n", a->status);
    x->on_header(x->ud, line, strlen(line));
    for (size_t i = 0; i < a->nh; i++) {
        char *h = sl_xasprintf("%s\r\n", a->headers[i]);
        x->on_header(x->ud, h, strlen(h));
        free(h);
    }
    x->on_header(x->ud, "\r\n", 2);
}

static void fake_perform(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct sl_fake_registry *fr = ctx;
    struct answer a = {0};
    pthread_mutex_lock(&fr->mu);
    handle(fr, x, &a);
    pthread_mutex_unlock(&fr->mu);
    deliver_headers(x, &a);
    res->status = a.status;
    if (a.body && a.len && x->on_body && x->on_body(x->ud, a.status, a.body, a.len) != a.len) {
        res->failure = SL_HTTP_ABORTED;
        snprintf(res->error, sizeof(res->error), "Failed writing received data");
    }
    answer_free(&a);
}

static void fake_relay(void *ctx, struct sl_transport *put_t, const struct sl_http_relay *r,
                       struct sl_http_result *get_res, struct sl_http_result *put_res)
{
    struct sl_fake_registry *fr = ctx;
    struct answer a = {0};
    pthread_mutex_lock(&fr->mu);
    handle(fr, &r->get, &a);
    pthread_mutex_unlock(&fr->mu);
    deliver_headers(&r->get, &a);
    get_res->status = a.status;
    put_res->failure = SL_HTTP_ABORTED;
    snprintf(put_res->error, sizeof(put_res->error),
             "Operation was aborted by an application callback");
    if (a.status != 200) {
        if (r->get.on_body && a.len)
            r->get.on_body(r->get.ud, a.status, a.body, a.len);
        answer_free(&a);
        return;
    }
    for (size_t off = 0; off < a.len; off += 4096) {
        size_t n = a.len - off < 4096 ? a.len - off : 4096;
        if (r->on_chunk && r->on_chunk(r->ud, a.body + off, n) != 0) {
            get_res->failure = SL_HTTP_ABORTED;
            snprintf(get_res->error, sizeof(get_res->error), "Failed writing received data");
            answer_free(&a);
            return;
        }
    }
    if (r->on_get_done && r->on_get_done(r->ud) != 0) {
        answer_free(&a);
        return;
    }
    struct sl_http_exchange put = r->put;
    put.body = a.body;
    put.body_len = a.len;
    sl_transport_perform(put_t, &put, put_res);
    put_res->sent = (int64_t)a.len;
    answer_free(&a);
}

static const struct sl_transport_ops fake_ops = {.perform = fake_perform, .relay = fake_relay};

struct sl_fake_registry *sl_fake_registry_new(void)
{
    struct sl_fake_registry *fr = sl_xcalloc(1, sizeof(*fr));
    pthread_mutex_init(&fr->mu, NULL);
    fr->log = json_array();
    fr->transport = sl_transport_new_custom(&fake_ops, fr);
    return fr;
}

void sl_fake_registry_free(struct sl_fake_registry *fr)
{
    if (!fr)
        return;
    for (struct item *it = fr->items, *next; it; it = next) {
        next = it->next;
        free(it->key);
        free(it->data);
        free(it->media_type);
        free(it);
    }
    for (struct failure *f = fr->failures, *next; f; f = next) {
        next = f->next;
        free(f->match);
        free(f);
    }
    json_decref(fr->log);
    sl_transport_free(fr->transport);
    pthread_mutex_destroy(&fr->mu);
    free(fr);
}

struct sl_transport *sl_fake_registry_transport(struct sl_fake_registry *fr)
{
    return fr->transport;
}

void sl_fake_registry_put_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                               const void *data, size_t len, char digest_out[72])
{
    sl_digest_sha256(digest_out, data, len);
    pthread_mutex_lock(&fr->mu);
    store(fr, sl_xasprintf("b %s/%s@%s", host, repo, digest_out), data, len);
    pthread_mutex_unlock(&fr->mu);
}

void sl_fake_registry_put_manifest(struct sl_fake_registry *fr, const char *host, const char *repo,
                                   const char *tag, const char *media_type, const char *json,
                                   char digest_out[72])
{
    sl_digest_sha256(digest_out, json, strlen(json));
    pthread_mutex_lock(&fr->mu);
    struct item *it =
        store(fr, sl_xasprintf("m %s/%s@%s", host, repo, digest_out), json, strlen(json));
    free(it->media_type);
    it->media_type = sl_xstrdup(media_type);
    if (tag)
        store(fr, sl_xasprintf("t %s/%s:%s", host, repo, tag), digest_out, strlen(digest_out));
    pthread_mutex_unlock(&fr->mu);
}

const char *sl_fake_registry_manifest(struct sl_fake_registry *fr, const char *host,
                                      const char *repo, const char *reference)
{
    char *key;
    if (strncmp(reference, "sha256:", 7) == 0) {
        key = sl_xasprintf("m %s/%s@%s", host, repo, reference);
    } else {
        char *tkey = sl_xasprintf("t %s/%s:%s", host, repo, reference);
        struct item *t = find(fr, tkey);
        free(tkey);
        if (!t)
            return NULL;
        key = sl_xasprintf("m %s/%s@%s", host, repo, t->data);
    }
    struct item *it = find(fr, key);
    free(key);
    return it ? it->data : NULL;
}

bool sl_fake_registry_has_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                               const char *digest)
{
    char *key = sl_xasprintf("b %s/%s@%s", host, repo, digest);
    bool has = find(fr, key) != NULL;
    free(key);
    return has;
}

void sl_fake_registry_tamper_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                                  const char *digest)
{
    char *key = sl_xasprintf("b %s/%s@%s", host, repo, digest);
    struct item *it = find(fr, key);
    free(key);
    if (it)
        it->tampered = true;
}

void sl_fake_registry_fail(struct sl_fake_registry *fr, const char *match, long status, int times)
{
    struct failure *f = sl_xcalloc(1, sizeof(*f));
    f->match = sl_xstrdup(match);
    f->status = status;
    f->times = times;
    pthread_mutex_lock(&fr->mu);
    f->next = fr->failures;
    fr->failures = f;
    pthread_mutex_unlock(&fr->mu);
}

const json_t *sl_fake_registry_log(struct sl_fake_registry *fr)
{
    return fr->log;
}

int sl_fake_registry_count(struct sl_fake_registry *fr, const char *s)
{
    int n = 0;
    size_t i;
    json_t *v;
    pthread_mutex_lock(&fr->mu);
    json_array_foreach(fr->log, i, v) if (strstr(json_string_value(v), s)) n++;
    pthread_mutex_unlock(&fr->mu);
    return n;
}
