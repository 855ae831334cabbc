/* Unit tests of `sealift keygen` (controller/sign/cmd_keygen.c), run in-process. */
#include "check.h"
#include "cli/commands.h"
#include "sign/cmd_keygen.h"
#include "sign/keys.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = sl_xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int keygen(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[6] = {(char *)"keygen", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    int argc = 1;
    while (argc < 5 && argv[argc])
        argc++;
    fflush(stdout);
    return sl_cmd_keygen(argc, argv);
}

/* The pair under prefix: a cosign-format private key that opens with password (NULL = the
 * empty one) and matches the public key. */
static void check_pair_password(const char *prefix, enum sl_key_algorithm alg, const char *password)
{
    char key_path[512], pub_path[512];
    snprintf(key_path, sizeof(key_path), "%s.key", prefix);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix);
    struct stat st;
    CHECK_INT_EQ(stat(key_path, &st), 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0600);
    size_t klen = 0, plen = 0;
    char *kpem = slurp(key_path, &klen), *ppem = slurp(pub_path, &plen);
    CHECK(kpem && strncmp(kpem, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", 46) == 0);
    CHECK(ppem && strncmp(ppem, "-----BEGIN PUBLIC KEY-----", 26) == 0);
    struct sl_key *k = NULL, *p = NULL;
    struct sl_err err = {0};
    if (kpem && ppem) {
        CHECK_INT_EQ(sl_key_load_private_pem_password(&k, kpem, klen, password,
                                                      password ? strlen(password) : 0, &err),
                     0);
        CHECK_INT_EQ(sl_key_load_public_pem(&p, ppem, plen, &err), 0);
    }
    if (k && p) {
        char fk[SL_KEY_FINGERPRINT_LEN], fp[SL_KEY_FINGERPRINT_LEN];
        CHECK_INT_EQ(sl_key_fingerprint(fk, k, &err), 0);
        CHECK_INT_EQ(sl_key_fingerprint(fp, p, &err), 0);
        CHECK_STR_EQ(fk, fp);
        CHECK_INT_EQ(sl_key_get_algorithm(k), alg);
    }
    sl_key_free(k);
    sl_key_free(p);
    sl_secure_free_str(kpem);
    free(ppem);
}

static void check_pair(const char *prefix, enum sl_key_algorithm alg)
{
    check_pair_password(prefix, alg, NULL);
}

static void test_default_algorithm(void)
{
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s/default", tmpdir);
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), 0);
    check_pair(prefix, SL_KEY_ALG_ECDSA_P256);
}

static void test_algorithms(void)
{
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s/p384", tmpdir);
    CHECK_INT_EQ(keygen("--algorithm", "ecdsa-p384", "--out", prefix), 0);
    check_pair(prefix, SL_KEY_ALG_ECDSA_P384);
    char opt[600];
    snprintf(prefix, sizeof(prefix), "%s/ed", tmpdir);
    snprintf(opt, sizeof(opt), "--out=%s", prefix);
    CHECK_INT_EQ(keygen("--algorithm=ed25519", opt, NULL, NULL), 0);
    check_pair(prefix, SL_KEY_ALG_ED25519);
}

/* COSIGN_PASSWORD encrypts the key, as with `cosign generate-key-pair`; nothing else opens it. */
static void test_password_from_environment(void)
{
    char prefix[512], key_path[600];
    snprintf(prefix, sizeof(prefix), "%s/withpw", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s.key", prefix);
    setenv("COSIGN_PASSWORD", "s3cret-test-only", 1);
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), 0);
    unsetenv("COSIGN_PASSWORD");
    check_pair_password(prefix, SL_KEY_ALG_ECDSA_P256, "s3cret-test-only");
    size_t klen = 0;
    char *kpem = slurp(key_path, &klen);
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    if (kpem)
        CHECK_INT_EQ(sl_key_load_private_pem(&k, kpem, klen, &err), SL_EAUTH);
    CHECK(k == NULL);
    sl_secure_free_str(kpem);
}

static void test_refuses_overwrite(void)
{
    char prefix[512], key_path[600], pub_path[600];
    snprintf(prefix, sizeof(prefix), "%s/twice", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s.key", prefix);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix);
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), 0);
    char *before = slurp(key_path, NULL);
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), SL_EXIT_USAGE);
    char *after = slurp(key_path, NULL);
    CHECK(before && after && strcmp(before, after) == 0);
    sl_secure_free_str(before);
    sl_secure_free_str(after);

    /* only the .pub exists: still refused, and no .key is left behind */
    snprintf(prefix, sizeof(prefix), "%s/pubonly", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s.key", prefix);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix);
    FILE *f = fopen(pub_path, "w");
    if (f) {
        fputs("keep me\n", f);
        fclose(f);
    }
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), SL_EXIT_USAGE);
    CHECK(access(key_path, F_OK) != 0);
    char *kept = slurp(pub_path, NULL);
    CHECK_STR_EQ(kept, "keep me\n");
    free(kept);
}

static void test_usage_errors(void)
{
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s/bad", tmpdir);
    CHECK_INT_EQ(keygen("--algorithm", "rsa", "--out", prefix), SL_EXIT_USAGE);
    CHECK_INT_EQ(keygen("--algorithm", "ecdsa-p256", NULL, NULL), SL_EXIT_USAGE);
    CHECK_INT_EQ(keygen("--out", NULL, NULL, NULL), SL_EXIT_USAGE);
    CHECK_INT_EQ(keygen("--bogus", NULL, NULL, NULL), SL_EXIT_USAGE);
    char key_path[600];
    snprintf(key_path, sizeof(key_path), "%s.key", prefix);
    CHECK(access(key_path, F_OK) != 0);
    /* a directory that does not exist: an error, nothing written */
    snprintf(prefix, sizeof(prefix), "%s/no/such/dir/k", tmpdir);
    CHECK_INT_EQ(keygen("--out", prefix, NULL, NULL), SL_EXIT_USAGE);
}

int main(void)
{
    unsetenv("COSIGN_PASSWORD");
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/sl-keygen-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_default_algorithm);
    RUN(test_algorithms);
    RUN(test_password_from_environment);
    RUN(test_refuses_overwrite);
    RUN(test_usage_errors);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_EXIT();
}
