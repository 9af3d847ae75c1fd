/* gen_incidents: the scenarios as an investigator's incident list (DIR/incidents.csv): who is
 * said to have done it, when, from whom, how much, and the stolen outputs to trace from, in the
 * CSV format `cointrail incident import` reads (docs/incidents.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

/* The actors the scenarios are attributed to, in turn: names under which DPRK thefts have been
 * attributed publicly (data/incidents). */
static const char *const actors[] = {"Lazarus Group", "TraderTraitor", "APT38"};

const char *gen_scen_actor(uint32_t k)
{
    return actors[k % (sizeof actors / sizeof *actors)];
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

void gen_scen_date(const gen *g, uint32_t height, char out[11])
{
    const gen_config *c = &g->cfg;
    /* the year the chain imitates at this height (as g->era is set per block) */
    double era = c->blocks > 1
                     ? c->era_start + (c->era_end - c->era_start) * height / (c->blocks - 1)
                     : c->era_start;
    int y = (int)floor(era), days = leap(y) ? 366 : 365;
    int d = (int)floor((era - y) * days);
    if (d >= days) d = days - 1;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int m = 0;
    while (m < 11 && d >= mdays[m] + (m == 1 && leap(y))) {
        d -= mdays[m] + (m == 1 && leap(y));
        m++;
    }
    char t[48];
    snprintf(t, sizeof t, "%04d-%02d-%02d", y, m + 1, d + 1);
    memcpy(out, t, 10);
    out[10] = 0;
}

/* A CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
static int field(FILE *f, const char *s, int last)
{
    int bad = 0;
    if (strpbrk(s, ",\"\r\n")) {
        bad |= fputc('"', f) == EOF;
        for (const char *p = s; *p; p++)
            bad |= (*p == '"' ? fputs("\"\"", f) : fputc(*p, f)) == EOF;
        bad |= fputc('"', f) == EOF;
    } else
        bad |= fputs(s, f) == EOF;
    bad |= fputc(last ? '\n' : ',', f) == EOF;
    return bad;
}

int gen_write_incidents(gen *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/incidents.csv", g->cfg.out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return util_errf(g->err, UTIL_EIO, "%s: cannot create: %s", path, strerror(errno));
    int bad = fputs("id,date,victim,chains,amount_native,attribution,attributed_by,"
                    "attribution_kind,confidence,notes,seeds\n",
                    f) == EOF;
    util_buf seeds = {0}, amounts = {0};
    for (uint32_t k = 0; k < g->n_scen && !bad; k++) {
        const gen_scen *s = &g->scen[k];
        if (!s->theft_done || s->victim == GEN_NONE || s->stolen <= 0) continue;
        int evm = k >= g->cfg.scenarios;
        seeds.len = amounts.len = 0;
        char id[32], date[11], notes[160], chains[32];
        snprintf(id, sizeof id, "scenario-%u", k + 1);
        gen_scen_date(g, s->start, date);
        if (evm) {
            if (gen_evm_incident(g, k, &seeds, &amounts)) {
                bad = 1;
                break;
            }
            snprintf(chains, sizeof chains, "ethereum;bitcoin");
            snprintf(notes, sizeof notes,
                     "EVM scenario %u of the generated chain (seed %llu): the theft txs on eth, "
                     "continued in Bitcoin from height %u",
                     k - g->cfg.scenarios + 1, (unsigned long long)g->cfg.seed, s->start);
        } else {
            for (uint32_t i = 0; i < s->n_sources && !bad; i++) {
                char h[65];
                util_hash_hex(h, s->sources[i]);
                bad = util_buf_printf(&seeds, "%s%s:%u", i ? ";" : "", h,
                                      util_le32(s->sources[i] + 32)) != 0;
            }
            bad |= util_buf_printf(&amounts, "%lld.%08lld BTC", (long long)(s->stolen / 100000000),
                                   (long long)(s->stolen % 100000000)) != 0;
            snprintf(chains, sizeof chains, "bitcoin");
            snprintf(notes, sizeof notes,
                     "scenario %u of the generated chain (seed %llu), stolen at height %u", k + 1,
                     (unsigned long long)g->cfg.seed, s->start);
        }
        if (bad || util_buf_append(&seeds, "", 1) || util_buf_append(&amounts, "", 1)) {
            bad = 1;
            break;
        }
        bad |= field(f, id, 0) | field(f, date, 0) | field(f, g->ents[s->victim].name, 0);
        bad |= field(f, chains, 0) | field(f, (const char *)amounts.data, 0);
        bad |= field(f, gen_scen_actor(k), 0) | field(f, "cointrail generate (truth)", 0);
        bad |= field(f, "generator", 0) | field(f, "100", 0) | field(f, notes, 0);
        bad |= field(f, (const char *)seeds.data, 1);
    }
    util_buf_free(&seeds);
    util_buf_free(&amounts);
    if (fclose(f) || bad)
        return util_errf(g->err, UTIL_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
