/*
 * pfparse.c: conformance driver for the exposition parser.
 *
 * Parses one file with pf_parser and prints what the parser reported as
 * JSON lines, so that the Python harnesses can compare it with other
 * projects' test suites:
 *
 *   {"t":"s","line":L,"name":..,"family":..,"type":..,"suffix":..,"unit":..,
 *    "labels":[[k,v],..],"value":"<shortest repr>","text":..,"ts_ns":N|null}
 *   {"t":"e","line":L,"col":C,"msg":..}
 *   {"t":"end","rc":RC,"samples":N,"errors":N,"stat_lines":N,
 *    "stat_samples":N,"stat_errors":N}
 *
 * With --chunk N the input is fed in pieces of N bytes, each copied into a
 * buffer of its own that is freed right after the feed: a parser that keeps
 * a pointer into an earlier chunk instead of carrying the line over reads
 * freed memory, which AddressSanitizer reports.
 *
 * Usage: pfparse [--format prometheus|openmetrics] [--reject] [--chunk N] FILE
 */
#include "expfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counts {
	unsigned long samples;
	unsigned long errors;
};

/* Writes s as a JSON string. Bytes >= 0x80 go out raw, so that the reader
 * sees exactly the bytes the parser handed out (Python reads them back
 * with errors='surrogateescape'). */
static void put_json_str(const char *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (c < 0x20 || c == 0x7f)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

static void put_json_cstr(const char *s)
{
	if (s == NULL)
		fputs("null", stdout);
	else
		put_json_str(s, strlen(s));
}

/* Text that reads back as exactly v (a float's identity is what the
 * harnesses compare): whole numbers as integers, else the shortest "%.Ng". */
static void fmt_value(char *dst, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(dst, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(dst, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Whole numbers read better without an exponent: 110, not 1.1e+02. */
	if (v == trunc(v) && fabs(v) < 1e16) {
		snprintf(dst, len, "%.0f", v); /* -0.0 prints as "-0" */
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(dst, len, "%.*g", prec, v);
		if (strtod(dst, NULL) == v)
			return;
	}
}

static const char *suffix_name(enum pf_suffix s)
{
	switch (s) {
	case PF_SFX_NONE: return "";
	case PF_SFX_TOTAL: return "total";
	case PF_SFX_CREATED: return "created";
	case PF_SFX_BUCKET: return "bucket";
	case PF_SFX_COUNT: return "count";
	case PF_SFX_SUM: return "sum";
	case PF_SFX_GCOUNT: return "gcount";
	case PF_SFX_GSUM: return "gsum";
	case PF_SFX_INFO: return "info";
	}
	return "?";
}

static int on_sample(void *ud, const pf_sample *s)
{
	struct counts *c = ud;
	char val[64];

	c->samples++;
	printf("{\"t\":\"s\",\"line\":%lu,\"name\":", s->line);
	put_json_str(s->name.p, s->name.n);
	fputs(",\"family\":", stdout);
	put_json_str(s->family.p, s->family.n);
	fputs(",\"type\":", stdout);
	put_json_cstr(pf_mtype_name(s->type));
	fputs(",\"suffix\":", stdout);
	put_json_cstr(suffix_name(s->suffix));
	fputs(",\"unit\":", stdout);
	put_json_str(s->unit.p, s->unit.n);
	fputs(",\"labels\":[", stdout);
	for (size_t i = 0; i < s->nlabels; i++) {
		if (i)
			putchar(',');
		putchar('[');
		put_json_str(s->labels[i].name.p, s->labels[i].name.n);
		putchar(',');
		put_json_str(s->labels[i].value.p, s->labels[i].value.n);
		putchar(']');
	}
	fmt_value(val, sizeof val, s->value);
	fputs("],\"value\":", stdout);
	put_json_cstr(val);
	fputs(",\"text\":", stdout);
	put_json_str(s->value_text.p, s->value_text.n);
	if (s->has_ts)
		printf(",\"ts_ns\":%" PRId64 "}\n", s->ts_ns);
	else
		fputs(",\"ts_ns\":null}\n", stdout);
	return 0;
}

static void on_error(void *ud, const pf_parse_error *e)
{
	struct counts *c = ud;

	c->errors++;
	printf("{\"t\":\"e\",\"line\":%lu,\"col\":%lu,\"msg\":", e->line, e->col);
	put_json_cstr(e->msg);
	fputs("}\n", stdout);
}

/* Reads the whole file: the driver is a test tool, the CLI streams. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *d = malloc(cap);
	while (d != NULL) {
		size_t got = fread(d + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		char *nd = realloc(d, cap * 2);
		if (nd == NULL) {
			free(d);
			d = NULL;
			break;
		}
		d = nd;
		cap *= 2;
	}
	if (d != NULL && ferror(f)) {
		free(d);
		d = NULL;
	}
	fclose(f);
	*len = n;
	return d;
}

static int usage(const char *why)
{
	fprintf(stderr, "pfparse: %s\n"
		"usage: pfparse [--format prometheus|openmetrics] [--reject] [--chunk N] FILE\n",
		why);
	return 2;
}

int main(int argc, char **argv)
{
	enum pf_format fmt = PF_FORMAT_PROMETHEUS;
	enum pf_on_error policy = PF_ON_ERROR_SKIP;
	size_t chunk = 0;
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			const char *v = argv[++i];
			if (strcmp(v, "prometheus") == 0)
				fmt = PF_FORMAT_PROMETHEUS;
			else if (strcmp(v, "openmetrics") == 0)
				fmt = PF_FORMAT_OPENMETRICS;
			else
				return usage("--format: expected prometheus or openmetrics");
		} else if (strcmp(argv[i], "--reject") == 0) {
			policy = PF_ON_ERROR_REJECT;
		} else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (errno || *end || v == 0)
				return usage("--chunk: expected a positive number of bytes");
			chunk = v;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage("unknown option");
		} else if (path == NULL) {
			path = argv[i];
		} else {
			return usage("only one FILE");
		}
	}
	if (path == NULL)
		return usage("missing FILE");

	size_t len;
	char *data = read_file(path, &len);
	if (data == NULL) {
		fprintf(stderr, "pfparse: %s: %s\n", path, strerror(errno));
		return 2;
	}

	struct counts c = { 0, 0 };
	pf_parser_ops ops = { on_sample, on_error };
	pf_parser *p = pf_parser_new(fmt, policy, &ops, &c);
	if (p == NULL) {
		fprintf(stderr, "pfparse: out of memory\n");
		free(data);
		return 2;
	}

	int rc = 0;
	if (chunk == 0) {
		/* A private copy of exactly len bytes: no NUL after the end for
		 * the parser to lean on. */
		char *copy = malloc(len ? len : 1);
		if (copy == NULL) {
			rc = -ENOMEM;
		} else {
			if (len)
				memcpy(copy, data, len);
			rc = pf_parser_feed(p, copy, len);
			free(copy);
		}
	} else {
		for (size_t off = 0; rc == 0 && off < len; off += chunk) {
			size_t n = len - off < chunk ? len - off : chunk;
			char *piece = malloc(n);
			if (piece == NULL) {
				rc = -ENOMEM;
				break;
			}
			memcpy(piece, data + off, n);
			rc = pf_parser_feed(p, piece, n);
			free(piece);
		}
	}
	if (rc == 0)
		rc = pf_parser_finish(p);

	const pf_parse_stats *st = pf_parser_stats(p);
	printf("{\"t\":\"end\",\"rc\":%d,\"samples\":%lu,\"errors\":%lu,"
	       "\"stat_lines\":%" PRIu64 ",\"stat_samples\":%" PRIu64
	       ",\"stat_errors\":%" PRIu64 "}\n",
	       rc, c.samples, c.errors, st->lines, st->samples, st->errors);
	pf_parser_free(p);
	free(data);
	return fflush(stdout) == 0 ? 0 : 2;
}
