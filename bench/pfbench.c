/*
 * pfbench.c: throughput and allocation benchmark for the exposition parser
 * alone, parse + map (points discarded), parse + map + encode (the
 * pipeline), in every schema, and gzip (src/gzip.h, libdeflate, levels 1
 * and 6) of the line protocol the pipeline wrote, in 1 MiB batches as the
 * InfluxDB writer sends them. A closing table gives each stage alone
 * (map = parse+map - parse, encode = pipeline - parse+map) in ns per sample
 * and MB/s of exposition input (gzip: of line protocol input), from CPU
 * time.
 *
 * Not a test: it prints numbers and fails only when it cannot run. Each case
 * feeds bodies in 64 KiB chunks, as a scrape delivers them, and resets the
 * parser or pipeline between bodies, as the daemon does between scrapes.
 * It reports wall and CPU time, MB/s (10^6 bytes), samples/s, and the
 * number of heap allocations made during the timed loop, counted by
 * wrapping malloc and friends at link time (-Wl,--wrap=..., see
 * meson.build), so that "no allocation per sample" is measured rather than
 * assumed. Only calls from promflux's own code are counted; libc's
 * internal allocations are not wrapped.
 *
 * Payloads:
 *   node_exporter  $PF_CONFORMANCE/payloads/node_exporter.txt (or --payload),
 *                  copied in memory to about --mb MB; each copy is one body
 *   synth-gauge    one gauge family, one series per line, 8 long labels and
 *                  a timestamp; one body of about --mb MB
 *   synth-histo    one histogram family, 6 long labels, 10 buckets + +Inf,
 *                  _sum and _count per series; one body of about --mb MB
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "expfmt.h"
#include "gzip.h"
#include "pipeline.h"
#include "schema.h"

#ifndef PF_BENCH_CONFORMANCE
#define PF_BENCH_CONFORMANCE "../shared/conformance"
#endif

/* ---- allocation counting (linked with -Wl,--wrap=malloc,...) ---- */

static uint64_t n_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { n_allocs++; return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { n_allocs++; return __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { n_allocs++; return __real_strndup(s, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { n_allocs++; return __real_posix_memalign(p, a, n); }

/* ---- payloads ---- */

typedef struct payload {
	char name[64];
	char *data;
	size_t len;      /* all bodies */
	size_t body_len; /* each body but maybe the last */
	enum pf_format fmt;
} payload;

typedef struct result {
	uint64_t bodies, bytes, samples, errors, allocs, out_bytes;
	uint64_t direct; /* pipeline: samples written the direct way */
	uint64_t in_bytes; /* gzip: the exposition bytes behind the line protocol */
	uint64_t warm_allocs; /* during the untimed first body, setup included */
	double wall, cpu;
} result;

static size_t opt_chunk = 64 * 1024;
/* --tags: the tags a scrape adds by default (host, and url as Telegraf
 * writes it: the full URL, whose '=' is escaped), so that encode costs
 * what it does in the daemon (lines of ~120 bytes rather than ~70). */
static int opt_tags;
static int opt_no_direct;
static const pf_tag scrape_tags[] = {
	{ { "host", 4 }, { "pfbench-host", 12 }, 0 },
	{ { "url", 3 }, { "http://127.0.0.1:24000/metrics?t=5", 34 }, 0 },
};

static void die(const char *what)
{
	fprintf(stderr, "pfbench: %s\n", what);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL)
		die("out of memory");
	return p;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "pfbench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	size_t cap = 1 << 16, n = 0;
	char *d = xmalloc(cap);
	size_t k;
	while ((k = fread(d + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			d = realloc(d, cap);
			if (d == NULL)
				die("out of memory");
		}
	}
	if (ferror(f))
		die("read error");
	fclose(f);
	*len = n;
	return d;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The file repeated in memory to about mb MB; each copy is one body. */
static void make_repeated(payload *pl, const char *path, enum pf_format fmt, double mb)
{
	size_t n;
	char *one = read_file(path, &n);
	if (n == 0)
		die("empty payload");
	size_t want = (size_t)(mb * 1e6);
	size_t copies = want / n + (want % n != 0);
	if (copies == 0)
		copies = 1;
	pl->data = xmalloc(copies * n);
	for (size_t i = 0; i < copies; i++)
		memcpy(pl->data + i * n, one, n);
	free(one);
	pl->len = copies * n;
	pl->body_len = n;
	pl->fmt = fmt;
	snprintf(pl->name, sizeof(pl->name), "%.50s", base_name(path));
	char *dot = strrchr(pl->name, '.');
	if (dot != NULL && dot != pl->name)
		*dot = '\0';
}

/* Appends formatted text to a buffer that was sized generously; the
 * generator stops before it could overflow. */
static size_t put(char *dst, size_t room, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static size_t put(char *dst, size_t room, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= room)
		die("synthetic payload generator overflow");
	return (size_t)k;
}

/* One gauge family, one series per line, long label values: the cost of
 * label parsing, tag escaping and sorting dominates. */
static void make_synth_gauge(payload *pl, double mb)
{
	size_t want = (size_t)(mb * 1e6), room = want + 4096;
	char *d = xmalloc(room);
	size_t n = 0;
	n += put(d + n, room - n,
		 "# HELP pf_synth_gauge A synthetic high-cardinality gauge.\n"
		 "# TYPE pf_synth_gauge gauge\n");
	for (unsigned long i = 0; n < want; i++) {
		n += put(d + n, room - n,
			 "pf_synth_gauge{cluster=\"production-eu-west-1-kubernetes-cluster-07\","
			 "namespace=\"monitoring-and-observability-stack\","
			 "pod=\"prometheus-node-exporter-7c9f8d6b5-%05lx\","
			 "container=\"node-exporter-sidecar-container\","
			 "instance=\"ip-10-%lu-%lu-%lu.eu-west-1.compute.internal:9100\","
			 "job=\"kubernetes-service-endpoints\","
			 "path=\"/var/lib/kubelet/pods/%08lx-aaaa-bbbb-cccc-%012lx/volumes\","
			 "device=\"nvme%lun1p%lu\"} %lu.%03lu 1700000000%03lu\n",
			 i & 0xfffff, (i >> 16) & 255, (i >> 8) & 255, i & 255,
			 i * 2654435761ul & 0xfffffffful, i, i % 8, i % 4,
			 i * 7919 % 1000000, i % 1000, i % 1000);
	}
	pl->data = d;
	pl->len = n;
	pl->body_len = n;
	pl->fmt = PF_FORMAT_PROMETHEUS;
	snprintf(pl->name, sizeof(pl->name), "synth-gauge");
}

/* One histogram family with many series: what a schema must group. */
static void make_synth_histo(payload *pl, double mb)
{
	static const char *const le[] = { "0.005", "0.01", "0.025", "0.05", "0.1",
		"0.25", "0.5", "1", "2.5", "10", "+Inf" };
	size_t want = (size_t)(mb * 1e6), room = want + 8192;
	char *d = xmalloc(room);
	size_t n = 0;
	n += put(d + n, room - n,
		 "# HELP pf_synth_request_duration_seconds A synthetic high-cardinality histogram.\n"
		 "# TYPE pf_synth_request_duration_seconds histogram\n");
	for (unsigned long i = 0; n < want; i++) {
		char lbl[512];
		snprintf(lbl, sizeof(lbl),
			 "service=\"checkout-payment-gateway-service\","
			 "method=\"%s\",route=\"/api/v2/customers/%06lu/orders/{order_id}/items\","
			 "status=\"%lu\",pod=\"checkout-payment-gateway-5d8f9c7b6-%05lx\","
			 "region=\"eu-west-1\"",
			 (i & 1) ? "POST" : "GET", i, 200 + i % 5, i & 0xfffff);
		unsigned long cum = 0;
		for (size_t b = 0; b < sizeof(le) / sizeof(le[0]); b++) {
			cum += (i + b) % 17;
			n += put(d + n, room - n, "pf_synth_request_duration_seconds_bucket{%s,le=\"%s\"} %lu\n",
				 lbl, le[b], cum);
		}
		n += put(d + n, room - n, "pf_synth_request_duration_seconds_sum{%s} %lu.%06lu\n",
			 lbl, cum / 3, i % 1000000);
		n += put(d + n, room - n, "pf_synth_request_duration_seconds_count{%s} %lu\n", lbl, cum);
	}
	pl->data = d;
	pl->len = n;
	pl->body_len = n;
	pl->fmt = PF_FORMAT_PROMETHEUS;
	snprintf(pl->name, sizeof(pl->name), "synth-histogram");
}

/* ---- timing ---- */

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- parse alone ---- */

typedef struct count_ud {
	uint64_t samples;
	uint64_t nlabels; /* read so that the callback does some work with the sample */
} count_ud;

static int count_sample(void *ud, const pf_sample *s)
{
	count_ud *c = ud;
	c->samples++;
	c->nlabels += s->nlabels;
	return 0;
}

static uint64_t n_msgs;

static void count_error(void *ud, const pf_parse_error *e)
{
	(void)ud;
	if (n_msgs++ < 3)
		fprintf(stderr, "pfbench: parse error at %lu:%lu: %s\n", e->line, e->col, e->msg);
}

static void feed_checked(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "pfbench: %s returned %d\n", what, rc);
		exit(1);
	}
}

/* Parses every body of pl once; adds to r. */
static void parse_pass(pf_parser *p, const payload *pl, result *r)
{
	for (size_t off = 0; off < pl->len; off += pl->body_len) {
		size_t blen = pl->len - off < pl->body_len ? pl->len - off : pl->body_len;
		const char *body = pl->data + off;
		pf_parser_reset(p, pl->fmt);
		uint64_t e0 = pf_parser_stats(p)->errors;
		for (size_t c = 0; c < blen; c += opt_chunk) {
			size_t k = blen - c < opt_chunk ? blen - c : opt_chunk;
			feed_checked(pf_parser_feed(p, body + c, k), "pf_parser_feed");
		}
		feed_checked(pf_parser_finish(p), "pf_parser_finish");
		r->errors += pf_parser_stats(p)->errors - e0;
		r->bodies++;
		r->bytes += blen;
	}
}

/* ---- parse + map + encode ---- */

static void on_msg(void *ud, const char *msg)
{
	(void)ud;
	if (n_msgs++ < 3)
		fprintf(stderr, "pfbench: %s\n", msg);
}

#define NOW_NS INT64_C(1700000000000000000)

static void pipeline_pass(pf_pipeline *pp, pf_buf *out, const payload *pl, result *r)
{
	for (size_t off = 0; off < pl->len; off += pl->body_len) {
		size_t blen = pl->len - off < pl->body_len ? pl->len - off : pl->body_len;
		const char *body = pl->data + off;
		pf_pipeline_reset(pp, pl->fmt, NOW_NS);
		/* Stats are read as differences, whether a reset zeroes them or not. */
		pf_pipeline_stats s0 = *pf_pipeline_get_stats(pp);
		for (size_t c = 0; c < blen; c += opt_chunk) {
			size_t k = blen - c < opt_chunk ? blen - c : opt_chunk;
			feed_checked(pf_pipeline_feed(pp, body + c, k), "pf_pipeline_feed");
			/* The daemon hands the lines to the batcher after each chunk. */
			r->out_bytes += out->len;
			pf_buf_reset(out);
		}
		feed_checked(pf_pipeline_finish(pp), "pf_pipeline_finish");
		r->out_bytes += out->len;
		pf_buf_reset(out);
		const pf_pipeline_stats *s1 = pf_pipeline_get_stats(pp);
		r->samples += s1->parse.samples - s0.parse.samples;
		r->direct += s1->samples_direct - s0.samples_direct;
		r->errors += (s1->parse.errors - s0.parse.errors) + (s1->encode_errors - s0.encode_errors);
		r->bodies++;
		r->bytes += blen;
	}
}

/* ---- driver ---- */

static double opt_seconds;

static void print_header(void)
{
	printf("%-16s %-26s %7s %11s %10s %8s %8s %8s %9s %10s %8s %7s %11s %11s %8s %6s\n",
	       "payload", "mode", "bodies", "bytes", "samples", "wall_s", "cpu_s",
	       "MB/s", "MB/cpu_s", "Msamples/s", "ns/smpl", "allocs", "allocs/smpl", "warm_allocs", "out_MB",
	       "errors");
}

static void print_result(const char *pname, const char *mode, const result *r)
{
	double mbs = r->wall > 0 ? (double)r->bytes / 1e6 / r->wall : 0;
	double mbc = r->cpu > 0 ? (double)r->bytes / 1e6 / r->cpu : 0;
	double mss = r->wall > 0 ? (double)r->samples / 1e6 / r->wall : 0;
	double aps = r->samples ? (double)r->allocs / (double)r->samples : 0;
	double nss = r->samples ? r->cpu * 1e9 / (double)r->samples : 0;
	printf("%-16s %-26s %7" PRIu64 " %11" PRIu64 " %10" PRIu64 " %8.3f %8.3f %8.1f %9.1f %10.2f %8.1f %7" PRIu64
	       " %11.6f %11" PRIu64 " %8.1f %6" PRIu64 "\n",
	       pname, mode, r->bodies, r->bytes, r->samples, r->wall, r->cpu, mbs, mbc, mss, nss,
	       r->allocs, aps, r->warm_allocs, (double)r->out_bytes / 1e6, r->errors);
	fflush(stdout);
}

/* Runs passes until opt_seconds have gone by (at least one), after one
 * untimed warm-up body that lets buffers reach their working size. */
static result bench_parse(const payload *pl)
{
	count_ud cu = { 0, 0 };
	pf_parser_ops ops = { count_sample, count_error };
	uint64_t w_a0 = n_allocs;
	pf_parser *p = pf_parser_new(pl->fmt, PF_ON_ERROR_SKIP, &ops, &cu);
	if (p == NULL)
		die("pf_parser_new failed");
	payload warm = *pl;
	warm.len = pl->body_len < pl->len ? pl->body_len : pl->len;
	result r;
	memset(&r, 0, sizeof(r));
	parse_pass(p, &warm, &r);
	uint64_t warm_allocs = n_allocs - w_a0;

	memset(&r, 0, sizeof(r));
	r.warm_allocs = warm_allocs;
	cu.samples = 0;
	uint64_t a0 = n_allocs;
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		parse_pass(p, pl, &r);
		r.wall = now_s(CLOCK_MONOTONIC) - w0;
	} while (r.wall < opt_seconds);
	r.cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.allocs = n_allocs - a0;
	r.samples = cu.samples;
	pf_parser_free(p);
	print_result(pl->name, "parse", &r);
	return r;
}

static pf_pipeline_opts pipeline_opts(const payload *pl, enum pf_schema schema)
{
	pf_pipeline_opts o;
	memset(&o, 0, sizeof(o));
	o.format = pl->fmt;
	o.on_error = PF_ON_ERROR_SKIP;
	o.map.schema = schema;
	o.map.format = pl->fmt;
	o.map.now_ns = NOW_NS;
	o.precision = PF_PREC_MS;
	o.source = pl->name;
	if (opt_tags) {
		o.map.tags = scrape_tags;
		o.map.ntags = sizeof scrape_tags / sizeof scrape_tags[0];
	}
	return o;
}

static result bench_pipeline(const payload *pl, enum pf_schema schema)
{
	pf_pipeline_opts o = pipeline_opts(pl, schema);

	uint64_t w_a0 = n_allocs;
	pf_buf out;
	pf_buf_init(&out, (size_t)1 << 30);
	pf_pipeline *pp = pf_pipeline_new(&o, &out, on_msg, NULL);
	if (pp == NULL)
		die("pf_pipeline_new failed");
	if (opt_no_direct)
		pf_pipeline_set_direct(pp, 0, 0);
	payload warm = *pl;
	warm.len = pl->body_len < pl->len ? pl->body_len : pl->len;
	result r;
	memset(&r, 0, sizeof(r));
	pipeline_pass(pp, &out, &warm, &r);
	uint64_t warm_allocs = n_allocs - w_a0;

	memset(&r, 0, sizeof(r));
	r.warm_allocs = warm_allocs;
	uint64_t a0 = n_allocs;
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		pipeline_pass(pp, &out, pl, &r);
		r.wall = now_s(CLOCK_MONOTONIC) - w0;
	} while (r.wall < opt_seconds);
	r.cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.allocs = n_allocs - a0;
	pf_pipeline_free(pp);
	pf_buf_free(&out);

	char mode[40];
	snprintf(mode, sizeof(mode), "pipeline/%s", pf_schema_name(schema));
	print_result(pl->name, mode, &r);
	printf("%-16s %-26s %.1f%% of the samples the direct way\n", pl->name, mode,
	       r.samples ? 100.0 * (double)r.direct / (double)r.samples : 0.0);
	return r;
}

/* ---- parse + map, points discarded ---- */

typedef struct map_ud {
	pf_mapper *m;
	uint64_t samples, points, fields; /* read so that the points are looked at */
} map_ud;

static int map_point(void *ud, pf_point *pt)
{
	map_ud *u = ud;
	u->points++;
	u->fields += pt->nfields;
	return 0;
}

static int map_sample(void *ud, const pf_sample *s)
{
	map_ud *u = ud;
	u->samples++;
	return pf_mapper_sample(u->m, s);
}

static void map_pass(pf_parser *p, map_ud *u, const pf_map_opts *mo, const payload *pl, result *r)
{
	for (size_t off = 0; off < pl->len; off += pl->body_len) {
		size_t blen = pl->len - off < pl->body_len ? pl->len - off : pl->body_len;
		const char *body = pl->data + off;
		pf_parser_reset(p, pl->fmt);
		feed_checked(pf_mapper_reset(u->m, mo), "pf_mapper_reset");
		uint64_t e0 = pf_parser_stats(p)->errors;
		for (size_t c = 0; c < blen; c += opt_chunk) {
			size_t k = blen - c < opt_chunk ? blen - c : opt_chunk;
			feed_checked(pf_parser_feed(p, body + c, k), "pf_parser_feed");
		}
		feed_checked(pf_parser_finish(p), "pf_parser_finish");
		feed_checked(pf_mapper_finish(u->m), "pf_mapper_finish");
		r->errors += pf_parser_stats(p)->errors - e0;
		r->bodies++;
		r->bytes += blen;
	}
}

static result bench_map(const payload *pl, enum pf_schema schema)
{
	pf_pipeline_opts o = pipeline_opts(pl, schema);
	map_ud u;
	memset(&u, 0, sizeof(u));
	pf_parser_ops ops = { map_sample, count_error };
	uint64_t w_a0 = n_allocs;
	pf_parser *p = pf_parser_new(pl->fmt, PF_ON_ERROR_SKIP, &ops, &u);
	u.m = pf_mapper_new(&o.map, map_point, &u);
	if (p == NULL || u.m == NULL)
		die("pf_parser_new or pf_mapper_new failed");
	payload warm = *pl;
	warm.len = pl->body_len < pl->len ? pl->body_len : pl->len;
	result r;
	memset(&r, 0, sizeof(r));
	map_pass(p, &u, &o.map, &warm, &r);
	uint64_t warm_allocs = n_allocs - w_a0;

	memset(&r, 0, sizeof(r));
	r.warm_allocs = warm_allocs;
	u.samples = 0;
	uint64_t a0 = n_allocs;
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		map_pass(p, &u, &o.map, pl, &r);
		r.wall = now_s(CLOCK_MONOTONIC) - w0;
	} while (r.wall < opt_seconds);
	r.cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.allocs = n_allocs - a0;
	r.samples = u.samples;
	pf_mapper_free(u.m);
	pf_parser_free(p);

	char mode[40];
	snprintf(mode, sizeof(mode), "parse+map/%s", pf_schema_name(schema));
	print_result(pl->name, mode, &r);
	return r;
}

/* ---- gzip of the line protocol ---- */

#define GZ_BATCH ((size_t)1 << 20) /* the writer's default max batch bytes */

/* The whole line protocol of one pass over pl (untimed). */
static void collect_lp(const payload *pl, enum pf_schema schema, pf_buf *all, uint64_t *samples)
{
	pf_pipeline_opts o = pipeline_opts(pl, schema);
	pf_buf_init(all, (size_t)4 << 30);
	pf_pipeline *pp = pf_pipeline_new(&o, all, on_msg, NULL);
	if (pp == NULL)
		die("pf_pipeline_new failed");
	*samples = 0;
	for (size_t off = 0; off < pl->len; off += pl->body_len) {
		size_t blen = pl->len - off < pl->body_len ? pl->len - off : pl->body_len;
		pf_pipeline_reset(pp, pl->fmt, NOW_NS);
		pf_pipeline_stats s0 = *pf_pipeline_get_stats(pp);
		feed_checked(pf_pipeline_feed(pp, pl->data + off, blen), "pf_pipeline_feed");
		feed_checked(pf_pipeline_finish(pp), "pf_pipeline_finish");
		*samples += pf_pipeline_get_stats(pp)->parse.samples - s0.parse.samples;
	}
	pf_pipeline_free(pp);
}

/* Batches of at most GZ_BATCH bytes cut after a newline, as the writer's
 * batcher cuts them; each compressed into a new buffer (freed here, as
 * the writer frees a batch once sent). */
static void gzip_pass(pf_gzip *z, const pf_buf *lp, result *r)
{
	for (size_t off = 0; off < lp->len;) {
		size_t n = lp->len - off;
		if (n > GZ_BATCH) {
			n = GZ_BATCH;
			while (n > 1 && lp->data[off + n - 1] != '\n')
				n--;
		}
		size_t zl = 0;
		char *zd = pf_gzip_compress(z, lp->data + off, n, &zl);
		if (zd == NULL)
			die("pf_gzip_compress failed");
		free(zd);
		r->out_bytes += zl;
		r->bytes += n;
		r->bodies++;
		off += n;
	}
}

static result bench_gzip(const payload *pl, const pf_buf *lp, uint64_t samples, enum pf_schema schema, int level)
{
	uint64_t w_a0 = n_allocs;
	pf_gzip *z = pf_gzip_new(level);
	if (z == NULL)
		die("pf_gzip_new failed");
	pf_buf one = *lp;
	if (one.len > GZ_BATCH)
		one.len = GZ_BATCH;
	result r;
	memset(&r, 0, sizeof(r));
	gzip_pass(z, &one, &r);
	uint64_t warm_allocs = n_allocs - w_a0;

	memset(&r, 0, sizeof(r));
	r.warm_allocs = warm_allocs;
	uint64_t a0 = n_allocs, passes = 0;
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		gzip_pass(z, lp, &r);
		passes++;
		r.wall = now_s(CLOCK_MONOTONIC) - w0;
	} while (r.wall < opt_seconds);
	r.cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.allocs = n_allocs - a0;
	r.samples = samples * passes;
	r.in_bytes = pl->len * passes;
	pf_gzip_free(z);

	char mode[40];
	snprintf(mode, sizeof(mode), "gzip-%d/%s", level, pf_schema_name(schema));
	print_result(pl->name, mode, &r);
	return r;
}

/* ---- each stage alone ---- */

typedef struct stage_row {
	char payload[64], schema[24];
	result parse, map, pipe, gz1, gz6;
	int have_parse, have_map, have_pipe, have_gz;
} stage_row;

/* ns per sample and MB/s (of the stage's input bytes) from CPU time,
 * or "-" when a difference came out negative (noise). */
static void stage_cell(double cpu, uint64_t samples, uint64_t bytes, char *out, size_t cap)
{
	if (cpu <= 0 || samples == 0)
		snprintf(out, cap, "%s", "-");
	else
		snprintf(out, cap, "%.1f ns %.0f MB/s", cpu * 1e9 / (double)samples, (double)bytes / 1e6 / cpu);
}

static void print_stages(const stage_row *rows, size_t n)
{
	printf("\nstages alone (CPU time; map = parse+map - parse, encode = pipeline - parse+map, "
	       "scaled per sample; MB/s of exposition input, gzip: of line protocol input)\n");
	if (!opt_no_direct)
		printf("(the pipeline writes common 0.0.4 lines the direct way, without the mapper and the "
		       "encoder: encode is then what is left of them, not the encoder alone; see --no-direct)\n");
	printf("%-16s %-14s %-22s %-22s %-22s %-22s %-22s %-22s\n", "payload", "schema", "parse", "map", "encode",
	       "parse+map+encode", "gzip-1", "gzip-6");
	for (size_t i = 0; i < n; i++) {
		const stage_row *s = &rows[i];
		char c[6][64];
		for (int k = 0; k < 6; k++)
			snprintf(c[k], sizeof c[k], "-");
		/* Per sample first, since the runs differ in length. */
		double ps = s->have_parse && s->parse.samples ? s->parse.cpu / (double)s->parse.samples : 0;
		double ms = s->have_map && s->map.samples ? s->map.cpu / (double)s->map.samples : 0;
		double es = s->have_pipe && s->pipe.samples ? s->pipe.cpu / (double)s->pipe.samples : 0;
		double bps = s->have_parse && s->parse.samples ? (double)s->parse.bytes / (double)s->parse.samples : 0;
		const uint64_t M = 1000000;
		if (s->have_parse)
			stage_cell(ps * M, M, (uint64_t)(bps * M), c[0], sizeof c[0]);
		if (s->have_parse && s->have_map)
			stage_cell((ms - ps) * M, M, (uint64_t)(bps * M), c[1], sizeof c[1]);
		if (s->have_map && s->have_pipe)
			stage_cell((es - ms) * M, M, (uint64_t)(bps * M), c[2], sizeof c[2]);
		if (s->have_pipe)
			stage_cell(s->pipe.cpu, s->pipe.samples, s->pipe.bytes, c[3], sizeof c[3]);
		if (s->have_gz) {
			stage_cell(s->gz1.cpu, s->gz1.samples, s->gz1.bytes, c[4], sizeof c[4]);
			stage_cell(s->gz6.cpu, s->gz6.samples, s->gz6.bytes, c[5], sizeof c[5]);
		}
		printf("%-16s %-14s %-22s %-22s %-22s %-22s %-22s %-22s\n", s->payload, s->schema,
		       c[0], c[1], c[2], c[3], c[4], c[5]);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pfbench [options]\n"
		"  --payload FILE     exposition file to repeat (default $PF_CONFORMANCE/payloads/node_exporter.txt)\n"
		"  --format F         prometheus (default) or openmetrics, for --payload\n"
		"  --mb N             size of each payload in MB (10^6 bytes), default 100\n"
		"  --schema S         telegraf-v1, telegraf-v2, influxdb-prom or all (default all)\n"
		"  --seconds S        repeat each case until S seconds have passed (default 0: one pass)\n"
		"  --case C           file, synth-gauge, synth-histogram or all (default all)\n"
		"  --mode M           parse, map, pipeline, gzip or all (default all); map is parse + map,\n"
		"                     gzip compresses the pipeline's output at levels 1 and 6\n"
		"  --chunk BYTES      feed size (default 65536)\n"
		"  --tags             add the tags a scrape adds (host, url), as the daemon does\n"
		"  --no-direct        the pipeline without the direct way (direct.h): every sample through\n"
		"                     the mapper and the encoder, as parse+map has it; the stages' table is\n"
		"                     then exact\n");
}

static const char *need_arg(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "pfbench: %s needs a value\n", argv[*i]);
		usage(stderr);
		exit(2);
	}
	return argv[++*i];
}

static double num_arg(const char *s, const char *opt)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "pfbench: %s: not a number: %s\n", opt, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *payload_path = NULL, *schema_s = "all", *case_s = "all", *mode_s = "all";
	enum pf_format fmt = PF_FORMAT_PROMETHEUS;
	double mb = 100;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--payload") == 0) {
			payload_path = need_arg(argc, argv, &i);
		} else if (strcmp(a, "--format") == 0) {
			const char *f = need_arg(argc, argv, &i);
			if (strcmp(f, "prometheus") == 0)
				fmt = PF_FORMAT_PROMETHEUS;
			else if (strcmp(f, "openmetrics") == 0)
				fmt = PF_FORMAT_OPENMETRICS;
			else {
				fprintf(stderr, "pfbench: unknown format %s\n", f);
				return 2;
			}
		} else if (strcmp(a, "--mb") == 0) {
			mb = num_arg(need_arg(argc, argv, &i), a);
		} else if (strcmp(a, "--schema") == 0) {
			schema_s = need_arg(argc, argv, &i);
		} else if (strcmp(a, "--seconds") == 0) {
			opt_seconds = num_arg(need_arg(argc, argv, &i), a);
		} else if (strcmp(a, "--case") == 0) {
			case_s = need_arg(argc, argv, &i);
		} else if (strcmp(a, "--mode") == 0) {
			mode_s = need_arg(argc, argv, &i);
		} else if (strcmp(a, "--chunk") == 0) {
			opt_chunk = (size_t)num_arg(need_arg(argc, argv, &i), a);
			if (opt_chunk == 0) {
				fprintf(stderr, "pfbench: --chunk must be positive\n");
				return 2;
			}
		} else if (strcmp(a, "--tags") == 0) {
			opt_tags = 1;
		} else if (strcmp(a, "--no-direct") == 0) {
			opt_no_direct = 1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "pfbench: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}

	enum pf_schema schemas[3];
	size_t nschemas = 0;
	if (strcmp(schema_s, "all") == 0) {
		schemas[0] = PF_SCHEMA_TELEGRAF_V1;
		schemas[1] = PF_SCHEMA_TELEGRAF_V2;
		schemas[2] = PF_SCHEMA_INFLUXDB_PROM;
		nschemas = 3;
	} else if (pf_schema_parse(schema_s, &schemas[0]) == 0) {
		nschemas = 1;
	} else {
		fprintf(stderr, "pfbench: unknown schema %s\n", schema_s);
		return 2;
	}
	int do_parse = strcmp(mode_s, "all") == 0 || strcmp(mode_s, "parse") == 0;
	int do_pipe = strcmp(mode_s, "all") == 0 || strcmp(mode_s, "pipeline") == 0;
	int do_map = strcmp(mode_s, "all") == 0 || strcmp(mode_s, "map") == 0;
	int do_gz = strcmp(mode_s, "all") == 0 || strcmp(mode_s, "gzip") == 0;
	if (!do_parse && !do_pipe && !do_map && !do_gz) {
		fprintf(stderr, "pfbench: unknown mode %s\n", mode_s);
		return 2;
	}
	int all = strcmp(case_s, "all") == 0;
	int do_file = all || strcmp(case_s, "file") == 0;
	int do_gauge = all || strcmp(case_s, "synth-gauge") == 0;
	int do_histo = all || strcmp(case_s, "synth-histogram") == 0;
	if (!do_file && !do_gauge && !do_histo) {
		fprintf(stderr, "pfbench: unknown case %s\n", case_s);
		return 2;
	}

	char defpath[4096];
	if (payload_path == NULL) {
		const char *conf = getenv("PF_CONFORMANCE");
		snprintf(defpath, sizeof(defpath), "%s/payloads/node_exporter.txt",
			 conf && *conf ? conf : PF_BENCH_CONFORMANCE);
		payload_path = defpath;
	}

	payload pls[3];
	size_t npl = 0;
	if (do_file)
		make_repeated(&pls[npl++], payload_path, fmt, mb);
	if (do_gauge)
		make_synth_gauge(&pls[npl++], mb);
	if (do_histo)
		make_synth_histo(&pls[npl++], mb);

	printf("pfbench: chunk %zu bytes, %s%.0f MB per payload, MB = 10^6 bytes\n", opt_chunk,
	       opt_seconds > 0 ? "repeated for at least the given seconds, " : "", mb);
	print_header();
	stage_row rows[9];
	size_t nrows = 0;
	for (size_t i = 0; i < npl; i++) {
		result pr;
		memset(&pr, 0, sizeof(pr));
		if (do_parse)
			pr = bench_parse(&pls[i]);
		for (size_t s = 0; s < nschemas; s++) {
			stage_row *row = &rows[nrows++];
			memset(row, 0, sizeof(*row));
			snprintf(row->payload, sizeof row->payload, "%.60s", pls[i].name);
			snprintf(row->schema, sizeof row->schema, "%.20s", pf_schema_name(schemas[s]));
			row->parse = pr;
			row->have_parse = do_parse;
			if (do_map) {
				row->map = bench_map(&pls[i], schemas[s]);
				row->have_map = 1;
			}
			if (do_pipe) {
				row->pipe = bench_pipeline(&pls[i], schemas[s]);
				row->have_pipe = 1;
			}
			if (do_gz) {
				pf_buf lp;
				uint64_t smp;
				collect_lp(&pls[i], schemas[s], &lp, &smp);
				row->gz1 = bench_gzip(&pls[i], &lp, smp, schemas[s], 1);
				row->gz6 = bench_gzip(&pls[i], &lp, smp, schemas[s], 6);
				row->have_gz = 1;
				pf_buf_free(&lp);
			}
		}
		free(pls[i].data);
	}
	print_stages(rows, nrows);
	if (n_msgs > 0)
		fprintf(stderr, "pfbench: %" PRIu64 " parse/encode messages (the first 3 shown): "
			"numbers of a payload with errors are suspect\n", n_msgs);
	return 0;
}
