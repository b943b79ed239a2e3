/*
 * config.c: loads the INI configuration (see config.h, conf/promflux.ini).
 *
 * Debian's libinih does the key = value splitting, the trimming and the
 * inline comments, through ini_parse_stream() with our own reader. The
 * reader sees every raw line first, which gives us what the library does
 * not: the line number of each key (Debian's handler gets none), sections
 * we parse ourselves (inih keeps at most 49 bytes of a section name and
 * never reports a section without keys), lines that do not fit the line
 * buffer, and lines inih rejected (a key line for which the handler was
 * never called). inih only ever sees key lines; every other line reaches it
 * as an empty line so that line numbers stay aligned.
 *
 * Every problem is collected with its line, sorted, and reported at the
 * end, so one run shows all of them. Cross-key rules (timeout <= interval,
 * exclusive keys, a job without url) are checked once the whole file is
 * read, because [global] may come after the jobs that inherit from it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest line we accept (bytes, without the line end). Debian builds inih
 * with a 200-byte buffer (INI_MAX_LINE) but, as we found by experiment with
 * both its shared and static library, sizes that buffer at run time from
 * the global ini_max_line (a VLA on inih's stack); we set it to this plus
 * one for the NUL (our reader hands over lines without their line end).
 * Should a library ignore the setting, the reader still sees the real
 * buffer size and reports the line instead of letting inih cut it. */
#define PF_CONFIG_MAX_LINE 8192

#define DEFAULT_INTERVAL_MS 10000u
#define DEFAULT_MAX_CONCURRENT 256u
#define DEFAULT_BODY_LIMIT (64u * 1024u * 1024u)

/* ---- key tables ---- */

enum vtype {
	V_DUR,       /* duration > 0 (uint64_t ms) */
	V_DUR0,      /* duration >= 0 */
	V_COUNT,     /* unsigned integer (uint64_t) within [min, max] */
	V_UCOUNT,    /* same, stored as unsigned */
	V_SIZE,      /* size > 0 (uint64_t bytes) */
	V_BOOL,      /* int */
	V_STR,       /* non-empty string */
	V_HOSTNAME,  /* non-empty, no blanks */
	V_TAGKEY,    /* a tag key or "" (none) */
	V_TAG,       /* k=v into pf_kv[] */
	V_HEADER,    /* Name: value into pf_kv[] */
	V_URL,       /* target URL into char *[] */
	V_PROXY,     /* proxy URL */
	V_RFILE,     /* a file readable now; path resolved */
	V_GLOB,      /* glob into char *[] */
	V_SCHEMA,
	V_ONERR,
	V_FORMAT,
	V_LOGLEVEL,
	V_OTYPE,
	V_OPATH,     /* output file: parent directory exists */
	V_PREC,
};

typedef struct keydef {
	const char *name;
	enum vtype type;
	int repeat;      /* may appear more than once */
	size_t off;      /* field in pf_config / pf_job / pf_output */
	size_t noff;     /* its count, for arrays */
	uint64_t min, max;
} keydef;

#define F(T, f) offsetof(T, f)

enum {
	GK_INTERVAL, GK_TIMEOUT, GK_JITTER, GK_MAXCONC, GK_TAG, GK_HOSTNAME, GK_OMIT_HOSTNAME,
	GK_LOG_LEVEL, GK_N
};
static const keydef gkeys[GK_N] = {
	[GK_INTERVAL] = { "interval", V_DUR, 0, F(pf_config, interval_ms), 0, 0, 0 },
	[GK_TIMEOUT] = { "timeout", V_DUR, 0, F(pf_config, timeout_ms), 0, 0, 0 },
	[GK_JITTER] = { "jitter", V_DUR0, 0, F(pf_config, jitter_ms), 0, 0, 0 },
	[GK_MAXCONC] = { "max_concurrent_scrapes", V_UCOUNT, 0, F(pf_config, max_concurrent_scrapes), 0,
			 1, 1000000 },
	[GK_TAG] = { "tag", V_TAG, 1, F(pf_config, tags), F(pf_config, ntags), 0, 0 },
	[GK_HOSTNAME] = { "hostname", V_HOSTNAME, 0, F(pf_config, hostname), 0, 0, 0 },
	[GK_OMIT_HOSTNAME] = { "omit_hostname", V_BOOL, 0, F(pf_config, omit_hostname), 0, 0, 0 },
	[GK_LOG_LEVEL] = { "log_level", V_LOGLEVEL, 0, F(pf_config, log_level), 0, 0, 0 },
};

enum {
	JK_URL, JK_INTERVAL, JK_TIMEOUT, JK_SCHEMA, JK_TAG, JK_URL_TAG, JK_HONOR_TS, JK_HONOR_LABELS,
	JK_ON_ERROR, JK_FORMAT, JK_USERNAME, JK_PASSWORD, JK_PASSWORD_FILE, JK_BEARER,
	JK_BEARER_FILE, JK_HEADER, JK_TLS_CA, JK_TLS_CERT, JK_TLS_KEY, JK_TLS_SERVER_NAME,
	JK_TLS_INSECURE, JK_PROXY, JK_BODY_LIMIT, JK_SAMPLE_LIMIT, JK_METRIC_INCLUDE,
	JK_METRIC_EXCLUDE, JK_LABEL_DROP, JK_N
};
static const keydef jkeys[JK_N] = {
	[JK_URL] = { "url", V_URL, 1, F(pf_job, urls), F(pf_job, nurls), 0, 0 },
	[JK_INTERVAL] = { "interval", V_DUR, 0, F(pf_job, interval_ms), 0, 0, 0 },
	[JK_TIMEOUT] = { "timeout", V_DUR, 0, F(pf_job, timeout_ms), 0, 0, 0 },
	[JK_SCHEMA] = { "schema", V_SCHEMA, 0, F(pf_job, schema), 0, 0, 0 },
	[JK_TAG] = { "tag", V_TAG, 1, F(pf_job, tags), F(pf_job, ntags), 0, 0 },
	[JK_URL_TAG] = { "url_tag", V_TAGKEY, 0, F(pf_job, url_tag), 0, 0, 0 },
	[JK_HONOR_TS] = { "honor_timestamps", V_BOOL, 0, F(pf_job, honor_timestamps), 0, 0, 0 },
	[JK_HONOR_LABELS] = { "honor_labels", V_BOOL, 0, F(pf_job, honor_labels), 0, 0, 0 },
	[JK_ON_ERROR] = { "on_error", V_ONERR, 0, F(pf_job, on_error), 0, 0, 0 },
	[JK_FORMAT] = { "format", V_FORMAT, 0, F(pf_job, format), 0, 0, 0 },
	[JK_USERNAME] = { "username", V_STR, 0, F(pf_job, username), 0, 0, 0 },
	[JK_PASSWORD] = { "password", V_STR, 0, F(pf_job, password), 0, 0, 0 },
	[JK_PASSWORD_FILE] = { "password_file", V_RFILE, 0, F(pf_job, password_file), 0, 0, 0 },
	[JK_BEARER] = { "bearer_token", V_STR, 0, F(pf_job, bearer_token), 0, 0, 0 },
	[JK_BEARER_FILE] = { "bearer_token_file", V_RFILE, 0, F(pf_job, bearer_token_file), 0, 0, 0 },
	[JK_HEADER] = { "header", V_HEADER, 1, F(pf_job, headers), F(pf_job, nheaders), 0, 0 },
	[JK_TLS_CA] = { "tls_ca", V_RFILE, 0, F(pf_job, tls_ca), 0, 0, 0 },
	[JK_TLS_CERT] = { "tls_cert", V_RFILE, 0, F(pf_job, tls_cert), 0, 0, 0 },
	[JK_TLS_KEY] = { "tls_key", V_RFILE, 0, F(pf_job, tls_key), 0, 0, 0 },
	[JK_TLS_SERVER_NAME] = { "tls_server_name", V_HOSTNAME, 0, F(pf_job, tls_server_name), 0, 0, 0 },
	[JK_TLS_INSECURE] = { "tls_insecure_skip_verify", V_BOOL, 0, F(pf_job, tls_insecure_skip_verify), 0,
			      0, 0 },
	[JK_PROXY] = { "proxy", V_PROXY, 0, F(pf_job, proxy), 0, 0, 0 },
	[JK_BODY_LIMIT] = { "body_limit", V_SIZE, 0, F(pf_job, body_limit), 0, 0, 0 },
	[JK_SAMPLE_LIMIT] = { "sample_limit", V_COUNT, 0, F(pf_job, sample_limit), 0, 0, UINT64_MAX },
	[JK_METRIC_INCLUDE] = { "metric_include", V_GLOB, 1, F(pf_job, metric_include),
				F(pf_job, nmetric_include), 0, 0 },
	[JK_METRIC_EXCLUDE] = { "metric_exclude", V_GLOB, 1, F(pf_job, metric_exclude),
				F(pf_job, nmetric_exclude), 0, 0 },
	[JK_LABEL_DROP] = { "label_drop", V_GLOB, 1, F(pf_job, label_drop), F(pf_job, nlabel_drop), 0, 0 },
};

enum { OK_TYPE, OK_PATH, OK_PRECISION, OK_N };
static const keydef okeys[OK_N] = {
	[OK_TYPE] = { "type", V_OTYPE, 0, F(pf_output, type), 0, 0, 0 },
	[OK_PATH] = { "path", V_OPATH, 0, F(pf_output, path), 0, 0, 0 },
	[OK_PRECISION] = { "precision", V_PREC, 0, F(pf_output, precision), 0, 0, 0 },
};

/* ---- loader state ---- */

enum section { SEC_NONE, SEC_GLOBAL, SEC_JOB, SEC_OUTPUT, SEC_BAD };

/* What we keep about a job or output while loading: where each key was
 * set (0 = not set), for duplicate and cross-key messages. */
typedef struct seen_job {
	unsigned long at[JK_N];
	unsigned long auth_header; /* first `header = Authorization: ...` */
} seen_job;

typedef struct seen_out {
	unsigned long at[OK_N];
} seen_out;

typedef struct cerr {
	unsigned long line; /* 0: about the whole file, sorted last */
	size_t seq;
	char *msg;
} cerr;

typedef struct loader {
	const char *path;
	char *dir;               /* where relative paths in values start */
	FILE *f;
	pf_config *c;
	char *raw;               /* the current raw line */
	size_t rawcap;
	unsigned long lineno;    /* of the line last handed to inih */
	int key_line;            /* that line is a key line ... */
	int handled;             /* ... and inih called the handler for it */
	int read_errno;
	enum section sec;
	size_t cur;              /* index of the current job / output */
	char *sec_label;         /* `[job "x"]` for messages */
	unsigned long global_line;
	int job_header;          /* a [job ...] header was seen, good or bad */
	unsigned long gat[GK_N];
	seen_job *sj;            /* parallel to c->jobs */
	seen_out *so;            /* parallel to c->outputs */
	size_t jcap, ocap;
	cerr *errs;
	size_t nerrs, errcap;
	int oom;
} loader;

/* ---- small helpers ---- */

static void addf(loader *ld, unsigned long line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records "FILE:LINE: key: message" (or "FILE: key: message" for line 0). */
static void addf(loader *ld, unsigned long line, const char *key, const char *fmt, ...)
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
	if (ld->nerrs == ld->errcap) {
		size_t ncap = ld->errcap ? ld->errcap * 2 : 16;
		cerr *e = realloc(ld->errs, ncap * sizeof *e);
		if (!e) {
			ld->oom = 1;
			return;
		}
		ld->errs = e;
		ld->errcap = ncap;
	}
	char *m = strdup(msg);
	if (!m) {
		ld->oom = 1;
		return;
	}
	ld->errs[ld->nerrs] = (cerr){ line, ld->nerrs, m };
	ld->nerrs++;
}

static char *xstrdup(loader *ld, const char *s)
{
	char *d = strdup(s);
	if (!d)
		ld->oom = 1;
	return d;
}

static int grow(loader *ld, void **p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 4;
	void *np = realloc(*p, ncap * elem);
	if (!np) {
		ld->oom = 1;
		return -1;
	}
	memset((char *)np + *cap * elem, 0, (ncap - *cap) * elem);
	*p = np;
	*cap = ncap;
	return 0;
}

/* Appends to a (pointer, count) array whose capacity is the count rounded
 * up to a power of two: no separate capacity field in the public struct. */
static int push(loader *ld, void *arrp, size_t *n, size_t elem)
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

static int is_alnum(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_xdigit(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

/* Case-insensitive ASCII compare, locale-free. */
static int ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return *a == *b;
}

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* ---- durations and sizes ---- */

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Reads digits into *v (overflow: -1); *ndig gets how many. */
static int digits(const char **sp, uint64_t *v, int *ndig)
{
	const char *s = *sp;
	uint64_t x = 0;
	int n = 0;
	for (; is_digit(*s); s++, n++) {
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*sp = s;
	*v = x;
	*ndig = n;
	return 0;
}

/* "12.345" at *sp times unit, exactly, into *out. Up to 9 decimals. */
static int scaled(const char **sp, uint64_t unit, uint64_t *out, int *saw_number)
{
	uint64_t ip, fp = 0, pow10 = 1;
	int ni, nf = 0;
	if (digits(sp, &ip, &ni) < 0)
		return -1;
	if (**sp == '.') {
		(*sp)++;
		if (digits(sp, &fp, &nf) < 0 || nf > 9)
			return -1;
		for (int i = 0; i < nf; i++)
			pow10 *= 10;
	}
	if (ni == 0 && nf == 0)
		return -1;
	*saw_number = 1;
	if (unit == 0) /* the caller only wanted the number checked */
		return 0;
	if (ip > UINT64_MAX / unit)
		return -1;
	uint64_t v = ip * unit;
	/* fp/pow10 * unit without overflow: fp < pow10 <= 1e9. */
	uint64_t frac = fp * (unit / pow10) + (fp * (unit % pow10)) / pow10;
	if (v > UINT64_MAX - frac)
		return -1;
	*out = v + frac;
	return 0;
}

int pf_duration_parse(const char *s, uint64_t *ms)
{
	static const struct {
		const char *u;
		uint64_t ns;
	} units[] = {
		/* longest first so that "ms" is not read as "m" */
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000ull }, { "m", 60000000000ull },
		{ "h", 3600000000000ull },
	};
	uint64_t total = 0;
	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) { /* as Go: the one number needing no unit */
		*ms = 0;
		return 0;
	}
	while (*s) {
		const char *num = s;
		int saw = 0;
		uint64_t dummy;
		/* Find the unit first: the number's value depends on it. */
		if (scaled(&s, 0, &dummy, &saw) < 0)
			return -1;
		size_t best = sizeof units / sizeof units[0];
		size_t bestlen = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].u);
			if (strncmp(s, units[i].u, l) == 0 && l > bestlen) {
				best = i;
				bestlen = l;
			}
		}
		if (bestlen == 0)
			return -1;
		uint64_t v;
		const char *p = num;
		if (scaled(&p, units[best].ns, &v, &saw) < 0)
			return -1;
		if (total > UINT64_MAX - v)
			return -1;
		total += v;
		s += bestlen;
	}
	if (total % 1000000 != 0) /* finer than our millisecond clock */
		return -1;
	*ms = total / 1000000;
	return 0;
}

int pf_size_parse(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *u;
		uint64_t mult;
	} units[] = {
		{ "", 1 }, { "b", 1 },
		{ "kb", 1000 }, { "mb", 1000000 }, { "gb", 1000000000 },
		{ "kib", 1024 }, { "mib", 1024 * 1024 }, { "gib", 1024 * 1024 * 1024 },
	};
	if (s == NULL || *s == '\0')
		return -1;
	const char *p = s;
	uint64_t dummy;
	int saw = 0;
	if (scaled(&p, 0, &dummy, &saw) < 0)
		return -1;
	const char *u = p;
	while (is_blank(*u))
		u++;
	if (u != p && *u == '\0') /* trailing blanks without a unit */
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (ieq(u, units[i].u)) {
			const char *q = s;
			return scaled(&q, units[i].mult, bytes, &saw);
		}
	}
	return -1;
}

/* ---- environment expansion ---- */

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static int sb_add(loader *ld, sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->n + n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			ld->oom = 1;
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static int name_start(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int name_char(int ch)
{
	return name_start(ch) || is_digit(ch);
}

/* Expands ${VAR}, ${VAR:-default} and $$ in v. Returns a new string, or
 * NULL after reporting the problem. */
static char *expand(loader *ld, unsigned long line, const char *key, const char *v)
{
	sbuf b = { 0 };
	if (sb_add(ld, &b, "", 0) < 0)
		return NULL;
	for (const char *s = v; *s;) {
		const char *d = strchr(s, '$');
		if (!d) {
			if (sb_add(ld, &b, s, strlen(s)) < 0)
				goto fail;
			break;
		}
		if (sb_add(ld, &b, s, (size_t)(d - s)) < 0)
			goto fail;
		if (d[1] == '$') {
			if (sb_add(ld, &b, "$", 1) < 0)
				goto fail;
			s = d + 2;
			continue;
		}
		if (name_start((unsigned char)d[1])) {
			size_t l = 1;
			while (name_char((unsigned char)d[1 + l]))
				l++;
			addf(ld, line, key,
			     "$%.*s is not expanded: write ${%.*s} for the environment variable, or $$ for a literal $",
			     (int)l, d + 1, (int)l, d + 1);
			goto fail;
		}
		if (d[1] != '{') { /* a lone $ before anything else is just a $ */
			if (sb_add(ld, &b, "$", 1) < 0)
				goto fail;
			s = d + 1;
			continue;
		}
		const char *n = d + 2;
		const char *close = strchr(n, '}');
		if (!close) {
			addf(ld, line, key, "unterminated ${, allowed: ${NAME}, ${NAME:-default}, $$ for a literal $");
			goto fail;
		}
		const char *e = n;
		if (name_start((unsigned char)*e))
			while (name_char((unsigned char)*e))
				e++;
		if (e == n || (e != close && strncmp(e, ":-", 2) != 0)) {
			addf(ld, line, key,
			     "bad variable reference ${%.*s}, allowed: ${NAME}, ${NAME:-default} (NAME of letters, digits, _)",
			     (int)(close - n), n);
			goto fail;
		}
		char name[256];
		if ((size_t)(e - n) >= sizeof name) {
			addf(ld, line, key, "variable name longer than %zu bytes", sizeof name - 1);
			goto fail;
		}
		memcpy(name, n, (size_t)(e - n));
		name[e - n] = '\0';
		const char *val = getenv(name);
		if (e != close) { /* ${NAME:-default}: unset or empty takes the default */
			if (!val || !*val) {
				val = e + 2;
				if (sb_add(ld, &b, val, (size_t)(close - val)) < 0)
					goto fail;
				val = NULL;
			}
		} else if (!val) {
			addf(ld, line, key,
			     "environment variable %s is not set (write ${%s:-default} to give a default)", name,
			     name);
			goto fail;
		}
		if (val && sb_add(ld, &b, val, strlen(val)) < 0)
			goto fail;
		s = close + 1;
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

/* ---- value checks ---- */

static int parse_bool(const char *v, int *out)
{
	static const char *const t[] = { "true", "yes", "on", "1" };
	static const char *const f[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (ieq(v, t[i])) {
			*out = 1;
			return 0;
		}
		if (ieq(v, f[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Checks a tag key; returns a reason or NULL. */
static const char *tag_key_problem(const char *k)
{
	if (!*k)
		return "empty tag key";
	if (strcmp(k, "time") == 0 || strcmp(k, "_measurement") == 0 || strcmp(k, "_field") == 0 ||
	    strcmp(k, "_start") == 0 || strcmp(k, "_stop") == 0)
		return "reserved tag key (time, _measurement, _field, _start and _stop are InfluxDB's)";
	if (has_ctl(k))
		return "control character in tag key";
	return NULL;
}

/* Resolves a relative path against the configuration file's directory. */
static char *resolve(loader *ld, const char *p)
{
	if (p[0] == '/')
		return xstrdup(ld, p);
	size_t n = strlen(ld->dir) + 1 + strlen(p) + 1;
	char *r = malloc(n);
	if (!r) {
		ld->oom = 1;
		return NULL;
	}
	snprintf(r, n, "%s/%s", ld->dir, p);
	return r;
}

/* A file that must be readable now: returns its resolved path or NULL. */
static char *readable_file(loader *ld, unsigned long line, const char *key, const char *v)
{
	char *p = resolve(ld, v);
	if (!p)
		return NULL;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		addf(ld, line, key, "cannot read %s: %s; the file must exist and be readable", p,
		     strerror(errno));
		free(p);
		return NULL;
	}
	struct stat st;
	int bad = fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
	close(fd);
	if (bad) {
		addf(ld, line, key, "%s is not a regular file; a file path is expected", p);
		free(p);
		return NULL;
	}
	return p;
}

/* An output file: it may not exist yet, its directory must. */
static char *output_file(loader *ld, unsigned long line, const char *key, const char *v)
{
	char *p = resolve(ld, v);
	if (!p)
		return NULL;
	struct stat st;
	if (stat(p, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			addf(ld, line, key, "%s is a directory; a file path is expected", p);
			goto fail;
		}
		if (access(p, W_OK) != 0) {
			addf(ld, line, key, "cannot write %s: %s", p, strerror(errno));
			goto fail;
		}
		return p;
	}
	char *slash = strrchr(p, '/');
	if (slash[1] == '\0') {
		addf(ld, line, key, "%s names a directory; a file path is expected", p);
		goto fail;
	}
	*slash = '\0';
	const char *dir = slash == p ? "/" : p;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		addf(ld, line, key, "directory %s does not exist; the file's directory must exist", dir);
		*slash = '/';
		goto fail;
	}
	if (access(dir, W_OK) != 0) {
		addf(ld, line, key, "cannot create files in %s: %s", dir, strerror(errno));
		*slash = '/';
		goto fail;
	}
	*slash = '/';
	return p;
fail:
	free(p);
	return NULL;
}

/* Checks "host[:port]" (or "[v6]:port"), with optional user@ for proxies.
 * Returns a reason or NULL. */
static const char *authority_problem(const char *a, size_t n, int allow_userinfo)
{
	const char *at = memchr(a, '@', n);
	if (at) {
		if (!allow_userinfo)
			return "credentials in the URL are not allowed: use username and password (or password_file)";
		n -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	if (n == 0)
		return "no host";
	const char *end = a + n, *host_end;
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', n);
		if (!rb || rb == a + 1)
			return "bad IPv6 address, write it as [::1]";
		for (const char *q = a + 1; q < rb; q++)
			if (!(is_xdigit((unsigned char)*q) || *q == ':' || *q == '.' || *q == '%'))
				return "bad IPv6 address, write it as [::1]";
		host_end = rb + 1;
	} else {
		host_end = a;
		while (host_end < end && *host_end != ':') {
			unsigned char ch = (unsigned char)*host_end;
			if (!(is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '%' || ch >= 0x80))
				return "bad character in host name";
			host_end++;
		}
		if (host_end == a)
			return "no host";
	}
	if (host_end == end)
		return NULL;
	if (*host_end != ':')
		return "unexpected text after the host";
	const char *p = host_end + 1;
	unsigned long port = 0;
	if (p == end)
		return "empty port";
	for (; p < end; p++) {
		if (!is_digit(*p) || port > 65535)
			return "bad port, allowed 1-65535";
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return "bad port, allowed 1-65535";
	return NULL;
}

static int has_prefix_i(const char *s, const char *pre)
{
	for (; *pre; s++, pre++) {
		int x = (unsigned char)*s;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (x != *pre)
			return 0;
	}
	return 1;
}

#define URL_ALLOWED "allowed: http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, unix:///SOCKET?path=/PATH"

/* A scrape target. Returns a reason or NULL. */
static const char *url_problem(const char *u)
{
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "blank or control character in the URL (percent-encode it)";
	if (strchr(u, '#'))
		return "a #fragment is never sent to the server; remove it";
	if (has_prefix_i(u, "unix://")) {
		const char *path = u + 7;
		if (path[0] != '/')
			return "the socket path must be absolute: unix:///run/app.sock?path=/metrics";
		const char *q = strchr(path, '?');
		size_t plen = q ? (size_t)(q - path) : strlen(path);
		if (plen < 2 || path[plen - 1] == '/')
			return "no socket file after unix://";
		if (plen > 107)
			return "socket path longer than 107 bytes (the sockaddr_un limit)";
		if (q) {
			if (strncmp(q + 1, "path=/", 6) != 0)
				return "after the socket only ?path=/PATH is allowed: unix:///run/app.sock?path=/metrics";
			/* the HTTP path may carry its own query: ?path=/metrics?x=1 */
		}
		return NULL;
	}
	const char *rest;
	if (has_prefix_i(u, "http://"))
		rest = u + 7;
	else if (has_prefix_i(u, "https://"))
		rest = u + 8;
	else
		return "unsupported URL scheme";
	size_t alen = strcspn(rest, "/?");
	return authority_problem(rest, alen, 0);
}

static const char *proxy_problem(const char *u)
{
	static const char *const schemes[] = { "http://", "https://", "socks4://", "socks4a://", "socks5://",
					       "socks5h://" };
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "blank or control character in the proxy URL";
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (has_prefix_i(u, schemes[i])) {
			const char *rest = u + strlen(schemes[i]);
			size_t alen = strcspn(rest, "/?#");
			const char *r = authority_problem(rest, alen, 1);
			if (r)
				return r;
			if (rest[alen] && strcmp(rest + alen, "/") != 0)
				return "a proxy URL has no path";
			return NULL;
		}
	}
	return "unsupported proxy scheme";
}

/* Light glob syntax check (fnmatch accepts anything, matching nothing
 * useful when a bracket is left open). Returns a reason or NULL. */
static const char *glob_problem(const char *g)
{
	if (!*g)
		return "empty pattern";
	for (const char *p = g; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "pattern ends with a lone \\";
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return "[ without a closing ]";
			p = q;
		}
	}
	if (has_ctl(g))
		return "control character in pattern";
	return NULL;
}

/* RFC 9110 token characters, for header names. */
static int tchar(int ch)
{
	return is_alnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* ---- storing a value ---- */

static const char *section_keys(const keydef *t, size_t n, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", t[i].name);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	return buf;
}

static char *trim_dup(loader *ld, const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	char *d = malloc(n + 1);
	if (!d) {
		ld->oom = 1;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Stores value v (expanded) of key kd into the struct at base. */
static void set_value(loader *ld, unsigned long line, const keydef *kd, char *base, const char *v)
{
	const char *key = kd->name;
	const char *why;
	uint64_t u;

	if (*v == '\0' && kd->type != V_TAGKEY) {
		addf(ld, line, key, "empty value");
		return;
	}
	switch (kd->type) {
	case V_DUR:
	case V_DUR0:
		if (pf_duration_parse(v, &u) < 0) {
			addf(ld, line, key,
			     "bad duration \"%s\", allowed: a number with a unit (ns, us, ms, s, m, h) in whole milliseconds, e.g. 10s, 1m30s, 500ms, 1.5s",
			     v);
			return;
		}
		if (kd->type == V_DUR && u == 0) {
			addf(ld, line, key, "must be longer than 0");
			return;
		}
		*(uint64_t *)(void *)(base + kd->off) = u;
		return;
	case V_COUNT:
	case V_UCOUNT: {
		const char *p = v;
		int nd;
		if (digits(&p, &u, &nd) < 0 || nd == 0 || *p || u < kd->min || u > kd->max) {
			addf(ld, line, key, "bad number \"%s\", allowed: a whole number from %llu to %llu", v,
			     (unsigned long long)kd->min, (unsigned long long)kd->max);
			return;
		}
		if (kd->type == V_COUNT)
			*(uint64_t *)(void *)(base + kd->off) = u;
		else
			*(unsigned *)(void *)(base + kd->off) = (unsigned)u;
		return;
	}
	case V_SIZE:
		if (pf_size_parse(v, &u) < 0 || u == 0) {
			addf(ld, line, key,
			     "bad size \"%s\", allowed: a number above 0 with an optional unit B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)",
			     v);
			return;
		}
		*(uint64_t *)(void *)(base + kd->off) = u;
		return;
	case V_BOOL: {
		int b;
		if (parse_bool(v, &b) < 0) {
			addf(ld, line, key, "bad boolean \"%s\", allowed: true, false, yes, no, on, off, 1, 0", v);
			return;
		}
		*(int *)(void *)(base + kd->off) = b;
		return;
	}
	case V_HOSTNAME:
		for (const char *p = v; *p; p++) {
			if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
				addf(ld, line, key, "blank or control character in \"%s\", a host name is expected", v);
				return;
			}
		}
		/* fall through */
	case V_STR:
	case V_TAGKEY: {
		if (kd->type == V_TAGKEY && *v && (why = tag_key_problem(v)) != NULL) {
			addf(ld, line, key, "%s: \"%s\"", why, v);
			return;
		}
		char **dst = (char **)(void *)(base + kd->off);
		char *d = xstrdup(ld, v);
		if (d) {
			free(*dst);
			*dst = d;
		}
		return;
	}
	case V_TAG:
	case V_HEADER: {
		pf_kv **arr = (pf_kv **)(void *)(base + kd->off);
		size_t *n = (size_t *)(void *)(base + kd->noff);
		const char *sep = strchr(v, kd->type == V_TAG ? '=' : ':');
		if (!sep) {
			addf(ld, line, key, kd->type == V_TAG ? "\"%s\" is not KEY=VALUE, e.g. tag = env=prod"
							      : "\"%s\" is not Name: value, e.g. header = X-Scope: prod",
			     v);
			return;
		}
		char *k = trim_dup(ld, v, (size_t)(sep - v));
		char *val = trim_dup(ld, sep + 1, strlen(sep + 1));
		if (!k || !val)
			goto kv_out;
		if (kd->type == V_TAG) {
			if ((why = tag_key_problem(k)) != NULL) {
				addf(ld, line, key, "%s in \"%s\", allowed: KEY=VALUE", why, v);
				goto kv_out;
			}
			if (!*val) {
				addf(ld, line, key, "empty tag value in \"%s\" (InfluxDB has no empty tags)", v);
				goto kv_out;
			}
			for (size_t i = 0; i < *n; i++) {
				if (strcmp((*arr)[i].key, k) == 0) {
					addf(ld, line, key, "tag %s set twice in this section, allowed once", k);
					goto kv_out;
				}
			}
		} else {
			const char *p = k;
			while (*p && tchar((unsigned char)*p))
				p++;
			if (!*k || *p) {
				addf(ld, line, key, "bad header name \"%s\", allowed: letters, digits and !#$%%&'*+-.^_`|~",
				     k);
				goto kv_out;
			}
			if (!*val) {
				addf(ld, line, key, "empty value for header %s", k);
				goto kv_out;
			}
		}
		if (push(ld, arr, n, sizeof **arr) < 0)
			goto kv_out;
		(*arr)[*n - 1].key = k;
		(*arr)[*n - 1].value = val;
		return;
kv_out:
		free(k);
		free(val);
		return;
	}
	case V_URL:
	case V_GLOB: {
		char ***arr = (char ***)(void *)(base + kd->off);
		size_t *n = (size_t *)(void *)(base + kd->noff);
		if (kd->type == V_URL && (why = url_problem(v)) != NULL) {
			addf(ld, line, key, "%s in \"%s\", " URL_ALLOWED, why, v);
			return;
		}
		if (kd->type == V_GLOB && (why = glob_problem(v)) != NULL) {
			addf(ld, line, key, "%s in \"%s\", allowed: a glob with * ? [...] (fnmatch)", why, v);
			return;
		}
		for (size_t i = 0; i < *n; i++) {
			if (strcmp((*arr)[i], v) == 0) {
				addf(ld, line, key, "\"%s\" listed twice in this section, allowed once", v);
				return;
			}
		}
		char *d = xstrdup(ld, v);
		if (!d)
			return;
		if (push(ld, arr, n, sizeof **arr) < 0) {
			free(d);
			return;
		}
		(*arr)[*n - 1] = d;
		return;
	}
	case V_PROXY:
		if ((why = proxy_problem(v)) != NULL) {
			addf(ld, line, key,
			     "%s in \"%s\", allowed: http://HOST:PORT, https://, socks4://, socks4a://, socks5://, socks5h://",
			     why, v);
			return;
		}
		*(char **)(void *)(base + kd->off) = xstrdup(ld, v);
		return;
	case V_RFILE:
		*(char **)(void *)(base + kd->off) = readable_file(ld, line, key, v);
		return;
	case V_OPATH:
		*(char **)(void *)(base + kd->off) = output_file(ld, line, key, v);
		return;
	case V_SCHEMA: {
		enum pf_schema s;
		if (pf_schema_parse(v, &s) < 0) {
			addf(ld, line, key, "unknown schema \"%s\", allowed: telegraf-v1, telegraf-v2, influxdb-prom", v);
			return;
		}
		*(enum pf_schema *)(void *)(base + kd->off) = s;
		return;
	}
	case V_ONERR: {
		enum pf_on_error e;
		if (strcmp(v, "skip") == 0)
			e = PF_ON_ERROR_SKIP;
		else if (strcmp(v, "reject") == 0)
			e = PF_ON_ERROR_REJECT;
		else {
			addf(ld, line, key, "unknown value \"%s\", allowed: skip, reject", v);
			return;
		}
		*(enum pf_on_error *)(void *)(base + kd->off) = e;
		return;
	}
	case V_FORMAT: {
		enum pf_format fm;
		if (strcmp(v, "auto") == 0)
			fm = PF_FORMAT_AUTO;
		else if (strcmp(v, "prometheus") == 0)
			fm = PF_FORMAT_PROMETHEUS;
		else if (strcmp(v, "openmetrics") == 0)
			fm = PF_FORMAT_OPENMETRICS;
		else {
			addf(ld, line, key, "unknown format \"%s\", allowed: auto, prometheus, openmetrics", v);
			return;
		}
		*(enum pf_format *)(void *)(base + kd->off) = fm;
		return;
	}
	case V_LOGLEVEL: {
		enum pf_log_level l;
		if (pf_log_level_parse(v, &l) < 0) {
			addf(ld, line, key, "unknown level \"%s\", allowed: crit, error, warn, info, debug", v);
			return;
		}
		*(enum pf_log_level *)(void *)(base + kd->off) = l;
		return;
	}
	case V_OTYPE: {
		enum pf_output_type t;
		if (strcmp(v, "stdout") == 0)
			t = PF_OUTPUT_STDOUT;
		else if (strcmp(v, "file") == 0)
			t = PF_OUTPUT_FILE;
		else {
			addf(ld, line, key, "type %s is not supported by this version; supported: stdout, file", v);
			return;
		}
		*(enum pf_output_type *)(void *)(base + kd->off) = t;
		return;
	}
	case V_PREC: {
		static const char *const names[] = { "ns", "us", "ms", "s" };
		static const enum pf_precision vals[] = { PF_PREC_NS, PF_PREC_US, PF_PREC_MS, PF_PREC_S };
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(v, names[i]) == 0) {
				*(enum pf_precision *)(void *)(base + kd->off) = vals[i];
				return;
			}
		}
		addf(ld, line, key, "unknown precision \"%s\", allowed: ns, us, ms, s", v);
		return;
	}
	}
}

/* ---- inih callbacks ---- */

static int handler(void *user, const char *section, const char *name, const char *value)
{
	loader *ld = user;
	(void)section; /* ours is better: not cut at 49 bytes, sees empty sections */
	ld->handled = 1;
	unsigned long line = ld->lineno;
	const keydef *tab;
	size_t ntab;
	unsigned long *at;
	char *base;

	switch (ld->sec) {
	case SEC_NONE:
		addf(ld, line, *name ? name : "(empty key)",
		     "key outside any section, put it under [global], [job \"NAME\"] or [output \"NAME\"]");
		return 1;
	case SEC_BAD:
		return 1; /* the section header was reported already */
	case SEC_GLOBAL:
		tab = gkeys;
		ntab = GK_N;
		at = ld->gat;
		base = (char *)ld->c;
		break;
	case SEC_JOB:
		tab = jkeys;
		ntab = JK_N;
		at = ld->sj[ld->cur].at;
		base = (char *)&ld->c->jobs[ld->cur];
		break;
	case SEC_OUTPUT:
	default:
		tab = okeys;
		ntab = OK_N;
		at = ld->so[ld->cur].at;
		base = (char *)&ld->c->outputs[ld->cur];
		break;
	}
	size_t k;
	for (k = 0; k < ntab; k++)
		if (strcmp(tab[k].name, name) == 0)
			break;
	if (k == ntab) {
		char list[512];
		if (!*name)
			addf(ld, line, "(empty key)", "no key name before =, allowed in %s: %s", ld->sec_label,
			     section_keys(tab, ntab, list, sizeof list));
		else
			addf(ld, line, name, "unknown key in %s, allowed: %s", ld->sec_label,
			     section_keys(tab, ntab, list, sizeof list));
		return 1;
	}
	if (at[k] && !tab[k].repeat) {
		addf(ld, line, name, "set twice in %s (first at line %lu), allowed once", ld->sec_label, at[k]);
		return 1;
	}
	if (!at[k])
		at[k] = line;
	/* One pair of double quotes around a value is dropped: TOML habit
	 * (Telegraf), and the way to write an empty url_tag. No escapes. */
	char *unq = NULL;
	size_t vl = strlen(value);
	if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
		unq = strndup(value + 1, vl - 2);
		if (!unq) {
			ld->oom = 1;
			return 1;
		}
		value = unq;
	}
	char *v = expand(ld, line, name, value);
	free(unq);
	if (!v)
		return 1;
	if (ld->sec == SEC_JOB && k == JK_HEADER && ld->sj[ld->cur].auth_header == 0) {
		const char *colon = strchr(v, ':');
		size_t nl = colon ? (size_t)(colon - v) : 0;
		while (nl && is_blank(v[nl - 1]))
			nl--;
		char hn[16];
		if (colon && nl == 13) {
			memcpy(hn, v, 13);
			hn[13] = '\0';
		}
		if (colon && nl == 13 && ieq(hn, "authorization"))
			ld->sj[ld->cur].auth_header = line;
	}
	set_value(ld, line, &tab[k], base, v);
	free(v);
	return 1;
}

static void set_label(loader *ld, const char *kind, const char *name)
{
	free(ld->sec_label);
	size_t n = strlen(kind) + (name ? strlen(name) + 4 : 0) + 3;
	ld->sec_label = malloc(n);
	if (!ld->sec_label) {
		ld->oom = 1;
		return;
	}
	if (name)
		snprintf(ld->sec_label, n, "[%s \"%s\"]", kind, name);
	else
		snprintf(ld->sec_label, n, "[%s]", kind);
}

/* Parses a section header line (starting at '[') and enters the section. */
static void section_line(loader *ld, const char *s)
{
	unsigned long line = ld->lineno;
	const char *p = s + 1;
	char shown[96];
	const char *rb = strrchr(s, ']');
	size_t sl = rb ? (size_t)(rb - s) + 1 : strlen(s);
	while (sl && is_blank(s[sl - 1]))
		sl--;
	snprintf(shown, sizeof shown, "%.*s%s", (int)(sl > 80 ? 80 : sl), s, sl > 80 ? "..." : "");

	ld->sec = SEC_BAD;
	while (is_blank(*p))
		p++;
	const char *kw = p;
	while (is_alnum((unsigned char)*p) || *p == '_' || *p == '-')
		p++;
	size_t kwlen = (size_t)(p - kw);
	while (is_blank(*p))
		p++;
	const char *name = NULL;
	size_t nlen = 0;
	if (*p == '"') {
		name = p + 1;
		const char *q = strchr(name, '"');
		if (!q) {
			addf(ld, line, shown, "unterminated name, write [job \"NAME\"]");
			return;
		}
		nlen = (size_t)(q - name);
		p = q + 1;
		while (is_blank(*p))
			p++;
	}
	if (*p != ']') {
		if (!*p)
			addf(ld, line, shown,
			     "missing ], a section header is [global], [job \"NAME\"] or [output \"NAME\"]");
		else
			addf(ld, line, shown,
			     "unexpected text in section header, allowed: [global], [job \"NAME\"], [output \"NAME\"]");
		return;
	}
	p++;
	while (is_blank(*p))
		p++;
	if (*p && *p != ';' && *p != '#') {
		addf(ld, line, shown, "text after ], only a ; or # comment may follow");
		return;
	}

	int is_global = kwlen == 6 && strncmp(kw, "global", 6) == 0;
	int is_job = kwlen == 3 && strncmp(kw, "job", 3) == 0;
	int is_out = kwlen == 6 && strncmp(kw, "output", 6) == 0;
	if (!is_global && !is_job && !is_out) {
		addf(ld, line, shown, "unknown section, allowed: [global], [job \"NAME\"], [output \"NAME\"]");
		return;
	}
	if (is_global) {
		if (name) {
			addf(ld, line, shown, "[global] takes no name");
			return;
		}
		if (ld->global_line) {
			addf(ld, line, shown, "[global] appears twice (first at line %lu), allowed once",
			     ld->global_line);
			return;
		}
		ld->global_line = line;
		ld->sec = SEC_GLOBAL;
		set_label(ld, "global", NULL);
		return;
	}
	const char *kind = is_job ? "job" : "output";
	if (is_job)
		ld->job_header = 1;
	if (!name) {
		addf(ld, line, shown, "%s needs a name in double quotes: [%s \"NAME\"]",
		     is_job ? "a job" : "an output", kind);
		return;
	}
	if (nlen == 0) {
		addf(ld, line, shown, "empty %s name, write [%s \"NAME\"]", kind, kind);
		return;
	}
	char *nm = trim_dup(ld, name, nlen);
	if (!nm)
		return;
	if (strlen(nm) != nlen || has_ctl(nm)) {
		addf(ld, line, shown, "%s name with blanks around it or control characters", kind);
		free(nm);
		return;
	}
	pf_config *c = ld->c;
	size_t n = is_job ? c->njobs : c->noutputs;
	for (size_t i = 0; i < n; i++) {
		const char *other = is_job ? c->jobs[i].name : c->outputs[i].name;
		unsigned long ol = is_job ? c->jobs[i].line : c->outputs[i].line;
		if (strcmp(other, nm) == 0) {
			addf(ld, line, shown, "duplicate %s name (first at line %lu), names must be unique", kind,
			     ol);
			free(nm);
			return;
		}
	}
	if (is_job) {
		if (grow(ld, (void **)&ld->sj, &ld->jcap, c->njobs, sizeof *ld->sj) < 0 ||
		    push(ld, &c->jobs, &c->njobs, sizeof *c->jobs) < 0) {
			free(nm);
			return;
		}
		pf_job *j = &c->jobs[c->njobs - 1];
		j->name = nm;
		j->line = line;
		j->schema = PF_SCHEMA_TELEGRAF_V1;
		j->url_tag = xstrdup(ld, "url");
		j->honor_timestamps = 1;
		j->on_error = PF_ON_ERROR_SKIP;
		j->format = PF_FORMAT_AUTO;
		j->body_limit = DEFAULT_BODY_LIMIT;
		ld->cur = c->njobs - 1;
		ld->sec = SEC_JOB;
	} else {
		if (grow(ld, (void **)&ld->so, &ld->ocap, c->noutputs, sizeof *ld->so) < 0 ||
		    push(ld, &c->outputs, &c->noutputs, sizeof *c->outputs) < 0) {
			free(nm);
			return;
		}
		pf_output *o = &c->outputs[c->noutputs - 1];
		o->name = nm;
		o->line = line;
		o->type = PF_OUTPUT_STDOUT;
		o->precision = PF_PREC_MS;
		ld->cur = c->noutputs - 1;
		ld->sec = SEC_OUTPUT;
	}
	set_label(ld, kind, nm);
}

/* The key name of a raw line, for messages about the line itself. */
static void raw_key(const char *s, char *out, size_t cap)
{
	while (is_blank(*s))
		s++;
	size_t n = 0;
	while (s[n] && (is_alnum((unsigned char)s[n]) || s[n] == '_') && n + 1 < cap && n < 40)
		n++;
	const char *r = s + n;
	while (is_blank(*r))
		r++;
	if (n == 0 || (*r != '=' && *r != ':'))
		snprintf(out, cap, "line");
	else
		snprintf(out, cap, "%.*s", (int)n, s);
}

/* A key line inih did not hand to the handler: it found no = or :. */
static void check_handled(loader *ld)
{
	if (ld->key_line && !ld->handled) {
		char k[48];
		raw_key(ld->raw, k, sizeof k);
		addf(ld, ld->lineno, k, "not a key = value line, a [section] or a ; or # comment");
	}
	ld->key_line = 0;
}

/* inih's fgets: one raw line per call, classified before inih sees it. */
static char *reader(char *str, int num, void *stream)
{
	loader *ld = stream;
	check_handled(ld);
	errno = 0;
	ssize_t len = getline(&ld->raw, &ld->rawcap, ld->f);
	if (len < 0) {
		if (ferror(ld->f))
			ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ld->lineno++;
	char *s = ld->raw;
	size_t n = (size_t)len;
	if (n && s[n - 1] == '\n')
		n--;
	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n)) {
		addf(ld, ld->lineno, "line", "NUL byte in the line, the file must be text");
		goto blank;
	}
	s[n] = '\0';
	if (ld->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		n -= 3;
	}
	/* inih's buffer holds num - 1 bytes and the NUL. */
	if (num < 2 || n > (size_t)num - 1) {
		char k[48];
		raw_key(s, k, sizeof k);
		if (num <= 200)
			addf(ld, ld->lineno, k,
			     "line is longer than %d bytes, the limit of Debian's libinih: put the value in a file (password_file, bearer_token_file) or an environment variable (${VAR})",
			     num - 1);
		else
			addf(ld, ld->lineno, k,
			     "line is %zu bytes, longer than the limit of %d: put the value in a file (password_file, bearer_token_file) or an environment variable (${VAR})",
			     n, num - 1);
		goto blank;
	}
	const char *t = s;
	while (is_blank(*t))
		t++;
	if (*t == '\0' || *t == ';' || *t == '#')
		goto blank;
	if (*t == '[') {
		section_line(ld, t);
		goto blank;
	}
	ld->key_line = 1;
	ld->handled = 0;
	memcpy(str, s, n);
	str[n] = '\0';
	return str;
blank:
	/* An empty line keeps inih's line count in step with ours. */
	str[0] = '\0';
	return str;
}

/* ---- whole-file checks ---- */

static unsigned long later(unsigned long a, unsigned long b)
{
	return a > b ? a : b;
}

static void check_job(loader *ld, size_t i)
{
	pf_config *c = ld->c;
	pf_job *j = &c->jobs[i];
	const seen_job *s = &ld->sj[i];
	char label[300];
	snprintf(label, sizeof label, "[job \"%s\"]", j->name);

	if (j->nurls == 0 && !s->at[JK_URL])
		addf(ld, j->line, label, "no url, a job needs at least one url = ... (" URL_ALLOWED ")");

	if (!s->at[JK_INTERVAL])
		j->interval_ms = c->interval_ms;
	if (s->at[JK_TIMEOUT]) {
		if (j->timeout_ms > j->interval_ms)
			addf(ld, s->at[JK_TIMEOUT], "timeout",
			     "%llums is longer than the interval (%llums), allowed: at most the interval",
			     (unsigned long long)j->timeout_ms, (unsigned long long)j->interval_ms);
	} else {
		/* Inherited: the global timeout, cut to this job's interval. */
		j->timeout_ms = c->timeout_ms < j->interval_ms ? c->timeout_ms : j->interval_ms;
	}
	/* An inherited interval was checked against the jitter in [global]. */
	if (s->at[JK_INTERVAL] && c->jitter_ms && c->jitter_ms >= j->interval_ms)
		addf(ld, s->at[JK_INTERVAL], "interval",
		     "%llums is not longer than the global jitter (%llums), allowed: an interval above the jitter",
		     (unsigned long long)j->interval_ms, (unsigned long long)c->jitter_ms);

	if (s->at[JK_PASSWORD] && s->at[JK_PASSWORD_FILE]) {
		unsigned long l = later(s->at[JK_PASSWORD], s->at[JK_PASSWORD_FILE]);
		addf(ld, l, l == s->at[JK_PASSWORD] ? "password" : "password_file",
		     "password and password_file are exclusive, set one");
	}
	if ((s->at[JK_PASSWORD] || s->at[JK_PASSWORD_FILE]) && !s->at[JK_USERNAME]) {
		unsigned long l = s->at[JK_PASSWORD] ? s->at[JK_PASSWORD] : s->at[JK_PASSWORD_FILE];
		addf(ld, l, l == s->at[JK_PASSWORD] ? "password" : "password_file",
		     "set without username, basic auth needs username too");
	}
	if (s->at[JK_BEARER] && s->at[JK_BEARER_FILE]) {
		unsigned long l = later(s->at[JK_BEARER], s->at[JK_BEARER_FILE]);
		addf(ld, l, l == s->at[JK_BEARER] ? "bearer_token" : "bearer_token_file",
		     "bearer_token and bearer_token_file are exclusive, set one");
	}
	unsigned long bearer = s->at[JK_BEARER] ? s->at[JK_BEARER] : s->at[JK_BEARER_FILE];
	if (bearer && s->at[JK_USERNAME]) {
		unsigned long l = later(bearer, s->at[JK_USERNAME]);
		addf(ld, l, l == bearer ? (s->at[JK_BEARER] ? "bearer_token" : "bearer_token_file") : "username",
		     "username (basic auth) and a bearer token both set, a request carries one Authorization header: set one");
	}
	if (s->auth_header && (bearer || s->at[JK_USERNAME]))
		addf(ld, s->auth_header, "header",
		     "Authorization header while %s is set, a request carries one Authorization header: remove one",
		     bearer ? "a bearer token" : "username");

	if (s->at[JK_TLS_CERT] && !s->at[JK_TLS_KEY])
		addf(ld, s->at[JK_TLS_CERT], "tls_cert", "set without tls_key, a client certificate needs its key");
	if (s->at[JK_TLS_KEY] && !s->at[JK_TLS_CERT])
		addf(ld, s->at[JK_TLS_KEY], "tls_key", "set without tls_cert, a client key needs its certificate");
	static const int tls_keys[] = { JK_TLS_CA, JK_TLS_CERT, JK_TLS_KEY, JK_TLS_SERVER_NAME, JK_TLS_INSECURE };
	int first = -1;
	for (size_t k = 0; k < sizeof tls_keys / sizeof tls_keys[0]; k++)
		if (s->at[tls_keys[k]] && (first < 0 || s->at[tls_keys[k]] < s->at[first]))
			first = tls_keys[k];
	if (first >= 0 && j->nurls) {
		int https = 0;
		for (size_t u = 0; u < j->nurls; u++)
			https |= has_prefix_i(j->urls[u], "https://");
		if (!https)
			addf(ld, s->at[first], jkeys[first].name,
			     "TLS setting in a job without an https:// url, it would never be used");
	}
	if (j->url_tag && *j->url_tag) {
		for (size_t t = 0; t < j->ntags; t++)
			if (strcmp(j->tags[t].key, j->url_tag) == 0)
				addf(ld, s->at[JK_URL_TAG] ? s->at[JK_URL_TAG] : s->at[JK_TAG], "url_tag",
				     "tag %s is both the url tag and a tag of this job: rename one (url_tag = \"\" for none)",
				     j->url_tag);
	}
}

static void check_output(loader *ld, size_t i)
{
	pf_output *o = &ld->c->outputs[i];
	const seen_out *s = &ld->so[i];
	char label[300];
	snprintf(label, sizeof label, "[output \"%s\"]", o->name);
	if (!s->at[OK_TYPE]) {
		addf(ld, o->line, label, "no type, allowed: type = stdout, type = file");
		return;
	}
	if (o->type == PF_OUTPUT_FILE && !s->at[OK_PATH])
		addf(ld, o->line, label, "type = file needs path = FILE");
	if (o->type == PF_OUTPUT_STDOUT && s->at[OK_PATH])
		addf(ld, s->at[OK_PATH], "path", "set for type = stdout, path applies only to type = file");
	for (size_t k = 0; k < i; k++) {
		pf_output *p = &ld->c->outputs[k];
		if (o->type == PF_OUTPUT_STDOUT && p->type == PF_OUTPUT_STDOUT && ld->so[k].at[OK_TYPE]) {
			addf(ld, s->at[OK_TYPE], "type",
			     "a second stdout output (first [output \"%s\"] at line %lu), allowed one", p->name,
			     p->line);
			break;
		}
		if (o->type == PF_OUTPUT_FILE && p->type == PF_OUTPUT_FILE && o->path && p->path &&
		    strcmp(o->path, p->path) == 0) {
			addf(ld, s->at[OK_PATH], "path", "%s is also the path of [output \"%s\"] (line %lu)",
			     o->path, p->name, p->line);
			break;
		}
	}
}

static void check_all(loader *ld)
{
	pf_config *c = ld->c;
	if (!ld->gat[GK_TIMEOUT])
		c->timeout_ms = c->interval_ms;
	else if (c->timeout_ms > c->interval_ms)
		addf(ld, ld->gat[GK_TIMEOUT], "timeout",
		     "%llums is longer than the interval (%llums), allowed: at most the interval",
		     (unsigned long long)c->timeout_ms, (unsigned long long)c->interval_ms);
	if (ld->gat[GK_JITTER] && c->jitter_ms >= c->interval_ms)
		addf(ld, ld->gat[GK_JITTER], "jitter",
		     "%llums is not shorter than the interval (%llums), allowed: less than the interval",
		     (unsigned long long)c->jitter_ms, (unsigned long long)c->interval_ms);
	if (ld->gat[GK_HOSTNAME] && c->omit_hostname)
		addf(ld, ld->gat[GK_HOSTNAME], "hostname",
		     "set while omit_hostname is true, the host tag is omitted: set one");
	if (!c->hostname && !c->omit_hostname) {
		char h[256];
		if (gethostname(h, sizeof h) != 0 || !*h) {
			addf(ld, ld->global_line, "hostname",
			     "gethostname() failed: %s; set hostname or omit_hostname = true", strerror(errno));
		} else {
			h[sizeof h - 1] = '\0';
			c->hostname = xstrdup(ld, h);
		}
	}
	for (size_t i = 0; i < c->njobs; i++)
		check_job(ld, i);
	for (size_t i = 0; i < c->noutputs; i++)
		check_output(ld, i);
	if (c->njobs == 0 && !ld->job_header)
		addf(ld, 0, "[job \"NAME\"]", "no job section, at least one job is needed");
	if (c->noutputs == 0 && !ld->oom && push(ld, &c->outputs, &c->noutputs, sizeof *c->outputs) == 0) {
		pf_output *o = &c->outputs[0];
		o->name = xstrdup(ld, "stdout");
		o->type = PF_OUTPUT_STDOUT;
		o->precision = PF_PREC_MS;
	}
}

/* ---- load and free ---- */

static int cmp_err(const void *a, const void *b)
{
	const cerr *x = a, *y = b;
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

/* Applies our reader's needs to libinih's run-time settings (Debian's
 * build has them as globals). The line buffer lives on inih's stack,
 * sized by ini_max_line at each call. */
static void ini_setup(void)
{
	static char inline_prefix[] = ";";
	ini_max_line = PF_CONFIG_MAX_LINE + 1;
	ini_use_stack = true;
	ini_allow_multiline = false;     /* an indented key is a key, not a continuation */
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = inline_prefix;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_allow_bom = true;
}

pf_config *pf_config_load(const char *path, pf_config_err_fn err, void *ud, unsigned *nerrors)
{
	loader ld = { 0 };
	ld.path = path;
	pf_config *c = calloc(1, sizeof *c);
	if (!c) {
		if (err)
			err(ud, "out of memory");
		if (nerrors)
			*nerrors = 1;
		return NULL;
	}
	ld.c = c;
	c->path = xstrdup(&ld, path);
	c->interval_ms = DEFAULT_INTERVAL_MS;
	c->max_concurrent_scrapes = DEFAULT_MAX_CONCURRENT;
	c->log_level = PF_LOG_INFO;
	ld.dir = config_dir(path);
	if (!ld.dir)
		ld.oom = 1;

	ld.f = fopen(path, "re");
	if (!ld.f) {
		ld.read_errno = errno;
	} else {
		ini_setup();
		ini_parse_stream(reader, &ld, handler, &ld);
		check_handled(&ld);
		fclose(ld.f);
	}

	unsigned n = 0;
	if (ld.read_errno) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s: cannot read: %s", path, strerror(ld.read_errno));
		if (err)
			err(ud, msg);
		n++;
	} else {
		if (!ld.oom)
			check_all(&ld);
		qsort(ld.errs, ld.nerrs, sizeof *ld.errs, cmp_err);
		for (size_t i = 0; i < ld.nerrs; i++) {
			if (err)
				err(ud, ld.errs[i].msg);
			n++;
		}
		if (ld.oom) {
			char msg[1200];
			snprintf(msg, sizeof msg, "%s: out of memory while loading", path);
			if (err)
				err(ud, msg);
			n++;
		}
	}
	for (size_t i = 0; i < ld.nerrs; i++)
		free(ld.errs[i].msg);
	free(ld.errs);
	free(ld.raw);
	free(ld.dir);
	free(ld.sec_label);
	free(ld.sj);
	free(ld.so);
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
		free(c->outputs[i].name);
		free(c->outputs[i].path);
	}
	free(c->outputs);
	free_kvs(c->tags, c->ntags);
	free(c->hostname);
	free(c->path);
	free(c);
}
