/* src/state against one backend: the embedded SQLite database in a fresh temp directory, or the
 * PostgreSQL server named by CT_STATE_URL (tests/e2e_state.sh runs this program against a fresh
 * server of its own). The same checks for both: migrations applied once by processes starting
 * together, labels (add, update, retire, history, the label set they make), watchlists, keys,
 * change serials and notifications, and delivery leases (one holder at a time, taken over after
 * expiry, exactly one GOT per alert across racing processes). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/state/state.h"
#include "check.h"

static const char *url;
static char dir[256];

static state_db *open_or_die(void)
{
    state_db *db;
    util_err err = {0};
    if (state_open(&db, url, dir, &err)) {
        fprintf(stderr, "state_open: %s\n", err.msg);
        exit(1);
    }
    return db;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* n processes open the (new) database at once; each must succeed. */
static void migrations_once(void)
{
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t kids[6];
    for (int i = 0; i < 6; i++) {
        if ((kids[i] = fork()) == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) < 0) _exit(2);
            state_db *db;
            util_err err = {0};
            int rc = state_open(&db, url, dir, &err);
            if (rc) fprintf(stderr, "child %d: %s\n", i, err.msg);
            state_close(db);
            _exit(rc ? 1 : 0);
        }
    }
    close(go[0]);
    close(go[1]); /* every child's read returns at once */
    for (int i = 0; i < 6; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    state_db *db = open_or_die();
    int v = 0, rows = 0;
    util_err err = {0};
    CHECK(state_schema(db, &v, &rows, &err) == 0);
    CHECK(v == STATE_SCHEMA_VERSION);
    CHECK(rows == STATE_SCHEMA_VERSION); /* one row per migration: each ran once */
    state_close(db);
}

static void labels(void)
{
    state_db *db = open_or_die();
    util_err err = {0};
    uint64_t s0[STATE_NTOPICS], s1[STATE_NTOPICS];
    CHECK(state_serials(db, s0, &err) == 0);
    const char *addr = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
    labels_label l = {.chain = "XBT",
                      .address = (char *)addr,
                      .category = "hack",
                      .name = "first",
                      .source = "analyst",
                      .confidence = 80};
    int64_t id1 = 0, id2 = 0, id3 = 0;
    CHECK(state_label_add(db, &l, "alice", &id1, &err) == 0);
    l.name = "second";
    CHECK(state_label_add(db, &l, "bob", &id2, &err) == 0);
    CHECK(id1 == id2 && id1 > 0); /* the same identity: updated */
    l.name = "bad";
    l.address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"; /* checksum broken */
    CHECK(state_label_add(db, &l, "bob", NULL, &err) == UTIL_EFORMAT);
    CHECK(strstr(err.msg, "address") != NULL);
    l.address = (char *)addr;
    CHECK(state_label_add(db, &l, "", NULL, &err) == UTIL_EINVAL);
    l.name = "bad\x1b[2J";
    CHECK(state_label_add(db, &l, "bob", NULL, &err) == UTIL_EFORMAT);
    CHECK(state_label_retire(db, "btc", addr, "analyst", "theft", "carol", "wrong", &err) == 0);
    CHECK(state_label_retire(db, "btc", addr, "analyst", "theft", "carol", "", &err) ==
          UTIL_ENOTFOUND);
    /* an imported label of the same identity is taken out of the set; another label added */
    labels_label l2 = {.chain = "btc",
                       .address = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
                       .category = "exchange",
                       .name = "desk",
                       .source = "analyst",
                       .confidence = 50};
    CHECK(state_label_add(db, &l2, "dave", &id3, &err) == 0);
    CHECK(id3 != id1);
    CHECK(state_serials(db, s1, &err) == 0);
    CHECK(s1[STATE_TOPIC_LABELS] == s0[STATE_TOPIC_LABELS] + 4); /* add, update, retire, add */
    CHECK(s1[STATE_TOPIC_WATCHLISTS] == s0[STATE_TOPIC_WATCHLISTS]);

    json_t *h;
    CHECK(state_label_history(db, addr, &h, &err) == 0);
    CHECK(json_array_size(h) == 3);
    const char *ev[] = {"add", "update", "retire"}, *who[] = {"alice", "bob", "carol"};
    for (size_t i = 0; i < 3 && i < json_array_size(h); i++) {
        json_t *e = json_array_get(h, i);
        CHECK_STR(json_string_value(json_object_get(e, "event")), ev[i]);
        CHECK_STR(json_string_value(json_object_get(e, "author")), who[i]);
        CHECK_STR(json_string_value(json_object_get(e, "category")), "theft");
        CHECK_STR(json_string_value(json_object_get(e, "chain")), "btc");
    }
    json_decref(h);

    state_labels ls;
    CHECK(state_labels_all(db, &ls, &err) == 0);
    CHECK(ls.n == 2);
    CHECK(ls.n == 2 && ls.v[0].retired_ms > 0 && !ls.v[1].retired_ms);
    CHECK(ls.n == 2 && !strcmp(ls.v[0].retired_by, "carol") && !strcmp(ls.v[0].author, "alice"));
    /* the label set: an empty directory's set, the retired identity imported there */
    labels_db *set;
    char ldir[300];
    snprintf(ldir, sizeof ldir, "%s/labels", dir);
    CHECK(labels_db_open(&set, ldir, LABELS_WRITE, &err) == 0);
    labels_label imp = {.chain = "btc",
                        .address = (char *)addr,
                        .category = "theft",
                        .name = "imported",
                        .source = "analyst",
                        .confidence = 50};
    CHECK(labels_add(set, &imp, 1, "test", NULL, &err) == 0);
    CHECK(labels_db_count(set) == 1);
    CHECK(state_labels_apply(&ls, set, &err) == 0);
    CHECK(labels_db_count(set) == 1);
    const labels_label *f;
    size_t n;
    labels_find(set, "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", &f, &n);
    CHECK(n == 1 && !strcmp(f->name, "desk") && !strcmp(f->category, "exchange"));
    labels_find(set, "btc", addr, &f, &n);
    CHECK(n == 0);
    labels_db_close(set);
    state_labels_free(&ls);
    state_close(db);
}

static void watchlists_keys(void)
{
    state_db *db = open_or_die();
    util_err err = {0};
    uint64_t s0[STATE_NTOPICS], s1[STATE_NTOPICS];
    CHECK(state_serials(db, s0, &err) == 0);
    CHECK(state_watch_put(db, "alice", "w1", "{\"name\":\"w1\",\"items\":[1]}", &err) == 0);
    CHECK(state_watch_put(db, "alice", "w1", "{\"name\":\"w1\",\"items\":[2]}", &err) == 0);
    CHECK(state_watch_put(db, "bob", "w1", "{\"name\":\"w1\",\"items\":[3]}", &err) == 0);
    json_t *a;
    CHECK(state_watch_all(db, &a, &err) == 0);
    CHECK(json_array_size(a) == 2);
    CHECK(json_integer_value(json_array_get(json_object_get(json_array_get(a, 0), "items"), 0)) ==
          2);
    json_decref(a);
    CHECK(state_watch_delete(db, "alice", "w1", &err) == 0);
    CHECK(state_watch_delete(db, "alice", "w1", &err) == UTIL_ENOTFOUND);
    CHECK(state_watch_all(db, &a, &err) == 0);
    CHECK(json_array_size(a) == 1);
    json_decref(a);

    const char *d = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    CHECK(state_key_add(db, d, "alice", "sha256:x owner=alice role=admin", &err) == 0);
    CHECK(state_key_add(db, d, "alice", "sha256:x owner=alice role=admin", &err) != 0);
    CHECK(state_keys_all(db, 1, &a, &err) == 0);
    CHECK(json_array_size(a) == 1);
    json_decref(a);
    CHECK(state_key_revoke(db, "0011223344", &err) == UTIL_EINVAL);
    CHECK(state_key_revoke(db, "0011223344556677", &err) == 0);
    CHECK(state_key_revoke(db, "0011223344556677", &err) == UTIL_ENOTFOUND);
    CHECK(state_keys_all(db, 1, &a, &err) == 0);
    CHECK(json_array_size(a) == 0);
    json_decref(a);
    CHECK(state_keys_all(db, 0, &a, &err) == 0);
    CHECK(json_array_size(a) == 1 && json_object_get(json_array_get(a, 0), "revoked_ms"));
    json_decref(a);
    CHECK(state_serials(db, s1, &err) == 0);
    CHECK(s1[STATE_TOPIC_WATCHLISTS] == s0[STATE_TOPIC_WATCHLISTS] + 4);
    CHECK(s1[STATE_TOPIC_KEYS] == s0[STATE_TOPIC_KEYS] + 2);
    state_close(db);
}

/* Another process changes a label: state_wait wakes (PostgreSQL: by NOTIFY, well within a
 * second) or, on SQLite, the serial moved by the time the poll looks. */
static void notify(void)
{
    state_db *db = open_or_die();
    util_err err = {0};
    uint64_t s0[STATE_NTOPICS], s1[STATE_NTOPICS];
    CHECK(state_wait(db, 10, &err) >= 0); /* LISTEN before the change */
    CHECK(state_serials(db, s0, &err) == 0);
    pid_t k = fork();
    if (k == 0) {
        usleep(200000);
        state_db *o = open_or_die();
        labels_label l = {.chain = "btc",
                          .address = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
                          .category = "mixer",
                          .source = "analyst",
                          .confidence = 50};
        util_err e = {0};
        int rc = state_label_add(o, &l, "erin", NULL, &e);
        state_close(o);
        _exit(rc ? 1 : 0);
    }
    double t0 = now_s(), woke = 0;
    int pg = !strcmp(state_backend(db), "postgresql");
    while (now_s() - t0 < 3) {
        int r = state_wait(db, pg ? 3000 : 100, &err);
        CHECK(r >= 0);
        CHECK(state_serials(db, s1, &err) == 0);
        if (s1[STATE_TOPIC_LABELS] != s0[STATE_TOPIC_LABELS]) {
            woke = now_s() - t0;
            if (pg) CHECK(r == 1);
            break;
        }
    }
    int st;
    waitpid(k, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(woke > 0.15 && woke < 1.0);
    printf("change seen after %.3f s (%s; the change was made at 0.2 s)\n", woke,
           state_backend(db));
    state_close(db);
}

static void leases(void)
{
    state_db *db = open_or_die();
    util_err err = {0};
    int out = 0;
    int64_t until = 0;
    char final[64], by[64];
    CHECK(state_delivery_lease(db, "k1", "A", 300, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_GOT);
    CHECK(state_delivery_lease(db, "k1", "B", 300, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_HELD && until > state_now_ms());
    CHECK(state_delivery_lease(db, "k1", "A", 300, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_GOT); /* renewed by its holder */
    usleep(400000);                /* A "died": its lease expires */
    CHECK(state_delivery_lease(db, "k1", "B", 5000, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_GOT);
    CHECK(state_delivery_finish(db, "k1", "A", "delivered", &err) == UTIL_EBUSY);
    CHECK(state_delivery_finish(db, "k1", "B", "delivered", &err) == 0);
    CHECK(state_delivery_lease(db, "k1", "A", 300, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_DONE && !strcmp(final, "delivered") && !strcmp(by, "B"));
    /* a pending outcome gives the lease back at once */
    CHECK(state_delivery_lease(db, "k2", "A", 60000, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_GOT);
    CHECK(state_delivery_finish(db, "k2", "A", "pending", &err) == 0);
    CHECK(state_delivery_lease(db, "k2", "B", 60000, &out, &until, final, by, &err) == 0);
    CHECK(out == STATE_LEASE_GOT);
    state_close(db);

    /* 3 processes race for the same 60 alerts: each is got exactly once */
    enum { NK = 60, NP = 3 };
    int fds[NP][2];
    pid_t kids[NP];
    for (int p = 0; p < NP; p++) {
        CHECK(pipe(fds[p]) == 0);
        if ((kids[p] = fork()) == 0) {
            state_db *o = open_or_die();
            char holder[8], got[NK];
            snprintf(holder, sizeof holder, "P%d", p);
            for (int i = 0; i < NK; i++) {
                char key[16];
                int oc = 0;
                int64_t u;
                util_err e = {0};
                snprintf(key, sizeof key, "race%d", (i * (p + 1) * 7) % NK);
                got[(i * (p + 1) * 7) % NK] = 0;
                int rc = state_delivery_lease(o, key, holder, 60000, &oc, &u, NULL, NULL, &e);
                for (int t = 0; rc == UTIL_EBUSY && t < 20; t++) /* a racing insert */
                    rc = state_delivery_lease(o, key, holder, 60000, &oc, &u, NULL, NULL, &e);
                if (rc) fprintf(stderr, "%s: %s\n", holder, e.msg);
                got[(i * (p + 1) * 7) % NK] = rc ? 'E' : oc == STATE_LEASE_GOT ? 'G' : '-';
            }
            if (write(fds[p][1], got, NK) != NK) _exit(2);
            state_close(o);
            _exit(0);
        }
        close(fds[p][1]);
    }
    int count[NK] = {0}, errors = 0;
    for (int p = 0; p < NP; p++) {
        char got[NK];
        CHECK(read(fds[p][0], got, NK) == NK);
        close(fds[p][0]);
        int st;
        waitpid(kids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        for (int i = 0; i < NK; i++)
            count[i] += got[i] == 'G', errors += got[i] == 'E';
    }
    int once = 0;
    for (int i = 0; i < NK; i++)
        once += count[i] == 1;
    CHECK(errors == 0);
    CHECK(once == NK);
}

int main(void)
{
    url = getenv("CT_STATE_URL");
    char tmpl[] = "/tmp/ct_state_XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    snprintf(dir, sizeof dir, "%s", tmpl);
    printf("backend: %s\n", url && *url ? "postgresql (CT_STATE_URL)" : "embedded sqlite");
    migrations_once();
    labels();
    watchlists_keys();
    notify();
    leases();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
    return CHECK_DONE();
}
