/* serve: a cache of screening answers for one snapshot (see serve_int.h).
 *
 * Four-way set-associative: a key's hash picks a set of four slots; a new answer takes an empty
 * slot of the set or replaces the one stored longest ago. Exchanges
 * screen the same deposit addresses again and again between two blocks; a cache that forgets
 * under pressure costs one recomputation, never a wrong answer, because it lives and dies with
 * the snapshot whose answers it holds. Slots are guarded by striped locks so worker threads
 * rarely wait for each other. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "serve_int.h"

#define CACHE_STRIPES 64
#define CACHE_MAX_TEXT (256 * 1024) /* larger answers are not kept */

#define CACHE_WAYS 4

typedef struct slot {
    uint64_t hash, stamp;
    char *key, *text;
    size_t len;
} slot;

struct serve_cache {
    size_t n, sets;
    uint64_t clock; /* insertions so far, counted atomically: the age of a slot */
    slot *slots;
    pthread_mutex_t locks[CACHE_STRIPES];
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

serve_cache *serve_cache_new(size_t slots)
{
    if (!slots) return NULL;
    slots = (slots + CACHE_WAYS - 1) / CACHE_WAYS * CACHE_WAYS;
    serve_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(slots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->n = slots;
    c->sets = slots / CACHE_WAYS;
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void serve_cache_free(serve_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->slots[i].key);
        free(c->slots[i].text);
    }
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->slots);
    free(c);
}

char *serve_cache_get(serve_cache *c, const char *key, size_t *len)
{
    if (!c) return NULL;
    uint64_t h = fnv1a(key);
    size_t set = h % c->sets;
    char *out = NULL;
    pthread_mutex_lock(&c->locks[set % CACHE_STRIPES]);
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        slot *s = &c->slots[set * CACHE_WAYS + w];
        if (s->key && s->hash == h && !strcmp(s->key, key)) {
            if ((out = malloc(s->len + 1))) {
                memcpy(out, s->text, s->len + 1);
                *len = s->len;
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->locks[set % CACHE_STRIPES]);
    return out;
}

void serve_cache_put(serve_cache *c, const char *key, const char *text, size_t len)
{
    if (!c || len > CACHE_MAX_TEXT) return;
    char *k = strdup(key), *t = malloc(len + 1);
    if (!k || !t) {
        free(k);
        free(t);
        return;
    }
    memcpy(t, text, len + 1);
    uint64_t h = fnv1a(key);
    size_t set = h % c->sets;
    pthread_mutex_lock(&c->locks[set % CACHE_STRIPES]);
    slot *victim = NULL;
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        slot *s = &c->slots[set * CACHE_WAYS + w];
        if (!s->key || (s->hash == h && !strcmp(s->key, key))) { /* empty, or the same key */
            victim = s;
            break;
        }
        if (!victim || s->stamp < victim->stamp) victim = s;
    }
    char *old_k = victim->key, *old_t = victim->text;
    *victim = (slot){h, __atomic_add_fetch(&c->clock, 1, __ATOMIC_RELAXED), k, t, len};
    pthread_mutex_unlock(&c->locks[set % CACHE_STRIPES]);
    free(old_k);
    free(old_t);
}
