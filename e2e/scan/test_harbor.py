"""Harbor Pluggable Scanner API v1.1 end to end, in both directions, with real processes:
docker-registry with htpasswd holding the scan test images, `sealift scanner-adapter` started as
its own process, and `sealift controller` against a real API server driven by the real kubectl.

(a) the adapter's API is exercised with urllib against the published spec
    (goharbor/pluggable-scanner-spec, api/spec/scanner-adapter-openapi-v1.1.yaml): metadata,
    POST /scan -> 202 {id}, 302 + Refresh-After while the scan waits, then 200 with the report,
    404, 400, 415, 422, 406, 500 for a scan that failed; its findings equal
    `sealift scan --format json` of the same image;
(b) a ScanPolicy with spec.scanner.harbor.url pointing at that adapter gates ImageDeliveries:
    the vulnerable tag is blocked with the CVE in the message, the clean tag is delivered, and
    an adapter that is down is Scanned=False reason ScannerError naming the adapter;
(c) the adapter's authentication (--token-file; on by default): every endpoint answers 401
    without the token or with a wrong one, in each form Harbor sends (Bearer, Basic,
    X-ScannerAdapter-API-Key); without --token-file it refuses to start unless --no-auth; a
    ScanPolicy with a wrong token Secret is Ready=False ScannerError naming the 401;
(e) a scan of an image with a layer entry the scanner cannot apply fails (500 naming the
    entry) instead of returning a clean report;
(d) the adapter over TLS (--tls-cert-dir, a private CA): a ScanPolicy with certSecretRef is Ready
    and gates a delivery through it, one without the CA is ScannerError naming certificate
    verification; with --client-ca (mutual TLS) a ScanPolicy whose certSecretRef holds only the
    CA is ScannerError saying the adapter requires a client certificate, and one with tls.crt and
    tls.key besides is Ready and blocks the vulnerable tag. status.scanner is checked with
    kubectl throughout;
(e) what a tenant's ScanPolicy can make the controller send (a recording stand-in adapter in
    Python): an adapter URL outside the administrator's --scanner-url prefixes gets nothing and
    the policy is Ready=False ScannerURLNotAllowed; a listed https adapter gets, for a source
    registry with token auth, a Bearer token the token realm issued for pulling that one
    repository (not the password), and for a Basic-only registry no credential at all.
The controller runs with --scanner-url for the adapters the tests start; the delivery tests pull
from a docker-registry with Bearer-token auth (hack/registry-token-server), so that
`sealift scanner-adapter` pulls with the pull token the controller hands it.
No Harbor or Trivy adapter package exists in Debian, so sealift's client is tested against
sealift's own adapter, both written from the spec."""
import base64
import json
import os
import socket
import ssl
import sys
import threading
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imagedelivery"))
import procs  # noqa: E402
import registry as reg  # noqa: E402
import scanlib  # noqa: E402
import tlsgen  # noqa: E402
from imdlib import CUSTOMER, NS, VENDOR, ImdTestCase  # noqa: E402

C = ":".join(CUSTOMER)
V = ":".join(VENDOR)
BAD_LIBC = "2.36-9+deb12u1"   # CVE-2099-0001 (Critical, fixed 2.36-9+deb12u4) and more
GOOD_LIBC = "2.36-9+deb12u7"  # after every fix in the test data
MID_LIBC = "2.36-9+deb12u3"
REPORT_MT = "application/vnd.security.vulnerability.report; version=1.1"
REQUEST_MT = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
OCI_MT = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MT = "application/vnd.docker.distribution.manifest.v2+json"
TOKEN = "e2e-adapter-t0ken-0f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(method, url, body=None, headers=None, cafile=None):
    """(status, headers, body bytes) without following redirects; cafile for https."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = OPENER
    if cafile:
        opener = urllib.request.build_opener(
            NoRedirect, urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=cafile)))
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class SilentRegistry:
    """A listener that accepts connections and never answers: a scan pulling from it holds
    its worker until close() resets the connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.closed = True
        for c in self.conns:
            c.close()
        self.sock.close()


class RecordingAdapter:
    """A stand-in Harbor scanner adapter that records every request (method, path, headers,
    body): metadata like Trivy's, POST /scan -> 202, and a fixed report. With tls_dir
    (tlsgen.make_serving_cert) it serves https."""

    def __init__(self, tls_dir=None, port=0):
        data = os.path.join(procs.SRC, "tests", "data", "scan", "harbor")
        with open(os.path.join(data, "metadata.json"), "rb") as f:
            metadata = f.read()
        with open(os.path.join(data, "report.json"), "rb") as f:
            report = f.read()
        self.requests = []
        rec = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, ctype, body):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def record(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec.append({"method": self.command, "path": self.path,
                            "headers": dict(self.headers), "body": body})

            def do_GET(self):
                self.record()
                if self.path == "/api/v1/metadata":
                    self.answer(200, "application/vnd.scanner.adapter.metadata+json; version=1.0",
                                metadata)
                elif self.path.endswith("/report"):
                    self.answer(200, REPORT_MT, report)
                else:
                    self.answer(404, "application/json", b"{}")

            def do_POST(self):
                self.record()
                self.answer(202, "application/vnd.scanner.adapter.scan.response+json; "
                                 "version=1.0", b'{"id": "0123456789abcdef0123456789abcdef"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(tls_dir, "tls.crt"), os.path.join(tls_dir, "tls.key"))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls_dir else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def scan_requests(self):
        return [json.loads(r["body"]) for r in self.requests if r["method"] == "POST"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HarborAdapterTest(ImdTestCase):
    def setUp(self):
        # the administrator allows the adapter the tests start (one port, http and https) and
        # the recording https adapter of (e); nothing else
        self.adapter_port = procs.free_port()
        self.recorder_port = procs.free_port()
        self.controller_args = (
            "--scanner-url", f"http://127.0.0.1:{self.adapter_port}",
            "--scanner-url", f"https://127.0.0.1:{self.adapter_port}",
            "--scanner-url", f"https://127.0.0.1:{self.recorder_port}")
        super().setUp()
        self.adv = scanlib.advisory_dir(os.path.join(self.tmp, "advisories"))
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb-layout"),
                                       {"bad": BAD_LIBC, "good": GOOD_LIBC, "mid": MID_LIBC})
        for tag in ("bad", "good", "mid"):
            scanlib.skopeo_push(layout, tag, f"{self.vendor.host}/acme/app:{tag}", V)
        self.token_file = os.path.join(self.tmp, "adapter.token")
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(TOKEN + "\n")
        self.start_adapter()

    def start_adapter(self, workers=2, tls_dir=None, auth=("--token-file",), client_ca=None):
        self.port = self.adapter_port
        if auth == ("--token-file",):
            auth = ("--token-file", self.token_file)
        args = [procs.SEALIFT, "scanner-adapter", "--listen", f"127.0.0.1:{self.port}",
                "--db", self.adv, "--workers", str(workers), *auth]
        if tls_dir:
            args += ["--tls-cert-dir", tls_dir]
        if client_ca:
            args += ["--client-ca", client_ca]
        self.adapter = self.start(args, f"adapter-{workers}-{self.port}")
        procs.wait_port(self.port)
        self.url = f"{'https' if tls_dir else 'http'}://127.0.0.1:{self.port}"
        self.base = f"{self.url}/api/v1"

    def manifest_of(self, tag):
        """(digest, media type) of acme/app:tag, read from the registry with urllib."""
        auth = base64.b64encode(V.encode()).decode()
        st, hdrs, _ = http("GET", f"http://{self.vendor.host}/v2/acme/app/manifests/{tag}",
                           headers={"Authorization": f"Basic {auth}",
                                    "Accept": f"{OCI_MT}, {DOCKER_MT}"})
        self.assertEqual(st, 200)
        return hdrs["Docker-Content-Digest"], hdrs["Content-Type"].split(";")[0].strip()

    def scan_request(self, tag, registry=None):
        digest, mt = self.manifest_of(tag)
        return {"registry": {"url": registry or f"http://{self.vendor.host}",
                             "authorization": "Basic " + base64.b64encode(V.encode()).decode()},
                "artifact": {"repository": "acme/app", "digest": digest, "tag": tag,
                             "mime_type": mt}}

    def post_scan(self, request, content_type=REQUEST_MT):
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        return http("POST", f"{self.base}/scan", body, {"Content-Type": content_type, **AUTH})

    def report(self, scan_id, accept=REPORT_MT):
        return http("GET", f"{self.base}/scan/{scan_id}/report",
                    headers={"Accept": accept, **AUTH})

    def wait_report(self, scan_id, statuses=None):
        def done():
            st, hdrs, body = self.report(scan_id)
            if statuses is not None:
                statuses.append(st)
            if st == 302:
                self.assertGreaterEqual(int(hdrs["Refresh-After"]), 1)
                return None
            return st, hdrs, body
        return procs.wait_for(done, timeout=120, interval=0.2, what=f"report of scan {scan_id}")

    def error_message(self, body):
        doc = json.loads(body)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])
        return doc["error"]["message"]

    def test_api_follows_the_spec_and_matches_sealift_scan(self):
        st, hdrs, body = http("GET", f"{self.base}/metadata", headers=AUTH)
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith(
            "application/vnd.scanner.adapter.metadata+json"))
        meta = json.loads(body)
        self.assertEqual(meta["scanner"]["name"], "sealift")
        caps = meta["capabilities"]
        self.assertTrue(any(OCI_MT in c["consumes_mime_types"]
                            and DOCKER_MT in c["consumes_mime_types"]
                            and REPORT_MT in c["produces_mime_types"] for c in caps))

        # one worker held by a scan pulling from a registry that never answers: the next scan
        # waits in the queue, so its report is 302 + Refresh-After until the worker is free
        self.adapter.stop()
        self.start_adapter(workers=1)
        silent = SilentRegistry()
        self.addCleanup(silent.close)
        st, _, body = self.post_scan(self.scan_request("bad", f"http://127.0.0.1:{silent.port}"))
        self.assertEqual(st, 202)
        stuck_id = json.loads(body)["id"]
        st, hdrs, body = self.post_scan(self.scan_request("bad"))
        self.assertEqual(st, 202)
        self.assertTrue(hdrs["Content-Type"].startswith(
            "application/vnd.scanner.adapter.scan.response+json"))
        scan_id = json.loads(body)["id"]
        self.assertNotEqual(scan_id, stuck_id)
        self.assertGreaterEqual(len(scan_id), 32)  # random, not a counter
        st, hdrs, _ = self.report(scan_id)
        self.assertEqual(st, 302)
        self.assertEqual(hdrs["Refresh-After"], "1")
        silent.close()
        st, hdrs, body = self.wait_report(stuck_id)
        self.assertEqual(st, 500)
        self.assertIn("scanning", self.error_message(body))
        st, hdrs, body = self.wait_report(scan_id)
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs["Content-Type"], REPORT_MT)
        rep = json.loads(body)
        digest, mt = self.manifest_of("bad")
        self.assertEqual(rep["artifact"], {"repository": "acme/app", "digest": digest,
                                           "mime_type": mt})
        self.assertEqual(rep["scanner"]["name"], "sealift")
        self.assertIn("generated_at", rep)
        self.assertEqual(rep["severity"], "Critical")
        by_id = {v["id"]: v for v in rep["vulnerabilities"]}
        v = by_id["CVE-2099-0001"]
        self.assertEqual((v["package"], v["version"], v["fix_version"], v["severity"]),
                         ("libc6", BAD_LIBC, "2.36-9+deb12u4", "Critical"))
        for item in rep["vulnerabilities"]:
            self.assertIn(item["severity"], ("Unknown", "Negligible", "Low", "Medium", "High",
                                             "Critical"))

        # the same findings as `sealift scan --format json`
        cli = scanlib.scan(f"{self.vendor.host}/acme/app:bad", self.adv, creds=V)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        names = {"None": "Negligible"}

        def key_cli(f):
            return (f["id"], f["package"], f["installedVersion"], f["fixedVersion"] or "",
                    names.get(f["severity"], f["severity"]))

        def key_adapter(f):
            return (f["id"], f["package"], f["version"], f.get("fix_version", ""), f["severity"])
        expected = sorted(key_cli(f) for f in json.loads(cli.stdout)["vulnerabilities"])
        self.assertGreater(len(expected), 1)
        self.assertEqual(sorted(key_adapter(f) for f in rep["vulnerabilities"]), expected)

        # errors, each with the spec's error body
        st, _, body = self.report("0123456789abcdef0123456789abcdef")
        self.assertEqual(st, 404)
        self.error_message(body)
        st, _, body = self.post_scan(b"{not json")
        self.assertEqual(st, 400)
        self.error_message(body)
        st, _, body = self.post_scan({"registry": {"url": f"http://{self.vendor.host}"}})
        self.assertEqual(st, 400)
        self.assertIn("artifact", self.error_message(body))
        bad_digest = self.scan_request("bad")
        bad_digest["artifact"]["digest"] = "latest"
        st, _, body = self.post_scan(bad_digest)
        self.assertEqual(st, 400)
        self.assertIn("artifact.digest", self.error_message(body))
        helm = self.scan_request("bad")
        helm["artifact"]["mime_type"] = "application/vnd.cncf.helm.config.v1+json"
        st, _, body = self.post_scan(helm)
        self.assertEqual(st, 422)
        self.assertIn("mime_type", self.error_message(body))
        st, _, body = self.post_scan(self.scan_request("bad"), content_type="text/plain")
        self.assertEqual(st, 415)
        self.error_message(body)
        st, _, body = self.report(scan_id, accept="application/vnd.example.sbom")
        self.assertEqual(st, 406)
        self.error_message(body)
        # the clean image: no glibc finding left (what remains is below High)
        st, _, body = self.post_scan(self.scan_request("good"))
        self.assertEqual(st, 202)
        st, _, body = self.wait_report(json.loads(body)["id"])
        self.assertEqual(st, 200)
        good = json.loads(body)["vulnerabilities"]
        self.assertFalse([v for v in good if v["package"] == "libc6"])
        self.assertFalse([v for v in good if v["severity"] in ("Critical", "High")])

    # ---- (b) sealift's client: the ScanPolicy's scanner.harbor gates deliveries ----

    def test_adapter_fails_a_scan_it_could_not_inspect(self):
        """A layer entry the scanner cannot apply (an unknown tar type) must not yield a
        clean-looking vulnerability report: the scan fails and says which entry."""
        import hostile  # tests/data/scan/hostile.py (scanlib puts its folder on sys.path)
        tar_bytes, _, _ = hostile.tar_cases()["unknown-type"]
        layout = os.path.join(self.tmp, "hostile-layout")
        hostile.oci_layout(layout, tar_bytes)
        scanlib.skopeo_push(layout, "t", f"{self.vendor.host}/acme/app:hostile", V)
        st, _, body = self.post_scan(self.scan_request("hostile"))
        self.assertEqual(st, 202)
        st, _, body = self.wait_report(json.loads(body)["id"])
        self.assertEqual(st, 500)
        msg = self.error_message(body)
        self.assertIn("1 layer entries could not be inspected", msg)
        self.assertIn("weird: tar entry type 'Z'", msg)

    def token_secret(self, name, token):
        self.kube.kubectl("create", "secret", "generic", name, "-n", NS,
                          f"--from-literal=token={token}")

    def harbor_policy(self, url, name="harbor", secret="adapter-token", ca_secret=None):
        """A ScanPolicy using the adapter at url with the token Secret (created here the first
        time it is named) and, with ca_secret, a private CA."""
        if secret and not getattr(self, "_secrets", {}).get(secret):
            self.token_secret(secret, TOKEN if secret == "adapter-token" else "not-the-token")
            self._secrets = {**getattr(self, "_secrets", {}), secret: True}
        harbor = f"url: '{url}'"
        if secret:
            harbor += f", secretRef: {{name: {secret}}}"
        if ca_secret:
            harbor += f", certSecretRef: {{name: {ca_secret}}}"
        self.apply(
            "apiVersion: sealift.dev/v1beta1\nkind: ScanPolicy\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            "spec:\n  severityThreshold: High\n"
            f"  scanner:\n    harbor: {{{harbor}}}\n")

    def policy_ready(self, name, status="True", reason=None, timeout=60):
        def check():
            obj = self.get(name, kind="scanpolicies")
            c = self.condition(obj, "Ready")
            if c and c["status"] == status and (reason is None or c["reason"] == reason):
                return obj
            return None
        return procs.wait_for(check, timeout=timeout, interval=0.2,
                              what=f"ScanPolicy {name} Ready={status} {reason or ''}")

    def assert_status_scanner(self, name):
        """status.scanner is sealift's adapter, also as the SCANNER column of -o wide."""
        out = self.kube.kubectl("get", "scanpolicy", name, "-n", NS, "-o",
                                "jsonpath={.status.scanner.name}/{.status.scanner.vendor}/"
                                "{.status.scanner.version}").stdout.strip()
        version = procs.run([procs.SEALIFT, "--version"]).stdout.split()[1]  # "sealift V (commit C)"
        self.assertEqual(out, f"sealift/sealift/{version}")
        rows = self.kube.kubectl("get", "scanpol", name, "-n", NS, "-o", "wide").stdout
        header, row = rows.strip().splitlines()[:2]
        # RECORDS is empty for an adapter: cut the row at the header's column offsets
        start = header.index("SCANNER")
        self.assertEqual(row[start:header.index("READY")].strip(), "sealift", rows)
        self.assertEqual(header.split()[:8], ["NAME", "THRESHOLD", "ACTION", "RECORDS", "DB",
                                              "AGE", "SCANNER", "READY"])

    def token_registry(self, tags=("bad", "good", "mid")):
        """A docker-registry with Bearer-token auth holding acme/app:<tags>, and the pull Secret
        "tok-pull" for it; returns (registry, token server)."""
        tokens = reg.TokenServer(self, users={VENDOR[0]: VENDOR[1]})
        tokreg = reg.Registry(self, "vendor-tok", users={VENDOR[0]: VENDOR[1]},
                              token=tokens.registry_auth())
        layout = scanlib.debian_layout(os.path.join(self.tmp, "deb-layout-tok"),
                                       {"bad": BAD_LIBC, "good": GOOD_LIBC, "mid": MID_LIBC})
        for tag in tags:
            scanlib.skopeo_push(layout, tag, f"{tokreg.host}/acme/app:{tag}", V)
        self.docker_secret("tok-pull", tokreg.host, *VENDOR)
        return tokreg, tokens

    def scanned_delivery(self, name, tag, source=None, secret="vendor-pull", policy="harbor"):
        self.delivery(name, f"{source or self.vendor.host}/acme/app",
                      [(f"{self.customer.host}/mirror/{name}", "customer-push")],
                      extra_source=f"    tags: ['{tag}']\n",
                      extra_spec=f"  scanPolicyRef: {{name: {policy}}}\n", interval="2s",
                      source_secret=secret)

    def test_scan_policy_with_harbor_adapter_gates_delivery(self):
        tokreg, tokens = self.token_registry()
        self.harbor_policy(f"http://127.0.0.1:{self.port}")
        pol = self.policy_ready("harbor")
        c = self.condition(pol, "Ready")
        self.assertEqual(c["reason"], "ScannerReady")
        self.assertIn(f"http://127.0.0.1:{self.port}", c["message"])
        self.assertIn("sealift", c["message"])
        self.assert_status_scanner("harbor")

        self.scanned_delivery("bad", "bad", tokreg.host, "tok-pull")
        obj = self.wait_reason("bad", "ScanFailed", ctype="Scanned", timeout=90)
        scanned = self.condition(obj, "Scanned")
        self.assertEqual(scanned["status"], "False")
        self.assertIn("CVE-2099-0001 (Critical) in libc6 2.36-9+deb12u1, fixed in 2.36-9+deb12u4",
                      scanned["message"])
        img = obj["status"]["images"][0]
        self.assertEqual(img["scan"]["result"], "Failed")
        self.assertEqual(img["scan"]["critical"], 1)
        self.assertEqual(img["scan"]["policy"], "harbor")
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))
        # the adapter pulled with the pull token the controller got for acme/app
        self.assertIn("scan ", self.adapter.output())
        self.assertIn(": done", self.adapter.output())
        self.assertTrue(any("repository%3Aacme%2Fapp%3Apull" in line
                            and "push" not in line for line in tokens.requests()),
                        tokens.requests())

        self.scanned_delivery("good", "good", tokreg.host, "tok-pull")
        obj = self.wait_ready("good", timeout=90)
        self.assertEqual(obj["status"]["images"][0]["scan"]["result"], "Passed")
        src = self.digest_at(f"{tokreg.host}/acme/app:good", V)
        self.assertEqual(self.digest_at(f"{self.customer.host}/mirror/good:good", C), src)

        # a Basic-only (htpasswd) source registry: the adapter gets no credential, cannot
        # pull, and the message says why
        self.scanned_delivery("basic", "mid")
        obj = self.wait_reason("basic", "ScannerError", ctype="Scanned", timeout=90)
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn("the adapter got no registry credential", msg)
        self.assertIn("Basic", msg)
        self.assertNotIn(VENDOR[1], msg)

        # the adapter goes away: a new digest cannot be scanned, and says why
        self.adapter.stop()
        self.scanned_delivery("mid", "mid", tokreg.host, "tok-pull")
        obj = self.wait_reason("mid", "ScannerError", ctype="Scanned", timeout=90)
        msg = self.condition(obj, "Scanned")["message"]
        self.assertIn(f"scanner adapter http://127.0.0.1:{self.port}", msg)
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/mid:mid", C))

    # ---- (c) authentication ----

    def test_adapter_requires_its_token(self):
        scan_body = json.dumps(self.scan_request("good")).encode()
        endpoints = [("GET", f"{self.base}/metadata", None, {}),
                     ("POST", f"{self.base}/scan", scan_body, {"Content-Type": REQUEST_MT}),
                     ("GET", f"{self.base}/scan/0123456789abcdef0123456789abcdef/report", None,
                      {"Accept": REPORT_MT})]
        basic_wrong = "Basic " + base64.b64encode(b"harbor:wrong").decode()
        for method, url, body, hdrs in endpoints:
            for bad in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": basic_wrong},
                        {"X-ScannerAdapter-API-Key": "wrong"},
                        {"Authorization": TOKEN}):  # no scheme
                st, rh, rb = http(method, url, body, {**hdrs, **bad})
                self.assertEqual(st, 401, (method, url, bad))
                self.assertTrue(rh["Content-Type"].startswith(
                    "application/vnd.scanner.adapter.error+json"))
                self.assertIn("unauthorized", self.error_message(rb))
                self.assertIn("Bearer", rh["WWW-Authenticate"])
        # nothing was scanned for the unauthenticated POSTs
        self.assertNotIn(": done", self.adapter.output())
        # every form a Harbor scanner registration sends
        basic = "Basic " + base64.b64encode(f"harbor:{TOKEN}".encode()).decode()
        for good in (AUTH, {"Authorization": basic}, {"X-ScannerAdapter-API-Key": TOKEN}):
            st, _, body = http("GET", f"{self.base}/metadata", headers=good)
            self.assertEqual(st, 200, good)
            self.assertEqual(json.loads(body)["scanner"]["name"], "sealift")
        st, _, body = http("POST", f"{self.base}/scan", scan_body,
                           {"Content-Type": REQUEST_MT, "X-ScannerAdapter-API-Key": TOKEN})
        self.assertEqual(st, 202)
        st, _, _ = self.wait_report(json.loads(body)["id"])
        self.assertEqual(st, 200)
        self.assertNotIn(TOKEN, self.adapter.output())

        # a ScanPolicy with the wrong token: ScannerError naming the 401
        self.harbor_policy(self.url, name="wrongtoken", secret="wrong-token")
        pol = self.policy_ready("wrongtoken", status="False", reason="ScannerError")
        msg = self.condition(pol, "Ready")["message"]
        self.assertIn("HTTP 401", msg)
        self.assertIn("unauthorized", msg)
        self.assertIn(self.url, msg)
        self.assertNotIn("not-the-token", msg)
        self.assertNotIn("scanner", pol.get("status", {}))
        # no credentials at all: the same
        self.harbor_policy(self.url, name="nocreds", secret=None)
        pol = self.policy_ready("nocreds", status="False", reason="ScannerError")
        self.assertIn("HTTP 401", self.condition(pol, "Ready")["message"])

        # without --token-file the adapter does not start, unless --no-auth says so
        port = procs.free_port()
        cp = procs.run([procs.SEALIFT, "scanner-adapter", "--listen", f"127.0.0.1:{port}",
                        "--db", self.adv], check=False, timeout=30)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("--token-file", cp.stderr)
        self.assertIn("--no-auth", cp.stderr)
        cp = procs.run([procs.SEALIFT, "scanner-adapter", "--listen", f"127.0.0.1:{port}",
                        "--db", self.adv, "--no-auth", "--token-file", self.token_file],
                       check=False, timeout=30)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        empty = os.path.join(self.tmp, "empty.token")
        open(empty, "w").close()
        cp = procs.run([procs.SEALIFT, "scanner-adapter", "--listen", f"127.0.0.1:{port}",
                        "--db", self.adv, "--token-file", empty], check=False, timeout=30)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("empty", cp.stderr)
        self.adapter.stop()
        self.start_adapter(auth=("--no-auth",))
        st, _, _ = http("GET", f"{self.base}/metadata")
        self.assertEqual(st, 200)
        self.assertIn("WARNING: --no-auth", self.adapter.output())

    # ---- (d) TLS ----

    def test_adapter_over_tls_with_private_ca(self):
        tls = tlsgen.make_serving_cert(os.path.join(self.tmp, "tls"))
        self.adapter.stop()
        self.start_adapter(tls_dir=tls)
        self.assertTrue(self.url.startswith("https://"))
        cafile = os.path.join(tls, "ca.crt")
        st, _, body = http("GET", f"{self.base}/metadata", headers=AUTH, cafile=cafile)
        self.assertEqual(st, 200)
        st, _, _ = http("GET", f"{self.base}/metadata", cafile=cafile)
        self.assertEqual(st, 401)
        self.kube.kubectl("create", "secret", "generic", "adapter-ca", "-n", NS,
                          f"--from-file=ca.crt={cafile}")

        # without the CA: the adapter's certificate cannot be verified
        self.harbor_policy(self.url, name="noca")
        pol = self.policy_ready("noca", status="False", reason="ScannerError")
        msg = self.condition(pol, "Ready")["message"]
        self.assertIn("certificate verification failed", msg)
        self.assertIn(self.url, msg)
        self.assertIn("certSecretRef", msg)

        # with the CA: Ready, and it gates a delivery through the TLS adapter
        self.harbor_policy(self.url, ca_secret="adapter-ca")
        pol = self.policy_ready("harbor", reason="ScannerReady")
        self.assertIn(self.url, self.condition(pol, "Ready")["message"])
        self.assert_status_scanner("harbor")
        tokreg, _ = self.token_registry(tags=("good",))
        self.scanned_delivery("good", "good", tokreg.host, "tok-pull")
        obj = self.wait_ready("good", timeout=90)
        self.assertEqual(obj["status"]["images"][0]["scan"]["result"], "Passed")
        self.assertIn(": done", self.adapter.output())


    def test_adapter_requires_client_certificate(self):
        tls = tlsgen.make_serving_cert(os.path.join(self.tmp, "tls"))
        clients = tlsgen.make_serving_cert(os.path.join(self.tmp, "clients-ca"))  # its CA only
        crt, key = tlsgen.make_client_cert(os.path.join(self.tmp, "client"), clients, "sealift")
        self.adapter.stop()
        self.start_adapter(tls_dir=tls, client_ca=os.path.join(clients, "ca.crt"))
        procs.wait_for(lambda: "client certificate required" in self.adapter.output(),
                       timeout=30, interval=0.2, what="the adapter's listening line")
        cafile = os.path.join(tls, "ca.crt")
        # the adapter refuses the TLS session itself, the token does not matter
        with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            http("GET", f"{self.base}/metadata", headers=AUTH, cafile=cafile)
        self.kube.kubectl("create", "secret", "generic", "adapter-ca", "-n", NS,
                          f"--from-file=ca.crt={cafile}")
        self.kube.kubectl("create", "secret", "generic", "adapter-mtls", "-n", NS,
                          f"--from-file=ca.crt={cafile}", f"--from-file=tls.crt={crt}",
                          f"--from-file=tls.key={key}")

        # the CA only: the adapter ends the handshake, and the policy says why. Under load the
        # adapter's close can reach the client as a reset before its TLS alert does; that try
        # reads as "unreachable" and is retried, so the test waits for the answer that names
        # the certificate, as a user reading the condition again would.
        self.harbor_policy(self.url, name="nocert", ca_secret="adapter-ca")
        want = "the adapter requires a TLS client certificate and none was presented"

        def said_why():
            obj = self.get("nocert", kind="scanpolicies")
            c = self.condition(obj, "Ready")
            if c and c["status"] == "False" and c["reason"] == "ScannerError" \
                    and want in c["message"]:
                return c["message"]
            return None
        msg = procs.wait_for(said_why, timeout=90, interval=0.2,
                             what="ScanPolicy nocert ScannerError naming the client certificate")
        self.assertIn(self.url, msg)

        # with the client certificate: Ready, and the gate blocks the vulnerable tag
        self.harbor_policy(self.url, ca_secret="adapter-mtls")
        pol = self.policy_ready("harbor", reason="ScannerReady")
        self.assertIn(self.url, self.condition(pol, "Ready")["message"])
        tokreg, _ = self.token_registry(tags=("bad",))
        self.scanned_delivery("bad", "bad", tokreg.host, "tok-pull")
        obj = self.wait_reason("bad", "ScanFailed", ctype="Scanned", timeout=90)
        self.assertIn("CVE-2099-0001 (Critical)", self.condition(obj, "Scanned")["message"])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/bad:bad", C))
        self.assertIn(": done", self.adapter.output())
        # the key is in no status or event
        with open(key) as f:
            key_body = "".join(f.read().strip().splitlines()[1:-1])[:40]
        seen = (self.kube.kubectl("get", "scanpolicies,imagedeliveries,events", "-n", NS,
                                  "-o", "json").stdout)
        self.assertNotIn(key_body, seen)
        self.assertNotIn("PRIVATE KEY", seen)

    # ---- (e) what a tenant's ScanPolicy can make the controller send ----

    def wait_scan_request(self, adapter, host):
        """The first ScanRequest adapter received for the source registry host."""
        def find():
            for r in adapter.scan_requests():
                if r["registry"]["url"].endswith("//" + host):
                    return r
            return None
        return procs.wait_for(find, timeout=90, interval=0.2,
                              what=f"a ScanRequest for {host}")

    def test_scan_policy_cannot_choose_where_credentials_go(self):
        tokreg, _ = self.token_registry(tags=("good",))

        # an adapter the administrator did not list (http://attacker): nothing is sent to it
        rogue = RecordingAdapter()
        self.addCleanup(rogue.close)
        self.harbor_policy(rogue.url, name="rogue", secret=None)
        pol = self.policy_ready("rogue", status="False", reason="ScannerURLNotAllowed")
        msg = self.condition(pol, "Ready")["message"]
        self.assertIn("--scanner-url", msg)
        self.assertIn(rogue.url, msg)
        self.scanned_delivery("to-rogue", "good", tokreg.host, "tok-pull", policy="rogue")
        obj = self.wait_reason("to-rogue", "ScanPolicyNotReady", ctype="Scanned", timeout=90)
        self.assertIn('ScanPolicy "rogue"', self.condition(obj, "Scanned")["message"])
        self.assertEqual(rogue.requests, [])
        self.assertFalse(self.exists(f"{self.customer.host}/mirror/to-rogue:good", C))

        # a listed https adapter: a pull token for acme/app, never the password
        tls = tlsgen.make_serving_cert(os.path.join(self.tmp, "rec-tls"))
        rec = RecordingAdapter(tls_dir=tls, port=self.recorder_port)
        self.addCleanup(rec.close)
        self.kube.kubectl("create", "secret", "generic", "rec-ca", "-n", NS,
                          f"--from-file=ca.crt={os.path.join(tls, 'ca.crt')}")
        self.harbor_policy(rec.url, name="rec", secret=None, ca_secret="rec-ca")
        self.policy_ready("rec", reason="ScannerReady")
        self.scanned_delivery("tok", "good", tokreg.host, "tok-pull", policy="rec")
        sr = self.wait_scan_request(rec, tokreg.host)
        auth = sr["registry"]["authorization"]
        self.assertTrue(auth.startswith("Bearer "), auth[:20])
        token = auth[len("Bearer "):]
        basic = base64.b64encode(V.encode()).decode()
        for secret in (VENDOR[1], basic):
            self.assertNotIn(secret, auth)
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual(claims["access"],
                         [{"type": "repository", "name": "acme/app", "actions": ["pull"]}])
        self.assertEqual(sr["artifact"]["repository"], "acme/app")

        # a Basic-only source registry (htpasswd): no credential at all
        # (another digest: results are cached per digest, whatever registry it came from)
        self.scanned_delivery("basic", "mid", policy="rec")
        sr = self.wait_scan_request(rec, self.vendor.host)
        self.assertNotIn("authorization", sr["registry"])
        for r in rec.requests:
            self.assertNotIn(VENDOR[1].encode(), r["body"])
            self.assertNotIn(basic.encode(), r["body"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
