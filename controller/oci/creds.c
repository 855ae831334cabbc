#include "oci/creds.h"

#include "util/buf.h"
#include "util/mem.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "user:password" from text (one line; a trailing newline or CR is dropped). what names
 * the source for messages. */
static int parse_line(struct sl_creds *out, const char *text, size_t len, const char *what,
                      struct sl_err *err)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    int rc = 0;
    char *line = sl_xmalloc(len + 1);
    memcpy(line, text, len);
    line[len] = '\0';
    if (len == 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s is empty; it must hold USER:PASSWORD",
                        what);
    else if (strlen(line) != len || strchr(line, '\n') || strchr(line, '\r'))
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s must hold one line USER:PASSWORD (or be a docker config.json)", what);
    else if (sl_creds_parse_userpass(out, line, NULL) != 0)
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s must hold USER:PASSWORD (a user name, then ':')", what);
    sl_secure_free(line, len + 1);
    return rc;
}

/* Reads path whole into b (a wiped buffer). what names the flag for messages. */
static int read_secret_file(struct sl_buf *b, const char *path, const char *what,
                            struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS, "%s %s: %s",
                          what, path, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(b, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s %s: larger than %zu bytes", what,
                            path, SL_CLI_CREDS_FILE_MAX);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "%s %s: read error", what, path);
    fclose(f);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

static int from_file(struct sl_creds *out, const char *path, const char *what, const char *registry,
                     struct sl_err *err)
{
    struct sl_buf b;
    sl_buf_init(&b, SL_CLI_CREDS_FILE_MAX);
    b.wipe = true;
    int rc = read_secret_file(&b, path, what, err);
    if (rc)
        goto done;
    const char *text = sl_buf_cstr(&b);
    size_t skip = strspn(text, " \t\r\n");
    if (text[skip] == '{') {
        /* a docker config.json: only the entry of this registry's host is used */
        struct sl_err lerr = {0};
        rc = sl_dockerconfig_lookup(out, text, b.len, registry, &lerr);
        if (rc == SL_ENOTFOUND)
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "%s %s: the docker config.json has no entry for %s", what, path,
                            registry);
        else if (rc)
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s %s: %s", what, path, lerr.msg);
        goto done;
    }
    char *label = sl_xasprintf("%s %s", what, path);
    rc = parse_line(out, text, b.len, label, err);
    free(label);
done:
    sl_buf_secure_free(&b);
    return rc;
}

int sl_cli_creds_resolve(struct sl_creds *out, int *have, const struct sl_cli_creds_source *src,
                         const char *registry, struct sl_err *err)
{
    *have = 0;
    struct sl_creds c;
    memset(&c, 0, sizeof(c));
    int rc;
    if (src && src->flag) {
        const char *name = src->flag_name ? src->flag_name : "--creds";
        rc = parse_line(&c, src->flag, strlen(src->flag), name, err);
    } else if (src && src->file) {
        rc = from_file(&c, src->file, src->file_name ? src->file_name : "--creds-file", registry,
                       err);
    } else if (src && src->env_name && getenv(src->env_name) && *getenv(src->env_name)) {
        const char *v = getenv(src->env_name);
        char *label = sl_xasprintf("environment variable %s", src->env_name);
        rc = parse_line(&c, v, strlen(v), label, err);
        free(label);
    } else {
        struct sl_err lerr = {0};
        rc = sl_dockerconfig_lookup_default(&c, registry, &lerr);
        if (rc == SL_ENOTFOUND)
            return 0;
        if (rc && err)
            *err = lerr;
    }
    if (rc) {
        sl_creds_free(&c);
        return rc;
    }
    *out = c;
    *have = 1;
    return 0;
}

const char *sl_cli_creds_hint(char *buf, size_t n, const struct sl_cli_creds_source *src, int have)
{
    static const struct sl_cli_creds_source none = {0};
    if (!src)
        src = &none;
    const char *flag = src->flag_name ? src->flag_name : "--creds";
    const char *file = src->file_name ? src->file_name : "--creds-file";
    const char *env =
        src->env_name && getenv(src->env_name) && *getenv(src->env_name) ? src->env_name : NULL;
    if (!have)
        snprintf(buf, n, "give credentials with %s, %s%s%s", file, flag,
                 src->env_name ? " or " : "", src->env_name ? src->env_name : "");
    else if (src->flag)
        snprintf(buf, n, "credentials from %s", flag);
    else if (src->file)
        snprintf(buf, n, "credentials from %s %s", file, src->file);
    else if (env)
        snprintf(buf, n, "credentials from the environment variable %s", env);
    else
        snprintf(buf, n, "credentials from docker config.json");
    return buf;
}
