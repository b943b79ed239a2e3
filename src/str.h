/*
 * str.h: a borrowed byte slice.
 *
 * A pf_str never owns its bytes. Whoever hands one out says how long it
 * stays valid (for the parser: only during the callback that receives it).
 */
#ifndef PF_STR_H
#define PF_STR_H

#include <stddef.h>
#include <string.h>

typedef struct pf_str {
	const char *p;
	size_t n;
} pf_str;

/* A name and its value: a scraped label (expfmt.h), or a tag the encoder
 * writes as it is (lineproto.h, pf_point.plain). */
typedef struct pf_label {
	pf_str name;
	pf_str value;
} pf_label;

#define PF_STR_LIT(s) ((pf_str){ (s), sizeof(s) - 1 })

static inline pf_str pf_str_c(const char *s)
{
	return (pf_str){ s, s ? strlen(s) : 0 };
}

/* The first bytes are compared before memcmp() is called: most names that
 * differ (a label against the keys a scrape adds, say) differ there. */
static inline int pf_str_eq(pf_str a, pf_str b)
{
	return a.n == b.n && (a.n == 0 || (a.p[0] == b.p[0] && memcmp(a.p, b.p, a.n) == 0));
}

static inline int pf_str_eqc(pf_str a, const char *s)
{
	return pf_str_eq(a, pf_str_c(s));
}

/* Byte-wise comparison, shorter first on a common prefix (like memcmp on Go strings). */
static inline int pf_str_cmp(pf_str a, pf_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return (a.n > b.n) - (a.n < b.n);
}

static inline int pf_str_has_suffix(pf_str a, const char *sfx)
{
	size_t n = strlen(sfx);
	return a.n >= n && memcmp(a.p + a.n - n, sfx, n) == 0;
}

#endif
