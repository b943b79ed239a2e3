/*
 * promtext.c: the Prometheus text format 0.0.4 writer (see promtext.h).
 *
 * Each sample line is sized first (an upper bound), reserved once in the
 * buffer and written in place, so a body of 50,000 series costs one pass
 * over its bytes and a handful of reallocations. Numbers reuse
 * pf_fmt_float_g() from lineproto (the shortest text that reads back) and
 * UTF-8 checks reuse text.h.
 */
#include "promtext.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "lineproto.h"
#include "text.h"

static int name_start(unsigned c, int label)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
}

static int name_rest(unsigned c, int label)
{
	return name_start(c, label) || (c >= '0' && c <= '9');
}

/* Length of name when it is a valid metric name (label name when label),
 * else 0. */
static size_t name_len(const char *name, int label)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i;

	if (s == NULL || !name_start(s[0], label))
		return 0;
	for (i = 1; s[i]; i++)
		if (!name_rest(s[i], label))
			return 0;
	/* Label names starting with "__" are reserved for Prometheus itself. */
	if (label && s[0] == '_' && s[1] == '_')
		return 0;
	return i;
}

/* Writes s[0..n) escaped (\\ always, \n always, \" when quote) with
 * invalid UTF-8 bytes replaced by U+FFFD. dst must hold 3 * n bytes.
 * Returns the bytes written. */
static size_t esc(char *dst, const char *s, size_t n, int quote)
{
	char *d = dst;
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			if (c == '\\' || (c == '"' && quote)) {
				*d++ = '\\';
				*d++ = (char)c;
			} else if (c == '\n') {
				*d++ = '\\';
				*d++ = 'n';
			} else {
				*d++ = (char)c;
			}
			i++;
			continue;
		}
		size_t k = pf_utf8_seq(s + i, n - i);
		if (k == 0) {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			i++;
		} else {
			memcpy(d, s + i, k);
			d += k;
			i += k;
		}
	}
	return (size_t)(d - dst);
}

/* What esc() writes for s[0..n), exactly. */
static size_t esc_len(const char *s, size_t n, int quote)
{
	size_t i = 0, len = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			len += c == '\\' || c == '\n' || (c == '"' && quote) ? 2 : 1;
			i++;
			continue;
		}
		size_t k = pf_utf8_seq(s + i, n - i);
		len += k ? k : 3;
		i += k ? k : 1;
	}
	return len;
}

/* Room for a line: bound bytes when they fit under the cap, else the exact
 * size (computed by the caller only then, as it costs a second pass). */
static size_t room(const pf_buf *b)
{
	return b->max - b->len;
}

static int restore(pf_buf *b, size_t len, int err)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
	return err;
}

static const char *type_name(enum pf_prom_type t)
{
	switch (t) {
	case PF_PROM_COUNTER: return "counter";
	case PF_PROM_GAUGE: return "gauge";
	case PF_PROM_HISTOGRAM: return "histogram";
	case PF_PROM_SUMMARY: return "summary";
	case PF_PROM_UNTYPED: return "untyped";
	}
	return NULL;
}

int pf_prom_family(pf_buf *b, const char *name, enum pf_prom_type type, const char *help)
{
	size_t nl = name_len(name, 0), hl = help ? strlen(help) : 0, len0 = b->len, need;
	const char *tn = type_name(type);
	char *d, *p;

	if (nl == 0 || tn == NULL)
		return -EINVAL;
	/* "# HELP " name " " help "\n" "# TYPE " name " " type "\n" */
	need = 2 * nl + 3 * hl + 32;
	if (need > room(b))
		need = 2 * nl + esc_len(help, hl, 0) + 32;
	if (need > room(b))
		return -E2BIG;
	d = pf_buf_reserve(b, need);
	if (d == NULL)
		return restore(b, len0, -ENOMEM);
	p = d;
	if (help) {
		memcpy(p, "# HELP ", 7);
		p += 7;
		memcpy(p, name, nl);
		p += nl;
		*p++ = ' ';
		p += esc(p, help, hl, 0);
		*p++ = '\n';
	}
	memcpy(p, "# TYPE ", 7);
	p += 7;
	memcpy(p, name, nl);
	p += nl;
	*p++ = ' ';
	memcpy(p, tn, strlen(tn));
	p += strlen(tn);
	*p++ = '\n';
	pf_buf_commit(b, (size_t)(p - d));
	return 0;
}

/* Writes the decimal digits of u; returns their count. dst: 20 bytes. */
static size_t fmt_u64(char *dst, uint64_t u)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

size_t pf_prom_fmt_value(char *dst, double v)
{
	/* Integers print as integers (Go's 'g' would write 1e+06): below 2^53
	 * every integer is exact, so its digits are its shortest text. */
	if (v == v && fabs(v) < 9007199254740992.0 && v == floor(v)) {
		size_t n = 0;
		if (signbit(v))
			dst[n++] = '-';
		n += fmt_u64(dst + n, (uint64_t)fabs(v));
		dst[n] = '\0';
		return n;
	}
	return pf_fmt_float_g(dst, v);
}

/* What a sample line needs besides its value: an upper bound of the
 * bytes, or 0 when a name is invalid. */
static size_t labels_bound(const pf_prom_label *l, size_t n, size_t *vlen, int exact)
{
	size_t need = 0, i;

	for (i = 0; i < n; i++) {
		size_t kl = name_len(l[i].name, 1);
		if (kl == 0 || l[i].value == NULL)
			return 0;
		vlen[i] = strlen(l[i].value);
		need += kl + 4 + (exact ? esc_len(l[i].value, vlen[i], 1) : 3 * vlen[i]); /* k="v", */
	}
	return need + 1;
}

/* Writes `,k="v"` for each label (no comma before the first when first). */
static char *put_labels(char *p, const pf_prom_label *l, size_t n, const size_t *vlen, int first)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t kl = strlen(l[i].name);
		if (!first || i > 0)
			*p++ = ',';
		memcpy(p, l[i].name, kl);
		p += kl;
		*p++ = '=';
		*p++ = '"';
		p += esc(p, l[i].value, vlen[i], 1);
		*p++ = '"';
	}
	return p;
}

/* Labels are few in own metrics; more than this is refused as a misuse. */
#define MAX_LABELS 32

int pf_prom_labels_prepare(pf_buf *out, const pf_prom_label *l, size_t n)
{
	size_t vlen[MAX_LABELS], need;
	char *d, *p;

	if (n > MAX_LABELS)
		return -EINVAL;
	if (n == 0)
		return 0;
	need = labels_bound(l, n, vlen, 0);
	if (need == 0)
		return -EINVAL;
	if (need > room(out))
		need = labels_bound(l, n, vlen, 1);
	if (need > room(out))
		return -E2BIG;
	d = pf_buf_reserve(out, need);
	if (d == NULL)
		return -ENOMEM;
	p = put_labels(d, l, n, vlen, 1);
	pf_buf_commit(out, (size_t)(p - d));
	return 0;
}

/* The one writer behind every sample: name suffix {pre, l..., le="x"} val. */
static int write_sample(pf_buf *b, const char *name, const char *suffix, const pf_str *pre,
			const pf_prom_label *l, size_t n, const char *le, const char *val,
			size_t vallen)
{
	size_t vlen[MAX_LABELS], nl = name_len(name, 0), sl = strlen(suffix), need, lb = 1;
	size_t pl = pre && pre->n ? pre->n : 0;
	char *d, *p;
	int any;

	if (nl == 0 || n > MAX_LABELS || (n && l == NULL))
		return -EINVAL;
	if (n) {
		lb = labels_bound(l, n, vlen, 0);
		if (lb == 0)
			return -EINVAL;
	}
	/* name suffix { pre , labels , le="x" } SP value LF */
	need = nl + sl + 2 + pl + lb + (le ? strlen(le) + 6 : 0) + 2 + vallen + 1;
	if (need > room(b) && n) {
		need -= lb;
		need += labels_bound(l, n, vlen, 1);
	}
	if (need > room(b))
		return -E2BIG;
	d = pf_buf_reserve(b, need);
	if (d == NULL)
		return -ENOMEM;
	p = d;
	memcpy(p, name, nl);
	p += nl;
	memcpy(p, suffix, sl);
	p += sl;
	any = pl || n || le;
	if (any) {
		*p++ = '{';
		if (pl) {
			memcpy(p, pre->p, pl);
			p += pl;
		}
		p = put_labels(p, l, n, vlen, pl == 0);
		if (le) {
			if (pl || n)
				*p++ = ',';
			memcpy(p, "le=\"", 4);
			p += 4;
			memcpy(p, le, strlen(le));
			p += strlen(le);
			*p++ = '"';
		}
		*p++ = '}';
	}
	*p++ = ' ';
	memcpy(p, val, vallen);
	p += vallen;
	*p++ = '\n';
	pf_buf_commit(b, (size_t)(p - d));
	return 0;
}

int pf_prom_sample(pf_buf *b, const char *name, const pf_str *pre,
		   const pf_prom_label *l, size_t n, double v)
{
	char val[PF_PROM_VALUE_MAX];
	size_t vl = pf_prom_fmt_value(val, v);
	return write_sample(b, name, "", pre, l, n, NULL, val, vl);
}

int pf_prom_sample_u64(pf_buf *b, const char *name, const pf_str *pre,
		       const pf_prom_label *l, size_t n, uint64_t v)
{
	char val[PF_PROM_VALUE_MAX];
	size_t vl = fmt_u64(val, v);
	return write_sample(b, name, "", pre, l, n, NULL, val, vl);
}

int pf_prom_sample_i64(pf_buf *b, const char *name, const pf_str *pre,
		       const pf_prom_label *l, size_t n, int64_t v)
{
	char val[PF_PROM_VALUE_MAX];
	size_t vl = 0;
	/* The magnitude of INT64_MIN does not fit in int64_t: negate as unsigned. */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	if (v < 0)
		val[vl++] = '-';
	vl += fmt_u64(val + vl, u);
	return write_sample(b, name, "", pre, l, n, NULL, val, vl);
}

int pf_hist_init(pf_hist *h, const double *bounds, size_t n)
{
	size_t i;

	if (n > PF_HIST_MAX_BOUNDS || (n && bounds == NULL))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return -EINVAL;
	}
	memset(h, 0, sizeof *h);
	if (n)
		memcpy(h->bounds, bounds, n * sizeof *bounds);
	h->nbounds = n;
	return 0;
}

void pf_hist_observe(pf_hist *h, double v)
{
	size_t lo = 0, hi = h->nbounds;

	if (isnan(v))
		return;
	/* First bound >= v; nbounds when none is (the +Inf bucket). */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->counts[lo]++;
	h->count++;
	h->sum += v;
}

int pf_prom_hist(pf_buf *b, const char *name, const pf_str *pre,
		 const pf_prom_label *l, size_t n, const pf_hist *h)
{
	char val[PF_PROM_VALUE_MAX], le[PF_PROM_VALUE_MAX];
	size_t len0 = b->len, i, vl;
	uint64_t cum = 0;
	int rc;

	for (i = 0; i < n; i++)
		if (l[i].name && strcmp(l[i].name, "le") == 0)
			return -EINVAL;
	for (i = 0; i <= h->nbounds; i++) {
		cum += h->counts[i];
		vl = fmt_u64(val, cum);
		if (i < h->nbounds)
			pf_prom_fmt_value(le, h->bounds[i]);
		else
			memcpy(le, "+Inf", 5);
		rc = write_sample(b, name, "_bucket", pre, l, n, le, val, vl);
		if (rc < 0)
			return restore(b, len0, rc);
	}
	vl = pf_prom_fmt_value(val, h->sum);
	rc = write_sample(b, name, "_sum", pre, l, n, NULL, val, vl);
	if (rc == 0) {
		vl = fmt_u64(val, h->count);
		rc = write_sample(b, name, "_count", pre, l, n, NULL, val, vl);
	}
	if (rc < 0)
		return restore(b, len0, rc);
	return 0;
}
