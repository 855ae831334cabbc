/* Package version ordering: Debian's (dpkg) and Alpine's (apk) algorithms.
 *
 * Both comparisons return <0, 0 or >0 like strcmp. They never fail: malformed versions are
 * compared as well as the algorithm allows (sl_version_*_valid says whether a string is well
 * formed, so callers can skip advisories whose versions are garbage). */
#ifndef SL_SCAN_VERSION_H
#define SL_SCAN_VERSION_H

#include <stdbool.h>

/* Debian: [epoch:]upstream[-revision]. The epoch compares numerically, then upstream, then
 * revision, each with dpkg's rule: non-digit runs compared char by char with '~' first, then the
 * end of the run, then letters, then everything else; digit runs compared numerically. */
int sl_version_deb_compare(const char *a, const char *b);
/* True when v is a version dpkg would accept (upstream starts with a digit, allowed chars). */
bool sl_version_deb_valid(const char *v);

/* Alpine: digits{.digits}[letter]{_suffix[N]}[-rN]. Pre-release suffixes (_alpha, _beta, _pre,
 * _rc) sort before the bare version, post-release ones (_cvs, _svn, _git, _hg, _p) after it. */
int sl_version_apk_compare(const char *a, const char *b);
bool sl_version_apk_valid(const char *v);

enum sl_version_scheme { SL_VERSION_DEB = 0, SL_VERSION_APK = 1 };
/* Dispatches on the scheme. */
int sl_version_compare(enum sl_version_scheme scheme, const char *a, const char *b);

#endif
