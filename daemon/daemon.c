/*
 * daemon.c: start, run, reload and stop the scraping daemon (see daemon.h).
 *
 * Policy lives here: what is fatal at start (no sink can be opened, the
 * HTTP client cannot start), how long a stop waits for scrapes in flight
 * (the longest job timeout, at most 5 s; then they are cancelled and not
 * written; then each InfluxDB output gets [global] shutdown_timeout to
 * deliver what it holds), what the signals do (SIGINT/SIGTERM stop,
 * SIGHUP reloads the configuration and reopens file outputs, SIGPIPE is
 * ignored so a closed stdout is an EPIPE error), and what systemd is told
 * (sdnotify.h: READY, RELOADING, STOPPING, WATCHDOG).
 *
 * A reload. The configuration is immutable; a reload loads the file again
 * and, when it is valid, builds a new generation (scraper + scheduler of
 * the new configuration) while the old generation's scrapes in flight
 * finish and are written. Outputs are matched by name: one whose settings
 * did not change keeps running as it is (its connections, its queue); a
 * changed one is opened anew and takes over every point the old one holds
 * that is not in flight (same precision; the old one then only finishes its
 * writes in flight); a removed one is closed as at a stop, delivering what
 * it holds within shutdown_timeout. Targets are matched by job name and URL
 * (scrape.h: counters carry on, never two scrapes of a target at once), and
 * their phase is a hash of both, so an unchanged target keeps its rhythm.
 * An invalid configuration, or one whose outputs cannot be opened, is
 * reported and the running one goes on untouched.
 *
 * Lifetimes. A configuration is shared by its generation and by the
 * outputs that borrow its pf_output while they close: it is counted
 * (cfgref) and freed by the last of them. A retired generation is freed
 * when its scrapes have ended, oldest first (a scraper's targets point to
 * their successors'; see pf_scraper_adopt), always from a timer callback,
 * never from inside its own scrape's callback.
 *
 * --once writes to stdout only, whatever outputs the file configures: it
 * is for looking at what a configuration produces, and must not append
 * test scrapes to production files.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "http.h"
#include "log.h"
#include "pf_version.h"
#include "schedule.h"
#include "scrape.h"
#include "sdnotify.h"
#include "selfmon.h"
#include "sink.h"

#define STOP_GRACE_MAX_MS 5000
/* File events come in bursts (an editor's save, a ConfigMap's swap). */
#define WATCH_SETTLE_MS 500
/* Largest configuration file read to see whether it changed. */
#define WATCH_MAX_BYTES (16u << 20)

typedef struct daemon daemon;

typedef struct cfgref {
	pf_config *cfg;
	unsigned refs;
} cfgref;

/* One configuration's scraping: its targets and their timers. */
typedef struct gen {
	daemon *d;
	cfgref *cr;
	pf_scraper *scraper;
	pf_sched *sched;
	struct gen *next;       /* the retired list, oldest first */
} gen;

/* A running output. */
typedef struct out {
	pf_sink *sink;
	const pf_output *o;     /* its settings, in the current configuration;
				 * NULL: the stdout of --once or of a file with no [output] */
	long keep;              /* while reloading: the old output kept as it is, or -1 */
	long prev;              /* while reloading: the old output of the same name, or -1 */
} out;

struct daemon {
	uv_loop_t loop;
	pf_daemon_opts opts;
	pf_http *http;          /* the scrapes' HTTP client, shared by every generation */
	out *outs;
	size_t nouts;
	pf_sink **sinks;        /* outs' sinks, as the scrapers borrow them */
	gen *cur;
	gen *retired, *retired_tail;
	pf_scraper_stats totals;  /* every generation counts here */
	pf_sched_stats sched_base; /* counters of the freed schedulers */
	pf_selfmon *selfmon;
	uv_signal_t sig_int, sig_term, sig_hup;
	int signals;            /* signal handles initialised */
	uv_timer_t stop_timer;  /* the stop's grace period, then the deferred tear-down */
	uv_timer_t reap_timer;  /* frees retired generations */
	uv_timer_t watchdog_timer;
	uv_timer_t watch_timer; /* settles file events */
	uv_fs_event_t watch;
	int watch_init;         /* watch initialised */
	int watching;           /* watch started */
	uint64_t file_hash;     /* of the configuration file last loaded */
	int stopping;
	int torn_down;
	size_t once_left;
	size_t once_failed;
	pf_daemon_reloads reloads;
};

static void teardown_cb(uv_timer_t *h);

static void cfg_unref(cfgref *cr)
{
	if (cr != NULL && --cr->refs == 0) {
		pf_config_free(cr->cfg);
		free(cr);
	}
}

static void unref_done(void *ud)
{
	cfg_unref(ud);
}

static const pf_config *cur_cfg(const daemon *d)
{
	return d->cur->cr->cfg;
}

static size_t running_total(const daemon *d)
{
	size_t n = d->cur ? pf_scraper_running(d->cur->scraper) : 0;
	for (const gen *g = d->retired; g != NULL; g = g->next)
		n += pf_scraper_running(g->scraper);
	return n;
}

/* Tear-down runs from its own timer callback, never from inside an HTTP
 * callback (pf_http_close must not run inside pf_http's own callbacks). */
static void schedule_teardown(daemon *d)
{
	uv_timer_stop(&d->stop_timer);
	uv_timer_start(&d->stop_timer, teardown_cb, 0, 0);
}

static void cancel_all(daemon *d)
{
	if (d->cur)
		pf_scraper_cancel_all(d->cur->scraper);
	for (gen *g = d->retired; g != NULL; g = g->next)
		pf_scraper_cancel_all(g->scraper);
}

static void grace_cb(uv_timer_t *h)
{
	daemon *d = h->data;
	size_t n = running_total(d);
	if (n) {
		pf_log(PF_LOG_WARN, NULL, "stop: cancelling %zu scrape%s still running; their data is not written",
		       n, n == 1 ? "" : "s");
		cancel_all(d);
	}
	/* The cancelled scrapes' callbacks come from the loop; the last one
	 * schedules the tear-down (see scrape_done). */
	if (running_total(d) == 0)
		schedule_teardown(d);
}

static void stop(daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	pf_sdnotify("STOPPING=1");
	if (why)
		pf_log(PF_LOG_INFO, NULL, "stopping: %s", why);
	uv_timer_stop(&d->watch_timer);
	if (d->cur)
		pf_sched_stop(d->cur->sched);
	if (running_total(d) == 0) {
		schedule_teardown(d);
		return;
	}
	uint64_t grace = 0;
	for (const gen *g = d->cur; g != NULL; g = g == d->cur ? d->retired : g->next) {
		const pf_config *c = g->cr->cfg;
		for (size_t i = 0; i < c->njobs; i++)
			if (c->jobs[i].timeout_ms > grace)
				grace = c->jobs[i].timeout_ms;
	}
	if (grace > STOP_GRACE_MAX_MS || grace == 0)
		grace = STOP_GRACE_MAX_MS;
	uv_timer_start(&d->stop_timer, grace_cb, grace, 0);
}

/* ---- generations ---- */

static void add_sched_stats(pf_sched_stats *to, const pf_sched_stats *s)
{
	to->ticks += s->ticks;
	to->started += s->started;
	to->skipped_busy += s->skipped_busy;
	to->skipped_late += s->skipped_late;
	to->queued += s->queued;
	if (s->max_running > to->max_running)
		to->max_running = s->max_running;
}

static void gen_closed(void *ud)
{
	gen *g = ud;
	cfg_unref(g->cr);
	free(g);
}

/* Frees g's scraper now and its scheduler from the loop. */
static void gen_free(gen *g)
{
	pf_scraper_free(g->scraper);
	g->scraper = NULL;
	if (g->sched != NULL) {
		pf_sched_close(g->sched, gen_closed, g);
	} else {
		gen_closed(g);
	}
}

/* Frees the retired generations whose scrapes have ended, oldest first. */
static void reap_cb(uv_timer_t *h)
{
	daemon *d = h->data;
	while (d->retired != NULL && pf_scraper_running(d->retired->scraper) == 0) {
		gen *g = d->retired;
		d->retired = g->next;
		if (d->retired == NULL)
			d->retired_tail = NULL;
		gen_free(g);
	}
}

static void scrape_done(void *ud, size_t id, int ok)
{
	gen *g = ud;
	daemon *d = g->d;
	pf_sched_done(g->sched, id);
	if (d->opts.once) {
		if (!ok)
			d->once_failed++;
		if (--d->once_left == 0)
			stop(d, NULL);
	}
	if (g != d->cur && !d->torn_down)
		uv_timer_start(&d->reap_timer, reap_cb, 0, 0);
	if (d->stopping && !d->torn_down && running_total(d) == 0)
		schedule_teardown(d);
}

static int sched_start(void *ud, size_t id)
{
	gen *g = ud;
	daemon *d = g->d;
	int rc = pf_scrape_start(g->scraper, id);
	if (rc != 0 && d->opts.once) {
		/* Failed at once (logged; up = 0 written when it could be): it
		 * counts as done. */
		d->once_failed++;
		if (--d->once_left == 0)
			stop(d, NULL);
	}
	return rc;
}

static enum pf_precision cfg_precision(const pf_config *c)
{
	return c->noutputs ? c->outputs[0].precision : PF_PREC_MS;
}

/* A generation for cfg writing to sinks; NULL (logged) when it cannot be
 * built. Takes cfg only when it succeeds. */
static gen *gen_new(daemon *d, pf_config *cfg, pf_sink *const *sinks, size_t nsinks)
{
	gen *g = calloc(1, sizeof(*g));
	cfgref *cr = calloc(1, sizeof(*cr));
	char err[256] = "out of memory";
	if (g == NULL || cr == NULL)
		goto fail;
	g->d = d;
	pf_scraper_opts so = {
		.cfg = cfg, .http = d->http, .sinks = sinks, .nsinks = nsinks,
		.precision = cfg_precision(cfg), .done = scrape_done, .ud = g, .stats = &d->totals,
	};
	if ((g->scraper = pf_scraper_new(&so, err, sizeof(err))) == NULL)
		goto fail;
	g->sched = pf_sched_new(&d->loop, cfg->max_concurrent_scrapes, d->opts.once ? 0 : cfg->jitter_ms,
				cfg->slack_ms, sched_start, g);
	if (g->sched == NULL)
		goto fail;
	for (size_t i = 0; i < pf_scraper_ntargets(g->scraper); i++) {
		const pf_job *j = pf_scraper_job(g->scraper, i);
		long id = pf_sched_add(g->sched, j->name, pf_scraper_url(g->scraper, i), j->interval_ms);
		if (id < 0) {
			snprintf(err, sizeof(err), "%s", uv_strerror((int)id));
			goto fail;
		}
	}
	cr->cfg = cfg;
	cr->refs = 1;
	g->cr = cr;
	return g;
fail:
	pf_log(PF_LOG_CRIT, NULL, "cannot set up the targets: %s", err);
	free(cr);
	if (g != NULL) {
		g->cr = NULL;
		gen_free(g);
	}
	return NULL;
}

/* ---- outputs ---- */

/* Every output must write timestamps of one precision (the scrape encodes
 * once for all of them). */
static int check_precision(const pf_config *c)
{
	for (size_t i = 1; i < c->noutputs; i++) {
		if (c->outputs[i].precision != c->outputs[0].precision) {
			pf_log(PF_LOG_CRIT, NULL, "output %s: its precision differs from output %s's; "
			       "every output must use the same precision for now",
			       c->outputs[i].name, c->outputs[0].name);
			return -EINVAL;
		}
	}
	return 0;
}

/* An output's spool directory: <state_directory>/spool/<name>-<precision>,
 * the name with every byte outside [A-Za-z0-9_-] written %XX (so two
 * names never share one, and none is "." or ".."). The precision is in
 * the name because a spooled batch's timestamps are in it. */
static void spool_dir(const pf_config *c, const pf_output *o, char *buf, size_t cap)
{
	static const char *const prec[] = { "ns", "us", "ms", "s" };
	size_t n = (size_t)snprintf(buf, cap, "%s/spool/", c->state_directory);
	for (const unsigned char *p = (const unsigned char *)o->name; *p && n + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		    *p == '-')
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
	}
	if (n < cap)
		snprintf(buf + n, cap - n, "-%s", prec[o->precision]);
}

/* defer: a reload's predecessor of the same name and precision hands its
 * spool over (pf_writer_adopt). */
static pf_sink *open_sink(daemon *d, const pf_config *c, const pf_output *o, int defer)
{
	if (o == NULL)
		return pf_sink_stdout_new(&d->loop, "stdout");
	pf_sink *s = NULL;
	int err = -ENOMEM;
	if (o->type == PF_OUTPUT_INFLUXDB_V1 || o->type == PF_OUTPUT_INFLUXDB_V2) {
		char why[256], dir[4096];
		spool_dir(c, o, dir, sizeof dir);
		pf_writer_opts wo = { .shutdown_ms = c->shutdown_timeout_ms, .spool_dir = o->spool ? dir : NULL,
				      .spool_defer = defer };
		s = pf_sink_influx_new(&d->loop, o, &wo, why, sizeof(why));
		if (s == NULL)
			pf_log(PF_LOG_CRIT, NULL, "output %s: cannot start: %s", o->name, why);
		return s;
	}
	if (o->type == PF_OUTPUT_FILE)
		s = pf_sink_file_new(&d->loop, o->name, o->path, &err);
	else
		s = pf_sink_stdout_new(&d->loop, o->name);
	if (s == NULL)
		pf_log(PF_LOG_CRIT, NULL, "output %s: cannot open %s: %s", o->name, o->path ? o->path : "stdout",
		       strerror(-err));
	return s;
}

static int same_name(const out *a, const pf_output *o)
{
	if (a->o == NULL || o == NULL)
		return a->o == o;
	return strcmp(a->o->name, o->name) == 0;
}

/* Kept as it runs: the same settings, and the same [global]
 * shutdown_timeout, which a writer takes at its start. */
static int same_output(const daemon *d, const out *a, const pf_config *c, const pf_output *o)
{
	if (a->o == NULL || o == NULL)
		return a->o == o;
	return pf_output_equal(a->o, o) && cur_cfg(d)->shutdown_timeout_ms == c->shutdown_timeout_ms;
}

/* Closes a sink that may borrow cr's configuration while it flushes. */
static void close_sink(pf_sink *s, cfgref *cr)
{
	if (cr != NULL) {
		cr->refs++;
		pf_sink_close(s, unref_done, cr);
	} else {
		pf_sink_close(s, NULL, NULL);
	}
}

/* Closes the outputs outputs_open() opened and frees o; c, which they
 * borrow while they close, is freed after the last of them. */
static void outputs_discard(out *o, size_t n, pf_config *c)
{
	cfgref *cr = calloc(1, sizeof(*cr));
	if (cr == NULL) {
		/* Leaked rather than freed under outputs still closing. */
		pf_log(PF_LOG_ERROR, NULL, "out of memory closing outputs");
		c = NULL;
	} else {
		cr->cfg = c;
		cr->refs = 1;
	}
	for (size_t i = 0; o != NULL && i < n; i++)
		if (o[i].keep < 0 && o[i].sink != NULL)
			close_sink(o[i].sink, cr);
	if (cr != NULL)
		cfg_unref(cr);
	free(o);
}

/* Plans and opens the outputs of c: those running unchanged are marked to
 * keep (not opened again), the others opened. Returns 0 with the new set
 * in *res, or -1 (logged) with what was opened in *res (see
 * outputs_discard()). */
static int outputs_open(daemon *d, const pf_config *c, out **res, size_t *n)
{
	int implicit = d->opts.once || c->noutputs == 0;
	size_t k = implicit ? 1 : c->noutputs;
	out *o = calloc(k, sizeof(*o));
	*res = o;
	*n = 0;
	if (o == NULL) {
		pf_log(PF_LOG_CRIT, NULL, "out of memory opening the outputs");
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		const pf_output *po = implicit ? NULL : &c->outputs[i];
		o[i].o = po;
		o[i].keep = o[i].prev = -1;
		for (size_t j = 0; j < d->nouts; j++) {
			if (!same_name(&d->outs[j], po))
				continue;
			o[i].prev = (long)j;
			if (same_output(d, &d->outs[j], c, po))
				o[i].keep = (long)j;
		}
		*n = i + 1;
		int defer = 0;
		if (o[i].prev >= 0) {
			const out *p = &d->outs[o[i].prev];
			defer = pf_sink_writer(p->sink) != NULL && po != NULL && p->o->precision == po->precision;
		}
		if (o[i].keep < 0 && (o[i].sink = open_sink(d, c, po, defer)) == NULL)
			return -1;
	}
	return 0;
}

/* Swaps in the outputs outputs_open planned: kept ones move over (borrowing
 * their settings from the new configuration), a changed output's points
 * go to its successor, the rest of the old set closes. */
static void outputs_commit(daemon *d, out *o, size_t n, pf_sink **sinks, int hup)
{
	cfgref *old_cr = d->cur ? d->cur->cr : NULL;
	size_t kept = 0, changed = 0, added = 0, removed = 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i].keep >= 0) {
			out *prev = &d->outs[o[i].keep];
			o[i].sink = prev->sink;
			prev->sink = NULL;
			pf_writer *w = pf_sink_writer(o[i].sink);
			if (w != NULL)
				pf_writer_set_output(w, o[i].o);
			if (hup)
				pf_sink_reopen(o[i].sink);
			kept++;
			continue;
		}
		if (o[i].prev < 0) {
			added++;
			continue;
		}
		changed++;
		out *prev = &d->outs[o[i].prev];
		pf_writer *w = pf_sink_writer(o[i].sink), *pw = pf_sink_writer(prev->sink);
		if (w != NULL && pw != NULL && prev->o->precision == o[i].o->precision)
			pf_writer_adopt(w, pw);
	}
	for (size_t j = 0; j < d->nouts; j++) {
		if (d->outs[j].sink == NULL)
			continue;
		int gone = 1;
		for (size_t i = 0; i < n; i++)
			gone &= o[i].prev != (long)j;
		removed += (size_t)gone;
		close_sink(d->outs[j].sink, old_cr);
	}
	for (size_t i = 0; i < n; i++)
		sinks[i] = o[i].sink;
	free(d->outs);
	free(d->sinks);
	d->outs = o;
	d->nouts = n;
	d->sinks = sinks;
	if (d->cur != NULL)
		pf_log(PF_LOG_INFO, NULL, "outputs: %zu kept, %zu changed, %zu added, %zu removed", kept, changed,
		       added, removed);
}

/* ---- reload ---- */

static void reload_err(void *ud, const char *msg)
{
	(void)ud;
	pf_log(PF_LOG_ERROR, NULL, "reload: %s", msg);
}

/* FNV-1a of the file, 0 when it cannot be read (then any event reloads). */
static uint64_t file_hash(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t h = PF_FNV_OFFSET;
	char buf[8192];
	size_t total = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0 && total < WATCH_MAX_BYTES) {
		h = pf_fnv1a(h, buf, (size_t)r);
		total += (size_t)r;
	}
	close(fd);
	return r < 0 ? 0 : h;
}

static void watch_update(daemon *d);

/* Frees c (after the outputs o opened for it have closed). */
static void reload_failed(daemon *d, pf_config *c, out *o, size_t n, const char *why)
{
	outputs_discard(o, n, c);
	d->reloads.failed++;
	pf_log(PF_LOG_ERROR, NULL, "reload of %s failed: %s; the running configuration is kept", d->opts.path, why);
	pf_sdnotify("READY=1\nSTATUS=reload failed; running the previous configuration");
}

static void reload(daemon *d, const char *why, int hup)
{
	if (d->stopping || d->opts.once || d->cur == NULL)
		return;
	pf_sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)pf_sdnotify_monotonic_usec());
	pf_log(PF_LOG_INFO, NULL, "reloading %s (%s)", d->opts.path, why);
	d->file_hash = file_hash(d->opts.path);
	unsigned nerr = 0;
	pf_config *c = pf_config_load(d->opts.path, reload_err, d, &nerr);
	if (c == NULL) {
		char m[64];
		snprintf(m, sizeof m, "%u configuration error%s (listed above)", nerr, nerr == 1 ? "" : "s");
		reload_failed(d, NULL, NULL, 0, m);
		return;
	}
	if (check_precision(c) != 0) {
		reload_failed(d, c, NULL, 0, "the outputs' precisions differ");
		return;
	}
	size_t n = 0;
	out *o = NULL;
	pf_sink **sinks = NULL;
	gen *g = NULL;
	/* The scraper takes the array now, its content at the commit below
	 * (it starts no scrape before). */
	if (outputs_open(d, c, &o, &n) == 0 && (sinks = calloc(n, sizeof(pf_sink *))) != NULL)
		g = gen_new(d, c, sinks, n);
	if (g == NULL) {
		free(sinks);
		reload_failed(d, c, o, n, "the new outputs or targets could not be set up (see above)");
		return;
	}
	gen *old = d->cur;
	/* The ticks due by now that the slack or the jitter held back start
	 * under the old configuration (the new schedule begins after now),
	 * before the new scraper takes note of what the old one runs. */
	pf_sched_flush(old->sched);
	pf_scraper_adopt(g->scraper, old->scraper);
	outputs_commit(d, o, n, sinks, hup);
	/* The old generation: no more ticks (its counters are final); its
	 * scrapes in flight end and are written to the new outputs, unless
	 * their timestamps are of another precision. */
	pf_sched_stop(old->sched);
	add_sched_stats(&d->sched_base, pf_sched_get_stats(old->sched));
	/* The targets kept take their next tick from the old schedule: none
	 * loses the tick at the reload's instant or gets it twice. */
	long kept = pf_sched_follow(g->sched, old->sched);
	if (kept < 0)
		pf_log(PF_LOG_WARN, NULL, "reload: %s; the targets start from the clock (a tick due at this "
		       "instant may be skipped or run twice)", uv_strerror((int)kept));
	if (cfg_precision(c) != cfg_precision(old->cr->cfg) && running_total(d) > 0) {
		pf_log(PF_LOG_WARN, NULL, "reload: the precision changed: cancelling %zu scrape%s of the previous "
		       "configuration still running; their data is not written", running_total(d),
		       running_total(d) == 1 ? "" : "s");
		cancel_all(d);
	}
	if (d->retired_tail)
		d->retired_tail->next = old;
	else
		d->retired = old;
	d->retired_tail = old;
	d->cur = g;
	for (gen *r = d->retired; r != NULL; r = r->next)
		pf_scraper_set_sinks(r->scraper, d->sinks, d->nouts);
	uv_timer_start(&d->reap_timer, reap_cb, 0, 0);
	if (!d->opts.log_level_forced)
		pf_log_set_level(c->log_level);
	pf_selfmon_reconfigure(d->selfmon, c->listen);
	watch_update(d);
	int rc = pf_sched_start(g->sched, 0);
	if (rc != 0)
		pf_log(PF_LOG_ERROR, NULL, "reload: the scheduler did not start: %s; no target is scraped",
		       uv_strerror(rc));
	d->reloads.ok++;
	d->reloads.last_ok_unix = (uint64_t)time(NULL);
	size_t nt = pf_scraper_ntargets(g->scraper);
	pf_log(PF_LOG_INFO, NULL, "reloaded: %zu target%s in %zu job%s", nt, nt == 1 ? "" : "s", c->njobs,
	       c->njobs == 1 ? "" : "s");
	pf_sdnotify("READY=1\nSTATUS=running");
}

static void watch_settled(uv_timer_t *h)
{
	daemon *d = h->data;
	uint64_t fh = file_hash(d->opts.path);
	if (fh != 0 && fh == d->file_hash)
		return; /* touched, not changed */
	reload(d, "the file changed", 0);
}

static void watch_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	daemon *d = h->data;
	(void)filename;
	(void)events;
	if (status < 0) {
		pf_log(PF_LOG_WARN, NULL, "watching %s: %s; reload with SIGHUP", d->opts.path, uv_strerror(status));
		return;
	}
	/* Any change in the directory (an atomic rename, a ConfigMap's
	 * ..data swap) may be ours: the content decides, once it settles. */
	uv_timer_start(&d->watch_timer, watch_settled, WATCH_SETTLE_MS, 0);
}

/* Starts or stops watching the configuration's directory as the current
 * configuration says. */
static void watch_update(daemon *d)
{
	int want = cur_cfg(d)->watch_config && !d->opts.once;
	if (want == d->watching)
		return;
	if (!want) {
		uv_fs_event_stop(&d->watch);
		d->watching = 0;
		return;
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", d->opts.path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int rc = uv_fs_event_start(&d->watch, watch_cb, dir, 0);
	if (rc != 0) {
		pf_log(PF_LOG_ERROR, NULL, "watch_config: cannot watch %s: %s; reload with SIGHUP", dir,
		       uv_strerror(rc));
		return;
	}
	d->watching = 1;
	pf_log(PF_LOG_INFO, NULL, "watching %s for changes of %s", dir, d->opts.path);
}

/* ---- signals, watchdog, tear-down ---- */

static void signal_cb(uv_signal_t *h, int signum)
{
	daemon *d = h->data;
	if (signum == SIGHUP) {
		reload(d, "SIGHUP", 1);
		return;
	}
	stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void watchdog_cb(uv_timer_t *h)
{
	(void)h;
	/* Sent from the loop: it proves the loop turns. */
	pf_sdnotify("WATCHDOG=1");
}

static void teardown_cb(uv_timer_t *h)
{
	daemon *d = h->data;
	if (d->torn_down)
		return;
	d->torn_down = 1;
	if (!d->opts.once && d->cur != NULL) {
		pf_sched_stats ss = d->sched_base;
		add_sched_stats(&ss, pf_sched_get_stats(d->cur->sched));
		const pf_scraper_stats *st = &d->totals;
		pf_log(PF_LOG_INFO, NULL, "stopped: %llu scrapes, %llu failed, %llu samples, %llu parse errors, "
		       "%llu ticks skipped (busy), %llu dropped (late)",
		       (unsigned long long)st->scrapes, (unsigned long long)st->failed,
		       (unsigned long long)st->samples, (unsigned long long)st->parse_errors,
		       (unsigned long long)ss.skipped_busy, (unsigned long long)ss.skipped_late);
	}
	/* Parts a failed start never created are NULL and skipped. */
	pf_selfmon_close(d->selfmon);
	d->selfmon = NULL;
	cfgref *cr = NULL;
	if (d->cur != NULL) {
		cr = d->cur->cr;
		cr->refs++; /* the closing outputs below may borrow it */
	}
	while (d->retired != NULL) {
		gen *g = d->retired;
		d->retired = g->next;
		gen_free(g);
	}
	if (d->cur != NULL)
		gen_free(d->cur);
	d->cur = NULL;
	if (d->http != NULL)
		pf_http_close(d->http, NULL, NULL);
	d->http = NULL;
	for (size_t i = 0; i < d->nouts; i++)
		if (d->outs[i].sink != NULL)
			close_sink(d->outs[i].sink, cr);
	d->nouts = 0;
	cfg_unref(cr);
	if (d->signals >= 1)
		uv_close((uv_handle_t *)&d->sig_int, NULL);
	if (d->signals >= 2)
		uv_close((uv_handle_t *)&d->sig_term, NULL);
	if (d->signals >= 3)
		uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->stop_timer, NULL);
	uv_close((uv_handle_t *)&d->reap_timer, NULL);
	uv_close((uv_handle_t *)&d->watchdog_timer, NULL);
	uv_close((uv_handle_t *)&d->watch_timer, NULL);
	if (d->watch_init)
		uv_close((uv_handle_t *)&d->watch, NULL);
}

/* ---- start ---- */

static void log_start(const daemon *d)
{
	const pf_config *c = cur_cfg(d);
	char outs[1024];
	size_t o = 0;
	outs[0] = '\0';
	for (size_t i = 0; i < c->noutputs && !d->opts.once && o < sizeof(outs); i++) {
		const pf_output *p = &c->outputs[i];
		static const char *const kind[] = { "stdout", "file ", "influxdb_v1 ", "influxdb_v2 " };
		const char *where = p->type == PF_OUTPUT_FILE ? p->path : p->type == PF_OUTPUT_STDOUT ? "" : p->url;
		o += (size_t)snprintf(outs + o, sizeof(outs) - o, "%s%s (%s%s)", i ? ", " : "", p->name,
				      kind[p->type], where ? where : "");
	}
	size_t nt = pf_scraper_ntargets(d->cur->scraper);
	pf_log(PF_LOG_INFO, NULL, "promflux %s starting%s: %s; %zu target%s in %zu job%s; outputs: %s",
	       PF_VERSION, d->opts.once ? " (--once)" : "", pf_http_version(), nt, nt == 1 ? "" : "s",
	       c->njobs, c->njobs == 1 ? "" : "s", o ? outs : "stdout");
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
	d->signals++;
	h->data = d;
	return uv_signal_start(h, signal_cb, sig);
}

static void timer_init(daemon *d, uv_timer_t *t)
{
	uv_timer_init(&d->loop, t); /* cannot fail on Linux: no fd, no allocation */
	t->data = d;
}

/* ---- what the own endpoint reads ---- */

static void view(void *ud, pf_selfmon_view *v)
{
	daemon *d = ud;
	v->cfg = d->cur ? cur_cfg(d) : NULL;
	v->scraper = d->cur ? d->cur->scraper : NULL;
	v->totals = &d->totals;
	v->sched = d->sched_base;
	if (d->cur)
		add_sched_stats(&v->sched, pf_sched_get_stats(d->cur->sched));
	v->running = running_total(d);
	v->sinks = d->sinks;
	v->nsinks = d->nouts;
	v->reloads = d->reloads;
	v->stopping = d->stopping;
}

int pf_daemon_run(pf_config *cfg, const pf_daemon_opts *opts)
{
	daemon dd, *d = &dd;
	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	int once = opts->once;
	int status = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (uv_loop_init(&d->loop) != 0) {
		pf_log(PF_LOG_CRIT, NULL, "cannot start the event loop");
		pf_config_free(cfg);
		return 1;
	}
	/* From here on every handle is closed through teardown_cb, even on a
	 * failed start, so that the loop closes cleanly. */
	timer_init(d, &d->stop_timer);
	timer_init(d, &d->reap_timer);
	timer_init(d, &d->watchdog_timer);
	timer_init(d, &d->watch_timer);
	int rc = uv_fs_event_init(&d->loop, &d->watch);
	d->watch_init = rc == 0;
	d->watch.data = d;
	if (rc == 0)
		rc = start_signal(d, &d->sig_int, SIGINT);
	if (rc == 0)
		rc = start_signal(d, &d->sig_term, SIGTERM);
	if (rc == 0)
		rc = start_signal(d, &d->sig_hup, SIGHUP);
	if (rc == 0) {
		size_t nt = 0;
		for (size_t i = 0; i < cfg->njobs; i++)
			nt += cfg->jobs[i].nurls;
		raise_nofile(nt);
		rc = check_precision(cfg);
	}
	d->file_hash = file_hash(opts->path);
	size_t n = 0;
	out *o = NULL;
	pf_sink **sinks = NULL;
	if (rc == 0 && (outputs_open(d, cfg, &o, &n) != 0 || (sinks = calloc(n, sizeof(pf_sink *))) == NULL))
		rc = -ENOMEM;
	if (rc == 0 && (d->http = pf_http_new(&d->loop)) == NULL) {
		pf_log(PF_LOG_CRIT, NULL, "cannot start the HTTP client (libcurl)");
		rc = -ENOMEM;
	}
	if (rc == 0) {
		outputs_commit(d, o, n, sinks, 0);
		o = NULL;
		sinks = NULL;
		if ((d->cur = gen_new(d, cfg, d->sinks, d->nouts)) == NULL)
			rc = -ENOMEM;
		else
			cfg = NULL;
	}
	if (o != NULL) {
		/* Failed while opening them: they close with the loop below,
		 * and take cfg with them. */
		outputs_discard(o, n, cfg);
		cfg = NULL;
	}
	free(sinks);
	if (rc == 0 && !once) {
		pf_selfmon_opts mo = { .view = view, .ud = d };
		d->selfmon = pf_selfmon_new(&d->loop, cur_cfg(d)->listen, &mo);
		if (d->selfmon == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		d->once_left = pf_scraper_ntargets(d->cur->scraper);
		log_start(d);
		/* The loop's time is still the one uv_loop_init read, before
		 * the configuration, the outputs and their spools were loaded.
		 * No tick is owed from that time (pf_sched_start runs ticks
		 * that fell due since the loop's time at once, for reloads):
		 * at 10,000 targets every 10 s reading the configuration alone
		 * takes 0.14 s, and the ticks of that time all started at once
		 * (2-31 scrapes running 0.3 s after the start in four runs,
		 * 1-10 without them). */
		uv_update_time(&d->loop);
		rc = pf_sched_start(d->cur->sched, once);
	}
	if (rc == 0 && !once) {
		watch_update(d);
		uint64_t wd = pf_sdnotify_watchdog_usec();
		if (wd > 0) {
			uint64_t every = wd / 2000 ? wd / 2000 : 1;
			uv_timer_start(&d->watchdog_timer, watchdog_cb, every, every);
		}
		pf_sdnotify("READY=1\nSTATUS=running");
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
	/* Not taken by a generation (a failed start): the outputs that
	 * borrowed it are closed now. */
	pf_config_free(cfg);
	if (rc == 0)
		status = once ? (d->once_failed ? 1 : 0) : 0;
	free(d->outs);
	free(d->sinks);
	int lc = uv_loop_close(&d->loop);
	if (lc != 0) {
		pf_log(PF_LOG_ERROR, NULL, "the event loop did not close cleanly: %s", uv_strerror(lc));
		status = 1;
	}
	return status;
}
