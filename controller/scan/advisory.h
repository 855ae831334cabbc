/* The advisory database of the built-in scanner, held in memory and indexed by ecosystem and
 * (source) package name. Loads, detected by content:
 *  - OSV records (one object, or an array of them): ECOSYSTEM ranges with introduced / fixed /
 *    last_affected events and explicit versions; severity from a CVSS v3 vector (per the
 *    CVSS 3.1 specification), else database_specific.severity, else Unknown;
 *  - the Debian security tracker JSON (package -> CVE -> releases -> codename -> status,
 *    fixed_version, urgency), and the per-entry tracker JSON of vuln-list-debian (Header +
 *    Annotations, CVE and DSA files);
 *  - Alpine secdb, YAML or JSON, whole files (distroversion + packages[].pkg.secfixes) or single
 *    package entries (name + secfixes + distroversion); the key "0" means never affected.
 * Ecosystem keys are normalised to "debian:<number>" (codenames are mapped to numbers),
 * "alpine:<major.minor>" or "alpine:edge", "ubuntu:<version>". */
#ifndef SL_SCAN_ADVISORY_H
#define SL_SCAN_ADVISORY_H

#include <stdbool.h>
#include <stddef.h>

#include "scan/cvss.h"
#include "util/strmap.h"
#include "scan/version.h"
#include "util/err.h"

/* One affected interval: [introduced, fixed) or [introduced, last_affected]. A NULL or "0"
 * introduced means from the first version; NULL fixed and last_affected mean no fix yet. */
struct sl_adv_range {
    char *introduced;
    char *fixed;
    char *last_affected;
};

struct sl_advisory {
    char *id;  /* CVE-..., GHSA-..., DSA-... */
    char *eco; /* normalised ecosystem key */
    char *pkg; /* package name in that ecosystem (a source package for Debian/Alpine) */
    struct sl_adv_range *ranges;
    size_t nranges;
    char **versions; /* explicitly affected versions (OSV affected[].versions) */
    size_t nversions;
    enum sl_severity severity;
    char *summary;      /* may be NULL */
    const char *format; /* "osv", "debian-tracker", "alpine-secdb" (static string) */
    int precedence;     /* release-specific statements (2) win over distribution-wide ones (1) */
};

struct sl_advdb {
    struct sl_strmap index;  /* "eco\tpkg" -> struct sl_adv_list * */
    size_t records;          /* advisory entries held (one per id, ecosystem and package) */
    size_t files;            /* files loaded */
    size_t skipped;          /* entries ignored: other ecosystems, non-ECOSYSTEM ranges */
    char digest[72];         /* "sha256:<hex>" of the loaded files (sl_advdb_load_dir) */
    size_t ignored;          /* files sl_advdb_load_dir passed over (documentation, hidden) */
    char ignored_names[160]; /* the first few of them, ", "-separated (may be cut short) */
};

/* Per-file size cap (conventions: JSON/YAML documents 16 MiB). */
#define SL_ADVDB_MAX_FILE ((size_t)16 << 20)

void sl_advdb_init(struct sl_advdb *db);
void sl_advdb_free(struct sl_advdb *db);

/* Loads one advisory document (any supported format, detected by content). name labels
 * errors. Returns 0; SL_EINVAL when the document is malformed or of no known format (nothing
 * from it is kept); SL_ETOOBIG past SL_ADVDB_MAX_FILE. */
int sl_advdb_load_buffer(struct sl_advdb *db, const char *name, const char *data, size_t len,
                         struct sl_err *err);

/* Loads every regular file under dir (recursively, in name order; hidden files, README*,
 * LICENSE*, .md and .txt files skipped) and
 * sets db->digest over their relative paths and contents. Files whose content is not an
 * advisory format fail the load (SL_EINVAL naming the file). SL_ENOTFOUND when dir is
 * missing. */
int sl_advdb_load_dir(struct sl_advdb *db, const char *dir, struct sl_err *err);

/* Refuses a database without a single advisory record: SL_EINVAL with a message saying how many
 * files were read, which were passed over as not advisories (a few names), how many entries
 * were skipped (other ecosystems, non-ECOSYSTEM ranges) and which formats are read. Returns 0
 * when db holds at least one record. */
int sl_advdb_require_records(const struct sl_advdb *db, struct sl_err *err);

/* Advisories for a package in an ecosystem (exact key, plus "<distro>:*" entries). Calls fn for
 * each; the pointers are borrowed from db. */
void sl_advdb_each_for(const struct sl_advdb *db, const char *eco, const char *pkg,
                       void (*fn)(const struct sl_advisory *adv, void *ctx), void *ctx);

/* Calls fn for every advisory held (unspecified order). */
void sl_advdb_each(const struct sl_advdb *db, void (*fn)(const struct sl_advisory *adv, void *ctx),
                   void *ctx);

/* Whether version is affected. On true, *fixed_out (may be NULL) receives the fixed version of
 * the matching range (borrowed), or NULL when there is none. */
bool sl_advisory_affects(const struct sl_advisory *adv, enum sl_version_scheme scheme,
                         const char *version, const char **fixed_out);

/* Normalises an OSV ecosystem ("Debian:12", "Debian:bookworm", "Alpine:v3.15", "Ubuntu:22.04")
 * into out. Returns 0 or SL_EUNSUPPORTED for other ecosystems. */
int sl_advdb_ecosystem_key(char *out, size_t n, const char *osv_ecosystem);

#endif
