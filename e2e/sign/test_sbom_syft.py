"""The SBOM of a real Debian image against syft's: `debootstrap --variant=minbase bookworm`
(scanlib's cached layer; skipped where it cannot be built) pushed to a docker-registry with auth,
`sealift attest --type sbom` in both formats, the SBOMs read back through the real cosign v3.1.3
`verify-attestation`, and the dpkg packages compared with what syft (github.com/anchore/syft
v1.57.2, built by hack/peers.sh from the Go module proxy) finds in the same image: every package
with its name and version, the difference printed. The CycloneDX SBOM of the real image also
validates against the CycloneDX 1.5 JSON schema, the SPDX one against the SPDX 2.3 JSON schema."""
import json
import os
import subprocess
import sys
import unittest

import procs
import registry as reglib

sys.path.insert(0, os.path.join(procs.SRC, "e2e", "scan"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attestlib  # noqa: E402
import scanlib  # noqa: E402


class SyftComparisonTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        build = os.environ.get("SEALIFT_BUILD", os.path.join(procs.SRC, "build"))
        self.layer, why = scanlib.debian_minbase_layer(build)
        if not self.layer:
            self.skipTest(why)
        self.syft = procs.peer("syft")
        self.reg = reglib.Registry(self, "registry", users={"acme": "s3cret"})
        self.creds = self.reg.creds()
        self.layout = os.path.join(self.tmp, "layout")
        scanlib.layout_from_layers(self.layout, "minbase", [self.layer])
        self.image = f"{self.reg.host}/debian/minbase:bookworm"
        scanlib.skopeo_push(self.layout, "minbase", self.image, self.creds)
        procs.run([procs.SEALIFT, "keygen", "--out", os.path.join(self.tmp, "sl")])
        self.cosign = attestlib.Cosign(self.tmp, {self.reg.host: self.creds})

    def sbom(self, fmt, typ):
        r = subprocess.run([procs.SEALIFT, "attest", self.image, "--key",
                            os.path.join(self.tmp, "sl.key"), "--type", "sbom", "--sbom-format",
                            fmt, "--creds", self.creds, "--insecure"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = self.cosign.verify_attestation(self.image, os.path.join(self.tmp, "sl.pub"), typ)
        self.assertEqual(v.returncode, 0, v.stderr)
        sts = [s for s in attestlib.statements(v.stdout)
               if s["predicateType"] == attestlib.COSIGN_TYPES[typ]]
        return sts[-1]["predicate"]

    def syft_packages(self):
        r = subprocess.run([self.syft, "scan", f"oci-dir:{self.layout}", "-o", "syft-json",
                            "-q"], capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, HOME=self.tmp, SYFT_CHECK_FOR_APP_UPDATE="false"))
        self.assertEqual(r.returncode, 0, r.stderr)
        return {(a["name"], a["version"]) for a in json.loads(r.stdout)["artifacts"]
                if a["type"] == "deb"}

    def test_dpkg_packages_agree_with_syft(self):
        spdx = self.sbom("spdx", "spdxjson")
        ours = {(p["name"], p["versionInfo"]) for p in spdx["packages"]
                if p.get("primaryPackagePurpose") == "LIBRARY"}
        cdx = self.sbom("cyclonedx", "cyclonedx")
        self.assertEqual({(c["name"], c["version"]) for c in cdx["components"]
                          if c["type"] == "library"}, ours)
        theirs = self.syft_packages()
        only_ours, only_syft = sorted(ours - theirs), sorted(theirs - ours)
        print(f"\nsealift SBOM: {len(ours)} dpkg packages, syft: {len(theirs)}; "
              f"only in sealift's: {only_ours or 'none'}; only in syft's: {only_syft or 'none'}",
              file=sys.stderr)
        self.assertGreater(len(ours), 80)  # minbase has ~90 packages
        self.assertEqual(only_ours, [])
        self.assertEqual(only_syft, [])

        validator, why = attestlib.cyclonedx_validator(self.tmp)
        if validator is None:
            self.skipTest(why)
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
                  for e in validator.iter_errors(cdx)]
        self.assertEqual(errors, [])
        spdx_validator, why = attestlib.spdx_validator(self.tmp)
        if spdx_validator is None:
            self.skipTest(why)
        self.assertEqual(attestlib.schema_errors(spdx_validator, spdx), [])


if __name__ == "__main__":
    unittest.main()
