"""The hostile-input corpus of the scanner and its neighbours (Python standard library only).

Each case is an input an attacker controls: an OCI layout whose layers play tar tricks (entries
hidden behind a header-only entry that declares a size, "../" and absolute paths, symlinks that
lead out of a directory, unknown entry types), floods and bombs (whiteouts, a gzip bomb, paths
of a megabyte, a huge dpkg status), or a file for another command (a YAML document nested
128 Ki levels deep). Tars are written byte by byte, because tarfile refuses to write most of
these tricks.

    python3 hostile.py generate DIR   writes every case under DIR and DIR/cases.tsv, one line a
                                      case: name, kind ("scan" or "render"), path, what it is

hack/hostile.sh runs them against the binary; tests/unit/scan/test_hostile.py builds the tar
cases with the same functions and compares sealift with Python's tarfile and GNU tar.
"""
import hashlib
import json
import os
import random
import sys
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ociimage  # noqa: E402

BOOKWORM = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n'
            'VERSION_CODENAME=bookworm\nID=debian\n')
# a glibc with known advisories in tests/data/scan (CVE-2023-4911 and others)
VULNERABLE_LIBC = "2.36-9+deb12u1"
# assembled at run time so that this file is not flagged by secret scanners
PRIVATE_KEY = ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
               "-----END OPENSSH " + "PRIVATE KEY-----\n")


def header(name, typeflag, mode=0o644, size=0, linkname=""):
    """One ustar header block; typeflag is a one-character string."""
    h = bytearray(512)

    def put(off, width, value):
        b = value.encode() if isinstance(value, str) else value
        assert len(b) <= width, (value, width)
        h[off:off + len(b)] = b

    put(0, 100, name)
    put(100, 8, "%07o" % mode)
    put(108, 8, "%07o" % 0)
    put(116, 8, "%07o" % 0)
    put(124, 12, "%011o" % size)
    put(136, 12, "%011o" % 0)
    h[156] = ord(typeflag)
    put(157, 100, linkname)
    put(257, 8, b"ustar\x0000")
    h[148:156] = b" " * 8
    put(148, 8, "%06o\0 " % sum(h))
    return bytes(h)


def pad(data):
    return data + b"\0" * ((512 - len(data) % 512) % 512)


def entry(name, content=b"", mode=0o644, typeflag="0", linkname=""):
    if isinstance(content, str):
        content = content.encode()
    return header(name, typeflag, mode, len(content), linkname) + pad(content)


def pax(records):
    """A pax 'x' header with {key: value} records."""
    body = b""
    for k, v in records.items():
        rec = (" %s=%s\n" % (k, v)).encode()
        n = len(rec) + 1
        while len(str(n)) + len(rec) != n:
            n += 1
        body += str(n).encode() + rec
    return header("PaxHeaders/x", "x", 0o644, len(body)) + pad(body)


END = b"\0" * 1024


def dpkg_status(libc=VULNERABLE_LIBC):
    return ociimage.dpkg_status([("libc6", libc, "glibc"), ("zlib1g", "1:1.2.13.dfsg-1", "zlib")])


def payload(prefix=""):
    """What an attacker wants unseen: a vulnerable glibc in the dpkg status, a setuid binary and
    a private key (os-release stays visible so that the OS is known)."""
    return (entry(prefix + "var/lib/dpkg/status", dpkg_status())
            + entry(prefix + "usr/bin/backdoor", "ELF", 0o4755)
            + entry(prefix + "root/.ssh/id_ed25519", PRIVATE_KEY, 0o600))


# What a runtime (Go's archive/tar in containerd) sees in the payload: the scanner must too.
PAYLOAD_VIEW = {"packages": 2, "setuid": ["usr/bin/backdoor"],
                "private-key": ["root/.ssh/id_ed25519"]}


def hidden_behind(typeflag, name="decoy", linkname=""):
    """The payload sits in the bytes that a header-only entry declares as its size."""
    hidden = payload()
    return entry("etc/os-release", BOOKWORM) + header(name, typeflag, 0o644, len(hidden),
                                                      linkname) + hidden + END


# ---- tar cases: name -> (layer bytes, what a runtime sees, note) ----

def tar_cases():
    """The tar tricks, small enough to build in a unit test. Each value: (tar bytes, the view a
    runtime has (None when it cannot apply the layer), one-line description)."""
    c = {}
    c["hardlink-size-hides"] = (hidden_behind("1", linkname="etc/os-release"), PAYLOAD_VIEW,
                                "hard link declaring a size over the entries after it")
    c["chardev-size-hides"] = (hidden_behind("3"), PAYLOAD_VIEW,
                               "character device declaring a size")
    c["fifo-size-hides"] = (hidden_behind("6"), PAYLOAD_VIEW, "fifo declaring a size")
    c["olddir-size-hides"] = (hidden_behind("\0", name="decoy/"), PAYLOAD_VIEW,
                              "old-style entry named with a trailing '/' declaring a size")
    hidden = payload()
    c["pax-size-on-hardlink"] = (
        entry("etc/os-release", BOOKWORM) + pax({"size": len(hidden)})
        + header("decoy", "1", 0o644, 0, "etc/os-release") + hidden + END, PAYLOAD_VIEW,
        "pax size record on a hard link")
    c["dotdot-paths"] = (entry("etc/os-release", BOOKWORM) + payload("../../") + END,
                         PAYLOAD_VIEW, "entries named ../../var/lib/dpkg/status and so on")
    c["absolute-paths"] = (entry("/etc/os-release", BOOKWORM) + payload("/") + END,
                           PAYLOAD_VIEW, "entries named /var/lib/dpkg/status and so on")
    c["symlink-escape"] = (
        entry("etc/os-release", BOOKWORM)
        + header("dpkg", "2", 0o777, 0, "../../../../var/lib/dpkg")
        + header("home/r", "2", 0o777, 0, "/root")
        + entry("dpkg/status", dpkg_status()) + entry("home/r/.ssh/id_ed25519", PRIVATE_KEY, 0o600)
        + entry("usr/bin/backdoor", "ELF", 0o4755) + END, PAYLOAD_VIEW,
        "files written through symlinks that leave their directory")
    c["unknown-type"] = (
        entry("etc/os-release", BOOKWORM) + header("weird", "Z", 0o644, 1024)
        + b"\0" * 1024 + payload() + END, None,
        "an entry of an unknown type (a runtime refuses the layer)")
    return c


def oci_layout(path, tar_bytes, how="gzip"):
    ociimage.write_layout(path, [{"tag": "t", "layers": [(tar_bytes, how)],
                                  "config": {"config": {"User": "1000"}}}])
    return "oci:" + path + ":t"


def _raw_layout(path, blob_writer, media_type):
    """An OCI layout whose single layer is written by blob_writer(file) (for layers too big to
    hold in memory); the diff_id is not checked by the scanner and is left fake."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    tmp = os.path.join(blobs, "tmp")
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        class Hashing:
            def write(self, b):
                h.update(b)
                f.write(b)
        blob_writer(Hashing())
    size = os.path.getsize(tmp)
    digest = h.hexdigest()
    os.rename(tmp, os.path.join(blobs, digest))

    def put(obj):
        data = json.dumps(obj).encode()
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    config = put({"architecture": "amd64", "os": "linux", "config": {"User": "1000"},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}})
    manifest = put({"schemaVersion": 2, "mediaType": ociimage.OCI_MANIFEST,
                    "config": dict(mediaType=ociimage.OCI_CONFIG, **config),
                    "layers": [{"mediaType": media_type, "digest": "sha256:" + digest,
                                "size": size}]})
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            mediaType=ociimage.OCI_MANIFEST, annotations={"org.opencontainers.image.ref.name": "t"},
            platform={"os": "linux", "architecture": "amd64"}, **manifest)]}, f)
    return "oci:" + path + ":t"


def gzip_stream(chunks, out, level=6):
    """Writes a gzip member of the byte chunks to out."""
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    for chunk in chunks:
        out.write(z.compress(chunk))
    out.write(z.flush())


def whiteout_flood(path, count=200000):
    """200,000 whiteouts with pax paths of about 4 KB, enough random bytes in each to keep the
    gzip layer near 11 MB and under the decompression-ratio check."""
    rnd = random.Random(11)
    long_dirs = ("d" * 250 + "/") * 15

    def chunks():
        yield entry("etc/os-release", BOOKWORM)
        batch = []
        for _ in range(count):
            hx = rnd.randbytes(24).hex()
            batch.append(pax({"path": "usr/share/%s/%s%s/.wh.%s" % (hx[:24], long_dirs,
                                                                    hx[24:36], hx[36:])}))
            batch.append(header("w", "0"))
            if len(batch) >= 2048:
                yield b"".join(batch)
                batch = []
        yield b"".join(batch) + END
    return _raw_layout(path, lambda out: gzip_stream(chunks(), out, 6),
                       ociimage.LAYER_TYPES["gzip"])


def gzip_bomb(path, size=1 << 30):
    def chunks():
        yield header("zeros", "0", 0o644, size)
        zero = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            yield zero
        yield END
    return _raw_layout(path, lambda out: gzip_stream(chunks(), out, 9),
                       ociimage.LAYER_TYPES["gzip"])


def deep_paths(path):
    """Paths a megabyte long (pax), 2,000 directories deep, and a GNU long name chain."""
    deep = "a/" * 2000 + "backdoor"
    huge = "b/" * 450000 + "x"
    body = (entry("etc/os-release", BOOKWORM) + pax({"path": deep})
            + header("deep", "0", 0o4755, 3) + pad(b"ELF")
            + pax({"path": huge}) + header("huge", "0", 0o4755, 3) + pad(b"ELF"))
    for i in range(2000):
        name = ("d%04d/" % i) * 16 + "f"
        ln = name.encode() + b"\0"
        body += header("././@LongLink", "L", 0o644, len(ln)) + pad(ln)
        body += header("short", "0", 0o644, 0)
    return oci_layout(path, body + END)


def dpkg_huge_field(path, size=31 << 20):
    para = ("Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: %s\n"
            "Description: x\n" % VULNERABLE_LIBC)
    status = para + " " + "y" * size + "\n"
    # uncompressed: a gzip of it would be refused by the decompression-ratio check first
    return oci_layout(path, entry("etc/os-release", BOOKWORM)
                      + entry("var/lib/dpkg/status", status) + END, how="none")


def dpkg_many_packages(path, count=200000):
    status = ociimage.dpkg_status([("pkg%06d" % i, "1.0-%d" % i, "src%06d" % i)
                                   for i in range(count)])
    return oci_layout(path, entry("etc/os-release", BOOKWORM)
                      + entry("var/lib/dpkg/status", status) + END)


def yaml_nesting(path, depth=128 * 1024):
    with open(path, "w") as f:
        f.write("[" * depth + "\n")
    return path


def generate(out_dir):
    """Writes every case under out_dir and lists them in out_dir/cases.tsv."""
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for name, (tar_bytes, _view, note) in tar_cases().items():
        rows.append((name, "scan", oci_layout(os.path.join(out_dir, name), tar_bytes), note))
    big = [("whiteout-flood", whiteout_flood, "200,000 whiteouts with 4 KB paths in a ~12 MB gzip layer"),
           ("gzip-bomb", gzip_bomb, "1 GiB of zeros in a 1 MiB gzip layer"),
           ("deep-paths", deep_paths,
            "paths 2,000 directories deep, a 900 KB pax path, 2,000 GNU long names"),
           ("dpkg-huge-field", dpkg_huge_field, "a dpkg status with a 31 MiB field"),
           ("dpkg-many-packages", dpkg_many_packages, "a dpkg status of 200,000 packages")]
    for name, fn, note in big:
        rows.append((name, "scan", fn(os.path.join(out_dir, name)), note))
    rows.append(("yaml-nesting", "render",
                 yaml_nesting(os.path.join(out_dir, "nested.yaml")),
                 "a YAML document nested 128 Ki levels deep"))
    with open(os.path.join(out_dir, "cases.tsv"), "w") as f:
        for row in rows:
            f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "generate":
        sys.exit("usage: hostile.py generate DIR")
    generate(sys.argv[2])
