#include "sign/attest.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "sign/bundle.h"
#include "sign/cosign.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

int sl_attest_statement(char **out, size_t *out_len, const char *subject_name, const char *digest,
                        const char *predicate_type, const json_t *predicate, struct sl_err *err)
{
    if (!digest || !sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s",
                          digest ? digest : "(none)");
    if (!subject_name || !*subject_name || !predicate_type || !predicate)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "an attestation needs a subject name, a predicate type and a predicate");
    json_t *st = json_pack("{s:s, s:s, s:[{s:s, s:{s:s}}], s:O}", "_type", SL_ATTEST_STATEMENT_TYPE,
                           "predicateType", predicate_type, "subject", "name", subject_name,
                           "digest", "sha256", digest + 7, "predicate", predicate);
    if (!st)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the subject name is not valid UTF-8");
    char *s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(st);
    if (!s)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_JSON, "cannot serialise the statement");
    size_t n = strlen(s);
    if (n > SL_ATTEST_STATEMENT_MAX) {
        free(s);
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "the %s statement is %zu bytes, more than the %zu allowed",
                          predicate_type, n, SL_ATTEST_STATEMENT_MAX);
    }
    *out = s;
    *out_len = n;
    return 0;
}

/* Uploads data as a blob unless the repository already has it. */
static int ensure_blob(struct sl_registry *reg, const char *repo, const char *digest,
                       const void *data, size_t len, struct sl_err *err)
{
    int rc = sl_registry_blob_head(NULL, reg, repo, digest, err);
    if (rc != SL_ENOTFOUND)
        return rc;
    return sl_registry_blob_upload(reg, repo, digest, data, len, 0, err);
}

/* Adds the envelope of statement as a layer of the .att manifest. */
static int write_tag(size_t *layers, struct sl_registry *reg, const char *repo, const char *digest,
                     const char *statement, size_t len, const char *predicate_type,
                     const struct sl_key *key, struct sl_err *err)
{
    char *env = NULL;
    size_t env_len = 0;
    int rc = sl_dsse_envelope(&env, &env_len, SL_BUNDLE_PAYLOAD_TYPE, statement, len, key, err);
    if (rc)
        return rc;
    char env_digest[72], fp[SL_KEY_FINGERPRINT_LEN] = "";
    sl_digest_sha256(env_digest, env, env_len);
    sl_key_fingerprint(fp, key, NULL);
    /* marks the layers of this key and type, so that only they are ever pruned */
    char *mark = sl_xasprintf("%s %s", predicate_type, fp);
    rc = ensure_blob(reg, repo, env_digest, env, env_len, err);
    if (!rc) {
        json_t *layer = json_pack(
            "{s:s, s:I, s:s, s:{s:s, s:s, s:s}}", "mediaType", SL_ATTEST_LAYER_MEDIA_TYPE, "size",
            (json_int_t)env_len, "digest", env_digest, "annotations", SL_COSIGN_SIG_ANNOTATION, "",
            SL_ATTEST_ANN_PREDICATE, predicate_type, SL_ATTEST_ANN_WRITER, mark);
        struct sl_cosign_prune prune = {SL_ATTEST_ANN_WRITER, mark, SL_ATTEST_KEEP};
        rc = sl_cosign_attach_layer(layers, reg, repo, digest, "att", layer, &prune, err);
        json_decref(layer);
    }
    free(mark);
    free(env);
    return rc;
}

int sl_attest_write(struct sl_attest_result *out, struct sl_registry *reg, const char *repo,
                    const char *subject_name, const char *digest, const char *predicate_type,
                    const json_t *predicate, const struct sl_key *key,
                    const struct sl_attest_where *where, struct sl_err *err)
{
    if (!sl_key_has_private(key))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the key cannot sign (public key only)");
    if (!where || (!where->tag && !where->referrer))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "no place to store the attestation");
    struct sl_attest_result res = {0};
    char *statement = NULL;
    size_t len = 0;
    int rc =
        sl_attest_statement(&statement, &len, subject_name, digest, predicate_type, predicate, err);
    if (rc)
        return rc;
    sl_digest_sha256(res.statement, statement, len);
    if (where->tag)
        rc = write_tag(&res.layers, reg, repo, digest, statement, len, predicate_type, key, err);
    if (!rc && where->referrer)
        rc =
            sl_bundle_attach_statement(reg, repo, digest, statement, len, predicate_type, key, err);
    free(statement);
    if (!rc && out)
        *out = res;
    return rc;
}
