/*
 * countsink: a counting InfluxDB write endpoint for bench/scale-bench.
 *
 * tests/servers/writeserver.py checks requests one by one and is too
 * slow (one Python thread per connection, gzip in Python) to take the
 * whole daemon's output at 10,000 targets without eating the CPU the
 * benchmark measures. This sink does the least a server must: HTTP/1.1
 * keep-alive on one libuv loop, bodies with Content-Length (what libcurl
 * sends for a POST of a known body), gzip inflated with zlib as it
 * arrives, lines counted, 204 answered. The lines are counted after
 * inflating, not trusted from the daemon's own numbers: the point of
 * the benchmark is to show that every line produced arrived.
 *
 *   countsink [--port N] [--database NAME]
 *
 * Prints "READY PORT" once listening. Paths:
 *   POST /write, /api/v2/write   lines counted, 204 (an empty body too)
 *   POST /api/v1/write           Prometheus remote write (vmagent in
 *                                bench/compare): bytes counted, body
 *                                discarded (snappy protobuf, not decoded), 204
 *   GET  /ping                   204
 *   GET|POST /query              SHOW DATABASES answer listing NAME
 *   GET  /_stats                 the counters as JSON
 * anything else 404. On SIGTERM or SIGINT it prints the counters (the
 * same JSON) on stdout and exits.
 *
 * A line is a non-empty run of bytes ending in '\n'; "ups" are the lines
 * starting "up," or "up " (one per scrape in every schema), which lets
 * the benchmark count scrapes at the sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <zlib.h>

#define HDR_MAX 16384
#define INFLATE_CHUNK (256 * 1024)

typedef struct stats {
	uint64_t conns, requests, writes, gzip_writes, empty_writes, remote_writes;
	uint64_t lines, ups, raw_bytes, body_bytes, errors;
} stats;

static stats st;
static const char *dbname = "bench";
static unsigned char inflate_out[INFLATE_CHUNK];

typedef struct conn {
	uv_tcp_t tcp;
	char hdr[HDR_MAX];
	size_t hlen;
	int in_body;            /* reading a body of `left` bytes */
	uint64_t left;
	int gzip, is_write, close_after, bad_gzip, z_ended;
	unsigned code;          /* answer after the body */
	z_stream z;
	int z_ready;
	/* line counting across chunks */
	unsigned col;           /* bytes since the line start, capped at 3 */
	int upmatch;
} conn;

/* ---- counting ---- */

static void count(conn *c, const unsigned char *p, size_t n)
{
	size_t i = 0;
	st.body_bytes += n;
	while (i < n) {
		if (c->col < 3) {
			unsigned char ch = p[i++];
			if (ch == '\n') {
				if (c->col > 0)
					st.lines++;
				c->col = 0;
				continue;
			}
			if (c->col == 0)
				c->upmatch = ch == 'u';
			else if (c->col == 1)
				c->upmatch = c->upmatch && ch == 'p';
			else if (c->upmatch && (ch == ',' || ch == ' '))
				st.ups++;
			c->col++;
			continue;
		}
		/* Past the first bytes of a line: skip to its end. */
		const unsigned char *nl = memchr(p + i, '\n', n - i);
		if (nl == NULL)
			return;
		st.lines++;
		c->col = 0;
		i = (size_t)(nl - p) + 1;
	}
}

static void body_chunk(conn *c, const char *p, size_t n)
{
	st.raw_bytes += n;
	if (!c->is_write)
		return;
	if (!c->gzip) {
		count(c, (const unsigned char *)p, n);
		return;
	}
	if (c->bad_gzip || c->z_ended)
		return;
	c->z.next_in = (unsigned char *)(uintptr_t)p;
	c->z.avail_in = (uInt)n;
	/* Until the input is used up and no output is pending (a full
	 * output buffer may leave more behind). */
	do {
		c->z.next_out = inflate_out;
		c->z.avail_out = sizeof inflate_out;
		int rc = inflate(&c->z, Z_NO_FLUSH);
		count(c, inflate_out, sizeof inflate_out - c->z.avail_out);
		if (rc == Z_STREAM_END) {
			c->z_ended = 1;
			return;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			c->bad_gzip = 1;
			return;
		}
		if (rc == Z_BUF_ERROR && c->z.avail_out != 0)
			break;
	} while (c->z.avail_in > 0 || c->z.avail_out == 0);
}

/* ---- answers ---- */

typedef struct wreq {
	uv_write_t w;
	conn *c;
	int close_after;
	char buf[512];
} wreq;

static void on_closed(uv_handle_t *h)
{
	conn *c = h->data;
	if (c->z_ready)
		inflateEnd(&c->z);
	free(c);
}

static void conn_close(conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
	wreq *r = (wreq *)w;
	if (status < 0 || r->close_after)
		conn_close(r->c);
	free(r);
}

static void answer(conn *c, unsigned code, const char *ctype, const char *body)
{
	wreq *r = malloc(sizeof *r);
	if (r == NULL) {
		conn_close(c);
		return;
	}
	r->c = c;
	r->close_after = c->close_after;
	const char *reason = code == 204 ? "No Content" : code == 200 ? "OK" : code == 404 ? "Not Found"
		: "Bad Request";
	int n;
	if (code == 204)
		n = snprintf(r->buf, sizeof r->buf, "HTTP/1.1 204 No Content\r\n%s\r\n",
			     c->close_after ? "Connection: close\r\n" : "");
	else
		n = snprintf(r->buf, sizeof r->buf, "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
			     code, reason, ctype, strlen(body), c->close_after ? "Connection: close\r\n" : "", body);
	if (n < 0 || (size_t)n >= sizeof r->buf) {
		free(r);
		conn_close(c);
		return;
	}
	uv_buf_t b = uv_buf_init(r->buf, (unsigned)n);
	if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		free(r);
		conn_close(c);
	}
}

static int stats_json(char *b, size_t cap)
{
	return snprintf(b, cap,
			"{\"conns\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"writes\":%" PRIu64 ",\"gzip_writes\":%" PRIu64
			",\"empty_writes\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"ups\":%" PRIu64 ",\"raw_bytes\":%" PRIu64
			",\"body_bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"remote_writes\":%" PRIu64 "}",
			st.conns, st.requests, st.writes, st.gzip_writes, st.empty_writes, st.lines, st.ups,
			st.raw_bytes, st.body_bytes, st.errors, st.remote_writes);
}

/* The body is complete: check the gzip stream, count an unterminated
 * last line (line protocol allows one), answer. */
static void body_done(conn *c)
{
	c->in_body = 0;
	if (c->is_write) {
		if (c->gzip && (c->bad_gzip || !c->z_ended))
			st.errors++;
		if (c->col > 0)
			st.lines++;
		c->col = 0;
	}
	if (c->code == 204)
		answer(c, 204, "", "");
	else if (c->code == 200) {
		char b[256];
		snprintf(b, sizeof b, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\","
			 "\"columns\":[\"name\"],\"values\":[[\"%s\"]]}]}]}", dbname);
		answer(c, 200, "application/json", b);
	} else if (c->code == 299) {
		char b[512];
		stats_json(b, sizeof b);
		answer(c, 200, "application/json", b);
	} else
		answer(c, c->code, "application/json", "{\"error\":\"not found\"}");
}

/* ---- requests ---- */

static int header_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	const char *v = line + nl + 1;
	while (v < line + len && (*v == ' ' || *v == '\t'))
		v++;
	*val = v;
	return 1;
}

/* Parses the head in c->hdr (ending in CRLF CRLF). Returns 0 or -1 (bad). */
static int parse_head(conn *c)
{
	char *end = c->hdr + c->hlen;
	char *eol = memchr(c->hdr, '\r', c->hlen);
	if (eol == NULL)
		return -1;
	*eol = '\0';
	char method[8] = "", path[256] = "";
	if (sscanf(c->hdr, "%7s %255s", method, path) != 2)
		return -1;
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	c->left = 0;
	c->gzip = 0;
	c->close_after = 0;
	for (char *l = eol + 2; l < end;) {
		char *e = memchr(l, '\r', (size_t)(end - l));
		if (e == NULL || e == l)
			break;
		const char *v;
		size_t len = (size_t)(e - l);
		*e = '\0';
		if (header_is(l, len, "Content-Length", &v))
			c->left = strtoull(v, NULL, 10);
		else if (header_is(l, len, "Content-Encoding", &v))
			c->gzip = strncasecmp(v, "gzip", 4) == 0;
		else if (header_is(l, len, "Connection", &v))
			c->close_after = strncasecmp(v, "close", 5) == 0;
		else if (header_is(l, len, "Transfer-Encoding", &v))
			return -1; /* chunked bodies: not needed, not supported */
		l = e + 2;
	}
	st.requests++;
	c->is_write = 0;
	int post = strcmp(method, "POST") == 0;
	if (post && (strcmp(path, "/write") == 0 || strcmp(path, "/api/v2/write") == 0)) {
		c->is_write = 1;
		c->code = 204;
		st.writes++;
		if (c->left == 0)
			st.empty_writes++;
		if (c->gzip) {
			st.gzip_writes++;
			int rc = c->z_ready ? inflateReset(&c->z) : inflateInit2(&c->z, 16 + MAX_WBITS);
			if (rc != Z_OK)
				return -1;
			c->z_ready = 1;
		}
		c->bad_gzip = c->z_ended = 0;
		c->col = 0;
	} else if (post && strcmp(path, "/api/v1/write") == 0) {
		c->code = 204;
		st.remote_writes++;
	} else if (strcmp(path, "/ping") == 0) {
		c->code = 204;
	} else if (strcmp(path, "/query") == 0) {
		c->code = 200;
	} else if (strcmp(path, "/_stats") == 0) {
		c->code = 299; /* 200 with the counters */
	} else {
		c->code = 404;
	}
	c->in_body = 1;
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char rbuf[256 * 1024];
	(void)h;
	(void)hint;
	*b = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	const char *p = b->base;
	size_t len = (size_t)n;
	while (len > 0) {
		if (c->in_body) {
			size_t take = c->left < len ? (size_t)c->left : len;
			body_chunk(c, p, take);
			p += take;
			len -= take;
			c->left -= take;
			if (c->left == 0) {
				c->hlen = 0;
				body_done(c);
			}
			continue;
		}
		/* The head: bytes up to CRLF CRLF, copied (it may span reads). */
		size_t take = 0;
		int complete = 0;
		while (take < len) {
			if (c->hlen == HDR_MAX) {
				st.errors++;
				conn_close(c);
				return;
			}
			c->hdr[c->hlen++] = p[take++];
			if (c->hlen >= 4 && memcmp(c->hdr + c->hlen - 4, "\r\n\r\n", 4) == 0) {
				complete = 1;
				break;
			}
		}
		p += take;
		len -= take;
		if (!complete)
			return;
		if (parse_head(c) != 0) {
			st.errors++;
			c->close_after = 1;
			c->code = 400;
			c->in_body = 0;
			answer(c, 400, "application/json", "{\"error\":\"bad request\"}");
			return;
		}
		if (c->left == 0) {
			c->hlen = 0;
			body_done(c);
		}
	}
}

static void on_conn(uv_stream_t *srv, int status)
{
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	st.conns++;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum)
{
	char b[400];
	(void)signum;
	stats_json(b, sizeof b);
	printf("%s\n", b);
	fflush(stdout);
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
			dbname = argv[++i];
		else {
			fprintf(stderr, "usage: countsink [--port N] [--database NAME]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t srv;
	struct sockaddr_in addr;
	uv_tcp_init(loop, &srv);
	uv_ip4_addr("127.0.0.1", port, &addr);
	int rc = uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv, 1024, on_conn);
	if (rc != 0) {
		fprintf(stderr, "countsink: listen on 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
		return 1;
	}
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &sl);
	printf("READY %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	uv_signal_t sterm, sint;
	uv_signal_init(loop, &sterm);
	uv_signal_init(loop, &sint);
	uv_signal_start(&sterm, on_signal, SIGTERM);
	uv_signal_start(&sint, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
