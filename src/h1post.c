/*
 * h1post.c: an output's write as an HTTP/1.1 POST on libuv's TCP (see
 * h1post.h).
 *
 * A request (struct req) runs on one connection (struct conn) at a time:
 * idle_get() takes an idle one of its origin, else start_on_new() makes
 * one (resolve, then connect, trying each address), send_req() writes the
 * head and the body in one uv_write, and on_read() feeds the answer to
 * h1answer.h as it comes. finish() hands the connection back to the idle
 * list or closes it, then calls on_done. The request's timer runs its
 * timeout and also reports, from the loop, a failure found while starting
 * it (fail_soon()). A request holds one handle (its timer), a connection
 * one (its TCP handle); pf_h1 counts them in `live` and frees itself when
 * it is closing and the last one has gone through its close callback.
 */
#include "h1post.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "h1answer.h"
#include "pf_version.h"

#define H1_IDLE_MAX 8           /* idle connections kept per origin */
#define H1_IDLE_MS 60000        /* an idle connection older than this is closed, not reused */
#define H1_READ_BUF 16384

typedef struct conn conn;
typedef struct req req;

struct conn {
	uv_tcp_t tcp;           /* tcp.data = this */
	uv_connect_t connect;
	uv_write_t write;
	pf_h1 *c;
	conn *next;             /* c->idle or c->busy */
	char *origin;           /* "host:port", the key of the idle list */
	req *r;                 /* the request it serves; NULL when idle */
	uint64_t idle_since;    /* ms, loop time */
	unsigned uses;          /* requests sent on it */
	int connected, closing, reading;
	char rbuf[H1_READ_BUF];
};

struct req {
	pf_h1 *c;
	req *prev, *next;       /* c->reqs */
	uv_timer_t timer;       /* timer.data = this */
	conn *cn;
	pf_http_req q;          /* strings point into copy */
	char *copy;
	char *host;             /* for getaddrinfo (no brackets) */
	char port[8];
	uv_getaddrinfo_t gai;
	int resolving;          /* gai in flight: r is freed by on_resolved */
	int freeable;           /* ended while resolving */
	struct addrinfo *ai, *ai_next; /* addresses (from gai), the next to try */
	struct sockaddr_storage lit; /* the host when it is an address */
	int literal, lit_tried;
	char *origin;
	char *head;             /* the request head */
	size_t head_len;
	uv_buf_t *bufs;
	size_t nbufs;
	uint64_t body_len;
	uint64_t start_ms;
	int retried;            /* sent again after a reused connection failed */
	int written;            /* the whole request is in the kernel */
	int write_err;          /* uv error of the write, 0 if none */
	int timed_out;
	int done;
	int fail_code;          /* CURLE_* of a failure, 0 if none */
	char fail[200];
	/* the answer */
	pf_h1_answer ans;
	long status;            /* the final answer's, 0 if none */
	uint64_t body_seen;     /* its body bytes */
	int header_called, aborted, too_big;
	char err_body[PF_HTTP_ERR_BODY];
	size_t err_body_len;
};

struct pf_h1 {
	uv_loop_t *loop;
	pf_h1_fallback fallback;
	void *arg;
	conn *idle;
	conn *busy;
	req *reqs;
	uv_timer_t kick;        /* runs the close */
	int closing;
	unsigned live;          /* handles not through their close callback */
	void (*done)(void *ud);
	void *done_ud;
};

static void conn_close(conn *cn);
static void start_on_new(req *r);
static void send_req(req *r);

/* ---- the request's strings ---- */

static size_t slen(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *sput(char **w, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	memcpy(*w, s, n);
	const char *r = *w;
	*w += n;
	return r;
}

/* r->q = *q with its strings in one allocation (r->copy). */
static int copy_req(req *r, const pf_http_req *q)
{
	size_t n = slen(q->url) + slen(q->accept) + slen(q->username) + slen(q->password) +
		   slen(q->bearer) + slen(q->tls_ca) + slen(q->tls_cert) + slen(q->tls_key) +
		   slen(q->tls_server_name) + slen(q->proxy) + q->nheaders * sizeof(char *);
	for (size_t i = 0; i < q->nheaders; i++)
		n += slen(q->headers[i]);
	r->copy = malloc(n + 1);
	if (!r->copy)
		return -ENOMEM;
	char *w = r->copy;
	const char **hv = (const char **)(void *)w;
	w += q->nheaders * sizeof(char *);
	r->q = *q;
	for (size_t i = 0; i < q->nheaders; i++)
		hv[i] = sput(&w, q->headers[i]);
	r->q.headers = q->nheaders ? hv : NULL;
	r->q.url = sput(&w, q->url);
	r->q.accept = sput(&w, q->accept);
	r->q.username = sput(&w, q->username);
	r->q.password = sput(&w, q->password);
	r->q.bearer = sput(&w, q->bearer);
	r->q.tls_ca = sput(&w, q->tls_ca);
	r->q.tls_cert = sput(&w, q->tls_cert);
	r->q.tls_key = sput(&w, q->tls_key);
	r->q.tls_server_name = sput(&w, q->tls_server_name);
	r->q.proxy = sput(&w, q->proxy);
	return 0;
}

/* ---- the URL and the request head ---- */

/* The authority of an http:// URL: [start, end) after "http://". */
static void authority(const char *url, const char **a, const char **e)
{
	*a = url + 7;
	*e = url + pf_http_origin_len(url);
}

int pf_h1_takes(const pf_http_req *q)
{
	if (!q || !q->post || !q->url || strncasecmp(q->url, "http://", 7) != 0)
		return 0;
	if (q->proxy && q->proxy[0])
		return 0;
	const char *a, *e;
	authority(q->url, &a, &e);
	return e > a && memchr(a, '@', (size_t)(e - a)) == NULL;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64(char *dst, const unsigned char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		dst[o++] = b64[v >> 18 & 63];
		dst[o++] = b64[v >> 12 & 63];
		dst[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		dst[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	dst[o] = '\0';
	return o;
}

/* Host, port, origin and the request head of r->q. Returns 0, -EINVAL or
 * -ENOMEM. */
static int build(req *r)
{
	const pf_http_req *q = &r->q;
	const char *a, *e;
	authority(q->url, &a, &e);
	const char *hs = a, *he = e, *colon = NULL;
	if (*a == '[') {
		const char *rb = memchr(a, ']', (size_t)(e - a));
		if (!rb)
			return -EINVAL;
		hs = a + 1;
		he = rb;
		if (rb + 1 < e) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(a, ':', (size_t)(e - a));
		if (colon)
			he = colon;
	}
	if (he == hs)
		return -EINVAL;
	unsigned long port = 80;
	if (colon && colon + 1 < e) {
		char *end;
		port = strtoul(colon + 1, &end, 10);
		if (end != e || port == 0 || port > 65535)
			return -EINVAL;
	}
	snprintf(r->port, sizeof r->port, "%lu", port);
	r->host = malloc((size_t)(he - hs) + 1);
	r->origin = malloc((size_t)(he - hs) + 10); /* "[host]:65535" */
	if (!r->host || !r->origin)
		return -ENOMEM;
	memcpy(r->host, hs, (size_t)(he - hs));
	r->host[he - hs] = '\0';
	snprintf(r->origin, (size_t)(he - hs) + 10, strchr(r->host, ':') ? "[%s]:%lu" : "%s:%lu", r->host, port);

	const char *path = e;
	size_t plen = strcspn(path, "#");
	char auth[PF_HTTP_ERR_BODY];
	auth[0] = '\0';
	if (q->username) {
		char up[1024];
		int n = snprintf(up, sizeof up, "%s:%s", q->username, q->password ? q->password : "");
		if (n < 0 || (size_t)n >= sizeof up)
			return -EINVAL;
		memcpy(auth, "Authorization: Basic ", 21);
		base64(auth + 21, (const unsigned char *)up, (size_t)n);
	} else if (q->bearer) {
		if (snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->bearer) >= (int)sizeof auth)
			return -EINVAL;
	}
	size_t cap = 256 + plen + (size_t)(e - a) + strlen(auth) + (q->accept ? strlen(q->accept) : 3);
	for (size_t i = 0; i < q->nheaders; i++)
		cap += strlen(q->headers[i]) + 2;
	r->head = malloc(cap);
	if (!r->head)
		return -ENOMEM;
	char *w = r->head;
	w += sprintf(w, "POST %s%.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: promflux/%s\r\nAccept: %s\r\n",
		     plen && path[0] == '/' ? "" : "/", (int)plen, path, (int)(e - a), a, PF_VERSION,
		     q->accept ? q->accept : "*/*");
	if (auth[0])
		w += sprintf(w, "%s\r\n", auth);
	for (size_t i = 0; i < q->nheaders; i++) {
		const char *h = q->headers[i];
		const char *c = strchr(h, ':');
		if (c) {
			/* "Name:" alone removes a header in curl: sends nothing. */
			const char *v = c + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v == '\0')
				continue;
			w += sprintf(w, "%s\r\n", h);
		} else {
			size_t hl = strlen(h);
			if (hl > 0 && h[hl - 1] == ';') /* "Name;": an empty header */
				w += sprintf(w, "%.*s:\r\n", (int)(hl - 1), h);
		}
	}
	w += sprintf(w, "Content-Length: %llu\r\n\r\n", (unsigned long long)r->body_len);
	r->head_len = (size_t)(w - r->head);
	return 0;
}

/* ---- completion ---- */

static void h1_unref(pf_h1 *c)
{
	c->live--;
	if (c->closing && c->live == 0) {
		void (*done)(void *) = c->done;
		void *ud = c->done_ud;
		free(c);
		if (done)
			done(ud);
	}
}

/* r's memory (not its handles). */
static void req_drop(req *r)
{
	if (r->ai)
		uv_freeaddrinfo(r->ai);
	free(r->copy);
	free(r->host);
	free(r->origin);
	free(r->head);
	free(r->bufs);
	free(r);
}

static void req_free(req *r)
{
	pf_h1 *c = r->c;
	req_drop(r);
	h1_unref(c);
}

static void req_closed(uv_handle_t *h)
{
	req *r = h->data;
	if (r->resolving)
		r->freeable = 1; /* on_resolved frees it */
	else
		req_free(r);
}

static void req_unlink(req *r)
{
	pf_h1 *c = r->c;
	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void conn_unlink(conn *cn)
{
	pf_h1 *c = cn->c;
	conn **pp = &c->idle;
	while (*pp && *pp != cn)
		pp = &(*pp)->next;
	if (!*pp)
		for (pp = &c->busy; *pp && *pp != cn; pp = &(*pp)->next)
			;
	if (*pp)
		*pp = cn->next;
	cn->next = NULL;
}

/* Detaches r from its connection: kept idle when reusable, else closed. */
static void release(req *r, int reusable)
{
	conn *cn = r->cn;
	if (!cn)
		return;
	r->cn = NULL;
	cn->r = NULL;
	pf_h1 *c = cn->c;
	if (reusable && !c->closing && cn->connected && !cn->closing) {
		size_t n = 0;
		for (conn *o = c->idle; o; o = o->next)
			n += strcmp(o->origin, cn->origin) == 0;
		if (n < H1_IDLE_MAX) {
			conn_unlink(cn);
			cn->idle_since = uv_now(c->loop);
			cn->next = c->idle;
			c->idle = cn;
			return;
		}
	}
	conn_close(cn);
}

static void set_fail(req *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_fail(req *r, int code, const char *fmt, ...)
{
	va_list ap;
	r->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof r->fail, fmt, ap);
	va_end(ap);
}

/* Takes r out of play: its connection released, its timer stopped; the
 * caller then closes the timer (which frees r). */
static void retire(req *r, int reusable)
{
	r->done = 1;
	release(r, reusable);
	uv_timer_stop(&r->timer);
	req_unlink(r);
}

/* Ends r: retired, on_done called, its timer closed. */
static void finish(req *r, int reusable)
{
	if (r->done)
		return;
	retire(r, reusable);
	pf_http_result res;
	memset(&res, 0, sizeof res);
	res.total_s = (double)(uv_now(r->c->loop) - r->start_ms) / 1000.0;
	res.wire_bytes = r->body_seen;
	res.status = r->status;
	if (r->fail_code == CURLE_ABORTED_BY_CALLBACK) { /* closing: c, or the client a redirect goes to */
		res.cancelled = 1;
		res.curl_code = CURLE_ABORTED_BY_CALLBACK;
		snprintf(res.error, sizeof res.error, "cancelled: client closing");
	} else if (r->aborted) {
		res.cancelled = 1;
		res.curl_code = CURLE_WRITE_ERROR;
		snprintf(res.error, sizeof res.error, "aborted by the receiver");
	} else if (r->too_big) {
		res.too_big = 1;
		res.curl_code = CURLE_FILESIZE_EXCEEDED;
		snprintf(res.error, sizeof res.error, "body larger than %llu bytes",
			 (unsigned long long)r->q.max_body);
	} else if (r->timed_out) {
		res.timed_out = 1;
		res.curl_code = CURLE_OPERATION_TIMEDOUT;
		snprintf(res.error, sizeof res.error, "timed out after %llu ms %s", (unsigned long long)r->q.timeout_ms,
			 r->fail);
	} else if (r->fail_code) {
		res.curl_code = r->fail_code;
		snprintf(res.error, sizeof res.error, "%s", r->fail);
	} else {
		res.ok = r->status >= 200 && r->status < 300;
		res.body_bytes = res.ok ? r->body_seen : 0;
		if (!res.ok) {
			int n = snprintf(res.error, sizeof res.error, "HTTP %ld", r->status);
			if (r->ans.reason[0] && n > 0 && (size_t)n < sizeof res.error)
				snprintf(res.error + n, sizeof res.error - (size_t)n, " %s", r->ans.reason);
			if (r->err_body_len) {
				res.err_body = r->err_body;
				res.err_body_len = r->err_body_len;
			}
		}
	}
	memcpy(res.retry_after, r->ans.retry_after, sizeof res.retry_after);
	r->q.on_done(r->q.ud, &res);
	uv_close((uv_handle_t *)&r->timer, req_closed);
}

/* ---- the answer ---- */

static int reusable(const req *r)
{
	return r->written && !r->write_err && r->ans.body != PF_H1_CLOSE && !r->ans.conn_close &&
	       (!r->ans.http10 || r->ans.keep_alive);
}

/* A redirect: the request again, to the resolved Location, by the
 * fallback. Returns 1 when the fallback took it (r is to be ended
 * without on_done). Closing (c, or the fallback's client: -ECANCELED),
 * r ends cancelled, as a request cut by the close would. */
static int redirect(req *r)
{
	if (!r->ans.location[0] || !r->c->fallback)
		return 0;
	if (r->c->closing) {
		r->fail_code = CURLE_ABORTED_BY_CALLBACK;
		return 0;
	}
	CURLU *u = curl_url();
	char *to = NULL;
	int ok = u && curl_url_set(u, CURLUPART_URL, r->q.url, 0) == CURLUE_OK &&
		 curl_url_set(u, CURLUPART_URL, r->ans.location, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_URL, &to, 0) == CURLUE_OK;
	int taken = 0;
	if (ok) {
		pf_http_req q = r->q;
		q.url = to;
		int e = r->c->fallback(r->c->arg, &q);
		taken = e == 0;
		if (e == -ECANCELED)
			r->fail_code = CURLE_ABORTED_BY_CALLBACK;
	}
	if (!taken && r->fail_code != CURLE_ABORTED_BY_CALLBACK)
		set_fail(r, CURLE_TOO_MANY_REDIRECTS, "redirected to %s, which could not be followed",
			 r->ans.location);
	curl_free(to);
	curl_url_cleanup(u);
	return taken;
}

/* The answer is complete. */
static void answered(req *r)
{
	int again = reusable(r);
	if (r->status >= 300 && r->status < 400 && r->status != 304 && r->status != 300 && r->ans.location[0]) {
		if (redirect(r)) {
			/* The fallback calls on_done: end r quietly. */
			retire(r, again);
			uv_close((uv_handle_t *)&r->timer, req_closed);
			return;
		}
		r->status = 0;
		finish(r, 0);
		return;
	}
	finish(r, again);
}

/* The answer's body bytes: on_data's (2xx, up to max_body), else the
 * error body's first PF_HTTP_ERR_BODY. */
static void on_body(void *ud, const char *p, size_t n)
{
	req *r = ud;
	r->body_seen += n;
	if (r->status >= 200 && r->status < 300) {
		if (r->q.max_body && r->body_seen > r->q.max_body) {
			r->too_big = 1;
			return;
		}
		if (r->q.on_data && !r->aborted && r->q.on_data(r->q.ud, p, n) != 0)
			r->aborted = 1;
		return;
	}
	size_t room = sizeof r->err_body - r->err_body_len;
	if (n > room)
		n = room;
	memcpy(r->err_body + r->err_body_len, p, n);
	r->err_body_len += n;
}

/* The final answer's head is in. */
static void on_head(void *ud)
{
	req *r = ud;
	r->status = r->ans.status;
	if (r->status >= 200 && r->status < 300 && r->q.on_header && !r->header_called) {
		r->header_called = 1;
		if (r->q.on_header(r->q.ud, r->status, r->ans.ctype[0] ? r->ans.ctype : NULL) != 0)
			r->aborted = 1;
	}
}

/* ---- connections ---- */

static void conn_closed(uv_handle_t *h)
{
	conn *cn = h->data;
	pf_h1 *c = cn->c;
	free(cn->origin);
	free(cn);
	h1_unref(c);
}

static void conn_close(conn *cn)
{
	if (cn->closing)
		return;
	cn->closing = 1;
	conn_unlink(cn);
	if (cn->r) {
		cn->r->cn = NULL;
		cn->r = NULL;
	}
	uv_close((uv_handle_t *)&cn->tcp, conn_closed);
}

/* Reports r's failure from the loop (its timer at 0 ms), not from inside
 * the call that found it. */
static void on_fail_soon(uv_timer_t *t)
{
	req *r = t->data;
	r->status = 0;
	finish(r, 0);
}

static void fail_soon(req *r)
{
	uv_timer_start(&r->timer, on_fail_soon, 0, 0);
}

/* The connection failed (uv error e) while serving r. */
static void conn_failed(conn *cn, int e)
{
	req *r = cn->r;
	int was_used = cn->uses > 1;
	conn_close(cn);
	if (!r || r->done)
		return;
	if (e == UV_EOF && pf_h1_answer_ends_at_eof(&r->ans)) {
		answered(r); /* the body ends with the connection */
		return;
	}
	if (was_used && r->ans.bytes == 0 && !r->retried && !r->c->closing) {
		/* A kept connection the server had closed: once more on a
		 * new one. */
		r->retried = 1;
		r->written = 0;
		r->write_err = 0;
		start_on_new(r);
		return;
	}
	if (r->write_err && r->ans.bytes == 0)
		set_fail(r, CURLE_SEND_ERROR, "Send failure: %s", uv_strerror(r->write_err));
	else if (e == UV_EOF && r->ans.bytes == 0)
		set_fail(r, CURLE_GOT_NOTHING, "Empty reply from server");
	else if (e == UV_EOF)
		set_fail(r, CURLE_PARTIAL_FILE, "the connection closed before the end of the answer");
	else
		set_fail(r, CURLE_RECV_ERROR, "Recv failure: %s", uv_strerror(e));
	r->status = 0;
	finish(r, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	conn *cn = h->data;
	(void)hint;
	*b = uv_buf_init(cn->rbuf, sizeof cn->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	conn *cn = s->data;
	if (nread == 0 || cn->closing)
		return;
	req *r = cn->r;
	if (!r) {
		/* Idle: the server closed it, or sent what nobody asked for. */
		conn_close(cn);
		return;
	}
	if (nread < 0) {
		conn_failed(cn, (int)nread);
		return;
	}
	int rc = pf_h1_answer_feed(&r->ans, b->base, (size_t)nread, on_head, on_body, r);
	if (rc < 0) {
		set_fail(r, r->ans.bad_head ? CURLE_WEIRD_SERVER_REPLY : CURLE_RECV_ERROR, "%s", r->ans.error);
		r->status = 0;
		finish(r, 0);
	} else if (r->too_big || r->aborted) {
		finish(r, 0);
	} else if (rc > 0) {
		answered(r);
	}
}

static void on_written(uv_write_t *w, int status)
{
	conn *cn = w->data;
	req *r = cn->r;
	if (status == UV_ECANCELED || cn->closing || !r)
		return;
	if (status < 0) {
		/* The answer may still come (a 413 before the body's end):
		 * the read side ends the request. */
		r->write_err = status;
		return;
	}
	r->written = 1;
}

static void send_req(req *r)
{
	conn *cn = r->cn;
	cn->uses++;
	pf_h1_answer_init(&r->ans);
	r->status = 0;
	r->body_seen = 0;
	r->err_body_len = 0;
	r->header_called = 0;
	int e = 0;
	if (!cn->reading) {
		e = uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
		cn->reading = e == 0;
	}
	cn->write.data = cn;
	if (e == 0)
		e = uv_write(&cn->write, (uv_stream_t *)&cn->tcp, r->bufs, (unsigned)r->nbufs, on_written);
	if (e != 0) {
		/* Reported from the loop: this may run inside pf_h1_post(). */
		conn_close(cn);
		set_fail(r, CURLE_SEND_ERROR, "Send failure: %s", uv_strerror(e));
		fail_soon(r);
	}
}

static void next_address(req *r, int last_err);

static void on_connected(uv_connect_t *cr, int status)
{
	conn *cn = cr->data;
	if (status == UV_ECANCELED || cn->closing)
		return;
	req *r = cn->r;
	if (status < 0) {
		conn_close(cn);
		if (r && !r->done)
			next_address(r, status);
		return;
	}
	cn->connected = 1;
	(void)uv_tcp_nodelay(&cn->tcp, 1);
	if (r)
		send_req(r);
	else
		conn_close(cn);
}

/* A new connection for r to addr. Returns 0 or a uv error. */
static int conn_new(req *r, const struct sockaddr *addr)
{
	pf_h1 *c = r->c;
	conn *cn = calloc(1, sizeof *cn);
	if (!cn)
		return UV_ENOMEM;
	cn->origin = strdup(r->origin);
	int e = cn->origin ? uv_tcp_init(c->loop, &cn->tcp) : UV_ENOMEM;
	if (e != 0) {
		free(cn->origin);
		free(cn);
		return e;
	}
	c->live++;
	cn->c = c;
	cn->tcp.data = cn;
	cn->connect.data = cn;
	cn->next = c->busy;
	c->busy = cn;
	cn->r = r;
	r->cn = cn;
	e = uv_tcp_connect(&cn->connect, &cn->tcp, addr, on_connected);
	if (e != 0)
		conn_close(cn);
	return e;
}

/* Tries r's next address; when none is left, r fails with last_err. */
static void next_address(req *r, int last_err)
{
	int e = last_err;
	if (r->literal) {
		if (!r->lit_tried) {
			r->lit_tried = 1;
			e = conn_new(r, (const struct sockaddr *)&r->lit);
			if (e == 0)
				return;
		}
	} else {
		while (r->ai_next) {
			struct addrinfo *a = r->ai_next;
			r->ai_next = a->ai_next;
			if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
				continue;
			e = conn_new(r, a->ai_addr);
			if (e == 0)
				return;
		}
	}
	set_fail(r, CURLE_COULDNT_CONNECT, "Failed to connect to %s: %s", r->origin, uv_strerror(e));
	fail_soon(r);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai)
{
	req *r = g->data;
	r->resolving = 0;
	if (r->ai)
		uv_freeaddrinfo(r->ai);
	r->ai = ai;
	r->ai_next = ai;
	if (r->freeable) {
		req_free(r);
		return;
	}
	if (r->done)
		return;
	if (status < 0 || !ai) {
		set_fail(r, CURLE_COULDNT_RESOLVE_HOST, "Could not resolve host: %s (%s)", r->host,
			 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
		finish(r, 0);
		return;
	}
	next_address(r, UV_EAI_NONAME);
}

/* r on a new connection: its host resolved (unless an address), then
 * each address tried. */
static void start_on_new(req *r)
{
	if (r->literal) {
		r->lit_tried = 0;
		next_address(r, UV_ECONNREFUSED);
		return;
	}
	if (r->ai) {
		r->ai_next = r->ai;
		next_address(r, UV_ECONNREFUSED);
		return;
	}
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	r->gai.data = r;
	int e = uv_getaddrinfo(r->c->loop, &r->gai, on_resolved, r->host, r->port, &hints);
	if (e != 0) {
		set_fail(r, CURLE_COULDNT_RESOLVE_HOST, "Could not resolve host: %s (%s)", r->host, uv_strerror(e));
		fail_soon(r);
		return;
	}
	r->resolving = 1;
}

/* An idle connection of r's origin, young enough; NULL if none. */
static conn *idle_get(pf_h1 *c, const char *origin)
{
	uint64_t now = uv_now(c->loop);
	for (conn **pp = &c->idle; *pp;) {
		conn *cn = *pp;
		if (strcmp(cn->origin, origin) != 0) {
			pp = &cn->next;
			continue;
		}
		*pp = cn->next;
		cn->next = NULL;
		if (now - cn->idle_since > H1_IDLE_MS) {
			conn_close(cn);
			continue;
		}
		cn->next = c->busy;
		c->busy = cn;
		return cn;
	}
	return NULL;
}

/* ---- timeouts ---- */

static void on_timeout(uv_timer_t *t)
{
	req *r = t->data;
	r->timed_out = 1;
	const char *where = r->resolving ? "resolving the host name"
			  : r->cn && !r->cn->connected ? "connecting"
			  : !r->written ? "sending the request"
			  : "waiting for the response";
	if (r->status >= 200)
		snprintf(r->fail, sizeof r->fail, "(HTTP %ld, %llu body bytes received)", r->status,
			 (unsigned long long)r->body_seen);
	else
		snprintf(r->fail, sizeof r->fail, "%s", where);
	if (r->resolving)
		uv_cancel((uv_req_t *)&r->gai);
	finish(r, 0);
}

/* ---- the API ---- */

pf_h1 *pf_h1_new(uv_loop_t *loop, pf_h1_fallback fallback, void *arg)
{
	pf_h1 *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->loop = loop;
	c->fallback = fallback;
	c->arg = arg;
	if (uv_timer_init(loop, &c->kick) != 0) {
		free(c);
		return NULL;
	}
	c->kick.data = c;
	c->live = 1;
	return c;
}

int pf_h1_post(pf_h1 *c, const pf_http_req *q)
{
	if (!c || !q || !q->on_done || !pf_h1_takes(q))
		return -EINVAL;
	if (c->closing)
		return -ECANCELED;
	req *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->c = c;
	int ret = copy_req(r, q);
	size_t np = q->nparts ? q->nparts : 1;
	if (ret == 0) {
		r->bufs = malloc((np + 1) * sizeof *r->bufs);
		if (!r->bufs)
			ret = -ENOMEM;
	}
	if (ret == 0) {
		r->nbufs = 1;
		if (q->nparts) {
			for (size_t i = 0; i < q->nparts; i++) {
				r->body_len += q->parts[i].n;
				if (q->parts[i].n)
					r->bufs[r->nbufs++] = uv_buf_init((char *)(uintptr_t)q->parts[i].p,
									  (unsigned)q->parts[i].n);
			}
		} else if (q->body_len) {
			r->body_len = q->body_len;
			r->bufs[r->nbufs++] = uv_buf_init((char *)(uintptr_t)q->body, (unsigned)q->body_len);
		}
		ret = build(r);
	}
	if (ret == 0) {
		r->bufs[0] = uv_buf_init(r->head, (unsigned)r->head_len);
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&r->lit;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&r->lit;
		int port = atoi(r->port);
		r->literal = uv_ip4_addr(r->host, port, s4) == 0 || uv_ip6_addr(r->host, port, s6) == 0;
		ret = uv_timer_init(c->loop, &r->timer) == 0 ? 0 : -ENOMEM;
	}
	if (ret != 0) {
		req_drop(r);
		return ret;
	}
	c->live++;
	r->timer.data = r;
	r->start_ms = uv_now(c->loop);
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	if (q->timeout_ms)
		uv_timer_start(&r->timer, on_timeout, q->timeout_ms, 0);
	conn *cn = idle_get(c, r->origin);
	if (cn) {
		cn->r = r;
		r->cn = cn;
		send_req(r);
	} else {
		start_on_new(r);
	}
	return 0;
}

static void kick_closed(uv_handle_t *h)
{
	h1_unref(h->data);
}

static void on_kick(uv_timer_t *t)
{
	pf_h1 *c = t->data;
	while (c->reqs) {
		req *r = c->reqs;
		r->fail_code = CURLE_ABORTED_BY_CALLBACK;
		if (r->resolving)
			uv_cancel((uv_req_t *)&r->gai);
		finish(r, 0);
	}
	while (c->idle)
		conn_close(c->idle);
	while (c->busy)
		conn_close(c->busy);
	uv_close((uv_handle_t *)&c->kick, kick_closed);
}

void pf_h1_close(pf_h1 *c, void (*done)(void *ud), void *ud)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	c->done = done;
	c->done_ud = ud;
	uv_timer_start(&c->kick, on_kick, 0, 0);
}
