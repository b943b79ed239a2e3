/*
 * schedule.c: the scrape schedule (see schedule.h).
 *
 * One uv_timer for the whole schedule, over a binary min-heap of the
 * targets' next fire times (16 bytes a target, in one array). It used to be
 * one uv_timer per target, which is simpler, but libuv keeps its timers in
 * one pointer-linked heap: with 10,000 targets every timer operation
 * (each tick, and libcurl restarting its own timer several times a scrape)
 * walked 14 levels of cold nodes, about 4% of the daemon's CPU at 10,000
 * targets. With the timers out of libuv's heap, curl's timer is cheap
 * again, and a tick costs a sift in a compact array.
 *
 * Measured with one uv_timer per target (x86-64, the whole daemon, one
 * job): 10,000 idle targets took 13.6 MB RSS against 10.2 MB for one
 * target; 2,000 loopback targets at 2 s (1,000 scrapes/s) ran 20 s with no
 * tick skipped or late at 13.4 MB RSS. See bench/scale-bench for the
 * current figures.
 */
#include "schedule.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"

enum tstate { T_IDLE = 0, T_QUEUED, T_RUNNING };

#define NIL UINT32_MAX

/* Ticks a slack window holds on average, at most (see schedule.h). */
#define SLACK_TICKS 8

typedef struct target {
	uint64_t due;          /* loop time (ms) of the next tick, before jitter */
	uint64_t queued_at;    /* loop time it started waiting for a slot */
	uint64_t interval;
	uint64_t key;          /* FNV-1a of job and URL; offset = key % interval */
	uint32_t next;         /* FIFO link */
	uint8_t state;
	uint8_t followed;      /* due taken from the previous schedule */
} target;

/* A pending tick: fire time (loop ms, jitter included) and target. */
typedef struct hent {
	uint64_t at;
	uint32_t id;
} hent;

struct pf_sched {
	uv_loop_t *loop;
	uv_timer_t timer;      /* data: the scheduler; fires at heap[0].at */
	unsigned cap;
	uint64_t jitter;
	uint64_t slack;        /* the timer fires on multiples of it (0: off) */
	pf_sched_start_fn fn;
	void *ud;
	target *t;
	size_t n, alloc;
	hent *heap;            /* min-heap by (at, id); at most one entry a target */
	size_t nheap;
	int armed;             /* pf_sched_start done */
	int stopped;           /* pf_sched_stop called */
	int once;
	uint32_t qhead, qtail; /* FIFO of targets waiting for a slot */
	uint64_t rng;
	pf_ratelimit rl_busy;
	pf_sched_stats st;
	void (*done)(void *ud);
	void *done_ud;
};

/* FNV-1a, so that an offset can be computed by hand from the job and the
 * URL; the 0xff between them keeps "ab"+"c" and "a"+"bc" apart. */
static uint64_t target_key(const char *job, const char *url)
{
	uint64_t h = pf_fnv1a(PF_FNV_OFFSET, job, strlen(job));
	h = pf_fnv1a(h, "\xff", 1);
	return pf_fnv1a(h, url, strlen(url));
}

uint64_t pf_sched_offset(const char *job, const char *url, uint64_t interval_ms)
{
	return interval_ms ? target_key(job, url) % interval_ms : 0;
}

pf_sched *pf_sched_new(uv_loop_t *loop, unsigned max_concurrent, uint64_t jitter_ms,
		       uint64_t slack_ms, pf_sched_start_fn fn, void *ud)
{
	pf_sched *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (uv_timer_init(loop, &s->timer) != 0) {
		free(s);
		return NULL;
	}
	s->timer.data = s;
	s->loop = loop;
	s->cap = max_concurrent;
	s->jitter = jitter_ms;
	s->slack = slack_ms;
	s->fn = fn;
	s->ud = ud;
	s->qhead = s->qtail = NIL;
	s->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL | 1;
	return s;
}

long pf_sched_add(pf_sched *s, const char *job, const char *url, uint64_t interval_ms)
{
	if (s->armed || interval_ms == 0)
		return -EINVAL;
	if (s->n >= NIL - 1)
		return -E2BIG;
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 16;
		target *nt = realloc(s->t, na * sizeof(*nt));
		if (nt == NULL)
			return -ENOMEM;
		s->t = nt;
		s->alloc = na;
	}
	target *t = &s->t[s->n];
	memset(t, 0, sizeof(*t));
	t->interval = interval_ms;
	t->key = target_key(job, url);
	t->next = NIL;
	return (long)s->n++;
}

static uint64_t rnd(pf_sched *s)
{
	/* xorshift64: jitter needs spread, not secrecy. */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* (at, id) order: equal times fire in target order, as --once expects. */
static int hless(const hent *a, const hent *b)
{
	return a->at < b->at || (a->at == b->at && a->id < b->id);
}

static void heap_push(pf_sched *s, uint64_t at, uint32_t id)
{
	size_t i = s->nheap++;
	hent e = { at, id };
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!hless(&e, &s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = e;
}

static hent heap_pop(pf_sched *s)
{
	hent top = s->heap[0];
	hent e = s->heap[--s->nheap];
	size_t i = 0, n = s->nheap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hless(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!hless(&s->heap[c], &e))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (n > 0)
		s->heap[i] = e;
	return top;
}

static void timer_cb(uv_timer_t *h);

/* Points the timer at the earliest pending tick, or at the end of its
 * slack window: every tick due by then fires in the same timer_cb. */
static void rearm(pf_sched *s)
{
	if (s->stopped || s->nheap == 0) {
		uv_timer_stop(&s->timer);
		return;
	}
	uint64_t now = uv_now(s->loop);
	uint64_t at = s->heap[0].at;
	if (s->slack > 1 && at > now)
		at += (s->slack - at % s->slack) % s->slack;
	uv_timer_start(&s->timer, timer_cb, at > now ? at - now : 0, 0);
}

/* Queues the next tick of t (its grid time plus jitter). */
static void arm(pf_sched *s, target *t)
{
	uint64_t now = uv_now(s->loop);
	uint64_t at = t->due > now ? t->due : now;
	if (s->jitter)
		at += rnd(s) % s->jitter;
	heap_push(s, at, (uint32_t)(t - s->t));
}

static void start_one(pf_sched *s, size_t id)
{
	target *t = &s->t[id];
	t->state = T_RUNNING;
	s->st.running++;
	s->st.started++;
	if (s->st.running > s->st.max_running)
		s->st.max_running = s->st.running;
	if (s->fn(s->ud, id) != 0) {
		t->state = T_IDLE;
		s->st.running--;
	}
}

static void pump(pf_sched *s)
{
	uint64_t now = uv_now(s->loop);
	while (s->qhead != NIL && (s->cap == 0 || s->st.running < s->cap)) {
		uint32_t id = s->qhead;
		target *t = &s->t[id];
		s->qhead = t->next;
		if (s->qhead == NIL)
			s->qtail = NIL;
		t->next = NIL;
		t->state = T_IDLE;
		if (!s->once && now - t->queued_at >= t->interval) {
			s->st.skipped_late++;
			continue;
		}
		start_one(s, id);
	}
}

static void tick(pf_sched *s, size_t id)
{
	target *t = &s->t[id];
	s->st.ticks++;
	if (t->state != T_IDLE) {
		s->st.skipped_busy++;
		unsigned sup = 0;
		if (pf_ratelimit_ok(&s->rl_busy, uv_now(s->loop), 1, 60000, &sup))
			pf_log(PF_LOG_WARN, NULL, "a tick was skipped: the previous scrape of its target is still "
			       "%s (%llu skipped so far; the interval is too short for the timeout or the cap)",
			       t->state == T_RUNNING ? "running" : "waiting for a slot",
			       (unsigned long long)s->st.skipped_busy);
		return;
	}
	if (s->cap == 0 || s->st.running < s->cap) {
		start_one(s, id);
		return;
	}
	s->st.queued++;
	t->state = T_QUEUED;
	t->queued_at = uv_now(s->loop);
	if (s->qtail == NIL)
		s->qhead = (uint32_t)id;
	else
		s->t[s->qtail].next = (uint32_t)id;
	s->qtail = (uint32_t)id;
}

/* Queues t's next tick on the grid after its due one; after a stall (the
 * loop was blocked for longer than an interval) the missed ticks are
 * counted, not run. */
static void next_tick(pf_sched *s, target *t, uint64_t now)
{
	t->due += t->interval;
	while (t->due <= now) {
		t->due += t->interval;
		s->st.skipped_late++;
	}
	arm(s, t);
}

static void timer_cb(uv_timer_t *h)
{
	pf_sched *s = h->data;
	uint64_t now = uv_now(s->loop);
	/* Every tick due now; a start may stop the schedule (--once). */
	while (!s->stopped && s->nheap > 0 && s->heap[0].at <= now) {
		uint32_t id = heap_pop(s).id;
		if (!s->once)
			next_tick(s, &s->t[id], now);
		tick(s, id);
	}
	rearm(s);
}

int pf_sched_start(pf_sched *s, int once)
{
	if (s->armed)
		return -EALREADY;
	s->once = once;
	s->heap = malloc((s->n ? s->n : 1) * sizeof(hent));
	if (s->heap == NULL)
		return -ENOMEM;
	s->armed = 1;
	if (once) {
		s->slack = 0;
	} else {
		/* The slack's cuts (see schedule.h). */
		double per_ms = 0; /* ticks a millisecond, all targets */
		for (size_t i = 0; i < s->n; i++) {
			per_ms += 1.0 / (double)s->t[i].interval;
			if (s->slack > s->t[i].interval / 10)
				s->slack = s->t[i].interval / 10;
		}
		if ((double)s->slack * per_ms > SLACK_TICKS)
			s->slack = (uint64_t)(SLACK_TICKS / per_ms);
	}
	/* The grid is on the wall clock, due times on the loop's, which was
	 * read at the top of this iteration: the wall clock is taken back to
	 * that instant. A reload that spent 200 ms building its generation
	 * then neither puts the targets 200 ms off their grid nor loses a tick
	 * that fell due meanwhile (it is due now and runs at once). A tick due
	 * exactly at the loop's time had its turn in the old schedule. */
	uint64_t now = uv_now(s->loop);
	uint64_t fresh = uv_hrtime() / 1000000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (fresh > now && wall > fresh - now)
		wall -= fresh - now;
	for (size_t i = 0; i < s->n; i++) {
		target *t = &s->t[i];
		if (once) {
			heap_push(s, now, (uint32_t)i);
			continue;
		}
		if (!t->followed) {
			uint64_t phase = wall % t->interval;
			uint64_t wait = (t->key % t->interval + t->interval - phase) % t->interval;
			t->due = now + (wait ? wait : t->interval);
		}
		arm(s, t);
	}
	rearm(s);
	return 0;
}

void pf_sched_done(pf_sched *s, size_t id)
{
	if (id >= s->n || s->t[id].state != T_RUNNING)
		return;
	s->t[id].state = T_IDLE;
	s->st.running--;
	pump(s);
}

void pf_sched_flush(pf_sched *s)
{
	if (s->stopped || s->once || !s->armed || s->nheap == 0)
		return;
	uint64_t now = uv_now(s->loop);
	uint32_t *due = malloc(s->nheap * sizeof *due);
	if (due == NULL) {
		/* The reload goes on; the ticks held back now are not run. */
		pf_log(PF_LOG_ERROR, NULL, "reload: out of memory; the ticks due in the last slack window are skipped");
		return;
	}
	/* The pending ticks whose grid time has come leave the heap (which is
	 * rebuilt from the others), then take their next tick and start. */
	size_t n = s->nheap, nd = 0;
	s->nheap = 0;
	for (size_t i = 0; i < n; i++) {
		hent e = s->heap[i];
		if (s->t[e.id].due <= now)
			due[nd++] = e.id;
		else
			heap_push(s, e.at, e.id);
	}
	for (size_t i = 0; i < nd && !s->stopped; i++) {
		next_tick(s, &s->t[due[i]], now);
		tick(s, due[i]);
	}
	free(due);
	rearm(s);
}

long pf_sched_follow(pf_sched *s, const pf_sched *old)
{
	if (s->armed || s->loop != old->loop)
		return -EINVAL;
	if (!old->armed || old->once || s->n == 0 || old->n == 0)
		return 0;
	/* old's targets in an open-addressed set by key, then one lookup a
	 * target of s: 10,000 targets cost 10,000 probes, not 10^8 compares. */
	size_t cap = 1;
	while (cap < old->n * 2)
		cap <<= 1;
	uint32_t *set = malloc(cap * sizeof *set);
	if (set == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		set[i] = NIL;
	for (size_t i = 0; i < old->n; i++) {
		size_t h = (size_t)pf_mix64(old->t[i].key) & (cap - 1);
		while (set[h] != NIL)
			h = (h + 1) & (cap - 1);
		set[h] = (uint32_t)i;
	}
	/* A tick of old's that is more than an interval overdue, or more than
	 * one ahead, is not a reload's handover: that target starts afresh. */
	uint64_t now = uv_now(s->loop);
	long n = 0;
	for (size_t i = 0; i < s->n; i++) {
		target *t = &s->t[i];
		size_t h = (size_t)pf_mix64(t->key) & (cap - 1);
		for (; set[h] != NIL; h = (h + 1) & (cap - 1)) {
			const target *o = &old->t[set[h]];
			if (o->key != t->key || o->interval != t->interval)
				continue;
			if (o->due + t->interval > now && o->due <= now + t->interval) {
				t->due = o->due;
				t->followed = 1;
				n++;
			}
			break;
		}
	}
	free(set);
	return n;
}

void pf_sched_stop(pf_sched *s)
{
	s->stopped = 1;
	s->nheap = 0;
	uv_timer_stop(&s->timer);
	while (s->qhead != NIL) {
		target *t = &s->t[s->qhead];
		s->qhead = t->next;
		t->next = NIL;
		t->state = T_IDLE;
		s->st.skipped_late++;
	}
	s->qtail = NIL;
}

uint64_t pf_sched_slack(const pf_sched *s)
{
	return s->slack;
}

const pf_sched_stats *pf_sched_get_stats(const pf_sched *s)
{
	return &s->st;
}

static void close_cb(uv_handle_t *h)
{
	pf_sched *s = h->data;
	void (*done)(void *) = s->done;
	void *ud = s->done_ud;
	free(s->heap);
	free(s->t);
	free(s);
	if (done)
		done(ud);
}

void pf_sched_close(pf_sched *s, void (*done)(void *ud), void *ud)
{
	pf_sched_stop(s);
	s->done = done;
	s->done_ud = ud;
	uv_close((uv_handle_t *)&s->timer, close_cb);
}
