#!/bin/sh
# fleet bench (issue 17): N ImageDeliveries that really deliver, for growing N. Each delivers two
# tags of a small real image (3 layers, 832 KiB) from a vendor docker-registry account to two
# customer registries (two targets). Per N it measures, with the release build:
#
# - first delivery: from `sealift controller` start until all N are Ready; the controller's peak
#   RSS (VmHWM), CPU seconds, requests to the API server (its ServiceAccount's audit events) and
#   to the registries (their access logs);
# - one resync pass over the N in-sync deliveries: a fresh controller until it counted N
#   successful reconciles (as hack/bench/resync.sh), with the same figures;
# - the anchor, in the same run: `skopeo sync --src yaml` delivering the same set (one run per
#   delivery and target, FLEET_CONCURRENCY at a time, as many as the controller's workers), then
#   the same runs again for the resync.
#
# Printed as a table with the cost per delivery, then the issue's bars: first delivery of 1,000
# <= 0.5x skopeo sync, a resync pass <= 0.05x, peak RSS at 1,000 <= 64 MiB, API requests per
# delivery constant as N grows, and a resync pass writing each delivery's status at most once (a
# check that changes nothing moves status.lastCheckTime alone).
#
# usage: hack/bench/fleet.sh [N ...]      (default: 100 1000)
# env:   BUILD_DIR (default build-bench, release), SEALIFT_BIN (skip the build),
#        FLEET_CONCURRENCY (controller workers and parallel skopeo runs; default 4),
#        FLEET_KEEP=1 (keep the work directory)
set -eu

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
SIZES=${*:-100 1000}
CONCURRENCY=${FLEET_CONCURRENCY:-4}
PY=/usr/bin/python3

bench_sealift
mkdir -p "$BUILD_DIR"
WORK=$(mktemp -d "$BUILD_DIR/bench-fleet.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    stop_cluster "$WORK/cluster"
    [ -n "${FLEET_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "starting kube-apiserver + etcd (hack/cluster.sh) and three registries"
start_cluster "$WORK/cluster" > /dev/null
start_registry vendor vendor vendor-pw --access-log
A="127.0.0.1:$REG_PORT"
start_registry customer customer customer-pw --access-log
B="127.0.0.1:$REG_PORT"
start_registry customer2 customer2 customer2-pw --access-log
C="127.0.0.1:$REG_PORT"

echo "pushing acme/app:1.0 and :1.1 to $A"
$PY -c "
import sys; sys.path.insert(0, '$SRC_DIR/e2e/lib')
import registry as reg
lay = reg.Layout('$WORK/layout')
lay.tag(lay.image([512 * 1024, 256 * 1024, 64 * 1024], seed=1), '1.0')
lay.tag(lay.image([512 * 1024, 256 * 1024, 64 * 1024], seed=2), '1.1')
"
for t in 1.0 1.1; do
    skopeo copy --quiet --dest-tls-verify=false --dest-creds vendor:vendor-pw \
        "oci:$WORK/layout:$t" "docker://$A/acme/app:$t"
done
printf '"%s":\n  tls-verify: false\n  credentials: {username: vendor, password: vendor-pw}\n  images:\n    acme/app: ["1.0", "1.1"]\n' \
    "$A" > "$WORK/skopeo-src.yaml"

# shellcheck disable=SC2086 # PIDS holds the registries' PIDs, one per word
FLEET_REGISTRY_PIDS="$PIDS" $PY - "$SEALIFT" "$WORK" "$CONCURRENCY" "$A" "$B" "$C" $SIZES <<'PYEOF'
import concurrent.futures, json, os, re, resource, ssl, subprocess, sys, time, urllib.request

sealift, work, conc, A, B, C = sys.argv[1:7]
sizes = [int(n) for n in sys.argv[7:]]
cluster = os.path.join(work, "cluster")
server = re.search(r"server: (\S+)", open(os.path.join(cluster, "kubeconfig")).read()).group(1)
ctx = ssl.create_default_context(cafile=os.path.join(cluster, "pki", "ca.crt"))
ctx.load_cert_chain(os.path.join(cluster, "pki", "admin.crt"),
                    os.path.join(cluster, "pki", "admin.key"))
TICK = os.sysconf("SC_CLK_TCK")


def api(method, path, body=None):
    req = urllib.request.Request(server + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120, context=ctx) as r:
        return json.loads(r.read())


def docker_secret(ns, name, host, user, pw):
    import base64
    auth = base64.b64encode(f"{user}:{pw}".encode()).decode()
    cfg = {"auths": {host: {"username": user, "password": pw, "auth": auth}}}
    api("POST", f"/api/v1/namespaces/{ns}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(cfg).encode()).decode()}})


def api_requests():
    """Requests of sealift's ServiceAccount so far (audit events, one auditID per request)."""
    ids = set()
    path = os.path.join(cluster, "audit.log")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                i = line.find('"auditID":"')
                if i >= 0:
                    ids.add(line[i + 11:i + 47])
    return len(ids)


def status_writes():
    """ImageDelivery status writes so far (audit events of a successful update of .../status)."""
    ids = set()
    path = os.path.join(cluster, "audit.log")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if '"subresource":"status"' not in line or '"imagedeliveries"' not in line:
                    continue
                ev = json.loads(line)
                ref = ev.get("objectRef", {})
                if ev.get("verb") == "update" and ref.get("resource") == "imagedeliveries" \
                        and ev.get("responseStatus", {}).get("code") == 200:
                    ids.add(ev.get("auditID"))
    return len(ids)


ACCESS = re.compile(rb'"(GET|HEAD|PUT|POST|PATCH|DELETE) \S+ HTTP/1\.1"')


def registry_requests():
    n = 0
    for name in ("vendor", "customer", "customer2"):
        with open(os.path.join(work, name + ".log"), "rb") as f:
            n += sum(1 for line in f if ACCESS.search(line))
    return n


def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def proc_hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


REGISTRY_PIDS = [int(p) for p in os.environ["FLEET_REGISTRY_PIDS"].split()]


def control_plane_pids():
    pids = []
    with open(os.path.join(cluster, "pids")) as f:
        for line in f:
            name, pid = line.split()
            pids.append(int(pid))
    return pids


def peers_cpu():
    """CPU seconds so far of the registries and of the control plane (etcd + kube-apiserver),
    where the time of a pass goes besides the client's own."""
    def total(pids):
        s = 0.0
        for p in pids:
            try:
                s += proc_cpu(p)
            except OSError:
                pass
        return s
    return total(REGISTRY_PIDS), total(control_plane_pids())


def start_controller(log):
    port = subprocess.check_output([sys.executable, "-c", "import socket; s=socket.socket(); "
                                    "s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"],
                                   text=True).strip()
    p = subprocess.Popen([sealift, "controller", "--kubeconfig",
                          os.path.join(cluster, "sealift.kubeconfig"), "--namespace",
                          "sealift-system", "--metrics-addr", f"127.0.0.1:{port}",
                          "--concurrency", conc, "--insecure-registry", "127.0.0.1"],
                         stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    return p, port


READY = re.compile(r'^sealift_objects\{[^}]*kind="ImageDelivery"[^}]*ready="True"[^}]*\}\s+(\S+)',
                   re.M)


def ready_gauge(port):
    """Ready ImageDeliveries as the controller's watch saw them stored (its sealift_objects
    gauge): one small GET, where a LIST of N objects costs the API server (and this script)
    O(N) per poll and, polled throughout a first delivery, O(N^2) CPU on the shared machine."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0
    m = READY.search(text.decode())
    return float(m.group(1)) if m else 0


def ready_count(ns):
    items = api("GET", f"/apis/sealift.dev/v1beta1/namespaces/{ns}/imagedeliveries")["items"]
    return sum(1 for o in items if any(c.get("type") == "Ready" and c.get("status") == "True"
                                       for c in o.get("status", {}).get("conditions", [])))


SUCCESS = re.compile(r'^sealift_reconcile_total\{[^}]*kind="ImageDelivery"[^}]*result="success"'
                     r'[^}]*\}\s+(\S+)', re.M)


def reconciled(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0
    m = SUCCESS.search(text.decode())
    return float(m.group(1)) if m else 0


def measure(n, what, done, poll_s=0.5):
    """Runs a controller until done(port) holds, asking every poll_s once it reconciled one
    object; returns its figures. "pass" is the time from its first finished reconcile to the end
    (start-up, the initial lists, excluded)."""
    api0, reg0, sw0 = api_requests(), registry_requests(), status_writes()
    rcpu0, kcpu0 = peers_cpu()
    t0 = time.monotonic()
    t_first = None
    p, port = start_controller(os.path.join(work, f"controller-{n}-{what}.log"))
    try:
        while not done(port):
            if t_first is None and reconciled(port) >= 1:
                t_first = time.monotonic()
            if p.poll() is not None:
                sys.exit(f"the controller exited ({what}, N={n})")
            if time.monotonic() - t0 > 3600:
                sys.exit(f"{what} of {n} deliveries did not finish in an hour")
            time.sleep(0.05 if t_first is None else poll_s)
        end = time.monotonic()
        secs = end - t0
        cpu, hwm = proc_cpu(p.pid), proc_hwm_kib(p.pid)
        rcpu, kcpu = peers_cpu()
    finally:
        p.terminate()
        p.wait(60)
    time.sleep(1)  # the audit log is written asynchronously
    return {"s": secs, "pass": end - (t_first or t0), "cpu": cpu, "rss": hwm / 1024, "api": api_requests() - api0,
            "reg": registry_requests() - reg0, "sw": status_writes() - sw0,
            "reg_cpu": rcpu - rcpu0, "kube_cpu": kcpu - kcpu0}


def skopeo_runs(n, ns):
    jobs = [(i, host, user) for i in range(n)
            for host, user in ((B, "customer"), (C, "customer2"))]

    def one(job):
        i, host, user = job
        r = subprocess.run(["skopeo", "sync", "--src", "yaml", "--dest", "docker",
                            "--dest-tls-verify=false", "--dest-creds", f"{user}:{user}-pw",
                            os.path.join(work, "skopeo-src.yaml"), f"{host}/skopeo-{ns}/app{i}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"skopeo sync failed: {r.stderr.strip()[-500:]}")
    reg0 = registry_requests()
    rcpu0, _ = peers_cpu()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(int(conc)) as ex:
        list(ex.map(one, jobs))
    secs = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rcpu, _ = peers_cpu()
    return {"s": secs, "cpu": ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime,
            "reg": registry_requests() - reg0, "reg_cpu": rcpu - rcpu0}


rows = []
cpu_rows = []
for n in sizes:
    ns = f"fleet{n}"
    api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": ns}})
    docker_secret(ns, "vendor-pull", A, "vendor", "vendor-pw")
    docker_secret(ns, "customer-push", B, "customer", "customer-pw")
    docker_secret(ns, "customer2-push", C, "customer2", "customer2-pw")

    def create(i):
        api("POST", f"/apis/sealift.dev/v1beta1/namespaces/{ns}/imagedeliveries", {
            "apiVersion": "sealift.dev/v1beta1", "kind": "ImageDelivery",
            "metadata": {"name": f"app{i}", "namespace": ns},
            "spec": {"source": {"image": f"{A}/acme/app", "tags": ["1.0", "1.1"],
                                "insecure": True,
                                "secretRef": {"name": "vendor-pull"}},
                     "targets": [{"image": f"{B}/{ns}/app{i}", "insecure": True,
                                  "secretRef": {"name": "customer-push"}},
                                 {"image": f"{C}/{ns}/app{i}", "insecure": True,
                                  "secretRef": {"name": "customer2-push"}}],
                     "interval": "1h"}})
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(create, range(n)))
    print(f"N={n}: first delivery", file=sys.stderr)
    # the gauge says when to look; the API server's LIST has the last word
    first = measure(n, "first", lambda port: ready_gauge(port) >= n and ready_count(ns) >= n,
                    poll_s=0.1)
    print(f"N={n}: resync pass", file=sys.stderr)
    # a pass of 100 takes about a second: the cheap /metrics poll every 50 ms, so its figure is
    # not rounded up to the next half second
    resync = measure(n, "resync", lambda port: reconciled(port) >= n, poll_s=0.05)
    # Later sizes' controllers must not see these: the local control plane has no namespace
    # controller to empty a deleted namespace (its objects would stay, and be reconciled in the
    # next size's figures), and ImageDeliveries have no finalizer, so they go at once.
    api("DELETE", f"/apis/sealift.dev/v1beta1/namespaces/{ns}/imagedeliveries")
    api("DELETE", f"/api/v1/namespaces/{ns}/secrets")
    api("DELETE", f"/api/v1/namespaces/{ns}")
    print(f"N={n}: skopeo sync, first and again", file=sys.stderr)
    sk_first = skopeo_runs(n, ns)
    sk_again = skopeo_runs(n, ns)
    rows.append((n, first, resync, sk_first["s"], sk_again["s"]))
    cpu_rows.append((n, first, resync, sk_first, sk_again))

print()
print("                         first delivery (4 copies each)                   resync pass")
print("     N   time s  skopeo s  ratio  RSS MiB  CPU s  API/dlv  reg/dlv |  pass s  (total)"
      "  skopeo s   ratio  CPU ms/dlv  API/dlv  reg/dlv")
for n, f, r, skf, ska in rows:
    print(f"{n:6d} {f['s']:8.1f} {skf:9.1f} {f['s'] / skf:6.2f} {f['rss']:8.1f} {f['cpu']:6.1f}"
          f" {f['api'] / n:8.2f} {f['reg'] / n:8.1f} | {r['pass']:7.2f} {r['s']:8.1f}"
          f" {ska:9.1f} {r['pass'] / ska:7.3f} {r['cpu'] * 1000 / n:11.2f} {r['api'] / n:8.2f}"
          f" {r['reg'] / n:8.1f}")
print()
print("Figures: time from controller start (first delivery), from its first finished reconcile "
      "(resync pass; total = from start, lists included); RSS = peak (VmHWM); API = requests of the "
      "controller's ServiceAccount (audit log, lists and watches included); reg = requests "
      "to the three registries; skopeo = `skopeo sync --src yaml` per delivery and target, "
      f"{conc} at a time (the controller runs {conc} workers).")
print()
print("Where the time went (CPU seconds per delivery, ms; reg = the three registries, each "
      "authenticated request a bcrypt check; kube = kube-apiserver + etcd; requests per delivery):")
print("     N  phase            client  registries  kube   reg/dlv")
for n, f, r, skf, ska in cpu_rows:
    for what, m, sk in (("first", f, skf), ("resync", r, ska)):
        print(f"{n:6d}  {what:6s} sealift  {m['cpu'] * 1000 / n:6.1f}  {m['reg_cpu'] * 1000 / n:10.1f}"
              f"  {m['kube_cpu'] * 1000 / n:5.1f}  {m['reg'] / n:7.1f}")
        print(f"{n:6d}  {what:6s} skopeo   {sk['cpu'] * 1000 / n:6.1f}  {sk['reg_cpu'] * 1000 / n:10.1f}"
              f"      -  {sk['reg'] / n:7.1f}")
bars = []
for n, f, r, skf, ska in rows:
    if n == 1000:
        bars.append(("first delivery of 1,000 <= 0.5x skopeo sync", f["s"] / skf <= 0.5,
                     f"{f['s'] / skf:.2f}x"))
        bars.append(("peak RSS at 1,000 <= 64 MiB", f["rss"] <= 64, f"{f['rss']:.1f} MiB"))
    bars.append((f"resync pass of {n} <= 0.05x skopeo sync", r["pass"] / ska <= 0.05,
                 f"{r['pass'] / ska:.3f}x"))
    bars.append((f"resync pass of {n}: at most one status write per delivery", r["sw"] <= n,
                 f"{r['sw']} writes"))
if len(rows) > 1:
    per = [f["api"] / n for n, f, _, _, _ in rows]
    bars.append(("API requests per delivery do not grow with N", per[-1] <= per[0] * 1.25,
                 " -> ".join(f"{x:.2f}" for x in per)))
for what, ok, fig in bars:
    print(f"{'PASS' if ok else 'FAIL'}  {what}: {fig}")
PYEOF
