#!/usr/bin/env python3
"""Helpers for hack/demo.sh (Debian python3 + yaml only).

  prepare.py image LAYOUT_DIR TAG...      build the demo application's OCI layout with those tags
  prepare.py advisories DIR              write the demo's advisory database (OSV records)
  prepare.py repo SRC_GITOPS WORK_DIR VENDOR CUSTOMER
        copy the examples/gitops tree into a git repository, pointing its objects at the local
        registries (plain http), commit it, and make a bare clone WORK_DIR/delivery.git for
        git daemon
"""
import os
import shutil
import subprocess
import sys

import yaml



# The demo application: a Debian 12 userland in miniature. 1.4.0 ships the libc6 that
# CVE-2023-4911 ("Looney Tunables") affects; 1.4.1 ships the fixed one (DSA-5514-1).
LIBC = {"1.4.0": "2.36-9+deb12u1", "1.4.1": "2.36-9+deb12u3"}

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""

DPKG = """Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: {libc}

Package: acme-app
Status: install ok installed
Architecture: amd64
Version: {app}
"""

# The advisory the demo's ScanPolicy database holds (OSV schema).
ADVISORY = {
    "schema_version": "1.6.0",
    "id": "CVE-2023-4911",
    "summary": "glibc: buffer overflow in ld.so GLIBC_TUNABLES (Looney Tunables)",
    "modified": "2023-10-03T00:00:00Z",
    "severity": [{"type": "CVSS_V3",
                  "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}]}],
}


def image(layout_dir, tags):
    import gzip
    import hashlib
    import io
    import json
    import tarfile

    blobs = os.path.join(layout_dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return "sha256:" + d

    refs = []
    for tag in tags:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            files = {"etc/os-release": OS_RELEASE,
                     "var/lib/dpkg/status": DPKG.format(libc=LIBC.get(tag, LIBC["1.4.1"]),
                                                        app=tag),
                     "usr/bin/acme-app": "#!/bin/sh\necho acme app " + tag + "\n"}
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 0
                info.mode = 0o755 if name.startswith("usr/bin") else 0o644
                tar.addfile(info, io.BytesIO(data))
        tar_bytes = buf.getvalue()
        layer = gzip.compress(tar_bytes, mtime=0)
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"User": "65532", "Entrypoint": ["/usr/bin/acme-app"]},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
        }).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": put(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": put(layer), "size": len(layer)}]}).encode()
        refs.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "digest": put(manifest), "size": len(manifest),
                     "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout_dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout_dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": refs}, f)


def advisories(directory):
    import json
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "CVE-2023-4911.json"), "w") as f:
        json.dump(ADVISORY, f, indent=1)


def rewrite(obj, vendor, customer):
    """Registry hosts of the example -> the demo's local registries, reached over http."""
    text = yaml.safe_dump(obj, sort_keys=False)
    text = (text.replace("registry.vendor.example", vendor)
                .replace("registry.internal.example", vendor)
                .replace("registry.customer.example", customer))
    obj = yaml.safe_load(text)
    spec = obj.get("spec", {})
    if obj.get("kind") == "ImageDelivery":
        spec["source"]["insecure"] = True
        for t in spec.get("targets", []):
            t["insecure"] = True
        spec["interval"] = "30s"
    if obj.get("kind") == "ScanPolicy" and "image" in spec.get("database", {}):
        # the demo keeps its advisory database in the vendor registry, behind its account
        spec["database"]["insecure"] = True
        spec["database"]["secretRef"] = {"name": "vendor-pull"}
    return obj


def git(*args, cwd):
    env = dict(os.environ, GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@example.com",
               GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@example.com")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def repo(src, work, vendor, customer):
    tree = os.path.join(work, "delivery")
    shutil.copytree(src, tree)
    for root, _, files in os.walk(os.path.join(tree, "clusters")):
        for name in files:
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, name)
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d]
            with open(path, "w") as f:
                yaml.safe_dump_all([rewrite(d, vendor, customer) for d in docs], f,
                                   sort_keys=False)
    git("init", "-q", "-b", "main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "delivery configuration", cwd=tree)
    git("clone", "-q", "--bare", tree, os.path.join(work, "delivery.git"), cwd=work)


if __name__ == "__main__":
    if sys.argv[1] == "image":
        image(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "advisories":
        advisories(sys.argv[2])
    elif sys.argv[1] == "repo":
        repo(*sys.argv[2:6])
    else:
        sys.exit("usage: prepare.py image|repo ...")
