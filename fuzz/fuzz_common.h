/* What every fuzz target shares: an invariant check that crashes (so libFuzzer keeps the
 * input) with the condition named. */
#ifndef CT_FUZZ_COMMON_H
#define CT_FUZZ_COMMON_H
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
