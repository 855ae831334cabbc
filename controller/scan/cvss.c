/* CVSS 3.1 base score, written from the specification's formulas (section 7). */
#include "scan/cvss.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

/* Roundup from CVSS 3.1 Appendix A: smallest number with one decimal >= input, computed on
 * integers to avoid floating point artefacts. */
static double roundup(double input)
{
    long long int_input = llround(input * 100000.0);
    if (int_input % 10000 == 0)
        return (double)int_input / 100000.0;
    return (double)(int_input / 10000 + 1) / 10.0;
}

int sl_cvss3_base_score(double *out, const char *vector)
{
    if (!vector || (strncmp(vector, "CVSS:3.0/", 9) != 0 && strncmp(vector, "CVSS:3.1/", 9) != 0))
        return SL_EINVAL;
    char av = 0, ac = 0, pr = 0, ui = 0, s = 0, c = 0, i = 0, a = 0;
    const char *p = vector + 9;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (!colon || (size_t)(colon - p) + 2 != n)
            return SL_EINVAL; /* every base metric value is one letter */
        size_t klen = (size_t)(colon - p);
        char v = colon[1];
        char *slot = NULL;
        if (klen == 2 && strncmp(p, "AV", 2) == 0)
            slot = &av;
        else if (klen == 2 && strncmp(p, "AC", 2) == 0)
            slot = &ac;
        else if (klen == 2 && strncmp(p, "PR", 2) == 0)
            slot = &pr;
        else if (klen == 2 && strncmp(p, "UI", 2) == 0)
            slot = &ui;
        else if (klen == 1 && p[0] == 'S')
            slot = &s;
        else if (klen == 1 && p[0] == 'C')
            slot = &c;
        else if (klen == 1 && p[0] == 'I')
            slot = &i;
        else if (klen == 1 && p[0] == 'A')
            slot = &a;
        if (slot) {
            if (*slot)
                return SL_EINVAL; /* repeated metric */
            *slot = v;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    double w_av, w_ac, w_pr, w_ui, w_c, w_i, w_a;
    bool changed;
    switch (s) {
    case 'U':
        changed = false;
        break;
    case 'C':
        changed = true;
        break;
    default:
        return SL_EINVAL;
    }
    switch (av) {
    case 'N':
        w_av = 0.85;
        break;
    case 'A':
        w_av = 0.62;
        break;
    case 'L':
        w_av = 0.55;
        break;
    case 'P':
        w_av = 0.2;
        break;
    default:
        return SL_EINVAL;
    }
    switch (ac) {
    case 'L':
        w_ac = 0.77;
        break;
    case 'H':
        w_ac = 0.44;
        break;
    default:
        return SL_EINVAL;
    }
    switch (pr) {
    case 'N':
        w_pr = 0.85;
        break;
    case 'L':
        w_pr = changed ? 0.68 : 0.62;
        break;
    case 'H':
        w_pr = changed ? 0.5 : 0.27;
        break;
    default:
        return SL_EINVAL;
    }
    switch (ui) {
    case 'N':
        w_ui = 0.85;
        break;
    case 'R':
        w_ui = 0.62;
        break;
    default:
        return SL_EINVAL;
    }
    char cia[3] = {c, i, a};
    double *w[3] = {&w_c, &w_i, &w_a};
    for (int k = 0; k < 3; k++) {
        switch (cia[k]) {
        case 'H':
            *w[k] = 0.56;
            break;
        case 'L':
            *w[k] = 0.22;
            break;
        case 'N':
            *w[k] = 0.0;
            break;
        default:
            return SL_EINVAL;
        }
    }
    double iss = 1.0 - (1.0 - w_c) * (1.0 - w_i) * (1.0 - w_a);
    double impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss;
    double exploitability = 8.22 * w_av * w_ac * w_pr * w_ui;
    double score;
    if (impact <= 0)
        score = 0.0;
    else if (changed)
        score = roundup(fmin(1.08 * (impact + exploitability), 10.0));
    else
        score = roundup(fmin(impact + exploitability, 10.0));
    *out = score;
    return 0;
}

enum sl_severity sl_cvss3_rating(double score)
{
    if (score <= 0.0)
        return SL_SEV_NONE;
    if (score < 4.0)
        return SL_SEV_LOW;
    if (score < 7.0)
        return SL_SEV_MEDIUM;
    if (score < 9.0)
        return SL_SEV_HIGH;
    return SL_SEV_CRITICAL;
}

const char *sl_severity_name(enum sl_severity sev)
{
    switch (sev) {
    case SL_SEV_CRITICAL:
        return "Critical";
    case SL_SEV_HIGH:
        return "High";
    case SL_SEV_MEDIUM:
        return "Medium";
    case SL_SEV_LOW:
        return "Low";
    case SL_SEV_NONE:
        return "None";
    default:
        return "Unknown";
    }
}

int sl_severity_parse(enum sl_severity *out, const char *s)
{
    static const struct {
        const char *word;
        enum sl_severity sev;
    } words[] = {
        {"critical", SL_SEV_CRITICAL}, {"high", SL_SEV_HIGH},       {"important", SL_SEV_HIGH},
        {"medium", SL_SEV_MEDIUM},     {"moderate", SL_SEV_MEDIUM}, {"low", SL_SEV_LOW},
        {"negligible", SL_SEV_LOW},    {"unimportant", SL_SEV_LOW}, {"none", SL_SEV_NONE},
        {"unknown", SL_SEV_UNKNOWN},
    };
    *out = SL_SEV_UNKNOWN;
    if (!s)
        return SL_EINVAL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '*') /* Debian urgencies "low**", "medium*" */
        n--;
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        if (strlen(words[k].word) == n && strncasecmp(s, words[k].word, n) == 0) {
            *out = words[k].sev;
            return 0;
        }
    }
    return SL_EINVAL;
}
