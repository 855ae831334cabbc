/* Unit tests of the ImageDelivery reconciler against the in-memory fake API server and an
 * in-memory fake registry layer (struct sl_imd_registry_ops): no network. argv[1] is the
 * directory of tests/data/keys. */
#include "check.h"
#include "fake_cloud.h"
#include "fake_kube.h"
#include "recon_fixture.h"
#include "imagedelivery/delivery.h"
#include "imagedelivery/gates.h"
#include "imagedelivery/reconciler.h"
#include "imagedelivery/regops.h"
#include "oci/manifest.h"
#include "runtime/conditions.h"
#include "runtime/config.h"
#include "sign/keys.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *data_dir = "tests/data/keys";

#define NS     "vendor-acme"
#define SRC    "src.example:5000"
#define DST1   "dst1.example:5000"
#define DST2   "dst2.example:5000"
#define D(x)   "sha256:" x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x
#define DIG_A  D("aa")
#define DIG_B  D("bb")
#define DIG_C  D("cc")
#define PASSWD "pa55-w0rd-n0t-in-status"

/* ---- fake registry: state[host][repo] = {"tags": {tag: digest}, "sigs": {digest: fp}} ---- */

struct fake_reg {
    json_t *state;
    json_t *fail;     /* {host: code}: every call on host fails */
    json_t *calls;    /* {"head": n, "copy": n, ...} */
    json_t *written;  /* ["host/repo:tag=digest"] */
    int64_t stall_ms; /* head takes this long, then fails like the client past its deadline */
    int64_t seen_deadline_ms; /* the thread's registry deadline during the last head */
    json_t *client_certs;     /* {host: client certificate PEM or null} of the last open */
    json_t *users;            /* {host: username or null} of the last open */
    json_t *passwords;        /* {host: password or null} of the last open */
    json_t *refused;          /* {host: password}: 401 to a client opened with it ("*": any) */
    int seen_concurrency;     /* sl_copy_opts.concurrency of the last copy */
};

static void count(struct fake_reg *f, const char *op)
{
    json_int_t n = json_integer_value(json_object_get(f->calls, op));
    json_object_set_new(f->calls, op, json_integer(n + 1));
}

static int ncalls(struct fake_reg *f, const char *op)
{
    return (int)json_integer_value(json_object_get(f->calls, op));
}

static json_t *repo_of(struct fake_reg *f, const char *host, const char *repo, int create)
{
    json_t *h = json_object_get(f->state, host);
    if (!h && create) {
        h = json_object();
        json_object_set_new(f->state, host, h);
    }
    json_t *r = json_object_get(h, repo);
    if (!r && create) {
        r = json_pack("{s:{}, s:{}}", "tags", "sigs");
        json_object_set_new(h, repo, r);
    }
    return r;
}

static void reg_set_tag(struct fake_reg *f, const char *host, const char *repo, const char *tag,
                        const char *digest)
{
    json_object_set_new(json_object_get(repo_of(f, host, repo, 1), "tags"), tag,
                        json_string(digest));
}

static const char *reg_tag(struct fake_reg *f, const char *host, const char *repo, const char *tag)
{
    return json_string_value(
        json_object_get(json_object_get(repo_of(f, host, repo, 0), "tags"), tag));
}

static void reg_sign(struct fake_reg *f, const char *host, const char *repo, const char *digest,
                     const char *fp)
{
    json_object_set_new(json_object_get(repo_of(f, host, repo, 1), "sigs"), digest,
                        json_string(fp));
}

static const char *reg_sig(struct fake_reg *f, const char *host, const char *repo,
                           const char *digest)
{
    return json_string_value(
        json_object_get(json_object_get(repo_of(f, host, repo, 0), "sigs"), digest));
}

static int injected(struct fake_reg *f, struct sl_registry *r, struct sl_err *err)
{
    const char *refused = json_string_value(json_object_get(f->refused, sl_registry_host(r)));
    const char *pass = json_string_value(json_object_get(f->passwords, sl_registry_host(r)));
    if (refused && (strcmp(refused, "*") == 0 || (pass && strcmp(refused, pass) == 0)))
        return sl_err_set(err, SL_EAUTH, SL_ERRC_REGISTRY,
                          "GET https://%s/v2/: 401 unauthorized: UNAUTHORIZED: authentication "
                          "required",
                          sl_registry_host(r));
    json_t *code = json_object_get(f->fail, sl_registry_host(r));
    if (!code)
        return 0;
    int c = (int)json_integer_value(code);
    return sl_err_set(err, c, SL_ERRC_REGISTRY, "%s: injected %s", sl_registry_host(r),
                      c == SL_EAUTH ? "401 Unauthorized" : sl_err_code_name(c));
}

static struct sl_registry *f_open(void *ctx, const char *host, const struct sl_creds *creds,
                                  const struct sl_registry_opts *opts)
{
    struct fake_reg *f = ctx;
    const char *cert = opts ? opts->client_cert_pem : NULL;
    json_object_set_new(f->client_certs, host, cert ? json_string(cert) : json_null());
    json_object_set_new(f->users, host,
                        creds && creds->username ? json_string(creds->username) : json_null());
    json_object_set_new(f->passwords, host,
                        creds && creds->password ? json_string(creds->password) : json_null());
    return sl_registry_new(host, creds, opts);
}

static void f_release(void *ctx, struct sl_registry *r)
{
    sl_registry_free(r);
}

static int f_head(void *ctx, char digest_out[72], struct sl_registry *r, const char *repo,
                  const char *reference, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "head");
    f->seen_deadline_ms = sl_registry_deadline_get();
    if (f->stall_ms > 0) {
        struct timespec ts = {.tv_sec = f->stall_ms / 1000,
                              .tv_nsec = (long)(f->stall_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (f->seen_deadline_ms && sl_mono_ms() >= f->seen_deadline_ms)
            return sl_err_set(err, SL_ERETRY, SL_ERRC_REGISTRY,
                              "HEAD http://%s/v2/%s/manifests/%s: the time allowed for this work "
                              "ran out",
                              sl_registry_host(r), repo, reference);
    }
    int rc = injected(f, r, err);
    if (rc)
        return rc;
    json_t *rp = repo_of(f, sl_registry_host(r), repo, 0);
    const char *d = NULL;
    if (strncmp(reference, "sha256:", 7) == 0) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(rp, "tags"), k, v)
        {
            if (strcmp(json_string_value(v), reference) == 0)
                d = reference;
        }
    } else {
        d = json_string_value(json_object_get(json_object_get(rp, "tags"), reference));
    }
    if (!d)
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "%s/%s:%s: manifest unknown",
                          sl_registry_host(r), repo, reference);
    snprintf(digest_out, 72, "%s", d);
    return 0;
}

static int f_tags(void *ctx, char ***tags_out, size_t *n_out, struct sl_registry *r,
                  const char *repo, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "tags");
    int rc = injected(f, r, err);
    if (rc)
        return rc;
    json_t *tags = json_object_get(repo_of(f, sl_registry_host(r), repo, 0), "tags");
    if (!tags)
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "repository name not known");
    char **v = sl_xcalloc(json_object_size(tags) + 1, sizeof(*v));
    size_t n = 0;
    const char *k;
    json_t *val;
    json_object_foreach(tags, k, val)
    {
        v[n++] = sl_xstrdup(k);
    }
    *tags_out = v;
    *n_out = n;
    return 0;
}

/* Every source digest is served as an index of a linux/amd64 and a linux/arm64 image; the
 * annotation makes indexes of different digests differ. Caller frees. */
static char *fake_index(const char *digest)
{
    json_t *idx = json_pack(
        "{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s}}, {s:s, s:s, s:i, s:{s:s, s:s}}], s:{s:s}}",
        "schemaVersion", 2, "mediaType", SL_MT_OCI_INDEX, "manifests", "mediaType",
        SL_MT_OCI_MANIFEST, "digest", D("01"), "size", 500, "platform", "os", "linux",
        "architecture", "amd64", "mediaType", SL_MT_OCI_MANIFEST, "digest", D("02"), "size", 500,
        "platform", "os", "linux", "architecture", "arm64", "annotations", "source", digest);
    char *text = json_dumps(idx, JSON_COMPACT);
    json_decref(idx);
    return text;
}

static int f_manifest(void *ctx, struct sl_registry_manifest *out, struct sl_registry *r,
                      const char *repo, const char *reference, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "manifest");
    char digest[72];
    int rc = f_head(ctx, digest, r, repo, reference, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->data = fake_index(digest);
    out->len = strlen(out->data);
    out->media_type = sl_xstrdup(SL_MT_OCI_INDEX);
    sl_digest_sha256(out->digest, out->data, out->len);
    return 0;
}

static int f_copy(void *ctx, struct sl_copy_result *out, struct sl_registry *src_reg,
                  const struct sl_ref *src, struct sl_registry *dst_reg, const struct sl_ref *dst,
                  const struct sl_copy_opts *opts, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "copy");
    f->seen_concurrency = opts->concurrency;
    int rc = injected(f, src_reg, err);
    if (!rc)
        rc = injected(f, dst_reg, err);
    if (rc)
        return rc;
    char digest[72];
    snprintf(digest, sizeof(digest), "%s", src->digest);
    if (opts->n_platforms > 0) {
        /* a filtered index has a digest of its own, made as the copy engine makes it */
        struct sl_platform plats[16];
        for (size_t i = 0; i < opts->n_platforms && i < 16; i++)
            CHECK_INT_EQ(sl_platform_parse(&plats[i], opts->platforms[i], err), 0);
        char *index = fake_index(src->digest), *filtered = NULL;
        size_t len = 0;
        rc = sl_manifest_filter_index(&filtered, &len, index, strlen(index), plats,
                                      opts->n_platforms, err);
        if (rc == 0)
            sl_digest_sha256(digest, filtered, len);
        free(index);
        free(filtered);
        if (rc)
            return rc;
    }
    const char *have = reg_tag(f, sl_registry_host(dst_reg), dst->repository, dst->tag);
    memset(out, 0, sizeof(*out));
    snprintf(out->source_digest, sizeof(out->source_digest), "%s", src->digest);
    snprintf(out->digest, sizeof(out->digest), "%s", digest);
    if (have && strcmp(have, digest) == 0) {
        out->already_in_sync = 1;
        return 0;
    }
    if (have && opts->immutable_tag)
        return sl_err_set(err, SL_ECONFLICT, SL_ERRC_REGISTRY, "tag exists");
    reg_set_tag(f, sl_registry_host(dst_reg), dst->repository, dst->tag, digest);
    char line[400];
    snprintf(line, sizeof(line), "%s/%s:%s=%s", sl_registry_host(dst_reg), dst->repository,
             dst->tag, digest);
    json_array_append_new(f->written, json_string(line));
    return 0;
}

static int f_verify(void *ctx, struct sl_cosign_verify_result *out, struct sl_registry *r,
                    const char *repo, const char *digest, const struct sl_key *const *keys,
                    size_t nkeys, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "verify");
    const char *fp = reg_sig(f, sl_registry_host(r), repo, digest);
    if (!fp)
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "no signatures");
    /* any of the keys verifies, as sl_cosign_verify */
    for (size_t i = 0; i < nkeys; i++) {
        char want[SL_KEY_FINGERPRINT_LEN];
        sl_key_fingerprint(want, keys[i], err);
        if (strcmp(want, fp) == 0) {
            out->key_index = (int)i;
            return 0;
        }
    }
    return sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO, "1 signature(s), none by the keys");
}

static int f_copy_signatures(void *ctx, size_t *copied, struct sl_registry *src,
                             const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                             const char *digest, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "copy_signatures");
    const char *fp = reg_sig(f, sl_registry_host(src), src_repo, digest);
    *copied = 0;
    if (fp && !reg_sig(f, sl_registry_host(dst), dst_repo, digest)) {
        reg_sign(f, sl_registry_host(dst), dst_repo, digest, fp);
        *copied = 1;
    }
    return 0;
}

static int f_sign(void *ctx, struct sl_cosign_sign_result *out, struct sl_registry *r,
                  const char *repo, const char *docker_reference, const char *digest,
                  const struct sl_key *key, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "sign");
    char fp[SL_KEY_FINGERPRINT_LEN];
    sl_key_fingerprint(fp, key, err);
    char k[200];
    snprintf(k, sizeof(k), "%s#signed", digest);
    memset(out, 0, sizeof(*out));
    out->added = !reg_sig(f, sl_registry_host(r), repo, k);
    reg_sign(f, sl_registry_host(r), repo, k, fp);
    return 0;
}

/* Referrers: state[host][repo]["refs"][digest] = [artifactType, ...]. */
static json_t *reg_refs(struct fake_reg *f, const char *host, const char *repo, const char *digest,
                        int create)
{
    json_t *r = repo_of(f, host, repo, create);
    json_t *all = json_object_get(r, "refs");
    if (!all && create) {
        all = json_object();
        json_object_set_new(r, "refs", all);
    }
    json_t *list = json_object_get(all, digest);
    if (!list && create) {
        list = json_array();
        json_object_set_new(all, digest, list);
    }
    return list;
}

static int f_sign_bundle(void *ctx, int *added, struct sl_registry *r, const char *repo,
                         const char *digest, const struct sl_key *key, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "sign_bundle");
    char fp[SL_KEY_FINGERPRINT_LEN];
    sl_key_fingerprint(fp, key, err);
    char k[200];
    snprintf(k, sizeof(k), "%s#bundle", digest);
    *added = !reg_sig(f, sl_registry_host(r), repo, k);
    reg_sign(f, sl_registry_host(r), repo, k, fp);
    return 0;
}

static int f_referrers_digest(void *ctx, char digest_out[72], struct sl_registry *r,
                              const char *repo, const char *digest, struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "referrers_digest");
    int rc = injected(f, r, err);
    if (rc)
        return rc;
    char *s = json_dumps(reg_refs(f, sl_registry_host(r), repo, digest, 0), JSON_ENCODE_ANY);
    sl_digest_sha256(digest_out, s ? s : "", s ? strlen(s) : 0);
    free(s);
    return 0;
}

static int f_copy_referrers(void *ctx, struct sl_referrers_result *out, struct sl_registry *src,
                            const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                            const char *digest, const struct sl_referrers_opts *opts,
                            struct sl_err *err)
{
    struct fake_reg *f = ctx;
    count(f, "copy_referrers");
    (void)err;
    memset(out, 0, sizeof(*out));
    json_t *from = reg_refs(f, sl_registry_host(src), src_repo, digest, 0);
    size_t i;
    json_t *t;
    json_array_foreach(from, i, t)
    {
        const char *at = json_string_value(t);
        bool want = opts->n_artifact_types == 0;
        for (size_t k = 0; k < opts->n_artifact_types; k++)
            want = want || strcmp(opts->artifact_types[k], at) == 0;
        if (!want)
            continue;
        json_t *to = reg_refs(f, sl_registry_host(dst), dst_repo, digest, 1);
        json_array_append(to, t);
        out->copied++;
        size_t j = 0;
        while (j < out->n_types && strcmp(out->by_type[j].artifact_type, at) != 0)
            j++;
        if (j == out->n_types)
            snprintf(out->by_type[out->n_types++].artifact_type,
                     sizeof(out->by_type[0].artifact_type), "%s", at);
        out->by_type[j].count++;
    }
    return 0;
}

/* ---- environment ---- */

struct env {
    struct sl_fake_kube *fk;
    struct sl_runtime rt;
    struct sl_reconciler *r;
    struct fake_reg reg;
    struct sl_imd_registry_ops ops;
    json_t *events;
    struct sl_reconcile_result res;
    int rc;
    struct sl_err err;
    time_t clock; /* the reconciler's wall clock: each reconcile() runs a minute after the last */
    struct sl_fake_cloud cloud;
    struct sl_cloud_ops cloud_ops;
};

static time_t test_clock(void *ctx)
{
    return *(const time_t *)ctx;
}

/* the administrator of these tests allows plain http to the fake registries */
static const char *const insecure_ok[] = {SRC, DST1, DST2};
static const struct sl_controller_config lab_config = {.insecure_registries = insecure_ok,
                                                       .n_insecure_registries = 3};

/* A reconciler with the settings cc and the gates given (NULL: none). */
static void env_init_with(struct env *e, const struct sl_controller_config *cc,
                          const struct sl_scan_gate *gate, const struct sl_attest_gate *attest)
{
    memset(e, 0, sizeof(*e));
    e->fk = sl_fake_kube_new();
    sl_fake_kube_ops(e->fk, &e->rt.kube);
    e->rt.controller_namespace = "sealift-system";
    e->events = json_array();
    e->rt.record_event = sl_test_event_log;
    e->rt.event_ctx = e->events;
    e->reg.state = json_object();
    e->reg.fail = json_object();
    e->reg.calls = json_object();
    e->reg.written = json_array();
    e->reg.client_certs = json_object();
    e->reg.users = json_object();
    e->reg.passwords = json_object();
    e->reg.refused = json_object();
    e->ops = (struct sl_imd_registry_ops){.ctx = &e->reg,
                                          .open = f_open,
                                          .release = f_release,
                                          .head = f_head,
                                          .tags = f_tags,
                                          .manifest = f_manifest,
                                          .copy = f_copy,
                                          .verify = f_verify,
                                          .copy_signatures = f_copy_signatures,
                                          .sign = f_sign,
                                          .sign_bundle = f_sign_bundle,
                                          .referrers_digest = f_referrers_digest,
                                          .copy_referrers = f_copy_referrers};
    e->clock = 1796025600; /* 2026-11-30T08:00:00Z */
    sl_fake_cloud_init(&e->cloud, &e->cloud_ops, &e->clock);
    struct sl_imagedelivery_deps deps = {.config = cc,
                                         .cloud = &e->cloud_ops,
                                         .registry = &e->ops,
                                         .scan_gate = gate,
                                         .attest_gate = attest,
                                         .wall_now = test_clock,
                                         .clock_ctx = &e->clock};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_imagedelivery_reconciler_new(&e->r, &deps, &err), 0);
}

static void env_init(struct env *e)
{
    env_init_with(e, &lab_config, NULL, NULL);
}

static void env_free(struct env *e)
{
    sl_reconciler_free(e->r);
    sl_fake_kube_free(e->fk);
    json_decref(e->events);
    json_decref(e->reg.state);
    json_decref(e->reg.fail);
    json_decref(e->reg.calls);
    json_decref(e->reg.written);
    json_decref(e->reg.client_certs);
    json_decref(e->reg.users);
    json_decref(e->reg.passwords);
    json_decref(e->reg.refused);
}

static char *b64(const char *s, size_t len)
{
    char *out = sl_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    return out;
}

static char *read_fixture(const char *name)
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
    return buf;
}

static void fixture_fingerprint(char out[SL_KEY_FINGERPRINT_LEN], const char *pub_fixture)
{
    char *pem = read_fixture(pub_fixture);
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_load_public_pem(&k, pem, strlen(pem), &err), 0);
    sl_key_fingerprint(out, k, &err);
    sl_key_free(k);
    free(pem);
}

/* A dockerconfigjson Secret with credentials for hosts (NULL-terminated). */
static void put_pull_secret_user(struct env *e, const char *name, const char *type,
                                 const char *user, const char *const *hosts)
{
    json_t *auths = json_object();
    for (size_t i = 0; hosts[i]; i++)
        json_object_set_new(auths, hosts[i],
                            json_pack("{s:s, s:s}", "username", user, "password", PASSWD));
    json_t *cfg = json_pack("{s:o}", "auths", auths);
    char *text = json_dumps(cfg, JSON_COMPACT);
    char *enc = b64(text, strlen(text));
    json_t *secret = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                               "Secret", "metadata", "name", name, "namespace", NS, "type", type,
                               "data", ".dockerconfigjson", enc);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, secret), 0);
    json_decref(secret);
    json_decref(cfg);
    free(text);
    free(enc);
}

static void put_pull_secret(struct env *e, const char *name, const char *type,
                            const char *const *hosts)
{
    put_pull_secret_user(e, name, type, "robot", hosts);
}

static void put_secrets(struct env *e)
{
    static const char *const all[] = {SRC, DST1, DST2, NULL};
    put_pull_secret(e, "pull", "kubernetes.io/dockerconfigjson", all);
}

/* A SigningKey whose status carries the public key of pub_fixture and whose Secret holds
 * key_fixture (may be NULL). */
static void put_signingkey(struct env *e, const char *name, const char *pub_fixture,
                           const char *key_fixture)
{
    char *pub = read_fixture(pub_fixture);
    char secret_name[128];
    snprintf(secret_name, sizeof(secret_name), "%s-key", name);
    json_t *sk = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion",
                           "sealift.dev/v1beta1", "kind", "SigningKey", "metadata", "name", name,
                           "namespace", NS, "spec", "mode", "Generate", "secretRef", "name",
                           secret_name, "status", "publicKey", pub);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SIGNINGKEY, sk), 0);
    json_decref(sk);
    if (key_fixture) {
        char *key = read_fixture(key_fixture);
        char *enc = b64(key, strlen(key));
        json_t *secret =
            json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                      "metadata", "name", secret_name, "namespace", NS, "data", "cosign.key", enc);
        CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, secret), 0);
        json_decref(secret);
        free(enc);
        free(key);
    }
    free(pub);
}

/* spec (taken over, returned) with spec.sign by the SigningKey key */
static json_t *signed_by(json_t *spec, const char *key)
{
    json_object_set_new(spec, "sign", json_pack("{s:{s:s}}", "signingKeyRef", "name", key));
    return spec;
}

/* An ImageDelivery "app" from src/acme/app with tags to dst1 and dst2 (mirror/app). */
static json_t *basic_spec(void)
{
    return json_pack("{s:{s:s, s:[s, s], s:{s:s}, s:b}, s:[{s:s, s:{s:s}, s:b}, "
                     "{s:s, s:{s:s}, s:b}], s:s}",
                     "source", "image", SRC "/acme/app", "tags", "1.0", "1.1", "secretRef", "name",
                     "pull", "insecure", 1, "targets", "image", DST1 "/mirror/app", "secretRef",
                     "name", "pull", "insecure", 1, "image", DST2 "/mirror/app", "secretRef",
                     "name", "pull", "insecure", 1, "interval", "2m");
}

/* spec.verify trusting the one SigningKey key (an authority named after it) */
static json_t *verify_spec(const char *key)
{
    return json_pack("{s:[{s:s, s:{s:{s:s}}}]}", "authorities", "name", key, "key", "signingKeyRef",
                     "name", key);
}

static void put_imd(struct env *e, json_t *spec)
{
    json_t *obj =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "sealift.dev/v1beta1", "kind",
                  "ImageDelivery", "metadata", "name", "app", "namespace", NS, "spec", spec);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_IMAGEDELIVERY, obj), 0);
    json_decref(obj);
}

/* Changes the spec as a user would (generation + 1). */
static void edit_spec(struct env *e, const char *key, json_t *value)
{
    json_t *obj = json_deep_copy(sl_fake_kube_find(e->fk, &SL_RES_IMAGEDELIVERY, NS, "app"));
    json_object_set_new(json_object_get(obj, "spec"), key, value);
    json_t *meta = json_object_get(obj, "metadata");
    json_object_set_new(meta, "generation",
                        json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
    sl_fake_kube_put(e->fk, &SL_RES_IMAGEDELIVERY, obj);
    json_decref(obj);
}

static json_t *imd(struct env *e)
{
    return sl_fake_kube_find(e->fk, &SL_RES_IMAGEDELIVERY, NS, "app");
}

static void reconcile(struct env *e)
{
    json_t *obj = json_incref(imd(e));
    struct sl_reconcile_request req = {.ns = NS, .name = "app", .reconcile_id = "t", .obj = obj};
    memset(&e->err, 0, sizeof(e->err));
    e->clock += 60;
    e->rc = e->r->reconcile(e->r->self, &e->rt, &req, &e->res, &e->err);
    json_decref(obj);
}

/* Stores the ImageDelivery "app" with spec (taken over) and reconciles it once. */
static void apply(struct env *e, json_t *spec)
{
    put_imd(e, spec);
    reconcile(e);
}

static const char *cond_field(struct env *e, const char *type, const char *field)
{
    return sl_test_condition_field(json_object_get(imd(e), "status"), type, field);
}

static const char *status_str(struct env *e, const char *path)
{
    return sl_kube_json_path_str(imd(e), path);
}

static json_int_t status_int(struct env *e, const char *path)
{
    return json_integer_value(sl_kube_json_path(imd(e), path));
}

/* true when status has the field at path (summary counts are absent without their gate) */
static bool status_has(struct env *e, const char *path)
{
    return sl_kube_json_path(imd(e), path) != NULL;
}

static json_t *image_entry(struct env *e, size_t i)
{
    return json_array_get(sl_kube_json_path(imd(e), "status.images"), i);
}

static int count_events(struct env *e, const char *reason)
{
    return sl_test_count_events(e->events, reason);
}

/* The message of the (last) Delivered event, or NULL. */
static const char *delivered_event(struct env *e)
{
    const char *m = NULL;
    for (size_t i = 0; i < json_array_size(e->events); i++) {
        const json_t *ev = json_array_get(e->events, i);
        if (strcmp(json_string_value(json_object_get(ev, "reason")), "Delivered") == 0)
            m = json_string_value(json_object_get(ev, "message"));
    }
    return m;
}

static void seed_source(struct env *e)
{
    reg_set_tag(&e->reg, SRC, "acme/app", "1.0", DIG_A);
    reg_set_tag(&e->reg, SRC, "acme/app", "1.1", DIG_B);
    reg_set_tag(&e->reg, SRC, "acme/app", "2.0", DIG_C);
}

/* env_init_with, then the pull Secret of put_secrets and the source tags of seed_source: what
 * most tests start from. */
static void env_seeded_with(struct env *e, const struct sl_controller_config *cc,
                            const struct sl_scan_gate *gate, const struct sl_attest_gate *attest)
{
    env_init_with(e, cc, gate, attest);
    put_secrets(e);
    seed_source(e);
}

static void env_seeded_gate(struct env *e, const struct sl_scan_gate *gate)
{
    env_seeded_with(e, &lab_config, gate, NULL);
}

static void env_seeded(struct env *e)
{
    env_seeded_gate(e, NULL);
}

/* basic_spec gated by the ScanPolicy "default" */
static json_t *scan_spec(void)
{
    json_t *spec = basic_spec();
    json_object_set_new(spec, "scanPolicyRef", json_pack("{s:s}", "name", "default"));
    return spec;
}

/* Whether text is free of secrets: the pull Secret's password, a cloud login's password, a
 * ServiceAccount token (the fake API server's tokens start "token:"). */
static bool no_secret_in(const char *text)
{
    return text && strstr(text, PASSWD) == NULL && strstr(text, SL_FAKE_CLOUD_PASSWORD) == NULL &&
           strstr(text, "token:") == NULL;
}

/* Neither a registry password nor a ServiceAccount token in status or events. */
static void check_no_secret(struct env *e)
{
    char *status = json_dumps(imd(e), 0);
    char *events = json_dumps(e->events, 0);
    CHECK(no_secret_in(status));
    CHECK(no_secret_in(events));
    free(status);
    free(events);
}

/* ---- tests ---- */

/* A pass that writes more copies than one event message can name: still one event, as many as
 * fit listed, and how many more were written. */
static void test_many_deliveries_one_event(void)
{
    struct env e;
    env_init(&e);
    put_secrets(&e);
    json_t *spec = basic_spec();
    json_t *tags = json_array();
    for (int i = 0; i < 20; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "1.%d", i);
        reg_set_tag(&e.reg, SRC, "acme/app", tag, i % 2 ? DIG_A : DIG_B);
        json_array_append_new(tags, json_string(tag));
    }
    json_object_set_new(json_object_get(spec, "source"), "tags", tags);
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 40);
    CHECK_INT_EQ(count_events(&e, "Delivered"), 1);
    const char *dm = delivered_event(&e);
    CHECK(dm && strncmp(dm, "delivered 40 images: 1.0@", 25) == 0);
    CHECK(dm && strstr(dm, " more") != NULL);
    CHECK(dm && strlen(dm) < 1024);
    env_free(&e);
}

static void test_delivers_to_two_targets(void)
{
    struct env e;
    env_seeded(&e);
    apply(&e, basic_spec());
    CHECK_INT_EQ(e.rc, 0);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(e.res.requeue_after_ms, 2 * 60 * 1000);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A);
    CHECK_STR_EQ(reg_tag(&e.reg, DST2, "mirror/app", "1.0"), DIG_A);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.1"), DIG_B);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "2.0") == NULL);
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 4);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    CHECK_STR_EQ(cond_field(&e, "Synced", "status"), "True");
    CHECK(cond_field(&e, "Verified", "status") == NULL); /* only when relevant */
    CHECK(cond_field(&e, "Signed", "status") == NULL);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 2);
    CHECK(!status_has(&e, "status.summary.scanned"));
    CHECK(!status_has(&e, "status.summary.blocked"));
    CHECK(!status_has(&e, "status.summary.signed"));
    CHECK_INT_EQ(status_int(&e, "status.observedGeneration"), 1);
    CHECK(status_str(&e, "status.lastSyncTime") != NULL);
    json_t *img = image_entry(&e, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(img, "tag")), "1.0");
    CHECK_STR_EQ(json_string_value(json_object_get(img, "digest")), DIG_A);
    json_t *t1 = json_array_get(json_object_get(img, "targets"), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(t1, "image")), DST2 "/mirror/app:1.0");
    CHECK_STR_EQ(json_string_value(json_object_get(t1, "digest")), DIG_A);
    CHECK(json_string_value(json_object_get(t1, "syncedAt")) != NULL);
    CHECK(json_object_get(t1, "signed") == NULL);
    /* one Delivered event for the pass (one API write), naming all four copies */
    CHECK_INT_EQ(count_events(&e, "Delivered"), 1);
    const char *dm = delivered_event(&e);
    CHECK(dm &&
          strncmp(dm, "delivered 4 images: 1.0@" DIG_A " to " DST1 "/mirror/app:1.0; ",
                  strlen("delivered 4 images: 1.0@" DIG_A " to " DST1 "/mirror/app:1.0; ")) == 0);
    CHECK(dm && strstr(dm, "1.1@" DIG_B " to " DST2 "/mirror/app:1.1") != NULL);
    CHECK_INT_EQ(count_events(&e, "Ready"), 1);
    check_no_secret(&e);
    env_free(&e);
}

static void collect(void *qctx, const char *ns, const char *name);
static void put_pattern_imd(struct env *e, const char *pattern);

/* The user deletes the pull Secret: gone from the API, and the watch's event handled. */
static void delete_pull_secret(struct env *e)
{
    sl_fake_kube_remove(e->fk, &SL_RES_SECRET, NS, "pull");
    json_t *q = json_array();
    json_t *gone = json_pack("{s:{s:s, s:s}}", "metadata", "name", "pull", "namespace", NS);
    e->r->map_secondary(e->r->self, &SL_RES_SECRET, gone, collect, q);
    json_decref(gone);
    json_decref(q);
}

/* The status a steady pass writes: exactly one status write per check, moving lastCheckTime and
 * nothing else (status written with `moved` as lastCheckTime must equal before otherwise). */
static void check_one_write_moving_last_check(struct env *e, int writes_before,
                                              const json_t *before, const char *moved)
{
    CHECK_INT_EQ(sl_fake_kube_writes(e->fk), writes_before + 1);
    json_t *log = sl_fake_kube_write_log(e->fk);
    CHECK_STR_EQ(json_string_value(json_array_get(log, json_array_size(log) - 1)),
                 "update_status imagedeliveries " NS "/app");
    json_t *expect = json_deep_copy(before);
    json_object_set_new(expect, "lastCheckTime", json_string(moved));
    CHECK(json_equal(expect, json_object_get(imd(e), "status")));
    json_decref(expect);
}

static void test_steady_state_costs_heads_only(void)
{
    struct env e;
    env_seeded(&e);
    apply(&e, basic_spec());
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:01:00Z");
    int writes = sl_fake_kube_writes(e.fk);
    json_t *before = json_deep_copy(json_object_get(imd(&e), "status"));
    json_object_clear(e.reg.calls);
    int events = (int)json_array_size(e.events);
    reconcile(&e);
    CHECK_INT_EQ(e.rc, 0);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_DONE);
    /* 2 tags: one source HEAD each + one HEAD per target */
    CHECK_INT_EQ(ncalls(&e.reg, "head"), 2 + 2 * 2);
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    CHECK_INT_EQ(ncalls(&e.reg, "copy_signatures"), 0);
    /* one status write, moving lastCheckTime only (lastSyncTime and syncedAt stay) */
    check_one_write_moving_last_check(&e, writes, before, "2026-11-30T08:02:00Z");
    CHECK_INT_EQ((int)json_array_size(e.events), events);
    /* a check within the same second finds nothing to write */
    writes = sl_fake_kube_writes(e.fk);
    e.clock -= 60;
    reconcile(&e);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);
    json_decref(before);
    env_free(&e);
}

/* lastCheckTime moves on every completed check, also one that found no tag to deliver; not
 * while suspended, not on a pass that stopped before the registries (the Secret is missing). */
static void test_last_check_time(void)
{
    struct env e;
    env_seeded(&e);
    put_pattern_imd(&e, "^3\\.");
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "NoMatchingTags");
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:01:00Z");
    reconcile(&e);
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:02:00Z");
    env_free(&e);

    env_seeded(&e);
    apply(&e, basic_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:01:00Z");
    /* suspended: no registry request, lastCheckTime stays */
    edit_spec(&e, "suspend", json_true());
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Suspended");
    CHECK_INT_EQ(ncalls(&e.reg, "head") + ncalls(&e.reg, "tags"), 0);
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:01:00Z");
    reconcile(&e); /* and a suspended object's steady state writes nothing */
    int writes = sl_fake_kube_writes(e.fk);
    reconcile(&e);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);
    /* resumed: checked again */
    edit_spec(&e, "suspend", json_false());
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:05:00Z");
    /* the pull Secret is gone: the pass stops before any registry, lastCheckTime stays */
    delete_pull_secret(&e);
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "head") + ncalls(&e.reg, "tags"), 0);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SecretNotFound");
    CHECK_STR_EQ(status_str(&e, "status.lastCheckTime"), "2026-11-30T08:05:00Z");
    env_free(&e);
}

static void test_moved_tag_immutable_conflict(void)
{
    struct env e;
    env_seeded(&e);
    apply(&e, basic_spec());
    reg_set_tag(&e.reg, SRC, "acme/app", "1.0", DIG_C); /* the vendor moves 1.0 */
    reconcile(&e);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_DONE); /* re-checked at the interval */
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A); /* target keeps it */
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "ImmutableTagConflict");
    CHECK_STR_EQ(cond_field(&e, "Synced", "reason"), "ImmutableTagConflict");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.immutableTags");
    json_t *img = image_entry(&e, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(img, "digest")), DIG_C);
    CHECK_STR_EQ(json_string_value(sl_kube_json_path(
                     json_array_get(json_object_get(img, "targets"), 0), "digest")),
                 DIG_A);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 1);
    /* one event per distinct failure: one per target, and none again on the next pass */
    CHECK_INT_EQ(count_events(&e, "ImmutableTagConflict"), 2);
    reconcile(&e);
    CHECK_INT_EQ(count_events(&e, "ImmutableTagConflict"), 2);

    /* with immutableTags false the tag moves */
    edit_spec(&e, "immutableTags", json_false());
    reconcile(&e);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_C);
    CHECK_STR_EQ(reg_tag(&e.reg, DST2, "mirror/app", "1.0"), DIG_C);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 2);
    CHECK_INT_EQ(status_int(&e, "status.observedGeneration"), 2);
    env_free(&e);
}

static void test_tag_pattern_and_digest_pinning(void)
{
    struct env e;
    env_seeded(&e);
    reg_set_tag(&e.reg, SRC, "acme/app", "latest", DIG_C);
    json_t *spec = basic_spec();
    json_object_del(json_object_get(spec, "source"), "tags");
    json_object_set_new(json_object_get(spec, "source"), "tagPattern", json_string("^1\\.[0-9]+$"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 2);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "latest") == NULL);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "2.0") == NULL);
    /* a new matching tag appears: delivered on the next pass */
    reg_set_tag(&e.reg, SRC, "acme/app", "1.2", DIG_C);
    reconcile(&e);
    CHECK_STR_EQ(reg_tag(&e.reg, DST2, "mirror/app", "1.2"), DIG_C);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 3);
    env_free(&e);

    env_seeded(&e);
    spec = basic_spec();
    json_object_del(json_object_get(spec, "source"), "tags");
    json_object_set_new(json_object_get(spec, "source"), "digest", json_string(DIG_B));
    json_object_set_new(spec, "targetTag", json_string("pinned"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "pinned"), DIG_B);
    CHECK_STR_EQ(json_string_value(json_object_get(image_entry(&e, 0), "tag")), "pinned");
    CHECK_STR_EQ(json_string_value(json_object_get(image_entry(&e, 0), "digest")), DIG_B);
    env_free(&e);
}

static void put_pattern_imd(struct env *e, const char *pattern)
{
    json_t *spec = basic_spec();
    json_object_del(json_object_get(spec, "source"), "tags");
    json_object_set_new(json_object_get(spec, "source"), "tagPattern", json_string(pattern));
    put_imd(e, spec);
}

/* The pattern style Flux users write delivers what it says; a pattern that matches nothing is
 * not success; what POSIX cannot say is refused by name. */
static void test_tag_pattern_dialect_and_no_match(void)
{
    struct env e;
    env_seeded(&e);
    reg_set_tag(&e.reg, SRC, "acme/app", "latest", DIG_C);
    put_pattern_imd(&e, "^1\\.\\d+$");
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 2);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "latest") == NULL);
    env_free(&e);

    env_seeded(&e);
    put_pattern_imd(&e, "^3\\.");
    reconcile(&e);
    CHECK_INT_EQ(e.rc, 0);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "NoMatchingTags");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "\"^3\\.\"");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "matches none of the 3 tag(s)");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "1.0, 1.1");
    /* looked at again at the interval: the tags may be pushed later */
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK(e.res.requeue_after_ms > 0);
    CHECK_INT_EQ(count_events(&e, "NoMatchingTags"), 1);
    /* the tag appears: delivered */
    reg_set_tag(&e.reg, SRC, "acme/app", "3.0", DIG_C);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "3.0"), DIG_C);
    env_free(&e);

    env_seeded(&e);
    put_pattern_imd(&e, "(?i)^V1\\.");
    reconcile(&e);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.source.tagPattern");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "(?i)");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "POSIX extended regular expression");
    CHECK_INT_EQ(ncalls(&e.reg, "tags"), 0);
    env_free(&e);
}

static void test_platforms_steady_state(void)
{
    struct env e;
    env_seeded(&e);
    json_t *spec = basic_spec();
    json_object_set_new(spec, "platforms", json_pack("[s]", "linux/amd64"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    const char *delivered = reg_tag(&e.reg, DST1, "mirror/app", "1.0");
    CHECK(delivered && strcmp(delivered, DIG_A) != 0); /* a filtered index */
    json_t *t0 = json_array_get(json_object_get(image_entry(&e, 0), "targets"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(t0, "digest")), delivered);
    CHECK_STR_EQ(json_string_value(json_object_get(image_entry(&e, 0), "digest")), DIG_A);
    /* the recorded delivery is recognised: no copy on the next pass, one status write of
     * lastCheckTime */
    json_object_clear(e.reg.calls);
    int writes = sl_fake_kube_writes(e.fk);
    json_t *before = json_deep_copy(json_object_get(imd(&e), "status"));
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    check_one_write_moving_last_check(&e, writes, before, "2026-11-30T08:02:00Z");
    json_decref(before);
    env_free(&e);
}

static void test_invalid_spec(void)
{
    struct {
        const char *what, *key, *value, *field;
    } cases[] = {
        {"unparseable", "image", "Not A Reference!!", "spec.source.image"},
        {"tag in repo", "image", SRC "/acme/app:1.0", "spec.source.image"},
        {"pattern", "tagPattern", "^(1\\.", "spec.source"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env e;
        env_init(&e);
        put_secrets(&e);
        json_t *spec = basic_spec();
        json_object_set_new(json_object_get(spec, "source"), cases[i].key,
                            json_string(cases[i].value));
        apply(&e, spec);
        CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), cases[i].field);
        CHECK_INT_EQ(ncalls(&e.reg, "head"), 0);
        CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 0);
        env_free(&e);
    }
    /* the tagPattern case also says both selectors are set; a lone bad pattern names it */
    struct env e;
    env_init(&e);
    put_secrets(&e);
    json_t *spec = basic_spec();
    json_object_del(json_object_get(spec, "source"), "tags");
    json_object_set_new(json_object_get(spec, "source"), "tagPattern", json_string("^(1\\."));
    apply(&e, spec);
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.source.tagPattern");
    env_free(&e);
    /* digest without targetTag */
    env_init(&e);
    put_secrets(&e);
    spec = basic_spec();
    json_object_del(json_object_get(spec, "source"), "tags");
    json_object_set_new(json_object_get(spec, "source"), "digest", json_string(DIG_A));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targetTag");
    env_free(&e);
}

static void test_secret_problems(void)
{
    struct env e;
    env_init(&e);
    seed_source(&e);
    apply(&e, basic_spec()); /* no Secret at all */
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_INT_EQ(e.res.requeue_after_ms, 30 * 1000);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SecretNotFound");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.source.secretRef.name");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "\"pull\"");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);

    env_init(&e);
    seed_source(&e);
    static const char *const all[] = {SRC, DST1, DST2, NULL};
    put_pull_secret(&e, "pull", "Opaque", all);
    apply(&e, basic_spec());
    CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSecret");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "kubernetes.io/dockerconfigjson");
    env_free(&e);

    env_init(&e);
    seed_source(&e);
    static const char *const only_src[] = {SRC, NULL};
    put_pull_secret(&e, "pull", "kubernetes.io/dockerconfigjson", only_src);
    apply(&e, basic_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSecret");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0]");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), DST1);
    check_no_secret(&e);
    env_free(&e);
}

/* A Secret name of certSecretRef with the given keys (NULL values are left out), each the text
 * of a fixture (relative to tests/data/keys) or, prefixed with '=', that text itself. */
static void put_cert_secret(struct env *e, const char *name, const char *ca, const char *crt,
                            const char *key)
{
    json_t *data = json_object();
    const char *keys[3] = {"ca.crt", "tls.crt", "tls.key"};
    const char *vals[3] = {ca, crt, key};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        char *text = vals[i][0] == '=' ? sl_xstrdup(vals[i] + 1) : read_fixture(vals[i]);
        char *enc = b64(text, strlen(text));
        json_object_set_new(data, keys[i], json_string(enc));
        free(enc);
        free(text);
    }
    json_t *secret =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "apiVersion", "v1", "kind", "Secret",
                  "metadata", "name", name, "namespace", NS, "type", "Opaque", "data", data);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, secret), 0);
    json_decref(secret);
}

/* basic_spec with certSecretRef name on the source (target < 0) or on that target */
static json_t *cert_spec(int target, const char *name)
{
    json_t *spec = basic_spec();
    json_t *ep = target < 0 ? json_object_get(spec, "source")
                            : json_array_get(json_object_get(spec, "targets"), (size_t)target);
    json_object_set_new(ep, "certSecretRef", json_pack("{s:s}", "name", name));
    return spec;
}

/* certSecretRef's tls.crt + tls.key: presented to that endpoint's registry and no other; a half
 * pair, a key of another certificate or a key that is not PEM stop the delivery naming the
 * Secret and the key, and nothing of the key reaches status or events. */
static void test_client_certificates(void)
{
    struct env e;
    char *crt = read_fixture("../tls/server.crt");
    char *key = read_fixture("../tls/server.key");
    char *key_line = sl_xstrdup(strchr(key, '\n') + 1);
    *strchr(key_line, '\n') = '\0'; /* the first line of the key's base64 */

    env_seeded(&e);
    put_cert_secret(&e, "vendor-tls", "../tls/ca.crt", "../tls/server.crt", "../tls/server.key");
    apply(&e, cert_spec(-1, "vendor-tls"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.client_certs, SRC)), crt);
    CHECK(json_is_null(json_object_get(e.reg.client_certs, DST1)));
    CHECK(json_is_null(json_object_get(e.reg.client_certs, DST2)));
    env_free(&e);

    /* a target's own client certificate, and the source goes without one */
    env_seeded(&e);
    put_cert_secret(&e, "customer-tls", NULL, "../tls/server.crt", "../tls/server.key");
    apply(&e, cert_spec(1, "customer-tls"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK(json_is_null(json_object_get(e.reg.client_certs, SRC)));
    CHECK(json_is_null(json_object_get(e.reg.client_certs, DST1)));
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.client_certs, DST2)), crt);
    env_free(&e);

    static const struct {
        int target;
        const char *ca, *crt, *key, *field, *want;
    } bad[] = {
        {-1, NULL, "../tls/server.crt", NULL, "spec.source.certSecretRef.name",
         "Secret \"bad-tls\" has tls.crt but no tls.key: a client certificate needs both"},
        {-1, "../tls/ca.crt", NULL, "../tls/server.key", "spec.source.certSecretRef.name",
         "Secret \"bad-tls\" has tls.key but no tls.crt"},
        {1, NULL, "../tls/server.crt", "ecdsa-p256.key", "spec.targets[1].certSecretRef.name",
         "Secret \"bad-tls\": tls.key is not the private key of the certificate in tls.crt"},
        {0, NULL, "../tls/server.crt", "=not a key", "spec.targets[0].certSecretRef.name",
         "Secret \"bad-tls\": tls.key is not an unencrypted PEM private key"},
        {-1, NULL, "../tls/server.key", "../tls/server.key", "spec.source.certSecretRef.name",
         "Secret \"bad-tls\": tls.crt is not a PEM certificate"},
        {-1, NULL, NULL, NULL, "spec.source.certSecretRef.name",
         "Secret \"bad-tls\" has no key ca.crt, nor a client certificate in tls.crt and tls.key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env_seeded(&e);
        put_cert_secret(&e, "bad-tls", bad[i].ca, bad[i].crt, bad[i].key);
        apply(&e, cert_spec(bad[i].target, "bad-tls"));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSecret");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), bad[i].field);
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), bad[i].want);
        CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
        CHECK_INT_EQ((int)json_object_size(e.reg.client_certs), 0); /* nothing was opened */
        char *dump = json_dumps(imd(&e), 0);
        char *events = json_dumps(e.events, 0);
        CHECK(strstr(dump, "PRIVATE KEY") == NULL && strstr(dump, key_line) == NULL);
        CHECK(strstr(events, "PRIVATE KEY") == NULL && strstr(events, key_line) == NULL);
        free(events);
        free(dump);
        env_free(&e);
    }
    free(key_line);
    free(key);
    free(crt);
}

/* A ServiceAccount ns/name listing the given imagePullSecrets (NULL-terminated). */
static void put_service_account(struct env *e, const char *ns, const char *name,
                                const char *const *pulls)
{
    json_t *list = json_array();
    for (size_t i = 0; pulls[i]; i++)
        json_array_append_new(list, json_pack("{s:s}", "name", pulls[i]));
    json_t *sa =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind", "ServiceAccount",
                  "metadata", "name", name, "namespace", ns, "imagePullSecrets", list);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SERVICEACCOUNT, sa), 0);
    json_decref(sa);
}

/* basic_spec whose source (and first target) take credentials from ServiceAccount sa */
static json_t *service_account_spec(const char *sa, bool target_too)
{
    json_t *spec = basic_spec();
    json_t *src = json_object_get(spec, "source");
    json_object_del(src, "secretRef");
    json_object_set_new(src, "serviceAccountName", json_string(sa));
    if (target_too) {
        json_t *t0 = json_array_get(json_object_get(spec, "targets"), 0);
        json_object_del(t0, "secretRef");
        json_object_set_new(t0, "serviceAccountName", json_string(sa));
    }
    return spec;
}

/* serviceAccountName: the ServiceAccount's imagePullSecrets of the delivery's own namespace, in
 * order, the first with an entry for the host; every way it can be missing stops the delivery
 * naming what is missing, never an anonymous attempt. */
static void test_service_account_pull_secrets(void)
{
    struct env e;
    static const char *const dst1_only[] = {DST1, NULL};
    static const char *const src_dst1[] = {SRC, DST1, NULL};
    static const char *const all[] = {SRC, DST1, DST2, NULL};

    /* the first Secret without an entry for the source is passed over, the next one is used;
     * the target takes the first Secret's entry */
    env_seeded(&e);
    put_pull_secret_user(&e, "dst-only", "kubernetes.io/dockerconfigjson", "first", dst1_only);
    put_pull_secret_user(&e, "both", "kubernetes.io/dockerconfigjson", "second", src_dst1);
    static const char *const pulls[] = {"dst-only", "both", NULL};
    put_service_account(&e, NS, "puller", pulls);
    apply(&e, service_account_spec("puller", true));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, SRC)), "second");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, DST1)), "first");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, DST2)), "robot");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 4);
    env_free(&e);

    /* no such ServiceAccount in the delivery's namespace (one of that name elsewhere is not
     * read) */
    env_seeded(&e);
    static const char *const pull[] = {"pull", NULL};
    put_service_account(&e, "other-ns", "puller", pull);
    apply(&e, service_account_spec("puller", false));
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "ServiceAccountNotFound");
    CHECK_STR_EQ(cond_field(&e, "Ready", "message"),
                 "spec.source.serviceAccountName: ServiceAccount vendor-acme/puller not found");
    CHECK_INT_EQ((int)json_object_size(e.reg.users), 0);
    env_free(&e);

    /* a listed Secret that does not exist */
    env_seeded(&e);
    static const char *const gone[] = {"gone", "pull", NULL};
    put_service_account(&e, NS, "puller", gone);
    apply(&e, service_account_spec("puller", false));
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SecretNotFound");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.source.serviceAccountName: imagePullSecrets[0] of ServiceAccount "
                   "vendor-acme/puller");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "\"gone\"");
    env_free(&e);

    /* no entry for the host in any listed Secret, or no Secret listed: nothing is opened */
    for (int none = 0; none < 2; none++) {
        env_seeded(&e);
        put_pull_secret(&e, "dst-only", "kubernetes.io/dockerconfigjson", dst1_only);
        static const char *const only_dst[] = {"dst-only", NULL};
        static const char *const nothing[] = {NULL};
        put_service_account(&e, NS, "puller", none ? nothing : only_dst);
        apply(&e, service_account_spec("puller", false));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "NoCredentials");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       "spec.source.serviceAccountName: no credentials for " SRC
                       " in imagePullSecrets of ServiceAccount vendor-acme/puller");
        CHECK_INT_EQ((int)json_object_size(e.reg.users), 0);
        CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
        env_free(&e);
    }

    /* a listed Secret of another type */
    env_seeded(&e);
    put_pull_secret(&e, "opaque", "Opaque", all);
    static const char *const opaque[] = {"opaque", NULL};
    put_service_account(&e, NS, "puller", opaque);
    apply(&e, service_account_spec("puller", false));
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSecret");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "Secret \"opaque\" is of type Opaque");
    check_no_secret(&e);
    env_free(&e);

    /* secretRef and serviceAccountName together (the schema refuses it too) */
    env_seeded(&e);
    json_t *spec = service_account_spec("puller", false);
    json_object_set_new(json_object_get(spec, "source"), "secretRef",
                        json_pack("{s:s}", "name", "pull"));
    apply(&e, spec);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.source: set at most one of secretRef and serviceAccountName");
    env_free(&e);
}

#define ECR      "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
#define ROLE_ARN "arn:aws:iam::123456789012:role/sealift-pusher"

/* ServiceAccount ns/name, annotated with the IAM role (NULL: none) */
static void put_annotated_sa(struct env *e, const char *ns, const char *name, const char *role)
{
    const char *const ann[] = {SL_AWS_ROLE_ANNOTATION, role, NULL};
    CHECK_INT_EQ(sl_test_put_service_account(e->fk, ns, name, ann), 0);
}

/* basic_spec whose first target is image (provider aws, ServiceAccount pusher) */
static json_t *aws_spec(const char *image)
{
    json_t *spec = basic_spec();
    json_t *t0 = json_array_get(json_object_get(spec, "targets"), 0);
    json_object_set_new(t0, "image", json_string(image));
    json_object_del(t0, "secretRef");
    json_object_del(t0, "insecure");
    json_object_set_new(t0, "provider", json_string("aws"));
    json_object_set_new(t0, "serviceAccountName", json_string("pusher"));
    return spec;
}

/* lab_config with --workload-identity */
static const struct sl_controller_config cloud_config = {
    .insecure_registries = insecure_ok, .n_insecure_registries = 3, .workload_identity = true};

static void aws_env(struct env *e, const char *role)
{
    env_seeded_with(e, &cloud_config, NULL, NULL);
    put_annotated_sa(e, NS, "pusher", role);
}

/* aws_env with ROLE_ARN, and a delivery to ECR that passed once, with one login */
static void aws_env_delivered(struct env *e)
{
    aws_env(e, ROLE_ARN);
    apply(e, aws_spec(ECR "/mirror/app"));
    CHECK_STR_EQ(cond_field(e, "Ready", "status"), "True");
    CHECK_INT_EQ(e->cloud.calls, 1);
}

/* provider: aws: the ServiceAccount's token for sts.amazonaws.com becomes ECR credentials of
 * the role its annotation names, for the ECR host only; kept until shortly before they
 * expire; every way it can be wrong stops the delivery naming why, before anything is sent. */
static void test_provider_aws(void)
{
    struct env e;
    aws_env_delivered(&e);
    CHECK_STR_EQ(e.cloud.token, "token:" NS ":pusher:sts.amazonaws.com");
    CHECK_STR_EQ(e.cloud.identity, ROLE_ARN);
    CHECK_STR_EQ(e.cloud.session, "sealift." NS ".pusher");
    CHECK_STR_EQ(e.cloud.host, "eu-west-1");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, ECR)), "AWS");
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, SRC)), "robot");
    check_no_secret(&e);
    /* the next passes use the kept credentials, until 15 minutes before they expire */
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 1);
    e.clock += 11 * 3600 + 30 * 60;
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 1);
    e.clock += 20 * 60;
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    env_free(&e);

    /* another role annotated on the ServiceAccount is another login */
    aws_env(&e, ROLE_ARN);
    apply(&e, aws_spec(ECR "/mirror/app"));
    put_annotated_sa(&e, NS, "pusher", "arn:aws:iam::123456789012:role/other");
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_STR_EQ(e.cloud.identity, "arn:aws:iam::123456789012:role/other");
    env_free(&e);

    /* not an ECR host: the cloud's credentials go nowhere else (the API server refuses this
     * for v1beta1 writes; a v1alpha1 write's conversion annotation could still carry it) */
    static const char *const not_ecr[] = {
        DST1 "/mirror/app",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example/mirror/app",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com:8443/mirror/app",
    };
    for (size_t i = 0; i < sizeof(not_ecr) / sizeof(not_ecr[0]); i++) {
        aws_env(&e, ROLE_ARN);
        apply(&e, aws_spec(not_ecr[i]));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0].provider: aws: ");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "is not an Amazon ECR registry host");
        CHECK_INT_EQ(e.cloud.calls, 0);
        CHECK_INT_EQ((int)json_object_size(e.reg.users), 0);
        env_free(&e);
    }

    /* the administrator did not turn workload identity on */
    env_seeded(&e);
    put_annotated_sa(&e, NS, "pusher", ROLE_ARN);
    apply(&e, aws_spec(ECR "/mirror/app"));
    CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "WorkloadIdentityDisabled");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "--workload-identity");
    CHECK_INT_EQ(e.cloud.calls, 0);
    env_free(&e);

    /* no serviceAccountName, insecure, an unknown provider, a name that would leave the
     * TokenRequest's path (the schema's pattern does not hold for a conversion annotation's
     * fields): spec errors */
    for (int i = 0; i < 4; i++) {
        aws_env(&e, ROLE_ARN);
        json_t *spec = aws_spec(ECR "/mirror/app");
        json_t *t0 = json_array_get(json_object_get(spec, "targets"), 0);
        if (i == 0)
            json_object_del(t0, "serviceAccountName");
        else if (i == 1)
            json_object_set_new(t0, "insecureSkipTLSVerify", json_true());
        else if (i == 2)
            json_object_set_new(t0, "provider", json_string("oci"));
        else
            json_object_set_new(t0, "serviceAccountName",
                                json_string("x/../../../kube-system/serviceaccounts/admin"));
        apply(&e, spec);
        CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       i == 0   ? "spec.targets[0]: provider aws needs serviceAccountName"
                       : i == 1 ? "spec.targets[0]: provider aws sends credentials over "
                                  "verified TLS only"
                       : i == 2 ? "spec.targets[0].provider: Unsupported value: \"oci\""
                                : "spec.targets[0].serviceAccountName: \"x/../../../kube-system"
                                  "/serviceaccounts/admin\" is not a ServiceAccount name");
        CHECK_INT_EQ(e.cloud.calls, 0);
        env_free(&e);
    }

    /* the ServiceAccount: missing in this namespace (one of that name elsewhere is not
     * used), without the annotation, with something else in it */
    for (int i = 0; i < 3; i++) {
        env_seeded_with(&e, &cloud_config, NULL, NULL);
        if (i == 0)
            put_annotated_sa(&e, "other-ns", "pusher", ROLE_ARN);
        else
            put_annotated_sa(&e, NS, "pusher", i == 1 ? NULL : "arn:aws:iam::12345:user/x");
        apply(&e, aws_spec(ECR "/mirror/app"));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"),
                     i == 0 ? "ServiceAccountNotFound" : "InvalidServiceAccount");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       i == 0 ? "spec.targets[0].serviceAccountName: ServiceAccount " NS
                                "/pusher not found"
                       : i == 1 ? "ServiceAccount " NS "/pusher has no annotation "
                                  "eks.amazonaws.com/role-arn"
                                : "annotation eks.amazonaws.com/role-arn: ");
        CHECK_INT_EQ(e.cloud.calls, 0);
        env_free(&e);
    }

    /* STS or ECR refuse: waiting (IAM is not watched); unreachable: retried with backoff;
     * nothing kept, the next pass asks again */
    for (int i = 0; i < 2; i++) {
        aws_env(&e, ROLE_ARN);
        e.cloud.rc = i == 0 ? SL_EAUTH : SL_ERETRY;
        apply(&e, aws_spec(ECR "/mirror/app"));
        CHECK_INT_EQ(e.res.kind, i == 0 ? SL_RESULT_WAITING : SL_RESULT_TRANSIENT);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "CloudAuthFailed");
        CHECK_STR_EQ(cond_field(&e, "Ready", "message"),
                     "spec.targets[0]: AWS login as " ROLE_ARN " for ServiceAccount " NS
                     "/pusher: STS https://sts.eu-west-1.amazonaws.com/: AccessDenied: Not "
                     "authorized to perform sts:AssumeRoleWithWebIdentity");
        CHECK(json_object_get(e.reg.users, ECR) == NULL);
        e.cloud.rc = 0;
        reconcile(&e);
        CHECK_INT_EQ(e.cloud.calls, 2);
        CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
        env_free(&e);
    }
}

/* The message of the last event with reason, or "". */
static const char *last_event_message(struct env *e, const char *reason)
{
    const char *m = "";
    size_t i;
    json_t *ev;
    json_array_foreach(e->events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "reason")), reason) == 0)
            m = json_string_value(json_object_get(ev, "message"));
    }
    return m;
}

/* A registry refuses the cloud credentials kept from the last login (the token was revoked,
 * the role's policy changed, the registry was re-keyed): the pass forgets them, logs in again
 * at once and delivers (Ready=True, a Normal event says so); a registry that refuses new
 * credentials too costs one login per pass, never a loop, and the refusal is retried with the
 * slow backoff of rejected credentials; a Secret's credentials refused log in nowhere. */
static void test_provider_refused_credentials(void)
{
    struct env e;
    aws_env_delivered(&e);

    /* the first login's credentials stop working long before they expire */
    json_object_set_new(e.reg.refused, ECR, json_string("ecr-" SL_FAKE_CLOUD_PASSWORD "-1"));
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(e.res.kind, SL_RESULT_DONE);
    CHECK_STR_EQ(reg_tag(&e.reg, ECR, "mirror/app", "1.0"), DIG_A);
    CHECK_INT_EQ(sl_test_count_events(e.events, "CloudCredentialsRenewed"), 1);
    CHECK_CONTAINS(last_event_message(&e, "CloudCredentialsRenewed"),
                   "spec.targets[0] (" ECR "/mirror/app): the registry refused the cloud "
                   "credentials kept from the last login (GET https://" ECR "/v2/: 401 "
                   "unauthorized");
    CHECK_CONTAINS(last_event_message(&e, "CloudCredentialsRenewed"),
                   "logged in again as ServiceAccount " NS "/pusher");
    check_no_secret(&e);
    /* the new credentials are kept */
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");

    /* the role lost its access to the registry: one new login, then the refusal */
    json_object_set_new(e.reg.refused, ECR, json_string("*"));
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 3);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.targets[0] (" ECR "/mirror/app): GET https://" ECR "/v2/: 401 "
                   "unauthorized");
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK(e.res.requeue_after_ms >= SL_IMD_AUTH_BACKOFF_MIN_MS);
    /* each later pass: the refused credentials were not kept, one login, no second one */
    for (int i = 0; i < 3; i++) {
        reconcile(&e);
        CHECK_INT_EQ(e.cloud.calls, 4 + i);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
        CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    }
    /* the new login the registry refused too is no renewal: only the first pass's event */
    CHECK_INT_EQ(sl_test_count_events(e.events, "CloudCredentialsRenewed"), 1);
    /* the access comes back: the next pass delivers (a tag removed from the target meanwhile
     * is written again) */
    json_object_del(e.reg.refused, ECR);
    json_object_del(json_object_get(repo_of(&e.reg, ECR, "mirror/app", 0), "tags"), "1.1");
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 7);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(reg_tag(&e.reg, ECR, "mirror/app", "1.1"), DIG_B);
    check_no_secret(&e);
    env_free(&e);

    /* the new login itself is refused: that failure is told, with what the registry said */
    aws_env_delivered(&e);
    json_object_set_new(e.reg.refused, ECR, json_string("*"));
    e.cloud.rc = SL_EAUTH;
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "CloudAuthFailed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.targets[0]: AWS login as " ROLE_ARN " for ServiceAccount " NS "/pusher: ");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "(after the registry refused the credentials kept from the last login: GET "
                   "https://" ECR "/v2/: 401 unauthorized");
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    check_no_secret(&e);
    env_free(&e);

    /* a Secret's credentials refused: no cloud login, the refusal as before */
    aws_env(&e, ROLE_ARN);
    apply(&e, basic_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    json_object_set_new(e.reg.refused, DST1, json_string("*"));
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 0);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
    CHECK_INT_EQ(sl_test_count_events(e.events, "CloudCredentialsRenewed"), 0);
    env_free(&e);
}

#define ACR       "sealiftlab.azurecr.io"
#define CLIENT_ID "8a0c7b1e-5d0e-4c59-9f3e-0b6c3f7d2a11"
#define TENANT_ID "72f988bf-86f1-41af-91ab-2d7cd011db47"

/* ServiceAccount pusher, annotated with the Entra ID client and tenant (NULL: none) */
static void put_azure_sa(struct env *e, const char *client, const char *tenant)
{
    const char *const ann[] = {SL_AZURE_CLIENT_ID_ANNOTATION, client, SL_AZURE_TENANT_ID_ANNOTATION,
                               tenant, NULL};
    CHECK_INT_EQ(sl_test_put_service_account(e->fk, NS, "pusher", ann), 0);
}

/* the cloud settings and a ServiceAccount pusher with the Azure annotations client and tenant
 * (NULL: none) */
static void azure_env(struct env *e, const char *client, const char *tenant)
{
    env_seeded_with(e, &cloud_config, NULL, NULL);
    put_azure_sa(e, client, tenant);
}

static json_t *azure_spec(const char *image)
{
    json_t *spec = aws_spec(image);
    json_object_set_new(json_array_get(json_object_get(spec, "targets"), 0), "provider",
                        json_string("azure"));
    return spec;
}

/* provider: azure: the ServiceAccount's token for api://AzureADTokenExchange becomes ACR
 * credentials of the Entra ID application its annotation names, for the ACR host only, the
 * exchange made with the endpoint's certSecretRef; kept; refusals named. */
static void test_provider_azure(void)
{
    struct env e;
    azure_env(&e, CLIENT_ID, TENANT_ID);
    apply(&e, azure_spec(ACR "/mirror/app"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(e.cloud.calls, 1);
    CHECK_STR_EQ(e.cloud.token, "token:" NS ":pusher:api://AzureADTokenExchange");
    CHECK_STR_EQ(e.cloud.identity, TENANT_ID "/" CLIENT_ID);
    CHECK_STR_EQ(e.cloud.host, ACR);
    CHECK(!e.cloud.registry_ca);
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, ACR)), SL_AZURE_ACR_USER);
    check_no_secret(&e);
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 1);
    /* an ACR refresh token lives 3 hours: renewed 15 minutes before */
    e.clock += 2 * 3600 + 50 * 60;
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    env_free(&e);

    /* no tenant annotation: the controller's AZURE_TENANT_ID (NULL here); the registry's
     * certSecretRef CA goes to the exchange */
    azure_env(&e, CLIENT_ID, NULL);
    put_cert_secret(&e, "acr-ca", "../tls/ca.crt", NULL, NULL);
    json_t *spec = azure_spec(ACR "/mirror/app");
    json_object_set_new(json_array_get(json_object_get(spec, "targets"), 0), "certSecretRef",
                        json_pack("{s:s}", "name", "acr-ca"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(e.cloud.identity, "(controller's)/" CLIENT_ID);
    CHECK(e.cloud.registry_ca);
    env_free(&e);

    /* not an ACR host; an ECR host is not one either */
    static const char *const not_acr[] = {DST1 "/mirror/app", ACR ".evil.example/mirror/app",
                                          ECR "/mirror/app"};
    for (size_t i = 0; i < sizeof(not_acr) / sizeof(not_acr[0]); i++) {
        azure_env(&e, CLIENT_ID, TENANT_ID);
        apply(&e, azure_spec(not_acr[i]));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0].provider: azure: ");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       "is not an Azure Container Registry host");
        CHECK_INT_EQ(e.cloud.calls, 0);
        CHECK_INT_EQ((int)json_object_size(e.reg.users), 0);
        env_free(&e);
    }

    /* the annotations: no client ID, a client ID or tenant that is not a GUID */
    for (int i = 0; i < 3; i++) {
        azure_env(&e, i == 0 ? NULL : i == 1 ? "app" : CLIENT_ID, i == 2 ? "t" : NULL);
        apply(&e, azure_spec(ACR "/mirror/app"));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidServiceAccount");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       i == 0   ? "has no annotation azure.workload.identity/client-id"
                       : i == 1 ? "annotation azure.workload.identity/client-id: "
                                : "annotation azure.workload.identity/tenant-id: ");
        CHECK_INT_EQ(e.cloud.calls, 0);
        env_free(&e);
    }

    /* Entra ID refuses */
    azure_env(&e, CLIENT_ID, TENANT_ID);
    e.cloud.rc = SL_EAUTH;
    apply(&e, azure_spec(ACR "/mirror/app"));
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "CloudAuthFailed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.targets[0]: Azure login as client " CLIENT_ID " for ServiceAccount " NS
                   "/pusher: Entra ID https://login.microsoftonline.com/");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "AADSTS70021");
    env_free(&e);
}

#define GAR "europe-west1-docker.pkg.dev"
#define GSA "pusher@sealift-lab.iam.gserviceaccount.com"

static json_t *gcp_spec(const char *image)
{
    json_t *spec = aws_spec(image);
    json_object_set_new(json_array_get(json_object_get(spec, "targets"), 0), "provider",
                        json_string("gcp"));
    return spec;
}

/* ServiceAccount pusher, annotated with the Google service account (NULL: none) */
static void put_gcp_sa(struct env *e, const char *gsa)
{
    const char *const ann[] = {SL_GCP_SERVICE_ACCOUNT_ANNOTATION, gsa, NULL};
    CHECK_INT_EQ(sl_test_put_service_account(e->fk, NS, "pusher", ann), 0);
}

static void gcp_env(struct env *e, const char *gsa)
{
    env_seeded_with(e, &cloud_config, NULL, NULL);
    put_gcp_sa(e, gsa);
}

/* provider: gcp: the ServiceAccount's token for the cluster's workload identity pool becomes
 * an access token of the Google service account its annotation names (or of the workload
 * identity itself), for Google's registry hosts only; kept; refusals named. */
static void test_provider_gcp(void)
{
    struct env e;
    gcp_env(&e, GSA);
    apply(&e, gcp_spec(GAR "/sealift-lab/mirror/app"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(e.cloud.calls, 1);
    CHECK_STR_EQ(e.cloud.token, "token:" NS ":pusher:" SL_FAKE_CLOUD_GCP_AUDIENCE);
    CHECK_STR_EQ(e.cloud.identity, GSA);
    CHECK_STR_EQ(e.cloud.host, GAR);
    CHECK_STR_EQ(json_string_value(json_object_get(e.reg.users, GAR)), SL_GCP_REGISTRY_USER);
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 1);
    /* an hour's token: renewed 15 minutes before it ends */
    e.clock += 50 * 60;
    reconcile(&e);
    CHECK_INT_EQ(e.cloud.calls, 2);
    check_no_secret(&e);
    env_free(&e);

    /* no annotation: the workload identity's own access (direct resource access) */
    gcp_env(&e, NULL);
    apply(&e, gcp_spec("gcr.io/sealift-lab/mirror/app"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(e.cloud.identity, "(direct)");
    env_free(&e);

    /* not a Google registry host */
    static const char *const not_gar[] = {DST1 "/mirror/app", GAR ".evil.example/mirror/app",
                                          ACR "/mirror/app"};
    for (size_t i = 0; i < sizeof(not_gar) / sizeof(not_gar[0]); i++) {
        gcp_env(&e, GSA);
        apply(&e, gcp_spec(not_gar[i]));
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0].provider: gcp: ");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       "is not a Google Artifact Registry or Container Registry host");
        CHECK_INT_EQ(e.cloud.calls, 0);
        CHECK_INT_EQ((int)json_object_size(e.reg.users), 0);
        env_free(&e);
    }

    /* a malformed annotation; the controller without a workload identity pool; a refusal */
    for (int i = 0; i < 3; i++) {
        gcp_env(&e, i == 0 ? "admin@example.com" : GSA);
        e.cloud.no_gcp_audience = i == 1;
        e.cloud.rc = i == 2 ? SL_EAUTH : 0;
        apply(&e, gcp_spec(GAR "/sealift-lab/mirror/app"));
        CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"),
                     i == 0 ? "InvalidServiceAccount" : "CloudAuthFailed");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                       i == 0   ? "annotation iam.gke.io/gcp-service-account: "
                       : i == 1 ? "spec.targets[0]: Google login as " GSA " for ServiceAccount " NS
                                  "/pusher: the controller has no "
                                  "workload identity audience (GCP_WORKLOAD_IDENTITY_AUDIENCE)"
                                : "PERMISSION_DENIED");
        CHECK(json_object_get(e.reg.users, GAR) == NULL);
        env_free(&e);
    }
}

static void test_registry_errors(void)
{
    struct env e;
    env_seeded(&e);
    json_object_set_new(e.reg.fail, SRC, json_integer(SL_EAUTH));
    apply(&e, basic_spec());
    /* rejected credentials: not the queue's fast backoff (which locks accounts) but a slow
     * explicit requeue */
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_INT_EQ(e.res.requeue_after_ms, 30 * 1000);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "401");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.source.image");
    CHECK_INT_EQ(ncalls(&e.reg, "head"), 1); /* stops at the first tag */
    CHECK_INT_EQ(count_events(&e, "AuthenticationFailed"), 1);
    env_free(&e);

    /* a target's rejected credentials: asked once for all tags, then the same slow requeue */
    env_seeded(&e);
    json_object_set_new(e.reg.fail, DST1, json_integer(SL_EAUTH));
    apply(&e, basic_spec());
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_INT_EQ(e.res.requeue_after_ms, 30 * 1000);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
    CHECK_STR_EQ(reg_tag(&e.reg, DST2, "mirror/app", "1.0"), DIG_A);
    env_free(&e);

    /* a missing tag: the other one is delivered, Ready=False TagNotFound, waiting */
    env_init(&e);
    put_secrets(&e);
    reg_set_tag(&e.reg, SRC, "acme/app", "1.1", DIG_B);
    apply(&e, basic_spec());
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "TagNotFound");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "tag 1.0");
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.1"), DIG_B);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 1);
    env_free(&e);

    /* an unreachable target: asked once, the other target still gets the tags */
    env_seeded(&e);
    json_object_set_new(e.reg.fail, DST1, json_integer(SL_ERETRY));
    apply(&e, basic_spec());
    CHECK_INT_EQ(e.res.kind, SL_RESULT_TRANSIENT);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "RegistryUnavailable");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0]");
    CHECK_STR_EQ(reg_tag(&e.reg, DST2, "mirror/app", "1.1"), DIG_B);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 0);
    env_free(&e);
}

static void test_verify_gate(void)
{
    char fp_vendor[SL_KEY_FINGERPRINT_LEN], fp_other[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp_vendor, "ecdsa-p256.pub");
    fixture_fingerprint(fp_other, "ed25519.pub");
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "vendor-build", "ecdsa-p256.pub", NULL);
    reg_sign(&e.reg, SRC, "acme/app", DIG_A, fp_vendor); /* 1.0 signed by the vendor key */
    reg_sign(&e.reg, SRC, "acme/app", DIG_B, fp_other);  /* 1.1 signed by another key */
    json_t *spec = basic_spec();
    json_array_append_new(json_object_get(json_object_get(spec, "source"), "tags"),
                          json_string("2.0")); /* unsigned */
    json_object_set_new(spec, "verify", verify_spec("vendor-build"));
    apply(&e, spec);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.1") == NULL);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "2.0") == NULL);
    CHECK(reg_tag(&e.reg, DST2, "mirror/app", "2.0") == NULL);
    /* the source signature was copied along */
    CHECK_STR_EQ(reg_sig(&e.reg, DST1, "mirror/app", DIG_A), fp_vendor);
    CHECK_STR_EQ(cond_field(&e, "Verified", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Verified", "reason"), "SignatureInvalid");
    CHECK_CONTAINS(cond_field(&e, "Verified", "message"), "tag 1.1");
    CHECK_CONTAINS(cond_field(&e, "Verified", "message"), "tag 2.0");
    /* refused tags are blocked, not a failure of the delivery: 1.0 went through */
    CHECK_STR_EQ(cond_field(&e, "Blocked", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "SignatureInvalid");
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"),
                   "2 tag(s) not delivered by policy (1.1, 2.0)");
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"), "carries no signature");
    CHECK_STR_EQ(cond_field(&e, "Synced", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "1 tag(s) delivered to 2 target(s)");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "2 tag(s) blocked by policy (1.1, 2.0)");
    CHECK(json_is_true(json_object_get(image_entry(&e, 0), "verified")));
    CHECK(json_is_false(json_object_get(image_entry(&e, 1), "verified")));
    CHECK_CONTAINS(json_string_value(json_object_get(image_entry(&e, 2), "message")),
                   "no signature");
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 1);
    CHECK_INT_EQ(count_events(&e, "SignatureInvalid"), 1);
    CHECK_INT_EQ(count_events(&e, "SignatureMissing"), 1);

    /* steady state: the verified digest is not verified again; no event repeats */
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "verify"), 2); /* only the two failing tags */
    CHECK_INT_EQ(count_events(&e, "SignatureInvalid"), 1);
    CHECK_INT_EQ(count_events(&e, "SignatureMissing"), 1);
    env_free(&e);

    /* a SigningKey that does not exist yet: waiting */
    env_seeded(&e);
    spec = basic_spec();
    json_object_set_new(spec, "verify", verify_spec("missing"));
    apply(&e, spec);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SigningKeyNotFound");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.verify.authorities[0].key.signingKeyRef.name");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);
}

/* Key rotation: with two authorities a tag signed by either key is delivered; a tag signed by
 * neither is blocked and the message names both SigningKeys. */
static void test_verify_gate_any_authority(void)
{
    char fp_old[SL_KEY_FINGERPRINT_LEN], fp_new[SL_KEY_FINGERPRINT_LEN],
        fp_other[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp_old, "ecdsa-p256.pub");
    fixture_fingerprint(fp_new, "ed25519.pub");
    fixture_fingerprint(fp_other, "cosign-generated.pub");
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "release-2026", "ecdsa-p256.pub", NULL);
    put_signingkey(&e, "release-2027", "ed25519.pub", NULL);
    reg_sign(&e.reg, SRC, "acme/app", DIG_A, fp_old);   /* 1.0: the old key */
    reg_sign(&e.reg, SRC, "acme/app", DIG_B, fp_new);   /* 1.1: the new key */
    reg_sign(&e.reg, SRC, "acme/app", DIG_C, fp_other); /* 2.0: a key not listed */
    json_t *spec = basic_spec();
    json_array_append_new(json_object_get(json_object_get(spec, "source"), "tags"),
                          json_string("2.0"));
    json_object_set_new(spec, "verify",
                        json_pack("{s:[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}]}", "authorities",
                                  "name", "old", "key", "signingKeyRef", "name", "release-2026",
                                  "name", "new", "key", "signingKeyRef", "name", "release-2027"));
    apply(&e, spec);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.1"), DIG_B);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "2.0") == NULL);
    CHECK(json_is_true(json_object_get(image_entry(&e, 0), "verified")));
    CHECK(json_is_true(json_object_get(image_entry(&e, 1), "verified")));
    CHECK(json_is_false(json_object_get(image_entry(&e, 2), "verified")));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "SignatureInvalid");
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"),
                   "no valid signature by one of SigningKeys \"release-2026\", \"release-2027\"");
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 2);

    /* steady state: both verified digests are known to this process, whichever key it was */
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "verify"), 1); /* only 2.0 */

    /* the old key leaves the list: 1.0 no longer verifies */
    spec = basic_spec();
    json_object_set_new(spec, "verify", verify_spec("release-2027"));
    apply(&e, spec);
    CHECK(json_is_false(json_object_get(image_entry(&e, 0), "verified")));
    CHECK(json_is_true(json_object_get(image_entry(&e, 1), "verified")));
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"),
                   "no valid signature by SigningKey \"release-2027\"");
    env_free(&e);

    /* an authority whose SigningKey does not exist fails the object, naming which one */
    env_seeded(&e);
    put_signingkey(&e, "release-2026", "ecdsa-p256.pub", NULL);
    spec = basic_spec();
    json_object_set_new(spec, "verify",
                        json_pack("{s:[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}]}", "authorities",
                                  "name", "old", "key", "signingKeyRef", "name", "release-2026",
                                  "name", "new", "key", "signingKeyRef", "name", "missing"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SigningKeyNotFound");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                   "spec.verify.authorities[1].key.signingKeyRef.name: SigningKey \"missing\"");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);
}

/* The verify gate decides from what this process verified, never from status: a status forged
 * to say "verified" does not let an unsigned tag through, and a key rotated in the SigningKey
 * re-checks every digest. */
static void test_verify_gate_trusts_no_status(void)
{
    char fp_vendor[SL_KEY_FINGERPRINT_LEN], fp_other[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp_vendor, "ecdsa-p256.pub");
    fixture_fingerprint(fp_other, "ed25519.pub");
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "vendor-build", "ecdsa-p256.pub", NULL);
    reg_sign(&e.reg, SRC, "acme/app", DIG_A, fp_vendor); /* 1.0 signed by the vendor key */
    reg_sign(&e.reg, SRC, "acme/app", DIG_B, fp_other);  /* 1.1 by another key */
    json_t *spec = basic_spec();
    json_object_set_new(spec, "verify", verify_spec("vendor-build"));
    apply(&e, spec);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.1") == NULL);

    /* someone who may write status marks 1.1 verified */
    json_t *obj = json_deep_copy(imd(&e));
    json_t *images = json_object_get(json_object_get(obj, "status"), "images");
    json_object_set_new(json_array_get(images, 1), "verified", json_true());
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(images, 1), "tag")), "1.1");
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_IMAGEDELIVERY, obj), 0);
    json_decref(obj);
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "verify"), 1); /* 1.1 checked again; 1.0 known to this process */
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.1") == NULL);
    CHECK(json_is_false(json_object_get(image_entry(&e, 1), "verified")));
    CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "SignatureInvalid");

    /* the key is rotated: both digests are verified again, with the new key */
    put_signingkey(&e, "vendor-build", "ed25519.pub", NULL);
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "verify"), 2);
    CHECK(json_is_false(json_object_get(image_entry(&e, 0), "verified")));
    CHECK(json_is_true(json_object_get(image_entry(&e, 1), "verified")));
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.1"), DIG_B);
    env_free(&e);
}

/* insecure: true reaches only registries the administrator listed with --insecure-registry;
 * otherwise the object stalls before anything is sent. spec.interval is raised to
 * --min-interval. */
static void test_insecure_needs_the_administrator(void)
{
    static const char *const only_src[] = {SRC};
    struct sl_controller_config strict = {.insecure_registries = only_src,
                                          .n_insecure_registries = 1,
                                          .min_interval_ms = 5 * 60 * 1000};
    struct env e;
    env_seeded_with(&e, &strict, NULL, NULL);
    put_imd(&e, basic_spec()); /* every endpoint insecure: true */
    reconcile(&e);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_STALLED);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InsecureRegistryNotAllowed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0].insecure");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), DST1);
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "--insecure-registry");
    CHECK_INT_EQ(ncalls(&e.reg, "head"), 0);
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);

    /* secure targets are fine; the 2m interval is raised to the 5m minimum */
    env_seeded_with(&e, &strict, NULL, NULL);
    json_t *spec = basic_spec();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(spec, "targets"), i, t)
    {
        json_object_del(t, "insecure");
    }
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    CHECK_INT_EQ(e.res.requeue_after_ms, 5 * 60 * 1000);
    env_free(&e);

    /* TLS without verification is as much the administrator's call as plain http */
    env_seeded_with(&e, &strict, NULL, NULL);
    spec = basic_spec();
    json_array_foreach(json_object_get(spec, "targets"), i, t)
    {
        json_object_del(t, "insecure");
        json_object_set_new(t, "insecureSkipTLSVerify", json_true());
    }
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InsecureRegistryNotAllowed");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.targets[0].insecureSkipTLSVerify");
    CHECK_INT_EQ(ncalls(&e.reg, "head"), 0);
    env_free(&e);
}

/* A registry that stalls: the pass ends at the --registry-timeout deadline, TRANSIENT, with a
 * message naming the registry and the limit. */
static void test_registry_deadline(void)
{
    struct sl_controller_config cc = lab_config;
    cc.registry_timeout_ms = 20;
    struct env e;
    env_seeded_with(&e, &cc, NULL, NULL);
    put_imd(&e, basic_spec());
    e.reg.stall_ms = 40;
    reconcile(&e);
    CHECK(e.reg.seen_deadline_ms > 0);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_TRANSIENT);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "RegistryTimeout");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "--registry-timeout");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), SRC);
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    CHECK_INT_EQ(sl_registry_deadline_get(), 0); /* the worker thread is left without one */
    env_free(&e);
}

/* --image-parallel-copies reaches every copy of a delivery; without it the copy engine's
 * default applies (0). */
static void test_image_parallel_copies(void)
{
    for (int n = 0; n <= 6; n += 6) { /* 0: the flag not given */
        struct sl_controller_config cc = lab_config;
        cc.image_parallel_copies = n;
        struct env e;
        env_seeded_with(&e, &cc, NULL, NULL);
        apply(&e, basic_spec());
        CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
        CHECK(ncalls(&e.reg, "copy") > 0);
        CHECK_INT_EQ(e.reg.seen_concurrency, n);
        env_free(&e);
    }
}

static void test_sign_in_every_target(void)
{
    char fp_release[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp_release, "ecdsa-p256.pub");
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    apply(&e, signed_by(basic_spec(), "vendor-release"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
    CHECK_INT_EQ(ncalls(&e.reg, "sign"), 4);
    CHECK_STR_EQ(reg_sig(&e.reg, DST2, "mirror/app", DIG_B "#signed"), fp_release);
    CHECK_INT_EQ(status_int(&e, "status.summary.signed"), 2);
    json_t *t = json_array_get(json_object_get(image_entry(&e, 1), "targets"), 1);
    CHECK(json_is_true(json_object_get(t, "signed")));
    /* steady state: not signed again */
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "sign"), 0);
    env_free(&e);

    /* a VerifyOnly key cannot sign */
    env_seeded(&e);
    json_t *sk = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "sealift.dev/v1beta1",
                           "kind", "SigningKey", "metadata", "name", "pub-only", "namespace", NS,
                           "spec", "mode", "VerifyOnly");
    sl_fake_kube_put(e.fk, &SL_RES_SIGNINGKEY, sk);
    json_decref(sk);
    apply(&e, signed_by(basic_spec(), "pub-only"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSigningKey");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.sign.signingKeyRef.name");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0); /* nothing delivered that could not be signed */
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.0") == NULL);
    env_free(&e);
}

/* A SigningKey Secret as cosign writes it (a key the real cosign generated, with its password
 * in cosign.password) signs; a wrong password stops the delivery with a message saying so. */
static void test_sign_with_cosign_encrypted_key(void)
{
    char fp[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp, "cosign-generated.pub");
    const char *passwords[] = {"test-only", "wrong-password"};
    for (int i = 0; i < 2; i++) {
        struct env e;
        env_seeded(&e);
        put_signingkey(&e, "vendor-release", "cosign-generated.pub", "cosign-generated.key");
        json_t *secret =
            json_deep_copy(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "vendor-release-key"));
        char *pw = b64(passwords[i], strlen(passwords[i]));
        json_object_set_new(json_object_get(secret, "data"), "cosign.password", json_string(pw));
        free(pw);
        CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_SECRET, secret), 0);
        json_decref(secret);
        apply(&e, signed_by(basic_spec(), "vendor-release"));
        if (i == 0) {
            CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
            CHECK_INT_EQ(ncalls(&e.reg, "sign"), 4);
            CHECK_STR_EQ(reg_sig(&e.reg, DST1, "mirror/app", DIG_A "#signed"), fp);
        } else {
            CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSigningKey");
            CHECK_CONTAINS(cond_field(&e, "Ready", "message"),
                           "spec.sign.signingKeyRef.name: SigningKey \"vendor-release\": private "
                           "key: cannot decrypt the cosign private key: wrong password");
            CHECK(strstr(cond_field(&e, "Ready", "message"), "wrong-password") == NULL);
            CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
        }
        env_free(&e);
    }
}

/* The ImageDelivery "app" delivering the basic spec's tags to repo in both targets, signed with
 * SigningKey vendor-release (replacing the object and its status). */
static void put_signed_delivery_to(struct env *e, const char *repo)
{
    json_t *spec = basic_spec();
    json_t *targets = json_object_get(spec, "targets");
    char image[256];
    snprintf(image, sizeof(image), "%s/%s", DST1, repo);
    json_object_set_new(json_array_get(targets, 0), "image", json_string(image));
    snprintf(image, sizeof(image), "%s/%s", DST2, repo);
    json_object_set_new(json_array_get(targets, 1), "image", json_string(image));
    put_imd(e, signed_by(spec, "vendor-release"));
}

/* A signing key is opened once per version of its Secret (a cosign-format key costs an scrypt):
 * the same resourceVersion signs with the key already opened, an edited Secret (new
 * resourceVersion) is opened again and its new key signs. */
static void test_signing_key_opened_once_per_secret_version(void)
{
    char fp_release[SL_KEY_FINGERPRINT_LEN], fp_other[SL_KEY_FINGERPRINT_LEN];
    fixture_fingerprint(fp_release, "ecdsa-p256.pub");
    fixture_fingerprint(fp_other, "ed25519.pub");
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    put_signed_delivery_to(&e, "mirror/one");
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
    CHECK_STR_EQ(reg_sig(&e.reg, DST1, "mirror/one", DIG_A "#signed"), fp_release);

    /* same resourceVersion, content no longer readable: the key opened for it still signs */
    json_t *secret =
        json_deep_copy(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "vendor-release-key"));
    char *junk = b64("not a key", 9);
    json_object_set_new(json_object_get(secret, "data"), "cosign.key", json_string(junk));
    free(junk);
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_SECRET, secret), 0);
    json_decref(secret);
    put_signed_delivery_to(&e, "mirror/two");
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
    CHECK_STR_EQ(reg_sig(&e.reg, DST1, "mirror/two", DIG_A "#signed"), fp_release);

    /* the Secret is edited (a new resourceVersion) with another key: that key signs */
    char *key = read_fixture("ed25519.key");
    char *enc = b64(key, strlen(key));
    secret = json_deep_copy(sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "vendor-release-key"));
    json_object_set_new(json_object_get(secret, "data"), "cosign.key", json_string(enc));
    json_object_set_new(json_object_get(secret, "metadata"), "resourceVersion",
                        json_string("edited-1"));
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_SECRET, secret), 0);
    json_decref(secret);
    free(enc);
    free(key);
    put_signed_delivery_to(&e, "mirror/three");
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
    CHECK_STR_EQ(reg_sig(&e.reg, DST1, "mirror/three", DIG_A "#signed"), fp_other);
    env_free(&e);
}

#define BUNDLE_T "application/vnd.dev.sigstore.bundle.v0.3+json"
#define SBOM_T   "application/spdx+json"

/* The referrers of a delivered digest go along to every target, counted in status; in steady
 * state one source request per tag and target, and a copy only when the source's list changed. */
static void test_referrers_go_along(void)
{
    struct env e;
    env_seeded(&e);
    json_t *src_refs = reg_refs(&e.reg, SRC, "acme/app", DIG_A, 1);
    json_array_append_new(src_refs, json_string(BUNDLE_T));
    json_array_append_new(src_refs, json_string(SBOM_T));
    apply(&e, basic_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(ncalls(&e.reg, "copy_referrers"), 4);
    CHECK_INT_EQ((int)json_array_size(reg_refs(&e.reg, DST2, "mirror/app", DIG_A, 0)), 2);
    json_t *t = json_array_get(json_object_get(image_entry(&e, 0), "targets"), 1);
    json_t *refs = json_object_get(t, "referrers");
    CHECK_INT_EQ(json_integer_value(json_object_get(refs, "count")), 2);
    CHECK_INT_EQ(
        json_integer_value(json_object_get(json_object_get(refs, "byArtifactType"), SBOM_T)), 1);
    CHECK_INT_EQ(status_int(&e, "status.referrersTotal"), 4);

    /* steady state: one referrers request per tag and target, no copy, one status write that
     * moves lastCheckTime only */
    int writes = sl_fake_kube_writes(e.fk);
    json_t *before = json_deep_copy(json_object_get(imd(&e), "status"));
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "referrers_digest"), 4);
    CHECK_INT_EQ(ncalls(&e.reg, "copy_referrers"), 0);
    check_one_write_moving_last_check(&e, writes, before, "2026-11-30T08:02:00Z");
    json_decref(before);

    /* the vendor attests 1.0 after it was delivered: it follows, to both targets */
    json_array_append_new(src_refs, json_string(BUNDLE_T));
    json_object_clear(e.reg.calls);
    reconcile(&e);
    CHECK_INT_EQ(ncalls(&e.reg, "copy_referrers"), 2);
    CHECK_INT_EQ((int)json_array_size(reg_refs(&e.reg, DST1, "mirror/app", DIG_A, 0)), 5);
    CHECK_INT_EQ(status_int(&e, "status.referrersTotal"), 6);
    env_free(&e);

    /* only the artifactTypes asked for */
    env_seeded(&e);
    src_refs = reg_refs(&e.reg, SRC, "acme/app", DIG_A, 1);
    json_array_append_new(src_refs, json_string(BUNDLE_T));
    json_array_append_new(src_refs, json_string(SBOM_T));
    json_t *spec = basic_spec();
    json_object_set_new(spec, "referrers", json_pack("{s:[s]}", "artifactTypes", SBOM_T));
    apply(&e, spec);
    json_t *got = reg_refs(&e.reg, DST1, "mirror/app", DIG_A, 0);
    CHECK_INT_EQ((int)json_array_size(got), 1);
    CHECK_STR_EQ(json_string_value(json_array_get(got, 0)), SBOM_T);
    env_free(&e);

    /* none */
    env_seeded(&e);
    json_array_append_new(reg_refs(&e.reg, SRC, "acme/app", DIG_A, 1), json_string(BUNDLE_T));
    spec = basic_spec();
    json_object_set_new(spec, "referrers", json_pack("{s:b}", "copy", 0));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(ncalls(&e.reg, "copy_referrers"), 0);
    CHECK(reg_refs(&e.reg, DST1, "mirror/app", DIG_A, 0) == NULL);
    CHECK(json_object_get(json_array_get(json_object_get(image_entry(&e, 0), "targets"), 0),
                          "referrers") == NULL);
    env_free(&e);
}

/* spec.sign.format: legacy (default), bundle, both; anything else is InvalidSpec. */
static void test_sign_format(void)
{
    static const struct {
        const char *format;
        int legacy, bundle;
    } cases[] = {{"bundle", 0, 4}, {"both", 4, 4}, {"legacy", 4, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env e;
        env_seeded(&e);
        put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
        json_t *spec = basic_spec();
        json_object_set_new(spec, "sign",
                            json_pack("{s:{s:s}, s:s}", "signingKeyRef", "name", "vendor-release",
                                      "format", cases[i].format));
        apply(&e, spec);
        CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
        CHECK_INT_EQ(ncalls(&e.reg, "sign"), cases[i].legacy);
        CHECK_INT_EQ(ncalls(&e.reg, "sign_bundle"), cases[i].bundle);
        CHECK_INT_EQ(status_int(&e, "status.summary.signed"), 2);
        env_free(&e);
    }
    struct env e;
    env_seeded(&e);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    json_t *spec = basic_spec();
    json_object_set_new(spec, "sign",
                        json_pack("{s:{s:s}, s:s}", "signingKeyRef", "name", "vendor-release",
                                  "format", "sigstore"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.sign.format");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "\"sigstore\"");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);
}

/* ---- scan gate ---- */

static void collect(void *qctx, const char *ns, const char *name)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    json_array_append_new(qctx, json_string(key));
}

struct gate_ctx {
    int rc; /* what the gate answers */
    /* when set, the ScanPolicy "default" becomes Ready while the gate answers "waiting": its
     * watch event goes through r's map_secondary, which queues into queued */
    struct sl_reconciler *r;
    json_t *queued;
    int calls;
    bool arm64_bad;      /* every index's arm64 image fails (scanned unless filtered out) */
    bool all_bad;        /* every digest fails (a new advisory database) */
    char platforms[200]; /* the platform filter of the last call, ","-joined */
};

static int fake_scan(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                     struct sl_registry *src, const char *repo, const char *digest,
                     const char *const *platforms, size_t n_platforms, json_t **out_summary,
                     struct sl_err *err)
{
    struct gate_ctx *g = ctx;
    g->calls++;
    g->platforms[0] = '\0';
    bool scans_arm64 = n_platforms == 0;
    for (size_t i = 0; i < n_platforms; i++) {
        size_t len = strlen(g->platforms);
        snprintf(g->platforms + len, sizeof(g->platforms) - len, "%s%s", i ? "," : "",
                 platforms[i]);
        if (strcmp(platforms[i], "linux/arm64") == 0)
            scans_arm64 = true;
    }
    if (g->rc == SL_SCAN_GATE_WAITING && g->r) {
        json_t *policy =
            json_pack("{s:{s:s, s:s}}", "metadata", "name", policy_name, "namespace", ns);
        g->r->map_secondary(g->r->self, &SL_RES_SCANPOLICY, policy, collect, g->queued);
        json_decref(policy);
    }
    if (g->rc == SL_SCAN_GATE_WAITING)
        return sl_err_set(err, g->rc, SL_ERRC_INPUT, "ScanPolicy \"%s\" is not Ready", policy_name);
    bool fail = (g->rc == SL_SCAN_GATE_BLOCKED && strcmp(digest, DIG_B) == 0) ||
                (g->arm64_bad && scans_arm64) || g->all_bad;
    *out_summary =
        json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "result", fail ? "Failed" : "Passed",
                  "critical", fail ? 1 : 0, "high", 2, "medium", 0, "low", 3, "unknown", 0);
    if (fail)
        return sl_err_set(err, SL_SCAN_GATE_BLOCKED, SL_ERRC_INPUT,
                          "1 Critical finding: CVE-2024-0001 in openssl");
    return 0;
}

static void test_scan_gate(void)
{
    /* no gate installed: blocked safely */
    struct env e;
    env_seeded(&e);
    apply(&e, scan_spec());
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    CHECK_STR_EQ(cond_field(&e, "Scanned", "status"), "Unknown");
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScannerUnavailable");
    CHECK_STR_EQ(cond_field(&e, "Synced", "status"), "False");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "scanning is not available");
    CHECK_INT_EQ(status_int(&e, "status.summary.scanned"), 2); /* both with result Error */
    CHECK_INT_EQ(status_int(&e, "status.summary.blocked"), 0);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 0);
    env_free(&e);

    /* a gate that blocks 1.1 */
    struct gate_ctx g = {.rc = SL_SCAN_GATE_BLOCKED};
    struct sl_scan_gate gate = {.ctx = &g, .scan = fake_scan};
    env_seeded_gate(&e, &gate);
    apply(&e, scan_spec());
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), DIG_A);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.1") == NULL);
    CHECK_STR_EQ(cond_field(&e, "Scanned", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScanFailed");
    CHECK_CONTAINS(cond_field(&e, "Scanned", "message"), "CVE-2024-0001");
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "ScanFailed");
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"), "(1.1)");
    CHECK_INT_EQ(status_int(&e, "status.summary.scanned"), 2);
    CHECK_INT_EQ(status_int(&e, "status.summary.blocked"), 1);
    CHECK_INT_EQ(status_int(&e, "status.summary.delivered"), 1);
    json_t *scan = json_object_get(image_entry(&e, 0), "scan");
    CHECK_STR_EQ(json_string_value(json_object_get(scan, "result")), "Passed");
    CHECK_INT_EQ(json_integer_value(json_object_get(scan, "high")), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(scan, "policy")), "default");
    env_free(&e);

    /* all pass */
    g = (struct gate_ctx){.rc = 0};
    env_seeded_gate(&e, &gate);
    apply(&e, scan_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Scanned", "status"), "True");
    CHECK_INT_EQ(status_int(&e, "status.summary.scanned"), 2);
    CHECK_INT_EQ(status_int(&e, "status.summary.blocked"), 0);
    env_free(&e);

    /* policy not ready: waiting, nothing copied */
    g = (struct gate_ctx){.rc = SL_SCAN_GATE_WAITING};
    env_seeded_gate(&e, &gate);
    apply(&e, scan_spec());
    CHECK_INT_EQ(e.res.kind, SL_RESULT_WAITING);
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScanPolicyNotReady");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    env_free(&e);
}

/* With spec.platforms the gate is asked about exactly the delivered platforms: a vulnerable
 * arm64 image does not block an amd64-only delivery, and blocks the unfiltered one. */
static void test_scan_gate_platforms(void)
{
    struct gate_ctx g = {.arm64_bad = true};
    struct sl_scan_gate gate = {.ctx = &g, .scan = fake_scan};
    struct env e;
    env_seeded_gate(&e, &gate);
    json_t *spec = scan_spec();
    json_object_set_new(spec, "platforms", json_pack("[s]", "linux/amd64"));
    apply(&e, spec);
    CHECK_STR_EQ(g.platforms, "linux/amd64");
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "Passed");
    CHECK_INT_EQ(status_int(&e, "status.summary.blocked"), 0);
    const char *delivered = reg_tag(&e.reg, DST1, "mirror/app", "1.0");
    CHECK(delivered != NULL && strcmp(delivered, DIG_A) != 0); /* the filtered index */
    env_free(&e);

    /* the same source without the filter: the arm64 image is scanned and blocks */
    g = (struct gate_ctx){.arm64_bad = true};
    env_seeded_gate(&e, &gate);
    apply(&e, scan_spec());
    CHECK_STR_EQ(g.platforms, "");
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScanFailed");
    CHECK_CONTAINS(cond_field(&e, "Scanned", "message"), "not delivered");
    CHECK_INT_EQ(ncalls(&e.reg, "copy"), 0);
    CHECK(reg_tag(&e.reg, DST1, "mirror/app", "1.0") == NULL);
    env_free(&e);
}

/* A filtered delivery that a rescan (a new database) blocks afterwards is said to be already
 * delivered, on every later pass too; a tag that moved to a blocked digest is not. */
static void test_scan_gate_platforms_rescan(void)
{
    struct gate_ctx g = {0};
    struct sl_scan_gate gate = {.ctx = &g, .scan = fake_scan};
    struct env e;
    env_seeded_gate(&e, &gate);
    json_t *spec = scan_spec();
    json_object_set_new(spec, "platforms", json_pack("[s]", "linux/amd64"));
    apply(&e, spec);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    char delivered[72];
    snprintf(delivered, sizeof(delivered), "%s", reg_tag(&e.reg, DST1, "mirror/app", "1.0"));
    g.all_bad = true;
    for (int pass = 0; pass < 2; pass++) {
        reconcile(&e);
        CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScanFailed");
        CHECK_CONTAINS(cond_field(&e, "Scanned", "message"), "already delivered");
        CHECK(strstr(cond_field(&e, "Scanned", "message"), "not delivered") == NULL);
        CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), delivered);
        json_t *t0 = json_array_get(json_object_get(image_entry(&e, 0), "targets"), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(t0, "digest")), delivered);
        CHECK_STR_EQ(g.platforms, "linux/amd64");
    }
    /* the vendor moves 1.0 to a digest that fails: not delivered, on every pass */
    reg_set_tag(&e.reg, SRC, "acme/app", "1.0", DIG_C);
    for (int pass = 0; pass < 2; pass++) {
        reconcile(&e);
        CHECK_CONTAINS(cond_field(&e, "Scanned", "message"), DIG_C " fails");
        json_t *img = image_entry(&e, 0);
        CHECK_CONTAINS(json_string_value(json_object_get(img, "message")), "not delivered");
        CHECK(strstr(json_string_value(json_object_get(img, "message")), "already delivered") ==
              NULL);
        CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.0"), delivered);
    }
    env_free(&e);
}

/* A ScanPolicy that becomes Ready while the first pass of a new ImageDelivery waits on it
 * queues the delivery again (the queue runs it after this pass), instead of leaving it
 * ScanPolicyNotReady until the 30 s retry. */
static void test_policy_ready_during_first_pass_requeues(void)
{
    struct env e;
    struct gate_ctx g = {.rc = SL_SCAN_GATE_WAITING, .queued = json_array()};
    struct sl_scan_gate gate = {.ctx = &g, .scan = fake_scan};
    env_seeded_gate(&e, &gate);
    g.r = e.r;
    apply(&e, scan_spec());
    CHECK_STR_EQ(cond_field(&e, "Scanned", "reason"), "ScanPolicyNotReady");
    CHECK(json_array_size(g.queued) >= 1);
    CHECK_STR_EQ(json_string_value(json_array_get(g.queued, 0)), NS "/app");
    /* the pass that the event queued delivers */
    g.rc = 0;
    g.r = NULL;
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    json_decref(g.queued);
    env_free(&e);
}

/* With a tag blocked by the scan, a new failure (a target rejecting the credentials) owns Ready
 * and gets its own event, once; Blocked keeps listing the tag; conditions that no longer apply
 * go; Signed is never True for nothing signed. */
static void test_status_names_the_useful_problem(void)
{
    struct gate_ctx g = {.rc = SL_SCAN_GATE_BLOCKED};
    struct sl_scan_gate gate = {.ctx = &g, .scan = fake_scan};
    struct env e;
    env_seeded_gate(&e, &gate);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    apply(&e, signed_by(scan_spec(), "vendor-release"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "ScanFailed");
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "True");
    CHECK_CONTAINS(cond_field(&e, "Signed", "message"), "1 tag(s) signed");
    CHECK_INT_EQ(count_events(&e, "ScanFailed"), 1);
    CHECK_INT_EQ(count_events(&e, "Ready"), 1);

    /* the customer's registry starts rejecting the push credentials */
    json_object_set_new(e.reg.fail, DST1, json_integer(SL_EAUTH));
    for (int pass = 0; pass < 2; pass++) {
        reconcile(&e);
        CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
        CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "AuthenticationFailed");
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), DST1);
        CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "also 1 tag(s) blocked (1.1)");
        CHECK_STR_EQ(cond_field(&e, "Synced", "reason"), "AuthenticationFailed");
        CHECK_STR_EQ(cond_field(&e, "Blocked", "reason"), "ScanFailed");
        /* one event for the new failure, not one per pass; none again for the blocked tag */
        CHECK_INT_EQ(count_events(&e, "AuthenticationFailed"), 1);
        CHECK_INT_EQ(count_events(&e, "ScanFailed"), 1);
    }
    /* fixed: Ready again; then the vulnerable tag is fixed too and Blocked goes away */
    json_object_del(e.reg.fail, DST1);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Delivered");
    CHECK_INT_EQ(count_events(&e, "Ready"), 2);
    g.rc = 0;
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "message"), "2 tag(s) delivered to 2 target(s)");
    CHECK(cond_field(&e, "Blocked", "status") == NULL);
    CHECK_STR_EQ(reg_tag(&e.reg, DST1, "mirror/app", "1.1"), DIG_B);
    env_free(&e);

    /* every tag blocked: nothing was delivered, so neither Ready nor Signed says success */
    g = (struct gate_ctx){.all_bad = true};
    env_seeded_gate(&e, &gate);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    apply(&e, signed_by(scan_spec(), "vendor-release"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "ScanFailed");
    CHECK_STR_EQ(cond_field(&e, "Synced", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "Unknown");
    CHECK_STR_EQ(cond_field(&e, "Signed", "reason"), "NothingSigned");
    CHECK_CONTAINS(cond_field(&e, "Blocked", "message"), "2 tag(s) not delivered by policy");
    /* the scan policy leaves the spec while the Secret is missing: Scanned and Blocked go */
    delete_pull_secret(&e);
    json_t *obj = json_deep_copy(imd(&e));
    json_object_del(json_object_get(obj, "spec"), "scanPolicyRef");
    sl_fake_kube_put(e.fk, &SL_RES_IMAGEDELIVERY, obj);
    json_decref(obj);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "SecretNotFound");
    CHECK(cond_field(&e, "Scanned", "status") == NULL);
    CHECK(cond_field(&e, "Blocked", "status") == NULL);
    env_free(&e);
}

/* ---- attestations (spec.sign.attestations) through a fake attestation gate ---- */

struct attest_ctx {
    int rc;     /* what the gate answers */
    bool due;   /* what vuln_due answers */
    bool no_db; /* the policy has no advisory database: no report, never due */
    int calls;
    struct sl_attest_request last; /* its strings are borrowed: see policy */
    char policy[64];
    char digests[512]; /* the digests attested, " "-joined */
};

static int fake_attest(void *ctx, struct sl_registry *reg, const char *repo,
                       const char *subject_name, const char *digest,
                       const struct sl_attest_request *req, char revision_out[128],
                       size_t *images_out, struct sl_err *err)
{
    (void)reg;
    (void)repo;
    (void)subject_name;
    struct attest_ctx *a = ctx;
    a->calls++;
    a->last = *req;
    snprintf(a->policy, sizeof(a->policy), "%s", req->policy_name ? req->policy_name : "");
    size_t l = strlen(a->digests);
    snprintf(a->digests + l, sizeof(a->digests) - l, "%s ", digest);
    if (a->rc)
        return sl_err_set(err, a->rc, SL_ERRC_REGISTRY, "registry answered 503");
    snprintf(revision_out, 128, "%s", req->vuln && !a->no_db ? "sha256:db1" : "");
    *images_out = 1;
    return 0;
}

static bool fake_vuln_due(void *ctx, const char *ns, const char *policy_name, const char *revision,
                          time_t attested_at, time_t now)
{
    (void)ns;
    (void)policy_name;
    (void)attested_at;
    (void)now;
    struct attest_ctx *a = ctx;
    return !a->no_db && (a->due || !revision || strcmp(revision, "sha256:db1") != 0);
}

static const json_t *target_attestations(struct env *e, size_t img, size_t t)
{
    return json_object_get(json_array_get(json_object_get(image_entry(e, img), "targets"), t),
                           "attestations");
}

/* Every delivered digest gets an SPDX SBOM in every target once, after signing, and status says
 * when; steady passes write nothing; a ScanPolicy adds a vulnerability report, rewritten alone
 * when a rescan is due; a failing write is Signed=False AttestationFailed; a bad setting is an
 * InvalidSpec naming the field. */
static void test_attestations(void)
{
    struct attest_ctx a = {0};
    struct sl_attest_gate ag = {.ctx = &a, .attest = fake_attest, .vuln_due = fake_vuln_due};
    struct gate_ctx g = {.rc = 0};
    struct sl_scan_gate sg = {.ctx = &g, .scan = fake_scan};
    struct env e;
    env_seeded_with(&e, &lab_config, &sg, &ag);
    put_signingkey(&e, "vendor-release", "ecdsa-p256.pub", "ecdsa-p256.key");
    apply(&e, signed_by(basic_spec(), "vendor-release"));
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    CHECK_INT_EQ(a.calls, 4); /* 2 tags x 2 targets */
    CHECK(a.last.sbom && !a.last.sbom_cyclonedx && !a.last.vuln);
    CHECK(a.last.tag && !a.last.referrer);
    CHECK(a.last.key != NULL);
    CHECK_CONTAINS(a.digests, DIG_A);
    CHECK_CONTAINS(a.digests, DIG_B);
    const json_t *att = target_attestations(&e, 1, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(att, "sbom")), "spdx");
    CHECK(json_is_false(json_object_get(att, "vuln")));
    CHECK(json_string_value(json_object_get(att, "attestedAt")) != NULL);
    CHECK_INT_EQ((int)json_integer_value(json_object_get(att, "images")), 1);
    a.calls = 0;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 0);
    CHECK(target_attestations(&e, 0, 0) != NULL);

    /* with a ScanPolicy: a vulnerability report joins (and CycloneDX replaces SPDX) */
    json_t *sign = json_pack("{s:{s:s}, s:{s:s}}", "signingKeyRef", "name", "vendor-release",
                             "attestations", "sbom", "cyclonedx");
    edit_spec(&e, "sign", sign);
    edit_spec(&e, "scanPolicyRef", json_pack("{s:s}", "name", "default"));
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 4);
    CHECK(a.last.sbom && a.last.sbom_cyclonedx && a.last.vuln);
    CHECK_STR_EQ(a.policy, "default");
    att = target_attestations(&e, 0, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(att, "database")), "sha256:db1");
    CHECK(json_string_value(json_object_get(att, "vulnAttestedAt")) != NULL);
    a.calls = 0;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 0);
    /* a rescan is due: only the report is written again */
    a.due = true;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 4);
    CHECK(!a.last.sbom && a.last.vuln);
    a.due = false;

    /* a policy without advisories: the SBOM alone, status says why, nothing due later */
    a.no_db = true;
    a.calls = 0;
    edit_spec(&e, "sign", json_pack("{s:{s:s}}", "signingKeyRef", "name", "vendor-release"));
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 4);
    CHECK(a.last.vuln && a.last.vuln_optional);
    att = target_attestations(&e, 0, 0);
    CHECK_CONTAINS(json_string_value(json_object_get(att, "vulnMessage")), "no advisory database");
    CHECK(json_object_get(att, "vulnAttestedAt") == NULL);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    a.calls = 0;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 0);
    a.no_db = false;

    /* the registry fails: the earlier record stays, Signed=False says which digest */
    a.rc = SL_ERETRY;
    a.calls = 0;
    a.due = true;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 4);
    CHECK_STR_EQ(cond_field(&e, "Signed", "status"), "False");
    CHECK_STR_EQ(cond_field(&e, "Signed", "reason"), "AttestationFailed");
    CHECK_CONTAINS(cond_field(&e, "Signed", "message"), "attesting sha256:");
    CHECK(target_attestations(&e, 0, 0) != NULL);
    a.rc = 0;
    a.due = false;

    /* sbom none without a ScanPolicy: nothing to attest */
    edit_spec(&e, "sign",
              json_pack("{s:{s:s}, s:{s:s}}", "signingKeyRef", "name", "vendor-release",
                        "attestations", "sbom", "none"));
    json_object_del(json_object_get(imd(&e), "spec"), "scanPolicyRef");
    a.calls = 0;
    reconcile(&e);
    CHECK_INT_EQ(a.calls, 0);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");

    /* invalid settings */
    edit_spec(&e, "sign",
              json_pack("{s:{s:s}, s:{s:s}}", "signingKeyRef", "name", "vendor-release",
                        "attestations", "sbom", "syft"));
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.sign.attestations.sbom");
    edit_spec(&e, "sign",
              json_pack("{s:{s:s}, s:{s:b}}", "signingKeyRef", "name", "vendor-release",
                        "attestations", "vuln", 1));
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSpec");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.sign.attestations.vuln");
    CHECK_CONTAINS(cond_field(&e, "Ready", "message"), "spec.scanPolicyRef");
    env_free(&e);
}

static void test_suspend(void)
{
    struct env e;
    env_seeded(&e);
    json_t *spec = basic_spec();
    json_object_set_new(spec, "suspend", json_true());
    apply(&e, spec);
    CHECK_INT_EQ(e.res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(e.res.requeue_after_ms, 0);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "Unknown");
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "Suspended");
    CHECK_INT_EQ(ncalls(&e.reg, "head"), 0);
    env_free(&e);
}

static void test_secondary_watches(void)
{
    struct env e;
    env_seeded(&e);
    json_t *spec = basic_spec();
    json_object_set_new(spec, "verify", verify_spec("vk"));
    apply(&e, spec); /* waits for the SigningKey, but remembers what it references */
    json_t *q = json_array();
    json_t *pull = json_pack("{s:{s:s, s:s}}", "metadata", "name", "pull", "namespace", NS);
    json_t *other = json_pack("{s:{s:s, s:s}}", "metadata", "name", "other", "namespace", NS);
    json_t *pull_elsewhere =
        json_pack("{s:{s:s, s:s}}", "metadata", "name", "pull", "namespace", "customer");
    json_t *vk = json_pack("{s:{s:s, s:s}}", "metadata", "name", "vk", "namespace", NS);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, pull, collect, q);
    CHECK_INT_EQ(json_array_size(q), 1);
    CHECK_STR_EQ(json_string_value(json_array_get(q, 0)), NS "/app");
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, other, collect, q);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, pull_elsewhere, collect, q);
    CHECK_INT_EQ(json_array_size(q), 1);
    e.r->map_secondary(e.r->self, &SL_RES_SIGNINGKEY, vk, collect, q);
    CHECK_INT_EQ(json_array_size(q), 2);
    /* deleted: forgotten */
    struct sl_reconcile_request req = {.ns = NS, .name = "app", .reconcile_id = "t"};
    e.r->reconcile(e.r->self, &e.rt, &req, &e.res, &e.err);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, pull, collect, q);
    CHECK_INT_EQ(json_array_size(q), 2);
    json_decref(q);
    json_decref(pull);
    json_decref(other);
    json_decref(pull_elsewhere);
    json_decref(vk);
    env_free(&e);
}

/* A Secret read is shared between reconciles, and a watch event for it drops the copy. */
static void test_secret_cache_follows_watch(void)
{
    struct env e;
    env_seeded(&e);
    apply(&e, basic_spec());
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    /* the Secret turns into the wrong type: still the cached copy until its event arrives */
    static const char *const all[] = {SRC, DST1, DST2, NULL};
    put_pull_secret(&e, "pull", "Opaque", all);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "status"), "True");
    json_t *q = json_array();
    e.r->map_secondary(e.r->self, &SL_RES_SECRET,
                       sl_fake_kube_find(e.fk, &SL_RES_SECRET, NS, "pull"), collect, q);
    CHECK_INT_EQ(json_array_size(q), 1);
    reconcile(&e);
    CHECK_STR_EQ(cond_field(&e, "Ready", "reason"), "InvalidSecret");
    json_decref(q);
    env_free(&e);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_delivers_to_two_targets);
    RUN(test_many_deliveries_one_event);
    RUN(test_steady_state_costs_heads_only);
    RUN(test_last_check_time);
    RUN(test_moved_tag_immutable_conflict);
    RUN(test_tag_pattern_and_digest_pinning);
    RUN(test_tag_pattern_dialect_and_no_match);
    RUN(test_platforms_steady_state);
    RUN(test_scan_gate_platforms);
    RUN(test_scan_gate_platforms_rescan);
    RUN(test_invalid_spec);
    RUN(test_secret_problems);
    RUN(test_client_certificates);
    RUN(test_service_account_pull_secrets);
    RUN(test_registry_errors);
    RUN(test_verify_gate);
    RUN(test_verify_gate_trusts_no_status);
    RUN(test_verify_gate_any_authority);
    RUN(test_insecure_needs_the_administrator);
    RUN(test_registry_deadline);
    RUN(test_image_parallel_copies);
    RUN(test_sign_in_every_target);
    RUN(test_sign_with_cosign_encrypted_key);
    RUN(test_signing_key_opened_once_per_secret_version);
    RUN(test_referrers_go_along);
    RUN(test_sign_format);
    RUN(test_scan_gate);
    RUN(test_policy_ready_during_first_pass_requeues);
    RUN(test_status_names_the_useful_problem);
    RUN(test_attestations);
    RUN(test_suspend);
    RUN(test_secondary_watches);
    RUN(test_secret_cache_follows_watch);
    RUN(test_provider_aws);
    RUN(test_provider_refused_credentials);
    RUN(test_provider_azure);
    RUN(test_provider_gcp);
    return CHECK_EXIT();
}
