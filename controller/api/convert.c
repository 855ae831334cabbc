/* Conversion between sealift.dev/v1alpha1 and v1beta1; see convert.h and docs/design/v1beta1.md.
 *
 * Each kind has a pair of shape functions (up: v1alpha1 -> v1beta1, down: the reverse) that edit
 * a copy of the object in place. They are deterministic and never touch metadata. Losslessness
 * does not depend on them being inverses: after shaping, the object is shaped back and the
 * difference to the input is kept as a merge patch in an annotation of the result, which the
 * conversion in the other direction applies. */
#include "api/convert.h"

#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* deeper objects are refused: the API server's own limit for custom resources is far lower */
#define MAX_DEPTH 64

static const char *const KINDS[] = {"ImageDelivery", "ScanPolicy", "SigningKey", "DeployPolicy",
                                    "GitSource"};

int sl_api_kind_known(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
        if (strcmp(kind, KINDS[i]) == 0)
            return 1;
    return 0;
}

int sl_api_version_known(const char *version)
{
    return version && (strcmp(version, "v1alpha1") == 0 || strcmp(version, "v1beta1") == 0);
}

/* ---- small JSON helpers ---- */

/* the member k of o when it is an object, else NULL (borrowed) */
static json_t *member_obj(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_object(v) ? v : NULL;
}

/* Moves o[from] to o[to]. The shape functions leave no field the target version lacks (the API
 * server would prune it): when o has both, from is dropped and the annotation carries it. */
static void rename_key(json_t *o, const char *from, const char *to)
{
    json_t *v = json_object_get(o, from);
    if (!v)
        return;
    if (!json_object_get(o, to))
        json_object_set(o, to, v);
    json_object_del(o, from);
}

/* {credentials: {secretRef: R}} -> {secretRef: R} */
static void credentials_up(json_t *o)
{
    json_t *ref = json_object_get(member_obj(o, "credentials"), "secretRef");
    if (ref && !json_object_get(o, "secretRef"))
        json_object_set(o, "secretRef", ref);
    json_object_del(o, "credentials");
}

static void credentials_down(json_t *o)
{
    json_t *ref = json_object_get(o, "secretRef");
    if (ref && !json_object_get(o, "credentials")) {
        json_t *c = json_object();
        json_object_set(c, "secretRef", ref);
        json_object_set_new(o, "credentials", c);
    }
    json_object_del(o, "secretRef");
}

/* the registry access block of every kind: credentials and CA Secret */
static void access_up(json_t *o)
{
    if (!json_is_object(o))
        return;
    credentials_up(o);
    rename_key(o, "caSecretRef", "certSecretRef");
}

static void access_down(json_t *o)
{
    if (!json_is_object(o))
        return;
    credentials_down(o);
    rename_key(o, "certSecretRef", "caSecretRef");
}

static void each_item(json_t *arr, void (*fn)(json_t *))
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) fn(v);
}

/* one authority verifying with a SigningKey reference */
static json_t *authority_new(const char *name, json_t *signing_key_ref)
{
    json_t *key = json_object();
    json_object_set(key, "signingKeyRef", signing_key_ref);
    json_t *a = json_object();
    json_object_set_new(a, "name", json_string(name));
    json_object_set_new(a, "key", key);
    return a;
}

/* the SigningKey reference of an authority, or NULL (borrowed) */
static json_t *authority_key_ref(json_t *a)
{
    return json_object_get(member_obj(a, "key"), "signingKeyRef");
}

/* ---- ImageDelivery ---- */

int sl_api_scan_result_rank(const char *result)
{
    if (!result)
        return 0;
    if (strcmp(result, "Failed") == 0)
        return 3;
    if (strcmp(result, "Error") == 0)
        return 2;
    if (strcmp(result, "Passed") == 0)
        return 1;
    return 0;
}

static const char *image_scan_result(json_t *img)
{
    return json_string_value(json_object_get(member_obj(img, "scan"), "result"));
}

static void imagedelivery_status_up(json_t *status)
{
    json_t *delivered = json_object_get(status, "deliveredTags");
    const char *scan = json_string_value(json_object_get(status, "scanSummary"));
    const char *signed_s = json_string_value(json_object_get(status, "signedSummary"));
    if (!delivered && !scan && !signed_s)
        return;
    json_t *summary = json_object();
    if (json_is_integer(delivered))
        json_object_set(summary, "delivered", delivered);
    if (signed_s && strcmp(signed_s, "-") != 0) {
        char *end = NULL;
        long long n = strtoll(signed_s, &end, 10);
        if (end != signed_s && *end == '/' && n >= 0)
            json_object_set_new(summary, "signed", json_integer((json_int_t)n));
    }
    if (scan && strcmp(scan, "-") != 0) {
        json_int_t scanned = 0, blocked = 0;
        size_t i;
        json_t *img;
        json_array_foreach(json_object_get(status, "images"), i, img)
        {
            int rank = sl_api_scan_result_rank(image_scan_result(img));
            scanned += rank > 0;
            blocked += rank == 3;
        }
        json_object_set_new(summary, "scanned", json_integer(scanned));
        json_object_set_new(summary, "blocked", json_integer(blocked));
    }
    json_object_del(status, "deliveredTags");
    json_object_del(status, "scanSummary");
    json_object_del(status, "signedSummary");
    json_object_set_new(status, "summary", summary);
}

/* the summary strings as the controller writes them (reconcilers/imagedelivery/delivery.c) */
static void imagedelivery_status_down(json_t *status)
{
    json_t *summary = member_obj(status, "summary");
    if (!summary)
        return;
    json_int_t delivered = json_integer_value(json_object_get(summary, "delivered"));
    if (json_object_get(summary, "delivered"))
        json_object_set_new(status, "deliveredTags", json_integer(delivered));
    const char *worst = NULL;
    if (json_object_get(summary, "scanned")) {
        size_t i;
        json_t *img;
        json_array_foreach(json_object_get(status, "images"), i, img)
        {
            const char *res = image_scan_result(img);
            if (sl_api_scan_result_rank(res) > sl_api_scan_result_rank(worst))
                worst = res;
        }
    }
    json_object_set_new(status, "scanSummary", json_string(worst ? worst : "-"));
    json_t *signed_n = json_object_get(summary, "signed");
    if (json_is_integer(signed_n)) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%lld/%lld", (long long)json_integer_value(signed_n),
                 (long long)delivered);
        json_object_set_new(status, "signedSummary", json_string(buf));
    } else {
        json_object_set_new(status, "signedSummary", json_string("-"));
    }
    json_object_del(status, "summary");
}

/* An ImageDelivery registry: v1alpha1's insecure allowed plain http and skipped TLS
 * verification; v1beta1 says each by its own field. */
static void endpoint_up(json_t *o)
{
    if (!json_is_object(o))
        return;
    access_up(o);
    if (json_is_true(json_object_get(o, "insecure")) &&
        !json_object_get(o, "insecureSkipTLSVerify"))
        json_object_set_new(o, "insecureSkipTLSVerify", json_true());
}

static void endpoint_down(json_t *o)
{
    if (!json_is_object(o))
        return;
    access_down(o);
    if (json_is_true(json_object_get(o, "insecureSkipTLSVerify")))
        json_object_set_new(o, "insecure", json_true());
    json_object_del(o, "insecureSkipTLSVerify");
    /* v1alpha1 has no serviceAccountName nor provider: the annotation carries them */
    json_object_del(o, "serviceAccountName");
    json_object_del(o, "provider");
}

static void imagedelivery_up(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    endpoint_up(member_obj(spec, "source"));
    each_item(json_object_get(spec, "targets"), endpoint_up);
    json_t *verify = member_obj(spec, "verify");
    json_t *ref = json_object_get(verify, "signingKeyRef");
    if (ref && !json_object_get(verify, "authorities")) {
        json_t *list = json_array();
        json_array_append_new(list, authority_new("default", ref));
        json_object_set_new(verify, "authorities", list);
    }
    json_object_del(verify, "signingKeyRef");
    imagedelivery_status_up(member_obj(o, "status"));
}

static void imagedelivery_down(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    endpoint_down(member_obj(spec, "source"));
    each_item(json_object_get(spec, "targets"), endpoint_down);
    json_t *verify = member_obj(spec, "verify");
    /* v1alpha1 verifies with one key: the first authority's (the others ride in the annotation) */
    json_t *ref = authority_key_ref(json_array_get(json_object_get(verify, "authorities"), 0));
    if (ref && !json_object_get(verify, "signingKeyRef"))
        json_object_set(verify, "signingKeyRef", ref);
    json_object_del(verify, "authorities");
    imagedelivery_status_down(member_obj(o, "status"));
}

/* ---- ScanPolicy ---- */

static void harbor_up(json_t *h)
{
    access_up(h);
    /* harbor's insecure always meant TLS without verification, which v1beta1 names as such */
    rename_key(h, "insecure", "insecureSkipTLSVerify");
}

static void harbor_down(json_t *h)
{
    access_down(h);
    rename_key(h, "insecureSkipTLSVerify", "insecure");
}

/* A ScanPolicy registry (database, VEX image): v1alpha1 has no serviceAccountName nor provider,
 * nor a certSecretRef for VEX images; the annotation carries them. */
static void database_down(json_t *o)
{
    if (!json_is_object(o))
        return;
    access_down(o);
    json_object_del(o, "serviceAccountName");
    json_object_del(o, "provider");
}

static void vex_down(json_t *o)
{
    if (!json_is_object(o))
        return;
    credentials_down(o);
    json_object_del(o, "serviceAccountName");
    json_object_del(o, "provider");
    json_object_del(o, "certSecretRef");
}

static void scanpolicy_up(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    access_up(member_obj(spec, "database"));
    each_item(json_object_get(spec, "vex"), access_up);
    json_t *harbor = member_obj(member_obj(spec, "scanner"), "harbor");
    if (harbor)
        harbor_up(harbor);
    const char *threshold = json_string_value(json_object_get(spec, "severityThreshold"));
    if (threshold && !json_object_get(spec, "action")) {
        /* None was "never block": report at Critical and warn */
        int never = strcmp(threshold, "None") == 0;
        if (never)
            json_object_set_new(spec, "severityThreshold", json_string("Critical"));
        json_object_set_new(spec, "action", json_string(never ? "Warn" : "Block"));
    }
}

static void scanpolicy_down(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    database_down(member_obj(spec, "database"));
    each_item(json_object_get(spec, "vex"), vex_down);
    json_t *harbor = member_obj(member_obj(spec, "scanner"), "harbor");
    if (harbor)
        harbor_down(harbor);
    const char *action = json_string_value(json_object_get(spec, "action"));
    if (action && strcmp(action, "Warn") == 0)
        json_object_set_new(spec, "severityThreshold", json_string("None"));
    json_object_del(spec, "action");
}

/* ---- SigningKey ---- */

/* v1alpha1's publicKey is where the public key is published, except for a VerifyOnly key without
 * secretRef, which reads it from there; v1beta1 keeps publicKey for that input and names the
 * output publishKey */
static int public_key_is_input(json_t *spec)
{
    const char *mode = json_string_value(json_object_get(spec, "mode"));
    return mode && strcmp(mode, "VerifyOnly") == 0 && !json_object_get(spec, "secretRef");
}

static void signingkey_up(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    if (spec && !public_key_is_input(spec))
        rename_key(spec, "publicKey", "publishKey");
}

static void signingkey_down(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    if (spec && !public_key_is_input(spec))
        rename_key(spec, "publishKey", "publicKey");
    json_object_del(spec, "publishKey");
}

/* ---- DeployPolicy ---- */

/* authority names for v1alpha1's key list: the SigningKey's name while those are unique, else
 * key-1, key-2, ... (names are the list's map key) */
static json_t *authorities_from_refs(json_t *refs)
{
    size_t i, j, n = json_array_size(refs);
    int unique = 1;
    for (i = 0; i < n && unique; i++) {
        const char *a = json_string_value(json_object_get(json_array_get(refs, i), "name"));
        if (!a)
            unique = 0;
        for (j = 0; j < i && unique; j++) {
            const char *b = json_string_value(json_object_get(json_array_get(refs, j), "name"));
            if (b && strcmp(a, b) == 0)
                unique = 0;
        }
    }
    json_t *out = json_array();
    for (i = 0; i < n; i++) {
        json_t *ref = json_array_get(refs, i);
        char name[32];
        snprintf(name, sizeof(name), "key-%zu", i + 1);
        const char *ref_name = json_string_value(json_object_get(ref, "name"));
        json_array_append_new(out, authority_new(unique ? ref_name : name, ref));
    }
    return out;
}

static void deploypolicy_up(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    json_t *rules = member_obj(spec, "rules");
    json_t *sig = member_obj(rules, "requireSignature");
    json_t *refs = json_object_get(sig, "signingKeyRefs");
    json_t *scan = json_object_get(rules, "requireScanPassed");
    int sig_ok = sig && json_object_size(sig) == 1 && json_is_array(refs);
    int scan_ok = json_is_object(scan) || json_is_true(scan);
    if (!sig_ok || json_object_get(spec, "verifyImages"))
        json_object_del(rules, "requireSignature");
    if (!scan_ok || json_object_get(spec, "verifyImages"))
        json_object_del(rules, "requireScanPassed");
    if ((!sig_ok && !scan_ok) || json_object_get(spec, "verifyImages"))
        return;
    json_t *entry = json_object();
    json_t *all = json_array();
    json_array_append_new(all, json_string("*"));
    json_object_set_new(entry, "imageReferences", all);
    if (sig_ok) {
        json_object_set_new(entry, "authorities", authorities_from_refs(refs));
        json_object_del(rules, "requireSignature");
    }
    if (scan_ok) {
        /* the old form `true` names no ScanPolicy; both versions refuse to act on it */
        json_object_set_new(entry, "requireScanPassed",
                            json_is_object(scan) ? json_deep_copy(scan) : json_object());
        json_object_del(rules, "requireScanPassed");
    }
    json_t *list = json_array();
    json_array_append_new(list, entry);
    json_object_set_new(spec, "verifyImages", list);
}

static void deploypolicy_down(json_t *o)
{
    json_t *spec = member_obj(o, "spec");
    json_t *list = json_object_get(spec, "verifyImages");
    json_t *entry = json_array_get(list, 0);
    json_t *refs = json_object_get(entry, "imageReferences");
    /* v1alpha1 expresses one pod-wide entry; anything else stays in the annotation */
    const char *ref0 = json_string_value(json_array_get(refs, 0));
    if (json_array_size(list) != 1 || json_array_size(refs) != 1 || !ref0 ||
        strcmp(ref0, "*") != 0) {
        json_object_del(spec, "verifyImages");
        return;
    }
    json_t *rules = member_obj(spec, "rules");
    if (!rules) {
        rules = json_object();
        json_object_set_new(spec, "rules", rules);
    }
    json_t *authorities = json_object_get(entry, "authorities");
    if (json_array_size(authorities) > 0 && !json_object_get(rules, "requireSignature")) {
        json_t *keys = json_array();
        size_t i;
        json_t *a;
        json_array_foreach(authorities, i, a)
        {
            json_t *ref = authority_key_ref(a);
            if (ref)
                json_array_append(keys, ref);
        }
        json_t *sig = json_object();
        json_object_set_new(sig, "signingKeyRefs", keys);
        json_object_set_new(rules, "requireSignature", sig);
    }
    json_t *scan = json_object_get(entry, "requireScanPassed");
    if (scan && !json_object_get(rules, "requireScanPassed"))
        json_object_set(rules, "requireScanPassed", scan);
    json_object_del(spec, "verifyImages");
}

/* ---- GitSource: v1alpha1's fields keep their place; v1beta1 adds some ---- */

static void same_shape(json_t *o)
{
    (void)o;
}

/* v1alpha1 has no spec.timeout, spec.ignore and spec.verify: down conversion leaves them out,
 * and the annotation carries them */
static void gitsource_down(json_t *o)
{
    json_object_del(member_obj(o, "spec"), "timeout");
    json_object_del(member_obj(o, "spec"), "ignore");
    json_object_del(member_obj(o, "spec"), "verify");
    json_object_del(member_obj(o, "spec"), "serviceAccountName");
}

struct kind_shapes {
    const char *kind;
    void (*up)(json_t *);
    void (*down)(json_t *);
};

static const struct kind_shapes SHAPES[] = {
    {"ImageDelivery", imagedelivery_up, imagedelivery_down},
    {"ScanPolicy", scanpolicy_up, scanpolicy_down},
    {"SigningKey", signingkey_up, signingkey_down},
    {"DeployPolicy", deploypolicy_up, deploypolicy_down},
    {"GitSource", same_shape, gitsource_down},
};

/* ---- merge patches (RFC 7386) ---- */

/* skipped at the top level: a carried patch never changes identity or metadata */
static int protected_key(const char *k)
{
    return strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0 || strcmp(k, "metadata") == 0;
}

/* The merge patch that turns from into to (both objects), or NULL when they are equal. */
static json_t *merge_diff(json_t *from, json_t *to, int depth, int top)
{
    json_t *patch = json_object();
    const char *k;
    json_t *tv;
    json_object_foreach(to, k, tv)
    {
        if (top && protected_key(k))
            continue;
        json_t *fv = json_object_get(from, k);
        if (fv && json_equal(fv, tv))
            continue;
        if (json_is_object(fv) && json_is_object(tv) && depth < MAX_DEPTH) {
            json_t *sub = merge_diff(fv, tv, depth + 1, 0);
            if (sub)
                json_object_set_new(patch, k, sub);
        } else {
            json_object_set(patch, k, tv);
        }
    }
    json_t *fv;
    json_object_foreach(from, k, fv)
    {
        if (top && protected_key(k))
            continue;
        if (!json_object_get(to, k))
            json_object_set_new(patch, k, json_null());
    }
    if (json_object_size(patch) == 0) {
        json_decref(patch);
        return NULL;
    }
    return patch;
}

/* Applies patch to target (both objects). Returns 0, or SL_EINVAL when nested too deep. */
static int merge_apply(json_t *target, json_t *patch, int depth, int top, struct sl_err *err)
{
    if (depth > MAX_DEPTH)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "nested deeper than %d levels", MAX_DEPTH);
    const char *k;
    json_t *pv;
    json_object_foreach(patch, k, pv)
    {
        if (top && protected_key(k))
            continue;
        if (json_is_null(pv)) {
            json_object_del(target, k);
        } else if (json_is_object(pv)) {
            json_t *tv = json_object_get(target, k);
            if (!json_is_object(tv)) {
                tv = json_object();
                json_object_set_new(target, k, tv);
            }
            int rc = merge_apply(tv, pv, depth + 1, 0, err);
            if (rc)
                return rc;
        } else {
            json_object_set_new(target, k, json_deep_copy(pv));
        }
    }
    return 0;
}

static int depth_ok(const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) if (!depth_ok(c, depth + 1)) return 0;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) if (!depth_ok(c, depth + 1)) return 0;
    }
    return 1;
}

/* Removes annotation name from o; drops the annotations map when that leaves it empty. */
static void annotation_del(json_t *o, const char *name)
{
    json_t *md = member_obj(o, "metadata");
    json_t *ann = member_obj(md, "annotations");
    if (!ann || !json_object_get(ann, name))
        return;
    json_object_del(ann, name);
    if (json_object_size(ann) == 0)
        json_object_del(md, "annotations");
}

static void annotation_set(json_t *o, const char *name, const char *value)
{
    json_t *md = member_obj(o, "metadata");
    if (!md) {
        md = json_object();
        json_object_set_new(o, "metadata", md);
    }
    json_t *ann = member_obj(md, "annotations");
    if (!ann) {
        ann = json_object();
        json_object_set_new(md, "annotations", ann);
    }
    json_object_set_new(ann, name, json_string(value));
}

static void set_api_version(json_t *o, const char *version)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s/%s", SL_API_GROUP, version);
    json_object_set_new(o, "apiVersion", json_string(buf));
}

int sl_api_convert(json_t **out, const char *kind, const char *from_version, const char *to_version,
                   const json_t *obj, struct sl_err *err)
{
    json_t *base = NULL, *result = NULL, *back = NULL, *carried = NULL, *rest = NULL;
    json_t *patched = NULL;
    char *text = NULL;
    int rc = SL_EINVAL;
    const struct kind_shapes *shapes = NULL;
    int up = to_version && strcmp(to_version, "v1beta1") == 0;
    /* the annotation an object of from_version carries for to_version, and the one the result
     * carries for from_version */
    const char *ann_in = up ? SL_API_V1BETA1_FIELDS : SL_API_V1ALPHA1_FIELDS;
    const char *ann_out = up ? SL_API_V1ALPHA1_FIELDS : SL_API_V1BETA1_FIELDS;
    for (size_t i = 0; kind && i < sizeof(SHAPES) / sizeof(SHAPES[0]); i++)
        if (strcmp(kind, SHAPES[i].kind) == 0)
            shapes = &SHAPES[i];
    if (!shapes) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "kind %s is not one of sealift's kinds",
                   kind ? kind : "(none)");
        goto done;
    }
    if (!sl_api_version_known(from_version) || !sl_api_version_known(to_version)) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "cannot convert %s from %s to %s (versions: %s)", kind,
                   from_version ? from_version : "(none)", to_version ? to_version : "(none)",
                   "v1alpha1, v1beta1");
        goto done;
    }
    if (!json_is_object(obj)) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "the object is not a JSON object");
        goto done;
    }
    if (!depth_ok(obj, 0)) {
        sl_err_set(err, rc, SL_ERRC_INPUT, "the object is nested deeper than %d levels", MAX_DEPTH);
        goto done;
    }
    if (strcmp(from_version, to_version) == 0) {
        result = json_deep_copy(obj);
        set_api_version(result, to_version);
        rc = 0;
        goto done;
    }
    base = json_deep_copy(obj);
    const char *carried_text = json_string_value(
        json_object_get(member_obj(member_obj(base, "metadata"), "annotations"), ann_in));
    if (carried_text) {
        json_error_t jerr;
        carried = json_loads(carried_text, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(carried)) {
            sl_err_set(err, rc, SL_ERRC_INPUT, "annotation %s is not a JSON object: %s", ann_in,
                       carried ? "another JSON value" : jerr.text);
            goto done;
        }
        if (!depth_ok(carried, 0)) {
            sl_err_set(err, rc, SL_ERRC_INPUT, "annotation %s is nested deeper than %d levels",
                       ann_in, MAX_DEPTH);
            goto done;
        }
    }
    annotation_del(base, ann_in);
    /* a stale annotation of the other direction would be taken for this conversion's own */
    annotation_del(base, ann_out);

    result = json_deep_copy(base);
    (up ? shapes->up : shapes->down)(result);
    set_api_version(result, to_version);
    /* what the way back would not restore is carried along */
    back = json_deep_copy(result);
    (up ? shapes->down : shapes->up)(back);
    set_api_version(back, from_version);
    if (carried) {
        /* The carried fields count only while they agree with what the object says in its own
         * version: after a writer of from_version changed a field they cover (a v1alpha1
         * client set another key or threshold), that version wins, so the converted object
         * never shows what the controller reading the stored version does not enforce. */
        patched = json_deep_copy(result);
        if ((rc = merge_apply(patched, carried, 0, 1, err)) != 0) {
            sl_err_prefix(err, "annotation %s", ann_in);
            goto done;
        }
        json_t *patched_back = json_deep_copy(patched);
        (up ? shapes->down : shapes->up)(patched_back);
        set_api_version(patched_back, from_version);
        json_t *conflict = merge_diff(patched_back, base, 0, 1);
        if (!conflict) {
            json_decref(result);
            result = patched;
            patched = NULL;
            json_decref(back);
            back = patched_back;
        } else {
            json_decref(patched_back);
            json_decref(conflict);
        }
    }
    rest = merge_diff(back, base, 0, 1);
    if (rest) {
        text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
        annotation_set(result, ann_out, text);
    }
    rc = 0;
done:
    if (rc == 0) {
        *out = result;
        result = NULL;
    }
    json_decref(result);
    json_decref(base);
    json_decref(back);
    json_decref(carried);
    json_decref(patched);
    json_decref(rest);
    free(text);
    return rc;
}
