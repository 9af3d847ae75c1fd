/* taint: names, shared options, --until syntax and the one option parser (see taint.h). */
#include "taint.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const policy_names[] = {"poison", "haircut", "fifo"};
static const char *const direction_names[] = {"forward", "backward"};

const char *taint_policy_name(int p)
{
    return p >= 0 && p < 3 ? policy_names[p] : "?";
}

int taint_policy_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, policy_names[i])) return i;
    return -1;
}

const char *taint_direction_name(int d)
{
    return d >= 0 && d < 2 ? direction_names[d] : "?";
}

int taint_direction_parse(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(name, direction_names[i])) return i;
    return -1;
}

void taint_default_opts(taint_opts *o)
{
    memset(o, 0, sizeof *o);
    o->policy = TAINT_HAIRCUT;
    o->direction = TAINT_FORWARD;
    o->hops = TAINT_DEFAULT_HOPS;
    o->until = -1;
    o->until_time = -1;
    o->max_visits = TAINT_DEFAULT_MAX_VISITS;
}

/* ---- --until syntax ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at p (no sign, no spaces), or -1. */
static long digits(const char *p, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC) to unix seconds; -1 if malformed. */
static int64_t parse_utc(const char *a)
{
    size_t n = strlen(a);
    if (n < 10 || a[4] != '-' || a[7] != '-') return -1;
    long y = digits(a, 4), mo = digits(a + 5, 2), d = digits(a + 8, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1) return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return -1;
    long hh = 0, mm = 0, ss = 0;
    const char *p = a + 10;
    if (*p) {
        if (*p != 'T' || strlen(p) < 6 || p[3] != ':') return -1;
        hh = digits(p + 1, 2), mm = digits(p + 4, 2);
        p += 6;
        if (*p == ':') {
            ss = digits(p + 1, 2);
            p += 3;
            if (strlen(a) < (size_t)(p - a)) return -1;
        }
        if (*p == 'Z') p++;
        if (*p || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59) return -1;
    }
    return days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
}

int taint_until_syntax(const char *arg, int64_t *height, int64_t *time, util_err *err)
{
    *height = -1;
    *time = -1;
    char *end;
    if (isdigit((unsigned char)arg[0]) && strlen(arg) <= 10 &&
        strspn(arg, "0123456789") == strlen(arg)) {
        unsigned long long h = strtoull(arg, &end, 10);
        if (h > INT32_MAX)
            return util_errf(err, UTIL_EINVAL, "--until %s: height out of range", arg);
        *height = (int64_t)h;
        return 0;
    }
    int64_t t;
    if (arg[0] == '@') {
        const char *p = arg + 1;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (!isdigit((unsigned char)*p) || *end || errno || v > UINT32_MAX)
            return util_errf(err, UTIL_EINVAL,
                             "--until %s: want @SECONDS (unix time, 0..4294967295)", arg);
        t = (int64_t)v;
    } else if ((t = parse_utc(arg)) < 0) {
        return util_errf(err, UTIL_EINVAL,
                         "--until %s: want a height, @UNIX_SECONDS, YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM[:SS]Z (UTC)",
                         arg);
    }
    *time = t;
    return 0;
}

/* ---- the one option parser ---- */

enum {
    K_POLICY,
    K_DIRECTION,
    K_HOPS,
    K_MIN_SAT,
    K_MIN_TEXT,
    K_UNTIL,
    K_UNTIL_TIME,
    K_MIXERS,
    K_MAX
};

/* The options, their limits and how a message describes a good value. models and fronts are
 * bit masks (1 << taint_model, 1 << taint_front). */
static const struct opt {
    const char *cli, *api; /* the key as each front spells it */
    int kind, models, fronts;
    uint64_t lo, hi; /* numbers */
    const char *what;
} opts[] = {
    {"policy", "policy", K_POLICY, 3, 3, 0, 0, "poison, haircut or fifo"},
    {"direction", "direction", K_DIRECTION, 3, 3, 0, 0, "forward or backward"},
    {"hops", "hops", K_HOPS, 3, 3, 1, TAINT_MAX_HOPS, "a whole number 1..1000"},
    {"min-value", "min_value", K_MIN_SAT, 1 << TAINT_MODEL_UTXO, 3, 0, TAINT_MAX_SAT,
     "satoshis (0..2.1e15)"},
    {"min-value", "min_value", K_MIN_TEXT, 1 << TAINT_MODEL_ACCOUNT, 1 << TAINT_FRONT_CLI, 0, 0,
     "a decimal amount in base units"},
    {"until", "until", K_UNTIL, 3, 1 << TAINT_FRONT_CLI, 0, 0, NULL},
    {"until-time", "until_time", K_UNTIL_TIME, 1 << TAINT_MODEL_ACCOUNT, 1 << TAINT_FRONT_CLI, 0,
     INT64_MAX, "unix seconds"},
    {"through-mixers", "through_mixers", K_MIXERS, 3, 3, 0, 0, "true or false"},
    {"max-outputs", "max_outputs", K_MAX, 1 << TAINT_MODEL_UTXO, 1 << TAINT_FRONT_CLI, 1,
     UINT64_MAX, "a positive number"},
    {"max-xfers", "max_xfers", K_MAX, 1 << TAINT_MODEL_ACCOUNT, 1 << TAINT_FRONT_CLI, 1, UINT64_MAX,
     "a positive number"},
};

int taint_opt_fail(util_err *err, int front, const char *key, const char *what, const taint_val *v)
{
    char name[96];
    if (front == TAINT_FRONT_API)
        snprintf(name, sizeof name, "field '%s'", key);
    else
        snprintf(name, sizeof name, "--%s", key);
    if (!v->shown)
        return util_errf(err, UTIL_EINVAL, "%s must be %s, not '%s'", name, what,
                         v->text ? v->text : "");
    return util_errf(err, UTIL_EINVAL, "%s must be %s, not %s", name, what, v->shown);
}

/* A whole decimal number as the CLI takes it (no sign, no trailing text, no overflow), or an
 * integer as the API takes it (no string). 0 or -1. */
static int number(int front, const taint_val *v, uint64_t *out)
{
    if (front == TAINT_FRONT_API && v->kind != TAINT_VAL_INT) return -1;
    if (v->kind == TAINT_VAL_INT) {
        if (v->num < 0) return -1;
        *out = (uint64_t)v->num;
        return 0;
    }
    if (v->kind != TAINT_VAL_TEXT || !v->text) return -1;
    const char *s = v->text;
    char *end;
    if (!*s || *s < '0' || *s > '9') return -1;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = n;
    return 0;
}

int taint_opt_set(taint_target *t, int front, const char *key, const taint_val *v, util_err *err)
{
    const struct opt *o = NULL;
    for (size_t i = 0; i < sizeof opts / sizeof *opts && !o; i++)
        if (!strcmp(key, front == TAINT_FRONT_API ? opts[i].api : opts[i].cli) &&
            (opts[i].models >> t->model & 1) && (opts[i].fronts >> front & 1))
            o = &opts[i];
    if (!o)
        return util_errf(
            err, UTIL_ENOTFOUND,
            front == TAINT_FRONT_API ? "field '%s': unknown option" : "--%s: unknown option", key);
    const char *text = v->kind == TAINT_VAL_TEXT ? v->text : NULL;
    uint64_t n = 0;
    int p;
    switch (o->kind) {
    case K_POLICY:
        if (!text || (p = taint_policy_parse(text)) < 0) break;
        t->core->policy = p;
        return 0;
    case K_DIRECTION:
        if (!text || (p = taint_direction_parse(text)) < 0) break;
        t->core->direction = p;
        return 0;
    case K_MIXERS: /* a CLI flag is given as TAINT_VAL_BOOL true */
        if (v->kind != TAINT_VAL_BOOL) break;
        t->core->follow_mixers = v->flag ? 1 : 0;
        return 0;
    case K_UNTIL:
        if (!text) break;
        *t->until_text = text;
        return 0;
    case K_MIN_TEXT:
        /* decimal only (a 0x amount would read as hex elsewhere); the 256-bit range is the
         * caller's check */
        if (!text || !*text || strspn(text, "0123456789") != strlen(text)) break;
        *t->min_value_text = text;
        return 0;
    default:
        if (number(front, v, &n) || n < o->lo || n > o->hi) break;
        if (o->kind == K_HOPS)
            t->core->hops = (uint32_t)n;
        else if (o->kind == K_MIN_SAT)
            *t->min_value_sat = n;
        else if (o->kind == K_UNTIL_TIME)
            t->core->until_time = (int64_t)n;
        else
            t->core->max_visits = n;
        return 0;
    }
    return taint_opt_fail(err, front, key, o->what, v);
}

/* ---- totals ---- */

void taint_ledger_init(taint_ledger *l, size_t n, size_t first_out)
{
    memset(l, 0, sizeof *l);
    l->n = n < TAINT_LEDGER_MAX ? n : TAINT_LEDGER_MAX;
    l->first_out = first_out < l->n ? first_out : l->n;
}

void taint_ledger_set_u64(taint_ledger *l, size_t k, uint64_t v)
{
    if (k >= l->n) return;
    l->b[k] = (taint_amount){{v, 0, 0, 0}};
}

void taint_ledger_set(taint_ledger *l, size_t k, const uint64_t w[4])
{
    if (k >= l->n) return;
    memcpy(l->b[k].w, w, sizeof l->b[k].w);
}

/* a += b modulo 2^256 */
static void amount_add(taint_amount *a, const taint_amount *b)
{
    unsigned __int128 carry = 0;
    for (int i = 0; i < 4; i++) {
        carry += (unsigned __int128)a->w[i] + b->w[i];
        a->w[i] = (uint64_t)carry;
        carry >>= 64;
    }
}

int taint_ledger_balanced(const taint_ledger *l)
{
    taint_amount in = {{0}}, out = {{0}};
    for (size_t k = 0; k < l->n; k++)
        amount_add(k < l->first_out ? &in : &out, &l->b[k]);
    return !memcmp(in.w, out.w, sizeof in.w);
}

/* ---- the document skeleton ---- */

int taint_doc_options(json_t *doc, const taint_opts *o, json_t *min_value, int64_t until_time_shown,
                      const char *max_key)
{
    json_t *lim = json_object();
    int bad = !lim || json_object_set_new(lim, "hops",
                                          o->hops == TAINT_NO_HOP_LIMIT
                                              ? json_null()
                                              : json_integer((json_int_t)o->hops));
    bad |= !lim || json_object_set_new(lim, "min_value", min_value);
    if (!lim) json_decref(min_value);
    bad = bad ||
          json_object_set_new(lim, "until",
                              o->until >= 0 ? json_integer((json_int_t)o->until) : json_null());
    bad = bad ||
          json_object_set_new(lim, "until_time",
                              until_time_shown >= 0 ? json_integer((json_int_t)until_time_shown)
                                                    : json_null());
    bad = bad || json_object_set_new(lim, max_key, json_integer((json_int_t)o->max_visits));
    bad = bad || json_object_set_new(lim, "follow_mixers", json_boolean(o->follow_mixers));
    bad = bad || json_object_set_new(doc, "policy", json_string(taint_policy_name(o->policy)));
    bad = bad ||
          json_object_set_new(doc, "direction", json_string(taint_direction_name(o->direction)));
    if (bad) {
        json_decref(lim);
        return UTIL_ENOMEM;
    }
    return json_object_set_new(doc, "limits", lim) ? UTIL_ENOMEM : 0;
}

int taint_doc_partial(json_t *doc, int partial, const char *reason)
{
    if (json_object_set_new(doc, "partial", json_boolean(partial))) return UTIL_ENOMEM;
    if (partial && json_object_set_new(doc, "partial_reason", json_string(reason)))
        return UTIL_ENOMEM;
    return 0;
}

/* ---- what the limits cut off ---- */

const char *taint_cut_limit(int kind, int model)
{
    switch (kind) {
    case TAINT_CUT_HOPS:
        return "hops";
    case TAINT_CUT_UNTIL:
        return "until";
    case TAINT_CUT_MIN_VALUE:
        return "min_value";
    case TAINT_CUT_BUDGET:
        return model == TAINT_MODEL_ACCOUNT ? "max_xfers" : "max_outputs";
    }
    return "?";
}

const char *taint_cut_lift(int kind, int model, int front)
{
    int acct = model == TAINT_MODEL_ACCOUNT, cli = front == TAINT_FRONT_CLI;
    switch (kind) {
    case TAINT_CUT_HOPS:
        return cli ? "leave --hops out (no hop limit) or raise it"
                   : "leave hops out (no hop limit) or raise it";
    case TAINT_CUT_UNTIL:
        return cli ? (acct ? "leave --until/--until-time out or widen the window"
                           : "leave --until out or widen the window")
                   : "leave until out or widen the window";
    case TAINT_CUT_MIN_VALUE:
        return cli ? "lower --min-value (0 follows every unit)"
                   : "lower min_value (0 follows every unit)";
    case TAINT_CUT_BUDGET:
        if (cli)
            return acct ? "raise --max-xfers, or narrow the trace (fewer seeds, --hops, "
                          "--min-value)"
                        : "raise --max-outputs, or narrow the trace (fewer seeds, --hops, "
                          "--min-value)";
        return acct ? "raise max_xfers (--max-xfers), or narrow the trace (fewer seeds, hops, "
                      "min_value)"
                    : "raise max_outputs (the CLI's --max-outputs; the HTTP API's is the "
                      "service's), or narrow the trace (fewer seeds, hops, min_value)";
    }
    return "?";
}

char *taint_hops_text(uint32_t hops, char *buf)
{
    if (hops == TAINT_NO_HOP_LIMIT)
        snprintf(buf, TAINT_HOPS_TEXT, "no hop limit");
    else
        snprintf(buf, TAINT_HOPS_TEXT, "%" PRIu32 " hop%s", hops, hops == 1 ? "" : "s");
    return buf;
}

char *taint_amount_dec(const taint_amount *a, char *out)
{
    uint64_t w[4];
    memcpy(w, a->w, sizeof w);
    char rev[80];
    size_t n = 0;
    do { /* divide the 256-bit number by 10, most significant limb first */
        unsigned __int128 rem = 0;
        for (int i = 3; i >= 0; i--) {
            unsigned __int128 cur = rem << 64 | w[i];
            w[i] = (uint64_t)(cur / 10);
            rem = cur % 10;
        }
        rev[n++] = (char)('0' + (int)rem);
    } while (w[0] | w[1] | w[2] | w[3]);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = 0;
    return out;
}

int taint_doc_cuts(json_t *doc, const taint_cut *cuts, size_t n, int model)
{
    json_t *a = json_array();
    if (!a || json_object_set_new(doc, "cut", a)) return UTIL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const taint_cut *c = &cuts[i];
        char dec[80];
        json_t *amount = model == TAINT_MODEL_ACCOUNT
                             ? json_string(taint_amount_dec(&c->amount, dec))
                             : json_integer((json_int_t)c->amount.w[0]);
        json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:s}", "limit", taint_cut_limit(c->kind, model),
                              "bucket", c->bucket ? c->bucket : "?", "amount", amount,
                              c->unit ? c->unit : "count", (json_int_t)c->count, "lift",
                              taint_cut_lift(c->kind, model, TAINT_FRONT_API));
        if (!o || json_array_append_new(a, o)) return UTIL_ENOMEM;
    }
    return 0;
}
