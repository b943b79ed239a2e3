/*
 * test_retry.c: unit test of backoff and Retry-After (src/retry.c).
 *
 * Bounds: the n-th wait lies in [base, min(cap, base * 2^(n-1))], it
 * grows (its ceiling doubles), it is jittered (not one value), a success
 * starts over, and a Retry-After is a floor, also above the cap, up to
 * PF_RETRY_AFTER_MAX. Retry-After values: seconds and the three HTTP-date
 * forms, checked against dates computed by hand; garbage is refused.
 */
#include "retry.h"

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                      \
		}                                                                        \
	} while (0)

static void test_bounds(void)
{
	for (uint64_t seed = 1; seed < 50; seed++) {
		pf_backoff b;
		pf_backoff_init(&b, 100, 30000, seed);
		uint64_t ceiling = 100;
		for (int n = 1; n <= 20; n++) {
			uint64_t w = pf_backoff_next(&b, 0);
			CHECK(w >= 100 && w <= ceiling);
			ceiling = ceiling * 2 > 30000 ? 30000 : ceiling * 2;
		}
	}
	/* the first wait is the base */
	pf_backoff b;
	pf_backoff_init(&b, 100, 30000, 3);
	CHECK(pf_backoff_next(&b, 0) == 100);
	/* a cap below the base: every wait is the cap */
	pf_backoff_init(&b, 100, 40, 3);
	for (int i = 0; i < 5; i++)
		CHECK(pf_backoff_next(&b, 0) == 40);
}

static void test_growth_and_jitter(void)
{
	/* the 9th wait is uniform on [100, 25600] ms: the mean of 200 draws
	 * is near 12850 (its standard error ~520), and the draws differ */
	uint64_t sum = 0, minw = UINT64_MAX, maxw = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		pf_backoff b;
		pf_backoff_init(&b, 100, 30000, seed);
		uint64_t w = 0;
		for (int n = 0; n < 9; n++)
			w = pf_backoff_next(&b, 0);
		sum += w;
		if (w < minw)
			minw = w;
		if (w > maxw)
			maxw = w;
	}
	CHECK(sum / 200 > 10500 && sum / 200 < 15200);
	CHECK(maxw > minw + 5000);
	CHECK(maxw <= 25600 && minw >= 100);
}

static void test_reset(void)
{
	pf_backoff b;
	pf_backoff_init(&b, 100, 30000, 9);
	for (int i = 0; i < 10; i++)
		pf_backoff_next(&b, 0);
	pf_backoff_reset(&b);
	CHECK(pf_backoff_next(&b, 0) == 100);
	CHECK(pf_backoff_next(&b, 0) <= 200);
}

static void test_retry_after_floor(void)
{
	pf_backoff b;
	pf_backoff_init(&b, 100, 30000, 5);
	CHECK(pf_backoff_next(&b, 2000) >= 2000);
	/* above the cap: still honoured */
	CHECK(pf_backoff_next(&b, 120000) == 120000);
	/* above the sanity limit: cut to it */
	CHECK(pf_backoff_next(&b, (uint64_t)PF_RETRY_AFTER_MAX * 10) == PF_RETRY_AFTER_MAX);
}

static void test_parse(void)
{
	uint64_t ms = 1;
	/* 1994-11-06 08:49:37 UTC = 784111777 */
	const int64_t t = 784111777;
	CHECK(pf_retry_after_parse("120", t, &ms) == 0 && ms == 120000);
	CHECK(pf_retry_after_parse(" 0 ", t, &ms) == 0 && ms == 0);
	CHECK(pf_retry_after_parse("99999999999999999999", t, &ms) == 0 && ms == PF_RETRY_AFTER_MAX);
	CHECK(pf_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t - 30, &ms) == 0 && ms == 30000);
	CHECK(pf_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", t - 5, &ms) == 0 && ms == 5000);
	CHECK(pf_retry_after_parse("Sun Nov  6 08:49:37 1994", t - 1, &ms) == 0 && ms == 1000);
	/* in the past: no wait */
	CHECK(pf_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t + 100, &ms) == 0 && ms == 0);
	/* a leap day after 2038: 2040-02-29 00:00:00 UTC = 2214086400 */
	CHECK(pf_retry_after_parse("Wed, 29 Feb 2040 00:00:00 GMT", 2214086400 - 7, &ms) == 0 && ms == 7000);
	const char *bad[] = { "", "soon", "-5", "1.5", "12 s", "Sun, 06 Nov 1994 08:49:37 PST",
			      "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
			      "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994", "Sun, 06 Nov 1994 08:49:37 GMT x" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ms = 42;
		CHECK(pf_retry_after_parse(bad[i], t, &ms) == -1);
		if (pf_retry_after_parse(bad[i], t, &ms) != -1)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
	}
}

int main(void)
{
	test_bounds();
	test_growth_and_jitter();
	test_reset();
	test_retry_after_floor();
	test_parse();
	if (failures) {
		fprintf(stderr, "test_retry: %d failures\n", failures);
		return 1;
	}
	printf("test_retry: ok\n");
	return 0;
}
