/* unit.api.convert: sealift.dev v1alpha1 <-> v1beta1 conversion (api/convert.c). Every example
 * under examples/ and every object of tests/data/api round-trips without loss, and the converted
 * objects have the v1beta1 shapes a user reads through kubectl. */
#include "check.h"
#include "testdata.h"

#include "api/convert.h"
#include "util/yamljson.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *src_dir = ".";
static int objects_checked = 0;

static const char *version_of(const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    if (!av || strncmp(av, SL_API_GROUP "/", strlen(SL_API_GROUP) + 1) != 0)
        return NULL;
    return av + strlen(SL_API_GROUP) + 1;
}

static json_t *convert(const json_t *obj, const char *to)
{
    json_t *out = NULL;
    struct sl_err err = {0};
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    int rc = sl_api_convert(&out, kind, version_of(obj), to, obj, &err);
    if (rc != 0)
        fprintf(stderr, "convert %s to %s: %s\n", kind, to, err.msg);
    CHECK_INT_EQ(rc, 0);
    return out;
}

static void check_equal(const json_t *a, const json_t *b, const char *what)
{
    int eq = json_equal((json_t *)a, (json_t *)b);
    if (!eq) {
        char *sa = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
        char *sb = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
        fprintf(stderr, "%s differs:\n  %s\n  %s\n", what, sa, sb);
        free(sa);
        free(sb);
    }
    CHECK(eq);
}

/* x -> other version -> back equals x, and the other version converted back and forth again
 * equals itself */
static void round_trip(const json_t *x, const char *where)
{
    const char *from = version_of(x);
    const char *other = strcmp(from, "v1alpha1") == 0 ? "v1beta1" : "v1alpha1";
    json_t *y = convert(x, other);
    if (!y)
        return;
    json_t *back = convert(y, from);
    if (back)
        check_equal(back, x, where);
    json_t *y2 = back ? convert(back, other) : NULL;
    if (y2)
        check_equal(y2, y, where);
    objects_checked++;
    json_decref(y);
    json_decref(back);
    json_decref(y2);
}

static void round_trip_file(const char *path)
{
    size_t len = 0, n = 0;
    char *text = sl_test_read_file(&len, "%s", path);
    struct sl_yaml_doc *docs = NULL;
    struct sl_err err = {0};
    int rc = sl_yaml_parse_all(&docs, &n, text, len, &err);
    CHECK_INT_EQ(rc, 0);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *obj = docs[i].value;
        const char *v = version_of(obj);
        if (v && sl_api_version_known(v) &&
            sl_api_kind_known(json_string_value(json_object_get(obj, "kind"))))
            round_trip(obj, path);
    }
    if (rc == 0)
        sl_yaml_docs_free(docs, n);
    free(text);
}

static void round_trip_tree(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        size_t nl = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            round_trip_tree(path);
        else if (nl > 5 && strcmp(e->d_name + nl - 5, ".yaml") == 0)
            round_trip_file(path);
    }
    closedir(d);
}

static json_t *load_one(const char *rel, const char *name)
{
    size_t len = 0, n = 0;
    char *text = sl_test_read_file(&len, "%s/%s", src_dir, rel);
    struct sl_yaml_doc *docs = NULL;
    struct sl_err err = {0};
    json_t *found = NULL;
    if (text && sl_yaml_parse_all(&docs, &n, text, len, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            const char *nm = json_string_value(
                json_object_get(json_object_get(docs[i].value, "metadata"), "name"));
            if (nm && strcmp(nm, name) == 0)
                found = json_incref(docs[i].value);
        }
        sl_yaml_docs_free(docs, n);
    }
    free(text);
    CHECK(found != NULL);
    return found;
}

/* the value at a dotted path ("spec.source.secretRef.name"; a number selects an array item) */
static json_t *at(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *p = strtok_r(buf, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(p, NULL, 10)) : json_object_get(v, p);
    return v;
}

static const char *str_at(json_t *v, const char *path)
{
    return json_string_value(at(v, path));
}

static const char *annotation(json_t *v, const char *name)
{
    return json_string_value(json_object_get(at(v, "metadata.annotations"), name));
}

static void test_examples_round_trip(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/examples", src_dir);
    int before = objects_checked;
    round_trip_tree(path);
    /* examples/reference alone holds six objects of sealift's kinds */
    CHECK(objects_checked - before >= 6);
}

static void test_data_round_trip(void)
{
    const char *files[] = {"v1alpha1-full.yaml", "v1alpha1-odd.yaml", "v1beta1-full.yaml",
                           "v1beta1-beyond.yaml"};
    int before = objects_checked;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/tests/data/api/%s", src_dir, files[i]);
        round_trip_file(path);
    }
    CHECK_INT_EQ(objects_checked - before, 27);
}

static void test_imagedelivery_up(void)
{
    json_t *a = load_one("tests/data/api/v1alpha1-full.yaml", "full-tags");
    json_t *b = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(b, "apiVersion"), "sealift.dev/v1beta1");
    CHECK_STR_EQ(str_at(b, "spec.source.secretRef.name"), "vendor-pull");
    CHECK_STR_EQ(str_at(b, "spec.source.certSecretRef.name"), "vendor-ca");
    CHECK(at(b, "spec.source.credentials") == NULL);
    CHECK(at(b, "spec.source.caSecretRef") == NULL);
    CHECK_STR_EQ(str_at(b, "spec.targets.0.secretRef.name"), "customer-push");
    CHECK_STR_EQ(str_at(b, "spec.targets.0.certSecretRef.name"), "customer-ca");
    CHECK_STR_EQ(str_at(b, "spec.verify.authorities.0.name"), "default");
    CHECK_STR_EQ(str_at(b, "spec.verify.authorities.0.key.signingKeyRef.name"), "vendor-build");
    CHECK(at(b, "spec.verify.signingKeyRef") == NULL);
    /* 1/1 signed, two images scanned of which one failed */
    CHECK_INT_EQ(json_integer_value(at(b, "status.summary.delivered")), 1);
    CHECK_INT_EQ(json_integer_value(at(b, "status.summary.signed")), 1);
    CHECK_INT_EQ(json_integer_value(at(b, "status.summary.scanned")), 2);
    CHECK_INT_EQ(json_integer_value(at(b, "status.summary.blocked")), 1);
    CHECK(at(b, "status.scanSummary") == NULL);
    /* everything v1beta1 says reproduces the v1alpha1 object: nothing carried */
    CHECK(annotation(b, SL_API_V1ALPHA1_FIELDS) == NULL);
    CHECK_STR_EQ(annotation(b, "note"), "every field");
    json_decref(a);
    json_decref(b);
}

static void test_scanpolicy_none_is_warn(void)
{
    json_t *a = load_one("tests/data/api/v1alpha1-full.yaml", "full-harbor-never-block");
    json_t *b = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(b, "spec.severityThreshold"), "Critical");
    CHECK_STR_EQ(str_at(b, "spec.action"), "Warn");
    CHECK(json_is_true(at(b, "spec.scanner.harbor.insecureSkipTLSVerify")));
    CHECK(at(b, "spec.scanner.harbor.insecure") == NULL);
    CHECK_STR_EQ(str_at(b, "spec.scanner.harbor.secretRef.name"), "harbor-robot");
    CHECK(annotation(b, SL_API_V1ALPHA1_FIELDS) == NULL);
    json_t *c = load_one("tests/data/api/v1alpha1-full.yaml", "full-builtin");
    json_t *d = convert(c, "v1beta1");
    CHECK_STR_EQ(str_at(d, "spec.severityThreshold"), "Medium");
    CHECK_STR_EQ(str_at(d, "spec.action"), "Block");
    /* the database's insecure is plain http in both versions */
    CHECK(json_is_true(at(d, "spec.database.insecure")));
    CHECK_STR_EQ(str_at(d, "spec.vex.1.secretRef.name"), "vex-pull");
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

/* High with action Warn does not exist in v1alpha1: the controller reads None (never block) and
 * the threshold comes back from the annotation */
static void test_scanpolicy_warn_high_down(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-full.yaml", "beta-warn-high");
    json_t *a = convert(b, "v1alpha1");
    CHECK_STR_EQ(str_at(a, "spec.severityThreshold"), "None");
    CHECK(at(a, "spec.action") == NULL);
    CHECK_STR_EQ(str_at(a, "spec.database.credentials.secretRef.name"), "db-pull");
    CHECK_STR_EQ(annotation(a, SL_API_V1BETA1_FIELDS),
                 "{\"spec\":{\"severityThreshold\":\"High\"}}");
    json_decref(a);
    json_decref(b);
}

static void test_deploypolicy_verify_images(void)
{
    json_t *a = load_one("tests/data/api/v1alpha1-full.yaml", "full-deploy");
    json_t *b = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.imageReferences.0"), "*");
    CHECK_INT_EQ(json_array_size(at(b, "spec.verifyImages.0.imageReferences")), 1);
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.authorities.0.name"), "vendor-release");
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.authorities.1.key.signingKeyRef.name"),
                 "vendor-release-2027");
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.requireScanPassed.scanPolicyRefs.0.name"),
                 "default");
    CHECK(at(b, "spec.rules.requireSignature") == NULL);
    CHECK(at(b, "spec.rules.requireScanPassed") == NULL);
    CHECK(json_is_true(at(b, "spec.rules.requireDigest")));
    json_decref(a);
    json_decref(b);
    /* the same SigningKey name in two namespaces: names by position */
    a = load_one("tests/data/api/v1alpha1-full.yaml", "full-deploy-same-key-names");
    b = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.authorities.0.name"), "key-1");
    CHECK_STR_EQ(str_at(b, "spec.verifyImages.0.authorities.1.name"), "key-2");
    json_decref(a);
    json_decref(b);
}

/* v1alpha1 must never enforce less than the v1beta1 object says: a scoped entry it cannot
 * express leaves rules empty (and the schema refuses such objects until scoping is built) */
static void test_deploypolicy_scoped_stays_in_annotation(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-beyond.yaml", "scoped");
    json_t *a = convert(b, "v1alpha1");
    CHECK(at(a, "spec.verifyImages") == NULL);
    CHECK(at(a, "spec.rules.requireSignature") == NULL);
    CHECK_CONTAINS(annotation(a, SL_API_V1BETA1_FIELDS), "registry.customer.example/mirror/*");
    json_decref(a);
    json_decref(b);
}

static void test_signingkey_publish_split(void)
{
    json_t *a = load_one("tests/data/api/v1alpha1-full.yaml", "full-generate");
    json_t *b = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(b, "spec.publishKey.configMapRef.name"), "release-pub");
    CHECK(at(b, "spec.publicKey") == NULL);
    json_t *c = load_one("tests/data/api/v1alpha1-full.yaml", "full-verifyonly");
    json_t *d = convert(c, "v1beta1");
    CHECK_STR_EQ(str_at(d, "spec.publicKey.configMapRef.name"), "vendor-pub");
    CHECK(at(d, "spec.publishKey") == NULL);
    /* VerifyOnly with a Secret publishes the key it reads from there */
    json_t *e = load_one("tests/data/api/v1alpha1-full.yaml", "full-verifyonly-published");
    json_t *f = convert(e, "v1beta1");
    CHECK_STR_EQ(str_at(f, "spec.publishKey.configMapRef.name"), "vendor-pub-published");
    CHECK(at(f, "spec.publicKey") == NULL);
    json_decref(e);
    json_decref(f);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

/* a second authority: v1alpha1 verifies with the first key, the list comes back whole */
static void test_authorities_carried(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-beyond.yaml", "two-authorities");
    json_t *a = convert(b, "v1alpha1");
    CHECK_STR_EQ(str_at(a, "spec.verify.signingKeyRef.name"), "key-2026");
    CHECK(at(a, "spec.verify.authorities") == NULL);
    CHECK_CONTAINS(annotation(a, SL_API_V1BETA1_FIELDS), "key-2027");
    CHECK_STR_EQ(annotation(a, "owner"), "platform");
    CHECK_STR_EQ(str_at(a, "status.signedSummary"), "2/4");
    CHECK_INT_EQ(json_integer_value(at(a, "status.deliveredTags")), 4);
    json_t *back = convert(a, "v1beta1");
    check_equal(back, b, "two authorities");
    json_decref(a);
    json_decref(b);
    json_decref(back);
}

/* ImageDelivery serviceAccountName (source, targets): a v1alpha1 reader does not see it (its
 * schema would prune it), the annotation carries it, and it comes back up */
static void test_imagedelivery_service_account_carried(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-beyond.yaml", "service-account-pulls");
    json_t *a = convert(b, "v1alpha1");
    CHECK(at(a, "spec.source.serviceAccountName") == NULL);
    CHECK(at(a, "spec.targets.0.serviceAccountName") == NULL);
    CHECK_STR_EQ(str_at(a, "spec.targets.1.credentials.secretRef.name"), "other-push");
    CHECK_CONTAINS(annotation(a, SL_API_V1BETA1_FIELDS),
                   "\"serviceAccountName\":\"vendor-puller\"");
    CHECK_CONTAINS(annotation(a, SL_API_V1BETA1_FIELDS), "customer-pusher");
    /* provider aws rides along the same way */
    CHECK(at(a, "spec.targets.2.provider") == NULL);
    CHECK_CONTAINS(annotation(a, SL_API_V1BETA1_FIELDS), "\"provider\":\"aws\"");
    json_t *back = convert(a, "v1beta1");
    check_equal(back, b, "ImageDelivery serviceAccountName");
    json_decref(a);
    json_decref(b);
    json_decref(back);
}

/* ScanPolicy serviceAccountName (database, VEX images) and a VEX image's certSecretRef: a
 * v1alpha1 reader does not see them (its schema would prune them; it has no caSecretRef for VEX
 * images), the annotation carries them, and they come back up */
static void test_scanpolicy_registry_fields_carried(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-beyond.yaml", "scan-service-accounts");
    json_t *a = convert(b, "v1alpha1");
    CHECK(at(a, "spec.database.serviceAccountName") == NULL);
    CHECK(at(a, "spec.vex.0.serviceAccountName") == NULL);
    CHECK(at(a, "spec.vex.0.certSecretRef") == NULL);
    CHECK(at(a, "spec.vex.0.caSecretRef") == NULL);
    CHECK(at(a, "spec.vex.1.caSecretRef") == NULL);
    CHECK_STR_EQ(str_at(a, "spec.vex.1.credentials.secretRef.name"), "other-pull");
    const char *carried = annotation(a, SL_API_V1BETA1_FIELDS);
    CHECK_CONTAINS(carried, "\"serviceAccountName\":\"db-puller\"");
    CHECK_CONTAINS(carried, "vex-puller");
    CHECK_CONTAINS(carried, "vex-mtls");
    CHECK_CONTAINS(carried, "other-ca");
    json_t *back = convert(a, "v1beta1");
    check_equal(back, b, "ScanPolicy serviceAccountName and VEX certSecretRef");
    json_decref(a);
    json_decref(b);
    json_decref(back);
}

/* ScanPolicy provider (database, VEX images): dropped for a v1alpha1 reader, carried by the
 * annotation, back up as it was */
static void test_scanpolicy_provider_carried(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-beyond.yaml", "scan-cloud-providers");
    json_t *a = convert(b, "v1alpha1");
    CHECK(at(a, "spec.database.provider") == NULL);
    CHECK(at(a, "spec.vex.0.provider") == NULL);
    CHECK(at(a, "spec.vex.1.provider") == NULL);
    CHECK_STR_EQ(str_at(a, "spec.vex.1.credentials.secretRef.name"), "other-pull");
    const char *carried = annotation(a, SL_API_V1BETA1_FIELDS);
    CHECK_CONTAINS(carried, "\"provider\":\"aws\"");
    CHECK_CONTAINS(carried, "\"provider\":\"azure\"");
    json_t *back = convert(a, "v1beta1");
    check_equal(back, b, "ScanPolicy provider");
    json_decref(a);
    json_decref(b);
    json_decref(back);
}

/* GitSource's v1beta1-only fields: a v1alpha1 reader does not see them in spec (its schema
 * would prune them), the annotation carries them, and they come back up */
static void test_gitsource_new_fields_carried(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-full.yaml", "beta-git");
    json_t *a = convert(b, "v1alpha1");
    CHECK(at(a, "spec.timeout") == NULL);
    CHECK(at(a, "spec.ignore") == NULL);
    CHECK(at(a, "spec.verify") == NULL);
    CHECK(at(a, "spec.serviceAccountName") == NULL);
    CHECK_STR_EQ(str_at(a, "spec.interval"), "5m");
    CHECK_STR_EQ(annotation(a, SL_API_V1BETA1_FIELDS),
                 "{\"spec\":{\"ignore\":\"# drafts are not applied\\n*.draft.yaml\\n!keep.draft."
                 "yaml\\n\",\"serviceAccountName\":\"delivery-applier\",\"timeout\":\"90s\","
                 "\"verify\":{\"mode\":\"Tag\",\"secretRef\":{"
                 "\"name\":\"release-keys\"}}}}");
    json_t *back = convert(a, "v1beta1");
    check_equal(back, b, "GitSource timeout");
    json_decref(a);
    json_decref(b);
    json_decref(back);
}

/* v1alpha1's insecure was plain http and unverified TLS: v1beta1 says both; a v1beta1 object
 * that allows plain http but keeps verification reads through v1alpha1 as insecure and comes
 * back up without insecureSkipTLSVerify */
static void test_imagedelivery_insecure_split(void)
{
    json_t *a = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:b}, s:[{s:s, s:b}, {s:s}]}}",
                          "apiVersion", "sealift.dev/v1alpha1", "kind", "ImageDelivery", "metadata",
                          "name", "lab", "namespace", "ns", "spec", "source", "image",
                          "r.example:5000/acme/app", "insecure", 1, "targets", "image",
                          "c.example:5000/m/app", "insecure", 1, "image", "d.example/m/app");
    json_t *b = convert(a, "v1beta1");
    CHECK(json_is_true(at(b, "spec.source.insecure")));
    CHECK(json_is_true(at(b, "spec.source.insecureSkipTLSVerify")));
    CHECK(json_is_true(at(b, "spec.targets.0.insecureSkipTLSVerify")));
    CHECK(at(b, "spec.targets.1.insecureSkipTLSVerify") == NULL);
    CHECK(annotation(b, SL_API_V1ALPHA1_FIELDS) == NULL);
    json_t *a2 = convert(b, "v1alpha1");
    check_equal(a2, a, "insecure up and down");
    /* plain http, verified TLS: only v1beta1 can say it */
    json_object_del(json_object_get(json_object_get(b, "spec"), "source"), "insecureSkipTLSVerify");
    json_t *down = convert(b, "v1alpha1");
    CHECK(json_is_true(at(down, "spec.source.insecure")));
    CHECK(at(down, "spec.source.insecureSkipTLSVerify") == NULL);
    CHECK(annotation(down, SL_API_V1BETA1_FIELDS) != NULL);
    json_t *back = convert(down, "v1beta1");
    CHECK(at(back, "spec.source.insecureSkipTLSVerify") == NULL);
    CHECK(json_is_true(at(back, "spec.source.insecure")));
    CHECK(json_is_true(at(back, "spec.targets.0.insecureSkipTLSVerify")));
    /* unverified TLS without plain http reads through v1alpha1 as insecure */
    json_t *skip_only = json_deep_copy(b);
    json_t *src = json_object_get(json_object_get(skip_only, "spec"), "source");
    json_object_del(src, "insecure");
    json_object_set_new(src, "insecureSkipTLSVerify", json_true());
    json_t *down2 = convert(skip_only, "v1alpha1");
    CHECK(json_is_true(at(down2, "spec.source.insecure")));
    json_t *back2 = convert(down2, "v1beta1");
    check_equal(back2, skip_only, "insecureSkipTLSVerify alone");
    json_decref(a);
    json_decref(b);
    json_decref(a2);
    json_decref(down);
    json_decref(back);
    json_decref(skip_only);
    json_decref(down2);
    json_decref(back2);
}

/* a v1alpha1 writer changes a field the carried patch covers: what it wrote wins, so v1beta1
 * readers see what the controller enforces */
static void test_stale_patch_dropped(void)
{
    json_t *b = load_one("tests/data/api/v1beta1-full.yaml", "beta-warn-high");
    json_t *a = convert(b, "v1alpha1");
    json_object_set_new(at(a, "spec"), "severityThreshold", json_string("Medium"));
    json_t *up = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(up, "spec.severityThreshold"), "Medium");
    CHECK_STR_EQ(str_at(up, "spec.action"), "Block");
    CHECK(annotation(up, SL_API_V1ALPHA1_FIELDS) == NULL);
    json_decref(up);
    /* a change elsewhere keeps the patch */
    json_object_set_new(at(a, "spec"), "severityThreshold", json_string("None"));
    json_object_set_new(at(a, "spec"), "ignoreUnfixed", json_true());
    up = convert(a, "v1beta1");
    CHECK_STR_EQ(str_at(up, "spec.severityThreshold"), "High");
    CHECK_STR_EQ(str_at(up, "spec.action"), "Warn");
    CHECK(json_is_true(at(up, "spec.ignoreUnfixed")));
    json_decref(up);
    json_decref(a);
    json_decref(b);

    b = load_one("tests/data/api/v1beta1-full.yaml", "beta-authority");
    a = convert(b, "v1alpha1");
    json_object_set_new(at(a, "spec.verify.signingKeyRef"), "name", json_string("rotated"));
    up = convert(a, "v1beta1");
    CHECK_INT_EQ(json_array_size(at(up, "spec.verify.authorities")), 1);
    CHECK_STR_EQ(str_at(up, "spec.verify.authorities.0.key.signingKeyRef.name"), "rotated");
    CHECK_STR_EQ(str_at(up, "spec.verify.authorities.0.name"), "default");
    json_decref(up);
    json_decref(a);
    json_decref(b);
}

static void test_refused(void)
{
    json_t *out = NULL;
    struct sl_err err = {0};
    json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "sealift.dev/v1alpha1",
                            "kind", "ImageDelivery", "metadata", "name", "x", "annotations",
                            SL_API_V1BETA1_FIELDS, "[1,2]");
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v1beta1", obj, &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, SL_API_V1BETA1_FIELDS);
    CHECK(out == NULL);
    CHECK_INT_EQ(sl_api_convert(&out, "Pod", "v1alpha1", "v1beta1", obj, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "Pod");
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v2", obj, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "v2");
    json_t *arr = json_array();
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v1beta1", arr, &err),
                 SL_EINVAL);
    /* a carried patch cannot rename the object or change its kind */
    json_object_set_new(obj, "spec",
                        json_pack("{s:{s:{s:s}}}", "verify", "signingKeyRef", "name", "k"));
    json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                        SL_API_V1BETA1_FIELDS,
                        json_string("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"y\"},"
                                    "\"spec\":{\"verify\":{\"authorities\":[{\"name\":"
                                    "\"named\",\"key\":{\"signingKeyRef\":{\"name\":\"k\"}}}]}}}"));
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v1beta1", obj, &err), 0);
    CHECK_STR_EQ(str_at(out, "kind"), "ImageDelivery");
    CHECK_STR_EQ(str_at(out, "metadata.name"), "x");
    CHECK_STR_EQ(str_at(out, "spec.verify.authorities.0.name"), "named");
    CHECK(annotation(out, SL_API_V1BETA1_FIELDS) == NULL);
    json_decref(out);
    /* nor add what the object's own version says otherwise (here: suspend) */
    json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                        SL_API_V1BETA1_FIELDS, json_string("{\"spec\":{\"suspend\":true}}"));
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v1beta1", obj, &err), 0);
    CHECK(at(out, "spec.suspend") == NULL);
    json_decref(out);
    /* deep nesting is refused, not recursed into */
    json_t *deep = json_object(), *cur = deep;
    for (int i = 0; i < 100; i++) {
        json_t *n = json_object();
        json_object_set_new(cur, "a", n);
        cur = n;
    }
    json_object_set(obj, "spec", deep);
    out = NULL;
    CHECK_INT_EQ(sl_api_convert(&out, "ImageDelivery", "v1alpha1", "v1beta1", obj, &err),
                 SL_EINVAL);
    CHECK_CONTAINS(err.msg, "deeper");
    json_decref(deep);
    json_decref(arr);
    json_decref(obj);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        src_dir = argv[1];
    RUN(test_examples_round_trip);
    RUN(test_data_round_trip);
    RUN(test_scanpolicy_registry_fields_carried);
    RUN(test_scanpolicy_provider_carried);
    RUN(test_imagedelivery_up);
    RUN(test_imagedelivery_insecure_split);
    RUN(test_scanpolicy_none_is_warn);
    RUN(test_scanpolicy_warn_high_down);
    RUN(test_deploypolicy_verify_images);
    RUN(test_deploypolicy_scoped_stays_in_annotation);
    RUN(test_signingkey_publish_split);
    RUN(test_authorities_carried);
    RUN(test_gitsource_new_fields_carried);
    RUN(test_imagedelivery_service_account_carried);
    RUN(test_stale_patch_dropped);
    RUN(test_refused);
    return CHECK_EXIT();
}
