/* One-call image scan over any image source: walks the layers bottom first through the
 * streaming walker, then evaluates the result (scanner.h). The source is a small interface, so
 * an OCI layout (ocilayout.h) and, later, a registry blob stream plug in the same way. */
#ifndef SL_SCAN_ENGINE_H
#define SL_SCAN_ENGINE_H

#include <stddef.h>

#include "scan/advisory.h"
#include "scan/malware.h"
#include "scan/scanner.h"
#include "scan/tarwalk.h"
#include "util/err.h"

struct sl_image_source {
    size_t nlayers;
    const char *config; /* image config JSON (borrowed), may be NULL */
    size_t config_len;
    /* Opens layer i (0 = bottom) as a stream; close_layer is called after each walk, also on
     * failure. Return 0 or an SL_E* code with err set. */
    int (*open_layer)(void *ctx, size_t i, struct sl_layer_stream *out, struct sl_err *err);
    void (*close_layer)(void *ctx, size_t i);
    /* Names layer i in error messages (a digest); may be NULL. */
    const char *(*layer_name)(void *ctx, size_t i);
    void *ctx;
};

/* Scans the image: rep is filled (free with sl_scan_report_free) on success. db and hsb may be
 * NULL; lim may be NULL (defaults). Returns 0, or the first layer or evaluation error (err says
 * which layer). */
int sl_scan_image(struct sl_scan_report *rep, const struct sl_image_source *src,
                  const struct sl_advdb *db, const struct sl_hsbdb *hsb,
                  const struct sl_scan_policy *pol, const struct sl_walk_limits *lim,
                  struct sl_err *err);

/* sl_scan_image that also appends the installed packages the report was made from to pkgs
 * (initialised by the caller, sl_pkgs_clear; may be NULL), for the image's SBOM (sbom.h). */
int sl_scan_image_inventory(struct sl_scan_report *rep, struct sl_pkgs *pkgs,
                            const struct sl_image_source *src, const struct sl_advdb *db,
                            const struct sl_hsbdb *hsb, const struct sl_scan_policy *pol,
                            const struct sl_walk_limits *lim, struct sl_err *err);

#endif
