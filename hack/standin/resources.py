"""Resource types served by the stand-in: built-in kinds and kinds defined by CRDs."""


class ResourceType:
    """One served resource (group/version/plural) and what the server knows about it."""

    def __init__(self, group, version, plural, kind, namespaced, singular=None,
                 short_names=(), categories=(), status=False, generation=False, builtin=True,
                 versions=None, schemas=None, columns=None, scale=False):
        self.group = group
        self.version = version                  # storage / preferred version
        self.versions = versions or [version]   # served versions, preferred first
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.generation = generation
        self.builtin = builtin
        self.schemas = schemas or {}             # version -> openAPIV3Schema (CRDs)
        self.columns = columns or {}             # version -> additionalPrinterColumns
        self.list_kind = kind + "List"

    @property
    def key(self):
        return (self.group, self.plural)

    def api_version(self, version=None):
        v = version or self.version
        return f"{self.group}/{v}" if self.group else v

    def verbs(self):
        return ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                "watch"]


def _rt(*a, **kw):
    return ResourceType(*a, **kw)


def builtin_types():
    return [
        _rt("", "v1", "namespaces", "Namespace", False, short_names=["ns"], status=True),
        _rt("", "v1", "secrets", "Secret", True),
        _rt("", "v1", "configmaps", "ConfigMap", True, short_names=["cm"]),
        _rt("", "v1", "events", "Event", True, short_names=["ev"]),
        _rt("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=["sa"]),
        _rt("", "v1", "pods", "Pod", True, short_names=["po"], categories=["all"],
            status=True),
        _rt("", "v1", "services", "Service", True, short_names=["svc"], categories=["all"],
            status=True),
        _rt("coordination.k8s.io", "v1", "leases", "Lease", True),
        _rt("events.k8s.io", "v1", "events", "Event", True, short_names=["ev"]),
        _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions",
            "CustomResourceDefinition", False, short_names=["crd", "crds"],
            categories=["api-extensions"], status=True, generation=True),
        _rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy", False, categories=["api-extensions"], status=True,
            generation=True),
        _rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding", False, categories=["api-extensions"],
            generation=True),
        _rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration", False, categories=["api-extensions"],
            generation=True),
        _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration", False, categories=["api-extensions"],
            generation=True),
        _rt("apps", "v1", "deployments", "Deployment", True, short_names=["deploy"],
            categories=["all"], status=True, generation=True),
        _rt("apps", "v1", "statefulsets", "StatefulSet", True, short_names=["sts"],
            categories=["all"], status=True, generation=True),
        _rt("apps", "v1", "daemonsets", "DaemonSet", True, short_names=["ds"],
            categories=["all"], status=True, generation=True),
        _rt("apps", "v1", "replicasets", "ReplicaSet", True, short_names=["rs"],
            categories=["all"], status=True, generation=True),
        _rt("batch", "v1", "jobs", "Job", True, categories=["all"], status=True,
            generation=True),
        _rt("batch", "v1", "cronjobs", "CronJob", True, short_names=["cj"],
            categories=["all"], status=True, generation=True),
        _rt("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
        _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
        _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
            False),
    ]


def crd_types(crd):
    """Returns the ResourceType a CRD object defines (None if it is unusable)."""
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group = spec.get("group")
    plural = names.get("plural")
    kind = names.get("kind")
    if not group or not plural or not kind:
        return None
    vs = spec.get("versions") if isinstance(spec.get("versions"), list) else []
    served = [v for v in vs if isinstance(v, dict) and v.get("served") and v.get("name")]
    if not served:
        return None
    storage = next((v for v in served if v.get("storage")), served[0])
    versions = [storage["name"]] + [v["name"] for v in served if v is not storage]
    schemas = {}
    columns = {}
    status = False
    for v in served:
        sch = v.get("schema").get("openAPIV3Schema") if isinstance(v.get("schema"), dict) \
            else None
        if isinstance(sch, dict):
            schemas[v["name"]] = sch
        cols = v.get("additionalPrinterColumns")
        columns[v["name"]] = [c for c in cols if isinstance(c, dict)] \
            if isinstance(cols, list) else []
        subs = v.get("subresources")
        if isinstance(subs, dict) and "status" in subs:
            status = True
    rt = ResourceType(group, storage["name"], plural, kind,
                      spec.get("scope", "Namespaced") == "Namespaced",
                      singular=names.get("singular") or kind.lower(),
                      short_names=names.get("shortNames") or [],
                      categories=names.get("categories") or [], status=status,
                      generation=True, builtin=False, versions=versions, schemas=schemas,
                      columns=columns)
    rt.list_kind = names.get("listKind") or kind + "List"
    return rt
