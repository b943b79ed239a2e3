/*
 * omcheck.c: OpenMetrics' document rules, on top of the line grammar that
 * expfmt.c parses: per sample the type's labels and values, the grouping of
 * a family's label sets, timestamps within a group, histogram bucket order
 * and consistency; per family the name clashes and the UNIT; and the
 * exemplar syntax. The rules and their messages follow the OpenMetrics
 * reference parser. Private to the parser (see expfmt_int.h).
 */
#include "expfmt_int.h"

#include <math.h>
#include <string.h>

#include "numparse.h"
#include "text.h"

static int is_integer(double v)
{
	return isfinite(v) && floor(v) == v;
}

/* The label of the current sample named name, or NULL. */
static const pf_label *find_label(const pf_parser *p, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < p->nlabels; i++)
		if (p->labels[i].name.n == n && memcmp(p->labels[i].name.p, name, n) == 0)
			return &p->labels[i];
	return NULL;
}

/* Hash of the sample name fam + sfx, for the names a family owns. */
static uint64_t name_hash(const char *fam, size_t n, const char *sfx)
{
	return pf_fnv1a(pf_fnv1a(PF_FNV_OFFSET, fam, n), sfx, strlen(sfx));
}

/* Ends the current histogram group at line: the rules about the group as a
 * whole (a +Inf bucket, _count and _sum consistent with it). */
static void histo_check(pf_parser *p, unsigned long line)
{
	histo_state *h = &p->h;
	if (!h->active)
		return;
	h->active = 0;
	const char *f = p->fam.data;
	int fl = (int)p->fam.len;
	if (!h->has_bucket || !isinf(h->bucket))
		pf_parser_report(p, line, 0, "histogram '%.*s' has no +Inf bucket", fl, f);
	else if (h->has_count && h->value != h->count)
		pf_parser_report(p, line, 0, "histogram '%.*s': _count does not match the +Inf bucket", fl, f);
	else if (h->has_sum && !h->has_count)
		pf_parser_report(p, line, 0, "histogram '%.*s': _count must be present if _sum is", fl, f);
	else if (h->has_gsum && !h->has_count)
		pf_parser_report(p, line, 0, "gaugehistogram '%.*s': _gcount must be present if _gsum is", fl, f);
	else if (!(h->has_sum || h->has_gsum) && h->has_count)
		pf_parser_report(p, line, 0, "histogram '%.*s': _sum must be present if _count is", fl, f);
	else if (h->neg_buckets && h->has_sum)
		pf_parser_report(p, line, 0, "histogram '%.*s': _sum is not allowed with negative buckets", fl, f);
	else if (!h->neg_buckets && h->neg_gsum)
		pf_parser_report(p, line, 0, "gaugehistogram '%.*s': negative _gsum without negative buckets", fl, f);
}

/* Runs at the end of each OpenMetrics family (expfmt.c's family_close). */
void pf_om_family_end(pf_parser *p, unsigned long line)
{
	if (p->h.active)
		histo_check(p, line);
	size_t n;
	const enum pf_suffix *sfx = pf_type_suffixes(p->fmt, p->type, &n);
	int clash = 0;
	/* The family's own name is always reserved, plus what its type owns. */
	if (pf_hset_add(&p->names_seen, name_hash(p->fam.data, p->fam.len, "")) == 1)
		clash = 1;
	for (size_t i = 0; i < n; i++) {
		if (sfx[i] == PF_SFX_NONE)
			continue;
		if (pf_hset_add(&p->names_seen, name_hash(p->fam.data, p->fam.len, pf_sfx_text[sfx[i]])) == 1)
			clash = 1;
	}
	if (clash)
		pf_parser_report(p, line, 0, "metric family '%.*s' clashes with an earlier one of the same name "
				 "(a family may appear once; its samples must be contiguous)",
				 (int)p->fam.len, p->fam.data);
	if (p->unit.len) {
		int ok = p->fam.len > p->unit.len &&
			 p->fam.data[p->fam.len - p->unit.len - 1] == '_' &&
			 memcmp(p->fam.data + p->fam.len - p->unit.len, p->unit.data, p->unit.len) == 0;
		if (!ok)
			pf_parser_report(p, p->unit_line, 0, "UNIT '%.*s' does not match the metric name '%.*s' "
					 "(the name must end in _%.*s)", (int)p->unit.len, p->unit.data,
					 (int)p->fam.len, p->fam.data, (int)p->unit.len, p->unit.data);
		else if (p->type == PF_MT_INFO || p->type == PF_MT_STATESET)
			pf_parser_report(p, p->unit_line, 0, "UNIT is not allowed for %s metric '%.*s'",
					 pf_mtype_name(p->type), (int)p->fam.len, p->fam.data);
	}
}

/* See expfmt_int.h. Each rule is the reference parser's; the first broken
 * one is reported. */
int pf_om_check(pf_parser *p, const pf_sample *sm, size_t col_labels, size_t col_value,
		int has_exemplar)
{
	unsigned long ln = p->lineno;
	enum pf_mtype t = sm->type;
	enum pf_suffix sfx = sm->suffix;
	double v = sm->value;
	const pf_label *skip = NULL;

	/* Labels that a type requires. */
	if (t == PF_MT_STATESET) {
		skip = NULL;
		for (size_t i = 0; i < p->nlabels; i++)
			if (pf_str_eq(p->labels[i].name, (pf_str){ p->fam.data, p->fam.len }))
				skip = &p->labels[i];
		if (skip == NULL) {
			pf_parser_report(p, ln, col_labels, "stateset sample needs a label named '%.*s'",
					 (int)p->fam.len, p->fam.data);
			return -1;
		}
	}
	if ((t == PF_MT_HISTOGRAM || t == PF_MT_GAUGEHISTOGRAM) && sfx == PF_SFX_BUCKET) {
		const pf_label *le = find_label(p, "le");
		double b;
		if (le == NULL || pf_parse_float(le->value.p, le->value.n, &b) != 0 || isnan(b) ||
		    (isinf(b) && b > 0 && !pf_str_eqc(le->value, "+Inf"))) {
			pf_parser_report(p, ln, col_labels, "bucket needs an 'le' label with a number (+Inf spelled '+Inf')");
			return -1;
		}
		if (!is_integer(v)) {
			pf_parser_report(p, ln, col_value, "bucket value must be an integer");
			return -1;
		}
		skip = le;
	}
	if ((sfx == PF_SFX_COUNT || sfx == PF_SFX_GCOUNT) && !is_integer(v)) {
		pf_parser_report(p, ln, col_value, "_count value must be an integer");
		return -1;
	}
	if (t == PF_MT_SUMMARY && sfx == PF_SFX_NONE) {
		const pf_label *q = find_label(p, "quantile");
		double qv;
		if (q == NULL || pf_parse_float(q->value.p, q->value.n, &qv) != 0 || !(qv >= 0 && qv <= 1)) {
			pf_parser_report(p, ln, col_labels, "summary quantile needs a 'quantile' label between 0 and 1");
			return -1;
		}
		skip = q;
	}

	/* Group: the labels but le/quantile/the stateset label. */
	uint64_t g = 0x9e3779b97f4a7c15ULL;
	if (t != PF_MT_INFO) {
		for (size_t i = 0; i < p->nlabels; i++) {
			if (&p->labels[i] == skip)
				continue;
			g += pf_hash_label(p->labels[i].name, p->labels[i].value);
		}
		/* Summary quantile samples and _sum/_count share a group; so do buckets. */
	}
	if (p->group_open && g != p->group && pf_hset_has(&p->groups_seen, g)) {
		pf_parser_report(p, ln, 1, "samples of one label set of '%.*s' are not together (invalid metric grouping)",
				 (int)p->fam.len, p->fam.data);
		return -1;
	}
	int new_group = !p->group_open || g != p->group;
	if (!new_group) {
		if (sm->has_ts != p->group_has_ts) {
			pf_parser_report(p, ln, 1, "mix of samples with and without timestamps in one group");
			return -1;
		}
		if (sm->has_ts && sm->ts_ns < p->group_ts && t != PF_MT_INFO) {
			pf_parser_report(p, ln, 1, "timestamps went backwards within a group");
			return -1;
		}
	}

	/* Value rules. */
	if (t == PF_MT_STATESET && v != 0 && v != 1) {
		pf_parser_report(p, ln, col_value, "stateset samples can only be 0 or 1");
		return -1;
	}
	if (t == PF_MT_INFO && v != 1) {
		pf_parser_report(p, ln, col_value, "info samples can only have the value 1");
		return -1;
	}
	if (t == PF_MT_SUMMARY && sfx == PF_SFX_NONE && v < 0) {
		pf_parser_report(p, ln, col_value, "quantile values cannot be negative");
		return -1;
	}
	int counter_like = sfx == PF_SFX_TOTAL || sfx == PF_SFX_SUM || sfx == PF_SFX_COUNT ||
			   sfx == PF_SFX_BUCKET || sfx == PF_SFX_GCOUNT || sfx == PF_SFX_GSUM;
	if (counter_like && isnan(v)) {
		pf_parser_report(p, ln, col_value, "counter-like samples (%s) cannot be NaN", pf_sfx_text[sfx]);
		return -1;
	}
	if (counter_like && sfx != PF_SFX_GSUM && v < 0) {
		pf_parser_report(p, ln, col_value, "counter-like samples (%s) cannot be negative", pf_sfx_text[sfx]);
		return -1;
	}
	if (has_exemplar && !(((t == PF_MT_HISTOGRAM || t == PF_MT_GAUGEHISTOGRAM) && sfx == PF_SFX_BUCKET) ||
			      (t == PF_MT_COUNTER && sfx == PF_SFX_TOTAL))) {
		pf_parser_report(p, ln, 0, "only histogram buckets and counter _total samples can have exemplars");
		return -1;
	}

	/* Histogram per-group checks (a group also ends when the timestamp changes). */
	if (t == PF_MT_HISTOGRAM || t == PF_MT_GAUGEHISTOGRAM) {
		histo_state *h = &p->h;
		if (h->active && (new_group || sm->has_ts != p->group_has_ts ||
				  (sm->has_ts && sm->ts_ns != p->group_ts)))
			histo_check(p, ln);
		if (!h->active) {
			memset(h, 0, sizeof(*h));
			h->active = 1;
		}
		if (sfx == PF_SFX_BUCKET) {
			double b;
			pf_parse_float(skip->value.p, skip->value.n, &b);
			if (b < 0)
				h->neg_buckets = 1;
			if (h->has_bucket && b <= h->bucket) {
				pf_parser_report(p, ln, col_labels, "histogram buckets out of order (le must increase)");
				return -1;
			}
			if (v < h->value) {
				pf_parser_report(p, ln, 0, "histogram bucket values must not decrease");
				return -1;
			}
			h->has_bucket = 1;
			h->bucket = b;
			h->value = v;
		} else if (sfx == PF_SFX_COUNT || sfx == PF_SFX_GCOUNT) {
			h->has_count = 1;
			h->count = v;
		} else if (sfx == PF_SFX_SUM) {
			h->has_sum = 1;
		} else if (sfx == PF_SFX_GSUM) {
			h->has_gsum = 1;
			if (v < 0)
				h->neg_gsum = 1;
		}
	}

	if (new_group) {
		if (pf_hset_add(&p->groups_seen, g) < 0) {
			pf_parser_report(p, ln, 0, "out of memory");
			return -1;
		}
	}
	p->group_open = 1;
	p->group = g;
	p->group_has_ts = sm->has_ts != 0;
	p->group_ts = sm->ts_ns;
	return 0;
}

/* See expfmt_int.h. The label names and values are checked but not kept
 * (exemplars are not passed on). */
size_t pf_om_exemplar(pf_parser *p, const char *s, size_t n, size_t i)
{
	if (i >= n || s[i] != '{')
		return i + 1;
	i++;
	size_t len = 0;
	if (i < n && s[i] != '}') {
		for (;;) {
			pf_str nm, val;
			size_t ec, j;
			if (i < n && s[i] == '"') {
				j = pf_read_quoted(p, s, n, i, &nm, &ec); /* a UTF-8 label name */
				if (j == 0 || nm.n == 0)
					return i + 1;
			} else {
				j = pf_scan_label_name(s, n, i);
				nm.p = s + i;
				nm.n = j - i;
			}
			if (j == i || j >= n || s[j] != '=')
				return j + 1;
			if (j + 1 >= n || s[j + 1] != '"')
				return j + 2;
			size_t k = pf_read_quoted(p, s, n, j + 1, &val, &ec);
			if (k == 0)
				return ec + 1;
			len += nm.n + pf_utf8_chars(val.p, val.n);
			i = k;
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i >= n || s[i] != '}')
		return i + 1;
	i++;
	if (len > 128)
		return 1;
	if (i >= n || s[i] != ' ')
		return i + 1;
	i++;
	size_t v0 = i;
	while (i < n && s[i] != ' ')
		i++;
	double d;
	if (pf_parse_float(s + v0, i - v0, &d) != 0)
		return v0 + 1;
	if (i < n) {
		i++;
		size_t t0 = i;
		while (i < n && s[i] != ' ')
			i++;
		int hts;
		int64_t ns;
		if (i != n || pf_parse_om_ts(s + t0, i - t0, &hts, &ns) != 0)
			return t0 + 1;
	}
	return 0;
}
