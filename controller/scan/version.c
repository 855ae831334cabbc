/* Debian and Alpine version comparison, written from the dpkg policy manual (section 5.6.12)
 * and apk's documented version format. */
#include "scan/version.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* ---- Debian ---- */

/* Weight of one character inside a non-digit run: '~' sorts before the end of the run, the end
 * before letters, letters before everything else. */
static int deb_char_weight(int c)
{
    if (c == '\0' || isdigit(c))
        return 0;
    if (c == '~')
        return -1;
    if (isalpha(c))
        return c;
    return c + 256;
}

/* Compares the part [a, a_end) with [b, b_end) using dpkg's alternating runs. */
static int deb_part_compare(const char *a, const char *a_end, const char *b, const char *b_end)
{
    while (a < a_end || b < b_end) {
        /* non-digit run */
        while ((a < a_end && !isdigit((unsigned char)*a)) ||
               (b < b_end && !isdigit((unsigned char)*b))) {
            int wa = a < a_end ? deb_char_weight((unsigned char)*a) : 0;
            int wb = b < b_end ? deb_char_weight((unsigned char)*b) : 0;
            if (wa != wb)
                return wa < wb ? -1 : 1;
            if (a < a_end)
                a++;
            if (b < b_end)
                b++;
        }
        /* digit run, compared numerically without overflow: skip leading zeros, then the
         * longer run is bigger, else the first differing digit decides */
        while (a < a_end && *a == '0')
            a++;
        while (b < b_end && *b == '0')
            b++;
        const char *da = a, *db = b;
        while (a < a_end && isdigit((unsigned char)*a))
            a++;
        while (b < b_end && isdigit((unsigned char)*b))
            b++;
        size_t la = (size_t)(a - da), lb = (size_t)(b - db);
        if (la != lb)
            return la < lb ? -1 : 1;
        int c = memcmp(da, db, la);
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
    return 0;
}

struct deb_parts {
    const char *epoch, *epoch_end;
    const char *up, *up_end;
    const char *rev, *rev_end;
};

static void deb_split(struct deb_parts *p, const char *v)
{
    const char *end = v + strlen(v);
    const char *colon = strchr(v, ':');
    if (colon) {
        p->epoch = v;
        p->epoch_end = colon;
        v = colon + 1;
    } else {
        p->epoch = p->epoch_end = v;
    }
    const char *dash = strrchr(v, '-');
    p->up = v;
    if (dash) {
        p->up_end = dash;
        p->rev = dash + 1;
        p->rev_end = end;
    } else {
        p->up_end = end;
        p->rev = p->rev_end = end;
    }
}

int sl_version_deb_compare(const char *a, const char *b)
{
    struct deb_parts pa, pb;
    deb_split(&pa, a ? a : "");
    deb_split(&pb, b ? b : "");
    /* the epoch is all digits in valid versions; the same numeric run comparison applies */
    int c = deb_part_compare(pa.epoch, pa.epoch_end, pb.epoch, pb.epoch_end);
    if (c == 0)
        c = deb_part_compare(pa.up, pa.up_end, pb.up, pb.up_end);
    if (c == 0)
        c = deb_part_compare(pa.rev, pa.rev_end, pb.rev, pb.rev_end);
    return c;
}

bool sl_version_deb_valid(const char *v)
{
    if (!v || !*v)
        return false;
    struct deb_parts p;
    deb_split(&p, v);
    if (strchr(v, ':') && p.epoch == p.epoch_end)
        return false;
    for (const char *s = p.epoch; s < p.epoch_end; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    if (p.up == p.up_end || !isdigit((unsigned char)*p.up))
        return false;
    for (const char *s = p.up; s < p.up_end; s++)
        if (!isalnum((unsigned char)*s) && !strchr(".+-~", *s))
            return false;
    if (strchr(p.up, '-') && p.rev == p.rev_end)
        return false; /* "1.0-": empty revision */
    for (const char *s = p.rev; s < p.rev_end; s++)
        if (!isalnum((unsigned char)*s) && !strchr(".+~", *s))
            return false;
    return true;
}

/* ---- Alpine ---- */

/* Kinds of version components, in the order that decides between two versions whose common
 * components are equal: the one continuing with an earlier kind is newer (1.0.1 > 1.0a > 1.0),
 * except that a pre-release suffix makes it older. */
enum apk_kind {
    APK_INVALID = -1,
    APK_DOT_NUMBER = 0, /* ".N" after the first number */
    APK_NUMBER = 1,     /* the leading number, or digits after a letter */
    APK_LETTER = 2,
    APK_SUFFIX = 3,    /* "_name" */
    APK_SUFFIX_NO = 4, /* digits after a suffix name */
    APK_REVISION = 5,  /* "-rN" */
    APK_END = 6,
};

static const char *const apk_pre_suffixes[] = {"alpha", "beta", "pre", "rc"};
static const char *const apk_post_suffixes[] = {"cvs", "svn", "git", "hg", "p"};

struct apk_cursor {
    const char *p;
    enum apk_kind kind; /* kind of the component starting at p */
};

static void apk_cursor_init(struct apk_cursor *c, const char *v)
{
    c->p = v ? v : "";
    if (!*c->p)
        c->kind = APK_END;
    else if (isdigit((unsigned char)*c->p))
        c->kind = APK_NUMBER;
    else
        c->kind = APK_INVALID;
}

/* Reads digits as a number, saturating instead of overflowing. */
static long long apk_read_number(const char **p)
{
    long long v = 0;
    while (isdigit((unsigned char)**p)) {
        if (v < 100000000000000000LL)
            v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

/* Consumes the component at c and returns its value; then decides the kind of the next one. */
static long long apk_take(struct apk_cursor *c)
{
    long long v = 0;
    enum apk_kind cur = c->kind;
    switch (cur) {
    case APK_DOT_NUMBER:
        if (*c->p == '0') {
            /* leading zeros make the component compare like a decimal fraction: ".01" < ".1";
             * the remaining digits follow as a plain number */
            long long zeros = 0;
            while (*c->p == '0') {
                zeros++;
                c->p++;
            }
            v = -zeros;
            cur = APK_NUMBER;
            if (isdigit((unsigned char)*c->p)) {
                c->kind = APK_NUMBER;
                return v;
            }
            break;
        }
        v = apk_read_number(&c->p);
        break;
    case APK_NUMBER:
    case APK_SUFFIX_NO:
    case APK_REVISION:
        v = apk_read_number(&c->p);
        break;
    case APK_LETTER:
        v = (unsigned char)*c->p;
        c->p++;
        break;
    case APK_SUFFIX: {
        size_t i;
        for (i = 0; i < sizeof(apk_pre_suffixes) / sizeof(apk_pre_suffixes[0]); i++) {
            size_t n = strlen(apk_pre_suffixes[i]);
            if (strncmp(c->p, apk_pre_suffixes[i], n) == 0 && !islower((unsigned char)c->p[n])) {
                c->p += n;
                v = (long long)i - 4; /* negative: pre-release */
                goto suffix_done;
            }
        }
        for (i = 0; i < sizeof(apk_post_suffixes) / sizeof(apk_post_suffixes[0]); i++) {
            size_t n = strlen(apk_post_suffixes[i]);
            if (strncmp(c->p, apk_post_suffixes[i], n) == 0 && !islower((unsigned char)c->p[n])) {
                c->p += n;
                v = (long long)i;
                goto suffix_done;
            }
        }
        c->kind = APK_INVALID;
        return 0;
    suffix_done:
        break;
    }
    default:
        return 0;
    }
    /* kind of the next component */
    const char *p = c->p;
    enum apk_kind next = APK_INVALID;
    if (*p == '\0') {
        next = APK_END;
    } else if ((cur == APK_NUMBER || cur == APK_DOT_NUMBER) && islower((unsigned char)*p)) {
        next = APK_LETTER;
    } else if (cur == APK_LETTER && isdigit((unsigned char)*p)) {
        next = APK_NUMBER;
    } else if (cur == APK_SUFFIX && isdigit((unsigned char)*p)) {
        next = APK_SUFFIX_NO;
    } else if (*p == '.' && isdigit((unsigned char)p[1])) {
        next = APK_DOT_NUMBER;
        c->p = p + 1;
    } else if (*p == '_' && islower((unsigned char)p[1])) {
        next = APK_SUFFIX;
        c->p = p + 1;
    } else if (*p == '-' && p[1] == 'r' && isdigit((unsigned char)p[2])) {
        next = APK_REVISION;
        c->p = p + 2;
    }
    /* components only move forward in the grammar (numbers, letter, suffixes, revision) */
    if (next != APK_INVALID && next < cur && !(next == APK_DOT_NUMBER && cur == APK_NUMBER) &&
        !(next == APK_SUFFIX && cur == APK_SUFFIX_NO) && !(next == APK_NUMBER && cur == APK_LETTER))
        next = APK_INVALID;
    if (cur == APK_REVISION && next != APK_END)
        next = APK_INVALID;
    c->kind = next;
    return v;
}

int sl_version_apk_compare(const char *a, const char *b)
{
    struct apk_cursor ca, cb;
    apk_cursor_init(&ca, a);
    apk_cursor_init(&cb, b);
    while (ca.kind == cb.kind && ca.kind != APK_END && ca.kind != APK_INVALID) {
        long long va = apk_take(&ca), vb = apk_take(&cb);
        if (va != vb)
            return va < vb ? -1 : 1;
    }
    if (ca.kind == cb.kind)
        return 0;
    if (ca.kind == APK_SUFFIX) {
        struct apk_cursor t = ca;
        if (apk_take(&t) < 0)
            return -1;
    }
    if (cb.kind == APK_SUFFIX) {
        struct apk_cursor t = cb;
        if (apk_take(&t) < 0)
            return 1;
    }
    /* an invalid tail sorts lowest */
    if (ca.kind == APK_INVALID)
        return -1;
    if (cb.kind == APK_INVALID)
        return 1;
    return ca.kind > cb.kind ? -1 : 1;
}

bool sl_version_apk_valid(const char *v)
{
    struct apk_cursor c;
    apk_cursor_init(&c, v);
    if (c.kind == APK_END)
        return false;
    while (c.kind != APK_END && c.kind != APK_INVALID)
        apk_take(&c);
    return c.kind == APK_END;
}

int sl_version_compare(enum sl_version_scheme scheme, const char *a, const char *b)
{
    return scheme == SL_VERSION_APK ? sl_version_apk_compare(a, b) : sl_version_deb_compare(a, b);
}
