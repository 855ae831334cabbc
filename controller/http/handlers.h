/* Ready-made route handlers for the controller's HTTP server. */
#ifndef SL_HTTP_HANDLERS_H
#define SL_HTTP_HANDLERS_H

#include "http/server.h"
#include "util/buf.h"

/* Where GET /metrics gets its text: render appends the Prometheus text exposition to out. The
 * HTTP layer knows no metrics of its own; the runtime passes sl_metrics_render. */
struct sl_http_metrics_source {
    void (*render)(void *ctx, struct sl_buf *out);
    void *ctx;
};

/* GET /metrics: ctx is a const struct sl_http_metrics_source * (borrowed for the life of the
 * route); answers its text as "text/plain; version=0.0.4; charset=utf-8". Register with
 * sl_http_server_route(s, "GET", "/metrics", sl_http_handle_metrics, &source). */
void sl_http_handle_metrics(void *ctx, const struct sl_http_request *req,
                            struct sl_http_response *resp);

/* Answers 200 "ok\n" (liveness). ctx unused. */
void sl_http_handle_ok(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp);

#endif
