/*
 * influx.c: InfluxDB v1/v2 request URLs and answers (see influx.h).
 *
 * How each answer is read, and why:
 *   2xx                 done.
 *   400, 422            bad line protocol, a field type conflict, points
 *                       outside the retention policy ("partial write:
 *                       ... dropped=N"): sending the batch again cannot
 *                       succeed, so it is not retried; N points are
 *                       counted as rejected (every line when N is not
 *                       given; for 1.x's "unable to parse ... dropped=0",
 *                       the lines it names). The rest of a partial write
 *                       was stored.
 *   v1 "database not found" (InfluxDB 1.x says it with 404; matched on
 *                       any 4xx): CREATE DATABASE, then the same batch,
 *                       as Telegraf does; with create_database = false a
 *                       configuration error.
 *   401, 403, 404       credentials, permissions, a wrong URL prefix, a
 *                       missing bucket: an operator must act, and the
 *                       data is good: keep it, retry with backoff (the
 *                       buffer limit bounds what is kept), log loudly.
 *   other 4xx           the same: never drop data on an answer we do
 *                       not understand.
 *   413                 the batch is larger than the server's limit:
 *                       split it.
 *   408, 429, 5xx       the server is busy or broken: retry with backoff,
 *                       honouring Retry-After.
 *   no answer           refused, reset, timeout, DNS: retry likewise.
 *   1xx, 3xx final      a proxy or a redirect loop we cannot follow: as
 *                       a configuration error.
 */
#include "influx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pf_influx_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			    *p == '-' || *p == '.' || *p == '_' || *p == '~';
		size_t need = plain ? 1 : 3;
		if (n + need >= cap)
			return -1;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n >= cap)
		return -1;
	out[n] = '\0';
	return (int)n;
}

const char *pf_influx_precision(enum pf_output_type t, enum pf_precision p)
{
	static const char *const v1[] = { "n", "u", "ms", "s" };
	static const char *const v2[] = { "ns", "us", "ms", "s" };
	if ((unsigned)p > PF_PREC_S)
		p = PF_PREC_MS;
	return t == PF_OUTPUT_INFLUXDB_V1 ? v1[p] : v2[p];
}

/* A growing string for one URL. */
typedef struct sb {
	char *s;
	size_t len, cap;
	int err;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 128;
		while (c < b->len + n + 1)
			c *= 2;
		char *p = realloc(b->s, c);
		if (!p) {
			b->err = 1;
			return;
		}
		b->s = p;
		b->cap = c;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* &key=escaped(value) (? for the first parameter) */
static void sb_param(sb *b, const char *key, const char *value)
{
	sb_str(b, strchr(b->s ? b->s : "", '?') ? "&" : "?");
	sb_str(b, key);
	sb_str(b, "=");
	size_t cap = strlen(value) * 3 + 1;
	char *e = malloc(cap);
	if (!e) {
		b->err = 1;
		return;
	}
	pf_influx_escape(value, e, cap);
	sb_str(b, e);
	free(e);
}

/* base (without trailing slashes) + path */
static char *endpoint(const char *base, const char *path, sb *b)
{
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	memset(b, 0, sizeof *b);
	sb_add(b, base, n);
	sb_str(b, path);
	return b->s;
}

static char *done(sb *b)
{
	if (b->err) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

/* CREATE DATABASE "a \"b\"": an InfluxQL identifier in double quotes. */
static char *create_query(const char *db)
{
	sb q;
	memset(&q, 0, sizeof q);
	sb_str(&q, "CREATE DATABASE \"");
	for (const char *p = db; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_add(&q, "\\", 1);
		sb_add(&q, p, 1);
	}
	sb_str(&q, "\"");
	return done(&q);
}

void pf_influx_urls_free(pf_influx_urls *u)
{
	free(u->write);
	free(u->ping);
	free(u->create);
	free(u->check);
	memset(u, 0, sizeof *u);
}

int pf_influx_urls_build(const pf_output *o, pf_influx_urls *u)
{
	static const char *const cons[] = { NULL, "one", "any", "quorum", "all" };
	sb b;
	memset(u, 0, sizeof *u);
	if (!o->url)
		return -EINVAL;
	if (o->type == PF_OUTPUT_INFLUXDB_V1) {
		if (!o->database)
			return -EINVAL;
		endpoint(o->url, "/write", &b);
		sb_param(&b, "db", o->database);
		if (o->retention_policy)
			sb_param(&b, "rp", o->retention_policy);
		if ((unsigned)o->consistency < 5 && cons[o->consistency])
			sb_param(&b, "consistency", cons[o->consistency]);
		sb_param(&b, "precision", pf_influx_precision(o->type, o->precision));
		u->write = done(&b);
		char *q = create_query(o->database);
		endpoint(o->url, "/query", &b);
		if (q)
			sb_param(&b, "q", q);
		else
			b.err = 1;
		free(q);
		u->create = done(&b);
		endpoint(o->url, "/query", &b);
		sb_param(&b, "q", "SHOW DATABASES");
		u->check = done(&b);
		if (!u->create || !u->check)
			goto oom;
	} else if (o->type == PF_OUTPUT_INFLUXDB_V2) {
		if (!o->org || !o->bucket)
			return -EINVAL;
		endpoint(o->url, "/api/v2/write", &b);
		sb_param(&b, "org", o->org);
		sb_param(&b, "bucket", o->bucket);
		sb_param(&b, "precision", pf_influx_precision(o->type, o->precision));
		u->write = done(&b);
	} else {
		return -EINVAL;
	}
	endpoint(o->url, "/ping", &b);
	u->ping = done(&b);
	if (!u->write || !u->ping)
		goto oom;
	return 0;
oom:
	pf_influx_urls_free(u);
	return -ENOMEM;
}

/* ---- answers ---- */

/* Copies one printable line into out, cutting with "...". */
static void put_line(const char *s, size_t n, char *out, size_t cap)
{
	size_t m = 0;
	if (cap == 0)
		return;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n && m + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		out[m++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[m] = '\0';
	if (m < n && cap > 4)
		memcpy(out + cap - 4, "...", 4);
}

/* The string value of "key" in a JSON object body: decoded into out, or -1. */
static int json_string(const char *body, size_t n, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 2 <= n; i++) {
		if (body[i] != '"' || memcmp(body + i + 1, key, kl) != 0 || body[i + 1 + kl] != '"')
			continue;
		size_t j = i + kl + 2;
		while (j < n && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r'))
			j++;
		if (j >= n || body[j] != ':')
			continue;
		j++;
		while (j < n && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r'))
			j++;
		if (j >= n || body[j] != '"')
			continue;
		j++;
		/* Decode into a temporary of the body's size, then cut. */
		char *tmp = malloc(n - j + 1);
		size_t m = 0;
		if (!tmp)
			return -1;
		while (j < n && body[j] != '"') {
			char c = body[j++];
			if (c == '\\' && j < n) {
				char e = body[j++];
				switch (e) {
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case 'r': c = '\r'; break;
				case 'b': c = '\b'; break;
				case 'f': c = '\f'; break;
				case 'u': {
					unsigned v = 0;
					int k = 0;
					for (; k < 4 && j < n; k++, j++) {
						char h = body[j];
						v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0'
								       : h >= 'a' && h <= 'f' ? h - 'a' + 10
								       : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
					}
					c = v < 0x80 ? (char)v : '?';
					break;
				}
				default: c = e; break; /* \" \\ \/ */
				}
			}
			tmp[m++] = c;
		}
		put_line(tmp, m, out, cap);
		free(tmp);
		return 0;
	}
	return -1;
}

char *pf_influx_message(const char *body, size_t n, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if (!body || !n || !cap)
		return out;
	if (json_string(body, n, "error", out, cap) == 0 || json_string(body, n, "message", out, cap) == 0)
		return out;
	put_line(body, n, out, cap);
	return out;
}

/* How often pat occurs in body[0, n). */
static uint64_t count_of(const char *body, size_t n, const char *pat)
{
	size_t pl = strlen(pat);
	uint64_t c = 0;
	for (size_t i = 0; body && i + pl <= n; i++)
		if (body[i] == pat[0] && memcmp(body + i, pat, pl) == 0) {
			c++;
			i += pl - 1;
		}
	return c;
}

/* N of the last "dropped=N" in body[0, n) (the server's message ends
 * with it, and a line it quotes may hold the text too), or -1. */
static int64_t dropped_of(const char *body, size_t n)
{
	const char *p = NULL;
	for (size_t i = 0; body && i + 8 <= n; i++)
		if (body[i] == 'd' && memcmp(body + i, "dropped=", 8) == 0)
			p = body + i;
	if (!p)
		return -1;
	const char *end = body + n;
	p += 8;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	int64_t v = 0;
	while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10)
		v = v * 10 + (*p++ - '0');
	return v;
}

void pf_influx_classify(enum pf_output_type t, int create_db, long status, const char *body, size_t n,
			uint64_t lines, pf_influx_verdict *v)
{
	memset(v, 0, sizeof *v);
	pf_influx_message(body, n, v->msg, sizeof v->msg);
	if (status >= 200 && status < 300) {
		v->action = PF_INFLUX_DONE;
	} else if (status == 0 || status == 408 || status == 429 || status >= 500) {
		v->action = PF_INFLUX_RETRY;
	} else if (t == PF_OUTPUT_INFLUXDB_V1 && status >= 400 && status < 500 &&
		   strstr(v->msg, "database not found")) {
		v->action = create_db ? PF_INFLUX_CREATE_DB : PF_INFLUX_CONFIG;
	} else if (status == 400 || status == 422) {
		/* InfluxDB 1.x says "partial write: unable to parse '...': ...
		 * dropped=0" when it stored the lines it could parse: then the
		 * lines it names are the dropped ones. */
		int64_t d = dropped_of(body, n);
		uint64_t unparsed = count_of(body, n, "unable to parse");
		v->action = PF_INFLUX_REJECT;
		if (d > 0)
			v->dropped = (uint64_t)d;
		else if (d == 0 && unparsed)
			v->dropped = unparsed;
		else
			v->dropped = lines;
		if (v->dropped > lines)
			v->dropped = lines;
	} else if (status == 413) {
		v->action = PF_INFLUX_SPLIT;
	} else {
		v->action = PF_INFLUX_CONFIG;
	}
}

const char *pf_influx_action_name(enum pf_influx_action a)
{
	switch (a) {
	case PF_INFLUX_DONE: return "done";
	case PF_INFLUX_REJECT: return "reject";
	case PF_INFLUX_CONFIG: return "config";
	case PF_INFLUX_CREATE_DB: return "create_db";
	case PF_INFLUX_SPLIT: return "split";
	case PF_INFLUX_RETRY: return "retry";
	}
	return "?";
}
