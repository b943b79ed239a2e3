/*
 * httpd.c: the small HTTP/1.1 server of the own metrics (see httpd.h).
 *
 * One connection is a state machine with three states:
 *   READ    waiting for a complete request head (the deadline runs);
 *   WRITE   one response is being written; reading is stopped, so a
 *           pipelined request waits in the input buffer and requests are
 *           answered strictly in order, one at a time;
 *   LINGER  a response after which the connection closes was written: our
 *           side is shut down and whatever the client still sends is read
 *           and dropped until it closes or a short deadline passes, so the
 *           client sees the response instead of a reset.
 * Each connection owns two handles (its socket and its deadline timer) and
 * is freed when both close callbacks have run. The server counts every
 * handle it has open and frees itself at the last close after
 * pf_httpd_close().
 *
 * The listening socket is created, bound and put to listen with plain
 * socket calls before libuv sees it (uv_tcp_open), so that a failure
 * (address in use, no permission) leaves nothing to close on the loop.
 */
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_CONNS 64u
#define DEFAULT_HEAD_MAX 8192u
#define DEFAULT_BODY_MAX (64u << 20)
/* Longest drain of a closing connection: long enough for a client to read
 * the response, short enough not to hold a slot. */
#define LINGER_MS 2000u
/* A body buffer larger than this is released after its response, so 64
 * idle keep-alive connections do not each hold a full /metrics body. */
#define BODY_KEEP (64u << 10)
#define DEFAULT_CT "text/plain; charset=utf-8"

enum { C_READ, C_WRITE, C_LINGER, C_CLOSED };

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	pf_httpd *h;
	struct conn *prev, *next;
	int state;
	int nclose;      /* close callbacks still to come */
	int keep;        /* keep the connection after the response */
	size_t inlen;    /* bytes in in[] */
	size_t scan;     /* in[0..scan) holds no head end: resume there */
	size_t consumed; /* bytes of in[] the response being written answers */
	int started;     /* a byte other than CR/LF came for this request */
	pf_buf body;
	char head[1024];
	char in[];       /* head_max bytes */
};

struct pf_httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_tcp_t spare;      /* refuses a connection without allocating */
	int spare_busy;
	pf_httpd_handler fn;
	void *ud;
	pf_httpd_opts o;
	pf_httpd_stats st;
	struct conn *conns;
	unsigned handles;    /* handles open or closing */
	int closing;
	void (*done)(void *);
	void *done_ud;
	int port;
};

static void handle_closed(pf_httpd *h)
{
	if (--h->handles == 0 && h->closing) {
		void (*done)(void *) = h->done;
		void *ud = h->done_ud;
		free(h);
		if (done)
			done(ud);
	}
}

static void on_conn_closed(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	pf_httpd *h = c->h;

	if (--c->nclose == 0) {
		pf_buf_free(&c->body);
		free(c);
	}
	handle_closed(h);
}

static void conn_close(struct conn *c)
{
	pf_httpd *h = c->h;

	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->st.open--;
	c->nclose = 2;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	/* An idle keep-alive connection that ends is no fault of the client;
	 * a half-sent head or an untaken response is. */
	if (c->state == C_WRITE || (c->state == C_READ && c->inlen > 0))
		c->h->st.timeouts++;
	if (c->state == C_WRITE) {
		/* Reset rather than close: a plain close would leave the kernel
		 * sending the rest of the response (megabytes of /metrics) to a
		 * client that reads nothing, for minutes. */
		uv_os_fd_t fd;
		struct linger lg = { 1, 0 };
		if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	conn_close(c);
}

static void arm(struct conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static const char *reason(int st)
{
	switch (st) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Status";
}

/* ------------------------------------------------------------------ */
/* Request parsing                                                     */

struct req {
	int status;      /* 0, or the error to answer (400, 431, 505) */
	char *method;
	char *target;
	int minor;       /* HTTP/1.minor */
	int conn_close;  /* Connection: close */
	int conn_keep;   /* Connection: keep-alive */
	int has_body;    /* Content-Length > 0 or Transfer-Encoding */
};

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t n, const char *b)
{
	size_t i;

	if (strlen(b) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != b[i])
			return 0;
	return 1;
}

/* End of the request head in c->in: its length (terminator included), or
 * 0 when it has not all arrived. Resumes where the last look stopped, so a
 * client sending one byte at a time costs linear time. */
static size_t head_end(struct conn *c)
{
	const char *in = c->in;
	size_t i = c->scan, n = c->inlen;

	/* Empty lines before a request line are ignored (RFC 9112, 2.2). */
	if (!c->started) {
		while (i < n && (in[i] == '\r' || in[i] == '\n'))
			i++;
		c->started = i < n;
	}
	for (; i < n; i++) {
		if (in[i] != '\n')
			continue;
		if (i + 1 < n && in[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && in[i + 1] == '\r' && in[i + 2] == '\n')
			return i + 3;
		if (i + 2 >= n)
			break; /* look at this '\n' again when more came */
	}
	c->scan = i;
	return 0;
}

/* Cuts the line starting at *p (ending in "\n" or "\r\n") and returns its
 * length; *p moves past it. A CR elsewhere or a NUL makes it -1. */
static long take_line(char **p, char *end, char **line)
{
	char *s = *p, *q = s;

	while (q < end && *q != '\n') {
		if (*q == '\0' || (*q == '\r' && !(q + 1 < end && q[1] == '\n')))
			return -1;
		q++;
	}
	if (q == end)
		return -1;
	*line = s;
	*p = q + 1;
	if (q > s && q[-1] == '\r')
		q--;
	*q = '\0';
	return q - s;
}

static void header(struct req *r, const char *name, size_t nl, const char *v, size_t vl)
{
	if (ieq(name, nl, "connection")) {
		/* A list of tokens: "keep-alive, Upgrade" */
		size_t i = 0;
		while (i < vl) {
			size_t j;
			while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
				i++;
			j = i;
			while (j < vl && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
				j++;
			if (ieq(v + i, j - i, "close"))
				r->conn_close = 1;
			else if (ieq(v + i, j - i, "keep-alive"))
				r->conn_keep = 1;
			i = j;
		}
	} else if (ieq(name, nl, "content-length")) {
		size_t i;
		if (vl == 0)
			r->status = 400;
		for (i = 0; i < vl; i++) {
			if (v[i] < '0' || v[i] > '9')
				r->status = 400;
			else if (v[i] != '0')
				r->has_body = 1;
		}
	} else if (ieq(name, nl, "transfer-encoding")) {
		r->has_body = 1;
	}
}

/* Parses in[0..n) (a whole head) in place: NULs end the method and the
 * target. */
static void parse(char *in, size_t n, struct req *r)
{
	char *p = in, *end = in + n, *line, *sp;
	long ll;

	memset(r, 0, sizeof *r);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	ll = take_line(&p, end, &line);
	if (ll <= 0)
		goto bad;
	/* method SP target SP HTTP/1.x */
	sp = line;
	while (is_tchar((unsigned char)*sp))
		sp++;
	if (sp == line || *sp != ' ')
		goto bad;
	*sp = '\0';
	r->method = line;
	r->target = ++sp;
	while ((unsigned char)*sp > 0x20 && *sp != 0x7f)
		sp++;
	if (sp == r->target || *sp != ' ')
		goto bad;
	*sp++ = '\0';
	if (strncmp(sp, "HTTP/", 5) != 0 || sp[5] < '0' || sp[5] > '9' || sp[6] != '.' ||
	    sp[7] < '0' || sp[7] > '9' || sp[8] != '\0')
		goto bad;
	if (sp[5] != '1') {
		r->status = 505;
		return;
	}
	r->minor = sp[7] - '0';

	for (;;) {
		char *colon, *v, *ve;
		ll = take_line(&p, end, &line);
		if (ll < 0)
			goto bad;
		if (ll == 0)
			break;
		/* No obsolete line folding, no blank before the colon. */
		colon = line;
		while (is_tchar((unsigned char)*colon))
			colon++;
		if (colon == line || *colon != ':')
			goto bad;
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		ve = line + ll;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (char *q = v; q < ve; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
				goto bad;
		header(r, line, (size_t)(colon - line), v, (size_t)(ve - v));
		if (r->status)
			return;
	}
	return;
bad:
	r->status = 400;
}

/* Splits an origin-form or absolute-form target into path and query (in
 * place). Returns 0, or -1 when the target has neither form. */
static int split_target(char *t, const char **path, const char **query)
{
	char *q;

	if (t[0] != '/') {
		/* http://host:port/path?query: proxies and some probes send it. */
		size_t sl = ieq(t, 7, "http://") ? 7 : ieq(t, 8, "https://") ? 8 : 0;
		if (sl == 0)
			return -1;
		t += sl;
		t += strcspn(t, "/?#");
		if (*t != '/') {
			/* No path: "/" and whatever query follows. */
			*path = "/";
			*query = *t == '?' ? t + 1 : "";
			if (*t == '?' && strchr(t + 1, '#'))
				*strchr(t + 1, '#') = '\0';
			return 0;
		}
	}
	*path = t;
	*query = "";
	q = t + strcspn(t, "?#");
	if (*q == '?') {
		*q++ = '\0';
		*query = q;
		q += strcspn(q, "#");
	}
	*q = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void process(struct conn *c);

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state != C_CLOSED && status < 0)
		conn_close(c);
}

static void on_write(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	pf_httpd *h = c->h;
	size_t left;

	if (c->body.cap > BODY_KEEP)
		pf_buf_free(&c->body);
	else
		pf_buf_reset(&c->body);
	if (c->state == C_CLOSED)
		return; /* cancelled by a close */
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (!c->keep) {
		c->state = C_LINGER;
		arm(c, h->o.timeout_ms < LINGER_MS ? h->o.timeout_ms : LINGER_MS);
		c->sreq.data = c;
		if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0 ||
		    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
			conn_close(c);
		return;
	}
	/* Keep-alive: what follows the answered request is the next one. */
	left = c->inlen - c->consumed;
	memmove(c->in, c->in + c->consumed, left);
	c->inlen = left;
	c->consumed = 0;
	c->scan = 0;
	c->started = 0;
	c->state = C_READ;
	arm(c, h->o.timeout_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	process(c);
}

/* Appends formatted text to c->head at *n; 0, or -1 when it did not fit. */
static int head_add(struct conn *c, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int head_add(struct conn *c, int *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(c->head + *n, sizeof c->head - (size_t)*n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof c->head - (size_t)*n)
		return -1;
	*n += k;
	return 0;
}

/* Sends status with the body in c->body (its length only when
 * head_only), content type ct and the extra header lines. */
static void respond(struct conn *c, int status, const char *ct, int head_only,
		    const char *extra)
{
	pf_httpd *h = c->h;
	uv_buf_t b[2];
	int n = 0, nb = 1, rc = 0;
	/* 204 and 304 carry no body; 204 not even a Content-Length. */
	int no_body = status == 204 || status == 304;

	rc |= head_add(c, &n, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (!no_body)
		rc |= head_add(c, &n, "Content-Type: %s\r\n", ct);
	if (status != 204)
		rc |= head_add(c, &n, "Content-Length: %zu\r\n", no_body ? (size_t)0 : c->body.len);
	if (!c->keep)
		rc |= head_add(c, &n, "Connection: close\r\n");
	else if (c->keep == 2)
		rc |= head_add(c, &n, "Connection: keep-alive\r\n"); /* HTTP/1.0 asked */
	rc |= head_add(c, &n, "%s\r\n", extra ? extra : "");
	if (rc) {
		conn_close(c);
		return;
	}
	b[0] = uv_buf_init(c->head, (unsigned)n);
	if (!head_only && !no_body && c->body.len) {
		b[1] = uv_buf_init(c->body.data, (unsigned)c->body.len);
		nb = 2;
	}
	h->st.requests++;
	if (status == 400 || status == 431 || status == 505)
		h->st.bad_requests++;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->state = C_WRITE;
	arm(c, h->o.timeout_ms);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b, (unsigned)nb, on_write) < 0)
		conn_close(c);
}

static void respond_text(struct conn *c, int status, const char *text, const char *extra)
{
	pf_buf_reset(&c->body);
	if (pf_buf_puts(&c->body, text) < 0)
		pf_buf_reset(&c->body);
	respond(c, status, DEFAULT_CT, 0, extra);
}

/* Answers the request at the start of c->in when it has all arrived. */
static void process(struct conn *c)
{
	pf_httpd *h = c->h;
	size_t hl = head_end(c);
	struct req r;
	pf_httpd_req q;
	const char *ct = DEFAULT_CT;
	int st;

	if (hl == 0) {
		if (c->inlen >= h->o.head_max) {
			c->keep = 0;
			respond_text(c, 431, "request head too large\n", NULL);
		}
		return;
	}
	c->consumed = hl;
	parse(c->in, hl, &r);
	if (r.status) {
		c->keep = 0;
		respond_text(c, r.status, r.status == 505 ? "HTTP version not supported\n"
							  : "bad request\n", NULL);
		return;
	}
	/* HTTP/1.1 keeps by default, 1.0 only when asked; a body we do not
	 * read ends the connection. keep == 2: say keep-alive (HTTP/1.0). */
	if (r.conn_close || r.has_body)
		c->keep = 0;
	else if (r.minor >= 1)
		c->keep = 1;
	else
		c->keep = r.conn_keep ? 2 : 0;
	if (split_target(r.target, &q.path, &q.query) < 0) {
		c->keep = 0;
		respond_text(c, 400, "bad request target\n", NULL);
		return;
	}
	if (strcmp(r.method, "GET") != 0 && strcmp(r.method, "HEAD") != 0) {
		respond_text(c, 405, "method not allowed\n", "Allow: GET, HEAD\r\n");
		return;
	}
	q.method = r.method;
	q.head = r.method[0] == 'H';
	pf_buf_reset(&c->body);
	st = h->fn(h->ud, &q, &c->body, &ct);
	if (c->state == C_CLOSED)
		return; /* the handler closed the server */
	if (st < 200 || st > 599 || ct == NULL || strlen(ct) > 256 || strpbrk(ct, "\r\n")) {
		st = 500;
		ct = DEFAULT_CT;
		pf_buf_reset(&c->body);
	}
	respond(c, st, ct, q.head, NULL);
}

/* ------------------------------------------------------------------ */
/* Reading and accepting                                               */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = hd->data;

	(void)suggested;
	if (c->state == C_LINGER) {
		*buf = uv_buf_init(c->in, (unsigned)c->h->o.head_max);
		return;
	}
	/* 0 bytes left (never expected) makes libuv report UV_ENOBUFS. */
	*buf = uv_buf_init(c->in + c->inlen, (unsigned)(c->h->o.head_max - c->inlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread == 0 || c->state == C_CLOSED)
		return;
	if (nread < 0 || c->state != C_READ) {
		/* EOF, reset, or the end of a linger. A half-received request
		 * cannot be answered: whoever sent it has gone. */
		if (nread < 0)
			conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	process(c);
}

static void on_spare_closed(uv_handle_t *hd)
{
	pf_httpd *h = hd->data;

	if (hd == (uv_handle_t *)&h->spare)
		h->spare_busy = 0;
	else
		free(hd);
	handle_closed(h);
}

/* Accepts the waiting connection and closes it at once (over the cap, or
 * out of memory). Accepting is needed: a libuv listener whose connection
 * is not accepted stops listening. */
static void refuse(pf_httpd *h, uv_stream_t *srv)
{
	uv_tcp_t *t = NULL;

	if (!h->spare_busy) {
		t = &h->spare;
		h->spare_busy = 1;
	} else {
		t = malloc(sizeof *t);
		if (t == NULL)
			return; /* the listener pauses until the next accept */
	}
	uv_tcp_init(h->loop, t);
	t->data = h;
	h->handles++;
	h->st.refused++;
	uv_accept(srv, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_spare_closed);
}

static void on_conn(uv_stream_t *srv, int status)
{
	pf_httpd *h = srv->data;
	struct conn *c;

	if (status < 0 || h->closing)
		return;
	if (h->st.open >= h->o.max_conns) {
		refuse(h, srv);
		return;
	}
	c = calloc(1, sizeof *c + h->o.head_max);
	if (c == NULL) {
		refuse(h, srv);
		return;
	}
	c->h = h;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	h->handles += 2;
	pf_buf_init(&c->body, h->o.body_max);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->st.open++;
	c->state = C_READ;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	h->st.connections++;
	uv_tcp_nodelay(&c->tcp, 1);
	arm(c, h->o.timeout_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* ------------------------------------------------------------------ */
/* Listening                                                           */

static void seterr(char *err, size_t errcap, const char *listen, const char *why)
{
	if (err && errcap)
		snprintf(err, errcap, "listen %s: %s", listen, why);
}

/* Parses listen into addr. *any: the host part was empty. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *any,
			char *err, size_t errcap)
{
	char host[64];
	const char *colon, *ps;
	size_t hl;
	unsigned long port = 0;

	*any = 0;
	memset(ss, 0, sizeof *ss);
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');
		if (rb == NULL || rb[1] != ':') {
			seterr(err, errcap, listen, "expected [IPv6 address]:port");
			return -EINVAL;
		}
		hl = (size_t)(rb - listen - 1);
		if (hl >= sizeof host) {
			seterr(err, errcap, listen, "address too long");
			return -EINVAL;
		}
		memcpy(host, listen + 1, hl);
		host[hl] = '\0';
		ps = rb + 2;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL) {
			seterr(err, errcap, listen, "expected host:port (e.g. 127.0.0.1:9465 or :9465)");
			return -EINVAL;
		}
		hl = (size_t)(colon - listen);
		if (memchr(listen, ':', hl)) {
			seterr(err, errcap, listen, "an IPv6 address goes in brackets, e.g. [::1]:9465");
			return -EINVAL;
		}
		if (hl >= sizeof host) {
			seterr(err, errcap, listen, "address too long");
			return -EINVAL;
		}
		memcpy(host, listen, hl);
		host[hl] = '\0';
		ps = colon + 1;
	}
	if (*ps == '\0' || strlen(ps) > 5 || strspn(ps, "0123456789") != strlen(ps)) {
		seterr(err, errcap, listen, "port must be a number 0-65535");
		return -EINVAL;
	}
	for (; *ps; ps++)
		port = port * 10 + (unsigned long)(*ps - '0');
	if (port > 65535) {
		seterr(err, errcap, listen, "port must be a number 0-65535");
		return -EINVAL;
	}
	if (listen[0] == '[') {
		if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0) {
			seterr(err, errcap, listen, "not an IPv6 address");
			return -EINVAL;
		}
		return 0;
	}
	if (host[0] == '\0') {
		*any = 1;
		uv_ip6_addr("::", (int)port, (struct sockaddr_in6 *)ss);
		return 0;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0) {
		seterr(err, errcap, listen,
		       "not an IPv4 address (host names other than localhost are not resolved)");
		return -EINVAL;
	}
	return 0;
}

int pf_httpd_check_listen(const char *listen, char *err, size_t errcap)
{
	struct sockaddr_storage ss;
	int any;
	return parse_listen(listen, &ss, &any, err, errcap);
}

/* A listening socket on addr, or a negative errno. */
static int listen_fd(const struct sockaddr_storage *ss)
{
	int fd, one = 1, zero = 0;
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A restarted daemon must not wait for TIME_WAIT to pass. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* "::" also takes IPv4 (as Go's listeners do), whatever the host's
	 * net.ipv6.bindv6only says. */
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 128) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

pf_httpd *pf_httpd_new(uv_loop_t *loop, const char *listen, const pf_httpd_opts *opts,
		       pf_httpd_handler fn, void *ud, char *err, size_t errcap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	pf_httpd *h;
	int any, fd, rc;

	if (listen == NULL || fn == NULL) {
		seterr(err, errcap, listen ? listen : "(null)", "no address or no handler");
		return NULL;
	}
	if (parse_listen(listen, &ss, &any, err, errcap) < 0)
		return NULL;
	fd = listen_fd(&ss);
	if (fd < 0 && any && (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
		/* No IPv6 on this host: every IPv4 address then. */
		int port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
		fd = listen_fd(&ss);
	}
	if (fd < 0) {
		seterr(err, errcap, listen, uv_strerror(fd));
		return NULL;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		seterr(err, errcap, listen, uv_strerror(-errno));
		close(fd);
		return NULL;
	}
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		seterr(err, errcap, listen, "out of memory");
		close(fd);
		return NULL;
	}
	h->loop = loop;
	h->fn = fn;
	h->ud = ud;
	if (opts)
		h->o = *opts;
	if (h->o.timeout_ms == 0)
		h->o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (h->o.max_conns == 0)
		h->o.max_conns = DEFAULT_MAX_CONNS;
	if (h->o.head_max == 0)
		h->o.head_max = DEFAULT_HEAD_MAX;
	if (h->o.body_max == 0)
		h->o.body_max = DEFAULT_BODY_MAX;
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	uv_tcp_init(loop, &h->listener);
	h->listener.data = h;
	h->handles = 1;
	rc = uv_tcp_open(&h->listener, fd);
	if (rc < 0)
		close(fd); /* not the handle's yet */
	else
		rc = uv_listen((uv_stream_t *)&h->listener, 128, on_conn);
	if (rc < 0) {
		/* Not expected for a socket that is already listening; the
		 * handle must still be closed through the loop. */
		seterr(err, errcap, listen, uv_strerror(rc));
		pf_httpd_close(h, NULL, NULL);
		return NULL;
	}
	return h;
}

int pf_httpd_port(const pf_httpd *h)
{
	return h->port;
}

void pf_httpd_get_stats(const pf_httpd *h, pf_httpd_stats *out)
{
	*out = h->st;
}

static void on_listener_closed(uv_handle_t *hd)
{
	handle_closed(hd->data);
}

void pf_httpd_close(pf_httpd *h, void (*done)(void *ud), void *ud)
{
	if (h == NULL || h->closing)
		return;
	h->closing = 1;
	h->done = done;
	h->done_ud = ud;
	uv_close((uv_handle_t *)&h->listener, on_listener_closed);
	while (h->conns)
		conn_close(h->conns);
}
