/* serve: connection tracking for the request deadline. A client that drips its request is cut
 * off by the serve_run loop, so slow clients cannot hold every connection. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve_int.h"

/* ---- connections: the request deadline ---- */

conn_slot *serve_slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Set (or with 0 lift) the time by which the connection's next request must have arrived. */
void serve_slot_deadline(server *sv, struct MHD_Connection *c, double deadline)
{
    conn_slot *sl = serve_slot_of(c);
    if (!sl) return;
    pthread_mutex_lock(&sv->front->conn_lock);
    sl->deadline = deadline;
    sl->since = util_now();
    pthread_mutex_unlock(&sv->front->conn_lock);
}

/* libmicrohttpd notifies CLOSED before it closes the socket (MHD_cleanup_connections), and we
 * unlink the slot under conn_lock: the reaper, which holds conn_lock while it shuts a socket
 * down, therefore never touches a closed (or reused) descriptor. */
void serve_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    server *sv = cls;
    struct serve_front *f = sv->front;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_slot *sl = calloc(1, sizeof *sl);
        *socket_context = sl;
        if (!sl) return; /* untracked: the idle timeout still applies */
        sl->c = c;
        sl->since = util_now();
        sl->deadline = sl->since + sv->o.request_deadline_s;
        pthread_mutex_lock(&f->conn_lock);
        f->n_conns++;
        sl->next = f->conns;
        if (f->conns) f->conns->prev = sl;
        f->conns = sl;
        pthread_mutex_unlock(&f->conn_lock);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_slot *sl = *socket_context;
        if (!sl) return;
        pthread_mutex_lock(&f->conn_lock);
        f->n_conns--;
        if (sl->prev)
            sl->prev->next = sl->next;
        else
            f->conns = sl->next;
        if (sl->next) sl->next->prev = sl->prev;
        pthread_mutex_unlock(&f->conn_lock);
        free(sl);
        *socket_context = NULL;
    }
}

/* Cut every connection whose request has not fully arrived by its deadline. shutdown() wakes
 * its worker, which sees the end of the stream and closes it the usual way. Under pressure
 * (over three quarters of the connection limit taken) the deadline shrinks to 0.5 s: a request
 * from a working client arrives in milliseconds, and slots held by dripping clients are given
 * back before they run out. */
void serve_reap_overdue(server *sv)
{
    struct serve_front *f = sv->front;
    double now = util_now();
    pthread_mutex_lock(&f->conn_lock);
    int pressed = f->n_conns > sv->o.max_connections / 4 * 3;
    for (conn_slot *sl = f->conns; sl; sl = sl->next) {
        if (!sl->deadline || (now < sl->deadline && !(pressed && now - sl->since > 0.5))) continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(sl->c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && ci->connect_fd >= 0) shutdown(ci->connect_fd, SHUT_RDWR);
        sl->deadline = 0;
        atomic_fetch_add(&f->reaped, 1);
    }
    pthread_mutex_unlock(&f->conn_lock);
}

/* The URL and query arguments are decoded here: a %00 would cut them short where they are read
 * as C strings, so it is noted and the request refused. */
size_t serve_on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) != n) {
        conn_slot *sl = serve_slot_of(c);
        if (sl) sl->nul_in_url = 1;
    }
    return n;
}
