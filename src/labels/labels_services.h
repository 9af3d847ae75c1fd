/* The service categories a trace stops at: value that reaches an address labelled with one of
 * them has left the owner's hands. One list for the Bitcoin tracer, the account-model tracer and
 * the cross-chain tracer, in the order a label is looked for. Mixer is last so that following
 * mixers (not stopping at them) is the list without its last entry. */
#ifndef CT_LABELS_SERVICES_H
#define CT_LABELS_SERVICES_H

#include <stddef.h>

typedef enum {
    LABELS_SVC_EXCHANGE = 0,
    LABELS_SVC_OTC,
    LABELS_SVC_BRIDGE,
    LABELS_SVC_SWAP,
    LABELS_SVC_MIXER,
    LABELS_SVC_N
} labels_service;

_Static_assert(LABELS_SVC_MIXER == LABELS_SVC_N - 1, "mixer must stay the last stop category");

/* The category words, indexed by labels_service. */
static inline const char *const *labels_service_categories(void)
{
    static const char *const names[LABELS_SVC_N] = {"exchange", "otc", "bridge", "swap", "mixer"};
    return names;
}

/* How many of labels_service_categories() are stops: all of them, or all but mixer when mixers
 * are followed through. */
static inline size_t labels_service_stops(int follow_mixers)
{
    return follow_mixers ? LABELS_SVC_MIXER : LABELS_SVC_N;
}

#endif
