/* exposure: the MANIFEST, the column files' names, the category table, and the reader
 * (exposure_open and the look-ups screening makes). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exposure_int.h"

const char *const expo_col_names[EC_N] = {"rows", "dir", "stops", "drops", "blocks"};
const size_t expo_col_widths[EC_N] = {sizeof(expo_row), 8, sizeof(expo_stop), sizeof(expo_drop),
                                      32};

int exposure_category_tracked(const char *category)
{
    static const char *const untracked[] = {"exchange", "otc", "bridge", "swap", "miner", "defi"};
    for (size_t i = 0; i < sizeof untracked / sizeof *untracked; i++)
        if (!strcmp(category, untracked[i])) return 0;
    return 1;
}

const char *exposure_state_name(int state)
{
    static const char *const names[] = {"ok", "behind", "stale", "forked", "none"};
    return state >= 0 && state <= EXPOSURE_NO_INDEX ? names[state] : "none";
}

void expo_file_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/" EXPOSURE_SUBDIR "/%s", dir, name);
}

void expo_col_path(char *buf, size_t n, const char *dir, int col, uint64_t gen)
{
    snprintf(buf, n, "%s/" EXPOSURE_SUBDIR "/%s.%" PRIu64 ".col", dir, expo_col_names[col], gen);
}

int exposure_exists(const char *dir)
{
    char path[4200];
    expo_file_path(path, sizeof path, dir, "MANIFEST");
    return access(path, F_OK) == 0;
}

/* ---- categories ---- */

uint32_t expo_cat_find(const expo_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n_cats; i++)
        if (!strcmp(m->cats[i].name, name)) return (uint32_t)i;
    return EXPOSURE_NO_CAT;
}

int64_t expo_cat_intern(expo_manifest *m, const char *name)
{
    uint32_t id = expo_cat_find(m, name);
    if (id != EXPOSURE_NO_CAT) return id;
    if (m->n_cats >= EXPOSURE_MAX_CATEGORIES || strlen(name) >= sizeof m->cats[0].name || !*name)
        return UTIL_EINVAL;
    if (m->n_cats == m->cap_cats) {
        size_t cap = m->cap_cats ? m->cap_cats * 2 : 16;
        expo_cat *c = realloc(m->cats, cap * sizeof *c);
        if (!c) return UTIL_ENOMEM;
        m->cats = c, m->cap_cats = cap;
    }
    expo_cat *c = &m->cats[m->n_cats];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->tracked = exposure_category_tracked(name);
    return (int64_t)m->n_cats++;
}

/* ---- MANIFEST ---- */

void expo_manifest_free(expo_manifest *m)
{
    free(m->cats);
    memset(m, 0, sizeof *m);
}

int expo_manifest_copy(expo_manifest *dst, const expo_manifest *src)
{
    expo_cat *c = NULL;
    if (src->n_cats) {
        if (!(c = malloc(src->n_cats * sizeof *c))) return UTIL_ENOMEM;
        memcpy(c, src->cats, src->n_cats * sizeof *c);
    }
    free(dst->cats);
    *dst = *src;
    dst->cats = c;
    dst->cap_cats = src->n_cats;
    return 0;
}

int expo_manifest_write(const char *dir, const expo_manifest *m, util_err *err)
{
    util_buf b = {0};
    char hex[65];
    util_buf_printf(&b, "cointrail-exposure %d\nfloor %" PRIu64 "\ngeneration %" PRIu64 "\n",
                    EXPOSURE_FORMAT_VERSION, m->floor, m->gen);
    util_buf_printf(
        &b, "blocks %" PRIu64 "\ntxs %" PRIu64 "\noutputs %" PRIu64 "\naddresses %" PRIu64 "\n",
        m->blocks, m->txs, m->outputs, m->addresses);
    if (m->blocks) {
        util_hash_hex(hex, m->tip);
        util_buf_printf(&b, "tip %s\n", hex);
    }
    for (size_t i = 0; i < m->n_cats; i++)
        util_buf_printf(&b, "category %zu %s %s\n", i, m->cats[i].tracked ? "tracked" : "untracked",
                        m->cats[i].name);
    util_buf_printf(&b, "rows");
    colstore_manifest_rows(&b, expo_col_names, m->rows, EC_N);
    util_buf_printf(&b, "\n");
    colstore_manifest_seal(&b, NULL);
    if (!b.data) return util_errf(err, UTIL_ENOMEM, "out of memory writing the exposure MANIFEST");
    char path[4200];
    expo_file_path(path, sizeof path, dir, "MANIFEST");
    int rc = util_replace_file(path, b.data, b.len, err);
    util_buf_free(&b);
    return rc;
}

int expo_manifest_read(const char *dir, expo_manifest *m, util_err *err)
{
    memset(m, 0, sizeof *m);
    char path[4200];
    expo_file_path(path, sizeof path, dir, "MANIFEST");
    struct stat st;
    if (stat(path, &st) < 0)
        return util_errf(err, UTIL_ENOTFOUND,
                         "%s: this store has no exposure index (run cointrail exposure build "
                         "--db %s)",
                         dir, dir);
    uint8_t *data;
    size_t len;
    int rc = util_read_file(path, &data, &len, err);
    if (rc) return rc;
    char *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    text[len] = 0;
    const char *end;
    if (colstore_manifest_check(text, 1, &end, NULL)) {
        free(text);
        return util_errf(err, UTIL_ECORRUPT, "%s: checksum missing or wrong (file damaged)", path);
    }
    int version = 0, have_rows = 0, lineno = 0;
    rc = 0;
    for (char *line = text; line < end && !rc;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        lineno++;
        char hex[80], kind[16];
        unsigned long long u;
        int at = 0;
        if (sscanf(line, "cointrail-exposure %d", &version) == 1) {
        } else if (sscanf(line, "floor %llu", &u) == 1) {
            m->floor = u;
        } else if (sscanf(line, "generation %llu", &u) == 1) {
            m->gen = u;
        } else if (sscanf(line, "blocks %llu", &u) == 1) {
            m->blocks = u;
        } else if (sscanf(line, "txs %llu", &u) == 1) {
            m->txs = u;
        } else if (sscanf(line, "outputs %llu", &u) == 1) {
            m->outputs = u;
        } else if (sscanf(line, "addresses %llu", &u) == 1) {
            m->addresses = u;
        } else if (sscanf(line, "tip %64s", hex) == 1) {
            if (util_hash_parse(m->tip, hex)) rc = UTIL_ECORRUPT;
        } else if (sscanf(line, "category %llu %15s %n", &u, kind, &at) == 2 && at) {
            int64_t id = expo_cat_intern(m, line + at);
            if (id < 0 || (uint64_t)id != u || (uint64_t)id + 1 != m->n_cats)
                rc = UTIL_ECORRUPT;
            else
                m->cats[id].tracked = !strcmp(kind, "tracked");
        } else if (!strncmp(line, "rows ", 5)) {
            have_rows = 1;
            for (int c = 0; c < EC_N && !rc; c++)
                if (colstore_manifest_row(line, nl, expo_col_names[c], &m->rows[c]))
                    rc = UTIL_ECORRUPT;
        } else {
            rc = UTIL_ECORRUPT;
        }
        line = nl + 1;
    }
    free(text);
    if (rc) {
        expo_manifest_free(m);
        return util_errf(err, UTIL_ECORRUPT, "%s: line %d is not what docs/formats.md says", path,
                         lineno);
    }
    if (version != EXPOSURE_FORMAT_VERSION || !have_rows) {
        expo_manifest_free(m);
        return util_errf(err, UTIL_ECORRUPT,
                         "%s: format version %d, this build reads %d (build it again: cointrail "
                         "exposure build --db %s --rebuild)",
                         path, version, EXPOSURE_FORMAT_VERSION, dir);
    }
    return 0;
}

/* ---- reading ---- */

struct exposure_index {
    char dir[4096];
    expo_manifest m;
    colstore_col cols[EC_N]; /* mapped read-only up to the committed rows; blocks: pread */
};

int exposure_open(exposure_index **out, const char *dir, util_err *err)
{
    *out = NULL;
    exposure_index *ix = calloc(1, sizeof *ix);
    if (!ix) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (int c = 0; c < EC_N; c++)
        ix->cols[c].fd = -1;
    snprintf(ix->dir, sizeof ix->dir, "%s", dir);
    int rc = expo_manifest_read(dir, &ix->m, err);
    for (int c = 0; c < EC_N && !rc; c++) {
        char path[4400];
        expo_col_path(path, sizeof path, dir, c, ix->m.gen);
        unsigned fl = COLSTORE_CLOEXEC | (c == EC_BLOCKS ? 0 : COLSTORE_MAP);
        rc = colstore_col_open(&ix->cols[c], path, expo_col_widths[c], fl, 0644, err);
        if (rc) break;
        struct stat st;
        size_t need = (size_t)ix->m.rows[c] * expo_col_widths[c];
        if (fstat(ix->cols[c].fd, &st) < 0 || (size_t)st.st_size < need) {
            rc = util_errf(err, UTIL_ECORRUPT, "%s: shorter than its MANIFEST says (%zu bytes)",
                           path, need);
            break;
        }
        ix->cols[c].rows = ix->m.rows[c];
        if (c != EC_BLOCKS && need) rc = colstore_col_map_to(&ix->cols[c], need, err);
    }
    if (rc) {
        exposure_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void exposure_close(exposure_index *ix)
{
    if (!ix) return;
    for (int c = 0; c < EC_N; c++)
        colstore_col_close(&ix->cols[c]);
    expo_manifest_free(&ix->m);
    free(ix);
}

static const expo_row *ix_rows(const exposure_index *ix)
{
    return (const expo_row *)ix->cols[EC_ROWS].base;
}

static const uint64_t *ix_dir(const exposure_index *ix)
{
    return (const uint64_t *)ix->cols[EC_DIR].base;
}

size_t exposure_n_categories(const exposure_index *ix)
{
    return ix->m.n_cats;
}

const char *exposure_category_name(const exposure_index *ix, uint32_t cat)
{
    return cat < ix->m.n_cats ? ix->m.cats[cat].name : "?";
}

uint32_t exposure_category_id(const exposure_index *ix, const char *name)
{
    return expo_cat_find(&ix->m, name);
}

uint64_t exposure_outputs_covered(const exposure_index *ix, const store *s)
{
    uint64_t o = store_get_totals(s)->outputs;
    return ix->m.outputs < o ? ix->m.outputs : o;
}

size_t exposure_output(const exposure_index *ix, uint64_t out, exposure_amount *amt, size_t cap,
                       uint32_t *stop_cat)
{
    uint64_t a, e;
    *stop_cat = EXPOSURE_NO_CAT;
    if (out >= ix->m.outputs) return 0;
    expo_find(ix_rows(ix), ix->m.rows[EC_ROWS], ix_dir(ix), ix->m.rows[EC_DIR], out, &a, &e);
    size_t n = 0;
    for (uint64_t i = a; i < e; i++) {
        const expo_row *r = &ix_rows(ix)[i];
        if (EXPO_TAG(r->key) == EXPO_TAG_STOP) {
            *stop_cat = (uint32_t)r->amount;
            continue;
        }
        if (n < cap) amt[n] = (exposure_amount){EXPO_TAG(r->key), r->amount, r->pred};
        n++;
    }
    return n;
}

void exposure_sum_outputs(const exposure_index *ix, const uint64_t *out, size_t n, uint64_t *sums)
{
    const expo_row *rows = ix_rows(ix);
    for (size_t k = 0; k < n; k++) {
        uint64_t a, e;
        if (out[k] >= ix->m.outputs) continue;
        expo_find(rows, ix->m.rows[EC_ROWS], ix_dir(ix), ix->m.rows[EC_DIR], out[k], &a, &e);
        for (uint64_t i = a; i < e; i++)
            if (EXPO_TAG(rows[i].key) != EXPO_TAG_STOP)
                sums[EXPO_TAG(rows[i].key)] += rows[i].amount;
    }
}

/* The row of output o in tag (a category, or EXPO_TAG_STOP), or NULL. */
static const expo_row *row_of(const exposure_index *ix, uint64_t o, uint32_t tag)
{
    if (o >= ix->m.outputs) return NULL;
    uint64_t a, e;
    const expo_row *rows = ix_rows(ix);
    expo_find(rows, ix->m.rows[EC_ROWS], ix_dir(ix), ix->m.rows[EC_DIR], o, &a, &e);
    for (uint64_t i = a; i < e; i++)
        if (EXPO_TAG(rows[i].key) == tag) return &rows[i];
    return NULL;
}

int exposure_walk(const exposure_index *ix, const store *s, uint64_t out, uint32_t cat,
                  uint64_t *path, size_t cap, size_t *len, uint64_t *src)
{
    *len = 0;
    if (cat >= ix->m.n_cats || !ix->m.cats[cat].tracked) return UTIL_ENOTFOUND;
    const expo_row *r = row_of(ix, out, cat);
    if (!r) return UTIL_ENOTFOUND;
    uint64_t o = out;
    /* pred always names an earlier output, so the walk ends: at a source, or at a row that
     * is missing (an index that does not fit the store) */
    while (*len < cap) {
        path[(*len)++] = store_output_tx(s, o);
        uint64_t p = r->pred;
        if (p >= o) return UTIL_ECORRUPT;
        const expo_row *st = row_of(ix, p, EXPO_TAG_STOP);
        if (st) {
            if (st->amount != cat) return UTIL_ECORRUPT; /* a stop passes on only its own */
            *src = p;
            return 0;
        }
        if (!(r = row_of(ix, p, cat))) return UTIL_ECORRUPT;
        o = p;
    }
    return EXPOSURE_PATH_LONGER;
}

int exposure_path(const exposure_index *ix, const store *s, const uint64_t *out, size_t n,
                  uint32_t cat, size_t max_steps, uint64_t **path, size_t *len, uint64_t *src,
                  util_err *err)
{
    *path = NULL, *len = 0;
    uint64_t best = 0, o = STORE_NONE;
    for (size_t k = 0; k < n; k++) {
        const expo_row *r = row_of(ix, out[k], cat);
        if (r && r->amount > best) best = r->amount, o = out[k];
    }
    if (o == STORE_NONE) return util_errf(err, UTIL_ENOTFOUND, "no output received this category");
    /* grown as the walk needs: paths are mostly short, and max_steps may be large */
    size_t cap = 64;
    for (;;) {
        size_t c = cap < max_steps ? cap : max_steps;
        uint64_t *p = malloc(c * sizeof *p);
        if (!p) return util_errf(err, UTIL_ENOMEM, "out of memory");
        int rc = exposure_walk(ix, s, o, cat, p, c, len, src);
        if (!rc) {
            *path = p;
            return 0;
        }
        free(p);
        *len = 0;
        if (rc != EXPOSURE_PATH_LONGER)
            return util_errf(err, UTIL_ENOTFOUND, "the index's path breaks off (rebuild it)");
        if (c == max_steps)
            return util_errf(err, UTIL_ENOTFOUND, "no source within %zu txs", max_steps);
        cap *= 4;
    }
}

/* ---- figures ---- */

size_t exposure_drops(const exposure_index *ix, exposure_drop *out, size_t cap)
{
    const expo_drop *d = (const expo_drop *)ix->cols[EC_DROPS].base;
    uint64_t n = ix->m.rows[EC_DROPS];
    for (uint64_t i = 0; i < n && i < cap; i++)
        out[i] = (exposure_drop){d[i].block, d[i].cat, d[i].kind, d[i].amount, d[i].shares};
    return (size_t)n;
}

void exposure_info_free(exposure_info *info)
{
    free(info->received);
    free(info->below_floor);
    free(info->below_floor_shares);
    free(info->unresolved);
    memset(info, 0, sizeof *info);
}

int exposure_get_info(const exposure_index *ix, exposure_info *info, util_err *err)
{
    memset(info, 0, sizeof *info);
    const expo_manifest *m = &ix->m;
    size_t nc = m->n_cats ? m->n_cats : 1;
    info->received = calloc(nc, sizeof *info->received);
    info->below_floor = calloc(nc, sizeof *info->below_floor);
    info->below_floor_shares = calloc(nc, sizeof *info->below_floor_shares);
    info->unresolved = calloc(nc, sizeof *info->unresolved);
    if (!info->received || !info->below_floor || !info->below_floor_shares || !info->unresolved) {
        exposure_info_free(info);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    info->floor = m->floor;
    info->generation = m->gen;
    info->blocks = m->blocks, info->txs = m->txs, info->outputs = m->outputs;
    info->addresses = m->addresses;
    memcpy(info->tip, m->tip, 32);
    info->n_categories = m->n_cats;
    info->stops = m->rows[EC_STOPS];
    const expo_row *rows = ix_rows(ix);
    uint64_t last = UINT64_MAX;
    for (uint64_t i = 0; i < m->rows[EC_ROWS]; i++) {
        uint32_t tag = EXPO_TAG(rows[i].key);
        if (EXPO_OUT(rows[i].key) != last) info->outputs_with_rows++;
        last = EXPO_OUT(rows[i].key);
        if (tag == EXPO_TAG_STOP) continue;
        info->rows++;
        if (tag < m->n_cats) info->received[tag] += rows[i].amount;
    }
    const expo_drop *d = (const expo_drop *)ix->cols[EC_DROPS].base;
    for (uint64_t i = 0; i < m->rows[EC_DROPS]; i++) {
        if (d[i].cat >= m->n_cats) continue;
        if (d[i].kind == EXPO_DROP_BELOW) {
            info->below_floor[d[i].cat] += d[i].amount;
            info->below_floor_shares[d[i].cat] += d[i].shares;
        } else {
            info->unresolved[d[i].cat] += d[i].amount;
        }
    }
    for (int c = 0; c < EC_N; c++)
        info->bytes += m->rows[c] * expo_col_widths[c];
    char path[4200];
    expo_file_path(path, sizeof path, ix->dir, "MANIFEST");
    struct stat st;
    if (stat(path, &st) == 0) info->bytes += (uint64_t)st.st_size;
    return 0;
}

/* ---- checking against a store state ---- */

int exposure_check(const exposure_index *ix, const store *s, const labels_db *labels,
                   const cluster_map *clusters, const char *const *order, size_t n_order,
                   exposure_state *state, util_err *err)
{
    const expo_manifest *m = &ix->m;
    const store_totals *t = store_get_totals(s);
    /* The chain: the index's last block (or, when it is ahead of this state of the store, its
     * block at the store's tip) must be the store's. */
    uint64_t h = m->blocks < t->blocks ? m->blocks : t->blocks;
    if (h) {
        uint8_t hash[32];
        if (colstore_col_pread(&ix->cols[EC_BLOCKS], hash, 32, (h - 1) * 32) ||
            memcmp(hash, store_block_hash(s, h - 1), 32)) {
            *state = EXPOSURE_FORKED;
            return 0;
        }
    }
    /* The stops: the same addresses under the same categories, for the addresses covered. */
    uint64_t limit = m->addresses < t->addresses ? m->addresses : t->addresses;
    expo_rstop *st = NULL;
    size_t n = 0;
    int rc = expo_stops_compute(s, labels, clusters, order, n_order, limit, &st, &n, err);
    if (rc) return rc;
    const expo_stop *have = (const expo_stop *)ix->cols[EC_STOPS].base;
    uint64_t nh = 0;
    while (nh < m->rows[EC_STOPS] && have[nh].addr < limit)
        nh++;
    int same = nh == n;
    for (size_t i = 0; i < n && same; i++)
        same = have[i].addr == st[i].addr && have[i].cat < m->n_cats &&
               !strcmp(m->cats[have[i].cat].name, order[st[i].rank]);
    free(st);
    if (!same)
        *state = EXPOSURE_STALE;
    else
        *state = m->blocks < t->blocks ? EXPOSURE_BEHIND : EXPOSURE_OK;
    return 0;
}
