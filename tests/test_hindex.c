/* test_hindex: the hash index built in slot order (store_hindex_fill_sorted, what a bulk import
 * and every rebuild use) against the table that inserting the keys one by one in id order gives,
 * the way the store's incremental path grows it: linear probing from the home slot, a key equal
 * to an earlier one repointing that one's entry. The reference insertion is written out here
 * (colstore_ix_slot_for with the store's policy), and the two tables are compared byte for byte,
 * with the occupancy and the repointings reported in id order. Keys are drawn at random with
 * forced home-slot collisions, full 64-bit hash collisions between different keys, duplicate
 * keys (BIP 30 txids), clusters that wrap past the table end, tiny to large tables, nearly full
 * tables, and memory budgets small enough to split the build into many partitions. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store/store_int.h"

typedef struct keys {
    uint64_t *key; /* the key of each row: equal values are equal keys */
    uint64_t cap;
    int mode;
    uint64_t homes[8]; /* forced home slots (mode 1) */
} keys;

/* A repointing, as reported. */
typedef struct event {
    uint64_t slot, old;
} event;
typedef struct events {
    event *e;
    size_t n, cap;
} events;

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint64_t rng(void)
{
    rng_state += 0x9e3779b97f4a7c15ULL;
    return store_mix64(rng_state);
}

/* The hash of a key value: a function of the key only, so equal keys hash alike. */
static uint64_t key_hash(const keys *k, uint64_t v)
{
    uint64_t h = store_mix64(v ^ 0x51ed270b27ULL);
    switch (k->mode) {
    case 1: /* most keys on a few home slots, two of them at the table end */
        if (h % 4 != 0) h = (h & ~(k->cap - 1)) | k->homes[(h >> 8) % 8];
        break;
    case 2: /* only 64 distinct hashes: different keys with the same hash and fingerprint */
        h = store_mix64(v % 64);
        break;
    case 3: /* everything on one slot near the end: one cluster around the whole table */
        h = (h & ~(k->cap - 1)) | (k->cap - 2);
        break;
    case 4: /* at random, but one key in 200 on the last 64 slots: a cluster wraps among others */
        if (h % 200 == 0) h = (h & ~(k->cap - 1)) | ((k->cap - 1 - (h >> 8) % 64) & (k->cap - 1));
        break;
    case 5: /* one key in 3 just below the start of one of the build's 512 buckets (the
             * partitions' boundaries): clusters run across them */
        if (h % 3 == 0) {
            uint64_t bucket = k->cap > 512 ? k->cap / 512 : 1;
            uint64_t start = ((h >> 8) % 512) * bucket;
            h = (h & ~(k->cap - 1)) | ((start - 1 - (h >> 20) % 4) & (k->cap - 1));
        }
        break;
    }
    return h;
}

static uint64_t cb_hash(const void *ctx, uint64_t id)
{
    const keys *k = ctx;
    return key_hash(k, k->key[id]);
}

static int cb_same(const void *ctx, uint64_t a, uint64_t b)
{
    const keys *k = ctx;
    return k->key[a] == k->key[b];
}

static events *sink;

/* The progress reports of one build, checked as they come against the reference table: rows
 * reported hashed grow within a pass up to n; slots reported done grow, and are the
 * reference's already, but for the run of slots from 0 that a cluster wrapping past the end
 * rewrites at the end. */
typedef struct progress {
    const uint64_t *want, *got;
    uint64_t cap, n, head; /* head: that run's length in the reference */
    uint64_t rows, slots, passes;
    int bad;
} progress;
static progress *prog;
static void cb_done(const void *ctx, int what, uint64_t upto)
{
    (void)ctx;
    progress *p = prog;
    if (what == STORE_HINDEX_ROWS) {
        if (upto < p->rows) p->bad |= p->rows != p->n; /* a new pass after a whole one */
        if (upto > p->n) p->bad |= 2;
        if (upto == p->n) p->passes++;
        p->rows = upto;
        return;
    }
    if (upto < p->slots || upto > p->cap) p->bad |= 4;
    for (uint64_t i = p->slots > p->head ? p->slots : p->head; i < upto; i++)
        if (p->got[i] != p->want[i]) p->bad |= 8;
    p->slots = upto;
}
static void cb_repoint(const void *ctx, uint64_t slot, uint64_t old)
{
    (void)ctx;
    if (sink->n == sink->cap) {
        sink->cap = sink->cap ? sink->cap * 2 : 16;
        sink->e = realloc(sink->e, sink->cap * sizeof *sink->e);
    }
    sink->e[sink->n++] = (event){slot, old};
}

typedef struct match_ctx {
    const keys *k;
    uint64_t v;
} match_ctx;
static int ref_match(const void *ctx, uint64_t id)
{
    const match_ctx *m = ctx;
    return m->k->key[id] == m->v;
}

/* The reference: insert rows 0..n-1 in id order. */
static uint64_t ref_build(uint64_t *slots, const keys *k, uint64_t n, events *ev)
{
    uint64_t used = 0;
    for (uint64_t id = 0; id < n; id++) {
        uint64_t h = key_hash(k, k->key[id]);
        match_ctx m = {k, k->key[id]};
        uint64_t i =
            colstore_ix_slot_for(slots, k->cap, h, id, COLSTORE_IX_STALE_FREE, ref_match, &m);
        if (slots[i] == 0) {
            used++;
        } else {
            sink = ev;
            cb_repoint(NULL, i, slots[i]);
        }
        slots[i] = colstore_ix_entry(h, id);
    }
    return used;
}

/* n rows on a table of cap slots: keys at random, dup_pct percent of them repeating an earlier
 * row's key; built both ways under each budget, compared. */
static void one(uint64_t cap, uint64_t n, int mode, unsigned dup_pct)
{
    keys k = {.key = malloc((n ? n : 1) * sizeof(uint64_t)), .cap = cap, .mode = mode};
    for (int i = 0; i < 8; i++)
        k.homes[i] = i < 2 ? cap - 1 - (uint64_t)i * 3 % cap : rng() & (cap - 1);
    for (uint64_t id = 0; id < n; id++)
        k.key[id] = id && rng() % 100 < dup_pct ? k.key[rng() % id] : rng();
    uint64_t *want = calloc(cap, 8), *got = calloc(cap, 8);
    events ev_want = {0}, ev_got = {0};
    uint64_t used_want = ref_build(want, &k, n, &ev_want);
    uint64_t head = 0; /* the reference's run of slots from 0 that a wrapping cluster reaches */
    if (cap && want[cap - 1])
        while (head < cap && want[head])
            head++;
    /* no limit; three partitions; fifty; a partition per bucket (one pass over the keys each:
     * small tables only); without, then with the progress reports */
    size_t budgets[] = {0, 16 * (size_t)(n / 3 + 1), 16 * (size_t)(n / 50 + 1), 16 * 64};
    for (size_t b = 0; b < (cap <= 1 << 16 ? 8u : 6u); b++) {
        int report = b % 2;
        store_hindex_keys cb = {cb_hash, cb_same, cb_repoint, report ? cb_done : NULL, &k};
        memset(got, 0, cap * 8);
        ev_got.n = 0;
        sink = &ev_got;
        progress pr = {want, got, cap, n, head, 0, 0, 0, 0};
        prog = &pr;
        uint64_t used = 0;
        util_err err = {0};
        int rc = store_hindex_fill_sorted(got, cap, n, &cb, budgets[b / 2], &used, &err);
        CHECK(rc == 0);
        /* every pass reported whole, and the table at the end */
        CHECK(!report || (pr.bad == 0 && pr.passes >= 1 && pr.slots == cap));
        if (report && pr.bad)
            fprintf(stderr, "  progress: bad %d passes %llu slots %llu\n", pr.bad,
                    (unsigned long long)pr.passes, (unsigned long long)pr.slots);
        int same = memcmp(want, got, cap * 8) == 0;
        CHECK(same);
        CHECK(used == used_want);
        CHECK(ev_got.n == ev_want.n &&
              (ev_got.n == 0 || memcmp(ev_got.e, ev_want.e, ev_got.n * sizeof(event)) == 0));
        if (!same || used != used_want)
            fprintf(stderr, "  cap %llu n %llu mode %d dups %u%% budget %zu\n",
                    (unsigned long long)cap, (unsigned long long)n, mode, dup_pct, budgets[b / 2]);
    }
    free(k.key);
    free(want);
    free(got);
    free(ev_want.e);
    free(ev_got.e);
}

int main(void)
{
    /* tiny tables, every load up to full but one slot, every key mode */
    for (uint64_t cap = 1; cap <= 256; cap *= 2)
        for (uint64_t n = 0; n < cap; n += 1 + n / 4)
            for (int mode = 0; mode < 6; mode++)
                for (unsigned d = 0; d <= 30; d += 15)
                    for (int rep = 0; rep < 4; rep++)
                        one(cap, n, mode, d);
    /* the store's sizes: store_hindex_cap_for's minimum and more, at its loads (3/8 to 3/4) */
    for (uint64_t cap = 1 << 16; cap <= 1 << 20; cap *= 4) {
        CHECK(store_hindex_cap_for(cap * 3 / 4) == cap &&
              store_hindex_cap_for(cap * 3 / 8 + 1) == cap);
        for (int mode = 0; mode < 6; mode++) {
            /* modes 1 to 3 make huge clusters, which the reference probes quadratically */
            int spread = mode == 0 || mode == 4 || mode == 5;
            uint64_t n = spread ? cap * 3 / 4 : 3000;
            one(cap, n, mode, 2);
            one(cap, spread ? cap * 3 / 8 + 1 : 1000, mode, 0);
        }
    }
    /* a larger table: 128 buckets of 2^14 slots */
    one((uint64_t)1 << 21, 1500000, 0, 1);
    /* more keys than slots is refused */
    uint64_t slots[4] = {0}, used;
    keys k = {.key = (uint64_t[5]){1, 2, 3, 4, 5}, .cap = 4};
    store_hindex_keys cb = {cb_hash, cb_same, NULL, NULL, &k};
    util_err err = {0};
    CHECK(store_hindex_fill_sorted(slots, 4, 4, &cb, 0, &used, &err) != 0);
    return CHECK_DONE();
}
