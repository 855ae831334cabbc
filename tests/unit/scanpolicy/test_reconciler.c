/* Unit tests of the ScanPolicy reconciler (database.path, malware ConfigMap) against the
 * in-memory fake API server, and of what the scan gate says about policies that are not
 * loaded. argv[1] is tests/data/scan. */
#include "check.h"
#include "fake_cloud.h"
#include "fake_kube.h"
#include "recon_fixture.h"
#include "http/server.h"
#include "http/transport.h"
#include "runtime/config.h"
#include "scan/policy.h"
#include "scan/store.h"
#include "scanpolicy/reconciler.h"
#include "sign/keys.h"
#include "testdata.h"
#include "tls_server.h"
#include "util/base64.h"
#include "util/mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *data_dir = "tests/data/scan";

#define NS "vendor"
/* EICAR's sha256 and size, as in ClamAV .hsb lines */
#define HSB_LINE                                                                                   \
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar-Test-Signature\n"

static time_t test_clock(void *ctx)
{
    return *(const time_t *)ctx;
}

/* What every test starts from (env_init, env_free): the fake API server, a reconciler with the lab
 * settings over its own ScanPolicy store, an event log, and a folder of two advisory files. */
struct env {
    struct sl_fake_kube *fk;
    struct sl_runtime rt;
    struct sl_scan_store *store; /* what the reconciler loads and the gate reads */
    struct sl_reconciler *r;
    json_t *events;
    char dir[256];              /* advisory directory */
    struct sl_fake_cloud cloud; /* provider aws, azure, gcp: the logins asked */
    struct sl_cloud_ops cloud_ops;
    time_t clock; /* the reconciler's wall clock (cached cloud credentials) */
};

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in != NULL && out != NULL);
    if (in && out) {
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, n, out);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* What a lab administrator allows: local advisory folders and the adapter URL of the test
 * (--scanner-url lists it with its port; port 1 has nothing listening). */
static const char *const lab_scanner_urls[] = {"http://127.0.0.1:1"};
static const struct sl_controller_config lab_config = {
    .allow_local_paths = true,
    .scanner_urls = lab_scanner_urls,
    .n_scanner_urls = 1,
};

/* Makes e's reconciler anew with the settings cc (the controller started with other flags),
 * over the same ScanPolicy store and API server. */
static void env_use_config(struct env *e, const struct sl_controller_config *cc)
{
    if (e->r)
        e->r->free(e->r->self);
    struct sl_err err = {0};
    const struct sl_scanpolicy_deps deps = {
        .cloud = &e->cloud_ops, .wall_now = test_clock, .clock_ctx = &e->clock};
    CHECK_INT_EQ(sl_scanpolicy_reconciler_new(&e->r, e->store, cc, &deps, &err), 0);
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->store = sl_scan_store_new();
    e->fk = sl_fake_kube_new();
    sl_fake_kube_ops(e->fk, &e->rt.kube);
    e->rt.controller_namespace = "sealift-system";
    e->events = json_array();
    e->rt.record_event = sl_test_event_log;
    e->rt.event_ctx = e->events;
    e->clock = 1796025600; /* 2026-11-30T08:00:00Z */
    sl_fake_cloud_init(&e->cloud, &e->cloud_ops, &e->clock);
    env_use_config(e, &lab_config);
    snprintf(e->dir, sizeof(e->dir), "/tmp/sl-test-scanpol-XXXXXX");
    CHECK(mkdtemp(e->dir) != NULL);
    char from[1024], to[512];
    snprintf(from, sizeof(from), "%s/osv/sample.json", data_dir);
    snprintf(to, sizeof(to), "%s/sample.json", e->dir);
    copy_file(from, to);
    snprintf(from, sizeof(from),
             "%s/advisories/aquasecurity/vuln-list-debian/tracker/DSA/DSA-5514-1.json", data_dir);
    snprintf(to, sizeof(to), "%s/DSA-5514-1.json", e->dir);
    copy_file(from, to);
}

static void env_free(struct env *e)
{
    char path[512];
    const char *names[] = {"sample.json", "DSA-5514-1.json", "bad.json"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", e->dir, names[i]);
        unlink(path);
    }
    rmdir(e->dir);
    e->r->free(e->r->self);
    sl_fake_kube_free(e->fk);
    json_decref(e->events);
    sl_scan_store_free(e->store);
}

/* env_init, the administrator having turned on --workload-identity */
static void env_init_workload_identity(struct env *e)
{
    env_init(e);
    struct sl_controller_config cc = lab_config;
    cc.workload_identity = true;
    env_use_config(e, &cc);
}

static void put_policy(struct env *e, const char *name, json_t *spec)
{
    json_t *obj =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "sealift.dev/v1beta1", "kind",
                  "ScanPolicy", "metadata", "name", name, "namespace", NS, "spec", spec);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SCANPOLICY, obj), 0);
    json_decref(obj);
}

static int reconcile(struct env *e, const char *name, struct sl_reconcile_result *res)
{
    return sl_test_reconcile(e->r, &e->rt, e->fk, &SL_RES_SCANPOLICY, "ScanPolicy", NS, name, res);
}

/* Stores the ScanPolicy name with spec (taken over) and reconciles it once into *res. */
static void apply(struct env *e, const char *name, json_t *spec, struct sl_reconcile_result *res)
{
    put_policy(e, name, spec);
    CHECK_INT_EQ(reconcile(e, name, res), 0);
}

/* apply with a spec of only database.path: e's advisory folder. */
static void apply_local_database(struct env *e, const char *name, struct sl_reconcile_result *res)
{
    apply(e, name, json_pack("{s:{s:s}}", "database", "path", e->dir), res);
}

static void collect(void *qctx, const char *ns, const char *name)
{
    json_array_append_new((json_t *)qctx, json_sprintf("%s/%s", ns, name));
}

/* How many policies a change of the object name (of kind res, in NS) enqueues. */
static size_t enqueued_by(struct env *e, const struct sl_kube_resource *res, const char *name)
{
    json_t *got = json_array();
    json_t *obj = json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", NS);
    e->r->map_secondary(e->r->self, res, obj, collect, got);
    size_t n = json_array_size(got);
    json_decref(obj);
    json_decref(got);
    return n;
}

static json_t *status_of(struct env *e, const char *name)
{
    return json_object_get(sl_fake_kube_find(e->fk, &SL_RES_SCANPOLICY, NS, name), "status");
}

static const char *ready_field(struct env *e, const char *name, const char *field)
{
    return sl_test_condition_field(status_of(e, name), "Ready", field);
}

static bool has_event(struct env *e, const char *type, const char *reason)
{
    return sl_test_has_event(e->events, type, reason);
}

static long long db_records(struct env *e, const char *name)
{
    return json_integer_value(
        json_object_get(json_object_get(status_of(e, name), "database"), "records"));
}

static const char *db_digest(struct env *e, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(status_of(e, name), "database"), "digest"));
}

static const char *db_time(struct env *e, const char *name, const char *field)
{
    return json_string_value(
        json_object_get(json_object_get(status_of(e, name), "database"), field));
}

/* Makes the stored policy's status.database.fetchedAt say when (as if fetched then). */
static void set_fetched_at(struct env *e, const char *name, const char *when)
{
    json_t *obj = json_deep_copy(sl_fake_kube_find(e->fk, &SL_RES_SCANPOLICY, NS, name));
    json_object_set_new(json_object_get(json_object_get(obj, "status"), "database"), "fetchedAt",
                        json_string(when));
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SCANPOLICY, obj), 0);
    json_decref(obj);
}

/* The gate's answer for a policy that is not loaded: no registry request is made. */
static int gate_answer(struct env *e, const char *policy, struct sl_err *err)
{
    struct sl_scan_gate g;
    sl_scanpolicy_gate(&g, e->store);
    json_t *summary = NULL;
    int rc = g.scan(g.ctx, NULL, NS, policy, NULL, "app", "sha256:00", NULL, 0, &summary, err);
    json_decref(summary);
    return rc;
}

static void test_ready_with_records_and_hashes(void)
{
    struct env e;
    env_init(&e);
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "bad-hashes", "namespace",
                           NS, "data", "sigs.hsb", HSB_LINE);
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm), 0);
    json_decref(cm);
    put_policy(&e, "default",
               json_pack("{s:{s:s}, s:s, s:{s:{s:{s:s, s:s}}}, s:s}", "database", "path", e.dir,
                         "severityThreshold", "High", "malware", "hashes", "configMapRef", "name",
                         "bad-hashes", "key", "sigs.hsb", "rescanInterval", "1h"));
    struct sl_reconcile_result res;
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "DatabaseLoaded");
    /* sample.json: two Debian records (the npm and Alpine ones of other ecosystems count too
     * when held); DSA-5514-1: glibc; every record is counted once */
    CHECK(db_records(&e, "default") >= 3);
    CHECK(db_digest(&e, "default") != NULL && strncmp(db_digest(&e, "default"), "sha256:", 7) == 0);
    CHECK(json_is_string(
        json_object_get(json_object_get(status_of(&e, "default"), "database"), "loadedAt")));
    CHECK_INT_EQ(json_integer_value(json_object_get(status_of(&e, "default"), "malwareHashes")), 1);
    CHECK(has_event(&e, "Normal", "DatabaseLoaded"));
    /* the built-in scanner names itself */
    json_t *scanner = json_object_get(status_of(&e, "default"), "scanner");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "name")), "sealift");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "vendor")), "sealift");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "version")), SL_VERSION);
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK(res.requeue_after_ms > 0 && res.requeue_after_ms <= SL_SCANPOLICY_RECHECK_MS);
    /* a steady state writes nothing more */
    int writes = sl_fake_kube_writes(e.fk);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);
    env_free(&e);
}

static void test_bad_database_keeps_last_good(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply_local_database(&e, "default", &res);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    const json_t *st = status_of(&e, "default");
    CHECK_STR_EQ(sl_test_condition_field(st, "DatabaseFresh", "status"), "True");
    CHECK_STR_EQ(sl_test_condition_field(st, "DatabaseFresh", "reason"), "DatabaseLoaded");
    long long records = db_records(&e, "default");
    char digest[80];
    snprintf(digest, sizeof(digest), "%s",
             db_digest(&e, "default") ? db_digest(&e, "default") : "");
    /* first fetch: fetchedAt is when it was loaded */
    CHECK(db_time(&e, "default", "fetchedAt") != NULL);
    CHECK_STR_EQ(db_time(&e, "default", "fetchedAt"), db_time(&e, "default", "loadedAt"));
    /* (as if that was long ago, for the fetches below) */
    set_fetched_at(&e, "default", "2026-01-01T00:00:00Z");

    /* a malformed record appears: the load fails, the last good database stays in use */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.json", e.dir);
    write_file(bad, "{\"id\": \"CVE-2099-9\", \"affected\": [ {\"package\": ");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "StaleDatabase");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "bad.json");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "keeping the last good database");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), digest);
    /* stale is visible on its own, not only as a Ready reason */
    st = status_of(&e, "default");
    CHECK_STR_EQ(sl_test_condition_field(st, "DatabaseFresh", "status"), "False");
    CHECK_STR_EQ(sl_test_condition_field(st, "DatabaseFresh", "reason"), "StaleDatabase");
    CHECK_CONTAINS(sl_test_condition_field(st, "DatabaseFresh", "message"), "bad.json");
    CHECK_INT_EQ(db_records(&e, "default"), records);
    CHECK_STR_EQ(db_digest(&e, "default"), digest);
    CHECK_STR_EQ(db_time(&e, "default", "fetchedAt"), "2026-01-01T00:00:00Z"); /* it ages */
    CHECK(has_event(&e, "Warning", "StaleDatabase"));
    /* the gate still has a database: it does not wait (it would scan; no registry here) */
    struct sl_err err = {0};
    CHECK(gate_answer(&e, "missing", &err) == SL_SCAN_GATE_WAITING);

    /* fixed again: a new load, back to DatabaseLoaded with the same content digest, which
     * is no younger for it (as after a restart of the controller) */
    unlink(bad);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "DatabaseLoaded");
    CHECK_STR_EQ(db_digest(&e, "default"), digest);
    CHECK_STR_EQ(db_time(&e, "default", "fetchedAt"), "2026-01-01T00:00:00Z");
    CHECK(strcmp(db_time(&e, "default", "loadedAt"), "2026-01-01T00:00:00Z") != 0);
    /* a fetchedAt that is not a time is not carried */
    set_fetched_at(&e, "default", "yesterday");
    write_file(bad, "{\"id\": \"CVE-2099-9\", \"affected\": [ {\"package\": ");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "StaleDatabase");
    CHECK_STR_EQ(db_time(&e, "default", "fetchedAt"), db_time(&e, "default", "loadedAt"));
    unlink(bad);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    set_fetched_at(&e, "default", "2026-01-01T00:00:00Z");

    /* a record added changes count and digest */
    char more[512];
    snprintf(more, sizeof(more), "%s/bad.json", e.dir);
    write_file(more, "{\"id\": \"CVE-2099-0100\", \"affected\": [{\"package\": {\"ecosystem\": "
                     "\"Debian:12\", \"name\": \"zlib\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\", "
                     "\"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1:1.3\"}]}]}]}");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_INT_EQ(db_records(&e, "default"), records + 1);
    CHECK(strcmp(db_digest(&e, "default"), digest) != 0);
    CHECK(has_event(&e, "Normal", "DatabaseUpdated"));
    /* another digest: fetched now */
    CHECK_STR_EQ(db_time(&e, "default", "fetchedAt"), db_time(&e, "default", "loadedAt"));
    env_free(&e);
}

static void test_bad_database_without_previous(void)
{
    struct env e;
    env_init(&e);
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.json", e.dir);
    write_file(bad, "not json at all");
    struct sl_reconcile_result res;
    apply_local_database(&e, "default", &res);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "DatabaseLoadFailed");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "bad.json");
    CHECK(json_object_get(status_of(&e, "default"), "database") == NULL);
    CHECK(res.requeue_after_ms > 0);
    struct sl_err err = {0};
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_CONTAINS(err.msg, "default");
    env_free(&e);
}

static void test_empty_database_is_not_ready(void)
{
    struct env e;
    env_init(&e);
    char sample[512], dsa[512], readme[512], from[1024];
    snprintf(sample, sizeof(sample), "%s/sample.json", e.dir);
    snprintf(dsa, sizeof(dsa), "%s/DSA-5514-1.json", e.dir);
    snprintf(readme, sizeof(readme), "%s/README.md", e.dir);
    snprintf(from, sizeof(from),
             "%s/advisories/aquasecurity/vuln-list-debian/tracker/DSA/DSA-5514-1.json", data_dir);
    unlink(sample);
    unlink(dsa);
    write_file(readme, "advisories go here\n");
    /* a folder with documentation only: no verdict can rest on it */
    struct sl_reconcile_result res;
    apply_local_database(&e, "default", &res);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "DatabaseEmpty");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), e.dir);
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "no advisory records");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "README.md");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "Debian security tracker JSON");
    CHECK(json_object_get(status_of(&e, "default"), "database") == NULL);
    CHECK(has_event(&e, "Warning", "DatabaseEmpty"));
    CHECK(res.requeue_after_ms > 0);
    struct sl_err err = {0};
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);

    /* a record arrives: loaded */
    copy_file(from, dsa);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "DatabaseLoaded");
    long long records = db_records(&e, "default");
    CHECK(records > 0);

    /* emptied again: refused like any failed load, the last good database stays in use */
    unlink(dsa);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "StaleDatabase");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "no advisory records");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "keeping the last good database");
    CHECK_INT_EQ(db_records(&e, "default"), records);
    unlink(readme);
    env_free(&e);
}

static void test_invalid_spec_and_missing_refs(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply(&e, "thr", json_pack("{s:s}", "severityThreshold", "Severe"), &res);
    CHECK_STR_EQ(ready_field(&e, "thr", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "thr", "message"), "spec.severityThreshold");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);

    apply(&e, "until", json_pack("{s:[{s:s, s:s}]}", "allowlist", "id", "CVE-1", "until", "soon"),
          &res);
    CHECK_CONTAINS(ready_field(&e, "until", "message"), "spec.allowlist[0].until");

    apply(&e, "cm",
          json_pack("{s:{s:{s:{s:s, s:s}}}}", "malware", "hashes", "configMapRef", "name", "absent",
                    "key", "sigs.hsb"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "cm", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "cm", "reason"), "ConfigMapNotFound");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);

    apply(&e, "sec",
          json_pack("{s:{s:s, s:{s:s}}}", "database", "image", "127.0.0.1:1/sec/advisories:latest",
                    "secretRef", "name", "db-pull"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "sec", "reason"), "SecretNotFound");

    /* no database at all: baseline and malware only, Ready with 0 records */
    apply(&e, "nodb", json_object(), &res);
    CHECK_STR_EQ(ready_field(&e, "nodb", "status"), "True");
    CHECK_INT_EQ(db_records(&e, "nodb"), 0);
    CHECK_CONTAINS(ready_field(&e, "nodb", "message"), "baseline and malware checks only");
    env_free(&e);
}

/* spec.scanner.harbor: what the reconciler decides before and without a reachable adapter */
static void test_harbor_scanner_spec(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    struct sl_err err = {0};
    /* the adapter's findings replace the built-in database: giving both is a spec error */
    apply(&e, "both",
          json_pack("{s:{s:s}, s:{s:{s:s}}}", "database", "path", e.dir, "scanner", "harbor", "url",
                    "http://127.0.0.1:1"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "both", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "both", "message"), "spec.database: Forbidden");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);

    apply(&e, "base",
          json_pack("{s:{s:b}, s:{s:{s:s}}}", "baseline", "forbidRootUser", 1, "scanner", "harbor",
                    "url", "http://127.0.0.1:1"),
          &res);
    CHECK_CONTAINS(ready_field(&e, "base", "message"), "spec.baseline: Forbidden");

    apply(&e, "url", json_pack("{s:{s:{s:s}}}", "scanner", "harbor", "url", "ftp://x"), &res);
    CHECK_CONTAINS(ready_field(&e, "url", "message"), "spec.scanner.harbor.url");

    /* the adapter's Secret comes from the policy's namespace */
    apply(&e, "sec",
          json_pack("{s:{s:{s:s, s:{s:s}}}}", "scanner", "harbor", "url", "http://127.0.0.1:1",
                    "secretRef", "name", "adapter"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "sec", "reason"), "SecretNotFound");
    CHECK_CONTAINS(ready_field(&e, "sec", "message"), "spec.scanner.harbor.secretRef.name");

    /* nothing listens on port 1: ScannerError naming the adapter, retried with backoff, and
     * the gate does not scan with a policy that is not Ready */
    apply(&e, "down", json_pack("{s:{s:{s:s}}}", "scanner", "harbor", "url", "http://127.0.0.1:1"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "down", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "down", "reason"), "ScannerError");
    CHECK_CONTAINS(ready_field(&e, "down", "message"), "scanner adapter http://127.0.0.1:1");
    CHECK_INT_EQ(res.kind, SL_RESULT_TRANSIENT);
    CHECK_INT_EQ(gate_answer(&e, "down", &err), SL_SCAN_GATE_WAITING);
    env_free(&e);
}

/* A loopback stand-in adapter: GET /api/v1/metadata answers tests/data/scan/harbor/metadata.json
 * (Trivy's) to "Authorization: Bearer t0k" and 401 with the spec's error body otherwise. */
static void h_metadata(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    const char *auth = sl_http_request_header(req, "Authorization");
    if (!auth || strcmp(auth, "Bearer t0k") != 0) {
        resp->status = 401;
        resp->content_type = "application/vnd.scanner.adapter.error+json; version=1.0";
        sl_buf_append_str(&resp->body, "{\"error\": {\"message\": \"unauthorized\"}}");
        return;
    }
    resp->content_type = "application/vnd.scanner.adapter.metadata+json; version=1.0";
    sl_buf_append_str(&resp->body, ctx);
}

/* A Secret name of NS whose data has the one key, with value_b64 (base64, as Secret data). */
static void put_secret(struct env *e, const char *name, const char *key, const char *value_b64)
{
    json_t *sec = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", name, "namespace", NS,
                            "data", key, value_b64);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, sec), 0);
    json_decref(sec);
}

/* A stand-in adapter (h_metadata) on loopback, over plain http or over TLS that requires a client
 * certificate of tests/data/tls (tls_server.h). */
struct adapter {
    struct sl_http_server *plain;  /* its server over http */
    struct sl_test_tls_server tls; /* its server over TLS */
    char *metadata;                /* what it answers: tests/data/scan/harbor/metadata.json */
    char url[300];
    const char *urls[1]; /* --scanner-url listing url (the reconciler borrows it) */
};

/* Starts a's adapter, makes e's reconciler anew with the lab settings listing its URL, and puts
 * the right token in the Secret "adapter" of NS. */
static void adapter_start(struct adapter *a, struct env *e, bool tls)
{
    memset(a, 0, sizeof(*a));
    a->metadata = sl_test_read_file(NULL, "%s/harbor/metadata.json", data_dir);
    struct sl_err err = {0};
    struct sl_http_server *srv = NULL;
    if (tls) {
        char tls_dir[1024];
        snprintf(tls_dir, sizeof(tls_dir), "%s/../tls", data_dir);
        CHECK_INT_EQ(sl_test_tls_server_new(&a->tls, tls_dir, SL_TEST_CLIENT_CERT_REQUIRED, &err),
                     0);
        srv = a->tls.srv;
    } else {
        struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
        CHECK_INT_EQ(sl_http_server_new(&a->plain, &so, &err), 0);
        srv = a->plain;
    }
    sl_http_server_route(srv, "GET", "/api/v1/metadata", h_metadata, a->metadata);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    snprintf(a->url, sizeof(a->url), "%s://%s", tls ? "https" : "http", sl_http_server_addr(srv));
    a->urls[0] = a->url;
    struct sl_controller_config with_adapter = lab_config;
    with_adapter.scanner_urls = a->urls;
    with_adapter.n_scanner_urls = 1;
    env_use_config(e, &with_adapter);
    /* the right token (base64 of "t0k\n": a trailing newline is not part of it) */
    put_secret(e, "adapter", "token", "dDBrCg==");
}

static void adapter_stop(struct adapter *a)
{
    sl_http_server_free(a->plain);
    sl_test_tls_server_free(&a->tls);
    free(a->metadata);
}

static void test_harbor_adapter_status_scanner(void)
{
    struct env e;
    env_init(&e);
    struct adapter a;
    adapter_start(&a, &e, false);
    struct sl_reconcile_result res;
    apply(&e, "h",
          json_pack("{s:{s:{s:s, s:{s:s}}}}", "scanner", "harbor", "url", a.url, "secretRef",
                    "name", "adapter"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "h", "status"), "True");
    CHECK_STR_EQ(ready_field(&e, "h", "reason"), "ScannerReady");
    json_t *scanner = json_object_get(status_of(&e, "h"), "scanner");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "name")), "Trivy");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "vendor")), "Aqua Security");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "version")), "0.50.1");
    CHECK(json_object_get(status_of(&e, "h"), "database") == NULL);
    /* steady state: nothing rewritten */
    int writes = sl_fake_kube_writes(e.fk);
    CHECK_INT_EQ(reconcile(&e, "h", &res), 0);
    CHECK_INT_EQ(sl_fake_kube_writes(e.fk), writes);

    /* a wrong token: ScannerError naming the 401 and the adapter's message; no scanner is
     * claimed, and the token is in no message */
    put_secret(&e, "adapter", "token", "d3Jvbmc="); /* "wrong" */
    CHECK_INT_EQ(reconcile(&e, "h", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "h", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "h", "reason"), "ScannerError");
    CHECK_CONTAINS(ready_field(&e, "h", "message"), "HTTP 401: unauthorized");
    CHECK(strstr(ready_field(&e, "h", "message"), "wrong") == NULL);
    CHECK(json_object_get(status_of(&e, "h"), "scanner") == NULL);
    CHECK_INT_EQ(res.kind, SL_RESULT_TRANSIENT);

    adapter_stop(&a);
    env_free(&e);
}

static void h_count(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    (void)req;
    (*(int *)ctx)++;
    resp->status = 500;
}

/* A tenant's ScanPolicy cannot read the controller's files, point the controller at an adapter
 * the administrator did not list (it would receive pull tokens), or rescan faster than
 * --min-interval. */
static void test_administrator_settings_bound_the_policy(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    struct sl_err err = {0};
    /* secure defaults: no local paths, no adapters */
    struct sl_controller_config secure = {.min_interval_ms = 10000};
    env_use_config(&e, &secure);
    apply(&e, "file", json_pack("{s:{s:s}}", "database", "path", "/etc"), &res);
    CHECK_STR_EQ(ready_field(&e, "file", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "file", "reason"), "LocalPathNotAllowed");
    CHECK_CONTAINS(ready_field(&e, "file", "message"), "spec.database.path: Forbidden");
    CHECK_CONTAINS(ready_field(&e, "file", "message"), "--allow-local-paths");
    CHECK(json_object_get(status_of(&e, "file"), "database") == NULL);
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_INT_EQ(gate_answer(&e, "file", &err), SL_SCAN_GATE_WAITING);

    /* a recording stand-in for "http://attacker": it must receive nothing */
    int hits = 0;
    struct sl_http_server *srv = NULL;
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, NULL, "/*", h_count, &hits);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    char url[300];
    snprintf(url, sizeof(url), "http://%s", sl_http_server_addr(srv));
    apply(&e, "evil", json_pack("{s:{s:{s:s}}}", "scanner", "harbor", "url", url), &res);
    CHECK_STR_EQ(ready_field(&e, "evil", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "evil", "reason"), "ScannerURLNotAllowed");
    CHECK_CONTAINS(ready_field(&e, "evil", "message"), "--scanner-url");
    CHECK_CONTAINS(ready_field(&e, "evil", "message"), "none is set");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    /* https of the same host listed: plain http is still not allowed */
    char https_prefix[300];
    snprintf(https_prefix, sizeof(https_prefix), "https://%s", sl_http_server_addr(srv));
    const char *prefixes[] = {https_prefix};
    struct sl_controller_config https_only = {.scanner_urls = prefixes, .n_scanner_urls = 1};
    env_use_config(&e, &https_only);
    apply(&e, "evil",
          json_pack("{s:{s:{s:s}}, s:s}", "scanner", "harbor", "url", url, "severityThreshold",
                    "Critical"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "evil", "reason"), "ScannerURLNotAllowed");
    CHECK(strstr(ready_field(&e, "evil", "message"), "none is set") == NULL);
    CHECK_INT_EQ(gate_answer(&e, "evil", &err), SL_SCAN_GATE_WAITING);
    /* a database or VEX image over plain http (or unverified TLS) from a registry the
     * administrator did not list: nothing is asked, since whoever answers decides the scan */
    char db_image[320], vex_image[320];
    snprintf(db_image, sizeof(db_image), "%s/osv/db:1", sl_http_server_addr(srv));
    snprintf(vex_image, sizeof(vex_image), "%s/vex/doc:1", sl_http_server_addr(srv));
    env_use_config(&e, &secure);
    apply(&e, "plaindb", json_pack("{s:{s:s, s:b}}", "database", "image", db_image, "insecure", 1),
          &res);
    CHECK_STR_EQ(ready_field(&e, "plaindb", "reason"), "InsecureRegistryNotAllowed");
    CHECK_CONTAINS(ready_field(&e, "plaindb", "message"), "spec.database.insecure");
    CHECK_CONTAINS(ready_field(&e, "plaindb", "message"), "--insecure-registry");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    struct sl_controller_config local_only = {.allow_local_paths = true};
    env_use_config(&e, &local_only);
    apply(&e, "plainvex",
          json_pack("{s:{s:s}, s:[{s:s, s:b}]}", "database", "path", e.dir, "vex", "image",
                    vex_image, "insecure", 1),
          &res);
    CHECK_STR_EQ(ready_field(&e, "plainvex", "status"), "False");
    CHECK_CONTAINS(ready_field(&e, "plainvex", "message"), "spec.vex[0].insecure");
    CHECK_INT_EQ(hits, 0);
    sl_http_server_stop(srv);
    sl_http_server_free(srv);

    /* rescanInterval 1s with --min-interval 5m: looked at again after 5 minutes */
    struct sl_controller_config slow = {.allow_local_paths = true, .min_interval_ms = 300000};
    env_use_config(&e, &slow);
    apply(&e, "fast",
          json_pack("{s:{s:s}, s:s}", "database", "path", e.dir, "rescanInterval", "1s"), &res);
    CHECK_STR_EQ(ready_field(&e, "fast", "status"), "True");
    CHECK_INT_EQ(res.kind, SL_RESULT_DONE);
    CHECK_INT_EQ(res.requeue_after_ms, 300000);
    env_free(&e);
}

/* certSecretRef of the database image: the Secret is read before the registry is asked, and a
 * missing one or a half client certificate pair is named with its field (the registry at
 * 127.0.0.1:1 would only refuse the connection). */
static void test_registry_cert_secrets(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply(&e, "dbtls",
          json_pack("{s:{s:s, s:{s:s}}}", "database", "image", "127.0.0.1:1/osv/db:1",
                    "certSecretRef", "name", "db-tls"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "dbtls", "reason"), "SecretNotFound");
    CHECK_CONTAINS(ready_field(&e, "dbtls", "message"),
                   "spec.database.certSecretRef.name: Secret \"db-tls\" not found");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);

    /* "x" in base64: the pair check comes first */
    put_secret(&e, "db-tls", "tls.crt", "eA==");
    CHECK_INT_EQ(reconcile(&e, "dbtls", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "dbtls", "reason"), "InvalidSecret");
    CHECK_STR_EQ(ready_field(&e, "dbtls", "message"),
                 "spec.database.certSecretRef.name: Secret \"db-tls\" has tls.crt but no "
                 "tls.key: a client certificate needs both");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);

    env_free(&e);
}

/* A file of tests/data/tls in base64, as a Secret's data holds it. Caller frees. */
static char *tls_data_b64(const char *name)
{
    size_t n = 0;
    char *pem = sl_test_read_file(&n, "%s/../tls/%s", data_dir, name);
    char *b64 = sl_base64_encode(pem, n);
    free(pem);
    return b64;
}

/* A Secret of the policy's namespace with the keys of tests/data/tls given as pairs of Secret
 * key and file name (NULL-terminated). */
static void put_tls_secret(struct env *e, const char *name, const char *const *keys_files)
{
    json_t *data = json_object();
    for (size_t i = 0; keys_files[i]; i += 2) {
        char *b64 = tls_data_b64(keys_files[i + 1]);
        json_object_set_new(data, keys_files[i], json_string(b64));
        free(b64);
    }
    json_t *sec =
        json_pack("{s:{s:s, s:s}, s:o}", "metadata", "name", name, "namespace", NS, "data", data);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, sec), 0);
    json_decref(sec);
}

/* spec.scanner.harbor.certSecretRef: ca.crt and/or a client certificate (tls.crt + tls.key),
 * checked as for registries before the adapter is asked, and presented to an adapter whose TLS
 * listener requires one. */
static void test_harbor_client_certificate(void)
{
    struct env e;
    env_init(&e);
    struct adapter a;
    adapter_start(&a, &e, true);
    const char *url = a.url;
    struct sl_reconcile_result res;
    put_policy(&e, "m",
               json_pack("{s:{s:{s:s, s:{s:s}, s:{s:s}}}}", "scanner", "harbor", "url", url,
                         "secretRef", "name", "adapter", "certSecretRef", "name", "adapter-tls"));

    /* half a pair: named with the field, the Secret and the key; nothing asked */
    put_tls_secret(&e, "adapter-tls", (const char *const[]){"tls.key", "client.key", NULL});
    CHECK_INT_EQ(reconcile(&e, "m", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "m", "reason"), "InvalidSecret");
    CHECK_STR_EQ(ready_field(&e, "m", "message"),
                 "spec.scanner.harbor.certSecretRef.name: Secret \"adapter-tls\" has tls.key but "
                 "no tls.crt: a client certificate needs both");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);

    /* a key of another certificate: refused before any connection, the key not quoted */
    put_tls_secret(&e, "adapter-tls",
                   (const char *const[]){"ca.crt", "ca.crt", "tls.crt", "client.crt", "tls.key",
                                         "server.key", NULL});
    CHECK_INT_EQ(reconcile(&e, "m", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "m", "reason"), "InvalidSecret");
    CHECK_CONTAINS(ready_field(&e, "m", "message"),
                   "spec.scanner.harbor.certSecretRef.name: Secret \"adapter-tls\"");
    CHECK_CONTAINS(ready_field(&e, "m", "message"), "tls.key");
    CHECK(strstr(ready_field(&e, "m", "message"), "PRIVATE") == NULL);

    /* the CA alone: the adapter refuses the TLS session, and the message says why */
    put_tls_secret(&e, "adapter-tls", (const char *const[]){"ca.crt", "ca.crt", NULL});
    CHECK_INT_EQ(reconcile(&e, "m", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "m", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "m", "reason"), "ScannerError");
    CHECK_CONTAINS(ready_field(&e, "m", "message"), url);
    CHECK_CONTAINS(ready_field(&e, "m", "message"),
                   "the adapter requires a TLS client certificate and none was presented");

    /* the CA and the client certificate: Ready with the adapter's metadata */
    put_tls_secret(&e, "adapter-tls",
                   (const char *const[]){"ca.crt", "ca.crt", "tls.crt", "client.crt", "tls.key",
                                         "client.key", NULL});
    CHECK_INT_EQ(reconcile(&e, "m", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "m", "status"), "True");
    CHECK_STR_EQ(ready_field(&e, "m", "reason"), "ScannerReady");
    json_t *scanner = json_object_get(status_of(&e, "m"), "scanner");
    CHECK_STR_EQ(json_string_value(json_object_get(scanner, "name")), "Trivy");

    adapter_stop(&a);
    env_free(&e);
}

/* A registry that wants Basic credentials and records every Authorization it receives (an
 * anonymous request gets 401; one with credentials gets 404: nothing is stored). */
static void h_want_basic(void *ctx, const struct sl_http_request *req,
                         struct sl_http_response *resp)
{
    const char *auth = sl_http_request_header(req, "Authorization");
    json_array_append_new((json_t *)ctx, json_string(auth ? auth : "(none)"));
    resp->status = auth ? 404 : 401;
    if (!auth)
        sl_http_request_add_response_header(req, "WWW-Authenticate", "Basic realm=\"registry\"");
}

/* A kubernetes.io/dockerconfigjson Secret with user:pass for registry host. */
static void put_pull_secret(struct env *e, const char *name, const char *host, const char *user,
                            const char *pass)
{
    char up[128], cfg[512];
    snprintf(up, sizeof(up), "%s:%s", user, pass);
    char *auth = sl_base64_encode(up, strlen(up));
    snprintf(cfg, sizeof(cfg), "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}", host, auth);
    char *b64 = sl_base64_encode(cfg, strlen(cfg));
    json_t *sec =
        json_pack("{s:{s:s, s:s}, s:s, s:{s:s}}", "metadata", "name", name, "namespace", NS, "type",
                  "kubernetes.io/dockerconfigjson", "data", ".dockerconfigjson", b64);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SECRET, sec), 0);
    json_decref(sec);
    free(auth);
    free(b64);
}

/* ServiceAccount name of NS listing the pull Secrets (NULL-terminated; none: no list). */
static void put_service_account(struct env *e, const char *name, const char *const *pulls)
{
    json_t *sa = json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", NS);
    if (pulls) {
        json_t *list = json_array();
        for (size_t i = 0; pulls[i]; i++)
            json_array_append_new(list, json_pack("{s:s}", "name", pulls[i]));
        json_object_set_new(sa, "imagePullSecrets", list);
    }
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_SERVICEACCOUNT, sa), 0);
    json_decref(sa);
}

/* spec.database.serviceAccountName and spec.vex[].serviceAccountName: the credentials are those
 * of the ServiceAccount's imagePullSecrets of the policy's namespace (the first with an entry
 * for the registry), as for an ImageDelivery: a missing ServiceAccount or Secret, or no entry,
 * is named and nothing is asked anonymously; a change of a listed Secret enqueues the policy. */
static void test_service_account_credentials(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    struct sl_err err = {0};
    json_t *seen = json_array();
    struct sl_http_server *srv = NULL;
    struct sl_http_server_opts so = {.addr = "127.0.0.1:0"};
    CHECK_INT_EQ(sl_http_server_new(&srv, &so, &err), 0);
    sl_http_server_route(srv, NULL, "/*", h_want_basic, seen);
    CHECK_INT_EQ(sl_http_server_start(srv, &err), 0);
    const char *host = sl_http_server_addr(srv);
    const char *const lab_insecure[] = {"127.0.0.1"};
    struct sl_controller_config cc = lab_config;
    cc.insecure_registries = lab_insecure;
    cc.n_insecure_registries = 1;
    env_use_config(&e, &cc);
    char db_image[320], vex_image[320];
    snprintf(db_image, sizeof(db_image), "%s/security/advisories:latest", host);
    snprintf(vex_image, sizeof(vex_image), "%s/security/vex:1", host);

    apply(&e, "sa",
          json_pack("{s:{s:s, s:b, s:s}}", "database", "image", db_image, "insecure", 1,
                    "serviceAccountName", "puller"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "sa", "reason"), "ServiceAccountNotFound");
    CHECK_STR_EQ(ready_field(&e, "sa", "message"),
                 "spec.database.serviceAccountName: ServiceAccount " NS "/puller not found");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);

    put_service_account(&e, "puller", NULL);
    CHECK_INT_EQ(reconcile(&e, "sa", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "sa", "reason"), "NoCredentials");
    CHECK_CONTAINS(ready_field(&e, "sa", "message"),
                   "spec.database.serviceAccountName: no credentials for ");
    CHECK_CONTAINS(ready_field(&e, "sa", "message"),
                   "in imagePullSecrets of ServiceAccount " NS "/puller (it lists none)");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);

    const char *const pulls[] = {"other-registry", "db-pull", NULL};
    put_service_account(&e, "puller", pulls);
    CHECK_INT_EQ(reconcile(&e, "sa", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "sa", "reason"), "SecretNotFound");
    CHECK_STR_EQ(ready_field(&e, "sa", "message"),
                 "spec.database.serviceAccountName: imagePullSecrets[0] of ServiceAccount " NS
                 "/puller: Secret \"other-registry\" not found");
    /* nothing was asked while the credentials were not known */
    CHECK_INT_EQ(json_array_size(seen), 0);

    put_pull_secret(&e, "other-registry", "registry.other.example", "mallory", "other");
    put_pull_secret(&e, "db-pull", host, "alice", "s3cret");
    CHECK_INT_EQ(reconcile(&e, "sa", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "sa", "reason"), "DatabaseLoadFailed");
    /* the registry received alice's credentials (the second Secret's), never the other's */
    char *want_b64 = sl_base64_encode("alice:s3cret", 12);
    char want[64];
    snprintf(want, sizeof(want), "Basic %s", want_b64);
    free(want_b64);
    bool alice = false;
    for (size_t i = 0; i < json_array_size(seen); i++) {
        const char *got = json_string_value(json_array_get(seen, i));
        alice = alice || strcmp(got, want) == 0;
        CHECK(strcmp(got, "(none)") == 0 || strcmp(got, want) == 0);
    }
    CHECK(alice);
    /* a change of a listed pull Secret enqueues the policy */
    CHECK_INT_EQ(enqueued_by(&e, &SL_RES_SECRET, "db-pull"), 1);

    /* both ways of giving credentials: refused, as the schema refuses it */
    apply(&e, "both",
          json_pack("{s:{s:s, s:s, s:{s:s}}}", "database", "image", db_image, "serviceAccountName",
                    "puller", "secretRef", "name", "db-pull"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "both", "reason"), "InvalidSpec");
    CHECK_STR_EQ(ready_field(&e, "both", "message"),
                 "spec.database: set at most one of secretRef and serviceAccountName");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);

    /* a VEX image with its own ServiceAccount: named as spec.vex[i], then its credentials */
    json_array_clear(seen);
    apply(&e, "vexsa",
          json_pack("{s:{s:s}, s:[{s:s, s:b, s:s}]}", "database", "path", e.dir, "vex", "image",
                    vex_image, "insecure", 1, "serviceAccountName", "vex-puller"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "vexsa", "reason"), "ServiceAccountNotFound");
    CHECK_STR_EQ(ready_field(&e, "vexsa", "message"),
                 "spec.vex[0].serviceAccountName: ServiceAccount " NS "/vex-puller not found");
    CHECK_INT_EQ(json_array_size(seen), 0);
    const char *const vex_pulls[] = {"db-pull", NULL};
    put_service_account(&e, "vex-puller", vex_pulls);
    CHECK_INT_EQ(reconcile(&e, "vexsa", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "vexsa", "reason"), "VEXLoadFailed");
    alice = false;
    for (size_t i = 0; i < json_array_size(seen); i++)
        alice = alice || strcmp(json_string_value(json_array_get(seen, i)), want) == 0;
    CHECK(alice);

    /* serviceAccountName belongs to image entries */
    apply(&e, "vexcm",
          json_pack("{s:{s:s}, s:[{s:{s:s, s:s}, s:s}]}", "database", "path", e.dir, "vex",
                    "configMapRef", "name", "vex", "key", "doc.json", "serviceAccountName",
                    "vex-puller"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "vexcm", "message"),
                 "spec.vex[0].serviceAccountName: Forbidden: only with image");
    apply(&e, "vexboth",
          json_pack("{s:{s:s}, s:[{s:s, s:s, s:{s:s}}]}", "database", "path", e.dir, "vex", "image",
                    vex_image, "serviceAccountName", "vex-puller", "secretRef", "name", "db-pull"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "vexboth", "message"),
                 "spec.vex[0]: set at most one of secretRef and serviceAccountName");
    sl_http_server_stop(srv);
    sl_http_server_free(srv);
    json_decref(seen);
    env_free(&e);
}

/* spec.vex[].certSecretRef: read with the same checks as the database's before the VEX registry
 * is asked; a broken pair names the field and the Secret, and nothing of the key reaches status
 * or events; only image entries take one. */
static void test_vex_cert_secret(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply(&e, "vextls",
          json_pack("{s:{s:s}, s:[{s:s, s:{s:s}}]}", "database", "path", e.dir, "vex", "image",
                    "127.0.0.1:1/security/vex:1", "certSecretRef", "name", "vex-tls"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "vextls", "reason"), "SecretNotFound");
    CHECK_STR_EQ(ready_field(&e, "vextls", "message"),
                 "spec.vex[0].certSecretRef.name: Secret \"vex-tls\" not found");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    /* a changed Secret of that name enqueues the policy */
    CHECK_INT_EQ(enqueued_by(&e, &SL_RES_SECRET, "vex-tls"), 1);

    /* a key without its certificate: "private-key-material" in base64 */
    put_secret(&e, "vex-tls", "tls.key", "cHJpdmF0ZS1rZXktbWF0ZXJpYWw=");
    CHECK_INT_EQ(reconcile(&e, "vextls", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "vextls", "reason"), "InvalidSecret");
    CHECK_CONTAINS(ready_field(&e, "vextls", "message"),
                   "spec.vex[0].certSecretRef.name: Secret \"vex-tls\" has tls.key but no tls.crt");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    char *st = json_dumps(status_of(&e, "vextls"), 0);
    char *ev = json_dumps(e.events, 0);
    CHECK(st && strstr(st, "private-key-material") == NULL &&
          strstr(st, "cHJpdmF0ZS1rZXktbWF0ZXJpYWw") == NULL);
    CHECK(ev && strstr(ev, "private-key-material") == NULL &&
          strstr(ev, "cHJpdmF0ZS1rZXktbWF0ZXJpYWw") == NULL);
    free(st);
    free(ev);

    apply(&e, "vexcm",
          json_pack("{s:{s:s}, s:[{s:{s:s, s:s}, s:{s:s}}]}", "database", "path", e.dir, "vex",
                    "configMapRef", "name", "vex", "key", "doc.json", "certSecretRef", "name",
                    "vex-tls"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "vexcm", "message"),
                 "spec.vex[0].certSecretRef: Forbidden: only with image");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    env_free(&e);
}

static void test_configmap_appearing_enqueues_policy(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply(&e, "cm",
          json_pack("{s:{s:s}, s:{s:{s:{s:s, s:s}}}}", "database", "path", e.dir, "malware",
                    "hashes", "configMapRef", "name", "bad-hashes", "key", "sigs.hsb"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "cm", "reason"), "ConfigMapNotFound");
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "bad-hashes", "namespace",
                           NS, "data", "sigs.hsb", HSB_LINE);
    json_t *other = json_pack("{s:{s:s, s:s}}", "metadata", "name", "other", "namespace", NS);
    json_t *got = json_array();
    e.r->map_secondary(e.r->self, &SL_RES_CONFIGMAP, other, collect, got);
    e.r->map_secondary(e.r->self, &SL_RES_SECRET, cm, collect, got); /* a Secret of that name */
    CHECK_INT_EQ(json_array_size(got), 0);
    e.r->map_secondary(e.r->self, &SL_RES_CONFIGMAP, cm, collect, got);
    CHECK_INT_EQ(json_array_size(got), 1);
    CHECK_STR_EQ(json_string_value(json_array_get(got, 0)), NS "/cm");
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm), 0);
    CHECK_INT_EQ(reconcile(&e, "cm", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "cm", "status"), "True");
    CHECK_INT_EQ(json_integer_value(json_object_get(status_of(&e, "cm"), "malwareHashes")), 1);
    /* new hashes in the ConfigMap: reloaded */
    json_object_set_new(json_object_get(cm, "data"), "sigs.hsb",
                        json_string(HSB_LINE "00000000000000000000000000000000000000000000000000"
                                             "00000000000000:12:Test-Two\n"));
    CHECK_INT_EQ(sl_fake_kube_put(e.fk, &SL_RES_CONFIGMAP, cm), 0);
    CHECK_INT_EQ(reconcile(&e, "cm", &res), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(status_of(&e, "cm"), "malwareHashes")), 2);
    /* once deleted, the policy's references are dropped */
    sl_fake_kube_remove(e.fk, &SL_RES_SCANPOLICY, NS, "cm");
    CHECK_INT_EQ(reconcile(&e, "cm", &res), 0);
    json_array_clear(got);
    e.r->map_secondary(e.r->self, &SL_RES_CONFIGMAP, cm, collect, got);
    CHECK_INT_EQ(json_array_size(got), 0);
    json_decref(got);
    json_decref(cm);
    json_decref(other);
    env_free(&e);
}

static void test_deleted_policy_is_forgotten(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    apply_local_database(&e, "default", &res);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    /* becoming invalid makes the gate wait rather than scan with a stale spec */
    apply(&e, "default",
          json_pack("{s:{s:s}, s:s}", "database", "path", e.dir, "severityThreshold", "Bad"), &res);
    struct sl_err err = {0};
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_CONTAINS(err.msg, "not Ready");
    sl_fake_kube_remove(e.fk, &SL_RES_SCANPOLICY, NS, "default");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_CONTAINS(err.msg, "not found");
    env_free(&e);
}

/* Two controllers in one process (two stores, as two wirings make them) share nothing: a
 * policy one of them loaded is unknown to the other's gate and revision. */
static void test_stores_are_separate(void)
{
    struct env a, b;
    env_init(&a);
    env_init(&b);
    struct sl_reconcile_result res;
    apply_local_database(&a, "default", &res);
    CHECK_STR_EQ(ready_field(&a, "default", "status"), "True");
    char rev[128];
    CHECK_INT_EQ(sl_scanpolicy_revision(a.store, rev, sizeof(rev), NS, "default"), 0);
    CHECK_INT_EQ(sl_scanpolicy_revision(b.store, rev, sizeof(rev), NS, "default"), SL_ENOTFOUND);
    struct sl_err err = {0};
    CHECK_INT_EQ(gate_answer(&b, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_CONTAINS(err.msg, "not found");
    env_free(&b);
    env_free(&a);
}

/* The vendor's OpenVEX document as a ConfigMap key (text of a file in tests/data/scan/vex). */
static void put_vex_configmap(struct env *e, const char *file, const char *text)
{
    char *data = NULL;
    if (file) {
        data = sl_test_read_file(NULL, "%s/vex/%s", data_dir, file);
        text = data;
    }
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "vendor-vex", "namespace",
                           NS, "data", "vex.json", text);
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_CONFIGMAP, cm), 0);
    json_decref(cm);
    free(data);
}

static void test_vex_configmap(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    struct sl_err err = {0};
    put_policy(&e, "default",
               json_pack("{s:{s:s}, s:[{s:{s:s, s:s}}]}", "database", "path", e.dir, "vex",
                         "configMapRef", "name", "vendor-vex", "key", "vex.json"));
    /* the ConfigMap is not there yet: not Ready, the gate waits, its arrival enqueues us */
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "ConfigMapNotFound");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "spec.vex[0] (ConfigMap vendor-vex key vex.json): ConfigMap \"vendor-vex\" "
                   "not found");
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_INT_EQ(enqueued_by(&e, &SL_RES_CONFIGMAP, "vendor-vex"), 1);

    put_vex_configmap(&e, "sample-app.openvex.json", NULL);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "; 2 OpenVEX statements from 1 documents");
    json_t *vex = json_object_get(status_of(&e, "default"), "vex");
    CHECK_INT_EQ(json_integer_value(json_object_get(vex, "documents")), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(vex, "statements")), 2);
    char rev1[128] = "", rev2[128] = "";
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev1, sizeof(rev1), NS, "default"), 0);
    /* unchanged: the same statements stay in use (cached scans stay valid) */
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev2, sizeof(rev2), NS, "default"), 0);
    CHECK_STR_EQ(rev1, rev2);

    /* the vendor edits the document into something that is not valid OpenVEX: never a silent
     * pass, the policy says which entry and field, the gate waits */
    put_vex_configmap(&e, NULL,
                      "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"timestamp\": "
                      "\"2026-01-10T08:00:00Z\", \"statements\": [{\"vulnerability\": {\"name\": "
                      "\"CVE-2099-0001\"}, \"products\": [{\"@id\": \"registry.example/app\"}], "
                      "\"status\": \"not_affected\"}]}");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "InvalidVEX");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "spec.vex[0] (ConfigMap vendor-vex key vex.json): statements[0]: Required "
                   "value: a not_affected statement needs a justification or an "
                   "impact_statement");
    CHECK(has_event(&e, "Warning", "InvalidVEX"));
    CHECK(json_object_get(status_of(&e, "default"), "vex") == NULL);
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_CONTAINS(err.msg, "is not Ready");
    put_vex_configmap(&e, NULL, "not json");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "InvalidVEX");
    CHECK_CONTAINS(ready_field(&e, "default", "message"), "vex.json): not JSON");

    /* fixed: Ready again, with another revision (delivered digests are scanned again) */
    put_vex_configmap(&e, "vendor.openvex.json", NULL);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev2, sizeof(rev2), NS, "default"), 0);
    CHECK(strcmp(rev1, rev2) != 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(status_of(&e, "default"), "vex"), "statements")),
                 6);

    /* the database fails to reload: the last good one stays in use, and so do the statements
     * (a registry hiccup must not bring suppressed findings back) */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.json", e.dir);
    write_file(bad, "{\"id\": \"CVE-2099-9\", \"affected\": [ {\"package\": ");
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "StaleDatabase");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "; 6 OpenVEX statements from 1 documents");
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev1, sizeof(rev1), NS, "default"), 0);
    CHECK_STR_EQ(rev1, rev2);
    unlink(bad);

    /* an entry with both sources, or none */
    apply(&e, "both",
          json_pack("{s:{s:s}, s:[{s:{s:s, s:s}, s:s}]}", "database", "path", e.dir, "vex",
                    "configMapRef", "name", "vendor-vex", "key", "vex.json", "image",
                    "registry.example/vex:1"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "both", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "both", "message"),
                   "spec.vex[0]: Invalid value: set exactly one of configMapRef, image and "
                   "attestations");
    env_free(&e);
}

/* A ConfigMap holding a freshly generated public key (PEM) under cosign.pub. */
static void put_key_configmap(struct env *e)
{
    struct sl_key *k = NULL;
    char *pem = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&k, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_public_pem(&pem, k, &err), 0);
    json_t *cm = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "vendor-keys",
                           "namespace", NS, "data", "cosign.pub", pem ? pem : "");
    CHECK_INT_EQ(sl_fake_kube_put(e->fk, &SL_RES_CONFIGMAP, cm), 0);
    json_decref(cm);
    free(pem);
    sl_key_free(k);
}

/* spec.vex attestations: the trusted keys are read by the reconciler (a missing ConfigMap is
 * waited for, its arrival enqueues the policy); a new key is a new revision, so cached verdicts
 * are not reused; two attestations entries are refused. */
static void test_vex_attestation_keys(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    struct sl_err err = {0};
    apply(&e, "default",
          json_pack("{s:{s:s}, s:[{s:{s:[{s:s, s:{s:{s:s, s:s}}}]}}]}", "database", "path", e.dir,
                    "vex", "attestations", "authorities", "name", "vendor", "key", "configMapRef",
                    "name", "vendor-keys", "key", "cosign.pub"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "False");
    CHECK_STR_EQ(ready_field(&e, "default", "reason"), "ConfigMapNotFound");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "spec.vex[0].attestations.authorities[0] (vendor): ConfigMap \"vendor-keys\" "
                   "not found");
    CHECK_INT_EQ(gate_answer(&e, "default", &err), SL_SCAN_GATE_WAITING);
    CHECK_INT_EQ(enqueued_by(&e, &SL_RES_CONFIGMAP, "vendor-keys"), 1);

    put_key_configmap(&e);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_CONTAINS(ready_field(&e, "default", "message"),
                   "; 0 OpenVEX statements from 0 documents and each image's signed OpenVEX "
                   "attestations");
    char rev1[128] = "", rev2[128] = "";
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev1, sizeof(rev1), NS, "default"), 0);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev2, sizeof(rev2), NS, "default"), 0);
    CHECK_STR_EQ(rev1, rev2);
    /* the vendor rotates its key: another revision */
    put_key_configmap(&e);
    CHECK_INT_EQ(reconcile(&e, "default", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "default", "status"), "True");
    CHECK_INT_EQ(sl_scanpolicy_revision(e.store, rev2, sizeof(rev2), NS, "default"), 0);
    CHECK(strcmp(rev1, rev2) != 0);

    json_t *entry = json_pack("{s:{s:[{s:s, s:{s:{s:s}}}]}}", "attestations", "authorities", "name",
                              "vendor", "key", "signingKeyRef", "name", "vendor-key");
    put_policy(&e, "two",
               json_pack("{s:{s:s}, s:[O, O]}", "database", "path", e.dir, "vex", entry, entry));
    json_decref(entry);
    CHECK_INT_EQ(reconcile(&e, "two", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "two", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "two", "message"), "spec.vex[1].attestations: Duplicate value");
    env_free(&e);
}

/* Cloud registry hosts of the provider tests: every connection to them goes to a TLS server of
 * 127.0.0.1 (set in main before any transport is used) whose certificate for them was issued by
 * a test CA (tests/data/tls/cloud-ca.crt), so nothing leaves the machine and, unless a
 * certSecretRef gives that CA, the registry step fails, without retries, after the credentials
 * were got. */
#define ECR_HOST  "123456789012.dkr.ecr.us-east-1.amazonaws.com"
#define ACR_HOST  "sealiftlab.azurecr.io"
#define ROLE_ARN  "arn:aws:iam::123456789012:role/db-reader"
#define CLIENT_ID "11111111-2222-3333-4444-555555555555"

/* ServiceAccount name of NS with annotation key = value (key NULL: none). */
static void put_annotated_sa(struct env *e, const char *name, const char *key, const char *value)
{
    const char *const ann[] = {key, value, NULL};
    CHECK_INT_EQ(sl_test_put_service_account(e->fk, NS, name, ann), 0);
}

/* Neither the token nor the registry password reaches status or events. */
static void check_no_cloud_secret(struct env *e, const char *name)
{
    char *status = json_dumps(status_of(e, name), 0);
    char *events = json_dumps(e->events, 0);
    CHECK(status && strstr(status, "token:") == NULL &&
          strstr(status, SL_FAKE_CLOUD_PASSWORD) == NULL);
    CHECK(events && strstr(events, "token:") == NULL &&
          strstr(events, SL_FAKE_CLOUD_PASSWORD) == NULL);
    free(status);
    free(events);
}

/* spec.database.provider aws, as ImageDelivery's: the IAM role of the ServiceAccount's
 * annotation logs in to ECR with a token of that ServiceAccount, once per credentials' life
 * (the cache); a registry that is not ECR, the controller's --workload-identity off and a
 * ServiceAccount without the annotation are refused before anything is asked of the cloud. */
static void test_provider_aws_database(void)
{
    struct env e;
    env_init(&e);
    struct sl_reconcile_result res;
    const char *db = ECR_HOST "/security/advisories:latest";

    /* the administrator did not turn workload identity on */
    apply(&e, "aws",
          json_pack("{s:{s:s, s:s, s:s}}", "database", "image", db, "provider", "aws",
                    "serviceAccountName", "db-reader"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "WorkloadIdentityDisabled");
    CHECK_STR_EQ(ready_field(&e, "aws", "message"),
                 "spec.database.provider: aws needs the controller's --workload-identity flag "
                 "(the administrator allows exchanging ServiceAccount tokens for cloud "
                 "credentials; docs/api.md, Cloud registries)");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    CHECK_INT_EQ(e.cloud.calls, 0);

    struct sl_controller_config cc = lab_config;
    cc.workload_identity = true;
    env_use_config(&e, &cc);

    /* a registry that is not ECR never gets the role's credentials */
    apply(&e, "other",
          json_pack("{s:{s:s, s:s, s:s}}", "database", "image",
                    "registry.example.com/security/advisories:latest", "provider", "aws",
                    "serviceAccountName", "db-reader"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "other", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "other", "message"), "spec.database.provider: aws: ");
    CHECK_CONTAINS(ready_field(&e, "other", "message"), "registry.example.com");
    CHECK_INT_EQ(res.kind, SL_RESULT_STALLED);
    /* nor does a policy without a ServiceAccount, or over plain http */
    apply(&e, "nosa", json_pack("{s:{s:s, s:s}}", "database", "image", db, "provider", "aws"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "nosa", "message"),
                 "spec.database: provider aws needs serviceAccountName (the ServiceAccount "
                 "whose identity is exchanged for registry credentials)");
    apply(&e, "plain",
          json_pack("{s:{s:s, s:s, s:s, s:b}}", "database", "image", db, "provider", "aws",
                    "serviceAccountName", "db-reader", "insecure", 1),
          &res);
    CHECK_STR_EQ(ready_field(&e, "plain", "message"),
                 "spec.database: provider aws sends credentials over verified TLS only (no "
                 "insecure or insecureSkipTLSVerify)");
    CHECK_INT_EQ(e.cloud.calls, 0);

    /* the ServiceAccount is missing, then has no role */
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "ServiceAccountNotFound");
    CHECK_STR_EQ(ready_field(&e, "aws", "message"),
                 "spec.database.serviceAccountName: ServiceAccount " NS "/db-reader not found");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    put_annotated_sa(&e, "db-reader", NULL, NULL);
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "InvalidServiceAccount");
    CHECK_STR_EQ(ready_field(&e, "aws", "message"),
                 "spec.database.serviceAccountName: ServiceAccount " NS
                 "/db-reader has no annotation eks.amazonaws.com/role-arn (the IAM role whose "
                 "ECR credentials it gets)");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    CHECK_INT_EQ(e.cloud.calls, 0);

    /* the role logs in with the ServiceAccount's token for STS; the registry comes next (here
     * unreachable: the load fails after the credentials were got) */
    put_annotated_sa(&e, "db-reader", SL_AWS_ROLE_ANNOTATION, ROLE_ARN);
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_INT_EQ(e.cloud.calls, 1);
    CHECK_STR_EQ(e.cloud.identity, ROLE_ARN);
    CHECK_STR_EQ(e.cloud.session, "sealift." NS ".db-reader");
    CHECK_STR_EQ(e.cloud.token, "token:" NS ":db-reader:sts.amazonaws.com");
    CHECK_STR_EQ(e.cloud.host, "us-east-1");
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "DatabaseLoadFailed");
    check_no_cloud_secret(&e, "aws");

    /* a minute later: the cached credentials, no new login; after they expire, a new one */
    e.clock += 60;
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_INT_EQ(e.cloud.calls, 1);
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "DatabaseLoadFailed");
    e.clock += 12 * 3600;
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_INT_EQ(e.cloud.calls, 2);

    /* STS refuses: named, waiting for a change of the role's trust */
    e.cloud.rc = SL_EAUTH;
    e.clock += 24 * 3600;
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "CloudAuthFailed");
    CHECK_STR_EQ(ready_field(&e, "aws", "message"),
                 "spec.database: AWS login as " ROLE_ARN " for ServiceAccount " NS
                 "/db-reader: STS https://sts.us-east-1.amazonaws.com/: AccessDenied: Not "
                 "authorized to perform sts:AssumeRoleWithWebIdentity");
    CHECK_INT_EQ(res.kind, SL_RESULT_WAITING);
    check_no_cloud_secret(&e, "aws");
    env_free(&e);
}

/* spec.vex[].provider azure: an image entry's ServiceAccount logs in to its ACR as the Entra ID
 * application of its annotation; only image entries take a provider, and only on their
 * cloud's registry. */
static void test_provider_azure_vex(void)
{
    struct env e;
    env_init_workload_identity(&e);
    struct sl_reconcile_result res;
    put_annotated_sa(&e, "vex-reader", SL_AZURE_CLIENT_ID_ANNOTATION, CLIENT_ID);

    apply(&e, "cm",
          json_pack("{s:{s:s}, s:[{s:{s:s, s:s}, s:s}]}", "database", "path", e.dir, "vex",
                    "configMapRef", "name", "vex", "key", "doc.json", "provider", "azure"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "cm", "reason"), "InvalidSpec");
    CHECK_STR_EQ(ready_field(&e, "cm", "message"),
                 "spec.vex[0].provider: Forbidden: only with image");
    apply(&e, "notacr",
          json_pack("{s:{s:s}, s:[{s:s, s:s, s:s}]}", "database", "path", e.dir, "vex", "image",
                    ECR_HOST "/security/vex:1", "provider", "azure", "serviceAccountName",
                    "vex-reader"),
          &res);
    CHECK_STR_EQ(ready_field(&e, "notacr", "reason"), "InvalidSpec");
    CHECK_CONTAINS(ready_field(&e, "notacr", "message"), "spec.vex[0].provider: azure: ");
    CHECK_INT_EQ(e.cloud.calls, 0);

    apply(&e, "acr",
          json_pack("{s:{s:s}, s:[{s:s, s:s, s:s}]}", "database", "path", e.dir, "vex", "image",
                    ACR_HOST "/security/vex:1", "provider", "azure", "serviceAccountName",
                    "vex-reader"),
          &res);
    CHECK_INT_EQ(e.cloud.calls, 1);
    CHECK_STR_EQ(e.cloud.identity, "(controller's)/" CLIENT_ID);
    CHECK_STR_EQ(e.cloud.token, "token:" NS ":vex-reader:api://AzureADTokenExchange");
    CHECK_STR_EQ(e.cloud.host, ACR_HOST);
    CHECK_STR_EQ(ready_field(&e, "acr", "reason"), "VEXLoadFailed");
    check_no_cloud_secret(&e, "acr");
    e.cloud.rc = SL_EAUTH;
    e.clock += 24 * 3600;
    CHECK_INT_EQ(reconcile(&e, "acr", &res), 0);
    CHECK_STR_EQ(ready_field(&e, "acr", "reason"), "CloudAuthFailed");
    CHECK_STR_EQ(ready_field(&e, "acr", "message"),
                 "spec.vex[0]: Azure login as client " CLIENT_ID " for ServiceAccount " NS
                 "/vex-reader: Entra ID https://login.microsoftonline.com/controller-tenant/oauth2/"
                 "v2.0/token: invalid_client: AADSTS70021: No matching federated identity "
                 "record found for presented assertion.");
    env_free(&e);
}

/* The cloud registries of the provider tests (ECR_HOST, ACR_HOST): Basic credentials are
 * refused (401) when their password is refused ("*": any; NULL: none), accepted otherwise (and
 * every manifest is unknown: 404). Set between reconciles only. */
static const char *cloud_refused_password;

static void h_cloud_registry(void *ctx, const struct sl_http_request *req,
                             struct sl_http_response *resp)
{
    (void)ctx;
    const char *auth = sl_http_request_header(req, "Authorization");
    const char *refused = cloud_refused_password;
    bool ok = false;
    if (auth && strncmp(auth, "Basic ", 6) == 0) {
        unsigned char *up = NULL;
        size_t len = 0;
        if (sl_base64_decode(&up, &len, auth + 6, strlen(auth + 6)) == 0) {
            char *colon = memchr(up, ':', len);
            char pass[128] = "";
            if (colon)
                snprintf(pass, sizeof(pass), "%.*s", (int)(len - (size_t)(colon + 1 - (char *)up)),
                         colon + 1);
            ok = colon && (!refused || (strcmp(refused, "*") != 0 && strcmp(refused, pass) != 0));
        }
        free(up);
    }
    resp->status = ok ? 404 : 401;
    if (!ok)
        sl_http_request_add_response_header(req, "WWW-Authenticate", "Basic realm=\"registry\"");
}

/* spec.database.provider aws on an ECR that refuses the credentials kept from the last login
 * (a token revoked, the role's policy changed): they are forgotten and the same pass logs in
 * again (a Normal event says so), so the database is reached; a registry that refuses new
 * credentials too costs one login per pass, never a loop; nothing secret in status or
 * events. */
static void test_provider_refused_credentials(void)
{
    struct env e;
    env_init_workload_identity(&e);
    struct sl_reconcile_result res;
    put_annotated_sa(&e, "db-reader", SL_AWS_ROLE_ANNOTATION, ROLE_ARN);
    put_tls_secret(&e, "ecr-ca", (const char *const[]){"ca.crt", "cloud-ca.crt", NULL});
    cloud_refused_password = NULL;
    apply(&e, "aws",
          json_pack("{s:{s:s, s:s, s:s, s:{s:s}}}", "database", "image",
                    ECR_HOST "/security/advisories:latest", "provider", "aws", "serviceAccountName",
                    "db-reader", "certSecretRef", "name", "ecr-ca"),
          &res);
    CHECK_INT_EQ(e.cloud.calls, 1);
    /* the registry took the credentials: it only has no such database */
    CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "DatabaseLoadFailed");
    CHECK_CONTAINS(ready_field(&e, "aws", "message"), "404");

    /* the first login's credentials stop working: a new login in the same pass */
    cloud_refused_password = "ecr-" SL_FAKE_CLOUD_PASSWORD "-1";
    e.clock += 60;
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_INT_EQ(e.cloud.calls, 2);
    CHECK_CONTAINS(ready_field(&e, "aws", "message"), "404");
    CHECK(has_event(&e, "Normal", "CloudCredentialsRenewed"));
    char *events = json_dumps(e.events, 0);
    CHECK_CONTAINS(events, "spec.database: the registry refused the cloud credentials kept from "
                           "the last login (");
    CHECK_CONTAINS(events, "logged in again as ServiceAccount " NS "/db-reader");
    free(events);
    e.clock += 60;
    CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
    CHECK_INT_EQ(e.cloud.calls, 2);

    /* every credential of the role refused: one new login per pass, then the refusal */
    cloud_refused_password = "*";
    for (int i = 0; i < 3; i++) {
        e.clock += 60;
        CHECK_INT_EQ(reconcile(&e, "aws", &res), 0);
        CHECK_INT_EQ(e.cloud.calls, 3 + i);
        CHECK_STR_EQ(ready_field(&e, "aws", "reason"), "DatabaseLoadFailed");
        CHECK_CONTAINS(ready_field(&e, "aws", "message"), "401");
    }
    /* new logins the registry refused too are no renewal: only the earlier pass's event */
    CHECK_INT_EQ(sl_test_count_events(e.events, "CloudCredentialsRenewed"), 1);
    check_no_cloud_secret(&e, "aws");
    cloud_refused_password = NULL;
    env_free(&e);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    /* the cloud registries of the provider tests: a TLS server here (h_cloud_registry) whose
     * certificate, cloud.crt, was issued by a test CA that no system trusts: a policy reaches
     * it only when its certSecretRef gives cloud-ca.crt (see ECR_HOST) */
    struct sl_err err = {0};
    char tls_dir[1024], ecr_to[256], acr_to[256], bad[128];
    snprintf(tls_dir, sizeof(tls_dir), "%s/../tls", data_dir);
    char cloud_cert[1100], cloud_key[1100];
    snprintf(cloud_cert, sizeof(cloud_cert), "%s/cloud.crt", tls_dir);
    snprintf(cloud_key, sizeof(cloud_key), "%s/cloud.key", tls_dir);
    struct sl_http_server_opts cso = {
        .addr = "127.0.0.1:0", .tls_cert_file = cloud_cert, .tls_key_file = cloud_key};
    struct sl_http_server *cloud_srv = NULL;
    CHECK_INT_EQ(sl_http_server_new(&cloud_srv, &cso, &err), 0);
    sl_http_server_route(cloud_srv, NULL, "/*", h_cloud_registry, NULL);
    CHECK_INT_EQ(sl_http_server_start(cloud_srv, &err), 0);
    const char *port = strrchr(sl_http_server_addr(cloud_srv), ':') + 1;
    snprintf(ecr_to, sizeof(ecr_to), ECR_HOST ":443:127.0.0.1:%s", port);
    snprintf(acr_to, sizeof(acr_to), ACR_HOST ":443:127.0.0.1:%s", port);
    const char *const connect_to[] = {ecr_to, acr_to};
    CHECK_INT_EQ(sl_transport_set_connect_to(connect_to, 2, bad, sizeof(bad)), 0);
    RUN(test_ready_with_records_and_hashes);
    RUN(test_bad_database_keeps_last_good);
    RUN(test_bad_database_without_previous);
    RUN(test_empty_database_is_not_ready);
    RUN(test_invalid_spec_and_missing_refs);
    RUN(test_harbor_scanner_spec);
    RUN(test_harbor_adapter_status_scanner);
    RUN(test_deleted_policy_is_forgotten);
    RUN(test_stores_are_separate);
    RUN(test_administrator_settings_bound_the_policy);
    RUN(test_registry_cert_secrets);
    RUN(test_harbor_client_certificate);
    RUN(test_service_account_credentials);
    RUN(test_vex_cert_secret);
    RUN(test_configmap_appearing_enqueues_policy);
    RUN(test_vex_configmap);
    RUN(test_vex_attestation_keys);
    RUN(test_provider_aws_database);
    RUN(test_provider_azure_vex);
    RUN(test_provider_refused_credentials);
    sl_http_server_stop(cloud_srv);
    sl_http_server_free(cloud_srv);
    return CHECK_EXIT();
}
