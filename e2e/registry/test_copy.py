"""`sealift copy` against real docker-registry processes: two htpasswd accounts, a Bearer-token
registry, a fault-injecting proxy and a registry killed mid-copy. Results are checked with
skopeo, not with sealift."""
import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from procs import SEALIFT, TempDirTestCase, run, wait_for  # noqa: E402
import hostile  # noqa: E402
import registry as reg  # noqa: E402

KB = 1024


def sealift_copy(src, dst, *flags, env=None, timeout=300):
    return subprocess.run([SEALIFT, "copy", src, dst, "--src-insecure", "--dest-insecure",
                           *flags], capture_output=True, text=True, env=env, timeout=timeout)


class CopyTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.a = reg.Registry(self, "vendor", users={"alice": "alice-pw"})
        self.b = reg.Registry(self, "customer", users={"bob": "bob-pw"})

    def seed_image(self, tag="1.0", layers=(300 * KB, 200 * KB, 100 * KB), seed=1,
                   repo="acme/app"):
        layout = reg.Layout(os.path.join(self.tmp, f"layout-{seed}"))
        desc = layout.image(list(layers), seed=seed)
        layout.tag(desc, tag)
        reg.push(layout.path, tag, f"{self.a.host}/{repo}:{tag}", self.a.creds())
        return desc

    def seed_multiarch(self, tag="2.0"):
        layout = reg.Layout(os.path.join(self.tmp, "layout-multi"))
        amd = layout.image([200 * KB, 50 * KB], arch="amd64", seed=11)
        arm = layout.image([210 * KB, 60 * KB], arch="arm64", seed=12)
        idx = layout.index([amd, arm])
        layout.tag(idx, tag)
        reg.push(layout.path, tag, f"{self.a.host}/acme/multi:{tag}", self.a.creds(),
                 all_platforms=True)
        return idx, amd, arm

    def creds_flags(self):
        return ["--src-creds", self.a.creds(), "--dest-creds", self.b.creds()]

    def assert_ok(self, cp):
        self.assertEqual(cp.returncode, 0, f"sealift copy failed: {cp.stderr}")
        return cp.stdout.strip()

    def test_copy_between_accounts_preserves_digest(self):
        self.seed_image()
        src = f"{self.a.host}/acme/app:1.0"
        dst = f"{self.b.host}/mirror/app:1.0"
        digest = self.assert_ok(sealift_copy(src, dst, *self.creds_flags()))
        src_raw = reg.inspect_raw(src, self.a.creds())
        dst_raw = reg.inspect_raw(dst, self.b.creds())
        self.assertEqual(digest, reg.sha256_digest(src_raw))
        self.assertEqual(src_raw, dst_raw)
        info = reg.inspect(dst, self.b.creds())  # reads the config blob too
        self.assertEqual(info["Architecture"], "amd64")
        self.assertEqual(len(info["Layers"]), 3)

    def test_docker_media_types(self):
        layout = reg.Layout(os.path.join(self.tmp, "layout-docker"))
        desc = layout.image([100 * KB], seed=21)
        layout.tag(desc, "d1")
        src = f"{self.a.host}/acme/docker:d1"
        reg.push(layout.path, "d1", src, self.a.creds(), fmt="v2s2")
        raw = reg.inspect_raw(src, self.a.creds())
        self.assertIn(b"application/vnd.docker.distribution.manifest.v2+json", raw)
        dst = f"{self.b.host}/mirror/docker:d1"
        digest = self.assert_ok(sealift_copy(src, dst, *self.creds_flags()))
        self.assertEqual(digest, reg.sha256_digest(raw))
        self.assertEqual(reg.inspect_raw(dst, self.b.creds()), raw)
        reg.inspect(dst, self.b.creds())

    def test_second_copy_skips_existing_blobs(self):
        self.seed_image()
        src = f"{self.a.host}/acme/app:1.0"
        self.assert_ok(sealift_copy(src, f"{self.b.host}/mirror/app:1.0", *self.creds_flags()))
        uploads_before = self.b.count_requests("POST", "/blobs/uploads/")
        self.assertEqual(uploads_before, 4)  # config + 3 layers
        # same content under another tag: every blob is found by HEAD and not uploaded again
        digest = self.assert_ok(sealift_copy(src, f"{self.b.host}/mirror/app:again",
                                             *self.creds_flags()))
        self.assertEqual(self.b.count_requests("POST", "/blobs/uploads/"), uploads_before)
        self.assertGreaterEqual(self.b.count_requests("HEAD", "/v2/mirror/app/blobs/sha256:"), 8)
        # the same tag again: already in sync, no manifest is written
        puts = self.b.count_requests("PUT", "/v2/mirror/app/manifests/")
        self.assertEqual(self.assert_ok(sealift_copy(src, f"{self.b.host}/mirror/app:again",
                                                     *self.creds_flags())), digest)
        self.assertEqual(self.b.count_requests("PUT", "/v2/mirror/app/manifests/"), puts)

    def test_same_registry_mounts_blobs(self):
        self.seed_image()
        src = f"{self.a.host}/acme/app:1.0"
        dst = f"{self.a.host}/other/app:1.0"
        digest = self.assert_ok(sealift_copy(src, dst, "--src-creds", self.a.creds(),
                                             "--dest-creds", self.a.creds()))
        self.assertEqual(digest, reg.sha256_digest(reg.inspect_raw(dst, self.a.creds())))
        self.assertEqual(self.a.count_requests("POST", "/v2/other/app/blobs/uploads/?mount="), 4)
        self.assertEqual(self.a.count_requests("PUT", "/v2/other/app/blobs/uploads/"), 0)
        reg.inspect(dst, self.a.creds())

    def test_multiarch_all_platforms_keeps_index_digest(self):
        idx, amd, arm = self.seed_multiarch()
        src = f"{self.a.host}/acme/multi:2.0"
        dst = f"{self.b.host}/mirror/multi:2.0"
        digest = self.assert_ok(sealift_copy(src, dst, "--all-platforms", *self.creds_flags()))
        self.assertEqual(digest, idx["digest"])
        self.assertEqual(reg.sha256_digest(reg.inspect_raw(dst, self.b.creds())), idx["digest"])
        for child in (amd, arm):
            self.assertTrue(reg.manifest_exists(self.b.host, "mirror/multi", child["digest"],
                                                self.b.creds()))
            reg.inspect(f"{self.b.host}/mirror/multi@{child['digest']}", self.b.creds())

    def test_multiarch_default_copies_current_platform_only(self):
        idx, amd, arm = self.seed_multiarch()
        src = f"{self.a.host}/acme/multi:2.0"
        dst = f"{self.b.host}/mirror/multi:amd64"
        digest = self.assert_ok(sealift_copy(src, dst, *self.creds_flags()))
        self.assertEqual(digest, amd["digest"])
        raw = reg.inspect_raw(dst, self.b.creds())
        self.assertEqual(reg.sha256_digest(raw), amd["digest"])
        self.assertFalse(reg.manifest_exists(self.b.host, "mirror/multi", arm["digest"],
                                             self.b.creds()))

    def test_credentials_from_docker_config(self):
        self.seed_image()
        cfgdir = os.path.join(self.tmp, "dockercfg")
        os.makedirs(cfgdir)
        auths = {
            self.a.host: {"auth": base64.b64encode(self.a.creds().encode()).decode()},
            f"http://{self.b.host}": {"username": "bob", "password": "bob-pw"},
        }
        with open(os.path.join(cfgdir, "config.json"), "w") as f:
            json.dump({"auths": auths}, f)
        env = dict(os.environ, DOCKER_CONFIG=cfgdir)
        digest = self.assert_ok(sealift_copy(f"{self.a.host}/acme/app:1.0",
                                             f"{self.b.host}/mirror/app:1.0", env=env))
        self.assertEqual(digest, reg.sha256_digest(
            reg.inspect_raw(f"{self.b.host}/mirror/app:1.0", self.b.creds())))

    def test_upload_location_on_another_host_gets_no_credentials(self):
        # the target registry's upload Location names another host (which passes requests on to
        # the real registry and records them): the streamed upload goes there without the
        # target's credentials, so the other host learns nothing and the copy fails
        self.seed_image()
        other = hostile.Server(self, lambda srv, h: hostile.proxy(h, self.b.host))

        def elsewhere(name, value):
            if name.lower() != "location":
                return value
            if value.startswith("/"):
                return f"http://{other.host}{value}"
            return value.replace(self.b.host, other.host).replace(dst.host, other.host)
        dst = hostile.Server(self, lambda srv, h: hostile.proxy(h, self.b.host,
                                                                header_filter=elsewhere))
        cp = sealift_copy(f"{self.a.host}/acme/app:1.0", f"{dst.host}/mirror/app:1.0",
                          *self.creds_flags())
        self.assertEqual(cp.returncode, 3, cp.stdout)
        self.assertTrue([r for r in other.requests() if r["method"] == "PUT"], other.requests())
        self.assertEqual(other.with_auth(), [], "the target's credentials went elsewhere")
        self.assertTrue(dst.with_auth())
        self.assertFalse(reg.manifest_exists(self.b.host, "mirror/app", "1.0", self.b.creds()))

    def test_wrong_credentials_exit_3(self):
        self.seed_image()
        cp = sealift_copy(f"{self.a.host}/acme/app:1.0", f"{self.b.host}/mirror/app:1.0",
                          "--src-creds", self.a.creds(), "--dest-creds", "bob:wrong")
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertRegex(cp.stderr.lower(), r"401|unauthorized")
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)
        self.assertFalse(reg.manifest_exists(self.b.host, "mirror/app", "1.0", self.b.creds()))

    def test_missing_tag_exit_3(self):
        self.seed_image()
        cp = sealift_copy(f"{self.a.host}/acme/app:nope", f"{self.b.host}/mirror/app:nope",
                          *self.creds_flags())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("not found", cp.stderr)

    def test_image_parallel_copies(self):
        """One blob at a time and eight at a time deliver the same image; a value out of range
        is a usage error naming the flag, and nothing is written."""
        self.seed_image(layers=(90 * KB, 80 * KB, 70 * KB, 60 * KB, 50 * KB))
        src = f"{self.a.host}/acme/app:1.0"
        src_raw = reg.inspect_raw(src, self.a.creds())
        for n in ("1", "8"):
            dst = f"{self.b.host}/mirror{n}/app:1.0"
            digest = self.assert_ok(sealift_copy(src, dst, *self.creds_flags(),
                                                 "--image-parallel-copies", n))
            self.assertEqual(digest, reg.sha256_digest(src_raw))
            self.assertEqual(reg.inspect_raw(dst, self.b.creds()), src_raw)
            self.assertEqual(len(reg.inspect(dst, self.b.creds())["Layers"]), 5)
        for bad in ("0", "17", "two"):
            cp = sealift_copy(src, f"{self.b.host}/bad/app:1.0", *self.creds_flags(),
                              "--image-parallel-copies", bad)
            self.assertEqual(cp.returncode, 2, cp.stderr)
            self.assertIn("--image-parallel-copies", cp.stderr)
            self.assertIn("1 to 16", cp.stderr)
        self.assertFalse(reg.manifest_exists(self.b.host, "bad/app", "1.0", self.b.creds()))

    def test_bad_reference_exit_2(self):
        cp = sealift_copy("Not A Ref", f"{self.b.host}/mirror/app:1.0")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("reference", cp.stderr)


class TokenAuthTest(TempDirTestCase):
    def test_copy_to_bearer_token_registry(self):
        a = reg.Registry(self, "vendor", users={"alice": "alice-pw"})
        tokens = reg.TokenServer(self, users={"carol": "carol-pw"})
        c = reg.Registry(self, "tokenreg", token=tokens.registry_auth())
        layout = reg.Layout(os.path.join(self.tmp, "layout"))
        desc = layout.image([100 * KB, 80 * KB], seed=5)
        layout.tag(desc, "1.0")
        reg.push(layout.path, "1.0", f"{a.host}/acme/app:1.0", a.creds())
        dst = f"{c.host}/mirror/app:1.0"
        cp = sealift_copy(f"{a.host}/acme/app:1.0", dst, "--src-creds", a.creds(),
                          "--dest-creds", "carol:carol-pw")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), desc["digest"])
        self.assertEqual(reg.sha256_digest(reg.inspect_raw(dst, "carol:carol-pw")),
                         desc["digest"])
        self.assertGreater(len(tokens.requests()), 0)
        # a wrong password is refused by the token server
        cp = sealift_copy(f"{a.host}/acme/app:1.0", f"{c.host}/mirror/app:2.0", "--src-creds",
                          a.creds(), "--dest-creds", "carol:nope")
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertRegex(cp.stderr.lower(), r"401|unauthorized")


class FaultTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.a = reg.Registry(self, "vendor", users={"alice": "alice-pw"})
        self.b = reg.Registry(self, "customer", users={"bob": "bob-pw"})
        self.layout = reg.Layout(os.path.join(self.tmp, "layout"))
        self.desc = self.layout.image([400 * KB, 300 * KB, 200 * KB], seed=7)
        self.layout.tag(self.desc, "1.0")
        reg.push(self.layout.path, "1.0", f"{self.a.host}/acme/app:1.0", self.a.creds())

    def copy_through(self, mode, count, match=""):
        proxy = reg.FaultProxy(self, self.a.host, mode, count, name=f"proxy-{mode}", match=match)
        dst = f"{self.b.host}/mirror/app:{mode}"
        cp = sealift_copy(f"{proxy.host}/acme/app:1.0", dst, "--src-creds", self.a.creds(),
                          "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), self.desc["digest"])
        self.assertEqual(proxy.faults(), count)
        reg.inspect(dst, self.b.creds())

    def test_503_then_success(self):
        self.copy_through("503", 3)

    def test_429_with_retry_after(self):
        self.copy_through("429", 2)

    def test_dropped_connections_on_blob_downloads(self):
        self.copy_through("drop", 3, match="/blobs/")

    def test_mixed_faults(self):
        self.copy_through("mixed", 4)

    def tampered_copy(self, mode, match):
        proxy = reg.FaultProxy(self, self.a.host, mode, 1000, name=f"proxy-{mode}", match=match)
        cp = sealift_copy(f"{proxy.host}/acme/app:1.0", f"{self.b.host}/mirror/app:1.0",
                          "--src-creds", self.a.creds(), "--dest-creds", self.b.creds())
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)
        self.assertGreater(proxy.faults(), 0)
        self.assertFalse(reg.manifest_exists(self.b.host, "mirror/app", "1.0", self.b.creds()))
        return cp.stderr

    def test_lying_manifest_digest_is_refused(self):
        err = self.tampered_copy("baddigest", "/manifests/")
        self.assertIn("digest mismatch", err)
        self.assertIn("sha256:" + "0" * 64, err)       # what the registry claimed
        self.assertIn(self.desc["digest"], err)        # what the bytes are

    def test_corrupted_blob_aborts_the_upload(self):
        err = self.tampered_copy("corrupt", "/blobs/sha256:")
        self.assertIn("does not match its digest", err)
        # nothing corrupt was committed: no blob of the image exists in the target
        with open(os.path.join(self.layout.path, "blobs", "sha256",
                               self.desc["digest"][7:]), "rb") as f:
            manifest = json.load(f)
        for d in [manifest["config"]] + manifest["layers"]:
            self.assertFalse(reg.blob_exists(self.b.host, "mirror/app", d["digest"],
                                             self.b.creds()), d["digest"])


class KillTest(TempDirTestCase):
    def test_target_killed_mid_copy_never_leaves_partial_tag(self):
        a = reg.Registry(self, "vendor", users={"alice": "alice-pw"})
        b = reg.Registry(self, "customer", users={"bob": "bob-pw"})
        layout = reg.Layout(os.path.join(self.tmp, "layout"))
        desc = layout.image([2 * KB * KB] * 4, seed=9)
        layout.tag(desc, "1.0")
        reg.push(layout.path, "1.0", f"{a.host}/acme/app:1.0", a.creds())
        # a slow link from the source keeps the uploads in flight while the target dies
        slow = reg.FaultProxy(self, a.host, "none", 0, name="slowlink", slow_ms=15)
        dst = f"{b.host}/mirror/app:1.0"
        args = [SEALIFT, "copy", f"{slow.host}/acme/app:1.0", dst, "--src-insecure",
                "--dest-insecure", "--src-creds", a.creds(), "--dest-creds", b.creds()]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: b.count_requests("POST", "/blobs/uploads/") >= 2, timeout=60,
                 what="the copy to start uploading")
        b.kill()
        self.assertIsNone(p.poll(), "the copy ended before the registry was killed")
        time.sleep(1.0)
        b.start()
        out, errs = p.communicate(timeout=180)
        if p.returncode != 0:
            # a clean failure: one line, remote error, and no tag at the target
            self.assertEqual(p.returncode, 3, errs)
            self.assertFalse(reg.manifest_exists(b.host, "mirror/app", "1.0", b.creds()))
            cp = subprocess.run(args, capture_output=True, text=True, timeout=180)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            out = cp.stdout
        self.assertEqual(out.strip(), desc["digest"])
        self.assertEqual(reg.sha256_digest(reg.inspect_raw(dst, b.creds())), desc["digest"])
        info = reg.inspect(dst, b.creds())
        self.assertEqual(len(info["Layers"]), 4)
        # interrupted uploads were started again after the restart
        self.assertGreater(b.count_requests("POST", "/blobs/uploads/"), 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
