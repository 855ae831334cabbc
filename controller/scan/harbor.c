/* Harbor vulnerability report v1.1 <-> sealift findings (see harbor.h). */
#include "scan/harbor.h"

#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The report spells the scale as sealift does, except that "no impact" is "Negligible". */
const char *sl_harbor_severity_name(enum sl_severity sev)
{
    return sev == SL_SEV_NONE ? "Negligible" : sl_severity_name(sev);
}

int sl_harbor_severity_parse(enum sl_severity *out, const char *s)
{
    if (!s)
        return SL_EINVAL;
    for (int sev = SL_SEV_UNKNOWN; sev <= SL_SEV_CRITICAL; sev++) {
        if (strcmp(s, sl_harbor_severity_name(sev)) == 0 ||
            (sev == SL_SEV_NONE && strcmp(s, sl_severity_name(sev)) == 0)) {
            *out = (enum sl_severity)sev;
            return 0;
        }
    }
    return SL_EINVAL;
}

/* A string member without NUL bytes, or NULL. */
static const char *member_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

int sl_harbor_report_parse(struct sl_scan_report *rep, const char *json, size_t len,
                           struct sl_err *err)
{
    memset(rep, 0, sizeof(*rep));
    json_error_t jerr;
    int rc = 0;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER, "malformed vulnerability report: %s%s",
                        root ? "not a JSON object" : "not JSON: ", root ? "" : jerr.text);
        goto done;
    }
    json_t *vulns = json_object_get(root, "vulnerabilities");
    if (vulns && !json_is_array(vulns) && !json_is_null(vulns)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                        "malformed vulnerability report: vulnerabilities is not an array");
        goto done;
    }
    size_t n = json_array_size(vulns);
    if (n > SL_HARBOR_MAX_VULNS) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_SCANNER,
                        "vulnerability report has %zu vulnerabilities (at most %d)", n,
                        SL_HARBOR_MAX_VULNS);
        goto done;
    }
    if (n)
        rep->findings = sl_xcalloc(n, sizeof(*rep->findings));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(vulns, i);
        const char *id = member_str(v, "id"), *pkg = member_str(v, "package");
        const char *ver = member_str(v, "version"), *fix = member_str(v, "fix_version");
        const char *sev_text = member_str(v, "severity"), *desc = member_str(v, "description");
        if (!json_is_object(v) || !id || !*id || !pkg || !*pkg || !ver) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                            "malformed vulnerability report: vulnerabilities[%zu] needs string "
                            "id, package and version",
                            i);
            goto done;
        }
        enum sl_severity sev = SL_SEV_UNKNOWN;
        if (sev_text && sl_harbor_severity_parse(&sev, sev_text) != 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                            "malformed vulnerability report: vulnerabilities[%zu].severity "
                            "\"%.40s\" is not Critical, High, Medium, Low, Negligible or Unknown",
                            i, sev_text);
            goto done;
        }
        if (json_object_get(v, "severity") && !sev_text) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_SCANNER,
                            "malformed vulnerability report: vulnerabilities[%zu].severity is "
                            "not a string",
                            i);
            goto done;
        }
        bool dup = false;
        for (size_t k = 0; k < rep->nfindings && !dup; k++)
            dup = strcmp(rep->findings[k].id, id) == 0 && strcmp(rep->findings[k].pkg, pkg) == 0;
        if (dup)
            continue;
        struct sl_finding *f = &rep->findings[rep->nfindings++];
        f->id = sl_xstrdup(id);
        f->pkg = sl_xstrdup(pkg);
        f->src_pkg = sl_xstrdup(pkg);
        f->installed = sl_xstrdup(ver);
        f->fixed = fix && *fix ? sl_xstrdup(fix) : NULL;
        f->severity = sev;
        f->source = "harbor";
        f->summary = desc && *desc ? sl_xstrdup(desc) : NULL;
    }
done:
    json_decref(root);
    return rc;
}

json_t *sl_harbor_report_render(const struct sl_scan_report *rep,
                                const struct sl_harbor_artifact *artifact,
                                const struct sl_harbor_scanner *scanner, const char *generated_at)
{
    json_t *root = json_object();
    json_object_set_new(root, "generated_at", json_string(generated_at));
    json_t *art = json_object();
    if (artifact->repository)
        json_object_set_new(art, "repository", json_string(artifact->repository));
    if (artifact->digest)
        json_object_set_new(art, "digest", json_string(artifact->digest));
    if (artifact->mime_type)
        json_object_set_new(art, "mime_type", json_string(artifact->mime_type));
    json_object_set_new(root, "artifact", art);
    json_object_set_new(root, "scanner",
                        json_pack("{s:s, s:s, s:s}", "name", scanner->name, "vendor",
                                  scanner->vendor, "version", scanner->version));
    json_t *vulns = json_array();
    enum sl_severity worst = SL_SEV_UNKNOWN;
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct sl_finding *f = &rep->findings[i];
        json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "id", f->id, "package", f->pkg, "version",
                              f->installed, "severity", sl_harbor_severity_name(f->severity));
        if (f->fixed)
            json_object_set_new(v, "fix_version", json_string(f->fixed));
        if (f->summary)
            json_object_set_new(v, "description", json_string(f->summary));
        if (strncmp(f->id, "CVE-", 4) == 0) {
            char link[200];
            snprintf(link, sizeof(link), "https://nvd.nist.gov/vuln/detail/%s", f->id);
            json_object_set_new(v, "links", json_pack("[s]", link));
        }
        json_object_set_new(v, "vendor_attributes",
                            json_pack("{s:s, s:s}", "source_package", f->src_pkg, "advisory_source",
                                      f->source ? f->source : ""));
        json_array_append_new(vulns, v);
        if (i == 0 || f->severity > worst)
            worst = f->severity;
    }
    if (rep->nfindings)
        json_object_set_new(root, "severity", json_string(sl_harbor_severity_name(worst)));
    json_object_set_new(root, "vulnerabilities", vulns);
    return root;
}
