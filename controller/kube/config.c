/* Kubernetes client configuration: kubeconfig files (YAML) and in-cluster service accounts. */
#include "kube/client.h"
#include "kube/internal.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define KUBECONFIG_MAX  ((size_t)16 << 20)
#define CONFIG_FILE_MAX ((size_t)4 << 20)
#define YAML_MAX_DEPTH  64
#define DEFAULT_SA_DIR  "/var/run/secrets/kubernetes.io/serviceaccount"

/* ---- files ---- */

int sl_kube_read_file(char **out, size_t *out_len, const char *path, size_t max_bytes,
                      struct sl_err *err)
{
    int rc = 0;
    struct sl_buf buf;
    sl_buf_init(&buf, max_bytes);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return sl_kube_fail(err, e == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS, "%s: %s", path,
                            strerror(e));
    }
    /* a FIFO or device named in a kubeconfig must not block or stream forever */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_OS, "%s: not a regular file", path);
        goto done;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&buf, chunk, n) != 0) {
            rc = sl_kube_fail(err, SL_ETOOBIG, SL_ERRC_OS, "%s: larger than %zu bytes", path,
                              max_bytes);
            goto done;
        }
    }
    if (ferror(f)) {
        rc = sl_kube_fail(err, SL_EFAIL, SL_ERRC_OS, "%s: read error", path);
        goto done;
    }
    *out = sl_buf_steal(&buf, out_len);
done:
    fclose(f);
    /* files read here may hold tokens or keys */
    sl_buf_secure_free(&buf);
    return rc;
}

/* ---- YAML to JSON (all scalars become strings; booleans are interpreted where used) ---- */

struct yaml_reader {
    yaml_parser_t parser;
    const char *origin;
    struct sl_err *err;
};

static int yaml_fail(struct yaml_reader *r)
{
    const char *problem = r->parser.problem ? r->parser.problem : "parse error";
    return sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML, "%s: invalid YAML at line %zu: %s",
                        r->origin, r->parser.problem_mark.line + 1, problem);
}

static int yaml_next(struct yaml_reader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->parser, ev))
        return yaml_fail(r);
    return 0;
}

/* Reads the node that starts with ev (consumed) into *out. */
static int yaml_node(struct yaml_reader *r, yaml_event_t *ev, json_t **out, int depth)
{
    int rc = 0;
    json_t *node = NULL;
    yaml_event_t sub;
    if (depth > YAML_MAX_DEPTH) {
        rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML, "%s: YAML nested too deeply at line %zu",
                          r->origin, ev->start_mark.line + 1);
        goto done;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (plain && (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0))
            node = json_null();
        else
            node = json_stringn(v, len);
        if (!node) {
            rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML, "%s: invalid UTF-8 at line %zu",
                              r->origin, ev->start_mark.line + 1);
            goto done;
        }
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        node = json_array();
        for (;;) {
            if ((rc = yaml_next(r, &sub)) != 0)
                goto done;
            if (sub.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&sub);
                break;
            }
            json_t *item = NULL;
            rc = yaml_node(r, &sub, &item, depth + 1);
            if (rc != 0)
                goto done;
            json_array_append_new(node, item);
        }
        break;
    case YAML_MAPPING_START_EVENT:
        node = json_object();
        for (;;) {
            if ((rc = yaml_next(r, &sub)) != 0)
                goto done;
            if (sub.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&sub);
                break;
            }
            if (sub.type != YAML_SCALAR_EVENT) {
                rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML,
                                  "%s: unsupported non-scalar mapping key at line %zu", r->origin,
                                  sub.start_mark.line + 1);
                yaml_event_delete(&sub);
                goto done;
            }
            char *key = sl_xstrndup((const char *)sub.data.scalar.value, sub.data.scalar.length);
            yaml_event_delete(&sub);
            if ((rc = yaml_next(r, &sub)) != 0) {
                free(key);
                goto done;
            }
            json_t *value = NULL;
            rc = yaml_node(r, &sub, &value, depth + 1);
            if (rc == 0 && json_object_set_new(node, key, value) != 0)
                rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML, "%s: invalid mapping key",
                                  r->origin);
            free(key);
            if (rc != 0)
                goto done;
        }
        break;
    case YAML_ALIAS_EVENT:
        rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML,
                          "%s: YAML aliases are not supported (line %zu)", r->origin,
                          ev->start_mark.line + 1);
        goto done;
    default:
        rc = sl_kube_fail(r->err, SL_EINVAL, SL_ERRC_YAML, "%s: unexpected YAML event at line %zu",
                          r->origin, ev->start_mark.line + 1);
        goto done;
    }
    *out = node;
    node = NULL;
done:
    yaml_event_delete(ev);
    json_decref(node);
    return rc;
}

/* Parses the first YAML document of data into a JSON tree (NULL document -> json null). */
static int yaml_to_json(json_t **out, const char *data, size_t len, const char *origin,
                        struct sl_err *err)
{
    struct yaml_reader r = {.origin = origin, .err = err};
    yaml_event_t ev;
    int rc = 0;
    json_t *doc = NULL;
    if (!yaml_parser_initialize(&r.parser))
        return sl_kube_fail(err, SL_EFAIL, SL_ERRC_YAML, "yaml parser init failed");
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)data, len);
    /* stream start, then document start or stream end */
    for (;;) {
        if ((rc = yaml_next(&r, &ev)) != 0)
            goto done;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            doc = json_null();
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        rc = yaml_node(&r, &ev, &doc, 0);
        if (rc != 0)
            goto done;
        /* the rest of the document must still be well-formed */
        if ((rc = yaml_next(&r, &ev)) != 0)
            goto done;
        yaml_event_delete(&ev);
        break;
    }
    *out = doc;
    doc = NULL;
done:
    json_decref(doc);
    yaml_parser_delete(&r.parser);
    return rc;
}

/* ---- kubeconfig ---- */

static bool yaml_true(const json_t *v)
{
    const char *s = json_string_value(v);
    if (json_is_true(v))
        return true;
    return s &&
           (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0);
}

static const char *str_field(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

/* Finds {name: X, <inner>: {...}} in a named list and returns the inner object (an entry
 * without one counts as empty: a shared empty object), or NULL when there is no such entry. */
static json_t *named_entry(const json_t *doc, const char *list, const char *inner, const char *name,
                           json_t *empty)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, list), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0) {
            json_t *v = json_object_get(e, inner);
            return json_is_object(v) ? v : empty;
        }
    }
    return NULL;
}

static char *resolve_path(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir || !*base_dir)
        return sl_xstrdup(path);
    return sl_xasprintf("%s/%s", base_dir, path);
}

/* Decodes standard (or URL-safe) base64, ignoring whitespace; padding optional. */
static int base64_decode(char **out, const char *in)
{
    unsigned char *dst = NULL;
    size_t n = 0;
    int rc = sl_base64_decode_opts(&dst, &n, in, strlen(in),
                                   SL_BASE64_SPACE | SL_BASE64_URLSAFE | SL_BASE64_NOPAD);
    if (rc == 0)
        *out = (char *)dst;
    return rc;
}

/* Takes a value either inline (base64 data field) or from a file field. *out stays NULL when
 * neither is set. */
static int load_data_or_file(char **out, const json_t *obj, const char *data_key,
                             const char *file_key, const char *base_dir, const char *origin,
                             struct sl_err *err)
{
    const char *data = str_field(obj, data_key);
    const char *file = str_field(obj, file_key);
    if (data) {
        if (base64_decode(out, data) != 0)
            return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s: %s is not valid base64", origin,
                                data_key);
        return 0;
    }
    if (file) {
        char *path = resolve_path(base_dir, file);
        int rc = sl_kube_read_file(out, NULL, path, CONFIG_FILE_MAX, err);
        if (rc != 0)
            sl_err_prefix(err, "%s: %s", origin, file_key);
        free(path);
        return rc;
    }
    return 0;
}

static void trim_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

int sl_kube_config_parse(struct sl_kube_config **out, const char *data, size_t len,
                         const char *base_dir, const char *origin, struct sl_err *err)
{
    int rc = 0;
    json_t *doc = NULL;
    json_t *empty = json_object();
    struct sl_kube_config *cfg = NULL;
    if (!origin)
        origin = "kubeconfig";
    if ((rc = yaml_to_json(&doc, data, len, origin, err)) != 0)
        goto done;
    if (!json_is_object(doc)) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                          "%s: not a kubeconfig (expected a mapping)", origin);
        goto done;
    }
    const char *current = str_field(doc, "current-context");
    if (!current) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s: current-context is not set", origin);
        goto done;
    }
    json_t *context = named_entry(doc, "contexts", "context", current, empty);
    if (!json_is_object(context)) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s: context \"%s\" not found", origin,
                          current);
        goto done;
    }
    const char *cluster_name = str_field(context, "cluster");
    json_t *cluster =
        cluster_name ? named_entry(doc, "clusters", "cluster", cluster_name, empty) : NULL;
    if (!json_is_object(cluster)) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                          "%s: cluster \"%s\" of context \"%s\" not found", origin,
                          cluster_name ? cluster_name : "", current);
        goto done;
    }
    const char *server = str_field(cluster, "server");
    if (!server) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT, "%s: cluster \"%s\" has no server", origin,
                          cluster_name);
        goto done;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                          "%s: cluster \"%s\": server must be an http:// or https:// URL", origin,
                          cluster_name);
        goto done;
    }
    const char *user_name = str_field(context, "user");
    json_t *user = NULL;
    if (user_name) {
        user = named_entry(doc, "users", "user", user_name, empty);
        if (!user) {
            rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                              "%s: user \"%s\" of context \"%s\" not found", origin, user_name,
                              current);
            goto done;
        }
    }

    cfg = sl_xcalloc(1, sizeof(*cfg));
    cfg->server = sl_xstrdup(server);
    /* "https://host:6443/" and "https://host:6443" name the same server */
    size_t slen = strlen(cfg->server);
    while (slen > 8 && cfg->server[slen - 1] == '/')
        cfg->server[--slen] = '\0';
    const char *ns = str_field(context, "namespace");
    cfg->namespace = sl_xstrdup(ns ? ns : "default");
    cfg->insecure_skip_tls_verify = yaml_true(json_object_get(cluster, "insecure-skip-tls-verify"));
    if ((rc = load_data_or_file(&cfg->ca_pem, cluster, "certificate-authority-data",
                                "certificate-authority", base_dir, origin, err)) != 0)
        goto done;
    if (json_is_object(user)) {
        if ((rc = load_data_or_file(&cfg->client_cert_pem, user, "client-certificate-data",
                                    "client-certificate", base_dir, origin, err)) != 0)
            goto done;
        if ((rc = load_data_or_file(&cfg->client_key_pem, user, "client-key-data", "client-key",
                                    base_dir, origin, err)) != 0)
            goto done;
        if (!cfg->client_cert_pem != !cfg->client_key_pem) {
            rc = sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                              "%s: user \"%s\" needs both a client certificate and a client key",
                              origin, user_name);
            goto done;
        }
        const char *token = str_field(user, "token");
        const char *token_file = str_field(user, "tokenFile");
        if (token) {
            cfg->token = sl_xstrdup(token);
        } else if (token_file) {
            cfg->token_file = resolve_path(base_dir, token_file);
            if ((rc = sl_kube_read_file(&cfg->token, NULL, cfg->token_file, CONFIG_FILE_MAX,
                                        err)) != 0) {
                sl_err_prefix(err, "%s: tokenFile", origin);
                goto done;
            }
            trim_trailing_space(cfg->token);
        }
        const char *username = str_field(user, "username");
        const char *password = json_string_value(json_object_get(user, "password"));
        if (username) {
            cfg->username = sl_xstrdup(username);
            cfg->password = sl_xstrdup(password ? password : "");
        }
        if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
            if (!cfg->token && !cfg->client_cert_pem && !cfg->username) {
                rc = sl_kube_fail(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                                  "%s: user \"%s\": exec and auth-provider credentials are not "
                                  "supported",
                                  origin, user_name);
                goto done;
            }
        }
    }
    *out = cfg;
    cfg = NULL;
done:
    json_decref(doc);
    json_decref(empty);
    sl_kube_config_free(cfg);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return sl_xstrdup(".");
    if (slash == path)
        return sl_xstrdup("/");
    return sl_xstrndup(path, (size_t)(slash - path));
}

static int load_kubeconfig_file(struct sl_kube_config **out, const char *path, struct sl_err *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = sl_kube_read_file(&data, &len, path, KUBECONFIG_MAX, err);
    if (rc != 0) {
        if (rc != SL_ENOTFOUND)
            return rc;
        return sl_kube_fail(err, SL_ENOTFOUND, SL_ERRC_INPUT, "kubeconfig %s does not exist", path);
    }
    char *dir = dir_of(path);
    rc = sl_kube_config_parse(out, data, len, dir, path, err);
    free(dir);
    /* kubeconfigs hold tokens and keys */
    sl_secure_free(data, len);
    return rc;
}

int sl_kube_config_from_service_account(struct sl_kube_config **out, const char *dir,
                                        const char *host, const char *port, struct sl_err *err)
{
    int rc = 0;
    struct sl_kube_config *cfg = NULL;
    char *path = NULL;
    if (!host || !*host || !port || !*port)
        return sl_kube_fail(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                            "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                            "KUBERNETES_SERVICE_PORT are not set");
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return sl_kube_fail(err, SL_EINVAL, SL_ERRC_INPUT,
                            "KUBERNETES_SERVICE_PORT \"%s\" is not a port number", port);
    cfg = sl_xcalloc(1, sizeof(*cfg));
    bool ipv6 = strchr(host, ':') != NULL && host[0] != '[';
    cfg->server = sl_xasprintf(ipv6 ? "https://[%s]:%s" : "https://%s:%s", host, port);

    cfg->token_file = sl_xasprintf("%s/token", dir);
    if ((rc = sl_kube_read_file(&cfg->token, NULL, cfg->token_file, CONFIG_FILE_MAX, err)) != 0) {
        sl_err_prefix(err, "service account token");
        goto done;
    }
    trim_trailing_space(cfg->token);

    path = sl_xasprintf("%s/ca.crt", dir);
    rc = sl_kube_read_file(&cfg->ca_pem, NULL, path, CONFIG_FILE_MAX, err);
    if (rc != 0) {
        sl_err_prefix(err, "service account CA");
        goto done;
    }
    free(path);

    path = sl_xasprintf("%s/namespace", dir);
    rc = sl_kube_read_file(&cfg->namespace, NULL, path, CONFIG_FILE_MAX, err);
    if (rc == SL_ENOTFOUND) {
        cfg->namespace = sl_xstrdup("default");
        rc = 0;
        sl_err_clear(err);
    } else if (rc != 0) {
        goto done;
    } else {
        trim_trailing_space(cfg->namespace);
        if (!*cfg->namespace) {
            free(cfg->namespace);
            cfg->namespace = sl_xstrdup("default");
        }
    }
    *out = cfg;
    cfg = NULL;
done:
    free(path);
    sl_kube_config_free(cfg);
    return rc;
}

int sl_kube_config_in_cluster(struct sl_kube_config **out, struct sl_err *err)
{
    const char *dir = getenv("SEALIFT_SERVICEACCOUNT_DIR");
    return sl_kube_config_from_service_account(out, dir && *dir ? dir : DEFAULT_SA_DIR,
                                               getenv("KUBERNETES_SERVICE_HOST"),
                                               getenv("KUBERNETES_SERVICE_PORT"), err);
}

int sl_kube_config_load(struct sl_kube_config **out, const char *kubeconfig_path,
                        struct sl_err *err)
{
    if (kubeconfig_path && *kubeconfig_path)
        return load_kubeconfig_file(out, kubeconfig_path, err);

    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        /* first non-empty entry of a colon-separated list */
        const char *p = env;
        while (*p == ':')
            p++;
        if (*p) {
            size_t n = strcspn(p, ":");
            char *path = sl_xstrndup(p, n);
            int rc = load_kubeconfig_file(out, path, err);
            free(path);
            return rc;
        }
    }

    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if (host && *host)
        return sl_kube_config_in_cluster(out, err);

    const char *home = getenv("HOME");
    if (home && *home) {
        char *path = sl_xasprintf("%s/.kube/config", home);
        struct stat st;
        int rc = SL_ENOTFOUND;
        if (stat(path, &st) == 0)
            rc = load_kubeconfig_file(out, path, err);
        free(path);
        if (rc != SL_ENOTFOUND)
            return rc;
    }
    return sl_kube_fail(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a "
                        "cluster or create ~/.kube/config");
}

struct sl_kube_config *sl_kube_config_dup(const struct sl_kube_config *cfg)
{
    struct sl_kube_config *c = sl_xcalloc(1, sizeof(*c));
    c->server = sl_xstrdup(cfg->server);
    c->namespace = sl_xstrdup(cfg->namespace ? cfg->namespace : "default");
    c->token = sl_xstrdup(cfg->token);
    c->token_file = sl_xstrdup(cfg->token_file);
    c->ca_pem = sl_xstrdup(cfg->ca_pem);
    c->client_cert_pem = sl_xstrdup(cfg->client_cert_pem);
    c->client_key_pem = sl_xstrdup(cfg->client_key_pem);
    c->username = sl_xstrdup(cfg->username);
    c->password = sl_xstrdup(cfg->password);
    c->insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
    return c;
}

void sl_kube_config_free(struct sl_kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->namespace);
    sl_secure_free_str(cfg->token);
    free(cfg->token_file);
    free(cfg->ca_pem);
    free(cfg->client_cert_pem);
    sl_secure_free_str(cfg->client_key_pem);
    free(cfg->username);
    sl_secure_free_str(cfg->password);
    free(cfg);
}
