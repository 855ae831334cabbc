/* Scan report output: a human table, sealift's JSON report and SARIF 2.1.0. */
#ifndef SL_SCAN_REPORT_H
#define SL_SCAN_REPORT_H

#include <stdio.h>

#include "scan/scanner.h"

enum sl_report_format { SL_REPORT_TABLE = 0, SL_REPORT_JSON, SL_REPORT_SARIF };

/* Context printed with the report; any field may be NULL/0. */
struct sl_report_meta {
    const char *image;     /* the reference scanned */
    const char *digest;    /* manifest digest */
    const char *db_digest; /* advisory database digest */
    size_t db_records;
    const char *fail_on; /* threshold name, NULL when report only */
};

/* Parses "table", "json", "sarif". Returns 0 or SL_EINVAL. */
int sl_report_format_parse(enum sl_report_format *out, const char *s);

/* Writes the report to out. The result is "pass" / "fail", or "not-evaluated" when nothing
 * failed and meta->fail_on is NULL (findings listed, not judged); the table's last line says the
 * same with the counts ("Result: not evaluated (no --fail-on given): 1 High"). Returns 0, or
 * SL_EFAIL on a write error. */
int sl_report_write(FILE *out, const struct sl_scan_report *rep, enum sl_report_format fmt,
                    const struct sl_report_meta *meta);

#endif
