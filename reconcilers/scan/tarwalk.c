/* Layer walker: decompression (zlib, libzstd streaming) and a tar parser over the stream. */
#include "scan/tarwalk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "util/mem.h"

#define IN_BUF_SIZE  (64 * 1024)
#define OUT_BUF_SIZE (128 * 1024)
#define PAX_MAX      ((size_t)1 << 20)

void sl_walk_limits_default(struct sl_walk_limits *lim)
{
    lim->max_entry_bytes = (uint64_t)16 << 30;
    lim->max_total_bytes = (uint64_t)64 << 30;
    lim->ratio_floor_bytes = (uint64_t)10 << 20;
    lim->max_ratio = 100;
    lim->max_entries = 1000000;
    lim->max_path = 4096;
}

enum dec_kind { DEC_NONE, DEC_GZIP, DEC_ZSTD };

struct dec {
    const struct sl_layer_stream *in;
    const struct sl_walk_limits *lim;
    enum dec_kind kind;
    z_stream z;
    bool z_init;
    ZSTD_DStream *zs;
    bool stream_done; /* the compressed stream ended (trailing bytes are drained) */
    unsigned char *inbuf;
    size_t in_pos, in_len;
    bool in_eof;
    unsigned char *outbuf;
    size_t out_pos, out_len;
    uint64_t total_in, total_out;
};

static int dec_read_input(struct dec *d, struct sl_err *err)
{
    if (d->in_eof)
        return 0;
    if (d->in_pos < d->in_len && d->in_pos > 0) {
        memmove(d->inbuf, d->inbuf + d->in_pos, d->in_len - d->in_pos);
        d->in_len -= d->in_pos;
        d->in_pos = 0;
    } else if (d->in_pos == d->in_len) {
        d->in_pos = d->in_len = 0;
    }
    ssize_t n = d->in->read(d->in->ctx, d->inbuf + d->in_len, IN_BUF_SIZE - d->in_len, err);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        d->in_eof = true;
        return 0;
    }
    d->in_len += (size_t)n;
    d->total_in += (uint64_t)n;
    return 1;
}

static int dec_check_limits(struct dec *d, struct sl_err *err)
{
    if (d->total_out > d->lim->max_total_bytes)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "layer expands beyond %llu bytes",
                          (unsigned long long)d->lim->max_total_bytes);
    if (d->kind != DEC_NONE && d->total_out > d->lim->ratio_floor_bytes &&
        d->total_out / (d->total_in ? d->total_in : 1) > d->lim->max_ratio)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "decompression ratio exceeds %u:1 (%llu bytes from %llu): refusing a "
                          "likely decompression bomb",
                          d->lim->max_ratio, (unsigned long long)d->total_out,
                          (unsigned long long)d->total_in);
    return 0;
}

/* Refills outbuf. Returns >0 when bytes are available, 0 at the end of the data, <0 on error. */
static int dec_fill(struct dec *d, struct sl_err *err)
{
    d->out_pos = d->out_len = 0;
    while (d->out_len == 0) {
        if (d->in_pos == d->in_len && !d->in_eof) {
            int rc = dec_read_input(d, err);
            if (rc < 0)
                return rc;
        }
        if (d->stream_done)
            return 0;
        size_t avail = d->in_len - d->in_pos;
        if (d->kind == DEC_NONE) {
            if (avail == 0)
                return 0;
            size_t n = avail < OUT_BUF_SIZE ? avail : OUT_BUF_SIZE;
            memcpy(d->outbuf, d->inbuf + d->in_pos, n);
            d->in_pos += n;
            d->out_len = n;
        } else if (d->kind == DEC_GZIP) {
            if (avail == 0 && d->in_eof)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "gzip stream is truncated");
            d->z.next_in = d->inbuf + d->in_pos;
            d->z.avail_in = (uInt)avail;
            d->z.next_out = d->outbuf;
            d->z.avail_out = OUT_BUF_SIZE;
            int zr = inflate(&d->z, Z_NO_FLUSH);
            d->in_pos = d->in_len - d->z.avail_in;
            d->out_len = OUT_BUF_SIZE - d->z.avail_out;
            if (zr == Z_STREAM_END) {
                /* another gzip member may follow (concatenated gzip) */
                if (d->in_pos == d->in_len && !d->in_eof) {
                    int rc = dec_read_input(d, err);
                    if (rc < 0)
                        return rc;
                }
                if (d->in_pos < d->in_len && d->inbuf[d->in_pos] == 0x1f)
                    inflateReset(&d->z);
                else
                    d->stream_done = true;
            } else if (zr == Z_BUF_ERROR) {
                if (d->in_eof && d->in_pos == d->in_len && d->out_len == 0)
                    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "gzip stream is truncated");
            } else if (zr != Z_OK) {
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "gzip data is corrupt: %s",
                                  d->z.msg ? d->z.msg : "inflate failed");
            }
        } else {
            if (avail == 0 && d->in_eof)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "zstd stream is truncated");
            ZSTD_inBuffer ib = {d->inbuf + d->in_pos, avail, 0};
            ZSTD_outBuffer ob = {d->outbuf, OUT_BUF_SIZE, 0};
            size_t zr = ZSTD_decompressStream(d->zs, &ob, &ib);
            if (ZSTD_isError(zr))
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "zstd data is corrupt: %s",
                                  ZSTD_getErrorName(zr));
            d->in_pos += ib.pos;
            d->out_len = ob.pos;
            /* zr == 0: a frame ended; a following frame is decoded by the same stream */
            if (zr == 0 && d->in_pos == d->in_len) {
                if (!d->in_eof) {
                    int rc = dec_read_input(d, err);
                    if (rc < 0)
                        return rc;
                }
                if (d->in_eof && d->in_pos == d->in_len)
                    d->stream_done = true;
            }
        }
        d->total_out += d->out_len;
        int rc = dec_check_limits(d, err);
        if (rc)
            return rc;
    }
    return 1;
}

/* Copies n bytes into dst (or skips them when dst is NULL). Returns 0, SL_EINVAL when the data
 * ends early, or the decoder's error. */
static int dec_read(struct dec *d, void *dst, uint64_t n, struct sl_err *err)
{
    while (n > 0) {
        if (d->out_pos == d->out_len) {
            int rc = dec_fill(d, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "tar data ends inside an entry");
        }
        size_t avail = d->out_len - d->out_pos;
        size_t take = n < avail ? (size_t)n : avail;
        if (dst) {
            memcpy(dst, d->outbuf + d->out_pos, take);
            dst = (char *)dst + take;
        }
        d->out_pos += take;
        n -= take;
    }
    return 0;
}

/* ---- tar ---- */

static uint64_t tar_number(const unsigned char *f, size_t n, bool *ok)
{
    *ok = true;
    if (f[0] & 0x80) {
        /* GNU base-256: big-endian, first byte's high bit is the marker */
        uint64_t v = f[0] & 0x3f;
        if (f[0] & 0x40) { /* negative */
            *ok = false;
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if (v >> 56) {
                *ok = false;
                return 0;
            }
            v = (v << 8) | f[i];
        }
        return v;
    }
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == '\0'))
        i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) {
            *ok = false;
            return 0;
        }
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0') {
            *ok = false;
            return 0;
        }
    return v;
}

static bool tar_checksum_ok(const unsigned char *h)
{
    bool ok;
    uint64_t want = tar_number(h + 148, 8, &ok);
    if (!ok)
        return false;
    uint64_t usum = 0;
    int64_t ssum = 0;
    for (int i = 0; i < 512; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        usum += c;
        ssum += (signed char)c;
    }
    return usum == want || (uint64_t)ssum == want;
}

static bool all_zero(const unsigned char *h)
{
    for (int i = 0; i < 512; i++)
        if (h[i])
            return false;
    return true;
}

bool sl_tar_normalize_path(char *path)
{
    char *out = path;
    const char *p = path;
    size_t olen = 0;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (olen == 0)
                return false;
            while (olen > 0 && out[olen - 1] != '/')
                olen--;
            if (olen > 0)
                olen--; /* the separator */
            continue;
        }
        if (olen > 0)
            out[olen++] = '/';
        memmove(out + olen, s, n);
        olen += n;
    }
    out[olen] = '\0';
    return true;
}

/* Parses pax records ("%d key=value\n") for path, linkpath and size. */
static int pax_parse(const char *buf, size_t len, char **path, char **linkpath, uint64_t *size,
                     bool *has_size, struct sl_err *err)
{
    size_t i = 0;
    while (i < len) {
        size_t rec_len = 0, j = i;
        while (j < len && buf[j] >= '0' && buf[j] <= '9') {
            rec_len = rec_len * 10 + (size_t)(buf[j] - '0');
            if (rec_len > len)
                break;
            j++;
        }
        if (j >= len || buf[j] != ' ' || rec_len == 0 || rec_len > len - i ||
            buf[i + rec_len - 1] != '\n') {
            if (buf[i] == '\0')
                break; /* padding */
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "malformed pax header");
        }
        const char *kv = buf + j + 1;
        const char *end = buf + i + rec_len - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (eq) {
            size_t klen = (size_t)(eq - kv);
            const char *val = eq + 1;
            size_t vlen = (size_t)(end - val);
            if (klen == 4 && memcmp(kv, "path", 4) == 0) {
                free(*path);
                *path = sl_xstrndup(val, vlen);
            } else if (klen == 8 && memcmp(kv, "linkpath", 8) == 0) {
                free(*linkpath);
                *linkpath = sl_xstrndup(val, vlen);
            } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
                uint64_t v = 0;
                size_t k;
                for (k = 0; k < vlen && val[k] >= '0' && val[k] <= '9' && !(v >> 59); k++)
                    v = v * 10 + (uint64_t)(val[k] - '0');
                if (k != vlen || vlen == 0)
                    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "bad pax size");
                *size = v;
                *has_size = true;
            }
        }
        i += rec_len;
    }
    return 0;
}

/* Reads an extension entry's content (pax header or GNU long name), capped. */
static int read_ext(struct dec *d, uint64_t size, char **out, struct sl_err *err)
{
    if (size > PAX_MAX)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "tar extension header of %llu bytes is too large",
                          (unsigned long long)size);
    char *buf = sl_xmalloc((size_t)size + 1);
    int rc = dec_read(d, buf, size, err);
    if (rc == 0)
        rc = dec_read(d, NULL, (512 - size % 512) % 512, err);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *out = buf;
    return 0;
}

static int walk_tar(struct dec *d, const struct sl_tar_visitor *v, struct sl_walk_stats *st,
                    struct sl_err *err)
{
    unsigned char h[512];
    char *pax_path = NULL, *pax_link = NULL, *gnu_name = NULL, *gnu_link = NULL;
    uint64_t pax_size = 0;
    bool pax_has_size = false;
    char *path = NULL, *link = NULL;
    int rc = 0;
    for (;;) {
        if (d->out_pos == d->out_len) {
            rc = dec_fill(d, err);
            if (rc < 0)
                goto done;
            if (rc == 0) { /* end of data without the zero blocks: accept */
                rc = 0;
                goto done;
            }
        }
        rc = dec_read(d, h, 512, err);
        if (rc)
            goto done;
        if (all_zero(h)) {
            rc = 0;
            goto done; /* end-of-archive */
        }
        if (!tar_checksum_ok(h)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "tar header %llu has a bad checksum (not a tar layer?)",
                            (unsigned long long)st->entries + 1);
            goto done;
        }
        if (++st->entries > d->lim->max_entries) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                            "layer has more than %llu tar "
                            "headers",
                            (unsigned long long)d->lim->max_entries);
            goto done;
        }
        bool ok;
        uint64_t size = tar_number(h + 124, 12, &ok);
        if (!ok) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "tar header with a bad size field");
            goto done;
        }
        unsigned mode = (unsigned)(tar_number(h + 100, 8, &ok) & 07777);
        char type = (char)h[156];
        uint64_t padded_pad = (512 - size % 512) % 512;
        switch (type) {
        case 'x':
        case 'g': {
            char *buf = NULL;
            rc = read_ext(d, size, &buf, err);
            if (rc)
                goto done;
            if (type == 'x')
                rc = pax_parse(buf, (size_t)size, &pax_path, &pax_link, &pax_size, &pax_has_size,
                               err);
            free(buf);
            if (rc)
                goto done;
            continue;
        }
        case 'L':
        case 'K': {
            char *buf = NULL;
            rc = read_ext(d, size, &buf, err);
            if (rc)
                goto done;
            if (type == 'L') {
                free(gnu_name);
                gnu_name = buf;
            } else {
                free(gnu_link);
                gnu_link = buf;
            }
            continue;
        }
        default:
            break;
        }
        if (pax_has_size)
            size = pax_size;
        padded_pad = (512 - size % 512) % 512;
        /* the entry's path: pax, then GNU long name, then ustar prefix + name */
        free(path);
        free(link);
        path = link = NULL;
        if (pax_path) {
            path = pax_path;
            pax_path = NULL;
        } else if (gnu_name) {
            path = gnu_name;
            gnu_name = NULL;
        } else {
            char name[101], prefix[156];
            memcpy(name, h, 100);
            name[100] = '\0';
            prefix[0] = '\0';
            if (memcmp(h + 257, "ustar\0", 6) == 0) {
                memcpy(prefix, h + 345, 155);
                prefix[155] = '\0';
            }
            path = prefix[0] ? sl_xasprintf("%s/%s", prefix, name) : sl_xstrdup(name);
        }
        if (pax_link) {
            link = pax_link;
            pax_link = NULL;
        } else if (gnu_link) {
            link = gnu_link;
            gnu_link = NULL;
        } else {
            char ln[101];
            memcpy(ln, h + 157, 100);
            ln[100] = '\0';
            link = sl_xstrdup(ln);
        }
        free(pax_path);
        free(pax_link);
        free(gnu_name);
        free(gnu_link);
        pax_path = pax_link = gnu_name = gnu_link = NULL;
        pax_has_size = false;

        enum sl_tar_type etype;
        switch (type) {
        case '0':
        case '\0':
        case '7':
            etype = SL_TAR_FILE;
            break;
        case '1':
            etype = SL_TAR_HARDLINK;
            break;
        case '2':
            etype = SL_TAR_SYMLINK;
            break;
        case '5':
            etype = SL_TAR_DIR;
            break;
        default:
            etype = SL_TAR_OTHER;
            break;
        }
        /* links, directories and devices carry no content whatever the size field says,
         * except that some writers give hard links a size: honour the stream layout */
        uint64_t content =
            (etype == SL_TAR_FILE || etype == SL_TAR_OTHER || etype == SL_TAR_HARDLINK) ? size : 0;
        if (etype == SL_TAR_DIR || etype == SL_TAR_SYMLINK)
            padded_pad = 0;
        if (etype == SL_TAR_FILE && size > d->lim->max_entry_bytes) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                            "tar entry %s is larger than %llu "
                            "bytes",
                            path, (unsigned long long)d->lim->max_entry_bytes);
            goto done;
        }
        bool safe = strlen(path) <= d->lim->max_path && sl_tar_normalize_path(path);
        if (safe && (etype == SL_TAR_HARDLINK) && !sl_tar_normalize_path(link))
            safe = false;
        bool want = false;
        if (!safe) {
            st->skipped_unsafe++;
        } else {
            struct sl_tar_entry e = {path, link, etype, mode, etype == SL_TAR_FILE ? size : 0};
            rc = v->entry(v->ctx, &e, &want);
            if (rc)
                goto done;
        }
        if (want && etype == SL_TAR_FILE) {
            uint64_t left = content;
            while (left > 0) {
                if (d->out_pos == d->out_len) {
                    rc = dec_fill(d, err);
                    if (rc < 0)
                        goto done;
                    if (rc == 0) {
                        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "tar data ends inside %s",
                                        path);
                        goto done;
                    }
                }
                size_t avail = d->out_len - d->out_pos;
                size_t take = left < avail ? (size_t)left : avail;
                rc = v->data(v->ctx, d->outbuf + d->out_pos, take);
                if (rc)
                    goto done;
                d->out_pos += take;
                left -= take;
            }
            rc = dec_read(d, NULL, padded_pad, err);
        } else {
            rc = dec_read(d, NULL, content + (content ? padded_pad : 0), err);
        }
        if (rc)
            goto done;
        if (safe && v->entry_end) {
            rc = v->entry_end(v->ctx);
            if (rc)
                goto done;
        }
    }
done:
    free(path);
    free(link);
    free(pax_path);
    free(pax_link);
    free(gnu_name);
    free(gnu_link);
    return rc;
}

int sl_layer_walk(const struct sl_layer_stream *in, const struct sl_walk_limits *lim,
                  const struct sl_tar_visitor *v, struct sl_walk_stats *stats, struct sl_err *err)
{
    struct sl_walk_limits deflim;
    if (!lim) {
        sl_walk_limits_default(&deflim);
        lim = &deflim;
    }
    struct sl_walk_stats st = {0};
    struct dec d;
    memset(&d, 0, sizeof(d));
    d.in = in;
    d.lim = lim;
    d.inbuf = sl_xmalloc(IN_BUF_SIZE);
    d.outbuf = sl_xmalloc(OUT_BUF_SIZE);
    int rc;
    /* magic needs a few bytes */
    while (d.in_len < 4 && !d.in_eof) {
        rc = dec_read_input(&d, err);
        if (rc < 0)
            goto done;
    }
    if (d.in_len >= 2 && d.inbuf[0] == 0x1f && d.inbuf[1] == 0x8b) {
        d.kind = DEC_GZIP;
        st.compression = "gzip";
        if (inflateInit2(&d.z, 15 + 16) != Z_OK) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "cannot initialise zlib");
            goto done;
        }
        d.z_init = true;
    } else if (d.in_len >= 4 && d.inbuf[0] == 0x28 && d.inbuf[1] == 0xb5 && d.inbuf[2] == 0x2f &&
               d.inbuf[3] == 0xfd) {
        d.kind = DEC_ZSTD;
        st.compression = "zstd";
        d.zs = ZSTD_createDStream();
        if (!d.zs || ZSTD_isError(ZSTD_initDStream(d.zs))) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "cannot initialise zstd");
            goto done;
        }
    } else if ((d.in_len >= 3 && memcmp(d.inbuf, "BZh", 3) == 0) ||
               (d.in_len >= 4 && d.inbuf[0] == 0xfd && memcmp(d.inbuf + 1, "7zX", 3) == 0)) {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                        "layer compression (bzip2/xz) is not supported");
        goto done;
    } else {
        d.kind = DEC_NONE;
        st.compression = "none";
    }
    rc = walk_tar(&d, v, &st, err);
    if (rc)
        goto done;
    /* drain the rest of the stream: a digesting reader must see every byte */
    while (!d.in_eof) {
        d.in_pos = d.in_len;
        rc = dec_read_input(&d, err);
        if (rc < 0)
            goto done;
    }
    if (d.kind == DEC_NONE)
        d.total_out = d.total_in;
    rc = 0;
done:
    st.compressed_bytes = d.total_in;
    st.uncompressed_bytes = d.total_out;
    if (stats)
        *stats = st;
    if (d.z_init)
        inflateEnd(&d.z);
    if (d.zs)
        ZSTD_freeDStream(d.zs);
    free(d.inbuf);
    free(d.outbuf);
    return rc;
}
