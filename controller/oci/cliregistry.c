#include "oci/cliregistry.h"

#include <string.h>

/* The flag names and environment variable of each side, in enum sl_cli_registry_side order. */
static const struct {
    const char *creds, *creds_file, *insecure, *env;
} side_names[] = {
    {"--creds", "--creds-file", "--insecure", "SEALIFT_CREDS"},
    {"--src-creds", "--src-creds-file", "--src-insecure", "SEALIFT_SRC_CREDS"},
    {"--dest-creds", "--dest-creds-file", "--dest-insecure", "SEALIFT_DEST_CREDS"},
};

void sl_cli_registry_init(struct sl_cli_registry *r, enum sl_cli_registry_side side)
{
    memset(r, 0, sizeof(*r));
    r->side = side;
    r->creds.flag_name = side_names[side].creds;
    r->creds.file_name = side_names[side].creds_file;
    r->creds.env_name = side_names[side].env;
    r->insecure_flag = side_names[side].insecure;
}

int sl_cli_registry_option(struct sl_cli_registry *r, int opt, const char *arg)
{
    if (opt == SL_CLI_REGISTRY_OPTVAL(r->side, 0))
        r->creds.flag = arg;
    else if (opt == SL_CLI_REGISTRY_OPTVAL(r->side, 1))
        r->creds.file = arg;
    else if (opt == SL_CLI_REGISTRY_OPTVAL(r->side, 2))
        r->insecure = 1;
    else
        return 0;
    return 1;
}

int sl_cli_registry_resolve(struct sl_cli_registry_creds *out, const struct sl_cli_registry *r,
                            const char *registry, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = sl_cli_creds_resolve(&out->creds, &out->have, &r->creds, registry, err);
    if (rc)
        return rc;
    sl_cli_creds_hint(out->hint, sizeof(out->hint), &r->creds, out->have);
    return 0;
}

void sl_cli_registry_creds_free(struct sl_cli_registry_creds *c)
{
    if (!c)
        return;
    sl_creds_free(&c->creds);
    c->have = 0;
}

struct sl_registry_opts sl_cli_registry_client_opts(const struct sl_cli_registry *r,
                                                    const struct sl_cli_registry_creds *c)
{
    struct sl_registry_opts o;
    memset(&o, 0, sizeof(o));
    o.insecure = r->insecure;
    o.insecure_flag = r->insecure_flag;
    o.creds_hint = c->hint;
    return o;
}

int sl_cli_registry_connect(struct sl_registry **out, struct sl_ref *ref, const char *image,
                            const struct sl_cli_registry *r, const struct sl_registry_opts *base,
                            struct sl_err *err)
{
    struct sl_ref parsed;
    struct sl_cli_registry_creds c;
    memset(&parsed, 0, sizeof(parsed));
    memset(&c, 0, sizeof(c));
    int rc = sl_ref_parse(&parsed, image, err);
    if (rc)
        goto done;
    rc = sl_cli_registry_resolve(&c, r, parsed.registry, err);
    if (rc)
        goto done;
    struct sl_registry_opts o = sl_cli_registry_client_opts(r, &c);
    if (base) {
        struct sl_registry_opts b = *base;
        b.insecure = o.insecure;
        b.insecure_flag = o.insecure_flag;
        b.creds_hint = o.creds_hint;
        o = b;
    }
    *out = sl_registry_new(sl_ref_api_host(&parsed), c.have ? &c.creds : NULL, &o);
    *ref = parsed;
    memset(&parsed, 0, sizeof(parsed));
done:
    sl_ref_free(&parsed);
    sl_cli_registry_creds_free(&c);
    return rc;
}
