/* `sealift policy render FILE [-o yaml|json]`: DeployPolicy -> admission objects. */
#include "cli/commands.h"
#include "policy/render.h"
#include "util/buf.h"
#include "util/yamljson.h"

#include <errno.h>
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

static void usage(FILE *f)
{
    fprintf(f, "usage: sealift policy render FILE [-o yaml|json] [--controller-namespace NS]\n"
               "  Renders each DeployPolicy in FILE (YAML or JSON, several documents allowed;\n"
               "  '-' reads stdin) into ValidatingAdmissionPolicy/Binding objects (and\n"
               "  Gatekeeper objects with outputs: [Gatekeeper]) and prints them.\n"
               "  --controller-namespace NS: the namespace sealift runs in, exempted with\n"
               "  kube-system unless the policy sets includeSystemNamespaces (default\n"
               "  " SL_POLICY_DEFAULT_CONTROLLER_NAMESPACE ").\n");
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
    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(argv[i], "--controller-namespace") == 0 && i + 1 < argc) {
            controller_ns = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return SL_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            sl_cli_errorf("policy render", "unknown flag %s", argv[i]);
            return SL_EXIT_USAGE;
        } else if (!file) {
            file = argv[i];
        } else {
            sl_cli_errorf("policy render", "only one FILE may be given");
            return SL_EXIT_USAGE;
        }
    }
    if (!file || (strcmp(format, "yaml") && strcmp(format, "json"))) {
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
        sl_yaml_parse_all(&docs, &ndocs, in.data ? in.data : "", in.len, &err) != 0) {
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
            sl_cli_errorf("policy render", "%s: line %zu: expected kind DeployPolicy, got %s", file,
                          docs[i].line, kind ? kind : "no kind");
            exit_code = SL_EXIT_USAGE;
            goto done;
        }
        json_t *objs = NULL;
        if (sl_policy_render(&objs, doc, controller_ns, &err) != 0) {
            sl_cli_errorf("policy render", "%s: line %zu: %s", file, docs[i].line, err.msg);
            exit_code = SL_EXIT_USAGE;
            goto done;
        }
        json_array_extend(all, objs);
        json_decref(objs);
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
