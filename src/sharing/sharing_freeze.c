/* sharing: freeze requests. One packet per exchange (or OTC desk) the traced value reached: its
 * deposit addresses, the txs, amounts and block times of the deposits, and the chain of txs from
 * the incident's seed to each; as CSV (for the exchange's compliance tools) and as a printable
 * HTML letter (what a responder sends within hours). The letter is self-contained: no script,
 * nothing fetched (a Content-Security-Policy forbids both), every text that came from a label,
 * a case or an incident source escaped through util_html_escape. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sharing_int.h"

int sharing_freeze_category(const char *category)
{
    return !strcmp(category, "exchange") || !strcmp(category, "otc");
}

void sharing_btc8(char out[32], uint64_t sat)
{
    snprintf(out, 32, "%" PRIu64 ".%08" PRIu64, sat / 100000000u, sat % 100000000u);
}

int sharing_freeze_packets(const sharing_built *b, sharing_packet **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    for (size_t i = 0; i < b->n_deposits;) {
        size_t j = i;
        while (j < b->n_deposits && !strcmp(b->deposits[j].actor, b->deposits[i].actor) &&
               !strcmp(b->deposits[j].chain, b->deposits[i].chain))
            j++;
        /* the deposits of one actor are contiguous; a packet is the run of them whose stop
         * category is one a freeze request goes to (an actor that is an exchange on one address
         * and something else on another keeps only its exchange deposits, still contiguous in
         * time order within the run) */
        size_t first = SIZE_MAX, cnt = 0;
        uint64_t value = 0, traced = 0;
        for (size_t k = i; k < j; k++)
            if (sharing_freeze_category(b->deposits[k].category)) {
                if (first == SIZE_MAX) first = k;
                cnt = k - first + 1;
            }
        for (size_t k = first; first != SIZE_MAX && k < first + cnt; k++)
            if (sharing_freeze_category(b->deposits[k].category) &&
                !strcmp(b->deposits[k].chain, "btc"))
                value += b->deposits[k].value, traced += b->deposits[k].traced;
        if (cnt) {
            if (*n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                sharing_packet *v = realloc(*out, nc * sizeof *v);
                if (!v) {
                    free(*out);
                    *out = NULL, *n = 0;
                    return UTIL_ENOMEM;
                }
                *out = v, cap = nc;
            }
            (*out)[(*n)++] = (sharing_packet){
                b->deposits[i].actor, b->deposits[first].category, first, cnt, value, traced,
                b->deposits[i].chain};
        }
        i = j;
    }
    return 0;
}

/* ---- CSV ---- */

static void csv_cell(FILE *f, const char *s)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL || strchr("=+-@\t\r", s[0]) != NULL;
    if (!quote) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    if (*s && strchr("=+-@\t\r", s[0])) putc('\'', f); /* a spreadsheet would run it */
    for (const char *p = s; *p; p++) {
        if (*p == '"') putc('"', f);
        putc(*p, f);
    }
    putc('"', f);
}

static void utc(char out[32], int64_t t)
{
    sharing_ts(out, t);
    out[19] = 'Z', out[20] = 0;
}

/* Whether a deposit counts toward a packet (its stop category is a freeze one). */
static int in_packet(const sharing_deposit *d)
{
    return sharing_freeze_category(d->category);
}

static int check(FILE *f, util_err *err, const char *what)
{
    if (ferror(f) || fflush(f))
        return util_errf(err, UTIL_EIO, "writing the %s: %s", what, strerror(errno ? errno : EIO));
    return 0;
}

/* base units as a decimal of the asset's decimals; "" when they are unknown. */
static void dec_text(char *out, size_t cap, const char *base, int decimals)
{
    if (decimals < 0 || sharing_amount(out, cap, base, decimals)) out[0] = 0;
}

/* ---- per-asset sums (EVM packets: amounts exceed 64 bits) ---- */

typedef struct asset_sum {
    const sharing_deposit *d; /* the first deposit of the asset (its symbol, decimals) */
    evm_u256 amount, traced;
} asset_sum;

/* The sums per asset of a packet's deposits into v (cap entries; the rest are summed into
 * none: a packet reaching more assets than cap shows the first ones). Returns the count. */
static size_t asset_sums(const sharing_built *b, const sharing_packet *p, asset_sum *v, size_t cap)
{
    size_t n = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        size_t k = 0;
        while (k < n && strcmp(v[k].d->asset, d->asset))
            k++;
        if (k == n) {
            if (n == cap) continue;
            v[n++] = (asset_sum){.d = d};
        }
        evm_u256 a, t;
        if (!evm_u256_parse(&a, d->amount, strlen(d->amount), NULL))
            evm_u256_add(&v[k].amount, &v[k].amount, &a);
        if (!evm_u256_parse(&t, d->traced_amount, strlen(d->traced_amount), NULL))
            evm_u256_add(&v[k].traced, &v[k].traced, &t);
    }
    return n;
}

/* "AMOUNT SYMBOL" (decimal when the decimals are known, else base units and the asset). */
static void sum_text(char *out, size_t cap, const asset_sum *a, const evm_u256 *v)
{
    char base[EVM_U256_DEC_MAX], dec[128];
    evm_u256_format(base, v);
    dec_text(dec, sizeof dec, base, a->d->decimals);
    if (*dec)
        snprintf(out, cap, "%s %s", dec, *a->d->symbol ? a->d->symbol : a->d->asset);
    else
        snprintf(out, cap, "%s base units of %s", base, a->d->asset);
}

static void path_cell(FILE *f, const sharing_deposit *d)
{
    util_buf path = {0};
    for (size_t k = 0; k < d->path_len; k++)
        util_buf_printf(&path, "%s%s", k ? " > " : "", d->path[k]);
    util_buf_append(&path, "", 1);
    csv_cell(f, path.data ? (const char *)path.data : "");
    util_buf_free(&path);
}

static int packet_csv_evm(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err)
{
    fputs("exchange,category,chain,deposit_address,from_address,txid,log_index,block_number,"
          "block_time,asset,symbol,decimals,amount,amount_base,traced,traced_base,share,run,"
          "path\r\n",
          f);
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        char t[32], a[128], tr[128], li[24] = "";
        utc(t, d->time);
        dec_text(a, sizeof a, d->amount, d->decimals);
        dec_text(tr, sizeof tr, d->traced_amount, d->decimals);
        if (d->log_index >= 0) snprintf(li, sizeof li, "%" PRId64, d->log_index);
        const char *cells[] = {d->actor, d->category, d->chain, d->address, d->from, d->txid};
        for (size_t k = 0; k < 6; k++)
            csv_cell(f, cells[k]), putc(',', f);
        fprintf(f, "%s,%" PRId64 ",%s,", li, d->height, t);
        csv_cell(f, d->asset);
        putc(',', f);
        csv_cell(f, d->symbol);
        fprintf(f, ",%d,%s,%s,%s,%s,", d->decimals, a, d->amount, tr, d->traced_amount);
        csv_cell(f, d->share);
        fprintf(f, ",%" PRId64 ",", d->run_id);
        path_cell(f, d);
        fputs("\r\n", f);
    }
    return check(f, err, "freeze CSV");
}

int sharing_freeze_csv(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err)
{
    if (strcmp(p->chain, "btc")) return packet_csv_evm(f, b, p, err);
    fputs("exchange,category,deposit_address,txid,vout,block_height,block_time,amount_btc,"
          "amount_sat,traced_btc,traced_sat,share,run,path\r\n",
          f);
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        char t[32], a[32], tr[32];
        utc(t, d->time);
        sharing_btc8(a, d->value);
        sharing_btc8(tr, d->traced);
        csv_cell(f, d->actor);
        putc(',', f);
        csv_cell(f, d->category);
        putc(',', f);
        csv_cell(f, d->address);
        fprintf(f, ",%s,%" PRIu32 ",%" PRId64 ",%s,%s,%" PRIu64 ",%s,%" PRIu64 ",", d->txid,
                d->vout, d->height, t, a, d->value, tr, d->traced);
        csv_cell(f, d->share);
        fprintf(f, ",%" PRId64 ",", d->run_id);
        util_buf path = {0};
        for (size_t k = 0; k < d->path_len; k++)
            util_buf_printf(&path, "%s%s", k ? " > " : "", d->path[k]);
        util_buf_append(&path, "", 1);
        csv_cell(f, path.data ? (const char *)path.data : "");
        util_buf_free(&path);
        fputs("\r\n", f);
    }
    return check(f, err, "freeze CSV");
}

int sharing_freeze_index_csv(FILE *f, const sharing_built *b, const sharing_packet *p, size_t n,
                             const char *const *dirs, util_err *err)
{
    (void)b;
    fputs("exchange,category,deposits,amount_sat,amount_btc,traced_sat,traced_btc,folder,chain,"
          "traced\r\n",
          f);
    for (size_t i = 0; i < n; i++) {
        char a[32], tr[32];
        size_t deps = 0;
        for (size_t k = p[i].first; k < p[i].first + p[i].n; k++)
            deps += in_packet(&b->deposits[k]);
        sharing_btc8(a, p[i].value);
        sharing_btc8(tr, p[i].traced);
        csv_cell(f, p[i].actor);
        putc(',', f);
        csv_cell(f, p[i].category);
        int btc = !strcmp(p[i].chain, "btc");
        if (btc)
            fprintf(f, ",%zu,%" PRIu64 ",%s,%" PRIu64 ",%s,", deps, p[i].value, a, p[i].traced, tr);
        else /* EVM: the satoshi columns do not apply; "traced" has the sums per asset */
            fprintf(f, ",%zu,,,,,", deps);
        csv_cell(f, dirs[i]);
        putc(',', f);
        csv_cell(f, p[i].chain);
        putc(',', f);
        asset_sum v[16];
        size_t na = asset_sums(b, &p[i], v, 16);
        util_buf t = {0};
        for (size_t k = 0; k < na; k++) {
            char one[256];
            sum_text(one, sizeof one, &v[k], &v[k].traced);
            util_buf_printf(&t, "%s%s", k ? "; " : "", one);
        }
        util_buf_append(&t, "", 1);
        csv_cell(f, t.data ? (const char *)t.data : "");
        util_buf_free(&t);
        fputs("\r\n", f);
    }
    return check(f, err, "freeze index");
}

/* ---- HTML ---- */

#define E(s) util_html_escape(f, s)

static void head(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>",
          f);
    E(title);
    fputs("</title>\n<style>\n"
          "body{font:11pt/1.4 Georgia,serif;max-width:60em;margin:2em auto;color:#111}\n"
          "h1{font-size:16pt}h2{font-size:13pt;margin-top:1.5em}\n"
          "table{border-collapse:collapse;width:100%;font:9pt/1.3 monospace}\n"
          "th,td{border:1px solid #999;padding:2px 4px;text-align:left;vertical-align:top}\n"
          "td.n{text-align:right;white-space:nowrap}.w{word-break:break-all}\n"
          "p.meta{color:#444;font-size:9pt}\n"
          "@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}\n"
          "</style></head><body>\n",
          f);
}

static void incident_block(FILE *f, const sharing_built *b)
{
    const sharing_incident *in = &b->incident;
    fputs("<h2>The incident</h2>\n<table>\n<tr><th>Reference</th><td>", f);
    E(in->key);
    fputs("</td></tr>\n<tr><th>Name</th><td>", f);
    E(in->name);
    fputs("</td></tr>\n", f);
    if (*in->date) {
        fputs("<tr><th>Date</th><td>", f);
        E(in->date);
        fputs("</td></tr>\n", f);
    }
    if (*in->description) {
        fputs("<tr><th>Summary</th><td>", f);
        E(in->description);
        fputs("</td></tr>\n", f);
    }
    for (size_t i = 0; i < in->n_attrs; i++) {
        const sharing_attribution *a = &in->attrs[i];
        fputs("<tr><th>Attributed to</th><td>", f);
        E(a->actor);
        if (*a->by) fputs(" by ", f), E(a->by);
        if (*a->date) fputs(" on ", f), E(a->date);
        if (a->confidence >= 0) fprintf(f, " (confidence %d/100)", a->confidence);
        if (*a->url) fputs("<br><span class=\"w\">", f), E(a->url), fputs("</span>", f);
        fputs("</td></tr>\n", f);
    }
    for (size_t i = 0; i < in->n_urls; i++) {
        fputs("<tr><th>Source</th><td class=\"w\">", f);
        E(in->urls[i]); /* as text: a link would be something the page fetches or opens */
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void producer_line(FILE *f, const sharing_built *b)
{
    char ts[32];
    utc(ts, b->set.now);
    fputs("<p class=\"meta\">Prepared by ", f);
    E(b->set.producer ? b->set.producer : SHARING_PRODUCER);
    fprintf(f,
            " on %s with cointrail from the blockchain as recorded in its store. Amounts are "
            "exact: BTC with 8 decimals and satoshis. ",
            ts);
    fputs("<em>Traced</em> is the part of a deposit that the trace attributes to the stolen funds "
          "under the run's policy; the <em>path</em> is a chain of transactions from the "
          "incident's seed output to the deposit, each spending an output of the one before."
          "</p>\n",
          f);
}

/* A packet's deposits and its distinct deposit addresses. */
static void packet_counts(const sharing_built *b, const sharing_packet *p, size_t *deps,
                          size_t *addrs)
{
    *deps = *addrs = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        if (!in_packet(&b->deposits[i])) continue;
        ++*deps;
        size_t k = p->first;
        while (k < i && (!in_packet(&b->deposits[k]) ||
                         strcmp(b->deposits[k].address, b->deposits[i].address)))
            k++;
        *addrs += k == i;
    }
}

/* An EVM packet's letter: amounts per asset with its decimals and in base units. */
static int letter_evm(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err)
{
    size_t deps, addrs;
    packet_counts(b, p, &deps, &addrs);
    fputs("<h1>Request to freeze deposits of stolen funds</h1>\n<p>To: the compliance team of <b>",
          f);
    E(p->actor);
    fputs("</b> (", f);
    E(p->category);
    fprintf(f,
            ")</p>\n<p>Funds stolen in the incident described below reached %zu deposit "
            "address(es) at your service on %s in %zu transfer(s); traced to the theft: ",
            addrs, strcmp(p->chain, "eth") ? p->chain : "Ethereum", deps);
    asset_sum v[16];
    size_t na = asset_sums(b, p, v, 16);
    for (size_t k = 0; k < na; k++) {
        char one[256], base[EVM_U256_DEC_MAX];
        sum_text(one, sizeof one, &v[k], &v[k].traced);
        evm_u256_format(base, &v[k].traced);
        fputs(k ? "; " : "", f);
        E(one);
        fprintf(f, " (%s base units)", base);
    }
    fputs(". We ask you to freeze the accounts these addresses belong to, preserve their records, "
          "and contact us.</p>\n",
          f);
    incident_block(f, b);
    fputs("<h2>Deposits</h2>\n<table>\n<tr><th>#</th><th>Deposit address</th><th>From</th>"
          "<th>Transaction (log index)</th><th>Block, time (UTC)</th><th>Asset</th>"
          "<th>Amount</th><th>Traced</th><th>Traced, base units</th></tr>\n",
          f);
    size_t row = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        char ts[32], a[128], tr[128];
        utc(ts, d->time);
        dec_text(a, sizeof a, d->amount, d->decimals);
        dec_text(tr, sizeof tr, d->traced_amount, d->decimals);
        fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"w\">", ++row);
        E(d->address);
        fputs("</td><td class=\"w\">", f);
        E(d->from);
        fputs("</td><td class=\"w\">", f);
        E(d->txid);
        if (d->log_index >= 0) fprintf(f, " (log %" PRId64 ")", d->log_index);
        fprintf(f, "</td><td>%" PRId64 "<br>%s</td><td class=\"w\">", d->height, ts);
        E(*d->symbol ? d->symbol : d->asset);
        if (strcmp(d->asset, d->symbol)) fputs("<br>", f), E(d->asset);
        fputs("</td><td class=\"n\">", f);
        E(*a ? a : d->amount);
        fputs("</td><td class=\"n\">", f);
        E(*tr ? tr : d->traced_amount);
        fputs("</td><td class=\"n\">", f);
        E(d->traced_amount);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h2>Paths from the incident</h2>\n<table>\n<tr><th>#</th><th>From the "
          "seed transfer's transaction to the deposit's</th><th>Trace run</th></tr>\n",
          f);
    row = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"w\">", ++row);
        for (size_t k = 0; k < d->path_len; k++) {
            if (k) fputs(" &rarr; ", f);
            E(d->path[k]);
        }
        fprintf(f, " (%zu transaction(s))</td><td>%" PRId64, d->path_len, d->run_id);
        if (strcmp(d->share, "1")) fputs(", share ", f), E(d->share);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    char ts[32];
    utc(ts, b->set.now);
    fputs("<p class=\"meta\">Prepared by ", f);
    E(b->set.producer ? b->set.producer : SHARING_PRODUCER);
    fprintf(f,
            " on %s with cointrail from the blockchain as recorded in its store. Amounts are "
            "exact: in the asset's decimals and in base units (wei for ETH). ",
            ts);
    fputs("<em>Traced</em> is the part of a deposit transfer that the trace attributes to the "
          "stolen funds under the run's policy; the <em>path</em> is a chain of transactions "
          "from the incident's seed transfer to the deposit, each moving value its sender had "
          "received tainted in the one before.</p>\n</body></html>\n",
          f);
    return check(f, err, "freeze letter");
}

int sharing_freeze_html(FILE *f, const sharing_built *b, const sharing_packet *p, util_err *err)
{
    if (strcmp(p->chain, "btc")) {
        util_buf t = {0};
        util_buf_printf(&t, "Request to freeze deposits: %s", p->actor);
        util_buf_append(&t, "", 1);
        head(f, t.data ? (const char *)t.data : "Request to freeze deposits");
        util_buf_free(&t);
        return letter_evm(f, b, p, err);
    }
    util_buf t = {0};
    util_buf_printf(&t, "Request to freeze deposits: %s", p->actor);
    util_buf_append(&t, "", 1);
    head(f, t.data ? (const char *)t.data : "Request to freeze deposits");
    util_buf_free(&t);
    char v[32], tr[32];
    sharing_btc8(v, p->value);
    sharing_btc8(tr, p->traced);
    size_t deps, addrs;
    packet_counts(b, p, &deps, &addrs);
    fputs("<h1>Request to freeze deposits of stolen funds</h1>\n<p>To: the compliance team of <b>",
          f);
    E(p->actor);
    fputs("</b> (", f);
    E(p->category);
    fprintf(f,
            ")</p>\n<p>Funds stolen in the incident described below reached %zu deposit "
            "address(es) at your service in %zu transaction output(s): %s BTC (%" PRIu64
            " satoshis) in those outputs, of which %s BTC (%" PRIu64
            " satoshis) traced to the theft. We ask you to freeze the accounts these "
            "addresses belong to, preserve their records, and contact us.</p>\n",
            addrs, deps, v, p->value, tr, p->traced);
    incident_block(f, b);
    fputs("<h2>Deposits</h2>\n<table>\n<tr><th>#</th><th>Deposit address</th><th>Transaction "
          "(output)</th><th>Block, time (UTC)</th><th>Amount BTC</th><th>Satoshis</th>"
          "<th>Traced satoshis</th></tr>\n",
          f);
    size_t row = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        char ts[32], a[32];
        utc(ts, d->time);
        sharing_btc8(a, d->value);
        fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"w\">", ++row);
        E(d->address);
        fputs("</td><td class=\"w\">", f);
        E(d->txid);
        fprintf(f,
                ":%" PRIu32 "</td><td>%" PRId64 "<br>%s</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                d->vout, d->height, ts, a, d->value, d->traced);
    }
    fputs("</table>\n<h2>Paths from the incident</h2>\n<table>\n<tr><th>#</th><th>From the "
          "seed output to the deposit transaction</th><th>Trace run</th></tr>\n",
          f);
    row = 0;
    for (size_t i = p->first; i < p->first + p->n; i++) {
        const sharing_deposit *d = &b->deposits[i];
        if (!in_packet(d)) continue;
        fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"w\">", ++row);
        for (size_t k = 0; k < d->path_len; k++) {
            if (k) fputs(" &rarr; ", f);
            E(d->path[k]);
        }
        fprintf(f, " (%zu transaction(s))</td><td>%" PRId64, d->path_len ? d->path_len - 1 : 0,
                d->run_id);
        if (strcmp(d->share, "1")) fputs(", share ", f), E(d->share);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    producer_line(f, b);
    fputs("</body></html>\n", f);
    return check(f, err, "freeze letter");
}

int sharing_freeze_index_html(FILE *f, const sharing_built *b, const sharing_packet *p, size_t n,
                              const char *const *dirs, util_err *err)
{
    head(f, "Freeze requests");
    fputs("<h1>Freeze requests</h1>\n", f);
    fprintf(f,
            "<p>%zu exchange(s) or OTC desk(s) received funds traced from this incident. Each "
            "folder holds a letter (letter.html) and the deposits as CSV (deposits.csv).</p>\n",
            n);
    incident_block(f, b);
    fputs("<h2>Packets</h2>\n<table>\n<tr><th>Exchange</th><th>Category</th><th>Deposits</th>"
          "<th>Amount BTC</th><th>Traced (BTC, or per asset)</th><th>Folder</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        char a[32], tr[32];
        size_t deps = 0;
        for (size_t k = p[i].first; k < p[i].first + p[i].n; k++)
            deps += in_packet(&b->deposits[k]);
        sharing_btc8(a, p[i].value);
        sharing_btc8(tr, p[i].traced);
        fputs("<tr><td>", f);
        E(p[i].actor);
        fputs("</td><td>", f);
        E(p[i].category);
        fprintf(f, "</td><td class=\"n\">%zu</td>", deps);
        if (!strcmp(p[i].chain, "btc"))
            fprintf(f, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td>", a, tr);
        else { /* EVM: the sums per asset, in the traced column */
            asset_sum v[16];
            size_t na = asset_sums(b, &p[i], v, 16);
            fputs("<td class=\"n\">-</td><td class=\"n\">", f);
            for (size_t k = 0; k < na; k++) {
                char one[256];
                sum_text(one, sizeof one, &v[k], &v[k].traced);
                fputs(k ? "; " : "", f);
                E(one);
            }
            fputs(" (", f), E(p[i].chain), fputs(")</td><td>", f);
        }
        E(dirs[i]);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (b->warnings.data && *(const char *)b->warnings.data) {
        fputs("<h2>Notes</h2>\n<pre>", f);
        E((const char *)b->warnings.data);
        fputs("</pre>\n", f);
    }
    producer_line(f, b);
    fputs("</body></html>\n", f);
    return check(f, err, "freeze index");
}
