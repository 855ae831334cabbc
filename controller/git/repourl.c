#include "git/repourl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct parts {
    char scheme[16];
    char host[256]; /* lower case, with ":port" */
    char path[2048];
};

/* Splits url into scheme, host[:port] and path. False when url is not of that shape. */
static bool split(const char *url, struct parts *p)
{
    memset(p, 0, sizeof(*p));
    if (!url || !*url)
        return false;
    const char *sep = strstr(url, "://");
    const char *authority;
    if (sep) {
        size_t n = (size_t)(sep - url);
        if (n == 0 || n >= sizeof(p->scheme))
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = (char)tolower((unsigned char)url[i]);
            if (!isalnum((unsigned char)c) && c != '+' && c != '-' && c != '.')
                return false;
            p->scheme[i] = c;
        }
        authority = sep + 3;
    } else {
        /* scp-like user@host:path (a ':' before any '/') is ssh */
        const char *colon = strchr(url, ':');
        const char *slash = strchr(url, '/');
        if (!colon || (slash && slash < colon) || colon == url)
            return false;
        snprintf(p->scheme, sizeof(p->scheme), "ssh");
        authority = url;
    }
    size_t alen = sep ? strcspn(authority, "/") : (size_t)(strchr(url, ':') - url);
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) {
        char c = authority[i];
        if (c == '?' || c == '#' || c == '\\' || isspace((unsigned char)c) ||
            iscntrl((unsigned char)c))
            return false;
        if (c == '@')
            at = authority + i;
    }
    const char *host = at ? at + 1 : authority;
    size_t hlen = alen - (size_t)(host - authority);
    if (hlen == 0 || hlen >= sizeof(p->host))
        return false;
    for (size_t i = 0; i < hlen; i++)
        p->host[i] = (char)tolower((unsigned char)host[i]);
    const char *path = authority + alen;
    if (!sep)
        path++; /* past the ':' of user@host:path */
    for (const char *c = path; *c; c++)
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
            return false;
    int n = snprintf(p->path, sizeof(p->path), "%s%s", (*path && *path != '/') ? "/" : "", path);
    return n >= 0 && (size_t)n < sizeof(p->path);
}

enum sl_repourl_kind sl_repourl_kind(const char *url)
{
    if (!url || !*url)
        return SL_REPOURL_UNSUPPORTED;
    struct parts p;
    if (!strstr(url, "://")) {
        /* no scheme: scp-like ssh (a ':' before any '/'), or a path libgit2 would open on the
         * local disk */
        const char *colon = strchr(url, ':');
        const char *slash = strchr(url, '/');
        if (colon && (!slash || colon < slash))
            return split(url, &p) ? SL_REPOURL_REMOTE : SL_REPOURL_UNSUPPORTED;
        return SL_REPOURL_LOCAL;
    }
    size_t n = strcspn(url, ":");
    if (n == 4 && strncasecmp(url, "file", 4) == 0)
        return SL_REPOURL_LOCAL;
    if (!split(url, &p))
        return SL_REPOURL_UNSUPPORTED;
    static const char *const remote[] = {"https", "http", "ssh", "git"};
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
        if (strcmp(p.scheme, remote[i]) == 0)
            return SL_REPOURL_REMOTE;
    return SL_REPOURL_UNSUPPORTED;
}

/* Drops trailing "/" and, with strip_git, one trailing ".git". */
static void trim_path(char *path, bool strip_git)
{
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        path[--n] = '\0';
    if (strip_git && n >= 4 && strcmp(path + n - 4, ".git") == 0)
        path[n -= 4] = '\0';
}

/* Is path free of what a server could resolve to another repository? */
static bool plain_path(const char *path)
{
    if (strpbrk(path, "%\\?#"))
        return false;
    for (const char *s = path; *s;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s += n;
    }
    return true;
}

static bool refuse(char *why, size_t why_size, const char *text)
{
    if (why_size)
        snprintf(why, why_size, "%s", text);
    return false;
}

bool sl_repourl_covers(const char *secret_url, const char *url, char *why, size_t why_size)
{
    struct parts s, u;
    if (!secret_url || !*secret_url)
        return refuse(why, why_size, "the Secret has no url key");
    if (!split(secret_url, &s) || !plain_path(s.path))
        return refuse(why, why_size, "the Secret's url is not a repository URL");
    if (!split(url, &u))
        return refuse(why, why_size, "spec.url is not a repository URL");
    if (!plain_path(u.path))
        return refuse(why, why_size,
                      "spec.url has \".\" or \"..\" segments, escapes, a query or a fragment");
    if (strcmp(s.scheme, u.scheme) != 0 || strcmp(s.host, u.host) != 0)
        return refuse(why, why_size, "the Secret's url names another scheme or host");
    trim_path(s.path, false);
    trim_path(u.path, false);
    size_t n = strlen(s.path);
    if (strncmp(u.path, s.path, n) == 0 && (u.path[n] == '\0' || u.path[n] == '/'))
        return true;
    /* the same repository written with and without ".git" */
    trim_path(s.path, true);
    trim_path(u.path, true);
    if (strcmp(s.path, u.path) == 0)
        return true;
    return refuse(why, why_size, "the Secret's url does not cover spec.url's path");
}

bool sl_repourl_same_server(const char *a, const char *b)
{
    struct parts pa, pb;
    return split(a, &pa) && split(b, &pb) && strcmp(pa.scheme, pb.scheme) == 0 &&
           strcmp(pa.host, pb.host) == 0;
}
