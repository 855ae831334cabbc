#include "oci/referrers.h"
#include "oci/copy.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const legacy_suffixes[] = {".sig", ".att", ".sbom"};

/* Parses an OCI index answer; *out holds its "manifests" array (borrowed from *root). */
static int parse_index(json_t **root, json_t **manifests, const char *data, size_t len,
                       const char *what, struct sl_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    json_t *m = json_object_get(j, "manifests");
    if (!json_is_object(j) || (m && !json_is_array(m))) {
        json_decref(j);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "%s is not an OCI image index", what);
    }
    if (!m) {
        m = json_array();
        json_object_set_new(j, "manifests", m);
    }
    *root = j;
    *manifests = m;
    return 0;
}

static const json_t *find_descriptor(const json_t *manifests, const char *digest)
{
    size_t i;
    const json_t *d;
    json_array_foreach(manifests, i, d)
    {
        const char *dd = json_string_value(json_object_get(d, "digest"));
        if (dd && strcmp(dd, digest) == 0)
            return d;
    }
    return NULL;
}

/* Writes the fallback index root (an OCI image index) at tag sha256-<hex> of subject_digest. */
static int put_fallback_index(struct sl_registry *reg, const char *repo, const char *subject_digest,
                              json_t *root, struct sl_err *err)
{
    json_object_set_new(root, "schemaVersion", json_integer(2));
    json_object_set_new(root, "mediaType", json_string(SL_MT_OCI_INDEX));
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char tag[80];
    snprintf(tag, sizeof(tag), "sha256-%s", subject_digest + 7);
    int rc = sl_registry_manifest_put(NULL, reg, repo, tag, SL_MT_OCI_INDEX, s, strlen(s), err);
    free(s);
    return rc;
}

int sl_referrers_record(int *written, struct sl_registry *reg, const char *repo,
                        const char *subject_digest, const char *descriptor_json, struct sl_err *err)
{
    json_error_t jerr;
    json_t *desc = json_loads(descriptor_json, 0, &jerr);
    json_t *root = NULL, *manifests = NULL;
    char *index = NULL;
    size_t len = 0;
    int api = 0, w = 0, rc = 0;
    const char *dd = json_string_value(json_object_get(desc, "digest"));
    if (!json_is_object(desc) || !dd || !sl_ref_is_digest(dd) ||
        !sl_ref_is_digest(subject_digest)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a referrer descriptor");
        goto done;
    }
    rc = sl_registry_referrers_ex(&index, &len, &api, reg, repo, subject_digest, NULL, err);
    if (rc || api)
        goto done;
    rc = parse_index(&root, &manifests, index, len, "the referrers fallback index", err);
    if (rc || find_descriptor(manifests, dd))
        goto done;
    json_array_append(manifests, desc);
    rc = put_fallback_index(reg, repo, subject_digest, root, err);
    w = rc == 0;
done:
    if (!rc && written)
        *written = w;
    json_decref(desc);
    json_decref(root);
    free(index);
    return rc;
}

struct walk {
    struct sl_registry *src, *dst;
    const char *src_repo, *dst_repo;
    const struct sl_referrers_opts *opts;
    struct sl_referrers_result res;
    char **visited;
    size_t n_visited;
};

static bool wanted(const struct walk *w, const char *artifact_type)
{
    if (!w->opts || w->opts->n_artifact_types == 0)
        return true;
    for (size_t i = 0; i < w->opts->n_artifact_types; i++)
        if (artifact_type && strcmp(w->opts->artifact_types[i], artifact_type) == 0)
            return true;
    return false;
}

static void count_type(struct walk *w, const char *artifact_type)
{
    const char *t = artifact_type ? artifact_type : "";
    size_t cap = sizeof(w->res.by_type) / sizeof(w->res.by_type[0]);
    for (size_t i = 0; i < w->res.n_types; i++) {
        if (strcmp(w->res.by_type[i].artifact_type, t) == 0) {
            w->res.by_type[i].count++;
            return;
        }
    }
    if (w->res.n_types < cap) {
        snprintf(w->res.by_type[w->res.n_types].artifact_type,
                 sizeof(w->res.by_type[0].artifact_type), "%s", t);
        w->res.by_type[w->res.n_types++].count = 1;
    }
}

/* Marks digest visited; false when it was already (a cycle or a shared referrer). */
static bool visit(struct walk *w, const char *digest)
{
    for (size_t i = 0; i < w->n_visited; i++)
        if (strcmp(w->visited[i], digest) == 0)
            return false;
    w->visited = sl_xrealloc(w->visited, (w->n_visited + 1) * sizeof(*w->visited));
    w->visited[w->n_visited++] = sl_xstrdup(digest);
    return true;
}

/* Copies one manifest by digest (with its blobs); *already = the target had it. */
static int copy_by_digest(int *already, struct walk *w, const char *digest, struct sl_err *err)
{
    struct sl_ref s = {.registry = (char *)sl_registry_host(w->src),
                       .repository = (char *)w->src_repo,
                       .digest = (char *)digest};
    struct sl_ref d = {.registry = (char *)sl_registry_host(w->dst),
                       .repository = (char *)w->dst_repo,
                       .digest = (char *)digest};
    struct sl_copy_opts copts = {0};
    struct sl_copy_result cr;
    memset(&cr, 0, sizeof(cr));
    int rc = sl_copy_image_refs(&cr, w->src, &s, w->dst, &d, &copts, err);
    if (!rc)
        *already = cr.already_in_sync;
    return rc;
}

/* At most this many layers in a legacy tag's manifest sealift writes (cosign appends one per
 * signature or attestation; a merge past this is refused rather than grown without bound). */
#define LEGACY_MAX_LAYERS 512

static bool has_layer(const json_t *layers, const char *digest)
{
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (d && strcmp(d, digest) == 0)
            return true;
    }
    return false;
}

/* The target has a manifest of its own under a legacy .att or .sbom tag: the layers of the
 * source's that it lacks are appended to it (none of the target's is dropped), after the source
 * manifest, by digest, brought every blob it names into the target repository. */
static int merge_legacy_tag(struct walk *w, const char *tag, const char *src_digest,
                            struct sl_err *err)
{
    struct sl_registry_manifest sm, dm;
    memset(&sm, 0, sizeof(sm));
    memset(&dm, 0, sizeof(dm));
    json_t *sj = NULL, *dj = NULL;
    char *out = NULL;
    int already = 0;
    int rc = copy_by_digest(&already, w, src_digest, err);
    if (!rc)
        rc = sl_registry_manifest_get(&sm, w->src, w->src_repo, src_digest, err);
    if (!rc)
        rc = sl_registry_manifest_get(&dm, w->dst, w->dst_repo, tag, err);
    if (rc)
        goto done;
    sj = json_loadb(sm.data, sm.len, 0, NULL);
    dj = json_loadb(dm.data, dm.len, 0, NULL);
    json_t *slayers = json_object_get(sj, "layers"), *dlayers = json_object_get(dj, "layers");
    if (!json_is_array(slayers) || !json_is_array(dlayers)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                        "legacy tag %s: not an image manifest with layers (source or target)", tag);
        goto done;
    }
    size_t added = 0, i;
    json_t *l;
    json_array_foreach(slayers, i, l)
    {
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (!d || has_layer(dlayers, d))
            continue;
        if (json_array_size(dlayers) >= LEGACY_MAX_LAYERS) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY,
                            "legacy tag %s: merging would pass %d layers", tag, LEGACY_MAX_LAYERS);
            goto done;
        }
        json_array_append(dlayers, l);
        added++;
    }
    if (!added)
        goto done;
    const char *mt = json_string_value(json_object_get(dj, "mediaType"));
    if (!mt)
        mt = dm.media_type ? dm.media_type : "application/vnd.oci.image.manifest.v1+json";
    out = json_dumps(dj, JSON_COMPACT);
    if (!out) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_JSON, "legacy tag %s: encoding the merge", tag);
        goto done;
    }
    rc = sl_registry_manifest_put(NULL, w->dst, w->dst_repo, tag, mt, out, strlen(out), err);
    if (!rc)
        w->res.tags_copied++;
done:
    free(out);
    json_decref(sj);
    json_decref(dj);
    sl_registry_manifest_free(&sm);
    sl_registry_manifest_free(&dm);
    return rc;
}

/* The legacy cosign tags of digest: copied when the target lacks them; an .att or .sbom tag the
 * target holds already gets the source's layers merged in (sl_cosign_copy_signatures merges
 * .sig). */
static int copy_legacy_tags(struct walk *w, const char *digest, struct sl_err *err)
{
    for (size_t i = 0; i < sizeof(legacy_suffixes) / sizeof(legacy_suffixes[0]); i++) {
        char tag[96], src_digest[72], dst_digest[72];
        snprintf(tag, sizeof(tag), "sha256-%s%s", digest + 7, legacy_suffixes[i]);
        int rc = sl_registry_manifest_head(src_digest, NULL, w->src, w->src_repo, tag, err);
        if (rc == SL_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        rc = sl_registry_manifest_head(dst_digest, NULL, w->dst, w->dst_repo, tag, err);
        if (rc == 0) {
            if (strcmp(src_digest, dst_digest) == 0 || strcmp(legacy_suffixes[i], ".sig") == 0)
                continue;
            rc = merge_legacy_tag(w, tag, src_digest, err);
            if (rc)
                return rc;
            continue;
        }
        if (rc != SL_ENOTFOUND)
            return rc;
        struct sl_ref s = {.registry = (char *)sl_registry_host(w->src),
                           .repository = (char *)w->src_repo,
                           .tag = tag};
        struct sl_ref d = {.registry = (char *)sl_registry_host(w->dst),
                           .repository = (char *)w->dst_repo,
                           .tag = tag};
        struct sl_copy_opts copts = {0};
        struct sl_copy_result cr;
        memset(&cr, 0, sizeof(cr));
        rc = sl_copy_image_refs(&cr, w->src, &s, w->dst, &d, &copts, err);
        if (rc)
            return rc;
        w->res.tags_copied++;
    }
    sl_err_clear(err);
    return 0;
}

/* Copies the referrers of subject (recursively up to SL_REFERRERS_MAX_DEPTH). */
static int copy_subject(struct walk *w, const char *subject, int depth, struct sl_err *err)
{
    char *sidx = NULL, *didx = NULL;
    size_t slen = 0, dlen = 0;
    int dapi = 0;
    json_t *sroot = NULL, *smf = NULL, *droot = NULL, *dmf = NULL;
    bool changed = false;
    char what[160];
    int rc = sl_registry_referrers(&sidx, &slen, w->src, w->src_repo, subject, NULL, err);
    if (rc)
        goto done;
    snprintf(what, sizeof(what), "the referrers of %s in the source", subject);
    rc = parse_index(&sroot, &smf, sidx, slen, what, err);
    if (rc || json_array_size(smf) == 0)
        goto done;
    rc = sl_registry_referrers_ex(&didx, &dlen, &dapi, w->dst, w->dst_repo, subject, NULL, err);
    if (rc)
        goto done;
    snprintf(what, sizeof(what), "the referrers of %s in the target", subject);
    rc = parse_index(&droot, &dmf, didx, dlen, what, err);
    if (rc)
        goto done;
    size_t i;
    json_t *d;
    json_array_foreach(smf, i, d)
    {
        const char *dd = json_string_value(json_object_get(d, "digest"));
        const char *at = json_string_value(json_object_get(d, "artifactType"));
        if (!dd || !sl_ref_is_digest(dd)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                            "a referrer of %s in the source has no valid digest", subject);
            goto done;
        }
        if (!wanted(w, at) || !visit(w, dd))
            continue;
        if (w->n_visited > SL_REFERRERS_MAX_TOTAL) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY, "more than %d referrers to copy",
                            SL_REFERRERS_MAX_TOTAL);
            goto done;
        }
        int already = 0;
        rc = copy_by_digest(&already, w, dd, err);
        if (rc) {
            sl_err_prefix(err, "referrer %s of %s", dd, subject);
            goto done;
        }
        bool indexed = dapi || find_descriptor(dmf, dd) != NULL;
        if (already && indexed) {
            w->res.present++;
        } else {
            w->res.copied++;
        }
        count_type(w, at);
        if (!indexed) {
            json_array_append(dmf, d);
            changed = true;
        }
        if (depth + 1 < SL_REFERRERS_MAX_DEPTH) {
            rc = copy_subject(w, dd, depth + 1, err);
            if (rc)
                goto done;
        }
    }
    if (changed)
        rc = put_fallback_index(w->dst, w->dst_repo, subject, droot, err);
done:
    json_decref(sroot);
    json_decref(droot);
    free(sidx);
    free(didx);
    return rc;
}

/* The referrers and legacy tags of one delivered digest (an image or an index child). */
static int copy_image(struct walk *w, const char *digest, struct sl_err *err)
{
    if (!visit(w, digest))
        return 0;
    int rc = copy_subject(w, digest, 0, err);
    if (!rc && !(w->opts && w->opts->skip_legacy_tags))
        rc = copy_legacy_tags(w, digest, err);
    return rc;
}

int sl_referrers_copy(struct sl_referrers_result *out, struct sl_registry *src,
                      const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                      const char *digest, const struct sl_referrers_opts *opts, struct sl_err *err)
{
    struct walk w = {
        .src = src, .dst = dst, .src_repo = src_repo, .dst_repo = dst_repo, .opts = opts};
    struct sl_registry_manifest top = {0};
    struct sl_manifest parsed = {0};
    int rc;
    if (!sl_ref_is_digest(digest)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
        goto done;
    }
    rc = copy_image(&w, digest, err);
    if (rc)
        goto done;
    /* an index: the referrers of each child (a signature of one platform's image) */
    rc = sl_registry_manifest_get(&top, src, src_repo, digest, err);
    if (!rc)
        rc = sl_manifest_parse(&parsed, top.data, top.len, top.media_type, err);
    if (rc)
        goto done;
    for (size_t i = 0; parsed.kind == SL_MANIFEST_INDEX && i < parsed.n_children; i++) {
        rc = copy_image(&w, parsed.children[i].digest, err);
        if (rc)
            goto done;
    }
done:
    if (!rc && out)
        *out = w.res;
    for (size_t i = 0; i < w.n_visited; i++)
        free(w.visited[i]);
    free(w.visited);
    sl_manifest_free(&parsed);
    sl_registry_manifest_free(&top);
    return rc;
}
