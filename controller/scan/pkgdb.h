/* Installed-package databases and the operating system identity of an image filesystem:
 * dpkg `var/lib/dpkg/status` and `status.d/` files (distroless), apk `lib/apk/db/installed`,
 * `etc/os-release` and Alpine's `etc/apk/repositories`. Pure parsers over byte buffers. */
#ifndef SL_SCAN_PKGDB_H
#define SL_SCAN_PKGDB_H

#include <stdbool.h>
#include <stddef.h>

#include "scan/version.h"
#include "util/err.h"

struct sl_pkg {
    char *name;        /* binary package name */
    char *version;     /* installed version */
    char *src_name;    /* source package (dpkg Source:, apk o:), == name when not given */
    char *src_version; /* source version (dpkg "Source: n (v)"), == version when not given */
};

struct sl_pkgs {
    struct sl_pkg *items;
    size_t count;
    size_t cap;
};

/* Caps against hostile databases. */
#define SL_PKGDB_MAX_PACKAGES 100000
#define SL_PKGDB_MAX_FIELD    4096

/* Parses a dpkg status file (paragraphs of "Field: value" lines, continuation lines starting
 * with a space or tab) and appends the installed packages to pkgs. When require_installed is
 * true (var/lib/dpkg/status) only paragraphs with `Status: install ok installed` count; the
 * distroless status.d/ files carry no Status field and pass false. Returns 0, SL_ETOOBIG past
 * SL_PKGDB_MAX_PACKAGES. Paragraphs lacking Package or Version are skipped. */
int sl_pkgdb_parse_dpkg(struct sl_pkgs *pkgs, const char *data, size_t len, bool require_installed,
                        struct sl_err *err);

/* Parses apk's installed database ("P:name", "V:version", "o:origin" records separated by
 * blank lines) and appends to pkgs. Returns 0 or SL_ETOOBIG. */
int sl_pkgdb_parse_apk(struct sl_pkgs *pkgs, const char *data, size_t len, struct sl_err *err);

void sl_pkgs_init(struct sl_pkgs *pkgs);
/* Frees the packages (not the struct itself). NULL is a no-op. */
void sl_pkgs_clear(struct sl_pkgs *pkgs);

enum sl_os_family { SL_OS_UNKNOWN = 0, SL_OS_DEBIAN, SL_OS_UBUNTU, SL_OS_ALPINE };

struct sl_osinfo {
    enum sl_os_family family;
    char id[32];         /* ID= */
    char version_id[64]; /* VERSION_ID= */
    char codename[32];   /* VERSION_CODENAME=, or derived from VERSION="12 (bookworm)" */
    char release[32];    /* what advisories key on: Debian "12", Alpine "3.19" or "edge" */
};

/* Parses os-release text (KEY=value, optionally quoted) into out (zeroed first) and derives
 * the release: Debian VERSION_ID, else the number of VERSION_CODENAME/VERSION's codename;
 * Alpine major.minor of VERSION_ID; others VERSION_ID. Returns 0, or SL_EINVAL when no ID. */
int sl_osinfo_parse(struct sl_osinfo *out, const char *data, size_t len);

/* Applies an Alpine etc/apk/repositories file: a repository URL ".../alpine/edge/..." or
 * ".../alpine/v3.16/..." sets the release the packages come from. No-op for other systems. */
void sl_osinfo_apply_apk_repositories(struct sl_osinfo *os, const char *data, size_t len);

/* Debian release number for a codename ("bookworm" -> "12"), NULL when unknown. */
const char *sl_debian_number_for_codename(const char *codename);
/* Debian codename for a release number ("12" -> "bookworm"), NULL when unknown. */
const char *sl_debian_codename_for_number(const char *number);

/* Advisory ecosystem key of the image: "debian:12", "alpine:3.19", "ubuntu:22.04", written to
 * out (n bytes). Returns 0, or SL_ENOTFOUND when the OS or its release is unknown. */
int sl_osinfo_ecosystem(char *out, size_t n, const struct sl_osinfo *os);

/* Version scheme used by the OS's packages. */
enum sl_version_scheme sl_osinfo_scheme(const struct sl_osinfo *os);

#endif
