#include "util/log.h"
#include "util/err.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum sl_log_level min_level = SL_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(enum sl_log_level l)
{
    switch (l) {
    case SL_LOG_DEBUG:
        return "debug";
    case SL_LOG_INFO:
        return "info";
    case SL_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

void sl_log_set_level(enum sl_log_level level)
{
    min_level = level;
}

int sl_log_parse_level(enum sl_log_level *out, const char *s)
{
    static const enum sl_log_level levels[] = {SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN,
                                               SL_LOG_ERROR};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (s && strcmp(s, level_name(levels[i])) == 0) {
            *out = levels[i];
            return 0;
        }
    }
    return SL_EINVAL;
}

static void emit(enum sl_log_level level, const struct sl_log_ctx *ctx, const char *msg,
                 va_list *kv)
{
    char ts[40];
    sl_time_now_rfc3339_ms(ts, sizeof(ts));
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_name(level)));
    json_object_set_new(o, "msg", json_string(msg ? msg : ""));
    if (ctx) {
        if (ctx->kind)
            json_object_set_new(o, "kind", json_string(ctx->kind));
        if (ctx->ns && *ctx->ns)
            json_object_set_new(o, "namespace", json_string(ctx->ns));
        if (ctx->name)
            json_object_set_new(o, "name", json_string(ctx->name));
        if (ctx->reconcile_id)
            json_object_set_new(o, "reconcileID", json_string(ctx->reconcile_id));
    }
    if (kv) {
        const char *k;
        while ((k = va_arg(*kv, const char *)) != NULL) {
            const char *v = va_arg(*kv, const char *);
            json_object_set_new(o, k, v ? json_string(v) : json_null());
        }
    }
    /* json_string rejects invalid UTF-8; fall back to a marker rather than dropping the line */
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    pthread_mutex_lock(&log_lock);
    if (line)
        fprintf(stderr, "%s\n", line);
    else
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(unencodable log line)\"}\n", ts,
                level_name(level));
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(line);
}

void sl_log(enum sl_log_level level, const struct sl_log_ctx *ctx, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, ctx, msg, NULL);
}

void sl_log_kv(enum sl_log_level level, const struct sl_log_ctx *ctx, const char *msg, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, msg);
    emit(level, ctx, msg, &ap);
    va_end(ap);
}
