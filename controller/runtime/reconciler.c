/* The reconciler contract (see reconciler.h). */
#include "runtime/reconciler.h"

#include <stddef.h>

void sl_reconciler_free(struct sl_reconciler *r)
{
    if (r != NULL && r->free != NULL)
        r->free(r->self);
}
