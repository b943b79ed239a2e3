/*
 * test_lineproto.c: unit tests of the line-protocol encoder: float text
 * (Go's 'g' layout, what line protocol accepts as written), escaping and
 * the documented policy for what line protocol cannot carry, tag sorting,
 * NaN/Inf dropping, timestamps, and the buffer contract (a failure leaves
 * the output exactly as it was).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

static int failures, checks;

#define CHECK(cond, ...) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		printf("FAIL %s:%d: ", __FILE__, __LINE__); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} \
} while (0)

#define S(lit) PF_STR_LIT(lit)

static char last_err[512];

/* Encodes p into a fresh buffer; the line (without its newline) goes to
 * line. Returns pf_lp_write()'s result. */
static int enc(pf_point *p, enum pf_precision prec, pf_lp_stats *st, char *line,
	       size_t linecap)
{
	pf_buf b;
	int rc;

	pf_buf_init(&b, 1 << 20);
	last_err[0] = '\0';
	rc = pf_lp_write(&b, p, prec, st, last_err, sizeof last_err);
	line[0] = '\0';
	if (rc == 0) {
		if (b.len == 0 || b.data[b.len - 1] != '\n' || b.len >= linecap) {
			printf("FAIL enc: bad line of %zu bytes\n", b.len);
			failures++;
		} else {
			memcpy(line, b.data, b.len - 1);
			line[b.len - 1] = '\0';
		}
	}
	pf_buf_free(&b);
	return rc;
}

static pf_field ffloat(const char *key, double v, const char *text)
{
	pf_field f;

	memset(&f, 0, sizeof f);
	f.key = pf_str_c(key);
	f.kind = PF_FIELD_FLOAT;
	f.v.f = v;
	f.text = text ? pf_str_c(text) : (pf_str){ NULL, 0 };
	return f;
}

static pf_field fint(const char *key, int64_t v)
{
	pf_field f;

	memset(&f, 0, sizeof f);
	f.key = pf_str_c(key);
	f.kind = PF_FIELD_INT;
	f.v.i = v;
	return f;
}

static void test_fmt_float_g(void)
{
	/* Go: strconv.FormatFloat(v, 'g', -1, 64). */
	static const struct { double v; const char *want; } t[] = {
		{ 1e6, "1e+06" },
		{ 125000, "125000" },
		{ 0.5, "0.5" },
		{ 1e-5, "1e-05" },
		{ 0.0001, "0.0001" },
		{ 1e21, "1e+21" },
		{ 1e20, "1e+20" },
		{ 123456789, "1.23456789e+08" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 5e-324, "5e-324" },
		{ 100000, "100000" },
		{ 999999, "999999" },
		{ 1000001, "1.000001e+06" },
		{ 6632243, "6.632243e+06" },
		{ 0, "0" },
		{ 1, "1" },
		{ -0.64, "-0.64" },
		{ 12.123, "12.123" },
		{ 0.1, "0.1" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 0.00012, "0.00012" },
		{ 1.2e-5, "1.2e-05" },
		{ 2.5e-7, "2.5e-07" },
		{ 1e100, "1e+100" },
		{ 1e-100, "1e-100" },
		{ 9007199254740992.0, "9.007199254740992e+15" },
		{ 2.2250738585072014e-308, "2.2250738585072014e-308" },
		{ 0.005, "0.005" },
		{ 0.25, "0.25" },
		{ 2.5, "2.5" },
		{ 1e23, "1e+23" },
		{ 5.960464477539063e-08, "5.960464477539063e-08" }, /* 2^-24 */
		{ -1234.5, "-1234.5" },
	};
	char buf[32];
	size_t i, n;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		n = pf_fmt_float_g(buf, t[i].v);
		CHECK(strcmp(buf, t[i].want) == 0 && n == strlen(t[i].want),
		      "fmt_float_g(%.17g) = \"%s\" (%zu), want \"%s\"", t[i].v, buf,
		      n, t[i].want);
	}
	pf_fmt_float_g(buf, -0.0);
	CHECK(strcmp(buf, "-0") == 0, "-0 -> %s", buf);
	pf_fmt_float_g(buf, NAN);
	CHECK(strcmp(buf, "NaN") == 0, "NaN -> %s", buf);
	pf_fmt_float_g(buf, INFINITY);
	CHECK(strcmp(buf, "+Inf") == 0, "+Inf -> %s", buf);
	pf_fmt_float_g(buf, -INFINITY);
	CHECK(strcmp(buf, "-Inf") == 0, "-Inf -> %s", buf);
}

static void test_float_text_ok(void)
{
	static const char *const ok[] = {
		"1e+06", "-0.5", "2025", "1.5e-07", "0", "-0", "1.", ".5", "-.5",
		"05", "1E5", "1e-4", "1.0e4", "-0e-4", ".0E4", "-0.", "12.123",
		"1.7976931348623157e+308", "5e-324", "123456789012345678901234567890",
		"0.000000000000000000000000000000000000001",
	};
	static const char *const bad[] = {
		"", "+1", "0x10", "NaN", "nan", "Inf", "+Inf", "-Inf", "inf",
		"infinity", "1e", "1e+", "e5", ".", "-", "-.", "1.1.1", "1_000",
		" 1", "1 ", "1,5", "1i", "1u", "1e5.5", "--1", "1e--5", "0.-1",
		"42+3", "1a", ".1a", "9ie10", "1e400", "-1e400", "1e-400",
		"1e18446744073709552000", "1.8e308", "TRUE",
		"1.00000000000000000000000000000000000000000000000000000000000000000",
	};
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		CHECK(pf_lp_float_text_ok(pf_str_c(ok[i])) == 1, "\"%s\" should be OK", ok[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(pf_lp_float_text_ok(pf_str_c(bad[i])) == 0, "\"%s\" should not be OK",
		      bad[i]);
	/* Only the n bytes count, not what follows them. */
	CHECK(pf_lp_float_text_ok((pf_str){ "12x", 2 }) == 1, "slice \"12\"");
}

static void test_precision_parse(void)
{
	static const struct { const char *s; int rc; enum pf_precision p; } t[] = {
		{ "ns", 0, PF_PREC_NS }, { "us", 0, PF_PREC_US }, { "ms", 0, PF_PREC_MS },
		{ "s", 0, PF_PREC_S }, { "1ns", 0, PF_PREC_NS }, { "1us", 0, PF_PREC_US },
		{ "1ms", 0, PF_PREC_MS }, { "1s", 0, PF_PREC_S }, { "", -1, PF_PREC_NS },
		{ "1", -1, PF_PREC_NS }, { "m", -1, PF_PREC_NS }, { "h", -1, PF_PREC_NS },
		{ "NS", -1, PF_PREC_NS }, { "10ms", -1, PF_PREC_NS }, { "ms ", -1, PF_PREC_NS },
		{ "11s", -1, PF_PREC_NS },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum pf_precision p = (enum pf_precision)99;
		int rc = pf_precision_parse(t[i].s, &p);
		CHECK(rc == t[i].rc && (rc != 0 || p == t[i].p),
		      "precision \"%s\": rc %d p %d", t[i].s, rc, (int)p);
		if (rc != 0)
			CHECK(p == (enum pf_precision)99, "failed parse wrote *out");
	}
}

static void test_escaping(void)
{
	char line[4096];
	pf_tag tags[3];
	pf_field f[2];
	pf_point p;
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("cpu load,x=y");
	tags[0] = (pf_tag){ S("k e,y=1"), S("v a,l=u\\e"), 0 };
	p.tags = tags;
	p.ntags = 1;
	f[0] = fint("f i,e=ld", 1);
	f[1] = (pf_field){ .key = S("s"), .kind = PF_FIELD_STRING,
			   .v.s = S("a \"q\" \\ b,c=d") };
	p.fields = f;
	p.nfields = 2;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "cpu\\ load\\,x=y,k\\ e\\,y\\=1=v\\ a\\,l\\=u\\e "
			       "f\\ i\\,e\\=ld=1i,s=\"a \\\"q\\\" \\\\ b,c=d\"") == 0,
	      "escaping: rc %d line %s", rc, line);

	/* TAB LF FF CR become two characters everywhere, as Telegraf writes them. */
	p.measurement = S("m\t\n\f\r");
	tags[0] = (pf_tag){ S("k\n"), S("line1\nline2\r\n\tx\f"), 0 };
	f[0] = fint("f\r", 1);
	f[1].v.s = S("a\nb\tc\rd\fe");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m\\t\\n\\f\\r,k\\n=line1\\nline2\\r\\n\\tx\\f "
			       "f\\r=1i,s=\"a\\nb\\tc\\rd\\fe\"") == 0,
	      "control escapes: rc %d line %s", rc, line);

	/* Other control bytes in names and tags are refused; raw in strings. */
	p.measurement = S("m");
	tags[0] = (pf_tag){ S("k"), S("a\x01" "b"), 0 };
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "tag value k=\"a\\x01b\"") &&
	      strstr(last_err, "0x01"), "ctl in tag value: rc %d err %s", rc, last_err);
	tags[0] = (pf_tag){ S("k"), S("v"), 0 };
	p.measurement = S("m\x7f");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "invalid measurement \"m\\x7f\""),
	      "DEL in measurement: rc %d err %s", rc, last_err);
	p.measurement = S("m");
	f[1].v.s = (pf_str){ "a\0b\x01", 4 };
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && memcmp(line, "m,k=v f\\r=1i,s=\"a\0b\x01\"", 22) == 0,
	      "ctl raw in string: rc %d", rc);

	/* UTF-8: valid sequences pass, invalid ones are refused. */
	{
		static const char *const good[] = { "\xc3\xa9", "\xe2\x82\xac",
			"\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf" };
		static const char *const badu[] = { "\xff", "\xc0\x80", "\xc1\xbf",
			"\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
			"\xe2\x82", "\x80", "\xf0\x9f\x98" };
		size_t i;

		for (i = 0; i < sizeof good / sizeof good[0]; i++) {
			char want[64];
			tags[0] = (pf_tag){ S("k"), pf_str_c(good[i]), 0 };
			rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
			snprintf(want, sizeof want, "m,k=%s f\\r=1i", good[i]);
			CHECK(rc == 0 && strncmp(line, want, strlen(want)) == 0,
			      "valid UTF-8 %zu: rc %d %s", i, rc, last_err);
		}
		for (i = 0; i < sizeof badu / sizeof badu[0]; i++) {
			tags[0] = (pf_tag){ S("k"), pf_str_c(badu[i]), 0 };
			rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
			CHECK(rc == -EINVAL && strstr(last_err, "UTF-8"),
			      "invalid UTF-8 %zu: rc %d %s", i, rc, last_err);
		}
		tags[0] = (pf_tag){ S("k"), S("v"), 0 };
		f[1].v.s = S("ok\xff");
		rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
		CHECK(rc == -EINVAL && strstr(last_err, "string field"),
		      "invalid UTF-8 in string: rc %d %s", rc, last_err);
	}
}

/* The reference escaper, one byte at a time, for the policy in
 * lineproto.c: specials get a backslash, TAB LF FF CR become letters.
 * Returns -1 where the encoder must refuse (other controls in names). */
static int ref_esc(char *d, const char *s, size_t n, const char *specials, int str)
{
	char *d0 = d;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *l = strchr("\tt\nn\ff\rr", c);
		if (c != 0 && strchr(specials, c)) {
			*d++ = '\\';
			*d++ = (char)c;
		} else if (c != 0 && l != NULL && ((l - "\tt\nn\ff\rr") % 2) == 0) {
			*d++ = '\\';
			*d++ = l[1];
		} else if (!str && (c < 0x20 || c == 0x7f)) {
			return -1;
		} else {
			*d++ = (char)c;
		}
	}
	return (int)(d - d0);
}

/* Random components of 0-40 bytes, drawn from bytes that matter, at every
 * offset against the 8-byte word scan: our output must equal the
 * byte-at-a-time reference. */
static void test_escaping_random(void)
{
	static const char alphabet[] = "abcXYZ019_-.:/ ,=\"\\\t\n\f\r\x01\x7f#";
	static const char *const utf8[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	char m[64], k[64], v[64], fk[64], sv[64];
	char want[1024], line[1024], *w;
	size_t lens[5];
	char *bufs[5] = { m, k, v, fk, sv };
	pf_tag tag;
	pf_field f;
	pf_point p;
	int iter, bad = 0, rc;

	srand(777);
	for (iter = 0; iter < 20000; iter++) {
		int j, refuse = 0, r;

		for (j = 0; j < 5; j++) {
			size_t n = (size_t)(rand() % 41), i = 0;
			while (i < n) {
				if (rand() % 8 == 0) {
					const char *u = utf8[rand() % 3];
					size_t un = strlen(u);
					if (i + un > n)
						break;
					memcpy(bufs[j] + i, u, un);
					i += un;
				} else {
					bufs[j][i++] = alphabet[rand() % (sizeof alphabet - 1)];
				}
			}
			lens[j] = i;
		}
		/* Keep names valid at their ends so the test is about escaping. */
		for (j = 0; j < 4; j++) {
			if (lens[j] == 0 || bufs[j][lens[j] - 1] == '\\')
				bufs[j][lens[j]++] = 'z';
		}
		if (m[0] == '#')
			m[0] = 'q';
		memset(&p, 0, sizeof p);
		p.measurement = (pf_str){ m, lens[0] };
		tag = (pf_tag){ { k, lens[1] }, { v, lens[2] }, 0 };
		p.tags = &tag;
		p.ntags = 1;
		memset(&f, 0, sizeof f);
		f.key = (pf_str){ fk, lens[3] };
		f.kind = PF_FIELD_STRING;
		f.v.s = (pf_str){ sv, lens[4] };
		p.fields = &f;
		p.nfields = 1;

		w = want;
		if ((r = ref_esc(w, m, lens[0], ", ", 0)) < 0)
			refuse = 1;
		w += r > 0 ? r : 0;
		*w++ = ',';
		if ((r = ref_esc(w, k, lens[1], ",= ", 0)) < 0)
			refuse = 1;
		w += r > 0 ? r : 0;
		*w++ = '=';
		if ((r = ref_esc(w, v, lens[2], ",= ", 0)) < 0)
			refuse = 1;
		w += r > 0 ? r : 0;
		*w++ = ' ';
		if ((r = ref_esc(w, fk, lens[3], ",= ", 0)) < 0)
			refuse = 1;
		w += r > 0 ? r : 0;
		*w++ = '=';
		*w++ = '"';
		w += ref_esc(w, sv, lens[4], "\"\\", 1);
		*w++ = '"';
		*w = '\0';

		rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
		if (refuse ? rc != -EINVAL
			   : (rc != 0 || strlen(line) != (size_t)(w - want) ||
			      memcmp(line, want, (size_t)(w - want)) != 0)) {
			if (bad++ < 5)
				printf("FAIL random escaping %d: rc %d refuse %d\n  got  %s\n"
				       "  want %s\n", iter, rc, refuse, line, want);
		}
	}
	CHECK(bad == 0, "random escaping: %d of 20000 differ", bad);
}

static void test_backslash_and_names(void)
{
	char line[1024];
	pf_tag tags[3];
	pf_field f[1];
	pf_point p;
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	f[0] = fint("f", 1);
	p.fields = f;
	p.nfields = 1;
	p.tags = tags;

	/* A tag value's trailing backslashes are dropped (Telegraf does the
	 * same); inner ones stay; a value of only backslashes drops the tag. */
	tags[0] = (pf_tag){ S("a"), S("x\\"), 0 };
	tags[1] = (pf_tag){ S("b"), S("y\\\\"), 0 };
	tags[2] = (pf_tag){ S("c"), S("\\\\"), 0 };
	p.ntags = 3;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m,a=x,b=y f=1i") == 0, "trailing \\: %d %s",
	      rc, line);
	tags[0] = (pf_tag){ S("a"), S("\\x\\y"), 0 };
	p.ntags = 1;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m,a=\\x\\y f=1i") == 0, "inner \\: %d %s", rc, line);

	/* Names ending in a backslash are refused (as the Go encoder does). */
	p.measurement = S("m\\");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "invalid measurement \"m\\\\\""),
	      "measurement \\: %d %s", rc, last_err);
	p.measurement = S("m");
	tags[0] = (pf_tag){ S("a\\"), S("v"), 0 };
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "tag key"), "tag key \\: %d %s", rc,
	      last_err);
	p.ntags = 0;
	f[0].key = S("f\\");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "field key"), "field key \\: %d %s",
	      rc, last_err);
	f[0].key = S("f");

	/* Empty names are refused; an empty tag value leaves the tag out. */
	p.measurement = S("");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "invalid measurement \"\""),
	      "empty measurement: %d %s", rc, last_err);
	p.measurement = S("m");
	tags[0] = (pf_tag){ S(""), S("v"), 0 };
	p.ntags = 1;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "invalid tag key \"\""),
	      "empty tag key: %d %s", rc, last_err);
	tags[0] = (pf_tag){ S("k"), S(""), 0 };
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m f=1i") == 0, "empty tag value: %d %s", rc,
	      line);
	p.ntags = 0;
	f[0].key = S("");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "invalid field key \"\""),
	      "empty field key: %d %s", rc, last_err);
	f[0].key = S("f");

	/* '#' first would make InfluxDB read a comment. */
	p.measurement = S("#m");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "comment"), "#: %d %s", rc, last_err);
	p.measurement = S("m#");
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m# f=1i") == 0, "inner #: %d %s", rc, line);

	/* No fields at all is an error, not a silent skip. */
	p.nfields = 0;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "no fields"), "no fields: %d %s", rc,
	      last_err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_sorting(void)
{
	enum { N = 300 };
	static char names[N][16];
	static const char *sorted[N];
	static pf_tag tags[N];
	static char line[32768], want[32768];
	pf_field f[1];
	pf_point p;
	size_t i;
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	f[0] = fint("f", 1);
	p.fields = f;
	p.nfields = 1;

	/* Small set: byte order, so upper case before lower, "a" before "a\x01"... */
	tags[0] = (pf_tag){ S("b"), S("2"), 0 };
	tags[1] = (pf_tag){ S("a"), S("1"), 0 };
	tags[2] = (pf_tag){ S("B"), S("3"), 0 };
	tags[3] = (pf_tag){ S("ab"), S("4"), 0 };
	tags[4] = (pf_tag){ S("\xc3\xa9"), S("5"), 0 };
	tags[5] = (pf_tag){ S("_"), S("6"), 0 };
	p.tags = tags;
	p.ntags = 6;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m,B=3,_=6,a=1,ab=4,b=2,\xc3\xa9=5 f=1i") == 0,
	      "small sort: %d %s", rc, line);
	CHECK(pf_str_eqc(tags[0].key, "B") && pf_str_eqc(tags[5].key, "\xc3\xa9"),
	      "tags sorted in place");

	/* Duplicate keys are refused. */
	tags[0] = (pf_tag){ S("a"), S("1"), 0 };
	tags[1] = (pf_tag){ S("a"), S("2"), 0 };
	p.ntags = 2;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == -EINVAL && strstr(last_err, "duplicate tag key \"a\""),
	      "duplicate: %d %s", rc, last_err);
	/* ...unless one of them is empty and left out anyway. */
	tags[1] = (pf_tag){ S("a"), S(""), 0 };
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m,a=1 f=1i") == 0, "dup with empty: %d %s", rc,
	      line);

	/* Many tags in a scrambled order take the qsort path. */
	srand(12345);
	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "k%u", (unsigned)rand() % 100000u);
		sorted[i] = names[i];
	}
	qsort(sorted, N, sizeof sorted[0], cmp_str);
	for (i = 1; i < N; i++) /* make keys unique */
		if (strcmp(sorted[i], sorted[i - 1]) == 0) {
			char *nm = (char *)sorted[i];
			strcat(nm, "x");
			qsort(sorted, N, sizeof sorted[0], cmp_str);
			i = 0;
		}
	for (i = 0; i < N; i++)
		tags[i] = (pf_tag){ pf_str_c(names[i]), S("v"), 0 };
	p.ntags = N;
	{
		char *w = want;
		w += sprintf(w, "m");
		for (i = 0; i < N; i++)
			w += sprintf(w, ",%s=v", sorted[i]);
		sprintf(w, " f=1i");
	}
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, want) == 0, "large sort: %d", rc);
	/* Already sorted: stays the same. */
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, want) == 0, "large sorted again: %d", rc);
}

static void test_nonfinite(void)
{
	char line[1024];
	pf_field f[4];
	pf_point p;
	pf_lp_stats st = { 0, 0, 0 };
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	f[0] = ffloat("a", NAN, "NaN");
	f[1] = ffloat("b", 1.5, "1.5");
	f[2] = ffloat("c", INFINITY, "+Inf");
	f[3] = ffloat("d", -INFINITY, NULL);
	p.fields = f;
	p.nfields = 4;
	rc = enc(&p, PF_PREC_NS, &st, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m b=1.5") == 0, "NaN dropped: %d %s", rc, line);
	CHECK(st.lines == 1 && st.fields_nonfinite == 3 && st.points_dropped == 0,
	      "stats after partial: %llu %llu %llu", (unsigned long long)st.lines,
	      (unsigned long long)st.fields_nonfinite,
	      (unsigned long long)st.points_dropped);

	/* Every field NaN/Inf: nothing written, returns 1, counted. */
	f[1] = ffloat("b", -NAN, NULL);
	{
		pf_buf b;
		pf_buf_init(&b, 1 << 20);
		pf_buf_puts(&b, "keep\n");
		rc = pf_lp_write(&b, &p, PF_PREC_NS, &st, last_err, sizeof last_err);
		CHECK(rc == 1 && b.len == 5 && strcmp(b.data, "keep\n") == 0,
		      "all NaN: rc %d len %zu", rc, b.len);
		pf_buf_free(&b);
	}
	CHECK(st.lines == 1 && st.fields_nonfinite == 7 && st.points_dropped == 1,
	      "stats after drop: %llu %llu %llu", (unsigned long long)st.lines,
	      (unsigned long long)st.fields_nonfinite,
	      (unsigned long long)st.points_dropped);
	/* st may be NULL. */
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 1, "all NaN, no stats: %d", rc);
}

static void test_values_and_time(void)
{
	static const struct { int64_t ns; enum pf_precision p; const char *want; } ts[] = {
		{ 1234567891, PF_PREC_NS, "1234567891" },
		{ 1234567891, PF_PREC_US, "1234567" },
		{ 1234567891, PF_PREC_MS, "1234" },
		{ 1234567891, PF_PREC_S, "1" },
		{ -1500000, PF_PREC_MS, "-1" },     /* toward zero, as Go does */
		{ -999, PF_PREC_US, "0" },
		{ INT64_MIN, PF_PREC_NS, "-9223372036854775808" },
		{ INT64_MAX, PF_PREC_S, "9223372036" },
		{ INT64_MAX, PF_PREC_MS, "9223372036854" },
		{ 0, PF_PREC_MS, "0" },
	};
	char line[1024], want[256];
	pf_field f[8];
	pf_point p;
	size_t i;
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	f[0] = fint("i", INT64_MIN);
	f[1] = fint("j", 0);
	f[2] = (pf_field){ .key = S("u"), .kind = PF_FIELD_UINT, .v.u = UINT64_MAX };
	f[3] = (pf_field){ .key = S("t"), .kind = PF_FIELD_BOOL, .v.b = 7 };
	f[4] = (pf_field){ .key = S("n"), .kind = PF_FIELD_BOOL, .v.b = 0 };
	f[5] = ffloat("x", 1.5, "1.50");     /* valid text: written as is */
	f[6] = ffloat("y", 16, "0x10");      /* not line protocol: shortest */
	f[7] = ffloat("z", 1e6, NULL);       /* no text: shortest */
	p.fields = f;
	p.nfields = 8;
	rc = enc(&p, PF_PREC_NS, NULL, line, sizeof line);
	CHECK(rc == 0 && strcmp(line, "m i=-9223372036854775808i,j=0i,"
			       "u=18446744073709551615u,t=true,n=false,x=1.50,y=16,"
			       "z=1e+06") == 0, "values: %d %s", rc, line);

	p.fields = f + 1;
	p.nfields = 1;
	p.has_time = 1;
	for (i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		p.time_ns = ts[i].ns;
		rc = enc(&p, ts[i].p, NULL, line, sizeof line);
		snprintf(want, sizeof want, "m j=0i %s", ts[i].want);
		CHECK(rc == 0 && strcmp(line, want) == 0, "time %lld prec %d: %s",
		      (long long)ts[i].ns, (int)ts[i].p, line);
	}
	rc = enc(&p, (enum pf_precision)9, NULL, line, sizeof line);
	CHECK(rc == -EINVAL, "bad precision: %d", rc);
}

static void test_buffer_contract(void)
{
	static const char line1[] = "m,k=v f=1i 5\n";
	pf_tag tags[1] = { { S("k"), S("v"), 0 } };
	pf_field f[1];
	pf_point p;
	pf_buf b;
	pf_lp_stats st = { 0, 0, 0 };
	char keep[64];
	size_t len;
	int rc;

	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	p.tags = tags;
	p.ntags = 1;
	f[0] = fint("f", 1);
	p.fields = f;
	p.nfields = 1;
	p.has_time = 1;
	p.time_ns = 5;

	/* Success appends exactly one line. */
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "first\n");
	rc = pf_lp_write(&b, &p, PF_PREC_NS, &st, last_err, sizeof last_err);
	CHECK(rc == 0 && strcmp(b.data, "first\nm,k=v f=1i 5\n") == 0,
	      "append: %d %s", rc, b.data);

	/* A failure after part of the line was written leaves it untouched,
	 * terminator included. */
	len = b.len;
	memcpy(keep, b.data, len + 1);
	f[0].key = S("bad\x02");
	rc = pf_lp_write(&b, &p, PF_PREC_NS, &st, last_err, sizeof last_err);
	CHECK(rc == -EINVAL && b.len == len && memcmp(b.data, keep, len + 1) == 0,
	      "EINVAL leaves out unchanged: %d len %zu", rc, b.len);
	CHECK(st.points_dropped == 1 && st.lines == 1, "EINVAL counted as dropped");
	f[0].key = S("f");
	pf_buf_free(&b);

	/* The cap: a line that fits exactly is written (the cheap bound is
	 * larger than the room, the exact count is not); one byte less fails
	 * with -E2BIG and nothing changes. */
	pf_buf_init(&b, 6 + sizeof line1 - 1);
	pf_buf_puts(&b, "first\n");
	rc = pf_lp_write(&b, &p, PF_PREC_NS, NULL, last_err, sizeof last_err);
	CHECK(rc == 0 && b.len == b.max && strcmp(b.data + 6, line1) == 0,
	      "exact fit: %d %zu/%zu", rc, b.len, b.max);
	pf_buf_free(&b);
	pf_buf_init(&b, 6 + sizeof line1 - 2);
	pf_buf_puts(&b, "first\n");
	rc = pf_lp_write(&b, &p, PF_PREC_NS, &st, last_err, sizeof last_err);
	CHECK(rc == -E2BIG && b.len == 6 && strcmp(b.data, "first\n") == 0,
	      "E2BIG: %d %zu", rc, b.len);
	CHECK(st.points_dropped == 1, "E2BIG is the caller's to count");
	pf_buf_free(&b);

	/* err may be NULL. */
	pf_buf_init(&b, 1 << 20);
	p.measurement = S("");
	rc = pf_lp_write(&b, &p, PF_PREC_NS, NULL, NULL, 0);
	CHECK(rc == -EINVAL && b.len == 0, "NULL err: %d", rc);
	pf_buf_free(&b);
}

/* Constant tags prepared by pf_lp_tag_prepare() are copied as they are:
 * the line must be byte for byte the one the escaping path writes, and only
 * tags whose key needs no escaping and whose value is valid are prepared. */
static void test_prepared_tags(void)
{
	static const char *const values[] = {
		"web1", "http://h:1/metrics?t=1&x=a b,c", "ends with \\", "caf\xc3\xa9", "line1\nline2",
	};
	static const char *const bad_keys[] = { "", "a b", "a,b", "a=b", "k\\", "k\x01", "caf\xc3\xa9" };
	char plain[4096], fast[4096];
	pf_buf store;
	pf_tag t;
	pf_buf_init(&store, 1 << 20);

	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
		CHECK(pf_lp_tag_prepare(pf_str_c(bad_keys[i]), S("v"), &store, &t) == 0 && t.raw == 0,
		      "key '%s' is not prepared", bad_keys[i]);
	CHECK(pf_lp_tag_prepare(S("k"), S("\\\\"), &store, &t) == 0, "a value of only backslashes is not prepared");
	CHECK(pf_lp_tag_prepare(S("k"), S("a\x01"), &store, &t) == 0, "an invalid value is not prepared");

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		pf_tag tags[2];
		pf_field f = fint("f", 1);
		pf_point p;
		memset(&p, 0, sizeof p);
		p.measurement = S("m");
		p.fields = &f;
		p.nfields = 1;
		p.tags = tags;
		p.ntags = 2;
		tags[0] = (pf_tag){ S("url"), pf_str_c(values[i]), 0 };
		tags[1] = (pf_tag){ S("a"), S("x y"), 0 };
		int rc1 = enc(&p, PF_PREC_NS, NULL, plain, sizeof plain);
		pf_buf_reset(&store);
		int ok = pf_lp_tag_prepare(S("url"), pf_str_c(values[i]), &store, &tags[0]);
		int raw = tags[0].raw; /* enc() sorts the tags in place */
		tags[1] = (pf_tag){ S("a"), S("x y"), 0 };
		int rc2 = enc(&p, PF_PREC_NS, NULL, fast, sizeof fast);
		CHECK(ok == 1 && raw == 1 && rc1 == 0 && rc2 == 0 && strcmp(plain, fast) == 0,
		      "prepared '%s': same line (%s / %s)", values[i], plain, fast);
	}

	/* Two prepared tags of one key are still refused as duplicates. */
	pf_tag tags[2];
	pf_field f = fint("f", 1);
	pf_point p;
	memset(&p, 0, sizeof p);
	p.measurement = S("m");
	p.fields = &f;
	p.nfields = 1;
	p.tags = tags;
	p.ntags = 2;
	pf_buf_reset(&store);
	pf_buf_reserve(&store, 64);
	pf_lp_tag_prepare(S("url"), S("u1"), &store, &tags[0]);
	pf_lp_tag_prepare(S("url"), S("u2"), &store, &tags[1]);
	int rc = enc(&p, PF_PREC_NS, NULL, fast, sizeof fast);
	CHECK(rc == -EINVAL && strstr(last_err, "duplicate tag key"), "prepared duplicate refused: %d", rc);
	pf_buf_free(&store);
}

int main(void)
{
	test_fmt_float_g();
	test_float_text_ok();
	test_precision_parse();
	test_escaping();
	test_escaping_random();
	test_backslash_and_names();
	test_sorting();
	test_nonfinite();
	test_values_and_time();
	test_buffer_contract();
	test_prepared_tags();
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
