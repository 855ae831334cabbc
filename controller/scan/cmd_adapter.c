/* `sealift scanner-adapter --listen HOST:PORT --db DIR|IMAGE (--token-file F | --no-auth)
 *  [--tls-cert-dir D [--client-ca FILE]] [--creds USER:PASS] [--insecure] [--workers N]`
 *
 * Serves the Harbor Pluggable Scanner API v1.1 from sealift's built-in scanner, so a Harbor
 * installation (or sealift's own ScanPolicy spec.scanner.harbor) can use sealift as its
 * scanner:
 *   GET  /api/v1/metadata               scanner and capabilities
 *   POST /api/v1/scan                   ScanRequest -> 202 {"id"}; the scan runs in the
 *                                       background (worker pool), ids are random
 *   GET  /api/v1/scan/{id}/report       302 + Refresh-After while running, 200 report, 404
 *                                       unknown id, 500 {"error"} when the scan failed
 * Malformed ScanRequests get 400 and an error body, an unsupported artifact mime_type 422 (the
 * spec's "invalid field"), a body that is not a ScanRequest by Content-Type 415, an Accept the
 * adapter cannot produce 406. Every request must present the token of --token-file (as
 * "Authorization: Bearer", "Authorization: Basic" or "X-ScannerAdapter-API-Key", the forms a
 * Harbor scanner registration sends) or gets 401 with the spec's error body: without it anyone
 * who reaches the adapter could make it pull arbitrary URLs with credentials of their choosing.
 * Authentication is off only with an explicit --no-auth. With --client-ca (and --tls-cert-dir)
 * the TLS session itself needs a client certificate issued by that CA (mutual TLS, on top of the
 * token): a client without one, or with another, is refused in the handshake. The artifact is
 * pulled from registry.url (http:// or https://, TLS verified) with registry.authorization ("Basic
 * ..." or "Bearer ...", e.g. a pull token). --creds/--insecure apply to --db only. Runs until
 * SIGINT or SIGTERM. Exit codes: 0 after a signal, 2 usage, 3 when --db cannot be pulled. */
#include "scan/cmd_adapter.h"
#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/commands.h"
#include "oci/cliregistry.h"
#include "http/server.h"
#include "http/workpool.h"
#include "oci/registry.h"
#include "scan/advisory.h"
#include "scan/engine.h"
#include "scan/harbor.h"
#include "scan/regimage.h"
#include "scanner/harbor_api.h"
#include "util/base64.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define CMD "scanner-adapter"
/* Scans remembered (finished ones are evicted oldest first beyond this). */
#define JOBS_MAX      1024
#define REPORT_1_0_MT "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"

enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
    char id[33];
    enum job_state state;
    char *report; /* JSON, when done */
    char error[SL_ERR_MSG_MAX];
    uint64_t seq; /* submission order, for eviction */
};

struct adapter {
    struct sl_advdb db;
    struct sl_harbor_scanner scanner;
    char db_updated[40];
    struct sl_workpool *pool;
    pthread_mutex_t mu; /* guards jobs */
    struct job jobs[JOBS_MAX];
    size_t njobs;
    uint64_t seq;
    char *token; /* --token-file's token (secret, wiped on free); NULL with --no-auth */
};

/* What a worker scans (owns the request). */
struct scan_work {
    char id[33];
    struct sl_harbor_scan_request req;
};

/* The usage text: on stdout when asked for (--help), else on stderr after an error. */
static void usage_to(FILE *f)
{
    fprintf(f,
            "usage: sealift scanner-adapter --listen HOST:PORT --db DIR|IMAGE\n"
            "                               (--token-file F | --no-auth)\n"
            "                               [--tls-cert-dir D [--client-ca FILE]]\n"
            "                               [--creds USER:PASS | --creds-file PATH]\n"
            "                               [--insecure] [--workers N]\n"
            "\n"
            "Serves the Harbor Pluggable Scanner API v1.1 (/api/v1/metadata, /api/v1/scan,\n"
            "/api/v1/scan/{id}/report) from the built-in scanner until SIGINT or SIGTERM.\n"
            "\n"
            "Flags:\n"
            "  --listen HOST:PORT     the address to serve on\n"
            "  --db DIR|FILE|IMAGE    advisories, as for `sealift scan --db`\n"
            "  --token-file F         every request must carry the token in F\n"
            "                         (Authorization: Bearer, Basic, or X-ScannerAdapter-API-Key)\n"
            "  --no-auth              serve anyone (lab only)\n"
            "  --tls-cert-dir D       serve https with D/tls.crt and D/tls.key\n"
            "  --client-ca FILE       with --tls-cert-dir: refuse TLS clients that present no\n"
            "                         certificate issued by a CA of FILE (PEM), before any\n"
            "                         request is read (mutual TLS)\n"
            "  --creds USER:PASS      credentials for pulling --db (visible in ps)\n"
            "  --creds-file PATH      a file holding one line USER:PASS, or a docker config.json\n"
            "  --insecure             --db's registry may be plain http or untrusted TLS\n"
            "  --workers N            parallel scans, 1-64 (default 2)\n"
            "  -h, --help             print this help\n"
            "Credentials for --db from the first of: --creds, --creds-file, the environment\n"
            "variable SEALIFT_CREDS (USER:PASS), docker config.json; else anonymous.\n"
            "\n"
            "Exit codes: 0 stopped by SIGINT or SIGTERM; 2 usage error, unreadable token file\n"
            "or advisory database, --listen, --tls-cert-dir or --client-ca unusable; 3 registry\n"
            "error loading --db.\n"
            "\n"
            "Example:\n"
            "  sealift scanner-adapter --listen 0.0.0.0:8443 --db ./advisories \\\n"
            "      --token-file /run/secrets/adapter-token --tls-cert-dir /run/tls\n");
}

static void usage(void)
{
    usage_to(stderr);
}

static struct job *find_job_locked(struct adapter *a, const char *id)
{
    for (size_t i = 0; i < a->njobs; i++)
        if (strcmp(a->jobs[i].id, id) == 0)
            return &a->jobs[i];
    return NULL;
}

static void job_finish(struct adapter *a, const char *id, char *report, const char *error)
{
    pthread_mutex_lock(&a->mu);
    struct job *j = find_job_locked(a, id);
    if (j) {
        j->state = report ? JOB_DONE : JOB_FAILED;
        j->report = report;
        report = NULL;
        snprintf(j->error, sizeof(j->error), "%s", error ? error : "");
    }
    pthread_mutex_unlock(&a->mu);
    free(report);
}

/* "https://host:port/anything" -> host:port, *insecure for http. */
static int registry_host(char *out, size_t cap, int *insecure, const char *url)
{
    const char *p = NULL;
    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        *insecure = 0;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        *insecure = 1;
    } else {
        return SL_EINVAL;
    }
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= cap || memchr(p, '@', n))
        return SL_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* registry.authorization "Basic base64(user:pass)" -> creds; "Bearer <token>" -> *bearer (a
 * pointer into auth). NULL/empty: anonymous. */
static int creds_from_authorization(struct sl_creds *out, const char **bearer, const char *auth,
                                    struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    *bearer = NULL;
    if (!auth || !*auth)
        return 0;
    if (strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *tok = auth + 7;
        if (!*tok || strpbrk(tok, " \t\r\n"))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "registry.authorization: Bearer token is empty or has whitespace");
        *bearer = tok;
        return 0;
    }
    if (strncasecmp(auth, "Basic ", 6) != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "registry.authorization: only the Basic and Bearer schemes are "
                          "supported");
    unsigned char *plain = NULL;
    size_t len = 0;
    const char *b64 = auth + 6;
    if (sl_base64_decode(&plain, &len, b64, strlen(b64)) != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "registry.authorization: Basic credentials are not valid base64");
    int rc = 0;
    if (strlen((char *)plain) != len || !strchr((char *)plain, ':'))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "registry.authorization: Basic credentials are not user:password");
    else
        rc = sl_creds_parse_userpass(out, (char *)plain, err);
    sl_secure_free(plain, len + 1);
    return rc;
}

static void work_run(void *ctx, void *job)
{
    struct adapter *a = ctx;
    struct scan_work *w = job;
    struct sl_err err = {0};
    struct sl_creds creds;
    struct sl_registry *reg = NULL;
    struct sl_reg_image img;
    struct sl_scan_report rep;
    memset(&creds, 0, sizeof(creds));
    memset(&img, 0, sizeof(img));
    memset(&rep, 0, sizeof(rep));
    char host[512];
    int insecure = 0;
    char *report = NULL;

    pthread_mutex_lock(&a->mu);
    struct job *j = find_job_locked(a, w->id);
    if (j)
        j->state = JOB_RUNNING;
    pthread_mutex_unlock(&a->mu);

    int rc = registry_host(host, sizeof(host), &insecure, w->req.registry_url);
    if (rc != 0) {
        sl_err_set(&err, rc, SL_ERRC_INPUT, "registry.url: not an http(s) URL with a host");
        goto done;
    }
    const char *bearer = NULL;
    if ((rc = creds_from_authorization(&creds, &bearer, w->req.authorization, &err)) != 0)
        goto done;
    /* http:// was asked for explicitly; https:// is always verified */
    struct sl_registry_opts o = {.insecure = insecure, .max_attempts = 3};
    reg = sl_registry_new(host, creds.username ? &creds : NULL, &o);
    /* Harbor's robot token (or sealift's) for this repository: used as long as the registry
     * accepts it; the scan of one image is over well within the hour */
    if (bearer)
        sl_registry_use_pull_token(reg, w->req.repository, bearer, 3600 * 1000);
    rc = sl_reg_image_open(&img, reg, w->req.repository, w->req.digest, NULL, &err);
    if (rc == 0) {
        struct sl_image_source src;
        sl_reg_image_source(&src, &img);
        /* a report carries every finding: Harbor (or the ScanPolicy) applies its own policy */
        struct sl_scan_policy pol;
        memset(&pol, 0, sizeof(pol));
        pol.now = time(NULL);
        rc = sl_scan_image(&rep, &src, &a->db, NULL, &pol, NULL, &err);
    }
    if (rc == 0 && rep.layers_failed && rep.nissues)
        /* a vulnerability report cannot say that part of the image went unchecked: fail the
         * scan instead of handing over a clean-looking report */
        rc = sl_err_set(&err, SL_EINVAL, SL_ERRC_INPUT,
                        "%llu layer entries could not be inspected (layer %u entry %s: %s)",
                        (unsigned long long)rep.issues_total, rep.issues[0].layer,
                        rep.issues[0].path, rep.issues[0].problem);
    if (rc != 0) {
        sl_err_prefix(&err, "scanning %s/%s@%s", host, w->req.repository, w->req.digest);
        goto done;
    }
    char now[40];
    sl_time_now_rfc3339(now, sizeof(now));
    struct sl_harbor_artifact art = {w->req.repository, w->req.digest, w->req.mime_type};
    json_t *doc = sl_harbor_report_render(&rep, &art, &a->scanner, now);
    report = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!report)
        sl_err_set(&err, SL_EFAIL, SL_ERRC_INTERNAL, "rendering the report failed");
done:
    job_finish(a, w->id, report, report ? NULL : err.msg);
    fprintf(stderr, "sealift scanner-adapter: scan %s of %s@%s: %s\n", w->id, w->req.repository,
            w->req.digest, report ? "done" : err.msg);
    sl_scan_report_free(&rep);
    sl_reg_image_free(&img);
    sl_registry_free(reg);
    sl_creds_free(&creds);
}

static void work_done(void *ctx, void *job, void *waiter, bool canceled)
{
    (void)waiter;
    if (canceled)
        job_finish(ctx, ((struct scan_work *)job)->id, NULL, "the adapter shut down");
}

static void work_free(void *ctx, void *job)
{
    (void)ctx;
    struct scan_work *w = job;
    sl_harbor_scan_request_free(&w->req);
    free(w);
}

static void reply_json(struct sl_http_response *resp, int status, const char *content_type,
                       char *body)
{
    resp->status = status;
    resp->content_type = content_type;
    sl_buf_append_str(&resp->body, body);
    free(body);
}

static void reply_error(struct sl_http_response *resp, int status, const char *message)
{
    reply_json(resp, status, SL_HARBOR_ERROR_MT, sl_harbor_error_json(message));
}

/* Whether req carries the adapter's token; otherwise answers 401 with the spec's error body.
 * Neither the expected nor the presented token is ever logged. */
static bool authorized(struct adapter *a, const struct sl_http_request *req,
                       struct sl_http_response *resp)
{
    if (!a->token)
        return true; /* --no-auth */
    if (sl_harbor_adapter_authorized(sl_http_request_header(req, "Authorization"),
                                     sl_http_request_header(req, "X-ScannerAdapter-API-Key"),
                                     a->token))
        return true;
    sl_http_request_add_response_header(req, "WWW-Authenticate",
                                        "Bearer realm=\"sealift scanner-adapter\"");
    reply_error(resp, 401,
                "unauthorized: send the adapter's token as Authorization: Bearer, Basic, or "
                "X-ScannerAdapter-API-Key");
    const char *peer = sl_http_request_peer(req);
    fprintf(stderr, "sealift scanner-adapter: 401 for %s %s from %s (missing or wrong token)\n",
            req->method, req->path, peer ? peer : "?");
    return false;
}

static void handle_metadata(void *ctx, const struct sl_http_request *req,
                            struct sl_http_response *resp)
{
    struct adapter *a = ctx;
    if (!authorized(a, req, resp))
        return;
    char *doc = sl_harbor_metadata_json(&a->scanner, a->db_updated);
    /* Harbor before v2.10 asks for the v1.0 report type: the same schema, so offer it too */
    json_t *m = json_loads(doc, 0, NULL);
    json_array_append_new(json_object_get(json_array_get(json_object_get(m, "capabilities"), 0),
                                          "produces_mime_types"),
                          json_string(REPORT_1_0_MT));
    free(doc);
    doc = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    reply_json(resp, 200, SL_HARBOR_METADATA_MT, doc ? doc : sl_xstrdup("{}"));
}

/* A new random id (128 bits, hex). */
static int new_id(char out[33])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Adds a queued job; evicts the oldest finished one when full. Returns 0 or -1 (all busy). */
static int job_add(struct adapter *a, const char *id)
{
    pthread_mutex_lock(&a->mu);
    struct job *slot = NULL;
    if (a->njobs < JOBS_MAX) {
        slot = &a->jobs[a->njobs++];
    } else {
        for (size_t i = 0; i < a->njobs; i++) {
            struct job *j = &a->jobs[i];
            if ((j->state == JOB_DONE || j->state == JOB_FAILED) && (!slot || j->seq < slot->seq))
                slot = j;
        }
    }
    if (slot) {
        free(slot->report);
        memset(slot, 0, sizeof(*slot));
        snprintf(slot->id, sizeof(slot->id), "%s", id);
        slot->state = JOB_QUEUED;
        slot->seq = ++a->seq;
    }
    pthread_mutex_unlock(&a->mu);
    return slot ? 0 : -1;
}

static void job_remove(struct adapter *a, const char *id)
{
    pthread_mutex_lock(&a->mu);
    struct job *j = find_job_locked(a, id);
    if (j) {
        free(j->report);
        *j = a->jobs[--a->njobs];
    }
    pthread_mutex_unlock(&a->mu);
}

/* Whether header's media type (before any ";" parameters) is type, case-insensitively. */
static bool media_type_is(const char *header, const char *type)
{
    while (*header == ' ' || *header == '\t')
        header++;
    size_t n = strcspn(header, ";");
    while (n > 0 && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    return n == strlen(type) && strncasecmp(header, type, n) == 0;
}

static void handle_scan(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct adapter *a = ctx;
    struct sl_err err = {0};
    if (!authorized(a, req, resp))
        return;
    const char *ct = sl_http_request_header(req, "Content-Type");
    if (ct && !media_type_is(ct, "application/vnd.scanner.adapter.scan.request+json") &&
        !media_type_is(ct, "application/json")) {
        reply_error(resp, 415, "Content-Type must be " SL_HARBOR_SCAN_REQUEST_MT);
        return;
    }
    struct scan_work *w = sl_xcalloc(1, sizeof(*w));
    if (sl_harbor_scan_request_parse(&w->req, req->body ? req->body : "", req->body_len, &err) !=
        0) {
        reply_error(resp, 400, err.msg);
        work_free(NULL, w);
        return;
    }
    if (w->req.mime_type && !sl_harbor_consumes(w->req.mime_type)) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "artifact.mime_type: Unsupported value: \"%.200s\": this scanner consumes "
                 "application/vnd.oci.image.manifest.v1+json and "
                 "application/vnd.docker.distribution.manifest.v2+json",
                 w->req.mime_type);
        reply_error(resp, 422, msg);
        work_free(NULL, w);
        return;
    }
    if (new_id(w->id) != 0 || job_add(a, w->id) != 0) {
        reply_error(resp, 500, "too many scans in progress; try again later");
        work_free(NULL, w);
        return;
    }
    char id[33];
    memcpy(id, w->id, sizeof(id));
    if (sl_workpool_submit(a->pool, id, w, NULL, NULL, &err) != 0) {
        job_remove(a, id);
        work_free(NULL, w);
        reply_error(resp, 500, "the scan queue is full; try again later");
        return;
    }
    reply_json(resp, 202, SL_HARBOR_SCAN_RESPONSE_MT, sl_harbor_scan_response_json(id));
}

/* Which report type Accept asks for: the v1.1 type (also for no Accept, * / * and
 * application/json), the v1.0 type, or NULL (406). */
static const char *report_type_for(const char *accept)
{
    if (!accept || !*accept || strstr(accept, "*/*") || strstr(accept, "application/json"))
        return SL_HARBOR_REPORT_MT;
    if (strstr(accept, "application/vnd.security.vulnerability.report") &&
        strstr(accept, "version=1.1"))
        return SL_HARBOR_REPORT_MT;
    if (strstr(accept, "application/vnd.scanner.adapter.vuln.report.harbor+json"))
        return REPORT_1_0_MT;
    return NULL;
}

static void handle_report(void *ctx, const struct sl_http_request *req,
                          struct sl_http_response *resp)
{
    struct adapter *a = ctx;
    if (!authorized(a, req, resp))
        return;
    static const char prefix[] = "/api/v1/scan/", suffix[] = "/report";
    size_t plen = strlen(req->path);
    char id[64];
    size_t idlen = plen > sizeof(prefix) - 1 + sizeof(suffix) - 1
                       ? plen - (sizeof(prefix) - 1) - (sizeof(suffix) - 1)
                       : 0;
    if (idlen == 0 || idlen >= sizeof(id) || strcmp(req->path + plen - 7, suffix) != 0 ||
        memchr(req->path + sizeof(prefix) - 1, '/', idlen)) {
        reply_error(resp, 404, "not found");
        return;
    }
    memcpy(id, req->path + sizeof(prefix) - 1, idlen);
    id[idlen] = '\0';
    const char *type = report_type_for(sl_http_request_header(req, "Accept"));
    pthread_mutex_lock(&a->mu);
    struct job *j = find_job_locked(a, id);
    enum job_state state = j ? j->state : JOB_QUEUED;
    char *report = j && j->state == JOB_DONE ? sl_xstrdup(j->report) : NULL;
    char error[SL_ERR_MSG_MAX];
    snprintf(error, sizeof(error), "%s", j ? j->error : "");
    pthread_mutex_unlock(&a->mu);
    if (!j) {
        free(report);
        reply_error(resp, 404, "no scan request with this id");
        return;
    }
    if (!type) {
        free(report);
        reply_error(resp, 406, "this scanner produces " SL_HARBOR_REPORT_MT " and " REPORT_1_0_MT);
        return;
    }
    if (state == JOB_QUEUED || state == JOB_RUNNING) {
        resp->status = 302;
        sl_http_request_add_response_header(req, "Refresh-After", "1");
        return;
    }
    if (state == JOB_FAILED) {
        reply_error(resp, 500, error);
        return;
    }
    reply_json(resp, 200, type, report);
}

/* Reads the token of --token-file: the whole file, trailing whitespace (a final newline)
 * removed; it must be non-empty, at most SL_HARBOR_TOKEN_MAX bytes, one line of printable
 * characters. *out is a secret (sl_secure_free_str). Messages name the file, never its bytes. */
static int read_token_file(char **out, const char *path, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_INPUT, "--token-file %s: %s", path,
                          strerror(errno));
    char *buf = sl_xcalloc(1, SL_HARBOR_TOKEN_MAX + 2);
    size_t n = fread(buf, 1, SL_HARBOR_TOKEN_MAX + 1, f);
    bool read_error = ferror(f) != 0;
    fclose(f);
    int rc = 0;
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    bool printable = true;
    for (size_t i = 0; i < n; i++)
        printable = printable && (unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] != 0x7f;
    if (read_error)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_INPUT, "--token-file %s: read error", path);
    else if (n > SL_HARBOR_TOKEN_MAX)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "--token-file %s: longer than %d bytes",
                        path, SL_HARBOR_TOKEN_MAX);
    else if (n == 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "--token-file %s: the file is empty", path);
    else if (!printable)
        rc =
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                       "--token-file %s: the token must be one line of printable characters", path);
    if (rc != 0) {
        sl_secure_free(buf, SL_HARBOR_TOKEN_MAX + 2);
        return rc;
    }
    *out = sl_xstrdup(buf);
    sl_secure_free(buf, SL_HARBOR_TOKEN_MAX + 2);
    return 0;
}

int sl_cmd_scanner_adapter(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"tls-cert-dir", required_argument, NULL, 't'},
        {"client-ca", required_argument, NULL, 'c'},
        SL_CLI_REGISTRY_OPTIONS,
        {"workers", required_argument, NULL, 'w'},
        {"token-file", required_argument, NULL, 'k'},
        {"no-auth", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *db_path = NULL, *cert_dir = NULL, *client_ca = NULL;
    struct sl_cli_registry regflags;
    const char *token_file = NULL;
    int no_auth = 0;
    long workers = 2;
    int exit_code = SL_EXIT_USAGE;
    struct sl_err err = {0};
    struct sl_http_server *srv = NULL;
    struct adapter *a = sl_xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    sl_advdb_init(&a->db);
    sl_cli_registry_init(&regflags, SL_CLI_REGISTRY_ONE);

    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (sl_cli_registry_option(&regflags, c, optarg))
            continue;
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'd':
            db_path = optarg;
            break;
        case 't':
            cert_dir = optarg;
            break;
        case 'c':
            client_ca = optarg;
            break;
        case 'k':
            token_file = optarg;
            break;
        case 'n':
            no_auth = 1;
            break;
        case 'w': {
            char *end = NULL;
            workers = strtol(optarg, &end, 10);
            if (!end || *end || workers < 1 || workers > 64) {
                sl_cli_errorf(CMD, "--workers must be 1..64, not \"%s\"", optarg);
                goto done;
            }
            break;
        }
        case 'h':
            usage_to(stdout);
            exit_code = SL_EXIT_OK;
            goto done;
        default:
            sl_cli_errorf(CMD, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            usage();
            goto done;
        }
    }
    if (optind != argc || !listen || !db_path) {
        sl_cli_errorf(CMD, "--listen and --db are required, and no other arguments");
        usage();
        goto done;
    }
    if (client_ca && !cert_dir) {
        sl_cli_errorf(CMD, "--client-ca needs --tls-cert-dir: client certificates need TLS");
        usage();
        goto done;
    }
    if (!token_file == !no_auth) {
        sl_cli_errorf(CMD, "%s",
                      token_file ? "--token-file and --no-auth exclude each other"
                                 : "--token-file F is required: the adapter pulls any registry "
                                   "URL a caller names, so it only serves callers that present "
                                   "this token (--no-auth serves anyone)");
        usage();
        goto done;
    }
    if (token_file && read_token_file(&a->token, token_file, &err) != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (no_auth)
        fprintf(stderr,
                "sealift scanner-adapter: WARNING: --no-auth: anyone who can reach %s can "
                "make this adapter pull any registry URL and read every report\n",
                listen);
    if (sl_scan_cli_load_db(&a->db, db_path, &regflags, &exit_code, CMD) != 0)
        goto done;
    snprintf(a->scanner.name, sizeof(a->scanner.name), "sealift");
    snprintf(a->scanner.vendor, sizeof(a->scanner.vendor), "sealift");
    snprintf(a->scanner.version, sizeof(a->scanner.version), "%s", SL_VERSION);
    sl_time_now_rfc3339(a->db_updated, sizeof(a->db_updated));

    /* SIGINT/SIGTERM are taken with sigwaitinfo below; block them before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct sl_workpool_ops ops = {
        .ctx = a, .run = work_run, .done = work_done, .job_free = work_free};
    struct sl_workpool_opts wo = {.threads = (size_t)workers, .queue_max = 256};
    if (sl_workpool_new(&a->pool, &ops, &wo, &err) != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        exit_code = SL_EXIT_REMOTE;
        goto done;
    }
    char cert[4096], key[4096];
    struct sl_http_server_opts so = {.addr = listen, .max_body_bytes = SL_HARBOR_SMALL_MAX};
    if (cert_dir) {
        snprintf(cert, sizeof(cert), "%s/tls.crt", cert_dir);
        snprintf(key, sizeof(key), "%s/tls.key", cert_dir);
        so.tls_cert_file = cert;
        so.tls_key_file = key;
    }
    if (client_ca) {
        /* every caller of the adapter presents one: the handshake refuses the others */
        so.tls_client_ca_file = client_ca;
        so.tls_client_cert_required = true;
    }
    if (sl_http_server_new(&srv, &so, &err) != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    sl_http_server_route(srv, "GET", "/api/v1/metadata", handle_metadata, a);
    sl_http_server_route(srv, "POST", "/api/v1/scan", handle_scan, a);
    sl_http_server_route(srv, "GET", "/api/v1/scan/*", handle_report, a);
    if (sl_http_server_start(srv, &err) != 0) {
        sl_cli_errorf(CMD, "--listen %s: %s", listen, err.msg);
        goto done;
    }
    fprintf(stderr, "sealift scanner-adapter: listening on %s://%s (%zu advisory records, %s%s)\n",
            cert_dir ? "https" : "http", sl_http_server_addr(srv), a->db.records,
            a->token ? "token required" : "no authentication",
            client_ca ? ", client certificate required" : "");
    fflush(stderr);
    int sig;
    do {
        sig = sigwaitinfo(&sigs, NULL);
    } while (sig < 0);
    exit_code = SL_EXIT_OK;
done:
    sl_http_server_stop(srv);
    sl_workpool_free(a->pool);
    sl_http_server_free(srv);
    for (size_t i = 0; i < a->njobs; i++)
        free(a->jobs[i].report);
    sl_advdb_free(&a->db);
    sl_secure_free_str(a->token);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return exit_code;
}
