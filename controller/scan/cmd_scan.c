/* `sealift scan IMAGE|oci:DIR[:TAG] --db DIR|IMAGE [--format table|json|sarif]
 *  [--fail-on SEVERITY] [--ignore-unfixed] [--baseline[=RULES]] [--malware FILE.hsb]
 *  [--vex FILE]...
 *  [--platform OS/ARCH] [--creds USER:PASS] [--insecure]`
 *
 * Exit codes: 0 pass, 1 findings at or above --fail-on or an enforced baseline rule or malware
 * hit, 2 usage or input error, 3 registry error. Registry images and advisory artifacts are
 * streamed (regimage.h); credentials from --creds or docker config.json. */
#include "scan/cmd_scan.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "oci/cliregistry.h"
#include "oci/manifest.h"
#include "scan/advisory.h"
#include "scan/engine.h"
#include "scan/malware.h"
#include "scan/ocilayout.h"
#include "scan/regimage.h"
#include "scan/report.h"
#include "scan/scanner.h"
#include "scan/vex.h"
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

/* The usage text: on stdout when asked for (--help), else on stderr after an error. */
static void usage_to(FILE *f)
{
    fprintf(f,
            "usage: sealift scan IMAGE|oci:DIR[:TAG] --db DIR|IMAGE [--format table|json|sarif]\n"
            "                    [--fail-on Critical|High|Medium|Low] [--ignore-unfixed]\n"
            "                    [--baseline[=root-user,secret-env,setuid,private-key]]\n"
            "                    [--malware FILE.hsb] [--vex FILE]... [--platform OS/ARCH]\n"
            "                    [--creds USER:PASS | --creds-file PATH] [--insecure]\n"
            "\n"
            "Scans an image in a registry, or an OCI image layout (oci:DIR[:TAG]), for\n"
            "packages with known vulnerabilities (and optionally baseline rules and malware).\n"
            "\n"
            "Flags:\n"
            "  --db DIR|FILE|IMAGE      advisories: a directory or file (OSV, Debian security\n"
            "                           tracker, Alpine secdb: docs/advisories.md) or an advisory\n"
            "                           image made by `sealift db push`; a database without a\n"
            "                           single advisory record is refused (exit 2)\n"
            "  --format FORMAT          table (default), json or sarif\n"
            "  --fail-on SEVERITY       fail (exit 1) on a finding at or above it; without it\n"
            "                           the findings are listed, not judged (\"Result: not\n"
            "                           evaluated\")\n"
            "  --ignore-unfixed         leave out findings without a fixed version\n"
            "  --baseline[=RULES]       also check root-user, secret-env, setuid, private-key\n"
            "                           (or all; default the first two and private-key)\n"
            "  --malware FILE.hsb       also match ClamAV hash signatures; a hit fails\n"
            "  --vex FILE               an OpenVEX document (repeatable): a not_affected or\n"
            "                           fixed statement for the image (its digest or\n"
            "                           repository) and a vulnerability suppresses that\n"
            "                           finding; the report says which and why; an invalid\n"
            "                           document is an input error (exit 2)\n"
            "  --platform OS/ARCH       the manifest of a multi-arch image (default linux/amd64)\n"
            "  --creds USER:PASS        registry credentials (visible in ps: prefer the next)\n"
            "  --creds-file PATH        a file holding one line USER:PASS, or a docker\n"
            "                           config.json (looked up per registry)\n"
            "  --insecure               registries may be plain http or present a certificate\n"
            "                           that is not trusted\n"
            "  -h, --help               print this help\n"
            "--creds, --creds-file and --insecure apply to the image and to an advisory image.\n"
            "Credentials from the first of: --creds, --creds-file, the environment variable\n"
            "SEALIFT_CREDS (USER:PASS), docker config.json for the registry's host; else\n"
            "anonymous. Passwords are never printed.\n"
            "\n"
            "Exit codes: 0 pass (or not evaluated); 1 a finding at or above --fail-on, an\n"
            "enforced baseline rule or a malware hit; 2 usage or input error; 3 registry error.\n"
            "\n"
            "Example:\n"
            "  sealift scan registry.example/acme/app:1.0 --db ./advisories --fail-on High\n");
}

static void usage(void)
{
    usage_to(stderr);
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

int sl_scan_cli_load_db(struct sl_advdb *db, const char *db_path,
                        const struct sl_cli_registry *regflags, int *exit_code, const char *cmd)
{
    struct sl_err err = {0};
    struct sl_registry *db_reg = NULL;
    struct sl_ref db_ref;
    struct stat st;
    memset(&db_ref, 0, sizeof(db_ref));
    int result = -1;
    if (stat(db_path, &st) != 0) {
        bool local = db_path[0] == '/' || db_path[0] == '.' ||
                     (!strchr(db_path, '/') && !strchr(db_path, ':'));
        if (local) {
            sl_cli_errorf(cmd, "advisory database %s: not found", db_path);
            goto done;
        }
        if (sl_cli_registry_connect(&db_reg, &db_ref, sl_ref_skip_transport(db_path), regflags,
                                    NULL, &err) != 0) {
            sl_cli_errorf(cmd, "advisory database %s: %s", db_path, err.msg);
            goto done;
        }
        int rc = sl_advdb_load_image(
            db, db_reg, db_ref.repository,
            db_ref.digest ? db_ref.digest : (db_ref.tag ? db_ref.tag : "latest"), &err);
        if (rc != 0) {
            sl_cli_errorf(cmd, "advisory database %s: %s", db_path, err.msg);
            if (rc != SL_EINVAL && rc != SL_ENOTFOUND)
                *exit_code = SL_EXIT_REMOTE;
            goto done;
        }
    } else if (S_ISDIR(st.st_mode)) {
        if (sl_advdb_load_dir(db, db_path, &err) != 0) {
            sl_cli_errorf(cmd, "advisory database %s: %s", db_path, err.msg);
            goto done;
        }
    } else {
        char *data = NULL;
        size_t len = 0;
        if (read_file(&data, &len, db_path, SL_ADVDB_MAX_FILE) != 0) {
            sl_cli_errorf(cmd, "advisory database %s: unreadable or too large", db_path);
            goto done;
        }
        int rc = sl_advdb_load_buffer(db, db_path, data, len, &err);
        free(data);
        if (rc) {
            sl_cli_errorf(cmd, "advisory database: %s", err.msg);
            goto done;
        }
    }
    if (sl_advdb_require_records(db, &err) != 0) {
        sl_cli_errorf(cmd, "advisory database %s: %s", db_path, err.msg);
        goto done;
    }
    result = 0;
done:
    sl_registry_free(db_reg);
    sl_ref_free(&db_ref);
    return result;
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
        {"vex", required_argument, NULL, 'V'},
        {"platform", required_argument, NULL, 'p'},
        SL_CLI_REGISTRY_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = NULL, *malware_path = NULL, *platform = NULL, *fail_on = NULL;
    struct sl_cli_registry regflags;
    sl_cli_registry_init(&regflags, SL_CLI_REGISTRY_ONE);
    struct sl_registry *reg = NULL;
    struct sl_ref ref;
    struct sl_reg_image rimg;
    memset(&ref, 0, sizeof(ref));
    memset(&rimg, 0, sizeof(rimg));
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
    char *dir = NULL, *hsb_data = NULL, *repository = NULL;
    struct sl_vex vex;
    const char **vex_paths = NULL;
    size_t nvex = 0;
    sl_vex_init(&vex);
    sl_advdb_init(&db);
    sl_hsbdb_init(&hsb);
    memset(&img, 0, sizeof(img));
    memset(&rep, 0, sizeof(rep));

    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (sl_cli_registry_option(&regflags, c, optarg))
            continue;
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
        case 'V':
            if (nvex >= 64) {
                sl_cli_errorf(CMD, "at most 64 --vex documents");
                goto done;
            }
            vex_paths = sl_xrealloc(vex_paths, (nvex + 1) * sizeof(*vex_paths));
            vex_paths[nvex++] = optarg;
            break;
        case 'p':
            platform = optarg;
            break;
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
    if (sl_scan_cli_check_platform(platform, CMD) != 0)
        goto done;
    bool is_layout = strncmp(image, "oci:", 4) == 0;
    const char *tag = NULL;
    struct stat st;
    if (is_layout) {
        /* oci:DIR[:TAG]: the tag follows the last ':' unless DIR itself names a directory */
        dir = sl_xstrdup(image + 4);
        char *colon = strrchr(dir, ':');
        if (colon && !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) && !strchr(colon, '/')) {
            *colon = '\0';
            tag = colon + 1;
        }
    }

    /* advisories: a directory, a single file, or an advisory artifact image */
    if (sl_scan_cli_load_db(&db, db_path, &regflags, &exit_code, CMD) != 0)
        goto done;
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
    if (sl_scan_cli_load_vex(&vex, vex_paths, nvex, CMD) != 0)
        goto done;
    if (nvex)
        pol.vex = &vex;

    struct layout_src ls = {&img, NULL};
    struct sl_image_source src;
    const char *manifest_digest = NULL;
    if (is_layout) {
        if (sl_ocilayout_open(&img, dir, tag, platform, &err) != 0) {
            sl_cli_errorf(CMD, "%s: %s", image, err.msg);
            goto done;
        }
        struct sl_image_source lsrc = {
            .nlayers = img.nlayers,
            .config = img.config,
            .config_len = img.config_len,
            .open_layer = layout_open_layer,
            .close_layer = layout_close_layer,
            .layer_name = layout_layer_name,
            .ctx = &ls,
        };
        src = lsrc;
        manifest_digest = img.manifest_digest;
    } else {
        if (sl_cli_registry_connect(&reg, &ref, sl_ref_skip_transport(image), &regflags, NULL,
                                    &err) != 0) {
            sl_cli_errorf(CMD, "%s: %s", image, err.msg);
            goto done;
        }
        int rc = sl_reg_image_open(&rimg, reg, ref.repository,
                                   ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest"),
                                   platform, &err);
        if (rc != 0) {
            sl_cli_errorf(CMD, "%s: %s", image, err.msg);
            if (rc != SL_EINVAL && rc != SL_ENOTFOUND && rc != SL_EUNSUPPORTED)
                exit_code = SL_EXIT_REMOTE;
            goto done;
        }
        sl_reg_image_source(&src, &rimg);
        manifest_digest = rimg.manifest_digest;
        repository = sl_xasprintf("%s/%s", ref.registry, ref.repository);
    }
    /* VEX products name the scanned manifest, the digest asked for (an index) or the
     * repository (unknown for an OCI layout) */
    pol.vex_image.digest = manifest_digest;
    pol.vex_image.index_digest = is_layout ? NULL : ref.digest;
    pol.vex_image.repository = repository;
    int src_rc = sl_scan_image(&rep, &src, &db, malware_path ? &hsb : NULL, &pol, NULL, &err);
    if (src_rc != 0) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        if (!is_layout && (src_rc == SL_ERETRY || src_rc == SL_EAUTH || src_rc == SL_EDIGEST))
            exit_code = SL_EXIT_REMOTE;
        goto done;
    }
    struct sl_report_meta meta = {image, manifest_digest, db.digest[0] ? db.digest : NULL,
                                  db.records, fail_on};
    if (sl_report_write(stdout, &rep, fmt, &meta) != 0) {
        sl_cli_errorf(CMD, "writing the report failed");
        goto done;
    }
    fflush(stdout);
    exit_code = rep.passed ? SL_EXIT_OK : SL_EXIT_CHECK_FAILED;
done:
    sl_scan_report_free(&rep);
    sl_reg_image_free(&rimg);
    sl_registry_free(reg);
    sl_ref_free(&ref);
    sl_oci_image_free(&img);
    sl_hsbdb_free(&hsb);
    sl_advdb_free(&db);
    free(hsb_data);
    free(dir);
    free(repository);
    free(vex_paths);
    sl_vex_free(&vex);
    return exit_code;
}
