/* labels_actor: which actor a holder's labels name (labels.h, "who is behind a holder"). The
 * trace, etrace, cross-chain and screening answers all group by this one decision. */
#include <stdio.h>
#include <string.h>

#include "labels.h"

/* Ranks: a label's actor field beats any name; within each, the primary label beats the
 * address's own, which beats the entity's. 0 is a label with neither (only a category). */
static int rank_of(const labels_label *l, labels_offer how)
{
    int step = how == LABELS_OFFER_PRIMARY ? 3 : how == LABELS_OFFER_OWN ? 2 : 1;
    if (l->actor && *l->actor) return 3 + step; /* 4..6 */
    if (l->name && *l->name) return step;       /* 1..3 */
    return 0;
}

void labels_actor_init(labels_actor *a)
{
    memset(a, 0, sizeof *a);
    a->rank = -1;
    a->from = LABELS_ACTOR_UNLABELLED;
}

void labels_actor_offer(labels_actor *a, const labels_label *l, labels_offer how, int via_entity)
{
    if (!l) return;
    int rank = rank_of(l, how);
    if (a->label && (rank < a->rank || (rank == a->rank && l->confidence <= a->label->confidence)))
        return;
    a->label = l;
    a->rank = rank;
    a->via_entity = how == LABELS_OFFER_PRIMARY && via_entity;
    if (rank >= 4) {
        a->name = l->actor;
        a->from =
            how == LABELS_OFFER_ENTITY || a->via_entity ? LABELS_ACTOR_ENTITY : LABELS_ACTOR_LABEL;
    } else if (rank >= 1) {
        a->name = l->name;
        a->from = LABELS_ACTOR_NAME;
    } else {
        a->name = NULL;
        a->from = LABELS_ACTOR_UNNAMED;
    }
}

const char *labels_actor_from_name(int from)
{
    static const char *const names[] = {"unlabelled", "unnamed", "name", "entity", "label"};
    return from >= 0 && from <= LABELS_ACTOR_LABEL ? names[from] : "unlabelled";
}

const char *labels_actor_text(const labels_actor *a, char *buf, size_t cap)
{
    if (a->name) return a->name;
    if (a->label) {
        snprintf(buf, cap, "(unnamed %s)", a->label->category);
        return buf;
    }
    return "(unlabelled)";
}

int labels_actor_same(const labels_actor *a, const labels_actor *b)
{
    if (a->name || b->name) return a->name && b->name && !strcmp(a->name, b->name);
    if (!a->label || !b->label) return !a->label && !b->label;
    return !strcmp(a->label->category, b->label->category);
}
