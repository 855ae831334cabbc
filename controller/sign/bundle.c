#include "sign/bundle.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/referrers.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATEMENT_TYPE     "https://in-toto.io/Statement/v1"
#define STATEMENT_TYPE_V01 "https://in-toto.io/Statement/v0.1"
#define EMPTY_MEDIA_TYPE   "application/vnd.oci.empty.v1+json"
#define EMPTY_DIGEST       "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* DSSE pre-authentication encoding; *out is the caller's. */
static void dsse_pae(char **out, size_t *out_len, const char *type, const void *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    size_t hl = (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1;
    char *p = sl_xmalloc(hl + len + 1);
    memcpy(p, head, hl);
    memcpy(p + hl, body, len);
    p[hl + len] = '\0';
    *out = p;
    *out_len = hl + len;
}

/* Does the statement (JSON) name digest as a subject? */
static bool statement_names(const json_t *st, const char *digest)
{
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(st, "subject"), i, s)
    {
        const char *hex =
            json_string_value(json_object_get(json_object_get(s, "digest"), "sha256"));
        if (hex && strcmp(hex, digest + 7) == 0)
            return true;
    }
    return false;
}

int sl_dsse_verify(unsigned char **payload_out, size_t *payload_len, int *key_index,
                   const json_t *env, const struct sl_key *const *keys, size_t nkeys,
                   struct sl_err *err)
{
    const char *ptype = json_string_value(json_object_get(env, "payloadType"));
    const char *p64 = json_string_value(json_object_get(env, "payload"));
    const json_t *sigs = json_object_get(env, "signatures");
    unsigned char *payload = NULL, *sig = NULL;
    size_t len = 0, sig_len = 0, pae_len = 0;
    char *pae = NULL;
    int rc = 0;
    if (!p64 || !json_is_array(sigs)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                        "not a DSSE envelope (payload and signatures)");
        goto done;
    }
    if (!ptype || strcmp(ptype, SL_BUNDLE_PAYLOAD_TYPE) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO, "the DSSE payload type is %.100s, not %s",
                        ptype ? ptype : "missing", SL_BUNDLE_PAYLOAD_TYPE);
        goto done;
    }
    if (sl_base64_decode(&payload, &len, p64, strlen(p64)) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the DSSE payload is not base64");
        goto done;
    }
    /* the signature first: nothing in the statement counts before it is authenticated */
    dsse_pae(&pae, &pae_len, ptype, payload, len);
    size_t i;
    const json_t *s;
    json_array_foreach(sigs, i, s)
    {
        const char *s64 = json_string_value(json_object_get(s, "sig"));
        if (i >= 16 || !s64 || strlen(s64) > 64 * 1024)
            break;
        free(sig);
        sig = NULL;
        if (sl_base64_decode(&sig, &sig_len, s64, strlen(s64)) != 0)
            continue;
        for (size_t k = 0; k < nkeys; k++) {
            struct sl_err verr = {0};
            if (sl_key_verify(keys[k], pae, pae_len, sig, sig_len, &verr) == 0) {
                *key_index = (int)k;
                *payload_out = payload;
                *payload_len = len;
                payload = NULL;
                goto done;
            }
        }
    }
    char fp[SL_KEY_FINGERPRINT_LEN] = "";
    if (nkeys)
        sl_key_fingerprint(fp, keys[0], NULL);
    rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                    "the DSSE signature does not verify with key %s%s", fp,
                    nkeys > 1 ? " (or the other keys)" : "");
done:
    free(payload);
    free(sig);
    free(pae);
    return rc;
}

int sl_bundle_check(const char *bundle, size_t len, const char *digest, const struct sl_key *key,
                    struct sl_err *err)
{
    json_error_t jerr;
    json_t *b = json_loadb(bundle, len, 0, &jerr), *st = NULL;
    unsigned char *payload = NULL;
    size_t payload_len = 0;
    int rc = 0, k = -1;
    const char *mt = json_string_value(json_object_get(b, "mediaType"));
    const json_t *env = json_object_get(b, "dsseEnvelope");
    if (!mt || strncmp(mt, "application/vnd.dev.sigstore.bundle", 35) != 0 ||
        !json_is_string(json_object_get(env, "payload")) ||
        !json_is_array(json_object_get(env, "signatures"))) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                        "the signature bundle is not a Sigstore bundle with a DSSE envelope");
        goto done;
    }
    const struct sl_key *keys[1] = {key};
    rc = sl_dsse_verify(&payload, &payload_len, &k, env, keys, 1, err);
    if (rc) {
        sl_err_prefix(err, "the bundle");
        goto done;
    }
    st = json_loadb((const char *)payload, payload_len, 0, &jerr);
    const char *stype = json_string_value(json_object_get(st, "_type"));
    const char *pred = json_string_value(json_object_get(st, "predicateType"));
    if (!stype || (strcmp(stype, STATEMENT_TYPE) != 0 && strcmp(stype, STATEMENT_TYPE_V01) != 0)) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "the bundle's payload is not an in-toto statement");
        goto done;
    }
    if (!pred || strcmp(pred, SL_BUNDLE_PREDICATE_TYPE) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "the bundle's statement has predicate type %s, not %s",
                        pred ? pred : "none", SL_BUNDLE_PREDICATE_TYPE);
        goto done;
    }
    if (!statement_names(st, digest)) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "the bundle's statement does not name %s as its subject", digest);
        goto done;
    }
done:
    json_decref(b);
    json_decref(st);
    free(payload);
    return rc;
}

/* The base64 SHA-256 of the key's DER SubjectPublicKeyInfo (verificationMaterial hint). */
static int key_hint(char **out, const struct sl_key *key, struct sl_err *err)
{
    unsigned char *der = NULL, h[32];
    size_t der_len = 0;
    int rc = sl_key_public_der(&der, &der_len, key, err);
    if (rc)
        return rc;
    char hd[72];
    sl_digest_sha256(hd, der, der_len);
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(hd + 7 + 2 * i, "%2x", &v);
        h[i] = (unsigned char)v;
    }
    free(der);
    *out = sl_base64_encode(h, sizeof(h));
    return 0;
}

/* Signs payload as a DSSE envelope object; *out is the caller's. */
static int dsse_sign(json_t **out, const char *payload_type, const void *payload, size_t len,
                     const struct sl_key *key, struct sl_err *err)
{
    if (!sl_key_has_private(key))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the key cannot sign (public key only)");
    unsigned char *sig = NULL;
    size_t sig_len = 0, pae_len = 0;
    char *pae = NULL;
    dsse_pae(&pae, &pae_len, payload_type, payload, len);
    int rc = sl_key_sign(&sig, &sig_len, key, pae, pae_len, err);
    free(pae);
    if (rc)
        return rc;
    char *p64 = sl_base64_encode(payload, len), *s64 = sl_base64_encode(sig, sig_len);
    free(sig);
    *out = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", payload_type, "payload", p64,
                     "signatures", "keyid", "", "sig", s64);
    free(p64);
    free(s64);
    return *out ? 0 : sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid DSSE payload type");
}

int sl_dsse_envelope(char **out, size_t *out_len, const char *payload_type, const void *payload,
                     size_t len, const struct sl_key *key, struct sl_err *err)
{
    json_t *env = NULL;
    int rc = dsse_sign(&env, payload_type, payload, len, key, err);
    if (rc)
        return rc;
    *out = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    *out_len = strlen(*out);
    json_decref(env);
    return 0;
}

int sl_bundle_build_statement(char **out, size_t *out_len, const char *statement, size_t len,
                              const struct sl_key *key, struct sl_err *err)
{
    json_t *env = NULL;
    char *hint = NULL;
    int rc = dsse_sign(&env, SL_BUNDLE_PAYLOAD_TYPE, statement, len, key, err);
    if (!rc)
        rc = key_hint(&hint, key, err);
    if (rc) {
        json_decref(env);
        return rc;
    }
    /* the bundle's envelope carries no keyid, as cosign v3 writes it */
    json_t *sigs = json_object_get(env, "signatures");
    json_object_del(json_array_get(sigs, 0), "keyid");
    json_t *b = json_pack("{s:s, s:{s:{s:s}}, s:o}", "mediaType", SL_BUNDLE_MEDIA_TYPE,
                          "verificationMaterial", "publicKey", "hint", hint, "dsseEnvelope", env);
    free(hint);
    *out = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    *out_len = strlen(*out);
    json_decref(b);
    return 0;
}

int sl_bundle_build(char **out, size_t *out_len, const char *digest, const struct sl_key *key,
                    struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    if (!sl_key_has_private(key))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the key cannot sign (public key only)");
    json_t *st =
        json_pack("{s:s, s:[{s:{s:s}}], s:s, s:{}}", "_type", STATEMENT_TYPE, "subject", "digest",
                  "sha256", digest + 7, "predicateType", SL_BUNDLE_PREDICATE_TYPE, "predicate");
    char *statement = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(st);
    int rc = sl_bundle_build_statement(out, out_len, statement, strlen(statement), key, err);
    free(statement);
    return rc;
}

static int ensure_blob(struct sl_registry *reg, const char *repo, const char *digest,
                       const void *data, size_t len, struct sl_err *err)
{
    int rc = sl_registry_blob_head(NULL, reg, repo, digest, err);
    if (rc != SL_ENOTFOUND)
        return rc;
    return sl_registry_blob_upload(reg, repo, digest, data, len, 0, err);
}

/* The first bundle layer's digest of a referrer manifest, or NULL. */
static const char *bundle_layer(const json_t *manifest)
{
    size_t i;
    const json_t *l;
    json_array_foreach(json_object_get(manifest, "layers"), i, l)
    {
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (mt && d && strcmp(mt, SL_BUNDLE_MEDIA_TYPE) == 0 && sl_ref_is_digest(d))
            return d;
    }
    return NULL;
}

int sl_bundle_verify_referrer(int *key_index, size_t *bytes, struct sl_registry *reg,
                              const char *repo, const char *digest, const char *manifest_digest,
                              const struct sl_key *const *keys, size_t nkeys, struct sl_err *err)
{
    struct sl_registry_manifest m = {0};
    json_t *mj = NULL;
    char *blob = NULL;
    size_t blob_len = 0;
    int rc = sl_registry_manifest_get(&m, reg, repo, manifest_digest, err);
    if (rc)
        goto done;
    json_error_t jerr;
    mj = json_loadb(m.data, m.len, 0, &jerr);
    const char *layer = bundle_layer(mj);
    if (!layer) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_CRYPTO, "referrer %s holds no signature bundle",
                        manifest_digest);
        goto done;
    }
    rc = sl_registry_blob_get(&blob, &blob_len, reg, repo, layer, SL_BUNDLE_MAX, err);
    if (rc)
        goto done;
    if (bytes)
        *bytes = blob_len;
    rc = SL_EINVAL;
    for (size_t k = 0; k < nkeys; k++) {
        struct sl_err e = {0};
        int r = sl_bundle_check(blob, blob_len, digest, keys[k], &e);
        if (r == 0) {
            *key_index = (int)k;
            rc = 0;
            goto done;
        }
        if (k == 0 || r == SL_EDIGEST) {
            rc = r;
            sl_err_set(err, r, e.klass, "%s", e.msg);
        }
    }
done:
    json_decref(mj);
    sl_registry_manifest_free(&m);
    free(blob);
    return rc;
}

/* Is a bundle by key for digest already among its referrers? */
static bool already_signed(struct sl_registry *reg, const char *repo, const char *digest,
                           const struct sl_key *key)
{
    char *index = NULL;
    size_t len = 0;
    struct sl_err e = {0};
    bool found = false;
    if (sl_registry_referrers(&index, &len, reg, repo, digest, SL_BUNDLE_MEDIA_TYPE, &e) != 0)
        return false;
    json_error_t jerr;
    json_t *idx = json_loadb(index, len, 0, &jerr);
    size_t i;
    json_t *d;
    const struct sl_key *keys[1] = {key};
    json_array_foreach(json_object_get(idx, "manifests"), i, d)
    {
        const char *at = json_string_value(json_object_get(d, "artifactType"));
        const char *dd = json_string_value(json_object_get(d, "digest"));
        int k = -1;
        if (i >= 64)
            break;
        if (!dd || (at && strcmp(at, SL_BUNDLE_MEDIA_TYPE) != 0))
            continue;
        if (sl_bundle_verify_referrer(&k, NULL, reg, repo, digest, dd, keys, 1, &e) == 0) {
            found = true;
            break;
        }
    }
    json_decref(idx);
    free(index);
    return found;
}

/* Stores bundle (for digest, statement of predicate_type) in reg/repo as an OCI 1.1 referrer
 * and records it in the tag-schema fallback index. */
static int put_bundle_referrer(struct sl_registry *reg, const char *repo, const char *digest,
                               const char *bundle, size_t bundle_len, const char *predicate_type,
                               struct sl_err *err)
{
    char *manifest = NULL, *desc = NULL;
    struct sl_registry_manifest subject = {0};
    /* the subject descriptor names the image's own media type and size */
    int rc = sl_registry_manifest_get(&subject, reg, repo, digest, err);
    if (rc)
        goto done;
    char bundle_digest[72];
    sl_digest_sha256(bundle_digest, bundle, bundle_len);
    rc = ensure_blob(reg, repo, EMPTY_DIGEST, "{}", 2, err);
    if (!rc)
        rc = ensure_blob(reg, repo, bundle_digest, bundle, bundle_len, err);
    if (rc)
        goto done;
    json_t *ann = json_pack("{s:s, s:s}", "dev.sigstore.bundle.content", "dsse-envelope",
                            "dev.sigstore.bundle.predicateType", predicate_type);
    const char *smt = subject.media_type ? subject.media_type : SL_MT_OCI_MANIFEST;
    json_t *m =
        json_pack("{s:i, s:s, s:s, s:{s:s, s:i, s:s}, s:[{s:s, s:I, s:s}], s:O, s:{s:s, s:I, s:s}}",
                  "schemaVersion", 2, "mediaType", SL_MT_OCI_MANIFEST, "artifactType",
                  SL_BUNDLE_MEDIA_TYPE, "config", "mediaType", EMPTY_MEDIA_TYPE, "size", 2,
                  "digest", EMPTY_DIGEST, "layers", "mediaType", SL_BUNDLE_MEDIA_TYPE, "size",
                  (json_int_t)bundle_len, "digest", bundle_digest, "annotations", ann, "subject",
                  "mediaType", smt, "size", (json_int_t)subject.len, "digest", digest);
    manifest = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    char manifest_digest[72];
    sl_digest_sha256(manifest_digest, manifest, strlen(manifest));
    rc = sl_registry_manifest_put(NULL, reg, repo, manifest_digest, SL_MT_OCI_MANIFEST, manifest,
                                  strlen(manifest), err);
    if (rc) {
        json_decref(ann);
        goto done;
    }
    json_t *d = json_pack("{s:s, s:s, s:I, s:s, s:O}", "mediaType", SL_MT_OCI_MANIFEST, "digest",
                          manifest_digest, "size", (json_int_t)strlen(manifest), "artifactType",
                          SL_BUNDLE_MEDIA_TYPE, "annotations", ann);
    json_decref(ann);
    desc = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    rc = sl_referrers_record(NULL, reg, repo, digest, desc, err);
done:
    sl_registry_manifest_free(&subject);
    free(manifest);
    free(desc);
    return rc;
}

int sl_bundle_sign(int *added, struct sl_registry *reg, const char *repo, const char *digest,
                   const struct sl_key *key, struct sl_err *err)
{
    char *bundle = NULL;
    size_t bundle_len = 0;
    int rc = 0;
    if (sl_key_has_private(key) && already_signed(reg, repo, digest, key)) {
        if (added)
            *added = 0;
        goto done;
    }
    rc = sl_bundle_build(&bundle, &bundle_len, digest, key, err);
    if (!rc)
        rc = put_bundle_referrer(reg, repo, digest, bundle, bundle_len, SL_BUNDLE_PREDICATE_TYPE,
                                 err);
    if (!rc && added)
        *added = 1;
done:
    free(bundle);
    return rc;
}

int sl_bundle_attach_statement(struct sl_registry *reg, const char *repo, const char *digest,
                               const char *statement, size_t len, const char *predicate_type,
                               const struct sl_key *key, struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    char *bundle = NULL;
    size_t bundle_len = 0;
    int rc = sl_bundle_build_statement(&bundle, &bundle_len, statement, len, key, err);
    if (!rc)
        rc = put_bundle_referrer(reg, repo, digest, bundle, bundle_len, predicate_type, err);
    free(bundle);
    return rc;
}
