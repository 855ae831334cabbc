/* The ScanPolicy reconciler.
 *
 * It loads a policy's advisory database (spec.database.image, an artifact made by
 * `sealift db push`, pulled with the dockerconfigjson Secret spec.database.secretRef, or
 * spec.database.path) and its malware hashes (ConfigMap spec.malware.hashes.configMapRef) into
 * the ScanPolicy store it was made with (scan/store.h: one refcounted database per ScanPolicy,
 * read by the gates of scan/policy.h), and reports Ready with status.database {digest, records,
 * loadedAt (when this process loaded the database in use), fetchedAt (when its digest was
 * first loaded: kept from the previous status while the digest is the same, across rechecks,
 * reloads of the hashes and controller restarts; printer column DB AGE)} and
 * status.malwareHashes. It re-checks every SL_SCANPOLICY_RECHECK_MS (or
 * rescanInterval when shorter): the image is HEADed and reloaded only when its digest changed.
 * A database that fails to load keeps the last good one: Ready stays True with reason
 * StaleDatabase and a message saying what failed, and the condition DatabaseFresh is False
 * (reason StaleDatabase, the same message; True, reason DatabaseLoaded, while the database in
 * use is the latest one read); without a previous database Ready is False
 * (DatabaseLoadFailed).
 *
 * With spec.scanner.harbor the policy has no database: the reconciler reads the adapter's
 * credentials (Secret with token, or username and password) and CA (Secret key ca.crt) from the
 * policy's namespace and its GET /api/v1/metadata, and is Ready (ScannerReady) when the adapter
 * produces the v1.1 vulnerability report for image manifests, else Ready=False ScannerError
 * (transient). The adapter's settings go into the store where a database would.
 *
 * spec.vex lists OpenVEX documents (vex.h): a ConfigMap key (configMapRef) or an OCI artifact
 * (image, e.g. pushed by `oras push --artifact-type application/openvex+json`; every layer is
 * one document; secretRef and insecure as for the database image). They are reloaded when
 * the ConfigMap changes or the artifact's digest does; status.vex says how many documents and
 * statements are in use. A document that cannot be read or is not valid OpenVEX makes the
 * policy Ready=False (InvalidVEX, naming the entry and the error; ConfigMapNotFound,
 * VEXLoadFailed) and the gate waits: findings are never let through on a VEX that was not
 * read. An attestations entry names the keys (SigningKeys or ConfigMap keys) whose OpenVEX
 * attestations attached to a scanned digest count too: the reconciler loads the keys into the
 * store (scan/vexatt.h; a new key is a new revision) and the gate reads the attestations.
 *
 * spec.database and image entries of spec.vex take ImageDelivery's provider (aws, azure, gcp:
 * registry credentials of the cloud identity of serviceAccountName, runtime/cloudcreds.h), with
 * the same checks and outcomes. */
#ifndef SL_SCANPOLICY_RECONCILER_H
#define SL_SCANPOLICY_RECONCILER_H

#include "runtime/cloudcreds.h"
#include "runtime/config.h"
#include "runtime/reconciler.h"
#include "scan/store.h"
#include "util/err.h"

#include <time.h>

#define SL_SCANPOLICY_RECHECK_MS (10 * 60 * 1000)
/* Entries of spec.vex, and layers read from one VEX artifact. */
#define SL_SCANPOLICY_MAX_VEX        SL_SCAN_STORE_MAX_VEX
#define SL_SCANPOLICY_MAX_VEX_LAYERS 16
#define SL_SCANPOLICY_RETRY_MS       (30 * 1000)

/* What the reconciler depends on besides the store and the settings; NULL members (or deps
 * NULL) mean: */
struct sl_scanpolicy_deps {
    /* provider aws, azure, gcp logins; NULL = the real clouds */
    const struct sl_cloud_ops *cloud;
    /* the wall clock cached cloud credentials are checked against; NULL = time(NULL) */
    time_t (*wall_now)(void *clock_ctx);
    void *clock_ctx;
};

/* Creates the ScanPolicy reconciler over store (borrowed: it must outlive the reconciler; the
 * gates made over the same store see what it loads), with the administrator's settings cc
 * (--allow-local-paths, --scanner-url, --insecure-registry, --min-interval; copied, strings
 * borrowed; NULL = none of them) and deps (copied; may be NULL). *out is the caller's until handed
 * to sl_manager_add;
 * (*out)->free((*out)->self) frees it. Returns 0. */
int sl_scanpolicy_reconciler_new(struct sl_reconciler **out, struct sl_scan_store *store,
                                 const struct sl_controller_config *cc,
                                 const struct sl_scanpolicy_deps *deps, struct sl_err *err);

#endif
