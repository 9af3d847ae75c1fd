/* fuzz_labels: label files. The first byte picks the format (CSV, OFAC list, TagPack, OFAC
 * XML), the rest is the file. An import either succeeds with every label valid for its chain
 * (non-empty chain and address, confidence 0..100, no terminal control characters, bounded
 * lengths, and found again by labels_find) or fails with a message, leaving the set empty.
 * Seeds: tests/data/labels/ with the format byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "labels/labels.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const labels_format fmts[] = {LABELS_FMT_CSV, LABELS_FMT_OFAC_LIST, LABELS_FMT_TAGPACK,
                                         LABELS_FMT_OFAC_XML};
    labels_import_opts o = {.format = fmts[data[0] % 4], .chain = data[0] & 4 ? "btc" : NULL};
    int fd = memfd_create("fuzz_labels", 0);
    if (fd < 0) return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    labels_db *db;
    util_err err = {0};
    /* a directory that does not exist: nothing is read or written there without a save */
    FUZZ_ASSERT(labels_db_open(&db, "/nonexistent/fuzz_labels", 0, &err) == 0);
    labels_import_result r;
    int rc = labels_import_file(db, path, &o, &r, &err);
    if (rc) {
        FUZZ_ASSERT(err.msg[0] && labels_db_count(db) == 0);
    } else {
        FUZZ_ASSERT(labels_db_count(db) <= r.n_read);
        for (size_t i = 0; i < labels_db_count(db); i++) {
            const labels_label *l = labels_db_get(db, i), *f;
            size_t n;
            FUZZ_ASSERT(*l->chain && *l->address && *l->category);
            FUZZ_ASSERT(l->confidence >= 0 && l->confidence <= 100);
            /* no terminal control characters (TAB and LF only in free text), bounded lengths */
            const char *text[] = {l->category, l->actor, l->name, l->source, l->url, l->programs};
            for (size_t k = 0; k < sizeof text / sizeof *text; k++)
                FUZZ_ASSERT(labels_text_check(text[k], strlen(text[k]), k >= 1 && k <= 3, NULL) ==
                            strlen(text[k]));
            FUZZ_ASSERT(strlen(l->category) <= LABELS_MAX_CATEGORY &&
                        strlen(l->actor) <= LABELS_MAX_TEXT &&
                        strlen(l->name) <= LABELS_MAX_NAMES * (LABELS_MAX_TEXT + 2) + 32);
            labels_find(db, l->chain, l->address, &f, &n);
            FUZZ_ASSERT(n >= 1 && f <= l && l < f + n);
            json_t *j = labels_to_json(l);
            FUZZ_ASSERT(j);
            json_decref(j);
        }
    }
    labels_import_result_free(&r);
    labels_db_close(db);
    close(fd);
    return 0;
}
