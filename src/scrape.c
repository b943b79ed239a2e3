/*
 * scrape.c: one scrape of one target (see scrape.h).
 *
 * The flow of a scrape, all on the loop:
 *   pf_scrape_start  takes a slot from the job's pool, builds the request
 *   on_header        status and Content-Type: picks the format, resets the pipeline
 *   on_data          feeds the pipeline; sample_limit and parse rejections abort
 *   on_done          finishes the pipeline, appends the synthetic series,
 *                    writes the buffer to every sink, logs, returns the slot
 */
#include "scrape.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "pipeline.h"
#include "relabel.h"
#include "schedule.h"
#include "secret.h"

/* Text 0.0.4 first (what Telegraf asks for), OpenMetrics second. */
#define ACCEPT "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

/* A failing target: the first failure, then one line per window. */
#define FAIL_WINDOW_MS (5 * 60 * 1000)
#define PARSE_BURST 5
#define PARSE_WINDOW_MS (60 * 1000)
/* A pooled output buffer larger than this is released after its scrape. */
#define KEEP_BUF (8u << 20)

typedef struct slot slot;
typedef struct job_ctx job_ctx;

typedef struct target target;
struct target {
	const char *url;        /* borrowed from the configuration */
	uint32_t job;
	uint32_t fails;         /* consecutive failed scrapes */
	unsigned pool;          /* pf_http_req.pool: its phase (schedule.h) */
	int busy_prev;          /* a scraper this one adopted from scrapes it now */
	pf_ratelimit rl_fail;
	pf_ratelimit rl_parse;
	slot *inflight;
	target *succ;           /* the same target in the scraper that adopted this one */
	pf_hist *hist;          /* its job's scrape durations */
	pf_target_stats st;
};

struct job_ctx {
	const pf_job *job;
	pf_relabel *relabel;    /* NULL when it would do nothing */
	pf_tag *tags;           /* template: our tags, the url tag last (value per scrape) */
	size_t ntags;
	int url_tag;            /* index of the url tag, or -1 */
	const char **headers;   /* "Name: value" */
	pf_secret bearer;       /* bearer_token or bearer_token_file, cached */
	uint64_t shape;         /* pf_http_req.shape of its requests */
	slot *pool;             /* free slots */
	pf_hist hist;           /* scrape durations */
};

struct slot {
	pf_scraper *s;
	job_ctx *j;
	size_t id;
	pf_pipeline *pl;
	pf_buf out;
	pf_tag *tags;
	pf_http_xfer *xfer;
	uint64_t t0;            /* uv_hrtime at start */
	int64_t now_ns;         /* the scrape's timestamp */
	int started_body;       /* on_header accepted the response */
	int failed;             /* a reason is set */
	enum pf_scrape_result result;
	unsigned msgs_logged;   /* parse messages of this scrape written / held back */
	unsigned msgs_held;
	char reason[320];
	slot *next;
};

struct pf_scraper {
	pf_scraper_opts o;
	job_ctx *jobs;
	size_t njobs;
	target *t;
	size_t n;
	size_t running;
	int shutdown;
	pf_scraper_stats *st;   /* o.stats or own */
	pf_scraper_stats own;
};

/* ---- set-up ---- */

static int add_tag(pf_tag *tags, size_t *n, const char *k, const char *v)
{
	/* A later tag of the same key replaces an earlier one (job beats global). */
	for (size_t i = 0; i < *n; i++) {
		if (pf_str_eqc(tags[i].key, k)) {
			tags[i].value = pf_str_c(v);
			return (int)i;
		}
	}
	tags[*n] = (pf_tag){ pf_str_c(k), pf_str_c(v), 0 };
	return (int)(*n)++;
}

static int job_init(pf_scraper *s, job_ctx *j, const pf_job *job)
{
	const pf_config *c = s->o.cfg;
	j->job = job;
	j->url_tag = -1;
	/* Its requests differ only in url, pool, ud and secrets. */
	j->shape = s->o.http ? pf_http_shape(s->o.http) : 0;
	static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
	pf_hist_init(&j->hist, bounds, sizeof bounds / sizeof bounds[0]);
	if (pf_secret_init(&j->bearer, job->bearer_token_file, job->bearer_token) != 0)
		return -ENOMEM;
	size_t max = c->ntags + 1 + job->ntags + 1;
	j->tags = calloc(max, sizeof(pf_tag));
	const char **keys = calloc(max, sizeof(char *));
	if (j->tags == NULL || keys == NULL) {
		free(keys);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < c->ntags; i++)
		add_tag(j->tags, &n, c->tags[i].key, c->tags[i].value);
	if (!c->omit_hostname && c->hostname && *c->hostname)
		add_tag(j->tags, &n, "host", c->hostname);
	for (size_t i = 0; i < job->ntags; i++)
		add_tag(j->tags, &n, job->tags[i].key, job->tags[i].value);
	if (job->url_tag && *job->url_tag)
		j->url_tag = add_tag(j->tags, &n, job->url_tag, "");
	j->ntags = n;
	for (size_t i = 0; i < n; i++)
		keys[i] = j->tags[i].key.p; /* NUL-terminated: they come from the config */

	pf_relabel_opts ro = {
		.include = (const char *const *)job->metric_include, .ninclude = job->nmetric_include,
		.exclude = (const char *const *)job->metric_exclude, .nexclude = job->nmetric_exclude,
		.label_drop = (const char *const *)job->label_drop, .nlabel_drop = job->nlabel_drop,
		.honor_labels = job->honor_labels, .our_keys = keys, .nour_keys = n,
	};
	j->relabel = pf_relabel_new(&ro);
	free(keys);
	if (j->relabel == NULL)
		return -ENOMEM;
	if (pf_relabel_is_noop(j->relabel)) {
		pf_relabel_free(j->relabel);
		j->relabel = NULL;
	}
	if (job->nheaders) {
		j->headers = calloc(job->nheaders, sizeof(char *));
		if (j->headers == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < job->nheaders; i++) {
			size_t len = strlen(job->headers[i].key) + strlen(job->headers[i].value) + 3;
			char *h = malloc(len);
			if (h == NULL)
				return -ENOMEM;
			snprintf(h, len, "%s: %s", job->headers[i].key, job->headers[i].value);
			j->headers[i] = h;
		}
	}
	return 0;
}

/* Each target's connection cache (pf_http_req.pool): by its phase in its
 * interval, the phase the scheduler gives it (schedule.h); targets of one
 * origin take the first one's, so that they share its connections. */
static int assign_pools(pf_scraper *s, const pf_config *c)
{
	size_t cap = 16;
	while (cap < 2 * s->n)
		cap *= 2;
	size_t *first = calloc(cap, sizeof *first); /* target index + 1 */
	if (first == NULL)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		target *t = &s->t[i];
		const pf_job *job = &c->jobs[t->job];
		size_t n = pf_http_origin_len(t->url);
		size_t k = (size_t)pf_mix64(pf_hash_bytes(PF_FNV_OFFSET, t->url, n)) & (cap - 1);
		while (first[k] != 0) {
			const target *o = &s->t[first[k] - 1];
			if (pf_http_origin_len(o->url) == n && memcmp(o->url, t->url, n) == 0)
				break;
			k = (k + 1) & (cap - 1);
		}
		if (first[k] != 0) {
			t->pool = s->t[first[k] - 1].pool;
			continue;
		}
		first[k] = i + 1;
		t->pool = pf_http_pool(pf_sched_offset(job->name, t->url, job->interval_ms), job->interval_ms);
	}
	free(first);
	return 0;
}

pf_scraper *pf_scraper_new(const pf_scraper_opts *o, char *err, size_t errlen)
{
	pf_scraper *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->st = o->stats ? o->stats : &s->own;
	const pf_config *c = o->cfg;
	s->njobs = c->njobs;
	s->jobs = calloc(c->njobs ? c->njobs : 1, sizeof(job_ctx));
	size_t n = 0;
	for (size_t i = 0; i < c->njobs; i++)
		n += c->jobs[i].nurls;
	s->t = calloc(n ? n : 1, sizeof(target));
	if (s->jobs == NULL || s->t == NULL)
		goto oom;
	for (size_t i = 0; i < c->njobs; i++) {
		if (job_init(s, &s->jobs[i], &c->jobs[i]) != 0)
			goto oom;
		for (size_t k = 0; k < c->jobs[i].nurls; k++) {
			s->t[s->n].url = c->jobs[i].urls[k];
			s->t[s->n].job = (uint32_t)i;
			s->t[s->n].st.up = -1;
			s->t[s->n].hist = &s->jobs[i].hist;
			s->n++;
		}
	}
	if (assign_pools(s, c) != 0)
		goto oom;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
	pf_scraper_free(s);
	return NULL;
}

size_t pf_scraper_ntargets(const pf_scraper *s)
{
	return s->n;
}

const char *pf_scraper_url(const pf_scraper *s, size_t id)
{
	return s->t[id].url;
}

const pf_job *pf_scraper_job(const pf_scraper *s, size_t id)
{
	return s->jobs[s->t[id].job].job;
}

size_t pf_scraper_running(const pf_scraper *s)
{
	return s->running;
}

const pf_scraper_stats *pf_scraper_get_stats(const pf_scraper *s)
{
	return s->st;
}

const pf_target_stats *pf_scraper_target_stats(const pf_scraper *s, size_t id)
{
	return &s->t[id].st;
}

const pf_hist *pf_scraper_job_hist(const pf_scraper *s, size_t job)
{
	return &s->jobs[job].hist;
}

void pf_scraper_set_sinks(pf_scraper *s, pf_sink *const *sinks, size_t nsinks)
{
	s->o.sinks = sinks;
	s->o.nsinks = nsinks;
}

const char *pf_scrape_result_name(enum pf_scrape_result r)
{
	static const char *const names[PF_SCRAPE_RESULT_N] = {
		[PF_SCRAPE_OK] = "ok",
		[PF_SCRAPE_HTTP_STATUS] = "http_status",
		[PF_SCRAPE_TIMEOUT] = "timeout",
		[PF_SCRAPE_TRANSFER] = "transfer",
		[PF_SCRAPE_BODY_LIMIT] = "body_limit",
		[PF_SCRAPE_SAMPLE_LIMIT] = "sample_limit",
		[PF_SCRAPE_REJECTED] = "rejected",
		[PF_SCRAPE_ERROR] = "error",
	};
	return (unsigned)r < PF_SCRAPE_RESULT_N ? names[r] : "unknown";
}

/* Targets match by job name and URL. The scraper adopted from is indexed
 * once (a hash set of its targets), so a reload of 10,000 targets costs
 * 10,000 lookups, not 10^8 comparisons. */
static uint64_t target_hash(const pf_scraper *s, const target *t)
{
	const char *job = s->jobs[t->job].job->name;
	uint64_t h = pf_fnv1a(PF_FNV_OFFSET, job, strlen(job) + 1); /* the NUL separates */
	return pf_mix64(pf_fnv1a(h, t->url, strlen(t->url)));
}

void pf_scraper_adopt(pf_scraper *s, pf_scraper *old)
{
	for (size_t i = 0; i < s->njobs; i++)
		for (size_t k = 0; k < old->njobs; k++)
			if (strcmp(s->jobs[i].job->name, old->jobs[k].job->name) == 0)
				s->jobs[i].hist = old->jobs[k].hist;
	if (old->n == 0 || s->n == 0)
		return;
	size_t cap = 1;
	while (cap < old->n * 2)
		cap <<= 1;
	size_t *slots = malloc(cap * sizeof(size_t));
	if (slots == NULL) {
		/* Counters restart and, rarely, a target may be scraped while its
		 * old scrape ends: said, not fatal. */
		pf_log(PF_LOG_ERROR, NULL, "reload: out of memory matching the targets; their counters restart");
		return;
	}
	for (size_t i = 0; i < cap; i++)
		slots[i] = SIZE_MAX;
	for (size_t i = 0; i < old->n; i++) {
		size_t h = (size_t)target_hash(old, &old->t[i]) & (cap - 1);
		while (slots[h] != SIZE_MAX)
			h = (h + 1) & (cap - 1);
		slots[h] = i;
	}
	for (size_t i = 0; i < s->n; i++) {
		target *t = &s->t[i];
		const char *job = s->jobs[t->job].job->name;
		size_t h = (size_t)target_hash(s, t) & (cap - 1);
		for (; slots[h] != SIZE_MAX; h = (h + 1) & (cap - 1)) {
			target *o = &old->t[slots[h]];
			if (o->succ != NULL || strcmp(o->url, t->url) != 0 ||
			    strcmp(old->jobs[o->job].job->name, job) != 0)
				continue;
			t->st = o->st;
			t->fails = o->fails;
			t->rl_fail = o->rl_fail;
			t->rl_parse = o->rl_parse;
			t->busy_prev = o->inflight != NULL || o->busy_prev;
			o->succ = t;
			break;
		}
	}
	free(slots);
}

/* ---- logging ---- */

static void target_kv(const pf_scraper *s, size_t id, char *kv, size_t n)
{
	const target *t = &s->t[id];
	snprintf(kv, n, "job=%s target=%s", s->jobs[t->job].job->name, t->url);
}

/* Rate limits run on the monotonic clock. */
static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void on_msg(void *ud, const char *m)
{
	slot *sl = ud;
	pf_scraper *s = sl->j ? sl->s : NULL;
	if (s == NULL)
		return;
	target *t = &s->t[sl->id];
	/* The reject policy stops at the first error: it is the scrape's reason. */
	if (sl->j->job->on_error == PF_ON_ERROR_REJECT && !sl->failed) {
		sl->failed = 1;
		sl->result = PF_SCRAPE_REJECTED;
		snprintf(sl->reason, sizeof(sl->reason), "body rejected (on_error = reject): %s%s",
			 t->url, strncmp(m, "body", 4) == 0 ? m + 4 : m);
	}
	unsigned sup = 0;
	if (!pf_ratelimit_ok(&t->rl_parse, now_ms(), PARSE_BURST, PARSE_WINDOW_MS, &sup)) {
		sl->msgs_held++;
		return;
	}
	sl->msgs_logged++;
	char kv[512];
	target_kv(s, sl->id, kv, sizeof(kv));
	/* The pipeline says "body:LINE:COL: why"; the log says URL:LINE:COL. */
	if (strncmp(m, "body:", 5) == 0)
		pf_log(PF_LOG_WARN, kv, "%s%s%s", t->url, m + 4,
		       sup ? " (more parse errors were suppressed)" : "");
	else
		pf_log(PF_LOG_WARN, kv, "%s%s", m, sup ? " (more parse errors were suppressed)" : "");
}

/* ---- slots ---- */

static slot *slot_get(pf_scraper *s, job_ctx *j)
{
	slot *sl = j->pool;
	if (sl != NULL) {
		j->pool = sl->next;
		sl->next = NULL;
		return sl;
	}
	sl = calloc(1, sizeof(*sl));
	if (sl == NULL)
		return NULL;
	sl->s = s;
	sl->j = j;
	sl->tags = calloc(j->ntags ? j->ntags : 1, sizeof(pf_tag));
	if (sl->tags == NULL) {
		free(sl);
		return NULL;
	}
	memcpy(sl->tags, j->tags, j->ntags * sizeof(pf_tag));
	const pf_job *job = j->job;
	/* Line protocol is larger than the text it comes from (tags repeat on
	 * every line): allow four times the body limit. */
	uint64_t lim = job->body_limit ? job->body_limit : ((uint64_t)64 << 20);
	uint64_t max = lim * 4 + (1u << 20);
	if (max > (uint64_t)SIZE_MAX / 2)
		max = SIZE_MAX / 2;
	pf_buf_init(&sl->out, (size_t)max);
	pf_pipeline_opts po = {
		.format = PF_FORMAT_PROMETHEUS,
		.on_error = job->on_error,
		.map = { .schema = job->schema, .ignore_timestamps = !job->honor_timestamps,
			 .tags = sl->tags, .ntags = j->ntags },
		.precision = s->o.precision,
		.source = "body",
	};
	sl->pl = pf_pipeline_new(&po, &sl->out, on_msg, sl);
	if (sl->pl == NULL) {
		free(sl->tags);
		free(sl);
		return NULL;
	}
	return sl;
}

static void slot_put(slot *sl)
{
	if (sl->out.cap > KEEP_BUF)
		pf_buf_free(&sl->out);
	pf_buf_reset(&sl->out);
	sl->xfer = NULL;
	sl->next = sl->j->pool;
	sl->j->pool = sl;
}

static void slot_free(slot *sl)
{
	pf_pipeline_free(sl->pl);
	pf_buf_free(&sl->out);
	free(sl->tags);
	free(sl);
}

/* ---- secrets ---- */

/* The bearer token: bearer_token, or bearer_token_file's content, re-read
 * only when the file changed (secret.h). */
static int bearer_token(job_ctx *j, const char **tok)
{
	return pf_secret_get(&j->bearer, tok);
}

/* ---- the scrape ---- */

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(slot *sl, enum pf_scrape_result why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(slot *sl, enum pf_scrape_result why, const char *fmt, ...)
{
	if (sl->failed)
		return; /* the first reason is the cause */
	sl->failed = 1;
	sl->result = why;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sl->reason, sizeof(sl->reason), fmt, ap);
	va_end(ap);
}

static const pf_sample *filter(void *ud, const pf_sample *smp)
{
	slot *sl = ud;
	if (sl->j->relabel != NULL && (smp = pf_relabel_sample(sl->j->relabel, smp)) == NULL)
		return NULL;
	/* Kept so far, the direct way's included (pipeline.h). */
	uint64_t lim = sl->j->job->sample_limit;
	if (lim && pf_pipeline_get_stats(sl->pl)->samples_kept >= lim) {
		fail(sl, PF_SCRAPE_SAMPLE_LIMIT, "sample_limit %" PRIu64 " exceeded", lim);
		return NULL;
	}
	return smp;
}

static int on_header(void *ud, long status, const char *ct)
{
	slot *sl = ud;
	if (status < 200 || status > 299) {
		fail(sl, PF_SCRAPE_HTTP_STATUS, "HTTP status %ld", status);
		return 1;
	}
	const pf_job *job = sl->j->job;
	enum pf_format fmt = job->format != PF_FORMAT_AUTO ? job->format : pf_format_from_content_type(ct);
	pf_pipeline_reset(sl->pl, fmt, sl->now_ns);
	pf_pipeline_set_filter(sl->pl, filter, sl);
	/* The filter passes the direct way's samples unchanged (they have
	 * no label to rename) unless it has rules of its own. */
	const pf_relabel *rl = sl->j->relabel;
	pf_pipeline_set_direct(sl->pl, rl == NULL || pf_relabel_renames_only(rl), job->sample_limit);
	sl->started_body = 1;
	return 0;
}

static int on_data(void *ud, const char *p, size_t n)
{
	slot *sl = ud;
	if (!sl->started_body || sl->failed)
		return 1;
	int rc = pf_pipeline_feed(sl->pl, p, n);
	if (rc == -E2BIG)
		fail(sl, PF_SCRAPE_REJECTED, "line protocol of the body passes %zu bytes", sl->out.max);
	else if (rc == -ENOMEM)
		fail(sl, PF_SCRAPE_ERROR, "out of memory");
	else if (rc != 0)
		fail(sl, PF_SCRAPE_REJECTED, "body rejected");
	return sl->failed;
}

/* Appends the synthetic series to sl->out through the same mapper and
 * tags. Returns the lines it wrote. */
static size_t synthetic(slot *sl, int up, double dur, uint64_t scraped, uint64_t kept, uint64_t body)
{
	/* Written by hand: snprintf's %f was 0.6% of the daemon's CPU at
	 * 1,000 targets. The duration from microseconds, "S.UUUUUU". */
	char text[512], *w = text;
	uint64_t us = dur > 0 && dur < 1e12 ? (uint64_t)(dur * 1e6 + 0.5) : 0;
#define PUT(s) (memcpy(w, s, sizeof(s) - 1), w += sizeof(s) - 1)
	PUT("# TYPE up gauge\nup ");
	*w++ = up ? '1' : '0';
	PUT("\n# TYPE scrape_duration_seconds gauge\nscrape_duration_seconds ");
	w += pf_fmt_u64(w, us / 1000000);
	*w++ = '.';
	for (uint64_t f = us % 1000000, d = 100000; d > 0; d /= 10)
		*w++ = (char)('0' + f / d % 10);
	PUT("\n# TYPE scrape_samples_scraped gauge\nscrape_samples_scraped ");
	w += pf_fmt_u64(w, scraped);
	PUT("\n# TYPE scrape_samples_post_metric_relabeling gauge\nscrape_samples_post_metric_relabeling ");
	w += pf_fmt_u64(w, kept);
	PUT("\n# TYPE scrape_body_size_bytes gauge\nscrape_body_size_bytes ");
	w += pf_fmt_u64(w, body);
	PUT("\n");
#undef PUT
	size_t n = (size_t)(w - text);
	pf_pipeline_reset(sl->pl, PF_FORMAT_PROMETHEUS, sl->now_ns);
	pf_pipeline_set_filter(sl->pl, NULL, NULL);
	if (pf_pipeline_feed(sl->pl, text, n) == 0)
		pf_pipeline_finish(sl->pl);
	return (size_t)pf_pipeline_get_stats(sl->pl)->lp.lines;
}

/* t: the target the scrape counts into (see account). */
static void log_result(pf_scraper *s, slot *sl, target *t, int ok)
{
	char kv[512];
	if (ok) {
		if (t->fails) {
			target_kv(s, sl->id, kv, sizeof(kv));
			pf_log(PF_LOG_INFO, kv, "target is up again after %" PRIu32 " failed scrape%s",
			       t->fails, t->fails == 1 ? "" : "s");
		}
		t->fails = 0;
		t->rl_fail = (pf_ratelimit){ 0 };
		return;
	}
	t->fails++;
	unsigned sup = 0;
	if (pf_ratelimit_ok(&t->rl_fail, now_ms(), 1, FAIL_WINDOW_MS, &sup)) {
		target_kv(s, sl->id, kv, sizeof(kv));
		pf_log(PF_LOG_WARN, kv, "scrape failed: %s (%" PRIu32 " failed in a row)", sl->reason, t->fails);
	}
}

/* Counts an ended scrape into its target, or into the target that took
 * it over in a reload (then that one may start again), and logs it. */
static void account(pf_scraper *s, slot *sl, double dur, uint64_t scraped, uint64_t kept)
{
	target *t = &s->t[sl->id];
	target *cur = t;
	while (cur->succ != NULL)
		cur = cur->succ;
	if (cur != t)
		cur->busy_prev = 0;
	int ok = !sl->failed;
	cur->st.results[ok ? PF_SCRAPE_OK : sl->result]++;
	cur->st.samples += kept;
	cur->st.last_duration_s = dur;
	cur->st.last_samples = scraped;
	cur->st.up = ok;
	pf_hist_observe(cur->hist, dur);
	s->st->scrapes++;
	s->st->samples += kept;
	if (!ok)
		s->st->failed++;
	log_result(s, sl, cur, ok);
}

static void on_done(void *ud, const pf_http_result *r)
{
	slot *sl = ud;
	pf_scraper *s = sl->s;
	size_t id = sl->id;
	s->t[id].inflight = NULL;
	s->running--;
	if (s->shutdown && r->cancelled) {
		/* Stopped at shutdown: half a scrape is not written. */
		slot_put(sl);
		s->o.done(s->o.ud, id, 0);
		return;
	}
	if (!r->ok && !sl->failed)
		fail(sl, r->too_big ? PF_SCRAPE_BODY_LIMIT : r->timed_out ? PF_SCRAPE_TIMEOUT : PF_SCRAPE_TRANSFER, "%s",
		     r->error[0] ? r->error : "transfer failed");
	if (!sl->failed && sl->started_body) {
		int rc = pf_pipeline_finish(sl->pl);
		if (rc != 0 && !sl->failed)
			fail(sl, PF_SCRAPE_REJECTED, "body rejected");
	}
	/* A copy: synthetic() below resets the pipeline and with it its stats. */
	const pf_pipeline_stats ps = *pf_pipeline_get_stats(sl->pl);
	uint64_t scraped = sl->started_body ? ps.parse.samples : 0;
	uint64_t kept = sl->started_body ? ps.samples_kept : 0;
	if (sl->started_body) {
		s->st->parse_errors += ps.parse.errors;
		s->st->samples_scraped += scraped;
		s->st->samples_filtered += scraped - kept;
		s->st->samples_invalid += ps.encode_errors;
		s->st->fields_nonfinite += ps.lp.fields_nonfinite;
	}
	int ok = !sl->failed;
	if (!ok)
		pf_buf_reset(&sl->out); /* a failed scrape writes no samples */
	double dur = (double)(uv_hrtime() - sl->t0) / 1e9;
	/* Every line in out is counted in lp.lines (pf_lp_write's and the
	 * direct way's): the body's, then the synthetic series'. */
	size_t lines = synthetic(sl, ok, dur, scraped, kept, r->body_bytes) + (ok ? (size_t)ps.lp.lines : 0);
	size_t out_len = sl->out.len; /* for the debug line below */
	/* The first sink last: it may take the buffer instead of copying it. */
	for (size_t i = 1; i < s->o.nsinks; i++)
		pf_sink_write(s->o.sinks[i], sl->out.data, sl->out.len, lines);
	if (s->o.nsinks > 0)
		pf_sink_write_buf(s->o.sinks[0], &sl->out, lines);
	account(s, sl, dur, scraped, ok ? kept : 0);
	if (sl->msgs_logged && sl->msgs_held) {
		/* Said once per window, by the scrape whose errors were logged. */
		char kv[512];
		target_kv(s, id, kv, sizeof(kv));
		pf_log(PF_LOG_WARN, kv, "%u more parse errors in this scrape not logged (at most %d a minute "
		       "per target); %" PRIu64 " lines rejected in all", sl->msgs_held, PARSE_BURST,
		       sl->started_body ? ps.parse.errors : 0);
	}
	if (pf_log_get_level() >= PF_LOG_DEBUG) {
		char kv[512];
		target_kv(s, id, kv, sizeof(kv));
		pf_log(PF_LOG_DEBUG, kv, "scraped: up=%d, %" PRIu64 " samples, %" PRIu64 " kept, %" PRIu64
		       " body bytes (%" PRIu64 " on the wire), %.3f s, %zu bytes of line protocol",
		       ok, scraped, kept, r->body_bytes, r->wire_bytes, dur, out_len);
	}
	slot_put(sl);
	s->o.done(s->o.ud, id, ok);
}

int pf_scrape_start(pf_scraper *s, size_t id)
{
	if (id >= s->n)
		return -EINVAL;
	char kv[512];
	target *t = &s->t[id];
	if (t->busy_prev) {
		/* The previous configuration's scrape of it still runs. */
		s->st->skipped_prev++;
		return -EBUSY;
	}
	if (t->inflight != NULL) {
		/* The scheduler never starts a busy target; say so if it does. */
		target_kv(s, id, kv, sizeof(kv));
		pf_log(PF_LOG_ERROR, kv, "scrape not started: the previous one is still running");
		return -EBUSY;
	}
	job_ctx *j = &s->jobs[t->job];
	const pf_job *job = j->job;
	slot *sl = slot_get(s, j);
	if (sl == NULL) {
		/* Without a slot there is nowhere to build even up = 0: count and say. */
		s->st->scrapes++;
		s->st->failed++;
		t->st.results[PF_SCRAPE_ERROR]++;
		target_kv(s, id, kv, sizeof(kv));
		pf_log(PF_LOG_ERROR, kv, "scrape not started: out of memory; nothing written for this tick");
		return -ENOMEM;
	}
	sl->id = id;
	sl->t0 = uv_hrtime();
	sl->now_ns = wall_ns();
	sl->started_body = 0;
	sl->failed = 0;
	sl->result = PF_SCRAPE_OK;
	sl->msgs_logged = sl->msgs_held = 0;
	sl->reason[0] = '\0';
	if (j->url_tag >= 0)
		sl->tags[j->url_tag].value = pf_str_c(t->url);

	char *password = NULL;
	const char *bearer = NULL;
	int rc = 0;
	if (job->password_file && (rc = pf_secret_read(job->password_file, &password)) != 0)
		fail(sl, PF_SCRAPE_ERROR, "password_file %s: %s", job->password_file, strerror(-rc));
	else if ((rc = bearer_token(j, &bearer)) != 0)
		fail(sl, PF_SCRAPE_ERROR, "bearer_token_file %s: %s", job->bearer_token_file, strerror(-rc));

	pf_http_req req = {
		.url = t->url,
		.accept = ACCEPT,
		.headers = j->headers,
		.nheaders = job->nheaders,
		.username = job->username,
		.password = password ? password : job->password,
		.bearer = bearer,
		.tls_ca = job->tls_ca,
		.tls_cert = job->tls_cert,
		.tls_key = job->tls_key,
		.tls_server_name = job->tls_server_name,
		.tls_insecure = job->tls_insecure_skip_verify,
		.proxy = job->proxy,
		.timeout_ms = job->timeout_ms,
		.max_body = job->body_limit,
		.pool = t->pool,
		.shape = j->shape,
		.gzip = job->enable_compression,
		.ud = sl,
		.on_header = on_header,
		.on_data = on_data,
		.on_done = on_done,
	};
	if (rc == 0) {
		rc = pf_http_get(s->o.http, &req, &sl->xfer);
		if (rc != 0)
			fail(sl, PF_SCRAPE_ERROR, "request not started: %s", strerror(-rc));
	}
	pf_secret_wipe(password);
	if (rc != 0) {
		/* No callback will come: write up = 0 now. */
		pf_buf_reset(&sl->out);
		size_t lines = synthetic(sl, 0, (double)(uv_hrtime() - sl->t0) / 1e9, 0, 0, 0);
		for (size_t i = 0; i < s->o.nsinks; i++)
			pf_sink_write(s->o.sinks[i], sl->out.data, sl->out.len, lines);
		account(s, sl, 0, 0, 0);
		slot_put(sl);
		return rc;
	}
	t->inflight = sl;
	s->running++;
	return 0;
}

void pf_scraper_cancel_all(pf_scraper *s)
{
	s->shutdown = 1;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].inflight != NULL && s->t[i].inflight->xfer != NULL)
			pf_http_cancel(s->t[i].inflight->xfer);
}

void pf_scraper_free(pf_scraper *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->jobs && i < s->njobs; i++) {
		job_ctx *j = &s->jobs[i];
		while (j->pool) {
			slot *sl = j->pool;
			j->pool = sl->next;
			slot_free(sl);
		}
		pf_relabel_free(j->relabel);
		free(j->tags);
		for (size_t k = 0; j->headers && k < j->job->nheaders; k++)
			free((char *)j->headers[k]);
		free(j->headers);
		pf_secret_free(&j->bearer);
	}
	free(s->jobs);
	free(s->t);
	free(s);
}
