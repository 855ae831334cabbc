/* libFuzzer harness: the scanner's layer walker (compression detection, gzip/zstd, tar with
 * pax and GNU long names, header-only types, whiteouts, symlinks and hard links resolved in the
 * root) feeding the image filesystem view, with a malware signature set that makes every file
 * hashed. */
#include <stdint.h>
#include <string.h>

#include "scan/imagefs.h"
#include "scan/malware.h"

struct input {
    const uint8_t *data;
    size_t len, pos;
};

static ssize_t input_read(void *ctx, void *buf, size_t cap, struct sl_err *err)
{
    (void)err;
    struct input *in = ctx;
    size_t n = in->len - in->pos;
    if (n > cap)
        n = cap;
    if (n > 4093) /* odd chunk sizes exercise buffer boundaries */
        n = 4093;
    memcpy(buf, in->data + in->pos, n);
    in->pos += n;
    return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sigs[] =
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Eicar-Test\n";
    struct sl_hsbdb hsb;
    sl_hsbdb_init(&hsb);
    struct sl_err err = {0};
    sl_hsbdb_load(&hsb, sigs, sizeof(sigs) - 1, &err);
    struct sl_walk_limits lim;
    sl_walk_limits_default(&lim);
    lim.max_total_bytes = (uint64_t)64 << 20;
    lim.max_entries = 10000;
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, &hsb);
    fs.lim.max_whiteouts = 1000;
    fs.lim.max_records = 1000;
    fs.lim.max_symlinks = 1000;
    /* the same input twice: the second pass sees it as an upper layer (whiteouts, overrides) */
    for (int layer = 0; layer < 2; layer++) {
        struct input in = {data, size, 0};
        struct sl_layer_stream s = {input_read, &in};
        if (sl_imagefs_add_layer(&fs, &s, &lim, &err) != 0)
            break;
    }
    sl_imagefs_finish(&fs);
    sl_imagefs_free(&fs);
    sl_hsbdb_free(&hsb);
    return 0;
}
