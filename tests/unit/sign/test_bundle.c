/* Unit tests of controller/sign/bundle.c: the Sigstore bundles cosign v3 writes. argv[1] is
 * tests/data (a bundle the real cosign v3.1.3 wrote, with its public key, and the test keys). */
#include "check.h"
#include "testdata.h"
#include "oci/manifest.h"
#include "sign/bundle.h"
#include "sign/keys.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data";

static char *read_data(const char *name, size_t *len)
{
    return sl_test_read_file(len, "%s/%s", data_dir, name);
}

static struct sl_key *load_key(const char *name)
{
    size_t len = 0;
    char *pem = read_data(name, &len);
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    if (sl_key_load_pem(&k, pem, len, &err) != 0) {
        fprintf(stderr, "loading %s: %s\n", name, err.msg);
        exit(2);
    }
    free(pem);
    return k;
}

/* The bundle with its DSSE payload replaced by base64(statement), signature kept. */
static char *with_payload(const char *bundle, const char *statement)
{
    json_error_t jerr;
    json_t *b = json_loads(bundle, 0, &jerr);
    char *p64 = sl_base64_encode(statement, strlen(statement));
    json_object_set_new(json_object_get(b, "dsseEnvelope"), "payload", json_string(p64));
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    free(p64);
    return s;
}

/* A bundle over statement signed (DSSE PAE) with key: lets a test sign what cosign would not. */
static char *signed_bundle(const char *statement, const struct sl_key *key)
{
    const char *type = SL_BUNDLE_PAYLOAD_TYPE;
    char *pae =
        sl_xasprintf("DSSEv1 %zu %s %zu %s", strlen(type), type, strlen(statement), statement);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, key, pae, strlen(pae), &err), 0);
    char *s64 = sl_base64_encode(sig, sig_len),
         *p64 = sl_base64_encode(statement, strlen(statement));
    json_t *b =
        json_pack("{s:s, s:{s:s, s:s, s:[{s:s}]}}", "mediaType", SL_BUNDLE_MEDIA_TYPE,
                  "dsseEnvelope", "payload", p64, "payloadType", type, "signatures", "sig", s64);
    char *out = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    free(pae);
    free(sig);
    free(s64);
    free(p64);
    return out;
}

static void test_cosign_v3_bundle_verifies(void)
{
    size_t len = 0;
    char *bundle = read_data("sign/cosign-v3-bundle.json", &len);
    char *digest = read_data("sign/cosign-v3-bundle.digest", NULL);
    struct sl_key *pub = load_key("sign/cosign-v3.pub");
    struct sl_key *other = load_key("keys/ecdsa-p256.pub");
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_bundle_check(bundle, len, digest, pub, &err), 0);

    /* another key: refused, naming the key */
    CHECK_INT_EQ(sl_bundle_check(bundle, len, digest, other, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "does not verify with key sha256:") != NULL);

    /* another image: the statement names a different subject */
    const char *elsewhere =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK_INT_EQ(sl_bundle_check(bundle, len, elsewhere, pub, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "does not name sha256:0000") != NULL);
    free(bundle);
    free(digest);
    sl_key_free(pub);
    sl_key_free(other);
}

static void test_tampered_bundle_refused(void)
{
    char *bundle = read_data("sign/cosign-v3-bundle.json", NULL);
    char *digest = read_data("sign/cosign-v3-bundle.digest", NULL);
    struct sl_key *pub = load_key("sign/cosign-v3.pub");
    struct sl_err err = {0};
    /* a statement for the same digest, but not the bytes that were signed */
    char *st = sl_xasprintf("{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{"
                            "\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":"
                            "\"https://sigstore.dev/cosign/sign/v1\",\"predicate\":{}}",
                            digest + 7);
    char *t = with_payload(bundle, st);
    CHECK_INT_EQ(sl_bundle_check(t, strlen(t), digest, pub, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "DSSE signature does not verify") != NULL);
    free(t);

    /* the wrong payload type changes the PAE: refused before anything else */
    json_error_t jerr;
    json_t *b = json_loads(bundle, 0, &jerr);
    json_object_set_new(json_object_get(b, "dsseEnvelope"), "payloadType",
                        json_string("text/plain"));
    t = json_dumps(b, JSON_COMPACT);
    CHECK_INT_EQ(sl_bundle_check(t, strlen(t), digest, pub, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "payload type is text/plain") != NULL);
    free(t);
    json_decref(b);

    /* not a bundle at all */
    CHECK_INT_EQ(sl_bundle_check("{\"a\":1}", 7, digest, pub, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_bundle_check("not json", 8, digest, pub, &err), SL_EINVAL);
    free(st);
    free(bundle);
    free(digest);
    sl_key_free(pub);
}

static void test_predicate_and_statement_checked(void)
{
    struct sl_key *key = load_key("keys/ecdsa-p256.key");
    const char *digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    struct sl_err err = {0};
    /* validly signed, right subject, but an attestation's predicate: not an image signature */
    char *st = sl_xasprintf("{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{"
                            "\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":"
                            "\"https://slsa.dev/provenance/v1\",\"predicate\":{}}",
                            digest + 7);
    char *b = signed_bundle(st, key);
    CHECK_INT_EQ(sl_bundle_check(b, strlen(b), digest, key, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "predicate type https://slsa.dev/provenance/v1") != NULL);
    free(b);
    free(st);
    /* validly signed, but not an in-toto statement */
    b = signed_bundle("{\"critical\":{}}", key);
    CHECK_INT_EQ(sl_bundle_check(b, strlen(b), digest, key, &err), SL_EDIGEST);
    CHECK(strstr(err.msg, "not an in-toto statement") != NULL);
    free(b);
    sl_key_free(key);
}

static void test_build_round_trip(void)
{
    struct sl_key *key = load_key("keys/ecdsa-p256.key");
    struct sl_key *pub = load_key("keys/ecdsa-p256.pub");
    struct sl_key *other = load_key("keys/ecdsa-p384.pub");
    const char *digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    struct sl_err err = {0};
    char *b = NULL;
    size_t len = 0;
    CHECK_INT_EQ(sl_bundle_build(&b, &len, digest, key, &err), 0);
    CHECK_INT_EQ(sl_bundle_check(b, len, digest, pub, &err), 0);
    CHECK_INT_EQ(sl_bundle_check(b, len, digest, other, &err), SL_EDIGEST);
    /* the key hint cosign writes: base64 SHA-256 of the DER public key */
    json_error_t jerr;
    json_t *j = json_loadb(b, len, 0, &jerr);
    const char *hint = json_string_value(json_object_get(
        json_object_get(json_object_get(j, "verificationMaterial"), "publicKey"), "hint"));
    unsigned char *der = NULL, *raw = NULL;
    size_t der_len = 0, raw_len = 0;
    CHECK_INT_EQ(sl_key_public_der(&der, &der_len, pub, &err), 0);
    char want[72];
    sl_digest_sha256(want, der, der_len);
    CHECK(hint && sl_base64_decode(&raw, &raw_len, hint, strlen(hint)) == 0 && raw_len == 32);
    char hex[65] = "";
    for (size_t i = 0; raw && i < 32 && raw_len == 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    CHECK_STR_EQ(hex, want + 7);
    json_decref(j);
    free(der);
    free(raw);
    free(b);
    /* a public key cannot sign */
    CHECK_INT_EQ(sl_bundle_build(&b, &len, digest, pub, &err), SL_EINVAL);
    sl_key_free(key);
    sl_key_free(pub);
    sl_key_free(other);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_cosign_v3_bundle_verifies);
    RUN(test_tampered_bundle_refused);
    RUN(test_predicate_and_statement_checked);
    RUN(test_build_round_trip);
    return CHECK_EXIT();
}
