/*
 * log.h: one line per event on stderr, logfmt style.
 *
 *   level=warn target=http://10.0.0.5:9100/metrics msg="connection refused"
 *
 * Under systemd (JOURNAL_STREAM set) each line also starts with the syslog
 * priority, "<4>", which journald turns into the entry's priority.
 * Levels are policy, as in Knot Resolver:
 *   error  something failed and promflux goes on (a write failed, a bad line)
 *   crit   promflux cannot go on and exits; bad configuration at run time
 *          must never cause this
 *   warn   something is degraded (a target is down, a buffer is full)
 *   info   start, stop, reload; debug: per scrape detail.
 * The library reports errors to its caller; it logs only what the caller
 * cannot see (a failed scrape inside the loop).
 */
#ifndef PF_LOG_H
#define PF_LOG_H

#include <stdint.h>

enum pf_log_level {
	PF_LOG_CRIT = 0,
	PF_LOG_ERROR,
	PF_LOG_WARN,
	PF_LOG_INFO,
	PF_LOG_DEBUG,
};

/* Sets the most verbose level written (default info). */
void pf_log_set_level(enum pf_log_level lvl);
enum pf_log_level pf_log_get_level(void);

/* "crit", "error", "warn", "info", "debug" -> level. Returns 0 or -1. */
int pf_log_level_parse(const char *s, enum pf_log_level *out);

/* Writes one line: level=L [kv] msg="..." where kv is NULL or preformatted
 * key=value pairs (e.g. "target=http://x/metrics"); the message is quoted
 * and its quotes, backslashes and control bytes escaped, so a line is
 * always one line. */
void pf_log(enum pf_log_level lvl, const char *kv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs with PF_LOG_CRIT and exits with status 1. */
void pf_fatal(const char *kv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/*
 * Rate limit for repeated messages of one source (one target, one output):
 * at most `burst` messages per `window_ms`; the first message after a quiet
 * window says how many were suppressed.
 */
typedef struct pf_ratelimit {
	uint64_t window_start_ms;
	unsigned sent;
	unsigned suppressed;
} pf_ratelimit;

/* Returns 1 when a message may be written now; *suppressed (may be NULL)
 * receives how many were held back since the last one written. */
int pf_ratelimit_ok(pf_ratelimit *r, uint64_t now_ms, unsigned burst, uint64_t window_ms,
		    unsigned *suppressed);

#endif
