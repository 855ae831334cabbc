/* `sealift policy render FILE [-o yaml|json]`: DeployPolicy -> every object the controller
 * creates for it, after the checks the API server makes. */
#include "policy/cmd_policy.h"
#include "cli/commands.h"
#include "policy/render.h"
#include "util/buf.h"
#include "util/yamljson.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(struct sl_buf *out, const char *path, struct sl_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_OS, "cannot open %s: %s", path,
                          strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(out, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s is larger than 16 MiB", path);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot read %s", path);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* Field problems reported per document; more are not looked for. */
#define MAX_FIELD_PROBLEMS 20

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sealift policy render FILE [-o yaml|json] [--controller-namespace NS]\n"
            "  Renders each DeployPolicy in FILE (YAML or JSON, several documents allowed;\n"
            "  '-' reads stdin) into every object the controller creates for it and prints\n"
            "  them: a ValidatingAdmissionPolicy and its Binding for the rules CEL decides,\n"
            "  Gatekeeper objects with outputs: [Gatekeeper], and the\n"
            "  ValidatingWebhookConfiguration for spec.verifyImages (its\n"
            "  clientConfig.caBundle is left out: the controller fills it from the CA in\n"
            "  --webhook-cert-dir).\n"
            "  FILE is checked as the API server checks it: a field the DeployPolicy schema\n"
            "  does not name (e.g. allowedRegistry for allowedRegistries), a value of the wrong\n"
            "  type or outside its enum is an error naming FILE:LINE and the field.\n"
            "  allowedRegistries entries match on reference boundaries, never as globs or raw\n"
            "  prefixes: \"host[:port]\" admits every repository on that host and port,\n"
            "  \"host/path\" the repositories below path and path itself (:tag, @digest);\n"
            "  registry.example/mirror admits registry.example/mirror/app, not\n"
            "  registry.example/mirror-evil/app. A trailing '/' changes nothing.\n"
            "  -o, --output yaml|json: YAML documents (default) or one JSON List.\n"
            "  --controller-namespace NS: the namespace sealift runs in, exempted with\n"
            "  kube-system unless the policy sets includeSystemNamespaces (default\n"
            "  " SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE ").\n"
            "  A policy that renders nothing (no rules) is a warning on stderr.\n"
            "  -h, --help: print this help.\n"
            "  Exit codes: 0 rendered (warnings on stderr), 2 usage error or invalid policy.\n"
            "  Example: sealift policy render examples/deploypolicy.yaml | kubectl diff -f -\n");
}

/* Prints "sealift policy render: FILE:LINE: <message>" for a problem at path in doc. */
static void doc_error(const char *file, const struct sl_yaml_doc *doc, const char *path,
                      const char *msg)
{
    sl_cli_errorf("policy render", "%s:%zu: %s", file, sl_yaml_doc_line(doc, path), msg);
}

/* The field path an error message of sl_policy_render starts with ("spec.rules.x[0]: ..."),
 * copied into path; "" when the message does not start with one. */
static void message_path(char *path, size_t size, const char *msg)
{
    const char *end = strstr(msg, ": ");
    size_t n = end ? (size_t)(end - msg) : 0;
    if (!end || n >= size || strchr(msg, ' ') < end ||
        (strncmp(msg, "spec", 4) != 0 && strncmp(msg, "metadata", 8) != 0))
        n = 0;
    memcpy(path, msg, n);
    path[n] = '\0';
}

/* Renders one DeployPolicy document into all (the objects the controller creates for it).
 * Returns SL_EXIT_OK (warnings printed) or SL_EXIT_USAGE (error printed). */
static int render_doc(json_t *all, const char *file, const struct sl_yaml_doc *doc,
                      const char *controller_ns)
{
    struct sl_err err = {0};
    /* every misspelling at once, as kubectl lists them (bounded) */
    struct sl_policy_field_problem problems[MAX_FIELD_PROBLEMS];
    size_t n = sl_policy_check_fields(problems, MAX_FIELD_PROBLEMS, doc->value);
    for (size_t i = 0; i < n; i++)
        doc_error(file, doc, problems[i].path, problems[i].msg);
    if (n)
        return SL_EXIT_USAGE;
    char path[256];
    json_t *objs = NULL;
    if (sl_policy_render(&objs, doc->value, controller_ns, &err) != 0) {
        message_path(path, sizeof(path), err.msg);
        doc_error(file, doc, path, err.msg);
        return SL_EXIT_USAGE;
    }
    if (sl_policy_needs_webhook(doc->value)) {
        struct sl_policy_webhook_opts wo = {.service_namespace =
                                                SL_POLICY_WEBHOOK_SERVICE_NAMESPACE,
                                            .service_name = SL_POLICY_WEBHOOK_SERVICE_NAME,
                                            .service_port = SL_POLICY_WEBHOOK_SERVICE_PORT,
                                            .controller_namespace = controller_ns,
                                            .timeout_seconds = SL_ADMISSION_TIMEOUT_S};
        json_array_append_new(objs, sl_policy_render_webhook(doc->value, &wo));
        doc_error(file, doc, "spec.rules",
                  "note: the ValidatingWebhookConfiguration is printed without "
                  "clientConfig.caBundle; the controller adds the CA from its "
                  "--webhook-cert-dir");
    }
    if (json_array_size(objs) == 0)
        doc_error(file, doc, "spec.rules",
                  "warning: DeployPolicy renders nothing: the policy checks nothing (no rule "
                  "is set in spec.rules)");
    json_array_extend(all, objs);
    json_decref(objs);
    return SL_EXIT_OK;
}

int sl_cmd_policy(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return SL_EXIT_OK;
    }
    if (argc < 3 || strcmp(argv[1], "render") != 0) {
        usage(stderr);
        return SL_EXIT_USAGE;
    }
    const char *file = NULL;
    const char *format = "yaml";
    const char *controller_ns = SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE;
    enum { OPT_CONTROLLER_NS = 256 };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"controller-namespace", required_argument, NULL, OPT_CONTROLLER_NS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* the options of `render` start after it: argv[1] is the sub-subcommand */
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(sub_argc, sub_argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            format = optarg;
            break;
        case OPT_CONTROLLER_NS:
            controller_ns = optarg;
            break;
        case 'h':
            usage(stdout);
            return SL_EXIT_OK;
        case ':':
            sl_cli_errorf("policy render", "%s needs a value", sub_argv[optind - 1]);
            return SL_EXIT_USAGE;
        default:
            sl_cli_errorf("policy render", "unknown flag \"%s\"", sub_argv[optind - 1]);
            usage(stderr);
            return SL_EXIT_USAGE;
        }
    }
    if (optind < sub_argc)
        file = sub_argv[optind++];
    if (optind < sub_argc) {
        sl_cli_errorf("policy render", "only one FILE may be given");
        return SL_EXIT_USAGE;
    }
    if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
        sl_cli_errorf("policy render",
                      "unknown output format \"%.100s\" (-o): supported: yaml, json", format);
        return SL_EXIT_USAGE;
    }
    if (!file) {
        sl_cli_errorf("policy render", "no FILE given (use - for stdin)");
        usage(stderr);
        return SL_EXIT_USAGE;
    }

    struct sl_err err = {0};
    struct sl_buf in, out;
    sl_buf_init(&in, 0);
    sl_buf_init(&out, 0);
    struct sl_yaml_doc *docs = NULL;
    size_t ndocs = 0;
    json_t *all = json_array();
    int exit_code = SL_EXIT_OK;

    if (read_file(&in, file, &err) != 0 ||
        sl_yaml_parse_all_lines(&docs, &ndocs, in.data ? in.data : "", in.len, &err) != 0) {
        sl_cli_errorf("policy render", "%s: %s", file, err.msg);
        exit_code = SL_EXIT_USAGE;
        goto done;
    }
    size_t policies = 0;
    for (size_t i = 0; i < ndocs; i++) {
        const json_t *doc = docs[i].value;
        if (!doc)
            continue;
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        if (!kind || strcmp(kind, "DeployPolicy") != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "expected kind DeployPolicy, got %.100s",
                     kind ? kind : "no kind");
            doc_error(file, &docs[i], "kind", msg);
            exit_code = SL_EXIT_USAGE;
            goto done;
        }
        /* a missing apiVersion is taken as sealift's; another one the API server does not
         * serve for this kind */
        const json_t *api_version = json_object_get(doc, "apiVersion");
        if (api_version && !json_is_null(api_version) &&
            (!json_is_string(api_version) ||
             strcmp(json_string_value(api_version), SL_POLICY_API_VERSION) != 0)) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "apiVersion: Unsupported value: \"%.100s\": DeployPolicy is served as "
                     "\"" SL_POLICY_API_VERSION "\"",
                     json_is_string(api_version) ? json_string_value(api_version)
                                                 : "(not a string)");
            doc_error(file, &docs[i], "apiVersion", msg);
            exit_code = SL_EXIT_USAGE;
            goto done;
        }
        exit_code = render_doc(all, file, &docs[i], controller_ns);
        if (exit_code != SL_EXIT_OK)
            goto done;
        policies++;
    }
    if (policies == 0) {
        sl_cli_errorf("policy render", "%s: no DeployPolicy found", file);
        exit_code = SL_EXIT_USAGE;
        goto done;
    }
    if (strcmp(format, "json") == 0) {
        json_t *list =
            json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", all);
        char *s = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(list);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        size_t i;
        json_t *o;
        json_array_foreach(all, i, o)
        {
            if (sl_yaml_emit(&out, o, 1, &err) != 0) {
                sl_cli_errorf("policy render", "%s", err.msg);
                exit_code = SL_EXIT_USAGE;
                goto done;
            }
        }
        fwrite(sl_buf_cstr(&out), 1, out.len, stdout);
    }
done:
    json_decref(all);
    sl_yaml_docs_free(docs, ndocs);
    sl_buf_free(&in);
    sl_buf_free(&out);
    return exit_code;
}
