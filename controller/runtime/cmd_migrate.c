/* `sealift migrate`: manifests and stored objects to sealift.dev/v1beta1 (cmd_migrate.h,
 * docs/design/v1beta1.md, docs/install.md "Upgrading to v1beta1"). */
#include "runtime/cmd_migrate.h"

#include "api/migrate.h"
#include "cli/commands.h"
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

struct migrate_args {
    const char *to;
    bool check;
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
               "  -h, --help: print this help.\n"
               "  Exit codes: 0 done (or nothing to change), 1 --check found something to\n"
               "  rewrite, 2 usage error or invalid input (other files are still migrated).\n"
               "  Example: sealift migrate --check clusters/ && sealift migrate clusters/prod\n");
}

static int parse_args(struct migrate_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {"check", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
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

/* Migrates one file (or stdin to stdout for "-"), printing what it did or why not. */
static void migrate_file(const char *path, const struct migrate_args *a, struct tally *t)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "(stdin)" : path;
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
            migrate_file(path, a, t);
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
            migrate_file("-", a, &t);
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
            migrate_file(argv[i], a, &t);
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
    if (optind >= argc) {
        sl_cli_errorf(CMD, "no PATH given (a file, a directory or '-' for stdin)");
        usage(stderr);
        return SL_EXIT_USAGE;
    }
    return migrate_paths(&a, argc - optind, argv + optind);
}
