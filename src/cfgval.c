/*
 * cfgval.c: the syntax of configuration values (see cfgval.h): numbers with
 * units, booleans, tag keys, header names, globs and URLs.
 *
 * Numbers are read digit by digit with overflow checks, never through
 * strtod or strtoull, so that neither the locale nor rounding can change
 * what a value means: "1.5s" is exactly 1500 ms.
 */
#include "cfgval.h"

#include <string.h>

#include "config.h"

/* ---- characters ---- */

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_xdigit(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

int pf_cfg_is_alnum(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

int pf_cfg_is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

int pf_cfg_prefix_i(const char *s, const char *pre)
{
	for (; *pre; s++, pre++)
		if (lower((unsigned char)*s) != lower((unsigned char)*pre))
			return 0;
	return 1;
}

int pf_cfg_eq_i(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && pf_cfg_prefix_i(a, b);
}

int pf_cfg_has_ctl(const char *s, int blank)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (blank && *s == ' '))
			return 1;
	return 0;
}

/* ---- numbers, durations and sizes ---- */

/* Reads digits into *v (overflow: -1); *ndig gets how many. */
static int digits(const char **sp, uint64_t *v, int *ndig)
{
	const char *s = *sp;
	uint64_t x = 0;
	int n = 0;
	for (; is_digit(*s); s++, n++) {
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*sp = s;
	*v = x;
	*ndig = n;
	return 0;
}

int pf_cfg_uint_parse(const char *s, uint64_t *v)
{
	int nd;
	if (digits(&s, v, &nd) < 0 || nd == 0 || *s)
		return -1;
	return 0;
}

/* "12.345" at *sp times unit, exactly, into *out; up to 9 decimals. With
 * unit 0 only checks the number and moves *sp past it. */
static int scaled(const char **sp, uint64_t unit, uint64_t *out)
{
	uint64_t ip, fp = 0, pow10 = 1;
	int ni, nf = 0;
	if (digits(sp, &ip, &ni) < 0)
		return -1;
	if (**sp == '.') {
		(*sp)++;
		if (digits(sp, &fp, &nf) < 0 || nf > 9)
			return -1;
		for (int i = 0; i < nf; i++)
			pow10 *= 10;
	}
	if (ni == 0 && nf == 0)
		return -1;
	if (unit == 0)
		return 0;
	if (ip > UINT64_MAX / unit)
		return -1;
	uint64_t v = ip * unit;
	/* fp/pow10 * unit without overflow: fp < pow10 <= 1e9. */
	uint64_t frac = fp * (unit / pow10) + (fp * (unit % pow10)) / pow10;
	if (v > UINT64_MAX - frac)
		return -1;
	*out = v + frac;
	return 0;
}

int pf_duration_parse(const char *s, uint64_t *ms)
{
	static const struct {
		const char *u;
		uint64_t ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000ull }, { "m", 60000000000ull },
		{ "h", 3600000000000ull },
	};
	uint64_t total = 0;
	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) { /* as Go: the one number needing no unit */
		*ms = 0;
		return 0;
	}
	while (*s) {
		const char *num = s;
		uint64_t v;
		/* Find the unit first: the number's value depends on it. The
		 * longest match wins, so that "ms" is not read as "m". */
		if (scaled(&s, 0, &v) < 0)
			return -1;
		size_t best = 0, bestlen = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].u);
			if (strncmp(s, units[i].u, l) == 0 && l > bestlen) {
				best = i;
				bestlen = l;
			}
		}
		if (bestlen == 0 || scaled(&num, units[best].ns, &v) < 0 || total > UINT64_MAX - v)
			return -1;
		total += v;
		s += bestlen;
	}
	if (total % 1000000 != 0) /* finer than our millisecond clock */
		return -1;
	*ms = total / 1000000;
	return 0;
}

int pf_size_parse(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *u;
		uint64_t mult;
	} units[] = {
		{ "", 1 }, { "b", 1 },
		{ "kb", 1000 }, { "mb", 1000000 }, { "gb", 1000000000 },
		{ "kib", 1024 }, { "mib", 1024 * 1024 }, { "gib", 1024 * 1024 * 1024 },
	};
	if (s == NULL || *s == '\0')
		return -1;
	const char *p = s;
	uint64_t v;
	if (scaled(&p, 0, &v) < 0)
		return -1;
	const char *u = p;
	while (pf_cfg_is_blank(*u))
		u++;
	if (u != p && *u == '\0') /* trailing blanks without a unit */
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (pf_cfg_eq_i(u, units[i].u))
			return scaled(&s, units[i].mult, bytes);
	return -1;
}

int pf_cfg_bool_parse(const char *s, int *out)
{
	static const char *const names[] = { "false", "true", "no", "yes", "off", "on", "0", "1" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (pf_cfg_eq_i(s, names[i])) {
			*out = (int)(i % 2);
			return 0;
		}
	}
	return -1;
}

/* ---- names ---- */

const char *pf_cfg_tag_key_problem(const char *k)
{
	if (!*k)
		return "empty tag key";
	if (strcmp(k, "time") == 0 || strcmp(k, "_measurement") == 0 || strcmp(k, "_field") == 0 ||
	    strcmp(k, "_start") == 0 || strcmp(k, "_stop") == 0)
		return "reserved tag key (time, _measurement, _field, _start and _stop are InfluxDB's)";
	if (pf_cfg_has_ctl(k, 0))
		return "control character in tag key";
	return NULL;
}

int pf_cfg_is_token(const char *s)
{
	const char *p = s;
	while (*p && (pf_cfg_is_alnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
		p++;
	return *s && !*p;
}

/* A light syntax check: fnmatch accepts anything, matching nothing useful
 * when a bracket is left open. */
const char *pf_cfg_glob_problem(const char *g)
{
	if (!*g)
		return "empty pattern";
	for (const char *p = g; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "pattern ends with a lone \\";
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return "[ without a closing ]";
			p = q;
		}
	}
	if (pf_cfg_has_ctl(g, 0))
		return "control character in pattern";
	return NULL;
}

/* ---- URLs ---- */

/* Checks "host[:port]" (or "[v6]:port"), with user@ only if allowed. */
static const char *authority_problem(const char *a, size_t n, int allow_userinfo)
{
	const char *at = memchr(a, '@', n);
	if (at) {
		if (!allow_userinfo)
			return "credentials in the URL are not allowed: use username and password (or password_file)";
		n -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	if (n == 0)
		return "no host";
	const char *end = a + n, *host_end;
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', n);
		if (!rb || rb == a + 1)
			return "bad IPv6 address, write it as [::1]";
		for (const char *q = a + 1; q < rb; q++)
			if (!(is_xdigit((unsigned char)*q) || *q == ':' || *q == '.' || *q == '%'))
				return "bad IPv6 address, write it as [::1]";
		host_end = rb + 1;
	} else {
		host_end = a;
		while (host_end < end && *host_end != ':') {
			unsigned char ch = (unsigned char)*host_end;
			if (!(pf_cfg_is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '%' || ch >= 0x80))
				return "bad character in host name";
			host_end++;
		}
		if (host_end == a)
			return "no host";
	}
	if (host_end == end)
		return NULL;
	if (*host_end != ':')
		return "unexpected text after the host";
	const char *p = host_end + 1;
	unsigned long port = 0;
	if (p == end)
		return "empty port";
	for (; p < end; p++) {
		if (!is_digit(*p) || port > 65535)
			return "bad port, allowed 1-65535";
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return "bad port, allowed 1-65535";
	return NULL;
}

const char *pf_cfg_url_problem(const char *u)
{
	if (pf_cfg_has_ctl(u, 1))
		return "blank or control character in the URL (percent-encode it)";
	if (strchr(u, '#'))
		return "a #fragment is never sent to the server; remove it";
	if (pf_cfg_prefix_i(u, "unix://")) {
		const char *path = u + 7;
		if (path[0] != '/')
			return "the socket path must be absolute: unix:///run/app.sock?path=/metrics";
		const char *q = strchr(path, '?');
		size_t plen = q ? (size_t)(q - path) : strlen(path);
		if (plen < 2 || path[plen - 1] == '/')
			return "no socket file after unix://";
		if (plen > 107)
			return "socket path longer than 107 bytes (the sockaddr_un limit)";
		/* The HTTP path may carry its own query: ?path=/metrics?x=1 */
		if (q && strncmp(q + 1, "path=/", 6) != 0)
			return "after the socket only ?path=/PATH is allowed: unix:///run/app.sock?path=/metrics";
		return NULL;
	}
	const char *rest;
	if (pf_cfg_prefix_i(u, "http://"))
		rest = u + 7;
	else if (pf_cfg_prefix_i(u, "https://"))
		rest = u + 8;
	else
		return "unsupported URL scheme";
	return authority_problem(rest, strcspn(rest, "/?"), 0);
}

const char *pf_cfg_proxy_problem(const char *u)
{
	static const char *const schemes[] = { "http://", "https://", "socks4://", "socks4a://", "socks5://",
					       "socks5h://" };
	if (pf_cfg_has_ctl(u, 1))
		return "blank or control character in the proxy URL";
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (pf_cfg_prefix_i(u, schemes[i])) {
			const char *rest = u + strlen(schemes[i]);
			size_t alen = strcspn(rest, "/?#");
			const char *r = authority_problem(rest, alen, 1);
			if (r)
				return r;
			if (rest[alen] && strcmp(rest + alen, "/") != 0)
				return "a proxy URL has no path";
			return NULL;
		}
	}
	return "unsupported proxy scheme";
}
