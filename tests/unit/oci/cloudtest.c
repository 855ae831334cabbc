#include "cloudtest.h"

#include "check.h"
#include "testdata.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a failing reader must not write: each output byte is this before and after. */
#define UNTOUCHED 0x5a
/* The longest quoted message of a service (oci/cloudlogin.h's SL_CLOUDLOGIN_QUOTE_MAX). */
#define QUOTE_MAX 200

/* Adds the checks this file made since *mark to counters, and moves the mark. */
static void count_into(struct sl_cloudtest_counters counters, int *mark_checks, int *mark_failures)
{
    *counters.checks += check_count - *mark_checks;
    *counters.failures += check_failures - *mark_failures;
    *mark_checks = check_count;
    *mark_failures = check_failures;
}

static int msg_matches(const char *msg, const char *want, enum sl_cloudtest_match match)
{
    if (match == SL_CLOUDTEST_MSG_CONTAINS)
        return strstr(msg, want) != NULL;
    size_t n = strlen(want);
    if (n > 3 && strcmp(want + n - 3, "...") == 0)
        return strncmp(msg, want, n - 3) == 0;
    return strcmp(msg, want) == 0;
}

static int all_bytes(const void *p, size_t n, unsigned char b)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != b)
            return 0;
    return 1;
}

static void check_no_secret(const char *msg, const char *const *secrets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(msg, secrets[i]))
            fprintf(stderr, "secret %s in: %s\n", secrets[i], msg);
        CHECK(strstr(msg, secrets[i]) == NULL);
    }
}

void sl_cloudtest_read_cases(struct sl_cloudtest_counters counters,
                             const struct sl_cloudtest_reader *r,
                             const struct sl_cloudtest_case *cases, size_t n)
{
    int mark_checks = check_count, mark_failures = check_failures;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *doc = sl_test_read_file(&len, "%s/%s/%s", r->data_dir, r->folder, cases[i].file);
        for (size_t k = 0; k < r->n_outputs; k++)
            memset(r->outputs[k].at, UNTOUCHED, r->outputs[k].size);
        struct sl_err err = {0};
        int rc = r->read(r->ctx, doc, len, &err);
        free(doc);
        int same = msg_matches(err.msg, cases[i].msg, r->match);
        if (rc != cases[i].rc || !same)
            fprintf(stderr, "case %s/%s: %d %s\n", r->folder, cases[i].file, rc, err.msg);
        CHECK_INT_EQ(rc, cases[i].rc);
        CHECK(same);
        if (r->prefix)
            CHECK(strncmp(err.msg, r->prefix, strlen(r->prefix)) == 0);
        for (size_t k = 0; k < r->n_outputs; k++)
            CHECK(all_bytes(r->outputs[k].at, r->outputs[k].size, UNTOUCHED));
        if (r->msg_max)
            CHECK(strlen(err.msg) <= r->msg_max);
        check_no_secret(err.msg, r->secrets, r->n_secrets);
    }
    count_into(counters, &mark_checks, &mark_failures);
}

/* What an OAuth token reader is run with, and reads into. */
struct oauth_run {
    const struct sl_cloudtest_oauth *o;
    char *tok;
    int64_t exp;
};

static int oauth_read(void *ctx, const char *doc, size_t len, struct sl_err *err)
{
    struct oauth_run *run = ctx;
    return run->o->parse(&run->tok, &run->exp, doc, len, run->o->now_unix, err);
}

/* The edges of sl_cloudtest_oauth_cases. */
static void oauth_edges(const struct sl_cloudtest_oauth *o)
{
    sl_cloudtest_oauth_parse_fn parse = o->parse;
    int64_t now_unix = o->now_unix;
    char *tok = NULL;
    int64_t exp = 0;
    struct sl_err err = {0};

    /* a long description is cut at 200 characters */
    char json[2048], desc[1001], want[128];
    for (size_t i = 0; i < 1000; i++)
        desc[i] = "bad word "[i % 9];
    desc[1000] = '\0';
    snprintf(json, sizeof(json), "{\"error\":\"%s\",\"error_description\":\"%s\"}", o->error_code,
             desc);
    CHECK_INT_EQ(parse(&tok, &exp, json, strlen(json), now_unix, &err), SL_EAUTH);
    snprintf(want, sizeof(want), "%s %s: ", o->service, o->error_code);
    CHECK_INT_EQ((long)strlen(err.msg), (long)(strlen(want) + 200));

    /* not NUL-terminated, NULL, an access token over 16 KiB */
    CHECK_INT_EQ(parse(&tok, &exp, NULL, 0, now_unix, &err), SL_EINVAL);
    const char *ok = "{\"expires_in\":60,\"access_token\":\"abc\"}";
    char *copy = sl_xmalloc(strlen(ok));
    memcpy(copy, ok, strlen(ok));
    CHECK_INT_EQ(parse(&tok, &exp, copy, strlen(ok), now_unix, &err), 0);
    CHECK_STR_EQ(tok, "abc");
    CHECK_INT_EQ(exp, now_unix + 60);
    sl_secure_free_str(tok);
    free(copy);
    size_t big_len = 17 << 10;
    char *big = sl_xmalloc(big_len + 100);
    int at = snprintf(big, 100, "{\"expires_in\":60,\"access_token\":\"");
    memset(big + at, 'A', big_len);
    memcpy(big + at + big_len, "\"}", 3);
    tok = NULL;
    CHECK_INT_EQ(parse(&tok, &exp, big, strlen(big), now_unix, &err), SL_EINVAL);
    CHECK(tok == NULL);
    CHECK_CONTAINS(err.msg, "access_token is not a string of 1-16384");
    CHECK(strlen(err.msg) < 200);
    free(big);
    /* now + expires_in past the end of time */
    CHECK_INT_EQ(parse(&tok, &exp, ok, strlen(ok), INT64_MAX - 10, &err), SL_EINVAL);
}

void sl_cloudtest_oauth_cases(struct sl_cloudtest_counters counters,
                              const struct sl_cloudtest_oauth *o,
                              const struct sl_cloudtest_case *cases, size_t n)
{
    int mark_checks = check_count, mark_failures = check_failures;
    struct oauth_run run = {.o = o};
    const struct sl_cloudtest_reader reader = {
        .data_dir = o->data_dir,
        .folder = o->folder,
        .read = oauth_read,
        .ctx = &run,
        .outputs = {{&run.tok, sizeof(run.tok)}, {&run.exp, sizeof(run.exp)}},
        .n_outputs = 2,
        .match = SL_CLOUDTEST_MSG_IS,
        .msg_max = strlen(o->service) + 1 + 64 + 2 + QUOTE_MAX,
        .secrets = o->secrets,
        .n_secrets = o->n_secrets,
    };
    /* the table counts its checks into counters itself */
    sl_cloudtest_read_cases(counters, &reader, cases, n);
    mark_checks = check_count;
    mark_failures = check_failures;
    oauth_edges(o);
    count_into(counters, &mark_checks, &mark_failures);
}

void sl_cloudtest_oauth_successes(struct sl_cloudtest_counters counters,
                                  const struct sl_cloudtest_oauth *o, const char *token,
                                  const struct sl_cloudtest_ok *ok, size_t n)
{
    int mark_checks = check_count, mark_failures = check_failures;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *json = sl_test_read_file(&len, "%s/%s/%s", o->data_dir, o->folder, ok[i].file);
        char *tok = NULL;
        int64_t exp = 0;
        struct sl_err err = {0};
        CHECK_INT_EQ(o->parse(&tok, &exp, json, len, o->now_unix, &err), 0);
        CHECK_STR_EQ(tok, token);
        CHECK_INT_EQ(exp, o->now_unix + ok[i].expires_in);
        sl_secure_free_str(tok);
        free(json);
    }
    count_into(counters, &mark_checks, &mark_failures);
}

void sl_cloudtest_login_failures(struct sl_cloudtest_counters counters,
                                 const struct sl_cloudtest_login *l, const void *cases, size_t n,
                                 size_t stride)
{
    int mark_checks = check_count, mark_failures = check_failures;
    for (size_t i = 0; i < n; i++) {
        const void *test_case = (const char *)cases + i * stride;
        const struct sl_cloudtest_expect *want = test_case;
        struct sl_creds c;
        memset(&c, 0, sizeof(c));
        int64_t exp = -1;
        struct sl_err err = {0};
        /* the login's own checks land in its file's counters, ours in ours */
        int rc = l->login(test_case, &c, &exp, &err);
        if (rc != want->rc || !strstr(err.msg, want->msg))
            fprintf(stderr, "case %s: %d %s\n", want->name, rc, err.msg);
        CHECK_INT_EQ(rc, want->rc);
        CHECK_CONTAINS(err.msg, want->msg);
        CHECK(c.password == NULL && c.username == NULL);
        CHECK_INT_EQ(exp, -1);
        check_no_secret(err.msg, l->secrets, l->n_secrets);
        if (l->one_line)
            CHECK(strchr(err.msg, '\n') == NULL);
    }
    count_into(counters, &mark_checks, &mark_failures);
}

void sl_cloudtest_serve(const struct sl_http_exchange *x, struct sl_http_result *res,
                        const char *data_dir, const char *file, long status, size_t padding)
{
    size_t len = 0;
    char *body = sl_test_read_file(&len, "%s/%s", data_dir, file);
    res->failure = SL_HTTP_OK;
    res->status = status;
    if (x->on_body(x->ud, status, body, len) != len)
        res->failure = SL_HTTP_ABORTED;
    char pad[4096];
    memset(pad, ' ', sizeof(pad));
    for (size_t left = padding; left > 0 && res->failure == SL_HTTP_OK;) {
        size_t n = left < sizeof(pad) ? left : sizeof(pad);
        if (x->on_body(x->ud, status, pad, n) != n)
            res->failure = SL_HTTP_ABORTED;
        left -= n;
    }
    free(body);
}

void sl_cloudtest_no_relay(void *ctx, struct sl_transport *put_t, const struct sl_http_relay *r,
                           struct sl_http_result *get_res, struct sl_http_result *put_res)
{
    (void)ctx;
    (void)put_t;
    (void)r;
    get_res->failure = put_res->failure = SL_HTTP_NETWORK;
}
