/*
 * expfmt.h: streaming parser for the Prometheus text format 0.0.4 and
 * OpenMetrics 1.0 text.
 *
 * The body is fed in chunks as it arrives; a line split across chunks is
 * carried over (the only copy the parser makes, bounded by the longest
 * line). Every sample is handed to a callback as slices into the input or
 * into the parser's scratch space: they are valid only during that
 * callback. Nothing is allocated per sample; the parser's memory grows with
 * the longest line and the largest label set, not with the body.
 *
 * Errors carry the line and the byte column (both 1-based) and say what
 * was expected. With PF_ON_ERROR_SKIP the bad line is reported, counted and
 * skipped; with PF_ON_ERROR_REJECT the first error stops the parse, as a
 * Prometheus server rejects the whole scrape (the caller discards what it
 * received so far).
 */
#ifndef PF_EXPFMT_H
#define PF_EXPFMT_H

#include <stddef.h>
#include <stdint.h>

#include "str.h"

enum pf_format {
	PF_FORMAT_PROMETHEUS = 0, /* text 0.0.4 */
	PF_FORMAT_OPENMETRICS,    /* OpenMetrics 1.0 text */
	PF_FORMAT_AUTO,           /* unknown: the pipeline holds the body and decides
				   * by its last line ("# EOF" means OpenMetrics);
				   * the parser itself treats it as 0.0.4 */
};

/* A family's type. OpenMetrics "unknown" and 0.0.4 "untyped" are one. */
enum pf_mtype {
	PF_MT_UNTYPED = 0,
	PF_MT_COUNTER,
	PF_MT_GAUGE,
	PF_MT_HISTOGRAM,
	PF_MT_GAUGEHISTOGRAM,
	PF_MT_SUMMARY,
	PF_MT_INFO,
	PF_MT_STATESET,
};

/* Which part of its family a sample is. */
enum pf_suffix {
	PF_SFX_NONE = 0, /* the family name itself (gauge, untyped, summary quantile, stateset) */
	PF_SFX_TOTAL,    /* _total (counter) */
	PF_SFX_CREATED,  /* _created (counter, histogram, summary) */
	PF_SFX_BUCKET,   /* _bucket (histogram, gaugehistogram) */
	PF_SFX_COUNT,    /* _count (histogram, summary) */
	PF_SFX_SUM,      /* _sum (histogram, summary) */
	PF_SFX_GCOUNT,   /* _gcount (gaugehistogram) */
	PF_SFX_GSUM,     /* _gsum (gaugehistogram) */
	PF_SFX_INFO,     /* _info (info) */
};

enum pf_on_error {
	PF_ON_ERROR_SKIP = 0, /* report, count and skip the bad line (default) */
	PF_ON_ERROR_REJECT,   /* stop at the first error */
};

/* pf_label (str.h): a label's name, unquoted, and its value, unescaped. */

typedef struct pf_sample {
	pf_str name;           /* the sample's full name, e.g. foo_bucket */
	pf_str family;         /* the family it belongs to, e.g. foo */
	enum pf_mtype type;    /* the family's type */
	enum pf_suffix suffix; /* its role in the family */
	pf_str unit;           /* OpenMetrics UNIT of the family, or empty */
	const pf_label *labels; /* in input order */
	size_t nlabels;
	double value;
	pf_str value_text;     /* the value exactly as written */
	/* 1 when the parser found value_text to be a float that line protocol
	 * takes as written (pf_lp_float_text_ok() says so too), 0 when not or
	 * not known: the encoder then checks for itself. */
	unsigned char value_text_lp;
	int has_ts;
	int64_t ts_ns;         /* Unix time in ns, when has_ts */
	unsigned long line;    /* 1-based line number of the sample */
	/* 1 when the labels are the common kind, which the mapper and encoder
	 * may write straight to line protocol (pf_point.plain): their names
	 * strictly ascending in byte order (so no two alike), no value empty,
	 * and every value printable ASCII without ' ', ',', '=', '\\' or '"'
	 * (nothing line protocol escapes); and the name a plain metric name
	 * ([a-zA-Z_:][a-zA-Z0-9_:]*, not quoted), which line protocol takes as
	 * it is (pf_point.names_plain). 0 (any initialiser that omits it)
	 * promises nothing. Set by the 0.0.4 parser only; a filter that
	 * changes the labels or the name must clear it. */
	unsigned char lp_plain;
} pf_sample;

typedef struct pf_parse_error {
	unsigned long line; /* 1-based */
	unsigned long col;  /* 1-based byte column (1 for rules about a whole family or document) */
	const char *msg;    /* what was wrong and what was expected */
} pf_parse_error;

typedef struct pf_parser_ops {
	/* Called for each sample. Return 0 to go on; any other value stops the
	 * parse and is returned by pf_parser_feed()/pf_parser_finish(). */
	int (*sample)(void *ud, const pf_sample *s);
	/* Called for each error (may be NULL). */
	void (*error)(void *ud, const pf_parse_error *e);
} pf_parser_ops;

typedef struct pf_parse_stats {
	uint64_t lines;   /* lines seen */
	uint64_t samples; /* samples handed to the callback */
	uint64_t errors;  /* lines rejected */
} pf_parse_stats;

typedef struct pf_parser pf_parser;

/* Returns a new parser or NULL (out of memory). ops is copied; ud is
 * passed to the callbacks. A line has no bound of its own: the caller
 * bounds the body. */
pf_parser *pf_parser_new(enum pf_format fmt, enum pf_on_error policy,
			 const pf_parser_ops *ops, void *ud);

/* Feeds the next chunk. Returns 0; -EINVAL when policy is REJECT and the
 * input is bad (the error callback said why); -ENOMEM; or the nonzero value
 * a callback returned. After a nonzero return the parser accepts nothing
 * more but pf_parser_free(). */
int pf_parser_feed(pf_parser *p, const char *data, size_t len);

/* Ends the input: parses a last line without a newline and checks the
 * document-level rules (OpenMetrics' "# EOF"). Same returns as feed. */
int pf_parser_finish(pf_parser *p);

/* Counters so far. */
const pf_parse_stats *pf_parser_stats(const pf_parser *p);

/* on 0: read every label set the long way and never set
 * pf_sample.lp_plain (for tests that compare both ways, and benchmarks).
 * The default is 1. Kept across resets. */
void pf_parser_set_plain(pf_parser *p, int on);

/* The direct way (direct.h): with d set, common 0.0.4 sample lines are
 * written to d->out as line protocol, counted in the parse stats' samples
 * but not handed to ops.sample. NULL (the default): none. d is borrowed
 * and must outlive the parser or the next call. Kept across resets;
 * pf_parser_set_plain(p, 0) turns it off too. */
typedef struct pf_direct pf_direct;
void pf_parser_set_direct(pf_parser *p, pf_direct *d);

/* Makes the parser ready for a new body with the same settings, keeping
 * its memory. */
void pf_parser_reset(pf_parser *p, enum pf_format fmt);

/* Frees the parser. NULL is a no-op. */
void pf_parser_free(pf_parser *p);

/* Parses a float as Prometheus' parsers do: any decimal spelling Go's
 * strconv.ParseFloat takes (sign, leading or trailing dot, exponent),
 * Inf/Infinity/NaN in any case; hex floats and underscores are refused (textparse
 * and the OpenMetrics parser refuse them), and so is a finite text that
 * overflows (1e999). Returns 0 or -1. */
int pf_parse_float(const char *s, size_t n, double *out);

/* "counter", "gauge", ... for a type; "untyped" for PF_MT_UNTYPED. */
const char *pf_mtype_name(enum pf_mtype t);

/* Guesses the format from an HTTP Content-Type value (NULL or unknown:
 * Prometheus text). */
enum pf_format pf_format_from_content_type(const char *ct);

#endif
