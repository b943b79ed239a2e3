/*
 * numparse.h: the numbers of the exposition formats: sample timestamps of
 * both formats. (pf_parse_float, for values, is declared in expfmt.h, the
 * public API; numparse.c defines it too.)
 *
 * No locale: the C grammar is checked here byte by byte, and strtod sees
 * only text that has no locale-dependent part.
 */
#ifndef PF_NUMPARSE_H
#define PF_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* OpenMetrics timestamp s[0..n): seconds as [-+] digits [. digits], exact
 * to the ns (further digits truncated), or any other float form pf_parse_float
 * takes; NaN and Inf are refused. Returns 0 with *has_ts = 1 and *ns set, or
 * *has_ts = -1 and *ns clamped to INT64_MIN/INT64_MAX when the time is past
 * the int64 ns range; returns -1 when malformed. */
int pf_parse_om_ts(const char *s, size_t n, int *has_ts, int64_t *ns);

/* Text 0.0.4 timestamp s[0..n): [-] digits, milliseconds. Returns 0 with
 * *has_ts = 1 and *ns set, or *has_ts = -1 and *ns clamped when the ms fit
 * int64 but the ns do not; returns -1 when malformed or past int64 ms (as
 * Go's ParseInt). */
int pf_parse_prom_ts(const char *s, size_t n, int *has_ts, int64_t *ns);

/* pf_parse_float() that also tells whether s[0..n) is a float line
 * protocol takes as written: *lp is set to 1 only when
 * pf_lp_float_text_ok() would accept it (it may be 0 for some that it
 * accepts). The parser hands this on, so the encoder need not read the
 * text a second time. */
int pf_parse_float_lp(const char *s, size_t n, double *out, int *lp);

/* The direct way's value (direct.h), without the double: the length of
 * the float that starts s[0..n) when it is of the short common form
 * [-] digits [. digits] [e|E [+|-] 1-3 digits], at most 15 digits before
 * the exponent and a power of ten within 10^+-22 after the point is
 * taken out, and is followed by n or a ' '. pf_parse_float_lp() accepts
 * every such text with *lp = 1. 0 when the text is anything else (which
 * may still be a float: the caller then asks pf_parse_float_lp()). */
size_t pf_lp_float_span(const char *s, size_t n);

#endif
