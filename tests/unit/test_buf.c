/*
 * test_buf.c: unit test of the capped byte buffer (src/buf.c).
 *
 * What the rest of promflux leans on: an append past the cap fails with
 * -E2BIG and leaves the content exactly as it was (so a caller can report
 * "too large" and still use what it has), the content stays NUL-terminated,
 * and reserve/commit lets a writer format in place.
 */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                          \
			failures++;                                        \
		}                                                          \
	} while (0)

static int content_is(const pf_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len != n)
		return 0;
	if (n == 0)
		return 1;
	return memcmp(b->data, s, n) == 0 && b->data[n] == '\0';
}

static void test_init_allocates_nothing(void)
{
	pf_buf b;
	pf_buf_init(&b, 100);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.max == 100);
	pf_buf_free(&b);
	pf_buf_free(&b); /* a freed buffer may be freed again */
	CHECK(b.data == NULL && b.len == 0);
}

static void test_append_and_terminate(void)
{
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	CHECK(pf_buf_append(&b, "abc", 3) == 0);
	CHECK(pf_buf_putc(&b, 'd') == 0);
	CHECK(pf_buf_puts(&b, "ef") == 0);
	CHECK(pf_buf_append(&b, "", 0) == 0);
	CHECK(content_is(&b, "abcdef"));
	/* Growth past the first allocation keeps earlier content. */
	char big[5000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	CHECK(pf_buf_append(&b, big, sizeof big) == 0);
	CHECK(b.len == 6 + sizeof big);
	CHECK(memcmp(b.data, "abcdef", 6) == 0);
	CHECK(memcmp(b.data + 6, big, sizeof big) == 0);
	CHECK(b.data[b.len] == '\0');
	CHECK(b.cap > b.len);
	pf_buf_reset(&b);
	CHECK(b.len == 0 && b.data != NULL);
	CHECK(pf_buf_puts(&b, "x") == 0 && content_is(&b, "x"));
	pf_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	/* Reusable after free, with the same cap. */
	CHECK(pf_buf_puts(&b, "again") == 0 && content_is(&b, "again"));
	pf_buf_free(&b);
}

static void test_cap_enforced(void)
{
	pf_buf b;
	pf_buf_init(&b, 10);
	CHECK(pf_buf_append(&b, "0123456", 7) == 0);
	/* 7 + 4 > 10: refused, content unchanged. */
	CHECK(pf_buf_append(&b, "abcd", 4) == -E2BIG);
	CHECK(content_is(&b, "0123456"));
	CHECK(pf_buf_puts(&b, "abcd") == -E2BIG);
	CHECK(content_is(&b, "0123456"));
	/* Exactly up to the cap is allowed. */
	CHECK(pf_buf_append(&b, "abc", 3) == 0);
	CHECK(content_is(&b, "0123456abc"));
	CHECK(b.len == b.max);
	/* Full: one more byte, by any path, is refused. */
	CHECK(pf_buf_putc(&b, 'z') == -E2BIG);
	CHECK(pf_buf_append(&b, "z", 1) == -E2BIG);
	CHECK(pf_buf_reserve(&b, 1) == NULL);
	CHECK(content_is(&b, "0123456abc"));
	/* An empty append at the cap is fine. */
	CHECK(pf_buf_append(&b, "", 0) == 0);
	/* A huge length must not wrap around the cap check. */
	CHECK(pf_buf_append(&b, "", (size_t)-1) == -E2BIG);
	CHECK(content_is(&b, "0123456abc"));
	pf_buf_reset(&b);
	CHECK(pf_buf_append(&b, "0123456789x", 11) == -E2BIG);
	CHECK(b.len == 0);
	pf_buf_free(&b);

	/* putc fills exactly to the cap and not one byte further. */
	pf_buf_init(&b, 300);
	size_t n = 0;
	while (pf_buf_putc(&b, 'p') == 0)
		n++;
	CHECK(n == 300);
	CHECK(b.len == 300 && b.data[300] == '\0');
	pf_buf_free(&b);

	/* A zero cap holds nothing. */
	pf_buf_init(&b, 0);
	CHECK(pf_buf_putc(&b, 'a') == -E2BIG);
	CHECK(b.len == 0);
	pf_buf_free(&b);
}

static void test_reserve_commit(void)
{
	pf_buf b;
	pf_buf_init(&b, 64);
	CHECK(pf_buf_puts(&b, "t=") == 0);
	char *p = pf_buf_reserve(&b, 32);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p == b.data + b.len);
		/* Nothing counted until commit. */
		CHECK(b.len == 2);
		int w = snprintf(p, 32, "%d", 12345);
		pf_buf_commit(&b, (size_t)w);
		CHECK(content_is(&b, "t=12345"));
	}
	/* Reserving more than the cap allows fails; the content stays. */
	CHECK(pf_buf_reserve(&b, 64 - 7 + 1) == NULL);
	CHECK(content_is(&b, "t=12345"));
	/* Reserving exactly up to the cap works; committing less is fine. */
	p = pf_buf_reserve(&b, 64 - 7);
	CHECK(p != NULL);
	if (p != NULL) {
		memset(p, 'x', 64 - 7);
		pf_buf_commit(&b, 3);
		CHECK(content_is(&b, "t=12345xxx"));
	}
	/* Reserve of 0 is allowed and writes nothing. */
	CHECK(pf_buf_reserve(&b, 0) != NULL);
	pf_buf_commit(&b, 0);
	CHECK(content_is(&b, "t=12345xxx"));
	pf_buf_free(&b);
}

int main(void)
{
	test_init_allocates_nothing();
	test_append_and_terminate();
	test_cap_enforced();
	test_reserve_commit();
	if (failures) {
		fprintf(stderr, "test_buf: %d checks failed\n", failures);
		return 1;
	}
	puts("test_buf: all checks passed");
	return 0;
}
