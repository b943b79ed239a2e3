/*
 * test_scan.c: the 0.0.4 parser's name and label-value scanners (16 bytes
 * at a time while 16 are left in the line, then a byte at a time) against
 * the grammar itself.
 *
 * Every byte value (but the line's own '\n') is put at every position of a
 * metric name, a label name and a label value of every length from 1 to 40,
 * so each byte is met in a 16-byte step, at a step's edge and in the byte
 * loop at the line's end. Names: a sample carrying the whole name exists
 * exactly when the name is valid ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
 * without ':' for labels), also after a TYPE line whose family is the
 * name's valid prefix (the parser's family-prefix path) or a name as long
 * that differs at that byte (the prefix compare must see it: the sample
 * is then not of that family). Values: the
 * sample's labels and errors are the same as the long way's (which reads
 * byte by byte), and lp_plain is set exactly when the value has no byte
 * line protocol escapes and none the long way must look at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expfmt.h"
#include "pipeline.h"

static int failures;

#define CHECK(c)                                                                          \
	do {                                                                              \
		if (!(c)) {                                                               \
			if (failures++ < 20)                                              \
				fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
		}                                                                         \
	} while (0)

/* What the callbacks saw: the last sample's name, labels and flag. */
typedef struct seen {
	unsigned samples, errors;
	char name[128];
	char labels[256]; /* name=value;... */
	size_t nlabels;   /* bytes in labels */
	int lp_plain;
	int type;
} seen;

static int on_sample(void *ud, const pf_sample *s)
{
	seen *r = ud;
	r->samples++;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)s->name.n, s->name.p);
	size_t o = 0;
	for (size_t i = 0; i < s->nlabels; i++) {
		const pf_label *l = &s->labels[i];
		if (o + l->name.n + l->value.n + 2 > sizeof(r->labels))
			break;
		memcpy(r->labels + o, l->name.p, l->name.n);
		o += l->name.n;
		r->labels[o++] = '=';
		memcpy(r->labels + o, l->value.p, l->value.n);
		o += l->value.n;
		r->labels[o++] = ';';
	}
	r->nlabels = o;
	r->lp_plain = s->lp_plain;
	r->type = (int)s->type;
	return 0;
}

static void on_error(void *ud, const pf_parse_error *e)
{
	(void)e;
	((seen *)ud)->errors++;
}

static pf_parser *parser;
static seen cur;

static seen parse(const char *text, size_t n, int plain)
{
	memset(&cur, 0, sizeof cur);
	if (parser == NULL) {
		static const pf_parser_ops ops = { on_sample, on_error };
		parser = pf_parser_new(PF_FORMAT_PROMETHEUS, PF_ON_ERROR_SKIP, &ops, &cur);
		if (parser == NULL) {
			fprintf(stderr, "pf_parser_new failed\n");
			exit(2);
		}
	}
	pf_parser_reset(parser, PF_FORMAT_PROMETHEUS);
	pf_parser_set_plain(parser, plain);
	pf_parser_feed(parser, text, n);
	pf_parser_finish(parser);
	return cur;
}

/* Appends n bytes (NUL bytes too, which "%.*s" would stop at). */
static void put(char *d, int *o, const char *s, size_t n)
{
	memcpy(d + *o, s, n);
	*o += (int)n;
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int name_byte(int c, int first, int colon)
{
	return is_alpha(c) || c == '_' || (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

/* Calls check(v, len, pos, b) for every text v of len bytes (1 to 40) of
 * fill with byte b (any but '\n') at pos; v[len] is '\0'. */
static void each_case(char fill, void (*check)(const char *v, int len, int pos, int b))
{
	char v[64];
	for (int len = 1; len <= 40; len++)
		for (int pos = 0; pos < len; pos++)
			for (int b = 0; b < 256; b++) {
				if (b == '\n')
					continue;
				memset(v, fill, (size_t)len);
				v[pos] = (char)b;
				v[len] = '\0';
				check(v, len, pos, b);
			}
}

static void metric_name(const char *name, int len, int pos, int b)
{
	char text[256];
	int valid = name_byte(b, pos == 0, 1);
	for (int typed = 0; typed < 3; typed++) {
		if (typed == 1 && pos == 0)
			continue;
		int n = 0;
		if (typed == 1) /* a family whose name is the valid prefix */
			n = snprintf(text, sizeof(text), "# TYPE %.*s counter\n", pos, name);
		if (typed == 2) /* one as long, differing at pos unless b is 'a' */
			n = snprintf(text, sizeof(text), "# TYPE %.*s counter\n", len,
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		put(text, &n, name, (size_t)len);
		put(text, &n, " 1\n", strlen(" 1\n"));
		seen r = parse(text, (size_t)n, 1);
		int found = r.samples == 1 && strlen(r.name) == (size_t)len && memcmp(r.name, name, (size_t)len) == 0;
		CHECK(found == valid);
		/* Of the family only when it is the family's name. */
		int type_ok = !found || typed != 2 || r.type == (b == 'a' ? PF_MT_COUNTER : PF_MT_UNTYPED);
		CHECK(type_ok);
		if ((found != valid || !type_ok) && failures < 20)
			fprintf(stderr, "  metric name len %d pos %d byte 0x%02x typed %d\n", len, pos, b, typed);
	}
}

static void label_name(const char *name, int len, int pos, int b)
{
	char text[256], want[128];
	int valid = name_byte(b, pos == 0, 0);
	int n = 0, w = 0;
	put(text, &n, "m{", strlen("m{"));
	put(text, &n, name, (size_t)len);
	put(text, &n, "=\"v\"} 1\n", strlen("=\"v\"} 1\n"));
	put(want, &w, name, (size_t)len);
	put(want, &w, "=v;", strlen("=v;"));
	for (int plain = 0; plain < 2; plain++) {
		seen r = parse(text, (size_t)n, plain);
		int found = r.samples == 1 && r.nlabels == (size_t)w && memcmp(r.labels, want, (size_t)w) == 0;
		CHECK(found == valid);
		if (found != valid && failures < 20)
			fprintf(stderr, "  label name len %d pos %d byte 0x%02x\n", len, pos, b);
	}
}

static unsigned plain_seen;

static void label_value(const char *value, int len, int pos, int b)
{
	char text[256];
	/* The value, then a second label so that the set goes on after it,
	 * or the end of the set. */
	for (int more = 0; more < 2; more++) {
		int n = 0;
		put(text, &n, "m{a=\"", strlen("m{a=\""));
		put(text, &n, value, (size_t)len);
		const char *tail = more ? "\",z=\"1\"} 1\n" : "\"} 1\n";
		put(text, &n, tail, strlen(tail));
		seen s = parse(text, (size_t)n, 1), l = parse(text, (size_t)n, 0);
		CHECK(s.samples == l.samples && s.errors == l.errors && s.nlabels == l.nlabels &&
		      memcmp(s.labels, l.labels, s.nlabels) == 0 && strcmp(s.name, l.name) == 0);
		int want = b > 0x20 && b < 0x7f && b != '\\' && b != '"' && b != ',' && b != '=';
		CHECK(s.samples == 1 || !want);
		CHECK(s.lp_plain == want);
		if ((s.lp_plain != want || memcmp(s.labels, l.labels, s.nlabels) != 0) && failures < 20)
			fprintf(stderr, "  label value len %d pos %d byte 0x%02x more %d\n", len, pos, b, more);
		plain_seen += (unsigned)s.lp_plain;
	}
}

/* A quoted metric name is not plain (it may hold what line protocol
 * escapes), whatever its labels: its line is escaped. */
static void test_quoted_names(void)
{
	static const char *const bodies[] = { "{\"my metric\",a=\"b\"} 1\n", "{\"my metric\"} 1\n",
					      "{\"my,metric\",a=\"b\"} 1\n" };
	static const char *const want[] = { "my\\ metric,a=b value=1 ", "my\\ metric value=1 ",
					    "my\\,metric,a=b value=1 " };
	for (int i = 0; i < 3; i++) {
		seen r = parse(bodies[i], strlen(bodies[i]), 1);
		CHECK(r.samples == 1 && r.lp_plain == 0);
		pf_buf out;
		pf_buf_init(&out, 1 << 20);
		pf_pipeline_opts o;
		memset(&o, 0, sizeof o);
		o.format = PF_FORMAT_PROMETHEUS;
		o.map.schema = PF_SCHEMA_TELEGRAF_V1;
		o.map.now_ns = 1;
		o.precision = PF_PREC_NS;
		pf_pipeline *pl = pf_pipeline_new(&o, &out, NULL, NULL);
		CHECK(pl != NULL);
		if (pl == NULL)
			continue;
		CHECK(pf_pipeline_feed(pl, bodies[i], strlen(bodies[i])) == 0 && pf_pipeline_finish(pl) == 0);
		CHECK(out.len > 0 && strncmp(out.data, want[i], strlen(want[i])) == 0);
		if (out.len == 0 || strncmp(out.data, want[i], strlen(want[i])) != 0)
			fprintf(stderr, "  got %.*s", (int)out.len, out.data ? out.data : "");
		pf_pipeline_free(pl);
		pf_buf_free(&out);
	}
}

int main(void)
{
	each_case('a', metric_name);
	each_case('b', label_name);
	each_case('x', label_value);
	CHECK(plain_seen > 0);
	test_quoted_names();
	pf_parser_free(parser);
	if (failures) {
		fprintf(stderr, "test_scan: %d failures\n", failures);
		return 1;
	}
	printf("test_scan: ok\n");
	return 0;
}
