/*
 * test_schedule.c: the scheduler on a real libuv loop with fake scrapes
 * (each "scrape" is a timer that calls pf_sched_done after a set time):
 * stable, spread offsets; the concurrency cap; a busy target skips its
 * tick; a tick that waited a whole interval for a slot is dropped; slack
 * starts the ticks of one window together; a reload loses no tick that
 * the slack held back; reloads in a row neither lose nor double a tick
 * (pf_sched_follow), and only a target with the same job, URL and
 * interval follows; the loop closes cleanly.
 */
#include <errno.h>
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

#define MAXT 1000
#define MAXSTARTS 8

typedef struct fake {
	uv_loop_t *loop;
	pf_sched *s;
	uv_timer_t work[MAXT];  /* one "scrape" per target */
	uint64_t work_ms;
	size_t running, max_running, started[MAXT];
	uint64_t at[MAXT][MAXSTARTS]; /* loop time of each start */
	uint64_t slack;               /* pf_sched_slack after the start */
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
	if (f->started[id] < MAXSTARTS)
		f->at[id][f->started[id]] = uv_now(f->loop);
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
		uint64_t slack, pf_sched_stats *out)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	memset(f, 0, sizeof(*f));
	f->loop = &loop;
	f->work_ms = work_ms;
	f->s = pf_sched_new(&loop, cap, 0, slack, start, f);
	for (size_t i = 0; i < n; i++) {
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%zu/metrics", 9000 + i);
		CHECK(pf_sched_add(f->s, "job", url, interval) == (long)i, "add %zu", i);
		uv_timer_init(&loop, &f->work[i]);
		f->work[i].data = f;
	}
	CHECK(pf_sched_start(f->s, once) == 0, "start");
	f->slack = pf_sched_slack(f->s);
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

/* A reload: at a loop time 10 ms before the end of a slack window,
 * schedule A is flushed and stopped and B (the same targets) starts. */
typedef struct reload_ctx {
	fake *f;
	pf_sched *b;
	uint64_t slack;
	int flush;
	size_t n;
} reload_ctx;

static void reload_cb(uv_timer_t *h)
{
	reload_ctx *r = h->data;
	fake *f = r->f;
	if (r->flush)
		pf_sched_flush(f->s);
	pf_sched_stop(f->s);
	CHECK(pf_sched_follow(r->b, f->s) == (long)r->n, "reload: B follows A's phase");
	f->s = r->b;
	CHECK(pf_sched_start(r->b, 0) == 0, "reload: start B");
}

/* n targets at 1 s with slack 100 for run_ms, reloaded at about 1.5 s;
 * returns the largest gap between two starts of one target. */
static uint64_t run_reload(fake *f, size_t n, int flush, uint64_t run_ms, pf_sched_stats *a_st)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	memset(f, 0, sizeof(*f));
	f->loop = &loop;
	f->work_ms = 5;
	pf_sched *a = pf_sched_new(&loop, 0, 0, 100, start, f);
	pf_sched *b = pf_sched_new(&loop, 0, 0, 100, start, f);
	for (size_t i = 0; i < n; i++) {
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%zu/metrics", 9000 + i);
		CHECK(pf_sched_add(a, "job", url, 1000) == (long)i, "add %zu", i);
		CHECK(pf_sched_add(b, "job", url, 1000) == (long)i, "add %zu", i);
		uv_timer_init(&loop, &f->work[i]);
		f->work[i].data = f;
	}
	f->s = a;
	CHECK(pf_sched_start(a, 0) == 0, "start");
	uint64_t slack = pf_sched_slack(a);
	reload_ctx r = { f, b, slack, flush, n };
	uv_timer_t reloader, stopper;
	uv_timer_init(&loop, &reloader);
	uv_timer_init(&loop, &stopper);
	reloader.data = &r;
	stopper.data = f;
	uint64_t now = uv_now(&loop), at = 1500;
	at += slack - (now + at) % slack; /* on a window's end ... */
	at -= 10;                         /* ... less 10 ms */
	uv_timer_start(&reloader, reload_cb, at, 0);
	uv_timer_start(&stopper, stop_cb, run_ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	*a_st = *pf_sched_get_stats(a);
	uint64_t worst = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(f->started[i] >= 3, "reload: target %zu started %zu times in %llu ms", i, f->started[i],
		      (unsigned long long)run_ms);
		for (size_t k = 1; k < f->started[i] && k < MAXSTARTS; k++) {
			uint64_t gap = f->at[i][k] - f->at[i][k - 1];
			if (gap > worst)
				worst = gap;
			CHECK(gap > 1000 - slack - 400, "reload: target %zu started twice %llu ms apart", i,
			      (unsigned long long)gap);
		}
	}
	pf_sched_close(a, NULL, NULL);
	pf_sched_close(b, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		uv_close((uv_handle_t *)&f->work[i], NULL);
	uv_close((uv_handle_t *)&reloader, NULL);
	uv_close((uv_handle_t *)&stopper, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "reload: loop closes cleanly");
	return worst;
}

/* Reloads in a row: every reload_ms a new schedule of the same n targets
 * (1 s each, slack 100) takes over from the current one (flush, stop,
 * start), for run_ms. Returns the largest gap between two starts of one
 * target; *least gets the smallest. */
typedef struct storm_ctx {
	fake *f;
	uv_loop_t *loop;
	uv_timer_t reloader;
	pf_sched *all[64];
	size_t nall, n;
} storm_ctx;

static pf_sched *storm_sched(storm_ctx *c)
{
	pf_sched *s = pf_sched_new(c->loop, 0, 0, 100, start, c->f);
	for (size_t i = 0; i < c->n; i++) {
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%zu/metrics", 9000 + i);
		CHECK(pf_sched_add(s, "job", url, 1000) == (long)i, "storm: add %zu", i);
	}
	c->all[c->nall++] = s;
	return s;
}

static void storm_cb(uv_timer_t *h)
{
	storm_ctx *c = h->data;
	fake *f = c->f;
	if (c->nall == sizeof c->all / sizeof c->all[0]) {
		uv_timer_stop(h);
		return;
	}
	pf_sched *b = storm_sched(c);
	pf_sched_flush(f->s);
	pf_sched_stop(f->s);
	CHECK(pf_sched_follow(b, f->s) == (long)c->n, "storm: every target follows its old phase");
	f->s = b;
	CHECK(pf_sched_start(b, 0) == 0, "storm: start");
}

static void storm_stop_cb(uv_timer_t *h)
{
	storm_ctx *c = h->data;
	uv_timer_stop(&c->reloader);
	pf_sched_stop(c->f->s);
}

static uint64_t run_storm(fake *f, size_t n, uint64_t reload_ms, uint64_t run_ms, uint64_t *least)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	memset(f, 0, sizeof(*f));
	f->loop = &loop;
	f->work_ms = 5;
	storm_ctx c = { .f = f, .loop = &loop, .n = n };
	f->s = storm_sched(&c);
	for (size_t i = 0; i < n; i++) {
		uv_timer_init(&loop, &f->work[i]);
		f->work[i].data = f;
	}
	CHECK(pf_sched_start(f->s, 0) == 0, "storm: start");
	uv_timer_t stopper;
	uv_timer_init(&loop, &c.reloader);
	uv_timer_init(&loop, &stopper);
	c.reloader.data = &c;
	stopper.data = &c;
	uv_timer_start(&c.reloader, storm_cb, reload_ms, reload_ms);
	uv_timer_start(&stopper, storm_stop_cb, run_ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* the stopper stops the reloads and the last schedule */
	uint64_t worst = 0, low = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		CHECK(f->started[i] >= 3, "storm: target %zu started %zu times in %llu ms", i, f->started[i],
		      (unsigned long long)run_ms);
		for (size_t k = 1; k < f->started[i] && k < MAXSTARTS; k++) {
			uint64_t gap = f->at[i][k] - f->at[i][k - 1];
			worst = gap > worst ? gap : worst;
			low = gap < low ? gap : low;
		}
	}
	for (size_t i = 0; i < c.nall; i++)
		pf_sched_close(c.all[i], NULL, NULL);
	for (size_t i = 0; i < n; i++)
		uv_close((uv_handle_t *)&f->work[i], NULL);
	uv_close((uv_handle_t *)&c.reloader, NULL);
	uv_close((uv_handle_t *)&stopper, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "storm: loop closes cleanly");
	*least = low;
	return worst;
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
	run(&f, 6, 1000, 2, 1, 20, 200, 0, &st);
	CHECK(st.started == 6 && st.max_running == 2 && f.max_running == 2,
	      "once/cap: started %llu, max running %zu", (unsigned long long)st.started, st.max_running);
	for (int i = 0; i < 6; i++)
		CHECK(f.started[i] == 1, "once: target %d started %zu times", i, f.started[i]);
	CHECK(st.queued == 4, "once/cap: 4 waited for a slot (%llu)", (unsigned long long)st.queued);

	/* A scrape of 100 ms at a 30 ms interval: ticks that find it running are skipped. */
	run(&f, 1, 30, 0, 0, 100, 350, 0, &st);
	CHECK(f.started[0] >= 2 && f.started[0] <= 4, "busy: started %zu", f.started[0]);
	CHECK(st.skipped_busy >= 4, "busy: skipped %llu", (unsigned long long)st.skipped_busy);
	CHECK(f.max_running == 1, "busy: never two scrapes of one target");

	/* Cap 1, two targets at 40 ms, scrapes of 100 ms: the waiting tick
	 * outlives its interval and is dropped as late. */
	run(&f, 2, 40, 1, 0, 100, 500, 0, &st);
	CHECK(st.skipped_late >= 1, "late: dropped %llu", (unsigned long long)st.skipped_late);
	CHECK(f.max_running == 1, "late: the cap holds");

	/* Slack: targets at 1 s for 2.5 s, 2-3 starts each at spread offsets,
	 * start on at most one wakeup per slack window; each tick is late by
	 * less than the slack (plus the loop's own delay: up to 400 ms allowed,
	 * for a loaded machine; a lost or doubled tick is 1,000 ms off), none
	 * is lost. 64
	 * targets: 100 ms of slack is kept (6.4 ticks a window), 5,000 ms is
	 * cut to a tenth of the interval; 128 targets: 100 ms is cut to 62 ms,
	 * 8 ticks a window. */
	static const struct { size_t n; uint64_t slack, want; } sc[] = {
		{ 64, 100, 100 }, { 64, 5000, 100 }, { 128, 100, 62 },
	};
	for (size_t pass = 0; pass < sizeof sc / sizeof sc[0]; pass++) {
		uint64_t slack = sc[pass].slack, w = sc[pass].want;
		run(&f, sc[pass].n, 1000, 0, 0, 5, 2500, slack, &st);
		CHECK(f.slack == w, "slack %llu, %zu targets: %llu ms in use, want %llu", (unsigned long long)slack,
		      sc[pass].n, (unsigned long long)f.slack, (unsigned long long)w);
		CHECK(st.skipped_late == 0 && st.skipped_busy == 0, "slack %llu: %llu late, %llu busy",
		      (unsigned long long)slack, (unsigned long long)st.skipped_late,
		      (unsigned long long)st.skipped_busy);
		static uint64_t times[MAXT * MAXSTARTS];
		size_t nt = 0, distinct = 0;
		for (size_t i = 0; i < sc[pass].n; i++) {
			CHECK(f.started[i] >= 2 && f.started[i] <= 3, "slack %llu: target %zu started %zu times",
			      (unsigned long long)slack, i, f.started[i]);
			for (size_t k = 0; k < f.started[i] && k < MAXSTARTS; k++) {
				times[nt++] = f.at[i][k];
				if (k > 0) {
					uint64_t gap = f.at[i][k] - f.at[i][k - 1];
					CHECK(gap > 1000 - w - 400 && gap < 1000 + w + 400,
					      "slack %llu: target %zu started %llu ms after its last start",
					      (unsigned long long)slack, i, (unsigned long long)gap);
				}
			}
		}
		for (size_t a = 0; a < nt; a++) {
			size_t b;
			for (b = 0; b < a && times[b] != times[a]; b++)
				;
			distinct += b == a;
		}
		CHECK(nt >= 2 * sc[pass].n && distinct <= 2500 / w + 1,
		      "slack %llu: %zu starts on %zu wakeups, allowed at most one a %llu ms window",
		      (unsigned long long)slack, nt, distinct, (unsigned long long)w);
	}

	/* A reload in the last 10 ms of a slack window: the ticks the slack
	 * held back since the window began (about 9 of 64 targets) start
	 * under the old schedule (pf_sched_flush), the new one begins after
	 * them: no target goes two intervals without a start, none starts
	 * twice in one. */
	uint64_t worst = run_reload(&f, 64, 1, 3600, &st);
	CHECK(worst < 1000 + 100 + 400, "reload: a tick was lost (a target went %llu ms without a start)",
	      (unsigned long long)worst);
	CHECK(st.started > 64, "reload: A started %llu", (unsigned long long)st.started);

	/* Reloads in a row, every 97 ms for 3.5 s, of 1,000 targets at 1 s
	 * (one about every millisecond of the grid, so some target falls due
	 * at every reload's instant): each new schedule follows the old one's
	 * phase, so no target loses a tick (a gap of about 2 s) or gets one
	 * twice (a gap of a few ms) at a reload. The bounds are far from the
	 * interval either way, for a loaded machine or valgrind. */
	uint64_t least;
	worst = run_storm(&f, 1000, 97, 3500, &least);
	CHECK(worst < 1500, "storm: a tick was lost (a target went %llu ms without a start)",
	      (unsigned long long)worst);
	CHECK(least > 500, "storm: a target started twice %llu ms apart", (unsigned long long)least);

	/* Only the same job, URL and interval follow; an armed schedule
	 * takes no phase. */
	uv_loop_t loop;
	uv_loop_init(&loop);
	pf_sched *a = pf_sched_new(&loop, 0, 0, 0, start, &f), *b = pf_sched_new(&loop, 0, 0, 0, start, &f);
	CHECK(pf_sched_add(a, "job", "http://a/metrics", 1000) == 0 && pf_sched_add(a, "job", "http://b/metrics", 1000) == 1,
	      "follow: add to a");
	CHECK(pf_sched_add(b, "job", "http://a/metrics", 2000) == 0 && pf_sched_add(b, "job2", "http://b/metrics", 1000) == 1
	      && pf_sched_add(b, "job", "http://c/metrics", 1000) == 2, "follow: add to b");
	CHECK(pf_sched_follow(b, a) == 0, "follow: a schedule not started gives no phase");
	CHECK(pf_sched_start(a, 0) == 0, "follow: start a");
	CHECK(pf_sched_follow(b, a) == 0, "follow: another interval, job or URL does not follow");
	CHECK(pf_sched_add(b, "job", "http://b/metrics", 1000) == 3, "follow: add to b");
	CHECK(pf_sched_follow(b, a) == 1, "follow: the same job, URL and interval follows");
	CHECK(pf_sched_start(b, 0) == 0 && pf_sched_follow(b, a) == -EINVAL, "follow: not once started");
	pf_sched_stop(a);
	pf_sched_stop(b);
	pf_sched_close(a, NULL, NULL);
	pf_sched_close(b, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "follow: loop closes cleanly");

	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
