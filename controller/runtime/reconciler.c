/* The reconciler contract (see reconciler.h). */
#include "runtime/reconciler.h"

#include <stddef.h>

void sl_reconciler_free(struct sl_reconciler *r)
{
    if (r != NULL && r->free != NULL)
        r->free(r->self);
}

void sl_runtime_event(const struct sl_runtime *rt, const json_t *obj, const char *type,
                      const char *reason, const char *message)
{
    if (rt != NULL && rt->record_event != NULL && obj != NULL)
        rt->record_event(rt->event_ctx, obj, type, reason, message);
}
