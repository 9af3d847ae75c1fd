/* trace_demix: the thief's own coins through CoinJoin rounds and swap services (trace_demix.h,
 * docs/tracing.md "Demixing"). A worklist over outputs; every rule only ever raises what is
 * known (a candidate becomes owned, a confidence grows), so the result is the fixpoint whatever
 * the order, and the order is fixed anyway (seeds as given, outputs in index order). */
#include <stdlib.h>
#include <string.h>

#include "../labels/labels_services.h"
#include "trace_int.h"

enum { ST_OWNED = 1, ST_CAND = 2 };

/* Confidences of the rules: the share of such links that are right is what they claim. A
 * co-spend with a coin known to be the thief's, or of outputs of two rounds, is what wallets
 * do with their own coins (the heuristic every postmix analysis uses: Kappos et al. 2022,
 * Wasabi's and Samourai's own warnings); outputs of one round spent together are weaker (a
 * participant took several). */
#define CONF_COSPEND_OWNED 0.95
#define CONF_COSPEND_ROUNDS 0.9
#define CONF_COSPEND_ROUND 0.6
#define CONF_REMIX_ONLY 0.5      /* factor: a sweep with no output of a round the thief entered */
#define CONF_COSPEND_PAYMENT 0.3 /* candidates co-spent in a payment (change, other coins) */
#define CONF_DEPOSIT_REUSE 0.9
#define CONF_ADDRESS_REUSE 0.95
/* A coin that reaches one of the thief's own exchange deposit addresses (an exchange gives each
 * customer its own) through txs that spend nothing but that coin and the thief's: the thief's,
 * a little below a direct deposit to it, for the hops in between. */
#define CONF_DEPOSIT_PATH 0.85
/* Every deposit at a customer's exchange deposit address is credited to that customer: once an
 * owned coin with a path this strong was deposited there, the address's other deposits are the
 * thief's too, at the account link's confidence. */
#define CONF_ACCOUNT_MIN 0.95
#define CONF_ACCOUNT 0.9
/* A payout matched by amount and time alone, where no fitting payout reaches a deposit address
 * of the thief's: the thief's own payout is then mostly one the matching cannot see (paid from
 * the service's unlabelled change). On the tuning seeds (5-7) 5 of 68 such matches were right,
 * none of the 37 followed at full confidence: reported, not followed at the default threshold. */
#define CONF_SWAP_ALONE 0.4
#define WALK_TXS 16     /* txs a walk toward a deposit address visits, at most */
#define WALK_DEPTH 4    /* and how many txs deep */
#define SWAP_FIT_MAX 64 /* payouts that fit a deposit kept for the walk */
#define BIG_ROUND 20 /* outputs: a round this large is expanded only when an owned coin entered */
#define SWAP_NET_FEE 20000 /* sat of network fees a swap payout may lose beyond the service's */

static const char *const rule_names[TRACE_DM_NRULES] = {"seed",
                                                        "spend",
                                                        "tx0",
                                                        "postmix-cospend-owned",
                                                        "postmix-cospend-rounds",
                                                        "postmix-cospend-round",
                                                        "deposit-address-reuse",
                                                        "address-reuse",
                                                        "swap-amount-time",
                                                        "coinjoin-candidate",
                                                        "merge",
                                                        "postmix-path-to-deposit",
                                                        "swap-payout-to-deposit",
                                                        "deposit-account"};

const char *trace_demix_rule_name(int rule)
{
    return rule >= 0 && rule < TRACE_DM_NRULES ? rule_names[rule] : "?";
}

void trace_demix_default_opts(trace_demix_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_outputs = TRACE_DEFAULT_MAX_OUTPUTS;
    o->until = -1;
    o->min_confidence = 0.5;
    o->remix_depth = 3;
    o->swap_window = 36;
    o->swap_fee_max = 0.03;
}

typedef struct rec {
    uint64_t out;
    uint32_t parent; /* rec it came from (NONE32: a seed) */
    uint32_t round;  /* round index for candidates and postmix links, else NONE32 */
    double conf;     /* this link */
    double path;     /* the weakest link from a seed (candidates: their entering coin's) */
    uint32_t hops, cands;
    uint32_t dlab; /* a deposit: the stop label (NONE32: not a deposit) */
    uint32_t swi;  /* a swap deposit matched: its swap record */
    uint8_t state, rule, depth, queued, pending, swap; /* swap: 1 listed, 2 matched */
    uint8_t dvia; /* a deposit: 0 its address is labelled, 1 its entity, 2 swept with a service's */
} rec;

typedef struct dctx {
    const store *s;
    const labels_db *labels;
    const cluster_map *cl;
    const trace_demix_opts *o;
    const trace_stops *stops;
    hmap outs, rmap, daddr, oaddr, paid;
    rec *r;
    size_t n_r, cap_r;
    trace_demix_round *rd;
    size_t n_rd, cap_rd;
    uint32_t *work, *pend, *swd;
    size_t n_work, cap_work, n_pend, cap_pend, n_swd, cap_swd;
    trace_demix_swap *sw;
    size_t n_sw, cap_sw;
    cluster_scratch sc;
    int partial;
} dctx;

static int push32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    if (util_grow((void **)v, cap, *n + 1, sizeof **v, 64, SIZE_MAX)) return UTIL_ENOMEM;
    (*v)[(*n)++] = x;
    return 0;
}

/* Add k to a set; 1 if it was new, 0 if present, UTIL_ENOMEM. */
static int set_add(hmap *m, uint64_t k)
{
    if (hmap_get(m, k) != NONE32) return 0;
    return hmap_put(m, k, 1) ? UTIL_ENOMEM : 1;
}

static uint32_t stop_of(const dctx *c, uint32_t addr, uint32_t *ent, int *via)
{
    *ent = CLUSTER_NO_ENTITY;
    *via = 0;
    if (addr == STORE_NO_ADDR) return NONE32;
    uint32_t lab = hmap_get(&c->stops->addr, addr);
    if (c->cl) *ent = cluster_entity_of(c->cl, addr);
    if (lab == NONE32 && *ent != CLUSTER_NO_ENTITY) {
        lab = hmap_get(&c->stops->entity, *ent);
        *via = lab != NONE32;
    }
    return lab;
}

static const char *stop_category(const dctx *c, uint32_t lab)
{
    return labels_db_get(c->labels, lab)->category;
}

static int tx_kind(dctx *c, uint64_t tx)
{
    if (c->cl && tx < cluster_map_txs(c->cl)) return cluster_tx_kind(c->cl, tx);
    return cluster_detect(c->s, tx, &c->sc);
}

static int beyond(const dctx *c, uint64_t tx)
{
    return c->o->until >= 0 && (int64_t)store_tx_block(c->s, tx) > c->o->until;
}

/* Record that output out is owned (or a candidate) by rule, from rec parent. Raises an existing
 * record (candidate to owned, a stronger path, a shallower candidate) and queues it again. */
static int visit(dctx *c, uint64_t out, int state, int rule, uint32_t parent, uint32_t round,
                 double conf, uint32_t cands, uint32_t depth)
{
    double path = conf;
    uint32_t hops = 0;
    if (parent != NONE32) {
        if (c->r[parent].path < path) path = c->r[parent].path;
        hops = c->r[parent].hops + 1;
    }
    if (state == ST_CAND) path = parent != NONE32 ? c->r[parent].path : conf;
    uint32_t i = hmap_get(&c->outs, out);
    if (i == NONE32) {
        if (c->n_r >= c->o->max_outputs || c->n_r >= NONE32 - 1) {
            c->partial = 1;
            return 0;
        }
        if (util_grow((void **)&c->r, &c->cap_r, c->n_r + 1, sizeof *c->r, 256, SIZE_MAX))
            return UTIL_ENOMEM;
        i = (uint32_t)c->n_r++;
        if (hmap_put(&c->outs, out, i)) return UTIL_ENOMEM;
        memset(&c->r[i], 0, sizeof c->r[i]);
        c->r[i].out = out;
        c->r[i].dlab = NONE32;
    } else {
        const rec *x = &c->r[i];
        int better = (state == ST_OWNED && x->state == ST_CAND) ||
                     (state == x->state && path > x->path + 1e-9) ||
                     (state == ST_CAND && x->state == ST_CAND && depth < x->depth);
        if (!better) return 0;
    }
    rec *x = &c->r[i];
    x->state = (uint8_t)state;
    x->rule = (uint8_t)rule;
    x->parent = parent;
    x->round = round;
    x->conf = conf;
    x->path = path;
    x->hops = hops;
    x->cands = cands;
    x->depth = (uint8_t)(depth > 255 ? 255 : depth);
    if (x->queued) return 0;
    x->queued = 1;
    return push32(&c->work, &c->n_work, &c->cap_work, i);
}

static int followed(const dctx *c, const rec *x)
{
    return x->state == ST_OWNED && x->path + 1e-9 >= c->o->min_confidence;
}

/* A candidate linked to the thief by rule: owned now, its path through the coin that entered. */
static int resolve(dctx *c, uint32_t ci, int rule, double conf)
{
    const rec *x = &c->r[ci];
    return visit(c, x->out, ST_OWNED, rule, x->parent, x->round, conf, x->cands, x->depth);
}

/* A CoinJoin that rec `from` (owned: depth 0, or a candidate of depth-1) entered: its outputs
 * become candidates, within the remix depth. */
static int enter_round(dctx *c, uint64_t tx, int kind, uint32_t from, uint32_t depth)
{
    uint32_t ri = hmap_get(&c->rmap, tx);
    const store *s = c->s;
    uint32_t nout = store_tx_n_out(s, tx);
    uint64_t first = store_tx_first_out(s, tx);
    if (ri == NONE32) {
        if (util_grow((void **)&c->rd, &c->cap_rd, c->n_rd + 1, sizeof *c->rd, 16, SIZE_MAX))
            return UTIL_ENOMEM;
        ri = (uint32_t)c->n_rd++;
        if (hmap_put(&c->rmap, tx, ri)) return UTIL_ENOMEM;
        trace_demix_round *r = &c->rd[ri];
        memset(r, 0, sizeof *r);
        r->tx = tx;
        r->kind = kind;
        r->depth = depth;
        r->inputs = store_tx_n_in(s, tx);
        r->outputs = nout;
    } else if (depth < c->rd[ri].depth) {
        c->rd[ri].depth = depth;
    }
    trace_demix_round *r = &c->rd[ri];
    int allowed = depth == 0 || (depth <= c->o->remix_depth && nout <= BIG_ROUND);
    if (!allowed) return 0;
    r->expanded = 1;
    uint32_t paid = 0;
    for (uint32_t j = 0; j < nout; j++)
        paid += store_out_addr(s, first + j) != STORE_NO_ADDR && store_out_value(s, first + j) > 0;
    for (uint32_t j = 0; j < nout; j++) {
        uint64_t o = first + j;
        uint32_t addr = store_out_addr(s, o), ent;
        int via;
        if (addr == STORE_NO_ADDR || store_out_value(s, o) <= 0) continue;
        if (stop_of(c, addr, &ent, &via) != NONE32) continue; /* coordinator or maker fees */
        int rc = visit(c, o, ST_CAND, TRACE_DM_CANDIDATE, from, ri, 1.0, paid, depth);
        if (rc) return rc;
    }
    return 0;
}

/* Tx is not a CoinJoin and owned rec `from` pays into it: its candidate inputs are co-spent with
 * an owned coin, and every output is the thief's. */
static int own_tx(dctx *c, uint64_t tx, int kind, uint32_t from)
{
    const store *s = c->s;
    store_tx_row row;
    store_tx(s, tx, &row);
    uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
    int64_t in_all = 0, in_owned = 0, in_cand = 0;
    for (uint32_t k = 0; k < nin; k++) {
        uint64_t p = store_in_prev(s, row.first_in + k);
        if (p >= STORE_UNRESOLVED) continue;
        int64_t v = store_out_value(s, p);
        in_all += v;
        uint32_t i = hmap_get(&c->outs, p);
        if (i == NONE32) continue;
        if (followed(c, &c->r[i]))
            in_owned += v;
        else if (c->r[i].round != NONE32)
            in_cand += v;
    }
    /* The thief's share of the inputs, candidates counted as its own: whole for its own txs. */
    double share = in_all > 0 ? (double)(in_owned + in_cand) / (double)in_all : 1.0;
    if (share + 1e-9 >= c->o->min_confidence)
        for (uint32_t k = 0; k < nin && in_cand; k++) {
            uint64_t p = store_in_prev(s, row.first_in + k);
            if (p >= STORE_UNRESOLVED) continue;
            uint32_t ci = hmap_get(&c->outs, p);
            if (ci != NONE32 && !followed(c, &c->r[ci]) && c->r[ci].round != NONE32) {
                int rc = resolve(c, ci, TRACE_DM_COSPEND_OWNED, CONF_COSPEND_OWNED);
                if (rc) return rc;
            }
        }
    int rule = kind == CLUSTER_CJ_WHIRLPOOL_TX0 ? TRACE_DM_TX0 : TRACE_DM_SPEND;
    double conf = 1.0;
    if (share < 1.0 - 1e-9) rule = TRACE_DM_MERGE, conf = share;
    for (uint32_t j = 0; j < nout; j++) {
        uint64_t o = row.first_out + j;
        if (store_out_value(s, o) <= 0 && store_out_addr(s, o) == STORE_NO_ADDR) continue;
        int rc = visit(c, o, ST_OWNED, rule, from, NONE32, conf, 0, 0);
        if (rc) return rc;
    }
    return 0;
}

/* Whether the outputs of tx lead to an exchange or OTC deposit address where an owned coin was
 * deposited: along the txs that spend them, each spending nothing but outputs of the walk and
 * coins already known (owned or candidates), none a CoinJoin, stopping at any other service's
 * address (a service's own txs spend its other coins and end the walk). 1 yes, 0 no, <0 error.
 * 2: tx itself pays one. Bounded by WALK_TXS and WALK_DEPTH. */
static int leads_to_deposit(dctx *c, uint64_t tx0)
{
    const store *s = c->s;
    uint64_t q[WALK_TXS];
    uint8_t dep[WALK_TXS];
    size_t n = 0;
    q[n] = tx0, dep[n++] = 0;
    for (size_t at = 0; at < n; at++) {
        store_tx_row row;
        store_tx(s, q[at], &row);
        uint32_t nout = store_tx_n_out(s, q[at]);
        for (uint32_t j = 0; j < nout; j++) {
            uint64_t o = row.first_out + j;
            uint32_t a = store_out_addr(s, o), ent;
            int via;
            if (a == STORE_NO_ADDR) continue;
            if (hmap_get(&c->daddr, a) != NONE32) return at ? 1 : 2;
            if (stop_of(c, a, &ent, &via) != NONE32 || dep[at] + 1 >= WALK_DEPTH || n >= WALK_TXS)
                continue;
            uint64_t in = store_out_spent_by(s, o);
            if (in == STORE_NONE) continue;
            uint64_t tx = store_input_tx(s, in);
            size_t k = 0;
            while (k < n && q[k] != tx)
                k++;
            if (k < n || beyond(c, tx)) continue;
            int kind = tx_kind(c, tx);
            if (kind < 0) return kind;
            if (cluster_cj_excludes(kind)) continue;
            store_tx_row r2;
            store_tx(s, tx, &r2);
            uint32_t nin = store_tx_n_in(s, tx), m;
            for (m = 0; m < nin; m++) {
                uint64_t p = store_in_prev(s, r2.first_in + m);
                if (p >= STORE_UNRESOLVED) break;
                if (hmap_get(&c->outs, p) != NONE32) continue;
                uint64_t ptx = store_output_tx(s, p);
                for (k = 0; k < n && q[k] != ptx; k++)
                    ;
                if (k == n) break;
            }
            if (m < nin) continue; /* someone else's coin joins in */
            q[n] = tx, dep[n++] = (uint8_t)(dep[at] + 1);
        }
    }
    return 0;
}

/* Candidate ci is spent by tx, not a CoinJoin: the postmix rules. */
static int eval_spender(dctx *c, uint64_t tx, uint32_t ci)
{
    const store *s = c->s;
    store_tx_row row;
    store_tx(s, tx, &row);
    uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx);
    uint32_t owned = 0, ncand = 0, round0 = NONE32, foreign = 0, paid = 0, mindepth = 255;
    int rounds = 0;
    for (uint32_t j = 0; j < nout; j++)
        paid += store_out_value(s, row.first_out + j) > 0;
    for (uint32_t k = 0; k < nin; k++) {
        uint64_t p = store_in_prev(s, row.first_in + k);
        if (p >= STORE_UNRESOLVED) continue;
        uint32_t i = hmap_get(&c->outs, p);
        if (i == NONE32) {
            foreign++;
            continue;
        }
        if (followed(c, &c->r[i]))
            owned++;
        else if (c->r[i].round != NONE32) { /* a candidate, or one linked below the threshold */
            ncand++;
            if (c->r[i].depth < mindepth) mindepth = c->r[i].depth;
            if (round0 == NONE32)
                round0 = c->r[i].round, rounds = 1;
            else if (c->r[i].round != round0)
                rounds = 2;
        } else
            foreign++;
    }
    /* Where the coins go: to a deposit address of the thief's. Stronger than a co-spend of
     * candidates alone (a participant's sweep), weaker than one with an owned coin. */
    if (!owned) {
        int hit = leads_to_deposit(c, tx);
        if (hit < 0) return hit;
        if (hit) {
            for (uint32_t k = 0; k < nin; k++) {
                uint64_t p = store_in_prev(s, row.first_in + k);
                if (p >= STORE_UNRESOLVED) continue;
                uint32_t i = hmap_get(&c->outs, p);
                if (i == NONE32 || followed(c, &c->r[i]) || c->r[i].round == NONE32) continue;
                int rc = hit == 2 ? resolve(c, i, TRACE_DM_DEPOSIT_REUSE, CONF_DEPOSIT_REUSE)
                                  : resolve(c, i, TRACE_DM_DEPOSIT_PATH, CONF_DEPOSIT_PATH);
                if (rc) return rc;
            }
            return 0;
        }
    }
    if (owned || ncand >= 2) {
        int rule = owned         ? TRACE_DM_COSPEND_OWNED
                   : rounds >= 2 ? TRACE_DM_COSPEND_ROUNDS
                                 : TRACE_DM_COSPEND_ROUND;
        /* A sweep of nothing but the thief's candidates into one output is a wallet moving its
         * own coins; with change or other coins in it, it is as likely a participant paying
         * someone with outputs of the same rounds. */
        int sweep = !foreign && paid == 1;
        double conf = owned         ? CONF_COSPEND_OWNED
                      : !sweep      ? CONF_COSPEND_PAYMENT
                      : rounds >= 2 ? CONF_COSPEND_ROUNDS
                                    : CONF_COSPEND_ROUND;
        /* Only outputs of remixes (rounds the thief's coins reached through other people's
         * postmix coins): anyone's sweep of such rounds, another thief's among them. */
        if (!owned && mindepth > 0) conf *= CONF_REMIX_ONLY;
        for (uint32_t k = 0; k < nin; k++) {
            uint64_t p = store_in_prev(s, row.first_in + k);
            if (p >= STORE_UNRESOLVED) continue;
            uint32_t i = hmap_get(&c->outs, p);
            if (i == NONE32 || followed(c, &c->r[i]) || c->r[i].round == NONE32) continue;
            int rc = resolve(c, i, rule, conf);
            if (rc) return rc;
        }
        if (followed(c, &c->r[ci]) || c->r[ci].pending) return 0;
        c->r[ci].pending = 1; /* below the threshold: a deposit found later may still link it */
        return push32(&c->pend, &c->n_pend, &c->cap_pend, ci);
    }
    for (uint32_t j = 0; j < nout; j++) {
        uint32_t a = store_out_addr(s, row.first_out + j);
        if (a != STORE_NO_ADDR && hmap_get(&c->daddr, a) != NONE32)
            return resolve(c, ci, TRACE_DM_DEPOSIT_REUSE, CONF_DEPOSIT_REUSE);
    }
    if (c->r[ci].pending) return 0;
    c->r[ci].pending = 1;
    return push32(&c->pend, &c->n_pend, &c->cap_pend, ci);
}

static const char *svc_key(const labels_label *l)
{
    if (l->actor && *l->actor) return l->actor;
    return l->name ? l->name : "";
}

/* An owned coin spent together with coins at a service's labelled addresses was paid to that
 * service (its unlabelled deposit address, swept with the others): the service's stop label, or
 * NONE32. Its own txs never spend a service's coins, so this is the multi-input heuristic
 * applied to one sweep, not a merge of entities. */
static uint32_t sweep_label(const dctx *c, uint64_t tx, uint64_t own)
{
    const store *s = c->s;
    store_tx_row row;
    store_tx(s, tx, &row);
    uint32_t nin = store_tx_n_in(s, tx);
    for (uint32_t k = 0; k < nin; k++) {
        uint64_t p = store_in_prev(s, row.first_in + k);
        if (p >= STORE_UNRESOLVED || p == own) continue;
        uint32_t ent;
        int via;
        uint32_t lab = stop_of(c, store_out_addr(s, p), &ent, &via);
        if (lab == NONE32) continue;
        const char *cat = stop_category(c, lab);
        if (strcmp(cat, "mixer")) return lab;
    }
    /* None of the other coins is at a labelled address, but everything goes to one service's:
     * the service sweeping its unlabelled deposit addresses into its wallet (the thief's own
     * txs do not spend other people's coins). */
    if (nin < 2) return NONE32;
    uint32_t nout = store_tx_n_out(s, tx), lab = NONE32;
    for (uint32_t j = 0; j < nout; j++) {
        uint32_t a = store_out_addr(s, row.first_out + j), ent, l;
        int via;
        if (a == STORE_NO_ADDR) continue;
        if ((l = stop_of(c, a, &ent, &via)) == NONE32) return NONE32;
        if (!strcmp(stop_category(c, l), "mixer")) return NONE32;
        if (lab == NONE32)
            lab = l;
        else if (strcmp(svc_key(labels_db_get(c->labels, l)),
                        svc_key(labels_db_get(c->labels, lab))))
            return NONE32;
    }
    return lab;
}

static int process(dctx *c, uint32_t i)
{
    const store *s = c->s;
    rec *x = &c->r[i];
    x->queued = 0;
    uint64_t out = x->out;
    uint32_t addr = store_out_addr(s, out), ent;
    int via, rc;
    uint32_t lab = stop_of(c, addr, &ent, &via);
    if (x->state == ST_OWNED) {
        if (!followed(c, x)) return 0;
        uint64_t in = store_out_spent_by(s, out), tx = STORE_NONE;
        if (lab == NONE32 && in != STORE_NONE && x->rule != TRACE_DM_SEED) {
            tx = store_input_tx(s, in);
            lab = sweep_label(c, tx, out);
            via = 2;
        }
        if (lab == NONE32 && x->rule == TRACE_DM_DEPOSIT_ACCOUNT) /* its address is a deposit's */
            lab = c->r[x->parent].dlab, via = c->r[x->parent].dvia;
        if (lab != NONE32 && x->rule != TRACE_DM_SEED) {
            x->dlab = lab;
            x->dvia = (uint8_t)via;
            const char *cat = stop_category(c, lab);
            if (!strcmp(cat, "exchange") || !strcmp(cat, "otc")) {
                /* Only a deposit this sure makes the address the thief's: one linked through
                 * a postmix co-spend may be another participant's (another thief's), and what
                 * its address links would repeat the error. */
                if (x->path + 1e-9 >= CONF_ACCOUNT_MIN && (rc = set_add(&c->daddr, addr)) != 0) {
                    if (rc < 0) return rc;
                    if (c->o->no_account) return 0;
                    for (uint64_t o = store_addr_last_out(s, addr); o != STORE_NONE;
                         o = store_out_prev_same_addr(s, o)) {
                        if (o == out || beyond(c, store_output_tx(s, o))) continue;
                        rc = visit(c, o, ST_OWNED, TRACE_DM_DEPOSIT_ACCOUNT, i, NONE32,
                                   CONF_ACCOUNT, 0, 0);
                        if (rc) return rc;
                        x = &c->r[i]; /* visit may move the records */
                    }
                }
            } else if (!strcmp(cat, "swap") && !x->swap) {
                x->swap = 1;
                if (push32(&c->swd, &c->n_swd, &c->cap_swd, i)) return UTIL_ENOMEM;
            }
            return 0;
        }
        if (addr != STORE_NO_ADDR && (rc = set_add(&c->oaddr, addr)) < 0) return rc;
        if (in == STORE_NONE) return 0;
        if (tx == STORE_NONE) tx = store_input_tx(s, in);
        if (beyond(c, tx)) return 0;
        int kind = tx_kind(c, tx);
        if (kind < 0) return kind;
        if (cluster_cj_excludes(kind)) return enter_round(c, tx, kind, i, 0);
        return own_tx(c, tx, kind, i);
    }
    /* a candidate */
    if (lab != NONE32) return 0; /* paid straight to a service: nothing to follow */
    if (addr != STORE_NO_ADDR && hmap_get(&c->oaddr, addr) != NONE32)
        return resolve(c, i, TRACE_DM_ADDRESS_REUSE, CONF_ADDRESS_REUSE);
    uint64_t in = store_out_spent_by(s, out);
    if (in == STORE_NONE) {
        if (x->pending) return 0;
        x->pending = 1; /* unspent: only address reuse can still link it */
        return push32(&c->pend, &c->n_pend, &c->cap_pend, i);
    }
    uint64_t tx = store_input_tx(s, in);
    if (beyond(c, tx)) return 0;
    int kind = tx_kind(c, tx);
    if (kind < 0) return kind;
    if (cluster_cj_excludes(kind)) return enter_round(c, tx, kind, i, (uint32_t)x->depth + 1);
    return eval_spender(c, tx, i);
}

/* ---- swaps: match an owned deposit with the service's payouts ---- */

/* Whether addr is the swap service's whose stop label is key (or whose entity is ent). */
static int is_service(const dctx *c, uint32_t addr, const char *key, uint32_t ent)
{
    if (addr == STORE_NO_ADDR) return 0;
    uint32_t e;
    int via;
    uint32_t lab = stop_of(c, addr, &e, &via);
    if (ent != CLUSTER_NO_ENTITY && e == ent) return 1;
    if (lab == NONE32) return 0;
    const labels_label *l = labels_db_get(c->labels, lab);
    return !strcmp(l->category, "swap") && !strcmp(svc_key(l), key);
}

/* Deposits at the service (key, ent) other than dout, in the swap window before payout po, that
 * po could pay back too: the other ends of the matching. */
static uint32_t rival_deposits(const dctx *c, uint64_t po, uint64_t dout, const char *key,
                               uint32_t ent)
{
    const store *s = c->s;
    int64_t p = store_out_value(s, po);
    double hi = ((double)p + SWAP_NET_FEE) / (1.0 - c->o->swap_fee_max);
    uint64_t ptx = store_output_tx(s, po), h = store_tx_block(s, ptx);
    uint64_t h0 = h > c->o->swap_window ? h - c->o->swap_window : 0;
    uint32_t n = 0;
    for (uint64_t tx = store_block(s, h0)->first_tx; tx < ptx; tx++) {
        store_tx_row row;
        store_tx(s, tx, &row);
        uint32_t nout = store_tx_n_out(s, tx);
        for (uint32_t j = 0; j < nout; j++) {
            uint64_t o = row.first_out + j;
            int64_t v = store_out_value(s, o);
            if (o == dout || v < p || (double)v > hi) continue;
            if (is_service(c, store_out_addr(s, o), key, ent)) n++;
        }
    }
    return n;
}

/* Match swap deposit di with a payout. First the payouts that fit (amount less fee, window) and
 * reach one of the thief's deposit addresses (swap-payout-to-deposit); without one, and only
 * when fallback is set (nothing else is left to find), the earliest that fits
 * (swap-amount-time). A deposit matched by amount and time alone is tried again by the first
 * rule later: the deposit addresses found since may single out its payout. */
static int match_swap(dctx *c, uint32_t di, int fallback)
{
    const store *s = c->s;
    uint64_t dout = c->r[di].out, dtx = store_output_tx(s, dout);
    uint32_t daddr = store_out_addr(s, dout), dent;
    int via;
    stop_of(c, daddr, &dent, &via);
    const char *key = svc_key(labels_db_get(c->labels, c->r[di].dlab));
    int64_t x = store_out_value(s, dout);
    int64_t lo = x - (int64_t)((double)x * c->o->swap_fee_max) - SWAP_NET_FEE;
    uint64_t h = store_tx_block(s, dtx), nblocks = store_get_totals(s)->blocks;
    uint64_t hend = h + c->o->swap_window;
    if (c->o->until >= 0 && hend > (uint64_t)c->o->until) hend = (uint64_t)c->o->until;
    if (hend >= nblocks) hend = nblocks - 1;
    uint64_t tx_end = store_block(s, hend)->first_tx + store_block(s, hend)->n_tx;
    uint64_t best = STORE_NONE, prev = STORE_NONE, hit = STORE_NONE;
    if (c->r[di].swap == 2) prev = c->sw[c->r[di].swi].payout;
    uint32_t n = 0, nhit = 0;
    for (uint64_t tx = dtx + 1; tx < tx_end; tx++) {
        store_tx_row row;
        store_tx(s, tx, &row);
        if (row.flags & STORE_TX_COINBASE) continue;
        uint32_t nin = store_tx_n_in(s, tx), nout = store_tx_n_out(s, tx), k;
        for (k = 0; k < nin; k++) {
            uint64_t p = store_in_prev(s, row.first_in + k);
            if (p < STORE_UNRESOLVED && is_service(c, store_out_addr(s, p), key, dent)) break;
        }
        if (k == nin) continue;
        for (uint32_t j = 0; j < nout; j++) {
            uint64_t o = row.first_out + j;
            int64_t v = store_out_value(s, o);
            uint32_t a = store_out_addr(s, o);
            if (a == STORE_NO_ADDR || v < lo || v > x || is_service(c, a, key, dent)) continue;
            if (o != prev && hmap_get(&c->paid, o) != NONE32) continue;
            if (best == STORE_NONE) best = o;
            n++;
            if (n > SWAP_FIT_MAX) continue;
            uint64_t in = store_out_spent_by(s, o);
            if (in == STORE_NONE) continue;
            int r = leads_to_deposit(c, store_input_tx(s, in));
            if (r < 0) return r;
            if (r && !nhit++) hit = o;
        }
    }
    if (hit == STORE_NONE && (!fallback || c->r[di].swap == 2)) return 0;
    trace_demix_swap *w;
    if (c->r[di].swap == 2) {
        w = &c->sw[c->r[di].swi];
    } else {
        if (util_grow((void **)&c->sw, &c->cap_sw, c->n_sw + 1, sizeof *c->sw, 16, SIZE_MAX))
            return UTIL_ENOMEM;
        c->r[di].swi = (uint32_t)c->n_sw;
        w = &c->sw[c->n_sw++];
    }
    memset(w, 0, sizeof *w);
    w->deposit = dout;
    w->deposit_value = x;
    w->payout = hit != STORE_NONE ? hit : best;
    w->candidates = n;
    w->rule = hit != STORE_NONE ? TRACE_DM_SWAP_DEPOSIT : TRACE_DM_SWAP_MATCH;
    c->r[di].swap = hit != STORE_NONE ? 3 : 2;
    if (w->payout == STORE_NONE) return 0;
    w->payout_value = store_out_value(s, w->payout);
    w->rivals = rival_deposits(c, w->payout, dout, key, dent);
    /* by amount and time: one over the payouts that fit the deposit times the deposits that fit
     * the payout; by the deposit path: shared among the fitting payouts that reach one */
    w->confidence = hit != STORE_NONE ? CONF_DEPOSIT_PATH / (double)nhit
                                      : CONF_SWAP_ALONE / ((double)n * (1.0 + w->rivals));
    w->followed = c->r[di].path + 1e-9 >= c->o->min_confidence &&
                  w->confidence + 1e-9 >= c->o->min_confidence;
    if (hmap_get(&c->paid, w->payout) == NONE32 && hmap_put(&c->paid, w->payout, 1))
        return UTIL_ENOMEM;
    return visit(c, w->payout, ST_OWNED, w->rule, di, NONE32, w->confidence, n, 0);
}

static int cmp_rec_out(const void *a, const void *b, void *ctx)
{
    const rec *r = ctx;
    uint64_t x = r[*(const uint32_t *)a].out, y = r[*(const uint32_t *)b].out;
    return x < y ? -1 : x > y;
}

/* qsort_r is not C11: a small insertion-free merge of indices by their output id. */
static void sort_by_out(uint32_t *v, size_t n, const rec *r)
{
    if (n < 2) return;
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) { /* fall back to a quadratic sort: correctness over speed */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && cmp_rec_out(&v[j - 1], &v[j], (void *)r) > 0; j--) {
                uint32_t t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        return;
    }
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = cmp_rec_out(&v[b], &v[a], (void *)r) < 0 ? v[b++] : v[a++];
            while (a < mid)
                tmp[k++] = v[a++];
            while (b < hi)
                tmp[k++] = v[b++];
        }
        memcpy(v, tmp, n * sizeof *v);
    }
    free(tmp);
}

static int run(dctx *c)
{
    int rc;
    for (;;) {
        while (c->n_work) {
            /* lowest index first keeps the walk in the order outputs were found */
            uint32_t i = c->work[--c->n_work];
            if ((rc = process(c, i))) return rc;
        }
        /* Pending candidates: owned coins and deposit addresses found since may link them. */
        size_t n = c->n_pend;
        uint32_t *p = c->pend;
        c->pend = NULL, c->n_pend = 0, c->cap_pend = 0;
        sort_by_out(p, n, c->r);
        for (size_t k = 0; k < n && !rc; k++) {
            rec *x = &c->r[p[k]];
            x->pending = 0;
            if (x->round == NONE32 || followed(c, x)) continue;
            uint32_t addr = store_out_addr(c->s, x->out);
            if (addr != STORE_NO_ADDR && hmap_get(&c->oaddr, addr) != NONE32) {
                rc = resolve(c, p[k], TRACE_DM_ADDRESS_REUSE, CONF_ADDRESS_REUSE);
                continue;
            }
            uint64_t in = store_out_spent_by(c->s, x->out);
            if (in == STORE_NONE) {
                x->pending = 1;
                rc = push32(&c->pend, &c->n_pend, &c->cap_pend, p[k]);
            } else
                rc = eval_spender(c, store_input_tx(c->s, in), p[k]);
        }
        free(p);
        if (rc) return rc;
        /* Swap deposits not matched yet (or by amount and time only, not followed), in chain
         * order: first by a deposit path; when that finds nothing more, by amount and time. */
        sort_by_out(c->swd, c->n_swd, c->r);
        for (size_t k = 0; k < c->n_swd && !rc; k++) {
            const rec *d = &c->r[c->swd[k]];
            if (d->swap == 1 || (d->swap == 2 && !c->sw[d->swi].followed))
                rc = match_swap(c, c->swd[k], 0);
        }
        int idle = !c->n_work;
        for (size_t k = 0; k < c->n_swd && !rc && idle; k++)
            if (c->r[c->swd[k]].swap == 1) rc = match_swap(c, c->swd[k], 1);
        if (rc) return rc;
        if (!c->n_work) return 0;
    }
}

/* ---- the result ---- */

static int cmp_link(const void *a, const void *b)
{
    const trace_demix_link *x = a, *y = b;
    return x->output < y->output ? -1 : x->output > y->output;
}

static int cmp_dep(const void *a, const void *b)
{
    const trace_demix_deposit *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return x->output < y->output ? -1 : x->output > y->output;
}

static int cmp_round(const void *a, const void *b)
{
    const trace_demix_round *x = a, *y = b;
    return x->tx < y->tx ? -1 : x->tx > y->tx;
}

static int cmp_swap(const void *a, const void *b)
{
    const trace_demix_swap *x = a, *y = b;
    return x->deposit < y->deposit ? -1 : x->deposit > y->deposit;
}

static int fill(dctx *c, trace_demix_result *r, util_err *err)
{
    const store *s = c->s;
    trace_demix_totals *t = &r->totals;
    size_t nl = 0, nd = 0;
    for (size_t i = 0; i < c->n_r; i++) {
        const rec *x = &c->r[i];
        nl++; /* owned outputs and candidates */
        if (followed(c, x) && x->dlab != NONE32) nd++;
    }
    r->links = calloc(nl ? nl : 1, sizeof *r->links);
    r->deposits = calloc(nd ? nd : 1, sizeof *r->deposits);
    if (!r->links || !r->deposits) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_r; i++) {
        const rec *x = &c->r[i];
        int64_t v = store_out_value(s, x->out);
        if (x->state != ST_OWNED) t->unresolved += v;
        trace_demix_link *l = &r->links[r->n_links++];
        l->output = x->out;
        l->from = x->parent == NONE32 ? STORE_NONE : c->r[x->parent].out;
        l->round = x->round == NONE32 ? STORE_NONE : c->rd[x->round].tx;
        l->rule = x->rule;
        l->candidates = x->cands;
        l->confidence = x->conf;
        l->path_confidence = x->path;
        l->value = v;
        l->hops = x->hops;
        l->followed = followed(c, x);
        l->depth = x->depth;
        if (!l->followed) continue;
        if (x->rule == TRACE_DM_SEED) t->seeded += v;
        if ((x->rule >= TRACE_DM_COSPEND_OWNED && x->rule <= TRACE_DM_ADDRESS_REUSE) ||
            x->rule == TRACE_DM_DEPOSIT_PATH)
            t->out_of_rounds += v;
        if (x->rule == TRACE_DM_SWAP_MATCH || x->rule == TRACE_DM_SWAP_DEPOSIT)
            t->swap_returned += v;
        uint32_t addr = store_out_addr(s, x->out), ent;
        int via;
        stop_of(c, addr, &ent, &via);
        uint32_t lab = x->dlab;
        if (lab != NONE32) {
            trace_demix_deposit *d = &r->deposits[r->n_deposits++];
            d->output = x->out;
            d->address = addr;
            d->entity = ent;
            d->label = lab;
            d->via = x->dvia;
            d->value = v;
            d->confidence = x->path;
            d->hops = x->hops;
            for (uint32_t p = (uint32_t)i, k = 0; p != NONE32 && k <= x->hops;
                 p = c->r[p].parent, k++)
                d->rules |= 1u << c->r[p].rule;
            t->deposited += v;
            if (!strcmp(stop_category(c, lab), "swap")) t->swap_deposited += v;
            continue;
        }
        uint64_t in = store_out_spent_by(s, x->out);
        if (in == STORE_NONE || beyond(c, store_input_tx(s, in)))
            t->held += v;
        else {
            int kind = tx_kind(c, store_input_tx(s, in));
            if (kind > 0 && cluster_cj_excludes(kind)) t->into_rounds += v;
        }
    }
    qsort(r->links, r->n_links, sizeof *r->links, cmp_link);
    qsort(r->deposits, r->n_deposits, sizeof *r->deposits, cmp_dep);
    /* Rounds: what of the thief's (owned or candidate) entered and what was linked back. */
    r->rounds = calloc(c->n_rd ? c->n_rd : 1, sizeof *r->rounds);
    if (!r->rounds) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t k = 0; k < c->n_rd; k++) {
        trace_demix_round *d = &r->rounds[r->n_rounds++];
        *d = c->rd[k];
        store_tx_row row;
        store_tx(s, d->tx, &row);
        for (uint32_t j = 0; j < d->inputs; j++) {
            uint64_t p = store_in_prev(s, row.first_in + j);
            uint32_t i = p < STORE_UNRESOLVED ? hmap_get(&c->outs, p) : NONE32;
            if (i == NONE32 || (c->r[i].state == ST_OWNED && !followed(c, &c->r[i]))) continue;
            d->thief_inputs++;
            d->thief_in_value += store_out_value(s, p);
        }
        for (uint32_t j = 0; j < d->outputs; j++) {
            uint32_t i = hmap_get(&c->outs, row.first_out + j);
            if (i == NONE32 || !followed(c, &c->r[i])) continue;
            d->resolved++;
            d->resolved_value += store_out_value(s, row.first_out + j);
        }
    }
    qsort(r->rounds, r->n_rounds, sizeof *r->rounds, cmp_round);
    r->swaps = c->sw;
    r->n_swaps = c->n_sw;
    c->sw = NULL;
    qsort(r->swaps, r->n_swaps, sizeof *r->swaps, cmp_swap);
    r->partial = c->partial;
    /* The deposits by actor, through the exposure grouping every tracer's answers use. */
    trace_exposure x = {.seeded = (uint64_t)t->seeded};
    x.eps = calloc(r->n_deposits ? r->n_deposits : 1, sizeof *x.eps);
    if (!x.eps) return util_errf(err, UTIL_ENOMEM, "out of memory");
    for (size_t k = 0; k < r->n_deposits; k++) {
        const trace_demix_deposit *d = &r->deposits[k];
        size_t e = 0;
        while (e < x.n_eps && x.eps[e].address != d->address)
            e++;
        if (e == x.n_eps) {
            x.eps[x.n_eps++] =
                (trace_exposure_ep){d->address, d->entity, d->label, d->via != 0, 0, 0, d->hops};
        }
        x.eps[e].amount += (uint64_t)d->value;
        x.eps[e].deposits++;
        if (d->hops < x.eps[e].hops) x.eps[e].hops = d->hops;
    }
    trace_actor_index *ix = NULL;
    int rc = trace_actor_index_build(&ix, s, c->labels, c->cl, err);
    if (!rc) rc = trace_exposure_actors(ix, c->labels, &x, &r->actors, err);
    trace_actor_index_free(ix);
    free(x.eps);
    return rc;
}

int trace_demix(const store *s, const labels_db *labels, const cluster_map *clusters,
                const trace_seeds *seeds, const trace_demix_opts *o, trace_demix_result *out,
                util_err *err)
{
    memset(out, 0, sizeof *out);
    if (!seeds->n) return util_errf(err, UTIL_EINVAL, "no seeds");
    if (!(o->min_confidence > 0 && o->min_confidence <= 1))
        return util_errf(err, UTIL_EINVAL, "min confidence %g: must be in (0, 1]",
                         o->min_confidence);
    if (!(o->swap_fee_max >= 0 && o->swap_fee_max < 1))
        return util_errf(err, UTIL_EINVAL, "swap fee max %g: must be in [0, 1)", o->swap_fee_max);
    if (!o->max_outputs) return util_errf(err, UTIL_EINVAL, "max outputs must be at least 1");
    dctx c = {.s = s, .labels = labels, .cl = clusters, .o = o};
    trace_stops *stops = NULL;
    int rc = trace_stops_build(&stops, s, labels, clusters, labels_service_categories(),
                               labels_service_stops(o->follow_mixers), err);
    if (rc) return rc;
    c.stops = stops;
    out->s = s;
    out->labels = labels;
    out->opts = *o;
    out->seeds = malloc(seeds->n * sizeof *out->seeds);
    if (!out->seeds) {
        rc = util_errf(err, UTIL_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(out->seeds, seeds->out, seeds->n * sizeof *out->seeds);
    out->n_seeds = seeds->n;
    for (size_t k = 0; k < seeds->n && !rc; k++)
        rc = visit(&c, seeds->out[k], ST_OWNED, TRACE_DM_SEED, NONE32, NONE32, 1.0, 0, 0);
    /* the work list is a stack: seeds in the order given come off first */
    for (size_t a = 0, b = c.n_work ? c.n_work - 1 : 0; a < b; a++, b--) {
        uint32_t t = c.work[a];
        c.work[a] = c.work[b];
        c.work[b] = t;
    }
    if (!rc) rc = run(&c);
    if (rc == UTIL_ENOMEM) rc = util_errf(err, rc, "out of memory");
    if (!rc) rc = fill(&c, out, err);
done:
    trace_stops_free(stops);
    hmap_free(&c.outs);
    hmap_free(&c.rmap);
    hmap_free(&c.daddr);
    hmap_free(&c.oaddr);
    hmap_free(&c.paid);
    free(c.r);
    free(c.rd);
    free(c.work);
    free(c.pend);
    free(c.swd);
    free(c.sw);
    cluster_scratch_free(&c.sc);
    if (rc) trace_demix_free(out);
    return rc;
}

void trace_demix_free(trace_demix_result *r)
{
    free(r->seeds);
    free(r->links);
    free(r->deposits);
    free(r->rounds);
    free(r->swaps);
    trace_actors_free(&r->actors);
    memset(r, 0, sizeof *r);
}
