/* buf.c: growable byte buffer with a hard cap (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pf_buf_init(pf_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

char *pf_buf_reserve(pf_buf *b, size_t n)
{
	/* One spare byte keeps room for the NUL terminator. */
	if (n > b->max - b->len)
		return NULL;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			return NULL;
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

void pf_buf_commit(pf_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int pf_buf_append(pf_buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len)
		return -E2BIG;
	char *d = pf_buf_reserve(b, n);
	if (d == NULL)
		return -ENOMEM;
	if (n)
		memcpy(d, p, n);
	pf_buf_commit(b, n);
	return 0;
}

int pf_buf_putc(pf_buf *b, char c)
{
	if (b->len + 1 < b->cap) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return pf_buf_append(b, &c, 1);
}

int pf_buf_puts(pf_buf *b, const char *s)
{
	return pf_buf_append(b, s, strlen(s));
}

void pf_buf_free(pf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
