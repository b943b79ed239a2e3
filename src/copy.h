/*
 * copy.h: memcpy() for the short runs a line of line protocol is made of
 * (keys, values, numbers, the timestamp), shared by the encoder
 * (lineproto.c) and the parser's direct way (expfmt.c, direct.h).
 */
#ifndef PF_COPY_H
#define PF_COPY_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
#define PF_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PF_ALWAYS_INLINE inline
#endif

/* Fixed-size moves that may overlap, instead of a libc call or a
 * `rep movsb` for a length known only at run time, which cost more than
 * the copy itself at these sizes. Writes exactly d[0..n). */
static PF_ALWAYS_INLINE void pf_copy_short(char *d, const char *s, size_t n)
{
	if (n > 16) {
		size_t i;
		for (i = 0; i + 16 < n; i += 16)
			memcpy(d + i, s + i, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else if (n > 0) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

#endif
