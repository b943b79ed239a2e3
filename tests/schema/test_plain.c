/*
 * test_plain.c: the shortcut for common label sets (pf_sample.lp_plain,
 * pf_point.plain) changes nothing.
 *
 * Every payload and edge case of the conformance material goes through the
 * pipeline twice, once as the daemon runs it and once with
 * pf_pipeline_opts.long_way (every label set parsed, mapped and escaped
 * the general way), in each schema, with five sets of extra tags (none;
 * host and url, as a scrape adds them; instance, with a value to escape;
 * cpu and handler, names of plain labels in the payloads, which must win;
 * a key that needs escaping, which turns the shortcut off), fed whole and in chunks of 1, 7 and 4096 bytes, as 0.0.4
 * and as "auto". The return, the line protocol, every message and every
 * counter must be the same. A filter counts the samples marked lp_plain,
 * so that the test fails if the shortcut is never taken (it would then
 * compare the long way with itself).
 *
 * The direct way (direct.h: common lines written by the parser itself) is
 * on in the first run, as the daemon has it (the counting filter passes
 * every sample unchanged: pf_pipeline_set_direct()), and must have written
 * lines; the long way never does. Then a filter that stops at a
 * sample_limit, as a scrape's does, with the direct way bounded by the
 * same limit: the same output, the same sample refused.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static int failures;
static unsigned long runs;

typedef struct run {
	pf_buf out;
	pf_buf msgs;
	unsigned long plain_samples;
	int rc;
	pf_pipeline_stats st;
	pf_pipeline *pl;
	uint64_t limit;       /* limit_filter's bound */
	unsigned long refused; /* samples limit_filter refused */
	unsigned long first_refused; /* the line of the first */
} run;

static unsigned long direct_lines;
/* The options compare() varies for the edge cases only. */
static int ignore_ts;
static enum pf_precision precision = PF_PREC_NS;

static void on_msg(void *ud, const char *m)
{
	run *r = ud;
	pf_buf_append(&r->msgs, m, strlen(m));
	pf_buf_append(&r->msgs, "\n", 1);
}

static const pf_sample *count_plain(void *ud, const pf_sample *s)
{
	run *r = ud;
	r->plain_samples += s->lp_plain;
	return s;
}

/* A sample_limit as the scrape's filter has it: kept so far, the direct
 * way's included, from the pipeline's stats. */
static const pf_sample *limit_filter(void *ud, const pf_sample *s)
{
	run *r = ud;
	if (pf_pipeline_get_stats(r->pl)->samples_kept >= r->limit) {
		if (r->refused++ == 0)
			r->first_refused = s->line;
		return NULL;
	}
	return s;
}

static void run_once(run *r, const pf_pipeline_opts *o, const char *body, size_t n, size_t chunk)
{
	pf_buf_init(&r->out, (size_t)256 << 20);
	pf_buf_init(&r->msgs, (size_t)64 << 20);
	r->plain_samples = 0;
	pf_pipeline *pl = pf_pipeline_new(o, &r->out, on_msg, r);
	if (pl == NULL) {
		fprintf(stderr, "pf_pipeline_new failed\n");
		exit(2);
	}
	r->pl = pl;
	r->refused = r->first_refused = 0;
	if (r->limit) {
		pf_pipeline_set_filter(pl, limit_filter, r);
		pf_pipeline_set_direct(pl, 1, r->limit);
	} else {
		pf_pipeline_set_filter(pl, count_plain, r);
		pf_pipeline_set_direct(pl, 1, 0);
	}
	size_t off = 0;
	int rc = 0;
	if (chunk == 0)
		chunk = n ? n : 1;
	while (rc == 0 && off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		rc = pf_pipeline_feed(pl, body + off, k);
		off += k;
	}
	if (rc == 0)
		rc = pf_pipeline_finish(pl);
	r->rc = rc;
	r->st = *pf_pipeline_get_stats(pl);
	pf_pipeline_free(pl);
}

static void run_free(run *r)
{
	pf_buf_free(&r->out);
	pf_buf_free(&r->msgs);
}

static int same_buf(const pf_buf *a, const pf_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Where two buffers first differ, for the report. */
static void show_diff(const char *what, const pf_buf *a, const pf_buf *b)
{
	size_t i = 0;
	while (i < a->len && i < b->len && a->data[i] == b->data[i])
		i++;
	size_t from = i > 80 ? i - 80 : 0;
	fprintf(stderr, "  %s differ at byte %zu (%zu and %zu bytes):\n  shortcut: %.*s\n  long way: %.*s\n",
		what, i, a->len, b->len, (int)((a->len > from ? a->len - from : 0) > 200 ? 200 : a->len - from),
		a->data ? a->data + from : "", (int)((b->len > from ? b->len - from : 0) > 200 ? 200 : b->len - from),
		b->data ? b->data + from : "");
}

static pf_pipeline_opts opts_for(enum pf_format fmt, enum pf_schema schema, const pf_tag *tags, size_t ntags,
				 enum pf_precision prec)
{
	pf_pipeline_opts o;
	memset(&o, 0, sizeof(o));
	o.format = fmt;
	o.on_error = PF_ON_ERROR_SKIP;
	o.map.schema = schema;
	o.map.now_ns = 1700000000123456789LL;
	o.map.tags = tags;
	o.map.ntags = ntags;
	o.precision = prec;
	o.source = "t";
	return o;
}

static unsigned long compare(const char *file, const char *body, size_t n, enum pf_format fmt,
			     enum pf_schema schema, const pf_tag *tags, size_t ntags, const char *tagset,
			     size_t chunk)
{
	pf_pipeline_opts o = opts_for(fmt, schema, tags, ntags, precision);
	o.map.ignore_timestamps = ignore_ts;
	run a, b;
	a.limit = b.limit = 0;
	run_once(&a, &o, body, n, chunk);
	o.long_way = 1;
	run_once(&b, &o, body, n, chunk);
	runs++;
	const char *bad = NULL;
	uint64_t direct = a.st.samples_direct;
	direct_lines += direct;
	a.st.samples_direct = 0;
	if (b.st.samples_direct != 0)
		bad = "direct lines the long way";
	else if (a.rc != b.rc)
		bad = "return";
	else if (!same_buf(&a.out, &b.out))
		bad = "line protocol";
	else if (!same_buf(&a.msgs, &b.msgs))
		bad = "messages";
	else if (memcmp(&a.st, &b.st, sizeof(a.st)) != 0)
		bad = "counters";
	else if (b.plain_samples != 0)
		bad = "lp_plain set the long way";
	if (bad != NULL) {
		failures++;
		fprintf(stderr, "FAIL %s: %s (format %d, schema %s, tags %s, chunk %zu): the %s differs\n",
			file, bad, (int)fmt, pf_schema_name(schema), tagset, chunk, bad);
		if (!same_buf(&a.out, &b.out))
			show_diff("outputs", &a.out, &b.out);
		if (!same_buf(&a.msgs, &b.msgs))
			show_diff("messages", &a.msgs, &b.msgs);
	}
	unsigned long plain = a.plain_samples;
	run_free(&a);
	run_free(&b);
	return plain;
}

/* A sample_limit of limit, as the scrape sets it, both ways. */
static void compare_limit(const char *file, const char *body, size_t n, const pf_tag *tags, size_t ntags,
			  uint64_t limit)
{
	pf_pipeline_opts o = opts_for(PF_FORMAT_PROMETHEUS, PF_SCHEMA_TELEGRAF_V1, tags, ntags, PF_PREC_MS);
	run a, b;
	a.limit = b.limit = limit;
	run_once(&a, &o, body, n, 4096);
	o.long_way = 1;
	run_once(&b, &o, body, n, 4096);
	runs++;
	a.st.samples_direct = 0;
	if (a.rc != b.rc || !same_buf(&a.out, &b.out) || !same_buf(&a.msgs, &b.msgs) ||
	    memcmp(&a.st, &b.st, sizeof(a.st)) != 0 || a.refused != b.refused ||
	    a.first_refused != b.first_refused || a.st.samples_kept > limit) {
		failures++;
		fprintf(stderr, "FAIL %s: sample limit %llu: kept %llu and %llu, refused %lu (line %lu) and %lu (line %lu)\n",
			file, (unsigned long long)limit, (unsigned long long)a.st.samples_kept,
			(unsigned long long)b.st.samples_kept, a.refused, a.first_refused, b.refused, b.first_refused);
		if (!same_buf(&a.out, &b.out))
			show_diff("outputs", &a.out, &b.out);
	}
	run_free(&a);
	run_free(&b);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, len = 0, r;
	char *d = malloc(cap);
	while (d != NULL && (r = fread(d + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			char *nd = realloc(d, cap *= 2);
			if (nd == NULL) {
				free(d);
				fclose(f);
				return NULL;
			}
			d = nd;
		}
	}
	fclose(f);
	*n = len;
	return d;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	const char *conf = getenv("PF_CONFORMANCE");
	if (conf == NULL) {
		fprintf(stderr, "test_plain: set PF_CONFORMANCE to the conformance material\n");
		return 1;
	}
	pf_buf store;
	pf_buf_init(&store, 1 << 16);
	pf_buf_reserve(&store, 4096);
	pf_tag scrape[2], clash[1], cpu[2];
	pf_lp_tag_prepare(PF_STR_LIT("host"), PF_STR_LIT("web-1"), &store, &scrape[0]);
	pf_lp_tag_prepare(PF_STR_LIT("url"), PF_STR_LIT("http://127.0.0.1:9100/metrics"), &store, &scrape[1]);
	pf_lp_tag_prepare(PF_STR_LIT("instance"), PF_STR_LIT("a b,c=d"), &store, &clash[0]);
	/* Label names of node_exporter's and Prometheus' plain samples. */
	pf_lp_tag_prepare(PF_STR_LIT("cpu"), PF_STR_LIT("all"), &store, &cpu[0]);
	pf_lp_tag_prepare(PF_STR_LIT("handler"), PF_STR_LIT("none"), &store, &cpu[1]);
	pf_tag odd[1] = { { PF_STR_LIT("a key"), PF_STR_LIT("v"), 0 } };
	struct { const pf_tag *t; size_t n; const char *name; } sets[] = {
		{ NULL, 0, "none" }, { scrape, 2, "host+url" }, { clash, 1, "instance" }, { odd, 1, "escaped key" },
		{ cpu, 2, "cpu+handler" },
	};
	static const size_t chunks[] = { 0, 1, 7, 4096 };
	static const char *const dirs[] = { "payloads", "edge-cases" };

	unsigned long files = 0, plain = 0;
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", conf, dirs[d]);
		DIR *dir = opendir(path);
		if (dir == NULL) {
			fprintf(stderr, "test_plain: %s: %s\n", path, strerror(errno));
			return 1;
		}
		char *names[512];
		size_t nn = 0;
		struct dirent *e;
		while ((e = readdir(dir)) != NULL && nn < 512) {
			const char *x = strrchr(e->d_name, '.');
			if (e->d_name[0] == '.' || x == NULL || strcmp(x, ".json") == 0 || strstr(e->d_name, "headers"))
				continue;
			names[nn++] = strdup(e->d_name);
		}
		closedir(dir);
		qsort(names, nn, sizeof(names[0]), cmp_names);
		for (size_t i = 0; i < nn; i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", conf, dirs[d], names[i]);
			size_t n;
			char *body = slurp(path, &n);
			if (body == NULL) {
				fprintf(stderr, "test_plain: cannot read %s\n", path);
				return 1;
			}
			files++;
			/* Chunks of 1 and 7 bytes only for bodies under 256 KB: the
			 * 1 MiB edge cases would take minutes under valgrind. */
			for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
				if (chunks[c] && chunks[c] < 4096 && n > (256u << 10))
					continue;
				if (c == 0) {
					compare_limit(names[i], body, n, scrape, 2, 1);
					compare_limit(names[i], body, n, scrape, 2, 37);
					compare_limit(names[i], body, n, scrape, 2, 500);
				}
				for (int s = 0; s < 3; s++)
					for (size_t t = 0; t < sizeof(sets) / sizeof(sets[0]); t++)
						for (int f = 0; f < 2; f++)
							plain += compare(names[i], body, n,
									 f ? PF_FORMAT_AUTO : PF_FORMAT_PROMETHEUS,
									 (enum pf_schema)s, sets[t].t, sets[t].n,
									 sets[t].name, chunks[c]);
			}
			free(body);
			free(names[i]);
		}
	}
	/* Lines at the edges of the direct way's rules (direct.h), each next
	 * to one it takes. */
	static const char edges[] =
		"# TYPE g gauge\n"
		"g{a=\"1\",b=\"2\"} 1\n"
		"g{b=\"2\",a=\"1\"} 2\n"          /* not sorted */
		"g{a=\"1\",a=\"2\"} 3\n"          /* twice */
		"g{b=\"1\",a=\"1\",b=\"2\"} 3\n"
		"g{zz=\"1\",cpu=\"1\",ia=\"2\",a=\"3\"} 3\n" /* around the extra tags */
		"g{zz=\"1\",url=\"2\",a=\"3\"} 3\n"
		"g{l32=\"1\",l31=\"1\",l30=\"1\",l29=\"1\",l28=\"1\",l27=\"1\",l26=\"1\",l25=\"1\","
		"l24=\"1\",l23=\"1\",l22=\"1\",l21=\"1\",l20=\"1\",l19=\"1\",l18=\"1\",l17=\"1\",l16=\"1\","
		"l15=\"1\",l14=\"1\",l13=\"1\",l12=\"1\",l11=\"1\",l10=\"1\",l09=\"1\",l08=\"1\",l07=\"1\","
		"l06=\"1\",l05=\"1\",l04=\"1\",l03=\"1\",l02=\"1\",l01=\"1\"} 3\n" /* 32 */
		"g{l33=\"1\",l32=\"1\",l31=\"1\",l30=\"1\",l29=\"1\",l28=\"1\",l27=\"1\",l26=\"1\",l25=\"1\","
		"l24=\"1\",l23=\"1\",l22=\"1\",l21=\"1\",l20=\"1\",l19=\"1\",l18=\"1\",l17=\"1\",l16=\"1\","
		"l15=\"1\",l14=\"1\",l13=\"1\",l12=\"1\",l11=\"1\",l10=\"1\",l09=\"1\",l08=\"1\",l07=\"1\","
		"l06=\"1\",l05=\"1\",l04=\"1\",l03=\"1\",l02=\"1\",l01=\"1\"} 3\n" /* 33 */
		"g{a=\"1\",} 4\n"                  /* trailing comma */
		"g{} 5\n"
		"g{ 5\n"                            /* not a label set */
		"g{a=\"1\", 5\n"
		"g{a=\"1\" 5\n"
		"g{a=\"\"} 6\n"                    /* empty value */
		"g{a=\"x y\"} 7\n"                 /* escaped */
		"g{a=\"x=y,z\"} 8\n"
		"g{a=\"\\\\\"} 9\n"
		"g{a=\"1\"} 10 1700000000000\n"   /* timestamp */
		"g{a=\"1\"} 10 -1700000000000\n"
		"g{a=\"1\"} 10 0\n"
		"g 10 1700000000000\n"
		"g{a=\"1\"} 10 9223372036854775807\n"  /* past int64 ns */
		"g{a=\"1\"} 10 9223372036854\n"
		"g{a=\"1\"} 10 -9223372036854\n"
		"g{a=\"1\"} 10 1700000000000 \n"
		"g{a=\"1\"} 10  1700000000000\n"
		"g{a=\"1\"} 10\t1700000000000\n"
		"g{a=\"1\"} 10 17e11\n"
		"g{a=\"1\"} 10 +1700000000000\n"
		"g{a=\"1\"} 10 1700000000000\r\n"
		"g{a=\"1\"}  11\n"                 /* two blanks */
		"g{a=\"1\"}\t12\n"
		"g{a=\"1\"} 13 \n"
		"g 14\n"
		"g  15\n"
		"g{host=\"h\"} 16\n"              /* an extra tag's key */
		"g{cpu=\"0\",url=\"u\"} 17\n"
		"g{zz=\"1\"} 18\n"
		"g{aa=\"1\",zz=\"1\"} 1e3\n"
		"g{a=\"1\"} +Inf\n"
		"g{a=\"1\"} NaN\n"
		"g{a=\"1\"} -0\n"
		"g{a=\"1\"} .5\n"
		"g{a=\"1\"} 1_0\n"
		"g{a=\"1\"} 0x10\n"
		"g{a=\"1\"} 1e999\n"
		"g{a=\"1\"} 19\r\n"
		" g 20\n"
		"g{a=\"\xc3\xa9\"} 21\n"
		"# TYPE h histogram\n"
		"h_bucket{le=\"1\"} 1\n"
		"h_bucket{le=\"+Inf\"} 2\n"
		"h_sum 3\n"
		"h_count 2\n"
		"# TYPE c counter\n"
		"c{a=\"1\"} 22\n"
		"c_total 23\n"
		"u 24\n"
		"u{a=\"1\"} 25\n"
		"# TYPE s summary\n"
		"s{quantile=\"0.5\"} 1\n"
		"s_sum 1\n"
		"g{a=\"1\"} 26\n";
	for (ignore_ts = 0; ignore_ts < 2; ignore_ts++)
		for (int pr = PF_PREC_NS; pr <= PF_PREC_S; pr += 2) /* ns and ms */
			for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
				for (int s = 0; s < 3; s++)
					for (size_t t = 0; t < sizeof(sets) / sizeof(sets[0]); t++)
						for (int f = 0; f < 2; f++) {
							precision = (enum pf_precision)pr;
							plain += compare("edges", edges, sizeof(edges) - 1,
									 f ? PF_FORMAT_AUTO : PF_FORMAT_PROMETHEUS,
									 (enum pf_schema)s, sets[t].t, sets[t].n,
									 sets[t].name, chunks[c]);
						}
	ignore_ts = 0;
	precision = PF_PREC_NS;
	for (uint64_t l = 1; l < 30; l += 3)
		compare_limit("edges", edges, sizeof(edges) - 1, scrape, 2, l);
	pf_buf_free(&store);
	if (files < 10) {
		fprintf(stderr, "FAIL only %lu files found under %s\n", files, conf);
		failures++;
	}
	if (direct_lines == 0) {
		fprintf(stderr, "FAIL no line was written the direct way\n");
		failures++;
	}
	if (plain == 0) {
		fprintf(stderr, "FAIL no sample was lp_plain: the shortcut was never taken\n");
		failures++;
	}
	printf("%lu files, %lu runs compared, %lu lp_plain samples, %lu direct lines, %d failed\n", files, runs,
	       plain, direct_lines, failures);
	return failures ? 1 : 0;
}
