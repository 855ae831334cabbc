/* Unit tests of the string-keyed hash map (util/strmap.h). */
#include "util/strmap.h"

#include "../check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_put_get_replace_remove(void)
{
    struct sl_strmap m;
    sl_strmap_init(&m);
    bool found = true;
    CHECK(sl_strmap_get(&m, "a", &found) == NULL);
    CHECK(!found);
    CHECK(sl_strmap_put(&m, "a", (void *)1) == NULL);
    CHECK(sl_strmap_put(&m, "b", NULL) == NULL);
    CHECK(sl_strmap_get(&m, "a", NULL) == (void *)1);
    /* a stored NULL is told apart from absence */
    CHECK(sl_strmap_get(&m, "b", &found) == NULL);
    CHECK(found);
    CHECK(sl_strmap_put(&m, "a", (void *)2) == (void *)1);
    CHECK_INT_EQ(sl_strmap_count(&m), 2);
    CHECK(sl_strmap_remove(&m, "a", &found) == (void *)2);
    CHECK(found);
    CHECK(sl_strmap_remove(&m, "a", &found) == NULL);
    CHECK(!found);
    CHECK_INT_EQ(sl_strmap_count(&m), 1);
    /* the empty key is a key like any other */
    sl_strmap_put(&m, "", (void *)3);
    CHECK(sl_strmap_get(&m, "", NULL) == (void *)3);
    sl_strmap_clear(&m, NULL);
    CHECK_INT_EQ(sl_strmap_count(&m), 0);
    CHECK(sl_strmap_get(&m, "b", &found) == NULL);
    CHECK(!found);
}

static bool drop_odd(void *ctx, const char *key, void *value)
{
    (void)key;
    (*(int *)ctx)++;
    return ((uintptr_t)value & 1) != 0;
}

static void test_growth_each_and_clear(void)
{
    struct sl_strmap m;
    sl_strmap_init(&m);
    char key[32];
    for (uintptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns-%lu/name", (unsigned long)i);
        CHECK(sl_strmap_put(&m, key, (void *)i) == NULL);
    }
    CHECK_INT_EQ(sl_strmap_count(&m), 5000);
    int visited = 0;
    sl_strmap_each(&m, drop_odd, &visited);
    CHECK_INT_EQ(visited, 5000);
    CHECK_INT_EQ(sl_strmap_count(&m), 2500);
    for (uintptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns-%lu/name", (unsigned long)i);
        bool found;
        void *v = sl_strmap_get(&m, key, &found);
        CHECK(found == (i % 2 == 0));
        CHECK(v == (found ? (void *)i : NULL));
    }
    sl_strmap_clear(&m, NULL);

    /* clear hands every value to free_value (ASan reports any leak) */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        sl_strmap_put(&m, key, strdup(key));
    }
    sl_strmap_clear(&m, free);
    CHECK_INT_EQ(sl_strmap_count(&m), 0);
    /* usable again after clear */
    sl_strmap_put(&m, "again", (void *)1);
    CHECK(sl_strmap_get(&m, "again", NULL) == (void *)1);
    sl_strmap_clear(&m, NULL);
}

int main(void)
{
    RUN(test_put_get_replace_remove);
    RUN(test_growth_each_and_clear);
    return CHECK_EXIT();
}
