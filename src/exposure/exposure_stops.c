/* exposure: the stops, from labels and the clustering (the rule of trace_stops_build: an
 * address's own heaviest label, else its entity's heaviest), as a sorted array the index keeps
 * and compares. */
#include <stdlib.h>

#include "../btc/btc.h"
#include "../util/util_hmap.h"
#include "../util/util_vec.h"
#include "exposure_int.h"

static long rank_of(const char *cat, const char *const *order, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cat, order[i])) return (long)i;
    return -1;
}

/* key -> the smallest rank put for it */
static int put_min(util_hmap *m, uint64_t key, uint64_t rank)
{
    uint64_t cur;
    if (util_hmap_get(m, key, &cur) && cur <= rank) return 0;
    return util_hmap_put(m, key, rank);
}

static int cmp_rstop(const void *pa, const void *pb)
{
    const expo_rstop *a = pa, *b = pb;
    return (a->addr > b->addr) - (a->addr < b->addr);
}

int expo_stops_compute(const store *s, const labels_db *labels, const cluster_map *clusters,
                       const char *const *order, size_t n_order, uint64_t addr_limit,
                       expo_rstop **out, size_t *n, util_err *err)
{
    *out = NULL, *n = 0;
    util_hmap own = {0}, ent = {0};
    expo_rstop *st = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    uint64_t n_addr = store_get_totals(s)->addresses;
    if (addr_limit > n_addr) addr_limit = n_addr;
    size_t nl = labels ? labels_db_count(labels) : 0;
    for (size_t i = 0; i < nl && !rc; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, "btc")) continue;
        long r = rank_of(l->category, order, n_order);
        if (r < 0) continue;
        btc_addr key;
        if (btc_addr_decode(&key, l->address, NULL)) continue;
        int64_t aid = store_find_addr(s, &key);
        if (aid < 0) continue;
        rc = put_min(&own, (uint64_t)aid, (uint64_t)r);
        if (!rc && clusters) {
            uint32_t e = cluster_entity_of(clusters, (uint32_t)aid);
            if (e != CLUSTER_NO_ENTITY) rc = put_min(&ent, e, (uint64_t)r);
        }
    }
    if (rc) goto nomem;
    if (ent.n) {
        /* Every address of a labelled entity: one pass over the clustered addresses. A pass
         * over every address (18M on the 10M-tx bench store) is what a label change costs here,
         * so the look-ups are cheap ones: the own labels as a sorted array walked with the
         * pass, the labelled entities as a bitmap, the hash map only on a hit. */
        size_t n_own = 0, oi = 0;
        expo_rstop *owns = malloc((own.n ? own.n : 1) * sizeof *owns);
        uint32_t emax = 0;
        for (size_t i = 0; i < ent.cap; i++)
            if (ent.used[i] && ent.keys[i] > emax) emax = (uint32_t)ent.keys[i];
        uint64_t *ebits = calloc(((size_t)emax >> 6) + 1, sizeof *ebits);
        if (!owns || !ebits) {
            free(owns);
            free(ebits);
            goto nomem;
        }
        for (size_t i = 0; i < own.cap; i++)
            if (own.used[i])
                owns[n_own++] = (expo_rstop){(uint32_t)own.keys[i], (uint32_t)own.vals[i]};
        if (n_own > 1) qsort(owns, n_own, sizeof *owns, cmp_rstop);
        for (size_t i = 0; i < ent.cap; i++)
            if (ent.used[i]) ebits[ent.keys[i] >> 6] |= (uint64_t)1 << (ent.keys[i] & 63);
        uint64_t lim = cluster_map_addresses(clusters);
        if (lim > addr_limit) lim = addr_limit;
        for (uint64_t a = 0; a < addr_limit; a++) {
            uint64_t r = 0;
            int hit = 0;
            while (oi < n_own && owns[oi].addr < a)
                oi++;
            if (oi < n_own && owns[oi].addr == a) {
                hit = 1, r = owns[oi].rank;
            } else if (a < lim) {
                uint32_t e = cluster_entity_of(clusters, (uint32_t)a);
                hit = e != CLUSTER_NO_ENTITY && e <= emax && (ebits[e >> 6] >> (e & 63) & 1) &&
                      util_hmap_get(&ent, e, &r);
            }
            if (!hit) continue;
            if (util_grow((void **)&st, &cap, cnt + 1, sizeof *st, 1024, SIZE_MAX)) {
                free(owns);
                free(ebits);
                goto nomem;
            }
            st[cnt++] = (expo_rstop){(uint32_t)a, (uint32_t)r};
        }
        free(owns);
        free(ebits);
    } else {
        for (size_t i = 0; i < own.cap; i++) {
            if (!own.used[i] || own.keys[i] >= addr_limit) continue;
            if (util_grow((void **)&st, &cap, cnt + 1, sizeof *st, 1024, SIZE_MAX)) goto nomem;
            st[cnt++] = (expo_rstop){(uint32_t)own.keys[i], (uint32_t)own.vals[i]};
        }
        if (cnt > 1) qsort(st, cnt, sizeof *st, cmp_rstop);
    }
    util_hmap_free(&own);
    util_hmap_free(&ent);
    *out = st, *n = cnt;
    return 0;
nomem:
    util_hmap_free(&own);
    util_hmap_free(&ent);
    free(st);
    return util_errf(err, UTIL_ENOMEM, "out of memory for the stops");
}
