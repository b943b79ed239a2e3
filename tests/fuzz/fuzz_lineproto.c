/*
 * fuzz_lineproto.c: libFuzzer target for the line-protocol encoder and the
 * float helpers it shares with the parser.
 *
 * The input starts with 18 control bytes (missing ones read as zero):
 * byte 0 = number of tags (low 3 bits) and of fields (bits 3-4, plus one),
 * byte 1 = precision (low 2 bits) and has_time (bit 2), bytes 2-9 = time_ns,
 * bytes 10-17 = a double for the float formatter (all little-endian).
 * The rest is cut into pieces at every 0xFE byte (a byte that never occurs
 * in UTF-8, so every other byte, NUL and invalid UTF-8 included, reaches
 * the encoder): the measurement; a key and a value for each tag; for each
 * field a key and a value whose first byte is the kind (value % 5) and
 * whose rest is the text (float, string) or 8 raw bytes (int, uint, bool).
 * Missing pieces are empty. The target checks the promises of lineproto.h
 * and expfmt.h: a written line ends in '\n' and is appended whole; a refused
 * point leaves the buffer as it was; 1 is returned only when every field is
 * a non-finite float; pf_fmt_float_g's text reads back, through
 * pf_parse_float, as the same double; a text pf_lp_float_text_ok accepts is
 * a complete decimal number.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expfmt.h"
#include "lineproto.h"

#define MAX_PIECES 32
#define CTL_LEN 18
#define PREFILL "previous line\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_lineproto: broken promise: %s\n", what);
	abort();
}

static uint64_t get_u64(pf_str s, size_t off)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8 && off + i < s.n; i++)
		v |= (uint64_t)(unsigned char)s.p[off + i] << (8 * i);
	return v;
}

static double u64_to_double(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static int same_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* pf_fmt_float_g must be exact and pf_parse_float must read it back. */
static void check_float_fmt(double v)
{
	char txt[40];

	memset(txt, 'x', sizeof(txt));
	size_t n = pf_fmt_float_g(txt, v);
	if (n >= 32 || txt[n] != '\0' || strlen(txt) != n)
		fail("pf_fmt_float_g: length or terminator wrong");
	double back;
	if (pf_parse_float(txt, n, &back) != 0)
		fail("pf_parse_float refuses pf_fmt_float_g's text");
	if (!same_double(back, v)) {
		fprintf(stderr, "fuzz_lineproto: %a formatted as \"%s\" reads back as %a\n", v, txt, back);
		abort();
	}
}

/* A text the encoder writes as is must be a complete decimal number. */
static void check_float_text(pf_str s)
{
	if (!pf_lp_float_text_ok(s))
		return;
	char tmp[256];
	if (s.n == 0 || s.n >= sizeof(tmp))
		return;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = '\0';
	char *end;
	(void)strtod(tmp, &end);
	if ((size_t)(end - tmp) != s.n)
		fail("pf_lp_float_text_ok accepts a text strtod does not read whole");
	for (size_t i = 0; i < s.n; i++)
		if (strchr("0123456789+-.eE", tmp[i]) == NULL)
			fail("pf_lp_float_text_ok accepts a non-decimal character");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_str piece[MAX_PIECES];
	size_t np = 0, start = CTL_LEN;

	pf_str ctl = { (const char *)data, size < CTL_LEN ? size : CTL_LEN };
	unsigned ntags = ctl.n > 0 ? (unsigned char)ctl.p[0] & 7 : 0;
	unsigned nfields = ctl.n > 0 ? (((unsigned char)ctl.p[0] >> 3) & 3) + 1 : 1;
	unsigned pbyte = ctl.n > 1 ? (unsigned char)ctl.p[1] : 0;

	for (size_t i = 0; i < MAX_PIECES; i++)
		piece[i] = (pf_str){ "", 0 };
	for (size_t i = start; i <= size && np < MAX_PIECES; i++) {
		if (i == size || data[i] == 0xFE) {
			piece[np].p = (const char *)data + start;
			piece[np].n = i - start;
			np++;
			start = i + 1;
		}
	}

	check_float_fmt(u64_to_double(get_u64(ctl, 10)));

	pf_tag tags[8];
	pf_field fields[4];
	size_t k = 0;
	pf_point pt;

	memset(&pt, 0, sizeof(pt));
	pt.measurement = piece[k++];
	for (unsigned i = 0; i < ntags; i++) {
		tags[i].key = k < MAX_PIECES ? piece[k] : (pf_str){ "", 0 };
		k++;
		tags[i].value = k < MAX_PIECES ? piece[k] : (pf_str){ "", 0 };
		k++;
		tags[i].raw = 0;
	}
	int all_nonfinite = 1;
	for (unsigned i = 0; i < nfields; i++) {
		pf_str key = k < MAX_PIECES ? piece[k] : (pf_str){ "", 0 };
		k++;
		pf_str val = k < MAX_PIECES ? piece[k] : (pf_str){ "", 0 };
		k++;
		pf_field *f = &fields[i];
		memset(f, 0, sizeof(*f));
		f->key = key;
		f->kind = (enum pf_fkind)(val.n ? (unsigned char)val.p[0] % 5 : 0);
		pf_str rest = val.n ? (pf_str){ val.p + 1, val.n - 1 } : val;
		switch (f->kind) {
		case PF_FIELD_FLOAT:
			check_float_text(rest);
			if (pf_parse_float(rest.p, rest.n, &f->v.f) == 0) {
				f->text = rest; /* the source text of v.f, as the parser hands it out */
			} else {
				f->v.f = u64_to_double(get_u64(rest, 0));
				f->text = (pf_str){ "", 0 };
			}
			if (isfinite(f->v.f))
				all_nonfinite = 0;
			break;
		case PF_FIELD_INT:
			f->v.i = (int64_t)get_u64(rest, 0);
			all_nonfinite = 0;
			break;
		case PF_FIELD_UINT:
			f->v.u = get_u64(rest, 0);
			all_nonfinite = 0;
			break;
		case PF_FIELD_BOOL:
			f->v.b = rest.n ? rest.p[0] & 1 : 0;
			all_nonfinite = 0;
			break;
		case PF_FIELD_STRING:
			f->v.s = rest;
			all_nonfinite = 0;
			break;
		}
	}
	pt.tags = tags;
	pt.ntags = ntags;
	pt.fields = fields;
	pt.nfields = nfields;
	pt.has_time = (pbyte >> 2) & 1;
	pt.time_ns = (int64_t)get_u64(ctl, 2);

	/* A small cap so that -E2BIG and its rollback are reached too. */
	pf_buf out;
	pf_buf_init(&out, 1024 + size * 4);
	if (pf_buf_puts(&out, PREFILL) != 0)
		fail("cannot prefill the buffer");

	pf_lp_stats st;
	memset(&st, 0, sizeof(st));
	char err[128];
	err[0] = '\0';
	int rc = pf_lp_write(&out, &pt, (enum pf_precision)(pbyte & 3), &st, err, sizeof(err));

	if (out.len < sizeof(PREFILL) - 1 || memcmp(out.data, PREFILL, sizeof(PREFILL) - 1) != 0)
		fail("the buffer's earlier content changed");
	if (rc == 0) {
		if (out.len <= sizeof(PREFILL) - 1 || out.data[out.len - 1] != '\n')
			fail("a written line does not end in a newline");
		if (st.lines != 1)
			fail("a written line is not counted");
	} else {
		if (out.len != sizeof(PREFILL) - 1)
			fail("a refused point left bytes in the buffer");
		if (rc == 1 && !all_nonfinite)
			fail("returned 1 although a field is finite");
		if (rc == -EINVAL && memchr(err, '\0', sizeof(err)) == NULL)
			fail("the error message is not terminated");
		if (rc != 1 && rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM)
			fail("undocumented return");
	}

	pf_buf_free(&out);
	return 0;
}
