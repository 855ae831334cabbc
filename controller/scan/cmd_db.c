/* `sealift db push DIR IMAGE [--creds USER:PASS] [--insecure]`: packs a directory of advisory
 * files (any format the scanner reads; checked by loading them first) into an OCI artifact —
 * config SL_ADVDB_CONFIG_MT, one tar+gzip layer of the files, the record count in the
 * annotations — pushes it and prints its digest. A directory without a single advisory record
 * is refused. Exit codes: 0, 2 usage, bad files or no records, 3 registry errors. */
#include "scan/cmd_db.h"
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cli/commands.h"
#include "oci/cliregistry.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "scan/advisory.h"
#include "scan/regimage.h"
#include "util/buf.h"
#include "util/mem.h"

#define CMD       "db push"
#define MAX_DEPTH 16
#define FILE_MAX  SL_ADVDB_MAX_FILE

static const char *usage_text =
    "usage: sealift db push DIR IMAGE [--creds USER:PASS | --creds-file PATH] [--insecure]\n"
    "\n"
    "Packs the advisory files of DIR (OSV, Debian security tracker or Alpine secdb:\n"
    "docs/advisories.md) into an OCI artifact, pushes it as IMAGE and prints its digest; a\n"
    "directory without a single advisory record is refused. `sealift scan --db IMAGE` and\n"
    "ScanPolicy spec.database.image read it.\n"
    "\n"
    "Flags:\n"
    "  --creds USER:PASS    registry credentials (visible in ps: prefer the next)\n"
    "  --creds-file PATH    a file holding one line USER:PASS, or a docker config.json\n"
    "  --insecure           the registry may be plain http or present an untrusted certificate\n"
    "  -h, --help           print this help\n"
    "Credentials from the first of: --creds, --creds-file, the environment variable\n"
    "SEALIFT_CREDS (USER:PASS), docker config.json for the registry's host; else anonymous.\n"
    "\n"
    "Exit codes: 0 pushed (the digest on stdout); 2 usage error, unreadable files or no\n"
    "advisory records; 3 registry error.\n"
    "\n"
    "Example:\n"
    "  sealift db push ./advisories registry.example/sealift/advisories:2026-12-06";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void octal(char *dst, size_t n, unsigned long long v)
{
    snprintf(dst, n, "%0*llo", (int)n - 1, v);
}

/* Appends one ustar entry (regular file, mode 0644, mtime 0) for rel with data. */
static int tar_add(struct sl_buf *tar, const char *rel, const char *data, size_t len)
{
    unsigned char h[512];
    memset(h, 0, sizeof(h));
    size_t n = strlen(rel);
    if (n <= 100) {
        memcpy(h, rel, n);
    } else {
        const char *cut = NULL;
        for (const char *p = rel; *p; p++)
            if (*p == '/' && (size_t)(p - rel) <= 155 && n - (size_t)(p - rel) - 1 <= 100)
                cut = p;
        if (!cut)
            return -1;
        memcpy(h + 345, rel, (size_t)(cut - rel));
        memcpy(h, cut + 1, n - (size_t)(cut - rel) - 1);
    }
    octal((char *)h + 100, 8, 0644);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, len);
    octal((char *)h + 136, 12, 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    static const char zeros[512];
    if (sl_buf_append(tar, h, 512) < 0 || sl_buf_append(tar, data, len) < 0 ||
        sl_buf_append(tar, zeros, (512 - len % 512) % 512) < 0)
        return -2;
    return 0;
}

static int read_whole(char **out, size_t *len, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct sl_buf b;
    sl_buf_init(&b, FILE_MAX);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sl_buf_append(&b, chunk, n) < 0) {
            rc = -2;
            break;
        }
    fclose(f);
    if (rc < 0) {
        sl_buf_free(&b);
        return rc;
    }
    *out = sl_buf_steal(&b, len);
    if (!*out)
        *out = sl_xstrdup("");
    return 0;
}

static int pack_dir(struct sl_buf *tar, size_t *files, const char *root, const char *rel, int depth)
{
    char *path = *rel ? sl_xasprintf("%s/%s", root, rel) : sl_xstrdup(root);
    int rc = 0;
    char **names = NULL;
    size_t nn = 0;
    DIR *d = depth > MAX_DEPTH ? NULL : opendir(path);
    if (!d) {
        sl_cli_errorf(CMD, "%s: cannot read the directory", path);
        rc = -1;
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (sl_advdb_skip_name(de->d_name))
            continue;
        names = sl_xrealloc(names, (nn + 1) * sizeof(*names));
        names[nn++] = sl_xstrdup(de->d_name);
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_str);
    for (size_t i = 0; i < nn && rc == 0; i++) {
        char *sub = *rel ? sl_xasprintf("%s/%s", rel, names[i]) : sl_xstrdup(names[i]);
        char *full = sl_xasprintf("%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) {
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = pack_dir(tar, files, root, sub, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            char *data = NULL;
            size_t len = 0;
            if (read_whole(&data, &len, full) != 0) {
                sl_cli_errorf(CMD, "%s: unreadable or larger than %zu bytes", full, FILE_MAX);
                rc = -1;
            } else if (tar_add(tar, sub, data, len) != 0) {
                sl_cli_errorf(CMD, "%s: path too long for the archive or archive too large", full);
                rc = -1;
            } else {
                (*files)++;
            }
            free(data);
        }
        free(sub);
        free(full);
    }
done:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(path);
    return rc;
}

static int gzip_buf(char **out, size_t *out_len, const void *data, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    char *buf = sl_xmalloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int zrc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static int db_push(int argc, char **argv)
{
    static const struct option longopts[] = {
        SL_CLI_REGISTRY_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sl_cli_registry regflags;
    sl_cli_registry_init(&regflags, SL_CLI_REGISTRY_ONE);
    /* argv[1] is "push": getopt sees it as the program name */
    argc--;
    argv++;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (sl_cli_registry_option(&regflags, c, optarg))
            continue;
        switch (c) {
        case 'h':
            printf("%s\n", usage_text);
            return SL_EXIT_OK;
        default:
            sl_cli_errorf(CMD, "unknown option or option without its value: %s; %s",
                          argv[optind - 1], usage_text);
            return SL_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        sl_cli_errorf(CMD, "need DIR and IMAGE; %s", usage_text);
        return SL_EXIT_USAGE;
    }
    const char *pos[2] = {argv[optind], argv[optind + 1]};
    const char *dir = pos[0], *image = pos[1];
    int exit_code = SL_EXIT_USAGE;
    struct sl_err err = {0};
    struct sl_advdb db;
    struct sl_buf tar;
    struct sl_ref ref;
    struct sl_registry *reg = NULL;
    char *gz = NULL, *config = NULL, *manifest = NULL;
    size_t gz_len = 0, files = 0;
    json_t *man = NULL;
    memset(&ref, 0, sizeof(ref));
    sl_advdb_init(&db);
    sl_buf_init(&tar, SL_ADVDB_MAX_TOTAL);

    if (sl_advdb_load_dir(&db, dir, &err) != 0 || sl_advdb_require_records(&db, &err) != 0) {
        sl_cli_errorf(CMD, "%s: %s", dir, err.msg);
        goto done;
    }
    if (pack_dir(&tar, &files, dir, "", 0) != 0)
        goto done;
    static const char zeros[1024];
    sl_buf_append(&tar, zeros, sizeof(zeros));
    if (gzip_buf(&gz, &gz_len, tar.data, tar.len) != 0) {
        sl_cli_errorf(CMD, "compressing the archive failed");
        goto done;
    }
    if (sl_cli_registry_connect(&reg, &ref, sl_ref_skip_transport(image), &regflags, NULL, &err)) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        goto done;
    }
    char layer_digest[72], config_digest[72], manifest_digest[72];
    sl_digest_sha256(layer_digest, gz, gz_len);
    json_t *cfg = json_pack("{s:I, s:I, s:s}", "records", (json_int_t)db.records, "files",
                            (json_int_t)files, "contentDigest", db.digest);
    config = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(cfg);
    sl_digest_sha256(config_digest, config, strlen(config));
    char records[32];
    snprintf(records, sizeof(records), "%zu", db.records);
    man = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}], s:{s:s, s:s}}",
                    "schemaVersion", 2, "mediaType", SL_MT_OCI_MANIFEST, "artifactType",
                    SL_ADVDB_ARTIFACT_TYPE, "config", "mediaType", SL_ADVDB_CONFIG_MT, "digest",
                    config_digest, "size", (json_int_t)strlen(config), "layers", "mediaType",
                    SL_ADVDB_LAYER_MT, "digest", layer_digest, "size", (json_int_t)gz_len,
                    "annotations", SL_ADVDB_ANN_RECORDS, records, "org.opencontainers.image.title",
                    "sealift advisory database");
    manifest = json_dumps(man, JSON_COMPACT);
    exit_code = SL_EXIT_REMOTE;
    if (sl_registry_blob_upload(reg, ref.repository, layer_digest, gz, gz_len, 0, &err) != 0 ||
        sl_registry_blob_upload(reg, ref.repository, config_digest, config, strlen(config), 0,
                                &err) != 0 ||
        sl_registry_manifest_put(manifest_digest, reg, ref.repository,
                                 ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest"),
                                 SL_MT_OCI_MANIFEST, manifest, strlen(manifest), &err) != 0) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        goto done;
    }
    printf("%s\n", manifest_digest);
    fprintf(stderr, "pushed %zu advisory records from %zu files to %s@%s\n", db.records, files,
            image, manifest_digest);
    exit_code = SL_EXIT_OK;
done:
    json_decref(man);
    free(manifest);
    free(config);
    free(gz);
    sl_registry_free(reg);
    sl_ref_free(&ref);
    sl_buf_free(&tar);
    sl_advdb_free(&db);
    return exit_code;
}

int sl_cmd_db(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "push") == 0)
        return db_push(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("%s\n", usage_text);
        return SL_EXIT_OK;
    }
    sl_cli_errorf("db", "unknown subcommand; %s", usage_text);
    return SL_EXIT_USAGE;
}
