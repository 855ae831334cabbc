#include "runtime/webhookcert.h"
#include "kube/client.h"
#include "kube/secret.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_S         (24 * 60 * 60)
#define BACKDATE_S    (5 * 60) /* clocks of the API server and the controller may differ */
#define PEM_MAX       (64 * 1024)
#define SYNC_ATTEMPTS 3

static X509 *pem_cert(const char *pem)
{
    if (!pem || !*pem || strlen(pem) > PEM_MAX)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
    if (!pem || !*pem || strlen(pem) > PEM_MAX)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* Seconds from now until x expires (negative: expired), or INT64_MIN when unreadable. */
static int64_t seconds_left(const X509 *x, time_t now)
{
    int days = 0, secs = 0;
    ASN1_TIME *t = ASN1_TIME_new();
    if (!t || !ASN1_TIME_set(t, now) || !ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(x))) {
        ASN1_TIME_free(t);
        return INT64_MIN;
    }
    ASN1_TIME_free(t);
    return (int64_t)days * DAY_S + secs;
}

static void set_why(char **why, char *msg)
{
    if (why)
        *why = msg;
    else
        free(msg);
}

enum sl_webhookcert_state sl_webhookcert_check(const char *ca_pem, const char *crt_pem,
                                               const char *key_pem, const char *service_ns,
                                               time_t now, char **why)
{
    enum sl_webhookcert_state st = SL_WEBHOOKCERT_UNUSABLE;
    X509 *ca = NULL, *crt = NULL;
    EVP_PKEY *key = NULL, *ca_pub = NULL;
    char *msg = NULL;
    char host[300], host_local[320];
    snprintf(host, sizeof(host), "%s.%s.svc", SL_WEBHOOKCERT_SERVICE, service_ns);
    snprintf(host_local, sizeof(host_local), "%s.cluster.local", host);

    if (!ca_pem || !crt_pem || !key_pem) {
        msg = sl_xasprintf("%s missing", !ca_pem ? "ca.crt" : !crt_pem ? "tls.crt" : "tls.key");
        goto done;
    }
    ca = pem_cert(ca_pem);
    crt = pem_cert(crt_pem);
    key = pem_key(key_pem);
    if (!ca || !crt || !key) {
        msg = sl_xstrdup(!ca    ? "ca.crt is not a PEM certificate"
                         : !crt ? "tls.crt is not a PEM certificate"
                                : "tls.key is not a PEM private key");
        goto done;
    }
    if (X509_check_private_key(crt, key) != 1) {
        msg = sl_xstrdup("tls.key does not belong to tls.crt");
        goto done;
    }
    ca_pub = X509_get_pubkey(ca);
    if (!ca_pub || X509_verify(crt, ca_pub) != 1 || X509_check_issued(ca, crt) != X509_V_OK) {
        msg = sl_xstrdup("tls.crt is not issued by ca.crt");
        goto done;
    }
    if (X509_check_host(crt, host, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1 ||
        X509_check_host(crt, host_local, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
        msg = sl_xasprintf("tls.crt does not name %s and %s", host, host_local);
        goto done;
    }
    int64_t crt_left = seconds_left(crt, now), ca_left = seconds_left(ca, now);
    if (crt_left <= 0 || ca_left <= 0) {
        msg = sl_xasprintf("%s has expired", crt_left <= 0 ? "tls.crt" : "ca.crt");
        goto done;
    }
    if (crt_left <= (int64_t)SL_WEBHOOKCERT_RENEW_DAYS * DAY_S ||
        ca_left <= (int64_t)SL_WEBHOOKCERT_RENEW_DAYS * DAY_S) {
        st = SL_WEBHOOKCERT_RENEW;
        msg = sl_xasprintf("%s expires in %lld hours, within the %d-day renewal window",
                           crt_left <= ca_left ? "tls.crt" : "ca.crt",
                           (long long)((crt_left <= ca_left ? crt_left : ca_left) / 3600),
                           SL_WEBHOOKCERT_RENEW_DAYS);
        goto done;
    }
    st = SL_WEBHOOKCERT_OK;
done:
    if (msg)
        set_why(why, msg);
    EVP_PKEY_free(ca_pub);
    EVP_PKEY_free(key);
    X509_free(crt);
    X509_free(ca);
    return st;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A certificate for key, signed by signer (issuer NULL: self-signed). NULL on failure. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer, time_t now,
                       int days, bool is_ca, const char *san)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    bool ok = false;
    if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
        goto done;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) || !X509_set_pubkey(x, key))
        goto done;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
        goto done;
    X509 *iss = issuer ? issuer : x;
    if (is_ca) {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
            add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            add_ext(x, iss, NID_subject_key_identifier, "hash"))
            goto done;
    } else {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, iss, NID_key_usage, "critical,digitalSignature") ||
            add_ext(x, iss, NID_ext_key_usage, "serverAuth") ||
            add_ext(x, iss, NID_authority_key_identifier, "keyid:always") ||
            add_ext(x, iss, NID_subject_alt_name, san))
            goto done;
    }
    if (!X509_sign(x, signer, EVP_sha256()))
        goto done;
    ok = true;
done:
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && PEM_write_bio_X509(b, x)) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0)
            out = sl_xstrndup(p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

static char *key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *out = NULL;
    if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0)
            out = sl_xstrndup(p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

int sl_webhookcert_generate(struct sl_webhookcert *out, const struct sl_webhookcert *keep,
                            const char *service_ns, time_t now, struct sl_err *err)
{
    int rc = SL_EFAIL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *crt = NULL, *old_ca = NULL;
    struct sl_webhookcert c = {0};
    char host[300], san[700];
    snprintf(host, sizeof(host), "%s.%s.svc", SL_WEBHOOKCERT_SERVICE, service_ns);
    snprintf(san, sizeof(san), "DNS:%s,DNS:%s.cluster.local", host, host);
    if (keep) {
        old_ca = pem_cert(keep->ca_pem);
        ca_key = pem_key(keep->ca_key_pem);
        int64_t left = old_ca ? seconds_left(old_ca, now) : 0;
        /* kept only when ca.key is its key, its self-signature holds (a CA altered in the
         * Secret would sign certificates no client can verify) and it is valid already (a CA
         * dated in the future, e.g. written by a machine whose clock runs ahead, would too) */
        time_t at = now;
        if (old_ca && ca_key && X509_check_private_key(old_ca, ca_key) == 1 &&
            X509_verify(old_ca, ca_key) == 1 &&
            X509_cmp_time(X509_get0_notBefore(old_ca), &at) < 0 &&
            left > (int64_t)(SL_WEBHOOKCERT_SERVING_DAYS + SL_WEBHOOKCERT_RENEW_DAYS) * DAY_S) {
            ca = old_ca; /* the CA stays: caBundle does not change */
            old_ca = NULL;
        } else {
            EVP_PKEY_free(ca_key);
            ca_key = NULL;
            if (old_ca && left <= 0) {
                X509_free(old_ca);
                old_ca = NULL;
            }
        }
    }
    if (!ca_key)
        ca_key = EVP_EC_gen("P-256");
    key = EVP_EC_gen("P-256");
    if (!ca_key || !key) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "generating EC P-256 keys failed");
        goto done;
    }
    if (!ca)
        ca = make_cert(ca_key, "sealift-webhook-ca", NULL, ca_key, now, SL_WEBHOOKCERT_CA_DAYS,
                       true, NULL);
    crt =
        ca ? make_cert(key, host, ca, ca_key, now, SL_WEBHOOKCERT_SERVING_DAYS, false, san) : NULL;
    if (!ca || !crt) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "signing the webhook certificates failed");
        goto done;
    }
    char *ca_text = cert_pem(ca), *old_text = old_ca ? cert_pem(old_ca) : NULL;
    c.ca_pem = ca_text && old_text ? sl_xasprintf("%s%s", ca_text, old_text)
               : ca_text           ? sl_xstrdup(ca_text)
                                   : NULL;
    free(ca_text);
    free(old_text);
    c.ca_key_pem = key_pem(ca_key);
    c.crt_pem = cert_pem(crt);
    c.key_pem = key_pem(key);
    if (!c.ca_pem || !c.ca_key_pem || !c.crt_pem || !c.key_pem) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "encoding the webhook certificates failed");
        goto done;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
done:
    sl_webhookcert_clear(&c);
    X509_free(crt);
    X509_free(ca);
    X509_free(old_ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}

void sl_webhookcert_clear(struct sl_webhookcert *c)
{
    if (!c)
        return;
    free(c->ca_pem);
    sl_secure_free_str(c->ca_key_pem);
    free(c->crt_pem);
    sl_secure_free_str(c->key_pem);
    memset(c, 0, sizeof(*c));
}

/* ---- the Secret and the files ---- */

static void from_secret(struct sl_webhookcert *c, const json_t *secret)
{
    c->ca_pem = sl_kube_secret_string(secret, "ca.crt");
    c->ca_key_pem = sl_kube_secret_string(secret, "ca.key");
    c->crt_pem = sl_kube_secret_string(secret, "tls.crt");
    c->key_pem = sl_kube_secret_string(secret, "tls.key");
}

static void set_data(json_t *secret, const struct sl_webhookcert *c)
{
    json_t *data = json_object();
    char *ca = sl_base64_encode(c->ca_pem, strlen(c->ca_pem));
    char *crt = sl_base64_encode(c->crt_pem, strlen(c->crt_pem));
    char *key = sl_base64_encode(c->key_pem, strlen(c->key_pem));
    char *ca_key = sl_base64_encode(c->ca_key_pem, strlen(c->ca_key_pem));
    json_object_set_new(data, "ca.crt", json_string(ca));
    json_object_set_new(data, "ca.key", json_string(ca_key));
    json_object_set_new(data, "tls.crt", json_string(crt));
    json_object_set_new(data, "tls.key", json_string(key));
    json_object_set_new(secret, "data", data);
    free(ca);
    free(crt);
    sl_secure_free_str(key);
    sl_secure_free_str(ca_key);
}

/* Writes text to dir/name unless it already holds exactly that; atomically (temp + rename). */
static int write_file(const char *dir, const char *name, const char *text, mode_t mode,
                      bool *changed, struct sl_err *err)
{
    char path[4096], tmp[4200];
    int rc = SL_EFAIL, fd = -1;
    char *old = NULL;
    size_t len = strlen(text);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    FILE *f = fopen(path, "rb");
    if (f) {
        old = sl_xmalloc(len + 2);
        size_t n = fread(old, 1, len + 1, f);
        fclose(f);
        bool same = n == len && memcmp(old, text, len) == 0;
        sl_secure_free(old, len + 2);
        if (same)
            return 0;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) != 0) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "writing %s: %s", tmp, strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "writing %s: %s", tmp, strerror(errno));
            goto done;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "writing %s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "renaming %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    *changed = true;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static int write_files(const char *dir, const struct sl_webhookcert *c, bool *changed,
                       struct sl_err *err)
{
    /* the key first: the listener reloads when tls.crt and tls.key both changed and match;
     * ca.crt last, it is what the DeployPolicy reconciler publishes as caBundle */
    if (write_file(dir, "tls.key", c->key_pem, 0600, changed, err) != 0 ||
        write_file(dir, "tls.crt", c->crt_pem, 0644, changed, err) != 0 ||
        write_file(dir, "ca.crt", c->ca_pem, 0644, changed, err) != 0)
        return SL_EFAIL;
    return 0;
}

static const char *state_name(enum sl_webhookcert_state st)
{
    return st == SL_WEBHOOKCERT_OK ? "ok" : st == SL_WEBHOOKCERT_RENEW ? "renew" : "unusable";
}

int sl_webhookcert_sync(const struct sl_webhookcert_sync_opts *o, bool *files_changed,
                        struct sl_err *err)
{
    int rc = SL_EFAIL;
    json_t *secret = NULL, *written = NULL;
    struct sl_webhookcert have = {0}, fresh = {0};
    char *why = NULL;
    bool changed = false;
    for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
        sl_kube_secret_decref(secret);
        secret = NULL;
        sl_webhookcert_clear(&have);
        sl_webhookcert_clear(&fresh);
        free(why);
        why = NULL;
        struct sl_err gerr = {0};
        rc = o->kube->get(o->kube->ctx, &secret, &SL_RES_SECRET, o->ns, o->secret_name, &gerr);
        if (rc != 0 && rc != SL_ENOTFOUND) {
            sl_err_set(err, rc, gerr.klass, "reading Secret %s/%s: %s", o->ns, o->secret_name,
                       gerr.msg);
            goto done;
        }
        if (secret)
            from_secret(&have, secret);
        enum sl_webhookcert_state st =
            secret
                ? sl_webhookcert_check(have.ca_pem, have.crt_pem, have.key_pem, o->ns, o->now, &why)
                : SL_WEBHOOKCERT_UNUSABLE;
        if (st == SL_WEBHOOKCERT_OK || (st == SL_WEBHOOKCERT_RENEW && !o->may_renew)) {
            rc = write_files(o->cert_dir, &have, &changed, err);
            goto done;
        }
        if (st == SL_WEBHOOKCERT_UNUSABLE && !o->may_replace) {
            rc = sl_err_set(err, SL_ERETRY, SL_ERRC_KUBE,
                            "Secret %s/%s: %s; left for the leader to replace", o->ns,
                            o->secret_name, secret ? why : "not found");
            goto done;
        }
        if (secret)
            sl_log_kv(SL_LOG_WARN, NULL, "replacing the webhook serving certificate", "secret",
                      o->secret_name, "namespace", o->ns, "state", state_name(st), "reason", why,
                      NULL);
        else
            sl_log_kv(SL_LOG_INFO, NULL, "creating the webhook serving certificate", "secret",
                      o->secret_name, "namespace", o->ns, NULL);
        /* a renewal keeps a CA that outlives the new certificate, or bundles the old CA */
        rc = sl_webhookcert_generate(&fresh, st == SL_WEBHOOKCERT_RENEW ? &have : NULL, o->ns,
                                     o->now, err);
        if (rc != 0)
            goto done;
        struct sl_err werr = {0};
        if (secret) {
            json_t *obj = json_deep_copy(secret);
            set_data(obj, &fresh);
            rc = o->kube->update(o->kube->ctx, &written, &SL_RES_SECRET, o->ns, obj, &werr);
            sl_kube_secret_decref(obj);
        } else {
            json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}}", "apiVersion", "v1", "kind",
                                    "Secret", "metadata", "name", o->secret_name, "namespace",
                                    o->ns, "labels", "app.kubernetes.io/managed-by", "sealift");
            json_object_set_new(obj, "type", json_string("kubernetes.io/tls"));
            set_data(obj, &fresh);
            rc = o->kube->create(o->kube->ctx, &written, &SL_RES_SECRET, o->ns, obj, &werr);
            sl_kube_secret_decref(obj);
        }
        sl_kube_secret_decref(written);
        written = NULL;
        if (rc == SL_ECONFLICT || rc == SL_EEXISTS) {
            /* another replica wrote it first: read and use the winner's */
            sl_log_kv(SL_LOG_INFO, NULL,
                      "another replica wrote the webhook certificate Secret first; reading it",
                      "secret", o->secret_name, NULL);
            continue;
        }
        if (rc != 0) {
            sl_err_set(err, rc, werr.klass, "%s Secret %s/%s: %s", secret ? "updating" : "creating",
                       o->ns, o->secret_name, werr.msg);
            goto done;
        }
        sl_log_kv(SL_LOG_INFO, NULL, "wrote the webhook serving certificate", "secret",
                  o->secret_name, "namespace", o->ns, NULL);
        rc = write_files(o->cert_dir, &fresh, &changed, err);
        goto done;
    }
    rc = sl_err_set(err, SL_ECONFLICT, SL_ERRC_KUBE,
                    "Secret %s/%s kept changing under %d attempts to write it", o->ns,
                    o->secret_name, SYNC_ATTEMPTS);
done:
    if (files_changed)
        *files_changed = changed;
    free(why);
    sl_webhookcert_clear(&have);
    sl_webhookcert_clear(&fresh);
    sl_kube_secret_decref(secret);
    return rc;
}

/* ---- the CRDs' conversion caBundle ---- */

const char *const SL_WEBHOOKCERT_CRDS[] = {
    "imagedeliveries.sealift.dev", "signingkeys.sealift.dev", "scanpolicies.sealift.dev",
    "deploypolicies.sealift.dev",  "gitsources.sealift.dev",  NULL,
};

/* cert_dir/name as a string (at most PEM_MAX bytes), or NULL when missing or larger. */
static char *read_small(const char *cert_dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", cert_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = sl_xmalloc(PEM_MAX + 1);
    size_t n = fread(text, 1, PEM_MAX + 1, f);
    fclose(f);
    if (n == 0 || n > PEM_MAX) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* The base64 caBundle of the PEM text, after checking every block is a certificate. */
static int bundle_of(char **out, const char *pem, const char *what, struct sl_err *err)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    int certs = 0;
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        certs++;
    }
    BIO_free(b);
    ERR_clear_error();
    if (certs == 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s holds no PEM certificate", what);
    *out = sl_base64_encode(pem, strlen(pem));
    return 0;
}

int sl_webhookcert_ca_bundle(char **out, const char **file, const char *cert_dir,
                             struct sl_err *err)
{
    *out = NULL;
    const char *name = "ca.crt";
    char *pem = NULL;
    if (!cert_dir || !(pem = read_small(cert_dir, name))) {
        name = "tls.crt";
        if (!cert_dir || !(pem = read_small(cert_dir, name)))
            return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_OS,
                              "no ca.crt or tls.crt in the webhook certificate directory %s",
                              cert_dir ? cert_dir : "(none)");
    }
    if (file)
        *file = name;
    int rc = bundle_of(out, pem, name, err);
    free(pem);
    return rc;
}

int sl_webhookcert_publish_crd_ca(const struct sl_kube_ops *kube, const char *service_ns,
                                  const char *cert_dir, int *patched, struct sl_err *err)
{
    int rc = 0, n = 0;
    char *bundle = NULL, *body = NULL;
    json_t *patch = NULL;
    const char *file = NULL;
    if ((rc = sl_webhookcert_ca_bundle(&bundle, &file, cert_dir, err)) != 0)
        goto done;
    patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "conversion", "webhook", "clientConfig",
                      "caBundle", bundle);
    body = json_dumps(patch, JSON_COMPACT);
    for (size_t i = 0; SL_WEBHOOKCERT_CRDS[i]; i++) {
        const char *name = SL_WEBHOOKCERT_CRDS[i];
        json_t *crd = NULL, *written = NULL;
        struct sl_err gerr = {0};
        int grc = kube->get(kube->ctx, &crd, &SL_RES_CRD, NULL, name, &gerr);
        if (grc == SL_ENOTFOUND)
            continue;
        if (grc == 0) {
            const json_t *conv = json_object_get(json_object_get(crd, "spec"), "conversion");
            const json_t *cc = json_object_get(json_object_get(conv, "webhook"), "clientConfig");
            const json_t *svc = json_object_get(cc, "service");
            const char *strategy = json_string_value(json_object_get(conv, "strategy"));
            const char *sns = json_string_value(json_object_get(svc, "namespace"));
            const char *sname = json_string_value(json_object_get(svc, "name"));
            const char *have = json_string_value(json_object_get(cc, "caBundle"));
            bool ours = strategy && !strcmp(strategy, "Webhook") && sns && sname &&
                        !strcmp(sns, service_ns) && !strcmp(sname, SL_WEBHOOKCERT_SERVICE);
            if (ours && !(have && !strcmp(have, bundle))) {
                struct sl_kube_patch_opts po = {.type = SL_PATCH_MERGE};
                grc = kube->patch(kube->ctx, &written, &SL_RES_CRD, NULL, name, body, &po, &gerr);
                if (grc == 0) {
                    n++;
                    sl_log_kv(SL_LOG_INFO, NULL, "conversion webhook caBundle written", "crd", name,
                              "from", file, NULL);
                }
            }
        }
        json_decref(crd);
        json_decref(written);
        if (grc != 0 && rc == 0)
            rc = sl_err_set(err, grc, gerr.klass, "CustomResourceDefinition %s: %s%s", name,
                            gerr.msg,
                            grc == SL_EAUTH ? " (the controller needs get and patch on the "
                                              "sealift.dev customresourcedefinitions)"
                                            : "");
    }
done:
    if (patched)
        *patched = n;
    json_decref(patch);
    free(bundle);
    free(body);
    return rc;
}
