/* Images and advisory artifacts read from a registry for the scanner: resolves a reference to
 * one image manifest (an index picks a platform, linux/amd64 by default), fetches its config,
 * and streams layer blobs into the layer walker. Each layer is downloaded by a helper thread
 * into a bounded ring buffer (memory does not grow with the layer); its sha256 is checked at
 * the end and a mismatch fails the last read, so no verdict is built from unverified bytes.
 *
 * Advisory artifacts (`sealift db push`): an OCI manifest whose config has media type
 * SL_ADVDB_CONFIG_MT and one tar+gzip layer of advisory files. */
#ifndef SL_SCAN_REGIMAGE_H
#define SL_SCAN_REGIMAGE_H

#include <stddef.h>

#include "oci/registry.h"
#include "scan/advisory.h"
#include "scan/engine.h"
#include "scan/vex.h"
#include "util/err.h"

#define SL_ADVDB_ARTIFACT_TYPE "application/vnd.sealift.advisories.v1"
#define SL_ADVDB_CONFIG_MT     "application/vnd.sealift.advisories.config.v1+json"
#define SL_ADVDB_LAYER_MT      "application/vnd.sealift.advisories.layer.v1.tar+gzip"
#define SL_ADVDB_ANN_RECORDS   "dev.sealift.advisories.records"
/* Uncompressed bytes an advisory artifact may hold in total. */
#define SL_ADVDB_MAX_TOTAL ((size_t)512 << 20)

struct sl_reg_layer {
    char digest[72];
    int64_t size;
};

struct sl_reg_image {
    struct sl_registry *reg; /* borrowed */
    char *repo;
    char manifest_digest[72]; /* of the image manifest (the platform's, under an index) */
    char *config;             /* config blob, NUL-terminated */
    size_t config_len;
    struct sl_reg_layer *layers; /* bottom first */
    size_t nlayers;
    void *open; /* the layer stream currently open */
};

/* Resolves repo:reference (tag or digest) on reg. platform "os/arch[/variant]" or NULL
 * (linux/amd64). Returns 0; SL_ENOTFOUND (image or platform absent); registry errors. out is
 * the caller's (sl_reg_image_free). */
int sl_reg_image_open(struct sl_reg_image *out, struct sl_registry *reg, const char *repo,
                      const char *reference, const char *platform, struct sl_err *err);
void sl_reg_image_free(struct sl_reg_image *img);

/* Fills src so that sl_scan_image reads img's layers from the registry. */
void sl_reg_image_source(struct sl_image_source *src, struct sl_reg_image *img);

/* Streams blob digest of repo into a layer stream (helper thread + bounded buffer). Close with
 * sl_reg_blob_close, also after errors. */
struct sl_reg_blob;
int sl_reg_blob_open(struct sl_reg_blob **out, struct sl_layer_stream *stream,
                     struct sl_registry *reg, const char *repo, const char *digest,
                     struct sl_err *err);
void sl_reg_blob_close(struct sl_reg_blob *b);

/* Loads the advisory artifact repo:reference into db (digest verified, unpacked in memory
 * within SL_ADVDB_MAX_TOTAL). db->digest becomes the artifact's manifest digest. Returns 0,
 * SL_EINVAL (not an advisory artifact, malformed files: nothing usable), registry errors. */
int sl_advdb_load_image(struct sl_advdb *db, struct sl_registry *reg, const char *repo,
                        const char *reference, struct sl_err *err);

/* Whether a file name in an advisory directory or artifact is skipped (hidden, README*,
 * LICENSE*, *.md, *.txt). base is the last path component. */
int sl_advdb_skip_name(const char *base);

struct sl_cli_registry;

/* For the CLI (cmd_scan.c): loads --db into db: a directory or file of advisories, or an
 * advisory artifact image (a docker:// prefix is accepted), read with the registry flags
 * regflags (oci/cliregistry.h: --creds, --creds-file, --insecure).
 * A database without a single advisory record is an error (exit 2). Prints the error as
 * command cmd and sets *exit_code to SL_EXIT_REMOTE for registry failures.
 * Returns 0 or -1. */
int sl_scan_cli_load_db(struct sl_advdb *db, const char *db_path,
                        const struct sl_cli_registry *regflags, int *exit_code, const char *cmd);

/* For the CLI (--vex FILE, repeatable): reads and loads the OpenVEX documents paths[0..n) into
 * vex (initialised by the caller). An unreadable, too large (SL_VEX_MAX_DOC_BYTES) or invalid
 * document is printed as command cmd's error, naming the file. Returns 0 or -1 (exit 2). */
int sl_scan_cli_load_vex(struct sl_vex *vex, const char *const *paths, size_t n, const char *cmd);

/* For the CLI (--platform OS/ARCH[/VARIANT] of scan and attest): returns 0 when platform is NULL
 * or parses as a platform, else prints command cmd's usage error and returns -1 (exit 2). */
int sl_scan_cli_check_platform(const char *platform, const char *cmd);
#endif
