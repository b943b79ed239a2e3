/*
 * test_schedule.c: the scheduler on a real libuv loop with fake scrapes
 * (each "scrape" is a timer that calls pf_sched_done after a set time):
 * stable, spread offsets; the concurrency cap; a busy target skips its
 * tick; a tick that waited a whole interval for a slot is dropped; the
 * loop closes cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "schedule.h"

static int failures;

#define CHECK(c, ...)                                          \
	do {                                                   \
		if (!(c)) {                                    \
			failures++;                            \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                   \
			printf("\n");                          \
		}                                              \
	} while (0)

#define MAXT 16

typedef struct fake {
	uv_loop_t *loop;
	pf_sched *s;
	uv_timer_t work[MAXT];  /* one "scrape" per target */
	uint64_t work_ms;
	size_t running, max_running, started[MAXT];
} fake;

static void work_done(uv_timer_t *h)
{
	fake *f = h->data;
	size_t id = (size_t)(h - f->work);
	f->running--;
	pf_sched_done(f->s, id);
}

static int start(void *ud, size_t id)
{
	fake *f = ud;
	f->started[id]++;
	if (++f->running > f->max_running)
		f->max_running = f->running;
	uv_timer_start(&f->work[id], work_done, f->work_ms, 0);
	return 0;
}

static void stop_cb(uv_timer_t *h)
{
	fake *f = h->data;
	pf_sched_stop(f->s);
}

static int closed;

static void sched_closed(void *ud)
{
	(void)ud;
	closed++;
}

/* Runs n targets (interval ms each) for run_ms with scrapes of work_ms. */
static void run(fake *f, size_t n, uint64_t interval, unsigned cap, int once, uint64_t work_ms, uint64_t run_ms,
		pf_sched_stats *out)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	memset(f, 0, sizeof(*f));
	f->loop = &loop;
	f->work_ms = work_ms;
	f->s = pf_sched_new(&loop, cap, 0, start, f);
	for (size_t i = 0; i < n; i++) {
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%zu/metrics", 9000 + i);
		CHECK(pf_sched_add(f->s, "job", url, interval) == (long)i, "add %zu", i);
		uv_timer_init(&loop, &f->work[i]);
		f->work[i].data = f;
	}
	CHECK(pf_sched_start(f->s, once) == 0, "start");
	uv_timer_t stopper;
	uv_timer_init(&loop, &stopper);
	stopper.data = f;
	uv_timer_start(&stopper, stop_cb, run_ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* ends when the stopper and every scrape are done */
	*out = *pf_sched_get_stats(f->s);
	closed = 0;
	pf_sched_close(f->s, sched_closed, NULL);
	for (size_t i = 0; i < n; i++)
		uv_close((uv_handle_t *)&f->work[i], NULL);
	uv_close((uv_handle_t *)&stopper, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(closed == 1, "close callback called once (%d)", closed);
	CHECK(uv_loop_close(&loop) == 0, "loop closes cleanly");
}

int main(void)
{
	/* Offsets: stable, inside the interval, spread evenly. */
	static unsigned bucket[10];
	for (int i = 0; i < 10000; i++) {
		char url[64];
		snprintf(url, sizeof(url), "http://10.0.%d.%d:9100/metrics", i / 256, i % 256);
		uint64_t o = pf_sched_offset("node", url, 10000);
		CHECK(o < 10000 && o == pf_sched_offset("node", url, 10000), "offset %d", i);
		bucket[o / 1000]++;
	}
	for (int b = 0; b < 10; b++)
		CHECK(bucket[b] > 850 && bucket[b] < 1150, "second %d of 10 holds %u of 10,000 targets", b, bucket[b]);
	CHECK(pf_sched_offset("a", "bc", 1000003) != pf_sched_offset("ab", "c", 1000003), "job/url boundary");

	fake f;
	pf_sched_stats st;

	/* --once under a cap of 2: all 6 run, never more than 2 at once. */
	run(&f, 6, 1000, 2, 1, 20, 200, &st);
	CHECK(st.started == 6 && st.max_running == 2 && f.max_running == 2,
	      "once/cap: started %llu, max running %zu", (unsigned long long)st.started, st.max_running);
	for (int i = 0; i < 6; i++)
		CHECK(f.started[i] == 1, "once: target %d started %zu times", i, f.started[i]);
	CHECK(st.queued == 4, "once/cap: 4 waited for a slot (%llu)", (unsigned long long)st.queued);

	/* A scrape of 100 ms at a 30 ms interval: ticks that find it running are skipped. */
	run(&f, 1, 30, 0, 0, 100, 350, &st);
	CHECK(f.started[0] >= 2 && f.started[0] <= 4, "busy: started %zu", f.started[0]);
	CHECK(st.skipped_busy >= 4, "busy: skipped %llu", (unsigned long long)st.skipped_busy);
	CHECK(f.max_running == 1, "busy: never two scrapes of one target");

	/* Cap 1, two targets at 40 ms, scrapes of 100 ms: the waiting tick
	 * outlives its interval and is dropped as late. */
	run(&f, 2, 40, 1, 0, 100, 500, &st);
	CHECK(st.skipped_late >= 1, "late: dropped %llu", (unsigned long long)st.skipped_late);
	CHECK(f.max_running == 1, "late: the cap holds");

	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
