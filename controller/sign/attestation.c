#include "sign/attestation.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "sign/bundle.h"
#include "util/base64.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STATEMENT_V01          "https://in-toto.io/Statement/v0.1"
#define STATEMENT_V1           "https://in-toto.io/Statement/v1"
#define DEFAULT_MAX_COUNT      64
#define DEFAULT_MAX_BYTES      ((size_t)16 << 20)
#define FUTURE_SKEW_S          300 /* a timestamp this far ahead of our clock is still "now" */
#define BUNDLE_PREDICATE_ANNOT "dev.sigstore.bundle.predicateType"

static const struct {
    const char *name;
    const char *predicates[2];
} TYPES[] = {
    {"vuln", {SL_ATTESTATION_VULN, NULL}},
    {"sbom", {SL_ATTESTATION_SPDX, SL_ATTESTATION_CYCLONEDX}},
    {"spdx", {SL_ATTESTATION_SPDX, NULL}},
    {"spdxjson", {SL_ATTESTATION_SPDX, NULL}},
    {"cyclonedx", {SL_ATTESTATION_CYCLONEDX, NULL}},
    {"openvex", {SL_ATTESTATION_OPENVEX, NULL}},
    {"slsaprovenance", {"https://slsa.dev/provenance/v0.2", NULL}},
    {"slsaprovenance02", {"https://slsa.dev/provenance/v0.2", NULL}},
    {"slsaprovenance1", {"https://slsa.dev/provenance/v1", NULL}},
    {"custom", {"https://cosign.sigstore.dev/attestation/v1", NULL}},
};

int sl_attestation_type_parse(struct sl_attestation_type *out, const char *name, struct sl_err *err)
{
    struct sl_attestation_type t = {0};
    if (!name || !*name)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the attestation type is empty");
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
        if (strcmp(name, TYPES[i].name) != 0)
            continue;
        snprintf(t.name, sizeof(t.name), "%s", name);
        for (size_t k = 0; k < 2 && TYPES[i].predicates[k]; k++)
            snprintf(t.predicate[t.n_predicates++], SL_ATTESTATION_TYPE_MAX, "%s",
                     TYPES[i].predicates[k]);
        *out = t;
        return 0;
    }
    size_t len = strlen(name);
    bool printable = true;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            printable = false;
    if (strncmp(name, "https://", 8) != 0 || len <= 8 || len >= SL_ATTESTATION_TYPE_MAX ||
        !printable)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "unknown attestation type \"%.100s\": want vuln, sbom, spdx, spdxjson, "
                          "cyclonedx, openvex, slsaprovenance, slsaprovenance02, "
                          "slsaprovenance1, custom, or a predicate type URI (https://...)",
                          name);
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.predicate[0], sizeof(t.predicate[0]), "%s", name);
    t.n_predicates = 1;
    *out = t;
    return 0;
}

static bool type_accepts(const struct sl_attestation_type *t, const char *predicate_type)
{
    for (size_t i = 0; predicate_type && i < t->n_predicates; i++) {
        if (strcmp(t->predicate[i], predicate_type) == 0)
            return true;
        /* OpenVEX predicate types may carry the version (https://openvex.dev/ns/v0.2.0) */
        size_t n = strlen(SL_ATTESTATION_OPENVEX);
        if (strcmp(t->predicate[i], SL_ATTESTATION_OPENVEX) == 0 &&
            strncmp(predicate_type, SL_ATTESTATION_OPENVEX, n) == 0 && predicate_type[n] == '/')
            return true;
    }
    return false;
}

static const char *const SEVERITIES[] = {"Unknown", "Low", "Medium", "High", "Critical"};

int sl_attestation_severity_parse(int *out, const char *name)
{
    for (int r = 1; name && r <= 4; r++) {
        if (strcasecmp(name, SEVERITIES[r]) == 0) {
            *out = r;
            return 0;
        }
    }
    return SL_EINVAL;
}

const char *sl_attestation_severity_name(int rank)
{
    return rank >= 0 && rank <= 4 ? SEVERITIES[rank] : "Unknown";
}

/* A finding's severity as scanners write it; "moderate" is GitHub's and OSV's Medium. */
static int severity_rank(const char *s)
{
    int r = 0;
    if (sl_attestation_severity_parse(&r, s) == 0)
        return r;
    return s && strcasecmp(s, "moderate") == 0 ? 2 : 0;
}

void sl_attestation_clear(struct sl_attestation *a)
{
    if (!a)
        return;
    json_decref(a->statement);
    memset(a, 0, sizeof(*a));
}

/* ---- statements ---- */

/* The predicate's own signed timestamp, by predicate type: the string at path (a NULL-ended
 * list of keys) inside predicate. */
static const char *const *timestamp_paths(const char *predicate_type, size_t *n)
{
    static const char *const VULN[] = {"metadata", "scanFinishedOn", NULL,
                                       "metadata", "scanStartedOn",  NULL};
    static const char *const SPDX[] = {"creationInfo", "created", NULL};
    static const char *const CDX[] = {"metadata", "timestamp", NULL};
    static const char *const SLSA02[] = {"metadata", "buildFinishedOn", NULL};
    static const char *const SLSA1[] = {"runDetails", "metadata", "finishedOn", NULL};
    static const char *const VEX[] = {"timestamp", NULL};
    static const char *const CUSTOM[] = {"Timestamp", NULL};
    static const struct {
        const char *type;
        const char *const *paths;
        size_t n;
    } table[] = {
        {SL_ATTESTATION_VULN, VULN, 2},
        {SL_ATTESTATION_SPDX, SPDX, 1},
        {SL_ATTESTATION_CYCLONEDX, CDX, 1},
        {"https://slsa.dev/provenance/v0.2", SLSA02, 1},
        {"https://slsa.dev/provenance/v1", SLSA1, 1},
        {"https://openvex.dev/ns", VEX, 1},
        {"https://cosign.sigstore.dev/attestation/v1", CUSTOM, 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        /* OpenVEX predicate types carry a version suffix (https://openvex.dev/ns/v0.2.0) */
        size_t tl = strlen(table[i].type);
        if (strncmp(predicate_type, table[i].type, tl) == 0 &&
            (predicate_type[tl] == '\0' || predicate_type[tl] == '/')) {
            *n = table[i].n;
            return table[i].paths;
        }
    }
    *n = 0;
    return NULL;
}

/* Reads the timestamp of the predicate into a; a present but malformed one is SL_EINVAL. */
static int read_timestamp(struct sl_attestation *a, const json_t *predicate, struct sl_err *err)
{
    size_t n = 0;
    const char *const *p = timestamp_paths(a->predicate_type, &n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = predicate;
        char where[128] = "predicate";
        for (; *p; p++) {
            v = json_object_get(v, *p);
            size_t used = strlen(where);
            snprintf(where + used, sizeof(where) - used, ".%s", *p);
        }
        p++; /* past this path's NULL */
        if (!v || json_is_null(v))
            continue;
        time_t t = 0;
        if (!json_is_string(v) || sl_time_parse_rfc3339(&t, json_string_value(v)) != 0)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "the statement's %s is not an RFC 3339 time", where);
        a->has_time = true;
        a->time = t;
        return 0;
    }
    return 0;
}

int sl_attestation_parse_statement(struct sl_attestation *out, const char *payload, size_t len,
                                   const char *digest, struct sl_err *err)
{
    struct sl_attestation a = {0};
    json_error_t jerr;
    int rc = 0;
    if (!digest || strncmp(digest, "sha256:", 7) != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest");
    if (len > SL_ATTESTATION_MAX)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the statement is larger than %zu bytes",
                          SL_ATTESTATION_MAX);
    a.statement = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(a.statement)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the statement is not a JSON object");
        goto done;
    }
    const char *type = json_string_value(json_object_get(a.statement, "_type"));
    if (!type || (strcmp(type, STATEMENT_V01) != 0 && strcmp(type, STATEMENT_V1) != 0)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "the payload is not an in-toto statement (_type %s)",
                        type ? "unknown" : "missing");
        goto done;
    }
    const json_t *pt = json_object_get(a.statement, "predicateType");
    if (!json_is_string(pt) || json_string_length(pt) == 0 ||
        json_string_length(pt) >= sizeof(a.predicate_type) ||
        strlen(json_string_value(pt)) != json_string_length(pt)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "the statement's predicateType is missing or not a short string");
        goto done;
    }
    memcpy(a.predicate_type, json_string_value(pt), json_string_length(pt) + 1);
    const json_t *subjects = json_object_get(a.statement, "subject");
    if (!json_is_array(subjects) || json_array_size(subjects) == 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the statement has no subject");
        goto done;
    }
    bool names = false;
    size_t i;
    const json_t *s;
    json_array_foreach(subjects, i, s)
    {
        const char *hex =
            json_string_value(json_object_get(json_object_get(s, "digest"), "sha256"));
        if (hex && strcmp(hex, digest + 7) == 0)
            names = true;
    }
    if (!names) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "the statement does not name %.80s as its subject", digest);
        goto done;
    }
    const json_t *predicate = json_object_get(a.statement, "predicate");
    if (!json_is_object(predicate)) {
        rc =
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the statement's predicate is not an object");
        goto done;
    }
    rc = read_timestamp(&a, predicate, err);
done:
    if (rc) {
        sl_attestation_clear(&a);
        return rc;
    }
    *out = a;
    return 0;
}

/* Verifies the envelope env (JSON object) and parses its statement. */
static int check_env(struct sl_attestation *out, const json_t *env, const char *digest,
                     const struct sl_key *const *keys, size_t nkeys, struct sl_err *err)
{
    unsigned char *payload = NULL;
    size_t len = 0;
    int k = -1;
    int rc = sl_dsse_verify(&payload, &len, &k, env, keys, nkeys, err);
    if (rc)
        return rc;
    struct sl_attestation a = {0};
    rc = sl_attestation_parse_statement(&a, (const char *)payload, len, digest, err);
    free(payload);
    if (rc)
        return rc;
    a.key_index = k;
    *out = a;
    return 0;
}

int sl_attestation_check_envelope(struct sl_attestation *out, const char *envelope, size_t len,
                                  const char *digest, const struct sl_key *const *keys,
                                  size_t nkeys, struct sl_err *err)
{
    json_error_t jerr;
    json_t *env = len <= SL_ATTESTATION_MAX ? json_loadb(envelope, len, 0, &jerr) : NULL;
    int rc = json_is_object(env) ? check_env(out, env, digest, keys, nkeys, err)
                                 : sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                              "the attestation is not a DSSE envelope (JSON)");
    json_decref(env);
    return rc;
}

/* ---- vulnerability findings ---- */

struct finding_count {
    size_t seen, at_or_above;
    int worst, threshold;
    char first[128];
};

/* Counts one finding: severity is the finding's severity value, id its identifier. */
static int count_finding(struct finding_count *fc, const json_t *finding, const json_t *severity,
                         const json_t *id, struct sl_err *err)
{
    if (++fc->seen > SL_ATTESTATION_MAX_FINDINGS)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "the vulnerability report has more than %d findings",
                          SL_ATTESTATION_MAX_FINDINGS);
    if (!json_is_object(finding) || !json_is_string(severity))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "finding %zu of the vulnerability report has no severity", fc->seen);
    /* accepted by the vendor's allowlist or suppressed by a VEX statement */
    if (json_is_true(json_object_get(finding, "allowlisted")) ||
        json_is_true(json_object_get(finding, "suppressed")))
        return 0;
    int r = severity_rank(json_string_value(severity));
    if (r > fc->worst)
        fc->worst = r;
    if (r >= fc->threshold) {
        if (fc->at_or_above++ == 0)
            snprintf(fc->first, sizeof(fc->first), "%.100s",
                     json_is_string(id) ? json_string_value(id) : "(no id)");
    }
    return 0;
}

/* Counts the findings of a list whose items keep severity and id at the given keys (sub: inside
 * that object of the item, e.g. Grype's "vulnerability"; NULL = the item itself). */
static int count_list(struct finding_count *fc, const json_t *list, const char *sub,
                      const char *sev_key, const char *id_key, struct sl_err *err)
{
    size_t i;
    const json_t *f;
    json_array_foreach(list, i, f)
    {
        const json_t *holder = sub ? json_object_get(f, sub) : f;
        int rc = count_finding(fc, f, json_object_get(holder, sev_key),
                               json_object_get(holder, id_key), err);
        if (rc)
            return rc;
    }
    return 0;
}

int sl_attestation_vuln_count(size_t *at_or_above, int *worst, char first[128],
                              const json_t *statement, int threshold, struct sl_err *err)
{
    struct finding_count fc = {.threshold = threshold < 1 ? 1 : threshold};
    const json_t *result = json_object_get(
        json_object_get(json_object_get(statement, "predicate"), "scanner"), "result");
    const json_t *l;
    int rc = 0;
    if (json_is_array(l = json_object_get(result, "vulnerabilities")))
        rc = count_list(&fc, l, NULL, "severity", "id", err); /* sealift's JSON report */
    else if (json_is_array(l = json_object_get(result, "findings")))
        rc = count_list(&fc, l, NULL, "severity", "id", err);
    else if (json_is_array(l = json_object_get(result, "matches")))
        rc = count_list(&fc, l, "vulnerability", "severity", "id", err); /* Grype */
    else if (json_is_array(l = json_object_get(result, "Results"))) {
        size_t i; /* Trivy: one entry per target, Vulnerabilities absent when none */
        const json_t *target;
        json_array_foreach(l, i, target)
        {
            const json_t *v = json_object_get(target, "Vulnerabilities");
            if (v && !json_is_null(v) && !json_is_array(v))
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "Results[%zu].Vulnerabilities of the vulnerability report is not "
                                "a list",
                                i);
            else
                rc = count_list(&fc, v, NULL, "Severity", "VulnerabilityID", err);
            if (rc)
                break;
        }
    } else
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "the vulnerability report (predicate.scanner.result) has no list of "
                        "findings (vulnerabilities, findings, Results or matches)");
    if (rc)
        return rc;
    *at_or_above = fc.at_or_above;
    *worst = fc.worst;
    if (first)
        snprintf(first, 128, "%s", fc.first);
    return 0;
}

/* ---- finding them in a registry ---- */

struct lookup {
    struct sl_registry *reg;
    const char *repo, *digest;
    const struct sl_attestation_type *type;
    const struct sl_key *const *keys;
    size_t nkeys;
    size_t max_count, max_bytes;
    int64_t deadline_ms;
    size_t count, bytes;
    int stop; /* SL_ETOOBIG or SL_ERETRY once a limit is reached */
    char stop_why[128];
    struct sl_attestation best;
    bool have_best;
    size_t unsigned_count; /* candidates of the type that did not verify */
    struct sl_err unsigned_why;
    bool malformed; /* a verified statement of the type that cannot be read */
    struct sl_err malformed_why;
    struct sl_attestation_list *all; /* sl_attestation_list: every verified one, else NULL */
};

/* May the lookup fetch one more attestation (count: a new one) of next_bytes? Sets l->stop when
 * not. */
static bool budget_allows(struct lookup *l, size_t next_bytes, bool count)
{
    if (l->stop)
        return false;
    if (count && l->count >= l->max_count) {
        l->stop = SL_ETOOBIG;
        snprintf(l->stop_why, sizeof(l->stop_why), "more than %zu attestations to check",
                 l->max_count);
    } else if (l->bytes + next_bytes > l->max_bytes) {
        l->stop = SL_ETOOBIG;
        snprintf(l->stop_why, sizeof(l->stop_why), "more than %zu bytes of attestations",
                 l->max_bytes);
    } else if (l->deadline_ms && sl_mono_ms() >= l->deadline_ms) {
        l->stop = SL_ERETRY;
        snprintf(l->stop_why, sizeof(l->stop_why), "the check ran out of time");
    }
    if (count)
        l->count++;
    return l->stop == 0;
}

/* The predicate type an envelope claims before it is verified (only to tell "missing" from
 * "unsigned" in messages; never trusted). Writes "" when it cannot be read. */
static void peek_predicate(char out[SL_ATTESTATION_TYPE_MAX], const json_t *env)
{
    out[0] = '\0';
    const char *p64 = json_string_value(json_object_get(env, "payload"));
    unsigned char *payload = NULL;
    size_t len = 0;
    if (!p64 || strlen(p64) > 2 * SL_ATTESTATION_MAX ||
        sl_base64_decode(&payload, &len, p64, strlen(p64)) != 0)
        return;
    json_error_t jerr;
    json_t *st = json_loadb((const char *)payload, len, 0, &jerr);
    const char *pt = json_string_value(json_object_get(st, "predicateType"));
    if (pt)
        snprintf(out, SL_ATTESTATION_TYPE_MAX, "%s", pt);
    json_decref(st);
    free(payload);
}

/* Notes a candidate of the type that is not used (sl_attestation_list). */
static void list_ignore(struct lookup *l, const char *source, const struct sl_err *why)
{
    if (l->all->ignored++ == 0)
        snprintf(l->all->ignored_why, sizeof(l->all->ignored_why), "%.80s: %s", source, why->msg);
}

/* Considers one envelope (JSON object) found in the registry; source is the digest of the
 * layer or referrer manifest that held it. */
static void consider(struct lookup *l, const json_t *env, const char *where, const char *source)
{
    struct sl_attestation a = {0};
    struct sl_err e = {0};
    int rc = check_env(&a, env, l->digest, l->keys, l->nkeys, &e);
    if (rc == 0) {
        if (!type_accepts(l->type, a.predicate_type)) {
            sl_attestation_clear(&a);
            return;
        }
        a.where = where;
        snprintf(a.source, sizeof(a.source), "%s", source);
        if (l->all) {
            /* the count was bounded by budget_allows before the fetch */
            l->all->items = sl_xrealloc(l->all->items, (l->all->n + 1) * sizeof(*l->all->items));
            l->all->items[l->all->n++] = a;
            return;
        }
        bool newer = !l->have_best || (a.has_time && !l->best.has_time) ||
                     (a.has_time && l->best.has_time && a.time > l->best.time);
        if (newer) {
            sl_attestation_clear(&l->best);
            l->best = a;
            l->have_best = true;
        } else {
            sl_attestation_clear(&a);
        }
        return;
    }
    char claimed[SL_ATTESTATION_TYPE_MAX];
    peek_predicate(claimed, env);
    if (!type_accepts(l->type, claimed))
        return; /* another type (or unreadable): not a candidate */
    if (l->all) {
        list_ignore(l, source, &e);
        return;
    }
    if (rc == SL_EINVAL && e.klass != SL_ERRC_CRYPTO) {
        /* signed, claims the type, but the statement cannot be read */
        if (!l->malformed) {
            l->malformed = true;
            l->malformed_why = e;
        }
        return;
    }
    if (l->unsigned_count++ == 0)
        l->unsigned_why = e;
}

/* Fetches blob digest of l's repository within what is left of l's byte budget (and at most
 * SL_ATTESTATION_MAX), counts its bytes against the budget and parses it into *out (NULL when
 * it is not JSON; the caller's). Returns 0 or the registry's error (e says why, *out NULL). */
static int fetch_json_blob(json_t **out, struct lookup *l, const char *digest, struct sl_err *e)
{
    char *blob = NULL;
    size_t blob_len = 0;
    size_t cap = l->max_bytes - l->bytes;
    *out = NULL;
    int rc = sl_registry_blob_get(&blob, &blob_len, l->reg, l->repo, digest,
                                  cap < SL_ATTESTATION_MAX ? cap : SL_ATTESTATION_MAX, e);
    if (rc)
        return rc;
    l->bytes += blob_len;
    json_error_t jerr;
    *out = json_loadb(blob, blob_len, 0, &jerr);
    free(blob);
    return 0;
}

/* The attestations at the .att tag. */
static int scan_att_tag(struct lookup *l, struct sl_err *err)
{
    char tag[96];
    snprintf(tag, sizeof(tag), "sha256-%.64s.att", l->digest + 7);
    struct sl_registry_manifest m = {0};
    json_t *mj = NULL;
    int rc = sl_registry_manifest_get(&m, l->reg, l->repo, tag, err);
    if (rc == SL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    json_error_t jerr;
    mj = json_loadb(m.data, m.len, 0, &jerr);
    size_t i;
    const json_t *layer;
    json_array_foreach(json_object_get(mj, "layers"), i, layer)
    {
        const char *mt = json_string_value(json_object_get(layer, "mediaType"));
        const char *d = json_string_value(json_object_get(layer, "digest"));
        const char *hint = json_string_value(
            json_object_get(json_object_get(layer, "annotations"), "predicateType"));
        json_int_t size = json_integer_value(json_object_get(layer, "size"));
        if (!mt || strcmp(mt, SL_ATTESTATION_DSSE_MEDIA_TYPE) != 0 || !d || !sl_ref_is_digest(d))
            continue;
        if (hint && !type_accepts(l->type, hint))
            continue; /* saves a fetch; the statement is what counts */
        if (!budget_allows(l, size > 0 ? (size_t)size : 0, true))
            break;
        json_t *env = NULL;
        struct sl_err e = {0};
        rc = fetch_json_blob(&env, l, d, &e);
        if (rc == SL_ENOTFOUND || rc == SL_ETOOBIG || rc == SL_EDIGEST) {
            if (l->all)
                list_ignore(l, d, &e);
            else if (l->unsigned_count++ == 0)
                sl_err_set(&l->unsigned_why, rc, SL_ERRC_REGISTRY, "attestation layer %s: %s", d,
                           e.msg);
            rc = 0;
            continue;
        }
        if (rc) {
            sl_err_set(err, rc, e.klass, "%s", e.msg);
            break;
        }
        if (json_is_object(env)) {
            consider(l, env, "att-tag", d);
        } else if (l->all) {
            sl_err_set(&e, SL_EINVAL, SL_ERRC_INPUT, "not a DSSE envelope");
            list_ignore(l, d, &e);
        } else if (l->unsigned_count++ == 0) {
            sl_err_set(&l->unsigned_why, SL_EINVAL, SL_ERRC_INPUT,
                       "attestation layer %s is not a DSSE envelope", d);
        }
        json_decref(env);
    }
    json_decref(mj);
    sl_registry_manifest_free(&m);
    return rc;
}

/* The bundle referrers (cosign v3 attestations). */
static int scan_referrers(struct lookup *l, struct sl_err *err)
{
    char *index = NULL;
    size_t len = 0;
    json_t *idx = NULL;
    int rc = sl_registry_referrers(&index, &len, l->reg, l->repo, l->digest, NULL, err);
    if (rc == SL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    json_error_t jerr;
    idx = json_loadb(index, len, 0, &jerr);
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(idx, "manifests"), i, d)
    {
        const char *at = json_string_value(json_object_get(d, "artifactType"));
        const char *md = json_string_value(json_object_get(d, "digest"));
        const char *hint = json_string_value(
            json_object_get(json_object_get(d, "annotations"), BUNDLE_PREDICATE_ANNOT));
        if (!md || !sl_ref_is_digest(md) || (at && strcmp(at, SL_BUNDLE_MEDIA_TYPE) != 0) ||
            (hint && !type_accepts(l->type, hint)))
            continue;
        if (!budget_allows(l, 0, true))
            break;
        struct sl_registry_manifest m = {0};
        struct sl_err e = {0};
        rc = sl_registry_manifest_get(&m, l->reg, l->repo, md, &e);
        if (rc) {
            sl_registry_manifest_free(&m);
            if (rc == SL_ENOTFOUND || rc == SL_EDIGEST || rc == SL_ETOOBIG) {
                rc = 0;
                continue;
            }
            sl_err_set(err, rc, e.klass, "%s", e.msg);
            break;
        }
        json_t *mj = json_loadb(m.data, m.len, 0, &jerr);
        sl_registry_manifest_free(&m);
        const char *mhint = json_string_value(
            json_object_get(json_object_get(mj, "annotations"), BUNDLE_PREDICATE_ANNOT));
        const char *layer = NULL;
        json_int_t size = 0;
        size_t k;
        const json_t *ld;
        json_array_foreach(json_object_get(mj, "layers"), k, ld)
        {
            const char *lmt = json_string_value(json_object_get(ld, "mediaType"));
            const char *ldg = json_string_value(json_object_get(ld, "digest"));
            if (lmt && ldg && strcmp(lmt, SL_BUNDLE_MEDIA_TYPE) == 0 && sl_ref_is_digest(ldg)) {
                layer = ldg;
                size = json_integer_value(json_object_get(ld, "size"));
                break;
            }
        }
        if (!layer || (mhint && !type_accepts(l->type, mhint)) ||
            !budget_allows(l, size > 0 ? (size_t)size : 0, false)) {
            json_decref(mj);
            if (l->stop)
                break;
            continue;
        }
        json_t *b = NULL;
        rc = fetch_json_blob(&b, l, layer, &e);
        json_decref(mj);
        if (rc == SL_ENOTFOUND || rc == SL_ETOOBIG || rc == SL_EDIGEST) {
            rc = 0;
            continue;
        }
        if (rc) {
            sl_err_set(err, rc, e.klass, "%s", e.msg);
            break;
        }
        const char *bmt = json_string_value(json_object_get(b, "mediaType"));
        const json_t *env = json_object_get(b, "dsseEnvelope");
        if (bmt && strncmp(bmt, "application/vnd.dev.sigstore.bundle", 35) == 0 &&
            json_is_object(env))
            consider(l, env, "referrer", md);
        json_decref(b);
    }
    json_decref(idx);
    free(index);
    return rc;
}

/* A lookup of digest's attestations of type, with limits' bounds (NULL or 0: the defaults). */
static void lookup_init(struct lookup *l, struct sl_registry *reg, const char *repo,
                        const char *digest, const struct sl_attestation_type *type,
                        const struct sl_key *const *keys, size_t nkeys,
                        const struct sl_attestation_limits *limits)
{
    memset(l, 0, sizeof(*l));
    l->reg = reg;
    l->repo = repo;
    l->digest = digest;
    l->type = type;
    l->keys = keys;
    l->nkeys = nkeys;
    l->max_count =
        limits && limits->max_attestations ? limits->max_attestations : DEFAULT_MAX_COUNT;
    l->max_bytes = limits && limits->max_bytes ? limits->max_bytes : DEFAULT_MAX_BYTES;
    l->deadline_ms = limits ? limits->deadline_ms : 0;
}

int sl_attestation_newest(struct sl_attestation *out, struct sl_registry *reg, const char *repo,
                          const char *digest, const struct sl_attestation_type *type,
                          const struct sl_key *const *keys, size_t nkeys,
                          const struct sl_attestation_limits *limits, struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest");
    struct lookup l;
    lookup_init(&l, reg, repo, digest, type, keys, nkeys, limits);
    int rc = scan_att_tag(&l, err);
    if (!rc && !l.stop)
        rc = scan_referrers(&l, err);
    if (rc)
        goto done;
    if (l.malformed) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "a signed %s attestation is unreadable: %s",
                        type->name, l.malformed_why.msg);
    } else if (l.stop) {
        /* a newer one may hide beyond the limit */
        rc = sl_err_set(err, l.stop, SL_ERRC_CRYPTO, "the %s attestations of %s@%s: %s", type->name,
                        repo, digest, l.stop_why);
    } else if (l.have_best) {
        *out = l.best;
        l.best.statement = NULL;
    } else if (l.unsigned_count) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_CRYPTO,
                        "%zu %s attestation%s, none signed by the trusted key%s for this digest: "
                        "%s",
                        l.unsigned_count, type->name, l.unsigned_count == 1 ? "" : "s",
                        nkeys == 1 ? "" : "s", l.unsigned_why.msg);
    } else {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_CRYPTO, "no %s attestation of %s@%s", type->name,
                        repo, digest);
    }
done:
    sl_attestation_clear(&l.best);
    return rc;
}

void sl_attestation_list_free(struct sl_attestation_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        sl_attestation_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

int sl_attestation_list(struct sl_attestation_list *out, struct sl_registry *reg, const char *repo,
                        const char *digest, const struct sl_attestation_type *type,
                        const struct sl_key *const *keys, size_t nkeys,
                        const struct sl_attestation_limits *limits, struct sl_err *err)
{
    if (!sl_ref_is_digest(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not a sha256 digest");
    struct sl_attestation_list all = {0};
    struct lookup l;
    lookup_init(&l, reg, repo, digest, type, keys, nkeys, limits);
    l.all = &all;
    int rc = scan_att_tag(&l, err);
    if (!rc && !l.stop)
        rc = scan_referrers(&l, err);
    if (!rc && l.stop)
        /* one beyond the limit could change the answer: no partial list */
        rc = sl_err_set(err, l.stop, SL_ERRC_CRYPTO, "the %s attestations of %s@%s: %s", type->name,
                        repo, digest, l.stop_why);
    if (rc) {
        sl_attestation_list_free(&all);
        return rc;
    }
    *out = all;
    return 0;
}

/* ---- deciding ---- */

/* "200h5m" for a span of seconds. */
static void format_age(char *out, size_t n, int64_t seconds)
{
    if (seconds < 0)
        seconds = 0;
    snprintf(out, n, "%lldh%lldm", (long long)(seconds / 3600), (long long)(seconds % 3600 / 60));
}

void sl_attestation_judge(struct sl_attestation_decision *out, const struct sl_attestation *a,
                          const struct sl_attestation_requirement *req, time_t now)
{
    struct sl_attestation_decision d = {.verdict = SL_ATTESTATION_OK};
    char when[32] = "no timestamp";
    if (a->has_time)
        sl_time_format_rfc3339(when, sizeof(when), a->time);
    if (req->max_age_ms > 0) {
        int64_t max_s = req->max_age_ms / 1000;
        char max[32];
        format_age(max, sizeof(max), max_s);
        if (!a->has_time) {
            d.verdict = SL_ATTESTATION_STALE;
            snprintf(d.reason, sizeof(d.reason),
                     "the newest %s attestation has no signed timestamp, so its age cannot be "
                     "checked against maxAge %s",
                     req->type.name, max);
            goto done;
        }
        if (a->time > now + FUTURE_SKEW_S) {
            d.verdict = SL_ATTESTATION_STALE;
            snprintf(d.reason, sizeof(d.reason),
                     "the newest %s attestation is dated in the future (%s)", req->type.name, when);
            goto done;
        }
        int64_t age = (int64_t)(now - a->time);
        if (age > max_s) {
            char got[32];
            format_age(got, sizeof(got), age);
            d.verdict = SL_ATTESTATION_STALE;
            snprintf(d.reason, sizeof(d.reason),
                     "the newest %s attestation (%s) is %s old, older than maxAge %s",
                     req->type.name, when, got, max);
            goto done;
        }
        d.stale_at = a->time + (time_t)max_s;
    }
    if (req->threshold > 0 && strcmp(a->predicate_type, SL_ATTESTATION_VULN) == 0) {
        size_t n = 0;
        int worst = 0;
        char first[128] = "";
        struct sl_err e = {0};
        if (sl_attestation_vuln_count(&n, &worst, first, a->statement, req->threshold, &e) != 0) {
            d.verdict = SL_ATTESTATION_UNPARSEABLE;
            snprintf(d.reason, sizeof(d.reason), "the newest %s attestation (%s): %s",
                     req->type.name, when, e.msg);
            goto done;
        }
        if (n > 0) {
            d.verdict = SL_ATTESTATION_FINDINGS;
            snprintf(d.reason, sizeof(d.reason),
                     "the newest %s attestation (%s) lists %zu finding%s at or above %s (%s%s)",
                     req->type.name, when, n, n == 1 ? "" : "s",
                     sl_attestation_severity_name(req->threshold), first, n > 1 ? ", ..." : "");
            goto done;
        }
    }
    snprintf(d.reason, sizeof(d.reason), "%s attestation from %s (%s)", req->type.name, when,
             a->predicate_type);
done:
    *out = d;
}

static int decide_one(struct sl_attestation_decision *out, struct sl_registry *reg,
                      const char *repo, const char *digest,
                      const struct sl_attestation_requirement *req,
                      const struct sl_key *const *keys, size_t nkeys,
                      const struct sl_attestation_limits *limits, time_t now, struct sl_err *err);

/* A child of an index that runs on a node: not the "unknown/unknown" entries build tools add
 * for their own attestation manifests. */
static bool runnable_child(const struct sl_descriptor *d)
{
    return !(d->os && d->arch && strcmp(d->os, "unknown") == 0 && strcmp(d->arch, "unknown") == 0);
}

/* digest had none of the type: when it is an index (what a multi-platform tag names, and what
 * a Pod's image resolves to), attestations made per platform (sealift's delivery, `sealift
 * attest`, most build pipelines) sit on its children. Every runnable child must then meet req,
 * since any of them may run; the first that does not decides. out is untouched unless digest is
 * an index (returns 1 then, 0 when it is not an index, or an error). */
static int decide_index(struct sl_attestation_decision *out, struct sl_registry *reg,
                        const char *repo, const char *digest,
                        const struct sl_attestation_requirement *req,
                        const struct sl_key *const *keys, size_t nkeys,
                        const struct sl_attestation_limits *limits, time_t now, struct sl_err *err)
{
    struct sl_registry_manifest rm = {0};
    struct sl_manifest m = {0};
    struct sl_err e = {0};
    int rc = sl_registry_manifest_get(&rm, reg, repo, digest, &e);
    if (rc == SL_ENOTFOUND) {
        rc = 0; /* no such manifest: "none of the type" stands */
        goto done;
    }
    if (rc) {
        rc = sl_err_set(err, rc, e.klass, "%s", e.msg);
        goto done;
    }
    if (sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, &e) != 0 ||
        m.kind != SL_MANIFEST_INDEX)
        goto done; /* rc 0: not an index, the digest's own answer stands */
    size_t checked = 0;
    struct sl_attestation_decision all = {.verdict = SL_ATTESTATION_OK};
    for (size_t i = 0; i < m.n_children; i++) {
        const struct sl_descriptor *c = &m.children[i];
        if (!runnable_child(c))
            continue;
        if (++checked > SL_ATTESTATION_MAX_CHILDREN) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY,
                            "index %s has more than %d platforms to check", digest,
                            SL_ATTESTATION_MAX_CHILDREN);
            goto done;
        }
        struct sl_attestation_decision d;
        rc = decide_one(&d, reg, repo, c->digest, req, keys, nkeys, limits, now, err);
        if (rc)
            goto done;
        if (d.verdict != SL_ATTESTATION_OK) {
            all.verdict = d.verdict;
            snprintf(all.reason, sizeof(all.reason), "platform %s/%s%s%s (%.19s): %s",
                     c->os ? c->os : "?", c->arch ? c->arch : "?", c->variant ? "/" : "",
                     c->variant ? c->variant : "", c->digest, d.reason);
            break;
        }
        if (d.stale_at > 0 && (all.stale_at == 0 || d.stale_at < all.stale_at))
            all.stale_at = d.stale_at;
        if (checked == 1)
            snprintf(all.reason, sizeof(all.reason), "%s", d.reason);
    }
    if (checked == 0) {
        all.verdict = SL_ATTESTATION_MISSING;
        snprintf(all.reason, sizeof(all.reason), "no %s attestation (index without platforms)",
                 req->type.name);
    } else if (all.verdict == SL_ATTESTATION_OK) {
        char first[sizeof(all.reason)];
        snprintf(first, sizeof(first), "%s", all.reason);
        snprintf(all.reason, sizeof(all.reason), "every platform of the index (%zu): %s", checked,
                 first);
    }
    all.platforms = checked;
    *out = all;
    rc = 1;
done:
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

int sl_attestation_decide(struct sl_attestation_decision *out, struct sl_registry *reg,
                          const char *repo, const char *digest,
                          const struct sl_attestation_requirement *req,
                          const struct sl_key *const *keys, size_t nkeys,
                          const struct sl_attestation_limits *limits, time_t now,
                          struct sl_err *err)
{
    struct sl_attestation_decision d;
    int rc = decide_one(&d, reg, repo, digest, req, keys, nkeys, limits, now, err);
    if (rc)
        return rc;
    if (d.verdict == SL_ATTESTATION_MISSING) {
        rc = decide_index(out, reg, repo, digest, req, keys, nkeys, limits, now, err);
        if (rc < 0 || rc > 1)
            return rc;
        if (rc == 1)
            return 0;
    }
    *out = d;
    return 0;
}

static int decide_one(struct sl_attestation_decision *out, struct sl_registry *reg,
                      const char *repo, const char *digest,
                      const struct sl_attestation_requirement *req,
                      const struct sl_key *const *keys, size_t nkeys,
                      const struct sl_attestation_limits *limits, time_t now, struct sl_err *err)
{
    struct sl_attestation a = {0};
    struct sl_attestation_decision d = {0};
    struct sl_err e = {0};
    int rc = sl_attestation_newest(&a, reg, repo, digest, &req->type, keys, nkeys, limits, &e);
    switch (rc) {
    case 0:
        sl_attestation_judge(&d, &a, req, now);
        break;
    case SL_ENOTFOUND:
        d.verdict = SL_ATTESTATION_MISSING;
        snprintf(d.reason, sizeof(d.reason), "no %s attestation", req->type.name);
        break;
    case SL_EDIGEST:
        d.verdict = SL_ATTESTATION_UNSIGNED;
        snprintf(d.reason, sizeof(d.reason), "%s", e.msg);
        break;
    case SL_EINVAL:
        d.verdict = SL_ATTESTATION_UNPARSEABLE;
        snprintf(d.reason, sizeof(d.reason), "%s", e.msg);
        break;
    default:
        return sl_err_set(err, rc, e.klass, "%s", e.msg);
    }
    sl_attestation_clear(&a);
    *out = d;
    return 0;
}
