"""GitSource spec.serviceAccountName end to end on a real API server with RBAC: the controller
(its ClusterRole from crds/rbac.yaml, which may impersonate ServiceAccounts only) applies the
repository's objects as that ServiceAccount. What the ServiceAccount may write is created; what
its RBAC forbids is named in Ready=False ApplyFailed with the ServiceAccount, and nothing of it is
created. Without serviceAccountName the same repository applies with the controller's rights."""
import json
import os
import unittest

import procs
from controller import Controller
from gitserver import Repo
from kube import Cluster

# what the repository holds: suspended GitSources (storage version v1beta1, so applying them
# needs no conversion webhook), one in the controller's namespace, one in another namespace
CHILD = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: child, namespace: %s}
spec:
  url: https://git.example/child.git
  suspend: true
"""

SOURCE = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: platform, namespace: sealift-system}
spec:
  url: file://%(url)s
  path: deploy
  interval: 2s
  serviceAccountName: deployer
"""

# deployer may write GitSources in sealift-system only; it may list the five kinds everywhere
# (a GitSource of the controller's namespace lists what carries its labels in every namespace to
# prune it)
RBAC = """apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: sealift-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: sealift-system}
rules:
- apiGroups: [sealift.dev]
  resources: [gitsources]
  verbs: [get, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: sealift-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: sealift-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: deployer-list}
rules:
- apiGroups: [sealift.dev]
  resources: [imagedeliveries, scanpolicies, signingkeys, deploypolicies, gitsources]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: deployer-list}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: deployer-list}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: sealift-system}
"""


class ServiceAccountTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.kube.kubectl("create", "namespace", "other")
        self.kube.kubectl("apply", "-f", "-", input=RBAC)
        git_base = os.path.join(self.tmp, "git")
        os.makedirs(git_base)
        self.repo = Repo(git_base, "platform")
        self.ctl = Controller(self, self.kube,
                              env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()

    def ready(self):
        obj = json.loads(self.kube.kubectl("get", "gitsource", "-n", "sealift-system",
                                           "platform", "-o", "json").stdout)
        for c in obj.get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c
        return {}

    def wait_ready(self, reason, contains):
        def done():
            c = self.ready()
            return c if c.get("reason") == reason and contains in c.get("message", "") else None
        return procs.wait_for(done, timeout=90, what=f"Ready reason {reason} ({contains})")

    def children(self, ns):
        out = self.kube.kubectl("get", "gitsource", "-n", ns, "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(n for n in out.split() if n != "platform")

    def test_applies_with_the_service_accounts_rights(self):
        self.repo.write("deploy/here.yaml", CHILD % "sealift-system")
        self.repo.write("deploy/there.yaml", CHILD % "other")
        rev = self.repo.commit("a child here and one in another namespace")
        self.kube.kubectl("apply", "-f", "-", input=SOURCE % {"url": self.repo.bare})

        c = self.wait_ready("ApplyFailed", "deploy/there.yaml")
        self.assertEqual(c["status"], "False")
        self.assertIn(rev, c["message"])
        self.assertIn("GitSource child: applying as ServiceAccount sealift-system/deployer",
                      c["message"])
        self.assertIn('User "system:serviceaccount:sealift-system:deployer" cannot',
                      c["message"])
        self.assertIn('in the namespace "other"', c["message"])
        self.assertNotIn("deploy/here.yaml", c["message"])
        # what the ServiceAccount may write is there; nothing of the forbidden object is
        self.assertEqual(self.children("sealift-system"), ["child"])
        self.assertEqual(self.children("other"), [])
        created = json.loads(self.kube.kubectl("get", "gitsource", "-n", "sealift-system",
                                               "child", "-o", "json").stdout)
        self.assertEqual(created["metadata"]["labels"]["sealift.dev/gitsource-name"], "platform")

        # without serviceAccountName the same repository applies with the controller's rights
        self.kube.kubectl("patch", "gitsource", "-n", "sealift-system", "platform", "--type",
                          "json", "-p", '[{"op":"remove","path":"/spec/serviceAccountName"}]')
        c = self.wait_ready("Applied", rev)
        self.assertEqual(c["status"], "True")
        self.assertEqual(self.children("other"), ["child"])

    def test_schema_and_impersonation_bounds(self):
        bad = (SOURCE % {"url": self.repo.bare}).replace("deployer", "Deployer")
        r = self.kube.kubectl("apply", "-f", "-", input=bad, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec.serviceAccountName", r.stderr)
        # the controller's own identity may impersonate a ServiceAccount (and gets its groups
        # from the API server), but no user and no group
        sa = "--as=system:serviceaccount:sealift-system:deployer"
        r = self.kube.kubectl(sa, "get", "gitsources", "-n", "sealift-system", as_controller=True)
        self.assertEqual(r.returncode, 0)
        r = self.kube.kubectl(sa, "--as-group=system:masters", "get", "secrets", "-A",
                              as_controller=True, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('cannot impersonate resource "groups"', r.stderr)
        r = self.kube.kubectl("--as=admin", "get", "secrets", "-A", as_controller=True,
                              check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('cannot impersonate resource "users"', r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
