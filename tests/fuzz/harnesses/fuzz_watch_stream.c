/* libFuzzer harness: splitting a watch stream into events (controller/kube/client.c). The input
 * is fed in two pieces, split at a point taken from its first byte. */
#include "kube/client.h"
#include "kube/internal.h"

#include <stdint.h>

static int count_events(void *ctx, enum sl_watch_event_type type, json_t *obj)
{
    (void)type;
    (void)obj;
    (*(unsigned long *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned long events = 0;
    struct sl_kube_watch_splitter s;
    size_t split = size ? data[0] % (size + 1) : 0;
    sl_kube_watch_splitter_init(&s, count_events, &events, 1 << 16);
    if (sl_kube_watch_splitter_feed(&s, (const char *)data, split) == 0)
        sl_kube_watch_splitter_feed(&s, (const char *)data + split, size - split);
    sl_kube_watch_splitter_free(&s);
    return 0;
}
