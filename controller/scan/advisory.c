/* Advisory database: format detection, parsers (OSV, Debian tracker, Alpine secdb) and the
 * in-memory index. */
#include "scan/advisory.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "scan/pkgdb.h"
#include "util/mem.h"
#include "util/yamljson.h"

struct sl_adv_list {
    struct sl_advisory **items;
    size_t count, cap;
};

/* Advisories parsed from one document, committed to the index only when the whole document
 * parsed. */
struct adv_vec {
    struct sl_advisory **items;
    size_t count, cap;
};

static void adv_free(struct sl_advisory *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->eco);
    free(a->pkg);
    for (size_t i = 0; i < a->nranges; i++) {
        free(a->ranges[i].introduced);
        free(a->ranges[i].fixed);
        free(a->ranges[i].last_affected);
    }
    free(a->ranges);
    for (size_t i = 0; i < a->nversions; i++)
        free(a->versions[i]);
    free(a->versions);
    free(a->summary);
    free(a);
}

static void adv_vec_free(struct adv_vec *v)
{
    for (size_t i = 0; i < v->count; i++)
        adv_free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof(*v));
}

static struct sl_advisory *adv_new(struct adv_vec *v, const char *id, const char *eco,
                                   const char *pkg, const char *format)
{
    struct sl_advisory *a = sl_xcalloc(1, sizeof(*a));
    a->id = sl_xstrdup(id);
    a->eco = sl_xstrdup(eco);
    a->pkg = sl_xstrdup(pkg);
    a->format = format;
    a->precedence = 2;
    if (v->count == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = sl_xrealloc(v->items, v->cap * sizeof(*v->items));
    }
    v->items[v->count++] = a;
    return a;
}

static struct sl_adv_range *adv_add_range(struct sl_advisory *a)
{
    a->ranges = sl_xrealloc(a->ranges, (a->nranges + 1) * sizeof(*a->ranges));
    struct sl_adv_range *r = &a->ranges[a->nranges++];
    memset(r, 0, sizeof(*r));
    return r;
}

static bool adv_has_fix(const struct sl_advisory *a)
{
    for (size_t i = 0; i < a->nranges; i++)
        if (a->ranges[i].fixed || a->ranges[i].last_affected)
            return true;
    return false;
}

void sl_advdb_init(struct sl_advdb *db)
{
    memset(db, 0, sizeof(*db));
    sl_strmap_init(&db->index);
}

static void list_free(void *p)
{
    struct sl_adv_list *l = p;
    for (size_t i = 0; i < l->count; i++)
        adv_free(l->items[i]);
    free(l->items);
    free(l);
}

void sl_advdb_free(struct sl_advdb *db)
{
    if (!db)
        return;
    sl_strmap_clear(&db->index, list_free);
    memset(db, 0, sizeof(*db));
}

/* Adds a to the index, merging with an entry of the same id: the higher precedence wins, and
 * at equal precedence a statement with a fix wins over one without (a DSA's fixed version
 * completes a CVE entry that was still open when the CVE file was written). */
static void db_insert(struct sl_advdb *db, struct sl_advisory *a)
{
    char key[512];
    snprintf(key, sizeof(key), "%s\t%s", a->eco, a->pkg);
    struct sl_adv_list *l = sl_strmap_get(&db->index, key, NULL);
    if (!l) {
        l = sl_xcalloc(1, sizeof(*l));
        sl_strmap_put(&db->index, key, l);
    }
    for (size_t i = 0; i < l->count; i++) {
        struct sl_advisory *old = l->items[i];
        if (strcmp(old->id, a->id) != 0)
            continue;
        bool replace = a->precedence > old->precedence ||
                       (a->precedence == old->precedence && adv_has_fix(a) && !adv_has_fix(old));
        if (replace) {
            if (a->severity == SL_SEV_UNKNOWN)
                a->severity = old->severity;
            if (!a->summary && old->summary) {
                a->summary = old->summary;
                old->summary = NULL;
            }
            l->items[i] = a;
            adv_free(old);
        } else {
            if (old->severity == SL_SEV_UNKNOWN)
                old->severity = a->severity;
            adv_free(a);
        }
        return;
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->items = sl_xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->count++] = a;
    db->records++;
}

int sl_advdb_ecosystem_key(char *out, size_t n, const char *eco)
{
    const char *colon = strchr(eco, ':');
    if (!colon || !colon[1]) {
        if (strcasecmp(eco, "Debian") == 0 || strcasecmp(eco, "Alpine") == 0 ||
            strcasecmp(eco, "Ubuntu") == 0) {
            snprintf(out, n, "%c%s:*", tolower((unsigned char)eco[0]), eco + 1);
            for (char *c = out; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            return 0;
        }
        return SL_EUNSUPPORTED;
    }
    size_t dlen = (size_t)(colon - eco);
    const char *rel = colon + 1;
    char relbuf[64];
    snprintf(relbuf, sizeof(relbuf), "%s", rel);
    if (dlen == 6 && strncasecmp(eco, "Debian", 6) == 0) {
        if (isdigit((unsigned char)relbuf[0])) {
            char *dot = strchr(relbuf, '.');
            if (dot)
                *dot = '\0';
            snprintf(out, n, "debian:%s", relbuf);
            return 0;
        }
        for (char *c = relbuf; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        const char *num = sl_debian_number_for_codename(relbuf);
        if (!num)
            return SL_EUNSUPPORTED; /* sid/unstable: no image reports it as a release */
        snprintf(out, n, "debian:%s", num);
        return 0;
    }
    if (dlen == 6 && strncasecmp(eco, "Alpine", 6) == 0) {
        const char *r = relbuf;
        if (*r == 'v' || *r == 'V')
            r++;
        if (strcasecmp(r, "edge") == 0) {
            snprintf(out, n, "alpine:edge");
            return 0;
        }
        if (!isdigit((unsigned char)*r))
            return SL_EUNSUPPORTED;
        /* major.minor */
        char mm[32];
        size_t k = 0;
        int dots = 0;
        for (; r[k] && k + 1 < sizeof(mm); k++) {
            if (r[k] == '.' && ++dots == 2)
                break;
            if (!isdigit((unsigned char)r[k]) && r[k] != '.')
                break;
            mm[k] = r[k];
        }
        mm[k] = '\0';
        snprintf(out, n, "alpine:%s", mm);
        return 0;
    }
    if (dlen == 6 && strncasecmp(eco, "Ubuntu", 6) == 0) {
        /* "Ubuntu:22.04:LTS", "Ubuntu:Pro:18.04:LTS" */
        const char *r = relbuf;
        while (*r && !isdigit((unsigned char)*r))
            r++;
        size_t k = 0;
        while (r[k] && (isdigit((unsigned char)r[k]) || r[k] == '.'))
            k++;
        if (!k)
            return SL_EUNSUPPORTED;
        snprintf(out, n, "ubuntu:%.*s", (int)k, r);
        return 0;
    }
    return SL_EUNSUPPORTED;
}

/* ---- OSV ---- */

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Severity from an OSV severity[] array (CVSS v3 vectors only). */
static enum sl_severity osv_cvss_severity(json_t *arr)
{
    enum sl_severity best = SL_SEV_UNKNOWN;
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        const char *type = jstr(s, "type");
        const char *score = jstr(s, "score");
        double v;
        if (type && score && (strcmp(type, "CVSS_V3") == 0 || strcmp(type, "CVSS_V31") == 0) &&
            sl_cvss3_base_score(&v, score) == 0) {
            enum sl_severity sev = sl_cvss3_rating(v);
            if (sev > best)
                best = sev;
        }
    }
    return best;
}

static enum sl_severity specific_severity(json_t *obj)
{
    enum sl_severity sev = SL_SEV_UNKNOWN;
    json_t *ds = json_object_get(obj, "database_specific");
    if (json_is_object(ds) && jstr(ds, "severity"))
        sl_severity_parse(&sev, jstr(ds, "severity"));
    if (sev == SL_SEV_UNKNOWN) {
        json_t *es = json_object_get(obj, "ecosystem_specific");
        if (json_is_object(es)) {
            if (jstr(es, "severity"))
                sl_severity_parse(&sev, jstr(es, "severity"));
            else if (jstr(es, "urgency"))
                sl_severity_parse(&sev, jstr(es, "urgency"));
        }
    }
    return sev;
}

static int parse_osv_record(struct adv_vec *out, size_t *skipped, json_t *rec, struct sl_err *err)
{
    const char *id = jstr(rec, "id");
    if (!id || !*id)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "OSV record without an id");
    json_t *affected = json_object_get(rec, "affected");
    if (affected && !json_is_array(affected))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: affected is not an array", id);
    enum sl_severity rec_sev = osv_cvss_severity(json_object_get(rec, "severity"));
    enum sl_severity rec_specific = specific_severity(rec);
    const char *summary = jstr(rec, "summary");
    json_t *withdrawn = json_object_get(rec, "withdrawn");
    if (json_is_string(withdrawn) && *json_string_value(withdrawn)) {
        (*skipped)++;
        return 0; /* withdrawn advisories no longer apply */
    }
    size_t first = out->count; /* entries of this record start here */
    size_t i;
    json_t *aff;
    json_array_foreach(affected, i, aff)
    {
        json_t *pkg = json_object_get(aff, "package");
        const char *eco = jstr(pkg, "ecosystem");
        const char *name = jstr(pkg, "name");
        if (!eco || !name || !*name)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "%s: affected[%zu].package needs ecosystem and name", id, i);
        char key[64];
        if (sl_advdb_ecosystem_key(key, sizeof(key), eco) != 0) {
            (*skipped)++;
            continue;
        }
        /* a record may name the same package in several affected[] entries: one advisory
         * holds all their ranges */
        struct sl_advisory *a = NULL;
        for (size_t k = first; k < out->count && !a; k++)
            if (strcmp(out->items[k]->eco, key) == 0 && strcmp(out->items[k]->pkg, name) == 0)
                a = out->items[k];
        bool fresh = a == NULL;
        if (fresh) {
            a = adv_new(out, id, key, name, "osv");
            if (summary)
                a->summary = sl_xstrdup(summary);
        }
        json_t *ranges = json_object_get(aff, "ranges");
        size_t j;
        json_t *r;
        json_array_foreach(ranges, j, r)
        {
            const char *type = jstr(r, "type");
            if (!type || strcmp(type, "ECOSYSTEM") != 0)
                continue;
            json_t *events = json_object_get(r, "events");
            if (!json_is_array(events))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "%s: affected[%zu].ranges[%zu].events is not an array", id, i, j);
            struct sl_adv_range *open = NULL;
            size_t k;
            json_t *ev;
            json_array_foreach(events, k, ev)
            {
                const char *intro = jstr(ev, "introduced");
                const char *fixed = jstr(ev, "fixed");
                const char *last = jstr(ev, "last_affected");
                if (intro) {
                    open = adv_add_range(a);
                    open->introduced = sl_xstrdup(intro);
                } else if (fixed || last) {
                    if (!open) /* a fix without introduced: affected from the start */
                        open = adv_add_range(a);
                    if (fixed)
                        open->fixed = sl_xstrdup(fixed);
                    else
                        open->last_affected = sl_xstrdup(last);
                    open = NULL;
                }
            }
        }
        json_t *versions = json_object_get(aff, "versions");
        json_t *v;
        json_array_foreach(versions, j, v)
        {
            if (!json_is_string(v))
                continue;
            a->versions = sl_xrealloc(a->versions, (a->nversions + 1) * sizeof(char *));
            a->versions[a->nversions++] = sl_xstrdup(json_string_value(v));
        }
        if (fresh && a->nranges == 0 && a->nversions == 0) {
            /* only SEMVER/GIT ranges: nothing we can evaluate */
            adv_free(a);
            out->count--;
            (*skipped)++;
            continue;
        }
        enum sl_severity sev = osv_cvss_severity(json_object_get(aff, "severity"));
        if (sev == SL_SEV_UNKNOWN)
            sev = rec_sev;
        if (sev == SL_SEV_UNKNOWN)
            sev = specific_severity(aff);
        if (sev == SL_SEV_UNKNOWN)
            sev = rec_specific;
        if (sev > a->severity)
            a->severity = sev;
    }
    return 0;
}

/* ---- Debian security tracker JSON (pkg -> CVE -> releases) ---- */

static int parse_debian_tracker(struct adv_vec *out, size_t *skipped, json_t *root,
                                struct sl_err *err)
{
    const char *pkg;
    json_t *cves;
    json_object_foreach(root, pkg, cves)
    {
        if (!json_is_object(cves))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "package %s: not an object", pkg);
        const char *cve;
        json_t *info;
        json_object_foreach(cves, cve, info)
        {
            json_t *releases = json_object_get(info, "releases");
            if (json_is_array(releases) && json_array_size(releases) == 0)
                continue; /* the tracker writes [] for CVEs without release data */
            if (!json_is_object(releases))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s/%s: releases missing", pkg,
                                  cve);
            const char *summary = jstr(info, "description");
            const char *codename;
            json_t *rel;
            json_object_foreach(releases, codename, rel)
            {
                const char *status = jstr(rel, "status");
                const char *fixed = jstr(rel, "fixed_version");
                const char *urgency = jstr(rel, "urgency");
                const char *num = sl_debian_number_for_codename(codename);
                if (!num || !status) {
                    (*skipped)++;
                    continue;
                }
                if (strcmp(status, "not-affected") == 0 || (fixed && strcmp(fixed, "0") == 0)) {
                    continue; /* never affected in this release */
                }
                if (strcmp(status, "resolved") == 0 && !fixed) {
                    continue;
                }
                char key[32];
                snprintf(key, sizeof(key), "debian:%s", num);
                struct sl_advisory *a = adv_new(out, cve, key, pkg, "debian-tracker");
                struct sl_adv_range *r = adv_add_range(a);
                if (strcmp(status, "resolved") == 0)
                    r->fixed = sl_xstrdup(fixed);
                if (urgency)
                    sl_severity_parse(&a->severity, urgency);
                if (summary)
                    a->summary = sl_xstrdup(summary);
            }
        }
    }
    return 0;
}

/* ---- vuln-list-debian tracker entries (Header + Annotations) ---- */

static int parse_debian_annotations(struct adv_vec *out, json_t *root, struct sl_err *err)
{
    json_t *header = json_object_get(root, "Header");
    json_t *anns = json_object_get(root, "Annotations");
    const char *id = jstr(header, "ID");
    if (!id || !json_is_array(anns))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "tracker entry without Header.ID or "
                          "Annotations");
    const char *summary = jstr(header, "Description");
    /* A DSA/DLA names the CVEs it fixes; its fixes are recorded under those ids */
    const char *ids_buf[64];
    size_t nids = 0;
    size_t i;
    json_t *an;
    json_array_foreach(anns, i, an)
    {
        const char *type = jstr(an, "Type");
        if (type && strcmp(type, "xref") == 0) {
            json_t *bugs = json_object_get(an, "Bugs");
            size_t j;
            json_t *b;
            json_array_foreach(bugs, j, b)
            {
                if (json_is_string(b) && nids < 64)
                    ids_buf[nids++] = json_string_value(b);
            }
        }
    }
    if (nids == 0)
        ids_buf[nids++] = id;
    /* release-specific statements, then the distribution-wide one (unstable) for the
     * releases without their own line */
    static const char *const releases[] = {"jessie",   "stretch", "buster", "bullseye",
                                           "bookworm", "trixie",  "forky"};
    json_array_foreach(anns, i, an)
    {
        const char *type = jstr(an, "Type");
        const char *pkg = jstr(an, "Package");
        const char *kind = jstr(an, "Kind");
        if (!type || strcmp(type, "package") != 0 || !pkg || !kind)
            continue;
        const char *release = jstr(an, "Release");
        const char *version = jstr(an, "Version");
        bool fixed = strcmp(kind, "fixed") == 0;
        bool open = strcmp(kind, "unfixed") == 0 || strcmp(kind, "postponed") == 0 ||
                    strcmp(kind, "ignored") == 0 || strcmp(kind, "end-of-life") == 0;
        if (!fixed && !open)
            continue; /* not-affected, removed, ... */
        if (fixed && (!version || strcmp(version, "0") == 0))
            continue;
        for (size_t r = 0; r < sizeof(releases) / sizeof(releases[0]); r++) {
            if (release && strcmp(release, releases[r]) != 0)
                continue;
            if (!release) {
                /* skip releases that have their own line for this package */
                bool own = false;
                size_t j;
                json_t *o;
                json_array_foreach(anns, j, o)
                {
                    const char *orel = jstr(o, "Release");
                    const char *opkg = jstr(o, "Package");
                    if (orel && opkg && strcmp(orel, releases[r]) == 0 && strcmp(opkg, pkg) == 0)
                        own = true;
                }
                if (own)
                    continue;
            }
            char key[32];
            snprintf(key, sizeof(key), "debian:%s", sl_debian_number_for_codename(releases[r]));
            for (size_t k = 0; k < nids; k++) {
                struct sl_advisory *a = adv_new(out, ids_buf[k], key, pkg, "debian-tracker");
                a->precedence = release ? 2 : 1;
                struct sl_adv_range *rg = adv_add_range(a);
                if (fixed)
                    rg->fixed = sl_xstrdup(version);
                if (summary)
                    a->summary = sl_xstrdup(summary);
            }
        }
    }
    return 0;
}

/* ---- Alpine secdb ---- */

static void alpine_add_ids(struct adv_vec *out, const char *key, const char *pkg, const char *fixed,
                           const char *ids)
{
    /* entries may hold several ids separated by spaces ("CVE-1 CVE-2") */
    const char *p = ids;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (p > s) {
            char id[128];
            snprintf(id, sizeof(id), "%.*s", (int)(p - s), s);
            struct sl_advisory *a = adv_new(out, id, key, pkg, "alpine-secdb");
            struct sl_adv_range *r = adv_add_range(a);
            r->fixed = sl_xstrdup(fixed);
        }
    }
}

static int parse_alpine_package(struct adv_vec *out, const char *key, json_t *pkg,
                                struct sl_err *err)
{
    const char *name = jstr(pkg, "name");
    json_t *secfixes = json_object_get(pkg, "secfixes");
    if (!name || !*name)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "secdb package without a name");
    if (!secfixes || json_is_null(secfixes))
        return 0;
    if (!json_is_object(secfixes))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: secfixes is not a map", name);
    const char *fixed;
    json_t *ids;
    json_object_foreach(secfixes, fixed, ids)
    {
        if (strcmp(fixed, "0") == 0)
            continue; /* listed ids never affected this release */
        if (!json_is_array(ids))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s %s: ids are not a list", name,
                              fixed);
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            if (json_is_string(id))
                alpine_add_ids(out, key, name, fixed, json_string_value(id));
        }
    }
    return 0;
}

static int parse_alpine_secdb(struct adv_vec *out, json_t *root, struct sl_err *err)
{
    const char *dv = jstr(root, "distroversion");
    char key[64];
    char eco[64];
    snprintf(eco, sizeof(eco), "Alpine:%s", dv ? dv : "");
    if (!dv || sl_advdb_ecosystem_key(key, sizeof(key), eco) != 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "secdb without a usable distroversion");
    json_t *packages = json_object_get(root, "packages");
    if (packages) {
        if (!json_is_array(packages))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "secdb packages is not a list");
        size_t i;
        json_t *p;
        json_array_foreach(packages, i, p)
        {
            json_t *pkg = json_object_get(p, "pkg");
            if (!json_is_object(pkg))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "packages[%zu].pkg missing", i);
            int rc = parse_alpine_package(out, key, pkg, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    return parse_alpine_package(out, key, root, err);
}

/* ---- detection ---- */

static bool looks_like_osv(json_t *o)
{
    return json_is_object(o) && jstr(o, "id") &&
           (json_object_get(o, "affected") || json_object_get(o, "modified") ||
            json_object_get(o, "schema_version"));
}

static bool looks_like_debian_tracker(json_t *root)
{
    /* every value is pkg -> {CVE -> {releases: {...}}}; look at the first one */
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (!json_is_object(v))
            return false;
        const char *cve;
        json_t *info;
        json_object_foreach(v, cve, info)
        {
            json_t *rel = json_object_get(info, "releases");
            return json_is_object(info) && (json_is_object(rel) || json_is_array(rel));
        }
        return false;
    }
    return false;
}

static int parse_document(struct adv_vec *out, size_t *skipped, json_t *root, struct sl_err *err)
{
    if (json_is_array(root)) {
        size_t i;
        json_t *rec;
        json_array_foreach(root, i, rec)
        {
            if (!looks_like_osv(rec))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "array element %zu is not an OSV record", i);
            int rc = parse_osv_record(out, skipped, rec, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(root))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "not an advisory document");
    if (looks_like_osv(root))
        return parse_osv_record(out, skipped, root, err);
    if (json_object_get(root, "Header") && json_object_get(root, "Annotations"))
        return parse_debian_annotations(out, root, err);
    if (json_object_get(root, "secfixes") || json_object_get(root, "packages"))
        return parse_alpine_secdb(out, root, err);
    if (looks_like_debian_tracker(root))
        return parse_debian_tracker(out, skipped, root, err);
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "unknown advisory format (not OSV, Debian tracker or Alpine secdb)");
}

int sl_advdb_load_buffer(struct sl_advdb *db, const char *name, const char *data, size_t len,
                         struct sl_err *err)
{
    struct adv_vec vec = {0};
    json_t *root = NULL;
    size_t skipped = 0;
    int rc = 0;
    if (len > SL_ADVDB_MAX_FILE) {
        rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s: larger than %zu bytes", name,
                        SL_ADVDB_MAX_FILE);
        goto done;
    }
    size_t i = 0;
    while (i < len && isspace((unsigned char)data[i]))
        i++;
    if (i < len && (data[i] == '{' || data[i] == '[')) {
        json_error_t jerr;
        root = json_loadb(data, len, 0, &jerr);
        if (!root) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "%s: JSON error at line %d: %s", name,
                            jerr.line, jerr.text);
            goto done;
        }
    } else {
        if (memchr(data, '\0', len)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "%s: binary data, not an advisory "
                            "document",
                            name);
            goto done;
        }
        /* the shared converter: its node budget counts alias expansions, so an alias bomb
         * is refused (SL_ETOOBIG) before it is expanded */
        rc = sl_yaml_parse_one_text(&root, data, len, err);
        if (rc) {
            sl_err_prefix(err, "%s: YAML", name);
            goto done;
        }
    }
    rc = parse_document(&vec, &skipped, root, err);
    if (rc) {
        sl_err_prefix(err, "%s", name);
        goto done;
    }
    for (size_t k = 0; k < vec.count; k++)
        db_insert(db, vec.items[k]);
    vec.count = 0;
    db->skipped += skipped;
    db->files++;
done:
    adv_vec_free(&vec);
    json_decref(root);
    return rc;
}

/* ---- directory loading ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* README, LICENSE, .md and .txt files travel with advisory directories but are not advisories */
static bool is_documentation(const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(name, "README", 6) == 0 || strncasecmp(name, "LICENSE", 7) == 0 ||
           (n > 3 && strcasecmp(name + n - 3, ".md") == 0) ||
           (n > 4 && strcasecmp(name + n - 4, ".txt") == 0);
}

/* Remembers a file passed over, for sl_advdb_require_records' message. */
static void note_ignored(struct sl_advdb *db, const char *rel, const char *name)
{
    size_t used = strlen(db->ignored_names);
    if (db->ignored < 4 && used + 1 < sizeof(db->ignored_names))
        snprintf(db->ignored_names + used, sizeof(db->ignored_names) - used, "%s%s%s%s",
                 used ? ", " : "", rel, *rel ? "/" : "", name);
    db->ignored++;
}

int sl_advdb_require_records(const struct sl_advdb *db, struct sl_err *err)
{
    if (db->records > 0)
        return 0;
    char ignored[256] = "";
    if (db->ignored)
        snprintf(ignored, sizeof(ignored), "; passed over as not advisories: %s%s",
                 db->ignored_names, db->ignored > 4 ? ", ..." : "");
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "no advisory records (%zu advisory files read, %zu entries skipped for "
                      "other ecosystems or range types%s); expected OSV JSON records for "
                      "Debian, Alpine or Ubuntu, Debian security tracker JSON or Alpine secdb "
                      "YAML/JSON files (docs/advisories.md)",
                      db->files, db->skipped, ignored);
}

static int load_dir_rec(struct sl_advdb *db, const char *root, const char *rel, EVP_MD_CTX *md,
                        int depth, struct sl_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
    if (depth > 16)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: directories nested too deep", path);
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        return sl_err_set(err, e == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS, "%s: %s", path,
                          strerror(e));
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (ent->d_name[0] == '.' || is_documentation(ent->d_name)) {
            note_ignored(db, rel, ent->d_name);
            continue;
        }
        names = sl_xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = sl_xstrdup(ent->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    int rc = 0;
    char *buf = NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char sub[4096], full[4096];
        snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]);
        snprintf(full, sizeof(full), "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = load_dir_rec(db, root, sub, md, depth + 1, err);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if ((size_t)st.st_size > SL_ADVDB_MAX_FILE) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s: larger than %zu bytes", sub,
                            SL_ADVDB_MAX_FILE);
            break;
        }
        FILE *f = fopen(full, "rb");
        if (!f) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "%s: %s", full, strerror(errno));
            break;
        }
        size_t len = (size_t)st.st_size;
        buf = sl_xrealloc(buf, len + 1);
        size_t got = fread(buf, 1, len, f);
        fclose(f);
        if (got != len) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "%s: short read", full);
            break;
        }
        buf[len] = '\0';
        EVP_DigestUpdate(md, sub, strlen(sub) + 1);
        EVP_DigestUpdate(md, buf, len);
        rc = sl_advdb_load_buffer(db, sub, buf, len, err);
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int sl_advdb_load_dir(struct sl_advdb *db, const char *dir, struct sl_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "cannot allocate a digest context");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int rc = load_dir_rec(db, dir, "", md, 0, err);
    if (rc == 0) {
        unsigned char h[32];
        unsigned int hl = 0;
        EVP_DigestFinal_ex(md, h, &hl);
        int o = snprintf(db->digest, sizeof(db->digest), "sha256:");
        for (unsigned k = 0; k < hl; k++)
            o += snprintf(db->digest + o, sizeof(db->digest) - (size_t)o, "%02x", h[k]);
    }
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- lookup and matching ---- */

void sl_advdb_each_for(const struct sl_advdb *db, const char *eco, const char *pkg,
                       void (*fn)(const struct sl_advisory *adv, void *ctx), void *ctx)
{
    char key[512];
    snprintf(key, sizeof(key), "%s\t%s", eco, pkg);
    const struct sl_adv_list *l = sl_strmap_get(&db->index, key, NULL);
    for (size_t i = 0; l && i < l->count; i++)
        fn(l->items[i], ctx);
    const char *colon = strchr(eco, ':');
    if (colon) {
        snprintf(key, sizeof(key), "%.*s:*\t%s", (int)(colon - eco), eco, pkg);
        l = sl_strmap_get(&db->index, key, NULL);
        for (size_t i = 0; l && i < l->count; i++)
            fn(l->items[i], ctx);
    }
}

struct each_all_ctx {
    void (*fn)(const struct sl_advisory *adv, void *ctx);
    void *ctx;
};

static bool each_all(void *ctx, const char *key, void *value)
{
    (void)key;
    struct each_all_ctx *c = ctx;
    const struct sl_adv_list *l = value;
    for (size_t i = 0; i < l->count; i++)
        c->fn(l->items[i], c->ctx);
    return false;
}

void sl_advdb_each(const struct sl_advdb *db, void (*fn)(const struct sl_advisory *adv, void *ctx),
                   void *ctx)
{
    struct each_all_ctx c = {fn, ctx};
    sl_strmap_each((struct sl_strmap *)&db->index, each_all, &c);
}

bool sl_advisory_affects(const struct sl_advisory *adv, enum sl_version_scheme scheme,
                         const char *version, const char **fixed_out)
{
    for (size_t i = 0; i < adv->nranges; i++) {
        const struct sl_adv_range *r = &adv->ranges[i];
        if (r->introduced && strcmp(r->introduced, "0") != 0 &&
            sl_version_compare(scheme, version, r->introduced) < 0)
            continue;
        if (r->fixed && sl_version_compare(scheme, version, r->fixed) >= 0)
            continue;
        if (r->last_affected && sl_version_compare(scheme, version, r->last_affected) > 0)
            continue;
        if (fixed_out)
            *fixed_out = r->fixed;
        return true;
    }
    for (size_t i = 0; i < adv->nversions; i++) {
        if (sl_version_compare(scheme, version, adv->versions[i]) == 0) {
            if (fixed_out)
                *fixed_out = NULL;
            return true;
        }
    }
    return false;
}
