/* Weak fallbacks for sl_reconcilers_all and sl_reconcilers_setup_servers (see registry.h);
 * reconcilers/registry.c overrides them. Also the controller settings store. */
#include "runtime/registry.h"

#include <stdlib.h>

__attribute__((weak)) int sl_reconcilers_all(struct sl_reconciler ***out, size_t *n,
                                             struct sl_err *err)
{
    (void)err;
    *out = NULL;
    *n = 0;
    return 0;
}

__attribute__((weak)) int sl_reconcilers_setup_servers(struct sl_manager *m,
                                                       struct sl_http_server *metrics,
                                                       struct sl_http_server *webhook,
                                                       struct sl_err *err)
{
    (void)m;
    (void)metrics;
    (void)webhook;
    (void)err;
    return 0;
}

__attribute__((weak)) void sl_reconcilers_teardown(void)
{
}

static struct sl_controller_config controller_config;

void sl_controller_config_set(const struct sl_controller_config *cfg)
{
    controller_config = *cfg;
}

const struct sl_controller_config *sl_controller_config_get(void)
{
    return &controller_config;
}
