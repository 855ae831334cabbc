/* Attests one image in a registry: reads its layers (regimage.h), collects the package inventory
 * and, with an advisory database, the vulnerability findings (engine.h), builds the SBOM and/or
 * the vulnerability predicate (sbom.h) and stores them as signed attestations next to the image
 * (sign/attest.h). Used by `sealift attest` and by the ImageDelivery reconciler for every
 * delivered image manifest. */
#ifndef SL_SCAN_IMAGEATTEST_H
#define SL_SCAN_IMAGEATTEST_H

#include "oci/registry.h"
#include "scan/advisory.h"
#include "scan/sbom.h"
#include "scan/scanner.h"
#include "sign/attest.h"
#include "sign/keys.h"
#include "util/err.h"

#include <stdbool.h>
#include <time.h>

struct sl_image_attest_opts {
    const struct sl_key *key; /* private */
    bool sbom;                /* write an SBOM attestation */
    enum sl_sbom_format sbom_format;
    bool vuln;                 /* write a vulnerability attestation (needs db) */
    const struct sl_advdb *db; /* advisories; required with vuln */
    const char *db_uri;        /* where db came from (predicate scanner.db.uri), may be NULL */
    const struct sl_scan_policy
        *policy; /* threshold, allowlist, ignoreUnfixed; NULL: report only */
    struct sl_attest_where where;
};

struct sl_image_attest_result {
    size_t packages;   /* packages in the inventory */
    size_t findings;   /* findings in the vulnerability report */
    size_t layers;     /* attestations at the .att tag after the last write */
    char finished[32]; /* RFC 3339 time the scan finished */
};

/* Attests reg/repo@digest (an image manifest; an index is refused with SL_EINVAL: attest each
 * child) under subject_name ("host/repo"). Returns 0; SL_EINVAL (nothing to write, vuln without
 * a database, a public key, an index); SL_ENOTFOUND (no such manifest); scan errors (a layer
 * that cannot be read); registry errors of the writes. */
int sl_image_attest(struct sl_image_attest_result *out, struct sl_registry *reg, const char *repo,
                    const char *subject_name, const char *digest,
                    const struct sl_image_attest_opts *opts, struct sl_err *err);

#endif
