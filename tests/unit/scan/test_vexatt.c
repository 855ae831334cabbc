/* OpenVEX attestations attached to the image (scan/vexatt.c) through the fake registry: one
 * signed by a trusted key suppresses, merged with the policy's own documents; one signed by
 * another key, unsigned, for another digest or not valid OpenVEX suppresses nothing and the
 * reason is reported; the fingerprint the gate keys its cache on changes with the attestations;
 * a flood is refused. The keys come from SigningKeys and ConfigMaps (fake API server).
 * argv[1] is tests/data/scan. */
#include "check.h"
#include "fake_kube.h"
#include "fake_registry.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "scan/vexatt.h"
#include "sign/attestation.h"
#include "util/base64.h"
#include "util/mem.h"
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#define HOST "reg.example"
#define REPO "team/app"
#define NS   "vendor"
#define CVE  "CVE-2026-0001"

struct env {
    struct sl_fake_registry *fr;
    struct sl_registry *reg;
    struct sl_key *key, *other;
    struct sl_vexatt_trust trust; /* key, as authority "acme" */
    struct sl_vex base;           /* the policy's own document */
    char digest[72];
    json_t *layers; /* the .att manifest's layers so far */
};

/* An in-toto statement for digest with predicate (JSON text) of predicate_type. Caller frees. */
static char *statement(const char *digest, const char *predicate_type, const char *predicate)
{
    json_t *p = json_loads(predicate, 0, NULL);
    CHECK(p != NULL);
    json_t *st =
        json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:o}", "_type", "https://in-toto.io/Statement/v1",
                  "subject", "name", HOST "/" REPO, "digest", "sha256", digest + 7, "predicateType",
                  predicate_type, "predicate", p);
    char *out = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    return out;
}

/* A DSSE envelope over text, signed with key (NULL: no signature at all). Caller frees. */
static char *envelope(const struct sl_key *key, const char *text)
{
    char *p64 = sl_base64_encode(text, strlen(text));
    json_t *sigs = json_array();
    if (key) {
        char *pae =
            sl_xasprintf("DSSEv1 28 application/vnd.in-toto+json %zu %s", strlen(text), text);
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        struct sl_err err = {0};
        CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, key, pae, strlen(pae), &err), 0);
        char *s64 = sl_base64_encode(sig, sig_len);
        json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid", "", "sig", s64));
        free(s64);
        free(sig);
        free(pae);
    }
    json_t *env = json_pack("{s:s, s:s, s:o}", "payloadType", "application/vnd.in-toto+json",
                            "payload", p64, "signatures", sigs);
    char *out = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    free(p64);
    return out;
}

/* Adds an envelope as a layer of the digest's .att manifest (as cosign attest does). */
static void attach(struct env *e, const char *env)
{
    char d[72], md[72], tag[96];
    sl_fake_registry_put_blob(e->fr, HOST, REPO, env, strlen(env), d);
    json_array_append_new(e->layers,
                          json_pack("{s:s, s:I, s:s}", "mediaType", SL_ATTESTATION_DSSE_MEDIA_TYPE,
                                    "size", (json_int_t)strlen(env), "digest", d));
    json_t *m = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", SL_MT_OCI_MANIFEST,
                          "layers", e->layers);
    char *text = json_dumps(m, JSON_COMPACT);
    snprintf(tag, sizeof(tag), "sha256-%s.att", e->digest + 7);
    sl_fake_registry_put_manifest(e->fr, HOST, REPO, tag, SL_MT_OCI_MANIFEST, text, md);
    free(text);
    json_decref(m);
}

/* The vendor's document (tests/data/scan/vex/attested.openvex.json) attested for digest with
 * key (NULL: unsigned) and predicate type. */
static void attest_vendor(struct env *e, const struct sl_key *key, const char *digest,
                          const char *predicate_type)
{
    char *doc = read_data("vex/attested.openvex.json", NULL);
    char *st = statement(digest, predicate_type, doc);
    char *env = envelope(key, st);
    attach(e, env);
    free(env);
    free(st);
    free(doc);
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->fr = sl_fake_registry_new();
    struct sl_registry_opts o = {
        .transport = sl_fake_registry_transport(e->fr), .backoff_base_ms = 1, .backoff_max_ms = 2};
    e->reg = sl_registry_new(HOST, NULL, &o);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&e->key, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_generate(&e->other, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_public(&e->trust.keys[0], e->key, &err), 0);
    snprintf(e->trust.names[0], sizeof(e->trust.names[0]), "acme");
    e->trust.nkeys = 1;
    sl_fake_registry_put_manifest(e->fr, HOST, REPO, "v1", SL_MT_OCI_MANIFEST,
                                  "{\"schemaVersion\":2,\"layers\":[]}", e->digest);
    e->layers = json_array();
    sl_vex_init(&e->base);
    size_t len = 0;
    char *own = read_data("vex/policy-own.openvex.json", &len);
    CHECK_INT_EQ(sl_vex_load(&e->base, "spec.vex[0] (ConfigMap ours key vex.json)", own, len, &err),
                 0);
    free(own);
}

static void env_free(struct env *e)
{
    sl_key_free(e->key);
    sl_key_free(e->other);
    sl_vexatt_trust_clear(&e->trust);
    sl_vex_free(&e->base);
    json_decref(e->layers);
    sl_registry_free(e->reg);
    sl_fake_registry_free(e->fr);
}

/* What the gate does on a scan: read, then merge after the policy's own document. */
static int read_att(struct env *e, struct sl_vexatt *a, struct sl_err *err)
{
    int rc = sl_vexatt_read(a, e->reg, REPO, e->digest, &e->trust, err);
    if (rc == 0 && (rc = sl_vexatt_merge(a, &e->base, err)) != 0)
        sl_vexatt_free(a);
    return rc;
}

/* The statement deciding CVE in package p of the image, or NULL. */
static const struct sl_vex_statement *decide(const struct env *e, const struct sl_vex *vex,
                                             const char *cve)
{
    struct sl_vex_image img = {e->digest, NULL, HOST "/" REPO};
    return sl_vex_decide(vex, &img, cve, "libfoo", "foo", "1.0");
}

/* An attestation signed by the trusted key suppresses its finding; the policy's own statements
 * still apply; the document is named after the attestation and its authority. cosign's
 * versioned predicate type is read too. */
static void test_verified(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a;
    /* nothing attached: the policy's statements only, nothing ignored */
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 0);
    CHECK_INT_EQ(a.ignored, 0);
    CHECK(decide(&e, &a.vex, CVE) == NULL);
    CHECK(decide(&e, &a.vex, "CVE-2026-0002") != NULL);
    char before[65];
    snprintf(before, sizeof(before), "%s", a.fingerprint);
    sl_vexatt_free(&a);

    attest_vendor(&e, e.key, e.digest, "https://openvex.dev/ns/v0.2.0");
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 1);
    CHECK_INT_EQ(a.ignored, 0);
    const struct sl_vex_statement *st = decide(&e, &a.vex, CVE);
    CHECK(st != NULL);
    if (st) {
        CHECK(sl_vex_status_suppresses(st->status));
        CHECK_STR_EQ(st->justification, "vulnerable_code_not_in_execute_path");
        CHECK_CONTAINS(sl_vex_doc_name(&a.vex, st), "OpenVEX attestation sha256:");
        CHECK_CONTAINS(sl_vex_doc_name(&a.vex, st), "(signed by acme)");
    }
    CHECK(decide(&e, &a.vex, "CVE-2026-0002") != NULL);
    /* a new attestation is a new fingerprint: the gate does not reuse the verdict */
    CHECK(strcmp(before, a.fingerprint) != 0);
    json_t *s = sl_vexatt_summary(&a);
    CHECK_INT_EQ(json_integer_value(json_object_get(s, "verified")), 1);
    CHECK(json_object_get(s, "ignoredReason") == NULL);
    json_decref(s);
    sl_vexatt_free(&a);
    /* the base is copied, not taken */
    CHECK_INT_EQ(e.base.nstatements, 1);
    env_free(&e);
}

/* Signed by another key: ignored, with the reason; nothing suppressed. */
static void test_wrong_key(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a;
    attest_vendor(&e, e.other, e.digest, SL_ATTESTATION_OPENVEX);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 0);
    CHECK_INT_EQ(a.ignored, 1);
    CHECK(decide(&e, &a.vex, CVE) == NULL);
    CHECK_CONTAINS(a.ignored_why, "sha256:");
    CHECK_CONTAINS(a.ignored_why, "signature");
    json_t *s = sl_vexatt_summary(&a);
    CHECK_INT_EQ(json_integer_value(json_object_get(s, "ignored")), 1);
    CHECK_CONTAINS(json_string_value(json_object_get(s, "ignoredReason")), "signature");
    json_decref(s);
    char wrong[65];
    snprintf(wrong, sizeof(wrong), "%s", a.fingerprint);
    sl_vexatt_free(&a);
    /* the vendor then signs it with the trusted key: now it counts, and the verdict changes */
    attest_vendor(&e, e.key, e.digest, SL_ATTESTATION_OPENVEX);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 1);
    CHECK_INT_EQ(a.ignored, 1);
    CHECK(decide(&e, &a.vex, CVE) != NULL);
    CHECK(strcmp(wrong, a.fingerprint) != 0);
    sl_vexatt_free(&a);
    env_free(&e);
}

/* No signature at all, or a statement for another digest: ignored. */
static void test_unsigned_and_other_digest(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a;
    attest_vendor(&e, NULL, e.digest, SL_ATTESTATION_OPENVEX);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 0);
    CHECK_INT_EQ(a.ignored, 1);
    CHECK(decide(&e, &a.vex, CVE) == NULL);
    sl_vexatt_free(&a);
    /* signed by the trusted key, but about another image: copied here, it does not count */
    attest_vendor(&e, e.key,
                  "sha256:9999999999999999999999999999999999999999999999999999999999999999",
                  SL_ATTESTATION_OPENVEX);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 0);
    CHECK_INT_EQ(a.ignored, 2);
    CHECK(decide(&e, &a.vex, CVE) == NULL);
    sl_vexatt_free(&a);
    env_free(&e);
}

/* Signed by the trusted key but not valid OpenVEX: ignored, and the summary names the field. */
static void test_invalid_document(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a;
    char *st = statement(e.digest, SL_ATTESTATION_OPENVEX,
                         "{\"@context\":\"https://openvex.dev/ns/v0.2.0\",\"timestamp\":"
                         "\"2026-01-10T08:00:00Z\",\"statements\":[{\"vulnerability\":{\"name\":"
                         "\"" CVE "\"},\"products\":[{\"@id\":\"reg.example/team/app\"}],"
                         "\"status\":\"not_affected\",\"justification\":\"we_checked\"}]}");
    char *env = envelope(e.key, st);
    attach(&e, env);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(a.verified, 0);
    CHECK_INT_EQ(a.ignored, 1);
    CHECK(decide(&e, &a.vex, CVE) == NULL);
    CHECK_CONTAINS(a.ignored_why, "(signed by acme)");
    CHECK_CONTAINS(a.ignored_why, "justification");
    sl_vexatt_free(&a);
    free(env);
    free(st);
    env_free(&e);
}

/* Unchanged attestations give the same fingerprint (the gate's cached verdict is reused). */
static void test_fingerprint_stable(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a, b;
    attest_vendor(&e, e.key, e.digest, SL_ATTESTATION_OPENVEX);
    CHECK_INT_EQ(read_att(&e, &a, &err), 0);
    CHECK_INT_EQ(read_att(&e, &b, &err), 0);
    CHECK_INT_EQ((int)strlen(a.fingerprint), 64);
    CHECK_STR_EQ(a.fingerprint, b.fingerprint);
    sl_vexatt_free(&a);
    sl_vexatt_free(&b);
    env_free(&e);
}

/* More attestations than the limit: an error, never a partial answer. */
static void test_flood(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_vexatt a;
    for (int i = 0; i <= SL_VEXATT_MAX_ATTESTATIONS; i++)
        attest_vendor(&e, e.other, e.digest, SL_ATTESTATION_OPENVEX);
    memset(&a, 0, sizeof(a));
    CHECK_INT_EQ(read_att(&e, &a, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "OpenVEX attestations of sha256:");
    CHECK_CONTAINS(err.msg, "more than 32 attestations");
    CHECK_INT_EQ(a.verified, 0);
    env_free(&e);
}

/* The authorities' keys: a SigningKey's published key and a ConfigMap key; what is missing
 * or wrong gives the reason the policy's condition shows. */
static void test_trust_load(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    char *pem = NULL;
    CHECK_INT_EQ(sl_key_generate(&k, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&pem, k, &err), 0);
    json_t *att = json_loads("{\"authorities\":[{\"name\":\"vendor\",\"key\":{\"signingKeyRef\":"
                             "{\"name\":\"vendor-key\"}}},{\"name\":\"ours\",\"key\":{"
                             "\"configMapRef\":{\"name\":\"keys\",\"key\":\"cosign.pub\"}}}]}",
                             0, NULL);
    CHECK_INT_EQ(sl_vexatt_spec_check(att, 2, &err), 0);

    struct sl_vexatt_trust t;
    const char *reason = NULL;
    CHECK_INT_EQ(sl_vexatt_trust_load(&t, &ops, NS, att, 2, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "SigningKeyNotReady");
    CHECK_CONTAINS(err.msg, "spec.vex[2].attestations.authorities[0] (vendor)");
    json_t *sk = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "vendor-key", "namespace",
                           NS, "spec", "mode", "VerifyOnly");
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, sk);
    CHECK_INT_EQ(sl_vexatt_trust_load(&t, &ops, NS, att, 2, &reason, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "publishes no public key yet");
    json_object_set_new(sk, "status", json_pack("{s:s}", "publicKey", pem));
    sl_fake_kube_put(fk, &SL_RES_SIGNINGKEY, sk);
    CHECK_INT_EQ(sl_vexatt_trust_load(&t, &ops, NS, att, 2, &reason, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(reason, "ConfigMapNotFound");
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "keys", "namespace", NS,
                           "data", "cosign.pub", "not a key");
    sl_fake_kube_put(fk, &SL_RES_CONFIGMAP, cm);
    CHECK_INT_EQ(sl_vexatt_trust_load(&t, &ops, NS, att, 2, &reason, &err), SL_EINVAL);
    CHECK_STR_EQ(reason, "InvalidVEX");
    CHECK_CONTAINS(err.msg, "authorities[1] (ours): public key");
    json_object_set_new(json_object_get(cm, "data"), "cosign.pub", json_string(pem));
    sl_fake_kube_put(fk, &SL_RES_CONFIGMAP, cm);
    CHECK_INT_EQ(sl_vexatt_trust_load(&t, &ops, NS, att, 2, &reason, &err), 0);
    CHECK_INT_EQ(t.nkeys, 2);
    CHECK_STR_EQ(t.names[1], "ours");
    CHECK_CONTAINS(t.fingerprint, "vendor=sha256:");
    CHECK_CONTAINS(t.fingerprint, "ours=sha256:");
    sl_vexatt_trust_clear(&t);

    /* spec shapes the API server would also refuse */
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{}", "authorities: Invalid value"},
        {"{\"authorities\":[{\"key\":{\"signingKeyRef\":{\"name\":\"a\"}}}]}",
         "authorities[0].name: Required value"},
        {"{\"authorities\":[{\"name\":\"a\",\"key\":{}}]}", "set exactly one of signingKeyRef"},
        {"{\"authorities\":[{\"name\":\"a\",\"key\":{\"configMapRef\":{\"name\":\"x\"}}}]}",
         "key.configMapRef: Required value"},
        {"{\"authorities\":[{\"name\":\"a\",\"key\":{\"signingKeyRef\":{\"name\":\"x\"}}},"
         "{\"name\":\"a\",\"key\":{\"signingKeyRef\":{\"name\":\"y\"}}}]}",
         "authorities[1].name: Duplicate value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = json_loads(bad[i].json, 0, NULL);
        CHECK_INT_EQ(sl_vexatt_spec_check(b, 0, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, bad[i].want);
        json_decref(b);
    }
    json_decref(att);
    json_decref(sk);
    json_decref(cm);
    free(pem);
    sl_key_free(k);
    sl_fake_kube_free(fk);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_verified);
    RUN(test_wrong_key);
    RUN(test_unsigned_and_other_digest);
    RUN(test_invalid_document);
    RUN(test_fingerprint_stable);
    RUN(test_flood);
    RUN(test_trust_load);
    return CHECK_EXIT();
}
