"""Object semantics: create/update/patch/delete with kube-apiserver's rules (resourceVersion
preconditions, generation, status subresource, finalizers, namespaces, garbage collection,
CRD registration, schema validation and admission)."""
import base64
import copy
import json
import queue
import random
import re
import threading
import time
import uuid

from . import admission, errors, patch, resources, schema
from .errors import ApiError, FieldError
from .store import Store

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
NAMESPACE_DELAY = 1.0
INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


META_TYPES = {"name": str, "generateName": str, "namespace": str, "resourceVersion": str,
              "uid": str, "labels": dict, "annotations": dict, "finalizers": list,
              "ownerReferences": list, "managedFields": list, "generation": int,
              "creationTimestamp": str, "deletionTimestamp": str}
GO_TYPES = {str: "string", dict: "map[string]string", list: "[]string", int: "int64"}


def _json_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def check_decode(kind, version, obj):
    """Rejects bodies kube-apiserver could not even decode (400), e.g. a numeric name."""
    md = obj.get("metadata")
    if md is None:
        return
    if not isinstance(md, dict):
        raise errors.bad_request(f"{kind} in version \"{version}\" cannot be handled as a {kind}: "
                                 f"json: cannot unmarshal {_json_type(md)} into Go struct field "
                                 f"{kind}.metadata of type v1.ObjectMeta")
    for f, t in META_TYPES.items():
        v = md.get(f)
        if v is None:
            continue
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise errors.bad_request(
                f"{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot "
                f"unmarshal {_json_type(v)} into Go struct field ObjectMeta.metadata.{f} of type "
                f"{GO_TYPES[t]}")


class Api:
    def __init__(self, service_host=None):
        self.store = Store()
        self.lock = self.store.lock
        self.types = {}
        self.service_host = service_host
        self.ca_pem = None
        for rt in resources.builtin_types():
            self.types[rt.key] = rt
        self.gc_queue = queue.Queue()
        threading.Thread(target=self._gc_loop, daemon=True, name="gc").start()

    def bootstrap(self):
        for ns in INITIAL_NAMESPACES:
            if not self.store.get(("", "namespaces"), "", ns):
                self.create(self.types[("", "namespaces")], None,
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                            {}, "v1", manager="kube-apiserver")

    def rebuild_types(self):
        """Re-registers CRD-defined types (after loading a snapshot)."""
        items, _ = self.store.items(("apiextensions.k8s.io", "customresourcedefinitions"))
        for _, crd in items:
            rt = resources.crd_types(crd)
            if rt:
                self.types[rt.key] = rt

    # --- lookup --------------------------------------------------------------------------------
    def find(self, group, version, plural):
        rt = self.types.get((group, plural))
        if rt and version in rt.versions:
            return rt
        return None

    def all_types(self):
        with self.lock:
            return list(self.types.values())

    def find_kind(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        for rt in self.all_types():
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    # --- helpers -------------------------------------------------------------------------------
    @staticmethod
    def now():
        return schema.now_rfc3339()

    def out(self, rt, obj, version):
        """The object as served in a version (apiVersion rewritten, nothing else converts)."""
        av = rt.api_version(version)
        if obj.get("apiVersion") == av and obj.get("kind") == rt.kind:
            return obj
        o = dict(obj)
        o["apiVersion"] = av
        o["kind"] = rt.kind
        return o

    def _check_namespace(self, rt, ns, creating):
        if not rt.namespaced:
            return
        nsobj = self.store.get(("", "namespaces"), "", ns)
        if nsobj is None:
            raise errors.namespace_not_found(ns)
        if creating and (nsobj.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError(403, f"{rt.plural} \"\" is forbidden: unable to create new content in "
                           f"namespace {ns} because it is being terminated", "Forbidden",
                           {"group": rt.group, "kind": rt.plural,
                            "causes": [{"reason": "NamespaceTerminating", "message":
                                        f"namespace {ns} is being terminated",
                                        "field": "metadata.namespace"}]})

    def _validate_meta(self, rt, obj, errs):
        md = obj.get("metadata")
        name = md.get("name", "")
        if rt.key == ("", "namespaces"):
            if len(name) > 63 or not DNS1123_LABEL.match(name):
                errs.append(FieldError("Invalid", "metadata.name", name, LABEL_MSG))
        elif rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            pass
        elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            errs.append(FieldError("Invalid", "metadata.name", name, SUBDOMAIN_MSG))
        for fld in ("labels", "annotations"):
            v = md.get(fld)
            if v is not None and (not isinstance(v, dict) or
                                  not all(isinstance(x, str) for x in v.values())):
                errs.append(FieldError("Invalid", f"metadata.{fld}", v,
                                       "must be a map of string to string"))
        fin = md.get("finalizers")
        if fin is not None and (not isinstance(fin, list) or
                                not all(isinstance(x, str) for x in fin)):
            errs.append(FieldError("Invalid", "metadata.finalizers", fin,
                                   "must be a list of strings"))
        refs = md.get("ownerReferences")
        if refs is not None:
            if not isinstance(refs, list):
                errs.append(FieldError("Invalid", "metadata.ownerReferences", refs,
                                       "must be a list"))
            else:
                for i, r in enumerate(refs):
                    if not isinstance(r, dict):
                        errs.append(FieldError("Invalid", f"metadata.ownerReferences[{i}]", r,
                                               "must be an object"))
                        continue
                    for f in ("apiVersion", "kind", "name", "uid"):
                        if not r.get(f):
                            errs.append(FieldError("Invalid",
                                                   f"metadata.ownerReferences[{i}].{f}",
                                                   r.get(f, ""), f"{f} must not be empty"))

    def _schema_check(self, rt, obj, version, params, warnings):
        """Prunes (or rejects, with Strict) unknown fields, defaults and validates."""
        if rt.builtin:
            return
        sch = rt.schemas.get(version) or rt.schemas.get(rt.version)
        if sch is None:
            return
        unknown = schema.prune(obj, sch)
        if unknown:
            mode = params.get("fieldValidation", "Warn")
            if mode == "Strict":
                uf = ", ".join(f'unknown field "{u}"' for u in unknown)
                raise ApiError(400, f'{rt.kind} in version "{version}" cannot be handled as a '
                               f'{rt.kind}: strict decoding error: {uf}', "BadRequest")
            if mode != "Ignore":
                warnings.extend(f'unknown field "{u}"' for u in unknown)
        schema.apply_defaults(obj, sch)

    def _validate(self, rt, obj, version):
        errs = []
        self._validate_meta(rt, obj, errs)
        if not rt.builtin:
            sch = rt.schemas.get(version) or rt.schemas.get(rt.version)
            if sch is not None:
                errs.extend(schema.validate(obj, sch))
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            errs.extend(self._validate_crd(obj))
        if errs:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), errs)

    def _validate_crd(self, crd):
        errs = []
        spec = crd.get("spec")
        if not isinstance(spec, dict):
            return [FieldError("Required", "spec", has_value=False)]
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        for f in ("plural", "kind"):
            if not names.get(f):
                errs.append(FieldError("Required", f"spec.names.{f}", has_value=False))
        if not spec.get("group"):
            errs.append(FieldError("Required", "spec.group", has_value=False))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errs.append(FieldError("NotSupported", "spec.scope", spec.get("scope", ""),
                                   supported=["Cluster", "Namespaced"]))
        vs = spec.get("versions")
        if not isinstance(vs, list) or not vs:
            errs.append(FieldError("Invalid", "spec.versions", vs if vs is not None else "null",
                                   "must have exactly one version marked as storage version"))
        else:
            if sum(1 for v in vs if isinstance(v, dict) and v.get("storage")) != 1:
                errs.append(FieldError("Invalid", "spec.versions", vs,
                                       "must have exactly one version marked as storage version"))
            for i, v in enumerate(vs):
                if not isinstance(v, dict):
                    errs.append(FieldError("Invalid", f"spec.versions[{i}]", v,
                                           "must be an object"))
                    continue
                if not v.get("name"):
                    errs.append(FieldError("Required", f"spec.versions[{i}].name",
                                           has_value=False))
                sch = v.get("schema")
                if sch is None:
                    continue
                root = sch.get("openAPIV3Schema") if isinstance(sch, dict) else None
                p = f"spec.versions[{i}].schema.openAPIV3Schema"
                if not isinstance(root, dict):
                    errs.append(FieldError("Required", p, has_value=False,
                                           detail="schemas are required"))
                elif root.get("type") != "object":
                    if not root.get("type"):
                        errs.append(FieldError("Required", p + ".type", has_value=False,
                                               detail="must not be empty at the root"))
                    else:
                        errs.append(FieldError("Invalid", p + ".type", root.get("type"),
                                               "must be object at the root"))
                for j, c in enumerate(v.get("additionalPrinterColumns") or []):
                    if not isinstance(c, dict) or not c.get("name") or not c.get("jsonPath"):
                        errs.append(FieldError("Required",
                                               f"spec.versions[{i}].additionalPrinterColumns[{j}]"
                                               ".jsonPath", has_value=False))
        name = (crd.get("metadata") or {}).get("name", "")
        if names.get("plural") and spec.get("group") and \
                name != f"{names['plural']}.{spec['group']}":
            errs.append(FieldError("Invalid", "metadata.name", name,
                                   'must be spec.names.plural+"."+spec.group'))
        return errs

    def _crd_status(self, crd, old=None):
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", (names.get("kind") or "").lower())
        names.setdefault("listKind", (names.get("kind") or "") + "List")
        now = self.now()
        prev = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions", [])}
        conds = []
        for t, reason, msg in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                               ("Established", "InitialNamesAccepted",
                                "the initial names have been accepted")):
            conds.append({"type": t, "status": "True", "reason": reason, "message": msg,
                          "lastTransitionTime": prev.get(t, {}).get("lastTransitionTime", now)})
        stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
        for v in spec.get("versions") or []:
            if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
                stored.append(v.get("name"))
        return {"conditions": conds, "acceptedNames": names, "storedVersions": stored}

    def _admit(self, op, rt, version, subresource, obj, old, ns, name):
        configs = [o for _, o in self.store.items(
            ("admissionregistration.k8s.io", "validatingwebhookconfigurations"))[0]]
        if not configs:
            return []
        ns_labels = {}
        if rt.namespaced and ns:
            nso = self.store.get(("", "namespaces"), "", ns)
            ns_labels = dict(((nso or {}).get("metadata") or {}).get("labels") or {})
            ns_labels.setdefault("kubernetes.io/metadata.name", ns)
        return admission.run_validating(configs, self.service_host, op, rt, version,
                                        subresource, obj, old, ns_labels, name, ns)

    # --- create ----------------------------------------------------------------------------------
    def create(self, rt, ns, body, params, version, manager, warnings=None, apply_cfg=None):
        warnings = warnings if warnings is not None else []
        if not isinstance(body, dict):
            raise errors.bad_request("Object 'Kind' is missing in request body")
        check_decode(rt.kind, version, body)
        obj = copy.deepcopy(body)
        md = obj.get("metadata")
        if md is None:
            md = obj["metadata"] = {}
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        if rt.namespaced:
            bns = md.get("namespace")
            if bns and ns and bns != ns:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = md["generateName"] + "".join(
                    random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            else:
                raise errors.invalid(rt.kind, rt.group, "", [FieldError(
                    "Required", "metadata.name", has_value=False,
                    detail="name or generateName is required")])
        name = md["name"]
        for f in ("resourceVersion", "uid", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "selfLink", "managedFields"):
            md.pop(f, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = self.now()
        if rt.generation:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        if rt.status and rt.key != ("apiextensions.k8s.io", "customresourcedefinitions"):
            obj.pop("status", None)
        self._schema_check(rt, obj, version, params, warnings)
        self._validate(rt, obj, version)
        if rt.key == ("", "namespaces"):
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            obj["status"] = self._crd_status(obj)
        if rt.key == ("", "secrets"):
            obj.setdefault("type", "Opaque")
            self._check_secret(rt, obj)
        with self.lock:
            self._check_namespace(rt, ns, True)
            if self.store.get(rt.key, ns, name) is not None:
                raise errors.already_exists(rt, name)
        warnings += self._admit("CREATE", rt, version, None, self.out(rt, obj, version), None,
                                ns, name)
        if apply_cfg is not None:
            obj["metadata"]["managedFields"] = [patch._entry(
                manager, "Apply", rt.api_version(version), None,
                patch.leaf_paths(apply_cfg, None, rt.status), self.now())]
        else:
            patch.track_update(None, obj, manager, rt.api_version(version), None, rt.status,
                               self.now())
        if params.get("dryRun") == "All":
            return obj
        with self.lock:
            self._check_namespace(rt, ns, True)
            if self.store.get(rt.key, ns, name) is not None:
                raise errors.already_exists(rt, name)
            self.store.put(rt.key, obj)
            if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._register_crd(obj)
        if rt.key == ("", "namespaces"):
            self._namespace_defaults(name)
        return obj

    def _namespace_defaults(self, ns):
        """What kube-controller-manager adds to every namespace: the default ServiceAccount
        and the kube-root-ca.crt ConfigMap."""
        for key, body in (
                (("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                           "metadata": {"name": "default"}}),
                (("", "configmaps"), {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "kube-root-ca.crt", "annotations": {
                                          "kubernetes.io/description": "Contains a CA bundle "
                                          "that can be used to verify the kube-apiserver when "
                                          "using internal endpoints such as the internal "
                                          "service IP or kubernetes.default.svc. No other "
                                          "usage is guaranteed across distributions of "
                                          "Kubernetes clusters."}},
                                      "data": {"ca.crt": self.ca_pem or ""}})):
            try:
                self.create(self.types[key], ns, body, {}, "v1", "kube-controller-manager")
            except ApiError:
                pass

    def _check_secret(self, rt, obj):
        errs = []
        for f in ("data",):
            for k, v in (obj.get(f) or {}).items():
                if not isinstance(v, str):
                    errs.append(FieldError("Invalid", f"{f}[{k}]", v, "must be a string"))
                    continue
                try:
                    base64.b64decode(v, validate=True)
                except ValueError:
                    raise errors.bad_request("Secret in version \"v1\" cannot be handled as a "
                                             "Secret: illegal base64 data at input byte 0")
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict):
            data = obj.setdefault("data", {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
        if errs:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"]["name"], errs)

    def _register_crd(self, crd):
        rt = resources.crd_types(crd)
        if rt is not None:
            self.types[rt.key] = rt

    # --- update ----------------------------------------------------------------------------------
    def _spec_changed(self, rt, old, new):
        for k in set(old) | set(new):
            if k in ("metadata", "apiVersion", "kind"):
                continue
            if k == "status" and rt.status:
                continue
            if old.get(k) != new.get(k):
                return True
        return False

    def _prepare_update(self, rt, cur, new, version, subresource, params, warnings,
                        check_rv=True):
        """Builds the object to store from the requested new object and the current one."""
        if not isinstance(new, dict):
            raise errors.bad_request("Object 'Kind' is missing in request body")
        check_decode(rt.kind, version, new)
        new = copy.deepcopy(new)
        md = new.get("metadata")
        if not isinstance(md, dict):
            md = new["metadata"] = {}
        cmd = cur["metadata"]
        name = cmd["name"]
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(f"the name of the object ({md['name']}) does not match the "
                                     f"name on the URL ({name})")
        if rt.namespaced and md.get("namespace") and md["namespace"] != cmd.get("namespace"):
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        rv = md.get("resourceVersion")
        if check_rv:
            if not rv:
                qk = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
                raise ApiError(422, f'{qk} "{name}" is invalid: metadata.resourceVersion: '
                               'Invalid value: 0x0: must be specified for an update', "Invalid",
                               {"name": name, "group": rt.group, "kind": rt.kind, "causes": [
                                   {"reason": "FieldValueInvalid", "message": "Invalid value: "
                                    "0x0: must be specified for an update",
                                    "field": "metadata.resourceVersion"}]})
        if rv and rv != cmd["resourceVersion"]:
            raise errors.conflict(rt, name)
        if subresource == "status":
            out = copy.deepcopy(cur)
            if "status" in new:
                out["status"] = new["status"]
            else:
                out.pop("status", None)
            new = out
            md = new["metadata"]
        else:
            if rt.status:
                if "status" in cur:
                    new["status"] = copy.deepcopy(cur["status"])
                else:
                    new.pop("status", None)
            for f in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "managedFields"):
                if f in cmd:
                    md[f] = cmd[f]
                else:
                    md.pop(f, None)
            md["name"] = name
            if rt.namespaced:
                md["namespace"] = cmd.get("namespace")
            else:
                md.pop("namespace", None)
        new["apiVersion"] = rt.api_version()
        new["kind"] = rt.kind
        self._schema_check(rt, new, version, params, warnings)
        if rt.key == ("", "secrets"):
            self._check_secret(rt, new)
        if rt.key == ("", "namespaces"):
            new["spec"] = cur.get("spec", {})
            if subresource != "status":
                new["status"] = cur.get("status", {})
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            new["status"] = self._crd_status(new, cur)
        if cmd.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(cmd.get("finalizers") or [])
            if added:
                raise errors.invalid(rt.kind, rt.group, name, [FieldError(
                    "Forbidden", "metadata.finalizers", has_value=False,
                    detail="no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {json.dumps(sorted(added))}")])
        self._validate(rt, new, version)
        if rt.generation and self._spec_changed(rt, cur, new):
            md["generation"] = int(cmd.get("generation") or 0) + 1
        md["resourceVersion"] = cmd["resourceVersion"]
        return new

    def commit_update(self, rt, cur, new, version, subresource, manager, params, warnings,
                      apply_cfg=None, force=False):
        """Runs admission and stores new if cur is still current. Returns the stored object,
        or None if the object changed meanwhile (the caller retries)."""
        ns = cur["metadata"].get("namespace") or ""
        name = cur["metadata"]["name"]
        if _same_ignoring_times(cur, new):
            return cur
        warnings += self._admit("UPDATE", rt, version, subresource,
                                self.out(rt, new, version), self.out(rt, cur, version), ns, name)
        if apply_cfg is None:
            patch.track_update(cur, new, manager, rt.api_version(version), subresource,
                               rt.status, self.now())
        if params.get("dryRun") == "All":
            return new
        with self.lock:
            now = self.store.get(rt.key, ns, name)
            if now is None:
                raise errors.not_found(rt, name)
            if now["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                return None
            if _same_ignoring_times(cur, new):
                return cur
            self.store.put(rt.key, new, cur)
            if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._register_crd(new)
            md = new["metadata"]
            if md.get("deletionTimestamp") and not md.get("finalizers"):
                self._remove(rt, new)
        return new

    def update(self, rt, ns, name, body, params, version, subresource, manager):
        warnings = []
        cur = self.store.get(rt.key, ns, name)
        if cur is None:
            raise errors.not_found(rt, name)
        new = self._prepare_update(rt, cur, body, version, subresource, params, warnings,
                                   check_rv=True)
        res = self.commit_update(rt, cur, new, version, subresource, manager, params, warnings)
        if res is None:
            raise errors.conflict(rt, name)
        return res, warnings

    def patch(self, rt, ns, name, ctype, raw, params, version, subresource, manager):
        warnings = []
        for _ in range(10):
            cur = self.store.get(rt.key, ns, name)
            if ctype == "application/apply-patch+yaml":
                res = self._apply(rt, ns, name, cur, raw, params, version, subresource, warnings)
                if res is not None:
                    return res, warnings
                continue
            if cur is None:
                raise errors.not_found(rt, name)
            body = patch.parse_body(raw)
            curv = self.out(rt, cur, version)
            if ctype == "application/merge-patch+json":
                if not isinstance(body, dict):
                    raise errors.bad_request("json: cannot unmarshal into Go value of type "
                                             "map[string]interface {}")
                new = patch.merge_patch(curv, body)
            elif ctype == "application/json-patch+json":
                new = patch.json_patch(curv, body)
            elif ctype == "application/strategic-merge-patch+json":
                if not rt.builtin:
                    raise ApiError(415, "the body of the request was in an unknown format - "
                                   "accepted media types include: application/json-patch+json, "
                                   "application/merge-patch+json, application/apply-patch+yaml",
                                   "UnsupportedMediaType")
                if not isinstance(body, dict):
                    raise errors.bad_request("json: cannot unmarshal into Go value of type "
                                             "map[string]interface {}")
                new = patch.strategic_merge(curv, body)
            else:
                raise ApiError(415, "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml",
                               "UnsupportedMediaType")
            if not isinstance(new, dict):
                raise errors.bad_request("the patch did not produce an object")
            nmd = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
            if nmd.get("resourceVersion") is None:
                new.setdefault("metadata", {})
                if isinstance(new["metadata"], dict):
                    new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            prepared = self._prepare_update(rt, cur, new, version, subresource, params,
                                            warnings, check_rv=False)
            res = self.commit_update(rt, cur, prepared, version, subresource, manager, params,
                                     warnings)
            if res is not None:
                return res, warnings
        raise errors.conflict(rt, name)

    def _apply(self, rt, ns, name, cur, raw, params, version, subresource, warnings):
        manager = params.get("fieldManager")
        if not manager:
            raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager "
                                     "to be set")
        from . import yamlmini
        try:
            cfg = yamlmini.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}")
        if not isinstance(cfg, dict):
            raise errors.bad_request("error decoding YAML: the body is not an object")
        check_decode(rt.kind, version, cfg)
        if cfg.get("metadata") is None:
            cfg["metadata"] = {}
        if not cfg.get("apiVersion") or not cfg.get("kind"):
            raise errors.bad_request("invalid object type: " + json.dumps(
                {"apiVersion": cfg.get("apiVersion"), "kind": cfg.get("kind")}))
        if cfg.get("kind") != rt.kind:
            raise errors.bad_request(f"the kind in the body ({cfg.get('kind')}) does not match "
                                     f"the kind of the resource ({rt.kind})")
        md = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(f"the name of the object ({md['name']}) does not match the "
                                     f"name on the URL ({name})")
        cfg.setdefault("metadata", {})["name"] = name
        force = params.get("force") in ("true", "1", "True")
        # schema processing of the config itself, so unknown fields are reported
        if not rt.builtin:
            sch = rt.schemas.get(version) or rt.schemas.get(rt.version)
            if sch is not None:
                unknown = schema.prune(cfg, sch)
                if unknown:
                    mode = params.get("fieldValidation", "Strict")
                    if mode == "Strict":
                        uf = ", ".join(f'unknown field "{u}"' for u in unknown)
                        raise ApiError(400, f'{rt.kind} in version "{version}" cannot be '
                                       f'handled as a {rt.kind}: strict decoding error: {uf}',
                                       "BadRequest")
                    if mode != "Ignore":
                        warnings.extend(f'unknown field "{u}"' for u in unknown)
        if cur is None:
            if subresource:
                raise errors.not_found(rt, name)
            return self.create(rt, ns, cfg, params, version, manager, warnings,
                               apply_cfg=copy.deepcopy(cfg))
        merged = patch.server_side_apply(self.out(rt, cur, version), cfg, manager, force,
                                         rt.api_version(version), subresource, rt.status,
                                         self.now())
        merged.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
        mf = merged["metadata"].get("managedFields")
        prepared = self._prepare_update(rt, cur, merged, version, subresource, params, warnings,
                                        check_rv=False)
        if mf is not None:
            prepared["metadata"]["managedFields"] = mf
        else:
            prepared["metadata"].pop("managedFields", None)
        return self.commit_update(rt, cur, prepared, version, subresource, manager, params,
                                  warnings, apply_cfg=cfg, force=force)

    # --- delete ----------------------------------------------------------------------------------
    def delete(self, rt, ns, name, opts, params, version):
        opts = opts if isinstance(opts, dict) else {}
        policy = opts.get("propagationPolicy") or params.get("propagationPolicy")
        if opts.get("orphanDependents") is True:
            policy = "Orphan"
        for _ in range(10):
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                raise errors.not_found(rt, name)
            pre = opts.get("preconditions") if isinstance(opts.get("preconditions"), dict) else {}
            cmd = cur["metadata"]
            if pre.get("uid") and pre["uid"] != cmd.get("uid"):
                raise errors.conflict(rt, name, f"Precondition failed: UID in precondition: "
                                      f"{pre['uid']}, UID in object meta: {cmd.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != cmd["resourceVersion"]:
                raise errors.conflict(rt, name, f"Precondition failed: ResourceVersion in "
                                      f"precondition: {pre['resourceVersion']}, ResourceVersion "
                                      f"in object meta: {cmd['resourceVersion']}")
            if rt.key == ("", "namespaces") and name in ("default", "kube-system",
                                                         "kube-public"):
                raise ApiError(403, f'namespaces "{name}" is forbidden: this namespace may not '
                               'be deleted', "Forbidden", {"name": name, "kind": "namespaces"})
            self._admit("DELETE", rt, version, None, None, self.out(rt, cur, version), ns, name)
            if params.get("dryRun") == "All":
                return cur, False
            with self.lock:
                now = self.store.get(rt.key, ns, name)
                if now is None or now["metadata"]["resourceVersion"] != cmd["resourceVersion"]:
                    continue
                if rt.key == ("", "namespaces"):
                    return self._delete_namespace(cur), False
                finalizers = list(cmd.get("finalizers") or [])
                if policy == "Orphan" and "orphan" not in finalizers and not finalizers:
                    self._orphan_dependents(cmd.get("uid"))
                if finalizers:
                    if cmd.get("deletionTimestamp"):
                        return cur, False
                    new = copy.deepcopy(cur)
                    new["metadata"]["deletionTimestamp"] = self.now()
                    new["metadata"]["deletionGracePeriodSeconds"] = 0
                    if rt.generation:
                        new["metadata"]["generation"] = int(cmd.get("generation") or 0) + 1
                    self.store.put(rt.key, new, cur)
                    return new, False
                gone = self._remove(rt, cur, orphan=(policy == "Orphan"))
                return gone, True
        raise errors.conflict(rt, name)

    def _remove(self, rt, obj, orphan=False):
        gone = self.store.remove(rt.key, obj)
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crt = resources.crd_types(obj)
            if crt is not None and crt.key in self.types:
                items, _ = self.store.items(crt.key)
                for _, o in items:
                    self.store.remove(crt.key, o)
                self.store.drop_type(crt.key)
                del self.types[crt.key]
        if not orphan:
            self.gc_queue.put(obj["metadata"].get("uid"))
        return gone

    def _delete_namespace(self, nsobj):
        name = nsobj["metadata"]["name"]
        if not nsobj["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(nsobj)
            new["metadata"]["deletionTimestamp"] = self.now()
            new["status"] = {"phase": "Terminating"}
            self.store.put(("", "namespaces"), new, nsobj)
            nsobj = new
        self.gc_queue.put(("ns", name))
        return nsobj

    def _finish_namespace(self, name):
        """Deletes the objects of a terminating namespace; removes it once empty."""
        for rt in self.all_types():
            key = rt.key
            if not rt.namespaced:
                continue
            items, _ = self.store.items(key, name)
            for _, o in items:
                try:
                    self.delete(rt, name, o["metadata"]["name"], {}, {}, rt.version)
                except ApiError:
                    pass
        with self.lock:
            for key, rt in list(self.types.items()):
                if rt.namespaced and self.store.items(key, name)[0]:
                    return False
            nsobj = self.store.get(("", "namespaces"), "", name)
            if nsobj is not None and nsobj["metadata"].get("deletionTimestamp"):
                self.store.remove(("", "namespaces"), nsobj)
        return True

    def _orphan_dependents(self, uid):
        for key, o in self.store.all_objects():
            refs = o["metadata"].get("ownerReferences") or []
            if any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
                new = copy.deepcopy(o)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self.store.put(key, new, o)

    def _gc_loop(self):
        pending_ns = {}     # namespace -> when to start deleting its content
        while True:
            try:
                item = self.gc_queue.get(timeout=0.25)
            except queue.Empty:
                item = None
            try:
                if isinstance(item, tuple):
                    # like the namespace controller, start a moment later, so clients that
                    # delete a namespace and then its objects (kubectl delete -k) see them
                    pending_ns.setdefault(item[1], time.monotonic() + NAMESPACE_DELAY)
                elif item:
                    self._collect(item)
                for ns, when in list(pending_ns.items()):
                    if time.monotonic() >= when and self._finish_namespace(ns):
                        del pending_ns[ns]
            except Exception as exc:  # the collector must keep running
                import sys
                print(f"standin: gc error: {exc!r}", file=sys.stderr)

    def _collect(self, uid):
        """Deletes dependents whose owners are all gone."""
        with self.lock:
            uids = set()
            deps = []
            for key, o in self.store.all_objects():
                md = o["metadata"]
                uids.add(md.get("uid"))
                refs = md.get("ownerReferences") or []
                if any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
                    deps.append((key, o))
        for key, o in deps:
            refs = o["metadata"].get("ownerReferences") or []
            if all(isinstance(r, dict) and r.get("uid") not in uids for r in refs):
                rt = self.types.get(key)
                if rt is None:
                    continue
                try:
                    self.delete(rt, o["metadata"].get("namespace") or "", o["metadata"]["name"],
                                {"propagationPolicy": "Background"}, {}, rt.version)
                except ApiError:
                    pass


def _same_ignoring_times(a, b):
    """True if b differs from a at most in resourceVersion and managedFields timestamps."""
    if {k: v for k, v in a.items() if k != "metadata"} != \
            {k: v for k, v in b.items() if k != "metadata"}:
        return False
    am, bm = a.get("metadata") or {}, b.get("metadata") or {}
    skip = ("managedFields", "resourceVersion")
    if {k: v for k, v in am.items() if k not in skip} != \
            {k: v for k, v in bm.items() if k not in skip}:
        return False

    def strip(mf):
        return [{k: v for k, v in e.items() if k != "time"} for e in mf or []]
    return strip(am.get("managedFields")) == strip(bm.get("managedFields"))
