/*
 * config_output.c: the [output "NAME"] section: its keys, their defaults,
 * and the rules between keys and between outputs.
 *
 * An output whose type this version does not support (kafka, say, in a
 * file written for a later version) gets that error, and not also one
 * "unknown key" for each key of that type, nor the checks between
 * outputs, which would take it for the default stdout. What is wrong
 * whatever the type (a bad precision, an overlong line) is still reported.
 *
 * Each key applies to some types only (the `types` mask of its row in
 * okey_types); a key set for another type is an error naming the types it
 * applies to, so that a database= in a v2 output, say, is not silently
 * ignored.
 */
#include <string.h>

#include "cfgval.h"
#include "config_int.h"

#define DEFAULT_OUT_TIMEOUT_MS 10000u
#define DEFAULT_GZIP_LEVEL 1u
#define DEFAULT_BATCH_LINES 5000u
#define DEFAULT_BATCH_BYTES (1024u * 1024u)
#define DEFAULT_FLUSH_MS 1000u
#define DEFAULT_MAX_IN_FLIGHT 2u
#define DEFAULT_BUFFER_LIMIT (64u * 1024u * 1024u)
#define DEFAULT_MAX_BACKOFF_MS 30000u
#define DEFAULT_SPOOL_LIMIT (1024ull * 1024u * 1024u)
#define DEFAULT_SPOOL_FSYNC_MS 1000u
#define DEFAULT_SPOOL_REPLAY_RATE 0u

static const char *const type_names[] = { "stdout", "file", "influxdb_v1", "influxdb_v2" };
static const char *const precision_names[] = { "ns", "us", "ms", "s" };
static const char *const consistency_names[] = { "none", "one", "any", "quorum", "all" };
static const char *const fsync_names[] = { "batch", "interval", "off" };
_Static_assert(PF_OUTPUT_FILE == 1 && PF_OUTPUT_INFLUXDB_V1 == 2 && PF_OUTPUT_INFLUXDB_V2 == 3 &&
		       PF_PREC_US == 1 && PF_PREC_MS == 2 && PF_PREC_S == 3 && PF_CONSISTENCY_ALL == 4,
	       "enum order");
_Static_assert(sizeof(enum pf_consistency) == sizeof(int), "PF_V_ENUM stores through an int");

static const pf_cfg_enum types = { NULL, "stdout, file, influxdb_v1, influxdb_v2", type_names, 4, NULL };
static const pf_cfg_enum precisions = { "precision", "ns, us, ms, s", precision_names, 4, NULL };
static const pf_cfg_enum fsyncs = { "spool_fsync", "batch, interval, off", fsync_names, 3, NULL };
static const pf_cfg_enum consistencies = { "consistency", "none, one, any, quorum, all", consistency_names, 5,
					   NULL };

#define F(f) offsetof(pf_output, f)

enum {
	OK_TYPE, OK_PATH, OK_PRECISION, OK_URL, OK_DATABASE, OK_RP, OK_CONSISTENCY, OK_USERNAME, OK_PASSWORD,
	OK_PASSWORD_FILE, OK_CREATE_DB, OK_ORG, OK_BUCKET, OK_TOKEN, OK_TOKEN_FILE, OK_TIMEOUT, OK_GZIP,
	OK_GZIP_LEVEL, OK_BATCH_LINES, OK_BATCH_BYTES, OK_FLUSH, OK_MAX_IN_FLIGHT, OK_BUFFER_LIMIT,
	OK_MAX_BACKOFF, OK_TLS_CA, OK_TLS_CERT, OK_TLS_KEY, OK_TLS_SERVER_NAME, OK_TLS_INSECURE, OK_SPOOL,
	OK_SPOOL_LIMIT, OK_SPOOL_FSYNC, OK_SPOOL_FSYNC_INTERVAL, OK_SPOOL_REPLAY_RATE, OK_N
};
_Static_assert(OK_N <= PF_CFG_MAXKEYS, "pf_cfg_seen.at holds every key");

static const pf_cfg_key okeys[OK_N] = {
	[OK_TYPE] = { "type", PF_V_ENUM, 0, F(type), 0, 0, 0, &types },
	[OK_PATH] = { "path", PF_V_OPATH, 0, F(path), 0, 0, 0, NULL },
	[OK_PRECISION] = { "precision", PF_V_ENUM, 0, F(precision), 0, 0, 0, &precisions },
	[OK_URL] = { "url", PF_V_STR, 0, F(url), 0, 0, 0, NULL },
	[OK_DATABASE] = { "database", PF_V_STR, 0, F(database), 0, 0, 0, NULL },
	[OK_RP] = { "retention_policy", PF_V_STR, 0, F(retention_policy), 0, 0, 0, NULL },
	[OK_CONSISTENCY] = { "consistency", PF_V_ENUM, 0, F(consistency), 0, 0, 0, &consistencies },
	[OK_USERNAME] = { "username", PF_V_STR, 0, F(username), 0, 0, 0, NULL },
	[OK_PASSWORD] = { "password", PF_V_STR, 0, F(password), 0, 0, 0, NULL },
	[OK_PASSWORD_FILE] = { "password_file", PF_V_RFILE, 0, F(password_file), 0, 0, 0, NULL },
	[OK_CREATE_DB] = { "create_database", PF_V_BOOL, 0, F(create_database), 0, 0, 0, NULL },
	[OK_ORG] = { "org", PF_V_STR, 0, F(org), 0, 0, 0, NULL },
	[OK_BUCKET] = { "bucket", PF_V_STR, 0, F(bucket), 0, 0, 0, NULL },
	[OK_TOKEN] = { "token", PF_V_STR, 0, F(token), 0, 0, 0, NULL },
	[OK_TOKEN_FILE] = { "token_file", PF_V_RFILE, 0, F(token_file), 0, 0, 0, NULL },
	[OK_TIMEOUT] = { "timeout", PF_V_DUR, 0, F(timeout_ms), 0, 0, 0, NULL },
	[OK_GZIP] = { "gzip", PF_V_BOOL, 0, F(gzip), 0, 0, 0, NULL },
	[OK_GZIP_LEVEL] = { "gzip_level", PF_V_UCOUNT, 0, F(gzip_level), 0, 1, 9, NULL },
	[OK_BATCH_LINES] = { "batch_lines", PF_V_COUNT, 0, F(batch_lines), 0, 1, 10000000, NULL },
	[OK_BATCH_BYTES] = { "batch_bytes", PF_V_SIZE, 0, F(batch_bytes), 0, 0, 0, NULL },
	[OK_FLUSH] = { "flush_interval", PF_V_DUR, 0, F(flush_interval_ms), 0, 0, 0, NULL },
	[OK_MAX_IN_FLIGHT] = { "max_in_flight", PF_V_UCOUNT, 0, F(max_in_flight), 0, 1, 64, NULL },
	[OK_BUFFER_LIMIT] = { "buffer_limit", PF_V_SIZE, 0, F(buffer_limit), 0, 0, 0, NULL },
	[OK_MAX_BACKOFF] = { "retry_max_backoff", PF_V_DUR, 0, F(retry_max_backoff_ms), 0, 0, 0, NULL },
	[OK_TLS_CA] = { "tls_ca", PF_V_RFILE, 0, F(tls_ca), 0, 0, 0, NULL },
	[OK_TLS_CERT] = { "tls_cert", PF_V_RFILE, 0, F(tls_cert), 0, 0, 0, NULL },
	[OK_TLS_KEY] = { "tls_key", PF_V_RFILE, 0, F(tls_key), 0, 0, 0, NULL },
	[OK_TLS_SERVER_NAME] = { "tls_server_name", PF_V_HOSTNAME, 0, F(tls_server_name), 0, 0, 0, NULL },
	[OK_TLS_INSECURE] = { "tls_insecure_skip_verify", PF_V_BOOL, 0, F(tls_insecure_skip_verify), 0, 0, 0,
			      NULL },
	[OK_SPOOL] = { "spool", PF_V_BOOL, 0, F(spool), 0, 0, 0, NULL },
	[OK_SPOOL_LIMIT] = { "spool_limit", PF_V_SIZE, 0, F(spool_limit), 0, 0, 0, NULL },
	[OK_SPOOL_FSYNC] = { "spool_fsync", PF_V_ENUM, 0, F(spool_fsync), 0, 0, 0, &fsyncs },
	[OK_SPOOL_FSYNC_INTERVAL] = { "spool_fsync_interval", PF_V_DUR, 0, F(spool_fsync_interval_ms), 0, 0, 0,
				      NULL },
	[OK_SPOOL_REPLAY_RATE] = { "spool_replay_rate", PF_V_SIZE0, 0, F(spool_replay_rate), 0, 0, 0, NULL },
};

/* Which types each key applies to. */
#define T_STDOUT (1u << PF_OUTPUT_STDOUT)
#define T_FILE (1u << PF_OUTPUT_FILE)
#define T_V1 (1u << PF_OUTPUT_INFLUXDB_V1)
#define T_V2 (1u << PF_OUTPUT_INFLUXDB_V2)
#define T_ALL (T_STDOUT | T_FILE | T_V1 | T_V2)
#define T_INFLUX (T_V1 | T_V2)

static const unsigned okey_types[OK_N] = {
	[OK_TYPE] = T_ALL, [OK_PATH] = T_FILE, [OK_PRECISION] = T_ALL, [OK_URL] = T_INFLUX,
	[OK_DATABASE] = T_V1, [OK_RP] = T_V1, [OK_CONSISTENCY] = T_V1, [OK_USERNAME] = T_V1,
	[OK_PASSWORD] = T_V1, [OK_PASSWORD_FILE] = T_V1, [OK_CREATE_DB] = T_V1, [OK_ORG] = T_V2,
	[OK_BUCKET] = T_V2, [OK_TOKEN] = T_V2, [OK_TOKEN_FILE] = T_V2, [OK_TIMEOUT] = T_INFLUX,
	[OK_GZIP] = T_INFLUX, [OK_GZIP_LEVEL] = T_INFLUX, [OK_BATCH_LINES] = T_INFLUX,
	[OK_BATCH_BYTES] = T_INFLUX, [OK_FLUSH] = T_INFLUX, [OK_MAX_IN_FLIGHT] = T_INFLUX,
	[OK_BUFFER_LIMIT] = T_INFLUX, [OK_MAX_BACKOFF] = T_INFLUX, [OK_TLS_CA] = T_INFLUX,
	[OK_TLS_CERT] = T_INFLUX, [OK_TLS_KEY] = T_INFLUX, [OK_TLS_SERVER_NAME] = T_INFLUX,
	[OK_TLS_INSECURE] = T_INFLUX, [OK_SPOOL] = T_INFLUX, [OK_SPOOL_LIMIT] = T_INFLUX,
	[OK_SPOOL_FSYNC] = T_INFLUX, [OK_SPOOL_FSYNC_INTERVAL] = T_INFLUX, [OK_SPOOL_REPLAY_RATE] = T_INFLUX,
};

static void output_defaults(pf_cfg_loader *ld, void *elem)
{
	pf_output *o = elem;
	(void)ld;
	o->type = PF_OUTPUT_STDOUT;
	o->precision = PF_PREC_MS;
	o->consistency = PF_CONSISTENCY_NONE;
	o->create_database = 1;
	o->timeout_ms = DEFAULT_OUT_TIMEOUT_MS;
	o->gzip = 1;
	o->gzip_level = DEFAULT_GZIP_LEVEL;
	o->batch_lines = DEFAULT_BATCH_LINES;
	o->batch_bytes = DEFAULT_BATCH_BYTES;
	o->flush_interval_ms = DEFAULT_FLUSH_MS;
	o->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
	o->buffer_limit = DEFAULT_BUFFER_LIMIT;
	o->retry_max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
	o->spool = 1;
	o->spool_limit = DEFAULT_SPOOL_LIMIT;
	o->spool_fsync = PF_SPOOL_FSYNC_BATCH;
	o->spool_fsync_interval_ms = DEFAULT_SPOOL_FSYNC_MS;
	o->spool_replay_rate = DEFAULT_SPOOL_REPLAY_RATE;
}

/* A type not taken: the section's checks, which depend on the type, are
 * skipped (its error is reported). An unsupported type (not an empty one):
 * its keys are also unknown to us, before and after its line. */
static void output_after_key(pf_cfg_loader *ld, size_t k, unsigned long line, const char *v, int stored)
{
	if (k != OK_TYPE || stored)
		return;
	pf_cfg_seen_of(ld, &pf_cfg_output, ld->cur)->mark = line;
	if (!*v)
		return;
	pf_cfg_forget_unknown_keys(ld, ld->sec_errs);
	ld->quiet_unknown = 1;
}

/* "type = file" / "types influxdb_v1, influxdb_v2" for messages. */
static const char *types_text(unsigned mask, char *buf, size_t cap)
{
	size_t n = 0, cnt = 0;
	for (unsigned t = 0; t < 4; t++)
		cnt += (mask >> t) & 1u;
	n = (size_t)snprintf(buf, cap, cnt == 1 ? "type = " : "types ");
	for (unsigned t = 0, i = 0; t < 4 && n < cap; t++)
		if (mask & (1u << t))
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", i++ ? ", " : "", type_names[t]);
	return buf;
}

/* Two keys of which one may be set; the later one is reported. */
static void exclusive(pf_cfg_loader *ld, const unsigned long *at, int a, int b)
{
	if (!at[a] || !at[b])
		return;
	unsigned long l = at[a] > at[b] ? at[a] : at[b];
	pf_cfg_errf(ld, l, okeys[l == at[a] ? a : b].name, "%s and %s are exclusive, set one", okeys[a].name,
		    okeys[b].name);
}

static void require(pf_cfg_loader *ld, const pf_output *o, const unsigned long *at, int k, const char *label,
		    const char *example)
{
	if (!at[k])
		pf_cfg_errf(ld, o->line, label, "type = %s needs %s = %s", type_names[o->type], okeys[k].name,
			    example);
}

/* The base URL the writer appends /write or /api/v2/write to. */
static void check_url(pf_cfg_loader *ld, const pf_output *o, unsigned long line)
{
	const char *why = NULL;
	if (!o->url)
		return;
	if (pf_cfg_prefix_i(o->url, "unix://"))
		why = "unix sockets are not supported for outputs";
	else if (strchr(o->url, '?'))
		why = "a query is not allowed (the writer adds its own parameters)";
	else
		why = pf_cfg_url_problem(o->url);
	if (why)
		pf_cfg_errf(ld, line, "url", "%s in \"%s\", allowed: http://HOST[:PORT][/PREFIX], https://HOST[:PORT][/PREFIX]",
			    why, o->url);
}

static void check_influx(pf_cfg_loader *ld, const pf_output *o, const unsigned long *at, const char *label)
{
	require(ld, o, at, OK_URL, label, "http://HOST:PORT");
	check_url(ld, o, at[OK_URL]);
	if (o->type == PF_OUTPUT_INFLUXDB_V1) {
		require(ld, o, at, OK_DATABASE, label, "NAME");
		exclusive(ld, at, OK_PASSWORD, OK_PASSWORD_FILE);
		if ((at[OK_PASSWORD] || at[OK_PASSWORD_FILE]) && !at[OK_USERNAME]) {
			unsigned long l = at[OK_PASSWORD] ? at[OK_PASSWORD] : at[OK_PASSWORD_FILE];
			pf_cfg_errf(ld, l, l == at[OK_PASSWORD] ? "password" : "password_file",
				    "set without username, basic auth needs username too");
		}
	} else {
		require(ld, o, at, OK_ORG, label, "NAME");
		require(ld, o, at, OK_BUCKET, label, "NAME");
		exclusive(ld, at, OK_TOKEN, OK_TOKEN_FILE);
		if (!at[OK_TOKEN] && !at[OK_TOKEN_FILE])
			pf_cfg_errf(ld, o->line, label, "type = influxdb_v2 needs token = TOKEN or token_file = FILE");
	}
	if (at[OK_TLS_CERT] && !at[OK_TLS_KEY])
		pf_cfg_errf(ld, at[OK_TLS_CERT], "tls_cert", "set without tls_key, a client certificate needs its key");
	if (at[OK_TLS_KEY] && !at[OK_TLS_CERT])
		pf_cfg_errf(ld, at[OK_TLS_KEY], "tls_key", "set without tls_cert, a client key needs its certificate");
	if (o->url && !pf_cfg_prefix_i(o->url, "https://")) {
		static const int tls[] = { OK_TLS_CA, OK_TLS_CERT, OK_TLS_KEY, OK_TLS_SERVER_NAME, OK_TLS_INSECURE };
		int first = -1;
		for (size_t k = 0; k < sizeof tls / sizeof tls[0]; k++)
			if (at[tls[k]] && (first < 0 || at[tls[k]] < at[first]))
				first = tls[k];
		if (first >= 0)
			pf_cfg_errf(ld, at[first], okeys[first].name,
				    "TLS setting in an output without an https:// url, it would never be used");
	}
	if (at[OK_SPOOL_FSYNC_INTERVAL] && o->spool_fsync != PF_SPOOL_FSYNC_INTERVAL)
		pf_cfg_errf(ld, at[OK_SPOOL_FSYNC_INTERVAL], "spool_fsync_interval",
			    "set while spool_fsync is not interval, it would never be used");
	if (!o->spool) {
		static const int sk[] = { OK_SPOOL_LIMIT, OK_SPOOL_FSYNC, OK_SPOOL_FSYNC_INTERVAL, OK_SPOOL_REPLAY_RATE };
		for (size_t k = 0; k < sizeof sk / sizeof sk[0]; k++)
			if (at[sk[k]])
				pf_cfg_errf(ld, at[sk[k]], okeys[sk[k]].name,
					    "set while spool = false, it would never be used");
	}
	if (o->spool && o->spool_limit < o->batch_bytes)
		pf_cfg_errf(ld, at[OK_SPOOL_LIMIT] ? at[OK_SPOOL_LIMIT] : at[OK_BATCH_BYTES],
			    at[OK_SPOOL_LIMIT] ? "spool_limit" : "batch_bytes",
			    "spool_limit (%llu bytes) is below batch_bytes (%llu bytes), allowed: spool_limit >= batch_bytes",
			    (unsigned long long)o->spool_limit, (unsigned long long)o->batch_bytes);
	if (at[OK_GZIP_LEVEL] && !o->gzip)
		pf_cfg_errf(ld, at[OK_GZIP_LEVEL], "gzip_level", "set while gzip = false, it would never be used");
	if (o->buffer_limit < o->batch_bytes)
		pf_cfg_errf(ld, at[OK_BUFFER_LIMIT] ? at[OK_BUFFER_LIMIT] : at[OK_BATCH_BYTES],
			    at[OK_BUFFER_LIMIT] ? "buffer_limit" : "batch_bytes",
			    "buffer_limit (%llu bytes) is below batch_bytes (%llu bytes), allowed: buffer_limit >= batch_bytes",
			    (unsigned long long)o->buffer_limit, (unsigned long long)o->batch_bytes);
}

static void check_output(pf_cfg_loader *ld, size_t i)
{
	pf_output *o = &ld->c->outputs[i];
	const pf_cfg_seen *s = pf_cfg_seen_of(ld, &pf_cfg_output, i);
	const unsigned long *at = s->at;
	if (s->mark)
		return;
	char label[300], tt[80];
	pf_cfg_label(label, sizeof label, "output", o->name);
	if (!at[OK_TYPE]) {
		pf_cfg_errf(ld, o->line, label,
			    "no type, allowed: type = stdout, type = file, type = influxdb_v1, type = influxdb_v2");
		return;
	}
	for (int k = 0; k < OK_N; k++)
		if (at[k] && !(okey_types[k] & (1u << o->type)))
			pf_cfg_errf(ld, at[k], okeys[k].name, "set for type = %s, %s applies only to %s",
				    type_names[o->type], okeys[k].name, types_text(okey_types[k], tt, sizeof tt));
	if (o->type == PF_OUTPUT_FILE && !at[OK_PATH])
		pf_cfg_errf(ld, o->line, label, "type = file needs path = FILE");
	if (o->type == PF_OUTPUT_INFLUXDB_V1 || o->type == PF_OUTPUT_INFLUXDB_V2)
		check_influx(ld, o, at, label);
	for (size_t k = 0; k < i; k++) {
		const pf_output *p = &ld->c->outputs[k];
		const pf_cfg_seen *ps = pf_cfg_seen_of(ld, &pf_cfg_output, k);
		if (ps->mark)
			continue;
		if (o->type == PF_OUTPUT_STDOUT && p->type == PF_OUTPUT_STDOUT && ps->at[OK_TYPE]) {
			pf_cfg_errf(ld, at[OK_TYPE], "type",
				    "a second stdout output (first [output \"%s\"] at line %lu), allowed one", p->name,
				    p->line);
			break;
		}
		if (o->type == PF_OUTPUT_FILE && p->type == PF_OUTPUT_FILE && o->path && p->path &&
		    strcmp(o->path, p->path) == 0) {
			pf_cfg_errf(ld, at[OK_PATH], "path", "%s is also the path of [output \"%s\"] (line %lu)",
				    o->path, p->name, p->line);
			break;
		}
	}
}

const pf_cfg_section pf_cfg_output = {
	.kind = "output",
	.id = 1,
	.keys = okeys,
	.nkeys = OK_N,
	.arr_off = offsetof(pf_config, outputs),
	.n_off = offsetof(pf_config, noutputs),
	.elem = sizeof(pf_output),
	.name_off = offsetof(pf_output, name),
	.line_off = offsetof(pf_output, line),
	.defaults = output_defaults,
	.after_key = output_after_key,
	.check = check_output,
};
