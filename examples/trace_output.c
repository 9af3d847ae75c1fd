/* trace_output: look up an output in a cointrail store and print where its funds went (and
 * came from), by label category, through the public API only.
 *
 *   cc -o trace_output trace_output.c $(pkg-config --cflags --libs cointrail)
 *   ./trace_output DB TXID:N      (or TXID for all its outputs, or an address)
 *
 * Output is plain "key value" lines, easy to compare with `cointrail tx --json` and
 * `cointrail screen --json` (tests/e2e_libapi.sh does). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cointrail.h>

static int print_exposure(const ct_store *s, const char *spec, int direction)
{
    ct_exposure_opts opts;
    ct_exposure_opts_init(&opts, CT_EXPOSURE_OPTS_VERSION);
    opts.direction = direction;
    ct_exposure *x;
    ct_error err;
    if (ct_trace_exposure(&x, s, spec, &opts, &err)) {
        fprintf(stderr, "trace_output: %s (%s)\n", err.message, ct_error_code_name(err.code));
        return err.code == CT_ENOTFOUND ? 3 : 1;
    }
    const char *d = direction == CT_FORWARD ? "outgoing" : "incoming";
    printf("%s seeded %" PRIu64 " to_endpoints %" PRIu64 " partial %d\n", d, x->seeded,
           x->to_endpoints, x->partial);
    for (size_t i = 0; i < x->n_categories; i++) {
        const ct_exposure_category *c = &x->categories[i];
        printf("%s category %s amount %" PRIu64 " endpoints %u hops %u nearest %s %" PRIu64 "\n", d,
               c->category, c->amount, c->endpoints, c->hops,
               c->nearest_address[0] ? c->nearest_address : "-", c->nearest_amount);
    }
    ct_exposure_free(x);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: trace_output DB TXID:N|TXID|ADDRESS\n");
        return 2;
    }
    int major, minor, patch;
    ct_version(&major, &minor, &patch);
    printf("library %d.%d.%d headers %s\n", major, minor, patch, CT_VERSION);

    ct_store *s;
    ct_error err;
    if (ct_store_open(&s, argv[1], &err)) {
        fprintf(stderr, "trace_output: %s\n", err.message);
        return 1;
    }
    ct_store_totals t;
    ct_store_stats(&t, s);
    printf("store blocks %" PRIu64 " txs %" PRIu64 " outputs %" PRIu64 " labels %" PRIu64
           " clustered %d\n",
           t.blocks, t.txs, t.outputs, t.labels, t.clustered);

    /* The tx part of the spec, if it is one: 64 hex digits, optionally ":N". */
    char txid[CT_HASH_HEX_SIZE] = "";
    const char *colon = strchr(argv[2], ':');
    size_t len = colon ? (size_t)(colon - argv[2]) : strlen(argv[2]);
    if (len == 64) {
        memcpy(txid, argv[2], 64);
        txid[64] = 0;
    }
    int rc = 0;
    if (txid[0]) {
        ct_tx *tx;
        if (ct_tx_lookup(&tx, s, txid, &err)) {
            fprintf(stderr, "trace_output: %s\n", err.message);
            ct_store_close(s);
            return err.code == CT_ENOTFOUND ? 3 : 1;
        }
        printf("tx %s height %" PRIu64 " coinbase %d fee %" PRId64 " output_value %" PRId64 "\n",
               tx->txid, tx->height, tx->coinbase, tx->fee_known ? tx->fee : -1, tx->output_value);
        for (size_t i = 0; i < tx->n_inputs; i++) {
            const ct_tx_input *in = &tx->inputs[i];
            if (in->kind == CT_INPUT_COINBASE)
                printf("input %zu coinbase\n", i);
            else
                printf("input %zu prev %s:%u value %" PRId64 " address %s\n", i, in->prev_txid,
                       in->prev_vout, in->value, in->address[0] ? in->address : "-");
        }
        for (size_t i = 0; i < tx->n_outputs; i++) {
            const ct_tx_output *o = &tx->outputs[i];
            printf("output %u value %" PRId64 " type %s address %s spent_by %s\n", o->n, o->value,
                   ct_script_type_name(o->type), o->address[0] ? o->address : "-",
                   o->spent ? o->spent_by_txid : "-");
            if (!o->address[0]) continue;
            ct_labels *ls;
            if (ct_labels_lookup(&ls, s, o->address, &err) == 0) {
                for (size_t k = 0; k < ls->n; k++)
                    printf("output %u label %s %s\n", o->n, ls->labels[k].category,
                           ls->labels[k].source);
                ct_labels_free(ls);
            }
        }
        ct_tx_free(tx);
    } else {
        ct_address_summary a;
        if (ct_address_lookup(&a, s, argv[2], &err)) {
            fprintf(stderr, "trace_output: %s\n", err.message);
            ct_store_close(s);
            return err.code == CT_ENOTFOUND ? 3 : 1;
        }
        printf("address %s type %s received %" PRId64 " sent %" PRId64 " balance %" PRId64
               " tx_count %" PRIu64 " output_count %" PRIu64 " labels %zu\n",
               a.address, a.type, a.received, a.sent, a.balance, a.tx_count, a.output_count,
               a.n_labels);
    }
    if (!rc) rc = print_exposure(s, argv[2], CT_BACKWARD);
    if (!rc) rc = print_exposure(s, argv[2], CT_FORWARD);
    ct_store_close(s);
    return rc;
}
