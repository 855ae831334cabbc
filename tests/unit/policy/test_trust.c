/* Unit tests of DeployPolicy key pinning (policy/trust.h). argv[1] is tests/data/keys. */
#include "check.h"
#include "testdata.h"
#include "policy/trust.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fingerprints from tests/data/keys/README.md (computed with the openssl CLI). */
#define FP_P256    "sha256:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"
#define FP_ED25519 "sha256:27a232a4474df6d7f9a4917b63da7d8dc3637947d37f28bbe885c6b89c17f9cf"

static const char *data_dir = "tests/data/keys";

static char *read_fixture(const char *name)
{
    return sl_test_read_file(NULL, "%s/%s", data_dir, name);
}

/* A SigningKey as its status shows it: publicKey PEM and a claimed fingerprint. */
static json_t *signing_key(const char *pub_file, const char *claimed_fingerprint)
{
    char *pem = read_fixture(pub_file);
    json_t *sk = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "kind", "SigningKey", "metadata",
                           "namespace", "vendor", "name", "release", "status", "publicKey", pem,
                           "fingerprint", claimed_fingerprint);
    free(pem);
    return sk;
}

static json_t *ref(const char *fingerprint)
{
    json_t *r = json_pack("{s:s, s:s}", "namespace", "vendor", "name", "release");
    if (fingerprint)
        json_object_set_new(r, "fingerprint", json_string(fingerprint));
    return r;
}

static void test_pinned_key_is_trusted(void)
{
    json_t *sk = signing_key("ecdsa-p256.pub", FP_P256);
    json_t *r = ref(FP_P256);
    struct sl_key *key = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_trusted_key(&key, r, sk, &err), 0);
    CHECK(key != NULL);
    char fp[SL_KEY_FINGERPRINT_LEN];
    CHECK_INT_EQ(sl_key_fingerprint(fp, key, &err), 0);
    CHECK_STR_EQ(fp, FP_P256);
    sl_key_free(key);
    json_decref(r);
    json_decref(sk);
}

/* Whoever can write the SigningKey (or apply one through a GitSource in its namespace) swaps
 * its public key for their own: the policy does not trust it, and says why. */
static void test_swapped_key_is_not_trusted(void)
{
    json_t *sk = signing_key("ed25519.pub", FP_ED25519);
    json_t *r = ref(FP_P256);
    struct sl_key *key = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_policy_trusted_key(&key, r, sk, &err), SL_ECONFLICT);
    CHECK(key == NULL);
    CHECK_CONTAINS(err.msg, "SigningKey vendor/release");
    CHECK_CONTAINS(err.msg, "publishes key " FP_ED25519);
    CHECK_CONTAINS(err.msg, "pins " FP_P256);
    json_decref(sk);

    /* a status that lies about the fingerprint does not help: it is computed from the PEM */
    sk = signing_key("ed25519.pub", FP_P256);
    CHECK_INT_EQ(sl_policy_trusted_key(&key, r, sk, &err), SL_ECONFLICT);
    CHECK(key == NULL);
    CHECK_CONTAINS(err.msg, "publishes key " FP_ED25519);
    json_decref(sk);
    json_decref(r);
}

static void test_missing_key_and_bad_pins(void)
{
    struct sl_key *key = NULL;
    struct sl_err err = {0};
    json_t *r = ref(FP_P256);
    CHECK_INT_EQ(sl_policy_trusted_key(&key, r, NULL, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "SigningKey vendor/release does not exist");
    json_t *nokey = json_pack("{s:s, s:{}}", "kind", "SigningKey", "status");
    CHECK_INT_EQ(sl_policy_trusted_key(&key, r, nokey, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "publishes no public key yet");
    json_decref(nokey);
    json_decref(r);

    json_t *sk = signing_key("ecdsa-p256.pub", FP_P256);
    static const char *const bad[] = {
        NULL,
        "",
        "sha256:",
        "bbb84394f85b56bff7c6bf119cf852a6",
        "sha256:BBB84394F85B56BFF7C6BF119CF852A68CC7214E0290144A7E85AB88E3F338CD",
        "sha512:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = ref(bad[i]);
        CHECK_INT_EQ(sl_policy_trusted_key(&key, r, sk, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, "pins no valid fingerprint");
        CHECK(key == NULL);
        json_decref(r);
    }
    json_decref(sk);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_pinned_key_is_trusted);
    RUN(test_swapped_key_is_not_trusted);
    RUN(test_missing_key_and_bad_pins);
    return CHECK_EXIT();
}
