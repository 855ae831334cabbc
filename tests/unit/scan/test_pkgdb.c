/* dpkg / apk databases and os-release parsing. */
#include "check.h"
#include "scan/pkgdb.h"
#include "testutil.h"

static const struct sl_pkg *find(const struct sl_pkgs *pkgs, const char *name)
{
    for (size_t i = 0; i < pkgs->count; i++)
        if (strcmp(pkgs->items[i].name, name) == 0)
            return &pkgs->items[i];
    return NULL;
}

static void test_dpkg_status(void)
{
    size_t len;
    char *data = read_data("pkgdb/dpkg_status", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    struct sl_pkgs pkgs;
    sl_pkgs_init(&pkgs);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_pkgdb_parse_dpkg(&pkgs, data, len, true, &err), 0);
    /* libc6, e2fslibs, bash, held; not the removed, half-installed, version-less ones or the
     * "Package:" inside a description */
    CHECK_INT_EQ(pkgs.count, 4);
    const struct sl_pkg *p = find(&pkgs, "libc6");
    CHECK(p != NULL);
    if (p) {
        CHECK_STR_EQ(p->version, "2.36-9+deb12u3");
        CHECK_STR_EQ(p->src_name, "glibc");
        CHECK_STR_EQ(p->src_version, "2.36-9+deb12u3");
    }
    p = find(&pkgs, "e2fslibs");
    CHECK(p != NULL);
    if (p) {
        CHECK_STR_EQ(p->version, "1.43.4-2+b1");
        CHECK_STR_EQ(p->src_name, "e2fsprogs");
        CHECK_STR_EQ(p->src_version, "1.43.4-2");
    }
    p = find(&pkgs, "bash");
    CHECK(p != NULL);
    if (p)
        CHECK_STR_EQ(p->src_name, "bash");
    CHECK(find(&pkgs, "removed-pkg") == NULL);
    CHECK(find(&pkgs, "half-installed") == NULL);
    CHECK(find(&pkgs, "not-a-package") == NULL);
    sl_pkgs_clear(&pkgs);
    free(data);

    /* distroless status.d: no Status field */
    data = read_data("pkgdb/status.d_base", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    CHECK_INT_EQ(sl_pkgdb_parse_dpkg(&pkgs, data, len, false, &err), 0);
    CHECK_INT_EQ(pkgs.count, 1);
    if (pkgs.count == 1) {
        CHECK_STR_EQ(pkgs.items[0].name, "libssl1.1");
        CHECK_STR_EQ(pkgs.items[0].src_name, "openssl");
        CHECK_STR_EQ(pkgs.items[0].src_version, "1.1.0k-1~deb9u1");
    }
    /* with require_installed the same paragraph does not count */
    sl_pkgs_clear(&pkgs);
    CHECK_INT_EQ(sl_pkgdb_parse_dpkg(&pkgs, data, len, true, &err), 0);
    CHECK_INT_EQ(pkgs.count, 0);
    sl_pkgs_clear(&pkgs);
    free(data);
}

static void test_apk_installed(void)
{
    size_t len;
    char *data =
        read_data("advisories/aquasecurity/trivy/pkg/fanal/analyzer/pkg/apk/testdata/apk", &len);
    CHECK(data != NULL);
    if (!data)
        return;
    struct sl_pkgs pkgs;
    sl_pkgs_init(&pkgs);
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_pkgdb_parse_apk(&pkgs, data, len, &err), 0);
    /* 16 P: records, one of them without a version */
    CHECK_INT_EQ(pkgs.count, 15);
    const struct sl_pkg *p = find(&pkgs, "musl");
    CHECK(p != NULL);
    if (p) {
        CHECK_STR_EQ(p->version, "1.1.14-r10");
        CHECK_STR_EQ(p->src_name, "musl");
    }
    p = find(&pkgs, "libcrypto1.0");
    CHECK(p != NULL);
    if (p)
        CHECK_STR_EQ(p->src_name, "openssl");
    CHECK(find(&pkgs, "invalidPackageWithoutAVersion") == NULL);
    sl_pkgs_clear(&pkgs);
    free(data);
}

static void check_os(const char *file, enum sl_os_family fam, const char *release,
                     const char *codename, const char *eco)
{
    size_t len;
    char *data = read_data(file, &len);
    CHECK(data != NULL);
    if (!data)
        return;
    struct sl_osinfo os;
    CHECK_INT_EQ(sl_osinfo_parse(&os, data, len), 0);
    CHECK_INT_EQ(os.family, fam);
    CHECK_STR_EQ(os.release, release);
    if (codename)
        CHECK_STR_EQ(os.codename, codename);
    char key[64];
    CHECK_INT_EQ(sl_osinfo_ecosystem(key, sizeof(key), &os), 0);
    CHECK_STR_EQ(key, eco);
    free(data);
}

static void test_os_release(void)
{
    check_os("pkgdb/os-release.bookworm", SL_OS_DEBIAN, "12", "bookworm", "debian:12");
    check_os("pkgdb/os-release.stretch", SL_OS_DEBIAN, "9", "stretch", "debian:9");
    check_os("pkgdb/os-release.trixie", SL_OS_DEBIAN, "13", "trixie", "debian:13");
    check_os("pkgdb/os-release.alpine310", SL_OS_ALPINE, "3.10", NULL, "alpine:3.10");

    size_t len;
    char *data = read_data("pkgdb/os-release.alpine310", &len);
    char *repos = read_data("pkgdb/apk-repositories.edge", NULL);
    CHECK(data && repos);
    if (data && repos) {
        struct sl_osinfo os;
        CHECK_INT_EQ(sl_osinfo_parse(&os, data, len), 0);
        sl_osinfo_apply_apk_repositories(&os, repos, strlen(repos));
        CHECK_STR_EQ(os.release, "edge");
        sl_osinfo_apply_apk_repositories(&os, "http://x/alpine/v3.16/main\n", 27);
        CHECK_STR_EQ(os.release, "3.16");
    }
    free(data);
    free(repos);

    struct sl_osinfo os;
    CHECK_INT_EQ(sl_osinfo_parse(&os, "NAME=x\n", 7), SL_EINVAL);
    CHECK_STR_EQ(sl_debian_number_for_codename("bullseye"), "11");
    CHECK_STR_EQ(sl_debian_codename_for_number("8"), "jessie");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_dpkg_status);
    RUN(test_apk_installed);
    RUN(test_os_release);
    return CHECK_EXIT();
}
