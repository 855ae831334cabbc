# shellcheck shell=sh
# REG_PORT and REG_PID are set here for the scripts that source this file:
# shellcheck disable=SC2034
# The one way hack/ scripts (demo, benches) start a local docker-registry. POSIX sh, sourced
# after SRC_DIR is set:
#   . "$SRC_DIR/hack/lib/registry.sh"
#
# registry_start NAME DIR [USER:PASS] [--access-log] [--log-level LEVEL]
#   writes DIR/config.yml with hack/lib/registry_config.py (the configuration e2e/lib/registry.py
#   writes too: storage under DIR/data, 127.0.0.1 on a free port; with USER:PASS one htpasswd
#   account, else anonymous; --access-log: one log line per request; log level default warn),
#   starts docker-registry in the background of the calling shell (so `wait` works on it) with
#   its output in DIR.log, and returns once it answers on /v2/. Sets REG_PORT and REG_PID.
#   Returns 1, naming the log, when it does not answer within 30 s.
registry_start() {
    _rs_name=$1
    _rs_dir=$2
    shift 2
    _rs_args=""
    _rs_user=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --access-log) _rs_args="$_rs_args --access-log" ;;
            --log-level) _rs_args="$_rs_args --log-level $2"; shift ;;
            *) _rs_user=$1 ;;
        esac
        shift
    done
    REG_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2086 # _rs_args holds separate flags
    _rs_config=$(/usr/bin/python3 "$SRC_DIR/hack/lib/registry_config.py" "$_rs_dir" "$_rs_name" \
        "$REG_PORT" ${_rs_user:+--user "$_rs_user"} $_rs_args) || return 1
    docker-registry serve "$_rs_config" > "$_rs_dir.log" 2>&1 &
    REG_PID=$!
    _rs_i=0
    until curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/"; do
        _rs_i=$((_rs_i + 1))
        if [ $_rs_i -ge 300 ] || ! kill -0 "$REG_PID" 2>/dev/null; then
            echo "registry $_rs_name did not start on 127.0.0.1:$REG_PORT; its log: $_rs_dir.log" >&2
            return 1
        fi
        sleep 0.1
    done
}
