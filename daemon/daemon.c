/*
 * daemon.c: start, run and stop the scraping daemon (see daemon.h).
 *
 * Policy lives here: what is fatal at start (no sink can be opened, the
 * HTTP client cannot start), how long a stop waits for scrapes in flight
 * (the longest job timeout, at most 5 s; then they are cancelled and not
 * written; then each InfluxDB output gets [global] shutdown_timeout to
 * deliver what it holds), what the signals do (SIGINT/SIGTERM stop,
 * SIGHUP reopens file sinks, SIGPIPE is ignored so a closed stdout is an
 * EPIPE error).
 *
 * --once writes to stdout only, whatever outputs the file configures: it
 * is for looking at what a configuration produces, and must not append
 * test scrapes to production files.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "http.h"
#include "log.h"
#include "pf_version.h"
#include "scrape.h"
#include "schedule.h"
#include "sink.h"

#define STOP_GRACE_MAX_MS 5000

typedef struct daemon {
	uv_loop_t loop;
	const pf_config *cfg;
	int once;
	pf_http *http;
	pf_sink **sinks;
	size_t nsinks;
	pf_scraper *scraper;
	pf_sched *sched;
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_timer_t stop_timer;  /* the stop's grace period, then the deferred tear-down */
	int stopping;
	int torn_down;
	size_t once_left;
	size_t once_failed;
} daemon;

static void teardown_cb(uv_timer_t *h);

/* Tear-down runs from its own timer callback, never from inside an HTTP
 * callback (pf_http_close must not run inside pf_http's own callbacks). */
static void schedule_teardown(daemon *d)
{
	uv_timer_stop(&d->stop_timer);
	uv_timer_start(&d->stop_timer, teardown_cb, 0, 0);
}

static void grace_cb(uv_timer_t *h)
{
	daemon *d = h->data;
	size_t n = pf_scraper_running(d->scraper);
	if (n) {
		pf_log(PF_LOG_WARN, NULL, "stop: cancelling %zu scrape%s still running; their data is not written",
		       n, n == 1 ? "" : "s");
		pf_scraper_cancel_all(d->scraper);
	}
	/* The cancelled scrapes' callbacks come from the loop; the last one
	 * schedules the tear-down (see scrape_done). */
	if (pf_scraper_running(d->scraper) == 0)
		schedule_teardown(d);
}

static void stop(daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	if (why)
		pf_log(PF_LOG_INFO, NULL, "stopping: %s", why);
	pf_sched_stop(d->sched);
	if (d->scraper == NULL || pf_scraper_running(d->scraper) == 0) {
		schedule_teardown(d);
		return;
	}
	uint64_t grace = 0;
	for (size_t i = 0; i < d->cfg->njobs; i++)
		if (d->cfg->jobs[i].timeout_ms > grace)
			grace = d->cfg->jobs[i].timeout_ms;
	if (grace > STOP_GRACE_MAX_MS || grace == 0)
		grace = STOP_GRACE_MAX_MS;
	uv_timer_start(&d->stop_timer, grace_cb, grace, 0);
}

static void scrape_done(void *ud, size_t id, int ok)
{
	daemon *d = ud;
	pf_sched_done(d->sched, id);
	if (d->once) {
		if (!ok)
			d->once_failed++;
		if (--d->once_left == 0)
			stop(d, NULL);
	}
	if (d->stopping && !d->torn_down && pf_scraper_running(d->scraper) == 0)
		schedule_teardown(d);
}

static int sched_start(void *ud, size_t id)
{
	daemon *d = ud;
	int rc = pf_scrape_start(d->scraper, id);
	if (rc != 0 && d->once) {
		/* Failed at once (logged; up = 0 written when it could be): it
		 * counts as done. */
		d->once_failed++;
		if (--d->once_left == 0)
			stop(d, NULL);
	}
	return rc;
}

static void signal_cb(uv_signal_t *h, int signum)
{
	daemon *d = h->data;
	if (signum == SIGHUP) {
		pf_log(PF_LOG_INFO, NULL, "SIGHUP: reopening file outputs");
		for (size_t i = 0; i < d->nsinks; i++)
			pf_sink_reopen(d->sinks[i]);
		return;
	}
	stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void nop_done(void *ud)
{
	(void)ud;
}

static void teardown_cb(uv_timer_t *h)
{
	daemon *d = h->data;
	if (d->torn_down)
		return;
	d->torn_down = 1;
	if (!d->once && d->sched != NULL && d->scraper != NULL) {
		const pf_sched_stats *ss = pf_sched_get_stats(d->sched);
		const pf_scraper_stats *st = pf_scraper_get_stats(d->scraper);
		pf_log(PF_LOG_INFO, NULL, "stopped: %llu scrapes, %llu failed, %llu samples, %llu parse errors, "
		       "%llu ticks skipped (busy), %llu dropped (late)",
		       (unsigned long long)st->scrapes, (unsigned long long)st->failed,
		       (unsigned long long)st->samples, (unsigned long long)st->parse_errors,
		       (unsigned long long)ss->skipped_busy, (unsigned long long)ss->skipped_late);
	}
	/* Parts a failed start never created are NULL and skipped. */
	if (d->sched != NULL)
		pf_sched_close(d->sched, nop_done, NULL);
	d->sched = NULL;
	if (d->http != NULL)
		pf_http_close(d->http, nop_done, NULL);
	d->http = NULL;
	for (size_t i = 0; i < d->nsinks; i++)
		pf_sink_close(d->sinks[i], nop_done, NULL);
	d->nsinks = 0;
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->stop_timer, NULL);
}

static int open_sinks(daemon *d, enum pf_precision *prec)
{
	const pf_config *c = d->cfg;
	size_t n = (d->once || c->noutputs == 0) ? 1 : c->noutputs;
	d->sinks = calloc(n, sizeof(pf_sink *));
	if (d->sinks == NULL)
		return -ENOMEM;
	*prec = c->noutputs ? c->outputs[0].precision : PF_PREC_MS;
	for (size_t i = 0; i < c->noutputs; i++) {
		if (c->outputs[i].precision != *prec) {
			pf_log(PF_LOG_CRIT, NULL, "output %s: its precision differs from output %s's; "
			       "every output must use the same precision for now",
			       c->outputs[i].name, c->outputs[0].name);
			return -EINVAL;
		}
	}
	if (d->once || c->noutputs == 0) {
		d->sinks[0] = pf_sink_stdout_new(&d->loop, "stdout");
		if (d->sinks[0] == NULL)
			return -ENOMEM;
		d->nsinks = 1;
		return 0;
	}
	for (size_t i = 0; i < c->noutputs; i++) {
		const pf_output *o = &c->outputs[i];
		pf_sink *s = NULL;
		int err = -ENOMEM;
		if (o->type == PF_OUTPUT_INFLUXDB_V1 || o->type == PF_OUTPUT_INFLUXDB_V2) {
			char why[256];
			s = pf_sink_influx_new(&d->loop, o, c->shutdown_timeout_ms, why, sizeof(why));
			if (s == NULL) {
				pf_log(PF_LOG_CRIT, NULL, "output %s: cannot start: %s", o->name, why);
				return -ENOMEM;
			}
		} else if (o->type == PF_OUTPUT_FILE) {
			s = pf_sink_file_new(&d->loop, o->name, o->path, &err);
		} else {
			s = pf_sink_stdout_new(&d->loop, o->name);
		}
		if (s == NULL) {
			pf_log(PF_LOG_CRIT, NULL, "output %s: cannot open %s: %s", o->name,
			       o->path ? o->path : "stdout", strerror(-err));
			return err;
		}
		d->sinks[d->nsinks++] = s;
	}
	return 0;
}

static void log_start(const daemon *d)
{
	char outs[1024];
	size_t o = 0;
	outs[0] = '\0';
	for (size_t i = 0; i < d->cfg->noutputs && !d->once && o < sizeof(outs); i++) {
		const pf_output *p = &d->cfg->outputs[i];
		static const char *const kind[] = { "stdout", "file ", "influxdb_v1 ", "influxdb_v2 " };
		const char *where = p->type == PF_OUTPUT_FILE ? p->path : p->type == PF_OUTPUT_STDOUT ? "" : p->url;
		o += (size_t)snprintf(outs + o, sizeof(outs) - o, "%s%s (%s%s)", i ? ", " : "", p->name,
				      kind[p->type], where ? where : "");
	}
	size_t nt = pf_scraper_ntargets(d->scraper);
	pf_log(PF_LOG_INFO, NULL, "promflux %s starting%s: %s; %zu target%s in %zu job%s; outputs: %s",
	       PF_VERSION, d->once ? " (--once)" : "", pf_http_version(), nt, nt == 1 ? "" : "s",
	       d->cfg->njobs, d->cfg->njobs == 1 ? "" : "s", o ? outs : "stdout");
}

/*
 * Every target keeps an idle keep-alive connection between its scrapes (an
 * fd each), so 10,000 targets need more than the usual soft limit of 1,024
 * files. Raise the soft limit to the hard one (no privilege needed) before
 * the HTTP client sizes its connection pool from it, and say what we got.
 */
static void raise_nofile(size_t ntargets)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		pf_log(PF_LOG_WARN, NULL, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	rlim_t old = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			pf_log(PF_LOG_WARN, NULL, "raising the open files limit from %llu to %llu failed: %s",
			       (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = old;
		}
	}
	/* Half the limit goes to idle connections (see http.c). */
	int low = rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < ntargets;
	pf_log(low ? PF_LOG_WARN : PF_LOG_INFO, NULL,
	       "open files limit %llu (was %llu, hard limit %llu)%s",
	       (unsigned long long)rl.rlim_cur, (unsigned long long)old, (unsigned long long)rl.rlim_max,
	       low ? "; below two per target: some scrapes will open a new connection each time "
		     "(raise LimitNOFILE / ulimit -Hn)" : "");
}

static int start_signal(daemon *d, uv_signal_t *h, int sig)
{
	int rc = uv_signal_init(&d->loop, h);
	if (rc != 0)
		return rc;
	h->data = d;
	return uv_signal_start(h, signal_cb, sig);
}

int pf_daemon_run(const pf_config *cfg, int once)
{
	daemon dd, *d = &dd;
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->once = once;
	int status = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (uv_loop_init(&d->loop) != 0) {
		pf_log(PF_LOG_CRIT, NULL, "cannot start the event loop");
		return 1;
	}
	/* From here on every handle is closed through teardown_cb, even on a
	 * failed start, so that the loop closes cleanly. */
	uv_timer_init(&d->loop, &d->stop_timer);
	d->stop_timer.data = d;
	int rc = start_signal(d, &d->sig_int, SIGINT);
	if (rc == 0)
		rc = start_signal(d, &d->sig_term, SIGTERM);
	if (rc == 0)
		rc = start_signal(d, &d->sig_hup, SIGHUP);
	enum pf_precision prec = PF_PREC_MS;
	if (rc == 0) {
		size_t nt = 0;
		for (size_t i = 0; i < cfg->njobs; i++)
			nt += cfg->jobs[i].nurls;
		raise_nofile(nt);
	}
	if (rc == 0)
		rc = open_sinks(d, &prec);
	if (rc == 0 && (d->http = pf_http_new(&d->loop)) == NULL) {
		pf_log(PF_LOG_CRIT, NULL, "cannot start the HTTP client (libcurl)");
		rc = -ENOMEM;
	}
	char err[256];
	if (rc == 0) {
		pf_scraper_opts so = {
			.cfg = cfg, .http = d->http, .sinks = d->sinks, .nsinks = d->nsinks,
			.precision = prec, .done = scrape_done, .ud = d,
		};
		if ((d->scraper = pf_scraper_new(&so, err, sizeof(err))) == NULL) {
			pf_log(PF_LOG_CRIT, NULL, "cannot set up the targets: %s", err);
			rc = -ENOMEM;
		}
	}
	if (rc == 0 && (d->sched = pf_sched_new(&d->loop, cfg->max_concurrent_scrapes,
						once ? 0 : cfg->jitter_ms, sched_start, d)) == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < pf_scraper_ntargets(d->scraper); i++) {
		const pf_job *j = pf_scraper_job(d->scraper, i);
		long id = pf_sched_add(d->sched, j->name, pf_scraper_url(d->scraper, i), j->interval_ms);
		if (id < 0)
			rc = (int)id;
	}
	if (rc == 0) {
		d->once_left = pf_scraper_ntargets(d->scraper);
		log_start(d);
		rc = pf_sched_start(d->sched, once);
	}
	if (rc == 0 && once && d->once_left == 0)
		stop(d, NULL);
	if (rc != 0) {
		/* Always said, even after a more specific line above: a start
		 * that fails must never exit 1 without a word. */
		pf_log(PF_LOG_CRIT, NULL, "cannot start: %s", uv_strerror(rc));
		d->stopping = 1;
		schedule_teardown(d);
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (rc == 0)
		status = once ? (d->once_failed ? 1 : 0) : 0;
	pf_scraper_free(d->scraper);
	free(d->sinks);
	int lc = uv_loop_close(&d->loop);
	if (lc != 0) {
		pf_log(PF_LOG_ERROR, NULL, "the event loop did not close cleanly: %s", uv_strerror(lc));
		status = 1;
	}
	return status;
}
