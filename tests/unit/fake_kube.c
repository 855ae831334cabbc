/* In-memory Kubernetes API for unit tests; see fake_kube.h for the semantics. */
#include "fake_kube.h"

#include "util/err.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_fake_kube {
    pthread_mutex_t lock;
    json_t *objects;    /* key -> stored object */
    json_t *write_log;  /* array of strings */
    json_t *fail_verbs; /* verb -> code */
    long long next_rv;
    long long next_uid;
    unsigned name_seq;
    int writes;
    int fail_any; /* 0 = none */
};

/* ---- small helpers ---- */

static bool is_empty(const char *s)
{
    return !s || !*s;
}

static bool has_status_subresource(const struct sl_kube_resource *res)
{
    return strcmp(res->group, "sealift.dev") == 0;
}

/* "imagedeliveries.sealift.dev" or "secrets", as kube-apiserver names a resource in messages. */
static void resource_name(char *out, size_t n, const struct sl_kube_resource *res)
{
    if (res->group[0])
        snprintf(out, n, "%s.%s", res->plural, res->group);
    else
        snprintf(out, n, "%s", res->plural);
}

static int http_status_for(int code)
{
    switch (code) {
    case SL_ENOTFOUND:
        return 404;
    case SL_ECONFLICT:
    case SL_EEXISTS:
        return 409;
    case SL_EGONE:
        return 410;
    case SL_EINVAL:
        return 422;
    case SL_ERETRY:
        return 503;
    case SL_EAUTH:
        return 403;
    case SL_EUNSUPPORTED:
        return 415;
    default:
        return 500;
    }
}

static int kube_err(struct sl_err *err, int code, const char *fmt, const char *a, const char *b)
{
    /* fmt takes up to two %s arguments */
    char msg[SL_ERR_MSG_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
#pragma GCC diagnostic pop
    sl_err_set(err, code, SL_ERRC_KUBE, "%s", msg);
    if (err)
        err->http_status = http_status_for(code);
    return code;
}

static char *object_key(const struct sl_kube_resource *res, const char *ns, const char *name)
{
    return sl_xasprintf("%s/%s/%s/%s", res->group, res->plural, res->namespaced ? ns : "", name);
}

static char *key_prefix(const struct sl_kube_resource *res, const char *ns)
{
    if (res->namespaced && !is_empty(ns))
        return sl_xasprintf("%s/%s/%s/", res->group, res->plural, ns);
    return sl_xasprintf("%s/%s/", res->group, res->plural);
}

static json_t *metadata_of(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    return md;
}

static const char *md_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static char *next_rv(struct sl_fake_kube *fk)
{
    return sl_xasprintf("%lld", fk->next_rv++);
}

static void set_rv(struct sl_fake_kube *fk, json_t *obj)
{
    char *rv = next_rv(fk);
    json_object_set_new(metadata_of(obj), "resourceVersion", json_string(rv));
    free(rv);
}

static void set_type_meta(json_t *obj, const struct sl_kube_resource *res)
{
    char *api_version =
        res->group[0] ? sl_xasprintf("%s/%s", res->group, res->version) : sl_xstrdup(res->version);
    json_object_set_new(obj, "apiVersion", json_string(api_version));
    json_object_set_new(obj, "kind", json_string(res->kind));
    free(api_version);
}

/* Fills uid, creationTimestamp, generation, resourceVersion, apiVersion and kind. */
static void fill_new_metadata(struct sl_fake_kube *fk, const struct sl_kube_resource *res,
                              json_t *obj, bool keep_existing)
{
    json_t *md = metadata_of(obj);
    if (!keep_existing || !json_is_string(json_object_get(md, "uid"))) {
        char uid[64];
        snprintf(uid, sizeof(uid), "00000000-0000-4000-8000-%012lld", fk->next_uid++);
        json_object_set_new(md, "uid", json_string(uid));
    }
    if (!keep_existing || !json_is_string(json_object_get(md, "creationTimestamp"))) {
        char ts[32];
        sl_time_now_rfc3339(ts, sizeof(ts));
        json_object_set_new(md, "creationTimestamp", json_string(ts));
    }
    if (!keep_existing || !json_is_integer(json_object_get(md, "generation")))
        json_object_set_new(md, "generation", json_integer(1));
    if (!keep_existing || !json_is_string(json_object_get(md, "resourceVersion")))
        set_rv(fk, obj);
    set_type_meta(obj, res);
}

/* Everything outside metadata and status equal? */
static bool spec_equal(const json_t *a, const json_t *b)
{
    json_t *ca = json_copy((json_t *)a), *cb = json_copy((json_t *)b);
    const char *skip[] = {"metadata", "status", "apiVersion", "kind"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        json_object_del(ca, skip[i]);
        json_object_del(cb, skip[i]);
    }
    bool eq = json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return eq;
}

static bool finalizers_empty(const json_t *obj)
{
    json_t *f = json_object_get(json_object_get(obj, "metadata"), "finalizers");
    return !json_is_array(f) || json_array_size(f) == 0;
}

static void log_write(struct sl_fake_kube *fk, const char *verb, const struct sl_kube_resource *res,
                      const char *ns, const char *name)
{
    char *line = res->namespaced ? sl_xasprintf("%s %s %s/%s", verb, res->plural, ns, name)
                                 : sl_xasprintf("%s %s %s", verb, res->plural, name);
    json_array_append_new(fk->write_log, json_string(line));
    free(line);
    fk->writes++;
}

/* Consumes an injected failure for verb, if any. Called with the lock held. */
static int injected_failure(struct sl_fake_kube *fk, const char *verb, struct sl_err *err)
{
    int code = 0;
    json_t *v = json_object_get(fk->fail_verbs, verb);
    if (v) {
        code = (int)json_integer_value(v);
        json_object_del(fk->fail_verbs, verb);
    } else if (fk->fail_any) {
        code = fk->fail_any;
        fk->fail_any = 0;
    }
    if (!code)
        return 0;
    return kube_err(err, code, "injected failure", NULL, NULL);
}

/* The namespace a request acts in: the argument, else the object's, else "default"... only for
 * seeding. For requests, a namespaced kind needs one. */
static int request_namespace(const char **out, const struct sl_kube_resource *res, const char *ns,
                             const json_t *obj, struct sl_err *err)
{
    if (!res->namespaced) {
        *out = "";
        return 0;
    }
    const char *obj_ns = obj ? md_str(obj, "namespace") : NULL;
    if (!is_empty(ns) && !is_empty(obj_ns) && strcmp(ns, obj_ns) != 0)
        return kube_err(err, SL_EINVAL,
                        "the namespace of the provided object does not match the namespace "
                        "sent on the request",
                        NULL, NULL);
    if (!is_empty(ns)) {
        *out = ns;
        return 0;
    }
    if (!is_empty(obj_ns)) {
        *out = obj_ns;
        return 0;
    }
    return kube_err(err, SL_EINVAL, "a namespace is required for %s", res->plural, NULL);
}

/* ---- RFC 7386 merge patch ---- */

static json_t *merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *result = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(result, k);
            continue;
        }
        json_t *merged = merge_patch(json_object_get(result, k), v);
        json_object_set_new(result, k, merged);
    }
    return result;
}

/* ---- RFC 6902 JSON patch (RFC 6901 pointers) ---- */

static char *pointer_token(const char *start, size_t n)
{
    char *tok = sl_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (start[i] == '~' && i + 1 < n && (start[i + 1] == '0' || start[i + 1] == '1')) {
            tok[o++] = start[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            tok[o++] = start[i];
        }
    }
    tok[o] = '\0';
    return tok;
}

static bool parse_index(size_t *out, const char *tok, size_t size, bool allow_end)
{
    if (allow_end && strcmp(tok, "-") == 0) {
        *out = size;
        return true;
    }
    if (!*tok || (tok[0] == '0' && tok[1]) || strspn(tok, "0123456789") != strlen(tok))
        return false;
    char *end = NULL;
    unsigned long long v = strtoull(tok, &end, 10);
    if (v > (allow_end ? size : size - 1) || (!allow_end && size == 0))
        return false;
    *out = (size_t)v;
    return true;
}

/* Resolves all but the last token: *parent gets the container, *last the last token (owned). */
static bool resolve_parent(json_t **parent, char **last, json_t *doc, const char *ptr)
{
    if (*ptr != '/')
        return false;
    json_t *cur = doc;
    const char *p = ptr + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char *tok = pointer_token(p, n);
        if (!slash) {
            *parent = cur;
            *last = tok;
            return true;
        }
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            size_t idx;
            if (parse_index(&idx, tok, json_array_size(cur), false))
                next = json_array_get(cur, idx);
        }
        free(tok);
        if (!next)
            return false;
        cur = next;
        p = slash + 1;
    }
}

static json_t *pointer_get(json_t *doc, const char *ptr)
{
    if (*ptr == '\0')
        return doc;
    json_t *parent = NULL;
    char *last = NULL;
    json_t *found = NULL;
    if (!resolve_parent(&parent, &last, doc, ptr))
        return NULL;
    if (json_is_object(parent)) {
        found = json_object_get(parent, last);
    } else if (json_is_array(parent)) {
        size_t idx;
        if (parse_index(&idx, last, json_array_size(parent), false))
            found = json_array_get(parent, idx);
    }
    free(last);
    return found;
}

/* value is stolen. */
static bool pointer_add(json_t *doc, const char *ptr, json_t *value)
{
    json_t *parent = NULL;
    char *last = NULL;
    bool ok = false;
    if (!resolve_parent(&parent, &last, doc, ptr)) {
        json_decref(value);
        return false;
    }
    if (json_is_object(parent)) {
        ok = json_object_set_new(parent, last, value) == 0;
        value = NULL;
    } else if (json_is_array(parent)) {
        size_t idx;
        if (parse_index(&idx, last, json_array_size(parent), true)) {
            ok = json_array_insert_new(parent, idx, value) == 0;
            value = NULL;
        }
    }
    json_decref(value);
    free(last);
    return ok;
}

static bool pointer_remove(json_t *doc, const char *ptr)
{
    json_t *parent = NULL;
    char *last = NULL;
    bool ok = false;
    if (!resolve_parent(&parent, &last, doc, ptr))
        return false;
    if (json_is_object(parent)) {
        ok = json_object_del(parent, last) == 0;
    } else if (json_is_array(parent)) {
        size_t idx;
        if (parse_index(&idx, last, json_array_size(parent), false))
            ok = json_array_remove(parent, idx) == 0;
    }
    free(last);
    return ok;
}

/* Applies ops to a copy of doc; returns the new document or NULL (with err) on failure. */
static json_t *json_patch_apply(const json_t *doc, const json_t *ops, struct sl_err *err)
{
    if (!json_is_array(ops)) {
        kube_err(err, SL_EINVAL, "json patch must be an array", NULL, NULL);
        return NULL;
    }
    json_t *out = json_deep_copy(doc);
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        json_t *value = json_object_get(op, "value");
        bool ok = false;
        if (!name || !path) {
            ok = false;
        } else if (strcmp(name, "add") == 0 && value) {
            ok = pointer_add(out, path, json_deep_copy(value));
        } else if (strcmp(name, "remove") == 0) {
            ok = pointer_remove(out, path);
        } else if (strcmp(name, "replace") == 0 && value) {
            ok = pointer_get(out, path) && pointer_remove(out, path) &&
                 pointer_add(out, path, json_deep_copy(value));
        } else if (strcmp(name, "test") == 0 && value) {
            json_t *cur = pointer_get(out, path);
            ok = cur && json_equal(cur, value);
        } else if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from) {
            json_t *src = pointer_get(out, from);
            if (src) {
                json_t *val = json_deep_copy(src);
                ok = (strcmp(name, "copy") == 0 || pointer_remove(out, from)) &&
                     pointer_add(out, path, json_incref(val));
                json_decref(val);
            }
        }
        if (!ok) {
            kube_err(err, SL_EINVAL, "json patch operation %s on %s failed", name ? name : "?",
                     path ? path : "?");
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* ---- selectors ---- */

static char *trim_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return sl_xstrndup(s, n);
}

/* Is value in the parenthesised comma list "(a, b)"? */
static bool in_set(const char *set, const char *value)
{
    const char *p = strchr(set, '(');
    const char *end = strrchr(set, ')');
    if (!p || !end || end < p)
        return false;
    p++;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        char *item = trim_dup(p, n);
        bool eq = value && strcmp(item, value) == 0;
        free(item);
        if (eq)
            return true;
        p += n + 1;
    }
    return false;
}

/* One requirement of a label selector against labels (an object or NULL). */
static bool label_requirement_matches(const char *req, const json_t *labels)
{
    const char *op;
    if (req[0] == '!') {
        char *key = trim_dup(req + 1, strlen(req + 1));
        bool ok = json_object_get(labels, key) == NULL;
        free(key);
        return ok;
    }
    if ((op = strstr(req, " notin ")) || (op = strstr(req, " in "))) {
        bool notin = strncmp(op, " notin ", 7) == 0;
        char *key = trim_dup(req, (size_t)(op - req));
        const char *value = json_string_value(json_object_get(labels, key));
        bool member = in_set(op, value);
        free(key);
        return notin ? !member : member;
    }
    if ((op = strstr(req, "!=")) || (op = strstr(req, "==")) || (op = strchr(req, '='))) {
        size_t oplen = op[0] == '=' && op[1] != '=' ? 1 : 2;
        bool negate = op[0] == '!';
        char *key = trim_dup(req, (size_t)(op - req));
        char *want = trim_dup(op + oplen, strlen(op + oplen));
        const char *value = json_string_value(json_object_get(labels, key));
        bool eq = value && strcmp(value, want) == 0;
        free(key);
        free(want);
        return negate ? !eq : eq;
    }
    char *key = trim_dup(req, strlen(req));
    bool ok = *key == '\0' || json_object_get(labels, key) != NULL;
    free(key);
    return ok;
}

static bool field_requirement_matches(const char *req, const json_t *obj)
{
    const char *op;
    if ((op = strstr(req, "!=")) || (op = strstr(req, "==")) || (op = strchr(req, '='))) {
        size_t oplen = op[0] == '=' && op[1] != '=' ? 1 : 2;
        bool negate = op[0] == '!';
        char *key = trim_dup(req, (size_t)(op - req));
        char *want = trim_dup(op + oplen, strlen(op + oplen));
        const char *value = NULL;
        if (strcmp(key, "metadata.name") == 0)
            value = md_str(obj, "name");
        else if (strcmp(key, "metadata.namespace") == 0)
            value = md_str(obj, "namespace");
        bool eq = strcmp(value ? value : "", want) == 0;
        free(key);
        free(want);
        return negate ? !eq : eq;
    }
    return true;
}

/* Splits sel at top-level commas and checks each requirement. */
static bool selector_matches(const char *sel, const json_t *obj, bool labels)
{
    if (is_empty(sel))
        return true;
    const json_t *label_obj = json_object_get(json_object_get(obj, "metadata"), "labels");
    const char *p = sel;
    while (*p) {
        int depth = 0;
        const char *q = p;
        while (*q && (depth > 0 || *q != ',')) {
            if (*q == '(')
                depth++;
            else if (*q == ')')
                depth--;
            q++;
        }
        char *req = trim_dup(p, (size_t)(q - p));
        bool ok = labels ? label_requirement_matches(req, label_obj)
                         : field_requirement_matches(req, obj);
        free(req);
        if (!ok)
            return false;
        p = *q ? q + 1 : q;
    }
    return true;
}

/* ---- ops ---- */

static int fake_get(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                    const char *name, struct sl_err *err)
{
    struct sl_fake_kube *fk = ctx;
    char rname[256];
    int rc = 0;
    char *key = NULL;
    pthread_mutex_lock(&fk->lock);
    if ((rc = injected_failure(fk, "get", err)) != 0)
        goto done;
    if ((rc = request_namespace(&ns, res, ns, NULL, err)) != 0)
        goto done;
    key = object_key(res, ns, name);
    json_t *obj = json_object_get(fk->objects, key);
    if (!obj) {
        resource_name(rname, sizeof(rname), res);
        rc = kube_err(err, SL_ENOTFOUND, "%s \"%s\" not found", rname, name);
        goto done;
    }
    *out = json_deep_copy(obj);
done:
    pthread_mutex_unlock(&fk->lock);
    free(key);
    return rc;
}

static int compare_items(const void *a, const void *b)
{
    const json_t *oa = *(json_t *const *)a, *ob = *(json_t *const *)b;
    const char *na = md_str(oa, "namespace"), *nb = md_str(ob, "namespace");
    int c = strcmp(na ? na : "", nb ? nb : "");
    if (c)
        return c;
    na = md_str(oa, "name");
    nb = md_str(ob, "name");
    return strcmp(na ? na : "", nb ? nb : "");
}

static int fake_list(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                     const struct sl_kube_list_opts *opts, struct sl_err *err)
{
    struct sl_fake_kube *fk = ctx;
    int rc = 0;
    char *prefix = NULL;
    json_t **found = NULL;
    size_t nfound = 0;
    pthread_mutex_lock(&fk->lock);
    if ((rc = injected_failure(fk, "list", err)) != 0)
        goto done;
    prefix = key_prefix(res, ns);
    size_t plen = strlen(prefix);
    found = sl_xcalloc(json_object_size(fk->objects) + 1, sizeof(*found));
    const char *k;
    json_t *v;
    json_object_foreach(fk->objects, k, v)
    {
        if (strncmp(k, prefix, plen) != 0)
            continue;
        if (opts && !selector_matches(opts->label_selector, v, true))
            continue;
        if (opts && !selector_matches(opts->field_selector, v, false))
            continue;
        found[nfound++] = v;
    }
    qsort(found, nfound, sizeof(*found), compare_items);
    /* pagination: the continue token is the offset of the next item */
    size_t start = 0, end = nfound;
    if (opts && !is_empty(opts->continue_token)) {
        char *tail = NULL;
        unsigned long long off = strtoull(opts->continue_token, &tail, 10);
        if (!tail || *tail || off > nfound) {
            rc = kube_err(err, SL_EGONE,
                          "The provided continue parameter is too old to display a consistent "
                          "list result. You can start a new list without the continue parameter.",
                          NULL, NULL);
            goto done;
        }
        start = (size_t)off;
    }
    if (opts && opts->limit > 0 && nfound - start > (size_t)opts->limit)
        end = start + (size_t)opts->limit;
    json_t *items = json_array();
    for (size_t i = start; i < end; i++)
        json_array_append_new(items, json_deep_copy(found[i]));
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", fk->next_rv - 1);
    char *kind = sl_xasprintf("%sList", res->kind);
    char *api_version =
        res->group[0] ? sl_xasprintf("%s/%s", res->group, res->version) : sl_xstrdup(res->version);
    *out = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind, "apiVersion", api_version,
                     "metadata", "resourceVersion", rv, "items", items);
    if (end < nfound) {
        char cont[32];
        snprintf(cont, sizeof(cont), "%zu", end);
        json_object_set_new(json_object_get(*out, "metadata"), "continue", json_string(cont));
    }
    free(kind);
    free(api_version);
done:
    pthread_mutex_unlock(&fk->lock);
    free(prefix);
    free(found);
    return rc;
}

/* Stores obj (stolen) under its key; removes it instead when it is being deleted and has no
 * finalizers left. */
static void store(struct sl_fake_kube *fk, const char *key, json_t *obj)
{
    if (md_str(obj, "deletionTimestamp") && finalizers_empty(obj)) {
        json_object_del(fk->objects, key);
        json_decref(obj);
        return;
    }
    json_object_set_new(fk->objects, key, obj);
}

/* Create with the lock held; obj borrowed. */
static int create_locked(struct sl_fake_kube *fk, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, json_t *obj, struct sl_err *err)
{
    char rname[256];
    int rc = 0;
    char *key = NULL;
    json_t *copy = NULL;
    resource_name(rname, sizeof(rname), res);
    if (!json_is_object(obj))
        return kube_err(err, SL_EINVAL, "%s: object must be a JSON object", rname, NULL);
    if ((rc = request_namespace(&ns, res, ns, obj, err)) != 0)
        return rc;
    copy = json_deep_copy(obj);
    json_t *md = metadata_of(copy);
    const char *name = md_str(copy, "name");
    const char *generate = md_str(copy, "generateName");
    if (is_empty(name) && !is_empty(generate)) {
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
        char suffix[6];
        unsigned seq = ++fk->name_seq * 2654435761u;
        for (int i = 0; i < 5; i++) {
            suffix[i] = alphabet[seq % (sizeof(alphabet) - 1)];
            seq /= (unsigned)(sizeof(alphabet) - 1);
        }
        suffix[5] = '\0';
        char *gen = sl_xasprintf("%s%s", generate, suffix);
        json_object_set_new(md, "name", json_string(gen));
        free(gen);
        name = md_str(copy, "name");
    }
    if (is_empty(name)) {
        rc = kube_err(err, SL_EINVAL,
                      "%s is invalid: metadata.name: Required value: name or generateName is "
                      "required",
                      rname, NULL);
        goto done;
    }
    key = object_key(res, ns, name);
    if (json_object_get(fk->objects, key)) {
        rc = kube_err(err, SL_EEXISTS, "%s \"%s\" already exists", rname, name);
        goto done;
    }
    if (res->namespaced)
        json_object_set_new(md, "namespace", json_string(ns));
    json_object_del(md, "deletionTimestamp");
    if (has_status_subresource(res))
        json_object_del(copy, "status");
    fill_new_metadata(fk, res, copy, false);
    if (out)
        *out = json_deep_copy(copy);
    log_write(fk, "create", res, ns, name);
    json_object_set_new(fk->objects, key, copy);
    copy = NULL;
done:
    json_decref(copy);
    free(key);
    return rc;
}

/* POST serviceaccounts/NAME/token (the TokenRequest subresource, asked for as the resource
 * "serviceaccounts/NAME/token"): answers status.token "token:NS:NAME:AUDIENCE" when the
 * ServiceAccount exists, so tests see whose token went where. 1 when res is not such a request. */
static int token_request_locked(struct sl_fake_kube *fk, json_t **out,
                                const struct sl_kube_resource *res, const char *ns, json_t *obj,
                                struct sl_err *err)
{
    const char *p = res->plural;
    size_t n = strlen(p);
    if (res->group[0] || strncmp(p, "serviceaccounts/", 16) != 0 || n < 22 ||
        strcmp(p + n - 6, "/token") != 0)
        return 1;
    char *name = sl_xstrndup(p + 16, n - 22);
    char *key = object_key(&SL_RES_SERVICEACCOUNT, ns, name);
    int rc = 0;
    const char *aud = json_string_value(
        json_array_get(json_object_get(json_object_get(obj, "spec"), "audiences"), 0));
    if (!json_object_get(fk->objects, key)) {
        rc = kube_err(err, SL_ENOTFOUND, "serviceaccounts \"%s\" not found", name, NULL);
    } else {
        char *token = sl_xasprintf("token:%s:%s:%s", ns, name, aud ? aud : "");
        *out = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind",
                         "TokenRequest", "status", "token", token);
        free(token);
    }
    free(key);
    free(name);
    return rc;
}

static int fake_create(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                       json_t *obj, struct sl_err *err)
{
    struct sl_fake_kube *fk = ctx;
    int rc;
    pthread_mutex_lock(&fk->lock);
    rc = injected_failure(fk, "create", err);
    if (rc == 0 && (rc = token_request_locked(fk, out, res, ns, obj, err)) == 1)
        rc = create_locked(fk, out, res, ns, obj, err);
    pthread_mutex_unlock(&fk->lock);
    return rc;
}

/* Shared by update and update_status. */
static int update_common(struct sl_fake_kube *fk, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, json_t *obj, bool status_only, struct sl_err *err)
{
    const char *verb = status_only ? "update_status" : "update";
    char rname[256];
    int rc = 0;
    char *key = NULL;
    json_t *next = NULL;
    resource_name(rname, sizeof(rname), res);
    pthread_mutex_lock(&fk->lock);
    if ((rc = injected_failure(fk, verb, err)) != 0)
        goto done;
    if (!json_is_object(obj)) {
        rc = kube_err(err, SL_EINVAL, "%s: object must be a JSON object", rname, NULL);
        goto done;
    }
    if ((rc = request_namespace(&ns, res, ns, obj, err)) != 0)
        goto done;
    const char *name = md_str(obj, "name");
    if (is_empty(name)) {
        rc = kube_err(err, SL_EINVAL,
                      "%s is invalid: metadata.name: Required value: name is "
                      "required",
                      rname, NULL);
        goto done;
    }
    key = object_key(res, ns, name);
    json_t *cur = json_object_get(fk->objects, key);
    if (!cur) {
        rc = kube_err(err, SL_ENOTFOUND, "%s \"%s\" not found", rname, name);
        goto done;
    }
    const char *rv = md_str(obj, "resourceVersion");
    if (is_empty(rv)) {
        rc = kube_err(err, SL_EINVAL,
                      "%s \"%s\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must "
                      "be specified for an update",
                      rname, name);
        goto done;
    }
    if (strcmp(rv, md_str(cur, "resourceVersion")) != 0) {
        rc = kube_err(err, SL_ECONFLICT,
                      "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                      "please apply your changes to the latest version and try again",
                      rname, name);
        goto done;
    }
    if (status_only) {
        next = json_deep_copy(cur);
        json_t *status = json_object_get(obj, "status");
        if (status)
            json_object_set_new(next, "status", json_deep_copy(status));
        else
            json_object_del(next, "status");
    } else {
        next = json_deep_copy(obj);
        json_t *next_md = metadata_of(next);
        json_t *cur_md = json_object_get(cur, "metadata");
        /* fields the server owns */
        const char *keep[] = {"uid", "creationTimestamp", "deletionTimestamp", "generation",
                              "namespace"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
            json_t *v = json_object_get(cur_md, keep[i]);
            if (v)
                json_object_set(next_md, keep[i], v);
            else
                json_object_del(next_md, keep[i]);
        }
        if (has_status_subresource(res)) {
            json_t *status = json_object_get(cur, "status");
            if (status)
                json_object_set(next, "status", status);
            else
                json_object_del(next, "status");
        }
        set_type_meta(next, res);
        if (!spec_equal(cur, next)) {
            long long gen = json_integer_value(json_object_get(cur_md, "generation"));
            json_object_set_new(next_md, "generation", json_integer(gen + 1));
        }
    }
    if (!json_equal(cur, next))
        set_rv(fk, next);
    if (out)
        *out = json_deep_copy(next);
    log_write(fk, verb, res, ns, name);
    store(fk, key, next);
    next = NULL;
done:
    pthread_mutex_unlock(&fk->lock);
    json_decref(next);
    free(key);
    return rc;
}

static int fake_update(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                       json_t *obj, struct sl_err *err)
{
    return update_common(ctx, out, res, ns, obj, false, err);
}

static int fake_update_status(void *ctx, json_t **out, const struct sl_kube_resource *res,
                              const char *ns, json_t *obj, struct sl_err *err)
{
    return update_common(ctx, out, res, ns, obj, true, err);
}

static int fake_patch(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                      const char *name, const char *body, const struct sl_kube_patch_opts *opts,
                      struct sl_err *err)
{
    struct sl_fake_kube *fk = ctx;
    char rname[256];
    int rc = 0;
    char *key = NULL;
    json_t *patch = NULL, *next = NULL;
    enum sl_kube_patch_type type = opts ? opts->type : SL_PATCH_MERGE;
    bool status = opts && opts->status;
    resource_name(rname, sizeof(rname), res);
    pthread_mutex_lock(&fk->lock);
    if ((rc = injected_failure(fk, "patch", err)) != 0)
        goto done;
    json_error_t jerr;
    patch = json_loads(body ? body : "", JSON_DECODE_ANY, &jerr);
    if (!patch) {
        rc = kube_err(err, SL_EINVAL, "invalid patch body: %s", jerr.text, NULL);
        goto done;
    }
    if (type != SL_PATCH_JSON && !json_is_object(patch)) {
        rc = kube_err(err, SL_EINVAL, "patch body must be a JSON object", NULL, NULL);
        goto done;
    }
    if ((rc = request_namespace(&ns, res, ns, json_is_object(patch) ? patch : NULL, err)) != 0)
        goto done;
    if (type == SL_PATCH_APPLY && (!opts || is_empty(opts->field_manager))) {
        rc = kube_err(err, SL_EINVAL,
                      "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                      "is required for apply patch",
                      NULL, NULL);
        goto done;
    }
    if (type == SL_PATCH_STRATEGIC && has_status_subresource(res)) {
        rc = kube_err(err, SL_EUNSUPPORTED,
                      "the body of the request was in an unknown format - accepted media types "
                      "include: application/json-patch+json, application/merge-patch+json, "
                      "application/apply-patch+yaml",
                      NULL, NULL);
        goto done;
    }
    key = object_key(res, ns, name);
    json_t *cur = json_object_get(fk->objects, key);
    if (!cur) {
        if (type == SL_PATCH_APPLY && !status) {
            json_t *obj = merge_patch(NULL, patch);
            json_object_set_new(metadata_of(obj), "name", json_string(name));
            rc = create_locked(fk, out, res, ns, obj, err);
            json_decref(obj);
            goto done;
        }
        rc = kube_err(err, SL_ENOTFOUND, "%s \"%s\" not found", rname, name);
        goto done;
    }
    if (type == SL_PATCH_JSON) {
        next = json_patch_apply(cur, patch, err);
        if (!next) {
            rc = SL_EINVAL;
            goto done;
        }
    } else {
        const char *want_rv = md_str(patch, "resourceVersion");
        if (want_rv && strcmp(want_rv, md_str(cur, "resourceVersion")) != 0) {
            rc = kube_err(err, SL_ECONFLICT,
                          "Operation cannot be fulfilled on %s \"%s\": the object has been "
                          "modified; please apply your changes to the latest version and try "
                          "again",
                          rname, name);
            goto done;
        }
        next = merge_patch(cur, patch);
    }
    /* server-owned fields and subresource separation */
    json_t *cur_md = json_object_get(cur, "metadata");
    json_t *next_md = metadata_of(next);
    const char *keep[] = {
        "uid",  "creationTimestamp", "deletionTimestamp", "generation", "namespace",
        "name", "resourceVersion"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        json_t *v = json_object_get(cur_md, keep[i]);
        if (v)
            json_object_set(next_md, keep[i], v);
        else
            json_object_del(next_md, keep[i]);
    }
    set_type_meta(next, res);
    if (status) {
        json_t *new_status = json_incref(json_object_get(next, "status"));
        json_decref(next);
        next = json_deep_copy(cur);
        if (new_status)
            json_object_set_new(next, "status", new_status);
        else
            json_object_del(next, "status");
    } else {
        if (has_status_subresource(res)) {
            json_t *old_status = json_object_get(cur, "status");
            if (old_status)
                json_object_set(next, "status", old_status);
            else
                json_object_del(next, "status");
        }
        if (!spec_equal(cur, next)) {
            long long gen = json_integer_value(json_object_get(cur_md, "generation"));
            json_object_set_new(metadata_of(next), "generation", json_integer(gen + 1));
        }
    }
    if (!json_equal(cur, next))
        set_rv(fk, next);
    if (out)
        *out = json_deep_copy(next);
    log_write(fk, status ? "patch_status" : "patch", res, ns, name);
    store(fk, key, next);
    next = NULL;
done:
    pthread_mutex_unlock(&fk->lock);
    json_decref(patch);
    json_decref(next);
    free(key);
    return rc;
}

static int fake_del(void *ctx, const struct sl_kube_resource *res, const char *ns, const char *name,
                    struct sl_err *err)
{
    struct sl_fake_kube *fk = ctx;
    char rname[256];
    int rc = 0;
    char *key = NULL;
    resource_name(rname, sizeof(rname), res);
    pthread_mutex_lock(&fk->lock);
    if ((rc = injected_failure(fk, "delete", err)) != 0)
        goto done;
    if ((rc = request_namespace(&ns, res, ns, NULL, err)) != 0)
        goto done;
    key = object_key(res, ns, name);
    json_t *cur = json_object_get(fk->objects, key);
    if (!cur) {
        rc = kube_err(err, SL_ENOTFOUND, "%s \"%s\" not found", rname, name);
        goto done;
    }
    if (finalizers_empty(cur)) {
        json_object_del(fk->objects, key);
    } else if (!md_str(cur, "deletionTimestamp")) {
        char ts[32];
        sl_time_now_rfc3339(ts, sizeof(ts));
        json_object_set_new(metadata_of(cur), "deletionTimestamp", json_string(ts));
        set_rv(fk, cur);
    }
    log_write(fk, "delete", res, ns, name);
done:
    pthread_mutex_unlock(&fk->lock);
    free(key);
    return rc;
}

/* ---- public API ---- */

struct sl_fake_kube *sl_fake_kube_new(void)
{
    struct sl_fake_kube *fk = sl_xcalloc(1, sizeof(*fk));
    pthread_mutex_init(&fk->lock, NULL);
    fk->objects = json_object();
    fk->write_log = json_array();
    fk->fail_verbs = json_object();
    fk->next_rv = 1000;
    fk->next_uid = 1;
    return fk;
}

void sl_fake_kube_free(struct sl_fake_kube *fk)
{
    if (!fk)
        return;
    json_decref(fk->objects);
    json_decref(fk->write_log);
    json_decref(fk->fail_verbs);
    pthread_mutex_destroy(&fk->lock);
    free(fk);
}

void sl_fake_kube_ops(struct sl_fake_kube *fk, struct sl_kube_ops *ops)
{
    memset(ops, 0, sizeof(*ops));
    ops->ctx = fk;
    ops->get = fake_get;
    ops->list = fake_list;
    ops->create = fake_create;
    ops->update = fake_update;
    ops->update_status = fake_update_status;
    ops->patch = fake_patch;
    ops->del = fake_del;
}

int sl_fake_kube_put(struct sl_fake_kube *fk, const struct sl_kube_resource *res, json_t *obj)
{
    const char *name = md_str(obj, "name");
    if (!json_is_object(obj) || is_empty(name))
        return SL_EINVAL;
    json_t *copy = json_deep_copy(obj);
    const char *ns = md_str(copy, "namespace");
    if (res->namespaced && is_empty(ns)) {
        json_object_set_new(metadata_of(copy), "namespace", json_string("default"));
        ns = "default";
    }
    pthread_mutex_lock(&fk->lock);
    fill_new_metadata(fk, res, copy, true);
    char *key = object_key(res, ns, name);
    json_object_set_new(fk->objects, key, copy);
    pthread_mutex_unlock(&fk->lock);
    free(key);
    return 0;
}

json_t *sl_fake_kube_find(struct sl_fake_kube *fk, const struct sl_kube_resource *res,
                          const char *ns, const char *name)
{
    char *key = object_key(res, ns ? ns : "", name);
    pthread_mutex_lock(&fk->lock);
    json_t *obj = json_object_get(fk->objects, key);
    pthread_mutex_unlock(&fk->lock);
    free(key);
    return obj;
}

int sl_fake_kube_remove(struct sl_fake_kube *fk, const struct sl_kube_resource *res, const char *ns,
                        const char *name)
{
    char *key = object_key(res, ns ? ns : "", name);
    pthread_mutex_lock(&fk->lock);
    int rc = json_object_del(fk->objects, key) == 0 ? 0 : SL_ENOTFOUND;
    pthread_mutex_unlock(&fk->lock);
    free(key);
    return rc;
}

int sl_fake_kube_count(struct sl_fake_kube *fk, const struct sl_kube_resource *res, const char *ns)
{
    char *prefix = key_prefix(res, ns);
    size_t plen = strlen(prefix);
    int n = 0;
    const char *k;
    json_t *v;
    pthread_mutex_lock(&fk->lock);
    json_object_foreach(fk->objects, k, v)
    {
        if (strncmp(k, prefix, plen) == 0)
            n++;
    }
    pthread_mutex_unlock(&fk->lock);
    free(prefix);
    return n;
}

int sl_fake_kube_writes(struct sl_fake_kube *fk)
{
    pthread_mutex_lock(&fk->lock);
    int n = fk->writes;
    pthread_mutex_unlock(&fk->lock);
    return n;
}

json_t *sl_fake_kube_write_log(struct sl_fake_kube *fk)
{
    return fk->write_log;
}

void sl_fake_kube_fail_next(struct sl_fake_kube *fk, int code)
{
    pthread_mutex_lock(&fk->lock);
    fk->fail_any = code;
    pthread_mutex_unlock(&fk->lock);
}

void sl_fake_kube_fail_next_verb(struct sl_fake_kube *fk, const char *verb, int code)
{
    pthread_mutex_lock(&fk->lock);
    json_object_set_new(fk->fail_verbs, verb, json_integer(code));
    pthread_mutex_unlock(&fk->lock);
}
