/*
 * text.c: UTF-8 validation and message snippets (see text.h).
 *
 * One validator serves the parser, which only needs yes or no, and the
 * encoder, which copies sequence by sequence and names the offending byte
 * in its message: pf_utf8_seq() is the single definition of a valid
 * sequence, pf_utf8_valid() walks a whole string with it.
 */
#include "text.h"

#include <string.h>

size_t pf_utf8_seq(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0; /* a continuation byte, or an overlong 2-byte form */
	if (c < 0xE0)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* a surrogate */
		return 3;
	}
	if (c < 0xF5) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

size_t pf_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = pf_utf8_seq(s + i, n - i);
		if (k == 0)
			return i;
		i += k;
	}
	return n;
}

size_t pf_utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* The letter of Go's named escape for c, or 0. */
static char go_escape(unsigned c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\a': return 'a';
	case '\b': return 'b';
	case '\f': return 'f';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	case '\v': return 'v';
	default: return 0;
	}
}

const char *pf_quote(char *dst, size_t dstlen, const char *s, size_t n, size_t max,
		     unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	/* Kept free for the closing quote, "..." and the NUL. */
	enum { TAIL = 5, ITEM = 4 };
	const unsigned char *p = (const unsigned char *)s;
	int go = (flags & PF_QUOTE_GO) != 0, wrap = (flags & PF_QUOTE_WRAP) != 0;
	size_t lim = n < max ? n : max, i = 0, o = 0;

	if (dstlen < PF_QUOTE_SIZE(0)) {
		if (dstlen)
			dst[0] = '\0';
		return dst;
	}
	if (wrap)
		dst[o++] = '"';
	while (i < lim && o + ITEM + TAIL <= dstlen) {
		unsigned c = p[i];
		char e = go ? go_escape(c) : 0;

		if (e) {
			dst[o++] = '\\';
			dst[o++] = e;
			i++;
			continue;
		}
		if (go && c >= 0x80) {
			size_t k = pf_utf8_seq(s + i, n - i);
			if (k > 0 && i + k <= lim) {
				memcpy(dst + o, p + i, k);
				o += k;
				i += k;
				continue;
			}
			if (k > 0)
				break; /* a valid sequence cut by the limit */
		} else if (c >= 0x20 && c != 0x7f) {
			dst[o++] = (char)c;
			i++;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
		i++;
	}
	if (wrap)
		dst[o++] = '"';
	if (i < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
