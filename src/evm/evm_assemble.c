/* Assembling evm_blocks from an evm_batch: the files checked against each other (blocks
 * contiguous, every row's tx and block among those given), then txs in chain order with their
 * value, fee, internal, ERC-20, reward and withdrawal transfers and protocol events. */
#include <stdlib.h>
#include <string.h>

#include "evm_read_int.h"

typedef struct hash_ix {
    uint8_t hash[32];
    size_t i;
} hash_ix;

static int cmp_hash_ix(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int cmp_block(const void *a, const void *b)
{
    const rd_block *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

static const char *fname(const evm_batch *b, src_ref at)
{
    return b->files.v[at.file];
}

/* A transfer waiting for its place: slot = tx slot in the batch (or, for block-level ones, the
 * slot after the block's last tx), then sub (1 traces in file order, 2+log index for ERC-20). */
typedef struct item {
    size_t slot;
    uint64_t sub;
    size_t i;
    int src; /* 0 internal trace, 1 block-level trace, 2 token transfer */
    int block_level;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    /* the previous block's block-level transfers share the slot number and come first */
    if (x->block_level != y->block_level) return x->block_level > y->block_level ? -1 : 1;
    if (x->sub != y->sub) return x->sub < y->sub ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

typedef struct ev_ord {
    size_t slot;
    uint32_t log_index;
    size_t i;
} ev_ord;

static int cmp_ev_ord(const void *a, const void *b)
{
    const ev_ord *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    if (x->log_index != y->log_index) return x->log_index < y->log_index ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The state of one assembly, shared by its steps. per, ix, order and items are owned here
 * and freed by evm_batch_assemble; the outputs go to the batch. */
typedef struct asm_ctx {
    evm_batch *b;
    rd_block *bl; /* the batch's blocks, sorted and contiguous */
    size_t nb;
    uint64_t first; /* bl[0].number */
    size_t ntx;
    size_t *per;   /* tx slots: block i's txs are per[i] .. per[i + 1] - 1 */
    hash_ix *ix;   /* tx hashes, sorted */
    size_t *order; /* slot -> index into b->txs */
    item *items;
    size_t nitems;
    const rd_token_xfer *tts; /* token_transfers.csv rows if given, else decoded logs */
    size_t ntt;
} asm_ctx;

static int find_tx(const asm_ctx *a, const uint8_t h[32], size_t *out)
{
    const hash_ix *p = bsearch(h, a->ix, a->ntx, sizeof *a->ix, cmp_hash_ix);
    if (!p) return -1;
    *out = p->i;
    return 0;
}

/* Rows given without any block: nothing to place them in. */
static int check_orphans(const evm_batch *b, util_err *err)
{
    const char *what = b->txs.n        ? "transactions"
                       : b->receipts.n ? "receipts"
                       : b->tt.n       ? "token transfers"
                       : b->logs.n     ? "logs"
                       : b->events.n   ? "logs"
                       : b->traces.n   ? "traces"
                                       : NULL;
    if (what)
        return util_errf(err, UTIL_EFORMAT,
                         "%s given without their blocks: add the blocks.csv of the range", what);
    return 0;
}

/* Sort the blocks; each must follow the one before it, number and parent hash. */
static int order_blocks(asm_ctx *a, util_err *err)
{
    const evm_batch *b = a->b;
    rd_block *bl = a->bl;
    qsort(bl, a->nb, sizeof *bl, cmp_block);
    for (size_t i = 1; i < a->nb; i++) {
        if (bl[i].number == bl[i - 1].number)
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: block %llu given twice (also %s:%llu)",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i].number, fname(b, bl[i - 1].at),
                             (unsigned long long)bl[i - 1].at.line);
        if (bl[i].number != bl[i - 1].number + 1)
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: blocks %llu to %llu are missing",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i - 1].number + 1,
                             (unsigned long long)bl[i].number - 1);
        if (memcmp(bl[i].parent, bl[i - 1].hash, 32))
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column parent_hash: block %llu does not follow block %llu "
                             "given (mixed branches?)",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i].number,
                             (unsigned long long)bl[i - 1].number);
    }
    a->first = bl[0].number;
    return 0;
}

/* A row's block must be one of the batch's. */
static int block_of(const asm_ctx *a, uint64_t num, src_ref at, const char *col, util_err *err)
{
    if (num < a->first || num - a->first >= a->nb)
        return util_errf(
            err, UTIL_EFORMAT, "%s:%llu: column %s: block %llu is not among the blocks given",
            fname(a->b, at), (unsigned long long)at.line, col, (unsigned long long)num);
    return 0;
}

/* Count the txs per block (each in a given block, its hash and index fitting it), give each
 * its slot (start of its block + index: every index below the count appears once), and index
 * the hashes (each given once). */
static int place_txs(asm_ctx *a, util_err *err)
{
    const evm_batch *b = a->b;
    const rd_block *bl = a->bl;
    size_t *per = a->per, ntx = a->ntx;
    for (size_t i = 0; i < ntx; i++) {
        const rd_tx *t = &b->txs.v[i];
        if (t->block_number < a->first || t->block_number - a->first >= a->nb)
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column block_number: block %llu is not among the blocks "
                             "given",
                             fname(b, t->at), (unsigned long long)t->at.line,
                             (unsigned long long)t->block_number);
        const rd_block *blk = &bl[t->block_number - a->first];
        if (t->has_block_hash && memcmp(t->block_hash, blk->hash, 32))
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column block_hash: not the hash of block %llu given",
                             fname(b, t->at), (unsigned long long)t->at.line,
                             (unsigned long long)t->block_number);
        if (t->tx.index >= blk->tx_count)
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_index: %u but block %llu has %llu txs",
                             fname(b, t->at), (unsigned long long)t->at.line, t->tx.index,
                             (unsigned long long)t->block_number,
                             (unsigned long long)blk->tx_count);
        per[t->block_number - a->first + 1]++;
        memcpy(a->ix[i].hash, t->tx.hash, 32);
        a->ix[i].i = i;
    }
    for (size_t i = 0; i < a->nb; i++) {
        if (per[i + 1] != bl[i].tx_count)
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_count: block %llu has %llu txs, the "
                             "transactions given %zu",
                             fname(b, bl[i].at), (unsigned long long)bl[i].at.line,
                             (unsigned long long)bl[i].number, (unsigned long long)bl[i].tx_count,
                             per[i + 1]);
        per[i + 1] += per[i];
    }
    for (size_t i = 0; i < ntx; i++)
        a->order[i] = SIZE_MAX;
    for (size_t i = 0; i < ntx; i++) {
        const rd_tx *t = &b->txs.v[i];
        size_t slot = per[t->block_number - a->first] + t->tx.index;
        if (a->order[slot] != SIZE_MAX)
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_index: block %llu has two txs with "
                             "index %u",
                             fname(b, t->at), (unsigned long long)t->at.line,
                             (unsigned long long)t->block_number, t->tx.index);
        a->order[slot] = i;
    }
    qsort(a->ix, ntx, sizeof *a->ix, cmp_hash_ix);
    for (size_t i = 1; i < ntx; i++)
        if (!memcmp(a->ix[i].hash, a->ix[i - 1].hash, 32)) {
            const rd_tx *t = &b->txs.v[a->ix[i].i];
            return util_errf(err, UTIL_EFORMAT, "%s:%llu: column hash: tx given twice",
                             fname(b, t->at), (unsigned long long)t->at.line);
        }
    return 0;
}

/* The tx a receipt, trace, transfer or event row names: given, and in the row's block. */
static int row_tx(const asm_ctx *a, const uint8_t hash[32], uint64_t block_number, src_ref at,
                  rd_tx **out, util_err *err)
{
    size_t ti;
    if (find_tx(a, hash, &ti))
        return util_errf(err, UTIL_EFORMAT,
                         "%s:%llu: column transaction_hash: no such tx in the transactions given",
                         fname(a->b, at), (unsigned long long)at.line);
    rd_tx *t = &a->b->txs.v[ti];
    *out = t;
    if (block_number != t->block_number)
        return util_errf(err, UTIL_EFORMAT,
                         "%s:%llu: column block_number: %llu, the tx is in block %llu",
                         fname(a->b, at), (unsigned long long)at.line,
                         (unsigned long long)block_number, (unsigned long long)t->block_number);
    return 0;
}

/* Receipts give each tx its gas used, price, status and created contract, so its fee. */
static int apply_receipts(asm_ctx *a, util_err *err)
{
    evm_batch *b = a->b;
    for (size_t i = 0; i < b->receipts.n; i++) {
        const rd_receipt *r = &b->receipts.v[i];
        size_t ti;
        if (find_tx(a, r->tx_hash, &ti))
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_hash: no such tx in the transactions "
                             "given",
                             fname(b, r->at), (unsigned long long)r->at.line);
        rd_tx *t = &b->txs.v[ti];
        if (t->has_receipt)
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_hash: a second receipt for the tx",
                             fname(b, r->at), (unsigned long long)r->at.line);
        if (r->block_number != t->block_number)
            return util_errf(
                err, UTIL_EFORMAT, "%s:%llu: column block_number: %llu, the tx is in block %llu",
                fname(b, r->at), (unsigned long long)r->at.line,
                (unsigned long long)r->block_number, (unsigned long long)t->block_number);
        t->has_receipt = 1;
        t->tx.gas_used = r->gas_used;
        if (r->has_price) t->tx.gas_price = r->price;
        if (r->status == 0) t->tx.flags |= EVM_TX_FAILED;
        if (r->status < 0) t->tx.flags |= EVM_TX_STATUS_UNKNOWN;
        if (!t->tx.has_to && r->has_contract) {
            memcpy(t->tx.to, r->contract, 20);
            t->tx.has_to = 1;
        }
        if (evm_u256_mul64(&t->tx.fee, &t->tx.gas_price, t->tx.gas_used))
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column gas_used: gas used times gas price exceeds 2^256-1",
                             fname(b, r->at), (unsigned long long)r->at.line);
    }
    for (size_t i = 0; i < a->ntx; i++) {
        rd_tx *t = &b->txs.v[i];
        if (t->has_receipt) continue;
        if (b->have_kind[EVM_FILE_RECEIPTS])
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column hash: the receipts given have none for this tx",
                             fname(b, t->at), (unsigned long long)t->at.line);
        t->tx.flags |= EVM_TX_NO_RECEIPT | EVM_TX_STATUS_UNKNOWN;
    }
    return 0;
}

/* Traces: the top-level trace settles a status the receipt left open; the calls below it that
 * move value, and block-level rewards, become items. */
static int collect_traces(asm_ctx *a, util_err *err)
{
    const evm_batch *b = a->b;
    for (size_t i = 0; i < b->traces.n; i++) {
        const rd_trace *tr = &b->traces.v[i];
        if (block_of(a, tr->block_number, tr->at, "block_number", err)) return UTIL_EFORMAT;
        size_t bi = tr->block_number - a->first;
        if (!tr->has_tx) {
            /* block and uncle rewards, genesis allocations: value from nowhere */
            if (tr->status == 1 && !evm_u256_is_zero(&tr->value) && tr->has_to &&
                (!strcmp(tr->trace_type, "reward") || !strcmp(tr->trace_type, "genesis")))
                a->items[a->nitems++] = (item){.slot = a->per[bi + 1],
                                               .sub = 1,
                                               .i = i,
                                               .src = 1,
                                               .block_level = 1}; /* after the block's txs */
            continue;
        }
        rd_tx *t;
        if (row_tx(a, tr->tx_hash, tr->block_number, tr->at, &t, err)) return UTIL_EFORMAT;
        if (!tr->ta_len) {
            /* the top-level call duplicates the tx's own value: only its status is used */
            if (t->tx.flags & EVM_TX_STATUS_UNKNOWN) {
                t->tx.flags &= ~(uint32_t)EVM_TX_STATUS_UNKNOWN;
                if (tr->status == 0) t->tx.flags |= EVM_TX_FAILED;
            }
            continue;
        }
        int moves = (!strcmp(tr->trace_type, "call") && !strcmp(tr->call_type, "call")) ||
                    !strcmp(tr->trace_type, "create") || !strcmp(tr->trace_type, "suicide");
        if (moves && tr->status == 1 && !evm_u256_is_zero(&tr->value) && tr->has_to)
            a->items[a->nitems++] = (item){.slot = a->per[bi] + t->tx.index, .sub = 1, .i = i};
    }
    return 0;
}

/* ERC-20 transfers (token_transfers.csv if given, else the decoded logs) become items, but
 * not a reverted tx's: its events never happened. */
static int collect_token_xfers(asm_ctx *a, util_err *err)
{
    for (size_t i = 0; i < a->ntt; i++) {
        const rd_token_xfer *x = &a->tts[i];
        if (block_of(a, x->block_number, x->at, "block_number", err)) return UTIL_EFORMAT;
        rd_tx *t;
        if (row_tx(a, x->tx_hash, x->block_number, x->at, &t, err)) return UTIL_EFORMAT;
        if (t->tx.flags & EVM_TX_FAILED) continue;
        a->items[a->nitems++] = (item){.slot = a->per[x->block_number - a->first] + t->tx.index,
                                       .sub = 2 + (uint64_t)x->log_index,
                                       .i = i,
                                       .src = 2};
    }
    return 0;
}

/* A tx's own transfers: its value (unless it failed) and its fee. */
static size_t emit_tx(const rd_tx *t, uint32_t txi, evm_xfer *x)
{
    size_t k = 0;
    if (!(t->tx.flags & EVM_TX_FAILED) && !evm_u256_is_zero(&t->tx.value)) {
        x[k].kind = EVM_XFER_TX, x[k].tx = txi, x[k].has_from = 1, x[k].has_to = t->tx.has_to;
        memcpy(x[k].from, t->tx.from, 20), memcpy(x[k].to, t->tx.to, 20);
        x[k].amount = t->tx.value;
        k++;
    }
    if (!evm_u256_is_zero(&t->tx.fee)) {
        x[k].kind = EVM_XFER_FEE, x[k].tx = txi, x[k].has_from = 1;
        memcpy(x[k].from, t->tx.from, 20);
        x[k].amount = t->tx.fee;
        k++;
    }
    return k;
}

/* An item as a transfer: an ERC-20 transfer, an internal call or a block reward. */
static void emit_item(const asm_ctx *a, const item *it, uint32_t txi, int block_level, evm_xfer *x)
{
    x->tx = txi;
    if (it->src == 2) {
        const rd_token_xfer *tt = &a->tts[it->i];
        x->kind = EVM_XFER_ERC20, x->has_from = 1, x->has_to = 1;
        memcpy(x->from, tt->from, 20), memcpy(x->to, tt->to, 20);
        memcpy(x->token, tt->token, 20);
        x->amount = tt->amount, x->log_index = tt->log_index;
    } else {
        const rd_trace *tr = &a->b->traces.v[it->i];
        x->kind = block_level ? EVM_XFER_REWARD : EVM_XFER_INTERNAL;
        x->has_from = !block_level && tr->has_from, x->has_to = 1;
        memcpy(x->from, tr->from, 20), memcpy(x->to, tr->to, 20);
        x->amount = tr->value;
        x->trace_address = (const char *)a->b->pool.data + tr->ta_off;
    }
}

/* The output: txs in chain order, then transfers per tx, block-level ones last. */
static int emit_blocks(asm_ctx *a, util_err *err)
{
    evm_batch *b = a->b;
    const rd_block *bl = a->bl;
    const size_t *per = a->per;
    size_t nb = a->nb, nx = a->nitems + b->wds.n + 2 * a->ntx;
    b->out = calloc(nb, sizeof *b->out);
    b->out_txs = calloc(a->ntx ? a->ntx : 1, sizeof *b->out_txs);
    b->out_xfers = calloc(nx ? nx : 1, sizeof *b->out_xfers);
    if (!b->out || !b->out_txs || !b->out_xfers)
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    size_t xo = 0, it = 0;
    for (size_t bi = 0; bi < nb; bi++) {
        evm_block *ob = &b->out[bi];
        ob->number = bl[bi].number, ob->timestamp = bl[bi].timestamp;
        memcpy(ob->hash, bl[bi].hash, 32), memcpy(ob->parent, bl[bi].parent, 32);
        ob->txs = b->out_txs + per[bi];
        ob->n_txs = per[bi + 1] - per[bi];
        ob->xfers = b->out_xfers + xo;
        for (size_t slot = per[bi]; slot <= per[bi + 1]; slot++) {
            int block_level = slot == per[bi + 1];
            uint32_t txi = block_level ? EVM_NONE32 : (uint32_t)(slot - per[bi]);
            if (!block_level) {
                const rd_tx *t = &b->txs.v[a->order[slot]];
                b->out_txs[slot] = t->tx;
                xo += emit_tx(t, txi, &b->out_xfers[xo]);
            }
            /* items of this slot; a block-level slot equals the next block's first slot, so
             * the is-block-level mark tells them apart */
            for (; it < a->nitems && a->items[it].slot == slot &&
                   (a->items[it].block_level == 1) == block_level;
                 it++)
                emit_item(a, &a->items[it], txi, block_level, &b->out_xfers[xo++]);
        }
        for (size_t w = 0; w < bl[bi].n_wd; w++) {
            const rd_withdrawal *wd = &b->wds.v[bl[bi].first_wd + w];
            if (evm_u256_is_zero(&wd->amount)) continue;
            evm_xfer *x = &b->out_xfers[xo++];
            x->kind = EVM_XFER_WITHDRAWAL, x->tx = EVM_NONE32, x->has_to = 1;
            memcpy(x->to, wd->addr, 20);
            x->amount = wd->amount;
        }
        ob->n_xfers = (size_t)(b->out_xfers + xo - ob->xfers);
    }
    return 0;
}

/* Protocol events: per block in (tx, log index) order; a reverted tx's logs never were. */
static int emit_events(asm_ctx *a, util_err *err)
{
    evm_batch *b = a->b;
    size_t ne = 0, nev = b->events.n;
    ev_ord *eo = calloc(nev ? nev : 1, sizeof *eo);
    b->out_events = calloc(nev ? nev : 1, sizeof *b->out_events);
    if (!eo || !b->out_events) {
        free(eo);
        return util_errf(err, UTIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nev; i++) {
        const rd_event *e = &b->events.v[i];
        size_t ti;
        if (e->block_number < a->first || e->block_number - a->first >= a->nb ||
            find_tx(a, e->tx_hash, &ti) || b->txs.v[ti].block_number != e->block_number) {
            free(eo);
            return util_errf(err, UTIL_EFORMAT,
                             "%s:%llu: column transaction_hash: the log's tx is not among the "
                             "transactions given in block %llu",
                             fname(b, e->at), (unsigned long long)e->at.line,
                             (unsigned long long)e->block_number);
        }
        const rd_tx *t = &b->txs.v[ti];
        if (t->tx.flags & EVM_TX_FAILED) continue;
        eo[ne++] = (ev_ord){a->per[e->block_number - a->first] + t->tx.index, e->ev.log_index, i};
    }
    qsort(eo, ne, sizeof *eo, cmp_ev_ord);
    size_t k = 0;
    for (size_t bi = 0; bi < a->nb; bi++) {
        evm_block *ob = &b->out[bi];
        ob->events = b->out_events + k;
        for (; k < ne && eo[k].slot < a->per[bi + 1]; k++) {
            const rd_event *e = &b->events.v[eo[k].i];
            evm_event *o = &b->out_events[k];
            *o = e->ev;
            o->tx = (uint32_t)(eo[k].slot - a->per[bi]);
            o->text = (const char *)b->pool.data + e->text_off;
        }
        ob->n_events = (size_t)(b->out_events + k - ob->events);
    }
    free(eo);
    return 0;
}

int evm_batch_assemble(evm_batch *b, const evm_block **blocks, size_t *n, util_err *err)
{
    *blocks = NULL, *n = 0;
    if (!b->blocks.n) return check_orphans(b, err);
    asm_ctx a = {.b = b, .bl = b->blocks.v, .nb = b->blocks.n, .ntx = b->txs.n};
    int rc = order_blocks(&a, err);
    if (rc) return rc;
    int use_tt = b->have_kind[EVM_FILE_TOKEN_TRANSFERS];
    a.tts = use_tt ? b->tt.v : b->logs.v;
    a.ntt = use_tt ? b->tt.n : b->logs.n;
    a.per = calloc(a.nb + 1, sizeof *a.per); /* counts, then start offsets */
    a.ix = calloc(a.ntx ? a.ntx : 1, sizeof *a.ix);
    a.order = calloc(a.ntx ? a.ntx : 1, sizeof *a.order);
    if (!a.per || !a.ix || !a.order) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = place_txs(&a, err)) || (rc = apply_receipts(&a, err))) goto out;
    size_t cap_items = b->traces.n + (b->tt.n > b->logs.n ? b->tt.n : b->logs.n);
    a.items = calloc(cap_items ? cap_items : 1, sizeof *a.items);
    if (!a.items) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = collect_traces(&a, err)) || (rc = collect_token_xfers(&a, err))) goto out;
    qsort(a.items, a.nitems, sizeof *a.items, cmp_item);
    if ((rc = emit_blocks(&a, err)) || (rc = emit_events(&a, err))) goto out;
    b->n_out = a.nb;
    *blocks = b->out, *n = a.nb;
out:
    free(a.per), free(a.ix), free(a.order), free(a.items);
    return rc;
}
