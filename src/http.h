/*
 * http.h: HTTP GETs and POSTs on a libuv loop through libcurl's multi
 * interface; a POST to an http:// URL goes by h1post.h instead (the same
 * request, callbacks and results), unless the caller asks for a handle.
 *
 * The only module that knows both libcurl and libuv: curl's sockets are
 * watched with uv_poll handles and its timeout with one uv_timer, as in
 * curl's docs/examples/multi-uv.c, with the fixes curl's own ghiper.c makes
 * (drain curl_multi_info_read after every socket action, pass poll errors
 * as CURL_CSELECT_ERR, never call curl from inside its timer callback).
 * Connections are reused across requests (keep-alive) through the multi
 * handle's connection pool.
 *
 * Ownership: pf_http owns the multi handle, the poll handles and the timer;
 * pf_http_close() closes them and calls its callback when every handle is
 * closed. A request copies what it needs from pf_http_req; the caller's
 * strings need not outlive pf_http_get().
 */
#ifndef PF_HTTP_H
#define PF_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

typedef struct pf_http pf_http;
typedef struct pf_http_xfer pf_http_xfer;

typedef struct pf_http_result {
	int ok;               /* transfer completed and status is 2xx */
	long status;          /* HTTP status, 0 when none was received */
	int curl_code;        /* CURLcode */
	int cancelled;        /* pf_http_cancel() or an on_header/on_data abort */
	int too_big;          /* the body passed max_body */
	int timed_out;        /* the request's timeout passed */
	char error[256];      /* why it failed, for a log line ("" when ok) */
	uint64_t body_bytes;  /* bytes handed to on_data (after decompression) */
	uint64_t wire_bytes;  /* bytes received on the wire (compressed) */
	double total_s;       /* from start to completion */
	/* The body of a non-2xx final response (decompressed), its first
	 * PF_HTTP_ERR_BODY bytes (the rest is read and dropped), for a
	 * server's error message; NULL when there was none. Valid only during
	 * on_done. */
	const char *err_body;
	size_t err_body_len;
	char retry_after[64];   /* the final response's Retry-After value, cut;
				 * "" when none */
} pf_http_result;

#define PF_HTTP_ERR_BODY 4096

/* A piece of a request body (see pf_http_req.parts). */
typedef struct pf_http_part {
	const char *p;
	size_t n;
} pf_http_part;

typedef struct pf_http_req {
	const char *url;         /* http(s)://...; unix:///run/x.sock?path=/metrics
				  * (everything after "path=" is the request path;
				  * without "?path=" it is /metrics). Anything else:
				  * pf_http_get() returns -EINVAL. */
	const char *accept;      /* Accept header value, or NULL */
	const char *const *headers; /* "Name: value" lines */
	size_t nheaders;
	const char *username;    /* basic auth when not NULL */
	const char *password;
	const char *bearer;      /* Authorization: Bearer ..., when not NULL */
	const char *tls_ca;      /* files; NULL = system defaults */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_server_name; /* SNI and certificate name (https only); the
				  * Host header keeps the URL's host */
	int tls_insecure;        /* do not verify the peer at all */
	const char *proxy;       /* NULL = no proxy (environment ignored) */
	uint64_t timeout_ms;     /* whole transfer; 0 = none */
	uint64_t max_body;       /* decompressed bytes; more aborts with an error
				  * (on_data gets at most max_body bytes);
				  * 0 = no limit */
	int gzip;                /* send Accept-Encoding: gzip and decompress: a
				  * gzip body reaches on_data whole at the end
				  * of the transfer (in 1 MiB calls, one per
				  * turn of the loop), not as it streams in */
	/* A POST of body_len bytes at body (borrowed until on_done; 0 bytes
	 * is a POST too) instead of a GET. Its Content-Type and
	 * Content-Encoding go in headers. A redirect keeps the POST and body. */
	int post;
	const char *body;
	size_t body_len;
	/* Or, when nparts > 0, the POST body is parts[0..nparts) one after the
	 * other (the array and the bytes borrowed until on_done, as body is;
	 * body and body_len are then not read): a write batch made of scrapes'
	 * buffers, sent without first copying it into one piece. */
	const pf_http_part *parts;
	size_t nparts;
	/* The connection cache the request's connection is kept in (see
	 * http.c, POOL_GROUPS): 0 picks it by the URL's scheme and
	 * authority; a periodic request passes 1 + its phase in its period
	 * scaled to 0 .. PF_HTTP_POOLS - 1 (pf_http_pool()), so that the
	 * requests of one cache come close together and its idle
	 * connections are checked once a period, not once a second.
	 * Requests to one origin (pf_http_origin_len) that should share
	 * connections pass the same value, and a request the same value
	 * each time, to find its connection again. */
	unsigned pool;
	/* 0, or a value from pf_http_shape() given to requests alike in every
	 * field but url, pool, ud, the callbacks and the values (not the
	 * presence) of password and bearer: the requests of one scrape job. An ended transfer's easy handle then
	 * keeps its options for the next request of its shape, which sets
	 * only those (curl copies most options: setting them all was most
	 * of a scrape's set-up). POSTs, unix:// URLs and requests with a
	 * tls_server_name have no shape whatever this says. */
	uint64_t shape;

	void *ud;
	/* Response headers complete (for the final response after redirects).
	 * content_type may be NULL. Return nonzero to abort the transfer.
	 * Called at most once, only when the final status is 2xx, before the
	 * first on_data (for an empty body: just before on_done). The body of
	 * any other status is read (so the connection can be reused) and
	 * dropped: it never reaches on_data, and on_done gets ok = 0, the
	 * status and an error such as "HTTP 500 Internal Server Error". */
	int (*on_header)(void *ud, long status, const char *content_type);
	/* A chunk of the (decompressed) body. Return nonzero to abort. */
	int (*on_data)(void *ud, const char *p, size_t n);
	/* Always called exactly once for a transfer that pf_http_get() started,
	 * from the loop (never from inside pf_http_get()). The pf_http_xfer is
	 * gone when it runs. It may call pf_http_get, pf_http_cancel and
	 * pf_http_close. */
	void (*on_done)(void *ud, const pf_http_result *r);
} pf_http_req;

/* Connection caches (pf_http_req.pool). */
#define PF_HTTP_POOLS 256

/* The length of url's "scheme://authority" (for unix://, its socket
 * path): what every connection libcurl could reuse for url has in common. */
static inline size_t pf_http_origin_len(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

/* pf_http_req.pool of a request made every period_ms at offset_ms into its
 * period (offset_ms < period_ms). */
static inline unsigned pf_http_pool(uint64_t offset_ms, uint64_t period_ms)
{
	if (period_ms == 0 || offset_ms >= period_ms || period_ms > UINT64_MAX / PF_HTTP_POOLS)
		return 0;
	return 1 + (unsigned)(offset_ms * PF_HTTP_POOLS / period_ms);
}

/* Returns a new client on loop, or NULL. */
pf_http *pf_http_new(uv_loop_t *loop);

/* A new shape (pf_http_req.shape), never handed out before by h. */
uint64_t pf_http_shape(pf_http *h);
/* Requests set up so far on a spare handle of their shape (for tests). */
uint64_t pf_http_again(const pf_http *h);
/* Starts a GET. Returns 0 (on_done will be called; *xfer, if not NULL,
 * identifies the transfer until then) or a negative errno (no callback). */
int pf_http_get(pf_http *h, const pf_http_req *req, pf_http_xfer **xfer);

/* Ends a transfer early; its on_done is called (later, from the loop) with
 * cancelled set. Safe from inside any callback. */
void pf_http_cancel(pf_http_xfer *x);

/* Cancels every transfer, closes every handle, then calls done(ud) (from
 * the loop) and frees h. Safe from inside any callback; pf_http_get()
 * returns -ECANCELED from then on. */
void pf_http_close(pf_http *h, void (*done)(void *ud), void *ud);

/* curl_version_info() as one line for the start-up log. */
const char *pf_http_version(void);

#endif
