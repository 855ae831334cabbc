/* Kubernetes API client: configuration (kubeconfig or in-cluster) and JSON REST calls.
 *
 * Thread-safe: one sl_kube_client may be used from many threads at once (each call uses its own
 * curl easy handle; connections are shared through a curl share handle). Objects are jansson
 * json_t values; every json_t **out is a new reference owned by the caller (json_decref).
 *
 * HTTP status codes map to typed errors: 404 SL_ENOTFOUND, 409 SL_ECONFLICT (reason Conflict) or
 * SL_EEXISTS (reason AlreadyExists), 410 SL_EGONE, 400/422 SL_EINVAL, 401/403 SL_EAUTH,
 * 429/5xx/connection failures SL_ERETRY. err->msg then carries the Status message of the API
 * server (e.g. `imagedeliveries.sealift.dev "x" not found`) and err->http_status the code. */
#ifndef SL_KUBE_CLIENT_H
#define SL_KUBE_CLIENT_H

#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>

/* Where and how to reach the API server. All strings owned by the struct. */
struct sl_kube_config {
    char *server;     /* "https://host:port" or "http://127.0.0.1:port" */
    char *namespace;  /* current context's namespace, in-cluster namespace file, or "default" */
    char *token;      /* bearer token (secret: wiped on free), or NULL */
    char *token_file; /* re-read on 401 (in-cluster tokens rotate), or NULL */
    char *ca_pem;     /* PEM bundle to verify the server, or NULL for the system store */
    char *client_cert_pem; /* client certificate PEM, or NULL */
    char *client_key_pem;  /* client key PEM (secret: wiped on free), or NULL */
    char *username;        /* basic auth, or NULL */
    char *password;        /* (secret) */
    bool insecure_skip_tls_verify;
};

/* Loads configuration. Order: explicit path; else $KUBECONFIG (first file); else in-cluster
 * (KUBERNETES_SERVICE_HOST/PORT + /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,
 * namespace}, directory overridable by $SEALIFT_SERVICEACCOUNT_DIR); else ~/.kube/config.
 * Kubeconfig: current-context, cluster server / certificate-authority(-data) /
 * insecure-skip-tls-verify, user token / tokenFile / client-certificate(-data) /
 * client-key(-data) / username+password, context namespace. Relative file paths are resolved
 * against the kubeconfig's directory. Returns 0, SL_ENOTFOUND (no configuration found) or
 * SL_EINVAL (malformed). */
int sl_kube_config_load(struct sl_kube_config **out, const char *kubeconfig_path,
                        struct sl_err *err);
/* Loads from in-cluster files only (see above). */
int sl_kube_config_in_cluster(struct sl_kube_config **out, struct sl_err *err);
void sl_kube_config_free(struct sl_kube_config *cfg);

/* A kind the client talks to. group "" is the core group ("/api/v1/..."). */
struct sl_kube_resource {
    const char *group;   /* "sealift.dev", "", "coordination.k8s.io", ... */
    const char *version; /* "v1alpha1", "v1" */
    const char *plural;  /* "imagedeliveries" */
    const char *kind;    /* "ImageDelivery" */
    bool namespaced;
};

/* Well-known resources. */
extern const struct sl_kube_resource SL_RES_SECRET;
extern const struct sl_kube_resource SL_RES_CONFIGMAP;
extern const struct sl_kube_resource SL_RES_SERVICEACCOUNT;
extern const struct sl_kube_resource SL_RES_EVENT;
extern const struct sl_kube_resource SL_RES_NAMESPACE;
extern const struct sl_kube_resource SL_RES_LEASE;
extern const struct sl_kube_resource SL_RES_VAP;         /* validatingadmissionpolicies */
extern const struct sl_kube_resource SL_RES_VAP_BINDING; /* validatingadmissionpolicybindings */
extern const struct sl_kube_resource SL_RES_VWC;         /* validatingwebhookconfigurations */
extern const struct sl_kube_resource SL_RES_CRD;         /* customresourcedefinitions */
extern const struct sl_kube_resource SL_RES_IMAGEDELIVERY;
extern const struct sl_kube_resource SL_RES_SCANPOLICY;
extern const struct sl_kube_resource SL_RES_SIGNINGKEY;
extern const struct sl_kube_resource SL_RES_DEPLOYPOLICY;
extern const struct sl_kube_resource SL_RES_GITSOURCE;

struct sl_kube_client;

/* Creates a client; cfg is copied. user_agent may be NULL ("sealift/<version>"). */
int sl_kube_client_new(struct sl_kube_client **out, const struct sl_kube_config *cfg,
                       const char *user_agent, struct sl_err *err);
/* Frees a client, or a handle of sl_kube_client_impersonate (then only that handle). */
void sl_kube_client_free(struct sl_kube_client *c);

/* At most this many Impersonate-Group values per handle. */
#define SL_KUBE_IMPERSONATE_GROUPS_MAX 8
/* A handle that sends every request of base with `Impersonate-User: user` and one
 * `Impersonate-Group` per groups[i] (n_groups <= SL_KUBE_IMPERSONATE_GROUPS_MAX), so the API
 * server authorizes it as that identity. It shares base's connections and credentials (a token
 * re-read on 401 is seen by both) and leaves base's own requests unchanged; like base it may be
 * used from many threads. base is borrowed and must outlive the handle, and must not itself be
 * an impersonating handle. user and groups are copied: 1..512 printable ASCII characters each.
 * Returns 0 or SL_EINVAL. *out is the caller's (sl_kube_client_free). */
int sl_kube_client_impersonate(struct sl_kube_client **out, struct sl_kube_client *base,
                               const char *user, const char *const *groups, size_t n_groups,
                               struct sl_err *err);
/* The configuration's default namespace. Borrowed. */
const char *sl_kube_client_namespace(const struct sl_kube_client *c);

/* ns is ignored for cluster-scoped resources; NULL/"" for a namespaced resource means all
 * namespaces (list and watch only). */
int sl_kube_get(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                const char *ns, const char *name, struct sl_err *err);

struct sl_kube_list_opts {
    const char *label_selector; /* or NULL */
    const char *field_selector; /* or NULL */
    const char *continue_token; /* or NULL */
    long limit;                 /* 0 = no limit */
};
/* One page of a list: the List object (items, metadata.resourceVersion, metadata.continue). */
int sl_kube_list(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                 const char *ns, const struct sl_kube_list_opts *opts, struct sl_err *err);

/* POST. obj is borrowed. */
int sl_kube_create(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                   const char *ns, json_t *obj, struct sl_err *err);
/* PUT (obj must carry metadata.name and metadata.resourceVersion). */
int sl_kube_update(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                   const char *ns, json_t *obj, struct sl_err *err);
/* PUT .../status. */
int sl_kube_update_status(json_t **out, struct sl_kube_client *c,
                          const struct sl_kube_resource *res, const char *ns, json_t *obj,
                          struct sl_err *err);

enum sl_kube_patch_type {
    SL_PATCH_MERGE,     /* application/merge-patch+json */
    SL_PATCH_JSON,      /* application/json-patch+json */
    SL_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply; body may be JSON) */
    SL_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds only) */
};
struct sl_kube_patch_opts {
    enum sl_kube_patch_type type;
    const char *field_manager; /* required for SL_PATCH_APPLY */
    bool force;                /* SSA force */
    bool status;               /* patch the /status subresource */
};
/* PATCH; body is a JSON (or YAML for apply) document; out may be NULL. */
int sl_kube_patch(json_t **out, struct sl_kube_client *c, const struct sl_kube_resource *res,
                  const char *ns, const char *name, const char *body,
                  const struct sl_kube_patch_opts *opts, struct sl_err *err);

/* DELETE with propagationPolicy Background. SL_ENOTFOUND when already gone. */
int sl_kube_delete(struct sl_kube_client *c, const struct sl_kube_resource *res, const char *ns,
                   const char *name, struct sl_err *err);

/* Watch event types. */
enum sl_watch_event_type {
    SL_WATCH_ADDED,
    SL_WATCH_MODIFIED,
    SL_WATCH_DELETED,
    SL_WATCH_BOOKMARK,
    SL_WATCH_ERROR,
};
/* Called for every event; obj is borrowed (incref to keep it). Return 0 to continue, non-zero
 * to stop the watch (sl_kube_watch then returns 0). */
typedef int (*sl_kube_watch_fn)(void *ctx, enum sl_watch_event_type type, json_t *obj);

struct sl_kube_watch_opts {
    const char *resource_version; /* start after this version; NULL/"" = now */
    const char *label_selector;
    int timeout_seconds; /* server-side timeoutSeconds; 0 = server default */
    bool allow_bookmarks;
    /* polled between reads (at least once a second); non-zero stops the watch (returns
     * SL_ECANCELED). May be NULL. */
    int (*cancelled)(void *ctx);
};
/* Blocking watch. Returns 0 when the server ends the stream or the callback stops it,
 * SL_EGONE when the server sends an ERROR event with code 410 (after delivering it to fn),
 * SL_ERETRY on a dropped connection, SL_ECANCELED when cancelled. */
int sl_kube_watch(struct sl_kube_client *c, const struct sl_kube_resource *res, const char *ns,
                  const struct sl_kube_watch_opts *opts, sl_kube_watch_fn fn, void *ctx,
                  struct sl_err *err);

/* Raw request for anything else (path starting with "/", e.g. "/version"). body may be NULL.
 * *out_status gets the HTTP status; *out the parsed JSON body (or NULL when empty/not JSON).
 * Non-2xx answers return the typed error as above. */
int sl_kube_request(json_t **out, long *out_status, struct sl_kube_client *c, const char *method,
                    const char *path, const char *content_type, const char *body,
                    struct sl_err *err);

/* Helpers for object fields; return borrowed strings or NULL. */
const char *sl_kube_obj_name(const json_t *obj);
const char *sl_kube_obj_namespace(const json_t *obj);
const char *sl_kube_obj_resource_version(const json_t *obj);
const char *sl_kube_obj_uid(const json_t *obj);
long long sl_kube_obj_generation(const json_t *obj);
/* Dotted path lookup, e.g. sl_kube_json_path(obj, "spec.source.image"). Borrowed or NULL. */
json_t *sl_kube_json_path(const json_t *obj, const char *dotted_path);
const char *sl_kube_json_path_str(const json_t *obj, const char *dotted_path);

#endif
