/* Scan evaluation: turns an image filesystem view (imagefs), its config and an advisory
 * database into a report — vulnerability findings for the installed packages, baseline checks
 * and malware hits — and decides pass/fail under a policy (severity threshold, ignoreUnfixed,
 * allowlist with expiry dates, enforced baseline rules). No I/O. */
#ifndef SL_SCAN_SCANNER_H
#define SL_SCAN_SCANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "scan/advisory.h"
#include "scan/cvss.h"
#include "scan/imagefs.h"
#include "scan/pkgdb.h"
#include "scan/vex.h"
#include "util/err.h"

struct sl_allow_entry {
    char *id;
    time_t until; /* suppresses while now < until; 0 = no expiry */
    char *reason; /* may be NULL */
};

struct sl_scan_policy {
    bool fail_on_enabled;     /* false: report only */
    enum sl_severity fail_on; /* fail at or above this severity */
    bool ignore_unfixed;
    const struct sl_allow_entry *allow;
    size_t nallow;
    bool forbid_root_user;
    bool forbid_secrets_in_env;
    bool forbid_setuid;
    bool forbid_private_keys;
    bool malware_fails; /* a malware hit fails the scan (signatures were given) */
    time_t now;         /* for allowlist expiry */
    /* OpenVEX statements (may be NULL) and the image they are matched against: a finding a
     * not_affected or fixed statement covers is suppressed (vex.h) */
    const struct sl_vex *vex;
    struct sl_vex_image vex_image;
};

struct sl_finding {
    char *id;
    char *pkg;       /* binary package */
    char *src_pkg;   /* source package the advisory names */
    char *installed; /* installed version */
    char *fixed;     /* NULL: no fix available */
    enum sl_severity severity;
    const char *source; /* advisory format: "osv", "debian-tracker", "alpine-secdb" */
    char *summary;      /* may be NULL */
    bool allowlisted;
    char *allow_reason; /* may be NULL */
    /* suppressed by an OpenVEX statement: its status ("not_affected", "fixed"; static),
     * justification and impact statement (may be NULL) and the document's name */
    bool vex_suppressed;
    const char *vex_status;
    char *vex_justification;
    char *vex_impact;
    char *vex_document;
};

enum sl_baseline_rule {
    SL_RULE_ROOT_USER = 0,
    SL_RULE_SECRET_ENV,
    SL_RULE_SETUID,
    SL_RULE_PRIVATE_KEY,
};

struct sl_baseline_issue {
    enum sl_baseline_rule rule;
    char *subject; /* user, variable name (never its value) or path */
    bool enforced; /* the policy forbids it: this issue fails the scan */
};

struct sl_malware_hit {
    char *path;
    char *signature;
};

/* A layer entry the scanner could not apply or inspect (imagefs.h): it fails the scan, since
 * what it hides was not checked. */
struct sl_layer_issue {
    unsigned layer;
    char *path;
    char *problem;
};

struct sl_scan_report {
    struct sl_osinfo os;
    bool os_found;
    char ecosystem[64]; /* "" when the OS is unknown */
    size_t packages;
    struct sl_finding *findings; /* sorted: severity desc, package, id */
    size_t nfindings;
    struct sl_baseline_issue *baseline;
    size_t nbaseline;
    struct sl_malware_hit *malware;
    size_t nmalware;
    struct sl_layer_issue *issues; /* the first SL_IMAGEFS_MAX_ISSUES, in layer order */
    size_t nissues;
    uint64_t issues_total;              /* all of them */
    size_t counts[SL_SEV_CRITICAL + 1]; /* findings neither allowlisted nor VEX-suppressed */
    size_t vex_suppressed;              /* findings suppressed by VEX statements */
    bool vuln_failed, baseline_failed, malware_failed;
    bool layers_failed; /* issues_total > 0 */
    bool passed;
};

/* "root-user", "secret-env", "setuid", "private-key". */
const char *sl_baseline_rule_name(enum sl_baseline_rule rule);

/* Reads the OS identity and the installed packages from the view. os_found is false when no
 * os-release was present. Returns 0 or a parse error (SL_ETOOBIG for huge databases). */
int sl_scan_collect(struct sl_pkgs *pkgs, struct sl_osinfo *os, bool *os_found,
                    const struct sl_imagefs *fs, struct sl_err *err);

/* Builds the report. config_json (the OCI image config blob, may be NULL) feeds the root-user
 * and environment checks; db may be NULL (no vulnerability matching). Returns 0, SL_EINVAL when
 * the config is not JSON, or sl_scan_collect's errors. rep is zeroed first; free it with
 * sl_scan_report_free. */
int sl_scan_evaluate(struct sl_scan_report *rep, const struct sl_imagefs *fs,
                     const char *config_json, size_t config_len, const struct sl_advdb *db,
                     const struct sl_scan_policy *pol, struct sl_err *err);

/* Applies pol to the findings in rep, whichever scanner produced them (the built-in matcher, a
 * Harbor adapter's report): drops findings without a fix when pol->ignore_unfixed, marks those
 * an unexpired allowlist entry names and those a not_affected or fixed OpenVEX statement in
 * pol->vex covers for pol->vex_image (vex_suppressed, counted in rep->vex_suppressed), sorts them
 * (severity desc, package, id) and sets counts, vuln_failed, malware_failed and passed
 * (baseline_failed and layers_failed are kept). Idempotent. */
void sl_scan_apply_policy(struct sl_scan_report *rep, const struct sl_scan_policy *pol);

void sl_scan_report_free(struct sl_scan_report *rep);

/* Whether an environment variable name looks like it holds a secret (PASSWORD, SECRET, TOKEN,
 * API_KEY, ...; *_FILE names, which point at files, do not). */
bool sl_scan_secret_env_name(const char *name);

#endif
