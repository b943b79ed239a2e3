/*
 * schema.h: maps Prometheus samples to InfluxDB points.
 *
 * Three layouts, the ones users already have in their databases:
 *   telegraf-v1   Telegraf's prometheus parser, metric_version = 1
 *   telegraf-v2   Telegraf's prometheus parser, metric_version = 2
 *   influxdb-prom measurement = sample name, field "value", labels as tags
 * Histograms and summaries are grouped per label set within one family
 * (the only state a mapper keeps, freed at the end of each family).
 */
#ifndef PF_SCHEMA_H
#define PF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "expfmt.h"
#include "lineproto.h"

enum pf_schema {
	PF_SCHEMA_TELEGRAF_V1 = 0,
	PF_SCHEMA_TELEGRAF_V2,
	PF_SCHEMA_INFLUXDB_PROM,
};

typedef struct pf_map_opts {
	enum pf_schema schema;
	enum pf_format format;    /* OpenMetrics input maps as Telegraf's openmetrics parser */
	int64_t now_ns;           /* time for samples without a timestamp */
	int ignore_timestamps;    /* use now_ns even when a sample has one */
	const pf_tag *tags;       /* extra tags; a label of the same name wins */
	size_t ntags;
} pf_map_opts;

/* Receives each point. The point and every slice in it are valid only during
 * the call. Return 0 to go on, nonzero to stop (returned to the caller). */
typedef int (*pf_point_fn)(void *ud, pf_point *p);

typedef struct pf_mapper pf_mapper;

/* Returns a new mapper or NULL. opts is copied (tags are borrowed and must
 * outlive the mapper). */
pf_mapper *pf_mapper_new(const pf_map_opts *opts, pf_point_fn fn, void *ud);

/* Maps one sample; may call fn zero or more times. */
int pf_mapper_sample(pf_mapper *m, const pf_sample *s);

/* Flushes whatever is grouped (call at the end of the body). */
int pf_mapper_finish(pf_mapper *m);

/* Ready for a new body with new opts (same tags rules), keeping memory.
 * Returns 0, or -ENOMEM when the extra tags could not be prepared (the
 * mapper then adds none: the caller must not go on with this body). */
int pf_mapper_reset(pf_mapper *m, const pf_map_opts *opts);

void pf_mapper_free(pf_mapper *m);

/* The direct way (direct.h): fills d's measurement, field keys, extra
 * tags and keys[] as this mapper would map a plain counter, gauge or
 * untyped sample of the format and tags of its options, borrowed until
 * its next reset. Returns 1, or 0 when it cannot promise the direct way's
 * output is its own (input not 0.0.4; extra tags that are not all raw, or
 * a key twice). Leaves d's on, left, lines, out, tail and prec alone. */
struct pf_direct;
int pf_mapper_direct(const pf_mapper *m, struct pf_direct *d);

/* 1 when nothing is grouped (no histogram, summary or stateset points
 * held back): a sample mapped now is written now. */
int pf_mapper_idle(const pf_mapper *m);

/* "telegraf-v1" ... to enum; returns 0 or -1. */
int pf_schema_parse(const char *s, enum pf_schema *out);
const char *pf_schema_name(enum pf_schema s);

#endif
