/* Streaming layer walker: reads a layer blob once through a caller-supplied stream, detects the
 * compression by magic (gzip, zstd, or none), and parses the tar inside (ustar, pax `path` /
 * `linkpath` / `size` overrides, GNU long names `././@LongLink` 'L'/'K', base-256 sizes),
 * handing each entry and its content to a visitor. Nothing is written to disk.
 *
 * The stream is read the way a container runtime reads it (Go's archive/tar, which containerd
 * and CRI-O use): hard links, symlinks, directories, character and block devices and fifos have
 * no content whatever size their header or a pax record declares, a '\0' (old regular file)
 * entry whose name ends in '/' is a directory, every other type has `size` bytes of content,
 * and GNU sparse headers' extension blocks are stepped over. Entry paths are cleaned into the
 * root as containerd does ("./a//b/../c" -> "a/c", a leading "/" removed, ".." above the root
 * stays at the root: "../../etc/x" -> "etc/x"), so an entry is never dropped for its path.
 *
 * Entries a runtime cannot apply (unknown types, GNU sparse files, paths longer than the limit)
 * are still handed to the visitor, with `problem` saying why, so the caller reports them.
 *
 * Hard limits guard against hostile layers: entry size, total uncompressed bytes, the
 * decompression ratio (beyond a floor), the number of headers and the path length. */
#ifndef SL_SCAN_TARWALK_H
#define SL_SCAN_TARWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* Source of layer bytes (a file, an HTTP body, a registry blob). read fills up to cap bytes and
 * returns the count, 0 at the end, or a negative SL_E* code (details in err). */
struct sl_layer_stream {
    ssize_t (*read)(void *ctx, void *buf, size_t cap, struct sl_err *err);
    void *ctx;
};

struct sl_walk_limits {
    uint64_t max_entry_bytes;   /* one entry's content */
    uint64_t max_total_bytes;   /* uncompressed bytes of the layer */
    uint64_t ratio_floor_bytes; /* the ratio check starts beyond this many output bytes */
    unsigned max_ratio;         /* uncompressed / compressed */
    uint64_t max_entries;       /* tar headers */
    size_t max_path;            /* bytes of a path after pax/GNU long names */
};

/* 16 GiB per entry, 64 GiB per layer, 100:1 beyond 10 MiB, 1M headers, 4096-byte paths. */
void sl_walk_limits_default(struct sl_walk_limits *lim);

enum sl_tar_type {
    SL_TAR_FILE = 0,
    SL_TAR_HARDLINK,
    SL_TAR_SYMLINK,
    SL_TAR_DIR,
    SL_TAR_DEVICE, /* character and block devices, fifos: no content */
    SL_TAR_OTHER,  /* unknown types and GNU sparse files: content skipped, `problem` set */
};

struct sl_tar_entry {
    const char *path;     /* cleaned into the root, relative, no trailing '/'; "" for the root;
                           * for a path over the limit, its first max_path bytes */
    const char *linkname; /* hard link target cleaned like path; symlink target as written;
                           * "" otherwise */
    enum sl_tar_type type;
    char typeflag;       /* the header's type byte */
    unsigned mode;       /* permission bits incl. setuid/setgid */
    uint64_t size;       /* content bytes (regular files; 0 for the header-only types) */
    bool clamped;        /* a ".." in the path (or hard link target) climbed above the root */
    const char *problem; /* NULL, or why a runtime cannot apply this entry as written */
};

/* Called per entry. entry returns 0 (or a negative code to abort) and sets *want_data to get
 * the content through data() in chunks, then entry_end(). Without want_data, and always for an
 * entry with a problem, the content is skipped (entry_end is still called). */
struct sl_tar_visitor {
    int (*entry)(void *ctx, const struct sl_tar_entry *e, bool *want_data);
    int (*data)(void *ctx, const void *buf, size_t n);
    int (*entry_end)(void *ctx);
    void *ctx;
};

struct sl_walk_stats {
    uint64_t compressed_bytes;
    uint64_t uncompressed_bytes;
    uint64_t entries;
    uint64_t clamped_paths;  /* entries whose ".." climbed above the root (kept at the root) */
    uint64_t problems;       /* entries handed over with `problem` set */
    const char *compression; /* "gzip", "zstd", "none" */
};

/* Walks one layer. Returns 0; SL_ETOOBIG when a limit is hit (err names it); SL_EINVAL for
 * corrupt compression or tar data; the stream's or the visitor's code otherwise. The stream is
 * read to its end even after the tar end-of-archive marker, so a digesting stream sees every
 * byte. stats may be NULL. */
int sl_layer_walk(const struct sl_layer_stream *in, const struct sl_walk_limits *lim,
                  const struct sl_tar_visitor *v, struct sl_walk_stats *stats, struct sl_err *err);

/* Cleans a tar path into the root in place, as containerd does (filepath.Clean, then joined to
 * "/"): drops leading "/", "./", empty and "." components, resolves ".." lexically with ".." at
 * the root staying at the root, strips the trailing "/". Returns false when a ".." climbed above
 * the root (the path is cleaned all the same), true otherwise. */
bool sl_tar_normalize_path(char *path);

#endif
