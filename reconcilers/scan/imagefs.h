/* The scanner's view of an image filesystem, built by walking its layers in order. It keeps only
 * what the scanner needs, keyed by path so that later layers override earlier ones and OCI
 * whiteouts (`.wh.<name>`) and opaque directories (`.wh..wh..opq`) hide lower-layer content:
 *  - the contents of package databases and OS identity files (dpkg status and status.d/, apk
 *    installed, os-release, apk repositories), each capped at SL_IMAGEFS_MAX_CAPTURE;
 *  - setuid/setgid regular files;
 *  - files with a PEM private key marker in their first KiB (files <= 64 KiB);
 *  - files whose SHA-256 and size match a malware signature (hashed while streaming, only when
 *    their size appears in the signatures). */
#ifndef SL_SCAN_IMAGEFS_H
#define SL_SCAN_IMAGEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan/malware.h"
#include "util/strmap.h"
#include "scan/tarwalk.h"
#include "util/err.h"

#define SL_IMAGEFS_MAX_CAPTURE  ((size_t)32 << 20)
#define SL_IMAGEFS_PEM_MAX_FILE ((uint64_t)64 << 10)
#define SL_IMAGEFS_PEM_WINDOW   1024

enum {
    SL_FSREC_CAPTURED = 1 << 0, /* content held in rec->data */
    SL_FSREC_SETUID = 1 << 1,
    SL_FSREC_SETGID = 1 << 2,
    SL_FSREC_PRIVKEY = 1 << 3,
    SL_FSREC_MALWARE = 1 << 4,
};

struct sl_fsrec {
    unsigned layer; /* index of the layer the entry came from */
    unsigned flags;
    unsigned mode;
    char *data; /* captured content (NUL-terminated), or NULL */
    size_t len;
    const char *malware; /* signature name (borrowed from the hsb db), or NULL */
};

struct sl_imagefs {
    struct sl_strmap recs;      /* path -> struct sl_fsrec * */
    const struct sl_hsbdb *hsb; /* may be NULL */
    unsigned layers;            /* layers added so far */
    uint64_t files_hashed;
    struct sl_walk_stats last; /* stats of the last layer */
    uint64_t skipped_unsafe;
};

/* hsb (may be NULL, borrowed) enables malware matching. */
void sl_imagefs_init(struct sl_imagefs *fs, const struct sl_hsbdb *hsb);
void sl_imagefs_free(struct sl_imagefs *fs);

/* Walks the next layer (bottom first) from in and applies it. Returns 0 or the walker's
 * error (the view is then incomplete and should be discarded). lim may be NULL (defaults). */
int sl_imagefs_add_layer(struct sl_imagefs *fs, const struct sl_layer_stream *in,
                         const struct sl_walk_limits *lim, struct sl_err *err);

/* The record at path, or NULL. */
const struct sl_fsrec *sl_imagefs_get(const struct sl_imagefs *fs, const char *path);

/* Calls fn for every record (unspecified order; callers sort what they print). */
void sl_imagefs_each(struct sl_imagefs *fs,
                     void (*fn)(const char *path, const struct sl_fsrec *rec, void *ctx),
                     void *ctx);

/* Whether a path's content is captured (package databases, OS identity files). */
bool sl_imagefs_is_capture_path(const char *path);

#endif
