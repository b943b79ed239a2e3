/*
 * test_schema.c: unit tests of the schema mapper, fed hand-built samples
 * (no parser involved), checking every point it hands out.
 *
 * Each point is rendered by the test itself, independently of the
 * line-protocol encoder, as
 *   measurement|k=v,k=v|field=value,...|time
 * with tags sorted by key, float fields as their source text (or ~%.17g
 * when the mapper gave none), unsigned as 1u, booleans as true/false.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static int failures;
static int checks;

/* ---- collecting points ---- */

typedef struct sink {
	char out[1 << 16];
	size_t len;
	int npoints;
	int stop_after; /* return 1 from the callback at this point (1-based), 0: never */
	int nplain;     /* points in the plain form (pf_point.plain) */
} sink;

static int cmp_tag(const void *a, const void *b)
{
	return pf_str_cmp(((const pf_tag *)a)->key, ((const pf_tag *)b)->key);
}

static void put(sink *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sink *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(k->out + k->len, sizeof(k->out) - k->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(k->out) - k->len)
		k->len += (size_t)n;
}

static int on_point(void *ud, pf_point *p)
{
	sink *k = ud;
	pf_tag tags[64];
	if (p->ntags + p->nplain + p->nextra > 64) {
		fprintf(stderr, "too many tags\n");
		exit(2);
	}
	if (p->ntags)
		memcpy(tags, p->tags, p->ntags * sizeof(pf_tag));
	size_t nt = p->ntags;
	/* The plain form (pf_point.plain): labels, then the extra tags no
	 * label has taken. */
	for (size_t i = 0; i < p->nplain; i++)
		tags[nt++] = (pf_tag){ p->plain[i].name, p->plain[i].value, 0 };
	for (size_t i = 0; i < p->nextra; i++) {
		size_t j;
		for (j = 0; j < p->nplain; j++)
			if (pf_str_eq(p->plain[j].name, p->extra[i].key))
				break;
		if (j == p->nplain)
			tags[nt++] = p->extra[i];
	}
	if (p->nplain || p->nextra)
		k->nplain++;
	qsort(tags, nt, sizeof(pf_tag), cmp_tag);
	put(k, "%.*s|", (int)p->measurement.n, p->measurement.p);
	for (size_t i = 0; i < nt; i++)
		put(k, "%s%.*s=%.*s", i ? "," : "", (int)tags[i].key.n, tags[i].key.p,
		    (int)tags[i].value.n, tags[i].value.p);
	put(k, "|");
	for (size_t i = 0; i < p->nfields; i++) {
		const pf_field *f = &p->fields[i];
		put(k, "%s%.*s=", i ? "," : "", (int)f->key.n, f->key.p);
		switch (f->kind) {
		case PF_FIELD_FLOAT:
			if (f->text.n)
				put(k, "%.*s", (int)f->text.n, f->text.p);
			else
				put(k, "~%.17g", f->v.f);
			break;
		case PF_FIELD_UINT:
			put(k, "%lluu", (unsigned long long)f->v.u);
			break;
		case PF_FIELD_INT:
			put(k, "%lldi", (long long)f->v.i);
			break;
		case PF_FIELD_BOOL:
			put(k, "%s", f->v.b ? "true" : "false");
			break;
		case PF_FIELD_STRING:
			put(k, "\"%.*s\"", (int)f->v.s.n, f->v.s.p);
			break;
		}
	}
	put(k, "|%s\n", p->has_time ? "" : "NOTIME");
	if (p->has_time) {
		k->len--; /* replace the newline: time follows */
		put(k, "%lld\n", (long long)p->time_ns);
	}
	k->npoints++;
	return k->stop_after && k->npoints >= k->stop_after ? 7 : 0;
}

/* ---- building samples ---- */

typedef struct ctx {
	pf_mapper *m;
	sink k;
	pf_str unit;
	int lp_plain; /* feed() marks its samples pf_sample.lp_plain */
} ctx;

#define NOTS INT64_MIN

/* Feeds one sample. labels: "a=1,b=x y" (no commas or '=' inside). */
static int feed(ctx *c, const char *name, const char *family, enum pf_mtype type,
		enum pf_suffix sfx, const char *labels, const char *value, int64_t ts)
{
	pf_label lab[32];
	char lbuf[512];
	size_t n = 0;

	snprintf(lbuf, sizeof(lbuf), "%s", labels ? labels : "");
	char *p = lbuf;
	while (*p) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		char *eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(stderr, "bad label spec %s\n", labels);
			exit(2);
		}
		*eq = '\0';
		lab[n].name = pf_str_c(p);
		lab[n].value = pf_str_c(eq + 1);
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	pf_sample s = {
		.name = pf_str_c(name),
		.family = pf_str_c(family),
		.type = type,
		.suffix = sfx,
		.unit = c->unit,
		.labels = lab,
		.nlabels = n,
		.value = strtod(value, NULL),
		.value_text = pf_str_c(value),
		.has_ts = ts != NOTS,
		.ts_ns = ts == NOTS ? 0 : ts,
		.line = 1,
		.lp_plain = (unsigned char)c->lp_plain,
	};
	if (strcmp(value, "NaN") == 0)
		s.value = NAN;
	return pf_mapper_sample(c->m, &s);
}

#define NOW 1700000000000000000LL

static void start(ctx *c, enum pf_schema schema, enum pf_format fmt, const pf_tag *tags,
		  size_t ntags)
{
	pf_map_opts o = {
		.schema = schema,
		.format = fmt,
		.now_ns = NOW,
		.ignore_timestamps = 0,
		.tags = tags,
		.ntags = ntags,
	};
	memset(&c->k, 0, sizeof(c->k));
	c->unit = (pf_str){ "", 0 };
	c->lp_plain = 0;
	c->m = pf_mapper_new(&o, on_point, &c->k);
	if (c->m == NULL) {
		fprintf(stderr, "pf_mapper_new failed\n");
		exit(2);
	}
}

static void expect(ctx *c, const char *what, const char *want)
{
	checks++;
	c->k.out[c->k.len] = '\0';
	if (strcmp(c->k.out, want) != 0) {
		failures++;
		fprintf(stderr, "FAIL %s\n--- want\n%s--- got\n%s---\n", what, want, c->k.out);
	}
	c->k.len = 0;
	c->k.out[0] = '\0';
}

static void check(int cond, const char *what)
{
	checks++;
	if (!cond) {
		failures++;
		fprintf(stderr, "FAIL %s\n", what);
	}
}

static void done(ctx *c, const char *what, const char *want)
{
	check(pf_mapper_finish(c->m) == 0, "finish returns 0");
	expect(c, what, want);
	pf_mapper_free(c->m);
	c->m = NULL;
}

#define C PF_MT_COUNTER
#define G PF_MT_GAUGE
#define U PF_MT_UNTYPED
#define H PF_MT_HISTOGRAM
#define S PF_MT_SUMMARY

/* ---- tests ---- */

static void test_simple_v1_v2(void)
{
	ctx c = { .m = NULL };
	static const pf_tag extra[] = {
		{ { "dc", 2 }, { "east", 4 }, 0 },
		{ { "host", 4 }, { "default", 7 }, 0 },
		{ { "zone", 4 }, { "z1", 2 }, 0 },
	};
	for (int v = 1; v <= 2; v++) {
		start(&c, v == 1 ? PF_SCHEMA_TELEGRAF_V1 : PF_SCHEMA_TELEGRAF_V2,
		      PF_FORMAT_PROMETHEUS, extra, 3);
		/* A label wins over an extra tag; an empty label does not. */
		feed(&c, "reqs", "reqs", C, PF_SFX_NONE, "host=web1,code=200,zone=", "1027", 1600000000000000000LL);
		/* Timestamps: zero and negative ones are not used (Telegraf: ts > 0). */
		feed(&c, "temp", "temp", G, PF_SFX_NONE, "", "-1.5e3", 0);
		feed(&c, "temp", "temp", G, PF_SFX_NONE, "a=b", "2", -5);
		feed(&c, "raw", "raw", U, PF_SFX_NONE, "x=y", "0x1p-2", NOTS);
		if (v == 1)
			done(&c, "simple v1",
			     "reqs|code=200,dc=east,host=web1,zone=z1|counter=1027|1600000000000000000\n"
			     "temp|dc=east,host=default,zone=z1|gauge=-1.5e3|1700000000000000000\n"
			     "temp|a=b,dc=east,host=default,zone=z1|gauge=2|1700000000000000000\n"
			     "raw|dc=east,host=default,x=y,zone=z1|value=0x1p-2|1700000000000000000\n");
		else
			done(&c, "simple v2",
			     "prometheus|code=200,dc=east,host=web1,zone=z1|reqs=1027|1600000000000000000\n"
			     "prometheus|dc=east,host=default,zone=z1|temp=-1.5e3|1700000000000000000\n"
			     "prometheus|a=b,dc=east,host=default,zone=z1|temp=2|1700000000000000000\n"
			     "prometheus|dc=east,host=default,x=y,zone=z1|raw=0x1p-2|1700000000000000000\n");
	}
}

/* Samples whose labels are lp_plain take the plain form when every extra
 * tag is raw and no key comes twice, and come out as the same points as
 * the long way; grouped families and other extra tags take the long way. */
static void test_plain_form(void)
{
	ctx c = { .m = NULL };
	pf_tag raw[3], odd[2], twice[2];
	pf_buf store;
	pf_buf_init(&store, 1 << 16);
	pf_buf_reserve(&store, 1024);
	/* Prepared as the scrape prepares its tags: raw. */
	pf_lp_tag_prepare(PF_STR_LIT("url"), PF_STR_LIT("http://h:9100/metrics"), &store, &raw[0]);
	pf_lp_tag_prepare(PF_STR_LIT("host"), PF_STR_LIT("default"), &store, &raw[1]);
	pf_lp_tag_prepare(PF_STR_LIT("a"), PF_STR_LIT("first"), &store, &raw[2]);
	check(raw[0].raw && raw[1].raw && raw[2].raw, "extra tags prepared raw");
	odd[0] = raw[1];
	odd[1] = (pf_tag){ PF_STR_LIT("x y"), PF_STR_LIT("1"), 0 }; /* key to escape: not raw */
	twice[0] = raw[1];
	twice[1] = raw[1];
	static const char *const want_v1 =
		"reqs|a=first,code=200,host=web1,url=http://h:9100/metrics|counter=1027|1600000000000000000\n"
		"temp|a=first,host=default,url=http://h:9100/metrics|gauge=-1.5e3|1700000000000000000\n"
		"up|a=0,b=1,host=default,url=http://h:9100/metrics|gauge=1|1700000000000000000\n";
	static const char *const want_infl =
		"reqs|a=first,code=200,host=web1,url=http://h:9100/metrics|value=1027|1600000000000000000\n"
		"temp|a=first,host=default,url=http://h:9100/metrics|value=-1.5e3|1700000000000000000\n"
		"up|a=0,b=1,host=default,url=http://h:9100/metrics|value=1|1700000000000000000\n";
	for (int way = 0; way < 2; way++) {
		for (int sc = 0; sc < 2; sc++) {
			start(&c, sc ? PF_SCHEMA_INFLUXDB_PROM : PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, raw, 3);
			c.lp_plain = way;
			feed(&c, "reqs", "reqs", C, PF_SFX_NONE, "code=200,host=web1", "1027", 1600000000000000000LL);
			feed(&c, "temp", "temp", G, PF_SFX_NONE, "", "-1.5e3", NOTS);
			feed(&c, "up", "up", G, PF_SFX_NONE, "a=0,b=1", "1", NOTS);
			check(c.k.nplain == (way ? 3 : 0), way ? "lp_plain samples take the plain form"
							       : "other samples take the long way");
			done(&c, way ? "plain form" : "long way", sc ? want_infl : want_v1);
		}
	}
	/* An extra tag that is not raw, or a key given twice: the long way for all. */
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, odd, 2);
	c.lp_plain = 1;
	feed(&c, "up", "up", G, PF_SFX_NONE, "a=0", "1", NOTS);
	check(c.k.nplain == 0, "an extra tag that is not raw: the long way");
	done(&c, "odd extra tag", "up|a=0,host=default,x y=1|gauge=1|1700000000000000000\n");
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, twice, 2);
	c.lp_plain = 1;
	feed(&c, "up", "up", G, PF_SFX_NONE, "a=0", "1", NOTS);
	check(c.k.nplain == 0, "an extra key twice: the long way");
	done(&c, "extra key twice", "up|a=0,host=default|gauge=1|1700000000000000000\n");
	/* A histogram is grouped the long way even when its labels are plain. */
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, raw, 3);
	c.lp_plain = 1;
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=1", "3", NOTS);
	feed(&c, "h_sum", "h", H, PF_SFX_SUM, "", "2", NOTS);
	feed(&c, "h_count", "h", H, PF_SFX_COUNT, "", "3", NOTS);
	check(c.k.nplain == 0, "grouped families: the long way");
	done(&c, "plain histogram",
	     "h|a=first,host=default,url=http://h:9100/metrics|1=3,count=3,sum=2|1700000000000000000\n");
	pf_buf_free(&store);
}

static void test_ignore_timestamps_and_dup_labels(void)
{
	ctx c = { .m = NULL };
	pf_map_opts o = { .schema = PF_SCHEMA_TELEGRAF_V1, .format = PF_FORMAT_PROMETHEUS,
			  .now_ns = 42, .ignore_timestamps = 1 };
	memset(&c.k, 0, sizeof(c.k));
	c.unit = (pf_str){ "", 0 };
	c.lp_plain = 0;
	c.m = pf_mapper_new(&o, on_point, &c.k);
	/* A duplicated label: the last one wins, as in Telegraf's map. */
	feed(&c, "a", "a", C, PF_SFX_NONE, "l=1,m=2,l=3", "1", 1601830800000000000LL);
	done(&c, "ignore timestamps", "a|l=3,m=2|counter=1|42\n");
}

static void test_histogram_v1(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, NULL, 0);
	/* Two series, interleaved, the second listing its labels in another
	 * order; le spelled in several ways; a count with a fraction. */
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=GET,le=0.5", "1", NOTS);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "le=0.5,r=x,v=POST", "3", NOTS);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=GET,le=1000000", "2.5", NOTS);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=POST,r=x,le=1e+06", "4", NOTS);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=GET,le=+Inf", "3", NOTS);
	feed(&c, "lat_sum", "lat", H, PF_SFX_SUM, "v=GET", "1.02726334e+08", 2000);
	feed(&c, "lat_count", "lat", H, PF_SFX_COUNT, "v=GET", "3", 1000);
	feed(&c, "lat_count", "lat", H, PF_SFX_COUNT, "r=x,v=POST", "4.0", NOTS);
	/* Nothing is written before the family ends. */
	check(c.k.npoints == 0, "histogram held until the family ends");
	/* The next family flushes it. */
	feed(&c, "up", "up", G, PF_SFX_NONE, "", "1", NOTS);
	expect(&c, "histogram v1",
	       "lat|v=GET|0.5=1,1e+06=~2,+Inf=3,count=3,sum=1.02726334e+08|1000\n"
	       "lat|r=x,v=POST|0.5=3,1e+06=4,count=4.0,sum=~0|1700000000000000000\n"
	       "up||gauge=1|1700000000000000000\n");
	/* A bucket repeated with the same bound (1 and 1.0): one field, the last value. */
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=1", "5", NOTS);
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=2", "6", NOTS);
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=1.0", "7", NOTS);
	/* A bucket whose bound does not parse is left out. */
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=abc", "8", NOTS);
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "", "9", NOTS);
	done(&c, "histogram v1 duplicate bound",
	     "h||1=7,2=6,count=~0,sum=~0|1700000000000000000\n");
}

static void test_histogram_v2(void)
{
	ctx c = { .m = NULL };
	static const pf_tag extra[] = { { { "le", 2 }, { "shadowed", 8 }, 0 } };
	start(&c, PF_SCHEMA_TELEGRAF_V2, PF_FORMAT_PROMETHEUS, extra, 1);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=GET,le=125000", "1994", NOTS);
	feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "v=GET,le=4e6", "2017", NOTS);
	feed(&c, "lat_sum", "lat", H, PF_SFX_SUM, "v=GET", "102726334", NOTS);
	feed(&c, "lat_count", "lat", H, PF_SFX_COUNT, "v=GET", "2025", NOTS);
	done(&c, "histogram v2 with synthetic +Inf",
	     "prometheus|le=shadowed,v=GET|lat_count=2025,lat_sum=102726334|1700000000000000000\n"
	     "prometheus|le=125000,v=GET|lat_bucket=1994|1700000000000000000\n"
	     "prometheus|le=4e+06,v=GET|lat_bucket=2017|1700000000000000000\n"
	     "prometheus|le=+Inf,v=GET|lat_bucket=2025|1700000000000000000\n");

	start(&c, PF_SCHEMA_TELEGRAF_V2, PF_FORMAT_PROMETHEUS, NULL, 0);
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=+Inf", "2", 5000000);
	feed(&c, "h_count", "h", H, PF_SFX_COUNT, "", "2", NOTS);
	done(&c, "histogram v2 with +Inf, no sum",
	     "prometheus||h_count=2,h_sum=~0|5000000\n"
	     "prometheus|le=+Inf|h_bucket=2|5000000\n");
}

static void test_summary(void)
{
	ctx c = { .m = NULL };
	for (int v = 1; v <= 2; v++) {
		start(&c, v == 1 ? PF_SCHEMA_TELEGRAF_V1 : PF_SCHEMA_TELEGRAF_V2,
		      PF_FORMAT_PROMETHEUS, NULL, 0);
		feed(&c, "rt", "rt", S, PF_SFX_NONE, "h=p,quantile=0.5", "552048.506", NOTS);
		feed(&c, "rt", "rt", S, PF_SFX_NONE, "h=p,quantile=0.99", "NaN", NOTS);
		feed(&c, "rt", "rt", S, PF_SFX_NONE, "h=p", "1", NOTS); /* no quantile: left out */
		feed(&c, "rt_sum", "rt", S, PF_SFX_SUM, "h=p", "1.8909097205e+07", NOTS);
		feed(&c, "rt_count", "rt", S, PF_SFX_COUNT, "h=p", "9", NOTS);
		/* 0.0.4 knows no _created: an untyped metric of its own name. */
		feed(&c, "rt_created", "rt", S, PF_SFX_CREATED, "h=p", "1.7e9", NOTS);
		if (v == 1)
			done(&c, "summary v1",
			     "rt_created|h=p|value=1.7e9|1700000000000000000\n"
			     "rt|h=p|0.5=552048.506,0.99=NaN,count=9,sum=1.8909097205e+07|1700000000000000000\n");
		else
			done(&c, "summary v2",
			     "prometheus|h=p|rt_created=1.7e9|1700000000000000000\n"
			     "prometheus|h=p|rt_count=9,rt_sum=1.8909097205e+07|1700000000000000000\n"
			     "prometheus|h=p,quantile=0.5|rt=552048.506|1700000000000000000\n"
			     "prometheus|h=p,quantile=0.99|rt=NaN|1700000000000000000\n");
	}
}

static void test_openmetrics(void)
{
	ctx c = { .m = NULL };
	for (int v = 1; v <= 2; v++) {
		start(&c, v == 1 ? PF_SCHEMA_TELEGRAF_V1 : PF_SCHEMA_TELEGRAF_V2,
		      PF_FORMAT_OPENMETRICS, NULL, 0);
		c.unit = PF_STR_LIT("seconds");
		feed(&c, "cpu_seconds_total", "cpu_seconds", C, PF_SFX_TOTAL, "unit=x", "4.2e6", 123000000000LL);
		feed(&c, "cpu_seconds_created", "cpu_seconds", C, PF_SFX_CREATED, "", "1.6e9", NOTS);
		feed(&c, "rq_seconds_sum", "rq_seconds", S, PF_SFX_SUM, "p=a", "9036.32", NOTS);
		feed(&c, "rq_seconds_count", "rq_seconds", S, PF_SFX_COUNT, "p=a", "807283.0", NOTS);
		feed(&c, "rq_seconds", "rq_seconds", S, PF_SFX_NONE, "p=a,quantile=0.5", "1.29854", NOTS);
		feed(&c, "rq_seconds_created", "rq_seconds", S, PF_SFX_CREATED, "p=a", "1705509488.3", NOTS);
		c.unit = (pf_str){ "", 0 };
		feed(&c, "build_info", "build", PF_MT_INFO, PF_SFX_INFO, "version=2.4,rev=", "1", NOTS);
		feed(&c, "st", "st", PF_MT_STATESET, PF_SFX_NONE, "e=ground floor,st=door ok", "1.0", NOTS);
		feed(&c, "st", "st", PF_MT_STATESET, PF_SFX_NONE, "e=ground floor,st=window 2", "0", NOTS);
		feed(&c, "st", "st", PF_MT_STATESET, PF_SFX_NONE, "e=basement,st=door ok", "0.0", NOTS);
		feed(&c, "q_bucket", "q", PF_MT_GAUGEHISTOGRAM, PF_SFX_BUCKET, "le=10", "1", NOTS);
		feed(&c, "q_gcount", "q", PF_MT_GAUGEHISTOGRAM, PF_SFX_GCOUNT, "", "1", NOTS);
		feed(&c, "q_gsum", "q", PF_MT_GAUGEHISTOGRAM, PF_SFX_GSUM, "", "0.5", NOTS);
		feed(&c, "q_created", "q", PF_MT_GAUGEHISTOGRAM, PF_SFX_CREATED, "", "12", NOTS);
		feed(&c, "n_bucket", "n", H, PF_SFX_BUCKET, "le=+Inf", "0", 0);
		feed(&c, "unk", "unk", U, PF_SFX_NONE, "port=6380", "10.0", NOTS);
		if (v == 1)
			done(&c, "openmetrics v1",
			     "cpu_seconds|unit=seconds|counter=4.2e6|123000000000\n"
			     "rq_seconds|p=a,unit=seconds|0.5=1.29854,count=807283.0,sum=9036.32,created=1705509488.3|1700000000000000000\n"
			     "build|version=2.4|info=1u|1700000000000000000\n"
			     "st|e=ground floor|door_ok=true,window_2=false|1700000000000000000\n"
			     "st|e=basement|door_ok=false|1700000000000000000\n"
			     "q||10=1,count=1,sum=0.5,created=12|1700000000000000000\n"
			     "n||+Inf=0,count=~0|0\n"
			     "unk|port=6380|value=10.0|1700000000000000000\n");
		else
			done(&c, "openmetrics v2",
			     "openmetric|unit=seconds|cpu_seconds=4.2e6|123000000000\n"
			     "openmetric|p=a,unit=seconds|rq_seconds_count=807283.0,rq_seconds_sum=9036.32,rq_seconds_created=1705509488.3|1700000000000000000\n"
			     "openmetric|p=a,quantile=0.5,unit=seconds|rq_seconds=1.29854|1700000000000000000\n"
			     "openmetric|version=2.4|build_info=1u|1700000000000000000\n"
			     "openmetric|e=ground floor|st_door_ok=true|1700000000000000000\n"
			     "openmetric|e=ground floor|st_window_2=false|1700000000000000000\n"
			     "openmetric|e=basement|st_door_ok=false|1700000000000000000\n"
			     "openmetric||q_count=1,q_sum=0.5,q_created=12|1700000000000000000\n"
			     "openmetric|le=10|q_bucket=1|1700000000000000000\n"
			     "openmetric|le=+Inf|q_bucket=1|1700000000000000000\n"
			     "openmetric||n_count=~0|0\n"
			     "openmetric|le=+Inf|n_bucket=0|0\n"
			     "openmetric|port=6380|unk=10.0|1700000000000000000\n");
	}
}

static void test_influxdb_prom(void)
{
	ctx c = { .m = NULL };
	static const pf_tag extra[] = { { { "job", 3 }, { "node", 4 }, 0 } };
	for (int f = 0; f < 2; f++) {
		start(&c, PF_SCHEMA_INFLUXDB_PROM, f ? PF_FORMAT_OPENMETRICS : PF_FORMAT_PROMETHEUS, extra, 1);
		c.unit = PF_STR_LIT("seconds");
		feed(&c, "lat_bucket", "lat", H, PF_SFX_BUCKET, "le=0.5,v=GET", "1", 1000);
		feed(&c, "lat_count", "lat", H, PF_SFX_COUNT, "v=GET,job=j", "2.5", 0);
		feed(&c, "rt", "rt", S, PF_SFX_NONE, "quantile=0.99", "3", NOTS);
		feed(&c, "c_total", "c", C, PF_SFX_TOTAL, "", "7", NOTS);
		feed(&c, "c_created", "c", C, PF_SFX_CREATED, "", "8", NOTS);
		done(&c, "influxdb-prom",
		     "lat_bucket|job=node,le=0.5,v=GET|value=1|1000\n"
		     "lat_count|job=j,v=GET|value=2.5|0\n"
		     "rt|job=node,quantile=0.99|value=3|1700000000000000000\n"
		     "c_total|job=node|value=7|1700000000000000000\n"
		     "c_created|job=node|value=8|1700000000000000000\n");
	}
}

/* The OpenMetrics counter rules: only _total maps; anything else is dropped. */
static void test_om_counter_parts(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_OPENMETRICS, NULL, 0);
	feed(&c, "x_created", "x", C, PF_SFX_CREATED, "", "1", NOTS);
	feed(&c, "x", "x", C, PF_SFX_NONE, "", "1", NOTS);
	done(&c, "om counter without _total", "");
}

/* Untyped names under a typed 0.0.4 family that expfmt would not
 * recognise (a counter foo_total under TYPE foo). */
static void test_prom_untyped_fallback(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, NULL, 0);
	feed(&c, "foo_total", "foo", C, PF_SFX_TOTAL, "", "3", NOTS);
	feed(&c, "h", "h", H, PF_SFX_NONE, "", "3", NOTS);
	done(&c, "0.0.4 unknown suffixes",
	     "foo_total||value=3|1700000000000000000\n"
	     "h||value=3|1700000000000000000\n");
}

/* The callback's nonzero return stops the mapper and comes back. */
static void test_stop(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V2, PF_FORMAT_PROMETHEUS, NULL, 0);
	c.k.stop_after = 2;
	check(feed(&c, "a", "a", G, PF_SFX_NONE, "", "1", NOTS) == 0, "first point goes on");
	check(feed(&c, "a", "a", G, PF_SFX_NONE, "", "2", NOTS) == 7, "stop value returned");
	c.k.stop_after = 0;
	c.k.npoints = 0;
	c.k.len = 0;
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=1", "1", NOTS);
	c.k.stop_after = 2;
	check(pf_mapper_finish(c.m) == 7, "stop value returned from finish");
	check(c.k.npoints == 2, "no point after the stop");
	c.k.stop_after = 0;
	/* The family is closed after a stop: finish again writes nothing. */
	c.k.len = 0;
	check(pf_mapper_finish(c.m) == 0, "finish after stop");
	expect(&c, "nothing after stop", "");
	pf_mapper_free(c.m);
}

/* reset drops what is grouped and takes the new options. */
static void test_reset(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, NULL, 0);
	feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, "le=1", "1", NOTS);
	pf_map_opts o = { .schema = PF_SCHEMA_TELEGRAF_V2, .format = PF_FORMAT_OPENMETRICS, .now_ns = 9 };
	pf_mapper_reset(c.m, &o);
	feed(&c, "g", "g", G, PF_SFX_NONE, "", "1", NOTS);
	done(&c, "reset", "openmetric||g=1|9\n");
}

/* Many series in one family, many families: the grouping table grows and
 * is reused; every series keeps its own values. */
static void test_many_series(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, NULL, 0);
	char lab[64], val[32];
	for (int fam = 0; fam < 3; fam++) {
		const char *name = fam == 1 ? "other" : "big";
		char bucket[32], count[32];
		snprintf(bucket, sizeof(bucket), "%s_bucket", name);
		snprintf(count, sizeof(count), "%s_count", name);
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < 1000; i++) {
				snprintf(lab, sizeof(lab), "id=%d,le=%d", i, pass);
				snprintf(val, sizeof(val), "%d", i * 10 + pass);
				feed(&c, bucket, name, H, PF_SFX_BUCKET, lab, val, NOTS);
			}
		}
		for (int i = 0; i < 1000; i++) {
			snprintf(lab, sizeof(lab), "id=%d", i);
			snprintf(val, sizeof(val), "%d", i);
			feed(&c, count, name, H, PF_SFX_COUNT, lab, val, NOTS);
		}
	}
	check(pf_mapper_finish(c.m) == 0, "finish");
	check(c.k.npoints == 3000, "one point per series and family");
	c.k.out[c.k.len] = '\0';
	check(strstr(c.k.out, "big|id=999|0=9990,1=9991,count=999,sum=~0|") != NULL, "series 999 intact");
	check(strstr(c.k.out, "other|id=0|0=0,1=1,count=0,sum=~0|") != NULL, "series 0 intact");
	pf_mapper_free(c.m);
}

/* Bounds are formatted through a small cache: texts that share a cache
 * slot (same length, first and last byte) must still be told apart. */
static void test_bound_cache(void)
{
	ctx c = { .m = NULL };
	start(&c, PF_SCHEMA_TELEGRAF_V1, PF_FORMAT_PROMETHEUS, NULL, 0);
	for (int i = 0; i < 2; i++) {
		const char *lab[] = { "s=a,le=1e6", "s=a,le=1.6", "s=a,le=1_6", "s=b,le=1.6", "s=b,le=1e6" };
		for (int j = i * 3; j < (i ? 5 : 3); j++)
			feed(&c, "h_bucket", "h", H, PF_SFX_BUCKET, lab[j], i ? "2" : "1", NOTS);
	}
	feed(&c, "s", "s", S, PF_SFX_NONE, "quantile=1e6", "3", NOTS);
	feed(&c, "s", "s", S, PF_SFX_NONE, "quantile=1.6", "4", NOTS);
	done(&c, "bound cache",
	     "h|s=a|1e+06=1,1.6=1,count=~0,sum=~0|1700000000000000000\n"
	     "h|s=b|1.6=2,1e+06=2,count=~0,sum=~0|1700000000000000000\n"
	     "s||1e+06=3,1.6=4,count=~0,sum=~0|1700000000000000000\n");
}

/* A huge family, series one after the other: written out early (memory
 * bounded), yet one point per series. Interleaved: held to the end. */
static void test_large_family(void)
{
	static sink k; /* large: keep it off the stack */
	char lab[160], val[32], want[256];
	const int nser = 3000;

	for (int layout = 0; layout < 2; layout++) {
		pf_map_opts o = { .schema = PF_SCHEMA_TELEGRAF_V1, .format = PF_FORMAT_PROMETHEUS,
				  .now_ns = 1 };
		ctx c = { .unit = { "", 0 } };
		pf_mapper *m = pf_mapper_new(&o, on_point, &k);
		memset(&k, 0, sizeof(k));
		c.m = m;
		int early = -1;
		/* Keep only what fits: the checks below look at counts and at a
		 * few lines, so stop recording text after the buffer fills. */
		for (int pass = 0; pass < (layout ? 3 : 1); pass++) {
			for (int i = 0; i < nser; i++) {
				const char *pad = "a-rather-long-label-value-to-fill-the-arena-quickly-0123456789";
				if (layout == 0 || pass == 0) {
					for (int b = 0; b < 4; b++) {
						snprintf(lab, sizeof(lab), "id=%d,pad=%s,le=%d", i, pad, b);
						snprintf(val, sizeof(val), "%d", i + b);
						feed(&c, "big_bucket", "big", H, PF_SFX_BUCKET, lab, val, NOTS);
					}
				}
				snprintf(lab, sizeof(lab), "id=%d,pad=%s", i, pad);
				snprintf(val, sizeof(val), "%d", i);
				if (layout == 0 || pass == 1)
					feed(&c, "big_sum", "big", H, PF_SFX_SUM, lab, val, NOTS);
				if (layout == 0 || pass == 2)
					feed(&c, "big_count", "big", H, PF_SFX_COUNT, lab, val, NOTS);
				if (early < 0 && k.npoints > 0)
					early = i;
			}
		}
		check(pf_mapper_finish(m) == 0, "finish large family");
		check(k.npoints == nser, "large family: one point per series");
		if (layout == 0)
			check(early > 0 && early < nser, "large contiguous family written out early");
		else
			check(early < 0, "interleaved family held to the end");
		/* Series are whole (the sink keeps the first 64 KiB of text). */
		k.out[k.len] = '\0';
		for (int i = 0; i <= 100; i += 50) {
			snprintf(want, sizeof(want), "|id=%d,pad=a-rather-long-label-value-to-fill-the-arena-quickly-0123456789|0=%d,1=%d,2=%d,3=%d,count=%d,sum=%d|1\n",
				 i, i, i + 1, i + 2, i + 3, i, i);
			check(strstr(k.out, want) != NULL, "large family: series whole");
		}
		pf_mapper_free(m);
	}
}

static void test_schema_names(void)
{
	enum pf_schema s;
	check(pf_schema_parse("telegraf-v1", &s) == 0 && s == PF_SCHEMA_TELEGRAF_V1, "parse v1");
	check(pf_schema_parse("telegraf-v2", &s) == 0 && s == PF_SCHEMA_TELEGRAF_V2, "parse v2");
	check(pf_schema_parse("influxdb-prom", &s) == 0 && s == PF_SCHEMA_INFLUXDB_PROM, "parse influxdb-prom");
	check(pf_schema_parse("telegraf", &s) == -1, "reject unknown");
	check(pf_schema_parse(NULL, &s) == -1, "reject NULL");
	check(strcmp(pf_schema_name(PF_SCHEMA_TELEGRAF_V2), "telegraf-v2") == 0, "name v2");
	check(strcmp(pf_schema_name(PF_SCHEMA_INFLUXDB_PROM), "influxdb-prom") == 0, "name influxdb-prom");
	pf_mapper_free(NULL);
}

int main(void)
{
	test_simple_v1_v2();
	test_plain_form();
	test_ignore_timestamps_and_dup_labels();
	test_histogram_v1();
	test_histogram_v2();
	test_summary();
	test_openmetrics();
	test_influxdb_prom();
	test_om_counter_parts();
	test_prom_untyped_fallback();
	test_stop();
	test_reset();
	test_many_series();
	test_bound_cache();
	test_large_family();
	test_schema_names();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
