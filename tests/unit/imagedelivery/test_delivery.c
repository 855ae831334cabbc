/* Unit tests of the pure helpers of the ImageDelivery reconciler (imagedelivery/delivery.h):
 * tag selection by pattern, reason and result-kind mapping, printer-column summaries. */
#include "check.h"
#include "imagedelivery/delivery.h"
#include "imagedelivery/regops.h"
#include "util/mem.h"

#include <jansson.h>

static void test_select_tags_pattern(void)
{
    char *tags[] = {"1.4.0", "1.4.10", "1.5.0", "latest", "1.4.x", "1.4.2", "1.4.0", "v1.4.3"};
    char **out = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^1\\.4\\.[0-9]+$", &err), 0);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(out[0], "1.4.0"); /* sorted, duplicates dropped */
        CHECK_STR_EQ(out[1], "1.4.10");
        CHECK_STR_EQ(out[2], "1.4.2");
    }
    sl_imd_strv_free(out, n);

    /* unanchored, like regexec: "1\.4" matches inside v1.4.3 too */
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "1\\.4\\.[0-9]+", &err), 0);
    CHECK_INT_EQ(n, 4);
    sl_imd_strv_free(out, n);

    /* no match is an empty selection, not an error */
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^2\\.", &err), 0);
    CHECK_INT_EQ(n, 0);
    sl_imd_strv_free(out, n);
}

static void test_select_tags_bad_pattern(void)
{
    char *tags[] = {"1.0"};
    char **out = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 1, "^(1\\.", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "invalid POSIX extended regular expression");
    CHECK(out == NULL);
    CHECK_INT_EQ(sl_imd_pattern_check("[a-", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_imd_pattern_check("^[a-z]+$", &err), 0);
}

/* The patterns Flux users write: \d and friends select what they mean instead of nothing. */
static void test_select_tags_perl_shorthands(void)
{
    char *tags[] = {"1.4.0", "1.4.10", "1.5.0", "latest", "1.4.x", "1.4.2", "v1.4.3", "1.4 rc"};
    char **out = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^1\\.4\\.\\d+$", &err), 0);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(out[0], "1.4.0");
        CHECK_STR_EQ(out[1], "1.4.10");
        CHECK_STR_EQ(out[2], "1.4.2");
    }
    sl_imd_strv_free(out, n);
    /* inside brackets, a non-capturing group, \w, \D, \s */
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^(?:v)?1\\.4\\.[\\d]+$", &err), 0);
    CHECK_INT_EQ(n, 4);
    sl_imd_strv_free(out, n);
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^\\w+$", &err), 0);
    CHECK_INT_EQ(n, 1); /* latest */
    sl_imd_strv_free(out, n);
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "^\\D", &err), 0);
    CHECK_INT_EQ(n, 2); /* latest, v1.4.3 */
    sl_imd_strv_free(out, n);
    CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 8, "\\s", &err), 0);
    CHECK_INT_EQ(n, 1);
    sl_imd_strv_free(out, n);

    char *posix = NULL;
    CHECK_INT_EQ(sl_imd_pattern_translate(&posix, "^v?\\d+\\.[\\w-]+$", &err), 0);
    CHECK_STR_EQ(posix, "^v?[0-9]+\\.[A-Za-z0-9_-]+$");
    free(posix);
    CHECK_INT_EQ(sl_imd_pattern_translate(&posix, "[[:digit:]]\\.[^\\s]", &err), 0);
    CHECK_STR_EQ(posix, "[[:digit:]]\\.[^[:space:]]");
    free(posix);
}

/* What POSIX ERE cannot express is refused by name, with what to write instead. */
static void test_pattern_refused_constructs(void)
{
    static const struct {
        const char *pattern, *named;
    } cases[] = {
        {"(?i)^v1\\.", "(?i)"},
        {"^1\\.(?=4)", "(?="},
        {"^1(?<!0)", "(?<!"},
        {"^1.*?$", "*?"},
        {"^1.+?$", "+?"},
        {"\\b1\\.4", "\\b"},
        {"^[\\D]", "\\D inside [...]"},
        {"^\\p{L}", "\\p"},
        {"1\\", "trailing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_err err = {0};
        char **out = NULL;
        size_t n = 0;
        char *tags[] = {"1.4.0"};
        CHECK_INT_EQ(sl_imd_pattern_check(cases[i].pattern, &err), SL_EINVAL);
        CHECK_CONTAINS(err.msg, cases[i].named);
        CHECK_CONTAINS(err.msg, "POSIX extended regular expression");
        CHECK_INT_EQ(sl_imd_select_tags(&out, &n, tags, 1, cases[i].pattern, &err), SL_EINVAL);
        CHECK(out == NULL);
    }
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_imd_pattern_check("(?i)x", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "[Vv]"); /* how to say it in POSIX */
}

/* Rejected credentials are tried again slowly: 30 s at first, then as long as they have been
 * failing, at most 10 min. */
static void test_auth_backoff(void)
{
    time_t now = 1700000000;
    CHECK_INT_EQ(sl_imd_auth_backoff_ms(NULL, now), 30 * 1000);
    json_t *st = json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "conditions", "type", "Ready", "status",
                           "False", "reason", "AuthenticationFailed", "lastTransitionTime",
                           "2023-11-14T22:12:20Z"); /* now - 1 min */
    CHECK_INT_EQ(sl_imd_auth_backoff_ms(st, now), 60 * 1000);
    CHECK_INT_EQ(sl_imd_auth_backoff_ms(st, now - 50), 30 * 1000);
    CHECK_INT_EQ(sl_imd_auth_backoff_ms(st, now + 3600), 10 * 60 * 1000);
    json_object_set_new(json_array_get(json_object_get(st, "conditions"), 0), "reason",
                        json_string("TagNotFound"));
    CHECK_INT_EQ(sl_imd_auth_backoff_ms(st, now + 3600), 30 * 1000);
    json_decref(st);
}

static void test_reason_and_kind(void)
{
    CHECK_STR_EQ(sl_imd_reason_for_code(SL_EAUTH), "AuthenticationFailed");
    CHECK_STR_EQ(sl_imd_reason_for_code(SL_ERETRY), "RegistryUnavailable");
    CHECK_STR_EQ(sl_imd_reason_for_code(SL_EDIGEST), "DigestMismatch");
    CHECK_STR_EQ(sl_imd_reason_for_code(SL_ECONFLICT), "ImmutableTagConflict");
    CHECK_STR_EQ(sl_imd_reason_for_code(SL_EFAIL), "RegistryError");
    CHECK_INT_EQ(sl_imd_kind_for_code(SL_ERETRY), SL_RESULT_TRANSIENT);
    CHECK_INT_EQ(sl_imd_kind_for_code(SL_EAUTH), SL_RESULT_TRANSIENT);
    CHECK_INT_EQ(sl_imd_kind_for_code(SL_ENOTFOUND), SL_RESULT_WAITING);
    CHECK_INT_EQ(sl_imd_kind_for_code(SL_ECONFLICT), SL_RESULT_DONE);
    CHECK_INT_EQ(sl_imd_worse_kind(SL_RESULT_DONE, SL_RESULT_WAITING), SL_RESULT_WAITING);
    CHECK_INT_EQ(sl_imd_worse_kind(SL_RESULT_TRANSIENT, SL_RESULT_WAITING), SL_RESULT_TRANSIENT);
    CHECK_INT_EQ(sl_imd_worse_kind(SL_RESULT_STALLED, SL_RESULT_DONE), SL_RESULT_STALLED);
}

static json_t *image(const char *tag, const char *scan, int ntargets, int signed_targets,
                     const char *message)
{
    json_t *img = json_pack("{s:s, s:s, s:[]}", "tag", tag, "digest", "sha256:aa", "targets");
    for (int i = 0; i < ntargets; i++)
        json_array_append_new(json_object_get(img, "targets"),
                              json_pack("{s:s, s:s, s:b}", "image", "x", "digest", "sha256:aa",
                                        "signed", i < signed_targets));
    if (scan)
        json_object_set_new(img, "scan", json_pack("{s:s}", "result", scan));
    if (message)
        json_object_set_new(img, "message", json_string(message));
    return img;
}

static void test_summaries(void)
{
    json_t *status = json_object();
    json_t *images = json_array();
    json_array_append_new(images, image("1.0", "Passed", 2, 2, NULL));
    json_array_append_new(images, image("1.1", "Passed", 2, 1, NULL));
    json_array_append_new(images, image("1.2", "Failed", 0, 0, "blocked"));
    json_array_append_new(images, image("1.3", NULL, 1, 1, NULL)); /* missing a target */
    json_object_set_new(status, "images", images);

    json_object_set_new(json_array_get(json_object_get(json_array_get(images, 0), "targets"), 0),
                        "referrers", json_pack("{s:i}", "count", 3));
    sl_imd_summaries(status, 2, true, true);
    json_t *sum = json_object_get(status, "summary");
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "delivered")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(status, "referrersTotal")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "scanned")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "blocked")), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "signed")), 1);

    /* without scanning and signing their counts are absent (empty printer columns) */
    sl_imd_summaries(status, 2, false, false);
    sum = json_object_get(status, "summary");
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "delivered")), 2);
    CHECK(json_object_get(sum, "scanned") == NULL);
    CHECK(json_object_get(sum, "blocked") == NULL);
    CHECK(json_object_get(sum, "signed") == NULL);

    /* Error counts as scanned, not blocked */
    json_array_remove(images, 2);
    json_object_set_new(json_array_get(images, 0), "scan", json_pack("{s:s}", "result", "Error"));
    sl_imd_summaries(status, 2, true, true);
    sum = json_object_get(status, "summary");
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "scanned")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "blocked")), 0);
    json_decref(status);

    json_t *empty = json_object();
    sl_imd_summaries(empty, 1, true, true);
    sum = json_object_get(empty, "summary");
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "delivered")), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "scanned")), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "signed")), 0);
    json_decref(empty);
}

/* The client cache hands out one client per host + TLS settings + credentials (no I/O). */
static void test_registry_cache(void)
{
    struct sl_imd_registry_cache *c = sl_imd_registry_cache_new(2, 0);
    struct sl_imd_registry_ops ops;
    sl_imd_registry_ops_real(&ops, c);
    struct sl_creds alice = {.username = "alice", .password = "pw1"};
    struct sl_creds alice2 = {.username = "alice", .password = "pw2"};
    struct sl_registry_opts insecure = {.insecure = 1};
    struct sl_registry *a = ops.open(ops.ctx, "r.example:5000", &alice, &insecure);
    struct sl_registry *b = ops.open(ops.ctx, "r.example:5000", &alice, &insecure);
    CHECK(a == b);
    struct sl_registry *d = ops.open(ops.ctx, "r.example:5000", &alice2, &insecure);
    CHECK(d != a); /* new credentials: a new client, never the old auth state */
    struct sl_registry *e = ops.open(ops.ctx, "r.example:5000", &alice, NULL);
    CHECK(e != a); /* other TLS settings */
    /* plain http with verified TLS, and unverified TLS without plain http, are other clients;
     * both at once is what insecure means */
    struct sl_registry_opts http_only = {.allow_http = 1}, skip_only = {.skip_tls_verify = 1};
    struct sl_registry_opts both = {.allow_http = 1, .skip_tls_verify = 1};
    struct sl_registry *g = ops.open(ops.ctx, "r.example:5000", &alice, &http_only);
    struct sl_registry *h = ops.open(ops.ctx, "r.example:5000", &alice, &skip_only);
    struct sl_registry *k = ops.open(ops.ctx, "r.example:5000", &alice, &both);
    CHECK(g != a && g != e && h != a && h != e && g != h);
    CHECK(k == a);
    ops.release(ops.ctx, g);
    ops.release(ops.ctx, h);
    ops.release(ops.ctx, k);
    CHECK_INT_EQ(sl_imd_registry_cache_size(c), 5); /* all held: the cap of 2 gives way */
    ops.release(ops.ctx, a);
    ops.release(ops.ctx, b);
    ops.release(ops.ctx, d);
    ops.release(ops.ctx, e);
    struct sl_registry *f = ops.open(ops.ctx, "other.example", NULL, NULL);
    CHECK(sl_imd_registry_cache_size(c) <= 2); /* unused clients evicted down to the cap */
    CHECK_STR_EQ(sl_registry_host(f), "other.example");
    ops.release(ops.ctx, f);
    sl_imd_registry_cache_free(c);
}

/* Two tenants whose client identities agree on their first 200 bytes (a long host name) must
 * not share a client, and with it the other's credentials. */
static void test_registry_cache_long_host(void)
{
    struct sl_imd_registry_cache *c = sl_imd_registry_cache_new(0, 0);
    struct sl_imd_registry_ops ops;
    sl_imd_registry_ops_real(&ops, c);
    char host[240];
    memset(host, 'a', sizeof(host));
    memcpy(host + 200, ".example.com", 13);
    struct sl_creds victim = {.username = "victim", .password = "victim-pw"};
    struct sl_creds attacker = {.username = "attacker", .password = "attacker-pw"};
    struct sl_registry *v = ops.open(ops.ctx, host, &victim, NULL);
    struct sl_registry *a = ops.open(ops.ctx, host, &attacker, NULL);
    CHECK(v != a);
    /* (that each client then uses its own credentials only is shown end to end by
     * e2e.imagedelivery.hostile LongHostTest) */
    CHECK_INT_EQ(sl_imd_registry_cache_size(c), 2);
    ops.release(ops.ctx, v);
    ops.release(ops.ctx, a);
    sl_imd_registry_cache_free(c);
}

int main(void)
{
    RUN(test_select_tags_pattern);
    RUN(test_select_tags_bad_pattern);
    RUN(test_select_tags_perl_shorthands);
    RUN(test_pattern_refused_constructs);
    RUN(test_auth_backoff);
    RUN(test_reason_and_kind);
    RUN(test_summaries);
    RUN(test_registry_cache);
    RUN(test_registry_cache_long_host);
    return CHECK_EXIT();
}
