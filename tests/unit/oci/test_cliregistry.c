/* The registry flags every CLI command shares (oci/cliregistry.c), parsed with getopt_long as
 * the commands do and connected to a scripted registry behind a fake transport: a bad --creds
 * value and a missing --creds-file are the user's errors naming the flag (never the secret),
 * --creds wins over --creds-file, and copy's --src-/--dest- flags reach their own side (the
 * credentials the registry receives, the flag named in its hints). */
#include "check.h"
#include "http/transport.h"
#include "oci/cliregistry.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

/* A registry that accepts Basic acme:s3cret only, answers 404 to every manifest, and when
 * plain_http speaks plain http only (an https exchange fails its TLS handshake). */
struct scripted_registry {
    bool plain_http;
    char authorization[256]; /* the last Authorization header received, "" when none */
    int https_attempts;
};

static void answer(const struct sl_http_exchange *x, struct sl_http_result *res, long status,
                   const char *header)
{
    res->status = status;
    if (!x->on_header)
        return;
    char line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %ld X\r\n", status);
    x->on_header(x->ud, line, strlen(line));
    if (header)
        x->on_header(x->ud, header, strlen(header));
    x->on_header(x->ud, "\r\n", 2);
}

static void scripted(void *ctx, const struct sl_http_exchange *x, struct sl_http_result *res)
{
    struct scripted_registry *s = ctx;
    res->failure = SL_HTTP_OK;
    if (strncmp(x->url, "https://", 8) == 0)
        s->https_attempts++;
    if (s->plain_http && strncmp(x->url, "https://", 8) == 0) {
        res->failure = SL_HTTP_TLS_CONNECT;
        snprintf(res->error, sizeof(res->error), "wrong version number");
        return;
    }
    const char *auth = NULL;
    for (size_t i = 0; i < x->n_headers; i++)
        if (strncasecmp(x->headers[i], "Authorization: ", 15) == 0)
            auth = x->headers[i] + 15;
    if (auth)
        snprintf(s->authorization, sizeof(s->authorization), "%s", auth);
    /* base64("acme:s3cret") */
    if (!auth || strcmp(auth, "Basic YWNtZTpzM2NyZXQ=") != 0) {
        answer(x, res, 401, "WWW-Authenticate: Basic realm=\"test\"\r\n");
        return;
    }
    answer(x, res, strstr(x->url, "/manifests/") ? 404 : 200, NULL);
}

static const struct sl_transport_ops scripted_ops = {.perform = scripted};

/* Parses argv as a command does: its own flags (-c/--count and -i/--image, letters the registry
 * flags' short forms would have taken) next to the registry flags of both copy sides or of one
 * registry. Returns how many options were the command's own. */
static int parse(struct sl_cli_registry *one, struct sl_cli_registry *src,
                 struct sl_cli_registry *dst, int argc, char **argv)
{
    static const struct option one_opts[] = {{"count", required_argument, NULL, 'c'},
                                             {"image", required_argument, NULL, 'i'},
                                             SL_CLI_REGISTRY_OPTIONS,
                                             {NULL, 0, NULL, 0}};
    static const struct option copy_opts[] = {{"count", required_argument, NULL, 'c'},
                                              SL_CLI_REGISTRY_SRC_OPTIONS,
                                              SL_CLI_REGISTRY_DEST_OPTIONS,
                                              {NULL, 0, NULL, 0}};
    if (one)
        sl_cli_registry_init(one, SL_CLI_REGISTRY_ONE);
    if (src)
        sl_cli_registry_init(src, SL_CLI_REGISTRY_SRC);
    if (dst)
        sl_cli_registry_init(dst, SL_CLI_REGISTRY_DEST);
    optind = 0;
    opterr = 0;
    int c, own = 0;
    while ((c = getopt_long(argc, argv, "c:i:", one ? one_opts : copy_opts, NULL)) != -1) {
        if ((one && sl_cli_registry_option(one, c, optarg)) ||
            (src && sl_cli_registry_option(src, c, optarg)) ||
            (dst && sl_cli_registry_option(dst, c, optarg)))
            continue;
        CHECK(c == 'c' || c == 'i');
        own++;
    }
    return own;
}

/* Connects to reg.example/acme/app:1 with r through the scripted registry and HEADs the
 * manifest; returns that rc (SL_ENOTFOUND when the credentials were accepted). */
static int head(struct scripted_registry *s, const struct sl_cli_registry *r, struct sl_err *err)
{
    struct sl_transport *t = sl_transport_new_custom(&scripted_ops, s);
    struct sl_registry_opts base = {.transport = t, .max_attempts = 1};
    struct sl_registry *reg = NULL;
    struct sl_ref ref = {0};
    int rc = sl_cli_registry_connect(&reg, &ref, "reg.example/acme/app:1", r, &base, err);
    if (rc == 0) {
        char digest[72];
        rc = sl_registry_manifest_head(digest, NULL, reg, ref.repository, ref.tag, err);
    }
    sl_registry_free(reg);
    sl_ref_free(&ref);
    sl_transport_free(t);
    return rc;
}

static void test_bad_creds_value(void)
{
    char *argv[] = {"cmd", "--creds", "no-colon-s3cret", "-c", "3", "--image", "x", NULL};
    struct sl_cli_registry r;
    CHECK_INT_EQ(parse(&r, NULL, NULL, 7, argv), 2);
    CHECK_STR_EQ(r.creds.flag, "no-colon-s3cret");
    struct sl_registry *reg = NULL;
    struct sl_ref ref = {0};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_cli_registry_connect(&reg, &ref, "reg.example/acme/app:1", &r, NULL, &err),
                 SL_EINVAL);
    CHECK_STR_EQ(err.msg, "--creds must hold USER:PASSWORD (a user name, then ':')");
    CHECK(!strstr(err.msg, "s3cret"));
    CHECK(reg == NULL);
    CHECK(ref.repository == NULL);

    /* a bad reference is reported before any credentials are looked at */
    CHECK_INT_EQ(sl_cli_registry_connect(&reg, &ref, "reg.example/Acme/app:1", &r, NULL, &err),
                 SL_EINVAL);
    CHECK(!strstr(err.msg, "--creds"));
    CHECK(reg == NULL);
}

static void test_missing_creds_file(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/no-such-file", data_dir);
    char *argv[] = {"cmd", "--creds-file", path, "--insecure", NULL};
    struct sl_cli_registry r;
    CHECK_INT_EQ(parse(&r, NULL, NULL, 4, argv), 0);
    CHECK_INT_EQ(r.insecure, 1);
    struct sl_registry *reg = NULL;
    struct sl_ref ref = {0};
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_cli_registry_connect(&reg, &ref, "reg.example/acme/app:1", &r, NULL, &err),
                 SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "--creds-file ");
    CHECK_CONTAINS(err.msg, "no-such-file: No such file or directory");
    CHECK(reg == NULL);
    CHECK(ref.repository == NULL);
}

static void test_creds_wins_over_creds_file(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/creds-line.txt", data_dir); /* filer:file-s3cret:x */
    char *both[] = {"cmd", "--creds-file", path, "--creds", "acme:s3cret", NULL};
    struct sl_cli_registry r;
    parse(&r, NULL, NULL, 5, both);
    struct scripted_registry s = {0};
    struct sl_err err = {0};
    CHECK_INT_EQ(head(&s, &r, &err), SL_ENOTFOUND); /* accepted: the manifest is just absent */
    CHECK_STR_EQ(s.authorization, "Basic YWNtZTpzM2NyZXQ=");

    /* --creds-file alone: its credentials go to the registry, and the refusal names the file */
    char *file_only[] = {"cmd", "--creds-file", path, NULL};
    parse(&r, NULL, NULL, 3, file_only);
    memset(&s, 0, sizeof(s));
    CHECK_INT_EQ(head(&s, &r, &err), SL_EAUTH);
    CHECK_STR_EQ(s.authorization, "Basic ZmlsZXI6ZmlsZS1zM2NyZXQ6eA=="); /* filer:file-s3cret:x */
    CHECK_CONTAINS(err.msg, "(credentials from --creds-file ");
    CHECK(!strstr(err.msg, "file-s3cret"));

    /* neither (and no environment or docker config.json): anonymous, and the hint says how */
    char *none[] = {"cmd", NULL};
    parse(&r, NULL, NULL, 1, none);
    setenv("DOCKER_CONFIG", data_dir, 1); /* holds no config.json */
    unsetenv("SEALIFT_CREDS");
    memset(&s, 0, sizeof(s));
    CHECK_INT_EQ(head(&s, &r, &err), SL_EAUTH);
    CHECK_STR_EQ(s.authorization, "");
    CHECK_CONTAINS(err.msg, "give credentials with --creds-file, --creds or SEALIFT_CREDS");
}

static void test_copy_sides(void)
{
    char *argv[] = {"copy", "--src-creds",     "acme:s3cret", "--dest-creds", "acme:wrong-pw", "-c",
                    "1",    "--dest-insecure", NULL};
    struct sl_cli_registry src, dst;
    CHECK_INT_EQ(parse(NULL, &src, &dst, 8, argv), 1);
    CHECK_STR_EQ(src.creds.flag, "acme:s3cret");
    CHECK_INT_EQ(src.insecure, 0);
    CHECK_STR_EQ(dst.creds.flag, "acme:wrong-pw");
    CHECK_INT_EQ(dst.insecure, 1);
    CHECK_STR_EQ(dst.creds.env_name, "SEALIFT_DEST_CREDS");

    /* a plain-http registry: the source side, not marked insecure, is told its own flag */
    struct scripted_registry s = {.plain_http = true};
    struct sl_err err = {0};
    CHECK_INT_EQ(head(&s, &src, &err), SL_ERETRY);
    CHECK_CONTAINS(err.msg, "(a plain-http registry needs --src-insecure)");
    CHECK_STR_EQ(s.authorization, "");

    /* the destination, insecure, reaches it over http and is refused with its own flag named */
    memset(&s, 0, sizeof(s));
    s.plain_http = true;
    CHECK_INT_EQ(head(&s, &dst, &err), SL_EAUTH);
    CHECK_STR_EQ(s.authorization, "Basic YWNtZTp3cm9uZy1wdw=="); /* acme:wrong-pw */
    CHECK_CONTAINS(err.msg, "(credentials from --dest-creds)");
    CHECK(!strstr(err.msg, "wrong-pw"));

    /* the per-side environment variable */
    char *none[] = {"copy", NULL};
    parse(NULL, &src, &dst, 1, none);
    setenv("SEALIFT_SRC_CREDS", "acme:s3cret", 1);
    memset(&s, 0, sizeof(s));
    CHECK_INT_EQ(head(&s, &src, &err), SL_ENOTFOUND);
    CHECK_STR_EQ(s.authorization, "Basic YWNtZTpzM2NyZXQ=");
    memset(&s, 0, sizeof(s));
    CHECK_INT_EQ(head(&s, &dst, &err), SL_EAUTH);
    CHECK_CONTAINS(err.msg, "give credentials with --dest-creds-file, --dest-creds or "
                            "SEALIFT_DEST_CREDS");
    unsetenv("SEALIFT_SRC_CREDS");
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/unit/oci/data/creds";
    setenv("DOCKER_CONFIG", data_dir, 1); /* no config.json there: nothing from the home */
    unsetenv("SEALIFT_CREDS");
    unsetenv("SEALIFT_SRC_CREDS");
    unsetenv("SEALIFT_DEST_CREDS");
    RUN(test_bad_creds_value);
    RUN(test_missing_creds_file);
    RUN(test_creds_wins_over_creds_file);
    RUN(test_copy_sides);
    return CHECK_EXIT();
}
