#!/usr/bin/python3
"""Differential test of the layer walker on the hostile tar corpus (tests/data/scan/hostile.py).

For each trick (entries hidden behind a hard link, device, fifo or old-style directory that
declares a size, a pax size on a hard link, "../" and absolute paths, symlinks out of their
directory, an unknown entry type) the layer is read three ways:
  - by Python's tarfile, whose reader treats sizes like Go's archive/tar (the reader containerd
    uses), with the entry paths then placed the way containerd places them (cleaned into the
    root, parent directories resolved through the symlinks applied so far);
  - by GNU tar, extracting into a temporary directory, where its reading agrees with Go's;
  - by `sealift scan --format json`.
What a runtime would see (the dpkg packages, setuid files, private keys) must be what sealift
reports, and an entry a runtime cannot apply must show up in layerIssues and fail the scan.

usage: test_hostile.py SEALIFT_BINARY DATA_DIR"""
import io
import json
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import unittest

SEALIFT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SEALIFT_BIN", "sealift")
DATA = sys.argv[2] if len(sys.argv) > 2 else "tests/data/scan"
sys.dont_write_bytecode = True
sys.path.insert(0, DATA)
import hostile  # noqa: E402

KEY_MARK = b"PRIVATE KEY-----"
# GNU tar reads these layers as Go does, and extracting them cannot write outside the
# directory (it drops a leading "/"); for the others it differs on purpose: it skips the
# declared size of devices and fifos, refuses "../" names, and delays symlinks that leave the
# directory, where containerd writes through them inside the root.
GNU_AGREES = ["hardlink-size-hides", "olddir-size-hides", "pax-size-on-hardlink",
              "absolute-paths"]


def view_of(files):
    """files: {path: (mode, content)} -> the runtime view the scanner must report."""
    status = files.get("var/lib/dpkg/status", (0, b""))[1]
    return {"packages": sum(1 for line in status.splitlines() if line.startswith(b"Package:")),
            "setuid": sorted(p for p, (m, _) in files.items() if m & 0o4000),
            "private-key": sorted(p for p, (_, c) in files.items() if KEY_MARK in c)}


def resolve(links, path, follow_last):
    """containerd's RootPath over the symlinks applied so far: inside the root, at most 255."""
    parts, cur, hops = path.split("/"), [], 0
    while parts:
        comp = parts.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if cur:
                cur.pop()
            continue
        cur.append(comp)
        key = "/".join(cur)
        if key in links and (parts or follow_last):
            hops += 1
            assert hops <= 255
            target = links[key]
            cur.pop()
            if target.startswith("/"):
                cur = []
            parts = target.split("/") + parts
    return "/".join(cur)


def tarfile_view(tar_bytes):
    """Reads the layer with tarfile and places the entries as containerd does."""
    files, links = {}, {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tf:
        for m in tf:
            name = posixpath.normpath("/" + m.name).lstrip("/")
            parent, base = posixpath.split(name)
            path = posixpath.join(resolve(links, parent, True), base).lstrip("/")
            links.pop(path, None)
            files.pop(path, None)
            if m.issym():
                links[path] = m.linkname
            elif m.isreg():
                files[path] = (m.mode, tf.extractfile(m).read())
            elif m.islnk():
                target = resolve(links, posixpath.normpath("/" + m.linkname).lstrip("/"), False)
                if target in files:
                    files[path] = (m.mode, files[target][1])
    return view_of(files)


def gnu_tar_view(tar_bytes, tmp):
    """Extracts the layer with GNU tar and reads the tree it wrote."""
    root = tempfile.mkdtemp(dir=tmp)
    subprocess.run(["tar", "-x", "-p", "-f", "-", "-C", root], input=tar_bytes,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    files = {}
    for d, _dirs, names in os.walk(root):
        for n in names:
            full = os.path.join(d, n)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    files[os.path.relpath(full, root)] = (st.st_mode, f.read())
    return view_of(files)


class HostileLayers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sl-scan-hostile-")
        cls.db = os.path.join(cls.tmp, "db")
        os.makedirs(cls.db)
        shutil.copy(os.path.join(DATA, "osv", "sample.json"), cls.db)
        cls.cases = hostile.tar_cases()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def scan(self, name, tar_bytes):
        image = hostile.oci_layout(os.path.join(self.tmp, name), tar_bytes)
        p = subprocess.run([SEALIFT, "scan", image, "--db", self.db, "--format", "json",
                            "--baseline=setuid,private-key", "--fail-on", "High"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        rep = json.loads(p.stdout)
        view = {"packages": rep["packages"],
                "setuid": sorted(b["subject"] for b in rep["baseline"] if b["rule"] == "setuid"),
                "private-key": sorted(b["subject"] for b in rep["baseline"]
                                      if b["rule"] == "private-key")}
        return p.returncode, rep, view

    def test_sealift_sees_what_the_runtime_sees(self):
        for name, (tar_bytes, expected, _note) in self.cases.items():
            if expected is None:
                continue
            with self.subTest(case=name):
                rc, rep, seen = self.scan(name, tar_bytes)
                self.assertEqual(tarfile_view(tar_bytes), expected, "tarfile")
                self.assertEqual(seen, expected)
                # the hidden glibc is matched, and the scan fails on it and on the baseline
                self.assertEqual(rc, 1)
                self.assertIn("CVE-2099-0001", [v["id"] for v in rep["vulnerabilities"]])
                self.assertEqual(rep["failed"], ["vulnerabilities", "baseline"])
                self.assertEqual(rep["layerIssues"], [])

    def test_gnu_tar_agrees(self):
        for name in GNU_AGREES:
            tar_bytes, expected, _note = self.cases[name]
            with self.subTest(case=name):
                self.assertEqual(gnu_tar_view(tar_bytes, self.tmp), expected)
                self.assertEqual(self.scan(name, tar_bytes)[2], expected)

    def test_unapplyable_entry_is_a_finding(self):
        tar_bytes, _none, _note = self.cases["unknown-type"]
        rc, rep, seen = self.scan("unknown-type", tar_bytes)
        # tarfile and Go read past it as content; the payload after it is still checked
        self.assertEqual(tarfile_view(tar_bytes), hostile.PAYLOAD_VIEW)
        self.assertEqual(seen, hostile.PAYLOAD_VIEW)
        self.assertEqual(rc, 1)
        self.assertIn("layers", rep["failed"])
        self.assertEqual(rep["layerIssuesTotal"], 1)
        self.assertEqual(rep["layerIssues"], [{
            "layer": 0, "path": "weird",
            "problem": "tar entry type 'Z' is not a file, link, directory or device"}])
        table = subprocess.run([SEALIFT, "scan", hostile.oci_layout(
            os.path.join(self.tmp, "unknown-table"), tar_bytes), "--db", self.db],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(table.returncode, 1)
        self.assertIn("layer 0  weird: tar entry type 'Z'", table.stdout)
        self.assertIn("layer entries the scanner could not inspect", table.stdout)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
