#include "sign/cosign.h"
#include "sign/bundle.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "util/base64.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OCI_CONFIG_MEDIA_TYPE "application/vnd.oci.image.config.v1+json"

int sl_cosign_sig_tag(char *out, size_t n, const char *digest)
{
    if (!sl_ref_is_digest(digest))
        return SL_EINVAL;
    snprintf(out, n, "sha256-%s.sig", digest + 7);
    return 0;
}

int sl_cosign_payload(char **out, size_t *out_len, const char *docker_reference, const char *digest,
                      struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    json_t *p =
        json_pack("{s:{s:{s:s}, s:{s:s}, s:s}, s:{s:s}}", "critical", "identity",
                  "docker-reference", docker_reference, "image", "docker-manifest-digest", digest,
                  "type", "cosign container image signature", "optional", "creator", "sealift");
    if (!p)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid docker reference");
    char *s = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(p);
    *out = s;
    *out_len = strlen(s);
    return 0;
}

int sl_cosign_check(const char *payload, size_t payload_len, const char *signature_b64,
                    const char *digest, const struct sl_key *key, struct sl_err *err)
{
    json_error_t jerr;
    json_t *p = json_loadb(payload, payload_len, 0, &jerr);
    const char *claimed = json_string_value(json_object_get(
        json_object_get(json_object_get(p, "critical"), "image"), "docker-manifest-digest"));
    int rc = 0;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (!claimed) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                        "signature payload is not a cosign simple-signing document");
        goto done;
    }
    if (strcmp(claimed, digest) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "signature payload is for digest %s, not %s", claimed, digest);
        goto done;
    }
    size_t sig_b64_len = signature_b64 ? strlen(signature_b64) : 0;
    if (sig_b64_len == 0 || sig_b64_len > 64 * 1024 ||
        sl_base64_decode(&sig, &sig_len, signature_b64, sig_b64_len) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "signature annotation is not base64");
        goto done;
    }
    struct sl_err verr = {0};
    if (sl_key_verify(key, payload, payload_len, sig, sig_len, &verr) != 0) {
        char fp[SL_KEY_FINGERPRINT_LEN] = "";
        sl_key_fingerprint(fp, key, NULL);
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO, "signature does not verify with key %s",
                        fp);
    }
done:
    free(sig);
    json_decref(p);
    return rc;
}

/* One signature layer of a signature manifest, with its payload when fetched. */
struct sig_layer {
    json_t *desc; /* the layer descriptor (borrowed from the manifest JSON) */
    char *payload;
    size_t payload_len;
};

/* The manifest at the sha256-<hex>.<suffix> tag (suffix "sig": signatures, "att":
 * attestations): parsed JSON (or NULL when absent). */
static int fetch_sig_manifest(json_t **out, struct sl_registry *reg, const char *repo,
                              const char *digest, const char *suffix, struct sl_err *err)
{
    char tag[96];
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    snprintf(tag, sizeof(tag), "sha256-%s.%s", digest + 7, suffix);
    struct sl_registry_manifest m = {0};
    int rc = sl_registry_manifest_get(&m, reg, repo, tag, err);
    if (rc == SL_ENOTFOUND) {
        *out = NULL;
        return 0;
    }
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *j = json_loadb(m.data, m.len, 0, &jerr);
    sl_registry_manifest_free(&m);
    if (!json_is_object(j) || !json_is_array(json_object_get(j, "layers"))) {
        json_decref(j);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "%s:%s is not a signature manifest",
                          repo, tag);
    }
    *out = j;
    return 0;
}

static const char *layer_signature(const json_t *desc)
{
    return json_string_value(
        json_object_get(json_object_get(desc, "annotations"), SL_COSIGN_SIG_ANNOTATION));
}

static int fetch_payload(char **out, size_t *out_len, struct sl_registry *reg, const char *repo,
                         const json_t *desc, struct sl_err *err)
{
    const char *d = json_string_value(json_object_get(desc, "digest"));
    if (!d || !sl_ref_is_digest(d))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "signature layer without digest");
    return sl_registry_blob_get(out, out_len, reg, repo, d, SL_COSIGN_PAYLOAD_MAX, err);
}

/* Uploads data as a blob unless the repository already has it. */
static int ensure_blob(struct sl_registry *reg, const char *repo, const char *digest,
                       const void *data, size_t len, struct sl_err *err)
{
    int rc = sl_registry_blob_head(NULL, reg, repo, digest, err);
    if (rc == 0)
        return 0;
    if (rc != SL_ENOTFOUND)
        return rc;
    return sl_registry_blob_upload(reg, repo, digest, data, len, 0, err);
}

/* Writes a signature manifest holding layers (array, borrowed) under the .sig tag, unless the
 * layers at the tag are no longer base (NULL: the tag was absent) once the config blob is
 * uploaded: then *stale is set and nothing is written, so that the time between the read a
 * merge is based on and the write is one round trip. */
static int put_sig_manifest(char digest_out[72], bool *stale, struct sl_registry *reg,
                            const char *repo, const char *digest, const char *suffix,
                            json_t *layers, const json_t *base, struct sl_err *err)
{
    json_t *diff_ids = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        json_array_append(diff_ids, json_object_get(l, "digest"));
    }
    /* The config cosign writes: an empty image config whose rootfs lists the layers. */
    json_t *config =
        json_pack("{s:s, s:s, s:[{s:s}], s:s, s:{s:s, s:o}, s:{}}", "architecture", "", "created",
                  "0001-01-01T00:00:00Z", "history", "created", "0001-01-01T00:00:00Z", "os", "",
                  "rootfs", "type", "layers", "diff_ids", diff_ids, "config");
    char *config_s = json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(config);
    char config_digest[72];
    sl_digest_sha256(config_digest, config_s, strlen(config_s));
    int rc = ensure_blob(reg, repo, config_digest, config_s, strlen(config_s), err);
    char *manifest_s = NULL;
    json_t *now = NULL;
    *stale = false;
    if (!rc)
        rc = fetch_sig_manifest(&now, reg, repo, digest, suffix, err);
    if (!rc) {
        const json_t *now_layers = now ? json_object_get(now, "layers") : NULL;
        *stale = base ? !now_layers || !json_equal(base, now_layers) : now_layers != NULL;
    }
    if (!rc && !*stale) {
        json_t *m =
            json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:O}", "schemaVersion", 2, "mediaType",
                      SL_MT_OCI_MANIFEST, "config", "mediaType", OCI_CONFIG_MEDIA_TYPE, "size",
                      (json_int_t)strlen(config_s), "digest", config_digest, "layers", layers);
        manifest_s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(m);
        char tag[96];
        snprintf(tag, sizeof(tag), "sha256-%s.%s", digest + 7, suffix);
        rc = sl_registry_manifest_put(digest_out, reg, repo, tag, SL_MT_OCI_MANIFEST, manifest_s,
                                      strlen(manifest_s), err);
    }
    free(manifest_s);
    free(config_s);
    json_decref(now);
    return rc;
}

static bool same_layer(const json_t *a, const json_t *b)
{
    const char *da = json_string_value(json_object_get(a, "digest"));
    const char *db = json_string_value(json_object_get(b, "digest"));
    const char *sa = layer_signature(a), *sb = layer_signature(b);
    return da && db && strcmp(da, db) == 0 && ((!sa && !sb) || (sa && sb && !strcmp(sa, sb)));
}

static bool has_layer(const json_t *layers, const json_t *l)
{
    size_t i;
    json_t *m;
    json_array_foreach(layers, i, m)
    {
        if (same_layer(l, m))
            return true;
    }
    return false;
}

/* Does layer l hold a valid signature of digest by key? (ECDSA signatures are randomised:
 * equivalence is decided by verifying, not by comparing bytes.) */
static bool layer_signed_by(struct sl_registry *reg, const char *repo, const json_t *l,
                            const char *digest, const struct sl_key *key)
{
    const char *mt = json_string_value(json_object_get(l, "mediaType"));
    const char *s = layer_signature(l);
    if (!mt || strcmp(mt, SL_COSIGN_SIG_MEDIA_TYPE) != 0 || !s)
        return false;
    char *p = NULL;
    size_t plen = 0;
    struct sl_err ignore = {0};
    if (fetch_payload(&p, &plen, reg, repo, l, &ignore) != 0)
        return false;
    bool ok = sl_cosign_check(p, plen, s, digest, key, &ignore) == 0;
    free(p);
    return ok;
}

/* Sleeps ms milliseconds, never past the calling thread's registry deadline. */
static void settle_sleep(int64_t ms)
{
    int64_t deadline = sl_registry_deadline_get();
    if (deadline > 0 && sl_mono_ms() + ms > deadline)
        ms = deadline - sl_mono_ms();
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* What one merged write of a signature manifest did. */
struct merge_result {
    size_t writes;       /* manifests written */
    size_t writes_tried; /* writes given up because the manifest changed after the read */
    size_t signatures;   /* layers at the .sig tag at the last read */
    bool own_kept;       /* own is (still) wanted: no other layer signed by the key showed up */
    char manifest_digest[72];
};

/* Makes the .sig manifest of digest in reg/repo hold every layer of want (a JSON array, changed
 * in place) besides whatever it already holds. Registries offer no conditional manifest PUT, so
 * a concurrent writer (a second replica, a handover, the vendor's own cosign) that read the
 * manifest before our write overwrites it without our layers, and we may overwrite theirs. So:
 * read, merge the missing layers into what is there, write, and read again until a read shows
 * every wanted layer; then wait a settle delay (several times our own read-to-write time, so a
 * writer who read before our write has written by then) and check once more. Every layer seen
 * at the tag joins want, so a signature read once is carried into later writes even if another
 * writer drops it. When own (a layer of want, may be NULL) is signed by key and another layer at
 * the tag is signed by the same key too, own is withdrawn so the key signs once. At most
 * SIG_WRITES_MAX writes; SL_ERETRY when the manifest still lacks a layer after them. */
#define SIG_WRITES_MAX    8
#define SIG_SETTLE_MIN_MS 1000
#define SIG_SETTLE_MAX_MS 5000
/* Drops from next (and want) the oldest layers whose annotation prune->annotation equals
 * prune->value beyond the newest prune->keep (layers are in write order). Returns how many. */
static size_t prune_layers(json_t *next, json_t *want, const struct sl_cosign_prune *prune)
{
    size_t matching = 0, i, removed = 0;
    json_t *l;
    json_array_foreach(next, i, l)
    {
        const char *v = json_string_value(
            json_object_get(json_object_get(l, "annotations"), prune->annotation));
        if (v && strcmp(v, prune->value) == 0)
            matching++;
    }
    for (i = 0; matching > prune->keep && i < json_array_size(next);) {
        l = json_array_get(next, i);
        const char *v = json_string_value(
            json_object_get(json_object_get(l, "annotations"), prune->annotation));
        if (!v || strcmp(v, prune->value) != 0) {
            i++;
            continue;
        }
        size_t j;
        json_t *m;
        json_array_foreach(want, j, m)
        {
            if (same_layer(m, l)) {
                json_array_remove(want, j);
                break;
            }
        }
        json_array_remove(next, i);
        matching--;
        removed++;
    }
    return removed;
}

static int merge_sig_layers(struct merge_result *out, struct sl_registry *reg, const char *repo,
                            const char *digest, const char *suffix, json_t *want, const json_t *own,
                            const struct sl_key *key, const struct sl_cosign_prune *prune,
                            struct sl_err *err)
{
    struct merge_result res = {.own_kept = own != NULL};
    json_t *cur = NULL, *next = NULL;
    bool settled = false;
    int64_t settle_ms = SIG_SETTLE_MIN_MS;
    int rc = 0;
    for (;;) {
        int64_t read_at = sl_mono_ms();
        json_decref(cur);
        cur = NULL;
        rc = fetch_sig_manifest(&cur, reg, repo, digest, suffix, err);
        if (rc)
            goto done;
        const json_t *have = cur ? json_object_get(cur, "layers") : NULL;
        res.signatures = json_array_size(have);
        size_t i;
        json_t *l;
        json_array_foreach(have, i, l)
        {
            if (has_layer(want, l))
                continue;
            if (res.own_kept && key && layer_signed_by(reg, repo, l, digest, key)) {
                /* the key signed already (another writer with the same key): one is enough */
                size_t j;
                json_t *m;
                json_array_foreach(want, j, m)
                {
                    if (same_layer(m, own)) {
                        json_array_remove(want, j);
                        break;
                    }
                }
                res.own_kept = false;
            }
            json_array_append(want, l);
        }
        next = have ? json_deep_copy(have) : json_array();
        size_t missing = 0;
        json_array_foreach(want, i, l)
        {
            if (!has_layer(next, l)) {
                json_array_append(next, l);
                missing++;
            }
        }
        size_t pruned = prune ? prune_layers(next, want, prune) : 0;
        if (missing == 0 && pruned == 0) {
            json_decref(next);
            next = NULL;
            if (settled || res.writes == 0)
                break;
            settle_sleep(settle_ms);
            settled = true;
            continue;
        }
        if (res.writes == SIG_WRITES_MAX) {
            rc = sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY,
                            "the signature manifest of %s@%s still lacks %zu signature(s) after "
                            "%d writes: other writers keep replacing it",
                            repo, digest, missing, SIG_WRITES_MAX);
            goto done;
        }
        bool stale = false;
        rc = put_sig_manifest(res.manifest_digest, &stale, reg, repo, digest, suffix, next, have,
                              err);
        if (rc)
            goto done;
        json_decref(next);
        next = NULL;
        if (stale) {
            /* changed under us since the read: merge again (bounded on its own count) */
            res.writes_tried++;
            if (res.writes_tried < SIG_WRITES_MAX * 4)
                continue;
            rc = sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY,
                            "the signature manifest of %s@%s kept changing under concurrent "
                            "writers",
                            repo, digest);
            goto done;
        }
        res.writes++;
        settled = false;
        int64_t window_ms = 4 * (sl_mono_ms() - read_at);
        settle_ms = window_ms < SIG_SETTLE_MIN_MS   ? SIG_SETTLE_MIN_MS
                    : window_ms > SIG_SETTLE_MAX_MS ? SIG_SETTLE_MAX_MS
                                                    : window_ms;
    }
done:
    if (!rc && out)
        *out = res;
    json_decref(cur);
    json_decref(next);
    return rc;
}

int sl_cosign_sign(struct sl_cosign_sign_result *out, struct sl_registry *reg, const char *repo,
                   const char *docker_reference, const char *digest, const struct sl_key *key,
                   struct sl_err *err)
{
    if (!sl_key_has_private(key))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the key cannot sign (public key only)");
    char *payload = NULL, *sig_b64 = NULL;
    unsigned char *sig = NULL;
    size_t payload_len = 0, sig_len = 0;
    json_t *existing = NULL, *want = NULL, *own = NULL;
    struct sl_cosign_sign_result res = {0};
    int rc = sl_cosign_payload(&payload, &payload_len, docker_reference, digest, err);
    if (rc)
        goto done;
    rc = fetch_sig_manifest(&existing, reg, repo, digest, "sig", err);
    if (rc)
        goto done;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(existing, "layers"), i, l)
    {
        if (layer_signed_by(reg, repo, l, digest, key)) {
            res.added = false;
            res.signatures = json_array_size(json_object_get(existing, "layers"));
            goto done;
        }
    }
    rc = sl_key_sign(&sig, &sig_len, key, payload, payload_len, err);
    if (rc)
        goto done;
    sig_b64 = sl_base64_encode(sig, sig_len);
    char payload_digest[72];
    sl_digest_sha256(payload_digest, payload, payload_len);
    rc = ensure_blob(reg, repo, payload_digest, payload, payload_len, err);
    if (rc)
        goto done;
    own = json_pack("{s:s, s:I, s:s, s:{s:s}}", "mediaType", SL_COSIGN_SIG_MEDIA_TYPE, "size",
                    (json_int_t)payload_len, "digest", payload_digest, "annotations",
                    SL_COSIGN_SIG_ANNOTATION, sig_b64);
    /* the manifest read above is stale by now (signing and the upload took time): the merge
     * reads it again right before writing */
    want = json_array();
    json_array_append(want, own);
    struct merge_result mr = {0};
    rc = merge_sig_layers(&mr, reg, repo, digest, "sig", want, own, key, NULL, err);
    if (rc)
        goto done;
    res.added = mr.own_kept;
    res.signatures = mr.signatures;
    memcpy(res.manifest_digest, mr.manifest_digest, sizeof(res.manifest_digest));
done:
    if (!rc && out)
        *out = res;
    free(payload);
    free(sig);
    free(sig_b64);
    json_decref(existing);
    json_decref(want);
    json_decref(own);
    return rc;
}

int sl_cosign_copy_signatures(size_t *copied, struct sl_registry *src, const char *src_repo,
                              struct sl_registry *dst, const char *dst_repo, const char *digest,
                              struct sl_err *err)
{
    json_t *from = NULL, *to = NULL, *want = NULL;
    size_t added = 0;
    int rc = fetch_sig_manifest(&from, src, src_repo, digest, "sig", err);
    if (rc || !from)
        goto done;
    rc = fetch_sig_manifest(&to, dst, dst_repo, digest, "sig", err);
    if (rc)
        goto done;
    const json_t *have = to ? json_object_get(to, "layers") : NULL;
    want = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(from, "layers"), i, l)
    {
        if (has_layer(have, l) || has_layer(want, l))
            continue;
        char *p = NULL;
        size_t plen = 0;
        rc = fetch_payload(&p, &plen, src, src_repo, l, err);
        if (!rc)
            rc = ensure_blob(dst, dst_repo, json_string_value(json_object_get(l, "digest")), p,
                             plen, err);
        free(p);
        if (rc)
            goto done;
        json_array_append(want, l);
        added++;
    }
    if (added)
        rc = merge_sig_layers(NULL, dst, dst_repo, digest, "sig", want, NULL, NULL, NULL, err);
done:
    if (!rc && copied)
        *copied = added;
    json_decref(from);
    json_decref(to);
    json_decref(want);
    return rc;
}

/* What a verification has used of its limits. */
struct verify_budget {
    const struct sl_cosign_limits *limits; /* NULL = none */
    size_t looked_at;
    size_t payload_bytes;
    int stop; /* 0, or SL_ETOOBIG / SL_ERETRY once a limit was reached */
    char why[160];
};

/* May the verification fetch one more signature? Sets b->stop when not. */
static bool budget_allows(struct verify_budget *b)
{
    const struct sl_cosign_limits *l = b->limits;
    if (b->stop)
        return false;
    if (!l)
        return true;
    if (l->max_signatures && b->looked_at >= l->max_signatures) {
        b->stop = SL_ETOOBIG;
        snprintf(b->why, sizeof(b->why), "more than %zu signatures to check", l->max_signatures);
    } else if (l->max_payload_bytes && b->payload_bytes >= l->max_payload_bytes) {
        b->stop = SL_ETOOBIG;
        snprintf(b->why, sizeof(b->why), "more than %zu bytes of signature payloads",
                 l->max_payload_bytes);
    } else if (l->deadline_ms && sl_mono_ms() >= l->deadline_ms) {
        b->stop = SL_ERETRY;
        snprintf(b->why, sizeof(b->why), "the check ran out of time");
    }
    b->looked_at++;
    return b->stop == 0;
}

/* Checks every signature layer of manifest (JSON) against the keys, within budget; records the
 * first problem in problem/problem_code. Returns the index of the verifying key, or -1. */
static int verify_layers(struct sl_cosign_verify_result *res, const json_t *manifest,
                         struct sl_registry *reg, const char *repo, const char *digest,
                         const struct sl_key *const *keys, size_t nkeys, struct sl_err *problem,
                         struct verify_budget *budget)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(manifest, "layers"), i, l)
    {
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        if (!mt || strcmp(mt, SL_COSIGN_SIG_MEDIA_TYPE) != 0)
            continue;
        if (!budget_allows(budget))
            return -1;
        res->signatures++;
        const char *s = layer_signature(l);
        char *p = NULL;
        size_t plen = 0;
        struct sl_err e = {0};
        if (!s) {
            if (!problem->code)
                sl_err_set(problem, SL_EDIGEST, SL_ERRC_CRYPTO,
                           "a signature layer has no %s annotation", SL_COSIGN_SIG_ANNOTATION);
            continue;
        }
        if (fetch_payload(&p, &plen, reg, repo, l, &e) != 0) {
            if (!problem->code)
                sl_err_set(problem, SL_EDIGEST, SL_ERRC_CRYPTO, "signature payload: %s", e.msg);
            continue;
        }
        budget->payload_bytes += plen;
        for (size_t k = 0; k < nkeys; k++) {
            if (sl_cosign_check(p, plen, s, digest, keys[k], &e) == 0) {
                free(p);
                return (int)k;
            }
            if (!problem->code)
                sl_err_set(problem, SL_EDIGEST, SL_ERRC_CRYPTO, "%s", e.msg);
        }
        free(p);
    }
    return -1;
}

int sl_cosign_verify(struct sl_cosign_verify_result *out, struct sl_registry *reg, const char *repo,
                     const char *digest, const struct sl_key *const *keys, size_t nkeys,
                     struct sl_err *err)
{
    return sl_cosign_verify_limited(out, reg, repo, digest, keys, nkeys, NULL, err);
}

int sl_cosign_verify_limited(struct sl_cosign_verify_result *out, struct sl_registry *reg,
                             const char *repo, const char *digest, const struct sl_key *const *keys,
                             size_t nkeys, const struct sl_cosign_limits *limits,
                             struct sl_err *err)
{
    struct sl_cosign_verify_result res = {.key_index = -1};
    struct verify_budget budget = {.limits = limits};
    struct sl_err problem = {0};
    json_t *sig = NULL;
    char *index = NULL;
    size_t index_len = 0;
    int rc = fetch_sig_manifest(&sig, reg, repo, digest, "sig", err);
    if (rc)
        goto done;
    int k = sig ? verify_layers(&res, sig, reg, repo, digest, keys, nkeys, &problem, &budget) : -1;
    if (k < 0 && !budget.stop) {
        /* OCI 1.1 referrers (cosign --registry-referrers-mode=oci-1-1) */
        struct sl_err rerr = {0};
        if (sl_registry_referrers(&index, &index_len, reg, repo, digest, NULL, &rerr) == 0) {
            json_error_t jerr;
            json_t *idx = json_loadb(index, index_len, 0, &jerr);
            size_t i;
            json_t *d;
            json_array_foreach(json_object_get(idx, "manifests"), i, d)
            {
                const char *at = json_string_value(json_object_get(d, "artifactType"));
                const char *dd = json_string_value(json_object_get(d, "digest"));
                if (!dd || (at && strcmp(at, SL_COSIGN_ARTIFACT_TYPE) != 0 &&
                            strcmp(at, SL_BUNDLE_MEDIA_TYPE) != 0))
                    continue;
                if (!budget_allows(&budget))
                    break;
                /* a Sigstore bundle (cosign v3); a fallback index may lack artifactType */
                if (!at || strcmp(at, SL_BUNDLE_MEDIA_TYPE) == 0) {
                    size_t bytes = 0;
                    int bk = -1;
                    struct sl_err be = {0};
                    int brc = sl_bundle_verify_referrer(&bk, &bytes, reg, repo, digest, dd, keys,
                                                        nkeys, &be);
                    budget.payload_bytes += bytes;
                    if (brc != SL_ENOTFOUND) {
                        res.signatures++;
                        if (brc == 0) {
                            k = bk;
                            break;
                        }
                        if (!problem.code)
                            sl_err_set(&problem, SL_EDIGEST, SL_ERRC_CRYPTO, "%s", be.msg);
                        continue;
                    }
                    if (at)
                        continue;
                }
                struct sl_registry_manifest m = {0};
                if (sl_registry_manifest_get(&m, reg, repo, dd, &rerr) != 0)
                    continue;
                json_t *mj = json_loadb(m.data, m.len, 0, &jerr);
                sl_registry_manifest_free(&m);
                if (mj)
                    k = verify_layers(&res, mj, reg, repo, digest, keys, nkeys, &problem, &budget);
                json_decref(mj);
                if (k >= 0)
                    break;
            }
            json_decref(idx);
        }
    }
    if (k >= 0) {
        res.key_index = k;
        sl_key_fingerprint(res.key_fingerprint, keys[k], NULL);
    } else if (budget.stop) {
        rc = sl_err_set(err, budget.stop, SL_ERRC_CRYPTO,
                        "no valid signature of %s@%s among the first %zu checked: %s", repo, digest,
                        res.signatures, budget.why);
    } else if (res.signatures == 0) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_CRYPTO, "no signature found for %s@%s", repo,
                        digest);
    } else {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "none of %zu signature(s) of %s@%s is "
                        "valid: %s",
                        res.signatures, repo, digest, problem.msg);
    }
done:
    if (!rc && out)
        *out = res;
    else if (out && (rc == SL_ENOTFOUND || rc == SL_EDIGEST))
        *out = res;
    json_decref(sig);
    free(index);
    return rc;
}

int sl_cosign_attach_layer(size_t *layers_out, struct sl_registry *reg, const char *repo,
                           const char *digest, const char *suffix, const json_t *layer,
                           const struct sl_cosign_prune *prune, struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    if (strcmp(suffix, "sig") != 0 && strcmp(suffix, "att") != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "unknown cosign tag suffix %s", suffix);
    json_t *want = json_array();
    json_array_append(want, (json_t *)layer);
    struct merge_result mr = {0};
    int rc = merge_sig_layers(&mr, reg, repo, digest, suffix, want, NULL, NULL, prune, err);
    json_decref(want);
    if (!rc && layers_out)
        *layers_out = mr.signatures;
    return rc;
}
