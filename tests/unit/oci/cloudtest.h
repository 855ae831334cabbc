/* What the unit tests of the cloud registry logins (test_aws.c, test_azure.c, test_gcp.c) share:
 * the table-driven runs of an answer reader over data files and of a login over fakes that
 * fail, each checking the code, the message, that the outputs stay untouched and that no secret
 * reaches the message; and the fake transport's pieces every one of them needs.
 *
 * check.h keeps its counters per file: the runners count their checks into the calling test's
 * (SL_CLOUDTEST_COUNTERS), so its "N checks" and RUN lines include them. */
#ifndef SL_TEST_OCI_CLOUDTEST_H
#define SL_TEST_OCI_CLOUDTEST_H

#include "http/transport.h"
#include "oci/auth.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Where a runner counts its checks: the calling file's check_count and check_failures. */
struct sl_cloudtest_counters {
    int *checks;
    int *failures;
};
#define SL_CLOUDTEST_COUNTERS ((struct sl_cloudtest_counters){&check_count, &check_failures})

/* How a case's msg is compared with the message. */
enum sl_cloudtest_match {
    SL_CLOUDTEST_MSG_IS,       /* the whole message, or its start when msg ends in "..." */
    SL_CLOUDTEST_MSG_CONTAINS, /* a part of the message */
};

/* One answer a reader is given (a file), and what it must make of it. */
struct sl_cloudtest_case {
    const char *file; /* under the reader's data_dir/folder */
    int rc;
    const char *msg;
};

#define SL_CLOUDTEST_OUTPUTS_MAX 4

/* A reader of answers under test, as sl_cloudtest_read_cases calls it. */
struct sl_cloudtest_reader {
    const char *data_dir, *folder; /* the cases' files are DATA_DIR/FOLDER/FILE */
    /* Reads doc (len bytes) into the outputs ctx holds; returns what the reader returns. */
    int (*read)(void *ctx, const char *doc, size_t len, struct sl_err *err);
    void *ctx;
    /* What a failing read leaves untouched: each filled with a pattern before, checked after. */
    struct {
        void *at;
        size_t size;
    } outputs[SL_CLOUDTEST_OUTPUTS_MAX];
    size_t n_outputs;
    enum sl_cloudtest_match match;
    const char *prefix;         /* every message starts with it (NULL: not checked) */
    size_t msg_max;             /* the longest message (0: not checked) */
    const char *const *secrets; /* none is in a message */
    size_t n_secrets;
};

/* Runs r over each of the n cases: the code, the message, each output untouched, the prefix
 * and length where r asks, no secret. A case that differs is named on stderr. */
void sl_cloudtest_read_cases(struct sl_cloudtest_counters counters,
                             const struct sl_cloudtest_reader *r,
                             const struct sl_cloudtest_case *cases, size_t n);

/* A reader of OAuth token answers (access_token, expires_in) as oci/cloudlogin.c reads them for
 * Entra ID and Google STS. */
typedef int (*sl_cloudtest_oauth_parse_fn)(char **out_token, int64_t *expires_unix,
                                           const char *json, size_t len, int64_t now_unix,
                                           struct sl_err *err);

/* Such a reader under test. */
struct sl_cloudtest_oauth {
    const char *data_dir, *folder; /* the cases' files are DATA_DIR/FOLDER/FILE */
    sl_cloudtest_oauth_parse_fn parse;
    const char *service;    /* its messages start with it and a space */
    const char *error_code; /* an OAuth error it maps to SL_EAUTH */
    int64_t now_unix;
    const char *const *secrets; /* none is in a message */
    size_t n_secrets;
};

/* Runs o's reader over the n cases as sl_cloudtest_read_cases does (whole messages or their
 * starts; the token and its expiry untouched; a message of at most the service, a 64-byte code
 * and a 200-character description), then over the edges every such reader holds: a long
 * description cut at 200 characters; no document; one not NUL-terminated; an access token over
 * 16 KiB; an expiry past the end of time. */
void sl_cloudtest_oauth_cases(struct sl_cloudtest_counters counters,
                              const struct sl_cloudtest_oauth *o,
                              const struct sl_cloudtest_case *cases, size_t n);

/* An answer such a reader takes: its file and the expires_in it holds. */
struct sl_cloudtest_ok {
    const char *file;
    int64_t expires_in;
};

/* Runs o's reader over the n answers it must take: token read, expiry now_unix + expires_in. */
void sl_cloudtest_oauth_successes(struct sl_cloudtest_counters counters,
                                  const struct sl_cloudtest_oauth *o, const char *token,
                                  const struct sl_cloudtest_ok *ok, size_t n);

/* What a login that fails must give. A login table's case type starts with it. */
struct sl_cloudtest_expect {
    const char *name;
    int rc;
    const char *msg; /* a part of the message */
};

/* A login under test, as sl_cloudtest_login_failures calls it. */
struct sl_cloudtest_login {
    /* Logs in with what test_case (a case of the table) sets up, into c (cleared first) and
     * exp; returns what the login returns. It may check what its fakes saw itself. */
    int (*login)(const void *test_case, struct sl_creds *c, int64_t *exp, struct sl_err *err);
    const char *const *secrets; /* none is in a message */
    size_t n_secrets;
    int one_line; /* the message holds no newline */
};

/* Runs l over n cases of cases (stride bytes apart, each starting with its struct
 * sl_cloudtest_expect): the code, the message, no credentials, exp untouched, no secret. */
void sl_cloudtest_login_failures(struct sl_cloudtest_counters counters,
                                 const struct sl_cloudtest_login *l, const void *cases, size_t n,
                                 size_t stride);

/* Serves the file data_dir/file with status through x's on_body, then padding spaces: the answer
 * of a fake service. res is filled (SL_HTTP_ABORTED when on_body refused a part). */
void sl_cloudtest_serve(const struct sl_http_exchange *x, struct sl_http_result *res,
                        const char *data_dir, const char *file, long status, size_t padding);

/* The relay of the fake transports: no relay, a network failure. */
void sl_cloudtest_no_relay(void *ctx, struct sl_transport *put_t, const struct sl_http_relay *r,
                           struct sl_http_result *get_res, struct sl_http_result *put_res);

#endif
