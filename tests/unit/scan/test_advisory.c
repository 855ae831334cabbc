/* CVSS scoring and advisory loading/matching over the real advisory test data. */
#include "check.h"
#include "scan/advisory.h"
#include "scan/cvss.h"
#include "testutil.h"

static void test_cvss_vectors(void)
{
    size_t len;
    char *data = read_data("cvss_vectors.txt", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char vec[256];
        double want;
        if (sscanf(line, "%255s %lf", vec, &want) != 2)
            continue;
        double got = -1;
        CHECK_INT_EQ(sl_cvss3_base_score(&got, vec), 0);
        if ((long)(got * 10 + 0.5) != (long)(want * 10 + 0.5))
            fprintf(stderr, "%s: got %.1f want %.1f\n", vec, got, want);
        CHECK_INT_EQ((long)(got * 10 + 0.5), (long)(want * 10 + 0.5));
        n++;
    }
    CHECK(n >= 30);
    free(data);
    double s;
    CHECK_INT_EQ(sl_cvss3_base_score(&s, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0);
    CHECK_INT_EQ(sl_cvss3_rating(s), SL_SEV_NONE);
    CHECK_INT_EQ(sl_cvss3_base_score(&s, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), 0);
    CHECK_INT_EQ((long)(s * 10 + 0.5), 100);
    CHECK_INT_EQ(sl_cvss3_rating(s), SL_SEV_CRITICAL);
    CHECK_INT_EQ(sl_cvss3_base_score(&s, "CVSS:2.0/AV:N"), SL_EINVAL);
    CHECK_INT_EQ(sl_cvss3_base_score(&s, "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                 SL_EINVAL);
    CHECK_INT_EQ(sl_cvss3_base_score(&s, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"), SL_EINVAL);
    enum sl_severity sev;
    CHECK_INT_EQ(sl_severity_parse(&sev, "low**"), 0);
    CHECK_INT_EQ(sev, SL_SEV_LOW);
    CHECK_INT_EQ(sl_severity_parse(&sev, "MODERATE"), 0);
    CHECK_INT_EQ(sev, SL_SEV_MEDIUM);
    CHECK_INT_EQ(sl_severity_parse(&sev, "not yet assigned"), SL_EINVAL);
}

struct found {
    const char *id;
    const struct sl_advisory *adv;
    int count;
};

static void find_cb(const struct sl_advisory *adv, void *ctx)
{
    struct found *f = ctx;
    f->count++;
    if (strcmp(adv->id, f->id) == 0)
        f->adv = adv;
}

static const struct sl_advisory *lookup(struct sl_advdb *db, const char *eco, const char *pkg,
                                        const char *id)
{
    struct found f = {id, NULL, 0};
    sl_advdb_each_for(db, eco, pkg, find_cb, &f);
    return f.adv;
}

/* affected? and the fixed version reported */
static void check_affects(const struct sl_advisory *a, enum sl_version_scheme sch,
                          const char *version, int want, const char *want_fixed)
{
    CHECK(a != NULL);
    if (!a)
        return;
    const char *fixed = "unset";
    bool got = sl_advisory_affects(a, sch, version, &fixed);
    if ((int)got != want)
        fprintf(stderr, "%s %s %s: affected %d want %d\n", a->id, a->pkg, version, got, want);
    CHECK_INT_EQ(got, want);
    if (want && want_fixed)
        CHECK_STR_EQ(fixed, want_fixed);
    if (want && !want_fixed)
        CHECK(fixed == NULL);
}

static void test_debian_tracker_json(void)
{
    size_t len;
    struct sl_err err = {0};
    struct sl_advdb db;
    sl_advdb_init(&db);
    char *data = read_data("advisories/anchore/vunnel/tests/unit/providers/debian/test-fixtures/"
                           "input/debian.json",
                           &len);
    CHECK(data != NULL);
    if (!data)
        return;
    CHECK_INT_EQ(sl_advdb_load_buffer(&db, "debian.json", data, len, &err), 0);
    free(data);
    /* prototypejs CVE-2008-7220: resolved in buster (10) with fixed 1.6.0.2-1, urgency high** */
    const struct sl_advisory *a = lookup(&db, "debian:10", "prototypejs", "CVE-2008-7220");
    check_affects(a, SL_VERSION_DEB, "1.6.0.1-1", 1, "1.6.0.2-1");
    check_affects(a, SL_VERSION_DEB, "1.7.1-3", 0, NULL);
    if (a)
        CHECK_INT_EQ(a->severity, SL_SEV_HIGH);

    data = read_data("advisories/google/osv.dev/vulnfeeds/test_data/debian/"
                     "debian_security_tracker_mock.json",
                     &len);
    CHECK(data != NULL);
    if (!data)
        return;
    CHECK_INT_EQ(sl_advdb_load_buffer(&db, "mock.json", data, len, &err), 0);
    free(data);
    /* busybox CVE-2018-1000500: open in bookworm (12), no fix, urgency unimportant -> Low */
    a = lookup(&db, "debian:12", "busybox", "CVE-2018-1000500");
    check_affects(a, SL_VERSION_DEB, "1:1.35.0-4", 1, NULL);
    if (a)
        CHECK_INT_EQ(a->severity, SL_SEV_LOW);
    /* "sid" has no release number: nothing keyed on it */
    CHECK(db.records > 0);
    sl_advdb_free(&db);
}

static void test_debian_vuln_list_entries(void)
{
    static const char *const files[] = {
        "advisories/aquasecurity/vuln-list-debian/tracker/CVE/2023/CVE-2023-4911.json",
        "advisories/aquasecurity/vuln-list-debian/tracker/CVE/2024/CVE-2024-5535.json",
        "advisories/aquasecurity/vuln-list-debian/tracker/DSA/DSA-5514-1.json",
        "advisories/aquasecurity/vuln-list-debian/tracker/DSA/DSA-5673-1.json",
        "advisories/aquasecurity/vuln-list-debian/tracker/DSA/DSA-5724-1.json",
    };
    /* load in both orders: the DSA's fix must complete the still-open CVE entry either way */
    for (int order = 0; order < 2; order++) {
        struct sl_advdb db;
        sl_advdb_init(&db);
        struct sl_err err = {0};
        for (int k = 0; k < 5; k++) {
            int i = order ? 4 - k : k;
            size_t len;
            char *data = read_data(files[i], &len);
            CHECK(data != NULL);
            if (!data)
                continue;
            CHECK_INT_EQ(sl_advdb_load_buffer(&db, files[i], data, len, &err), 0);
            free(data);
        }
        const struct sl_advisory *a = lookup(&db, "debian:12", "glibc", "CVE-2023-4911");
        check_affects(a, SL_VERSION_DEB, "2.36-9+deb12u1", 1, "2.36-9+deb12u3");
        check_affects(a, SL_VERSION_DEB, "2.36-9+deb12u3", 0, NULL);
        check_affects(a, SL_VERSION_DEB, "2.36-9+deb12u13", 0, NULL);
        a = lookup(&db, "debian:12", "glibc", "CVE-2024-2961");
        check_affects(a, SL_VERSION_DEB, "2.36-9+deb12u3", 1, "2.36-9+deb12u6");
        check_affects(a, SL_VERSION_DEB, "2.36-9+deb12u7", 0, NULL);
        /* buster: not affected */
        CHECK(lookup(&db, "debian:10", "glibc", "CVE-2023-4911") == NULL);
        /* openssh, epoch in the fixed version */
        a = lookup(&db, "debian:12", "openssh", "CVE-2024-6387");
        check_affects(a, SL_VERSION_DEB, "1:9.2p1-2+deb12u2", 1, "1:9.2p1-2+deb12u3");
        check_affects(a, SL_VERSION_DEB, "1:9.2p1-2+deb12u3", 0, NULL);
        /* CVE-2024-5535: postponed in bookworm (open), fixed 3.3.2-1 elsewhere */
        a = lookup(&db, "debian:12", "openssl", "CVE-2024-5535");
        check_affects(a, SL_VERSION_DEB, "3.0.15-1~deb12u1", 1, NULL);
        a = lookup(&db, "debian:13", "openssl", "CVE-2024-5535");
        check_affects(a, SL_VERSION_DEB, "3.3.2-1", 0, NULL);
        check_affects(a, SL_VERSION_DEB, "3.3.1-1", 1, "3.3.2-1");
        sl_advdb_free(&db);
    }
}

static void test_alpine_secdb(void)
{
    struct sl_advdb db;
    sl_advdb_init(&db);
    struct sl_err err = {0};
    size_t len;
    char *data = read_data("advisories/anchore/vunnel/tests/unit/providers/alpine/test-fixtures/"
                           "input/secdb/v3.15/main.yaml",
                           &len);
    CHECK(data != NULL);
    if (!data)
        return;
    CHECK_INT_EQ(sl_advdb_load_buffer(&db, "main.yaml", data, len, &err), 0);
    free(data);
    const struct sl_advisory *a = lookup(&db, "alpine:3.15", "zlib", "CVE-2022-37434");
    check_affects(a, SL_VERSION_APK, "1.2.12-r1", 1, "1.2.12-r2");
    check_affects(a, SL_VERSION_APK, "1.2.12-r2", 0, NULL);
    a = lookup(&db, "alpine:3.15", "zsh", "CVE-2018-1071");
    check_affects(a, SL_VERSION_APK, "5.4.2-r0", 1, "5.4.2-r1");

    static const char *const entries[] = {
        "3.23/main/curl.json",    "3.22/main/musl.json",    "3.23/main/musl.json",
        "3.23/main/expat.json",   "3.22/main/busybox.json", "3.23/main/apk-tools.json",
        "3.23/main/busybox.json", "3.23/main/openssl.json", "3.23/main/sqlite.json",
        "3.23/main/xz.json",      "3.23/main/zlib.json",    "3.21/main/busybox.json",
        "3.21/main/openssl.json", "3.22/main/openssl.json"};
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "advisories/aquasecurity/vuln-list/alpine/%s", entries[i]);
        data = read_data(rel, &len);
        CHECK(data != NULL);
        if (!data)
            continue;
        int rc = sl_advdb_load_buffer(&db, rel, data, len, &err);
        if (rc)
            fprintf(stderr, "%s\n", err.msg);
        CHECK_INT_EQ(rc, 0);
        free(data);
    }
    /* musl 3.22: CVE-2020-28928 fixed in 1.2.2_pre2-r0 (a pre-release) */
    a = lookup(&db, "alpine:3.22", "musl", "CVE-2020-28928");
    check_affects(a, SL_VERSION_APK, "1.2.1-r0", 1, "1.2.2_pre2-r0");
    check_affects(a, SL_VERSION_APK, "1.2.2-r0", 0, NULL);
    a = lookup(&db, "alpine:3.22", "musl", "CVE-2025-26519");
    check_affects(a, SL_VERSION_APK, "1.2.5-r9", 1, "1.2.5-r10");
    check_affects(a, SL_VERSION_APK, "1.2.5-r10", 0, NULL);
    /* the unsorted curl keys: 8.10.0-r0 is newer than 8.3.0-r0 */
    CHECK(db.records > 50);
    sl_advdb_free(&db);
}

static void test_osv_and_errors(void)
{
    struct sl_advdb db;
    sl_advdb_init(&db);
    struct sl_err err = {0};
    size_t len;
    char *data = read_data("osv/sample.json", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    CHECK_INT_EQ(sl_advdb_load_buffer(&db, "sample.json", data, len, &err), 0);
    free(data);
    /* codename ecosystem maps to the number */
    const struct sl_advisory *a = lookup(&db, "debian:12", "glibc", "CVE-2099-0001");
    check_affects(a, SL_VERSION_DEB, "2.36-9", 1, "2.36-9+deb12u4");
    check_affects(a, SL_VERSION_DEB, "2.35-1", 0, NULL); /* before introduced */
    if (a)
        CHECK_INT_EQ(a->severity, SL_SEV_CRITICAL); /* CVSS 9.8 vector beats "LOW" */
    a = lookup(&db, "debian:12", "zlib", "CVE-2099-0002");
    check_affects(a, SL_VERSION_DEB, "1:1.2.13.dfsg-1", 1, NULL); /* last_affected: no fix */
    check_affects(a, SL_VERSION_DEB, "1:1.2.13.dfsg-2", 0, NULL);
    if (a)
        CHECK_INT_EQ(a->severity, SL_SEV_MEDIUM); /* database_specific.severity */
    a = lookup(&db, "alpine:3.19", "busybox", "CVE-2099-0003");
    check_affects(a, SL_VERSION_APK, "1.36.1-r15", 1, NULL);
    if (a)
        CHECK_INT_EQ(a->severity, SL_SEV_UNKNOWN);
    /* npm ecosystem is skipped, not an error */
    CHECK(db.skipped >= 1);

    size_t before = db.records;
    static const char *const bad[] = {
        "{\"id\": \"X\", \"affected\": 7}",
        "{\"id\": \"X\", \"affected\": [{\"package\": {}}]}",
        "{\"hello\": \"world\"}",
        "[1, 2]",
        "{not json",
        "key: [unclosed",
        "- just\n- a list\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sl_advdb_load_buffer(&db, "bad", bad[i], strlen(bad[i]), &err);
        CHECK_INT_EQ(rc, SL_EINVAL);
        CHECK_CONTAINS(err.msg, "bad");
    }
    CHECK_INT_EQ(db.records, before);
    sl_advdb_free(&db);

    /* a directory load gives a digest and fails on a non-advisory file */
    sl_advdb_init(&db);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/osv", data_dir);
    CHECK_INT_EQ(sl_advdb_load_dir(&db, dir, &err), 0);
    CHECK(strncmp(db.digest, "sha256:", 7) == 0 && strlen(db.digest) == 71);
    CHECK_INT_EQ(db.files, 2);
    /* one record naming curl twice: both ranges and the explicit version count */
    a = lookup(&db, "debian:11", "curl", "CVE-2099-0010");
    check_affects(a, SL_VERSION_DEB, "7.64.0-4", 1, "7.74.0-1");
    check_affects(a, SL_VERSION_DEB, "7.74.0-1", 0, NULL);
    check_affects(a, SL_VERSION_DEB, "7.80.0-1", 1, NULL);
    check_affects(a, SL_VERSION_DEB, "7.88.1-2", 1, "7.88.1-3");
    check_affects(a, SL_VERSION_DEB, "7.88.1-3", 0, NULL);
    /* withdrawn */
    CHECK(lookup(&db, "debian:11", "curl", "CVE-2099-0011") == NULL);
    sl_advdb_free(&db);
    sl_advdb_init(&db);
    snprintf(dir, sizeof(dir), "%s/pkgdb", data_dir);
    CHECK_INT_EQ(sl_advdb_load_dir(&db, dir, &err), SL_EINVAL);
    sl_advdb_free(&db);
    sl_advdb_init(&db);
    CHECK_INT_EQ(sl_advdb_load_dir(&db, "/nonexistent-sealift", &err), SL_ENOTFOUND);
    sl_advdb_free(&db);
}

/* An advisory file is converted by the shared YAML reader: plain scalars stay text (versions
 * such as 1.10 are not numbers), anchors within the budget expand, and an alias bomb is refused
 * with a clear error before it is expanded. */
static void test_yaml_aliases(void)
{
    struct sl_advdb db;
    sl_advdb_init(&db);
    struct sl_err err = {0};
    static const char ok[] = "distroversion: v3.19\n"
                             "reponame: main\n"
                             "packages:\n"
                             "- pkg:\n"
                             "    name: zlib\n"
                             "    secfixes:\n"
                             "      1.10-r0: &cves\n"
                             "      - CVE-2099-0100\n"
                             "- pkg:\n"
                             "    name: minizip\n"
                             "    secfixes:\n"
                             "      1.10-r0: *cves\n";
    CHECK_INT_EQ(sl_advdb_load_buffer(&db, "ok.yaml", ok, strlen(ok), &err), 0);
    const struct sl_advisory *a = lookup(&db, "alpine:3.19", "zlib", "CVE-2099-0100");
    check_affects(a, SL_VERSION_APK, "1.9-r0", 1, "1.10-r0");
    a = lookup(&db, "alpine:3.19", "minizip", "CVE-2099-0100");
    check_affects(a, SL_VERSION_APK, "1.10-r0", 0, NULL);

    /* nine levels of ten aliases: 10^9 nodes once expanded, from a few hundred bytes */
    char bomb[2048];
    size_t off = (size_t)snprintf(bomb, sizeof(bomb),
                                  "distroversion: v3.19\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++) {
        off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "%s*l%d", k ? ", " : "", i - 1);
        off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "]\n");
    }
    snprintf(bomb + off, sizeof(bomb) - off, "packages: *l9\n");
    size_t before = db.records;
    int rc = sl_advdb_load_buffer(&db, "bomb.yaml", bomb, strlen(bomb), &err);
    CHECK_INT_EQ(rc, SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "bomb.yaml");
    CHECK_CONTAINS(err.msg, "aliases expanded");
    CHECK_INT_EQ(db.records, before);
    sl_advdb_free(&db);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_cvss_vectors);
    RUN(test_debian_tracker_json);
    RUN(test_debian_vuln_list_entries);
    RUN(test_alpine_secdb);
    RUN(test_osv_and_errors);
    RUN(test_yaml_aliases);
    return CHECK_EXIT();
}
