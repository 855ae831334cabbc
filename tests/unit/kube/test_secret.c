#include "check.h"
#include "kube/secret.h"
#include "util/err.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static void test_secret_values(void)
{
    json_t *s =
        json_pack("{s:{s:s, s:s, s:s, s:i, s:s}, s:{s:s}}", "data", "token", "czNjcjN0", "empty",
                  "", "bad", "czNjcjN0=", "number", 7, "nul", "YQBi", "stringData", "plain", "x");
    char *v = sl_kube_secret_string(s, "token");
    CHECK_STR_EQ(v, "s3cr3t");
    sl_secure_free_str(v);
    v = sl_kube_secret_string(s, "empty");
    CHECK_STR_EQ(v, "");
    sl_secure_free_str(v);
    CHECK(sl_kube_secret_string(s, "bad") == NULL);
    CHECK(sl_kube_secret_string(s, "number") == NULL);
    CHECK(sl_kube_secret_string(s, "missing") == NULL);
    CHECK(sl_kube_secret_string(s, "plain") == NULL); /* stringData is not read */
    CHECK(sl_kube_secret_string(NULL, "token") == NULL);
    v = sl_kube_secret_string(s, "nul");
    CHECK_STR_EQ(v, "a");
    sl_secure_free_str(v);

    unsigned char *b = NULL;
    size_t n = 0;
    CHECK_INT_EQ(sl_kube_secret_bytes(&b, &n, s, "nul"), 0);
    CHECK_INT_EQ(n, 3);
    CHECK(b && memcmp(b, "a\0b", 4) == 0);
    sl_secure_free(b, n + 1);
    CHECK_INT_EQ(sl_kube_secret_bytes(&b, &n, s, "missing"), SL_ENOTFOUND);
    CHECK_INT_EQ(sl_kube_secret_bytes(&b, &n, s, "number"), SL_ENOTFOUND);
    CHECK_INT_EQ(sl_kube_secret_bytes(&b, &n, s, "bad"), SL_EINVAL);
    json_decref(s);
}

static void test_decref_keeps_shared_values(void)
{
    json_t *s = json_pack("{s:{s:s}}", "data", "token", "czNjcjN0");
    json_incref(s);
    sl_kube_secret_decref(s); /* another reference is left: nothing is wiped */
    char *v = sl_kube_secret_string(s, "token");
    CHECK_STR_EQ(v, "s3cr3t");
    sl_secure_free_str(v);
    sl_kube_secret_decref(s); /* the last one: wiped and freed (ASan checks the free) */
    sl_kube_secret_decref(NULL);
}

/* The one decoding policy (kube/secret.h): data only, standard padded base64, whitespace and
 * line breaks skipped; the same function the reconcilers decode their Secret values with. */
static void test_decoding_policy(void)
{
    json_t *s = json_pack("{s:{s:s, s:s, s:s}, s:{s:s}}", "data", "wrapped", "czNj\ncjN0\n",
                          "spaced", " czNj cjN0 ", "urlsafe", "-_-_", "stringData", "only", "x");
    char *v = sl_kube_secret_string(s, "wrapped");
    CHECK_STR_EQ(v, "s3cr3t");
    sl_secure_free_str(v);
    v = sl_kube_secret_string(s, "spaced");
    CHECK_STR_EQ(v, "s3cr3t");
    sl_secure_free_str(v);
    CHECK(sl_kube_secret_string(s, "urlsafe") == NULL); /* the standard alphabet only */
    CHECK(sl_kube_secret_string(s, "only") == NULL);    /* stringData is never read */
    unsigned char *b = NULL;
    size_t n = 0;
    CHECK_INT_EQ(sl_kube_secret_decode(&b, &n, "YQ\r\nBi", 6), 0);
    CHECK_INT_EQ(n, 3);
    sl_secure_free(b, n + 1);
    CHECK_INT_EQ(sl_kube_secret_decode(&b, &n, "YQBi=", 5), SL_EINVAL);
    json_decref(s);
}

int main(void)
{
    RUN(test_secret_values);
    RUN(test_decref_keeps_shared_values);
    RUN(test_decoding_policy);
    return CHECK_EXIT();
}
