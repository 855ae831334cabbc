/* A short-lived memory of one registry client's read answers: manifests (GET and HEAD, by tag or
 * digest) and referrers indexes, found or not found. A controller delivering one vendor image to
 * many customers reads the same source manifests, signatures and referrers for every delivery;
 * with this cache on the source client, the registry answers them once per time-to-live instead
 * of once per delivery and target.
 *
 * Only answers are kept (200, and 404 as "not found"); errors never are. Entries expire after
 * the time-to-live; a write through the client to a repository (a manifest PUT) forgets that
 * repository's entries at once. Bounded by entry count and by bytes kept. Thread-safe.
 *
 * The registry client (oci/registry.c) is the only user: sl_registry_opts.read_cache_ms turns
 * it on for a client. */
#ifndef SL_OCI_READCACHE_H
#define SL_OCI_READCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a read answered. data is NULL for a HEAD (digest and media type only) and for "not
 * found"; msg is the not-found error line to give again. */
struct sl_read_answer {
    bool found;
    char digest[72];
    char *media_type; /* or NULL */
    char *data;       /* NUL-terminated, or NULL */
    size_t len;
    int flag;  /* the reader's own bit (referrers: the answer came from the referrers API) */
    char *msg; /* not found: the error message; else NULL */
};

/* Frees what the answer holds (not the struct). NULL is a no-op. */
void sl_read_answer_free(struct sl_read_answer *a);

struct sl_read_cache;

/* A cache keeping answers for ttl_ms (> 0), at most max_entries of them (0 = 256) holding at most
 * max_bytes of data (0 = 4 MiB; a larger answer is not kept). Free with sl_read_cache_free. */
struct sl_read_cache *sl_read_cache_new(int64_t ttl_ms, size_t max_entries, size_t max_bytes);
void sl_read_cache_free(struct sl_read_cache *c);

/* Looks up the answer of kind ("manifest", "referrers", ...) for repo and key at now_ms. With
 * need_data, an entry without data (kept from a HEAD) does not count, unless it is a "not
 * found". Returns true and fills *out (the caller's, sl_read_answer_free) on a hit. */
bool sl_read_cache_get(struct sl_read_cache *c, struct sl_read_answer *out, const char *kind,
                       const char *repo, const char *key, bool need_data, int64_t now_ms);

/* Keeps a copy of answer for kind/repo/key from now_ms on, replacing an older one (an answer
 * without data does not replace one with data for the same digest). */
void sl_read_cache_put(struct sl_read_cache *c, const char *kind, const char *repo, const char *key,
                       const struct sl_read_answer *answer, int64_t now_ms);

/* Forgets every answer about repo (it was just written to). */
void sl_read_cache_forget_repo(struct sl_read_cache *c, const char *repo);

/* Number of answers kept (for tests). */
size_t sl_read_cache_size(struct sl_read_cache *c);

#endif
