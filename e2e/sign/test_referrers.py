"""Signatures as cosign v3 writes them, and referrers copied along, against the real tools: the
cosign v3.1.3 and oras v1.3.6 CLIs (hack/peers.sh builds them from the Go module proxy), a
registry with the OCI 1.1 referrers API (the refregistry peer) and Debian's docker-registry 2.8,
which has none (referrers then live in the sha256-<hex> tag-schema fallback index).

No transparency log is reachable offline: cosign signs with an empty signing config and verifies
with --insecure-ignore-tlog; sealift never consults one."""
import base64
import json
import os
import subprocess
import unittest
import urllib.request

import hostile
import procs
import registry as reglib

BUNDLE_MT = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_MT = "application/spdx+json"
REVIEW_MT = "application/vnd.example.review+json"


class Http:
    """Minimal registry client with Basic auth, independent of sealift."""

    def __init__(self, host, creds):
        self.base = f"http://{host}"
        self.auth = "Basic " + base64.b64encode(creds.encode()).decode()

    def req(self, method, path, data=None, headers=None):
        r = urllib.request.Request(self.base + path, data=data, method=method)
        r.add_header("Authorization", self.auth)
        for k, v in (headers or {}).items():
            r.add_header(k, v)
        try:
            with urllib.request.urlopen(r, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def manifest(self, repo, ref):
        st, _, body = self.req("GET", f"/v2/{repo}/manifests/{ref}", headers={
            "Accept": f"{reglib.OCI_MANIFEST}, {reglib.OCI_INDEX}"})
        return json.loads(body) if st == 200 else None

    def blob(self, repo, digest):
        return self.req("GET", f"/v2/{repo}/blobs/{digest}")[2]

    def put_blob(self, repo, data):
        digest = reglib.sha256_digest(data)
        _, h, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/")
        loc = h["Location"]
        sep = "&" if "?" in loc else "?"
        path = loc if loc.startswith("/") else "/" + loc.split("/", 3)[3]
        self.req("PUT", f"{path}{sep}digest={digest}", data=data,
                 headers={"Content-Type": "application/octet-stream"})
        return digest

    def put_manifest(self, repo, ref, doc, mt=reglib.OCI_MANIFEST):
        data = json.dumps(doc).encode()
        st, _, body = self.req("PUT", f"/v2/{repo}/manifests/{ref}", data=data,
                               headers={"Content-Type": mt})
        assert st == 201, (st, body)
        return reglib.sha256_digest(data), len(data)

    def has_referrers_api(self, repo, digest):
        return self.req("GET", f"/v2/{repo}/referrers/{digest}")[0] == 200

    def referrers(self, repo, digest):
        """The referrer descriptors, from the API or else the fallback index."""
        st, _, body = self.req("GET", f"/v2/{repo}/referrers/{digest}")
        if st == 200:
            return json.loads(body)["manifests"]
        idx = self.manifest(repo, "sha256-" + digest[7:])
        return idx["manifests"] if idx else []


class ReferrersTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.cosign = procs.peer("cosign")
        self.oras = procs.peer("oras")
        self.api = reglib.RefRegistry(self, "api")          # has the referrers API
        self.tags = reglib.Registry(self, "tags", users={"acme": "s3cret"})  # has not
        self.regs = {"api": self.api, "tags": self.tags}
        self.http = {k: Http(r.host, r.creds()) for k, r in self.regs.items()}
        dcfg = os.path.join(self.tmp, "docker")
        os.makedirs(dcfg)
        with open(os.path.join(dcfg, "config.json"), "w") as f:
            json.dump({"auths": {r.host: {"auth": base64.b64encode(r.creds().encode()).decode()}
                                 for r in self.regs.values()}}, f)
        self.env = dict(os.environ, DOCKER_CONFIG=dcfg, COSIGN_PASSWORD="",
                        HOME=self.tmp, COSIGN_YES="true")
        self.signing_config = os.path.join(self.tmp, "signing-config.json")
        with open(self.signing_config, "w") as f:
            json.dump({"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}, f)
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        for i, tag in enumerate(("1.0", "2.0")):
            lay.tag(lay.image([2048, 1024], seed=40 + i), tag)
        self.digest = {}
        for name, reg in self.regs.items():
            for tag in ("1.0", "2.0"):
                reglib.push(layout, tag, f"{reg.host}/acme/app:{tag}", creds=reg.creds())
                self.digest[tag] = reglib.sha256_digest(
                    reglib.inspect_raw(f"{reg.host}/acme/app:{tag}", reg.creds()))
        # the vendor's cosign key pair, and another key sealift made
        self.tool(["generate-key-pair"], cwd=self.tmp)
        self.cosign_pub = os.path.join(self.tmp, "cosign.pub")
        self.cosign_key = os.path.join(self.tmp, "cosign.key")
        procs.run([procs.SEALIFT, "keygen", "--out", os.path.join(self.tmp, "sl")])
        self.sl_key = os.path.join(self.tmp, "sl.key")
        self.sl_pub = os.path.join(self.tmp, "sl.pub")

    # ---- tools ----
    def tool(self, args, cwd=None, check=True, exe=None):
        cp = subprocess.run([exe or self.cosign, *args], capture_output=True, text=True,
                            env=self.env, cwd=cwd, timeout=300)
        if check and cp.returncode != 0:
            raise AssertionError(f"{os.path.basename(exe or self.cosign)} {' '.join(args)} exited "
                                 f"{cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def cosign_sign(self, ref):
        self.tool(["sign", "--key", self.cosign_key, "--signing-config", self.signing_config,
                   "--allow-insecure-registry", "-y", ref])

    def cosign_verify(self, ref, pub, check=True):
        return self.tool(["verify", "--key", pub, "--insecure-ignore-tlog",
                          "--allow-insecure-registry", ref], check=check)

    def cosign2_verify(self, ref, pub, bundle):
        """cosign v2.6.5 reads a bundle referrer with --new-bundle-format, the .sig tag without;
        it wants a trusted root either way (an empty one offline: the key is all that is trusted)."""
        root = os.path.join(self.tmp, "trusted-root.json")
        with open(root, "w") as f:
            json.dump({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}, f)
        extra = ["--trusted-root", root, f"--new-bundle-format={'true' if bundle else 'false'}"]
        return self.tool(["verify", "--key", pub, "--insecure-ignore-tlog",
                          "--allow-insecure-registry", *extra, ref], exe=procs.peer("cosign2"))

    def oras_tool(self, reg, args):
        user, password = reg.creds().split(":", 1)
        return self.tool([*args, "--plain-http", "-u", user, "-p", password], exe=self.oras)

    def discover(self, reg, ref):
        """oras discover --format json: {digest: artifactType} of every referrer, all levels."""
        out = json.loads(self.oras_tool(reg, ["discover", "--format", "json", ref]).stdout)
        found = {}

        def walk(items):
            for m in items or []:
                found[m["digest"]] = m.get("artifactType", "")
                walk(m.get("referrers"))
        walk(out.get("referrers", out.get("manifests")))
        return found

    def tree(self, reg, repo):
        """cosign tree of image 1.0, with the registry and repository names taken out."""
        ref = f"{reg.host}/{repo}@{self.digest['1.0']}"
        out = self.tool(["tree", "--allow-insecure-registry", "--allow-http-registry", ref]).stdout
        return sorted(line.replace(f"{reg.host}/{repo}", "IMAGE") for line in out.splitlines()
                      if line.strip())

    def sealift(self, *args):
        return procs.run([procs.SEALIFT, *args], check=False)

    def ref(self, name, tag, repo="acme/app"):
        return f"{self.regs[name].host}/{repo}@{self.digest[tag]}"

    # ---- verify: cosign v3 bundles ----
    def test_cosign_v3_bundle_passes_the_verify_gate_in_both_registry_kinds(self):
        for name in ("api", "tags"):
            with self.subTest(registry=name):
                reg, http = self.regs[name], self.http[name]
                self.cosign_sign(self.ref(name, "1.0"))
                # where cosign put it: the referrers API, or the fallback index
                self.assertEqual(http.has_referrers_api("acme/app", self.digest["1.0"]),
                                 name == "api")
                refs = http.referrers("acme/app", self.digest["1.0"])
                self.assertEqual(len(refs), 1, refs)
                self.assertIsNone(http.manifest("acme/app", f"sha256-{self.digest['1.0'][7:]}.sig"))
                image = f"{reg.host}/acme/app:1.0"
                cp = self.sealift("verify", image, "--key", self.cosign_pub, "--creds",
                                  reg.creds(), "--insecure")
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIn("valid signature by sha256:", cp.stdout)
                # another key: refused with the reason
                cp = self.sealift("verify", image, "--key", self.sl_pub, "--creds", reg.creds(),
                                  "--insecure")
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn("DSSE signature does not verify with key", cp.stderr)
                if name == "tags":
                    # a fallback index whose entries lost artifactType and annotations (as some
                    # writers leave it) still leads to the bundle
                    tag = "sha256-" + self.digest["1.0"][7:]
                    idx = http.manifest("acme/app", tag)
                    for m in idx["manifests"]:
                        m.pop("artifactType", None)
                        m.pop("annotations", None)
                    http.put_manifest("acme/app", tag, idx, mt=reglib.OCI_INDEX)
                    cp = self.sealift("verify", image, "--key", self.cosign_pub, "--creds",
                                      reg.creds(), "--insecure")
                    self.assertEqual(cp.returncode, 0, cp.stderr)
                    # a registry answering 405 (not 404) on the referrers path has no API
                    # either: the fallback index is read
                    def no_api(srv, h):
                        if "/referrers/" in h.path:
                            hostile.send(h, 405, b'{"errors":[{"code":"UNSUPPORTED"}]}')
                        else:
                            hostile.proxy(h, self.tags.host)
                    odd = hostile.Server(self, no_api)
                    cp = self.sealift("verify", f"{odd.host}/acme/app:1.0", "--key",
                                      self.cosign_pub, "--creds", reg.creds(), "--insecure")
                    self.assertEqual(cp.returncode, 0, cp.stderr)
                    self.assertTrue([r for r in odd.received if "/referrers/" in r["path"]])
                # an unsigned image is told apart from a wrongly signed one
                cp = self.sealift("verify", f"{reg.host}/acme/app:2.0", "--key", self.cosign_pub,
                                  "--creds", reg.creds(), "--insecure")
                self.assertEqual(cp.returncode, 1)
                self.assertIn("no signature found", cp.stderr)

    def test_replayed_bundle_is_refused(self):
        """An attacker attaches the valid bundle of 1.0 to 2.0: the statement names 1.0."""
        for name in ("api", "tags"):
            with self.subTest(registry=name):
                reg, http = self.regs[name], self.http[name]
                self.cosign_sign(self.ref(name, "1.0"))
                good = http.referrers("acme/app", self.digest["1.0"])[0]
                m = http.manifest("acme/app", good["digest"])
                sub = http.manifest("acme/app", self.digest["2.0"])
                m["subject"] = {"mediaType": reglib.OCI_MANIFEST,
                                "digest": self.digest["2.0"],
                                "size": len(json.dumps(sub))}
                m["subject"]["size"] = len(reglib.inspect_raw(f"{reg.host}/acme/app:2.0",
                                                              reg.creds()))
                d, size = http.put_manifest("acme/app", "replay", m)
                if name == "tags":
                    http.put_manifest("acme/app", "sha256-" + self.digest["2.0"][7:], {
                        "schemaVersion": 2, "mediaType": reglib.OCI_INDEX, "manifests": [{
                            "mediaType": reglib.OCI_MANIFEST, "digest": d, "size": size,
                            "artifactType": BUNDLE_MT}]}, mt=reglib.OCI_INDEX)
                cp = self.sealift("verify", f"{reg.host}/acme/app:2.0", "--key",
                                  self.cosign_pub, "--creds", reg.creds(), "--insecure")
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn(f"does not name {self.digest['2.0']} as its subject", cp.stderr)

    # ---- write: what sealift signs, checked by cosign v3 and openssl ----
    def test_sealift_bundle_passes_cosign_verify_and_openssl(self):
        for name in ("api", "tags"):
            with self.subTest(registry=name):
                reg, http = self.regs[name], self.http[name]
                image = f"{reg.host}/acme/app:1.0"
                cp = self.sealift("sign", image, "--key", self.sl_key, "--format", "bundle",
                                  "--creds", reg.creds(), "--insecure")
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIn("signed by sha256:", cp.stdout)
                self.cosign_verify(self.ref(name, "1.0"), self.sl_pub)
                self.cosign2_verify(self.ref(name, "1.0"), self.sl_pub, bundle=True)
                self.assertNotEqual(
                    self.cosign_verify(self.ref(name, "1.0"), self.cosign_pub,
                                       check=False).returncode, 0)
                refs = http.referrers("acme/app", self.digest["1.0"])
                self.assertEqual(len(refs), 1, refs)
                # the descriptor (fallback index included) keeps artifactType and annotations
                self.assertEqual(refs[0]["artifactType"], BUNDLE_MT)
                self.assertEqual(refs[0]["annotations"]["dev.sigstore.bundle.predicateType"],
                                 "https://sigstore.dev/cosign/sign/v1")
                # openssl checks the DSSE signature over the PAE encoding
                m = http.manifest("acme/app", refs[0]["digest"])
                bundle = json.loads(http.blob("acme/app", m["layers"][0]["digest"]))
                env = bundle["dsseEnvelope"]
                body = base64.b64decode(env["payload"])
                st = json.loads(body)
                self.assertEqual(st["subject"][0]["digest"]["sha256"], self.digest["1.0"][7:])
                ptype = env["payloadType"].encode()
                pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
                pae_f, sig_f = os.path.join(self.tmp, "pae"), os.path.join(self.tmp, "sig")
                with open(pae_f, "wb") as f:
                    f.write(pae)
                with open(sig_f, "wb") as f:
                    f.write(base64.b64decode(env["signatures"][0]["sig"]))
                procs.run(["openssl", "dgst", "-sha256", "-verify", self.sl_pub, "-signature",
                           sig_f, pae_f])
                # signing again adds nothing
                cp = self.sealift("sign", image, "--key", self.sl_key, "--format", "bundle",
                                  "--creds", reg.creds(), "--insecure")
                self.assertIn("already signed", cp.stdout)
                self.assertEqual(len(http.referrers("acme/app", self.digest["1.0"])), 1)
                # both formats: the .sig tag too, and cosign still verifies
                cp = self.sealift("sign", f"{reg.host}/acme/app:2.0", "--key", self.sl_key,
                                  "--format", "both", "--creds", reg.creds(), "--insecure")
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIsNotNone(
                    http.manifest("acme/app", f"sha256-{self.digest['2.0'][7:]}.sig"))
                self.assertEqual(len(http.referrers("acme/app", self.digest["2.0"])), 1)
                self.cosign_verify(self.ref(name, "2.0"), self.sl_pub)
                self.cosign2_verify(self.ref(name, "2.0"), self.sl_pub, bundle=False)

    # ---- deliver: sealift copy brings every referrer along ----
    def attach_everything(self, name):
        """On registry name, image 1.0 gets: a cosign v3 signature bundle, a cosign attestation,
        an SBOM attached with oras, a review of that SBOM (a referrer's referrer) and a legacy
        .sig written by sealift. Returns the {digest: artifactType} oras discovers."""
        reg = self.regs[name]
        ref = self.ref(name, "1.0")
        self.cosign_sign(ref)
        pred = os.path.join(self.tmp, "predicate.json")
        with open(pred, "w") as f:
            json.dump({"buildType": "https://example.com/build/v1", "builder": {"id": "ci"}}, f)
        self.tool(["attest", "--key", self.cosign_key, "--signing-config", self.signing_config,
                   "--allow-insecure-registry", "--type", "https://example.com/build/v1",
                   "--predicate", pred, "-y", ref])
        sbom = os.path.join(self.tmp, "sbom.spdx.json")
        with open(sbom, "w") as f:
            json.dump({"spdxVersion": "SPDX-2.3", "name": "app"}, f)
        out = self.oras_tool(reg, ["attach", "--artifact-type", SBOM_MT, "--format", "json",
                                   ref, f"{os.path.basename(sbom)}:{SBOM_MT}"]).stdout
        sbom_digest = json.loads(out)["digest"]
        review = os.path.join(self.tmp, "review.json")
        with open(review, "w") as f:
            json.dump({"approved": True}, f)
        self.oras_tool(reg, ["attach", "--artifact-type", REVIEW_MT,
                             f"{reg.host}/acme/app@{sbom_digest}",
                             f"{os.path.basename(review)}:{REVIEW_MT}"])
        cp = self.sealift("sign", f"{reg.host}/acme/app:1.0", "--key", self.sl_key, "--creds",
                          reg.creds(), "--insecure")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        found = self.discover(reg, ref)
        self.assertEqual(sorted(found.values()).count(BUNDLE_MT), 2, found)  # signature, attestation
        self.assertIn(SBOM_MT, found.values())
        self.assertIn(REVIEW_MT, found.values())
        return found

    def copy(self, src_name, dst_name, repo, *extra):
        src, dst = self.regs[src_name], self.regs[dst_name]
        return self.sealift("copy", f"{src.host}/acme/app:1.0", f"{dst.host}/{repo}:1.0",
                            "--src-creds", src.creds(), "--dest-creds", dst.creds(),
                            "--src-insecure", "--dest-insecure", *extra)

    def test_copy_brings_every_referrer_in_both_directions(self):
        os.chdir(self.tmp)  # oras attach reads the files by relative name
        found = self.attach_everything("api")
        tree = self.tree(self.api, "acme/app")
        # cosign's own view: the .sig tag, the signature and attestation bundles, the SBOM
        self.assertEqual(sum("via OCI referrer" in line for line in tree), 3, tree)
        self.assertEqual(sum("Signatures for an image tag" in line for line in tree), 1, tree)
        sig_tag = f"sha256-{self.digest['1.0'][7:]}.sig"
        legacy = self.http["api"].manifest("acme/app", sig_tag)
        # referrers API -> fallback index, then fallback index -> referrers API
        for src, dst, repo in (("api", "tags", "mirror/app"), ("tags", "api", "again/app")):
            with self.subTest(src=src, dst=dst):
                if src == "tags":
                    self.copy("api", "tags", "acme/app")
                cp = self.copy(src, dst, repo)
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertEqual(cp.stdout.strip(), self.digest["1.0"])
                self.assertIn("referrers of", cp.stderr)
                target = f"{self.regs[dst].host}/{repo}@{self.digest['1.0']}"
                self.assertEqual(self.discover(self.regs[dst], target), found)
                self.assertEqual(self.tree(self.regs[dst], repo), tree)
                self.assertEqual(self.http[dst].manifest(repo, sig_tag), legacy)
                self.cosign_verify(target, self.cosign_pub)
                self.tool(["verify-attestation", "--key", self.cosign_pub,
                           "--insecure-ignore-tlog", "--allow-insecure-registry", "--type",
                           "https://example.com/build/v1", target])
                cp = self.sealift("verify", f"{self.regs[dst].host}/{repo}:1.0", "--key",
                                  self.sl_pub, "--creds", self.regs[dst].creds(), "--insecure")
                self.assertEqual(cp.returncode, 0, cp.stderr)
                # copying again writes nothing new and keeps every entry
                cp = self.copy(src, dst, repo)
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIn(f"0 copied, {len(found)} already there", cp.stderr)
                self.assertEqual(self.discover(self.regs[dst], target), found)

    def test_copy_survives_hostile_referrer_lists(self):
        """A source whose fallback indexes form a cycle (a referrer listed as referring to its
        own subject) is copied once and the copy ends; one that lists a malformed digest is
        refused with the reason, after the image itself was copied, and nothing reaches the path
        it names."""
        http = self.http["tags"]
        d = self.digest["1.0"]
        empty = http.put_blob("acme/app", b"{}")
        note = http.put_blob("acme/app", b'{"note": 1}')
        art, size = http.put_manifest("acme/app", "note", {
            "schemaVersion": 2, "mediaType": reglib.OCI_MANIFEST,
            "artifactType": "application/vnd.example.note",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty,
                       "size": 2},
            "layers": [{"mediaType": "application/vnd.example.note", "digest": note,
                        "size": 11}],
            "subject": {"mediaType": reglib.OCI_MANIFEST, "digest": d,
                        "size": len(reglib.inspect_raw(f"{self.tags.host}/acme/app:1.0",
                                                       self.tags.creds()))}})
        image_desc = {"mediaType": reglib.OCI_MANIFEST, "digest": d, "size": 1}
        art_desc = {"mediaType": reglib.OCI_MANIFEST, "digest": art, "size": size,
                    "artifactType": "application/vnd.example.note"}
        for subject, entry in ((d, art_desc), (art, image_desc)):
            http.put_manifest("acme/app", "sha256-" + subject[7:], {
                "schemaVersion": 2, "mediaType": reglib.OCI_INDEX, "manifests": [entry]},
                mt=reglib.OCI_INDEX)
        cp = self.copy("tags", "api", "cycle/app")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("1 copied", cp.stderr)
        self.assertEqual(self.http["api"].referrers("cycle/app", d)[0]["digest"], art)

        # a source whose referrers API names a path instead of a digest
        def bad_digest(path, data):
            if "/referrers/" in path:
                idx = json.loads(data)
                idx["manifests"].append({"mediaType": reglib.OCI_MANIFEST, "size": 1,
                                         "digest": "sha256:../../../v2/victim/manifests/x"})
                return json.dumps(idx).encode()
            return data
        src = hostile.Server(self, lambda srv, h: hostile.proxy(h, self.api.host, bad_digest))
        cp = self.sealift("copy", f"{src.host}/acme/app:1.0", f"{self.api.host}/bad/app:1.0",
                          "--src-creds", self.api.creds(), "--dest-creds", self.api.creds(),
                          "--src-insecure", "--dest-insecure")
        self.assertEqual(cp.returncode, 3, cp.stdout + cp.stderr)
        self.assertEqual(cp.stdout.strip(), d)
        self.assertIn(f"{d} copied, but not its referrers", cp.stderr)
        self.assertIn("has no valid digest", cp.stderr)
        self.assertEqual(self.http["api"].referrers("bad/app", d), [])
        self.assertFalse([r for r in src.received if "victim" in r["path"]], src.received)

    def test_copy_of_an_index_brings_the_referrers_of_each_child(self):
        lay = reglib.Layout(os.path.join(self.tmp, "multi"))
        amd = lay.image([1024], arch="amd64", seed=71)
        arm = lay.image([1024], arch="arm64", seed=72)
        idx = lay.index([amd, arm])
        lay.tag(idx, "m1")
        reglib.push(lay.path, "m1", f"{self.api.host}/acme/multi:m1", creds=self.api.creds(),
                    all_platforms=True)
        # the vendor signs the index and, separately, the arm64 image
        self.cosign_sign(f"{self.api.host}/acme/multi@{idx['digest']}")
        self.cosign_sign(f"{self.api.host}/acme/multi@{arm['digest']}")
        cp = self.sealift("copy", f"{self.api.host}/acme/multi:m1", f"{self.tags.host}/mirror/multi:m1",
                          "--src-creds", self.api.creds(), "--dest-creds", self.tags.creds(),
                          "--src-insecure", "--dest-insecure", "--all-platforms")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip(), idx["digest"])
        for d in (idx["digest"], arm["digest"]):
            self.assertEqual(
                self.discover(self.tags, f"{self.tags.host}/mirror/multi@{d}"),
                self.discover(self.api, f"{self.api.host}/acme/multi@{d}"))
            self.cosign_verify(f"{self.tags.host}/mirror/multi@{d}", self.cosign_pub)
        self.assertEqual(self.discover(self.tags, f"{self.tags.host}/mirror/multi@{amd['digest']}"),
                         {})

    def test_copy_no_referrers(self):
        os.chdir(self.tmp)
        self.attach_everything("api")
        cp = self.copy("api", "tags", "bare/app", "--no-referrers")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("referrers", cp.stderr)
        target = f"{self.tags.host}/bare/app@{self.digest['1.0']}"
        self.assertEqual(self.discover(self.tags, target), {})
        self.assertIsNone(self.http["tags"].manifest("bare/app",
                                                     f"sha256-{self.digest['1.0'][7:]}.sig"))

    def legacy_attest(self, ref, predicate_type, name):
        """cosign v3 writing a legacy .att tag (no bundle, no transparency log)."""
        pred = os.path.join(self.tmp, f"{name}.json")
        with open(pred, "w") as f:
            json.dump({"buildType": predicate_type, "by": name}, f)
        self.tool(["attest", "--key", self.cosign_key, "--type", predicate_type,
                   "--predicate", pred, "-y", "--tlog-upload=false", "--new-bundle-format=false",
                   "--use-signing-config=false", "--allow-http-registry",
                   "--allow-insecure-registry", ref])

    def test_copy_merges_a_legacy_att_tag_the_target_has(self):
        """The target already carries its own legacy attestation of the digest: the source's is
        merged into the target's .att manifest (both verify there), none dropped."""
        os.chdir(self.tmp)
        tags = self.tags
        cp = self.copy("tags", "tags", "mirror/app", "--no-referrers")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        target = f"{tags.host}/mirror/app@{self.digest['1.0']}"
        self.legacy_attest(target, "https://example.com/target/v1", "target")
        self.legacy_attest(self.ref("tags", "1.0"), "https://example.com/source/v1", "source")
        att = f"sha256-{self.digest['1.0'][7:]}.att"
        before = self.http["tags"].manifest("mirror/app", att)
        self.assertEqual(len(before["layers"]), 1)
        cp = self.copy("tags", "tags", "mirror/app")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        after = self.http["tags"].manifest("mirror/app", att)
        self.assertEqual(len(after["layers"]), 2, after)
        self.assertEqual(after["layers"][0], before["layers"][0])  # the target's own stays first
        for ptype in ("https://example.com/target/v1", "https://example.com/source/v1"):
            self.tool(["verify-attestation", "--key", self.cosign_pub, "--insecure-ignore-tlog",
                       "--new-bundle-format=false", "--allow-http-registry",
                       "--allow-insecure-registry", "--type", ptype, target])
        # copying again changes nothing
        cp = self.copy("tags", "tags", "mirror/app")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(self.http["tags"].manifest("mirror/app", att), after)


if __name__ == "__main__":
    unittest.main(verbosity=2)
