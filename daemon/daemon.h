/*
 * daemon.h: the scraping daemon's run: sinks, HTTP client, scheduler,
 * reloads, the own endpoint and signals on one libuv loop.
 */
#ifndef PF_DAEMON_H
#define PF_DAEMON_H

#include "config.h"

typedef struct pf_daemon_opts {
	const char *path;       /* the configuration file, loaded again at each reload */
	int once;               /* scrape every target once, to stdout, and exit */
	int log_level_forced;   /* --log-level given: a reload keeps it */
} pf_daemon_opts;

/* Runs until SIGINT/SIGTERM (once = 0) or until every target was scraped
 * once (once = 1; line protocol to stdout only). SIGHUP (and, with
 * watch_config, a change of the file) loads the configuration again and
 * swaps in what changed. Returns the exit status: 0, or 1 when something
 * could not start, a --once scrape failed, or the loop did not close
 * cleanly. Takes cfg (loaded from o->path) and frees it, and every later
 * one, before returning. */
int pf_daemon_run(pf_config *cfg, const pf_daemon_opts *o);

#endif
