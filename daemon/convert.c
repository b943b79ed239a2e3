/*
 * convert.c: `promflux convert`, exposition text in, line protocol out.
 *
 * Reads a file or stdin in 64 KiB chunks (never the whole body at once),
 * runs each chunk through the pipeline (parser, schema mapper, encoder)
 * and writes the line protocol to stdout as it is produced. Parse errors
 * go to stderr as "FILE:LINE:COL: message".
 *
 * Without --format (or with --format auto) there is no Content-Type to go
 * by: the pipeline holds the whole body until it has seen its last line
 * (OpenMetrics ends in "# EOF"), so nothing streams. --format prometheus
 * or openmetrics streams.
 *
 * With --reject the input is all or nothing, as a Prometheus server treats
 * a scrape: the output is held until the end and written only when every
 * line was good, so this mode keeps the whole output in memory.
 */
#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline.h"

#define CHUNK (64 * 1024)
/* Output buffer cap. In streaming mode it holds what one 64 KiB chunk
 * produces (plus grouped histograms); with --reject all of it. */
#define OUT_MAX ((size_t)1 << 30)
#define MAX_TAGS 64

void pf_convert_usage(FILE *f)
{
	fputs("usage: promflux convert [OPTIONS] [FILE|-]\n"
	      "  Reads exposition text from FILE (default: stdin) and writes line protocol to stdout.\n"
	      "  --schema S        telegraf-v1 (default), telegraf-v2, influxdb-prom\n"
	      "  --format F        prometheus (text 0.0.4), openmetrics, or auto (default):\n"
	      "                    OpenMetrics when the input ends in '# EOF' (holds the whole input;\n"
	      "                    give the format to stream)\n"
	      "  --precision P     timestamp precision: ns, us, ms (default), s\n"
	      "  --time T          Unix time in ns for samples without a timestamp (default: now)\n"
	      "  --tag k=v         add a tag to every point (repeatable; a label of that name wins)\n"
	      "  --ignore-timestamps  use --time even for samples that carry a timestamp\n"
	      "  --reject          all or nothing: on the first bad line write nothing and fail\n"
	      "  exit status: 0 converted, 1 some input was bad or not converted, 2 usage error\n",
	      f);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("promflux convert: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see promflux convert --help)\n", stderr);
	return 2;
}

/* Parses a decimal int64 (optional '-'), the whole string. */
static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (*s == '\0')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_msg(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "%s\n", msg);
}

/* Writes the buffer to stdout and empties it. Returns 0 or -1. */
static int flush_out(pf_buf *out)
{
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len)
		return -1;
	pf_buf_reset(out);
	return 0;
}

static const char *rc_text(int rc)
{
	switch (rc) {
	case -E2BIG: return "output too large";
	case -ENOMEM: return "out of memory";
	case -EINVAL: return "input rejected";
	default: return strerror(rc < 0 ? -rc : rc);
	}
}

struct args {
	pf_pipeline_opts opts;
	pf_tag tags[MAX_TAGS];
	const char *path;
};

/* Fills a from argv; returns 0 or an exit status (usage error, or 0 with
 * *done set after --help). */
static int parse_args(int argc, char **argv, struct args *a, int *done)
{
	int have_time = 0, only_files = 0;
	size_t ntags = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->path != NULL)
				return usage_error("only one input file, got '%s' and '%s'", a->path, arg);
			a->path = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_files = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			pf_convert_usage(stdout);
			*done = 1;
			return 0;
		}
		if (strcmp(arg, "--reject") == 0) {
			a->opts.on_error = PF_ON_ERROR_REJECT;
			continue;
		}
		if (strcmp(arg, "--ignore-timestamps") == 0) {
			a->opts.map.ignore_timestamps = 1;
			continue;
		}

		/* The rest take a value: "--opt value" or "--opt=value". */
		static const char *const with_value[] = {
			"--schema", "--format", "--precision", "--time", "--tag", NULL,
		};
		const char *name = NULL, *val = NULL;
		size_t nlen = strcspn(arg, "=");
		for (int k = 0; with_value[k] != NULL; k++) {
			if (strlen(with_value[k]) == nlen && strncmp(arg, with_value[k], nlen) == 0)
				name = with_value[k];
		}
		if (name == NULL)
			return usage_error("unknown option '%s'", arg);
		if (arg[nlen] == '=')
			val = arg + nlen + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return usage_error("%s needs a value", name);

		if (strcmp(name, "--schema") == 0) {
			if (pf_schema_parse(val, &a->opts.map.schema) != 0)
				return usage_error("--schema: unknown schema '%s'; allowed: "
						   "telegraf-v1, telegraf-v2, influxdb-prom", val);
		} else if (strcmp(name, "--format") == 0) {
			if (strcmp(val, "prometheus") == 0)
				a->opts.format = PF_FORMAT_PROMETHEUS;
			else if (strcmp(val, "openmetrics") == 0)
				a->opts.format = PF_FORMAT_OPENMETRICS;
			else if (strcmp(val, "auto") == 0)
				a->opts.format = PF_FORMAT_AUTO;
			else
				return usage_error("--format: unknown format '%s'; allowed: "
						   "prometheus, openmetrics, auto", val);
		} else if (strcmp(name, "--precision") == 0) {
			if (pf_precision_parse(val, &a->opts.precision) != 0)
				return usage_error("--precision: unknown precision '%s'; allowed: "
						   "ns, us, ms, s", val);
		} else if (strcmp(name, "--time") == 0) {
			if (parse_i64(val, &a->opts.map.now_ns) != 0)
				return usage_error("--time: '%s' is not a Unix time in nanoseconds "
						   "(an integer such as 1700000000000000000)", val);
			have_time = 1;
		} else { /* --tag */
			const char *eq = strchr(val, '=');
			if (eq == NULL || eq == val || eq[1] == '\0')
				return usage_error("--tag: expected key=value with a non-empty key and value, got '%s'",
						   val);
			if (ntags == MAX_TAGS)
				return usage_error("--tag: at most %d tags", MAX_TAGS);
			a->tags[ntags].key = (pf_str){ val, (size_t)(eq - val) };
			a->tags[ntags].value = pf_str_c(eq + 1);
			ntags++;
		}
	}
	if (!have_time)
		a->opts.map.now_ns = now_ns();
	a->opts.map.tags = ntags ? a->tags : NULL;
	a->opts.map.ntags = ntags;
	a->opts.map.format = a->opts.format;
	return 0;
}

int pf_cmd_convert(int argc, char **argv)
{
	struct args a;
	int done = 0;

	memset(&a, 0, sizeof a);
	a.opts.format = PF_FORMAT_AUTO;
	a.opts.on_error = PF_ON_ERROR_SKIP;
	a.opts.map.schema = PF_SCHEMA_TELEGRAF_V1;
	a.opts.precision = PF_PREC_MS;
	int st = parse_args(argc, argv, &a, &done);
	if (st != 0 || done)
		return st;

	int fd = STDIN_FILENO;
	int from_stdin = a.path == NULL || strcmp(a.path, "-") == 0;
	a.opts.source = from_stdin ? "<stdin>" : a.path;
	if (!from_stdin) {
		fd = open(a.path, O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "promflux convert: %s: %s\n", a.path, strerror(errno));
			return 1;
		}
	}

	pf_buf out;
	pf_buf_init(&out, OUT_MAX);
	char *chunk = malloc(CHUNK);
	pf_pipeline *pl = chunk ? pf_pipeline_new(&a.opts, &out, print_msg, NULL) : NULL;
	if (pl == NULL) {
		fprintf(stderr, "promflux convert: out of memory\n");
		free(chunk);
		if (!from_stdin)
			close(fd);
		return 1;
	}

	int streaming = a.opts.on_error != PF_ON_ERROR_REJECT;
	int rc = 0, failed = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "promflux convert: %s: read: %s\n", a.opts.source, strerror(errno));
			failed = 1;
			break;
		}
		if (n == 0) {
			rc = pf_pipeline_finish(pl);
			break;
		}
		rc = pf_pipeline_feed(pl, chunk, (size_t)n);
		if (rc != 0)
			break;
		if (streaming && flush_out(&out) != 0) {
			fprintf(stderr, "promflux convert: writing stdout: %s\n", strerror(errno));
			failed = 1;
			break;
		}
	}
	if (!from_stdin)
		close(fd);

	if (rc != 0) {
		/* -EINVAL: the error callback already said where and why. */
		if (rc != -EINVAL)
			fprintf(stderr, "promflux convert: %s: %s\n", a.opts.source, rc_text(rc));
		failed = 1;
	}
	if (!failed || streaming) {
		/* With --reject a failed input writes nothing. */
		if (flush_out(&out) != 0 || fflush(stdout) != 0) {
			fprintf(stderr, "promflux convert: writing stdout: %s\n", strerror(errno));
			failed = 1;
		}
	}

	const pf_pipeline_stats *ps = pf_pipeline_get_stats(pl);
	if (ps->parse.errors > 0 || ps->encode_errors > 0)
		failed = 1;
	/* Nothing is dropped without a word: say what was not written. */
	if (ps->parse.errors || ps->encode_errors || ps->lp.fields_nonfinite || ps->lp.points_dropped)
		fprintf(stderr, "promflux convert: %s: %llu lines rejected, %llu points not encodable, "
			"%llu NaN/Inf values not written (InfluxDB cannot store them), "
			"%llu points left without a field\n", a.opts.source,
			(unsigned long long)ps->parse.errors, (unsigned long long)ps->encode_errors,
			(unsigned long long)ps->lp.fields_nonfinite,
			/* points_dropped also counts the points the encoder
			 * refused, already reported as not encodable */
			(unsigned long long)(ps->lp.points_dropped - ps->lp_refused));

	pf_pipeline_free(pl);
	pf_buf_free(&out);
	free(chunk);
	return failed ? 1 : 0;
}
