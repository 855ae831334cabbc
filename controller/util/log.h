/* Structured JSON logs, one object per line on stderr:
 *   {"ts":"2026-...Z","level":"info","msg":"...","kind":"SigningKey","namespace":"ns",
 *    "name":"x","reconcileID":"..."}
 * Safe to call from any thread. Never pass secret material. */
#ifndef SL_UTIL_LOG_H
#define SL_UTIL_LOG_H

enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO = 1, SL_LOG_WARN = 2, SL_LOG_ERROR = 3 };

/* Optional object context of a log line; any field may be NULL. */
struct sl_log_ctx {
    const char *kind;
    const char *ns;
    const char *name;
    const char *reconcile_id;
};

void sl_log_set_level(enum sl_log_level level);
/* Parses "debug"/"info"/"warn"/"error"; returns 0 or SL_EINVAL. */
int sl_log_parse_level(enum sl_log_level *out, const char *s);

/* Logs msg (printf format) with the context fields. ctx may be NULL. */
void sl_log(enum sl_log_level level, const struct sl_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like sl_log, plus extra string fields given as key, value pairs ending with NULL. */
void sl_log_kv(enum sl_log_level level, const struct sl_log_ctx *ctx, const char *msg, ...);

#define sl_log_debug(ctx, ...) sl_log(SL_LOG_DEBUG, ctx, __VA_ARGS__)
#define sl_log_info(ctx, ...)  sl_log(SL_LOG_INFO, ctx, __VA_ARGS__)
#define sl_log_warn(ctx, ...)  sl_log(SL_LOG_WARN, ctx, __VA_ARGS__)
#define sl_log_error(ctx, ...) sl_log(SL_LOG_ERROR, ctx, __VA_ARGS__)

#endif
