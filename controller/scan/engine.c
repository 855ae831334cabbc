/* sl_scan_image: layers -> imagefs -> report. */
#include "scan/engine.h"

#include <string.h>

#include "scan/imagefs.h"

int sl_scan_image(struct sl_scan_report *rep, const struct sl_image_source *src,
                  const struct sl_advdb *db, const struct sl_hsbdb *hsb,
                  const struct sl_scan_policy *pol, const struct sl_walk_limits *lim,
                  struct sl_err *err)
{
    return sl_scan_image_inventory(rep, NULL, src, db, hsb, pol, lim, err);
}

int sl_scan_image_inventory(struct sl_scan_report *rep, struct sl_pkgs *pkgs,
                            const struct sl_image_source *src, const struct sl_advdb *db,
                            const struct sl_hsbdb *hsb, const struct sl_scan_policy *pol,
                            const struct sl_walk_limits *lim, struct sl_err *err)
{
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, hsb);
    int rc = 0;
    for (size_t i = 0; i < src->nlayers; i++) {
        struct sl_layer_stream s;
        memset(&s, 0, sizeof(s));
        rc = src->open_layer(src->ctx, i, &s, err);
        if (rc == 0)
            rc = sl_imagefs_add_layer(&fs, &s, lim, err);
        if (src->close_layer)
            src->close_layer(src->ctx, i);
        if (rc) {
            const char *name = src->layer_name ? src->layer_name(src->ctx, i) : NULL;
            if (name)
                sl_err_prefix(err, "layer %zu (%s)", i, name);
            else
                sl_err_prefix(err, "layer %zu", i);
            goto done;
        }
    }
    sl_imagefs_finish(&fs);
    rc = sl_scan_evaluate(rep, &fs, src->config, src->config_len, db, pol, err);
    if (!rc && pkgs) {
        /* the same view the report was made from: collecting again only re-reads memory */
        struct sl_osinfo os;
        bool os_found = false;
        rc = sl_scan_collect(pkgs, &os, &os_found, &fs, err);
        if (rc)
            sl_scan_report_free(rep);
    }
done:
    sl_imagefs_free(&fs);
    return rc;
}
