/* Unit tests of controller/runtime/webhookcert.c: when the webhook's own certificate is kept,
 * renewed or replaced (expired, near expiry, wrong names, another CA, a key of another
 * certificate, garbage in the Secret), and the sync against the in-memory API server: the
 * Secret is created, its files written, a second replica that lost the race uses the winner's. */
#include "check.h"
#include "fake_kube.h"
#include "kube/client.h"
#include "kube/secret.h"
#include "runtime/webhookcert.h"
#include "util/base64.h"
#include "util/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW ((time_t)1790000000)
#define DAY (24 * 60 * 60)

static char *read_text(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = sl_xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_fresh_certificate_is_served(void)
{
    struct sl_webhookcert c = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&c, NULL, "sealift-system", NOW, NULL), 0);
    CHECK_CONTAINS(c.ca_pem, "BEGIN CERTIFICATE");
    CHECK_CONTAINS(c.key_pem, "PRIVATE KEY");
    char *why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check(c.ca_pem, c.crt_pem, c.key_pem, "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_OK);
    CHECK(why == NULL);
    /* still good 300 days on; within 30 days of the year's end: renew; after it: replace */
    CHECK_INT_EQ(sl_webhookcert_check(c.ca_pem, c.crt_pem, c.key_pem, "sealift-system",
                                      NOW + 300 * DAY, NULL),
                 SL_WEBHOOKCERT_OK);
    CHECK_INT_EQ(sl_webhookcert_check(c.ca_pem, c.crt_pem, c.key_pem, "sealift-system",
                                      NOW + 340 * DAY, &why),
                 SL_WEBHOOKCERT_RENEW);
    CHECK_CONTAINS(why, "tls.crt expires in");
    CHECK_CONTAINS(why, "30-day renewal window");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check(c.ca_pem, c.crt_pem, c.key_pem, "sealift-system",
                                      NOW + 366 * DAY, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_CONTAINS(why, "tls.crt has expired");
    free(why);
    sl_webhookcert_clear(&c);
}

static void test_wrong_names_ca_or_key_are_replaced(void)
{
    struct sl_webhookcert a = {0}, b = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&a, NULL, "sealift-system", NOW, NULL), 0);
    CHECK_INT_EQ(sl_webhookcert_generate(&b, NULL, "sealift-system", NOW, NULL), 0);
    char *why = NULL;
    /* the Service moved to another namespace */
    CHECK_INT_EQ(sl_webhookcert_check(a.ca_pem, a.crt_pem, a.key_pem, "other", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_CONTAINS(why, "does not name sealift-webhook.other.svc and "
                        "sealift-webhook.other.svc.cluster.local");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check(b.ca_pem, a.crt_pem, a.key_pem, "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_CONTAINS(why, "tls.crt is not issued by ca.crt");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check(a.ca_pem, a.crt_pem, b.key_pem, "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_CONTAINS(why, "tls.key does not belong to tls.crt");
    free(why);
    why = NULL;
    /* the reason never carries key material */
    CHECK_INT_EQ(sl_webhookcert_check(a.ca_pem, a.crt_pem, "-----BEGIN PRIVATE KEY-----\ngarbage\n",
                                      "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_STR_EQ(why, "tls.key is not a PEM private key");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check("not pem", a.crt_pem, a.key_pem, "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_STR_EQ(why, "ca.crt is not a PEM certificate");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check("garbage", "garbage", "garbage", "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_STR_EQ(why, "ca.crt is not a PEM certificate");
    free(why);
    why = NULL;
    CHECK_INT_EQ(sl_webhookcert_check(a.ca_pem, NULL, a.key_pem, "sealift-system", NOW, &why),
                 SL_WEBHOOKCERT_UNUSABLE);
    CHECK_STR_EQ(why, "tls.crt missing");
    free(why);
    sl_webhookcert_clear(&a);
    sl_webhookcert_clear(&b);
}

static void put_secret(struct sl_fake_kube *fk, const char *ca, const char *crt, const char *key)
{
    char *ca64 = sl_base64_encode(ca, strlen(ca));
    char *crt64 = sl_base64_encode(crt, strlen(crt));
    char *key64 = sl_base64_encode(key, strlen(key));
    json_t *s =
        json_pack("{s:{s:s, s:s}, s:s, s:{s:s, s:s, s:s}}", "metadata", "name", "webhook-cert",
                  "namespace", "sealift-system", "type", "kubernetes.io/tls", "data", "ca.crt",
                  ca64, "tls.crt", crt64, "tls.key", key64);
    sl_fake_kube_put(fk, &SL_RES_SECRET, s);
    json_decref(s);
    free(ca64);
    free(crt64);
    free(key64);
}

static char *secret_value(struct sl_fake_kube *fk, const char *key)
{
    json_t *s = sl_fake_kube_find(fk, &SL_RES_SECRET, "sealift-system", "webhook-cert");
    return s ? sl_kube_secret_string(s, key) : NULL;
}

struct dirs {
    char path[512];
};

static void make_dir(struct dirs *d)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(d->path, sizeof(d->path), "%s/sl-webhookcert-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(d->path) != NULL);
}

static void remove_dir(struct dirs *d)
{
    static const char *const names[] = {"ca.crt", "tls.crt", "tls.key"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", d->path, names[i]);
        unlink(p);
    }
    rmdir(d->path);
}

static void test_sync_creates_secret_and_files(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    struct sl_webhookcert_sync_opts o = {.kube = &ops,
                                         .ns = "sealift-system",
                                         .secret_name = "webhook-cert",
                                         .cert_dir = d.path,
                                         .may_renew = false,
                                         .may_replace = true,
                                         .now = NOW};
    bool changed = false;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_webhookcert_sync(&o, &changed, &err), 0);
    CHECK(changed);
    json_t *s = sl_fake_kube_find(fk, &SL_RES_SECRET, "sealift-system", "webhook-cert");
    CHECK(s != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(s, "type")), "kubernetes.io/tls");
    char *ca = secret_value(fk, "ca.crt"), *crt = secret_value(fk, "tls.crt"),
         *key = secret_value(fk, "tls.key");
    CHECK_INT_EQ(sl_webhookcert_check(ca, crt, key, "sealift-system", NOW, NULL),
                 SL_WEBHOOKCERT_OK);
    char *fca = read_text(d.path, "ca.crt"), *fcrt = read_text(d.path, "tls.crt"),
         *fkey = read_text(d.path, "tls.key");
    CHECK_STR_EQ(fca, ca);
    CHECK_STR_EQ(fcrt, crt);
    CHECK_STR_EQ(fkey, key);
    char kp[128];
    snprintf(kp, sizeof(kp), "%s/tls.key", d.path);
    struct stat st;
    CHECK_INT_EQ(stat(kp, &st), 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0600);
    /* nothing to do the next time: no write to the API server, no file touched */
    int writes = sl_fake_kube_writes(fk);
    CHECK_INT_EQ(sl_webhookcert_sync(&o, &changed, &err), 0);
    CHECK(!changed);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);
    free(ca);
    free(crt);
    sl_secure_free_str(key);
    free(fca);
    free(fcrt);
    free(fkey);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

static void test_sync_replaces_garbage_and_renews_only_as_leader(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    put_secret(fk, "garbage", "garbage", "garbage");
    struct sl_webhookcert_sync_opts o = {.kube = &ops,
                                         .ns = "sealift-system",
                                         .secret_name = "webhook-cert",
                                         .cert_dir = d.path,
                                         .may_renew = false,
                                         .may_replace = true,
                                         .now = NOW};
    struct sl_err err = {0};
    /* garbage: any replica replaces it (with the read resourceVersion) */
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), 0);
    json_t *log = sl_fake_kube_write_log(fk);
    CHECK_STR_EQ(json_string_value(json_array_get(log, json_array_size(log) - 1)),
                 "update secrets sealift-system/webhook-cert");
    char *ca = secret_value(fk, "ca.crt"), *crt = secret_value(fk, "tls.crt"),
         *key = secret_value(fk, "tls.key");
    CHECK_INT_EQ(sl_webhookcert_check(ca, crt, key, "sealift-system", NOW, NULL),
                 SL_WEBHOOKCERT_OK);

    /* 340 days later it is near expiry: a replica that is not the leader serves it as is */
    o.now = NOW + 340 * DAY;
    int writes = sl_fake_kube_writes(fk);
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);
    char *fcrt = read_text(d.path, "tls.crt");
    CHECK_STR_EQ(fcrt, crt);
    free(fcrt);
    /* the leader renews it with the same CA (caBundle stays), and the files follow */
    o.may_renew = true;
    bool changed = false;
    CHECK_INT_EQ(sl_webhookcert_sync(&o, &changed, &err), 0);
    CHECK(changed);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes + 1);
    char *crt2 = secret_value(fk, "tls.crt"), *ca2 = secret_value(fk, "ca.crt");
    CHECK(strcmp(crt2, crt) != 0);
    CHECK_STR_EQ(ca2, ca);
    char *key2 = secret_value(fk, "tls.key");
    CHECK_INT_EQ(sl_webhookcert_check(ca2, crt2, key2, "sealift-system", o.now, NULL),
                 SL_WEBHOOKCERT_OK);
    fcrt = read_text(d.path, "tls.crt");
    char *fca = read_text(d.path, "ca.crt");
    CHECK_STR_EQ(fcrt, crt2);
    CHECK_STR_EQ(fca, ca2);
    free(fcrt);
    free(fca);
    free(ca);
    free(crt);
    sl_secure_free_str(key);
    free(ca2);
    free(crt2);
    sl_secure_free_str(key2);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

static void test_sync_not_leader_leaves_unusable_secret(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    struct sl_webhookcert_sync_opts o = {.kube = &ops,
                                         .ns = "sealift-system",
                                         .secret_name = "webhook-cert",
                                         .cert_dir = d.path,
                                         .now = NOW};
    struct sl_err err = {0};
    /* running replicas that are not the leader neither create nor repair the Secret */
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "not found; left for the leader to replace");
    put_secret(fk, "garbage", "garbage", "garbage");
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "ca.crt is not a PEM certificate; left for the leader");
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 0);
    char *f = read_text(d.path, "tls.crt");
    CHECK(f == NULL);
    free(f);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

static int count_certs(const char *pem)
{
    int n = 0;
    for (const char *p = pem; p && (p = strstr(p, "BEGIN CERTIFICATE")) != NULL; p++)
        n++;
    return n;
}

static void test_ca_near_expiry_is_replaced_and_bundled(void)
{
    struct sl_webhookcert first = {0}, second = {0}, third = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&first, NULL, "ns", NOW, NULL), 0);
    CHECK(first.ca_key_pem != NULL);
    /* 400 days before the CA's end it still outlives a new certificate: kept */
    time_t t1 = NOW + (SL_WEBHOOKCERT_CA_DAYS - 400) * (time_t)DAY;
    CHECK_INT_EQ(sl_webhookcert_generate(&second, &first, "ns", t1, NULL), 0);
    CHECK_STR_EQ(second.ca_pem, first.ca_pem);
    CHECK(strcmp(second.crt_pem, first.crt_pem) != 0);
    /* 340 days on, both are within the renewal window (the CA ends in 60 days) */
    time_t t2 = t1 + 340 * (time_t)DAY;
    char *why = NULL;
    CHECK_INT_EQ(
        sl_webhookcert_check(second.ca_pem, second.crt_pem, second.key_pem, "ns", t2, &why),
        SL_WEBHOOKCERT_RENEW);
    free(why);
    /* a new CA, and ca.crt carries the old one after it, trusted until every replica switched */
    CHECK_INT_EQ(sl_webhookcert_generate(&third, &second, "ns", t2, NULL), 0);
    CHECK_INT_EQ(count_certs(third.ca_pem), 2);
    CHECK(strncmp(third.ca_pem, first.ca_pem, strlen(first.ca_pem)) != 0);
    CHECK(strstr(third.ca_pem, first.ca_pem) != NULL);
    CHECK_INT_EQ(sl_webhookcert_check(third.ca_pem, third.crt_pem, third.key_pem, "ns", t2, NULL),
                 SL_WEBHOOKCERT_OK);
    /* the next CA change drops the old one: only the CA being replaced is bundled */
    struct sl_webhookcert fourth = {0};
    time_t t3 = t2 + (SL_WEBHOOKCERT_CA_DAYS - 300) * (time_t)DAY;
    CHECK_INT_EQ(sl_webhookcert_generate(&fourth, &third, "ns", t3, NULL), 0);
    CHECK_INT_EQ(count_certs(fourth.ca_pem), 2);
    CHECK(strstr(fourth.ca_pem, first.ca_pem) == NULL);
    sl_webhookcert_clear(&first);
    sl_webhookcert_clear(&second);
    sl_webhookcert_clear(&third);
    sl_webhookcert_clear(&fourth);
}

/* Another replica creates the Secret between this one's read and its create. */
struct racing {
    struct sl_kube_ops inner;
    struct sl_fake_kube *fk;
    struct sl_webhookcert winner;
    bool raced;
};

static int racing_get(void *ctx, json_t **out, const struct sl_kube_resource *res, const char *ns,
                      const char *name, struct sl_err *err)
{
    struct racing *r = ctx;
    return r->inner.get(r->inner.ctx, out, res, ns, name, err);
}

static int racing_create(void *ctx, json_t **out, const struct sl_kube_resource *res,
                         const char *ns, json_t *obj, struct sl_err *err)
{
    struct racing *r = ctx;
    if (!r->raced) {
        r->raced = true;
        put_secret(r->fk, r->winner.ca_pem, r->winner.crt_pem, r->winner.key_pem);
    }
    return r->inner.create(r->inner.ctx, out, res, ns, obj, err);
}

static void test_sync_loser_uses_winners_certificate(void)
{
    struct racing r = {0};
    r.fk = sl_fake_kube_new();
    sl_fake_kube_ops(r.fk, &r.inner);
    CHECK_INT_EQ(sl_webhookcert_generate(&r.winner, NULL, "sealift-system", NOW, NULL), 0);
    struct sl_kube_ops ops = {.ctx = &r, .get = racing_get, .create = racing_create};
    struct dirs d;
    make_dir(&d);
    struct sl_webhookcert_sync_opts o = {.kube = &ops,
                                         .ns = "sealift-system",
                                         .secret_name = "webhook-cert",
                                         .cert_dir = d.path,
                                         .may_renew = true,
                                         .may_replace = true,
                                         .now = NOW};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), 0);
    CHECK(r.raced);
    CHECK_INT_EQ(sl_fake_kube_writes(r.fk), 0);
    char *fcrt = read_text(d.path, "tls.crt"), *fca = read_text(d.path, "ca.crt");
    CHECK_STR_EQ(fcrt, r.winner.crt_pem);
    CHECK_STR_EQ(fca, r.winner.ca_pem);
    free(fcrt);
    free(fca);
    sl_webhookcert_clear(&r.winner);
    remove_dir(&d);
    sl_fake_kube_free(r.fk);
}

static void test_sync_reports_api_errors(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    sl_fake_kube_fail_next_verb(fk, "create", SL_EAUTH);
    struct sl_webhookcert_sync_opts o = {.kube = &ops,
                                         .ns = "sealift-system",
                                         .secret_name = "webhook-cert",
                                         .cert_dir = d.path,
                                         .may_replace = true,
                                         .now = NOW};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_webhookcert_sync(&o, NULL, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "creating Secret sealift-system/webhook-cert");
    char *f = read_text(d.path, "tls.key");
    CHECK(f == NULL);
    free(f);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

/* ---- the CRDs' conversion caBundle ---- */

static void put_crd(struct sl_fake_kube *fk, const char *name, const char *strategy,
                    const char *svc_ns, const char *ca)
{
    json_t *crd = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}}", "apiVersion",
                            "apiextensions.k8s.io/v1", "kind", "CustomResourceDefinition",
                            "metadata", "name", name, "spec", "conversion", "strategy", strategy);
    if (!strcmp(strategy, "Webhook")) {
        json_t *cc = json_pack("{s:{s:s, s:s, s:s}}", "service", "namespace", svc_ns, "name",
                               "sealift-webhook", "path", "/convert");
        if (ca)
            json_object_set_new(cc, "caBundle", json_string(ca));
        json_object_set_new(json_object_get(json_object_get(crd, "spec"), "conversion"), "webhook",
                            json_pack("{s:o}", "clientConfig", cc));
    }
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_CRD, crd), 0);
    json_decref(crd);
}

static const char *crd_ca(struct sl_fake_kube *fk, const char *name)
{
    json_t *crd = sl_fake_kube_find(fk, &SL_RES_CRD, NULL, name);
    const json_t *cc = json_object_get(
        json_object_get(json_object_get(json_object_get(crd, "spec"), "conversion"), "webhook"),
        "clientConfig");
    return json_string_value(json_object_get(cc, "caBundle"));
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_crd_ca_published_where_ours(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    struct sl_webhookcert c = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&c, NULL, "sealift-system", NOW, NULL), 0);
    write_text(d.path, "ca.crt", c.ca_pem);
    char *want = sl_base64_encode(c.ca_pem, strlen(c.ca_pem));
    /* empty caBundle (as `kubectl apply -f crds/` leaves it), a stale one, a CRD converting
     * with strategy None, one whose webhook is another namespace's Service; gitsources is not
     * installed */
    put_crd(fk, "imagedeliveries.sealift.dev", "Webhook", "sealift-system", NULL);
    put_crd(fk, "signingkeys.sealift.dev", "Webhook", "sealift-system", "c3RhbGU=");
    put_crd(fk, "scanpolicies.sealift.dev", "None", NULL, NULL);
    put_crd(fk, "deploypolicies.sealift.dev", "Webhook", "elsewhere", "b3RoZXI=");
    int patched = -1;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, &patched, &err), 0);
    CHECK_INT_EQ(patched, 2);
    CHECK_STR_EQ(crd_ca(fk, "imagedeliveries.sealift.dev"), want);
    CHECK_STR_EQ(crd_ca(fk, "signingkeys.sealift.dev"), want);
    CHECK(crd_ca(fk, "scanpolicies.sealift.dev") == NULL);
    CHECK_STR_EQ(crd_ca(fk, "deploypolicies.sealift.dev"), "b3RoZXI=");
    /* nothing changed: nothing written */
    int writes = sl_fake_kube_writes(fk);
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, &patched, &err), 0);
    CHECK_INT_EQ(patched, 0);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), writes);
    /* without ca.crt the serving certificate (self-signed) is the bundle */
    char p[600];
    snprintf(p, sizeof(p), "%s/ca.crt", d.path);
    unlink(p);
    write_text(d.path, "tls.crt", c.crt_pem);
    char *want_crt = sl_base64_encode(c.crt_pem, strlen(c.crt_pem));
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, &patched, &err), 0);
    CHECK_INT_EQ(patched, 2);
    CHECK_STR_EQ(crd_ca(fk, "imagedeliveries.sealift.dev"), want_crt);
    free(want);
    free(want_crt);
    sl_webhookcert_clear(&c);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

static void test_crd_ca_errors(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    struct dirs d;
    make_dir(&d);
    put_crd(fk, "imagedeliveries.sealift.dev", "Webhook", "sealift-system", NULL);
    struct sl_err err = {0};
    /* no certificate yet: nothing written */
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, NULL, &err),
                 SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no ca.crt or tls.crt");
    /* not a certificate: never published */
    write_text(d.path, "ca.crt", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, NULL, &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, "ca.crt holds no PEM certificate");
    CHECK(crd_ca(fk, "imagedeliveries.sealift.dev") == NULL);
    /* RBAC refuses the patch: the error names what the controller needs */
    struct sl_webhookcert c = {0};
    CHECK_INT_EQ(sl_webhookcert_generate(&c, NULL, "sealift-system", NOW, NULL), 0);
    write_text(d.path, "ca.crt", c.ca_pem);
    sl_fake_kube_fail_next_verb(fk, "patch", SL_EAUTH);
    CHECK_INT_EQ(sl_webhookcert_publish_crd_ca(&ops, "sealift-system", d.path, NULL, &err),
                 SL_EAUTH);
    CHECK_CONTAINS(err.msg, "CustomResourceDefinition imagedeliveries.sealift.dev");
    CHECK_CONTAINS(err.msg, "needs get and patch");
    CHECK(crd_ca(fk, "imagedeliveries.sealift.dev") == NULL);
    sl_webhookcert_clear(&c);
    remove_dir(&d);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_fresh_certificate_is_served);
    RUN(test_wrong_names_ca_or_key_are_replaced);
    RUN(test_ca_near_expiry_is_replaced_and_bundled);
    RUN(test_sync_creates_secret_and_files);
    RUN(test_sync_replaces_garbage_and_renews_only_as_leader);
    RUN(test_sync_not_leader_leaves_unusable_secret);
    RUN(test_sync_loser_uses_winners_certificate);
    RUN(test_sync_reports_api_errors);
    RUN(test_crd_ca_published_where_ours);
    RUN(test_crd_ca_errors);
    return CHECK_EXIT();
}
