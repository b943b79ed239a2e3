/*
 * numparse.c: numbers of the exposition formats: sample values
 * (pf_parse_float, declared in expfmt.h) and the timestamps of both
 * formats (numparse.h).
 *
 * The syntax is checked here byte by byte, so strtod only ever sees a
 * plain decimal (it reads '.' as the point because promflux never calls
 * setlocale()), and whole numbers that fit a double exactly skip it.
 */
#include "numparse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expfmt.h"

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
	int lp;
	return pf_parse_float_lp(s, n, out, &lp);
}

/*
 * *lp: the syntax below is line protocol's float grammar (see
 * pf_lp_float_text_ok) plus a leading '+', Inf and NaN. What the fast path
 * below takes is finite and either zero or between 1e-22 and 2^53 * 1e22
 * in magnitude, so it passes that function's range test too; what is left
 * is its limits of 64 bytes and 5 exponent digits. Texts that go to strtod
 * are rare and simply get *lp = 0.
 */
int pf_parse_float_lp(const char *s, size_t n, double *out, int *lp)
{
	*lp = 0;
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
	/*
	 * Collect up to 19 significant digits and the decimal exponent while
	 * checking the syntax. When the digits fit in 53 bits and the exponent
	 * is within 10^22, the value is one exact product or quotient of two
	 * doubles, rounded once: exactly what strtod returns (Clinger's fast
	 * path). Everything else (long mantissas, large exponents) goes to
	 * strtod. This keeps strtod off the common "0.000123" and "1.5e-05".
	 */
	size_t digits = 0, sig = 0, ed = 0;
	uint64_t mant = 0;
	int exp10 = 0, exact = 1;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (sig < 19) {
			mant = mant * 10 + (uint64_t)(s[i] - '0');
			sig += mant != 0;
		} else {
			exact = 0;
		}
		i++;
		digits++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (sig < 19) {
				mant = mant * 10 + (uint64_t)(s[i] - '0');
				sig += mant != 0;
				exp10--;
			} else {
				exact = 0;
			}
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		int eneg = 0;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		int e = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (e < 10000)
				e = e * 10 + (s[i] - '0');
			i++;
			ed++;
		}
		if (ed == 0)
			return -1;
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return -1;
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	if (exact && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
		double v = (double)mant;
		v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
		*out = neg ? -v : v;
		*lp = s[0] != '+' && n <= 64 && ed <= 5;
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

static inline int is_digit(char c)
{
	return (unsigned char)(c - '0') < 10;
}

size_t pf_lp_float_span(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	size_t i = s[0] == '-', d0 = i;
	while (i < n && is_digit(s[i]))
		i++;
	size_t digits = i - d0;
	int exp10 = 0;
	if (digits == 0)
		return 0;
	if (i < n && s[i] == '.') {
		size_t f0 = ++i;
		while (i < n && is_digit(s[i]))
			i++;
		digits += i - f0;
		exp10 = -(int)(i - f0);
	}
	if (digits > 15)
		return 0;
	if (i < n && (s[i] | 0x20) == 'e') {
		int neg = 0, e = 0;
		size_t e0;
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			neg = s[i++] == '-';
		for (e0 = i; i < n && is_digit(s[i]) && i - e0 < 3; i++)
			e = e * 10 + (s[i] - '0');
		if (i == e0)
			return 0;
		exp10 += neg ? -e : e;
	}
	if ((i < n && s[i] != ' ') || exp10 < -22 || exp10 > 22)
		return 0;
	return i;
}

/* The plain form is converted digit by digit, not through a double, so
 * that a ns timestamp stays exact; only the exponent form goes through one. */
int pf_parse_om_ts(const char *s, size_t n, int *has_ts, int64_t *ns)
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

int pf_parse_prom_ts(const char *s, size_t n, int *has_ts, int64_t *ns)
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
