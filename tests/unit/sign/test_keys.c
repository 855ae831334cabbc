/* Unit tests of controller/sign/keys.c. argv[1] is the directory of tests/data/keys. The
 * interop tests check our signatures with the openssl command line (and theirs with our code). */
#include "check.h"
#include "testdata.h"
#include "sign/keys.h"
#include "util/err.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *data_dir = "tests/data/keys";

/* Fingerprints computed once with `openssl pkey -in KEY -pubout -outform DER | sha256sum`
 * (see tests/data/keys/README.md). */
#define FP_P256        "sha256:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"
#define FP_P384        "sha256:6455c7a5d83ba6ea19a6e0f5df36d631c4561c543ef1c20c957637974824720e"
#define FP_ED25519     "sha256:27a232a4474df6d7f9a4917b63da7d8dc3637947d37f28bbe885c6b89c17f9cf"
#define FP_P256_PARAMS "sha256:a48ef97f0b436c31afb202b61f3c9b8430bd4476237f137cb9ade3e876e7bfdc"

static char *read_fixture(const char *name, size_t *len)
{
    return sl_test_read_file(len, "%s/%s", data_dir, name);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* Loads a fixture with the given loader; returns the rc, key in *out. */
static int load_fixture(struct sl_key **out, const char *name, int public, struct sl_err *err)
{
    size_t len = 0;
    char *pem = read_fixture(name, &len);
    int rc = public ? sl_key_load_public_pem(out, pem, len, err)
                    : sl_key_load_private_pem(out, pem, len, err);
    free(pem);
    return rc;
}

static void check_fingerprint_of(const char *name, int public, enum sl_key_algorithm alg,
                                 const char *want)
{
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    int rc = load_fixture(&k, name, public, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  %s: %s\n", name, err.msg);
        return;
    }
    char fp[SL_KEY_FINGERPRINT_LEN];
    CHECK_INT_EQ(sl_key_fingerprint(fp, k, &err), 0);
    CHECK_STR_EQ(fp, want);
    CHECK_INT_EQ(sl_key_get_algorithm(k), alg);
    CHECK_INT_EQ(sl_key_has_private(k), !public);
    sl_key_free(k);
}

static void test_fixture_fingerprints(void)
{
    check_fingerprint_of("ecdsa-p256.key", 0, SL_KEY_ALG_ECDSA_P256, FP_P256);
    check_fingerprint_of("ecdsa-p256-traditional.key", 0, SL_KEY_ALG_ECDSA_P256, FP_P256);
    check_fingerprint_of("ecdsa-p256.pub", 1, SL_KEY_ALG_ECDSA_P256, FP_P256);
    check_fingerprint_of("ecdsa-p256-with-params.key", 0, SL_KEY_ALG_ECDSA_P256, FP_P256_PARAMS);
    check_fingerprint_of("ecdsa-p384.key", 0, SL_KEY_ALG_ECDSA_P384, FP_P384);
    check_fingerprint_of("ecdsa-p384.pub", 1, SL_KEY_ALG_ECDSA_P384, FP_P384);
    check_fingerprint_of("ed25519.key", 0, SL_KEY_ALG_ED25519, FP_ED25519);
    check_fingerprint_of("ed25519.pub", 1, SL_KEY_ALG_ED25519, FP_ED25519);
}

static void test_algorithm_names(void)
{
    enum sl_key_algorithm alg = SL_KEY_ALG_NONE;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_algorithm_parse(&alg, NULL, &err), 0);
    CHECK_INT_EQ(alg, SL_KEY_ALG_ECDSA_P256);
    CHECK_INT_EQ(sl_key_algorithm_parse(&alg, "ecdsa-p384", &err), 0);
    CHECK_INT_EQ(alg, SL_KEY_ALG_ECDSA_P384);
    CHECK_INT_EQ(sl_key_algorithm_parse(&alg, "ed25519", &err), 0);
    CHECK_INT_EQ(alg, SL_KEY_ALG_ED25519);
    CHECK_INT_EQ(sl_key_algorithm_parse(&alg, "rsa-4096", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "rsa-4096");
    CHECK_CONTAINS(err.msg, "ecdsa-p256, ecdsa-p384, ed25519");
    CHECK_STR_EQ(sl_key_algorithm_name(SL_KEY_ALG_ED25519), "ed25519");
}

/* Generate, export, reload, sign, verify: for one algorithm. */
static void round_trip(enum sl_key_algorithm alg)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL, *k2 = NULL, *pub = NULL, *pub2 = NULL, *other = NULL;
    char *priv_pem = NULL, *pub_pem = NULL;
    unsigned char *sig = NULL, *sig2 = NULL;
    size_t priv_len = 0, sig_len = 0, sig2_len = 0;
    char fp[SL_KEY_FINGERPRINT_LEN], fp2[SL_KEY_FINGERPRINT_LEN], fp3[SL_KEY_FINGERPRINT_LEN];
    static const char msg[] =
        "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"sha256:1\"}}}";

    CHECK_INT_EQ(sl_key_generate(&k, alg, &err), 0);
    if (!k)
        return;
    CHECK_INT_EQ(sl_key_get_algorithm(k), alg);
    CHECK(sl_key_has_private(k));
    CHECK_INT_EQ(sl_key_private_pem(&priv_pem, &priv_len, k, &err), 0);
    CHECK(strncmp(priv_pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    CHECK_INT_EQ(strlen(priv_pem), priv_len);
    CHECK_INT_EQ(sl_key_public_pem(&pub_pem, k, &err), 0);
    CHECK(strncmp(pub_pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
    CHECK(strstr(pub_pem, "PRIVATE") == NULL);

    CHECK_INT_EQ(sl_key_load_private_pem(&k2, priv_pem, priv_len, &err), 0);
    CHECK_INT_EQ(sl_key_load_public_pem(&pub, pub_pem, strlen(pub_pem), &err), 0);
    CHECK_INT_EQ(sl_key_public(&pub2, k, &err), 0);
    CHECK(!sl_key_has_private(pub));
    CHECK(!sl_key_has_private(pub2));
    CHECK_INT_EQ(sl_key_fingerprint(fp, k, &err), 0);
    CHECK_INT_EQ(sl_key_fingerprint(fp2, pub, &err), 0);
    CHECK_INT_EQ(sl_key_fingerprint(fp3, pub2, &err), 0);
    CHECK_STR_EQ(fp, fp2);
    CHECK_STR_EQ(fp, fp3);
    CHECK_INT_EQ(strlen(fp), SL_KEY_FINGERPRINT_LEN - 1);
    CHECK(strncmp(fp, "sha256:", 7) == 0);

    /* sign with the reloaded key, verify with the public key */
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, k2, msg, sizeof(msg) - 1, &err), 0);
    if (sig) {
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len, &err), 0);
        CHECK_INT_EQ(sl_key_verify(k, msg, sizeof(msg) - 1, sig, sig_len, &err), 0);
        /* tampered message */
        char bad[sizeof(msg)];
        memcpy(bad, msg, sizeof(msg));
        bad[20] ^= 1;
        CHECK_INT_EQ(sl_key_verify(pub, bad, sizeof(msg) - 1, sig, sig_len, &err), SL_EDIGEST);
        CHECK_CONTAINS(err.msg, "does not match");
        /* tampered / truncated signature */
        sig[sig_len - 1] ^= 0x40;
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len, &err), SL_EDIGEST);
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, sig, 3, &err), SL_EDIGEST);
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, sig, 0, &err), SL_EDIGEST);
        /* another key of the same algorithm */
        CHECK_INT_EQ(sl_key_generate(&other, alg, &err), 0);
        sig[sig_len - 1] ^= 0x40;
        CHECK_INT_EQ(sl_key_verify(other, msg, sizeof(msg) - 1, sig, sig_len, &err), SL_EDIGEST);
    }
    if (alg == SL_KEY_ALG_ED25519) {
        CHECK_INT_EQ(sig_len, 64);
        /* pure Ed25519 is deterministic */
        CHECK_INT_EQ(sl_key_sign(&sig2, &sig2_len, k, msg, sizeof(msg) - 1, &err), 0);
        CHECK(sig2 && sig2_len == sig_len && memcmp(sig, sig2, sig_len) == 0);
    } else {
        CHECK(sig && sig[0] == 0x30); /* DER SEQUENCE */
    }
    /* a public key cannot sign */
    free(sig2);
    sig2 = NULL;
    CHECK_INT_EQ(sl_key_sign(&sig2, &sig2_len, pub, msg, sizeof(msg) - 1, &err), SL_EINVAL);
    CHECK(sig2 == NULL);
    char *none = NULL;
    CHECK_INT_EQ(sl_key_private_pem(&none, NULL, pub, &err), SL_EINVAL);
    CHECK(none == NULL);

    free(sig);
    free(sig2);
    sl_secure_free_str(priv_pem);
    free(pub_pem);
    sl_key_free(k);
    sl_key_free(k2);
    sl_key_free(pub);
    sl_key_free(pub2);
    sl_key_free(other);
}

static void test_round_trip_p256(void)
{
    round_trip(SL_KEY_ALG_ECDSA_P256);
}
static void test_round_trip_p384(void)
{
    round_trip(SL_KEY_ALG_ECDSA_P384);
}
static void test_round_trip_ed25519(void)
{
    round_trip(SL_KEY_ALG_ED25519);
}

static void test_generate_none(void)
{
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&k, SL_KEY_ALG_NONE, &err), SL_EINVAL);
    CHECK(k == NULL);
}

/* A loader failure: code, a message fragment, and no key bytes in the message. */
static void check_refused(const char *name, int public, int want_rc, const char *want_msg)
{
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    int rc = load_fixture(&k, name, public, &err);
    CHECK_INT_EQ(rc, want_rc);
    CHECK(k == NULL);
    CHECK_CONTAINS(err.msg, want_msg);
    /* no base64 line of the file may appear in the message */
    size_t len = 0;
    char *pem = read_fixture(name, &len);
    if (pem) {
        char *save = NULL;
        for (char *line = strtok_r(pem, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "-----", 5) == 0 || strlen(line) < 16)
                continue;
            if (strstr(err.msg, line) != NULL) {
                CHECK(!"error message contains key material");
                fprintf(stderr, "  %s: %s\n", name, err.msg);
            }
        }
        free(pem);
    }
}

static void test_refused_inputs(void)
{
    check_refused("rsa-2048.key", 0, SL_EUNSUPPORTED, "RSA key (2048 bits) is not supported");
    check_refused("rsa-2048.pub", 1, SL_EUNSUPPORTED, "RSA");
    check_refused("ecdsa-p521.key", 0, SL_EUNSUPPORTED, "secp521r1");
    check_refused("ecdsa-p256-encrypted-pkcs8.key", 0, SL_EUNSUPPORTED, "ENCRYPTED PRIVATE KEY");
    /* cosign's format is read now; this one holds random bytes no password opens */
    check_refused("cosign-encrypted.key", 0, SL_EAUTH, "cannot decrypt the cosign private key");
    check_refused("garbage-base64.key", 0, SL_EINVAL, "cannot parse private key PEM");
    check_refused("truncated.key", 0, SL_EINVAL, "cannot parse private key PEM");
    /* found by fuzzing: private scalar and embedded public point disagree */
    check_refused("ecdsa-p256-mismatched-pair.key", 0, SL_EINVAL, "inconsistent");
    check_refused("ecdsa-p256.pub", 0, SL_EINVAL, "public key, not a private key");
    check_refused("ecdsa-p256.key", 1, SL_EINVAL, "private key where a public key");
    check_refused("README.md", 0, SL_EINVAL, "no \"-----BEGIN\" line");
    check_refused("README.md", 1, SL_EINVAL, "no \"-----BEGIN\" line");
}

static void test_refused_buffers(void)
{
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_load_private_pem(&k, "", 0, &err), SL_EINVAL);
    CHECK_INT_EQ(sl_key_load_public_pem(&k, "", 0, &err), SL_EINVAL);
    static const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    CHECK_INT_EQ(sl_key_load_public_pem(&k, cert, sizeof(cert) - 1, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "found \"CERTIFICATE\"");
    CHECK_INT_EQ(sl_key_load_private_pem(&k, cert, sizeof(cert) - 1, &err), SL_EINVAL);
    /* unterminated BEGIN line */
    static const char open_begin[] = "-----BEGIN PRIVATE KEY";
    CHECK_INT_EQ(sl_key_load_private_pem(&k, open_begin, sizeof(open_begin) - 1, &err), SL_EINVAL);
    /* a traditional encrypted EC key */
    static const char proc[] = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                               "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n"
                               "-----END EC PRIVATE KEY-----\n";
    CHECK_INT_EQ(sl_key_load_private_pem(&k, proc, sizeof(proc) - 1, &err), SL_EUNSUPPORTED);
    CHECK_CONTAINS(err.msg, "Proc-Type: 4,ENCRYPTED");
    /* too big */
    size_t big_len = SL_KEY_PEM_MAX + 1;
    char *big = sl_xcalloc(1, big_len);
    memset(big, 'A', big_len);
    CHECK_INT_EQ(sl_key_load_private_pem(&k, big, big_len, &err), SL_ETOOBIG);
    CHECK_INT_EQ(sl_key_load_pem(&k, big, big_len, &err), SL_ETOOBIG);
    free(big);
    CHECK(k == NULL);
}

static void test_load_any(void)
{
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    size_t len = 0;
    char *pem = read_fixture("ecdsa-p384.key", &len);
    CHECK_INT_EQ(sl_key_load_pem(&k, pem, len, &err), 0);
    CHECK(k && sl_key_has_private(k));
    sl_key_free(k);
    k = NULL;
    free(pem);
    pem = read_fixture("ed25519.pub", &len);
    CHECK_INT_EQ(sl_key_load_pem(&k, pem, len, &err), 0);
    CHECK(k && !sl_key_has_private(k));
    sl_key_free(k);
    free(pem);
}

/* ---- interop with the openssl command line ---- */

static char tmpdir[256];

static int run(const char *cmd)
{
    int st = system(cmd);
    return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

/* The openssl command that verifies sig over msg with pub for alg. */
static void verify_cmd(char *cmd, size_t n, enum sl_key_algorithm alg, const char *pub,
                       const char *msg, const char *sig)
{
    if (alg == SL_KEY_ALG_ED25519)
        snprintf(cmd, n,
                 "openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s"
                 " >/dev/null 2>&1",
                 pub, msg, sig);
    else
        snprintf(cmd, n, "openssl dgst -%s -verify %s -signature %s %s >/dev/null 2>&1",
                 alg == SL_KEY_ALG_ECDSA_P384 ? "sha384" : "sha256", pub, sig, msg);
}

/* Our signature must verify with openssl, and fail on a tampered message. */
static void interop_ours_verified_by_openssl(enum sl_key_algorithm alg)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    char *pub_pem = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    static const char msg[] = "sealift interop message\n";
    char path_pub[512], path_sig[512], path_msg[512], path_bad[512], cmd[2400];
    snprintf(path_pub, sizeof(path_pub), "%s/pub.pem", tmpdir);
    snprintf(path_sig, sizeof(path_sig), "%s/sig.bin", tmpdir);
    snprintf(path_msg, sizeof(path_msg), "%s/msg.txt", tmpdir);
    snprintf(path_bad, sizeof(path_bad), "%s/bad.txt", tmpdir);

    CHECK_INT_EQ(sl_key_generate(&k, alg, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&pub_pem, k, &err), 0);
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, k, msg, sizeof(msg) - 1, &err), 0);
    CHECK_INT_EQ(write_file(path_pub, pub_pem, strlen(pub_pem)), 0);
    CHECK_INT_EQ(write_file(path_sig, sig, sig_len), 0);
    CHECK_INT_EQ(write_file(path_msg, msg, sizeof(msg) - 1), 0);
    CHECK_INT_EQ(write_file(path_bad, "sealift interop massage\n", sizeof(msg) - 1), 0);

    verify_cmd(cmd, sizeof(cmd), alg, path_pub, path_msg, path_sig);
    CHECK_INT_EQ(run(cmd), 0);
    verify_cmd(cmd, sizeof(cmd), alg, path_pub, path_bad, path_sig);
    CHECK(run(cmd) != 0);

    free(sig);
    free(pub_pem);
    sl_key_free(k);
}

/* A signature made by openssl with a fixture key must verify with our code. */
static void interop_openssl_verified_by_ours(const char *key_name, const char *pub_name,
                                             enum sl_key_algorithm alg)
{
    struct sl_err err = {0};
    struct sl_key *pub = NULL;
    static const char msg[] = "signed by the openssl command line\n";
    char path_msg[512], path_sig[512], cmd[2400];
    snprintf(path_msg, sizeof(path_msg), "%s/msg2.txt", tmpdir);
    snprintf(path_sig, sizeof(path_sig), "%s/sig2.bin", tmpdir);
    CHECK_INT_EQ(write_file(path_msg, msg, sizeof(msg) - 1), 0);
    if (alg == SL_KEY_ALG_ED25519)
        snprintf(cmd, sizeof(cmd),
                 "openssl pkeyutl -sign -inkey %s/%s -rawin -in %s -out %s >/dev/null 2>&1",
                 data_dir, key_name, path_msg, path_sig);
    else
        snprintf(cmd, sizeof(cmd), "openssl dgst -%s -sign %s/%s -out %s %s >/dev/null 2>&1",
                 alg == SL_KEY_ALG_ECDSA_P384 ? "sha384" : "sha256", data_dir, key_name, path_sig,
                 path_msg);
    CHECK_INT_EQ(run(cmd), 0);
    size_t sig_len = 0;
    char *sig = NULL;
    FILE *f = fopen(path_sig, "rb");
    if (f) {
        sig = sl_xmalloc(1024);
        sig_len = fread(sig, 1, 1024, f);
        fclose(f);
    }
    CHECK_INT_EQ(load_fixture(&pub, pub_name, 1, &err), 0);
    if (pub && sig) {
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 1, (unsigned char *)sig, sig_len, &err),
                     0);
        CHECK_INT_EQ(sl_key_verify(pub, msg, sizeof(msg) - 2, (unsigned char *)sig, sig_len, &err),
                     SL_EDIGEST);
    }
    free(sig);
    sl_key_free(pub);
}

static void test_interop_openssl(void)
{
    interop_ours_verified_by_openssl(SL_KEY_ALG_ECDSA_P256);
    interop_ours_verified_by_openssl(SL_KEY_ALG_ECDSA_P384);
    interop_ours_verified_by_openssl(SL_KEY_ALG_ED25519);
    interop_openssl_verified_by_ours("ecdsa-p256.key", "ecdsa-p256.pub", SL_KEY_ALG_ECDSA_P256);
    interop_openssl_verified_by_ours("ecdsa-p384.key", "ecdsa-p384.pub", SL_KEY_ALG_ECDSA_P384);
    interop_openssl_verified_by_ours("ed25519.key", "ed25519.pub", SL_KEY_ALG_ED25519);
}

/* Our exported PKCS#8 must be readable by openssl and give the same public key. */
static void test_interop_export(void)
{
    struct sl_err err = {0};
    struct sl_key *k = NULL;
    char *priv = NULL, *pub = NULL;
    size_t priv_len = 0;
    char path_key[512], path_pub[512], cmd[2048];
    snprintf(path_key, sizeof(path_key), "%s/exported.key", tmpdir);
    snprintf(path_pub, sizeof(path_pub), "%s/exported.pub", tmpdir);
    CHECK_INT_EQ(sl_key_generate(&k, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_private_pem(&priv, &priv_len, k, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&pub, k, &err), 0);
    CHECK_INT_EQ(write_file(path_key, priv, priv_len), 0);
    CHECK_INT_EQ(write_file(path_pub, pub, strlen(pub)), 0);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -pubout | cmp -s - %s", path_key, path_pub);
    CHECK_INT_EQ(run(cmd), 0);
    sl_secure_free_str(priv);
    free(pub);
    sl_key_free(k);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/sl-keys-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_algorithm_names);
    RUN(test_fixture_fingerprints);
    RUN(test_round_trip_p256);
    RUN(test_round_trip_p384);
    RUN(test_round_trip_ed25519);
    RUN(test_generate_none);
    RUN(test_refused_inputs);
    RUN(test_refused_buffers);
    RUN(test_load_any);
    RUN(test_interop_openssl);
    RUN(test_interop_export);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    run(cmd);
    return CHECK_EXIT();
}
