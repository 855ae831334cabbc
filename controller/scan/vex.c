/* OpenVEX parsing and matching (see vex.h). */
#include "scan/vex.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oci/ref.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define CONTEXT_PREFIX "https://openvex.dev/ns"

static const char *const justifications[] = {
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
};

void sl_vex_init(struct sl_vex *vex)
{
    memset(vex, 0, sizeof(*vex));
}

static void product_free(struct sl_vex_product *p)
{
    free(p->id);
    free(p->repository);
    for (size_t i = 0; i < p->nsubcomponents; i++) {
        free(p->subcomponents[i].name);
        free(p->subcomponents[i].version);
    }
    free(p->subcomponents);
}

static void statement_free(struct sl_vex_statement *st)
{
    free(st->vulnerability);
    for (size_t i = 0; i < st->naliases; i++)
        free(st->aliases[i]);
    free(st->aliases);
    for (size_t i = 0; i < st->nproducts; i++)
        product_free(&st->products[i]);
    free(st->products);
    free(st->justification);
    free(st->impact_statement);
}

void sl_vex_free(struct sl_vex *vex)
{
    if (!vex)
        return;
    for (size_t i = 0; i < vex->nstatements; i++)
        statement_free(&vex->statements[i]);
    free(vex->statements);
    for (size_t i = 0; i < vex->ndocs; i++)
        free(vex->docs[i]);
    free(vex->docs);
    memset(vex, 0, sizeof(*vex));
}

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

static void product_copy(struct sl_vex_product *dst, const struct sl_vex_product *src)
{
    *dst = *src;
    dst->id = dup_or_null(src->id);
    dst->repository = dup_or_null(src->repository);
    dst->subcomponents =
        src->nsubcomponents ? sl_xcalloc(src->nsubcomponents, sizeof(*dst->subcomponents)) : NULL;
    for (size_t i = 0; i < src->nsubcomponents; i++) {
        dst->subcomponents[i].name = dup_or_null(src->subcomponents[i].name);
        dst->subcomponents[i].version = dup_or_null(src->subcomponents[i].version);
    }
}

static void statement_copy(struct sl_vex_statement *dst, const struct sl_vex_statement *src,
                           size_t doc_offset)
{
    *dst = *src;
    dst->doc = src->doc + doc_offset;
    dst->vulnerability = dup_or_null(src->vulnerability);
    dst->justification = dup_or_null(src->justification);
    dst->impact_statement = dup_or_null(src->impact_statement);
    dst->aliases = src->naliases ? sl_xcalloc(src->naliases, sizeof(*dst->aliases)) : NULL;
    for (size_t i = 0; i < src->naliases; i++)
        dst->aliases[i] = dup_or_null(src->aliases[i]);
    dst->products = src->nproducts ? sl_xcalloc(src->nproducts, sizeof(*dst->products)) : NULL;
    for (size_t i = 0; i < src->nproducts; i++)
        product_copy(&dst->products[i], &src->products[i]);
}

int sl_vex_append(struct sl_vex *dst, const struct sl_vex *src, struct sl_err *err)
{
    if (!src || src->nstatements + src->ndocs == 0)
        return 0;
    if (dst->nstatements + src->nstatements > SL_VEX_MAX_SET_STATEMENTS)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "more than %d statements in all VEX documents",
                          SL_VEX_MAX_SET_STATEMENTS);
    size_t doc_offset = dst->ndocs;
    dst->docs = sl_xrealloc(dst->docs, (dst->ndocs + src->ndocs) * sizeof(*dst->docs));
    for (size_t i = 0; i < src->ndocs; i++)
        dst->docs[dst->ndocs++] = sl_xstrdup(src->docs[i]);
    dst->statements = sl_xrealloc(dst->statements,
                                  (dst->nstatements + src->nstatements) * sizeof(*dst->statements));
    for (size_t i = 0; i < src->nstatements; i++)
        statement_copy(&dst->statements[dst->nstatements++], &src->statements[i], doc_offset);
    return 0;
}

const char *sl_vex_status_name(enum sl_vex_status status)
{
    switch (status) {
    case SL_VEX_NOT_AFFECTED:
        return "not_affected";
    case SL_VEX_AFFECTED:
        return "affected";
    case SL_VEX_FIXED:
        return "fixed";
    default:
        return "under_investigation";
    }
}

bool sl_vex_status_suppresses(enum sl_vex_status status)
{
    return status == SL_VEX_NOT_AFFECTED || status == SL_VEX_FIXED;
}

const char *sl_vex_doc_name(const struct sl_vex *vex, const struct sl_vex_statement *st)
{
    return st->doc < vex->ndocs ? vex->docs[st->doc] : "";
}

/* ---- parsing ---- */

/* Parsing state of one document: errors are prefixed with its name. */
struct doc_ctx {
    const char *name;
    struct sl_err *err;
};

static int fail(struct doc_ctx *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct doc_ctx *d, int code, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_err_set(d->err, code, SL_ERRC_INPUT, "%.160s: %s", d->name, msg);
}

/* A bounded, non-empty string member without NUL bytes; *out NULL when absent. Returns 0 or
 * SL_EINVAL (wrong type, empty, too long). */
static int get_str(const char **out, struct doc_ctx *d, const json_t *obj, const char *key,
                   const char *where, bool required)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(d, SL_EINVAL, "%s.%s: Required value", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(d, SL_EINVAL, "%s.%s: Invalid value: want a string", where, key);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0)
        return fail(d, SL_EINVAL, "%s.%s: Invalid value: empty", where, key);
    if (len > SL_VEX_MAX_STRING)
        return fail(d, SL_EINVAL, "%s.%s: Too long: more than %d bytes", where, key,
                    SL_VEX_MAX_STRING);
    if (strlen(s) != len)
        return fail(d, SL_EINVAL, "%s.%s: Invalid value: holds a NUL byte", where, key);
    *out = s;
    return 0;
}

static int get_time(time_t *out, bool *present, struct doc_ctx *d, const json_t *obj,
                    const char *key, const char *where)
{
    const char *s = NULL;
    *present = false;
    int rc = get_str(&s, d, obj, key, where, false);
    if (rc != 0 || !s)
        return rc;
    if (sl_time_parse_rfc3339(out, s) != 0)
        return fail(d, SL_EINVAL, "%s.%s: Invalid value: \"%.40s\": want an RFC 3339 time", where,
                    key, s);
    *present = true;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or a NUL byte. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = sl_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

struct purl {
    char type[32];
    char *name;
    char *version;        /* decoded, or NULL */
    char *repository_url; /* decoded qualifier, or NULL */
};

static void purl_free(struct purl *p)
{
    free(p->name);
    free(p->version);
    free(p->repository_url);
    memset(p, 0, sizeof(*p));
}

/* Parses "pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH". Returns 0 or -1 (malformed). */
static int purl_parse(struct purl *out, const char *s)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(s, "pkg:", 4) != 0)
        return -1;
    s += 4;
    while (*s == '/')
        s++;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= sizeof(out->type))
        return -1;
    for (const char *c = s; c < slash; c++)
        out->type[c - s] = (char)tolower((unsigned char)*c);
    out->type[slash - s] = '\0';
    const char *path = slash + 1;
    size_t end = strcspn(path, "?#");
    const char *quals = path[end] == '?' ? path + end + 1 : NULL;
    size_t quals_len = quals ? strcspn(quals, "#") : 0;
    /* the version follows the last '@' of the path */
    const char *at = NULL;
    for (const char *c = path; c < path + end; c++)
        if (*c == '@')
            at = c;
    const char *name_end = at ? at : path + end;
    while (name_end > path && name_end[-1] == '/')
        name_end--;
    const char *name = name_end;
    while (name > path && name[-1] != '/')
        name--;
    if (name == name_end)
        return -1;
    out->name = pct_decode(name, (size_t)(name_end - name));
    if (!out->name)
        goto bad;
    if (at) {
        out->version = pct_decode(at + 1, (size_t)(path + end - at - 1));
        if (!out->version || !out->version[0])
            goto bad;
    }
    for (size_t i = 0; quals && i < quals_len;) {
        size_t n = strcspn(quals + i, "&");
        if (n > quals_len - i)
            n = quals_len - i;
        const char *kv = quals + i;
        if (n > 15 && strncasecmp(kv, "repository_url=", 15) == 0) {
            free(out->repository_url);
            out->repository_url = pct_decode(kv + 15, n - 15);
            if (!out->repository_url)
                goto bad;
        }
        i += n + 1;
    }
    return 0;
bad:
    purl_free(out);
    return -1;
}

/* "docker.io" for Docker Hub's API hosts, so repositories compare equal however written. */
static const char *canonical_registry(const char *host)
{
    if (strcasecmp(host, "registry-1.docker.io") == 0 || strcasecmp(host, "index.docker.io") == 0 ||
        strcasecmp(host, "registry.hub.docker.com") == 0)
        return SL_REF_DOCKER_HUB;
    return host;
}

/* "registry/repo" of a reference text without tag or digest; NULL when it is no reference. */
static char *repository_of(const char *text, bool *has_tag, char digest[72])
{
    struct sl_ref ref;
    struct sl_err e = {0};
    if (sl_ref_parse(&ref, text, &e) != 0)
        return NULL;
    *has_tag = ref.tag != NULL;
    if (ref.digest)
        snprintf(digest, 72, "%s", ref.digest);
    char *repo = sl_xasprintf("%s/%s", canonical_registry(ref.registry), ref.repository);
    sl_ref_free(&ref);
    return repo;
}

static int parse_subcomponent(struct sl_vex_package *out, struct doc_ctx *d, const json_t *sc,
                              const char *where)
{
    const char *id = NULL, *purl_text = NULL;
    if (!json_is_object(sc))
        return fail(d, SL_EINVAL, "%s: Invalid value: want an object", where);
    int rc = get_str(&id, d, sc, "@id", where, false);
    if (rc == 0)
        rc = get_str(&purl_text, d, json_object_get(sc, "identifiers"), "purl", where, false);
    if (rc != 0)
        return rc;
    const char *text = purl_text ? purl_text : id;
    if (!text)
        return fail(d, SL_EINVAL, "%s.@id: Required value", where);
    if (strncmp(text, "pkg:", 4) != 0) {
        out->name = sl_xstrdup(text);
        return 0;
    }
    struct purl p;
    if (purl_parse(&p, text) != 0)
        return fail(d, SL_EINVAL, "%s.@id: Invalid value: \"%.200s\" is not a package URL", where,
                    text);
    out->name = p.name;
    out->version = p.version;
    p.name = p.version = NULL;
    purl_free(&p);
    return 0;
}

/* Fills the image identity of a product from its purl or reference text. */
static int product_identity(struct sl_vex_product *out, struct doc_ctx *d, const char *text,
                            const char *where)
{
    if (strncmp(text, "pkg:", 4) == 0) {
        struct purl p;
        if (purl_parse(&p, text) != 0)
            return fail(d, SL_EINVAL, "%s.@id: Invalid value: \"%.200s\" is not a package URL",
                        where, text);
        int rc = 0;
        if (strcmp(p.type, "oci") != 0 && strcmp(p.type, "docker") != 0)
            goto done; /* another kind of product: kept, never matches an image */
        if (p.version && !sl_ref_is_digest(p.version)) {
            rc = fail(d, SL_EINVAL,
                      "%s.@id: Invalid value: \"%.200s\": the version of a pkg:%s purl must be a "
                      "sha256 digest (sha256%%3A<hex>)",
                      where, text, p.type);
            goto done;
        }
        out->image = true;
        if (p.version)
            snprintf(out->digest, sizeof(out->digest), "%s", p.version);
        if (p.repository_url) {
            const char *u = p.repository_url;
            if (strncmp(u, "https://", 8) == 0)
                u += 8;
            else if (strncmp(u, "http://", 7) == 0)
                u += 7;
            bool has_tag = false;
            char ignored[72] = "";
            out->repository = repository_of(u, &has_tag, ignored);
            if (!out->repository || has_tag || ignored[0]) {
                rc = fail(d, SL_EINVAL,
                          "%s.@id: Invalid value: repository_url \"%.200s\" is not a repository",
                          where, p.repository_url);
                goto done;
            }
        }
        if (!out->digest[0] && !out->repository)
            rc = fail(d, SL_EINVAL,
                      "%s.@id: Invalid value: \"%.200s\" names neither a digest nor a "
                      "repository_url",
                      where, text);
    done:
        purl_free(&p);
        return rc;
    }
    if (sl_ref_is_digest(text)) {
        out->image = true;
        snprintf(out->digest, sizeof(out->digest), "%s", text);
        return 0;
    }
    bool has_tag = false;
    out->repository = repository_of(text, &has_tag, out->digest);
    if (!out->repository)
        return fail(d, SL_EINVAL,
                    "%s.@id: Invalid value: \"%.200s\" is neither a package URL nor an image "
                    "reference",
                    where, text);
    if (has_tag && !out->digest[0])
        return fail(d, SL_EINVAL,
                    "%s.@id: Invalid value: \"%.200s\" names a tag, which can move; name the "
                    "image by digest (REPOSITORY@sha256:...) or the whole repository",
                    where, text);
    out->image = true;
    return 0;
}

static int parse_product(struct sl_vex_product *out, struct doc_ctx *d, const json_t *pr,
                         const char *where)
{
    const char *id = NULL, *purl_text = NULL;
    char sub_where[160];
    if (!json_is_object(pr))
        return fail(d, SL_EINVAL, "%s: Invalid value: want an object", where);
    int rc = get_str(&id, d, pr, "@id", where, false);
    if (rc == 0)
        rc = get_str(&purl_text, d, json_object_get(pr, "identifiers"), "purl", where, false);
    if (rc != 0)
        return rc;
    /* identifiers.purl says what the product is when @id is another IRI */
    const char *text = purl_text ? purl_text : id;
    if (!text)
        return fail(d, SL_EINVAL, "%s.@id: Required value", where);
    out->id = sl_xstrdup(text);
    if (strncmp(text, "https://", 8) == 0 || strncmp(text, "http://", 7) == 0 ||
        strncmp(text, "urn:", 4) == 0)
        return 0; /* an IRI naming something else than an image: kept, never matches */
    rc = product_identity(out, d, text, where);
    if (rc != 0)
        return rc;
    json_t *subs = json_object_get(pr, "subcomponents");
    if (subs && !json_is_array(subs))
        return fail(d, SL_EINVAL, "%s.subcomponents: Invalid value: want an array", where);
    size_t n = json_array_size(subs);
    if (n > SL_VEX_MAX_SUBCOMPONENTS)
        return fail(d, SL_ETOOBIG, "%s.subcomponents: Too many: more than %d", where,
                    SL_VEX_MAX_SUBCOMPONENTS);
    if (n)
        out->subcomponents = sl_xcalloc(n, sizeof(*out->subcomponents));
    for (size_t i = 0; i < n; i++) {
        snprintf(sub_where, sizeof(sub_where), "%s.subcomponents[%zu]", where, i);
        rc = parse_subcomponent(&out->subcomponents[i], d, json_array_get(subs, i), sub_where);
        if (rc != 0)
            return rc;
        out->nsubcomponents++;
    }
    return 0;
}

static int parse_status(enum sl_vex_status *out, const char *s)
{
    static const enum sl_vex_status all[] = {SL_VEX_NOT_AFFECTED, SL_VEX_AFFECTED, SL_VEX_FIXED,
                                             SL_VEX_UNDER_INVESTIGATION};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, sl_vex_status_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

static int parse_vulnerability(struct sl_vex_statement *st, struct doc_ctx *d, const json_t *v,
                               const char *where)
{
    char w[96];
    snprintf(w, sizeof(w), "%s.vulnerability", where);
    const char *name = NULL;
    if (!v)
        return fail(d, SL_EINVAL, "%s: Required value", w);
    if (json_is_string(v)) { /* the first drafts: the vulnerability's name as a string */
        json_t *wrap = json_pack("{s:O}", "name", v);
        int rc = get_str(&name, d, wrap, "name", w, true);
        if (rc == 0)
            st->vulnerability = sl_xstrdup(name);
        json_decref(wrap);
        return rc;
    }
    if (!json_is_object(v))
        return fail(d, SL_EINVAL, "%s: Invalid value: want an object", w);
    int rc = get_str(&name, d, v, "name", w, true);
    if (rc != 0)
        return rc;
    st->vulnerability = sl_xstrdup(name);
    json_t *aliases = json_object_get(v, "aliases");
    if (aliases && !json_is_array(aliases))
        return fail(d, SL_EINVAL, "%s.aliases: Invalid value: want an array of strings", w);
    size_t n = json_array_size(aliases);
    if (n > SL_VEX_MAX_ALIASES)
        return fail(d, SL_ETOOBIG, "%s.aliases: Too many: more than %d", w, SL_VEX_MAX_ALIASES);
    if (n)
        st->aliases = sl_xcalloc(n, sizeof(*st->aliases));
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(aliases, i);
        size_t len = json_string_length(a);
        if (!json_is_string(a) || len == 0 || len > SL_VEX_MAX_STRING ||
            strlen(json_string_value(a)) != len)
            return fail(d, SL_EINVAL, "%s.aliases[%zu]: Invalid value: want a non-empty string", w,
                        i);
        st->aliases[st->naliases++] = sl_xstrdup(json_string_value(a));
    }
    return 0;
}

static int parse_statement(struct sl_vex_statement *st, struct doc_ctx *d, const json_t *s,
                           size_t index, time_t doc_time)
{
    char where[64];
    snprintf(where, sizeof(where), "statements[%zu]", index);
    if (!json_is_object(s))
        return fail(d, SL_EINVAL, "%s: Invalid value: want an object", where);
    int rc = parse_vulnerability(st, d, json_object_get(s, "vulnerability"), where);
    if (rc != 0)
        return rc;
    const char *status = NULL, *just = NULL, *impact = NULL;
    if ((rc = get_str(&status, d, s, "status", where, true)) != 0)
        return rc;
    if (parse_status(&st->status, status) != 0)
        return fail(d, SL_EINVAL,
                    "%s.status: Unsupported value: \"%.40s\": supported values: \"not_affected\", "
                    "\"affected\", \"fixed\", \"under_investigation\"",
                    where, status);
    if ((rc = get_str(&just, d, s, "justification", where, false)) != 0 ||
        (rc = get_str(&impact, d, s, "impact_statement", where, false)) != 0)
        return rc;
    if (just) {
        bool known = false;
        for (size_t i = 0; i < sizeof(justifications) / sizeof(justifications[0]); i++)
            known = known || strcmp(just, justifications[i]) == 0;
        if (!known)
            return fail(d, SL_EINVAL,
                        "%s.justification: Unsupported value: \"%.60s\": supported values: "
                        "\"component_not_present\", \"vulnerable_code_not_present\", "
                        "\"vulnerable_code_not_in_execute_path\", "
                        "\"vulnerable_code_cannot_be_controlled_by_adversary\", "
                        "\"inline_mitigations_already_exist\"",
                        where, just);
        st->justification = sl_xstrdup(just);
    }
    if (impact)
        st->impact_statement = sl_xstrdup(impact);
    /* the specification's rule: a not_affected statement says why */
    if (st->status == SL_VEX_NOT_AFFECTED && !just && !impact)
        return fail(d, SL_EINVAL,
                    "%s: Required value: a not_affected statement needs a justification or an "
                    "impact_statement",
                    where);
    time_t ts = 0, upd = 0;
    bool has_ts = false, has_upd = false;
    if ((rc = get_time(&ts, &has_ts, d, s, "timestamp", where)) != 0 ||
        (rc = get_time(&upd, &has_upd, d, s, "last_updated", where)) != 0)
        return rc;
    st->time = has_upd ? upd : (has_ts ? ts : doc_time);
    json_t *products = json_object_get(s, "products");
    if (!products)
        return fail(d, SL_EINVAL, "%s.products: Required value", where);
    if (!json_is_array(products) || json_array_size(products) == 0)
        return fail(d, SL_EINVAL, "%s.products: Invalid value: want a non-empty array", where);
    size_t n = json_array_size(products);
    if (n > SL_VEX_MAX_PRODUCTS)
        return fail(d, SL_ETOOBIG, "%s.products: Too many: more than %d", where,
                    SL_VEX_MAX_PRODUCTS);
    st->products = sl_xcalloc(n, sizeof(*st->products));
    for (size_t i = 0; i < n; i++) {
        char pw[96];
        snprintf(pw, sizeof(pw), "%s.products[%zu]", where, i);
        st->nproducts++;
        rc = parse_product(&st->products[i], d, json_array_get(products, i), pw);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sl_vex_load(struct sl_vex *vex, const char *name, const char *data, size_t len,
                struct sl_err *err)
{
    struct doc_ctx d = {name ? name : "VEX document", err};
    json_t *root = NULL;
    struct sl_vex_statement *sts = NULL;
    size_t nsts = 0;
    int rc = 0;
    if (len > SL_VEX_MAX_DOC_BYTES) {
        rc = fail(&d, SL_ETOOBIG, "larger than %zu MiB", SL_VEX_MAX_DOC_BYTES >> 20);
        goto done;
    }
    json_error_t jerr;
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = fail(&d, SL_EINVAL, "not JSON: %.120s at line %d", jerr.text, jerr.line);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = fail(&d, SL_EINVAL, "not an OpenVEX document: want a JSON object");
        goto done;
    }
    const char *context = NULL;
    if ((rc = get_str(&context, &d, root, "@context", "document", true)) != 0)
        goto done;
    if (strncmp(context, CONTEXT_PREFIX, strlen(CONTEXT_PREFIX)) != 0) {
        rc = fail(&d, SL_EINVAL,
                  "document.@context: Unsupported value: \"%.100s\": not an OpenVEX document "
                  "(want %s/v0.2.0)",
                  context, CONTEXT_PREFIX);
        goto done;
    }
    time_t doc_time = 0, doc_upd = 0;
    bool has_time = false, has_upd = false;
    if ((rc = get_time(&doc_time, &has_time, &d, root, "timestamp", "document")) != 0 ||
        (rc = get_time(&doc_upd, &has_upd, &d, root, "last_updated", "document")) != 0)
        goto done;
    if (!has_time) {
        rc = fail(&d, SL_EINVAL, "document.timestamp: Required value");
        goto done;
    }
    json_t *statements = json_object_get(root, "statements");
    if (!json_is_array(statements) || json_array_size(statements) == 0) {
        rc = fail(&d, SL_EINVAL, "document.statements: %s",
                  statements ? "Invalid value: want a non-empty array" : "Required value");
        goto done;
    }
    size_t n = json_array_size(statements);
    if (n > SL_VEX_MAX_STATEMENTS) {
        rc = fail(&d, SL_ETOOBIG, "document.statements: Too many: more than %d",
                  SL_VEX_MAX_STATEMENTS);
        goto done;
    }
    if (vex->nstatements + n > SL_VEX_MAX_SET_STATEMENTS) {
        rc = fail(&d, SL_ETOOBIG, "more than %d statements in all VEX documents",
                  SL_VEX_MAX_SET_STATEMENTS);
        goto done;
    }
    sts = sl_xcalloc(n, sizeof(*sts));
    for (size_t i = 0; i < n; i++) {
        nsts++;
        sts[i].doc = vex->ndocs;
        rc = parse_statement(&sts[i], &d, json_array_get(statements, i), i,
                             has_upd ? doc_upd : doc_time);
        if (rc != 0)
            goto done;
    }
    vex->statements =
        sl_xrealloc(vex->statements, (vex->nstatements + n) * sizeof(*vex->statements));
    memcpy(vex->statements + vex->nstatements, sts, n * sizeof(*sts));
    vex->nstatements += n;
    vex->docs = sl_xrealloc(vex->docs, (vex->ndocs + 1) * sizeof(*vex->docs));
    vex->docs[vex->ndocs++] = sl_xstrdup(d.name);
    free(sts);
    sts = NULL;
    nsts = 0;
done:
    for (size_t i = 0; i < nsts; i++)
        statement_free(&sts[i]);
    free(sts);
    json_decref(root);
    return rc;
}

/* ---- matching ---- */

static bool names_vuln(const struct sl_vex_statement *st, const char *id)
{
    if (strcasecmp(st->vulnerability, id) == 0)
        return true;
    for (size_t i = 0; i < st->naliases; i++)
        if (strcasecmp(st->aliases[i], id) == 0)
            return true;
    return false;
}

static bool names_image(const struct sl_vex_product *p, const struct sl_vex_image *img)
{
    if (!p->image)
        return false;
    if (p->digest[0])
        return (img->digest && strcmp(p->digest, img->digest) == 0) ||
               (img->index_digest && strcmp(p->digest, img->index_digest) == 0);
    if (!p->repository || !img->repository)
        return false;
    const char *slash = strchr(img->repository, '/');
    if (!slash)
        return false;
    /* the registry part compares as canonical_registry does, the path exactly */
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(slash - img->repository), img->repository);
    const char *canon = canonical_registry(host);
    size_t clen = strlen(canon);
    return strncasecmp(p->repository, canon, clen) == 0 && p->repository[clen] == '/' &&
           strcmp(p->repository + clen + 1, slash + 1) == 0;
}

static bool names_package(const struct sl_vex_product *p, const char *pkg, const char *src_pkg,
                          const char *version)
{
    if (p->nsubcomponents == 0)
        return true;
    for (size_t i = 0; i < p->nsubcomponents; i++) {
        const struct sl_vex_package *s = &p->subcomponents[i];
        bool name_ok =
            (pkg && strcmp(s->name, pkg) == 0) || (src_pkg && strcmp(s->name, src_pkg) == 0);
        if (name_ok && (!s->version || (version && strcmp(s->version, version) == 0)))
            return true;
    }
    return false;
}

const struct sl_vex_statement *sl_vex_decide(const struct sl_vex *vex,
                                             const struct sl_vex_image *img, const char *vuln_id,
                                             const char *pkg, const char *src_pkg,
                                             const char *version)
{
    const struct sl_vex_statement *best = NULL;
    if (!vex || !vuln_id)
        return NULL;
    for (size_t i = 0; i < vex->nstatements; i++) {
        const struct sl_vex_statement *st = &vex->statements[i];
        if (!names_vuln(st, vuln_id))
            continue;
        bool match = false;
        for (size_t k = 0; k < st->nproducts && !match; k++)
            match = names_image(&st->products[k], img) &&
                    names_package(&st->products[k], pkg, src_pkg, version);
        /* ">=": among equal times, the statement loaded last wins */
        if (match && (!best || st->time >= best->time))
            best = st;
    }
    return best;
}
