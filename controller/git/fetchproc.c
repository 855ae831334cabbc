#include "git/fetchproc.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ANSWER_MAX_BYTES  ((size_t)64 << 10)
#define REQUEST_MAX_BYTES ((size_t)1 << 20)

static void set_opt(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

/* The request as the child reads it; the caller wipes and frees it (it holds credentials). */
static char *request_json(const char *cache_dir, const char *url, const struct sl_git_ref *ref,
                          const struct sl_git_auth *auth)
{
    json_t *req = json_pack("{s:s, s:s}", "cache_dir", cache_dir, "url", url);
    json_t *r = json_object();
    if (ref) {
        set_opt(r, "branch", ref->branch);
        set_opt(r, "tag", ref->tag);
        set_opt(r, "commit", ref->commit);
    }
    json_object_set_new(req, "ref", r);
    json_t *a = json_object();
    if (auth) {
        set_opt(a, "username", auth->username);
        set_opt(a, "password", auth->password);
        set_opt(a, "identity", auth->identity_pem);
        set_opt(a, "known_hosts", auth->known_hosts);
        set_opt(a, "ca", auth->ca_pem);
    }
    json_object_set_new(req, "auth", a);
    char *text = json_dumps(req, JSON_COMPACT);
    /* jansson's copies of the credentials go with the object; only the dump is kept */
    json_decref(req);
    if (!text)
        abort(); /* json_dumps fails only when out of memory */
    return text;
}

static int unlink_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Removes dir and everything below it (symlinks are removed, not followed). */
static void remove_tree(const char *dir)
{
    nftw(dir, unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads the child's answer into out (rc and result or message). Returns the fetch's code. */
static int parse_answer(struct sl_git_result *out, const char *text, size_t len, struct sl_err *err)
{
    json_error_t jerr;
    json_t *a = json_loadb(text, len, 0, &jerr);
    json_t *rcv = json_object_get(a, "rc");
    int rc;
    if (!json_is_integer(rcv)) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "the git fetch process gave no answer");
        goto done;
    }
    rc = (int)json_integer_value(rcv);
    if (rc != 0) {
        const char *msg = json_string_value(json_object_get(a, "message"));
        if (rc > 0 || rc < SL_ECANCELED)
            rc = SL_EFAIL;
        sl_err_set(err, rc, SL_ERRC_GIT, "%s", msg ? msg : "git fetch failed");
        goto done;
    }
    const char *commit = json_string_value(json_object_get(a, "commit"));
    const char *revision = json_string_value(json_object_get(a, "revision"));
    if (!commit || strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40 || !revision ||
        strlen(revision) >= sizeof(out->revision)) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "the git fetch process answered no commit");
        goto done;
    }
    memcpy(out->commit, commit, 41);
    snprintf(out->revision, sizeof(out->revision), "%s", revision);
done:
    json_decref(a);
    return rc;
}

int sl_git_fetch_bounded(struct sl_git_result *out, const char *exe, const char *cache_dir,
                         const char *url, const struct sl_git_ref *ref,
                         const struct sl_git_auth *auth, int64_t timeout_ms, struct sl_err *err)
{
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
    pid_t pid = -1;
    bool file_actions_set = false;
    posix_spawn_file_actions_t fa;
    char *request = NULL;
    size_t request_len = 0, written = 0;
    char *answer = sl_xmalloc(ANSWER_MAX_BYTES + 1);
    size_t answer_len = 0;
    int rc = 0;

    if (!exe || !cache_dir || !url || timeout_ms <= 0 || timeout_ms > SL_GIT_FETCH_TIMEOUT_MAX_MS) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "git fetch: invalid arguments");
        goto done;
    }
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "git fetch: pipe: %s", strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_init(&fa);
    file_actions_set = true;
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
    char *argv[] = {(char *)exe, "git-fetch", NULL};
    int serr = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    if (serr != 0) {
        pid = -1;
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "git fetch: cannot start %s: %s", exe,
                        strerror(serr));
        goto done;
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    in_pipe[0] = out_pipe[1] = -1;
    fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);

    request = request_json(cache_dir, url, ref, auth);
    request_len = strlen(request);
    int64_t deadline = sl_mono_ms() + timeout_ms;
    bool eof = false;
    while (!eof) {
        int64_t left = deadline - sl_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p[2] = {{.fd = out_pipe[0], .events = POLLIN}, {.fd = in_pipe[1]}};
        nfds_t n = 1;
        if (in_pipe[1] >= 0) {
            p[1].events = POLLOUT;
            n = 2;
        }
        int pr = poll(p, n, left > 1000 ? 1000 : (int)left);
        if (pr < 0 && errno != EINTR) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "git fetch: poll: %s", strerror(errno));
            goto done;
        }
        if (pr <= 0)
            continue;
        if (n == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in_pipe[1], request + written, request_len - written);
            if (w > 0)
                written += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                written = request_len; /* the child went away; its exit says why */
            if (written == request_len) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(out_pipe[0], answer + answer_len, ANSWER_MAX_BYTES - answer_len);
            if (r > 0)
                answer_len += (size_t)r;
            else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                eof = true;
            if (answer_len == ANSWER_MAX_BYTES)
                eof = true;
        }
    }
    if (!eof) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = -1;
        remove_tree(cache_dir);
        char safe[300];
        /* the URL is spec.url as the user wrote it; credentials never ride in it (the Secret
         * holds them), but cut any user info all the same */
        const char *at = strchr(url, '@');
        const char *scheme = strstr(url, "://");
        if (scheme && at && at > scheme && !memchr(scheme + 3, '/', (size_t)(at - scheme - 3)))
            snprintf(safe, sizeof(safe), "%.*s://%s", (int)(scheme - url), url, at + 1);
        else
            snprintf(safe, sizeof(safe), "%s", url);
        char limit[32];
        if (timeout_ms % 1000 == 0)
            snprintf(limit, sizeof(limit), "%llds", (long long)(timeout_ms / 1000));
        else
            snprintf(limit, sizeof(limit), "%lldms", (long long)timeout_ms);
        rc = sl_err_set(err, SL_ERETRY, SL_ERRC_GIT,
                        "fetching %s did not finish within the timeout of %s (spec.timeout); "
                        "the fetch was stopped",
                        safe, limit);
        goto done;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "the git fetch process failed (%s %d)",
                        WIFEXITED(status) ? "exit code" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto done;
    }
    rc = parse_answer(out, answer, answer_len, err);
done:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (file_actions_set)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
    }
    if (request)
        sl_secure_free(request, request_len);
    free(answer);
    return rc;
}

static const char *opt(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char USAGE[] =
    "usage: sealift git-fetch [--help]\n"
    "One git fetch for `sealift controller`, which runs it as a child process so that a fetch\n"
    "can be stopped at its GitSource's spec.timeout. Reads one JSON request on stdin\n"
    "({cache_dir, url, ref: {branch|tag|commit}, auth: {username, password, identity,\n"
    "known_hosts, ca}}; credentials never go on the command line) and writes one JSON answer\n"
    "on stdout ({rc: 0, commit, revision} or {rc, message}).\n"
    "Exit codes: 0 an answer was written (whatever the fetch's outcome), 2 usage error or an\n"
    "unreadable request.\n"
    "Example:\n"
    "  echo '{\"cache_dir\":\"/tmp/c\",\"url\":\"https://git.example/x.git\",\"ref\":{}}' |\n"
    "      sealift git-fetch\n";

int sl_git_fetch_child_main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "sealift git-fetch: unknown argument %s\n%s", argv[1], USAGE);
        return 2;
    }
    size_t cap = 4096, len = 0;
    char *buf = sl_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= REQUEST_MAX_BYTES)
                break;
            char *bigger = sl_xmalloc(cap * 2);
            memcpy(bigger, buf, len);
            sl_secure_free(buf, cap);
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(STDIN_FILENO, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    json_error_t jerr;
    json_t *req = json_loadb(buf, len, 0, &jerr);
    sl_secure_free(buf, cap);
    const char *cache_dir = opt(req, "cache_dir"), *url = opt(req, "url");
    if (!json_is_object(req) || !cache_dir || !url) {
        json_decref(req);
        fprintf(stderr, "sealift git-fetch: unreadable request on stdin\n");
        return 2;
    }
    const json_t *r = json_object_get(req, "ref");
    const json_t *a = json_object_get(req, "auth");
    struct sl_git_ref ref = {
        .branch = opt(r, "branch"), .tag = opt(r, "tag"), .commit = opt(r, "commit")};
    struct sl_git_auth auth = {.username = opt(a, "username"),
                               .password = opt(a, "password"),
                               .identity_pem = opt(a, "identity"),
                               .known_hosts = opt(a, "known_hosts"),
                               .ca_pem = opt(a, "ca")};
    struct sl_git_result res = {0};
    struct sl_err ferr = {0};
    int rc = sl_git_fetch(&res, cache_dir, url, &ref, &auth, &ferr);
    json_t *answer = rc == 0 ? json_pack("{s:i, s:s, s:s}", "rc", 0, "commit", res.commit,
                                         "revision", res.revision)
                             : json_pack("{s:i, s:s}", "rc", rc, "message", ferr.msg);
    json_decref(req);
    char *text = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    if (!text)
        abort();
    fputs(text, stdout);
    bool written = fflush(stdout) == 0;
    free(text);
    /* The process ends here and its memory, credentials included, goes with it. It ends without
     * exit handlers: libgit2 1.5 does not free what its ssh transport allocated for a rejected
     * host key, which a leak checker would report as this process's failure. */
    _exit(written ? 0 : 2);
}
