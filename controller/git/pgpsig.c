#include "git/pgpsig.h"
#include "util/base64.h"
#include "util/mem.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIG_LABEL "PGP SIGNATURE"
#define KEY_LABEL "PGP PUBLIC KEY BLOCK"

/* Bounds beyond the sizes in the header. */
#define MAX_PACKETS_PER_BLOCK 4096 /* a key block: keys, user IDs and their signatures */
#define MAX_SIGS_PER_ARMOR    4    /* signature packets looked at in one signature */
#define MAX_BLOCKS            64   /* public key blocks in a key list */
#define MAX_HEADER_LINES      16   /* armor headers (Version:, Comment:) */
#define RSA_MIN_BITS          2048
#define RSA_MAX_BITS          8192

/* Packet tags (RFC 9580 section 5). */
enum { TAG_SIGNATURE = 2, TAG_PUBKEY = 6, TAG_MARKER = 10, TAG_TRUST = 12, TAG_UID = 13 };
enum { TAG_PUBSUBKEY = 14, TAG_USER_ATTRIBUTE = 17 };

/* Public-key algorithms. */
enum { ALG_RSA = 1, ALG_RSA_SIGN = 3, ALG_ECDSA = 19, ALG_EDDSA_LEGACY = 22, ALG_ED25519 = 27 };

/* Signature types. */
enum { SIG_BINARY = 0x00, SIG_CERT_FIRST = 0x10, SIG_CERT_LAST = 0x13, SIG_SUBKEY_BINDING = 0x18 };
enum { SIG_DIRECT_KEY = 0x1f, SIG_KEY_REVOCATION = 0x20, SIG_SUBKEY_REVOCATION = 0x28 };

/* Signature subpackets. */
enum { SUB_CREATED = 2, SUB_SIG_EXPIRES = 3, SUB_KEY_EXPIRES = 9, SUB_ISSUER = 16 };
enum { SUB_KEY_FLAGS = 27, SUB_ISSUER_FPR = 33 };
#define KEY_FLAG_SIGN 0x02

/* A cursor over packet data. */
struct rd {
    const unsigned char *p;
    size_t n;
};

static bool rd_take(struct rd *r, size_t n, struct rd *out)
{
    if (r->n < n)
        return false;
    out->p = r->p;
    out->n = n;
    r->p += n;
    r->n -= n;
    return true;
}

static bool rd_be(struct rd *r, size_t n, uint32_t *out)
{
    struct rd b;
    if (n > 4 || !rd_take(r, n, &b))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b.p[i];
    *out = v;
    return true;
}

/* A multiprecision integer (2-byte bit count, then the bytes), at most max_bytes long. */
static bool rd_mpi(struct rd *r, struct rd *out, size_t max_bytes)
{
    uint32_t bits;
    if (!rd_be(r, 2, &bits))
        return false;
    size_t n = ((size_t)bits + 7) / 8;
    return n > 0 && n <= max_bytes && rd_take(r, n, out);
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void hex(char *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- ASCII armor (RFC 9580 section 6) ---- */

uint32_t sl_pgpsig_crc24(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xB704CEu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)p[i] << 16;
        for (int b = 0; b < 8; b++) {
            crc <<= 1;
            if (crc & 0x1000000u)
                crc ^= 0x1864CFBu;
        }
    }
    return crc & 0xFFFFFFu;
}

/* The line of text[0..len) starting at *pos (without its \r\n) in *line; *pos moves past it.
 * False at the end of the text. */
static bool next_line(const char *text, size_t len, size_t *pos, struct rd *line)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const char *eol = memchr(start, '\n', len - *pos);
    size_t n = eol ? (size_t)(eol - start) : len - *pos;
    *pos += n + (eol ? 1 : 0);
    while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' ' || start[n - 1] == '\t'))
        n--;
    line->p = (const unsigned char *)start;
    line->n = n;
    return true;
}

/* Decodes the first armored block labelled label ("-----BEGIN <label>-----") at or after *pos in
 * text[0..len): armor headers are skipped, the CRC-24 line, when present, must match. On success
 * *out (caller frees) holds the packets and *pos is past the END line. Returns 0, SL_ENOTFOUND
 * when no block starts at or after *pos, SL_EINVAL when the block is malformed (err). */
static int dearmor(unsigned char **out, size_t *out_len, const char *text, size_t len, size_t *pos,
                   const char *label, const char *what, struct sl_err *err)
{
    char begin[64], end[64];
    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    snprintf(end, sizeof(end), "-----END %s-----", label);
    if (*pos >= len)
        return SL_ENOTFOUND;
    const char *b = memmem(text + *pos, len - *pos, begin, strlen(begin));
    if (!b)
        return SL_ENOTFOUND;
    size_t at = (size_t)(b - text) + strlen(begin);
    struct rd line;
    if (!next_line(text, len, &at, &line) || line.n != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "%s: malformed armor line", what);
    /* armor headers ("Key: value") up to a blank line */
    size_t body = at, headers = 0;
    while (next_line(text, len, &at, &line) && line.n > 0 && memchr(line.p, ':', line.n) != NULL &&
           headers < MAX_HEADER_LINES) {
        headers++;
        body = at;
    }
    at = body;
    /* The body is the base64 lines that follow, ending at the CRC line ("=XXXX") or the END
     * line, whichever comes first. */
    size_t body_end = at;
    bool have_crc = false, have_end = false;
    unsigned char crc_bytes[3] = {0};
    while (next_line(text, len, &at, &line)) {
        if (line.n >= strlen(end) && memcmp(line.p, end, strlen(end)) == 0) {
            have_end = true;
            break;
        }
        if (line.n > 0 && line.p[0] == '=') {
            unsigned char *c = NULL;
            size_t clen = 0;
            if (have_crc || line.n != 5 ||
                sl_base64_decode(&c, &clen, (const char *)line.p + 1, 4) != 0 || clen != 3) {
                free(c);
                return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                                  "%s: malformed armor checksum line", what);
            }
            memcpy(crc_bytes, c, 3);
            free(c);
            have_crc = true;
            continue;
        }
        if (have_crc)
            break; /* only the END line may follow the checksum */
        body_end = at;
    }
    if (!have_end)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "%s: truncated armor (no %s line)", what,
                          end);
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (sl_base64_decode_opts(&raw, &raw_len, text + body, body_end - body, SL_BASE64_SPACE) != 0 ||
        raw_len == 0) {
        free(raw);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "%s: the armor is not valid base64",
                          what);
    }
    if (have_crc &&
        sl_pgpsig_crc24(raw, raw_len) !=
            (((uint32_t)crc_bytes[0] << 16) | ((uint32_t)crc_bytes[1] << 8) | crc_bytes[2])) {
        free(raw);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                          "%s: the armor checksum (CRC-24) does not match: damaged in transit",
                          what);
    }
    *out = raw;
    *out_len = raw_len;
    *pos = at;
    return 0;
}

/* ---- packets (RFC 9580 section 4.2) ---- */

/* The next packet of r: 1 with *tag and *body, 0 at the end of r, -1 when malformed (partial
 * body lengths and indeterminate lengths are refused: keys and signatures never use them). */
static int next_packet(struct rd *r, unsigned *tag, struct rd *body)
{
    if (r->n == 0)
        return 0;
    unsigned first = r->p[0];
    struct rd skip;
    rd_take(r, 1, &skip);
    if (!(first & 0x80))
        return -1;
    uint32_t len = 0;
    if (first & 0x40) {
        *tag = first & 0x3f;
        uint32_t a;
        if (!rd_be(r, 1, &a))
            return -1;
        if (a < 192) {
            len = a;
        } else if (a < 224) {
            uint32_t b;
            if (!rd_be(r, 1, &b))
                return -1;
            len = ((a - 192) << 8) + b + 192;
        } else if (a == 255) {
            if (!rd_be(r, 4, &len))
                return -1;
        } else {
            return -1;
        }
    } else {
        *tag = (first >> 2) & 0x0f;
        unsigned type = first & 3;
        if (type == 3 || !rd_be(r, (size_t)1 << type, &len))
            return -1;
    }
    return rd_take(r, len, body) ? 1 : -1;
}

/* ---- signatures (RFC 9580 section 5.2) ---- */

struct pgp_sig {
    unsigned version, type, pk_algo, hash_algo;
    struct rd hashed_part; /* version .. end of the hashed subpackets: what the trailer covers */
    unsigned char left16[2];
    struct rd a, b; /* RSA: a; ECDSA and legacy EdDSA: r, s; Ed25519: a (64 bytes) */
    uint32_t created, sig_expires, key_expires, key_flags;
    bool has_created, has_key_expires, has_key_flags, has_fpr, has_id, unknown_critical;
    unsigned char issuer_fpr[20], issuer_id[8];
};

/* Reads the subpackets of area; hashed says whether they are covered by the signature (only
 * then are anything but the issuer's identity taken from them). False when malformed. */
static bool read_subpackets(struct pgp_sig *s, struct rd area, bool hashed)
{
    int count = 0;
    while (area.n > 0) {
        if (++count > 512)
            return false;
        uint32_t a, len;
        if (!rd_be(&area, 1, &a))
            return false;
        if (a < 192) {
            len = a;
        } else if (a < 255) {
            uint32_t b;
            if (!rd_be(&area, 1, &b))
                return false;
            len = ((a - 192) << 8) + b + 192;
        } else if (!rd_be(&area, 4, &len)) {
            return false;
        }
        struct rd sp;
        if (len == 0 || !rd_take(&area, len, &sp))
            return false;
        unsigned type = sp.p[0] & 0x7f;
        bool critical = sp.p[0] & 0x80;
        sp.p++;
        sp.n--;
        if (type == SUB_ISSUER && sp.n == 8) {
            memcpy(s->issuer_id, sp.p, 8);
            s->has_id = true;
        } else if (type == SUB_ISSUER_FPR && sp.n == 21 && sp.p[0] == 4) {
            memcpy(s->issuer_fpr, sp.p + 1, 20);
            s->has_fpr = true;
        } else if (!hashed) {
            continue;
        } else if (type == SUB_CREATED && sp.n == 4) {
            s->created = be32(sp.p);
            s->has_created = true;
        } else if (type == SUB_SIG_EXPIRES && sp.n == 4) {
            s->sig_expires = be32(sp.p);
        } else if (type == SUB_KEY_EXPIRES && sp.n == 4) {
            s->key_expires = be32(sp.p);
            s->has_key_expires = true;
        } else if (type == SUB_KEY_FLAGS && sp.n >= 1) {
            s->key_flags = sp.p[0];
            s->has_key_flags = true;
        } else if (critical) {
            /* preferences, features, notations and such are advice; a critical subpacket this
             * verifier does not know makes the signature invalid (RFC 9580 section 5.2.3.7) */
            static const unsigned advisory[] = {4, 5, 6, 7, 11, 21, 22, 23, 24, 25, 30, 31, 32};
            bool known = false;
            for (size_t i = 0; i < sizeof(advisory) / sizeof(advisory[0]); i++)
                known = known || advisory[i] == type;
            if (!known)
                s->unknown_critical = true;
        }
    }
    return true;
}

/* Parses a v4 signature packet body. Returns 0, SL_EUNSUPPORTED for another version, SL_EINVAL
 * when malformed. */
static int parse_sig(struct pgp_sig *s, struct rd body)
{
    memset(s, 0, sizeof(*s));
    struct rd r = body, hashed, unhashed, left;
    uint32_t v, type, pk, hash, hlen, ulen;
    if (!rd_be(&r, 1, &v))
        return SL_EINVAL;
    s->version = v;
    if (v != 4)
        return SL_EUNSUPPORTED;
    if (!rd_be(&r, 1, &type) || !rd_be(&r, 1, &pk) || !rd_be(&r, 1, &hash) ||
        !rd_be(&r, 2, &hlen) || !rd_take(&r, hlen, &hashed) || !rd_be(&r, 2, &ulen) ||
        !rd_take(&r, ulen, &unhashed) || !rd_take(&r, 2, &left))
        return SL_EINVAL;
    s->type = type;
    s->pk_algo = pk;
    s->hash_algo = hash;
    s->hashed_part.p = body.p;
    s->hashed_part.n = 6 + hlen;
    memcpy(s->left16, left.p, 2);
    if (!read_subpackets(s, hashed, true) || !read_subpackets(s, unhashed, false))
        return SL_EINVAL;
    bool ok;
    switch (pk) {
    case ALG_RSA:
    case ALG_RSA_SIGN:
        ok = rd_mpi(&r, &s->a, RSA_MAX_BITS / 8);
        break;
    case ALG_ECDSA:
        ok = rd_mpi(&r, &s->a, 66) && rd_mpi(&r, &s->b, 66);
        break;
    case ALG_EDDSA_LEGACY:
        ok = rd_mpi(&r, &s->a, 32) && rd_mpi(&r, &s->b, 32);
        break;
    case ALG_ED25519:
        ok = rd_take(&r, 64, &s->a);
        break;
    default:
        return SL_EUNSUPPORTED;
    }
    return ok && r.n == 0 ? 0 : SL_EINVAL;
}

/* The digest of hash algorithm id, or NULL; *name gets its name either way. */
static const EVP_MD *hash_md(unsigned id, const char **name)
{
    switch (id) {
    case 1:
        *name = "MD5";
        return NULL;
    case 2:
        *name = "SHA-1";
        return EVP_sha1();
    case 3:
        *name = "RIPEMD-160";
        return NULL;
    case 8:
        *name = "SHA-256";
        return EVP_sha256();
    case 9:
        *name = "SHA-384";
        return EVP_sha384();
    case 10:
        *name = "SHA-512";
        return EVP_sha512();
    case 11:
        *name = "SHA-224";
        return EVP_sha224();
    case 12:
        *name = "SHA3-256";
        return EVP_sha3_256();
    case 14:
        *name = "SHA3-512";
        return EVP_sha3_512();
    default:
        *name = "unknown";
        return NULL;
    }
}

/* ---- keys (RFC 9580 section 5.5) ---- */

struct pgp_key {
    unsigned char fpr[20];
    unsigned algo;
    EVP_PKEY *pkey; /* NULL: an algorithm this verifier does not use (ECDH, ElGamal, DSA) */
    size_t rsa_bytes;
    uint32_t created;
    struct rd body;     /* the packet body, for the prefixes of self-signatures */
    int primary;        /* index of its primary key, -1 for a primary key */
    uint32_t self_time; /* creation time of the self-signature in force; 0: none yet */
    bool has_self, revoked, no_sign;
    int64_t expires; /* seconds since the epoch; 0: never */
};

struct keyring {
    struct pgp_key keys[SL_PGPSIG_MAX_KEYS];
    size_t n;
    unsigned char *blocks[MAX_BLOCKS];
    size_t nblocks;
};

static void keyring_clear(struct keyring *k)
{
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pkey);
    for (size_t i = 0; i < k->nblocks; i++)
        free(k->blocks[i]);
    k->n = 0;
    k->nblocks = 0;
}

static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char OID_P521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const unsigned char OID_ED25519[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01};

static bool oid_is(const struct rd *oid, const unsigned char *want, size_t n)
{
    return oid->n == n && memcmp(oid->p, want, n) == 0;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* Parses a v4 public key packet body into k (fingerprint, algorithm, creation time and, for the
 * signing algorithms, the OpenSSL key). Returns 0, SL_EUNSUPPORTED for another version, SL_EINVAL
 * when malformed (an RSA modulus outside 2048..8192 bits included). */
static int parse_key(struct pgp_key *k, struct rd body)
{
    struct rd r = body, oid, a, b;
    uint32_t version, created, algo, oid_len;
    memset(k, 0, sizeof(*k));
    k->primary = -1;
    if (!rd_be(&r, 1, &version))
        return SL_EINVAL;
    if (version != 4)
        return SL_EUNSUPPORTED;
    if (!rd_be(&r, 4, &created) || !rd_be(&r, 1, &algo))
        return SL_EINVAL;
    k->algo = algo;
    k->created = created;
    k->body = body;
    unsigned char prefix[3] = {0x99, (unsigned char)(body.n >> 8), (unsigned char)body.n};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || body.n > 0xffff || EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(md, prefix, 3) != 1 || EVP_DigestUpdate(md, body.p, body.n) != 1 ||
        EVP_DigestFinal_ex(md, k->fpr, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return SL_EINVAL;
    }
    EVP_MD_CTX_free(md);
    OSSL_PARAM_BLD *bld = NULL;
    BIGNUM *n = NULL, *e = NULL;
    int rc = SL_EINVAL;
    switch (algo) {
    case ALG_RSA:
    case ALG_RSA_SIGN: {
        if (!rd_mpi(&r, &a, RSA_MAX_BITS / 8) || !rd_mpi(&r, &b, 8) || r.n != 0)
            goto done;
        n = BN_bin2bn(a.p, (int)a.n, NULL);
        e = BN_bin2bn(b.p, (int)b.n, NULL);
        if (!n || !e || BN_num_bits(n) < RSA_MIN_BITS || BN_num_bits(n) > RSA_MAX_BITS ||
            !BN_is_odd(e))
            goto done;
        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto done;
        k->rsa_bytes = (size_t)BN_num_bytes(n);
        k->pkey = pkey_from_params("RSA", bld);
        break;
    }
    case ALG_ECDSA: {
        if (!rd_be(&r, 1, &oid_len) || oid_len == 0 || oid_len == 0xff ||
            !rd_take(&r, oid_len, &oid) || !rd_mpi(&r, &a, 133) || r.n != 0)
            goto done;
        const char *group = oid_is(&oid, OID_P256, sizeof(OID_P256))   ? "prime256v1"
                            : oid_is(&oid, OID_P384, sizeof(OID_P384)) ? "secp384r1"
                            : oid_is(&oid, OID_P521, sizeof(OID_P521)) ? "secp521r1"
                                                                       : NULL;
        if (!group) {
            rc = 0; /* Brainpool and others: a key this verifier cannot use */
            goto done;
        }
        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, a.p, a.n))
            goto done;
        k->pkey = pkey_from_params("EC", bld);
        break;
    }
    case ALG_EDDSA_LEGACY:
        if (!rd_be(&r, 1, &oid_len) || oid_len == 0 || oid_len == 0xff ||
            !rd_take(&r, oid_len, &oid) || !rd_mpi(&r, &a, 33) || r.n != 0)
            goto done;
        if (!oid_is(&oid, OID_ED25519, sizeof(OID_ED25519))) {
            rc = 0; /* Ed448 in the legacy format: not used by this verifier */
            goto done;
        }
        if (a.n != 33 || a.p[0] != 0x40)
            goto done;
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a.p + 1, 32);
        break;
    case ALG_ED25519:
        if (!rd_take(&r, 32, &a) || r.n != 0)
            goto done;
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a.p, 32);
        break;
    default:
        rc = 0; /* encryption-only and DSA keys: kept for their fingerprint only */
        goto done;
    }
    rc = k->pkey ? 0 : SL_EINVAL;
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return rc;
}

/* ---- verification ---- */

/* Checks s, made over the chunks (hashed in order, then s's hashed part and v4 trailer), with
 * key k. allow_sha1 admits SHA-1 (self-signatures of older keys). Returns 0; SL_EAUTH when the
 * hash is refused or the signature does not verify (err says which). */
static int check_sig(const struct pgp_sig *s, const struct pgp_key *k, const struct rd *chunks,
                     size_t nchunks, bool allow_sha1, struct sl_err *err)
{
    const char *hname = NULL;
    const EVP_MD *md = hash_md(s->hash_algo, &hname);
    if (!md && s->hash_algo > 3)
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the signature uses hash algorithm %u, which this verifier does not "
                          "know",
                          s->hash_algo);
    if (!md || (s->hash_algo == 2 && !allow_sha1))
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the signature uses hash algorithm %s, which is refused as too weak "
                          "(sign with SHA-256 or stronger: gpg --digest-algo SHA256)",
                          hname);
    bool rsa_key = k->algo == ALG_RSA || k->algo == ALG_RSA_SIGN;
    bool rsa_sig = s->pk_algo == ALG_RSA || s->pk_algo == ALG_RSA_SIGN;
    if (!k->pkey || (rsa_key ? !rsa_sig : s->pk_algo != k->algo))
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the signature's algorithm %u does not match the key's (%u)", s->pk_algo,
                          k->algo);
    unsigned char digest[EVP_MAX_MD_SIZE], trailer[6];
    unsigned int dlen = 0;
    trailer[0] = 4;
    trailer[1] = 0xff;
    trailer[2] = (unsigned char)(s->hashed_part.n >> 24);
    trailer[3] = (unsigned char)(s->hashed_part.n >> 16);
    trailer[4] = (unsigned char)(s->hashed_part.n >> 8);
    trailer[5] = (unsigned char)s->hashed_part.n;
    EVP_MD_CTX *mdctx = EVP_MD_CTX_new();
    EVP_MD_CTX *vctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *ec = NULL;
    BIGNUM *r = NULL, *sv = NULL;
    unsigned char *der = NULL, *padded = NULL;
    bool ok = false, hashed = mdctx && EVP_DigestInit_ex(mdctx, md, NULL) == 1;
    for (size_t i = 0; hashed && i < nchunks; i++)
        hashed = EVP_DigestUpdate(mdctx, chunks[i].p, chunks[i].n) == 1;
    hashed = hashed && EVP_DigestUpdate(mdctx, s->hashed_part.p, s->hashed_part.n) == 1 &&
             EVP_DigestUpdate(mdctx, trailer, sizeof(trailer)) == 1 &&
             EVP_DigestFinal_ex(mdctx, digest, &dlen) == 1;
    /* the left 16 bits are a quick check only: a mismatch means the data is not what was signed */
    if (!hashed || memcmp(digest, s->left16, 2) != 0)
        goto done;
    if (rsa_key) {
        /* the MPI drops leading zeros; OpenSSL wants the signature as long as the modulus */
        if (s->a.n > k->rsa_bytes)
            goto done;
        padded = sl_xmalloc(k->rsa_bytes);
        memset(padded, 0, k->rsa_bytes - s->a.n);
        memcpy(padded + k->rsa_bytes - s->a.n, s->a.p, s->a.n);
        pctx = EVP_PKEY_CTX_new(k->pkey, NULL);
        ok = pctx && EVP_PKEY_verify_init(pctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pctx, md) == 1 &&
             EVP_PKEY_verify(pctx, padded, k->rsa_bytes, digest, dlen) == 1;
    } else if (k->algo == ALG_ECDSA) {
        r = BN_bin2bn(s->a.p, (int)s->a.n, NULL);
        sv = BN_bin2bn(s->b.p, (int)s->b.n, NULL);
        ec = ECDSA_SIG_new();
        if (!r || !sv || !ec || !ECDSA_SIG_set0(ec, r, sv))
            goto done;
        r = sv = NULL; /* owned by ec now */
        int der_len = i2d_ECDSA_SIG(ec, &der);
        pctx = EVP_PKEY_CTX_new(k->pkey, NULL);
        ok = der_len > 0 && pctx && EVP_PKEY_verify_init(pctx) == 1 &&
             EVP_PKEY_verify(pctx, der, (size_t)der_len, digest, dlen) == 1;
    } else {
        /* EdDSA signs the digest as its message; legacy EdDSA keeps r and s as MPIs */
        unsigned char sig64[64] = {0};
        if (k->algo == ALG_ED25519) {
            memcpy(sig64, s->a.p, 64);
        } else {
            memcpy(sig64 + 32 - s->a.n, s->a.p, s->a.n);
            memcpy(sig64 + 64 - s->b.n, s->b.p, s->b.n);
        }
        vctx = EVP_MD_CTX_new();
        ok = vctx && EVP_DigestVerifyInit(vctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(vctx, sig64, 64, digest, dlen) == 1;
    }
done:
    EVP_MD_CTX_free(mdctx);
    EVP_MD_CTX_free(vctx);
    EVP_PKEY_CTX_free(pctx);
    ECDSA_SIG_free(ec);
    BN_free(r);
    BN_free(sv);
    OPENSSL_free(der);
    free(padded);
    return ok ? 0 : sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO, "the signature does not verify");
}

/* The hash prefix of a key packet body (0x99, 2-byte length). */
static void key_prefix(unsigned char out[3], const struct rd *body)
{
    out[0] = 0x99;
    out[1] = (unsigned char)(body->n >> 8);
    out[2] = (unsigned char)body->n;
}

static bool issued_by(const struct pgp_sig *s, const struct pgp_key *k)
{
    if (s->has_fpr)
        return memcmp(s->issuer_fpr, k->fpr, 20) == 0;
    if (s->has_id)
        return memcmp(s->issuer_id, k->fpr + 12, 8) == 0;
    return true; /* no issuer named: try the key */
}

/* Applies a signature found in a key block to the key it is about (target: the primary key or
 * the subkey) once it verifies by the primary key: revocations revoke, the newest self-signature
 * sets the expiry and the key flags. uid: the user ID packet body with its prefix byte for
 * certifications (uid_prefix 0xB4 user ID, 0xD1 attribute), else NULL. */
static void apply_self_sig(struct keyring *kr, int primary, int target, const struct rd *uid,
                           unsigned uid_prefix, const struct pgp_sig *s)
{
    struct pgp_key *pk = &kr->keys[primary], *tk = &kr->keys[target];
    bool on_subkey = target != primary;
    unsigned t = s->type;
    bool wanted = on_subkey ? t == SIG_SUBKEY_BINDING || t == SIG_SUBKEY_REVOCATION
                            : t == SIG_KEY_REVOCATION || t == SIG_DIRECT_KEY ||
                                  (uid && t >= SIG_CERT_FIRST && t <= SIG_CERT_LAST);
    if (!wanted || !issued_by(s, pk) || !s->has_created || s->unknown_critical)
        return;
    unsigned char ppre[3], spre[3], upre[5];
    struct rd chunks[4];
    size_t n = 0;
    key_prefix(ppre, &pk->body);
    chunks[n++] = (struct rd){ppre, 3};
    chunks[n++] = pk->body;
    if (on_subkey) {
        key_prefix(spre, &tk->body);
        chunks[n++] = (struct rd){spre, 3};
        chunks[n++] = tk->body;
    } else if (uid && t != SIG_KEY_REVOCATION && t != SIG_DIRECT_KEY) {
        upre[0] = (unsigned char)uid_prefix;
        upre[1] = (unsigned char)(uid->n >> 24);
        upre[2] = (unsigned char)(uid->n >> 16);
        upre[3] = (unsigned char)(uid->n >> 8);
        upre[4] = (unsigned char)uid->n;
        chunks[n++] = (struct rd){upre, 5};
        chunks[n++] = *uid;
    }
    struct sl_err ignored = {0};
    if (check_sig(s, pk, chunks, n, true, &ignored) != 0)
        return;
    if (t == SIG_KEY_REVOCATION || t == SIG_SUBKEY_REVOCATION) {
        tk->revoked = true;
        return;
    }
    if (tk->has_self && s->created < tk->self_time)
        return;
    tk->has_self = true;
    tk->self_time = s->created;
    tk->expires = s->has_key_expires && s->key_expires ? (int64_t)tk->created + s->key_expires : 0;
    tk->no_sign = s->has_key_flags && !(s->key_flags & KEY_FLAG_SIGN);
}

/* Reads one decoded key block (its packets in raw) into kr. Returns 0 or SL_EINVAL (err). */
static int load_block(struct keyring *kr, const struct rd *raw, int block_no, struct sl_err *err)
{
    struct rd r = *raw, body, uid = {0};
    unsigned tag, uid_prefix = 0;
    int primary = -1, target = -1, rc, count = 0;
    bool have_uid = false, skipping = false;
    while ((rc = next_packet(&r, &tag, &body)) == 1) {
        if (++count > MAX_PACKETS_PER_BLOCK)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                              "OpenPGP key block %d has more than %d packets", block_no,
                              MAX_PACKETS_PER_BLOCK);
        if (tag == TAG_PUBSUBKEY && skipping)
            continue;
        if (tag == TAG_PUBKEY || tag == TAG_PUBSUBKEY) {
            if (tag == TAG_PUBSUBKEY && primary < 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                                  "OpenPGP key block %d: a subkey before its primary key",
                                  block_no);
            if (kr->n >= SL_PGPSIG_MAX_KEYS)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                                  "more than %d OpenPGP keys and subkeys", SL_PGPSIG_MAX_KEYS);
            struct pgp_key *k = &kr->keys[kr->n];
            int prc = parse_key(k, body);
            if (prc == SL_EUNSUPPORTED) {
                /* a v5/v6 key: not this verifier's; skip it and what belongs to it */
                target = -1;
                if (tag == TAG_PUBKEY) {
                    primary = -1;
                    skipping = true;
                }
                continue;
            }
            if (prc != 0) {
                EVP_PKEY_free(k->pkey);
                return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                                  "OpenPGP key block %d: malformed or unsupported %s (RSA keys "
                                  "must have 2048 to 8192 bits)",
                                  block_no, tag == TAG_PUBKEY ? "public key" : "subkey");
            }
            target = (int)kr->n++;
            skipping = false;
            if (tag == TAG_PUBKEY)
                primary = target;
            else
                k->primary = primary;
            have_uid = false;
        } else if (tag == TAG_UID || tag == TAG_USER_ATTRIBUTE) {
            uid = body;
            uid_prefix = tag == TAG_UID ? 0xB4 : 0xD1;
            have_uid = primary >= 0;
            target = primary;
        } else if (tag == TAG_SIGNATURE && primary >= 0 && target >= 0) {
            struct pgp_sig s;
            if (parse_sig(&s, body) == 0)
                apply_self_sig(kr, primary, target, have_uid ? &uid : NULL, uid_prefix, &s);
        } else if (tag != TAG_SIGNATURE && tag != TAG_TRUST && tag != TAG_MARKER &&
                   tag != TAG_UID && tag != TAG_USER_ATTRIBUTE) {
            return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                              "OpenPGP key block %d holds a packet of type %u, which a public "
                              "key block does not (export it with gpg --export --armor)",
                              block_no, tag);
        }
    }
    if (rc < 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                          "OpenPGP key block %d: truncated or malformed packet", block_no);
    return 0;
}

/* Decodes every public key block of text into kr (cleared first). Returns 0 or SL_EINVAL. */
static int load_keyring(struct keyring *kr, const char *text, struct sl_err *err)
{
    memset(kr, 0, sizeof(*kr));
    if (!text)
        return 0;
    size_t len = strlen(text), pos = 0;
    if (len > SL_PGPSIG_MAX_BYTES)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "the trusted keys are larger than 1 MiB");
    for (int block_no = 1;; block_no++) {
        unsigned char *raw = NULL;
        size_t raw_len = 0;
        char what[48];
        snprintf(what, sizeof(what), "OpenPGP key block %d", block_no);
        int rc = dearmor(&raw, &raw_len, text, len, &pos, KEY_LABEL, what, err);
        if (rc == SL_ENOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        if (kr->nblocks >= MAX_BLOCKS) {
            free(raw);
            return sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "more than %d OpenPGP key blocks",
                              MAX_BLOCKS);
        }
        kr->blocks[kr->nblocks++] = raw;
        struct rd block = {raw, raw_len};
        if ((rc = load_block(kr, &block, block_no, err)) != 0)
            return rc;
    }
}

int sl_pgpsig_count_keys(const char *keyring, struct sl_err *err)
{
    struct keyring *kr = sl_xmalloc(sizeof(*kr));
    int rc = load_keyring(kr, keyring, err);
    if (rc == 0)
        for (size_t i = 0; i < kr->n; i++)
            rc += kr->keys[i].pkey != NULL;
    keyring_clear(kr);
    free(kr);
    return rc;
}

static void utc_date(char *out, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "%lld", (long long)t);
}

/* Why key k (of kr) may not sign at now_s, or NULL when it may. */
static const char *unusable(const struct keyring *kr, const struct pgp_key *k, int64_t now_s,
                            char *buf, size_t n)
{
    const struct pgp_key *pk = k->primary >= 0 ? &kr->keys[k->primary] : k;
    int64_t expired = 0;
    if (!k->pkey)
        snprintf(buf, n,
                 "uses public-key algorithm %u, which this verifier does not support "
                 "(RSA, ECDSA P-256/384/521, Ed25519)",
                 k->algo);
    else if (pk->revoked)
        snprintf(buf, n, "is revoked by its own revocation signature");
    else if (k != pk && k->revoked)
        snprintf(buf, n, "is a subkey revoked by its primary key");
    else if (k != pk && !k->has_self)
        snprintf(buf, n, "is a subkey without a valid binding signature from its primary key");
    else if (pk->expires && now_s >= pk->expires)
        expired = pk->expires;
    else if (k != pk && k->expires && now_s >= k->expires)
        expired = k->expires;
    else if (k->no_sign)
        snprintf(buf, n, "is not a signing key (its key flags)");
    else
        return NULL;
    if (expired) {
        char date[32];
        utc_date(date, sizeof(date), expired);
        snprintf(buf, n, "expired at %s (its self-signature's key expiration time)", date);
    }
    return buf;
}

/* Verifies one signature packet s over data against kr. On success *signer is the key. */
static int verify_one(const struct pgp_key **signer, const struct keyring *kr,
                      const struct pgp_sig *s, const void *data, size_t data_len, int64_t now_s,
                      struct sl_err *err)
{
    char id[17] = "", fpr[41] = "", who[80];
    if (s->has_fpr) {
        hex(fpr, s->issuer_fpr, 20);
        hex(id, s->issuer_fpr + 12, 8);
    } else if (s->has_id) {
        hex(id, s->issuer_id, 8);
    }
    if (fpr[0])
        snprintf(who, sizeof(who), "key ID %s (fingerprint %s)", id, fpr);
    else
        snprintf(who, sizeof(who), "key ID %s", id[0] ? id : "(not named)");
    if (s->type != SIG_BINARY)
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the OpenPGP signature by %s has type 0x%02x, not a signature of a "
                          "binary document as git makes",
                          who, s->type);
    if (s->unknown_critical || !s->has_created)
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO, "the OpenPGP signature by %s has %s", who,
                          s->has_created ? "a critical subpacket this verifier does not know"
                                         : "no creation time");
    const struct pgp_key *found = NULL;
    int rc = SL_EAUTH;
    char why[160];
    for (size_t i = 0; i < kr->n; i++) {
        const struct pgp_key *k = &kr->keys[i];
        if (!(s->has_fpr || s->has_id) ? k->pkey == NULL : !issued_by(s, k))
            continue;
        found = k;
        if (unusable(kr, k, now_s, why, sizeof(why))) {
            char kfpr[41];
            hex(kfpr, k->fpr, 20);
            rc = sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO, "signed by key %s, which %s", kfpr, why);
            continue;
        }
        struct rd chunk = {data, data_len};
        rc = check_sig(s, k, &chunk, 1, false, err);
        if (rc == 0) {
            *signer = k;
            break;
        }
        char kfpr[41];
        hex(kfpr, k->fpr, 20);
        char inner[SL_ERR_MSG_MAX];
        snprintf(inner, sizeof(inner), "%s", err->msg);
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "signed by key %s: %s", kfpr, inner);
    }
    if (!found)
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "signed by %s, which is not one of the trusted keys", who);
    if (rc != 0 && !s->has_fpr && !s->has_id)
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the OpenPGP signature names no issuer and no trusted key verifies it");
    if (rc == 0 && s->sig_expires && now_s >= (int64_t)s->created + s->sig_expires) {
        char date[32];
        utc_date(date, sizeof(date), (int64_t)s->created + s->sig_expires);
        return sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                          "the OpenPGP signature by %s expired at %s", who, date);
    }
    return rc;
}

int sl_pgpsig_verify(char *fingerprint, size_t fpr_size, const char *armored, size_t armored_len,
                     const void *data, size_t data_len, const char *keyring, int64_t now_s,
                     struct sl_err *err)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0, pos = 0;
    struct keyring *kr = sl_xmalloc(sizeof(*kr));
    memset(kr, 0, sizeof(*kr));
    int rc = SL_EINVAL;
    if (!armored || armored_len > SL_PGPSIG_MAX_BYTES) {
        sl_err_set(err, rc, SL_ERRC_CRYPTO, "the signature is missing or larger than 1 MiB");
        goto done;
    }
    rc = dearmor(&raw, &raw_len, armored, armored_len, &pos, SIG_LABEL, "OpenPGP signature", err);
    if (rc == SL_ENOTFOUND)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                        "not an OpenPGP signature (no " SL_PGPSIG_SIG_ARMOR " line)");
    if (rc != 0)
        goto done;
    if ((rc = load_keyring(kr, keyring, err)) != 0)
        goto done;
    /* the signature packets (git writes one); the first that verifies wins */
    struct rd r = {raw, raw_len}, body;
    unsigned tag;
    int nsigs = 0, prc;
    rc = SL_EINVAL;
    while ((prc = next_packet(&r, &tag, &body)) == 1 && nsigs < MAX_SIGS_PER_ARMOR) {
        if (tag == TAG_MARKER)
            continue;
        if (tag != TAG_SIGNATURE) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                            "the OpenPGP signature holds a packet of type %u, not a detached "
                            "signature",
                            tag);
            goto done;
        }
        nsigs++;
        struct pgp_sig s;
        int src = parse_sig(&s, body);
        if (src == SL_EUNSUPPORTED) {
            rc = sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO,
                            s.version == 4 ? "the OpenPGP signature uses public-key algorithm "
                                             "%u, which this verifier does not support (RSA, "
                                             "ECDSA, Ed25519)"
                                           : "the OpenPGP signature has version %u (v4 is "
                                             "verified)",
                            s.version == 4 ? s.pk_algo : s.version);
            continue;
        }
        if (src != 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO, "malformed OpenPGP signature packet");
            continue;
        }
        const struct pgp_key *signer = NULL;
        rc = verify_one(&signer, kr, &s, data, data_len, now_s, err);
        if (rc == 0) {
            if (fingerprint && fpr_size) {
                char fpr[41];
                hex(fpr, signer->fpr, 20);
                snprintf(fingerprint, fpr_size, "%s", fpr);
            }
            goto done;
        }
    }
    if (nsigs == 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_CRYPTO,
                        prc < 0 ? "the OpenPGP signature is truncated or malformed"
                                : "the OpenPGP signature holds no signature packet");
done:
    keyring_clear(kr);
    free(kr);
    free(raw);
    return rc;
}
