/*
 * httpd.h: a tiny HTTP/1.1 server on the libuv loop, for promflux's own
 * /metrics, /healthz and /ready.
 *
 * It serves GET and HEAD only (anything else: 405 with Allow), routes on
 * the path without its query string, keeps connections alive (HTTP/1.1
 * by default, HTTP/1.0 with "Connection: keep-alive"), honours
 * "Connection: close", and answers pipelined requests one after the other
 * in order. A request with a body (Content-Length > 0 or any
 * Transfer-Encoding) is answered and the connection closed, since the
 * body is never read. Defences against clients that hold resources:
 *   - a request head larger than head_max is answered 431 and closed;
 *   - one deadline per wait on the client: a complete request head must
 *     arrive within timeout_ms of the connection becoming idle (accept,
 *     or the previous response written), and a response must be taken by
 *     the client within timeout_ms; a byte now and then does not extend
 *     it (slow loris);
 *   - at most max_conns connections: one more is accepted and closed at
 *     once, and counted in stats.refused.
 * A connection closed by the server after a response is shut down for
 * writing first and drained for a moment, so that the client reads the
 * response before any reset.
 *
 * Ownership: pf_httpd owns its listening socket, every connection and the
 * response bodies. The handler's body buffer belongs to the connection:
 * it is valid for the handler to append to during the call only. After
 * pf_httpd_close() nothing may be called on the server; the server is
 * freed once its last handle is closed, and then done(ud) runs (always
 * from the loop, never inside pf_httpd_close()).
 */
#ifndef PF_HTTPD_H
#define PF_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

typedef struct pf_httpd pf_httpd;

/* What the handler sees of a request. Strings are NUL-terminated and
 * valid during the handler call only. */
typedef struct pf_httpd_req {
	const char *method;  /* "GET" or "HEAD" */
	const char *path;    /* the request target up to '?' (not decoded),
			      * e.g. "/metrics"; for an absolute-form target,
			      * its path */
	const char *query;   /* after '?' (not decoded), "" when none */
	int head;            /* HEAD: the body is measured, not sent */
} pf_httpd_req;

/*
 * Answers one request: appends the response body to body (empty, capped at
 * body_max), may point *content_type at a string that lives at least until
 * the next call (default "text/plain; charset=utf-8"), and returns the
 * status code (200, 404, 503...). For HEAD, fill the body as for GET: its
 * length is sent as Content-Length, its bytes are not. A return outside
 * 200..599 (e.g. a negative errno because the body passed its cap) sends
 * an empty 500. Runs on the loop. It may call pf_httpd_close(); this
 * request is then not answered.
 */
typedef int (*pf_httpd_handler)(void *ud, const pf_httpd_req *req, pf_buf *body,
				const char **content_type);

typedef struct pf_httpd_opts {
	unsigned timeout_ms;  /* 0: 10000 */
	unsigned max_conns;   /* 0: 64 */
	size_t head_max;      /* request head limit, bytes; 0: 8192 */
	size_t body_max;      /* response body cap, bytes; 0: 64 MiB */
} pf_httpd_opts;

typedef struct pf_httpd_stats {
	uint64_t connections;  /* accepted and served (refused ones not counted) */
	uint64_t refused;      /* accepted and closed at once: over max_conns */
	uint64_t requests;     /* responses sent, whatever their status */
	uint64_t bad_requests; /* malformed heads: 400, 431, 505 */
	uint64_t timeouts;     /* connections closed by the deadline */
	unsigned open;         /* connections open now */
} pf_httpd_stats;

/*
 * Listens on listen:
 *   "127.0.0.1:9465", "[::1]:9465", "localhost:9465" (127.0.0.1),
 *   "0.0.0.0:9465", "[::]:9465", ":9465" (every address: IPv6 dual-stack,
 *   or IPv4 only when the host has no IPv6). Port 0 picks a free port
 *   (see pf_httpd_port()). Host names other than localhost are refused.
 * opts may be NULL (defaults). Returns the server, or NULL with a message
 * in err (errcap bytes; e.g. "listen 127.0.0.1:9465: address already in
 * use"). The socket is bound before libuv sees it, so a failure leaves
 * nothing on the loop, except when libuv refuses the bound socket (not
 * expected): a handle is then closing and the loop must run once more
 * before uv_loop_close().
 */
pf_httpd *pf_httpd_new(uv_loop_t *loop, const char *listen, const pf_httpd_opts *opts,
		       pf_httpd_handler fn, void *ud, char *err, size_t errcap);

/* Checks a listen value as pf_httpd_new() reads it, without binding.
 * Returns 0, or -EINVAL with the reason in err. */
int pf_httpd_check_listen(const char *listen, char *err, size_t errcap);

/* The port listened on (the one chosen when 0 was asked). */
int pf_httpd_port(const pf_httpd *h);

/* Copies the counters. */
void pf_httpd_get_stats(const pf_httpd *h, pf_httpd_stats *out);

/* Closes the listener and every connection (responses being written are
 * cut). done (may be NULL) is called with ud from the loop once all is
 * closed and h is freed. h == NULL is a no-op (done is not called). */
void pf_httpd_close(pf_httpd *h, void (*done)(void *ud), void *ud);

#endif
