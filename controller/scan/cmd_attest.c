/* `sealift attest IMAGE --key KEY --type sbom|vuln`: signed SBOM and vulnerability attestations
 * for CI pipelines (scan/imageattest.h). */
#include "cli/commands.h"
#include "oci/cliregistry.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "scan/advisory.h"
#include "scan/imageattest.h"
#include "scan/regimage.h"
#include "sign/cmd_sign.h"
#include "util/mem.h"

#include <getopt.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "attest"

static void usage_to(FILE *f)
{
    fprintf(
        f,
        "usage: sealift attest IMAGE --key FILE --type sbom|vuln [--sbom-format "
        "spdx|cyclonedx]\n"
        "                      [--db PATH|IMAGE] [--vex FILE]... [--platform OS/ARCH[/VARIANT]]\n"
        "                      [--format legacy|bundle|both] [--creds USER:PASS | "
        "--creds-file PATH] [--insecure]\n"
        "\n"
        "Reads the image's packages (dpkg, apk) and OS, and writes a signed attestation of\n"
        "the image manifest IMAGE names (a tag is resolved first; for an index, of every\n"
        "platform, or only the --platform child): an in-toto statement in a DSSE envelope\n"
        "signed with the private key FILE, stored as cosign stores attestations, so that\n"
        "`cosign verify-attestation --key PUB --type spdxjson|cyclonedx|vuln` checks it.\n"
        "  --type sbom   an SBOM: SPDX 2.3 JSON (default) or CycloneDX 1.5 JSON\n"
        "  --type vuln   a vulnerability report (predicate\n"
        "                https://cosign.sigstore.dev/attestation/vuln/v1) made with the\n"
        "                advisories of --db: scanner, database digest, times, findings\n"
        "\n"
        "Flags:\n"
        "  -k, --key FILE          the private key (PEM; `sealift keygen` writes one)\n"
        "  -t, --type TYPE         sbom or vuln\n"
        "  --sbom-format FORMAT    spdx (default) or cyclonedx\n"
        "  --db PATH|IMAGE         advisories (directory, file or `sealift db push` image);\n"
        "                          required with --type vuln\n"
        "  --vex FILE              an OpenVEX document (repeatable, at most 64): findings a\n"
        "                          not_affected or fixed statement covers for this image\n"
        "                          are marked suppressed: true in the vuln report, and\n"
        "                          admission (requireAttestations) does not count them\n"
        "  --platform OS/ARCH      only this child of an image index (default: every\n"
        "                          platform, one attestation each)\n"
        "  --format FORMAT         legacy (default): the tag sha256-<hex>.att, layers kept;\n"
        "                          bundle: a Sigstore bundle as an OCI 1.1 referrer (or the\n"
        "                          sha256-<hex> fallback index); both\n"
        "  --creds USER:PASS       registry credentials (visible in ps: prefer the next)\n"
        "  --creds-file PATH       a file holding one line USER:PASS, or a docker\n"
        "                          config.json (the entry for IMAGE's registry is used)\n"
        "  --insecure              the registry may be plain http or present a certificate\n"
        "                          that is not trusted\n"
        "  -h, --help              print this help\n"
        "\n"
        "Exit codes: 0 attested; 2 usage error, unreadable key or database; 3 registry\n"
        "error.\n"
        "\n"
        "Example:\n"
        "  sealift attest registry.example/acme/app:1.0 --key cosign.key --type sbom \\\n"
        "      --sbom-format cyclonedx --creds-file ~/.docker/config.json\n");
}

/* What every platform's attestation shares. */
struct attest_run {
    struct sl_registry *reg;
    const char *repo, *image, *subject;
    struct sl_image_attest_opts *ao;
    struct sl_scan_policy *pol; /* with --vex, else NULL */
    struct sl_vex *vex;
    const char *index_digest; /* the index IMAGE names, or NULL */
};

/* Attests the image manifest reference resolves to (platform: the child of an index, NULL =
 * linux/amd64) and prints one line. Returns the exit code. */
static int attest_one(struct attest_run *r, const char *reference, const char *platform)
{
    struct sl_reg_image img;
    struct sl_err err = {0};
    int code;
    int rc = sl_reg_image_open(&img, r->reg, r->repo, reference, platform, &err);
    if (rc) {
        sl_cli_errorf(CMD, "%s: %s", r->image, err.msg);
        code = rc == SL_EINVAL || rc == SL_EUNSUPPORTED ? SL_EXIT_USAGE : SL_EXIT_REMOTE;
        goto done;
    }
    if (r->pol) {
        /* VEX products name the attested manifest, the index IMAGE names, or the repository */
        r->pol->vex = r->vex;
        r->pol->vex_image.digest = img.manifest_digest;
        r->pol->vex_image.index_digest =
            r->index_digest && strcmp(r->index_digest, img.manifest_digest) != 0 ? r->index_digest
                                                                                 : NULL;
        r->pol->vex_image.repository = r->subject;
        r->ao->policy = r->pol;
    }
    struct sl_image_attest_result res = {0};
    rc = sl_image_attest(&res, r->reg, r->repo, r->subject, img.manifest_digest, r->ao, &err);
    if (rc) {
        sl_cli_errorf(CMD, "%s@%s: %s", r->image, img.manifest_digest, err.msg);
        code = sl_cli_exit_code(rc);
        goto done;
    }
    const char *pt = r->ao->sbom ? sl_sbom_predicate_type(r->ao->sbom_format) : SL_VULN_PREDICATE;
    printf("%s attested: %s (%s%s%zu packages", img.manifest_digest, pt, platform ? platform : "",
           platform ? ", " : "", res.packages);
    if (r->ao->vuln)
        printf(", %zu findings", res.findings);
    if (r->ao->where.tag)
        printf("; %zu attestation%s at sha256-%s.att", res.layers, res.layers == 1 ? "" : "s",
               img.manifest_digest + 7);
    printf(")\n");
    code = SL_EXIT_OK;
done:
    sl_reg_image_free(&img);
    return code;
}

/* When reference names an index: its runnable platforms (not build tools' unknown/unknown
 * entries; at most 32) as child digests and "os/arch[/variant]" strings, and the index's digest.
 * *n = 0 for an image manifest. Returns 0 or a registry error. */
static int index_platforms(char (**children)[72], char ***platforms, size_t *n,
                           char index_digest[72], struct sl_registry *reg, const char *repo,
                           const char *reference, struct sl_err *err)
{
    struct sl_registry_manifest rm = {0};
    struct sl_manifest m = {0};
    *children = NULL;
    *platforms = NULL;
    *n = 0;
    int rc = sl_registry_manifest_get(&rm, reg, repo, reference, err);
    if (rc == 0)
        rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, err);
    if (rc || m.kind != SL_MANIFEST_INDEX)
        goto done;
    memcpy(index_digest, rm.digest, 72);
    *children = sl_xcalloc(m.n_children ? m.n_children : 1, sizeof(**children));
    *platforms = sl_xcalloc(m.n_children ? m.n_children : 1, sizeof(**platforms));
    for (size_t i = 0; i < m.n_children; i++) {
        const struct sl_descriptor *c = &m.children[i];
        if (!c->os || !c->arch || strcmp(c->os, "unknown") == 0)
            continue;
        if (*n == 32) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY,
                            "%s@%s has more than 32 platforms: name one with --platform", repo,
                            rm.digest);
            goto done;
        }
        snprintf((*children)[*n], 72, "%s", c->digest);
        (*platforms)[*n] = sl_xasprintf("%s/%s%s%s", c->os, c->arch, c->variant ? "/" : "",
                                        c->variant ? c->variant : "");
        (*n)++;
    }
    if (*n == 0)
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "%s@%s has no platform image", repo,
                        rm.digest);
done:
    if (rc) {
        for (size_t i = 0; *platforms && i < *n; i++)
            free((*platforms)[i]);
        free(*platforms);
        free(*children);
        *platforms = NULL;
        *children = NULL;
        *n = 0;
    }
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

int sl_cmd_attest(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"type", required_argument, NULL, 't'},
        {"sbom-format", required_argument, NULL, 's'},
        {"db", required_argument, NULL, 'd'},
        {"vex", required_argument, NULL, 'V'},
        {"platform", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        SL_CLI_REGISTRY_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key_file = NULL, *type = NULL, *db_path = NULL, *platform = NULL;
    const char *format = "legacy";
    struct sl_cli_registry regflags;
    int exit_code = SL_EXIT_USAGE;
    struct sl_image_attest_opts ao = {0};
    struct sl_advdb db;
    struct sl_vex vex;
    const char *vex_paths[64];
    size_t nvex = 0;
    struct sl_scan_policy pol = {.now = time(NULL)};
    struct sl_key *key = NULL;
    struct sl_registry *reg = NULL;
    struct sl_ref ref;
    struct sl_err err = {0};
    char *subject = NULL;
    sl_advdb_init(&db);
    sl_vex_init(&vex);
    memset(&ref, 0, sizeof(ref));
    sl_cli_registry_init(&regflags, SL_CLI_REGISTRY_ONE);

    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "k:t:h", opts, NULL)) != -1) {
        if (sl_cli_registry_option(&regflags, c, optarg))
            continue;
        switch (c) {
        case 'k':
            key_file = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 's':
            if (sl_sbom_format_parse(&ao.sbom_format, optarg) != 0) {
                sl_cli_errorf(CMD, "--sbom-format must be spdx or cyclonedx, not \"%s\"", optarg);
                goto done;
            }
            break;
        case 'V':
            if (nvex == sizeof(vex_paths) / sizeof(vex_paths[0])) {
                sl_cli_errorf(CMD, "at most 64 --vex documents");
                goto done;
            }
            vex_paths[nvex++] = optarg;
            break;
        case 'd':
            db_path = optarg;
            break;
        case 'p':
            platform = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'h':
            usage_to(stdout);
            exit_code = SL_EXIT_OK;
            goto done;
        default:
            sl_cli_errorf(CMD, "unknown or incomplete flag %s (see sealift attest --help)",
                          argv[optind - 1]);
            goto done;
        }
    }
    if (optind + 1 != argc || !key_file || !type) {
        sl_cli_errorf(CMD, "usage: sealift attest IMAGE --key FILE --type sbom|vuln (see sealift "
                           "attest --help)");
        goto done;
    }
    const char *image = argv[optind];
    ao.sbom = strcmp(type, "sbom") == 0;
    ao.vuln = strcmp(type, "vuln") == 0;
    if (!ao.sbom && !ao.vuln) {
        sl_cli_errorf(CMD, "--type must be sbom or vuln, not \"%s\"", type);
        goto done;
    }
    if (nvex && !ao.vuln) {
        sl_cli_errorf(CMD, "--vex applies to --type vuln only");
        goto done;
    }
    if (ao.vuln && !db_path) {
        sl_cli_errorf(CMD, "--type vuln needs --db (the advisories to scan with)");
        goto done;
    }
    ao.where.tag = strcmp(format, "legacy") == 0 || strcmp(format, "both") == 0;
    ao.where.referrer = strcmp(format, "bundle") == 0 || strcmp(format, "both") == 0;
    if (!ao.where.tag && !ao.where.referrer) {
        sl_cli_errorf(CMD, "--format must be legacy, bundle or both, not \"%s\"", format);
        goto done;
    }
    if (sl_scan_cli_check_platform(platform, CMD) != 0)
        goto done;
    if (sl_sign_cli_read_key(&key, key_file, true, &err) != 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    ao.key = key;
    if (ao.vuln && sl_scan_cli_load_db(&db, db_path, &regflags, &exit_code, CMD) != 0)
        goto done;
    ao.db = ao.vuln ? &db : NULL;
    if (sl_scan_cli_load_vex(&vex, vex_paths, nvex, CMD) != 0)
        goto done;
    ao.db_uri = db_path;
    if (sl_cli_registry_connect(&reg, &ref, sl_ref_skip_transport(image), &regflags, NULL, &err)) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        goto done;
    }
    subject = sl_xasprintf("%s/%s", ref.registry, ref.repository);
    const char *reference = ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest");
    struct attest_run run = {.reg = reg,
                             .repo = ref.repository,
                             .image = image,
                             .subject = subject,
                             .ao = &ao,
                             .pol = nvex ? &pol : NULL,
                             .vex = &vex,
                             .index_digest = ref.digest};
    if (platform) {
        exit_code = attest_one(&run, reference, platform);
        goto done;
    }
    /* no --platform: every platform of an index (admission wants each one attested) */
    char(*children)[72] = NULL;
    char **platforms = NULL;
    size_t n = 0;
    char index_digest[72] = "";
    int rc = index_platforms(&children, &platforms, &n, index_digest, reg, ref.repository,
                             reference, &err);
    if (rc) {
        sl_cli_errorf(CMD, "%s: %s", image, err.msg);
        exit_code = sl_cli_exit_code(rc);
        goto done;
    }
    if (n == 0) {
        exit_code = attest_one(&run, reference, NULL);
        goto done;
    }
    run.index_digest = index_digest;
    exit_code = SL_EXIT_OK;
    for (size_t i = 0; i < n && exit_code == SL_EXIT_OK; i++)
        exit_code = attest_one(&run, children[i], platforms[i]);
    for (size_t i = 0; i < n; i++)
        free(platforms[i]);
    free(platforms);
    free(children);
done:
    free(subject);
    sl_registry_free(reg);
    sl_ref_free(&ref);
    sl_key_free(key);
    sl_advdb_free(&db);
    sl_vex_free(&vex);
    return exit_code;
}
