/* Unit tests of attestations (sign/attestation.c): what real cosign v3.1.3 wrote is read and
 * verified (tests/data/sign/attestation), the newest one of a type is picked from the .att tag
 * and from bundle referrers (fake registry), and hostile or stale ones are refused with the
 * reason a user sees. */
#include "check.h"
#include "testdata.h"
#include "fake_registry.h"
#include "registry_fixture.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "sign/attestation.h"
#include "sign/bundle.h"
#include "util/base64.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST "reg.example"
#define REPO "team/app"

static const char *data_dir;

static char *read_data(const char *name, size_t *len)
{
    return sl_test_read_file(len, "%s/sign/attestation/%s", data_dir, name);
}

static struct sl_key *cosign_key(void)
{
    size_t len = 0;
    char *pem = read_data("cosign.pub", &len);
    struct sl_key *k = NULL;
    struct sl_err err = {0};
    if (sl_key_load_public_pem(&k, pem, len, &err) != 0) {
        fprintf(stderr, "cosign.pub: %s\n", err.msg);
        exit(1);
    }
    free(pem);
    return k;
}

static void cosign_digest(char out[72])
{
    char *d = read_data("subject.digest", NULL);
    d[strcspn(d, "\n")] = '\0';
    snprintf(out, 72, "%s", d);
    free(d);
}

/* A DSSE envelope over statement, signed with key (as cosign writes it). Caller frees. */
static char *envelope(const struct sl_key *key, const char *statement)
{
    char *pae =
        sl_xasprintf("DSSEv1 28 application/vnd.in-toto+json %zu %s", strlen(statement), statement);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_sign(&sig, &sig_len, key, pae, strlen(pae), &err), 0);
    char *p64 = sl_base64_encode(statement, strlen(statement));
    char *s64 = sl_base64_encode(sig, sig_len);
    json_t *env = json_pack("{s:s, s:s, s:[{s:s}]}", "payloadType", "application/vnd.in-toto+json",
                            "payload", p64, "signatures", "sig", s64);
    char *out = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    free(pae);
    free(sig);
    free(p64);
    free(s64);
    return out;
}

/* A vuln statement for digest finished at `finished` with the given findings (JSON array text,
 * sealift's report shape). Caller frees. */
static char *vuln_statement(const char *digest, const char *finished, const char *findings)
{
    json_t *f = json_loads(findings, 0, NULL);
    json_t *st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:{s:s, s:{s:o}}, s:{s:s}}}", "_type",
                           "https://in-toto.io/Statement/v0.1", "subject", "name", HOST "/" REPO,
                           "digest", "sha256", digest + 7, "predicateType", SL_ATTESTATION_VULN,
                           "predicate", "scanner", "uri", "pkg:sealift", "result",
                           "vulnerabilities", f, "metadata", "scanFinishedOn", finished);
    char *out = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    return out;
}

static void test_types(void)
{
    struct sl_attestation_type t;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "vuln", &err), 0);
    CHECK_INT_EQ((int)t.n_predicates, 1);
    CHECK_STR_EQ(t.predicate[0], SL_ATTESTATION_VULN);
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "sbom", &err), 0);
    CHECK_INT_EQ((int)t.n_predicates, 2);
    CHECK_STR_EQ(t.predicate[1], SL_ATTESTATION_CYCLONEDX);
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "spdxjson", &err), 0);
    CHECK_STR_EQ(t.predicate[0], "https://spdx.dev/Document");
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "https://example.com/pred/v1", &err), 0);
    CHECK_STR_EQ(t.predicate[0], "https://example.com/pred/v1");
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "vulnerability", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "want vuln, sbom");
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "http://example.com/x", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "https://a b", &err), SL_EINVAL);
    int r = 0;
    CHECK_INT_EQ(sl_attestation_severity_parse(&r, "high"), 0);
    CHECK_INT_EQ(r, 3);
    CHECK_INT_EQ(sl_attestation_severity_parse(&r, "Severe"), SL_EINVAL);
}

/* The envelope and the bundle cosign v3.1.3 wrote verify with its key; the statement's signed
 * scanFinishedOn is the attestation's time. */
static void test_cosign_written(void)
{
    struct sl_key *k = cosign_key(), *other = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&other, SL_KEY_ALG_ECDSA_P256, &err), 0);
    char digest[72];
    cosign_digest(digest);
    size_t len = 0;
    char *env = read_data("cosign-vuln.dsse.json", &len);
    const struct sl_key *keys[] = {other, k};
    struct sl_attestation a = {0};
    CHECK_INT_EQ(sl_attestation_check_envelope(&a, env, len, digest, keys, 2, &err), 0);
    CHECK_STR_EQ(a.predicate_type, SL_ATTESTATION_VULN);
    CHECK_INT_EQ(a.key_index, 1);
    CHECK(a.has_time);
    time_t want = 0;
    sl_time_parse_rfc3339(&want, "2026-12-06T07:01:00Z");
    CHECK_INT_EQ((long long)a.time, (long long)want);
    size_t n = 9;
    int worst = 9;
    CHECK_INT_EQ(sl_attestation_vuln_count(&n, &worst, NULL, a.statement, 3, &err), 0);
    CHECK_INT_EQ((int)n, 0);
    sl_attestation_clear(&a);
    /* another key only: refused, naming the key */
    CHECK_INT_EQ(sl_attestation_check_envelope(&a, env, len, digest, keys, 1, &err), SL_EDIGEST);
    CHECK_CONTAINS(err.msg, "does not verify with key sha256:");
    /* another image's digest: refused */
    CHECK_INT_EQ(sl_attestation_check_envelope(
                     &a, env, len,
                     "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                     keys + 1, 1, &err),
                 SL_EDIGEST);
    CHECK_CONTAINS(err.msg, "does not name sha256:0000");
    /* one byte of the payload changed: the signature no longer holds */
    char *p = strstr(env, "\"payload\":\"") + 20;
    *p = *p == 'A' ? 'B' : 'A';
    CHECK_INT_EQ(sl_attestation_check_envelope(&a, env, len, digest, keys + 1, 1, &err),
                 SL_EDIGEST);
    free(env);
    /* cosign v3's default: the same envelope inside a Sigstore bundle */
    env = read_data("cosign-vuln.bundle.json", &len);
    json_t *bundle = json_loadb(env, len, 0, NULL);
    char *inner = json_dumps(json_object_get(bundle, "dsseEnvelope"), JSON_COMPACT);
    CHECK_INT_EQ(sl_attestation_check_envelope(&a, inner, strlen(inner), digest, keys, 2, &err), 0);
    CHECK_STR_EQ(a.predicate_type, SL_ATTESTATION_VULN);
    sl_attestation_clear(&a);
    free(inner);
    json_decref(bundle);
    free(env);
    env = read_data("cosign-spdx.dsse.json", &len);
    CHECK_INT_EQ(sl_attestation_check_envelope(&a, env, len, digest, keys + 1, 1, &err), 0);
    CHECK_STR_EQ(a.predicate_type, SL_ATTESTATION_SPDX);
    CHECK(!a.has_time); /* the predicate file had no creationInfo */
    sl_attestation_clear(&a);
    free(env);
    sl_key_free(k);
    sl_key_free(other);
}

static void test_statement_hostile(void)
{
    const char *d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    struct sl_attestation a = {0};
    struct sl_err err = {0};
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } cases[] = {
        {"[]", SL_EINVAL, "not a JSON object"},
        {"{\"_type\":\"x\"}", SL_EINVAL, "not an in-toto statement"},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":7}", SL_EINVAL,
         "predicateType"},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"p\"}", SL_EINVAL,
         "no subject"},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"p\",\"subject\":[{"
         "\"digest\":{\"sha256\":\"22\"}}],\"predicate\":{}}",
         SL_EDIGEST, "does not name"},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"p\",\"subject\":[{"
         "\"digest\":{\"sha256\":"
         "\"1111111111111111111111111111111111111111111111111111111111111111\"}}]}",
         SL_EINVAL, "predicate is not an object"},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"" SL_ATTESTATION_VULN
         "\",\"subject\":[{\"digest\":{\"sha256\":"
         "\"1111111111111111111111111111111111111111111111111111111111111111\"}}],\"predicate\":{"
         "\"metadata\":{\"scanFinishedOn\":\"yesterday\"}}}",
         SL_EINVAL, "predicate.metadata.scanFinishedOn is not an RFC 3339 time"},
        /* two predicateTypes: which one was signed would be ambiguous */
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"a\","
         "\"predicateType\":\"b\"}",
         SL_EINVAL, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT_EQ(
            sl_attestation_parse_statement(&a, cases[i].json, strlen(cases[i].json), d, &err),
            cases[i].rc);
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
}

static int count(const char *result, int threshold, size_t *n, int *worst, char first[128],
                 struct sl_err *err)
{
    char *text = sl_xasprintf("{\"predicate\":{\"scanner\":{\"result\":%s}}}", result);
    json_t *st = json_loads(text, 0, NULL);
    int rc = sl_attestation_vuln_count(n, worst, first, st, threshold, err);
    json_decref(st);
    free(text);
    return rc;
}

/* Findings in sealift's, Trivy's and Grype's shapes; allowlisted and VEX-suppressed findings do
 * not count; an unreadable report is an error, never "no findings". */
static void test_vuln_findings(void)
{
    size_t n = 0;
    int worst = 0;
    char first[128];
    struct sl_err err = {0};
    CHECK_INT_EQ(count("{\"vulnerabilities\":[{\"id\":\"CVE-1\",\"severity\":\"Medium\"},"
                       "{\"id\":\"CVE-2\",\"severity\":\"Critical\",\"allowlisted\":true},"
                       "{\"id\":\"CVE-3\",\"severity\":\"High\"},"
                       "{\"id\":\"CVE-4\",\"severity\":\"Critical\",\"suppressed\":true}]}",
                       3, &n, &worst, first, &err),
                 0);
    CHECK_INT_EQ((int)n, 1);
    CHECK_INT_EQ(worst, 3);
    CHECK_STR_EQ(first, "CVE-3");
    CHECK_INT_EQ(count("{\"Results\":[{\"Target\":\"x\"},{\"Vulnerabilities\":[{"
                       "\"VulnerabilityID\":\"CVE-9\",\"Severity\":\"CRITICAL\"}]}]}",
                       4, &n, &worst, first, &err),
                 0);
    CHECK_INT_EQ((int)n, 1);
    CHECK_STR_EQ(first, "CVE-9");
    CHECK_INT_EQ(count("{\"matches\":[{\"vulnerability\":{\"id\":\"GHSA-1\",\"severity\":"
                       "\"Low\"}}]}",
                       2, &n, &worst, first, &err),
                 0);
    CHECK_INT_EQ((int)n, 0);
    CHECK_INT_EQ(worst, 1);
    CHECK_INT_EQ(count("{\"findings\":[]}", 3, &n, &worst, first, &err), 0);
    CHECK_INT_EQ((int)n, 0);
    CHECK_INT_EQ(count("{}", 3, &n, &worst, first, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "has no list of findings");
    CHECK_INT_EQ(count("{\"vulnerabilities\":[{\"id\":\"CVE-1\"}]}", 3, &n, &worst, first, &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, "finding 1 of the vulnerability report has no severity");
    CHECK_INT_EQ(count("{\"Results\":[{\"Vulnerabilities\":7}]}", 3, &n, &worst, first, &err),
                 SL_EINVAL);
}

struct env {
    struct sl_fake_registry *fr;
    struct sl_registry *reg;
    struct sl_key *key, *other;
    char digest[72];
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->fr = sl_fake_registry_new();
    e->reg = sl_test_registry_client(e->fr, HOST);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_key_generate(&e->key, SL_KEY_ALG_ECDSA_P256, &err), 0);
    CHECK_INT_EQ(sl_key_generate(&e->other, SL_KEY_ALG_ECDSA_P256, &err), 0);
    sl_test_put_image(e->fr, HOST, REPO, "v1", e->digest);
}

static void env_free(struct env *e)
{
    sl_key_free(e->key);
    sl_key_free(e->other);
    sl_registry_free(e->reg);
    sl_fake_registry_free(e->fr);
}

/* Writes the .att manifest of e->digest with one layer per envelope (predicateType annotation
 * hint[i], NULL = none). */
static void put_att(struct env *e, char **envs, const char **hints, size_t n)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < n; i++) {
        char d[72];
        sl_fake_registry_put_blob(e->fr, HOST, REPO, envs[i], strlen(envs[i]), d);
        json_t *l = json_pack("{s:s, s:I, s:s}", "mediaType", SL_ATTESTATION_DSSE_MEDIA_TYPE,
                              "size", (json_int_t)strlen(envs[i]), "digest", d);
        if (hints && hints[i])
            json_object_set_new(l, "annotations", json_pack("{s:s}", "predicateType", hints[i]));
        json_array_append_new(layers, l);
    }
    json_t *m = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", SL_MT_OCI_MANIFEST,
                          "layers", layers);
    char *text = json_dumps(m, JSON_COMPACT);
    char tag[96];
    snprintf(tag, sizeof(tag), "sha256-%s.att", e->digest + 7);
    char d[72];
    sl_fake_registry_put_manifest(e->fr, HOST, REPO, tag, SL_MT_OCI_MANIFEST, text, d);
    free(text);
    json_decref(m);
}

/* Stores env as a bundle referrer of e->digest in the tag-schema fallback index. */
static void put_bundle_referrer(struct env *e, const char *env)
{
    json_t *envj = json_loads(env, 0, NULL);
    json_t *b = json_pack("{s:s, s:o}", "mediaType", SL_BUNDLE_MEDIA_TYPE, "dsseEnvelope", envj);
    char *bundle = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char bd[72], md[72], id[72];
    sl_fake_registry_put_blob(e->fr, HOST, REPO, bundle, strlen(bundle), bd);
    json_t *m =
        json_pack("{s:i, s:s, s:s, s:[{s:s, s:I, s:s}]}", "schemaVersion", 2, "mediaType",
                  SL_MT_OCI_MANIFEST, "artifactType", SL_BUNDLE_MEDIA_TYPE, "layers", "mediaType",
                  SL_BUNDLE_MEDIA_TYPE, "size", (json_int_t)strlen(bundle), "digest", bd);
    char *mt = json_dumps(m, JSON_COMPACT);
    sl_fake_registry_put_manifest(e->fr, HOST, REPO, NULL, SL_MT_OCI_MANIFEST, mt, md);
    json_t *idx =
        json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:s}]}", "schemaVersion", 2, "mediaType",
                  SL_MT_OCI_INDEX, "manifests", "mediaType", SL_MT_OCI_MANIFEST, "digest", md,
                  "size", (json_int_t)strlen(mt), "artifactType", SL_BUNDLE_MEDIA_TYPE);
    char *it = json_dumps(idx, JSON_COMPACT);
    char tag[96];
    snprintf(tag, sizeof(tag), "sha256-%s", e->digest + 7);
    sl_fake_registry_put_manifest(e->fr, HOST, REPO, tag, SL_MT_OCI_INDEX, it, id);
    json_decref(m);
    json_decref(idx);
    free(bundle);
    free(mt);
    free(it);
}

static int newest(struct env *e, struct sl_attestation *a, const char *type, const struct sl_key *k,
                  struct sl_err *err)
{
    struct sl_attestation_type t;
    sl_attestation_type_parse(&t, type, err);
    const struct sl_key *keys[] = {k};
    return sl_attestation_newest(a, e->reg, REPO, e->digest, &t, keys, 1, NULL, err);
}

/* Of several vuln attestations the newest by signed time wins, wherever it is stored; other
 * types and other keys' attestations are not candidates. */
static void test_newest(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    struct sl_attestation a = {0};
    CHECK_INT_EQ(newest(&e, &a, "vuln", e.key, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no vuln attestation of team/app@sha256:");

    char *s_old = vuln_statement(e.digest, "2026-12-01T00:00:00Z", "[]");
    char *s_new = vuln_statement(e.digest, "2026-12-05T00:00:00Z",
                                 "[{\"id\":\"CVE-2026-1\",\"severity\":\"High\"}]");
    char *s_forged = vuln_statement(e.digest, "2026-12-06T00:00:00Z", "[]");
    char *envs[3] = {envelope(e.key, s_old), envelope(e.key, s_new), envelope(e.other, s_forged)};
    const char *hints[3] = {SL_ATTESTATION_VULN, NULL, SL_ATTESTATION_VULN};
    put_att(&e, envs, hints, 3);
    CHECK_INT_EQ(newest(&e, &a, "vuln", e.key, &err), 0);
    time_t t5 = 0;
    sl_time_parse_rfc3339(&t5, "2026-12-05T00:00:00Z");
    CHECK_INT_EQ((long long)a.time, (long long)t5);
    CHECK_STR_EQ(a.where, "att-tag");
    sl_attestation_clear(&a);
    CHECK_INT_EQ(newest(&e, &a, "sbom", e.key, &err), SL_ENOTFOUND);

    /* only the forged one verifies with `other`, the two others are unsigned for it */
    CHECK_INT_EQ(newest(&e, &a, "vuln", e.other, &err), 0);
    sl_attestation_clear(&a);
    struct sl_key *third = NULL;
    sl_key_generate(&third, SL_KEY_ALG_ED25519, &err);
    CHECK_INT_EQ(newest(&e, &a, "vuln", third, &err), SL_EDIGEST);
    CHECK_CONTAINS(err.msg, "3 vuln attestations, none signed by the trusted key");

    /* a newer one as a bundle referrer (cosign v3) */
    char *s_ref = vuln_statement(e.digest, "2026-12-05T12:00:00Z", "[]");
    char *env_ref = envelope(e.key, s_ref);
    put_bundle_referrer(&e, env_ref);
    CHECK_INT_EQ(newest(&e, &a, "vuln", e.key, &err), 0);
    CHECK_STR_EQ(a.where, "referrer");
    CHECK(a.time > t5);

    /* judged: fresh enough for 48h on 2026-12-06, not for 6h; no High findings */
    struct sl_attestation_requirement req = {.max_age_ms = 48LL * 3600 * 1000, .threshold = 3};
    sl_attestation_type_parse(&req.type, "vuln", &err);
    time_t now = 0;
    sl_time_parse_rfc3339(&now, "2026-12-06T00:00:00Z");
    struct sl_attestation_decision d;
    sl_attestation_judge(&d, &a, &req, now);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_OK);
    CHECK_INT_EQ((long long)d.stale_at, (long long)(a.time + 48 * 3600));
    req.max_age_ms = 6LL * 3600 * 1000;
    sl_attestation_judge(&d, &a, &req, now);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_STALE);
    CHECK_CONTAINS(d.reason, "is 12h0m old, older than maxAge 6h0m");
    sl_attestation_clear(&a);

    /* the newest (referrer) is gone from the index: the High finding of the next one counts */
    char tag[96], idx_digest[72];
    snprintf(tag, sizeof(tag), "sha256-%s", e.digest + 7);
    sl_fake_registry_put_manifest(e.fr, HOST, REPO, tag, SL_MT_OCI_INDEX,
                                  "{\"schemaVersion\":2,\"manifests\":[]}", idx_digest);
    req.max_age_ms = 0;
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, e.digest, &req,
                                       (const struct sl_key *const *)&e.key, 1, NULL, now, &err),
                 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_FINDINGS);
    CHECK_CONTAINS(d.reason, "lists 1 finding at or above High (CVE-2026-1)");
    req.threshold = 4;
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, e.digest, &req,
                                       (const struct sl_key *const *)&e.key, 1, NULL, now, &err),
                 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_OK);
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, e.digest, &req,
                                       (const struct sl_key *const *)&third, 1, NULL, now, &err),
                 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_UNSIGNED);

    for (int i = 0; i < 3; i++)
        free(envs[i]);
    free(s_old);
    free(s_new);
    free(s_forged);
    free(s_ref);
    free(env_ref);
    sl_key_free(third);
    env_free(&e);
}

/* A signed attestation of the type that cannot be read is a denial, not skipped for an older
 * readable one; one without a timestamp cannot pass a maxAge. */
static void test_unreadable_and_untimed(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    char *good = vuln_statement(e.digest, "2026-12-05T00:00:00Z", "[]");
    char *bad = vuln_statement(e.digest, "2026-12-05T00:00:00Z", "[]");
    char *p = strstr(bad, "2026-12-05T00:00:00Z");
    memcpy(p, "last tuesday!!!!!!!!", 20);
    char *envs[2] = {envelope(e.key, good), envelope(e.key, bad)};
    put_att(&e, envs, NULL, 2);
    struct sl_attestation_requirement req = {.max_age_ms = 3600 * 1000};
    sl_attestation_type_parse(&req.type, "vuln", &err);
    struct sl_attestation_decision d;
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, e.digest, &req,
                                       (const struct sl_key *const *)&e.key, 1, NULL, 0, &err),
                 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_UNPARSEABLE);
    CHECK_CONTAINS(d.reason, "scanFinishedOn is not an RFC 3339 time");

    struct sl_attestation a = {.has_time = false};
    sl_attestation_judge(&d, &a, &req, 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_STALE);
    CHECK_CONTAINS(d.reason, "has no signed timestamp");
    free(good);
    free(bad);
    free(envs[0]);
    free(envs[1]);
    env_free(&e);
}

/* A registry that serves a flood of attestations stops the lookup at the limit (fail closed),
 * and an oversized layer is never read whole. */
static void test_limits(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    char *st = vuln_statement(e.digest, "2026-12-05T00:00:00Z", "[]");
    char *one = envelope(e.other, st);
    char *envs[20];
    for (int i = 0; i < 20; i++)
        envs[i] = one;
    put_att(&e, envs, NULL, 20);
    struct sl_attestation_type t;
    sl_attestation_type_parse(&t, "vuln", &err);
    struct sl_attestation_limits lim = {.max_attestations = 8};
    struct sl_attestation a = {0};
    const struct sl_key *keys[] = {e.key};
    CHECK_INT_EQ(sl_attestation_newest(&a, e.reg, REPO, e.digest, &t, keys, 1, &lim, &err),
                 SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 8 attestations to check");
    int before = sl_fake_registry_count(e.fr, "GET " HOST "/v2/" REPO "/blobs/");
    lim = (struct sl_attestation_limits){.max_bytes = 100};
    CHECK_INT_EQ(sl_attestation_newest(&a, e.reg, REPO, e.digest, &t, keys, 1, &lim, &err),
                 SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 100 bytes of attestations");
    CHECK_INT_EQ(sl_fake_registry_count(e.fr, "GET " HOST "/v2/" REPO "/blobs/"), before);
    free(one);
    free(st);
    env_free(&e);
}

/* An OpenVEX statement for digest (predicate type pt) as cosign attest --type openvex writes
 * it. Caller frees. */
static char *openvex_statement(const char *digest, const char *pt)
{
    json_t *st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:s, s:s, s:[]}}", "_type",
                           "https://in-toto.io/Statement/v1", "subject", "name", HOST "/" REPO,
                           "digest", "sha256", digest + 7, "predicateType", pt, "predicate",
                           "@context", "https://openvex.dev/ns/v0.2.0", "timestamp",
                           "2026-12-05T00:00:00Z", "statements");
    char *out = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    return out;
}

/* sl_attestation_list: every verified attestation of the type from the .att tag and the
 * bundle referrers (versioned OpenVEX predicate types too), the others counted with the first
 * reason; other types are no candidates; a flood is an error, never a partial list. */
static void test_list(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    char *v1 = openvex_statement(e.digest, SL_ATTESTATION_OPENVEX);
    char *v2 = openvex_statement(e.digest, "https://openvex.dev/ns/v0.2.0");
    char *vuln = vuln_statement(e.digest, "2026-12-05T00:00:00Z", "[]");
    char *envs[3] = {envelope(e.key, v1), envelope(e.other, v1), envelope(e.key, vuln)};
    put_att(&e, envs, NULL, 3);
    char *bundled = envelope(e.key, v2);
    put_bundle_referrer(&e, bundled);
    struct sl_attestation_type t;
    CHECK_INT_EQ(sl_attestation_type_parse(&t, "openvex", &err), 0);
    const struct sl_key *keys[] = {e.key};
    struct sl_attestation_list list = {0};
    CHECK_INT_EQ(sl_attestation_list(&list, e.reg, REPO, e.digest, &t, keys, 1, NULL, &err), 0);
    CHECK_INT_EQ((int)list.n, 2);
    CHECK_INT_EQ((int)list.ignored, 1);
    CHECK_CONTAINS(list.ignored_why, "the DSSE signature does not verify with key");
    if (list.n == 2) {
        CHECK_STR_EQ(list.items[0].where, "att-tag");
        CHECK_STR_EQ(list.items[1].where, "referrer");
        CHECK_STR_EQ(list.items[1].predicate_type, "https://openvex.dev/ns/v0.2.0");
        CHECK_INT_EQ(strncmp(list.items[0].source, "sha256:", 7), 0);
        CHECK(strcmp(list.items[0].source, list.items[1].source) != 0);
    }
    sl_attestation_list_free(&list);
    struct sl_attestation_limits lim = {.max_attestations = 2};
    CHECK_INT_EQ(sl_attestation_list(&list, e.reg, REPO, e.digest, &t, keys, 1, &lim, &err),
                 SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 2 attestations to check");
    CHECK_INT_EQ((int)list.n, 0);
    for (int i = 0; i < 3; i++)
        free(envs[i]);
    free(bundled);
    free(v1);
    free(v2);
    free(vuln);
    env_free(&e);
}

/* A multi-platform tag names an index; attestations are made per platform (the delivery,
 * `sealift attest`): with none on the index itself, every runnable platform must have a passing
 * one, and the first that has not is named. Build tools' unknown/unknown entries are skipped. */
static void test_index_platforms(void)
{
    struct env e;
    env_init(&e);
    struct sl_err err = {0};
    char amd64[72], arm64[72], idx[72];
    snprintf(amd64, sizeof(amd64), "%s", e.digest);
    const char *other = "{\"schemaVersion\":2,\"mediaType\":\"" SL_MT_OCI_MANIFEST "\","
                        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                        "\"size\":2,\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21"
                        "fe77e8310c060f61caaff8a\"},\"layers\":[]}";
    sl_fake_registry_put_manifest(e.fr, HOST, REPO, NULL, SL_MT_OCI_MANIFEST, other, arm64);
    char index[1024];
    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"mediaType\":\"" SL_MT_OCI_INDEX "\",\"manifests\":["
             "{\"mediaType\":\"" SL_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
             "{\"mediaType\":\"" SL_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
             "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
             "{\"mediaType\":\"" SL_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
             "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}",
             amd64, arm64, arm64);
    sl_fake_registry_put_manifest(e.fr, HOST, REPO, "multi", SL_MT_OCI_INDEX, index, idx);

    struct sl_attestation_requirement req = {.threshold = 3};
    sl_attestation_type_parse(&req.type, "vuln", &err);
    time_t now = 0;
    sl_time_parse_rfc3339(&now, "2026-12-06T00:00:00Z");
    const struct sl_key *const *keys = (const struct sl_key *const *)&e.key;
    struct sl_attestation_decision d;

    /* nothing anywhere */
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, idx, &req, keys, 1, NULL, now, &err), 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_MISSING);
    CHECK_CONTAINS(d.reason, "platform linux/amd64");

    /* amd64 attested, arm64 not: still a denial, naming arm64 */
    char *s1 = vuln_statement(amd64, "2026-12-05T00:00:00Z", "[]");
    char *env1 = envelope(e.key, s1);
    put_att(&e, &env1, NULL, 1);
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, idx, &req, keys, 1, NULL, now, &err), 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_MISSING);
    CHECK_CONTAINS(d.reason, "platform linux/arm64/v8");
    CHECK_INT_EQ((long long)d.platforms, 2);

    /* both attested: passes over both platforms */
    char *s2 = vuln_statement(arm64, "2026-12-04T00:00:00Z", "[]");
    char *env2 = envelope(e.key, s2);
    snprintf(e.digest, sizeof(e.digest), "%s", arm64);
    put_att(&e, &env2, NULL, 1);
    req.max_age_ms = 72LL * 3600 * 1000;
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, idx, &req, keys, 1, NULL, now, &err), 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_OK);
    CHECK_CONTAINS(d.reason, "every platform of the index (2)");
    time_t t4 = 0;
    sl_time_parse_rfc3339(&t4, "2026-12-04T00:00:00Z");
    CHECK_INT_EQ((long long)d.stale_at, (long long)(t4 + 72 * 3600)); /* the older one's */

    /* the index's own attestation, when there is one, decides alone (cosign attest INDEX) */
    char *s3 = vuln_statement(idx, "2026-12-05T00:00:00Z",
                              "[{\"id\":\"CVE-2026-9\",\"severity\":\"Critical\"}]");
    char *env3 = envelope(e.key, s3);
    snprintf(e.digest, sizeof(e.digest), "%s", idx);
    put_att(&e, &env3, NULL, 1);
    CHECK_INT_EQ(sl_attestation_decide(&d, e.reg, REPO, idx, &req, keys, 1, NULL, now, &err), 0);
    CHECK_INT_EQ(d.verdict, SL_ATTESTATION_FINDINGS);
    CHECK_INT_EQ((long long)d.platforms, 0);

    free(s1);
    free(env1);
    free(s2);
    free(env2);
    free(s3);
    free(env3);
    env_free(&e);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    RUN(test_types);
    RUN(test_cosign_written);
    RUN(test_statement_hostile);
    RUN(test_vuln_findings);
    RUN(test_newest);
    RUN(test_unreadable_and_untimed);
    RUN(test_limits);
    RUN(test_list);
    RUN(test_index_platforms);
    return CHECK_EXIT();
}
