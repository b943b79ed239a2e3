/*
 * gzip.c: whole-buffer gzip with libdeflate (see gzip.h for why).
 */
#include "gzip.h"

#include <errno.h>
#include <stdint.h>
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

struct pf_gunzip {
	struct libdeflate_decompressor *d;
};

pf_gunzip *pf_gunzip_new(void)
{
	pf_gunzip *z = malloc(sizeof *z);
	if (!z)
		return NULL;
	z->d = libdeflate_alloc_decompressor();
	if (!z->d) {
		free(z);
		return NULL;
	}
	return z;
}

void pf_gunzip_free(pf_gunzip *z)
{
	if (!z)
		return;
	libdeflate_free_decompressor(z->d);
	free(z);
}

/* Decompresses every member of in[0..n) into out[0..cap). Returns 0 and
 * the length, -ENOSPC when cap is too small, -EBADMSG. */
static int members(pf_gunzip *z, const unsigned char *in, size_t n, char *out, size_t cap, size_t *len)
{
	size_t ip = 0, op = 0;
	do {
		size_t used = 0, got = 0;
		enum libdeflate_result r = libdeflate_gzip_decompress_ex(z->d, in + ip, n - ip, out + op, cap - op,
									 &used, &got);
		if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
			return -ENOSPC;
		if (r != LIBDEFLATE_SUCCESS || used == 0)
			return -EBADMSG;
		ip += used;
		op += got;
	} while (ip < n);
	*len = op;
	return 0;
}

int pf_gunzip_run(pf_gunzip *z, const void *in, size_t n, size_t max_out, char **out, size_t *out_len)
{
	const unsigned char *p = in;
	*out = NULL;
	*out_len = 0;
	if (n < 18) /* a 10-byte header, an empty deflate block, the 8-byte trailer */
		return -EBADMSG;
	/* The last member's ISIZE: its length mod 2^32. The whole is at
	 * least that long (more with several members or past 4 GiB), so one
	 * over max_out is refused at once; otherwise it is the first guess of
	 * the size. A wrong guess (several members) costs a try at 4x the
	 * room, and so on up to max_out. */
	uint32_t isize = (uint32_t)p[n - 4] | (uint32_t)p[n - 3] << 8 | (uint32_t)p[n - 2] << 16 |
			 (uint32_t)p[n - 1] << 24;
	if (isize > max_out)
		return -EFBIG;
	size_t cap = isize;
	for (;;) {
		char *buf = malloc(cap ? cap : 1);
		if (!buf)
			return -ENOMEM;
		size_t len = 0;
		int rc = members(z, p, n, buf, cap, &len);
		if (rc == 0) {
			if (cap - len > 4096) { /* a guess at max_out: give it back */
				char *s = realloc(buf, len ? len : 1);
				if (s)
					buf = s;
			}
			*out = buf;
			*out_len = len;
			return 0;
		}
		free(buf);
		if (rc != -ENOSPC)
			return rc;
		if (cap == max_out)
			return -EFBIG;
		size_t more = cap > n ? cap : n;
		cap = more > max_out / 4 ? max_out : more * 4;
	}
}
