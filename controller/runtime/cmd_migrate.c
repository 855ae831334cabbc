/* `sealift migrate`: manifests and stored objects to sealift.dev/v1beta1 (cmd_migrate.h,
 * docs/design/v1beta1.md, docs/install.md "Upgrading to v1beta1"). */
#include "runtime/cmd_migrate.h"

#include "api/migrate.h"
#include "cli/commands.h"
#include "kube/client.h"
#include "util/buf.h"
#include "util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "migrate"
/* how deep below a PATH directories are walked, and how many files one run reads */
#define MAX_DIR_DEPTH 32
#define MAX_FILES     100000
/* attempts of one object's write-back when its resourceVersion moved meanwhile */
#define MAX_CONFLICT_RETRIES 5
/* objects per list page of --stored */
#define LIST_PAGE 100

struct migrate_args {
    const char *to;
    bool check;
    bool stored;
    const char *kubeconfig;
};

/* What one run did over its files. */
struct tally {
    size_t files_changed, documents;
    bool failed; /* an input error was printed */
    size_t files_seen;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sealift migrate [--to v1beta1] [--check] PATH...\n"
               "       sealift migrate --stored [--kubeconfig FILE]\n"
               "  Moves sealift's objects from sealift.dev/v1alpha1 to v1beta1 (docs/install.md,\n"
               "  \"Upgrading to v1beta1\").\n"
               "  PATH... are manifest files or directories (every *.yaml and *.yml below them,\n"
               "  recursively; .git and symbolic links below a directory are skipped); '-' reads\n"
               "  stdin and writes the result to stdout. Every sealift.dev/v1alpha1 object is\n"
               "  rewritten to v1beta1 with the conversion the API server's webhook uses; every\n"
               "  other document, and every object already in v1beta1, is left byte for byte as\n"
               "  it was. A rewritten document keeps its \"---\" and leading comments; comments\n"
               "  inside it are lost, with a warning naming FILE:LINE. Each rewritten document\n"
               "  is named on stderr (FILE:LINE: Kind/name). A file is replaced whole (a\n"
               "  temporary file in its folder, then a rename) or not at all; a file with\n"
               "  invalid YAML is an error naming FILE:LINE and is left as it was.\n"
               "  --to VERSION: the target version; only v1beta1 (the default).\n"
               "  --check: write nothing; exit 1 when a file would change (for CI).\n"
               "  --stored: instead of files, the objects stored in the cluster: for each of\n"
               "  the five kinds, read every object through v1beta1 and write it back unchanged\n"
               "  (conflicts retried), so that etcd holds it as v1beta1, then set the CRD's\n"
               "  status.storedVersions to [\"v1beta1\"]; prints a count per kind. Refuses\n"
               "  (exit 1, nothing written) while a CRD does not serve and store v1beta1. Needs\n"
               "  the conversion webhook running (sealift controller) and an administrator's\n"
               "  rights: get, list and update on the five kinds in every namespace, get on\n"
               "  their customresourcedefinitions and patch on customresourcedefinitions/status.\n"
               "  --kubeconfig FILE: with --stored; default: $KUBECONFIG, in-cluster, then\n"
               "  ~/.kube/config.\n"
               "  -h, --help: print this help.\n"
               "  Exit codes: 0 done (or nothing to change), 1 --check found something to\n"
               "  rewrite or a CRD does not store v1beta1 yet, 2 usage error or invalid input\n"
               "  (other files are still migrated), 3 API server error.\n"
               "  Example: sealift migrate --check clusters/ && sealift migrate clusters/prod\n"
               "           sealift migrate --stored --kubeconfig admin.kubeconfig\n");
}

static int parse_args(struct migrate_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'}, {"check", no_argument, NULL, 'c'},
        {"stored", no_argument, NULL, 's'},   {"kubeconfig", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    *a = (struct migrate_args){.to = "v1beta1"};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            a->to = optarg;
            break;
        case 'c':
            a->check = true;
            break;
        case 's':
            a->stored = true;
            break;
        case 'k':
            a->kubeconfig = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* ---- files ---- */

static int read_stream(struct sl_buf *out, FILE *f, const char *name, struct sl_err *err)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sl_buf_append(out, chunk, n) != 0)
            return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s is larger than 16 MiB", name);
    if (ferror(f))
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot read %s: %s", name, strerror(errno));
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Replaces path's content with data[0..len) through a temporary file in the same folder and a
 * rename, keeping the file's permission bits: readers see the old or the new file, never half. */
static int replace_file(const char *path, mode_t mode, const char *data, size_t len,
                        struct sl_err *err)
{
    const char *slash = strrchr(path, '/');
    char *tmp = slash
                    ? sl_xasprintf("%.*s/.%s.migrate-XXXXXX", (int)(slash - path), path, slash + 1)
                    : sl_xasprintf(".%s.migrate-XXXXXX", path);
    int rc = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create a temporary file next to %s: %s",
                        path, strerror(errno));
        goto done;
    }
    if (fchmod(fd, mode & 07777) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
    }
done:
    free(tmp);
    return rc;
}

static void report_rewrites(const char *name, const struct sl_api_rewrite *r, size_t n,
                            const struct migrate_args *a)
{
    for (size_t i = 0; i < n; i++) {
        sl_cli_errorf(CMD, "%s:%zu: %s %s/%s to %s", name, r[i].line,
                      a->check ? "would rewrite" : "rewrote", r[i].kind,
                      r[i].name[0] ? r[i].name : "(no name)", a->to);
        if (r[i].comments_lost)
            sl_cli_errorf(CMD,
                          "%s:%zu: warning: %zu comment%s inside %s/%s cannot be kept in the "
                          "rewritten document",
                          name, r[i].first_comment_line, r[i].comments_lost,
                          r[i].comments_lost == 1 ? "" : "s", r[i].kind, r[i].name);
    }
}

/* Migrates one file (or stdin to stdout for "-"), printing what it did or why not. name is the
 * path messages show; path the one read and replaced (a symbolic link's target). */
static void migrate_file(const char *path, const char *name, const struct migrate_args *a,
                         struct tally *t)
{
    bool is_stdin = strcmp(path, "-") == 0;
    if (is_stdin)
        name = "(stdin)";
    struct sl_buf in, out;
    sl_buf_init(&in, 0);
    sl_buf_init(&out, 0);
    struct sl_api_rewrite *rewrites = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    struct stat st;
    FILE *f = NULL;
    int rc = 0;
    t->files_seen++;
    if (is_stdin) {
        rc = read_stream(&in, stdin, name, &err);
    } else if (!(f = fopen(path, "rb")) || fstat(fileno(f), &st) != 0) {
        rc =
            sl_err_set(&err, SL_ENOTFOUND, SL_ERRC_OS, "cannot open %s: %s", path, strerror(errno));
    } else {
        rc = read_stream(&in, f, name, &err);
    }
    if (rc) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto failed;
    }
    rc = sl_api_migrate_text(&out, &rewrites, &n, in.data ? in.data : "", in.len, a->to, &err);
    if (rc) {
        /* YAML errors read "line L column C: ...", conversion errors "line L: Kind/name: ..." */
        if (strncmp(err.msg, "line ", 5) == 0)
            sl_cli_errorf(CMD, "%s:%s (file left unchanged)", name, err.msg + 5);
        else
            sl_cli_errorf(CMD, "%s: %s (file left unchanged)", name, err.msg);
        goto failed;
    }
    report_rewrites(name, rewrites, n, a);
    if (n > 0) {
        t->files_changed++;
        t->documents += n;
    }
    if (a->check)
        goto done;
    if (is_stdin) {
        if (fwrite(out.data ? out.data : "", 1, out.len, stdout) != out.len || fflush(stdout)) {
            sl_cli_errorf(CMD, "cannot write stdout: %s", strerror(errno));
            goto failed;
        }
    } else if (n > 0 && replace_file(path, st.st_mode, out.data, out.len, &err) != 0) {
        sl_cli_errorf(CMD, "%s (file left unchanged)", err.msg);
        goto failed;
    }
    goto done;
failed:
    t->failed = true;
done:
    if (f)
        fclose(f);
    free(rewrites);
    sl_buf_free(&in);
    sl_buf_free(&out);
}

static bool is_manifest_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int compare_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Walks dir in name order: manifests migrated, folders entered (not .git, not through symbolic
 * links, at most MAX_DIR_DEPTH deep). */
static void migrate_dir(const char *dir, int depth, const struct migrate_args *a, struct tally *t)
{
    if (depth > MAX_DIR_DEPTH) {
        sl_cli_errorf(CMD, "%s: nested deeper than %d folders; not read", dir, MAX_DIR_DEPTH);
        t->failed = true;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        sl_cli_errorf(CMD, "cannot open %s: %s", dir, strerror(errno));
        t->failed = true;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = sl_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), compare_names);
    for (size_t i = 0; i < n; i++) {
        char *path = sl_xasprintf("%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) != 0) {
            sl_cli_errorf(CMD, "cannot read %s: %s", path, strerror(errno));
            t->failed = true;
        } else if (S_ISDIR(st.st_mode)) {
            migrate_dir(path, depth + 1, a, t);
        } else if (S_ISREG(st.st_mode) && is_manifest_name(names[i])) {
            if (t->files_seen >= MAX_FILES) {
                sl_cli_errorf(CMD, "more than %d files; %s and after not read", MAX_FILES, path);
                t->failed = true;
                free(path);
                for (; i < n; i++)
                    free(names[i]);
                break;
            }
            migrate_file(path, path, a, t);
        }
        free(path);
        free(names[i]);
    }
    free(names);
}

static int migrate_paths(const struct migrate_args *a, int argc, char **argv)
{
    struct tally t = {0};
    for (int i = 0; i < argc; i++) {
        struct stat st;
        if (strcmp(argv[i], "-") == 0)
            migrate_file("-", "-", a, &t);
        else if (stat(argv[i], &st) != 0) {
            sl_cli_errorf(CMD, "cannot read %s: %s", argv[i], strerror(errno));
            t.failed = true;
        } else if (S_ISDIR(st.st_mode)) {
            size_t len = strlen(argv[i]);
            while (len > 1 && argv[i][len - 1] == '/')
                len--;
            char *dir = sl_xasprintf("%.*s", (int)len, argv[i]);
            migrate_dir(dir, 0, a, &t);
            free(dir);
        } else {
            /* a symbolic link named on the command line: its target is rewritten, the link
             * stays (a rename onto the link would replace it with a file) */
            char *real = realpath(argv[i], NULL);
            migrate_file(real ? real : argv[i], argv[i], a, &t);
            free(real);
        }
    }
    sl_cli_errorf(CMD, "%zu document%s in %zu file%s %s %s", t.documents,
                  t.documents == 1 ? "" : "s", t.files_changed, t.files_changed == 1 ? "" : "s",
                  a->check ? (t.documents == 1 ? "needs rewriting to" : "need rewriting to")
                           : "rewritten to",
                  a->to);
    if (t.failed)
        return SL_EXIT_USAGE;
    return a->check && t.documents > 0 ? SL_EXIT_CHECK_FAILED : SL_EXIT_OK;
}

/* ---- stored objects ---- */

struct stored_kind {
    const char *plural, *kind;
    bool namespaced;
};

static const struct stored_kind STORED_KINDS[] = {
    {"imagedeliveries", "ImageDelivery", true}, {"scanpolicies", "ScanPolicy", true},
    {"signingkeys", "SigningKey", true},        {"deploypolicies", "DeployPolicy", false},
    {"gitsources", "GitSource", true},
};
#define N_STORED_KINDS (sizeof(STORED_KINDS) / sizeof(STORED_KINDS[0]))

/* Whether the CRD serves and stores v1beta1; else why not, in why. */
static bool crd_stores_v1beta1(const json_t *crd, char *why, size_t why_size)
{
    const char *storage = NULL;
    bool served = false, stored = false;
    size_t i;
    json_t *v;
    json_array_foreach(sl_kube_json_path(crd, "spec.versions"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (json_is_true(json_object_get(v, "storage")))
            storage = name;
        if (name && strcmp(name, "v1beta1") == 0) {
            served = json_is_true(json_object_get(v, "served"));
            stored = json_is_true(json_object_get(v, "storage"));
        }
    }
    if (served && stored)
        return true;
    snprintf(why, why_size, "v1beta1 is %s the storage version (storage version: %s)",
             served ? "served but not" : "not served and not", storage ? storage : "none");
    return false;
}

/* Writes obj back unchanged through v1beta1 (PUT with its resourceVersion): the API server
 * stores it in the storage version. A conflict (someone wrote it meanwhile) reads it again and
 * retries; an object deleted meanwhile is no error. Returns 0 (*written says whether it was
 * written) or the error of the last attempt. */
static int write_back(bool *written, struct sl_kube_client *c, const struct sl_kube_resource *res,
                      json_t *obj, struct sl_err *err)
{
    char ns[254], name[254];
    snprintf(ns, sizeof(ns), "%s", res->namespaced ? sl_kube_obj_namespace(obj) : "");
    snprintf(name, sizeof(name), "%s", sl_kube_obj_name(obj) ? sl_kube_obj_name(obj) : "");
    json_t *cur = json_incref(obj);
    int rc = 0;
    *written = false;
    for (int attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
        json_t *out = NULL;
        json_object_set_new(cur, "apiVersion", json_string("sealift.dev/v1beta1"));
        json_object_set_new(cur, "kind", json_string(res->kind));
        rc = sl_kube_update(&out, c, res, ns, cur, err);
        json_decref(out);
        if (rc != SL_ECONFLICT)
            break;
        json_decref(cur);
        cur = NULL;
        rc = sl_kube_get(&cur, c, res, ns, name, err);
        if (rc)
            break;
    }
    json_decref(cur);
    if (rc == SL_ENOTFOUND)
        return 0;
    *written = rc == 0;
    return rc;
}

/* Writes back every object of one kind, page by page; counts what was written. */
static int write_back_kind(size_t *count, struct sl_kube_client *c,
                           const struct sl_kube_resource *res)
{
    struct sl_err err = {0};
    char *cont = NULL;
    int failed = 0;
    *count = 0;
    do {
        json_t *list = NULL;
        struct sl_kube_list_opts lo = {.limit = LIST_PAGE, .continue_token = cont};
        int rc = sl_kube_list(&list, c, res, NULL, &lo, &err);
        free(cont);
        cont = NULL;
        if (rc) {
            sl_cli_errorf(CMD, "cannot list %s.sealift.dev through v1beta1: %s", res->plural,
                          err.msg);
            return rc;
        }
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            bool written = false;
            if (write_back(&written, c, res, item, &err) != 0) {
                sl_cli_errorf(CMD, "%s %s%s%s: %s", res->kind,
                              res->namespaced ? sl_kube_obj_namespace(item) : "",
                              res->namespaced ? "/" : "", sl_kube_obj_name(item), err.msg);
                failed = 1;
            }
            *count += written;
        }
        const char *next = sl_kube_json_path_str(list, "metadata.continue");
        if (next && *next)
            cont = sl_xstrdup(next);
        json_decref(list);
    } while (cont);
    return failed ? SL_EFAIL : 0;
}

/* The storage-version migration: every kind's CRD checked first, then its objects written back
 * and its status.storedVersions set to ["v1beta1"]. */
static int migrate_stored(const struct migrate_args *a)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_kube_client *c = NULL;
    struct sl_err err = {0};
    int code = SL_EXIT_OK;
    if (sl_kube_config_load(&cfg, a->kubeconfig, &err) != 0) {
        sl_cli_errorf(CMD, "kubeconfig: %s", err.msg);
        code = SL_EXIT_USAGE;
        goto done;
    }
    if (sl_kube_client_new(&c, cfg, NULL, &err) != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        code = SL_EXIT_USAGE;
        goto done;
    }
    for (size_t k = 0; k < N_STORED_KINDS; k++) {
        char crd_name[128], why[160];
        snprintf(crd_name, sizeof(crd_name), "%s.sealift.dev", STORED_KINDS[k].plural);
        json_t *crd = NULL;
        if (sl_kube_get(&crd, c, &SL_RES_CRD, NULL, crd_name, &err) != 0) {
            sl_cli_errorf(CMD, "cannot read CustomResourceDefinition %s: %s", crd_name, err.msg);
            code = SL_EXIT_REMOTE;
        } else if (!crd_stores_v1beta1(crd, why, sizeof(why))) {
            sl_cli_errorf(CMD, "%s: %s; upgrade the CRDs first (docs/install.md)", crd_name, why);
            if (code == SL_EXIT_OK)
                code = SL_EXIT_CHECK_FAILED;
        }
        json_decref(crd);
    }
    if (code != SL_EXIT_OK) {
        sl_cli_errorf(CMD, "nothing written");
        goto done;
    }
    for (size_t k = 0; k < N_STORED_KINDS; k++) {
        const struct stored_kind *sk = &STORED_KINDS[k];
        const struct sl_kube_resource res = {"sealift.dev", "v1beta1", sk->plural, sk->kind,
                                             sk->namespaced};
        char crd_name[128];
        snprintf(crd_name, sizeof(crd_name), "%s.sealift.dev", sk->plural);
        size_t count = 0;
        if (write_back_kind(&count, c, &res) != 0) {
            printf("%s: %zu objects written back as v1beta1; some failed, storedVersions left as "
                   "they were\n",
                   crd_name, count);
            code = SL_EXIT_REMOTE;
            continue;
        }
        struct sl_kube_patch_opts po = {.type = SL_PATCH_MERGE, .status = true};
        if (sl_kube_patch(NULL, c, &SL_RES_CRD, NULL, crd_name,
                          "{\"status\":{\"storedVersions\":[\"v1beta1\"]}}", &po, &err) != 0) {
            sl_cli_errorf(CMD, "%s: cannot set status.storedVersions: %s", crd_name, err.msg);
            code = SL_EXIT_REMOTE;
            continue;
        }
        printf("%s: %zu objects written back as v1beta1; status.storedVersions: [v1beta1]\n",
               crd_name, count);
    }
    fflush(stdout);
done:
    sl_kube_client_free(c);
    sl_kube_config_free(cfg);
    return code;
}

int sl_cmd_migrate(int argc, char **argv)
{
    struct migrate_args a;
    int prc = parse_args(&a, argc, argv);
    if (prc != 0)
        return prc > 0 ? SL_EXIT_OK : SL_EXIT_USAGE;
    if (strcmp(a.to, "v1beta1") != 0) {
        sl_cli_errorf(CMD, "--to %s: only v1beta1 is a target", a.to);
        return SL_EXIT_USAGE;
    }
    if (a.stored) {
        if (a.check || optind < argc) {
            sl_cli_errorf(CMD, "--stored takes no PATH and no --check");
            return SL_EXIT_USAGE;
        }
        return migrate_stored(&a);
    }
    if (a.kubeconfig) {
        sl_cli_errorf(CMD, "--kubeconfig goes with --stored");
        return SL_EXIT_USAGE;
    }
    if (optind >= argc) {
        sl_cli_errorf(CMD, "no PATH given (a file, a directory or '-' for stdin)");
        usage(stderr);
        return SL_EXIT_USAGE;
    }
    return migrate_paths(&a, argc - optind, argv + optind);
}
