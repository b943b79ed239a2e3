/*
 * selfmon.h: promflux's own HTTP endpoint ([global] listen): /metrics (its
 * counters and gauges in Prometheus text format), /healthz (liveness) and
 * /ready (readiness).
 *
 * It reads the daemon's state through a view callback at each request, so
 * it holds nothing that a reload could leave stale. What each metric
 * means is in README.md ("Own metrics").
 *
 * /healthz answers 200 "ok" from the loop: an answer proves the loop turns.
 * /ready answers 200 when a configuration is loaded, the daemon is not
 * stopping and at least one output is reachable (stdout and file outputs
 * always are; an InfluxDB output when its last request was answered below
 * 500); otherwise 503 with the reason.
 *
 * Ownership: the endpoint owns its server (httpd.h); the view's pointers
 * are borrowed for the call only.
 */
#ifndef PF_SELFMON_H
#define PF_SELFMON_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "schedule.h"
#include "scrape.h"
#include "sink.h"

typedef struct pf_daemon_reloads {
	uint64_t ok;
	uint64_t failed;
	uint64_t last_ok_unix;  /* seconds since the epoch; 0: none yet */
} pf_daemon_reloads;

/* The daemon as the endpoint sees it at one request. */
typedef struct pf_selfmon_view {
	const pf_config *cfg;           /* current; NULL before the first load */
	pf_scraper *scraper;            /* current generation's targets */
	const pf_scraper_stats *totals; /* across reloads */
	pf_sched_stats sched;           /* across reloads */
	size_t running;                 /* scrapes in flight, all generations */
	pf_sink *const *sinks;          /* current outputs, in configuration order */
	size_t nsinks;
	pf_daemon_reloads reloads;
	int stopping;
} pf_selfmon_view;

typedef struct pf_selfmon pf_selfmon;

typedef struct pf_selfmon_opts {
	void (*view)(void *ud, pf_selfmon_view *v);
	void *ud;
} pf_selfmon_opts;

/* Serves on listen ("" = off: returns a valid endpoint that serves
 * nothing). A listen that fails (the port in use) is logged and the daemon
 * goes on without the endpoint: scraping matters more. NULL only when out
 * of memory. */
pf_selfmon *pf_selfmon_new(uv_loop_t *loop, const char *listen, const pf_selfmon_opts *o);

/* A reload: listens on listen instead, when it changed. */
void pf_selfmon_reconfigure(pf_selfmon *m, const char *listen);

/* Stops serving and frees m (its handles close from the loop). NULL: no-op. */
void pf_selfmon_close(pf_selfmon *m);

/* Renders the /metrics body of v into b. Returns 0 or a negative errno
 * (-E2BIG, -ENOMEM). */
int pf_selfmon_render(const pf_selfmon_view *v, pf_buf *b);

#endif
