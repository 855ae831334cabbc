/* cosign's encrypted private key format (see cosignkey.h). */
#include "sign/cosignkey.h"

#include "util/base64.h"
#include "util/mem.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <stdio.h>
#include <string.h>

/* The scrypt parameter sets of go-securesystemslib (legacy, standard, OWASP); its Decrypt
 * refuses any other, and so do we: they also bound what a hostile key can make us compute. */
static const struct {
    uint64_t n;
    uint32_t r, p;
} scrypt_sets[] = {{1u << 15, 8, 1}, {1u << 16, 8, 1}, {1u << 17, 8, 1}};

/* What cosign generate-key-pair uses (securesystemslib's "standard" set). */
#define WRITE_SCRYPT_N    (1u << 16)
#define WRITE_SCRYPT_R    8
#define WRITE_SCRYPT_P    1
#define WRITE_SALT_LEN    32
#define SECRETBOX_KEY_LEN 32

/* Enough for the largest accepted set: 128 * r * (N + 2) plus 128 * r * p bytes. */
#define SCRYPT_MAXMEM ((uint64_t)160 << 20)

/* At most this many PEM blocks are looked at before the cosign one. */
#define PEM_BLOCKS_MAX 16

static int crypto_init(struct sl_err *err)
{
    if (sodium_init() < 0)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "libsodium failed to initialise");
    return 0;
}

static bool is_cosign_label(const char *name)
{
    return strcmp(name, SL_COSIGNKEY_PEM_LABEL) == 0 ||
           strcmp(name, SL_COSIGNKEY_LEGACY_PEM_LABEL) == 0;
}

bool sl_cosignkey_is_encrypted(const char *pem, size_t len)
{
    return memmem(pem, len, "-----BEGIN " SL_COSIGNKEY_PEM_LABEL "-----",
                  sizeof("-----BEGIN " SL_COSIGNKEY_PEM_LABEL "-----") - 1) != NULL ||
           memmem(pem, len, "-----BEGIN " SL_COSIGNKEY_LEGACY_PEM_LABEL "-----",
                  sizeof("-----BEGIN " SL_COSIGNKEY_LEGACY_PEM_LABEL "-----") - 1) != NULL;
}

/* The content of the first cosign-labelled PEM block: *out (*out_len bytes, OpenSSL's
 * allocation, OPENSSL_free). Blocks with other labels before it are skipped, as cosign reads
 * the first block of a file that has a cosign label. */
static int pem_block(unsigned char **out, long *out_len, const char *pem, size_t len,
                     struct sl_err *err)
{
    if (len > SL_COSIGNKEY_CIPHERTEXT_MAX * 4)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "encrypted key PEM is %zu bytes, more than the %zu allowed", len,
                          SL_COSIGNKEY_CIPHERTEXT_MAX * 4);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "reading encrypted key PEM");
    int rc = SL_EINVAL;
    for (int i = 0; i < PEM_BLOCKS_MAX; i++) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long data_len = 0;
        if (!PEM_read_bio(bio, &name, &header, &data, &data_len))
            break;
        bool found = is_cosign_label(name);
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (found) {
            *out = data;
            *out_len = data_len;
            rc = 0;
            break;
        }
        OPENSSL_free(data);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (rc != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "no readable \"" SL_COSIGNKEY_PEM_LABEL "\" PEM block (corrupt base64 "
                          "or a missing END line)");
    return 0;
}

/* Decodes the base64 string member `name` of obj (field = its path, for messages) into a new
 * buffer of 1..max bytes. */
static int b64_member(unsigned char **out, size_t *out_len, const json_t *obj, const char *name,
                      const char *field, size_t max, struct sl_err *err)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "encrypted key: %s: Required value: a base64 string", field);
    size_t text_len = json_string_length(v);
    if (text_len > (max + 2) / 3 * 4)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "encrypted key: %s: longer than %zu bytes", field, max);
    unsigned char *buf = NULL;
    size_t n = 0;
    if (sl_base64_decode(&buf, &n, json_string_value(v), text_len) != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "encrypted key: %s: invalid base64",
                          field);
    if (n == 0 || n > max) {
        free(buf);
        return sl_err_set(err, n == 0 ? SL_EINVAL : SL_ETOOBIG, SL_ERRC_INPUT,
                          "encrypted key: %s: %zu bytes, expected 1 to %zu", field, n, max);
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* Checks that obj.name is the string want (the only algorithm of that slot we read). */
static int check_name(const json_t *obj, const char *field, const char *want, struct sl_err *err)
{
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (name == NULL)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "encrypted key: %s.name: Required value",
                          field);
    if (strcmp(name, want) != 0)
        return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                          "encrypted key: %s.name: \"%.40s\" is not supported (only \"%s\")", field,
                          name, want);
    return 0;
}

static int parse_scrypt_params(struct sl_cosignkey_envelope *env, const json_t *kdf,
                               struct sl_err *err)
{
    const json_t *params = json_object_get(kdf, "params");
    const json_t *n = json_object_get(params, "N");
    const json_t *r = json_object_get(params, "r");
    const json_t *p = json_object_get(params, "p");
    if (!json_is_integer(n) || !json_is_integer(r) || !json_is_integer(p))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "encrypted key: kdf.params: Required value: integers N, r and p");
    json_int_t nv = json_integer_value(n), rv = json_integer_value(r), pv = json_integer_value(p);
    for (size_t i = 0; i < sizeof(scrypt_sets) / sizeof(scrypt_sets[0]); i++) {
        if (nv == (json_int_t)scrypt_sets[i].n && rv == (json_int_t)scrypt_sets[i].r &&
            pv == (json_int_t)scrypt_sets[i].p) {
            env->scrypt_n = scrypt_sets[i].n;
            env->scrypt_r = scrypt_sets[i].r;
            env->scrypt_p = scrypt_sets[i].p;
            return 0;
        }
    }
    return sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                      "encrypted key: kdf.params: scrypt N=%lld r=%lld p=%lld is not one of the "
                      "sets cosign writes (N 32768, 65536 or 131072 with r 8, p 1)",
                      (long long)nv, (long long)rv, (long long)pv);
}

void sl_cosignkey_envelope_free(struct sl_cosignkey_envelope *env)
{
    if (env == NULL)
        return;
    free(env->salt);
    free(env->ciphertext);
    free(env);
}

int sl_cosignkey_parse(struct sl_cosignkey_envelope **out, const char *pem, size_t len,
                       struct sl_err *err)
{
    unsigned char *data = NULL, *nonce = NULL;
    long data_len = 0;
    size_t nonce_len = 0;
    json_t *doc = NULL;
    struct sl_cosignkey_envelope *env = NULL;
    int rc = pem_block(&data, &data_len, pem, len, err);
    if (rc != 0)
        goto done;
    json_error_t jerr;
    doc = json_loadb((const char *)data, (size_t)data_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        /* jerr.text may quote the input, which is not secret but not ours to echo either */
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "encrypted key: the PEM block is not a JSON object (line %d column %d)",
                        jerr.line, jerr.column);
        goto done;
    }
    const json_t *kdf = json_object_get(doc, "kdf");
    const json_t *cipher = json_object_get(doc, "cipher");
    if (!json_is_object(kdf) || !json_is_object(cipher)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "encrypted key: %s: Required value: an object",
                        json_is_object(kdf) ? "cipher" : "kdf");
        goto done;
    }
    env = sl_xcalloc(1, sizeof(*env));
    if ((rc = check_name(kdf, "kdf", "scrypt", err)) != 0 ||
        (rc = parse_scrypt_params(env, kdf, err)) != 0 ||
        (rc = b64_member(&env->salt, &env->salt_len, kdf, "salt", "kdf.salt", SL_COSIGNKEY_SALT_MAX,
                         err)) != 0 ||
        (rc = check_name(cipher, "cipher", "nacl/secretbox", err)) != 0 ||
        (rc = b64_member(&nonce, &nonce_len, cipher, "nonce", "cipher.nonce",
                         SL_COSIGNKEY_NONCE_LEN, err)) != 0 ||
        (rc = b64_member(&env->ciphertext, &env->ciphertext_len, doc, "ciphertext", "ciphertext",
                         SL_COSIGNKEY_CIPHERTEXT_MAX, err)) != 0)
        goto done;
    if (nonce_len != SL_COSIGNKEY_NONCE_LEN) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "encrypted key: cipher.nonce: %zu bytes, expected %d", nonce_len,
                        SL_COSIGNKEY_NONCE_LEN);
        goto done;
    }
    memcpy(env->nonce, nonce, SL_COSIGNKEY_NONCE_LEN);
    if (env->ciphertext_len <= crypto_secretbox_MACBYTES) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "encrypted key: ciphertext: %zu bytes, shorter than its MAC",
                        env->ciphertext_len);
        goto done;
    }
    *out = env;
    env = NULL;
    rc = 0;
done:
    sl_cosignkey_envelope_free(env);
    free(nonce);
    json_decref(doc);
    OPENSSL_free(data);
    return rc;
}

/* scrypt(password, salt, N, r, p) -> 32-byte secretbox key. */
static int derive_key(unsigned char key[SECRETBOX_KEY_LEN], const char *password,
                      size_t password_len, const unsigned char *salt, size_t salt_len, uint64_t n,
                      uint64_t r, uint64_t p, struct sl_err *err)
{
    if (password == NULL || password_len == 0) {
        password = "";
        password_len = 0;
    }
    if (EVP_PBE_scrypt(password, password_len, salt, salt_len, n, r, p, SCRYPT_MAXMEM, key,
                       SECRETBOX_KEY_LEN) != 1) {
        ERR_clear_error();
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "scrypt key derivation failed");
    }
    return 0;
}

int sl_cosignkey_decrypt(unsigned char **out, size_t *out_len, const char *pem, size_t len,
                         const char *password, size_t password_len, struct sl_err *err)
{
    struct sl_cosignkey_envelope *env = NULL;
    unsigned char key[SECRETBOX_KEY_LEN];
    unsigned char *plain = NULL;
    size_t plain_len = 0;
    int rc = crypto_init(err);
    if (rc == 0)
        rc = sl_cosignkey_parse(&env, pem, len, err);
    if (rc == 0)
        rc = derive_key(key, password, password_len, env->salt, env->salt_len, env->scrypt_n,
                        env->scrypt_r, env->scrypt_p, err);
    if (rc != 0)
        goto done;
    plain_len = env->ciphertext_len - crypto_secretbox_MACBYTES;
    plain = sl_xmalloc(plain_len);
    if (crypto_secretbox_open_easy(plain, env->ciphertext, env->ciphertext_len, env->nonce, key) !=
        0) {
        rc = sl_err_set(err, SL_EAUTH, SL_ERRC_CRYPTO, "cannot decrypt the cosign private key: %s",
                        password_len == 0 || password == NULL
                            ? "it needs a password and none (or an empty one) was given"
                            : "wrong password (or the key was altered)");
        goto done;
    }
    *out = plain;
    *out_len = plain_len;
    plain = NULL;
done:
    OPENSSL_cleanse(key, sizeof(key));
    if (plain != NULL)
        sl_secure_free(plain, plain_len);
    sl_cosignkey_envelope_free(env);
    return rc;
}

int sl_cosignkey_encrypt(char **out, size_t *out_len, const unsigned char *der, size_t der_len,
                         const char *password, size_t password_len, struct sl_err *err)
{
    unsigned char salt[WRITE_SALT_LEN], nonce[SL_COSIGNKEY_NONCE_LEN], key[SECRETBOX_KEY_LEN];
    unsigned char *sealed = NULL;
    char *salt_b64 = NULL, *nonce_b64 = NULL, *sealed_b64 = NULL, *json = NULL;
    BIO *bio = NULL;
    int rc = crypto_init(err);
    if (rc != 0)
        goto done;
    if (der_len == 0 || der_len > SL_COSIGNKEY_PLAINTEXT_MAX) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                        "private key DER of %zu bytes cannot be encrypted (1 to %zu)", der_len,
                        SL_COSIGNKEY_PLAINTEXT_MAX);
        goto done;
    }
    if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
        ERR_clear_error();
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "no random bytes for the key encryption");
        goto done;
    }
    rc = derive_key(key, password, password_len, salt, sizeof(salt), WRITE_SCRYPT_N, WRITE_SCRYPT_R,
                    WRITE_SCRYPT_P, err);
    if (rc != 0)
        goto done;
    size_t sealed_len = der_len + crypto_secretbox_MACBYTES;
    sealed = sl_xmalloc(sealed_len);
    if (crypto_secretbox_easy(sealed, der, der_len, nonce, key) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "secretbox encryption failed");
        goto done;
    }
    salt_b64 = sl_base64_encode(salt, sizeof(salt));
    nonce_b64 = sl_base64_encode(nonce, sizeof(nonce));
    sealed_b64 = sl_base64_encode(sealed, sealed_len);
    /* the member order of go-securesystemslib's json.Marshal */
    json = sl_xasprintf("{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":%u,\"r\":%u,\"p\":%u},"
                        "\"salt\":\"%s\"},\"cipher\":{\"name\":\"nacl/secretbox\",\"nonce\":"
                        "\"%s\"},\"ciphertext\":\"%s\"}",
                        (unsigned)WRITE_SCRYPT_N, (unsigned)WRITE_SCRYPT_R,
                        (unsigned)WRITE_SCRYPT_P, salt_b64, nonce_b64, sealed_b64);
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || !PEM_write_bio(bio, SL_COSIGNKEY_PEM_LABEL, "", (const unsigned char *)json,
                                      (long)strlen(json))) {
        ERR_clear_error();
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "writing the encrypted key PEM");
        goto done;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == NULL) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "writing the encrypted key PEM");
        goto done;
    }
    char *pem = sl_xmalloc((size_t)n + 1);
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    *out = pem;
    if (out_len != NULL)
        *out_len = (size_t)n;
    rc = 0;
done:
    OPENSSL_cleanse(key, sizeof(key));
    BIO_free(bio);
    free(json);
    free(salt_b64);
    free(nonce_b64);
    free(sealed_b64);
    free(sealed);
    return rc;
}

int sl_cosignkey_random_password(char **out, struct sl_err *err)
{
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        ERR_clear_error();
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "no random bytes for a key password");
    }
    *out = sl_base64_encode(bytes, sizeof(bytes));
    OPENSSL_cleanse(bytes, sizeof(bytes));
    return 0;
}
