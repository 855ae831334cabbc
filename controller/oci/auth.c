#include "oci/auth.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCKER_CONFIG_MAX ((size_t)4 << 20)

int sl_creds_parse_userpass(struct sl_creds *out, const char *s, struct sl_err *err)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || colon == s)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "credentials must be USER:PASSWORD");
    memset(out, 0, sizeof(*out));
    out->username = sl_xstrndup(s, (size_t)(colon - s));
    out->password = sl_xstrdup(colon + 1);
    return 0;
}

void sl_creds_copy(struct sl_creds *out, const struct sl_creds *src)
{
    memset(out, 0, sizeof(*out));
    if (!src)
        return;
    out->username = src->username ? sl_xstrdup(src->username) : NULL;
    out->password = src->password ? sl_xstrdup(src->password) : NULL;
    out->identity_token = src->identity_token ? sl_xstrdup(src->identity_token) : NULL;
}

void sl_creds_free(struct sl_creds *c)
{
    if (!c)
        return;
    free(c->username);
    sl_secure_free_str(c->password);
    sl_secure_free_str(c->identity_token);
    memset(c, 0, sizeof(*c));
}

/* Decodes standard or URL-safe base64, padding optional; what follows the first '=' is
 * ignored. NULL on bad input. */
static char *b64_decode(const char *s, size_t *out_len)
{
    unsigned char *out = NULL;
    if (sl_base64_decode_opts(&out, out_len, s, strcspn(s, "="),
                              SL_BASE64_URLSAFE | SL_BASE64_NOPAD) != 0)
        return NULL;
    return (char *)out;
}

char *sl_auth_basic_value(const struct sl_creds *c)
{
    char *plain =
        sl_xasprintf("%s:%s", c->username ? c->username : "", c->password ? c->password : "");
    char *enc = sl_base64_encode(plain, strlen(plain));
    sl_secure_free_str(plain);
    return enc;
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays. */
static void normalise_key(char *dst, size_t cap, const char *key)
{
    const char *p = key;
    if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else if (strncmp(p, "http://", 7) == 0)
        p += 7;
    size_t n = strcspn(p, "/");
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)p[i]);
    dst[n] = '\0';
}

static int is_docker_hub(const char *h)
{
    return strcmp(h, "docker.io") == 0 || strcmp(h, "index.docker.io") == 0 ||
           strcmp(h, "registry-1.docker.io") == 0;
}

static int entry_to_creds(struct sl_creds *out, json_t *entry, const char *key, struct sl_err *err)
{
    int rc = SL_EINVAL;
    char *decoded = NULL;
    size_t decoded_len = 0;
    struct sl_creds c;
    memset(&c, 0, sizeof(c));
    if (!json_is_object(entry)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "docker config: auths[\"%s\"] is not an "
                        "object",
                        key);
        goto done;
    }
    json_t *auth = json_object_get(entry, "auth");
    json_t *user = json_object_get(entry, "username");
    json_t *pass = json_object_get(entry, "password");
    json_t *idt = json_object_get(entry, "identitytoken");
    if (json_is_string(auth) && json_string_length(auth) > 0) {
        decoded = b64_decode(json_string_value(auth), &decoded_len);
        char *colon = decoded ? memchr(decoded, ':', decoded_len) : NULL;
        if (!colon) {
            rc =
                sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                           "docker config: auths[\"%s\"].auth is not base64 of user:password", key);
            goto done;
        }
        c.username = sl_xstrndup(decoded, (size_t)(colon - decoded));
        c.password = sl_xstrndup(colon + 1, decoded_len - (size_t)(colon + 1 - decoded));
    } else if (json_is_string(user)) {
        c.username = sl_xstrdup(json_string_value(user));
        c.password = sl_xstrdup(json_is_string(pass) ? json_string_value(pass) : "");
    }
    if (json_is_string(idt) && json_string_length(idt) > 0)
        c.identity_token = sl_xstrdup(json_string_value(idt));
    if (!c.username && !c.identity_token) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "docker config: auths[\"%s\"] has neither auth nor username", key);
        goto done;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
done:
    if (decoded)
        sl_secure_free(decoded, decoded_len + 1);
    sl_creds_free(&c);
    return rc;
}

int sl_dockerconfig_lookup(struct sl_creds *out, const char *json, size_t len, const char *registry,
                           struct sl_err *err)
{
    int rc = SL_ENOTFOUND;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "docker config is not a JSON object%s%s",
                        root ? "" : ": ", root ? "" : jerr.text);
        goto done;
    }
    json_t *auths = json_object_get(root, "auths");
    if (!auths) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "docker config has no auths");
        goto done;
    }
    if (!json_is_object(auths)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "docker config: auths is not an object");
        goto done;
    }
    char want[300];
    normalise_key(want, sizeof(want), registry);
    const char *key;
    json_t *entry;
    json_t *found = NULL;
    const char *found_key = NULL;
    json_object_foreach(auths, key, entry)
    {
        char have[300];
        normalise_key(have, sizeof(have), key);
        int match = strcmp(have, want) == 0 || (is_docker_hub(have) && is_docker_hub(want));
        if (!match)
            continue;
        /* an exact key beats a normalised one */
        if (!found || strcmp(key, registry) == 0) {
            found = entry;
            found_key = key;
        }
    }
    if (!found) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "docker config has no credentials for %s",
                        registry);
        goto done;
    }
    rc = entry_to_creds(out, found, found_key, err);
done:
    json_decref(root);
    return rc;
}

int sl_dockerconfig_lookup_default(struct sl_creds *out, const char *registry, struct sl_err *err)
{
    int rc = SL_ENOTFOUND;
    char *path = NULL;
    FILE *f = NULL;
    struct sl_buf b;
    sl_buf_init(&b, DOCKER_CONFIG_MAX);
    const char *dir = getenv("DOCKER_CONFIG");
    if (dir && *dir) {
        path = sl_xasprintf("%s/config.json", dir);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "no HOME for docker config");
            goto done;
        }
        path = sl_xasprintf("%s/.docker/config.json", home);
    }
    f = fopen(path, "rb");
    if (!f) {
        rc = sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS,
                        "cannot open %s: %s", path, strerror(errno));
        goto done;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&b, chunk, n) < 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s is larger than 4 MiB", path);
            goto done;
        }
    }
    rc = sl_dockerconfig_lookup(out, b.data ? b.data : "", b.len, registry, err);
    if (rc < 0 && rc != SL_ENOTFOUND)
        sl_err_prefix(err, "%s", path);
done:
    if (f)
        fclose(f);
    free(path);
    sl_buf_secure_free(&b);
    return rc;
}

/* ---- WWW-Authenticate ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int sl_auth_challenge_parse(struct sl_auth_challenge *out, const char *header, struct sl_err *err)
{
    int rc = SL_EINVAL;
    struct sl_auth_challenge c;
    memset(&c, 0, sizeof(c));
    char *value = NULL;
    if (!header)
        goto bad;
    const char *p = skip_ws(header);
    size_t sn = 0;
    while (p[sn] && p[sn] != ' ' && p[sn] != '\t' && p[sn] != ',')
        sn++;
    if (sn == 0 || sn >= sizeof(c.scheme))
        goto bad;
    memcpy(c.scheme, p, sn);
    c.scheme[sn] = '\0';
    p = skip_ws(p + sn);
    size_t hlen = strlen(header);
    while (*p) {
        const char *name = p;
        while (*p && *p != '=' && *p != ',' && *p != ' ')
            p++;
        size_t name_len = (size_t)(p - name);
        p = skip_ws(p);
        if (*p == ',') { /* empty list element or a token68 */
            p = skip_ws(p + 1);
            continue;
        }
        if (*p != '=') {
            if (!*p)
                break;
            goto bad;
        }
        p = skip_ws(p + 1);
        value = sl_xmalloc(hlen + 1);
        size_t vn = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                value[vn++] = *p++;
            }
            if (*p != '"')
                goto bad;
            p++;
        } else {
            while (*p && *p != ',' && *p != ' ' && *p != '\t')
                value[vn++] = *p++;
        }
        value[vn] = '\0';
        char **slot = NULL;
        if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
            slot = &c.realm;
        else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
            slot = &c.service;
        else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
            slot = &c.scope;
        else if (name_len == 5 && strncasecmp(name, "error", 5) == 0)
            slot = &c.error;
        if (slot && !*slot) {
            *slot = value;
            value = NULL;
        }
        free(value);
        value = NULL;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p)
            break; /* the next challenge starts; sealift uses the first */
    }
    if (strcasecmp(c.scheme, "Bearer") == 0 && (!c.realm || !*c.realm)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "Bearer challenge without realm");
        goto done;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
    goto done;
bad:
    rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "malformed WWW-Authenticate header");
done:
    free(value);
    sl_auth_challenge_free(&c);
    return rc;
}

void sl_auth_challenge_free(struct sl_auth_challenge *c)
{
    if (!c)
        return;
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof(*c));
}

int sl_auth_token_response_parse(char **token_out, int64_t *expires_in_s, const char *json,
                                 size_t len, struct sl_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    int rc = SL_EINVAL;
    if (!json_is_object(root)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "token response is not a JSON object");
        goto done;
    }
    json_t *tok = json_object_get(root, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0)
        tok = json_object_get(root, "access_token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "token response has no token");
        goto done;
    }
    json_t *exp = json_object_get(root, "expires_in");
    int64_t e = json_is_integer(exp) ? json_integer_value(exp) : 60;
    if (e < 60)
        e = 60; /* the distribution spec says tokens live at least 60 seconds */
    *token_out = sl_xstrdup(json_string_value(tok));
    *expires_in_s = e;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- token cache ---- */

struct token_entry {
    char *scope;
    char *token;
    int64_t expires_at_ms;
    struct token_entry *next;
};

struct sl_token_cache {
    pthread_mutex_t mu;
    struct token_entry *head;
};

struct sl_token_cache *sl_token_cache_new(void)
{
    struct sl_token_cache *tc = sl_xcalloc(1, sizeof(*tc));
    pthread_mutex_init(&tc->mu, NULL);
    return tc;
}

static void entry_free(struct token_entry *e)
{
    free(e->scope);
    sl_secure_free_str(e->token);
    free(e);
}

void sl_token_cache_free(struct sl_token_cache *tc)
{
    if (!tc)
        return;
    struct token_entry *e = tc->head;
    while (e) {
        struct token_entry *next = e->next;
        entry_free(e);
        e = next;
    }
    pthread_mutex_destroy(&tc->mu);
    free(tc);
}

char *sl_token_cache_get(struct sl_token_cache *tc, const char *scope, int64_t now_ms)
{
    char *tok = NULL;
    pthread_mutex_lock(&tc->mu);
    for (struct token_entry *e = tc->head; e; e = e->next)
        if (strcmp(e->scope, scope) == 0 && e->expires_at_ms > now_ms) {
            tok = sl_xstrdup(e->token);
            break;
        }
    pthread_mutex_unlock(&tc->mu);
    return tok;
}

void sl_token_cache_drop(struct sl_token_cache *tc, const char *scope)
{
    pthread_mutex_lock(&tc->mu);
    struct token_entry **pp = &tc->head;
    while (*pp) {
        if (strcmp((*pp)->scope, scope) == 0) {
            struct token_entry *e = *pp;
            *pp = e->next;
            entry_free(e);
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&tc->mu);
}

void sl_token_cache_put(struct sl_token_cache *tc, const char *scope, const char *token,
                        int64_t expires_at_ms)
{
    sl_token_cache_drop(tc, scope);
    struct token_entry *e = sl_xcalloc(1, sizeof(*e));
    e->scope = sl_xstrdup(scope);
    e->token = sl_xstrdup(token);
    e->expires_at_ms = expires_at_ms;
    pthread_mutex_lock(&tc->mu);
    e->next = tc->head;
    tc->head = e;
    pthread_mutex_unlock(&tc->mu);
}
