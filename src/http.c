/*
 * http.c: HTTP GETs and POSTs on a libuv loop through libcurl's multi
 * interface.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it (CURLMOPT_TIMERFUNCTION); libuv watches them (one uv_poll_t per
 * socket) and runs the timer. The shape follows curl's multi-uv.c, with the
 * corrections ghiper.c and experience add:
 *
 * - curl_multi_info_read is drained after every curl_multi_socket_action,
 *   so a finished transfer is reported as soon as curl knows it.
 * - A poll error (status < 0) is passed to curl as CURL_CSELECT_ERR instead
 *   of being dropped, so curl fails the connection instead of waiting for
 *   the timeout.
 * - The TIMERFUNCTION only starts or stops the uv timer (a 0 ms timeout is
 *   a timer started with 0, not a direct call back into curl, which would
 *   recurse into curl from inside curl).
 *
 * File descriptors and poll handles. libuv forbids two active poll handles
 * on one fd, and curl reuses fds: a pooled connection goes idle (curl says
 * CURL_POLL_REMOVE but keeps the socket open) and comes back later, and a
 * closed socket's number is soon handed to a new connection. Three rules:
 * 1. CURL_POLL_REMOVE closes the poll handle at once, while curl still owns
 *    the fd (curl reports REMOVE before it closes a socket). uv_close() stops
 *    the watcher synchronously (uv__poll_close -> uv__poll_stop, which also
 *    drops the fd from epoll), so the old handle is inert from that moment.
 *    Closing later, after the fd number was reused, would remove the new
 *    socket from epoll.
 * 2. The struct is freed only in the uv_close callback (libuv still owns the
 *    handle until then), and curl may still hold its pointer via
 *    curl_multi_assign until it deletes its own socket entry: a struct
 *    marked closing is never polled again.
 * 3. A per-fd table holds the one live (not closing) poll struct of each
 *    fd. The socket callback consults it when curl hands over no struct, so
 *    a second handle on one fd is never created; a new handle on a reused
 *    fd number is created while the old one is still closing, which is
 *    safe because the old one stopped watching in rule 1.
 * 4. The exception to rule 1: a socket curl made through on_open_socket
 *    and has read from (so it is connected: curl closes such a socket
 *    only through on_close_socket; a connection attempt it gives up is
 *    closed without the callback, but it never waited to read one) keeps
 *    its handle, started, when curl says REMOVE and pools it. Its next
 *    request then costs no epoll_ctl (uv_poll_init and uv_poll_start
 *    cost two to four each; 4% of the CPU at 1,000 targets). If it turns
 *    readable while pooled, the handle stops (on_poll); on_close_socket
 *    closes the handle before the fd.
 *
 * Re-entrancy. on_header/on_data run inside curl (from the write callback);
 * curl forbids curl_multi_add_handle/remove_handle/cleanup there. So
 * pf_http_get, pf_http_cancel and pf_http_close never call curl when made
 * from inside curl: they flag the transfer and start the "kick" timer (0 ms),
 * whose callback does the curl work from the loop. on_done is only ever
 * called from a loop callback, outside curl.
 *
 * gzip (req.gzip). curl sends Accept-Encoding: gzip but does not decode
 * (HTTP_CONTENT_DECODING 0): a 2xx body that comes Content-Encoding: gzip
 * is kept as it arrives (zin), decompressed whole with libdeflate when curl
 * is done with the transfer (2.3x zlib's speed, see gzip.h), and handed to
 * on_data TURN_BUDGET a turn from finish() and then h->resume ("drain"):
 * curl has released the connection by then, the transfer ends when the
 * body is all handed over.
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gzip.h"
#include "h1post.h"
#include "hash.h"
#include "log.h"
#include "pf_version.h"

/*
 * Connection pool groups. libcurl 7.88 walks the whole connection cache on
 * every curl_multi_remove_handle (looking for the transfer's last
 * connection to close it if it was CONNECT_ONLY), so with one idle
 * keep-alive connection per target a scrape cost grew with the number of
 * targets (measured, tiny bodies, 10,000 targets: 42 us a scrape with 100
 * pooled connections, 58 us with 1,000, 190 us with 5,000). Connections
 * are therefore spread over POOL_GROUPS connection caches (curl share
 * objects sharing connections and DNS), so a walk covers 1/POOL_GROUPS of
 * the pool. Each group costs a share and its "closure handle" (about
 * 6 kB), made when a request first uses it.
 *
 * Which group: libcurl also polls every idle connection of a cache
 * (prune_dead_connections, one poll() each) on the first transfer of a
 * second in that cache. With groups picked by a hash of the URL, every
 * group had a transfer every second at 1,000 targets every 5 s, and each
 * idle connection was polled about once a second (10,000 a second at
 * 10,000 targets every 10 s: 6% of the daemon's CPU at 1,000). Scrapes
 * pass pf_http_req.pool, their phase in their interval: a group then
 * holds targets whose ticks fall within 1/POOL_GROUPS of the interval
 * of each other (20 ms at 5 s), is used in one burst per interval and
 * polls each connection once per interval. Targets of one origin
 * (paths of one exporter) share the group of the first of them, and so
 * its connections. Other requests (the outputs' writes, few connections)
 * are grouped by a hash of their origin.
 */
#define POOL_GROUPS PF_HTTP_POOLS

/* Ended transfers' easy handles kept for the next ones: curl_easy_reset
 * is cheaper than curl_easy_cleanup + curl_easy_init (a handle is a few kB
 * of zeroed state plus its receive buffer). As many as usually run at once.
 *
 * A handle whose request had a shape (pf_http_req.shape) and succeeded is
 * kept as it is, options and header list, for the next request of that
 * shape, which sets only what may differ (setup_easy, `again`): a scrape
 * then costs no curl_easy_reset, no header list and about a tenth of the
 * options, most of which curl copies (bench/compare, 1,000 targets: the
 * set-up was 7% of the daemon's CPU, resetting and copying strings). Any
 * other spare is reset when it is put back, or when it is taken for a
 * request of another shape. */
#define SPARE_EASY 32

struct spare {
	CURL *e;
	uint64_t shape;              /* 0: reset */
	struct curl_slist *headers;  /* the shape's, owned with e while shape != 0 */
};

/* curl's receive buffer (CURLOPT_BUFFERSIZE) of each transfer. */
#define RECV_BUFFER (64L * 1024)

/* curl copies a request body through an upload buffer of 64 KiB by default
 * (UPLOAD_BUFFER_DEFAULT), one send and one turn of the loop each: a write
 * batch of 1 MiB took 16 turns, and at 10,000 targets every 10 s, with the
 * loop busy scraping, the writes fell behind (600,000 of 1,000,000 samples
 * a second delivered, the rest piling up in the spool). Bodies are sent
 * through a buffer of their size up to UPLOAD_BUFFER_MAX instead: 1 MiB
 * batches go out in one send (bench/compare: all delivered, 0.375 CPU-s per
 * million samples). */
#define UPLOAD_BUFFER_DEFAULT (64L * 1024)
#define UPLOAD_BUFFER_MAX (1024L * 1024)

/* Body bytes one transfer may hand over in one turn (one call into curl
 * from the loop). libcurl 7.88 reads a socket for as long as it has data:
 * a fast local target of 64 MiB was read, parsed and encoded in one call
 * of 1.4 s, in which no other target was served and every other timer was
 * late (tests/faults big). Over the budget the transfer is paused and
 * resumed by h->resume, an idle handle: the loop polls every other socket,
 * without waiting, in between. 1 MiB is about a millisecond of parsing. */
#define TURN_BUDGET ((uint64_t)1024 * 1024)

enum xfer_state {
	XF_PENDING_ADD, /* created inside a curl callback; added by kick */
	XF_RUNNING,     /* in the multi handle */
};

struct sock_ctx {
	uv_poll_t poll;  /* poll.data = this */
	pf_http *h;
	curl_socket_t fd;
	int what;        /* CURL_POLL_* curl asked for last; 0 once removed */
	int events;      /* UV_* the handle was started with; 0 stopped */
	int own;         /* made by on_open_socket: curl closes it by on_close_socket */
	int seen_in;     /* curl waited to read it: a connected socket */
	int closing;
};

struct pf_http_xfer {
	pf_http *h;
	pf_http_xfer *prev, *next; /* h->xfers */
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	uint64_t shape;      /* pf_http_req.shape, when the request may have one */
	int again;           /* easy is a spare of this shape: options kept */
	enum xfer_state state;
	int cancelled;       /* pf_http_cancel or pf_http_close */
	int aborted;         /* on_header/on_data returned nonzero */
	int too_big;         /* max_body exceeded */
	int header_done;     /* on_header decided (called or skipped) */
	int deliver;         /* final response is 2xx: feed on_data */
	int https;           /* the target URL is https */
	int paused;          /* over its TURN_BUDGET: h->resume unpauses it */
	int big_upload;      /* set CURLOPT_UPLOAD_BUFFERSIZE: easy_put frees it */
	int refused;         /* on_write refused the data held over a pause:
			      * on_kick ends it as curl would have */
	int gz_ok;           /* req.gzip: Accept-Encoding: gzip, raw bodies */
	int gz;              /* the final response's Content-Encoding: 1 gzip,
			      * -1 another one (refused), 0 none */
	const char *fail;    /* why it failed, when neither curl nor a limit says */
	int gz_done;         /* its body was decompressed (or failed to) */
	int draining;        /* curl is done; the decompressed body is still
			      * being handed over, TURN_BUDGET a turn */
	uint64_t drain_pass; /* h->resume_pass of its last hand-over */
	unsigned char *zin;  /* the gzip body as it came (gz and deliver) */
	size_t zin_len, zin_cap;
	char *zout;          /* zin decompressed; handed over from zout_off */
	size_t zout_len, zout_off;
	uint64_t turn;       /* h->turn when turn_bytes started counting */
	uint64_t turn_bytes; /* body bytes taken in that turn */
	uint64_t max_body;
	uint64_t timeout_ms;
	uint64_t seen_bytes; /* decompressed body bytes received, all statuses */
	uint64_t body_bytes; /* handed to on_data */
	uint64_t start_ns;
	const pf_http_part *parts; /* req.parts (borrowed) and where curl reads */
	size_t nparts, part, part_off;
	char reason[64];     /* reason phrase of the last status line */
	char retry_after[64]; /* Retry-After of the last response, "" if none */
	char *err_body;      /* first PF_HTTP_ERR_BODY bytes of a non-2xx body */
	size_t err_body_len;
	char errbuf[CURL_ERROR_SIZE];

	void *ud;
	int (*on_header)(void *ud, long status, const char *content_type);
	int (*on_data)(void *ud, const char *p, size_t n);
	void (*on_done)(void *ud, const pf_http_result *r);
};

struct pf_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;   /* curl's timeout */
	uv_timer_t kick;    /* deferred curl work (see re-entrancy above) */
	uv_idle_t resume;   /* unpauses the transfers over their TURN_BUDGET,
			     * and hands decompressed bodies over */
	uint64_t resume_pass; /* on_resume calls */
	pf_gunzip *gunzip;  /* made on the first gzip body */
	uint64_t turn;      /* calls into curl from the loop, for TURN_BUDGET */
	pf_http_xfer *xfers;
	struct sock_ctx **fds; /* fd -> live poll struct */
	size_t nfds;
	int in_curl;        /* inside curl_multi_socket_action */
	int closing;        /* pf_http_close called */
	int torn_down;      /* multi cleaned up, timers closing */
	int live_handles;   /* uv handles not yet through their close callback */
	void (*close_done)(void *ud);
	void *close_ud;
	CURLSH *groups[POOL_GROUPS]; /* connection caches, made on first use */
	struct spare spare[SPARE_EASY]; /* easy handles of ended transfers */
	size_t nspare;
	pf_http_xfer *free_xfers; /* ended transfers' structs, through next */
	size_t nfree_xfers;
	pf_h1 *h1;          /* plain-HTTP POSTs (h1post.h); NULL if it could not be made */
	uint64_t shapes;    /* pf_http_shape() handed out */
	uint64_t again;     /* requests set up on a spare of their shape */
};

/* curl_global_init is not thread-safe and must precede every other call;
 * promflux has one loop thread, so a plain counter is enough. */
static unsigned g_curl_users;

static void check_multi_info(pf_http *h);
static void kick(pf_http *h);
static void on_resume(uv_idle_t *idle);

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* x->easy for x->shape: a spare of that shape (x->again, with the
 * shape's header list in x->headers), else a reset spare or a new one. */
static void easy_get(pf_http_xfer *x)
{
	pf_http *h = x->h;
	x->easy = NULL;
	if (x->shape != 0)
		for (size_t i = h->nspare; i-- > 0;)
			if (h->spare[i].shape == x->shape) {
				x->easy = h->spare[i].e;
				x->headers = h->spare[i].headers;
				x->again = 1;
				h->again++;
				h->spare[i] = h->spare[--h->nspare];
				return;
			}
	if (h->nspare == 0) {
		x->easy = curl_easy_init();
		return;
	}
	struct spare *sp = &h->spare[--h->nspare];
	x->easy = sp->e;
	if (sp->shape != 0) {
		curl_easy_reset(sp->e);
		curl_slist_free_all(sp->headers);
	}
}

/* Takes back x's easy handle (no longer in the multi) and its header
 * list; keep: the request succeeded, its shape may use the handle as it
 * is. */
static void easy_put(pf_http_xfer *x, int keep)
{
	pf_http *h = x->h;
	CURL *e = x->easy;
	struct curl_slist *headers = x->headers;
	x->easy = NULL;
	x->headers = NULL;
	if (e == NULL)
		return;
	if (h->closing || h->nspare == SPARE_EASY) {
		curl_easy_cleanup(e);
		curl_slist_free_all(headers);
		return;
	}
	struct spare *sp = &h->spare[h->nspare++];
	sp->e = e;
	if (keep && x->shape != 0) {
		/* Nothing in it points into x any more. */
		(void)curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
		(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
		(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
		(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
		sp->shape = x->shape;
		sp->headers = headers;
		return;
	}
	/* Forgets every option (and the slists we gave it), keeps the
	 * allocation, the receive buffer and the share (replaced or kept by
	 * the next CURLOPT_SHARE). */
	curl_easy_reset(e);
	curl_slist_free_all(headers);
	/* A spare handle does not keep a large upload buffer (the option
	 * frees it; curl_easy_reset does not). */
	if (x->big_upload)
		(void)curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_DEFAULT);
	sp->shape = 0;
	sp->headers = NULL;
}

/* A zeroed transfer: one that ended, else a new one. malloc'ing them in
 * a heap that curl churns with a hundred blocks a transfer cost as much
 * as all of a shaped request's options. */
static pf_http_xfer *xfer_get(pf_http *h)
{
	pf_http_xfer *x = h->free_xfers;
	if (x == NULL)
		return calloc(1, sizeof *x);
	h->free_xfers = x->next;
	h->nfree_xfers--;
	memset(x, 0, sizeof *x);
	return x;
}

static void xfer_put(pf_http *h, pf_http_xfer *x)
{
	if (h->closing || h->nfree_xfers == SPARE_EASY) {
		free(x);
		return;
	}
	x->next = h->free_xfers;
	h->free_xfers = x;
	h->nfree_xfers++;
}

/* ---- poll handles ---- */

static void maybe_free(pf_http *h)
{
	if (!h->torn_down || h->live_handles > 0)
		return;
	void (*done)(void *) = h->close_done;
	void *ud = h->close_ud;
	pf_gunzip_free(h->gunzip);
	free(h->fds);
	free(h);
	if (--g_curl_users == 0)
		curl_global_cleanup();
	/* After the free: done may do anything, including freeing the loop's
	 * owner. */
	if (done)
		done(ud);
}

static void on_poll_close(uv_handle_t *handle)
{
	struct sock_ctx *c = handle->data;
	pf_http *h = c->h;
	free(c);
	h->live_handles--;
	maybe_free(h);
}

static void sock_close(struct sock_ctx *c)
{
	pf_http *h = c->h;
	if (c->closing)
		return;
	c->closing = 1;
	if (c->fd >= 0 && (size_t)c->fd < h->nfds && h->fds[c->fd] == c)
		h->fds[c->fd] = NULL;
	uv_close((uv_handle_t *)&c->poll, on_poll_close);
}

static int fd_table_put(pf_http *h, curl_socket_t fd, struct sock_ctx *c)
{
	if ((size_t)fd >= h->nfds) {
		size_t n = h->nfds ? h->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct sock_ctx **p = realloc(h->fds, n * sizeof *p);
		if (!p)
			return -1;
		memset(p + h->nfds, 0, (n - h->nfds) * sizeof *p);
		h->fds = p;
		h->nfds = n;
	}
	h->fds[fd] = c;
	return 0;
}

static void socket_action(pf_http *h, curl_socket_t fd, int flags)
{
	int running;
	if (h->in_curl == 0)
		h->turn++;
	h->in_curl++;
	CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
	h->in_curl--;
	/* CURLM_BAD_SOCKET: an event raced with curl forgetting the socket.
	 * Anything else is not about one transfer; the finished ones are
	 * still reported below and the others end by their timeout. */
	if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
		pf_log(PF_LOG_ERROR, NULL, "curl_multi_socket_action: %s",
			curl_multi_strerror(mc));
	check_multi_info(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *c = p->data;
	int flags = 0;
	if (c->closing)
		return;
	if (c->what == 0) {
		/* Idle in curl's pool (rule 4) and readable: the peer closed
		 * it or sent what nobody asked for. curl finds out when it
		 * next checks the connection; until then, no more wakeups. */
		uv_poll_stop(&c->poll);
		c->events = 0;
		return;
	}
	if (status < 0) {
		/* libuv reports POLLERR (a reset, a refused connect) as an error
		 * status. curl is told (CURL_CSELECT_ERR), together with what it
		 * was waiting for: given ERR alone it fails with "select/poll
		 * returned error"; with the IN/OUT bits it reads or writes the
		 * socket and reports the real cause ("Connection reset by
		 * peer"). */
		flags = CURL_CSELECT_ERR;
		if (c->what & CURL_POLL_IN)
			flags |= CURL_CSELECT_IN;
		if (c->what & CURL_POLL_OUT)
			flags |= CURL_CSELECT_OUT;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	socket_action(c->h, c->fd, flags);
}

/* A poll handle for fd, in the table; NULL when out of memory. */
static struct sock_ctx *sock_new(pf_http *h, curl_socket_t fd)
{
	struct sock_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (uv_poll_init_socket(h->loop, &c->poll, fd) != 0) {
		free(c);
		return NULL;
	}
	c->poll.data = c;
	c->h = h;
	c->fd = fd;
	h->live_handles++;
	if (fd_table_put(h, fd, c) != 0) {
		sock_close(c);
		return NULL;
	}
	return c;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
	void *socketp)
{
	pf_http *h = userp;
	struct sock_ctx *c = socketp;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		/* The struct curl hands back, else the fd's. Rule 4: a
		 * connected socket of our own stays watched while curl keeps
		 * it in its pool; any other closes now (rule 1). */
		if (!c && fd >= 0 && (size_t)fd < h->nfds)
			c = h->fds[fd];
		if (c && !c->closing && c->own && c->seen_in && !h->torn_down)
			c->what = 0;
		else if (c)
			sock_close(c);
		return 0;
	}
	if (h->torn_down)
		return 0;
	if (c && c->closing)
		c = NULL;
	if (!c && fd >= 0 && (size_t)fd < h->nfds)
		c = h->fds[fd];
	if (!c && (c = sock_new(h, fd)) == NULL)
		return -1;
	if (curl_multi_assign(h->multi, fd, c) != CURLM_OK) {
		sock_close(c);
		return -1;
	}
	c->what = what;
	int events = 0;
	if (what & CURL_POLL_IN) {
		events |= UV_READABLE;
		c->seen_in = 1;
	}
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	/* uv_poll_start() takes the fd out of epoll and puts it back even
	 * for the events it has: skipped when they are the same (a pooled
	 * connection's next request, rule 4). */
	if (events != c->events) {
		if (uv_poll_start(&c->poll, events, on_poll) != 0) {
			sock_close(c);
			return -1;
		}
		c->events = events;
	}
	return 0;
}

/* curl's socket(), so that the socket's poll handle is known to be ours
 * (rule 4). A handle left on the number is stale: closed first. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	pf_http *h = clientp;
	(void)purpose;
	curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
	if (fd == CURL_SOCKET_BAD || h->torn_down)
		return fd;
	if ((size_t)fd < h->nfds && h->fds[fd])
		sock_close(h->fds[fd]);
	struct sock_ctx *c = sock_new(h, fd);
	if (c)
		c->own = 1; /* else on_curl_socket makes one that is not */
	return fd;
}

/* curl's close() of a socket it made by on_open_socket: the poll handle
 * goes first, while the number is still this socket's (rule 1). */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
	pf_http *h = clientp;
	if (fd >= 0 && (size_t)fd < h->nfds && h->fds[fd])
		sock_close(h->fds[fd]);
	return close(fd);
}

/* ---- curl's timer ---- */

static void on_timer(uv_timer_t *t)
{
	pf_http *h = t->data;
	socket_action(h, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	pf_http *h = userp;
	(void)multi;
	if (h->torn_down)
		return 0;
	if (timeout_ms < 0)
		return uv_timer_stop(&h->timer) == 0 ? 0 : -1;
	return uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

/* ---- transfers ---- */

static void xfer_unlink(pf_http_xfer *x)
{
	pf_http *h = x->h;
	if (x->prev)
		x->prev->next = x->next;
	else
		h->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* Appends s to dst (size cap) without overflowing; keeps it terminated. */
static void str_append(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(dst);
	size_t m = strlen(s);
	if (n + 1 >= cap)
		return;
	if (m > cap - 1 - n)
		m = cap - 1 - n;
	memcpy(dst + n, s, m);
	dst[n + m] = '\0';
}

static int is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
		return 1;
	default:
		return 0;
	}
}

/* Writes why the transfer failed into r->error, in words an operator
 * understands without the curl documentation at hand. */
static void describe_error(pf_http_xfer *x, CURLcode rc, pf_http_result *r)
{
	char *e = r->error;
	size_t cap = sizeof r->error;
	char tmp[96];
	const char *eb = x->errbuf;
	e[0] = '\0';

	if (x->cancelled) {
		str_append(e, cap, x->h->closing ? "cancelled: client closing" : "cancelled");
		return;
	}
	if (x->aborted) {
		str_append(e, cap, "aborted by the receiver");
		return;
	}
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		r->too_big = 1;
		snprintf(tmp, sizeof tmp, "body larger than %llu bytes",
			(unsigned long long)x->max_body);
		str_append(e, cap, tmp);
		return;
	}
	if (x->fail) {
		str_append(e, cap, x->fail);
		return;
	}
	switch (rc) {
	case CURLE_OK:
		if (r->status >= 200 && r->status < 300)
			return;
		snprintf(tmp, sizeof tmp, "HTTP %ld", r->status);
		str_append(e, cap, tmp);
		if (x->reason[0]) {
			str_append(e, cap, " ");
			str_append(e, cap, x->reason);
		}
		return;
	case CURLE_OPERATION_TIMEDOUT:
		r->timed_out = 1;
		snprintf(tmp, sizeof tmp, "timed out after %llu ms",
			(unsigned long long)x->timeout_ms);
		str_append(e, cap, tmp);
		/* Where it stopped: the request is sent after "pretransfer"
		 * (0 until then, also on a reused connection, whose lookup
		 * and connect times are 0). */
		curl_off_t dns = 0, pre = 0;
		curl_easy_getinfo(x->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
		curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
		if (r->status == 0 && pre == 0 && dns == 0) {
			/* Still resolving (a DNS server that does not answer). */
			str_append(e, cap, " resolving the host name");
		} else if (r->status == 0 && pre == 0) {
			str_append(e, cap, " connecting");
		} else if (r->status == 0) {
			str_append(e, cap, " waiting for the response");
		} else {
			snprintf(tmp, sizeof tmp, " (HTTP %ld, %llu body bytes received)",
				r->status, (unsigned long long)x->seen_bytes);
			str_append(e, cap, tmp);
		}
		return;
	case CURLE_COULDNT_CONNECT: {
		long oserr = 0;
		if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK &&
		    oserr == ECONNREFUSED) {
			str_append(e, cap, "connection refused");
			if (eb[0]) {
				str_append(e, cap, " (");
				str_append(e, cap, eb);
				str_append(e, cap, ")");
			}
			return;
		}
		str_append(e, cap, "cannot connect: ");
		break;
	}
	case CURLE_COULDNT_RESOLVE_HOST:
		str_append(e, cap, "cannot resolve host: ");
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		str_append(e, cap, "TLS: certificate verify failed: ");
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		str_append(e, cap, "too many redirects: ");
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		str_append(e, cap, "unsupported protocol (only http and https, also after a redirect): ");
		break;
	case CURLE_SEND_ERROR:
		/* curl 7.88 reads the peer address only once the TLS handshake
		 * is done; a TLS 1.3 server that rejects the client (most often:
		 * no client certificate) has closed the connection by then. */
		if (x->https && strstr(eb, "getpeername() failed"))
			str_append(e, cap, "TLS: connection closed by the server right after "
				"the handshake (is a client certificate required?): ");
		break;
	default:
		/* A TLS alert after the handshake (a client certificate the
		 * server wants) arrives as a read error from OpenSSL. */
		if (is_tls_error(rc) || strncmp(eb, "OpenSSL", 7) == 0)
			str_append(e, cap, "TLS: ");
		break;
	}
	str_append(e, cap, eb[0] ? eb : curl_easy_strerror(rc));
}

/* Decompresses x's gzip body into zout. Returns curl's result to report. */
static CURLcode gz_decode(pf_http_xfer *x)
{
	pf_http *h = x->h;
	if (!h->gunzip)
		h->gunzip = pf_gunzip_new();
	int r = h->gunzip ? pf_gunzip_run(h->gunzip, x->zin, x->zin_len,
					  x->max_body > SIZE_MAX ? SIZE_MAX : (size_t)x->max_body,
					  &x->zout, &x->zout_len)
			  : -ENOMEM;
	free(x->zin);
	x->zin = NULL;
	x->zin_len = x->zin_cap = 0;
	if (r == -EFBIG) {
		x->too_big = 1;
		return CURLE_OK;
	}
	if (r == -EBADMSG) {
		x->fail = "the gzip body is corrupt or truncated (bad header, data, CRC or length)";
		return CURLE_BAD_CONTENT_ENCODING;
	}
	if (r < 0) {
		x->fail = "out of memory decompressing the gzip body";
		return CURLE_OUT_OF_MEMORY;
	}
	x->seen_bytes = x->zout_len;
	return CURLE_OK;
}

/* Hands the next TURN_BUDGET bytes of x's decompressed body to on_data.
 * Returns 1 while some is left. */
static int hand_over(pf_http_xfer *x)
{
	size_t left = x->zout_len - x->zout_off;
	size_t n = left < TURN_BUDGET ? left : (size_t)TURN_BUDGET;
	if (n > 0 && x->on_data && x->on_data(x->ud, x->zout + x->zout_off, n) != 0) {
		x->aborted = 1;
		return 0;
	}
	x->zout_off += n;
	x->body_bytes += n;
	return x->zout_off < x->zout_len;
}

/* Reports x to its owner and frees it. rc is curl's result, or CURLE_OK
 * for a transfer that never ran (cancelled before it was added). */
static void finish(pf_http_xfer *x, CURLcode rc)
{
	pf_http *h = x->h;
	pf_http_result r;
	memset(&r, 0, sizeof r);

	/* A gzip body: decompressed now, and handed over TURN_BUDGET a turn
	 * (drain); the transfer ends when all is handed over. curl is done
	 * with it (its connection is back in the pool). */
	if (x->gz > 0 && x->deliver && !x->gz_done && rc == CURLE_OK && !x->cancelled && !x->aborted &&
	    !x->too_big && !h->closing && x->zin_len > 0) {
		x->gz_done = 1;
		rc = gz_decode(x);
		if (rc == CURLE_OK && !x->too_big && hand_over(x)) {
			x->draining = 1; /* curl's result was CURLE_OK */
			(void)uv_idle_start(&h->resume, on_resume);
			return;
		}
		if (x->aborted)
			rc = CURLE_WRITE_ERROR;
	}

	/* on_write and on_header_line refuse data once the client is
	 * closing: that write error is a cancellation. */
	if (h->closing && rc == CURLE_WRITE_ERROR && !x->aborted && !x->too_big)
		x->cancelled = 1;
	if (x->state == XF_RUNNING) {
		long status = 0;
		curl_off_t dl = 0;
		if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
			r.status = status;
		if (curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &dl) == CURLE_OK && dl > 0)
			r.wire_bytes = (uint64_t)dl;
	}
	/* A 2xx with an empty body never reached the write callback: its
	 * on_header is due now. */
	if (rc == CURLE_OK && !x->cancelled && !x->header_done &&
	    r.status >= 200 && r.status < 300) {
		char *ct = NULL;
		x->header_done = 1;
		x->deliver = 1;
		if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK)
			ct = NULL;
		if (x->on_header && x->on_header(x->ud, r.status, ct) != 0)
			x->aborted = 1;
	}
	r.curl_code = (int)rc;
	r.cancelled = x->cancelled || x->aborted;
	r.body_bytes = x->body_bytes;
	r.total_s = (double)(now_ns() - x->start_ns) / 1e9;
	describe_error(x, rc, &r);
	r.ok = rc == CURLE_OK && !r.cancelled && !x->too_big &&
	       r.status >= 200 && r.status < 300;
	r.err_body = x->err_body;
	r.err_body_len = x->err_body_len;
	memcpy(r.retry_after, x->retry_after, sizeof r.retry_after);
	char *err_body = x->err_body; /* lives until on_done returns */

	if (x->state == XF_RUNNING) {
		/* Removing cannot fail for a handle in this multi outside a
		 * callback; if it did, cleaning up the easy handle would still
		 * detach it. */
		(void)curl_multi_remove_handle(h->multi, x->easy);
	}
	xfer_unlink(x);
	easy_put(x, rc == CURLE_OK && !r.cancelled && !x->too_big);
	curl_slist_free_all(x->connect_to);
	free(x->zin);
	free(x->zout);
	void (*on_done)(void *, const pf_http_result *) = x->on_done;
	void *ud = x->ud;
	xfer_put(h, x);
	on_done(ud, &r);
	free(err_body);
}

static void check_multi_info(pf_http *h)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		CURLcode rc = m->data.result;
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
			continue;
		finish((pf_http_xfer *)(void *)priv, rc);
	}
}

static size_t on_header_line(char *p, size_t size, size_t n, void *ud)
{
	pf_http_xfer *x = ud;
	size_t len = size * n;
	if (x->cancelled || x->h->closing)
		return 0;
	/* "HTTP/1.1 500 Internal Server Error": keep the reason phrase of
	 * the latest status line for the error message. */
	if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
		size_t i = 5;
		while (i < len && p[i] != ' ')
			i++;
		while (i < len && p[i] == ' ')
			i++;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
		while (i < len && p[i] == ' ')
			i++;
		size_t j = len;
		while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
			j--;
		size_t m = 0;
		for (; i < j && m + 1 < sizeof x->reason; i++)
			x->reason[m++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
		x->reason[m] = '\0';
		/* A new response (after a redirect or a 1xx): forget the last
		 * one's headers and body. */
		x->retry_after[0] = '\0';
		x->err_body_len = 0;
		x->gz = 0;
	} else if (x->gz_ok && len > 17 && strncasecmp(p, "Content-Encoding:", 17) == 0) {
		/* curl does not decode (HTTP_CONTENT_DECODING 0): gzip bodies
		 * are decompressed whole in finish(), anything else but
		 * identity was not asked for and is refused in on_write. */
		size_t i = 17, j = len;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ' || p[j - 1] == '\t'))
			j--;
		if ((j - i == 4 && strncasecmp(p + i, "gzip", 4) == 0) ||
		    (j - i == 6 && strncasecmp(p + i, "x-gzip", 6) == 0))
			x->gz = 1;
		else if (j > i && !(j - i == 8 && strncasecmp(p + i, "identity", 8) == 0))
			x->gz = -1;
	} else if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t i = 12, j = len, m = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ' || p[j - 1] == '\t'))
			j--;
		for (; i < j && m + 1 < sizeof x->retry_after; i++)
			x->retry_after[m++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
		x->retry_after[m] = '\0';
	}
	return len;
}

/* The first body byte of the final response (curl discards the bodies of
 * redirects it follows and of 1xx responses): its status and content type
 * are the final ones, so on_header is decided here. */
static int decide_header(pf_http_xfer *x)
{
	long status = 0;
	char *ct = NULL;
	x->header_done = 1;
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status < 200 || status >= 300)
		return 0; /* error bodies are read (so the connection can be
			   * reused) and dropped */
	x->deliver = 1;
	if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK)
		ct = NULL;
	if (x->on_header && x->on_header(x->ud, status, ct) != 0) {
		x->aborted = 1;
		return -1;
	}
	return 0;
}

/* Hands the next TURN_BUDGET of each decompressed body over, in one pass
 * over the transfers; one that is through is finished. */
static void drain(pf_http *h)
{
	uint64_t pass = ++h->resume_pass;
	/* Restart the scan after every finish(): its on_done may have added,
	 * cancelled or closed anything. */
	while (!h->closing) {
		pf_http_xfer *x;
		for (x = h->xfers; x; x = x->next)
			if (x->draining && x->drain_pass != pass && !x->cancelled)
				break; /* a cancelled one: on_kick ends it */
		if (!x)
			return;
		x->drain_pass = pass;
		if (hand_over(x)) {
			(void)uv_idle_start(&h->resume, on_resume);
			continue;
		}
		x->draining = 0;
		finish(x, x->aborted ? CURLE_WRITE_ERROR : CURLE_OK);
	}
}

/* Unpauses every transfer paused over its TURN_BUDGET, each in a turn of
 * its own. curl hands over the data it held at once and reads the socket
 * again at its next timeout (0 ms). Nothing is freed inside curl_easy_pause
 * (transfers end in check_multi_info and on_kick), so the list holds. */
static void on_resume(uv_idle_t *idle)
{
	pf_http *h = idle->data;
	(void)uv_idle_stop(idle);
	drain(h);
	for (pf_http_xfer *x = h->xfers; x && !h->closing; x = x->next) {
		if (!x->paused)
			continue;
		x->paused = 0;
		if (x->cancelled)
			continue; /* on_kick ends it */
		h->turn++;
		h->in_curl++;
		CURLcode rc = curl_easy_pause(x->easy, CURLPAUSE_CONT);
		h->in_curl--;
		if (rc != CURLE_OK && !x->paused) {
			/* on_write refused the held data (the body limit, or
			 * on_data failed): curl does not wake the transfer up
			 * again, so on_kick ends it with curl's write error. */
			x->refused = 1;
			kick(h);
		}
	}
}

/* A gzip body is kept as it comes and decompressed whole in finish(). */
static size_t gz_take(pf_http_xfer *x, const char *p, size_t len)
{
	if (x->gz < 0) {
		x->fail = "the target answered with a Content-Encoding other than gzip, which was not "
			  "asked for (Accept-Encoding: gzip)";
		return CURL_WRITEFUNC_ERROR;
	}
	/* The wire limit's margin over max_body, as for Content-Length. */
	uint64_t lim = x->max_body + x->max_body / 16 + 4096;
	if (lim < x->max_body)
		lim = UINT64_MAX;
	if ((uint64_t)x->zin_len + len > lim) {
		x->too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (x->zin_len + len > x->zin_cap) {
		size_t cap = x->zin_cap ? x->zin_cap : 64 * 1024;
		while (cap < x->zin_len + len)
			cap *= 2;
		unsigned char *z = realloc(x->zin, cap);
		if (!z) {
			x->fail = "out of memory for the gzip body";
			return CURL_WRITEFUNC_ERROR;
		}
		x->zin = z;
		x->zin_cap = cap;
	}
	memcpy(x->zin + x->zin_len, p, len);
	x->zin_len += len;
	x->seen_bytes += len;
	return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	pf_http_xfer *x = ud;
	size_t len = size * n;
	pf_http *h = x->h;
	if (x->cancelled || h->closing || x->aborted || x->too_big)
		return CURL_WRITEFUNC_ERROR;
	if (!x->header_done && decide_header(x) != 0)
		return CURL_WRITEFUNC_ERROR;
	if (x->turn != h->turn) {
		x->turn = h->turn;
		x->turn_bytes = 0;
	} else if (x->turn_bytes >= TURN_BUDGET && !h->torn_down) {
		/* curl keeps p and hands it over again when unpaused. */
		x->paused = 1;
		(void)uv_idle_start(&h->resume, on_resume);
		return CURL_WRITEFUNC_PAUSE;
	}
	x->turn_bytes += len;
	if (x->gz && x->deliver)
		return gz_take(x, p, len);
	if (x->deliver && x->seen_bytes + len > x->max_body) {
		/* The limit is on the bodies we deliver; an error body is only
		 * sampled below, so its size never changes what the status means. */
		/* Hand over what fits, then stop: with gzip this is where a
		 * bomb is cut, since curl has already inflated p. */
		size_t fit = (size_t)(x->max_body - x->seen_bytes);
		x->too_big = 1;
		if (x->deliver && fit > 0 && x->on_data &&
		    x->on_data(x->ud, p, fit) == 0)
			x->body_bytes += fit;
		x->seen_bytes = x->max_body;
		return CURL_WRITEFUNC_ERROR;
	}
	x->seen_bytes += len;
	if (!x->deliver && x->gz)
		return len; /* a gzip error body is not sampled */
	if (!x->deliver) {
		/* An error body: its start (InfluxDB's error JSON) goes to
		 * on_done; the rest is read and dropped. */
		if (x->err_body_len < PF_HTTP_ERR_BODY) {
			size_t take = PF_HTTP_ERR_BODY - x->err_body_len;
			if (take > len)
				take = len;
			if (!x->err_body)
				x->err_body = malloc(PF_HTTP_ERR_BODY);
			if (x->err_body) {
				memcpy(x->err_body + x->err_body_len, p, take);
				x->err_body_len += take;
			}
		}
		return len;
	}
	if (x->on_data && x->on_data(x->ud, p, len) != 0) {
		x->aborted = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	x->body_bytes += len;
	if (x->cancelled || x->h->closing)
		return CURL_WRITEFUNC_ERROR;
	return len;
}

/* unix:///run/app.sock?path=/metrics -> socket "/run/app.sock", URL
 * "http://localhost/metrics". Everything after "path=" is the request path
 * (with its own query, if any); without it the path is /metrics. */
static int parse_unix(const char *url, char **sock, char **http_url)
{
	const char *p = url + strlen("unix://");
	const char *q = strchr(p, '?');
	size_t slen = q ? (size_t)(q - p) : strlen(p);
	const char *path = "/metrics";
	if (slen == 0 || p[0] != '/')
		return -EINVAL;
	if (q) {
		if (strncmp(q + 1, "path=", 5) != 0)
			return -EINVAL;
		path = q + 6;
		if (path[0] != '/')
			return -EINVAL;
	}
	*sock = malloc(slen + 1);
	*http_url = malloc(strlen("http://localhost") + strlen(path) + 1);
	if (!*sock || !*http_url) {
		free(*sock);
		free(*http_url);
		return -ENOMEM;
	}
	memcpy(*sock, p, slen);
	(*sock)[slen] = '\0';
	strcpy(*http_url, "http://localhost");
	strcat(*http_url, path);
	return 0;
}

static int slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/*
 * tls_server_name: libcurl has no option to send another SNI name or check
 * the certificate against another name than the URL's host. So the URL's
 * host is replaced by the server name (curl then sends it as SNI and
 * verifies the certificate against it), CURLOPT_CONNECT_TO sends the
 * connection to the original host and port, and an explicit Host header
 * keeps the original authority, as Prometheus' tls_config.server_name does.
 * (CURLOPT_RESOLVE would need the original host to be an address.)
 * Caveat: curl drops a custom Host header when a redirect leaves the host.
 */
static int apply_server_name(pf_http_xfer *x, const char *url, const char *name,
	char **out_url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *given_port = NULL, *nu = NULL;
	int ret = -EINVAL;
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &given_port, 0) != CURLUE_OK)
		given_port = NULL;
	if (curl_url_set(u, CURLUPART_HOST, name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &nu, 0) != CURLUE_OK)
		goto out;
	{
		size_t n = strlen(name) + strlen(host) + 2 * strlen(port) + 8;
		char *ct = malloc(n);
		char *hh = malloc(strlen(host) + strlen(port) + 16);
		if (!ct || !hh) {
			free(ct);
			free(hh);
			ret = -ENOMEM;
			goto out;
		}
		snprintf(ct, n, "%s:%s:%s:%s", name, port, host, port);
		if (given_port)
			sprintf(hh, "Host: %s:%s", host, given_port);
		else
			sprintf(hh, "Host: %s", host);
		ret = slist_add(&x->connect_to, ct);
		if (ret == 0)
			ret = slist_add(&x->headers, hh);
		free(ct);
		free(hh);
	}
	if (ret == 0) {
		*out_url = strdup(nu);
		if (!*out_url)
			ret = -ENOMEM;
	}
out:
	curl_free(host);
	curl_free(port);
	curl_free(given_port);
	curl_free(nu);
	curl_url_cleanup(u);
	return ret;
}

static int errno_of(CURLcode c)
{
	switch (c) {
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNKNOWN_OPTION:
	case CURLE_NOT_BUILT_IN:
		return -ENOTSUP;
	default:
		return -EINVAL;
	}
}

#define SETOPT(opt, val) \
	do { \
		CURLcode c_ = curl_easy_setopt(e, opt, val); \
		if (c_ != CURLE_OK) { \
			ret = errno_of(c_); \
			goto out; \
		} \
	} while (0)

/* The connection cache of a request (see POOL_GROUPS), or NULL to use
 * the multi handle's own when a share cannot be made. */
static CURLSH *pool_group(pf_http *h, const char *url, unsigned pool)
{
	size_t k;
	if (pool > 0) {
		k = (pool - 1) % POOL_GROUPS;
	} else {
		k = pf_mix64(pf_hash_bytes(PF_FNV_OFFSET, url, pf_http_origin_len(url))) % POOL_GROUPS;
	}
	CURLSH **g = &h->groups[k];
	if (*g == NULL) {
		CURLSH *sh = curl_share_init();
		if (sh == NULL)
			return NULL;
		if (curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
		    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
			curl_share_cleanup(sh);
			return NULL;
		}
		*g = sh;
	}
	return *g;
}

/* CURLOPT_READFUNCTION of a body in parts: the next bytes, in order. */
static size_t on_read_parts(char *buf, size_t size, size_t nitems, void *ud)
{
	pf_http_xfer *x = ud;
	size_t room = size * nitems, got = 0;
	while (got < room && x->part < x->nparts) {
		const pf_http_part *pt = &x->parts[x->part];
		size_t take = pt->n - x->part_off;
		if (take > room - got)
			take = room - got;
		memcpy(buf + got, pt->p + x->part_off, take);
		got += take;
		x->part_off += take;
		if (x->part_off == pt->n) {
			x->part++;
			x->part_off = 0;
		}
	}
	return got;
}

/* CURLOPT_SEEKFUNCTION of a body in parts: curl rewinds it to send it
 * again (a redirect, an authentication round). */
static int on_seek_parts(void *ud, curl_off_t offset, int origin)
{
	pf_http_xfer *x = ud;
	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	uint64_t left = (uint64_t)offset;
	x->part = 0;
	x->part_off = 0;
	while (x->part < x->nparts && left >= x->parts[x->part].n) {
		left -= x->parts[x->part].n;
		x->part++;
	}
	if (x->part == x->nparts && left > 0)
		return CURL_SEEKFUNC_FAIL;
	x->part_off = (size_t)left;
	return CURL_SEEKFUNC_OK;
}

/* Configures x->easy from req. Returns 0 or a negative errno. */
static int setup_easy(pf_http_xfer *x, const pf_http_req *req)
{
	CURL *e = x->easy;
	char *unix_sock = NULL, *url = NULL;
	int ret = 0;
	const char *u = req->url;
	int https = strncmp(u, "https://", 8) == 0;
	x->https = https;

	if (strncmp(u, "unix://", 7) == 0) {
		ret = parse_unix(u, &unix_sock, &url);
		if (ret)
			goto out;
	} else if (https && req->tls_server_name && req->tls_server_name[0]) {
		ret = apply_server_name(x, u, req->tls_server_name, &url);
		if (ret)
			goto out;
	} else if (!https && strncmp(u, "http://", 7) != 0) {
		ret = -EINVAL;
		goto out;
	}

	SETOPT(CURLOPT_URL, url ? url : u);
	{
		CURLSH *g = pool_group(x->h, u, req->pool);
		if (g)
			SETOPT(CURLOPT_SHARE, g);
	}
	if (x->again) {
		/* A spare of this shape: besides the above, only what points
		 * to x and what pf_http_req.shape lets differ. */
		SETOPT(CURLOPT_PRIVATE, (void *)x);
		SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
		SETOPT(CURLOPT_WRITEDATA, (void *)x);
		SETOPT(CURLOPT_HEADERDATA, (void *)x);
		x->gz_ok = req->gzip != 0;
		goto auth;
	}
	if (unix_sock)
		SETOPT(CURLOPT_UNIX_SOCKET_PATH, unix_sock);
	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_QUICK_EXIT, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(CURLOPT_MAXREDIRS, 5L);
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_USERAGENT, "promflux/" PF_VERSION);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	SETOPT(CURLOPT_OPENSOCKETDATA, (void *)x->h);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	SETOPT(CURLOPT_CLOSESOCKETDATA, (void *)x->h);
	SETOPT(CURLOPT_WRITEFUNCTION, on_write);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header_line);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	/* A typical exporter body (tens of kB) in one or two reads and one
	 * or two on_data calls instead of four or more with curl's 16 kB.
	 * Only an optimisation: libcurl 7.88 refuses it on a reused handle
	 * that kept its receive buffer after some failures (a DNS error,
	 * seen in tests/faults), and that must not fail the request. */
	(void)curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	if (req->timeout_ms) {
		long ms = req->timeout_ms > 0x7fffffff ? 0x7fffffffL : (long)req->timeout_ms;
		SETOPT(CURLOPT_TIMEOUT_MS, ms);
		SETOPT(CURLOPT_CONNECTTIMEOUT_MS, ms);
	}
	/* The wire limit rejects a too large Content-Length before the body
	 * is read; gzip may grow incompressible data a little, hence the
	 * margin. The exact limit is on the decompressed bytes, in on_write. */
	{
		uint64_t wire = req->gzip ? x->max_body + x->max_body / 16 + 4096 : x->max_body;
		if (wire < x->max_body || wire > (uint64_t)INT64_MAX)
			wire = (uint64_t)INT64_MAX;
		SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)wire);
	}
	if (req->gzip) {
		/* curl sends the header but leaves the body alone: it is
		 * decompressed whole with libdeflate (see gzip.h). */
		SETOPT(CURLOPT_ACCEPT_ENCODING, "gzip");
		SETOPT(CURLOPT_HTTP_CONTENT_DECODING, 0L);
		x->gz_ok = 1;
	}
	if (req->post) {
		/* The body is borrowed until on_done (no copy: a write batch
		 * is up to megabytes); a redirect keeps the method and body. */
		size_t len = req->body_len;
		SETOPT(CURLOPT_POST, 1L);
		if (req->nparts > 0) {
			/* curl copies the parts into its upload buffer as it
			 * sends, as it copies a body in one piece. */
			len = 0;
			for (size_t i = 0; i < req->nparts; i++)
				len += req->parts[i].n;
			x->parts = req->parts;
			x->nparts = req->nparts;
			SETOPT(CURLOPT_READFUNCTION, on_read_parts);
			SETOPT(CURLOPT_READDATA, (void *)x);
			SETOPT(CURLOPT_SEEKFUNCTION, on_seek_parts);
			SETOPT(CURLOPT_SEEKDATA, (void *)x);
		} else {
			SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SETOPT(CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
		if (len > UPLOAD_BUFFER_DEFAULT) {
			/* Frees the handle's upload buffer, if any; curl makes it
			 * anew at the send and easy_put frees it again. */
			long ub = len < UPLOAD_BUFFER_MAX ? (long)len : UPLOAD_BUFFER_MAX;
			(void)curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, ub);
			x->big_upload = 1;
		}
	}
	/* "" means: no proxy, whatever http_proxy/https_proxy say; NOPROXY ""
	 * makes a configured proxy apply to every host, whatever no_proxy
	 * says. The environment never decides. */
	SETOPT(CURLOPT_PROXY, req->proxy ? req->proxy : "");
	SETOPT(CURLOPT_NOPROXY, "");

auth:
	if (req->bearer) {
		SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SETOPT(CURLOPT_XOAUTH2_BEARER, req->bearer);
	} else if (req->username) {
		SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(CURLOPT_USERNAME, req->username);
		SETOPT(CURLOPT_PASSWORD, req->password ? req->password : "");
	}
	if (x->again)
		goto out;

	if (req->tls_ca)
		SETOPT(CURLOPT_CAINFO, req->tls_ca);
	if (req->tls_cert)
		SETOPT(CURLOPT_SSLCERT, req->tls_cert);
	if (req->tls_key)
		SETOPT(CURLOPT_SSLKEY, req->tls_key);
	if (req->tls_insecure) {
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->connect_to)
		SETOPT(CURLOPT_CONNECT_TO, x->connect_to);

	if (req->accept) {
		size_t n = strlen(req->accept) + 10;
		char *a = malloc(n);
		if (!a) {
			ret = -ENOMEM;
			goto out;
		}
		snprintf(a, n, "Accept: %s", req->accept);
		ret = slist_add(&x->headers, a);
		free(a);
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!req->headers[i]) {
			ret = -EINVAL;
			goto out;
		}
		ret = slist_add(&x->headers, req->headers[i]);
		if (ret)
			goto out;
	}
	if (x->headers)
		SETOPT(CURLOPT_HTTPHEADER, x->headers);
out:
	/* curl copies string options; only the slists must live on. */
	free(unix_sock);
	free(url);
	return ret;
}

static int curl_get(pf_http *h, const pf_http_req *req, pf_http_xfer **xfer);

/* A redirect answered to an h1post request: libcurl takes it from there. */
static int h1_fallback(void *arg, const pf_http_req *req)
{
	return curl_get(arg, req, NULL);
}

int pf_http_get(pf_http *h, const pf_http_req *req, pf_http_xfer **xfer)
{
	if (!h || !req || !req->url || !req->on_done)
		return -EINVAL;
	if (h->closing)
		return -ECANCELED;
	/* A POST on plain HTTP goes without libcurl (h1post.h), unless the
	 * caller wants a handle to cancel it by. */
	if (h->h1 && xfer == NULL && pf_h1_takes(req))
		return pf_h1_post(h->h1, req);
	return curl_get(h, req, xfer);
}

static int curl_get(pf_http *h, const pf_http_req *req, pf_http_xfer **xfer)
{
	if (h->closing)
		return -ECANCELED;
	pf_http_xfer *x = xfer_get(h);
	if (!x)
		return -ENOMEM;
	x->h = h;
	x->ud = req->ud;
	x->on_header = req->on_header;
	x->on_data = req->on_data;
	x->on_done = req->on_done;
	x->max_body = req->max_body ? req->max_body : UINT64_MAX;
	x->timeout_ms = req->timeout_ms;
	x->start_ns = now_ns();
	/* A shape covers what setup_easy sets for every request alike: not
	 * a POST's body, a socket path or a server name taken from the URL. */
	if (!req->post && strncmp(req->url, "unix://", 7) != 0 &&
	    !(req->tls_server_name && req->tls_server_name[0]))
		x->shape = req->shape;
	easy_get(x);
	int ret = x->easy ? setup_easy(x, req) : -ENOMEM;
	if (ret == 0) {
		if (h->in_curl) {
			x->state = XF_PENDING_ADD;
			kick(h);
		} else {
			CURLMcode mc = curl_multi_add_handle(h->multi, x->easy);
			if (mc != CURLM_OK)
				ret = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
			x->state = XF_RUNNING;
		}
	}
	if (ret != 0) {
		easy_put(x, 0);
		curl_slist_free_all(x->connect_to);
		xfer_put(h, x);
		return ret;
	}
	/* Adding set curl's timeout to 0 ms through on_curl_timer: the
	 * transfer starts from the uv timer, and on_done cannot run before
	 * this function returns. */
	x->next = h->xfers;
	if (h->xfers)
		h->xfers->prev = x;
	h->xfers = x;
	if (xfer)
		*xfer = x;
	return 0;
}

void pf_http_cancel(pf_http_xfer *x)
{
	if (!x || x->cancelled)
		return;
	x->cancelled = 1;
	kick(x->h);
}

/* ---- deferred work and shutdown ---- */

static void on_handle_close(uv_handle_t *handle)
{
	pf_http *h = handle->data;
	h->live_handles--;
	maybe_free(h);
}

static void teardown(pf_http *h)
{
	/* Every transfer ends (on_done may start no new one: closing). */
	while (h->xfers) {
		h->xfers->cancelled = 1;
		finish(h->xfers, CURLE_ABORTED_BY_CALLBACK);
	}
	/* Stop polling while curl still owns the fds (rule 1), then let curl
	 * close its pooled connections. */
	for (size_t i = 0; i < h->nfds; i++)
		if (h->fds[i])
			sock_close(h->fds[i]);
	h->torn_down = 1;
	while (h->free_xfers) {
		pf_http_xfer *x = h->free_xfers;
		h->free_xfers = x->next;
		free(x);
	}
	h->nfree_xfers = 0;
	while (h->nspare > 0) {
		struct spare *sp = &h->spare[--h->nspare];
		curl_easy_cleanup(sp->e);
		curl_slist_free_all(sp->headers);
	}
	(void)curl_multi_cleanup(h->multi);
	h->multi = NULL;
	/* Every easy handle is gone (finish() cleaned each up), so no share
	 * is in use: cleaning one up closes its pooled connections. */
	for (size_t i = 0; i < POOL_GROUPS; i++) {
		if (h->groups[i])
			(void)curl_share_cleanup(h->groups[i]);
		h->groups[i] = NULL;
	}
	uv_close((uv_handle_t *)&h->timer, on_handle_close);
	uv_close((uv_handle_t *)&h->kick, on_handle_close);
	uv_close((uv_handle_t *)&h->resume, on_handle_close);
}

static void on_kick(uv_timer_t *t)
{
	pf_http *h = t->data;
	if (h->closing) {
		teardown(h);
		return;
	}
	/* Restart the scan after every finish(): its on_done may have added,
	 * cancelled or closed anything. */
	for (;;) {
		pf_http_xfer *x;
		for (x = h->xfers; x; x = x->next)
			if (x->cancelled || x->refused || x->state == XF_PENDING_ADD)
				break;
		if (!x)
			break;
		if (x->cancelled) {
			finish(x, CURLE_ABORTED_BY_CALLBACK);
		} else if (x->refused) {
			finish(x, CURLE_WRITE_ERROR);
		} else {
			CURLMcode mc = curl_multi_add_handle(h->multi, x->easy);
			if (mc != CURLM_OK) {
				snprintf(x->errbuf, sizeof x->errbuf, "curl_multi_add_handle: %s",
					curl_multi_strerror(mc));
				x->state = XF_PENDING_ADD;
				finish(x, CURLE_FAILED_INIT);
			} else {
				x->state = XF_RUNNING;
			}
		}
		if (h->closing) {
			teardown(h);
			return;
		}
	}
}

static void kick(pf_http *h)
{
	if (h->torn_down || uv_is_active((uv_handle_t *)&h->kick))
		return;
	/* A 0 ms timer runs in the next loop iteration; it cannot fail on an
	 * initialised, open timer. */
	(void)uv_timer_start(&h->kick, on_kick, 0, 0);
}

static void h1_closed(void *ud)
{
	pf_http *h = ud;
	h->h1 = NULL;
	h->live_handles--;
	maybe_free(h);
}

void pf_http_close(pf_http *h, void (*done)(void *ud), void *ud)
{
	if (!h || h->closing)
		return;
	h->closing = 1;
	h->close_done = done;
	h->close_ud = ud;
	if (h->h1)
		pf_h1_close(h->h1, h1_closed, h);
	kick(h);
}

/*
 * How many idle connections the multi handle keeps for reuse. libcurl's
 * default is 4 per transfer in progress, and a scraper has few in flight at
 * any moment (a loopback scrape takes a millisecond) but thousands of
 * targets: with the default nearly every scrape opened a new connection
 * (measured: 1.0 connect per scrape with 10,000 targets on 1,000 ports,
 * about a third of the daemon's CPU in connect/accept/close, and TIME_WAIT
 * sockets piling up). So keep one idle connection per target the fd limit
 * allows: half the soft RLIMIT_NOFILE (the daemon raises it to the hard
 * limit at start), the other half left to transfers in progress, sinks and
 * libcurl's resolver. An idle connection costs an fd and a few kB in curl.
 */
static long pool_size(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 512;
	rlim_t n = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur / 2;
	if (n > (rlim_t)1 << 20)
		n = (rlim_t)1 << 20;
	return n < 16 ? 16 : (long)n;
}

pf_http *pf_http_new(uv_loop_t *loop)
{
	if (!loop)
		return NULL;
	if (g_curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	g_curl_users++;
	pf_http *h = calloc(1, sizeof *h);
	if (!h)
		goto fail;
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, pool_size()) != CURLM_OK)
		goto fail;
	if (uv_timer_init(loop, &h->timer) != 0)
		goto fail;
	h->timer.data = h;
	h->live_handles++;
	if (uv_timer_init(loop, &h->kick) != 0) {
		/* The timer is initialised: it must go through uv_close. */
		h->closing = 1;
		h->torn_down = 1;
		curl_multi_cleanup(h->multi);
		h->multi = NULL;
		uv_close((uv_handle_t *)&h->timer, on_handle_close);
		return NULL;
	}
	h->kick.data = h;
	h->live_handles++;
	(void)uv_idle_init(loop, &h->resume); /* cannot fail */
	h->resume.data = h;
	h->live_handles++;
	/* Without it every POST goes through libcurl. */
	h->h1 = pf_h1_new(loop, h1_fallback, h);
	if (h->h1)
		h->live_handles++;
	return h;
fail:
	if (h && h->multi)
		curl_multi_cleanup(h->multi);
	free(h);
	if (--g_curl_users == 0)
		curl_global_cleanup();
	return NULL;
}

uint64_t pf_http_shape(pf_http *h)
{
	return ++h->shapes;
}

uint64_t pf_http_again(const pf_http *h)
{
	return h->again;
}

const char *pf_http_version(void)
{
	static char line[256];
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	snprintf(line, sizeof line, "libcurl %s, %s, zlib %s, async DNS %s, libuv %s",
		v->version, v->ssl_version ? v->ssl_version : "no TLS",
		v->libz_version ? v->libz_version : "none",
		(v->features & CURL_VERSION_ASYNCHDNS) ? "yes" : "no",
		uv_version_string());
	return line;
}
