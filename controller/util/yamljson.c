#include "util/yamljson.h"
#include "util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Caps: a document may not expand (through aliases) to more nodes than this, nor nest deeper. */
#define YAML_MAX_NODES 1000000
#define YAML_MAX_DEPTH 200
#define YAML_MAX_INPUT ((size_t)16 << 20)

struct conv {
    yaml_document_t *doc;
    size_t nodes;
    struct sl_err *err;
};

static int is_null_plain(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int bool_plain(const char *s, int *value)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *value = 1;
        return 1;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *value = 0;
        return 1;
    }
    return 0;
}

/* YAML 1.2 core schema integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. */
static int int_plain(const char *s, json_int_t *value)
{
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
        if (!*p)
            return 0;
    } else {
        if (*p == '-' || *p == '+')
            p++;
        if (!*p)
            return 0;
    }
    for (const char *q = p; *q; q++) {
        int ok = base == 16 ? isxdigit((unsigned char)*q)
                            : (base == 8 ? (*q >= '0' && *q <= '7') : isdigit((unsigned char)*q));
        if (!ok)
            return 0;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(base == 10 ? s : p, &end, base);
    if (errno || !end || *end)
        return 0;
    *value = (json_int_t)v;
    return 1;
}

static int float_plain(const char *s, double *value)
{
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? or .inf/.nan forms */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *value = (*s == '-') ? -INFINITY : INFINITY;
        return 1;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *value = NAN;
        return 1;
    }
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return 0;
    *value = strtod(s, NULL);
    return 1;
}

static json_t *scalar_to_json(const yaml_node_t *node)
{
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    /* libyaml gives untagged scalars the default str tag, so an explicit !!str cannot be told
     * apart: plain scalars are resolved, quoted ones are strings; an explicit !!null is null. */
    const char *tag = (const char *)node->tag;
    if (tag && strcmp(tag, YAML_NULL_TAG) == 0)
        return json_null();
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len)
        return json_stringn(s, len);
    int b;
    json_int_t i;
    double d;
    if (is_null_plain(s))
        return json_null();
    if (bool_plain(s, &b))
        return json_boolean(b);
    if (int_plain(s, &i))
        return json_integer(i);
    if (float_plain(s, &d) && isfinite(d))
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *node_to_json(struct conv *c, yaml_node_t *node, int depth)
{
    if (!node)
        return json_null();
    if (++c->nodes > YAML_MAX_NODES || depth > YAML_MAX_DEPTH) {
        sl_err_set(c->err, SL_ETOOBIG, SL_ERRC_YAML,
                   "document too large or too deeply nested (aliases expanded)");
        return NULL;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        json_t *v = scalar_to_json(node);
        if (!v)
            sl_err_set(c->err, SL_EINVAL, SL_ERRC_YAML, "line %zu: invalid UTF-8 in scalar",
                       (size_t)node->start_mark.line + 1);
        return v;
    }
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *v = node_to_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
            if (!v) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_t *obj = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                sl_err_set(c->err, SL_EINVAL, SL_ERRC_YAML,
                           "line %zu: mapping keys must be scalars",
                           k ? (size_t)k->start_mark.line + 1 : 0);
                json_decref(obj);
                return NULL;
            }
            char *key = sl_xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
            json_t *v = node_to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1);
            if (!v) {
                free(key);
                json_decref(obj);
                return NULL;
            }
            if (json_object_set_new(obj, key, v) != 0) {
                sl_err_set(c->err, SL_EINVAL, SL_ERRC_YAML, "line %zu: invalid mapping key",
                           (size_t)k->start_mark.line + 1);
                free(key);
                json_decref(obj);
                return NULL;
            }
            free(key);
        }
        return obj;
    }
    default:
        return json_null();
    }
}

int sl_yaml_parse_all(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                      size_t len, struct sl_err *err)
{
    if (len > YAML_MAX_INPUT)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "YAML input larger than 16 MiB");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return sl_err_set(err, SL_EFAIL, SL_ERRC_YAML, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    struct sl_yaml_doc *docs = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_YAML, "line %zu column %zu: %s%s%s",
                            (size_t)parser.problem_mark.line + 1,
                            (size_t)parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error",
                            parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            /* end of stream (an empty document at the end is also reported this way) */
            yaml_document_delete(&doc);
            break;
        }
        struct conv c = {.doc = &doc, .nodes = 0, .err = err};
        json_t *v = node_to_json(&c, root, 0);
        size_t line = (size_t)root->start_mark.line + 1;
        yaml_document_delete(&doc);
        if (!v) {
            rc = err && err->code ? err->code : SL_EINVAL;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 4;
            docs = sl_xrealloc(docs, cap * sizeof(*docs));
        }
        /* "---" followed by nothing yields a null document: keep it as NULL value */
        if (json_is_null(v)) {
            json_decref(v);
            v = NULL;
        }
        docs[count].value = v;
        docs[count].line = line;
        count++;
    }
    yaml_parser_delete(&parser);
    if (rc) {
        sl_yaml_docs_free(docs, count);
        return rc;
    }
    *out_docs = docs;
    *out_count = count;
    return 0;
}

void sl_yaml_docs_free(struct sl_yaml_doc *docs, size_t count)
{
    if (!docs)
        return;
    for (size_t i = 0; i < count; i++)
        json_decref(docs[i].value);
    free(docs);
}

int sl_yaml_parse_one(json_t **out, const char *data, size_t len, struct sl_err *err)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    int rc = sl_yaml_parse_all(&docs, &n, data, len, err);
    if (rc)
        return rc;
    if (n == 0 || !docs[0].value) {
        sl_yaml_docs_free(docs, n);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_YAML, "empty YAML document");
    }
    *out = json_incref(docs[0].value);
    sl_yaml_docs_free(docs, n);
    return 0;
}

/* ---- emitting ---- */

static int emit_write(void *ctx, unsigned char *buffer, size_t size)
{
    return sl_buf_append((struct sl_buf *)ctx, buffer, size) == 0;
}

/* Would this string read back as something other than a string if written plain? */
static int needs_quotes(const char *s)
{
    int b;
    json_int_t i;
    double d;
    return is_null_plain(s) || bool_plain(s, &b) || int_plain(s, &i) || float_plain(s, &d) ||
           !strcmp(s, "yes") || !strcmp(s, "no") || !strcmp(s, "on") || !strcmp(s, "off") ||
           !strcmp(s, "y") || !strcmp(s, "n") || !strcmp(s, "Yes") || !strcmp(s, "No");
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t len, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)s, (int)len,
                                 1, 1, style);
    return yaml_emitter_emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                            YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            if (!emit_scalar(em, key, strlen(key),
                             needs_quotes(key) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                               : YAML_ANY_SCALAR_STYLE))
                return 0;
            if (!emit_value(em, child))
                return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_ARRAY: {
        yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                             YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            if (!emit_value(em, child))
                return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
        if (memchr(s, '\n', len))
            style = YAML_LITERAL_SCALAR_STYLE;
        else if (needs_quotes(s))
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        return emit_scalar(em, s, len, style);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE:
        return emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    default:
        return emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
}

int sl_yaml_emit(struct sl_buf *out, const json_t *value, int with_separator, struct sl_err *err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return sl_err_set(err, SL_EFAIL, SL_ERRC_YAML, "cannot initialise the YAML emitter");
    yaml_emitter_set_output(&em, emit_write, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, 100);
    yaml_emitter_set_indent(&em, 2);
    int ok = 1;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !with_separator);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && emit_value(&em, value);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    int rc = 0;
    if (!ok)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_YAML, "cannot emit YAML: %s",
                        em.problem ? em.problem : "emitter error");
    yaml_emitter_delete(&em);
    return rc;
}
