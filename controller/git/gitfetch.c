#include "git/gitfetch.h"
#include "git/repourl.h"
#include "util/base64.h"
#include "util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GIT_MAX_FILES      10000
#define GIT_MAX_FILE_BYTES ((size_t)16 << 20)

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
    git_libgit2_init();
}

void sl_git_global_init(void)
{
    pthread_once(&git_once, git_init_once);
}

/* State shared with libgit2's callbacks during one fetch. */
struct fetch_ctx {
    const struct sl_git_auth *auth;
    const char *url; /* spec.url: the only server the credentials are for */
    int port;        /* port of the URL, for known_hosts "[host]:port" entries */
    int credential_calls;
    bool key_offered; /* the Secret's ssh identity was offered on this connection */
    char *key_file;   /* temporary identity file when in-memory keys are not supported */
    char problem[256];
    int problem_code;
};

/* Removes "user:password@" from a URL for messages. */
static void redact_url(char *out, size_t n, const char *url)
{
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *slash = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    if (scheme_end && at && (!slash || at < slash))
        snprintf(out, n, "%.*s://%s", (int)(scheme_end - url), url, at + 1);
    else
        snprintf(out, n, "%s", url);
}

static int url_port(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 22;
    int def = strncmp(url, "https", 5) == 0 ? 443 : (strncmp(url, "http:", 5) == 0 ? 80 : 22);
    p += 3;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash))
        p = at + 1;
    if (*p == '[') {
        p = strchr(p, ']');
        if (!p)
            return def;
        p++;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
    }
    if (*p != ':')
        return def;
    char *end = NULL;
    long port = strtol(p + 1, &end, 10);
    return (port > 0 && port < 65536) ? (int)port : def;
}

static int credentials_cb(git_credential **out, const char *url, const char *username_from_url,
                          unsigned int allowed, void *payload)
{
    struct fetch_ctx *c = payload;
    const struct sl_git_auth *a = c->auth;
    /* libgit2 asks on every new connection of a fetch (smart HTTP uses several) and again when
     * credentials are rejected: answer a few times, then give up instead of looping */
    if (c->url && url && !sl_repourl_same_server(c->url, url)) {
        /* a redirect took the connection elsewhere: the credentials are not for that server */
        snprintf(c->problem, sizeof(c->problem),
                 "the server asked for credentials on another server than spec.url's; none "
                 "were sent");
        c->problem_code = SL_EAUTH;
        return GIT_EAUTH;
    }
    if (++c->credential_calls > 6) {
        snprintf(c->problem, sizeof(c->problem), "credentials were rejected");
        c->problem_code = SL_EAUTH;
        return GIT_EAUTH;
    }
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && a && a->identity_pem) {
        const char *user =
            username_from_url ? username_from_url : (a->username ? a->username : "git");
        /* libgit2 asks again on the same ssh connection only when the server refused the key;
         * offering it again would only use up the server's MaxAuthTries */
        if (c->key_offered) {
            snprintf(c->problem, sizeof(c->problem),
                     "credentials were rejected: the ssh server refused the identity in the "
                     "Secret for user %s",
                     user);
            c->problem_code = SL_EAUTH;
            return GIT_EAUTH;
        }
        c->key_offered = true;
        if (git_credential_ssh_key_memory_new(out, user, NULL, a->identity_pem, NULL) == 0)
            return 0;
        if (c->key_file) /* written for an earlier connection of this fetch */
            return git_credential_ssh_key_new(out, user, NULL, c->key_file, NULL);
        /* libssh2 without in-memory keys: use a private temporary file */
        const char *tmpdir = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof(tmpl), "%s/sealift-git-key-XXXXXX",
                 tmpdir && *tmpdir ? tmpdir : "/tmp");
        int fd = mkstemp(tmpl);
        if (fd < 0)
            return -1;
        size_t len = strlen(a->identity_pem);
        bool ok = write(fd, a->identity_pem, len) == (ssize_t)len;
        close(fd);
        if (!ok) {
            unlink(tmpl);
            return -1;
        }
        c->key_file = sl_xstrdup(tmpl);
        return git_credential_ssh_key_new(out, user, NULL, c->key_file, NULL);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && a && a->password) {
        const char *user =
            a->username ? a->username : (username_from_url ? username_from_url : "git");
        return git_credential_userpass_plaintext_new(out, user, a->password);
    }
    /* ssh:// without a user in the URL: libgit2 first asks for the user name alone */
    if ((allowed & GIT_CREDENTIAL_USERNAME) && a && (a->username || a->identity_pem))
        return git_credential_username_new(out, a->username ? a->username : "git");
    snprintf(c->problem, sizeof(c->problem),
             "the server asks for credentials and the GitSource has none (spec.secretRef)");
    c->problem_code = SL_EAUTH;
    return GIT_EAUTH;
}

/* Decodes len characters of standard base64 into out (cap bytes); returns the length, 0 on
 * bad input. */
static size_t b64_decode(unsigned char *out, size_t cap, const char *in, size_t len)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    if (len == 0 || (len / 4) * 3 > cap || sl_base64_decode(&buf, &n, in, len) != 0)
        return 0;
    memcpy(out, buf, n);
    free(buf);
    return n;
}

/* Does a known_hosts host field ("a,b,[c]:2222" or hashed "|1|salt|hash") name host:port? */
static bool host_field_matches(const char *field, size_t flen, const char *host, int port)
{
    char want[300];
    if (port == 22)
        snprintf(want, sizeof(want), "%s", host);
    else
        snprintf(want, sizeof(want), "[%s]:%d", host, port);
    if (flen > 3 && strncmp(field, "|1|", 3) == 0) {
        const char *salt = field + 3;
        const char *bar = memchr(salt, '|', flen - 3);
        if (!bar)
            return false;
        unsigned char salt_raw[64], hash_raw[64], mac[EVP_MAX_MD_SIZE];
        size_t salt_len = b64_decode(salt_raw, sizeof(salt_raw), salt, (size_t)(bar - salt));
        size_t hash_len =
            b64_decode(hash_raw, sizeof(hash_raw), bar + 1, flen - (size_t)(bar + 1 - field));
        unsigned int mac_len = 0;
        if (!salt_len || hash_len != 20 ||
            !HMAC(EVP_sha1(), salt_raw, (int)salt_len, (const unsigned char *)want, strlen(want),
                  mac, &mac_len))
            return false;
        return mac_len == 20 && memcmp(mac, hash_raw, 20) == 0;
    }
    const char *p = field, *end = field + flen;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (n == strlen(want) && strncmp(p, want, n) == 0)
            return true;
        p += n + 1;
    }
    return false;
}

/* Checks an ssh host key against known_hosts text: returns true when a line for host:port
 * carries exactly this key. */
static bool known_host_ok(const char *known_hosts, const char *host, int port,
                          const git_cert_hostkey *hk)
{
    const char *line = known_hosts;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[8192];
        if (len < sizeof(buf)) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *save = NULL;
            char *hosts = strtok_r(buf, " \t\r", &save);
            if (hosts && hosts[0] == '@') /* @cert-authority / @revoked markers: skip */
                hosts = NULL;
            char *type = hosts ? strtok_r(NULL, " \t\r", &save) : NULL;
            char *key64 = type ? strtok_r(NULL, " \t\r", &save) : NULL;
            if (hosts && key64 && hosts[0] != '#' &&
                host_field_matches(hosts, strlen(hosts), host, port)) {
                unsigned char key[4096];
                size_t klen = b64_decode(key, sizeof(key), key64, strlen(key64));
                if (klen && (hk->type & GIT_CERT_SSH_RAW) && hk->hostkey_len == klen &&
                    memcmp(hk->hostkey, key, klen) == 0)
                    return true;
                if (klen && !(hk->type & GIT_CERT_SSH_RAW) && (hk->type & GIT_CERT_SSH_SHA256)) {
                    unsigned char md[32];
                    EVP_Digest(key, klen, md, NULL, EVP_sha256(), NULL);
                    if (memcmp(md, hk->hash_sha256, 32) == 0)
                        return true;
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

/* Verifies a server's leaf certificate (DER) against a private CA bundle and the host name. */
static bool x509_ok_with_ca(const unsigned char *der, size_t der_len, const char *ca_pem,
                            const char *host)
{
    bool ok = false;
    const unsigned char *p = der;
    X509 *leaf = d2i_X509(NULL, &p, (long)der_len);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    BIO *bio = BIO_new_mem_buf(ca_pem, -1);
    if (!leaf || !store || !ctx || !bio)
        goto done;
    X509 *ca;
    int added = 0;
    while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, ca);
        X509_free(ca);
        added++;
    }
    if (!added || !X509_STORE_CTX_init(ctx, store, leaf, NULL))
        goto done;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set1_host(param, host, 0);
    ok = X509_verify_cert(ctx) == 1;
done:
    BIO_free(bio);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    return ok;
}

static int certificate_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    struct fetch_ctx *c = payload;
    const struct sl_git_auth *a = c->auth;
    if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
        if (!a || !a->known_hosts) {
            snprintf(c->problem, sizeof(c->problem),
                     "ssh host key of %s cannot be checked: the Secret has no known_hosts", host);
            c->problem_code = SL_EAUTH;
            return GIT_ECERTIFICATE;
        }
        if (known_host_ok(a->known_hosts, host, c->port, (const git_cert_hostkey *)cert))
            return 0;
        snprintf(c->problem, sizeof(c->problem), "ssh host key of %s does not match known_hosts",
                 host);
        c->problem_code = SL_EAUTH;
        return GIT_ECERTIFICATE;
    }
    if (cert->cert_type == GIT_CERT_X509) {
        if (valid)
            return 0;
        const git_cert_x509 *x = (const git_cert_x509 *)cert;
        if (a && a->ca_pem && x509_ok_with_ca(x->data, x->len, a->ca_pem, host))
            return 0;
        snprintf(c->problem, sizeof(c->problem), "TLS certificate of %s is not trusted%s", host,
                 a && a->ca_pem ? " by the CA in the Secret" : "");
        c->problem_code = SL_EAUTH;
        return GIT_ECERTIFICATE;
    }
    return GIT_PASSTHROUGH;
}

/* Converts the last libgit2 error (or the callback's own problem) into an sl_err. */
static int git_fail(struct sl_err *err, int git_rc, const struct fetch_ctx *c, const char *what,
                    const char *url)
{
    char safe[512];
    redact_url(safe, sizeof(safe), url);
    if (c && c->problem[0])
        return sl_err_set(err, c->problem_code ? c->problem_code : SL_EFAIL, SL_ERRC_GIT,
                          "%s %s: %s", what, safe, c->problem);
    const git_error *e = git_error_last();
    char msg[300];
    snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "unknown libgit2 error");
    int code = SL_EFAIL;
    if (git_rc == GIT_EAUTH || git_rc == GIT_ECERTIFICATE)
        code = SL_EAUTH;
    else if (git_rc == GIT_ENOTFOUND)
        code = SL_ENOTFOUND;
    else if (e &&
             (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_SSL || e->klass == GIT_ERROR_SSH ||
              e->klass == GIT_ERROR_HTTP || e->klass == GIT_ERROR_OS))
        code = SL_ERETRY;
    /* a 401 from an https server is reported as an HTTP/NET error by libgit2 */
    if (strstr(msg, "401") || strstr(msg, "authentication") || strstr(msg, "Authentication"))
        code = SL_EAUTH;
    return sl_err_set(err, code, SL_ERRC_GIT, "%s %s: %s", what, safe, msg);
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static bool valid_ref_name(const char *s)
{
    if (!s || !*s || strlen(s) > 250 || s[0] == '-' || strstr(s, "..") || strchr(s, ':') ||
        strchr(s, ' ') || strchr(s, '~') || strchr(s, '^') || strchr(s, '\\') || strchr(s, '*'))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int sl_git_fetch(struct sl_git_result *out, const char *cache_dir, const char *url,
                 const struct sl_git_ref *ref, const struct sl_git_auth *auth, struct sl_err *err)
{
    sl_git_global_init();
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_object *obj = NULL;
    git_buf default_branch = {0};
    char *branch_owned = NULL;
    char refspec[600], local_ref[600];
    struct fetch_ctx c = {.auth = auth, .url = url, .port = url_port(url)};
    /* with credentials, follow no redirect: one to another server would ask for them there */
    bool has_credentials = auth && (auth->password || auth->identity_pem);
    int rc = 0, grc;

    if (!url || !*url)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.url: Required value");
    const char *branch = ref ? ref->branch : NULL;
    const char *tag = ref ? ref->tag : NULL;
    const char *commit = ref ? ref->commit : NULL;
    if ((branch && !valid_ref_name(branch)) || (tag && !valid_ref_name(tag)))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.ref: invalid branch or tag name");
    git_oid commit_oid;
    if (commit && (strlen(commit) != 40 || git_oid_fromstr(&commit_oid, commit) != 0))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "spec.ref.commit: must be a full 40-hex commit id");

    if (mkdir_p(cache_dir) != 0)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create %s: %s", cache_dir,
                          strerror(errno));
    if (git_repository_open_bare(&repo, cache_dir) != 0 &&
        (grc = git_repository_init(&repo, cache_dir, 1)) != 0) {
        rc = git_fail(err, grc, NULL, "cannot create the local clone for", url);
        goto done;
    }
    if ((grc = git_remote_create_anonymous(&remote, repo, url)) != 0) {
        rc = git_fail(err, grc, NULL, "invalid repository URL", url);
        goto done;
    }
    git_remote_callbacks cbs = GIT_REMOTE_CALLBACKS_INIT;
    cbs.credentials = credentials_cb;
    cbs.certificate_check = certificate_cb;
    cbs.payload = &c;

    if (!branch && !tag && !commit) {
        /* no ref: the remote's default branch */
        git_remote_connect_options co = GIT_REMOTE_CONNECT_OPTIONS_INIT;
        co.callbacks = cbs;
        if (has_credentials)
            co.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
        if ((grc = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co)) != 0 ||
            (grc = git_remote_default_branch(&default_branch, remote)) != 0) {
            rc = git_fail(err, grc, &c, "cannot reach", url);
            goto done;
        }
        git_remote_disconnect(remote);
        const char *name = default_branch.ptr;
        if (strncmp(name, "refs/heads/", 11) == 0)
            name += 11;
        branch = branch_owned = sl_xstrdup(name);
        c.credential_calls = 0;
        c.key_offered = false;
    }
    if (branch) {
        snprintf(refspec, sizeof(refspec), "+refs/heads/%s:refs/sealift/heads/%s", branch, branch);
        snprintf(local_ref, sizeof(local_ref), "refs/sealift/heads/%s", branch);
    } else if (tag) {
        snprintf(refspec, sizeof(refspec), "+refs/tags/%s:refs/sealift/tags/%s", tag, tag);
        snprintf(local_ref, sizeof(local_ref), "refs/sealift/tags/%s", tag);
    } else {
        snprintf(refspec, sizeof(refspec), "+refs/heads/*:refs/sealift/heads/*");
        local_ref[0] = '\0';
    }

    /* An explicit commit that is already here needs no network. */
    git_commit *have = NULL;
    if (commit && git_commit_lookup(&have, repo, &commit_oid) == 0) {
        git_commit_free(have);
    } else {
        char *specs[1] = {refspec};
        git_strarray arr = {specs, 1};
        git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
        fo.callbacks = cbs;
        fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
        fo.prune = GIT_FETCH_NO_PRUNE;
        if (has_credentials)
            fo.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
        if ((grc = git_remote_fetch(remote, &arr, &fo, NULL)) != 0) {
            rc = git_fail(err, grc, &c, "cannot fetch", url);
            goto done;
        }
    }

    char safe[512];
    redact_url(safe, sizeof(safe), url);
    if (commit) {
        git_commit *cm = NULL;
        if (git_commit_lookup(&cm, repo, &commit_oid) != 0) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT,
                            "commit %s not found on any branch of %s", commit, safe);
            goto done;
        }
        git_commit_free(cm);
        git_oid_tostr(out->commit, sizeof(out->commit), &commit_oid);
        snprintf(out->revision, sizeof(out->revision), "sha1:%s", out->commit);
    } else {
        char spec[640];
        snprintf(spec, sizeof(spec), "%s^{commit}", local_ref);
        /* a branch or tag the remote does not have leaves no local ref behind */
        if (git_revparse_single(&obj, repo, spec) != 0) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT, "%s %s not found in %s",
                            branch ? "branch" : "tag", branch ? branch : tag, safe);
            goto done;
        }
        git_oid_tostr(out->commit, sizeof(out->commit), git_object_id(obj));
        snprintf(out->revision, sizeof(out->revision), "%s@sha1:%s", branch ? branch : tag,
                 out->commit);
    }
done:
    if (c.key_file) {
        unlink(c.key_file);
        free(c.key_file);
    }
    free(branch_owned);
    git_buf_dispose(&default_branch);
    git_object_free(obj);
    git_remote_free(remote);
    git_repository_free(repo);
    return rc;
}

struct walk_ctx {
    git_repository *repo;
    const char *prefix; /* dir, without trailing slash; "" for root */
    struct sl_git_file *files;
    size_t count, cap;
    int rc;
    struct sl_err *err;
};

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
    struct walk_ctx *w = payload;
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB || !yaml_name(git_tree_entry_name(entry)))
        return 0;
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
        return 0; /* symlinks are not followed */
    if (w->count >= GIT_MAX_FILES) {
        w->rc = sl_err_set(w->err, SL_ETOOBIG, SL_ERRC_GIT, "more than %d manifest files",
                           GIT_MAX_FILES);
        return -1;
    }
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(entry)) != 0) {
        w->rc = sl_err_set(w->err, SL_EFAIL, SL_ERRC_GIT, "cannot read %s%s", root,
                           git_tree_entry_name(entry));
        return -1;
    }
    size_t size = (size_t)git_blob_rawsize(blob);
    char *path = w->prefix[0] ? sl_xasprintf("%s/%s%s", w->prefix, root, git_tree_entry_name(entry))
                              : sl_xasprintf("%s%s", root, git_tree_entry_name(entry));
    if (size > GIT_MAX_FILE_BYTES) {
        w->rc = sl_err_set(w->err, SL_ETOOBIG, SL_ERRC_GIT, "%s is larger than 16 MiB", path);
        free(path);
        git_blob_free(blob);
        return -1;
    }
    if (w->count == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->files = sl_xrealloc(w->files, w->cap * sizeof(*w->files));
    }
    struct sl_git_file *f = &w->files[w->count++];
    f->path = path;
    f->len = size;
    f->content = sl_xmalloc(size + 1);
    memcpy(f->content, git_blob_rawcontent(blob), size);
    f->content[size] = '\0';
    git_blob_free(blob);
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sl_git_file *)a)->path, ((const struct sl_git_file *)b)->path);
}

int sl_git_read_manifests(struct sl_git_file **out, size_t *out_count, const char *cache_dir,
                          const char *commit, const char *dir, struct sl_err *err)
{
    sl_git_global_init();
    git_repository *repo = NULL;
    git_commit *cm = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *entry = NULL;
    git_oid oid;
    struct walk_ctx w = {.err = err};
    int rc = 0;

    char prefix[1024];
    const char *d = dir ? dir : "";
    while (*d == '/' || (d[0] == '.' && d[1] == '/'))
        d += (*d == '/') ? 1 : 2;
    if (strcmp(d, ".") == 0)
        d = "";
    snprintf(prefix, sizeof(prefix), "%s", d);
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        prefix[--plen] = '\0';
    if (strstr(prefix, ".."))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "spec.path: must not contain \"..\"");

    if (git_repository_open_bare(&repo, cache_dir) != 0 || git_oid_fromstr(&oid, commit) != 0 ||
        git_commit_lookup(&cm, repo, &oid) != 0 || git_commit_tree(&root, cm) != 0) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT, "commit %s is not in the local clone",
                        commit);
        goto done;
    }
    git_tree *walk_tree = root;
    if (prefix[0]) {
        if (git_tree_entry_bypath(&entry, root, prefix) != 0 ||
            git_tree_entry_type(entry) != GIT_OBJECT_TREE ||
            git_tree_lookup(&sub, repo, git_tree_entry_id(entry)) != 0) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT,
                            "spec.path: directory %s not found in commit %.12s", prefix, commit);
            goto done;
        }
        walk_tree = sub;
    }
    w.repo = repo;
    w.prefix = prefix;
    if (git_tree_walk(walk_tree, GIT_TREEWALK_PRE, walk_cb, &w) != 0) {
        rc = w.rc ? w.rc : sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "cannot walk the tree");
        sl_git_files_free(w.files, w.count);
        w.files = NULL;
        w.count = 0;
        goto done;
    }
    if (w.count > 1)
        qsort(w.files, w.count, sizeof(*w.files), file_cmp);
    *out = w.files;
    *out_count = w.count;
done:
    git_tree_entry_free(entry);
    git_tree_free(sub);
    git_tree_free(root);
    git_commit_free(cm);
    git_repository_free(repo);
    return rc;
}

void sl_git_files_free(struct sl_git_file *files, size_t count)
{
    if (!files)
        return;
    for (size_t i = 0; i < count; i++) {
        free(files[i].path);
        free(files[i].content);
    }
    free(files);
}

static char *copy_bytes(const char *p, size_t n)
{
    char *c = sl_xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

/* Where the signature block of a tag object starts (a line beginning with one of git's
 * signature armors; the last one wins, as git's parse_signature), or NULL. */
static const char *tag_signature_start(const char *data, size_t len)
{
    static const char *const armors[] = {"-----BEGIN SSH SIGNATURE-----",
                                         "-----BEGIN PGP SIGNATURE-----",
                                         "-----BEGIN SIGNED MESSAGE-----"};
    const char *found = NULL;
    for (const char *line = data; line < data + len;) {
        const char *eol = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(data + len - line);
        for (size_t i = 0; i < sizeof(armors) / sizeof(armors[0]); i++)
            if (n >= strlen(armors[i]) && memcmp(line, armors[i], strlen(armors[i])) == 0)
                found = line;
        line += n + 1;
    }
    return found;
}

int sl_git_read_signature(struct sl_git_signature *out, const char *cache_dir, const char *commit,
                          const char *tag, struct sl_err *err)
{
    sl_git_global_init();
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    git_odb_object *raw = NULL;
    git_buf sig = {0}, signed_data = {0};
    git_oid oid;
    int rc = 0, grc;
    memset(out, 0, sizeof(*out));
    if (git_repository_open_bare(&repo, cache_dir) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "cannot open the local clone");
        goto done;
    }
    if (!tag) {
        if (!commit || git_oid_fromstr(&oid, commit) != 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid commit id");
            goto done;
        }
        grc = git_commit_extract_signature(&sig, &signed_data, repo, &oid, NULL);
        if (grc == GIT_ENOTFOUND) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT, "commit %.12s is not signed", commit);
            goto done;
        }
        if (grc != 0) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "cannot read commit %.12s", commit);
            goto done;
        }
        out->signature = copy_bytes(sig.ptr, sig.size);
        out->signature_len = sig.size;
        out->signed_data = copy_bytes(signed_data.ptr, signed_data.size);
        out->signed_len = signed_data.size;
        goto done;
    }
    char name[600];
    if (!valid_ref_name(tag)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid tag name");
        goto done;
    }
    snprintf(name, sizeof(name), "refs/sealift/tags/%s", tag);
    if (git_reference_name_to_id(&oid, repo, name) != 0 || git_repository_odb(&odb, repo) != 0 ||
        git_odb_read(&raw, odb, &oid) != 0) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_GIT, "tag %s is not in the local clone", tag);
        goto done;
    }
    if (git_odb_object_type(raw) != GIT_OBJECT_TAG) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT,
                        "tag %s is a lightweight tag, which carries no signature", tag);
        goto done;
    }
    const char *data = git_odb_object_data(raw);
    size_t len = git_odb_object_size(raw);
    const char *start = tag_signature_start(data, len);
    if (!start) {
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_GIT, "tag %s is not signed", tag);
        goto done;
    }
    out->signed_data = copy_bytes(data, (size_t)(start - data));
    out->signed_len = (size_t)(start - data);
    out->signature = copy_bytes(start, len - (size_t)(start - data));
    out->signature_len = len - (size_t)(start - data);
done:
    git_buf_dispose(&sig);
    git_buf_dispose(&signed_data);
    git_odb_object_free(raw);
    git_odb_free(odb);
    git_repository_free(repo);
    return rc;
}

void sl_git_signature_clear(struct sl_git_signature *s)
{
    if (!s)
        return;
    free(s->signature);
    free(s->signed_data);
    memset(s, 0, sizeof(*s));
}
