#include "check.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/timeutil.h"

#include <stdint.h>
#include <stdlib.h>

static void test_duration(void)
{
    int64_t ms = -1;
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "10m"), 0);
    CHECK_INT_EQ(ms, 600000);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "1h30m"), 0);
    CHECK_INT_EQ(ms, 5400000);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "500ms"), 0);
    CHECK_INT_EQ(ms, 500);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "1.5s"), 0);
    CHECK_INT_EQ(ms, 1500);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "0"), 0);
    CHECK_INT_EQ(ms, 0);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "10"), SL_EINVAL);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "m"), SL_EINVAL);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, ""), SL_EINVAL);
    CHECK_INT_EQ(sl_duration_parse_ms(&ms, "5d"), SL_EINVAL);
}

static void test_rfc3339(void)
{
    time_t t;
    CHECK_INT_EQ(sl_time_parse_rfc3339(&t, "2027-01-01"), 0);
    CHECK_INT_EQ((long long)t, 1798761600LL);
    CHECK_INT_EQ(sl_time_parse_rfc3339(&t, "2027-01-01T00:00:00Z"), 0);
    CHECK_INT_EQ((long long)t, 1798761600LL);
    CHECK_INT_EQ(sl_time_parse_rfc3339(&t, "2027-01-01T01:00:00.25+01:00"), 0);
    CHECK_INT_EQ((long long)t, 1798761600LL);
    CHECK_INT_EQ(sl_time_parse_rfc3339(&t, "2027-13-01"), SL_EINVAL);
    CHECK_INT_EQ(sl_time_parse_rfc3339(&t, "yesterday"), SL_EINVAL);
    char out[32];
    sl_time_format_rfc3339(out, sizeof(out), 1798761600);
    CHECK_STR_EQ(out, "2027-01-01T00:00:00Z");
}

static void test_buf_cap(void)
{
    struct sl_buf b;
    sl_buf_init(&b, 8);
    CHECK_INT_EQ(sl_buf_append_str(&b, "abcd"), 0);
    CHECK_INT_EQ(sl_buf_append_str(&b, "efgh"), 0);
    CHECK_INT_EQ(sl_buf_append_str(&b, "i"), SL_ETOOBIG);
    CHECK_STR_EQ(sl_buf_cstr(&b), "abcdefgh");
    sl_buf_free(&b);
}

static void test_err_one_line(void)
{
    struct sl_err err;
    sl_err_clear(&err);
    CHECK_INT_EQ(sl_err_set(&err, SL_EINVAL, SL_ERRC_INPUT, "bad\nvalue %d", 3), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "bad value 3");
    sl_err_prefix(&err, "spec.%s", "interval");
    CHECK_STR_EQ(err.msg, "spec.interval: bad value 3");
}

/* A wiping buffer (API answers holding Secrets) leaves no copy behind when reset or grown. */
static void test_buf_wipe(void)
{
    struct sl_buf b;
    sl_buf_init(&b, 0);
    b.wipe = true;
    CHECK_INT_EQ(sl_buf_append_str(&b, "password=hunter2"), 0);
    char *first = b.data;
    size_t n = b.len;
    sl_buf_reset(&b);
    CHECK(b.data == first); /* the same block, now wiped */
    for (size_t i = 0; i < n; i++)
        CHECK(first[i] == '\0');
    CHECK_INT_EQ(sl_buf_append_str(&b, "token=s3cret"), 0);
    CHECK_STR_EQ(sl_buf_cstr(&b), "token=s3cret");
    /* growing past the first block keeps the content */
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT_EQ(sl_buf_append_str(&b, big), 0);
    CHECK_INT_EQ(strncmp(sl_buf_cstr(&b), "token=s3cretxxx", 15), 0);
    CHECK_INT_EQ(b.len, 12 + sizeof(big) - 1);
    sl_buf_free(&b);
}

int main(void)
{
    RUN(test_duration);
    RUN(test_rfc3339);
    RUN(test_buf_cap);
    RUN(test_buf_wipe);
    RUN(test_err_one_line);
    return CHECK_EXIT();
}
