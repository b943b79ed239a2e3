/*
 * lineproto.c: the InfluxDB line-protocol encoder (see lineproto.h).
 *
 * What we write, and why (the README quotes this block):
 *
 * - Escaping follows the spec and influxdata/line-protocol's encoder:
 *   the measurement escapes comma and space; tag keys, tag values and
 *   field keys escape comma, '=' and space; string field values escape
 *   '"' and '\'. Any other backslash is written as it is.
 * - TAB, LF, FF and CR in a measurement, tag key, tag value or field key
 *   are written as the two characters \t \n \f \r, as Telegraf's
 *   serializer does, so users who move from Telegraf keep their series.
 *   A raw newline would end the line; InfluxDB stores the two characters.
 *   String field values escape the same four the same way (the Go
 *   encoder's expected output for a newline in a string is \n).
 * - Any other control byte (0x00-0x1f, 0x7f) in a name or tag, and
 *   invalid UTF-8 anywhere, refuse the point (-EINVAL), as the Go encoder
 *   does. Control bytes inside string field values are written raw.
 * - A trailing backslash cannot be carried: InfluxDB 1.x/2.x
 *   (models/points.go) treats any byte after a backslash as escaped,
 *   however many backslashes precede it, so "x\\," escapes the comma and
 *   the line is rejected; doubling the backslash does not help. Tag
 *   values therefore lose their trailing backslashes, exactly as
 *   Telegraf's serializer does (a value that is then empty is left out);
 *   a measurement, tag key or field key that ends in a backslash refuses
 *   the point (-EINVAL), as the Go encoder does, because changing a name
 *   could merge two series or reorder the tags.
 * - Tags are sorted by key in byte order, in place. A tag whose value is
 *   empty is left out (InfluxDB refuses empty tag values). Two tags with
 *   the same key refuse the point.
 * - A measurement that starts with '#' refuses the point: InfluxDB would
 *   read the whole line as a comment and drop it silently.
 * - Floats: the sample's own text when pf_lp_float_text_ok() accepts it,
 *   else the shortest text that reads back as the same double, laid out
 *   like Go's strconv.FormatFloat(v, 'g', -1, 64) (exponent when it is
 *   below -4 or at least 6: 1e+06, 125000, 1e-05, 0.0001). NaN and +/-Inf
 *   fields are left out and counted; a point with no field left is not
 *   written (returns 1). Integers end in 'i', unsigned in 'u'.
 * - Timestamps are nanoseconds divided by the precision, truncated
 *   toward zero, as the Go encoder does (-1500000 ns at ms is -1).
 *
 * Speed: one pf_buf_reserve() per line with an upper bound of its length,
 * then a single pass per component that copies, escapes and validates at
 * once (8 bytes at a time while nothing needs escaping, a byte table
 * otherwise; a component under 8 bytes is tested as one word too), and
 * short runs are copied with fixed-size moves rather than a memcpy() of
 * a run-time length. The timestamp text is reused while the time stays
 * the same (it does for a whole scrape). Nothing is allocated per point (qsort
 * sorts in place and is only used for points with many tags). About 60 ns
 * for a 4-tag, 120-byte line on the build machine (gcc -O2).
 *
 * Numbers are printed and parsed in the C locale: promflux never calls
 * setlocale(), and the digits of snprintf("%e") are read without relying
 * on its radix character.
 */
#include "lineproto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "text.h"

/* Byte classes, one bit per reason a byte is not copied as it is. */
enum {
	CT_M = 1,   /* escaped in a measurement: ',' ' ' */
	CT_K = 2,   /* escaped in tag keys, tag values, field keys: ',' '=' ' ' */
	CT_S = 4,   /* escaped in string field values: '"' '\' */
	CT_C = 8,   /* TAB LF FF CR: written as \t \n \f \r */
	CT_X = 16,  /* other control bytes: refused in names and tags */
	CT_H = 32,  /* 0x80-0xff: part of a UTF-8 sequence, validated */
};

#define MASK_MEAS (CT_M | CT_C | CT_X | CT_H)
#define MASK_KEY  (CT_K | CT_C | CT_X | CT_H)
#define MASK_STR  (CT_S | CT_C | CT_H)
#define ESC_BITS  (CT_M | CT_K | CT_S | CT_C)

static const unsigned char ctype[256] = {
	/* 00 */ 16, 16, 16, 16, 16, 16, 16, 16, 16,  8,  8, 16,  8,  8, 16, 16,
	/* 10 */ 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
	/* 20 */  3,  0,  4,  0,  0,  0,  0,  0,  0,  0,  0,  0,  3,  0,  0,  0,
	/* 30 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,
	/* 40 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	/* 50 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,
	/* 60 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	/* 70 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 16,
	/* 80 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* 90 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* a0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* b0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* c0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* d0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* e0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
	/* f0 */ 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
};

static const char digits2[201] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Longest text pf_fmt_float_g() writes, e.g. -2.2250738585072014e-308. */
#define FLOAT_G_MAX 24
/* Longest int64/uint64 in decimal, with sign. */
#define INT_MAX_DIGITS 20

#if defined(__GNUC__)
#define PF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PF_PRINTF(a, b)
#endif

static void seterr(char *err, size_t errlen, const char *fmt, ...) PF_PRINTF(3, 4);

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Writes s quoted like Go's %q (so messages match the Go encoder's),
 * cut after 64 bytes. dst must hold 300 bytes. */
static const char *quote(char *dst, pf_str s, int with_quotes)
{
	return pf_quote(dst, 300, s.p, s.n, 64, PF_QUOTE_GO | (with_quotes ? PF_QUOTE_WRAP : 0));
}

/* Why esc() refused a component. */
struct escerr {
	int code; /* ESC_CTL or ESC_UTF8 */
	size_t off;
	unsigned byte;
};

enum { ESC_CTL = 1, ESC_UTF8 = 2 };

static char ctl_letter(unsigned c)
{
	switch (c) {
	case '\t': return 't';
	case '\n': return 'n';
	case '\f': return 'f';
	default: return 'r';
	}
}

/* Word-at-a-time tests (Mycroft's haszero and its relatives): each is
 * exact as a yes/no answer for the whole 64-bit word. */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HAS_LESS(w, c) (((w) - ONES * (c)) & ~(w) & HIGHS)
#define HAS_BYTE(w, c) HAS_LESS((w) ^ (ONES * (c)), 1)

/* Whether one of the 8 bytes in w needs more than a copy under mask. */
static PF_ALWAYS_INLINE uint64_t word_special(uint64_t w, unsigned mask)
{
	uint64_t t = w & HIGHS;

	if (mask & CT_S)
		return t | HAS_LESS(w, 0x20) | HAS_BYTE(w, '"') | HAS_BYTE(w, '\\');
	/* Names: controls and space (< 0x21), DEL and above (w + 1 sets the
	 * top bit of a 0x7f; a carry out of a 0xff only follows a byte that
	 * already answers yes), comma, and '=' in keys. */
	t = ((w + ONES) | w) & HIGHS;
	t |= HAS_LESS(w, 0x21) | HAS_BYTE(w, ',');
	if (mask & CT_K)
		t |= HAS_BYTE(w, '=');
	return t;
}

/* Copies s to d, escaping the bytes whose class is in mask, validating
 * UTF-8. d must have room for 2 * n bytes. Returns the bytes written, or
 * SIZE_MAX with e filled in when s cannot be written. Runs of plain bytes
 * are tested and copied 8 at a time. */
static PF_ALWAYS_INLINE size_t esc(char *d, pf_str s, unsigned mask,
				   struct escerr *e)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, n = s.n, stop;
	char *d0 = d;
	uint64_t w;

	if (n < 8 && n > 0) {
		/* Short keys and values ("cpu", "idle", "counter") are most
		 * of them: gather their bytes into one word (repeating some,
		 * which does not change the answer) and test it at once. */
		if (n >= 4) {
			uint32_t lo, hi;
			memcpy(&lo, p, 4);
			memcpy(&hi, p + n - 4, 4);
			w = (uint64_t)lo | (uint64_t)hi << 32;
		} else {
			w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
			w |= w << 24 | w << 48;
		}
		if (!word_special(w, mask)) {
			pf_copy_short(d, s.p, n);
			return n;
		}
	}
	while (i < n) {
		if (n - i >= 8) {
			memcpy(&w, p + i, 8);
			if (!word_special(w, mask)) {
				memcpy(d, &w, 8);
				d += 8;
				i += 8;
				continue;
			}
			stop = i + 8;
		} else if (n >= 8) {
			/* The tail: test the last 8 bytes, which overlap
			 * bytes already done; if plain, copy what is left. */
			memcpy(&w, p + n - 8, 8);
			if (!word_special(w, mask)) {
				/* Bytes n-8..i-1 are plain, so they were copied
				 * one for one just before d: store the whole
				 * word over them. */
				memcpy(d - (i - (n - 8)), &w, 8);
				d += n - i;
				break;
			}
			stop = n;
		} else {
			stop = n;
		}
		while (i < stop) {
			unsigned c = p[i];
			unsigned t = ctype[c] & mask;

			if (t == 0) {
				*d++ = (char)c;
				i++;
				continue;
			}
			if (t & (CT_M | CT_K | CT_S)) {
				d[0] = '\\';
				d[1] = (char)c;
				d += 2;
				i++;
				continue;
			}
			if (t & CT_C) {
				d[0] = '\\';
				d[1] = ctl_letter(c);
				d += 2;
				i++;
				continue;
			}
			if (t & CT_X) {
				e->code = ESC_CTL;
				e->off = i;
				e->byte = c;
				return SIZE_MAX;
			}
			/* CT_H: a UTF-8 sequence, copied whole (it may end
			 * past stop). */
			size_t k = pf_utf8_seq((const char *)p + i, n - i);
			if (k == 0) {
				e->code = ESC_UTF8;
				e->off = i;
				e->byte = c;
				return SIZE_MAX;
			}
			memcpy(d, p + i, k);
			d += k;
			i += k;
		}
	}
	return (size_t)(d - d0);
}

/* The exact length esc() writes for s (for the rare path near the cap). */
static size_t esc_len(pf_str s, unsigned mask)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i, n = s.n;

	mask &= ESC_BITS;
	for (i = 0; i < s.n; i++)
		if (ctype[p[i]] & mask)
			n++;
	return n;
}

size_t pf_fmt_u64(char *d, uint64_t v)
{
	char tmp[INT_MAX_DIGITS];
	char *q = tmp + sizeof tmp;
	size_t n;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		q -= 2;
		memcpy(q, digits2 + 2 * r, 2);
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, digits2 + 2 * v, 2);
	} else {
		*--q = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof tmp - q);
	memcpy(d, q, n);
	return n;
}

static size_t fmt_i64(char *d, int64_t v)
{
	if (v < 0) {
		*d = '-';
		return 1 + pf_fmt_u64(d + 1, (uint64_t)0 - (uint64_t)v);
	}
	return pf_fmt_u64(d, (uint64_t)v);
}

/* Nanoseconds to the precision. C's division truncates toward zero, as
 * Go's does; constant divisors let the compiler multiply instead. */
static int64_t scale_time(int64_t ns, enum pf_precision prec)
{
	switch (prec) {
	case PF_PREC_US: return ns / 1000;
	case PF_PREC_MS: return ns / 1000000;
	case PF_PREC_S: return ns / 1000000000;
	default: return ns;
	}
}

/* The timestamp text. Every sample of a scrape carries the same time,
 * so the last one is kept (per thread) and copied instead of formatted. */
static size_t fmt_time(char *d, int64_t ns, enum pf_precision prec)
{
	static _Thread_local struct {
		int64_t ns;
		int prec;
		unsigned char len;
		char txt[INT_MAX_DIGITS + 4];
	} last = { 0, -1, 0, { 0 } };

	if (last.ns != ns || last.prec != (int)prec) {
		last.len = (unsigned char)fmt_i64(last.txt, scale_time(ns, prec));
		last.ns = ns;
		last.prec = (int)prec;
	}
	pf_copy_short(d, last.txt, last.len);
	return last.len;
}

size_t pf_lp_fmt_time(char *dst, int64_t ns, enum pf_precision prec)
{
	if ((unsigned)prec > PF_PREC_S)
		prec = PF_PREC_NS;
	size_t n = fmt_i64(dst, scale_time(ns, prec));
	dst[n] = '\0';
	return n;
}

/* ---- float text ---- */

/* Lays out the digits ds[0..nd) with decimal exponent x (the value is
 * d.ddd * 10^x) the way Go's 'g' format with shortest precision does. */
static size_t layout_g(char *dst, int neg, const char *ds, int nd, int x)
{
	char *d = dst;
	int i;

	if (neg)
		*d++ = '-';
	if (x < -4 || x >= 6) {
		*d++ = ds[0];
		if (nd > 1) {
			*d++ = '.';
			memcpy(d, ds + 1, (size_t)(nd - 1));
			d += nd - 1;
		}
		*d++ = 'e';
		*d++ = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		if (x >= 100) {
			*d++ = (char)('0' + x / 100);
			x %= 100;
		}
		*d++ = (char)('0' + x / 10);
		*d++ = (char)('0' + x % 10);
	} else if (x >= 0) {
		/* x + 1 integer digits, padded with zeros, then the rest. */
		for (i = 0; i <= x; i++)
			*d++ = i < nd ? ds[i] : '0';
		if (nd > x + 1) {
			*d++ = '.';
			memcpy(d, ds + x + 1, (size_t)(nd - x - 1));
			d += nd - x - 1;
		}
	} else {
		*d++ = '0';
		*d++ = '.';
		for (i = 0; i < -x - 1; i++)
			*d++ = '0';
		memcpy(d, ds, (size_t)nd);
		d += nd;
	}
	*d = '\0';
	return (size_t)(d - dst);
}

/* Reads the digits and the exponent out of snprintf("%.*e") output
 * without relying on its radix character. Returns the digit count. */
static int read_e(const char *s, char *ds, int *x)
{
	int nd = 0;

	for (; *s && *s != 'e' && *s != 'E'; s++)
		if (*s >= '0' && *s <= '9')
			ds[nd++] = *s;
	*x = *s ? atoi(s + 1) : 0;
	return nd;
}

/* Whether the integer mantissa m times 10^e reads back as v. */
static int reads_back(uint64_t m, int e, double v)
{
	char t[48];

	snprintf(t, sizeof t, "%llue%d", (unsigned long long)m, e);
	return strtod(t, NULL) == v;
}

/* Whether p + 1 significant digits can say a: the correctly rounded
 * ones, or, when the rounding interval is lopsided (a a power of two), a
 * neighbour one unit away, which can fall inside it when the nearest
 * falls outside: so the result is the shortest, as Go's (Ryu) finds. */
static int try_digits(double a, int p, char *ds, int *nd, int *x)
{
	char tmp[48];
	uint64_t m = 0;
	int i;

	snprintf(tmp, sizeof tmp, "%.*e", p, a);
	*nd = read_e(tmp, ds, x);
	if (strtod(tmp, NULL) == a)
		return 1;
	for (i = 0; i < *nd; i++)
		m = m * 10 + (uint64_t)(ds[i] - '0');
	if (reads_back(m + 1, *x - p, a)) {
		snprintf(ds, 32, "%llu", (unsigned long long)(m + 1));
		*nd = (int)strlen(ds);
		if (*nd > p + 1) /* 9.99 + 0.01 = 10.00: one more digit */
			(*x)++;
		return 1;
	}
	if (m > 1 && reads_back(m - 1, *x - p, a)) {
		snprintf(ds, 32, "%llu", (unsigned long long)(m - 1));
		*nd = (int)strlen(ds);
		if (*nd < p + 1) /* 1.00 - 0.01 = 0.99 */
			(*x)--;
		return 1;
	}
	return 0;
}

size_t pf_fmt_float_g(char *dst, double v)
{
	char ds[32], tmp[48];
	int nd, x, neg;
	double a;

	if (isnan(v)) {
		memcpy(dst, "NaN", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(dst, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	neg = signbit(v) != 0;
	a = fabs(v);
	if (a == 0)
		return layout_g(dst, neg, "0", 1, 0);

	/* Integers below 2^53 are exact, and no shorter decimal lies within
	 * half an ulp of them: their digits are the shortest. */
	if (a < 9007199254740992.0 && a == floor(a)) {
		uint64_t u = (uint64_t)a;
		nd = (int)pf_fmt_u64(ds, u);
		x = nd - 1;
		while (nd > 1 && ds[nd - 1] == '0')
			nd--;
		return layout_g(dst, neg, ds, nd, x);
	}

	/* Shortest digits: the smallest precision that finds digits reading
	 * back as v (try_digits). Finding them is monotonic in the precision
	 * (append a zero), so a binary search over 1..17 digits does. */
	{
		int lo = 0, hi = 16;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (try_digits(a, mid, ds, &nd, &x))
				hi = mid;
			else
				lo = mid + 1;
		}
		if (!try_digits(a, lo, ds, &nd, &x)) {
			/* 17 significant digits always read back. */
			snprintf(tmp, sizeof tmp, "%.16e", a);
			nd = read_e(tmp, ds, &x);
		}
	}
	while (nd > 1 && ds[nd - 1] == '0')
		nd--;
	return layout_g(dst, neg, ds, nd, x);
}

/*
 * The float grammar that both InfluxDB 1.x/2.x (models.scanNumber, then
 * Go's ParseFloat) and influxdata/line-protocol accept, and that strtod
 * reads the same way:
 *
 *     ['-'] (digits ['.' [digits]] | '.' digits) [('e'|'E') ['+'|'-'] digits]
 *
 * '+1', '0x10', 'Inf', 'NaN', '1_000', '.' and '-' are refused. So is a
 * number that overflows (InfluxDB refuses the line) or underflows to zero
 * (the value would change), and any text over 64 bytes: the shortest text
 * is written instead, which is always safe.
 */
int pf_lp_float_text_ok(pf_str s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	const unsigned char *end = p + s.n;
	long lead = 0;         /* power of ten of the first non-zero digit */
	int nonzero = 0, ndig = 0;
	long nint = 0, ex = 0;
	int exneg = 0, exdig = 0;

	if (s.n == 0 || s.n > 64)
		return 0;
	if (*p == '-')
		p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		nint++;
		ndig++;
		if (!nonzero && *p != '0') {
			nonzero = 1;
			lead = -nint; /* fixed up below once nint is known */
		}
	}
	if (nonzero)
		lead = nint + lead; /* digits after the first non-zero one */
	if (p < end && *p == '.') {
		long j = 0;
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			j++;
			ndig++;
			if (!nonzero && *p != '0') {
				nonzero = 1;
				lead = -j;
			}
		}
	}
	if (ndig == 0)
		return 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			exneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (++exdig > 5)
				return 0;
			ex = ex * 10 + (*p - '0');
		}
		if (exdig == 0)
			return 0;
	}
	if (p != end)
		return 0;
	if (nonzero) {
		long mag = lead + (exneg ? -ex : ex);
		/* Near the ends of the double range, ask strtod: overflow
		 * refuses the line, underflow to zero changes the value; a
		 * subnormal reads back the same in Go and C. */
		if (mag > 300 || mag < -300) {
			char t[65];
			double v;

			memcpy(t, s.p, s.n);
			t[s.n] = '\0';
			v = strtod(t, NULL);
			return isfinite(v) && v != 0;
		}
	}
	return 1;
}

int pf_precision_parse(const char *s, enum pf_precision *out)
{
	static const char *const names[] = { "ns", "us", "ms", "s" };
	size_t i;

	if (s == NULL)
		return -1;
	if (s[0] == '1')
		s++;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum pf_precision)i;
			return 0;
		}
	}
	return -1;
}

/* ---- points ---- */

/* pf_str_cmp(), deciding on the first byte without a memcmp call when it
 * can: label names mostly differ there. */
static inline int key_cmp(pf_str a, pf_str b)
{
	if (a.n != 0 && b.n != 0 && a.p[0] != b.p[0])
		return (unsigned char)a.p[0] < (unsigned char)b.p[0] ? -1 : 1;
	return pf_str_cmp(a, b);
}

static int tag_cmp(const void *a, const void *b)
{
	return key_cmp(((const pf_tag *)a)->key, ((const pf_tag *)b)->key);
}

/* Sorts by key in byte order, in place. Exporters mostly hand labels over
 * sorted, so insertion sort runs in one pass; qsort takes the rare large
 * unsorted sets. */
static void sort_tags(pf_tag *t, size_t n)
{
	size_t i, j;

	if (n < 2)
		return;
	if (n > 32) {
		for (i = 1; i < n; i++)
			if (key_cmp(t[i - 1].key, t[i].key) > 0)
				break;
		if (i < n)
			qsort(t, n, sizeof *t, tag_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		pf_tag x;
		if (key_cmp(t[i - 1].key, t[i].key) <= 0)
			continue; /* in place already: no copy */
		x = t[i];
		for (j = i; j > 0 && key_cmp(t[j - 1].key, x.key) > 0; j--)
			t[j] = t[j - 1];
		t[j] = x;
	}
}

static pf_str strip_backslashes(pf_str s)
{
	while (s.n > 0 && s.p[s.n - 1] == '\\')
		s.n--;
	return s;
}

static int nonfinite(const pf_field *f)
{
	return f->kind == PF_FIELD_FLOAT && !isfinite(f->v.f);
}

/* Length of a field value. exact: the length written; else an upper
 * bound that costs nothing to compute. */
static size_t value_len(const pf_field *f, int exact)
{
	char tmp[32];

	switch (f->kind) {
	case PF_FIELD_FLOAT:
		if (!exact)
			return f->text.n > FLOAT_G_MAX ? f->text.n : FLOAT_G_MAX;
		if (f->text.n && (f->text_ok || pf_lp_float_text_ok(f->text)))
			return f->text.n;
		return pf_fmt_float_g(tmp, f->v.f);
	case PF_FIELD_INT:
		return exact ? fmt_i64(tmp, f->v.i) + 1 : INT_MAX_DIGITS + 1;
	case PF_FIELD_UINT:
		return exact ? pf_fmt_u64(tmp, f->v.u) + 1 : INT_MAX_DIGITS + 1;
	case PF_FIELD_BOOL:
		return exact && f->v.b ? 4 : 5;
	case PF_FIELD_STRING:
		return 2 + (exact ? esc_len(f->v.s, MASK_STR) : 2 * f->v.s.n);
	}
	return 0;
}

/* pf_point.plain and .extra: the next tag in key order, plain[] winning
 * on an equal key (whose extra is skipped). Returns 0 at the end. */
static PF_ALWAYS_INLINE int merge_next(const pf_point *p, size_t *i, size_t *j, pf_str *k, pf_str *v)
{
	if (*i < p->nplain) {
		const pf_label *l = &p->plain[*i];
		if (*j < p->nextra) {
			const pf_tag *x = &p->extra[*j];
			int c = key_cmp(l->name, x->key);
			if (c > 0) {
				*k = x->key;
				*v = x->value;
				(*j)++;
				return 1;
			}
			if (c == 0)
				(*j)++;
		}
		*k = l->name;
		*v = l->value;
		(*i)++;
		return 1;
	}
	if (*j < p->nextra) {
		*k = p->extra[*j].key;
		*v = p->extra[*j].value;
		(*j)++;
		return 1;
	}
	return 0;
}

/* ",key=value" for each merged tag. */
static size_t merged_len(const pf_point *p)
{
	size_t n = 0, i = 0, j = 0;
	pf_str k, v;
	while (merge_next(p, &i, &j, &k, &v))
		n += 2 + k.n + v.n;
	return n;
}

/* Length of the line. exact: what write_line() writes for a valid point;
 * else an upper bound. */
static size_t line_len(const pf_point *p, enum pf_precision prec, int exact)
{
	size_t n, i;

	n = (exact ? esc_len(p->measurement, MASK_MEAS) : 2 * p->measurement.n) + 1;
	for (i = 0; i < p->ntags; i++) {
		const pf_tag *t = &p->tags[i];
		pf_str v;

		if (!exact) { /* a tag left out only makes the bound larger */
			n += 2 + 2 * (t->key.n + t->value.n);
			continue;
		}
		if (t->raw) {
			n += 2 + t->key.n + t->value.n;
			continue;
		}
		v = strip_backslashes(t->value);
		if (v.n != 0)
			n += 2 + esc_len(t->key, MASK_KEY) + esc_len(v, MASK_KEY);
	}
	if (exact) {
		n += merged_len(p);
	} else {
		for (i = 0; i < p->nplain; i++)
			n += 2 + p->plain[i].name.n + p->plain[i].value.n;
		for (i = 0; i < p->nextra; i++)
			n += 2 + p->extra[i].key.n + p->extra[i].value.n;
	}
	for (i = 0; i < p->nfields; i++) {
		const pf_field *f = &p->fields[i];
		if (nonfinite(f))
			continue;
		n += 2 + (exact ? esc_len(f->key, MASK_KEY) : 2 * f->key.n) +
		     value_len(f, exact);
	}
	if (p->has_time) {
		char tmp[INT_MAX_DIGITS + 1];
		n += 1 + (exact ? fmt_i64(tmp, scale_time(p->time_ns, prec))
				: INT_MAX_DIGITS + 1);
	}
	return n;
}

/* A measurement, tag key or field key we can write: not empty, not
 * ending in a backslash. check_name() says why not. */
#define NAME_OK(s) ((s).n != 0 && (s).p[(s).n - 1] != '\\')

static int dup_tag(const pf_str *key, char *err, size_t errlen)
{
	char q[300];
	seterr(err, errlen, "duplicate tag key %s", quote(q, *key, 1));
	return -EINVAL;
}

int pf_lp_tag_prepare(pf_str key, pf_str value, pf_buf *store, pf_tag *out)
{
	*out = (pf_tag){ key, value, 0 };
	const unsigned char *k = (const unsigned char *)key.p;
	if (key.n == 0 || k[key.n - 1] == '\\')
		return 0;
	for (size_t j = 0; j < key.n; j++)
		if (ctype[k[j]] & MASK_KEY)
			return 0;
	pf_str v = strip_backslashes(value);
	if (v.n == 0)
		return 0;
	size_t old = store->len;
	char *d = pf_buf_reserve(store, 2 * v.n);
	if (d == NULL)
		return 0;
	struct escerr e;
	size_t n = esc(d, v, MASK_KEY, &e);
	if (n == SIZE_MAX)
		return 0; /* invalid: the per-line path reports it */
	pf_buf_commit(store, n);
	*out = (pf_tag){ key, (pf_str){ store->data + old, n }, 1 };
	return 1;
}

/* Checks a measurement, tag key or field key that must be written as
 * it is. Returns 0 or -EINVAL with the message in err. */
static int check_name(pf_str s, const char *what, char *err, size_t errlen)
{
	char q[300];

	if (s.n == 0) {
		seterr(err, errlen, "invalid %s \"\": empty", what);
		return -EINVAL;
	}
	if (s.p[s.n - 1] == '\\') {
		seterr(err, errlen, "invalid %s %s: ends in a backslash, which line "
		       "protocol cannot carry", what, quote(q, s, 1));
		return -EINVAL;
	}
	return 0;
}

static int esc_error(const struct escerr *e, const char *what, pf_str key,
		     pf_str s, char *err, size_t errlen)
{
	char q[300], kq[300];
	const char *eq = "";

	if (key.p != NULL) {
		quote(kq, key, 0);
		eq = "=";
	} else {
		kq[0] = '\0';
	}
	quote(q, s, 1);
	if (e->code == ESC_CTL)
		seterr(err, errlen, "invalid %s %s%s%s: control character 0x%02x at "
		       "byte %zu cannot be written in line protocol",
		       what, kq, eq, q, e->byte, e->off);
	else
		seterr(err, errlen, "invalid %s %s%s%s: invalid UTF-8 (byte 0x%02x) "
		       "at byte %zu", what, kq, eq, q, e->byte, e->off);
	return -EINVAL;
}

/* Writes a measurement or field key at *pd: copied when the caller
 * promised a plain name (pf_point.names_plain), else checked and escaped
 * under mask. Returns 0 or -EINVAL with the message in err. */
static PF_ALWAYS_INLINE int put_name(char **pd, pf_str s, int plain, unsigned mask, const char *what,
				     char *err, size_t errlen)
{
	static const pf_str nokey = { NULL, 0 };
	struct escerr e = { 0, 0, 0 };
	size_t k;
	int rc;

	if (plain) {
		pf_copy_short(*pd, s.p, s.n);
		*pd += s.n;
		return 0;
	}
	if (!NAME_OK(s) && (rc = check_name(s, what, err, errlen)) != 0)
		return rc;
	if ((k = esc(*pd, s, mask, &e)) == SIZE_MAX)
		return esc_error(&e, what, nokey, s, err, errlen);
	*pd += k;
	return 0;
}

static int write_line(char **pd, const pf_point *p, enum pf_precision prec,
		      char *err, size_t errlen)
{
	static const pf_str nokey = { NULL, 0 };
	struct escerr e = { 0, 0, 0 };
	char *d = *pd, sep;
	const pf_str *prev = NULL;
	size_t i, k;
	int rc;

	/* An empty name or one ending in a backslash gets put_name's
	 * message, not this one. */
	if (!p->names_plain && NAME_OK(p->measurement) && p->measurement.p[0] == '#') {
		char q[300];
		seterr(err, errlen, "invalid measurement %s: starts with '#', so "
		       "InfluxDB would read the line as a comment",
		       quote(q, p->measurement, 1));
		return -EINVAL;
	}
	if ((rc = put_name(&d, p->measurement, p->names_plain, MASK_MEAS, "measurement", err, errlen)) != 0)
		return rc;

	for (i = 0; i < p->ntags; i++) {
		const pf_tag *t = &p->tags[i];
		pf_str v;

		if (t->raw) {
			/* Prepared by pf_lp_tag_prepare(): copy as it is. */
			if (prev != NULL && pf_str_eq(*prev, t->key))
				return dup_tag(&t->key, err, errlen);
			prev = &t->key;
			*d++ = ',';
			pf_copy_short(d, t->key.p, t->key.n);
			d += t->key.n;
			*d++ = '=';
			pf_copy_short(d, t->value.p, t->value.n);
			d += t->value.n;
			continue;
		}
		if (!NAME_OK(t->key) &&
		    (rc = check_name(t->key, "tag key", err, errlen)) != 0)
			return rc;
		v = strip_backslashes(t->value);
		if (v.n == 0)
			continue;
		if (prev != NULL && pf_str_eq(*prev, t->key))
			return dup_tag(&t->key, err, errlen);
		prev = &t->key;
		*d++ = ',';
		if ((k = esc(d, t->key, MASK_KEY, &e)) == SIZE_MAX)
			return esc_error(&e, "tag key", nokey, t->key, err, errlen);
		d += k;
		*d++ = '=';
		if ((k = esc(d, v, MASK_KEY, &e)) == SIZE_MAX)
			return esc_error(&e, "tag value", t->key, t->value, err, errlen);
		d += k;
	}

	if (p->nplain || p->nextra) {
		/* Checked and escaped by whoever built them: copied. */
		size_t pi = 0, xi = 0;
		pf_str tk, tv;
		while (merge_next(p, &pi, &xi, &tk, &tv)) {
			*d++ = ',';
			pf_copy_short(d, tk.p, tk.n);
			d += tk.n;
			*d++ = '=';
			pf_copy_short(d, tv.p, tv.n);
			d += tv.n;
		}
	}

	sep = ' ';
	for (i = 0; i < p->nfields; i++) {
		const pf_field *f = &p->fields[i];

		if (nonfinite(f))
			continue;
		*d++ = sep; /* nothing is committed if the point is refused */
		sep = ',';
		if ((rc = put_name(&d, f->key, p->names_plain, MASK_KEY, "field key", err, errlen)) != 0)
			return rc;
		*d++ = '=';
		switch (f->kind) {
		case PF_FIELD_FLOAT:
			if (f->text.n && (f->text_ok || pf_lp_float_text_ok(f->text))) {
				pf_copy_short(d, f->text.p, f->text.n);
				d += f->text.n;
			} else {
				char tmp[32];
				k = pf_fmt_float_g(tmp, f->v.f);
				memcpy(d, tmp, k);
				d += k;
			}
			break;
		case PF_FIELD_INT:
			d += fmt_i64(d, f->v.i);
			*d++ = 'i';
			break;
		case PF_FIELD_UINT:
			d += pf_fmt_u64(d, f->v.u);
			*d++ = 'u';
			break;
		case PF_FIELD_BOOL:
			if (f->v.b) {
				memcpy(d, "true", 4);
				d += 4;
			} else {
				memcpy(d, "false", 5);
				d += 5;
			}
			break;
		case PF_FIELD_STRING:
			*d++ = '"';
			if ((k = esc(d, f->v.s, MASK_STR, &e)) == SIZE_MAX)
				return esc_error(&e, "string field", f->key, f->v.s,
						 err, errlen);
			d += k;
			*d++ = '"';
			break;
		default: {
			char q[300];
			seterr(err, errlen, "invalid field %s: unknown kind %d",
			       quote(q, f->key, 1), (int)f->kind);
			return -EINVAL;
		}
		}
	}

	if (p->has_time) {
		*d++ = ' ';
		d += fmt_time(d, p->time_ns, prec);
	}
	*d++ = '\n';
	*pd = d;
	return 0;
}

int pf_lp_write(pf_buf *out, pf_point *p, enum pf_precision prec,
		pf_lp_stats *st, char *err, size_t errlen)
{
	size_t i, nbad = 0, need, room;
	char *d0, *d;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((unsigned)prec > PF_PREC_S) {
		seterr(err, errlen, "invalid timestamp precision %d", (int)prec);
		if (st)
			st->points_dropped++;
		return -EINVAL;
	}
	if (p->nfields == 0) {
		char q[300];
		seterr(err, errlen, "point %s has no fields",
		       quote(q, p->measurement, 1));
		if (st)
			st->points_dropped++;
		return -EINVAL;
	}
	for (i = 0; i < p->nfields; i++)
		nbad += (size_t)nonfinite(&p->fields[i]);
	if (nbad == p->nfields) {
		if (st) {
			st->fields_nonfinite += nbad;
			st->points_dropped++;
		}
		return 1;
	}

	sort_tags(p->tags, p->ntags);

	/* One reservation per line. Near the cap the cheap bound may not fit
	 * while the line does: then count exactly. */
	room = out->max - out->len;
	need = line_len(p, prec, 0);
	if (need > room) {
		need = line_len(p, prec, 1);
		if (need > room)
			return -E2BIG;
	}
	/* pf_buf_reserve() only when the buffer lacks room (once it has
	 * grown, it does not). */
	d0 = out->len + need + 1 <= out->cap ? out->data + out->len : pf_buf_reserve(out, need);
	if (d0 == NULL)
		return -ENOMEM;
	d = d0;
	rc = write_line(&d, p, prec, err, errlen);
	if (rc != 0) {
		/* Nothing was committed; restore the terminator we overwrote. */
		out->data[out->len] = '\0';
		if (st)
			st->points_dropped++;
		return rc;
	}
	out->len += (size_t)(d - d0); /* pf_buf_commit(), inline */
	out->data[out->len] = '\0';
	if (st) {
		st->lines++;
		st->fields_nonfinite += nbad;
	}
	return 0;
}
