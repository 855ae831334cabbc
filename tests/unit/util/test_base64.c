#include "check.h"
#include "util/base64.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

/* RFC 4648 section 10 test vectors */
static const char *const VECTORS[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/* Decodes text with flags; returns the decoded string or NULL when refused. */
static char *dec(const char *text, unsigned flags)
{
    unsigned char *out = (unsigned char *)"untouched";
    size_t n = 12345;
    int rc = sl_base64_decode_opts(&out, &n, text, strlen(text), flags);
    if (rc != 0) {
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_STR_EQ((const char *)out, "untouched");
        return NULL;
    }
    CHECK_INT_EQ(strlen((const char *)out), n);
    return (char *)out;
}

static void check_dec(const char *text, unsigned flags, const char *want)
{
    char *got = dec(text, flags);
    if (want)
        CHECK_STR_EQ(got, want);
    else if (got)
        fprintf(stderr, "\"%s\" (flags %u) decoded to \"%s\", expected refusal\n", text, flags,
                got);
    CHECK((got == NULL) == (want == NULL));
    free(got);
}

static void test_rfc4648_vectors(void)
{
    for (size_t i = 0; i < sizeof(VECTORS) / sizeof(VECTORS[0]); i++) {
        char *enc = sl_base64_encode(VECTORS[i][0], strlen(VECTORS[i][0]));
        CHECK_STR_EQ(enc, VECTORS[i][1]);
        free(enc);
        check_dec(VECTORS[i][1], 0, VECTORS[i][0]);
        check_dec(VECTORS[i][1], SL_BASE64_SPACE | SL_BASE64_URLSAFE | SL_BASE64_NOPAD,
                  VECTORS[i][0]);
    }
}

static void test_binary_round_trip(void)
{
    unsigned char all[256];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(all); len += 37) {
        char *enc = sl_base64_encode(all, len);
        CHECK_INT_EQ(strlen(enc), 4 * ((len + 2) / 3));
        unsigned char *out = NULL;
        size_t n = 0;
        CHECK_INT_EQ(sl_base64_decode(&out, &n, enc, strlen(enc)), 0);
        CHECK_INT_EQ(n, len);
        CHECK(out && memcmp(out, all, len) == 0 && out[n] == '\0');
        free(out);
        free(enc);
    }
    /* bytes that use '+' and '/' in the standard alphabet */
    char *enc = sl_base64_encode("\xfb\xff\xbf", 3);
    CHECK_STR_EQ(enc, "+/+/");
    free(enc);
}

static void test_strict_refuses_bad_input(void)
{
    check_dec("Zm9", 0, NULL);      /* not a multiple of 4 */
    check_dec("Zg", 0, NULL);       /* missing padding */
    check_dec("Zg=", 0, NULL);      /* short padding */
    check_dec("Z===", 0, NULL);     /* a lone digit cannot be padded */
    check_dec("Zm9v====", 0, NULL); /* padding with no partial group */
    check_dec("====", 0, NULL);
    check_dec("Zg==Zg==", 0, NULL); /* data after padding */
    check_dec("Z=g=", 0, NULL);     /* '=' inside a group */
    check_dec("Zm9v\n", 0, NULL);   /* whitespace is not allowed in strict mode */
    check_dec("Zm 9v", 0, NULL);
    check_dec("Zm9-", 0, NULL); /* URL-safe alphabet is not standard */
    check_dec("Zm9_", 0, NULL);
    check_dec("Zm9v*A==", 0, NULL); /* not in any alphabet */
    check_dec("Zm\x80v", 0, NULL);
    /* an embedded NUL inside len is a bad character, not the end */
    unsigned char *out = NULL;
    size_t n = 0;
    CHECK_INT_EQ(sl_base64_decode(&out, &n, "Zm9v\0AAA", 8), SL_EINVAL);
    /* len bounds the text: "Zm9vYg==" cut to its first 4 characters */
    CHECK_INT_EQ(sl_base64_decode(&out, &n, "Zm9vYg==", 4), 0);
    CHECK_STR_EQ((const char *)out, "foo");
    free(out);
}

static void test_space_option(void)
{
    check_dec("Zm9v\nYmFy\n", SL_BASE64_SPACE, "foobar");
    check_dec(" Zm9v\r\n\tYg==\n", SL_BASE64_SPACE, "foob");
    check_dec("Zm9vYg=\n=", SL_BASE64_SPACE, "foob");
    check_dec("Zm9vYg\n", SL_BASE64_SPACE, NULL); /* padding still required */
    check_dec("Zm9v-A==", SL_BASE64_SPACE, NULL);
}

static void test_lenient_options(void)
{
    unsigned all = SL_BASE64_SPACE | SL_BASE64_URLSAFE | SL_BASE64_NOPAD;
    check_dec("Zm9vYg", SL_BASE64_NOPAD, "foob");
    check_dec("Zm9vYmE", SL_BASE64_NOPAD, "fooba");
    check_dec("Zm9vYg=====", SL_BASE64_NOPAD, "foob");
    check_dec("Zg==Zg", SL_BASE64_NOPAD, NULL); /* data after padding */
    check_dec("-_-_", SL_BASE64_URLSAFE, "\xfb\xff\xbf");
    check_dec("+/-_", SL_BASE64_URLSAFE, "\xfb\xff\xbf");
    check_dec("Zm9v Yg\n", all, "foob");
    check_dec("Zm9v Yg\n", SL_BASE64_URLSAFE | SL_BASE64_NOPAD, NULL);
    check_dec("Zm9v.", all, NULL);
}

int main(void)
{
    RUN(test_rfc4648_vectors);
    RUN(test_binary_round_trip);
    RUN(test_strict_refuses_bad_input);
    RUN(test_space_option);
    RUN(test_lenient_options);
    return CHECK_EXIT();
}
