/* Signing keys: generation, PEM loading and export, fingerprints, raw signatures.
 *
 * Built on the OpenSSL 3 EVP API. Three algorithms are supported, the ones cosign can verify
 * with a public key:
 *   ecdsa-p256  ECDSA on NIST P-256, signatures are DER ECDSA-Sig-Value over SHA-256 (default)
 *   ecdsa-p384  ECDSA on NIST P-384, DER signatures over SHA-384
 *   ed25519     pure Ed25519 over the message itself (64-byte signatures)
 * Anything else (RSA, other curves, ...) is SL_EUNSUPPORTED with a message naming what it is.
 *
 * Private keys are read from cosign's encrypted format ("ENCRYPTED SIGSTORE PRIVATE KEY":
 * scrypt + NaCl secretbox around PKCS#8 DER, sign/cosignkey.h) with a password, and from
 * unencrypted PEM: PKCS#8 ("PRIVATE KEY") or the traditional "EC PRIVATE KEY" (Secrets written
 * before sealift wrote cosign's format). OpenSSL's encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY")
 * and Proc-Type encrypted PEM are refused with SL_EUNSUPPORTED and a message naming the format.
 * Private keys are written in cosign's format (sl_key_private_pem_encrypted), or as unencrypted
 * PKCS#8. Public keys are read from SubjectPublicKeyInfo PEM ("PUBLIC KEY").
 *
 * Secrets: private key PEM text handed out by this module lives in buffers that must be freed
 * with sl_secure_free_str (wiped with OPENSSL_cleanse). Error messages never contain key bytes.
 *
 * A struct sl_key is immutable after creation and may be used from several threads at once. */
#ifndef SL_SIGN_KEYS_H
#define SL_SIGN_KEYS_H

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

enum sl_key_algorithm {
    SL_KEY_ALG_NONE = 0,
    SL_KEY_ALG_ECDSA_P256,
    SL_KEY_ALG_ECDSA_P384,
    SL_KEY_ALG_ED25519,
};

#define SL_KEY_ALG_DEFAULT SL_KEY_ALG_ECDSA_P256

/* Largest PEM document accepted by the loaders (a P-384 key is ~300 bytes; this leaves room for
 * comments and explanatory text around the PEM block). */
#define SL_KEY_PEM_MAX ((size_t)64 << 10)

/* "sha256:" + 64 hex digits + NUL. */
#define SL_KEY_FINGERPRINT_LEN 72

struct sl_key;

/* Parses an algorithm name ("ecdsa-p256", "ecdsa-p384", "ed25519"; NULL or "" = the default,
 * ecdsa-p256). Returns 0, or SL_EINVAL with a message listing the supported names. */
int sl_key_algorithm_parse(enum sl_key_algorithm *out, const char *name, struct sl_err *err);

/* The canonical name of an algorithm ("ecdsa-p256"...), or "unknown". Static string. */
const char *sl_key_algorithm_name(enum sl_key_algorithm alg);

/* Generates a new private key. *out is the caller's (sl_key_free). Returns 0, SL_EINVAL for
 * SL_KEY_ALG_NONE or an out-of-range value, or SL_EFAIL (klass CRYPTO) when OpenSSL fails. */
int sl_key_generate(struct sl_key **out, enum sl_key_algorithm alg, struct sl_err *err);

/* Loads a private key from PEM text (len bytes, need not be NUL-terminated). Blocks other than
 * the key (e.g. "EC PARAMETERS") are skipped. Never prompts for a passphrase. A key in cosign's
 * encrypted format is decrypted with password (password_len bytes; NULL or 0 = the empty
 * password, which cosign allows); the password is ignored for an unencrypted key.
 * Returns 0; SL_EINVAL when the text holds no readable private key (not PEM, a public key only,
 * corrupt base64/DER, a malformed cosign envelope); SL_EAUTH when the password does not open a
 * cosign key; SL_EUNSUPPORTED for OpenSSL-encrypted keys, cosign envelopes with other
 * kdf/cipher/scrypt parameters, or a key of an unsupported type; SL_ETOOBIG above
 * SL_KEY_PEM_MAX. *out is the caller's. */
int sl_key_load_private_pem_password(struct sl_key **out, const char *pem, size_t len,
                                     const char *password, size_t password_len, struct sl_err *err);

/* sl_key_load_private_pem_password with no password (cosign keys with an empty password). */
int sl_key_load_private_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err);

/* Loads a public key from SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"). Same codes
 * as sl_key_load_private_pem. The resulting key can verify but not sign. */
int sl_key_load_public_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err);

/* Loads whichever the PEM holds: a private key when it has one, else a public key. For
 * command-line tools that accept either (`sealift verify --key`). Same codes as above. */
int sl_key_load_pem(struct sl_key **out, const char *pem, size_t len, struct sl_err *err);

/* A new public-only key with the public half of key (which may be private or public). */
int sl_key_public(struct sl_key **out, const struct sl_key *key, struct sl_err *err);

/* A second handle on the same key (its own sl_key_free; the key material is shared and
 * immutable, so handles may be used from different threads). */
struct sl_key *sl_key_ref(const struct sl_key *key);

void sl_key_free(struct sl_key *key);

enum sl_key_algorithm sl_key_get_algorithm(const struct sl_key *key);
/* True when key holds a private key (can sign). */
bool sl_key_has_private(const struct sl_key *key);

/* Exports the private key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"),
 * NUL-terminated; *out_len (may be NULL) gets its length. *out is the caller's and must be
 * freed with sl_secure_free_str. Returns 0, SL_EINVAL when key is public-only, or SL_EFAIL. */
int sl_key_private_pem(char **out, size_t *out_len, const struct sl_key *key, struct sl_err *err);

/* Exports the private key in cosign's encrypted format ("ENCRYPTED SIGSTORE PRIVATE KEY", the
 * PKCS#8 DER under scrypt + secretbox with password, password_len bytes; NULL or 0 = empty),
 * what `cosign sign --key` reads. NUL-terminated; *out_len (may be NULL) gets its length; *out
 * is the caller's (free(): it holds no plaintext). Returns 0, SL_EINVAL (public-only key) or
 * SL_EFAIL. */
int sl_key_private_pem_encrypted(char **out, size_t *out_len, const struct sl_key *key,
                                 const char *password, size_t password_len, struct sl_err *err);

/* Exports the public key as SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----\n...\n"),
 * NUL-terminated; *out is the caller's (free()). Returns 0 or SL_EFAIL. */
int sl_key_public_pem(char **out, const struct sl_key *key, struct sl_err *err);

/* The DER SubjectPublicKeyInfo of the key; *out is the caller's (free()). */
int sl_key_public_der(unsigned char **out, size_t *out_len, const struct sl_key *key,
                      struct sl_err *err);

/* Writes "sha256:<hex SHA-256 of the DER SubjectPublicKeyInfo>" into out (at least
 * SL_KEY_FINGERPRINT_LEN bytes). Returns 0 or SL_EFAIL. */
int sl_key_fingerprint(char out[SL_KEY_FINGERPRINT_LEN], const struct sl_key *key,
                       struct sl_err *err);

/* Signs msg (msg_len bytes) with the private key: ECDSA P-256 -> DER signature over SHA-256,
 * P-384 -> DER over SHA-384, Ed25519 -> 64-byte pure EdDSA signature over msg. *out is the
 * caller's (free()), *out_len its length. Returns 0, SL_EINVAL (public-only key) or SL_EFAIL. */
int sl_key_sign(unsigned char **out, size_t *out_len, const struct sl_key *key, const void *msg,
                size_t msg_len, struct sl_err *err);

/* Verifies sig (sig_len bytes, in the format sl_key_sign produces) over msg with the public half
 * of key. Returns 0 when the signature is valid, SL_EDIGEST when it is not (wrong key, tampered
 * message, malformed signature), SL_EFAIL on an internal OpenSSL failure. */
int sl_key_verify(const struct sl_key *key, const void *msg, size_t msg_len,
                  const unsigned char *sig, size_t sig_len, struct sl_err *err);

#endif
