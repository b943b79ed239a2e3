/*
 * fleet.c: a loopback fleet of exporters for the scrape benchmark.
 *
 *   fleet --payload FILE --ports N [--base PORT] [--gzip]
 *
 * Listens on N consecutive ports of 127.0.0.1 (from --base, default 20000;
 * ports that are taken are skipped) and answers every GET with the payload
 * (Content-Type text/plain; version=0.0.4), HTTP/1.1 keep-alive, as a fleet
 * of node_exporters would. --gzip: a request that accepts gzip gets the
 * payload gzipped (zlib level 6, compressed once at start), as
 * node_exporter and every client_golang exporter answer Prometheus. Prints "READY first-last" on stdout once it
 * listens, and on SIGINT/SIGTERM prints how many requests it served. One
 * thread, one libuv loop: it must cost little next to what it measures.
 * Only loopback addresses are used.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#ifdef FLEET_GZIP
#include <zlib.h>
#endif

typedef struct conn {
	uv_tcp_t tcp;
	char req[4096]; /* the tail of the request stream, to find "\r\n\r\n" */
	size_t len;
	int gz;         /* this request accepts gzip (seen in its headers) */
} conn;

static uv_buf_t response;  /* headers + body, sent as one buffer */
static uv_buf_t response_gz; /* the same gzipped (--gzip), else len 0 */
static uint64_t served;
static uv_loop_t *loop;

static void on_close(uv_handle_t *h)
{
	free(h->data ? h->data : (void *)h);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[65536];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(slab, sizeof(slab));
}

static void on_write(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

/* Counts complete requests ("\r\n\r\n") in what arrived and answers each. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	conn *c = (conn *)s;
	if (n < 0) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];
		if (c->len < sizeof(c->req))
			c->req[c->len++] = ch;
		/* "gzip" in the headers: Accept-Encoding is the only header of
		 * a scrape request that names it. */
		if (c->len >= 4 && memcmp(c->req + c->len - 4, "gzip", 4) == 0)
			c->gz = 1;
		if (c->len >= 4 && memcmp(c->req + c->len - 4, "\r\n\r\n", 4) == 0) {
			c->len = 0;
			const uv_buf_t *r = c->gz && response_gz.len ? &response_gz : &response;
			c->gz = 0;
			uv_write_t *w = malloc(sizeof(*w));
			if (w == NULL || uv_write(w, s, r, 1, on_write) != 0) {
				free(w);
				uv_close((uv_handle_t *)s, on_close);
				return;
			}
			served++;
		} else if (c->len == sizeof(c->req)) {
			/* Keep only the last 3 bytes: enough to find the terminator. */
			memmove(c->req, c->req + c->len - 3, 3);
			c->len = 3;
		}
	}
}

static void on_conn(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) != 0)
		uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_signal(uv_signal_t *h, int sig)
{
	(void)sig;
	fprintf(stdout, "served %llu\n", (unsigned long long)served);
	fflush(stdout);
	uv_stop(h->loop);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *d = malloc(cap);
	size_t r;
	while (d && (r = fread(d + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap)
			d = realloc(d, cap *= 2);
	}
	fclose(f);
	*n = len;
	return d;
}

/* The whole answer to a GET: status, headers (extra: more header lines,
 * each ending in CRLF) and body, in one buffer sent as it is. */
static uv_buf_t answer(const char *extra, const char *body, size_t n)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			  "%sContent-Length: %zu\r\n\r\n", extra, n);
	char *all = malloc((size_t)hl + n);
	if (all == NULL) {
		fprintf(stderr, "fleet: out of memory\n");
		exit(2);
	}
	memcpy(all, head, (size_t)hl);
	memcpy(all + hl, body, n);
	return uv_buf_init(all, (unsigned)((size_t)hl + n));
}

int main(int argc, char **argv)
{
	const char *payload = NULL;
	int ports = 100, base = 20000, gz = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc)
			payload = argv[++i];
		else if (strcmp(argv[i], "--ports") == 0 && i + 1 < argc)
			ports = atoi(argv[++i]);
		else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc)
			base = atoi(argv[++i]);
		else if (strcmp(argv[i], "--gzip") == 0)
			gz = 1;
		else {
			fprintf(stderr, "usage: fleet --payload FILE [--ports N] [--base PORT] [--gzip]\n");
			return 2;
		}
	}
	size_t blen;
	char *body = payload ? slurp(payload, &blen) : NULL;
	if (body == NULL) {
		fprintf(stderr, "fleet: cannot read payload %s\n", payload ? payload : "(none)");
		return 2;
	}
	response = answer("", body, blen);
	if (gz) {
#ifndef FLEET_GZIP
		fprintf(stderr, "fleet: --gzip needs zlib at build time (zlib1g-dev)\n");
		return 2;
#else
		z_stream z;
		memset(&z, 0, sizeof(z));
		uLong cap = compressBound((uLong)blen) + 64;
		unsigned char *zb = malloc(cap);
		/* windowBits 15 + 16: a gzip wrapper. */
		if (zb == NULL || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			fprintf(stderr, "fleet: cannot gzip the payload\n");
			return 2;
		}
		z.next_in = (unsigned char *)body;
		z.avail_in = (uInt)blen;
		z.next_out = zb;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
			fprintf(stderr, "fleet: cannot gzip the payload\n");
			return 2;
		}
		response_gz = answer("Content-Encoding: gzip\r\n", (const char *)zb, z.total_out);
		deflateEnd(&z);
		free(zb);
#endif
	}
	free(body);

	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	int first = -1, last = -1, opened = 0;
	for (int p = base; opened < ports && p < 65535; p++) {
		uv_tcp_t *srv = malloc(sizeof(*srv));
		struct sockaddr_in a;
		uv_ip4_addr("127.0.0.1", p, &a);
		uv_tcp_init(loop, srv);
		srv->data = NULL;
		if (uv_tcp_bind(srv, (const struct sockaddr *)&a, 0) != 0 ||
		    uv_listen((uv_stream_t *)srv, 512, on_conn) != 0) {
			uv_close((uv_handle_t *)srv, on_close);
			continue;
		}
		if (first < 0)
			first = p;
		last = p;
		opened++;
		/* Consecutive ports keep the config simple: stop at a gap. */
		if (last - first + 1 != opened) {
			fprintf(stderr, "fleet: port %d taken; use another --base\n", p - 1);
			return 1;
		}
	}
	uv_signal_t s1, s2;
	uv_signal_init(loop, &s1);
	uv_signal_init(loop, &s2);
	uv_signal_start(&s1, on_signal, SIGINT);
	uv_signal_start(&s2, on_signal, SIGTERM);
	printf("READY %d-%d\n", first, last);
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
