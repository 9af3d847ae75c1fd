/* A tiny assertion harness for test programs: each CHECK counts, a failure prints where. */
#ifndef CT_TEST_CHECK_H
#define CT_TEST_CHECK_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_failures, check_count;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        check_count++;                                                                             \
        if (strcmp((a), (b)) != 0) {                                                               \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__, (a), (b));                \
        }                                                                                          \
    } while (0)
#define CHECK_DONE()                                                                               \
    (printf("%d checks, %d failed\n", check_count, check_failures), check_failures ? 1 : 0)
/* Hex to bytes; returns the byte count (tests pass only well-formed hex). */
static inline size_t unhex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}
#endif
