/*
 * h1post.h: an output's write as an HTTP/1.1 POST on a plain TCP
 * connection of libuv's, without libcurl.
 *
 * Why: libcurl copies a request body through its upload buffer (a read
 * callback fills it, then it is sent), and its per-transfer machinery runs
 * for every batch. A write batch is made of scrapes' buffers
 * (pf_http_req.parts); here the request head and those parts go to the
 * socket in one uv_write (writev), copied by nothing but the kernel. At
 * 1,000 targets every 5 s that is about a tenth of the daemon's CPU (README,
 * Performance).
 *
 * What goes this way (pf_h1_takes()): a POST to an http:// URL without
 * user:password@ in it and without a proxy. Everything else (https, unix://,
 * proxies, GETs) stays with libcurl (http.c), which is also where a
 * redirect goes: a 301, 302, 303, 307 or 308 answer with a Location hands
 * the same request, to the resolved Location, to the fallback (pf_http_get)
 * and its on_done, which then follows further redirects as it does for
 * every request (the POST and its body are kept, as CURL_REDIR_POST_ALL
 * keeps them).
 *
 * The request: "POST <path> HTTP/1.1", Host (the URL's authority),
 * User-Agent, Accept, Authorization (from username/password or bearer),
 * the caller's headers (a "Name:" with no value sends nothing, as with
 * curl), Content-Length. The answer: 1xx skipped; its body framed by
 * Content-Length, chunked or the connection's end; Retry-After, the reason
 * phrase and the first PF_HTTP_ERR_BODY bytes of a non-2xx body kept for
 * pf_http_result, as http.c keeps them. Connections are kept alive per
 * origin (at most H1_IDLE_MAX idle ones, reused within H1_IDLE_MS) unless
 * the server says close; an idle connection the server closes is dropped
 * when it does (its EOF is read), and a request whose reused connection
 * fails before any byte of the answer is sent again once on a new one.
 * Host names are resolved with uv_getaddrinfo (the loop's thread pool) for
 * each new connection, and its addresses are tried in order.
 *
 * Errors carry the curl code the same failure has in http.c (the writer
 * tells a transport failure from an HTTP answer by curl_code != 0) and a
 * message in the same words: "HTTP 500 Internal Server Error", "timed out
 * after 1000 ms waiting for the response", "Failed to connect to
 * influx:8086: connection refused", "Recv failure: connection reset by peer".
 *
 * Ownership: pf_h1 owns its connections, their handles and its requests;
 * a request copies the strings of pf_http_req it needs and borrows the
 * body (parts) until on_done, as pf_http_get() does. on_done is called
 * exactly once for a request pf_h1_post() started, always from a loop
 * callback (never from inside pf_h1_post()). pf_h1_close() ends every
 * request (cancelled), closes every handle and then calls done.
 */
#ifndef PF_H1POST_H
#define PF_H1POST_H

#include <uv.h>

#include "http.h"

typedef struct pf_h1 pf_h1;

/* Where a redirect's request goes: returns 0 when it started (its on_done
 * will be called) or a negative errno; -ECANCELED (its client is closing)
 * ends the request as cancelled, any other as a redirect not followed.
 * While pf_h1 itself closes, a redirect is not handed over: cancelled. */
typedef int (*pf_h1_fallback)(void *arg, const pf_http_req *req);

pf_h1 *pf_h1_new(uv_loop_t *loop, pf_h1_fallback fallback, void *arg);

/* Whether req is one pf_h1_post() takes (see above). */
int pf_h1_takes(const pf_http_req *req);

/* Starts req (pf_h1_takes(req) must be true). Returns 0 (on_done will be
 * called) or a negative errno (it will not be). */
int pf_h1_post(pf_h1 *c, const pf_http_req *req);

/* Ends every request (on_done with cancelled set), closes every
 * connection, frees c and then calls done(ud), all from the loop. */
void pf_h1_close(pf_h1 *c, void (*done)(void *ud), void *ud);

#endif
