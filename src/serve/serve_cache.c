/* serve: a cache of screening answers for one snapshot (see serve_int.h).
 *
 * Direct-mapped: a key's hash picks one slot, a new answer replaces whatever was there. Exchanges
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

typedef struct slot {
    uint64_t hash;
    char *key, *text;
    size_t len;
} slot;

struct serve_cache {
    size_t n;
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
    serve_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(slots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->n = slots;
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
    size_t i = h % c->n;
    char *out = NULL;
    pthread_mutex_lock(&c->locks[i % CACHE_STRIPES]);
    slot *s = &c->slots[i];
    if (s->key && s->hash == h && !strcmp(s->key, key) && (out = malloc(s->len + 1))) {
        memcpy(out, s->text, s->len + 1);
        *len = s->len;
    }
    pthread_mutex_unlock(&c->locks[i % CACHE_STRIPES]);
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
    size_t i = h % c->n;
    pthread_mutex_lock(&c->locks[i % CACHE_STRIPES]);
    slot *s = &c->slots[i];
    char *old_k = s->key, *old_t = s->text;
    *s = (slot){h, k, t, len};
    pthread_mutex_unlock(&c->locks[i % CACHE_STRIPES]);
    free(old_k);
    free(old_t);
}
