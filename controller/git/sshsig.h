/* SSH signatures of git commits and tags (git's gpg.format=ssh, OpenSSH's SSHSIG format, as
 * `ssh-keygen -Y verify` checks them), verified with OpenSSL against a list of trusted keys in
 * authorized_keys form ("ssh-ed25519 AAAA... comment"; ed25519, ECDSA P-256/384/521 and RSA with
 * rsa-sha2-256/512 signatures; SHA-1 `ssh-rsa` signatures are refused).
 * Pure: no I/O; every length read from the signature is bounded by what is left of it. */
#ifndef SL_GIT_SSHSIG_H
#define SL_GIT_SSHSIG_H

#include "util/err.h"

#include <stddef.h>

/* Longest armored signature and key list accepted. */
#define SL_SSHSIG_MAX_BYTES  ((size_t)64 << 10)
#define SL_SSHSIG_MAX_KEYS   64
#define SL_SSHSIG_FPR_LENGTH 51 /* "SHA256:" + 43 base64 characters + NUL */

/* Verifies armored (an "-----BEGIN SSH SIGNATURE-----" block, armored_len bytes) over data
 * (data_len bytes) in namespace (git signs in "git"): the signature must be made by one of the
 * keys in allowed_keys (authorized_keys lines, NUL-terminated; blank and # lines skipped, options
 * before the key type allowed) and be valid. On success fingerprint (may be NULL) gets the
 * signing key's "SHA256:<base64>" (fpr_size bytes). Returns 0; SL_EAUTH when the signature is
 * valid in form but not by a listed key, or does not verify; SL_EINVAL when it cannot be parsed
 * (err says why, in one line naming no key material). */
int sl_sshsig_verify(char *fingerprint, size_t fpr_size, const char *armored, size_t armored_len,
                     const void *data, size_t data_len, const char *allowed_keys,
                     const char *namespace, struct sl_err *err);

/* How many keys allowed_keys holds that sl_sshsig_verify would use (0 when none). */
int sl_sshsig_count_keys(const char *allowed_keys);

#endif
