#include "policy/imagematch.h"
#include "oci/ref.h"

#include <stdio.h>
#include <string.h>

static bool is_boundary(char c)
{
    return c == '/' || c == ':' || c == '@';
}

/* Classic glob of one segment (no boundary characters in either): '*' matches any run. The
 * backtrack to the last '*' is exact with one kind of wildcard, and linear in practice. */
static bool segment_match(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star_p = pi++;
            star_s = si;
        } else if (pi < plen && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/* Glob match of pattern[0..plen) against s[0..slen) where '*' never matches a boundary
 * character: boundaries match only themselves, so the i-th boundary of the pattern must be the
 * i-th of the subject, and the segments between them match one by one. */
static bool glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0;
    for (;;) {
        size_t pe = pi, se = si;
        while (pe < plen && !is_boundary(p[pe]))
            pe++;
        while (se < slen && !is_boundary(s[se]))
            se++;
        if (!segment_match(p + pi, pe - pi, s + si, se - si))
            return false;
        if (pe == plen || se == slen)
            return pe == plen && se == slen;
        if (p[pe] != s[se])
            return false;
        pi = pe + 1;
        si = se + 1;
    }
}

bool sl_policy_image_matches(const char *pattern, const struct sl_ref *ref)
{
    if (!pattern || !*pattern || !ref || !ref->registry || !ref->repository)
        return false;
    size_t plen = strlen(pattern);
    if (plen > SL_POLICY_PATTERN_MAX)
        return false;
    if (strcmp(pattern, "*") == 0)
        return true;
    /* "registry/repository" then the tag and digest forms, each bounded by the parser's limits */
    char subject[2048];
    int n = snprintf(subject, sizeof(subject), "%s/%s", ref->registry, ref->repository);
    if (n < 0 || (size_t)n >= sizeof(subject))
        return false;
    if (glob_match(pattern, plen, subject, (size_t)n))
        return true;
    const char *suffix[2] = {ref->tag, ref->digest};
    const char sep[2] = {':', '@'};
    for (int i = 0; i < 2; i++) {
        if (!suffix[i])
            continue;
        int m = snprintf(subject + n, sizeof(subject) - (size_t)n, "%c%s", sep[i], suffix[i]);
        if (m < 0 || (size_t)m >= sizeof(subject) - (size_t)n)
            continue;
        if (glob_match(pattern, plen, subject, (size_t)n + (size_t)m))
            return true;
    }
    return false;
}

int sl_policy_pattern_check(const char *pattern, struct sl_err *err)
{
    if (!pattern || !*pattern)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Required value");
    size_t len = strlen(pattern);
    if (len > SL_POLICY_PATTERN_MAX)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "Too long: may not be more than %d bytes",
                          SL_POLICY_PATTERN_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (c <= ' ' || c >= 0x7f)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "Invalid value: \"%.200s\": want an image reference glob "
                              "(printable ASCII, no spaces)",
                              pattern);
    }
    return 0;
}

unsigned sl_policy_matching_entries(const json_t *verify_images, const struct sl_ref *ref)
{
    unsigned mask = 0;
    size_t i;
    const json_t *entry;
    json_array_foreach(verify_images, i, entry)
    {
        if (i >= SL_POLICY_VERIFY_IMAGES_MAX)
            break;
        size_t j;
        const json_t *pattern;
        json_array_foreach(json_object_get(entry, "imageReferences"), j, pattern)
        {
            if (sl_policy_image_matches(json_string_value(pattern), ref)) {
                mask |= 1u << i;
                break;
            }
        }
    }
    return mask;
}

int sl_policy_each_key_ref(const json_t *policy,
                           int (*fn)(void *ctx, const json_t *ref, const char *path), void *ctx)
{
    const json_t *list = json_object_get(json_object_get(policy, "spec"), "verifyImages");
    size_t i;
    const json_t *entry;
    json_array_foreach(list, i, entry)
    {
        size_t j;
        const json_t *a;
        json_array_foreach(json_object_get(entry, "authorities"), j, a)
        {
            const json_t *ref = json_object_get(json_object_get(a, "key"), "signingKeyRef");
            if (!json_is_object(ref))
                continue;
            char path[128];
            snprintf(path, sizeof(path),
                     "spec.verifyImages[%zu].authorities[%zu].key.signingKeyRef", i, j);
            int rc = fn(ctx, ref, path);
            if (rc)
                return rc;
        }
    }
    return 0;
}
