"""The CLI around `sealift copy` against real docker-registry processes: credentials from a file
or an environment variable (the registry accepts them, the password never shows), hints that
name the exact flag, and OCI image layouts written by the real oras as source and destination
(checked with oras and skopeo, not with sealift)."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from procs import SEALIFT, TempDirTestCase, peer, run  # noqa: E402
import registry as reg  # noqa: E402

KB = 1024


def sealift(*args, env=None, timeout=300):
    full = dict(os.environ)
    for k in ("SEALIFT_SRC_CREDS", "SEALIFT_DEST_CREDS", "SEALIFT_CREDS"):
        full.pop(k, None)
    full["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    full.update(env or {})
    return subprocess.run([SEALIFT, *args], capture_output=True, text=True, env=full,
                          timeout=timeout)


class CliTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.a = reg.Registry(self, "vendor", users={"alice": "alice-Pw-4711"})
        self.b = reg.Registry(self, "customer", users={"bob": "bob-Pw-0815"})

    def seed_image(self, tag="1.0", repo="acme/app", seed=1):
        layout = reg.Layout(os.path.join(self.tmp, f"seed-{seed}"))
        desc = layout.image([120 * KB, 40 * KB], seed=seed)
        layout.tag(desc, tag)
        reg.push(layout.path, tag, f"{self.a.host}/{repo}:{tag}", self.a.creds())
        return f"{self.a.host}/{repo}:{tag}"

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def assert_no_secret(self, cp, *secrets):
        for s in secrets:
            self.assertNotIn(s, cp.stdout + cp.stderr)

    # ---- credentials ----

    def test_creds_from_file_and_environment(self):
        src = self.seed_image()
        src_file = self.write("vendor.creds", self.a.creds() + "\n")
        dst = f"{self.b.host}/mirror/app:1.0"
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure",
                     "--src-creds-file", src_file, env={"SEALIFT_DEST_CREDS": self.b.creds()})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # both htpasswd registries accepted them: the image is in the customer's registry
        self.assertEqual(reg.inspect_raw(dst, self.b.creds()), reg.inspect_raw(src, self.a.creds()))
        self.assert_no_secret(cp, "alice-Pw-4711", "bob-Pw-0815")

    def test_flag_beats_file_beats_environment(self):
        src = self.seed_image()
        dst = f"{self.b.host}/mirror/app:2"
        bad = self.write("bad.creds", "bob:not-bobs-password\n")
        good = self.write("good.creds", self.b.creds())
        # the file wins over the (right) variable: the registry refuses, exit 3
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure", "--src-creds",
                     self.a.creds(), "--dest-creds-file", bad,
                     env={"SEALIFT_DEST_CREDS": self.b.creds()})
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assert_no_secret(cp, "not-bobs-password", "bob-Pw-0815")
        # the flag wins over the (wrong) file
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure", "--src-creds",
                     self.a.creds(), "--dest-creds", self.b.creds(), "--dest-creds-file", bad)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # the file wins over a wrong variable
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure", "--src-creds",
                     self.a.creds(), "--dest-creds-file", good,
                     env={"SEALIFT_DEST_CREDS": "bob:wrong"})
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_docker_config_json_as_creds_file(self):
        src = self.seed_image()
        config = self.write("config.json", json.dumps({"auths": {
            self.a.host: {"username": "alice", "password": "alice-Pw-4711"},
            self.b.host: {"username": "bob", "password": "bob-Pw-0815"}}}))
        dst = f"{self.b.host}/mirror/app:cfg"
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure",
                     "--src-creds-file", config, "--dest-creds-file", config)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(reg.manifest_exists(self.b.host, "mirror/app", "cfg", self.b.creds()))
        # a config.json without an entry for the registry is an error, not anonymous access
        other = self.write("other.json", json.dumps({"auths": {"elsewhere.example": {
            "username": "x", "password": "y"}}}))
        cp = sealift("copy", src, dst, "--src-insecure", "--dest-insecure",
                     "--src-creds-file", other)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn(f"no entry for {self.a.host}", cp.stderr)

    def test_missing_or_malformed_creds_are_clear_usage_errors(self):
        src = self.seed_image()
        dst = f"{self.b.host}/mirror/app:1.0"
        missing = os.path.join(self.tmp, "no-such.creds")
        cp = sealift("copy", src, dst, "--dest-creds-file", missing)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn(f"--dest-creds-file {missing}: No such file or directory", cp.stderr)
        self.assertEqual(self.b.count_requests("GET", "/v2/"), 0, "nothing was sent")
        cp = sealift("copy", src, dst, env={"SEALIFT_SRC_CREDS": "only-a-Secret-password"})
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("environment variable SEALIFT_SRC_CREDS must hold USER:PASSWORD", cp.stderr)
        self.assert_no_secret(cp, "only-a-Secret-password")
        # sign reads the same sources
        key = os.path.join(self.tmp, "cosign")
        self.assertEqual(sealift("keygen", "--out", key).returncode, 0)
        cp = sealift("sign", src, "--key", key + ".key", "--insecure", "--creds-file", missing)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn(f"--creds-file {missing}: No such file or directory", cp.stderr)
        cp = sealift("sign", src, "--key", key + ".key", "--insecure",
                     env={"SEALIFT_CREDS": self.a.creds()})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assert_no_secret(cp, "alice-Pw-4711")

    def test_wrong_password_is_never_echoed(self):
        src = self.seed_image()
        wrong = self.write("wrong.creds", "alice:Wr0ng-Secret-77\n")
        cp = sealift("copy", src, f"{self.b.host}/m/app:1", "--src-insecure", "--dest-insecure",
                     "--src-creds-file", wrong, "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn(f"the registry rejected the credentials (credentials from "
                      f"--src-creds-file {wrong})", cp.stderr)
        self.assert_no_secret(cp, "Wr0ng-Secret-77", "bob-Pw-0815")
        # without any: the hint names where they can come from
        cp = sealift("copy", src, f"{self.b.host}/m/app:1", "--src-insecure", "--dest-insecure",
                     "--src-creds", self.a.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("no credentials were given for this registry (give credentials with "
                      "--dest-creds-file, --dest-creds or SEALIFT_DEST_CREDS)", cp.stderr)

    # ---- hints ----

    def test_plain_http_hint_names_the_flag(self):
        src = self.seed_image()
        dst = f"{self.b.host}/mirror/app:1.0"
        cp = sealift("copy", src, dst, "--dest-insecure", "--src-creds", self.a.creds(),
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("needs --src-insecure", cp.stderr)
        cp = sealift("copy", src, dst, "--src-insecure", "--src-creds", self.a.creds(),
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("needs --dest-insecure", cp.stderr)
        cp = sealift("copy", self.layout_from_oras(), dst, "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("needs --dest-insecure", cp.stderr)

    # ---- OCI layouts ----

    def layout_from_oras(self, tag="v1"):
        """An artifact layout written by `oras push --oci-layout`."""
        oras = peer("oras")
        work = os.path.join(self.tmp, "oras-work")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "hello.txt"), "w") as f:
            f.write("hello from oras\n")
        layout = os.path.join(self.tmp, "oras-layout")
        cp = subprocess.run([oras, "push", "--oci-layout", f"{layout}:{tag}", "--artifact-type",
                             "application/vnd.sealift.test", "hello.txt:text/plain"],
                            cwd=work, capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return f"oci:{layout}:{tag}"

    def test_copy_from_a_layout_oras_wrote(self):
        oras = peer("oras")
        src = self.layout_from_oras()
        layout = src[4:].rsplit(":", 1)[0]
        with open(os.path.join(layout, "index.json")) as f:
            want = json.load(f)["manifests"][0]["digest"]
        dst = f"{self.b.host}/artifacts/hello:v1"
        cp = sealift("copy", src, dst, "--dest-insecure", env={"SEALIFT_DEST_CREDS":
                                                                 self.b.creds()})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), want)
        # oras pulls the file back from the registry, byte for byte
        out = os.path.join(self.tmp, "pulled")
        run([oras, "pull", "--plain-http", "-u", "bob", "-p", "bob-Pw-0815", "-o", out, dst])
        with open(os.path.join(out, "hello.txt")) as f:
            self.assertEqual(f.read(), "hello from oras\n")
        # a second copy finds everything there
        cp = sealift("copy", src, dst, "--dest-insecure", "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), want)

    def test_image_through_a_layout_round_trip(self):
        """registry -> oci: layout (sealift) -> read by oras and skopeo -> registry (sealift)."""
        oras = peer("oras")
        src = self.seed_image(tag="2.0", seed=7)
        raw = reg.inspect_raw(src, self.a.creds())
        layout = os.path.join(self.tmp, "exported")
        cp = sealift("copy", src, f"oci:{layout}:2.0", "--src-insecure",
                     "--src-creds", self.a.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), reg.sha256_digest(raw))
        fetched = run([oras, "manifest", "fetch", "--oci-layout", f"{layout}:2.0"]).stdout
        self.assertEqual(fetched.encode(), raw)
        info = json.loads(run([reg.SKOPEO, "inspect", f"oci:{layout}:2.0"]).stdout)
        self.assertEqual(len(info["Layers"]), 2)
        # and back into another registry, same digest
        dst = f"{self.b.host}/mirror/app:2.0"
        cp = sealift("copy", f"oci:{layout}:2.0", dst, "--dest-insecure",
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(reg.inspect_raw(dst, self.b.creds()), raw)
        self.assertEqual(reg.inspect(dst, self.b.creds())["Architecture"], "amd64")

    def test_multiarch_through_a_layout(self):
        """--all-platforms keeps the index (same digest) both ways; without it the layout's
        index delivers this machine's platform only, as a registry source does."""
        layout = reg.Layout(os.path.join(self.tmp, "multi-seed"))
        amd = layout.image([60 * KB], arch="amd64", seed=21)
        arm = layout.image([70 * KB], arch="arm64", seed=22)
        idx = layout.index([amd, arm])
        layout.tag(idx, "m1")
        src = f"{self.a.host}/acme/multi:m1"
        reg.push(layout.path, "m1", src, self.a.creds(), all_platforms=True)
        exported = os.path.join(self.tmp, "multi-exported")
        cp = sealift("copy", src, f"oci:{exported}:m1", "--all-platforms", "--src-insecure",
                     "--src-creds", self.a.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), idx["digest"])
        dst = f"{self.b.host}/mirror/multi"
        cp = sealift("copy", f"oci:{exported}:m1", f"{dst}:all", "--all-platforms",
                     "--dest-insecure", "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), idx["digest"])
        self.assertEqual(reg.sha256_digest(reg.inspect_raw(f"{dst}:all", self.b.creds())),
                         idx["digest"])
        self.assertTrue(reg.manifest_exists(self.b.host, "mirror/multi", arm["digest"],
                                            self.b.creds()))
        cp = sealift("copy", f"oci:{exported}:m1", f"{dst}:host", "--dest-insecure",
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), amd["digest"])

    def test_layout_errors_are_input_errors(self):
        src = self.seed_image(tag="3.0", seed=9)
        layout = os.path.join(self.tmp, "exported")
        cp = sealift("copy", src, f"oci:{layout}:3.0", "--src-insecure",
                     "--src-creds", self.a.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        dst = f"{self.b.host}/mirror/app:3.0"
        cp = sealift("copy", f"oci:{layout}:nope", dst, "--dest-insecure",
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("has no image tagged nope", cp.stderr)
        # a blob altered in the layout is refused before it is sent; the tag never appears
        manifest = json.loads(run([reg.SKOPEO, "inspect", "--raw", f"oci:{layout}:3.0"]).stdout)
        layer = manifest["layers"][0]["digest"]
        path = os.path.join(layout, "blobs", "sha256", layer[7:])
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"tampered")
        cp = sealift("copy", f"oci:{layout}:3.0", dst, "--dest-insecure",
                     "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn(f"blob {layer} does not match its digest", cp.stderr)
        self.assertFalse(reg.blob_exists(self.b.host, "mirror/app", layer, self.b.creds()))
        self.assertFalse(reg.manifest_exists(self.b.host, "mirror/app", "3.0", self.b.creds()))
        cp = sealift("copy", f"oci:{layout}:3.0", f"oci:{layout}:copy")
        self.assertEqual(cp.returncode, 2, cp.stderr)


if __name__ == "__main__":
    unittest.main()
