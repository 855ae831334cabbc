/* Kubeconfig and in-cluster configuration loading. argv[1] is tests/unit/kube/data. */
#include "check.h"

#include "kube/client.h"
#include "kube/internal.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *data_dir;

static char *data_path(const char *name)
{
    size_t n = strlen(data_dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", data_dir, name);
    return p;
}

static int load(struct sl_kube_config **cfg, const char *name, struct sl_err *err)
{
    char *path = data_path(name);
    int rc = sl_kube_config_load(cfg, path, err);
    free(path);
    return rc;
}

static void test_token_and_relative_ca(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(load(&cfg, "token.yaml", &err), 0);
    if (!cfg)
        return;
    CHECK_STR_EQ(cfg->server, "https://api.dev.invalid:6443");
    CHECK_STR_EQ(cfg->namespace, "team-a");
    CHECK_STR_EQ(cfg->token, "sekret-token");
    CHECK(cfg->token_file == NULL);
    CHECK_CONTAINS(cfg->ca_pem, "dGVzdCBjYSBmb3Igc2VhbGlmdCB1bml0IHRlc3Rz");
    CHECK(cfg->client_cert_pem == NULL);
    CHECK(!cfg->insecure_skip_tls_verify);
    sl_kube_config_free(cfg);
}

static void test_cert_data(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(load(&cfg, "certdata.yaml", &err), 0);
    if (!cfg)
        return;
    CHECK_STR_EQ(cfg->server, "https://127.0.0.1:40123");
    CHECK_STR_EQ(cfg->namespace, "default");
    CHECK_STR_EQ(cfg->ca_pem, "-----BEGIN CERTIFICATE-----\nCADATA\n-----END CERTIFICATE-----\n");
    CHECK_STR_EQ(cfg->client_cert_pem,
                 "-----BEGIN CERTIFICATE-----\nCLIENTCERT\n-----END CERTIFICATE-----\n");
    CHECK_STR_EQ(cfg->client_key_pem,
                 "-----BEGIN PRIVATE KEY-----\nKEYDATA\n-----END PRIVATE KEY-----\n");
    CHECK(cfg->token == NULL);
    CHECK(cfg->insecure_skip_tls_verify);
    sl_kube_config_free(cfg);
}

static void test_token_file_and_basic_auth(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(load(&cfg, "tokenfile.yaml", &err), 0);
    if (!cfg)
        return;
    CHECK_STR_EQ(cfg->server, "http://127.0.0.1:8080");
    CHECK_STR_EQ(cfg->namespace, "ops");
    CHECK_STR_EQ(cfg->token, "file-token-123");
    CHECK_CONTAINS(cfg->token_file, "/token.txt");
    CHECK(cfg->token_file && cfg->token_file[0] == '/'
              ? 1
              : strncmp(cfg->token_file, data_dir, strlen(data_dir)) == 0);
    CHECK_STR_EQ(cfg->username, "admin");
    CHECK_STR_EQ(cfg->password, "p@ss: word");
    sl_kube_config_free(cfg);
}

static void test_errors(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(load(&cfg, "nocontext.yaml", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "current-context is not set");
    CHECK_CONTAINS(err.msg, "nocontext.yaml");
    CHECK_INT_EQ(load(&cfg, "badcontext.yaml", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "context \"missing\" not found");
    CHECK_INT_EQ(load(&cfg, "malformed.yaml", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "invalid YAML at line");
    CHECK_INT_EQ(load(&cfg, "missingca.yaml", &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no-such-ca.pem");
    CHECK_INT_EQ(load(&cfg, "does-not-exist.yaml", &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "does-not-exist.yaml");
    CHECK(cfg == NULL);

    const char *not_a_map = "- a\n- b\n";
    CHECK_INT_EQ(sl_kube_config_parse(&cfg, not_a_map, strlen(not_a_map), NULL, "x", &err),
                 SL_EINVAL);
    const char *alias = "a: &x {b: 1}\ncurrent-context: *x\n";
    CHECK_INT_EQ(sl_kube_config_parse(&cfg, alias, strlen(alias), NULL, "x", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "aliases");
    const char *badb64 = "current-context: c\nclusters: [{name: k, cluster: {server: "
                         "'https://k', certificate-authority-data: '!!!'}}]\ncontexts: [{name: "
                         "c, context: {cluster: k}}]\n";
    CHECK_INT_EQ(sl_kube_config_parse(&cfg, badb64, strlen(badb64), NULL, "x", &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "base64");
    CHECK(cfg == NULL);
}

static void test_kubeconfig_env(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    char *first = data_path("token.yaml");
    char *list = malloc(strlen(first) + 32);
    snprintf(list, strlen(first) + 32, "%s:/nonexistent/other", first);
    setenv("KUBECONFIG", list, 1);
    CHECK_INT_EQ(sl_kube_config_load(&cfg, NULL, &err), 0);
    CHECK(cfg && strcmp(cfg->namespace, "team-a") == 0);
    sl_kube_config_free(cfg);
    cfg = NULL;
    unsetenv("KUBECONFIG");
    free(list);
    free(first);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
}

static void test_in_cluster(void)
{
    char dir[] = "/tmp/sl-kube-sa-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "token", "sa-token-1\n");
    write_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\nSACA\n-----END CERTIFICATE-----\n");
    write_file(dir, "namespace", "sealift-system");

    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    unsetenv("KUBECONFIG");
    setenv("SEALIFT_SERVICEACCOUNT_DIR", dir, 1);
    unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK_INT_EQ(sl_kube_config_in_cluster(&cfg, &err), SL_ENOTFOUND);

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    /* with no kubeconfig given, in-cluster wins */
    CHECK_INT_EQ(sl_kube_config_load(&cfg, NULL, &err), 0);
    if (cfg) {
        CHECK_STR_EQ(cfg->server, "https://10.96.0.1:443");
        CHECK_STR_EQ(cfg->token, "sa-token-1");
        CHECK_CONTAINS(cfg->token_file, "/token");
        CHECK_CONTAINS(cfg->ca_pem, "SACA");
        CHECK_STR_EQ(cfg->namespace, "sealift-system");
        sl_kube_config_free(cfg);
        cfg = NULL;
    }

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    char nsfile[1024];
    snprintf(nsfile, sizeof(nsfile), "%s/namespace", dir);
    unlink(nsfile);
    CHECK_INT_EQ(sl_kube_config_in_cluster(&cfg, &err), 0);
    if (cfg) {
        CHECK_STR_EQ(cfg->server, "https://[fd00::1]:443");
        CHECK_STR_EQ(cfg->namespace, "default");
        sl_kube_config_free(cfg);
        cfg = NULL;
    }

    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    CHECK_INT_EQ(sl_kube_config_in_cluster(&cfg, &err), SL_EINVAL);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);

    char tokfile[1024];
    snprintf(tokfile, sizeof(tokfile), "%s/token", dir);
    unlink(tokfile);
    CHECK_INT_EQ(sl_kube_config_in_cluster(&cfg, &err), SL_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "token");

    char cafile[1024];
    snprintf(cafile, sizeof(cafile), "%s/ca.crt", dir);
    unlink(cafile);
    rmdir(dir);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("SEALIFT_SERVICEACCOUNT_DIR");
}

static void test_dup(void)
{
    struct sl_kube_config *cfg = NULL;
    struct sl_err err = {0};
    CHECK_INT_EQ(load(&cfg, "tokenfile.yaml", &err), 0);
    if (!cfg)
        return;
    struct sl_kube_config *copy = sl_kube_config_dup(cfg);
    CHECK(copy->token != cfg->token);
    CHECK_STR_EQ(copy->token, cfg->token);
    CHECK_STR_EQ(copy->password, cfg->password);
    CHECK_STR_EQ(copy->token_file, cfg->token_file);
    sl_kube_config_free(cfg);
    sl_kube_config_free(copy);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    RUN(test_token_and_relative_ca);
    RUN(test_cert_data);
    RUN(test_token_file_and_basic_auth);
    RUN(test_errors);
    RUN(test_kubeconfig_env);
    RUN(test_in_cluster);
    RUN(test_dup);
    return CHECK_EXIT();
}
