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
 *   spooling     the disk spool (spool.h) is in use: every sealed batch
 *                goes to disk, and sends come from it, oldest first, one at
 *                a time, paced by spool_replay_rate. It starts when a write
 *                fails or the memory buffer overflows, and at start when
 *                the spool holds batches from before; it ends when the
 *                spool is empty. A batch the spool refuses (disk full)
 *                stays in memory, where buffer_limit applies as without a
 *                spool.
 * Timers: flush_timer (the open batch's flush_interval), retry_timer (the
 * backoff), stop_timer (the shutdown deadline, and the deferred finish),
 * spool_timer (replay pacing), sync_timer (spool_fsync = interval).
 * Nothing is freed before the HTTP client has closed (its callbacks may
 * still run until then) and its five timers are closed.
 */
#include "writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "gzip.h"
#include "http.h"
#include "influx.h"
#include "log.h"
#include "queue.h"
#include "retry.h"
#include "secret.h"
#include "spool.h"

/* 2xx bodies of writes and checks are small; anything larger is cut. */
#define MAX_RESPONSE (64u * 1024u)
/* Log bursts per minute: rejected batches, failures, drops. */
#define LOG_WINDOW_MS 60000u

typedef struct req {
	pf_writer *w;
	pf_batch *b;          /* NULL: not a write (check, create) */
	char *gz;             /* the gzip body, owned; NULL: b's bytes are sent */
	pf_http_part *parts;  /* b's parts as curl reads them, owned; NULL: none */
	size_t body_len;
	int kind;             /* R_WRITE, R_PING, R_CHECK, R_CREATE */
	int from_spool;       /* b is a spool record (malloc'd, acked when delivered) */
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
	uv_timer_t flush_timer, retry_timer, stop_timer, spool_timer, sync_timer;
	int timers_open;
	unsigned inflight;     /* write requests */
	int paused, probing, creating, stopping, finishing;
	int created;  /* a CREATE DATABASE succeeded and no write has since */
	unsigned fail_streak;  /* failed writes since the last success */
	uint64_t shutdown_ms;
	uint64_t dropped_logged; /* buffer-full drops already logged */
	pf_ratelimit rl_reject, rl_fail, rl_drop, rl_secret;
	pf_writer *pred, *succ; /* a reload's chain (pf_writer_adopt) */
	pf_spool *spool;        /* NULL: memory only */
	char *spool_dir;
	int spooling;
	int spool_sending;      /* a spool record is in flight */
	uint64_t replay_next_ms;/* the next record may leave then (pacing) */
	pf_ratelimit rl_spool;
	pf_writer_stats st;
	void (*done)(void *ud);
	void *done_ud;
};

static void pump(pf_writer *w);
static void maybe_finish(pf_writer *w);
static void open_spool(pf_writer *w);

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
	free(r->parts);
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
static int start(pf_writer *w, req *r, const char *url, int post, const char *body, size_t len,
		 size_t nparts)
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
		hr.parts = r->parts;
		hr.nparts = nparts;
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
static void spool_begin(pf_writer *w, const char *why);

static uint64_t failed(pf_writer *w, uint64_t ra_ms)
{
	w->probing = 1;
	w->fail_streak++;
	spool_begin(w, "writes fail");
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
	if (!r || start(w, r, w->urls.create, 1, "", 0, 0) != 0) {
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
		rc = start(w, r, w->urls.check, 0, NULL, 0, 0);
	else if (r) /* a write of no lines: auth, org and bucket are checked */
		rc = start(w, r, w->urls.write, 1, "", 0, 0);
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

static void spool_put_back(pf_writer *w, pf_batch *b);

/* A batch of parts as the parts of a request body (r->parts). Returns 0
 * or -ENOMEM. */
static int body_parts(req *r, const pf_batch *b)
{
	r->parts = malloc(b->nparts * sizeof *r->parts);
	if (r->parts == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->nparts; i++)
		r->parts[i] = (pf_http_part){ b->parts[i].p, b->parts[i].n };
	return 0;
}

static void send_batch(pf_writer *w, pf_batch *b, int from_spool)
{
	req *r = req_new(w, R_WRITE);
	if (r)
		r->from_spool = from_spool;
	int rc = -ENOMEM;
	const char *body = b->data;
	size_t len = b->len, nparts = 0;
	if (r && w->gz) {
		/* gzip takes one piece (a copy beside the compression). */
		pf_batch *f = pf_batch_flat(b);
		r->gz = f ? pf_gzip_compress(w->gz, f->data, f->len, &r->body_len) : NULL;
		if (f != b)
			free(f);
		body = r->gz;
		len = r->body_len;
	} else if (r && b->parts) {
		if (body_parts(r, b) != 0) {
			req_free(r);
			r = NULL;
		}
		nparts = b->nparts;
	}
	if (r && (!w->gz || r->gz)) {
		r->b = b;
		r->body_len = len;
		rc = start(w, r, w->urls.write, 1, body, len, nparts); /* frees r on failure */
	} else if (r) {
		req_free(r);
	}
	if (rc != 0) {
		if (from_spool)
			spool_put_back(w, b);
		else
			pf_queue_requeue(w->q, b);
		uint64_t d = failed(w, 0);
		pf_log(PF_LOG_ERROR, w->kv, "cannot start a write: %s; retrying in %llums", strerror(-rc),
		       (unsigned long long)d);
		return;
	}
	w->st.requests++;
}

/* ---- the disk spool ---- */

static void spool_error(pf_writer *w, const char *what, int rc)
{
	unsigned sup = 0;
	if (pf_ratelimit_ok(&w->rl_spool, now_ms(w), 3, LOG_WINDOW_MS, &sup))
		pf_log(PF_LOG_ERROR, w->kv, "spool %s: %s: %s%s", w->spool_dir, what, strerror(-rc),
		       sup ? " (more spool errors suppressed)" : "");
}

/* Appends a batch of the queue to the spool (one of parts through a copy
 * in one piece). Returns as pf_spool_append(), or -ENOMEM. */
static int spool_batch(pf_writer *w, pf_batch *b)
{
	pf_batch *f = pf_batch_flat(b);
	if (f == NULL)
		return -ENOMEM;
	int rc = pf_spool_append(w->spool, f->data, f->len, f->lines);
	if (f != b)
		free(f);
	return rc;
}

/* Moves the waiting batches from memory to the spool, oldest first. One
 * the spool refuses stays in memory (the next event tries again). */
static void spool_drain(pf_writer *w)
{
	pf_batch *b;
	while (w->spooling && (b = pf_queue_pop(w->q)) != NULL) {
		int rc = spool_batch(w, b);
		if (rc != 0) {
			pf_queue_requeue(w->q, b);
			spool_error(w, "a batch stays in memory", rc);
			return;
		}
		pf_queue_done(w->q, b);
	}
}

static void spool_begin(pf_writer *w, const char *why)
{
	if (w->spool == NULL || w->spooling || w->stopping)
		return;
	w->spooling = 1;
	pf_log(PF_LOG_INFO, w->kv, "%s: batches go to the spool %s until it is replayed", why, w->spool_dir);
	spool_drain(w);
}

/* A spool record sent and not delivered: it stays in the spool (unacked)
 * and is sent again. */
static void spool_put_back(pf_writer *w, pf_batch *b)
{
	free(b);
	w->spool_sending = 0;
}

static void spool_timer_cb(uv_timer_t *t)
{
	pump(t->data);
}

/* Sends the spool's oldest record, paced by spool_replay_rate. */
static void spool_send(pf_writer *w)
{
	if (w->spool_sending || w->stopping)
		return; /* at a stop the spool keeps what it holds */
	if (pf_spool_pending(w->spool) == 0) {
		w->spooling = 0;
		const pf_spool_stats *ss = pf_spool_get_stats(w->spool);
		pf_log(PF_LOG_INFO, w->kv, "spool replayed (%llu points since start): batches stay in memory again",
		       (unsigned long long)ss->replayed_lines);
		return;
	}
	uint64_t now = now_ms(w);
	if (w->replay_next_ms > now) {
		if (!uv_is_active((uv_handle_t *)&w->spool_timer))
			uv_timer_start(&w->spool_timer, spool_timer_cb, w->replay_next_ms - now, 0);
		return;
	}
	pf_batch *b = NULL;
	int rc = pf_spool_peek(w->spool, &b);
	if (rc != 0) {
		if (rc != -ENOENT) {
			spool_error(w, "reading the oldest batch (retrying in 1s)", rc);
			uv_timer_start(&w->spool_timer, spool_timer_cb, 1000, 0);
		}
		return; /* -ENOENT: what was pending was corrupt and skipped */
	}
	uint64_t rate = w->o->spool_replay_rate;
	if (rate)
		w->replay_next_ms = (w->replay_next_ms > now ? w->replay_next_ms : now) + b->len * 1000 / rate;
	w->spool_sending = 1;
	send_batch(w, b, 1);
}

/* A spool record delivered (or given up: rejected, too large): acked. */
static void spool_done(pf_writer *w, pf_batch *b)
{
	free(b);
	w->spool_sending = 0;
	if (w->spool == NULL)
		return; /* handed to a successor: it sends the record again */
	int rc = pf_spool_ack(w->spool);
	if (rc != 0 && rc != -ESTALE)
		spool_error(w, "recording a delivered batch (it may be sent again after a restart)", rc);
}

/* A 413 for a spool record: its halves go to the spool's end, the record
 * is to be acked. Returns 0, or -1 (a single line, or the spool refused
 * the halves: the caller keeps the record). */
static int spool_split(pf_writer *w, pf_batch *b)
{
	if (b->lines < 2)
		return -1;
	size_t half = (b->lines + 1) / 2, n = 0, cut = 0;
	while (n < half) {
		const char *nl = memchr(b->data + cut, '\n', b->len - cut);
		cut = (size_t)(nl - b->data) + 1;
		n++;
	}
	int rc = pf_spool_append(w->spool, b->data, cut, half);
	if (rc == 0)
		rc = pf_spool_append(w->spool, b->data + cut, b->len - cut, b->lines - half);
	if (rc != 0) {
		/* The record stays (not acked) and is tried again; a first half
		 * already appended may then be sent twice. */
		spool_error(w, "splitting a batch too large for the server", rc);
		return -1;
	}
	return 0;
}

/* The queue's hook when buffer_limit is passed: the oldest batch goes to
 * the spool rather than away. */
static int evict_to_spool(void *ud, pf_batch *b)
{
	pf_writer *w = ud;
	if (w->spool == NULL || spool_batch(w, b) != 0)
		return -1;
	pf_batch_free(b);
	/* The rest follows it at the next event (never from inside the
	 * queue's own loop). As spool_begin() says why, so does this: the
	 * server answers, but slower than the scrapes produce. */
	if (!w->spooling)
		pf_log(PF_LOG_WARN, w->kv, "buffer_limit (%llu bytes) reached: the server takes the lines slower than "
		       "they come; batches go to the spool %s until it is replayed",
		       (unsigned long long)w->o->buffer_limit, w->spool_dir);
	w->spooling = 1;
	return 0;
}

static void sync_cb(uv_timer_t *t)
{
	pf_writer *w = t->data;
	int rc = w->spool ? pf_spool_sync(w->spool) : 0;
	if (rc != 0)
		spool_error(w, "fsync", rc);
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
			send_batch(w, b, 0);
		}
		if (w->spooling && w->inflight < max && !w->paused)
			spool_send(w);
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

/* The batch of r is finished with (delivered, or given up). */
static void finished(pf_writer *w, const req *r, pf_batch *b)
{
	if (r->from_spool)
		spool_done(w, b);
	else
		pf_queue_done(w->q, b);
}

/* The batch of r is to be sent again. */
static void again(pf_writer *w, const req *r, pf_batch *b)
{
	if (r->from_spool)
		spool_put_back(w, b);
	else
		requeue(w, b);
}

static void write_done(pf_writer *w, req *r, const pf_http_result *res)
{
	pf_batch *b = r->b;
	const pf_output *o = w->o;
	size_t blines = b->lines; /* b may be gone before the logs */
	w->inflight--;
	if (r->from_spool && w->spool == NULL) {
		/* A reload handed the spool to the successor, which sends this
		 * record again: whatever the answer, nothing to do here. */
		spool_put_back(w, b);
		pump(w);
		return;
	}
	if (res->cancelled) { /* the stop's deadline: counted as undelivered */
		again(w, r, b);
		return;
	}
	/* A transfer error after a status line (a reset mid-answer, a
	 * timeout) is no answer. */
	long status = res->curl_code != 0 ? 0 : res->status;
	pf_influx_verdict v;
	pf_influx_classify(o->type, o->create_database, status, res->err_body, res->err_body_len, b->lines, &v);
	unsigned sup = 0;
	uint64_t d;
	switch (v.action) {
	case PF_INFLUX_DONE:
		w->st.lines_written += b->lines;
		w->st.batches_written++;
		w->st.bytes_sent += r->body_len;
		finished(w, r, b);
		w->created = 0;
		succeeded(w);
		break;
	case PF_INFLUX_REJECT:
		w->st.dropped_rejected += v.dropped;
		w->st.lines_written += b->lines - v.dropped;
		log_reject(w, b, res, &v);
		finished(w, r, b);
		succeeded(w); /* the server answers: no reason to wait */
		break;
	case PF_INFLUX_SPLIT:
		if (blines < 2) {
			w->st.dropped_too_large++;
			pf_log(PF_LOG_ERROR, w->kv, "a single line of %zu bytes is too large for the server (%s): "
			       "dropped", b->len, res->error);
			finished(w, r, b);
		} else if (r->from_spool ? spool_split(w, b) == 0 : pf_queue_split(w->q, b) == 0) {
			if (r->from_spool)
				spool_done(w, b); /* its halves are in the spool */
			/* else b is gone: its halves wait in the queue */
			w->st.splits++;
			if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
				pf_log(PF_LOG_WARN, w->kv, "%s for a batch of %zu lines (%zu bytes): sending it in "
				       "two halves (a lower batch_bytes avoids this)", res->error, blines, r->body_len);
		} else {
			again(w, r, b);
			failed(w, 0);
		}
		break;
	case PF_INFLUX_CREATE_DB:
		again(w, r, b);
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
			       o->database, v.msg[0] ? v.msg : res->error, blines, (unsigned long long)d);
		break;
	case PF_INFLUX_CONFIG:
		again(w, r, b);
		w->st.retries++;
		d = failed(w, retry_after_ms(res));
		if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_ERROR, w->kv, "write refused, check this output's configuration (%s): %s; "
			       "%zu points kept, retrying in %llums", res->error, v.msg[0] ? v.msg : "(no message)",
			       blines, (unsigned long long)d);
		break;
	case PF_INFLUX_RETRY:
		again(w, r, b);
		w->st.retries++;
		d = failed(w, retry_after_ms(res));
		if (pf_ratelimit_ok(&w->rl_fail, now_ms(w), 3, LOG_WINDOW_MS, &sup))
			pf_log(PF_LOG_WARN, w->kv, "write failed: %s%s%s; %zu points kept, retrying in %llums%s",
			       res->error, v.msg[0] ? ": " : "", v.msg, blines, (unsigned long long)d,
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
	spool_drain(w);
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

/* After lines were queued: the spool, the drop count, the flush timer. */
static void queued(pf_writer *w)
{
	spool_drain(w);
	note_drops(w);
	const pf_queue_stats *qs = pf_queue_get_stats(w->q);
	if (qs->open_lines && !uv_is_active((uv_handle_t *)&w->flush_timer))
		uv_timer_start(&w->flush_timer, flush_cb, w->o->flush_interval_ms, 0);
	if (qs->waiting_batches)
		pump(w);
}

int pf_writer_write(pf_writer *w, const char *lp, size_t n, size_t lines)
{
	if (w->finishing)
		return -ECANCELED;
	int rc = pf_queue_append(w->q, lp, n, lines);
	queued(w);
	return rc;
}

int pf_writer_write_buf(pf_writer *w, pf_buf *out, size_t lines)
{
	if (w->finishing) {
		pf_buf_reset(out);
		return -ECANCELED;
	}
	int rc = pf_queue_append_buf(w->q, out, lines);
	queued(w);
	return rc;
}

void pf_writer_flush(pf_writer *w)
{
	uv_timer_stop(&w->flush_timer);
	pf_queue_cut(w->q);
	spool_drain(w);
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
	if (old->spool != NULL && w->spool == NULL && w->spool_dir != NULL &&
	    strcmp(old->spool_dir, w->spool_dir) == 0) {
		/* The spool (one directory, locked) moves with the points. A
		 * record old has in flight is sent again by w: at worst twice,
		 * which InfluxDB takes as one. */
		w->spool = old->spool;
		old->spool = NULL;
		old->spooling = 0;
		if (old->o->spool_limit != w->o->spool_limit || old->o->spool_fsync != w->o->spool_fsync) {
			/* Options are taken at open: open it again with the new ones
			 * (the lock passes from the close to the open). */
			pf_spool_close(w->spool);
			w->spool = NULL;
			open_spool(w);
			return 0;
		}
		w->spooling = pf_spool_pending(w->spool) > 0;
		if (w->spooling)
			pf_log(PF_LOG_INFO, w->kv, "took over the spool %s: %llu points held by the previous "
			       "configuration of this output", w->spool_dir,
			       (unsigned long long)pf_spool_get_stats(w->spool)->pending_lines);
		if (w->o->spool_fsync == PF_SPOOL_FSYNC_INTERVAL)
			uv_timer_start(&w->sync_timer, sync_cb, w->o->spool_fsync_interval_ms,
				       w->o->spool_fsync_interval_ms);
	} else if (w->spool == NULL && w->spool_dir != NULL) {
		open_spool(w);
	}
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
	w->st.spool_on = w->spool != NULL;
	if (w->spool != NULL)
		w->st.spool = *pf_spool_get_stats(w->spool);
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
	pf_spool_close(w->spool);
	free(w->spool_dir);
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
	 * not delivered. The spool keeps it for the next start. */
	uint64_t kept = 0;
	pf_batch *b;
	pf_queue_cut(w->q);
	while (w->spool != NULL && (b = pf_queue_pop(w->q)) != NULL) {
		int rc = spool_batch(w, b);
		if (rc != 0) {
			spool_error(w, "points not kept at the stop", rc);
			pf_queue_requeue(w->q, b);
			break;
		}
		kept += b->lines;
		pf_queue_done(w->q, b);
	}
	uint64_t waiting = w->spool ? pf_spool_get_stats(w->spool)->pending_lines : 0;
	if (waiting)
		pf_log(PF_LOG_INFO, w->kv, "stopped: %llu points not delivered are kept in the spool %s for the next "
		       "start (%llu of them added now)", (unsigned long long)waiting, w->spool_dir,
		       (unsigned long long)kept);
	uint64_t left = pf_queue_clear(w->q);
	w->st.undelivered_at_stop += left;
	if (left)
		pf_log(PF_LOG_WARN, w->kv, "stopped: %llu points not delivered within shutdown_timeout (%llums)",
		       (unsigned long long)left, (unsigned long long)w->shutdown_ms);
	else if (!waiting)
		pf_log(PF_LOG_INFO, w->kv, "stopped: every point delivered (%llu written, %llu rejected by the "
		       "server, %llu dropped at buffer_limit)", (unsigned long long)w->st.lines_written,
		       (unsigned long long)w->st.dropped_rejected, (unsigned long long)w->st.dropped_buffer_full);
	uv_close((uv_handle_t *)&w->flush_timer, timer_closed);
	uv_close((uv_handle_t *)&w->retry_timer, timer_closed);
	uv_close((uv_handle_t *)&w->stop_timer, timer_closed);
	uv_close((uv_handle_t *)&w->spool_timer, timer_closed);
	uv_close((uv_handle_t *)&w->sync_timer, timer_closed);
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
	uv_timer_stop(&w->spool_timer);
	uv_timer_stop(&w->sync_timer);
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

static void open_retry_cb(uv_timer_t *t)
{
	pf_writer *w = t->data;
	if (w->spool == NULL && !w->stopping)
		open_spool(w);
}

/* Opens the spool (parents made as needed, 0700) and, when it holds
 * batches from before, starts replaying them. A spool that cannot be used
 * is logged: the output then keeps its points in memory only. */
static void open_spool(pf_writer *w)
{
	const pf_output *o = w->o;
	/* Its parents, as mkdir -p (0700): the state directory too, when
	 * systemd's StateDirectory= did not make it. */
	char parent[4096];
	snprintf(parent, sizeof parent, "%s", w->spool_dir);
	for (char *p = parent + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
			pf_log(PF_LOG_WARN, w->kv, "cannot create %s: %s", parent, strerror(errno));
			*p = '/';
			break;
		}
		*p = '/';
	}
	pf_spool_opts so = { .dir = w->spool_dir, .max_bytes = o->spool_limit, .fsync = o->spool_fsync };
	char err[512];
	w->spool = pf_spool_open(&so, err, sizeof err);
	if (w->spool == NULL && errno == EBUSY && !w->stopping) {
		/* The previous output of this name (removed or changed by a
		 * reload) still closes and holds it: try again shortly. */
		pf_log(PF_LOG_INFO, w->kv, "%s; trying again in 1s (memory only until then)", err);
		uv_timer_start(&w->spool_timer, open_retry_cb, 1000, 0);
		return;
	}
	if (w->spool == NULL) {
		pf_log(PF_LOG_ERROR, w->kv, "%s; this output keeps its points in memory only (set "
		       "state_directory, or spool = false)", err);
		return;
	}
	if (o->spool_fsync == PF_SPOOL_FSYNC_INTERVAL)
		uv_timer_start(&w->sync_timer, sync_cb, o->spool_fsync_interval_ms, o->spool_fsync_interval_ms);
	const pf_spool_stats *ss = pf_spool_get_stats(w->spool);
	if (ss->pending_records) {
		w->spooling = 1;
		pf_log(PF_LOG_INFO, w->kv, "spool %s holds %llu points (%llu batches) from before: replaying them "
		       "first", w->spool_dir, (unsigned long long)ss->pending_lines,
		       (unsigned long long)ss->pending_records);
	}
}

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
			     .limit = o->buffer_limit, .evict = evict_to_spool, .ud = w };
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
	if (rc == 0 && o->spool && opts && opts->spool_dir && (w->spool_dir = strdup(opts->spool_dir)) == NULL)
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
	uv_timer_init(loop, &w->spool_timer);
	uv_timer_init(loop, &w->sync_timer);
	w->flush_timer.data = w->retry_timer.data = w->stop_timer.data = w;
	w->spool_timer.data = w->sync_timer.data = w;
	w->timers_open = 5;
	char gzl[32] = "off";
	if (o->gzip)
		snprintf(gzl, sizeof gzl, "level %u", o->gzip_level);
	pf_log(PF_LOG_INFO, w->kv, "%s: %s; batches of %llu lines or %llu bytes, flush every %llums, %u in "
	       "flight, buffer %llu bytes, gzip %s", w->type_name, w->urls.write, (unsigned long long)o->batch_lines,
	       (unsigned long long)o->batch_bytes, (unsigned long long)o->flush_interval_ms, o->max_in_flight,
	       (unsigned long long)o->buffer_limit, gzl);
	if (w->spool_dir && !opts->spool_defer)
		open_spool(w);
	if (!(opts && opts->skip_check)) {
		req *r = req_new(w, R_PING);
		if (!r || start(w, r, w->urls.ping, 0, NULL, 0, 0) != 0)
			pf_log(PF_LOG_WARN, w->kv, "start-up check not made: out of memory");
	}
	return w;
}
