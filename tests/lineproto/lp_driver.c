/*
 * lp_driver.c: drives the line-protocol encoder for the Python harnesses.
 *
 * A line-based protocol on stdin/stdout, so that any byte (NUL, invalid
 * UTF-8, newlines) reaches the encoder unchanged: every string travels
 * hex-encoded, "-" standing for the empty string. Requests:
 *
 *   W PREC HAS_TIME TIME_NS MEAS NTAGS {KEY VALUE}... NFIELDS {KEY KIND VALUE}...
 *       KIND f: VALUE is the 16 hex digits of the double's bits, followed
 *               by one more word, the value's source text;
 *       KIND i/u: decimal; b: 0 or 1; s: hex string.
 *     -> OK HEXLINE (without its final newline) | SKIP | ERR RC HEXMSG
 *        | PREC (PREC not parsed) | BROKEN why (the buffer contract broke)
 *   G BITS      -> G TEXT             pf_fmt_float_g()
 *   T HEXTEXT   -> T OK BITS          pf_lp_float_text_ok(), strtod() bits
 *   P WORD      -> P RC ENUM          pf_precision_parse()
 *
 * Each W runs against a buffer that already holds a line, to check that a
 * failure leaves it exactly as it was and a success only appends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

#define MAXT 4096

static char *next_word(char **s)
{
	char *w = *s, *e;

	while (*w == ' ')
		w++;
	if (*w == '\0' || *w == '\n')
		return NULL;
	e = w;
	while (*e && *e != ' ' && *e != '\n')
		e++;
	if (*e)
		*e++ = '\0';
	*s = e;
	return w;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a hex word in place; "-" is the empty string. */
static int unhex(char *w, pf_str *out)
{
	size_t n = strlen(w), i;

	if (strcmp(w, "-") == 0) {
		*out = (pf_str){ w, 0 };
		return 0;
	}
	if (n % 2)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int a = hexval(w[2 * i]), b = hexval(w[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		w[i] = (char)(a * 16 + b);
	}
	*out = (pf_str){ w, n / 2 };
	return 0;
}

static void puthex(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		fputc('-', stdout);
	for (i = 0; i < n; i++)
		printf("%02x", (unsigned char)p[i]);
}

static double bits2d(const char *w)
{
	uint64_t u = strtoull(w, NULL, 16);
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

static uint64_t d2bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static pf_tag tags[MAXT];
static pf_field fields[MAXT];

static int do_write(char *s)
{
	static const char prefix[] = "prefix value=1\n";
	enum pf_precision prec;
	pf_point p;
	pf_buf b;
	pf_lp_stats st = { 0, 0, 0 };
	char err[512], *w;
	size_t i, n;
	int rc;

	memset(&p, 0, sizeof p);
	w = next_word(&s);
	if (w == NULL || pf_precision_parse(w, &prec) != 0) {
		printf("PREC\n");
		return 0;
	}
	p.has_time = atoi(next_word(&s));
	p.time_ns = strtoll(next_word(&s), NULL, 10);
	if (unhex(next_word(&s), &p.measurement))
		return -1;
	n = strtoul(next_word(&s), NULL, 10);
	if (n > MAXT)
		return -1;
	for (i = 0; i < n; i++) {
		if (unhex(next_word(&s), &tags[i].key) ||
		    unhex(next_word(&s), &tags[i].value))
			return -1;
	}
	p.tags = tags;
	p.ntags = n;
	n = strtoul(next_word(&s), NULL, 10);
	if (n > MAXT)
		return -1;
	for (i = 0; i < n; i++) {
		pf_field *f = &fields[i];
		char *kind;

		memset(f, 0, sizeof *f);
		if (unhex(next_word(&s), &f->key))
			return -1;
		kind = next_word(&s);
		w = next_word(&s);
		if (kind == NULL || w == NULL)
			return -1;
		switch (kind[0]) {
		case 'f':
			f->kind = PF_FIELD_FLOAT;
			f->v.f = bits2d(w);
			if (unhex(next_word(&s), &f->text))
				return -1;
			break;
		case 'i':
			f->kind = PF_FIELD_INT;
			f->v.i = strtoll(w, NULL, 10);
			break;
		case 'u':
			f->kind = PF_FIELD_UINT;
			f->v.u = strtoull(w, NULL, 10);
			break;
		case 'b':
			f->kind = PF_FIELD_BOOL;
			f->v.b = atoi(w);
			break;
		case 's':
			f->kind = PF_FIELD_STRING;
			if (unhex(w, &f->v.s))
				return -1;
			break;
		default:
			return -1;
		}
	}
	p.fields = fields;
	p.nfields = n;

	pf_buf_init(&b, 64u << 20);
	if (pf_buf_puts(&b, prefix) != 0)
		return -1;
	rc = pf_lp_write(&b, &p, prec, &st, err, sizeof err);
	if (rc == 0) {
		size_t ln = b.len - (sizeof prefix - 1);
		const char *line = b.data + sizeof prefix - 1;
		if (memcmp(b.data, prefix, sizeof prefix - 1) != 0)
			printf("BROKEN prefix changed\n");
		else if (ln == 0 || line[ln - 1] != '\n' ||
			 memchr(line, '\n', ln - 1) != NULL)
			printf("BROKEN not exactly one line\n");
		else if (st.lines != 1)
			printf("BROKEN lines=%" PRIu64 "\n", st.lines);
		else {
			printf("OK ");
			puthex(line, ln - 1);
			printf("\n");
		}
	} else if (b.len != sizeof prefix - 1 || b.data[b.len] != '\0' ||
		   memcmp(b.data, prefix, b.len) != 0) {
		printf("BROKEN buffer changed on failure %d\n", rc);
	} else if (st.points_dropped != (rc == -EINVAL || rc == 1)) {
		printf("BROKEN points_dropped=%" PRIu64 "\n", st.points_dropped);
	} else if (rc == 1) {
		printf("SKIP\n");
	} else {
		printf("ERR %d ", rc);
		puthex(err, strlen(err));
		printf("\n");
	}
	pf_buf_free(&b);
	return 0;
}

int main(void)
{
	static char line[1 << 22];

	while (fgets(line, sizeof line, stdin) != NULL) {
		char *s = line, *cmd = next_word(&s), *w;
		char txt[64];
		pf_str t;
		enum pf_precision pr = PF_PREC_NS;
		int rc;

		if (cmd == NULL)
			continue;
		if (strcmp(cmd, "W") == 0) {
			rc = do_write(s);
		} else if (strcmp(cmd, "G") == 0 && (w = next_word(&s)) != NULL) {
			pf_fmt_float_g(txt, bits2d(w));
			printf("G %s\n", txt);
			rc = 0;
		} else if (strcmp(cmd, "T") == 0 && (w = next_word(&s)) != NULL &&
			   unhex(w, &t) == 0) {
			char *c = malloc(t.n + 1);
			if (c == NULL)
				return 2;
			memcpy(c, t.p, t.n);
			c[t.n] = '\0';
			printf("T %d %016" PRIx64 "\n", pf_lp_float_text_ok(t),
			       d2bits(strtod(c, NULL)));
			free(c);
			rc = 0;
		} else if (strcmp(cmd, "P") == 0 && (w = next_word(&s)) != NULL) {
			rc = pf_precision_parse(w, &pr);
			printf("P %d %d\n", rc, rc == 0 ? (int)pr : -1);
			rc = 0;
		} else {
			rc = -1;
		}
		if (rc != 0) {
			printf("BADREQ\n");
		}
		fflush(stdout);
	}
	return 0;
}
