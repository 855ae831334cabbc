"""sealift's own image and release flow: hack/image.sh builds a reproducible OCI layout that the
real oras reads, whose root filesystem runs `sealift version` (chroot as the image's non-root
user) and holds no shell; hack/release.sh delivers it with `sealift copy` to a real
docker-registry, scans it (report next to the image) and signs it, and refuses to sign when the
scan finds a Critical vulnerability."""
import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

import procs
import registry as reglib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scan"))
import scanlib  # noqa: E402  (e2e/scan: the advisory data the scan tests use)

SOURCE_URL = "https://example.invalid/sealift"


def image_sh(out, env_extra=None):
    env = dict(os.environ, SEALIFT_SOURCE_URL=SOURCE_URL, **(env_extra or {}))
    r = subprocess.run(["bash", os.path.join(procs.SRC, "hack", "image.sh"), out],
                       capture_output=True, text=True, timeout=900, env=env)
    if r.returncode != 0:
        raise AssertionError(f"hack/image.sh failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout.strip()


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sealift-e2e-image-")
        cls.a = os.path.join(cls.tmp, "a")
        cls.b = os.path.join(cls.tmp, "b")
        cls.digest_a = image_sh(cls.a)
        cls.digest_b = image_sh(cls.b)
        cls.commit = subprocess.run(["sh", os.path.join(procs.SRC, "hack", "build-commit.sh"),
                                     procs.SRC], capture_output=True, text=True).stdout.strip()

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("SEALIFT_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def oras(self, *args):
        r = subprocess.run([procs.peer("oras"), *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def platform_manifest(self, layout):
        index = json.loads(self.oras("manifest", "fetch", "--oci-layout", f"{layout}:0.1.0"))
        (desc,) = index["manifests"]
        return index, json.loads(self.oras("manifest", "fetch", "--oci-layout",
                                           f"{layout}@{desc['digest']}"))

    def test_two_builds_give_the_same_digest(self):
        self.assertRegex(self.digest_a, r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(self.digest_a, self.digest_b)
        with open(os.path.join(self.a, "index.json")) as f:
            top = json.load(f)
        self.assertEqual(top["manifests"][0]["digest"], self.digest_a)
        self.assertEqual(top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
                         "0.1.0")
        # another timestamp is another image: the timestamps come from the commit, not the clock
        c = image_sh(os.path.join(self.tmp, "c"), {"SOURCE_DATE_EPOCH": "86400"})
        self.assertNotEqual(c, self.digest_a)

    def test_oras_reads_the_index_platform_and_annotations(self):
        index, manifest = self.platform_manifest(self.a)
        arch = {"amd64": "amd64", "arm64": "arm64"}.get(
            subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                           text=True).stdout.strip())
        self.assertEqual(index["mediaType"], "application/vnd.oci.image.index.v1+json")
        self.assertEqual(index["manifests"][0]["platform"]["os"], "linux")
        self.assertEqual(index["manifests"][0]["platform"]["architecture"], arch)
        ann = manifest["annotations"]
        self.assertEqual(ann["org.opencontainers.image.version"], "0.1.0")
        self.assertEqual(ann["org.opencontainers.image.source"], SOURCE_URL)
        self.assertEqual(ann["org.opencontainers.image.revision"], self.commit)
        ct = int(subprocess.run(["git", "-C", procs.SRC, "log", "-1", "--format=%ct", self.commit],
                                capture_output=True, text=True).stdout)
        self.assertEqual(ann["org.opencontainers.image.created"],
                         datetime.datetime.fromtimestamp(ct, datetime.timezone.utc)
                         .strftime("%Y-%m-%dT%H:%M:%SZ"))
        config = json.loads(blob(self.a, manifest["config"]["digest"]))
        self.assertEqual(config["config"]["User"], "65532:65532")
        self.assertEqual(config["config"]["Entrypoint"], ["/usr/bin/sealift"])

    def test_root_filesystem_runs_sealift_and_has_no_shell(self):
        _, manifest = self.platform_manifest(self.a)
        (layer,) = manifest["layers"]
        layer_path = os.path.join(self.tmp, "layer.tar.gz")
        self.oras("blob", "fetch", "--oci-layout", f"{self.a}@{layer['digest']}",
                  "--output", layer_path)
        rootfs = os.path.join(self.tmp, "rootfs")
        with tarfile.open(layer_path) as t:
            names = t.getnames()
        os.makedirs(rootfs)
        procs.run(["tar", "-xzf", layer_path, "-C", rootfs])
        for path in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "usr/bin/dpkg",
                     "usr/bin/apt", "usr/bin/apt-get", "sbin/apk"):
            self.assertNotIn(path, names)
            self.assertFalse(os.path.lexists(os.path.join(rootfs, path)), path)
        for path in ("usr/bin/sealift", "etc/ssl/certs/ca-certificates.crt",
                     "var/lib/dpkg/status.d/libc6", "var/lib/dpkg/status.d/libcurl4"):
            self.assertIn(path, names)
        want = f"sealift 0.1.0 (commit {self.commit})"
        if os.geteuid() == 0:
            # the image's own loader and libraries, as its user: nothing from the host
            chroot = shutil.which("chroot")
            r = subprocess.run([chroot, "--userspec=65532:65532", rootfs, "/usr/bin/sealift",
                                "version"], capture_output=True, text=True, timeout=60, env={})
            self.assertEqual((r.returncode, r.stdout.strip()), (0, want), r.stderr)
            r = subprocess.run([chroot, rootfs, "/bin/sh", "-c", "true"], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 127, "a shell ran inside the image")
        else:
            libdir = os.path.join(rootfs, "usr", "lib", subprocess.run(
                ["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip())
            loader = next(os.path.join(libdir, n) for n in os.listdir(libdir) if n.startswith("ld-linux"))
            r = subprocess.run([loader, "--library-path", libdir,
                                os.path.join(rootfs, "usr", "bin", "sealift"), "version"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, want), r.stderr)


class ReleaseFlowTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "release", users={"rel": "s3cret"})
        self.creds = self.reg.creds()
        prefix = os.path.join(self.tmp, "release")
        procs.run([procs.SEALIFT, "keygen", "--out", prefix])
        self.key, self.pub = prefix + ".key", prefix + ".pub"
        self.crds = os.path.join(self.tmp, "crds")
        shutil.copytree(os.path.join(procs.SRC, "crds"), self.crds)

    def release(self, db, dest_repo):
        out = os.path.join(self.tmp, "out-" + dest_repo.replace("/", "-"))
        return out, subprocess.run(
            ["bash", os.path.join(procs.SRC, "hack", "release.sh"), out,
             f"{self.reg.host}/build/sealift", f"{self.reg.host}/{dest_repo}",
             "--key", self.key, "--db", db, "--creds", self.creds, "--insecure",
             "--kustomization", os.path.join(self.crds, "kustomization.yaml")],
            capture_output=True, text=True, timeout=900,
            env=dict(os.environ, SEALIFT_SOURCE_URL=SOURCE_URL))

    def test_copy_scan_sign_and_pin(self):
        db = scanlib.advisory_dir(os.path.join(self.tmp, "db"))
        out, r = self.release(db, "sealift")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        dest = f"{self.reg.host}/sealift"
        ref = r.stdout.strip().splitlines()[-1]
        digest = ref.split("@", 1)[1]
        self.assertEqual(ref, f"{dest}@{digest}")
        # the image in the release registry is the layout's, digest for digest
        self.assertEqual(reglib.sha256_digest(reglib.inspect_raw(f"{dest}:0.1.0", self.creds)),
                         digest)
        with open(os.path.join(out, "image", "index.json")) as f:
            self.assertEqual(json.load(f)["manifests"][0]["digest"], digest)
        # the scan report next to the image: the Debian packages were seen, nothing >= High
        with open(os.path.join(out, "scan.json")) as f:
            report = json.load(f)
        self.assertEqual(report["result"], "pass")
        self.assertGreater(report["packages"], 10)
        self.assertEqual((report["summary"]["Critical"], report["summary"]["High"]), (0, 0))
        # signed with the release key: sealift verify passes with the public key
        v = procs.run([procs.SEALIFT, "verify", ref, "--key", self.pub, "--creds", self.creds,
                       "--insecure"], check=False)
        self.assertEqual(v.returncode, 0, v.stderr)
        # and the real cosign agrees (key only: sealift's signatures are in no transparency log)
        dc = os.path.join(self.tmp, "docker")
        os.makedirs(dc)
        with open(os.path.join(dc, "config.json"), "w") as f:
            json.dump({"auths": {self.reg.host: {"auth": base64.b64encode(
                self.creds.encode()).decode()}}}, f)
        c = subprocess.run([procs.peer("cosign"), "verify", "--key", self.pub,
                            "--insecure-ignore-tlog=true", "--allow-http-registry",
                            "--allow-insecure-registry", ref], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, DOCKER_CONFIG=dc))
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertEqual(json.loads(c.stdout)[0]["critical"]["image"]["docker-manifest-digest"],
                         digest)
        # the SBOM and the vulnerability report attached by the release to each platform of the
        # index verify with cosign too
        index = json.loads(reglib.inspect_raw(ref, self.creds))
        children = [m["digest"] for m in index["manifests"]
                    if m.get("platform", {}).get("os") != "unknown"]
        self.assertGreater(len(children), 0)
        for typ in ("spdxjson", "vuln"):
            a = subprocess.run([procs.peer("cosign"), "verify-attestation", "--key", self.pub,
                                "--type", typ, "--insecure-ignore-tlog=true",
                                "--allow-http-registry", "--allow-insecure-registry",
                                f"{dest}@{children[0]}"],
                               capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, DOCKER_CONFIG=dc))
            self.assertEqual(a.returncode, 0, f"{typ}: {a.stderr}")
        with open(os.path.join(out, "digest")) as f:
            self.assertEqual(f.read().strip(), ref)
        # the kustomization now installs exactly this build
        k = subprocess.run(["kubectl", "kustomize", self.crds], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertIn(f"image: {ref}\n", k.stdout)
        self.assertNotIn("image: sealift:0.1.0", k.stdout)

    def test_a_critical_finding_stops_the_release_before_signing(self):
        db = os.path.join(self.tmp, "critical")
        os.makedirs(db)
        with open(os.path.join(db, "glibc.json"), "w") as f:
            json.dump([{"id": "CVE-2099-0100", "modified": "2026-01-01T00:00:00Z",
                        "summary": "test: every glibc",
                        "database_specific": {"severity": "CRITICAL"},
                        "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                                      "ranges": [{"type": "ECOSYSTEM",
                                                  "events": [{"introduced": "0"}]}]}]}], f)
        out, r = self.release(db, "blocked/sealift")
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn("not signed", r.stderr)
        with open(os.path.join(out, "scan.json")) as f:
            report = json.load(f)
        self.assertEqual(report["result"], "fail")
        self.assertIn("CVE-2099-0100", [v["id"] for v in report["vulnerabilities"]])
        self.assertFalse(os.path.exists(os.path.join(out, "digest")))
        digest = reglib.sha256_digest(reglib.inspect_raw(f"{self.reg.host}/blocked/sealift:0.1.0",
                                                         self.creds))
        v = procs.run([procs.SEALIFT, "verify", f"{self.reg.host}/blocked/sealift@{digest}",
                       "--key", self.pub, "--creds", self.creds, "--insecure"], check=False)
        self.assertNotEqual(v.returncode, 0, "the blocked image was signed")
        with open(os.path.join(self.crds, "kustomization.yaml")) as f:
            self.assertIn("newTag: 0.1.0", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
