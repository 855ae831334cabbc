/* What the tests that work on images in the in-memory registry (fake_registry.h) share: a
 * client through its transport, and an image to sign, attest or verify. */
#ifndef SL_TEST_REGISTRY_FIXTURE_H
#define SL_TEST_REGISTRY_FIXTURE_H

#include "fake_registry.h"
#include "oci/registry.h"

/* A client of host through fr's transport that retries after 1-2 ms, so tests of failing
 * requests stay fast. The caller frees it (sl_registry_free) before fr. */
struct sl_registry *sl_test_registry_client(struct sl_fake_registry *fr, const char *host);

/* Stores an OCI image manifest in host/repo under tag (config: the 2-byte "{}" blob, no
 * layers; the blobs themselves are not stored, as signatures and attestations never read
 * them); digest_out (72 bytes) gets the manifest's digest. */
void sl_test_put_image(struct sl_fake_registry *fr, const char *host, const char *repo,
                       const char *tag, char digest_out[72]);

#endif
