"""Helpers of the scanning end-to-end tests: advisory directories from tests/data/scan, small
Debian-like images (os-release + dpkg status) written as OCI layouts with
tests/data/scan/ociimage.py, and `sealift db push` / `sealift scan` runs."""
import os
import re
import shutil
import subprocess
import sys

import procs

DATA = os.path.join(procs.SRC, "tests", "data", "scan")
sys.path.insert(0, DATA)
import ociimage  # noqa: E402  (tests/data/scan/ociimage.py)

TRACKER = os.path.join(DATA, "advisories", "aquasecurity", "vuln-list-debian", "tracker")
OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n')


def advisory_dir(dest, with_osv=True):
    """The Debian tracker records (CVE-2023-4911, CVE-2024-2961 for glibc in bookworm, ...),
    plus osv/sample.json (CVE-2099-0001: Critical, glibc < 2.36-9+deb12u4) when with_osv."""
    shutil.copytree(TRACKER, os.path.join(dest, "tracker"))
    if with_osv:
        shutil.copy(os.path.join(DATA, "osv", "sample.json"), os.path.join(dest, "sample.json"))
    return dest


def db_push(directory, image, creds=None):
    """`sealift db push`; returns (digest printed on stdout, records from the stderr note)."""
    args = [procs.SEALIFT, "db", "push", directory, image, "--insecure"]
    if creds:
        args += ["--creds", creds]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"db push failed ({r.returncode}): {r.stderr}")
    m = re.search(r"pushed (\d+) advisory records", r.stderr)
    return r.stdout.strip(), int(m.group(1)) if m else None


def scan(image, db, creds=None, extra=()):
    args = [procs.SEALIFT, "scan", image, "--db", db, "--insecure", "--format", "json", *extra]
    if creds:
        args += ["--creds", creds]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def debian_layout(path, images):
    """images: {tag: libc6 version}; each image is one layer with os-release and a dpkg status
    holding libc6 (source glibc) and zlib1g, run as a non-root user."""
    out = []
    for tag, libc in images.items():
        status = ociimage.dpkg_status([("libc6", libc, "glibc"),
                                       ("zlib1g", "1:1.2.13.dfsg-1", "zlib")])
        layer = ociimage.make_tar([
            {"path": "etc", "type": "dir"},
            {"path": "etc/os-release", "content": OS_RELEASE},
            {"path": "var/lib/dpkg/status", "content": status},
        ])
        out.append({"tag": tag, "layers": [(layer, "gzip")],
                    "config": {"config": {"User": "1000"}}})
    ociimage.write_layout(path, out)
    return path


def skopeo_push(layout, tag, dest, creds, all_platforms=False):
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds,
                    *(["--all"] if all_platforms else []), f"oci:{layout}:{tag}",
                    f"docker://{dest}"], check=True, timeout=120, capture_output=True)


MINBASE_CACHE = "bench-cache/debian-bookworm-minbase"  # shared with hack/bench/scan.sh


def debian_minbase_layer(build_dir, mirror="http://deb.debian.org/debian"):
    """The gzip layer of `debootstrap --variant=minbase bookworm`, built once and cached in
    build_dir (the same place hack/bench/scan.sh keeps it). Returns its path, or None with a
    reason when it cannot be built here (not root, no debootstrap)."""
    cache = os.path.join(build_dir, MINBASE_CACHE)
    layer = os.path.join(cache, "layer.tar.gz")
    if os.path.exists(layer):
        return layer, None
    # e2e files run two at a time: one builds the layer, the others wait for it
    import fcntl
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(layer):
            return layer, None
        return _build_minbase_layer(cache, layer, mirror)


def _build_minbase_layer(cache, layer, mirror):
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        return None, "debootstrap needs root and the debootstrap package"
    tmp = cache + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rootfs = os.path.join(tmp, "rootfs")
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        return None, "debootstrap failed: " + r.stdout[-2000:] + r.stderr[-2000:]
    subprocess.run(["sh", "-c", f"rm -rf {rootfs}/var/cache/apt/archives/*.deb "
                    f"{rootfs}/var/lib/apt/lists/*"], check=True)
    subprocess.run(["sh", "-c", f"tar -C {rootfs} --numeric-owner --sort=name -cf - . | "
                    f"gzip -6 > {tmp}/layer.tar.gz"], check=True, timeout=1800)
    shutil.rmtree(rootfs)
    os.rename(tmp, cache)
    return layer, None


def read_from_layer(layer_path, member):
    """Bytes of one file of a gzip tar layer (paths with or without "./")."""
    import tarfile
    with tarfile.open(layer_path, "r|gz") as tar:
        for info in tar:
            if info.name.lstrip("./") == member and info.isfile():
                return tar.extractfile(info).read()
    raise AssertionError(f"{member} not in {layer_path}")


def layout_from_layers(path, tag, layers):
    """An OCI layout with one image made of layers: a list of gzip layer file paths or
    (bytes of an uncompressed tar). Config: linux/amd64, non-root user."""
    import gzip
    import hashlib
    import json
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)
    descs, diffs = [], []
    for layer in layers:
        if isinstance(layer, bytes):
            diffs.append("sha256:" + hashlib.sha256(layer).hexdigest())
            d, n = put(gzip.compress(layer, mtime=0))
        else:
            h, diff = hashlib.sha256(), hashlib.sha256()
            with open(layer, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            with gzip.open(layer, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    diff.update(chunk)
            d, n = "sha256:" + h.hexdigest(), os.path.getsize(layer)
            dst = os.path.join(path, "blobs", "sha256", h.hexdigest())
            if not os.path.exists(dst):
                os.link(layer, dst) if os.stat(layer).st_dev == os.stat(path).st_dev \
                    else shutil.copy(layer, dst)
            diffs.append("sha256:" + diff.hexdigest())
        descs.append({"mediaType": ociimage.LAYER_TYPES["gzip"], "digest": d, "size": n})
    cfg = {"architecture": "amd64", "os": "linux", "config": {"User": "1000"},
           "rootfs": {"type": "layers", "diff_ids": diffs}}
    cd, cs = put(json.dumps(cfg).encode())
    man = {"schemaVersion": 2, "mediaType": ociimage.OCI_MANIFEST,
           "config": {"mediaType": ociimage.OCI_CONFIG, "digest": cd, "size": cs},
           "layers": descs}
    md, ms = put(json.dumps(man).encode())
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": ociimage.OCI_MANIFEST, "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return md


def debian_multiarch_layout(path, amd64_libc, arm64_libc, tag="multi"):
    """An OCI layout whose tag names an image index of two Debian-like images (linux/amd64 and
    linux/arm64, with the given libc6 versions). Push with skopeo_push(..., all_platforms)."""
    import hashlib
    import json
    debian_layout(path, {"amd": amd64_libc, "arm": arm64_libc})
    with open(os.path.join(path, "index.json")) as f:
        top = json.load(f)
    children = []
    for m, arch in zip(top["manifests"], ("amd64", "arm64")):
        children.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                         "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    d = hashlib.sha256(index).hexdigest()
    with open(os.path.join(path, "blobs", "sha256", d), "wb") as f:
        f.write(index)
    top["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                             "digest": "sha256:" + d, "size": len(index),
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(top, f)
    return "sha256:" + d
