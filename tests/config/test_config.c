/*
 * test_config.c: the configuration loader, fed small INI files written to a
 * temporary directory.
 *
 * A full valid file checks every key's value; minimal files check the
 * defaults; one case per error message checks the exact "FILE:LINE: key: "
 * prefix and the phrase that says what is wrong. conf/promflux.ini (found
 * through $PF_SRC) must load and must document every key the loader knows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static int failures;
static int checks;
static char dir[256];

/* ---- collecting errors ---- */

#define MAXERR 64
static char errs[MAXERR][1200];
static unsigned nerr;

static void collect(void *ud, const char *msg)
{
	(void)ud;
	if (nerr < MAXERR)
		snprintf(errs[nerr], sizeof errs[nerr], "%s", msg);
	nerr++;
}

static void fail(const char *where, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(const char *where, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s (test line %d): ", where, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static void dump_errs(void)
{
	for (unsigned i = 0; i < nerr && i < MAXERR; i++)
		fprintf(stderr, "    got: %s\n", errs[i]);
}

#define CHECK(cond)                                                      \
	do {                                                             \
		checks++;                                                \
		if (!(cond))                                             \
			fail(__func__, __LINE__, "%s", #cond);           \
	} while (0)

#define CHECK_STR(a, b)                                                                  \
	do {                                                                             \
		const char *a_ = (a), *b_ = (b);                                         \
		checks++;                                                                \
		if (!a_ || strcmp(a_, b_) != 0)                                          \
			fail(__func__, __LINE__, "%s is \"%s\", want \"%s\"", #a,        \
			     a_ ? a_ : "(null)", b_);                                    \
	} while (0)

#define CHECK_U(a, b)                                                                    \
	do {                                                                             \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
		checks++;                                                                \
		if (a_ != b_)                                                            \
			fail(__func__, __LINE__, "%s is %llu, want %llu", #a, a_, b_);   \
	} while (0)

/* ---- files ---- */

static char last_path[512];

static const char *write_file(const char *name, const char *text, size_t len)
{
	snprintf(last_path, sizeof last_path, "%s/%s", dir, name);
	FILE *f = fopen(last_path, "wb");
	if (!f) {
		perror(last_path);
		exit(2);
	}
	fwrite(text, 1, len, f);
	fclose(f);
	return last_path;
}

static pf_config *load_path(const char *path)
{
	unsigned n = 12345;
	nerr = 0;
	pf_config *c = pf_config_load(path, collect, NULL, &n);
	if ((c == NULL) != (n > 0) || n != nerr) {
		fprintf(stderr, "FAIL: result/count mismatch: config %p, nerrors %u, reported %u\n", (void *)c, n,
			nerr);
		failures++;
	}
	return c;
}

static pf_config *load_text(const char *text)
{
	return load_path(write_file("t.ini", text, strlen(text)));
}

/* Loads text that must be valid; the caller frees. */
static pf_config *ok_at(const char *text, int line)
{
	pf_config *c = load_text(text);
	checks++;
	if (!c) {
		fail("expect_ok", line, "config rejected:\n%s", text);
		dump_errs();
	}
	return c;
}
#define OK(text) ok_at(text, __LINE__)

/* Text must fail with an error "PATH:LINE: KEY: ...PHRASE..." (LINE 0:
 * "PATH: KEY: "). Other errors may come along unless only is set. */
static void err_at(const char *text, unsigned long eline, const char *key, const char *phrase, int only,
		   int tline)
{
	pf_config *c = load_text(text);
	char prefix[700];
	if (eline)
		snprintf(prefix, sizeof prefix, "%s:%lu: %s: ", last_path, eline, key);
	else
		snprintf(prefix, sizeof prefix, "%s: %s: ", last_path, key);
	checks++;
	if (c) {
		fail("expect_err", tline, "accepted, want \"%s...%s\"", prefix, phrase);
		pf_config_free(c);
		return;
	}
	int found = 0;
	for (unsigned i = 0; i < nerr && i < MAXERR; i++)
		if (strncmp(errs[i], prefix, strlen(prefix)) == 0 && strstr(errs[i] + strlen(prefix), phrase))
			found = 1;
	if (!found || (only && nerr != 1)) {
		fail("expect_err", tline, "want %s\"%s...%s\"", only ? "only " : "", prefix, phrase);
		dump_errs();
	}
}
#define ERR(text, line, key, phrase) err_at(text, line, key, phrase, 1, __LINE__)
#define ERR_ANY(text, line, key, phrase) err_at(text, line, key, phrase, 0, __LINE__)

/* A one-job file with extra job lines (the job header is line 1, the
 * url line 2, EXTRA starts at line 3). */
static void job_err_at(const char *extra, unsigned long eline, const char *key, const char *phrase, int only,
		       int tline)
{
	char text[8192];
	snprintf(text, sizeof text, "[job \"j\"]\nurl = http://127.0.0.1:9100/metrics\n%s", extra);
	err_at(text, eline, key, phrase, only, tline);
}
#define JOB_ERR(extra, line, key, phrase) job_err_at(extra, line, key, phrase, 1, __LINE__)
#define JOB_ERR_ANY(extra, line, key, phrase) job_err_at(extra, line, key, phrase, 0, __LINE__)

#define JOB "[job \"j\"]\nurl = http://127.0.0.1:9100/metrics\n"

/* ---- durations and sizes ---- */

static void test_duration(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "0", 0 },         { "10s", 10000 },     { "500ms", 500 },       { "1.5s", 1500 },
		{ "1h2m3s", 3723000 }, { "2h", 7200000 }, { "1m30s", 90000 },     { "0.001s", 1 },
		{ "1500us", 0 },    { "1000us", 1 },      { "3000000ns", 3 },     { "0s", 0 },
		{ "1.25m", 75000 }, { ".5s", 500 },       { "5.s", 5000 },        { "1s500ms", 1500 },
		{ "0.5h", 1800000 }, { "2\xc2\xb5s", 0 },
	};
	static const char *const bad[] = {
		"", "-1s", "+1s", "10", "1x", "s", "1.5", "1 s", " 1s", "1s ", "1.2.3s", "1d", "1.0000000001s",
		"1ms500us", "1ns", "99999999999999999999s", "6000000h", "1S", "1.s5", ".s",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		uint64_t ms = 999;
		int r = pf_duration_parse(good[i].s, &ms);
		if (strcmp(good[i].s, "1500us") == 0 || strcmp(good[i].s, "2\xc2\xb5s") == 0) {
			/* finer than a millisecond: refused, not rounded */
			CHECK(r == -1);
			continue;
		}
		checks++;
		if (r != 0 || ms != good[i].ms)
			fail(__func__, __LINE__, "\"%s\" -> %d, %llu; want %llu", good[i].s, r,
			     (unsigned long long)ms, (unsigned long long)good[i].ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t ms = 999;
		checks++;
		if (pf_duration_parse(bad[i], &ms) != -1 || ms != 999)
			fail(__func__, __LINE__, "\"%s\" accepted as %llu", bad[i], (unsigned long long)ms);
	}
	uint64_t ms;
	CHECK(pf_duration_parse(NULL, &ms) == -1);
}

static void test_size(void)
{
	static const struct {
		const char *s;
		uint64_t b;
	} good[] = {
		{ "1048576", 1048576 }, { "64MiB", 64u << 20 }, { "512KiB", 512u << 10 }, { "1GB", 1000000000 },
		{ "1GiB", 1u << 30 },   { "10B", 10 },          { "2KB", 2000 },          { "3MB", 3000000 },
		{ "1.5KiB", 1536 },     { "64 MiB", 64u << 20 }, { "64mib", 64u << 20 },  { "0", 0 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "-1", "1TB", "1 ", "MiB", "1.5.5MiB", "1e6", "0x10", "1 M", "18446744073709551616",
		"17179869184GiB", " 1", "1KiBB",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		uint64_t b = 999;
		int r = pf_size_parse(good[i].s, &b);
		checks++;
		if (r != 0 || b != good[i].b)
			fail(__func__, __LINE__, "\"%s\" -> %d, %llu; want %llu", good[i].s, r, (unsigned long long)b,
			     (unsigned long long)good[i].b);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t b = 999;
		checks++;
		if (pf_size_parse(bad[i], &b) != -1)
			fail(__func__, __LINE__, "\"%s\" accepted as %llu", bad[i], (unsigned long long)b);
	}
}

/* ---- valid files ---- */

static void touch(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(2);
	}
	fputs("x\n", f);
	fclose(f);
}

static const char *kv_get(const pf_kv *kv, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, k) == 0)
			return kv[i].value;
	return NULL;
}

static void test_full(void)
{
	char text[8192], p[600];
	touch("pw");
	touch("tok");
	touch("ca.pem");
	touch("cert.pem");
	touch("key.pem");
	setenv("PF_TEST_PW", "s3cret", 1);
	snprintf(text, sizeof text,
		 "; full configuration\n"
		 "[global]\n"
		 "interval = 30s\n"
		 "timeout = 20s\n"
		 "jitter = 2s\n"
		 "slack = 200ms\n"
		 "max_concurrent_scrapes = 17\n"
		 "tag = env=prod\n"
		 "tag = region = eu-west-1 ; comment\n"
		 "hostname = web-01\n"
		 "omit_hostname = no\n"
		 "log_level = debug\n"
		 "\n"
		 "[job \"node\"]\n"
		 "url = http://127.0.0.1:9100/metrics\n"
		 "url = \"https://[::1]:9443/m?x=1\"\n"
		 "url = unix:///run/app.sock?path=/metrics\n"
		 "interval = 1m\n"
		 "timeout = 1m\n"
		 "schema = influxdb-prom\n"
		 "tag = team=infra\n"
		 "url_tag = target\n"
		 "honor_timestamps = off\n"
		 "honor_labels = YES\n"
		 "on_error = reject\n"
		 "format = openmetrics\n"
		 "username = promflux\n"
		 "password = ${PF_TEST_PW}\n"
		 "header = X-Scope-OrgID: infra\n"
		 "header = X-Other:  a;b #c\n"
		 "tls_ca = ca.pem\n"
		 "tls_cert = %s/cert.pem\n"
		 "tls_key = key.pem\n"
		 "tls_server_name = node.example.com\n"
		 "tls_insecure_skip_verify = 1\n"
		 "proxy = http://user:pw@proxy:3128\n"
		 "body_limit = 1MiB\n"
		 "enable_compression = false\n"
		 "sample_limit = 5000\n"
		 "metric_include = node_cpu_*\n"
		 "metric_include = node_mem[a-z]*\n"
		 "metric_exclude = *_guest_*\n"
		 "label_drop = le_*\n"
		 "label_drop = cpu\n"
		 "\n"
		 "[job \"k8s\"]\n"
		 "url = https://10.0.0.5/metrics\n"
		 "password_file = pw\n"
		 "username = u\n"
		 "[job \"tok\"]\n"
		 "url = http://h:1/\n"
		 "bearer_token_file = tok\n"
		 "[job \"tok2\"]\n"
		 "url = http://h:2/\n"
		 "bearer_token = abc\n"
		 "url_tag = \"\"\n"
		 "[output \"console\"]\n"
		 "type = stdout\n"
		 "precision = s\n"
		 "[output \"archive\"]\n"
		 "type = file\n"
		 "path = out.lp\n"
		 "precision = ns\n",
		 dir);
	pf_config *c = OK(text);
	if (!c)
		return;
	CHECK_STR(c->path, last_path);
	CHECK_U(c->interval_ms, 30000);
	CHECK_U(c->timeout_ms, 20000);
	CHECK_U(c->jitter_ms, 2000);
	CHECK_U(c->slack_ms, 200);
	CHECK_U(c->max_concurrent_scrapes, 17);
	CHECK_U(c->ntags, 2);
	CHECK_STR(kv_get(c->tags, c->ntags, "env"), "prod");
	CHECK_STR(kv_get(c->tags, c->ntags, "region"), "eu-west-1");
	CHECK_STR(c->hostname, "web-01");
	CHECK_U(c->omit_hostname, 0);
	CHECK_U(c->log_level, PF_LOG_DEBUG);
	CHECK_U(c->njobs, 4);
	CHECK_U(c->noutputs, 2);
	if (c->njobs != 4 || c->noutputs != 2) {
		pf_config_free(c);
		return;
	}
	pf_job *j = &c->jobs[0];
	CHECK_STR(j->name, "node");
	CHECK_U(j->line, 14);
	CHECK_U(j->nurls, 3);
	CHECK_STR(j->urls[0], "http://127.0.0.1:9100/metrics");
	CHECK_STR(j->urls[1], "https://[::1]:9443/m?x=1");
	CHECK_STR(j->urls[2], "unix:///run/app.sock?path=/metrics");
	CHECK_U(j->interval_ms, 60000);
	CHECK_U(j->timeout_ms, 60000);
	CHECK_U(j->schema, PF_SCHEMA_INFLUXDB_PROM);
	CHECK_U(j->ntags, 1);
	CHECK_STR(kv_get(j->tags, j->ntags, "team"), "infra");
	CHECK_STR(j->url_tag, "target");
	CHECK_U(j->honor_timestamps, 0);
	CHECK_U(j->honor_labels, 1);
	CHECK_U(j->on_error, PF_ON_ERROR_REJECT);
	CHECK_U(j->format, PF_FORMAT_OPENMETRICS);
	CHECK_STR(j->username, "promflux");
	CHECK_STR(j->password, "s3cret");
	CHECK(j->password_file == NULL);
	CHECK(j->bearer_token == NULL && j->bearer_token_file == NULL);
	CHECK_U(j->nheaders, 2);
	CHECK_STR(kv_get(j->headers, j->nheaders, "X-Scope-OrgID"), "infra");
	CHECK_STR(kv_get(j->headers, j->nheaders, "X-Other"), "a;b #c");
	snprintf(p, sizeof p, "%s/ca.pem", dir);
	CHECK_STR(j->tls_ca, p); /* relative: from the file's directory */
	snprintf(p, sizeof p, "%s/cert.pem", dir);
	CHECK_STR(j->tls_cert, p);
	snprintf(p, sizeof p, "%s/key.pem", dir);
	CHECK_STR(j->tls_key, p);
	CHECK_STR(j->tls_server_name, "node.example.com");
	CHECK_U(j->tls_insecure_skip_verify, 1);
	CHECK_STR(j->proxy, "http://user:pw@proxy:3128");
	CHECK_U(j->body_limit, 1048576);
	CHECK_U(j->enable_compression, 0);
	CHECK_U(j->sample_limit, 5000);
	CHECK_U(j->nmetric_include, 2);
	if (j->nmetric_include == 2) {
		CHECK_STR(j->metric_include[0], "node_cpu_*");
		CHECK_STR(j->metric_include[1], "node_mem[a-z]*");
	}
	CHECK_U(j->nmetric_exclude, 1);
	if (j->nmetric_exclude == 1)
		CHECK_STR(j->metric_exclude[0], "*_guest_*");
	CHECK_U(j->nlabel_drop, 2);
	if (j->nlabel_drop == 2) {
		CHECK_STR(j->label_drop[0], "le_*");
		CHECK_STR(j->label_drop[1], "cpu");
	}

	j = &c->jobs[1];
	CHECK_STR(j->name, "k8s");
	CHECK_U(j->interval_ms, 30000); /* inherited */
	CHECK_U(j->timeout_ms, 20000);
	snprintf(p, sizeof p, "%s/pw", dir);
	CHECK_STR(j->password_file, p);
	CHECK(j->password == NULL);
	CHECK_STR(j->username, "u");
	snprintf(p, sizeof p, "%s/tok", dir);
	CHECK_STR(c->jobs[2].bearer_token_file, p);
	CHECK_STR(c->jobs[3].bearer_token, "abc");
	CHECK_STR(c->jobs[3].url_tag, "");

	pf_output *o = &c->outputs[0];
	CHECK_STR(o->name, "console");
	CHECK_U(o->type, PF_OUTPUT_STDOUT);
	CHECK_U(o->precision, PF_PREC_S);
	CHECK(o->path == NULL);
	o = &c->outputs[1];
	CHECK_STR(o->name, "archive");
	CHECK_U(o->type, PF_OUTPUT_FILE);
	CHECK_U(o->precision, PF_PREC_NS);
	snprintf(p, sizeof p, "%s/out.lp", dir);
	CHECK_STR(o->path, p);
	pf_config_free(c);
}

static void test_defaults(void)
{
	pf_config *c = OK("[job \"a\"]\nurl = http://x/metrics\n");
	if (!c)
		return;
	char host[256] = "";
	gethostname(host, sizeof host);
	CHECK_U(c->interval_ms, 10000);
	CHECK_U(c->timeout_ms, 10000);
	CHECK_U(c->jitter_ms, 0);
	CHECK_U(c->slack_ms, 50);
	CHECK_U(c->max_concurrent_scrapes, 256);
	CHECK_U(c->ntags, 0);
	CHECK_STR(c->hostname, host);
	CHECK_U(c->omit_hostname, 0);
	CHECK_U(c->log_level, PF_LOG_INFO);
	CHECK_U(c->noutputs, 1);
	CHECK_U(c->outputs[0].type, PF_OUTPUT_STDOUT);
	CHECK_U(c->outputs[0].precision, PF_PREC_MS);
	pf_job *j = &c->jobs[0];
	CHECK_U(j->interval_ms, 10000);
	CHECK_U(j->timeout_ms, 10000);
	CHECK_U(j->schema, PF_SCHEMA_TELEGRAF_V1);
	CHECK_STR(j->url_tag, "url");
	CHECK_U(j->honor_timestamps, 1);
	CHECK_U(j->honor_labels, 0);
	CHECK_U(j->on_error, PF_ON_ERROR_SKIP);
	CHECK_U(j->format, PF_FORMAT_AUTO);
	CHECK(!j->username && !j->password && !j->password_file && !j->bearer_token && !j->bearer_token_file);
	CHECK(!j->tls_ca && !j->tls_cert && !j->tls_key && !j->tls_server_name && !j->proxy);
	CHECK_U(j->tls_insecure_skip_verify, 0);
	CHECK_U(j->body_limit, 64u << 20);
	CHECK_U(j->enable_compression, 1);
	CHECK_U(j->sample_limit, 0);
	CHECK_U(j->nheaders + j->nmetric_include + j->nmetric_exclude + j->nlabel_drop + j->ntags, 0);
	pf_config_free(c);

	/* A job's shorter interval cuts the inherited timeout; global after jobs. */
	c = OK("[job \"a\"]\nurl = http://x/\ninterval = 2s\n[job \"b\"]\nurl = http://y/\n"
	       "[global]\ninterval = 1m\ntimeout = 5s\nomit_hostname = true\n");
	if (c) {
		CHECK_U(c->jobs[0].interval_ms, 2000);
		CHECK_U(c->jobs[0].timeout_ms, 2000);
		CHECK_U(c->jobs[1].interval_ms, 60000);
		CHECK_U(c->jobs[1].timeout_ms, 5000);
		CHECK(c->hostname == NULL);
		CHECK_U(c->omit_hostname, 1);
		pf_config_free(c);
	}
}

static void test_syntax(void)
{
	/* Inline comments, quotes, indentation, CRLF, BOM, ':' separator, a
	 * section name longer than inih's 49 bytes, an empty section. */
	char name[120];
	memset(name, 'n', 100);
	name[100] = '\0';
	char text[1024];
	snprintf(text, sizeof text,
		 "\xef\xbb\xbf[global]\r\n"
		 "  interval = 5s   ; five seconds\r\n"
		 "\ttag: k = a;b\r\n"
		 "# comment\r\n"
		 "; comment\r\n"
		 "[job \"%s\"]   ; the job\r\n"
		 "url = \"http://x/metrics\" ; quoted\r\n"
		 "[output \"o\"]\ntype = stdout", name);
	pf_config *c = OK(text);
	if (c) {
		CHECK_U(c->interval_ms, 5000);
		CHECK_STR(kv_get(c->tags, c->ntags, "k"), "a;b");
		CHECK_STR(c->jobs[0].name, name);
		CHECK_U(c->jobs[0].line, 6);
		CHECK_STR(c->jobs[0].urls[0], "http://x/metrics");
		CHECK_U(c->noutputs, 1);
		pf_config_free(c);
	}
	/* "[job "a"]" with ] and ; inside the name */
	c = OK("[job \"a]b;c\"]\nurl = http://x/\n");
	if (c) {
		CHECK_STR(c->jobs[0].name, "a]b;c");
		pf_config_free(c);
	}
	/* Several errors: all reported, in line order. */
	load_text("[job \"a\"]\nbogus = 1\ninterval = x\n[nope]\nfoo\n[job \"b\"]\nurl = http://x/\n");
	CHECK_U(nerr, 5);
	if (nerr == 5) {
		/* found last (after the file), reported first (by line) */
		CHECK(strstr(errs[0], ":1: [job \"a\"]: no url") != NULL);
		CHECK(strstr(errs[1], ":2: bogus: ") != NULL);
		CHECK(strstr(errs[2], ":3: interval: ") != NULL);
		CHECK(strstr(errs[3], ":4: [nope]: ") != NULL);
		CHECK(strstr(errs[4], ":5: line: ") != NULL);
	}
}

static void test_env(void)
{
	setenv("PF_T_HOST", "example.org", 1);
	setenv("PF_T_EMPTY", "", 1);
	unsetenv("PF_T_UNSET");
	pf_config *c = OK("[global]\n"
			  "hostname = ${PF_T_HOST}\n"
			  "tag = a=${PF_T_UNSET:-dflt}\n"
			  "tag = b=${PF_T_EMPTY:-fromdefault}\n"
			  "tag = c=x${PF_T_HOST}y$${PF_T_HOST}\n"
			  "tag = d=pa$ 5$\n"
			  "tag = e=${PF_T_HOST:-}\n"
			  "tag = f=${PF_T_UNSET:-${x}\n" JOB);
	if (c) {
		CHECK_STR(c->hostname, "example.org");
		CHECK_STR(kv_get(c->tags, c->ntags, "a"), "dflt");
		CHECK_STR(kv_get(c->tags, c->ntags, "b"), "fromdefault");
		CHECK_STR(kv_get(c->tags, c->ntags, "c"), "xexample.orgy${PF_T_HOST}");
		CHECK_STR(kv_get(c->tags, c->ntags, "d"), "pa$ 5$");
		CHECK_STR(kv_get(c->tags, c->ntags, "e"), "example.org");
		CHECK_STR(kv_get(c->tags, c->ntags, "f"), "${x");
		pf_config_free(c);
	}
	/* set but empty without a default: empty, then refused as a value */
	ERR("[global]\nhostname = ${PF_T_EMPTY}\n" JOB, 2, "hostname", "empty value");
	ERR("[global]\nhostname = ${PF_T_UNSET}\n" JOB, 2, "hostname",
	    "environment variable PF_T_UNSET is not set");
	ERR("[global]\nhostname = $PF_T_HOST\n" JOB, 2, "hostname", "$PF_T_HOST is not expanded");
	ERR("[global]\nhostname = ${PF_T_HOST\n" JOB, 2, "hostname", "unterminated ${");
	ERR("[global]\nhostname = ${1X}\n" JOB, 2, "hostname", "bad variable reference ${1X}");
	ERR("[global]\nhostname = ${X-y}\n" JOB, 2, "hostname", "bad variable reference ${X-y}");
	char text[600];
	char longname[300];
	memset(longname, 'V', 299);
	longname[299] = '\0';
	snprintf(text, sizeof text, "[global]\nhostname = ${%s}\n" JOB, longname);
	ERR(text, 2, "hostname", "variable name longer than");
}

static void test_long_line(void)
{
	/* 8192 bytes of line are fine; 8193 are not. A value can be any
	 * length through the environment. */
	static char text[20000], big[9000];
	const char *pre = "[global]\nhostname = ";
	size_t room = 8192 - strlen("hostname = ");
	memset(big, 'h', room);
	big[room] = '\0';
	snprintf(text, sizeof text, "%s%s\n" JOB, pre, big);
	pf_config *c = OK(text);
	if (c) {
		CHECK_U(strlen(c->hostname), room);
		pf_config_free(c);
	}
	big[room] = 'h';
	big[room + 1] = '\0';
	snprintf(text, sizeof text, "%s%s\n" JOB, pre, big);
	ERR(text, 2, "hostname", "line is 8193 bytes, longer than the limit of 8192: put the value in a file");
	/* The cut part must not come back as a line of its own. */
	snprintf(text, sizeof text, "[global]\nhostname = %s\n" JOB "[job \"k\"]\n", big);
	ERR_ANY(text, 2, "hostname", "longer than the limit");
	CHECK_U(nerr, 2); /* the long line and the job k without url */
	/* A long line that is not a key line. */
	memset(big, 'x', 8999);
	big[8999] = '\0';
	snprintf(text, sizeof text, "%s\n" JOB, big);
	ERR(text, 1, "line", "longer than the limit");

	static char envval[30000];
	memset(envval, 't', sizeof envval - 1);
	setenv("PF_T_LONG", envval, 1);
	c = OK("[job \"a\"]\nurl = http://x/\nbearer_token = ${PF_T_LONG}\n");
	if (c) {
		CHECK_U(strlen(c->jobs[0].bearer_token), sizeof envval - 1);
		pf_config_free(c);
	}
}

/* ---- every error message ---- */

static void test_file_errors(void)
{
	char p[600];
	snprintf(p, sizeof p, "%s/does-not-exist.ini", dir);
	pf_config *c = load_path(p);
	CHECK(c == NULL);
	char want[700];
	snprintf(want, sizeof want, "%s: cannot read: %s", p, strerror(ENOENT));
	CHECK(nerr == 1 && strcmp(errs[0], want) == 0);
	c = load_path(dir); /* a directory */
	CHECK(c == NULL);
	snprintf(want, sizeof want, "%s: cannot read: %s", dir, strerror(EISDIR));
	CHECK(nerr == 1 && strcmp(errs[0], want) == 0);
	/* NULL callback and count pointer are allowed. */
	CHECK(pf_config_load(p, NULL, NULL, NULL) == NULL);

	ERR("", 0, "[job \"NAME\"]", "no job section, at least one job is needed");
	ERR("[global]\n", 0, "[job \"NAME\"]", "no job section");
	static const char nul[] = "[job \"a\"]\nurl = http://x/\ntag = a\0b\n";
	load_path(write_file("t.ini", nul, sizeof nul - 1));
	CHECK(nerr == 1 && strstr(errs[0], ":3: line: NUL byte") != NULL);
}

static void test_section_errors(void)
{
	ERR("interval = 1s\n" JOB, 1, "interval", "key outside any section");
	ERR(JOB "[foo]\nx = 1\n", 3, "[foo]", "unknown section, allowed: [global]");
	ERR(JOB "[Global]\n", 3, "[Global]", "unknown section");
	ERR(JOB "[global\n", 3, "[global", "missing ]");
	ERR(JOB "[job \"x\n", 3, "[job \"x", "unterminated name");
	ERR(JOB "[job \"x\" y]\n", 3, "[job \"x\" y]", "unexpected text in section header");
	ERR(JOB "[job \"x\"] y\n", 3, "[job \"x\"]", "text after ], only a ; or # comment may follow");
	ERR(JOB "[global \"x\"]\n", 3, "[global \"x\"]", "[global] takes no name");
	ERR("[global]\n" JOB "[global]\n", 4, "[global]", "[global] appears twice (first at line 1)");
	ERR(JOB "[job]\nurl = http://y/\n", 3, "[job]", "a job needs a name in double quotes");
	ERR(JOB "[job x]\n", 3, "[job x]", "unexpected text in section header");
	ERR(JOB "[output]\n", 3, "[output]", "an output needs a name in double quotes");
	ERR(JOB "[job \"\"]\n", 3, "[job \"\"]", "empty job name");
	ERR(JOB "[job \" a\"]\n", 3, "[job \" a\"]", "job name with blanks around it");
	ERR(JOB "[job \"j\"]\nurl = http://y/\n", 3, "[job \"j\"]", "duplicate job name (first at line 1)");
	ERR(JOB "[output \"o\"]\ntype = stdout\n[output \"o\"]\n", 5, "[output \"o\"]",
	    "duplicate output name (first at line 3)");
	ERR("[job \"e\"]\n" JOB, 1, "[job \"e\"]", "no url, a job needs at least one url");
}

static void test_key_errors(void)
{
	ERR(JOB "bogus = 1\n", 3, "bogus", "unknown key in [job \"j\"], allowed: url, interval,");
	ERR("[global]\nurl = http://x/\n" JOB, 2, "url", "unknown key in [global], allowed: interval,");
	ERR(JOB "[output \"o\"]\ntype = stdout\nformat = x\n", 5, "format",
	    "unknown key in [output \"o\"], allowed: type, path, precision");
	ERR(JOB "Interval = 5s\n", 3, "Interval", "unknown key");
	ERR(JOB "= 5\n", 3, "(empty key)", "no key name before =");
	ERR(JOB "interval = 5s\ninterval = 6s\n", 4, "interval",
	    "set twice in [job \"j\"] (first at line 3), allowed once");
	ERR("[global]\nhostname = a\nhostname = a\n" JOB, 3, "hostname", "set twice in [global]");
	ERR(JOB "just words\n", 3, "line", "not a key = value line");
	ERR(JOB "interval\n", 3, "line", "not a key = value line");
	JOB_ERR("interval =\n", 3, "interval", "empty value");
	JOB_ERR("interval = ;comment\n", 3, "interval", "empty value");
}

static void test_value_errors(void)
{
	JOB_ERR("interval = 10\n", 3, "interval", "bad duration \"10\", allowed: a number with a unit");
	JOB_ERR("interval = -5s\n", 3, "interval", "bad duration");
	JOB_ERR("interval = 0s\n", 3, "interval", "must be longer than 0");
	ERR("[global]\ntimeout = 0\n" JOB, 2, "timeout", "must be longer than 0");
	ERR("[global]\njitter = 1y\n" JOB, 2, "jitter", "bad duration");
	ERR("[global]\nslack = 1001ms\n" JOB, 2, "slack", "1001ms is too long, allowed: 0 (off) to 1000ms");
	ERR("[global]\nslack = soon\n" JOB, 2, "slack", "bad duration");
	ERR("[global]\nmax_concurrent_scrapes = 0\n" JOB, 2, "max_concurrent_scrapes",
	    "bad number \"0\", allowed: a whole number from 1 to 1000000");
	ERR("[global]\nmax_concurrent_scrapes = 12a\n" JOB, 2, "max_concurrent_scrapes", "bad number");
	JOB_ERR("sample_limit = -1\n", 3, "sample_limit", "bad number");
	JOB_ERR("body_limit = 10 XB\n", 3, "body_limit", "bad size");
	JOB_ERR("body_limit = 0\n", 3, "body_limit", "bad size \"0\", allowed: a number above 0");
	JOB_ERR("honor_labels = maybe\n", 3, "honor_labels",
		"bad boolean \"maybe\", allowed: true, false, yes, no, on, off, 1, 0");
	ERR("[global]\nomit_hostname = 2\n" JOB, 2, "omit_hostname", "bad boolean");
	ERR("[global]\nhostname = a b\n" JOB, 2, "hostname", "blank or control character");
	JOB_ERR_ANY("tls_server_name = a\tb\n", 3, "tls_server_name", "blank or control character");
	JOB_ERR("url_tag = time\n", 3, "url_tag", "reserved tag key");
	ERR("[global]\ntag = env\n" JOB, 2, "tag", "\"env\" is not KEY=VALUE");
	ERR("[global]\ntag = =x\n" JOB, 2, "tag", "empty tag key");
	ERR("[global]\ntag = _field=x\n" JOB, 2, "tag", "reserved tag key");
	JOB_ERR("tag = a=\n", 3, "tag", "empty tag value");
	JOB_ERR("tag = a=1\ntag = a=2\n", 4, "tag", "tag a set twice in this section");
	JOB_ERR("header = X-Foo\n", 3, "header", "is not Name: value");
	JOB_ERR("header = X Foo: 1\n", 3, "header", "bad header name \"X Foo\"");
	JOB_ERR("header = X-Foo:\n", 3, "header", "empty value for header X-Foo");
	JOB_ERR("schema = telegraf\n", 3, "schema",
		"unknown schema \"telegraf\", allowed: telegraf-v1, telegraf-v2, influxdb-prom");
	JOB_ERR("on_error = ignore\n", 3, "on_error", "unknown value \"ignore\", allowed: skip, reject");
	JOB_ERR("format = json\n", 3, "format", "unknown format \"json\", allowed: auto, prometheus, openmetrics");
	ERR("[global]\nlog_level = loud\n" JOB, 2, "log_level", "unknown level \"loud\", allowed: crit");
	ERR(JOB "[output \"o\"]\ntype = kafka\n", 4, "type",
	    "type kafka is not supported by this version; supported: stdout, file, influxdb_v1, influxdb_v2");
	ERR(JOB "[output \"o\"]\ntype = stdout\nprecision = 1ms\n", 5, "precision",
	    "unknown precision \"1ms\", allowed: ns, us, ms, s");
	JOB_ERR("metric_include = \n", 3, "metric_include", "empty value");
	JOB_ERR("metric_include = node_[ab\n", 3, "metric_include", "[ without a closing ]");
	JOB_ERR("label_drop = a\\\n", 3, "label_drop", "pattern ends with a lone \\");
	JOB_ERR("metric_exclude = x\nmetric_exclude = x\n", 4, "metric_exclude", "\"x\" listed twice");
}

static void test_url_errors(void)
{
	static const struct {
		const char *url, *phrase;
	} bad[] = {
		{ "ftp://x/metrics", "unsupported URL scheme in \"ftp://x/metrics\", allowed: http://HOST" },
		{ "127.0.0.1:9100/metrics", "unsupported URL scheme" },
		{ "http:///metrics", "no host" },
		{ "http://u:p@x/metrics", "credentials in the URL are not allowed" },
		{ "http://x:0/", "bad port" },
		{ "http://x:65536/", "bad port" },
		{ "http://x:/", "empty port" },
		{ "http://x:9a/", "bad port" },
		{ "http://[zz]/", "bad IPv6 address" },
		{ "http://[::1]x/", "unexpected text after the host" },
		{ "http://a*b/", "bad character in host name" },
		{ "http://x/a\"b\"", NULL }, /* quotes are part of the URL: fine */
		{ "http://x/#frag", "a #fragment is never sent" },
		{ "unix://run/app.sock", "the socket path must be absolute" },
		{ "unix:///", "no socket file after unix://" },
		{ "unix:///run/dir/", "no socket file" },
		{ "unix:///run/app.sock?x=1", "after the socket only ?path=/PATH is allowed" },
		{ "unix:///run/app.sock?path=metrics", "after the socket only ?path=/PATH" },
	};
	char text[600];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[job \"j\"]\nurl = %s\n", bad[i].url);
		if (bad[i].phrase) {
			err_at(text, 2, "url", bad[i].phrase, 0, __LINE__);
		} else {
			pf_config *c = OK(text);
			pf_config_free(c);
		}
	}
	ERR("[job \"j\"]\nurl = http://x/a b\n", 2, "url", "blank or control character in the URL");
	char sock[200];
	memset(sock, 's', 120);
	sock[120] = '\0';
	snprintf(text, sizeof text, "[job \"j\"]\nurl = unix:///%s\n", sock);
	ERR_ANY(text, 2, "url", "socket path longer than 107 bytes");
	JOB_ERR("url = http://127.0.0.1:9100/metrics\n", 3, "url", "listed twice in this section");
	JOB_ERR("proxy = ftp://p:1\n", 3, "proxy", "unsupported proxy scheme");
	JOB_ERR("proxy = http://p:1/x\n", 3, "proxy", "a proxy URL has no path");
	JOB_ERR("proxy = http://:1\n", 3, "proxy", "no host");
	/* good ones */
	pf_config *c = OK(JOB "url = unix:///run/a.sock\nurl = HTTPS://Example.COM\nproxy = socks5h://p:1080/\n");
	if (c) {
		CHECK_U(c->jobs[0].nurls, 3);
		pf_config_free(c);
	}
}

static void test_file_value_errors(void)
{
	char text[1500];
	JOB_ERR_ANY("password_file = nope\n", 3, "password_file", "nope: No such file or directory; the file must exist");
	JOB_ERR("bearer_token_file = /nonexistent/tok\n", 3, "bearer_token_file",
		"cannot read /nonexistent/tok: No such file or directory");
	JOB_ERR_ANY("tls_ca = .\n", 3, "tls_ca", "is not a regular file");
	snprintf(text, sizeof text, JOB "[output \"f\"]\ntype = file\npath = %s\n", dir);
	ERR(text, 5, "path", "is a directory; a file path is expected");
	ERR(JOB "[output \"f\"]\ntype = file\npath = no/such/dir/out.lp\n", 5, "path",
	    "no/such/dir does not exist; the file's directory must exist");
	ERR(JOB "[output \"f\"]\ntype = file\npath = nosuch/\n", 5, "path", "names a directory");
}

static void test_cross_errors(void)
{
	touch("pw");
	touch("tok");
	touch("c.pem");
	JOB_ERR("interval = 5s\ntimeout = 6s\n", 4, "timeout",
		"6000ms is longer than the interval (5000ms), allowed: at most the interval");
	ERR("[global]\ninterval = 5s\ntimeout = 6s\n" JOB, 3, "timeout", "is longer than the interval");
	/* a job's own longer interval does not excuse a too-long job timeout */
	ERR("[global]\ninterval = 5s\njitter = 5s\n" JOB, 3, "jitter",
	    "5000ms is not shorter than the interval (5000ms)");
	ERR("[global]\njitter = 3s\n" JOB "interval = 2s\n", 5, "interval",
	    "2000ms is not longer than the global jitter (3000ms)");
	/* the spool */
#define V1 "[output \"v1\"]\ntype = influxdb_v1\nurl = http://h:8086\ndatabase = d\n"
	ERR(JOB V1 "spool_fsync = sometimes\n", 7, "spool_fsync", "allowed: batch, interval, off");
	ERR(JOB V1 "spool_fsync_interval = 2s\n", 7, "spool_fsync_interval", "spool_fsync is not interval");
	ERR(JOB V1 "spool = off\nspool_limit = 1GiB\n", 8, "spool_limit", "set while spool = false");
	ERR(JOB V1 "spool_limit = 1KiB\n", 7, "spool_limit", "is below batch_bytes");
	ERR(JOB V1 "spool_replay_rate = fast\n", 7, "spool_replay_rate", "bad size");
	ERR(JOB "[output \"f\"]\ntype = file\npath = x.lp\nspool = on\n", 6, "spool", "applies only to types influxdb_v1");
	ERR("[global]\nstate_directory = var/lib\n" JOB, 2, "state_directory", "not an absolute path");
	{
		pf_config *s = OK(JOB V1 "spool_fsync = interval\nspool_fsync_interval = 250ms\nspool_replay_rate = 4MiB\n"
				  "[global]\nstate_directory = /srv/pf\n");
		if (s) {
			CHECK_U(s->outputs[0].spool_fsync, PF_SPOOL_FSYNC_INTERVAL);
			CHECK_U(s->outputs[0].spool_fsync_interval_ms, 250);
			CHECK_U(s->outputs[0].spool_replay_rate, 4u * 1024 * 1024);
			CHECK_STR(s->state_directory, "/srv/pf");
			pf_config_free(s);
		}
	}
#undef V1
	/* listen: the own endpoint's address, or off */
	ERR("[global]\nlisten = nowhere\n" JOB, 2, "listen", "expected host:port");
	ERR("[global]\nlisten =\n" JOB, 2, "listen", "empty value");
	ERR("[global]\nstate_directory = ${PF_TEST_SURELY_UNSET}\n" JOB, 2, "state_directory", "");
	ERR("[global]\nlisten = ::1:9465\n" JOB, 2, "listen", "an IPv6 address goes in brackets");
	ERR("[global]\nlisten = 127.0.0.1:70000\n" JOB, 2, "listen", "port must be a number 0-65535");
	ERR("[global]\nlisten = example.com:9465\n" JOB, 2, "listen", "host names other than localhost");
	ERR("[global]\nwatch_config = maybe\n" JOB, 2, "watch_config", "");
	pf_config *c = OK("[global]\nlisten = off\nwatch_config = on\n" JOB);
	if (c) {
		CHECK_STR(c->listen, "");
		CHECK_U(c->watch_config, 1);
		pf_config_free(c);
	}
	c = OK("[global]\nlisten = [::1]:0\n" JOB);
	if (c) {
		CHECK_STR(c->listen, "[::1]:0");
		pf_config_free(c);
	}
	JOB_ERR("username = u\npassword = p\npassword_file = pw\n", 5, "password_file",
		"password and password_file are exclusive, set one");
	JOB_ERR("password = p\n", 3, "password", "set without username, basic auth needs username too");
	JOB_ERR("password_file = pw\n", 3, "password_file", "set without username");
	JOB_ERR("bearer_token_file = tok\nbearer_token = t\n", 4, "bearer_token",
		"bearer_token and bearer_token_file are exclusive, set one");
	JOB_ERR("bearer_token = t\nusername = u\n", 4, "username",
		"username (basic auth) and a bearer token both set");
	JOB_ERR("username = u\nbearer_token_file = tok\n", 4, "bearer_token_file", "a bearer token both set");
	JOB_ERR("header = X-A: 1\nheader = authorization: Basic eA==\nusername = u\n", 4, "header",
		"Authorization header while username is set");
	JOB_ERR("header = Authorization : Bearer x\nbearer_token = t\n", 3, "header",
		"Authorization header while a bearer token is set");
	c = OK(JOB "header = Authorization: Bearer x\n");
	pf_config_free(c);
	ERR("[job \"j\"]\nurl = https://x/\ntls_cert = c.pem\n", 3, "tls_cert", "set without tls_key");
	ERR("[job \"j\"]\nurl = https://x/\ntls_key = c.pem\n", 3, "tls_key", "set without tls_cert");
	JOB_ERR("tls_insecure_skip_verify = false\ntls_ca = c.pem\n", 3, "tls_insecure_skip_verify",
		"TLS setting in a job without an https:// url");
	JOB_ERR("tag = url=x\n", 3, "url_tag", "tag url is both the url tag and a tag of this job");
	c = OK(JOB "tag = url=x\nurl_tag =\n");
	pf_config_free(c);
	ERR(JOB "[output \"o\"]\n", 3, "[output \"o\"]", "no type, allowed: type = stdout, type = file");
	ERR(JOB "[output \"o\"]\ntype = file\n", 3, "[output \"o\"]", "type = file needs path = FILE");
	ERR(JOB "[output \"o\"]\ntype = stdout\npath = x.lp\n", 5, "path",
	    "set for type = stdout, path applies only to type = file");
	ERR(JOB "[output \"a\"]\ntype = stdout\n[output \"b\"]\ntype = stdout\n", 6, "type",
	    "a second stdout output (first [output \"a\"] at line 3)");
}

static void test_cross_errors2(void)
{
	char text[1500];
	snprintf(text, sizeof text,
		 JOB "[output \"a\"]\ntype = file\npath = x.lp\n[output \"b\"]\ntype = file\npath = %s/x.lp\n", dir);
	ERR(text, 8, "path", "x.lp is also the path of [output \"a\"] (line 3)");
	ERR("[global]\nhostname = h\nomit_hostname = true\n" JOB, 2, "hostname",
	    "set while omit_hostname is true");
}

/* An output of a type this version lacks reports that error, not also each
 * of its other keys as unknown, and it is no stdout output to clash with.
 * What is wrong whatever the type is still reported, and so is everything
 * in the sections around it. */
static void test_unsupported_output(void)
{
	ERR(JOB "[output \"k\"]\nbrokers = 127.0.0.1:9092\ntopic = t\n"
		"type = kafka\nacks = ${PF_T_UNSET}\nprecision = s\n",
	    6, "type", "type kafka is not supported by this version; supported: stdout, file, influxdb_v1, influxdb_v2");
	ERR(JOB "[output \"a\"]\ntype = stdout\n[output \"k\"]\ntype = kafka\ntopic = b\n",
	    6, "type", "type kafka is not supported");
	pf_config *c = load_text("[global]\nbogus = 1\n" JOB "[output \"k\"]\ntopic = o\nprecision = 1ms\n"
				 "type = kafka\nbrokers = t\ntype = stdout\n"
				 "[output \"s\"]\ntype = stdout\ntopic = o\n");
	CHECK(c == NULL);
	CHECK_U(nerr, 5);
	static const char *const want[] = {
		":2: bogus: unknown key in [global]",
		":7: precision: unknown precision \"1ms\"",
		":8: type: type kafka is not supported",
		":10: type: set twice in [output \"k\"] (first at line 8)",
		":13: topic: unknown key in [output \"s\"]",
	};
	int all = nerr == 5;
	for (size_t i = 0; i < 5 && i < nerr; i++) {
		CHECK(strstr(errs[i], want[i]) != NULL);
		all &= strstr(errs[i], want[i]) != NULL;
	}
	if (!all)
		dump_errs();
	pf_config_free(c);
	/* an empty type is no unsupported type: unknown keys are reported,
	 * and no check that depends on the type is made (bucket is no error
	 * of a stdout output here: the type is not known) */
	ERR_ANY(JOB "[output \"o\"]\ntype =\ntopic = b\n", 5, "topic", "unknown key in [output \"o\"]");
	ERR(JOB "[output \"o\"]\ntype =\nbucket = b\n", 4, "type", "empty value");
}

/* ---- InfluxDB outputs ---- */

static void test_influx_outputs(void)
{
	char text[4096], p[600];
	touch("ipw");
	touch("itok");
	touch("ca.pem");
	touch("cert.pem");
	touch("key.pem");
	snprintf(text, sizeof text,
		 "[global]\nshutdown_timeout = 3s\n" JOB
		 "[output \"v1\"]\n"
		 "type = influxdb_v1\n"
		 "url = https://influx.example.com:8086/prefix\n"
		 "database = telegraf\n"
		 "retention_policy = two_weeks\n"
		 "consistency = quorum\n"
		 "username = pf\n"
		 "password_file = ipw\n"
		 "create_database = false\n"
		 "precision = s\n"
		 "timeout = 3s\n"
		 "gzip = true\n"
		 "gzip_level = 6\n"
		 "batch_lines = 100\n"
		 "batch_bytes = 64KiB\n"
		 "flush_interval = 250ms\n"
		 "max_in_flight = 4\n"
		 "buffer_limit = 1MiB\n"
		 "retry_max_backoff = 5s\n"
		 "tls_ca = ca.pem\n"
		 "tls_cert = cert.pem\n"
		 "tls_key = key.pem\n"
		 "tls_server_name = influx.internal\n"
		 "tls_insecure_skip_verify = yes\n"
		 "[output \"v2\"]\n"
		 "type = influxdb_v2\n"
		 "url = http://127.0.0.1:8086\n"
		 "org = my-org\n"
		 "bucket = metrics\n"
		 "token_file = itok\n"
		 "precision = s\n"
		 "gzip = false\n"
		 "[output \"v2b\"]\n"
		 "type = influxdb_v2\n"
		 "url = http://127.0.0.1:8087/\n"
		 "org = o\n"
		 "bucket = b\n"
		 "token = secret\n"
		 "precision = s\n");
	pf_config *c = OK(text);
	if (!c)
		return;
	CHECK_U(c->shutdown_timeout_ms, 3000);
	CHECK_U(c->noutputs, 3);
	if (c->noutputs != 3) {
		pf_config_free(c);
		return;
	}
	pf_output *o = &c->outputs[0];
	CHECK_U(o->type, PF_OUTPUT_INFLUXDB_V1);
	CHECK_STR(o->url, "https://influx.example.com:8086/prefix");
	CHECK_STR(o->database, "telegraf");
	CHECK_STR(o->retention_policy, "two_weeks");
	CHECK_U(o->consistency, PF_CONSISTENCY_QUORUM);
	CHECK_STR(o->username, "pf");
	snprintf(p, sizeof p, "%s/ipw", dir);
	CHECK_STR(o->password_file, p);
	CHECK(o->password == NULL);
	CHECK_U(o->create_database, 0);
	CHECK_U(o->precision, PF_PREC_S);
	CHECK_U(o->timeout_ms, 3000);
	CHECK_U(o->gzip, 1);
	CHECK_U(o->gzip_level, 6);
	CHECK_U(o->batch_lines, 100);
	CHECK_U(o->batch_bytes, 65536);
	CHECK_U(o->flush_interval_ms, 250);
	CHECK_U(o->max_in_flight, 4);
	CHECK_U(o->buffer_limit, 1048576);
	CHECK_U(o->retry_max_backoff_ms, 5000);
	snprintf(p, sizeof p, "%s/ca.pem", dir);
	CHECK_STR(o->tls_ca, p);
	snprintf(p, sizeof p, "%s/key.pem", dir);
	CHECK_STR(o->tls_key, p);
	CHECK_STR(o->tls_server_name, "influx.internal");
	CHECK_U(o->tls_insecure_skip_verify, 1);
	o = &c->outputs[1];
	CHECK_U(o->type, PF_OUTPUT_INFLUXDB_V2);
	CHECK_STR(o->org, "my-org");
	CHECK_STR(o->bucket, "metrics");
	snprintf(p, sizeof p, "%s/itok", dir);
	CHECK_STR(o->token_file, p);
	CHECK(o->token == NULL);
	CHECK_U(o->gzip, 0);
	/* defaults */
	CHECK_U(o->timeout_ms, 10000);
	CHECK_U(o->gzip_level, 1);
	CHECK_U(o->batch_lines, 5000);
	CHECK_U(o->batch_bytes, 1048576);
	CHECK_U(o->flush_interval_ms, 1000);
	CHECK_U(o->max_in_flight, 2);
	CHECK_U(o->buffer_limit, 64u << 20);
	CHECK_U(o->retry_max_backoff_ms, 30000);
	CHECK_U(o->create_database, 1);
	CHECK_U(o->consistency, PF_CONSISTENCY_NONE);
	CHECK_STR(c->outputs[2].token, "secret");
	pf_config_free(c);

	/* defaults of [global] and of a v1 output */
	c = OK(JOB "[output \"v1\"]\ntype = influxdb_v1\nurl = http://h:8086\ndatabase = d\n");
	if (c) {
		CHECK_U(c->shutdown_timeout_ms, 10000);
		CHECK_STR(c->listen, "127.0.0.1:9465");
		CHECK_U(c->outputs[0].spool, 1);
		CHECK_U(c->outputs[0].spool_limit, 1024ull * 1024 * 1024);
		CHECK_U(c->outputs[0].spool_fsync, PF_SPOOL_FSYNC_BATCH);
		CHECK_U(c->outputs[0].spool_fsync_interval_ms, 1000);
		CHECK_U(c->outputs[0].spool_replay_rate, 0);
		CHECK_U(c->watch_config, 0);
		CHECK_U(c->outputs[0].create_database, 1);
		CHECK_U(c->outputs[0].gzip, 1);
		CHECK_U(c->outputs[0].precision, PF_PREC_MS);
		CHECK(c->outputs[0].retention_policy == NULL && c->outputs[0].username == NULL);
		pf_config_free(c);
	}
}

#define V1 JOB "[output \"o\"]\ntype = influxdb_v1\nurl = http://127.0.0.1:8086\ndatabase = d\n"
#define V2 JOB "[output \"o\"]\ntype = influxdb_v2\nurl = http://127.0.0.1:8086\norg = o\nbucket = b\ntoken = t\n"

static void test_influx_errors(void)
{
	touch("ipw");
	touch("itok");
	touch("c.pem");
	/* required keys, reported at the section */
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\ndatabase = d\n", 3, "[output \"o\"]",
	    "type = influxdb_v1 needs url = http://HOST:PORT");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = http://h:1\n", 3, "[output \"o\"]",
	    "type = influxdb_v1 needs database = NAME");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v2\nurl = http://h:1\nbucket = b\ntoken = t\n", 3,
	    "[output \"o\"]", "type = influxdb_v2 needs org = NAME");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v2\nurl = http://h:1\norg = o\ntoken = t\n", 3, "[output \"o\"]",
	    "type = influxdb_v2 needs bucket = NAME");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v2\nurl = http://h:1\norg = o\nbucket = b\n", 3, "[output \"o\"]",
	    "type = influxdb_v2 needs token = TOKEN or token_file = FILE");
	/* the URL */
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = unix:///run/influx.sock\ndatabase = d\n", 5, "url",
	    "unix sockets are not supported for outputs in \"unix:///run/influx.sock\", allowed: http://HOST[:PORT][/PREFIX]");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = http://h:8086/write?db=x\ndatabase = d\n", 5, "url",
	    "a query is not allowed (the writer adds its own parameters)");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = ftp://h\ndatabase = d\n", 5, "url",
	    "unsupported URL scheme in \"ftp://h\"");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = http://h:99999\ndatabase = d\n", 5, "url", "bad port");
	/* keys of another type */
	ERR(V2 "database = d\n", 9, "database", "set for type = influxdb_v2, database applies only to type = influxdb_v1");
	ERR(V1 "token = t\n", 7, "token", "set for type = influxdb_v1, token applies only to type = influxdb_v2");
	ERR(JOB "[output \"o\"]\ntype = stdout\nurl = http://h:1\n", 5, "url",
	    "set for type = stdout, url applies only to types influxdb_v1, influxdb_v2");
	ERR(JOB "[output \"o\"]\ntype = file\npath = x.lp\ngzip = false\n", 6, "gzip",
	    "set for type = file, gzip applies only to types influxdb_v1, influxdb_v2");
	ERR(V1 "path = x.lp\n", 7, "path", "set for type = influxdb_v1, path applies only to type = file");
	/* auth */
	ERR(V1 "username = u\npassword = p\npassword_file = ipw\n", 9, "password_file",
	    "password and password_file are exclusive, set one");
	ERR(V1 "password = p\n", 7, "password", "set without username, basic auth needs username too");
	ERR(V1 "password_file = ipw\n", 7, "password_file", "set without username");
	ERR(V2 "token_file = itok\n", 9, "token_file", "token and token_file are exclusive, set one");
	ERR_ANY(V2 "token_file = nope\n", 9, "token_file", "cannot read");
	/* TLS */
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = https://h\ndatabase = d\ntls_cert = c.pem\n", 7, "tls_cert",
	    "set without tls_key, a client certificate needs its key");
	ERR(JOB "[output \"o\"]\ntype = influxdb_v1\nurl = https://h\ndatabase = d\ntls_key = c.pem\n", 7, "tls_key",
	    "set without tls_cert");
	ERR(V1 "tls_insecure_skip_verify = true\n", 7, "tls_insecure_skip_verify",
	    "TLS setting in an output without an https:// url, it would never be used");
	/* values */
	ERR(V1 "consistency = two\n", 7, "consistency", "unknown consistency \"two\", allowed: none, one, any, quorum, all");
	ERR(V1 "gzip_level = 10\n", 7, "gzip_level", "bad number \"10\", allowed: a whole number from 1 to 9");
	ERR(V1 "max_in_flight = 0\n", 7, "max_in_flight", "bad number \"0\", allowed: a whole number from 1 to 64");
	ERR(V1 "batch_lines = 0\n", 7, "batch_lines", "bad number \"0\"");
	ERR(V1 "batch_bytes = 0\n", 7, "batch_bytes", "bad size \"0\"");
	ERR(V1 "flush_interval = 0\n", 7, "flush_interval", "must be longer than 0");
	ERR(V1 "create_database = maybe\n", 7, "create_database", "bad boolean \"maybe\"");
	ERR("[global]\nshutdown_timeout = 0\n" JOB, 2, "shutdown_timeout", "must be longer than 0");
	ERR("[global]\nshutdown_timeout = soon\n" JOB, 2, "shutdown_timeout", "bad duration \"soon\"");
	/* between keys */
	ERR(V1 "gzip = false\ngzip_level = 5\n", 8, "gzip_level", "set while gzip = false, it would never be used");
	ERR(V1 "buffer_limit = 512KiB\n", 7, "buffer_limit",
	    "buffer_limit (524288 bytes) is below batch_bytes (1048576 bytes), allowed: buffer_limit >= batch_bytes");
	ERR(V1 "batch_bytes = 128MiB\n", 7, "batch_bytes", "buffer_limit (67108864 bytes) is below batch_bytes");
	/* the one stdout output rule does not count InfluxDB outputs */
	pf_config *c = OK(V1 "[output \"s\"]\ntype = stdout\n[output \"o2\"]\ntype = influxdb_v1\n"
			  "url = http://127.0.0.1:8086\ndatabase = d\n");
	pf_config_free(c);
}

/* ---- conf/promflux.ini ---- */

static void test_reference(void)
{
	const char *src = getenv("PF_SRC");
	checks++;
	if (!src) {
		fail(__func__, __LINE__, "PF_SRC is not set");
		return;
	}
	char p[600];
	snprintf(p, sizeof p, "%s/conf/promflux.ini", src);
	pf_config *c = load_path(p);
	checks++;
	if (!c) {
		fail(__func__, __LINE__, "conf/promflux.ini does not load");
		dump_errs();
		return;
	}
	CHECK(c->njobs >= 1);
	pf_config_free(c);

	/* Every key appears there, commented with its default or set. */
	FILE *f = fopen(p, "r");
	static char all[65536];
	size_t n = f ? fread(all, 1, sizeof all - 1, f) : 0;
	if (f)
		fclose(f);
	all[n] = '\0';
	static const char *const keys[] = {
		"interval", "timeout", "jitter", "slack", "max_concurrent_scrapes", "tag", "hostname",
		"omit_hostname", "log_level", "url", "schema", "url_tag", "honor_timestamps", "honor_labels", "on_error",
		"format", "username", "password", "password_file", "bearer_token", "bearer_token_file",
		"header", "tls_ca", "tls_cert", "tls_key", "tls_server_name", "tls_insecure_skip_verify",
		"proxy", "body_limit", "sample_limit", "metric_include", "metric_exclude", "label_drop",
		"type", "path", "precision", "shutdown_timeout", "database", "retention_policy", "consistency",
		"create_database", "org", "bucket", "token", "token_file", "gzip", "gzip_level", "batch_lines",
		"batch_bytes", "flush_interval", "max_in_flight", "buffer_limit", "retry_max_backoff",
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char a[80], b[80];
		snprintf(a, sizeof a, "\n;%s = ", keys[i]);
		snprintf(b, sizeof b, "\n%s = ", keys[i]);
		checks++;
		if (!strstr(all, a) && !strstr(all, b))
			fail(__func__, __LINE__, "key %s is not shown in conf/promflux.ini", keys[i]);
	}
	/* ...and the loader knows exactly those keys: each one, uncommented
	 * in its section, is no "unknown key". */
	static const char *const gk[] = { "interval", "timeout", "jitter", "slack", "max_concurrent_scrapes", "tag",
					  "hostname", "omit_hostname", "log_level", "shutdown_timeout" };
	for (size_t i = 0; i < sizeof gk / sizeof gk[0]; i++) {
		char t[300];
		snprintf(t, sizeof t, "[global]\n%s = ?\n" JOB, gk[i]);
		pf_config_free(load_text(t));
		for (unsigned e = 0; e < nerr && e < MAXERR; e++)
			CHECK(strstr(errs[e], "unknown key") == NULL);
	}
	static const char *const jk[] = {
		"url", "interval", "timeout", "schema", "tag", "url_tag", "honor_timestamps", "honor_labels",
		"on_error", "format", "username", "password", "password_file", "bearer_token",
		"bearer_token_file", "header", "tls_ca", "tls_cert", "tls_key", "tls_server_name",
		"tls_insecure_skip_verify", "proxy", "body_limit", "sample_limit", "metric_include",
		"metric_exclude", "label_drop",
	};
	for (size_t i = 0; i < sizeof jk / sizeof jk[0]; i++) {
		char t[300];
		snprintf(t, sizeof t, JOB "%s = ?\n", jk[i]);
		pf_config_free(load_text(t));
		for (unsigned e = 0; e < nerr && e < MAXERR; e++)
			CHECK(strstr(errs[e], "unknown key") == NULL);
	}
	static const char *const ok[] = {
		"type", "path", "precision", "url", "database", "retention_policy", "consistency", "username",
		"password", "password_file", "create_database", "org", "bucket", "token", "token_file", "timeout",
		"gzip", "gzip_level", "batch_lines", "batch_bytes", "flush_interval", "max_in_flight",
		"buffer_limit", "retry_max_backoff", "tls_ca", "tls_cert", "tls_key", "tls_server_name",
		"tls_insecure_skip_verify",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char t[300];
		snprintf(t, sizeof t, JOB "[output \"o\"]\n%s = ?\n", ok[i]);
		pf_config_free(load_text(t));
		for (unsigned e = 0; e < nerr && e < MAXERR; e++)
			CHECK(strstr(errs[e], "unknown key") == NULL);
	}
	/* and a key that is not there is unknown (the check above can fail) */
	pf_config_free(load_text(JOB "scrape_interval = ?\n"));
	CHECK(nerr == 1 && strstr(errs[0], "unknown key") != NULL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/pfconfig.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	char sub[300];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	mkdir(sub, 0755);

	test_duration();
	test_size();
	test_full();
	test_defaults();
	test_syntax();
	test_env();
	test_long_line();
	test_file_errors();
	test_section_errors();
	test_key_errors();
	test_value_errors();
	test_url_errors();
	test_file_value_errors();
	test_cross_errors();
	test_cross_errors2();
	test_unsupported_output();
	test_influx_outputs();
	test_influx_errors();
	test_reference();

	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
