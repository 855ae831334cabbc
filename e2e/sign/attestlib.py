"""Helpers of the attestation end-to-end tests: the real cosign v3 (hack/peers.sh) verifying
attestations offline with a key, the statements it prints decoded, the CycloneDX 1.5 JSON
schema (from the github.com/CycloneDX/cyclonedx-go module, fetched through the Go module cache,
never committed) and the SPDX 2.3 JSON schema (the official one the SPDX project ships in its
org.spdx:tools-java Maven artifact, fetched with mvn at test time, never committed), applied
with Debian's python3-jsonschema."""
import base64
import json
import os
import shutil
import subprocess
import zipfile

import procs

CYCLONEDX_GO = "github.com/CycloneDX/cyclonedx-go@v0.12.0"
SPDX_TOOLS_JAVA = "org.spdx:tools-java:2.0.1"
SPDX_SCHEMA_IN_JAR = "resources/spdx-schema-v2.3.json"
COSIGN_TYPES = {"spdxjson": "https://spdx.dev/Document",
                "cyclonedx": "https://cyclonedx.org/bom",
                "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1"}


class Cosign:
    def __init__(self, tmp, registries):
        """registries: {host: "user:password"} written to a docker config cosign reads."""
        self.exe = procs.peer("cosign")
        dcfg = os.path.join(tmp, "cosign-docker")
        os.makedirs(dcfg, exist_ok=True)
        with open(os.path.join(dcfg, "config.json"), "w") as f:
            json.dump({"auths": {h: {"auth": base64.b64encode(c.encode()).decode()}
                                 for h, c in registries.items()}}, f)
        self.env = dict(os.environ, DOCKER_CONFIG=dcfg, HOME=tmp, COSIGN_PASSWORD="")

    def verify_attestation(self, ref, pub, typ):
        """`cosign verify-attestation --key PUB --type TYP` without a transparency log; returns
        the CompletedProcess (stdout: one JSON DSSE envelope per verified attestation)."""
        return subprocess.run([self.exe, "verify-attestation", "--key", pub, "--type", typ,
                               "--insecure-ignore-tlog", "--allow-insecure-registry", ref],
                              capture_output=True, text=True, env=self.env, timeout=300)


def statements(stdout):
    """The in-toto statements of the envelopes cosign printed, in order."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        env = json.loads(line)
        out.append(json.loads(base64.b64decode(env["payload"])))
    return out


def cyclonedx_validator(tmp):
    """A jsonschema validator of CycloneDX 1.5 (with its spdx and jsf schemas resolved from the
    module's folder), or (None, reason)."""
    try:
        import jsonschema
    except ImportError:
        return None, "python3-jsonschema is not installed"
    if not shutil.which("go"):
        return None, "go is needed to fetch the CycloneDX schema from the module proxy"
    mod = os.path.join(tmp, "schema-mod")
    os.makedirs(mod, exist_ok=True)
    r = subprocess.run(["go", "mod", "download", "-json", CYCLONEDX_GO], cwd=mod,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, "go mod download failed: " + r.stdout[-500:] + r.stderr[-500:]
    d = os.path.join(json.loads(r.stdout)["Dir"], "schema")
    store = {}
    for name in ("bom-1.5.schema.json", "spdx.schema.json", "jsf-0.82.schemax.json"):
        with open(os.path.join(d, name)) as f:
            doc = json.load(f)
        store[name] = doc
        if "$id" in doc:
            store[doc["$id"]] = doc
    schema = store["bom-1.5.schema.json"]
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, resolver=resolver), None


def spdx_validator(tmp):
    """A jsonschema validator of SPDX 2.3 JSON (the schema file of the SPDX project's own
    tools-java, whose Verify command uses it), or (None, reason)."""
    try:
        import jsonschema
    except ImportError:
        return None, "python3-jsonschema is not installed"
    if not shutil.which("mvn"):
        return None, "mvn is needed to fetch the SPDX schema from Maven Central"
    out = os.path.join(tmp, "spdx-schema")
    os.makedirs(out, exist_ok=True)
    r = subprocess.run(["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={SPDX_TOOLS_JAVA}",
                        f"-DoutputDirectory={out}"],
                       cwd=out, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, "mvn dependency:copy failed: " + r.stdout[-500:] + r.stderr[-500:]
    jar = os.path.join(out, SPDX_TOOLS_JAVA.split(":")[1] + "-" + SPDX_TOOLS_JAVA.split(":")[2]
                       + ".jar")
    with zipfile.ZipFile(jar) as z:
        schema = json.loads(z.read(SPDX_SCHEMA_IN_JAR))
    if schema.get("title") != "SPDX 2.3":
        return None, f"{SPDX_SCHEMA_IN_JAR} is not the SPDX 2.3 schema: {schema.get('title')}"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER), None


def schema_errors(validator, doc):
    """Every schema error of doc, one line each (path: message)."""
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
