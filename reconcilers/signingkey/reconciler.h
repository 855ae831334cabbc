/* The SigningKey reconciler (DESIGN.md section 3): keeps a signing key in a Secret, publishes
 * its public half to a ConfigMap for customers, and reports fingerprint, public key and
 * algorithm in status.
 *
 * Modes:
 *   Generate    the Secret spec.secretRef.name is created with a new key of spec.algorithm when
 *               absent, laid out as `cosign generate-key-pair k8s://ns/name` does, so that
 *               `cosign sign --key k8s://ns/name` reads it (data cosign.key = cosign's encrypted
 *               format, cosign.password = a random password, cosign.pub = public PEM; label
 *               app.kubernetes.io/managed-by=sealift, annotation sealift.dev/signingkey=<name>,
 *               no ownerReference); an existing Secret is used as is and never replaced.
 *   Import      the Secret must hold a private key under cosign.key (fallbacks: tls.key, key.pem,
 *               private.pem): cosign's encrypted format, opened with the Secret's
 *               cosign.password (absent = the empty password), or unencrypted PKCS#8 / EC PEM.
 *   VerifyOnly  a public key only: from the Secret's cosign.pub when spec.secretRef is given
 *               (then spec.publishKey.configMapRef, if set, is published like in the other
 *               modes), else from the ConfigMap spec.publicKey.configMapRef (key cosign.pub).
 * Publishing: with spec.publishKey.configMapRef, the public key is written under cosign.pub of
 * that ConfigMap (created when absent, updated only when the key differs) and status.publishedKey
 * {configMapName, fingerprint} says so. An existing ConfigMap is written only when sealift
 * created it for this SigningKey (managed-by label and an owner reference to it); any other is
 * left unchanged: Ready=False ConfigMapNotOwned (stalled), status still reporting the key.
 * When spec.algorithm is set and the key is of another algorithm, Ready=False AlgorithmMismatch
 * (the key is never replaced). sealift never deletes a key Secret.
 *
 * Ready reasons: KeyReady; InvalidSpec, ConfigMapNotOwned, InvalidKey, UnsupportedKey,
 * AlgorithmMismatch (stalled: retried when the SigningKey or its Secret/ConfigMap changes);
 * SecretNotFound, ConfigMapNotFound (waiting: retried every 30 s); APIError (transient: backoff).
 *
 * Secondary watches: Secrets and ConfigMaps. The reconciler keeps an in-memory index of the
 * Secret/ConfigMap names each SigningKey referenced at its last reconcile, so a change to any
 * referenced object (imported Secrets included) enqueues exactly the SigningKeys that use it;
 * Secrets carrying the sealift.dev/signingkey annotation enqueue the named SigningKey even before
 * the index knows it. As a safety net, every converged SigningKey is re-checked every 5 minutes.
 *
 * Private key bytes and passwords never reach status, events, logs or error messages. */
#ifndef SL_SIGNINGKEY_RECONCILER_H
#define SL_SIGNINGKEY_RECONCILER_H

#include "runtime/reconciler.h"
#include "util/err.h"

/* Annotation and label put on Secrets and ConfigMaps sealift creates. */
#define SL_SIGNINGKEY_ANNOTATION "sealift.dev/signingkey"
#define SL_MANAGED_BY_LABEL      "app.kubernetes.io/managed-by"
#define SL_MANAGED_BY_VALUE      "sealift"

/* Data keys. */
#define SL_SIGNINGKEY_PRIVATE_KEY "cosign.key"
#define SL_SIGNINGKEY_PUBLIC_KEY  "cosign.pub"
#define SL_SIGNINGKEY_PASSWORD    "cosign.password"

/* Requeue intervals (milliseconds). */
#define SL_SIGNINGKEY_WAIT_MS    (30 * 1000)
#define SL_SIGNINGKEY_RECHECK_MS (5 * 60 * 1000)

/* Creates the SigningKey reconciler. *out is the caller's until handed to sl_manager_add; as
 * the manager expects, (*out)->free((*out)->self) frees everything, the struct sl_reconciler
 * included. Returns 0. */
int sl_signingkey_reconciler_new(struct sl_reconciler **out, struct sl_err *err);

#endif
