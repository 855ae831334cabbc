#include "http/routes.h"
#include "util/err.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

void sl_http_routes_init(struct sl_http_routes *r)
{
    memset(r, 0, sizeof(*r));
}

static int same_method(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

struct sl_http_route *sl_http_routes_add(struct sl_http_routes *r, const char *method,
                                         const char *pattern, sl_http_handler_fn fn, void *ctx)
{
    if (!pattern || !fn)
        return NULL;
    for (size_t i = 0; i < r->count; i++) {
        if (same_method(r->items[i].method, method) && strcmp(r->items[i].pattern, pattern) == 0)
            return NULL;
    }
    r->items = sl_xrealloc(r->items, (r->count + 1) * sizeof(*r->items));
    struct sl_http_route *rt = &r->items[r->count++];
    size_t len = strlen(pattern);
    rt->method = method ? sl_xstrdup(method) : NULL;
    rt->pattern = sl_xstrdup(pattern);
    rt->is_prefix = len > 0 && pattern[len - 1] == '*';
    rt->match_len = rt->is_prefix ? len - 1 : len;
    rt->fn = fn;
    rt->ctx = ctx;
    rt->anonymous = 0;
    return rt;
}

void sl_http_routes_free(struct sl_http_routes *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].method);
        free(r->items[i].pattern);
    }
    free(r->items);
    r->items = NULL;
    r->count = 0;
}

static int path_matches(const struct sl_http_route *rt, const char *path, size_t path_len)
{
    if (rt->is_prefix)
        return path_len >= rt->match_len && memcmp(path, rt->pattern, rt->match_len) == 0;
    return path_len == rt->match_len && memcmp(path, rt->pattern, path_len) == 0;
}

static int method_matches(const struct sl_http_route *rt, const char *method)
{
    if (!rt->method)
        return 1;
    if (strcmp(rt->method, method) == 0)
        return 1;
    /* HEAD is GET without the body; the server drops the body. */
    return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
}

/* Higher is more specific: exact routes rank above every prefix, longer prefixes above shorter. */
static size_t specificity(const struct sl_http_route *rt)
{
    return rt->is_prefix ? rt->match_len : (size_t)-1;
}

int sl_http_routes_find(const struct sl_http_route **out, const struct sl_http_routes *r,
                        const char *method, const char *path)
{
    size_t path_len = strlen(path);
    const struct sl_http_route *best = NULL;
    int path_known = 0;
    for (size_t i = 0; i < r->count; i++) {
        const struct sl_http_route *rt = &r->items[i];
        if (!path_matches(rt, path, path_len))
            continue;
        path_known = 1;
        if (!method_matches(rt, method))
            continue;
        if (!best || specificity(rt) > specificity(best))
            best = rt;
    }
    if (best) {
        *out = best;
        return 0;
    }
    return path_known ? SL_EUNSUPPORTED : SL_ENOTFOUND;
}

static int listed(const char **methods, size_t n, const char *m)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(methods[i], m) == 0)
            return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t sl_http_routes_allow(char *out, size_t n, const struct sl_http_routes *r, const char *path)
{
    size_t path_len = strlen(path), count = 0, used = 0;
    const char **methods = sl_xcalloc(2 * r->count + 1, sizeof(*methods));
    for (size_t i = 0; i < r->count; i++) {
        const struct sl_http_route *rt = &r->items[i];
        if (!rt->method || !path_matches(rt, path, path_len))
            continue;
        if (!listed(methods, count, rt->method))
            methods[count++] = rt->method;
        if (strcmp(rt->method, "GET") == 0 && !listed(methods, count, "HEAD"))
            methods[count++] = "HEAD";
    }
    qsort(methods, count, sizeof(*methods), cmp_str);
    if (n)
        out[0] = '\0';
    size_t written = 0;
    for (size_t i = 0; i < count; i++) {
        size_t mlen = strlen(methods[i]), sep = written ? 2 : 0;
        if (used + sep + mlen + 1 > n)
            break;
        if (sep)
            memcpy(out + used, ", ", 2);
        memcpy(out + used + sep, methods[i], mlen + 1);
        used += sep + mlen;
        written++;
    }
    free(methods);
    return written;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A decoded "." or ".." segment would let "/hooks/../metrics" pass a prefix route meant for
 * "/hooks/"; such paths are refused instead of normalized. */
static int has_dot_segment(const char *p, size_t len)
{
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i == len || p[i] == '/') {
            size_t seg = i - start;
            if ((seg == 1 && p[start] == '.') ||
                (seg == 2 && p[start] == '.' && p[start + 1] == '.'))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

int sl_http_path_decode(char *out, size_t out_size, size_t *len_out, const char *raw)
{
    if (!raw || !*raw)
        raw = "/";
    if (raw[0] != '/')
        return SL_EINVAL;
    size_t o = 0;
    for (size_t i = 0; raw[i]; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            int hi = hex_value(raw[i + 1]);
            int lo = hi < 0 ? -1 : hex_value(raw[i + 2]);
            if (lo < 0)
                return SL_EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return SL_EINVAL;
        if (o + 1 >= out_size)
            return SL_ETOOBIG;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (has_dot_segment(out, o))
        return SL_EINVAL;
    *len_out = o;
    return 0;
}
