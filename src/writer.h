/*
 * writer.h: one InfluxDB output (influxdb_v1 or influxdb_v2) on the loop:
 * its memory queue, its write requests, retries, and its stop.
 *
 * pf_writer_write() copies a scrape's lines into the queue and returns at
 * once; batches leave by size or by flush_interval, at most max_in_flight
 * at a time, each request answered as influx.h reads it: written, rejected
 * (counted, not retried), split (413), or kept and retried with backoff
 * (retry.h; after a failure one request probes until a write succeeds,
 * so a recovering server is not hit by every batch at once). The writer
 * owns its own HTTP client (pf_http), so an output's connections, and a
 * dead output's timeouts, are its own.
 *
 * At creation the server is checked once (ping, then the credentials) and
 * the result logged; writing does not wait for it.
 *
 * pf_writer_close() flushes: it sends everything held, retrying as usual,
 * for at most shutdown_ms; then cancels what is in flight, logs how many
 * points were not delivered, closes its handles and calls done.
 *
 * Ownership: the writer borrows the pf_output (the configuration outlives
 * it) and owns everything else. Logs go through log.h with output=NAME.
 */
#ifndef PF_WRITER_H
#define PF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "promtext.h"
#include "spool.h"

typedef struct pf_writer pf_writer;

/* Self counters (for self-monitoring, issue 4/6). Points = lines. */
typedef struct pf_writer_stats {
	uint64_t lines_written;     /* accepted by the server */
	uint64_t batches_written;   /* 2xx answers */
	uint64_t bytes_sent;        /* request bodies of 2xx writes, as sent (gzip) */
	uint64_t requests;          /* write requests made */
	uint64_t retries;           /* batches kept for another try */
	uint64_t splits;            /* 413 answers split */
	uint64_t dropped_rejected;  /* points the server refused (400/422) */
	uint64_t dropped_buffer_full; /* oldest batches dropped at buffer_limit */
	uint64_t dropped_too_large; /* single lines a 413 still refused */
	uint64_t undelivered_at_stop; /* points still held when shutdown_timeout passed */
	uint64_t queue_bytes;       /* held now: queued + open + in flight */
	uint64_t queue_batches;     /* sealed batches waiting now */
	int reachable;              /* the last request got an answer below 500 */
	pf_hist write_seconds;      /* write requests answered, by duration */
	int spool_on;               /* the disk spool is open */
	pf_spool_stats spool;       /* its figures, when it is */
	uint64_t databases_created;
} pf_writer_stats;

typedef struct pf_writer_opts {
	uint64_t shutdown_ms;       /* [global] shutdown_timeout */
	uint64_t seed;              /* backoff jitter; 0: from the clock */
	int skip_check;             /* no start-up check (tests) */
	const char *spool_dir;      /* the spool's directory; NULL: no spool */
	int spool_defer;            /* do not open it: a reload's pf_writer_adopt()
				     * hands over the predecessor's */
} pf_writer_opts;

/* A writer for o (type influxdb_v1 or influxdb_v2), or NULL with err set. */
pf_writer *pf_writer_new(uv_loop_t *loop, const pf_output *o, const pf_writer_opts *opts, char *err,
			 size_t errcap);

/* Queues n bytes of complete lines (borrowed for the call); lines: their
 * number or 0, as for pf_queue_append(). Returns 0, or -ENOMEM /
 * -ECANCELED (closing) with the lines counted as dropped. */
int pf_writer_write(pf_writer *w, const char *lp, size_t n, size_t lines);

/* pf_writer_write(w, out->data, out->len, lines), then out is empty: its
 * block may have been taken into the queue instead of copied, and out
 * given another (pf_queue_append_buf()). */
struct pf_buf;
int pf_writer_write_buf(pf_writer *w, struct pf_buf *out, size_t lines);

/* Sends the open batch now instead of at its flush interval. */
void pf_writer_flush(pf_writer *w);

/* A reload that changed this output: w (new, nothing written to it yet)
 * takes every point old holds that is not in flight, in order, and sends
 * it; old keeps its writes in flight (close it next: its flush then only
 * waits for those), and a write of old that fails from now on hands its
 * batch to w instead of retrying it. Returns 0, or -EBUSY when w already
 * holds points or either is already part of an adoption. */
int pf_writer_adopt(pf_writer *w, pf_writer *old);

/* A reload that did not change this output: the writer borrows o (equal
 * in every setting to the one it had) from now on. */
void pf_writer_set_output(pf_writer *w, const pf_output *o);

/* Flushes within shutdown_ms, then frees w and calls done(ud) (from the
 * loop, never before returning; done may be NULL). */
void pf_writer_close(pf_writer *w, void (*done)(void *ud), void *ud);

/* The counters; queue_bytes is brought up to date by this call. */
const pf_writer_stats *pf_writer_get_stats(pf_writer *w);

#endif
