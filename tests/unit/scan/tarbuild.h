/* Builds tar layers in memory for the scanner tests: ustar entries, pax headers, GNU long
 * names, and gzip / zstd compression of the result. */
#ifndef SL_TESTS_SCAN_TARBUILD_H
#define SL_TESTS_SCAN_TARBUILD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "scan/tarwalk.h"

#pragma GCC diagnostic ignored "-Wunused-function"

struct tb {
    unsigned char *data;
    size_t len, cap;
};

static void tb_raw(struct tb *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 4096;
        t->data = realloc(t->data, t->cap);
    }
    if (p)
        memcpy(t->data + t->len, p, n);
    else
        memset(t->data + t->len, 0, n);
    t->len += n;
}

static void tb_header(struct tb *t, const char *name, char type, unsigned mode, uint64_t size,
                      const char *link)
{
    unsigned char h[512];
    memset(h, 0, sizeof(h));
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (unsigned char)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    tb_raw(t, h, 512);
}

static void tb_content(struct tb *t, const void *data, size_t n)
{
    tb_raw(t, data, n);
    if (n % 512)
        tb_raw(t, NULL, 512 - n % 512);
}

static void tb_file(struct tb *t, const char *name, unsigned mode, const char *data)
{
    size_t n = strlen(data);
    tb_header(t, name, '0', mode, n, NULL);
    tb_content(t, data, n);
}

static void tb_dir(struct tb *t, const char *name)
{
    tb_header(t, name, '5', 0755, 0, NULL);
}

/* A pax 'x' header carrying path (and size when size_override != (uint64_t)-1). */
static void tb_pax(struct tb *t, const char *path, uint64_t size_override)
{
    char recs[8192];
    size_t off = 0;
    const char *keys[2] = {"path", "size"};
    char vals[2][4200];
    snprintf(vals[0], sizeof(vals[0]), "%s", path);
    snprintf(vals[1], sizeof(vals[1]), "%llu", (unsigned long long)size_override);
    for (int k = 0; k < 2; k++) {
        if (k == 1 && size_override == (uint64_t)-1)
            break;
        /* the record length includes its own digits */
        size_t body = strlen(keys[k]) + 1 + strlen(vals[k]) + 2; /* ' ' + '=' ... '\n' */
        size_t len = body + 1;
        while (snprintf(NULL, 0, "%zu", len) + body != len)
            len++;
        off +=
            (size_t)snprintf(recs + off, sizeof(recs) - off, "%zu %s=%s\n", len, keys[k], vals[k]);
    }
    tb_header(t, "PaxHeaders/x", 'x', 0644, off, NULL);
    tb_content(t, recs, off);
}

static void tb_gnu_longname(struct tb *t, const char *path)
{
    size_t n = strlen(path) + 1;
    tb_header(t, "././@LongLink", 'L', 0644, n, NULL);
    tb_content(t, path, n);
}

static void tb_end(struct tb *t)
{
    tb_raw(t, NULL, 1024);
}

static struct tb tb_gzip(const struct tb *in)
{
    struct tb out = {0};
    uLongf cap = compressBound(in->len) + 64;
    out.data = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out.data;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    out.len = cap - z.avail_out;
    out.cap = cap;
    deflateEnd(&z);
    return out;
}

static struct tb tb_zstd(const struct tb *in)
{
    struct tb out = {0};
    size_t cap = ZSTD_compressBound(in->len);
    out.data = malloc(cap);
    out.len = ZSTD_compress(out.data, cap, in->data, in->len, 3);
    out.cap = cap;
    return out;
}

/* A stream over a memory buffer that hands out small, uneven chunks. */
struct memstream {
    const unsigned char *data;
    size_t len, pos;
    size_t chunk;
};

static ssize_t memstream_read(void *ctx, void *buf, size_t cap, struct sl_err *err)
{
    (void)err;
    struct memstream *m = ctx;
    size_t n = m->len - m->pos;
    size_t c = m->chunk ? m->chunk : cap;
    m->chunk = m->chunk ? (m->chunk % 997) + 313 : 0;
    if (n > c)
        n = c;
    if (n > cap)
        n = cap;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

#endif
