/*
 * config_job.c: the [job "NAME"] section: its keys, their defaults, and
 * the rules between keys, checked once the whole file is read (a job
 * inherits interval and timeout from [global], which may come later).
 */
#include <string.h>

#include "cfgval.h"
#include "config_int.h"

#define DEFAULT_BODY_LIMIT (64u * 1024u * 1024u)

static int parse_schema(const char *v, int *out)
{
	enum pf_schema s;
	if (pf_schema_parse(v, &s) < 0)
		return -1;
	*out = (int)s;
	return 0;
}

/* Names in enum order: names[PF_ON_ERROR_SKIP] is "skip". */
static const char *const on_error_names[] = { "skip", "reject" };
static const char *const format_names[] = { "prometheus", "openmetrics", "auto" };
_Static_assert(PF_ON_ERROR_REJECT == 1 && PF_FORMAT_OPENMETRICS == 1 && PF_FORMAT_AUTO == 2, "enum order");

static const pf_cfg_enum schemas = { "schema", "telegraf-v1, telegraf-v2, influxdb-prom", NULL, 0, parse_schema };
static const pf_cfg_enum on_errors = { "value", "skip, reject", on_error_names, 2, NULL };
static const pf_cfg_enum formats = { "format", "auto, prometheus, openmetrics", format_names, 3, NULL };

#define F(f) offsetof(pf_job, f)

enum {
	JK_URL, JK_INTERVAL, JK_TIMEOUT, JK_SCHEMA, JK_TAG, JK_URL_TAG, JK_HONOR_TS, JK_HONOR_LABELS,
	JK_ON_ERROR, JK_FORMAT, JK_USERNAME, JK_PASSWORD, JK_PASSWORD_FILE, JK_BEARER,
	JK_BEARER_FILE, JK_HEADER, JK_TLS_CA, JK_TLS_CERT, JK_TLS_KEY, JK_TLS_SERVER_NAME,
	JK_TLS_INSECURE, JK_PROXY, JK_BODY_LIMIT, JK_SAMPLE_LIMIT, JK_METRIC_INCLUDE,
	JK_METRIC_EXCLUDE, JK_LABEL_DROP, JK_COMPRESSION, JK_N
};
_Static_assert(JK_N <= PF_CFG_MAXKEYS, "pf_cfg_seen.at holds every key");

static const pf_cfg_key jkeys[JK_N] = {
	[JK_URL] = { "url", PF_V_URL, 1, F(urls), F(nurls), 0, 0, NULL },
	[JK_INTERVAL] = { "interval", PF_V_DUR, 0, F(interval_ms), 0, 0, 0, NULL },
	[JK_TIMEOUT] = { "timeout", PF_V_DUR, 0, F(timeout_ms), 0, 0, 0, NULL },
	[JK_SCHEMA] = { "schema", PF_V_ENUM, 0, F(schema), 0, 0, 0, &schemas },
	[JK_TAG] = { "tag", PF_V_TAG, 1, F(tags), F(ntags), 0, 0, NULL },
	[JK_URL_TAG] = { "url_tag", PF_V_TAGKEY, 0, F(url_tag), 0, 0, 0, NULL },
	[JK_HONOR_TS] = { "honor_timestamps", PF_V_BOOL, 0, F(honor_timestamps), 0, 0, 0, NULL },
	[JK_HONOR_LABELS] = { "honor_labels", PF_V_BOOL, 0, F(honor_labels), 0, 0, 0, NULL },
	[JK_ON_ERROR] = { "on_error", PF_V_ENUM, 0, F(on_error), 0, 0, 0, &on_errors },
	[JK_FORMAT] = { "format", PF_V_ENUM, 0, F(format), 0, 0, 0, &formats },
	[JK_USERNAME] = { "username", PF_V_STR, 0, F(username), 0, 0, 0, NULL },
	[JK_PASSWORD] = { "password", PF_V_STR, 0, F(password), 0, 0, 0, NULL },
	[JK_PASSWORD_FILE] = { "password_file", PF_V_RFILE, 0, F(password_file), 0, 0, 0, NULL },
	[JK_BEARER] = { "bearer_token", PF_V_STR, 0, F(bearer_token), 0, 0, 0, NULL },
	[JK_BEARER_FILE] = { "bearer_token_file", PF_V_RFILE, 0, F(bearer_token_file), 0, 0, 0, NULL },
	[JK_HEADER] = { "header", PF_V_HEADER, 1, F(headers), F(nheaders), 0, 0, NULL },
	[JK_TLS_CA] = { "tls_ca", PF_V_RFILE, 0, F(tls_ca), 0, 0, 0, NULL },
	[JK_TLS_CERT] = { "tls_cert", PF_V_RFILE, 0, F(tls_cert), 0, 0, 0, NULL },
	[JK_TLS_KEY] = { "tls_key", PF_V_RFILE, 0, F(tls_key), 0, 0, 0, NULL },
	[JK_TLS_SERVER_NAME] = { "tls_server_name", PF_V_HOSTNAME, 0, F(tls_server_name), 0, 0, 0, NULL },
	[JK_TLS_INSECURE] = { "tls_insecure_skip_verify", PF_V_BOOL, 0, F(tls_insecure_skip_verify), 0, 0, 0,
			      NULL },
	[JK_PROXY] = { "proxy", PF_V_PROXY, 0, F(proxy), 0, 0, 0, NULL },
	[JK_BODY_LIMIT] = { "body_limit", PF_V_SIZE, 0, F(body_limit), 0, 0, 0, NULL },
	[JK_SAMPLE_LIMIT] = { "sample_limit", PF_V_COUNT, 0, F(sample_limit), 0, 0, UINT64_MAX, NULL },
	[JK_METRIC_INCLUDE] = { "metric_include", PF_V_GLOB, 1, F(metric_include), F(nmetric_include), 0, 0,
				NULL },
	[JK_METRIC_EXCLUDE] = { "metric_exclude", PF_V_GLOB, 1, F(metric_exclude), F(nmetric_exclude), 0, 0,
				NULL },
	[JK_LABEL_DROP] = { "label_drop", PF_V_GLOB, 1, F(label_drop), F(nlabel_drop), 0, 0, NULL },
	[JK_COMPRESSION] = { "enable_compression", PF_V_BOOL, 0, F(enable_compression), 0, 0, 0, NULL },
};

static void job_defaults(pf_cfg_loader *ld, void *elem)
{
	pf_job *j = elem;
	j->schema = PF_SCHEMA_TELEGRAF_V1;
	j->url_tag = pf_cfg_strdup(ld, "url");
	j->honor_timestamps = 1;
	j->on_error = PF_ON_ERROR_SKIP;
	j->format = PF_FORMAT_AUTO;
	j->body_limit = DEFAULT_BODY_LIMIT;
	j->enable_compression = 1;
}

/* Remembers the first `header = Authorization: ...`: it clashes with basic
 * auth and bearer tokens (check_job). */
static void job_after_key(pf_cfg_loader *ld, size_t k, unsigned long line, const char *v, int stored)
{
	pf_cfg_seen *s = pf_cfg_seen_of(ld, &pf_cfg_job, ld->cur);
	(void)stored;
	if (k != JK_HEADER || s->mark)
		return;
	const char *colon = strchr(v, ':');
	size_t nl = colon ? (size_t)(colon - v) : 0;
	while (nl && pf_cfg_is_blank(v[nl - 1]))
		nl--;
	if (nl == 13 && pf_cfg_prefix_i(v, "authorization"))
		s->mark = line;
}

static unsigned long later(unsigned long a, unsigned long b)
{
	return a > b ? a : b;
}

/* Two keys of which one may be set; the later one is reported. */
static void exclusive(pf_cfg_loader *ld, const unsigned long *at, int a, int b)
{
	if (!at[a] || !at[b])
		return;
	unsigned long l = later(at[a], at[b]);
	pf_cfg_errf(ld, l, jkeys[l == at[a] ? a : b].name, "%s and %s are exclusive, set one", jkeys[a].name,
		    jkeys[b].name);
}

static void check_auth(pf_cfg_loader *ld, const pf_cfg_seen *s)
{
	const unsigned long *at = s->at;
	exclusive(ld, at, JK_PASSWORD, JK_PASSWORD_FILE);
	if ((at[JK_PASSWORD] || at[JK_PASSWORD_FILE]) && !at[JK_USERNAME]) {
		unsigned long l = at[JK_PASSWORD] ? at[JK_PASSWORD] : at[JK_PASSWORD_FILE];
		pf_cfg_errf(ld, l, l == at[JK_PASSWORD] ? "password" : "password_file",
			    "set without username, basic auth needs username too");
	}
	exclusive(ld, at, JK_BEARER, JK_BEARER_FILE);
	unsigned long bearer = at[JK_BEARER] ? at[JK_BEARER] : at[JK_BEARER_FILE];
	if (bearer && at[JK_USERNAME]) {
		unsigned long l = later(bearer, at[JK_USERNAME]);
		pf_cfg_errf(ld, l, l == bearer ? (at[JK_BEARER] ? "bearer_token" : "bearer_token_file") : "username",
			    "username (basic auth) and a bearer token both set, a request carries one Authorization header: set one");
	}
	if (s->mark && (bearer || at[JK_USERNAME]))
		pf_cfg_errf(ld, s->mark, "header",
			    "Authorization header while %s is set, a request carries one Authorization header: remove one",
			    bearer ? "a bearer token" : "username");
}

static void check_tls(pf_cfg_loader *ld, const pf_job *j, const unsigned long *at)
{
	if (at[JK_TLS_CERT] && !at[JK_TLS_KEY])
		pf_cfg_errf(ld, at[JK_TLS_CERT], "tls_cert", "set without tls_key, a client certificate needs its key");
	if (at[JK_TLS_KEY] && !at[JK_TLS_CERT])
		pf_cfg_errf(ld, at[JK_TLS_KEY], "tls_key", "set without tls_cert, a client key needs its certificate");
	static const int tls_keys[] = { JK_TLS_CA, JK_TLS_CERT, JK_TLS_KEY, JK_TLS_SERVER_NAME, JK_TLS_INSECURE };
	int first = -1;
	for (size_t k = 0; k < sizeof tls_keys / sizeof tls_keys[0]; k++)
		if (at[tls_keys[k]] && (first < 0 || at[tls_keys[k]] < at[first]))
			first = tls_keys[k];
	if (first < 0 || !j->nurls)
		return;
	for (size_t u = 0; u < j->nurls; u++)
		if (pf_cfg_prefix_i(j->urls[u], "https://"))
			return;
	pf_cfg_errf(ld, at[first], jkeys[first].name,
		    "TLS setting in a job without an https:// url, it would never be used");
}

static void check_job(pf_cfg_loader *ld, size_t i)
{
	const pf_config *c = ld->c;
	pf_job *j = &c->jobs[i];
	const pf_cfg_seen *s = pf_cfg_seen_of(ld, &pf_cfg_job, i);
	const unsigned long *at = s->at;
	char label[300];
	pf_cfg_label(label, sizeof label, "job", j->name);

	if (j->nurls == 0 && !at[JK_URL])
		pf_cfg_errf(ld, j->line, label, "no url, a job needs at least one url = ... (" PF_CFG_URL_ALLOWED ")");

	if (!at[JK_INTERVAL])
		j->interval_ms = c->interval_ms;
	if (at[JK_TIMEOUT])
		pf_cfg_check_timeout(ld, at[JK_TIMEOUT], j->timeout_ms, j->interval_ms);
	else /* inherited: the global timeout, cut to this job's interval */
		j->timeout_ms = c->timeout_ms < j->interval_ms ? c->timeout_ms : j->interval_ms;
	/* An inherited interval was checked against the jitter in [global]. */
	if (at[JK_INTERVAL] && c->jitter_ms && c->jitter_ms >= j->interval_ms)
		pf_cfg_errf(ld, at[JK_INTERVAL], "interval",
			    "%llums is not longer than the global jitter (%llums), allowed: an interval above the jitter",
			    (unsigned long long)j->interval_ms, (unsigned long long)c->jitter_ms);

	check_auth(ld, s);
	check_tls(ld, j, at);
	if (j->url_tag && *j->url_tag) {
		for (size_t t = 0; t < j->ntags; t++)
			if (strcmp(j->tags[t].key, j->url_tag) == 0)
				pf_cfg_errf(ld, at[JK_URL_TAG] ? at[JK_URL_TAG] : at[JK_TAG], "url_tag",
					    "tag %s is both the url tag and a tag of this job: rename one (url_tag = \"\" for none)",
					    j->url_tag);
	}
}

const pf_cfg_section pf_cfg_job = {
	.kind = "job",
	.id = 0,
	.keys = jkeys,
	.nkeys = JK_N,
	.arr_off = offsetof(pf_config, jobs),
	.n_off = offsetof(pf_config, njobs),
	.elem = sizeof(pf_job),
	.name_off = offsetof(pf_job, name),
	.line_off = offsetof(pf_job, line),
	.defaults = job_defaults,
	.after_key = job_after_key,
	.check = check_job,
};
