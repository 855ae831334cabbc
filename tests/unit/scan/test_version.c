/* Version ordering: Debian comparison checked against `dpkg --compare-versions` on ~3000
 * generated pairs, plus hand-picked Debian and Alpine edge cases (including the versions in
 * Trivy's detector fixtures). */
#include "check.h"
#include "scan/version.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t rng_state = 0x5ca1ab1edeadbeefULL;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng_state >> 33) % n);
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s", s);
}

static void gen_segment(char *buf, size_t cap, int parts)
{
    static const char *const atoms[] = {
        "0",      "1",   "2", "9", "10", "01",  "00", "123", "a", "b",  "z",    "A", "dfsg",
        "ubuntu", "deb", "u", "~", "~~", "~rc", "+",  ".",   ".", "+b", "~bpo", "p"};
    for (int i = 0; i < parts; i++)
        append(buf, cap, atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))]);
}

static void gen_version(char *buf, size_t cap)
{
    buf[0] = '\0';
    if (rnd(4) == 0) {
        static const char *const epochs[] = {"0:", "1:", "2:", "10:", "01:"};
        append(buf, cap, epochs[rnd(5)]);
    }
    static const char *const lead[] = {"0", "1", "2", "10", "1.0", "2.36", "9"};
    append(buf, cap, lead[rnd(7)]);
    gen_segment(buf, cap, (int)rnd(4));
    if (rnd(2)) {
        append(buf, cap, "-");
        static const char *const rlead[] = {"0", "1", "2", "a", "1+deb12u", "9", ""};
        append(buf, cap, rlead[rnd(7)]);
        gen_segment(buf, cap, (int)rnd(3));
        if (buf[strlen(buf) - 1] == '-')
            append(buf, cap, "1");
    }
}

/* b is often a small edit of a so that near-equal versions are well covered */
static void mutate(char *out, size_t cap, const char *a)
{
    snprintf(out, cap, "%s", a);
    switch (rnd(7)) {
    case 0:
        append(out, cap, "~1");
        break;
    case 1:
        append(out, cap, "+1");
        break;
    case 2:
        append(out, cap, "a");
        break;
    case 3:
        append(out, cap, ".0");
        break;
    case 4:
        if (!strchr(out, '-'))
            append(out, cap, "-0");
        break;
    case 5: {
        size_t n = strlen(out);
        if (n > 1 && out[n - 1] >= '0' && out[n - 1] < '9')
            out[n - 1]++;
        break;
    }
    default:
        break;
    }
}

static void test_deb_against_dpkg(void)
{
    if (system("command -v dpkg >/dev/null 2>&1") != 0) {
        fprintf(stderr, "dpkg not installed: oracle test cannot run\n");
        CHECK(0);
        return;
    }
    enum { NPAIRS = 3000 };
    static char va[NPAIRS][80], vb[NPAIRS][80];
    static const char *const rels[] = {"lt", "eq", "gt"};
    char dir[] = "/tmp/sl-test-version-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char in_path[256], out_path[256], cmd[1024];
    snprintf(in_path, sizeof(in_path), "%s/pairs", dir);
    snprintf(out_path, sizeof(out_path), "%s/results", dir);
    FILE *f = fopen(in_path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    int kept = 0;
    while (kept < NPAIRS) {
        gen_version(va[kept], sizeof(va[kept]));
        if (rnd(3) == 0)
            gen_version(vb[kept], sizeof(vb[kept]));
        else
            mutate(vb[kept], sizeof(vb[kept]), va[kept]);
        if (!sl_version_deb_valid(va[kept]) || !sl_version_deb_valid(vb[kept]))
            continue;
        fprintf(f, "%s %s %s\n", va[kept], rels[kept % 3], vb[kept]);
        kept++;
    }
    fclose(f);
    /* one shell, one dpkg process per pair; the exit status answers the relation */
    snprintf(cmd, sizeof(cmd),
             "sh -c 'while read a r b; do dpkg --compare-versions \"$a\" \"$r\" \"$b\" "
             "2>/dev/null; echo $?; done' < %s > %s",
             in_path, out_path);
    CHECK_INT_EQ(system(cmd), 0);
    f = fopen(out_path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    int checked = 0, mismatches = 0;
    char line[32];
    for (int i = 0; i < NPAIRS && fgets(line, sizeof(line), f); i++) {
        int dpkg_true = line[0] == '0';
        int c = sl_version_deb_compare(va[i], vb[i]);
        int ours = (i % 3 == 0) ? c < 0 : (i % 3 == 1) ? c == 0 : c > 0;
        checked++;
        if (ours != dpkg_true) {
            mismatches++;
            if (mismatches < 20)
                fprintf(stderr, "mismatch: %s %s %s: dpkg %d, sealift %d\n", va[i], rels[i % 3],
                        vb[i], dpkg_true, ours);
        }
    }
    fclose(f);
    CHECK_INT_EQ(checked, NPAIRS);
    CHECK_INT_EQ(mismatches, 0);
    unlink(in_path);
    unlink(out_path);
    rmdir(dir);
}

static int sign(int c)
{
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

static void test_deb_edges(void)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"1.0~rc1", "1.0", -1},
        {"1.0~~", "1.0~", -1},
        {"1.0~", "1.0", -1},
        {"1.0", "1.0a", -1},
        {"1.0a", "1.0+", -1},
        {"1:1.0", "2.0", 1},
        {"0:1.0", "1.0", 0},
        {"1.0", "1.0-0", 0},
        {"1.10", "1.9", 1},
        {"1.010", "1.10", 0},
        {"2.36-9+deb12u3", "2.36-9+deb12u10", -1},
        {"2.36-9+deb12u3", "2.36-9", 1},
        {"1.1.0k-1~deb9u1", "1.1.0l-1~deb9u1", -1},
        {"2.0.5-1", "2.0.5-1+deb10u1", -1},
        {"1.43.4-2", "1.43.4-2+deb9u1", -1},
        {"2.4.25-1", "2.4.25-1", 0},
        {"2.2.22-13", "2.4.25-1", -1},
        {"1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2", 1},
        {"99999999999999999999999", "99999999999999999999998", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sign(sl_version_deb_compare(cases[i].a, cases[i].b));
        if (got != cases[i].want)
            fprintf(stderr, "deb %s vs %s: got %d want %d\n", cases[i].a, cases[i].b, got,
                    cases[i].want);
        CHECK_INT_EQ(got, cases[i].want);
        CHECK_INT_EQ(sign(sl_version_deb_compare(cases[i].b, cases[i].a)), -cases[i].want);
    }
    CHECK(sl_version_deb_valid("1:2.3-4"));
    CHECK(!sl_version_deb_valid("a1.0"));
    CHECK(!sl_version_deb_valid(":1.0"));
    CHECK(!sl_version_deb_valid("1.0-"));
    CHECK(!sl_version_deb_valid(""));
}

static void test_apk_edges(void)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        /* suffix order */
        {"1.0_alpha", "1.0_beta", -1},
        {"1.0_beta", "1.0_pre", -1},
        {"1.0_pre", "1.0_rc", -1},
        {"1.0_rc", "1.0", -1},
        {"1.0", "1.0_cvs", -1},
        {"1.0_cvs", "1.0_svn", -1},
        {"1.0_svn", "1.0_git", -1},
        {"1.0_git", "1.0_hg", -1},
        {"1.0_hg", "1.0_p", -1},
        {"1.0_p1", "1.0_p2", -1},
        {"1.0_rc1", "1.0_rc2", -1},
        {"1.0", "1.0-r1", -1},
        {"1.0-r1", "1.0-r10", -1},
        {"1.0-r9", "1.0.1", -1},
        {"1.0", "1.0a", -1},
        {"1.0a", "1.0b", -1},
        {"1.0b", "1.0.1", -1},
        {"1.0_rc1-r5", "1.0-r0", -1},
        {"1.2.3", "1.2.3", 0},
        {"1.10", "1.9", 1},
        {"1.01", "1.1", -1},
        /* Trivy detector fixture versions (alpine 3.10: jq, test-src, ansible) */
        {"1.6_rc1-r0", "1.6_rc2", -1},
        {"1.6_rc2", "1.6-r1", -1},
        {"1.6-r0", "1.6-r1", -1},
        {"1.6_rc1-r0", "1.6_rc1-r0", 0},
        {"0.1.0_alpha_pre2", "0.1.0_alpha2", -1},
        {"0.1.0_alpha", "0.1.0_alpha_pre2", 1},
        {"2.6.3-r0", "2.8.4-r0", -1},
        {"2.6.4", "2.6.3-r0", 1},
        /* Alpine images in the integration goldens */
        {"1.1.1c-r0", "1.1.1d-r0", -1},
        {"1.1.1b-r1", "1.1.1d-r2", -1},
        {"1.1.20-r4", "1.1.20-r5", -1},
        {"2.35.1-r2", "2.35.2-r0", -1},
        /* vuln-list keys are not sorted */
        {"8.10.0-r0", "8.3.0-r0", 1},
        {"1.2.2_pre2-r0", "1.2.2-r0", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sign(sl_version_apk_compare(cases[i].a, cases[i].b));
        if (got != cases[i].want)
            fprintf(stderr, "apk %s vs %s: got %d want %d\n", cases[i].a, cases[i].b, got,
                    cases[i].want);
        CHECK_INT_EQ(got, cases[i].want);
        CHECK_INT_EQ(sign(sl_version_apk_compare(cases[i].b, cases[i].a)), -cases[i].want);
    }
    CHECK(sl_version_apk_valid("1.2.3_rc1-r4"));
    CHECK(sl_version_apk_valid("0.1.0_alpha_pre2"));
    CHECK(!sl_version_apk_valid("invalid"));
    CHECK(!sl_version_apk_valid("1.0-r1a"));
    CHECK(!sl_version_apk_valid(""));
}

int main(void)
{
    RUN(test_deb_edges);
    RUN(test_apk_edges);
    RUN(test_deb_against_dpkg);
    return CHECK_EXIT();
}
