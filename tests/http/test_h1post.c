/*
 * test_h1post.c: h1post (an output's POST without libcurl) against
 * tests/http/h1server.py, one behaviour per test, TAP output.
 *
 * run_h1_test.py starts the server and passes PF_H1_PORT and
 * PF_CLOSED_PORT (nothing listens there), and, where it can give the test
 * its own /etc/hosts (root, unshare -m), PF_MULTI_HOST: a name with a dead
 * address first and the server's second. Every test runs its own loop
 * and ends with uv_loop_close() == 0, so a handle left open is a failure.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "h1post.h"
#include "http.h"

static int g_fail;
static const char *g_skip; /* why the test did not run, or NULL */
static int g_in_post; /* inside pf_h1_post: on_done must not run */

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
		printf("Bail out! %s not set (run through run_h1_test.py)\n", k);
		exit(1);
	}
	return v;
}

static char *url(const char *path)
{
	static char bufs[4][256];
	static int i;
	char *b = bufs[i++ % 4];
	snprintf(b, 256, "http://127.0.0.1:%s%s", env("PF_H1_PORT"), path);
	return b;
}

/* One request's outcome. */
typedef struct got {
	int done, header_calls;
	long header_status;
	char ctype[64];
	pf_http_result r;
	char err_body[PF_HTTP_ERR_BODY + 1];
	char body[1 << 16];
	size_t body_len;
} got;

static int on_header(void *ud, long status, const char *ct)
{
	got *g = ud;
	g->header_calls++;
	g->header_status = status;
	snprintf(g->ctype, sizeof g->ctype, "%s", ct ? ct : "");
	return 0;
}

static int on_data(void *ud, const char *p, size_t n)
{
	got *g = ud;
	if (g->body_len + n <= sizeof g->body) {
		memcpy(g->body + g->body_len, p, n);
		g->body_len += n;
	}
	return 0;
}

static void on_done(void *ud, const pf_http_result *r)
{
	got *g = ud;
	CHECK(!g_in_post);
	CHECK(!g->done);
	g->done++;
	g->r = *r;
	if (r->err_body) {
		memcpy(g->err_body, r->err_body, r->err_body_len);
		g->err_body[r->err_body_len] = '\0';
	}
}

static pf_http_req base(const char *u, got *g)
{
	pf_http_req q;
	memset(&q, 0, sizeof q);
	q.url = u;
	q.post = 1;
	q.body = "m v=1\n";
	q.body_len = 6;
	q.timeout_ms = 5000;
	q.ud = g;
	q.on_header = on_header;
	q.on_data = on_data;
	q.on_done = on_done;
	return q;
}

static void start(pf_h1 *c, const pf_http_req *q)
{
	g_in_post = 1;
	int rc = pf_h1_post(c, q);
	g_in_post = 0;
	CHECK(rc == 0);
}

static void run_until(uv_loop_t *loop, const int *flag)
{
	while (!*flag)
		uv_run(loop, UV_RUN_ONCE);
}

/* A loop and a client; end() closes both and checks nothing is left. */
typedef struct fix {
	uv_loop_t loop;
	pf_h1 *c;
	pf_http *http; /* for redirects */
	int closed, http_closed;
	int close_first; /* the fallback closes http before it asks it */
} fix;

static void closed_cb(void *ud);

static int fallback(void *arg, const pf_http_req *q)
{
	fix *f = arg;
	if (f->close_first)
		pf_http_close(f->http, closed_cb, &f->http_closed);
	return pf_http_get(f->http, q, NULL);
}

static void closed_cb(void *ud)
{
	*(int *)ud = 1;
}

static void begin(fix *f)
{
	memset(f, 0, sizeof *f);
	uv_loop_init(&f->loop);
	f->http = pf_http_new(&f->loop);
	f->c = pf_h1_new(&f->loop, fallback, f);
	CHECK(f->c != NULL && f->http != NULL);
}

static void end(fix *f)
{
	pf_h1_close(f->c, closed_cb, &f->closed);
	pf_http_close(f->http, closed_cb, &f->http_closed);
	run_until(&f->loop, &f->closed);
	run_until(&f->loop, &f->http_closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&f->loop) == 0);
}

/* One request, run to its end. */
static void one(fix *f, const pf_http_req *q)
{
	got *g = q->ud;
	start(f->c, q);
	run_until(&f->loop, &g->done);
}

/* ---- tests ---- */

static void t_takes(void)
{
	pf_http_req q;
	got g;
	q = base("http://127.0.0.1:1/write", &g);
	CHECK(pf_h1_takes(&q));
	q = base("HTTP://example.org/write", &g);
	CHECK(pf_h1_takes(&q));
	q = base("https://127.0.0.1:1/write", &g);
	CHECK(!pf_h1_takes(&q));
	q = base("unix:///run/x.sock", &g);
	CHECK(!pf_h1_takes(&q));
	q = base("http://u:p@127.0.0.1:1/write", &g);
	CHECK(!pf_h1_takes(&q));
	q = base("http://127.0.0.1:1/write", &g);
	q.proxy = "http://proxy:3128";
	CHECK(!pf_h1_takes(&q));
	q = base("http://127.0.0.1:1/write", &g);
	q.post = 0;
	CHECK(!pf_h1_takes(&q));
}

/* The request as sent: head, headers, parts in order. */
static void t_echo(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	pf_http_req q = base(url("/echo?db=x&precision=ns#frag"), &g);
	static const pf_http_part parts[] = { { "cpu,host=a ", 11 }, { "", 0 }, { "v=1 1\n", 6 },
					      { "mem v=2 2\n", 10 } };
	q.parts = parts;
	q.nparts = 4;
	const char *hdrs[] = { "Content-Type: text/plain; charset=utf-8", "Expect:", "X-Empty;" };
	q.headers = hdrs;
	q.nheaders = 3;
	q.username = "user";
	q.password = "pa:ss";
	one(&f, &q);
	CHECK(g.r.ok && g.r.status == 200 && g.r.curl_code == 0 && g.r.error[0] == '\0');
	CHECK(g.header_calls == 1 && g.header_status == 200 && strcmp(g.ctype, "text/plain") == 0);
	g.body[g.body_len < sizeof g.body ? g.body_len : sizeof g.body - 1] = '\0';
	CHECK(strncmp(g.body, "POST /echo?db=x&precision=ns HTTP/1.1\r\n", 39) == 0);
	char host[64];
	snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%s\r\n", env("PF_H1_PORT"));
	CHECK(strstr(g.body, host) != NULL);
	/* base64("user:pa:ss") */
	CHECK(strstr(g.body, "\r\nAuthorization: Basic dXNlcjpwYTpzcw==\r\n") != NULL);
	CHECK(strstr(g.body, "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL);
	CHECK(strstr(g.body, "\r\nX-Empty:\r\n") != NULL);
	CHECK(strstr(g.body, "Expect") == NULL);
	CHECK(strstr(g.body, "\r\nContent-Length: 27\r\n") != NULL);
	CHECK(strstr(g.body, "promflux/") != NULL);
	const char *sep = strstr(g.body, "--\r\n");
	CHECK(sep != NULL && strcmp(sep + 4, "cpu,host=a v=1 1\nmem v=2 2\n") == 0);

	/* A bearer token, and a one-piece body. */
	static got g2;
	memset(&g2, 0, sizeof g2);
	q = base(url("/echo"), &g2);
	q.bearer = "tok3n";
	one(&f, &q);
	g2.body[g2.body_len] = '\0';
	CHECK(g2.r.ok && strstr(g2.body, "\r\nAuthorization: Bearer tok3n\r\n") != NULL);
	sep = strstr(g2.body, "--\r\n");
	CHECK(sep != NULL && strcmp(sep + 4, "m v=1\n") == 0);
	end(&f);
}

/* conn=N req=M from /id's body. */
static void conn_req(const got *g, int *conn, int *req)
{
	char b[64];
	size_t n = g->body_len < sizeof b - 1 ? g->body_len : sizeof b - 1;
	memcpy(b, g->body, n);
	b[n] = '\0';
	*conn = *req = -1;
	CHECK(sscanf(b, "conn=%d req=%d", conn, req) == 2);
}

/* Keep-alive: the second request on the first's connection; after the
 * server closes an idle one, a new one. */
static void t_reuse(void)
{
	fix f;
	begin(&f);
	static got g[3];
	memset(g, 0, sizeof g);
	pf_http_req q = base(url("/id"), &g[0]);
	one(&f, &q);
	q = base(url("/id"), &g[1]);
	one(&f, &q);
	int c0, r0, c1, r1;
	conn_req(&g[0], &c0, &r0);
	conn_req(&g[1], &c1, &r1);
	CHECK(g[0].r.ok && g[1].r.ok);
	CHECK(c0 == c1 && r0 == 1 && r1 == 2);

	/* The server closes the connection 100 ms after its answer. */
	static got gi, gn;
	memset(&gi, 0, sizeof gi);
	memset(&gn, 0, sizeof gn);
	q = base(url("/idleclose"), &gi);
	one(&f, &q);
	int ci, ri;
	conn_req(&gi, &ci, &ri);
	/* Past the close: the idle connection reads its EOF and goes. */
	uv_sleep(300);
	for (int i = 0; i < 3; i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	q = base(url("/id"), &gn);
	one(&f, &q);
	int cn, rn;
	conn_req(&gn, &cn, &rn);
	CHECK(gi.r.ok && gn.r.ok);
	CHECK(ci == c0 && cn != ci && rn == 1);
	end(&f);
}

/* A kept connection the server closes as it is reused: the request goes
 * again, once, on a new one, and succeeds. */
static void t_retry_stale(void)
{
	fix f;
	begin(&f);
	static got g[2];
	memset(g, 0, sizeof g);
	pf_http_req q = base(url("/dropsecond"), &g[0]);
	one(&f, &q);
	q = base(url("/dropsecond"), &g[1]);
	one(&f, &q);
	int c0, r0, c1, r1;
	conn_req(&g[0], &c0, &r0);
	conn_req(&g[1], &c1, &r1);
	CHECK(g[0].r.ok && g[1].r.ok);
	CHECK(c1 != c0 && r1 == 1);
	end(&f);
}

/* A chunked error body (extensions, trailer) kept whole. */
static void t_chunked(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	pf_http_req q = base(url("/chunked"), &g);
	one(&f, &q);
	CHECK(!g.r.ok && g.r.status == 400 && g.r.curl_code == 0);
	CHECK(strcmp(g.r.error, "HTTP 400 Bad Request") == 0);
	CHECK(strcmp(g.err_body, "{\"error\":\"partial write: field type conflict\"}") == 0);
	CHECK(g.header_calls == 0 && g.body_len == 0);
	/* The connection is kept after a chunked answer. */
	static got g2;
	memset(&g2, 0, sizeof g2);
	q = base(url("/id"), &g2);
	one(&f, &q);
	int c, r;
	conn_req(&g2, &c, &r);
	CHECK(g2.r.ok && r == 2);
	end(&f);
}

static void t_statuses(void)
{
	fix f;
	begin(&f);
	static got g[6];
	memset(g, 0, sizeof g);
	pf_http_req q = base(url("/continue"), &g[0]);
	one(&f, &q);
	CHECK(g[0].r.ok && g[0].r.status == 204);

	q = base(url("/close"), &g[1]);
	one(&f, &q);
	CHECK(g[1].r.ok && g[1].r.status == 204);
	q = base(url("/id"), &g[2]);
	one(&f, &q);
	int c, r;
	conn_req(&g[2], &c, &r);
	/* On a new connection at once, not on the one told to close. */
	CHECK(g[2].r.ok && r == 1 && g[2].r.total_s < 0.4);

	q = base(url("/http10"), &g[3]);
	one(&f, &q);
	CHECK(!g[3].r.ok && g[3].r.status == 500 && g[3].r.curl_code == 0);
	CHECK(strcmp(g[3].r.error, "HTTP 500 Internal Server Error") == 0);
	CHECK(strcmp(g[3].err_body, "engine failure") == 0);

	q = base(url("/retry"), &g[4]);
	one(&f, &q);
	CHECK(!g[4].r.ok && g[4].r.status == 429 && strcmp(g[4].r.retry_after, "7") == 0);
	CHECK(strcmp(g[4].err_body, "slow") == 0);

	q = base(url("/nowhere"), &g[5]);
	one(&f, &q);
	CHECK(!g[5].r.ok && g[5].r.status == 404 && strcmp(g[5].r.error, "HTTP 404 Not Found") == 0);
	end(&f);
}

/* An answer before the body is all sent (a 413), 4 MB in parts. */
static void t_early(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	static char chunk[1 << 16];
	memset(chunk, 'x', sizeof chunk);
	static pf_http_part parts[64];
	for (size_t i = 0; i < 64; i++)
		parts[i] = (pf_http_part){ chunk, sizeof chunk };
	pf_http_req q = base(url("/early"), &g);
	q.parts = parts;
	q.nparts = 64;
	one(&f, &q);
	CHECK(!g.r.ok && g.r.status == 413 && g.r.curl_code == 0);
	CHECK(strcmp(g.err_body, "{\"error\":\"request too large\"}") == 0);
	end(&f);
}

static void t_failures(void)
{
	fix f;
	begin(&f);
	static got g[4];
	memset(g, 0, sizeof g);
	pf_http_req q = base(url("/reset"), &g[0]);
	one(&f, &q);
	CHECK(!g[0].r.ok && g[0].r.status == 0 && g[0].r.curl_code == CURLE_RECV_ERROR);
	CHECK(strstr(g[0].r.error, "reset by peer") != NULL);

	q = base(url("/garbage"), &g[1]);
	one(&f, &q);
	CHECK(!g[1].r.ok && g[1].r.curl_code == CURLE_WEIRD_SERVER_REPLY);
	CHECK(strstr(g[1].r.error, "not an HTTP/1.x answer") != NULL);

	q = base(url("/hang"), &g[2]);
	q.timeout_ms = 300;
	one(&f, &q);
	CHECK(!g[2].r.ok && g[2].r.timed_out && g[2].r.curl_code == CURLE_OPERATION_TIMEDOUT);
	CHECK(strcmp(g[2].r.error, "timed out after 300 ms waiting for the response") == 0);
	CHECK(g[2].r.total_s >= 0.29 && g[2].r.total_s < 2);

	char u[128];
	snprintf(u, sizeof u, "http://127.0.0.1:%s/write", env("PF_CLOSED_PORT"));
	q = base(u, &g[3]);
	one(&f, &q);
	CHECK(!g[3].r.ok && g[3].r.curl_code == CURLE_COULDNT_CONNECT);
	CHECK(strstr(g[3].r.error, "Failed to connect to 127.0.0.1:") == g[3].r.error);
	CHECK(strstr(g[3].r.error, "refused") != NULL);
	end(&f);
}

/* A host name, resolved; its addresses tried in order (localhost may be
 * ::1 first, where nothing listens). */
static void t_name(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	char u[128];
	snprintf(u, sizeof u, "http://localhost:%s/id", env("PF_H1_PORT"));
	pf_http_req q = base(u, &g);
	one(&f, &q);
	CHECK(g.r.ok && g.r.status == 200);
	end(&f);
}

/* A name whose first address has nothing listening (::1, or 127.0.0.2:
 * the server listens on 127.0.0.1 only): the connection fails there and
 * the request goes to the next address. The order is the resolver's
 * (RFC 6724 sorting), so the test first checks that it puts the dead
 * address first, with h1post's own hints. */
static void t_multi(void)
{
	const char *host = getenv("PF_MULTI_HOST");
	if (host == NULL || *host == 0) {
		g_skip = "no private /etc/hosts (needs root and unshare -m)";
		return;
	}
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if (getaddrinfo(host, env("PF_H1_PORT"), &hints, &ai) != 0 || ai == NULL) {
		g_skip = "the name does not resolve here";
		return;
	}
	int dead_first = ai->ai_next != NULL &&
			 !(ai->ai_family == AF_INET &&
			   ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	freeaddrinfo(ai);
	if (!dead_first) {
		g_skip = "the resolver puts 127.0.0.1 first or gives one address";
		return;
	}
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	char u[160];
	snprintf(u, sizeof u, "http://%s:%s/id", host, env("PF_H1_PORT"));
	pf_http_req q = base(u, &g);
	one(&f, &q);
	CHECK(g.r.ok && g.r.status == 200);
	if (!g.r.ok)
		printf("# multi: %s\n", g.r.error);
	end(&f);
}

/* A 307 goes to the fallback (libcurl), to the resolved Location, with
 * the body. */
static void t_redirect(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	pf_http_req q = base(url("/redirect"), &g);
	one(&f, &q);
	CHECK(g.r.ok && g.r.status == 200);
	CHECK(g.body_len > 5 && memcmp(g.body, "conn=", 5) == 0);
	end(&f);
}

/* A redirect while the client that would follow it is closing (closed
 * by the fallback itself, just before it asks it: a pf_http closes
 * asynchronously, so it is still there, refusing with -ECANCELED): the
 * request ends cancelled, not as a redirect that failed. */
static void t_redirect_closing(void)
{
	fix f;
	begin(&f);
	f.close_first = 1;
	static got g;
	memset(&g, 0, sizeof g);
	pf_http_req q = base(url("/redirect"), &g);
	one(&f, &q);
	CHECK(!g.r.ok && g.r.cancelled && g.r.curl_code == CURLE_ABORTED_BY_CALLBACK);
	CHECK(strstr(g.r.error, "cancelled") == g.r.error);
	end(&f);
}

/* pf_h1_close with a request in flight: on_done (cancelled), then done. */
static void t_close_inflight(void)
{
	fix f;
	begin(&f);
	static got g;
	memset(&g, 0, sizeof g);
	pf_http_req q = base(url("/hang"), &g);
	start(f.c, &q);
	for (int i = 0; i < 5; i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	CHECK(!g.done);
	pf_h1_close(f.c, closed_cb, &f.closed);
	run_until(&f.loop, &f.closed);
	CHECK(g.done == 1 && g.r.cancelled && !g.r.ok);
	CHECK(strcmp(g.r.error, "cancelled: client closing") == 0);
	pf_http_close(f.http, closed_cb, &f.http_closed);
	run_until(&f.loop, &f.http_closed);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&f.loop) == 0);
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "takes", t_takes },
		{ "echo", t_echo },
		{ "reuse", t_reuse },
		{ "retry-stale", t_retry_stale },
		{ "chunked", t_chunked },
		{ "statuses", t_statuses },
		{ "early-413", t_early },
		{ "failures", t_failures },
		{ "name", t_name },
		{ "multi", t_multi },
		{ "redirect", t_redirect },
		{ "redirect-closing", t_redirect_closing },
		{ "close-inflight", t_close_inflight },
	};
	size_t n = sizeof tests / sizeof tests[0];
	int failed = 0;
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		g_fail = 0;
		g_skip = NULL;
		tests[i].fn();
		if (g_skip)
			printf("ok %zu - %s # SKIP %s\n", i + 1, tests[i].name, g_skip);
		else
			printf("%s %zu - %s\n", g_fail ? "not ok" : "ok", i + 1, tests[i].name);
		fflush(stdout);
		failed += g_fail != 0;
	}
	return failed ? 1 : 0;
}
