#include "git/ignore.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define MATCH_STEPS 100000 /* per path checked against one pattern */

struct pattern {
    char *glob;    /* without `!`, leading and trailing `/` */
    bool negate;   /* `!pattern` */
    bool dir_only; /* `pattern/` */
    bool anchored; /* contains a `/` (after dropping a trailing one): matched from the root */
};

struct sl_git_ignore {
    struct pattern *p;
    int n;
};

/* Length of the character class starting at p ('[' ... ']'), or 0 when it is unterminated. */
static size_t class_len(const char *p)
{
    size_t i = 1;
    if (p[i] == '!' || p[i] == '^')
        i++;
    if (p[i] == ']')
        i++;
    for (; p[i]; i++) {
        if (p[i] == '\\' && p[i + 1])
            i++;
        else if (p[i] == ']')
            return i + 1;
    }
    return 0;
}

static bool class_match(const char *p, size_t len, char c)
{
    size_t i = 1;
    bool neg = false, hit = false;
    if (p[i] == '!' || p[i] == '^') {
        neg = true;
        i++;
    }
    size_t end = len - 1; /* the closing ']' */
    bool first = true;
    while (i < end) {
        char lo = p[i];
        if (lo == ']' && !first)
            break;
        first = false;
        if (lo == '\\' && i + 1 < end)
            lo = p[++i];
        char hi = lo;
        if (i + 2 < end && p[i + 1] == '-') {
            hi = p[i + 2];
            if (hi == '\\' && i + 3 < end)
                hi = p[++i + 2];
            i += 2;
        }
        if (c >= lo && c <= hi)
            hit = true;
        i++;
    }
    return c != '/' && hit != neg;
}

/* Does glob p (from pattern start `start`) match all of s? *budget counts steps down. */
static bool glob_match(const char *start, const char *p, const char *s, long *budget)
{
    while (*p) {
        if (--*budget <= 0)
            return false;
        if (p[0] == '*' && p[1] == '*' && (p == start || p[-1] == '/') &&
            (p[2] == '/' || p[2] == '\0')) {
            if (p[2] == '\0')
                return true; /* `foo/` + `**`: everything below */
            /* `**` + `/`: zero or more whole directories */
            const char *rest = p + 3;
            if (glob_match(start, rest, s, budget))
                return true;
            for (const char *q = s; *q; q++)
                if (*q == '/' && glob_match(start, rest, q + 1, budget))
                    return true;
            return false;
        }
        if (*p == '*') {
            while (*p == '*')
                p++;
            for (;;) {
                if (glob_match(start, p, s, budget))
                    return true;
                if (!*s || *s == '/' || *budget <= 0)
                    return false;
                s++;
            }
        }
        if (*p == '?') {
            if (!*s || *s == '/')
                return false;
            p++;
            s++;
            continue;
        }
        if (*p == '[') {
            size_t len = class_len(p);
            if (len) {
                if (!*s || !class_match(p, len, *s))
                    return false;
                p += len;
                s++;
                continue;
            }
        }
        if (*p == '\\' && p[1])
            p++;
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

static bool pattern_match(const struct pattern *pt, const char *path, bool is_dir)
{
    if (pt->dir_only && !is_dir)
        return false;
    long budget = MATCH_STEPS;
    if (pt->anchored)
        return glob_match(pt->glob, pt->glob, path, &budget);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    return glob_match(pt->glob, pt->glob, name, &budget);
}

/* The verdict of the last pattern matching path (true: excluded), or `current` when none does. */
static bool verdict(const struct sl_git_ignore *ig, const char *path, bool is_dir, bool current)
{
    for (int i = ig->n - 1; i >= 0; i--)
        if (pattern_match(&ig->p[i], path, is_dir))
            return !ig->p[i].negate;
    return current;
}

bool sl_git_ignore_file(const struct sl_git_ignore *ig, const char *path)
{
    if (!ig || ig->n == 0 || !path)
        return false;
    size_t len = strlen(path);
    char *buf = sl_xmalloc(len + 1);
    memcpy(buf, path, len + 1);
    bool ignored = false;
    /* each directory on the way down: below an excluded one nothing comes back */
    for (char *q = buf; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        ignored = verdict(ig, buf, true, false);
        *q = '/';
        if (ignored)
            break;
    }
    if (!ignored)
        ignored = verdict(ig, buf, false, false);
    free(buf);
    return ignored;
}

int sl_git_ignore_parse(struct sl_git_ignore **out, const char *text, struct sl_err *err)
{
    struct sl_git_ignore *ig = sl_xcalloc(1, sizeof(*ig));
    int line_no = 0, rc = 0;
    const char *line = text ? text : "";
    while (*line) {
        line_no++;
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *next = eol ? eol + 1 : line + len;
        if (len > SL_GIT_IGNORE_MAX_LINE) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "spec.ignore: line %d is longer than %d bytes", line_no,
                            SL_GIT_IGNORE_MAX_LINE);
            goto done;
        }
        char buf[SL_GIT_IGNORE_MAX_LINE + 1];
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = next;
        if (len && buf[len - 1] == '\r')
            buf[--len] = '\0';
        /* trailing spaces go unless escaped */
        while (len && buf[len - 1] == ' ' && !(len >= 2 && buf[len - 2] == '\\'))
            buf[--len] = '\0';
        if (len == 0 || buf[0] == '#')
            continue;
        struct pattern pt = {0};
        char *g = buf;
        if (g[0] == '!') {
            pt.negate = true;
            g++;
        } else if (g[0] == '\\' && (g[1] == '!' || g[1] == '#')) {
            g++;
        }
        size_t glen = strlen(g);
        if (glen && g[glen - 1] == '/') {
            pt.dir_only = true;
            g[--glen] = '\0';
        }
        if (strchr(g, '/'))
            pt.anchored = true;
        while (*g == '/')
            g++;
        if (!*g)
            continue; /* "/" or "!" alone: nothing to match */
        for (const char *c = g; *c; c++) {
            if (*c == '\\' && c[1]) {
                c++;
            } else if (*c == '[' && !class_len(c)) {
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "spec.ignore: line %d: unterminated character class '['", line_no);
                goto done;
            }
        }
        if (ig->n == SL_GIT_IGNORE_MAX_PATTERNS) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.ignore: more than %d patterns",
                            SL_GIT_IGNORE_MAX_PATTERNS);
            goto done;
        }
        pt.glob = sl_xstrdup(g);
        ig->p = sl_xrealloc(ig->p, (size_t)(ig->n + 1) * sizeof(*ig->p));
        ig->p[ig->n++] = pt;
    }
done:
    if (rc) {
        sl_git_ignore_free(ig);
        return rc;
    }
    *out = ig;
    return 0;
}

int sl_git_ignore_count(const struct sl_git_ignore *ig)
{
    return ig ? ig->n : 0;
}

void sl_git_ignore_free(struct sl_git_ignore *ig)
{
    if (!ig)
        return;
    for (int i = 0; i < ig->n; i++)
        free(ig->p[i].glob);
    free(ig->p);
    free(ig);
}
