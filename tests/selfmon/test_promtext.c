/*
 * test_promtext.c: the Prometheus text writer (src/promtext.c), compared
 * byte for byte with the text Prometheus' own client libraries write
 * (client_golang's expfmt for the same families), plus escaping, special
 * floats, histogram buckets and the all-or-nothing rule on errors.
 */
#include "promtext.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,  \
				__LINE__, #cond);                               \
			failures++;                                             \
		}                                                               \
	} while (0)

static int is(const pf_buf *b, const char *want)
{
	size_t n = strlen(want);
	if (b->len == n && (n == 0 || memcmp(b->data, want, n) == 0))
		return 1;
	fprintf(stderr, "--- got (%zu bytes):\n%.*s--- want (%zu bytes):\n%s---\n", b->len,
		(int)b->len, b->data ? b->data : "", n, want);
	return 0;
}

static void test_family_and_samples(void)
{
	pf_buf b;
	pf_prom_label l[] = { { "target", "http://a:9100/metrics" }, { "result", "ok" } };

	pf_buf_init(&b, 1 << 20);
	CHECK(pf_prom_family(&b, "promflux_scrapes_total", PF_PROM_COUNTER,
			     "Scrapes by target and result.") == 0);
	CHECK(pf_prom_sample_u64(&b, "promflux_scrapes_total", NULL, l, 2, 42) == 0);
	CHECK(pf_prom_family(&b, "promflux_up", PF_PROM_GAUGE, NULL) == 0);
	CHECK(pf_prom_sample(&b, "promflux_up", NULL, NULL, 0, 1) == 0);
	CHECK(pf_prom_sample_i64(&b, "promflux_up", NULL, NULL, 0, -7) == 0);
	CHECK(is(&b, "# HELP promflux_scrapes_total Scrapes by target and result.\n"
		     "# TYPE promflux_scrapes_total counter\n"
		     "promflux_scrapes_total{target=\"http://a:9100/metrics\",result=\"ok\"} 42\n"
		     "# TYPE promflux_up gauge\n"
		     "promflux_up 1\n"
		     "promflux_up -7\n"));
	pf_buf_free(&b);
}

static void test_types(void)
{
	static const struct { enum pf_prom_type t; const char *s; } tt[] = {
		{ PF_PROM_COUNTER, "counter" }, { PF_PROM_GAUGE, "gauge" },
		{ PF_PROM_HISTOGRAM, "histogram" }, { PF_PROM_SUMMARY, "summary" },
		{ PF_PROM_UNTYPED, "untyped" },
	};
	char want[64];
	pf_buf b;

	pf_buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof tt / sizeof tt[0]; i++) {
		pf_buf_reset(&b);
		CHECK(pf_prom_family(&b, "x", tt[i].t, NULL) == 0);
		snprintf(want, sizeof want, "# TYPE x %s\n", tt[i].s);
		CHECK(is(&b, want));
	}
	pf_buf_reset(&b);
	CHECK(pf_prom_family(&b, "x", (enum pf_prom_type)99, NULL) == -EINVAL);
	CHECK(b.len == 0);
	pf_buf_free(&b);
}

static void test_escaping(void)
{
	pf_buf b;
	pf_prom_label l[] = { { "v", "a\\b\"c\nd'e\tf" } };
	pf_prom_label bad_utf8[] = { { "v", "x\xff\xc3(y\xc3\xa9" } };

	pf_buf_init(&b, 4096);
	/* HELP: backslash and newline escaped, a quote is not. */
	CHECK(pf_prom_family(&b, "m", PF_PROM_GAUGE, "a \\ b\nc \"q\"") == 0);
	CHECK(pf_prom_sample(&b, "m", NULL, l, 1, 0.5) == 0);
	CHECK(is(&b, "# HELP m a \\\\ b\\nc \"q\"\n"
		     "# TYPE m gauge\n"
		     "m{v=\"a\\\\b\\\"c\\nd'e\tf\"} 0.5\n"));
	/* Invalid UTF-8 becomes U+FFFD per byte; valid sequences stay. */
	pf_buf_reset(&b);
	CHECK(pf_prom_sample_u64(&b, "m", NULL, bad_utf8, 1, 1) == 0);
	CHECK(is(&b, "m{v=\"x\xef\xbf\xbd\xef\xbf\xbd(y\xc3\xa9\"} 1\n"));
	pf_buf_free(&b);
}

static void test_values(void)
{
	static const struct { double v; const char *s; } tv[] = {
		{ 0.0, "0" }, { -0.0, "-0" }, { 1.0, "1" }, { -3.0, "-3" },
		{ 1e6, "1000000" },  /* an integer, not 1e+06 */
		{ 9007199254740991.0, "9007199254740991" },
		{ 9007199254740992.0, "9.007199254740992e+15" },
		{ 1e21, "1e+21" }, { 0.1, "0.1" }, { 0.25, "0.25" }, { -1.5, "-1.5" },
		{ 1.0 / 3.0, "0.3333333333333333" }, { 1e-7, "1e-07" },
		{ 123456.789, "123456.789" }, { 5e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
	};
	char buf[PF_PROM_VALUE_MAX];
	pf_buf b;

	for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
		size_t n = pf_prom_fmt_value(buf, tv[i].v);
		CHECK(n == strlen(buf));
		if (strcmp(buf, tv[i].s) != 0) {
			fprintf(stderr, "value %.17g: got %s want %s\n", tv[i].v, buf, tv[i].s);
			failures++;
		}
		/* Round trip: the text reads back as the same double. */
		CHECK(strtod(buf, NULL) == tv[i].v);
	}
	pf_buf_init(&b, 4096);
	CHECK(pf_prom_sample(&b, "m", NULL, NULL, 0, NAN) == 0);
	CHECK(pf_prom_sample(&b, "m", NULL, NULL, 0, INFINITY) == 0);
	CHECK(pf_prom_sample(&b, "m", NULL, NULL, 0, -INFINITY) == 0);
	CHECK(pf_prom_sample_u64(&b, "m", NULL, NULL, 0, UINT64_MAX) == 0);
	CHECK(pf_prom_sample_i64(&b, "m", NULL, NULL, 0, INT64_MIN) == 0);
	CHECK(is(&b, "m NaN\nm +Inf\nm -Inf\nm 18446744073709551615\nm -9223372036854775808\n"));
	pf_buf_free(&b);
}

static void test_prepared_labels(void)
{
	pf_buf b, pre;
	pf_prom_label t[] = { { "job", "node" }, { "instance", "h\"1\":9100" } };
	pf_prom_label r[] = { { "result", "timeout" } };
	pf_str ps;

	pf_buf_init(&b, 4096);
	pf_buf_init(&pre, 4096);
	CHECK(pf_prom_labels_prepare(&pre, t, 2) == 0);
	CHECK(is(&pre, "job=\"node\",instance=\"h\\\"1\\\":9100\""));
	ps = (pf_str){ pre.data, pre.len };
	CHECK(pf_prom_sample_u64(&b, "s", &ps, r, 1, 3) == 0);
	CHECK(pf_prom_sample_u64(&b, "s", &ps, NULL, 0, 4) == 0);
	/* The same series written with every label escaped per sample. */
	CHECK(pf_prom_sample_u64(&b, "s", NULL, (pf_prom_label[]){ t[0], t[1], r[0] }, 3, 3) == 0);
	CHECK(is(&b, "s{job=\"node\",instance=\"h\\\"1\\\":9100\",result=\"timeout\"} 3\n"
		     "s{job=\"node\",instance=\"h\\\"1\\\":9100\"} 4\n"
		     "s{job=\"node\",instance=\"h\\\"1\\\":9100\",result=\"timeout\"} 3\n"));
	pf_buf_free(&b);
	pf_buf_free(&pre);
}

static void test_bad_names(void)
{
	pf_buf b;
	pf_prom_label ok[] = { { "a", "1" } };
	pf_prom_label bad[][1] = { { { "1a", "x" } }, { { "a:b", "x" } }, { { "__name__", "x" } },
				   { { "", "x" } }, { { "a-b", "x" } }, { { "a", NULL } } };

	pf_buf_init(&b, 4096);
	CHECK(pf_prom_sample(&b, "ok", NULL, ok, 1, 1) == 0);
	size_t len = b.len;
	CHECK(pf_prom_sample(&b, "1abc", NULL, NULL, 0, 1) == -EINVAL);
	CHECK(pf_prom_sample(&b, "a b", NULL, NULL, 0, 1) == -EINVAL);
	CHECK(pf_prom_sample(&b, "", NULL, NULL, 0, 1) == -EINVAL);
	CHECK(pf_prom_family(&b, "é", PF_PROM_GAUGE, NULL) == -EINVAL);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(pf_prom_sample(&b, "m", NULL, bad[i], 1, 1) == -EINVAL);
	CHECK(b.len == len);
	/* ':' is valid in metric names (recording rules), not in label names. */
	CHECK(pf_prom_sample(&b, "job:rate5m", NULL, NULL, 0, 1) == 0);
	pf_buf_free(&b);
}

static void test_cap(void)
{
	pf_buf b;
	pf_prom_label l[] = { { "a", "0123456789012345678901234567890123456789" } };
	pf_hist h;
	double bounds[] = { 1, 2, 3 };

	/* Room for the first line only: the second fails and leaves nothing. */
	pf_buf_init(&b, 70);
	CHECK(pf_prom_sample(&b, "m", NULL, l, 1, 1) == 0);
	size_t len = b.len;
	CHECK(len == strlen("m{a=\"0123456789012345678901234567890123456789\"} 1\n"));
	CHECK(pf_prom_sample(&b, "m", NULL, l, 1, 1) == -E2BIG);
	CHECK(b.len == len && b.data[len] == '\0');
	/* A histogram that does not fit is not written in part. */
	CHECK(pf_hist_init(&h, bounds, 3) == 0);
	pf_buf_reset(&b);
	CHECK(pf_prom_hist(&b, "h", NULL, NULL, 0, &h) == -E2BIG);
	CHECK(b.len == 0);
	pf_buf_free(&b);
}

static void test_histogram(void)
{
	pf_buf b;
	pf_hist h;
	double bounds[] = { 0.005, 0.1, 1, 10 };
	double obs[] = { 0.001, 0.005, 0.05, 0.1, 0.5, 0.7, 2, 100, NAN };
	pf_prom_label l[] = { { "output", "influx" } };

	CHECK(pf_hist_init(&h, bounds, 4) == 0);
	for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
		pf_hist_observe(&h, obs[i]);
	CHECK(h.count == 8); /* NaN ignored */
	pf_buf_init(&b, 4096);
	CHECK(pf_prom_family(&b, "w_seconds", PF_PROM_HISTOGRAM, "Write latency.") == 0);
	CHECK(pf_prom_hist(&b, "w_seconds", NULL, l, 1, &h) == 0);
	/* le is inclusive: 0.005 and 0.1 fall in their own buckets. */
	CHECK(is(&b, "# HELP w_seconds Write latency.\n"
		     "# TYPE w_seconds histogram\n"
		     "w_seconds_bucket{output=\"influx\",le=\"0.005\"} 2\n"
		     "w_seconds_bucket{output=\"influx\",le=\"0.1\"} 4\n"
		     "w_seconds_bucket{output=\"influx\",le=\"1\"} 6\n"
		     "w_seconds_bucket{output=\"influx\",le=\"10\"} 7\n"
		     "w_seconds_bucket{output=\"influx\",le=\"+Inf\"} 8\n"
		     "w_seconds_sum{output=\"influx\"} 103.356\n"
		     "w_seconds_count{output=\"influx\"} 8\n"));

	/* No labels at all: the le label alone. No bounds: +Inf only. */
	CHECK(pf_hist_init(&h, NULL, 0) == 0);
	pf_hist_observe(&h, 3);
	pf_buf_reset(&b);
	CHECK(pf_prom_hist(&b, "x", NULL, NULL, 0, &h) == 0);
	CHECK(is(&b, "x_bucket{le=\"+Inf\"} 1\nx_sum 3\nx_count 1\n"));

	/* Refused bounds and labels. */
	CHECK(pf_hist_init(&h, (double[]){ 1, 1 }, 2) == -EINVAL);
	CHECK(pf_hist_init(&h, (double[]){ 2, 1 }, 2) == -EINVAL);
	CHECK(pf_hist_init(&h, (double[]){ 1, INFINITY }, 2) == -EINVAL);
	CHECK(pf_hist_init(&h, (double[]){ NAN }, 1) == -EINVAL);
	CHECK(pf_hist_init(&h, bounds, PF_HIST_MAX_BOUNDS + 1) == -EINVAL);
	CHECK(pf_hist_init(&h, bounds, 1) == 0);
	pf_buf_reset(&b);
	CHECK(pf_prom_hist(&b, "x", NULL, (pf_prom_label[]){ { "le", "1" } }, 1, &h) == -EINVAL);
	CHECK(b.len == 0);
	pf_buf_free(&b);
}

static void test_histogram_many(void)
{
	/* Cumulative counts agree with a direct count for each bound. */
	double bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128 };
	pf_hist h;
	uint64_t want[9] = { 0 };
	unsigned seed = 12345;

	CHECK(pf_hist_init(&h, bounds, 8) == 0);
	for (int i = 0; i < 10000; i++) {
		seed = seed * 1103515245u + 12345u;
		double v = (double)(seed >> 8 & 0xffff) / 300.0;
		pf_hist_observe(&h, v);
		for (int k = 0; k < 8; k++)
			if (v <= bounds[k])
				want[k]++;
		want[8]++;
	}
	uint64_t cum = 0;
	for (int k = 0; k <= 8; k++) {
		cum += h.counts[k];
		CHECK(cum == want[k]);
	}
	CHECK(h.count == 10000);
}

int main(void)
{
	test_family_and_samples();
	test_types();
	test_escaping();
	test_values();
	test_prepared_labels();
	test_bad_names();
	test_cap();
	test_histogram();
	test_histogram_many();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("promtext: all passed\n");
	return 0;
}
