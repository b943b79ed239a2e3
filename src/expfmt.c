/*
 * expfmt.c: streaming parser for Prometheus text 0.0.4 and OpenMetrics 1.0.
 *
 * The input is cut into lines with memchr; a line that straddles two chunks
 * is copied into `carry` and completed from the next chunk, every other line
 * is parsed where it lies. A line is walked once, left to right; names and
 * label values are slices of the line unless they contain escapes, in which
 * case they are unescaped into `scratch`, which is sized for the whole line
 * before the walk so that earlier slices never move.
 *
 * Which grammar rules apply follows the parser a user would otherwise run:
 * for 0.0.4 Prometheus' model/textparse (what a Prometheus server scrapes
 * with), for OpenMetrics the OpenMetrics reference parser, including its
 * document-level rules (# EOF, families split in two, histogram bucket
 * order, grouping). Deliberate differences are listed in README.md
 * ("Parser decisions").
 */
#include "expfmt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

/* ---- small hash set of 64-bit keys (names and groups seen) ---------------- */

typedef struct hset {
	uint64_t *k; /* 0 marks an empty slot; keys are never 0 */
	size_t cap, n;
} hset;

static void hset_clear(hset *s)
{
	if (s->n)
		memset(s->k, 0, s->cap * sizeof(*s->k));
	s->n = 0;
}

/* Returns 1 if key was present, 0 if added, -1 on allocation failure. */
static int hset_add(hset *s, uint64_t key)
{
	if (key == 0)
		key = 1;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *nk = calloc(ncap, sizeof(*nk));
		if (nk == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (s->k[i] == 0)
				continue;
			size_t j = (size_t)s->k[i] & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = s->k[i];
		}
		free(s->k);
		s->k = nk;
		s->cap = ncap;
	}
	size_t j = (size_t)key & (s->cap - 1);
	while (s->k[j]) {
		if (s->k[j] == key)
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	s->k[j] = key;
	s->n++;
	return 0;
}

static int hset_has(const hset *s, uint64_t key)
{
	if (key == 0)
		key = 1;
	if (s->cap == 0)
		return 0;
	size_t j = (size_t)key & (s->cap - 1);
	while (s->k[j]) {
		if (s->k[j] == key)
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	return 0;
}

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * FNV_PRIME;
	return h;
}

/* Mixes a hash so that a commutative sum of label hashes stays well spread. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* ---- parser state ---------------------------------------------------------- */

/* Per-group state for OpenMetrics histogram checks (reference parser rules). */
typedef struct histo_state {
	int active;
	double bucket;   /* last le, -Inf before the first */
	int has_bucket;
	double value;    /* last bucket value */
	int has_count;
	double count;
	int has_sum, has_gsum, neg_buckets, neg_gsum;
	unsigned long line;
} histo_state;

struct pf_parser {
	enum pf_format fmt;
	enum pf_on_error policy;
	pf_parser_ops ops;
	void *ud;

	pf_buf carry;    /* a line split across chunks */
	pf_buf scratch;  /* unescaped names and values of the current line */
	pf_label *labels;
	size_t nlabels, labels_cap;

	unsigned long lineno;
	int stopped;     /* a callback or a REJECT error ended the parse */
	int rc;
	int eof_seen;    /* OpenMetrics "# EOF" */
	int after_eof_reported;
	pf_parse_stats stats;

	/* The current family. */
	pf_buf fam;      /* its name */
	pf_buf unit;
	enum pf_mtype type;
	int fam_open;
	int fam_has_samples;
	int fam_has_help, fam_has_type, fam_has_unit;
	unsigned long unit_line;

	/* OpenMetrics document checks. */
	hset names_seen;  /* family names and the sample names they own */
	hset groups_seen; /* groups of the current family */
	hset typed;       /* 0.0.4: (name, type) of every TYPE line, to resume a split family */
	int group_open;
	uint64_t group;
	int group_has_ts;
	int64_t group_ts;
	histo_state h;
};

/* Rejection message; with policy REJECT it also stops the parse. */
static void report(pf_parser *p, unsigned long line, unsigned long col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(pf_parser *p, unsigned long line, unsigned long col, const char *fmt, ...)
{
	char raw[512], msg[512 * 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Names quoted from the input may hold control bytes (an escaped
	 * newline in a quoted name): a message stays one printable line. */
	size_t o = 0;
	for (const char *r = raw; *r; r++) {
		unsigned char c = (unsigned char)*r;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(msg + o, sizeof(msg) - o, "\\x%02x", c);
		else
			msg[o++] = (char)c;
	}
	msg[o] = '\0';
	p->stats.errors++;
	if (col == 0)
		col = 1; /* a document-level rule: point at the line where it was found */
	if (p->ops.error) {
		pf_parse_error e = { line, col, msg };
		p->ops.error(p->ud, &e);
	}
	if (p->policy == PF_ON_ERROR_REJECT && !p->stopped) {
		p->stopped = 1;
		p->rc = -EINVAL;
	}
}

/* Quotes at most 40 bytes of input for a message, control bytes as \xNN. */
typedef struct snip {
	char s[168];
} snip;

static snip quote(const char *p, size_t n)
{
	snip r;
	size_t o = 0;
	for (size_t i = 0; i < n && i < 40; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(r.s + o, sizeof(r.s) - o, "\\x%02x", c);
		else
			r.s[o++] = (char)c;
	}
	if (n > 40)
		o += (size_t)snprintf(r.s + o, sizeof(r.s) - o, "...");
	r.s[o] = '\0';
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
	hset_clear(&p->names_seen);
	hset_clear(&p->groups_seen);
	hset_clear(&p->typed);
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
	free(p->names_seen.k);
	free(p->groups_seen.k);
	free(p->typed.k);
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

/* ---- numbers --------------------------------------------------------------- */

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int ieq(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != lit[i])
			return 0;
	return 1;
}

/*
 * Go's ParseFloat syntax minus what Prometheus' parsers refuse (hex floats,
 * underscores: textparse rejects any p, P or _; the OpenMetrics parser
 * rejects hex and underscores too): [+-] digits [. digits] [e [+-] digits],
 * with at least one digit in the mantissa; or [+-]Inf, [+-]Infinity, NaN in
 * any case. A finite text that overflows is an error, as in Go.
 */
int pf_parse_float(const char *s, size_t n, double *out)
{
	if (n == 0)
		return -1;
	size_t i = 0;
	int neg = 0;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	if (i < n && (s[i] == 'i' || s[i] == 'I' || s[i] == 'n' || s[i] == 'N')) {
		if (ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity")) {
			*out = neg ? -INFINITY : INFINITY;
			return 0;
		}
		if (i == 0 && ieq(s, n, "nan")) {
			*out = NAN;
			return 0;
		}
		return -1;
	}
	size_t digits = 0;
	uint64_t mant = 0;
	int small = 1; /* mantissa fits and no fraction/exponent: exact fast path */
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (mant > (UINT64_C(1) << 53) / 10)
			small = 0;
		mant = mant * 10 + (uint64_t)(s[i] - '0');
		i++;
		digits++;
	}
	if (i < n && s[i] == '.') {
		small = 0;
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		small = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t ed = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			i++;
			ed++;
		}
		if (ed == 0)
			return -1;
	}
	if (i != n)
		return -1;
	if (small && mant <= (UINT64_C(1) << 53)) {
		double v = (double)mant;
		*out = neg ? -v : v;
		return 0;
	}
	/* strtod needs a terminated string; the syntax is already checked. */
	char tmp[128];
	char *heap = NULL;
	char *t = tmp;
	if (n >= sizeof(tmp)) {
		heap = malloc(n + 1);
		if (heap == NULL)
			return -1;
		t = heap;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	errno = 0;
	double v = strtod(t, NULL);
	int err = errno;
	free(heap);
	if (err == ERANGE && isinf(v))
		return -1;
	*out = v;
	return 0;
}

/* OpenMetrics timestamp: [-+] digits [. digits] exactly to ns (extra digits
 * truncated), or any float form; NaN and Inf are refused. Returns 0 (has_ts
 * set to 1, or -1 when out of the int64 ns range) or -1 when malformed. */
static int parse_om_ts(const char *s, size_t n, int *has_ts, int64_t *ns)
{
	double d;
	if (pf_parse_float(s, n, &d) != 0 || !isfinite(d))
		return -1;
	size_t i = 0;
	int neg = 0;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	uint64_t sec = 0;
	int over = 0, simple = 1;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (sec > (UINT64_MAX - 9) / 10)
			over = 1;
		else
			sec = sec * 10 + (uint64_t)(s[i] - '0');
	}
	uint64_t frac = 0;
	if (i < n && s[i] == '.') {
		i++;
		int k = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			if (k < 9)
				frac = frac * 10 + (uint64_t)(s[i] - '0');
		for (; k < 9; k++)
			frac *= 10;
	}
	if (i != n)
		simple = 0; /* exponent form */
	if (!simple) {
		double v = d * 1e9;
		if (v >= 9223372036854775807.0 || v < -9223372036854775807.0) {
			*has_ts = -1;
			*ns = v < 0 ? INT64_MIN : INT64_MAX;
			return 0;
		}
		*has_ts = 1;
		*ns = (int64_t)v;
		return 0;
	}
	if (over || sec > (uint64_t)INT64_MAX / 1000000000u) {
		*has_ts = -1;
		*ns = neg ? INT64_MIN : INT64_MAX;
		return 0;
	}
	uint64_t t = sec * 1000000000u + frac;
	if (t > (uint64_t)INT64_MAX) {
		*has_ts = -1;
		*ns = neg ? INT64_MIN : INT64_MAX;
		return 0;
	}
	*has_ts = 1;
	*ns = neg ? -(int64_t)t : (int64_t)t;
	return 0;
}

/* 0.0.4 timestamp: [-] digits, milliseconds in int64. Returns 0 or -1
 * (malformed or past int64 ms, as Go's ParseInt). */
static int parse_prom_ts(const char *s, size_t n, int *has_ts, int64_t *ns)
{
	size_t i = 0;
	int neg = 0;
	if (n && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n)
		return -1;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	/* ms -> ns; beyond int64 ns InfluxDB cannot store it: report as such. */
	if (v > (uint64_t)INT64_MAX / 1000000u) {
		*has_ts = -1;
		*ns = neg ? INT64_MIN : INT64_MAX;
		return 0;
	}
	*has_ts = 1;
	*ns = (neg ? -(int64_t)v : (int64_t)v) * 1000000;
	return 0;
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

static size_t scan_name(const char *s, size_t n, size_t i, const unsigned char *first,
			const unsigned char *rest)
{
	if (i >= n || !first[(unsigned char)s[i]])
		return i;
	i++;
	while (i < n && rest[(unsigned char)s[i]])
		i++;
	return i;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Valid UTF-8 (no overlongs, no surrogates). */
static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = u[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned min;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			min = 0x10000;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		unsigned cp = c & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static int all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/*
 * Reads a quoted string starting at s[i] == '"'. Escapes \\ \" \n are
 * replaced; any other backslash pair is kept as written (as both Go parsers
 * and the OpenMetrics reference parser do). On success *out is the
 * unescaped text (in the line or in scratch) and the index after the
 * closing quote is returned; on failure returns 0 and *errcol is set.
 */
static size_t read_quoted(pf_parser *p, const char *s, size_t n, size_t i, pf_str *out,
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

static const pf_label *find_label(const pf_parser *p, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < p->nlabels; i++)
		if (p->labels[i].name.n == n && memcmp(p->labels[i].name.p, name, n) == 0)
			return &p->labels[i];
	return NULL;
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

static const char *const sfx_text[] = {
	[PF_SFX_NONE] = "", [PF_SFX_TOTAL] = "_total", [PF_SFX_CREATED] = "_created",
	[PF_SFX_BUCKET] = "_bucket", [PF_SFX_COUNT] = "_count", [PF_SFX_SUM] = "_sum",
	[PF_SFX_GCOUNT] = "_gcount", [PF_SFX_GSUM] = "_gsum", [PF_SFX_INFO] = "_info",
};

/* The sample names a family of a type owns, per format. */
static const enum pf_suffix *type_suffixes(enum pf_format fmt, enum pf_mtype t, size_t *n)
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

/* Which suffix of the current family a sample name is, or -1 if none. */
static int family_suffix(const pf_parser *p, pf_str name)
{
	if (!p->fam_open || name.n < p->fam.len || memcmp(name.p, p->fam.data, p->fam.len) != 0)
		return -1;
	size_t n;
	const enum pf_suffix *sfx = type_suffixes(p->fmt, p->type, &n);
	const char *rest = name.p + p->fam.len;
	size_t rn = name.n - p->fam.len;
	for (size_t i = 0; i < n; i++) {
		const char *t = sfx_text[sfx[i]];
		if (strlen(t) == rn && memcmp(rest, t, rn) == 0)
			return (int)sfx[i];
	}
	return -1;
}

static uint64_t name_hash(const char *fam, size_t n, const char *sfx)
{
	return fnv(fnv(FNV_OFF, fam, n), sfx, strlen(sfx));
}

static void histo_check(pf_parser *p, unsigned long line);

/* Ends the current family: OpenMetrics' checks that need the whole family. */
static void family_close(pf_parser *p, unsigned long line)
{
	if (!p->fam_open)
		return;
	if (p->fmt == PF_FORMAT_OPENMETRICS) {
		if (p->h.active)
			histo_check(p, line);
		size_t n;
		const enum pf_suffix *sfx = type_suffixes(p->fmt, p->type, &n);
		int clash = 0;
		/* The family's own name is always reserved, plus what its type owns. */
		if (hset_add(&p->names_seen, name_hash(p->fam.data, p->fam.len, "")) == 1)
			clash = 1;
		for (size_t i = 0; i < n; i++) {
			if (sfx[i] == PF_SFX_NONE)
				continue;
			if (hset_add(&p->names_seen, name_hash(p->fam.data, p->fam.len, sfx_text[sfx[i]])) == 1)
				clash = 1;
		}
		if (clash)
			report(p, line, 0, "metric family '%.*s' clashes with an earlier one of the same name "
			       "(a family may appear once; its samples must be contiguous)",
			       (int)p->fam.len, p->fam.data);
		if (p->unit.len) {
			int ok = p->fam.len > p->unit.len &&
				 p->fam.data[p->fam.len - p->unit.len - 1] == '_' &&
				 memcmp(p->fam.data + p->fam.len - p->unit.len, p->unit.data, p->unit.len) == 0;
			if (!ok)
				report(p, p->unit_line, 0, "UNIT '%.*s' does not match the metric name '%.*s' "
				       "(the name must end in _%.*s)", (int)p->unit.len, p->unit.data,
				       (int)p->fam.len, p->fam.data, (int)p->unit.len, p->unit.data);
			else if (p->type == PF_MT_INFO || p->type == PF_MT_STATESET)
				report(p, p->unit_line, 0, "UNIT is not allowed for %s metric '%.*s'",
				       pf_mtype_name(p->type), (int)p->fam.len, p->fam.data);
		}
	}
	p->fam_open = 0;
}

static int family_open(pf_parser *p, const char *name, size_t n)
{
	pf_buf_reset(&p->fam);
	pf_buf_reset(&p->unit);
	if (pf_buf_append(&p->fam, name, n) != 0)
		return -1;
	p->fam_open = 1;
	p->type = PF_MT_UNTYPED;
	p->fam_has_samples = 0;
	p->fam_has_help = p->fam_has_type = p->fam_has_unit = 0;
	hset_clear(&p->groups_seen);
	p->group_open = 0;
	memset(&p->h, 0, sizeof(p->h));
	return 0;
}

static uint64_t typed_key(const char *name, size_t n, enum pf_mtype t)
{
	return fnv(FNV_OFF, name, n) ^ mix64((uint64_t)t + 1);
}

/*
 * 0.0.4 only: a sample that does not continue the current family may resume
 * one declared earlier (a family split by other metrics, which expfmt and
 * Telegraf merge). Opens that family with its type and returns the sample's
 * suffix, or -1 when no TYPE line names it.
 */
static int family_resume(pf_parser *p, pf_str name)
{
	static const struct { const char *sfx; enum pf_suffix s; enum pf_mtype t; } cand[] = {
		{ "", PF_SFX_NONE, PF_MT_COUNTER }, { "", PF_SFX_NONE, PF_MT_GAUGE },
		{ "", PF_SFX_NONE, PF_MT_SUMMARY }, { "", PF_SFX_NONE, PF_MT_UNTYPED },
		{ "_bucket", PF_SFX_BUCKET, PF_MT_HISTOGRAM },
		{ "_sum", PF_SFX_SUM, PF_MT_HISTOGRAM }, { "_count", PF_SFX_COUNT, PF_MT_HISTOGRAM },
		{ "_sum", PF_SFX_SUM, PF_MT_SUMMARY }, { "_count", PF_SFX_COUNT, PF_MT_SUMMARY },
	};
	if (p->typed.n == 0)
		return -1;
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		size_t sl = strlen(cand[i].sfx);
		if (name.n <= sl || memcmp(name.p + name.n - sl, cand[i].sfx, sl) != 0)
			continue;
		if (!hset_has(&p->typed, typed_key(name.p, name.n - sl, cand[i].t)))
			continue;
		if (family_open(p, name.p, name.n - sl) != 0)
			return -1;
		p->type = cand[i].t;
		return (int)cand[i].s;
	}
	return -1;
}

/* ---- metadata lines -------------------------------------------------------- */

static int parse_type_word(const char *s, size_t n, enum pf_format fmt, enum pf_mtype *t)
{
	static const struct { const char *w; enum pf_mtype t; int om_only; int prom_only; } types[] = {
		{ "counter", PF_MT_COUNTER, 0, 0 },
		{ "gauge", PF_MT_GAUGE, 0, 0 },
		{ "histogram", PF_MT_HISTOGRAM, 0, 0 },
		{ "summary", PF_MT_SUMMARY, 0, 0 },
		{ "untyped", PF_MT_UNTYPED, 0, 1 },
		{ "unknown", PF_MT_UNTYPED, 1, 0 },
		{ "gaugehistogram", PF_MT_GAUGEHISTOGRAM, 1, 0 },
		{ "info", PF_MT_INFO, 1, 0 },
		{ "stateset", PF_MT_STATESET, 1, 0 },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strlen(types[i].w) != n || memcmp(types[i].w, s, n) != 0)
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
 * or 0 on error. */
static size_t read_metric_name(pf_parser *p, const char *s, size_t n, size_t i, pf_str *name)
{
	if (i < n && s[i] == '"') {
		size_t ec;
		size_t j = read_quoted(p, s, n, i, name, &ec);
		if (j == 0 || name->n == 0 || !utf8_ok(name->p, name->n))
			return 0;
		return j;
	}
	size_t j = scan_name(s, n, i, name_first, name_rest);
	if (j == i)
		return 0;
	name->p = s + i;
	name->n = j - i;
	return j;
}

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
			report(p, ln, 1, "invalid comment: OpenMetrics allows only '# HELP', '# TYPE', "
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
			report(p, ln, (unsigned long)i + 1, "invalid comment: OpenMetrics allows only "
			       "'# HELP', '# TYPE', '# UNIT' and '# EOF' lines");
		return; /* 0.0.4: any other comment */
	}
	i += 4;
	if (!om) {
		if (i < n && s[i] != ' ' && s[i] != '\t')
			return; /* "# HELPER ..." is a comment */
		size_t j = skip_ws(s, n, i);
		if (j == i) {
			report(p, ln, (unsigned long)i + 1, "expected metric name after %s", kw);
			return;
		}
		i = j;
	} else {
		if (i >= n || s[i] != ' ') {
			report(p, ln, (unsigned long)i + 1, "expected a space and a metric name after %s", kw);
			return;
		}
		i++;
	}
	size_t sc = p->scratch.len;
	if (pf_buf_reserve(&p->scratch, n) == NULL) {
		report(p, ln, 0, "out of memory");
		return;
	}
	pf_str name;
	size_t j = read_metric_name(p, s, n, i, &name);
	if (j == 0) {
		report(p, ln, (unsigned long)i + 1, "expected metric name after %s", kw);
		p->scratch.len = sc;
		return;
	}
	i = j;
	pf_str text = { s + n, 0 };
	if (om) {
		if (i >= n || s[i] != ' ') {
			report(p, ln, (unsigned long)i + 1, "expected a space after the metric name in %s "
			       "(the text may be empty but the space is required)", kw);
			p->scratch.len = sc;
			return;
		}
		text.p = s + i + 1;
		text.n = n - i - 1;
	} else {
		if (i < n && s[i] != ' ' && s[i] != '\t') {
			report(p, ln, (unsigned long)i + 1, "invalid metric name in %s", kw);
			p->scratch.len = sc;
			return;
		}
		i = skip_ws(s, n, i);
		text.p = s + i;
		text.n = n - i;
	}

	int same = p->fam_open && name.n == p->fam.len && memcmp(name.p, p->fam.data, name.n) == 0;
	if (om) {
		if (same && p->fam_has_samples) {
			report(p, ln, 1, "%s for '%.*s' after its samples: metadata must come first", kw,
			       (int)name.n, name.p);
			p->scratch.len = sc;
			return;
		}
		if (!same) {
			family_close(p, ln);
			if (family_open(p, name.p, name.n) != 0)
				report(p, ln, 0, "out of memory");
		}
		int *seen = kind == 1 ? &p->fam_has_help : kind == 2 ? &p->fam_has_type : &p->fam_has_unit;
		if (*seen) {
			report(p, ln, 1, "more than one %s for '%.*s'", kw, (int)name.n, name.p);
			p->scratch.len = sc;
			return;
		}
		*seen = 1;
	} else if (kind == 2 || !same) {
		/* 0.0.4: TYPE (or a HELP for another name) starts a family. */
		if (!same) {
			family_close(p, ln);
			if (family_open(p, name.p, name.n) != 0)
				report(p, ln, 0, "out of memory");
		}
	}
	if (kind == 2) {
		enum pf_mtype t;
		if (parse_type_word(text.p, text.n, p->fmt, &t) != 0) {
			report(p, ln, (unsigned long)(text.p - s) + 1, "invalid metric type '%s': expected %s",
			       quote(text.p, text.n).s,
			       om ? "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
				  : "counter, gauge, histogram, summary or untyped");
		} else {
			p->type = t;
			if (!om && hset_add(&p->typed, typed_key(name.p, name.n, t)) < 0)
				report(p, ln, 0, "out of memory");
		}
	} else if (kind == 3) {
		pf_buf_reset(&p->unit);
		pf_buf_append(&p->unit, text.p, text.n);
		p->unit_line = ln;
	}
	p->scratch.len = sc;
}

/* ---- OpenMetrics sample checks (the reference parser's rules) -------------- */

static int is_integer(double v)
{
	return isfinite(v) && floor(v) == v;
}

static void histo_check(pf_parser *p, unsigned long line)
{
	histo_state *h = &p->h;
	if (!h->active)
		return;
	h->active = 0;
	const char *f = p->fam.data;
	int fl = (int)p->fam.len;
	if (!h->has_bucket || !isinf(h->bucket))
		report(p, line, 0, "histogram '%.*s' has no +Inf bucket", fl, f);
	else if (h->has_count && h->value != h->count)
		report(p, line, 0, "histogram '%.*s': _count does not match the +Inf bucket", fl, f);
	else if (h->has_sum && !h->has_count)
		report(p, line, 0, "histogram '%.*s': _count must be present if _sum is", fl, f);
	else if (h->has_gsum && !h->has_count)
		report(p, line, 0, "gaugehistogram '%.*s': _gcount must be present if _gsum is", fl, f);
	else if (!(h->has_sum || h->has_gsum) && h->has_count)
		report(p, line, 0, "histogram '%.*s': _sum must be present if _count is", fl, f);
	else if (h->neg_buckets && h->has_sum)
		report(p, line, 0, "histogram '%.*s': _sum is not allowed with negative buckets", fl, f);
	else if (!h->neg_buckets && h->neg_gsum)
		report(p, line, 0, "gaugehistogram '%.*s': negative _gsum without negative buckets", fl, f);
}

/* Checks one OpenMetrics sample against its family; returns 0 if good
 * (errors are reported here). */
static int om_check(pf_parser *p, const pf_sample *sm, size_t col_labels, size_t col_value,
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
			report(p, ln, col_labels, "stateset sample needs a label named '%.*s'",
			       (int)p->fam.len, p->fam.data);
			return -1;
		}
	}
	if ((t == PF_MT_HISTOGRAM || t == PF_MT_GAUGEHISTOGRAM) && sfx == PF_SFX_BUCKET) {
		const pf_label *le = find_label(p, "le");
		double b;
		if (le == NULL || pf_parse_float(le->value.p, le->value.n, &b) != 0 || isnan(b) ||
		    (isinf(b) && b > 0 && !pf_str_eqc(le->value, "+Inf"))) {
			report(p, ln, col_labels, "bucket needs an 'le' label with a number (+Inf spelled '+Inf')");
			return -1;
		}
		if (!is_integer(v)) {
			report(p, ln, col_value, "bucket value must be an integer");
			return -1;
		}
		skip = le;
	}
	if ((sfx == PF_SFX_COUNT || sfx == PF_SFX_GCOUNT) && !is_integer(v)) {
		report(p, ln, col_value, "_count value must be an integer");
		return -1;
	}
	if (t == PF_MT_SUMMARY && sfx == PF_SFX_NONE) {
		const pf_label *q = find_label(p, "quantile");
		double qv;
		if (q == NULL || pf_parse_float(q->value.p, q->value.n, &qv) != 0 || !(qv >= 0 && qv <= 1)) {
			report(p, ln, col_labels, "summary quantile needs a 'quantile' label between 0 and 1");
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
			uint64_t h = fnv(FNV_OFF, p->labels[i].name.p, p->labels[i].name.n);
			h = fnv(h ^ 0xff, p->labels[i].value.p, p->labels[i].value.n);
			g += mix64(h);
		}
		/* Summary quantile samples and _sum/_count share a group; so do buckets. */
	}
	if (p->group_open && g != p->group && hset_has(&p->groups_seen, g)) {
		report(p, ln, 1, "samples of one label set of '%.*s' are not together (invalid metric grouping)",
		       (int)p->fam.len, p->fam.data);
		return -1;
	}
	int new_group = !p->group_open || g != p->group;
	if (!new_group) {
		if (sm->has_ts != p->group_has_ts) {
			report(p, ln, 1, "mix of samples with and without timestamps in one group");
			return -1;
		}
		if (sm->has_ts && sm->ts_ns < p->group_ts && t != PF_MT_INFO) {
			report(p, ln, 1, "timestamps went backwards within a group");
			return -1;
		}
	}

	/* Value rules. */
	if (t == PF_MT_STATESET && v != 0 && v != 1) {
		report(p, ln, col_value, "stateset samples can only be 0 or 1");
		return -1;
	}
	if (t == PF_MT_INFO && v != 1) {
		report(p, ln, col_value, "info samples can only have the value 1");
		return -1;
	}
	if (t == PF_MT_SUMMARY && sfx == PF_SFX_NONE && v < 0) {
		report(p, ln, col_value, "quantile values cannot be negative");
		return -1;
	}
	int counter_like = sfx == PF_SFX_TOTAL || sfx == PF_SFX_SUM || sfx == PF_SFX_COUNT ||
			   sfx == PF_SFX_BUCKET || sfx == PF_SFX_GCOUNT || sfx == PF_SFX_GSUM;
	if (counter_like && isnan(v)) {
		report(p, ln, col_value, "counter-like samples (%s) cannot be NaN", sfx_text[sfx]);
		return -1;
	}
	if (counter_like && sfx != PF_SFX_GSUM && v < 0) {
		report(p, ln, col_value, "counter-like samples (%s) cannot be negative", sfx_text[sfx]);
		return -1;
	}
	if (has_exemplar && !(((t == PF_MT_HISTOGRAM || t == PF_MT_GAUGEHISTOGRAM) && sfx == PF_SFX_BUCKET) ||
			      (t == PF_MT_COUNTER && sfx == PF_SFX_TOTAL))) {
		report(p, ln, 0, "only histogram buckets and counter _total samples can have exemplars");
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
				report(p, ln, col_labels, "histogram buckets out of order (le must increase)");
				return -1;
			}
			if (v < h->value) {
				report(p, ln, 0, "histogram bucket values must not decrease");
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
		if (hset_add(&p->groups_seen, g) < 0)
			return -1;
	}
	p->group_open = 1;
	p->group = g;
	p->group_has_ts = sm->has_ts != 0;
	p->group_ts = sm->ts_ns;
	return 0;
}

/* ---- sample lines ---------------------------------------------------------- */

/* Code points in valid UTF-8: the bytes that do not continue a sequence. */
static size_t utf8_chars(pf_str v)
{
	size_t c = 0;
	for (size_t i = 0; i < v.n; i++)
		c += ((unsigned char)v.p[i] & 0xc0) != 0x80;
	return c;
}

/* Parses an OpenMetrics exemplar at s[i] (just after " # "). Returns 0 or the
 * 1-based column of the error. */
static size_t om_exemplar(pf_parser *p, const char *s, size_t n, size_t i)
{
	size_t mark = p->nlabels;
	if (i >= n || s[i] != '{')
		return i + 1;
	i++;
	size_t len = 0;
	if (i < n && s[i] != '}') {
		for (;;) {
			pf_str nm, val;
			size_t ec, j;
			if (i < n && s[i] == '"') {
				j = read_quoted(p, s, n, i, &nm, &ec); /* a UTF-8 label name */
				if (j == 0 || nm.n == 0)
					return i + 1;
			} else {
				j = scan_name(s, n, i, lname_first, lname_rest);
				nm.p = s + i;
				nm.n = j - i;
			}
			if (j == i || j >= n || s[j] != '=')
				return j + 1;
			if (j + 1 >= n || s[j + 1] != '"')
				return j + 2;
			size_t k = read_quoted(p, s, n, j + 1, &val, &ec);
			if (k == 0)
				return ec + 1;
			len += nm.n + utf8_chars(val);
			i = k;
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			break;
		}
	}
	(void)mark;
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
		if (i != n || parse_om_ts(s + t0, i - t0, &hts, &ns) != 0)
			return t0 + 1;
	}
	return 0;
}

static void sample_line(pf_parser *p, const char *s, size_t n)
{
	unsigned long ln = p->lineno;
	int om = p->fmt == PF_FORMAT_OPENMETRICS;
	pf_sample sm;
	size_t i = 0, ec = 0;
	size_t col_labels = 0;

	p->nlabels = 0;
	p->scratch.len = 0;
	if (pf_buf_reserve(&p->scratch, n + 1) == NULL) {
		report(p, ln, 0, "out of memory");
		return;
	}
	if (s[0] == ' ' || s[0] == '\t') {
		report(p, ln, 1, "unexpected whitespace at the start of a sample line");
		return;
	}
	/* Metric name, plain before the braces or quoted inside them. */
	pf_str name = { NULL, 0 };
	size_t j = scan_name(s, n, 0, name_first, name_rest);
	if (j > 0) {
		name.p = s;
		name.n = j;
		i = j;
	} else if (s[0] != '{') {
		report(p, ln, 1, "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or '{'");
		return;
	}
	size_t name_end = i;
	if (!om)
		i = skip_ws(s, n, i);
	if (i < n && s[i] == '{') {
		col_labels = i + 1;
		i++;
		for (int comma = 0;; ) {
			if (!om)
				i = skip_ws(s, n, i);
			if (i < n && s[i] == '}') {
				if (om && comma) {
					report(p, ln, i + 1, "expected a label name after ',' (no trailing comma in OpenMetrics)");
					return;
				}
				i++;
				break;
			}
			pf_str ln_name;
			if (i < n && s[i] == '"') {
				size_t k = read_quoted(p, s, n, i, &ln_name, &ec);
				if (k == 0) {
					report(p, ln, ec + 1, "unterminated quoted name");
					return;
				}
				if (!utf8_ok(ln_name.p, ln_name.n)) {
					report(p, ln, i + 1, "invalid UTF-8 in quoted name");
					return;
				}
				i = k;
				if (!om)
					i = skip_ws(s, n, i);
				if (i < n && (s[i] == ',' || s[i] == '}')) {
					/* A quoted string alone is the metric name (Prometheus 3). */
					if (name.p != NULL || ln_name.n == 0) {
						report(p, ln, i + 1, name.p ? "metric name given twice" :
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
					report(p, ln, i + 1, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)%s",
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
				report(p, ln, i + 1, "expected '=' after label name '%.*s'",
				       (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			i++;
			if (!om)
				i = skip_ws(s, n, i);
			if (i >= n || s[i] != '"') {
				report(p, ln, i + 1, "expected '\"' to open the value of label '%.*s'",
				       (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			pf_str val;
			size_t k = read_quoted(p, s, n, i, &val, &ec);
			if (k == 0) {
				report(p, ln, i + 1, "label value of '%.*s' is not closed with '\"'",
				       (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			if (!all_ascii(val.p, val.n) && !utf8_ok(val.p, val.n)) {
				report(p, ln, i + 2, "invalid UTF-8 in the value of label '%.*s'",
				       (int)(ln_name.n > 64 ? 64 : ln_name.n), ln_name.p);
				return;
			}
			if (push_label(p, ln_name, val) != 0) {
				report(p, ln, 0, "out of memory");
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
			report(p, ln, i + 1, "expected ',' or '}' after a label value");
			return;
		}
		if (has_dup_label(p)) {
			report(p, ln, col_labels, "duplicate label name in the label set");
			return;
		}
	}
	if (name.p == NULL) {
		report(p, ln, 1, "metric name not set");
		return;
	}
	/* Value. */
	if (om) {
		if (i >= n || s[i] != ' ') {
			report(p, ln, i + 1, "expected one space and a value after the metric");
			return;
		}
		i++;
	} else {
		size_t k = skip_ws(s, n, i);
		if ((k == i && i == name_end) || k >= n) {
			report(p, ln, k + 1, "expected a space and a value after the metric");
			return;
		}
		i = k;
	}
	size_t v0 = i;
	while (i < n && s[i] != ' ' && s[i] != '\t')
		i++;
	if (om && i < n && s[i] == '\t') {
		report(p, ln, i + 1, "unexpected TAB after the value");
		return;
	}
	double value;
	if (pf_parse_float(s + v0, i - v0, &value) != 0) {
		int cr = i > v0 && s[i - 1] == '\r';
		report(p, ln, v0 + 1, "invalid value '%s': expected a float%s", quote(s + v0, i - v0).s, cr ? " (the line ends in CR: CRLF line endings are not allowed)" : "");
		return;
	}
	sm.value_text.p = s + v0;
	sm.value_text.n = i - v0;
	sm.value = value;
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
				if (i == t0 || parse_om_ts(s + t0, i - t0, &sm.has_ts, &sm.ts_ns) != 0) {
					report(p, ln, t0 + 1, "invalid timestamp '%s': expected seconds, e.g. 1700000000.123",
					       quote(s + t0, i - t0).s);
					return;
				}
				if (i < n)
					i++;
				else
					goto done;
			}
			if (n - i < 3 || s[i] != '#' || s[i + 1] != ' ') {
				report(p, ln, i + 1, "expected ' # {...}' (an exemplar) or the end of the line");
				return;
			}
			size_t e = om_exemplar(p, s, n, i + 2);
			if (e) {
				report(p, ln, e, "invalid exemplar: expected '# {labels} value [timestamp]', "
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
			if (parse_prom_ts(s + t0, i - t0, &sm.has_ts, &sm.ts_ns) != 0) {
				report(p, ln, t0 + 1, "invalid timestamp '%s': expected integer milliseconds",
				       quote(s + t0, i - t0).s);
				return;
			}
			i = skip_ws(s, n, i);
			if (i < n) {
				report(p, ln, i + 1, "unexpected text after the timestamp");
				return;
			}
		}
	}
done:
	if (p->eof_seen)
		return;
	/* Which family is it? */
	int sfx = family_suffix(p, name);
	if (sfx < 0) {
		family_close(p, ln);
		if (!om)
			sfx = family_resume(p, name);
	}
	if (sfx < 0) {
		if (family_open(p, name.p, name.n) != 0) {
			report(p, ln, 0, "out of memory");
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
	if (om && om_check(p, &sm, col_labels ? col_labels : 1, v0 + 1, has_exemplar) != 0)
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

static void parse_line(pf_parser *p, const char *s, size_t n)
{
	p->lineno++;
	p->stats.lines++;
	if (p->fmt == PF_FORMAT_OPENMETRICS) {
		if (p->eof_seen) {
			if (!p->after_eof_reported) {
				p->after_eof_reported = 1;
				report(p, p->lineno, 1, "text after '# EOF'");
			}
			return;
		}
		if (n == 0) {
			report(p, p->lineno, 1, "blank line (not allowed in OpenMetrics)");
			return;
		}
		if (s[0] == '#')
			meta_line(p, s, n);
		else
			sample_line(p, s, n);
		return;
	}
	size_t i = skip_ws(s, n, 0);
	if (i == n)
		return; /* blank */
	if (s[i] == '#') {
		meta_line(p, s + i, n - i);
		return;
	}
	sample_line(p, s, n);
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
	while (i < len && !p->stopped) {
		const char *nl = memchr(data + i, '\n', len - i);
		if (nl == NULL) {
			if (pf_buf_append(&p->carry, data + i, len - i) != 0)
				return p->rc = -ENOMEM;
			/* An empty carry would look like "no partial line": mark it. */
			break;
		}
		size_t n = (size_t)(nl - (data + i));
		parse_line(p, data + i, n);
		i += n + 1;
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
			report(p, p->lineno + 1, 1, "missing '# EOF' at the end (OpenMetrics input must end with it)");
	}
	return p->stopped ? p->rc : 0;
}
