/* libFuzzer harness for our part of HTTP request handling (controller/http/routes.c): the input
 * is "METHOD raw-path"; the path is percent-decoded and checked, then routed against a table
 * like the controller's. Invariants are asserted with abort(). libevent parses the request line
 * and headers before this; its own parser is not ours to fuzz. */
#include "http/routes.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void handler(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_http_routes routes;
    static int ready;
    if (!ready) {
        sl_http_routes_init(&routes);
        sl_http_routes_add(&routes, "GET", "/metrics", handler, NULL);
        sl_http_routes_add(&routes, "GET", "/healthz", handler, NULL);
        sl_http_routes_add(&routes, "POST", "/validate/*", handler, NULL);
        sl_http_routes_add(&routes, "POST", "/hooks/gitsource/*", handler, NULL);
        sl_http_routes_add(&routes, NULL, "/debug/*", handler, NULL);
        ready = 1;
    }
    if (size > 65536)
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *sp = strchr(in, ' ');
    const char *method = "GET", *raw = in;
    if (sp) {
        *sp = '\0';
        method = in;
        raw = sp + 1;
    }
    size_t raw_len = strlen(raw), len = 0;
    char *path = malloc(raw_len + 2);
    if (!path) {
        free(in);
        return 0;
    }
    int rc = sl_http_path_decode(path, raw_len + 2, &len, raw);
    if (rc == 0) {
        if (path[0] != '/' || strlen(path) != len || (raw_len && len > raw_len))
            abort();
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
                abort();
        }
        if (strstr(path, "/../") || strstr(path, "/./"))
            abort();
        const struct sl_http_route *rt = NULL;
        int found = sl_http_routes_find(&rt, &routes, method, path);
        if (found == 0 && (!rt || !rt->fn))
            abort();
        if (found != 0 && found != SL_ENOTFOUND && found != SL_EUNSUPPORTED)
            abort();
        char allow[64];
        size_t n = sl_http_routes_allow(allow, sizeof(allow), &routes, path);
        if (found == SL_EUNSUPPORTED && n == 0)
            abort();
    } else if (rc != SL_EINVAL) {
        abort();
    }
    free(path);
    free(in);
    return 0;
}
