/* Unit tests of controller/sign/attest.c and the DSSE envelopes of bundle.c: the in-toto
 * statement, the signed envelope, and what lands in a registry (the cosign .att tag, a referrer)
 * through the fake transport. */
#include "check.h"
#include "fake_registry.h"
#include "registry_fixture.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "sign/attest.h"
#include "sign/bundle.h"
#include "sign/cosign.h"
#include "util/base64.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST "reg.example"
#define REPO "team/app"
#define SPDX "https://spdx.dev/Document"
#define VULN "https://cosign.sigstore.dev/attestation/vuln/v1"

struct env {
    struct sl_fake_registry *fr;
    struct sl_registry *reg;
    struct sl_key *key, *other, *pub;
    char digest[72];
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->fr = sl_fake_registry_new();
    e->reg = sl_test_registry_client(e->fr, HOST);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&e->key, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_generate(&e->other, SL_KEY_ALG_ED25519, &err), 0);
    char *pem = NULL;
    CHECK_INT_EQ(sl_key_public_pem(&pem, e->key, &err), 0);
    CHECK_INT_EQ(sl_key_load_pem(&e->pub, pem, pem ? strlen(pem) : 0, &err), 0);
    free(pem);
    sl_test_put_image(e->fr, HOST, REPO, "v1", e->digest);
}

static void env_free(struct env *e)
{
    sl_key_free(e->key);
    sl_key_free(e->other);
    sl_key_free(e->pub);
    sl_registry_free(e->reg);
    sl_fake_registry_free(e->fr);
}

/* Does envelope (DSSE JSON) verify with key? *statement gets the decoded payload (caller's). */
static int envelope_verifies(const char *envelope, size_t len, const struct sl_key *key,
                             json_t **statement)
{
    json_t *env = json_loadb(envelope, len, 0, NULL);
    const char *type = json_string_value(json_object_get(env, "payloadType"));
    const char *p64 = json_string_value(json_object_get(env, "payload"));
    const char *s64 = json_string_value(
        json_object_get(json_array_get(json_object_get(env, "signatures"), 0), "sig"));
    unsigned char *payload = NULL, *sig = NULL;
    size_t payload_len = 0, sig_len = 0;
    int rc = -1;
    if (type && p64 && s64 && sl_base64_decode(&payload, &payload_len, p64, strlen(p64)) == 0 &&
        sl_base64_decode(&sig, &sig_len, s64, strlen(s64)) == 0) {
        /* PAE written out independently of bundle.c */
        char head[256];
        int n = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, payload_len);
        char *pae = sl_xmalloc((size_t)n + payload_len);
        memcpy(pae, head, (size_t)n);
        memcpy(pae + n, payload, payload_len);
        struct sl_err err = {0};
        rc = sl_key_verify(key, pae, (size_t)n + payload_len, sig, sig_len, &err);
        free(pae);
        if (statement)
            *statement = json_loadb((const char *)payload, payload_len, 0, NULL);
    }
    free(payload);
    free(sig);
    json_decref(env);
    return rc;
}

/* The statement is in-toto v0.1 with the image digest as its only subject. */
static void test_statement(void)
{
    struct env e;
    env_init(&e);
    json_t *pred = json_pack("{s:s}", "spdxVersion", "SPDX-2.3");
    char *st = NULL;
    size_t len = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_attest_statement(&st, &len, HOST "/" REPO, e.digest, SPDX, pred, &err), 0);
    json_t *j = json_loadb(st, len, 0, NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "_type")),
                 "https://in-toto.io/Statement/v0.1");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "predicateType")), SPDX);
    json_t *sub = json_array_get(json_object_get(j, "subject"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(sub, "name")), HOST "/" REPO);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(sub, "digest"), "sha256")),
                 e.digest + 7);
    CHECK(json_equal(json_object_get(j, "predicate"), pred));
    json_decref(j);
    free(st);
    st = NULL;
    CHECK_INT_EQ(sl_attest_statement(&st, &len, HOST "/" REPO, "sha256:abc", SPDX, pred, &err),
                 SL_EINVAL);
    CHECK(st == NULL);
    json_decref(pred);
    env_free(&e);
}

/* The envelope's signature is over PAE(type, payload) by the signing key: the public half
 * verifies it, another key does not, and a changed payload no longer verifies. */
static void test_envelope(void)
{
    struct env e;
    env_init(&e);
    const char *payload = "{\"_type\":\"https://in-toto.io/Statement/v0.1\"}";
    char *env = NULL;
    size_t len = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(
        sl_dsse_envelope(&env, &len, SL_BUNDLE_PAYLOAD_TYPE, payload, strlen(payload), e.key, &err),
        0);
    CHECK_INT_EQ(envelope_verifies(env, len, e.pub, NULL), 0);
    CHECK(envelope_verifies(env, len, e.other, NULL) != 0);
    json_t *j = json_loadb(env, len, 0, NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "payloadType")), SL_BUNDLE_PAYLOAD_TYPE);
    char *forged = sl_base64_encode("{\"_type\":\"x\"}", 13);
    json_object_set_new(j, "payload", json_string(forged));
    free(forged);
    char *tampered = json_dumps(j, JSON_COMPACT);
    CHECK(envelope_verifies(tampered, strlen(tampered), e.pub, NULL) != 0);
    free(tampered);
    json_decref(j);
    free(env);
    env = NULL;
    CHECK_INT_EQ(
        sl_dsse_envelope(&env, &len, SL_BUNDLE_PAYLOAD_TYPE, payload, strlen(payload), e.pub, &err),
        SL_EINVAL);
    env_free(&e);
}

/* The .att layer of predicate type pt, or NULL. */
static json_t *att_layer(json_t *m, const char *pt, size_t nth)
{
    size_t i, seen = 0;
    json_t *l;
    json_array_foreach(json_object_get(m, "layers"), i, l)
    {
        const char *t = json_string_value(
            json_object_get(json_object_get(l, "annotations"), SL_ATTEST_ANN_PREDICATE));
        if (t && strcmp(t, pt) == 0 && seen++ == nth)
            return l;
    }
    return NULL;
}

/* Attestations land under sha256-<hex>.att as cosign lays them out: DSSE envelope layers with a
 * predicateType annotation, each write added next to what is there (an SBOM and two vuln
 * reports: three layers), the envelope verifiable with the key and naming the digest; the .sig
 * tag is not touched. */
static void test_write_att_tag(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_attest_where tag = {.tag = true};
    struct sl_attest_result res;
    json_t *sbom = json_pack("{s:s}", "spdxVersion", "SPDX-2.3");
    json_t *v1 = json_pack("{s:{s:s}}", "metadata", "scanFinishedOn", "2026-12-06T08:00:00Z");
    json_t *v2 = json_pack("{s:{s:s}}", "metadata", "scanFinishedOn", "2026-12-07T08:00:00Z");
    CHECK_INT_EQ(
        sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, SPDX, sbom, e.key, &tag, &err),
        0);
    CHECK_INT_EQ((int)res.layers, 1);
    CHECK_INT_EQ(
        sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, VULN, v1, e.key, &tag, &err),
        0);
    CHECK_INT_EQ(
        sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, VULN, v2, e.key, &tag, &err),
        0);
    CHECK_INT_EQ((int)res.layers, 3);
    char att[96];
    snprintf(att, sizeof(att), "sha256-%s.att", e.digest + 7);
    const char *ms = sl_fake_registry_manifest(e.fr, HOST, REPO, att);
    CHECK(ms != NULL);
    json_t *m = json_loads(ms ? ms : "{}", 0, NULL);
    CHECK_INT_EQ((int)json_array_size(json_object_get(m, "layers")), 3);
    json_t *l = att_layer(m, VULN, 1);
    CHECK(l != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(l, "mediaType")),
                 "application/vnd.dsse.envelope.v1+json");
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_object_get(l, "annotations"), SL_COSIGN_SIG_ANNOTATION)),
                 "");
    char *blob = NULL;
    size_t blob_len = 0;
    const char *ld = json_string_value(json_object_get(l, "digest"));
    CHECK_INT_EQ(sl_registry_blob_get(&blob, &blob_len, e.reg, REPO, ld, 1 << 20, &err), 0);
    json_t *st = NULL;
    CHECK_INT_EQ(envelope_verifies(blob, blob_len, e.pub, &st), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(json_object_get(st, "subject"), 0), "digest"),
                     "sha256")),
                 e.digest + 7);
    /* the newest vuln report is the later layer */
    CHECK(json_equal(json_object_get(st, "predicate"), v2));
    json_decref(st);
    free(blob);
    json_decref(m);
    char sig[96];
    snprintf(sig, sizeof(sig), "sha256-%s.sig", e.digest + 7);
    CHECK(sl_fake_registry_manifest(e.fr, HOST, REPO, sig) == NULL);
    /* a public key cannot attest; nowhere to store is refused */
    CHECK_INT_EQ(
        sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, VULN, v1, e.pub, &tag, &err),
        SL_EINVAL);
    struct sl_attest_where nowhere = {0};
    CHECK_INT_EQ(sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, VULN, v1, e.key,
                                 &nowhere, &err),
                 SL_EINVAL);
    json_decref(sbom);
    json_decref(v1);
    json_decref(v2);
    env_free(&e);
}

/* Reports written at every rescan stay bounded: of this key's vuln layers the newest
 * SL_ATTEST_KEEP stay, the oldest go; the SBOM and another writer's layer of the same type are
 * kept. */
static void test_att_tag_bounded(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_attest_where tag = {.tag = true};
    json_t *sbom = json_pack("{s:s}", "spdxVersion", "SPDX-2.3");
    CHECK_INT_EQ(
        sl_attest_write(NULL, e.reg, REPO, HOST "/" REPO, e.digest, SPDX, sbom, e.key, &tag, &err),
        0);
    /* the vendor's own vuln attestation, copied along: no sealift mark */
    char foreign_digest[72];
    sl_fake_registry_put_blob(e.fr, HOST, REPO, "{\"payloadType\":\"x\"}", 18, foreign_digest);
    json_t *foreign =
        json_pack("{s:s, s:i, s:s, s:{s:s}}", "mediaType", SL_ATTEST_LAYER_MEDIA_TYPE, "size", 18,
                  "digest", foreign_digest, "annotations", SL_ATTEST_ANN_PREDICATE, VULN);
    CHECK_INT_EQ(sl_cosign_attach_layer(NULL, e.reg, REPO, e.digest, "att", foreign, NULL, &err),
                 0);
    struct sl_attest_result res = {0};
    for (int i = 0; i <= SL_ATTEST_KEEP; i++) {
        json_t *v = json_pack("{s:{s:i}}", "metadata", "n", i);
        CHECK_INT_EQ(
            sl_attest_write(&res, e.reg, REPO, HOST "/" REPO, e.digest, VULN, v, e.key, &tag, &err),
            0);
        json_decref(v);
    }
    /* SBOM + foreign + the newest SL_ATTEST_KEEP reports */
    CHECK_INT_EQ((int)res.layers, SL_ATTEST_KEEP + 2);
    char att[96];
    snprintf(att, sizeof(att), "sha256-%s.att", e.digest + 7);
    json_t *m = json_loads(sl_fake_registry_manifest(e.fr, HOST, REPO, att), 0, NULL);
    CHECK(att_layer(m, SPDX, 0) != NULL);
    bool foreign_kept = false;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "layers"), i, l)
    {
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (d && strcmp(d, foreign_digest) == 0)
            foreign_kept = true;
    }
    CHECK(foreign_kept);
    /* the oldest report (n = 0) went, the newest (n = KEEP) is the last layer */
    json_t *first = att_layer(m, VULN, 1), *last = att_layer(m, VULN, SL_ATTEST_KEEP);
    CHECK(first != NULL && last != NULL);
    const char *ds[2] = {json_string_value(json_object_get(first, "digest")),
                         json_string_value(json_object_get(last, "digest"))};
    int want[2] = {1, SL_ATTEST_KEEP};
    for (int k = 0; k < 2; k++) {
        char *blob = NULL;
        size_t blob_len = 0;
        json_t *st = NULL;
        CHECK_INT_EQ(sl_registry_blob_get(&blob, &blob_len, e.reg, REPO, ds[k], 1 << 20, &err), 0);
        CHECK_INT_EQ(envelope_verifies(blob, blob_len, e.pub, &st), 0);
        CHECK_INT_EQ((int)json_integer_value(json_object_get(
                         json_object_get(json_object_get(st, "predicate"), "metadata"), "n")),
                     want[k]);
        json_decref(st);
        free(blob);
    }
    json_decref(m);
    json_decref(foreign);
    json_decref(sbom);
    env_free(&e);
}

/* As a referrer: a Sigstore bundle artifact whose descriptor carries the predicate type, listed
 * in the tag-schema fallback index on a registry without the referrers API; no .att tag. */
static void test_write_referrer(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_attest_where ref = {.referrer = true};
    json_t *sbom = json_pack("{s:s}", "bomFormat", "CycloneDX");
    CHECK_INT_EQ(sl_attest_write(NULL, e.reg, REPO, HOST "/" REPO, e.digest,
                                 "https://cyclonedx.org/bom", sbom, e.key, &ref, &err),
                 0);
    char idx_tag[96], att[96];
    snprintf(idx_tag, sizeof(idx_tag), "sha256-%s", e.digest + 7);
    snprintf(att, sizeof(att), "sha256-%s.att", e.digest + 7);
    CHECK(sl_fake_registry_manifest(e.fr, HOST, REPO, att) == NULL);
    const char *is = sl_fake_registry_manifest(e.fr, HOST, REPO, idx_tag);
    CHECK(is != NULL);
    json_t *idx = json_loads(is ? is : "{}", 0, NULL);
    json_t *d = json_array_get(json_object_get(idx, "manifests"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(d, "artifactType")), SL_BUNDLE_MEDIA_TYPE);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(d, "annotations"),
                                                   "dev.sigstore.bundle.predicateType")),
                 "https://cyclonedx.org/bom");
    json_decref(idx);
    json_decref(sbom);
    env_free(&e);
}

int main(void)
{
    RUN(test_statement);
    RUN(test_envelope);
    RUN(test_write_att_tag);
    RUN(test_att_tag_bounded);
    RUN(test_write_referrer);
    return CHECK_EXIT();
}
