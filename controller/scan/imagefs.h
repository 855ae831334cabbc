/* The scanner's view of an image filesystem, built by walking its layers in order. It keeps only
 * what the scanner needs, keyed by path so that later layers override earlier ones and OCI
 * whiteouts (`.wh.<name>`) and opaque directories (`.wh..wh..opq`) hide lower-layer content:
 *  - the contents of package databases and OS identity files (dpkg status and status.d/, apk
 *    installed, os-release, apk repositories), each capped at SL_IMAGEFS_MAX_CAPTURE;
 *  - setuid/setgid regular files;
 *  - files with a PEM private key marker in their first KiB (files <= 64 KiB);
 *  - files whose SHA-256 and size match a malware signature (hashed while streaming, only when
 *    their size appears in the signatures);
 *  - every symlink, so that later entries land where containerd puts them: an entry's parent
 *    directories are resolved through the symlinks applied so far, inside the root (containerd's
 *    RootPath: absolute targets start at the root, ".." stops there, at most 255 links).
 *    Records are keyed by that resolved path, and lookups follow symlinks like a reader in the
 *    container does;
 *  - hard links, which take the content checks of their target (same inode) and the mode bits
 *    of their own header (containerd chmods the link after creating it);
 *  - issues: entries a runtime cannot apply as written, or whose content the scanner could not
 *    inspect (unknown tar types, GNU sparse files, over-long paths, invalid whiteout names,
 *    symlink loops in a parent path, a hard link or symlink that puts uninspected content at a
 *    package database path). The report lists them and they fail the scan.
 *
 * Everything that grows with the entries of a hostile layer is bounded by count and bytes
 * (struct sl_imagefs_limits); a layer over a bound fails with SL_ETOOBIG and a message naming
 * it, instead of growing memory without end. */
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
#define SL_IMAGEFS_MAX_ISSUES   64 /* issues kept with their path; more are counted */

struct sl_imagefs_limits {
    size_t max_whiteouts;      /* whiteout and opaque markers in one layer */
    size_t max_whiteout_bytes; /* bytes of their paths in one layer */
    size_t max_records;        /* files the view keeps a record of (setuid, keys, databases) */
    size_t max_symlinks;       /* symlinks in the image */
    size_t max_symlink_bytes;  /* bytes of their paths and targets */
    size_t max_captured_bytes; /* captured database content held at once */
    size_t max_resolve_bytes;  /* symlink resolution work (bytes rewritten) in one layer */
};

/* 100,000 whiteouts or 16 MiB of their paths per layer; 100,000 records; 200,000 symlinks or
 * 32 MiB; 128 MiB of captured content; 1 GiB of symlink resolution work per layer. */
void sl_imagefs_limits_default(struct sl_imagefs_limits *lim);

struct sl_fs_issue {
    unsigned layer;
    char *path;    /* the entry's path as cleaned (may be cut at the path limit) */
    char *problem; /* one line */
};

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
    uint64_t clamped_paths;    /* entries whose ".." climbed above the root (kept at the root) */
    struct sl_strmap links;    /* resolved symlink path -> target (private) */
    size_t link_bytes;
    size_t captured_bytes;
    struct sl_fs_issue *issues; /* the first SL_IMAGEFS_MAX_ISSUES */
    size_t nissues;
    uint64_t issues_total;
    struct sl_imagefs_limits lim; /* set to the defaults by init; callers may lower them */
};

/* hsb (may be NULL, borrowed) enables malware matching. */
void sl_imagefs_init(struct sl_imagefs *fs, const struct sl_hsbdb *hsb);
void sl_imagefs_free(struct sl_imagefs *fs);

/* Walks the next layer (bottom first) from in and applies it; entries that cannot be applied
 * become issues (fs->issues), not errors. Returns 0, SL_ETOOBIG when the layer exceeds one of
 * fs->lim (err names it), or the walker's error; after an error the view is incomplete and
 * should be discarded. lim (the walker's limits) may be NULL (defaults). */
int sl_imagefs_add_layer(struct sl_imagefs *fs, const struct sl_layer_stream *in,
                         const struct sl_walk_limits *lim, struct sl_err *err);

/* Ends the view after the last layer: adds an issue for each package database or OS identity
 * path that is a symlink to a file the scanner kept no content of. */
void sl_imagefs_finish(struct sl_imagefs *fs);

/* The record at path (symlinks followed as in the container), or NULL. */
const struct sl_fsrec *sl_imagefs_get(const struct sl_imagefs *fs, const char *path);

/* Calls fn for every record (unspecified order; callers sort what they print). */
void sl_imagefs_each(struct sl_imagefs *fs,
                     void (*fn)(const char *path, const struct sl_fsrec *rec, void *ctx),
                     void *ctx);

/* Whether a path's content is captured (package databases, OS identity files). */
bool sl_imagefs_is_capture_path(const char *path);

#endif
