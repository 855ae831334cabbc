/* libFuzzer harness: in-toto statements (the payload of an attestation's DSSE envelope) and the
 * vulnerability report inside a vuln predicate, as a registry or a signer may serve them. */
#include "sign/attestation.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_attestation a = {0};
    struct sl_err err = {0};
    /* the digest the seed statements name, so well-formed inputs reach every check */
    if (sl_attestation_parse_statement(
            &a, (const char *)data, size,
            "sha256:d8c12311427eafce903a1ec1420bece0050149291ada3673d00e51f7bfe26d66", &err) != 0)
        return 0;
    struct sl_attestation_requirement req = {.max_age_ms = 3600 * 1000, .threshold = 3};
    sl_attestation_type_parse(&req.type, "vuln", &err);
    struct sl_attestation_decision d;
    sl_attestation_judge(&d, &a, &req, 1800000000);
    sl_attestation_clear(&a);
    return 0;
}
