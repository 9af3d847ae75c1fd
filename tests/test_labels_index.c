/* labels.idx (src/labels/labels_index.c): a set opened LABELS_LAZY answers every look-up as a
 * linear scan over the lines of labels.db does (the oracle here splits the file itself: tabs,
 * newlines and the four escapes), for present and absent addresses, an address with many
 * labels, several chains and text that needs escaping; an empty set; a stale index (labels.db
 * replaced, or edited at the same size) and a damaged one (truncated, keys or pool overwritten,
 * offsets moved) are not trusted: the answers stay the scan's, nothing crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "../src/btc/btc.h"
#include "../src/labels/labels.h"
#include "check.h"

static char dir[64];
static int fell_back; /* sets opened lazily that found damage and read labels.db whole */

/* ---- the oracle: labels.db split by hand ---- */
typedef struct row {
    char *f[12]; /* the 11 text fields and confidence, unescaped */
} row;
typedef struct table {
    row *v;
    size_t n;
    char *text;
} table;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

static void unescape(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *w++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
        } else {
            *w++ = *s;
        }
    }
    *w = 0;
}

static void table_read(table *t)
{
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "%s/labels.db", dir);
    memset(t, 0, sizeof *t);
    t->text = slurp(path, &len);
    CHECK(t->text != NULL);
    if (!t->text) return;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += t->text[i] == '\n';
    t->v = calloc(lines + 1, sizeof *t->v);
    char *save = NULL;
    size_t ln = 0;
    for (char *line = strtok_r(t->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (ln++ < 2) continue;
        row *r = &t->v[t->n++];
        for (int i = 0; i < 12; i++) {
            r->f[i] = line;
            char *tab = strchr(line, '\t');
            if (tab) *tab = 0;
            unescape(r->f[i]);
            line = tab ? tab + 1 : line + strlen(line);
        }
    }
}

static void table_free(table *t)
{
    free(t->v);
    free(t->text);
}

/* The labels of (chain, address) against the rows of the scan. */
static int same_as_scan(const table *t, const char *chain, const char *address,
                        const labels_label *l, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        const row *r = &t->v[i];
        if (strcmp(r->f[0], chain) || strcmp(r->f[1], address)) continue;
        if (k >= n) return 0;
        const labels_label *x = &l[k++];
        const char *got[] = {x->chain,      x->address,   x->category, x->actor,
                             x->name,       x->source,    x->url,      x->programs,
                             x->first_seen, x->last_seen, x->updated};
        for (int f = 0; f < 11; f++)
            if (strcmp(got[f], r->f[f])) return 0;
        if (x->confidence != atoi(r->f[11])) return 0;
    }
    return k == n;
}

/* Every address of the table, a few absent ones (before, between, after the keys), all looked
 * up in db and compared with the scan; labels_db_span on each address's run too. */
static void check_all(const labels_db *db, const table *t, const char *what)
{
    int bad = 0;
    CHECK(labels_db_count(db) == t->n);
    for (size_t i = 0; i < t->n; i++) {
        const labels_label *f;
        size_t n;
        labels_find(db, t->v[i].f[0], t->v[i].f[1], &f, &n);
        if (!same_as_scan(t, t->v[i].f[0], t->v[i].f[1], f, n)) bad++;
        /* the run this row starts */
        if (i == 0 || strcmp(t->v[i].f[0], t->v[i - 1].f[0]) ||
            strcmp(t->v[i].f[1], t->v[i - 1].f[1])) {
            size_t j = i;
            while (j < t->n && !strcmp(t->v[j].f[0], t->v[i].f[0]) &&
                   !strcmp(t->v[j].f[1], t->v[i].f[1]))
                j++;
            const labels_label *sp = labels_db_span(db, i, j - i);
            if (!sp || !same_as_scan(t, t->v[i].f[0], t->v[i].f[1], sp, j - i)) bad++;
            if (j < t->n && labels_db_span(db, i, j - i + 1) != NULL) bad++; /* two addresses */
        }
        /* an address just after this one in the order, absent unless the next row has it */
        char next[160];
        snprintf(next, sizeof next, "%s!", t->v[i].f[1]);
        labels_find(db, t->v[i].f[0], next, &f, &n);
        if (!same_as_scan(t, t->v[i].f[0], next, f, n)) bad++;
    }
    const char *absent[][2] = {{"aaa", "x"}, {"btc", "0"}, {"zzz", "zzz"}, {"eth", "0x"}};
    for (size_t i = 0; i < 4; i++) {
        const labels_label *f;
        size_t n;
        labels_find(db, absent[i][0], absent[i][1], &f, &n);
        if (n) bad++;
    }
    CHECK(labels_db_span(db, t->n, 1) == NULL);
    if (bad) fprintf(stderr, "%s: %d look-ups differ from the scan\n", what, bad);
    CHECK(bad == 0);
}

/* n btc addresses (p2pkh of a counter) with k labels each when i % 7 == 3 (else 1), eth and a
 * chain with free-form addresses, names with tabs, newlines and backslashes. */
static void make_set(size_t n, size_t many)
{
    labels_db *db;
    util_err err = {0};
    CHECK(labels_db_open(&db, dir, LABELS_WRITE, &err) == 0);
    labels_label *v = calloc(n * 4 + many + 8, sizeof *v);
    char(*addr)[128] = calloc(n + 8, 128);
    char(*name)[64] = calloc(n * 4 + many + 8, 64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        btc_addr a = {.kind = BTC_ADDR_P2PKH, .len = 20};
        for (int b = 0; b < 20; b++)
            a.prog[b] = (uint8_t)((i * 2654435761u) >> (b % 4 * 8)) ^ (uint8_t)b;
        btc_addr_encode(addr[i], &a);
        size_t k = i % 7 == 3 ? 3 : 1;
        if (i == n / 2) k = many; /* one address with many labels */
        for (size_t j = 0; j < k; j++, m++) {
            snprintf(name[m], 64, "name %zu\t%zu\\x\ny", i, j);
            char src[32];
            snprintf(src, sizeof src, "src%zu", j);
            v[m] = (labels_label){.chain = "btc",
                                  .address = addr[i],
                                  .category = j % 2 ? "exchange" : "mixer",
                                  .name = name[m],
                                  .actor = i % 3 ? "" : "someone",
                                  .source = strdup(src),
                                  .confidence = (int)((i + j) % 101)};
        }
    }
    v[m++] = (labels_label){.chain = "eth",
                            .address = "0x52908400098527886E0F7030069857D2E4169EE7",
                            .category = "theft",
                            .source = "s",
                            .confidence = 70};
    v[m++] =
        (labels_label){.chain = "trx", .address = "TXabc\\def", .category = "scam", .source = "t"};
    labels_import_result r;
    CHECK(labels_add(db, v, m, "test", &r, &err) == 0);
    labels_import_result_free(&r);
    for (size_t i = 0; i < m; i++)
        if (strcmp(v[i].chain, "btc") == 0) free((char *)v[i].source);
    CHECK(labels_db_save(db, &err) == 0);
    labels_db_close(db);
    free(v);
    free(addr);
    free(name);
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, n, f) == n);
    if (f) fclose(f);
}

/* Open lazily, say whether it is lazy, and check every answer against the scan. */
static int open_and_check(const table *t, const char *what)
{
    labels_db *db;
    util_err err = {0};
    CHECK(labels_db_open(&db, dir, LABELS_LAZY, &err) == 0);
    int lazy = labels_db_is_lazy(db);
    check_all(db, t, what);
    fell_back += lazy && !labels_db_is_lazy(db);
    labels_db_close(db);
    return lazy;
}

static void test_lookups(void)
{
    make_set(800, 300);
    table t;
    table_read(&t);
    CHECK(t.n > 1100);
    CHECK(open_and_check(&t, "fresh index") == 1 && fell_back == 0);
    /* after a look-up a call that needs the whole set reads it: the same answers */
    labels_db *db;
    util_err err = {0};
    CHECK(labels_db_open(&db, dir, LABELS_LAZY, &err) == 0);
    const labels_label *f;
    size_t n;
    labels_find(db, t.v[5].f[0], t.v[5].f[1], &f, &n);
    CHECK(n >= 1);
    CHECK(labels_db_get(db, 0) != NULL && !labels_db_is_lazy(db));
    check_all(db, &t, "read whole after a look-up");
    labels_db_close(db);
    /* without the flag: read whole, the same answers */
    CHECK(labels_db_open(&db, dir, 0, &err) == 0);
    CHECK(!labels_db_is_lazy(db));
    check_all(db, &t, "no flag");
    labels_db_close(db);

    char ix[128], ldb[128];
    path_of(ix, sizeof ix, LABELS_INDEX_FILE);
    path_of(ldb, sizeof ldb, LABELS_FILE);
    size_t ilen, dlen;
    char *good = slurp(ix, &ilen), *text = slurp(ldb, &dlen);
    CHECK(good && text && ilen > 200);

    /* a copy (another modification time, same bytes): the hash decides, still lazy */
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK(utimes(ldb, tv) == 0);
    CHECK(open_and_check(&t, "copied labels.db") == 1);
    /* edited at the same size: not used */
    char *edit = malloc(dlen);
    memcpy(edit, text, dlen);
    char *p = strstr(edit, "mixer");
    memcpy(p, "mixes", 5);
    write_file(ldb, edit, dlen);
    table te;
    table_read(&te);
    CHECK(open_and_check(&te, "edited labels.db") == 0);
    table_free(&te);
    free(edit);
    write_file(ldb, text, dlen);
    CHECK(open_and_check(&t, "rewritten labels.db") == 1); /* same bytes, hash agrees */

    /* damaged indexes: never a crash, always the scan's answers */
    char *bad = malloc(ilen);
    size_t cuts[] = {0, 10, 95, 96, ilen / 2, ilen - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(ix, good, cuts[i]);
        CHECK(open_and_check(&t, "truncated index") == 0);
    }
    unsigned seed = 7;
    int lazy_runs = 0;
    for (int round = 0; round < 24; round++) {
        memcpy(bad, good, ilen);
        /* overwrite bytes past the header (keys: offsets, positions, counts; the pool) */
        int hits = 1 + round % 8;
        for (int h = 0; h < hits; h++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = 96 + (seed >> 8) % (ilen - 96);
            bad[at] = (char)(round & 1 ? bad[at] ^ (1 << (seed % 8)) : (char)(seed >> 3));
        }
        write_file(ix, bad, ilen);
        lazy_runs += open_and_check(&t, "damaged index");
    }
    CHECK(lazy_runs == 24); /* header intact: opened lazily, damage found per look-up */
    CHECK(fell_back >= 20); /* (a hit in a part no look-up reads goes unnoticed) */
    fell_back = 0;
    /* swapped keys (sorted order broken) */
    memcpy(bad, good, ilen);
    char tmp[24];
    memcpy(tmp, bad + 96 + 24 * 10, 24);
    memcpy(bad + 96 + 24 * 10, bad + 96 + 24 * 600, 24);
    memcpy(bad + 96 + 24 * 600, tmp, 24);
    write_file(ix, bad, ilen);
    CHECK(open_and_check(&t, "swapped keys") == 1 && fell_back == 1);
    /* a key dropped: the file shortened by one entry, the header's key count and pool fixed */
    {
        uint64_t nk, pl;
        memcpy(&nk, good + 48, 8);
        memcpy(&pl, good + 56, 8);
        size_t drop = 345;
        memcpy(bad, good, 96 + 24 * drop);
        memcpy(bad + 96 + 24 * drop, good + 96 + 24 * (drop + 1), ilen - 96 - 24 * (drop + 1));
        nk--;
        memcpy(bad + 48, &nk, 8);
        write_file(ix, bad, ilen - 24);
        CHECK(open_and_check(&t, "dropped key") == 1 && fell_back == 2);
    }
    /* a header for other sizes */
    memcpy(bad, good, ilen);
    bad[50] ^= 1;
    write_file(ix, bad, ilen);
    CHECK(open_and_check(&t, "bad header") == 0);
    /* no index at all: read whole */
    remove(ix);
    CHECK(open_and_check(&t, "no index") == 0);
    /* labels reindex writes it again, the same bytes */
    CHECK(labels_db_open(&db, dir, LABELS_WRITE, &err) == 0);
    CHECK(labels_db_reindex(db, &err) == 0);
    labels_db_close(db);
    size_t rlen;
    char *again = slurp(ix, &rlen);
    CHECK(again && rlen == ilen);
    CHECK(open_and_check(&t, "reindexed") == 1);
    free(again);
    free(bad);
    free(good);
    free(text);
    table_free(&t);
}

static void test_empty(void)
{
    labels_db *db;
    util_err err = {0};
    CHECK(labels_db_open(&db, dir, LABELS_WRITE, &err) == 0);
    CHECK(labels_db_save(db, &err) == 0);
    labels_db_close(db);
    CHECK(labels_db_open(&db, dir, LABELS_LAZY, &err) == 0);
    CHECK(labels_db_is_lazy(db));
    CHECK(labels_db_count(db) == 0);
    const labels_label *f, *any[4];
    size_t n;
    labels_find(db, "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", &f, &n);
    CHECK(n == 0);
    labels_find_any(db, NULL, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", any, 4, &n);
    CHECK(n == 0);
    CHECK(labels_db_span(db, 0, 1) == NULL);
    labels_db_close(db);
    /* no labels.db at all: an empty set, nothing lazy */
    char p[128];
    path_of(p, sizeof p, LABELS_FILE);
    remove(p);
    CHECK(labels_db_open(&db, dir, LABELS_LAZY, &err) == 0);
    CHECK(labels_db_count(db) == 0 && !labels_db_is_lazy(db));
    labels_db_close(db);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_labels_index.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_lookups();
    strcat(dir, "/empty"); /* a set of its own */
    test_empty();
    dir[strlen(dir) - 6] = 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
