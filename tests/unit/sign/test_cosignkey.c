/* Unit tests of controller/sign/cosignkey.c and the cosign format paths of keys.c. argv[1] is
 * the directory of tests/data/keys: cosign-generated.key was written by the real cosign
 * (`COSIGN_PASSWORD=test-only cosign generate-key-pair`), cosign-hostile/ holds altered
 * envelopes (tests/data/keys/README.md). */
#include "check.h"
#include "testdata.h"
#include "sign/cosignkey.h"
#include "sign/keys.h"
#include "util/err.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data/keys";

#define PASSWORD "test-only"
/* sha256 of the DER public keys cosign wrote next to the private keys (cosign-*.pub). */
#define FP_COSIGN       "sha256:8da3c847443f926cce61f98183adb50c2803ddb8540fd014014f17077318192f"
#define FP_COSIGN_EMPTY "sha256:d11b02a179cac521b03b5993463ec7745e4dda5317c82e2c1b81e37f30916dc0"

static char *read_fixture(const char *name, size_t *len)
{
    return sl_test_read_file(len, "%s/%s", data_dir, name);
}

static int load(struct sl_key **out, const char *name, const char *password, struct sl_err *err)
{
    size_t len = 0;
    char *pem = read_fixture(name, &len);
    int rc = sl_key_load_private_pem_password(out, pem, len, password,
                                              password ? strlen(password) : 0, err);
    free(pem);
    return rc;
}

/* The key signs, and the public key cosign wrote next to it verifies the signature. */
static void check_pair(const struct sl_key *key, const char *pub_name, const char *want_fp)
{
    struct sl_err err = {0};
    char fp[SL_KEY_FINGERPRINT_LEN];
    CHECK_INT_EQ(sl_key_fingerprint(fp, key, &err), 0);
    CHECK_STR_EQ(fp, want_fp);
    CHECK(sl_key_get_algorithm(key) == SL_KEY_ALG_ECDSA_P256);
    size_t len = 0;
    char *pub_pem = read_fixture(pub_name, &len);
    struct sl_key *pub = NULL;
    CHECK_INT_EQ(sl_key_load_public_pem(&pub, pub_pem, len, &err), 0);
    static const char msg[] = "{\"critical\":{}}";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, key, msg, sizeof(msg) - 1, &err), 0);
    if (pub != NULL)
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len, &err), 0);
    free(sig);
    sl_key_free(pub);
    free(pub_pem);
}

static void test_cosign_generated_keys_load(void)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    CHECK_INT_EQ(load(&k, "cosign-generated.key", PASSWORD, &err), 0);
    if (k)
        check_pair(k, "cosign-generated.pub", FP_COSIGN);
    sl_key_free(k);
    k = NULL;
    /* older cosign releases labelled the block "ENCRYPTED COSIGN PRIVATE KEY" */
    CHECK_INT_EQ(load(&k, "cosign-legacy-label.key", PASSWORD, &err), 0);
    if (k)
        check_pair(k, "cosign-generated.pub", FP_COSIGN);
    sl_key_free(k);
    k = NULL;
    /* COSIGN_PASSWORD= cosign generate-key-pair: the empty password, also without one */
    CHECK_INT_EQ(load(&k, "cosign-empty-password.key", NULL, &err), 0);
    if (k)
        check_pair(k, "cosign-empty-password.pub", FP_COSIGN_EMPTY);
    sl_key_free(k);
    k = NULL;
    CHECK_INT_EQ(load(&k, "cosign-empty-password.key", "", &err), 0);
    sl_key_free(k);
}

static void test_wrong_password_is_a_clear_error(void)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    CHECK_INT_EQ(load(&k, "cosign-generated.key", "test-onlY", &err), SL_EAUTH);
    CHECK(k == NULL);
    CHECK_CONTAINS(err.msg, "cannot decrypt the cosign private key: wrong password");
    CHECK(strstr(err.msg, "test-onlY") == NULL);
    CHECK_INT_EQ(load(&k, "cosign-generated.key", NULL, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "it needs a password and none (or an empty one) was given");
    CHECK(k == NULL);
    /* a password for a key that has none is refused the same way */
    CHECK_INT_EQ(load(&k, "cosign-empty-password.key", PASSWORD, &err), SL_EAUTH);
    CHECK(k == NULL);
}

static void round_trip(enum sl_key_algorithm alg)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL, *back = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    char fp1[SL_KEY_FINGERPRINT_LEN], fp2[SL_KEY_FINGERPRINT_LEN];
    static const char pw[] = "correct horse battery staple";
    CHECK_INT_EQ(sl_key_generate(&k, alg, &err), 0);
    CHECK_INT_EQ(sl_key_private_pem_encrypted(&pem, &pem_len, k, pw, strlen(pw), &err), 0);
    if (pem == NULL) {
        sl_key_free(k);
        return;
    }
    CHECK_INT_EQ((int)strlen(pem), (int)pem_len);
    CHECK(strncmp(pem, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", 47) == 0);
    CHECK(sl_cosignkey_is_encrypted(pem, pem_len));
    /* cosign's envelope with the parameters cosign generate-key-pair writes */
    struct sl_cosignkey_envelope *env = NULL;
    CHECK_INT_EQ(sl_cosignkey_parse(&env, pem, pem_len, &err), 0);
    if (env) {
        CHECK(env->scrypt_n == 65536 && env->scrypt_r == 8 && env->scrypt_p == 1);
        CHECK_INT_EQ((int)env->salt_len, 32);
    }
    sl_cosignkey_envelope_free(env);
    CHECK_INT_EQ(sl_key_load_private_pem_password(&back, pem, pem_len, pw, strlen(pw), &err), 0);
    if (back) {
        CHECK_INT_EQ(sl_key_fingerprint(fp1, k, &err), 0);
        CHECK_INT_EQ(sl_key_fingerprint(fp2, back, &err), 0);
        CHECK_STR_EQ(fp1, fp2);
        CHECK(sl_key_get_algorithm(back) == alg);
        CHECK(sl_key_has_private(back));
    }
    sl_key_free(back);
    back = NULL;
    CHECK_INT_EQ(sl_key_load_private_pem_password(&back, pem, pem_len, "other", 5, &err), SL_EAUTH);
    CHECK(back == NULL);
    free(pem);
    sl_key_free(k);
}

static void test_round_trip(void)
{
    round_trip(SL_KEY_ALG_ECDSA_P256);
    round_trip(SL_KEY_ALG_ECDSA_P384);
    round_trip(SL_KEY_ALG_ED25519);
}

/* Two exports of the same key never share salt or nonce. */
static void test_fresh_salt_and_nonce(void)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    char *a = NULL, *b = NULL;
    struct sl_cosignkey_envelope *ea = NULL, *eb = NULL;
    CHECK_INT_EQ(sl_key_generate(&k, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_private_pem_encrypted(&a, NULL, k, "pw", 2, &err), 0);
    CHECK_INT_EQ(sl_key_private_pem_encrypted(&b, NULL, k, "pw", 2, &err), 0);
    CHECK_INT_EQ(sl_cosignkey_parse(&ea, a, strlen(a), &err), 0);
    CHECK_INT_EQ(sl_cosignkey_parse(&eb, b, strlen(b), &err), 0);
    if (ea && eb) {
        CHECK(memcmp(ea->salt, eb->salt, 32) != 0);
        CHECK(memcmp(ea->nonce, eb->nonce, SL_COSIGNKEY_NONCE_LEN) != 0);
    }
    sl_cosignkey_envelope_free(ea);
    sl_cosignkey_envelope_free(eb);
    free(a);
    free(b);
    sl_key_free(k);
}

static void check_hostile(const char *name, int want_rc, const char *want_msg)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    char path[128];
    snprintf(path, sizeof(path), "cosign-hostile/%s.key", name);
    int rc = load(&k, path, PASSWORD, &err);
    if (rc != want_rc)
        fprintf(stderr, "  %s: rc %d, message: %s\n", name, rc, err.msg);
    CHECK_INT_EQ(rc, want_rc);
    CHECK(k == NULL);
    CHECK_CONTAINS(err.msg, want_msg);
    CHECK(strstr(err.msg, PASSWORD) == NULL);
    sl_key_free(k);
}

static void test_hostile_envelopes(void)
{
    /* cost parameters outside cosign's sets are refused before any key derivation */
    check_hostile("scrypt-huge-n", SL_EUNSUPPORTED, "kdf.params: scrypt N=1073741824 r=8 p=1");
    check_hostile("scrypt-huge-p", SL_EUNSUPPORTED, "kdf.params: scrypt N=65536 r=8 p=1048576");
    check_hostile("n-as-string", SL_EINVAL, "kdf.params: Required value: integers N, r and p");
    check_hostile("kdf-argon2", SL_EUNSUPPORTED, "kdf.name: \"argon2id\" is not supported");
    check_hostile("cipher-aesgcm", SL_EUNSUPPORTED, "cipher.name: \"aes-256-gcm\"");
    check_hostile("nonce-short", SL_EINVAL, "cipher.nonce: 12 bytes, expected 24");
    check_hostile("no-ciphertext", SL_EINVAL, "ciphertext: Required value");
    check_hostile("ciphertext-bad-base64", SL_EINVAL, "ciphertext: invalid base64");
    check_hostile("ciphertext-short", SL_EINVAL, "ciphertext: 8 bytes, shorter than its MAC");
    check_hostile("salt-too-long", SL_ETOOBIG, "kdf.salt: longer than 256 bytes");
    check_hostile("not-json", SL_EINVAL, "not a JSON object");
    check_hostile("json-array", SL_EINVAL, "not a JSON object");
    check_hostile("deep-nesting", SL_EINVAL, "not a JSON object");
    /* one flipped bit of the ciphertext: secretbox's MAC catches it */
    check_hostile("ciphertext-altered", SL_EAUTH, "wrong password (or the key was altered)");
}

/* A well-formed envelope around something that is not a PKCS#8 key. */
static void test_envelope_without_a_key(void)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    static const unsigned char not_der[] = "this is not DER";
    CHECK_INT_EQ(sl_cosignkey_encrypt(&pem, &pem_len, not_der, sizeof(not_der), "pw", 2, &err), 0);
    if (pem == NULL)
        return;
    CHECK_INT_EQ(sl_key_load_private_pem_password(&k, pem, pem_len, "pw", 2, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "the decrypted cosign key is not a PKCS#8 private key");
    CHECK(k == NULL);
    /* and a public key loader refuses it as a private key */
    CHECK_INT_EQ(sl_key_load_public_pem(&k, pem, pem_len, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "private key where a public key");
    free(pem);
}

static void test_parse_bounds(void)
{
    struct sl_err err = {0};
    struct sl_cosignkey_envelope *env = NULL;
    CHECK_INT_EQ(sl_cosignkey_parse(&env, "", 0, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "no readable \"ENCRYPTED SIGSTORE PRIVATE KEY\" PEM block");
    size_t big = SL_COSIGNKEY_CIPHERTEXT_MAX * 4 + 1;
    char *buf = sl_xcalloc(1, big);
    memset(buf, 'A', big);
    CHECK_INT_EQ(sl_cosignkey_parse(&env, buf, big, &err), SL_ETOOBIG);
    free(buf);
    CHECK(env == NULL);
    unsigned char *der = NULL;
    size_t der_len = 0;
    CHECK_INT_EQ(
        sl_cosignkey_decrypt(&der, &der_len, "-----BEGIN PRIVATE KEY-----\n", 28, NULL, 0, &err),
        SL_EINVAL);
    CHECK(der == NULL);
    char *pem = NULL;
    CHECK_INT_EQ(sl_cosignkey_encrypt(&pem, NULL, (const unsigned char *)"", 0, "pw", 2, &err),
                 SL_ETOOBIG);
    CHECK(pem == NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_cosign_generated_keys_load);
    RUN(test_wrong_password_is_a_clear_error);
    RUN(test_round_trip);
    RUN(test_fresh_salt_and_nonce);
    RUN(test_hostile_envelopes);
    RUN(test_envelope_without_a_key);
    RUN(test_parse_bounds);
    return CHECK_EXIT();
}
