/*
 * daemon.h: the scraping daemon's run: sinks, HTTP client, scheduler and
 * signals on one libuv loop.
 */
#ifndef PF_DAEMON_H
#define PF_DAEMON_H

#include "config.h"

/* Runs until SIGINT/SIGTERM (once = 0) or until every target was scraped
 * once (once = 1; line protocol to stdout only). Returns the exit status:
 * 0, or 1 when something could not start, a --once scrape failed, or the
 * loop did not close cleanly. cfg is borrowed. */
int pf_daemon_run(const pf_config *cfg, int once);

#endif
