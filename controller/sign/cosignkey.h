/* cosign's encrypted private key format: a PEM block labelled "ENCRYPTED SIGSTORE PRIVATE KEY"
 * (older cosign: "ENCRYPTED COSIGN PRIVATE KEY") whose content is the JSON envelope of
 * go-securesystemslib's `encrypted` package:
 *
 *   {"kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": B64},
 *    "cipher": {"name": "nacl/secretbox", "nonce": B64},
 *    "ciphertext": B64}
 *
 * The 32-byte secretbox key is scrypt(password, salt, N, r, p); the plaintext is the PKCS#8 DER
 * of the private key. This module only moves bytes in and out of that envelope; sign/keys.h
 * turns the DER into a key.
 *
 * Crypto: scrypt comes from OpenSSL (EVP_PBE_scrypt); XSalsa20-Poly1305 (NaCl's secretbox),
 * which OpenSSL lacks, from libsodium (crypto_secretbox_easy / _open_easy).
 *
 * Bounds: only the three scrypt parameter sets go-securesystemslib writes and reads are
 * accepted (N = 2^15, 2^16 or 2^17 with r = 8, p = 1), so a hostile key cannot make a reader
 * spend more than 128 MiB and a fraction of a second per attempt; the salt is 1..256 bytes, the
 * nonce exactly 24 bytes, the ciphertext at most SL_COSIGNKEY_CIPHERTEXT_MAX bytes.
 *
 * Secrets: passwords and decrypted DER never appear in error messages; buffers holding them are
 * wiped before they are freed. */
#ifndef SL_SIGN_COSIGNKEY_H
#define SL_SIGN_COSIGNKEY_H

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The label cosign writes today, and the one older cosign releases wrote. */
#define SL_COSIGNKEY_PEM_LABEL        "ENCRYPTED SIGSTORE PRIVATE KEY"
#define SL_COSIGNKEY_LEGACY_PEM_LABEL "ENCRYPTED COSIGN PRIVATE KEY"

/* Sizes of the envelope's binary fields. */
#define SL_COSIGNKEY_NONCE_LEN      24
#define SL_COSIGNKEY_SALT_MAX       256
#define SL_COSIGNKEY_CIPHERTEXT_MAX ((size_t)16 << 10)
#define SL_COSIGNKEY_PLAINTEXT_MAX  (SL_COSIGNKEY_CIPHERTEXT_MAX - 16)

/* A parsed envelope (nothing decrypted yet). */
struct sl_cosignkey_envelope {
    uint64_t scrypt_n;
    uint32_t scrypt_r, scrypt_p;
    unsigned char *salt; /* salt_len bytes */
    size_t salt_len;
    unsigned char nonce[SL_COSIGNKEY_NONCE_LEN];
    unsigned char *ciphertext; /* ciphertext_len bytes: secretbox MAC + encrypted DER */
    size_t ciphertext_len;
};

/* True when the PEM text (len bytes) has a "-----BEGIN <cosign label>-----" line. */
bool sl_cosignkey_is_encrypted(const char *pem, size_t len);

/* Parses the first cosign-labelled PEM block of pem (len bytes, need not be NUL-terminated) and
 * its JSON envelope, checking every field against the bounds above. No key derivation runs.
 * *out is the caller's (sl_cosignkey_envelope_free). Returns 0; SL_EINVAL (no such block,
 * corrupt base64, malformed JSON, a missing or mistyped field, a wrong nonce length) or
 * SL_EUNSUPPORTED (another kdf or cipher, scrypt parameters outside the accepted sets), with a
 * message naming the field; SL_ETOOBIG when a field is over its bound. */
int sl_cosignkey_parse(struct sl_cosignkey_envelope **out, const char *pem, size_t len,
                       struct sl_err *err);

void sl_cosignkey_envelope_free(struct sl_cosignkey_envelope *env);

/* Decrypts a cosign-format private key with password (password_len bytes; NULL or 0 = the
 * empty password, which cosign allows). *out is the PKCS#8 DER (*out_len bytes), the caller's,
 * to be freed with sl_secure_free(*out, *out_len). Returns 0; the codes of sl_cosignkey_parse;
 * SL_EAUTH when the password is wrong (or the ciphertext was altered: secretbox cannot tell
 * them apart); SL_EFAIL when the crypto libraries fail. */
int sl_cosignkey_decrypt(unsigned char **out, size_t *out_len, const char *pem, size_t len,
                         const char *password, size_t password_len, struct sl_err *err);

/* Encrypts der (der_len bytes of PKCS#8 DER, at most SL_COSIGNKEY_PLAINTEXT_MAX) under password
 * the way `cosign generate-key-pair` does (scrypt N=2^16, r=8, p=1, a random 32-byte salt and
 * 24-byte nonce) and writes the "ENCRYPTED SIGSTORE PRIVATE KEY" PEM, NUL-terminated, into *out
 * (*out_len, may be NULL, gets its length; the caller's, free()). Returns 0, SL_ETOOBIG or
 * SL_EFAIL. */
int sl_cosignkey_encrypt(char **out, size_t *out_len, const unsigned char *der, size_t der_len,
                         const char *password, size_t password_len, struct sl_err *err);

/* A new random password for a generated key: 32 characters of base64 (24 random bytes), NUL
 * terminated, in *out (the caller's; sl_secure_free_str). Returns 0 or SL_EFAIL. */
int sl_cosignkey_random_password(char **out, struct sl_err *err);

#endif
