/* serve: waking the service's loop the moment the store commits. The files that make a new
 * state (MANIFEST, labels.db, cluster.state, and the exposure index's exposure/MANIFEST) are all
 * replaced by rename, so inotify watches on the store directory and its exposure/ see each
 * commit; the loop waits on it and on a signalfd for SIGINT and
 * SIGTERM at once. The --poll-ms look at their signatures stays as the fallback (inotify may be
 * unavailable, e.g. on a network file system). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "serve_int.h"

struct serve_notify {
    int ino;        /* inotify descriptor, or -1 */
    char sub[4200]; /* DIR/exposure: watched too once it exists */
    int sub_watched;
    int sfd; /* signalfd, or -1 (then the wait falls back to sigtimedwait) */
    sigset_t signals;
};

static int is_state_file(const char *name)
{
    return !strcmp(name, "MANIFEST") || !strcmp(name, LABELS_FILE) ||
           !strcmp(name, "cluster.state") || !strcmp(name, "links.jsonl");
}

int serve_notify_open(const char *db, const sigset_t *signals, serve_notify **out)
{
    serve_notify *n = calloc(1, sizeof *n);
    if (!n) return UTIL_ENOMEM;
    n->signals = *signals;
    n->sfd = signalfd(-1, signals, SFD_CLOEXEC);
    n->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (n->ino >= 0 &&
        inotify_add_watch(n->ino, db, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE) < 0) {
        close(n->ino);
        n->ino = -1;
    }
    snprintf(n->sub, sizeof n->sub, "%s/" EXPOSURE_SUBDIR, db);
    if (n->ino >= 0) n->sub_watched = inotify_add_watch(n->ino, n->sub, IN_MOVED_TO) >= 0;
    if (n->ino >= 0) serve_xscreen_watch(n->ino, db); /* the EVM stores and the links */
    if (n->sfd < 0 && n->ino >= 0) { /* without a signalfd the wait cannot watch both */
        close(n->ino);
        n->ino = -1;
    }
    *out = n;
    return 0;
}

void serve_notify_close(serve_notify *n)
{
    if (!n) return;
    if (n->ino >= 0) close(n->ino);
    if (n->sfd >= 0) close(n->sfd);
    free(n);
}

/* Whether the pending events name a state file (all pending events are read). */
static int drain(serve_notify *n)
{
    int ino = n->ino;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t len;
    while ((len = read(ino, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if (e->len && is_state_file(e->name)) hit = 1;
            /* an exposure index made after the start: watch its directory from now on */
            if (e->len && !n->sub_watched && !strcmp(e->name, EXPOSURE_SUBDIR))
                n->sub_watched = inotify_add_watch(ino, n->sub, IN_MOVED_TO) >= 0;
            if (e->mask & IN_Q_OVERFLOW) hit = 1;
            p += sizeof *e + e->len;
        }
    }
    return hit;
}

int serve_notify_wait(serve_notify *n, unsigned ms, int *changed)
{
    *changed = 0;
    if (n->sfd < 0) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        int sig = sigtimedwait(&n->signals, NULL, &ts);
        return sig > 0 ? sig : 0;
    }
    struct pollfd p[2] = {{.fd = n->sfd, .events = POLLIN}, {.fd = n->ino, .events = POLLIN}};
    int k = poll(p, n->ino >= 0 ? 2 : 1, (int)ms);
    if (k <= 0) return 0;
    if (p[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(n->sfd, &si, sizeof si) == (ssize_t)sizeof si) return (int)si.ssi_signo;
    }
    if (n->ino >= 0 && (p[1].revents & POLLIN)) *changed = drain(n);
    return 0;
}
