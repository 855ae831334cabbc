/* OpenVEX documents (https://github.com/openvex/spec, v0.2.0 and the earlier
 * https://openvex.dev/ns contexts): statements saying whether a product is affected by a
 * vulnerability, held in memory and matched against scan findings. No I/O.
 *
 * A product is an image when its @id (or identifiers.purl) is a `pkg:oci/NAME@sha256:...`
 * purl (qualifier repository_url names the repository), an image reference with a digest
 * (`registry/repo@sha256:...`), a repository without tag or digest (`registry/repo`: every
 * image in it) or a bare digest. Other purl types and http(s)/urn IRIs are products sealift does
 * not deliver and never match. Subcomponents (purls such as `pkg:deb/debian/libc6@2.36-9`) narrow a
 * statement to the findings of those packages (binary or source name; version when the purl has
 * one).
 *
 * For one finding the newest matching statement decides (last_updated, else timestamp, else
 * the document's; among equal times the one loaded last): `not_affected` and `fixed` suppress
 * it, `affected` and `under_investigation` keep it. */
#ifndef SL_SCAN_VEX_H
#define SL_SCAN_VEX_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

/* Caps of one document and of a set (conventions: JSON documents 16 MiB). */
#define SL_VEX_MAX_DOC_BYTES      ((size_t)16 << 20)
#define SL_VEX_MAX_STATEMENTS     10000 /* per document */
#define SL_VEX_MAX_SET_STATEMENTS 100000
#define SL_VEX_MAX_PRODUCTS       1000 /* per statement */
#define SL_VEX_MAX_SUBCOMPONENTS  1000 /* per product */
#define SL_VEX_MAX_ALIASES        100
#define SL_VEX_MAX_STRING         4096 /* bytes of an id, name or statement text */

enum sl_vex_status {
    SL_VEX_NOT_AFFECTED = 0,
    SL_VEX_AFFECTED,
    SL_VEX_FIXED,
    SL_VEX_UNDER_INVESTIGATION,
};

struct sl_vex_package {
    char *name;    /* package name from the purl (or the whole @id when it is no purl) */
    char *version; /* decoded purl version, or NULL (any version) */
};

struct sl_vex_product {
    char *id;         /* as written */
    bool image;       /* false: another kind of product (never matches an image) */
    char digest[72];  /* "sha256:<hex>", or "" (the product names a repository) */
    char *repository; /* "registry/path" (Docker Hub as docker.io/...), or NULL */
    struct sl_vex_package *subcomponents;
    size_t nsubcomponents;
};

struct sl_vex_statement {
    char *vulnerability; /* vulnerability.name */
    char **aliases;
    size_t naliases;
    struct sl_vex_product *products;
    size_t nproducts;
    enum sl_vex_status status;
    char *justification;    /* may be NULL */
    char *impact_statement; /* may be NULL */
    time_t time;            /* effective time (see above) */
    size_t doc;             /* index into sl_vex.docs */
};

struct sl_vex {
    struct sl_vex_statement *statements;
    size_t nstatements;
    char **docs; /* document names as given to sl_vex_load */
    size_t ndocs;
};

/* The image a finding was found in: digest of the scanned manifest, the index it was delivered
 * under (or NULL) and its repository "registry/path" (or NULL when unknown, e.g. an OCI
 * layout). */
struct sl_vex_image {
    const char *digest;
    const char *index_digest;
    const char *repository;
};

void sl_vex_init(struct sl_vex *vex);
/* Frees everything vex holds and zeroes it. NULL is a no-op. */
void sl_vex_free(struct sl_vex *vex);

/* Parses one OpenVEX JSON document and adds its statements to vex. name labels errors and is
 * what sl_vex_doc_name returns for its statements. Returns 0; SL_EINVAL with err naming the
 * document and the field ("vendor.json: statements[2].status: Unsupported value ...") when the
 * document is not valid OpenVEX (nothing from it is kept); SL_ETOOBIG past a cap. */
int sl_vex_load(struct sl_vex *vex, const char *name, const char *data, size_t len,
                struct sl_err *err);

/* Appends a deep copy of src's documents and statements to dst, after dst's own (so at equal
 * times src's statements decide). src NULL is a no-op. Returns 0, or SL_ETOOBIG when the
 * result would hold more than SL_VEX_MAX_SET_STATEMENTS statements (dst unchanged). */
int sl_vex_append(struct sl_vex *dst, const struct sl_vex *src, struct sl_err *err);

/* The statement deciding the finding vuln_id (matched against vulnerability names and aliases,
 * ignoring case) of package pkg / source package src_pkg at version in img, or NULL when no
 * statement matches. Borrowed from vex. */
const struct sl_vex_statement *sl_vex_decide(const struct sl_vex *vex,
                                             const struct sl_vex_image *img, const char *vuln_id,
                                             const char *pkg, const char *src_pkg,
                                             const char *version);

/* Whether the status suppresses a finding (not_affected, fixed). */
bool sl_vex_status_suppresses(enum sl_vex_status status);

/* "not_affected", "affected", "fixed", "under_investigation". */
const char *sl_vex_status_name(enum sl_vex_status status);

/* The name of the document a statement came from (borrowed). */
const char *sl_vex_doc_name(const struct sl_vex *vex, const struct sl_vex_statement *st);

#endif
