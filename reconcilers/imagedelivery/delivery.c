/* Pure helpers of the ImageDelivery reconciler (delivery.h). */
#include "imagedelivery/delivery.h"

#include "api/convert.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_imd_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- tagPattern dialect ----
 * POSIX ERE (regcomp) plus the Perl/RE2 shorthands people write for tags: \d \D \w \W \s \S and
 * (?:...). Constructs POSIX ERE cannot express are refused by name rather than silently
 * matching something else. */

#define PATTERN_MAX 1024

static int refuse(struct sl_err *err, const char *construct, const char *hint)
{
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "%s is not supported: the pattern is a POSIX extended regular expression "
                      "(regcomp; \\d \\D \\w \\W \\s \\S and (?:...) are accepted too); %s",
                      construct, hint);
}

/* Appends the POSIX spelling of the class shorthand c (d D w W s S) to b; in_bracket: inside
 * [...], where only the positive classes have a spelling. 1 when c was a shorthand, 0 when not,
 * or a negative code with err set. */
static int append_class(struct sl_buf *b, char c, bool in_bracket, struct sl_err *err)
{
    static const struct {
        char c;
        const char *out, *in;
    } cls[] = {{'d', "[0-9]", "0-9"},
               {'D', "[^0-9]", NULL},
               {'w', "[A-Za-z0-9_]", "A-Za-z0-9_"},
               {'W', "[^A-Za-z0-9_]", NULL},
               {'s', "[[:space:]]", "[:space:]"},
               {'S', "[^[:space:]]", NULL}};
    for (size_t i = 0; i < sizeof(cls) / sizeof(cls[0]); i++) {
        if (cls[i].c != c)
            continue;
        if (!in_bracket) {
            sl_buf_append_str(b, cls[i].out);
            return 1;
        }
        if (!cls[i].in) {
            char what[32];
            snprintf(what, sizeof(what), "\\%c inside [...]", c);
            return refuse(err, what, "write the negated class on its own, e.g. [^0-9]");
        }
        sl_buf_append_str(b, cls[i].in);
        return 1;
    }
    return 0;
}

/* pattern[*i] is a backslash: appends the escape's POSIX spelling to b (a class shorthand, or
 * an escaped punctuation character as it is) and leaves *i on the escaped character. Returns 0
 * or a negative code with err set (assertions, escaped letters, a trailing \). */
static int translate_escape(struct sl_buf *b, const char *pattern, size_t *i, struct sl_err *err)
{
    char e = pattern[*i + 1];
    if (e == '\0')
        return refuse(err, "a trailing \\", "escape a character after it");
    (*i)++;
    int rc = append_class(b, e, false, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (e == 'b' || e == 'B' || e == 'A' || e == 'z' || e == 'Z') {
        char what[48];
        snprintf(what, sizeof(what), "the assertion \\%c", e);
        return refuse(err, what, "anchor the whole tag with ^...$ instead");
    }
    if (isalpha((unsigned char)e)) {
        char what[48];
        snprintf(what, sizeof(what), "the escape \\%c", e);
        return refuse(err, what,
                      "escape only punctuation (\\. \\+ \\-) or use a bracket expression");
    }
    char two[3] = {'\\', e, '\0'};
    sl_buf_append_str(b, two);
    return 0;
}

/* pattern[*i] starts "(?": a group without capture becomes a plain group (*i left on the ':');
 * lookarounds, flag groups and the other (? forms are refused by name. Returns 0 or a negative
 * code with err set. */
static int translate_group(struct sl_buf *b, const char *pattern, size_t *i, struct sl_err *err)
{
    const char *p = pattern + *i + 2;
    if (*p == ':') {
        sl_buf_append_str(b, "("); /* a group without capture is a group */
        *i += 2;
        return 0;
    }
    if (*p == '=' || *p == '!' || (*p == '<' && (p[1] == '=' || p[1] == '!'))) {
        char what[48];
        snprintf(what, sizeof(what), "the lookaround (?%.*s", *p == '<' ? 2 : 1, p);
        return refuse(err, what, "describe the tags you want directly, e.g. ^1\\.4\\.[0-9]+$");
    }
    if (*p == 'i' || (*p && strchr("msxU-", *p))) {
        size_t k = strcspn(p, ")");
        char what[48];
        snprintf(what, sizeof(what), "the flag group (?%.*s)", (int)(k < 8 ? k : 8), p);
        return refuse(err, what,
                      "matching is case-sensitive: spell both cases, e.g. [Vv]1\\.[0-9]+");
    }
    return refuse(err, "(?", "use plain (...) groups");
}

/* pattern[*i] is '[': copies the bracket expression up to its closing ] to b, translating \d \w
 * \s, and leaves *i on the ] (or at n when it is unterminated: regcomp says so). Returns 0 or a
 * negative code with err set. */
static int translate_bracket(struct sl_buf *b, const char *pattern, size_t n, size_t *i,
                             struct sl_err *err)
{
    size_t j = *i + 1;
    sl_buf_append_str(b, "[");
    if (pattern[j] == '^') {
        sl_buf_append_str(b, "^");
        j++;
    }
    if (pattern[j] == ']') {
        sl_buf_append_str(b, "]");
        j++;
    }
    for (; j < n && pattern[j] != ']'; j++) {
        char d = pattern[j];
        if (d == '[' && (pattern[j + 1] == ':' || pattern[j + 1] == '.' || pattern[j + 1] == '=')) {
            char delim[3] = {pattern[j + 1], ']', '\0'};
            const char *end = strstr(pattern + j + 2, delim);
            if (!end)
                break; /* regcomp reports it */
            size_t len = (size_t)(end + 2 - (pattern + j));
            char *part = sl_xstrndup(pattern + j, len);
            sl_buf_append_str(b, part);
            free(part);
            j += len - 1;
            continue;
        }
        if (d == '\\' && pattern[j + 1]) {
            int rc = append_class(b, pattern[j + 1], true, err);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                /* \x inside brackets: Perl means the character x; POSIX would add a backslash
                 * too */
                char one[2] = {pattern[j + 1], '\0'};
                sl_buf_append_str(b, one);
            }
            j++;
            continue;
        }
        char one[2] = {d, '\0'};
        sl_buf_append_str(b, one);
    }
    if (j < n) {
        sl_buf_append_str(b, "]");
        *i = j;
    } else {
        *i = n;
    }
    return 0;
}

int sl_imd_pattern_translate(char **out, const char *pattern, struct sl_err *err)
{
    int rc = 0;
    size_t n = strlen(pattern);
    struct sl_buf b;
    *out = NULL;
    if (n > PATTERN_MAX)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "longer than %d characters", PATTERN_MAX);
    sl_buf_init(&b, PATTERN_MAX * 16);
    /* one construct per step; each leaves i on the last character it consumed */
    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = pattern[i];
        if (c == '\\') {
            rc = translate_escape(&b, pattern, &i, err);
        } else if (c == '(' && pattern[i + 1] == '?') {
            rc = translate_group(&b, pattern, &i, err);
        } else if ((c == '*' || c == '+' || c == '?' || c == '}') && pattern[i + 1] == '?') {
            char what[48];
            snprintf(what, sizeof(what), "the non-greedy quantifier %c?", c);
            rc = refuse(err, what, "drop the ? (a tag either matches or not)");
        } else if (c == '[') {
            rc = translate_bracket(&b, pattern, n, &i, err);
        } else {
            char one[2] = {c, '\0'};
            sl_buf_append_str(&b, one);
        }
    }
    if (rc < 0) {
        sl_buf_free(&b);
        return rc;
    }
    *out = sl_buf_steal(&b, NULL);
    return 0;
}

/* Compiles pattern (translated) into re. */
static int pattern_compile(regex_t *re, const char *pattern, struct sl_err *err)
{
    char *posix = NULL;
    int rc = sl_imd_pattern_translate(&posix, pattern ? pattern : "", err);
    if (rc < 0)
        return rc;
    int rrc = regcomp(re, posix, REG_EXTENDED | REG_NOSUB);
    free(posix);
    if (rrc != 0) {
        char msg[256];
        regerror(rrc, re, msg, sizeof(msg));
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "invalid POSIX extended regular expression: %s", msg);
    }
    return 0;
}

int sl_imd_pattern_check(const char *pattern, struct sl_err *err)
{
    regex_t re;
    int rc = pattern_compile(&re, pattern, err);
    if (rc < 0)
        return rc;
    regfree(&re);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_imd_select_tags(char ***out, size_t *n_out, char *const *tags, size_t n, const char *pattern,
                       struct sl_err *err)
{
    regex_t re;
    int rc = pattern_compile(&re, pattern, err);
    if (rc < 0)
        return rc;
    char **sel = sl_xcalloc(n ? n : 1, sizeof(*sel));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (tags[i] && regexec(&re, tags[i], 0, NULL, 0) == 0)
            sel[k++] = sl_xstrdup(tags[i]);
    }
    regfree(&re);
    qsort(sel, k, sizeof(*sel), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < k; i++) {
        if (w > 0 && strcmp(sel[w - 1], sel[i]) == 0) {
            free(sel[i]);
            continue;
        }
        sel[w++] = sel[i];
    }
    *out = sel;
    *n_out = w;
    return 0;
}

const char *sl_imd_reason_for_code(int code)
{
    switch (code) {
    case SL_ENOTFOUND:
        return "NotFound";
    case SL_EAUTH:
        return "AuthenticationFailed";
    case SL_ERETRY:
        return "RegistryUnavailable";
    case SL_EDIGEST:
        return "DigestMismatch";
    case SL_ECONFLICT:
        return "ImmutableTagConflict";
    case SL_EINVAL:
    case SL_EUNSUPPORTED:
        return "InvalidContent";
    case SL_ETOOBIG:
        return "ContentTooLarge";
    default:
        return "RegistryError";
    }
}

enum sl_result_kind sl_imd_kind_for_code(int code)
{
    switch (code) {
    case SL_ENOTFOUND:
        return SL_RESULT_WAITING;
    case SL_ECONFLICT:
    case SL_EINVAL:
    case SL_EUNSUPPORTED:
    case SL_ETOOBIG:
        return SL_RESULT_DONE;
    default:
        return SL_RESULT_TRANSIENT;
    }
}

bool sl_imd_reason_is_auth_failure(const char *reason)
{
    return reason && strcmp(reason, "AuthenticationFailed") == 0;
}

int64_t sl_imd_auth_backoff_ms(const json_t *old_status, time_t now)
{
    const json_t *conds = json_object_get(old_status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (!type || strcmp(type, "Ready") != 0)
            continue;
        const char *st = json_string_value(json_object_get(c, "status"));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        const char *since = json_string_value(json_object_get(c, "lastTransitionTime"));
        time_t t0;
        if (!st || strcmp(st, "False") != 0 || !reason ||
            strcmp(reason, "AuthenticationFailed") != 0 || !since ||
            sl_time_parse_rfc3339(&t0, since) != 0 || t0 > now)
            break;
        int64_t elapsed_ms = (int64_t)(now - t0) * 1000;
        if (elapsed_ms > SL_IMD_AUTH_BACKOFF_MAX_MS)
            return SL_IMD_AUTH_BACKOFF_MAX_MS;
        return elapsed_ms > SL_IMD_AUTH_BACKOFF_MIN_MS ? elapsed_ms : SL_IMD_AUTH_BACKOFF_MIN_MS;
    }
    return SL_IMD_AUTH_BACKOFF_MIN_MS;
}

static int kind_rank(enum sl_result_kind k)
{
    switch (k) {
    case SL_RESULT_TRANSIENT:
        return 4;
    case SL_RESULT_WAITING:
        return 3;
    case SL_RESULT_STALLED:
        return 2;
    case SL_RESULT_REQUEUE:
        return 1;
    default:
        return 0;
    }
}

enum sl_result_kind sl_imd_worse_kind(enum sl_result_kind a, enum sl_result_kind b)
{
    return kind_rank(b) > kind_rank(a) ? b : a;
}

/* True when the image entry is delivered to every one of n_targets targets. */
static bool image_delivered(const json_t *img, size_t n_targets)
{
    if (json_object_get(img, "message"))
        return false;
    const json_t *targets = json_object_get(img, "targets");
    if (!json_is_array(targets) || json_array_size(targets) != n_targets)
        return false;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        if (!json_string_value(json_object_get(t, "digest")))
            return false;
    }
    return true;
}

static bool image_signed_everywhere(const json_t *img)
{
    const json_t *targets = json_object_get(img, "targets");
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        if (!json_is_true(json_object_get(t, "signed")))
            return false;
    }
    return json_array_size(targets) > 0;
}

void sl_imd_summaries(json_t *status, size_t n_targets, bool scanning, bool signing)
{
    const json_t *images = json_object_get(status, "images");
    size_t delivered = 0, signed_n = 0, scanned = 0, blocked = 0;
    size_t i;
    json_t *img;
    json_array_foreach(images, i, img)
    {
        bool ok = image_delivered(img, n_targets);
        if (ok) {
            delivered++;
            if (image_signed_everywhere(img))
                signed_n++;
        }
        int rank = sl_api_scan_result_rank(
            json_string_value(json_object_get(json_object_get(img, "scan"), "result")));
        scanned += rank > 0;
        blocked += rank == sl_api_scan_result_rank("Failed");
    }
    json_t *summary = json_object();
    json_object_set_new(summary, "delivered", json_integer((json_int_t)delivered));
    if (scanning) {
        json_object_set_new(summary, "scanned", json_integer((json_int_t)scanned));
        json_object_set_new(summary, "blocked", json_integer((json_int_t)blocked));
    }
    if (signing)
        json_object_set_new(summary, "signed", json_integer((json_int_t)signed_n));
    json_object_set_new(status, "summary", summary);
    /* referrers delivered along, all tags and targets together (printer column REFERRERS) */
    json_int_t referrers = 0;
    json_array_foreach(images, i, img)
    {
        size_t j;
        const json_t *t;
        json_array_foreach(json_object_get(img, "targets"), j, t)
        {
            referrers +=
                json_integer_value(json_object_get(json_object_get(t, "referrers"), "count"));
        }
    }
    json_object_set_new(status, "referrersTotal", json_integer(referrers));
}
