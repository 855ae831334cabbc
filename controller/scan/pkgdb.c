/* dpkg/apk database and os-release parsers. */
#include "scan/pkgdb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "util/mem.h"

void sl_pkgs_init(struct sl_pkgs *pkgs)
{
    memset(pkgs, 0, sizeof(*pkgs));
}

void sl_pkgs_clear(struct sl_pkgs *pkgs)
{
    if (!pkgs)
        return;
    for (size_t i = 0; i < pkgs->count; i++) {
        free(pkgs->items[i].name);
        free(pkgs->items[i].version);
        free(pkgs->items[i].src_name);
        free(pkgs->items[i].src_version);
    }
    free(pkgs->items);
    sl_pkgs_init(pkgs);
}

/* Takes ownership of the four strings (src_* may be NULL: they default to name/version). */
static int pkgs_push(struct sl_pkgs *pkgs, char *name, char *version, char *src_name,
                     char *src_version, struct sl_err *err)
{
    if (pkgs->count >= SL_PKGDB_MAX_PACKAGES) {
        free(name);
        free(version);
        free(src_name);
        free(src_version);
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "package database lists more than %d "
                          "packages",
                          SL_PKGDB_MAX_PACKAGES);
    }
    if (pkgs->count == pkgs->cap) {
        pkgs->cap = pkgs->cap ? pkgs->cap * 2 : 64;
        pkgs->items = sl_xrealloc(pkgs->items, pkgs->cap * sizeof(*pkgs->items));
    }
    struct sl_pkg *p = &pkgs->items[pkgs->count++];
    p->name = name;
    p->version = version;
    p->src_name = src_name ? src_name : sl_xstrdup(name);
    p->src_version = src_version ? src_version : sl_xstrdup(version);
    return 0;
}

/* Trims spaces/tabs/CR at both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

/* Finds the next line of [*p, end) that is neither blank nor a '#' comment, trimmed into
 * [*s, *e), and advances *p past it. Returns false when no such line is left. */
static bool next_content_line(const char **p, const char *end, const char **s, const char **e)
{
    while (*p < end) {
        const char *nl = memchr(*p, '\n', (size_t)(end - *p));
        *s = *p;
        *e = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        trim(s, e);
        if (*s != *e && **s != '#')
            return true;
    }
    return false;
}

/* Copies a field value, capped at SL_PKGDB_MAX_FIELD; NUL bytes end the value. */
static char *dup_field(const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n > SL_PKGDB_MAX_FIELD)
        n = SL_PKGDB_MAX_FIELD;
    const char *nul = memchr(s, '\0', n);
    if (nul)
        n = (size_t)(nul - s);
    return sl_xstrndup(s, n);
}

struct dpkg_para {
    char *package, *version, *source, *status;
};

static void dpkg_para_reset(struct dpkg_para *p)
{
    free(p->package);
    free(p->version);
    free(p->source);
    free(p->status);
    memset(p, 0, sizeof(*p));
}

static bool dpkg_status_installed(const char *status)
{
    /* "want flag status": the package counts when its status word is "installed" and the
     * selection is install (hold also keeps it installed) */
    char want[32] = "", flag[32] = "", state[32] = "";
    if (sscanf(status, "%31s %31s %31s", want, flag, state) != 3)
        return false;
    return strcmp(state, "installed") == 0 && strcmp(flag, "ok") == 0 &&
           (strcmp(want, "install") == 0 || strcmp(want, "hold") == 0);
}

static int dpkg_para_finish(struct sl_pkgs *pkgs, struct dpkg_para *p, bool require_installed,
                            struct sl_err *err)
{
    int rc = 0;
    if (!p->package || !p->version || !*p->package || !*p->version)
        goto done;
    if (require_installed && (!p->status || !dpkg_status_installed(p->status)))
        goto done;
    if (p->status && !dpkg_status_installed(p->status))
        goto done;
    char *src_name = NULL, *src_version = NULL;
    if (p->source && *p->source) {
        /* "Source: name" or "Source: name (version)" */
        const char *s = p->source;
        const char *sp = s;
        while (*sp && *sp != ' ' && *sp != '(')
            sp++;
        src_name = sl_xstrndup(s, (size_t)(sp - s));
        const char *open = strchr(sp, '(');
        const char *close = open ? strchr(open, ')') : NULL;
        if (open && close && close > open + 1) {
            const char *vs = open + 1, *ve = close;
            trim(&vs, &ve);
            if (ve > vs)
                src_version = sl_xstrndup(vs, (size_t)(ve - vs));
        }
        if (!*src_name) {
            free(src_name);
            src_name = NULL;
        }
    }
    rc = pkgs_push(pkgs, p->package, p->version, src_name, src_version, err);
    p->package = p->version = NULL;
done:
    dpkg_para_reset(p);
    return rc;
}

int sl_pkgdb_parse_dpkg(struct sl_pkgs *pkgs, const char *data, size_t len, bool require_installed,
                        struct sl_err *err)
{
    struct dpkg_para para = {0};
    const char *p = data, *end = data + len;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ls = p;
        p = nl ? nl + 1 : end;
        const char *ts = ls, *te = le;
        trim(&ts, &te);
        if (ts == te) {
            rc = dpkg_para_finish(pkgs, &para, require_installed, err);
            if (rc)
                goto done;
            continue;
        }
        if (*ls == ' ' || *ls == '\t')
            continue; /* continuation of a multi-line field we do not need */
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (!colon)
            continue;
        const char *ks = ls, *ke = colon, *vs = colon + 1, *ve = le;
        trim(&ks, &ke);
        trim(&vs, &ve);
        size_t klen = (size_t)(ke - ks);
        char **slot = NULL;
        if (klen == 7 && strncasecmp(ks, "Package", 7) == 0)
            slot = &para.package;
        else if (klen == 7 && strncasecmp(ks, "Version", 7) == 0)
            slot = &para.version;
        else if (klen == 6 && strncasecmp(ks, "Source", 6) == 0)
            slot = &para.source;
        else if (klen == 6 && strncasecmp(ks, "Status", 6) == 0)
            slot = &para.status;
        if (slot) {
            free(*slot);
            *slot = dup_field(vs, ve);
        }
    }
    rc = dpkg_para_finish(pkgs, &para, require_installed, err);
done:
    dpkg_para_reset(&para);
    return rc;
}

int sl_pkgdb_parse_apk(struct sl_pkgs *pkgs, const char *data, size_t len, struct sl_err *err)
{
    char *name = NULL, *version = NULL, *origin = NULL;
    const char *p = data, *end = data + len;
    int rc = 0;
    for (;;) {
        const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *ls = p, *le = nl ? nl : end;
        bool eof = p >= end;
        p = nl ? nl + 1 : end;
        const char *ts = ls, *te = le;
        trim(&ts, &te);
        if (eof || ts == te) {
            if (name && version && *name && *version) {
                rc = pkgs_push(pkgs, name, version, origin && *origin ? origin : NULL, NULL, err);
                if (!(origin && *origin))
                    free(origin);
                name = version = origin = NULL;
                if (rc)
                    goto done;
            }
            free(name);
            free(version);
            free(origin);
            name = version = origin = NULL;
            if (eof)
                break;
            continue;
        }
        if (le - ls < 2 || ls[1] != ':')
            continue;
        const char *vs = ls + 2, *ve = le;
        trim(&vs, &ve);
        char **slot = ls[0] == 'P'   ? &name
                      : ls[0] == 'V' ? &version
                      : ls[0] == 'o' ? &origin
                                     : NULL;
        if (slot) {
            free(*slot);
            *slot = dup_field(vs, ve);
        }
    }
done:
    free(name);
    free(version);
    free(origin);
    return rc;
}

/* ---- os-release ---- */

static const struct {
    const char *codename, *number;
} debian_releases[] = {
    {"hamm", "2"},    {"slink", "2.1"}, {"potato", "2.2"},  {"woody", "3.0"},   {"sarge", "3.1"},
    {"etch", "4"},    {"lenny", "5"},   {"squeeze", "6"},   {"wheezy", "7"},    {"jessie", "8"},
    {"stretch", "9"}, {"buster", "10"}, {"bullseye", "11"}, {"bookworm", "12"}, {"trixie", "13"},
    {"forky", "14"},  {"duke", "15"},
};

const char *sl_debian_number_for_codename(const char *codename)
{
    for (size_t i = 0; i < sizeof(debian_releases) / sizeof(debian_releases[0]); i++)
        if (strcasecmp(codename, debian_releases[i].codename) == 0)
            return debian_releases[i].number;
    return NULL;
}

const char *sl_debian_codename_for_number(const char *number)
{
    for (size_t i = 0; i < sizeof(debian_releases) / sizeof(debian_releases[0]); i++)
        if (strcmp(number, debian_releases[i].number) == 0)
            return debian_releases[i].codename;
    return NULL;
}

/* Copies an os-release value: strips matching quotes and backslash escapes. */
static void osr_value(char *out, size_t n, const char *s, const char *e)
{
    size_t o = 0;
    char q = 0;
    if (s < e && (*s == '"' || *s == '\'')) {
        q = *s++;
        if (e > s && e[-1] == q)
            e--;
    }
    for (; s < e && o + 1 < n; s++) {
        if (q == '"' && *s == '\\' && s + 1 < e)
            s++;
        if (*s == '\0')
            break;
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* "3.10.2" -> "3.10" */
static void major_minor(char *out, size_t n, const char *v)
{
    const char *dot = strchr(v, '.');
    size_t len = strlen(v);
    if (dot) {
        const char *p = dot + 1;
        while (isdigit((unsigned char)*p))
            p++;
        len = (size_t)(p - v);
    }
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

int sl_osinfo_parse(struct sl_osinfo *out, const char *data, size_t len)
{
    memset(out, 0, sizeof(*out));
    char version[128] = "";
    const char *p = data, *end = data + len, *ls, *le;
    while (next_content_line(&p, end, &ls, &le)) {
        const char *eq = memchr(ls, '=', (size_t)(le - ls));
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - ls);
        const char *vs = eq + 1;
        if (klen == 2 && strncmp(ls, "ID", 2) == 0)
            osr_value(out->id, sizeof(out->id), vs, le);
        else if (klen == 10 && strncmp(ls, "VERSION_ID", 10) == 0)
            osr_value(out->version_id, sizeof(out->version_id), vs, le);
        else if (klen == 16 && strncmp(ls, "VERSION_CODENAME", 16) == 0)
            osr_value(out->codename, sizeof(out->codename), vs, le);
        else if (klen == 7 && strncmp(ls, "VERSION", 7) == 0)
            osr_value(version, sizeof(version), vs, le);
    }
    if (!out->id[0])
        return SL_EINVAL;
    for (char *c = out->id; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(out->id, "debian") == 0)
        out->family = SL_OS_DEBIAN;
    else if (strcmp(out->id, "ubuntu") == 0)
        out->family = SL_OS_UBUNTU;
    else if (strcmp(out->id, "alpine") == 0)
        out->family = SL_OS_ALPINE;
    if (!out->codename[0] && version[0]) {
        /* VERSION="12 (bookworm)" */
        const char *open = strchr(version, '(');
        const char *close = open ? strchr(open, ')') : NULL;
        if (open && close && close > open + 1) {
            size_t n = (size_t)(close - open - 1);
            if (n >= sizeof(out->codename))
                n = sizeof(out->codename) - 1;
            memcpy(out->codename, open + 1, n);
            out->codename[n] = '\0';
            /* Ubuntu writes "22.04.3 LTS (Jammy Jellyfish)": keep the first word */
            char *sp = strchr(out->codename, ' ');
            if (sp)
                *sp = '\0';
            for (char *c = out->codename; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        }
    }
    switch (out->family) {
    case SL_OS_DEBIAN:
        if (out->version_id[0]) {
            major_minor(out->release, sizeof(out->release), out->version_id);
            char *dot = strchr(out->release, '.');
            if (dot) /* Debian keys advisories on the major release */
                *dot = '\0';
        } else if (out->codename[0] && sl_debian_number_for_codename(out->codename)) {
            snprintf(out->release, sizeof(out->release), "%s",
                     sl_debian_number_for_codename(out->codename));
        }
        if (!out->codename[0] && out->release[0] && sl_debian_codename_for_number(out->release))
            snprintf(out->codename, sizeof(out->codename), "%s",
                     sl_debian_codename_for_number(out->release));
        break;
    case SL_OS_ALPINE:
        if (out->version_id[0])
            major_minor(out->release, sizeof(out->release), out->version_id);
        break;
    default:
        snprintf(out->release, sizeof(out->release), "%s", out->version_id);
        break;
    }
    return 0;
}

void sl_osinfo_apply_apk_repositories(struct sl_osinfo *os, const char *data, size_t len)
{
    if (os->family != SL_OS_ALPINE)
        return;
    const char *p = data, *end = data + len, *ls, *le;
    while (next_content_line(&p, end, &ls, &le)) {
        /* ".../alpine/<release>/<repo>" */
        const char *a = NULL;
        for (const char *q = ls; q + 8 <= le; q++)
            if (memcmp(q, "/alpine/", 8) == 0)
                a = q + 8;
        if (!a)
            continue;
        const char *slash = memchr(a, '/', (size_t)(le - a));
        const char *re = slash ? slash : le;
        char rel[32];
        size_t n = (size_t)(re - a);
        if (n == 0 || n >= sizeof(rel))
            continue;
        memcpy(rel, a, n);
        rel[n] = '\0';
        if (strcmp(rel, "edge") == 0) {
            snprintf(os->release, sizeof(os->release), "edge");
            return;
        }
        if (rel[0] == 'v' && isdigit((unsigned char)rel[1])) {
            major_minor(os->release, sizeof(os->release), rel + 1);
            return;
        }
    }
}

int sl_osinfo_ecosystem(char *out, size_t n, const struct sl_osinfo *os)
{
    if (!os->release[0])
        return SL_ENOTFOUND;
    switch (os->family) {
    case SL_OS_DEBIAN:
        snprintf(out, n, "debian:%s", os->release);
        return 0;
    case SL_OS_UBUNTU:
        snprintf(out, n, "ubuntu:%s", os->release);
        return 0;
    case SL_OS_ALPINE:
        snprintf(out, n, "alpine:%s", os->release);
        return 0;
    default:
        return SL_ENOTFOUND;
    }
}

enum sl_version_scheme sl_osinfo_scheme(const struct sl_osinfo *os)
{
    return os->family == SL_OS_ALPINE ? SL_VERSION_APK : SL_VERSION_DEB;
}
