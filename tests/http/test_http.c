/*
 * test_http.c: pf_http against tests/servers/faultserver.py, one behaviour
 * per test, TAP output.
 *
 * run_http_test.py starts the servers and passes where they are through
 * the environment: PF_HTTP_PORT, PF_HTTPS_PORT, PF_MTLS_PORT (TLS that
 * requires a client certificate), PF_UNIX_SOCK, PF_CLOSED_PORT (nothing
 * listens), PF_CERTS (ca.pem, client.pem, client.key) and PF_PAYLOAD (the
 * file /metrics serves). Every test runs its own loop and ends with
 * uv_loop_close() == 0, so a handle left open is a failure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include "http.h"
#include "pf_version.h"

static int g_fail;      /* failures in the current test */
static int g_in_get;    /* inside pf_http_get: on_done must not run */

#define CHECK(c) \
	do { \
		if (!(c)) { \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
			g_fail++; \
		} \
	} while (0)

static const char *env(const char *k)
{
	const char *v = getenv(k);
	if (!v || !*v) {
		printf("Bail out! %s not set (run through run_http_test.py)\n", k);
		exit(1);
	}
	return v;
}

static char g_payload[1 << 20];
static size_t g_payload_len;

static void load_payload(void)
{
	FILE *f = fopen(env("PF_PAYLOAD"), "rb");
	if (!f) {
		printf("Bail out! cannot open PF_PAYLOAD\n");
		exit(1);
	}
	g_payload_len = fread(g_payload, 1, sizeof g_payload, f);
	fclose(f);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, 512, f, ap);
	va_end(ap);
	return b;
}

static const char *http_url(const char *path)
{
	return fmt("http://127.0.0.1:%s%s", env("PF_HTTP_PORT"), path);
}

static const char *cert(const char *name)
{
	return fmt("%s/%s", env("PF_CERTS"), name);
}

/* One GET and everything observed about it. */
struct get {
	pf_http_req req;
	struct run *run;
	char *body;
	size_t len, cap;
	int header_calls;
	long header_status;
	char ctype[128];
	int done_calls;
	int header_after_data; /* on_data came before on_header */
	pf_http_result r;
	/* behaviour */
	int abort_on_data;
	int cancel_on_data;     /* pf_http_cancel(self) from on_data */
	int close_on_data;      /* pf_http_close from on_data */
	int slow_data;          /* on_data takes 1 ms, as parsing 64 KiB does */
	unsigned long turn;     /* g_turn at the last on_data */
	size_t turn_bytes;      /* handed over in that loop iteration */
	size_t max_turn_bytes;
	pf_http_xfer *xfer;
	struct get *then;       /* started from this one's on_done */
	unsigned then_after_ms; /* ... that long after it */
	uv_timer_t then_timer;
	double idle_cpu_ms;     /* CPU the process spent meanwhile */
	uint64_t again;         /* pf_http_again() at on_done */
};

struct run {
	uv_loop_t loop;
	pf_http *h;
	int pending;
	int closed;
	int close_requested;
};

static void on_closed(void *ud)
{
	struct run *r = ud;
	r->closed++;
}

static void run_close(struct run *r)
{
	if (!r->close_requested) {
		r->close_requested = 1;
		pf_http_close(r->h, on_closed, r);
	}
}

static int start(struct run *r, struct get *g);

static int g_on_header(void *ud, long status, const char *ct)
{
	struct get *g = ud;
	g->header_calls++;
	g->header_status = status;
	snprintf(g->ctype, sizeof g->ctype, "%s", ct ? ct : "(null)");
	return 0;
}

/* Loop iterations, counted by a uv_check handle where a test starts one. */
static unsigned long g_turn;

static void on_check(uv_check_t *c)
{
	(void)c;
	g_turn++;
}

static int g_on_data(void *ud, const char *p, size_t n)
{
	struct get *g = ud;
	if (g->turn != g_turn) {
		g->turn = g_turn;
		g->turn_bytes = 0;
	}
	g->turn_bytes += n;
	if (g->turn_bytes > g->max_turn_bytes)
		g->max_turn_bytes = g->turn_bytes;
	if (g->slow_data) {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	if (g->header_calls == 0)
		g->header_after_data = 1;
	if (g->len + n > g->cap) {
		size_t c = g->cap ? g->cap : 4096;
		while (c < g->len + n)
			c *= 2;
		char *b = realloc(g->body, c);
		if (!b)
			abort();
		g->body = b;
		g->cap = c;
	}
	memcpy(g->body + g->len, p, n);
	g->len += n;
	if (g->cancel_on_data)
		pf_http_cancel(g->xfer);
	if (g->close_on_data)
		run_close(g->run);
	return g->abort_on_data;
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void then_timer_closed(uv_handle_t *t)
{
	struct get *g = t->data;
	g->run->pending--;
	CHECK(start(g->run, g->then) == 0);
}

static void on_then_timer(uv_timer_t *t)
{
	struct get *g = t->data;
	g->idle_cpu_ms = cpu_ms() - g->idle_cpu_ms;
	uv_close((uv_handle_t *)t, then_timer_closed);
}

static void g_on_done(void *ud, const pf_http_result *res)
{
	struct get *g = ud;
	CHECK(!g_in_get);
	g->done_calls++;
	g->r = *res;
	g->again = pf_http_again(g->run->h);
	g->run->pending--;
	if (g->then && g->then_after_ms) {
		/* Pending until the next one starts (then_timer_closed). */
		g->run->pending++;
		g->idle_cpu_ms = cpu_ms();
		CHECK(uv_timer_init(&g->run->loop, &g->then_timer) == 0);
		g->then_timer.data = g;
		CHECK(uv_timer_start(&g->then_timer, on_then_timer, g->then_after_ms, 0) == 0);
	} else if (g->then) {
		CHECK(start(g->run, g->then) == 0);
	}
	if (g->run->pending == 0)
		run_close(g->run);
}

static void get_init(struct get *g, const char *url)
{
	memset(g, 0, sizeof *g);
	g->req.url = url;
	g->req.timeout_ms = 10000;
	g->req.max_body = 64u << 20;
	g->req.on_header = g_on_header;
	g->req.on_data = g_on_data;
	g->req.on_done = g_on_done;
	g->req.ud = g;
}

static int start(struct run *r, struct get *g)
{
	g->run = r;
	r->pending++;
	g_in_get = 1;
	int rc = pf_http_get(r->h, &g->req, &g->xfer);
	g_in_get = 0;
	if (rc != 0)
		r->pending--;
	return rc;
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof *r);
	CHECK(uv_loop_init(&r->loop) == 0);
	r->h = pf_http_new(&r->loop);
	CHECK(r->h != NULL);
}

/* Runs the loop until pf_http is closed and every handle is gone. */
static void run_finish(struct run *r)
{
	if (r->pending == 0)
		run_close(r);
	CHECK(uv_run(&r->loop, UV_RUN_DEFAULT) == 0);
	CHECK(r->closed == 1);
	CHECK(uv_loop_close(&r->loop) == 0);
}

/* Runs the GETs g[0..n) concurrently on one client. */
static void run_gets(struct get *g, size_t n)
{
	struct run r;
	run_init(&r);
	for (size_t i = 0; i < n; i++)
		CHECK(start(&r, &g[i]) == 0);
	run_finish(&r);
	for (size_t i = 0; i < n; i++)
		CHECK(g[i].done_calls == 1);
}

static void get_free(struct get *g)
{
	free(g->body);
	g->body = NULL;
}

static int body_is(const struct get *g, const char *p, size_t n)
{
	return g->len == n && (n == 0 || memcmp(g->body, p, n) == 0);
}

static int body_has(const struct get *g, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= g->len; i++)
		if (memcmp(g->body + i, s, n) == 0)
			return 1;
	return 0;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void show(const char *what, const struct get *g)
{
	printf("# %s: ok=%d status=%ld curl=%d cancelled=%d body=%llu wire=%llu "
	       "t=%.3fs error=\"%s\"\n", what, g->r.ok, g->r.status, g->r.curl_code,
		g->r.cancelled, (unsigned long long)g->r.body_bytes,
		(unsigned long long)g->r.wire_bytes, g->r.total_s, g->r.error);
}

/* ---- tests ---- */

static void t_payload(void)
{
	struct get g;
	get_init(&g, http_url("/metrics"));
	run_gets(&g, 1);
	CHECK(g.r.ok);
	CHECK(g.r.status == 200);
	CHECK(g.r.error[0] == '\0');
	CHECK(body_is(&g, g_payload, g_payload_len));
	CHECK(g.r.body_bytes == g_payload_len);
	CHECK(g.header_calls == 1);
	CHECK(g.header_status == 200);
	CHECK(starts(g.ctype, "text/plain; version=0.0.4"));
	CHECK(!g.header_after_data);
	get_free(&g);
}

static void t_openmetrics(void)
{
	struct get g;
	get_init(&g, http_url("/openmetrics"));
	run_gets(&g, 1);
	CHECK(g.r.ok);
	CHECK(starts(g.ctype, "application/openmetrics-text"));
	CHECK(body_has(&g, "# EOF\n"));
	get_free(&g);
}

static void t_empty_body(void)
{
	struct get g;
	get_init(&g, http_url("/big?bytes=0"));
	run_gets(&g, 1);
	CHECK(g.r.ok);
	CHECK(g.header_calls == 1);
	CHECK(g.len == 0);
	get_free(&g);
}

static long conn_id(const struct get *g)
{
	if (g->len < 15 || memcmp(g->body, "connection_id ", 14) != 0)
		return -1;
	return strtol(g->body + 14, NULL, 10);
}

static void t_reuse(void)
{
	/* The second GET starts from the first one's on_done: one client,
	 * sequential requests, same connection on the server side. */
	struct get g[3];
	get_init(&g[0], http_url("/conn"));
	get_init(&g[1], http_url("/conn"));
	get_init(&g[2], http_url("/conn"));
	g[0].then = &g[1];
	g[1].then = &g[2];
	run_gets(g, 1);
	for (int i = 0; i < 3; i++) {
		CHECK(g[i].done_calls == 1);
		CHECK(g[i].r.ok);
	}
	printf("# connection ids: %ld %ld %ld\n", conn_id(&g[0]), conn_id(&g[1]), conn_id(&g[2]));
	CHECK(conn_id(&g[0]) > 0);
	CHECK(conn_id(&g[0]) == conn_id(&g[1]));
	CHECK(conn_id(&g[1]) == conn_id(&g[2]));
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);
}

static void t_pooled_close(void)
{
	/* The server closes the first connection while it is idle in curl's
	 * pool: its poll handle, kept across requests (http.c rule 4), must
	 * stop rather than wake the loop for as long as the connection waits
	 * (the FIN stays readable), and the next request, on a new socket
	 * that mostly takes the same fd number, must be watched, not taken
	 * for the old one. */
	struct get g[3];
	get_init(&g[0], http_url("/conn?idle_ms=50"));
	get_init(&g[1], http_url("/conn"));
	get_init(&g[2], http_url("/conn"));
	g[0].then = &g[1];
	g[0].then_after_ms = 400;
	g[1].then = &g[2];
	run_gets(g, 1);
	for (int i = 0; i < 3; i++) {
		if (!g[i].r.ok)
			show("pooled close", &g[i]);
		CHECK(g[i].done_calls == 1 && g[i].r.ok);
		CHECK(g[i].r.total_s < 2);
	}
	printf("# connection ids: %ld %ld %ld; CPU while pooled: %.1f ms\n", conn_id(&g[0]), conn_id(&g[1]),
	       conn_id(&g[2]), g[0].idle_cpu_ms);
	CHECK(conn_id(&g[0]) > 0 && conn_id(&g[1]) != conn_id(&g[0]));
	CHECK(conn_id(&g[1]) == conn_id(&g[2]));
	CHECK(g[0].idle_cpu_ms < 100);
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);
}

static void t_pools(void)
{
	/* pf_http_req.pool picks the connection cache: the same cache
	 * (PF_HTTP_POOLS apart is the same one) reuses the idle connection,
	 * another cache makes its own, and the first one's is still there. */
	CHECK(pf_http_pool(0, 5000) == 1);
	CHECK(pf_http_pool(4999, 5000) == PF_HTTP_POOLS);
	CHECK(pf_http_pool(2500, 5000) == 1 + PF_HTTP_POOLS / 2);
	CHECK(pf_http_pool(5000, 5000) == 0);
	CHECK(pf_http_pool(0, 0) == 0);
	CHECK(pf_http_origin_len("http://h:1/metrics?x") == strlen("http://h:1"));
	CHECK(pf_http_origin_len("https://u@h") == strlen("https://u@h"));
	struct get g[4];
	unsigned pools[4] = { 5, 5 + PF_HTTP_POOLS, 6, 5 };
	for (int i = 0; i < 4; i++) {
		get_init(&g[i], http_url("/conn"));
		g[i].req.pool = pools[i];
		if (i > 0)
			g[i - 1].then = &g[i];
	}
	run_gets(g, 1);
	for (int i = 0; i < 4; i++)
		CHECK(g[i].r.ok);
	printf("# connection ids: %ld %ld %ld %ld\n", conn_id(&g[0]), conn_id(&g[1]), conn_id(&g[2]), conn_id(&g[3]));
	CHECK(conn_id(&g[0]) > 0);
	CHECK(conn_id(&g[1]) == conn_id(&g[0]));
	CHECK(conn_id(&g[2]) > conn_id(&g[1]));
	CHECK(conn_id(&g[3]) == conn_id(&g[0]));
	for (int i = 0; i < 4; i++)
		get_free(&g[i]);
}

static void t_slow_headers(void)
{
	struct get g;
	get_init(&g, http_url("/slow-headers?ms=3000"));
	g.req.timeout_ms = 500;
	run_gets(&g, 1);
	show("slow headers", &g);
	CHECK(!g.r.ok);
	CHECK(g.r.status == 0);
	CHECK(g.r.curl_code == 28);
	CHECK(starts(g.r.error, "timed out after 500 ms"));
	CHECK(g.r.total_s >= 0.45 && g.r.total_s < 1.5);
	CHECK(g.header_calls == 0);
	get_free(&g);
}

static void t_slow_body(void)
{
	struct get g;
	get_init(&g, http_url("/slow-body?ms=3000"));
	g.req.timeout_ms = 500;
	run_gets(&g, 1);
	show("slow body", &g);
	CHECK(!g.r.ok);
	CHECK(g.r.status == 200);
	CHECK(starts(g.r.error, "timed out after 500 ms"));
	CHECK(g.r.total_s >= 0.45 && g.r.total_s < 1.5);
	CHECK(g.header_calls == 1);
	CHECK(g.len > 0 && g.len < g_payload_len);
	CHECK(memcmp(g.body, g_payload, g.len) == 0);
	get_free(&g);
}

static void t_status_500(void)
{
	struct get g;
	get_init(&g, http_url("/status?code=500"));
	run_gets(&g, 1);
	show("500", &g);
	CHECK(!g.r.ok);
	CHECK(!g.r.cancelled);
	CHECK(g.r.status == 500);
	CHECK(strcmp(g.r.error, "HTTP 500 Internal Server Error") == 0);
	CHECK(g.header_calls == 0);
	CHECK(g.len == 0 && g.r.body_bytes == 0);
	get_free(&g);
}

static void t_redirect(void)
{
	struct get g[4];
	get_init(&g[0], http_url("/redirect?to=/metrics"));
	get_init(&g[1], http_url("/redirect-chain?n=5"));
	get_init(&g[2], http_url("/redirect-chain?n=6"));
	get_init(&g[3], http_url("/redirect?to=file:///etc/passwd"));
	run_gets(g, 4);
	for (int i = 0; i < 4; i++)
		show("redirect", &g[i]);
	CHECK(g[0].r.ok && g[0].r.status == 200);
	CHECK(body_is(&g[0], g_payload, g_payload_len));
	CHECK(g[0].header_calls == 1 && g[0].header_status == 200);
	CHECK(g[1].r.ok && body_is(&g[1], g_payload, g_payload_len));
	CHECK(!g[2].r.ok && starts(g[2].r.error, "too many redirects"));
	CHECK(g[2].len == 0);
	CHECK(!g[3].r.ok && starts(g[3].r.error, "unsupported protocol"));
	CHECK(g[3].len == 0);
	for (int i = 0; i < 4; i++)
		get_free(&g[i]);
}

static void t_fd_reuse(void)
{
	/* Each redirect closes its connection and curl opens the next one in
	 * the same curl_multi_socket_action call: the new socket gets the fd
	 * number whose poll handle is still closing. Concurrent chains and a
	 * plain GET keep several fds in play. */
	struct get g[6];
	for (int i = 0; i < 5; i++)
		get_init(&g[i], http_url("/redirect-chain?n=5&close=1"));
	get_init(&g[5], http_url("/metrics"));
	run_gets(g, 6);
	for (int i = 0; i < 6; i++) {
		if (!g[i].r.ok)
			show("fd reuse", &g[i]);
		CHECK(g[i].r.ok && body_is(&g[i], g_payload, g_payload_len));
		get_free(&g[i]);
	}
}

static void t_gzip(void)
{
	struct get g[2];
	get_init(&g[0], http_url("/gzip"));
	g[0].req.gzip = 1;
	get_init(&g[1], http_url("/gzip"));
	run_gets(g, 2);
	show("gzip", &g[0]);
	show("no gzip", &g[1]);
	CHECK(g[0].r.ok);
	CHECK(body_is(&g[0], g_payload, g_payload_len));
	CHECK(g[0].r.body_bytes == g_payload_len);
	CHECK(g[0].r.wire_bytes > 0 && g[0].r.wire_bytes < g_payload_len / 2);
	CHECK(g[1].r.ok);
	CHECK(body_is(&g[1], g_payload, g_payload_len));
	CHECK(g[1].r.wire_bytes == g_payload_len);
	get_free(&g[0]);
	get_free(&g[1]);
}

/* A gzip body is decompressed whole (libdeflate) once it is in: several
 * members are one body; a corrupt or truncated one, or an encoding that
 * was not asked for, fails the transfer with a clear error and hands
 * nothing over. */
static void t_gzip_forms(void)
{
	static const struct { const char *form; int ok; const char *err; } c[] = {
		{ "members", 1, "" },
		{ "corrupt", 0, "the gzip body is corrupt or truncated" },
		{ "truncated", 0, "the gzip body is corrupt or truncated" },
		{ "br", 0, "the target answered with a Content-Encoding other than gzip" },
	};
	enum { N = sizeof c / sizeof c[0] };
	struct get g[N];
	for (int i = 0; i < N; i++) {
		char path[64];
		snprintf(path, sizeof path, "/gzip?form=%s", c[i].form);
		get_init(&g[i], http_url(path));
		g[i].req.gzip = 1;
	}
	run_gets(g, N);
	for (int i = 0; i < N; i++) {
		show(c[i].form, &g[i]);
		CHECK(g[i].done_calls == 1);
		CHECK(g[i].r.ok == c[i].ok);
		CHECK(starts(g[i].r.error, c[i].err));
		if (c[i].ok)
			CHECK(body_is(&g[i], g_payload, g_payload_len) && g[i].r.body_bytes == g_payload_len);
		else
			CHECK(g[i].len == 0 && g[i].r.body_bytes == 0);
		get_free(&g[i]);
	}
}

/* The bomb's gzip trailer says 200 MiB: refused before any inflating. */
static void t_gzip_bomb(void)
{
	struct get g;
	get_init(&g, http_url("/gzip-bomb?mb=200"));
	g.req.gzip = 1;
	g.req.max_body = 8u << 20;
	run_gets(&g, 1);
	show("gzip bomb", &g);
	CHECK(!g.r.ok);
	CHECK(strcmp(g.r.error, "body larger than 8388608 bytes") == 0);
	CHECK(g.len == 0);
	CHECK(g.r.wire_bytes < (1u << 20));
	CHECK(g.r.total_s < 5);
	get_free(&g);
}

static void t_big(void)
{
	struct get g[3];
	get_init(&g[0], http_url("/big?bytes=2000000"));
	get_init(&g[1], http_url("/big?bytes=2000000&chunked=1"));
	get_init(&g[2], http_url("/big?bytes=1000000&chunked=1"));
	for (int i = 0; i < 3; i++)
		g[i].req.max_body = 1000000;
	run_gets(g, 3);
	for (int i = 0; i < 3; i++)
		show("big", &g[i]);
	/* Content-Length says too much: refused before the body. */
	CHECK(!g[0].r.ok && strcmp(g[0].r.error, "body larger than 1000000 bytes") == 0);
	CHECK(g[0].len == 0);
	/* Chunked: cut in the write callback, at the limit exactly. */
	CHECK(!g[1].r.ok && strcmp(g[1].r.error, "body larger than 1000000 bytes") == 0);
	CHECK(g[1].len == 1000000 && g[1].r.body_bytes == 1000000);
	/* Exactly at the limit is fine. */
	CHECK(g[2].r.ok && g[2].len == 1000000);
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);
}

/* A fast body is taken in slices, one loop iteration at a time, not in one
 * call into curl (libcurl 7.88 reads a socket while it has data: the whole
 * 8 MB here, had on_data not paused it), and arrives whole and in order. */
static void t_big_turns(void)
{
	struct run r;
	run_init(&r);
	uv_check_t chk;
	CHECK(uv_check_init(&r.loop, &chk) == 0);
	CHECK(uv_check_start(&chk, on_check) == 0);
	uv_unref((uv_handle_t *)&chk);
	struct get g[4];
	get_init(&g[0], http_url("/big?bytes=8000000"));
	get_init(&g[1], http_url("/big?bytes=8000000&chunked=1"));
	get_init(&g[2], http_url("/metrics"));
	/* gzip: decompressed whole at the end, then handed over 1 MiB a turn. */
	get_init(&g[3], http_url("/big?bytes=8000000&gzip=1"));
	g[3].req.gzip = 1;
	g[0].slow_data = g[1].slow_data = g[3].slow_data = 1;
	for (int i = 0; i < 4; i++)
		CHECK(start(&r, &g[i]) == 0);
	CHECK(uv_run(&r.loop, UV_RUN_DEFAULT) == 0);
	CHECK(r.closed == 1);
	uv_close((uv_handle_t *)&chk, NULL);
	CHECK(uv_run(&r.loop, UV_RUN_DEFAULT) == 0);
	CHECK(uv_loop_close(&r.loop) == 0);
	static const char line[] = "big_metric_total{label=\"value\"} 12345\n";
	size_t ll = sizeof line - 1, n = 8000000;
	char *want = malloc(n);
	CHECK(want != NULL);
	if (!want)
		return;
	for (size_t i = 0; i < n; i++)
		want[i] = line[i % ll];
	for (int i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		show("big turns", &g[i]);
		printf("# big turns: at most %zu bytes in one loop iteration\n", g[i].max_turn_bytes);
		CHECK(g[i].done_calls == 1 && g[i].r.ok);
		CHECK(body_is(&g[i], want, n));
		/* 1 MiB per call into curl, a call or two per iteration. */
		CHECK(g[i].max_turn_bytes <= 3u << 20);
	}
	CHECK(g[3].r.wire_bytes < n / 4); /* it did come gzipped */
	CHECK(g[2].r.ok && body_is(&g[2], g_payload, g_payload_len));
	for (int i = 0; i < 4; i++)
		get_free(&g[i]);
	free(want);
}

static void t_garbage(void)
{
	struct get g;
	get_init(&g, http_url("/garbage?bytes=100000&seed=7"));
	run_gets(&g, 1);
	CHECK(g.r.ok);
	CHECK(g.len == 100000);
	uint32_t x = 7;
	int same = g.len == 100000;
	for (size_t i = 0; same && i < g.len; i++) {
		x = x * 1103515245u + 12345u;
		same = (unsigned char)g.body[i] == ((x >> 16) & 0xff);
	}
	CHECK(same);
	CHECK(starts(g.ctype, "application/octet-stream"));
	get_free(&g);
}

static void t_reset(void)
{
	struct get g;
	get_init(&g, http_url("/reset"));
	run_gets(&g, 1);
	show("reset", &g);
	CHECK(!g.r.ok);
	CHECK(g.r.curl_code == 56);
	CHECK(strstr(g.r.error, "Connection reset by peer") != NULL);
	CHECK(g.r.status == 200 && g.len == 1000);
	CHECK(g.r.total_s < 2);
	get_free(&g);
}

static void t_refused(void)
{
	struct get g;
	get_init(&g, fmt("http://127.0.0.1:%s/metrics", env("PF_CLOSED_PORT")));
	run_gets(&g, 1);
	show("refused", &g);
	CHECK(!g.r.ok);
	CHECK(g.r.status == 0);
	CHECK(starts(g.r.error, "connection refused"));
	CHECK(g.r.total_s < 0.5);
	get_free(&g);
}

static void t_basic_auth(void)
{
	struct get g[3];
	get_init(&g[0], http_url("/auth-basic"));
	g[0].req.username = "user";
	g[0].req.password = "pass";
	get_init(&g[1], http_url("/auth-basic"));
	get_init(&g[2], http_url("/auth-basic"));
	g[2].req.username = "user";
	g[2].req.password = "wrong";
	run_gets(g, 3);
	show("basic wrong", &g[2]);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	CHECK(!g[1].r.ok && g[1].r.status == 401);
	CHECK(strcmp(g[1].r.error, "HTTP 401 Unauthorized") == 0);
	CHECK(!g[2].r.ok && g[2].r.status == 401);
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);
}

static void t_bearer(void)
{
	struct get g[3];
	get_init(&g[0], http_url("/auth-bearer"));
	g[0].req.bearer = "secret-token";
	get_init(&g[1], http_url("/auth-bearer"));
	get_init(&g[2], http_url("/auth-bearer"));
	g[2].req.bearer = "other";
	run_gets(g, 3);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	CHECK(!g[1].r.ok && g[1].r.status == 401);
	CHECK(!g[2].r.ok && g[2].r.status == 401);
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);
}

static void t_headers(void)
{
	static const char *const hdrs[] = { "X-Test: hello world", "X-Other: 2" };
	struct get g;
	get_init(&g, http_url("/headers"));
	g.req.accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4";
	g.req.headers = hdrs;
	g.req.nheaders = 2;
	run_gets(&g, 1);
	CHECK(g.r.ok);
	CHECK(body_has(&g, "name=\"x-test\",value=\"hello world\""));
	CHECK(body_has(&g, "name=\"x-other\",value=\"2\""));
	CHECK(body_has(&g, "name=\"accept\",value=\"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4\""));
	CHECK(body_has(&g, "name=\"user-agent\",value=\"promflux/" PF_VERSION "\""));
	/* gzip off: no Accept-Encoding at all. */
	CHECK(!body_has(&g, "name=\"accept-encoding\""));
	if (g_fail)
		printf("# body: %.*s\n", (int)g.len, g.body);
	get_free(&g);
}

/*
 * Shapes (pf_http_req.shape): a request set up on the spare handle of its
 * shape sets only the URL, the share, the pointers and the secrets; one of
 * another shape in between gets a reset handle with its own headers and
 * nothing of the other's. One after the other, so that each finds the
 * previous one's handle: g1 and g4 find their shape's, g2 and g3 do not.
 */
static void t_shapes(void)
{
	static const char *const ha[] = { "X-Shape: a" };
	static const char *const hb[] = { "X-Shape: b" };
	struct run r;
	struct get g[5];
	run_init(&r);
	uint64_t sa = pf_http_shape(r.h), sb = pf_http_shape(r.h);
	CHECK(sa != 0 && sb != 0 && sa != sb);
	const char *url[5] = { "/metrics", "/headers", "/headers", "/auth-bearer", "/auth-bearer" };
	const char *tok[5] = { "first", "second", NULL, "secret-token", "wrong" };
	for (int i = 0; i < 5; i++) {
		get_init(&g[i], http_url(url[i]));
		g[i].req.shape = i == 2 ? sb : sa;
		g[i].req.headers = i == 2 ? hb : ha;
		g[i].req.nheaders = 1;
		g[i].req.bearer = tok[i];
		g[i].req.accept = i == 2 ? "text/plain" : "application/openmetrics-text";
		if (i > 0)
			g[i - 1].then = &g[i];
	}
	CHECK(start(&r, &g[0]) == 0);
	run_finish(&r);
	for (int i = 0; i < 5; i++)
		CHECK(g[i].done_calls == 1);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	/* The same handle, a new URL and token, its shape's headers. */
	CHECK(g[1].r.ok);
	CHECK(body_has(&g[1], "name=\"x-shape\",value=\"a\""));
	CHECK(body_has(&g[1], "name=\"authorization\",value=\"Bearer second\""));
	CHECK(body_has(&g[1], "name=\"accept\",value=\"application/openmetrics-text\""));
	/* Another shape: nothing of a's (no token, no header, its accept). */
	CHECK(g[2].r.ok);
	CHECK(body_has(&g[2], "name=\"x-shape\",value=\"b\""));
	CHECK(!body_has(&g[2], "name=\"x-shape\",value=\"a\""));
	CHECK(!body_has(&g[2], "name=\"authorization\""));
	CHECK(body_has(&g[2], "name=\"accept\",value=\"text/plain\""));
	CHECK(body_has(&g[2], "name=\"user-agent\",value=\"promflux/" PF_VERSION "\""));
	/* The token is set again each time, not kept. */
	CHECK(g[3].r.ok && body_is(&g[3], g_payload, g_payload_len));
	CHECK(!g[4].r.ok && g[4].r.status == 401);
	/* Set up again: g1 and g4 (counted when each started). */
	CHECK(g[0].again == 0 && g[1].again == 1 && g[2].again == 1 && g[3].again == 1 && g[4].again == 2);
	if (g_fail) {
		for (int i = 0; i < 5; i++)
			printf("# again at %d: %llu\n", i, (unsigned long long)g[i].again);
		for (int i = 1; i < 3; i++)
			printf("# body %d: %.*s\n", i, (int)g[i].len, g[i].body);
	}
	for (int i = 0; i < 5; i++)
		get_free(&g[i]);
}

static void t_proxy(void)
{
	/* The fault server answers absolute-form requests too, so it serves
	 * as a forward proxy; a host that cannot resolve proves the request
	 * went through it. A proxy in the environment is ignored. */
	setenv("http_proxy", fmt("http://127.0.0.1:%s", env("PF_CLOSED_PORT")), 1);
	struct get g[2];
	get_init(&g[0], "http://promflux-test.invalid/metrics");
	g[0].req.proxy = fmt("http://127.0.0.1:%s", env("PF_HTTP_PORT"));
	get_init(&g[1], http_url("/metrics"));
	run_gets(g, 2);
	unsetenv("http_proxy");
	show("proxy", &g[0]);
	show("env proxy ignored", &g[1]);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	CHECK(g[1].r.ok && body_is(&g[1], g_payload, g_payload_len));
	get_free(&g[0]);
	get_free(&g[1]);
}

static void t_tls(void)
{
	const char *port = env("PF_HTTPS_PORT");
	struct get g[6];
	get_init(&g[0], fmt("https://127.0.0.1:%s/metrics", port));
	g[0].req.tls_ca = cert("ca.pem");
	get_init(&g[1], fmt("https://127.0.0.1:%s/metrics", port));
	get_init(&g[2], fmt("https://127.0.0.1:%s/metrics", port));
	g[2].req.tls_insecure = 1;
	/* server_name: SNI and verification use it, Host stays the URL's. */
	get_init(&g[3], fmt("https://127.0.0.1:%s/headers", port));
	g[3].req.tls_ca = cert("ca.pem");
	g[3].req.tls_server_name = "localhost";
	get_init(&g[4], fmt("https://127.0.0.1:%s/metrics", port));
	g[4].req.tls_ca = cert("ca.pem");
	g[4].req.tls_server_name = "wrong.invalid";
	get_init(&g[5], fmt("https://localhost:%s/metrics", port));
	g[5].req.tls_ca = cert("ca.pem");
	g[5].req.gzip = 1;
	run_gets(g, 6);
	for (int i = 0; i < 6; i++)
		show("tls", &g[i]);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	CHECK(!g[1].r.ok && starts(g[1].r.error, "TLS: certificate verify failed: "));
	CHECK(g[1].len == 0);
	CHECK(g[2].r.ok && body_is(&g[2], g_payload, g_payload_len));
	CHECK(g[3].r.ok);
	CHECK(body_has(&g[3], "request_sni{value=\"localhost\"}"));
	CHECK(body_has(&g[3], fmt("name=\"host\",value=\"127.0.0.1:%s\"", port)));
	CHECK(!g[4].r.ok && starts(g[4].r.error, "TLS: "));
	CHECK(g[5].r.ok && body_is(&g[5], g_payload, g_payload_len));
	if (!g[3].r.ok || g_fail)
		printf("# body: %.*s\n", (int)g[3].len, g[3].body ? g[3].body : "");
	for (int i = 0; i < 6; i++)
		get_free(&g[i]);
}

static void t_mtls(void)
{
	const char *url = fmt("https://127.0.0.1:%s/metrics", env("PF_MTLS_PORT"));
	struct get g[2];
	get_init(&g[0], url);
	g[0].req.tls_ca = cert("ca.pem");
	g[0].req.tls_cert = cert("client.pem");
	g[0].req.tls_key = cert("client.key");
	get_init(&g[1], url);
	g[1].req.tls_ca = cert("ca.pem");
	run_gets(g, 2);
	show("mtls with cert", &g[0]);
	show("mtls without cert", &g[1]);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	/* The server's "certificate required" alert comes after the TLS 1.3
	 * handshake, followed by a close: curl reports the alert, or (when it
	 * is slow, as under valgrind) the close; a reset that overtakes the
	 * alert is accepted too. */
	CHECK(!g[1].r.ok);
	CHECK((starts(g[1].r.error, "TLS: ") && strstr(g[1].r.error, "certificate required")) ||
	      strstr(g[1].r.error, "Connection reset by peer"));
	CHECK(g[1].len == 0);
	get_free(&g[0]);
	get_free(&g[1]);
}

static void t_unix(void)
{
	const char *sock = env("PF_UNIX_SOCK");
	struct get g[3];
	get_init(&g[0], fmt("unix://%s?path=/metrics", sock));
	get_init(&g[1], fmt("unix://%s", sock));
	get_init(&g[2], fmt("unix://%s?path=/status?code=503", sock));
	run_gets(g, 3);
	CHECK(g[0].r.ok && body_is(&g[0], g_payload, g_payload_len));
	CHECK(g[1].r.ok && body_is(&g[1], g_payload, g_payload_len));
	CHECK(!g[2].r.ok && g[2].r.status == 503);
	for (int i = 0; i < 3; i++)
		get_free(&g[i]);

	/* Malformed targets fail at once, without a callback. */
	struct run r;
	run_init(&r);
	struct get b;
	const char *bad[] = { "unix://relative.sock", "unix://", "unix:///x.sock?nopath",
		"ftp://127.0.0.1/", "unix:///x.sock?path=metrics" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		get_init(&b, bad[i]);
		CHECK(start(&r, &b) == -EINVAL);
	}
	run_finish(&r);
	CHECK(b.done_calls == 0);
}

static void t_concurrent(void)
{
	enum { N = 200 };
	static struct get g[N];
	for (int i = 0; i < N; i++)
		get_init(&g[i], http_url(i % 2 ? "/metrics" : "/gzip"));
	for (int i = 0; i < N; i += 2)
		g[i].req.gzip = 1;
	run_gets(g, N);
	int ok = 0;
	for (int i = 0; i < N; i++) {
		if (g[i].r.ok && body_is(&g[i], g_payload, g_payload_len))
			ok++;
		else if (ok + 5 > i)
			show("concurrent failure", &g[i]);
		get_free(&g[i]);
	}
	printf("# %d of %d concurrent GETs ok\n", ok, N);
	CHECK(ok == N);
}

static void cancel_timer(uv_timer_t *t)
{
	pf_http_cancel(((struct get *)t->data)->xfer);
	uv_close((uv_handle_t *)t, NULL);
}

static void t_cancel(void)
{
	struct run r;
	run_init(&r);
	struct get g[7];
	/* Cancelled from a timer while waiting for the headers. */
	get_init(&g[0], http_url("/slow-headers?ms=3000"));
	/* Cancelled right after pf_http_get, before the loop ran. */
	get_init(&g[1], http_url("/metrics"));
	/* Cancelled by itself from inside on_data (inside curl). */
	get_init(&g[2], http_url("/big?bytes=5000000&chunked=1"));
	g[2].cancel_on_data = 1;
	/* on_data asks to stop. */
	get_init(&g[3], http_url("/big?bytes=5000000"));
	g[3].abort_on_data = 1;
	/* Not cancelled: unaffected by the others. */
	get_init(&g[4], http_url("/metrics"));
	/* A gzip body being handed over 1 MiB a turn (curl is done with it):
	 * cancelled by itself from on_data, and aborted by on_data. */
	get_init(&g[5], http_url("/big?bytes=5000000&gzip=1"));
	g[5].req.gzip = 1;
	g[5].cancel_on_data = 1;
	get_init(&g[6], http_url("/big?bytes=5000000&gzip=1"));
	g[6].req.gzip = 1;
	g[6].abort_on_data = 1;
	for (int i = 0; i < 7; i++)
		CHECK(start(&r, &g[i]) == 0);
	pf_http_cancel(g[1].xfer);
	uv_timer_t t;
	CHECK(uv_timer_init(&r.loop, &t) == 0);
	t.data = &g[0];
	CHECK(uv_timer_start(&t, cancel_timer, 100, 0) == 0);
	run_finish(&r);
	for (int i = 0; i < 7; i++) {
		show("cancel", &g[i]);
		CHECK(g[i].done_calls == 1);
	}
	CHECK(g[0].r.cancelled && !g[0].r.ok && strcmp(g[0].r.error, "cancelled") == 0);
	CHECK(g[0].r.total_s < 1.0);
	CHECK(g[1].r.cancelled && !g[1].r.ok && g[1].len == 0);
	CHECK(g[2].r.cancelled && !g[2].r.ok && strcmp(g[2].r.error, "cancelled") == 0);
	CHECK(g[2].len > 0 && g[2].len < 5000000);
	CHECK(g[3].r.cancelled && !g[3].r.ok && strcmp(g[3].r.error, "aborted by the receiver") == 0);
	CHECK(g[4].r.ok && !g[4].r.cancelled && body_is(&g[4], g_payload, g_payload_len));
	/* One 1 MiB slice, then the cancel (or the abort) ends it. */
	CHECK(g[5].r.cancelled && !g[5].r.ok && strcmp(g[5].r.error, "cancelled") == 0);
	CHECK(g[5].len == 1u << 20);
	CHECK(g[6].r.cancelled && !g[6].r.ok && strcmp(g[6].r.error, "aborted by the receiver") == 0);
	CHECK(g[6].len == 1u << 20);
	for (int i = 0; i < 7; i++)
		get_free(&g[i]);
}

static void close_timer(uv_timer_t *t)
{
	run_close(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

static void t_close_in_flight(void)
{
	enum { N = 20 };
	struct run r;
	run_init(&r);
	static struct get g[N];
	for (int i = 0; i < N; i++) {
		get_init(&g[i], http_url(i % 2 ? "/slow-headers?ms=3000" : "/slow-body?ms=3000"));
		CHECK(start(&r, &g[i]) == 0);
	}
	uv_timer_t t;
	CHECK(uv_timer_init(&r.loop, &t) == 0);
	t.data = &r;
	CHECK(uv_timer_start(&t, close_timer, 200, 0) == 0);
	uint64_t t0 = uv_hrtime();
	run_finish(&r);
	double secs = (double)(uv_hrtime() - t0) / 1e9;
	printf("# close with %d in flight took %.3f s\n", N, secs);
	CHECK(secs < 1.5);
	for (int i = 0; i < N; i++) {
		CHECK(g[i].done_calls == 1);
		CHECK(g[i].r.cancelled && !g[i].r.ok);
		CHECK(strcmp(g[i].r.error, "cancelled: client closing") == 0);
		get_free(&g[i]);
	}

	/* Closed from inside on_data, i.e. from inside curl; and from the
	 * hand-over of a gzip body, outside curl. */
	for (int gz = 0; gz < 2; gz++) {
		run_init(&r);
		struct get a[2];
		get_init(&a[0], http_url(gz ? "/big?bytes=5000000&gzip=1" : "/big?bytes=5000000&chunked=1"));
		a[0].req.gzip = gz;
		a[0].close_on_data = 1;
		get_init(&a[1], http_url("/slow-headers?ms=3000"));
		CHECK(start(&r, &a[0]) == 0);
		CHECK(start(&r, &a[1]) == 0);
		run_finish(&r);
		CHECK(a[0].done_calls == 1 && a[0].r.cancelled);
		CHECK(a[1].done_calls == 1 && a[1].r.cancelled);
		get_free(&a[0]);
		get_free(&a[1]);
	}
	struct get a[2];

	/* Closed with nothing ever started, and a GET after close refused. */
	run_init(&r);
	run_close(&r);
	get_init(&a[0], http_url("/metrics"));
	CHECK(start(&r, &a[0]) == -ECANCELED);
	run_finish(&r);
	CHECK(a[0].done_calls == 0);
}

static void t_version(void)
{
	const char *v = pf_http_version();
	printf("# %s\n", v);
	CHECK(starts(v, "libcurl "));
	CHECK(strstr(v, "zlib") != NULL);
	CHECK(strstr(v, "libuv") != NULL);
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "payload", t_payload },
	{ "openmetrics content type", t_openmetrics },
	{ "empty 200 body still calls on_header", t_empty_body },
	{ "connection reuse", t_reuse },
	{ "connection caches (pool)", t_pools },
	{ "pooled connection closed by the server", t_pooled_close },
	{ "slow headers time out", t_slow_headers },
	{ "slow body times out", t_slow_body },
	{ "500 is an error with its status", t_status_500 },
	{ "redirects: followed, limited, http(s) only", t_redirect },
	{ "fd reused while its poll handle closes", t_fd_reuse },
	{ "gzip decompressed", t_gzip },
	{ "gzip members, corrupt, truncated, other encodings", t_gzip_forms },
	{ "gzip bomb cut at max_body", t_gzip_bomb },
	{ "big bodies cut at max_body", t_big },
	{ "a fast big body is taken 1 MiB a turn, whole", t_big_turns },
	{ "garbage delivered as bytes", t_garbage },
	{ "connection reset", t_reset },
	{ "connection refused", t_refused },
	{ "basic auth", t_basic_auth },
	{ "bearer auth", t_bearer },
	{ "accept, custom headers, user agent", t_headers },
	{ "shapes: a spare handle keeps its shape's options", t_shapes },
	{ "proxy configured; environment ignored", t_proxy },
	{ "TLS: CA, verify failure, insecure, server name", t_tls },
	{ "TLS client certificate", t_mtls },
	{ "unix socket targets", t_unix },
	{ "200 concurrent GETs", t_concurrent },
	{ "cancel", t_cancel },
	{ "close with transfers in flight", t_close_in_flight },
	{ "version line", t_version },
};

int main(int argc, char **argv)
{
	size_t n = sizeof tests / sizeof *tests;
	int failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	load_payload();
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1])) {
			printf("ok %zu - %s # SKIP not selected\n", i + 1, tests[i].name);
			continue;
		}
		g_fail = 0;
		uint64_t t0 = uv_hrtime();
		tests[i].fn();
		printf("%sok %zu - %s (%.2f s)\n", g_fail ? "not " : "", i + 1, tests[i].name,
			(double)(uv_hrtime() - t0) / 1e9);
		failed += g_fail != 0;
	}
	return failed ? 1 : 0;
}
