/* `sealift copy SRC DST [--src-creds U:P] [--dest-creds U:P] [--src-insecure]
 *  [--dest-insecure] [--all-platforms]`: copies one image between registries and prints the
 * digest delivered. Without --all-platforms a multi-arch source delivers only the manifest of
 * the platform sealift runs on (like skopeo); with it, the whole index (same digest). The
 * referrers of the delivered digest (signatures, attestations, SBOMs: OCI 1.1 subject, and the
 * legacy cosign tags) come along unless --no-referrers. */
#include "cli/commands.h"
#include "oci/auth.h"
#include "oci/copy.h"
#include "oci/ref.h"
#include "oci/referrers.h"
#include "oci/registry.h"
#include "util/err.h"

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

static const char *usage_text =
    "usage: sealift copy SRC DST [--src-creds USER:PASS] [--dest-creds USER:PASS] "
    "[--src-insecure] [--dest-insecure] [--all-platforms] [--no-referrers]";

static const char *strip_transport(const char *s)
{
    return strncmp(s, "docker://", 9) == 0 ? s + 9 : s;
}

/* Explicit credentials win; else docker config.json for the reference's registry; else
 * anonymous. Returns 0 or SL_EINVAL. */
static int resolve_creds(struct sl_creds *out, int *have, const char *flag_value, const char *image,
                         struct sl_err *err)
{
    *have = 0;
    if (flag_value) {
        int rc = sl_creds_parse_userpass(out, flag_value, err);
        if (rc == 0)
            *have = 1;
        return rc;
    }
    struct sl_ref ref;
    if (sl_ref_parse(&ref, image, NULL) < 0)
        return 0; /* the copy reports the bad reference */
    struct sl_err lerr;
    int rc = sl_dockerconfig_lookup_default(out, ref.registry, &lerr);
    sl_ref_free(&ref);
    if (rc == 0) {
        *have = 1;
        return 0;
    }
    if (rc == SL_ENOTFOUND)
        return 0;
    if (err)
        *err = lerr;
    return rc;
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
    struct sl_registry_opts so = {.insecure = src->insecure}, dopt = {.insecure = dst->insecure};
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
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    const char *src_creds_s = NULL, *dst_creds_s = NULL;
    int src_insecure = 0, dst_insecure = 0, all_platforms = 0, no_referrers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--src-creds") == 0 || strcmp(a, "--dest-creds") == 0) {
            if (i + 1 >= argc) {
                sl_cli_errorf("copy", "%s needs a value USER:PASS", a);
                return SL_EXIT_USAGE;
            }
            if (a[2] == 's')
                src_creds_s = argv[++i];
            else
                dst_creds_s = argv[++i];
        } else if (strncmp(a, "--src-creds=", 12) == 0) {
            src_creds_s = a + 12;
        } else if (strncmp(a, "--dest-creds=", 13) == 0) {
            dst_creds_s = a + 13;
        } else if (strcmp(a, "--src-insecure") == 0) {
            src_insecure = 1;
        } else if (strcmp(a, "--dest-insecure") == 0) {
            dst_insecure = 1;
        } else if (strcmp(a, "--all-platforms") == 0) {
            all_platforms = 1;
        } else if (strcmp(a, "--no-referrers") == 0) {
            no_referrers = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("%s\n", usage_text);
            return SL_EXIT_OK;
        } else if (a[0] == '-' && a[1]) {
            sl_cli_errorf("copy", "unknown option %s; %s", a, usage_text);
            return SL_EXIT_USAGE;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            sl_cli_errorf("copy", "too many arguments; %s", usage_text);
            return SL_EXIT_USAGE;
        }
    }
    if (npos != 2) {
        sl_cli_errorf("copy", "need SRC and DST; %s", usage_text);
        return SL_EXIT_USAGE;
    }
    const char *src_image = strip_transport(pos[0]);
    const char *dst_image = strip_transport(pos[1]);

    int exit_code = SL_EXIT_REMOTE;
    struct sl_err err;
    sl_err_clear(&err);
    struct sl_creds src_creds, dst_creds;
    memset(&src_creds, 0, sizeof(src_creds));
    memset(&dst_creds, 0, sizeof(dst_creds));
    int have_src = 0, have_dst = 0;
    struct sl_ref check;
    if (sl_ref_parse(&check, src_image, &err) < 0 ||
        (sl_ref_free(&check), sl_ref_parse(&check, dst_image, &err) < 0)) {
        sl_cli_errorf("copy", "%s", err.msg);
        exit_code = SL_EXIT_USAGE;
        goto done;
    }
    sl_ref_free(&check);
    if (resolve_creds(&src_creds, &have_src, src_creds_s, src_image, &err) < 0 ||
        resolve_creds(&dst_creds, &have_dst, dst_creds_s, dst_image, &err) < 0) {
        sl_cli_errorf("copy", "%s", err.msg);
        exit_code = SL_EXIT_USAGE;
        goto done;
    }

    struct sl_copy_endpoint src = {
        .image = src_image, .creds = have_src ? &src_creds : NULL, .insecure = src_insecure};
    struct sl_copy_endpoint dst = {
        .image = dst_image, .creds = have_dst ? &dst_creds : NULL, .insecure = dst_insecure};
    static const char *const host_platform[] = {SL_HOST_PLATFORM};
    struct sl_copy_opts opts;
    memset(&opts, 0, sizeof(opts));
    if (!all_platforms) {
        opts.platforms = host_platform;
        opts.n_platforms = 1;
        opts.single_platform_image = 1;
    }
    struct sl_copy_result res;
    int rc = sl_copy_image(&res, &src, &dst, &opts, &err);
    if (rc < 0) {
        sl_cli_errorf("copy", "%s", err.msg);
        exit_code = rc == SL_EINVAL && err.klass == SL_ERRC_INPUT ? SL_EXIT_USAGE : SL_EXIT_REMOTE;
        goto done;
    }
    printf("%s\n", res.digest);
    fflush(stdout);
    if (!no_referrers) {
        rc = copy_referrers(&src, &dst, res.digest, &err);
        if (rc < 0) {
            sl_cli_errorf("copy", "%s copied, but not its referrers: %s", res.digest, err.msg);
            goto done;
        }
    }
    exit_code = SL_EXIT_OK;
done:
    sl_creds_free(&src_creds);
    sl_creds_free(&dst_creds);
    return exit_code;
}
