/* A metrics registry rendered in the Prometheus text exposition format 0.0.4.
 *
 * All state sits behind one mutex; every update is a short critical section (a linear lookup in
 * a small sorted array, a few additions), and rendering copies nothing but formats under the
 * lock, reading /proc before taking it. Series are kept sorted by their label values so the
 * output is stable from scrape to scrape. */
#include "runtime/metrics.h"
#include "util/mem.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECONCILE_TOTAL    "sealift_reconcile_total"
#define RECONCILE_DURATION "sealift_reconcile_duration_seconds"
#define QUEUE_DEPTH        "sealift_workqueue_depth"
#define QUEUE_RETRIES      "sealift_workqueue_retries_total"

static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1,     2.5,  5,     10,   30,  60};
#define N_BUCKETS (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

struct reconcile_series {
    char *kind;
    char *result;
    uint64_t count;
    double sum;
    uint64_t buckets[N_BUCKETS]; /* per bucket, not cumulative; summed when rendering */
};

struct kind_value {
    char *kind;
    double value;
};

struct generic_series {
    char *name;
    char *labels; /* without braces; "" for none */
    double value;
    int is_gauge;
};

struct help_entry {
    char *name;
    char *help;
};

struct registry {
    struct reconcile_series *reconciles;
    size_t n_reconciles;
    struct kind_value *depths;
    size_t n_depths;
    struct kind_value *retries;
    size_t n_retries;
    struct generic_series *generic;
    size_t n_generic;
    struct help_entry *helps;
    size_t n_helps;
};

struct sl_metrics {
    pthread_mutex_t lock;
    struct registry reg;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Grows an array by one slot at index pos (kept sorted by the caller). */
static void *insert_slot(void *arr, size_t *n, size_t elem, size_t pos)
{
    char *a = sl_xrealloc(arr, (*n + 1) * elem);
    memmove(a + (pos + 1) * elem, a + pos * elem, (*n - pos) * elem);
    memset(a + pos * elem, 0, elem);
    (*n)++;
    return a;
}

static struct reconcile_series *reconcile_get(struct sl_metrics *m, const char *kind,
                                              const char *result)
{
    size_t pos = 0;
    for (; pos < m->reg.n_reconciles; pos++) {
        struct reconcile_series *r = &m->reg.reconciles[pos];
        int c = strcmp(r->kind, kind);
        if (c == 0)
            c = strcmp(r->result, result);
        if (c == 0)
            return r;
        if (c > 0)
            break;
    }
    m->reg.reconciles =
        insert_slot(m->reg.reconciles, &m->reg.n_reconciles, sizeof(*m->reg.reconciles), pos);
    m->reg.reconciles[pos].kind = sl_xstrdup(kind);
    m->reg.reconciles[pos].result = sl_xstrdup(result);
    return &m->reg.reconciles[pos];
}

static struct kind_value *kind_get(struct kind_value **arr, size_t *n, const char *kind)
{
    size_t pos = 0;
    for (; pos < *n; pos++) {
        int c = strcmp((*arr)[pos].kind, kind);
        if (c == 0)
            return &(*arr)[pos];
        if (c > 0)
            break;
    }
    *arr = insert_slot(*arr, n, sizeof(**arr), pos);
    (*arr)[pos].kind = sl_xstrdup(kind);
    return &(*arr)[pos];
}

void sl_metrics_reconcile_observe(struct sl_metrics *m, const char *kind, const char *result,
                                  double seconds)
{
    if (!m)
        return;
    if (isnan(seconds) || seconds < 0)
        seconds = 0;
    pthread_mutex_lock(&m->lock);
    struct reconcile_series *r = reconcile_get(m, nz(kind), nz(result));
    r->count++;
    r->sum += seconds;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (seconds <= duration_buckets[i]) {
            r->buckets[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void sl_metrics_queue_depth_set(struct sl_metrics *m, const char *kind, long depth)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    kind_get(&m->reg.depths, &m->reg.n_depths, nz(kind))->value = (double)depth;
    pthread_mutex_unlock(&m->lock);
}

void sl_metrics_queue_retry_inc(struct sl_metrics *m, const char *kind)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    kind_get(&m->reg.retries, &m->reg.n_retries, nz(kind))->value += 1;
    pthread_mutex_unlock(&m->lock);
}

static int valid_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != name && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

/* Strips optional surrounding braces; NULL when the label string cannot be rendered safely. */
static char *normalize_labels(const char *labels)
{
    const char *l = nz(labels);
    size_t len = strlen(l);
    if (len >= 2 && l[0] == '{' && l[len - 1] == '}') {
        l++;
        len -= 2;
    }
    if (memchr(l, '\n', len))
        return NULL;
    return sl_xstrndup(l, len);
}

static void generic_update(struct sl_metrics *m, const char *name, const char *labels, double v,
                           int is_gauge)
{
    if (!valid_name(name) || isnan(v))
        return;
    char *norm = normalize_labels(labels);
    if (!norm)
        return;
    pthread_mutex_lock(&m->lock);
    size_t pos = 0;
    struct generic_series *g = NULL;
    for (; pos < m->reg.n_generic; pos++) {
        int c = strcmp(m->reg.generic[pos].name, name);
        if (c == 0)
            c = strcmp(m->reg.generic[pos].labels, norm);
        if (c == 0) {
            g = &m->reg.generic[pos];
            break;
        }
        if (c > 0)
            break;
    }
    if (!g) {
        /* a name keeps the type it was first used with: its neighbours share the name */
        if ((pos > 0 && strcmp(m->reg.generic[pos - 1].name, name) == 0 &&
             m->reg.generic[pos - 1].is_gauge != is_gauge) ||
            (pos < m->reg.n_generic && strcmp(m->reg.generic[pos].name, name) == 0 &&
             m->reg.generic[pos].is_gauge != is_gauge)) {
            pthread_mutex_unlock(&m->lock);
            free(norm);
            return;
        }
        m->reg.generic =
            insert_slot(m->reg.generic, &m->reg.n_generic, sizeof(*m->reg.generic), pos);
        g = &m->reg.generic[pos];
        g->name = sl_xstrdup(name);
        g->labels = norm;
        g->is_gauge = is_gauge;
        norm = NULL;
    }
    if (g->is_gauge == is_gauge) {
        if (is_gauge)
            g->value = v;
        else
            g->value += v;
    }
    pthread_mutex_unlock(&m->lock);
    free(norm);
}

void sl_metrics_counter_add(struct sl_metrics *m, const char *name, const char *labels, double v)
{
    if (!m)
        return;
    if (v < 0)
        return; /* counters only go up */
    generic_update(m, name, labels, v, 0);
}

void sl_metrics_gauge_set(struct sl_metrics *m, const char *name, const char *labels, double v)
{
    if (!m)
        return;
    generic_update(m, name, labels, v, 1);
}

void sl_metrics_set_help(struct sl_metrics *m, const char *name, const char *help)
{
    if (!m)
        return;
    if (!valid_name(name) || !help)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->reg.n_helps; i++) {
        if (strcmp(m->reg.helps[i].name, name) == 0) {
            free(m->reg.helps[i].help);
            m->reg.helps[i].help = sl_xstrdup(help);
            pthread_mutex_unlock(&m->lock);
            return;
        }
    }
    m->reg.helps =
        insert_slot(m->reg.helps, &m->reg.n_helps, sizeof(*m->reg.helps), m->reg.n_helps);
    m->reg.helps[m->reg.n_helps - 1].name = sl_xstrdup(name);
    m->reg.helps[m->reg.n_helps - 1].help = sl_xstrdup(help);
    pthread_mutex_unlock(&m->lock);
}

static void registry_clear(struct sl_metrics *m)
{
    for (size_t i = 0; i < m->reg.n_reconciles; i++) {
        free(m->reg.reconciles[i].kind);
        free(m->reg.reconciles[i].result);
    }
    for (size_t i = 0; i < m->reg.n_depths; i++)
        free(m->reg.depths[i].kind);
    for (size_t i = 0; i < m->reg.n_retries; i++)
        free(m->reg.retries[i].kind);
    for (size_t i = 0; i < m->reg.n_generic; i++) {
        free(m->reg.generic[i].name);
        free(m->reg.generic[i].labels);
    }
    for (size_t i = 0; i < m->reg.n_helps; i++) {
        free(m->reg.helps[i].name);
        free(m->reg.helps[i].help);
    }
    free(m->reg.reconciles);
    free(m->reg.depths);
    free(m->reg.retries);
    free(m->reg.generic);
    free(m->reg.helps);
    memset(&m->reg, 0, sizeof(m->reg));
}

struct sl_metrics *sl_metrics_new(void)
{
    struct sl_metrics *m = sl_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void sl_metrics_free(struct sl_metrics *m)
{
    if (!m)
        return;
    registry_clear(m);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- rendering ---- */

static void append_escaped(struct sl_buf *out, const char *s, int quote)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        if (!rep && *p)
            continue;
        sl_buf_append(out, run, (size_t)(p - run));
        if (!*p)
            break;
        sl_buf_append_str(out, rep);
        run = p + 1;
    }
}

void sl_metrics_label_append(struct sl_buf *out, const char *name, const char *value)
{
    if (out->len)
        sl_buf_append_str(out, ",");
    sl_buf_append_str(out, nz(name));
    sl_buf_append_str(out, "=\"");
    append_escaped(out, nz(value), 1);
    sl_buf_append_str(out, "\"");
}

/* Shortest text that reads back as v (as Go's strconv 'g', -1 does), or +Inf/-Inf/NaN. */
static void format_value(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void append_value(struct sl_buf *out, double v)
{
    char num[64];
    format_value(num, sizeof(num), v);
    sl_buf_append_str(out, num);
}

static const char *help_for(struct sl_metrics *m, const char *name, const char *fallback)
{
    for (size_t i = 0; i < m->reg.n_helps; i++) {
        if (strcmp(m->reg.helps[i].name, name) == 0)
            return m->reg.helps[i].help;
    }
    return fallback;
}

static void append_header(struct sl_metrics *m, struct sl_buf *out, const char *name,
                          const char *type, const char *help)
{
    sl_buf_append_str(out, "# HELP ");
    sl_buf_append_str(out, name);
    sl_buf_append_str(out, " ");
    append_escaped(out, help_for(m, name, help), 0);
    sl_buf_append_str(out, "\n# TYPE ");
    sl_buf_append_str(out, name);
    sl_buf_append_str(out, " ");
    sl_buf_append_str(out, type);
    sl_buf_append_str(out, "\n");
}

/* name{labels} value\n; labels may be "" (no braces then). */
static void append_sample(struct sl_buf *out, const char *name, const char *labels, double v)
{
    sl_buf_append_str(out, name);
    if (labels && *labels) {
        sl_buf_append_str(out, "{");
        sl_buf_append_str(out, labels);
        sl_buf_append_str(out, "}");
    }
    sl_buf_append_str(out, " ");
    append_value(out, v);
    sl_buf_append_str(out, "\n");
}

static void append_reconciles(struct sl_metrics *m, struct sl_buf *out)
{
    struct sl_buf labels;
    sl_buf_init(&labels, 0);
    append_header(m, out, RECONCILE_TOTAL, "counter",
                  "Reconciliations by kind and result (success, error, requeue).");
    for (size_t i = 0; i < m->reg.n_reconciles; i++) {
        struct reconcile_series *r = &m->reg.reconciles[i];
        sl_buf_reset(&labels);
        sl_metrics_label_append(&labels, "kind", r->kind);
        sl_metrics_label_append(&labels, "result", r->result);
        append_sample(out, RECONCILE_TOTAL, labels.data, (double)r->count);
    }
    append_header(m, out, RECONCILE_DURATION, "histogram",
                  "Time spent in one reconciliation, by kind and result.");
    for (size_t i = 0; i < m->reg.n_reconciles; i++) {
        struct reconcile_series *r = &m->reg.reconciles[i];
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            char le[64];
            if (b < N_BUCKETS) {
                cumulative += r->buckets[b];
                format_value(le, sizeof(le), duration_buckets[b]);
            } else {
                cumulative = r->count;
                snprintf(le, sizeof(le), "+Inf");
            }
            sl_buf_reset(&labels);
            sl_metrics_label_append(&labels, "kind", r->kind);
            sl_metrics_label_append(&labels, "result", r->result);
            sl_metrics_label_append(&labels, "le", le);
            append_sample(out, RECONCILE_DURATION "_bucket", labels.data, (double)cumulative);
        }
        sl_buf_reset(&labels);
        sl_metrics_label_append(&labels, "kind", r->kind);
        sl_metrics_label_append(&labels, "result", r->result);
        append_sample(out, RECONCILE_DURATION "_sum", labels.data, r->sum);
        append_sample(out, RECONCILE_DURATION "_count", labels.data, (double)r->count);
    }
    sl_buf_free(&labels);
}

static void append_kind_family(struct sl_metrics *m, struct sl_buf *out, const char *name,
                               const char *type, const char *help, const struct kind_value *arr,
                               size_t n)
{
    struct sl_buf labels;
    sl_buf_init(&labels, 0);
    append_header(m, out, name, type, help);
    for (size_t i = 0; i < n; i++) {
        sl_buf_reset(&labels);
        sl_metrics_label_append(&labels, "kind", arr[i].kind);
        append_sample(out, name, labels.data, arr[i].value);
    }
    sl_buf_free(&labels);
}

static void append_generic(struct sl_metrics *m, struct sl_buf *out)
{
    for (size_t i = 0; i < m->reg.n_generic; i++) {
        struct generic_series *g = &m->reg.generic[i];
        if (i == 0 || strcmp(m->reg.generic[i - 1].name, g->name) != 0) {
            char help[256];
            snprintf(help, sizeof(help), "Sealift %s %s.", g->is_gauge ? "gauge" : "counter",
                     g->name);
            append_header(m, out, g->name, g->is_gauge ? "gauge" : "counter", help);
        }
        append_sample(out, g->name, g->labels, g->value);
    }
}

struct process_stats {
    double resident_bytes;
    double start_time_seconds;
    double cpu_seconds;
    double open_fds;
    int have_rss, have_start, have_cpu, have_fds;
};

/* Fields of /proc/self/stat after the command name: utime (14), stime (15), starttime (22). */
static int read_self_stat(unsigned long long *utime, unsigned long long *stime,
                          unsigned long long *starttime)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* the command name may contain spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    p++;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            *utime = strtoull(tok, NULL, 10);
        else if (field == 15)
            *stime = strtoull(tok, NULL, 10);
        else if (field == 22) {
            *starttime = strtoull(tok, NULL, 10);
            return 0;
        }
    }
    return -1;
}

static int read_boot_time(unsigned long long *out)
{
    char line[256];
    int rc = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "btime ", 6) == 0) {
            *out = strtoull(line + 6, NULL, 10);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void read_process_stats(struct process_stats *ps)
{
    memset(ps, 0, sizeof(*ps));
    long page = sysconf(_SC_PAGESIZE);
    long ticks = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size = 0, resident = 0;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0) {
            ps->resident_bytes = (double)resident * (double)page;
            ps->have_rss = 1;
        }
        fclose(f);
    }
    unsigned long long utime = 0, stime = 0, starttime = 0, btime = 0;
    if (ticks > 0 && read_self_stat(&utime, &stime, &starttime) == 0) {
        ps->cpu_seconds = (double)(utime + stime) / (double)ticks;
        ps->have_cpu = 1;
        if (read_boot_time(&btime) == 0) {
            ps->start_time_seconds = (double)btime + (double)starttime / (double)ticks;
            ps->have_start = 1;
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        size_t count = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.')
                count++;
        }
        closedir(d);
        /* the directory stream itself held one descriptor */
        ps->open_fds = count > 0 ? (double)(count - 1) : 0;
        ps->have_fds = 1;
    }
}

static void append_process(struct sl_metrics *m, struct sl_buf *out, const struct process_stats *ps)
{
    if (ps->have_cpu) {
        append_header(m, out, "process_cpu_seconds_total", "counter",
                      "Total user and system CPU time spent in seconds.");
        append_sample(out, "process_cpu_seconds_total", "", ps->cpu_seconds);
    }
    if (ps->have_fds) {
        append_header(m, out, "process_open_fds", "gauge", "Number of open file descriptors.");
        append_sample(out, "process_open_fds", "", ps->open_fds);
    }
    if (ps->have_rss) {
        append_header(m, out, "process_resident_memory_bytes", "gauge",
                      "Resident memory size in bytes.");
        append_sample(out, "process_resident_memory_bytes", "", ps->resident_bytes);
    }
    if (ps->have_start) {
        append_header(m, out, "process_start_time_seconds", "gauge",
                      "Start time of the process since unix epoch in seconds.");
        append_sample(out, "process_start_time_seconds", "", ps->start_time_seconds);
    }
}

void sl_metrics_render(struct sl_metrics *m, struct sl_buf *out)
{
    if (!m)
        return;
    struct process_stats ps;
    read_process_stats(&ps);
    pthread_mutex_lock(&m->lock);
    append_reconciles(m, out);
    append_kind_family(m, out, QUEUE_DEPTH, "gauge", "Objects waiting in the work queue, by kind.",
                       m->reg.depths, m->reg.n_depths);
    append_kind_family(m, out, QUEUE_RETRIES, "counter",
                       "Work queue items requeued with backoff, by kind.", m->reg.retries,
                       m->reg.n_retries);
    append_generic(m, out);
    pthread_mutex_unlock(&m->lock);
    append_process(m, out, &ps);
}
