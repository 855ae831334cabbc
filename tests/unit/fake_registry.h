/* An in-memory OCI distribution registry behind a fake HTTP transport (http/transport.h), for
 * unit tests of the registry client and everything above it (copy engine, cosign) without a
 * network. Every host answers from one store, keyed by host and repository; no authentication
 * (GET /v2/ answers 200). Serves: manifests (GET/HEAD/PUT by tag or digest), blobs (GET/HEAD),
 * uploads (POST with ?mount=&from= or a new session, PATCH, PUT ?digest= verified against the
 * content), referrers (404), and the relay of a blob stream (GET into PUT).
 *
 * Not thread-safe beyond one lock around everything: fine for the copy engine's workers. */
#ifndef SL_TEST_FAKE_REGISTRY_H
#define SL_TEST_FAKE_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct sl_fake_registry;
struct sl_transport;

struct sl_fake_registry *sl_fake_registry_new(void);
void sl_fake_registry_free(struct sl_fake_registry *fr);

/* The transport to hand to sl_registry_opts.transport (owned by fr). */
struct sl_transport *sl_fake_registry_transport(struct sl_fake_registry *fr);

/* Stores a blob in host/repo; digest_out (72 bytes) gets its digest. */
void sl_fake_registry_put_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                               const void *data, size_t len, char digest_out[72]);

/* Stores a manifest in host/repo by digest, and under tag when not NULL. */
void sl_fake_registry_put_manifest(struct sl_fake_registry *fr, const char *host, const char *repo,
                                   const char *tag, const char *media_type, const char *json,
                                   char digest_out[72]);

/* The manifest host/repo:reference (tag or digest), borrowed, or NULL. */
const char *sl_fake_registry_manifest(struct sl_fake_registry *fr, const char *host,
                                      const char *repo, const char *reference);

/* Whether host/repo holds the blob. */
bool sl_fake_registry_has_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                               const char *digest);

/* Serves other bytes than the stored ones for that blob from now on (a tampering registry). */
void sl_fake_registry_tamper_blob(struct sl_fake_registry *fr, const char *host, const char *repo,
                                  const char *digest);

/* The next `times` requests whose "METHOD path" contains match answer status (with a
 * distribution error body). */
void sl_fake_registry_fail(struct sl_fake_registry *fr, const char *match, long status, int times);

/* Every request so far as "METHOD host/path" (query left off), borrowed. */
const json_t *sl_fake_registry_log(struct sl_fake_registry *fr);

/* How many logged requests contain s. */
int sl_fake_registry_count(struct sl_fake_registry *fr, const char *s);

#endif
