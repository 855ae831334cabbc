/* The in-memory API server behaves like kube-apiserver where reconcilers can tell. */
#include "check.h"
#include "fake_kube.h"

#include "kube/client.h"
#include "kube/ops.h"
#include "util/err.h"

#include <stdlib.h>

static json_t *delivery(const char *ns, const char *name, const char *image)
{
    return json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:{s:s}}, s:{s:s}}", "metadata", "name", name,
                     "namespace", ns, "labels", "app", "web", "spec", "source", "image", image,
                     "status", "phase", "client-set");
}

static void test_create_get(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    struct sl_err err = {0};
    json_t *out = NULL;
    sl_fake_kube_ops(fk, &ops);

    json_t *obj = delivery("team", "web", "a:1");
    CHECK_INT_EQ(ops.create(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", obj, &err), 0);
    CHECK_STR_EQ(sl_kube_obj_name(out), "web");
    CHECK_STR_EQ(sl_kube_obj_namespace(out), "team");
    CHECK(sl_kube_obj_uid(out) != NULL);
    CHECK(sl_kube_obj_resource_version(out) != NULL);
    CHECK_INT_EQ(sl_kube_obj_generation(out), 1);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "apiVersion"), "sealift.dev/v1beta1");
    CHECK_STR_EQ(sl_kube_json_path_str(out, "kind"), "ImageDelivery");
    /* status subresource: a create drops the status */
    CHECK(sl_kube_json_path(out, "status") == NULL);
    json_decref(out);
    out = NULL;

    CHECK_INT_EQ(ops.create(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", obj, &err), SL_EEXISTS);
    CHECK_STR_EQ(err.msg, "imagedeliveries.sealift.dev \"web\" already exists");
    CHECK_INT_EQ(err.http_status, 409);

    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "nope", &err), SL_ENOTFOUND);
    CHECK_STR_EQ(err.msg, "imagedeliveries.sealift.dev \"nope\" not found");
    CHECK_INT_EQ(err.http_status, 404);
    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_SECRET, "team", "nope", &err), SL_ENOTFOUND);
    CHECK_STR_EQ(err.msg, "secrets \"nope\" not found");

    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web", &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "spec.source.image"), "a:1");
    json_decref(out);

    /* generateName */
    json_t *gen = json_pack("{s:{s:s}}", "metadata", "generateName", "ev-");
    out = NULL;
    CHECK_INT_EQ(ops.create(ops.ctx, &out, &SL_RES_EVENT, "team", gen, &err), 0);
    CHECK(out && strncmp(sl_kube_obj_name(out), "ev-", 3) == 0 &&
          strlen(sl_kube_obj_name(out)) == 8);
    json_decref(out);
    json_decref(gen);

    CHECK_INT_EQ(sl_fake_kube_writes(fk), 2);
    CHECK_INT_EQ(sl_fake_kube_count(fk, &SL_RES_IMAGEDELIVERY, NULL), 1);
    json_decref(obj);
    sl_fake_kube_free(fk);
}

static void test_update_semantics(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    struct sl_err err = {0};
    json_t *v1 = NULL, *v2 = NULL, *v3 = NULL;
    sl_fake_kube_ops(fk, &ops);

    json_t *seed = delivery("team", "web", "a:1");
    CHECK_INT_EQ(sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, seed), 0);
    json_decref(seed);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 0);
    /* put keeps the given status */
    json_t *stored = sl_fake_kube_find(fk, &SL_RES_IMAGEDELIVERY, "team", "web");
    CHECK_STR_EQ(sl_kube_json_path_str(stored, "status.phase"), "client-set");

    CHECK_INT_EQ(ops.get(ops.ctx, &v1, &SL_RES_IMAGEDELIVERY, "team", "web", &err), 0);
    const char *rv1 = sl_kube_obj_resource_version(v1);

    /* update changing spec and status: spec taken, status kept, generation bumped */
    json_t *upd = json_deep_copy(v1);
    json_object_set_new(json_object_get(json_object_get(upd, "spec"), "source"), "image",
                        json_string("a:2"));
    json_object_set_new(json_object_get(upd, "status"), "phase", json_string("ignored"));
    CHECK_INT_EQ(ops.update(ops.ctx, &v2, &SL_RES_IMAGEDELIVERY, "team", upd, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(v2, "spec.source.image"), "a:2");
    CHECK_STR_EQ(sl_kube_json_path_str(v2, "status.phase"), "client-set");
    CHECK_INT_EQ(sl_kube_obj_generation(v2), 2);
    CHECK(strcmp(sl_kube_obj_resource_version(v2), rv1) != 0);

    /* the same update again is stale */
    CHECK_INT_EQ(ops.update(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", upd, &err), SL_ECONFLICT);
    CHECK_CONTAINS(err.msg, "the object has been modified");
    CHECK_INT_EQ(err.http_status, 409);
    CHECK_INT_EQ(ops.update_status(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", upd, &err),
                 SL_ECONFLICT);
    json_decref(upd);

    /* missing resourceVersion is invalid */
    json_t *norv = json_deep_copy(v2);
    json_object_del(json_object_get(norv, "metadata"), "resourceVersion");
    CHECK_INT_EQ(ops.update(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", norv, &err), SL_EINVAL);
    CHECK_CONTAINS(err.msg, "must be specified for an update");
    json_decref(norv);

    /* update_status changes only the status, generation unchanged */
    json_t *st = json_deep_copy(v2);
    json_object_set_new(json_object_get(st, "status"), "phase", json_string("Ready"));
    json_object_set_new(json_object_get(st, "spec"), "extra", json_true());
    CHECK_INT_EQ(ops.update_status(ops.ctx, &v3, &SL_RES_IMAGEDELIVERY, "team", st, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(v3, "status.phase"), "Ready");
    CHECK(sl_kube_json_path(v3, "spec.extra") == NULL);
    CHECK_INT_EQ(sl_kube_obj_generation(v3), 2);
    json_decref(st);

    /* a no-op update keeps the resourceVersion but still counts as a write */
    json_t *same = NULL;
    CHECK_INT_EQ(ops.update_status(ops.ctx, &same, &SL_RES_IMAGEDELIVERY, "team", v3, &err), 0);
    CHECK_STR_EQ(sl_kube_obj_resource_version(same), sl_kube_obj_resource_version(v3));
    json_decref(same);

    /* label-only change: no generation bump */
    json_t *lab = NULL, *labin = json_deep_copy(v3);
    json_object_set_new(json_object_get(json_object_get(labin, "metadata"), "labels"), "x",
                        json_string("y"));
    CHECK_INT_EQ(ops.update(ops.ctx, &lab, &SL_RES_IMAGEDELIVERY, "team", labin, &err), 0);
    CHECK_INT_EQ(sl_kube_obj_generation(lab), 2);
    json_decref(lab);
    json_decref(labin);

    CHECK_INT_EQ(sl_fake_kube_writes(fk), 4);
    json_t *log = sl_fake_kube_write_log(fk);
    CHECK_STR_EQ(json_string_value(json_array_get(log, 0)), "update imagedeliveries team/web");
    CHECK_STR_EQ(json_string_value(json_array_get(log, 1)),
                 "update_status imagedeliveries team/web");

    json_t *missing = delivery("team", "ghost", "x");
    json_object_set_new(json_object_get(missing, "metadata"), "resourceVersion", json_string("1"));
    CHECK_INT_EQ(ops.update(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", missing, &err),
                 SL_ENOTFOUND);
    json_decref(missing);

    json_decref(v1);
    json_decref(v2);
    json_decref(v3);
    sl_fake_kube_free(fk);
}

static void test_patch(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    struct sl_err err = {0};
    json_t *out = NULL;
    sl_fake_kube_ops(fk, &ops);
    json_t *seed = delivery("team", "web", "a:1");
    sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, seed);
    json_decref(seed);

    struct sl_kube_patch_opts merge = {.type = SL_PATCH_MERGE};
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web",
                           "{\"metadata\":{\"labels\":{\"app\":null,\"b\":\"2\"}},"
                           "\"spec\":{\"source\":{\"image\":\"a:3\"}},\"status\":{\"x\":1}}",
                           &merge, &err),
                 0);
    CHECK(sl_kube_json_path(out, "metadata.labels.app") == NULL);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "metadata.labels.b"), "2");
    CHECK_STR_EQ(sl_kube_json_path_str(out, "spec.source.image"), "a:3");
    CHECK(sl_kube_json_path(out, "status.x") == NULL); /* main endpoint ignores status */
    CHECK_INT_EQ(sl_kube_obj_generation(out), 2);
    json_decref(out);
    out = NULL;

    struct sl_kube_patch_opts mstatus = {.type = SL_PATCH_MERGE, .status = true};
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web",
                           "{\"status\":{\"x\":1},\"spec\":{\"source\":null}}", &mstatus, &err),
                 0);
    CHECK_INT_EQ(json_integer_value(sl_kube_json_path(out, "status.x")), 1);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "spec.source.image"), "a:3");
    json_decref(out);
    out = NULL;

    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web",
                           "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"a\":1}}", &merge,
                           &err),
                 SL_ECONFLICT);

    struct sl_kube_patch_opts jp = {.type = SL_PATCH_JSON};
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web",
                           "[{\"op\":\"test\",\"path\":\"/spec/source/image\",\"value\":\"a:3\"},"
                           "{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[\"f\"]},"
                           "{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\",\"value\":\"g\"}]",
                           &jp, &err),
                 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "spec.source.image"), "a:3");
    CHECK_INT_EQ(json_array_size(sl_kube_json_path(out, "metadata.finalizers")), 2);
    json_decref(out);
    out = NULL;
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "web",
                           "[{\"op\":\"test\",\"path\":\"/spec/source/image\",\"value\":\"zz\"}]",
                           &jp, &err),
                 SL_EINVAL);

    /* apply creates, then merges; needs a field manager */
    struct sl_kube_patch_opts apply = {.type = SL_PATCH_APPLY, .field_manager = "sealift"};
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}";
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_CONFIGMAP, "team", "pub", cm, &apply, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "data.k"), "v");
    CHECK_STR_EQ(sl_kube_obj_namespace(out), "team");
    json_decref(out);
    out = NULL;
    const char *cm2 = "{\"data\":{\"k2\":\"v2\"}}";
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_CONFIGMAP, "team", "pub", cm2, &apply, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "data.k"), "v");
    CHECK_STR_EQ(sl_kube_json_path_str(out, "data.k2"), "v2");
    json_decref(out);
    out = NULL;
    struct sl_kube_patch_opts nomgr = {.type = SL_PATCH_APPLY};
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_CONFIGMAP, "team", "pub", cm2, &nomgr, &err),
                 SL_EINVAL);
    CHECK_INT_EQ(ops.patch(ops.ctx, &out, &SL_RES_CONFIGMAP, "team", "nope", cm2, &merge, &err),
                 SL_ENOTFOUND);
    sl_fake_kube_free(fk);
}

static void test_delete_and_finalizers(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    struct sl_err err = {0};
    json_t *out = NULL;
    sl_fake_kube_ops(fk, &ops);
    json_t *a = delivery("team", "a", "x");
    json_object_set_new(json_object_get(a, "metadata"), "finalizers",
                        json_pack("[s]", "sealift.dev/cleanup"));
    sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, a);
    json_decref(a);
    json_t *b = delivery("team", "b", "x");
    sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, b);
    json_decref(b);

    CHECK_INT_EQ(ops.del(ops.ctx, &SL_RES_IMAGEDELIVERY, "team", "b", &err), 0);
    CHECK(sl_fake_kube_find(fk, &SL_RES_IMAGEDELIVERY, "team", "b") == NULL);
    CHECK_INT_EQ(ops.del(ops.ctx, &SL_RES_IMAGEDELIVERY, "team", "b", &err), SL_ENOTFOUND);

    CHECK_INT_EQ(ops.del(ops.ctx, &SL_RES_IMAGEDELIVERY, "team", "a", &err), 0);
    json_t *held = sl_fake_kube_find(fk, &SL_RES_IMAGEDELIVERY, "team", "a");
    CHECK(held != NULL);
    CHECK(sl_kube_json_path_str(held, "metadata.deletionTimestamp") != NULL);
    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "a", &err), 0);
    json_object_set_new(json_object_get(out, "metadata"), "finalizers", json_array());
    CHECK_INT_EQ(ops.update(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", out, &err), 0);
    CHECK(sl_fake_kube_find(fk, &SL_RES_IMAGEDELIVERY, "team", "a") == NULL);
    json_decref(out);
    sl_fake_kube_free(fk);
}

static void test_list_and_failures(void)
{
    struct sl_fake_kube *fk = sl_fake_kube_new();
    struct sl_kube_ops ops;
    struct sl_err err = {0};
    json_t *out = NULL;
    sl_fake_kube_ops(fk, &ops);
    const char *names[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++) {
        json_t *o = delivery(i == 2 ? "other" : "team", names[i], "x");
        if (i == 1)
            json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "app",
                                json_string("db"));
        sl_fake_kube_put(fk, &SL_RES_IMAGEDELIVERY, o);
        json_decref(o);
    }
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "", NULL, &err), 0);
    CHECK_STR_EQ(sl_kube_json_path_str(out, "kind"), "ImageDeliveryList");
    CHECK(sl_kube_json_path_str(out, "metadata.resourceVersion") != NULL);
    json_t *items = json_object_get(out, "items");
    CHECK_INT_EQ(json_array_size(items), 3);
    CHECK_STR_EQ(sl_kube_obj_name(json_array_get(items, 0)), "b"); /* "other" sorts first */
    CHECK_STR_EQ(sl_kube_obj_name(json_array_get(items, 1)), "a");
    json_decref(out);

    struct sl_kube_list_opts sel = {.label_selector = "app in (web, api)"};
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", &sel, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(out, "items")), 1);
    CHECK_STR_EQ(sl_kube_obj_name(json_array_get(json_object_get(out, "items"), 0)), "c");
    json_decref(out);
    struct sl_kube_list_opts sel2 = {.label_selector = "app!=web,!missing",
                                     .field_selector = "metadata.name=a"};
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, NULL, &sel2, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);

    /* pages of two: a, c then b */
    struct sl_kube_list_opts page = {.limit = 2};
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "", &page, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(out, "items")), 2);
    const char *cont = sl_kube_json_path_str(out, "metadata.continue");
    CHECK(cont != NULL);
    char token[32];
    snprintf(token, sizeof(token), "%s", cont ? cont : "");
    json_decref(out);
    page.continue_token = token;
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "", &page, &err), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(out, "items")), 1);
    CHECK_STR_EQ(sl_kube_obj_name(json_array_get(json_object_get(out, "items"), 0)), "c");
    CHECK(sl_kube_json_path(out, "metadata.continue") == NULL);
    json_decref(out);
    page.continue_token = "garbage";
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "", &page, &err), SL_EGONE);

    sl_fake_kube_fail_next(fk, SL_ERETRY);
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, NULL, NULL, &err), SL_ERETRY);
    CHECK_INT_EQ(err.http_status, 503);
    CHECK_INT_EQ(ops.list(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, NULL, NULL, &err), 0);
    json_decref(out);

    sl_fake_kube_fail_next_verb(fk, "update_status", SL_ECONFLICT);
    CHECK_INT_EQ(ops.get(ops.ctx, &out, &SL_RES_IMAGEDELIVERY, "team", "a", &err), 0);
    CHECK_INT_EQ(ops.update(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", out, &err), 0);
    CHECK_INT_EQ(ops.update_status(ops.ctx, NULL, &SL_RES_IMAGEDELIVERY, "team", out, &err),
                 SL_ECONFLICT);
    json_decref(out);
    CHECK_INT_EQ(sl_fake_kube_writes(fk), 1);
    sl_fake_kube_free(fk);
}

int main(void)
{
    RUN(test_create_get);
    RUN(test_update_semantics);
    RUN(test_patch);
    RUN(test_delete_and_finalizers);
    RUN(test_list_and_failures);
    return CHECK_EXIT();
}
