/* lineproto.c: STUB, being written (see lineproto.h). */
#include "lineproto.h"
#include <errno.h>
#include <stdio.h>
int pf_lp_write(pf_buf *out, pf_point *p, enum pf_precision prec, pf_lp_stats *st, char *err, size_t errlen)
{
	(void)out; (void)p; (void)prec; (void)st;
	snprintf(err, errlen, "not implemented");
	return -EINVAL;
}
size_t pf_fmt_float_g(char *dst, double v) { return (size_t)snprintf(dst, 32, "%.17g", v); }
int pf_lp_float_text_ok(pf_str s) { (void)s; return 0; }
int pf_precision_parse(const char *s, enum pf_precision *out) { (void)s; *out = PF_PREC_MS; return 0; }
