#!/usr/bin/env bash
# The chaos campaign (e2e/chaos/campaign.py): N ImageDeliveries against three docker-registry
# accounts behind fault proxies (5xx, 429 + Retry-After, resets, cut bodies, slow answers), two
# controller replicas with leader election on a real API server (hack/cluster.sh), while the
# leader is SIGKILLed, the API server restarts, etcd is compacted and source tags move or appear.
# Prints the figures and the checks; exits non-zero when a check failed (the work directory is
# then kept). Loopback only; every process it starts is stopped by PID. Bounded: the fault
# phase lasts --duration seconds, convergence at most --converge-timeout seconds.
#
#   hack/chaos.sh                                  the long campaign (a bench): 12 deliveries,
#                                                  300 s of faults, one leader kill a minute
#   hack/chaos.sh --deliveries 3 --duration 50     a short one (e2e.chaos.short runs this size)
#   hack/chaos.sh --help                           every flag (--seed repeats a campaign)
#
# Uses the sanitizer build (build-test/sealift, so a crash or leak shows); SEALIFT_BIN overrides.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SEALIFT_TEST_BUILD:-build-test}
export SEALIFT_SRC=$root
export SEALIFT_BUILD=${SEALIFT_BUILD:-$root/$build}
export SEALIFT_BIN=${SEALIFT_BIN:-$SEALIFT_BUILD/sealift}
export PYTHONPATH=$root/e2e/lib:$root/e2e/chaos
export PYTHONDONTWRITEBYTECODE=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
[ -x "$SEALIFT_BIN" ] || { echo "chaos.sh: $SEALIFT_BIN not built (ninja -C $build)" >&2; exit 2; }
bash "$root/hack/cluster.sh" build >/dev/null
exec /usr/bin/python3 "$root/e2e/chaos/campaign.py" "$@"
