/*
 * text.h: UTF-8 validation and the quoting of input snippets for error
 * messages, shared by the parser (expfmt) and the encoder (lineproto).
 *
 * Both refuse exactly what Go's utf8.Valid refuses (overlong forms,
 * surrogates, code points above U+10FFFF), so the two ends of the pipeline
 * agree on what valid text is.
 */
#ifndef PF_TEXT_H
#define PF_TEXT_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence that starts at s, or 0 when
 * the bytes there are not valid UTF-8. Reads at most n bytes; n >= 1. */
size_t pf_utf8_seq(const char *s, size_t n);

/* Offset of the first byte of s[0..n) that does not start a valid UTF-8
 * sequence, or n when all of it is valid. */
size_t pf_utf8_valid(const char *s, size_t n);

/* Number of code points in s[0..n), which must be valid UTF-8. */
size_t pf_utf8_chars(const char *s, size_t n);

/* How pf_quote() writes a snippet. */
enum {
	/* Go's %q escapes: \" \\ \a \b \f \n \r \t \v by name, valid UTF-8
	 * copied, any other byte below 0x20 or from 0x7f as \xNN. Without
	 * it only bytes below 0x20 and 0x7f become \xNN, the rest is copied. */
	PF_QUOTE_GO = 1,
	/* Surround the snippet with double quotes. */
	PF_QUOTE_WRAP = 2,
};

/* Size of a buffer that holds any snippet of at most max input bytes. */
#define PF_QUOTE_SIZE(max) ((max) * 4 + 6)

/*
 * Writes s[0..n) into dst (dstlen bytes, NUL-terminated) for a message: at
 * most max input bytes, escaped as flags say, never a control byte, then
 * "..." when the input was cut. A valid UTF-8 sequence is not cut in two in
 * PF_QUOTE_GO mode. A dst smaller than PF_QUOTE_SIZE(max) cuts the snippet
 * earlier. Returns dst.
 */
const char *pf_quote(char *dst, size_t dstlen, const char *s, size_t n, size_t max,
		     unsigned flags);

#endif
