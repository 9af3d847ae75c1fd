/* evmexpo: the EVM exposure index, its files and its update (evmexpo.h has the rule).
 *
 * Files in DIR/evm/<chain>/exposure/: rows.R.col (append-only transfer rows, 48 bytes each, in
 * transfer order), state.G (every (address, asset) record and the drops, sorted; rewritten at
 * each commit: its size follows the addresses that ever received exposure, not the chain),
 * stops.G (the stops state G was computed with) and MANIFEST (JSON, replaced atomically: the
 * commit). A writer killed at any moment leaves the last MANIFEST; the next writer cuts the rows
 * file back to it and deletes files it does not name, and the update is deterministic, so a rerun
 * gives the same bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../etrace/etrace.h"
#include "../exposure/exposure.h"
#include "../util/util_vec.h"
#include "evmexpo_int.h"

int ex_manifest_path(char *buf, size_t n, const char *db, const char *chain, const char *name)
{
    int k = snprintf(buf, n, "%s/evm/%s/" EVMEXPO_SUBDIR "%s%s", db, chain, name ? "/" : "",
                     name ? name : "");
    return k < 0 || (size_t)k >= n ? UTIL_EINVAL : 0;
}

/* ---- stops ---- */

static int cmp_stop(const void *pa, const void *pb)
{
    const ex_stop *a = pa, *b = pb;
    int c = memcmp(a->addr, b->addr, 20);
    return c ? c : (a->cat > b->cat) - (a->cat < b->cat);
}

void ex_stops_free(ex_stops *st)
{
    free(st->v);
    free(st->cats);
    free(st->tracked);
    memset(st, 0, sizeof *st);
}

int ex_stops_compute(const labels_db *labels, const char *chain, uint64_t floor_native,
                     uint64_t floor_token, ex_stops *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    risk_config cfg;
    risk_config_default(&cfg);
    char **order = NULL;
    size_t n_order = 0;
    int rc = 0;
    if (labels && (rc = risk_stop_categories(labels, &cfg, &order, &n_order, err))) return rc;
    size_t nl = labels ? labels_db_count(labels) : 0, cap = 0;
    /* rank by the order first (heaviest first), keep each address's heaviest */
    for (size_t i = 0; i < nl && !rc; i++) {
        const labels_label *l = labels_db_get(labels, i);
        if (strcmp(l->chain, chain)) continue;
        uint8_t a[20];
        if (evm_addr_parse(a, l->address, strlen(l->address), NULL)) continue;
        uint32_t rank = 0;
        while (rank < n_order && strcmp(order[rank], l->category))
            rank++;
        if (rank == n_order) continue;
        if (util_grow((void **)&out->v, &cap, out->n + 1, sizeof *out->v, 64, SIZE_MAX)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        memcpy(out->v[out->n].addr, a, 20);
        out->v[out->n++].cat = rank;
    }
    if (!rc && out->n) qsort(out->v, out->n, sizeof *out->v, cmp_stop);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) /* sorted by (addr, rank): the first is the heaviest */
        if (!k || memcmp(out->v[k - 1].addr, out->v[i].addr, 20)) out->v[k++] = out->v[i];
    out->n = k;
    /* the category table: the stops' categories by name; ids are positions */
    if (!rc && n_order) {
        out->cats = calloc(n_order, sizeof *out->cats);
        out->tracked = calloc(n_order, sizeof *out->tracked);
        if (!out->cats || !out->tracked) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    int *used = rc ? NULL : calloc(n_order + 1, sizeof *used);
    if (!rc && !used) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < out->n; i++)
        used[out->v[i].cat] = 1;
    for (size_t r = 0; !rc && r < n_order; r++)
        if (used[r]) snprintf(out->cats[out->n_cats++], 64, "%s", order[r]);
    if (!rc && out->n_cats)
        qsort(out->cats, out->n_cats, sizeof *out->cats,
              (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; !rc && i < out->n; i++) {
        const char *name = order[out->v[i].cat];
        uint32_t c = 0;
        while (strcmp(out->cats[c], name))
            c++;
        out->v[i].cat = c;
    }
    for (size_t c = 0; !rc && c < out->n_cats; c++)
        out->tracked[c] = exposure_category_tracked(out->cats[c]);
    if (!rc && out->n_cats > EVMEXPO_MAX_CATS)
        rc = util_errf(err, UTIL_EINVAL, "more than %d stop categories", EVMEXPO_MAX_CATS);
    /* the hash: what the index was built from */
    if (!rc) {
        util_buf b = {0};
        char f[64];
        snprintf(f, sizeof f, "%" PRIu64 ",%" PRIu64 ";", floor_native, floor_token);
        rc = util_buf_append(&b, f, strlen(f));
        for (size_t i = 0; !rc && i < out->n; i++)
            if ((rc = util_buf_append(&b, out->v[i].addr, 20)) ||
                (rc = util_buf_append(&b, out->cats[out->v[i].cat],
                                      strlen(out->cats[out->v[i].cat]) + 1)))
                break;
        if (rc)
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        else
            out->hash = util_hash_bytes(b.data, b.len);
        util_buf_free(&b);
    }
    free(used);
    risk_categories_free(order, n_order);
    if (rc) ex_stops_free(out);
    return rc;
}

int ex_stops_map(const ex_stops *st, const evm_store *s, util_hmap *m, util_err *err)
{
    if (util_hmap_init(m, st->n * 2 + 8)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < st->n; i++) {
        uint32_t id;
        if (evm_store_find_addr(s, st->v[i].addr, &id, NULL)) continue;
        if (util_hmap_put(m, id, st->v[i].cat)) return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- manifest ---- */

static void hex32(char out[65], const uint8_t h[32])
{
    util_hex(out, h, 32);
}

static int unhex32(uint8_t out[32], const char *s)
{
    if (!s || strlen(s) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static uint64_t jnum(json_t *o, const char *k, int *bad)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) {
        *bad = 1;
        return 0;
    }
    char *e;
    errno = 0;
    unsigned long long x = strtoull(json_string_value(v), &e, 10);
    if (*e || errno) *bad = 1;
    return x;
}

/* Read the manifest into ix (its fields only). UTIL_ENOTFOUND when none. */
static int manifest_read(const char *path, evmexpo_index *ix, util_err *err)
{
    struct stat st;
    if (stat(path, &st)) return util_errf(err, UTIL_ENOTFOUND, "%s: no EVM exposure index", path);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m)
        return util_errf(err, UTIL_ECORRUPT,
                         "%s: line %d: %s (rebuild: cointrail evm-exposure "
                         "build --rebuild)",
                         path, je.line, je.text);
    int bad = 0;
    json_t *fmt = json_object_get(m, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "cointrail-evm-exposure") ||
        json_integer_value(json_object_get(m, "version")) != EVMEXPO_FORMAT_VERSION)
        bad = 1;
    ix->gen = jnum(m, "gen", &bad);
    ix->rows_gen = jnum(m, "rows_gen", &bad);
    ix->first_block = jnum(m, "first_block", &bad);
    ix->blocks = jnum(m, "blocks", &bad);
    ix->xfers = jnum(m, "xfers", &bad);
    ix->rows = jnum(m, "rows", &bad);
    ix->floor_native = jnum(m, "floor_native", &bad);
    ix->floor_token = jnum(m, "floor_token", &bad);
    ix->stops_hash = jnum(m, "stops", &bad);
    ix->bytes = jnum(m, "state_bytes", &bad);
    if (unhex32(ix->tip, json_string_value(json_object_get(m, "tip")))) bad = 1;
    json_t *sh = json_object_get(m, "seeds_hash"), *seeds = json_object_get(m, "seeds");
    if (sh) {
        const char *v = json_string_value(sh);
        char *end = NULL;
        ix->seeds_hash = v ? strtoull(v, &end, 10) : 0;
        if (!v || !end || *end || !json_is_array(seeds)) bad = 1;
    }
    if (!bad && json_is_array(seeds) && json_array_size(seeds)) {
        ix->n_seeds = json_array_size(seeds);
        ix->seeds = calloc(ix->n_seeds, sizeof *ix->seeds);
        if (!ix->seeds) {
            json_decref(m);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < ix->n_seeds && !bad; i++) {
            json_t *o = json_array_get(seeds, i);
            ex_seedinfo *d = &ix->seeds[i];
            const char *cat = json_string_value(json_object_get(o, "category")),
                       *me = json_string_value(json_object_get(o, "method")),
                       *fr = json_string_value(json_object_get(o, "from")),
                       *ru = json_string_value(json_object_get(o, "rule"));
            json_t *xf = json_object_get(o, "xfer"), *cf = json_object_get(o, "confidence"),
                   *cn = json_object_get(o, "candidates");
            if (!cat || !me || !fr || !ru || !json_is_integer(xf) || !json_is_number(cf) ||
                !json_is_integer(cn) || (i && (uint64_t)json_integer_value(xf) < d[-1].xfer)) {
                bad = 1;
                break;
            }
            d->xfer = (uint64_t)json_integer_value(xf);
            snprintf(d->cat, sizeof d->cat, "%s", cat);
            snprintf(d->method, sizeof d->method, "%s", me);
            snprintf(d->from, sizeof d->from, "%s", fr);
            snprintf(d->rule, sizeof d->rule, "%s", ru);
            d->confidence = json_number_value(cf);
            d->candidates = (uint32_t)json_integer_value(cn);
        }
    }
    json_t *cats = json_object_get(m, "categories");
    if (!json_is_array(cats) || json_array_size(cats) > EVMEXPO_MAX_CATS) bad = 1;
    if (!bad) {
        ix->n_cats = json_array_size(cats);
        ix->cats = calloc(ix->n_cats + 1, sizeof *ix->cats);
        ix->tracked = calloc(ix->n_cats + 1, sizeof *ix->tracked);
        if (!ix->cats || !ix->tracked) {
            json_decref(m);
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < ix->n_cats; i++) {
            const char *c = json_string_value(json_array_get(cats, i));
            if (!c || strlen(c) >= 64) {
                bad = 1;
                break;
            }
            snprintf(ix->cats[i], 64, "%s", c);
            ix->tracked[i] = exposure_category_tracked(c);
        }
    }
    json_decref(m);
    if (bad)
        return util_errf(err, UTIL_ECORRUPT,
                         "%s: not an EVM exposure MANIFEST of version %d (rebuild: cointrail "
                         "evm-exposure build --rebuild)",
                         path, EVMEXPO_FORMAT_VERSION);
    return 0;
}

/* ---- the writer's state (wctx, evmexpo_int.h) ---- */

void ex_wctx_free(wctx *c)
{
    ex_stops_free(&c->st);
    util_hmap_free(&c->stop_of);
    util_hmap_free(&c->rec_of);
    for (size_t i = 0; i < c->n_recs; i++)
        free(c->recs[i].c);
    free(c->recs);
    util_hmap_free(&c->drop_of);
    free(c->drops);
    util_buf_free(&c->rows);
    free(c->hist);
    if (c->rows_fd >= 0) close(c->rows_fd);
}

int ex_rec_new(wctx *c, uint32_t addr, uint32_t asset, size_t *idx)
{
    if (util_grow((void **)&c->recs, &c->cap_recs, c->n_recs + 1, sizeof *c->recs, 64, SIZE_MAX) ||
        util_hmap_put(&c->rec_of, (uint64_t)addr << 32 | asset, c->n_recs))
        return UTIL_ENOMEM;
    memset(&c->recs[c->n_recs], 0, sizeof *c->recs);
    c->recs[c->n_recs].addr = addr, c->recs[c->n_recs].asset = asset;
    *idx = c->n_recs++;
    return 0;
}

wcat *ex_rec_cat(wrec *r, uint32_t cat)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->c[i].cat == cat) return &r->c[i];
    if (r->n == r->cap) {
        uint32_t nc = r->cap ? r->cap * 2 : 2;
        wcat *p = realloc(r->c, nc * sizeof *p);
        if (!p) return NULL;
        r->c = p, r->cap = nc;
    }
    /* keep categories sorted: the state file is then the same whatever the order of arrival */
    uint32_t k = r->n;
    while (k && r->c[k - 1].cat > cat) {
        r->c[k] = r->c[k - 1];
        k--;
    }
    memset(&r->c[k], 0, sizeof r->c[k]);
    r->c[k].cat = cat;
    r->n++;
    return &r->c[k];
}

evmexpo_drop *ex_drop_at(wctx *c, uint32_t cat, uint32_t asset)
{
    uint64_t key = (uint64_t)cat << 32 | asset, v;
    if (util_hmap_get(&c->drop_of, key, &v)) return &c->drops[v];
    if (util_grow((void **)&c->drops, &c->cap_drops, c->n_drops + 1, sizeof *c->drops, 16,
                  SIZE_MAX) ||
        util_hmap_put(&c->drop_of, key, c->n_drops))
        return NULL;
    evmexpo_drop *d = &c->drops[c->n_drops++];
    memset(d, 0, sizeof *d);
    d->cat = cat, d->asset = asset;
    return d;
}

/* A send of a from a balance: a clean opening grows when the store shows less than is sent. */
void ex_bal_send(evm_u256 *bal, const evm_u256 *a)
{
    if (evm_u256_cmp(bal, a) < 0) *bal = *a;
    evm_u256_sub(bal, bal, a);
}

static int u256_add_chk(evm_u256 *r, const evm_u256 *a)
{
    return evm_u256_add(r, r, a) ? UTIL_ECORRUPT : 0;
}

/* A new record's balance and receipts just before transfer x, from the address's history. */
static int rec_history(wctx *c, wrec *r, uint64_t x, util_err *err)
{
    size_t n = 0;
    uint64_t h;
    int rc = evm_store_addr_head(c->s, r->addr, &h, err);
    while (!rc && h != EVM_NONE64) {
        if (h < x) {
            if (util_grow((void **)&c->hist, &c->cap_hist, n + 1, sizeof *c->hist, 256, SIZE_MAX))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            c->hist[n++] = h;
        }
        rc = evm_store_addr_next(c->s, r->addr, h, &h, err);
    }
    for (size_t i = n; !rc && i-- > 0;) { /* oldest first */
        evm_xfer_row t;
        if ((rc = evm_store_xfer(c->s, c->hist[i], &t, err))) break;
        if (t.token != r->asset || (t.from == t.to && t.from != EVM_NONE32)) continue;
        if (t.to == r->addr) {
            if (evm_u256_add(&r->bal, &r->bal, &t.amount) ||
                evm_u256_add(&r->recv, &r->recv, &t.amount))
                rc = util_errf(err, UTIL_ECORRUPT, "balance overflow");
        } else {
            ex_bal_send(&r->bal, &t.amount);
        }
    }
    return rc;
}

int ex_row_push(wctx *c, uint64_t x, uint32_t cat, uint32_t asset, const evm_u256 *amt)
{
    uint8_t b[EVMEXPO_ROW_BYTES];
    util_put_le64(b, x);
    util_put_le32(b + 8, cat);
    util_put_le32(b + 12, asset);
    evm_u256_store(b + 16, amt);
    c->rows_added++;
    return util_buf_append(&c->rows, b, sizeof b);
}

int ex_rows_flush(wctx *c, util_err *err)
{
    if (!c->rows.len) return 0;
    if (util_write_all(c->rows_fd, c->rows.data, c->rows.len))
        return util_errf(err, UTIL_EIO, "writing the EVM exposure rows: %s", strerror(errno));
    c->rows_written += c->rows.len / EVMEXPO_ROW_BYTES;
    c->rows.len = 0;
    return 0;
}

typedef struct carry {
    uint32_t cat;
    evm_u256 amt;
} carry;

/* Propagate transfer x (the rule in evmexpo.h). */
static int step(wctx *c, uint64_t x, carry *cv, util_err *err)
{
    evm_xfer_row t;
    int rc = evm_store_xfer(c->s, x, &t, err);
    if (rc) return rc;
    int has_from = t.from != EVM_NONE32, has_to = t.to != EVM_NONE32;
    if (has_from && has_to && t.from == t.to) return 0;
    uint32_t asset = t.token;
    size_t nc = 0;
    uint64_t v;
    if (has_from) {
        uint64_t scat;
        int stop = util_hmap_get(&c->stop_of, t.from, &scat);
        wrec *r =
            util_hmap_get(&c->rec_of, (uint64_t)t.from << 32 | asset, &v) ? &c->recs[v] : NULL;
        if (stop) {
            if (c->st.tracked[scat] && !evm_u256_is_zero(&t.amount))
                cv[nc++] = (carry){(uint32_t)scat, t.amount};
            if (r) ex_bal_send(&r->bal, &t.amount);
        } else if (r) {
            if (evm_u256_cmp(&r->bal, &t.amount) < 0) r->bal = t.amount;
            for (uint32_t i = 0; i < r->n; i++) {
                if (evm_u256_is_zero(&r->c[i].held) || evm_u256_is_zero(&r->bal)) continue;
                evm_u256 q, rem;
                if (etrace_muldiv(&q, &rem, &r->c[i].held, &t.amount, &r->bal))
                    return util_errf(err, UTIL_ECORRUPT, "transfer %" PRIu64 ": share overflow", x);
                if (evm_u256_is_zero(&q)) continue;
                evm_u256_sub(&r->c[i].held, &r->c[i].held, &q);
                cv[nc++] = (carry){r->c[i].cat, q};
            }
            evm_u256_sub(&r->bal, &r->bal, &t.amount);
        }
    }
    if (c->n_seeds) { /* what a link from Bitcoin brings in with this transfer */
        size_t lo = 0, hi = c->n_seeds;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->seeds[mid].xfer < x)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < c->n_seeds && c->seeds[lo].xfer == x; lo++) {
            size_t j = 0;
            while (j < nc && cv[j].cat != c->seeds[lo].cat)
                j++;
            if (j == nc)
                cv[nc++] = (carry){c->seeds[lo].cat, c->seeds[lo].amount};
            else if (u256_add_chk(&cv[j].amt, &c->seeds[lo].amount))
                return util_errf(err, UTIL_ECORRUPT, "transfer %" PRIu64 ": seed overflow", x);
        }
    }
    if (!has_to) {
        for (size_t i = 0; i < nc; i++) {
            evmexpo_drop *d = ex_drop_at(c, cv[i].cat, asset);
            if (!d || u256_add_chk(&d->no_receiver, &cv[i].amt))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        return 0;
    }
    evm_u256 floor = {{asset ? c->floor_token : c->floor_native, 0, 0, 0}};
    size_t kept = 0;
    for (size_t i = 0; i < nc; i++) {
        if (evm_u256_cmp(&cv[i].amt, &floor) < 0) {
            evmexpo_drop *d = ex_drop_at(c, cv[i].cat, asset);
            if (!d || u256_add_chk(&d->below_floor, &cv[i].amt))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            d->below_shares++;
        } else {
            cv[kept++] = cv[i];
        }
    }
    uint64_t key = (uint64_t)t.to << 32 | asset;
    wrec *r = NULL;
    if (util_hmap_get(&c->rec_of, key, &v)) {
        r = &c->recs[v];
    } else if (kept) {
        size_t idx;
        if (ex_rec_new(c, t.to, asset, &idx)) return util_errf(err, UTIL_ENOMEM, "out of memory");
        r = &c->recs[idx];
        if ((rc = rec_history(c, r, x, err))) return rc;
    }
    if (!r) return 0;
    if (u256_add_chk(&r->bal, &t.amount) || u256_add_chk(&r->recv, &t.amount))
        return util_errf(err, UTIL_ECORRUPT, "transfer %" PRIu64 ": balance overflow", x);
    int absorbs = util_hmap_get(&c->stop_of, t.to, NULL);
    for (size_t i = 0; i < kept; i++) {
        wcat *k = ex_rec_cat(r, cv[i].cat);
        if (!k || ex_row_push(c, x, cv[i].cat, asset, &cv[i].amt))
            return util_errf(err, UTIL_ENOMEM, "out of memory");
        if (u256_add_chk(&k->recv, &cv[i].amt) || (!absorbs && u256_add_chk(&k->held, &cv[i].amt)))
            return util_errf(err, UTIL_ECORRUPT, "transfer %" PRIu64 ": amount overflow", x);
    }
    if (c->rows.len >= 4096 * EVMEXPO_ROW_BYTES) return ex_rows_flush(c, err);
    return 0;
}

/* ---- the state file ---- */

static int cmp_rec(const void *pa, const void *pb)
{
    const wrec *a = pa, *b = pb;
    if (a->addr != b->addr) return a->addr < b->addr ? -1 : 1;
    return (a->asset > b->asset) - (a->asset < b->asset);
}

static int cmp_drop(const void *pa, const void *pb)
{
    const evmexpo_drop *a = pa, *b = pb;
    if (a->cat != b->cat) return a->cat < b->cat ? -1 : 1;
    return (a->asset > b->asset) - (a->asset < b->asset);
}

static int state_encode(wctx *c, util_buf *b)
{
    /* sorted copies, so the bytes do not depend on the order records were made in */
    wrec *rs = c->n_recs ? malloc(c->n_recs * sizeof *rs) : NULL;
    evmexpo_drop *ds = c->n_drops ? malloc(c->n_drops * sizeof *ds) : NULL;
    if ((c->n_recs && !rs) || (c->n_drops && !ds)) {
        free(rs);
        free(ds);
        return UTIL_ENOMEM;
    }
    if (c->n_recs) memcpy(rs, c->recs, c->n_recs * sizeof *rs);
    if (c->n_drops) memcpy(ds, c->drops, c->n_drops * sizeof *ds);
    if (c->n_recs) qsort(rs, c->n_recs, sizeof *rs, cmp_rec);
    if (c->n_drops) qsort(ds, c->n_drops, sizeof *ds, cmp_drop);
    uint8_t h[24];
    memcpy(h, EVMEXPO_STATE_MAGIC, 8);
    util_put_le64(h + 8, c->n_recs);
    util_put_le64(h + 16, c->n_drops);
    int rc = util_buf_append(b, h, sizeof h);
    for (size_t i = 0; !rc && i < c->n_recs; i++) {
        uint8_t p[80];
        util_put_le32(p, rs[i].addr);
        util_put_le32(p + 4, rs[i].asset);
        util_put_le32(p + 8, rs[i].n);
        util_put_le32(p + 12, 0);
        evm_u256_store(p + 16, &rs[i].bal);
        evm_u256_store(p + 48, &rs[i].recv);
        rc = util_buf_append(b, p, 80);
        for (uint32_t k = 0; !rc && k < rs[i].n; k++) {
            uint8_t q[72];
            util_put_le32(q, rs[i].c[k].cat);
            util_put_le32(q + 4, 0);
            evm_u256_store(q + 8, &rs[i].c[k].held);
            evm_u256_store(q + 40, &rs[i].c[k].recv);
            rc = util_buf_append(b, q, 72);
        }
    }
    for (size_t i = 0; !rc && i < c->n_drops; i++) {
        uint8_t p[80];
        util_put_le32(p, ds[i].cat);
        util_put_le32(p + 4, ds[i].asset);
        util_put_le64(p + 8, ds[i].below_shares);
        evm_u256_store(p + 16, &ds[i].below_floor);
        evm_u256_store(p + 48, &ds[i].no_receiver);
        rc = util_buf_append(b, p, 80);
    }
    free(rs);
    free(ds);
    return rc ? UTIL_ENOMEM : 0;
}

/* Parse a state file into ix (records, pool, drops) or, with c, into a writer's maps. */
static int state_decode(const uint8_t *p, size_t len, const char *path, evmexpo_index *ix, wctx *c,
                        util_err *err)
{
    if (len < 24 || memcmp(p, EVMEXPO_STATE_MAGIC, 8))
        return util_errf(err, UTIL_ECORRUPT, "%s: not an EVM exposure state file", path);
    uint64_t nr = util_le64(p + 8), nd = util_le64(p + 16);
    size_t off = 24;
    if (nr > len / 80 || nd > len / 80)
        return util_errf(err, UTIL_ECORRUPT, "%s: offset 8: record counts past the end", path);
    if (ix) {
        ix->recs = calloc(nr + 1, sizeof *ix->recs);
        ix->rec_addr = calloc(nr + 1, sizeof *ix->rec_addr);
        ix->drops = calloc(nd + 1, sizeof *ix->drops);
        if (!ix->recs || !ix->rec_addr || !ix->drops)
            return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    size_t pool_cap = 0;
    for (uint64_t i = 0; i < nr; i++) {
        if (len - off < 80)
            return util_errf(err, UTIL_ECORRUPT, "%s: offset %zu: record cut short", path, off);
        uint32_t addr = util_le32(p + off), asset = util_le32(p + off + 4),
                 n = util_le32(p + off + 8);
        evm_u256 bal, recv;
        evm_u256_load(&bal, p + off + 16);
        evm_u256_load(&recv, p + off + 48);
        off += 80;
        if (n > (len - off) / 72)
            return util_errf(err, UTIL_ECORRUPT, "%s: offset %zu: categories past the end", path,
                             off - 72);
        wrec *r = NULL;
        if (c) {
            size_t idx;
            if (ex_rec_new(c, addr, asset, &idx))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
            r = &c->recs[idx];
            r->bal = bal, r->recv = recv;
        } else {
            ix->rec_addr[i] = addr;
            ix->recs[i] = (evmexpo_holding){asset, bal, recv, NULL, n};
            ix->recs[i].cats = (evmexpo_cat_amount *)(uintptr_t)ix->n_pool; /* fixed below */
            if (util_grow((void **)&ix->pool, &pool_cap, ix->n_pool + n + 1, sizeof *ix->pool, 64,
                          SIZE_MAX))
                return util_errf(err, UTIL_ENOMEM, "out of memory");
        }
        for (uint32_t k = 0; k < n; k++, off += 72) {
            uint32_t cat = util_le32(p + off);
            if (ix && cat >= ix->n_cats)
                return util_errf(err, UTIL_ECORRUPT, "%s: offset %zu: category %u out of range",
                                 path, off, cat);
            evmexpo_cat_amount a = {cat, {{0}}, {{0}}};
            evm_u256_load(&a.held, p + off + 8);
            evm_u256_load(&a.received, p + off + 40);
            if (r) {
                wcat *w = ex_rec_cat(r, cat);
                if (!w) return util_errf(err, UTIL_ENOMEM, "out of memory");
                w->held = a.held, w->recv = a.received;
            } else {
                ix->pool[ix->n_pool++] = a;
            }
        }
    }
    if ((len - off) != nd * 80)
        return util_errf(err, UTIL_ECORRUPT,
                         "%s: offset %zu: %zu bytes where %" PRIu64 " drop rows should be", path,
                         off, len - off, nd);
    for (uint64_t i = 0; i < nd; i++, off += 80) {
        evmexpo_drop d = {
            util_le32(p + off), util_le32(p + off + 4), {{0}}, {{0}}, util_le64(p + off + 8)};
        evm_u256_load(&d.below_floor, p + off + 16);
        evm_u256_load(&d.no_receiver, p + off + 48);
        if (c) {
            evmexpo_drop *w = ex_drop_at(c, d.cat, d.asset);
            if (!w) return util_errf(err, UTIL_ENOMEM, "out of memory");
            *w = d;
        } else {
            ix->drops[ix->n_drops++] = d;
        }
    }
    if (ix) {
        ix->n_recs = nr;
        for (uint64_t i = 0; i < nr; i++)
            ix->recs[i].cats = ix->pool + (uintptr_t)ix->recs[i].cats;
    }
    return 0;
}

/* ---- the writer ---- */

static void file_path(char *buf, size_t n, const char *sub, const char *kind, uint64_t gen)
{
    snprintf(buf, n, "%s/%s.%" PRIu64 "%s", sub, kind, gen, strcmp(kind, "rows") ? "" : ".col");
}

/* Delete what a killed writer left: files the manifest does not name, temp files. */
static void remove_leftovers(const char *sub, uint64_t gen, uint64_t rows_gen, int have)
{
    DIR *d = opendir(sub);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long g;
        char tail[8] = "";
        const char *n = e->d_name;
        int del = strstr(n, ".tmp") != NULL;
        if (sscanf(n, "state.%llu%7s", &g, tail) >= 1 && !tail[0] && (!have || g != gen)) del = 1;
        tail[0] = 0;
        if (sscanf(n, "stops.%llu%7s", &g, tail) >= 1 && !tail[0] && (!have || g != gen)) del = 1;
        tail[0] = 0;
        if (sscanf(n, "rows.%llu%7s", &g, tail) == 2 && !strcmp(tail, ".col") &&
            (!have || g != rows_gen))
            del = 1;
        if (del) {
            char path[8400];
            snprintf(path, sizeof path, "%s/%s", sub, n);
            unlink(path);
        }
    }
    closedir(d);
}

static int mkdirs(const char *db, const char *chain, char *sub, size_t n)
{
    ex_manifest_path(sub, n, db, chain, NULL);
    if (mkdir(sub, 0755) && errno != EEXIST) return -1;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

/* stops.G: the stops the state of generation G was computed with (what a change of stops is
 * found against): magic, count, then per stop its 20 address bytes and category id. */
static int stops_write(const char *path, const ex_stops *st, util_err *err)
{
    util_buf b = {0};
    uint8_t h[16];
    memcpy(h, EVMEXPO_STOPS_MAGIC, 8);
    util_put_le64(h + 8, st->n);
    int rc = util_buf_append(&b, h, sizeof h);
    for (size_t i = 0; !rc && i < st->n; i++) {
        uint8_t e[24];
        memcpy(e, st->v[i].addr, 20);
        util_put_le32(e + 20, st->v[i].cat);
        rc = util_buf_append(&b, e, sizeof e);
    }
    rc = rc ? util_errf(err, UTIL_ENOMEM, "out of memory")
            : util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

/* UTIL_ENOTFOUND without the file (an index made before it was kept). *out: free. */
static int stops_read(const char *path, size_t n_cats, ex_stop **out, size_t *n, util_err *err)
{
    *out = NULL, *n = 0;
    struct stat sb;
    if (stat(path, &sb)) return util_errf(err, UTIL_ENOTFOUND, "%s: none", path);
    uint8_t *d = NULL;
    size_t len = 0;
    int rc = util_read_file(path, &d, &len, err);
    if (rc) return rc;
    uint64_t k = len >= 16 ? util_le64(d + 8) : 0;
    if (len < 16 || memcmp(d, EVMEXPO_STOPS_MAGIC, 8) || k != (len - 16) / 24 || (len - 16) % 24) {
        free(d);
        return util_errf(err, UTIL_ECORRUPT, "%s: not an EVM exposure stops file", path);
    }
    *out = calloc(k + 1, sizeof **out);
    if (!*out) {
        free(d);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < k; i++) {
        memcpy((*out)[i].addr, d + 16 + 24 * i, 20);
        (*out)[i].cat = util_le32(d + 16 + 24 * i + 20);
        if ((*out)[i].cat >= n_cats) rc = util_errf(err, UTIL_ECORRUPT, "%s: bad category", path);
    }
    free(d);
    *n = k;
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* The writer's state for the stops of labels: its stops, their map, empty records. */
static int wctx_init(wctx *c, const evm_store *s, const labels_db *labels, util_err *err)
{
    c->s = s;
    c->rows_fd = -1;
    int rc =
        ex_stops_compute(labels, evm_store_chain(s), c->floor_native, c->floor_token, &c->st, err);
    if (!rc) rc = ex_stops_map(&c->st, s, &c->stop_of, err);
    if (!rc && (util_hmap_init(&c->rec_of, 64) || util_hmap_init(&c->drop_of, 16)))
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    return rc;
}

/* The stops changed, nothing else: re-propagate what they touch (ex_restop) into a new rows
 * file rp and state ci. 1 done, 0 not possible (no stops file, another category table: the
 * caller rebuilds; *why then says so when it is not the usual), or an error. */
static int try_restop(const char *sub, const char *rp, const evmexpo_index *m, const wctx *c,
                      const labels_db *labels, const char *db, uint64_t crash, wctx *ci,
                      uint64_t *pairs, const char **why, util_err *err)
{
    if (m->n_cats != c->st.n_cats) return 0;
    for (size_t i = 0; i < m->n_cats; i++)
        if (strcmp(m->cats[i], c->st.cats[i])) return 0;
    char p[8400];
    file_path(p, sizeof p, sub, "stops", m->gen);
    ex_stop *old = NULL;
    size_t n_old = 0;
    util_err e2 = {0};
    int rc = stops_read(p, m->n_cats, &old, &n_old, &e2);
    if (rc) {
        if (rc != UTIL_ENOTFOUND) *why = "stops; the stops file is damaged";
        return 0;
    }
    evmexpo_index *ix = NULL;
    memset(ci, 0, sizeof *ci);
    ci->floor_native = c->floor_native, ci->floor_token = c->floor_token;
    rc = wctx_init(ci, c->s, labels, err);
    if (!rc) rc = evmexpo_open(&ix, db, evm_store_chain(c->s), err);
    if (!rc) {
        file_path(p, sizeof p, sub, "state", m->gen);
        uint8_t *data = NULL;
        size_t len = 0;
        if (!(rc = util_read_file(p, &data, &len, err)))
            rc = state_decode(data, len, p, NULL, ci, err);
        free(data);
    }
    if (!rc) {
        ci->rows_fd = open(rp, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (ci->rows_fd < 0) rc = util_errf(err, UTIL_EIO, "%s: %s", rp, strerror(errno));
    }
    if (!rc) {
        util_err e3 = {0};
        rc = ex_restop(ci, ix, old, n_old, crash, pairs, &e3);
        ci->rows_added = 0;
        if (rc == UTIL_ECORRUPT) { /* not the computation the index made: rebuild */
            *why = "stops; the committed state did not replay";
            rc = 0;
            ex_wctx_free(ci);
            memset(ci, 0, sizeof *ci);
            ci->rows_fd = -1;
            unlink(rp);
            evmexpo_close(ix);
            free(old);
            return 0;
        }
        if (rc) util_errf(err, rc, "%s", e3.msg);
    }
    evmexpo_close(ix);
    free(old);
    if (rc) {
        ex_wctx_free(ci);
        memset(ci, 0, sizeof *ci);
        ci->rows_fd = -1;
        return rc;
    }
    return 1;
}

int evmexpo_sync(const char *db, const evm_store *s, const labels_db *labels,
                 const evmexpo_sync_opts *o, evmexpo_sync_result *r, util_err *err)
{
    evmexpo_sync_result dummy;
    if (!r) r = &dummy;
    memset(r, 0, sizeof *r);
    double t0 = util_now();
    const char *chain = evm_store_chain(s);
    char sub[4300], path[8400], mpath[8400];
    if (mkdirs(db, chain, sub, sizeof sub))
        return util_errf(err, UTIL_EIO, "%s: cannot create: %s", sub, strerror(errno));
    snprintf(path, sizeof path, "%s/LOCK", sub);
    int lock = open(path, O_RDWR | O_CREAT, 0644);
    if (lock < 0 || flock(lock, LOCK_EX)) {
        if (lock >= 0) close(lock);
        return util_errf(err, UTIL_EIO, "%s: cannot lock: %s", path, strerror(errno));
    }
    snprintf(mpath, sizeof mpath, "%s/MANIFEST", sub);
    evmexpo_index m;
    memset(&m, 0, sizeof m);
    int rc = manifest_read(mpath, &m, err);
    int have = !rc;
    if (rc == UTIL_ENOTFOUND || (rc == UTIL_ECORRUPT && o && o->rebuild)) rc = 0;
    wctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.rows_fd = -1;
    ex_seeds sd;
    memset(&sd, 0, sizeof sd);
    if (rc) goto out;
    remove_leftovers(sub, m.gen, m.rows_gen, have);
    c.floor_native = have ? m.floor_native : EVMEXPO_FLOOR_NATIVE;
    c.floor_token = have ? m.floor_token : EVMEXPO_FLOOR_TOKEN;
    if (o && o->rebuild && o->set_floor)
        c.floor_native = o->floor_native, c.floor_token = o->floor_token;
    if ((rc = ex_stops_compute(labels, chain, c.floor_native, c.floor_token, &c.st, err))) goto out;
    if ((rc = ex_stops_map(&c.st, s, &c.stop_of, err))) goto out;
    if ((rc = ex_seeds_compute(db, s, &c.st, &c.stop_of, &sd, err))) goto out;
    if (sd.n) { /* the seeds' categories may have shifted the stops' ids */
        util_hmap_free(&c.stop_of);
        memset(&c.stop_of, 0, sizeof c.stop_of);
        if ((rc = ex_stops_map(&c.st, s, &c.stop_of, err))) goto out;
        c.seeds = sd.v, c.n_seeds = sd.n;
    }
    if (util_hmap_init(&c.rec_of, 64) || util_hmap_init(&c.drop_of, 16)) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t first, nb, n_tx, n_xf, n_ad;
    uint8_t tip[32];
    evm_store_tip(s, &first, &nb, tip);
    evm_store_counts(s, &n_tx, &n_xf, &n_ad);
    /* Rebuild, or continue from where the committed index ends? */
    const char *why = NULL;
    int reorg = 0;
    if (have && m.blocks && (m.first_block != first || m.blocks > nb || m.xfers > n_xf))
        reorg = 1;
    else if (have && m.blocks) {
        evm_block_row b;
        if (evm_store_block(s, m.blocks - 1, &b, NULL) || memcmp(b.hash, m.tip, 32)) reorg = 1;
    }
    if (!have)
        why = "new";
    else if (o && o->rebuild)
        why = "asked";
    else if (m.stops_hash != c.st.hash)
        /* the re-propagation of changed stops does not apply seeds from Bitcoin */
        why = sd.n || m.seeds_hash ? "stops; seeds from Bitcoin" : "stops";
    else if (m.seeds_hash != sd.hash)
        why = "seeds";
    else if (reorg)
        why = "reorganisation";
    uint64_t gen = have ? m.gen + 1 : 1, rows_gen = why ? gen : m.rows_gen,
             from = why ? 0 : m.xfers;
    char rp[8400];
    /* only the stops changed: re-propagate what they touch, then go on from the index's end */
    int restopped = 0;
    if (why && !strcmp(why, "stops") && !reorg) {
        wctx ci;
        file_path(rp, sizeof rp, sub, "rows", gen);
        rc = try_restop(sub, rp, &m, &c, labels, db, o ? o->crash_after_xfers : 0, &ci,
                        &r->repropagated, &why, err);
        if (rc < 0) goto out;
        if (rc == 1) {
            ex_wctx_free(&c);
            c = ci;
            restopped = 1;
            from = m.xfers;
        }
        rc = 0;
    }
    r->rebuilt = why != NULL && !restopped;
    r->why = why;
    if (!why) { /* the committed state to continue from */
        char sp[8400];
        file_path(sp, sizeof sp, sub, "state", m.gen);
        uint8_t *data = NULL;
        size_t len = 0;
        if ((rc = util_read_file(sp, &data, &len, err))) goto out;
        rc = state_decode(data, len, sp, NULL, &c, err);
        free(data);
        if (rc) goto out;
        c.rows_written = m.rows;
    }
    if (!why && from == n_xf && m.blocks == nb && !memcmp(m.tip, tip, 32)) {
        /* nothing new: the committed files stay as they are, byte for byte */
        r->addresses = c.n_recs, r->rows = m.rows;
        r->bytes = m.rows * EVMEXPO_ROW_BYTES + m.bytes;
        goto out;
    }
    file_path(rp, sizeof rp, sub, "rows", rows_gen);
    if (c.rows_fd < 0) c.rows_fd = open(rp, O_RDWR | O_CREAT, 0644);
    if (c.rows_fd < 0 || ftruncate(c.rows_fd, (off_t)(c.rows_written * EVMEXPO_ROW_BYTES)) ||
        lseek(c.rows_fd, 0, SEEK_END) < 0) {
        rc = util_errf(err, UTIL_EIO, "%s: %s", rp, strerror(errno));
        goto out;
    }
    carry *cv = calloc(c.st.n_cats + 1, sizeof *cv);
    if (!cv) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t crash = o ? o->crash_after_xfers : 0;
    for (uint64_t x = from; x < n_xf && !rc; x++) {
        rc = step(&c, x, cv, err);
        r->xfers_done++;
        if (crash && r->xfers_done == crash) {
            ex_rows_flush(&c, NULL); /* leave something uncommitted on disk, as a real kill may */
            kill(getpid(), SIGKILL);
        }
    }
    free(cv);
    if (!rc) rc = ex_rows_flush(&c, err);
    if (!rc && fsync(c.rows_fd))
        rc = util_errf(err, UTIL_EIO, "%s: fsync: %s", rp, strerror(errno));
    /* the new state file, then the MANIFEST naming it: the commit */
    util_buf sb = {0};
    if (!rc && state_encode(&c, &sb)) rc = util_errf(err, UTIL_ENOMEM, "out of memory");
    char sp[8400];
    file_path(sp, sizeof sp, sub, "stops", gen);
    if (!rc) rc = stops_write(sp, &c.st, err);
    file_path(sp, sizeof sp, sub, "state", gen);
    if (!rc) rc = util_replace_file(sp, sb.data, sb.len, err);
    if (!rc) {
        char th[65], num[12][24];
        hex32(th, tip);
        uint64_t vals[10] = {gen,       rows_gen,       first,          nb,
                             n_xf,      c.rows_written, c.floor_native, c.floor_token,
                             c.st.hash, sb.len};
        for (int i = 0; i < 10; i++)
            snprintf(num[i], sizeof num[i], "%" PRIu64, vals[i]);
        json_t *cats = json_array();
        for (size_t i = 0; i < c.st.n_cats; i++)
            json_array_append_new(cats, json_string(c.st.cats[i]));
        json_t *j = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}",
                              "format", "cointrail-evm-exposure", "version", EVMEXPO_FORMAT_VERSION,
                              "chain", chain, "gen", num[0], "rows_gen", num[1], "first_block",
                              num[2], "blocks", num[3], "xfers", num[4], "rows", num[5],
                              "floor_native", num[6], "floor_token", num[7], "stops", num[8],
                              "state_bytes", num[9], "tip", th, "categories", cats);
        if (j && sd.n) { /* only with seeds: an index without them keeps its bytes */
            char sh[24];
            snprintf(sh, sizeof sh, "%" PRIu64, sd.hash);
            json_object_set_new(j, "seeds_hash", json_string(sh));
            json_object_set(j, "seeds", sd.doc);
        }
        char *text = j ? json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
        json_decref(j);
        if (!text)
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        else
            rc = util_replace_file(mpath, text, strlen(text), err);
        free(text);
    }
    if (!rc) { /* committed: what the last commit named is no longer needed */
        remove_leftovers(sub, gen, rows_gen, 1);
        fsync_dir(sub);
        r->rows_added = c.rows_added;
        r->addresses = c.n_recs;
        r->rows = c.rows_written;
        r->bytes = c.rows_written * EVMEXPO_ROW_BYTES + sb.len;
    }
    util_buf_free(&sb);
out:
    free(m.cats);
    free(m.tracked);
    free(m.seeds);
    ex_seeds_free(&sd);
    ex_wctx_free(&c);
    close(lock);
    r->seconds = util_now() - t0;
    return rc;
}

/* ---- the reader ---- */

int evmexpo_open(evmexpo_index **out, const char *db, const char *chain, util_err *err)
{
    *out = NULL;
    evmexpo_index *ix = calloc(1, sizeof *ix);
    if (!ix) return util_errf(err, UTIL_ENOMEM, "out of memory");
    char mpath[8400], p[8400];
    ex_manifest_path(ix->dir, sizeof ix->dir, db, chain, NULL);
    snprintf(mpath, sizeof mpath, "%s/MANIFEST", ix->dir);
    int rc = manifest_read(mpath, ix, err);
    uint8_t *data = NULL;
    size_t len = 0;
    if (!rc) {
        file_path(p, sizeof p, ix->dir, "state", ix->gen);
        rc = util_read_file(p, &data, &len, err);
    }
    if (!rc && len != ix->bytes)
        rc = util_errf(err, UTIL_ECORRUPT, "%s: %zu bytes, the MANIFEST says %" PRIu64, p, len,
                       ix->bytes);
    if (!rc) rc = state_decode(data, len, p, ix, NULL, err);
    free(data);
    if (!rc && ix->rows) {
        file_path(p, sizeof p, ix->dir, "rows", ix->rows_gen);
        int fd = open(p, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) {
            rc = util_errf(err, UTIL_EIO, "%s: %s", p, strerror(errno));
        } else if ((uint64_t)st.st_size < ix->rows * EVMEXPO_ROW_BYTES) {
            rc = util_errf(err, UTIL_ECORRUPT,
                           "%s: %lld bytes, shorter than the MANIFEST's %" PRIu64 " rows", p,
                           (long long)st.st_size, ix->rows);
        } else {
            ix->rowmap_len = ix->rows * EVMEXPO_ROW_BYTES;
            void *mp = mmap(NULL, ix->rowmap_len, PROT_READ, MAP_SHARED, fd, 0);
            if (mp == MAP_FAILED)
                rc = util_errf(err, UTIL_EIO, "%s: mmap: %s", p, strerror(errno));
            else
                ix->rowmap = mp;
        }
        if (fd >= 0) close(fd);
    }
    if (rc) {
        evmexpo_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void evmexpo_close(evmexpo_index *ix)
{
    if (!ix) return;
    if (ix->rowmap) munmap((void *)ix->rowmap, ix->rowmap_len);
    free(ix->cats);
    free(ix->tracked);
    free(ix->recs);
    free(ix->rec_addr);
    free(ix->pool);
    free(ix->drops);
    free(ix->seeds);
    free(ix);
}

int evmexpo_check(const evmexpo_index *ix, const evm_store *s, const labels_db *labels, int *state,
                  util_err *err)
{
    ex_stops st;
    int rc =
        ex_stops_compute(labels, evm_store_chain(s), ix->floor_native, ix->floor_token, &st, err);
    if (rc) return rc;
    uint64_t h = st.hash;
    ex_stops_free(&st);
    uint64_t first, nb;
    uint8_t tip[32];
    evm_store_tip(s, &first, &nb, tip);
    evm_block_row b;
    if (ix->blocks && (ix->first_block != first || ix->blocks > nb ||
                       evm_store_block(s, ix->blocks - 1, &b, NULL) || memcmp(b.hash, ix->tip, 32)))
        *state = EXPOSURE_FORKED;
    else if (h != ix->stops_hash)
        *state = EXPOSURE_STALE;
    else if (ix->blocks < nb)
        *state = EXPOSURE_BEHIND;
    else
        *state = EXPOSURE_OK;
    return 0;
}

size_t evmexpo_n_categories(const evmexpo_index *ix)
{
    return ix->n_cats;
}

const char *evmexpo_category_name(const evmexpo_index *ix, uint32_t cat)
{
    return cat < ix->n_cats ? ix->cats[cat] : "?";
}

size_t evmexpo_address(const evmexpo_index *ix, uint32_t addr, evmexpo_holding *out, size_t cap)
{
    size_t lo = 0, hi = ix->n_recs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->rec_addr[mid] < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    for (size_t i = lo; i < ix->n_recs && ix->rec_addr[i] == addr; i++, n++)
        if (n < cap) out[n] = ix->recs[i];
    return n;
}

void evmexpo_row_at(const evmexpo_index *ix, uint64_t i, evmexpo_row *out)
{
    const uint8_t *p = ix->rowmap + i * EVMEXPO_ROW_BYTES;
    out->xfer = util_le64(p);
    out->cat = util_le32(p + 8);
    out->asset = util_le32(p + 12);
    evm_u256_load(&out->amount, p + 16);
}

static uint64_t row_xfer(const evmexpo_index *ix, uint64_t i)
{
    return util_le64(ix->rowmap + i * EVMEXPO_ROW_BYTES);
}

void evmexpo_rows_of(const evmexpo_index *ix, uint64_t from, uint64_t to, uint64_t *first,
                     uint64_t *n)
{
    uint64_t lo = 0, hi = ix->rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (row_xfer(ix, mid) < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t e = lo;
    while (e < ix->rows && row_xfer(ix, e) < to)
        e++;
    *first = lo, *n = e - lo;
}

void evmexpo_get_info(const evmexpo_index *ix, evmexpo_info *out)
{
    memset(out, 0, sizeof *out);
    out->gen = ix->gen, out->first_block = ix->first_block, out->blocks = ix->blocks;
    out->xfers = ix->xfers, out->rows = ix->rows, out->records = ix->n_recs;
    out->bytes = ix->bytes + ix->rows * EVMEXPO_ROW_BYTES;
    out->floor_native = ix->floor_native, out->floor_token = ix->floor_token;
    memcpy(out->tip, ix->tip, 32);
    out->drops = ix->drops, out->n_drops = ix->n_drops;
}

/* The largest row of cat among receipts of addr (asset) before transfer `before`. */
static int best_receipt(const evmexpo_index *ix, const evm_store *s, uint32_t addr, uint32_t asset,
                        uint32_t cat, uint64_t before, uint64_t *best, evm_u256 *amt, util_err *err)
{
    uint64_t h;
    int rc = evm_store_addr_head(s, addr, &h, err);
    *best = EVM_NONE64;
    memset(amt, 0, sizeof *amt);
    while (!rc && h != EVM_NONE64) {
        if (h < before) {
            uint64_t f, n;
            evmexpo_rows_of(ix, h, h + 1, &f, &n);
            for (uint64_t i = f; i < f + n; i++) {
                evmexpo_row row;
                evmexpo_row_at(ix, i, &row);
                if (row.cat != cat || row.asset != asset) continue;
                evm_xfer_row t;
                if ((rc = evm_store_xfer(s, h, &t, err))) return rc;
                if (t.to != addr) continue;
                if (evm_u256_cmp(&row.amount, amt) > 0) *amt = row.amount, *best = h;
            }
        }
        rc = evm_store_addr_next(s, addr, h, &h, err);
    }
    return rc;
}

int evmexpo_path(const evmexpo_index *ix, const evm_store *s, const labels_db *labels,
                 uint32_t addr, uint32_t asset, uint32_t cat, size_t max_steps, uint64_t **path,
                 size_t *len, uint32_t *src, util_err *err)
{
    *path = NULL, *len = 0, *src = EVM_NONE32;
    ex_stops st;
    util_hmap stop_of = {0};
    int rc =
        ex_stops_compute(labels, evm_store_chain(s), ix->floor_native, ix->floor_token, &st, err);
    if (!rc) rc = ex_stops_map(&st, s, &stop_of, err);
    size_t cap = 0;
    uint64_t before = UINT64_MAX;
    for (size_t step = 0; !rc && step < max_steps; step++) {
        uint64_t x;
        evm_u256 amt;
        if ((rc = best_receipt(ix, s, addr, asset, cat, before, &x, &amt, err))) break;
        if (x == EVM_NONE64) break;
        if (util_grow((void **)path, &cap, *len + 1, sizeof **path, 8, SIZE_MAX)) {
            rc = util_errf(err, UTIL_ENOMEM, "out of memory");
            break;
        }
        (*path)[(*len)++] = x;
        evm_xfer_row t;
        if ((rc = evm_store_xfer(s, x, &t, err))) break;
        if (t.from == EVM_NONE32) break;
        uint64_t sc;
        if (util_hmap_get(&stop_of, t.from, &sc)) { /* a source of cat: where it came from */
            if (!strcmp(st.cats[sc], evmexpo_category_name(ix, cat)) ||
                ex_seed_find(ix, x, evmexpo_category_name(ix, cat))) {
                *src = t.from;
                util_hmap_free(&stop_of);
                ex_stops_free(&st);
                return 0;
            }
            break;
        }
        addr = t.from, before = x;
    }
    util_hmap_free(&stop_of);
    ex_stops_free(&st);
    if (!rc) rc = util_errf(err, UTIL_ENOTFOUND, "no path within %zu transfers", max_steps);
    free(*path);
    *path = NULL, *len = 0;
    return rc;
}

const ex_seedinfo *ex_seed_find(const evmexpo_index *ix, uint64_t x, const char *cat)
{
    size_t lo = 0, hi = ix->n_seeds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->seeds[mid].xfer < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ix->n_seeds && ix->seeds[lo].xfer == x; lo++)
        if (!strcmp(ix->seeds[lo].cat, cat)) return &ix->seeds[lo];
    return NULL;
}
