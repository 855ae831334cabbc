/* `sealift scan IMAGE|oci:DIR[:TAG] --db DIR [--format table|json|sarif] [--fail-on SEVERITY]
 *  [--ignore-unfixed] [--baseline[=RULES]] [--malware FILE.hsb] [--platform OS/ARCH]`
 *
 * Exit codes: 0 pass, 1 findings at or above --fail-on or an enforced baseline rule or malware
 * hit, 2 usage or input error. Registry images need the registry client (not in this build
 * yet); OCI layouts work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "scan/advisory.h"
#include "scan/engine.h"
#include "scan/malware.h"
#include "scan/ocilayout.h"
#include "scan/report.h"
#include "scan/scanner.h"
#include "util/mem.h"

#define CMD "scan"

/* sl_image_source over an OCI layout */
struct layout_src {
    const struct sl_oci_image *img;
    struct sl_blob_reader *reader;
};

static int layout_open_layer(void *ctx, size_t i, struct sl_layer_stream *out, struct sl_err *err)
{
    struct layout_src *ls = ctx;
    return sl_ocilayout_open_layer(&ls->reader, out, ls->img, i, err);
}

static void layout_close_layer(void *ctx, size_t i)
{
    (void)i;
    struct layout_src *ls = ctx;
    sl_blob_reader_close(ls->reader);
    ls->reader = NULL;
}

static const char *layout_layer_name(void *ctx, size_t i)
{
    struct layout_src *ls = ctx;
    return ls->img->layers[i].digest;
}

static void usage(void)
{
    fprintf(stderr, "usage: sealift scan IMAGE|oci:DIR[:TAG] --db DIR [--format table|json|sarif]\n"
                    "                    [--fail-on Critical|High|Medium|Low] [--ignore-unfixed]\n"
                    "                    [--baseline[=root-user,secret-env,setuid,private-key]]\n"
                    "                    [--malware FILE.hsb] [--platform OS/ARCH[/VARIANT]]\n");
}

static int read_file(char **out, size_t *len_out, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 65536, len = 0, n;
    char *buf = sl_xmalloc(cap + 1);
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len > max) {
            fclose(f);
            free(buf);
            return -2;
        }
        if (len == cap) {
            cap *= 2;
            buf = sl_xrealloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

/* Sets the baseline flags from "root-user,secret-env,..." (NULL: the default three). */
static int parse_baseline(struct sl_scan_policy *pol, const char *rules)
{
    if (!rules) {
        pol->forbid_root_user = pol->forbid_secrets_in_env = pol->forbid_private_keys = true;
        return 0;
    }
    char *copy = sl_xstrdup(rules), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "root-user") == 0)
            pol->forbid_root_user = true;
        else if (strcmp(t, "secret-env") == 0)
            pol->forbid_secrets_in_env = true;
        else if (strcmp(t, "setuid") == 0)
            pol->forbid_setuid = true;
        else if (strcmp(t, "private-key") == 0)
            pol->forbid_private_keys = true;
        else if (strcmp(t, "all") == 0)
            pol->forbid_root_user = pol->forbid_secrets_in_env = pol->forbid_setuid =
                pol->forbid_private_keys = true;
        else
            rc = -1;
    }
    free(copy);
    return rc;
}

int sl_cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"fail-on", required_argument, NULL, 'F'},
        {"ignore-unfixed", no_argument, NULL, 'u'},
        {"baseline", optional_argument, NULL, 'b'},
        {"malware", required_argument, NULL, 'm'},
        {"platform", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = NULL, *malware_path = NULL, *platform = NULL, *fail_on = NULL;
    enum sl_report_format fmt = SL_REPORT_TABLE;
    struct sl_scan_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.now = time(NULL);
    int exit_code = SL_EXIT_USAGE;
    struct sl_advdb db;
    struct sl_hsbdb hsb;
    struct sl_oci_image img;
    struct sl_scan_report rep;
    struct sl_err err = {0};
    char *dir = NULL, *hsb_data = NULL;
    sl_advdb_init(&db);
    sl_hsbdb_init(&hsb);
    memset(&img, 0, sizeof(img));
    memset(&rep, 0, sizeof(rep));

    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db_path = optarg;
            break;
        case 'f':
            if (sl_report_format_parse(&fmt, optarg) != 0) {
                sl_cli_errorf(CMD, "--format must be table, json or sarif, not \"%s\"", optarg);
                goto done;
            }
            break;
        case 'F':
            if (sl_severity_parse(&pol.fail_on, optarg) != 0 || pol.fail_on < SL_SEV_LOW) {
                if (strcasecmp(optarg, "none") == 0)
                    break; /* report only */
                sl_cli_errorf(CMD,
                              "--fail-on must be Critical, High, Medium, Low or None, not "
                              "\"%s\"",
                              optarg);
                goto done;
            }
            pol.fail_on_enabled = true;
            fail_on = sl_severity_name(pol.fail_on);
            break;
        case 'u':
            pol.ignore_unfixed = true;
            break;
        case 'b':
            if (parse_baseline(&pol, optarg) != 0) {
                sl_cli_errorf(CMD,
                              "--baseline rules are root-user, secret-env, setuid, "
                              "private-key or all, not \"%s\"",
                              optarg);
                goto done;
            }
            break;
        case 'm':
            malware_path = optarg;
            break;
        case 'p':
            platform = optarg;
            break;
        case 'h':
            usage();
            exit_code = SL_EXIT_OK;
            goto done;
        default:
            sl_cli_errorf(CMD, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            usage();
            goto done;
        }
    }
    if (optind + 1 != argc) {
        sl_cli_errorf(CMD, "expected exactly one image argument");
        usage();
        goto done;
    }
    const char *image = argv[optind];
    if (!db_path) {
        sl_cli_errorf(CMD, "--db is required");
        usage();
        goto done;
    }
    if (strncmp(image, "oci:", 4) != 0) {
        sl_cli_errorf(CMD,
                      "%s: pulling from registries is not available in this build yet; "
                      "use oci:DIR[:TAG]",
                      image);
        goto done;
    }
    /* oci:DIR[:TAG]: the tag is what follows the last ':' unless DIR itself names a directory */
    dir = sl_xstrdup(image + 4);
    const char *tag = NULL;
    struct stat st;
    char *colon = strrchr(dir, ':');
    if (colon && !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) && !strchr(colon, '/')) {
        *colon = '\0';
        tag = colon + 1;
    }

    /* advisories: a directory, or a single file */
    if (stat(db_path, &st) != 0) {
        sl_cli_errorf(CMD, "advisory database %s: not found", db_path);
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        if (sl_advdb_load_dir(&db, db_path, &err) != 0) {
            sl_cli_errorf(CMD, "advisory database %s: %s", db_path, err.msg);
            goto done;
        }
    } else {
        char *data = NULL;
        size_t len = 0;
        if (read_file(&data, &len, db_path, SL_ADVDB_MAX_FILE) != 0) {
            sl_cli_errorf(CMD, "advisory database %s: unreadable or too large", db_path);
            goto done;
        }
        int rc = sl_advdb_load_buffer(&db, db_path, data, len, &err);
        free(data);
        if (rc) {
            sl_cli_errorf(CMD, "advisory database: %s", err.msg);
            goto done;
        }
    }
    if (malware_path) {
        size_t len = 0;
        if (read_file(&hsb_data, &len, malware_path, (size_t)64 << 20) != 0) {
            sl_cli_errorf(CMD, "malware signatures %s: unreadable or too large", malware_path);
            goto done;
        }
        if (sl_hsbdb_load(&hsb, hsb_data, len, &err) != 0) {
            sl_cli_errorf(CMD, "malware signatures %s: %s", malware_path, err.msg);
            goto done;
        }
        pol.malware_fails = true;
    }

    if (sl_ocilayout_open(&img, dir, tag, platform, &err) != 0) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        goto done;
    }
    struct layout_src ls = {&img, NULL};
    struct sl_image_source src = {
        .nlayers = img.nlayers,
        .config = img.config,
        .config_len = img.config_len,
        .open_layer = layout_open_layer,
        .close_layer = layout_close_layer,
        .layer_name = layout_layer_name,
        .ctx = &ls,
    };
    if (sl_scan_image(&rep, &src, &db, malware_path ? &hsb : NULL, &pol, NULL, &err) != 0) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        goto done;
    }
    struct sl_report_meta meta = {image, img.manifest_digest, db.digest[0] ? db.digest : NULL,
                                  db.records, fail_on};
    if (sl_report_write(stdout, &rep, fmt, &meta) != 0) {
        sl_cli_errorf(CMD, "writing the report failed");
        goto done;
    }
    fflush(stdout);
    exit_code = rep.passed ? SL_EXIT_OK : SL_EXIT_CHECK_FAILED;
done:
    sl_scan_report_free(&rep);
    sl_oci_image_free(&img);
    sl_hsbdb_free(&hsb);
    sl_advdb_free(&db);
    free(hsb_data);
    free(dir);
    return exit_code;
}
