/*
 * relabel.h: the per-job sample filter between parser and mapper.
 *
 * What a job's configuration asks of each scraped sample, in this order:
 *   1. metric_include / metric_exclude: fnmatch globs matched against the
 *      sample name and its family name (so `exclude = http_request_duration`
 *      removes a whole histogram, `exclude = *_bucket` only its buckets);
 *      a sample is kept when the include list is empty or one glob matches,
 *      and no exclude glob matches.
 *   2. label_drop: labels whose name matches a glob are removed.
 *   3. honor_labels = false: a scraped label whose name is one of our tag
 *      keys (global tags, host, job tags, the url tag) is renamed
 *      exported_<name>, so our tag wins, as Prometheus does. With
 *      honor_labels = true nothing is renamed and the scraped label wins
 *      (the mapper already lets a label beat an extra tag of the same name).
 * Used as a pf_sample_filter_fn (pipeline.h). Single-threaded: the sample
 * it returns lives in the filter's scratch space until its next call.
 */
#ifndef PF_RELABEL_H
#define PF_RELABEL_H

#include <stddef.h>

#include "expfmt.h"

typedef struct pf_relabel_opts {
	const char *const *include; /* globs; borrowed, must outlive the filter */
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
	const char *const *label_drop;
	size_t nlabel_drop;
	int honor_labels;
	const char *const *our_keys; /* tag keys of ours; copied */
	size_t nour_keys;
} pf_relabel_opts;

typedef struct pf_relabel pf_relabel;

/* Returns a new filter, or NULL (out of memory). */
pf_relabel *pf_relabel_new(const pf_relabel_opts *o);

/* Nonzero when the filter would change nothing (the caller may skip it). */
int pf_relabel_is_noop(const pf_relabel *r);

/* Nonzero when all the filter may do is rename labels that are our keys
 * (3. above): no include, exclude or label_drop. It then passes every
 * other sample unchanged (the pipeline's direct way, pipeline.h). */
int pf_relabel_renames_only(const pf_relabel *r);

/* The pf_sample_filter_fn: ud is the pf_relabel. */
const pf_sample *pf_relabel_sample(void *ud, const pf_sample *s);

void pf_relabel_free(pf_relabel *r);

#endif
