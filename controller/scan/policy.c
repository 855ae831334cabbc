/* The ScanPolicy rules and the gates over the ScanPolicy store (see policy.h). */
#include "scan/policy.h"

#include "oci/manifest.h"
#include "oci/registry.h"
#include "scan/engine.h"
#include "scan/harbor.h"
#include "scan/imageattest.h"
#include "scan/regimage.h"
#include "scan/scanner.h"
#include "scan/vex.h"
#include "scan/vexatt.h"
#include "scanner/harbor_api.h"
#include "scanner/harbor_client.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_MAX        2048
#define WORST_NAMED    3
#define VEX_LISTED     20 /* suppressed findings named in an ImageDelivery's status */
#define DEFAULT_RESCAN (24LL * 3600 * 1000)

/* ---- the rules of a ScanPolicy spec, shared by the reconciler and the gates ---- */

int64_t sl_scanpolicy_rescan_ms(const json_t *spec)
{
    int64_t ms = DEFAULT_RESCAN;
    const char *s = json_string_value(json_object_get(spec, "rescanInterval"));
    if (s && sl_duration_parse_ms(&ms, s) != 0)
        ms = DEFAULT_RESCAN;
    if (ms < 1000)
        ms = 1000;
    return ms;
}

/* Parses "2027-01-01" or an RFC 3339 time. */
static int parse_until(time_t *out, const char *s)
{
    if (sl_time_parse_rfc3339(out, s) == 0)
        return 0;
    char buf[40];
    snprintf(buf, sizeof(buf), "%.10sT00:00:00Z", s);
    return strlen(s) == 10 && sl_time_parse_rfc3339(out, buf) == 0 ? 0 : -1;
}

void sl_scanpolicy_rules_free(struct sl_scanpolicy_rules *p)
{
    free(p->allow);
    memset(p, 0, sizeof(*p));
}

int sl_scanpolicy_rules_parse(struct sl_scanpolicy_rules *p, const json_t *spec, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    p->pol.now = time(NULL);
    const char *thr = json_string_value(json_object_get(spec, "severityThreshold"));
    if (!thr)
        thr = "High";
    enum sl_severity sev;
    if (sl_severity_parse(&sev, thr) != 0 || sev < SL_SEV_LOW)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.severityThreshold: Unsupported value: \"%.32s\": supported "
                          "values: \"Critical\", \"High\", \"Medium\", \"Low\"",
                          thr);
    const char *action = json_string_value(json_object_get(spec, "action"));
    if (!action)
        action = "Block";
    if (strcmp(action, "Block") != 0 && strcmp(action, "Warn") != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.action: Unsupported value: \"%.32s\": supported values: "
                          "\"Block\", \"Warn\"",
                          action);
    /* Warn reports the findings at or above the threshold and never blocks on them */
    p->pol.fail_on_enabled = strcmp(action, "Block") == 0;
    p->pol.fail_on = sev;
    p->pol.ignore_unfixed = json_is_true(json_object_get(spec, "ignoreUnfixed"));
    json_t *allow = json_object_get(spec, "allowlist");
    size_t n = json_array_size(allow);
    p->allow = sl_xcalloc(n ? n : 1, sizeof(*p->allow));
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(allow, i);
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *until = json_string_value(json_object_get(a, "until"));
        if (!id || !*id) {
            sl_scanpolicy_rules_free(p);
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.allowlist[%zu].id: Required value", i);
        }
        struct sl_allow_entry *e = &p->allow[p->nallow++];
        e->id = (char *)id;
        e->reason = (char *)json_string_value(json_object_get(a, "reason"));
        if (until && parse_until(&e->until, until) != 0) {
            sl_scanpolicy_rules_free(p);
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "spec.allowlist[%zu].until: Invalid value: \"%.40s\": want "
                              "YYYY-MM-DD or an RFC 3339 time",
                              i, until);
        }
    }
    p->pol.allow = p->allow;
    p->pol.nallow = p->nallow;
    json_t *b = json_object_get(spec, "baseline");
    p->pol.forbid_root_user = json_is_true(json_object_get(b, "forbidRootUser"));
    p->pol.forbid_secrets_in_env = json_is_true(json_object_get(b, "forbidSecretsInEnv"));
    p->pol.forbid_setuid = json_is_true(json_object_get(b, "forbidSetuid"));
    p->pol.forbid_private_keys = json_is_true(json_object_get(b, "forbidPrivateKeys"));
    return 0;
}

/* ---- the gates ---- */

/* "CVE-2023-4911 (High) in libc6 2.36-9+deb12u1, fixed in 2.36-9+deb12u3; ..." for the worst
 * findings that fail the policy, then failed baseline rules and malware hits. */
static void describe_failure(char *out, size_t cap, const struct sl_scan_report *rep,
                             const struct sl_scan_policy *pol)
{
    size_t len = 0, named = 0, blocking = 0;
    out[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (len < cap) {                                                                           \
            int n_ = snprintf(out + len, cap - len, __VA_ARGS__);                                  \
            if (n_ > 0)                                                                            \
                len += (size_t)n_;                                                                 \
        }                                                                                          \
    } while (0)
    if (rep->vuln_failed) {
        for (size_t i = 0; i < rep->nfindings; i++) {
            const struct sl_finding *f = &rep->findings[i];
            if (f->allowlisted || f->vex_suppressed || f->severity < pol->fail_on ||
                (pol->ignore_unfixed && !f->fixed))
                continue;
            blocking++;
            if (named >= WORST_NAMED)
                continue;
            APPEND("%s%s (%s) in %s %s", named ? "; " : "", f->id, sl_severity_name(f->severity),
                   f->pkg, f->installed);
            if (f->fixed)
                APPEND(", fixed in %s", f->fixed);
            else
                APPEND(", no fix available");
            named++;
        }
        if (blocking > named)
            APPEND(" and %zu more at or above %s", blocking - named,
                   sl_severity_name(pol->fail_on));
    }
    for (size_t i = 0; i < rep->nbaseline; i++) {
        const struct sl_baseline_issue *b = &rep->baseline[i];
        if (!b->enforced)
            continue;
        APPEND("%sbaseline %s: %s", len ? "; " : "", sl_baseline_rule_name(b->rule), b->subject);
    }
    for (size_t i = 0; i < rep->nmalware; i++)
        APPEND("%smalware %s in %s", len ? "; " : "", rep->malware[i].signature,
               rep->malware[i].path);
    if (rep->nissues)
        APPEND("%slayer %u entry %s: %s", len ? "; " : "", rep->issues[0].layer,
               rep->issues[0].path, rep->issues[0].problem);
#undef APPEND
    if (!out[0])
        snprintf(out, cap, "the scan failed the policy");
}

/* s cut to at most max bytes (on a UTF-8 character boundary); "" for NULL. */
static json_t *bounded_string(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return json_stringn(s ? s : "", n);
}

/* Appends the findings VEX suppressed in rep to list (at most VEX_LISTED in all). */
static void add_vex_suppressed(json_t *list, const struct sl_scan_report *rep, const char *platform)
{
    for (size_t i = 0; i < rep->nfindings && json_array_size(list) < VEX_LISTED; i++) {
        const struct sl_finding *f = &rep->findings[i];
        if (!f->vex_suppressed)
            continue;
        /* cut to the lengths the CRD allows, so a long statement cannot fail the status write */
        json_t *e = json_object();
        json_object_set_new(e, "id", bounded_string(f->id, 256));
        json_object_set_new(e, "package", bounded_string(f->pkg, 256));
        json_object_set_new(e, "status", bounded_string(f->vex_status, 64));
        json_object_set_new(e, "document", bounded_string(f->vex_document, 1024));
        if (f->vex_justification)
            json_object_set_new(e, "justification", bounded_string(f->vex_justification, 128));
        else if (f->vex_impact)
            json_object_set_new(e, "impactStatement", bounded_string(f->vex_impact, 4096));
        if (platform && platform[0])
            json_object_set_new(e, "platform", json_string(platform));
        json_array_append_new(list, e);
    }
}

static json_t *summary_of(const struct sl_scan_report *rep, const char *policy)
{
    char now[40];
    sl_time_now_rfc3339(now, sizeof(now));
    size_t enforced = 0;
    for (size_t i = 0; i < rep->nbaseline; i++)
        if (rep->baseline[i].enforced)
            enforced++;
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "result",
        rep->passed ? "Passed" : "Failed", "critical", (json_int_t)rep->counts[SL_SEV_CRITICAL],
        "high", (json_int_t)rep->counts[SL_SEV_HIGH], "medium",
        (json_int_t)rep->counts[SL_SEV_MEDIUM], "low", (json_int_t)rep->counts[SL_SEV_LOW],
        "unknown", (json_int_t)(rep->counts[SL_SEV_UNKNOWN] + rep->counts[SL_SEV_NONE]), "baseline",
        (json_int_t)enforced, "malware", (json_int_t)rep->nmalware, "policy", policy, "scannedAt",
        now);
}

struct target {
    char digest[72];
    char platform[100];   /* "linux/arm64" for an index child, "" for a plain image */
    char media_type[128]; /* of the image manifest, "" when unknown */
};

/* Parses the platform filter into plats[0..n) and writes its cache-key text to key: the
 * selectors sorted and ","-joined ("" = no filter), so the order in spec.platforms does not
 * matter. Returns 0 or SL_EINVAL. */
static int platform_filter(struct sl_platform *plats, char *key, size_t key_cap,
                           const char *const *platforms, size_t n, struct sl_err *err)
{
    char text[SL_IMD_MAX_PLATFORMS][100];
    key[0] = '\0';
    if (n > SL_IMD_MAX_PLATFORMS)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "at most %d platforms",
                          SL_IMD_MAX_PLATFORMS);
    for (size_t i = 0; i < n; i++) {
        int rc = sl_platform_parse(&plats[i], platforms[i], err);
        if (rc != 0)
            return rc;
        snprintf(text[i], sizeof(text[i]), "%s/%s%s%s", plats[i].os, plats[i].arch,
                 plats[i].variant[0] ? "/" : "", plats[i].variant);
    }
    /* insertion sort: at most SL_IMD_MAX_PLATFORMS short strings */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(text[j - 1], text[j]) > 0; j--) {
            char tmp[100];
            memcpy(tmp, text[j], sizeof(tmp));
            memcpy(text[j], text[j - 1], sizeof(tmp));
            memcpy(text[j - 1], tmp, sizeof(tmp));
        }
    }
    size_t len = 0;
    for (size_t i = 0; i < n && len < key_cap; i++) {
        int w = snprintf(key + len, key_cap - len, "%s%s", i ? "," : "", text[i]);
        if (w > 0)
            len += (size_t)w;
    }
    return 0;
}

/* The image manifests under digest that a delivery with the platform filter plats[0..nplats)
 * puts into the targets: digest itself for an image manifest; for an index, each child
 * (attestation manifests, platform unknown/unknown, and nested indexes are skipped) or, with a
 * filter, each child matching it (sl_platform_match, as the copy engine selects). An index
 * with nothing to scan is SL_EINVAL. */
static int scan_targets(struct target **out, size_t *n, struct sl_registry *src, const char *repo,
                        const char *digest, const struct sl_platform *plats, size_t nplats,
                        const char *filter_text, struct sl_err *err)
{
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    *out = NULL;
    *n = 0;
    int rc = sl_registry_manifest_get(&rm, src, repo, digest, err);
    if (rc == 0)
        rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, err);
    if (rc != 0)
        goto done;
    if (m.kind == SL_MANIFEST_IMAGE) {
        *out = sl_xcalloc(1, sizeof(**out));
        snprintf((*out)[0].digest, sizeof((*out)[0].digest), "%s", digest);
        snprintf((*out)[0].media_type, sizeof((*out)[0].media_type), "%s",
                 rm.media_type ? rm.media_type : "");
        *n = 1;
        goto done;
    }
    *out = sl_xcalloc(m.n_children ? m.n_children : 1, sizeof(**out));
    for (size_t i = 0; i < m.n_children; i++) {
        const struct sl_descriptor *c = &m.children[i];
        if (c->os && strcmp(c->os, "unknown") == 0)
            continue;
        if (c->media_type && sl_manifest_type_is_index(c->media_type))
            continue;
        if (nplats > 0 && !sl_platform_match(c, plats, nplats))
            continue;
        struct target *t = &(*out)[(*n)++];
        snprintf(t->digest, sizeof(t->digest), "%s", c->digest);
        snprintf(t->media_type, sizeof(t->media_type), "%s", c->media_type ? c->media_type : "");
        snprintf(t->platform, sizeof(t->platform), "%s/%s%s%s", c->os ? c->os : "?",
                 c->arch ? c->arch : "?", c->variant ? "/" : "", c->variant ? c->variant : "");
    }
    if (*n == 0 && nplats > 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "no image of index %s matches spec.platforms (%s)", digest, filter_text);
    else if (*n == 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is an index without images", digest);
done:
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

/* Scans one image with the policy's Harbor scanner adapter: checks the adapter consumes the
 * manifest's media type, POSTs a ScanRequest naming the source registry with a pull token for
 * repo (with token auth; nothing with Basic auth: the ImageDelivery's password never leaves the
 * controller), polls the report and applies pol to its findings. Adapter
 * failures are SL_ERETRY with class SL_ERRC_SCANNER (retried with the queue's backoff). */
static int harbor_scan(struct sl_scan_report *rep, const struct sl_scan_db *db,
                       struct sl_registry *src, const char *repo, const struct target *t,
                       const struct sl_scan_policy *pol, struct sl_err *err)
{
    char *reg_url = NULL, *reg_auth = NULL, *body = NULL, *id = NULL, *meta = NULL;
    char *report = NULL;
    size_t meta_len = 0, report_len = 0;
    struct sl_harbor_client *c = NULL;
    const char *mime =
        t->media_type[0] ? t->media_type : "application/vnd.oci.image.manifest.v1+json";
    int rc = sl_registry_base_url(&reg_url, src, err);
    if (rc != 0)
        goto done;
    struct sl_harbor_client_opts o = {.insecure = db->harbor_insecure,
                                      .ca_pem = db->harbor_ca,
                                      .client_cert_pem = db->harbor_cert,
                                      .client_key_pem = db->harbor_key,
                                      .authorization = db->harbor_auth,
                                      .request_timeout_ms = 60000,
                                      .report_timeout_ms = 300000};
    c = sl_harbor_client_new(db->harbor_url, &o);
    rc = sl_harbor_client_metadata(&meta, &meta_len, c, err);
    if (rc == 0) {
        rc = sl_harbor_metadata_check(NULL, meta, meta_len, mime, err);
        if (rc != 0)
            sl_err_prefix(err, "scanner adapter %s", db->harbor_url);
    }
    if (rc != 0)
        goto done;
    /* the adapter gets a token for pulling this one repository, never the password */
    bool withheld = false;
    rc = sl_registry_pull_authorization(&reg_auth, &withheld, src, repo, err);
    if (rc != 0) {
        sl_err_prefix(err, "pull token for the scanner adapter");
        goto done;
    }
    struct sl_harbor_scan_request req = {
        .registry_url = reg_url,
        .authorization = reg_auth,
        .repository = (char *)repo,
        .digest = (char *)t->digest,
        .mime_type = (char *)mime,
    };
    body = sl_harbor_scan_request_json(&req);
    rc = sl_harbor_client_scan(&id, c, body, err);
    if (rc == 0)
        rc = sl_harbor_client_wait_report(&report, &report_len, c, id, err);
    /* first in the message, so a long adapter error cannot push it out */
    if (rc != 0 && withheld)
        sl_err_prefix(err,
                      "the adapter got no registry credential (%s uses Basic authentication; "
                      "adapters get pull tokens, never passwords)",
                      sl_registry_host(src));
    if (rc == 0) {
        rc = sl_harbor_report_parse(rep, report, report_len, err);
        if (rc != 0)
            sl_err_prefix(err, "scanner adapter %s: report of scan %s", db->harbor_url, id);
    }
    if (rc == 0)
        sl_scan_apply_policy(rep, pol);
done:
    if (rc != 0 && err && err->klass == SL_ERRC_SCANNER) {
        rc = SL_ERETRY;
        err->code = rc;
    }
    sl_harbor_client_free(c);
    free(reg_url);
    sl_secure_free_str(reg_auth);
    sl_secure_free_str(body);
    free(id);
    free(meta);
    free(report);
    return rc;
}

/* Takes ScanPolicy ns/name from the store when it is Ready; else SL_SCAN_GATE_WAITING with err
 * saying why. */
static int ready_policy(struct sl_scan_store_policy *out, struct sl_scan_store *store,
                        const char *ns, const char *name, struct sl_err *err)
{
    int rc = sl_scan_store_get_ready(out, store, ns, name);
    if (rc != 0)
        return sl_err_set(err, SL_SCAN_GATE_WAITING, SL_ERRC_INPUT, "ScanPolicy \"%s\" %s", name,
                          rc == SL_ENOTFOUND ? "not found or its database is not loaded yet"
                                             : "is not Ready");
    return 0;
}

static int gate_scan(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                     struct sl_registry *src, const char *repo, const char *digest,
                     const char *const *platforms, size_t n_platforms, json_t **out_summary,
                     struct sl_err *err)
{
    struct sl_scan_store *store = ctx;
    (void)rt;
    struct sl_scan_store_policy p;
    if (ready_policy(&p, store, ns, policy_name, err) != 0)
        return SL_SCAN_GATE_WAITING;
    const struct sl_scan_db *db = p.db;
    const json_t *spec = p.spec;

    int rc = 0;
    char key[600 + SL_IMD_MAX_PLATFORMS * 100], msg[MSG_MAX];
    char filter[SL_IMD_MAX_PLATFORMS * 100];
    struct sl_platform plats[SL_IMD_MAX_PLATFORMS];
    struct sl_scanpolicy_rules pp;
    struct target *targets = NULL;
    size_t ntargets = 0;
    json_t *total = NULL;
    const struct sl_scan_vexset *vex = p.vex;
    struct sl_vexatt att;
    bool with_att = vex && vex->trust.nkeys > 0;
    memset(&pp, 0, sizeof(pp));
    memset(&att, 0, sizeof(att));
    rc = platform_filter(plats, filter, sizeof(filter), platforms, n_platforms, err);
    if (rc != 0)
        goto done;
    /* the image's OpenVEX attestations are read on every pass (bounded, vexatt.h): a verdict
     * is reused only for the same attestations */
    if (with_att && (rc = sl_vexatt_read(&att, src, repo, digest, &vex->trust, err)))
        goto done;
    /* the same digest delivered with another platform filter is another scan */
    snprintf(key, sizeof(key), "%s/%s|%llu|%s|%s|%s|%s", ns, policy_name,
             (unsigned long long)p.serial, db->digest, digest, filter, att.fingerprint);
    if (sl_scan_store_cache_get(store, key, out_summary, &rc, msg, sizeof(msg))) {
        if (rc != 0)
            sl_err_set(err, rc, SL_ERRC_INPUT, "%s", msg);
        goto done;
    }
    rc = sl_scanpolicy_rules_parse(&pp, spec, err);
    if (rc == 0 && with_att)
        rc = sl_vexatt_merge(&att, &vex->vex, err);
    if (rc != 0)
        goto done;
    pp.pol.malware_fails = db->have_hsb;
    /* VEX products name the scanned manifest, the index delivered or the source repository */
    char repository[1024];
    snprintf(repository, sizeof(repository), "%s/%s", sl_registry_host(src), repo);
    pp.pol.vex = with_att ? &att.vex : vex ? &vex->vex : NULL;
    pp.pol.vex_image.repository = repository;
    rc = scan_targets(&targets, &ntargets, src, repo, digest, plats, n_platforms, filter, err);
    if (rc != 0)
        goto done;
    /* every platform that is delivered is scanned: one failing platform blocks the digest */
    msg[0] = '\0';
    bool failed = false;
    for (size_t i = 0; i < ntargets; i++) {
        struct sl_reg_image img;
        struct sl_scan_report rep;
        memset(&img, 0, sizeof(img));
        memset(&rep, 0, sizeof(rep));
        pp.pol.vex_image.digest = targets[i].digest;
        pp.pol.vex_image.index_digest = strcmp(targets[i].digest, digest) != 0 ? digest : NULL;
        if (db->harbor_url)
            rc = harbor_scan(&rep, db, src, repo, &targets[i], &pp.pol, err);
        else
            rc = sl_reg_image_open(&img, src, repo, targets[i].digest, NULL, err);
        if (rc == 0 && !db->harbor_url) {
            struct sl_image_source is;
            sl_reg_image_source(&is, &img);
            rc = sl_scan_image(&rep, &is, db->have_adv ? &db->adv : NULL,
                               db->have_hsb ? &db->hsb : NULL, &pp.pol, NULL, err);
        }
        if (rc != 0) {
            if (targets[i].platform[0])
                sl_err_prefix(err, "%s", targets[i].platform);
        } else {
            json_t *one = summary_of(&rep, policy_name);
            json_object_set_new(one, "vexSuppressed", json_integer((json_int_t)rep.vex_suppressed));
            if (!total) {
                total = one;
            } else {
                static const char *const counts[] = {"critical", "high",         "medium",
                                                     "low",      "unknown",      "baseline",
                                                     "malware",  "vexSuppressed"};
                for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
                    json_object_set_new(
                        total, counts[k],
                        json_integer(json_integer_value(json_object_get(total, counts[k])) +
                                     json_integer_value(json_object_get(one, counts[k]))));
                json_decref(one);
            }
            if (rep.vex_suppressed) {
                json_t *list = json_object_get(total, "suppressed");
                if (!list) {
                    list = json_array();
                    json_object_set_new(total, "suppressed", list);
                }
                add_vex_suppressed(list, &rep, targets[i].platform);
            }
            if (!rep.passed) {
                char one_msg[MSG_MAX];
                describe_failure(one_msg, sizeof(one_msg), &rep, &pp.pol);
                size_t l = strlen(msg);
                snprintf(msg + l, sizeof(msg) - l, "%s%s%s%s", failed ? "; " : "",
                         targets[i].platform, targets[i].platform[0] ? ": " : "", one_msg);
                failed = true;
            }
        }
        sl_scan_report_free(&rep);
        sl_reg_image_free(&img);
        if (rc != 0)
            goto done;
    }
    json_object_set_new(total, "result", json_string(failed ? "Failed" : "Passed"));
    if (with_att)
        json_object_set_new(total, "vexAttestations", sl_vexatt_summary(&att));
    if (failed && att.ignored) {
        /* say why a vendor's statement did not count */
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof(msg) - l, "; %zu OpenVEX attestation%s ignored: %s", att.ignored,
                 att.ignored == 1 ? "" : "s", att.ignored_why);
    }
    if (failed) {
        json_object_set_new(total, "message", json_string(msg));
        rc = sl_err_set(err, SL_SCAN_GATE_BLOCKED, SL_ERRC_INPUT, "%s", msg);
    }
    *out_summary = total;
    total = NULL;
    sl_scan_store_cache_put(store, key, *out_summary, rc, msg, p.rescan_ms);
done:
    /* SL_ENOTFOUND means "policy not ready" to the reconciler: a manifest or blob that vanished
     * after the digest was resolved (a tag moved, content deleted) is an error to retry */
    if (rc == SL_ENOTFOUND) {
        rc = SL_EFAIL;
        if (err)
            err->code = rc;
    }
    json_decref(total);
    free(targets);
    sl_scanpolicy_rules_free(&pp);
    sl_vexatt_free(&att);
    sl_scan_store_policy_release(&p);
    return rc;
}

int sl_scanpolicy_revision(void *store, char *out, size_t cap, const char *ns, const char *name)
{
    struct sl_scan_store_policy p;
    int rc = sl_scan_store_get_ready(&p, store, ns, name);
    if (rc != 0)
        return SL_ENOTFOUND;
    snprintf(out, cap, "%llu|%s", (unsigned long long)p.serial, p.db->digest);
    sl_scan_store_policy_release(&p);
    return 0;
}

/* The attestation gate: every image manifest of digest in the target (the platforms the
 * delivery holds) gets the SBOM and/or the vulnerability report of the policy's database and
 * rules (scan/imageattest.h). */
static int gate_attest(void *ctx, struct sl_registry *reg, const char *repo,
                       const char *subject_name, const char *digest,
                       const struct sl_attest_request *req, char revision_out[128],
                       size_t *images_out, struct sl_err *err)
{
    struct sl_scan_store *store = ctx;
    struct sl_scan_store_policy p;
    memset(&p, 0, sizeof(p));
    const struct sl_scan_db *db = NULL;
    struct sl_scanpolicy_rules pp;
    struct target *targets = NULL;
    size_t ntargets = 0;
    char filter[SL_IMD_MAX_PLATFORMS * 100];
    struct sl_platform plats[SL_IMD_MAX_PLATFORMS];
    struct sl_vexatt att;
    memset(&pp, 0, sizeof(pp));
    memset(&att, 0, sizeof(att));
    revision_out[0] = '\0';
    *images_out = 0;
    int rc = 0;
    bool vuln = req->vuln;
    if (vuln) {
        if (ready_policy(&p, store, req->ns, req->policy_name, err) != 0)
            return SL_SCAN_GATE_WAITING;
        db = p.db;
        if ((db->harbor_url || !db->have_adv) && req->vuln_optional) {
            vuln = false; /* nothing to report with: the SBOM alone */
        } else if (db->harbor_url || !db->have_adv) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                            "vulnerability attestations need the built-in scanner with an "
                            "advisory database (ScanPolicy \"%s\")",
                            req->policy_name);
            goto done;
        }
        if (vuln) {
            rc = sl_scanpolicy_rules_parse(&pp, p.spec, err);
            if (rc)
                goto done;
            snprintf(revision_out, 128, "%s", db->digest);
        }
    }
    if (!vuln && !req->sbom)
        goto done;
    rc = platform_filter(plats, filter, sizeof(filter), req->platforms, req->n_platforms, err);
    if (!rc)
        rc = scan_targets(&targets, &ntargets, reg, repo, digest, plats, req->n_platforms, filter,
                          err);
    if (rc)
        goto done;
    struct sl_image_attest_opts o = {
        .key = req->key,
        .sbom = req->sbom,
        .sbom_format = req->sbom_cyclonedx ? SL_SBOM_CYCLONEDX : SL_SBOM_SPDX,
        .vuln = vuln,
        .db = vuln ? &db->adv : NULL,
        .db_uri = vuln ? db->source : NULL,
        .policy = vuln ? &pp.pol : NULL,
        .where = {.tag = req->tag, .referrer = req->referrer},
    };
    /* the findings the scan gate suppressed by OpenVEX are marked in the report too, so the
     * admission check (which skips them) decides as the gate did */
    char repository[1024];
    if (req->vex_repository)
        snprintf(repository, sizeof(repository), "%s", req->vex_repository);
    else
        snprintf(repository, sizeof(repository), "%s/%s", sl_registry_host(reg), repo);
    if (vuln) {
        pp.pol.vex = p.vex ? &p.vex->vex : NULL;
        pp.pol.vex_image.repository = repository;
    }
    /* and the source image's OpenVEX attestations, as the scan gate read them */
    if (vuln && p.vex && p.vex->trust.nkeys > 0 && req->vex_source) {
        rc =
            sl_vexatt_read(&att, req->vex_source, req->vex_source_repo, digest, &p.vex->trust, err);
        if (!rc)
            rc = sl_vexatt_merge(&att, &p.vex->vex, err);
        if (rc)
            goto done;
        pp.pol.vex = &att.vex;
    }
    for (size_t i = 0; i < ntargets; i++) {
        pp.pol.vex_image.digest = targets[i].digest;
        pp.pol.vex_image.index_digest = strcmp(targets[i].digest, digest) != 0 ? digest : NULL;
        rc = sl_image_attest(NULL, reg, repo, subject_name, targets[i].digest, &o, err);
        if (rc) {
            if (targets[i].platform[0])
                sl_err_prefix(err, "%s", targets[i].platform);
            goto done;
        }
        (*images_out)++;
    }
done:
    free(targets);
    sl_scanpolicy_rules_free(&pp);
    sl_vexatt_free(&att);
    sl_scan_store_policy_release(&p);
    return rc;
}

static bool gate_vuln_due(void *ctx, const char *ns, const char *policy_name, const char *revision,
                          time_t attested_at, time_t now)
{
    struct sl_scan_store_policy p;
    if (sl_scan_store_get_ready(&p, ctx, ns, policy_name) != 0)
        return false;
    bool due = false;
    if (p.db->have_adv && !p.db->harbor_url)
        due = !revision || strcmp(p.db->digest, revision) != 0 ||
              (int64_t)(now - attested_at) * 1000 >= p.rescan_ms;
    sl_scan_store_policy_release(&p);
    return due;
}

void sl_scanpolicy_attest_gate(struct sl_attest_gate *out, struct sl_scan_store *store)
{
    memset(out, 0, sizeof(*out));
    out->ctx = store;
    out->attest = gate_attest;
    out->vuln_due = gate_vuln_due;
}

void sl_scanpolicy_gate(struct sl_scan_gate *out, struct sl_scan_store *store)
{
    memset(out, 0, sizeof(*out));
    out->ctx = store;
    out->scan = gate_scan;
}
