# shellcheck shell=sh
# SEALIFT, KUBECONFIG_ADMIN and KUBECONFIG_SEALIFT are set here for the scripts that source this
# file, so shellcheck cannot see them used:
# shellcheck disable=SC2034
# Shared parts of the bench scripts (hack/bench/*.sh). POSIX sh, sourced after SRC_DIR is set:
#   . "$SRC_DIR/hack/bench/lib/common.sh"
# Functions that start processes add their PIDs to PIDS (space separated) for the caller's
# cleanup trap.

. "$SRC_DIR/hack/lib/registry.sh"

# Sets BUILD_DIR (env, default build-bench; a relative path is taken from SRC_DIR) and SEALIFT:
# $SEALIFT_BIN when set, else the release build in BUILD_DIR (configured
# --buildtype=release when missing, then `ninja sealift`).
bench_sealift() {
    BUILD_DIR=${BUILD_DIR:-build-bench}
    case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$SRC_DIR/$BUILD_DIR" ;; esac
    if [ -n "${SEALIFT_BIN:-}" ]; then
        SEALIFT=$SEALIFT_BIN
    else
        if [ ! -f "$BUILD_DIR/build.ninja" ]; then
            meson setup "$BUILD_DIR" "$SRC_DIR" --buildtype=release >/dev/null
        fi
        ninja -C "$BUILD_DIR" sealift >/dev/null
        SEALIFT="$BUILD_DIR/sealift"
    fi
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME USER PASS [--access-log]: a docker-registry with htpasswd auth (one user)
# storing under $WORK/NAME, log in $WORK/NAME.log (hack/lib/registry.sh; --access-log: one line
# per request). Sets REG_PORT and REG_PID; returns once it answers.
start_registry() {
    registry_start "$1" "$WORK/$1" "$2:$3" ${4:+"$4"}
    PIDS="$PIDS $REG_PID"
}

# start_cluster DIR: a real etcd + kube-apiserver (hack/cluster.sh up) with sealift installed
# (hack/cluster.sh install); the webhook Service points at 127.0.0.1:$WEBHOOK_PORT (set it
# before, or a free port is taken). Sets KUBECONFIG_ADMIN (admin) and KUBECONFIG_SEALIFT (the
# controller's ServiceAccount token); the caller's cleanup runs `stop_cluster DIR`.
start_cluster() {
    WEBHOOK_PORT=${WEBHOOK_PORT:-$(free_port)}
    SEALIFT_WEBHOOK_PORT=$WEBHOOK_PORT bash "$SRC_DIR/hack/cluster.sh" up "$1" >/dev/null
    SEALIFT_WEBHOOK_PORT=$WEBHOOK_PORT bash "$SRC_DIR/hack/cluster.sh" install "$1"
    KUBECONFIG_ADMIN=$1/kubeconfig
    KUBECONFIG_SEALIFT=$1/sealift.kubeconfig
}

stop_cluster() {
    bash "$SRC_DIR/hack/cluster.sh" down "$1" 2>/dev/null || true
}
