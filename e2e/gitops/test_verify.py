"""GitSource spec.verify end to end: commits and tags signed by a real `git commit -S` /
`git tag -s` with gpg.format=ssh and ssh-keygen keys (ed25519, ECDSA, RSA), and commits signed
with OpenPGP by a real gpg (git's default gpg.format), the trusted keys in a Secret as
authorized_keys lines and an armored PGP public key block. Signed by a listed key: applied.
Unsigned, or signed by another key: Ready=False reason Unverified, and nothing of that revision is
applied."""
import json
import os
import unittest

import procs
from controller import Controller
from gitserver import Repo, git, ssh_keygen
from kube import Cluster

# what the repository holds: suspended GitSources (a kind whose storage version is v1beta1, so
# applying them needs no conversion webhook)
KEY = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata:
  name: %s
spec:
  url: https://git.example/%s.git
  suspend: true
"""

SOURCE = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: platform, namespace: %(ns)s}
spec:
  url: file://%(url)s
  ref: %(ref)s
  path: deploy
  interval: 2s
  verify:
    mode: %(mode)s
    secretRef: {name: git-keys}
"""


class VerifyTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        keys = os.path.join(self.tmp, "keys")
        os.makedirs(keys)
        self.trusted = ssh_keygen(os.path.join(keys, "trusted"))
        self.rotated = ssh_keygen(os.path.join(keys, "rotated"), "ecdsa")
        self.rsa = ssh_keygen(os.path.join(keys, "release-rsa"), "rsa")
        self.stranger = ssh_keygen(os.path.join(keys, "stranger"))
        self.gpg_home = os.path.join(self.tmp, "gnupg")
        os.makedirs(self.gpg_home, mode=0o700)
        self.addCleanup(procs.run, ["gpgconf", "--kill", "gpg-agent"], check=False,
                        env=dict(os.environ, GNUPGHOME=self.gpg_home))
        # what git runs as gpg.program: gpg with the scratch keyring
        self.gpg_program = os.path.join(self.tmp, "gpg-scratch")
        with open(self.gpg_program, "w") as f:
            f.write(f"#!/bin/sh\nexec gpg --homedir '{self.gpg_home}' \"$@\"\n")
        os.chmod(self.gpg_program, 0o755)
        self.pgp_trusted = self.gpg_key("release", "rsa3072")
        self.pgp_stranger = self.gpg_key("stranger", "ed25519")
        release_asc = self.gpg("--armor", "--export", self.pgp_trusted).stdout
        git_base = os.path.join(self.tmp, "git")
        os.makedirs(git_base)
        self.repo = Repo(git_base, "platform")
        for ns in ("team", "release"):
            self.kube.kubectl("create", "namespace", ns)
            pubs = {os.path.basename(k) + ".pub": self.read(k + ".pub")
                    for k in (self.trusted, self.rotated, self.rsa)}
            self.kube.kubectl("create", "secret", "generic", "-n", ns, "git-keys",
                              *[f"--from-literal={k}=# {k}\n{v}" for k, v in pubs.items()],
                              f"--from-literal=release.asc={release_asc}")
        self.ctl = Controller(self, self.kube,
                              env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()

    def gpg(self, *args):
        return procs.run(["gpg", "--homedir", self.gpg_home, "--batch", "--no-tty",
                          "--passphrase", "", *args])

    def gpg_key(self, name, algo):
        """Makes an OpenPGP signing key in the scratch keyring; returns its fingerprint."""
        uid = f"{name}@example.com"
        self.gpg("--quick-gen-key", f"{name} <{uid}>", algo, "sign", "never")
        out = self.gpg("--with-colons", "--fingerprint", uid).stdout
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def commit_pgp(self, msg, fpr):
        """Commits the work tree signed with OpenPGP key fpr (git's default gpg.format)."""
        git("add", "-A", cwd=self.repo.work)
        git("-c", f"gpg.program={self.gpg_program}", "-c", f"user.signingkey={fpr}", "commit",
            "-q", "--allow-empty", "-S", "-m", msg, cwd=self.repo.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.repo.work)
        return git("rev-parse", "HEAD", cwd=self.repo.work).stdout.strip()

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()

    def commit(self, msg, key=None):
        """Commits the work tree, signed with key (None: unsigned), and pushes it."""
        git("add", "-A", cwd=self.repo.work)
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
        git(*sign, "commit", "-q", "--allow-empty", *(["-S"] if key else []), "-m", msg,
            cwd=self.repo.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.repo.work)
        return git("rev-parse", "HEAD", cwd=self.repo.work).stdout.strip()

    def tag(self, name, key):
        git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "tag", "-s", "-m", name,
            name, cwd=self.repo.work)
        git("push", "-q", "origin", f"refs/tags/{name}", cwd=self.repo.work)

    def apply(self, ns, ref, mode):
        self.kube.kubectl("apply", "-f", "-", input=SOURCE % {
            "ns": ns, "url": self.repo.bare, "ref": ref, "mode": mode})

    def ready(self, ns):
        obj = json.loads(self.kube.kubectl("get", "gitsource", "-n", ns, "platform", "-o",
                                           "json").stdout)
        for c in obj.get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c, obj["status"]
        return {}, obj.get("status", {})

    def wait_ready(self, ns, reason, contains):
        def done():
            c, _ = self.ready(ns)
            return c if c.get("reason") == reason and contains in c.get("message", "") else None
        return procs.wait_for(done, timeout=60, what=f"{ns}: Ready reason {reason} ({contains})")

    def keys(self, ns):
        """The objects applied from git (every GitSource but the one reading the repository)."""
        out = self.kube.kubectl("get", "gitsource", "-n", ns, "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(n for n in out.split() if n != "platform")

    def test_signed_commits_and_tags(self):
        self.repo.write("deploy/a.yaml", KEY % ("a", "a"))
        first = self.commit("a, signed", self.trusted)
        self.apply("team", "{branch: main}", "HEAD")
        self.wait_ready("team", "Applied", first)
        self.assertEqual(self.keys("team"), ["a"])

        # unsigned: nothing of the revision is applied, the last verified one stays
        self.repo.write("deploy/b.yaml", KEY % ("b", "b"))
        unsigned = self.commit("b, unsigned")
        c = self.wait_ready("team", "Unverified", unsigned)
        self.assertEqual(c["status"], "False")
        self.assertIn(f"commit {unsigned[:12]} is not signed", c["message"])
        self.assertIn("nothing was applied", c["message"])
        # signed by a key that is not in the Secret
        self.repo.write("deploy/c.yaml", KEY % ("c", "c"))
        foreign = self.commit("c, signed by a stranger", self.stranger)
        c = self.wait_ready("team", "Unverified", foreign)
        self.assertIn("which is not one of the trusted keys", c["message"])
        fpr = procs.run(["ssh-keygen", "-lf", self.stranger + ".pub"]).stdout.split()[1]
        self.assertIn(fpr, c["message"])
        _, status = self.ready("team")
        self.assertEqual(status["lastAppliedRevision"], f"main@sha1:{first}")
        self.assertEqual(self.keys("team"), ["a"])
        # the next commit signed by another listed key (ECDSA, a rotation) applies all of it
        latest = self.commit("signed by the rotated key", self.rotated)
        self.wait_ready("team", "Applied", latest)
        self.assertEqual(self.keys("team"), ["a", "b", "c"])

        # mode Tag: the annotated tag must be signed (RSA here); a tag by a stranger is not
        self.tag("v1", self.rsa)
        self.tag("v2", self.stranger)
        self.apply("release", "{tag: v2}", "Tag")
        c = self.wait_ready("release", "Unverified", "v2@sha1:")
        self.assertIn("which is not one of the trusted keys", c["message"])
        self.assertEqual(self.keys("release"), [])
        self.apply("release", "{tag: v1}", "Tag")
        self.wait_ready("release", "Applied", "v1@sha1:")
        self.assertEqual(self.keys("release"), ["a", "b", "c"])

        # OpenPGP: a commit by a PGP key the Secret does not hold is Unverified, naming its key ID
        # (the low 64 bits of the fingerprint); one by the listed PGP key applies
        self.repo.write("deploy/d.yaml", KEY % ("d", "d"))
        foreign = self.commit_pgp("d, signed by a PGP stranger", self.pgp_stranger)
        c = self.wait_ready("team", "Unverified", foreign)
        self.assertIn("which is not one of the trusted keys", c["message"])
        self.assertIn(f"key ID {self.pgp_stranger[-16:]}", c["message"])
        self.assertEqual(self.keys("team"), ["a", "b", "c"])
        latest = self.commit_pgp("signed with the release PGP key", self.pgp_trusted)
        self.wait_ready("team", "Applied", latest)
        self.assertEqual(self.keys("team"), ["a", "b", "c", "d"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
