/*
 * writer.c: one InfluxDB output on the loop (see writer.h).
 *
 * State, and who changes it:
 *   queue        the batches (queue.h); a request holds its batch until
 *                its answer, then hands it back (done, requeue, split).
 *   inflight     write requests started and not yet answered.
 *   paused       a backoff wait is running (retry_timer); nothing is sent
 *                until it fires, or until a write in flight succeeds.
 *   probing      since the last failure: one request at a time.
 *   creating     v1 CREATE DATABASE in flight; writes wait for it.
 *   stopping     pf_writer_close() was called: flush, then finish.
 * Timers: flush_timer (the open batch's flush_interval), retry_timer (the
 * backoff), stop_timer (the shutdown deadline, and the deferred finish).
 * Nothing is freed before the HTTP client has closed (its callbacks may
 * still run until then) and the three timers are closed.
 */
#include "writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gzip.h"
#include "http.h"
#include "influx.h"
#include "log.h"
#include "queue.h"
#include "retry.h"
#include "secret.h"

/* 2xx bodies of writes and checks are small; anything larger is cut. */
#define MAX_RESPONSE (64u * 1024u)
/* Log bursts per minute: rejected batches, failures, drops. */
#define LOG_WINDOW_MS 60000u

typedef struct req {
	pf_writer *w;
	pf_batch *b;          /* NULL: not a write (check, create) */
	char *gz;             /* the gzip body, owned; NULL: b->data is sent */
	size_t body_len;
	int kind;             /* R_WRITE, R_PING, R_CHECK, R_CREATE */
	char *resp;           /* 2xx body of a check, capped */
	size_t resp_len;
} req;

enum { R_WRITE, R_PING, R_CHECK, R_CREATE };

struct pf_writer {
	uv_loop_t *loop;
	const pf_output *o;
	const char *type_name;
	char kv[300];          /* output=NAME for log lines */
	pf_http *http;
	pf_queue *q;
	pf_gzip *gz;
	pf_influx_urls urls;
	pf_secret password;
	pf_secret token;
	pf_backoff bo;
	uv_timer_t flush_timer, retry_timer, stop_timer;
	int timers_open;
	unsigned inflight;     /* write requests */
	int paused, probing, creating, stopping, finishing;
	int created;  /* a CREATE DATABASE succeeded and no write has since */
	unsigned fail_streak;  /* failed writes since the last success */
	uint64_t shutdown_ms;
	uint64_t dropped_logged; /* buffer-full drops already logged */
	pf_ratelimit rl_reject, rl_fail, rl_drop, rl_secret;
	pf_writer *pred, *succ; /* a reload's chain (pf_writer_adopt) */
	pf_writer_stats st;
	void (*done)(void *ud);
	void *done_ud;
};

static void pump(pf_writer *w);
static void maybe_finish(pf_writer *w);

static uint64_t now_ms(pf_writer *w)
{
	return uv_now(w->loop);
}

/* ---- requests ---- */

/* The parts every request of this output shares: auth, TLS, timeout.
 * hdr receives the Authorization header line for v2 (or stays ""). */
static int base_req(pf_writer *w, pf_http_req *r, char *hdr, size_t hdrcap)
{
	const pf_output *o = w->o;
	memset(r, 0, sizeof *r);
	r->tls_ca = o->tls_ca;
	r->tls_cert = o->tls_cert;
	r->tls_key = o->tls_key;
	r->tls_server_name = o->tls_server_name;
	r->tls_insecure = o->tls_insecure_skip_verify;
	r->timeout_ms = o->timeout_ms;
	/* No limit here: InfluxDB quotes every refused line in a 400, and a
	 * body cut by a limit would turn that 400 into a transfer error, which
	 * is retried, forever. on_data keeps at most MAX_RESPONSE bytes. */
	r->max_body = 0;
	hdr[0] = '\0';
	const char *secret = NULL;
	unsigned sup = 0;
	if (o->type == PF_OUTPUT_INFLUXDB_V1 && o->username) {
		int rc = pf_secret_get(&w->password, &secret);
		if (rc != 0 && pf_ratelimit_ok(&w->rl_secret, now_ms(w), 1, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_ERROR, w->kv, "password_file %s: %s; %s", o->password_file, strerror(-rc),
			       secret ? "using the password read before" : "sending no password");
		r->username = o->username;
		r->password = secret ? secret : "";
	} else if (o->type == PF_OUTPUT_INFLUXDB_V2) {
		int rc = pf_secret_get(&w->token, &secret);
		if (rc != 0 && pf_ratelimit_ok(&w->rl_secret, now_ms(w), 1, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_ERROR, w->kv, "token_file %s: %s; %s", o->token_file, strerror(-rc),
			       secret ? "using the token read before" : "sending no token");
		if (secret && (size_t)snprintf(hdr, hdrcap, "Authorization: Token %s", secret) >= hdrcap)
			return -E2BIG;
	}
	return 0;
}

static void req_free(req *r)
{
	free(r->gz);
	free(r->resp);
	free(r);
}

static int on_data(void *ud, const char *p, size_t n)
{
	req *r = ud;
	if (r->kind != R_CHECK)
		return 0; /* a write's 2xx body says nothing we need */
	if (r->resp_len + n > MAX_RESPONSE)
		n = MAX_RESPONSE - r->resp_len;
	char *b = realloc(r->resp, r->resp_len + n + 1);
	if (!b)
		return 0;
	memcpy(b + r->resp_len, p, n);
	r->resp = b;
	r->resp_len += n;
	b[r->resp_len] = '\0';
	return 0;
}

static void on_done(void *ud, const pf_http_result *res);

/* Starts a request; r is freed on failure. Returns 0 or a negative errno. */
static int start(pf_writer *w, req *r, const char *url, int post, const char *body, size_t len)
{
	char auth[PF_SECRET_MAX + 32];
	pf_http_req hr;
	int rc = base_req(w, &hr, auth, sizeof auth);
	const char *hdrs[4];
	size_t nh = 0;
	if (rc == 0) {
		if (auth[0])
			hdrs[nh++] = auth;
		if (r->kind == R_WRITE) {
			hdrs[nh++] = "Content-Type: text/plain; charset=utf-8";
			if (r->gz)
				hdrs[nh++] = "Content-Encoding: gzip";
		}
		/* No "Expect: 100-continue" round trip before a large body. */
		if (post)
			hdrs[nh++] = "Expect:";
		hr.url = url;
		hr.headers = hdrs;
		hr.nheaders = nh;
		hr.post = post;
		hr.body = body;
		hr.body_len = len;
		hr.ud = r;
		hr.on_data = on_data;
		hr.on_done = on_done;
		rc = pf_http_get(w->http, &hr, NULL);
	}
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	if (r->kind == R_WRITE)
		w->inflight++;
	return 0;
}

static req *req_new(pf_writer *w, int kind)
{
	req *r = calloc(1, sizeof *r);
	if (r) {
		r->w = w;
		r->kind = kind;
	}
	return r;
}

/* ---- failures and backoff ---- */

static void retry_cb(uv_timer_t *t)
{
	pf_writer *w = t->data;
	w->paused = 0;
	pump(w);
}

/* A write failed in a way worth retrying: wait, then probe. ra_ms: the
 * server's Retry-After (0: none). Returns the wait, ms. */
static uint64_t failed(pf_writer *w, uint64_t ra_ms)
{
	w->probing = 1;
	w->fail_streak++;
	if (ra_ms) {
		/* "At least that long": a timer counts from the loop's cached
		 * time, which lags the clock by however long this iteration has
		 * run, and from whole milliseconds; refresh it and round up. */
		uv_update_time(w->loop);
		ra_ms++;
	}
	if (!w->paused) {
		uint64_t d = pf_backoff_next(&w->bo, ra_ms);
		w->paused = 1;
		uv_timer_start(&w->retry_timer, retry_cb, d, 0);
		return d;
	}
	/* Already waiting: a later Retry-After extends the wait. */
	uint64_t due = uv_timer_get_due_in(&w->retry_timer);
	if (ra_ms > due) {
		uv_timer_start(&w->retry_timer, retry_cb, ra_ms, 0);
		return ra_ms;
	}
	return due;
}

static void succeeded(pf_writer *w)
{
	pf_backoff_reset(&w->bo);
	w->probing = 0;
	if (w->paused) { /* the server is back: no need to wait */
		uv_timer_stop(&w->retry_timer);
		w->paused = 0;
	}
	if (w->fail_streak) {
		pf_log(PF_LOG_INFO, w->kv, "writes succeed again after %u failed attempt%s", w->fail_streak,
		       w->fail_streak == 1 ? "" : "s");
		w->fail_streak = 0;
	}
}

static uint64_t retry_after_ms(const pf_http_result *res)
{
	uint64_t ms = 0;
	if (res->retry_after[0] && pf_retry_after_parse(res->retry_after, (int64_t)time(NULL), &ms) < 0)
		ms = 0;
	return ms;
}

/* ---- database creation (v1) ---- */

static void create_db(pf_writer *w)
{
	if (w->creating)
		return;
	req *r = req_new(w, R_CREATE);
	if (!r || start(w, r, w->urls.create, 1, "", 0) != 0) {
		pf_log(PF_LOG_ERROR, w->kv, "cannot start CREATE DATABASE: out of memory");
		failed(w, 0);
		return;
	}
	w->creating = 1;
	pf_log(PF_LOG_INFO, w->kv, "database \"%s\" not found: creating it", w->o->database);
}

static void create_done(pf_writer *w, const pf_http_result *res)
{
	w->creating = 0;
	if (res->cancelled)
		return;
	if (res->ok) {
		w->st.databases_created++;
		w->created = 1;
		pf_log(PF_LOG_INFO, w->kv, "created database \"%s\"", w->o->database);
		return;
	}
	char msg[512];
	pf_influx_message(res->err_body, res->err_body_len, msg, sizeof msg);
	uint64_t d = failed(w, retry_after_ms(res));
	pf_log(PF_LOG_ERROR, w->kv, "CREATE DATABASE \"%s\" failed: %s%s%s; retrying in %llums", w->o->database,
	       res->error, msg[0] ? ": " : "", msg, (unsigned long long)d);
}

/* ---- the start-up check ---- */

static void check_ping_done(pf_writer *w, const pf_http_result *res)
{
	if (res->cancelled)
		return;
	if (!res->ok) {
		pf_log(PF_LOG_WARN, w->kv, "%s at %s is not reachable: %s; writes are kept and retried",
		       w->type_name, w->urls.ping, res->error);
		return;
	}
	/* Reachable: now the credentials (and for v1 the database). */
	req *r = req_new(w, R_CHECK);
	int rc = -ENOMEM;
	if (r && w->o->type == PF_OUTPUT_INFLUXDB_V1)
		rc = start(w, r, w->urls.check, 0, NULL, 0);
	else if (r) /* a write of no lines: auth, org and bucket are checked */
		rc = start(w, r, w->urls.write, 1, "", 0);
	if (rc != 0)
		pf_log(PF_LOG_WARN, w->kv, "start-up check not made: %s", strerror(-rc));
}

static void check_done(pf_writer *w, const req *r, const pf_http_result *res)
{
	const pf_output *o = w->o;
	char msg[512];
	if (res->cancelled)
		return;
	pf_influx_message(res->err_body, res->err_body_len, msg, sizeof msg);
	if (res->status == 401 || res->status == 403) {
		pf_log(PF_LOG_ERROR, w->kv, "the server rejects our credentials (%s%s%s): check %s; writes are kept "
		       "and retried", res->error, msg[0] ? ": " : "", msg,
		       o->type == PF_OUTPUT_INFLUXDB_V1 ? "username and password" : "the token");
		return;
	}
	if (o->type == PF_OUTPUT_INFLUXDB_V2) {
		if (res->status == 404)
			pf_log(PF_LOG_ERROR, w->kv, "org \"%s\" or bucket \"%s\" not found (%s%s%s); writes are kept "
			       "and retried", o->org, o->bucket, res->error, msg[0] ? ": " : "", msg);
		else if (res->ok || res->status == 400) /* 400: "no points", after auth */
			pf_log(PF_LOG_INFO, w->kv, "%s at %s: reachable, token accepted", w->type_name, o->url);
		else
			pf_log(PF_LOG_WARN, w->kv, "start-up check: %s%s%s", res->error, msg[0] ? ": " : "", msg);
		return;
	}
	if (!res->ok) {
		/* VictoriaMetrics and other v1 write endpoints have no InfluxQL. */
		pf_log(PF_LOG_INFO, w->kv, "%s at %s: reachable; credentials not checked (SHOW DATABASES: %s)",
		       w->type_name, o->url, res->error);
		return;
	}
	/* {"results":[{"series":[{"name":"databases","columns":["name"],"values":[["a"],["b"]]}]}]} */
	int found = 0;
	if (r->resp) {
		size_t n = strlen(o->database) + 5;
		char *pat = malloc(n);
		if (pat) {
			snprintf(pat, n, "[\"%s\"]", o->database);
			found = strstr(r->resp, pat) != NULL;
			free(pat);
		}
	}
	if (found)
		pf_log(PF_LOG_INFO, w->kv, "%s at %s: reachable, credentials accepted, database \"%s\" exists",
		       w->type_name, o->url, o->database);
	else if (o->create_database)
		pf_log(PF_LOG_INFO, w->kv, "%s at %s: reachable, credentials accepted; database \"%s\" not listed, "
		       "it will be created at the first write", w->type_name, o->url, o->database);
	else
		pf_log(PF_LOG_WARN, w->kv, "%s at %s: database \"%s\" not listed and create_database = false: "
		       "writes will fail until it exists", w->type_name, o->url, o->database);
}

/* ---- writes ---- */

static void send_batch(pf_writer *w, pf_batch *b)
{
	req *r = req_new(w, R_WRITE);
	int rc = -ENOMEM;
	const char *body = b->data;
	size_t len = b->len;
	if (r && w->gz) {
		r->gz = pf_gzip_compress(w->gz, b->data, b->len, &r->body_len);
		body = r->gz;
		len = r->body_len;
	}
	if (r && (!w->gz || r->gz)) {
		r->b = b;
		r->body_len = len;
		rc = start(w, r, w->urls.write, 1, body, len); /* frees r on failure */
	} else if (r) {
		req_free(r);
	}
	if (rc != 0) {
		pf_queue_requeue(w->q, b);
		uint64_t d = failed(w, 0);
		pf_log(PF_LOG_ERROR, w->kv, "cannot start a write: %s; retrying in %llums", strerror(-rc),
		       (unsigned long long)d);
		return;
	}
	w->st.requests++;
}

static void pump(pf_writer *w)
{
	if (w->finishing)
		return;
	if (!w->paused && !w->creating) {
		unsigned max = w->probing ? 1 : w->o->max_in_flight;
		while (w->inflight < max && !w->paused) {
			pf_batch *b = pf_queue_pop(w->q);
			if (!b)
				break;
			send_batch(w, b);
		}
	}
	maybe_finish(w);
}

static void log_reject(pf_writer *w, const pf_batch *b, const pf_http_result *res, const pf_influx_verdict *v)
{
	unsigned sup = 0;
	if (!pf_ratelimit_ok(&w->rl_reject, now_ms(w), 5, LOG_WINDOW_MS, &sup))
		return;
	pf_log(PF_LOG_ERROR, w->kv, "the server rejected %llu of %zu points (%s): %s; not retried%s",
	       (unsigned long long)v->dropped, b->lines, res->error, v->msg[0] ? v->msg : "(no message)",
	       sup ? " (more rejections suppressed)" : "");
}

/* A batch to send again goes back to the queue; or, when a reload gave
 * this output a successor (this one is closing), to the successor's, so
 * that a change of the output loses nothing it held in flight. */
static void requeue(pf_writer *w, pf_batch *b)
{
	if (w->succ == NULL || w->succ->stopping) {
		/* (A successor that stops first would only count it as
		 * undelivered; this one may still have time to retry it.) */
		pf_queue_requeue(w->q, b);
		return;
	}
	pf_queue_hand_over(w->q, w->succ->q, b);
	pump(w->succ);
}

static void write_done(pf_writer *w, req *r, const pf_http_result *res)
{
	pf_batch *b = r->b;
	const pf_output *o = w->o;
	w->inflight--;
	if (res->cancelled) { /* the stop's deadline: counted as undelivered */
		requeue(w, b);
		return;
	}
	/* A transfer error after a status line (a reset mid-answer, a
	 * timeout) is no answer. */
	long status = res->curl_code != 0 ? 0 : res->status;
	pf_influx_verdict v;
	pf_influx_classify(o->type, o->create_database, status, res->err_body, res->err_body_len, b->lines, &v);
	unsigned sup = 0;
	uint64_t d;
	size_t lines;
	switch (v.action) {
	case PF_INFLUX_DONE:
		w->st.lines_written += b->lines;
		w->st.batches_written++;
		w->st.bytes_sent += r->body_len;
		pf_queue_done(w->q, b);
		w->created = 0;
		succeeded(w);
		break;
	case PF_INFLUX_REJECT:
		w->st.dropped_rejected += v.dropped;
		w->st.lines_written += b->lines - v.dropped;
		log_reject(w, b, res, &v);
		pf_queue_done(w->q, b);
		succeeded(w); /* the server answers: no reason to wait */
		break;
	case PF_INFLUX_SPLIT:
		lines = b->lines;
		if (lines < 2) {
			w->st.dropped_too_large++;
			pf_log(PF_LOG_ERROR, w->kv, "a single line of %zu bytes is too large for the server (%s): "
			       "dropped", b->len, res->error);
			pf_queue_done(w->q, b);
		} else if (pf_queue_split(w->q, b) == 0) { /* b is gone */
			w->st.splits++;
			if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
				pf_log(PF_LOG_WARN, w->kv, "%s for a batch of %zu lines (%zu bytes): sending it in "
				       "two halves (a lower batch_bytes avoids this)", res->error, lines, r->body_len);
		} else {
			requeue(w, b);
			failed(w, 0);
		}
		break;
	case PF_INFLUX_CREATE_DB:
		requeue(w, b);
		w->st.retries++;
		if (!w->created) {
			create_db(w);
			break;
		}
		/* Created, yet still not found (InfluxDB answers a refused
		 * CREATE with 200 and an error in the body): a configuration
		 * problem, retried with backoff rather than in a tight loop. */
		d = failed(w, retry_after_ms(res));
		if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_ERROR, w->kv, "database \"%s\" still not found after CREATE DATABASE "
			       "(check the user's rights): %s; %zu points kept, retrying in %llums",
			       o->database, v.msg[0] ? v.msg : res->error, b->lines, (unsigned long long)d);
		break;
	case PF_INFLUX_CONFIG:
		requeue(w, b);
		w->st.retries++;
		d = failed(w, retry_after_ms(res));
		if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_ERROR, w->kv, "write refused, check this output's configuration (%s): %s; "
			       "%zu points kept, retrying in %llums", res->error, v.msg[0] ? v.msg : "(no message)",
			       b->lines, (unsigned long long)d);
		break;
	case PF_INFLUX_RETRY:
		requeue(w, b);
		w->st.retries++;
		d = failed(w, retry_after_ms(res));
		if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_WARN, w->kv, "write failed: %s%s%s; %zu points kept, retrying in %llums%s",
			       res->error, v.msg[0] ? ": " : "", v.msg, b->lines, (unsigned long long)d,
			       res->retry_after[0] ? " (Retry-After)" : "");
		break;
	}
}

static void on_done(void *ud, const pf_http_result *res)
{
	req *r = ud;
	pf_writer *w = r->w;
	if (!res->cancelled) {
		/* Up: it answers, and not with a server error. */
		w->st.reachable = res->curl_code == 0 && res->status > 0 && res->status < 500;
		if (r->kind == R_WRITE)
			pf_hist_observe(&w->st.write_seconds, res->total_s);
	}
	switch (r->kind) {
	case R_WRITE:
		write_done(w, r, res);
		break;
	case R_PING:
		check_ping_done(w, res);
		break;
	case R_CHECK:
		check_done(w, r, res);
		break;
	case R_CREATE:
		create_done(w, res);
		break;
	}
	req_free(r);
	pump(w);
}

/* ---- queueing ---- */

static void flush_cb(uv_timer_t *t)
{
	pf_writer *w = t->data;
	pf_queue_cut(w->q);
	pump(w);
}

/* Logs new buffer-full drops (rate-limited). */
static void note_drops(pf_writer *w)
{
	const pf_queue_stats *qs = pf_queue_get_stats(w->q);
	w->st.dropped_buffer_full = qs->dropped_lines;
	if (qs->dropped_lines == w->dropped_logged)
		return;
	unsigned sup = 0;
	if (!pf_ratelimit_ok(&w->rl_drop, now_ms(w), 1, LOG_WINDOW_MS, &sup))
		return;
	pf_log(PF_LOG_WARN, w->kv, "buffer_limit (%llu bytes) reached: dropped the oldest %llu points (%llu "
	       "dropped in all)", (unsigned long long)w->o->buffer_limit,
	       (unsigned long long)(qs->dropped_lines - w->dropped_logged), (unsigned long long)qs->dropped_lines);
	w->dropped_logged = qs->dropped_lines;
}

int pf_writer_write(pf_writer *w, const char *lp, size_t n)
{
	if (w->finishing)
		return -ECANCELED;
	int rc = pf_queue_append(w->q, lp, n);
	note_drops(w);
	const pf_queue_stats *qs = pf_queue_get_stats(w->q);
	if (qs->open_lines && !uv_is_active((uv_handle_t *)&w->flush_timer))
		uv_timer_start(&w->flush_timer, flush_cb, w->o->flush_interval_ms, 0);
	if (qs->waiting_batches)
		pump(w);
	return rc;
}

void pf_writer_flush(pf_writer *w)
{
	uv_timer_stop(&w->flush_timer);
	pf_queue_cut(w->q);
	pump(w);
}

int pf_writer_adopt(pf_writer *w, pf_writer *old)
{
	const pf_queue_stats *qs = pf_queue_get_stats(old->q);
	uint64_t lines = qs->waiting_lines + qs->open_lines;
	uint64_t dropped = pf_queue_get_stats(w->q)->dropped_lines;
	if (w->pred != NULL || old->succ != NULL)
		return -EBUSY;
	int rc = pf_queue_take(w->q, old->q);
	if (rc != 0)
		return rc;
	w->pred = old;
	old->succ = w;
	dropped = pf_queue_get_stats(w->q)->dropped_lines - dropped;
	if (lines)
		pf_log(PF_LOG_INFO, w->kv, "took over %llu points held by the previous configuration of this output%s",
		       (unsigned long long)lines, dropped ? " (some dropped: the new buffer_limit is smaller)" : "");
	pump(w);
	return 0;
}

void pf_writer_set_output(pf_writer *w, const pf_output *o)
{
	w->o = o;
}

const pf_writer_stats *pf_writer_get_stats(pf_writer *w)
{
	w->st.queue_bytes = pf_queue_get_stats(w->q)->bytes;
	w->st.dropped_buffer_full = pf_queue_get_stats(w->q)->dropped_lines;
	w->st.queue_batches = pf_queue_get_stats(w->q)->waiting_batches;
	return &w->st;
}

/* ---- stop ---- */

static void free_writer(pf_writer *w)
{
	void (*done)(void *) = w->done;
	void *ud = w->done_ud;
	if (w->pred != NULL)
		w->pred->succ = w->succ;
	if (w->succ != NULL)
		w->succ->pred = w->pred;
	pf_queue_free(w->q);
	pf_gzip_free(w->gz);
	pf_influx_urls_free(&w->urls);
	pf_secret_free(&w->password);
	pf_secret_free(&w->token);
	free(w);
	if (done)
		done(ud);
}

static void timer_closed(uv_handle_t *h)
{
	pf_writer *w = h->data;
	if (--w->timers_open == 0)
		free_writer(w);
}

static void http_closed(void *ud)
{
	pf_writer *w = ud;
	/* Cancelled writes came back into the queue: what is there now was
	 * not delivered. */
	uint64_t left = pf_queue_clear(w->q);
	w->st.undelivered_at_stop += left;
	if (left)
		pf_log(PF_LOG_WARN, w->kv, "stopped: %llu points not delivered within shutdown_timeout (%llums)",
		       (unsigned long long)left, (unsigned long long)w->shutdown_ms);
	else
		pf_log(PF_LOG_INFO, w->kv, "stopped: every point delivered (%llu written, %llu rejected by the "
		       "server, %llu dropped at buffer_limit)", (unsigned long long)w->st.lines_written,
		       (unsigned long long)w->st.dropped_rejected, (unsigned long long)w->st.dropped_buffer_full);
	uv_close((uv_handle_t *)&w->flush_timer, timer_closed);
	uv_close((uv_handle_t *)&w->retry_timer, timer_closed);
	uv_close((uv_handle_t *)&w->stop_timer, timer_closed);
}

/* From stop_timer: the flush is over (or its time is up). */
static void finish_cb(uv_timer_t *t)
{
	pf_writer *w = t->data;
	if (w->finishing)
		return;
	w->finishing = 1;
	note_drops(w);
	uv_timer_stop(&w->flush_timer);
	uv_timer_stop(&w->retry_timer);
	/* Cancels what is in flight; their on_done requeue the batches. */
	pf_http_close(w->http, http_closed, w);
}

static void maybe_finish(pf_writer *w)
{
	if (!w->stopping || w->finishing)
		return;
	const pf_queue_stats *qs = pf_queue_get_stats(w->q);
	if (qs->bytes == 0 && w->inflight == 0 && !w->creating) {
		/* Everything delivered: finish from the loop, never from inside
		 * an HTTP callback. */
		uv_timer_stop(&w->stop_timer);
		uv_timer_start(&w->stop_timer, finish_cb, 0, 0);
	}
}

void pf_writer_close(pf_writer *w, void (*done)(void *ud), void *ud)
{
	w->done = done;
	w->done_ud = ud;
	if (w->stopping)
		return;
	w->stopping = 1;
	uv_timer_stop(&w->flush_timer);
	pf_queue_cut(w->q);
	const pf_queue_stats *qs = pf_queue_get_stats(w->q);
	if (qs->bytes)
		pf_log(PF_LOG_INFO, w->kv, "stopping: delivering %llu points held (at most %llums)",
		       (unsigned long long)(qs->waiting_lines + qs->open_lines), (unsigned long long)w->shutdown_ms);
	uv_timer_start(&w->stop_timer, finish_cb, w->shutdown_ms, 0);
	/* A backoff wait longer than half the deadline would leave no attempt
	 * before it: cut it, so that a server that is back gets the data. */
	if (w->paused && uv_timer_get_due_in(&w->retry_timer) > w->shutdown_ms / 2)
		uv_timer_start(&w->retry_timer, retry_cb, w->shutdown_ms / 2, 0);
	pump(w); /* may replace the deadline by an immediate finish */
}

/* ---- creation ---- */

pf_writer *pf_writer_new(uv_loop_t *loop, const pf_output *o, const pf_writer_opts *opts, char *err,
			 size_t errcap)
{
	if (o->type != PF_OUTPUT_INFLUXDB_V1 && o->type != PF_OUTPUT_INFLUXDB_V2) {
		snprintf(err, errcap, "not an InfluxDB output");
		return NULL;
	}
	pf_writer *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	w->loop = loop;
	w->o = o;
	static const double write_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
	pf_hist_init(&w->st.write_seconds, write_bounds, sizeof write_bounds / sizeof write_bounds[0]);
	w->type_name = o->type == PF_OUTPUT_INFLUXDB_V1 ? "InfluxDB v1 API" : "InfluxDB v2 API";
	w->shutdown_ms = opts && opts->shutdown_ms ? opts->shutdown_ms : 10000;
	snprintf(w->kv, sizeof w->kv, "output=%s", o->name ? o->name : "influxdb");
	pf_queue_opts qo = { .batch_lines = (size_t)o->batch_lines, .batch_bytes = (size_t)o->batch_bytes,
			     .limit = o->buffer_limit };
	uint64_t seed = opts && opts->seed ? opts->seed : uv_hrtime() ^ (uint64_t)(uintptr_t)w;
	pf_backoff_init(&w->bo, PF_BACKOFF_BASE_MS, o->retry_max_backoff_ms, seed);
	int rc = pf_influx_urls_build(o, &w->urls);
	if (rc == 0)
		rc = pf_secret_init(&w->password, o->password_file, o->password);
	if (rc == 0)
		rc = pf_secret_init(&w->token, o->token_file, o->token);
	if (rc == 0 && (w->q = pf_queue_new(&qo)) == NULL)
		rc = -EINVAL;
	if (rc == 0 && o->gzip && (w->gz = pf_gzip_new((int)o->gzip_level)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && (w->http = pf_http_new(loop)) == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		snprintf(err, errcap, "%s", rc == -EINVAL ? "bad settings" : "out of memory");
		w->done = NULL;
		free_writer(w);
		return NULL;
	}
	uv_timer_init(loop, &w->flush_timer);
	uv_timer_init(loop, &w->retry_timer);
	uv_timer_init(loop, &w->stop_timer);
	w->flush_timer.data = w->retry_timer.data = w->stop_timer.data = w;
	w->timers_open = 3;
	char gzl[32] = "off";
	if (o->gzip)
		snprintf(gzl, sizeof gzl, "level %u", o->gzip_level);
	pf_log(PF_LOG_INFO, w->kv, "%s: %s; batches of %llu lines or %llu bytes, flush every %llums, %u in "
	       "flight, buffer %llu bytes, gzip %s", w->type_name, w->urls.write, (unsigned long long)o->batch_lines,
	       (unsigned long long)o->batch_bytes, (unsigned long long)o->flush_interval_ms, o->max_in_flight,
	       (unsigned long long)o->buffer_limit, gzl);
	if (!(opts && opts->skip_check)) {
		req *r = req_new(w, R_PING);
		if (!r || start(w, r, w->urls.ping, 0, NULL, 0) != 0)
			pf_log(PF_LOG_WARN, w->kv, "start-up check not made: out of memory");
	}
	return w;
}
