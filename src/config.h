/*
 * config.h: the INI configuration, parsed once into an immutable value.
 *
 * A pf_config owns every string in it; nothing is changed after
 * pf_config_load() returns (a reload builds a new one and swaps it in).
 * Durations are milliseconds, sizes bytes. The file format and every key
 * are documented in conf/promflux.ini and README.md ("Configuration").
 *
 * Errors are reported one line each, "FILE:LINE: key: what is wrong, what
 * is allowed", through the caller's callback; loading goes on after an
 * error so that one run reports every error in the file.
 */
#ifndef PF_CONFIG_H
#define PF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "expfmt.h"
#include "lineproto.h"
#include "log.h"
#include "schema.h"
#include "spool.h"

typedef struct pf_kv {
	char *key;
	char *value;
} pf_kv;

/* A scrape job: settings shared by its targets (one per url). */
typedef struct pf_job {
	char *name;                 /* from [job "NAME"] */
	unsigned long line;         /* where the section starts, for messages */
	char **urls;                /* http://, https://, unix:///path.sock?path=/metrics */
	size_t nurls;
	uint64_t interval_ms;       /* default: global interval */
	uint64_t timeout_ms;        /* default: global timeout; never above interval */
	enum pf_schema schema;      /* default telegraf-v1 */
	pf_kv *tags;                /* `tag = k=v`, repeatable */
	size_t ntags;
	char *url_tag;              /* tag holding the target URL; default "url"; "" = none */
	int honor_timestamps;       /* default 1 */
	int honor_labels;           /* default 0: a scraped label that clashes with a
				     * tag of ours is renamed exported_<name> */
	enum pf_on_error on_error;  /* default skip */
	enum pf_format format;      /* PF_FORMAT_AUTO (default): by Content-Type */
	char *username;             /* basic auth */
	char *password;             /* or password_file (read at each scrape) */
	char *password_file;
	char *bearer_token;         /* or bearer_token_file (re-read when it changes) */
	char *bearer_token_file;
	pf_kv *headers;             /* `header = Name: value`, repeatable */
	size_t nheaders;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *tls_server_name;
	int tls_insecure_skip_verify; /* default 0 */
	char *proxy;                /* http://host:port; default none (env not used) */
	uint64_t body_limit;        /* decompressed bytes; default 64 MiB */
	int enable_compression;     /* default 1: Accept-Encoding: gzip */
	uint64_t sample_limit;      /* 0 = none; above it the scrape fails (up=0) */
	char **metric_include;      /* globs (fnmatch); empty = all */
	size_t nmetric_include;
	char **metric_exclude;
	size_t nmetric_exclude;
	char **label_drop;          /* label names (globs) removed before mapping */
	size_t nlabel_drop;
} pf_job;

enum pf_output_type {
	PF_OUTPUT_STDOUT = 0,
	PF_OUTPUT_FILE,
	PF_OUTPUT_INFLUXDB_V1,
	PF_OUTPUT_INFLUXDB_V2,
};

/* InfluxDB 1.x write consistency (clustered/Enterprise); NONE: not sent. */
enum pf_consistency {
	PF_CONSISTENCY_NONE = 0,
	PF_CONSISTENCY_ONE,
	PF_CONSISTENCY_ANY,
	PF_CONSISTENCY_QUORUM,
	PF_CONSISTENCY_ALL,
};

typedef struct pf_output {
	char *name;                 /* from [output "NAME"] */
	unsigned long line;
	enum pf_output_type type;
	char *path;                 /* file */
	enum pf_precision precision;/* default ms */
	/* influxdb_v1 and influxdb_v2 (see conf/promflux.ini) */
	char *url;                  /* base: http(s)://host:port[/prefix], no query */
	char *database;             /* v1, required */
	char *retention_policy;     /* v1; NULL: the database's default */
	enum pf_consistency consistency; /* v1 */
	char *username;             /* v1 basic auth */
	char *password;             /* or password_file */
	char *password_file;
	int create_database;        /* v1, default 1 */
	char *org;                  /* v2, required */
	char *bucket;               /* v2, required */
	char *token;                /* v2: token or token_file, one required */
	char *token_file;
	uint64_t timeout_ms;        /* one write request; default 10s */
	int gzip;                   /* default 1 */
	unsigned gzip_level;        /* 1-9, default 1 */
	uint64_t batch_lines;       /* default 5000 */
	uint64_t batch_bytes;       /* default 1MiB */
	uint64_t flush_interval_ms; /* default 1s */
	unsigned max_in_flight;     /* default 2 */
	uint64_t buffer_limit;      /* bytes, default 64MiB; >= batch_bytes */
	uint64_t retry_max_backoff_ms; /* default 30s */
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *tls_server_name;
	int tls_insecure_skip_verify;
	/* The disk spool (InfluxDB outputs): <state_directory>/spool/<name>/ */
	int spool;                  /* default 1 */
	uint64_t spool_limit;       /* bytes on disk, default 1GiB */
	enum pf_spool_fsync spool_fsync; /* default batch */
	uint64_t spool_fsync_interval_ms; /* for spool_fsync = interval; default 1s */
	uint64_t spool_replay_rate; /* bytes of line protocol a second; default 0: no
				     * limit but one batch at a time */
	/* A new field must be compared in pf_output_equal() too. */
} pf_output;

typedef struct pf_config {
	char *path;
	uint64_t interval_ms;       /* [global] interval, default 10s */
	uint64_t timeout_ms;        /* default: the interval */
	uint64_t jitter_ms;         /* extra random delay per tick, default 0 */
	uint64_t slack_ms;          /* ticks due within one window start together, default 50ms */
	unsigned max_concurrent_scrapes; /* default 256 */
	pf_kv *tags;                /* added to every point */
	size_t ntags;
	char *hostname;             /* the host tag's value; default gethostname() */
	int omit_hostname;          /* default 0: every point gets host=<hostname> */
	enum pf_log_level log_level;/* default info */
	uint64_t shutdown_timeout_ms; /* outputs' flush at stop; default 10s */
	char *listen;               /* own /metrics /healthz /ready: "host:port";
				     * default 127.0.0.1:9465; "" when off */
	int watch_config;           /* reload when the file changes; default 0 */
	char *state_directory;      /* the spools; default $STATE_DIRECTORY, else
				     * /var/lib/promflux */
	pf_job *jobs;
	size_t njobs;
	pf_output *outputs;         /* none configured: one stdout output */
	size_t noutputs;
} pf_config;

/* Receives one error line (no newline). */
typedef void (*pf_config_err_fn)(void *ud, const char *msg);

/* Loads and checks PATH. Returns the configuration, or NULL when any error
 * was found (each one reported through err; *nerrors, if not NULL, gets the
 * count). ${VAR} and ${VAR:-default} in values expand from the environment;
 * an unset ${VAR} without a default is an error. */
pf_config *pf_config_load(const char *path, pf_config_err_fn err, void *ud, unsigned *nerrors);

/* Frees the configuration and all it owns. NULL is a no-op. */
void pf_config_free(pf_config *c);

/* 1 when a and b are the same output in every setting (a reload keeps it
 * running as it is), else 0. */
int pf_output_equal(const pf_output *a, const pf_output *b);

/* Parses "10s", "500ms", "1m30s", "2h" into ms. Returns 0 or -1. */
int pf_duration_parse(const char *s, uint64_t *ms);

/* Parses "64MiB", "512KiB", "1GB", "1048576" into bytes. Returns 0 or -1. */
int pf_size_parse(const char *s, uint64_t *bytes);

#endif
