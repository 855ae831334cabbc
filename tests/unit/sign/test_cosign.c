/* Unit tests of cosign signatures in a registry (sign/cosign.c) through the fake transport:
 * what sealift writes under the .sig tag, and what verification accepts and refuses. */
#include "check.h"
#include "fake_registry.h"
#include "registry_fixture.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "sign/cosign.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST "reg.example"
#define REPO "team/app"

struct env {
    struct sl_fake_registry *fr;
    struct sl_registry *reg;
    struct sl_key *key, *other;
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
    sl_test_put_image(e->fr, HOST, REPO, "v1", e->digest);
}

static void env_free(struct env *e)
{
    sl_key_free(e->key);
    sl_key_free(e->other);
    sl_registry_free(e->reg);
    sl_fake_registry_free(e->fr);
}

static int verify(struct env *e, const struct sl_key *key, struct sl_err *err)
{
    struct sl_cosign_verify_result vr;
    const struct sl_key *keys[] = {key};
    return sl_cosign_verify(&vr, e->reg, REPO, e->digest, keys, 1, err);
}

/* Signing writes one layer under sha256-<hex>.sig whose payload names the digest; the signing
 * key verifies it, another key does not, and signing again adds nothing. */
static void test_sign_then_verify(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    CHECK_INT_EQ(verify(&e, e.key, &err), SL_ENOTFOUND);

    struct sl_cosign_sign_result sr;
    CHECK_INT_EQ(sl_cosign_sign(&sr, e.reg, REPO, HOST "/" REPO, e.digest, e.key, &err), 0);
    CHECK(sr.added);
    CHECK_INT_EQ((int)sr.signatures, 1);
    char tag[80];
    CHECK_INT_EQ(sl_cosign_sig_tag(tag, sizeof(tag), e.digest), 0);
    const char *sig = sl_fake_registry_manifest(e.fr, HOST, REPO, tag);
    CHECK(sig != NULL);
    if (sig) {
        json_t *m = json_loads(sig, 0, NULL);
        json_t *layer = json_array_get(json_object_get(m, "layers"), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(layer, "mediaType")),
                     SL_COSIGN_SIG_MEDIA_TYPE);
        CHECK(json_string_value(json_object_get(json_object_get(layer, "annotations"),
                                                SL_COSIGN_SIG_ANNOTATION)) != NULL);
        /* the payload blob is in the repository and names the signed digest */
        const char *pd = json_string_value(json_object_get(layer, "digest"));
        CHECK(pd && sl_fake_registry_has_blob(e.fr, HOST, REPO, pd));
        json_decref(m);
    }

    CHECK_INT_EQ(verify(&e, e.key, &err), 0);
    CHECK_INT_EQ(verify(&e, e.other, &err), SL_EDIGEST);

    CHECK_INT_EQ(sl_cosign_sign(&sr, e.reg, REPO, HOST "/" REPO, e.digest, e.key, &err), 0);
    CHECK(!sr.added);
    CHECK_INT_EQ((int)sr.signatures, 1);
    /* a second key adds a second layer next to the first */
    CHECK_INT_EQ(sl_cosign_sign(&sr, e.reg, REPO, HOST "/" REPO, e.digest, e.other, &err), 0);
    CHECK_INT_EQ((int)sr.signatures, 2);
    CHECK_INT_EQ(verify(&e, e.other, &err), 0);
    CHECK_INT_EQ(verify(&e, e.key, &err), 0);
    env_free(&e);
}

/* Signatures follow an image to another repository; the target's own ones are kept. */
static void test_copy_signatures(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_cosign_sign_result sr;
    CHECK_INT_EQ(sl_cosign_sign(&sr, e.reg, REPO, HOST "/" REPO, e.digest, e.key, &err), 0);
    size_t copied = 99;
    CHECK_INT_EQ(
        sl_cosign_copy_signatures(&copied, e.reg, REPO, e.reg, "mirror/app", e.digest, &err), 0);
    CHECK_INT_EQ((int)copied, 1);
    struct sl_cosign_verify_result vr;
    const struct sl_key *keys[] = {e.other, e.key};
    CHECK_INT_EQ(sl_cosign_verify(&vr, e.reg, "mirror/app", e.digest, keys, 2, &err), 0);
    CHECK_INT_EQ(vr.key_index, 1);
    /* copying again adds nothing */
    CHECK_INT_EQ(
        sl_cosign_copy_signatures(&copied, e.reg, REPO, e.reg, "mirror/app", e.digest, &err), 0);
    CHECK_INT_EQ((int)copied, 0);
    env_free(&e);
}

/* A registry error while reading signatures is reported as such, not as "no signature". */
static void test_registry_error_is_not_missing(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    sl_fake_registry_fail(e.fr, "/manifests/sha256-", 500, 100);
    int rc = verify(&e, e.key, &err);
    CHECK(rc != 0 && rc != SL_ENOTFOUND && rc != SL_EDIGEST);
    CHECK_CONTAINS(err.msg, "500");
    env_free(&e);
}

int main(void)
{
    RUN(test_sign_then_verify);
    RUN(test_copy_signatures);
    RUN(test_registry_error_is_not_missing);
    return CHECK_EXIT();
}
