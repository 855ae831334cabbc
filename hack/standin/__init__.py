"""A local stand-in for the Kubernetes API server (Python 3 standard library only).

See docs in the project's kube-api-standin contract. Modules:
  errors     Status objects and the ApiError exception
  resources  resource types (built-in kinds and CRD-defined kinds)
  store      objects, resourceVersion counter, event history and watchers
  schema     openAPIV3Schema validation, defaulting and pruning
  patch      merge patch, JSON patch, strategic merge patch, server-side apply
  table      server-side printing (meta.k8s.io/v1 Table)
  discovery  /api, /apis, /version, /openapi
  admission  validating admission webhooks
  server     HTTP routing and the command line entry point
"""
