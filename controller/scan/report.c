/* Table, JSON and SARIF 2.1.0 renderings of a scan report. */
#include "scan/report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int sl_report_format_parse(enum sl_report_format *out, const char *s)
{
    if (strcmp(s, "table") == 0)
        *out = SL_REPORT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = SL_REPORT_JSON;
    else if (strcmp(s, "sarif") == 0)
        *out = SL_REPORT_SARIF;
    else
        return SL_EINVAL;
    return 0;
}

/* "1 Critical, 2 High" (non-zero counts, not allowlisted), or "no vulnerabilities found". */
static void write_counts(FILE *out, const struct sl_scan_report *rep)
{
    const char *sep = "";
    for (int s = SL_SEV_CRITICAL; s >= SL_SEV_UNKNOWN; s--) {
        if (rep->counts[s] == 0)
            continue;
        fprintf(out, "%s%zu %s", sep, rep->counts[s], sl_severity_name((enum sl_severity)s));
        sep = ", ";
    }
    if (!*sep)
        fprintf(out, "no vulnerabilities found");
}

/* "pass", "fail", or "not-evaluated" when nothing failed and no --fail-on threshold was given
 * (findings were listed, not judged). */
static const char *result_word(const struct sl_scan_report *rep, const struct sl_report_meta *m)
{
    if (!rep->passed)
        return "fail";
    return m->fail_on ? "pass" : "not-evaluated";
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *failed_reasons(const struct sl_scan_report *rep)
{
    json_t *a = json_array();
    if (rep->vuln_failed)
        json_array_append_new(a, json_string("vulnerabilities"));
    if (rep->baseline_failed)
        json_array_append_new(a, json_string("baseline"));
    if (rep->malware_failed)
        json_array_append_new(a, json_string("malware"));
    if (rep->layers_failed)
        json_array_append_new(a, json_string("layers"));
    return a;
}

/* {status, justification, impactStatement, document} of a VEX-suppressed finding. */
static json_t *vex_json(const struct sl_finding *f)
{
    json_t *x = json_object();
    json_object_set_new(x, "status", json_string(f->vex_status));
    json_object_set_new(x, "justification", str_or_null(f->vex_justification));
    json_object_set_new(x, "impactStatement", str_or_null(f->vex_impact));
    json_object_set_new(x, "document", str_or_null(f->vex_document));
    return x;
}

static json_t *report_json(const struct sl_scan_report *rep, const struct sl_report_meta *m)
{
    json_t *root = json_object();
    json_object_set_new(root, "image", str_or_null(m->image));
    json_object_set_new(root, "digest", str_or_null(m->digest));
    if (rep->os_found) {
        json_t *os = json_object();
        json_object_set_new(os, "id", json_string(rep->os.id));
        json_object_set_new(os, "versionId", json_string(rep->os.version_id));
        json_object_set_new(os, "codename", json_string(rep->os.codename));
        json_object_set_new(os, "release", json_string(rep->os.release));
        json_object_set_new(os, "ecosystem", json_string(rep->ecosystem));
        json_object_set_new(root, "os", os);
    } else {
        json_object_set_new(root, "os", json_null());
    }
    json_object_set_new(root, "packages", json_integer((json_int_t)rep->packages));
    json_t *db = json_object();
    json_object_set_new(db, "digest", str_or_null(m->db_digest));
    json_object_set_new(db, "records", json_integer((json_int_t)m->db_records));
    json_object_set_new(root, "database", db);
    json_t *vulns = json_array();
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct sl_finding *f = &rep->findings[i];
        json_t *v = json_object();
        json_object_set_new(v, "id", json_string(f->id));
        json_object_set_new(v, "package", json_string(f->pkg));
        json_object_set_new(v, "sourcePackage", json_string(f->src_pkg));
        json_object_set_new(v, "installedVersion", json_string(f->installed));
        json_object_set_new(v, "fixedVersion", str_or_null(f->fixed));
        json_object_set_new(v, "severity", json_string(sl_severity_name(f->severity)));
        json_object_set_new(v, "source", json_string(f->source));
        if (f->summary)
            json_object_set_new(v, "summary", json_string(f->summary));
        json_object_set_new(v, "allowlisted", json_boolean(f->allowlisted));
        if (f->allow_reason)
            json_object_set_new(v, "allowReason", json_string(f->allow_reason));
        json_object_set_new(v, "vexSuppressed", json_boolean(f->vex_suppressed));
        if (f->vex_suppressed)
            json_object_set_new(v, "vex", vex_json(f));
        json_array_append_new(vulns, v);
    }
    json_object_set_new(root, "vulnerabilities", vulns);
    json_t *sum = json_object();
    for (int s = SL_SEV_CRITICAL; s >= SL_SEV_UNKNOWN; s--)
        json_object_set_new(sum, sl_severity_name((enum sl_severity)s),
                            json_integer((json_int_t)rep->counts[s]));
    json_object_set_new(sum, "vexSuppressed", json_integer((json_int_t)rep->vex_suppressed));
    json_object_set_new(root, "summary", sum);
    json_t *base = json_array();
    for (size_t i = 0; i < rep->nbaseline; i++) {
        json_t *b = json_object();
        json_object_set_new(b, "rule", json_string(sl_baseline_rule_name(rep->baseline[i].rule)));
        json_object_set_new(b, "subject", json_string(rep->baseline[i].subject));
        json_object_set_new(b, "enforced", json_boolean(rep->baseline[i].enforced));
        json_array_append_new(base, b);
    }
    json_object_set_new(root, "baseline", base);
    json_t *mal = json_array();
    for (size_t i = 0; i < rep->nmalware; i++) {
        json_t *h = json_object();
        json_object_set_new(h, "path", json_string(rep->malware[i].path));
        json_object_set_new(h, "signature", json_string(rep->malware[i].signature));
        json_array_append_new(mal, h);
    }
    json_object_set_new(root, "malware", mal);
    json_t *issues = json_array();
    for (size_t i = 0; i < rep->nissues; i++) {
        json_t *is = json_object();
        json_object_set_new(is, "layer", json_integer((json_int_t)rep->issues[i].layer));
        json_object_set_new(is, "path", json_string(rep->issues[i].path));
        json_object_set_new(is, "problem", json_string(rep->issues[i].problem));
        json_array_append_new(issues, is);
    }
    json_object_set_new(root, "layerIssues", issues);
    json_object_set_new(root, "layerIssuesTotal", json_integer((json_int_t)rep->issues_total));
    json_object_set_new(root, "failOn", str_or_null(m->fail_on));
    json_object_set_new(root, "result", json_string(result_word(rep, m)));
    json_object_set_new(root, "failed", failed_reasons(rep));
    return root;
}

static const char *sarif_level(enum sl_severity s)
{
    if (s >= SL_SEV_HIGH)
        return "error";
    if (s == SL_SEV_MEDIUM)
        return "warning";
    return "note";
}

static const char *security_severity(enum sl_severity s)
{
    /* GitHub code scanning reads properties.security-severity as a CVSS-like number */
    switch (s) {
    case SL_SEV_CRITICAL:
        return "9.5";
    case SL_SEV_HIGH:
        return "8.0";
    case SL_SEV_MEDIUM:
        return "5.5";
    case SL_SEV_LOW:
        return "2.0";
    default:
        return "0.0";
    }
}

/* Finds or adds a rule; returns its index. */
static size_t sarif_rule(json_t *rules, const char *id, const char *text, const char *sev_num,
                         const char *tag)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
            return i;
    }
    r = json_object();
    json_object_set_new(r, "id", json_string(id));
    json_t *sd = json_object();
    json_object_set_new(sd, "text", json_string(text));
    json_object_set_new(r, "shortDescription", sd);
    json_t *props = json_object();
    if (sev_num)
        json_object_set_new(props, "security-severity", json_string(sev_num));
    json_t *tags = json_array();
    json_array_append_new(tags, json_string("security"));
    json_array_append_new(tags, json_string(tag));
    json_object_set_new(props, "tags", tags);
    json_object_set_new(r, "properties", props);
    json_array_append_new(rules, r);
    return json_array_size(rules) - 1;
}

static json_t *sarif_result(size_t rule_index, const char *rule_id, const char *level,
                            const char *message, const char *uri)
{
    json_t *res = json_object();
    json_object_set_new(res, "ruleId", json_string(rule_id));
    json_object_set_new(res, "ruleIndex", json_integer((json_int_t)rule_index));
    json_object_set_new(res, "level", json_string(level));
    json_t *msg = json_object();
    json_object_set_new(msg, "text", json_string(message));
    json_object_set_new(res, "message", msg);
    json_t *locs = json_array();
    json_t *loc = json_object();
    json_t *phys = json_object();
    json_t *art = json_object();
    json_object_set_new(art, "uri", json_string(uri));
    json_object_set_new(phys, "artifactLocation", art);
    json_object_set_new(loc, "physicalLocation", phys);
    json_array_append_new(locs, loc);
    json_object_set_new(res, "locations", locs);
    return res;
}

static json_t *report_sarif(const struct sl_scan_report *rep, const struct sl_report_meta *m)
{
    json_t *root = json_object();
    json_object_set_new(root, "$schema",
                        json_string("https://json.schemastore.org/sarif-2.1.0.json"));
    json_object_set_new(root, "version", json_string("2.1.0"));
    json_t *runs = json_array();
    json_t *run = json_object();
    json_t *tool = json_object();
    json_t *driver = json_object();
    json_object_set_new(driver, "name", json_string("sealift"));
    json_object_set_new(driver, "version", json_string(SL_VERSION));
    json_object_set_new(driver, "informationUri",
                        json_string("https://github.com/sealift/sealift"));
    json_t *rules = json_array();
    json_t *results = json_array();
    const char *pkgdb =
        strncmp(rep->ecosystem, "alpine", 6) == 0 ? "lib/apk/db/installed" : "var/lib/dpkg/status";
    char text[1024];
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct sl_finding *f = &rep->findings[i];
        snprintf(text, sizeof(text), "%s", f->summary ? f->summary : f->id);
        size_t ri = sarif_rule(rules, f->id, text, security_severity(f->severity), "vulnerability");
        snprintf(text, sizeof(text), "Package %s %s is affected by %s (%s); %s%s", f->pkg,
                 f->installed, f->id, sl_severity_name(f->severity),
                 f->fixed ? "fixed in " : "no fix available", f->fixed ? f->fixed : "");
        json_t *res = sarif_result(ri, f->id, sarif_level(f->severity), text, pkgdb);
        json_t *props = json_object();
        json_object_set_new(props, "package", json_string(f->pkg));
        json_object_set_new(props, "installedVersion", json_string(f->installed));
        json_object_set_new(props, "fixedVersion", str_or_null(f->fixed));
        json_object_set_new(props, "severity", json_string(sl_severity_name(f->severity)));
        json_object_set_new(res, "properties", props);
        if (f->allowlisted) {
            json_t *sup = json_array();
            json_t *s = json_object();
            json_object_set_new(s, "kind", json_string("external"));
            json_object_set_new(s, "justification",
                                json_string(f->allow_reason ? f->allow_reason : "allowlisted"));
            json_array_append_new(sup, s);
            json_object_set_new(res, "suppressions", sup);
        } else if (f->vex_suppressed) {
            json_t *sup = json_array();
            json_t *s = json_object();
            char why[1024];
            snprintf(why, sizeof(why), "OpenVEX %s: %s (%s)", f->vex_status,
                     f->vex_justification ? f->vex_justification
                                          : (f->vex_impact ? f->vex_impact : "no justification"),
                     f->vex_document ? f->vex_document : "");
            json_object_set_new(s, "kind", json_string("external"));
            json_object_set_new(s, "justification", json_string(why));
            json_array_append_new(sup, s);
            json_object_set_new(res, "suppressions", sup);
        }
        json_array_append_new(results, res);
    }
    for (size_t i = 0; i < rep->nbaseline; i++) {
        const struct sl_baseline_issue *b = &rep->baseline[i];
        char id[64];
        snprintf(id, sizeof(id), "sealift/%s", sl_baseline_rule_name(b->rule));
        size_t ri = sarif_rule(rules, id, "Image baseline rule", NULL, "baseline");
        snprintf(text, sizeof(text), "Baseline %s: %s", sl_baseline_rule_name(b->rule), b->subject);
        const char *uri = (b->rule == SL_RULE_SETUID || b->rule == SL_RULE_PRIVATE_KEY)
                              ? b->subject
                              : "image-config.json";
        json_array_append_new(results,
                              sarif_result(ri, id, b->enforced ? "error" : "note", text, uri));
    }
    for (size_t i = 0; i < rep->nmalware; i++) {
        size_t ri =
            sarif_rule(rules, "sealift/malware", "File matches a malware hash", "10.0", "malware");
        snprintf(text, sizeof(text), "Malware %s: %s", rep->malware[i].signature,
                 rep->malware[i].path);
        json_array_append_new(
            results, sarif_result(ri, "sealift/malware", "error", text, rep->malware[i].path));
    }
    for (size_t i = 0; i < rep->nissues; i++) {
        size_t ri =
            sarif_rule(rules, "sealift/layer-entry",
                       "Layer entry the scanner could not apply or inspect", "8.0", "layers");
        snprintf(text, sizeof(text), "Layer %u entry %s: %s", rep->issues[i].layer,
                 rep->issues[i].path, rep->issues[i].problem);
        json_array_append_new(
            results, sarif_result(ri, "sealift/layer-entry", "error", text, rep->issues[i].path));
    }
    json_object_set_new(driver, "rules", rules);
    json_object_set_new(tool, "driver", driver);
    json_object_set_new(run, "tool", tool);
    json_object_set_new(run, "results", results);
    json_t *props = json_object();
    json_object_set_new(props, "image", str_or_null(m->image));
    json_object_set_new(props, "digest", str_or_null(m->digest));
    json_object_set_new(props, "result", json_string(result_word(rep, m)));
    json_object_set_new(run, "properties", props);
    json_array_append_new(runs, run);
    json_object_set_new(root, "runs", runs);
    return root;
}

static int write_table(FILE *out, const struct sl_scan_report *rep, const struct sl_report_meta *m)
{
    fprintf(out, "Image:    %s%s%s%s\n", m->image ? m->image : "-", m->digest ? " (" : "",
            m->digest ? m->digest : "", m->digest ? ")" : "");
    if (rep->os_found)
        fprintf(out, "OS:       %s %s%s%s%s, %zu packages\n", rep->os.id, rep->os.release,
                rep->os.codename[0] ? " (" : "", rep->os.codename, rep->os.codename[0] ? ")" : "",
                rep->packages);
    else
        fprintf(out, "OS:       unknown (no os-release): vulnerability matching skipped\n");
    if (m->db_digest || m->db_records)
        fprintf(out, "Database: %zu records%s%s\n", m->db_records, m->db_digest ? ", " : "",
                m->db_digest ? m->db_digest : "");
    fprintf(out, "\n");
    if (rep->nfindings == 0) {
        fprintf(out, "No vulnerabilities found.\n");
    } else {
        int wid = 2, wpkg = 7, winst = 9, wfix = 5;
        for (size_t i = 0; i < rep->nfindings; i++) {
            const struct sl_finding *f = &rep->findings[i];
            int l;
            if ((l = (int)strlen(f->id)) > wid)
                wid = l;
            if ((l = (int)strlen(f->pkg)) > wpkg)
                wpkg = l;
            if ((l = (int)strlen(f->installed)) > winst)
                winst = l;
            if (f->fixed && (l = (int)strlen(f->fixed)) > wfix)
                wfix = l;
        }
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-8s  %s\n", wid, "ID", wpkg, "PACKAGE", winst,
                "INSTALLED", wfix, "FIXED", "SEVERITY", "NOTE");
        for (size_t i = 0; i < rep->nfindings; i++) {
            const struct sl_finding *f = &rep->findings[i];
            char note[600] = "";
            if (f->allowlisted)
                snprintf(note, sizeof(note), "allowlisted");
            else if (f->vex_suppressed)
                snprintf(note, sizeof(note), "VEX %s: %s (%.200s)", f->vex_status,
                         f->vex_justification ? f->vex_justification : "impact statement",
                         f->vex_document ? f->vex_document : "");
            fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-8s  %s\n", wid, f->id, wpkg, f->pkg, winst,
                    f->installed, wfix, f->fixed ? f->fixed : "-", sl_severity_name(f->severity),
                    note);
        }
        fprintf(out, "\nTotal: %zu (Critical %zu, High %zu, Medium %zu, Low %zu, Unknown %zu)\n",
                rep->nfindings, rep->counts[SL_SEV_CRITICAL], rep->counts[SL_SEV_HIGH],
                rep->counts[SL_SEV_MEDIUM], rep->counts[SL_SEV_LOW], rep->counts[SL_SEV_UNKNOWN]);
        if (rep->vex_suppressed)
            fprintf(out, "Suppressed by VEX: %zu (not in the severity counts)\n",
                    rep->vex_suppressed);
    }
    if (rep->nbaseline) {
        fprintf(out, "\nBaseline:\n");
        for (size_t i = 0; i < rep->nbaseline; i++)
            fprintf(out, "  %-12s %s%s\n", sl_baseline_rule_name(rep->baseline[i].rule),
                    rep->baseline[i].subject, rep->baseline[i].enforced ? "  [forbidden]" : "");
    }
    if (rep->nmalware) {
        fprintf(out, "\nMalware:\n");
        for (size_t i = 0; i < rep->nmalware; i++)
            fprintf(out, "  %s  %s\n", rep->malware[i].path, rep->malware[i].signature);
    }
    if (rep->issues_total) {
        fprintf(out, "\nLayer entries not applied or not inspected:\n");
        for (size_t i = 0; i < rep->nissues; i++)
            fprintf(out, "  layer %u  %s: %s\n", rep->issues[i].layer, rep->issues[i].path,
                    rep->issues[i].problem);
        if (rep->issues_total > rep->nissues)
            fprintf(out, "  ... and %llu more\n",
                    (unsigned long long)(rep->issues_total - rep->nissues));
    }
    enum sl_severity thr = SL_SEV_UNKNOWN;
    bool evaluated = m->fail_on && sl_severity_parse(&thr, m->fail_on) == 0;
    size_t at_or_above = 0;
    for (int s = SL_SEV_CRITICAL; evaluated && s >= (int)thr && s > SL_SEV_UNKNOWN; s--)
        at_or_above += rep->counts[s];
    if (rep->passed && evaluated) {
        fprintf(out, "\nResult: PASS (nothing at or above %s)", m->fail_on);
    } else if (rep->passed) {
        fprintf(out, "\nResult: not evaluated (no --fail-on given): ");
        write_counts(out, rep);
    } else {
        const char *sep = " (";
        fprintf(out, "\nResult: FAIL");
        if (rep->vuln_failed) {
            fprintf(out, "%sfindings at or above %s: %zu", sep, m->fail_on ? m->fail_on : "?",
                    at_or_above);
            sep = "; ";
        }
        if (rep->baseline_failed) {
            fprintf(out, "%sbaseline rules violated", sep);
            sep = "; ";
        }
        if (rep->malware_failed) {
            fprintf(out, "%smalware found", sep);
            sep = "; ";
        }
        if (rep->layers_failed)
            fprintf(out, "%slayer entries the scanner could not inspect", sep);
        fprintf(out, ")");
        if (!evaluated) {
            fprintf(out, "; vulnerabilities not evaluated (no --fail-on given): ");
            write_counts(out, rep);
        }
    }
    fprintf(out, "\n");
    return ferror(out) ? SL_EFAIL : 0;
}

int sl_report_write(FILE *out, const struct sl_scan_report *rep, enum sl_report_format fmt,
                    const struct sl_report_meta *meta)
{
    struct sl_report_meta empty = {0};
    if (!meta)
        meta = &empty;
    if (fmt == SL_REPORT_TABLE)
        return write_table(out, rep, meta);
    json_t *doc = fmt == SL_REPORT_SARIF ? report_sarif(rep, meta) : report_json(rep, meta);
    int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    fputc('\n', out);
    return rc == 0 && !ferror(out) ? 0 : SL_EFAIL;
}
