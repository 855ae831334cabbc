#include "git/sshsig.h"
#include "util/base64.h"
#include "util/mem.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END   "-----END SSH SIGNATURE-----"

/* A cursor over SSH wire data (RFC 4251 section 5). */
struct rd {
    const unsigned char *p;
    size_t n;
};

static bool rd_u32(struct rd *r, uint32_t *out)
{
    if (r->n < 4)
        return false;
    *out =
        ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) | ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    r->n -= 4;
    return true;
}

/* A string: *out points into r's data (len bytes), never past its end. */
static bool rd_string(struct rd *r, struct rd *out)
{
    uint32_t len;
    if (!rd_u32(r, &len) || len > r->n)
        return false;
    out->p = r->p;
    out->n = len;
    r->p += len;
    r->n -= len;
    return true;
}

static bool rd_is(const struct rd *s, const char *text)
{
    return s->n == strlen(text) && memcmp(s->p, text, s->n) == 0;
}

static void put_string(unsigned char **w, const void *data, size_t len)
{
    (*w)[0] = (unsigned char)(len >> 24);
    (*w)[1] = (unsigned char)(len >> 16);
    (*w)[2] = (unsigned char)(len >> 8);
    (*w)[3] = (unsigned char)len;
    memcpy(*w + 4, data, len);
    *w += 4 + len;
}

/* The public key of an SSH key blob (ssh-ed25519, ecdsa-sha2-nistp*, ssh-rsa), or NULL. *curve_md
 * gets the digest an ECDSA key signs with. */
static EVP_PKEY *key_from_blob(const struct rd *blob, const EVP_MD **curve_md)
{
    struct rd r = *blob, type, a, b;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *e = NULL, *n = NULL;
    *curve_md = NULL;
    if (!rd_string(&r, &type))
        return NULL;
    if (rd_is(&type, "ssh-ed25519")) {
        if (!rd_string(&r, &a) || a.n != 32 || r.n != 0)
            return NULL;
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a.p, a.n);
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld)
        goto done;
    const char *keytype = NULL;
    if (rd_is(&type, "ecdsa-sha2-nistp256") || rd_is(&type, "ecdsa-sha2-nistp384") ||
        rd_is(&type, "ecdsa-sha2-nistp521")) {
        if (!rd_string(&r, &a) || !rd_string(&r, &b) || r.n != 0 || a.n != 8 ||
            memcmp(a.p, type.p + 11, 8) != 0 || b.n == 0 || b.n > 133)
            goto done;
        const char *group = "prime256v1";
        *curve_md = EVP_sha256();
        if (memcmp(a.p, "nistp384", 8) == 0) {
            group = "secp384r1";
            *curve_md = EVP_sha384();
        } else if (memcmp(a.p, "nistp521", 8) == 0) {
            group = "secp521r1";
            *curve_md = EVP_sha512();
        }
        keytype = "EC";
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, b.p, b.n))
            goto done;
    } else if (rd_is(&type, "ssh-rsa")) {
        /* mpint e, mpint n; RSA keys of 1024 to 16384 bits */
        if (!rd_string(&r, &a) || !rd_string(&r, &b) || r.n != 0 || a.n == 0 || a.n > 8 ||
            b.n < 128 || b.n > 2049)
            goto done;
        e = BN_bin2bn(a.p, (int)a.n, NULL);
        n = BN_bin2bn(b.p, (int)b.n, NULL);
        keytype = "RSA";
        if (!e || !n || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto done;
    } else {
        goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(e);
    BN_free(n);
    return pkey;
}

/* Checks sig (the SSHSIG signature field: string type, string blob) over msg with pkey, whose
 * blob type is key_type. */
static bool signature_ok(EVP_PKEY *pkey, const struct rd *key_type, const EVP_MD *curve_md,
                         const struct rd *sig, const unsigned char *msg, size_t msg_len)
{
    struct rd r = *sig, type, blob;
    if (!rd_string(&r, &type) || !rd_string(&r, &blob) || r.n != 0)
        return false;
    const EVP_MD *md = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig_bytes = blob.p;
    size_t sig_len = blob.n;
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ECDSA_SIG *ec = NULL;
    if (!ctx)
        return false;
    if (rd_is(key_type, "ssh-ed25519")) {
        if (!rd_is(&type, "ssh-ed25519") || blob.n != 64)
            goto done;
    } else if (rd_is(key_type, "ssh-rsa")) {
        if (rd_is(&type, "rsa-sha2-512"))
            md = EVP_sha512();
        else if (rd_is(&type, "rsa-sha2-256"))
            md = EVP_sha256();
        else
            goto done; /* "ssh-rsa" is SHA-1: refused, as OpenSSH does by default */
    } else {
        /* ECDSA: the signature type names the key type; r and s as mpints */
        if (type.n != key_type->n || memcmp(type.p, key_type->p, type.n) != 0)
            goto done;
        struct rd rs = blob, rr, ss;
        if (!rd_string(&rs, &rr) || !rd_string(&rs, &ss) || rs.n != 0 || rr.n > 67 || ss.n > 67)
            goto done;
        BIGNUM *bnr = BN_bin2bn(rr.p, (int)rr.n, NULL);
        BIGNUM *bns = BN_bin2bn(ss.p, (int)ss.n, NULL);
        ec = ECDSA_SIG_new();
        if (!bnr || !bns || !ec || !ECDSA_SIG_set0(ec, bnr, bns)) {
            BN_free(bnr);
            BN_free(bns);
            goto done;
        }
        int dlen = i2d_ECDSA_SIG(ec, &der);
        if (dlen <= 0)
            goto done;
        sig_bytes = der;
        sig_len = (size_t)dlen;
        md = curve_md;
    }
    ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
         EVP_DigestVerify(ctx, sig_bytes, sig_len, msg, msg_len) == 1;
done:
    ECDSA_SIG_free(ec);
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Calls fn for each key blob of allowed_keys (decoded; at most SL_SSHSIG_MAX_KEYS); stops when fn
 * returns true. Returns how many keys were seen. */
static int each_key(const char *allowed_keys, bool (*fn)(const unsigned char *, size_t, void *),
                    void *ctx)
{
    static const char *const types[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                        "ecdsa-sha2-nistp521", "ssh-rsa"};
    int count = 0;
    const char *line = allowed_keys ? allowed_keys : "";
    while (*line && count < SL_SSHSIG_MAX_KEYS) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *end = line + len;
        /* the first token that is a key type, then its base64 blob */
        const char *p = line;
        while (p < end && line[0] != '#') {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *tok = p;
            while (p < end && *p != ' ' && *p != '\t')
                p++;
            size_t tlen = (size_t)(p - tok);
            bool is_type = false;
            for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (tlen == strlen(types[i]) && memcmp(tok, types[i], tlen) == 0)
                    is_type = true;
            if (!is_type)
                continue;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *b64 = p;
            while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
                p++;
            unsigned char *blob = NULL;
            size_t blen = 0;
            if (p > b64 && sl_base64_decode(&blob, &blen, b64, (size_t)(p - b64)) == 0) {
                count++;
                bool stop = fn(blob, blen, ctx);
                free(blob);
                if (stop)
                    return count;
            }
            break;
        }
        line = eol ? eol + 1 : end;
    }
    return count;
}

static bool count_one(const unsigned char *blob, size_t len, void *ctx)
{
    (void)blob;
    (void)len;
    (void)ctx;
    return false;
}

int sl_sshsig_count_keys(const char *allowed_keys)
{
    return each_key(allowed_keys, count_one, NULL);
}

struct find_key {
    const struct rd *want;
    bool found;
};

static bool same_key(const unsigned char *blob, size_t len, void *ctx)
{
    struct find_key *f = ctx;
    if (len == f->want->n && memcmp(blob, f->want->p, len) == 0)
        f->found = true;
    return f->found;
}

int sl_sshsig_verify(char *fingerprint, size_t fpr_size, const char *armored, size_t armored_len,
                     const void *data, size_t data_len, const char *allowed_keys,
                     const char *namespace, struct sl_err *err)
{
    unsigned char *raw = NULL, *msg = NULL;
    size_t raw_len = 0;
    EVP_PKEY *pkey = NULL;
    int rc = SL_EINVAL;
    if (!armored || armored_len > SL_SSHSIG_MAX_BYTES) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "the signature is missing or larger than 64 KiB");
        goto done;
    }
    /* the armor: BEGIN line, base64 lines, END line */
    const char *begin = memmem(armored, armored_len, ARMOR_BEGIN, strlen(ARMOR_BEGIN));
    const char *body = begin ? begin + strlen(ARMOR_BEGIN) : NULL;
    const char *end =
        body ? memmem(body, armored_len - (size_t)(body - armored), ARMOR_END, strlen(ARMOR_END))
             : NULL;
    if (!end ||
        sl_base64_decode_opts(&raw, &raw_len, body, (size_t)(end - body), SL_BASE64_SPACE) != 0) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "not an SSH signature (%s ... %s)", ARMOR_BEGIN,
                   ARMOR_END);
        goto done;
    }
    struct rd r = {raw, raw_len}, pk, ns, reserved, hash, sig;
    uint32_t version = 0;
    if (raw_len < 6 || memcmp(raw, "SSHSIG", 6) != 0) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "not an SSH signature (no SSHSIG magic)");
        goto done;
    }
    r.p += 6;
    r.n -= 6;
    if (!rd_u32(&r, &version) || version != 1 || !rd_string(&r, &pk) || !rd_string(&r, &ns) ||
        !rd_string(&r, &reserved) || !rd_string(&r, &hash) || !rd_string(&r, &sig) || r.n != 0) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "malformed SSH signature");
        goto done;
    }
    const EVP_MD *md = rd_is(&hash, "sha512")   ? EVP_sha512()
                       : rd_is(&hash, "sha256") ? EVP_sha256()
                                                : NULL;
    if (!md) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "SSH signature with an unknown hash algorithm");
        goto done;
    }
    rc = SL_EAUTH;
    if (!rd_is(&ns, namespace)) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "the signature is not for namespace \"%s\"", namespace);
        goto done;
    }
    struct find_key fk = {.want = &pk};
    each_key(allowed_keys, same_key, &fk);
    unsigned char fpr_md[32];
    EVP_Digest(pk.p, pk.n, fpr_md, NULL, EVP_sha256(), NULL);
    char *fpr64 = sl_base64_encode(fpr_md, sizeof(fpr_md));
    fpr64[strcspn(fpr64, "=")] = '\0';
    char fpr[SL_SSHSIG_FPR_LENGTH];
    snprintf(fpr, sizeof(fpr), "SHA256:%s", fpr64);
    free(fpr64);
    if (!fk.found) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO,
                   "signed by key %s, which is not one of the trusted keys", fpr);
        goto done;
    }
    struct rd key_type, tmp = pk;
    const EVP_MD *curve_md = NULL;
    if (!rd_string(&tmp, &key_type) || !(pkey = key_from_blob(&pk, &curve_md))) {
        rc = SL_EINVAL;
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "the signing key %s is not a supported SSH key", fpr);
        goto done;
    }
    /* what was signed: "SSHSIG", namespace, reserved, hash algorithm, H(data) */
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(data, data_len, digest, &dlen, md, NULL) != 1) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "cannot hash the signed data");
        goto done;
    }
    size_t msg_len = 6 + 4 + ns.n + 4 + reserved.n + 4 + hash.n + 4 + dlen;
    msg = sl_xmalloc(msg_len);
    unsigned char *w = msg;
    memcpy(w, "SSHSIG", 6);
    w += 6;
    put_string(&w, ns.p, ns.n);
    put_string(&w, reserved.p, reserved.n);
    put_string(&w, hash.p, hash.n);
    put_string(&w, digest, dlen);
    if (!signature_ok(pkey, &key_type, curve_md, &sig, msg, msg_len)) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "the signature by key %s does not verify", fpr);
        goto done;
    }
    if (fingerprint && fpr_size)
        snprintf(fingerprint, fpr_size, "%s", fpr);
    rc = 0;
done:
    EVP_PKEY_free(pkey);
    free(raw);
    free(msg);
    return rc;
}
