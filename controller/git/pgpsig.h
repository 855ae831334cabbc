/* OpenPGP signatures of git commits and tags (git's default gpg.format=openpgp, as `git commit -S`
 * and `git tag -s` make them with gpg), verified with OpenSSL against the administrator's list of
 * ASCII-armored public key blocks (RFC 4880 / RFC 9580): v4 keys and signatures; RSA (2048 to
 * 8192 bits, PKCS#1 v1.5), ECDSA P-256/384/521, EdDSA (legacy Ed25519 and RFC 9580 Ed25519);
 * hashes SHA-224/256/384/512 and SHA3-256/512 (MD5, SHA-1 and RIPEMD-160 signatures are refused).
 * Every primary key and subkey of the blocks is trusted, except a key revoked by its own
 * revocation signature, a key past the expiry of its newest self-signature, a subkey without a
 * valid binding signature from its primary, and a key whose self-signature's key flags do not
 * allow signing (as gpg judges them; self-signatures themselves may use SHA-1).
 * Pure: no I/O, no clock (the caller passes the time); every length read from the input is
 * bounded by what is left of it. */
#ifndef SL_GIT_PGPSIG_H
#define SL_GIT_PGPSIG_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Longest armored signature or key list accepted, and most keys (primary keys and subkeys). */
#define SL_PGPSIG_MAX_BYTES  ((size_t)1 << 20)
#define SL_PGPSIG_MAX_KEYS   64
#define SL_PGPSIG_FPR_LENGTH 41 /* 40 hexadecimal digits + NUL */

/* The armor line that starts an OpenPGP signature (in a commit's gpgsig header or a tag). */
#define SL_PGPSIG_SIG_ARMOR "-----BEGIN PGP SIGNATURE-----"

/* Verifies armored (an "-----BEGIN PGP SIGNATURE-----" block, armored_len bytes) over data
 * (data_len bytes): a v4 binary-document signature (type 0x00) that one of the keys of keyring
 * made and that verifies. keyring is NUL-terminated text holding armored public key blocks
 * (anything between them, such as authorized_keys lines, is skipped). now_s (seconds since the
 * epoch) judges key and signature expiry. On success fingerprint (may be NULL) gets the signing
 * key's 40-digit hexadecimal fingerprint (fpr_size bytes). Returns 0; SL_EAUTH when the signature
 * is not by a usable listed key (err names its key ID and fingerprint), uses a refused hash, or
 * does not verify; SL_EINVAL when the signature or a key block cannot be parsed (err says why, in
 * one line naming no key material). */
int sl_pgpsig_verify(char *fingerprint, size_t fpr_size, const char *armored, size_t armored_len,
                     const void *data, size_t data_len, const char *keyring, int64_t now_s,
                     struct sl_err *err);

/* How many keys (primary keys and subkeys of a supported algorithm) the public key blocks of
 * keyring (NUL-terminated, may be NULL) hold: 0 when none. SL_EINVAL when a block is malformed
 * (bad armor or CRC-24, truncated packets, more than SL_PGPSIG_MAX_KEYS keys; err says which). */
int sl_pgpsig_count_keys(const char *keyring, struct sl_err *err);

/* The CRC-24 of data[0..len) (RFC 9580 section 6.1): the checksum an armored block carries on its
 * "=" line after the body (its 3 bytes, most significant first, in base64). For whoever writes
 * armor that sl_pgpsig_verify and sl_pgpsig_count_keys read. */
uint32_t sl_pgpsig_crc24(const void *data, size_t len);

#endif
