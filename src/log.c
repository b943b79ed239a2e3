/* log.c: logfmt lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static enum pf_log_level max_level = PF_LOG_INFO;
static int journal = -1; /* unknown until the first line */

static const char *const names[] = { "crit", "error", "warn", "info", "debug" };
/* syslog priorities: crit 2, err 3, warning 4, info 6, debug 7 */
static const int prio[] = { 2, 3, 4, 6, 7 };

void pf_log_set_level(enum pf_log_level lvl)
{
	max_level = lvl;
}

enum pf_log_level pf_log_get_level(void)
{
	return max_level;
}

int pf_log_level_parse(const char *s, enum pf_log_level *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum pf_log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = PF_LOG_WARN;
		return 0;
	}
	return -1;
}

static void vlog(enum pf_log_level lvl, const char *kv, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(enum pf_log_level lvl, const char *kv, const char *fmt, va_list ap)
{
	char msg[2048], prio_txt[8] = "", line[PF_QUOTE_SIZE(sizeof(msg)) + 1024];

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		snprintf(prio_txt, sizeof(prio_txt), "<%d>", prio[lvl]);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* The prefix is cut at 1000 bytes (kv may hold a very long target URL),
	 * so that the message always fits after it. */
	int n = snprintf(line, 1000, "%slevel=%s %s%s", prio_txt, names[lvl],
			 kv && *kv ? kv : "", kv && *kv ? " " : "");
	size_t o = n < 0 ? 0 : (size_t)n < 1000 ? (size_t)n : 999;
	memcpy(line + o, "msg=", 4);
	o += 4;
	/* msg="...": Go's quoting, as logfmt readers expect; a line is always
	 * one line. */
	pf_quote(line + o, sizeof(line) - o - 1, msg, strlen(msg), sizeof(msg), PF_QUOTE_GO | PF_QUOTE_WRAP);
	o += strlen(line + o);
	line[o++] = '\n';
	/* One write per line, so lines of concurrent writers never interleave. */
	fwrite(line, 1, o, stderr);
	fflush(stderr);
}

void pf_log(enum pf_log_level lvl, const char *kv, const char *fmt, ...)
{
	if (lvl > max_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, kv, fmt, ap);
	va_end(ap);
}

void pf_fatal(const char *kv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(PF_LOG_CRIT, kv, fmt, ap);
	va_end(ap);
	exit(1);
}

int pf_ratelimit_ok(pf_ratelimit *r, uint64_t now_ms, unsigned burst, uint64_t window_ms,
		    unsigned *suppressed)
{
	if (now_ms - r->window_start_ms >= window_ms || r->window_start_ms == 0) {
		r->window_start_ms = now_ms ? now_ms : 1;
		r->sent = 0;
	}
	if (r->sent < burst) {
		r->sent++;
		if (suppressed)
			*suppressed = r->suppressed;
		r->suppressed = 0;
		return 1;
	}
	r->suppressed++;
	return 0;
}
