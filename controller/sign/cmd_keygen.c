/* `sealift keygen [--algorithm A] --out PREFIX`: writes PREFIX.key (cosign's encrypted format,
 * with the password from COSIGN_PASSWORD as `cosign generate-key-pair` takes it; mode 0600) and
 * PREFIX.pub (SubjectPublicKeyInfo PEM), prints the key's fingerprint on stdout. Existing files
 * are never overwritten. */
#include "sign/cmd_keygen.h"
#include "cli/commands.h"
#include "sign/keys.h"
#include "util/err.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char keygen_usage[] =
    "usage: sealift keygen [--algorithm ecdsa-p256|ecdsa-p384|ed25519] --out PREFIX\n"
    "\n"
    "Writes PREFIX.key (private key, mode 0600) and PREFIX.pub (public key PEM) and prints\n"
    "the key fingerprint (sha256 of the DER public key). The private key is in cosign's\n"
    "encrypted format (\"ENCRYPTED SIGSTORE PRIVATE KEY\", scrypt + secretbox), encrypted\n"
    "with the password in the environment variable COSIGN_PASSWORD, as `cosign\n"
    "generate-key-pair` does; cosign and `sealift sign` read it with the same variable.\n"
    "Unset, the password is empty (like COSIGN_PASSWORD=). Existing files are never\n"
    "overwritten.\n"
    "\n"
    "Flags:\n"
    "  --algorithm ALG   ecdsa-p256 (default, what cosign uses), ecdsa-p384 or ed25519\n"
    "  --out PREFIX      where to write PREFIX.key and PREFIX.pub\n"
    "  -h, --help        print this help\n"
    "\n"
    "Exit codes: 0 written; 2 usage error, a file exists already or cannot be written.\n"
    "\n"
    "Example:\n"
    "  sealift keygen --out cosign && sealift sign registry.example/acme/app:1.0 --key "
    "cosign.key\n";

/* Creates path exclusively (never replaces an existing file) and writes len bytes. */
static int write_new_file(const char *path, const char *data, size_t len, mode_t mode,
                          struct sl_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return sl_err_set(err, SL_EEXISTS, SL_ERRC_OS,
                              "%s already exists; refusing to overwrite it", path);
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create %s: %s", path, strerror(errno));
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot write %s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

int sl_cmd_keygen(int argc, char **argv)
{
    int exit_code = SL_EXIT_USAGE;
    const char *alg_name = NULL, *prefix = NULL;
    char *key_path = NULL, *pub_path = NULL, *priv_pem = NULL, *pub_pem = NULL;
    struct sl_key *key = NULL;
    struct sl_err err = {0};
    enum sl_key_algorithm alg = SL_KEY_ALG_DEFAULT;
    size_t priv_len = 0;
    bool key_written = false;
    const char *existing = NULL;
    char fingerprint[SL_KEY_FINGERPRINT_LEN];

    static const struct option longopts[] = {
        {"algorithm", required_argument, NULL, 'a'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            alg_name = optarg;
            break;
        case 'o':
            prefix = optarg;
            break;
        case 'h':
            fputs(keygen_usage, stdout);
            exit_code = SL_EXIT_OK;
            goto done;
        case ':':
            sl_cli_errorf("keygen", "%s needs a value", argv[optind - 1]);
            goto done;
        default:
            sl_cli_errorf("keygen", "unknown option \"%s\"", argv[optind - 1]);
            fputs(keygen_usage, stderr);
            goto done;
        }
    }
    if (optind < argc) {
        sl_cli_errorf("keygen", "unexpected argument \"%s\"", argv[optind]);
        fputs(keygen_usage, stderr);
        goto done;
    }
    if (prefix == NULL || prefix[0] == '\0') {
        sl_cli_errorf("keygen", "--out PREFIX is required");
        fputs(keygen_usage, stderr);
        goto done;
    }
    if (sl_key_algorithm_parse(&alg, alg_name, &err) != 0) {
        sl_cli_errorf("keygen", "--algorithm: %s", err.msg);
        goto done;
    }
    key_path = sl_xasprintf("%s.key", prefix);
    pub_path = sl_xasprintf("%s.pub", prefix);
    /* check both before writing either, so a refusal leaves nothing half-done */
    if (access(key_path, F_OK) == 0)
        existing = key_path;
    else if (access(pub_path, F_OK) == 0)
        existing = pub_path;
    if (existing != NULL) {
        sl_cli_errorf("keygen", "%s already exists; refusing to overwrite it", existing);
        goto done;
    }

    const char *password = getenv("COSIGN_PASSWORD");
    if (sl_key_generate(&key, alg, &err) != 0 ||
        sl_key_private_pem_encrypted(&priv_pem, &priv_len, key, password,
                                     password ? strlen(password) : 0, &err) != 0 ||
        sl_key_public_pem(&pub_pem, key, &err) != 0 ||
        sl_key_fingerprint(fingerprint, key, &err) != 0) {
        sl_cli_errorf("keygen", "generating %s key: %s", sl_key_algorithm_name(alg), err.msg);
        goto done;
    }
    if (write_new_file(key_path, priv_pem, priv_len, 0600, &err) != 0) {
        sl_cli_errorf("keygen", "%s", err.msg);
        goto done;
    }
    key_written = true;
    if (write_new_file(pub_path, pub_pem, strlen(pub_pem), 0644, &err) != 0) {
        sl_cli_errorf("keygen", "%s", err.msg);
        goto done;
    }
    fprintf(stderr,
            "sealift keygen: wrote %s key to %s (private, mode 0600, encrypted with %s) and %s "
            "(public)\n",
            sl_key_algorithm_name(alg), key_path,
            password && password[0] ? "the password in COSIGN_PASSWORD"
                                    : "an empty password: set COSIGN_PASSWORD to choose one",
            pub_path);
    printf("%s\n", fingerprint);
    exit_code = SL_EXIT_OK;
done:
    /* a private key without its public half is useless and should not linger */
    if (exit_code != SL_EXIT_OK && key_written)
        unlink(key_path);
    sl_secure_free_str(priv_pem); /* an empty password protects nothing */
    free(pub_pem);
    free(key_path);
    free(pub_path);
    sl_key_free(key);
    return exit_code;
}
