/* fuzz_labels_idx: DIR/labels.idx (src/labels/labels_index.c). A fixed labels.db (written once
 * by labels_db_save) and an index whose header the harness makes valid for it (magic, sizes,
 * the file's size, time and hash; the key count from the input's first two bytes) and whose
 * keys and pool are the rest of the input. The set opened LABELS_LAZY must answer every
 * look-up (each labelled address, absent ones, labels_find_any, labels_db_span on each
 * address's run) exactly as the same set read whole does, and never crash.
 * Seeds: fuzz/corpus/fuzz_labels_idx/ (the body of the valid index, and damaged copies). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "labels/labels.h"

#include "fuzz_common.h"

static char dir[64];
static labels_db *whole; /* labels.db read whole: the answers to match */
static uint8_t *db_text;
static size_t db_len;
static struct stat db_st;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/fuzz_labels_idx.XXXXXX");
    FUZZ_ASSERT(mkdtemp(dir));
    labels_db *db;
    util_err err = {0};
    FUZZ_ASSERT(labels_db_open(&db, dir, LABELS_WRITE, &err) == 0);
    static const char *const addrs[] = {
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"};
    labels_label v[16];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j <= i; j++)
            v[n++] = (labels_label){.chain = "btc",
                                    .address = (char *)addrs[i],
                                    .category = j ? "exchange" : "theft",
                                    .name = "a\tname\\with\nescapes",
                                    .source = j == 2 ? "s2" : "s",
                                    .confidence = (int)(10 * i + j)};
    v[n++] = (labels_label){.chain = "eth",
                            .address = "0x52908400098527886e0f7030069857d2e4169ee7",
                            .category = "mixer",
                            .source = "s"};
    FUZZ_ASSERT(labels_add(db, v, n, "fuzz", NULL, &err) == 0);
    FUZZ_ASSERT(labels_db_save(db, &err) == 0);
    labels_db_close(db);
    char path[128];
    /* FUZZ_SEED_OUT=FILE: write the valid index as an input (a seed) */
    const char *seed = getenv("FUZZ_SEED_OUT");
    if (seed) {
        uint8_t *ix;
        size_t len;
        snprintf(path, sizeof path, "%s/labels.idx", dir);
        FUZZ_ASSERT(util_read_file(path, &ix, &len, &err) == 0 && len >= 96);
        FILE *f = fopen(seed, "wb");
        FUZZ_ASSERT(f && fwrite(ix + 48, 1, 2, f) == 2 &&
                    fwrite(ix + 96, 1, len - 96, f) == len - 96);
        fclose(f);
        free(ix);
    }
    snprintf(path, sizeof path, "%s/labels.db", dir);
    FUZZ_ASSERT(util_read_file(path, &db_text, &db_len, &err) == 0);
    FUZZ_ASSERT(stat(path, &db_st) == 0);
    FUZZ_ASSERT(labels_db_open(&whole, dir, 0, &err) == 0);
}

static int same(const labels_label *a, size_t na, const labels_label *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        util_buf x = {0}, y = {0};
        labels_json_text(&a[i], &x);
        labels_json_text(&b[i], &y);
        int eq = x.len == y.len && !memcmp(x.data, y.data, x.len);
        util_buf_free(&x);
        util_buf_free(&y);
        if (!eq) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!whole) setup();
    if (size < 2) return 0;
    uint64_t n_keys = (uint64_t)data[0] | (uint64_t)data[1] << 8;
    data += 2, size -= 2;
    if (n_keys * 24 > size) return 0;
    uint8_t h[96] = {'C', 'T', 'L', 'B', 'L', 'I', 'X', '1'};
    util_put_le32(h + 8, 1);
    util_put_le32(h + 12, 24);
    util_put_le64(h + 16, (uint64_t)db_len);
    util_put_le64(h + 24, (uint64_t)db_st.st_mtim.tv_sec);
    util_put_le64(h + 32, (uint64_t)db_st.st_mtim.tv_nsec);
    util_put_le64(h + 40, labels_db_count(whole));
    util_put_le64(h + 48, n_keys);
    util_put_le64(h + 56, size - n_keys * 24);
    crypto_sha256(db_text, db_len, h + 64);
    char path[128];
    snprintf(path, sizeof path, "%s/labels.idx", dir);
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(h, 1, sizeof h, f) == sizeof h);
    FUZZ_ASSERT(size == 0 || fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);

    labels_db *lazy;
    util_err err = {0};
    FUZZ_ASSERT(labels_db_open(&lazy, dir, LABELS_LAZY, &err) == 0);
    FUZZ_ASSERT(labels_db_count(lazy) == labels_db_count(whole));
    const char *absent[][2] = {{"btc", "1"}, {"btc", "zz"}, {"aaa", "b"}, {"zzz", "z"}};
    for (size_t i = 0, c = labels_db_count(whole); i <= c; i++) {
        const labels_label *a, *b;
        size_t na, nb;
        const char *chain = i < c ? labels_db_get(whole, i)->chain : absent[0][0];
        const char *addr = i < c ? labels_db_get(whole, i)->address : absent[0][1];
        labels_find(lazy, chain, addr, &a, &na);
        labels_find(whole, chain, addr, &b, &nb);
        FUZZ_ASSERT(same(a, na, b, nb));
        /* the run starting here, and one label too many */
        if (i < c && nb && b == labels_db_get(whole, i)) {
            const labels_label *s = labels_db_span(lazy, i, nb);
            FUZZ_ASSERT(s && same(s, nb, b, nb));
            if (i + nb < c) FUZZ_ASSERT(labels_db_span(lazy, i, nb + 1) == NULL);
        }
        const labels_label *fa[8], *fb[8];
        labels_find_any(lazy, NULL, addr, fa, 8, &na);
        labels_find_any(whole, NULL, addr, fb, 8, &nb);
        FUZZ_ASSERT(na == nb);
        for (size_t k = 0; k < na && k < 8; k++)
            FUZZ_ASSERT(same(fa[k], 1, fb[k], 1));
    }
    for (size_t i = 1; i < sizeof absent / sizeof *absent; i++) {
        const labels_label *a;
        size_t na;
        labels_find(lazy, absent[i][0], absent[i][1], &a, &na);
        FUZZ_ASSERT(na == 0);
    }
    labels_db_close(lazy);
    return 0;
}
