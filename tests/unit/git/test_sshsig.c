/* unit.git.sshsig: SSH signatures of git commits and tags (controller/git/sshsig.c and
 * sl_git_read_signature): keys made by ssh-keygen, signatures by `ssh-keygen -Y sign` and by a
 * real `git commit -S` / `git tag -s` with gpg.format=ssh; a tampered payload, another key, another
 * namespace and malformed input are refused. */
#include "check.h"
#include "git_fixture.h"
#include "git/gitfetch.h"
#include "git/sshsig.h"
#include "testdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[256], repo[300];

/* The contents of tmp/rel (caller frees; NUL-terminated). */
static char *slurp(const char *rel, size_t *len)
{
    return sl_test_read_file(len, "%s/%s", tmp, rel);
}

static const char MSG[] = "tree 0123\nauthor a <a@example> 1 +0000\n\nsigned commit\n";

static int verify_file(const char *sig_rel, const char *keys, const char *data, size_t len,
                       struct sl_err *err, char *fpr, size_t fpr_size)
{
    size_t slen = 0;
    char *sig = slurp(sig_rel, &slen);
    int rc = sl_sshsig_verify(fpr, fpr_size, sig, slen, data, len, keys, "git", err);
    free(sig);
    return rc;
}

static void test_each_key_type(void)
{
    static const char *const types[][2] = {{"ed25519", ""},
                                           {"ecdsa", "-b 256"},
                                           {"ecdsa", "-b 384"},
                                           {"ecdsa", "-b 521"},
                                           {"rsa", "-b 2048"}};
    sl_test_sh("printf '%%s' '%s' > '%s/msg'", MSG, tmp);
    sl_test_sh("ssh-keygen -q -t ed25519 -N '' -C other -f '%s/other'", tmp);
    char *other = slurp("other.pub", NULL);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "k%zu", i);
        sl_test_sh("ssh-keygen -q -t %s %s -N '' -C '%s' -f '%s/%s'", types[i][0], types[i][1],
                   name, tmp, name);
        sl_test_sh("ssh-keygen -q -Y sign -f '%s/%s' -n git '%s/msg' 2>/dev/null", tmp, name, tmp);
        sl_test_sh("cp '%s/msg.sig' '%s/%s.sig' && rm -f '%s/msg.sig'", tmp, tmp, name, tmp);
        char pub_rel[40], sig_rel[40];
        snprintf(pub_rel, sizeof(pub_rel), "%s.pub", name);
        snprintf(sig_rel, sizeof(sig_rel), "%s.sig", name);
        char *pub = slurp(pub_rel, NULL);
        /* the list: a comment, another key, then this one with authorized_keys options */
        char keys[8192];
        snprintf(keys, sizeof(keys), "# release keys\n%s\nno-pty %s", other, pub);
        struct sl_err err = {0};
        char fpr[SL_SSHSIG_FPR_LENGTH] = "";
        CHECK_INT_EQ(verify_file(sig_rel, keys, MSG, strlen(MSG), &err, fpr, sizeof(fpr)), 0);
        if (err.msg[0])
            fprintf(stderr, "%s: %s\n", name, err.msg);
        CHECK(strncmp(fpr, "SHA256:", 7) == 0);
        /* the fingerprint is the one ssh-keygen prints */
        CHECK_INT_EQ(sl_test_sh("ssh-keygen -lf '%s/%s' | grep -q '%s'", tmp, pub_rel, fpr), 0);
        /* one byte of the payload changed */
        char tampered[sizeof(MSG)];
        memcpy(tampered, MSG, sizeof(MSG));
        tampered[strlen(tampered) - 2] ^= 1;
        CHECK_INT_EQ(verify_file(sig_rel, keys, tampered, strlen(tampered), &err, NULL, 0),
                     SL_EAUTH);
        CHECK_CONTAINS(err.msg, "does not verify");
        /* valid, but by a key that is not listed */
        CHECK_INT_EQ(verify_file(sig_rel, other, MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
        CHECK_CONTAINS(err.msg, "not one of the trusted keys");
        free(pub);
    }
    /* a signature made for another namespace (ssh-keygen's "file") is not a git signature */
    sl_test_sh("ssh-keygen -q -Y sign -f '%s/k0' -n file '%s/msg' 2>/dev/null", tmp, tmp);
    char *pub = slurp("k0.pub", NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(verify_file("msg.sig", pub, MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "namespace");
    /* no key at all, and malformed signatures */
    CHECK_INT_EQ(verify_file("k0.sig", "", MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
    CHECK_INT_EQ(sl_sshsig_count_keys(pub), 1);
    CHECK_INT_EQ(sl_sshsig_count_keys("# none\n\n"), 0);
    const char *junk =
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n";
    CHECK_INT_EQ(sl_sshsig_verify(NULL, 0, junk, strlen(junk), MSG, strlen(MSG), pub, "git", &err),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_sshsig_verify(NULL, 0, "-----BEGIN PGP SIGNATURE-----", 29, MSG, strlen(MSG),
                                  pub, "git", &err),
                 SL_EINVAL);
    free(pub);
    free(other);
}

/* A real `git commit -S` and `git tag -s` with gpg.format=ssh, fetched and verified. */
static void test_git_commit_and_tag(void)
{
    sl_test_sh("cd '%s' && git config gpg.format ssh && git config user.signingkey '%s/k0' && "
               "git commit -q -S --allow-empty -m signed && git tag -s -m 'release' v1 && "
               "git tag light && git commit -q --allow-empty -m unsigned",
               repo, tmp);
    char cache[400], url[400];
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    snprintf(url, sizeof(url), "file://%s", repo);
    struct sl_git_result head = {0}, v1 = {0}, light = {0};
    struct sl_err err = {0};
    struct sl_git_ref main_ref = {.branch = "main"}, v1_ref = {.tag = "v1"},
                      light_ref = {.tag = "light"};
    CHECK_INT_EQ(sl_git_fetch(&head, cache, url, &main_ref, NULL, &err), 0);
    CHECK_INT_EQ(sl_git_fetch(&v1, cache, url, &v1_ref, NULL, &err), 0);
    CHECK_INT_EQ(sl_git_fetch(&light, cache, url, &light_ref, NULL, &err), 0);
    char *pub = slurp("k0.pub", NULL);
    struct sl_git_signature s = {0};
    /* HEAD is the unsigned commit */
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, head.commit, NULL, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "is not signed");
    /* the signed commit v1 points at */
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, v1.commit, NULL, &err), 0);
    CHECK_INT_EQ(sl_sshsig_verify(NULL, 0, s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, pub, "git", &err),
                 0);
    sl_git_signature_clear(&s);
    /* the signed tag */
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, NULL, "v1", &err), 0);
    CHECK_CONTAINS(s.signed_data, "tag v1\n");
    CHECK_INT_EQ(sl_sshsig_verify(NULL, 0, s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, pub, "git", &err),
                 0);
    sl_git_signature_clear(&s);
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, NULL, "light", &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "lightweight");
    free(pub);
}

int main(void)
{
    sl_test_git_init(tmp, sizeof(tmp), repo, sizeof(repo), "sealift-unit-sshsig");
    sl_test_git_write(repo, "a.yaml", "a: 1\n");
    sl_test_git_commit(repo, "first");
    RUN(test_each_key_type);
    RUN(test_git_commit_and_tag);
    sl_test_sh("rm -rf '%s'", tmp);
    return CHECK_EXIT();
}
