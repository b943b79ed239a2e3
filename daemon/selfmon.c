/*
 * selfmon.c: promflux's own /metrics, /healthz and /ready (see selfmon.h).
 *
 * Names follow Prometheus' conventions: a promflux_ prefix, _total on
 * counters, base units (seconds, bytes), process_* as client libraries
 * write it. Per-target series carry job and target (the URL) labels, as
 * Prometheus' own up{job,instance} does; a result that never happened is
 * not written (series appear at their first count). The body is built
 * at each request from the daemon's counters: nothing is kept between
 * requests, so a reload cannot leave a stale series behind.
 */
#include "selfmon.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "httpd.h"
#include "log.h"
#include "pf_version.h"
#include "procstat.h"
#include "promtext.h"

struct pf_selfmon {
	uv_loop_t *loop;
	pf_selfmon_opts o;
	pf_httpd *httpd;
	char *listen;           /* "" = off */
};

#define TRY(x)                          \
	do {                            \
		int rc_ = (x);          \
		if (rc_ != 0)           \
			return rc_;     \
	} while (0)

static int counter(pf_buf *b, const char *name, const char *help, uint64_t v)
{
	TRY(pf_prom_family(b, name, PF_PROM_COUNTER, help));
	return pf_prom_sample_u64(b, name, NULL, NULL, 0, v);
}

static int gauge(pf_buf *b, const char *name, const char *help, double v)
{
	TRY(pf_prom_family(b, name, PF_PROM_GAUGE, help));
	return pf_prom_sample(b, name, NULL, NULL, 0, v);
}

static int render_process(pf_buf *b)
{
	pf_prom_label bl[] = { { "version", PF_VERSION }, { "libcurl", pf_http_version() } };
	TRY(pf_prom_family(b, "promflux_build_info", PF_PROM_GAUGE, "promflux's version and libcurl's; always 1."));
	TRY(pf_prom_sample(b, "promflux_build_info", NULL, bl, 2, 1));
	pf_procstat ps;
	if (pf_procstat_read(&ps) != 0)
		return 0; /* no /proc: the process_* series are left out */
	return pf_procstat_write(b, &ps);
}

static int render_daemon(const pf_selfmon_view *v, pf_buf *b)
{
	const pf_scraper_stats *t = v->totals;
	TRY(pf_prom_family(b, "promflux_config_reloads_total", PF_PROM_COUNTER,
			   "Reloads of the configuration (SIGHUP, watch_config), by result."));
	pf_prom_label ok = { "result", "ok" }, bad = { "result", "failed" };
	TRY(pf_prom_sample_u64(b, "promflux_config_reloads_total", NULL, &ok, 1, v->reloads.ok));
	TRY(pf_prom_sample_u64(b, "promflux_config_reloads_total", NULL, &bad, 1, v->reloads.failed));
	TRY(gauge(b, "promflux_config_last_reload_success_timestamp_seconds",
		  "When the last successful reload happened; 0: none since the start.",
		  (double)v->reloads.last_ok_unix));
	TRY(gauge(b, "promflux_targets", "Targets in the configuration.",
		  v->scraper ? (double)pf_scraper_ntargets(v->scraper) : 0));
	TRY(gauge(b, "promflux_scrapes_running", "Scrapes in flight now.", (double)v->running));
	TRY(counter(b, "promflux_scrapes_total", "Scrapes ended, all targets.", t->scrapes));
	TRY(counter(b, "promflux_scrapes_failed_total", "Scrapes ended with up = 0, all targets.", t->failed));
	TRY(counter(b, "promflux_samples_written_total", "Samples written to the outputs, all targets.",
		    t->samples));
	TRY(counter(b, "promflux_parse_errors_total", "Exposition lines the parser rejected, all targets.",
		    t->parse_errors));
	TRY(counter(b, "promflux_samples_scraped_total", "Samples parsed, all targets.", t->samples_scraped));
	TRY(pf_prom_family(b, "promflux_samples_dropped_total", PF_PROM_COUNTER,
			   "Samples parsed and not written, by reason: filtered (metric_include/exclude), invalid "
			   "(cannot be encoded as line protocol; logged)."));
	pf_prom_label fl = { "reason", "filtered" }, il = { "reason", "invalid" };
	TRY(pf_prom_sample_u64(b, "promflux_samples_dropped_total", NULL, &fl, 1, t->samples_filtered));
	TRY(pf_prom_sample_u64(b, "promflux_samples_dropped_total", NULL, &il, 1, t->samples_invalid));
	TRY(counter(b, "promflux_fields_nonfinite_total",
		    "NaN and infinite values left out of their points (line protocol has no spelling for them).",
		    t->fields_nonfinite));
	TRY(pf_prom_family(b, "promflux_scrape_ticks_skipped_total", PF_PROM_COUNTER,
			   "Scrape ticks not started, by reason: busy (the previous scrape still ran), late "
			   "(waited a whole interval for a slot), reload (the previous configuration's scrape "
			   "still ran)."));
	pf_prom_label r[] = { { "reason", "busy" }, { "reason", "late" }, { "reason", "reload" } };
	TRY(pf_prom_sample_u64(b, "promflux_scrape_ticks_skipped_total", NULL, &r[0], 1, v->sched.skipped_busy));
	TRY(pf_prom_sample_u64(b, "promflux_scrape_ticks_skipped_total", NULL, &r[1], 1, v->sched.skipped_late));
	return pf_prom_sample_u64(b, "promflux_scrape_ticks_skipped_total", NULL, &r[2], 1, t->skipped_prev);
}

/* The label text of each target, escaped once per body. */
typedef struct tlabels {
	pf_buf text;
	size_t *off;            /* n + 1 offsets into text */
} tlabels;

static int tlabels_build(tlabels *tl, pf_scraper *s, size_t n)
{
	pf_buf_init(&tl->text, (size_t)1 << 30);
	tl->off = malloc((n + 1) * sizeof(size_t));
	if (tl->off == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		tl->off[i] = tl->text.len;
		pf_prom_label l[] = { { "job", pf_scraper_job(s, i)->name }, { "target", pf_scraper_url(s, i) } };
		TRY(pf_prom_labels_prepare(&tl->text, l, 2));
	}
	tl->off[n] = tl->text.len;
	return 0;
}

static pf_str tlabel(const tlabels *tl, size_t i)
{
	return (pf_str){ tl->text.data + tl->off[i], tl->off[i + 1] - tl->off[i] };
}

static int render_targets(const pf_selfmon_view *v, pf_buf *b, const tlabels *tl, size_t n)
{
	pf_scraper *s = v->scraper;
	TRY(pf_prom_family(b, "promflux_target_scrapes_total", PF_PROM_COUNTER,
			   "Scrapes of each target ended, by result: ok, http_status, timeout, transfer "
			   "(connect, DNS, TLS, reset), body_limit, sample_limit, rejected, error."));
	for (size_t i = 0; i < n; i++) {
		const pf_target_stats *st = pf_scraper_target_stats(s, i);
		pf_str pre = tlabel(tl, i);
		for (int k = 0; k < PF_SCRAPE_RESULT_N; k++) {
			if (k != PF_SCRAPE_OK && st->results[k] == 0)
				continue;
			pf_prom_label l = { "result", pf_scrape_result_name((enum pf_scrape_result)k) };
			TRY(pf_prom_sample_u64(b, "promflux_target_scrapes_total", &pre, &l, 1, st->results[k]));
		}
	}
	/* One family a row: a value of each target, from its last scrape
	 * (left out before the first) or counted over all of them. */
	static const struct {
		const char *name, *help;
		enum pf_prom_type type;
		size_t off;     /* in pf_target_stats */
		enum { U64, DBL, INT } kind;
		int last;       /* of the last scrape: none before the first */
	} fams[] = {
		{ "promflux_target_up",
		  "1 when the target's last scrape succeeded, 0 when it failed (none before the first).",
		  PF_PROM_GAUGE, offsetof(pf_target_stats, up), INT, 1 },
		{ "promflux_target_scrape_duration_seconds", "How long the target's last scrape took.",
		  PF_PROM_GAUGE, offsetof(pf_target_stats, last_duration_s), DBL, 1 },
		{ "promflux_target_samples_scraped",
		  "Samples the target's last scrape parsed (before metric_include/exclude).", PF_PROM_GAUGE,
		  offsetof(pf_target_stats, last_samples), U64, 1 },
		{ "promflux_target_samples_written_total", "Samples of the target written to the outputs.",
		  PF_PROM_COUNTER, offsetof(pf_target_stats, samples), U64, 0 },
	};
	for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
		TRY(pf_prom_family(b, fams[f].name, fams[f].type, fams[f].help));
		for (size_t i = 0; i < n; i++) {
			const pf_target_stats *st = pf_scraper_target_stats(s, i);
			if (fams[f].last && st->up < 0)
				continue;
			pf_str pre = tlabel(tl, i);
			const char *field = (const char *)st + fams[f].off;
			double d = 0;
			uint64_t u;
			int k;
			if (fams[f].kind == U64) {
				memcpy(&u, field, sizeof u);
				TRY(pf_prom_sample_u64(b, fams[f].name, &pre, NULL, 0, u));
				continue;
			}
			if (fams[f].kind == DBL) {
				memcpy(&d, field, sizeof d);
			} else {
				memcpy(&k, field, sizeof k);
				d = k;
			}
			TRY(pf_prom_sample(b, fams[f].name, &pre, NULL, 0, d));
		}
	}
	TRY(pf_prom_family(b, "promflux_scrape_duration_seconds", PF_PROM_HISTOGRAM,
			   "Durations of the scrapes of each job."));
	for (size_t j = 0; v->cfg && j < v->cfg->njobs; j++) {
		pf_prom_label l = { "job", v->cfg->jobs[j].name };
		TRY(pf_prom_hist(b, "promflux_scrape_duration_seconds", NULL, &l, 1, pf_scraper_job_hist(s, j)));
	}
	return 0;
}

/* One counter family over the outputs, from the writer's stats (InfluxDB
 * outputs only) at byte offset off. */
static int writer_family(pf_buf *b, const pf_selfmon_view *v, const char *name, enum pf_prom_type type,
			 const char *help, size_t off)
{
	TRY(pf_prom_family(b, name, type, help));
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		if (ws == NULL)
			continue;
		uint64_t x;
		memcpy(&x, (const char *)ws + off, sizeof x);
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		TRY(pf_prom_sample_u64(b, name, NULL, &l, 1, x));
	}
	return 0;
}

#define WF(name, type, help, field) \
	TRY(writer_family(b, v, name, type, help, offsetof(pf_writer_stats, field)))

static int render_outputs(const pf_selfmon_view *v, pf_buf *b)
{
	TRY(pf_prom_family(b, "promflux_output_up", PF_PROM_GAUGE,
			   "1 when the output is reachable: stdout and file always; InfluxDB when its last "
			   "request was answered below 500."));
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		TRY(pf_prom_sample(b, "promflux_output_up", NULL, &l, 1, ws ? ws->reachable : 1));
	}
	TRY(pf_prom_family(b, "promflux_output_bytes_total", PF_PROM_COUNTER,
			   "Bytes of line protocol handed to the output (InfluxDB: queued, before gzip)."));
	for (size_t i = 0; i < v->nsinks; i++) {
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		TRY(pf_prom_sample_u64(b, "promflux_output_bytes_total", NULL, &l, 1,
				       pf_sink_get_stats(v->sinks[i])->bytes));
	}
	TRY(pf_prom_family(b, "promflux_output_write_errors_total", PF_PROM_COUNTER,
			   "Scrapes' line protocol lost to a write error (stdout and file outputs)."));
	for (size_t i = 0; i < v->nsinks; i++) {
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		TRY(pf_prom_sample_u64(b, "promflux_output_write_errors_total", NULL, &l, 1,
				       pf_sink_get_stats(v->sinks[i])->errors));
	}
	WF("promflux_output_points_written_total", PF_PROM_COUNTER, "Points the InfluxDB server accepted.",
	   lines_written);
	WF("promflux_output_sent_bytes_total", PF_PROM_COUNTER,
	   "Request bodies of accepted writes, as sent (after gzip).", bytes_sent);
	WF("promflux_output_requests_total", PF_PROM_COUNTER, "Write requests made.", requests);
	WF("promflux_output_retries_total", PF_PROM_COUNTER, "Batches kept to be sent again after a failure.",
	   retries);
	WF("promflux_output_splits_total", PF_PROM_COUNTER, "Batches split in two after a 413.", splits);
	WF("promflux_output_buffer_bytes", PF_PROM_GAUGE,
	   "Bytes held in memory: waiting batches, the open batch and the batches in flight.", queue_bytes);
	WF("promflux_output_buffer_batches", PF_PROM_GAUGE, "Sealed batches waiting to be sent.", queue_batches);
	WF("promflux_output_spool_bytes", PF_PROM_GAUGE, "Bytes of the disk spool's segment files.", spool.bytes);
	WF("promflux_output_spool_segments", PF_PROM_GAUGE, "Segment files of the disk spool.", spool.segments);
	WF("promflux_output_spool_pending_points", PF_PROM_GAUGE, "Points in the spool not yet delivered.",
	   spool.pending_lines);
	WF("promflux_output_spool_appended_points_total", PF_PROM_COUNTER, "Points written to the spool.",
	   spool.appended_lines);
	WF("promflux_output_spool_replayed_points_total", PF_PROM_COUNTER, "Points delivered from the spool.",
	   spool.replayed_lines);
	WF("promflux_output_spool_dropped_points_total", PF_PROM_COUNTER,
	   "Points dropped with the spool's oldest segments at spool_limit.", spool.dropped_lines);
	WF("promflux_output_spool_corrupt_bytes_total", PF_PROM_COUNTER,
	   "Bytes cut or skipped as torn or corrupt (never sent).", spool.corrupt_bytes);
	WF("promflux_output_spool_write_errors_total", PF_PROM_COUNTER,
	   "Failed spool writes (a full disk, say): the batch stayed in memory.", spool.write_errors);
	TRY(pf_prom_family(b, "promflux_output_spool_oldest_age_seconds", PF_PROM_GAUGE,
			   "Age of the oldest point waiting in the spool; 0 when none."));
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		if (ws == NULL || !ws->spool_on)
			continue;
		double age = 0;
		if (ws->spool.oldest_ms) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			age = ((double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6 - (double)ws->spool.oldest_ms) / 1000;
		}
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		TRY(pf_prom_sample(b, "promflux_output_spool_oldest_age_seconds", NULL, &l, 1, age > 0 ? age : 0));
	}
	TRY(pf_prom_family(b, "promflux_output_points_dropped_total", PF_PROM_COUNTER,
			   "Points given up, by reason: rejected (the server refused them: 400, 422), "
			   "buffer_full (oldest batches dropped at buffer_limit), too_large (a single line a 413 "
			   "still refused), stop (not delivered within shutdown_timeout)."));
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		if (ws == NULL)
			continue;
		const char *name = pf_sink_name(v->sinks[i]);
		pf_prom_label l[4][2] = {
			{ { "output", name }, { "reason", "rejected" } },
			{ { "output", name }, { "reason", "buffer_full" } },
			{ { "output", name }, { "reason", "too_large" } },
			{ { "output", name }, { "reason", "stop" } },
		};
		uint64_t x[4] = { ws->dropped_rejected, ws->dropped_buffer_full, ws->dropped_too_large,
				  ws->undelivered_at_stop };
		for (int k = 0; k < 4; k++)
			TRY(pf_prom_sample_u64(b, "promflux_output_points_dropped_total", NULL, l[k], 2, x[k]));
	}
	TRY(pf_prom_family(b, "promflux_output_write_duration_seconds", PF_PROM_HISTOGRAM,
			   "Durations of the write requests answered by the server."));
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		pf_prom_label l = { "output", pf_sink_name(v->sinks[i]) };
		if (ws != NULL)
			TRY(pf_prom_hist(b, "promflux_output_write_duration_seconds", NULL, &l, 1, &ws->write_seconds));
	}
	return 0;
}

int pf_selfmon_render(const pf_selfmon_view *v, pf_buf *b)
{
	TRY(render_process(b));
	TRY(render_daemon(v, b));
	TRY(render_outputs(v, b));
	if (v->scraper == NULL)
		return 0;
	size_t n = pf_scraper_ntargets(v->scraper);
	tlabels tl = { .off = NULL };
	int rc = tlabels_build(&tl, v->scraper, n);
	if (rc == 0)
		rc = render_targets(v, b, &tl, n);
	pf_buf_free(&tl.text);
	free(tl.off);
	return rc;
}

/* ---- the endpoint ---- */

/* Ready: loaded, not stopping, an output reachable. why gets the reason. */
static int ready(const pf_selfmon_view *v, pf_buf *why)
{
	const char *no = v->cfg == NULL ? "no configuration loaded\n" : v->stopping ? "stopping\n" : NULL;
	if (no != NULL) {
		pf_buf_puts(why, no);
		return 0;
	}
	for (size_t i = 0; i < v->nsinks; i++) {
		const pf_writer_stats *ws = pf_sink_writer_stats(v->sinks[i]);
		if (ws == NULL || ws->reachable)
			return 1;
	}
	pf_buf_puts(why, "no output reachable:");
	for (size_t i = 0; i < v->nsinks; i++) {
		pf_buf_putc(why, ' ');
		pf_buf_puts(why, pf_sink_name(v->sinks[i]));
	}
	pf_buf_putc(why, '\n');
	return 0;
}

static int handle(void *ud, const pf_httpd_req *req, pf_buf *body, const char **ct)
{
	pf_selfmon *m = ud;
	pf_selfmon_view v;
	memset(&v, 0, sizeof v);
	m->o.view(m->o.ud, &v);
	if (strcmp(req->path, "/metrics") == 0) {
		*ct = PF_PROM_CONTENT_TYPE;
		int rc = pf_selfmon_render(&v, body);
		if (rc != 0)
			pf_log(PF_LOG_ERROR, NULL, "/metrics: cannot render the body: %s", strerror(-rc));
		return rc == 0 ? 200 : rc;
	}
	if (strcmp(req->path, "/healthz") == 0) {
		pf_buf_puts(body, "ok\n");
		return 200;
	}
	if (strcmp(req->path, "/ready") == 0) {
		if (!ready(&v, body))
			return 503;
		pf_buf_puts(body, "ready\n");
		return 200;
	}
	if (strcmp(req->path, "/") == 0) {
		pf_buf_puts(body, "promflux " PF_VERSION "\n/metrics  own metrics (Prometheus text)\n"
				  "/healthz  liveness\n/ready    readiness\n");
		return 200;
	}
	pf_buf_puts(body, "not found: try /metrics, /healthz or /ready\n");
	return 404;
}

static void start(pf_selfmon *m)
{
	if (m->listen[0] == '\0')
		return;
	char err[256];
	m->httpd = pf_httpd_new(m->loop, m->listen, NULL, handle, m, err, sizeof err);
	if (m->httpd == NULL)
		pf_log(PF_LOG_ERROR, NULL, "own endpoint: %s; /metrics, /healthz and /ready are off (change listen "
		       "and reload)", err);
	else
		pf_log(PF_LOG_INFO, NULL, "own endpoint on %s: /metrics /healthz /ready", m->listen);
}

pf_selfmon *pf_selfmon_new(uv_loop_t *loop, const char *listen, const pf_selfmon_opts *o)
{
	pf_selfmon *m = calloc(1, sizeof(*m));
	if (m == NULL || (m->listen = strdup(listen ? listen : "")) == NULL) {
		free(m);
		return NULL;
	}
	m->loop = loop;
	m->o = *o;
	start(m);
	return m;
}

void pf_selfmon_reconfigure(pf_selfmon *m, const char *listen)
{
	if (m == NULL || strcmp(m->listen, listen ? listen : "") == 0)
		return;
	char *l = strdup(listen ? listen : "");
	if (l == NULL) {
		pf_log(PF_LOG_ERROR, NULL, "own endpoint: out of memory; it stays on %s", m->listen);
		return;
	}
	/* The listening socket is closed at once, so the new one may take
	 * the same port. */
	pf_httpd_close(m->httpd, NULL, NULL);
	m->httpd = NULL;
	free(m->listen);
	m->listen = l;
	start(m);
}

void pf_selfmon_close(pf_selfmon *m)
{
	if (m == NULL)
		return;
	pf_httpd_close(m->httpd, NULL, NULL);
	free(m->listen);
	free(m);
}
