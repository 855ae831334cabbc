/* Scan evaluation: package matching, policy, baseline checks, malware hits. */
#include "scan/scanner.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

const char *sl_baseline_rule_name(enum sl_baseline_rule rule)
{
    switch (rule) {
    case SL_RULE_ROOT_USER:
        return "root-user";
    case SL_RULE_SECRET_ENV:
        return "secret-env";
    case SL_RULE_SETUID:
        return "setuid";
    default:
        return "private-key";
    }
}

struct status_d_ctx {
    struct sl_pkgs *pkgs;
    struct sl_err *err;
    int rc;
    char **paths;
    size_t n;
};

static void collect_status_d(const char *path, const struct sl_fsrec *rec, void *ctx)
{
    struct status_d_ctx *c = ctx;
    if (!(rec->flags & SL_FSREC_CAPTURED) || strncmp(path, "var/lib/dpkg/status.d/", 22) != 0)
        return;
    c->paths = sl_xrealloc(c->paths, (c->n + 1) * sizeof(char *));
    c->paths[c->n++] = sl_xstrdup(path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_scan_collect(struct sl_pkgs *pkgs, struct sl_osinfo *os, bool *os_found,
                    const struct sl_imagefs *fs, struct sl_err *err)
{
    int rc = 0;
    *os_found = false;
    memset(os, 0, sizeof(*os));
    const struct sl_fsrec *r = sl_imagefs_get(fs, "etc/os-release");
    if (!r || !r->data || sl_osinfo_parse(os, r->data, r->len) != 0) {
        r = sl_imagefs_get(fs, "usr/lib/os-release");
        if (r && r->data && sl_osinfo_parse(os, r->data, r->len) == 0)
            *os_found = true;
    } else {
        *os_found = true;
    }
    r = sl_imagefs_get(fs, "etc/apk/repositories");
    if (*os_found && r && r->data)
        sl_osinfo_apply_apk_repositories(os, r->data, r->len);

    r = sl_imagefs_get(fs, "var/lib/dpkg/status");
    if (r && r->data) {
        rc = sl_pkgdb_parse_dpkg(pkgs, r->data, r->len, true, err);
        if (rc)
            return rc;
    }
    struct status_d_ctx c = {pkgs, err, 0, NULL, 0};
    sl_imagefs_each((struct sl_imagefs *)fs, collect_status_d, &c);
    if (c.n)
        qsort(c.paths, c.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < c.n; i++) {
        r = sl_imagefs_get(fs, c.paths[i]);
        if (rc == 0 && r && r->data)
            rc = sl_pkgdb_parse_dpkg(pkgs, r->data, r->len, false, err);
        free(c.paths[i]);
    }
    free(c.paths);
    if (rc)
        return rc;
    r = sl_imagefs_get(fs, "lib/apk/db/installed");
    if (!r)
        r = sl_imagefs_get(fs, "usr/lib/apk/db/installed");
    if (r && r->data)
        rc = sl_pkgdb_parse_apk(pkgs, r->data, r->len, err);
    return rc;
}

bool sl_scan_secret_env_name(const char *name)
{
    static const char *const words[] = {"PASSWORD",    "PASSWD",     "SECRET",
                                        "TOKEN",       "API_KEY",    "APIKEY",
                                        "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"};
    char up[256];
    size_t n = strlen(name);
    if (n >= sizeof(up))
        n = sizeof(up) - 1;
    for (size_t i = 0; i < n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[n] = '\0';
    if (n > 5 && strcmp(up + n - 5, "_FILE") == 0)
        return false;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(up, words[i]))
            return true;
    return false;
}

static void add_baseline(struct sl_scan_report *rep, enum sl_baseline_rule rule,
                         const char *subject, bool enforced)
{
    rep->baseline = sl_xrealloc(rep->baseline, (rep->nbaseline + 1) * sizeof(*rep->baseline));
    struct sl_baseline_issue *b = &rep->baseline[rep->nbaseline++];
    b->rule = rule;
    b->subject = sl_xstrdup(subject);
    b->enforced = enforced;
    if (enforced)
        rep->baseline_failed = true;
}

static int check_config(struct sl_scan_report *rep, const char *cfg, size_t len,
                        const struct sl_scan_policy *pol, struct sl_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(cfg, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "image config is not a JSON object");
    }
    json_t *config = json_object_get(root, "config");
    const char *user = NULL;
    if (json_is_object(config)) {
        json_t *u = json_object_get(config, "User");
        if (json_is_string(u))
            user = json_string_value(u);
    }
    /* the user part before ':' decides: empty, "0" and "root" run as root */
    char uname[128];
    snprintf(uname, sizeof(uname), "%s", user ? user : "");
    char *colon = strchr(uname, ':');
    if (colon)
        *colon = '\0';
    if (uname[0] == '\0' || strcmp(uname, "0") == 0 || strcmp(uname, "root") == 0)
        add_baseline(rep, SL_RULE_ROOT_USER, uname[0] ? uname : "(unset: root)",
                     pol->forbid_root_user);
    json_t *env = json_is_object(config) ? json_object_get(config, "Env") : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        if (!json_is_string(e))
            continue;
        const char *kv = json_string_value(e);
        const char *eq = strchr(kv, '=');
        if (!eq || !eq[1])
            continue; /* no value: nothing leaked */
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
        if (sl_scan_secret_env_name(name))
            add_baseline(rep, SL_RULE_SECRET_ENV, name, pol->forbid_secrets_in_env);
    }
    json_decref(root);
    return 0;
}

struct fs_issue_ctx {
    struct sl_scan_report *rep;
    const struct sl_scan_policy *pol;
};

static void fs_issues(const char *path, const struct sl_fsrec *rec, void *ctx)
{
    struct fs_issue_ctx *c = ctx;
    if (rec->flags & (SL_FSREC_SETUID | SL_FSREC_SETGID))
        add_baseline(c->rep, SL_RULE_SETUID, path, c->pol->forbid_setuid);
    if (rec->flags & SL_FSREC_PRIVKEY)
        add_baseline(c->rep, SL_RULE_PRIVATE_KEY, path, c->pol->forbid_private_keys);
    if ((rec->flags & SL_FSREC_MALWARE) && rec->malware) {
        struct sl_scan_report *rep = c->rep;
        rep->malware = sl_xrealloc(rep->malware, (rep->nmalware + 1) * sizeof(*rep->malware));
        rep->malware[rep->nmalware].path = sl_xstrdup(path);
        rep->malware[rep->nmalware].signature = sl_xstrdup(rec->malware);
        rep->nmalware++;
    }
}

struct match_ctx {
    struct sl_scan_report *rep;
    const struct sl_pkg *pkg;
    enum sl_version_scheme scheme;
    const struct sl_scan_policy *pol;
    size_t first; /* findings of this package start here (for de-duplication) */
};

static void on_advisory(const struct sl_advisory *adv, void *ctx)
{
    struct match_ctx *m = ctx;
    const char *fixed = NULL;
    if (!sl_advisory_affects(adv, m->scheme, m->pkg->src_version, &fixed))
        return;
    if (!fixed && m->pol->ignore_unfixed)
        return;
    struct sl_scan_report *rep = m->rep;
    for (size_t i = m->first; i < rep->nfindings; i++)
        if (strcmp(rep->findings[i].id, adv->id) == 0)
            return;
    rep->findings = sl_xrealloc(rep->findings, (rep->nfindings + 1) * sizeof(*rep->findings));
    struct sl_finding *f = &rep->findings[rep->nfindings++];
    memset(f, 0, sizeof(*f));
    f->id = sl_xstrdup(adv->id);
    f->pkg = sl_xstrdup(m->pkg->name);
    f->src_pkg = sl_xstrdup(m->pkg->src_name);
    f->installed = sl_xstrdup(m->pkg->version);
    f->fixed = fixed ? sl_xstrdup(fixed) : NULL;
    f->severity = adv->severity;
    f->source = adv->format;
    f->summary = adv->summary ? sl_xstrdup(adv->summary) : NULL;
}

static int cmp_finding(const void *a, const void *b)
{
    const struct sl_finding *x = a, *y = b;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    int c = strcmp(x->pkg, y->pkg);
    return c ? c : strcmp(x->id, y->id);
}

static int cmp_baseline(const void *a, const void *b)
{
    const struct sl_baseline_issue *x = a, *y = b;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return strcmp(x->subject, y->subject);
}

static int cmp_malware(const void *a, const void *b)
{
    return strcmp(((const struct sl_malware_hit *)a)->path,
                  ((const struct sl_malware_hit *)b)->path);
}

static void clear_vex(struct sl_finding *f)
{
    free(f->vex_justification);
    free(f->vex_impact);
    free(f->vex_document);
    f->vex_justification = f->vex_impact = f->vex_document = NULL;
    f->vex_status = NULL;
    f->vex_suppressed = false;
}

void sl_scan_apply_policy(struct sl_scan_report *rep, const struct sl_scan_policy *pol)
{
    size_t kept = 0;
    for (size_t i = 0; i < rep->nfindings; i++) {
        struct sl_finding *f = &rep->findings[i];
        if (pol->ignore_unfixed && !f->fixed) {
            free(f->id);
            free(f->pkg);
            free(f->src_pkg);
            free(f->installed);
            free(f->summary);
            free(f->allow_reason);
            clear_vex(f);
            continue;
        }
        free(f->allow_reason);
        f->allow_reason = NULL;
        f->allowlisted = false;
        clear_vex(f);
        const struct sl_vex_statement *st =
            pol->vex
                ? sl_vex_decide(pol->vex, &pol->vex_image, f->id, f->pkg, f->src_pkg, f->installed)
                : NULL;
        if (st && sl_vex_status_suppresses(st->status)) {
            f->vex_suppressed = true;
            f->vex_status = sl_vex_status_name(st->status);
            f->vex_justification = st->justification ? sl_xstrdup(st->justification) : NULL;
            f->vex_impact = st->impact_statement ? sl_xstrdup(st->impact_statement) : NULL;
            f->vex_document = sl_xstrdup(sl_vex_doc_name(pol->vex, st));
        }
        for (size_t k = 0; k < pol->nallow; k++) {
            const struct sl_allow_entry *a = &pol->allow[k];
            if (strcmp(a->id, f->id) != 0)
                continue;
            if (a->until != 0 && pol->now >= a->until)
                continue; /* expired: no longer suppresses */
            f->allowlisted = true;
            f->allow_reason = a->reason ? sl_xstrdup(a->reason) : NULL;
            break;
        }
        rep->findings[kept++] = *f;
    }
    rep->nfindings = kept;
    if (rep->nfindings)
        qsort(rep->findings, rep->nfindings, sizeof(*rep->findings), cmp_finding);
    memset(rep->counts, 0, sizeof(rep->counts));
    rep->vuln_failed = false;
    rep->vex_suppressed = 0;
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct sl_finding *f = &rep->findings[i];
        if (f->vex_suppressed)
            rep->vex_suppressed++;
        if (f->allowlisted || f->vex_suppressed)
            continue;
        rep->counts[f->severity]++;
        if (pol->fail_on_enabled && f->severity >= pol->fail_on && f->severity != SL_SEV_UNKNOWN)
            rep->vuln_failed = true;
    }
    rep->malware_failed = pol->malware_fails && rep->nmalware > 0;
    rep->passed =
        !rep->vuln_failed && !rep->baseline_failed && !rep->malware_failed && !rep->layers_failed;
}

int sl_scan_evaluate(struct sl_scan_report *rep, const struct sl_imagefs *fs,
                     const char *config_json, size_t config_len, const struct sl_advdb *db,
                     const struct sl_scan_policy *pol, struct sl_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct sl_pkgs pkgs;
    sl_pkgs_init(&pkgs);
    int rc = sl_scan_collect(&pkgs, &rep->os, &rep->os_found, fs, err);
    if (rc)
        goto done;
    rep->packages = pkgs.count;
    if (rep->os_found && sl_osinfo_ecosystem(rep->ecosystem, sizeof(rep->ecosystem), &rep->os))
        rep->ecosystem[0] = '\0';
    if (db && rep->ecosystem[0]) {
        enum sl_version_scheme scheme = sl_osinfo_scheme(&rep->os);
        for (size_t i = 0; i < pkgs.count; i++) {
            struct match_ctx m = {rep, &pkgs.items[i], scheme, pol, rep->nfindings};
            sl_advdb_each_for(db, rep->ecosystem, pkgs.items[i].src_name, on_advisory, &m);
        }
    }
    if (config_json) {
        rc = check_config(rep, config_json, config_len, pol, err);
        if (rc)
            goto done;
    }
    struct fs_issue_ctx fc = {rep, pol};
    sl_imagefs_each((struct sl_imagefs *)fs, fs_issues, &fc);
    if (rep->nbaseline)
        qsort(rep->baseline, rep->nbaseline, sizeof(*rep->baseline), cmp_baseline);
    if (rep->nmalware)
        qsort(rep->malware, rep->nmalware, sizeof(*rep->malware), cmp_malware);
    if (fs->nissues) {
        rep->issues = sl_xcalloc(fs->nissues, sizeof(*rep->issues));
        for (size_t i = 0; i < fs->nissues; i++) {
            rep->issues[i].layer = fs->issues[i].layer;
            rep->issues[i].path = sl_xstrdup(fs->issues[i].path);
            rep->issues[i].problem = sl_xstrdup(fs->issues[i].problem);
        }
        rep->nissues = fs->nissues;
    }
    rep->issues_total = fs->issues_total;
    rep->layers_failed = fs->issues_total > 0;
    sl_scan_apply_policy(rep, pol);
done:
    sl_pkgs_clear(&pkgs);
    return rc;
}

void sl_scan_report_free(struct sl_scan_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->nfindings; i++) {
        struct sl_finding *f = &rep->findings[i];
        free(f->id);
        free(f->pkg);
        free(f->src_pkg);
        free(f->installed);
        free(f->fixed);
        free(f->summary);
        free(f->allow_reason);
        clear_vex(f);
    }
    free(rep->findings);
    for (size_t i = 0; i < rep->nbaseline; i++)
        free(rep->baseline[i].subject);
    free(rep->baseline);
    for (size_t i = 0; i < rep->nmalware; i++) {
        free(rep->malware[i].path);
        free(rep->malware[i].signature);
    }
    free(rep->malware);
    for (size_t i = 0; i < rep->nissues; i++) {
        free(rep->issues[i].path);
        free(rep->issues[i].problem);
    }
    free(rep->issues);
    memset(rep, 0, sizeof(*rep));
}
