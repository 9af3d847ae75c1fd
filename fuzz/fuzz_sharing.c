/* fuzz_sharing: STIX 2.1 bundles and MISP events. The first byte picks the format (bit 0: STIX
 * or MISP, bit 1: the content decides) and --chain (bit 2), the rest is the file. An import
 * either fails with a message naming a field, leaving the set empty, or gives labels that are
 * valid for their chain; and then the set written by each of cointrail's STIX and MISP writers
 * and imported again is the same set, field for field (the round trip the exports promise).
 * Seeds: tests/data/sharing/samples and small exports, with the format byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "labels/labels.h"
#include "sharing/sharing.h"

#include "fuzz_common.h"

static int import_fd(labels_db *db, int fd, const labels_import_opts *o, util_err *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    labels_import_result r;
    int rc = labels_import_file(db, path, o, &r, err);
    labels_import_result_free(&r);
    return rc;
}

static void round_trip(const labels_db *db, sharing_format f)
{
    size_t n = labels_db_count(db);
    const labels_label **v = malloc((n ? n : 1) * sizeof *v);
    FUZZ_ASSERT(v);
    for (size_t i = 0; i < n; i++)
        v[i] = labels_db_get(db, i);
    sharing_set s = {.labels = v, .n_labels = n, .now = 1700000000};
    int fd = memfd_create("fuzz_sharing_out", 0);
    FILE *out = fd >= 0 ? fdopen(dup(fd), "w") : NULL;
    util_err err = {0};
    FUZZ_ASSERT(out && sharing_write(out, f, &s, &err) == 0);
    fclose(out);
    labels_db *again;
    FUZZ_ASSERT(labels_db_open(&again, "/nonexistent/fuzz_sharing", 0, &err) == 0);
    labels_import_opts o = {0};
    int rc = import_fd(again, fd, &o, &err);
    if (rc) fprintf(stderr, "re-import of the %s export: %s\n", sharing_format_name(f), err.msg);
    FUZZ_ASSERT(rc == 0 && labels_db_count(again) == n);
    for (size_t i = 0; i < n; i++) {
        const labels_label *x = labels_db_get(db, i), *y = labels_db_get(again, i);
        const char *fx[] = {x->chain,      x->address,   x->category, x->actor,
                            x->name,       x->source,    x->url,      x->programs,
                            x->first_seen, x->last_seen, x->updated};
        const char *fy[] = {y->chain,      y->address,   y->category, y->actor,
                            y->name,       y->source,    y->url,      y->programs,
                            y->first_seen, y->last_seen, y->updated};
        for (size_t k = 0; k < sizeof fx / sizeof *fx; k++)
            FUZZ_ASSERT(!strcmp(fx[k], fy[k]));
        FUZZ_ASSERT(x->confidence == y->confidence);
    }
    labels_db_close(again);
    close(fd);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    labels_import_opts o = {.format = data[0] & 2   ? LABELS_FMT_AUTO
                                      : data[0] & 1 ? LABELS_FMT_MISP
                                                    : LABELS_FMT_STIX,
                            .chain = data[0] & 4 ? "btc" : NULL};
    if (o.format == LABELS_FMT_AUTO && (size < 2 || data[1] != '{')) return 0; /* other formats */
    int fd = memfd_create("fuzz_sharing", 0);
    if (fd < 0) return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    labels_db *db;
    util_err err = {0};
    FUZZ_ASSERT(labels_db_open(&db, "/nonexistent/fuzz_sharing", 0, &err) == 0);
    if (import_fd(db, fd, &o, &err)) {
        FUZZ_ASSERT(err.msg[0] && labels_db_count(db) == 0);
    } else {
        for (size_t i = 0; i < labels_db_count(db); i++) {
            const labels_label *l = labels_db_get(db, i);
            FUZZ_ASSERT(*l->chain && *l->address && *l->category);
            FUZZ_ASSERT(l->confidence >= 0 && l->confidence <= 100);
            const char *text[] = {l->category, l->actor, l->name, l->source, l->url, l->programs};
            for (size_t k = 0; k < sizeof text / sizeof *text; k++)
                FUZZ_ASSERT(labels_text_check(text[k], strlen(text[k]), k >= 1 && k <= 3, NULL) ==
                            strlen(text[k]));
        }
        round_trip(db, SHARING_STIX);
        round_trip(db, SHARING_MISP);
    }
    labels_db_close(db);
    close(fd);
    return 0;
}
