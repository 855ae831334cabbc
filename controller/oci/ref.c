#include "oci/ref.h"
#include "util/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_LEN  1024
#define REPO_MAX_LEN 255

int sl_ref_is_digest(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0)
        return 0;
    const char *h = s + 7;
    size_t i;
    for (i = 0; h[i]; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return 0;
    return i == 64;
}

int sl_ref_is_tag(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = strlen(s);
    if (n > 128)
        return 0;
    if (!(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Path components: lowercase alphanumerics separated by '.', '_', '__' or runs of '-'. */
static int valid_repository(const char *s, size_t n)
{
    if (n == 0 || n > REPO_MAX_LEN)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        size_t len = i - start;
        const char *c = s + start;
        if (len == 0 || !is_lower_alnum(c[0]) || !is_lower_alnum(c[len - 1]))
            return 0;
        for (size_t j = 1; j < len; j++) {
            if (is_lower_alnum(c[j]) || c[j] == '-')
                continue;
            if (c[j] == '.' && is_lower_alnum(c[j + 1]))
                continue;
            if (c[j] == '_' && (is_lower_alnum(c[j + 1]) ||
                                (c[j + 1] == '_' && j + 2 < len && is_lower_alnum(c[j + 2])))) {
                if (c[j + 1] == '_')
                    j++;
                continue;
            }
            return 0;
        }
        start = i + 1;
    }
    return 1;
}

int sl_ref_is_repository(const char *s)
{
    return s && valid_repository(s, strlen(s));
}

static int valid_host(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    size_t i = 0;
    if (s[0] == '[') { /* IPv6 literal */
        while (i < n && s[i] != ']')
            i++;
        if (i == n)
            return 0;
        for (size_t j = 1; j < i; j++)
            if (!(isxdigit((unsigned char)s[j]) || s[j] == ':' || s[j] == '.'))
                return 0;
        i++;
    } else {
        while (i < n && s[i] != ':') {
            if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
                return 0;
            i++;
        }
        if (i == 0 || s[0] == '.' || s[0] == '-' || s[i - 1] == '.' || s[i - 1] == '-')
            return 0;
    }
    if (i < n) {
        if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
            return 0;
        long port = 0;
        for (size_t j = i + 1; j < n; j++) {
            if (!isdigit((unsigned char)s[j]))
                return 0;
            port = port * 10 + (s[j] - '0');
        }
        if (port <= 0 || port > 65535)
            return 0;
    }
    return 1;
}

int sl_ref_parse(struct sl_ref *out, const char *text, struct sl_err *err)
{
    int rc = SL_EINVAL;
    char *registry = NULL, *repo = NULL, *tag = NULL, *digest = NULL;

    if (!text || !*text) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "image reference is empty");
        goto done;
    }
    size_t len = strlen(text);
    if (len > REF_MAX_LEN) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "image reference is longer than %d bytes",
                        REF_MAX_LEN);
        goto done;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "image reference \"%s\" contains whitespace or non-ASCII", text);
            goto done;
        }
    }

    size_t name_len = len;
    const char *at = strchr(text, '@');
    if (at) {
        name_len = (size_t)(at - text);
        const char *d = at + 1;
        if (strncmp(d, "sha256:", 7) != 0 && strchr(d, ':') && !strchr(d, '@')) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                            "image reference \"%s\": only sha256 digests are supported", text);
            goto done;
        }
        if (!sl_ref_is_digest(d)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "image reference \"%s\": digest must be sha256:<64 lowercase hex>",
                            text);
            goto done;
        }
        digest = sl_xstrdup(d);
    }

    /* a tag is the part after the last ':' that follows the last '/' */
    const char *name = text;
    const char *last_slash = NULL;
    for (size_t i = 0; i < name_len; i++)
        if (name[i] == '/')
            last_slash = name + i;
    const char *colon = NULL;
    for (const char *p = last_slash ? last_slash : name; p < name + name_len; p++)
        if (*p == ':')
            colon = p;
    size_t path_len = name_len;
    if (colon) {
        size_t tag_len = (size_t)(name + name_len - colon - 1);
        tag = sl_xstrndup(colon + 1, tag_len);
        if (!sl_ref_is_tag(tag)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "image reference \"%s\": invalid tag \"%s\"", text, tag);
            goto done;
        }
        path_len = (size_t)(colon - name);
    }

    const char *slash = memchr(name, '/', path_len);
    const char *repo_start = name;
    if (slash) {
        size_t first_len = (size_t)(slash - name);
        int is_host = memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
                      (first_len == 9 && memcmp(name, "localhost", 9) == 0);
        for (size_t i = 0; !is_host && i < first_len; i++)
            if (isupper((unsigned char)name[i]))
                is_host = 1;
        if (is_host) {
            if (!valid_host(name, first_len)) {
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "image reference \"%s\": invalid registry host", text);
                goto done;
            }
            /* kept as written (like docker): a host recognised only by its uppercase letters
             * must format back to a reference that still reads as a host */
            registry = sl_xstrndup(name, first_len);
            repo_start = slash + 1;
        }
    }
    if (!registry)
        registry = sl_xstrdup(SL_REF_DOCKER_HUB);
    if (strcmp(registry, "index.docker.io") == 0 || strcmp(registry, "registry-1.docker.io") == 0) {
        free(registry);
        registry = sl_xstrdup(SL_REF_DOCKER_HUB);
    }
    size_t repo_len = (size_t)(name + path_len - repo_start);
    if (!valid_repository(repo_start, repo_len)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "image reference \"%s\": invalid repository name (lowercase letters, "
                        "digits and separators . _ - /)",
                        text);
        goto done;
    }
    if (strcmp(registry, SL_REF_DOCKER_HUB) == 0 && !memchr(repo_start, '/', repo_len))
        repo = sl_xasprintf("library/%.*s", (int)repo_len, repo_start);
    else
        repo = sl_xstrndup(repo_start, repo_len);
    if (strlen(repo) > REPO_MAX_LEN) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "image reference \"%s\": repository name longer than %d bytes", text,
                        REPO_MAX_LEN);
        goto done;
    }

    out->registry = registry;
    out->repository = repo;
    out->tag = tag;
    out->digest = digest;
    registry = repo = tag = digest = NULL;
    rc = 0;
done:
    free(registry);
    free(repo);
    free(tag);
    free(digest);
    return rc;
}

const char *sl_ref_skip_transport(const char *text)
{
    return strncmp(text, "docker://", 9) == 0 ? text + 9 : text;
}

void sl_ref_free(struct sl_ref *ref)
{
    if (!ref)
        return;
    free(ref->registry);
    free(ref->repository);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}

void sl_ref_copy(struct sl_ref *out, const struct sl_ref *src)
{
    out->registry = src->registry ? sl_xstrdup(src->registry) : NULL;
    out->repository = src->repository ? sl_xstrdup(src->repository) : NULL;
    out->tag = src->tag ? sl_xstrdup(src->tag) : NULL;
    out->digest = src->digest ? sl_xstrdup(src->digest) : NULL;
}

const char *sl_ref_api_host(const struct sl_ref *ref)
{
    if (strcmp(ref->registry, SL_REF_DOCKER_HUB) == 0)
        return "registry-1.docker.io";
    return ref->registry;
}

char *sl_ref_string(const struct sl_ref *ref)
{
    return sl_xasprintf("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "",
                        ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                        ref->digest ? ref->digest : "");
}
