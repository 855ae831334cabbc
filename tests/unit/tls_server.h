/* A loopback HTTPS server for the unit tests of TLS clients (http/transport, the Harbor adapter
 * client, the ScanPolicy reconciler's adapter check), with the certificates of tests/data/tls
 * (README.md there): server.crt, issued by ca.crt for 127.0.0.1, and, when asked for, client
 * certificates of client-ca.crt. Holds the PEM texts a client of it is given. */
#ifndef SL_TEST_TLS_SERVER_H
#define SL_TEST_TLS_SERVER_H

#include "http/server.h"
#include "util/err.h"

/* What the server asks of its clients. */
enum sl_test_client_cert {
    SL_TEST_CLIENT_CERT_NONE,     /* none is asked for */
    SL_TEST_CLIENT_CERT_ASKED,    /* one of client-ca.crt is asked for; a client without one
                                   * gets 403 from every route */
    SL_TEST_CLIENT_CERT_REQUIRED, /* the handshake fails without one */
};

struct sl_test_tls_server {
    struct sl_http_server *srv; /* add routes between _new and _start */
    char url[160];              /* "https://127.0.0.1:PORT", once started */
    char *ca_pem;               /* ca.crt: the CA that issued server.crt */
    char *client_crt_pem;       /* client.crt and client.key: a client certificate of */
    char *client_key_pem;       /* client-ca.crt */
    char *server_crt_pem;       /* server.crt and server.key: a pair client-ca.crt did not */
    char *server_key_pem;       /* issue, presented as a client certificate to be refused */
};

/* Fills t: reads the PEM files of tls_dir (tests/data/tls; an unreadable one ends the test
 * program, see testdata.h) and makes t->srv on 127.0.0.1 at a free port with server.crt, asking
 * client certificates as mode says. Returns 0, or the error of sl_http_server_new (t is then
 * still freed with sl_test_tls_server_free). */
int sl_test_tls_server_new(struct sl_test_tls_server *t, const char *tls_dir,
                           enum sl_test_client_cert mode, struct sl_err *err);

/* Starts t->srv and sets t->url. Returns 0 or the error of sl_http_server_start. */
int sl_test_tls_server_start(struct sl_test_tls_server *t, struct sl_err *err);

/* Stops and frees the server and the PEM texts; t is zeroed. */
void sl_test_tls_server_free(struct sl_test_tls_server *t);

#endif
