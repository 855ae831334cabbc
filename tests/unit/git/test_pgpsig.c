/* unit.git.pgpsig: OpenPGP signatures of git commits and tags (controller/git/pgpsig.c and
 * sl_git_read_signature): keys made by a real gpg at test time (ed25519, rsa3072, nistp256,
 * nistp384, a signing subkey), detached signatures by `gpg --detach-sign --armor` and by a real
 * `git commit -S` / `git tag -s` with gpg; RFC 9580 Ed25519 keys and signatures built with OpenSSL.
 * A tampered payload, another key, SHA-1, an expired or revoked key, truncated or garbled armor and
 * a bad CRC-24 are refused. */
#include "check.h"
#include "git_fixture.h"
#include "git/gitfetch.h"
#include "git/pgpsig.h"
#include "testdata.h"
#include "util/base64.h"

#include <openssl/evp.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char tmp[256], repo[300];

/* gpg in the scratch keyring, quiet and without prompts */
#define GPG "GNUPGHOME='%s/gnupg' gpg --batch --quiet --no-tty --passphrase ''"

/* The contents of tmp/rel (caller frees; NUL-terminated); a fingerprint file (.fpr) without the
 * newline that ends its one line. */
static char *slurp(const char *rel, size_t *len)
{
    size_t n = 0;
    char *buf = sl_test_read_file(&n, "%s/%s", tmp, rel);
    while (n > 0 && buf[n - 1] == '\n' && strstr(rel, ".fpr"))
        buf[--n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static const char MSG[] = "tree 0123\nauthor a <a@example> 1 +0000\n\nsigned commit\n";

/* Makes key `name` (uid name@example.com) of algo in the scratch keyring; exports its public
 * key block to name.asc and its fingerprint to name.fpr. */
static void gen_key(const char *name, const char *algo)
{
    CHECK_INT_EQ(sl_test_sh(GPG " --quick-gen-key '%s <%s@example.com>' %s sign never 2>/dev/null",
                            tmp, name, name, algo),
                 0);
    sl_test_sh(GPG " --armor --export %s@example.com > '%s/%s.asc'", tmp, name, tmp, name);
    sl_test_sh(GPG " --with-colons --fingerprint %s@example.com | grep '^fpr' | head -1 | "
                   "cut -d: -f10 > '%s/%s.fpr'",
               tmp, name, tmp, name);
}

/* Signs tmp/msg as key `name` (signer: a uid or a fingerprint with '!'), digest algorithm
 * digest, into tmp/out. */
static void sign(const char *signer, const char *digest, const char *out)
{
    CHECK_INT_EQ(sl_test_sh(GPG " --yes --local-user '%s' --digest-algo %s --detach-sign --armor "
                                "-o '%s/%s' '%s/msg' 2>/dev/null",
                            tmp, signer, digest, tmp, out, tmp),
                 0);
}

static int verify_text(const char *sig, const char *keys, const char *data, size_t len, int64_t now,
                       struct sl_err *err, char *fpr, size_t fpr_size)
{
    return sl_pgpsig_verify(fpr, fpr_size, sig, sig ? strlen(sig) : 0, data, len, keys, now, err);
}

static int verify_file(const char *sig_rel, const char *keys, const char *data, size_t len,
                       struct sl_err *err, char *fpr, size_t fpr_size)
{
    char *sig = slurp(sig_rel, NULL);
    int rc = verify_text(sig, keys, data, len, (int64_t)time(NULL), err, fpr, fpr_size);
    free(sig);
    return rc;
}

static void test_each_key_type(void)
{
    static const char *const algos[] = {"ed25519", "rsa3072", "nistp256", "nistp384"};
    static const char *const digests[] = {"SHA256", "SHA224", "SHA512", "SHA384"};
    sl_test_sh("printf '%%s' '%s' > '%s/msg'", MSG, tmp);
    gen_key("other", "ed25519");
    char *other = slurp("other.asc", NULL);
    char *other_fpr = slurp("other.fpr", NULL);
    for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
        char name[32], rel[48], sig_rel[48];
        snprintf(name, sizeof(name), "k%zu", i);
        gen_key(name, algos[i]);
        snprintf(sig_rel, sizeof(sig_rel), "%s.sig", name);
        sign(name, digests[i], sig_rel);
        snprintf(rel, sizeof(rel), "%s.asc", name);
        char *pub = slurp(rel, NULL);
        snprintf(rel, sizeof(rel), "%s.fpr", name);
        char *want_fpr = slurp(rel, NULL);
        /* the Secret's values: an SSH key line, another block, then this one */
        char *keys = malloc(1 << 17);
        snprintf(keys, 1 << 17,
                 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjPGn7l1QyWg2cQKe2Ka8Vt3m1u1hFt2T2Nw9n3yRZy "
                 "x\n%s\n%s",
                 other, pub);
        struct sl_err err = {0};
        char fpr[SL_PGPSIG_FPR_LENGTH] = "";
        CHECK_INT_EQ(sl_pgpsig_count_keys(keys, &err), 2);
        CHECK_INT_EQ(verify_file(sig_rel, keys, MSG, strlen(MSG), &err, fpr, sizeof(fpr)), 0);
        if (err.msg[0])
            fprintf(stderr, "%s (%s): %s\n", name, algos[i], err.msg);
        /* the fingerprint is the one gpg prints */
        CHECK_STR_EQ(fpr, want_fpr);
        /* one byte of the payload changed */
        char tampered[sizeof(MSG)];
        memcpy(tampered, MSG, sizeof(MSG));
        tampered[strlen(tampered) - 2] ^= 1;
        CHECK_INT_EQ(verify_file(sig_rel, keys, tampered, strlen(tampered), &err, NULL, 0),
                     SL_EAUTH);
        CHECK_CONTAINS(err.msg, "does not verify");
        /* valid, but by a key that is not listed: the message names its key ID and fingerprint */
        CHECK_INT_EQ(verify_file(sig_rel, other, MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
        CHECK_CONTAINS(err.msg, "not one of the trusted keys");
        CHECK_CONTAINS(err.msg, want_fpr);
        CHECK_CONTAINS(err.msg, want_fpr + 24); /* the key ID: the low 64 bits */
        free(keys);
        free(pub);
        free(want_fpr);
    }
    /* SHA-1 is refused even from a listed key, with a message that says so */
    sign("k1", "SHA1", "sha1.sig");
    char *pub = slurp("k1.asc", NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(verify_file("sha1.sig", pub, MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "SHA-1");
    CHECK_CONTAINS(err.msg, "refused");
    /* no key block at all, and an SSH signature is not an OpenPGP one */
    CHECK_INT_EQ(sl_pgpsig_count_keys("ssh-ed25519 AAAA x\n", &err), 0);
    CHECK_INT_EQ(verify_file("k0.sig", "", MSG, strlen(MSG), &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "not one of the trusted keys");
    const char *ssh = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n";
    CHECK_INT_EQ(verify_text(ssh, pub, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "not an OpenPGP signature");
    free(pub);
    free(other);
    free(other_fpr);
}

/* The armor checksum: RFC 9580's CRC-24 (the CRC-24/OPENPGP check value of "123456789", and the
 * initial value for no data), as a writer of armor computes it. */
static void test_crc24(void)
{
    CHECK_INT_EQ(sl_pgpsig_crc24("123456789", 9), 0x21CF02);
    CHECK_INT_EQ(sl_pgpsig_crc24("", 0), 0xB704CE);
}

/* Armor damage: truncated, garbled, a wrong CRC-24, in signatures and in key blocks. */
static void test_damaged_armor(void)
{
    char *sig = slurp("k0.sig", NULL);
    char *pub = slurp("k0.asc", NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(verify_text(sig, pub, MSG, strlen(MSG), 0, &err, NULL, 0), 0);
    /* cut in the middle of the base64 */
    char *cut = strdup(sig);
    cut[strlen(cut) / 2] = '\0';
    CHECK_INT_EQ(verify_text(cut, pub, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "truncated");
    free(cut);
    /* the checksum line changed */
    char *crc = strdup(sig);
    char *line = strstr(crc, "\n=");
    CHECK(line != NULL);
    if (line)
        line[2] = line[2] == 'A' ? 'B' : 'A';
    CHECK_INT_EQ(verify_text(crc, pub, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "CRC-24");
    free(crc);
    /* one base64 character of the body changed: the checksum catches it */
    char *garbled = strdup(sig);
    char *body = strstr(garbled, "\n\n") + 2;
    body[10] = body[10] == 'A' ? 'B' : 'A';
    CHECK_INT_EQ(verify_text(garbled, pub, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "CRC-24");
    /* without the checksum line the packets themselves are judged, and must hold */
    char *nocrc = strdup(garbled);
    char *eq = strstr(nocrc, "\n=");
    char *end = strstr(nocrc, "-----END");
    memmove(eq + 1, end, strlen(end) + 1);
    CHECK(verify_text(nocrc, pub, MSG, strlen(MSG), 0, &err, NULL, 0) != 0);
    free(nocrc);
    free(garbled);
    /* not base64 at all */
    const char *junk = "-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n";
    CHECK_INT_EQ(verify_text(junk, pub, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    /* a key block with a damaged checksum: counting and verifying say which block */
    char *bad = strdup(pub);
    line = strstr(bad, "\n=");
    line[2] = line[2] == 'A' ? 'B' : 'A';
    char *two = malloc(strlen(pub) + strlen(bad) + 2);
    snprintf(two, strlen(pub) + strlen(bad) + 2, "%s\n%s", pub, bad);
    CHECK_INT_EQ(sl_pgpsig_count_keys(two, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "OpenPGP key block 2");
    CHECK_CONTAINS(err.msg, "CRC-24");
    CHECK_INT_EQ(verify_text(sig, two, MSG, strlen(MSG), 0, &err, NULL, 0), SL_EINVAL);
    /* a truncated key block */
    bad[strlen(bad) / 2] = '\0';
    CHECK_INT_EQ(sl_pgpsig_count_keys(bad, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "truncated");
    free(two);
    free(bad);
    free(pub);
    free(sig);
}

/* A signing subkey signs (its own fingerprint is reported); expiry and revocation by the key's
 * own self-signatures make a key untrusted. */
static void test_subkey_expiry_revocation(void)
{
    /* an ed25519 primary that expires in a day, with an RSA signing subkey */
    CHECK_INT_EQ(
        sl_test_sh(GPG " --quick-gen-key 'S <s@example.com>' ed25519 sign 1d 2>/dev/null", tmp), 0);
    sl_test_sh(GPG " --with-colons --fingerprint s@example.com | grep '^fpr' | head -1 | "
                   "cut -d: -f10 > '%s/s.fpr'",
               tmp, tmp);
    char *primary = slurp("s.fpr", NULL);
    CHECK_INT_EQ(sl_test_sh(GPG " --quick-add-key %s rsa3072 sign never 2>/dev/null", tmp, primary),
                 0);
    sl_test_sh(GPG " --with-colons --fingerprint --fingerprint s@example.com | grep '^fpr' | "
                   "sed -n 2p | cut -d: -f10 > '%s/sub.fpr'",
               tmp, tmp);
    sl_test_sh(GPG " --armor --export s@example.com > '%s/s.asc'", tmp, tmp);
    char *sub = slurp("sub.fpr", NULL);
    char signer[64];
    snprintf(signer, sizeof(signer), "%s!", sub);
    sign(signer, "SHA256", "sub.sig");
    char *pub = slurp("s.asc", NULL);
    char *sig = slurp("sub.sig", NULL);
    struct sl_err err = {0};
    char fpr[SL_PGPSIG_FPR_LENGTH] = "";
    CHECK_INT_EQ(sl_pgpsig_count_keys(pub, &err), 2);
    int64_t now = (int64_t)time(NULL);
    CHECK_INT_EQ(verify_text(sig, pub, MSG, strlen(MSG), now, &err, fpr, sizeof(fpr)), 0);
    CHECK_STR_EQ(fpr, sub);
    CHECK(strcmp(fpr, primary) != 0);
    /* two days later the primary key has expired, and its subkeys with it */
    CHECK_INT_EQ(verify_text(sig, pub, MSG, strlen(MSG), now + 2 * 86400, &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "expired at");
    CHECK_CONTAINS(err.msg, sub);
    free(sig);
    free(pub);

    /* k0 revoked with the revocation certificate gpg made for it */
    char *k0 = slurp("k0.fpr", NULL);
    sl_test_sh("sed 's/^:-----/-----/' '%s/gnupg/openpgp-revocs.d/%s.rev' > '%s/k0.rev' && " GPG
               " --import '%s/k0.rev' 2>/dev/null && " GPG
               " --armor --export k0@example.com > '%s/k0-revoked.asc'",
               tmp, k0, tmp, tmp, tmp, tmp, tmp);
    pub = slurp("k0-revoked.asc", NULL);
    sig = slurp("k0.sig", NULL);
    CHECK_INT_EQ(verify_text(sig, pub, MSG, strlen(MSG), now, &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "revoked");
    CHECK_CONTAINS(err.msg, k0);
    free(sig);
    free(pub);
    free(k0);
    free(sub);
    free(primary);
}

/* A real `git commit -S` and `git tag -s` with gpg (git's default gpg.format), fetched and
 * verified; the key list also holds another block and an SSH key. */
static void test_git_commit_and_tag(void)
{
    char *fpr_k2 = slurp("k2.fpr", NULL);
    CHECK_INT_EQ(sl_test_sh("cd '%s' && export GNUPGHOME='%s/gnupg' && "
                            "git config user.signingkey %s && "
                            "git commit -q -S --allow-empty -m signed && "
                            "git tag -s -m 'release' v1 && "
                            "git commit -q --allow-empty -m unsigned",
                            repo, tmp, fpr_k2),
                 0);
    char cache[400], url[400];
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    snprintf(url, sizeof(url), "file://%s", repo);
    struct sl_git_result v1 = {0};
    struct sl_err err = {0};
    struct sl_git_ref v1_ref = {.tag = "v1"};
    CHECK_INT_EQ(sl_git_fetch(&v1, cache, url, &v1_ref, NULL, &err), 0);
    char *pub = slurp("k2.asc", NULL);
    char *other = slurp("other.asc", NULL);
    char keys[1 << 15];
    snprintf(keys, sizeof(keys), "%s\n%s", other, pub);
    int64_t now = (int64_t)time(NULL);
    struct sl_git_signature s = {0};
    char fpr[SL_PGPSIG_FPR_LENGTH] = "";
    /* the signed commit v1 points at */
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, v1.commit, NULL, &err), 0);
    CHECK(strstr(s.signature, SL_PGPSIG_SIG_ARMOR) == s.signature);
    CHECK_INT_EQ(sl_pgpsig_verify(fpr, sizeof(fpr), s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, keys, now, &err),
                 0);
    CHECK_STR_EQ(fpr, fpr_k2);
    /* the commit with one byte of its message changed does not verify */
    s.signed_data[s.signed_len - 2] ^= 1;
    CHECK_INT_EQ(sl_pgpsig_verify(NULL, 0, s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, keys, now, &err),
                 SL_EAUTH);
    CHECK_CONTAINS(err.msg, "does not verify");
    sl_git_signature_clear(&s);
    /* the signed tag */
    CHECK_INT_EQ(sl_git_read_signature(&s, cache, NULL, "v1", &err), 0);
    CHECK_CONTAINS(s.signed_data, "tag v1\n");
    CHECK_INT_EQ(sl_pgpsig_verify(NULL, 0, s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, keys, now, &err),
                 0);
    /* by a key the list does not hold */
    CHECK_INT_EQ(sl_pgpsig_verify(NULL, 0, s.signature, s.signature_len, s.signed_data,
                                  s.signed_len, other, now, &err),
                 SL_EAUTH);
    CHECK_CONTAINS(err.msg, fpr_k2 + 24);
    sl_git_signature_clear(&s);
    free(other);
    free(pub);
    free(fpr_k2);
}

/* A packet with a new-format header (tag, one-octet length: body_len < 192) in armor of label,
 * without a checksum line (RFC 9580 makes it optional). Caller frees. */
static char *armor_packet(unsigned tag, const unsigned char *body, size_t body_len,
                          const char *label)
{
    unsigned char pkt[256];
    pkt[0] = (unsigned char)(0xC0 | tag);
    pkt[1] = (unsigned char)body_len;
    memcpy(pkt + 2, body, body_len);
    char *b64 = sl_base64_encode(pkt, body_len + 2);
    size_t n = strlen(b64) + 100;
    char *out = malloc(n);
    snprintf(out, n, "-----BEGIN %s-----\n\n%s\n-----END %s-----\n", label, b64, label);
    free(b64);
    return out;
}

/* A v4 signature (type 0x00, algorithm 27, hash SHA-256) by key over data, its hashed area the
 * creation time, the issuer fingerprint fpr (when with_issuer) and extra (extra_len bytes of
 * whole subpackets). Caller frees. */
static char *ed25519_sig(EVP_PKEY *key, const unsigned char fpr[20], const char *data,
                         bool with_issuer, const unsigned char *extra, size_t extra_len)
{
    unsigned char body[200], *w = body + 6;
    uint32_t now = (uint32_t)time(NULL);
    *w++ = 5, *w++ = 2; /* creation time */
    for (int i = 3; i >= 0; i--)
        *w++ = (unsigned char)(now >> (8 * i));
    if (with_issuer) {
        *w++ = 22, *w++ = 33, *w++ = 4;
        memcpy(w, fpr, 20);
        w += 20;
    }
    if (extra_len) {
        memcpy(w, extra, extra_len);
        w += extra_len;
    }
    size_t hlen = (size_t)(w - body) - 6;
    unsigned char head[6] = {4, 0x00, 27, 8, (unsigned char)(hlen >> 8), (unsigned char)hlen};
    memcpy(body, head, 6);
    size_t hashed = (size_t)(w - body);
    unsigned char trailer[6] = {4, 0xff, 0, 0, 0, (unsigned char)hashed};
    unsigned char digest[32], sig[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, data, strlen(data));
    EVP_DigestUpdate(md, body, hashed);
    EVP_DigestUpdate(md, trailer, 6);
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    CHECK(EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
          EVP_DigestSign(md, sig, &sig_len, digest, sizeof(digest)) == 1);
    EVP_MD_CTX_free(md);
    *w++ = 0, *w++ = 0; /* no unhashed subpackets */
    *w++ = digest[0], *w++ = digest[1];
    memcpy(w, sig, 64);
    w += 64;
    return armor_packet(2, body, (size_t)(w - body), "PGP SIGNATURE");
}

/* RFC 9580's Ed25519 (algorithm 27) in v4 packets, which gpg 2.2 cannot make: a key and
 * signatures built here with OpenSSL; armor without a checksum line; a critical subpacket the
 * verifier does not know and a signature naming no issuer. */
static void test_ed25519_rfc9580(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char kb[38] = {4, 0x65, 0x00, 0x00, 0x00, 27};
    size_t pub_len = 32;
    CHECK(EVP_PKEY_get_raw_public_key(key, kb + 6, &pub_len) == 1);
    unsigned char prefix[3] = {0x99, 0, sizeof(kb)}, fpr[20];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha1(), NULL);
    EVP_DigestUpdate(md, prefix, 3);
    EVP_DigestUpdate(md, kb, sizeof(kb));
    EVP_DigestFinal_ex(md, fpr, NULL);
    EVP_MD_CTX_free(md);
    char want[SL_PGPSIG_FPR_LENGTH], got[SL_PGPSIG_FPR_LENGTH] = "";
    for (int i = 0; i < 20; i++)
        snprintf(want + 2 * i, 3, "%02X", fpr[i]);
    char *keys = armor_packet(6, kb, sizeof(kb), "PGP PUBLIC KEY BLOCK");
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_pgpsig_count_keys(keys, &err), 1);
    int64_t now = (int64_t)time(NULL);
    char *sig = ed25519_sig(key, fpr, MSG, true, NULL, 0);
    CHECK_INT_EQ(verify_text(sig, keys, MSG, strlen(MSG), now, &err, got, sizeof(got)), 0);
    CHECK_STR_EQ(got, want);
    CHECK_INT_EQ(verify_text(sig, keys, "tampered", 8, now, &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "does not verify");
    free(sig);
    /* a critical subpacket of an unknown type (99) makes the signature invalid */
    static const unsigned char critical[] = {2, 0x80 | 99, 0};
    sig = ed25519_sig(key, fpr, MSG, true, critical, sizeof(critical));
    CHECK_INT_EQ(verify_text(sig, keys, MSG, strlen(MSG), now, &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "critical subpacket");
    free(sig);
    /* no issuer: every listed key is tried */
    sig = ed25519_sig(key, fpr, MSG, false, NULL, 0);
    CHECK_INT_EQ(verify_text(sig, keys, MSG, strlen(MSG), now, &err, NULL, 0), 0);
    CHECK_INT_EQ(verify_text(sig, keys, "tampered", 8, now, &err, NULL, 0), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "names no issuer");
    free(sig);
    free(keys);
    EVP_PKEY_free(key);
}

int main(void)
{
    sl_test_git_init(tmp, sizeof(tmp), repo, sizeof(repo), "sealift-unit-pgpsig");
    sl_test_sh("mkdir -m 700 '%s/gnupg'", tmp);
    sl_test_git_write(repo, "a.yaml", "a: 1\n");
    sl_test_git_commit(repo, "first");
    RUN(test_each_key_type);
    RUN(test_crc24);
    RUN(test_damaged_armor);
    RUN(test_subkey_expiry_revocation);
    RUN(test_git_commit_and_tag);
    RUN(test_ed25519_rfc9580);
    sl_test_sh("GNUPGHOME='%s/gnupg' gpgconf --kill gpg-agent; rm -rf '%s'", tmp, tmp);
    return CHECK_EXIT();
}
