/*
 * test_queue.c: unit test of the per-output batch queue (src/queue.c).
 *
 * What the writer leans on: batches are cut at batch_lines and batch_bytes
 * on line boundaries and hold exactly the lines that went in, in order;
 * the byte limit drops the OLDEST waiting batch and counts it (never a
 * batch in flight, never the open one); a requeued batch goes back to its
 * place whatever order retries come back in; a split gives two halves in
 * place of the whole; the stats add up after every operation. A scrape's
 * buffer taken as a part of a batch (pf_queue_append_buf) changes none of
 * that: the same batches, bytes and counters as a copy.
 */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int failures;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                      \
		}                                                                        \
	} while (0)

/* The stats agree with each other. */
static void consistent(const pf_queue *q)
{
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(s->bytes == s->waiting_bytes + s->open_bytes + s->inflight_bytes);
}

static pf_queue *mk(size_t lines, size_t bytes, uint64_t limit)
{
	pf_queue_opts o = { .batch_lines = lines, .batch_bytes = bytes, .limit = limit };
	pf_queue *q = pf_queue_new(&o);
	CHECK(q != NULL);
	return q;
}

/* "m,i=N v=1\n" for N in [from, to) */
static char *lines_text(int from, int to, size_t *n)
{
	size_t cap = (size_t)(to - from) * 32 + 1, len = 0;
	char *s = malloc(cap);
	for (int i = from; i < to; i++)
		len += (size_t)snprintf(s + len, cap - len, "m,i=%d v=1\n", i);
	*n = len;
	return s;
}

/* Index of the first line of b ("m,i=N ..."). */
static int first_index(const pf_batch *b)
{
	return atoi(b->data + 4);
}

static size_t count_nl(const pf_batch *b)
{
	size_t c = 0;
	for (size_t i = 0; i < b->len; i++)
		c += b->data[i] == '\n';
	return c;
}

static void test_bad_options(void)
{
	pf_queue_opts o = { .batch_lines = 0, .batch_bytes = 10, .limit = 10 };
	CHECK(pf_queue_new(&o) == NULL);
	o.batch_lines = 1;
	o.batch_bytes = 0;
	CHECK(pf_queue_new(&o) == NULL);
	o.batch_bytes = 10;
	o.limit = 0;
	CHECK(pf_queue_new(&o) == NULL);
	pf_queue_free(NULL);
}

static void test_cut_by_lines(void)
{
	pf_queue *q = mk(10, 1 << 20, 1 << 30);
	size_t n;
	char *t = lines_text(0, 25, &n);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(s->waiting_batches == 2 && s->waiting_lines == 20 && s->open_lines == 5);
	consistent(q);
	pf_queue_free(q);
	/* the batches hold the input, in order, each whole lines */
	q = mk(10, 1 << 20, 1 << 30);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	pf_queue_cut(q);
	s = pf_queue_get_stats(q);
	CHECK(s->waiting_batches == 3 && s->open_lines == 0);
	size_t off = 0;
	int want_first[] = { 0, 10, 20 };
	size_t want_lines[] = { 10, 10, 5 };
	for (int i = 0; i < 3; i++) {
		pf_batch *b = pf_queue_pop(q);
		CHECK(b != NULL);
		if (!b)
			break;
		CHECK(b->lines == want_lines[i] && count_nl(b) == b->lines);
		CHECK(first_index(b) == want_first[i]);
		CHECK(memcmp(b->data, t + off, b->len) == 0);
		off += b->len;
		consistent(q);
		pf_queue_done(q, b);
	}
	CHECK(off == n);
	CHECK(pf_queue_pop(q) == NULL);
	s = pf_queue_get_stats(q);
	CHECK(s->bytes == 0 && s->inflight_batches == 0);
	free(t);
	pf_queue_free(q);
}

/* Delivered full batches are filled again (no new allocation, no growth),
 * and what they carry the second time is the new input, whole. */
static void test_recycle(void)
{
	pf_queue *q = mk(10, 1 << 20, 1 << 30);
	size_t n, m;
	char *t = lines_text(100, 120, &n); /* lines of 12 bytes */
	char *u = lines_text(120, 150, &m);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	pf_batch *b1 = pf_queue_pop(q), *b2 = pf_queue_pop(q);
	CHECK(b1 != NULL && b2 != NULL);
	if (!b1 || !b2)
		return;
	CHECK(b1->cap >= b1->len && b2->cap >= b2->len);
	pf_queue_done(q, b1);
	pf_queue_done(q, b2);
	CHECK(pf_queue_append(q, u, m, 0) == 0);
	pf_batch *c1 = pf_queue_pop(q), *c2 = pf_queue_pop(q);
	CHECK(c1 != NULL && c2 != NULL);
	if (!c1 || !c2)
		return;
	/* the two spares, last in first out */
	CHECK(c1 == b2 && c2 == b1);
	CHECK(first_index(c1) == 120 && first_index(c2) == 130);
	CHECK(c1->lines == 10 && count_nl(c1) == 10 && memcmp(c1->data, u, c1->len) == 0);
	CHECK(c2->lines == 10 && memcmp(c2->data, u + c1->len, c2->len) == 0);
	CHECK(c1->seq < c2->seq && c1->cap >= c1->len);
	consistent(q);
	pf_queue_done(q, c1);
	pf_queue_done(q, c2);
	/* The open third batch (a new one: both spares were in use), cut by
	 * time and freed (two spares already); then a spare carries one line. */
	pf_queue_cut(q);
	pf_batch *d = pf_queue_pop(q);
	CHECK(d != NULL && d->lines == 10 && first_index(d) == 140);
	if (d)
		pf_queue_done(q, d);
	CHECK(pf_queue_append(q, "m,i=7 v=1\n", 10, 0) == 0);
	pf_queue_cut(q);
	pf_batch *e = pf_queue_pop(q);
	CHECK(e != NULL && (e == b1 || e == b2) && e->lines == 1 && e->len == 10 && memcmp(e->data, "m,i=7 v=1\n", 10) == 0);
	if (e)
		pf_queue_done(q, e);
	CHECK(pf_queue_get_stats(q)->bytes == 0);
	free(t);
	free(u);
	pf_queue_free(q); /* frees the spares (ASan/valgrind: no leak) */
}

static void test_cut_by_bytes(void)
{
	/* every line is 10 or 11 bytes: "m,i=5 v=1\n" */
	pf_queue *q = mk(1000, 35, 1 << 30);
	size_t n;
	char *t = lines_text(0, 10, &n); /* 10 bytes each */
	/* appended in pieces, as scrapes come */
	CHECK(pf_queue_append(q, t, 30, 0) == 0);
	CHECK(pf_queue_append(q, t + 30, n - 30, 0) == 0);
	pf_queue_cut(q);
	size_t total = 0, lines = 0;
	pf_batch *b;
	while ((b = pf_queue_pop(q)) != NULL) {
		CHECK(b->len <= 35 && b->len > 0);
		CHECK(b->lines == 3 || b->lines == 1);
		CHECK(b->data[b->len - 1] == '\n' && count_nl(b) == b->lines);
		CHECK(memcmp(b->data, t + total, b->len) == 0);
		total += b->len;
		lines += b->lines;
		pf_queue_done(q, b);
	}
	CHECK(total == n && lines == 10);
	free(t);
	pf_queue_free(q);
}

static void test_long_line_and_newlines(void)
{
	pf_queue *q = mk(100, 16, 1 << 30);
	/* a line longer than batch_bytes travels alone; a last line
	 * without '\n' gets one; empty lines vanish */
	const char *in = "a v=1\n\n0123456789abcdefghij v=2\nb v=3";
	CHECK(pf_queue_append(q, in, strlen(in), 0) == 0);
	pf_queue_cut(q);
	pf_batch *b1 = pf_queue_pop(q), *b2 = pf_queue_pop(q), *b3 = pf_queue_pop(q);
	CHECK(b1 && b2 && b3 && pf_queue_pop(q) == NULL);
	if (b1 && b2 && b3) {
		CHECK(b1->lines == 1 && b1->len == 6 && memcmp(b1->data, "a v=1\n", 6) == 0);
		CHECK(b2->lines == 1 && b2->len == 25 && memcmp(b2->data, "0123456789abcdefghij v=2\n", 25) == 0);
		CHECK(b3->lines == 1 && b3->len == 6 && memcmp(b3->data, "b v=3\n", 6) == 0);
		pf_queue_done(q, b1);
		pf_queue_done(q, b2);
		pf_queue_done(q, b3);
	}
	/* nothing but newlines: nothing queued */
	CHECK(pf_queue_append(q, "\n\n\n", 3, 0) == 0);
	pf_queue_cut(q);
	CHECK(pf_queue_pop(q) == NULL);
	CHECK(pf_queue_get_stats(q)->bytes == 0);
	pf_queue_free(q);
}

static void test_limit_drops_oldest(void)
{
	/* batches of 2 lines (20 bytes); limit 65 bytes */
	pf_queue *q = mk(2, 1000, 65);
	size_t n;
	char *t = lines_text(0, 4, &n); /* 40 bytes: two batches */
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(s->waiting_batches == 2 && s->dropped_batches == 0);
	/* one in flight: it counts, but it is never dropped */
	pf_batch *fly = pf_queue_pop(q);
	CHECK(fly && first_index(fly) == 0);
	free(t);
	t = lines_text(4, 8, &n); /* 40 more: 80 held -> drop the oldest waiting (i=2,3) */
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	consistent(q);
	CHECK(s->dropped_batches == 1 && s->dropped_lines == 2);
	CHECK(s->bytes <= 65);
	CHECK(s->inflight_batches == 1);
	pf_batch *b = pf_queue_pop(q);
	CHECK(b && first_index(b) == 4); /* 2,3 were the oldest waiting */
	pf_queue_done(q, b);
	/* the flying one comes back: it is now the oldest */
	pf_queue_requeue(q, fly);
	consistent(q);
	b = pf_queue_pop(q);
	CHECK(b && first_index(b) == 0);
	pf_queue_done(q, b);
	b = pf_queue_pop(q);
	CHECK(b && first_index(b) == 6);
	pf_queue_done(q, b);
	CHECK(s->bytes == 0 && s->dropped_batches == 1);
	free(t);
	pf_queue_free(q);
}

static int g_evicted;
static int evict_take(void *ud, pf_batch *b)
{
	(void)ud;
	g_evicted += (int)b->lines;
	free(b);
	return 0;
}

static void test_evict_hook(void)
{
	pf_queue_opts o = { .batch_lines = 1, .batch_bytes = 100, .limit = 25, .evict = evict_take };
	pf_queue *q = pf_queue_new(&o);
	size_t n;
	char *t = lines_text(0, 5, &n); /* 5 batches of 10 bytes, 2 fit */
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(g_evicted == 3 && s->evicted_batches == 3 && s->evicted_lines == 3 && s->dropped_batches == 0);
	CHECK(s->waiting_batches == 2);
	pf_batch *b = pf_queue_pop(q);
	CHECK(b && first_index(b) == 3);
	pf_queue_done(q, b);
	free(t);
	pf_queue_free(q);
}

static void test_requeue_order(void)
{
	pf_queue *q = mk(1, 1000, 1 << 20);
	size_t n;
	char *t = lines_text(0, 6, &n);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	pf_batch *a = pf_queue_pop(q), *b = pf_queue_pop(q), *c = pf_queue_pop(q);
	CHECK(a && b && c);
	/* retries come back out of order: c, a, b */
	pf_queue_requeue(q, c);
	pf_queue_requeue(q, a);
	pf_queue_requeue(q, b);
	consistent(q);
	for (int i = 0; i < 6; i++) {
		pf_batch *x = pf_queue_pop(q);
		CHECK(x && first_index(x) == i);
		if (x)
			pf_queue_done(q, x);
	}
	free(t);
	pf_queue_free(q);
}

static void test_split(void)
{
	pf_queue *q = mk(5, 1000, 1 << 20);
	size_t n;
	char *t = lines_text(0, 10, &n);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	pf_batch *a = pf_queue_pop(q);
	CHECK(a && a->lines == 5);
	size_t alen = a->len;
	CHECK(pf_queue_split(q, a) == 0);
	consistent(q);
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(s->inflight_batches == 0 && s->waiting_batches == 3 && s->waiting_lines == 10);
	pf_batch *h1 = pf_queue_pop(q), *h2 = pf_queue_pop(q);
	CHECK(h1 && h2 && h1->lines == 3 && h2->lines == 2);
	if (h1 && h2) {
		CHECK(first_index(h1) == 0 && first_index(h2) == 3);
		CHECK(h1->len + h2->len == alen);
		CHECK(memcmp(h1->data, t, h1->len) == 0 && memcmp(h2->data, t + h1->len, h2->len) == 0);
		/* the second half fails first, then the first: order holds */
		pf_queue_requeue(q, h2);
		pf_queue_requeue(q, h1);
		pf_batch *x = pf_queue_pop(q);
		CHECK(x && first_index(x) == 0);
		/* split again: the halves of a half stay before the other half */
		CHECK(x && pf_queue_split(q, x) == 0);
		int want[] = { 0, 2, 3, 5 };
		for (int i = 0; i < 4; i++) {
			pf_batch *y = pf_queue_pop(q);
			CHECK(y && first_index(y) == want[i]);
			if (y && i == 0) {
				CHECK(y->lines == 2);
			}
			if (y && i == 1) {
				/* a single line cannot be split */
				CHECK(y->lines == 1 && pf_queue_split(q, y) == -EINVAL);
			}
			if (y)
				pf_queue_done(q, y);
		}
	}
	CHECK(pf_queue_pop(q) == NULL);
	CHECK(s->bytes == 0);
	free(t);
	pf_queue_free(q);
}

static void test_clear(void)
{
	pf_queue *q = mk(3, 1000, 1 << 20);
	size_t n;
	char *t = lines_text(0, 8, &n);
	CHECK(pf_queue_append(q, t, n, 0) == 0);
	pf_batch *b = pf_queue_pop(q);
	CHECK(pf_queue_clear(q) == 5); /* 3 waiting + 2 open; not the one in flight */
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(s->bytes == b->len && s->dropped_lines == 0);
	pf_queue_done(q, b);
	CHECK(s->bytes == 0);
	free(t);
	pf_queue_free(q);
}

/* Many random appends, pops, requeues, splits and acks: every line that
 * went in is delivered exactly once or counted as dropped. */
static void test_random_accounting(void)
{
	pf_queue *q = mk(7, 200, 2000);
	srand(7);
	unsigned char *seen = calloc(20000, 1);
	pf_batch *fly[8];
	int nfly = 0, next = 0;
	uint64_t delivered = 0;
	for (int step = 0; step < 5000; step++) {
		int r = rand() % 10;
		if (r < 3 && next < 19000) {
			size_t n;
			int k = 1 + rand() % 20;
			char *t = lines_text(next, next + k, &n);
			next += k;
			CHECK(pf_queue_append(q, t, n, 0) == 0);
			free(t);
		} else if (r < 5 && nfly < 8) {
			pf_batch *b = pf_queue_pop(q);
			if (b)
				fly[nfly++] = b;
		} else if (r == 5) {
			pf_queue_cut(q);
		} else if (nfly > 0) {
			int i = rand() % nfly;
			pf_batch *b = fly[i];
			fly[i] = fly[--nfly];
			if (r == 6) {
				pf_queue_requeue(q, b);
			} else if (r == 7 && b->lines > 1) {
				CHECK(pf_queue_split(q, b) == 0);
			} else {
				const char *p = b->data;
				for (size_t l = 0; l < b->lines; l++) {
					int idx = atoi(p + 4);
					CHECK(seen[idx] == 0);
					seen[idx] = 1;
					p = strchr(p, '\n') + 1;
				}
				delivered += b->lines;
				pf_queue_done(q, b);
			}
		}
		consistent(q);
	}
	while (nfly > 0)
		pf_queue_requeue(q, fly[--nfly]);
	pf_queue_cut(q);
	pf_batch *b;
	while ((b = pf_queue_pop(q)) != NULL) {
		delivered += b->lines;
		pf_queue_done(q, b);
	}
	const pf_queue_stats *s = pf_queue_get_stats(q);
	CHECK(delivered + s->dropped_lines == (uint64_t)next);
	CHECK(s->dropped_lines > 0); /* the limit was reached in this run */
	CHECK(s->bytes == 0);
	free(seen);
	pf_queue_free(q);
}

/* A caller's line count (the encoder's output) gives the same batches,
 * counters and drops as finding the lines, whatever fits where: batches
 * of 1 to 1,000 lines and 20 bytes to 1 MiB, limits that drop, appends of
 * 1 to 40 lines of 10-14 bytes, and -ENOMEM-free. */
static void test_counted(void)
{
	static const size_t lines[] = { 1, 3, 10, 1000 };
	static const size_t bytes[] = { 20, 64, 1 << 20 };
	static const uint64_t limits[] = { 200, 1 << 30 };
	unsigned seed = 7;
	size_t n;
	char *t = lines_text(0, 4000, &n);
	for (size_t a = 0; a < 4; a++)
		for (size_t b = 0; b < 3; b++)
			for (size_t l = 0; l < 2; l++) {
				pf_queue *qa = mk(lines[a], bytes[b], limits[l]);
				pf_queue *qb = mk(lines[a], bytes[b], limits[l]);
				if (!qa || !qb)
					return;
				const char *p = t, *end = t + n;
				size_t counted = 0;
				while (p < end) {
					seed = seed * 1103515245u + 12345u;
					size_t k = 1 + (seed >> 16) % 40, m = 0;
					const char *e = p;
					while (e < end && m < k) {
						e = (const char *)memchr(e, '\n', (size_t)(end - e)) + 1;
						m++;
					}
					CHECK(pf_queue_append(qa, p, (size_t)(e - p), 0) == 0);
					CHECK(pf_queue_append(qb, p, (size_t)(e - p), m) == 0);
					CHECK(memcmp(pf_queue_get_stats(qa), pf_queue_get_stats(qb),
						     sizeof(pf_queue_stats)) == 0);
					counted += m;
					p = e;
					if ((seed >> 8) % 5 == 0) { /* some go out meanwhile */
						pf_batch *ba = pf_queue_pop(qa), *bb = pf_queue_pop(qb);
						CHECK((ba == NULL) == (bb == NULL));
						if (ba && bb) {
							CHECK(ba->lines == bb->lines && ba->len == bb->len &&
							      memcmp(ba->data, bb->data, ba->len) == 0);
							CHECK(count_nl(bb) == bb->lines);
						}
						if (ba)
							pf_queue_done(qa, ba);
						if (bb)
							pf_queue_done(qb, bb);
					}
				}
				CHECK(counted == 4000);
				pf_queue_cut(qa);
				pf_queue_cut(qb);
				CHECK(memcmp(pf_queue_get_stats(qa), pf_queue_get_stats(qb), sizeof(pf_queue_stats)) == 0);
				pf_batch *ba, *bb;
				while ((ba = pf_queue_pop(qa)) != NULL) {
					bb = pf_queue_pop(qb);
					CHECK(bb != NULL);
					if (!bb)
						break;
					CHECK(ba->lines == bb->lines && ba->len == bb->len &&
					      memcmp(ba->data, bb->data, ba->len) == 0 && count_nl(bb) == bb->lines);
					pf_queue_done(qa, ba);
					pf_queue_done(qb, bb);
				}
				CHECK(pf_queue_pop(qb) == NULL);
				consistent(qb);
				pf_queue_free(qa);
				pf_queue_free(qb);
			}
	free(t);
}

/* A delivered batch of q (of at most lines and bytes): flattened, checked
 * against the limits, its bytes appended to stream. Returns its lines. */
static size_t deliver(pf_queue *q, pf_batch *b, size_t lines, size_t bytes, pf_buf *stream)
{
	pf_batch *f = pf_batch_flat(b);
	CHECK(f != NULL);
	if (f == NULL)
		return 0;
	CHECK(f->lines > 0 && f->lines <= lines && f->len <= bytes && f->lines == count_nl(f));
	CHECK(pf_buf_append(stream, f->data, f->len) == 0);
	size_t n = f->lines;
	if (f != b)
		free(f);
	pf_queue_done(q, b);
	return n;
}

/* Whether stream's lines ("m,i=N ...") come in ascending N: nothing
 * repeated or out of order. */
static int ascending(const pf_buf *stream)
{
	long prev = -1;
	for (size_t i = 0; i < stream->len;) {
		const char *e = memchr(stream->data + i, '\n', stream->len - i);
		long k = atol(stream->data + i + 4);
		if (e == NULL || k <= prev)
			return 0;
		prev = k;
		i = (size_t)(e - stream->data) + 1;
	}
	return 1;
}

/* Takes lose, repeat and reorder nothing: the lines a queue fed by takes
 * delivers are, in order, those a queue fed by copies delivers when nothing
 * is dropped; with a limit that drops, every line is delivered, dropped or
 * held exactly once, in order. Every batch within its limits. Batches of
 * 10 to 5,000 lines and 40 KiB to 1 MiB, appends of 1 to 3,000 lines
 * (40 KiB at most), batches delivered meanwhile, the blocks going round. */
static void test_taken(void)
{
	static const size_t lines[] = { 10, 5000 };
	static const size_t bytes[] = { 40 << 10, 1 << 20 };
	static const uint64_t limits[] = { 200 << 10, 1 << 30 };
	unsigned seed = 11;
	size_t n;
	char *t = lines_text(0, 60000, &n);
	size_t taken_batches = 0;
	for (size_t a = 0; a < 2; a++)
		for (size_t b = 0; b < 2; b++)
			for (size_t l = 0; l < 2; l++) {
				pf_queue *qa = mk(lines[a], bytes[b], limits[l]);
				pf_queue *qb = mk(lines[a], bytes[b], limits[l]);
				if (!qa || !qb)
					return;
				pf_buf out, sa, sb;
				pf_buf_init(&out, 1 << 20);
				pf_buf_init(&sa, 64 << 20);
				pf_buf_init(&sb, 64 << 20);
				size_t appended = 0, got_a = 0;
				const char *p = t, *end = t + n;
				while (p < end) {
					seed = seed * 1103515245u + 12345u;
					size_t k = 1 + (seed >> 16) % 3000, m = 0;
					const char *e = p;
					while (e < end && m < k) {
						e = (const char *)memchr(e, '\n', (size_t)(end - e)) + 1;
						m++;
					}
					CHECK(pf_buf_append(&out, p, (size_t)(e - p)) == 0);
					CHECK(pf_queue_append(qb, p, (size_t)(e - p), m) == 0);
					CHECK(pf_queue_append_buf(qa, &out, m) == 0);
					CHECK(out.len == 0);
					consistent(qa);
					appended += m;
					p = e;
					if ((seed >> 8) % 3 == 0) {
						pf_batch *ba = pf_queue_pop(qa), *bb = pf_queue_pop(qb);
						if (ba) {
							taken_batches += ba->parts != NULL;
							got_a += deliver(qa, ba, lines[a], bytes[b], &sa);
						}
						if (bb)
							deliver(qb, bb, lines[a], bytes[b], &sb);
					}
				}
				pf_queue_cut(qa);
				pf_queue_cut(qb);
				pf_batch *ba, *bb;
				while ((ba = pf_queue_pop(qa)) != NULL) {
					taken_batches += ba->parts != NULL;
					got_a += deliver(qa, ba, lines[a], bytes[b], &sa);
				}
				while ((bb = pf_queue_pop(qb)) != NULL)
					deliver(qb, bb, lines[a], bytes[b], &sb);
				const pf_queue_stats *st = pf_queue_get_stats(qa);
				CHECK(st->bytes == 0 && got_a + st->dropped_lines == appended);
				CHECK(ascending(&sa));
				if (limits[l] > n) {
					CHECK(st->dropped_lines == 0 && pf_queue_get_stats(qb)->dropped_lines == 0);
					CHECK(sa.len == sb.len && memcmp(sa.data, sb.data, sa.len) == 0);
				} else {
					CHECK(st->dropped_lines > 0);
				}
				pf_buf_free(&out);
				pf_buf_free(&sa);
				pf_buf_free(&sb);
				pf_queue_free(qa);
				pf_queue_free(qb);
			}
	free(t);
	printf("test_taken: %zu batches of parts\n", taken_batches);
	/* The path under test was taken (blocks coming back: test_take_rules). */
	CHECK(taken_batches > 20);
}

/* A take that does not fit an open batch at least half full (in lines,
 * then in bytes) seals it as it is and starts the next batch; one that
 * does not fit a batch less than half full is copied across the two. */
static void test_seal_early(void)
{
	size_t n6, n4, n7;
	char *t6 = lines_text(0, 6000, &n6), *t4 = lines_text(0, 4000, &n4), *t7 = lines_text(4000, 11000, &n7);
	for (int by_bytes = 0; by_bytes < 2; by_bytes++) {
		/* Room for 10,000 lines, or for 1.5 x the 6,000 lines' bytes. */
		pf_queue *q = by_bytes ? mk(1000000, n6 + n6 / 2, 1 << 30) : mk(10000, 64 << 20, 1 << 30);
		pf_buf out;
		pf_buf_init(&out, 1 << 20);
		const char *blk[2];
		for (int i = 0; i < 2; i++) {
			CHECK(pf_buf_append(&out, t6, n6) == 0);
			blk[i] = out.data;
			CHECK(pf_queue_append_buf(q, &out, 6000) == 0);
			CHECK(out.data != blk[i] && out.len == 0); /* taken */
		}
		pf_queue_cut(q);
		for (int i = 0; i < 2; i++) {
			pf_batch *b = pf_queue_pop(q);
			CHECK(b && b->nparts == 1 && b->parts[0].p == blk[i] && b->lines == 6000 && b->len == n6);
			if (b)
				pf_queue_done(q, b);
		}
		CHECK(pf_queue_pop(q) == NULL);
		pf_buf_free(&out);
		pf_queue_free(q);
	}
	/* 4,000 lines of 10,000 held: 7,000 more are copied, 6,000 into the
	 * open batch, 1,000 into the next. */
	pf_queue *q = mk(10000, 64 << 20, 1 << 30);
	pf_buf out;
	pf_buf_init(&out, 1 << 20);
	CHECK(pf_buf_append(&out, t4, n4) == 0);
	const char *blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	CHECK(out.data != blk);
	CHECK(pf_buf_append(&out, t7, n7) == 0);
	blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, 7000) == 0);
	CHECK(out.data == blk && out.len == 0); /* copied */
	pf_queue_cut(q);
	pf_batch *b = pf_queue_pop(q), *c = pf_queue_pop(q);
	CHECK(b && c && b->lines == 10000 && c->lines == 1000 && b->len + c->len == n4 + n7);
	if (b)
		pf_queue_done(q, b);
	if (c)
		pf_queue_done(q, c);
	pf_buf_free(&out);
	pf_queue_free(q);
	free(t6);
	free(t4);
	free(t7);
}

/* Small or half-empty buffers are copied; a batch in one piece is not
 * mixed with parts; a batch of parts takes copies too, in order. */
static void test_take_rules(void)
{
	pf_queue *q = mk(100000, 1 << 20, 1 << 30);
	size_t n;
	char *t = lines_text(0, 4000, &n); /* about 48 KiB */
	pf_buf out;
	pf_buf_init(&out, 1 << 20);

	/* Below PF_QUEUE_TAKE_MIN: copied, out keeps its block. */
	size_t small = 0, nl = 0;
	while (small < PF_QUEUE_TAKE_MIN / 2) {
		const char *e = memchr(t + small, '\n', n - small);
		small = (size_t)(e - t) + 1;
		nl++;
	}
	CHECK(pf_buf_append(&out, t, small) == 0);
	char *blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, nl) == 0);
	CHECK(out.data == blk && out.len == 0);
	/* Big enough, but the open batch is one piece with lines: copied. */
	CHECK(pf_buf_append(&out, t + small, n - small) == 0);
	blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, 4000 - nl) == 0);
	CHECK(out.data == blk);
	pf_queue_cut(q);
	pf_batch *b = pf_queue_pop(q);
	CHECK(b != NULL && b->parts == NULL && b->len == n && memcmp(b->data, t, n) == 0);
	pf_queue_done(q, b);

	/* An empty queue takes a big buffer; a copy after it, a take after
	 * that: one batch of parts, the bytes in order. */
	CHECK(pf_buf_append(&out, t, n) == 0);
	blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	CHECK(out.data != blk && out.len == 0);
	CHECK(pf_queue_append(q, "x v=1\n", 6, 1) == 0);
	CHECK(pf_buf_append(&out, t, n) == 0);
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	pf_queue_cut(q);
	b = pf_queue_pop(q);
	CHECK(b != NULL && b->parts != NULL && b->lines == 8001 && b->len == 2 * n + 6);
	if (b && b->parts) {
		pf_batch *f = pf_batch_flat(b);
		CHECK(f && memcmp(f->data, t, n) == 0 && memcmp(f->data + n, "x v=1\n", 6) == 0 &&
		      memcmp(f->data + n + 6, t, n) == 0);
		free(f);
		/* A 413 split of it: two halves in one piece each, in order. */
		CHECK(pf_queue_split(q, b) == 0);
		pf_batch *x = pf_queue_pop(q), *y = pf_queue_pop(q);
		CHECK(x && y && x->parts == NULL && y->parts == NULL && x->lines == 4001 && y->lines == 4000);
		if (x && y) {
			CHECK(x->len + y->len == 2 * n + 6 && memcmp(x->data, t, n) == 0 &&
			      memcmp(y->data + y->len - n, t, n) == 0);
			pf_queue_done(q, x);
			pf_queue_done(q, y);
		}
	}
	/* A delivered batch of parts hands its blocks to the next takes. */
	CHECK(pf_buf_append(&out, t, n) == 0);
	blk = out.data;
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	pf_queue_cut(q);
	b = pf_queue_pop(q);
	CHECK(b && b->nparts == 1 && b->parts[0].p == blk);
	pf_queue_done(q, b);
	CHECK(pf_buf_append(&out, t, n) == 0);
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	CHECK(out.data == blk && out.len == 0);
	pf_queue_cut(q);
	b = pf_queue_pop(q);
	CHECK(b && b->nparts == 1);
	pf_queue_done(q, b);
	CHECK(pf_queue_get_stats(q)->bytes == 0);
	pf_buf_free(&out);
	pf_queue_free(q);

	/* Batches of parts made of copies only (a buffer worth taking that
	 * never fits 10 lines): each waiting batch holds at most about twice
	 * its length, not a 64 KiB block for 140 bytes. */
	q = mk(10, 1 << 20, 1 << 30);
	pf_buf_init(&out, 1 << 20);
	CHECK(pf_buf_append(&out, t, n) == 0);
	CHECK(pf_queue_append_buf(q, &out, 4000) == 0);
	pf_queue_cut(q);
	size_t batches = 0;
	while ((b = pf_queue_pop(q)) != NULL) {
		size_t held = 0;
		for (size_t i = 0; i < b->nparts; i++)
			held += b->parts[i].cap;
		CHECK(b->parts != NULL && b->lines == 10);
		CHECK(held <= 2 * b->len || held <= b->len + 4096);
		batches++;
		pf_queue_done(q, b);
	}
	CHECK(batches == 400);
	pf_buf_free(&out);
	free(t);
	pf_queue_free(q);
}

int main(void)
{
	test_bad_options();
	test_cut_by_lines();
	test_recycle();
	test_cut_by_bytes();
	test_long_line_and_newlines();
	test_limit_drops_oldest();
	test_evict_hook();
	test_requeue_order();
	test_split();
	test_clear();
	test_random_accounting();
	test_counted();
	test_taken();
	test_take_rules();
	test_seal_early();
	if (failures) {
		fprintf(stderr, "test_queue: %d failures\n", failures);
		return 1;
	}
	printf("test_queue: ok\n");
	return 0;
}
