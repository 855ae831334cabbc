/* Real registry operations for the ImageDelivery reconciler and the client cache (regops.h). */
#include "imagedelivery/regops.h"

#include "oci/manifest.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_CLIENTS 256
#define DEFAULT_IDLE_MS     (30 * 60 * 1000)

struct cache_entry {
    /* the whole identity, never cut: host|http,tls-verify|sha256(creds)|sha256(ca, client
     * certificate and key)|read cache ms, no secret in it (two tenants whose keys shared a prefix
     * would otherwise share credentials) */
    char *key;
    struct sl_registry *reg;
    int refs;
    int64_t last_used_ms;
};

struct sl_imd_registry_cache {
    pthread_mutex_t lock; /* guards entries: reconciles run on several workers */
    struct cache_entry *entries;
    size_t n, cap, max;
    int64_t idle_ms;
};

struct sl_imd_registry_cache *sl_imd_registry_cache_new(size_t max_clients, int64_t idle_ms)
{
    struct sl_imd_registry_cache *c = sl_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->max = max_clients ? max_clients : DEFAULT_MAX_CLIENTS;
    c->idle_ms = idle_ms > 0 ? idle_ms : DEFAULT_IDLE_MS;
    return c;
}

void sl_imd_registry_cache_free(struct sl_imd_registry_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        sl_registry_free(c->entries[i].reg);
        free(c->entries[i].key);
    }
    free(c->entries);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t sl_imd_registry_cache_size(struct sl_imd_registry_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Hex SHA-256 of the concatenated strings (NUL-separated) into out[65]; "-" for all NULL. */
static void hash_strings(char out[65], const char *a, const char *b, const char *d)
{
    if (!a && !b && !d) {
        snprintf(out, 65, "-");
        return;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int hl = 0;
    const char *parts[3] = {a, b, d};
    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (int i = 0; i < 3; i++) {
        const char *p = parts[i] ? parts[i] : "";
        EVP_DigestUpdate(md, p, strlen(p) + 1);
    }
    EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Drops idle or surplus clients nobody holds. Called with the lock held. */
static void evict_locked(struct sl_imd_registry_cache *c, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct cache_entry *e = &c->entries[i];
        if (e->refs == 0 && now - e->last_used_ms > c->idle_ms) {
            sl_registry_free(e->reg);
            free(e->key);
            continue;
        }
        c->entries[w++] = *e;
    }
    c->n = w;
    while (c->n >= c->max) {
        size_t victim = c->n;
        for (size_t i = 0; i < c->n; i++) {
            if (c->entries[i].refs == 0 &&
                (victim == c->n || c->entries[i].last_used_ms < c->entries[victim].last_used_ms))
                victim = i;
        }
        if (victim == c->n)
            return; /* every client is in use: grow past the cap rather than block */
        sl_registry_free(c->entries[victim].reg);
        free(c->entries[victim].key);
        c->entries[victim] = c->entries[--c->n];
    }
}

static struct sl_registry *cache_open(void *ctx, const char *host, const struct sl_creds *creds,
                                      const struct sl_registry_opts *opts)
{
    struct sl_imd_registry_cache *c = ctx;
    char ch[65], cah[65];
    hash_strings(ch, creds ? creds->username : NULL, creds ? creds->password : NULL,
                 creds ? creds->identity_token : NULL);
    hash_strings(cah, opts ? opts->ca_pem : NULL, opts ? opts->client_cert_pem : NULL,
                 opts ? opts->client_key_pem : NULL);
    /* a client that keeps read answers is never one that writes without them */
    int tls = opts ? (opts->insecure ? 3 : 0) | (opts->allow_http ? 1 : 0) |
                         (opts->skip_tls_verify ? 2 : 0)
                   : 0;
    char *key = sl_xasprintf("%s|%d|%s|%s|%lld", host, tls, ch, cah,
                             opts ? (long long)opts->read_cache_ms : 0LL);
    int64_t now = sl_mono_ms();
    struct sl_registry *r = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].key, key) == 0) {
            c->entries[i].refs++;
            c->entries[i].last_used_ms = now;
            r = c->entries[i].reg;
            break;
        }
    }
    if (!r) {
        evict_locked(c, now);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16;
            c->entries = sl_xrealloc(c->entries, c->cap * sizeof(*c->entries));
        }
        r = sl_registry_new(host, creds, opts);
        struct cache_entry *e = &c->entries[c->n++];
        memset(e, 0, sizeof(*e));
        e->key = key;
        key = NULL;
        e->reg = r;
        e->refs = 1;
        e->last_used_ms = now;
    }
    pthread_mutex_unlock(&c->lock);
    free(key);
    return r;
}

static void cache_release(void *ctx, struct sl_registry *r)
{
    struct sl_imd_registry_cache *c = ctx;
    if (!r)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (c->entries[i].reg == r) {
            if (c->entries[i].refs > 0)
                c->entries[i].refs--;
            c->entries[i].last_used_ms = sl_mono_ms();
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static int real_head(void *ctx, char digest_out[72], struct sl_registry *r, const char *repo,
                     const char *reference, struct sl_err *err)
{
    (void)ctx;
    return sl_registry_manifest_head(digest_out, NULL, r, repo, reference, err);
}

static int real_tags(void *ctx, char ***tags_out, size_t *n_out, struct sl_registry *r,
                     const char *repo, struct sl_err *err)
{
    (void)ctx;
    return sl_registry_tags_list(tags_out, n_out, r, repo, 0, err);
}

static int real_manifest(void *ctx, struct sl_registry_manifest *out, struct sl_registry *r,
                         const char *repo, const char *reference, struct sl_err *err)
{
    (void)ctx;
    return sl_registry_manifest_get(out, r, repo, reference, err);
}

static int real_copy(void *ctx, struct sl_copy_result *out, struct sl_registry *src_reg,
                     const struct sl_ref *src, struct sl_registry *dst_reg,
                     const struct sl_ref *dst, const struct sl_copy_opts *opts, struct sl_err *err)
{
    (void)ctx;
    return sl_copy_image_refs(out, src_reg, src, dst_reg, dst, opts, err);
}

static int real_verify(void *ctx, struct sl_cosign_verify_result *out, struct sl_registry *r,
                       const char *repo, const char *digest, const struct sl_key *const *keys,
                       size_t nkeys, struct sl_err *err)
{
    (void)ctx;
    return sl_cosign_verify(out, r, repo, digest, keys, nkeys, err);
}

static int real_copy_signatures(void *ctx, size_t *copied, struct sl_registry *src,
                                const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                                const char *digest, struct sl_err *err)
{
    (void)ctx;
    return sl_cosign_copy_signatures(copied, src, src_repo, dst, dst_repo, digest, err);
}

static int real_sign(void *ctx, struct sl_cosign_sign_result *out, struct sl_registry *r,
                     const char *repo, const char *docker_reference, const char *digest,
                     const struct sl_key *key, struct sl_err *err)
{
    (void)ctx;
    return sl_cosign_sign(out, r, repo, docker_reference, digest, key, err);
}

static int real_sign_bundle(void *ctx, int *added, struct sl_registry *r, const char *repo,
                            const char *digest, const struct sl_key *key, struct sl_err *err)
{
    (void)ctx;
    return sl_bundle_sign(added, r, repo, digest, key, err);
}

static int real_copy_referrers(void *ctx, struct sl_referrers_result *out, struct sl_registry *src,
                               const char *src_repo, struct sl_registry *dst, const char *dst_repo,
                               const char *digest, const struct sl_referrers_opts *opts,
                               struct sl_err *err)
{
    (void)ctx;
    return sl_referrers_copy(out, src, src_repo, dst, dst_repo, digest, opts, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int real_referrers_digest(void *ctx, char digest_out[72], struct sl_registry *r,
                                 const char *repo, const char *digest, struct sl_err *err)
{
    (void)ctx;
    char *index = NULL;
    size_t len = 0;
    int rc = sl_registry_referrers(&index, &len, r, repo, digest, NULL, err);
    if (rc)
        return rc;
    /* registries list referrers in any order (some in a different one on every answer): the
     * sorted digests say whether the set changed */
    json_error_t jerr;
    json_t *idx = json_loadb(index, len, 0, &jerr);
    const json_t *manifests = json_object_get(idx, "manifests");
    size_t n = json_array_size(manifests);
    const char **digests = sl_xmalloc((n ? n : 1) * sizeof(*digests));
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        const char *d = json_string_value(json_object_get(json_array_get(manifests, i), "digest"));
        if (d)
            digests[nd++] = d;
    }
    qsort(digests, nd, sizeof(*digests), cmp_str);
    struct sl_buf b;
    sl_buf_init(&b, SL_BUF_DEFAULT_MAX);
    for (size_t i = 0; i < nd; i++) {
        sl_buf_append(&b, digests[i], strlen(digests[i]));
        sl_buf_append(&b, "\n", 1);
    }
    sl_digest_sha256(digest_out, b.len ? sl_buf_cstr(&b) : "", b.len);
    sl_buf_free(&b);
    free(digests);
    json_decref(idx);
    free(index);
    return 0;
}

void sl_imd_registry_ops_real(struct sl_imd_registry_ops *ops, struct sl_imd_registry_cache *c)
{
    *ops = (struct sl_imd_registry_ops){
        .ctx = c,
        .open = cache_open,
        .release = cache_release,
        .head = real_head,
        .tags = real_tags,
        .manifest = real_manifest,
        .copy = real_copy,
        .verify = real_verify,
        .copy_signatures = real_copy_signatures,
        .sign = real_sign,
        .sign_bundle = real_sign_bundle,
        .referrers_digest = real_referrers_digest,
        .copy_referrers = real_copy_referrers,
    };
}
