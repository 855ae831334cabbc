"""GitSource transports end to end: ssh:// against a real OpenSSH server (identity and known_hosts
from the GitSource's Secret, host key checked, never trusted on first use) and https:// with a
private CA (git http-backend behind TLS with Basic auth, `ca.crt` in the Secret).

Every GitSource lives in its own namespace so the objects it applies can be told apart."""
import json
import os
import re
import unittest

import procs
import tlsgen
from controller import Controller
from gitserver import GitHttps, Repo, SshServer, ssh_keygen
from kube import Cluster

KEY = """apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata:
  name: %s
spec:
  mode: Generate
  secretRef: {name: %s-key}
"""

SOURCE = """apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: platform, namespace: %(ns)s}
spec:
  url: %(url)s
  ref: {branch: main}
  path: deploy
  interval: 2s
  secretRef: {name: git-auth}
"""


def fingerprint(key):
    """SHA256:... of a key as sshd logs it, escaped for a regular expression."""
    fp = procs.run(["ssh-keygen", "-l", "-f", key + ".pub"]).stdout.split()[1]
    return re.escape(fp)


class TransportTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        self.git_base = os.path.join(self.tmp, "git")
        os.makedirs(self.git_base)
        self.repo = Repo(self.git_base, "platform")
        self.repo.write("deploy/a.yaml", KEY % ("a", "a"))
        self.repo.write("deploy/more/b.yml", KEY % ("b", "b"))
        self.first = self.repo.commit("first")
        self.ctl = Controller(self, self.kube,
                              env={"SEALIFT_STATE_DIR": os.path.join(self.tmp, "state")})
        self.ctl.wait_ready()

    def add_source(self, ns, url, secret):
        """Creates namespace ns, Secret git-auth with the given keys (file contents or literal
        strings) and a GitSource for url."""
        self.kube.kubectl("create", "namespace", ns)
        args = ["create", "secret", "generic", "-n", ns, "git-auth"]
        # a repository Secret: labelled as one, with the URL it is for
        secret = dict(secret, url=url)
        for i, (key, value) in enumerate(sorted(secret.items())):
            path = os.path.join(self.tmp, f"secret-{ns}-{i}")
            with open(path, "w") as f:
                f.write(value)
            args.append(f"--from-file={key}={path}")
        self.kube.kubectl(*args)
        self.kube.kubectl("label", "secret", "-n", ns, "git-auth",
                          "sealift.dev/secret-type=repository")
        self.kube.kubectl("apply", "-f", "-", input=SOURCE % {"ns": ns, "url": url})

    def source(self, ns):
        return json.loads(self.kube.kubectl("get", "gitsrc", "-n", ns, "platform",
                                            "-o", "json").stdout)

    def ready(self, ns):
        for c in self.source(ns).get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c
        return None

    def keys(self, ns):
        out = self.kube.kubectl("get", "sigkey", "-n", ns, "-o",
                                "jsonpath={.items[*].metadata.name}").stdout
        return sorted(out.split())

    def wait_revision(self, ns, commit, timeout=40):
        def done():
            st = self.source(ns).get("status", {})
            return st.get("lastAppliedRevision") == f"main@sha1:{commit}"
        procs.wait_for(done, timeout=timeout, interval=0.3,
                       what=f"{ns}: revision {commit[:12]} applied")

    def wait_failed(self, ns, timeout=40):
        """Waits for Ready=False; returns the condition."""
        return procs.wait_for(
            lambda: (self.ready(ns) or {}).get("status") == "False" and self.ready(ns),
            timeout=timeout, interval=0.3, what=f"{ns}: Ready=False")

    def assert_applied(self, ns, commit, keys=("a", "b")):
        self.wait_revision(ns, commit)
        self.assertEqual(self.keys(ns), list(keys))
        st = self.source(ns)["status"]
        self.assertEqual(st["artifact"]["revision"], f"main@sha1:{commit}")
        self.assertEqual(self.ready(ns)["status"], "True")

    def assert_refused(self, ns, *words):
        cond = self.wait_failed(ns)
        self.assertEqual(cond["reason"], "AuthenticationFailed", cond)
        for w in words:
            self.assertIn(w, cond["message"])
        self.assertEqual(self.keys(ns), [])
        self.assertNotIn("lastAppliedRevision", self.source(ns).get("status", {}))
        return cond

    def read(self, path):
        with open(path) as f:
            return f.read()

    def test_ssh(self):
        keys = os.path.join(self.tmp, "keys")
        os.makedirs(keys)
        ed = ssh_keygen(os.path.join(keys, "id_ed25519"), "ed25519")
        ec = ssh_keygen(os.path.join(keys, "id_ecdsa"), "ecdsa")
        stranger = ssh_keygen(os.path.join(keys, "id_stranger"), "ed25519")
        other_host = ssh_keygen(os.path.join(keys, "other_host"), "ed25519")
        sshd = SshServer(self, os.path.join(self.tmp, "sshd"), [ed + ".pub", ec + ".pub"])
        url = sshd.url(self.repo.bare)
        self.assertIn("-----BEGIN OPENSSH PRIVATE KEY-----", self.read(ed))
        self.assertIn("-----BEGIN OPENSSH PRIVATE KEY-----", self.read(ec))
        known = sshd.known_hosts()
        other_host_pub = " ".join(self.read(other_host + ".pub").split()[:2])

        # good: ed25519 identity, plain "[127.0.0.1]:port" entry among unrelated lines
        self.add_source("ssh-ed25519", url, {
            "identity": self.read(ed),
            "known_hosts": "# comment\ngithub.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1y\n"
                           + known})
        # good: ECDSA identity, hashed entry (ssh-keygen -H), username from the Secret
        hashed = sshd.known_hosts(hashed=True)
        self.assertTrue(hashed.startswith("|1|"), hashed)
        self.add_source("ssh-ecdsa", url.replace(f"{sshd.user}@", ""), {
            "identity": self.read(ec), "known_hosts": hashed, "username": sshd.user})
        # host key in known_hosts is another one
        self.add_source("ssh-wrong-hostkey", url, {
            "identity": self.read(ed),
            "known_hosts": f"[127.0.0.1]:{sshd.port} {other_host_pub}\n"})
        # the right key, but for port 22 ("127.0.0.1 key"): not this server
        self.add_source("ssh-wrong-port", url, {
            "identity": self.read(ed), "known_hosts": f"127.0.0.1 {sshd.host_pubkey()}\n"})
        # no known_hosts: never trusted on first use
        self.add_source("ssh-no-known-hosts", url, {"identity": self.read(ed)})
        # an identity the server does not know
        self.add_source("ssh-wrong-identity", url, {
            "identity": self.read(stranger), "known_hosts": known})

        self.assert_applied("ssh-ed25519", self.first)
        self.assert_applied("ssh-ecdsa", self.first)
        cond = self.assert_refused("ssh-wrong-hostkey", "host key", "known_hosts")
        self.assertIn("does not match", cond["message"])
        self.assert_refused("ssh-wrong-port", "host key", "known_hosts")
        cond = self.assert_refused("ssh-no-known-hosts", "host key", "known_hosts")
        self.assertIn("no known_hosts", cond["message"])
        cond = self.assert_refused("ssh-wrong-identity")
        self.assertIn("rejected", cond["message"])

        # a new commit arrives over ssh (incremental fetch into the existing clone)
        self.repo.write("deploy/c.yaml", KEY % ("c", "c"))
        second = self.repo.commit("c")
        self.wait_revision("ssh-ed25519", second)
        self.assertEqual(self.keys("ssh-ed25519"), ["a", "b", "c"])
        self.wait_revision("ssh-ecdsa", second)

        # sshd let in exactly the two authorized keys, never the stranger
        log = sshd.log()
        for k in (ed, ec):
            self.assertRegex(log, f"Accepted publickey for {sshd.user} .*{fingerprint(k)}")
        self.assertNotRegex(log, f"Accepted publickey .*{fingerprint(stranger)}")
        # private keys stay out of the controller's log and status
        out = self.ctl.proc.output()
        for k in (ed, ec, stranger):
            secret_line = self.read(k).splitlines()[1]
            self.assertNotIn(secret_line, out)
        # fixing the Secret of a refused source makes it Ready
        self.kube.kubectl("delete", "secret", "-n", "ssh-wrong-hostkey", "git-auth")
        self.kube.kubectl("create", "secret", "generic", "-n", "ssh-wrong-hostkey", "git-auth",
                          f"--from-file=identity={ed}",
                          f"--from-literal=known_hosts={known}", f"--from-literal=url={url}")
        self.kube.kubectl("label", "secret", "-n", "ssh-wrong-hostkey", "git-auth",
                          "sealift.dev/secret-type=repository")
        self.assert_applied("ssh-wrong-hostkey", second, keys=("a", "b", "c"))

    def test_https_private_ca(self):
        pki = tlsgen.make_serving_cert(os.path.join(self.tmp, "pki"))
        other = tlsgen.make_serving_cert(os.path.join(self.tmp, "other-pki"))
        http = GitHttps(self, self.git_base, os.path.join(pki, "tls.crt"),
                        os.path.join(pki, "tls.key"))
        url = http.url("platform")
        creds = {"username": http.user, "password": http.password}
        self.add_source("https-ca", url, dict(creds, **{"ca.crt": self.read(
            os.path.join(pki, "ca.crt"))}))
        self.add_source("https-no-ca", url, creds)
        self.add_source("https-other-ca", url, dict(creds, **{"ca.crt": self.read(
            os.path.join(other, "ca.crt"))}))
        # the right CA, wrong password: the server's 401 is reported
        self.add_source("https-bad-password", url, {
            "username": http.user, "password": "nope",
            "ca.crt": self.read(os.path.join(pki, "ca.crt"))})

        self.assert_applied("https-ca", self.first)
        cond = self.assert_refused("https-no-ca", "certificate")
        self.assertIn("TLS", cond["message"])
        self.assertNotIn("CA in the Secret", cond["message"])
        cond = self.assert_refused("https-other-ca", "certificate")
        self.assertIn("not trusted by the CA in the Secret", cond["message"])
        cond = self.wait_failed("https-bad-password")
        self.assertEqual(cond["reason"], "AuthenticationFailed", cond)
        self.assertNotIn("certificate", cond["message"])
        self.assertEqual(self.keys("https-bad-password"), [])

        self.repo.write("deploy/c.yaml", KEY % ("c", "c"))
        second = self.repo.commit("c")
        self.wait_revision("https-ca", second)
        self.assertEqual(self.keys("https-ca"), ["a", "b", "c"])
        self.assertNotIn(http.password, self.ctl.proc.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
