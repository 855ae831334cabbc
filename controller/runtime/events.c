#include "runtime/events.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* core/v1 events; kept local so this module does not depend on the client's tables */
static const struct sl_kube_resource event_resource = {
    .group = "", .version = "v1", .plural = "events", .kind = "Event", .namespaced = true};

struct recent_event {
    char *key;  /* identity of the event: object, type, reason, message */
    char *name; /* the Event object's name */
    char *ns;
    long count;
    int64_t last_ms;
};

struct sl_event_recorder {
    const struct sl_kube_ops *kube;
    int64_t (*now_ms)(void *);
    void *clock_ctx;
    char host[128];
    pthread_mutex_t lock;
    /* most recent first */
    struct recent_event lru[SL_EVENT_LRU_SIZE];
    size_t lru_len;
};

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sl_event_recorder *sl_event_recorder_new(const struct sl_kube_ops *kube,
                                                int64_t (*now_ms)(void *clock_ctx), void *clock_ctx)
{
    struct sl_event_recorder *rec = sl_xcalloc(1, sizeof(*rec));
    rec->kube = kube;
    rec->now_ms = now_ms ? now_ms : wall_ms;
    rec->clock_ctx = clock_ctx;
    if (gethostname(rec->host, sizeof(rec->host) - 1) != 0)
        snprintf(rec->host, sizeof(rec->host), "unknown");
    pthread_mutex_init(&rec->lock, NULL);
    return rec;
}

static void recent_free(struct recent_event *e)
{
    free(e->key);
    free(e->name);
    free(e->ns);
    memset(e, 0, sizeof(*e));
}

void sl_event_recorder_free(struct sl_event_recorder *rec)
{
    if (!rec)
        return;
    for (size_t i = 0; i < rec->lru_len; i++)
        recent_free(&rec->lru[i]);
    pthread_mutex_destroy(&rec->lock);
    free(rec);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

/* A copy of s cut to at most max bytes without splitting a character, with bytes that are not
 * UTF-8 replaced by '?' (the API server only takes valid UTF-8). */
static char *cap_message(const char *s, size_t max)
{
    size_t n = strlen(s), o = 0;
    char *out = sl_xmalloc((n < max ? n : max) + 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = utf8_seq_len(p);
        if (o + (len ? len : 1) > max)
            break;
        if (len == 0) {
            out[o++] = '?';
            p++;
            continue;
        }
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    out[o] = '\0';
    return out;
}

static const char *meta_str(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), k));
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[16];
    if (nbytes > sizeof(b))
        nbytes = sizeof(b);
    if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
        /* no entropy available: the time still makes names unique enough for events */
        uint64_t t = (uint64_t)wall_ms(NULL) ^ (uint64_t)clock();
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(t >> ((i % 8) * 8));
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Finds key in the LRU and moves it to the front; returns its index (0) or -1. */
static int lru_find(struct sl_event_recorder *rec, const char *key)
{
    for (size_t i = 0; i < rec->lru_len; i++) {
        if (strcmp(rec->lru[i].key, key) == 0) {
            struct recent_event e = rec->lru[i];
            memmove(&rec->lru[1], &rec->lru[0], i * sizeof(rec->lru[0]));
            rec->lru[0] = e;
            return 0;
        }
    }
    return -1;
}

static void lru_insert(struct sl_event_recorder *rec, struct recent_event e)
{
    if (rec->lru_len == SL_EVENT_LRU_SIZE) {
        recent_free(&rec->lru[SL_EVENT_LRU_SIZE - 1]);
        rec->lru_len--;
    }
    memmove(&rec->lru[1], &rec->lru[0], rec->lru_len * sizeof(rec->lru[0]));
    rec->lru[0] = e;
    rec->lru_len++;
}

static void lru_drop(struct sl_event_recorder *rec, const char *key)
{
    for (size_t i = 0; i < rec->lru_len; i++) {
        if (strcmp(rec->lru[i].key, key) == 0) {
            recent_free(&rec->lru[i]);
            memmove(&rec->lru[i], &rec->lru[i + 1], (rec->lru_len - i - 1) * sizeof(rec->lru[0]));
            rec->lru_len--;
            return;
        }
    }
}

static json_t *involved_object(const json_t *obj)
{
    json_t *io = json_object();
    const char *fields[][2] = {{"apiVersion", NULL}, {"kind", NULL}};
    for (size_t i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(obj, fields[i][0]));
        if (v)
            json_object_set_new(io, fields[i][0], json_string(v));
    }
    const char *meta[] = {"name", "namespace", "uid", "resourceVersion"};
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        const char *v = meta_str(obj, meta[i]);
        if (v)
            json_object_set_new(io, meta[i], json_string(v));
    }
    return io;
}

int sl_event_record(struct sl_event_recorder *rec, const json_t *obj, const char *type,
                    const char *reason, const char *message, struct sl_err *err)
{
    int rc = 0;
    char *msg = NULL, *reason_c = NULL, *key = NULL, *patch = NULL, *ev_name = NULL;
    json_t *body = NULL, *created = NULL;
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name = meta_str(obj, "name");
    const char *obj_ns = meta_str(obj, "namespace");
    const char *uid = meta_str(obj, "uid");
    if (!json_is_object(obj) || !kind || !name) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "event: object has no kind or name");
        goto done;
    }
    if (!type || (strcmp(type, "Normal") != 0 && strcmp(type, "Warning") != 0)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "event: type must be Normal or Warning");
        goto done;
    }
    reason_c = cap_message(reason && *reason ? reason : "Unknown", 128);
    reason = reason_c;
    msg = cap_message(message ? message : "", SL_EVENT_MESSAGE_MAX);
    const char *ns = obj_ns && *obj_ns ? obj_ns : "default";
    key = sl_xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s", uid ? uid : "", kind, ns, name, type, reason,
                       msg);
    int64_t now = rec->now_ms(rec->clock_ctx);
    char stamp[40];
    sl_time_format_rfc3339(stamp, sizeof(stamp), (time_t)(now / 1000));

    /* an identical recent event: bump its count */
    long count = 0;
    pthread_mutex_lock(&rec->lock);
    if (lru_find(rec, key) == 0 && now - rec->lru[0].last_ms < SL_EVENT_AGGREGATE_MS) {
        count = rec->lru[0].count + 1;
        ev_name = sl_xstrdup(rec->lru[0].name);
    }
    pthread_mutex_unlock(&rec->lock);
    if (ev_name) {
        json_t *p = json_pack("{s:I, s:s}", "count", (json_int_t)count, "lastTimestamp", stamp);
        patch = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        struct sl_kube_patch_opts po = {.type = SL_PATCH_MERGE};
        rc = rec->kube->patch(rec->kube->ctx, NULL, &event_resource, ns, ev_name, patch, &po, err);
        if (rc == 0) {
            pthread_mutex_lock(&rec->lock);
            if (lru_find(rec, key) == 0) {
                rec->lru[0].count = count;
                rec->lru[0].last_ms = now;
            }
            pthread_mutex_unlock(&rec->lock);
            goto done;
        }
        if (rc != SL_ENOTFOUND)
            goto done;
        /* the Event expired (events have a TTL): start a new one */
        pthread_mutex_lock(&rec->lock);
        lru_drop(rec, key);
        pthread_mutex_unlock(&rec->lock);
        free(ev_name);
        ev_name = NULL;
    }

    char suffix[33];
    random_hex(suffix, 8);
    ev_name = sl_xasprintf("%.200s.%s", name, suffix);
    body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i,"
                     " s:s, s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", ev_name, "namespace",
                     ns, "involvedObject", involved_object(obj), "reason", reason, "message", msg,
                     "type", type, "source", "component", SL_EVENT_COMPONENT, "firstTimestamp",
                     stamp, "lastTimestamp", stamp, "count", 1, "reportingComponent",
                     SL_EVENT_COMPONENT, "reportingInstance", rec->host);
    if (!body) {
        /* json_pack fails on invalid UTF-8 in a message or reason */
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "event: reason or message is not UTF-8");
        goto done;
    }
    rc = rec->kube->create(rec->kube->ctx, &created, &event_resource, ns, body, err);
    if (rc != 0)
        goto done;
    struct recent_event e = {
        .key = key, .name = ev_name, .ns = sl_xstrdup(ns), .count = 1, .last_ms = now};
    key = NULL;
    ev_name = NULL;
    pthread_mutex_lock(&rec->lock);
    lru_drop(rec, e.key);
    lru_insert(rec, e);
    pthread_mutex_unlock(&rec->lock);
done:
    json_decref(created);
    json_decref(body);
    free(patch);
    free(ev_name);
    free(key);
    free(msg);
    free(reason_c);
    return rc;
}

void sl_event_record_cb(void *ctx, const json_t *obj, const char *type, const char *reason,
                        const char *message)
{
    struct sl_err err = {0};
    if (sl_event_record(ctx, obj, type, reason, message, &err) != 0) {
        /* not tagged with the object's kind/name: those log fields belong to reconciles */
        sl_log_kv(SL_LOG_DEBUG, NULL, "recording event failed", "reason", reason ? reason : "",
                  "object", meta_str(obj, "name"), "error", err.msg, NULL);
    }
}
