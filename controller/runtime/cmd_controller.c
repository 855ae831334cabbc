/* `sealift controller`: the daemon. Loads the Kubernetes configuration, starts the HTTP server
 * (/metrics, /healthz, /readyz), the manager with every reconciler the wiring creates,
 * and runs until SIGTERM or SIGINT, then shuts down gracefully (running reconciles finish, the
 * Lease is released) and exits 0. */
#include "runtime/cmd_controller.h"
#include "api/review.h"
#include "cli/commands.h"
#include "http/handlers.h"
#include "http/server.h"
#include "http/transport.h"
#include "kube/client.h"
#include "kube/ops.h"
#include "runtime/informer.h"
#include "runtime/manager.h"
#include "runtime/metrics.h"
#include "runtime/config.h"
#include "runtime/webhookcert.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define CMD "controller"

struct controller_args {
    const char *kubeconfig;
    const char *ns;
    const char *metrics_addr;
    const char *webhook_addr;
    const char *webhook_cert_dir;
    const char *webhook_cert_secret;
    int64_t webhook_cert_check_ms;
    const char *webhook_client_ca;
    const char *webhook_client_name;
    const char *shard;
    const char *state_dir;
    const char *insecure[64];
    size_t n_insecure;
    const char *scanner_urls[64];
    size_t n_scanner_urls;
    bool allow_local_paths;
    bool workload_identity;
    const char *connect_to[64];
    size_t n_connect_to;
    int64_t min_interval_ms;
    int webhook_service_port;
    int64_t registry_timeout_ms;
    int64_t webhook_cache_ttl_ms;
    bool leader_elect;
    int concurrency;
    int image_parallel_copies; /* 0 = the copy engine's default */
    enum sl_log_level log_level;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sealift controller [flags]\n"
        "\n"
        "Runs the Kubernetes controller: reconciles sealift's objects (ImageDelivery, GitSource,\n"
        "ScanPolicy, SigningKey, DeployPolicy, ...), serves /metrics, /healthz and /readyz, and\n"
        "with --webhook-addr the admission webhook. SIGTERM or SIGINT: running reconciles\n"
        "finish, the Lease is released, exit 0.\n"
        "\n"
        "Flags:\n"
        "  --kubeconfig FILE            Kubernetes configuration; default: $KUBECONFIG, else the\n"
        "                               in-cluster ServiceAccount, else ~/.kube/config\n"
        "  --namespace NS               the namespace sealift runs in; default $POD_NAMESPACE,\n"
        "                               else the configuration's, else default\n"
        "  --metrics-addr HOST:PORT     /metrics, /healthz, /readyz (default :8080)\n"
        "  --webhook-addr HOST:PORT     serve the admission webhook (needs --webhook-cert-dir)\n"
        "  --webhook-cert-dir DIR       tls.crt and tls.key of the webhook (and its CA)\n"
        "  --webhook-cert-secret NAME   generate and renew the webhook's CA and serving\n"
        "                               certificate (sealift-webhook.NS.svc) in this Secret of\n"
        "                               the controller's namespace and write them into\n"
        "                               --webhook-cert-dir (a writable folder)\n"
        "  --webhook-cert-check-interval DURATION  how often the Secret is read again and\n"
        "                               renewed by the leader when near expiry (default 10m)\n"
        "  --webhook-client-ca FILE     answer admission requests only from callers with a\n"
        "                               client certificate of this CA (the API server);\n"
        "                               /convert and /healthz need none\n"
        "  --webhook-client-name NAME   ... and only with this name in the certificate\n"
        "  --webhook-cache-ttl DURATION how long the webhook keeps an admitted decision\n"
        "                               (default 5m; denials at most 10s)\n"
        "  --webhook-service-port PORT  the sealift-webhook Service port the generated\n"
        "                               ValidatingWebhookConfiguration names (default 443)\n"
        "  --leader-elect               run only while holding the Lease (several replicas)\n"
        "  --concurrency N              parallel reconciles, 1-256 (default 2)\n"
        "  --image-parallel-copies N    blobs one image copy streams at a time, 1-16\n"
        "                               (default 2; each holds about 100 KiB while it streams)\n"
        "  --shard KEY                  only objects labelled sealift.dev/shard=KEY (a lowercase\n"
        "                               name; with --leader-elect, one Lease per shard)\n"
        "  --log-level LEVEL            debug, info (default), warn or error\n"
        "  --state-dir DIR              clones and caches (default $SEALIFT_STATE_DIR, else\n"
        "                               /var/lib/sealift)\n"
        "  --insecure-registry HOST[:PORT]  (repeatable) the only registries an object's\n"
        "                               insecure: true may reach over plain http; none by\n"
        "                               default\n"
        "  --scanner-url PREFIX         (repeatable) Harbor scanner adapter URLs a ScanPolicy\n"
        "                               may name; none by default\n"
        "  --allow-local-paths          ScanPolicy database paths and file:// GitSources may\n"
        "                               read the controller's filesystem (off by default)\n"
        "  --workload-identity          registry provider: aws may exchange a token of the\n"
        "                               object's serviceAccountName for Amazon ECR credentials\n"
        "                               (needs crds/workload-identity.yaml's RBAC; off by "
        "default)\n"
        "  --connect-to HOST:PORT:CONNECT-HOST:CONNECT-PORT  (repeatable) connect to the second\n"
        "                               address for the first, as curl's --connect-to; TLS still\n"
        "                               checks HOST\n"
        "  --min-interval DURATION      the shortest interval an object gets (default 10s)\n"
        "  --registry-timeout DURATION  the longest one reconcile spends on registry\n"
        "                               exchanges (default 30m)\n"
        "  -h, --help                   print this help\n"
        "\n"
        "Exit codes: 0 stopped by SIGTERM or SIGINT; 1 failed while starting or running;\n"
        "2 usage error or no usable Kubernetes configuration; 3 the API server unreachable or\n"
        "refusing the credentials.\n"
        "\n"
        "Example:\n"
        "  sealift controller --kubeconfig ~/.kube/config --namespace sealift-system \\\n"
        "      --metrics-addr 127.0.0.1:8080 --insecure-registry 127.0.0.1:5000\n");
}

/* A shard key is the value of the sealift.dev/shard label and part of the shard's Lease name
 * ("sealift-controller-<key>"): a label value that is also a DNS subdomain. */
static bool valid_shard(const char *s)
{
    return sl_kube_dns_name(s, 63, true);
}

/* *out = s when s is a whole decimal number from min to max; -1 (and *out untouched) if not. */
static int parse_int_in(int *out, const char *s, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Returns -1 to go on, or the exit code (0 for --help). */
static int parse_args(struct controller_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, NULL, 'k'},
        {"namespace", required_argument, NULL, 'n'},
        {"metrics-addr", required_argument, NULL, 'm'},
        {"webhook-addr", required_argument, NULL, 'w'},
        {"webhook-cert-dir", required_argument, NULL, 'c'},
        {"webhook-cert-secret", required_argument, NULL, 'S'},
        {"webhook-cert-check-interval", required_argument, NULL, 'R'},
        {"webhook-client-ca", required_argument, NULL, 'C'},
        {"webhook-client-name", required_argument, NULL, 'N'},
        {"leader-elect", no_argument, NULL, 'l'},
        {"concurrency", required_argument, NULL, 'j'},
        {"image-parallel-copies", required_argument, NULL, 'B'},
        {"shard", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'v'},
        {"state-dir", required_argument, NULL, 'd'},
        {"insecure-registry", required_argument, NULL, 'i'},
        {"scanner-url", required_argument, NULL, 'u'},
        {"allow-local-paths", no_argument, NULL, 'p'},
        {"min-interval", required_argument, NULL, 'I'},
        {"webhook-service-port", required_argument, NULL, 'P'},
        {"registry-timeout", required_argument, NULL, 'T'},
        {"webhook-cache-ttl", required_argument, NULL, 'X'},
        {"workload-identity", no_argument, NULL, 'W'},
        {"connect-to", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->metrics_addr = ":8080";
    a->concurrency = 2;
    a->log_level = SL_LOG_INFO;
    a->min_interval_ms = 10000;
    a->registry_timeout_ms = 30 * 60 * 1000;
    a->webhook_cache_ttl_ms = 5 * 60 * 1000;
    a->webhook_cert_check_ms = 10 * 60 * 1000;
    optind = 0; /* glibc: re-initialise, argv[0] is the subcommand */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            a->kubeconfig = optarg;
            break;
        case 'n':
            a->ns = optarg;
            break;
        case 'm':
            a->metrics_addr = optarg;
            break;
        case 'w':
            a->webhook_addr = optarg;
            break;
        case 'c':
            a->webhook_cert_dir = optarg;
            break;
        case 'S':
            a->webhook_cert_secret = optarg;
            break;
        case 'R':
            if (sl_duration_parse_ms(&a->webhook_cert_check_ms, optarg) != 0 ||
                a->webhook_cert_check_ms < 1000) {
                sl_cli_errorf(CMD,
                              "--webhook-cert-check-interval wants a duration of at least 1s, "
                              "got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'C':
            a->webhook_client_ca = optarg;
            break;
        case 'N':
            a->webhook_client_name = optarg;
            break;
        case 'l':
            a->leader_elect = true;
            break;
        case 's':
            a->shard = optarg;
            break;
        case 'd':
            a->state_dir = optarg;
            break;
        case 'i':
            if (a->n_insecure == sizeof(a->insecure) / sizeof(a->insecure[0])) {
                sl_cli_errorf(CMD, "too many --insecure-registry flags");
                return SL_EXIT_USAGE;
            }
            a->insecure[a->n_insecure++] = optarg;
            break;
        case 'u':
            if (a->n_scanner_urls == sizeof(a->scanner_urls) / sizeof(a->scanner_urls[0])) {
                sl_cli_errorf(CMD, "too many --scanner-url flags");
                return SL_EXIT_USAGE;
            }
            if (strncmp(optarg, "https://", 8) != 0 && strncmp(optarg, "http://", 7) != 0) {
                sl_cli_errorf(CMD,
                              "--scanner-url wants an http:// or https:// URL prefix, got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            a->scanner_urls[a->n_scanner_urls++] = optarg;
            break;
        case 'p':
            a->allow_local_paths = true;
            break;
        case 'W':
            a->workload_identity = true;
            break;
        case 'O':
            if (a->n_connect_to == sizeof(a->connect_to) / sizeof(a->connect_to[0])) {
                sl_cli_errorf(CMD, "too many --connect-to flags");
                return SL_EXIT_USAGE;
            }
            a->connect_to[a->n_connect_to++] = optarg;
            break;
        case 'P':
            if (parse_int_in(&a->webhook_service_port, optarg, 1, 65535) != 0) {
                sl_cli_errorf(
                    CMD, "--webhook-service-port wants a port from 1 to 65535, got \"%s\"", optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'X':
            if (sl_duration_parse_ms(&a->webhook_cache_ttl_ms, optarg) != 0 ||
                a->webhook_cache_ttl_ms <= 0) {
                sl_cli_errorf(
                    CMD, "--webhook-cache-ttl wants a positive duration such as 1m, got \"%s\"",
                    optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'I':
            if (sl_duration_parse_ms(&a->min_interval_ms, optarg) != 0 || a->min_interval_ms < 0) {
                sl_cli_errorf(CMD, "--min-interval wants a duration such as 30s or 1m, got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'T':
            if (sl_duration_parse_ms(&a->registry_timeout_ms, optarg) != 0 ||
                a->registry_timeout_ms <= 0) {
                sl_cli_errorf(CMD,
                              "--registry-timeout wants a duration such as 30s or 5m, got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'j':
            if (parse_int_in(&a->concurrency, optarg, 1, 256) != 0) {
                sl_cli_errorf(CMD, "--concurrency wants a number from 1 to 256, got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'B':
            if (parse_int_in(&a->image_parallel_copies, optarg, 1, 16) != 0) {
                sl_cli_errorf(
                    CMD, "--image-parallel-copies wants a number from 1 to 16, got \"%s\"", optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'v':
            if (sl_log_parse_level(&a->log_level, optarg) != 0) {
                sl_cli_errorf(CMD, "--log-level wants debug, info, warn or error, got \"%s\"",
                              optarg);
                return SL_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return SL_EXIT_OK;
        case ':':
            sl_cli_errorf(CMD, "option %s needs a value", argv[optind - 1]);
            usage(stderr);
            return SL_EXIT_USAGE;
        default:
            sl_cli_errorf(CMD, "unknown option %s", argv[optind - 1]);
            usage(stderr);
            return SL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        sl_cli_errorf(CMD, "unexpected argument \"%s\"", argv[optind]);
        usage(stderr);
        return SL_EXIT_USAGE;
    }
    if (a->shard && !valid_shard(a->shard)) {
        sl_cli_errorf(CMD,
                      "--shard wants a label value that can also name a Lease: 1-63 lowercase "
                      "letters, digits, '-' or '.', starting and ending with a letter or digit, "
                      "got \"%s\"",
                      a->shard);
        return SL_EXIT_USAGE;
    }
    if (!*a->metrics_addr) {
        sl_cli_errorf(CMD, "--metrics-addr wants HOST:PORT");
        return SL_EXIT_USAGE;
    }
    if (a->webhook_addr && !a->webhook_cert_dir) {
        sl_cli_errorf(CMD, "--webhook-addr needs --webhook-cert-dir (tls.crt, tls.key)");
        return SL_EXIT_USAGE;
    }
    if (a->webhook_cert_secret &&
        (!*a->webhook_cert_secret || !a->webhook_addr || strlen(a->webhook_cert_secret) > 253)) {
        sl_cli_errorf(CMD, "--webhook-cert-secret NAME needs --webhook-addr and "
                           "--webhook-cert-dir (where the certificate files are written)");
        return SL_EXIT_USAGE;
    }
    if ((a->webhook_client_ca && (!*a->webhook_client_ca || !a->webhook_addr)) ||
        (a->webhook_client_name && (!*a->webhook_client_name || !a->webhook_client_ca))) {
        sl_cli_errorf(CMD, "--webhook-client-ca FILE needs --webhook-addr, and "
                           "--webhook-client-name NAME needs --webhook-client-ca");
        return SL_EXIT_USAGE;
    }
    if (!a->state_dir || !*a->state_dir)
        a->state_dir = getenv("SEALIFT_STATE_DIR");
    if (!a->state_dir || !*a->state_dir)
        a->state_dir = "/var/lib/sealift";
    return -1;
}

/* ---- HTTP handlers ---- */

/* GET /metrics serves the runtime's metrics (the HTTP layer knows none of its own). */
static void render_metrics(void *ctx, struct sl_buf *out)
{
    sl_metrics_render(ctx, out);
}

static void handle_healthz(void *ctx, const struct sl_http_request *req,
                           struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    sl_buf_append_str(&resp->body, "ok");
}

/* POST /convert: the CRDs' conversion webhook (api/review.h). Pure computation over the body,
 * bounded by the review's limits, so it answers on the loop thread. */
static void handle_convert(void *ctx, const struct sl_http_request *req,
                           struct sl_http_response *resp)
{
    (void)ctx;
    char *out = NULL;
    struct sl_err err = {0};
    int rc = sl_api_review(&out, req->body, req->body_len, &err);
    if (rc != 0) {
        resp->status = rc == SL_ETOOBIG ? 413 : 400;
        sl_buf_append_str(&resp->body, err.msg);
        return;
    }
    resp->content_type = "application/json";
    sl_buf_append_str(&resp->body, out);
    free(out);
}

static void handle_readyz(void *ctx, const struct sl_http_request *req,
                          struct sl_http_response *resp)
{
    (void)req;
    if (sl_manager_ready(ctx)) {
        sl_buf_append_str(&resp->body, "ok");
    } else {
        resp->status = 503;
        sl_buf_append_str(&resp->body, "informer caches not synced");
    }
}

static int exit_code_for(int rc)
{
    switch (rc) {
    case SL_EINVAL:
    case SL_ENOTFOUND:
        return SL_EXIT_USAGE;
    case SL_ERETRY:
    case SL_EAUTH:
        return SL_EXIT_REMOTE;
    default:
        return SL_EXIT_CHECK_FAILED;
    }
}

/* ---- the webhook's own certificate (--webhook-cert-secret) ---- */

/* Reads the Secret again every interval: every replica writes what it holds into the
 * certificate folder (the listener reloads it), the leader also renews it near expiry; a
 * change re-queues every DeployPolicy so the webhook configurations get the new caBundle.
 * With the webhook served, the leader also keeps the CA in the sealift.dev CRDs' conversion
 * webhook (checked every CRD_CA_CHECK_MS: re-applying the CRDs empties their caBundle, and
 * until it is back the API server cannot convert between v1alpha1 and v1beta1). */
#define CRD_CA_CHECK_MS  (60 * 1000)
#define CRD_CA_LEADER_MS (2 * 1000) /* how often a replica looks whether it became the leader */

struct cert_keeper {
    struct sl_kube_ops kube;
    struct sl_manager *mgr;
    const char *ns;
    const char *secret; /* NULL: no --webhook-cert-secret, only the CRDs' caBundle */
    const char *dir;
    int64_t interval_ms;
    bool publish_crds;
    char crd_error[sizeof(
        ((struct sl_err *)0)->msg)]; /* the last one logged, so that a lasting one is logged once */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    bool started;
    pthread_t thread;
};

static void cert_keeper_requeue_policies(struct sl_manager *mgr)
{
    struct sl_informer *inf = sl_manager_informer(mgr, "DeployPolicy");
    if (!inf)
        return;
    json_t *items = sl_informer_list(inf);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
        sl_manager_enqueue(mgr, "DeployPolicy", NULL, name);
    }
    json_decref(items);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes the CA into the CRDs when this replica leads; returns when to look again. */
static int64_t cert_keeper_publish_crds(struct cert_keeper *k, int64_t now)
{
    if (!sl_manager_is_leader(k->mgr))
        return now + CRD_CA_LEADER_MS;
    struct sl_err err = {0};
    int rc = sl_webhookcert_publish_crd_ca(&k->kube, k->ns, k->dir, NULL, &err);
    if (rc != 0 && strcmp(err.msg, k->crd_error) != 0)
        sl_log_kv(SL_LOG_ERROR, NULL, "writing the CA into the CRDs' conversion webhook", "error",
                  err.msg, NULL);
    else if (rc == 0 && k->crd_error[0])
        sl_log_kv(SL_LOG_INFO, NULL, "the CRDs' conversion webhook has the CA again", NULL);
    snprintf(k->crd_error, sizeof(k->crd_error), "%s", rc != 0 ? err.msg : "");
    return now + CRD_CA_CHECK_MS;
}

static void *cert_keeper_run(void *arg)
{
    struct cert_keeper *k = arg;
    int64_t next_secret = mono_ms() + k->interval_ms;
    int64_t next_crds = mono_ms(); /* as soon as this replica leads */
    pthread_mutex_lock(&k->lock);
    while (!k->stop) {
        int64_t next = k->secret ? next_secret : INT64_MAX;
        if (k->publish_crds && next_crds < next)
            next = next_crds;
        int64_t wait_ms = next - mono_ms();
        if (wait_ms > 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &until) == 0)
                ;
        }
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->lock);
        int64_t now = mono_ms();
        bool changed = false;
        if (k->secret && now >= next_secret) {
            struct sl_err err = {0};
            bool leader = sl_manager_is_leader(k->mgr);
            struct sl_webhookcert_sync_opts so = {.kube = &k->kube,
                                                  .ns = k->ns,
                                                  .secret_name = k->secret,
                                                  .cert_dir = k->dir,
                                                  .may_renew = leader,
                                                  .may_replace = leader,
                                                  .now = time(NULL)};
            if (sl_webhookcert_sync(&so, &changed, &err) != 0)
                sl_log_kv(SL_LOG_ERROR, NULL, "keeping the webhook serving certificate", "secret",
                          k->secret, "error", err.msg, NULL);
            if (changed) {
                sl_log_kv(SL_LOG_INFO, NULL, "webhook certificate files updated", "dir", k->dir,
                          NULL);
                cert_keeper_requeue_policies(k->mgr);
            }
            next_secret = now + k->interval_ms;
        }
        if (k->publish_crds && (changed || now >= next_crds))
            next_crds = cert_keeper_publish_crds(k, now);
        pthread_mutex_lock(&k->lock);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

static int cert_keeper_start(struct cert_keeper *k, struct sl_err *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&k->lock, NULL);
    int e = pthread_create(&k->thread, NULL, cert_keeper_run, k);
    if (e != 0) {
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "starting the certificate thread: %s",
                          strerror(e));
    }
    k->started = true;
    return 0;
}

static void cert_keeper_stop(struct cert_keeper *k)
{
    if (!k->started)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
    k->started = false;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread, see below). */
static int wait_for_signal(const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig > 0)
            return sig;
        if (errno != EINTR)
            return -1;
    }
}

int sl_cmd_controller(int argc, char **argv, const struct sl_controller_wiring *wiring)
{
    struct controller_args a;
    struct sl_err err = {0};
    struct sl_kube_config *cfg = NULL;
    struct sl_kube_client *client = NULL;
    struct sl_manager *mgr = NULL;
    struct sl_http_server *http = NULL;
    struct sl_http_server *webhook = NULL;
    struct sl_metrics *metrics = NULL;
    struct sl_http_metrics_source metrics_source = {.render = render_metrics};
    struct sl_reconciler **recs = NULL;
    size_t nrecs = 0;
    struct cert_keeper keeper = {0};
    bool leak = false;
    int rc;
    /* the controller holds registry passwords, signing keys and API tokens: no core dumps, and
     * other processes of the same user cannot ptrace it or read /proc/PID/mem */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        sl_cli_errorf(CMD, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
        return SL_EXIT_CHECK_FAILED;
    }
    int code = parse_args(&a, argc, argv);
    if (code >= 0)
        return code;
    code = SL_EXIT_CHECK_FAILED;
    sl_log_set_level(a.log_level);
    char bad[320];
    if (sl_transport_set_connect_to(a.connect_to, a.n_connect_to, bad, sizeof(bad)) != 0) {
        sl_cli_errorf(CMD, "--connect-to wants HOST:PORT:CONNECT-HOST:CONNECT-PORT, got \"%s\"",
                      bad);
        return SL_EXIT_USAGE;
    }

    /* every thread started from here on inherits the blocked signals; the main thread takes
     * them with sigwaitinfo, so no handler runs in the middle of a worker */
    sigset_t sigs, old_sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old_sigs);
    signal(SIGPIPE, SIG_IGN);

    rc = sl_kube_config_load(&cfg, a.kubeconfig, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "loading Kubernetes configuration: %s", err.msg);
        code = SL_EXIT_USAGE;
        goto done;
    }
    /* the API server names the field manager of a write after the User-Agent up to its first
     * '/': each shard's writes show in managedFields as "sealift-shard-<key>" */
    char user_agent[128];
    snprintf(user_agent, sizeof(user_agent), "sealift%s%s/%s", a.shard ? "-shard-" : "",
             a.shard ? a.shard : "", SL_VERSION);
    rc = sl_kube_client_new(&client, cfg, user_agent, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "creating Kubernetes client: %s", err.msg);
        code = exit_code_for(rc);
        goto done;
    }
    const char *ns = a.ns;
    if (!ns || !*ns)
        ns = getenv("POD_NAMESPACE");
    if (!ns || !*ns)
        ns = sl_kube_client_namespace(client);
    if (!ns || !*ns)
        ns = "default";

    metrics = sl_metrics_new();
    metrics_source.ctx = metrics;
    struct sl_manager_opts mo = {.controller_namespace = ns,
                                 .shard = a.shard,
                                 .concurrency = a.concurrency,
                                 .leader_elect = a.leader_elect,
                                 .webhook_addr = a.webhook_addr,
                                 .webhook_cert_dir = a.webhook_cert_dir,
                                 .metrics = metrics};
    sl_kube_ops_from_client(&mo.kube, client);
    sl_list_watcher_from_client(&mo.lw, client);
    rc = sl_manager_new(&mgr, &mo, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    struct sl_controller_config cc = {.state_dir = a.state_dir,
                                      .webhook_cert_dir = a.webhook_cert_dir,
                                      .webhook_client_auth = a.webhook_client_ca != NULL,
                                      .webhook_service_port = a.webhook_service_port,
                                      .insecure_registries = a.insecure,
                                      .n_insecure_registries = a.n_insecure,
                                      .allow_local_paths = a.allow_local_paths,
                                      .min_interval_ms = a.min_interval_ms,
                                      .registry_timeout_ms = a.registry_timeout_ms,
                                      .image_parallel_copies = a.image_parallel_copies,
                                      .webhook_cache_ttl_ms = a.webhook_cache_ttl_ms,
                                      .scanner_urls = a.scanner_urls,
                                      .n_scanner_urls = a.n_scanner_urls,
                                      .workload_identity = a.workload_identity};
    rc = wiring->reconcilers ? wiring->reconcilers(wiring->ctx, &cc, &recs, &nrecs, &err) : 0;
    if (rc != 0) {
        sl_cli_errorf(CMD, "creating reconcilers: %s", err.msg);
        goto done;
    }
    for (size_t i = 0; i < nrecs; i++) {
        const char *kind = recs[i] && recs[i]->kind ? recs[i]->kind : "(unnamed)";
        char kind_copy[64];
        snprintf(kind_copy, sizeof(kind_copy), "%s", kind);
        rc = sl_manager_add(mgr, recs[i], &err);
        recs[i] = NULL;
        if (rc != 0) {
            sl_cli_errorf(CMD, "adding reconciler %s: %s", kind_copy, err.msg);
            goto done;
        }
    }

    if (a.webhook_cert_secret) {
        /* before the listener loads the files: a starting replica creates a missing Secret
         * or replaces an unusable one (it has nothing to serve otherwise; the API server
         * settles a race by resourceVersion); afterwards only the leader writes (the keeper) */
        sl_kube_ops_from_client(&keeper.kube, client);
        struct sl_webhookcert_sync_opts so = {.kube = &keeper.kube,
                                              .ns = ns,
                                              .secret_name = a.webhook_cert_secret,
                                              .cert_dir = a.webhook_cert_dir,
                                              .may_renew = !a.leader_elect,
                                              .may_replace = true,
                                              .now = time(NULL)};
        rc = sl_webhookcert_sync(&so, NULL, &err);
        if (rc != 0) {
            sl_cli_errorf(CMD, "--webhook-cert-secret %s: %s", a.webhook_cert_secret, err.msg);
            code = exit_code_for(rc == SL_ENOTFOUND ? SL_EFAIL : rc);
            goto done;
        }
        keeper.secret = a.webhook_cert_secret;
    }

    struct sl_http_server_opts ho = {.addr = a.metrics_addr};
    rc = sl_http_server_new(&http, &ho, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "--metrics-addr %s: %s", a.metrics_addr, err.msg);
        code = SL_EXIT_USAGE;
        goto done;
    }
    sl_http_server_route(http, "GET", "/metrics", sl_http_handle_metrics, &metrics_source);
    sl_http_server_route(http, "GET", "/healthz", handle_healthz, NULL);
    sl_http_server_route(http, "GET", "/readyz", handle_readyz, mgr);
    sl_manager_set_http(mgr, http);
    if (a.webhook_addr) {
        char cert[4096], key[4096];
        snprintf(cert, sizeof(cert), "%s/tls.crt", a.webhook_cert_dir);
        snprintf(key, sizeof(key), "%s/tls.key", a.webhook_cert_dir);
        struct sl_http_server_opts wo = {.addr = a.webhook_addr,
                                         .tls_cert_file = cert,
                                         .tls_key_file = key,
                                         .tls_client_ca_file = a.webhook_client_ca,
                                         .tls_client_name = a.webhook_client_name,
                                         /* a ConversionReview holds a whole list */
                                         .max_body_bytes = SL_API_REVIEW_MAX_BYTES};
        if (!a.webhook_client_ca)
            sl_log_warn(NULL, "the admission webhook accepts callers without a client "
                              "certificate (no --webhook-client-ca): its denials say only "
                              "\"not verified\", but anyone who reaches the port can ask it to "
                              "check images with a namespace's pull Secrets");
        rc = sl_http_server_new(&webhook, &wo, &err);
        if (rc != 0) {
            sl_cli_errorf(CMD, "--webhook-addr %s: %s", a.webhook_addr, err.msg);
            code = SL_EXIT_USAGE;
            goto done;
        }
        /* liveness of the webhook listener itself (TLS, its own event loop) for probes, which
         * present no client certificate */
        sl_http_server_route_anonymous(webhook, "GET", "/healthz", handle_healthz, NULL);
        /* the CRDs' conversion between sealift.dev versions, same TLS and certificate; without
         * a client certificate even with --webhook-client-ca, as kube-apiserver calls
         * conversion webhooks with none (it answers from the request body alone: no Secret, no
         * registry, nothing done on the caller's behalf) */
        sl_http_server_route_anonymous(webhook, "POST", "/convert", handle_convert, NULL);
    }
    /* reconcilers that serve routes (git push hooks, the admission webhook) add them now */
    rc = wiring->setup_servers ? wiring->setup_servers(wiring->ctx, mgr, http, webhook, &err) : 0;
    if (rc != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (webhook) {
        rc = sl_http_server_start(webhook, &err);
        if (rc != 0) {
            sl_cli_errorf(CMD, "serving the admission webhook on %s: %s", a.webhook_addr, err.msg);
            goto done;
        }
        sl_log_kv(SL_LOG_INFO, NULL, "serving the admission webhook", "webhookAddr",
                  sl_http_server_addr(webhook), NULL);
    }
    rc = sl_http_server_start(http, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "serving metrics on %s: %s", a.metrics_addr, err.msg);
        goto done;
    }
    sl_log_kv(SL_LOG_INFO, NULL, "serving metrics and health probes", "metricsAddr",
              sl_http_server_addr(http), NULL);

    rc = sl_manager_start(mgr, &err);
    if (rc != 0) {
        sl_cli_errorf(CMD, "starting the manager: %s", err.msg);
        leak = sl_manager_stop(mgr) != 0;
        goto done;
    }
    if (a.webhook_cert_secret || a.webhook_addr) {
        keeper.mgr = mgr;
        keeper.ns = ns;
        keeper.dir = a.webhook_cert_dir;
        keeper.interval_ms = a.webhook_cert_check_ms;
        keeper.publish_crds = a.webhook_addr != NULL && a.webhook_cert_dir != NULL;
        if (!a.webhook_cert_secret)
            sl_kube_ops_from_client(&keeper.kube, client);
        rc = cert_keeper_start(&keeper, &err);
        if (rc != 0) {
            sl_cli_errorf(CMD, "%s", err.msg);
            leak = sl_manager_stop(mgr) != 0;
            goto done;
        }
    }
    sl_log_kv(SL_LOG_INFO, NULL, "controller started", "namespace", ns, "shard", a.shard,
              "leaderElection", a.leader_elect ? "true" : "false", NULL);

    int sig = wait_for_signal(&sigs);
    sl_log_kv(SL_LOG_INFO, NULL, "shutting down", "signal",
              sig == SIGINT    ? "SIGINT"
              : sig == SIGTERM ? "SIGTERM"
                               : "unknown",
              NULL);
    cert_keeper_stop(&keeper); /* it reads the manager's leadership and informers */
    if (sl_manager_stop(mgr) != 0) {
        leak = true;
        code = SL_EXIT_CHECK_FAILED;
        goto done;
    }
    code = SL_EXIT_OK;
done:
    cert_keeper_stop(&keeper);
    if (http)
        sl_http_server_stop(http);
    if (webhook)
        sl_http_server_stop(webhook);
    if (leak) {
        /* a reconcile is still running on some thread: freeing under it would be worse than
         * letting the process exit with its memory */
        sl_log_error(NULL, "exiting with reconciles still running");
        return code;
    }
    for (size_t i = 0; recs && i < nrecs; i++)
        sl_reconciler_free(recs[i]);
    free(recs);
    sl_manager_free(mgr);
    if (wiring->teardown)
        wiring->teardown(wiring->ctx);
    sl_http_server_free(http);
    sl_http_server_free(webhook);
    sl_kube_client_free(client);
    sl_kube_config_free(cfg);
    sl_metrics_free(metrics);
    if (code == SL_EXIT_OK)
        sl_log_info(NULL, "controller stopped");
    pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
    return code;
}
