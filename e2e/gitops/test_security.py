"""GitSource against hostile input, end to end (real git servers, a real kube-apiserver, the
controller as its ServiceAccount): credentials only for the repository their Secret names (an attacker's git server
receives no Authorization header), file:// only with --allow-local-paths, no takeover of
objects an administrator created, GitSources that do not prune each other's objects, and a
128 Ki-deep YAML file that fails alone and quickly."""
import json
import os
import unittest

import procs
from controller import Controller
from gitserver import GitDaemon, GitHttp, Redirector, Repo
from kube import Cluster

KEY = """apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata:
  name: %s
spec:
  mode: Generate
  secretRef: {name: %s-key}
"""

DELIVERY = """apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata:
  name: app
spec:
  source:
    image: %s/acme/app
    tags: ["1.0"]
  targets:
  - image: %s/mirror/app
"""

SOURCE = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: %(name)s, namespace: team}
spec:
  url: %(url)s
  ref: {branch: main}
  path: %(path)s
  interval: 1s
%(extra)s"""


class GitSourceSecurityTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.kube.kubectl("create", "namespace", "team")
        self.git_base = os.path.join(self.tmp, "git")
        os.makedirs(self.git_base)

    def start_controller(self, lab=True):
        self.ctl = Controller(self, self.kube, lab=lab,
                              env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()

    def apply_source(self, name, url, path="deploy", extra=""):
        self.kube.kubectl("apply", "-f", "-", input=SOURCE % {
            "name": name, "url": url, "path": path, "extra": extra})

    def get(self, kind, name):
        cp = self.kube.kubectl("get", kind, "-n", "team", name, "-o", "json",
                               "--show-managed-fields", check=False)
        return json.loads(cp.stdout) if cp.returncode == 0 else None

    def ready(self, name):
        for c in (self.get("gitsrc", name) or {}).get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c
        return None

    def wait_reason(self, name, reason, timeout=30):
        return procs.wait_for(lambda: (self.ready(name) or {}).get("reason") == reason
                              and self.ready(name), timeout=timeout,
                              what=f"GitSource {name}: Ready reason {reason}")

    def wait_revision(self, name, commit, timeout=30):
        procs.wait_for(lambda: (self.get("gitsrc", name) or {}).get("status", {}).get(
            "lastAppliedRevision") == f"main@sha1:{commit}", timeout=timeout,
            what=f"GitSource {name}: revision {commit[:12]} applied")

    def keys(self):
        out = self.kube.kubectl("get", "sigkey", "-n", "team", "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(out.split())

    def secret(self, name, labelled, **data):
        args = ["create", "secret", "generic", "-n", "team", name]
        args += [f"--from-literal={k}={v}" for k, v in data.items()]
        self.kube.kubectl(*args)
        if labelled:
            self.kube.kubectl("label", "secret", "-n", "team", name,
                              "sealift.dev/secret-type=repository")

    def test_credentials_only_for_their_repository(self):
        self.start_controller()
        # the attacker's server asks for credentials (401 + WWW-Authenticate)
        attacker = GitHttp(self, self.git_base, user="x", password="y")
        evil = Repo(self.git_base, "evil")
        evil.write("deploy/a.yaml", KEY % ("a", "a"))
        evil.commit()
        # a database Secret of the namespace: no url, no repository label
        self.secret("db", False, username="app", password="db-s3cret-password")
        self.apply_source("exfil", attacker.url("evil"), extra="  secretRef: {name: db}\n")
        cond = self.wait_reason("exfil", "CredentialsNotForURL")
        self.assertEqual(cond["status"], "False")
        self.assertIn("sealift.dev/secret-type=repository", cond["message"])
        # labelled as a repository Secret but without url: still refused
        self.secret("nourl", True, username="app", password="db-s3cret-password")
        self.apply_source("exfil2", attacker.url("evil"), extra="  secretRef: {name: nourl}\n")
        cond = self.wait_reason("exfil2", "CredentialsNotForURL")
        self.assertIn("the Secret has no url key", cond["message"])

        # team-a's Secret is for http://<server>/team-a; a sibling path is not covered
        server = GitHttp(self, self.git_base, user="team-a", password="team-a-s3cret")
        base = f"http://127.0.0.1:{server.port}"
        good = Repo(self.git_base, "team-a/app")
        good.write("deploy/b.yaml", KEY % ("b", "b"))
        rev = good.commit()
        sibling = Repo(self.git_base, "team-a-evil")
        sibling.write("deploy/c.yaml", KEY % ("c", "c"))
        sibling.commit()
        self.secret("team-a", True, url=f"{base}/team-a", username="team-a",
                    password="team-a-s3cret")
        self.apply_source("sibling", f"{base}/team-a-evil.git",
                          extra="  secretRef: {name: team-a}\n")
        cond = self.wait_reason("sibling", "CredentialsNotForURL")
        self.assertIn(f"is not for {base}/team-a-evil.git", cond["message"])
        self.apply_source("dotdot", f"{base}/team-a/../team-a-evil.git",
                          extra="  secretRef: {name: team-a}\n")
        self.wait_reason("dotdot", "CredentialsNotForURL")
        # the repository the Secret is for: fetched with the credentials and applied
        self.apply_source("good", f"{base}/team-a/app.git",
                          extra="  secretRef: {name: team-a}\n")
        self.wait_revision("good", rev)
        self.assertEqual(self.keys(), ["b"])

        # nothing went to the attacker's server, and no credentials to the sibling path
        self.assertEqual([r for r in attacker.requests if r["authorization"]], [])
        self.assertEqual([r for r in server.requests
                          if "team-a-evil" in r["path"] and r["authorization"]], [])
        self.assertTrue(any(r["authorization"] for r in server.requests
                            if r["path"].startswith("/team-a/app.git")))
        self.assertNotIn("db-s3cret-password", self.ctl.proc.output())

    def test_no_credentials_after_a_redirect_to_another_server(self):
        self.start_controller()
        attacker = GitHttp(self, self.git_base, user="x", password="y")
        evil = Repo(self.git_base, "team-a/app")
        evil.write("deploy/a.yaml", KEY % ("a", "a"))
        evil.commit()
        # the server the Secret is for sends its clients to the attacker's
        redirect = Redirector(self, f"http://127.0.0.1:{attacker.port}")
        self.secret("team-a", True, url=f"http://127.0.0.1:{redirect.port}/team-a",
                    username="team-a", password="team-a-s3cret")
        self.apply_source("redirected", redirect.url("team-a/app"),
                          extra="  secretRef: {name: team-a}\n")
        cond = procs.wait_for(lambda: (self.ready("redirected") or {}).get("status") == "False"
                              and self.ready("redirected"), timeout=30,
                              what="Ready=False after the redirect")
        self.assertIn(cond["reason"], ("FetchFailed", "AuthenticationFailed"), cond)
        self.assertTrue(redirect.requests)
        self.assertEqual([r for r in attacker.requests if r["authorization"]], [])
        self.assertEqual([r for r in redirect.requests if r["authorization"]], [])
        self.assertEqual(self.keys(), [])

    def test_file_url_needs_the_administrator_flag(self):
        self.start_controller(lab=False)
        repo = Repo(self.git_base, "local")
        repo.write("deploy/a.yaml", KEY % ("a", "a"))
        repo.commit()
        self.apply_source("local", "file://" + repo.bare)
        cond = self.wait_reason("local", "LocalPathNotAllowed")
        self.assertEqual(cond["status"], "False")
        self.assertIn("--allow-local-paths", cond["message"])
        self.assertEqual(self.keys(), [])

    def test_administrator_object_not_adopted_changed_or_pruned(self):
        self.start_controller()
        # the administrator's ImageDelivery, created before the GitSource
        self.kube.kubectl("apply", "-n", "team", "-f", "-", input=DELIVERY % (
            "registry.admin.example", "registry.admin.example"))
        before = self.get("imd", "app")
        repo = Repo(self.git_base, "platform")
        repo.write("deploy/app.yaml", DELIVERY % ("evil.example", "evil.example"))
        repo.write("deploy/a.yaml", KEY % ("a", "a"))
        repo.commit()
        daemon = GitDaemon(self, self.git_base)
        self.apply_source("platform", daemon.url("platform"), extra="  prune: true\n")
        cond = self.wait_reason("platform", "ApplyFailed")
        self.assertIn("deploy/app.yaml:1: ImageDelivery team/app exists and was not created by "
                      "GitSource team/platform: not changed (to hand it over, annotate it "
                      "sealift.dev/adopt=team/platform)", cond["message"])
        procs.wait_for(lambda: self.keys() == ["a"], timeout=30, what="a applied")
        after = self.get("imd", "app")
        self.assertEqual(after["spec"], before["spec"])
        self.assertNotIn("sealift.dev/gitsource-name", after["metadata"].get("labels", {}))
        managers = [m.get("manager", "") for m in after["metadata"].get("managedFields", [])]
        self.assertFalse([m for m in managers if m.startswith("sealift-gitsource/")], managers)
        # the file goes away: the administrator's object stays as it was
        repo.remove("deploy/app.yaml")
        rev = repo.commit("remove app")
        self.wait_revision("platform", rev)
        after = self.get("imd", "app")
        self.assertIsNotNone(after)
        self.assertEqual(after["spec"], before["spec"])
        # deleting the GitSource (prune) deletes what it applied, not the administrator's object
        self.kube.kubectl("delete", "gitsrc", "-n", "team", "platform", "--timeout=60s")
        self.assertEqual(self.keys(), [])
        self.assertIsNotNone(self.get("imd", "app"))

    def test_two_sources_keep_to_their_own_objects(self):
        self.start_controller()
        repo = Repo(self.git_base, "platform")
        repo.write("one/a.yaml", KEY % ("a", "a"))
        repo.write("one/c.yaml", KEY % ("c", "c"))
        repo.write("two/b.yaml", KEY % ("b", "b"))
        rev = repo.commit()
        daemon = GitDaemon(self, self.git_base)
        self.apply_source("one", daemon.url("platform"), path="one", extra="  prune: true\n")
        self.apply_source("two", daemon.url("platform"), path="two", extra="  prune: true\n")
        self.wait_revision("one", rev)
        self.wait_revision("two", rev)
        # a new revision makes both apply (and prune) again: each keeps the other's object
        repo.write("README.md", "x\n")
        rev = repo.commit("readme")
        self.wait_revision("one", rev)
        self.wait_revision("two", rev)
        self.assertEqual(self.keys(), ["a", "b", "c"])
        a = self.get("sigkey", "a")
        self.assertEqual(a["metadata"]["labels"]["sealift.dev/gitsource-name"], "one")
        self.assertEqual(a["metadata"]["labels"]["sealift.dev/gitsource-namespace"], "team")
        # the spec is managed by one's own field manager only (status is the SigningKey
        # reconciler's)
        managers = {m.get("manager") for m in a["metadata"].get("managedFields", [])
                    if not m.get("subresource")}
        self.assertEqual(managers, {"sealift-gitsource/team/one"})
        # two also claims a: refused, a stays one's
        repo.write("two/a.yaml", (KEY % ("a", "a")).replace("a-key", "stolen-key"))
        repo.commit("two claims a")
        cond = self.wait_reason("two", "ApplyFailed")
        self.assertIn("SigningKey team/a exists and was not created by GitSource team/two",
                      cond["message"])
        self.assertEqual(self.get("sigkey", "a")["spec"]["secretRef"]["name"], "a-key")
        # one drops a: pruned by one; two's b stays
        repo.remove("one/a.yaml")
        repo.remove("two/a.yaml")
        rev = repo.commit("drop a")
        self.wait_revision("one", rev)
        self.wait_revision("two", rev)
        self.assertEqual(self.keys(), ["b", "c"])

    def test_deeply_nested_yaml_fails_alone(self):
        self.start_controller()
        repo = Repo(self.git_base, "platform")
        repo.write("deploy/a.yaml", KEY % ("a", "a"))
        repo.write("deploy/deep.yaml", "kind: SigningKey\nspec: " + "[" * (128 * 1024) + "\n")
        repo.write("deploy/z.yaml", KEY % ("z", "z"))
        repo.commit()
        daemon = GitDaemon(self, self.git_base)
        self.apply_source("platform", daemon.url("platform"))
        cond = self.wait_reason("platform", "ApplyFailed")
        self.assertIn("deploy/deep.yaml: line 2 column 206: nested deeper than 200 levels",
                      cond["message"])
        procs.wait_for(lambda: self.keys() == ["a", "z"], timeout=30, what="a and z applied")


if __name__ == "__main__":
    unittest.main(verbosity=2)
