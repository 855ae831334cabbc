#include "oci/aws.h"

#include "oci/cloudlogin.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A value read from an STS document (the session token is the longest, about 1 KiB). */
#define XML_VALUE_MAX ((size_t)4 << 10)
/* Elements nested deeper than this are not an STS answer. */
#define XML_DEPTH_MAX 16
#define XML_NAME_MAX  64
/* What an error message quotes of a service's message. */
#define MESSAGE_QUOTE_MAX SL_CLOUDLOGIN_QUOTE_MAX
/* The longest web identity token and ECR authorization token accepted. */
#define TOKEN_MAX          ((size_t)16 << 10)
#define DEFAULT_TIMEOUT_MS 30000
#define STS_API_VERSION    "2011-06-15"
#define ECR_TARGET         "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static int is_alnum(int c)
{
    return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z');
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- registry host and role ARN ---- */

int sl_aws_ecr_host_parse(struct sl_aws_ecr_host *out, const char *host, struct sl_err *err)
{
    struct sl_aws_ecr_host h;
    memset(&h, 0, sizeof(h));
    const char *p = host;
    if (!host)
        goto bad;
    if (strlen(host) < 12 || !all_digits(p, 12))
        goto bad;
    memcpy(h.account, p, 12);
    p += 12;
    if (strncmp(p, ".dkr.ecr-fips.", 14) == 0) {
        h.fips = 1;
        p += 14;
    } else if (strncmp(p, ".dkr.ecr.", 9) == 0) {
        p += 9;
    } else {
        goto bad;
    }
    size_t n = 0;
    while (is_lower((unsigned char)p[n]) || is_digit((unsigned char)p[n]) || p[n] == '-')
        n++;
    /* "us-east-1": a letter first, no '-' at either end */
    if (n == 0 || n >= sizeof(h.region) || !is_lower((unsigned char)p[0]) || p[n - 1] == '-')
        goto bad;
    memcpy(h.region, p, n);
    p += n;
    if (strcmp(p, ".amazonaws.com.cn") == 0)
        h.china = 1;
    else if (strcmp(p, ".amazonaws.com") != 0)
        goto bad;
    *out = h;
    return 0;
bad:
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "%.100s is not an Amazon ECR registry host "
                      "(ACCOUNT.dkr.ecr.REGION.amazonaws.com)",
                      host ? host : "(none)");
}

int sl_aws_role_arn_check(const char *arn, struct sl_err *err)
{
    static const char *const partitions[] = {"aws", "aws-cn", "aws-us-gov"};
    if (!arn || !*arn)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "the IAM role ARN is empty");
    const char *p = arn;
    if (strncmp(p, "arn:", 4) != 0)
        goto bad_form;
    p += 4;
    const char *colon = strchr(p, ':');
    if (!colon)
        goto bad_form;
    size_t plen = (size_t)(colon - p);
    int known = 0;
    for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
        if (strlen(partitions[i]) == plen && strncmp(p, partitions[i], plen) == 0)
            known = 1;
    if (!known)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "IAM role ARN %.100s: partition must be aws, aws-cn or aws-us-gov", arn);
    p = colon + 1;
    if (strncmp(p, "iam::", 5) != 0)
        goto bad_form;
    p += 5;
    if (strlen(p) < 13 || !all_digits(p, 12) || p[12] != ':')
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "IAM role ARN %.100s: the account must be 12 digits", arn);
    p += 13;
    if (strncmp(p, "role/", 5) != 0)
        goto bad_form;
    p += 5;
    size_t n = strlen(p);
    if (n == 0 || n > 512 || p[n - 1] == '/')
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "IAM role ARN %.100s: the role name must be 1-512 characters", arn);
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)p[i]) && !strchr("+=,.@_/-", p[i]))
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                              "IAM role ARN %.100s: the role name may hold only letters, digits "
                              "and +=,.@_/-",
                              arn);
    return 0;
bad_form:
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                      "IAM role ARN %.100s is not of the form arn:aws:iam::ACCOUNT:role/NAME", arn);
}

void sl_aws_session_clear(struct sl_aws_session *s)
{
    if (!s)
        return;
    free(s->access_key_id);
    sl_secure_free_str(s->secret_access_key);
    sl_secure_free_str(s->session_token);
    memset(s, 0, sizeof(*s));
}

/* ---- Signature Version 4 ---- */

static void hex_encode(char *out, const unsigned char *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(len ? data : (const void *)"", len, md);
    hex_encode(out, md, sizeof(md));
}

static int hmac_sha256(unsigned char out[32], const void *key, size_t key_len, const char *msg)
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &n) ||
        n != 32)
        return -1;
    return 0;
}

struct canon_header {
    char *name;  /* lowercased */
    char *value; /* trimmed, inner runs of spaces collapsed */
};

/* A header's name and value, canonical, into h (freed by the caller even on failure). */
static int canon_header_set(struct canon_header *h, const char *name, size_t name_len,
                            const char *value, size_t value_len)
{
    if (name_len == 0)
        return -1;
    h->name = sl_xcalloc(name_len + 1, 1);
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 0x7f)
            return -1;
        h->name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    h->name[name_len] = '\0';
    h->value = sl_xcalloc(value_len + 1, 1); /* NUL-terminated even when refused */
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < value_len; i++) {
        char c = value[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return -1;
        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }
        if (space && o > 0)
            h->value[o++] = ' ';
        space = 0;
        h->value[o++] = c;
    }
    h->value[o] = '\0';
    return 0;
}

static int valid_amz_date(const char *d)
{
    return d && strlen(d) == 16 && all_digits(d, 8) && d[8] == 'T' && all_digits(d + 9, 6) &&
           d[15] == 'Z';
}

static int valid_scope_part(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!is_lower((unsigned char)*s) && !is_digit((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

static int valid_access_key_id(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!is_alnum((unsigned char)*s))
            return 0;
    return 1;
}

/* The canonical query: parameters sorted by name, then value (they are sent encoded already). */
static void canonical_query(struct sl_buf *b, const char *query)
{
    if (!query || !*query)
        return;
    size_t n = 1;
    for (const char *p = query; *p; p++)
        n += *p == '&';
    char **params = sl_xcalloc(n, sizeof(*params));
    size_t k = 0;
    const char *start = query;
    for (;;) {
        const char *amp = strchr(start, '&');
        size_t len = amp ? (size_t)(amp - start) : strlen(start);
        if (len > 0) {
            /* "name" alone signs as "name=" */
            params[k] = memchr(start, '=', len) ? sl_xstrndup(start, len)
                                                : sl_xasprintf("%.*s=", (int)len, start);
            k++;
        }
        if (!amp)
            break;
        start = amp + 1;
    }
    /* "name=value" strings compare by name first only when '=' sorts before every name
     * character; it does not ('-', '.' and digits sort lower), so compare name, then value */
    for (size_t i = 1; i < k; i++) {
        for (size_t j = i; j > 0; j--) {
            const char *a = params[j - 1], *c = params[j];
            size_t an = strcspn(a, "="), cn = strcspn(c, "=");
            int r = strncmp(a, c, an < cn ? an : cn);
            if (r == 0)
                r = an < cn ? -1 : an > cn ? 1 : strcmp(a + an, c + cn);
            if (r <= 0)
                break;
            params[j - 1] = params[j];
            params[j] = (char *)a;
        }
    }
    for (size_t i = 0; i < k; i++) {
        if (i)
            sl_buf_append_str(b, "&");
        sl_buf_append_str(b, params[i]);
        free(params[i]);
    }
    free(params);
}

int sl_aws_sigv4_authorization(char **out_authorization, const struct sl_aws_sigv4_request *req,
                               const struct sl_aws_session *creds, struct sl_err *err)
{
    int rc = SL_EINVAL;
    size_t n_all = 0;
    struct canon_header *hs = NULL;
    struct sl_buf canon, sts;
    sl_buf_init(&canon, 0);
    sl_buf_init(&sts, 0);
    unsigned char key[32], tmp[32];
    char *ksecret = NULL;
    size_t ksecret_len = 0;

    if (!req || !creds || !req->method || !*req->method || !req->host || !*req->host ||
        !req->path || req->path[0] != '/' || (req->n_headers && !req->headers) ||
        (req->payload_len && !req->payload) || !creds->secret_access_key) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "SigV4: a field of the request is missing");
        goto done;
    }
    if (!valid_amz_date(req->amz_date)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "SigV4: the date is not YYYYMMDDTHHMMSSZ");
        goto done;
    }
    if (!valid_scope_part(req->region) || !valid_scope_part(req->service)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "SigV4: region and service must be lowercase letters, digits and '-'");
        goto done;
    }
    if (!valid_access_key_id(creds->access_key_id)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "SigV4: the access key id must be letters and digits");
        goto done;
    }

    n_all = req->n_headers + 3;
    hs = sl_xcalloc(n_all, sizeof(*hs));
    size_t nh = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *line = req->headers[i];
        const char *colon = line ? strchr(line, ':') : NULL;
        if (!colon || canon_header_set(&hs[nh++], line, (size_t)(colon - line), colon + 1,
                                       strlen(colon + 1)) != 0) {
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                       "SigV4: header %zu is not a \"Name: value\" line", i + 1);
            goto done;
        }
        if (strcmp(hs[nh - 1].name, "host") == 0 || strcmp(hs[nh - 1].name, "x-amz-date") == 0 ||
            strcmp(hs[nh - 1].name, "x-amz-security-token") == 0 ||
            strcmp(hs[nh - 1].name, "authorization") == 0) {
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                       "SigV4: header %s is set by the signer, not listed", hs[nh - 1].name);
            goto done;
        }
    }
    if (canon_header_set(&hs[nh++], "host", 4, req->host, strlen(req->host)) != 0 ||
        canon_header_set(&hs[nh++], "x-amz-date", 10, req->amz_date, strlen(req->amz_date)) != 0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "SigV4: the host is not one header value");
        goto done;
    }
    if (creds->session_token &&
        canon_header_set(&hs[nh++], "x-amz-security-token", 20, creds->session_token,
                         strlen(creds->session_token)) != 0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "SigV4: the session token is not one header value");
        goto done;
    }
    /* a stable sort: values of a repeated name join in the order given */
    for (size_t i = 1; i < nh; i++)
        for (size_t j = i; j > 0 && strcmp(hs[j - 1].name, hs[j].name) > 0; j--) {
            struct canon_header t = hs[j - 1];
            hs[j - 1] = hs[j];
            hs[j] = t;
        }

    struct sl_buf signed_names;
    sl_buf_init(&signed_names, 0);
    sl_buf_append_str(&canon, req->method);
    sl_buf_append_str(&canon, "\n");
    sl_buf_append_str(&canon, req->path);
    sl_buf_append_str(&canon, "\n");
    canonical_query(&canon, req->query);
    sl_buf_append_str(&canon, "\n");
    for (size_t i = 0; i < nh; i++) {
        int repeat = i > 0 && strcmp(hs[i - 1].name, hs[i].name) == 0;
        if (repeat) {
            sl_buf_append_str(&canon, ",");
        } else {
            if (i > 0) {
                sl_buf_append_str(&canon, "\n");
                sl_buf_append_str(&signed_names, ";");
            }
            sl_buf_append_str(&canon, hs[i].name);
            sl_buf_append_str(&canon, ":");
            sl_buf_append_str(&signed_names, hs[i].name);
        }
        sl_buf_append_str(&canon, hs[i].value);
    }
    char payload_hash[65];
    sha256_hex(payload_hash, req->payload, req->payload_len);
    sl_buf_append_str(&canon, "\n\n");
    sl_buf_append_str(&canon, sl_buf_cstr(&signed_names));
    sl_buf_append_str(&canon, "\n");
    sl_buf_append_str(&canon, payload_hash);

    char date[9];
    memcpy(date, req->amz_date, 8);
    date[8] = '\0';
    char canon_hash[65];
    sha256_hex(canon_hash, canon.data, canon.len);
    char *scope = sl_xasprintf("%s/%s/%s/aws4_request", date, req->region, req->service);
    sl_buf_append_str(&sts, "AWS4-HMAC-SHA256\n");
    sl_buf_append_str(&sts, req->amz_date);
    sl_buf_append_str(&sts, "\n");
    sl_buf_append_str(&sts, scope);
    sl_buf_append_str(&sts, "\n");
    sl_buf_append_str(&sts, canon_hash);

    ksecret = sl_xasprintf("AWS4%s", creds->secret_access_key);
    ksecret_len = strlen(ksecret);
    unsigned char sig[32];
    if (hmac_sha256(key, ksecret, ksecret_len, date) != 0 ||
        hmac_sha256(tmp, key, sizeof(key), req->region) != 0 ||
        hmac_sha256(key, tmp, sizeof(tmp), req->service) != 0 ||
        hmac_sha256(tmp, key, sizeof(key), "aws4_request") != 0 ||
        hmac_sha256(sig, tmp, sizeof(tmp), sl_buf_cstr(&sts)) != 0) {
        sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "SigV4: HMAC-SHA256 failed");
        rc = SL_EFAIL;
        free(scope);
        sl_buf_free(&signed_names);
        goto done;
    }
    char sig_hex[65];
    hex_encode(sig_hex, sig, sizeof(sig));
    *out_authorization =
        sl_xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                     creds->access_key_id, scope, sl_buf_cstr(&signed_names), sig_hex);
    free(scope);
    sl_buf_free(&signed_names);
    rc = 0;
done:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(tmp, sizeof(tmp));
    if (ksecret)
        sl_secure_free(ksecret, ksecret_len + 1);
    if (hs) {
        for (size_t i = 0; i < n_all; i++) {
            free(hs[i].name);
            /* the session token is one of the values */
            sl_secure_free_str(hs[i].value);
        }
        free(hs);
    }
    sl_buf_free(&canon);
    sl_buf_free(&sts);
    return rc;
}

/* ---- STS answers (XML) ---- */

enum sts_field { F_AKID, F_SECRET, F_TOKEN, F_EXPIRATION, F_CODE, F_MESSAGE, F_COUNT };

#define STS_OK_ROOT  "AssumeRoleWithWebIdentityResponse"
#define STS_ERR_ROOT "ErrorResponse"
#define STS_CREDS    STS_OK_ROOT "/AssumeRoleWithWebIdentityResult/Credentials/"

static const char *const sts_paths[F_COUNT] = {
    STS_CREDS "AccessKeyId", STS_CREDS "SecretAccessKey", STS_CREDS "SessionToken",
    STS_CREDS "Expiration",  STS_ERR_ROOT "/Error/Code",  STS_ERR_ROOT "/Error/Message",
};

/* The reader's state: the path of open elements and the values of the fields above. */
struct xml_reader {
    const char *s;
    size_t len, pos;
    char path[XML_DEPTH_MAX * (XML_NAME_MAX + 1) + 1];
    size_t path_len[XML_DEPTH_MAX + 1]; /* path length at each depth */
    int depth;
    int root_done;
    char root[XML_NAME_MAX + 1];
    int capture; /* the field whose element is open, or -1 */
    int seen[F_COUNT];
    struct sl_buf val[F_COUNT];
};

static int xml_fail(struct sl_err *err, const char *what)
{
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer is not a well-formed STS document: %s",
                      what);
}

static int xml_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void xml_skip_space(struct xml_reader *r)
{
    while (r->pos < r->len && xml_is_space(r->s[r->pos]))
        r->pos++;
}

static int xml_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int xml_name_char(char c)
{
    return xml_name_start(c) || is_digit((unsigned char)c) || c == '-' || c == '.' || c == ':';
}

/* Reads a name at r->pos into out (XML_NAME_MAX + 1 bytes). */
static int xml_read_name(struct xml_reader *r, char *out)
{
    size_t n = 0;
    if (r->pos >= r->len || !xml_name_start(r->s[r->pos]))
        return -1;
    while (r->pos < r->len && xml_name_char(r->s[r->pos])) {
        if (n >= XML_NAME_MAX)
            return -1;
        out[n++] = r->s[r->pos++];
    }
    out[n] = '\0';
    return 0;
}

/* Decodes the reference at r->pos ('&') into *c. Only the five predefined entities and
 * character references to printable ASCII (or tab, newline, CR) are accepted. */
static int xml_reference(struct xml_reader *r, char *c)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *p = r->s + r->pos + 1;
    size_t left = r->len - r->pos - 1;
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].name);
        if (left >= n && memcmp(p, named[i].name, n) == 0) {
            *c = named[i].c;
            r->pos += 1 + n;
            return 0;
        }
    }
    if (left < 3 || p[0] != '#')
        return -1;
    int hex = p[1] == 'x';
    size_t i = hex ? 2 : 1;
    unsigned long v = 0;
    size_t digits = 0;
    for (; i < left && p[i] != ';'; i++, digits++) {
        char d = p[i];
        int dv = is_digit((unsigned char)d)    ? d - '0'
                 : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
                 : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10
                                               : -1;
        if (dv < 0 || digits >= 6)
            return -1;
        v = v * (hex ? 16 : 10) + (unsigned long)dv;
    }
    if (i >= left || digits == 0 || v >= 0x7f || (v < 0x20 && v != '\t' && v != '\n' && v != '\r'))
        return -1;
    *c = (char)v;
    r->pos += 1 + i + 1;
    return 0;
}

/* Character data up to the next '<' (or the end): checked, decoded, kept when it is the text of
 * a field's element. */
static int xml_text(struct xml_reader *r, struct sl_err *err)
{
    while (r->pos < r->len && r->s[r->pos] != '<') {
        char c = r->s[r->pos];
        unsigned char u = (unsigned char)c;
        if (c == '&') {
            if (xml_reference(r, &c) != 0)
                return xml_fail(err, "an unknown or malformed reference (&...;)");
        } else {
            if ((u < 0x20 && !xml_is_space(c)) || u == 0x7f)
                return xml_fail(err, "a control character");
            r->pos++;
        }
        if (r->depth == 0) {
            if (!xml_is_space(c))
                return xml_fail(err, "text outside the root element");
        } else if (r->capture >= 0) {
            if (sl_buf_append(&r->val[r->capture], &c, 1) != 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                  "answer's %s is longer than %zu bytes",
                                  strrchr(sts_paths[r->capture], '/') + 1, XML_VALUE_MAX);
        }
    }
    return 0;
}

/* Attributes of a start tag up to '>' or "/>"; *empty is set for "/>". Values are checked, not
 * kept (the only one STS sends is xmlns). */
static int xml_attributes(struct xml_reader *r, int *empty, struct sl_err *err)
{
    char name[XML_NAME_MAX + 1];
    for (;;) {
        size_t before = r->pos;
        xml_skip_space(r);
        if (r->pos >= r->len)
            return xml_fail(err, "the document ends inside a tag");
        if (r->s[r->pos] == '>') {
            r->pos++;
            return 0;
        }
        if (r->s[r->pos] == '/') {
            if (r->pos + 1 >= r->len || r->s[r->pos + 1] != '>')
                return xml_fail(err, "'/' inside a tag");
            r->pos += 2;
            *empty = 1;
            return 0;
        }
        if (r->pos == before || xml_read_name(r, name) != 0)
            return xml_fail(err, "a malformed attribute");
        xml_skip_space(r);
        if (r->pos >= r->len || r->s[r->pos] != '=')
            return xml_fail(err, "an attribute without a value");
        r->pos++;
        xml_skip_space(r);
        if (r->pos >= r->len || (r->s[r->pos] != '"' && r->s[r->pos] != '\''))
            return xml_fail(err, "an unquoted attribute value");
        char q = r->s[r->pos++];
        while (r->pos < r->len && r->s[r->pos] != q) {
            unsigned char u = (unsigned char)r->s[r->pos];
            if (u == '<' || u < 0x20 || u == 0x7f)
                return xml_fail(err, "a malformed attribute value");
            r->pos++;
        }
        if (r->pos >= r->len)
            return xml_fail(err, "the document ends inside an attribute value");
        r->pos++;
    }
}

static int xml_start_tag(struct xml_reader *r, struct sl_err *err)
{
    char name[XML_NAME_MAX + 1];
    r->pos++; /* '<' */
    if (xml_read_name(r, name) != 0)
        return xml_fail(err, "a malformed element name");
    if (r->root_done)
        return xml_fail(err, "an element after the root element");
    if (r->capture >= 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "answer is not a well-formed STS document: %s holds an element",
                          strrchr(sts_paths[r->capture], '/') + 1);
    if (r->depth >= XML_DEPTH_MAX)
        return xml_fail(err, "elements nested too deep");
    int empty = 0;
    int rc = xml_attributes(r, &empty, err);
    if (rc != 0)
        return rc;
    size_t at = r->path_len[r->depth];
    if (r->depth == 0)
        snprintf(r->root, sizeof(r->root), "%s", name);
    else
        r->path[at++] = '/';
    size_t n = strlen(name);
    memcpy(r->path + at, name, n + 1);
    r->depth++;
    r->path_len[r->depth] = at + n;
    for (int f = 0; f < F_COUNT; f++) {
        if (strcmp(r->path, sts_paths[f]) != 0)
            continue;
        if (r->seen[f])
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has %s twice",
                              strrchr(sts_paths[f], '/') + 1);
        r->seen[f] = 1;
        r->capture = f;
    }
    if (empty) {
        r->depth--;
        r->path[r->path_len[r->depth]] = '\0';
        r->capture = -1;
        if (r->depth == 0)
            r->root_done = 1;
    }
    return 0;
}

static int xml_end_tag(struct xml_reader *r, struct sl_err *err)
{
    char name[XML_NAME_MAX + 1];
    r->pos += 2; /* "</" */
    if (xml_read_name(r, name) != 0)
        return xml_fail(err, "a malformed end tag");
    xml_skip_space(r);
    if (r->pos >= r->len || r->s[r->pos] != '>')
        return xml_fail(err, "a malformed end tag");
    r->pos++;
    if (r->depth == 0)
        return xml_fail(err, "an end tag without a start tag");
    size_t start = r->path_len[r->depth - 1] + (r->depth > 1 ? 1 : 0);
    if (strcmp(r->path + start, name) != 0)
        return xml_fail(err, "an end tag that does not match its start tag");
    r->depth--;
    r->path[r->path_len[r->depth]] = '\0';
    r->capture = -1;
    if (r->depth == 0)
        r->root_done = 1;
    return 0;
}

/* What the markup at p ("<!" or "<?") is, for the message refusing it: STS sends none, and a
 * DOCTYPE is how entity expansion attacks begin. */
static const char *xml_markup_refused(const char *p, size_t n)
{
    if (n >= 9 && memcmp(p, "<![CDATA[", 9) == 0)
        return "a CDATA section (not accepted)";
    if (n >= 4 && memcmp(p, "<!--", 4) == 0)
        return "a comment (not accepted)";
    if (p[1] == '?')
        return "a processing instruction (not accepted)";
    return "a DOCTYPE or other declaration (not accepted)";
}

/* Reads the whole document into r's fields. */
static int xml_read(struct xml_reader *r, struct sl_err *err)
{
    if (memchr(r->s, '\0', r->len))
        return xml_fail(err, "a NUL byte");
    xml_skip_space(r);
    /* the XML declaration, the only processing instruction accepted */
    if (r->len - r->pos >= 6 && memcmp(r->s + r->pos, "<?xml", 5) == 0 &&
        xml_is_space(r->s[r->pos + 5])) {
        const char *end = NULL;
        for (size_t i = r->pos + 5; i + 1 < r->len; i++) {
            if (r->s[i] == '<' || r->s[i] == '>')
                break;
            if (r->s[i] == '?' && r->s[i + 1] == '>') {
                end = r->s + i + 2;
                break;
            }
        }
        if (!end)
            return xml_fail(err, "a malformed XML declaration");
        r->pos = (size_t)(end - r->s);
    }
    while (r->pos < r->len) {
        int rc;
        if (r->s[r->pos] != '<')
            rc = xml_text(r, err);
        else if (r->pos + 1 < r->len && r->s[r->pos + 1] == '/')
            rc = xml_end_tag(r, err);
        else if (r->pos + 1 < r->len && (r->s[r->pos + 1] == '!' || r->s[r->pos + 1] == '?'))
            rc = xml_fail(err, xml_markup_refused(r->s + r->pos, r->len - r->pos));
        else
            rc = xml_start_tag(r, err);
        if (rc != 0)
            return rc;
    }
    if (!r->root_done)
        return xml_fail(err, r->depth > 0 ? "the document ends inside an element (truncated?)"
                                          : "no element");
    return 0;
}

/* STS error codes the caller acts on. */
static int sts_error_code(const char *code)
{
    static const char *const auth[] = {"AccessDenied", "InvalidIdentityToken",
                                       "ExpiredTokenException", "IDPRejectedClaim"};
    static const char *const retry[] = {"Throttling", "IDPCommunicationError"};
    for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
        if (strcmp(code, auth[i]) == 0)
            return SL_EAUTH;
    for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
        if (strcmp(code, retry[i]) == 0)
            return SL_ERETRY;
    return SL_EINVAL;
}

/* sl_aws_sts_parse without the "STS " prefix of messages. */
static int sts_parse(struct sl_aws_session *out, const char *xml, size_t len, struct sl_err *err)
{
    struct xml_reader *r = sl_xcalloc(1, sizeof(*r));
    r->s = xml ? xml : "";
    r->len = xml ? len : 0;
    r->capture = -1;
    for (int f = 0; f < F_COUNT; f++) {
        sl_buf_init(&r->val[f], XML_VALUE_MAX);
        r->val[f].wipe = 1;
    }
    int rc = xml_read(r, err);
    if (rc != 0)
        goto done;
    if (strcmp(r->root, STS_ERR_ROOT) == 0) {
        if (!r->seen[F_CODE] || r->val[F_CODE].len == 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "error document without a Code");
            goto done;
        }
        char code[65], msg[MESSAGE_QUOTE_MAX + 1];
        sl_cloudlogin_quote(code, sizeof(code), r->val[F_CODE].data, r->val[F_CODE].len, 64);
        sl_cloudlogin_quote(msg, sizeof(msg), sl_buf_cstr(&r->val[F_MESSAGE]),
                            r->val[F_MESSAGE].len, MESSAGE_QUOTE_MAX);
        rc = sl_err_set(err, sts_error_code(code), SL_ERRC_REGISTRY, "%s: %s", code,
                        msg[0] ? msg : "(no message)");
        goto done;
    }
    if (strcmp(r->root, STS_OK_ROOT) != 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "answer is neither an AssumeRoleWithWebIdentityResponse nor an "
                        "ErrorResponse");
        goto done;
    }
    for (int f = F_AKID; f <= F_EXPIRATION; f++) {
        if (!r->seen[f] || r->val[f].len == 0) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no Credentials/%s",
                            strrchr(sts_paths[f], '/') + 1);
            goto done;
        }
    }
    if (!valid_access_key_id(r->val[F_AKID].data)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "answer's AccessKeyId is not letters and digits");
        goto done;
    }
    /* the secret and the token go into header values and a signature: one printable line */
    for (int f = F_SECRET; f <= F_TOKEN; f++)
        for (size_t i = 0; i < r->val[f].len; i++) {
            unsigned char c = (unsigned char)r->val[f].data[i];
            if (c <= ' ' || c >= 0x7f) {
                rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "answer's %s holds spaces or control characters",
                                strrchr(sts_paths[f], '/') + 1);
                goto done;
            }
        }
    time_t expires = 0;
    if (sl_time_parse_rfc3339(&expires, r->val[F_EXPIRATION].data) != 0 || expires <= 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "answer's Expiration is not an ISO 8601 time");
        goto done;
    }
    memset(out, 0, sizeof(*out));
    out->access_key_id = sl_buf_steal(&r->val[F_AKID], NULL);
    out->secret_access_key = sl_buf_steal(&r->val[F_SECRET], NULL);
    out->session_token = sl_buf_steal(&r->val[F_TOKEN], NULL);
    out->expires_unix = (int64_t)expires;
    rc = 0;
done:
    for (int f = 0; f < F_COUNT; f++)
        sl_buf_secure_free(&r->val[f]);
    OPENSSL_cleanse(r, sizeof(*r));
    free(r);
    return rc;
}

int sl_aws_sts_parse(struct sl_aws_session *out, const char *xml, size_t len, struct sl_err *err)
{
    int rc = sts_parse(out, xml, len, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "STS");
    return rc;
}

/* ---- ECR answers (JSON) ---- */

static int ecr_error_code(const char *type)
{
    if (strcmp(type, "AccessDeniedException") == 0 ||
        strcmp(type, "UnrecognizedClientException") == 0)
        return SL_EAUTH;
    if (strcmp(type, "ThrottlingException") == 0)
        return SL_ERETRY;
    return SL_EINVAL;
}

/* sl_aws_ecr_token_parse without the "ECR " prefix of messages. */
static int ecr_token_parse(struct sl_creds *out, int64_t *expires_unix, const char *json,
                           size_t len, struct sl_err *err)
{
    int rc = SL_EINVAL;
    unsigned char *plain = NULL;
    size_t plain_len = 0;
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    json_t *token = NULL;
    if (!root || !json_is_object(root)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "answer is not a JSON object");
        goto done;
    }
    json_t *type = json_object_get(root, "__type");
    if (type) {
        const char *t = json_is_string(type) ? json_string_value(type) : "";
        const char *hash = strrchr(t, '#');
        if (hash)
            t = hash + 1;
        json_t *m = json_object_get(root, "message");
        if (!m)
            m = json_object_get(root, "Message");
        char tq[65], msg[MESSAGE_QUOTE_MAX + 1] = "";
        sl_cloudlogin_quote(tq, sizeof(tq), t, strlen(t), 64);
        if (json_is_string(m))
            sl_cloudlogin_quote(msg, sizeof(msg), json_string_value(m), json_string_length(m),
                                MESSAGE_QUOTE_MAX);
        if (!tq[0]) {
            sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "error document without a type");
            goto done;
        }
        rc = sl_err_set(err, ecr_error_code(tq), SL_ERRC_REGISTRY, "%s: %s", tq,
                        msg[0] ? msg : "(no message)");
        goto done;
    }
    json_t *data = json_object_get(root, "authorizationData");
    json_t *entry = json_is_array(data) ? json_array_get(data, 0) : NULL;
    if (!json_is_object(entry)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no authorizationData entry");
        goto done;
    }
    token = json_object_get(entry, "authorizationToken");
    json_t *exp = json_object_get(entry, "expiresAt");
    if (!json_is_string(token) || json_string_length(token) == 0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no authorizationToken");
        goto done;
    }
    if (!json_is_number(exp)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer has no expiresAt number");
        goto done;
    }
    double when = json_number_value(exp);
    /* epoch seconds between 1970 and the year 33658 */
    if (!isfinite(when) || when < 1 || when >= 1e12) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer's expiresAt is not a time");
        goto done;
    }
    if (json_string_length(token) > TOKEN_MAX) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer's authorizationToken is longer than %zu",
                   TOKEN_MAX);
        goto done;
    }
    if (sl_base64_decode(&plain, &plain_len, json_string_value(token), json_string_length(token)) !=
        0) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "answer's authorizationToken is not base64");
        goto done;
    }
    const unsigned char *colon = memchr(plain, ':', plain_len);
    if (!colon || colon == plain || memchr(plain, '\0', plain_len)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "answer's authorizationToken is not base64 of USER:PASSWORD");
        goto done;
    }
    memset(out, 0, sizeof(*out));
    out->username = sl_xstrndup((const char *)plain, (size_t)(colon - plain));
    out->password = sl_xstrndup((const char *)colon + 1, plain_len - (size_t)(colon - plain) - 1);
    *expires_unix = (int64_t)when;
    rc = 0;
done:
    if (plain)
        sl_secure_free(plain, plain_len + 1);
    sl_cloudlogin_json_wipe(token);
    json_decref(root);
    return rc;
}

int sl_aws_ecr_token_parse(struct sl_creds *out, int64_t *expires_unix, const char *json,
                           size_t len, struct sl_err *err)
{
    int rc = ecr_token_parse(out, expires_unix, json, len, err);
    if (rc != 0)
        sl_cloudlogin_name_service(err, "ECR");
    return rc;
}

/* ---- endpoints and configuration ---- */

int sl_aws_config_from_env(struct sl_aws_config *cfg, struct sl_err *err)
{
    struct sl_aws_config c;
    memset(&c, 0, sizeof(c));
    int rc;
    if ((rc = sl_cloudlogin_env_endpoint(&c.sts_endpoint, "AWS_ENDPOINT_URL_STS", err)) != 0 ||
        (rc = sl_cloudlogin_env_endpoint(&c.ecr_endpoint, "AWS_ENDPOINT_URL_ECR", err)) != 0 ||
        (rc = sl_cloudlogin_env_ca_bundle(&c.ca_pem, "AWS_CA_BUNDLE", err)) != 0) {
        sl_aws_config_clear(&c);
        return rc;
    }
    *cfg = c;
    return 0;
}

void sl_aws_config_clear(struct sl_aws_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->sts_endpoint);
    free(cfg->ecr_endpoint);
    free(cfg->ca_pem);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the login ---- */

static int valid_session_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && !strchr("+=,.@_-", s[i]))
            return 0;
    return 1;
}

/* "SERVICE URL" naming endpoint e in messages (without the root's '/'). */
static char *endpoint_where(const char *service, const struct sl_cloudlogin_endpoint *e)
{
    return sl_xasprintf("%s %.*s", service, (int)strlen(e->url) - 1, e->url);
}

static int64_t timeout_of(const struct sl_aws_config *cfg)
{
    return cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
}

static int assume_role(struct sl_aws_session *out, struct sl_transport *t,
                       const struct sl_aws_config *cfg, const struct sl_cloudlogin_endpoint *e,
                       const char *role_arn, const char *session_name, const char *token,
                       struct sl_err *err)
{
    char *arn_q = sl_http_escape(role_arn);
    char *name_q = sl_http_escape(session_name);
    char *token_q = sl_http_escape(token);
    char *body = sl_xasprintf("Action=AssumeRoleWithWebIdentity&Version=" STS_API_VERSION
                              "&RoleArn=%s&RoleSessionName=%s&WebIdentityToken=%s"
                              "&DurationSeconds=3600",
                              arn_q, name_q, token_q);
    sl_secure_free_str(token_q);
    free(arn_q);
    free(name_q);
    const char *headers[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        "Accept: application/xml",
    };
    struct sl_cloudlogin_answer a;
    long status = 0;
    char *where = endpoint_where("STS", e);
    int rc = sl_cloudlogin_post(&a, &status, t, where, e->url, headers, 2, body, timeout_of(cfg),
                                SL_AWS_ANSWER_MAX, err);
    sl_secure_free_str(body);
    if (rc != 0)
        goto done;
    struct sl_err perr = {0};
    struct sl_aws_session s;
    int prc = sts_parse(&s, sl_buf_cstr(&a.body), a.body.len, &perr);
    rc = sl_cloudlogin_outcome(err, where, status, prc, &perr, 0);
    if (rc == 0)
        *out = s;
    else if (prc == 0)
        sl_aws_session_clear(&s); /* credentials with an error status are not used */
done:
    sl_cloudlogin_answer_clear(&a);
    free(where);
    return rc;
}

static int get_ecr_token(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *t,
                         const struct sl_aws_config *cfg, const struct sl_cloudlogin_endpoint *e,
                         const char *region, const struct sl_aws_session *s, int64_t now_unix,
                         struct sl_err *err)
{
    static const char body[] = "{}";
    char amz_date[17];
    struct tm tm;
    time_t now = (time_t)now_unix;
    if (!gmtime_r(&now, &tm) || strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "ECR: the time to sign is out of range");
    const char *signed_headers[] = {
        "Content-Type: application/x-amz-json-1.1",
        "X-Amz-Target: " ECR_TARGET,
    };
    struct sl_aws_sigv4_request req = {
        .method = "POST",
        .host = e->host,
        .path = "/",
        .headers = signed_headers,
        .n_headers = 2,
        .payload = body,
        .payload_len = strlen(body),
        .region = region,
        .service = "ecr",
        .amz_date = amz_date,
    };
    char *authz = NULL;
    int rc = sl_aws_sigv4_authorization(&authz, &req, s, err);
    if (rc != 0) {
        sl_err_prefix(err, "ECR");
        return rc;
    }
    char *date_h = sl_xasprintf("X-Amz-Date: %s", amz_date);
    char *authz_h = sl_xasprintf("Authorization: %s", authz);
    char *token_h =
        s->session_token ? sl_xasprintf("X-Amz-Security-Token: %s", s->session_token) : NULL;
    const char *headers[] = {
        signed_headers[0], signed_headers[1], "Accept: application/json", date_h, authz_h, token_h};
    struct sl_cloudlogin_answer a;
    long status = 0;
    char *where = endpoint_where("ECR", e);
    rc = sl_cloudlogin_post(&a, &status, t, where, e->url, headers, token_h ? 6 : 5, body,
                            timeout_of(cfg), SL_AWS_ANSWER_MAX, err);
    free(authz);
    free(date_h);
    sl_secure_free_str(token_h);
    free(authz_h);
    if (rc != 0)
        goto done;
    struct sl_err perr = {0};
    struct sl_creds c;
    int64_t exp = 0;
    int prc = ecr_token_parse(&c, &exp, sl_buf_cstr(&a.body), a.body.len, &perr);
    rc = sl_cloudlogin_outcome(err, where, status, prc, &perr, 0);
    if (rc == 0) {
        *out = c;
        *expires_unix = exp;
    } else if (prc == 0) {
        sl_creds_free(&c);
    }
done:
    sl_cloudlogin_answer_clear(&a);
    free(where);
    return rc;
}

int sl_aws_ecr_login(struct sl_creds *out, int64_t *expires_unix, struct sl_transport *t,
                     const struct sl_aws_config *cfg, const struct sl_aws_ecr_host *host,
                     const char *role_arn, const char *session_name, const char *web_identity_token,
                     int64_t now_unix, struct sl_err *err)
{
    struct sl_cloudlogin_endpoint sts = {0}, ecr = {0};
    struct sl_aws_session s = {0};
    char *sts_url = NULL, *ecr_url = NULL;
    int rc;
    if (!out || !expires_unix || !t || !host || !valid_scope_part(host->region)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "AWS login: no registry host");
        goto done;
    }
    rc = sl_aws_role_arn_check(role_arn, err);
    if (rc != 0)
        goto done;
    if (!valid_session_name(session_name)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "AWS login: the role session name must be 2-64 of A-Za-z0-9+=,.@_-");
        goto done;
    }
    if (!sl_cloudlogin_jwt_valid(web_identity_token, TOKEN_MAX)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "AWS login: the web identity token is not a JWT of at most %zu bytes",
                        TOKEN_MAX);
        goto done;
    }
    const char *suffix = host->china ? "amazonaws.com.cn" : "amazonaws.com";
    sts_url = cfg && cfg->sts_endpoint
                  ? sl_xstrdup(cfg->sts_endpoint)
                  : sl_xasprintf("https://%s.%s.%s", host->fips ? "sts-fips" : "sts", host->region,
                                 suffix);
    ecr_url = cfg && cfg->ecr_endpoint
                  ? sl_xstrdup(cfg->ecr_endpoint)
                  : sl_xasprintf("https://%s.%s.%s", host->fips ? "api.ecr-fips" : "api.ecr",
                                 host->region, suffix);
    rc = sl_cloudlogin_endpoint_parse(&sts, sts_url, "AWS_ENDPOINT_URL_STS", err);
    if (rc == 0)
        rc = sl_cloudlogin_endpoint_parse(&ecr, ecr_url, "AWS_ENDPOINT_URL_ECR", err);
    if (rc != 0)
        goto done;
    rc = assume_role(&s, t, cfg, &sts, role_arn, session_name, web_identity_token, err);
    if (rc != 0)
        goto done;
    struct sl_creds c;
    int64_t ecr_expires = 0;
    rc = get_ecr_token(&c, &ecr_expires, t, cfg, &ecr, host->region, &s, now_unix, err);
    if (rc != 0)
        goto done;
    *out = c;
    /* the registry password outlives the role session only on paper: renew at the earlier */
    *expires_unix =
        s.expires_unix > 0 && s.expires_unix < ecr_expires ? s.expires_unix : ecr_expires;
done:
    sl_aws_session_clear(&s);
    sl_cloudlogin_endpoint_clear(&sts);
    sl_cloudlogin_endpoint_clear(&ecr);
    free(sts_url);
    free(ecr_url);
    return rc;
}
