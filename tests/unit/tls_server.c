#include "tls_server.h"

#include "testdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_test_tls_server_new(struct sl_test_tls_server *t, const char *tls_dir,
                           enum sl_test_client_cert mode, struct sl_err *err)
{
    memset(t, 0, sizeof(*t));
    t->ca_pem = sl_test_read_file(NULL, "%s/ca.crt", tls_dir);
    t->client_crt_pem = sl_test_read_file(NULL, "%s/client.crt", tls_dir);
    t->client_key_pem = sl_test_read_file(NULL, "%s/client.key", tls_dir);
    t->server_crt_pem = sl_test_read_file(NULL, "%s/server.crt", tls_dir);
    t->server_key_pem = sl_test_read_file(NULL, "%s/server.key", tls_dir);
    /* the server reads its files itself (sl_http_server_new) */
    char cert[512], key[512], client_ca[512];
    snprintf(cert, sizeof(cert), "%s/server.crt", tls_dir);
    snprintf(key, sizeof(key), "%s/server.key", tls_dir);
    snprintf(client_ca, sizeof(client_ca), "%s/client-ca.crt", tls_dir);
    struct sl_http_server_opts so = {
        .addr = "127.0.0.1:0",
        .tls_cert_file = cert,
        .tls_key_file = key,
        .tls_client_ca_file = mode == SL_TEST_CLIENT_CERT_NONE ? NULL : client_ca,
        .tls_client_cert_required = mode == SL_TEST_CLIENT_CERT_REQUIRED};
    return sl_http_server_new(&t->srv, &so, err);
}

int sl_test_tls_server_start(struct sl_test_tls_server *t, struct sl_err *err)
{
    int rc = sl_http_server_start(t->srv, err);
    if (rc == 0)
        snprintf(t->url, sizeof(t->url), "https://%s", sl_http_server_addr(t->srv));
    return rc;
}

void sl_test_tls_server_free(struct sl_test_tls_server *t)
{
    if (t->srv) {
        sl_http_server_stop(t->srv);
        sl_http_server_free(t->srv);
    }
    free(t->ca_pem);
    free(t->client_crt_pem);
    free(t->client_key_pem);
    free(t->server_crt_pem);
    free(t->server_key_pem);
    memset(t, 0, sizeof(*t));
}
