"""A real Debian image scanned end to end through a registry: `debootstrap --variant=minbase
bookworm` packed as one gzip layer (built once, cached in the build directory next to the scan
bench's copy), pushed with skopeo to a docker-registry, the Debian security tracker records of
the test data pushed with `sealift db push`, and `sealift scan` pulling both. The current
packages have none of those glibc advisories; the same image with an older libc6 in its dpkg
status file (a second layer) has both."""
import json
import os
import re
import unittest

import procs
import registry as reg
import scanlib

GLIBC = {"CVE-2023-4911": "2.36-9+deb12u3", "CVE-2024-2961": "2.36-9+deb12u6"}
OLD_LIBC = "2.36-9+deb12u1"


class DebianMinbaseTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        build = os.environ.get("SEALIFT_BUILD", os.path.join(procs.SRC, "build"))
        self.layer, why = scanlib.debian_minbase_layer(build)
        if not self.layer:
            self.skipTest(why)
        self.registry = reg.Registry(self, "registry")
        adv = scanlib.advisory_dir(os.path.join(self.tmp, "adv"), with_osv=False)
        self.db = f"{self.registry.host}/security/debian-tracker:latest"
        self.db_digest, _ = scanlib.db_push(adv, self.db)

    def push(self, name, layers):
        layout = os.path.join(self.tmp, "layout-" + name)
        scanlib.layout_from_layers(layout, name, layers)
        dest = f"{self.registry.host}/debian/minbase:{name}"
        subprocess_push(layout, name, dest)
        return dest

    def findings(self, image):
        r = scanlib.scan(image, self.db)
        self.assertEqual(r.returncode, 0, r.stderr)  # no --fail-on: report only
        rep = json.loads(r.stdout)
        self.assertEqual(rep["os"]["id"], "debian")
        self.assertGreater(rep["packages"], 80)  # minbase has ~90 packages
        self.assertEqual(rep["database"]["digest"], self.db_digest)
        return {(v["id"], v["package"]): v for v in rep["vulnerabilities"]}

    def test_current_and_old_libc6(self):
        status = scanlib.read_from_layer(self.layer, "var/lib/dpkg/status").decode()
        m = re.search(r"^Package: libc6\n(?:[^\n]+\n)*?Version: (\S+)\n", status, re.M)
        self.assertIsNotNone(m, "libc6 in the dpkg status")
        current = m.group(1)
        cur = self.findings(self.push("current", [self.layer]))
        for cve in GLIBC:
            self.assertNotIn((cve, "libc6"), cur, f"{cve} reported for libc6 {current}")

        old_status = status[:m.start(1)] + OLD_LIBC + status[m.end(1):]
        overlay = scanlib.ociimage.make_tar([
            {"path": "var/lib/dpkg/status", "content": old_status}])
        old = self.findings(self.push("old-libc6", [self.layer, overlay]))
        for cve, fixed in GLIBC.items():
            v = old.get((cve, "libc6"))
            self.assertIsNotNone(v, f"{cve} not reported for libc6 {OLD_LIBC}")
            self.assertEqual(v["installedVersion"], OLD_LIBC)
            self.assertEqual(v["fixedVersion"], fixed)
            self.assertEqual(v["sourcePackage"], "glibc")


def subprocess_push(layout, tag, dest):
    import subprocess
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}",
                    f"docker://{dest}"], check=True, timeout=300, capture_output=True)


if __name__ == "__main__":
    unittest.main()
