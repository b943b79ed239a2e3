/*
 * pipeline.h: exposition text in, line protocol out.
 *
 * Glues the parser (expfmt), the schema mapper and the line-protocol
 * encoder for one body (common lines go the direct way, direct.h): feed it
 * chunks as they arrive, finish it, and the line protocol is appended to
 * the caller's buffer. Errors are reported
 * through a callback as one line each, "SOURCE:LINE:COL: message", where
 * SOURCE is a file name or a target URL.
 */
#ifndef PF_PIPELINE_H
#define PF_PIPELINE_H

#include <stdint.h>

#include "buf.h"
#include "expfmt.h"
#include "lineproto.h"
#include "schema.h"

typedef struct pf_pipeline_opts {
	enum pf_format format;
	enum pf_on_error on_error;
	pf_map_opts map;             /* map.format is set from format */
	enum pf_precision precision; /* of the written timestamps */
	const char *source;          /* for messages; borrowed, must outlive the pipeline */
	int long_way;                /* tests: no shortcut for common label sets
				      * (pf_parser_set_plain()); the output is the same */
} pf_pipeline_opts;

typedef struct pf_pipeline_stats {
	pf_parse_stats parse;
	pf_lp_stats lp;
	uint64_t encode_errors; /* samples or points not written because invalid (reported) */
	uint64_t lp_refused;    /* of those, points pf_lp_write refused (also in lp.points_dropped) */
	uint64_t samples_kept;  /* samples handed to the mapper (after the filter),
				 * or written the direct way */
	uint64_t samples_direct; /* of those, written the direct way (direct.h) */
} pf_pipeline_stats;

/* Receives one message line (no newline). */
typedef void (*pf_msg_fn)(void *ud, const char *msg);

typedef struct pf_pipeline pf_pipeline;

/* Returns a new pipeline appending to out (borrowed), or NULL. */
pf_pipeline *pf_pipeline_new(const pf_pipeline_opts *opts, pf_buf *out,
			     pf_msg_fn on_msg, void *ud);

/* Optional hook between the parser and the mapper (relabelling): returns
 * the sample to map, either s itself or one the filter owns (valid until
 * its next call), or NULL to drop it. */
typedef const pf_sample *(*pf_sample_filter_fn)(void *ud, const pf_sample *s);

/* Sets (or, with fn NULL, removes) the filter. Kept across resets. A
 * filter turns the direct way off, until pf_pipeline_set_direct(). */
void pf_pipeline_set_filter(pf_pipeline *pl, pf_sample_filter_fn fn, void *ud);

/* The direct way (direct.h): common 0.0.4 lines go to the output without
 * the filter or the mapper. on: the caller promises that its filter (if
 * any) returns unchanged every sample with lp_plain set, of a counter,
 * gauge or untyped family, whose label names are none of map.tags' keys,
 * as long as fewer than max_kept samples were kept (0: no bound); the
 * pipeline then writes such lines itself while fewer than max_kept
 * samples are kept, and hands the filter the rest. On by default (no
 * filter); never with long_way. Kept across resets. */
void pf_pipeline_set_direct(pf_pipeline *pl, int on, uint64_t max_kept);

/* Same returns as pf_parser_feed(); -E2BIG when out is full. */
int pf_pipeline_feed(pf_pipeline *pl, const char *data, size_t len);
int pf_pipeline_finish(pf_pipeline *pl);

const pf_pipeline_stats *pf_pipeline_get_stats(const pf_pipeline *pl);

/* Ready for a new body (new format and time), keeping memory. Should
 * the mapper be unable to take the options (-ENOMEM), the next feed or
 * finish returns that error. */
void pf_pipeline_reset(pf_pipeline *pl, enum pf_format fmt, int64_t now_ns);

void pf_pipeline_free(pf_pipeline *pl);

#endif
