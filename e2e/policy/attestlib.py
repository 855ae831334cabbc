"""Attestations made with the real cosign v3.1.3 (hack/peers.sh builds it from the Go module
proxy), offline: no transparency log, no signing config. Used by the verify-attestation CLI and
the admission tests."""
import base64
import datetime
import json
import os
import shutil
import subprocess

import procs


def rfc3339(age_hours):
    """The time age_hours before now, as RFC 3339 (UTC, seconds)."""
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=age_hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def vuln_predicate(age_hours, findings=()):
    """A cosign vuln predicate whose scan finished age_hours ago; findings are (id, severity)
    pairs in sealift's report shape (scanner.result.vulnerabilities)."""
    return {"invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/sealift/sealift", "version": "test",
                        "db": {"uri": "", "version": ""},
                        "result": {"vulnerabilities": [
                            {"id": i, "severity": s, "package": "libc6"} for i, s in findings]}},
            "metadata": {"scanStartedOn": rfc3339(age_hours + 0.01),
                         "scanFinishedOn": rfc3339(age_hours)}}


class Cosign:
    """The cosign CLI with its own HOME and docker config (credentials for one registry)."""

    def __init__(self, tmp, registry_host, creds):
        self.work = os.path.join(tmp, "cosign")
        os.makedirs(os.path.join(self.work, "docker"), exist_ok=True)
        with open(os.path.join(self.work, "docker", "config.json"), "w") as f:
            json.dump({"auths": {registry_host: {
                "auth": base64.b64encode(creds.encode()).decode()}}}, f)
        self.env = dict(os.environ, COSIGN_PASSWORD="", HOME=self.work,
                        DOCKER_CONFIG=os.path.join(self.work, "docker"))
        self.n = 0

    def run(self, *args):
        cp = subprocess.run([procs.peer("cosign"), *args], capture_output=True, text=True,
                            env=self.env, cwd=self.work, timeout=300)
        if cp.returncode != 0:
            raise AssertionError(f"cosign {' '.join(args)}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def keypair(self, prefix, import_from=None):
        """A key pair (PREFIX.key, PREFIX.pub in the work folder), generated or imported from a
        PEM private key; returns the public key's path."""
        if import_from and b"ENCRYPTED SIGSTORE PRIVATE KEY" in open(import_from, "rb").read():
            # already cosign's format (a SigningKey's Secret): used as it is, with the
            # password in self.env
            shutil.copyfile(import_from, os.path.join(self.work, prefix + ".key"))
            pub = self.run("public-key", "--key", prefix + ".key").stdout
            with open(os.path.join(self.work, prefix + ".pub"), "w") as f:
                f.write(pub)
        elif import_from:
            self.run("import-key-pair", "--key", import_from, "--output-key-prefix", prefix)
        else:
            self.run("generate-key-pair", "--output-key-prefix", prefix)
        return os.path.join(self.work, prefix + ".pub")

    def attest(self, key_prefix, image, att_type, predicate, bundle=False):
        """`cosign attest`: the legacy .att tag layout, or (bundle) cosign v3's Sigstore bundle as
        an OCI referrer."""
        self.n += 1
        path = os.path.join(self.work, f"predicate-{self.n}.json")
        with open(path, "w") as f:
            json.dump(predicate, f)
        fmt = [] if bundle else ["--new-bundle-format=false"]
        self.run("attest", "--key", key_prefix + ".key", "--type", att_type, "--predicate", path,
                 "--use-signing-config=false", "--tlog-upload=false", *fmt,
                 "--allow-insecure-registry", "-y", image)
