/* CVSS v3.0/v3.1 base score from a vector string, per the CVSS 3.1 specification (first.org),
 * and the qualitative severity rating scale. */
#ifndef SL_SCAN_CVSS_H
#define SL_SCAN_CVSS_H

/* Severities, ordered: comparisons like sev >= SL_SEV_HIGH work. */
enum sl_severity {
    SL_SEV_UNKNOWN = 0,
    SL_SEV_NONE = 1,
    SL_SEV_LOW = 2,
    SL_SEV_MEDIUM = 3,
    SL_SEV_HIGH = 4,
    SL_SEV_CRITICAL = 5,
};

/* Computes the base score (0.0 .. 10.0) of "CVSS:3.x/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
 * (metrics in any order; temporal/environmental metrics ignored). Returns 0, or SL_EINVAL when
 * the prefix, a base metric or its value is missing or unknown. */
int sl_cvss3_base_score(double *out, const char *vector);

/* Rating of a base score: 0 None, 0.1-3.9 Low, 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10 Critical. */
enum sl_severity sl_cvss3_rating(double score);

/* "Critical", "High", "Medium", "Low", "None", "Unknown". */
const char *sl_severity_name(enum sl_severity sev);
/* Parses a severity name, case-insensitive; also GHSA's "MODERATE" (Medium) and Debian
 * urgencies ("unimportant"/"low**" Low, "medium*" Medium, ...). Unknown words give
 * SL_SEV_UNKNOWN and return SL_EINVAL. */
int sl_severity_parse(enum sl_severity *out, const char *s);

#endif
