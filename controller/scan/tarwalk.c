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
    bool inside = true;
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
            /* containerd joins the cleaned name to "/": ".." at the root stays there */
            if (olen == 0) {
                inside = false;
                continue;
            }
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
    return inside;
}

/* What the extended headers before an entry say about it. */
struct pending {
    char *pax_path, *pax_link, *gnu_name, *gnu_link, *sparse_name;
    uint64_t pax_size;
    bool pax_has_size;
    bool sparse; /* GNU.sparse.* pax records: a GNU sparse file */
};

static void pending_clear(struct pending *pd)
{
    free(pd->pax_path);
    free(pd->pax_link);
    free(pd->gnu_name);
    free(pd->gnu_link);
    free(pd->sparse_name);
    memset(pd, 0, sizeof(*pd));
}

/* Go's reader takes each pax header as a whole: a second one replaces the first. */
static void pending_clear_pax(struct pending *pd)
{
    free(pd->pax_path);
    free(pd->pax_link);
    free(pd->sparse_name);
    pd->pax_path = pd->pax_link = pd->sparse_name = NULL;
    pd->pax_size = 0;
    pd->pax_has_size = false;
    pd->sparse = false;
}

/* Parses pax records ("%d key=value\n") for path, linkpath, size and the GNU sparse keys. */
static int pax_parse(const char *buf, size_t len, struct pending *pd, struct sl_err *err)
{
    char **path = &pd->pax_path, **linkpath = &pd->pax_link;
    uint64_t *size = &pd->pax_size;
    bool *has_size = &pd->pax_has_size;
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
            } else if (klen > 11 && memcmp(kv, "GNU.sparse.", 11) == 0) {
                pd->sparse = true;
                if (klen == 15 && memcmp(kv + 11, "name", 4) == 0) {
                    free(pd->sparse_name);
                    pd->sparse_name = sl_xstrndup(val, vlen);
                }
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

/* Steps over the extension blocks of an old-style GNU sparse header ('S'): they sit between
 * the header and the content, each flagging whether another follows. */
static int skip_sparse_extensions(struct dec *d, const unsigned char *h, struct sl_err *err)
{
    unsigned char blk[512];
    bool more = h[482] != 0;
    for (unsigned n = 0; more; n++) {
        if (n >= 1024)
            return sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                              "GNU sparse header with more than 1024 extension blocks");
        int rc = dec_read(d, blk, sizeof(blk), err);
        if (rc)
            return rc;
        more = blk[504] != 0;
    }
    return 0;
}

/* Whether a component of the cleaned path is longer than a Linux file name can be. */
static bool has_long_component(const char *path)
{
    size_t run = 0;
    for (const char *p = path; *p; p++) {
        run = *p == '/' ? 0 : run + 1;
        if (run > 255)
            return true;
    }
    return false;
}

/* Maps the header's type byte to ours and says whether the entry has content. Go's reader (and
 * so containerd) gives hard links, symlinks, devices, fifos and directories none, whatever
 * their size says; every other type, known or not, has `size` bytes. */
static enum sl_tar_type entry_type(char type, const char *path, bool *has_content)
{
    *has_content = false;
    switch (type) {
    case '\0': {
        size_t n = strlen(path); /* old archives mark directories by the trailing '/' */
        if (n > 0 && path[n - 1] == '/')
            return SL_TAR_DIR;
        *has_content = true;
        return SL_TAR_FILE;
    }
    case '0':
    case '7': /* contiguous file: GNU tar and Python read it as a regular file */
        *has_content = true;
        return SL_TAR_FILE;
    case '1':
        return SL_TAR_HARDLINK;
    case '2':
        return SL_TAR_SYMLINK;
    case '3':
    case '4':
    case '6':
        return SL_TAR_DEVICE;
    case '5':
        return SL_TAR_DIR;
    default:
        *has_content = true;
        return SL_TAR_OTHER;
    }
}

/* Reads one extension header ('x', 'g', 'L', 'K') into pd. */
static int read_extension(struct dec *d, char type, uint64_t size, struct pending *pd,
                          struct sl_err *err)
{
    char *buf = NULL;
    int rc = read_ext(d, size, &buf, err);
    if (rc)
        return rc;
    switch (type) {
    case 'x':
        pending_clear_pax(pd);
        rc = pax_parse(buf, (size_t)size, pd, err);
        free(buf);
        break;
    case 'g':
        /* Go hands a global header over as an entry of its own, which ends what the headers
         * before it said; containerd then ignores it */
        pending_clear(pd);
        free(buf);
        break;
    case 'L':
        free(pd->gnu_name);
        pd->gnu_name = buf;
        break;
    default:
        free(pd->gnu_link);
        pd->gnu_link = buf;
        break;
    }
    return rc;
}

/* The entry's path and link target, in Go's order: a pax GNU.sparse.name, then the GNU long name,
 * then the pax record, then the ustar prefix and name. Takes the strings out of pd. */
static void entry_names(const unsigned char *h, struct pending *pd, char **path, char **link)
{
    if (pd->sparse_name) {
        *path = pd->sparse_name;
        pd->sparse_name = NULL;
    } else if (pd->gnu_name) {
        *path = pd->gnu_name;
        pd->gnu_name = NULL;
    } else if (pd->pax_path) {
        *path = pd->pax_path;
        pd->pax_path = NULL;
    } else {
        char name[101], prefix[156];
        memcpy(name, h, 100);
        name[100] = '\0';
        prefix[0] = '\0';
        if (memcmp(h + 257, "ustar\0", 6) == 0) {
            memcpy(prefix, h + 345, 155);
            prefix[155] = '\0';
        }
        *path = prefix[0] ? sl_xasprintf("%s/%s", prefix, name) : sl_xstrdup(name);
    }
    if (pd->gnu_link) {
        *link = pd->gnu_link;
        pd->gnu_link = NULL;
    } else if (pd->pax_link) {
        *link = pd->pax_link;
        pd->pax_link = NULL;
    } else {
        char ln[101];
        memcpy(ln, h + 157, 100);
        ln[100] = '\0';
        *link = sl_xstrdup(ln);
    }
}

/* Hands `content` bytes of the current entry to the visitor's data callback. */
static int feed_content(struct dec *d, const struct sl_tar_visitor *v, uint64_t content,
                        const char *path, struct sl_err *err)
{
    uint64_t left = content;
    while (left > 0) {
        if (d->out_pos == d->out_len) {
            int rc = dec_fill(d, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "tar data ends inside %s", path);
        }
        size_t avail = d->out_len - d->out_pos;
        size_t take = left < avail ? (size_t)left : avail;
        int rc = v->data(v->ctx, d->outbuf + d->out_pos, take);
        if (rc)
            return rc;
        d->out_pos += take;
        left -= take;
    }
    return 0;
}

static int walk_tar(struct dec *d, const struct sl_tar_visitor *v, struct sl_walk_stats *st,
                    struct sl_err *err)
{
    unsigned char h[512];
    struct pending pd;
    memset(&pd, 0, sizeof(pd));
    char *path = NULL, *link = NULL;
    char problem[160];
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
            /* Go ends at two zero blocks and rejects a lone one followed by more headers */
            if (d->out_pos == d->out_len) {
                rc = dec_fill(d, err);
                if (rc <= 0)
                    goto done;
            }
            rc = dec_read(d, h, 512, err);
            if (rc || all_zero(h))
                goto done;
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "tar data continues after a zero block (a runtime rejects this layer)");
            goto done;
        }
        if (!tar_checksum_ok(h)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "tar header %llu has a bad checksum (not a tar layer?)",
                            (unsigned long long)st->entries + 1);
            goto done;
        }
        if (++st->entries > d->lim->max_entries) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "layer has more than %llu tar headers",
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
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
            rc = read_extension(d, type, size, &pd, err);
            if (rc)
                goto done;
            continue;
        }
        if (pd.pax_has_size)
            size = pd.pax_size;
        bool sparse = type == 'S' || pd.sparse;
        free(path);
        free(link);
        path = link = NULL;
        entry_names(h, &pd, &path, &link);
        pending_clear(&pd);

        bool has_content;
        enum sl_tar_type etype = entry_type(type, path, &has_content);
        uint64_t content = has_content ? size : 0;
        if (type == 'S') {
            rc = skip_sparse_extensions(d, h, err);
            if (rc)
                goto done;
        }
        if (etype == SL_TAR_FILE && size > d->lim->max_entry_bytes) {
            rc =
                sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "tar entry %s is larger than %llu bytes",
                           path, (unsigned long long)d->lim->max_entry_bytes);
            goto done;
        }
        problem[0] = '\0';
        if (sparse) {
            snprintf(problem, sizeof(problem),
                     "GNU sparse file: its content is not read as a regular file");
            etype = SL_TAR_OTHER;
        } else if (etype == SL_TAR_OTHER) {
            snprintf(problem, sizeof(problem),
                     (unsigned char)type >= 0x20 && (unsigned char)type < 0x7f
                         ? "tar entry type '%c' is not a file, link, directory or device"
                         : "tar entry type 0x%02x is not a file, link, directory or device",
                     (unsigned char)type);
        }
        bool clamped = false;
        if (strlen(path) > d->lim->max_path) {
            path[d->lim->max_path] = '\0';
            if (!problem[0])
                snprintf(problem, sizeof(problem), "path longer than %zu bytes", d->lim->max_path);
        }
        clamped = !sl_tar_normalize_path(path);
        if (etype == SL_TAR_HARDLINK || etype == SL_TAR_SYMLINK) {
            if (strlen(link) > d->lim->max_path) {
                link[d->lim->max_path] = '\0';
                if (!problem[0])
                    snprintf(problem, sizeof(problem), "link target longer than %zu bytes",
                             d->lim->max_path);
            }
            if (etype == SL_TAR_HARDLINK && !sl_tar_normalize_path(link))
                clamped = true;
        }
        if (!problem[0] && has_long_component(path))
            snprintf(problem, sizeof(problem), "a path component is longer than 255 bytes");
        if (clamped)
            st->clamped_paths++;
        if (problem[0])
            st->problems++;
        struct sl_tar_entry e = {path,    link,
                                 etype,   type,
                                 mode,    etype == SL_TAR_FILE ? size : 0,
                                 clamped, problem[0] ? problem : NULL};
        bool want = false;
        rc = v->entry(v->ctx, &e, &want);
        if (rc)
            goto done;
        uint64_t pad = (512 - content % 512) % 512;
        if (want && etype == SL_TAR_FILE && !e.problem) {
            rc = feed_content(d, v, content, path, err);
            if (rc == 0)
                rc = dec_read(d, NULL, pad, err);
        } else {
            rc = dec_read(d, NULL, content + pad, err);
        }
        if (rc)
            goto done;
        if (v->entry_end) {
            rc = v->entry_end(v->ctx);
            if (rc)
                goto done;
        }
    }
done:
    free(path);
    free(link);
    pending_clear(&pd);
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
