#include "registry_fixture.h"

#include "oci/manifest.h"

struct sl_registry *sl_test_registry_client(struct sl_fake_registry *fr, const char *host)
{
    struct sl_registry_opts o = {
        .transport = sl_fake_registry_transport(fr), .backoff_base_ms = 1, .backoff_max_ms = 2};
    return sl_registry_new(host, NULL, &o);
}

void sl_test_put_image(struct sl_fake_registry *fr, const char *host, const char *repo,
                       const char *tag, char digest_out[72])
{
    sl_fake_registry_put_manifest(fr, host, repo, tag, SL_MT_OCI_MANIFEST,
                                  "{\"schemaVersion\":2,\"mediaType\":\"" SL_MT_OCI_MANIFEST
                                  "\",\"config\":{\"mediaType\":\"application/"
                                  "vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
                                  "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
                                  "\",\"size\":2},\"layers\":[]}",
                                  digest_out);
}
