/*
 * direct.h: the direct way. The common 0.0.4 sample line is written
 * straight to line protocol by the parser (expfmt.c), in the pass that
 * reads it, instead of going through pf_sample, the pipeline's filter, the
 * mapper, pf_point and the encoder. The line protocol is the same byte for
 * byte: tests/schema/test_plain and fuzz_pipeline compare it with the long
 * way's (pf_pipeline_opts.long_way).
 *
 * The common line, all of which must hold, else it goes the long way:
 *   - input read as 0.0.4; `on` set; `left` not 0;
 *   - a plain metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) that is the open
 *     family's own name, the family a counter, gauge or untyped one
 *     without a unit;
 *   - no label set, or one of at most 32 labels as pf_sample.lp_plain
 *     describes it (values printable ASCII without ' ' , = \ "), except
 *     that the names may come in any order (no name twice) and a value may
 *     be empty (the label is then left out, as the mapper leaves it out),
 *     with no name among keys[] (relabelling renames those, or they meet
 *     an extra tag);
 *   - one space, then a float that line protocol takes as written
 *     (pf_lp_float_text_ok()), then nothing or one space and a timestamp
 *     within what InfluxDB stores;
 *   - its line protocol fits the output buffer's room.
 * Its line is then: measurement (meas, or the metric name), the labels
 * (sorted, when they were not) and the extra tags merged in key order,
 * one field (field[type], or the metric name) with the value as written,
 * and the time: the sample's own unless ignore_ts (or ts_positive and it
 * is not after 1970), else the scrape's (tail).
 *
 * Ownership: the pipeline owns it and fills it for each body (from
 * pf_mapper_direct(), pipeline.c) and turns `on` off while the mapper holds
 * a grouped family (a histogram or summary whose points are not written
 * yet), since a direct line must not overtake them. The parser only reads
 * it, appends to *out, and counts in lines and left.
 */
#ifndef PF_DIRECT_H
#define PF_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lineproto.h"
#include "str.h"

typedef struct pf_direct {
	int on;               /* 0: every line the long way */
	uint64_t left;        /* lines it may still write (a sample_limit) */
	uint64_t lines;       /* lines written */
	pf_buf *out;          /* borrowed */
	pf_str meas;          /* the measurement; empty: the metric name */
	pf_str field[3];      /* field key of an untyped, counter, gauge sample;
			       * empty: the metric name */
	const pf_tag *extra;  /* raw tags (pf_lp_tag_prepare()), keys ascending */
	const pf_str *extra_text; /* ",key=value" of each of extra[], one after
				   * the other in one piece (written in one
				   * copy after the labels) */
	size_t nextra;
	size_t extra_bytes;   /* what they add to a line: the extra_text */
	const pf_tag *keys;   /* label names that send the line the long way */
	size_t nkeys;
	unsigned char key_first[256]; /* 1 for the first byte of each of keys[] */
	char tail[32];        /* " <time>\n": the scrape's time */
	size_t ntail;
	enum pf_precision prec; /* of the written time */
	int ignore_ts;        /* the scrape's time even for a sample with its own */
	int ts_positive;      /* and for one whose own is not after 1970 (Telegraf's rule) */
} pf_direct;

#endif
