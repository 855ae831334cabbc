/* Unit tests of the SigningKey reconciler against the in-memory fake API server.
 * argv[1] is the directory of tests/data/keys. */
#include "check.h"
#include "fake_kube.h"
#include "recon_fixture.h"
#include "sign/keys.h"
#include "signingkey/reconciler.h"
#include "util/mem.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data/keys";

/* Fingerprints from tests/data/keys/README.md (computed with the openssl CLI). */
#define FP_P256    "sha256:bbb84394f85b56bff7c6bf119cf852a68cc7214e0290144a7e85ab88e3f338cd"
#define FP_ED25519 "sha256:27a232a4474df6d7f9a4917b63da7d8dc3637947d37f28bbe885c6b89c17f9cf"
/* tests/data/keys/cosign-generated.pub (the real cosign wrote the pair) */
#define FP_COSIGN "sha256:8da3c847443f926cce61f98183adb50c2803ddb8540fd014014f17077318192f"

#define NS "vendor"

/* ---- fixtures and helpers ---- */

struct env {
    struct sl_fake_kube *fk;
    struct sl_runtime rt;
    struct sl_reconciler *r;
    json_t *events;   /* [{type, reason, message}] */
    json_t *enqueued; /* ["ns/name"] from map_secondary */
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->fk = sl_fake_kube_new();
    sl_fake_kube_ops(e->fk, &e->rt.kube);
    e->rt.controller_namespace = "sealift-system";
    e->events = json_array();
    e->rt.record_event = sl_test_event_log;
    e->rt.event_ctx = e->events;
    e->enqueued = json_array();
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_signingkey_reconciler_new(&e->r, &err), 0);
}

static void env_free(struct env *e)
{
    sl_reconciler_free(e->r);
    sl_fake_kube_free(e->fk);
    json_decref(e->events);
    json_decref(e->enqueued);
}

static char *read_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        exit(1);
    }
    char *buf = sl_xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static char *b64(const char *s, size_t len)
{
    char *out = sl_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    return out;
}

static char *unb64(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    unsigned char *out = sl_xmalloc(len + 1);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0) {
        free(out);
        return NULL;
    }
    while (n > 0 && len > 0 && s[len - 1] == '=') { /* DecodeBlock counts padding as zeros */
        n--;
        len--;
    }
    out[n] = '\0';
    return (char *)out;
}

static void put_signingkey(struct env *e, const char *name, json_t *spec)
{
    json_t *obj =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "sealift.dev/v1beta1", "kind",
                  "SigningKey", "metadata", "name", name, "namespace", NS, "spec", spec);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SIGNINGKEY, obj), 0);
    json_decref(obj);
}

/* A Secret whose data[key] holds the fixture file (base64), plus extra (may be NULL). */
static void put_secret_with_fixture(struct env *e, const char *name, const char *key,
                                    const char *fixture)
{
    size_t len = 0;
    char *pem = read_fixture(fixture, &len);
    char *enc = b64(pem, len);
    json_t *obj = json_pack("{s:{s:s, s:s}, s:s, s:{s:s}}", "metadata", "name", name, "namespace",
                            NS, "type", "Opaque", "data", key, enc);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, obj), 0);
    json_decref(obj);
    free(enc);
    free(pem);
}

static int reconcile(struct env *e, const char *name, struct sl_reconcile_result *res)
{
    return sl_test_reconcile(e->r, &e->rt, e->fk, &SL_RES_SIGNINGKEY, "SigningKey", NS, name, res);
}

static json_t *status_of(struct env *e, const char *name)
{
    return json_object_get(sl_fake_kube_find(e->fk, &SL_RES_SIGNINGKEY, NS, name), "status");
}

static const char *ready_field(struct env *e, const char *name, const char *field)
{
    return sl_test_condition_field(status_of(e, name), "Ready", field);
}

static bool has_event(struct env *e, const char *type, const char *reason)
{
    return sl_test_has_event(e->events, type, reason);
}

static char *dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : sl_xstrdup("null");
}

/* Nothing private anywhere the user can see: status, events. No PEM armour of a private key
 * and no piece of the Secret's base64; messages may still name a format such as "ENCRYPTED
 * SIGSTORE PRIVATE KEY" (tests where no format is named check for "PRIVATE" outright). */
static void check_no_private_material(struct env *e, const char *name, const char *secret_b64)
{
    char *st = dump(status_of(e, name));
    char *ev = dump(e->events);
    CHECK(strstr(st, "PRIVATE KEY-----") == NULL);
    CHECK(strstr(ev, "PRIVATE KEY-----") == NULL);
    if (secret_b64 && strlen(secret_b64) > 40) {
        char probe[41];
        memcpy(probe, secret_b64 + strlen(secret_b64) / 2, 40);
        probe[40] = '\0';
        CHECK(strstr(st, probe) == NULL);
        CHECK(strstr(ev, probe) == NULL);
    }
    free(st);
    free(ev);
}

static void collect(void *qctx, const char *ns, const char *name)
{
    struct env *e = qctx;
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    json_array_append_new(e->enqueued, json_string(key));
}

static bool enqueued(struct env *e, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(e->enqueued, i, v)
    {
        if (strcmp(json_string_value(v), key) == 0)
            return true;
    }
    return false;
}

/* ---- tests ---- */

static void test_generate_creates_secret_configmap_status(void)
{
    struct env e;
    env_init(&e);
    put_signingkey(&e, "release",
                   json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}}", "mode", "Generate", "algorithm",
                             "ecdsa-p256", "secretRef", "name", "release-key", "publishKey",
                             "configMapRef", "name", "release-pub"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(res.requeue_after_ms, SL_SIGNINGKEY_RECHECK_MS);

    json_t *secret = sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key");
    CHECK(secret != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(secret, "type")), "Opaque");
    CHECK_STR_EQ(json_string_value(json_object_get(sl_kube_json_path(secret, "metadata.labels"),
                                                   SL_MANAGED_BY_LABEL)),
                 "sealift");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     sl_kube_json_path(secret, "metadata.annotations"), SL_SIGNINGKEY_ANNOTATION)),
                 "release");
    CHECK(sl_kube_json_path(secret, "metadata.ownerReferences") == NULL);
    const char *key_b64 = json_string_value(
        json_object_get(json_object_get(secret, "data"), SL_SIGNINGKEY_PRIVATE_KEY));
    char *priv = unb64(key_b64);
    char *pub = unb64(json_string_value(
        json_object_get(json_object_get(secret, "data"), SL_SIGNINGKEY_PUBLIC_KEY)));
    /* laid out as `cosign generate-key-pair k8s://ns/name` lays it out: cosign's encrypted
     * key, its random password and the public key */
    const char *password_b64 =
        json_string_value(json_object_get(json_object_get(secret, "data"), SL_SIGNINGKEY_PASSWORD));
    char *password = unb64(password_b64);
    CHECK(priv && strncmp(priv, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", 46) == 0);
    CHECK(pub && strncmp(pub, "-----BEGIN PUBLIC KEY-----", 26) == 0);
    CHECK(password && strlen(password) == 32);

    /* status matches the key in the Secret, which opens with that password only */
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    char fp[SL_KEY_FINGERPRINT_LEN] = "";
    if (priv && password) {
        CHECK_INT_EQ(sl_key_load_private_pem(&k, priv, strlen(priv), &err), SL_EAUTH);
        CHECK_INT_EQ(sl_key_load_private_pem_password(&k, priv, strlen(priv), password,
                                                      strlen(password), &err),
                     0);
        if (k)
            CHECK_INT_EQ(sl_key_fingerprint(fp, k, &err), 0);
    }
    json_t *st = status_of(&e, "release");
    CHECK_STR_EQ(json_string_value(json_object_get(st, "fingerprint")), fp);
    CHECK_STR_EQ(json_string_value(json_object_get(st, "publicKey")), pub);
    CHECK_STR_EQ(json_string_value(json_object_get(st, "algorithm")), "ecdsa-p256");
    CHECK_INT_EQ(json_integer_value(json_object_get(st, "observedGeneration")), 1);
    CHECK_STR_EQ(ready_field(&e, "release", "status"), "True");
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "KeyReady");
    CHECK_CONTAINS(ready_field(&e, "release", "message"), "ecdsa-p256 key sha256:");
    CHECK_CONTAINS(ready_field(&e, "release", "message"), fp);

    /* the published ConfigMap */
    json_t *cm = sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub");
    CHECK(cm != NULL);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(cm, "data"), SL_SIGNINGKEY_PUBLIC_KEY)),
        pub);
    CHECK_STR_EQ(json_string_value(json_object_get(sl_kube_json_path(cm, "metadata.labels"),
                                                   SL_MANAGED_BY_LABEL)),
                 "sealift");
    json_t *owner = json_array_get(sl_kube_json_path(cm, "metadata.ownerReferences"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(owner, "kind")), "SigningKey");
    CHECK_STR_EQ(json_string_value(json_object_get(owner, "name")), "release");
    CHECK_STR_EQ(json_string_value(json_object_get(owner, "uid")),
                 sl_kube_obj_uid(sl_fake_kube_find(e.fk, &SL_RES_SIGNINGKEY, NS, "release")));

    CHECK(has_event(&e, "Normal", "KeyGenerated"));
    CHECK(has_event(&e, "Normal", "PublicKeyPublished"));
    CHECK(has_event(&e, "Normal", "KeyReady"));
    check_no_private_material(&e, "release", key_b64);
    char *st_json = dump(status_of(&e, "release"));
    char *ev_json = dump(e.events);
    CHECK(strstr(st_json, "PRIVATE") == NULL);
    if (password) {
        CHECK(strstr(st_json, password) == NULL);
        CHECK(strstr(ev_json, password) == NULL);
    }
    free(st_json);
    free(ev_json);

    /* status says where the key is published */
    CHECK_STR_EQ(json_string_value(sl_kube_json_path(st, "publishedKey.configMapName")),
                 "release-pub");
    CHECK_STR_EQ(json_string_value(sl_kube_json_path(st, "publishedKey.fingerprint")), fp);

    /* steady state: a second reconcile writes nothing and says nothing */
    int writes = sl_fake_kube_writes(e.fk);
    size_t nevents = json_array_size(e.events);
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);
    CHECK_INT_EQ(json_array_size(e.events), nevents);

    /* the ConfigMap is repaired when someone changes it, other keys kept */
    json_t *cm2 = json_deep_copy(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub"));
    json_object_set_new(json_object_get(cm2, "data"), SL_SIGNINGKEY_PUBLIC_KEY,
                        json_string("tampered"));
    json_object_set_new(json_object_get(cm2, "data"), "README", json_string("hello"));
    sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm2);
    json_decref(cm2);
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    cm = sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub");
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(cm, "data"), SL_SIGNINGKEY_PUBLIC_KEY)),
        pub);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(cm, "data"), "README")),
                 "hello");

    /* deleting the SigningKey keeps the Secret */
    sl_fake_kube_remove(e.fk, &SL_RES_SIGNINGKEY, NS, "release");
    writes = sl_fake_kube_writes(e.fk);
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key") != NULL);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);

    sl_key_free(k);
    sl_secure_free_str(priv);
    sl_secure_free_str(password);
    free(pub);
    env_free(&e);
}

/* A ConfigMap sealift did not create is never written: it stays as it was, Ready says why, and
 * status still reports the key (its fingerprint) but publishes no publishedKey. */
static void test_publish_never_overwrites_a_foreign_configmap(void)
{
    struct env e;
    env_init(&e);
    json_t *cm = json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", "release-pub",
                           "namespace", NS, "labels", "team", "web", "data", "cosign.pub",
                           "the web team's own key");
    sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm);
    json_decref(cm);
    char *before = dump(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub"));
    put_signingkey(&e, "release",
                   json_pack("{s:s, s:{s:s}, s:{s:{s:s}}}", "mode", "Generate", "secretRef", "name",
                             "release-key", "publishKey", "configMapRef", "name", "release-pub"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    char *after = dump(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub"));
    CHECK_STR_EQ(after, before);
    CHECK_STR_EQ(ready_field(&e, "release", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "ConfigMapNotOwned");
    CHECK_CONTAINS(ready_field(&e, "release", "message"),
                   "spec.publishKey.configMapRef.name: ConfigMap \"release-pub\" exists and was "
                   "not created by sealift");
    json_t *st = status_of(&e, "release");
    CHECK(json_string_value(json_object_get(st, "fingerprint")) != NULL);
    CHECK(json_object_get(st, "publishedKey") == NULL);
    CHECK(!has_event(&e, "Normal", "PublicKeyPublished"));
    free(before);
    free(after);

    /* the same with sealift's label but another SigningKey's owner reference */
    cm = json_deep_copy(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub"));
    json_t *meta = json_object_get(cm, "metadata");
    json_object_set_new(json_object_get(meta, "labels"), "app.kubernetes.io/managed-by",
                        json_string("sealift"));
    json_object_set_new(meta, "ownerReferences",
                        json_pack("[{s:s, s:s, s:s}]", "apiVersion", "sealift.dev/v1beta1", "kind",
                                  "SigningKey", "name", "other"));
    sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm);
    json_decref(cm);
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "ConfigMapNotOwned");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     sl_kube_json_path(
                         sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub"), "data"),
                     "cosign.pub")),
                 "the web team's own key");

    /* once it is gone, sealift creates its own */
    sl_fake_kube_remove(e.fk, &SL_RES_CONFIGMAP, NS, "release-pub");
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "KeyReady");
    CHECK_STR_EQ(json_string_value(
                     sl_kube_json_path(status_of(&e, "release"), "publishedKey.configMapName")),
                 "release-pub");
    env_free(&e);
}

static void test_generate_algorithms(void)
{
    const char *algs[] = {"ecdsa-p384", "ed25519"};
    for (int i = 0; i < 2; i++) {
        struct env e;
        env_init(&e);
        put_signingkey(&e, "k",
                       json_pack("{s:s, s:s, s:{s:s}}", "mode", "Generate", "algorithm", algs[i],
                                 "secretRef", "name", "k-key"));
        struct sl_reconcile_result res;
        CHECK_INT_EQ(reconcile(&e, "k", &res), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "k"), "algorithm")), algs[i]);
        CHECK_STR_EQ(ready_field(&e, "k", "status"), "True");
        /* no ConfigMap asked for, none made */
        CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_CONFIGMAP, NS), 0);
        env_free(&e);
    }
}

static void test_generate_keeps_existing_secret(void)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "release-key", "cosign.key", "ecdsa-p256.key");
    char *before = dump(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key"));
    put_signingkey(
        &e, "release",
        json_pack("{s:s, s:{s:s}}", "mode", "Generate", "secretRef", "name", "release-key"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "release"), "fingerprint")),
                 FP_P256);
    CHECK_STR_EQ(ready_field(&e, "release", "status"), "True");
    char *after = dump(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key"));
    CHECK_STR_EQ(after, before);
    CHECK(!has_event(&e, "Normal", "KeyGenerated"));
    /* only the status was written */
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), 1);
    free(before);
    free(after);
    env_free(&e);
}

static void test_generate_algorithm_mismatch(void)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "release-key", "cosign.key", "ed25519.key");
    char *before = dump(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key"));
    put_signingkey(&e, "release",
                   json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}}", "mode", "Generate", "algorithm",
                             "ecdsa-p256", "secretRef", "name", "release-key", "publishKey",
                             "configMapRef", "name", "release-pub"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e, "release", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "AlgorithmMismatch");
    CHECK_CONTAINS(ready_field(&e, "release", "message"), "spec.algorithm: ecdsa-p256");
    CHECK_CONTAINS(ready_field(&e, "release", "message"), "ed25519");
    char *after = dump(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key"));
    CHECK_STR_EQ(after, before);
    /* a key that is not ready is not published */
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_CONFIGMAP, NS), 0);
    CHECK(json_object_get(status_of(&e, "release"), "fingerprint") == NULL);
    CHECK(has_event(&e, "Warning", "AlgorithmMismatch"));
    free(before);
    free(after);
    env_free(&e);
}

static void test_generate_secret_without_key(void)
{
    struct env e;
    env_init(&e);
    json_t *s = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "release-key", "namespace",
                          NS, "data", "other", "aGVsbG8=");
    sl_fake_kube_put(e.fk, &SL_RES_SECRET, s);
    json_decref(s);
    put_signingkey(
        &e, "release",
        json_pack("{s:s, s:{s:s}}", "mode", "Generate", "secretRef", "name", "release-key"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "InvalidKey");
    CHECK_CONTAINS(ready_field(&e, "release", "message"), "never replaces an existing Secret");
    json_t *secret = sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "release-key");
    CHECK(json_object_get(json_object_get(secret, "data"), "cosign.key") == NULL);
    env_free(&e);
}

static void test_generate_create_race(void)
{
    struct env e;
    env_init(&e);
    put_signingkey(
        &e, "release",
        json_pack("{s:s, s:{s:s}}", "mode", "Generate", "secretRef", "name", "release-key"));
    /* the create answers AlreadyExists but the re-read finds nothing (deleted meanwhile):
     * retried with backoff, nothing half-written */
    sl_fake_kube_fail_next_verb(e.fk, "create", SL_EEXISTS);
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_TRANSIENT);
    CHECK_STR_EQ(ready_field(&e, "release", "reason"), "APIError");
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_SECRET, NS), 0);
    /* next time it works */
    CHECK_INT_EQ(reconcile(&e, "release", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(ready_field(&e, "release", "status"), "True");
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_SECRET, NS), 1);
    env_free(&e);
}

static void test_import_missing_then_present(void)
{
    struct env e;
    env_init(&e);
    put_signingkey(&e, "vendor-build",
                   json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "build-key"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "vendor-build", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    CHECK_INT_EQ(res.requeue_after_ms, SL_SIGNINGKEY_WAIT_MS);
    CHECK_STR_EQ(ready_field(&e, "vendor-build", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "vendor-build", "reason"), "SecretNotFound");
    CHECK_STR_EQ(ready_field(&e, "vendor-build", "message"),
                 "spec.secretRef.name: Secret \"build-key\" not found");
    CHECK(has_event(&e, "Warning", "SecretNotFound"));
    /* Import never creates the Secret */
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_SECRET, NS), 0);

    /* the Secret appears: the secondary watch maps it to this SigningKey */
    put_secret_with_fixture(&e, "build-key", "tls.key", "ecdsa-p256-traditional.key");
    e.r->map_secondary(e.r->self, &SL_RES_SECRET,
                       sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "build-key"), collect, &e);
    CHECK(enqueued(&e, NS "/vendor-build"));
    CHECK_INT_EQ(reconcile(&e, "vendor-build", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(res.requeue_after_ms, SL_SIGNINGKEY_RECHECK_MS);
    CHECK_STR_EQ(ready_field(&e, "vendor-build", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "vendor-build"), "fingerprint")),
                 FP_P256);
    CHECK(has_event(&e, "Normal", "KeyReady"));
    check_no_private_material(&e, "vendor-build", NULL);

    /* Secrets of other names or namespaces map to nothing */
    json_array_clear(e.enqueued);
    json_t *other =
        json_pack("{s:{s:s, s:s}}", "metadata", "name", "build-key", "namespace", "elsewhere");
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, other, collect, &e);
    json_decref(other);
    other = json_pack("{s:{s:s, s:s}}", "metadata", "name", "unrelated", "namespace", NS);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, other, collect, &e);
    e.r->map_secondary(e.r->self, &SL_RES_CONFIGMAP, other, collect, &e);
    json_decref(other);
    CHECK_INT_EQ(json_array_size(e.enqueued), 0);

    /* once the SigningKey is deleted its references are forgotten */
    sl_fake_kube_remove(e.fk, &SL_RES_SIGNINGKEY, NS, "vendor-build");
    CHECK_INT_EQ(reconcile(&e, "vendor-build", &res), 0);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET,
                       sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "build-key"), collect, &e);
    CHECK_INT_EQ(json_array_size(e.enqueued), 0);
    env_free(&e);
}

static void check_import_refused(const char *fixture, const char *reason, const char *fragment)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "imported", "cosign.key", fixture);
    const char *b64_key = json_string_value(json_object_get(
        json_object_get(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "imported"), "data"),
        "cosign.key"));
    char *b64_copy = sl_xstrdup(b64_key);
    put_signingkey(&e, "imp",
                   json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "imported"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "imp", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e, "imp", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "imp", "reason"), reason);
    CHECK_CONTAINS(ready_field(&e, "imp", "message"), "spec.secretRef.name: Secret \"imported\"");
    CHECK_CONTAINS(ready_field(&e, "imp", "message"), fragment);
    CHECK(has_event(&e, "Warning", reason));
    check_no_private_material(&e, "imp", b64_copy);
    /* stalled: a second reconcile with nothing changed writes nothing, no new event */
    int writes = sl_fake_kube_writes(e.fk);
    size_t nevents = json_array_size(e.events);
    CHECK_INT_EQ(reconcile(&e, "imp", &res), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);
    CHECK_INT_EQ(json_array_size(e.events), nevents);
    free(b64_copy);
    env_free(&e);
}

static void test_import_refusals(void)
{
    check_import_refused("garbage-base64.key", "InvalidKey", "cannot parse private key PEM");
    check_import_refused("truncated.key", "InvalidKey", "cannot parse private key PEM");
    check_import_refused("rsa-2048.key", "UnsupportedKey", "RSA key (2048 bits)");
    check_import_refused("cosign-encrypted.key", "InvalidKey",
                         "cannot decrypt the cosign private key: it needs a password and none (or "
                         "an empty one) was given (the Secret has no cosign.password)");
    check_import_refused("cosign-hostile/scrypt-huge-n.key", "UnsupportedKey",
                         "scrypt N=1073741824 r=8 p=1 is not one of the sets cosign writes");
    check_import_refused("ecdsa-p256.pub", "InvalidKey", "public key, not a private key");
}

/* A Secret as `cosign generate-key-pair k8s://ns/name` writes it: cosign.key (cosign's
 * encrypted format), cosign.password (NULL: left out) and cosign.pub. */
static void put_cosign_secret(struct env *e, const char *name, const char *fixture,
                              const char *password)
{
    size_t len = 0, pub_len = 0;
    char *pem = read_fixture(fixture, &len);
    char *pub = read_fixture("cosign-generated.pub", &pub_len);
    char *enc = b64(pem, len), *pub_enc = b64(pub, pub_len);
    json_t *obj =
        json_pack("{s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "metadata", "name", name, "namespace", NS,
                  "type", "Opaque", "data", "cosign.key", enc, "cosign.pub", pub_enc);
    if (password != NULL) {
        char *pw_enc = b64(password, strlen(password));
        json_object_set_new(json_object_get(obj, "data"), "cosign.password", json_string(pw_enc));
        free(pw_enc);
    }
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, obj), 0);
    json_decref(obj);
    free(enc);
    free(pub_enc);
    free(pem);
    free(pub);
}

/* A key the real cosign generated imports with the password next to it in the Secret. */
static void test_import_cosign_generated(void)
{
    struct env e;
    env_init(&e);
    put_cosign_secret(&e, "vendor-cosign", "cosign-generated.key", "test-only");
    put_signingkey(
        &e, "imp",
        json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "vendor-cosign"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "imp", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(ready_field(&e, "imp", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "imp"), "fingerprint")),
                 FP_COSIGN);
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "imp"), "algorithm")),
                 "ecdsa-p256");
    env_free(&e);

    /* a wrong cosign.password: stalled with a message that says so and shows no password */
    env_init(&e);
    put_cosign_secret(&e, "vendor-cosign", "cosign-generated.key", "not-the-password");
    put_signingkey(
        &e, "imp",
        json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "vendor-cosign"));
    CHECK_INT_EQ(reconcile(&e, "imp", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e, "imp", "reason"), "InvalidKey");
    CHECK_STR_EQ(ready_field(&e, "imp", "message"),
                 "spec.secretRef.name: Secret \"vendor-cosign\" key cosign.key: cannot decrypt "
                 "the cosign private key: wrong password (or the key was altered) (password "
                 "from cosign.password)");
    char *st = dump(status_of(&e, "imp"));
    char *ev = dump(e.events);
    CHECK(strstr(st, "not-the-password") == NULL);
    CHECK(strstr(ev, "not-the-password") == NULL);
    free(st);
    free(ev);
    env_free(&e);

    /* `COSIGN_PASSWORD= cosign generate-key-pair`: no cosign.password needed */
    env_init(&e);
    put_cosign_secret(&e, "vendor-cosign", "cosign-empty-password.key", NULL);
    put_signingkey(
        &e, "imp",
        json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "vendor-cosign"));
    CHECK_INT_EQ(reconcile(&e, "imp", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "imp", "status"), "True");
    env_free(&e);
}

static void test_import_bad_base64(void)
{
    struct env e;
    env_init(&e);
    json_t *s = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "k", "namespace", NS,
                          "data", "key.pem", "!!not base64!!");
    sl_fake_kube_put(e.fk, &SL_RES_SECRET, s);
    json_decref(s);
    put_signingkey(&e, "k",
                   json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "k"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "k", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e, "k", "reason"), "InvalidKey");
    CHECK_STR_EQ(ready_field(&e, "k", "message"),
                 "spec.secretRef.name: Secret \"k\" key key.pem: invalid base64");
    env_free(&e);
}

static void test_import_algorithm_given(void)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "ed", "cosign.key", "ed25519.key");
    put_signingkey(&e, "ed",
                   json_pack("{s:s, s:s, s:{s:s}}", "mode", "Import", "algorithm", "ed25519",
                             "secretRef", "name", "ed"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "ed", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "ed", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "ed"), "fingerprint")),
                 FP_ED25519);
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "ed"), "algorithm")), "ed25519");
    env_free(&e);
}

static void test_verify_only_from_configmap(void)
{
    struct env e;
    env_init(&e);
    char *pub = read_fixture("ecdsa-p256.pub", NULL);
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "vendor-pub", "namespace",
                           NS, "data", "cosign.pub", pub);
    sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm);
    json_decref(cm);
    char *cm_before = dump(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "vendor-pub"));
    put_signingkey(&e, "vendor-build",
                   json_pack("{s:s, s:{s:{s:s}}}", "mode", "VerifyOnly", "publicKey",
                             "configMapRef", "name", "vendor-pub"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "vendor-build", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(ready_field(&e, "vendor-build", "status"), "True");
    json_t *st = status_of(&e, "vendor-build");
    CHECK_STR_EQ(json_string_value(json_object_get(st, "fingerprint")), FP_P256);
    CHECK_STR_EQ(json_string_value(json_object_get(st, "publicKey")), pub);
    CHECK_CONTAINS(ready_field(&e, "vendor-build", "message"), "ConfigMap \"vendor-pub\"");
    /* the source ConfigMap is read, never written; no Secret made; one status write */
    char *cm_after = dump(sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "vendor-pub"));
    CHECK_STR_EQ(cm_after, cm_before);
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_SECRET, NS), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), 1);
    /* the ConfigMap is watched */
    e.r->map_secondary(e.r->self, &SL_RES_CONFIGMAP,
                       sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "vendor-pub"), collect, &e);
    CHECK(enqueued(&e, NS "/vendor-build"));
    free(cm_before);
    free(cm_after);
    free(pub);
    env_free(&e);
}

static void test_verify_only_missing_configmap(void)
{
    struct env e;
    env_init(&e);
    put_signingkey(&e, "v",
                   json_pack("{s:s, s:{s:{s:s}}}", "mode", "VerifyOnly", "publicKey",
                             "configMapRef", "name", "nope"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "v", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(ready_field(&e, "v", "reason"), "ConfigMapNotFound");
    CHECK_STR_EQ(ready_field(&e, "v", "message"),
                 "spec.publicKey.configMapRef.name: ConfigMap \"nope\" not found");
    env_free(&e);
}

static void test_verify_only_from_secret(void)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "vendor-pub", "cosign.pub", "ed25519.pub");
    put_signingkey(&e, "v",
                   json_pack("{s:s, s:{s:s}, s:{s:{s:s}}}", "mode", "VerifyOnly", "secretRef",
                             "name", "vendor-pub", "publishKey", "configMapRef", "name",
                             "published"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "v", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "v", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "v"), "fingerprint")), FP_ED25519);
    /* with a Secret as the source, the ConfigMap is a published copy */
    json_t *cm = sl_fake_kube_find(e.fk, &SL_RES_CONFIGMAP, NS, "published");
    char *pub = read_fixture("ed25519.pub", NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(cm, "data"), "cosign.pub")),
                 pub);
    free(pub);

    /* a private key where the public one should be is refused */
    struct env e2;
    env_init(&e2);
    put_secret_with_fixture(&e2, "vendor-pub", "cosign.pub", "ecdsa-p256.key");
    put_signingkey(
        &e2, "v",
        json_pack("{s:s, s:{s:s}}", "mode", "VerifyOnly", "secretRef", "name", "vendor-pub"));
    CHECK_INT_EQ(reconcile(&e2, "v", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(ready_field(&e2, "v", "reason"), "InvalidKey");
    check_no_private_material(&e2, "v", NULL);
    env_free(&e2);
    env_free(&e);
}

static void test_invalid_spec(void)
{
    struct env e;
    env_init(&e);
    put_signingkey(&e, "a",
                   json_pack("{s:s, s:{s:s}}", "mode", "Sometimes", "secretRef", "name", "x"));
    put_signingkey(&e, "b", json_pack("{s:s}", "mode", "Generate"));
    put_signingkey(&e, "c",
                   json_pack("{s:s, s:{s:s}}", "algorithm", "rsa-2048", "secretRef", "name", "x"));
    put_signingkey(&e, "d", json_pack("{s:s}", "mode", "VerifyOnly"));
    struct sl_reconcile_result res;
    const char *names[] = {"a", "b", "c", "d"};
    const char *msgs[] = {"spec.mode: Unsupported value: \"Sometimes\"",
                          "spec.secretRef.name: Required value",
                          "spec.algorithm:", "Required value: mode VerifyOnly"};
    for (int i = 0; i < 4; i++) {
        CHECK_INT_EQ(reconcile(&e, names[i], &res), 0);
        CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(ready_field(&e, names[i], "reason"), "InvalidSpec");
        CHECK_CONTAINS(ready_field(&e, names[i], "message"), msgs[i]);
        /* kstatus: a spec the controller cannot act on is Stalled, with the same message */
        CHECK_STR_EQ(sl_test_condition_field(status_of(&e, names[i]), "Stalled", "status"), "True");
        CHECK_CONTAINS(sl_test_condition_field(status_of(&e, names[i]), "Stalled", "message"),
                       msgs[i]);
    }
    CHECK_INT_EQ(sl_fake_kube_count(e.fk, &SL_RES_SECRET, NS), 0);
    env_free(&e);
}

static void test_transient_api_error(void)
{
    struct env e;
    env_init(&e);
    put_secret_with_fixture(&e, "k", "cosign.key", "ecdsa-p256.key");
    put_signingkey(&e, "k",
                   json_pack("{s:s, s:{s:s}}", "mode", "Import", "secretRef", "name", "k"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "k", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "k", "status"), "True");
    sl_fake_kube_fail_next_verb(e.fk, "get", SL_ERETRY);
    CHECK_INT_EQ(reconcile(&e, "k", &res), 0);
    CHECK_INT_EQ(res.kind, SL_RESULT_TRANSIENT);
    CHECK_STR_EQ(ready_field(&e, "k", "reason"), "APIError");
    CHECK_CONTAINS(ready_field(&e, "k", "message"), "reading Secret \"k\"");
    /* an API hiccup does not erase what is known about the key */
    CHECK_STR_EQ(json_string_value(json_object_get(status_of(&e, "k"), "fingerprint")), FP_P256);
    CHECK_INT_EQ(reconcile(&e, "k", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "k", "status"), "True");
    env_free(&e);
}

static void test_annotation_maps_secret(void)
{
    struct env e;
    env_init(&e);
    /* a Secret sealift created, seen before this process reconciled its SigningKey */
    json_t *s = json_pack("{s:{s:s, s:s, s:{s:s}}}", "metadata", "name", "release-key", "namespace",
                          NS, "annotations", SL_SIGNINGKEY_ANNOTATION, "release");
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, s, collect, &e);
    json_decref(s);
    CHECK(enqueued(&e, NS "/release"));
    env_free(&e);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_generate_creates_secret_configmap_status);
    RUN(test_publish_never_overwrites_a_foreign_configmap);
    RUN(test_generate_algorithms);
    RUN(test_generate_keeps_existing_secret);
    RUN(test_generate_algorithm_mismatch);
    RUN(test_generate_secret_without_key);
    RUN(test_generate_create_race);
    RUN(test_import_missing_then_present);
    RUN(test_import_refusals);
    RUN(test_import_cosign_generated);
    RUN(test_import_bad_base64);
    RUN(test_import_algorithm_given);
    RUN(test_verify_only_from_configmap);
    RUN(test_verify_only_missing_configmap);
    RUN(test_verify_only_from_secret);
    RUN(test_invalid_spec);
    RUN(test_transient_api_error);
    RUN(test_annotation_maps_secret);
    return CHECK_EXIT();
}
