#include "check.h"
#include "fake_kube.h"
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

/* The one Secret read of the reconcilers: the value, or the messages their conditions show. */
static void test_get(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    sl_fake_kube_ops(fk, &ops);
    json_t *s = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "namespace", "team", "name",
                          "creds", "data", "token", "czNjcjN0");
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_SECRET, s), 0);
    json_decref(s);
    struct sl_err err = {0};
    json_t *got = NULL;
    CHECK_INT_EQ(sl_kube_secret_get(&got, &ops, "team", "creds", "spec.credentials", &err), 0);
    char *v = sl_kube_secret_string(got, "token");
    CHECK_STR_EQ(v, "s3cr3t");
    sl_secure_free_str(v);
    sl_kube_secret_decref(got);
    got = NULL;
    CHECK_INT_EQ(sl_kube_secret_get(&got, &ops, "other", "creds", "spec.credentials", &err),
                 SL_ENOTFOUND);
    CHECK_STR_EQ(err.msg, "spec.credentials: Secret \"creds\" not found");
    CHECK(got == NULL);
    sl_fake_kube_fail_next_verb(fk, "get", SL_ERETRY);
    CHECK_INT_EQ(sl_kube_secret_get(&got, &ops, "team", "creds", "spec.credentials", &err),
                 SL_ERETRY);
    CHECK_CONTAINS(err.msg, "spec.credentials: reading Secret \"creds\": ");
    CHECK_CONTAINS(err.msg, "injected failure");
    sl_fake_kube_free(fk);
}

/* A certSecretRef Secret's TLS values: what is there is returned; a value that is not base64
 * or holds a NUL is named with its key; the pair and PEM checks are http/clientcert's (their
 * messages are tested with the ImageDelivery reconciler). */
static void test_tls_values(void)
{
    struct sl_kube_tls_secret t;
    struct sl_err err = {0};
    /* "x" and "a\0b" in base64 */
    json_t *s = json_pack("{s:{s:s}}", "data", "ca.crt", "eA==");
    CHECK_INT_EQ(sl_kube_secret_tls(&t, s, "ca", &err), 0);
    CHECK_STR_EQ(t.ca_pem, "x");
    CHECK(t.cert_pem == NULL && t.key_pem == NULL);
    sl_kube_tls_secret_clear(&t);
    CHECK(t.ca_pem == NULL);
    json_decref(s);

    s = json_pack("{s:{s:s}}", "data", "ca.crt", "YQBi");
    CHECK_INT_EQ(sl_kube_secret_tls(&t, s, "ca", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "Secret \"ca\" key ca.crt: empty or not text");
    CHECK(t.ca_pem == NULL);
    json_decref(s);

    s = json_pack("{s:{s:s, s:s}}", "data", "tls.crt", "eA==", "tls.key", "!!");
    CHECK_INT_EQ(sl_kube_secret_tls(&t, s, "pair", &err), SL_EINVAL);
    CHECK_STR_EQ(err.msg, "Secret \"pair\" key tls.key: invalid base64");
    CHECK(t.cert_pem == NULL && t.key_pem == NULL);
    json_decref(s);

    s = json_pack("{s:{s:s}}", "data", "other", "eA==");
    CHECK_INT_EQ(sl_kube_secret_tls(&t, s, "none", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "Secret \"none\" has no key ca.crt");
    json_decref(s);
    sl_kube_tls_secret_clear(NULL);
}

int main(void)
{
    RUN(test_secret_values);
    RUN(test_decref_keeps_shared_values);
    RUN(test_decoding_policy);
    RUN(test_get);
    RUN(test_tls_values);
    return CHECK_EXIT();
}
