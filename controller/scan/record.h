/* The scans sealift itself passed, for the admission webhook's requireScanPassed.
 *
 * The ImageDelivery reconciler scans through the scan gate (imagedelivery/gates.h); wrapping that
 * gate with sl_scan_record_gate() records every digest the gate passed as a whole (no platform
 * filter, so every image of an index was scanned), and every digest it blocked, under the
 * ScanPolicy's revision (database digest and rules, sl_scanpolicy_revision-like callback). The
 * webhook reads the record in the same process: a digest counts as passed by ScanPolicy ns/name
 * only while the record's revision equals the policy's current one. Nothing here comes from an
 * object's status, so whoever can write ImageDelivery status cannot forge a pass.
 *
 * Bounded (oldest records dropped first); one mutex; every function is thread-safe. */
#ifndef SL_SCAN_RECORD_H
#define SL_SCAN_RECORD_H

#include "scan/gate.h"
#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Writes the current revision of ScanPolicy ns/name to out (cap bytes); returns 0, or non-zero
 * when the policy is not loaded (then nothing it recorded counts). ctx is the record's
 * revision_ctx. */
typedef int (*sl_scan_revision_fn)(void *ctx, char *out, size_t cap, const char *ns,
                                   const char *name);

struct sl_scan_record;

/* A record of at most max_entries passes (0 = 4096) over the scan gate inner (copied; its scan
 * function is called by the wrapped gate). revision is required; it is called with revision_ctx
 * (borrowed, e.g. the ScanPolicy store of sl_scanpolicy_revision). Caller frees with
 * sl_scan_record_free. */
struct sl_scan_record *sl_scan_record_new(const struct sl_scan_gate *inner,
                                          sl_scan_revision_fn revision, void *revision_ctx,
                                          size_t max_entries);
/* NULL is a no-op. The gates made by sl_scan_record_gate must not be used afterwards. */
void sl_scan_record_free(struct sl_scan_record *r);

enum sl_scan_verdict {
    SL_SCAN_UNKNOWN, /* not scanned at the policy's current revision (or the policy is not loaded)
                      */
    SL_SCAN_PASSED,  /* the whole digest passed (every image of an index) */
    SL_SCAN_FAILED,  /* the policy blocks the digest (some scanned image failed) */
};

/* A gate that scans through the inner gate and records its answers: a pass of a whole digest
 * (n_platforms 0) is recorded as PASSED, a block (of any platform) as FAILED, at the revision
 * the policy had when the scan started. ctx of *out is r (borrowed). */
void sl_scan_record_gate(struct sl_scan_gate *out, struct sl_scan_record *r);

/* Records verdict for digest under ScanPolicy ns/name at its current revision (does nothing
 * when the policy is not loaded). */
void sl_scan_record_put(struct sl_scan_record *r, const char *ns, const char *name,
                        const char *digest, enum sl_scan_verdict verdict);

/* Appends ScanPolicy ns/name's current revision (or "-" when it is not loaded) to out, so a
 * caller can key what it derives from the record by the policies' revisions. */
void sl_scan_record_revision(struct sl_scan_record *r, struct sl_buf *out, const char *ns,
                             const char *name);

/* What ScanPolicy ns/name, at its current revision, decided about digest. */
enum sl_scan_verdict sl_scan_record_get(struct sl_scan_record *r, const char *ns, const char *name,
                                        const char *digest);

#endif
