/* Amazon ECR credentials from a web identity (oci/aws.c): Signature Version 4 against the
 * published AWS test-suite vectors (tests/data/aws/sigv4), the registry host and role ARN
 * grammars with the attacks next to the happy paths, the STS XML and ECR JSON readers over real
 * answer shapes and hostile ones (tests/data/aws/sts, ecr), the environment configuration, and
 * whole logins over a fake transport: what is sent where, how each failure is reported, and
 * that no secret ever reaches an error message. */
#include "check.h"
#include "cloudtest.h"
#include "http/transport.h"
#include "oci/auth.h"
#include "oci/aws.h"
#include "testdata.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *data_dir;

/* ---- SigV4 vectors ---- */

/* One vector file: "key value" lines (header may repeat), '#' comments. */
struct vector {
    char *text;
    const char *method, *host, *path, *query, *region, *service, *date, *akid, *secret, *token,
        *payload, *authorization;
    const char *headers[8];
    size_t n_headers;
};

static void vector_load(struct vector *v, const char *name)
{
    memset(v, 0, sizeof(*v));
    v->text = sl_test_read_file(NULL, "%s/sigv4/%s", data_dir, name);
    for (char *line = strtok(v->text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        const char *val = sp + 1;
        if (strcmp(line, "method") == 0)
            v->method = val;
        else if (strcmp(line, "host") == 0)
            v->host = val;
        else if (strcmp(line, "path") == 0)
            v->path = val;
        else if (strcmp(line, "query") == 0)
            v->query = val;
        else if (strcmp(line, "region") == 0)
            v->region = val;
        else if (strcmp(line, "service") == 0)
            v->service = val;
        else if (strcmp(line, "date") == 0)
            v->date = val;
        else if (strcmp(line, "access-key-id") == 0)
            v->akid = val;
        else if (strcmp(line, "secret-access-key") == 0)
            v->secret = val;
        else if (strcmp(line, "session-token") == 0)
            v->token = val;
        else if (strcmp(line, "payload") == 0)
            v->payload = val;
        else if (strcmp(line, "authorization") == 0)
            v->authorization = val;
        else if (strcmp(line, "header") == 0 && v->n_headers < 8)
            v->headers[v->n_headers++] = val;
    }
}

static void test_sigv4_vectors(void)
{
    static const char *const names[] = {
        "get-vanilla.txt",
        "post-vanilla.txt",
        "post-x-www-form-urlencoded.txt",
        "get-vanilla-query-order-key-case.txt",
        "post-header-key-sort.txt",
        "get-header-value-trim.txt",
        "get-vanilla-with-session-token.txt",
        "ecr-get-authorization-token.txt",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct vector v;
        vector_load(&v, names[i]);
        CHECK(v.authorization != NULL);
        struct sl_aws_session creds = {.access_key_id = (char *)v.akid,
                                       .secret_access_key = (char *)v.secret,
                                       .session_token = (char *)v.token};
        struct sl_aws_sigv4_request req = {
            .method = v.method,
            .host = v.host,
            .path = v.path,
            .query = v.query,
            .headers = v.headers,
            .n_headers = v.n_headers,
            .payload = v.payload,
            .payload_len = v.payload ? strlen(v.payload) : 0,
            .region = v.region,
            .service = v.service,
            .amz_date = v.date,
        };
        char *authz = NULL;
        struct sl_err err = {0};
        CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), 0);
        if (!authz || !v.authorization || strcmp(authz, v.authorization) != 0)
            fprintf(stderr, "vector %s\n", names[i]);
        CHECK_STR_EQ(authz, v.authorization);
        free(authz);

        /* one byte of the body, the date or the token changed: another signature */
        if (v.payload || v.token) {
            creds.session_token = v.token ? "other-token" : NULL;
            req.payload_len = v.payload ? strlen(v.payload) - 1 : 0;
            CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), 0);
            CHECK(authz && strcmp(authz, v.authorization) != 0);
            free(authz);
        }
        free(v.text);
    }
}

static void test_sigv4_refuses(void)
{
    struct sl_aws_session creds = {.access_key_id = "AKIDEXAMPLE",
                                   .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
    const char *bad_line[] = {"NoColon"};
    const char *host_line[] = {"Host: evil.example"};
    const char *crlf_line[] = {"X-Test: a\r\nX-Injected: b"};
    struct sl_aws_sigv4_request req = {.method = "POST",
                                       .host = "example.amazonaws.com",
                                       .path = "/",
                                       .region = "us-east-1",
                                       .service = "service",
                                       .amz_date = "20150830T123600Z"};
    char *authz = NULL;
    struct sl_err err = {0};

    req.headers = bad_line;
    req.n_headers = 1;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "header 1");
    req.headers = host_line; /* the signer sets host itself: one listed is a mistake */
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    req.headers = crlf_line;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    req.n_headers = 0;
    req.amz_date = "2015-08-30T12:36:00Z";
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    req.amz_date = "20150830T123600Z";
    req.region = NULL;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    req.region = "us-east-1/../x";
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    req.region = "us-east-1";
    req.host = NULL;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&authz, &req, &creds, &err), SL_EINVAL);
    CHECK(authz == NULL);
    CHECK(strstr(err.msg, creds.secret_access_key) == NULL);
}

/* ---- host and ARN ---- */

static void test_host_parse(void)
{
    struct sl_aws_ecr_host h;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_aws_ecr_host_parse(&h, "123456789012.dkr.ecr.us-east-1.amazonaws.com", &err),
                 0);
    CHECK_STR_EQ(h.account, "123456789012");
    CHECK_STR_EQ(h.region, "us-east-1");
    CHECK_INT_EQ(h.fips, 0);
    CHECK_INT_EQ(h.china, 0);
    CHECK_INT_EQ(
        sl_aws_ecr_host_parse(&h, "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", &err),
        0);
    CHECK_STR_EQ(h.region, "us-gov-west-1");
    CHECK_INT_EQ(h.fips, 1);
    CHECK_INT_EQ(h.china, 0);
    CHECK_INT_EQ(
        sl_aws_ecr_host_parse(&h, "000000000001.dkr.ecr.cn-north-1.amazonaws.com.cn", &err), 0);
    CHECK_STR_EQ(h.account, "000000000001");
    CHECK_STR_EQ(h.region, "cn-north-1");
    CHECK_INT_EQ(h.china, 1);

    static const char *const bad[] = {
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
        "12345678901.dkr.ecr.us-east-1.amazonaws.com",
        "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
        "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.US-EAST-1.amazonaws.com",
        "123456789012.DKR.ECR.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn.evil.example",
        "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr..amazonaws.com",
        "123456789012..dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1..amazonaws.com",
        "123456789012.dkr.ecr.-us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1-.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.org",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
        "123456789012.dkr.ecr.us.east.1.amazonaws.com",
        "123456789012.dkr.ecr-fips.amazonaws.com",
        "public.ecr.aws",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&h, 0x5a, sizeof(h));
        struct sl_aws_ecr_host before = h;
        int rc = sl_aws_ecr_host_parse(&h, bad[i], &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "host accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK(memcmp(&h, &before, sizeof(h)) == 0); /* out untouched */
        CHECK_CONTAINS(err.msg, "is not an Amazon ECR registry host");
    }
    CHECK_INT_EQ(sl_aws_ecr_host_parse(&h, NULL, &err), SL_EINVAL);
}

static void test_role_arn(void)
{
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::123456789012:role/ecr-pull", &err), 0);
    CHECK_INT_EQ(
        sl_aws_role_arn_check("arn:aws-cn:iam::123456789012:role/team/ci/Pull+=,.@_-1", &err), 0);
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws-us-gov:iam::123456789012:role/x", &err), 0);

    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::12345678901:role/x", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "12 digits");
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:evil:iam::123456789012:role/x", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "partition");
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::123456789012:user/x", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:sts::123456789012:role/x", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::123456789012:role/", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::123456789012:role/a b", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check("arn:aws:iam::123456789012:role/a&RoleArn=x", &err),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check("", &err), SL_EINVAL);
    CHECK_INT_EQ(sl_aws_role_arn_check(NULL, &err), SL_EINVAL);

    char long_arn[700];
    int n = snprintf(long_arn, sizeof(long_arn), "arn:aws:iam::123456789012:role/");
    memset(long_arn + n, 'a', 512);
    long_arn[n + 512] = '\0';
    CHECK_INT_EQ(sl_aws_role_arn_check(long_arn, &err), 0);
    long_arn[n + 512] = 'a';
    long_arn[n + 513] = '\0';
    CHECK_INT_EQ(sl_aws_role_arn_check(long_arn, &err), SL_EINVAL);
    /* the message quotes at most 100 characters of what it was given */
    CHECK(strlen(err.msg) < 300);
}

/* ---- STS documents ---- */

static int sts_file(struct sl_aws_session *s, const char *name, struct sl_err *err)
{
    size_t len = 0;
    char *xml = sl_test_read_file(&len, "%s/sts/%s", data_dir, name);
    int rc = sl_aws_sts_parse(s, xml, len, err);
    free(xml);
    return rc;
}

static void test_sts_success(void)
{
    static const char *const names[] = {"success.xml", "success-declaration.xml"};
    for (size_t i = 0; i < 2; i++) {
        struct sl_aws_session s;
        struct sl_err err = {0};
        CHECK_INT_EQ(sts_file(&s, names[i], &err), 0);
        CHECK_STR_EQ(s.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        CHECK_STR_EQ(s.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETEXAMPLE");
        CHECK_STR_EQ(s.session_token, "IQoJb3JpZ2luX2VjSESSIONTOKENEXAMPLE/session+token==");
        CHECK_INT_EQ(s.expires_unix, 1796603400); /* 2026-12-07T00:30:00Z */
        sl_aws_session_clear(&s);
        CHECK(s.secret_access_key == NULL);
    }
    /* entities in a value are decoded */
    struct sl_aws_session s;
    struct sl_err err = {0};
    CHECK_INT_EQ(sts_file(&s, "entities-secret.xml", &err), 0);
    CHECK_STR_EQ(s.secret_access_key, "wJal&rX>U+EXAMPLE");
    sl_aws_session_clear(&s);
}

/* The session's secrets, as the data files hold them: in no message. */
static const char *const session_secrets[] = {"SECRETEXAMPLE", "SESSIONTOKEN"};

static int read_sts(void *ctx, const char *doc, size_t len, struct sl_err *err)
{
    return sl_aws_sts_parse(ctx, doc, len, err);
}

static void test_sts_errors(void)
{
    static const struct sl_cloudtest_case cases[] = {
        {"access-denied.xml", SL_EAUTH,
         "STS AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"},
        {"invalid-identity-token.xml", SL_EAUTH, "STS InvalidIdentityToken: No OpenIDConnect"},
        {"expired-token.xml", SL_EAUTH, "STS ExpiredTokenException: Token expired"},
        {"idp-rejected-claim.xml", SL_EAUTH, "STS IDPRejectedClaim: Incorrect token audience"},
        {"throttling.xml", SL_ERETRY, "STS Throttling: Rate exceeded"},
        {"idp-communication-error.xml", SL_ERETRY, "STS IDPCommunicationError: Couldn't"},
        {"validation-error.xml", SL_EINVAL, "STS ValidationError: 1 validation error"},
        {"entities-message.xml", SL_EAUTH, "STS AccessDenied: Role \"ecr<pull>\" & policy 'x' AB"},
        {"cdata.xml", SL_EINVAL, "CDATA"},
        {"doctype.xml", SL_EINVAL, "DOCTYPE"},
        {"duplicate-access-key.xml", SL_EINVAL, "AccessKeyId twice"},
        {"missing-session-token.xml", SL_EINVAL, "no Credentials/SessionToken"},
        {"bad-expiration.xml", SL_EINVAL, "Expiration"},
        {"mismatched-end.xml", SL_EINVAL, "does not match"},
        {"html.xml", SL_EINVAL, "neither"},
    };
    struct sl_aws_session s;
    const struct sl_cloudtest_reader reader = {
        .data_dir = data_dir,
        .folder = "sts",
        .read = read_sts,
        .ctx = &s,
        .outputs = {{&s, sizeof(s)}},
        .n_outputs = 1,
        .match = SL_CLOUDTEST_MSG_CONTAINS,
        .prefix = "STS ",
        .secrets = session_secrets,
        .n_secrets = sizeof(session_secrets) / sizeof(session_secrets[0]),
    };
    sl_cloudtest_read_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                            sizeof(cases) / sizeof(cases[0]));
}

static void test_sts_hostile(void)
{
    size_t len = 0;
    char *xml = sl_test_read_file(&len, "%s/sts/success.xml", data_dir);
    struct sl_aws_session s;
    struct sl_err err = {0};
    /* every truncation is refused, none is read past its end (ASan) */
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = sl_xmalloc(cut ? cut : 1);
        memcpy(copy, xml, cut);
        int rc = sl_aws_sts_parse(&s, copy, cut, &err);
        /* the final newline is optional */
        if (cut + 1 < len)
            CHECK_INT_EQ(rc, SL_EINVAL);
        if (rc == 0)
            sl_aws_session_clear(&s);
        free(copy);
    }
    CHECK_INT_EQ(sl_aws_sts_parse(&s, xml, len - 1, &err), 0);
    sl_aws_session_clear(&s);

    /* a session token larger than any STS sends */
    char *big = sl_xmalloc(len + 8192);
    const char *at = strstr(xml, "IQoJ");
    size_t head = (size_t)(at - xml);
    memcpy(big, xml, head);
    memset(big + head, 'A', 5000);
    memcpy(big + head + 5000, at, len - head);
    CHECK_INT_EQ(sl_aws_sts_parse(&s, big, len + 5000, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "SessionToken is longer than 4096 bytes");
    CHECK(strstr(err.msg, "AAAA") == NULL);

    /* a NUL inside the document */
    memcpy(big, xml, len);
    big[head] = '\0';
    CHECK_INT_EQ(sl_aws_sts_parse(&s, big, len, &err), SL_EINVAL);

    /* nesting without end */
    struct {
        const char *doc, *msg;
    } small[] = {
        {"<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a>", "too deep"},
        {"<!-- x --><ErrorResponse/>", "comment"},
        {"<?php x ?><ErrorResponse/>", "processing instruction"},
        {"<ErrorResponse><Error><Code>AccessDenied</Code><Code>X</Code></Error></ErrorResponse>",
         "Code twice"},
        {"<ErrorResponse><Error><Code>A<b/></Code></Error></ErrorResponse>", "Code holds"},
        {"<ErrorResponse><Error><Code>&bogus;</Code></Error></ErrorResponse>", "reference"},
        {"<ErrorResponse><Error><Code>&#0;</Code></Error></ErrorResponse>", "reference"},
        {"<ErrorResponse><Error><Code>&#x10FFFF;</Code></Error></ErrorResponse>", "reference"},
        {"<ErrorResponse><Error><Code>A\x01</Code></Error></ErrorResponse>", "control"},
        {"<ErrorResponse a=b/>", "unquoted"},
        {"<ErrorResponse/><ErrorResponse/>", "after the root"},
        {"<ErrorResponse/>text", "outside the root"},
        {"</ErrorResponse>", "without a start tag"},
        {"<ErrorResponse><Error><Message>x</Message></Error></ErrorResponse>", "without a Code"},
        {"", "no element"},
    };
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        int rc = sl_aws_sts_parse(&s, small[i].doc, strlen(small[i].doc), &err);
        if (rc != SL_EINVAL || !strstr(err.msg, small[i].msg))
            fprintf(stderr, "small %zu: %d %s\n", i, rc, err.msg);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, small[i].msg);
    }

    /* a long message is cut at 200 characters; control characters are dropped */
    char doc[2048];
    char msg[600];
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    msg[0] = '\t';
    snprintf(doc, sizeof(doc),
             "<ErrorResponse><Error><Code>AccessDenied</Code><Message>%s</Message></Error>"
             "</ErrorResponse>",
             msg);
    CHECK_INT_EQ(sl_aws_sts_parse(&s, doc, strlen(doc), &err), SL_EAUTH);
    CHECK_INT_EQ(strlen(err.msg), strlen("STS AccessDenied: ") + 199);
    CHECK(strchr(err.msg, '\t') == NULL);
    free(big);
    free(xml);
}

/* ---- ECR answers ---- */

static int ecr_file(struct sl_creds *c, int64_t *exp, const char *name, struct sl_err *err)
{
    size_t len = 0;
    char *json = sl_test_read_file(&len, "%s/ecr/%s", data_dir, name);
    int rc = sl_aws_ecr_token_parse(c, exp, json, len, err);
    free(json);
    return rc;
}

/* What an ECR answer is read into. */
struct ecr_out {
    struct sl_creds c;
    int64_t exp;
};

static int read_ecr(void *ctx, const char *doc, size_t len, struct sl_err *err)
{
    struct ecr_out *o = ctx;
    return sl_aws_ecr_token_parse(&o->c, &o->exp, doc, len, err);
}

static void test_ecr_parse(void)
{
    struct sl_creds c;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(ecr_file(&c, &exp, "success.json", &err), 0);
    CHECK_STR_EQ(c.username, "AWS");
    CHECK_STR_EQ(c.password, "ecr-PASSWORD-example:with-colon");
    CHECK_INT_EQ(exp, 1796601600);
    sl_creds_free(&c);
    CHECK_INT_EQ(ecr_file(&c, &exp, "success-integer.json", &err), 0);
    CHECK_STR_EQ(c.password, "ecr-PASSWORD-example");
    sl_creds_free(&c);

    static const struct sl_cloudtest_case cases[] = {
        {"access-denied.json", SL_EAUTH, "ECR AccessDeniedException: User: arn:aws:sts::"},
        {"unrecognized-client.json", SL_EAUTH,
         "ECR UnrecognizedClientException: The security token included"},
        {"invalid-parameter.json", SL_EINVAL, "ECR InvalidParameterException: Invalid parameter"},
        {"throttling.json", SL_ERETRY, "ECR ThrottlingException: Rate exceeded"},
        {"bad-base64.json", SL_EINVAL, "not base64"},
        {"no-colon.json", SL_EINVAL, "USER:PASSWORD"},
        {"no-expiry.json", SL_EINVAL, "no expiresAt"},
        {"no-token.json", SL_EINVAL, "no authorizationToken"},
        {"empty.json", SL_EINVAL, "no authorizationData entry"},
        {"duplicate-key.json", SL_EINVAL, "not a JSON object"},
    };
    /* the password, and the token (base64 of AWS:PASSWORD) */
    static const char *const ecr_secrets[] = {"ecr-PASSWORD", "QVdTOm"};
    struct ecr_out out;
    const struct sl_cloudtest_reader reader = {
        .data_dir = data_dir,
        .folder = "ecr",
        .read = read_ecr,
        .ctx = &out,
        .outputs = {{&out.c, sizeof(out.c)}},
        .n_outputs = 1,
        .match = SL_CLOUDTEST_MSG_CONTAINS,
        .secrets = ecr_secrets,
        .n_secrets = sizeof(ecr_secrets) / sizeof(ecr_secrets[0]),
    };
    sl_cloudtest_read_cases(SL_CLOUDTEST_COUNTERS, &reader, cases,
                            sizeof(cases) / sizeof(cases[0]));
    CHECK_INT_EQ(sl_aws_ecr_token_parse(&c, &exp, "[1]", 3, &err), SL_EINVAL);
    /* an expiry in the first second of 1970 is no time (found by fuzz_aws_ecr_token) */
    static const char early[] = "{\"authorizationData\":[{\"authorizationToken\":\"QVdTOng=\","
                                "\"expiresAt\":0.1}]}";
    CHECK_INT_EQ(sl_aws_ecr_token_parse(&c, &exp, early, strlen(early), &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "expiresAt is not a time");
    CHECK_INT_EQ(sl_aws_ecr_token_parse(&c, &exp,
                                        "{\"authorizationData\":[{\"authorizationToken\""
                                        ":\"QVdTOng=\",\"expiresAt\":-5}]}",
                                        63, &err),
                 SL_EINVAL);
}

/* ---- configuration ---- */

static void test_config_from_env(void)
{
    struct sl_aws_config cfg;
    struct sl_err err = {0};
    unsetenv("AWS_ENDPOINT_URL_STS");
    unsetenv("AWS_ENDPOINT_URL_ECR");
    setenv("AWS_CA_BUNDLE", "", 1); /* empty counts as unset */
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), 0);
    CHECK(cfg.sts_endpoint == NULL && cfg.ecr_endpoint == NULL && cfg.ca_pem == NULL);
    sl_aws_config_clear(&cfg);

    setenv("AWS_ENDPOINT_URL_STS", "https://sts.vpce-0123.example.com", 1);
    setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:8443/", 1);
    char ca_path[1200];
    snprintf(ca_path, sizeof(ca_path), "%s/../tls/ca.crt", data_dir);
    setenv("AWS_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), 0);
    CHECK_STR_EQ(cfg.sts_endpoint, "https://sts.vpce-0123.example.com");
    CHECK_STR_EQ(cfg.ecr_endpoint, "http://127.0.0.1:8443/");
    CHECK(cfg.ca_pem && strstr(cfg.ca_pem, "-----BEGIN CERTIFICATE-----"));
    sl_aws_config_clear(&cfg);
    CHECK(cfg.ca_pem == NULL);
    setenv("AWS_ENDPOINT_URL_ECR", "http://[::1]:9000", 1);
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), 0);
    sl_aws_config_clear(&cfg);
    setenv("AWS_ENDPOINT_URL_ECR", "http://localhost:9000", 1);
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), 0);
    sl_aws_config_clear(&cfg);

    static const char *const bad_endpoints[] = {
        "http://sts.example.com",
        "ftp://sts.example.com",
        "https://user@sts.example.com",
        "https://sts.example.com/path",
        "https://sts.example.com?x=1",
        "https://sts.example.com:99999",
        "https://",
        "sts.example.com",
        "http://127.0.0.1.evil.example",
    };
    for (size_t i = 0; i < sizeof(bad_endpoints) / sizeof(bad_endpoints[0]); i++) {
        setenv("AWS_ENDPOINT_URL_ECR", bad_endpoints[i], 1);
        memset(&cfg, 0, sizeof(cfg));
        int rc = sl_aws_config_from_env(&cfg, &err);
        if (rc != SL_EINVAL)
            fprintf(stderr, "endpoint accepted: %s\n", bad_endpoints[i]);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "AWS_ENDPOINT_URL_ECR");
        CHECK(cfg.sts_endpoint == NULL); /* untouched */
    }
    unsetenv("AWS_ENDPOINT_URL_ECR");

    snprintf(ca_path, sizeof(ca_path), "%s/no-such-ca.pem", data_dir);
    setenv("AWS_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "AWS_CA_BUNDLE");
    snprintf(ca_path, sizeof(ca_path), "%s/sts/success.xml", data_dir);
    setenv("AWS_CA_BUNDLE", ca_path, 1);
    CHECK_INT_EQ(sl_aws_config_from_env(&cfg, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "AWS_CA_BUNDLE");
    CHECK_CONTAINS(err.msg, "no PEM certificate");
    unsetenv("AWS_CA_BUNDLE");
    unsetenv("AWS_ENDPOINT_URL_STS");
}

/* ---- logins over a fake transport ---- */

#define WEB_TOKEN "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsic3RzLmFtYXpvbmF3cy5jb20iXX0.c2lnbmF0dXJl"

/* What the fake answers each service, and what it saw. */
struct fake_aws {
    /* answers: a file under data_dir, a status; failure instead of an answer when set */
    const char *sts_file, *ecr_file;
    long sts_status, ecr_status;
    enum sl_http_failure sts_failure, ecr_failure;
    size_t sts_padding; /* spaces appended to the STS answer */
    /* seen */
    int n_sts, n_ecr;
    char sts_url[256], ecr_url[256];
    char sts_body[2048];
    char ecr_headers[8][1024];
    size_t n_ecr_headers;
    int64_t timeout_ms;
};

static void fake_perform(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct fake_aws *f = ctx;
    memset(res, 0, sizeof(*res));
    int is_sts = x->body_len > 0 && strncmp(x->body, "Action=AssumeRoleWithWebIdentity", 32) == 0;
    f->timeout_ms = x->timeout_ms;
    if (is_sts) {
        f->n_sts++;
        snprintf(f->sts_url, sizeof(f->sts_url), "%s", x->url);
        snprintf(f->sts_body, sizeof(f->sts_body), "%.*s", (int)x->body_len, (const char *)x->body);
        if (f->sts_failure) {
            res->failure = f->sts_failure;
            snprintf(res->error, sizeof(res->error), "Could not resolve host: sts.example");
            return;
        }
        sl_cloudtest_serve(x, res, data_dir, f->sts_file, f->sts_status, f->sts_padding);
        return;
    }
    f->n_ecr++;
    snprintf(f->ecr_url, sizeof(f->ecr_url), "%s", x->url);
    f->n_ecr_headers = 0;
    for (size_t i = 0; i < x->n_headers && i < 8; i++)
        snprintf(f->ecr_headers[f->n_ecr_headers++], sizeof(f->ecr_headers[0]), "%s",
                 x->headers[i]);
    if (f->ecr_failure) {
        res->failure = f->ecr_failure;
        snprintf(res->error, sizeof(res->error), "Connection reset by peer");
        return;
    }
    sl_cloudtest_serve(x, res, data_dir, f->ecr_file, f->ecr_status, 0);
}

static const struct sl_transport_ops fake_ops = {.perform = fake_perform,
                                                 .relay = sl_cloudtest_no_relay};

static const char *ecr_header(const struct fake_aws *f, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < f->n_ecr_headers; i++)
        if (strncmp(f->ecr_headers[i], name, n) == 0 && f->ecr_headers[i][n] == ':')
            return f->ecr_headers[i] + n + 2;
    return NULL;
}

static int login(struct fake_aws *f, const struct sl_aws_config *cfg, const char *host_name,
                 struct sl_creds *c, int64_t *exp, struct sl_err *err)
{
    struct sl_aws_ecr_host host;
    if (sl_aws_ecr_host_parse(&host, host_name, err) != 0)
        return -100;
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, f);
    memset(c, 0, sizeof(*c));
    int rc = sl_aws_ecr_login(c, exp, t, cfg, &host, "arn:aws:iam::123456789012:role/ecr-pull",
                              "sealift-apps-mirror", WEB_TOKEN, 1796600000, err);
    sl_transport_free(t);
    return rc;
}

/* The secrets of the exchange: none is ever in a message. */
static const char *const secrets[] = {
    WEB_TOKEN,       "eyJhbGciOiJSUzI1NiJ9", /* any part of it */
    "c2lnbmF0dXJl",  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETEXAMPLE",
    "SECRETEXAMPLE", "IQoJb3JpZ2luX2VjSESSIONTOKENEXAMPLE",
    "SESSIONTOKEN",  "ecr-PASSWORD-example",
    "ecr-PASSWORD",  "QVdTOm",
};

static void test_login_success(void)
{
    struct fake_aws f = {.sts_file = "sts/success.xml",
                         .sts_status = 200,
                         .ecr_file = "ecr/success.json",
                         .ecr_status = 200};
    struct sl_creds c;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(login(&f, NULL, "123456789012.dkr.ecr.us-west-2.amazonaws.com", &c, &exp, &err),
                 0);
    CHECK_STR_EQ(c.username, "AWS");
    CHECK_STR_EQ(c.password, "ecr-PASSWORD-example:with-colon");
    /* ECR's 1796601600 is before the session's end (1796603400) */
    CHECK_INT_EQ(exp, 1796601600);
    sl_creds_free(&c);

    CHECK_STR_EQ(f.sts_url, "https://sts.us-west-2.amazonaws.com/");
    CHECK_STR_EQ(f.ecr_url, "https://api.ecr.us-west-2.amazonaws.com/");
    CHECK_INT_EQ(f.timeout_ms, 30000);
    /* the STS form: each field once, percent-encoded */
    CHECK_STR_EQ(f.sts_body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fecr-pull"
                             "&RoleSessionName=sealift-apps-mirror&WebIdentityToken=" WEB_TOKEN
                             "&DurationSeconds=3600");
    /* the ECR request: signed with the session's keys for the host's region and "ecr" */
    CHECK_STR_EQ(ecr_header(&f, "X-Amz-Target"),
                 "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken");
    CHECK_STR_EQ(ecr_header(&f, "Content-Type"), "application/x-amz-json-1.1");
    CHECK_STR_EQ(ecr_header(&f, "X-Amz-Security-Token"),
                 "IQoJb3JpZ2luX2VjSESSIONTOKENEXAMPLE/session+token==");
    CHECK_STR_EQ(ecr_header(&f, "X-Amz-Date"), "20261206T233320Z");
    const char *authz = ecr_header(&f, "Authorization");
    CHECK_CONTAINS(authz, "AWS4-HMAC-SHA256 Credential=ASIAIOSFODNN7EXAMPLE/20261206/us-west-2/"
                          "ecr/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                          "x-amz-security-token;x-amz-target, Signature=");

    /* the signature is the one an independent signer computes for the same request */
    struct sl_aws_session s = {.access_key_id = "ASIAIOSFODNN7EXAMPLE",
                               .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETEXAMPLE",
                               .session_token =
                                   "IQoJb3JpZ2luX2VjSESSIONTOKENEXAMPLE/session+token=="};
    const char *hdrs[] = {"Content-Type: application/x-amz-json-1.1",
                          "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921."
                          "GetAuthorizationToken"};
    struct sl_aws_sigv4_request req = {.method = "POST",
                                       .host = "api.ecr.us-west-2.amazonaws.com",
                                       .path = "/",
                                       .headers = hdrs,
                                       .n_headers = 2,
                                       .payload = "{}",
                                       .payload_len = 2,
                                       .region = "us-west-2",
                                       .service = "ecr",
                                       .amz_date = "20261206T233320Z"};
    char *want = NULL;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&want, &req, &s, &err), 0);
    CHECK_STR_EQ(authz, want);
    free(want);

    /* the session ends first: its end is the expiry */
    f = (struct fake_aws){.sts_file = "sts/success.xml",
                          .sts_status = 200,
                          .ecr_file = "ecr/success-late.json",
                          .ecr_status = 200};
    CHECK_INT_EQ(login(&f, NULL, "123456789012.dkr.ecr.us-west-2.amazonaws.com", &c, &exp, &err),
                 0);
    CHECK_INT_EQ(exp, 1796603400);
    sl_creds_free(&c);
}

static void test_login_endpoints(void)
{
    static const struct {
        const char *host, *sts, *ecr, *scope;
    } cases[] = {
        {"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
         "https://sts-fips.us-east-1.amazonaws.com/",
         "https://api.ecr-fips.us-east-1.amazonaws.com/", "/us-east-1/ecr/aws4_request"},
        {"123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
         "https://sts.cn-northwest-1.amazonaws.com.cn/",
         "https://api.ecr.cn-northwest-1.amazonaws.com.cn/", "/cn-northwest-1/ecr/aws4_request"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_aws f = {.sts_file = "sts/success.xml",
                             .sts_status = 200,
                             .ecr_file = "ecr/success.json",
                             .ecr_status = 200};
        struct sl_creds c;
        int64_t exp = 0;
        struct sl_err err = {0};
        CHECK_INT_EQ(login(&f, NULL, cases[i].host, &c, &exp, &err), 0);
        sl_creds_free(&c);
        CHECK_STR_EQ(f.sts_url, cases[i].sts);
        CHECK_STR_EQ(f.ecr_url, cases[i].ecr);
        CHECK_CONTAINS(ecr_header(&f, "Authorization"), cases[i].scope);
    }

    /* overrides: the URL sent and the Host signed agree (default port dropped, case folded) */
    struct sl_aws_config cfg = {.sts_endpoint = "https://STS.vpce.example.com:443",
                                .ecr_endpoint = "http://127.0.0.1:8443/",
                                .timeout_ms = 5000};
    struct fake_aws f = {.sts_file = "sts/success.xml",
                         .sts_status = 200,
                         .ecr_file = "ecr/success.json",
                         .ecr_status = 200};
    struct sl_creds c;
    int64_t exp = 0;
    struct sl_err err = {0};
    CHECK_INT_EQ(login(&f, &cfg, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", &c, &exp, &err),
                 0);
    sl_creds_free(&c);
    CHECK_STR_EQ(f.sts_url, "https://sts.vpce.example.com/");
    CHECK_STR_EQ(f.ecr_url, "http://127.0.0.1:8443/");
    CHECK_INT_EQ(f.timeout_ms, 5000);
    CHECK_CONTAINS(ecr_header(&f, "Authorization"), "/eu-west-1/ecr/aws4_request");
    struct sl_aws_session s = {.access_key_id = "ASIAIOSFODNN7EXAMPLE",
                               .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETEXAMPLE",
                               .session_token =
                                   "IQoJb3JpZ2luX2VjSESSIONTOKENEXAMPLE/session+token=="};
    const char *hdrs[] = {"Content-Type: application/x-amz-json-1.1",
                          "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921."
                          "GetAuthorizationToken"};
    struct sl_aws_sigv4_request req = {.method = "POST",
                                       .host = "127.0.0.1:8443",
                                       .path = "/",
                                       .headers = hdrs,
                                       .n_headers = 2,
                                       .payload = "{}",
                                       .payload_len = 2,
                                       .region = "eu-west-1",
                                       .service = "ecr",
                                       .amz_date = "20261206T233320Z"};
    char *want = NULL;
    CHECK_INT_EQ(sl_aws_sigv4_authorization(&want, &req, &s, &err), 0);
    CHECK_STR_EQ(ecr_header(&f, "Authorization"), want);
    free(want);

    /* an override that is no https URL is refused before anything is sent */
    cfg.sts_endpoint = "http://sts.example.com";
    f = (struct fake_aws){0};
    CHECK_INT_EQ(login(&f, &cfg, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", &c, &exp, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(f.n_sts + f.n_ecr, 0);
}

/* A login that fails: what STS and ECR answer. */
struct login_case {
    struct sl_cloudtest_expect want;
    struct fake_aws f;
};

static int login_case(const void *test_case, struct sl_creds *c, int64_t *exp, struct sl_err *err)
{
    const struct login_case *lc = test_case;
    struct fake_aws f = lc->f;
    int rc = login(&f, NULL, "123456789012.dkr.ecr.us-west-2.amazonaws.com", c, exp, err);
    /* ECR is asked only with credentials from STS */
    if (lc->f.ecr_file == NULL && lc->f.ecr_failure == 0)
        CHECK_INT_EQ(f.n_ecr, 0);
    return rc;
}

static void test_login_failures(void)
{
    static const struct login_case cases[] = {
        {{"sts 403", SL_EAUTH,
          "STS https://sts.us-west-2.amazonaws.com: AccessDenied: Not authorized"},
         {.sts_file = "sts/access-denied.xml", .sts_status = 403}},
        {{"sts 400 invalid token", SL_EAUTH,
          "STS https://sts.us-west-2.amazonaws.com: InvalidIdentityToken: "},
         {.sts_file = "sts/invalid-identity-token.xml", .sts_status = 400}},
        {{"sts 400 throttling", SL_ERETRY,
          "STS https://sts.us-west-2.amazonaws.com: Throttling: Rate exceeded"},
         {.sts_file = "sts/throttling.xml", .sts_status = 400}},
        {{"sts 500", SL_ERETRY, "STS https://sts.us-west-2.amazonaws.com: HTTP 500"},
         {.sts_file = "sts/html.xml", .sts_status = 500}},
        {{"sts 503 with an error document", SL_ERETRY,
          "STS https://sts.us-west-2.amazonaws.com: HTTP 503: IDPCommunicationError: "},
         {.sts_file = "sts/idp-communication-error.xml", .sts_status = 503}},
        {{"sts 429", SL_ERETRY, "HTTP 429"}, {.sts_file = "sts/html.xml", .sts_status = 429}},
        {{"sts 403 without a document", SL_EAUTH,
          "STS https://sts.us-west-2.amazonaws.com: HTTP 403"},
         {.sts_file = "sts/html.xml", .sts_status = 403}},
        {{"sts 200 with credentials missing", SL_EINVAL,
          "STS https://sts.us-west-2.amazonaws.com: answer has no Credentials/SessionToken"},
         {.sts_file = "sts/missing-session-token.xml", .sts_status = 200}},
        {{"sts 403 holding credentials", SL_EAUTH, "HTTP 403"},
         {.sts_file = "sts/success.xml", .sts_status = 403}},
        {{"sts unreachable", SL_ERETRY,
          "STS https://sts.us-west-2.amazonaws.com: Could not resolve host"},
         {.sts_failure = SL_HTTP_NETWORK}},
        {{"sts answer too big", SL_ETOOBIG,
          "STS https://sts.us-west-2.amazonaws.com: answer larger than 65536 bytes"},
         {.sts_file = "sts/success.xml", .sts_status = 200, .sts_padding = 70000}},
        {{"ecr 400 access denied", SL_EAUTH,
          "ECR https://api.ecr.us-west-2.amazonaws.com: AccessDeniedException: User: "},
         {.sts_file = "sts/success.xml",
          .sts_status = 200,
          .ecr_file = "ecr/access-denied.json",
          .ecr_status = 400}},
        {{"ecr 400 unrecognized client", SL_EAUTH,
          "ECR https://api.ecr.us-west-2.amazonaws.com: UnrecognizedClientException: "},
         {.sts_file = "sts/success.xml",
          .sts_status = 200,
          .ecr_file = "ecr/unrecognized-client.json",
          .ecr_status = 400}},
        {{"ecr 500", SL_ERETRY, "ECR https://api.ecr.us-west-2.amazonaws.com: HTTP 500"},
         {.sts_file = "sts/success.xml",
          .sts_status = 200,
          .ecr_file = "ecr/empty.json",
          .ecr_status = 500}},
        {{"ecr 200 bad token", SL_EINVAL,
          "ECR https://api.ecr.us-west-2.amazonaws.com: answer's authorizationToken is not base64 "
          "of USER:PASSWORD"},
         {.sts_file = "sts/success.xml",
          .sts_status = 200,
          .ecr_file = "ecr/no-colon.json",
          .ecr_status = 200}},
        {{"ecr reset", SL_ERETRY,
          "ECR https://api.ecr.us-west-2.amazonaws.com: Connection reset by peer"},
         {.sts_file = "sts/success.xml", .sts_status = 200, .ecr_failure = SL_HTTP_NETWORK}},
    };
    static const struct sl_cloudtest_login l = {
        .login = login_case, .secrets = secrets, .n_secrets = sizeof(secrets) / sizeof(secrets[0])};
    sl_cloudtest_login_failures(SL_CLOUDTEST_COUNTERS, &l, cases, sizeof(cases) / sizeof(cases[0]),
                                sizeof(cases[0]));
}

/* The caller's own inputs are checked before anything is sent. */
static void test_login_inputs(void)
{
    struct fake_aws f = {0};
    struct sl_transport *t = sl_transport_new_custom(&fake_ops, &f);
    struct sl_aws_ecr_host host;
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_aws_ecr_host_parse(&host, "123456789012.dkr.ecr.us-west-2.amazonaws.com", &err),
                 0);
    struct sl_creds c = {0};
    int64_t exp = 0;
    const char *arn = "arn:aws:iam::123456789012:role/ecr-pull";
    CHECK_INT_EQ(sl_aws_ecr_login(&c, &exp, t, NULL, &host, "arn:aws:iam::1:role/x", "sealift",
                                  WEB_TOKEN, 1796600000, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_aws_ecr_login(&c, &exp, t, NULL, &host, arn, "x", WEB_TOKEN, 1796600000, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(
        sl_aws_ecr_login(&c, &exp, t, NULL, &host, arn, "a&Action=x", WEB_TOKEN, 1796600000, &err),
        SL_EINVAL);
    CHECK_INT_EQ(sl_aws_ecr_login(&c, &exp, t, NULL, &host, arn, "sealift", "", 1796600000, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_aws_ecr_login(&c, &exp, t, NULL, &host, arn, "sealift",
                                  "eyJ.x&RoleArn=arn:aws:iam::999999999999:role/admin", 1796600000,
                                  &err),
                 SL_EINVAL);
    CHECK(strstr(err.msg, "999999999999") == NULL);
    CHECK_INT_EQ(f.n_sts + f.n_ecr, 0);
    sl_transport_free(t);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    RUN(test_sigv4_vectors);
    RUN(test_sigv4_refuses);
    RUN(test_host_parse);
    RUN(test_role_arn);
    RUN(test_sts_success);
    RUN(test_sts_errors);
    RUN(test_sts_hostile);
    RUN(test_ecr_parse);
    RUN(test_config_from_env);
    RUN(test_login_success);
    RUN(test_login_endpoints);
    RUN(test_login_failures);
    RUN(test_login_inputs);
    return CHECK_EXIT();
}
