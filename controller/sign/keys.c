/* Signing keys on the OpenSSL 3 EVP API (see keys.h). */
#include "sign/keys.h"

#include "sign/cosignkey.h"
#include "util/mem.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

struct sl_key {
    EVP_PKEY *pkey;
    enum sl_key_algorithm alg;
    bool has_private;
};

#define SUPPORTED_LIST "ecdsa-p256, ecdsa-p384, ed25519"

static const struct {
    enum sl_key_algorithm alg;
    const char *name;
} algorithm_names[] = {
    {SL_KEY_ALG_ECDSA_P256, "ecdsa-p256"},
    {SL_KEY_ALG_ECDSA_P384, "ecdsa-p384"},
    {SL_KEY_ALG_ED25519, "ed25519"},
};

/* Sets err from the most recent OpenSSL error (its reason string only: OpenSSL's error data
 * could in theory echo input, so it is not included) and empties the thread's error queue, so
 * a stale error never leaks into an unrelated later report. */
static int crypto_error(struct sl_err *err, int code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    if (reason[0] != '\0')
        return sl_err_set(err, code, SL_ERRC_CRYPTO, "%s: %s", what, reason);
    return sl_err_set(err, code, SL_ERRC_CRYPTO, "%s", what);
}

int sl_key_algorithm_parse(enum sl_key_algorithm *out, const char *name, struct sl_err *err)
{
    if (name == NULL || name[0] == '\0') {
        *out = SL_KEY_ALG_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < sizeof(algorithm_names) / sizeof(algorithm_names[0]); i++) {
        if (strcmp(name, algorithm_names[i].name) == 0) {
            *out = algorithm_names[i].alg;
            return 0;
        }
    }
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "unsupported algorithm \"%.64s\": supported values: " SUPPORTED_LIST, name);
}

const char *sl_key_algorithm_name(enum sl_key_algorithm alg)
{
    for (size_t i = 0; i < sizeof(algorithm_names) / sizeof(algorithm_names[0]); i++) {
        if (algorithm_names[i].alg == alg)
            return algorithm_names[i].name;
    }
    return "unknown";
}

/* Maps an EVP_PKEY to one of the supported algorithms, or explains why it is not one. */
static int detect_algorithm(enum sl_key_algorithm *out, EVP_PKEY *pkey, struct sl_err *err)
{
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *out = SL_KEY_ALG_ED25519;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[80] = "";
        size_t group_len = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &group_len)) {
            ERR_clear_error();
            return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
                              "EC key with explicit curve parameters is not supported; "
                              "supported algorithms: " SUPPORTED_LIST);
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
            strcmp(group, "secp256r1") == 0) {
            *out = SL_KEY_ALG_ECDSA_P256;
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *out = SL_KEY_ALG_ECDSA_P384;
            return 0;
        }
        return sl_err_set(
            err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
            "EC key on curve %s is not supported; supported algorithms: " SUPPORTED_LIST, group);
    }
    const char *type = EVP_PKEY_get0_type_name(pkey);
    if (type == NULL)
        type = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
    return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
                      "%s key (%d bits) is not supported; supported algorithms: " SUPPORTED_LIST,
                      type ? type : "unknown", EVP_PKEY_get_bits(pkey));
}

static struct sl_key *key_wrap(EVP_PKEY *pkey, enum sl_key_algorithm alg, bool has_private)
{
    struct sl_key *k = sl_xcalloc(1, sizeof(*k));
    k->pkey = pkey;
    k->alg = alg;
    k->has_private = has_private;
    return k;
}

int sl_key_generate(struct sl_key **out, enum sl_key_algorithm alg, struct sl_err *err)
{
    EVP_PKEY *pkey = NULL;
    switch (alg) {
    case SL_KEY_ALG_ECDSA_P256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case SL_KEY_ALG_ECDSA_P384:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case SL_KEY_ALG_ED25519:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "cannot generate a key: no algorithm");
    }
    if (pkey == NULL)
        return crypto_error(err, SL_EFAIL, "generating key");
    *out = key_wrap(pkey, alg, true);
    return 0;
}

/* What the "-----BEGIN <label>-----" lines of a document say, so the loaders can refuse
 * formats they do not read with a message naming the format, before OpenSSL's generic
 * "unsupported" errors. */
struct pem_scan {
    bool any;              /* at least one BEGIN line */
    bool private_key;      /* an unencrypted private key label */
    bool public_key;       /* "PUBLIC KEY" */
    bool rsa_public;       /* "RSA PUBLIC KEY" (PKCS#1) */
    bool encrypted_pkcs8;  /* "ENCRYPTED PRIVATE KEY" */
    bool cosign_encrypted; /* "ENCRYPTED SIGSTORE PRIVATE KEY" / "ENCRYPTED COSIGN PRIVATE KEY" */
    bool proc_encrypted;   /* traditional PEM encryption header "Proc-Type: 4,ENCRYPTED" */
    char first_label[64];  /* the first label seen, for messages */
};

static bool label_ends_with(const char *label, size_t n, const char *suffix)
{
    size_t s = strlen(suffix);
    return n >= s && memcmp(label + n - s, suffix, s) == 0;
}

static void pem_scan(struct pem_scan *scan, const char *pem, size_t len)
{
    static const char begin[] = "-----BEGIN ";
    const size_t begin_len = sizeof(begin) - 1;
    memset(scan, 0, sizeof(*scan));
    const char *p = pem, *end = pem + len;
    while (p < end) {
        const char *b = memmem(p, (size_t)(end - p), begin, begin_len);
        if (b == NULL)
            break;
        const char *label = b + begin_len;
        const char *close = memmem(label, (size_t)(end - label), "-----", 5);
        if (close == NULL)
            break;
        size_t n = (size_t)(close - label);
        p = close + 5;
        if (n == 0 || n >= sizeof(scan->first_label) || memchr(label, '\n', n) != NULL)
            continue;
        if (!scan->any) {
            memcpy(scan->first_label, label, n);
            scan->first_label[n] = '\0';
            /* labels are printable ASCII in any well-formed PEM; keep messages clean */
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)scan->first_label[i];
                if (c < 0x20 || c > 0x7e)
                    scan->first_label[i] = '?';
            }
        }
        scan->any = true;
        if (label_ends_with(label, n, "SIGSTORE PRIVATE KEY") ||
            label_ends_with(label, n, "COSIGN PRIVATE KEY"))
            scan->cosign_encrypted = true;
        else if (n == 21 && memcmp(label, "ENCRYPTED PRIVATE KEY", n) == 0)
            scan->encrypted_pkcs8 = true;
        else if (label_ends_with(label, n, "PRIVATE KEY"))
            scan->private_key = true;
        else if (n == 10 && memcmp(label, "PUBLIC KEY", n) == 0)
            scan->public_key = true;
        else if (n == 14 && memcmp(label, "RSA PUBLIC KEY", n) == 0)
            scan->rsa_public = true;
    }
    if (memmem(pem, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL)
        scan->proc_encrypted = true;
}

/* Refuses to prompt: keys come from Secrets and files, never from a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Refuses a PEM larger than SL_KEY_PEM_MAX, then scans its labels into *scan. */
static int scan_bounded_pem(struct pem_scan *scan, const char *pem, size_t len, struct sl_err *err)
{
    if (len > SL_KEY_PEM_MAX)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "key PEM is %zu bytes, more than the %zu allowed", len, SL_KEY_PEM_MAX);
    pem_scan(scan, pem, len);
    return 0;
}

static int refuse_encrypted(const struct pem_scan *scan, struct sl_err *err)
{
    if (scan->encrypted_pkcs8)
        return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
                          "encrypted PKCS#8 private keys (\"ENCRYPTED PRIVATE KEY\") are not "
                          "supported; decrypt it first (openssl pkey -in KEY -out PLAIN)");
    if (scan->proc_encrypted)
        return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
                          "passphrase-encrypted PEM private keys (Proc-Type: 4,ENCRYPTED) are not "
                          "supported; decrypt it first (openssl pkey -in KEY -out PLAIN)");
    return 0;
}

/* A traditional EC key carries its public point next to the private scalar; nothing forces
 * them to agree. A key whose halves disagree would sign with one and publish the other, and
 * every signature would fail to verify far from the cause, so refuse it at load time. */
static int check_key_pair(EVP_PKEY *pkey, struct sl_err *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL)
        return crypto_error(err, SL_EFAIL, "checking private key");
    int ok = EVP_PKEY_pairwise_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    if (ok == -2) { /* the provider has no pairwise check for this type: nothing to compare */
        ERR_clear_error();
        return 0;
    }
    if (ok != 1)
        return crypto_error(err, SL_EINVAL,
                            "private key is inconsistent: its public part does not match the "
                            "private part");
    return 0;
}

/* Parses a PEM that pem_scan found to hold the wanted kind of key (a private key, checked
 * against its public part, or a "PUBLIC KEY") and wraps it. */
static int parse_pem_key(struct sl_key **out, const char *pem, size_t len, bool private_key,
                         struct sl_err *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return crypto_error(err, SL_EFAIL,
                            private_key ? "reading private key" : "reading public key");
    EVP_PKEY *pkey = private_key
                         ? PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL)
                         : PEM_read_bio_PUBKEY_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL)
        return crypto_error(err, SL_EINVAL,
                            private_key ? "cannot parse private key PEM (corrupt base64 or DER, "
                                          "or an unknown key type)"
                                        : "cannot parse public key PEM (corrupt base64 or DER, "
                                          "or an unknown key type)");
    enum sl_key_algorithm alg = SL_KEY_ALG_NONE;
    int rc = detect_algorithm(&alg, pkey, err);
    if (rc == 0 && private_key)
        rc = check_key_pair(pkey, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    *out = key_wrap(pkey, alg, private_key);
    return 0;
}

/* Wraps a private key from its PKCS#8 DER (what cosign's envelope holds). */
static int parse_pkcs8_der(struct sl_key **out, const unsigned char *der, size_t der_len,
                           struct sl_err *err)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
    EVP_PKEY *pkey = NULL;
    if (p8 == NULL || p != der + der_len || (pkey = EVP_PKCS82PKEY(p8)) == NULL) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        return crypto_error(err, SL_EINVAL, "the decrypted cosign key is not a PKCS#8 private key");
    }
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the key material it held */
    enum sl_key_algorithm alg = SL_KEY_ALG_NONE;
    int rc = detect_algorithm(&alg, pkey, err);
    if (rc == 0)
        rc = check_key_pair(pkey, err);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    *out = key_wrap(pkey, alg, true);
    return 0;
}

static int load_cosign_encrypted(struct sl_key **out, const char *pem, size_t len,
                                 const char *password, size_t password_len, struct sl_err *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = sl_cosignkey_decrypt(&der, &der_len, pem, len, password, password_len, err);
    if (rc != 0)
        return rc;
    rc = parse_pkcs8_der(out, der, der_len, err);
    sl_secure_free(der, der_len);
    return rc;
}

int sl_key_load_private_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err)
{
    return sl_key_load_private_pem_password(out, pem, len, NULL, 0, err);
}

int sl_key_load_private_pem_password(struct sl_key **out, const char *pem, size_t len,
                                     const char *password, size_t password_len, struct sl_err *err)
{
    struct pem_scan scan;
    int rc = scan_bounded_pem(&scan, pem, len, err);
    if (rc != 0)
        return rc;
    if (!scan.any)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "not a PEM private key: no \"-----BEGIN\" line");
    if (scan.cosign_encrypted)
        return load_cosign_encrypted(out, pem, len, password, password_len, err);
    rc = refuse_encrypted(&scan, err);
    if (rc != 0)
        return rc;
    if (!scan.private_key) {
        if (scan.public_key || scan.rsa_public)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "PEM holds a public key, not a private key");
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "PEM holds no private key (found \"%s\")",
                          scan.first_label);
    }

    return parse_pem_key(out, pem, len, true, err);
}

int sl_key_load_public_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err)
{
    struct pem_scan scan;
    int rc = scan_bounded_pem(&scan, pem, len, err);
    if (rc != 0)
        return rc;
    if (!scan.any)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "not a PEM public key: no \"-----BEGIN\" line");
    if (!scan.public_key) {
        if (scan.rsa_public)
            return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_CRYPTO,
                              "RSA public keys (\"RSA PUBLIC KEY\") are not supported; "
                              "supported algorithms: " SUPPORTED_LIST);
        if (scan.private_key || scan.encrypted_pkcs8 || scan.cosign_encrypted)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "PEM holds a private key where a public key (\"PUBLIC KEY\") is "
                              "expected");
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "PEM holds no public key (found \"%s\", expected \"PUBLIC KEY\")",
                          scan.first_label);
    }

    return parse_pem_key(out, pem, len, false, err);
}

int sl_key_load_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err)
{
    struct pem_scan scan;
    int rc = scan_bounded_pem(&scan, pem, len, err);
    if (rc != 0)
        return rc;
    if (scan.private_key || scan.encrypted_pkcs8 || scan.cosign_encrypted)
        return sl_key_load_private_pem(out, pem, len, err);
    return sl_key_load_public_pem(out, pem, len, err);
}

int sl_key_public_der(unsigned char **out, size_t *out_len, const struct sl_key *key,
                      struct sl_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key->pkey, &der);
    if (n <= 0 || der == NULL)
        return crypto_error(err, SL_EFAIL, "encoding public key");
    /* hand out memory from our allocator so callers free() it like everything else */
    unsigned char *copy = sl_xmalloc((size_t)n);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *out = copy;
    *out_len = (size_t)n;
    return 0;
}

int sl_key_public(struct sl_key **out, const struct sl_key *key, struct sl_err *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = sl_key_public_der(&der, &der_len, key, err);
    if (rc != 0)
        return rc;
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)der_len);
    free(der);
    if (pub == NULL)
        return crypto_error(err, SL_EFAIL, "deriving public key");
    *out = key_wrap(pub, key->alg, false);
    return 0;
}

struct sl_key *sl_key_ref(const struct sl_key *key)
{
    struct sl_key *k = sl_xcalloc(1, sizeof(*k));
    EVP_PKEY_up_ref(key->pkey);
    k->pkey = key->pkey;
    k->alg = key->alg;
    k->has_private = key->has_private;
    return k;
}

void sl_key_free(struct sl_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material on free */
    free(key);
}

enum sl_key_algorithm sl_key_get_algorithm(const struct sl_key *key)
{
    return key->alg;
}

bool sl_key_has_private(const struct sl_key *key)
{
    return key->has_private;
}

/* Copies what was written to a memory BIO into a NUL-terminated string of ours. */
static char *bio_to_string(BIO *bio, size_t *out_len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n < 0 || data == NULL)
        n = 0;
    char *s = sl_xmalloc((size_t)n + 1);
    if (n > 0)
        memcpy(s, data, (size_t)n);
    s[n] = '\0';
    if (out_len != NULL)
        *out_len = (size_t)n;
    return s;
}

int sl_key_private_pem(char **out, size_t *out_len, const struct sl_key *key, struct sl_err *err)
{
    if (!key->has_private)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "key has no private part to export");
    /* secmem BIO: the PEM text is wiped when the BIO is freed */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL)
        return crypto_error(err, SL_EFAIL, "exporting private key");
    /* OpenSSL 3 writes PKCS#8 ("PRIVATE KEY") from PEM_write_bio_PrivateKey */
    if (!PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        return crypto_error(err, SL_EFAIL, "exporting private key");
    }
    *out = bio_to_string(bio, out_len);
    BIO_free(bio);
    return 0;
}

int sl_key_private_pem_encrypted(char **out, size_t *out_len, const struct sl_key *key,
                                 const char *password, size_t password_len, struct sl_err *err)
{
    if (!key->has_private)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "key has no private part to export");
    unsigned char *der = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key->pkey);
    int n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (n <= 0 || der == NULL)
        return crypto_error(err, SL_EFAIL, "exporting private key");
    int rc = sl_cosignkey_encrypt(out, out_len, der, (size_t)n, password, password_len, err);
    OPENSSL_clear_free(der, (size_t)n);
    return rc;
}

int sl_key_public_pem(char **out, const struct sl_key *key, struct sl_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return crypto_error(err, SL_EFAIL, "exporting public key");
    if (!PEM_write_bio_PUBKEY(bio, key->pkey)) {
        BIO_free(bio);
        return crypto_error(err, SL_EFAIL, "exporting public key");
    }
    *out = bio_to_string(bio, NULL);
    BIO_free(bio);
    return 0;
}

int sl_key_fingerprint(char out[SL_KEY_FINGERPRINT_LEN], const struct sl_key *key,
                       struct sl_err *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = sl_key_public_der(&der, &der_len, key, err);
    if (rc != 0)
        return rc;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok = EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL);
    free(der);
    if (!ok || md_len != 32)
        return crypto_error(err, SL_EFAIL, "hashing public key");
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < md_len; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[7 + 2 * md_len] = '\0';
    return 0;
}

/* The digest that goes with each algorithm; NULL for Ed25519 (pure EdDSA hashes internally). */
static const char *digest_name(enum sl_key_algorithm alg)
{
    switch (alg) {
    case SL_KEY_ALG_ECDSA_P256:
        return "SHA256";
    case SL_KEY_ALG_ECDSA_P384:
        return "SHA384";
    default:
        return NULL;
    }
}

int sl_key_sign(unsigned char **out, size_t *out_len, const struct sl_key *key, const void *msg,
                size_t msg_len, struct sl_err *err)
{
    int rc = 0;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *sig = NULL;
    if (!key->has_private) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "cannot sign with a public key");
        goto done;
    }
    int max = EVP_PKEY_get_size(key->pkey);
    if (max <= 0) {
        rc = crypto_error(err, SL_EFAIL, "signing: unknown signature size");
        goto done;
    }
    size_t sig_len = (size_t)max;
    sig = sl_xmalloc(sig_len);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, NULL, digest_name(key->alg), NULL, NULL, key->pkey, NULL) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len) != 1) {
        rc = crypto_error(err, SL_EFAIL, "signing");
        goto done;
    }
    *out = sig;
    *out_len = sig_len;
    sig = NULL;
done:
    free(sig);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int sl_key_verify(const struct sl_key *key, const void *msg, size_t msg_len,
                  const unsigned char *sig, size_t sig_len, struct sl_err *err)
{
    int rc = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit_ex(ctx, NULL, digest_name(key->alg), NULL, NULL,
                                               key->pkey, NULL) != 1) {
        rc = crypto_error(err, SL_EFAIL, "verifying signature");
        goto done;
    }
    if (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) != 1) {
        /* 0 = mismatch, <0 = unparseable signature: to the caller both are "not valid" */
        ERR_clear_error();
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "%s signature does not match the message and public key",
                        sl_key_algorithm_name(key->alg));
        goto done;
    }
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}
