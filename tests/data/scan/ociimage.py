"""Builds small OCI image layouts for sealift's scanner tests (Python standard library only).

Layers are tar archives made in memory from (path, content, mode) entries; whiteouts are plain
entries named .wh.<name>. Compression: "gzip", "zstd" (through the zstd command) or "none".
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def make_tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: list of dicts {path, content (str|bytes), mode, type: file|dir|symlink, link}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["path"])
            info.mode = e.get("mode", 0o644)
            info.mtime = 0
            kind = e.get("type", "file")
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = e.get("mode", 0o755)
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e["link"]
                tar.addfile(info)
            else:
                data = e.get("content", b"")
                if isinstance(data, str):
                    data = data.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    return data


def _put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def write_layout(layout, images):
    """images: list of dicts {tag, layers: [tar bytes, compression], config: dict}.
    Writes an OCI layout with one index entry per image, named by its tag."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": []}
    for img in images:
        layers, diff_ids = [], []
        for tar_bytes, how in img["layers"]:
            diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
            digest, size = _put_blob(layout, compress(tar_bytes, how))
            layers.append({"mediaType": LAYER_TYPES[how], "digest": digest, "size": size})
        config = {"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        config.update(img.get("config") or {})
        cdigest, csize = _put_blob(layout, json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": csize},
                    "layers": layers}
        mdigest, msize = _put_blob(layout, json.dumps(manifest).encode())
        index["manifests"].append({
            "mediaType": OCI_MANIFEST, "digest": mdigest, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": img["tag"]},
            "platform": {"os": "linux", "architecture": "amd64"}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)


def dpkg_status(packages, with_status=True):
    """packages: list of (name, version, source or None)."""
    paras = []
    for name, version, source in packages:
        lines = ["Package: " + name]
        if with_status:
            lines.append("Status: install ok installed")
        if source and source != name:
            lines.append("Source: " + source)
        lines += ["Version: " + version, "Architecture: amd64",
                  "Description: test package", " for the scanner tests"]
        paras.append("\n".join(lines) + "\n")
    return "\n".join(paras)


def apk_installed(packages):
    recs = []
    for name, version, origin in packages:
        recs.append("C:Q1test=\nP:%s\nV:%s\nA:x86_64\no:%s\n" % (name, version, origin or name))
    return "\n".join(recs) + "\n"
