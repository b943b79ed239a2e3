/*
 * promtext.h: writes the Prometheus text exposition format 0.0.4 into a
 * pf_buf, for promflux's own /metrics.
 *
 * The caller composes a body family by family: pf_prom_family() writes the
 * "# HELP" and "# TYPE" lines, then pf_prom_sample*() / pf_prom_hist() write
 * that family's samples. Nothing is kept between calls: the order of
 * families and the grouping of samples under their family are the
 * caller's responsibility (Prometheus wants all samples of a family right
 * after its header, and a family only once per body).
 *
 * Text rules, as Prometheus' own text parser reads them:
 *   - metric and label names are checked ([a-zA-Z_:][a-zA-Z0-9_:]*, label
 *     names without ':' and not starting with "__"); a bad name is a
 *     programming error and returns -EINVAL without writing;
 *   - HELP text escapes \ and newline; label values escape \, " and
 *     newline; invalid UTF-8 in either becomes U+FFFD (Prometheus refuses
 *     a whole body over one invalid label value);
 *   - values: NaN, +Inf, -Inf; a float holding an integer below 2^53 as
 *     that integer ("3", "1000000"); other floats as the shortest text that
 *     reads back the same (pf_fmt_float_g, e.g. 0.25, 1e+21); uint64/int64
 *     exactly.
 *
 * Ownership: nothing is retained. Strings are read during the call only.
 * On any error return the buffer is as it was before the call (a body cut
 * mid-line never goes out).
 */
#ifndef PF_PROMTEXT_H
#define PF_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

/* Content-Type of a body written by this module. */
#define PF_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum pf_prom_type {
	PF_PROM_COUNTER,
	PF_PROM_GAUGE,
	PF_PROM_HISTOGRAM,
	PF_PROM_SUMMARY,
	PF_PROM_UNTYPED,
};

/* One label pair. Both strings NUL-terminated; value may be "" (Prometheus
 * treats an empty value as an absent label). */
typedef struct pf_prom_label {
	const char *name;
	const char *value;
} pf_prom_label;

/* Writes "# HELP name help\n" (skipped when help is NULL) and
 * "# TYPE name type\n". Returns 0, -EINVAL (bad name or type), -E2BIG or
 * -ENOMEM. */
int pf_prom_family(pf_buf *b, const char *name, enum pf_prom_type type, const char *help);

/*
 * Appends the escaped form of labels, `a="x",b="y"` (no braces), to out,
 * for a label set written on many samples (a target's labels on each of
 * its series): escaping it once per body or once per configuration
 * instead of once per sample. Pass the result as `pre` below. Returns 0,
 * -EINVAL (bad label name), -E2BIG or -ENOMEM; out is as it was on error.
 */
int pf_prom_labels_prepare(pf_buf *out, const pf_prom_label *l, size_t n);

/*
 * Writes one sample line: name{pre,l...} value\n.
 *   pre: labels prepared by pf_prom_labels_prepare() (written first, as
 *        they are), or NULL / empty for none;
 *   l, n: more labels, escaped here (l may be NULL when n is 0).
 * No braces are written when there are no labels at all.
 * Returns 0, -EINVAL (bad name or label name), -E2BIG or -ENOMEM.
 */
int pf_prom_sample(pf_buf *b, const char *name, const pf_str *pre,
		   const pf_prom_label *l, size_t n, double v);
int pf_prom_sample_u64(pf_buf *b, const char *name, const pf_str *pre,
		       const pf_prom_label *l, size_t n, uint64_t v);
int pf_prom_sample_i64(pf_buf *b, const char *name, const pf_str *pre,
		       const pf_prom_label *l, size_t n, int64_t v);

/* Writes v as a sample value (the rules above) into dst, NUL-terminated;
 * returns its length. dst must hold PF_PROM_VALUE_MAX bytes. */
#define PF_PROM_VALUE_MAX 32
size_t pf_prom_fmt_value(char *dst, double v);

/*
 * A histogram with fixed buckets, kept in place (no allocation): embed it
 * in whatever it measures. Bucket counts are stored per bucket and written
 * cumulatively.
 */
#define PF_HIST_MAX_BOUNDS 24

typedef struct pf_hist {
	double bounds[PF_HIST_MAX_BOUNDS];       /* upper bounds, ascending, finite */
	uint64_t counts[PF_HIST_MAX_BOUNDS + 1]; /* per bucket; the last is (max bound, +Inf] */
	size_t nbounds;
	double sum;
	uint64_t count;
} pf_hist;

/* Copies n bounds (strictly ascending, finite; +Inf is implicit and must
 * not be given; n may be 0) and zeroes the counts. Returns 0 or -EINVAL
 * (n > PF_HIST_MAX_BOUNDS, not ascending, NaN or infinite bound). */
int pf_hist_init(pf_hist *h, const double *bounds, size_t n);

/* Counts v in the first bucket whose bound is >= v (Prometheus' "le") and
 * adds it to the sum. NaN is ignored: it would make the sum NaN forever. */
void pf_hist_observe(pf_hist *h, double v);

/*
 * Writes the samples of one histogram series (after a pf_prom_family()
 * with PF_PROM_HISTOGRAM): name_bucket{...,le="b"} for each bound and
 * le="+Inf" (cumulative counts), then name_sum{...} and name_count{...}.
 * Labels as for pf_prom_sample(); none of them may be "le".
 * Returns 0, -EINVAL, -E2BIG or -ENOMEM (b as it was).
 */
int pf_prom_hist(pf_buf *b, const char *name, const pf_str *pre,
		 const pf_prom_label *l, size_t n, const pf_hist *h);

#endif
