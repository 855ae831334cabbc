/* Ready-made route handlers for the controller's HTTP server. */
#ifndef SL_HTTP_HANDLERS_H
#define SL_HTTP_HANDLERS_H

#include "http/server.h"

/* GET /metrics: sl_metrics_render() as "text/plain; version=0.0.4; charset=utf-8". ctx unused.
 * Register with sl_http_server_route(s, "GET", "/metrics", sl_http_handle_metrics, NULL). */
void sl_http_handle_metrics(void *ctx, const struct sl_http_request *req,
                            struct sl_http_response *resp);

/* Answers 200 "ok\n" (liveness). ctx unused. */
void sl_http_handle_ok(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp);

#endif
