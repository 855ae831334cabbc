/* Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
 *
 * - the Lease (default name "sealift-controller" in the controller namespace) records
 *   holderIdentity, leaseDurationSeconds (15), acquireTime, renewTime, leaseTransitions;
 * - a candidate takes the Lease when it is absent, released (holderIdentity ""), or expired.
 *   Expiry is judged like client-go, on the candidate's own clock: the Lease counts as expired
 *   when its record has not changed for leaseDurationSeconds since we last saw it change, so
 *   clock skew between machines does not matter;
 * - updates carry the resourceVersion read, so of two racing candidates only one wins (the
 *   other gets a conflict);
 * - the leader renews every retry period (2 s); if no renewal succeeded for the renew deadline
 *   (10 s) it stops leading;
 * - stop releases the Lease when leading (holderIdentity "", leaseDurationSeconds 1, as
 *   client-go's ReleaseOnCancel) so a successor need not wait for expiry.
 *
 * The callbacks run on the elector's thread (start/stop) or on the caller's (sl_leader_try). */
#ifndef SL_RUNTIME_LEADER_H
#define SL_RUNTIME_LEADER_H

#include "kube/ops.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>

#define SL_LEADER_LEASE_NAME        "sealift-controller"
#define SL_LEADER_LEASE_DURATION_MS 15000
#define SL_LEADER_RENEW_DEADLINE_MS 10000
#define SL_LEADER_RETRY_PERIOD_MS   2000

struct sl_leader_opts {
    const struct sl_kube_ops *kube; /* borrowed; must outlive the elector */
    const char *ns;                 /* Lease namespace (the controller's) */
    const char *name;               /* NULL = SL_LEADER_LEASE_NAME */
    const char *identity;           /* NULL = hostname + "_" + random */
    int64_t lease_duration_ms;      /* 0 = default */
    int64_t renew_deadline_ms;      /* 0 = default */
    int64_t retry_period_ms;        /* 0 = default */
    /* Clocks, for tests; NULL = real clocks. mono_ms measures intervals, wall_ms (ms since the
     * epoch) stamps acquireTime/renewTime. */
    int64_t (*mono_ms)(void *clock_ctx);
    int64_t (*wall_ms)(void *clock_ctx);
    void *clock_ctx;
    /* Called when we become leader / stop being leader. May be NULL. */
    void (*started_leading)(void *cb_ctx);
    void (*stopped_leading)(void *cb_ctx);
    void *cb_ctx;
};

struct sl_leader;

/* Creates an elector (strings copied). Returns 0 or SL_EINVAL. Free with sl_leader_free. */
int sl_leader_new(struct sl_leader **out, const struct sl_leader_opts *opts, struct sl_err *err);
void sl_leader_free(struct sl_leader *le);

/* One acquire-or-renew attempt (client-go's tryAcquireOrRenew) plus the leading-state
 * bookkeeping: calls started_leading when leadership is gained, and stopped_leading when it is
 * lost (another holder took the Lease, or renewals failed for the renew deadline). Returns
 * true when we hold the Lease after the attempt. err (may be NULL) gets the API error of a
 * failed attempt. */
bool sl_leader_try(struct sl_leader *le, struct sl_err *err);

/* Runs sl_leader_try every retry period (with jitter) on a background thread. */
int sl_leader_start(struct sl_leader *le, struct sl_err *err);
/* Stops the thread (if started) and, when leading, releases the Lease and calls
 * stopped_leading. Safe to call twice. */
void sl_leader_stop(struct sl_leader *le);
/* Releases the Lease if we hold it (used by stop). Returns 0 or the API's error. */
int sl_leader_release(struct sl_leader *le, struct sl_err *err);

bool sl_leader_is_leader(struct sl_leader *le);
/* Our identity. Borrowed. */
const char *sl_leader_identity(const struct sl_leader *le);

#endif
