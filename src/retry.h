/*
 * retry.h: when to try again: exponential backoff with full jitter, and
 * the server's Retry-After.
 *
 * After the n-th failure in a row the wait is drawn uniformly from
 * [base, min(cap, base * 2^(n-1))] ("full jitter", AWS Architecture Blog,
 * "Exponential Backoff And Jitter", with the base as a floor so that a
 * retry never comes back at once). Many promflux instances that lost the
 * same server so spread their retries instead of returning in step. A
 * Retry-After from the server is a lower bound: the wait is at least that
 * long (up to PF_RETRY_AFTER_MAX, so a broken proxy cannot stop an output
 * for a day), even above the cap.
 *
 * Pure functions and a small state struct; the caller owns the timer.
 */
#ifndef PF_RETRY_H
#define PF_RETRY_H

#include <stdint.h>

#define PF_BACKOFF_BASE_MS 100u
/* Longest Retry-After honoured, ms (an hour). */
#define PF_RETRY_AFTER_MAX (3600u * 1000u)

typedef struct pf_backoff {
	uint64_t base_ms;
	uint64_t cap_ms;
	unsigned failures;   /* in a row; 0 after pf_backoff_reset() */
	uint64_t rng;        /* xorshift64* state, never 0 */
} pf_backoff;

/* base_ms > 0; cap_ms below base_ms means every wait is cap_ms. seed
 * picks the jitter sequence (0 is replaced by a fixed constant). */
void pf_backoff_init(pf_backoff *b, uint64_t base_ms, uint64_t cap_ms, uint64_t seed);

/* Counts one failure and returns how long to wait before the next try, ms.
 * retry_after_ms: the server's Retry-After (0: none). */
uint64_t pf_backoff_next(pf_backoff *b, uint64_t retry_after_ms);

/* A success: the next failure starts from the base again. */
void pf_backoff_reset(pf_backoff *b);

/* Parses a Retry-After value: delay-seconds ("120") or an HTTP-date
 * ("Sun, 06 Nov 1994 08:49:37 GMT", the IMF-fixdate of RFC 9110; the
 * obsolete RFC 850 and asctime forms too). now_s is the current Unix time.
 * *ms gets the wait (0 for a date in the past), cut to PF_RETRY_AFTER_MAX.
 * Returns 0, or -1 for anything else (the caller ignores the header). */
int pf_retry_after_parse(const char *v, int64_t now_s, uint64_t *ms);

#endif
