/* A small driver of the registry client (controller/oci/registry.c) for the e2e tests of calls
 * that `sealift copy` does not make: tag listing with pagination, referrers with the tag-schema
 * fallback, chunked and monolithic blob uploads, blob GET and manifest HEAD.
 *
 * usage: registry_probe HOST USER:PASS|- COMMAND ARGS...
 *   tags REPO PAGE_SIZE          one tag per line
 *   referrers REPO DIGEST        the referrers index JSON
 *   upload REPO FILE CHUNK_BYTES digest of the uploaded blob (CHUNK_BYTES 0 = monolithic)
 *   blob REPO DIGEST             the blob bytes on stdout
 *   head REPO REFERENCE          the manifest digest
 * The client is insecure (http allowed, no TLS verification) unless PROBE_SECURE=1; PROBE_CA_FILE
 * names extra trusted CA certificates (PEM); PROBE_REQUEST_TIMEOUT_MS and PROBE_MAX_ATTEMPTS set
 * the options of the same names.
 * Exit 0 ok, 3 with the error on stderr. */
#include "oci/auth.h"
#include "oci/manifest.h"
#include "oci/registry.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(struct sl_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sl_buf_append(b, chunk, n);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: registry_probe HOST USER:PASS|- COMMAND ARGS...\n");
        return 2;
    }
    struct sl_creds creds = {0};
    struct sl_err err = {0};
    if (strcmp(argv[2], "-") != 0 && sl_creds_parse_userpass(&creds, argv[2], &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    struct sl_registry_opts opts = {.insecure = 1};
    struct sl_buf ca;
    sl_buf_init(&ca, (size_t)1 << 20);
    const char *secure = getenv("PROBE_SECURE");
    if (secure && strcmp(secure, "1") == 0)
        opts.insecure = 0;
    const char *ca_file = getenv("PROBE_CA_FILE");
    if (ca_file && *ca_file) {
        if (read_file(&ca, ca_file) < 0) {
            fprintf(stderr, "cannot read %s\n", ca_file);
            return 2;
        }
        opts.ca_pem = ca.data;
    }
    const char *rto = getenv("PROBE_REQUEST_TIMEOUT_MS"), *attempts = getenv("PROBE_MAX_ATTEMPTS");
    if (rto && *rto)
        opts.request_timeout_ms = atol(rto);
    if (attempts && *attempts) {
        opts.max_attempts = atoi(attempts);
        opts.backoff_base_ms = 50;
    }
    struct sl_registry *r = sl_registry_new(argv[1], creds.username ? &creds : NULL, &opts);
    const char *cmd = argv[3], *repo = argv[4];
    int rc = -1;
    if (strcmp(cmd, "tags") == 0 && argc == 6) {
        char **tags = NULL;
        size_t n = 0;
        rc = sl_registry_tags_list(&tags, &n, r, repo, strtoul(argv[5], NULL, 10), &err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            printf("%s\n", tags[i]);
        sl_registry_strv_free(tags, n);
    } else if (strcmp(cmd, "referrers") == 0 && argc == 6) {
        char *idx = NULL;
        size_t len = 0;
        rc = sl_registry_referrers(&idx, &len, r, repo, argv[5], NULL, &err);
        if (rc == 0)
            fwrite(idx, 1, len, stdout);
        free(idx);
    } else if (strcmp(cmd, "upload") == 0 && argc == 7) {
        struct sl_buf b;
        sl_buf_init(&b, (size_t)256 << 20);
        if (read_file(&b, argv[5]) < 0) {
            fprintf(stderr, "cannot read %s\n", argv[5]);
            return 2;
        }
        char digest[72];
        sl_digest_sha256(digest, b.data ? b.data : "", b.len);
        rc = sl_registry_blob_upload(r, repo, digest, b.data ? b.data : "", b.len,
                                     strtoul(argv[6], NULL, 10), &err);
        if (rc == 0)
            printf("%s\n", digest);
        sl_buf_free(&b);
    } else if (strcmp(cmd, "blob") == 0 && argc == 6) {
        char *data = NULL;
        size_t len = 0;
        rc = sl_registry_blob_get(&data, &len, r, repo, argv[5], (size_t)64 << 20, &err);
        if (rc == 0)
            fwrite(data, 1, len, stdout);
        free(data);
    } else if (strcmp(cmd, "head") == 0 && argc == 6) {
        char digest[72];
        rc = sl_registry_manifest_head(digest, NULL, r, repo, argv[5], &err);
        if (rc == 0)
            printf("%s\n", digest);
    } else {
        fprintf(stderr, "registry_probe: bad command\n");
        return 2;
    }
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    sl_registry_free(r);
    sl_creds_free(&creds);
    sl_buf_free(&ca);
    return rc < 0 ? 3 : 0;
}
