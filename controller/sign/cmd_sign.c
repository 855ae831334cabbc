/* `sealift sign IMAGE --key key.pem`, `sealift verify IMAGE --key pub.pem` and
 * `sealift verify-attestation IMAGE --key pub.pem --type TYPE`. */
#include "sign/cmd_sign.h"
#include "cli/commands.h"
#include "oci/auth.h"
#include "oci/cliregistry.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "sign/attestation.h"
#include "sign/bundle.h"
#include "sign/cmd_sign.h"
#include "sign/cosign.h"
#include "sign/cosignkey.h"
#include "sign/keys.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sign_args {
    const char *image;
    const char *key_file;
    struct sl_cli_registry reg; /* --creds, --creds-file, --insecure */
    const char *format;         /* sign: legacy (default), bundle or both */
};

static void usage(FILE *f, const char *cmd)
{
    bool sign = strcmp(cmd, "sign") == 0;
    fprintf(f,
            "usage: sealift %s IMAGE --key FILE [--creds USER:PASS | --creds-file PATH] "
            "[--insecure]%s\n"
            "\n",
            cmd, strcmp(cmd, "sign") == 0 ? " [--format legacy|bundle|both]" : "");
    if (sign)
        fprintf(f, "Signs the digest IMAGE names (a tag is resolved first) in the cosign format:\n"
                   "the signature goes to the tag sha256-<hex>.sig of the same repository, next\n"
                   "to the signatures already there (--format legacy, the default); or as a\n"
                   "Sigstore bundle, cosign v3's format, stored as an OCI 1.1 referrer or in the\n"
                   "sha256-<hex> fallback index (--format bundle), or both.\n");
    else
        fprintf(f, "Checks that the digest IMAGE names carries a cosign signature made with the\n"
                   "private half of the public key FILE: a legacy one (tag sha256-<hex>.sig) or\n"
                   "a Sigstore bundle (OCI 1.1 referrer or fallback index; DSSE signature,\n"
                   "subject digest and predicate type checked; no transparency log is read).\n");
    fprintf(f,
            "\n"
            "Flags:\n"
            "  -k, --key FILE          %s\n"
            "  --creds USER:PASS       registry credentials (visible in ps: prefer the next)\n"
            "  --creds-file PATH       a file holding one line USER:PASS, or a docker\n"
            "                          config.json (the entry for IMAGE's registry is used)\n"
            "  --insecure              the registry may be plain http or present a certificate\n"
            "                          that is not trusted\n"
            "%s"
            "  -h, --help              print this help\n"
            "\n"
            "Credentials from the first of: --creds, --creds-file, the environment variable\n"
            "SEALIFT_CREDS (USER:PASS), docker config.json for the registry's host; else\n"
            "anonymous. Passwords are never printed.\n"
            "\n",
            sign ? "the private key: cosign's encrypted format (`cosign generate-key-pair`\n"
                   "                          and `sealift keygen` write it; its password from\n"
                   "                          COSIGN_PASSWORD) or unencrypted PKCS#8 PEM"
                 : "the public key (PEM)",
            sign ? "  --format FORMAT         legacy (default), bundle or both\n" : "");
    if (sign)
        fprintf(f, "Exit codes: 0 signed (or already signed by this key); 2 usage error or\n"
                   "unreadable key; 3 registry error.\n"
                   "\n"
                   "Example:\n"
                   "  sealift sign registry.example/acme/app:1.0 --key cosign.key \\\n"
                   "      --creds-file ~/.docker/config.json\n");
    else
        fprintf(f, "Exit codes: 0 a valid signature; 1 no signature, or none valid for this key;\n"
                   "2 usage error or unreadable key; 3 registry error.\n"
                   "\n"
                   "Example:\n"
                   "  sealift verify registry.example/acme/app:1.0 --key cosign.pub\n");
}

static int parse_args(struct sign_args *a, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         SL_CLI_REGISTRY_OPTIONS,
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    sl_cli_registry_init(&a->reg, SL_CLI_REGISTRY_ONE);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        if (sl_cli_registry_option(&a->reg, c, optarg))
            continue;
        switch (c) {
        case 'k':
            a->key_file = optarg;
            break;
        case 'f':
            a->format = optarg;
            break;
        case 'h':
            usage(stdout, cmd);
            return 1;
        default:
            sl_cli_errorf(cmd, "unknown or incomplete flag %s (see sealift %s --help)",
                          argv[optind - 1], cmd);
            return -1;
        }
    }
    if (optind != argc - 1 || !a->key_file) {
        sl_cli_errorf(cmd,
                      "usage: sealift %s IMAGE --key FILE [--creds USER:PASS | --creds-file "
                      "PATH] [--insecure] (see sealift %s --help)",
                      cmd, cmd);
        return -1;
    }
    if (a->format && (strcmp(cmd, "sign") != 0 ||
                      (strcmp(a->format, "legacy") != 0 && strcmp(a->format, "bundle") != 0 &&
                       strcmp(a->format, "both") != 0))) {
        sl_cli_errorf(cmd, "--format must be legacy, bundle or both (sign only), not \"%s\"",
                      a->format);
        return -1;
    }
    a->image = argv[optind];
    return 0;
}

static int read_key_file(struct sl_key **out, const char *path, bool want_private,
                         struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_OS, "cannot open key %s: %s", path,
                          strerror(errno));
    struct sl_buf b;
    sl_buf_init(&b, SL_KEY_PEM_MAX);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&b, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "key file %s is too large", path);
            break;
        }
    }
    fclose(f);
    /* cosign's encrypted keys open with the password cosign itself takes from the environment
     * (unset = the empty password of `COSIGN_PASSWORD= cosign generate-key-pair`) */
    const char *password = getenv("COSIGN_PASSWORD");
    if (!rc && (want_private || sl_cosignkey_is_encrypted(sl_buf_cstr(&b), b.len)))
        rc = sl_key_load_private_pem_password(out, sl_buf_cstr(&b), b.len, password,
                                              password ? strlen(password) : 0, err);
    else if (!rc)
        rc = sl_key_load_pem(out, sl_buf_cstr(&b), b.len, err);
    if (rc == SL_EAUTH)
        sl_err_prefix(err, "%s (password from COSIGN_PASSWORD, %s)", path,
                      password ? "set" : "not set");
    else if (rc)
        sl_err_prefix(err, "%s", path);
    sl_buf_secure_free(&b);
    return rc;
}

/* Common part: parse the image, set up the registry client with credentials, resolve the
 * digest. */
static int open_image(struct sl_ref *ref, struct sl_registry **reg, char digest[72],
                      const struct sign_args *a, struct sl_err *err)
{
    int rc = sl_cli_registry_connect(reg, ref, a->image, &a->reg, NULL, err);
    if (rc)
        return rc == SL_EUNSUPPORTED ? rc : SL_EINVAL; /* the user's reference or credentials */
    if (ref->digest) {
        snprintf(digest, 72, "%s", ref->digest);
        return 0;
    }
    return sl_registry_manifest_head(digest, NULL, *reg, ref->repository,
                                     ref->tag ? ref->tag : "latest", err);
}

/* What both commands work on: the key, the image's reference, a registry client and the
 * image's digest. */
struct session {
    struct sign_args args;
    struct sl_key *key;
    struct sl_ref ref;
    struct sl_registry *reg;
    char digest[72];
};

/* Parses the arguments, reads the key and resolves the image. Returns -1 to go on, or the exit
 * code to return (after session_close). */
static int session_open(struct session *s, const char *cmd, bool want_private, int argc,
                        char **argv)
{
    memset(s, 0, sizeof(*s));
    int prc = parse_args(&s->args, cmd, argc, argv);
    if (prc)
        return prc > 0 ? SL_EXIT_OK : SL_EXIT_USAGE;
    struct sl_err err = {0};
    if (read_key_file(&s->key, s->args.key_file, want_private, &err) != 0) {
        sl_cli_errorf(cmd, "%s", err.msg);
        return SL_EXIT_USAGE;
    }
    int rc = open_image(&s->ref, &s->reg, s->digest, &s->args, &err);
    if (rc) {
        sl_cli_errorf(cmd, "%s: %s", s->args.image, err.msg);
        return sl_cli_exit_code(rc);
    }
    return -1;
}

static void session_close(struct session *s)
{
    sl_registry_free(s->reg);
    sl_ref_free(&s->ref);
    sl_key_free(s->key);
}

int sl_cmd_sign(int argc, char **argv)
{
    struct session s;
    int code = session_open(&s, "sign", true, argc, argv);
    if (code >= 0) {
        session_close(&s);
        return code;
    }
    code = SL_EXIT_OK;
    struct sl_err err = {0};
    char *docker_ref = sl_xasprintf("%s/%s", s.ref.registry, s.ref.repository);
    struct sl_cosign_sign_result res = {0};
    const char *format = s.args.format ? s.args.format : "legacy";
    int rc = 0, bundle_added = 0;
    if (strcmp(format, "bundle") != 0)
        rc = sl_cosign_sign(&res, s.reg, s.ref.repository, docker_ref, s.digest, s.key, &err);
    if (!rc && strcmp(format, "legacy") != 0) {
        rc = sl_bundle_sign(&bundle_added, s.reg, s.ref.repository, s.digest, s.key, &err);
        res.added = res.added || bundle_added;
    }
    free(docker_ref);
    if (rc) {
        sl_cli_errorf("sign", "%s@%s: %s", s.args.image, s.digest, err.msg);
        code = sl_cli_exit_code(rc);
    } else {
        char fp[SL_KEY_FINGERPRINT_LEN] = "";
        sl_key_fingerprint(fp, s.key, NULL);
        if (strcmp(format, "bundle") == 0)
            printf("%s %s by %s (bundle)\n", s.digest, res.added ? "signed" : "already signed", fp);
        else
            printf("%s %s by %s (%zu signature%s%s)\n", s.digest,
                   res.added ? "signed" : "already signed", fp, res.signatures,
                   res.signatures == 1 ? "" : "s",
                   strcmp(format, "both") == 0 ? " and a bundle" : "");
    }
    session_close(&s);
    return code;
}

int sl_cmd_verify(int argc, char **argv)
{
    struct session s;
    int code = session_open(&s, "verify", false, argc, argv);
    if (code >= 0) {
        session_close(&s);
        return code;
    }
    code = SL_EXIT_OK;
    struct sl_err err = {0};
    struct sl_cosign_verify_result res;
    const struct sl_key *keys[1] = {s.key};
    int rc = sl_cosign_verify(&res, s.reg, s.ref.repository, s.digest, keys, 1, &err);
    if (rc == SL_ENOTFOUND || rc == SL_EDIGEST) {
        sl_cli_errorf("verify", "%s: %s", s.args.image, err.msg);
        code = SL_EXIT_CHECK_FAILED;
    } else if (rc) {
        sl_cli_errorf("verify", "%s: %s", s.args.image, err.msg);
        code = sl_cli_exit_code(rc);
    } else {
        printf("%s: valid signature by %s\n", s.digest, res.key_fingerprint);
    }
    session_close(&s);
    return code;
}

/* ---- sealift verify-attestation ---- */

static void usage_verify_attestation(FILE *f)
{
    fprintf(f,
            "usage: sealift verify-attestation IMAGE --key FILE --type TYPE [--max-age DURATION]\n"
            "       [--fail-on SEVERITY] [--creds USER:PASS | --creds-file PATH] [--insecure]\n"
            "\n"
            "Checks the newest attestation of TYPE on the digest IMAGE names (a tag is\n"
            "resolved first): in-toto statements in DSSE envelopes at the cosign tag\n"
            "sha256-<hex>.att and in Sigstore bundles among the OCI 1.1 referrers (what\n"
            "`cosign attest` and sealift's delivery write). Only envelopes whose signature\n"
            "verifies with the public key FILE count; the statement must name the digest;\n"
            "the newest is the one with the latest signed timestamp of its predicate (vuln:\n"
            "metadata.scanFinishedOn; SPDX: creationInfo.created; CycloneDX:\n"
            "metadata.timestamp). No transparency log is read. When IMAGE names an index\n"
            "that has none of TYPE itself, every platform of it must have a valid one (as\n"
            "`sealift attest` and the delivery attest each platform); stdout stays empty.\n"
            "\n"
            "Flags:\n"
            "  -k, --key FILE          the public key (PEM)\n"
            "  -t, --type TYPE         vuln, sbom (SPDX or CycloneDX), spdx, spdxjson,\n"
            "                          cyclonedx, openvex, slsaprovenance, slsaprovenance1,\n"
            "                          custom, or a predicate type URI (https://...)\n"
            "  --max-age DURATION      fail when the newest is older (e.g. 168h), or has no\n"
            "                          signed timestamp\n"
            "  --fail-on SEVERITY      vuln: fail when a finding is at or above Critical,\n"
            "                          High, Medium or Low (allowlisted and VEX-suppressed\n"
            "                          findings do not count)\n"
            "  --creds USER:PASS       registry credentials (visible in ps: prefer the next)\n"
            "  --creds-file PATH       a file holding one line USER:PASS, or a docker\n"
            "                          config.json (the entry for IMAGE's registry is used)\n"
            "  --insecure              the registry may be plain http or present a certificate\n"
            "                          that is not trusted\n"
            "  -h, --help              print this help\n"
            "\n"
            "Credentials from the first of: --creds, --creds-file, the environment variable\n"
            "SEALIFT_CREDS (USER:PASS), docker config.json for the registry's host; else\n"
            "anonymous. Passwords are never printed.\n"
            "\n"
            "Prints the accepted attestation's statement (JSON) on stdout and a summary on\n"
            "stderr.\n"
            "\n"
            "Exit codes: 0 a valid attestation that meets --max-age and --fail-on; 1 none of\n"
            "TYPE, none signed by this key, unreadable, too old, or a finding at or above\n"
            "--fail-on (stderr says which); 2 usage error or unreadable key; 3 registry\n"
            "error.\n"
            "\n"
            "Example:\n"
            "  sealift verify-attestation registry.example/acme/app:1.0 --key cosign.pub \\\n"
            "      --type vuln --max-age 168h --fail-on High\n");
}

int sl_cmd_verify_attestation(int argc, char **argv)
{
    static const char cmd[] = "verify-attestation";
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"type", required_argument, NULL, 't'},
                                         {"max-age", required_argument, NULL, 'a'},
                                         {"fail-on", required_argument, NULL, 'f'},
                                         SL_CLI_REGISTRY_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct sign_args a = {0};
    sl_cli_registry_init(&a.reg, SL_CLI_REGISTRY_ONE);
    struct sl_attestation_requirement req = {0};
    const char *type = NULL, *max_age = NULL, *fail_on = NULL;
    struct sl_err err = {0};
    struct sl_key *key = NULL;
    struct sl_ref ref = {0};
    struct sl_registry *reg = NULL;
    char digest[72] = "";
    int code = SL_EXIT_USAGE, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:t:h", opts, NULL)) != -1) {
        if (sl_cli_registry_option(&a.reg, c, optarg))
            continue;
        switch (c) {
        case 'k':
            a.key_file = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'a':
            max_age = optarg;
            break;
        case 'f':
            fail_on = optarg;
            break;
        case 'h':
            usage_verify_attestation(stdout);
            return SL_EXIT_OK;
        default:
            sl_cli_errorf(cmd, "unknown or incomplete flag %s (see sealift %s --help)",
                          argv[optind - 1], cmd);
            return SL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !a.key_file || !type) {
        sl_cli_errorf(cmd,
                      "usage: sealift %s IMAGE --key FILE --type TYPE [--max-age DURATION] "
                      "[--fail-on SEVERITY] (see sealift %s --help)",
                      cmd, cmd);
        return SL_EXIT_USAGE;
    }
    a.image = argv[optind];
    if (sl_attestation_type_parse(&req.type, type, &err) != 0) {
        sl_cli_errorf(cmd, "--type: %s", err.msg);
        return SL_EXIT_USAGE;
    }
    if (max_age && (sl_duration_parse_ms(&req.max_age_ms, max_age) != 0 || req.max_age_ms <= 0)) {
        sl_cli_errorf(cmd, "--max-age: \"%s\" is not a positive duration (e.g. 168h, 30m)",
                      max_age);
        return SL_EXIT_USAGE;
    }
    if (fail_on && sl_attestation_severity_parse(&req.threshold, fail_on) != 0) {
        sl_cli_errorf(cmd, "--fail-on: \"%s\" is not Critical, High, Medium or Low", fail_on);
        return SL_EXIT_USAGE;
    }
    if (fail_on && strcmp(req.type.predicate[0], SL_ATTESTATION_VULN) != 0) {
        sl_cli_errorf(cmd, "--fail-on applies to --type vuln only");
        return SL_EXIT_USAGE;
    }
    if (read_key_file(&key, a.key_file, false, &err) != 0) {
        sl_cli_errorf(cmd, "%s", err.msg);
        goto done;
    }
    int rc = open_image(&ref, &reg, digest, &a, &err);
    if (rc) {
        sl_cli_errorf(cmd, "%s: %s", a.image, err.msg);
        code = sl_cli_exit_code(rc);
        goto done;
    }
    const struct sl_key *keys[1] = {key};
    struct sl_attestation best = {0};
    rc = sl_attestation_newest(&best, reg, ref.repository, digest, &req.type, keys, 1, NULL, &err);
    if (rc == SL_ENOTFOUND) {
        /* none on the digest itself: an index's platforms may carry them (what `sealift attest`
         * and the delivery write), and every platform must then pass, as at admission */
        struct sl_attestation_decision d;
        struct sl_err derr = {0};
        rc = sl_attestation_decide(&d, reg, ref.repository, digest, &req, keys, 1, NULL, time(NULL),
                                   &derr);
        if (rc) {
            sl_cli_errorf(cmd, "%s: %s", a.image, derr.msg);
            code = rc == SL_ETOOBIG ? SL_EXIT_CHECK_FAILED : SL_EXIT_REMOTE;
        } else if (d.verdict == SL_ATTESTATION_MISSING && d.platforms == 0) {
            sl_cli_errorf(cmd, "%s@%s: %s", a.image, digest, err.msg); /* not an index */
            code = SL_EXIT_CHECK_FAILED;
        } else if (d.verdict != SL_ATTESTATION_OK) {
            sl_cli_errorf(cmd, "%s@%s: %s", a.image, digest, d.reason);
            code = SL_EXIT_CHECK_FAILED;
        } else {
            fprintf(stderr, "%s: valid: %s\n", digest, d.reason);
            code = SL_EXIT_OK;
        }
        goto done;
    }
    if (rc == SL_EDIGEST || rc == SL_EINVAL) {
        sl_cli_errorf(cmd, "%s@%s: %s", a.image, digest, err.msg);
        code = SL_EXIT_CHECK_FAILED;
        goto done;
    }
    if (rc) {
        sl_cli_errorf(cmd, "%s: %s", a.image, err.msg);
        code = rc == SL_ETOOBIG ? SL_EXIT_CHECK_FAILED : SL_EXIT_REMOTE;
        goto done;
    }
    struct sl_attestation_decision d;
    sl_attestation_judge(&d, &best, &req, time(NULL));
    if (d.verdict != SL_ATTESTATION_OK) {
        sl_cli_errorf(cmd, "%s@%s: %s", a.image, digest, d.reason);
        code = SL_EXIT_CHECK_FAILED;
    } else {
        char fp[SL_KEY_FINGERPRINT_LEN] = "";
        sl_key_fingerprint(fp, key, NULL);
        char *text = json_dumps(best.statement, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", text ? text : "{}");
        free(text);
        fprintf(stderr, "%s: valid %s, signed by %s (%s)\n", digest, d.reason, fp,
                best.where ? best.where : "");
        code = SL_EXIT_OK;
    }
    sl_attestation_clear(&best);
done:
    sl_registry_free(reg);
    sl_ref_free(&ref);
    sl_key_free(key);
    return code;
}

int sl_sign_cli_read_key(struct sl_key **out, const char *path, bool want_private,
                         struct sl_err *err)
{
    return read_key_file(out, path, want_private, err);
}
