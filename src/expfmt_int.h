/*
 * expfmt_int.h: the exposition parser's insides, shared by its files and
 * PRIVATE to them: expfmt.c (chunks, lines, lexing, families) and
 * omcheck.c (OpenMetrics' document rules). Nothing else includes it; the
 * API is expfmt.h.
 */
#ifndef PF_EXPFMT_INT_H
#define PF_EXPFMT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "expfmt.h"
#include "hash.h"

/* For functions and data shared between the parser's files only. Hidden
 * visibility lets the compiler treat them like static ones (with -fPIC a
 * default-visibility function could be interposed, so calls to it inside
 * expfmt.c would not be inlined), and keeps them out of a shared object's
 * symbol table. */
#define PF_HIDDEN __attribute__((visibility("hidden")))

/* Per-group state for the OpenMetrics histogram checks (the reference
 * parser's rules): what the current group's samples said so far. */
typedef struct histo_state {
	int active;
	double bucket;   /* last le, -Inf before the first */
	int has_bucket;
	double value;    /* last bucket value */
	int has_count;
	double count;
	int has_sum, has_gsum, neg_buckets, neg_gsum;
	unsigned long line;
} histo_state;

struct pf_parser {
	enum pf_format fmt;
	enum pf_on_error policy;
	pf_parser_ops ops;
	void *ud;

	pf_buf carry;    /* a line split across chunks */
	pf_buf scratch;  /* unescaped names and values of the current line */
	pf_label *labels;
	size_t nlabels, labels_cap;
	int no_plain;    /* pf_parser_set_plain(p, 0): every label set the long way */
	pf_direct *direct; /* pf_parser_set_direct(); borrowed */

	unsigned long lineno;
	size_t col_shift;        /* added to reported columns (blanks before a 0.0.4 comment) */
	int stopped;     /* a callback or a REJECT error ended the parse */
	int rc;
	int eof_seen;    /* OpenMetrics "# EOF" */
	int after_eof_reported;
	pf_parse_stats stats;

	/* The current family. */
	pf_buf fam;      /* its name */
	int fam_plain;   /* fam is an unquoted name: a prefix hint for scan_metric_name() */
	pf_buf unit;
	enum pf_mtype type;
	int fam_open;
	int fam_has_samples;
	int fam_has_help, fam_has_type, fam_has_unit;
	unsigned long unit_line;

	/* OpenMetrics document checks. */
	pf_hset names_seen;  /* family names and the sample names they own */
	pf_hset groups_seen; /* groups of the current family */
	pf_hset typed;       /* 0.0.4: (name, type) of every TYPE line, to resume a split family */
	uint64_t *typed_pend; /* keys of TYPE lines not in typed yet: added when a
			       * family is to be resumed (seldom), not one by one */
	size_t typed_npend, typed_cap;
	int group_open;
	uint64_t group;
	int group_has_ts;
	int64_t group_ts;
	histo_state h;
};

/* ---- expfmt.c ---- */

/* Reports a bad line (col 0: a rule about a whole family or document,
 * shown as column 1) and counts it; with policy REJECT it also stops the
 * parse. The message is made one printable line. */
PF_HIDDEN void pf_parser_report(pf_parser *p, unsigned long line, unsigned long col,
				const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "_total", "_bucket", ... for a suffix; "" for PF_SFX_NONE. */
PF_HIDDEN extern const char *const pf_sfx_text[];

/* The suffixes a family of type t owns in format fmt (PF_SFX_NONE: the
 * family name itself); *n is set to their number. */
PF_HIDDEN const enum pf_suffix *pf_type_suffixes(enum pf_format fmt, enum pf_mtype t, size_t *n);

/* Reads the quoted string that starts at s[i] == '"' in the line s[0..n).
 * Escapes \\ \" \n are replaced, any other backslash pair is kept as
 * written. On success *out is the text (a slice of the line, or unescaped
 * into p->scratch, which the caller has sized for the line) and the index
 * after the closing quote is returned; on failure returns 0 and sets
 * *errcol (0-based). */
PF_HIDDEN size_t pf_read_quoted(pf_parser *p, const char *s, size_t n, size_t i, pf_str *out,
				size_t *errcol);

/* Index after the label name [a-zA-Z_][a-zA-Z0-9_]* at s[i], or i if none. */
PF_HIDDEN size_t pf_scan_label_name(const char *s, size_t n, size_t i);

/* ---- omcheck.c ---- */

/* OpenMetrics: checks one sample (labels in p->labels) against its family
 * and group. col_labels and col_value are 1-based columns for messages.
 * Returns 0 if good, -1 if not (reported here). */
PF_HIDDEN int pf_om_check(pf_parser *p, const pf_sample *sm, size_t col_labels, size_t col_value,
			  int has_exemplar);

/* OpenMetrics: the rules that need the whole family, run when it ends at
 * line: the last histogram group, a name clash with an earlier family,
 * the UNIT. */
PF_HIDDEN void pf_om_family_end(pf_parser *p, unsigned long line);

/* OpenMetrics: parses the exemplar at s[i] (just after " # ") in the line
 * s[0..n). Returns 0 if good, else the 1-based column of the error. */
PF_HIDDEN size_t pf_om_exemplar(pf_parser *p, const char *s, size_t n, size_t i);

#endif
