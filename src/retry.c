/*
 * retry.c: exponential backoff with full jitter, Retry-After parsing (see
 * retry.h). No locale, no libc date functions (timegm is not in POSIX and
 * strptime follows the locale): the three HTTP-date forms are parsed here.
 */
#include "retry.h"

#include <string.h>

void pf_backoff_init(pf_backoff *b, uint64_t base_ms, uint64_t cap_ms, uint64_t seed)
{
	b->base_ms = base_ms ? base_ms : 1;
	b->cap_ms = cap_ms;
	b->failures = 0;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

void pf_backoff_reset(pf_backoff *b)
{
	b->failures = 0;
}

static uint64_t next_rand(pf_backoff *b)
{
	uint64_t x = b->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t pf_backoff_next(pf_backoff *b, uint64_t retry_after_ms)
{
	uint64_t hi = b->base_ms;
	/* base * 2^(failures), without overflow; failures counts this one
	 * after the increment below, so the first wait is at most the base. */
	for (unsigned i = 0; i < b->failures && hi < b->cap_ms; i++)
		hi = hi > UINT64_MAX / 2 ? UINT64_MAX : hi * 2;
	if (b->failures < 64)
		b->failures++;
	if (hi > b->cap_ms)
		hi = b->cap_ms;
	uint64_t lo = b->base_ms < hi ? b->base_ms : hi;
	uint64_t wait = lo + (hi > lo ? next_rand(b) % (hi - lo + 1) : 0);
	if (retry_after_ms > PF_RETRY_AFTER_MAX)
		retry_after_ms = PF_RETRY_AFTER_MAX;
	return wait > retry_after_ms ? wait : retry_after_ms;
}

/* ---- Retry-After ---- */

static const char *skip_sp(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* 1-12 for an English month abbreviation at p (case as sent), else 0. */
static int month_of(const char *p)
{
	static const char m[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (strncmp(p, m + 3 * i, 3) == 0)
			return i + 1;
	return 0;
}

/* Reads 1..maxd digits; returns the position after them or NULL. */
static const char *digits(const char *p, int mind, int maxd, int *out)
{
	int v = 0, n = 0;
	while (n < maxd && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n < mind)
		return NULL;
	*out = v;
	return p;
}

/* "HH:MM:SS" */
static const char *clock_of(const char *p, int *sec)
{
	int h, m, s;
	if (!(p = digits(p, 2, 2, &h)) || *p++ != ':' || !(p = digits(p, 2, 2, &m)) || *p++ != ':' ||
	    !(p = digits(p, 2, 2, &s)))
		return NULL;
	if (h > 23 || m > 59 || s > 60)
		return NULL;
	*sec = h * 3600 + m * 60 + s;
	return p;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The three forms of RFC 9110 section 5.6.7. Returns 0 and *t, or -1. */
static int http_date(const char *p, int64_t *t)
{
	int day, mon, year, sec;
	const char *q = p;
	while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
		q++;
	if (q - p < 3)
		return -1;
	if (*q == ',') { /* IMF-fixdate or RFC 850 */
		q = skip_sp(q + 1);
		if (!(q = digits(q, 1, 2, &day)))
			return -1;
		char sep = *q;
		if (sep != ' ' && sep != '-')
			return -1;
		if (!(mon = month_of(++q)))
			return -1;
		q += 3;
		if (*q++ != sep || !(q = digits(q, 2, 4, &year)))
			return -1;
		if (year < 100) /* RFC 850's two digits: within 50 years, as curl */
			year += year < 70 ? 2000 : 1900;
		q = skip_sp(q);
		if (!(q = clock_of(q, &sec)))
			return -1;
		q = skip_sp(q);
		if (strncmp(q, "GMT", 3) != 0)
			return -1;
		q += 3;
	} else { /* asctime: "Sun Nov  6 08:49:37 1994" */
		q = skip_sp(q);
		if (!(mon = month_of(q)))
			return -1;
		q = skip_sp(q + 3);
		if (!(q = digits(q, 1, 2, &day)))
			return -1;
		q = skip_sp(q);
		if (!(q = clock_of(q, &sec)))
			return -1;
		q = skip_sp(q);
		if (!(q = digits(q, 4, 4, &year)))
			return -1;
	}
	if (*skip_sp(q) != '\0' || day < 1 || day > 31)
		return -1;
	*t = days_from_civil(year, mon, day) * 86400 + sec;
	return 0;
}

int pf_retry_after_parse(const char *v, int64_t now_s, uint64_t *ms)
{
	const char *p = skip_sp(v);
	if (*p >= '0' && *p <= '9') {
		uint64_t s = 0;
		while (*p >= '0' && *p <= '9') {
			if (s < PF_RETRY_AFTER_MAX)
				s = s * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (*skip_sp(p) != '\0')
			return -1;
		*ms = s * 1000 > PF_RETRY_AFTER_MAX ? PF_RETRY_AFTER_MAX : s * 1000;
		return 0;
	}
	int64_t t;
	if (http_date(p, &t) < 0)
		return -1;
	int64_t d = t - now_s;
	if (d <= 0)
		*ms = 0;
	else
		*ms = (uint64_t)d * 1000 > PF_RETRY_AFTER_MAX ? PF_RETRY_AFTER_MAX : (uint64_t)d * 1000;
	return 0;
}
