/*
 * scrape.h: one scrape of one target, from HTTP GET to line protocol in
 * every sink.
 *
 * A scrape builds the request from its job (Accept preferring text 0.0.4,
 * then OpenMetrics; gzip; body limit; timeout; basic auth with the
 * password file read at each scrape; the bearer token file re-read when
 * its mtime, size or inode change), streams the body through a pipeline
 * (parser -> relabel -> schema -> line protocol) whose format comes from
 * the Content-Type unless the job forces one, and appends the Prometheus
 * synthetic series (up, scrape_duration_seconds, scrape_samples_scraped,
 * scrape_samples_post_metric_relabeling, scrape_body_size_bytes) through
 * the same mapper with the same tags. A failed scrape (no answer, non-2xx,
 * timeout, body over the limit, sample_limit passed, a bad body with
 * on_error = reject) writes no samples, only the synthetic series with
 * up = 0. The result, one buffer, goes to every sink at the end.
 *
 * Tags of every point: global tags, host (unless omit_hostname), the job's
 * tags (a job tag beats a global one of the same key), the url tag.
 *
 * A failing target is logged once with the reason, then at most once per
 * 5 minutes while it keeps failing, and once when it recovers. Parse errors
 * are logged as URL:LINE:COL: why, at most 5 a minute per target.
 *
 * Memory: a target is a few dozen bytes; the pipeline and buffers of a
 * scrape come from a per-job pool and go back to it when it ends.
 */
#ifndef PF_SCRAPE_H
#define PF_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "lineproto.h"
#include "promtext.h"
#include "sink.h"

typedef struct pf_scraper pf_scraper;

/* Called once per started scrape, from the loop. ok: up = 1. */
typedef void (*pf_scrape_done_fn)(void *ud, size_t id, int ok);

typedef struct pf_scraper_stats {
	uint64_t scrapes;      /* ended */
	uint64_t failed;       /* ended with up = 0 */
	uint64_t parse_errors; /* lines rejected by the parser */
	uint64_t samples;      /* written */
	uint64_t samples_scraped;  /* parsed, before metric_include/exclude */
	uint64_t samples_filtered; /* dropped by metric_include/exclude */
	uint64_t samples_invalid;  /* not encodable (reported), not written */
	uint64_t fields_nonfinite; /* NaN/Inf values left out of their point */
	uint64_t skipped_prev; /* ticks skipped: the target's scrape of the
				* previous configuration was still running */
} pf_scraper_stats;

/* How a scrape ended, for the own metrics (promflux_scrapes_total{result}). */
enum pf_scrape_result {
	PF_SCRAPE_OK = 0,
	PF_SCRAPE_HTTP_STATUS,  /* an answer that is not 2xx */
	PF_SCRAPE_TIMEOUT,      /* the job's timeout passed */
	PF_SCRAPE_TRANSFER,     /* no complete answer: connect, DNS, TLS, reset */
	PF_SCRAPE_BODY_LIMIT,   /* the body passed body_limit */
	PF_SCRAPE_SAMPLE_LIMIT, /* more samples than sample_limit */
	PF_SCRAPE_REJECTED,     /* on_error = reject, or its line protocol too large */
	PF_SCRAPE_ERROR,        /* not started: a secret file, out of memory */
	PF_SCRAPE_RESULT_N
};

/* "ok", "http_status", "timeout", ... (label values). */
const char *pf_scrape_result_name(enum pf_scrape_result r);

/* What the own metrics say per target. */
typedef struct pf_target_stats {
	uint64_t results[PF_SCRAPE_RESULT_N]; /* scrapes ended, by result */
	uint64_t samples;       /* written, in all */
	double last_duration_s; /* of the last scrape that ended */
	uint64_t last_samples;  /* scraped by it (before filtering) */
	int up;                 /* its up: 1 or 0; -1 before the first */
} pf_target_stats;

typedef struct pf_scraper_opts {
	const pf_config *cfg;      /* borrowed; must outlive the scraper */
	pf_http *http;             /* borrowed */
	pf_sink *const *sinks;     /* borrowed array, may change with pf_scraper_set_sinks */
	size_t nsinks;
	enum pf_precision precision; /* of the timestamps written */
	pf_scrape_done_fn done;
	void *ud;
	/* Borrowed totals, shared by the scrapers of successive
	 * configurations (a reload keeps counting); NULL: the scraper's own. */
	pf_scraper_stats *stats;
} pf_scraper_opts;

/* Builds every target of cfg (ids in job order, then URL order). Returns
 * the scraper or NULL with a message in err. */
pf_scraper *pf_scraper_new(const pf_scraper_opts *o, char *err, size_t errlen);

size_t pf_scraper_ntargets(const pf_scraper *s);
const char *pf_scraper_url(const pf_scraper *s, size_t id);
const pf_job *pf_scraper_job(const pf_scraper *s, size_t id);

/* Starts scraping target id. Returns 0 (done is called later, from the
 * loop) or a negative errno when the scrape could not start (the reason is
 * logged, up = 0 written, done is not called). */
int pf_scrape_start(pf_scraper *s, size_t id);

/* Ends every scrape in flight early; their done still comes, with ok = 0,
 * and nothing of theirs is written (shutdown). */
void pf_scraper_cancel_all(pf_scraper *s);

/* Scrapes in flight. */
size_t pf_scraper_running(const pf_scraper *s);

const pf_scraper_stats *pf_scraper_get_stats(const pf_scraper *s);

/* Per-target counters of target id. */
const pf_target_stats *pf_scraper_target_stats(const pf_scraper *s, size_t id);

/* The scrape durations of the job of index job in the configuration
 * (carried over a reload by job name). */
const pf_hist *pf_scraper_job_hist(const pf_scraper *s, size_t job);

/* Replaces the sinks every later scrape writes to (a reload). */
void pf_scraper_set_sinks(pf_scraper *s, pf_sink *const *sinks, size_t nsinks);

/* A reload: s (new) takes over the targets of old that it has too (same
 * job name and URL): their counters and failure state carry on, a scrape
 * of old still in flight is counted into s's target when it ends, and s
 * does not start that target until it has ended (the tick is skipped and
 * counted in skipped_prev): a target never has two scrapes in flight
 * across reloads (one exception: a target removed by a reload and added
 * back by the next one while its scrape from before still runs is not
 * known to be busy). old's targets that s has not are forgotten; old
 * keeps its scrapes in flight and must be freed after them, and after
 * every scraper older than itself that it adopted from. */
void pf_scraper_adopt(pf_scraper *s, pf_scraper *old);

/* Frees the scraper; no scrape may be in flight. NULL is a no-op. */
void pf_scraper_free(pf_scraper *s);

#endif
