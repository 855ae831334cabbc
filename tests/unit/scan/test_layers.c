/* Layer walker and image filesystem view: compression detection, pax / GNU long names,
 * whiteouts and opaque directories across layers, path traversal, limits, and the per-file
 * checks (setuid, PEM private keys, malware hashes cross-checked with clamscan). */
#include "check.h"
#include "scan/imagefs.h"
#include "scan/malware.h"
#include "scan/tarwalk.h"
#include "tarbuild.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

static const char os_release[] = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";
static const char dpkg_status[] = "Package: libc6\nStatus: install ok installed\n"
                                  "Source: glibc\nVersion: 2.36-9+deb12u3\n";
static const char pem_key[] = "some text\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
                              "-----END OPENSSH PRIVATE KEY-----\n";
static const char pem_cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/* The EICAR anti-virus test string, assembled at run time so that this source file itself is not
 * flagged by scanners. */
static void eicar(char *out, size_t n)
{
    snprintf(out, n, "%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-",
             "ANTIVIRUS-TEST-FILE!$H+H*");
}

static void sha256_hex(char out[65], const void *data, size_t n)
{
    unsigned char h[32];
    unsigned int hl;
    EVP_Digest(data, n, h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int add_layer(struct sl_imagefs *fs, const struct tb *t, const struct sl_walk_limits *lim,
                     struct sl_err *err)
{
    struct memstream m = {t->data, t->len, 0, 700};
    struct sl_layer_stream s = {memstream_read, &m};
    return sl_imagefs_add_layer(fs, &s, lim, err);
}

static struct tb base_layer(const char *eicar_str)
{
    struct tb t = {0};
    tb_dir(&t, "./etc/");
    tb_file(&t, "./etc/os-release", 0644, os_release);
    tb_file(&t, "var/lib/dpkg/status", 0644, dpkg_status);
    tb_file(&t, "usr/bin/passwd", 04755, "ELF...");
    tb_file(&t, "usr/bin/wall", 02755, "ELF...");
    tb_file(&t, "root/.ssh/id_ed25519", 0600, pem_key);
    tb_file(&t, "etc/ssl/cert.pem", 0644, pem_cert);
    tb_file(&t, "tmp/eicar.com", 0644, eicar_str);
    tb_header(&t, "usr/bin/link-to-passwd", '2', 0777, 0, "passwd");
    tb_end(&t);
    return t;
}

static void check_base(struct sl_imagefs *fs)
{
    const struct sl_fsrec *r = sl_imagefs_get(fs, "etc/os-release");
    CHECK(r && (r->flags & SL_FSREC_CAPTURED));
    if (r)
        CHECK_STR_EQ(r->data, os_release);
    r = sl_imagefs_get(fs, "var/lib/dpkg/status");
    CHECK(r && r->data && strcmp(r->data, dpkg_status) == 0);
    r = sl_imagefs_get(fs, "usr/bin/passwd");
    CHECK(r && (r->flags & SL_FSREC_SETUID));
    r = sl_imagefs_get(fs, "usr/bin/wall");
    CHECK(r && (r->flags & SL_FSREC_SETGID) && !(r->flags & SL_FSREC_SETUID));
    r = sl_imagefs_get(fs, "root/.ssh/id_ed25519");
    CHECK(r && (r->flags & SL_FSREC_PRIVKEY));
    CHECK(sl_imagefs_get(fs, "etc/ssl/cert.pem") == NULL);
    r = sl_imagefs_get(fs, "tmp/eicar.com");
    CHECK(r && (r->flags & SL_FSREC_MALWARE));
    if (r && r->malware)
        CHECK_STR_EQ(r->malware, "Eicar-Test-Signature-sealift");
}

static void load_hsb(struct sl_hsbdb *hsb, const char *eicar_str, char *line, size_t n)
{
    char hex[65];
    sha256_hex(hex, eicar_str, strlen(eicar_str));
    snprintf(line, n, "%s:%zu:Eicar-Test-Signature-sealift\n", hex, strlen(eicar_str));
    struct sl_err err = {0};
    CHECK_INT_EQ(sl_hsbdb_load(hsb, line, strlen(line), &err), 0);
    CHECK_INT_EQ(hsb->count, 1);
}

static void test_plain_gzip_zstd(void)
{
    char ei[128];
    eicar(ei, sizeof(ei));
    struct sl_hsbdb hsb;
    sl_hsbdb_init(&hsb);
    char line[256];
    load_hsb(&hsb, ei, line, sizeof(line));
    struct tb plain = base_layer(ei);
    struct tb gz = tb_gzip(&plain);
    struct tb zs = tb_zstd(&plain);
    const struct tb *variants[3] = {&plain, &gz, &zs};
    const char *names[3] = {"none", "gzip", "zstd"};
    for (int i = 0; i < 3; i++) {
        struct sl_imagefs fs;
        sl_imagefs_init(&fs, &hsb);
        struct sl_err err = {0};
        int rc = add_layer(&fs, variants[i], NULL, &err);
        if (rc)
            fprintf(stderr, "%s: %s\n", names[i], err.msg);
        CHECK_INT_EQ(rc, 0);
        CHECK_STR_EQ(fs.last.compression, names[i]);
        CHECK_INT_EQ(fs.last.uncompressed_bytes, plain.len);
        CHECK_INT_EQ(fs.last.compressed_bytes, variants[i]->len);
        check_base(&fs);
        /* only the file whose size matches a signature was hashed */
        CHECK_INT_EQ(fs.files_hashed, 1);
        sl_imagefs_free(&fs);
    }
    free(plain.data);
    free(gz.data);
    free(zs.data);
    sl_hsbdb_free(&hsb);
}

static void test_whiteouts(void)
{
    char ei[128];
    eicar(ei, sizeof(ei));
    struct sl_hsbdb hsb;
    sl_hsbdb_init(&hsb);
    char line[256];
    load_hsb(&hsb, ei, line, sizeof(line));
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, &hsb);
    struct sl_err err = {0};
    struct tb l1 = base_layer(ei);
    CHECK_INT_EQ(add_layer(&fs, &l1, NULL, &err), 0);

    struct tb l2 = {0};
    /* whiteout of a file, an opaque directory, an override without setuid, and a same-layer
     * file next to a whiteout of the same name (kept: whiteouts only hide lower layers) */
    tb_file(&l2, "tmp/.wh.eicar.com", 0644, "");
    tb_file(&l2, "root/.ssh/.wh..wh..opq", 0644, "");
    tb_file(&l2, "root/.ssh/authorized_keys", 0644, "ssh-ed25519 AAAA");
    tb_file(&l2, "usr/bin/passwd", 0755, "ELF2");
    tb_file(&l2, "usr/bin/.wh.wall", 0644, "");
    tb_file(&l2, "usr/bin/wall", 04755, "ELF3");
    tb_file(&l2, "etc/os-release", 0644, "ID=debian\nVERSION_ID=\"13\"\n");
    tb_end(&l2);
    struct tb l2z = tb_gzip(&l2);
    CHECK_INT_EQ(add_layer(&fs, &l2z, NULL, &err), 0);
    CHECK(sl_imagefs_get(&fs, "tmp/eicar.com") == NULL);
    CHECK(sl_imagefs_get(&fs, "root/.ssh/id_ed25519") == NULL);
    const struct sl_fsrec *r = sl_imagefs_get(&fs, "usr/bin/passwd");
    CHECK(r == NULL); /* replaced by a plain file: nothing to report */
    r = sl_imagefs_get(&fs, "usr/bin/wall");
    CHECK(r && (r->flags & SL_FSREC_SETUID) && r->layer == 1);
    r = sl_imagefs_get(&fs, "etc/os-release");
    CHECK(r && r->data && strstr(r->data, "13"));
    /* dpkg status untouched */
    CHECK(sl_imagefs_get(&fs, "var/lib/dpkg/status") != NULL);

    /* a third layer whites out a whole directory */
    struct tb l3 = {0};
    tb_file(&l3, "var/lib/.wh.dpkg", 0644, "");
    tb_end(&l3);
    CHECK_INT_EQ(add_layer(&fs, &l3, NULL, &err), 0);
    CHECK(sl_imagefs_get(&fs, "var/lib/dpkg/status") == NULL);
    CHECK(sl_imagefs_get(&fs, "usr/bin/wall") != NULL);
    CHECK_INT_EQ(fs.layers, 3);
    sl_imagefs_free(&fs);
    free(l1.data);
    free(l2.data);
    free(l2z.data);
    free(l3.data);
    sl_hsbdb_free(&hsb);
}

static void test_long_names_and_traversal(void)
{
    char longdir[400];
    memset(longdir, 'd', 150);
    longdir[150] = '\0';
    char path_pax[512], path_gnu[512];
    snprintf(path_pax, sizeof(path_pax), "opt/%s/pax-suid", longdir);
    snprintf(path_gnu, sizeof(path_gnu), "opt/%s/gnu-suid", longdir);
    struct tb t = {0};
    tb_pax(&t, path_pax, (uint64_t)-1);
    tb_file(&t, "truncated-name-in-header", 04755, "x");
    tb_gnu_longname(&t, path_gnu);
    tb_file(&t, "truncated-gnu-name", 04755, "y");
    tb_file(&t, "opt/short", 04755, "y");
    /* pax path + size override: the header says 0 bytes, pax says the real size */
    tb_pax(&t, "var/lib/dpkg/status", strlen(dpkg_status));
    tb_header(&t, "junk", '0', 0644, 0, NULL);
    tb_content(&t, dpkg_status, strlen(dpkg_status));
    tb_file(&t, "../../etc/evil-suid", 04755, "z");
    tb_file(&t, "a/../../escape-suid", 04755, "z");
    tb_file(&t, "/abs/./dir//suid", 04755, "z");
    tb_file(&t, "ok/../fine-suid", 04755, "z");
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    struct sl_err err = {0};
    int rc = add_layer(&fs, &t, NULL, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    CHECK(sl_imagefs_get(&fs, path_pax) != NULL);
    CHECK(sl_imagefs_get(&fs, path_gnu) != NULL);
    CHECK(sl_imagefs_get(&fs, "opt/short") != NULL);
    CHECK(sl_imagefs_get(&fs, "truncated-name-in-header") == NULL);
    CHECK(sl_imagefs_get(&fs, "truncated-gnu-name") == NULL);
    const struct sl_fsrec *r = sl_imagefs_get(&fs, "var/lib/dpkg/status");
    CHECK(r && r->data && strcmp(r->data, dpkg_status) == 0);
    CHECK(sl_imagefs_get(&fs, "abs/dir/suid") != NULL);
    CHECK(sl_imagefs_get(&fs, "fine-suid") != NULL);
    /* containerd cleans ".." into the root: the entries land there and are checked there */
    CHECK(sl_imagefs_get(&fs, "etc/evil-suid") != NULL);
    CHECK(sl_imagefs_get(&fs, "escape-suid") != NULL);
    CHECK_INT_EQ(fs.clamped_paths, 2);
    CHECK_INT_EQ(fs.issues_total, 0);
    sl_imagefs_free(&fs);
    free(t.data);

    char p1[] = "./a//b/./c/../d/";
    CHECK(sl_tar_normalize_path(p1));
    CHECK_STR_EQ(p1, "a/b/d");
    char p2[] = "..";
    CHECK(!sl_tar_normalize_path(p2));
    CHECK_STR_EQ(p2, "");
    char p3[] = "/../a/../../b/./c";
    CHECK(!sl_tar_normalize_path(p3));
    CHECK_STR_EQ(p3, "b/c");
}

static void test_limits_and_corruption(void)
{
    struct sl_err err = {0};
    /* a decompression bomb: 24 MiB of zeros in one entry compress > 1000:1 */
    struct tb bomb = {0};
    size_t zeros = (size_t)24 << 20;
    tb_header(&bomb, "zeros", '0', 0644, zeros, NULL);
    tb_raw(&bomb, NULL, zeros);
    tb_end(&bomb);
    struct tb bombz = tb_gzip(&bomb);
    free(bomb.data);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &bombz, NULL, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "decompression ratio exceeds 100:1");
    sl_imagefs_free(&fs);
    free(bombz.data);

    /* entry and total size limits */
    struct tb t = {0};
    tb_file(&t, "big", 0644, "0123456789");
    tb_end(&t);
    struct sl_walk_limits lim;
    sl_walk_limits_default(&lim);
    lim.max_entry_bytes = 5;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &t, &lim, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "big");
    sl_imagefs_free(&fs);
    sl_walk_limits_default(&lim);
    lim.max_entries = 0;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &t, &lim, &err), SL_ETOOBIG);
    sl_imagefs_free(&fs);

    /* corrupt gzip, truncated gzip, bad tar checksum, truncated tar */
    struct tb gz = tb_gzip(&t);
    gz.data[gz.len / 2] ^= 0xff;
    gz.data[gz.len / 2 + 1] ^= 0xff;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &gz, NULL, &err), SL_EINVAL);
    sl_imagefs_free(&fs);
    free(gz.data);
    gz = tb_gzip(&t);
    gz.len = gz.len / 2;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &gz, NULL, &err), SL_EINVAL);
    sl_imagefs_free(&fs);
    free(gz.data);
    t.data[10] ^= 0x55;
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "checksum");
    sl_imagefs_free(&fs);
    t.data[10] ^= 0x55;
    struct tb cut = {t.data, 600, 0};
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &cut, NULL, &err), SL_EINVAL);
    sl_imagefs_free(&fs);
    free(t.data);
}

/* clamscan must agree that the EICAR file matches the same .hsb line */
static void test_clamscan_agrees(void)
{
    if (system("command -v clamscan >/dev/null 2>&1") != 0) {
        fprintf(stderr, "clamscan not installed: the oracle check cannot run\n");
        CHECK(0);
        return;
    }
    char ei[128];
    eicar(ei, sizeof(ei));
    struct sl_hsbdb hsb;
    sl_hsbdb_init(&hsb);
    char line[256];
    load_hsb(&hsb, ei, line, sizeof(line));
    char dir[] = "/tmp/sl-test-clam-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sig[256], file[256], clean[256], cmd[1024];
    snprintf(sig, sizeof(sig), "%s/sig.hsb", dir);
    snprintf(file, sizeof(file), "%s/eicar.com", dir);
    snprintf(clean, sizeof(clean), "%s/clean.txt", dir);
    FILE *f = fopen(sig, "w");
    fputs(line, f);
    fclose(f);
    f = fopen(file, "w");
    fputs(ei, f);
    fclose(f);
    f = fopen(clean, "w");
    fputs("hello\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "clamscan --no-summary -d %s %s >/dev/null 2>&1", sig, file);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1); /* 1: virus found */
    snprintf(cmd, sizeof(cmd), "clamscan --no-summary -d %s %s >/dev/null 2>&1", sig, clean);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* and sealift, on a layer with both files */
    struct tb t = {0};
    tb_file(&t, "eicar.com", 0644, ei);
    tb_file(&t, "clean.txt", 0644, "hello\n");
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, &hsb);
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0);
    const struct sl_fsrec *r = sl_imagefs_get(&fs, "eicar.com");
    CHECK(r && r->malware);
    CHECK(sl_imagefs_get(&fs, "clean.txt") == NULL);
    sl_imagefs_free(&fs);
    free(t.data);
    sl_hsbdb_free(&hsb);
    unlink(sig);
    unlink(file);
    unlink(clean);
    rmdir(dir);

    /* malformed .hsb */
    sl_hsbdb_init(&hsb);
    CHECK_INT_EQ(sl_hsbdb_load(&hsb, "nothex:12:x\n", 12, &err), SL_EINVAL);
    CHECK_INT_EQ(
        sl_hsbdb_load(&hsb, "# c\n\n44d88612fea8a8f36de82e1278abb02f:68:Eicar\n", 46, &err), 0);
    CHECK_INT_EQ(hsb.count, 0);
    CHECK_INT_EQ(hsb.unsupported, 1);
    sl_hsbdb_free(&hsb);
}

/* The entries an attacker hides: a package database, a setuid binary and a private key. */
static struct tb hidden_entries(void)
{
    struct tb h = {0};
    tb_file(&h, "etc/os-release", 0644, os_release);
    tb_file(&h, "var/lib/dpkg/status", 0644, dpkg_status);
    tb_file(&h, "usr/bin/sudo", 04755, "ELF...");
    tb_file(&h, "root/.ssh/id_ed25519", 0600, pem_key);
    return h;
}

static void check_hidden_found(struct sl_imagefs *fs, const char *what)
{
    const struct sl_fsrec *r = sl_imagefs_get(fs, "var/lib/dpkg/status");
    if (!(r && r->data && strcmp(r->data, dpkg_status) == 0))
        fprintf(stderr, "%s: the dpkg status was hidden\n", what);
    CHECK(r && r->data && strcmp(r->data, dpkg_status) == 0);
    r = sl_imagefs_get(fs, "usr/bin/sudo");
    CHECK(r && (r->flags & SL_FSREC_SETUID));
    r = sl_imagefs_get(fs, "root/.ssh/id_ed25519");
    CHECK(r && (r->flags & SL_FSREC_PRIVKEY));
}

/* A hard link, device, fifo, symlink or directory that declares a size has no content for Go's
 * reader (containerd): the bytes after its header are the next headers, which the runtime
 * applies. The old walker skipped them as content and saw an empty image. */
static void test_header_only_types_hide_nothing(void)
{
    const char types[] = {'1', '2', '3', '4', '5', '6'};
    for (size_t i = 0; i < sizeof(types) + 1; i++) {
        struct tb hidden = hidden_entries();
        struct tb t = {0};
        if (i < sizeof(types))
            tb_header(&t, "decoy", types[i], 0644, hidden.len, "etc/hostname");
        else /* an old-style regular file whose name ends in '/' is a directory */
            tb_header(&t, "decoy/", '\0', 0755, hidden.len, NULL);
        tb_raw(&t, hidden.data, hidden.len);
        tb_end(&t);
        struct sl_imagefs fs;
        sl_imagefs_init(&fs, NULL);
        struct sl_err err = {0};
        int rc = add_layer(&fs, &t, NULL, &err);
        if (rc)
            fprintf(stderr, "type %c: %s\n", types[i % sizeof(types)], err.msg);
        CHECK_INT_EQ(rc, 0);
        char what[32];
        snprintf(what, sizeof(what), "type '%c'", i < sizeof(types) ? types[i] : '0');
        check_hidden_found(&fs, what);
        CHECK_INT_EQ(fs.issues_total, 0);
        sl_imagefs_free(&fs);
        free(t.data);
        free(hidden.data);
    }
    /* a pax size on a hard link is ignored just the same */
    struct tb hidden = hidden_entries();
    struct tb t = {0};
    tb_pax(&t, "decoy", hidden.len);
    tb_header(&t, "decoy", '1', 0644, 0, "etc/hostname");
    tb_raw(&t, hidden.data, hidden.len);
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0);
    check_hidden_found(&fs, "pax size on a hard link");
    sl_imagefs_free(&fs);
    free(t.data);
    free(hidden.data);
}

/* Unknown types and GNU sparse files have content (skipped, as Go does) and are reported. */
static void test_unapplyable_entries_are_reported(void)
{
    struct tb t = {0};
    tb_header(&t, "weird", 'Z', 0644, 700, NULL);
    tb_raw(&t, NULL, 1024);
    tb_header(&t, "sparse", 'S', 0644, 3, NULL);
    tb_content(&t, "abc", 3);
    char longname[5000];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    tb_gnu_longname(&t, longname);
    tb_file(&t, "x", 04755, "y");
    char comp[300];
    memset(comp, 'c', sizeof(comp) - 1);
    comp[sizeof(comp) - 1] = '\0';
    char longcomp[400];
    snprintf(longcomp, sizeof(longcomp), "usr/%s", comp);
    tb_pax(&t, longcomp, (uint64_t)-1);
    tb_file(&t, "y", 04755, "y");
    tb_file(&t, "etc/.wh..", 0644, "");
    struct tb hidden = hidden_entries();
    tb_raw(&t, hidden.data, hidden.len);
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0);
    check_hidden_found(&fs, "after unknown types");
    CHECK_INT_EQ(fs.issues_total, 5);
    CHECK_INT_EQ(fs.nissues, 5);
    if (fs.nissues == 5) {
        CHECK_STR_EQ(fs.issues[0].path, "weird");
        CHECK_CONTAINS(fs.issues[0].problem, "tar entry type 'Z'");
        CHECK_STR_EQ(fs.issues[1].path, "sparse");
        CHECK_CONTAINS(fs.issues[1].problem, "GNU sparse file");
        CHECK_CONTAINS(fs.issues[2].problem, "path longer than 4096 bytes");
        CHECK_CONTAINS(fs.issues[3].problem, "component is longer than 255 bytes");
        CHECK_CONTAINS(fs.issues[4].problem, "invalid whiteout name");
    }
    sl_imagefs_free(&fs);
    free(t.data);
    free(hidden.data);
}

/* Entries land where containerd puts them: parents resolved through earlier symlinks, inside
 * the root; lookups follow symlinks as a process in the container does. */
static void test_symlinks_and_hard_links(void)
{
    struct tb t = {0};
    tb_header(&t, "v", '2', 0777, 0, "/var/lib/dpkg");
    tb_header(&t, "k", '2', 0777, 0, "../../../root");
    tb_header(&t, "loop1", '2', 0777, 0, "loop2");
    tb_header(&t, "loop2", '2', 0777, 0, "loop1");
    tb_header(&t, "etc", '2', 0777, 0, "usr/etc");
    tb_file(&t, "v/status", 0644, dpkg_status);
    tb_file(&t, "k/.ssh/id_ed25519", 0600, pem_key);
    tb_file(&t, "loop1/x", 04755, "y");
    tb_file(&t, "etc/os-release", 0644, os_release);
    tb_file(&t, "usr/bin/sudo", 0755, "ELF...");
    /* a setuid hard link: both names share the inode the header's mode is applied to */
    tb_header(&t, "usr/bin/sudo-link", '1', 04755, 0, "usr/bin/sudo");
    tb_file(&t, "tmp/keycopy", 0600, pem_key);
    tb_header(&t, "home/key-link", '1', 0600, 0, "tmp/keycopy");
    tb_header(&t, "lib-link", '1', 0777, 0, "v"); /* a hard link to a symlink */
    tb_file(&t, "lib-link/extra", 04755, "y");
    tb_file(&t, "tmp/not-captured", 0644, dpkg_status);
    tb_header(&t, "var/lib/dpkg/status.d/evil", '1', 0644, 0, "tmp/not-captured");
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0);
    sl_imagefs_finish(&fs);
    check_hidden_found(&fs, "through symlinks and hard links");
    CHECK(sl_imagefs_get(&fs, "usr/etc/os-release") != NULL);
    const struct sl_fsrec *r = sl_imagefs_get(&fs, "etc/os-release");
    CHECK(r && r->data && strcmp(r->data, os_release) == 0);
    r = sl_imagefs_get(&fs, "usr/bin/sudo-link");
    CHECK(r && (r->flags & SL_FSREC_SETUID));
    r = sl_imagefs_get(&fs, "var/lib/dpkg/extra");
    CHECK(r && (r->flags & SL_FSREC_SETUID));
    r = sl_imagefs_get(&fs, "home/key-link");
    CHECK(r && (r->flags & SL_FSREC_PRIVKEY));
    CHECK_INT_EQ(fs.issues_total, 2);
    if (fs.nissues == 2) {
        CHECK_STR_EQ(fs.issues[0].path, "loop1/x");
        CHECK_CONTAINS(fs.issues[0].problem, "more than 255 symlinks");
        CHECK_STR_EQ(fs.issues[1].path, "var/lib/dpkg/status.d/evil");
        CHECK_CONTAINS(fs.issues[1].problem, "did not keep");
    }
    sl_imagefs_free(&fs);
    free(t.data);

    /* a later layer points the database path at a file the scanner did not keep */
    struct tb l1 = {0}, l2 = {0};
    tb_file(&l1, "opt/db", 0644, dpkg_status);
    tb_end(&l1);
    tb_header(&l2, "var/lib/dpkg/status", '2', 0777, 0, "/opt/db");
    tb_end(&l2);
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &l1, NULL, &err), 0);
    CHECK_INT_EQ(add_layer(&fs, &l2, NULL, &err), 0);
    sl_imagefs_finish(&fs);
    CHECK_INT_EQ(fs.issues_total, 1);
    if (fs.nissues == 1) {
        CHECK_STR_EQ(fs.issues[0].path, "var/lib/dpkg/status");
        CHECK_CONTAINS(fs.issues[0].problem, "redirects it to opt/db");
    }
    sl_imagefs_free(&fs);
    free(l1.data);
    free(l2.data);
}

/* The GNU long name wins over a pax path (Go's order), and a global header or a second pax
 * header ends what the first said. */
static void test_name_precedence(void)
{
    struct tb t = {0};
    tb_pax(&t, "harmless", (uint64_t)-1);
    tb_gnu_longname(&t, "var/lib/dpkg/status");
    tb_file(&t, "x", 0644, dpkg_status);
    tb_pax(&t, "usr/bin/sudo", (uint64_t)-1);
    tb_header(&t, "PaxHeaders/g", 'g', 0644, 0, NULL);
    tb_file(&t, "plain-suid", 04755, "y");
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0);
    const struct sl_fsrec *r = sl_imagefs_get(&fs, "var/lib/dpkg/status");
    CHECK(r && r->data && strcmp(r->data, dpkg_status) == 0);
    CHECK(sl_imagefs_get(&fs, "harmless") == NULL);
    CHECK(sl_imagefs_get(&fs, "plain-suid") != NULL);
    CHECK(sl_imagefs_get(&fs, "usr/bin/sudo") == NULL);
    sl_imagefs_free(&fs);
    free(t.data);
}

/* Whiteouts, records and symlinks are bounded by count: a flood fails the layer with a message
 * instead of growing memory. */
static void test_per_layer_bounds(void)
{
    struct tb t = {0};
    char name[64];
    for (int i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "d/.wh.f%d", i);
        tb_file(&t, name, 0644, "");
    }
    tb_end(&t);
    struct sl_imagefs fs;
    sl_imagefs_init(&fs, NULL);
    fs.lim.max_whiteouts = 10;
    struct sl_err err = {0};
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 10 whiteouts");
    sl_imagefs_free(&fs);
    free(t.data);

    t = (struct tb){0};
    for (int i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "bin/suid%d", i);
        tb_file(&t, name, 04755, "x");
        snprintf(name, sizeof(name), "lnk%d", i);
        tb_header(&t, name, '2', 0777, 0, "bin");
    }
    tb_end(&t);
    sl_imagefs_init(&fs, NULL);
    fs.lim.max_records = 10;
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 10 files to check");
    sl_imagefs_free(&fs);
    sl_imagefs_init(&fs, NULL);
    fs.lim.max_symlinks = 10;
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "more than 10 symlinks");
    sl_imagefs_free(&fs);
    free(t.data);

    /* a chain of 200 symlinks that every later entry resolves through: bounded work */
    t = (struct tb){0};
    char target[64];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "s%03d", i);
        snprintf(target, sizeof(target), "s%03d", i + 1);
        tb_header(&t, name, '2', 0777, 0, target);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "s000/f%d", i);
        tb_file(&t, name, 0644, "x");
    }
    tb_end(&t);
    sl_imagefs_init(&fs, NULL);
    fs.lim.max_resolve_bytes = 100000;
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), SL_ETOOBIG);
    CHECK_CONTAINS(err.msg, "refusing a symlink maze");
    sl_imagefs_free(&fs);
    sl_imagefs_init(&fs, NULL);
    CHECK_INT_EQ(add_layer(&fs, &t, NULL, &err), 0); /* within the default budget */
    sl_imagefs_free(&fs);
    free(t.data);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    RUN(test_plain_gzip_zstd);
    RUN(test_whiteouts);
    RUN(test_long_names_and_traversal);
    RUN(test_limits_and_corruption);
    RUN(test_clamscan_agrees);
    RUN(test_header_only_types_hide_nothing);
    RUN(test_unapplyable_entries_are_reported);
    RUN(test_symlinks_and_hard_links);
    RUN(test_name_precedence);
    RUN(test_per_layer_bounds);
    return CHECK_EXIT();
}
