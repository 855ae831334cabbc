#include "scan/imageattest.h"
#include "oci/ref.h"
#include "scan/engine.h"
#include "scan/regimage.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>

#define SCANNER_URI "https://sealift.dev/scanner"

int sl_image_attest(struct sl_image_attest_result *out, struct sl_registry *reg, const char *repo,
                    const char *subject_name, const char *digest,
                    const struct sl_image_attest_opts *opts, struct sl_err *err)
{
    if (!opts->sbom && !opts->vuln)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "no attestation type asked for");
    if (opts->vuln && !opts->db)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "a vulnerability attestation needs an advisory database");
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest: %s", digest);
    struct sl_image_attest_result res = {0};
    struct sl_reg_image img;
    struct sl_scan_report rep;
    struct sl_pkgs pkgs;
    struct sl_scan_policy report_only = {.now = time(NULL)};
    json_t *sbom = NULL, *vuln = NULL;
    memset(&img, 0, sizeof(img));
    memset(&rep, 0, sizeof(rep));
    sl_pkgs_init(&pkgs);
    int rc = sl_reg_image_open(&img, reg, repo, digest, NULL, err);
    if (rc)
        goto done;
    if (strcmp(img.manifest_digest, digest) != 0) {
        /* an index resolves to one of its children: attest the children themselves */
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s is an image index: attest its platform manifests", digest);
        goto done;
    }
    char started[32];
    sl_time_now_rfc3339(started, sizeof(started));
    struct sl_image_source src;
    sl_reg_image_source(&src, &img);
    rc = sl_scan_image_inventory(&rep, &pkgs, &src, opts->vuln ? opts->db : NULL, NULL,
                                 opts->policy ? opts->policy : &report_only, NULL, err);
    if (rc)
        goto done;
    sl_time_now_rfc3339(res.finished, sizeof(res.finished));
    res.packages = pkgs.count;
    res.findings = rep.nfindings;
    if (opts->sbom) {
        struct sl_sbom_subject s = {.image = subject_name,
                                    .digest = digest,
                                    .created = res.finished,
                                    .tool_version = SL_VERSION};
        rc = sl_sbom_build(&sbom, opts->sbom_format, &pkgs, &rep.os, rep.os_found, &s, err);
        struct sl_attest_result ar = {0};
        if (!rc)
            rc = sl_attest_write(&ar, reg, repo, subject_name, digest,
                                 sl_sbom_predicate_type(opts->sbom_format), sbom, opts->key,
                                 &opts->where, err);
        if (rc)
            goto done;
        res.layers = ar.layers;
    }
    if (opts->vuln) {
        struct sl_vuln_meta m = {.scanner_uri = SCANNER_URI,
                                 .scanner_version = SL_VERSION,
                                 .db_uri = opts->db_uri,
                                 .db_digest = opts->db->digest[0] ? opts->db->digest : NULL,
                                 .started = started,
                                 .finished = res.finished};
        rc = sl_vuln_predicate(&vuln, &rep, &m, err);
        struct sl_attest_result ar = {0};
        if (!rc)
            rc = sl_attest_write(&ar, reg, repo, subject_name, digest, SL_VULN_PREDICATE, vuln,
                                 opts->key, &opts->where, err);
        if (rc)
            goto done;
        res.layers = ar.layers;
    }
    if (out)
        *out = res;
done:
    json_decref(sbom);
    json_decref(vuln);
    sl_pkgs_clear(&pkgs);
    sl_scan_report_free(&rep);
    sl_reg_image_free(&img);
    return rc;
}
