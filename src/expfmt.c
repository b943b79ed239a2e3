/*
 * expfmt.c: streaming parser for Prometheus text 0.0.4 and OpenMetrics 1.0:
 * chunks and lines, the grammar of sample and metadata lines, families.
 * OpenMetrics' document rules are in omcheck.c, numbers in numparse.c; the
 * parser's state, shared by them, in expfmt_int.h.
 *
 * The input is cut into lines 64 bytes at a time (a bit per newline,
 * nl_next(); memchr near a chunk's end); a line that straddles two chunks
 * is copied into `carry` and completed from the next chunk, every other line
 * is parsed where it lies. A line is walked once, left to right; names and
 * label values are slices of the line unless they contain escapes, in which
 * case they are unescaped into `scratch`, which is sized for the whole line
 * before the walk so that earlier slices never move. Names and the common
 * label values are scanned 16 bytes at a time (SSE2) while 16 bytes of the
 * line are left, a byte at a time after that.
 *
 * Which grammar rules apply follows the parser a user would otherwise run:
 * for 0.0.4 Prometheus' model/textparse (what a Prometheus server scrapes
 * with), for OpenMetrics the OpenMetrics reference parser, including its
 * document-level rules (# EOF, families split in two, histogram bucket
 * order, grouping). Deliberate differences are listed in README.md
 * ("Parser decisions").
 */
#include "expfmt_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copy.h"
#include "direct.h"
#include "numparse.h"
#include "text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define PF_SSE2 1
#endif

void pf_parser_report(pf_parser *p, unsigned long line, unsigned long col, const char *fmt, ...)
{
	char raw[512], msg[PF_QUOTE_SIZE(sizeof(raw))];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Names quoted from the input may hold control bytes (an escaped
	 * newline in a quoted name): a message stays one printable line. */
	pf_quote(msg, sizeof(msg), raw, strlen(raw), sizeof(raw), 0);
	p->stats.errors++;
	if (col == 0)
		col = 1; /* a document-level rule: point at the line where it was found */
	col += p->col_shift; /* a comment line is lexed without its leading blanks */
	if (p->ops.error) {
		pf_parse_error e = { line, col, msg };
		p->ops.error(p->ud, &e);
	}
	if (p->policy == PF_ON_ERROR_REJECT && !p->stopped) {
		p->stopped = 1;
		p->rc = -EINVAL;
	}
}

/* At most 40 bytes of input for a message, control bytes as \xNN, returned
 * by value so that it can be an argument of pf_parser_report(): quote(s, n).s */
typedef struct snip {
	char s[PF_QUOTE_SIZE(40)];
} snip;

static snip quote(const char *p, size_t n)
{
	snip r;
	pf_quote(r.s, sizeof(r.s), p, n, 40, 0);
	return r;
}

const char *pf_mtype_name(enum pf_mtype t)
{
	switch (t) {
	case PF_MT_COUNTER: return "counter";
	case PF_MT_GAUGE: return "gauge";
	case PF_MT_HISTOGRAM: return "histogram";
	case PF_MT_GAUGEHISTOGRAM: return "gaugehistogram";
	case PF_MT_SUMMARY: return "summary";
	case PF_MT_INFO: return "info";
	case PF_MT_STATESET: return "stateset";
	case PF_MT_UNTYPED: break;
	}
	return "untyped";
}

static void parser_init_state(pf_parser *p, enum pf_format fmt)
{
	p->fmt = fmt;
	p->lineno = 0;
	p->stopped = 0;
	p->rc = 0;
	p->eof_seen = 0;
	p->after_eof_reported = 0;
	memset(&p->stats, 0, sizeof(p->stats));
	pf_buf_reset(&p->carry);
	pf_buf_reset(&p->fam);
	pf_buf_reset(&p->unit);
	p->type = PF_MT_UNTYPED;
	p->fam_open = 0;
	p->fam_has_samples = 0;
	p->fam_has_help = p->fam_has_type = p->fam_has_unit = 0;
	pf_hset_clear(&p->names_seen);
	pf_hset_clear(&p->groups_seen);
	pf_hset_clear(&p->typed);
	p->typed_npend = 0;
	p->group_open = 0;
	memset(&p->h, 0, sizeof(p->h));
}

pf_parser *pf_parser_new(enum pf_format fmt, enum pf_on_error policy,
			 const pf_parser_ops *ops, void *ud)
{
	pf_parser *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->policy = policy;
	if (ops)
		p->ops = *ops;
	p->ud = ud;
	/* Lines and names are bounded by the body limit of the caller. */
	pf_buf_init(&p->carry, SIZE_MAX / 4);
	pf_buf_init(&p->scratch, SIZE_MAX / 4);
	pf_buf_init(&p->fam, SIZE_MAX / 4);
	pf_buf_init(&p->unit, SIZE_MAX / 4);
	parser_init_state(p, fmt);
	return p;
}

void pf_parser_set_plain(pf_parser *p, int on)
{
	p->no_plain = !on;
}

void pf_parser_set_direct(pf_parser *p, pf_direct *d)
{
	p->direct = d;
}

void pf_parser_reset(pf_parser *p, enum pf_format fmt)
{
	parser_init_state(p, fmt);
}

void pf_parser_free(pf_parser *p)
{
	if (p == NULL)
		return;
	pf_buf_free(&p->carry);
	pf_buf_free(&p->scratch);
	pf_buf_free(&p->fam);
	pf_buf_free(&p->unit);
	free(p->labels);
	pf_hset_free(&p->names_seen);
	pf_hset_free(&p->groups_seen);
	pf_hset_free(&p->typed);
	free(p->typed_pend);
	free(p);
}

const pf_parse_stats *pf_parser_stats(const pf_parser *p)
{
	return &p->stats;
}

enum pf_format pf_format_from_content_type(const char *ct)
{
	if (ct == NULL)
		return PF_FORMAT_PROMETHEUS;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	static const char om[] = "application/openmetrics-text";
	if (strncasecmp(ct, om, sizeof(om) - 1) == 0)
		return PF_FORMAT_OPENMETRICS;
	return PF_FORMAT_PROMETHEUS;
}

/* ---- lexing helpers -------------------------------------------------------- */

static const unsigned char name_first[256] = {
#define R(a, b) [a ... b] = 1
	R('a', 'z'), R('A', 'Z'), ['_'] = 1, [':'] = 1,
};
static const unsigned char name_rest[256] = {
	R('a', 'z'), R('A', 'Z'), R('0', '9'), ['_'] = 1, [':'] = 1,
};
static const unsigned char lname_first[256] = {
	R('a', 'z'), R('A', 'Z'), ['_'] = 1,
};
static const unsigned char lname_rest[256] = {
	R('a', 'z'), R('A', 'Z'), R('0', '9'), ['_'] = 1,
#undef R
};

#ifdef PF_SSE2
/* Bits of the 16 bytes at s that are neither a letter, a digit, '_' nor
 * (colon) ':': the bytes name_rest (colon) or lname_rest refuse. */
static inline unsigned not_name16(const char *s, int colon)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
	const __m128i zero = _mm_setzero_si128();
	/* x <= k, unsigned: subtracting k with saturation leaves 0. */
	__m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
	__m128i alpha = _mm_cmpeq_epi8(_mm_subs_epu8(_mm_sub_epi8(lower, _mm_set1_epi8('a')), _mm_set1_epi8(25)), zero);
	__m128i digit = _mm_cmpeq_epi8(_mm_subs_epu8(_mm_sub_epi8(v, _mm_set1_epi8('0')), _mm_set1_epi8(9)), zero);
	__m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
	if (colon)
		ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
	return ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
}
#endif

/* Index of the first byte from s[i] on that rest (name_rest or
 * lname_rest) refuses, or n. 16 bytes at a time while 16 are left in the
 * line (names are mostly shorter: one step), then a byte at a time. */
static inline size_t rest_end(const char *s, size_t n, size_t i, const unsigned char *rest)
{
#ifdef PF_SSE2
	while (n - i >= 16) {
		unsigned m = not_name16(s + i, rest == name_rest);
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (i < n && rest[(unsigned char)s[i]])
		i++;
	return i;
}

/* Index after the name at s[i] whose first byte is in first and the
 * rest in rest, or i if there is none. */
static inline size_t scan_name(const char *s, size_t n, size_t i, const unsigned char *first,
			       const unsigned char *rest)
{
	if (i >= n || !first[(unsigned char)s[i]])
		return i;
	return rest_end(s, n, i + 1, rest);
}

/* Whether the n bytes at a and b are the same: a family's name against the
 * start of a sample's, 16 bytes at a time and the last 16 overlapping,
 * without a call. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
#ifdef PF_SSE2
	if (n >= 16) {
		size_t i = 0;
		for (;;) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
			__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
			if (_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) != 0xffff)
				return 0;
			if (i + 16 == n)
				return 1;
			i = n - i - 16 >= 16 ? i + 16 : n - 16;
		}
	}
#endif
	return memcmp(a, b, n) == 0;
}

/* Index after the metric name at s[i], or i if there is none. Most names
 * start with the current family's name (a TYPE line after its HELP, the
 * family's samples): when the family name is a plain one, that prefix is
 * compared in one go and only the rest is scanned byte by byte. */
static size_t scan_metric_name(const pf_parser *p, const char *s, size_t n, size_t i,
			       int *fam_prefix)
{
	size_t f = p->fam.len;
	*fam_prefix = 0;
	if (p->fam_plain && f > 0 && n - i >= f && same_bytes(s + i, p->fam.data, f)) {
		*fam_prefix = 1;
		return rest_end(s, n, i + f, name_rest);
	}
	return scan_name(s, n, i, name_first, name_rest);
}

size_t pf_scan_label_name(const char *s, size_t n, size_t i)
{
	return scan_name(s, n, i, lname_first, lname_rest);
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Checked before the UTF-8 rules: label values are nearly always ASCII. */
static int all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* See expfmt_int.h. Keeping other backslash pairs as written is what both
 * Go parsers and the OpenMetrics reference parser do. */
size_t pf_read_quoted(pf_parser *p, const char *s, size_t n, size_t i, pf_str *out,
		      size_t *errcol)
{
	size_t start = ++i;
	int esc = 0;
	while (i < n) {
		/* Find the next quote or backslash fast. */
		const char *q = memchr(s + i, '"', n - i);
		const char *b = esc ? NULL : memchr(s + i, '\\', (q ? (size_t)(q - s) : n) - i);
		if (b) {
			esc = 1;
			break;
		}
		if (q == NULL) {
			*errcol = n;
			return 0;
		}
		out->p = s + start;
		out->n = (size_t)(q - s) - start;
		return (size_t)(q - s) + 1;
	}
	if (!esc) {
		*errcol = n;
		return 0;
	}
	/* Slow path: unescape into scratch (sized for the line beforehand). */
	char *d = p->scratch.data + p->scratch.len;
	size_t dn = 0;
	for (i = start; i < n; i++) {
		char c = s[i];
		if (c == '"') {
			out->p = d;
			out->n = dn;
			p->scratch.len += dn;
			return i + 1;
		}
		if (c == '\\') {
			if (i + 1 >= n) {
				*errcol = i + 1;
				return 0;
			}
			char e = s[++i];
			if (e == '\\' || e == '"')
				d[dn++] = e;
			else if (e == 'n')
				d[dn++] = '\n';
			else {
				d[dn++] = '\\';
				d[dn++] = e;
			}
			continue;
		}
		d[dn++] = c;
	}
	*errcol = n;
	return 0;
}

/* pf_buf_reserve(&p->scratch, n), whose room is nearly always there
 * already: the call is made only when it is not. Returns 0 or -1. */
static inline int scratch_room(pf_parser *p, size_t n)
{
	if (p->scratch.len + n + 1 <= p->scratch.cap)
		return 0;
	return pf_buf_reserve(&p->scratch, n) ? 0 : -1;
}

/* Appends a label to the current sample's set. Returns 0 or -1 (out of
 * memory). */
static int push_label(pf_parser *p, pf_str name, pf_str value)
{
	if (p->nlabels == p->labels_cap) {
		size_t ncap = p->labels_cap ? p->labels_cap * 2 : 16;
		pf_label *nl = realloc(p->labels, ncap * sizeof(*nl));
		if (nl == NULL)
			return -1;
		p->labels = nl;
		p->labels_cap = ncap;
	}
	p->labels[p->nlabels].name = name;
	p->labels[p->nlabels].value = value;
	p->nlabels++;
	return 0;
}

static int has_dup_label(const pf_parser *p)
{
	for (size_t i = 1; i < p->nlabels; i++)
		for (size_t j = 0; j < i; j++)
			if (pf_str_eq(p->labels[i].name, p->labels[j].name))
				return 1;
	return 0;
}

/* ---- families -------------------------------------------------------------- */

const char *const pf_sfx_text[] = {
	[PF_SFX_NONE] = "", [PF_SFX_TOTAL] = "_total", [PF_SFX_CREATED] = "_created",
	[PF_SFX_BUCKET] = "_bucket", [PF_SFX_COUNT] = "_count", [PF_SFX_SUM] = "_sum",
	[PF_SFX_GCOUNT] = "_gcount", [PF_SFX_GSUM] = "_gsum", [PF_SFX_INFO] = "_info",
};

/* The sample names a family of a type owns, per format. */
const enum pf_suffix *pf_type_suffixes(enum pf_format fmt, enum pf_mtype t, size_t *n)
{
	static const enum pf_suffix none[] = { PF_SFX_NONE };
	static const enum pf_suffix om_counter[] = { PF_SFX_TOTAL, PF_SFX_CREATED };
	static const enum pf_suffix om_summary[] = { PF_SFX_NONE, PF_SFX_COUNT, PF_SFX_SUM, PF_SFX_CREATED };
	static const enum pf_suffix om_histo[] = { PF_SFX_COUNT, PF_SFX_SUM, PF_SFX_BUCKET, PF_SFX_CREATED };
	static const enum pf_suffix om_ghisto[] = { PF_SFX_GCOUNT, PF_SFX_GSUM, PF_SFX_BUCKET };
	static const enum pf_suffix om_info[] = { PF_SFX_INFO };
	static const enum pf_suffix prom_summary[] = { PF_SFX_NONE, PF_SFX_COUNT, PF_SFX_SUM };
	static const enum pf_suffix prom_histo[] = { PF_SFX_BUCKET, PF_SFX_COUNT, PF_SFX_SUM };
#define RET(a) do { *n = sizeof(a) / sizeof(a[0]); return a; } while (0)
	if (fmt == PF_FORMAT_OPENMETRICS) {
		switch (t) {
		case PF_MT_COUNTER: RET(om_counter);
		case PF_MT_SUMMARY: RET(om_summary);
		case PF_MT_HISTOGRAM: RET(om_histo);
		case PF_MT_GAUGEHISTOGRAM: RET(om_ghisto);
		case PF_MT_INFO: RET(om_info);
		default: RET(none);
		}
	}
	switch (t) {
	case PF_MT_SUMMARY: RET(prom_summary);
	case PF_MT_HISTOGRAM: RET(prom_histo);
	default: RET(none);
	}
#undef RET
}

/* Which suffix of the current family a sample name is, or -1 if none.
 * fam_prefix: scan_metric_name() found name to start with the family's
 * name already. */
static int family_suffix(const pf_parser *p, pf_str name, int fam_prefix)
{
	if (!p->fam_open || name.n < p->fam.len ||
	    (!fam_prefix && memcmp(name.p, p->fam.data, p->fam.len) != 0))
		return -1;
	size_t n;
	const enum pf_suffix *sfx = pf_type_suffixes(p->fmt, p->type, &n);
	const char *rest = name.p + p->fam.len;
	size_t rn = name.n - p->fam.len;
	for (size_t i = 0; i < n; i++) {
		const char *t = pf_sfx_text[sfx[i]];
		if (strlen(t) == rn && memcmp(rest, t, rn) == 0)
			return (int)sfx[i];
	}
	return -1;
}

/* Ends the current family, if any, at line. */
static void family_close(pf_parser *p, unsigned long line)
{
	if (!p->fam_open)
		return;
	if (p->fmt == PF_FORMAT_OPENMETRICS)
		pf_om_family_end(p, line);
	p->fam_open = 0;
}

/* Starts the family name[0..n), untyped until a TYPE line says otherwise;
 * plain: the name was not quoted (see scan_metric_name). Returns 0 or -1
 * (out of memory). */
static int family_open(pf_parser *p, const char *name, size_t n, int plain)
{
	pf_buf_reset(&p->fam);
	pf_buf_reset(&p->unit);
	p->fam_plain = 0;
	if (pf_buf_append(&p->fam, name, n) != 0)
		return -1;
	p->fam_plain = plain;
	p->fam_open = 1;
	p->type = PF_MT_UNTYPED;
	p->fam_has_samples = 0;
	p->fam_has_help = p->fam_has_type = p->fam_has_unit = 0;
	pf_hset_clear(&p->groups_seen);
	p->group_open = 0;
	memset(&p->h, 0, sizeof(p->h));
	return 0;
}

/* The key of a (family name, type) pair in p->typed. */
static uint64_t typed_key(const char *name, size_t n, enum pf_mtype t)
{
	return pf_hash_bytes(PF_FNV_OFFSET, name, n) ^ pf_mix64((uint64_t)t + 1);
}

/* Notes a TYPE line's key for family_resume(). Returns 0 or -1. */
static int typed_note(pf_parser *p, uint64_t key)
{
	if (p->typed_npend == p->typed_cap) {
		size_t cap = p->typed_cap ? p->typed_cap * 2 : 64;
		uint64_t *k = realloc(p->typed_pend, cap * sizeof *k);
		if (k == NULL)
			return -1;
		p->typed_pend = k;
		p->typed_cap = cap;
	}
	p->typed_pend[p->typed_npend++] = key;
	return 0;
}

/*
 * 0.0.4 only: a sample that does not continue the current family may resume
 * one declared earlier (a family split by other metrics, which expfmt and
 * Telegraf merge). Opens that family with its type and returns the sample's
 * suffix, or -1 when no TYPE line names it.
 */
static int family_resume(pf_parser *p, pf_str name, int plain)
{
	static const struct { const char *sfx; enum pf_suffix s; enum pf_mtype t; } cand[] = {
		{ "", PF_SFX_NONE, PF_MT_COUNTER }, { "", PF_SFX_NONE, PF_MT_GAUGE },
		{ "", PF_SFX_NONE, PF_MT_SUMMARY }, { "", PF_SFX_NONE, PF_MT_UNTYPED },
		{ "_bucket", PF_SFX_BUCKET, PF_MT_HISTOGRAM },
		{ "_sum", PF_SFX_SUM, PF_MT_HISTOGRAM }, { "_count", PF_SFX_COUNT, PF_MT_HISTOGRAM },
		{ "_sum", PF_SFX_SUM, PF_MT_SUMMARY }, { "_count", PF_SFX_COUNT, PF_MT_SUMMARY },
	};
	for (size_t i = 0; i < p->typed_npend; i++)
		if (pf_hset_add(&p->typed, p->typed_pend[i]) < 0)
			return -1; /* out of memory: as if not declared */
	p->typed_npend = 0;
	if (p->typed.n == 0)
		return -1;
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		size_t sl = strlen(cand[i].sfx);
		if (name.n <= sl || memcmp(name.p + name.n - sl, cand[i].sfx, sl) != 0)
			continue;
		if (!pf_hset_has(&p->typed, typed_key(name.p, name.n - sl, cand[i].t)))
			continue;
		if (family_open(p, name.p, name.n - sl, plain) != 0)
			return -1;
		p->type = cand[i].t;
		return (int)cand[i].s;
	}
	return -1;
}

/* ---- metadata lines -------------------------------------------------------- */

/* The type named by s[0..n) in a TYPE line of format fmt. Returns 0 or -1
 * (not a type of that format). */
static int parse_type_word(const char *s, size_t n, enum pf_format fmt, enum pf_mtype *t)
{
#define W(w) w, sizeof(w) - 1
	static const struct { const char *w; size_t n; enum pf_mtype t; int om_only; int prom_only; } types[] = {
		{ W("counter"), PF_MT_COUNTER, 0, 0 },
		{ W("gauge"), PF_MT_GAUGE, 0, 0 },
		{ W("histogram"), PF_MT_HISTOGRAM, 0, 0 },
		{ W("summary"), PF_MT_SUMMARY, 0, 0 },
		{ W("untyped"), PF_MT_UNTYPED, 0, 1 },
		{ W("unknown"), PF_MT_UNTYPED, 1, 0 },
		{ W("gaugehistogram"), PF_MT_GAUGEHISTOGRAM, 1, 0 },
		{ W("info"), PF_MT_INFO, 1, 0 },
		{ W("stateset"), PF_MT_STATESET, 1, 0 },
	};
#undef W
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].n != n || s[0] != types[i].w[0] || memcmp(types[i].w, s, n) != 0)
			continue;
		if (fmt == PF_FORMAT_OPENMETRICS && types[i].prom_only)
			return -1;
		if (fmt == PF_FORMAT_PROMETHEUS && types[i].om_only)
			return -1;
		*t = types[i].t;
		return 0;
	}
	return -1;
}

/* Reads a metric name (plain or quoted) at s[i]; returns the index after it
 * or 0 on error. *fam_prefix as scan_metric_name() sets it (0 for a
 * quoted name). */
static size_t read_metric_name(pf_parser *p, const char *s, size_t n, size_t i, pf_str *name, int *fam_prefix)
{
	*fam_prefix = 0;
	if (i < n && s[i] == '"') {
		size_t ec;
		size_t j = pf_read_quoted(p, s, n, i, name, &ec);
		if (j == 0 || name->n == 0 || pf_utf8_valid(name->p, name->n) != name->n)
			return 0;
		return j;
	}
	size_t j = scan_metric_name(p, s, n, i, fam_prefix);
	if (j == i)
		return 0;
	name->p = s + i;
	name->n = j - i;
	return j;
}

/* A line that starts with '#' (after blanks in 0.0.4): HELP, TYPE, UNIT,
 * OpenMetrics' # EOF, or (0.0.4 only) a comment. */
static void meta_line(pf_parser *p, const char *s, size_t n)
{
	unsigned long ln = p->lineno;
	int om = p->fmt == PF_FORMAT_OPENMETRICS;
	size_t i;
	const char *kw;
	int kind; /* 1 HELP, 2 TYPE, 3 UNIT */

	if (om) {
		if (n == 5 && memcmp(s, "# EOF", 5) == 0) {
			family_close(p, ln);
			p->eof_seen = 1;
			return;
		}
		/* "# KEYWORD name text": exactly one space between the parts. */
		if (n < 2 || s[1] != ' ') {
			pf_parser_report(p, ln, 1, "invalid comment: OpenMetrics allows only '# HELP', '# TYPE', "
					 "'# UNIT' and '# EOF' lines");
			return;
		}
		i = 2;
	} else {
		i = skip_ws(s, n, 1);
	}
	if (n - i >= 4 && memcmp(s + i, "HELP", 4) == 0) {
		kind = 1;
		kw = "HELP";
	} else if (n - i >= 4 && memcmp(s + i, "TYPE", 4) == 0) {
		kind = 2;
		kw = "TYPE";
	} else if (om && n - i >= 4 && memcmp(s + i, "UNIT", 4) == 0) {
		kind = 3;
		kw = "UNIT";
	} else {
		if (om)
			pf_parser_report(p, ln, (unsigned long)i + 1, "invalid comment: OpenMetrics allows only "
					 "'# HELP', '# TYPE', '# UNIT' and '# EOF' lines");
		return; /* 0.0.4: any other comment */
	}
	i += 4;
	if (!om) {
		if (i < n && s[i] != ' ' && s[i] != '\t')
			return; /* "# HELPER ..." is a comment */
		size_t j = skip_ws(s, n, i);
		if (j == i) {
			pf_parser_report(p, ln, (unsigned long)i + 1, "expected metric name after %s", kw);
			return;
		}
		i = j;
	} else {
		if (i >= n || s[i] != ' ') {
			pf_parser_report(p, ln, (unsigned long)i + 1, "expected a space and a metric name after %s", kw);
			return;
		}
		i++;
	}
	size_t sc = p->scratch.len;
	if (scratch_room(p, n) != 0) {
		pf_parser_report(p, ln, 0, "out of memory");
		return;
	}
	pf_str name;
	int plain = i < n && s[i] != '"', fam_prefix;
	size_t j = read_metric_name(p, s, n, i, &name, &fam_prefix);
	if (j == 0) {
		pf_parser_report(p, ln, (unsigned long)i + 1, "expected metric name after %s", kw);
		p->scratch.len = sc;
		return;
	}
	i = j;
	pf_str text = { s + n, 0 };
	if (om) {
		if (i >= n || s[i] != ' ') {
			pf_parser_report(p, ln, (unsigned long)i + 1, "expected a space after the metric name in %s "
					 "(the text may be empty but the space is required)", kw);
			p->scratch.len = sc;
			return;
		}
		text.p = s + i + 1;
		text.n = n - i - 1;
	} else {
		if (i < n && s[i] != ' ' && s[i] != '\t') {
			pf_parser_report(p, ln, (unsigned long)i + 1, "invalid metric name in %s", kw);
			p->scratch.len = sc;
			return;
		}
		i = skip_ws(s, n, i);
		text.p = s + i;
		text.n = n - i;
	}

	int same = p->fam_open && name.n == p->fam.len &&
		   (fam_prefix || memcmp(name.p, p->fam.data, name.n) == 0);
	if (om) {
		if (same && p->fam_has_samples) {
			pf_parser_report(p, ln, 1, "%s for '%.*s' after its samples: metadata must come first", kw,
					 (int)name.n, name.p);
			p->scratch.len = sc;
			return;
		}
		if (!same) {
			family_close(p, ln);
			if (family_open(p, name.p, name.n, plain) != 0) {
				pf_parser_report(p, ln, 0, "out of memory");
				p->scratch.len = sc;
				return;
			}
		}
		int *seen = kind == 1 ? &p->fam_has_help : kind == 2 ? &p->fam_has_type : &p->fam_has_unit;
		if (*seen) {
			pf_parser_report(p, ln, 1, "more than one %s for '%.*s'", kw, (int)name.n, name.p);
			p->scratch.len = sc;
			return;
		}
		*seen = 1;
	} else if (kind == 2 || !same) {
		/* 0.0.4: TYPE (or a HELP for another name) starts a family. */
		if (!same) {
			family_close(p, ln);
			if (family_open(p, name.p, name.n, plain) != 0) {
				pf_parser_report(p, ln, 0, "out of memory");
				p->scratch.len = sc;
				return;
			}
		}
	}
	if (kind == 2) {
		enum pf_mtype t;
		if (parse_type_word(text.p, text.n, p->fmt, &t) != 0) {
			pf_parser_report(p, ln, (unsigned long)(text.p - s) + 1, "invalid metric type '%s': expected %s",
					 quote(text.p, text.n).s,
					 om ? "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
					    : "counter, gauge, histogram, summary or untyped");
		} else {
			p->type = t;
			if (!om && typed_note(p, typed_key(name.p, name.n, t)) < 0)
				pf_parser_report(p, ln, 0, "out of memory");
		}
	} else if (kind == 3) {
		pf_buf_reset(&p->unit);
		if (pf_buf_append(&p->unit, text.p, text.n) != 0)
			pf_parser_report(p, ln, 0, "out of memory");
		p->unit_line = ln;
	}
	p->scratch.len = sc;
}

/* ---- sample lines ---------------------------------------------------------- */

/* Label value bytes: 1 = leave the set to the long way (escapes, control
 * bytes, non-ASCII: its checks and messages), 2 = fine here but escaped in
 * line protocol, so the set is not lp_plain. */
static const unsigned char vclass[256] = {
#define R(a, b) [a ... b] = 1
	R(0x00, 0x1f), R(0x7f, 0xff), ['\\'] = 1, [' '] = 2, [','] = 2, ['='] = 2,
#undef R
};

/* Moves *i (the first byte of a label value) to the value's closing '"'
 * or to n, and returns the vclass bits of the bytes it passed. 16 bytes
 * at a time while 16 are left in the line, then a byte at a time. */
static inline unsigned value_end(const char *s, size_t n, size_t *i)
{
	size_t j = *i;
	unsigned cls = 0;
#ifdef PF_SSE2
	while (n - j >= 16) {
		const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
		unsigned q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
		/* class 1: 0x00-0x1f and 0x80-0xff (below 0x20 as signed
		 * bytes), 0x7f, '\\'; class 2: ' ', ',', '='. */
		__m128i c1 = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
					  _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
						       _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
		__m128i c2 = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
					  _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')),
						       _mm_cmpeq_epi8(v, _mm_set1_epi8('='))));
		unsigned before = q ? (q & (0u - q)) - 1 : 0xffffu; /* bytes ahead of the quote */
		if ((unsigned)_mm_movemask_epi8(c1) & before)
			cls |= 1;
		if ((unsigned)_mm_movemask_epi8(c2) & before)
			cls |= 2;
		if (q) {
			*i = j + (size_t)__builtin_ctz(q);
			return cls;
		}
		j += 16;
	}
#endif
	while (j < n && s[j] != '"')
		cls |= vclass[(unsigned char)s[j++]];
	*i = j;
	return cls;
}

/*
 * The next label of a common label set (see plain_labels()), at s[*i]: the
 * byte after '{' or after a ','. Returns 1 with *l (slices into s) and
 * *cls (the value's vclass bits, 0 or 2) set and *i at the next label or
 * at the '}'; 0 at the '}' that ends the set ("{}" or a trailing comma),
 * *i after it; -1 when the set is not the common kind.
 */
static PF_ALWAYS_INLINE int plain_label_next(const char *s, size_t n, size_t *i, pf_label *l, unsigned *cls)
{
	size_t j = *i;
	if (j < n && s[j] == '}') {
		*i = j + 1;
		return 0;
	}
	size_t k = scan_name(s, n, j, lname_first, lname_rest);
	if (k == j || n - k < 2 || s[k] != '=' || s[k + 1] != '"')
		return -1;
	size_t v0 = k + 2, v1 = v0;
	*cls = value_end(s, n, &v1);
	if (v1 == n || (*cls & 1))
		return -1;
	l->name = (pf_str){ s + j, k - j };
	l->value = (pf_str){ s + v0, v1 - v0 };
	j = v1 + 1;
	if (j < n && s[j] == ',')
		j++;
	else if (j >= n || s[j] != '}')
		return -1;
	*i = j;
	return 1;
}

/*
 * 0.0.4, the common label set: name="value" pairs, comma-separated (a
 * trailing comma allowed), no blanks, no backslash in a value, printable
 * ASCII. s[i] is the byte after '{'. Pushes the labels (slices into s, as
 * the long way would) and returns the index after '}', setting *lp_plain
 * (see pf_sample.lp_plain); or returns 0, pushing nothing, when the set is
 * anything else (the long way then reads it and says what is wrong). The
 * result is the long way's, for less work: tests/schema compares the two.
 */
static size_t plain_labels(pf_parser *p, const char *s, size_t n, size_t i, unsigned char *lp_plain)
{
	int sorted = 1, plain = 1, r;
	pf_str prev = { NULL, 0 };
	pf_label l;
	unsigned cls;
	while ((r = plain_label_next(s, n, &i, &l, &cls)) > 0) {
		if (cls || l.value.n == 0)
			plain = 0;
		if (prev.p != NULL && (prev.p[0] > l.name.p[0] ||
				       (prev.p[0] == l.name.p[0] && pf_str_cmp(prev, l.name) >= 0)))
			sorted = 0;
		if (push_label(p, l.name, l.value) != 0)
			goto longway;
		prev = l.name;
	}
	if (r < 0 || (!sorted && has_dup_label(p)))
		goto longway;
	*lp_plain = (unsigned char)(plain && sorted);
	return i;
longway:
	p->nlabels = 0;
	return 0;
}

/* ---- the direct way (direct.h) ---------------------------------------------- */

static inline int direct_key_cmp(pf_str a, pf_str b)
{
	if (a.p[0] != b.p[0])
		return (unsigned char)a.p[0] < (unsigned char)b.p[0] ? -1 : 1;
	return pf_str_cmp(a, b);
}

/* Whether name is one of d->keys[]. */
static inline int direct_reserved(const pf_direct *d, pf_str name)
{
	if (!d->key_first[(unsigned char)name.p[0]])
		return 0;
	for (size_t i = 0; i < d->nkeys; i++)
		if (pf_str_eq(d->keys[i].key, name))
			return 1;
	return 0;
}

/* Extra tag i (d->extra[i]) as ",key=value". */
static inline char *direct_tag(char *w, const pf_direct *d, size_t i)
{
	const pf_str *t = &d->extra_text[i];
	pf_copy_short(w, t->p, t->n);
	return w + t->n;
}

/* Extra tags i.. (the rest, after the last label), in one copy: their
 * texts are one piece. */
static inline char *direct_tags_rest(char *w, const pf_direct *d, size_t i)
{
	if (i >= d->nextra)
		return w;
	const pf_str *last = &d->extra_text[d->nextra - 1];
	const char *p = d->extra_text[i].p;
	size_t n = (size_t)(last->p + last->n - p);
	pf_copy_short(w, p, n);
	return w + n;
}

static inline char *direct_label(char *w, const pf_label *l)
{
	*w++ = ',';
	pf_copy_short(w, l->name.p, l->name.n);
	w += l->name.n;
	*w++ = '=';
	pf_copy_short(w, l->value.p, l->value.n);
	return w + l->value.n;
}

/* Label sets larger than this go the long way. */
#define DIRECT_LABELS 32

/*
 * The line s[0..n) written the direct way, if it is the common kind
 * (direct.h): returns 1 when written and counted, 0 when it must go the
 * long way (nothing written, nothing changed). Its checks are the ones
 * sample_line() and plain_labels() make, the long way then reads the line
 * again; most lines either pass or fail at the name.
 */
static int direct_line(pf_parser *p, const char *s, size_t n)
{
	pf_direct *d = p->direct;
	int fam_prefix, t;
	size_t i = scan_metric_name(p, s, n, 0, &fam_prefix);
	if (i == 0 || i + 1 >= n || (s[i] != '{' && s[i] != ' '))
		return 0;
	pf_str name = { s, i };
	/* The types below have no suffixes in 0.0.4 (family_suffix() is
	 * PF_SFX_NONE exactly when the name is the family's). */
	if (!p->fam_open || i != p->fam.len || (!fam_prefix && memcmp(s, p->fam.data, i) != 0) ||
	    p->unit.len != 0)
		return 0;
	switch (p->type) {
	case PF_MT_UNTYPED: t = 0; break;
	case PF_MT_COUNTER: t = 1; break;
	case PF_MT_GAUGE: t = 2; break;
	default: return 0;
	}
	pf_str meas = d->meas.n ? d->meas : name;
	pf_str fkey = d->field[t].n ? d->field[t] : name;
	/* A label `k="v",` in the line becomes `,k=v`: never longer; a
	 * timestamp in ms may grow by up to 6 digits in ns. */
	size_t need = meas.n + n + d->extra_bytes + 2 + fkey.n + d->ntail + 8;
	pf_buf *out = d->out;
	if (out->max - out->len < need)
		return 0;
	char *w0 = out->len + need + 1 <= out->cap ? out->data + out->len : pf_buf_reserve(out, need);
	if (w0 == NULL)
		return 0;
	char *w = w0;
	pf_copy_short(w, meas.p, meas.n);
	w += meas.n;

	size_t x = 0, xe = d->nextra;
	if (s[i] == '{') {
		/* Written as read while the names ascend (exporters mostly sort
		 * them); kept too, and sorted and written again if they do not. */
		/* Each label is read into its place in lab[], not into a
		 * local copied there: the copy's 16-byte loads of what was
		 * just stored 8 bytes at a time stalled on store forwarding
		 * (perf: 7% of the pipeline's time on the one load). */
		pf_label lab[DIRECT_LABELS + 1], l;
		size_t nl = 0;
		int sorted = 1, r;
		unsigned cls;
		char *wl = w;
		i++;
		while ((r = plain_label_next(s, n, &i, &lab[nl], &cls)) > 0) {
			const pf_label *cur = &lab[nl];
			if (cls || nl == DIRECT_LABELS || direct_reserved(d, cur->name))
				return 0;
			if (nl > 0 && direct_key_cmp(lab[nl - 1].name, cur->name) >= 0)
				sorted = 0;
			nl++;
			if (sorted && cur->value.n) {
				/* Extra tags are among keys[]: none equals the name. */
				for (; x < xe && direct_key_cmp(d->extra[x].key, cur->name) < 0; x++)
					w = direct_tag(w, d, x);
				w = direct_label(w, cur);
			}
		}
		if (r < 0 || i + 1 >= n || s[i] != ' ')
			return 0;
		if (!sorted) {
			/* In key order, as the encoder sorts tags; a name twice
			 * is the long way's to report. */
			for (size_t a = 1; a < nl; a++) {
				l = lab[a];
				size_t b = a;
				for (; b > 0 && direct_key_cmp(lab[b - 1].name, l.name) > 0; b--)
					lab[b] = lab[b - 1];
				lab[b] = l;
				if (b > 0 && pf_str_eq(lab[b - 1].name, l.name))
					return 0;
			}
			w = wl;
			x = 0;
			for (size_t a = 0; a < nl; a++) {
				if (lab[a].value.n == 0)
					continue;
				for (; x < xe && direct_key_cmp(d->extra[x].key, lab[a].name) < 0; x++)
					w = direct_tag(w, d, x);
				w = direct_label(w, &lab[a]);
			}
		}
	}
	w = direct_tags_rest(w, d, x);
	/* One space and the value, then perhaps one space and a timestamp,
	 * up to the end of the line: a tab, a second blank or a CR makes
	 * one of them fail to parse. */
	i++;
	size_t ve = i + pf_lp_float_span(s + i, n - i);
	if (ve == i) {
		/* Go's shortest form often has 16 or 17 digits: written as
		 * the long way's encoder writes a text it accepts, as it is.
		 * Line protocol's float grammar is a part of the exposition's
		 * (pf_lp_float_text_ok() accepts no text the parser refuses),
		 * so a text it accepts needs no strtod here; another one is
		 * parsed, as the long way would. */
		while (ve < n && s[ve] != ' ')
			ve++;
		if (!pf_lp_float_text_ok((pf_str){ s + i, ve - i })) {
			double v;
			int lp;
			if (pf_parse_float_lp(s + i, ve - i, &v, &lp) != 0 || !lp)
				return 0;
		}
	}
	int has_ts = 0;
	int64_t ts = 0;
	if (ve < n && (pf_parse_prom_ts(s + ve + 1, n - ve - 1, &has_ts, &ts) != 0 || has_ts != 1))
		return 0;
	*w++ = ' ';
	pf_copy_short(w, fkey.p, fkey.n);
	w += fkey.n;
	*w++ = '=';
	pf_copy_short(w, s + i, ve - i);
	w += ve - i;
	if (has_ts && !d->ignore_ts && (ts > 0 || !d->ts_positive)) {
		/* The sample's own time (the mapper's sample_ts()). */
		*w++ = ' ';
		w += pf_lp_fmt_time(w, ts, d->prec);
		*w++ = '\n';
	} else {
		pf_copy_short(w, d->tail, d->ntail);
		w += d->ntail;
	}
	out->len += (size_t)(w - w0);
	out->data[out->len] = '\0';
	p->stats.samples++;
	p->fam_has_samples = 1;
	d->lines++;
	d->left--;
	return 1;
}

/* 0.0.4: a histogram bucket needs a numeric le, a summary quantile a
 * numeric quantile, or no schema can place it (textparse lets it through,
 * expfmt refuses the whole input): the line is reported, not dropped
 * without a word further down. Returns 1 when the sample may go on. */
static int bound_ok(pf_parser *p, const pf_sample *sm, size_t col)
{
	const char *want = sm->type == PF_MT_HISTOGRAM && sm->suffix == PF_SFX_BUCKET ? "le"
			 : sm->type == PF_MT_SUMMARY && sm->suffix == PF_SFX_NONE ? "quantile"
			 : NULL;
	if (want == NULL)
		return 1;
	for (size_t i = 0; i < sm->nlabels; i++) {
		double b;
		if (pf_str_eqc(sm->labels[i].name, want))
			return pf_parse_float(sm->labels[i].value.p, sm->labels[i].value.n, &b) == 0 ||
			       (pf_parser_report(p, p->lineno, col, "%s sample needs a numeric '%s' label, got '%s'",
						 pf_mtype_name(sm->type), want,
						 quote(sm->labels[i].value.p, sm->labels[i].value.n).s), 0);
	}
	pf_parser_report(p, p->lineno, col, "%s sample needs a '%s' label", pf_mtype_name(sm->type), want);
	return 0;
}

/* A sample line: name, labels, value, timestamp, OpenMetrics exemplar;
 * then its family, OpenMetrics' checks, and the callback. */
static void sample_line(pf_parser *p, const char *s, size_t n)
{
	unsigned long ln = p->lineno;
	int om = p->fmt == PF_FORMAT_OPENMETRICS;
	pf_sample sm;
	size_t i = 0, ec = 0;
	size_t col_labels = 0;

	p->nlabels = 0;
	p->scratch.len = 0;
	if (scratch_room(p, n + 1) != 0) {
		pf_parser_report(p, ln, 0, "out of memory");
		return;
	}
	if (s[0] == ' ' || s[0] == '\t') {
		pf_parser_report(p, ln, 1, "unexpected whitespace at the start of a sample line");
		return;
	}
	/* Metric name, plain before the braces or quoted inside them. */
	pf_str name = { NULL, 0 };
	int fam_prefix;
	size_t j = scan_metric_name(p, s, n, 0, &fam_prefix);
	int plain = j > 0;
	if (j > 0) {
		name.p = s;
		name.n = j;
		i = j;
	} else if (s[0] != '{') {
		pf_parser_report(p, ln, 1, "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or '{'");
		return;
	}
	size_t name_end = i;
	if (!om)
		i = skip_ws(s, n, i);
	/* No labels: plain, if the name is (not quoted). */
	sm.lp_plain = (unsigned char)(!om && !p->no_plain && plain);
	size_t k_plain;
	if (i < n && s[i] == '{' && !om && !p->no_plain && plain &&
	    (k_plain = plain_labels(p, s, n, i + 1, &sm.lp_plain)) != 0) {
		col_labels = i + 1;
		i = k_plain;
	} else if (i < n && s[i] == '{') {
		col_labels = i + 1;
		sm.lp_plain = 0;
		i++;
		for (int comma = 0;; ) {
			if (!om)
				i = skip_ws(s, n, i);
			if (i < n && s[i] == '}') {
				if (om && comma) {
					pf_parser_report(p, ln, i + 1, "expected a label name after ',' (no trailing comma in OpenMetrics)");
					return;
				}
				i++;
				break;
			}
			pf_str ln_name;
			if (i < n && s[i] == '"') {
				size_t k = pf_read_quoted(p, s, n, i, &ln_name, &ec);
				if (k == 0) {
					pf_parser_report(p, ln, ec + 1, "unterminated quoted name");
					return;
				}
				if (pf_utf8_valid(ln_name.p, ln_name.n) != ln_name.n) {
					pf_parser_report(p, ln, i + 1, "invalid UTF-8 in quoted name");
					return;
				}
				i = k;
				if (!om)
					i = skip_ws(s, n, i);
				if (i < n && (s[i] == ',' || s[i] == '}')) {
					/* A quoted string alone is the metric name (Prometheus 3). */
					if (name.p != NULL || ln_name.n == 0) {
						pf_parser_report(p, ln, i + 1, name.p ? "metric name given twice" :
								 "empty metric name");
						return;
					}
					name = ln_name;
					comma = s[i] == ',';
					if (comma)
						i++;
					continue;
				}
			} else {
				size_t k = scan_name(s, n, i, lname_first, lname_rest);
				if (k == i) {
					pf_parser_report(p, ln, i + 1, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)%s",
							 i < n && s[i] == ',' ? " but found ','" : "");
					return;
				}
				ln_name.p = s + i;
				ln_name.n = k - i;
				i = k;
			}
			if (!om)
				i = skip_ws(s, n, i);
			if (i >= n || s[i] != '=') {
				pf_parser_report(p, ln, i + 1, "expected '=' after label name '%.*s'",
						 (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			i++;
			if (!om)
				i = skip_ws(s, n, i);
			if (i >= n || s[i] != '"') {
				pf_parser_report(p, ln, i + 1, "expected '\"' to open the value of label '%.*s'",
						 (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			pf_str val;
			size_t k = pf_read_quoted(p, s, n, i, &val, &ec);
			if (k == 0) {
				pf_parser_report(p, ln, i + 1, "label value of '%.*s' is not closed with '\"'",
						 (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			if (!all_ascii(val.p, val.n) && pf_utf8_valid(val.p, val.n) != val.n) {
				pf_parser_report(p, ln, i + 2, "invalid UTF-8 in the value of label '%.*s'",
						 (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			if (push_label(p, ln_name, val) != 0) {
				pf_parser_report(p, ln, 0, "out of memory");
				return;
			}
			i = k;
			if (!om)
				i = skip_ws(s, n, i);
			comma = i < n && s[i] == ',';
			if (comma) {
				i++;
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			/* textparse takes a label set without commas ({a="1" b="2"}). */
			if (!om && i < n && (lname_first[(unsigned char)s[i]] || s[i] == '"'))
				continue;
			pf_parser_report(p, ln, i + 1, "expected ',' or '}' after a label value");
			return;
		}
		if (has_dup_label(p)) {
			pf_parser_report(p, ln, col_labels, "duplicate label name in the label set");
			return;
		}
	}
	if (name.p == NULL) {
		pf_parser_report(p, ln, 1, "metric name not set");
		return;
	}
	/* Value. */
	if (om) {
		if (i >= n || s[i] != ' ') {
			pf_parser_report(p, ln, i + 1, "expected one space and a value after the metric");
			return;
		}
		i++;
	} else {
		size_t k = skip_ws(s, n, i);
		if ((k == i && i == name_end) || k >= n) {
			pf_parser_report(p, ln, k + 1, "expected a space and a value after the metric");
			return;
		}
		i = k;
	}
	size_t v0 = i;
	while (i < n && s[i] != ' ' && s[i] != '\t')
		i++;
	if (om && i < n && s[i] == '\t') {
		pf_parser_report(p, ln, i + 1, "unexpected TAB after the value");
		return;
	}
	double value;
	int value_lp;
	if (pf_parse_float_lp(s + v0, i - v0, &value, &value_lp) != 0) {
		int cr = i > v0 && s[i - 1] == '\r';
		pf_parser_report(p, ln, v0 + 1, "invalid value '%s': expected a float%s", quote(s + v0, i - v0).s, cr ? " (the line ends in CR: CRLF line endings are not allowed)" : "");
		return;
	}
	sm.value_text.p = s + v0;
	sm.value_text.n = i - v0;
	sm.value = value;
	sm.value_text_lp = (unsigned char)value_lp;
	sm.has_ts = 0;
	sm.ts_ns = 0;
	int has_exemplar = 0;
	if (om) {
		if (i < n) {
			i++; /* the one space */
			if (i < n && s[i] == '#') {
				/* value # exemplar */
			} else {
				size_t t0 = i;
				while (i < n && s[i] != ' ')
					i++;
				if (i == t0 || pf_parse_om_ts(s + t0, i - t0, &sm.has_ts, &sm.ts_ns) != 0) {
					pf_parser_report(p, ln, t0 + 1, "invalid timestamp '%s': expected seconds, e.g. 1700000000.123",
							 quote(s + t0, i - t0).s);
					return;
				}
				if (i < n)
					i++;
				else
					goto done;
			}
			if (n - i < 3 || s[i] != '#' || s[i + 1] != ' ') {
				pf_parser_report(p, ln, i + 1, "expected ' # {...}' (an exemplar) or the end of the line");
				return;
			}
			size_t e = pf_om_exemplar(p, s, n, i + 2);
			if (e) {
				pf_parser_report(p, ln, e, "invalid exemplar: expected '# {labels} value [timestamp]', "
						 "labels at most 128 characters");
				return;
			}
			has_exemplar = 1;
		}
	} else {
		i = skip_ws(s, n, i);
		if (i < n) {
			size_t t0 = i;
			while (i < n && s[i] != ' ' && s[i] != '\t')
				i++;
			if (pf_parse_prom_ts(s + t0, i - t0, &sm.has_ts, &sm.ts_ns) != 0) {
				pf_parser_report(p, ln, t0 + 1, "invalid timestamp '%s': expected integer milliseconds",
						 quote(s + t0, i - t0).s);
				return;
			}
			i = skip_ws(s, n, i);
			if (i < n) {
				pf_parser_report(p, ln, i + 1, "unexpected text after the timestamp");
				return;
			}
		}
	}
done:
	if (p->eof_seen)
		return;
	/* Which family is it? */
	int sfx = family_suffix(p, name, plain && fam_prefix);
	if (sfx < 0) {
		family_close(p, ln);
		if (!om)
			sfx = family_resume(p, name, plain);
	}
	if (sfx < 0) {
		if (family_open(p, name.p, name.n, plain) != 0) {
			pf_parser_report(p, ln, 0, "out of memory");
			return;
		}
		sfx = PF_SFX_NONE;
	}
	p->fam_has_samples = 1;
	sm.name = name;
	sm.family.p = p->fam.data;
	sm.family.n = p->fam.len;
	sm.type = p->type;
	sm.suffix = (enum pf_suffix)sfx;
	sm.unit.p = p->unit.data;
	sm.unit.n = p->unit.len;
	sm.labels = p->labels;
	sm.nlabels = p->nlabels;
	sm.line = ln;
	if (om && pf_om_check(p, &sm, col_labels ? col_labels : 1, v0 + 1, has_exemplar) != 0)
		return;
	if (!om && !bound_ok(p, &sm, col_labels ? col_labels : 1))
		return;
	if (p->stopped)
		return;
	p->stats.samples++;
	if (p->ops.sample) {
		int rc = p->ops.sample(p->ud, &sm);
		if (rc) {
			p->stopped = 1;
			p->rc = rc;
		}
	}
}

/* ---- lines and chunks ------------------------------------------------------ */

/* One line without its '\n', counted; blank lines and # EOF as the
 * format says. */
static void parse_line(pf_parser *p, const char *s, size_t n)
{
	p->lineno++;
	p->stats.lines++;
	if (p->fmt == PF_FORMAT_OPENMETRICS) {
		if (p->eof_seen) {
			if (!p->after_eof_reported) {
				p->after_eof_reported = 1;
				pf_parser_report(p, p->lineno, 1, "text after '# EOF'");
			}
			return;
		}
		if (n == 0) {
			pf_parser_report(p, p->lineno, 1, "blank line (not allowed in OpenMetrics)");
			return;
		}
		if (s[0] == '#')
			meta_line(p, s, n);
		else
			sample_line(p, s, n);
		return;
	}
	if (n > 0 && s[0] != ' ' && s[0] != '\t' && s[0] != '#') {
		/* The common line: a sample that starts at the first byte. */
		if (p->direct != NULL && p->direct->on && p->direct->left && !p->no_plain && direct_line(p, s, n))
			return;
		sample_line(p, s, n);
		return;
	}
	size_t i = skip_ws(s, n, 0);
	if (i == n)
		return; /* blank */
	if (s[i] == '#') {
		p->col_shift = i;
		meta_line(p, s + i, n - i);
		p->col_shift = 0;
		return;
	}
	sample_line(p, s, n); /* after leading blanks: the long way */
}

/* The line ends of a chunk, found 64 bytes at a time (one bit per '\n')
 * rather than by a memchr() call per line, whose set-up cost as much as
 * the search on lines of 50-100 bytes. */
typedef struct nlscan {
	const char *d;
	size_t len;
	size_t nb;  /* where the next 64 bytes to look at start */
	uint64_t m; /* the '\n' of [nb - 64, nb) not yet returned */
} nlscan;

#ifdef PF_SSE2
static inline uint64_t nl_mask64(const char *s)
{
	const __m128i nl = _mm_set1_epi8('\n');
	uint64_t m = 0;
	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * k));
		m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) << (16 * k);
	}
	return m;
}
#endif

/* Index of the next '\n' at or after i, or len. i is 0 or just past the
 * '\n' returned before: the ends come in order. */
static inline size_t nl_next(nlscan *z, size_t i)
{
#ifdef PF_SSE2
	for (;;) {
		if (z->m) {
			size_t e = z->nb - 64 + (size_t)__builtin_ctzll(z->m);
			z->m &= z->m - 1;
			return e;
		}
		if (z->len - z->nb < 64)
			break;
		z->m = nl_mask64(z->d + z->nb);
		z->nb += 64;
	}
	if (i < z->nb) /* [i, nb) was looked at: no '\n' there */
		i = z->nb;
#endif
	const char *nl = memchr(z->d + i, '\n', z->len - i);
	return nl ? (size_t)(nl - z->d) : z->len;
}

int pf_parser_feed(pf_parser *p, const char *data, size_t len)
{
	if (p->stopped)
		return p->rc;
	size_t i = 0;
	if (p->carry.len) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (pf_buf_append(&p->carry, data, take) != 0)
			return p->rc = -ENOMEM;
		if (nl == NULL)
			return 0;
		parse_line(p, p->carry.data, p->carry.len);
		pf_buf_reset(&p->carry);
		i = take + 1;
	}
	nlscan z = { data, len, i, 0 };
	while (i < len && !p->stopped) {
		size_t e = nl_next(&z, i);
		if (e == len) {
			if (pf_buf_append(&p->carry, data + i, len - i) != 0)
				return p->rc = -ENOMEM;
			/* An empty carry would look like "no partial line": mark it. */
			break;
		}
		parse_line(p, data + i, e - i);
		i = e + 1;
	}
	return p->stopped ? p->rc : 0;
}

int pf_parser_finish(pf_parser *p)
{
	if (p->stopped)
		return p->rc;
	if (p->carry.len) {
		parse_line(p, p->carry.data, p->carry.len);
		pf_buf_reset(&p->carry);
	}
	if (!p->stopped) {
		family_close(p, p->lineno);
		if (p->fmt == PF_FORMAT_OPENMETRICS && !p->eof_seen)
			pf_parser_report(p, p->lineno + 1, 1, "missing '# EOF' at the end (OpenMetrics input must end with it)");
	}
	return p->stopped ? p->rc : 0;
}
