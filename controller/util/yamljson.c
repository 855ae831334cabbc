#include "util/yamljson.h"
#include "util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Caps: a document may not expand (through aliases) to more nodes than this, nor nest deeper. */
#define YAML_MAX_NODES 1000000
#define YAML_MAX_DEPTH 200
#define YAML_MAX_INPUT ((size_t)16 << 20)
/* bounds of the key-line map of sl_yaml_parse_all_lines */
#define YAML_MAX_LINE_ENTRIES 10000
#define YAML_MAX_PATH         512
#define YAML_MAX_LINE_BYTES   ((size_t)4 << 20) /* paths recorded over a whole stream */

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

static json_t *scalar_to_json(const yaml_event_t *ev, bool text)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    /* an explicit !!null is null, an explicit !!str a string; otherwise plain scalars are
     * resolved and quoted ones are strings */
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && strcmp(tag, YAML_NULL_TAG) == 0)
        return json_null();
    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        return json_stringn(s, len);
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len)
        return json_stringn(s, len);
    if (text) /* only the plain null forms are resolved */
        return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ? json_null()
                                                                    : json_stringn(s, len);
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

/* The document is built from libyaml's events, not with yaml_parser_load: the loader builds the
 * whole node graph first (and takes minutes on a file of 100,000 nested "["), while here the
 * depth and node caps stop the parser at the first event beyond them. */

struct frame {
    json_t *value;   /* array or object being filled */
    char *key;       /* object: the key waiting for its value, or NULL */
    char *anchor;    /* anchor of this collection, or NULL */
    size_t nodes_at; /* node count when the collection started (for its anchor) */
    char *path;      /* its path when recording lines ("" for the root), or NULL */
};

struct anchor {
    char *name;
    json_t *value;
    size_t nodes; /* nodes the value expands to */
};

struct builder {
    struct frame stack[YAML_MAX_DEPTH];
    size_t depth;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes; /* over the whole stream, aliases expanded */
    json_t *root;
    size_t root_line;
    struct sl_err *err;
    json_t *lines;     /* path -> line of the current document, when recording (else NULL) */
    size_t line_bytes; /* bytes of the paths recorded over the stream */
    bool text;         /* plain scalars stay strings (sl_yaml_parse_one_text) */
};

static int event_error(struct builder *b, const yaml_event_t *ev, int code, const char *problem)
{
    return sl_err_set(b->err, code, SL_ERRC_YAML, "line %zu column %zu: %s",
                      (size_t)ev->start_mark.line + 1, (size_t)ev->start_mark.column + 1, problem);
}

static void builder_clear_document(struct builder *b)
{
    for (size_t i = 0; i < b->depth; i++) {
        json_decref(b->stack[i].value);
        free(b->stack[i].key);
        free(b->stack[i].anchor);
        free(b->stack[i].path);
    }
    b->depth = 0;
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    b->n_anchors = 0;
    json_decref(b->root);
    b->root = NULL;
    if (b->lines)
        json_object_clear(b->lines);
}

/* The path of the node that comes next in the top collection ("spec.rules",
 * "spec.outputs[0]"), or NULL when not recording lines, at the root, or past YAML_MAX_PATH. */
static char *next_path(const struct builder *b)
{
    if (!b->lines || b->depth == 0)
        return NULL;
    const struct frame *top = &b->stack[b->depth - 1];
    if (!top->path)
        return NULL;
    char *p = NULL;
    if (json_is_array(top->value))
        p = sl_xasprintf("%s[%zu]", top->path, json_array_size(top->value));
    else if (top->key)
        p = sl_xasprintf("%s%s%s", top->path, *top->path ? "." : "", top->key);
    if (p && strlen(p) > YAML_MAX_PATH) {
        free(p);
        p = NULL;
    }
    return p;
}

/* Notes the line of the next node of the top collection (the line of its key in a mapping). */
static void record_line(struct builder *b, size_t line)
{
    if (!b->lines || json_object_size(b->lines) >= YAML_MAX_LINE_ENTRIES)
        return;
    char *p = next_path(b);
    if (p && b->line_bytes + strlen(p) <= YAML_MAX_LINE_BYTES) {
        b->line_bytes += strlen(p);
        json_object_set_new(b->lines, p, json_integer((json_int_t)line));
    }
    free(p);
}

static void add_anchor(struct builder *b, const char *name, json_t *value, size_t nodes)
{
    if (b->n_anchors == b->cap_anchors) {
        b->cap_anchors = b->cap_anchors ? b->cap_anchors * 2 : 8;
        b->anchors = sl_xrealloc(b->anchors, b->cap_anchors * sizeof(*b->anchors));
    }
    b->anchors[b->n_anchors++] =
        (struct anchor){.name = sl_xstrdup(name), .value = json_incref(value), .nodes = nodes};
}

static const struct anchor *find_anchor(const struct builder *b, const char *name)
{
    /* the latest definition wins (YAML allows redefining an anchor) */
    for (size_t i = b->n_anchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return &b->anchors[i - 1];
    return NULL;
}

static int count_nodes(struct builder *b, const yaml_event_t *ev, size_t n)
{
    if (n > YAML_MAX_NODES || b->nodes > YAML_MAX_NODES - n)
        return event_error(b, ev, SL_ETOOBIG,
                           "document too large: more than 1000000 nodes (aliases expanded)");
    b->nodes += n;
    return 0;
}

/* Does the next node go into a mapping that waits for a key? */
static bool wants_key(const struct builder *b)
{
    return b->depth > 0 && json_is_object(b->stack[b->depth - 1].value) &&
           !b->stack[b->depth - 1].key;
}

/* Puts a finished node (value, owned) where it belongs. */
static int attach(struct builder *b, const yaml_event_t *ev, json_t *value, size_t line)
{
    if (b->depth == 0) {
        b->root = value;
        b->root_line = line;
        return 0;
    }
    struct frame *top = &b->stack[b->depth - 1];
    if (json_is_array(top->value)) {
        json_array_append_new(top->value, value);
        return 0;
    }
    int rc = 0;
    if (json_object_set_new(top->value, top->key, value) != 0)
        rc = event_error(b, ev, SL_EINVAL, "invalid mapping key");
    free(top->key);
    top->key = NULL;
    return rc;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    int rc = count_nodes(b, ev, 1);
    if (rc)
        return rc;
    if (wants_key(b)) {
        const char *s = (const char *)ev->data.scalar.value;
        if (strlen(s) != ev->data.scalar.length)
            return event_error(b, ev, SL_EINVAL, "invalid mapping key");
        b->stack[b->depth - 1].key = sl_xstrdup(s);
        record_line(b, (size_t)ev->start_mark.line + 1);
        return 0;
    }
    json_t *v = scalar_to_json(ev, b->text);
    if (!v)
        return event_error(b, ev, SL_EINVAL, "invalid UTF-8 in scalar");
    if (b->depth > 0 && json_is_array(b->stack[b->depth - 1].value))
        record_line(b, (size_t)ev->start_mark.line + 1);
    if (ev->data.scalar.anchor)
        add_anchor(b, (const char *)ev->data.scalar.anchor, v, 1);
    return attach(b, ev, v, (size_t)ev->start_mark.line + 1);
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, json_t *value,
                               const yaml_char_t *anchor)
{
    int rc = 0;
    if (wants_key(b))
        rc = event_error(b, ev, SL_EINVAL, "mapping keys must be scalars");
    else if (b->depth >= YAML_MAX_DEPTH)
        rc = event_error(b, ev, SL_ETOOBIG, "nested deeper than 200 levels");
    else
        rc = count_nodes(b, ev, 1);
    if (rc) {
        json_decref(value);
        return rc;
    }
    char *path = b->depth == 0 && b->lines ? sl_xstrdup("") : next_path(b);
    if (b->depth > 0 && json_is_array(b->stack[b->depth - 1].value))
        record_line(b, (size_t)ev->start_mark.line + 1);
    b->stack[b->depth++] =
        (struct frame){.value = value,
                       .anchor = anchor ? sl_xstrdup((const char *)anchor) : NULL,
                       .nodes_at = b->nodes - 1,
                       .path = path};
    return 0;
}

static int on_collection_end(struct builder *b, const yaml_event_t *ev)
{
    struct frame f = b->stack[--b->depth];
    free(f.key); /* libyaml pairs every key with a value; nothing is left here */
    free(f.path);
    if (f.anchor) {
        add_anchor(b, f.anchor, f.value, b->nodes - f.nodes_at);
        free(f.anchor);
    }
    /* a root collection keeps the line sl_yaml_parse_all noted at its start */
    return attach(b, ev, f.value, b->root_line);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    if (wants_key(b))
        return event_error(b, ev, SL_EINVAL, "mapping keys must be scalars");
    const struct anchor *a = find_anchor(b, (const char *)ev->data.alias.anchor);
    if (!a)
        return event_error(b, ev, SL_EINVAL, "alias names an unknown anchor");
    int rc = count_nodes(b, ev, a->nodes);
    if (rc)
        return rc;
    if (b->depth > 0 && json_is_array(b->stack[b->depth - 1].value))
        record_line(b, (size_t)ev->start_mark.line + 1);
    /* a copy, so that callers may change one place without changing the others */
    return attach(b, ev, json_deep_copy(a->value), (size_t)ev->start_mark.line + 1);
}

/* libyaml's marks count characters (a UTF-8 sequence is one, a leading byte order mark none);
 * this turns them into byte offsets, walking from the last answer (marks mostly grow). */
struct char_offsets {
    const char *data;
    size_t len;
    size_t base; /* bytes of a leading UTF-8 byte order mark */
    size_t ch, byte;
};

static void char_offsets_init(struct char_offsets *c, const char *data, size_t len)
{
    size_t bom = len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    *c = (struct char_offsets){.data = data, .len = len, .base = bom, .ch = 0, .byte = bom};
}

static size_t char_offset(struct char_offsets *c, size_t index)
{
    while (c->ch > index && c->byte > c->base) { /* back to the start of the previous one */
        c->byte--;
        while (c->byte > c->base && ((unsigned char)c->data[c->byte] & 0xC0) == 0x80)
            c->byte--;
        c->ch--;
    }
    while (c->ch < index && c->byte < c->len) {
        c->byte++;
        while (c->byte < c->len && ((unsigned char)c->data[c->byte] & 0xC0) == 0x80)
            c->byte++;
        c->ch++;
    }
    return c->byte;
}

/* Notes where the current document's text and root node lie (struct sl_yaml_span). */
static void track_span(struct sl_yaml_span *span, bool *in_node, struct char_offsets *c,
                       const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        *in_node = false;
        break;
    case YAML_DOCUMENT_END_EVENT:
        span->end = char_offset(c, ev->end_mark.index);
        if (!*in_node)
            span->node_start = span->node_end = span->end;
        break;
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_NO_EVENT:
        break;
    default: {
        if (!*in_node) {
            span->node_start = span->node_end = char_offset(c, ev->start_mark.index);
            *in_node = true;
        }
        /* block collections start and end with zero-width events at the next token: only
         * events that cover text (scalars, aliases, flow brackets, tags) end the content */
        if (ev->end_mark.index > ev->start_mark.index) {
            size_t e = char_offset(c, ev->end_mark.index);
            if (e > span->node_end)
                span->node_end = e;
        }
        break;
    }
    }
}

static int parse_all(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data, size_t len,
                     bool with_lines, bool text, struct sl_err *err)
{
    if (len > YAML_MAX_INPUT)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "YAML input larger than 16 MiB");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return sl_err_set(err, SL_EFAIL, SL_ERRC_YAML, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    struct builder *b = sl_xcalloc(1, sizeof(*b));
    b->err = err;
    b->lines = with_lines ? json_object() : NULL;
    b->text = text;
    struct sl_yaml_doc *docs = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    bool done = false;
    struct char_offsets offsets;
    char_offsets_init(&offsets, data, len);
    struct sl_yaml_span span = {0};
    bool in_node = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_YAML, "line %zu column %zu: %s%s%s",
                            (size_t)parser.problem_mark.line + 1,
                            (size_t)parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error",
                            parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        if (b->depth == 0 && !b->root)
            b->root_line = (size_t)ev.start_mark.line + 1; /* where the root node starts */
        track_span(&span, &in_node, &offsets, &ev);
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            builder_clear_document(b);
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (count == cap) {
                cap = cap ? cap * 2 : 4;
                docs = sl_xrealloc(docs, cap * sizeof(*docs));
            }
            /* "---" followed by nothing yields a null document: kept as a NULL value */
            if (json_is_null(b->root)) {
                json_decref(b->root);
                b->root = NULL;
            }
            docs[count].value = b->root;
            docs[count].line = b->root_line;
            docs[count].lines = b->lines ? json_deep_copy(b->lines) : NULL;
            docs[count].span = span;
            count++;
            span = (struct sl_yaml_span){.start = span.end};
            b->root = NULL;
            builder_clear_document(b);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_collection_start(b, &ev, json_array(), ev.data.sequence_start.anchor);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_collection_start(b, &ev, json_object(), ev.data.mapping_start.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_collection_end(b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(b, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    builder_clear_document(b);
    json_decref(b->lines);
    free(b->anchors);
    free(b);
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
    for (size_t i = 0; i < count; i++) {
        json_decref(docs[i].value);
        json_decref(docs[i].lines);
    }
    free(docs);
}

int sl_yaml_parse_all(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                      size_t len, struct sl_err *err)
{
    return parse_all(out_docs, out_count, data, len, false, false, err);
}

int sl_yaml_parse_all_lines(struct sl_yaml_doc **out_docs, size_t *out_count, const char *data,
                            size_t len, struct sl_err *err)
{
    return parse_all(out_docs, out_count, data, len, true, false, err);
}

size_t sl_yaml_doc_line(const struct sl_yaml_doc *doc, const char *path)
{
    char p[YAML_MAX_PATH + 1];
    if (!doc->lines || !path || strlen(path) > YAML_MAX_PATH)
        return doc->line;
    snprintf(p, sizeof(p), "%s", path);
    /* the field itself, else the nearest recorded ancestor ("a.b[2].c" -> "a.b[2]" -> "a.b") */
    for (;;) {
        json_int_t line = json_integer_value(json_object_get(doc->lines, p));
        if (line > 0)
            return (size_t)line;
        char *cut = strrchr(p, '.');
        char *bracket = strrchr(p, '[');
        if (bracket && (!cut || bracket > cut))
            cut = bracket;
        if (!cut)
            return doc->line;
        *cut = '\0';
    }
}

#define YAML_MAX_COMMENTS 100000

/* The scanner skips whitespace and comments between tokens, so a "#" between one token's end
 * and the next one's start begins a comment (one per line: the rest of the line is the comment). */
static void note_comments(size_t **list, size_t *count, size_t *cap, const char *data, size_t from,
                          size_t to)
{
    for (size_t i = from; i < to && *count < YAML_MAX_COMMENTS; i++) {
        if (data[i] != '#')
            continue;
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *list = sl_xrealloc(*list, *cap * sizeof(**list));
        }
        (*list)[(*count)++] = i;
        while (i < to && data[i] != '\n')
            i++;
    }
}

int sl_yaml_comments(size_t **out, size_t *out_count, const char *data, size_t len,
                     struct sl_err *err)
{
    if (len > YAML_MAX_INPUT)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_YAML, "YAML input larger than 16 MiB");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return sl_err_set(err, SL_EFAIL, SL_ERRC_YAML, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    struct char_offsets offsets;
    char_offsets_init(&offsets, data, len);
    size_t *list = NULL, count = 0, cap = 0, after_last = offsets.base;
    int rc = 0;
    for (;;) {
        yaml_token_t tok;
        if (!yaml_parser_scan(&parser, &tok)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_YAML, "line %zu column %zu: %s%s%s",
                            (size_t)parser.problem_mark.line + 1,
                            (size_t)parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error",
                            parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        size_t start = char_offset(&offsets, tok.start_mark.index);
        size_t end = char_offset(&offsets, tok.end_mark.index);
        bool last = tok.type == YAML_STREAM_END_TOKEN;
        yaml_token_delete(&tok);
        if (start > after_last)
            note_comments(&list, &count, &cap, data, after_last, start);
        if (end > after_last)
            after_last = end;
        if (last) {
            note_comments(&list, &count, &cap, data, after_last, len);
            break;
        }
    }
    yaml_parser_delete(&parser);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *out_count = count;
    return 0;
}

static int parse_one(json_t **out, const char *data, size_t len, bool text, struct sl_err *err)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    int rc = parse_all(&docs, &n, data, len, false, text, err);
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

int sl_yaml_parse_one(json_t **out, const char *data, size_t len, struct sl_err *err)
{
    return parse_one(out, data, len, false, err);
}

int sl_yaml_parse_one_text(json_t **out, const char *data, size_t len, struct sl_err *err)
{
    return parse_one(out, data, len, true, err);
}

/* ---- emitting ---- */

static int emit_write(void *ctx, unsigned char *buffer, size_t size)
{
    return sl_buf_append((struct sl_buf *)ctx, buffer, size) == 0;
}

/* Does s start like a YAML 1.1 timestamp ("2026-12-01", "2026-12-01T10:00:00Z")? Readers that
 * resolve those (PyYAML, Ruby's Psych) would read a date instead of the string. */
static int timestamp_plain(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return s[4] == '-' && isdigit((unsigned char)s[5]);
}

/* Would this string read back as something other than a string if written plain? */
static int needs_quotes(const char *s)
{
    int b;
    json_int_t i;
    double d;
    return is_null_plain(s) || bool_plain(s, &b) || int_plain(s, &i) || float_plain(s, &d) ||
           timestamp_plain(s) || !strcmp(s, "yes") || !strcmp(s, "no") || !strcmp(s, "on") ||
           !strcmp(s, "off") || !strcmp(s, "y") || !strcmp(s, "n") || !strcmp(s, "Yes") ||
           !strcmp(s, "No");
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
