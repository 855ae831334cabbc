/* Pure helpers of the ImageDelivery reconciler (delivery.h). */
#include "imagedelivery/delivery.h"

#include "util/mem.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_imd_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int sl_imd_pattern_check(const char *pattern, struct sl_err *err)
{
    regex_t re;
    int rc = regcomp(&re, pattern ? pattern : "", REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &re, msg, sizeof(msg));
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid regular expression: %s", msg);
    }
    regfree(&re);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_imd_select_tags(char ***out, size_t *n_out, char *const *tags, size_t n, const char *pattern,
                       struct sl_err *err)
{
    regex_t re;
    int rc = regcomp(&re, pattern ? pattern : "", REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &re, msg, sizeof(msg));
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "invalid regular expression: %s", msg);
    }
    char **sel = sl_xcalloc(n ? n : 1, sizeof(*sel));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (tags[i] && regexec(&re, tags[i], 0, NULL, 0) == 0)
            sel[k++] = sl_xstrdup(tags[i]);
    }
    regfree(&re);
    qsort(sel, k, sizeof(*sel), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < k; i++) {
        if (w > 0 && strcmp(sel[w - 1], sel[i]) == 0) {
            free(sel[i]);
            continue;
        }
        sel[w++] = sel[i];
    }
    *out = sel;
    *n_out = w;
    return 0;
}

const char *sl_imd_reason_for_code(int code)
{
    switch (code) {
    case SL_ENOTFOUND:
        return "NotFound";
    case SL_EAUTH:
        return "AuthenticationFailed";
    case SL_ERETRY:
        return "RegistryUnavailable";
    case SL_EDIGEST:
        return "DigestMismatch";
    case SL_ECONFLICT:
        return "ImmutableTagConflict";
    case SL_EINVAL:
    case SL_EUNSUPPORTED:
        return "InvalidContent";
    case SL_ETOOBIG:
        return "ContentTooLarge";
    default:
        return "RegistryError";
    }
}

enum sl_result_kind sl_imd_kind_for_code(int code)
{
    switch (code) {
    case SL_ENOTFOUND:
        return SL_RESULT_WAITING;
    case SL_ECONFLICT:
    case SL_EINVAL:
    case SL_EUNSUPPORTED:
    case SL_ETOOBIG:
        return SL_RESULT_DONE;
    default:
        return SL_RESULT_TRANSIENT;
    }
}

static int kind_rank(enum sl_result_kind k)
{
    switch (k) {
    case SL_RESULT_TRANSIENT:
        return 4;
    case SL_RESULT_WAITING:
        return 3;
    case SL_RESULT_STALLED:
        return 2;
    case SL_RESULT_REQUEUE:
        return 1;
    default:
        return 0;
    }
}

enum sl_result_kind sl_imd_worse_kind(enum sl_result_kind a, enum sl_result_kind b)
{
    return kind_rank(b) > kind_rank(a) ? b : a;
}

static int scan_rank(const char *result)
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

/* True when the image entry is delivered to every one of n_targets targets. */
static bool image_delivered(const json_t *img, size_t n_targets)
{
    if (json_object_get(img, "message"))
        return false;
    const json_t *targets = json_object_get(img, "targets");
    if (!json_is_array(targets) || json_array_size(targets) != n_targets)
        return false;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        if (!json_string_value(json_object_get(t, "digest")))
            return false;
    }
    return true;
}

static bool image_signed_everywhere(const json_t *img)
{
    const json_t *targets = json_object_get(img, "targets");
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        if (!json_is_true(json_object_get(t, "signed")))
            return false;
    }
    return json_array_size(targets) > 0;
}

void sl_imd_summaries(json_t *status, size_t n_targets, bool scanning, bool signing)
{
    const json_t *images = json_object_get(status, "images");
    size_t delivered = 0, signed_n = 0;
    int worst = 0;
    const char *worst_name = NULL;
    size_t i;
    json_t *img;
    json_array_foreach(images, i, img)
    {
        bool ok = image_delivered(img, n_targets);
        if (ok) {
            delivered++;
            if (image_signed_everywhere(img))
                signed_n++;
        }
        const char *res =
            json_string_value(json_object_get(json_object_get(img, "scan"), "result"));
        if (scan_rank(res) > worst) {
            worst = scan_rank(res);
            worst_name = res;
        }
    }
    json_object_set_new(status, "deliveredTags", json_integer((json_int_t)delivered));
    json_object_set_new(status, "scanSummary",
                        json_string(scanning && worst_name ? worst_name : "-"));
    if (signing) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%zu/%zu", signed_n, delivered);
        json_object_set_new(status, "signedSummary", json_string(buf));
    } else {
        json_object_set_new(status, "signedSummary", json_string("-"));
    }
}
