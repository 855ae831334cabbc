/* libFuzzer harness: GitSource spec.ignore (gitignore patterns, git/ignore.c). The input is the
 * pattern text; its lines are also matched as paths, with a few fixed ones. */
#include "fuzz_input.h"
#include "git/ignore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    struct sl_git_ignore *ig = NULL;
    struct sl_err err = {0};
    if (sl_git_ignore_parse(&ig, text, &err) == 0) {
        static const char *const fixed[] = {"a.yaml", "deploy/a.yaml", "a/b/c/d/e.yml",
                                            "deploy/more/b.draft.yaml"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
            sl_git_ignore_file(ig, fixed[i]);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            sl_git_ignore_file(ig, line);
        sl_git_ignore_free(ig);
    }
    free(text);
    return 0;
}
