/*
 * sink.h: where line protocol goes: stdout, a file or an InfluxDB output.
 *
 * A sink receives whole buffers of complete lines (one scrape each) through
 * pf_sink_write(). The stdout and file sinks write them at once and fully
 * (write(2) in a loop; a failure is logged, rate-limited, and the buffer is
 * dropped); an InfluxDB output (issue 3/6) will copy the buffer into its
 * batch and return at once, which is why writing is allowed to queue and
 * why closing is asynchronous: every sink owns one uv_timer (the file and
 * stdout sinks use it only to close; a batching sink will use it for its
 * flush interval) and is freed in that handle's close callback.
 * The InfluxDB sink is a pf_writer (writer.h): its close delivers what it
 * holds within the shutdown timeout before the sink's handle closes.
 */
#ifndef PF_SINK_H
#define PF_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "writer.h"

typedef struct pf_sink pf_sink;

typedef struct pf_sink_stats {
	uint64_t writes;       /* buffers accepted */
	uint64_t bytes;        /* bytes written (or queued) */
	uint64_t errors;       /* buffers lost to a write error */
} pf_sink_stats;

/* Returns a sink writing to fd 1, or NULL. name is copied (for logs). */
pf_sink *pf_sink_stdout_new(uv_loop_t *loop, const char *name);

/* Returns a sink appending to path (created 0644 if missing), or NULL with
 * *err set to a negative errno (e.g. -EACCES). name and path are copied. */
pf_sink *pf_sink_file_new(uv_loop_t *loop, const char *name, const char *path, int *err);

/* Returns a sink writing to the influxdb_v1/v2 output o (borrowed: the
 * configuration must outlive the sink) with the writer options wo (see
 * writer.h), or NULL with err set. Closing it delivers what it holds for
 * at most wo->shutdown_ms. */
pf_sink *pf_sink_influx_new(uv_loop_t *loop, const pf_output *o, const pf_writer_opts *wo, char *err,
			    size_t errcap);

/* The counters of an InfluxDB sink (brought up to date), NULL for others. */
const pf_writer_stats *pf_sink_writer_stats(pf_sink *s);

/* The writer of an InfluxDB sink (reloads use it), NULL for others. */
pf_writer *pf_sink_writer(pf_sink *s);

/* Hands over n bytes of complete lines (borrowed for the call only).
 * lines: how many, when the caller knows that lp is exactly that many
 * non-empty lines each ending in '\n' (an encoder's output), which spares
 * a batching sink from looking for each line's end; 0 if not known.
 * Returns 0 when written or queued, or a negative errno (already logged). */
int pf_sink_write(pf_sink *s, const char *lp, size_t n, size_t lines);

/* pf_sink_write(s, out->data, out->len, lines), then out is empty. An
 * InfluxDB sink may take out's block instead of copying it (see
 * pf_writer_write_buf()): write the other sinks first. */
struct pf_buf;
int pf_sink_write_buf(pf_sink *s, struct pf_buf *out, size_t lines);

/* Reopens the output (file: the path again, for logrotate; others: no-op).
 * Returns 0 or a negative errno (logged; the old file stays in use). */
int pf_sink_reopen(pf_sink *s);

/* Writes out whatever is queued. Returns 0 or a negative errno. */
int pf_sink_flush(pf_sink *s);

const pf_sink_stats *pf_sink_get_stats(const pf_sink *s);
const char *pf_sink_name(const pf_sink *s);

/* Flushes, closes the output and the sink's handle, then calls done(ud)
 * (from the loop, never before returning; done may be NULL) and frees s. */
void pf_sink_close(pf_sink *s, void (*done)(void *ud), void *ud);

#endif
