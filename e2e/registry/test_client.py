"""The registry client's calls that `sealift copy` does not make, driven through
e2e/registry/registry_probe.c against a real docker-registry: tag listing across pages (Link
header), referrers with the tag-schema fallback, chunked and monolithic uploads, blob GET with
digest check, manifest HEAD.

HostileRegistryTest performs the attacks of a hostile registry on the client (e2e/lib/hostile.py):
credentials lured to another host (a plain-http token realm, a tag-list Link, an upload Location),
a tag name that climbs out of its repository, and a tag list too big for memory.

usage: test_client.py PROBE_BINARY [unittest args]
"""
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from procs import BUILD, TempDirTestCase  # noqa: E402
import hostile  # noqa: E402
import registry as reg  # noqa: E402

PROBE = os.path.join(BUILD, "e2e", "registry", "registry_probe")


class ClientTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.r = reg.Registry(self, "vendor", users={"alice": "alice-pw"})
        self.creds = self.r.creds()

    def probe(self, *args, check=True, env=None, host=None):
        cp = subprocess.run([PROBE, host or self.r.host, self.creds, *args],
                            capture_output=True, timeout=120, env=env)
        if check:
            self.assertEqual(cp.returncode, 0, cp.stderr.decode())
        return cp

    def put_manifest(self, repo, ref, data, media_type):
        req = urllib.request.Request(f"http://{self.r.host}/v2/{repo}/manifests/{ref}",
                                     data=data, method="PUT")
        req.add_header("Content-Type", media_type)
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(self.creds.encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.assertEqual(resp.status, 201)

    def seed(self):
        layout = reg.Layout(os.path.join(self.tmp, "layout"))
        desc = layout.image([10 * 1024], seed=3)
        layout.tag(desc, "v0")
        reg.push(layout.path, "v0", f"{self.r.host}/acme/app:v0", self.creds)
        return desc, reg.inspect_raw(f"{self.r.host}/acme/app:v0", self.creds)

    def test_tags_pagination(self):
        desc, raw = self.seed()
        want = {"v0"}
        for i in range(1, 25):
            self.put_manifest("acme/app", f"v{i}", raw, reg.OCI_MANIFEST)
            want.add(f"v{i}")
        # distribution 2.8 returns every tag at once; the proxy pages like newer registries
        pager = reg.FaultProxy(self, self.r.host, "none", 0, name="pager", paginate_tags=True)
        out = self.probe("tags", "acme/app", "10", host=pager.host).stdout.decode().split()
        self.assertEqual(sorted(out), sorted(want))
        self.assertEqual(len(out), 25)
        # three pages: the first request, then two following the Link header
        self.assertEqual(pager.pages(), ["/v2/acme/app/tags/list?n=10",
                                         "/v2/acme/app/tags/list?last=v17&n=10",
                                         "/v2/acme/app/tags/list?last=v4&n=10"])
        # and straight from the registry (one page)
        out = self.probe("tags", "acme/app", "0").stdout.decode().split()
        self.assertEqual(sorted(out), sorted(want))

    def test_referrers_tag_schema_fallback(self):
        desc, raw = self.seed()
        empty = json.loads(self.probe("referrers", "acme/app", desc["digest"]).stdout)
        self.assertEqual(empty["manifests"], [])
        # an index stored under the fallback tag sha256-<hex> is what the client returns
        ref_index = json.dumps({"schemaVersion": 2, "mediaType": reg.OCI_INDEX, "manifests": [
            {"mediaType": reg.OCI_MANIFEST, "digest": desc["digest"], "size": desc["size"],
             "artifactType": "application/vnd.example.sig"}]}).encode()
        self.put_manifest("acme/app", "sha256-" + desc["digest"][7:], ref_index, reg.OCI_INDEX)
        got = self.probe("referrers", "acme/app", desc["digest"]).stdout
        self.assertEqual(got, ref_index)

    def test_chunked_and_monolithic_upload(self):
        path = os.path.join(self.tmp, "blob.bin")
        data = os.urandom(300 * 1024 + 7)
        with open(path, "wb") as f:
            f.write(data)
        want = "sha256:" + hashlib.sha256(data).hexdigest()
        self.assertEqual(self.probe("upload", "acme/blobs", path, "65536").stdout.decode()
                         .strip(), want)
        self.assertEqual(self.r.count_requests("PATCH", "/v2/acme/blobs/blobs/uploads/"), 5)
        self.assertEqual(self.probe("blob", "acme/blobs", want).stdout, data)
        path2 = os.path.join(self.tmp, "blob2.bin")
        data2 = os.urandom(1000)
        with open(path2, "wb") as f:
            f.write(data2)
        d2 = self.probe("upload", "acme/blobs", path2, "0").stdout.decode().strip()
        self.assertEqual(self.probe("blob", "acme/blobs", d2).stdout, data2)

    def test_head_and_errors(self):
        desc, raw = self.seed()
        self.assertEqual(self.probe("head", "acme/app", "v0").stdout.decode().strip(),
                         desc["digest"])
        cp = self.probe("head", "acme/app", "missing", check=False)
        self.assertEqual(cp.returncode, 3)
        self.assertIn("not found", cp.stderr.decode())
        self.creds = "alice:wrong"
        cp = self.probe("head", "acme/app", "v0", check=False)
        self.assertEqual(cp.returncode, 3)
        self.assertIn("rejected the credentials", cp.stderr.decode())

    def test_request_timeout_frees_the_caller_from_a_silent_registry(self):
        # a registry that accepts connections and never answers: with a request timeout the
        # call ends with a remote error naming the timeout (instead of waiting for the 60 s
        # stall limit), after trying again on a new connection
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        self.addCleanup(hole.close)
        env = dict(os.environ, PROBE_REQUEST_TIMEOUT_MS="300", PROBE_MAX_ATTEMPTS="2")
        cp = self.probe("head", "acme/app", "v0", check=False, env=env,
                        host="127.0.0.1:%d" % hole.getsockname()[1])
        self.assertEqual(cp.returncode, 3, cp.stderr.decode())
        self.assertIn("unreachable", cp.stderr.decode())
        self.assertRegex(cp.stderr.decode(), r"timed out after [0-9]+ milliseconds")
        accepted = []
        hole.settimeout(0.1)
        try:
            while True:
                accepted.append(hole.accept()[0])
        except OSError:
            pass
        for c in accepted:
            c.close()
        self.assertGreaterEqual(len(accepted), 2, "the second attempt used a new connection")


class TLSTest(TempDirTestCase):
    """TLS verification is on unless asked otherwise; a private CA makes it pass."""

    def setUp(self):
        super().setUp()
        self.ca, crt, key = reg.make_tls(os.path.join(self.tmp, "tls"))
        self.r = reg.Registry(self, "secure", users={"alice": "alice-pw"}, tls=(crt, key))
        layout = reg.Layout(os.path.join(self.tmp, "layout"))
        self.desc = layout.image([20 * 1024], seed=4)
        layout.tag(self.desc, "1.0")
        reg.push(layout.path, "1.0", f"{self.r.host}/acme/app:1.0", self.r.creds())

    def probe_head(self, **env):
        e = dict(os.environ, PROBE_SECURE="1", **env)
        return subprocess.run([PROBE, self.r.host, self.r.creds(), "head", "acme/app", "1.0"],
                              capture_output=True, text=True, timeout=60, env=e)

    def test_private_ca(self):
        cp = self.probe_head()
        self.assertEqual(cp.returncode, 3, cp.stdout)
        self.assertIn("certificate", cp.stderr.lower())
        cp = self.probe_head(PROBE_CA_FILE=self.ca)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), self.desc["digest"])

    def test_cli_verifies_unless_insecure(self):
        from procs import SEALIFT
        other = reg.Registry(self, "plain", users={"bob": "bob-pw"})
        src = f"{self.r.host}/acme/app:1.0"
        dst = f"{other.host}/mirror/app:1.0"
        cp = subprocess.run([SEALIFT, "copy", src, dst, "--src-creds", self.r.creds(),
                             "--dest-creds", other.creds(), "--dest-insecure"],
                            capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 3, cp.stdout)
        self.assertIn("certificate", cp.stderr.lower())
        cp = subprocess.run([SEALIFT, "copy", src, dst, "--src-creds", self.r.creds(),
                             "--dest-creds", other.creds(), "--dest-insecure",
                             "--src-insecure"], capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), self.desc["digest"])


BAD_TAG = "1.4./../../../../victim/app/manifests/latest"


class HostileRegistryTest(TempDirTestCase):
    """A registry that wants the client's credentials, or its memory. The "other" server records
    what reached it: it must never see the registry's Authorization header."""

    CREDS = "alice:alice-pw"

    def probe(self, host, *args, env=None):
        return subprocess.run([PROBE, host, self.CREDS, *args], capture_output=True, timeout=120,
                              env=dict(os.environ, **(env or {})))

    def test_token_realm_on_plain_http_gets_no_credentials(self):
        other = hostile.Server(self, lambda srv, h: hostile.send(h, 200, {"token": "stolen"}))
        ca, crt, key = reg.make_tls(os.path.join(self.tmp, "tls"))

        def registry(srv, h):
            realm = f'Bearer realm="http://{other.host}/token",service="hostile"'
            hostile.send(h, 401, {"errors": [{"code": "UNAUTHORIZED"}]},
                         {"WWW-Authenticate": realm})
        https = hostile.Server(self, registry, tls=(crt, key))
        cp = self.probe(https.host, "head", "acme/app", "v0",
                        env={"PROBE_SECURE": "1", "PROBE_CA_FILE": ca})
        self.assertEqual(cp.returncode, 3, cp.stdout)
        self.assertIn("is not https", cp.stderr.decode())
        self.assertIn(https.host, cp.stderr.decode())
        self.assertEqual(other.requests(), [], "the http realm was never asked")

    def test_tag_list_link_to_another_host(self):
        other = hostile.Server(self, lambda srv, h: hostile.send(h, 200, {"tags": ["b"]}))

        def registry(srv, h):
            if hostile.basic_challenge(h):
                return
            if h.path.startswith("/v2/acme/app/tags/list"):
                link = f'<http://{other.host}/v2/acme/app/tags/list?last=a&n=1>; rel="next"'
                hostile.send(h, 200, {"tags": ["a"]}, {"Link": link})
            else:
                hostile.send(h, 200, {})
        srv = hostile.Server(self, registry)
        cp = self.probe(srv.host, "tags", "acme/app", "1")
        self.assertEqual(cp.returncode, 0, cp.stderr.decode())
        self.assertEqual(cp.stdout.decode().split(), ["a", "b"])
        self.assertEqual(len(other.requests()), 1)
        self.assertEqual(other.with_auth(), [], "credentials went to the Link's host")
        self.assertTrue(srv.with_auth(), "the registry itself got them")

    def test_upload_location_on_another_host(self):
        data = os.urandom(3000)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = os.path.join(self.tmp, "blob")
        with open(path, "wb") as f:
            f.write(data)
        other = hostile.Server(self, lambda srv, h: hostile.send(
            h, 201, b"", {"Docker-Content-Digest": digest}))

        def registry(srv, h):
            if hostile.basic_challenge(h):
                return
            if h.command == "POST":
                hostile.send(h, 202, b"", {"Location": f"http://{other.host}/upload/1"})
            else:
                hostile.send(h, 200, {})
        srv = hostile.Server(self, registry)
        self.probe(srv.host, "upload", "acme/blobs", path, "0")
        puts = [r for r in other.requests() if r["method"] == "PUT"]
        self.assertEqual(len(puts), 1, other.requests())
        self.assertEqual(other.with_auth(), [], "credentials went to the Location's host")

    def test_tag_list_with_a_tag_that_leaves_the_repository(self):
        def registry(srv, h):
            if hostile.basic_challenge(h):
                return
            hostile.send(h, 200, {"name": "acme/app", "tags": ["1.4.0", BAD_TAG]})
        srv = hostile.Server(self, registry)
        cp = self.probe(srv.host, "tags", "acme/app", "0")
        self.assertEqual(cp.returncode, 3, cp.stdout)
        err = cp.stderr.decode()
        self.assertIn("invalid tag name", err)
        self.assertIn(BAD_TAG, err)
        self.assertIn(srv.host, err)

    def test_tag_list_bounded_across_pages(self):
        # every page is 1 MiB and links to another: a bound per page alone lets them pile up
        def registry(srv, h):
            if hostile.basic_challenge(h):
                return
            n = len(srv.requests())
            body = json.dumps({"tags": [f"t{n}"]}).encode() + b" " * (1 << 20)
            link = f'</v2/acme/app/tags/list?last=t{n}&n=1>; rel="next"'
            hostile.send(h, 200, body, {"Link": link})
        srv = hostile.Server(self, registry)
        cp = self.probe(srv.host, "tags", "acme/app", "1")
        self.assertEqual(cp.returncode, 3, cp.stdout[:200])
        err = cp.stderr.decode()
        self.assertIn("larger than 16 MiB", err)
        self.assertIn(srv.host, err)
        self.assertLess(len(srv.requests()), 40)


if __name__ == "__main__":
    unittest.main(verbosity=2)
