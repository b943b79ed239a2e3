/*
 * lineproto.h: the InfluxDB line-protocol encoder.
 *
 * It writes points that InfluxDB never rejects: names and tag values are
 * escaped by the spec; what line protocol cannot carry is either written in
 * a documented lossless-enough way (a newline in a tag value becomes the
 * two characters \n; a tag value's trailing backslashes are dropped, as
 * Telegraf does, since InfluxDB cannot read them back) or dropped and
 * counted (NaN and +/-Inf fields, empty tag values are left out). The
 * policy in full is the comment at the top of lineproto.c.
 */
#ifndef PF_LINEPROTO_H
#define PF_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

enum pf_precision {
	PF_PREC_NS = 0,
	PF_PREC_US,
	PF_PREC_MS,
	PF_PREC_S,
};

enum pf_fkind {
	PF_FIELD_FLOAT = 0,
	PF_FIELD_INT,
	PF_FIELD_UINT,
	PF_FIELD_BOOL,
	PF_FIELD_STRING,
};

typedef struct pf_tag {
	pf_str key;
	pf_str value;
	/* 1 only for a tag made by pf_lp_tag_prepare(): the key needs no
	 * escaping and the value is already escaped line protocol, so the
	 * encoder copies both as they are (the constant tags of a scrape, on
	 * every line). Anything else leaves it 0; an initialiser that omits it
	 * gives 0. */
	unsigned char raw;
} pf_tag;

typedef struct pf_field {
	pf_str key;
	enum pf_fkind kind;
	union {
		double f;
		int64_t i;
		uint64_t u;
		int b;
		pf_str s;
	} v;
	/* Float fields only, may be empty: the value's source text. It is written
	 * as is when it is a valid line-protocol float (it then reads back as v.f);
	 * otherwise the shortest text that reads back as v.f is written. */
	pf_str text;
	/* 1 when text is known to be valid (pf_lp_float_text_ok() accepts it,
	 * e.g. the parser checked it: pf_sample.value_text_lp), so the encoder
	 * does not check it again; 0 (any initialiser that omits it) makes the
	 * encoder check. */
	unsigned char text_ok;
} pf_field;

typedef struct pf_point {
	pf_str measurement;
	pf_tag *tags;     /* any order; the encoder sorts them by key in place */
	size_t ntags;
	/* The common case, instead of tags (ntags 0): two lists the encoder
	 * merges into key order and copies as they are, plain[] winning over
	 * extra[] on an equal key. The caller promises, in each list, keys
	 * strictly ascending in byte order and needing no escaping, values
	 * not empty; in plain[], values needing no escaping (pf_sample.lp_plain
	 * says so of a sample's labels); extra[] only raw tags
	 * (pf_lp_tag_prepare()). An initialiser that omits them gives none. */
	const pf_label *plain;
	size_t nplain;
	const pf_tag *extra;
	size_t nextra;
	/* 1: the caller promises that the measurement and every field key are
	 * Prometheus metric names ([a-zA-Z_:][a-zA-Z0-9_:]*, or a fixed word
	 * such as "gauge"), which line protocol takes as they are: copied,
	 * not checked or escaped. 0 (any initialiser that omits it): checked. */
	int names_plain;
	pf_field *fields; /* written in the order given */
	size_t nfields;
	int has_time;
	int64_t time_ns;
} pf_point;

typedef struct pf_lp_stats {
	uint64_t lines;           /* lines written */
	uint64_t fields_nonfinite;/* NaN/Inf fields left out */
	uint64_t points_dropped;  /* points not written (no field left, or invalid) */
} pf_lp_stats;

/* Appends one line, ending in '\n', to out. Returns 0 when written; 1 when
 * nothing was written because every field was NaN/Inf (counted in st);
 * -EINVAL with a message in err when the point cannot be encoded (empty
 * measurement or key, invalid UTF-8); -E2BIG or -ENOMEM from the buffer.
 * On any return but 0, out is as it was. st may be NULL. */
int pf_lp_write(pf_buf *out, pf_point *p, enum pf_precision prec,
		pf_lp_stats *st, char *err, size_t errlen);

/* Writes the shortest decimal text that reads back as v (like Go's
 * strconv.FormatFloat(v, 'g', -1, 64), e.g. 1e+06, 0.5, +Inf) into dst,
 * NUL-terminated. Returns its length. dst must hold 32 bytes. */
size_t pf_fmt_float_g(char *dst, double v);

/* Writes v in decimal into dst, not terminated. Returns its length (at
 * most 20). */
size_t pf_fmt_u64(char *dst, uint64_t v);

/* Writes a point's time, ns in precision prec, as line protocol has it
 * (e.g. 1700000000123 for ms), NUL-terminated. Returns its length. dst
 * must hold 24 bytes. */
size_t pf_lp_fmt_time(char *dst, int64_t ns, enum pf_precision prec);

/* Prepares a tag that will be written on many lines. When its key needs no
 * escaping (ASCII, none of , = space, no control byte, no trailing
 * backslash) and its value is valid and not empty once trailing
 * backslashes are stripped, appends the escaped value to store, fills *out
 * as a raw tag whose value points into store, and returns 1. Otherwise
 * returns 0 and *out is the tag as given (raw 0), to be escaped per line.
 * out->value stays valid while store is not appended to again beyond its
 * capacity: reserve 2 * value.n bytes per tag beforehand. */
int pf_lp_tag_prepare(pf_str key, pf_str value, pf_buf *store, pf_tag *out);

/* 1 when s is a float that line protocol accepts as written. */
int pf_lp_float_text_ok(pf_str s);

/* Parses "ns", "us", "ms", "s" (also "1ns"...). Returns 0 or -1. */
int pf_precision_parse(const char *s, enum pf_precision *out);

#endif
