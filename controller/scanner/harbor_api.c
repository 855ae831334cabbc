/* Harbor Pluggable Scanner API v1.1 wire format (see harbor_api.h). */
#include "scanner/harbor_api.h"

#include "util/base64.h"
#include "util/mem.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const consumed[] = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
};

void sl_harbor_scan_request_free(struct sl_harbor_scan_request *r)
{
    if (!r)
        return;
    free(r->registry_url);
    sl_secure_free_str(r->authorization);
    free(r->repository);
    free(r->digest);
    free(r->tag);
    free(r->mime_type);
    memset(r, 0, sizeof(*r));
}

static void set_opt(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

char *sl_harbor_scan_request_json(const struct sl_harbor_scan_request *r)
{
    json_t *reg = json_object(), *art = json_object();
    set_opt(reg, "url", r->registry_url);
    set_opt(reg, "authorization", r->authorization);
    set_opt(art, "repository", r->repository);
    set_opt(art, "digest", r->digest);
    set_opt(art, "tag", r->tag);
    set_opt(art, "mime_type", r->mime_type);
    json_t *root = json_pack("{s:o, s:o}", "registry", reg, "artifact", art);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        sl_xmalloc((size_t)-1); /* the allocation policy: abort with a message */
    char *out = sl_xstrdup(text);
    sl_secure_free_str(text);
    return out;
}

/* Reads an optional string member; a member of another type is SL_EINVAL. */
static int get_str(char **out, const json_t *obj, const char *parent, const char *key,
                   bool required, struct sl_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s.%s: Required value", parent, key);
        return 0;
    }
    if (!json_is_string(v))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s.%s: must be a string", parent, key);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s.%s: contains a NUL character", parent,
                          key);
    if (required && !*s)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s.%s: Required value", parent, key);
    *out = sl_xstrdup(s);
    return 0;
}

static bool digest_ok(const char *d)
{
    const char *colon = strchr(d, ':');
    if (!colon || colon == d || !colon[1])
        return false;
    for (const char *p = d; p < colon; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("+._-", *p))
            return false;
    for (const char *p = colon + 1; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
            return false;
    return true;
}

int sl_harbor_scan_request_parse(struct sl_harbor_scan_request *out, const char *json, size_t len,
                                 struct sl_err *err)
{
    struct sl_harbor_scan_request r;
    memset(&r, 0, sizeof(r));
    json_error_t jerr;
    int rc = 0;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "the scan request is not a JSON object%s%s",
                        root ? "" : ": ", root ? "" : jerr.text);
        goto done;
    }
    json_t *reg = json_object_get(root, "registry"), *art = json_object_get(root, "artifact");
    if (!json_is_object(reg)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "registry: Required object");
        goto done;
    }
    if (!json_is_object(art)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "artifact: Required object");
        goto done;
    }
    if ((rc = get_str(&r.registry_url, reg, "registry", "url", true, err)) != 0 ||
        (rc = get_str(&r.authorization, reg, "registry", "authorization", false, err)) != 0 ||
        (rc = get_str(&r.repository, art, "artifact", "repository", true, err)) != 0 ||
        (rc = get_str(&r.digest, art, "artifact", "digest", true, err)) != 0 ||
        (rc = get_str(&r.tag, art, "artifact", "tag", false, err)) != 0 ||
        (rc = get_str(&r.mime_type, art, "artifact", "mime_type", false, err)) != 0)
        goto done;
    if (strncmp(r.registry_url, "http://", 7) != 0 && strncmp(r.registry_url, "https://", 8) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "registry.url: Invalid value: want an http:// or https:// URL");
        goto done;
    }
    if (!digest_ok(r.digest)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "artifact.digest: Invalid value: want algorithm:hex");
        goto done;
    }
done:
    json_decref(root);
    if (rc == 0)
        *out = r;
    else
        sl_harbor_scan_request_free(&r);
    return rc;
}

bool sl_harbor_consumes(const char *mime)
{
    for (size_t i = 0; mime && i < sizeof(consumed) / sizeof(consumed[0]); i++)
        if (strcmp(mime, consumed[i]) == 0)
            return true;
    return false;
}

static char *dump(json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        sl_xmalloc((size_t)-1);
    return text;
}

char *sl_harbor_error_json(const char *message)
{
    return dump(json_pack("{s:{s:s}}", "error", "message", message ? message : ""));
}

static void printable_copy(char *out, size_t cap, const char *s, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < cap; i++)
        out[j++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    while (j > 0 && out[j - 1] == ' ')
        j--;
    if (cap)
        out[j] = '\0';
}

void sl_harbor_error_message(char *out, size_t cap, const char *body, size_t len)
{
    if (!cap)
        return;
    out[0] = '\0';
    if (!body || !len)
        return;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *m = json_object_get(json_object_get(root, "error"), "message");
    if (json_is_string(m))
        printable_copy(out, cap, json_string_value(m), json_string_length(m));
    else
        printable_copy(out, cap > 201 ? 201 : cap, body, len);
    json_decref(root);
}

char *sl_harbor_scan_response_json(const char *id)
{
    return dump(json_pack("{s:s}", "id", id));
}

int sl_harbor_scan_response_parse(char **id_out, const char *json, size_t len, struct sl_err *err)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *id = json_object_get(root, "id");
    int rc = 0;
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 256 ||
        strlen(json_string_value(id)) != json_string_length(id))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "the scan response has no id (want {\"id\": \"...\"})");
    else
        *id_out = sl_xstrdup(json_string_value(id));
    json_decref(root);
    return rc;
}

char *sl_harbor_metadata_json(const struct sl_harbor_scanner *s, const char *db_updated)
{
    json_t *props =
        json_pack("{s:s}", "harbor.scanner-adapter/scanner-type", "os-package-vulnerability");
    if (db_updated)
        json_object_set_new(props, "harbor.scanner-adapter/vulnerability-database-updated-at",
                            json_string(db_updated));
    json_t *cons = json_array();
    for (size_t i = 0; i < sizeof(consumed) / sizeof(consumed[0]); i++)
        json_array_append_new(cons, json_string(consumed[i]));
    return dump(json_pack("{s:{s:s, s:s, s:s}, s:[{s:o, s:[s]}], s:o}", "scanner", "name", s->name,
                          "vendor", s->vendor, "version", s->version, "capabilities",
                          "consumes_mime_types", cons, "produces_mime_types", SL_HARBOR_REPORT_MT,
                          "properties", props));
}

static bool in_list(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void copy_field(char *out, size_t cap, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        printable_copy(out, cap, json_string_value(v), json_string_length(v));
    else
        out[0] = '\0';
}

/* Appends the string members of arr to out as "a, b". */
static void list_text(char *out, size_t cap, const json_t *arr)
{
    size_t i, len = strlen(out);
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || len >= cap)
            continue;
        int n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", json_string_value(v));
        if (n > 0)
            len += (size_t)n;
    }
}

int sl_harbor_metadata_check(struct sl_harbor_scanner *out, const char *json, size_t len,
                             const char *artifact_mime, struct sl_err *err)
{
    int rc = 0;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *scanner = json_object_get(root, "scanner");
    json_t *caps = json_object_get(root, "capabilities");
    if (!json_is_object(root) || !json_is_object(scanner) || !json_is_array(caps)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                        "malformed metadata: want an object with scanner and capabilities");
        goto done;
    }
    struct sl_harbor_scanner s;
    copy_field(s.name, sizeof(s.name), scanner, "name");
    copy_field(s.vendor, sizeof(s.vendor), scanner, "vendor");
    copy_field(s.version, sizeof(s.version), scanner, "version");
    bool found = false;
    char cons_text[256] = "", prod_text[256] = "";
    size_t i;
    json_t *cap;
    json_array_foreach(caps, i, cap)
    {
        json_t *cons = json_object_get(cap, "consumes_mime_types");
        json_t *prod = json_object_get(cap, "produces_mime_types");
        list_text(cons_text, sizeof(cons_text), cons);
        list_text(prod_text, sizeof(prod_text), prod);
        bool consumes = artifact_mime ? in_list(cons, artifact_mime)
                                      : in_list(cons, consumed[0]) || in_list(cons, consumed[1]);
        if (consumes && in_list(prod, SL_HARBOR_REPORT_MT))
            found = true;
    }
    if (!found) {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_SCANNER,
                        "the adapter has no capability consuming %s and producing \"%s\" "
                        "(consumes: %s; produces: %s)",
                        artifact_mime ? artifact_mime : "image manifests", SL_HARBOR_REPORT_MT,
                        cons_text[0] ? cons_text : "nothing", prod_text[0] ? prod_text : "nothing");
        goto done;
    }
    if (out)
        *out = s;
done:
    json_decref(root);
    return rc;
}

/* Whether candidate[0..len) equals token, in time independent of where they differ. */
static bool token_equal(const char *candidate, size_t len, const char *token)
{
    unsigned char a[32], b[32];
    unsigned int alen = 0, blen = 0;
    if (EVP_Digest(candidate, len, a, &alen, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(token, strlen(token), b, &blen, EVP_sha256(), NULL) != 1 || alen != 32 ||
        blen != 32)
        return false;
    bool eq = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return eq;
}

bool sl_harbor_adapter_authorized(const char *authorization, const char *api_key, const char *token)
{
    if (!token || !*token)
        return false;
    if (api_key && token_equal(api_key, strlen(api_key), token))
        return true;
    if (!authorization)
        return false;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *v = authorization + 7;
        while (*v == ' ')
            v++;
        return token_equal(v, strlen(v), token);
    }
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return false;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    size_t b64_len = strlen(b64);
    if (b64_len > 4 * SL_HARBOR_TOKEN_MAX)
        return false;
    unsigned char *plain = NULL;
    size_t len = 0;
    if (sl_base64_decode(&plain, &len, b64, b64_len) != 0)
        return false;
    bool ok = token_equal((const char *)plain, len, token);
    const char *colon = memchr(plain, ':', len);
    if (colon) {
        size_t off = (size_t)(colon + 1 - (const char *)plain);
        ok = token_equal(colon + 1, len - off, token) || ok;
    }
    sl_secure_free(plain, len + 1);
    return ok;
}
