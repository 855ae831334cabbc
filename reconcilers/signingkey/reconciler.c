/* The SigningKey reconciler (see reconciler.h).
 *
 * One reconcile is an ordered list of steps: read the spec, obtain the key (mode-specific),
 * check its algorithm, publish the public key. Each step either succeeds or records an outcome
 * (result kind + Ready reason + message); finish() writes status and events from that outcome
 * in one place. */
#include "signingkey/reconciler.h"

#include "kube/secret.h"
#include "runtime/conditions.h"
#include "runtime/outcome.h"
#include "runtime/refindex.h"
#include "runtime/status.h"
#include "sign/cosignkey.h"
#include "sign/keys.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Secret keys tried, in order, for a private key in Import mode (and for an existing Secret in
 * Generate mode): cosign's own name first, then the names TLS and hand-made Secrets use. */
static const char *const private_key_names[] = {SL_SIGNINGKEY_PRIVATE_KEY, "tls.key", "key.pem",
                                                "private.pem", NULL};

/* Largest base64 value read from a Secret (a PEM of SL_KEY_PEM_MAX bytes, encoded). */
#define SECRET_VALUE_B64_MAX (SL_KEY_PEM_MAX / 3 * 4 + 8)

/* ---- reference index for secondary watches ---- */

struct sk_reconciler {
    struct sl_reconciler base; /* first: the manager frees everything through base.free */
    struct sl_refindex *refs;  /* which SigningKey references which Secret / ConfigMap */
};

/* Replaces what the index knows about SigningKey ns/name with its current references (either
 * name may be NULL or empty: no reference). */
static void index_update(struct sk_reconciler *r, const char *ns, const char *name,
                         const char *secret, const char *configmap)
{
    struct sl_refindex_ref refs[2] = {{NULL, NULL}, {NULL, NULL}};
    size_t n = 0;
    if (secret != NULL && secret[0] != '\0')
        refs[n++] = (struct sl_refindex_ref){.kind = "Secret", .name = secret};
    if (configmap != NULL && configmap[0] != '\0')
        refs[n++] = (struct sl_refindex_ref){.kind = "ConfigMap", .name = configmap};
    sl_refindex_set(r->refs, ns, name, refs, n);
}

static void map_secondary(void *self, const struct sl_kube_resource *res, const json_t *obj,
                          void (*enqueue)(void *qctx, const char *ns, const char *name), void *qctx)
{
    struct sk_reconciler *r = self;
    const char *ns = sl_kube_obj_namespace(obj), *name = sl_kube_obj_name(obj);
    if (ns == NULL || name == NULL)
        return;
    bool is_configmap = strcmp(res->kind, "ConfigMap") == 0;
    if (!is_configmap) {
        json_t *ann = sl_kube_json_path(obj, "metadata.annotations");
        const char *sk = json_string_value(json_object_get(ann, SL_SIGNINGKEY_ANNOTATION));
        if (sk != NULL && sk[0] != '\0')
            enqueue(qctx, ns, sk);
    }
    sl_refindex_enqueue(r->refs, is_configmap ? "ConfigMap" : "Secret", ns, name, enqueue, qctx);
}

/* ---- small helpers ---- */

/* Decodes a Secret value (the policy of kube/secret.h) into a NUL-terminated buffer (wipe it with
 * sl_secure_free(out, *out_len + 1)). Returns 0 or SL_EINVAL / SL_ETOOBIG. */
static int base64_decode(char **out, size_t *out_len, const char *b64, size_t len)
{
    if (len > SECRET_VALUE_B64_MAX)
        return SL_ETOOBIG;
    unsigned char *buf = NULL;
    int rc = sl_kube_secret_decode(&buf, out_len, b64, len);
    if (rc == 0)
        *out = (char *)buf;
    return rc;
}

/* ---- one reconcile ---- */

struct outcome {
    enum sl_result_kind kind;
    int64_t requeue_after_ms;
    bool ready;
    bool keep_key_status; /* transient failure: keep the key fields status already has */
    bool report_key;      /* the key is good, publishing it was refused: report the key */
    const char *reason;
    char message[SL_ERR_MSG_MAX + 256];
};

struct sk_run {
    struct sk_reconciler *r;
    struct sl_runtime *rt;
    const struct sl_reconcile_request *req;
    const json_t *obj;
    const char *ns, *name;
    /* spec */
    const char *mode;
    const char *alg_name; /* spec.algorithm or NULL */
    enum sl_key_algorithm want_alg;
    const char *secret_name;    /* spec.secretRef.name or NULL */
    const char *configmap_name; /* spec.publishKey (or VerifyOnly's spec.publicKey) ConfigMap */
    bool publish;               /* publish the ConfigMap (false when it is VerifyOnly's source) */
    /* results */
    struct sl_key *key;
    char fingerprint[SL_KEY_FINGERPRINT_LEN];
    char *public_pem;
    char source[320]; /* where the key came from, for messages: Secret "x" */
    bool generated;
    bool published;    /* the ConfigMap was created or updated in this reconcile */
    bool publish_done; /* the ConfigMap holds this key (written now or earlier) */
    struct outcome out;
};

static void set_outcome(struct sk_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_outcome(struct sk_run *run, enum sl_result_kind kind, const char *reason,
                        const char *fmt, ...)
{
    run->out.kind = kind;
    run->out.reason = reason;
    run->out.ready = false;
    run->out.keep_key_status = kind == SL_RESULT_TRANSIENT;
    run->out.report_key = false;
    run->out.requeue_after_ms = kind == SL_RESULT_WAITING ? SL_SIGNINGKEY_WAIT_MS : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->out.message, sizeof(run->out.message), fmt, ap);
    va_end(ap);
}

/* An API call failed with something other than the outcome the step handles. */
static int api_error(struct sk_run *run, const char *what, const struct sl_err *err)
{
    set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "%s: %s", what, err->msg);
    return -1;
}

static int step_read_spec(struct sk_run *run)
{
    const json_t *obj = run->obj;
    run->mode = sl_kube_json_path_str(obj, "spec.mode");
    if (run->mode == NULL || run->mode[0] == '\0')
        run->mode = "Generate";
    if (strcmp(run->mode, "Generate") != 0 && strcmp(run->mode, "Import") != 0 &&
        strcmp(run->mode, "VerifyOnly") != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.mode: Unsupported value: \"%.64s\": supported values: \"Generate\", "
                    "\"Import\", \"VerifyOnly\"",
                    run->mode);
        return -1;
    }
    run->alg_name = sl_kube_json_path_str(obj, "spec.algorithm");
    if (run->alg_name != NULL && run->alg_name[0] == '\0')
        run->alg_name = NULL;
    struct sl_err err = {0};
    if (sl_key_algorithm_parse(&run->want_alg, run->alg_name, &err) != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec", "spec.algorithm: %s", err.msg);
        return -1;
    }
    run->secret_name = sl_kube_json_path_str(obj, "spec.secretRef.name");
    if (run->secret_name != NULL && run->secret_name[0] == '\0')
        run->secret_name = NULL;
    bool verify_only = strcmp(run->mode, "VerifyOnly") == 0;
    /* v1beta1 splits the ConfigMap: publicKey is the input of a VerifyOnly key without a Secret,
     * publishKey the output of a key with one (CEL refuses the other combinations) */
    const char *field =
        run->secret_name ? "spec.publishKey.configMapRef.name" : "spec.publicKey.configMapRef.name";
    run->configmap_name = sl_kube_json_path_str(obj, field);
    if (run->configmap_name != NULL && run->configmap_name[0] == '\0')
        run->configmap_name = NULL;

    if (!verify_only && run->secret_name == NULL) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.secretRef.name: Required value: mode %s keeps the key in a Secret",
                    run->mode);
        return -1;
    }
    if (verify_only && run->secret_name == NULL && run->configmap_name == NULL) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidSpec",
                    "spec.secretRef.name or spec.publicKey.configMapRef.name: Required value: "
                    "mode VerifyOnly reads the public key from one of them");
        return -1;
    }
    run->publish = run->configmap_name != NULL && run->secret_name != NULL;
    return 0;
}

/* Loads the private key of a Secret (tries private_key_names in order). On failure records the
 * outcome and returns -1. */
static int load_private_from_secret(struct sk_run *run, const json_t *secret)
{
    json_t *data = json_object_get(secret, "data");
    const char *found_name = NULL;
    json_t *value = NULL;
    for (size_t i = 0; private_key_names[i] != NULL; i++) {
        value = json_object_get(data, private_key_names[i]);
        if (json_is_string(value) && json_string_length(value) > 0) {
            found_name = private_key_names[i];
            break;
        }
    }
    if (found_name == NULL) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                    "spec.secretRef.name: Secret \"%s\" has no private key under cosign.key, "
                    "tls.key, key.pem or private.pem",
                    run->secret_name);
        return -1;
    }
    char *pem = NULL;
    size_t pem_len = 0;
    int rc = base64_decode(&pem, &pem_len, json_string_value(value), json_string_length(value));
    if (rc != 0) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                    "spec.secretRef.name: Secret \"%s\" key %s: %s", run->secret_name, found_name,
                    rc == SL_ETOOBIG ? "value too large" : "invalid base64");
        return -1;
    }
    /* cosign keeps the password of cosign.key next to it (absent: the empty password) */
    char *password = NULL;
    size_t password_len = 0;
    json_t *pw = json_object_get(data, SL_SIGNINGKEY_PASSWORD);
    if (json_is_string(pw) && base64_decode(&password, &password_len, json_string_value(pw),
                                            json_string_length(pw)) != 0) {
        sl_secure_free(pem, pem_len + 1);
        set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                    "spec.secretRef.name: Secret \"%s\" key " SL_SIGNINGKEY_PASSWORD
                    ": invalid base64",
                    run->secret_name);
        return -1;
    }
    struct sl_err err = {0};
    rc = sl_key_load_private_pem_password(&run->key, pem, pem_len, password, password_len, &err);
    sl_secure_free(pem, pem_len + 1);
    if (password != NULL)
        sl_secure_free(password, password_len + 1);
    if (rc != 0) {
        set_outcome(run, SL_RESULT_STALLED, rc == SL_EUNSUPPORTED ? "UnsupportedKey" : "InvalidKey",
                    "spec.secretRef.name: Secret \"%s\" key %s: %s%s", run->secret_name, found_name,
                    err.msg,
                    rc == SL_EAUTH
                        ? (pw != NULL ? " (password from " SL_SIGNINGKEY_PASSWORD ")"
                                      : " (the Secret has no " SL_SIGNINGKEY_PASSWORD ")")
                        : "");
        return -1;
    }
    snprintf(run->source, sizeof(run->source), "Secret \"%s\"", run->secret_name);
    return 0;
}

/* Loads a public key PEM held (plain, not base64) in text. */
static int load_public_text(struct sk_run *run, const char *text, size_t len, const char *field,
                            const char *what)
{
    struct sl_err err = {0};
    int rc = sl_key_load_public_pem(&run->key, text, len, &err);
    if (rc != 0) {
        set_outcome(run, SL_RESULT_STALLED, rc == SL_EUNSUPPORTED ? "UnsupportedKey" : "InvalidKey",
                    "%s: %s key cosign.pub: %s", field, what, err.msg);
        return -1;
    }
    snprintf(run->source, sizeof(run->source), "%s", what);
    return 0;
}

/* The Secret for Generate mode: created (with a new key) when absent. */
static json_t *new_key_secret(struct sk_run *run, const char *priv_b64, const char *password_b64,
                              const char *pub_b64)
{
    json_t *secret = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "v1",
        "kind", "Secret", "metadata", "name", run->secret_name, "namespace", run->ns, "labels",
        SL_MANAGED_BY_LABEL, SL_MANAGED_BY_VALUE, "annotations", SL_SIGNINGKEY_ANNOTATION,
        run->name, "type", "Opaque", "data", SL_SIGNINGKEY_PRIVATE_KEY, priv_b64,
        SL_SIGNINGKEY_PASSWORD, password_b64, SL_SIGNINGKEY_PUBLIC_KEY, pub_b64);
    if (secret == NULL)
        abort(); /* json_pack fails only on allocation failure or a format bug */
    return secret;
}

/* Generates a key and creates the Secret. Returns 0 (key in run->key), SL_EEXISTS (someone
 * created the Secret meanwhile: the caller re-reads it) or -1 with the outcome recorded. */
static int create_key_secret(struct sk_run *run)
{
    struct sl_err err = {0};
    struct sl_key *key = NULL;
    char *priv = NULL, *pub = NULL, *priv_b64 = NULL, *pub_b64 = NULL, *password = NULL,
         *password_b64 = NULL;
    json_t *secret = NULL, *created = NULL;
    size_t priv_len = 0;
    int rc = sl_key_generate(&key, run->want_alg, &err);
    if (rc == 0)
        rc = sl_cosignkey_random_password(&password, &err);
    if (rc == 0)
        rc = sl_key_private_pem_encrypted(&priv, &priv_len, key, password, strlen(password), &err);
    if (rc == 0)
        rc = sl_key_public_pem(&pub, key, &err);
    if (rc != 0) {
        set_outcome(run, SL_RESULT_TRANSIENT, "KeyGenerationFailed", "generating %s key: %s",
                    sl_key_algorithm_name(run->want_alg), err.msg);
        rc = -1;
        goto done;
    }
    priv_b64 = sl_base64_encode(priv, priv_len);
    pub_b64 = sl_base64_encode(pub, strlen(pub));
    password_b64 = sl_base64_encode(password, strlen(password));
    secret = new_key_secret(run, priv_b64, password_b64, pub_b64);
    rc = run->rt->kube.create(run->rt->kube.ctx, &created, &SL_RES_SECRET, run->ns, secret, &err);
    if (rc == SL_EEXISTS)
        goto done;
    if (rc != 0) {
        char what[320];
        snprintf(what, sizeof(what), "creating Secret \"%s\"", run->secret_name);
        rc = api_error(run, what, &err);
        goto done;
    }
    run->key = key;
    key = NULL;
    run->generated = true;
    snprintf(run->source, sizeof(run->source), "Secret \"%s\"", run->secret_name);
done:
    sl_kube_secret_decref(created);
    sl_kube_secret_decref(secret);
    sl_secure_free_str(priv_b64);
    sl_secure_free_str(priv);
    sl_secure_free_str(password_b64);
    sl_secure_free_str(password);
    free(pub_b64);
    free(pub);
    sl_key_free(key);
    return rc;
}

static int get_secret(struct sk_run *run, json_t **out, struct sl_err *err)
{
    return sl_kube_secret_get(out, &run->rt->kube, run->ns, run->secret_name, "spec.secretRef.name",
                              err);
}

/* The outcome of a failed get_secret: -1. */
static int secret_error(struct sk_run *run, int rc, const struct sl_err *err)
{
    if (rc == SL_ENOTFOUND)
        set_outcome(run, SL_RESULT_WAITING, "SecretNotFound", "%s", err->msg);
    else
        set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "%s", err->msg);
    return -1;
}

static int step_obtain_key_generate(struct sk_run *run)
{
    struct sl_err err = {0};
    json_t *secret = NULL;
    int rc = get_secret(run, &secret, &err);
    if (rc == SL_ENOTFOUND) {
        rc = create_key_secret(run);
        if (rc != SL_EEXISTS)
            return rc;
        /* lost a race with another writer: use what is there now, never replace it */
        rc = get_secret(run, &secret, &err);
    }
    if (rc != 0) { /* also gone after the create said it exists: retried */
        set_outcome(run, SL_RESULT_TRANSIENT, "APIError", "%s", err.msg);
        return -1;
    }
    rc = load_private_from_secret(run, secret);
    if (rc != 0) {
        /* say plainly that sealift will not fix this by generating over it */
        size_t n = strlen(run->out.message);
        snprintf(run->out.message + n, sizeof(run->out.message) - n,
                 " (sealift never replaces an existing Secret; delete it or point "
                 "spec.secretRef.name elsewhere)");
    }
    sl_kube_secret_decref(secret);
    return rc;
}

static int step_obtain_key_import(struct sk_run *run)
{
    struct sl_err err = {0};
    json_t *secret = NULL;
    int rc = get_secret(run, &secret, &err);
    if (rc != 0)
        return secret_error(run, rc, &err);
    rc = load_private_from_secret(run, secret);
    sl_kube_secret_decref(secret);
    return rc;
}

static int step_obtain_key_verify_only(struct sk_run *run)
{
    struct sl_err err = {0};
    json_t *obj = NULL;
    char what[320];
    int rc;
    if (run->secret_name != NULL) {
        rc = get_secret(run, &obj, &err);
        if (rc != 0)
            return secret_error(run, rc, &err);
        snprintf(what, sizeof(what), "Secret \"%s\"", run->secret_name);
        json_t *value = sl_kube_json_path(obj, "data");
        value = json_object_get(value, SL_SIGNINGKEY_PUBLIC_KEY);
        char *pem = NULL;
        size_t pem_len = 0;
        if (!json_is_string(value)) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                        "spec.secretRef.name: %s has no public key under cosign.pub", what);
            rc = -1;
        } else if (base64_decode(&pem, &pem_len, json_string_value(value),
                                 json_string_length(value)) != 0) {
            set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                        "spec.secretRef.name: %s key cosign.pub: invalid base64", what);
            rc = -1;
        } else {
            rc = load_public_text(run, pem, pem_len, "spec.secretRef.name", what);
            sl_secure_free(pem, pem_len + 1);
        }
        sl_kube_secret_decref(obj);
        return rc;
    }
    rc = run->rt->kube.get(run->rt->kube.ctx, &obj, &SL_RES_CONFIGMAP, run->ns, run->configmap_name,
                           &err);
    if (rc == SL_ENOTFOUND) {
        set_outcome(run, SL_RESULT_WAITING, "ConfigMapNotFound",
                    "spec.publicKey.configMapRef.name: ConfigMap \"%s\" not found",
                    run->configmap_name);
        return -1;
    }
    snprintf(what, sizeof(what), "ConfigMap \"%s\"", run->configmap_name);
    if (rc != 0) {
        char doing[340];
        snprintf(doing, sizeof(doing), "reading %s", what);
        return api_error(run, doing, &err);
    }
    json_t *value = json_object_get(json_object_get(obj, "data"), SL_SIGNINGKEY_PUBLIC_KEY);
    if (!json_is_string(value)) {
        set_outcome(run, SL_RESULT_STALLED, "InvalidKey",
                    "spec.publicKey.configMapRef.name: %s has no public key under cosign.pub",
                    what);
        rc = -1;
    } else {
        rc = load_public_text(run, json_string_value(value), json_string_length(value),
                              "spec.publicKey.configMapRef.name", what);
    }
    json_decref(obj);
    return rc;
}

static int step_check_algorithm(struct sk_run *run)
{
    enum sl_key_algorithm have = sl_key_get_algorithm(run->key);
    if (run->alg_name != NULL && have != run->want_alg) {
        set_outcome(run, SL_RESULT_STALLED, "AlgorithmMismatch",
                    "spec.algorithm: %s does not match the %s key in %s; sealift never "
                    "replaces an existing key: set spec.algorithm to %s or use another Secret",
                    sl_key_algorithm_name(run->want_alg), sl_key_algorithm_name(have), run->source,
                    sl_key_algorithm_name(have));
        return -1;
    }
    struct sl_err err = {0};
    if (sl_key_fingerprint(run->fingerprint, run->key, &err) != 0 ||
        sl_key_public_pem(&run->public_pem, run->key, &err) != 0) {
        set_outcome(run, SL_RESULT_TRANSIENT, "InternalError", "encoding public key: %s", err.msg);
        return -1;
    }
    return 0;
}

static json_t *owner_reference(const json_t *obj)
{
    const char *uid = sl_kube_obj_uid(obj);
    json_t *ref = json_pack("{s:s, s:s, s:s, s:b}", "apiVersion", "sealift.dev/v1beta1", "kind",
                            "SigningKey", "name", sl_kube_obj_name(obj), "controller", 1);
    if (ref == NULL)
        abort();
    if (uid != NULL)
        json_object_set_new(ref, "uid", json_string(uid));
    return ref;
}

/* Was cm created by sealift for this SigningKey: the managed-by label and an owner reference to a
 * SigningKey of this name (any version: earlier releases wrote v1alpha1)? */
static bool configmap_published_by(const json_t *cm, const char *signingkey)
{
    const json_t *meta = json_object_get(cm, "metadata");
    const char *managed =
        json_string_value(json_object_get(json_object_get(meta, "labels"), SL_MANAGED_BY_LABEL));
    if (!managed || strcmp(managed, SL_MANAGED_BY_VALUE) != 0)
        return false;
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
    {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (kind && name && strcmp(kind, "SigningKey") == 0 && strcmp(name, signingkey) == 0)
            return true;
    }
    return false;
}

/* Publishes the public key in the ConfigMap spec.publishKey.configMapRef.name (key cosign.pub):
 * creates it, or updates it only when the key differs and the ConfigMap is one sealift created
 * for this SigningKey; a ConfigMap someone else made is never written (Ready=False
 * ConfigMapNotOwned, the key itself is reported). */
static int step_publish(struct sk_run *run)
{
    if (!run->publish)
        return 0;
    struct sl_err err = {0};
    json_t *cm = NULL, *written = NULL;
    char what[340];
    int rc = run->rt->kube.get(run->rt->kube.ctx, &cm, &SL_RES_CONFIGMAP, run->ns,
                               run->configmap_name, &err);
    if (rc == SL_ENOTFOUND) {
        json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:[o]}, s:{s:s}}", "apiVersion",
                                 "v1", "kind", "ConfigMap", "metadata", "name", run->configmap_name,
                                 "namespace", run->ns, "labels", SL_MANAGED_BY_LABEL,
                                 SL_MANAGED_BY_VALUE, "ownerReferences", owner_reference(run->obj),
                                 "data", SL_SIGNINGKEY_PUBLIC_KEY, run->public_pem);
        if (body == NULL)
            abort();
        rc = run->rt->kube.create(run->rt->kube.ctx, &written, &SL_RES_CONFIGMAP, run->ns, body,
                                  &err);
        json_decref(body);
        snprintf(what, sizeof(what), "creating ConfigMap \"%s\"", run->configmap_name);
        if (rc == SL_EEXISTS) {
            /* created meanwhile: look again on the next reconcile */
            set_outcome(run, SL_RESULT_REQUEUE, "Publishing", "%s: created concurrently", what);
            rc = -1;
        } else if (rc != 0) {
            rc = api_error(run, what, &err);
        } else {
            run->published = true;
            run->publish_done = true;
        }
        json_decref(written);
        return rc;
    }
    if (rc != 0) {
        snprintf(what, sizeof(what), "reading ConfigMap \"%s\"", run->configmap_name);
        return api_error(run, what, &err);
    }
    if (!configmap_published_by(cm, run->name)) {
        json_decref(cm);
        set_outcome(
            run, SL_RESULT_STALLED, "ConfigMapNotOwned",
            "spec.publishKey.configMapRef.name: ConfigMap \"%s\" exists and was not created "
            "by sealift for this SigningKey (label %s=%s and an owner reference); it is "
            "left unchanged: publish to another name, or delete it to let sealift create it",
            run->configmap_name, SL_MANAGED_BY_LABEL, SL_MANAGED_BY_VALUE);
        run->out.report_key = true;
        return -1;
    }
    const char *current =
        json_string_value(json_object_get(json_object_get(cm, "data"), SL_SIGNINGKEY_PUBLIC_KEY));
    if (current != NULL && strcmp(current, run->public_pem) == 0) {
        json_decref(cm);
        run->publish_done = true;
        return 0;
    }
    json_t *data = json_object_get(cm, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(cm, "data", data);
    }
    json_object_set_new(data, SL_SIGNINGKEY_PUBLIC_KEY, json_string(run->public_pem));
    rc = run->rt->kube.update(run->rt->kube.ctx, &written, &SL_RES_CONFIGMAP, run->ns, cm, &err);
    json_decref(cm);
    json_decref(written);
    if (rc != 0) {
        snprintf(what, sizeof(what), "updating ConfigMap \"%s\"", run->configmap_name);
        if (rc == SL_ECONFLICT) {
            set_outcome(run, SL_RESULT_REQUEUE, "Publishing", "%s: %s", what, err.msg);
            return -1;
        }
        return api_error(run, what, &err);
    }
    run->published = true;
    run->publish_done = true;
    return 0;
}

/* A SigningKey announces Ready as KeyReady, and a failure under its reason. */
static bool signingkey_event(void *ctx, const struct sl_outcome *o, const char **type,
                             const char **reason)
{
    (void)ctx;
    bool ready = o->ready && strcmp(o->ready, "True") == 0;
    *type = ready ? "Normal" : "Warning";
    *reason = ready ? "KeyReady" : o->reason;
    return true;
}

/* Writes status and events from the outcome: the one place conditions are set. */
static int finish(struct sk_run *run, struct sl_reconcile_result *result, struct sl_err *err)
{
    const json_t *old_status = json_object_get(run->obj, "status");
    long long generation = sl_kube_obj_generation(run->obj);

    if (run->out.kind == SL_RESULT_REQUEUE) {
        /* a write race (409) is bookkeeping, not news: leave status alone and look again */
        sl_log_debug(&run->req->log, "requeue: %s", run->out.message);
        result->kind = SL_RESULT_REQUEUE;
        result->requeue_after_ms = 0;
        return 0;
    }

    json_t *status = sl_outcome_status_new(run->obj, generation);
    if (run->out.ready || (run->out.report_key && run->public_pem)) {
        json_object_set_new(status, "fingerprint", json_string(run->fingerprint));
        json_object_set_new(status, "publicKey", json_string(run->public_pem));
        json_object_set_new(status, "algorithm",
                            json_string(sl_key_algorithm_name(sl_key_get_algorithm(run->key))));
    } else if (run->out.keep_key_status && json_is_object(old_status)) {
        /* an API hiccup says nothing about the key: keep what status already reports */
        static const char *const fields[] = {"fingerprint", "publicKey", "algorithm"};
        for (size_t i = 0; i < 3; i++) {
            json_t *v = json_object_get(old_status, fields[i]);
            if (v != NULL)
                json_object_set(status, fields[i], v);
        }
    }
    if (run->out.ready && run->publish_done)
        json_object_set_new(status, "publishedKey",
                            json_pack("{s:s, s:s}", "configMapName", run->configmap_name,
                                      "fingerprint", run->fingerprint));
    const char *cond_status = run->out.ready ? "True" : "False";
    struct sl_outcome outcome = {run->out.kind, cond_status, run->out.reason, run->out.message,
                                 false};
    int rc =
        sl_outcome_write(run->rt, &SL_RES_SIGNINGKEY, run->obj, status, &outcome, generation, err);
    json_decref(status);
    if (rc == SL_ENOTFOUND) {
        /* deleted while we worked: nothing left to report on */
        result->kind = SL_RESULT_DONE;
        result->requeue_after_ms = 0;
        return 0;
    }
    if (rc != 0)
        return rc;

    /* events on transitions only, so a steady state is silent */
    if (run->generated) {
        char msg[512];
        snprintf(msg, sizeof(msg), "generated %s key %s in Secret \"%s\"",
                 sl_key_algorithm_name(sl_key_get_algorithm(run->key)), run->fingerprint,
                 run->secret_name);
        sl_runtime_event(run->rt, run->obj, "Normal", "KeyGenerated", msg);
        sl_log_info(&run->req->log, "%s", msg);
    }
    if (run->published) {
        char msg[512];
        snprintf(msg, sizeof(msg), "published public key %s in ConfigMap \"%s\"", run->fingerprint,
                 run->configmap_name);
        sl_runtime_event(run->rt, run->obj, "Normal", "PublicKeyPublished", msg);
        sl_log_info(&run->req->log, "%s", msg);
    }
    sl_outcome_announce(run->rt, &run->req->log, run->obj, old_status, &outcome, signingkey_event,
                        NULL);
    result->kind = run->out.kind;
    result->requeue_after_ms = run->out.requeue_after_ms;
    return 0;
}

static int reconcile(void *self, struct sl_runtime *rt, const struct sl_reconcile_request *req,
                     struct sl_reconcile_result *result, struct sl_err *err)
{
    struct sk_reconciler *r = self;
    result->kind = SL_RESULT_DONE;
    result->requeue_after_ms = 0;
    if (req->obj == NULL) {
        /* deleted: forget its references; its Secret is kept (sealift never deletes keys) */
        index_update(r, req->ns, req->name, NULL, NULL);
        return 0;
    }
    if (sl_kube_json_path(req->obj, "metadata.deletionTimestamp") != NULL)
        return 0; /* going away; nothing to converge (and no finalizer of ours to remove) */

    struct sk_run run = {
        .r = r,
        .rt = rt,
        .req = req,
        .obj = req->obj,
        .ns = req->ns,
        .name = req->name,
    };
    int rc = step_read_spec(&run);
    if (rc == 0) {
        /* remember references before anything can fail, so a missing Secret that appears
         * later enqueues this SigningKey */
        index_update(r, run.ns, run.name, run.secret_name, run.configmap_name);
        if (strcmp(run.mode, "Generate") == 0)
            rc = step_obtain_key_generate(&run);
        else if (strcmp(run.mode, "Import") == 0)
            rc = step_obtain_key_import(&run);
        else
            rc = step_obtain_key_verify_only(&run);
    }
    if (rc == 0)
        rc = step_check_algorithm(&run);
    if (rc == 0)
        rc = step_publish(&run);
    if (rc == 0) {
        run.out.kind = SL_RESULT_DONE;
        run.out.requeue_after_ms = SL_SIGNINGKEY_RECHECK_MS;
        run.out.ready = true;
        run.out.reason = "KeyReady";
        snprintf(run.out.message, sizeof(run.out.message), "%s key %s from %s ready",
                 sl_key_algorithm_name(sl_key_get_algorithm(run.key)), run.fingerprint, run.source);
    }
    rc = finish(&run, result, err);
    sl_key_free(run.key);
    free(run.public_pem);
    return rc;
}

static void reconciler_free(void *self)
{
    struct sk_reconciler *r = self;
    if (r == NULL)
        return;
    sl_refindex_free(r->refs);
    free(r);
}

static const struct sl_kube_resource *const secondary_resources[] = {&SL_RES_SECRET,
                                                                     &SL_RES_CONFIGMAP, NULL};

int sl_signingkey_reconciler_new(struct sl_reconciler **out, struct sl_err *err)
{
    (void)err;
    struct sk_reconciler *r = sl_xcalloc(1, sizeof(*r));
    r->refs = sl_refindex_new();
    r->base = (struct sl_reconciler){
        .kind = "SigningKey",
        .resource = &SL_RES_SIGNINGKEY,
        .self = r,
        .reconcile = reconcile,
        .secondary = secondary_resources,
        .map_secondary = map_secondary,
        .free = reconciler_free,
    };
    *out = &r->base;
    return 0;
}
