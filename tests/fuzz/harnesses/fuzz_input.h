/* The libFuzzer harnesses of parsers that take NUL-terminated text: the input as such text. */
#ifndef SL_FUZZ_INPUT_H
#define SL_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[0..size) copied into a NUL-terminated string (a NUL inside the input ends the text there,
 * as it would for the parser's caller). Caller frees; NULL when out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}

#endif
