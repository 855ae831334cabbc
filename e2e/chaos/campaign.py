"""The chaos campaign: ImageDeliveries that must end correct while faults hit everywhere at once.

A real kube-apiserver + etcd (hack/cluster.sh), two `sealift controller` replicas with leader
election, and three docker-registry accounts (a vendor and two customers), each behind a fault
proxy (e2e/lib/faultproxy.py) that answers a share of requests with 5xx, 429 + Retry-After,
connection resets, bodies cut short or slow answers. N ImageDeliveries (multi-arch indexes,
several tags, two targets, a scan gate and signing on) run meanwhile, and at random moments of
the fault phase the leader is SIGKILLed (a new process takes its place), the API server is
stopped and started, etcd is compacted, a source tag moves to a new digest and a tag is added.
A watcher samples every target tag throughout, straight from the registries: whatever a tag
names must be complete (manifest, child manifests, config and layer blobs).

After the faults stop, the checks: every delivery Ready within the bound printed; every target
tag names its source's digest; every delivered digest carries exactly one signature by the
SigningKey (checked with the openssl CLI, none lost, none duplicated); immutable tags never
moved; no complete-content violation seen; no process crashed except those killed (sanitizer
reports in the logs, exit status of a graceful stop); memory steady over a quiet phase at the
end. The figures (kills, faults by kind, requests, time to converge) are printed.

Run it with hack/chaos.sh (flags below); e2e/chaos/test_chaos.py runs a short campaign.
Everything binds 127.0.0.1 and is stopped by PID.
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import procs
import registry as reglib
from controller import Controller
from kube import Cluster

NS = "chaos"
KB = 1024
ACCEPT = ", ".join([reglib.OCI_INDEX, reglib.OCI_MANIFEST,
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])
SIG_ANN = "dev.cosignproject.cosign/signature"
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


class Lab:
    """What the e2e helpers need of a test case (tmp, start, addCleanup), for the CLI."""

    def __init__(self, keep=False):
        self.tmp = tempfile.mkdtemp(prefix="sealift-chaos-")
        self.keep = keep
        self._procs = []
        self._cleanups = []

    def start(self, args, name, env=None, cwd=None):
        p = procs.Proc(args, os.path.join(self.tmp, f"{name}.log"), env=env, cwd=cwd)
        p.name = name
        self._procs.append(p)
        return p

    def addCleanup(self, fn, *args):
        self._cleanups.append((fn, args))

    def close(self):
        for p in reversed(self._procs):
            p.stop()
        for fn, args in reversed(self._cleanups):
            try:
                fn(*args)
            except Exception as exc:  # keep stopping the rest
                print(f"cleanup: {exc}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Http:
    """Plain-HTTP registry reads with Basic auth, independent of sealift."""

    def __init__(self, host, creds):
        self.base = f"http://{host}"
        self.auth = "Basic " + base64.b64encode(creds.encode()).decode()

    def req(self, method, path, accept=None):
        r = urllib.request.Request(self.base + path, method=method)
        r.add_header("Authorization", self.auth)
        if accept:
            r.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, b""

    def manifest(self, repo, ref):
        """(status, bytes) of the manifest at ref."""
        return self.req("GET", f"/v2/{repo}/manifests/{ref}", accept=ACCEPT)

    def blob_exists(self, repo, digest):
        return self.req("HEAD", f"/v2/{repo}/blobs/{digest}")[0] == 200

    def blob(self, repo, digest):
        status, body = self.req("GET", f"/v2/{repo}/blobs/{digest}")
        return body if status == 200 else None


def incomplete(http, repo, data):
    """What a manifest (bytes) names that the repository lacks: [] when complete."""
    doc = json.loads(data)
    missing = []
    children = doc.get("manifests")
    if children is not None:
        for c in children:
            status, body = http.manifest(repo, c["digest"])
            if status != 200:
                missing.append(f"child manifest {c['digest']}")
                continue
            missing += incomplete(http, repo, body)
        return missing
    for d in [doc.get("config", {})] + doc.get("layers", []):
        if d.get("digest") and not http.blob_exists(repo, d["digest"]):
            missing.append(f"blob {d['digest']}")
    return missing


class Campaign:
    def __init__(self, tc, deliveries=4, duration_s=60, kills=2, fault_rate=0.2, seed=None,
                 converge_timeout_s=600, quiet_s=20, log=None):
        self.tc = tc
        self.n = deliveries
        self.duration_s = duration_s
        self.kills_planned = kills
        self.fault_rate = fault_rate
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.converge_timeout_s = converge_timeout_s
        self.quiet_s = quiet_s
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.failures = []
        self.figures = {}
        self.events = []
        self.killed = []  # Controller objects SIGKILLed on purpose
        self.controllers = []
        self.ctl_seq = 0
        self.stop_watch = threading.Event()
        self.watch_samples = 0
        self.watch_violations = []
        self.watch_history = {}  # (account, repo, tag) -> [digests in the order seen]
        self.watch_lock = threading.Lock()
        self.rss = {}  # controller name -> [(t, kib)]

    # ---- set-up ----

    def setup(self):
        t0 = time.monotonic()
        self.kube = Cluster(self.tc.tmp)
        self.kube.start(self.tc)
        self.kube.install()
        self.kube.kubectl("create", "namespace", NS)
        self.chaos_file = os.path.join(self.tc.tmp, "faults-on")
        self.accounts = {}
        for name in ("vendor", "customer-a", "customer-b"):
            user, pw = name.replace("-", ""), f"{name}-pw"
            r = reglib.Registry(self.tc, name, users={user: pw})
            stats = os.path.join(self.tc.tmp, f"proxy-{name}.json")
            proxy = reglib.FaultProxy(
                self.tc, r.host, "none", 0, name=f"proxy-{name}",
                chaos={"rate": self.fault_rate, "file": self.chaos_file, "slow_ms": 1500,
                       "seed": self.rng.randrange(1 << 30), "stats": stats})
            self.accounts[name] = {"reg": r, "proxy": proxy, "creds": f"{user}:{pw}",
                                   "http": Http(r.host, f"{user}:{pw}"), "stats": stats,
                                   "user": user, "pw": pw}
            self.kube.kubectl("create", "secret", "docker-registry", f"{name}-creds", "-n", NS,
                              f"--docker-server={proxy.host}", f"--docker-username={user}",
                              f"--docker-password={pw}")
        self.kube.kubectl("apply", "-f", "-", input=(
            "apiVersion: sealift.dev/v1beta1\nkind: SigningKey\n"
            f"metadata: {{name: release, namespace: {NS}}}\n"
            "spec:\n  mode: Generate\n  secretRef: {name: release-key}\n"
            "  publishKey: {configMapRef: {name: release-pub}}\n"
            "---\napiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: baseline, namespace: {NS}}}\n"
            "spec:\n  baseline: {forbidPrivateKeys: true}\n"))
        self.seed_sources()
        for _ in range(2):
            self.start_replica()
        self.kube.kubectl("wait", "--for=condition=Ready", "--timeout=120s", "-n", NS,
                          "signingkey/release", timeout=180)
        cm = json.loads(self.kube.kubectl("get", "configmap", "release-pub", "-n", NS, "-o",
                                          "json").stdout)
        self.pub = os.path.join(self.tc.tmp, "release.pub")
        with open(self.pub, "w") as f:
            f.write(cm["data"]["cosign.pub"])
        self.apply_deliveries()
        self.figures["setup_s"] = round(time.monotonic() - t0, 1)

    def seed_sources(self):
        """Per delivery i: acme/app-i with tags 1.0 and 1.1, multi-arch indexes (amd64, arm64).
        Odd deliveries have mutable target tags and a tag `edge` that moves during the run."""
        self.layout = reglib.Layout(os.path.join(self.tc.tmp, "layout"))
        self.source_tags = {}
        self.seed_n = 0
        for i in range(self.n):
            tags = ["1.0", "1.1"] + (["edge"] if self.mutable(i) else [])
            for tag in tags:
                self.push_index(i, tag)
            self.source_tags[i] = tags

    def push_index(self, i, tag):
        self.seed_n += 1
        s = self.seed_n * 10 + self.rng.randrange(1 << 20) * 1000
        amd = self.layout.image([24 * KB, 8 * KB], arch="amd64", seed=s)
        arm = self.layout.image([24 * KB, 8 * KB], arch="arm64", seed=s + 1)
        idx = self.layout.index([amd, arm])
        name = f"{i}-{tag}-{self.seed_n}"  # a layout name per push: a moved tag is a new name
        self.layout.tag(idx, name)
        v = self.accounts["vendor"]
        reglib.push(self.layout.path, name, f"{v['reg'].host}/acme/app-{i}:{tag}", v["creds"],
                    all_platforms=True)
        if self.source_digest(i, tag) != idx["digest"]:
            raise AssertionError(f"acme/app-{i}:{tag} is not {idx['digest']} after the push")
        return idx["digest"]

    @staticmethod
    def mutable(i):
        return i % 2 == 1

    def apply_deliveries(self):
        docs = []
        for i in range(self.n):
            targets = "".join(
                f"  - image: {self.accounts[a]['proxy'].host}/mirror/app-{i}\n"
                f"    insecure: true\n    secretRef: {{name: {a}-creds}}\n"
                for a in ("customer-a", "customer-b"))
            docs.append(
                "apiVersion: sealift.dev/v1beta1\nkind: ImageDelivery\n"
                f"metadata: {{name: app-{i}, namespace: {NS}}}\n"
                "spec:\n  source:\n"
                f"    image: {self.accounts['vendor']['proxy'].host}/acme/app-{i}\n"
                "    tagPattern: '^(1\\.[0-9]+|edge)$'\n    insecure: true\n"
                "    secretRef: {name: vendor-creds}\n"
                f"  targets:\n{targets}"
                f"  immutableTags: {'false' if self.mutable(i) else 'true'}\n"
                "  scanPolicyRef: {name: baseline}\n"
                "  sign: {signingKeyRef: {name: release}}\n"
                "  interval: 5s\n")
        self.kube.kubectl("apply", "-f", "-", input="---\n".join(docs), timeout=180)

    def start_replica(self):
        self.ctl_seq += 1
        env = {"ASAN_OPTIONS": os.environ.get(
            "ASAN_OPTIONS", "quarantine_size_mb=32:malloc_context_size=8"),
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS",
                                            "halt_on_error=1:print_stacktrace=1")}
        c = Controller(self.tc, self.kube, name=f"controller-{self.ctl_seq}",
                       extra_args=["--leader-elect", "--registry-timeout", "5m"], env=env)
        self.controllers.append(c)
        return c

    # ---- the watcher ----

    def target_tags(self):
        out = []
        for i in range(self.n):
            for a in ("customer-a", "customer-b"):
                for tag in list(self.source_tags[i]):
                    out.append((a, f"mirror/app-{i}", tag, i))
        return out

    def watch(self):
        while not self.stop_watch.is_set():
            for a, repo, tag, i in self.target_tags():
                if self.stop_watch.is_set():
                    break
                http = self.accounts[a]["http"]
                try:
                    status, data = http.manifest(repo, tag)
                    if status != 200:
                        continue
                    digest = reglib.sha256_digest(data)
                    missing = incomplete(http, repo, data)
                except (OSError, ValueError) as exc:
                    self.log(f"watcher: {a}/{repo}:{tag}: {exc}")
                    continue
                with self.watch_lock:
                    self.watch_samples += 1
                    hist = self.watch_history.setdefault((a, repo, tag), [])
                    if not hist or hist[-1] != digest:
                        hist.append(digest)
                    if missing:
                        self.watch_violations.append(
                            f"{a}/{repo}:{tag} -> {digest} lacks {', '.join(missing[:3])}")
            self.sample_rss()
            time.sleep(0.2)

    def sample_rss(self):
        for c in self.controllers:
            if c in self.killed or not c.proc.alive():
                continue
            try:
                with open(f"/proc/{c.proc.pid}/status") as f:
                    kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            except (OSError, AttributeError):
                continue
            self.rss.setdefault(c.proc.name, []).append((time.monotonic(), kib))

    # ---- faults ----

    def lease_holder(self):
        cp = self.kube.kubectl("get", "lease", "-n", "sealift-system", "sealift-controller",
                               "-o", "json", check=False)
        if cp.returncode != 0:
            return None
        return json.loads(cp.stdout).get("spec", {}).get("holderIdentity")

    @staticmethod
    def identity(ctl):
        for r in ctl.log_lines():
            if r.get("msg") == "became leader":
                return r.get("identity")
        return None

    def kill_leader(self):
        def live_leader():
            # after a kill the Lease names the dead replica until it expires
            holder = self.lease_holder()
            return next((c for c in self.controllers if c not in self.killed and
                         c.proc.alive() and holder and self.identity(c) == holder), None)
        leader = procs.wait_for(live_leader, timeout=180, interval=0.5,
                                what="a live replica holding the Lease")
        holder = self.identity(leader)
        leader.proc.stop(sig=signal.SIGKILL)
        self.killed.append(leader)
        self.start_replica()
        return f"SIGKILL leader {leader.proc.name} ({holder}); a new replica started"

    def restart_apiserver(self):
        self.kube.stop_apiserver()
        time.sleep(self.rng.uniform(1, 4))
        self.kube.start_apiserver()
        return "API server stopped and started"

    def compact(self):
        return f"etcd compacted at revision {self.kube.compact()}"

    def move_tag(self):
        i = next(i for i in range(self.n) if self.mutable(i)) if self.n > 1 else 0
        tag = "edge" if self.mutable(i) else "1.1"

        def delivered():
            # move it once both targets have it, so the move is followed, not just delivered
            with self.watch_lock:
                return all(self.watch_history.get((a, f"mirror/app-{i}", tag))
                           for a in ("customer-a", "customer-b"))
        try:
            procs.wait_for(delivered, timeout=120, interval=0.5, what=f"app-{i}:{tag} delivered")
            note = ""
        except AssertionError:
            note = " (before it reached both targets)"
        d = self.push_index(i, tag)
        return f"source acme/app-{i}:{tag} moved to {d}{note}"

    def add_tag(self):
        i = self.rng.randrange(self.n)
        d = self.push_index(i, "1.2")
        self.source_tags[i] = self.source_tags[i] + ["1.2"]
        return f"source acme/app-{i}:1.2 added ({d})"

    def fault_phase(self):
        with open(self.chaos_file, "w"):
            pass
        plan = (["kill"] * self.kills_planned +
                ["apiserver", "compact", "move", "add"])
        at = sorted(self.rng.uniform(0.1, 0.9) * self.duration_s for _ in plan)
        self.rng.shuffle(plan)
        start = time.monotonic()
        actions = {"kill": self.kill_leader, "apiserver": self.restart_apiserver,
                   "compact": self.compact, "move": self.move_tag, "add": self.add_tag}
        for when, what in zip(at, plan):
            delay = start + when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.monotonic() - start
            try:
                msg = actions[what]()
            except Exception as exc:
                msg = f"{what} failed: {exc}"
                self.failures.append(f"fault action {msg}")
            self.events.append(f"t+{t:5.1f}s {msg}")
            self.log(f"chaos: t+{t:5.1f}s {msg}")
        left = start + self.duration_s - time.monotonic()
        if left > 0:
            time.sleep(left)
        os.unlink(self.chaos_file)
        self.figures["fault_phase_s"] = round(time.monotonic() - start, 1)

    # ---- convergence and checks ----

    def source_digest(self, i, tag):
        v = self.accounts["vendor"]
        status, data = v["http"].manifest(f"acme/app-{i}", tag)
        return reglib.sha256_digest(data) if status == 200 else None

    def delivery_done(self, i):
        """None when delivery i is Ready for its current generation with every source tag in
        both targets at the source's digest; else what is still missing."""
        status, _, obj = self.kube.request(
            "GET", f"/apis/sealift.dev/v1beta1/namespaces/{NS}/imagedeliveries/app-{i}")
        if status != 200:
            return f"GET app-{i}: {status}"
        ready = next((c for c in obj.get("status", {}).get("conditions", [])
                      if c.get("type") == "Ready"), None)
        if not ready or ready.get("status") != "True":
            return f"app-{i} Ready={ready and ready.get('status')} {ready and ready.get('reason')}"
        for tag in self.source_tags[i]:
            want = self.source_digest(i, tag)
            for a in ("customer-a", "customer-b"):
                st, data = self.accounts[a]["http"].manifest(f"mirror/app-{i}", tag)
                got = reglib.sha256_digest(data) if st == 200 else None
                if got != want:
                    return f"{a}/mirror/app-{i}:{tag} is {got}, source {want}"
        return None

    def converge(self):
        t0 = time.monotonic()
        pending = {}

        def all_done():
            pending.clear()
            for i in range(self.n):
                why = self.delivery_done(i)
                if why:
                    pending[i] = why
            return not pending
        try:
            procs.wait_for(all_done, timeout=self.converge_timeout_s, interval=1.0,
                           what="every delivery Ready with every target at its source digest")
        except AssertionError:
            self.failures.append("not converged within "
                                 f"{self.converge_timeout_s} s: " + "; ".join(pending.values()))
        self.figures["converge_s"] = round(time.monotonic() - t0, 1)
        self.figures["converge_bound_s"] = self.converge_timeout_s

    def signatures_by_key(self, a, repo, digest):
        """(layers, layers verifying with the SigningKey's public key via openssl)."""
        http = self.accounts[a]["http"]
        st, data = http.manifest(repo, f"sha256-{digest[7:]}.sig")
        if st != 200:
            return 0, 0
        layers = json.loads(data).get("layers", [])
        ok = 0
        for n, layer in enumerate(layers):
            payload = http.blob(repo, layer["digest"])
            if payload is None:
                continue
            try:
                named = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
            except (ValueError, KeyError):
                continue
            if named != digest:
                continue
            p = os.path.join(self.tc.tmp, "sigcheck-payload")
            s = os.path.join(self.tc.tmp, "sigcheck-sig")
            with open(p, "wb") as f:
                f.write(payload)
            with open(s, "wb") as f:
                f.write(base64.b64decode(layer.get("annotations", {}).get(SIG_ANN, "")))
            cp = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.pub,
                                 "-signature", s, p], capture_output=True, text=True)
            ok += cp.returncode == 0 and "Verified OK" in cp.stdout
        return len(layers), ok

    def check(self):
        checked = 0
        for i in range(self.n):
            for tag in self.source_tags[i]:
                digest = self.source_digest(i, tag)
                for a in ("customer-a", "customer-b"):
                    total, ok = self.signatures_by_key(a, f"mirror/app-{i}", digest)
                    checked += 1
                    if ok != 1 or total != 1:
                        self.failures.append(
                            f"{a}/mirror/app-{i}@{digest} ({tag}): {ok} signature(s) by the "
                            f"SigningKey among {total} layer(s), want exactly 1")
        with self.watch_lock:
            seen = {(a, repo, d) for (a, repo, _), hist in self.watch_history.items()
                    for d in hist[:-1]}
        for a, repo, digest in sorted(seen):
            total, ok = self.signatures_by_key(a, repo, digest)
            checked += 1
            if ok > 1 or total > 1:
                self.failures.append(f"{a}/{repo}@{digest} (a tag's earlier digest): {ok} "
                                     f"signature(s) by the SigningKey among {total} layer(s)")
        self.figures["signatures_checked"] = checked
        self.figures["earlier_digests_checked"] = len(seen)
        with self.watch_lock:
            for (a, repo, tag), hist in self.watch_history.items():
                i = int(repo.rsplit("-", 1)[1])
                if not self.mutable(i) and len(hist) > 1:
                    self.failures.append(f"immutable tag {a}/{repo}:{tag} moved: {hist}")
            self.failures += [f"watcher: {v}" for v in self.watch_violations[:20]]
            self.figures["watch_samples"] = self.watch_samples
            self.figures["watch_violations"] = len(self.watch_violations)

    def quiet_phase(self):
        """Fault-free resyncs; memory of the replica that lived longest must stay steady."""
        self.sample_rss()
        time.sleep(self.quiet_s / 2)
        self.sample_rss()
        mid = {k: v[-1][1] for k, v in self.rss.items()}
        time.sleep(self.quiet_s / 2)
        self.sample_rss()
        killed = {c.proc.name for c in self.killed}
        for name, samples in self.rss.items():
            if name not in mid or name in killed:
                continue
            end = samples[-1][1]
            peak = max(k for _, k in samples)
            self.figures.setdefault("rss_mib", {})[name] = {
                "peak": round(peak / 1024, 1), "quiet_start": round(mid[name] / 1024, 1),
                "end": round(end / 1024, 1)}
            if end > mid[name] * 1.25 + 16 * 1024:
                self.failures.append(f"{name}: RSS grew from {mid[name]} KiB to {end} KiB "
                                     f"over {self.quiet_s / 2:.0f} s without faults")

    def stop_and_check_processes(self):
        crashed = []
        for c in self.controllers:
            if c in self.killed:
                continue
            if not c.proc.alive():
                crashed.append(f"{c.proc.name} exited on its own ({c.proc.popen.returncode})")
                continue
            rc = c.stop(signal.SIGTERM)
            if rc != 0:
                crashed.append(f"{c.proc.name}: graceful stop exited {rc}")
        for c in self.controllers:
            m = SANITIZER_RE.search(c.proc.output())
            if m:
                out = c.proc.output()
                crashed.append(f"{c.proc.name}: sanitizer report: "
                               f"{out[m.start():m.start() + 300]!r}")
        self.failures += crashed
        self.figures["replicas_started"] = len(self.controllers)

    def proxy_figures(self):
        requests, faulty, faults = 0, 0, {}
        for a in self.accounts.values():
            a["proxy"].proc.stop()  # SIGTERM: the proxy writes its final counts
            try:
                with open(a["stats"]) as f:
                    counts = json.load(f)
            except (OSError, ValueError):
                continue
            requests += counts.pop("requests", 0)
            faulty += counts.pop("requests_faulty_phase", 0)
            for k, v in counts.items():
                faults[k] = faults.get(k, 0) + v
        self.figures["requests"] = requests
        self.figures["requests_faulty_phase"] = faulty
        self.figures["faults"] = faults
        self.figures["faults_total"] = sum(faults.values())

    def run(self):
        self.log(f"chaos: seed {self.seed}, {self.n} deliveries, {self.duration_s} s of faults")
        self.setup()
        watcher = threading.Thread(target=self.watch, daemon=True)
        watcher.start()
        try:
            self.fault_phase()
            self.converge()
            self.quiet_phase()
        finally:
            self.stop_watch.set()
            watcher.join(60)
        self.check()
        self.stop_and_check_processes()
        self.proxy_figures()
        self.figures["kills"] = len(self.killed)
        self.figures["seed"] = self.seed
        self.completed = True
        return self.failures

    def report(self, out=sys.stdout):
        f = self.figures
        print("chaos campaign figures", file=out)
        print(f"  seed {f.get('seed')}, {self.n} ImageDeliveries x 2 targets, "
              f"fault phase {f.get('fault_phase_s')} s (set-up {f.get('setup_s')} s)", file=out)
        print(f"  leader SIGKILLs {f.get('kills')}, replicas started {f.get('replicas_started')}, "
              "API server restarts 1, etcd compactions 1, tag moves 1, tags added 1", file=out)
        print(f"  registry requests through the fault proxies {f.get('requests')} "
              f"({f.get('requests_faulty_phase')} while faults were on), faults injected "
              f"{f.get('faults_total')}: " +
              ", ".join(f"{k} {v}" for k, v in sorted(f.get("faults", {}).items())), file=out)
        print(f"  time to converge after the faults stopped {f.get('converge_s')} s "
              f"(bound {f.get('converge_bound_s')} s)", file=out)
        print(f"  watcher samples {f.get('watch_samples')}, incomplete tags seen "
              f"{f.get('watch_violations')}; signature manifests checked with openssl "
              f"{f.get('signatures_checked')} (of digests a tag named earlier: "
              f"{f.get('earlier_digests_checked')})", file=out)
        for name, r in sorted(f.get("rss_mib", {}).items()):
            print(f"  {name} RSS MiB: peak {r['peak']}, quiet phase {r['quiet_start']} -> "
                  f"{r['end']}", file=out)
        for e in self.events:
            print(f"  {e}", file=out)
        if not getattr(self, "completed", False):
            print("checks: NOT RUN to the end (interrupted, or an error above)", file=out)
        else:
            print("checks: " + ("all passed" if not self.failures else
                                f"{len(self.failures)} FAILED"), file=out)
        for x in self.failures:
            print(f"  FAIL {x}", file=out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deliveries", type=int, default=12, help="ImageDeliveries (N)")
    p.add_argument("--duration", type=int, default=300, help="seconds of faults")
    p.add_argument("--kills", type=int, default=None, help="leader SIGKILLs (default: one a "
                   "minute of faults, at least 1)")
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--converge-timeout", type=int, default=900)
    p.add_argument("--quiet", type=int, default=30, help="seconds of the fault-free phase")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    a = p.parse_args()

    def on_term(signum, frame):
        raise SystemExit(128 + signum)  # unwinds into the clean-up below, which stops by PID
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background of a script
    lab = Lab(keep=a.keep)
    kills = a.kills if a.kills is not None else max(1, a.duration // 60)
    c = Campaign(lab, deliveries=a.deliveries, duration_s=a.duration, kills=kills,
                 fault_rate=a.fault_rate, seed=a.seed, converge_timeout_s=a.converge_timeout,
                 quiet_s=a.quiet)
    try:
        failures = c.run()
    except BaseException:
        lab.keep = True
        print(f"chaos: work directory kept: {lab.tmp}", file=sys.stderr)
        raise
    finally:
        c.report()
        if c.failures:
            lab.keep = True
            print(f"chaos: work directory kept: {lab.tmp}", file=sys.stderr)
        lab.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
