#include "http/handlers.h"

void sl_http_handle_metrics(void *ctx, const struct sl_http_request *req,
                            struct sl_http_response *resp)
{
    const struct sl_http_metrics_source *source = ctx;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    source->render(source->ctx, &resp->body);
}

void sl_http_handle_ok(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    sl_buf_append_str(&resp->body, "ok\n");
}
