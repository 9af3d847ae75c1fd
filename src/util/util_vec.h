/* util_vec: growable arrays without a container type. The caller keeps its own pointer and
 * capacity fields (size_t or uint32_t) beside its count, and util_grow makes room; elements
 * past the count are uninitialised. Also util_cmp_u64, the qsort comparator for uint64_t. */
#ifndef CT_UTIL_VEC_H
#define CT_UTIL_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

/* Make *arr (capacity *cap elements of elem bytes, owned by the caller, realloc'd) hold at
 * least want elements. The capacity starts at first and doubles, clamped to max. 0, or
 * UTIL_ENOMEM when want > max or realloc fails; on failure *arr and *cap are unchanged. */
static inline int util_grow(void **arr, size_t *cap, size_t want, size_t elem, size_t first,
                            size_t max)
{
    if (want <= *cap) return 0;
    if (!elem) return UTIL_ENOMEM;
    if (max > SIZE_MAX / elem) max = SIZE_MAX / elem; /* no more than the address space */
    if (want > max) return UTIL_ENOMEM;
    size_t nc = *cap ? *cap : first ? first : 1;
    while (nc < want)
        nc = nc > max / 2 ? max : nc * 2;
    void *p = realloc(*arr, nc * elem);
    if (!p) return UTIL_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* util_grow for a uint32_t capacity (max at most UINT32_MAX). */
static inline int util_grow_u32(void **arr, uint32_t *cap, uint64_t want, size_t elem,
                                uint32_t first, uint32_t max)
{
    size_t c = *cap;
    if (want > max) return UTIL_ENOMEM;
    int rc = util_grow(arr, &c, (size_t)want, elem, first, max);
    if (!rc) *cap = (uint32_t)c;
    return rc;
}

/* qsort comparator: ascending uint64_t. */
static inline int util_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#endif
