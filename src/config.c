/*
 * config.c: loads the INI configuration (see config.h, conf/promflux.ini):
 * runs a load, collects its errors, frees; and the [global] section.
 *
 * Every problem is collected with its line, sorted, and reported at the
 * end, so one run shows all of them. Cross-key rules (timeout <= interval,
 * exclusive keys, a job without url) are checked once the whole file is
 * read, because [global] may come after the jobs that inherit from it.
 * How the parts of the loader divide the work: config_int.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgval.h"
#include "config_int.h"
#include "httpd.h"

#define DEFAULT_INTERVAL_MS 10000u
#define DEFAULT_MAX_CONCURRENT 256u
#define DEFAULT_SLACK_MS 50u
#define MAX_SLACK_MS 1000u
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 10000u
#define DEFAULT_LISTEN "127.0.0.1:9465"
#define DEFAULT_STATE_DIR "/var/lib/promflux"

/* ---- [global] ---- */

#define F(f) offsetof(pf_config, f)

static int parse_log_level(const char *v, int *out)
{
	enum pf_log_level l;
	if (pf_log_level_parse(v, &l) < 0)
		return -1;
	*out = (int)l;
	return 0;
}

static const pf_cfg_enum log_levels = { "level", "crit, error, warn, info, debug", NULL, 0, parse_log_level };

enum {
	GK_INTERVAL, GK_TIMEOUT, GK_JITTER, GK_SLACK, GK_MAXCONC, GK_TAG, GK_HOSTNAME, GK_OMIT_HOSTNAME, GK_LOG_LEVEL,
	GK_SHUTDOWN_TIMEOUT, GK_LISTEN, GK_WATCH_CONFIG, GK_STATE_DIR, GK_N
};
static const pf_cfg_key gkeys[GK_N] = {
	[GK_INTERVAL] = { "interval", PF_V_DUR, 0, F(interval_ms), 0, 0, 0, NULL },
	[GK_TIMEOUT] = { "timeout", PF_V_DUR, 0, F(timeout_ms), 0, 0, 0, NULL },
	[GK_JITTER] = { "jitter", PF_V_DUR0, 0, F(jitter_ms), 0, 0, 0, NULL },
	[GK_SLACK] = { "slack", PF_V_DUR0, 0, F(slack_ms), 0, 0, 0, NULL },
	[GK_MAXCONC] = { "max_concurrent_scrapes", PF_V_UCOUNT, 0, F(max_concurrent_scrapes), 0, 1, 1000000, NULL },
	[GK_TAG] = { "tag", PF_V_TAG, 1, F(tags), F(ntags), 0, 0, NULL },
	[GK_HOSTNAME] = { "hostname", PF_V_HOSTNAME, 0, F(hostname), 0, 0, 0, NULL },
	[GK_OMIT_HOSTNAME] = { "omit_hostname", PF_V_BOOL, 0, F(omit_hostname), 0, 0, 0, NULL },
	[GK_LOG_LEVEL] = { "log_level", PF_V_ENUM, 0, F(log_level), 0, 0, 0, &log_levels },
	[GK_SHUTDOWN_TIMEOUT] = { "shutdown_timeout", PF_V_DUR, 0, F(shutdown_timeout_ms), 0, 0, 0, NULL },
	[GK_LISTEN] = { "listen", PF_V_STR, 0, F(listen), 0, 0, 0, NULL },
	[GK_WATCH_CONFIG] = { "watch_config", PF_V_BOOL, 0, F(watch_config), 0, 0, 0, NULL },
	[GK_STATE_DIR] = { "state_directory", PF_V_STR, 0, F(state_directory), 0, 0, 0, NULL },
};
_Static_assert(GK_N <= PF_CFG_MAXKEYS, "pf_cfg_seen.at holds every key");

void pf_cfg_check_timeout(pf_cfg_loader *ld, unsigned long line, uint64_t timeout, uint64_t interval)
{
	if (timeout > interval)
		pf_cfg_errf(ld, line, "timeout",
			    "%llums is longer than the interval (%llums), allowed: at most the interval",
			    (unsigned long long)timeout, (unsigned long long)interval);
}

/* The [global] rules; the jobs inherit from it afterwards. */
static void check_global(pf_cfg_loader *ld, size_t i)
{
	pf_config *c = ld->c;
	const unsigned long *at = ld->global.at;
	(void)i;
	if (!at[GK_TIMEOUT])
		c->timeout_ms = c->interval_ms;
	else
		pf_cfg_check_timeout(ld, at[GK_TIMEOUT], c->timeout_ms, c->interval_ms);
	if (at[GK_JITTER] && c->jitter_ms >= c->interval_ms)
		pf_cfg_errf(ld, at[GK_JITTER], "jitter",
			    "%llums is not shorter than the interval (%llums), allowed: less than the interval",
			    (unsigned long long)c->jitter_ms, (unsigned long long)c->interval_ms);
	if (at[GK_SLACK] && c->slack_ms > MAX_SLACK_MS)
		pf_cfg_errf(ld, at[GK_SLACK], "slack", "%llums is too long, allowed: 0 (off) to %ums",
			    (unsigned long long)c->slack_ms, MAX_SLACK_MS);
	if (at[GK_HOSTNAME] && c->omit_hostname)
		pf_cfg_errf(ld, at[GK_HOSTNAME], "hostname",
			    "set while omit_hostname is true, the host tag is omitted: set one");
	if (!at[GK_LISTEN])
		c->listen = pf_cfg_strdup(ld, DEFAULT_LISTEN);
	else if (c->listen && strcmp(c->listen, "off") == 0)
		c->listen[0] = '\0';
	else if (c->listen) {
		char why[256];
		if (pf_httpd_check_listen(c->listen, why, sizeof why) != 0)
			pf_cfg_errf(ld, at[GK_LISTEN], "listen",
				    "%s; allowed: IPV4:PORT, [IPV6]:PORT, localhost:PORT, :PORT (every address) or off",
				    why);
	}
	if (!at[GK_STATE_DIR]) {
		/* systemd's StateDirectory= sets it (a colon-separated list
		 * when there are several: the first is ours). */
		const char *e = getenv("STATE_DIRECTORY");
		if (e && *e) {
			size_t n = strcspn(e, ":");
			c->state_directory = malloc(n + 1);
			if (c->state_directory) {
				memcpy(c->state_directory, e, n);
				c->state_directory[n] = '\0';
			} else {
				ld->oom = 1;
			}
		} else {
			c->state_directory = pf_cfg_strdup(ld, DEFAULT_STATE_DIR);
		}
	} else if (c->state_directory && c->state_directory[0] != '/') {
		pf_cfg_errf(ld, at[GK_STATE_DIR], "state_directory", "%s is not an absolute path, allowed: /PATH",
			    c->state_directory);
	}
	if (!c->hostname && !c->omit_hostname) {
		char h[256];
		if (gethostname(h, sizeof h) != 0 || !*h) {
			pf_cfg_errf(ld, ld->global_line, "hostname",
				    "gethostname() failed: %s; set hostname or omit_hostname = true", strerror(errno));
		} else {
			h[sizeof h - 1] = '\0';
			c->hostname = pf_cfg_strdup(ld, h);
		}
	}
}

static void global_defaults(pf_cfg_loader *ld, void *elem)
{
	pf_config *c = elem;
	(void)ld;
	c->interval_ms = DEFAULT_INTERVAL_MS;
	c->max_concurrent_scrapes = DEFAULT_MAX_CONCURRENT;
	c->slack_ms = DEFAULT_SLACK_MS;
	c->log_level = PF_LOG_INFO;
	c->shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
}

const pf_cfg_section pf_cfg_global = {
	.kind = "global",
	.id = -1,
	.keys = gkeys,
	.nkeys = GK_N,
	.defaults = global_defaults,
	.check = check_global,
};

/* ---- shared helpers ---- */

void pf_cfg_errf(pf_cfg_loader *ld, unsigned long line, const char *key, const char *fmt, ...)
{
	char msg[1024];
	int n;
	if (line)
		n = snprintf(msg, sizeof msg, "%s:%lu: %s: ", ld->path, line, key);
	else
		n = snprintf(msg, sizeof msg, "%s: %s: ", ld->path, key);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof msg) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* A message is one printable line whatever the input held. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	char *m = pf_cfg_strdup(ld, msg);
	if (!m || pf_cfg_push(ld, &ld->errs, &ld->nerrs, sizeof *ld->errs) < 0) {
		free(m);
		return;
	}
	ld->errs[ld->nerrs - 1] = (pf_cfg_err){ line, ld->nerrs - 1, m, 0 };
}

void pf_cfg_forget_unknown_keys(pf_cfg_loader *ld, size_t from)
{
	size_t n = from;
	for (size_t i = from; i < ld->nerrs; i++) {
		if (ld->errs[i].unknown_key) {
			free(ld->errs[i].msg);
			continue;
		}
		ld->errs[n] = ld->errs[i];
		ld->errs[n].seq = n; /* record order stays the tie-break */
		n++;
	}
	ld->nerrs = n;
}

char *pf_cfg_strdup(pf_cfg_loader *ld, const char *s)
{
	char *d = strdup(s);
	if (!d)
		ld->oom = 1;
	return d;
}

char *pf_cfg_trim_dup(pf_cfg_loader *ld, const char *s, size_t n)
{
	while (n && pf_cfg_is_blank(*s)) {
		s++;
		n--;
	}
	while (n && pf_cfg_is_blank(s[n - 1]))
		n--;
	char *d = strndup(s, n);
	if (!d)
		ld->oom = 1;
	return d;
}

int pf_cfg_push(pf_cfg_loader *ld, void *arrp, size_t *n, size_t elem)
{
	void **a = arrp;
	size_t cap = 0;
	if (*n) {
		cap = 4;
		while (cap < *n)
			cap *= 2;
	}
	if (*n == cap) {
		size_t ncap = cap ? cap * 2 : 4;
		void *np = realloc(*a, ncap * elem);
		if (!np) {
			ld->oom = 1;
			return -1;
		}
		*a = np;
	}
	memset((char *)*a + *n * elem, 0, elem);
	(*n)++;
	return 0;
}

void pf_cfg_label(char *buf, size_t cap, const char *kind, const char *name)
{
	if (name)
		snprintf(buf, cap, "[%s \"%s\"]", kind, name);
	else
		snprintf(buf, cap, "[%s]", kind);
}

/* ---- load and free ---- */

static int cmp_err(const void *a, const void *b)
{
	const pf_cfg_err *x = a, *y = b;
	unsigned long lx = x->line ? x->line : ULONG_MAX, ly = y->line ? y->line : ULONG_MAX;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The configuration file's directory, absolute so that a later chdir()
 * cannot move the files it names. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	if (slash == path)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, dl);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return slash ? strndup(path, dl) : strdup(".");
	size_t n = strlen(cwd) + 1 + dl + 1;
	char *d = malloc(n);
	if (d)
		snprintf(d, n, "%s%s%.*s", cwd, slash ? "/" : "", (int)dl, path);
	return d;
}

/* Whole-file checks, in file order of the sections' kinds; and the one
 * stdout output that stands in when none is configured. */
static void check_all(pf_cfg_loader *ld)
{
	pf_config *c = ld->c;
	pf_cfg_global.check(ld, 0);
	for (size_t i = 0; i < c->njobs; i++)
		pf_cfg_job.check(ld, i);
	for (size_t i = 0; i < c->noutputs; i++)
		pf_cfg_output.check(ld, i);
	if (c->njobs == 0 && !ld->job_header)
		pf_cfg_errf(ld, 0, "[job \"NAME\"]", "no job section, at least one job is needed");
	if (c->noutputs == 0 && !ld->oom && pf_cfg_push(ld, &c->outputs, &c->noutputs, sizeof *c->outputs) == 0) {
		pf_cfg_output.defaults(ld, &c->outputs[0]);
		c->outputs[0].name = pf_cfg_strdup(ld, "stdout");
	}
}

/* Hands one message to the caller's callback; returns 1 to count it. */
static unsigned say(pf_config_err_fn err, void *ud, const char *msg)
{
	if (err)
		err(ud, msg);
	return 1;
}

pf_config *pf_config_load(const char *path, pf_config_err_fn err, void *ud, unsigned *nerrors)
{
	pf_cfg_loader ld = { 0 };
	ld.path = path;
	pf_config *c = calloc(1, sizeof *c);
	if (!c) {
		say(err, ud, "out of memory");
		if (nerrors)
			*nerrors = 1;
		return NULL;
	}
	ld.c = c;
	c->path = pf_cfg_strdup(&ld, path);
	pf_cfg_global.defaults(&ld, c);
	ld.dir = config_dir(path);
	if (!ld.dir)
		ld.oom = 1;

	ld.f = fopen(path, "re");
	if (!ld.f) {
		ld.read_errno = errno;
	} else {
		pf_cfg_parse(&ld);
		fclose(ld.f);
	}

	unsigned n = 0;
	char msg[1200];
	if (ld.read_errno) {
		snprintf(msg, sizeof msg, "%s: cannot read: %s", path, strerror(ld.read_errno));
		n += say(err, ud, msg);
	} else {
		if (!ld.oom)
			check_all(&ld);
		if (ld.nerrs)
			qsort(ld.errs, ld.nerrs, sizeof *ld.errs, cmp_err);
		for (size_t i = 0; i < ld.nerrs; i++)
			n += say(err, ud, ld.errs[i].msg);
		if (ld.oom) {
			snprintf(msg, sizeof msg, "%s: out of memory while loading", path);
			n += say(err, ud, msg);
		}
	}
	for (size_t i = 0; i < ld.nerrs; i++)
		free(ld.errs[i].msg);
	free(ld.errs);
	free(ld.raw);
	free(ld.dir);
	free(ld.sec_label);
	free(ld.seen[0]);
	free(ld.seen[1]);
	if (nerrors)
		*nerrors = n;
	if (n) {
		pf_config_free(c);
		return NULL;
	}
	return c;
}

static void free_kvs(pf_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void free_strs(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

void pf_config_free(pf_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->njobs; i++) {
		pf_job *j = &c->jobs[i];
		free(j->name);
		free_strs(j->urls, j->nurls);
		free_kvs(j->tags, j->ntags);
		free(j->url_tag);
		free(j->username);
		free(j->password);
		free(j->password_file);
		free(j->bearer_token);
		free(j->bearer_token_file);
		free_kvs(j->headers, j->nheaders);
		free(j->tls_ca);
		free(j->tls_cert);
		free(j->tls_key);
		free(j->tls_server_name);
		free(j->proxy);
		free_strs(j->metric_include, j->nmetric_include);
		free_strs(j->metric_exclude, j->nmetric_exclude);
		free_strs(j->label_drop, j->nlabel_drop);
	}
	free(c->jobs);
	for (size_t i = 0; i < c->noutputs; i++) {
		pf_output *o = &c->outputs[i];
		free(o->name);
		free(o->path);
		free(o->url);
		free(o->database);
		free(o->retention_policy);
		free(o->username);
		free(o->password);
		free(o->password_file);
		free(o->org);
		free(o->bucket);
		free(o->token);
		free(o->token_file);
		free(o->tls_ca);
		free(o->tls_cert);
		free(o->tls_key);
		free(o->tls_server_name);
	}
	free(c->outputs);
	free_kvs(c->tags, c->ntags);
	free(c->hostname);
	free(c->listen);
	free(c->state_directory);
	free(c->path);
	free(c);
}

static int str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int pf_output_equal(const pf_output *a, const pf_output *b)
{
	/* Every setting but the line it was read from. */
	return str_eq(a->name, b->name) && a->type == b->type && str_eq(a->path, b->path) &&
	       a->precision == b->precision && str_eq(a->url, b->url) && str_eq(a->database, b->database) &&
	       str_eq(a->retention_policy, b->retention_policy) && a->consistency == b->consistency &&
	       str_eq(a->username, b->username) && str_eq(a->password, b->password) &&
	       str_eq(a->password_file, b->password_file) && a->create_database == b->create_database &&
	       str_eq(a->org, b->org) && str_eq(a->bucket, b->bucket) && str_eq(a->token, b->token) &&
	       str_eq(a->token_file, b->token_file) && a->timeout_ms == b->timeout_ms && a->gzip == b->gzip &&
	       a->gzip_level == b->gzip_level && a->batch_lines == b->batch_lines &&
	       a->batch_bytes == b->batch_bytes && a->flush_interval_ms == b->flush_interval_ms &&
	       a->max_in_flight == b->max_in_flight && a->buffer_limit == b->buffer_limit &&
	       a->retry_max_backoff_ms == b->retry_max_backoff_ms && str_eq(a->tls_ca, b->tls_ca) &&
	       str_eq(a->tls_cert, b->tls_cert) && str_eq(a->tls_key, b->tls_key) &&
	       str_eq(a->tls_server_name, b->tls_server_name) &&
	       a->tls_insecure_skip_verify == b->tls_insecure_skip_verify && a->spool == b->spool &&
	       a->spool_limit == b->spool_limit && a->spool_fsync == b->spool_fsync &&
	       a->spool_fsync_interval_ms == b->spool_fsync_interval_ms &&
	       a->spool_replay_rate == b->spool_replay_rate;
}
