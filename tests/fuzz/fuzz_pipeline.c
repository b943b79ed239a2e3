/*
 * fuzz_pipeline.c: libFuzzer target over the whole path a scrape takes,
 * exposition text -> parser -> schema mapper -> line-protocol encoder.
 *
 * The first three bytes of the input choose the settings, so that one
 * corpus covers every format, schema and error policy, and so that the body
 * is fed in chunks of every size: the carry-over of a line split across
 * chunks is the parser's subtlest code and is only reached this way.
 *
 *   byte 0  bits 0-1  format: 0 Prometheus text 0.0.4, 1 OpenMetrics,
 *                     2 and 3 auto (the pipeline decides by "# EOF")
 *           bits 2-3  schema: value % 3 (telegraf-v1, telegraf-v2, influxdb-prom)
 *           bit 4     on_error: 0 skip, 1 reject
 *           bit 5     ignore the samples' timestamps
 *           bits 6-7  precision: ns, us, ms, s
 *   byte 1  chunk size: 0 the whole body in one feed; 1..127 that many
 *           bytes; 128..255 ((b & 127) + 1) * 512 bytes
 *   byte 2  bit 0     parse the body a second time after pf_pipeline_reset(),
 *                     to catch state that a reset forgets
 *           bits 1-2  the format of that second pass, as in byte 0
 *           bits 3-4  the extra tags: 0 instance (a label's name, a value
 *                     to escape), 1 host and url (sorted after and before
 *                     common labels), 2 none, 3 a key that needs escaping
 *                     (no shortcut for any sample)
 *   rest    the body
 *
 * run-fuzz writes these three bytes in front of every seed (make-seeds.py);
 * README.md has the same table.
 *
 * Beyond "no crash, no leak, no undefined behaviour" the target checks what
 * the headers promise about the output: it is whole lines, each ending in
 * '\n' and none empty, and every message is one line that starts with the
 * source name; and that the shortcut for common label sets changes nothing:
 * the first pass runs again with pf_pipeline_opts.long_way, and its return,
 * output, messages and counters must be the same. A broken promise aborts,
 * which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* Output cap: large enough for what a 1 MiB input maps to in most cases,
 * small enough that hitting it (-E2BIG) is also fuzzed. */
#define FUZZ_OUT_MAX (16u << 20)

#define FUZZ_SOURCE "fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_pipeline: broken promise: %s\n", what);
	abort();
}

static void on_msg(void *ud, const char *msg)
{
	unsigned long *n = ud;

	(*n)++;
	if (msg == NULL)
		fail("message is NULL");
	/* strlen() reads the whole message, so ASan sees a bad pointer here. */
	size_t len = strlen(msg);
	const char *bad = NULL;
	if (len < sizeof(FUZZ_SOURCE) || memcmp(msg, FUZZ_SOURCE ":", sizeof(FUZZ_SOURCE)) != 0)
		bad = "message does not start with \"SOURCE:\"";
	else if (memchr(msg, '\n', len) != NULL)
		bad = "message spans more than one line";
	if (bad != NULL) {
		fprintf(stderr, "fuzz_pipeline: the message: \"");
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)msg[i];
			if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
				fputc(c, stderr);
			else
				fprintf(stderr, "\\x%02x", c);
		}
		fprintf(stderr, "\"\n");
		fail(bad);
	}
}

/* The output must be whole, non-empty lines. */
static void check_output(const pf_buf *out)
{
	if (out->len > out->max)
		fail("output passed its cap");
	if (out->len == 0)
		return;
	if (out->data[out->len - 1] != '\n')
		fail("output does not end in a newline");
	if (out->data[0] == '\n')
		fail("output starts with an empty line");
	/* String fields may hold raw newlines, but no schema writes string
	 * fields, so two newlines in a row mean an empty line. */
	for (size_t i = 1; i < out->len; i++)
		if (out->data[i] == '\n' && out->data[i - 1] == '\n')
			fail("output holds an empty line");
}

/* Feeds the body in chunks and finishes it. Returns the first nonzero
 * return, after which the pipeline takes nothing more. */
static int run_body(pf_pipeline *pl, const char *body, size_t n, size_t chunk)
{
	size_t off = 0;
	int rc;

	if (chunk == 0)
		chunk = n ? n : 1;
	while (off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		rc = pf_pipeline_feed(pl, body + off, k);
		if (rc != 0)
			return rc;
		off += k;
	}
	return pf_pipeline_finish(pl);
}

static void check_rc(int rc, enum pf_on_error policy)
{
	/* The documented returns: 0, -EINVAL (reject policy only), -ENOMEM,
	 * -E2BIG (output full). No callback of ours ever stops the parse. */
	if (rc == 0 || rc == -ENOMEM || rc == -E2BIG)
		return;
	if (rc == -EINVAL && policy == PF_ON_ERROR_REJECT)
		return;
	fprintf(stderr, "fuzz_pipeline: unexpected return %d (policy %d)\n", rc, (int)policy);
	abort();
}

/* The first pass again with no shortcut for common label sets and no
 * direct way (direct.h): everything must come out the same. */
static void same_the_long_way(const pf_pipeline_opts *o, const char *body, size_t n, size_t chunk,
			      int rc, const pf_buf *out, unsigned long nmsg, const pf_pipeline_stats *st)
{
	pf_pipeline_opts lo = *o;
	lo.long_way = 1;
	pf_buf lout;
	pf_buf_init(&lout, FUZZ_OUT_MAX);
	unsigned long lmsg = 0;
	pf_pipeline *lp = pf_pipeline_new(&lo, &lout, on_msg, &lmsg);
	if (lp == NULL) {
		pf_buf_free(&lout);
		return;
	}
	int lrc = run_body(lp, body, n, chunk);
	const pf_pipeline_stats *ls = pf_pipeline_get_stats(lp);
	if (rc == -ENOMEM || lrc == -ENOMEM) {
		/* Out of memory may strike one run and not the other. */
	} else if (lrc != rc) {
		fprintf(stderr, "fuzz_pipeline: return %d, the long way %d\n", rc, lrc);
		fail("the shortcut changed the return");
	} else if (lout.len != out->len || (out->len && memcmp(lout.data, out->data, out->len) != 0)) {
		fprintf(stderr, "fuzz_pipeline: output (%zu bytes):\n%.*s\nthe long way (%zu bytes):\n%.*s\n",
			out->len, (int)(out->len > 4096 ? 4096 : out->len), out->data ? out->data : "",
			lout.len, (int)(lout.len > 4096 ? 4096 : lout.len), lout.data ? lout.data : "");
		fail("the shortcut changed the output");
	} else {
		/* Only how many lines went the direct way may differ (none the
		 * long way). */
		pf_pipeline_stats a = *st, b = *ls;
		a.samples_direct = 0;
		if (b.samples_direct != 0)
			fail("the long way wrote lines the direct way");
		if (lmsg != nmsg || memcmp(&a, &b, sizeof(a)) != 0)
			fail("the shortcut changed the messages or counters");
	}
	pf_pipeline_free(lp);
	pf_buf_free(&lout);
}

static enum pf_format format_of(unsigned v)
{
	return v == 0 ? PF_FORMAT_PROMETHEUS : v == 1 ? PF_FORMAT_OPENMETRICS : PF_FORMAT_AUTO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;

	uint8_t sel = data[0], csel = data[1], again = data[2];
	const char *body = (const char *)data + 3;
	size_t n = size - 3;
	size_t chunk = csel == 0 ? 0 : csel < 128 ? csel : ((size_t)(csel & 127) + 1) * 512;

	/* An extra tag whose key is a common label name, so that "a label of
	 * the same name wins" is exercised, and whose value needs escaping. */
	static const pf_tag extras[4][2] = {
		{ { PF_STR_LIT("instance"), PF_STR_LIT("fuzz host,a=b c"), 0 } },
		{ { PF_STR_LIT("url"), PF_STR_LIT("http://h:9100/metrics"), 0 },
		  { PF_STR_LIT("host"), PF_STR_LIT("h"), 0 } },
		{ { PF_STR_LIT(""), PF_STR_LIT(""), 0 } },
		{ { PF_STR_LIT("a key"), PF_STR_LIT("v"), 0 } },
	};
	static const size_t nextras[4] = { 1, 2, 0, 1 };
	unsigned xsel = (again >> 3) & 3;

	pf_pipeline_opts o;
	memset(&o, 0, sizeof(o));
	o.format = format_of(sel & 3);
	o.map.schema = (enum pf_schema)(((sel >> 2) & 3) % 3);
	o.on_error = (sel & 0x10) ? PF_ON_ERROR_REJECT : PF_ON_ERROR_SKIP;
	o.map.format = o.format;
	o.map.now_ns = INT64_C(1700000000123456789);
	o.map.ignore_timestamps = (sel >> 5) & 1;
	o.map.tags = extras[xsel];
	o.map.ntags = nextras[xsel];
	o.precision = (enum pf_precision)((sel >> 6) & 3);
	o.source = FUZZ_SOURCE;

	pf_buf out;
	pf_buf_init(&out, FUZZ_OUT_MAX);
	unsigned long nmsg = 0;

	pf_pipeline *pl = pf_pipeline_new(&o, &out, on_msg, &nmsg);
	if (pl == NULL) {
		pf_buf_free(&out);
		return 0;
	}

	int rc = run_body(pl, body, n, chunk);
	check_rc(rc, o.on_error);
	check_output(&out);
	const pf_pipeline_stats *st = pf_pipeline_get_stats(pl);
	if (st == NULL)
		fail("no stats");
	/* A rejected body must have said why ("the error callback said why"). */
	if (rc == -EINVAL && nmsg == 0)
		fail("rejected without a message");
	same_the_long_way(&o, body, n, chunk, rc, &out, nmsg, st);

	if (again & 1) {
		/* The same body again, in the format of byte 2 and with another
		 * chunk size, on a reset pipeline and an emptied buffer. */
		pf_buf_reset(&out);
		pf_pipeline_reset(pl, format_of((again >> 1) & 3), o.map.now_ns + 1);
		nmsg = 0;
		rc = run_body(pl, body, n, chunk ? chunk + 1 : 4096);
		check_rc(rc, o.on_error);
		check_output(&out);
		if (rc == -EINVAL && nmsg == 0)
			fail("rejected without a message");
	}

	pf_pipeline_free(pl);
	pf_buf_free(&out);
	return 0;
}
