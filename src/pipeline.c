/*
 * pipeline.c: exposition text in, line protocol out (see pipeline.h).
 *
 * The parser calls on_sample for each sample, the mapper calls on_point for
 * each point, and the encoder appends the point to the caller's buffer. No
 * copy is made in between: every slice handed along points into the body or
 * into the parser's and mapper's scratch space. The common line skips all
 * of that: the parser writes it itself, the direct way (direct.h), which
 * this file sets up for each body and opens and closes between samples.
 */
#include "pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"

struct pf_pipeline {
	pf_pipeline_opts opts;
	pf_buf *out;
	pf_msg_fn on_msg;
	void *ud;
	pf_parser *parser;
	pf_mapper *mapper;
	pf_pipeline_stats stats;
	unsigned long line; /* of the sample being mapped, for messages */
	pf_buf hold;        /* the body, while its format is not known */
	pf_sample_filter_fn filter;
	void *filter_ud;
	int reset_rc;       /* the mapper could not take this body's options */
	/* The direct way (direct.h); the parser writes with it. */
	pf_direct direct;
	int direct_can;     /* this body may: 0.0.4, the mapper promises, no long_way */
	int direct_allow;   /* the caller promises (pf_pipeline_set_direct) */
	uint64_t direct_max; /* its sample_limit, 0: none */
	uint64_t kept;      /* samples kept the long way */
	pf_lp_stats lp;     /* lines written the long way */
};

/* Holding a body of unknown format is bounded like a scrape body. */
#define HOLD_MAX ((size_t)1 << 30)

static void msg(pf_pipeline *pl, unsigned long line, unsigned long col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void msg(pf_pipeline *pl, unsigned long line, unsigned long col, const char *fmt, ...)
{
	if (pl->on_msg == NULL)
		return;
	char text[640];
	int n;
	const char *src = pl->opts.source ? pl->opts.source : "-";
	if (col)
		n = snprintf(text, sizeof(text), "%s:%lu:%lu: ", src, line, col);
	else
		n = snprintf(text, sizeof(text), "%s:%lu: ", src, line);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	pl->on_msg(pl->ud, text);
}

static int pipeline_finish_parsed(pf_pipeline *pl);

/* The stats of both ways together. */
static void sync_stats(pf_pipeline *pl)
{
	pl->stats.parse = *pf_parser_stats(pl->parser);
	pl->stats.lp = pl->lp;
	pl->stats.lp.lines += pl->direct.lines;
	pl->stats.samples_kept = pl->kept + pl->direct.lines;
	pl->stats.samples_direct = pl->direct.lines;
}

/* Opens the direct way while the caller allows it and the mapper holds no
 * grouped points back (a direct line must not overtake them); left is
 * what the caller's bound leaves. Called after each sample the long way. */
static void direct_gate(pf_pipeline *pl)
{
	uint64_t kept = pl->kept + pl->direct.lines;
	pl->direct.on = pl->direct_can && pl->direct_allow && pf_mapper_idle(pl->mapper);
	pl->direct.left = pl->direct_max == 0 ? UINT64_MAX
			: pl->direct_max > kept ? pl->direct_max - kept : 0;
}

/* Sets the direct way up for a body of format fmt, after the mapper took
 * its options. */
static void direct_setup(pf_pipeline *pl, enum pf_format fmt)
{
	pf_direct *d = &pl->direct;
	d->lines = 0;
	d->out = pl->out;
	pl->direct_can = !pl->opts.long_way && fmt == PF_FORMAT_PROMETHEUS && pl->reset_rc == 0 &&
			 (unsigned)pl->opts.precision <= PF_PREC_S && pf_mapper_direct(pl->mapper, d);
	if (pl->direct_can) {
		d->tail[0] = ' ';
		size_t k = pf_lp_fmt_time(d->tail + 1, pl->opts.map.now_ns, pl->opts.precision);
		d->tail[1 + k] = '\n';
		d->ntail = k + 2;
		d->prec = pl->opts.precision;
	}
	direct_gate(pl);
}

static void on_error(void *ud, const pf_parse_error *e)
{
	pf_pipeline *pl = ud;
	msg(pl, e->line, e->col, "%s", e->msg);
}

static int on_point(void *ud, pf_point *pt)
{
	pf_pipeline *pl = ud;
	char err[256];
	int rc = pf_lp_write(pl->out, pt, pl->opts.precision, &pl->lp, err, sizeof(err));
	if (rc == 0 || rc == 1)
		return 0;
	if (rc == -EINVAL) {
		pl->stats.encode_errors++;
		pl->stats.lp_refused++;
		msg(pl, pl->line, 0, "point not written: %s", err);
		return 0;
	}
	if (rc == -E2BIG)
		msg(pl, pl->line, 0, "output buffer full: the line protocol of this body passes the limit");
	return rc; /* stops the parse */
}

static int on_sample(void *ud, const pf_sample *s)
{
	pf_pipeline *pl = ud;
	pl->line = s->line;
	if (s->has_ts < 0 && !pl->opts.map.ignore_timestamps) {
		/* InfluxDB stores int64 nanoseconds: 1677-09-21 to 2262-04-11. */
		pl->stats.encode_errors++;
		msg(pl, s->line, 0, "sample '%.*s' dropped: its timestamp is outside what InfluxDB can store "
		    "(years 1677 to 2262)", (int)(s->name.n > 80 ? 80 : s->name.n), s->name.p);
		return 0;
	}
	if (pl->filter != NULL) {
		sync_stats(pl); /* what the filter may read (a sample_limit) */
		if ((s = pl->filter(pl->filter_ud, s)) == NULL)
			return 0;
	}
	pl->kept++;
	int rc = pf_mapper_sample(pl->mapper, s);
	direct_gate(pl);
	return rc;
}

void pf_pipeline_set_filter(pf_pipeline *pl, pf_sample_filter_fn fn, void *ud)
{
	pl->filter = fn;
	pl->filter_ud = ud;
	pl->direct_allow = fn == NULL;
	pl->direct_max = 0;
	direct_gate(pl);
}

void pf_pipeline_set_direct(pf_pipeline *pl, int on, uint64_t max_kept)
{
	pl->direct_allow = on;
	pl->direct_max = max_kept;
	direct_gate(pl);
}

pf_pipeline *pf_pipeline_new(const pf_pipeline_opts *opts, pf_buf *out, pf_msg_fn on_msg, void *ud)
{
	pf_pipeline *pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	pl->opts = *opts;
	pl->opts.map.format = opts->format;
	pl->out = out;
	pl->on_msg = on_msg;
	pl->ud = ud;
	pf_buf_init(&pl->hold, HOLD_MAX);
	pf_parser_ops ops = { on_sample, on_error };
	pl->parser = pf_parser_new(opts->format, opts->on_error, &ops, pl);
	pl->mapper = pf_mapper_new(&pl->opts.map, on_point, pl);
	if (pl->parser == NULL || pl->mapper == NULL) {
		pf_pipeline_free(pl);
		return NULL;
	}
	if (opts->long_way)
		pf_parser_set_plain(pl->parser, 0);
	pf_parser_set_direct(pl->parser, &pl->direct);
	pl->direct_allow = 1;
	direct_setup(pl, opts->format);
	return pl;
}

int pf_pipeline_feed(pf_pipeline *pl, const char *data, size_t len)
{
	if (pl->reset_rc)
		return pl->reset_rc;
	if (pl->opts.format == PF_FORMAT_AUTO) {
		int rc = pf_buf_append(&pl->hold, data, len);
		if (rc == -E2BIG)
			msg(pl, 1, 0, "input of unknown format larger than %zu bytes: give its format", HOLD_MAX);
		return rc;
	}
	int rc = pf_parser_feed(pl->parser, data, len);
	sync_stats(pl);
	return rc;
}

/* The format of a held body: OpenMetrics when its last line is "# EOF". */
static enum pf_format detect_format(const pf_buf *b)
{
	size_t n = b->len;
	if (n && b->data[n - 1] == '\n')
		n--;
	return n >= 5 && memcmp(b->data + n - 5, "# EOF", 5) == 0 &&
			       (n == 5 || b->data[n - 6] == '\n')
		       ? PF_FORMAT_OPENMETRICS
		       : PF_FORMAT_PROMETHEUS;
}

int pf_pipeline_finish(pf_pipeline *pl)
{
	if (pl->reset_rc)
		return pl->reset_rc;
	if (pl->opts.format == PF_FORMAT_AUTO) {
		/* The body is complete: decide, then parse it as if it had streamed. */
		pl->opts.map.format = detect_format(&pl->hold);
		pf_parser_reset(pl->parser, pl->opts.map.format);
		int rc = pf_mapper_reset(pl->mapper, &pl->opts.map);
		if (rc == 0) {
			direct_setup(pl, pl->opts.map.format);
			rc = pf_parser_feed(pl->parser, pl->hold.data, pl->hold.len);
		}
		pf_buf_free(&pl->hold);
		return rc ? rc : pipeline_finish_parsed(pl);
	}
	return pipeline_finish_parsed(pl);
}

static int pipeline_finish_parsed(pf_pipeline *pl)
{
	int rc = pf_parser_finish(pl->parser);
	if (rc == 0 || rc == -EINVAL) {
		/* Flush what the mapper grouped, even after a bad line (SKIP mode
		 * never gets here with -EINVAL; REJECT callers discard the output). */
		int rc2 = pf_mapper_finish(pl->mapper);
		if (rc == 0)
			rc = rc2;
	}
	sync_stats(pl);
	return rc;
}

const pf_pipeline_stats *pf_pipeline_get_stats(const pf_pipeline *pl)
{
	return &pl->stats;
}

void pf_pipeline_reset(pf_pipeline *pl, enum pf_format fmt, int64_t now_ns)
{
	pf_buf_reset(&pl->hold);
	pl->opts.format = fmt;
	pl->opts.map.format = fmt;
	pl->opts.map.now_ns = now_ns;
	pf_parser_reset(pl->parser, fmt);
	pl->reset_rc = pf_mapper_reset(pl->mapper, &pl->opts.map);
	pl->stats = (pf_pipeline_stats){ 0 };
	pl->kept = 0;
	pl->lp = (pf_lp_stats){ 0 };
	direct_setup(pl, fmt);
}

void pf_pipeline_free(pf_pipeline *pl)
{
	if (pl == NULL)
		return;
	pf_parser_free(pl->parser);
	pf_mapper_free(pl->mapper);
	pf_buf_free(&pl->hold);
	free(pl);
}
