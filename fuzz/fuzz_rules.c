/* fuzz_rules: the screening rules file (docs/screening.md). A load either succeeds with every
 * value in its documented range or fails with a message naming the file. Seeds:
 * fuzz/corpus/fuzz_rules/. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "risk/risk.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_rules", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    risk_config c;
    risk_config_default(&c);
    util_err err = {0};
    if (risk_config_load(&c, path, &err)) {
        FUZZ_ASSERT(strstr(err.msg, path) != NULL);
    } else {
        FUZZ_ASSERT(c.hops >= 1 && c.hops <= RISK_MAX_HOPS);
        FUZZ_ASSERT(c.hop_decay >= 0 && c.hop_decay <= 1);
        FUZZ_ASSERT(c.full_exposure_share > 0 && c.full_exposure_share <= 1);
        FUZZ_ASSERT(c.thresholds[0] <= c.thresholds[1] && c.thresholds[1] <= c.thresholds[2]);
        FUZZ_ASSERT(c.level_shares[0] >= 0 && c.level_shares[0] <= c.level_shares[1] &&
                    c.level_shares[1] <= c.level_shares[2] &&
                    c.level_shares[2] <= c.full_exposure_share);
        /* the share curve is defined, 0..1 and never falls, whatever the file said */
        double last = 0;
        for (int i = 0; i <= 40; i++) {
            double f = risk_share_factor(&c, i / 40.0);
            FUZZ_ASSERT(f >= 0 && f <= 1 && f >= last - 1e-12);
            last = f;
        }
        FUZZ_ASSERT(c.n_weights <= sizeof c.weights / sizeof *c.weights);
        for (size_t i = 0; i < c.n_weights; i++)
            FUZZ_ASSERT(c.weights[i].weight >= 0 && c.weights[i].weight <= 100 &&
                        c.weights[i].category[0]);
        json_decref(risk_config_json(&c));
    }
    close(fd);
    return 0;
}
