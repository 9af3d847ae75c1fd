/* util_hmap: an open-addressing hash map from a 64-bit key to a 64-bit value (linear probing,
 * deletion by backward shift, so no tombstones; at most 1/2 full). After libgit2's hashmap
 * idea: one small table, typed by use. A key is either an integer mixed with util_mix64 or
 * the hash of some bytes (util_hash_bytes); for byte keys the value is the caller's index of
 * its own copy of the bytes, several entries may share a key (util_hmap_add), and the caller
 * walks them with util_hmap_first / util_hmap_next and compares the bytes itself.
 * Keys are stored as given; the slot is chosen from util_mix64(key), so sequential integers
 * spread well. The map owns its arrays: util_hmap_free them. Not thread-safe for writers. */
#ifndef CT_UTIL_HMAP_H
#define CT_UTIL_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct util_hmap {
    uint64_t *keys, *vals;
    uint8_t *used; /* 1 per occupied slot */
    size_t cap;    /* slots, a power of two (0 before the first insert) */
    size_t n;      /* entries */
} util_hmap;

/* A 64-bit finaliser (splitmix64's): every input bit affects every output bit. */
static inline uint64_t util_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A 64-bit hash of n bytes (FNV-1a folded through util_mix64). */
uint64_t util_hash_bytes(const void *p, size_t n);

/* Empty map with room for expect entries before it grows. 0 or UTIL_ENOMEM. */
int util_hmap_init(util_hmap *m, size_t expect);
void util_hmap_free(util_hmap *m);
/* Set key to val (replacing a value the key has). 0 or UTIL_ENOMEM. */
int util_hmap_put(util_hmap *m, uint64_t key, uint64_t val);
/* Add an entry even if the key has one (byte keys whose hashes collide). 0 or UTIL_ENOMEM. */
int util_hmap_add(util_hmap *m, uint64_t key, uint64_t val);
/* 1 and *val (may be NULL) if key is present, else 0. */
int util_hmap_get(const util_hmap *m, uint64_t key, uint64_t *val);
/* Remove one entry of key; 1 if there was one. Slots returned by first/next are invalid
 * after a removal or an insert. */
int util_hmap_del(util_hmap *m, uint64_t key);
/* The slot of the first entry of key, or SIZE_MAX; its value is m->vals[slot]. */
size_t util_hmap_first(const util_hmap *m, uint64_t key);
/* The slot of the next entry of key after slot, or SIZE_MAX. */
size_t util_hmap_next(const util_hmap *m, uint64_t key, size_t slot);

#endif
