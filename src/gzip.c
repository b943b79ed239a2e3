/*
 * gzip.c: whole-buffer gzip with libdeflate (see gzip.h for why).
 */
#include "gzip.h"

#include <stdlib.h>

#include <libdeflate.h>

struct pf_gzip {
	struct libdeflate_compressor *c;
};

pf_gzip *pf_gzip_new(int level)
{
	if (level < 1)
		level = 1;
	if (level > 9)
		level = 9;
	pf_gzip *z = malloc(sizeof *z);
	if (!z)
		return NULL;
	z->c = libdeflate_alloc_compressor(level);
	if (!z->c) {
		free(z);
		return NULL;
	}
	return z;
}

void pf_gzip_free(pf_gzip *z)
{
	if (!z)
		return;
	libdeflate_free_compressor(z->c);
	free(z);
}

char *pf_gzip_compress(pf_gzip *z, const char *in, size_t n, size_t *out_len)
{
	/* The bound holds for any input, so compression into it cannot run
	 * out of room; 0 from libdeflate would mean a bug, reported as NULL. */
	size_t cap = libdeflate_gzip_compress_bound(z->c, n);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t m = libdeflate_gzip_compress(z->c, in, n, out, cap);
	if (m == 0) {
		free(out);
		return NULL;
	}
	/* Give back the bound's slack (the output is ~10x smaller). */
	char *s = realloc(out, m);
	*out_len = m;
	return s ? s : out;
}
