/* `sealift copy SRC DST [flags]`: copies one image between registries, or between an OCI image
 * layout (oci:DIR[:TAG]) and a registry, and prints the digest delivered. Without
 * --all-platforms a multi-arch source delivers only the manifest of the platform sealift runs on
 * (like skopeo); with it, the whole index (same digest). Between registries the referrers of the
 * delivered digest (signatures, attestations, SBOMs: OCI 1.1 subject, and the legacy cosign tags)
 * come along unless --no-referrers. */
#include "oci/cmd_copy.h"
#include "cli/commands.h"
#include "oci/auth.h"
#include "oci/cliregistry.h"
#include "oci/copy.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "oci/referrers.h"
#include "oci/registry.h"
#include "util/err.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define SL_HOST_PLATFORM "linux/amd64"
#elif defined(__aarch64__)
#define SL_HOST_PLATFORM "linux/arm64"
#elif defined(__arm__)
#define SL_HOST_PLATFORM "linux/arm"
#elif defined(__s390x__)
#define SL_HOST_PLATFORM "linux/s390x"
#elif defined(__powerpc64__)
#define SL_HOST_PLATFORM "linux/ppc64le"
#else
#define SL_HOST_PLATFORM "linux/amd64"
#endif

#define CMD "copy"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sealift copy SRC DST [flags]\n"
        "\n"
        "Copies one image (a manifest, or an index with its children) with its blobs and prints\n"
        "the digest delivered; digests are preserved. SRC and DST are registry references\n"
        "HOST[:PORT]/REPO[:TAG][@DIGEST] (a docker:// prefix is accepted) or OCI image layouts\n"
        "oci:DIR[:TAG] (as skopeo, oras or `sealift copy` write them; as a source, TAG may be\n"
        "left out when the layout holds one image). At least one side is a registry.\n"
        "\n"
        "Flags:\n"
        "  --src-creds USER:PASS     credentials for the source registry (visible to other\n"
        "                            users in ps and kept in shell history: prefer the next two)\n"
        "  --src-creds-file PATH     a file holding one line USER:PASS, or a docker config.json\n"
        "                            (the entry for the source registry's host is used)\n"
        "  --dest-creds USER:PASS    credentials for the destination registry\n"
        "  --dest-creds-file PATH    as --src-creds-file, for the destination registry\n"
        "  --src-insecure            the source registry may be plain http or present a\n"
        "                            certificate that is not trusted\n"
        "  --dest-insecure           the same for the destination registry\n"
        "  --all-platforms           copy a multi-arch index whole (same digest); by default only\n"
        "                            the manifest of this machine's platform (" SL_HOST_PLATFORM
        ")\n"
        "                            is delivered, like skopeo\n"
        "  --no-referrers            between registries, copy only the image; by default every\n"
        "                            referrer of the delivered digest (cosign signatures and\n"
        "                            bundles, attestations, SBOMs, recursively, and the legacy\n"
        "                            .sig/.att/.sbom tags) comes along, through the destination's\n"
        "                            referrers API or its sha256-<hex> fallback index\n"
        "  --image-parallel-copies N blobs copied at a time, 1 to 16 (default 2; as skopeo's\n"
        "                            flag); each holds about 100 KiB while it streams\n"
        "  -h, --help                print this help\n"
        "\n"
        "Credentials, for each side, from the first of: --src-creds / --dest-creds,\n"
        "--src-creds-file / --dest-creds-file, the environment variable SEALIFT_SRC_CREDS /\n"
        "SEALIFT_DEST_CREDS (USER:PASS), docker config.json ($DOCKER_CONFIG/config.json or\n"
        "~/.docker/config.json) for the registry's host; else anonymous. Passwords are never\n"
        "printed.\n"
        "\n"
        "Exit codes: 0 copied (the digest on stdout); 2 usage or input error (flag, reference,\n"
        "credentials file or variable, OCI layout); 3 registry error (unreachable, credentials\n"
        "refused, image missing, content not matching its digest).\n"
        "\n"
        "Example:\n"
        "  SEALIFT_DEST_CREDS=\"mirror:$(cat mirror.pw)\" sealift copy --dest-insecure \\\n"
        "      registry.example/acme/app:1.0 127.0.0.1:5000/mirror/app:1.0\n"
        "  sealift copy oci:./app-layout:1.0 registry.example/acme/app:1.0 \\\n"
        "      --dest-creds-file ~/.docker/config.json\n");
}

struct copy_args {
    const char *src, *dst;
    struct sl_cli_registry src_reg, dst_reg; /* --src-creds ..., --dest-creds ... */
    int all_platforms, no_referrers;
    int parallel; /* --image-parallel-copies; 0 = the copy engine's default */
};

/* Returns -1 to go on, or the exit code (0 after --help). */
static int parse_args(struct copy_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        SL_CLI_REGISTRY_SRC_OPTIONS,
        SL_CLI_REGISTRY_DEST_OPTIONS,
        {"all-platforms", no_argument, NULL, 'a'},
        {"no-referrers", no_argument, NULL, 'n'},
        {"image-parallel-copies", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    sl_cli_registry_init(&a->src_reg, SL_CLI_REGISTRY_SRC);
    sl_cli_registry_init(&a->dst_reg, SL_CLI_REGISTRY_DEST);
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (sl_cli_registry_option(&a->src_reg, c, optarg) ||
            sl_cli_registry_option(&a->dst_reg, c, optarg))
            continue;
        switch (c) {
        case 'a':
            a->all_platforms = 1;
            break;
        case 'n':
            a->no_referrers = 1;
            break;
        case 'p': {
            char *end = NULL;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 16) {
                sl_cli_errorf(
                    CMD, "--image-parallel-copies: \"%.32s\" is not a number from 1 to 16", optarg);
                return SL_EXIT_USAGE;
            }
            a->parallel = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return SL_EXIT_OK;
        default:
            sl_cli_errorf(
                CMD, "unknown option or option without its value: %s (see sealift copy --help)",
                argv[optind - 1]);
            return SL_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        sl_cli_errorf(CMD, "need SRC and DST, got %d argument%s (see sealift copy --help)",
                      argc - optind, argc - optind == 1 ? "" : "s");
        return SL_EXIT_USAGE;
    }
    a->src = sl_ref_skip_transport(argv[optind]);
    a->dst = sl_ref_skip_transport(argv[optind + 1]);
    return -1;
}

/* Parses one side: an oci: layout into *lay, else a registry reference into *ref. */
static int parse_side(struct sl_ref *ref, struct sl_layout_ref *lay, int is_layout,
                      const char *text, const char *side, struct sl_err *err)
{
    if (is_layout)
        return sl_layout_ref_parse(lay, text, err);
    int rc = sl_ref_parse(ref, text, err);
    if (rc < 0)
        sl_err_prefix(err, "%s", side);
    return rc;
}

/* The exit code for a failed copy: problems of the user's input (a flag, a reference, a local
 * layout) are 2, what a registry did is 3. */
static int exit_for(int rc, const struct sl_err *err)
{
    if (err->klass == SL_ERRC_INPUT || err->klass == SL_ERRC_OS || err->klass == SL_ERRC_JSON)
        return rc == SL_ENOTFOUND || rc == SL_EINVAL || rc == SL_EDIGEST || rc == SL_ETOOBIG ||
                       rc == SL_EFAIL || rc == SL_EUNSUPPORTED
                   ? SL_EXIT_USAGE
                   : SL_EXIT_REMOTE;
    return SL_EXIT_REMOTE;
}

/* The referrers of digest (delivered from src to dst) go along; says what went to stderr. */
static int copy_referrers(const struct sl_copy_endpoint *src, const struct sl_copy_endpoint *dst,
                          const char *digest, struct sl_err *err)
{
    struct sl_ref sref, dref;
    memset(&sref, 0, sizeof(sref));
    memset(&dref, 0, sizeof(dref));
    struct sl_registry *sreg = NULL, *dreg = NULL;
    int rc = sl_ref_parse(&sref, src->image, err);
    if (!rc)
        rc = sl_ref_parse(&dref, dst->image, err);
    if (rc)
        goto done;
    struct sl_registry_opts so = {.insecure = src->insecure,
                                  .insecure_flag = src->insecure_flag,
                                  .creds_hint = src->creds_hint};
    struct sl_registry_opts dopt = {.insecure = dst->insecure,
                                    .insecure_flag = dst->insecure_flag,
                                    .creds_hint = dst->creds_hint};
    sreg = sl_registry_new(sl_ref_api_host(&sref), src->creds, &so);
    dreg = sl_registry_new(sl_ref_api_host(&dref), dst->creds, &dopt);
    struct sl_referrers_result res;
    memset(&res, 0, sizeof(res));
    rc = sl_referrers_copy(&res, sreg, sref.repository, dreg, dref.repository, digest, NULL, err);
    if (!rc && (res.copied || res.present || res.tags_copied))
        fprintf(stderr,
                "sealift copy: referrers of %s: %zu copied, %zu already there, %zu legacy cosign "
                "tag(s) copied\n",
                digest, res.copied, res.present, res.tags_copied);
done:
    sl_registry_free(sreg);
    sl_registry_free(dreg);
    sl_ref_free(&sref);
    sl_ref_free(&dref);
    return rc;
}

int sl_cmd_copy(int argc, char **argv)
{
    struct copy_args a;
    int code = parse_args(&a, argc, argv);
    if (code >= 0)
        return code;

    int exit_code = SL_EXIT_USAGE;
    struct sl_err err;
    sl_err_clear(&err);
    struct sl_cli_registry_creds src_creds, dst_creds;
    memset(&src_creds, 0, sizeof(src_creds));
    memset(&dst_creds, 0, sizeof(dst_creds));
    struct sl_ref sref, dref;
    memset(&sref, 0, sizeof(sref));
    memset(&dref, 0, sizeof(dref));
    struct sl_layout_ref slay = {0}, dlay = {0};
    struct sl_registry *sreg = NULL, *dreg = NULL;
    int src_layout = sl_layout_ref_is(a.src), dst_layout = sl_layout_ref_is(a.dst);
    if (src_layout && dst_layout) {
        sl_cli_errorf(CMD, "SRC and DST are both OCI layouts; one of them must be a registry");
        goto done;
    }
    if (parse_side(&sref, &slay, src_layout, a.src, "source", &err) < 0 ||
        parse_side(&dref, &dlay, dst_layout, a.dst, "destination", &err) < 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if ((!src_layout && sl_cli_registry_resolve(&src_creds, &a.src_reg, sref.registry, &err) < 0) ||
        (!dst_layout && sl_cli_registry_resolve(&dst_creds, &a.dst_reg, dref.registry, &err) < 0)) {
        sl_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    static const char *const host_platform[] = {SL_HOST_PLATFORM};
    struct sl_copy_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = a.parallel;
    if (!a.all_platforms) {
        opts.platforms = host_platform;
        opts.n_platforms = 1;
        opts.single_platform_image = 1;
    }
    struct sl_copy_result res;
    int rc;
    if (src_layout || dst_layout) {
        /* the registry side of a copy to or from a layout */
        const struct sl_cli_registry *side = src_layout ? &a.dst_reg : &a.src_reg;
        const struct sl_cli_registry_creds *c = src_layout ? &dst_creds : &src_creds;
        struct sl_registry_opts ro = sl_cli_registry_client_opts(side, c);
        const struct sl_ref *r = src_layout ? &dref : &sref;
        struct sl_registry *reg =
            sl_registry_new(sl_ref_api_host(r), c->have ? &c->creds : NULL, &ro);
        if (src_layout) {
            dreg = reg;
            rc = sl_layout_copy_to_registry(&res, &slay, dreg, &dref, &opts, &err);
        } else {
            sreg = reg;
            rc = sl_layout_copy_from_registry(&res, sreg, &sref, &dlay, &opts, &err);
        }
    } else {
        struct sl_copy_endpoint src = {.image = a.src,
                                       .creds = src_creds.have ? &src_creds.creds : NULL,
                                       .insecure = a.src_reg.insecure,
                                       .insecure_flag = a.src_reg.insecure_flag,
                                       .creds_hint = src_creds.hint};
        struct sl_copy_endpoint dst = {.image = a.dst,
                                       .creds = dst_creds.have ? &dst_creds.creds : NULL,
                                       .insecure = a.dst_reg.insecure,
                                       .insecure_flag = a.dst_reg.insecure_flag,
                                       .creds_hint = dst_creds.hint};
        rc = sl_copy_image(&res, &src, &dst, &opts, &err);
        if (rc < 0 && !(rc == SL_EINVAL && err.klass == SL_ERRC_INPUT))
            err.klass = SL_ERRC_REGISTRY; /* the engine's failures are the registries' */
        if (rc == 0 && !a.no_referrers) {
            printf("%s\n", res.digest);
            fflush(stdout);
            if (copy_referrers(&src, &dst, res.digest, &err) < 0) {
                sl_cli_errorf(CMD, "%s copied, but not its referrers: %s", res.digest, err.msg);
                exit_code = SL_EXIT_REMOTE;
            } else {
                exit_code = SL_EXIT_OK;
            }
            goto done;
        }
    }
    if (rc < 0) {
        sl_cli_errorf(CMD, "%s", err.msg);
        exit_code = exit_for(rc, &err);
        goto done;
    }
    printf("%s\n", res.digest);
    fflush(stdout);
    exit_code = SL_EXIT_OK;
done:
    sl_registry_free(sreg);
    sl_registry_free(dreg);
    sl_ref_free(&sref);
    sl_ref_free(&dref);
    sl_layout_ref_free(&slay);
    sl_layout_ref_free(&dlay);
    sl_cli_registry_creds_free(&src_creds);
    sl_cli_registry_creds_free(&dst_creds);
    return exit_code;
}
