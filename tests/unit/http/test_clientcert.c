/* Unit tests of the TLS client certificate checks (controller/http/clientcert.c). argv[1] is
 * tests/data: tls/ holds a certificate and its key, keys/ other keys. */
#include "check.h"
#include "testdata.h"
#include "http/clientcert.h"

#include <stdlib.h>
#include <string.h>

static const char *data_dir = "tests/data";

static void test_matching_pair(void)
{
    char *crt = sl_test_read_file(NULL, "%s/tls/server.crt", data_dir);
    char *key = sl_test_read_file(NULL, "%s/tls/server.key", data_dir);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_clientcert_check(crt, key, "tls.crt", "tls.key", &err), 0);
    /* a certificate followed by its chain is still the certificate */
    char *ca = sl_test_read_file(NULL, "%s/tls/ca.crt", data_dir);
    size_t n = strlen(crt) + strlen(ca) + 1;
    char *chain = malloc(n);
    snprintf(chain, n, "%s%s", crt, ca);
    CHECK_INT_EQ(sl_clientcert_check(chain, key, "tls.crt", "tls.key", &err), 0);
    free(chain);
    free(ca);
    free(crt);
    free(key);
}

static void test_problems_named(void)
{
    char *crt = sl_test_read_file(NULL, "%s/tls/server.crt", data_dir);
    char *key = sl_test_read_file(NULL, "%s/tls/server.key", data_dir);
    char *other = sl_test_read_file(NULL, "%s/keys/ecdsa-p256.key", data_dir);
    char *enc = sl_test_read_file(NULL, "%s/keys/ecdsa-p256-encrypted-pkcs8.key", data_dir);
    struct sl_err err = {0};

    /* a key of another certificate */
    CHECK_INT_EQ(sl_clientcert_check(crt, other, "tls.crt", "tls.key", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "tls.key is not the private key of the certificate in tls.crt");
    CHECK(strstr(err.msg, "PRIVATE") == NULL);

    /* the two swapped, or not PEM */
    CHECK_INT_EQ(sl_clientcert_check(key, crt, "tls.crt", "tls.key", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "tls.crt is not a PEM certificate");
    CHECK_INT_EQ(sl_clientcert_check(crt, "not a key", "tls.crt", "tls.key", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "tls.key is not an unencrypted PEM private key");
    CHECK(strstr(err.msg, "not a key") == NULL);

    /* an encrypted key is refused, never a password asked for */
    CHECK_INT_EQ(sl_clientcert_check(crt, enc, "tls.crt", "tls.key", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "tls.key is not an unencrypted PEM private key");

    /* empty or absent */
    CHECK_INT_EQ(sl_clientcert_check("", key, "a.crt", "a.key", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "a.crt is empty");
    CHECK_INT_EQ(sl_clientcert_check(crt, NULL, "a.crt", "a.key", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "a.key is empty");

    /* larger than the cap */
    size_t big_len = SL_CLIENTCERT_PEM_MAX + 2;
    char *big = malloc(big_len);
    memset(big, 'A', big_len - 1);
    big[big_len - 1] = '\0';
    CHECK_INT_EQ(sl_clientcert_check(big, key, "tls.crt", "tls.key", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "larger than");
    free(big);
    free(enc);
    free(other);
    free(crt);
    free(key);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_matching_pair);
    RUN(test_problems_named);
    return CHECK_EXIT();
}
