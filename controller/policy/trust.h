/* Which signing keys a DeployPolicy trusts (spec.verifyImages[].authorities[].key.signingKeyRef).
 *
 * Every entry pins the key by fingerprint ("sha256:<hex of the DER SubjectPublicKeyInfo>", as
 * the SigningKey's status.fingerprint and `sealift keygen` show it). The public key a
 * SigningKey's status publishes is trusted only when its fingerprint, computed here from the
 * PEM itself (never read from status.fingerprint), equals the pin: whoever can edit that
 * SigningKey, its Secret, or a GitSource applying into its namespace cannot swap the trust
 * anchor. The reconciler reports a mismatch on the DeployPolicy's Ready condition; the
 * admission webhook must load its keys through sl_policy_trusted_key too. Pure: no I/O. */
#ifndef SL_POLICY_TRUST_H
#define SL_POLICY_TRUST_H

#include "sign/keys.h"
#include "util/err.h"

#include <jansson.h>

/* Checks a pin ("sha256:" + 64 lower-case hex digits). */
bool sl_policy_fingerprint_valid(const char *fingerprint);

/* The key of one authority's signingKeyRef. key_ref is the entry ({namespace, name, fingerprint}),
 * signing_key the SigningKey object it names as read from the API or a cache (NULL when it
 * does not exist); both borrowed. On success *out gets the public key (caller frees with
 * sl_key_free). Returns 0; SL_EINVAL when the entry has no valid fingerprint; SL_ENOTFOUND
 * when the SigningKey does not exist or publishes no readable public key yet; SL_ECONFLICT
 * when its public key has another fingerprint than the pin (err names the SigningKey, the
 * pinned and the published fingerprint). *out is untouched on failure. */
int sl_policy_trusted_key(struct sl_key **out, const json_t *key_ref, const json_t *signing_key,
                          struct sl_err *err);

#endif
