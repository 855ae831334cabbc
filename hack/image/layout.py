"""Writes sealift's container image as an OCI image layout, without a container daemon; run by
hack/image.sh (read that first). Reproducible: the same binary, libraries and arguments give the
same bytes (entries sorted, one fixed timestamp, numeric owners, gzip without name or time).

usage: layout.py OUT BINARY VERSION COMMIT CREATED_EPOCH SOURCE_URL

The image holds the binary, exactly the shared libraries its dynamic section resolves to on this
machine (ldd's list, copied from where Debian installed them, with their symlinks), the dpkg
records of the packages those files belong to (var/lib/dpkg/status.d, so scanners see them) and
their copyright files, the CA certificates, os-release, and a passwd/group with the numeric
non-root user 65532. No shell, no package manager, nothing else.
"""
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

UID = GID = 65532
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ARCH = {"amd64": ("amd64", None), "arm64": ("arm64", "v8"), "armhf": ("arm", "v7"),
        "i386": ("386", None), "ppc64el": ("ppc64le", None), "s390x": ("s390x", None),
        "riscv64": ("riscv64", None)}


def die(msg):
    print("image.sh: " + msg, file=sys.stderr)
    sys.exit(1)


class Tree:
    """The image's files: path (no leading '/') -> entry dict, parents added as directories."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self.entries:
                self.entries[p] = {"type": "dir", "mode": 0o755}

    def add_dir(self, path, mode=0o755, owner=0):
        self._parents(path)
        self.entries[path] = {"type": "dir", "mode": mode, "owner": owner}

    def add_bytes(self, path, data, mode=0o644):
        self._parents(path)
        self.entries[path] = {"type": "file", "data": data, "mode": mode}

    def add_host_path(self, host_path, depth=0):
        """Copies host_path into the image at the same path, following every symlink on the way
        (a merged-/usr /lib, a soname link) and recording each one as a symlink in the image.
        Returns the path of the regular file finally copied."""
        if depth > 16:
            die(f"too many symlinks resolving {host_path}")
        parts = host_path.strip("/").split("/")
        for i in range(len(parts)):
            cur = "/" + "/".join(parts[: i + 1])
            rel = cur[1:]
            if os.path.islink(cur):
                target = os.readlink(cur)
                self._parents(rel)
                self.entries[rel] = {"type": "symlink", "target": target}
                resolved = os.path.normpath(os.path.join(os.path.dirname(cur), target))
                rest = "/".join(parts[i + 1:])
                return self.add_host_path(resolved + ("/" + rest if rest else ""), depth + 1)
            if i < len(parts) - 1:
                if rel not in self.entries:
                    self.entries[rel] = {"type": "dir", "mode": 0o755}
            else:
                if not os.path.isfile(cur):
                    die(f"{cur} is not a regular file")
                mode = 0o755 if os.stat(cur).st_mode & 0o111 else 0o644
                with open(cur, "rb") as f:
                    self.entries[rel] = {"type": "file", "data": f.read(), "mode": mode}
                return cur
        return host_path

    def tar(self, mtime):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
            for path in sorted(self.entries):
                e = self.entries[path]
                ti = tarfile.TarInfo(path)
                ti.mtime = mtime
                ti.uid = ti.gid = e.get("owner", 0)
                ti.uname = ti.gname = ""
                if e["type"] == "dir":
                    ti.type, ti.mode = tarfile.DIRTYPE, e["mode"]
                    t.addfile(ti)
                elif e["type"] == "symlink":
                    ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, e["target"]
                    t.addfile(ti)
                else:
                    ti.type, ti.mode, ti.size = tarfile.REGTYPE, e["mode"], len(e["data"])
                    t.addfile(ti, io.BytesIO(e["data"]))
        return buf.getvalue()


def needed_libraries(binary):
    """The files the dynamic loader maps for binary: ldd's resolution of its DT_NEEDED entries
    (transitively) and the loader itself."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"ldd {binary} failed: {r.stderr.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            die(f"{binary}: a shared library is missing: {line}")
        m = re.match(r"^\S+ => (/\S+) \(0x[0-9a-f]+\)$", line) or re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs.append(m.group(1))
        elif not line.startswith("linux-vdso") and not line.startswith("linux-gate"):
            die(f"cannot read ldd's line: {line}")
    if not libs:
        die(f"{binary} is not dynamically linked (ldd listed no library)")
    return libs


def owning_packages(paths):
    """dpkg's packages (name:arch) owning any of paths (a merged-/usr machine may have recorded a
    file under /lib or /usr/lib, so both spellings are asked, in one dpkg-query)."""
    spellings = {}
    for p in paths:
        spellings[p] = {p, p[4:] if p.startswith("/usr/") else "/usr" + p}
    asked = sorted(set().union(*spellings.values()))
    # dpkg-query exits 1 when some spelling is unknown, which is expected: judged per file below
    r = subprocess.run(["dpkg-query", "-S", *asked], capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        names, _, path = line.partition(": ")
        owners.setdefault(path.strip(), set()).update(n.strip() for n in names.split(", "))
    pkgs = set()
    for p, variants in spellings.items():
        found = set().union(*(owners.get(v, set()) for v in variants))
        if not found:
            die(f"no Debian package owns {p}; the image takes only files Debian installed")
        pkgs |= found
    return sorted(pkgs)


def dpkg_record(pkg):
    r = subprocess.run(["dpkg-query", "-s", pkg], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"dpkg-query -s {pkg}: {r.stderr.strip()}")
    # Only the fields a scanner and a licence review need: the rest (descriptions, conffiles)
    # would make the image depend on more of this machine than the package's identity.
    keep = ("Package", "Status", "Architecture", "Multi-Arch", "Source", "Version")
    out = []
    for line in r.stdout.splitlines():
        k = line.split(":", 1)[0]
        if k in keep and not line.startswith((" ", "\t")):
            out.append(line)
    return ("\n".join(out) + "\n").encode()


def blob(out, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def canonical(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def main():
    if len(sys.argv) != 7:
        die("usage: layout.py OUT BINARY VERSION COMMIT CREATED_EPOCH SOURCE_URL")
    out, binary, version, commit, created_s, source = sys.argv[1:]
    created = int(created_s)
    created_iso = datetime.datetime.fromtimestamp(created, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    deb_arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    if deb_arch not in ARCH:
        die(f"unknown Debian architecture {deb_arch}")
    arch, variant = ARCH[deb_arch]

    tree = Tree()
    with open(binary, "rb") as f:
        tree.add_bytes("usr/bin/sealift", f.read(), 0o755)
    copied = []
    for lib in needed_libraries(binary):
        copied.append(lib)
        copied.append(tree.add_host_path(lib))
    for pkg in owning_packages(sorted(set(copied))):
        name = pkg.split(":")[0]
        tree.add_bytes(f"var/lib/dpkg/status.d/{name}", dpkg_record(pkg))
        cr = f"/usr/share/doc/{name}/copyright"
        if os.path.isfile(cr) and not os.path.islink(cr):
            with open(cr, "rb") as f:
                tree.add_bytes(cr[1:], f.read())
    if not os.path.isfile(CA_BUNDLE):
        die(f"{CA_BUNDLE} is missing (Debian's ca-certificates package makes it)")
    with open(CA_BUNDLE, "rb") as f:
        tree.add_bytes(CA_BUNDLE[1:], f.read())
    with open("/etc/os-release", "rb") as f:
        tree.add_bytes("etc/os-release", f.read())
    tree.add_bytes("etc/passwd", b"root:x:0:0:root:/root:/nonexistent\n"
                   b"sealift:x:65532:65532:sealift:/home/sealift:/nonexistent\n")
    tree.add_bytes("etc/group", b"root:x:0:\nsealift:x:65532:\n")
    tree.add_bytes("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    tree.add_dir("home/sealift", 0o700, UID)
    tree.add_dir("var/lib/sealift", 0o700, UID)
    tree.add_dir("tmp", 0o1777)
    for forbidden in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt", "usr/bin/dpkg"):
        if forbidden in tree.entries:
            die(f"{forbidden} ended up in the image")

    layer_tar = tree.tar(created)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=9) as g:
        g.write(layer_tar)

    annotations = {
        "org.opencontainers.image.created": created_iso,
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.title": "sealift",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    if source:
        annotations["org.opencontainers.image.source"] = source

    os.makedirs(out, exist_ok=True)
    layer_digest, layer_size = blob(out, gz.getvalue())
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    config = {
        "created": created_iso,
        **platform,
        "config": {
            "User": f"{UID}:{GID}",
            "Entrypoint": ["/usr/bin/sealift"],
            "Cmd": ["controller"],
            "Env": ["PATH=/usr/bin", "SSL_CERT_FILE=" + CA_BUNDLE, "TMPDIR=/tmp"],
            "WorkingDir": "/",
            "Labels": annotations,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created_iso, "created_by": "hack/image.sh"}],
    }
    config_digest, config_size = blob(out, canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
        "annotations": annotations,
    }
    manifest_digest, manifest_size = blob(out, canonical(manifest))
    # An image index (one platform today: this machine's), so images of other architectures
    # join the same tag later without changing how it is published.
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size, "platform": platform}],
        "annotations": annotations,
    }
    index_digest, index_size = blob(out, canonical(index))
    top = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": index_digest, "size": index_size,
                       "annotations": {"org.opencontainers.image.ref.name": version}}],
    }
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical(top))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    print(index_digest)


if __name__ == "__main__":
    main()
