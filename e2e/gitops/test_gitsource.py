"""GitSource end to end: real git servers (git daemon, git http-backend with Basic auth, file://),
a real API server (hack/cluster.sh) driven with kubectl, and the controller applying what is committed:
revisions, inventory, prune, drift correction (fields changed and fields added by hand), a broken
file, suspend, push webhooks, what deleting a GitSource does to the objects it applied
(spec.prune), a fetch from a stalled server stopped at spec.timeout, and spec.ignore."""
import base64
import hashlib
import hmac
import json
import os
import time
import unittest
import urllib.request

import procs
from controller import Controller
from gitserver import GitDaemon, GitHttp, Repo
from kube import Cluster
from registry import FaultProxy

KEY = """apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata:
  name: %s
spec:
  mode: Generate
  secretRef: {name: %s-key}
"""

IMD = """apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata:
  name: app
spec:
  suspend: true
  interval: 1h
  source:
    image: registry.invalid/acme/app
    tagPattern: '^1\\.4\\.[0-9]+$'
  targets:
  - image: registry.invalid/mirror/app
"""

SOURCE = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: %(name)s, namespace: team}
spec:
  url: %(url)s
  ref: {branch: main}
  path: deploy
  interval: %(interval)s
%(extra)s"""


class GitSourceTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.kube.kubectl("create", "namespace", "team")
        self.git_base = os.path.join(self.tmp, "git")
        os.makedirs(self.git_base)
        self.repo = Repo(self.git_base, "platform")
        self.repo.write("deploy/a.yaml", KEY % ("a", "a"))
        self.repo.write("deploy/more/b.yml", KEY % ("b", "b"))
        self.repo.write("README.md", "not applied\n")
        self.first = self.repo.commit("first")
        self.ctl = Controller(self, self.kube,
                              env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()

    def apply_source(self, url, name="platform", interval="2s", extra=""):
        self.kube.kubectl("apply", "-f", "-", input=SOURCE % {
            "name": name, "url": url, "interval": interval, "extra": extra})

    def source(self, name="platform"):
        return json.loads(self.kube.kubectl("get", "gitsrc", "-n", "team", name,
                                            "-o", "json").stdout)

    def ready(self, name="platform"):
        for c in self.source(name).get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c
        return None

    def wait_revision(self, commit, name="platform", timeout=30):
        def done():
            st = self.source(name).get("status", {})
            return st.get("lastAppliedRevision") == f"main@sha1:{commit}"
        procs.wait_for(done, timeout=timeout, what=f"revision {commit[:12]} applied")

    def keys(self):
        out = self.kube.kubectl("get", "sigkey", "-n", "team", "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(out.split())

    def test_git_daemon_revisions_prune_and_drift(self):
        daemon = GitDaemon(self, self.git_base)
        self.apply_source(daemon.url("platform"))
        self.wait_revision(self.first)
        self.assertEqual(self.keys(), ["a", "b"])
        st = self.source()["status"]
        self.assertEqual(st["artifact"]["revision"], f"main@sha1:{self.first}")
        self.assertEqual(sorted(i["name"] for i in st["inventory"]), ["a", "b"])
        out = self.kube.kubectl("get", "gitsrc", "-n", "team").stdout
        self.assertIn(f"main@sha1:{self.first}", out)
        self.assertIn("True", out)
        # the applied objects become Ready (the SigningKey reconciler runs on them)
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "team", "sigkey/a",
                          "--timeout=30s")

        # change a file: the new revision is applied
        self.repo.write("deploy/a.yaml", (KEY % ("a", "a")).replace(
            "Generate", "Generate\n  algorithm: ed25519").replace("a-key", "a2-key"))
        second = self.repo.commit("change a")
        self.wait_revision(second)
        spec = json.loads(self.kube.kubectl("get", "sigkey", "-n", "team", "a", "-o",
                                            "json").stdout)["spec"]
        self.assertEqual(spec["secretRef"]["name"], "a2-key")

        # drift: an edit with kubectl is put back at the next interval
        self.kube.kubectl("patch", "sigkey", "-n", "team", "b", "--type", "merge",
                          "-p", '{"spec":{"secretRef":{"name":"edited"}}}')
        procs.wait_for(lambda: json.loads(self.kube.kubectl(
            "get", "sigkey", "-n", "team", "b", "-o", "json").stdout)["spec"]["secretRef"]
            ["name"] == "b-key", timeout=30, what="drift corrected")
        # the real API server's managedFields: the field is the GitSource's (server-side apply
        # with its own field manager), not kubectl's any more
        obj = json.loads(self.kube.kubectl("get", "sigkey", "-n", "team", "b", "-o", "json",
                                           "--show-managed-fields").stdout)
        owners = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
        mine = owners.get("sealift-gitsource/team/platform")
        self.assertIsNotNone(mine, sorted(owners))
        self.assertEqual(mine["operation"], "Apply")
        self.assertIn("f:secretRef", json.dumps(mine["fieldsV1"]))
        self.assertNotIn("f:secretRef", json.dumps(owners.get("kubectl-patch", {})))

        # an object created by someone else is never pruned; a deleted file is
        self.kube.kubectl("apply", "-n", "team", "-f", "-", input=KEY % ("manual", "manual"))
        self.repo.remove("deploy/more/b.yml")
        third = self.repo.commit("remove b")
        self.wait_revision(third)
        self.assertEqual(self.keys(), ["a", "manual"])
        # the key Secret of a pruned SigningKey stays
        self.assertEqual(self.kube.kubectl("get", "secret", "-n", "team", "b-key",
                                           check=False).returncode, 0)

    def test_hand_edit_of_an_applied_object_is_taken_back(self):
        # a field git does not have (spec.platforms) is added and one git has (interval) changed
        # by hand on a git-managed ImageDelivery (suspended: no registry is needed)
        self.repo.write("deploy/imd.yaml", IMD)
        commit = self.repo.commit("an ImageDelivery")
        daemon = GitDaemon(self, self.git_base)
        self.apply_source(daemon.url("platform"))
        self.wait_revision(commit)

        def spec():
            return json.loads(self.kube.kubectl("get", "imd", "-n", "team", "app", "-o",
                                                "json").stdout)["spec"]
        self.assertNotIn("platforms", spec())
        # the patch's own answer is the object as stored by it: a read after it could already
        # see the next apply (every 2 s) take the edit back
        patched = json.loads(self.kube.kubectl(
            "patch", "imd", "-n", "team", "app", "--type", "merge", "-o", "json",
            "-p", '{"spec":{"platforms":["linux/arm64"],"interval":"2h"}}').stdout)
        self.assertEqual(patched["spec"]["platforms"], ["linux/arm64"])
        # the next apply (every 2 s) removes the field git does not have and restores git's
        procs.wait_for(lambda: "platforms" not in spec() and spec()["interval"] == "1h",
                       timeout=60, what="the hand edits of spec taken back")
        self.assertEqual(spec()["source"]["tagPattern"], r"^1\.4\.[0-9]+$")
        obj = json.loads(self.kube.kubectl("get", "imd", "-n", "team", "app", "-o", "json",
                                           "--show-managed-fields").stdout)
        managers = sorted(m["manager"] for m in obj["metadata"]["managedFields"])
        self.assertNotIn("kubectl-patch", managers)
        self.assertEqual(self.ready()["status"], "True")
        # the GitSource says what it did, and how to edit by hand instead
        def drift_event():
            ev = json.loads(self.kube.kubectl("get", "events", "-n", "team", "-o",
                                              "json").stdout)["items"]
            return [e for e in ev if e.get("reason") == "DriftCorrected"
                    and e["involvedObject"].get("kind") == "GitSource"]
        found = procs.wait_for(drift_event, timeout=30, what="a DriftCorrected event")
        self.assertIn("ImageDelivery app", found[0]["message"])
        self.assertIn("kubectl-patch", found[0]["message"])
        self.assertIn("spec.suspend", found[0]["message"])

    def test_http_basic_auth_and_broken_file(self):
        http = GitHttp(self, self.git_base)
        # no credentials: the server's 401 is reported
        self.apply_source(http.url("platform"), interval="1s")
        procs.wait_for(lambda: (self.ready() or {}).get("status") == "False", timeout=30,
                       what="Ready=False without credentials")
        self.assertIn(self.ready()["reason"], ("AuthenticationFailed", "FetchFailed"))
        self.kube.kubectl("create", "secret", "generic", "-n", "team", "git-auth",
                          f"--from-literal=url={http.url('platform')}",
                          f"--from-literal=username={http.user}",
                          f"--from-literal=password={http.password}")
        self.kube.kubectl("label", "secret", "-n", "team", "git-auth",
                          "sealift.dev/secret-type=repository")
        self.apply_source(http.url("platform"), interval="1s",
                          extra="  secretRef: {name: git-auth}\n")
        self.wait_revision(self.first)
        self.assertEqual(self.keys(), ["a", "b"])
        self.assertNotIn(http.password, self.ctl.proc.output())

        # a broken file is named in the condition; the others are still applied
        self.repo.write("deploy/broken.yaml", "kind: [oops\n")
        self.repo.write("deploy/c.yaml", KEY % ("c", "c"))
        self.repo.commit("broken")
        procs.wait_for(lambda: (self.ready() or {}).get("reason") == "ApplyFailed", timeout=30,
                       what="ApplyFailed")
        self.assertIn("deploy/broken.yaml", self.ready()["message"])
        procs.wait_for(lambda: "c" in self.keys(), timeout=30, what="c applied")

    def test_timeout_stops_a_stalled_fetch(self):
        # a git server that accepts the connection and never answers (every ref advertisement
        # request is held open by the proxy)
        http = GitHttp(self, self.git_base)
        stall = FaultProxy(self, f"127.0.0.1:{http.port}", "hold", 1000, name="stall",
                           match="info/refs")
        self.apply_source(f"http://{stall.host}/platform.git", interval="1h",
                          extra="  timeout: 2s\n")
        procs.wait_for(lambda: (self.ready() or {}).get("reason") == "FetchFailed", timeout=90,
                       what="the stalled fetch stopped at spec.timeout")
        ready = self.ready()
        self.assertEqual(ready["status"], "False")
        self.assertIn(f"fetching http://{stall.host}/platform.git did not finish within the "
                      "timeout of 2s (spec.timeout)", ready["message"])
        self.assertGreaterEqual(stall.faults(), 1)
        self.assertEqual(self.keys(), [])
        # kubectl shows the timeout as written; the next fetch from a server that answers works
        self.assertEqual(self.source()["spec"]["timeout"], "2s")
        daemon = GitDaemon(self, self.git_base)
        self.apply_source(daemon.url("platform"), interval="1h", extra="  timeout: 2s\n")
        self.wait_revision(self.first, timeout=60)
        self.assertEqual(self.keys(), ["a", "b"])

    def test_ignored_files_create_nothing(self):
        self.repo.write("deploy/c.draft.yaml", KEY % ("c", "c"))
        self.repo.write("deploy/broken.draft.yaml", "kind: [oops\n")
        rev = self.repo.commit("drafts")
        self.apply_source("file://" + self.repo.bare,
                          extra="  ignore: |\n    # work in progress\n    *.draft.yaml\n"
                                "    /deploy/more/\n")
        self.wait_revision(rev)
        self.assertEqual(self.keys(), ["a"])
        self.assertEqual(self.ready()["reason"], "Applied")
        self.assertEqual([i["name"] for i in self.source()["status"]["inventory"]], ["a"])
        self.assertIn("*.draft.yaml", self.source()["spec"]["ignore"])

    def test_file_url_suspend_and_foreign_namespace(self):
        self.repo.write("deploy/other-ns.yaml", (KEY % ("x", "x")).replace(
            "name: x\n", "name: x\n  namespace: kube-system\n"))
        rev = self.repo.commit("other namespace")
        self.apply_source("file://" + self.repo.bare)
        procs.wait_for(lambda: (self.ready() or {}).get("reason") == "ApplyFailed", timeout=30,
                       what="namespace rule reported")
        self.assertIn("deploy/other-ns.yaml", self.ready()["message"])
        self.assertIn("kube-system is not allowed", self.ready()["message"])
        self.assertEqual(self.keys(), ["a", "b"])
        self.assertEqual(self.source()["status"]["artifact"]["revision"], f"main@sha1:{rev}")
        # suspend: nothing is fetched or applied
        self.apply_source("file://" + self.repo.bare, extra="  suspend: true\n")
        procs.wait_for(lambda: (self.ready() or {}).get("reason") == "Suspended", timeout=30,
                       what="Suspended")
        self.repo.write("deploy/d.yaml", KEY % ("d", "d"))
        self.repo.commit("d")
        time.sleep(3)
        self.assertNotIn("d", self.keys())

    def wait_deleted(self, *args):
        """kubectl delete (which waits for finalizers), then checks the object is gone."""
        self.kube.kubectl("delete", *args, "--timeout=60s")
        got = self.kube.kubectl("get", *args, check=False)
        self.assertNotEqual(got.returncode, 0)
        self.assertIn("NotFound", got.stderr)

    def secrets(self):
        out = self.kube.kubectl("get", "secret", "-n", "team", "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(out.split())

    def test_delete_with_prune_deletes_applied_objects(self):
        daemon = GitDaemon(self, self.git_base)
        self.apply_source(daemon.url("platform"), extra="  prune: true\n")
        self.wait_revision(self.first)
        self.assertEqual(self.keys(), ["a", "b"])
        self.assertIn("sealift.dev/gitsource-prune",
                      self.source()["metadata"].get("finalizers", []))
        # the SigningKeys generate their key Secrets; an object not from git is left alone
        self.kube.kubectl("wait", "--for=condition=Ready", "-n", "team", "sigkey/a", "sigkey/b",
                          "--timeout=30s")
        self.kube.kubectl("apply", "-n", "team", "-f", "-", input=KEY % ("manual", "manual"))

        self.wait_deleted("gitsource", "-n", "team", "platform")
        self.assertEqual(self.keys(), ["manual"])
        # the key Secrets of deleted SigningKeys stay (sealift never deletes keys)
        for name in ("a-key", "b-key"):
            self.assertIn(name, self.secrets())
        # the same answer from the Kubernetes API through the python client
        from kubernetes import client
        api_client = self.kube.api_client()
        try:
            api = client.CustomObjectsApi(api_client)
            items = api.list_namespaced_custom_object("sealift.dev", "v1beta1", "team",
                                                      "signingkeys")["items"]
            self.assertEqual([i["metadata"]["name"] for i in items], ["manual"])
            self.assertEqual(api.list_namespaced_custom_object(
                "sealift.dev", "v1beta1", "team", "gitsources")["items"], [])
        finally:
            api_client.close()

    def test_delete_without_prune_leaves_applied_objects(self):
        daemon = GitDaemon(self, self.git_base)
        self.apply_source(daemon.url("platform"), extra="  prune: false\n")
        self.wait_revision(self.first)
        self.assertEqual(self.keys(), ["a", "b"])
        self.assertNotIn("sealift.dev/gitsource-prune",
                         self.source()["metadata"].get("finalizers", []))
        self.wait_deleted("gitsource", "-n", "team", "platform")
        self.assertEqual(self.keys(), ["a", "b"])

        # the orphans still carry platform's labels: another GitSource takes them only when
        # they are handed over
        for key in ("a", "b"):
            self.kube.kubectl("annotate", "sigkey", "-n", "team", key,
                              "sealift.dev/adopt=team/again")
        # prune turned off on a GitSource that had it: the finalizer comes off, deleting
        # orphans the objects
        self.apply_source(daemon.url("platform"), name="again")
        self.wait_revision(self.first, name="again")
        procs.wait_for(lambda: "sealift.dev/gitsource-prune" in
                       self.source("again")["metadata"].get("finalizers", []),
                       timeout=30, what="finalizer added")
        self.apply_source(daemon.url("platform"), name="again", extra="  prune: false\n")
        procs.wait_for(lambda: "sealift.dev/gitsource-prune" not in
                       self.source("again")["metadata"].get("finalizers", []),
                       timeout=30, what="finalizer removed")
        self.wait_deleted("gitsource", "-n", "team", "again")
        self.assertEqual(self.keys(), ["a", "b"])

    def test_push_webhook(self):
        self.kube.kubectl("create", "secret", "generic", "-n", "team", "hook",
                          "--from-literal=token=hook-s3cret")
        # a long interval: only the webhook can make it fetch soon
        self.apply_source("file://" + self.repo.bare, interval="1h",
                          extra="  webhook: {secretRef: {name: hook}}\n")
        self.wait_revision(self.first)
        # the first pass adds the prune finalizer, a metadata change that queues a second pass
        # (which fetches again) right after it; let that pass go by before the new commit, so
        # that only the webhook can explain a fetch of it
        time.sleep(2)
        self.repo.write("deploy/e.yaml", KEY % ("e", "e"))
        second = self.repo.commit("e")
        body = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
        url = f"http://{self.ctl.metrics_addr}/hooks/gitsource/team/platform"

        def post(headers, data=body):
            req = urllib.request.Request(url, data=data, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        bad = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
        self.assertEqual(post({"X-Hub-Signature-256": bad}), 401)
        self.assertEqual(post({"X-Gitlab-Token": "nope"}), 401)
        self.assertEqual(post({}), 401)
        self.assertEqual(post({"X-Hub-Signature-256": bad}, data=b"x" * (2 << 20)), 413)
        time.sleep(2)
        self.assertNotIn("e", self.keys())
        good = "sha256=" + hmac.new(b"hook-s3cret", body, hashlib.sha256).hexdigest()
        self.assertEqual(post({"X-Hub-Signature-256": good}), 202)
        self.wait_revision(second, timeout=20)
        self.assertIn("e", self.keys())
        # GitLab style token
        self.repo.write("deploy/f.yaml", KEY % ("f", "f"))
        third = self.repo.commit("f")
        self.assertEqual(post({"X-Gitlab-Token": "hook-s3cret"}), 202)
        self.wait_revision(third, timeout=20)
        # unknown GitSource: 401, not 404 (does not reveal what exists)
        req = urllib.request.Request(url.replace("platform", "nope"), data=body, method="POST",
                                     headers={"X-Hub-Signature-256": good})
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(ctx.exception.code, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
