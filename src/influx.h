/*
 * influx.h: what the InfluxDB write APIs mean, as pure functions: the
 * request URLs of an output and the reading of each answer.
 *
 * v1 (InfluxDB 1.x, VictoriaMetrics' /write):
 *   POST URL/write?db=D[&rp=RP][&consistency=C]&precision=P, basic auth;
 *   POST URL/query?q=CREATE DATABASE "D" when the database is missing;
 *   GET URL/query?q=SHOW DATABASES to check the credentials at start.
 * v2 (InfluxDB 2.x, 1.8's compatibility API, VictoriaMetrics):
 *   POST URL/api/v2/write?org=O&bucket=B&precision=P,
 *   "Authorization: Token T"; the start check is a write of no lines
 *   (401/403: bad token, 404: no such org or bucket).
 * Both: GET URL/ping answers 204 when the server is up.
 *
 * The answer to a write decides what happens to its batch
 * (pf_influx_classify, one row per status in influx.c). The writer (the
 * InfluxDB sink) acts on it; nothing here does I/O or logs.
 */
#ifndef PF_INFLUX_H
#define PF_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct pf_influx_urls {
	char *write;   /* the write endpoint with its query */
	char *ping;
	char *create;  /* v1: CREATE DATABASE; NULL for v2 */
	char *check;   /* v1: SHOW DATABASES; v2: NULL (a 0-line write to `write`) */
} pf_influx_urls;

/* Builds the URLs of an influxdb_v1/v2 output (each malloc'd, owned by u).
 * Returns 0, -EINVAL (not an InfluxDB output, or a field missing) or
 * -ENOMEM (u is then freed). */
int pf_influx_urls_build(const pf_output *o, pf_influx_urls *u);
void pf_influx_urls_free(pf_influx_urls *u);

/* The precision query value: v1 "n", "u", "ms", "s" (InfluxDB 1.x reads
 * "us" as nanoseconds); v2 "ns", "us", "ms", "s". */
const char *pf_influx_precision(enum pf_output_type t, enum pf_precision p);

/* Percent-encodes s (all but A-Z a-z 0-9 - . _ ~) into out (cap bytes,
 * NUL-terminated). Returns the length, or -1 when it does not fit. */
int pf_influx_escape(const char *s, char *out, size_t cap);

enum pf_influx_action {
	PF_INFLUX_DONE,      /* 2xx: written */
	PF_INFLUX_REJECT,    /* 400, 422: the server will never take these lines;
			      * not retried, `dropped` points counted */
	PF_INFLUX_CONFIG,    /* 401, 403, 404, other 4xx: a configuration error;
			      * kept and retried with backoff, logged loudly */
	PF_INFLUX_CREATE_DB, /* v1 "database not found": create it, retry */
	PF_INFLUX_SPLIT,     /* 413: send the two halves */
	PF_INFLUX_RETRY,     /* 408, 429, 5xx, no answer: retry with backoff */
};

typedef struct pf_influx_verdict {
	enum pf_influx_action action;
	uint64_t dropped;    /* REJECT: points the server did not take (N of
			      * "dropped=N" when it says, else every line) */
	char msg[512];       /* the server's message, one printable line, or "" */
} pf_influx_verdict;

/* Reads the answer to a write of `lines` lines: status 0 when no HTTP
 * answer came (refused, reset, timeout, DNS), and the response body (may
 * be NULL). create_db: the output may create its database (v1). */
void pf_influx_classify(enum pf_output_type t, int create_db, long status, const char *body, size_t n,
			uint64_t lines, pf_influx_verdict *v);

/* The message of an InfluxDB error body: the "error" (v1) or "message"
 * (v2) string of its JSON, else the body itself; one printable line (control
 * bytes as '?', cut to cap with "..."). Returns out. */
char *pf_influx_message(const char *body, size_t n, char *out, size_t cap);

const char *pf_influx_action_name(enum pf_influx_action a);

#endif
