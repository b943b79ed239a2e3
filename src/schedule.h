/*
 * schedule.h: when each target is scraped.
 *
 * Each target (one job x one URL) fires at a stable offset inside its
 * interval, as Prometheus does: offset = FNV-1a(job, url) mod interval,
 * taken against the wall clock, so a restart keeps the phase and 10,000
 * targets spread evenly instead of firing at once. An optional random
 * jitter (0 .. jitter_ms) is added to each tick, never accumulated: tick k
 * is due at start + offset + k * interval.
 *
 * Slack: the timer is only ever set to fire on a multiple of slack_ms of
 * the loop's clock (rounded up), so the ticks that fall due within one
 * slack window start together, on one wakeup of the loop, and their
 * replies tend to arrive together too. A tick starts at most slack_ms - 1
 * late, and never early; 0 turns this off. It is cut to a tenth of the
 * shortest interval, so that a tick is never pushed near the next one,
 * and so that a window holds about SLACK_TICKS (8) ticks on average: more
 * scrapes at once would only hold more buffers (at 10,000 targets every
 * 10 s, 50 per window took the peak RSS from about 40 to 60-90 MB), and
 * at such rates the loop is seldom idle between ticks anyway. With 1,000
 * targets every 5 s the slack (40 ms there) makes the loop wait in epoll
 * 4 times less often and the daemon spend about 3% less CPU (README,
 * Performance, fifth round).
 *
 * A target never has two scrapes in flight: a tick that finds the previous
 * one still running (or still waiting for a slot) is skipped and counted.
 * At most max_concurrent scrapes run at once; a tick beyond the cap waits
 * in a FIFO, and when a slot frees it starts, unless it has waited a whole
 * interval (its next tick has come and been skipped meanwhile): then its
 * data would be stale, and it is dropped and counted as late.
 *
 * Memory: one record per target (a few integers, about 56 bytes with its
 * heap entry); no scrape state is held for an idle target. One uv_timer
 * serves the whole schedule.
 * Ownership: the scheduler owns its timer and frees itself in
 * pf_sched_close()'s close callback.
 */
#ifndef PF_SCHEDULE_H
#define PF_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct pf_sched pf_sched;

/* Starts the scrape of target id. Returns 0 when it runs (the caller then
 * calls pf_sched_done(id) exactly once, later), or a negative errno when it
 * finished (failed) at once: the target is free again. */
typedef int (*pf_sched_start_fn)(void *ud, size_t id);

typedef struct pf_sched_stats {
	uint64_t ticks;        /* ticks that came due */
	uint64_t started;      /* scrapes started */
	uint64_t skipped_busy; /* ticks skipped: the previous scrape was running or waiting */
	uint64_t skipped_late; /* ticks dropped after waiting a whole interval for a slot */
	uint64_t queued;       /* ticks that had to wait for a slot */
	size_t running;        /* scrapes in flight now */
	size_t max_running;    /* most at once */
} pf_sched_stats;

/* Returns a scheduler or NULL. max_concurrent 0 means no cap; slack_ms 0
 * means no slack. */
pf_sched *pf_sched_new(uv_loop_t *loop, unsigned max_concurrent, uint64_t jitter_ms,
		       uint64_t slack_ms, pf_sched_start_fn fn, void *ud);

/* Adds a target (before pf_sched_start) and returns its id (0, 1, ...), or
 * a negative errno. interval_ms must be > 0. */
long pf_sched_add(pf_sched *s, const char *job, const char *url, uint64_t interval_ms);

/* Arms the timers. once: every target fires at once (still under the cap),
 * a single time, with no offset, jitter or slack. Returns 0 or a negative errno. */
int pf_sched_start(pf_sched *s, int once);

/* The scrape of target id has ended. */
void pf_sched_done(pf_sched *s, size_t id);

/* Before a reload's pf_sched_stop(): starts (or queues, at the cap) every
 * tick whose grid time has come by the loop's time but that the slack or
 * the jitter still held back, so that a tick due before the reload runs
 * with the configuration it fell due under and none is lost between two
 * schedules (the next one's first ticks are those after the loop's time:
 * pf_sched_start). */
void pf_sched_flush(pf_sched *s);

/* Before pf_sched_start() of a reload's new schedule s: each target of s
 * that old (flushed and stopped) also had, with the same job, URL and
 * interval, takes its next tick from old instead of from the wall clock.
 * The two schedules then agree on which tick was old's last, to the
 * millisecond: computed afresh, the loop-to-wall mapping may differ by a
 * millisecond or two between the two (each clock is read in whole ms), and
 * a target falling due at the reload's instant would lose that tick or get
 * it twice. Other targets start from the wall clock (pf_sched_start).
 * Prometheus keeps an unchanged target's scrape loop across a reload to
 * the same effect. Returns how many targets follow old, or a negative
 * errno (then none does). */
long pf_sched_follow(pf_sched *s, const pf_sched *old);

/* Stops every timer and forgets waiting ticks, counting those that waited
 * for a slot as late; running scrapes go on. */
void pf_sched_stop(pf_sched *s);

const pf_sched_stats *pf_sched_get_stats(const pf_sched *s);

/* The slack in use (ms), after pf_sched_start: slack_ms cut as above. */
uint64_t pf_sched_slack(const pf_sched *s);

/* The stable offset of a target inside its interval (ms). */
uint64_t pf_sched_offset(const char *job, const char *url, uint64_t interval_ms);

/* Closes every timer, then calls done(ud) from the loop and frees s. */
void pf_sched_close(pf_sched *s, void (*done)(void *ud), void *ud);

#endif
