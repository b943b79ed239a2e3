/*
 * httpd_server.c: a pf_httpd on a libuv loop for test_httpd.py to talk to.
 *
 *   httpd_server LISTEN TIMEOUT_MS MAX_CONNS   serve until SIGTERM (or GET
 *                                              /close), then close the
 *                                              server with connections
 *                                              open and exit 0 only when
 *                                              uv_loop_close() == 0
 *   httpd_server --try LISTEN                  start and close at once:
 *                                              prints "port N" or "error
 *                                              MSG" (exit 0 or 2)
 *
 * Routes: /metrics (promtext body: the server's own counters and a
 * histogram of body sizes), /healthz ("ok"), /ready (503), /big?n=BYTES,
 * /stats (pf_httpd_stats as "name value" lines), /fail (handler returns
 * -ENOMEM: 500), /badct (a content type with CR LF: 500), /close (the
 * handler closes the server), anything else 404.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "httpd.h"
#include "promtext.h"

static uv_loop_t loop;
static uv_signal_t sig;
static pf_httpd *srv;
static pf_hist sizes;
static int done_calls;

static void on_done(void *ud)
{
	(void)ud;
	done_calls++;
	uv_close((uv_handle_t *)&sig, NULL);
}

static int render_metrics(pf_buf *body)
{
	pf_httpd_stats st;
	pf_prom_label l[] = { { "listener", "test" } };
	int rc = 0;

	pf_httpd_get_stats(srv, &st);
	rc |= pf_prom_family(body, "httpd_requests_total", PF_PROM_COUNTER, "Responses sent.");
	rc |= pf_prom_sample_u64(body, "httpd_requests_total", NULL, l, 1, st.requests);
	rc |= pf_prom_family(body, "httpd_open_connections", PF_PROM_GAUGE, NULL);
	rc |= pf_prom_sample_u64(body, "httpd_open_connections", NULL, l, 1, st.open);
	rc |= pf_prom_family(body, "httpd_body_bytes", PF_PROM_HISTOGRAM, "Body sizes.");
	rc |= pf_prom_hist(body, "httpd_body_bytes", NULL, l, 1, &sizes);
	return rc ? -EIO : 0;
}

static int handler(void *ud, const pf_httpd_req *req, pf_buf *body, const char **ct)
{
	(void)ud;
	if (strcmp(req->path, "/metrics") == 0) {
		if (render_metrics(body) < 0)
			return -EIO;
		pf_hist_observe(&sizes, (double)body->len);
		*ct = PF_PROM_CONTENT_TYPE;
		return 200;
	}
	if (strcmp(req->path, "/healthz") == 0)
		return pf_buf_puts(body, "ok\n") < 0 ? -ENOMEM : 200;
	if (strcmp(req->path, "/ready") == 0)
		return pf_buf_puts(body, "not ready\n") < 0 ? -ENOMEM : 503;
	if (strcmp(req->path, "/big") == 0) {
		size_t n = strncmp(req->query, "n=", 2) == 0 ? strtoul(req->query + 2, NULL, 10) : 0;
		char *d = pf_buf_reserve(body, n);
		if (d == NULL)
			return -E2BIG;
		for (size_t i = 0; i < n; i++)
			d[i] = (char)('a' + i % 26);
		pf_buf_commit(body, n);
		return 200;
	}
	if (strcmp(req->path, "/stats") == 0) {
		pf_httpd_stats st;
		char line[256];
		pf_httpd_get_stats(srv, &st);
		snprintf(line, sizeof line,
			 "connections %llu\nrefused %llu\nrequests %llu\nbad_requests %llu\n"
			 "timeouts %llu\nopen %u\n",
			 (unsigned long long)st.connections, (unsigned long long)st.refused,
			 (unsigned long long)st.requests, (unsigned long long)st.bad_requests,
			 (unsigned long long)st.timeouts, st.open);
		return pf_buf_puts(body, line) < 0 ? -ENOMEM : 200;
	}
	if (strcmp(req->path, "/fail") == 0) {
		pf_buf_puts(body, "half a body");
		return -ENOMEM;
	}
	if (strcmp(req->path, "/badct") == 0) {
		*ct = "text/plain\r\nX-Injected: 1";
		return 200;
	}
	if (strcmp(req->path, "/close") == 0) {
		pf_httpd_close(srv, on_done, NULL);
		return 200;
	}
	return pf_buf_puts(body, "not found\n") < 0 ? -ENOMEM : 404;
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	pf_httpd_close(srv, on_done, NULL);
}

static void show_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	printf("left open: %s%s\n", uv_handle_type_name(uv_handle_get_type(h)),
	       uv_is_closing(h) ? " (closing)" : "");
}

static int finish(void)
{
	int rc = uv_loop_close(&loop);
	if (rc != 0) {
		printf("uv_loop_close: %s\n", uv_strerror(rc));
		uv_walk(&loop, show_handle, NULL);
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char err[256];
	pf_httpd_opts o = { 0 };
	double b[] = { 100, 1000, 10000 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	uv_loop_init(&loop);
	if (argc == 3 && strcmp(argv[1], "--try") == 0) {
		srv = pf_httpd_new(&loop, argv[2], NULL, handler, NULL, err, sizeof err);
		if (srv == NULL) {
			printf("error %s\n", err);
			uv_run(&loop, UV_RUN_DEFAULT);
			return finish() ? 3 : 2;
		}
		printf("port %d\n", pf_httpd_port(srv));
		pf_httpd_close(srv, on_done, NULL);
		uv_signal_init(&loop, &sig); /* on_done closes it */
		uv_run(&loop, UV_RUN_DEFAULT);
		return done_calls == 1 ? finish() : 4;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: httpd_server LISTEN TIMEOUT_MS MAX_CONNS | --try LISTEN\n");
		return 2;
	}
	o.timeout_ms = (unsigned)strtoul(argv[2], NULL, 10);
	o.max_conns = (unsigned)strtoul(argv[3], NULL, 10);
	pf_hist_init(&sizes, b, 3);
	srv = pf_httpd_new(&loop, argv[1], &o, handler, NULL, err, sizeof err);
	if (srv == NULL) {
		printf("error %s\n", err);
		return 2;
	}
	uv_signal_init(&loop, &sig);
	uv_signal_start(&sig, on_signal, SIGTERM);
	printf("port %d\n", pf_httpd_port(srv));
	uv_run(&loop, UV_RUN_DEFAULT);
	printf("closed done=%d\n", done_calls);
	if (done_calls != 1)
		return 4;
	return finish();
}
