/*
 * test_influx.c: unit test of the InfluxDB API semantics (src/influx.c),
 * gzip bodies (src/gzip.c) and file secrets (src/secret.c).
 *
 * URLs: every parameter of both APIs, percent-encoding of names with
 * blanks, quotes and non-ASCII, a URL prefix with a trailing slash.
 * Answers: one row per status (and body) -> action and dropped count,
 * as the design table says. gzip: the body decompresses to the input.
 * Secrets: re-read when the file changes, kept when it vanishes.
 */
#include "gzip.h"
#include "influx.h"
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdeflate.h>

static int failures;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                      \
		}                                                                        \
	} while (0)

#define CHECK_STR(a, b)                                                                         \
	do {                                                                                    \
		const char *a_ = (a), *b_ = (b);                                                \
		if (!a_ || strcmp(a_, b_) != 0) {                                               \
			fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, \
				a_ ? a_ : "(null)", b_);                                        \
			failures++;                                                     \
		}                                                                               \
	} while (0)

static void test_escape(void)
{
	char out[64];
	CHECK(pf_influx_escape("a-b.c_d~9", out, sizeof out) == 9);
	CHECK_STR(out, "a-b.c_d~9");
	pf_influx_escape("my db/\"x\"&q=1", out, sizeof out);
	CHECK_STR(out, "my%20db%2F%22x%22%26q%3D1");
	pf_influx_escape("\xc3\xa9", out, sizeof out);
	CHECK_STR(out, "%C3%A9");
	CHECK(pf_influx_escape("abc", out, 3) == -1);
	CHECK(pf_influx_escape("/", out, 3) == -1);
	CHECK(pf_influx_escape("/", out, 4) == 3);
}

static void test_urls_v1(void)
{
	pf_output o;
	memset(&o, 0, sizeof o);
	o.type = PF_OUTPUT_INFLUXDB_V1;
	o.url = "http://127.0.0.1:8086/";
	o.database = "tele graf";
	o.precision = PF_PREC_MS;
	pf_influx_urls u;
	CHECK(pf_influx_urls_build(&o, &u) == 0);
	CHECK_STR(u.write, "http://127.0.0.1:8086/write?db=tele%20graf&precision=ms");
	CHECK_STR(u.ping, "http://127.0.0.1:8086/ping");
	CHECK_STR(u.create, "http://127.0.0.1:8086/query?q=CREATE%20DATABASE%20%22tele%20graf%22");
	CHECK_STR(u.check, "http://127.0.0.1:8086/query?q=SHOW%20DATABASES");
	pf_influx_urls_free(&u);

	o.url = "https://influx.example.com/prefix//";
	o.database = "a\"b\\c";
	o.retention_policy = "two weeks";
	o.consistency = PF_CONSISTENCY_QUORUM;
	o.precision = PF_PREC_US;
	CHECK(pf_influx_urls_build(&o, &u) == 0);
	CHECK_STR(u.write, "https://influx.example.com/prefix/write?db=a%22b%5Cc&rp=two%20weeks&consistency=quorum&precision=u");
	/* the identifier's quote and backslash are escaped inside InfluxQL */
	CHECK_STR(u.create, "https://influx.example.com/prefix/query?q=CREATE%20DATABASE%20%22a%5C%22b%5C%5Cc%22");
	pf_influx_urls_free(&u);

	o.precision = PF_PREC_NS;
	o.consistency = PF_CONSISTENCY_ONE;
	o.retention_policy = NULL;
	CHECK(pf_influx_urls_build(&o, &u) == 0);
	CHECK(strstr(u.write, "&consistency=one&precision=n") != NULL);
	pf_influx_urls_free(&u);

	o.database = NULL;
	CHECK(pf_influx_urls_build(&o, &u) == -EINVAL);
	o.type = PF_OUTPUT_FILE;
	CHECK(pf_influx_urls_build(&o, &u) == -EINVAL);
}

static void test_urls_v2(void)
{
	pf_output o;
	memset(&o, 0, sizeof o);
	o.type = PF_OUTPUT_INFLUXDB_V2;
	o.url = "http://[::1]:8086";
	o.org = "my org";
	o.bucket = "b/1";
	o.precision = PF_PREC_S;
	o.database = "ignored";
	pf_influx_urls u;
	CHECK(pf_influx_urls_build(&o, &u) == 0);
	CHECK_STR(u.write, "http://[::1]:8086/api/v2/write?org=my%20org&bucket=b%2F1&precision=s");
	CHECK_STR(u.ping, "http://[::1]:8086/ping");
	CHECK(u.create == NULL && u.check == NULL);
	pf_influx_urls_free(&u);
	o.precision = PF_PREC_US;
	CHECK(pf_influx_urls_build(&o, &u) == 0);
	CHECK(strstr(u.write, "precision=us") != NULL);
	pf_influx_urls_free(&u);
	o.bucket = NULL;
	CHECK(pf_influx_urls_build(&o, &u) == -EINVAL);
}

static void test_precision(void)
{
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V1, PF_PREC_NS), "n");
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V1, PF_PREC_US), "u");
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V1, PF_PREC_MS), "ms");
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V1, PF_PREC_S), "s");
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V2, PF_PREC_NS), "ns");
	CHECK_STR(pf_influx_precision(PF_OUTPUT_INFLUXDB_V2, PF_PREC_US), "us");
}

/* ---- answers ---- */

#define V1 PF_OUTPUT_INFLUXDB_V1
#define V2 PF_OUTPUT_INFLUXDB_V2

static void test_classify(void)
{
	static const struct {
		enum pf_output_type t;
		int create;
		long status;
		const char *body;
		uint64_t lines;
		enum pf_influx_action want;
		uint64_t dropped;
		const char *msg; /* substring of the message, or NULL */
	} rows[] = {
		{ V1, 1, 204, "", 10, PF_INFLUX_DONE, 0, NULL },
		{ V2, 1, 200, "{}", 10, PF_INFLUX_DONE, 0, NULL },
		/* 400/422: rejected, never retried */
		{ V1, 1, 400, "{\"error\":\"unable to parse 'x': missing fields\"}", 10, PF_INFLUX_REJECT, 10,
		  "unable to parse 'x': missing fields" },
		{ V1, 1, 400,
		  "{\"error\":\"partial write: field type conflict: input field \\\"value\\\" on measurement \\\"cpu\\\" is type integer, already exists as type float dropped=3\"}",
		  10, PF_INFLUX_REJECT, 3, "input field \"value\" on measurement" },
		{ V1, 1, 400,
		  "{\"error\":\"partial write: unable to parse 'a b': bad\\nunable to parse 'c d': bad dropped=0\"}",
		  10, PF_INFLUX_REJECT, 2, "partial write: unable to parse" },
		{ V2, 1, 422,
		  "{\"code\":\"unprocessable entity\",\"message\":\"failure writing points to database: partial write: points beyond retention policy dropped=4\"}",
		  5, PF_INFLUX_REJECT, 4, "points beyond retention policy" },
		{ V2, 1, 400, "{\"code\":\"invalid\",\"message\":\"dropped=99\"}", 5, PF_INFLUX_REJECT, 5, NULL },
		{ V2, 1, 400, "plain text, not JSON\n", 7, PF_INFLUX_REJECT, 7, "plain text, not JSON" },
		/* configuration errors: kept */
		{ V1, 1, 401, "{\"error\":\"authorization failed\"}", 10, PF_INFLUX_CONFIG, 0, "authorization failed" },
		{ V2, 1, 401, "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}", 10, PF_INFLUX_CONFIG,
		  0, "unauthorized access" },
		{ V1, 1, 403, "", 10, PF_INFLUX_CONFIG, 0, NULL },
		{ V2, 1, 404, "{\"code\":\"not found\",\"message\":\"bucket \\\"x\\\" not found\"}", 10,
		  PF_INFLUX_CONFIG, 0, "bucket \"x\" not found" },
		{ V1, 1, 404, "404 page not found", 10, PF_INFLUX_CONFIG, 0, "404 page not found" },
		{ V1, 1, 405, "", 10, PF_INFLUX_CONFIG, 0, NULL },
		{ V1, 1, 302, "", 10, PF_INFLUX_CONFIG, 0, NULL },
		/* v1 database not found: create, unless not allowed */
		{ V1, 1, 404, "{\"error\":\"database not found: \\\"db\\\"\"}", 10, PF_INFLUX_CREATE_DB, 0,
		  "database not found: \"db\"" },
		{ V1, 0, 404, "{\"error\":\"database not found: \\\"db\\\"\"}", 10, PF_INFLUX_CONFIG, 0, NULL },
		{ V1, 1, 400, "{\"error\":\"database not found: \\\"db\\\"\"}", 10, PF_INFLUX_CREATE_DB, 0, NULL },
		{ V2, 1, 404, "{\"message\":\"database not found\"}", 10, PF_INFLUX_CONFIG, 0, NULL },
		/* too large */
		{ V1, 1, 413, "{\"error\":\"Request Entity Too Large\"}", 10, PF_INFLUX_SPLIT, 0, "Too Large" },
		{ V2, 1, 413, "", 1, PF_INFLUX_SPLIT, 0, NULL },
		/* try again later */
		{ V1, 1, 429, "", 10, PF_INFLUX_RETRY, 0, NULL },
		{ V2, 1, 429, "{\"message\":\"too many requests\"}", 10, PF_INFLUX_RETRY, 0, "too many" },
		{ V1, 1, 408, "", 10, PF_INFLUX_RETRY, 0, NULL },
		{ V1, 1, 500, "{\"error\":\"timeout\"}", 10, PF_INFLUX_RETRY, 0, "timeout" },
		{ V1, 1, 502, "", 10, PF_INFLUX_RETRY, 0, NULL },
		{ V2, 1, 503, "", 10, PF_INFLUX_RETRY, 0, NULL },
		{ V2, 1, 504, "", 10, PF_INFLUX_RETRY, 0, NULL },
		{ V1, 1, 0, NULL, 10, PF_INFLUX_RETRY, 0, NULL },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		pf_influx_verdict v;
		const char *b = rows[i].body;
		pf_influx_classify(rows[i].t, rows[i].create, rows[i].status, b, b ? strlen(b) : 0, rows[i].lines, &v);
		int ok = v.action == rows[i].want && v.dropped == rows[i].dropped &&
			 (!rows[i].msg || strstr(v.msg, rows[i].msg));
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  row %zu (HTTP %ld): got %s dropped %llu msg \"%s\", want %s dropped %llu\n", i,
				rows[i].status, pf_influx_action_name(v.action), (unsigned long long)v.dropped, v.msg,
				pf_influx_action_name(rows[i].want), (unsigned long long)rows[i].dropped);
	}
}

static void test_message(void)
{
	char out[32];
	/* control bytes become '?', a long message is cut with "..." */
	pf_influx_message("{\"error\":\"a\\tb\\u0001c\"}", 23, out, sizeof out);
	CHECK_STR(out, "a?b?c");
	pf_influx_message("{\"error\" : \"0123456789012345678901234567890123456789\"}", 54, out, sizeof out);
	CHECK(strlen(out) == 31 && strcmp(out + 28, "...") == 0);
	pf_influx_message("line one\r\nline two\n", 19, out, sizeof out);
	CHECK_STR(out, "line one??line two");
	pf_influx_message(NULL, 0, out, sizeof out);
	CHECK_STR(out, "");
	/* not a string value: the whole body */
	pf_influx_message("{\"error\":5}", 11, out, sizeof out);
	CHECK_STR(out, "{\"error\":5}");
	/* a body without NUL, cut exactly */
	pf_influx_message("{\"message\":\"xyz\"}garbage", 17, out, sizeof out);
	CHECK_STR(out, "xyz");
}

/* ---- gzip ---- */

static void test_gzip(void)
{
	size_t n = 300000;
	char *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (i % 97 == 0) ? '\n' : (char)('a' + (i * 7) % 26);
	for (int level = 0; level <= 10; level += 5) {
		pf_gzip *z = pf_gzip_new(level);
		CHECK(z != NULL);
		size_t m = 0;
		char *gz = pf_gzip_compress(z, in, n, &m);
		CHECK(gz && m > 18 && m < n / 4);
		/* a gzip member: magic, deflate */
		CHECK((unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b && gz[2] == 8);
		struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
		char *back = malloc(n);
		size_t got = 0;
		CHECK(libdeflate_gzip_decompress(d, gz, m, back, n, &got) == LIBDEFLATE_SUCCESS);
		CHECK(got == n && memcmp(back, in, n) == 0);
		libdeflate_free_decompressor(d);
		free(back);
		free(gz);
		/* an empty body is a valid (tiny) member too */
		gz = pf_gzip_compress(z, "", 0, &m);
		CHECK(gz && m >= 18);
		free(gz);
		pf_gzip_free(z);
	}
	pf_gzip_free(NULL);
	free(in);
}

/* pf_gunzip_run: round trip; several members (the last ISIZE is a wrong
 * first guess); the limit exactly and one byte under it; a trailer over
 * the limit refused at once; a lying ISIZE; corrupt, truncated, trailing
 * bytes; an empty member. */
static void test_gunzip(void)
{
	size_t n = 200000, m1 = 0, m2 = 0, len = 0;
	char *in = malloc(n), *out = NULL;
	for (size_t i = 0; i < n; i++)
		in[i] = (i % 89 == 0) ? '\n' : (char)('a' + (i * 13) % 26);
	pf_gzip *z = pf_gzip_new(1);
	pf_gunzip *u = pf_gunzip_new();
	CHECK(z && u);
	char *a = pf_gzip_compress(z, in, n / 4, &m1);
	char *b = pf_gzip_compress(z, in + n / 4, n - n / 4, &m2);
	CHECK(a && b);
	CHECK(pf_gunzip_run(u, b, m2, n, &out, &len) == 0 && len == n - n / 4 && memcmp(out, in + n / 4, len) == 0);
	free(out);
	/* two members: the trailer says n/4, the whole is n */
	char *two = malloc(m1 + m2);
	memcpy(two, a, m1);
	memcpy(two + m1, b, m2);
	CHECK(pf_gunzip_run(u, two, m1 + m2, n, &out, &len) == 0 && len == n && memcmp(out, in, n) == 0);
	free(out);
	CHECK(pf_gunzip_run(u, two, m1 + m2, n - 1, &out, &len) == -EFBIG && out == NULL);
	/* one member over the limit: its trailer says so */
	CHECK(pf_gunzip_run(u, b, m2, n / 2, &out, &len) == -EFBIG && out == NULL);
	/* a lying ISIZE (small): the CRC/length check fails */
	char *lie = malloc(m2);
	memcpy(lie, b, m2);
	lie[m2 - 4] = 5;
	lie[m2 - 3] = lie[m2 - 2] = lie[m2 - 1] = 0;
	CHECK(pf_gunzip_run(u, lie, m2, n, &out, &len) == -EBADMSG && out == NULL);
	/* a flipped byte in the data, a cut trailer, bytes after the member */
	memcpy(lie, b, m2);
	lie[m2 / 2] ^= 0x40;
	CHECK(pf_gunzip_run(u, lie, m2, n, &out, &len) == -EBADMSG);
	CHECK(pf_gunzip_run(u, b, m2 - 8, n, &out, &len) != 0 && out == NULL);
	char *tail = malloc(m2 + 3);
	memcpy(tail, b, m2);
	memcpy(tail + m2, "xyz", 3);
	/* (refused either way: its last 4 bytes, read as the size, are over n here) */
	CHECK(pf_gunzip_run(u, tail, m2 + 3, n, &out, &len) != 0 && out == NULL);
	CHECK(pf_gunzip_run(u, "\x1f\x8b", 2, n, &out, &len) == -EBADMSG);
	/* an empty member is an empty body */
	size_t me = 0;
	char *e = pf_gzip_compress(z, "", 0, &me);
	CHECK(e && pf_gunzip_run(u, e, me, 10, &out, &len) == 0 && len == 0);
	free(out);
	free(e);
	free(tail);
	free(lie);
	free(two);
	free(a);
	free(b);
	pf_gzip_free(z);
	pf_gunzip_free(u);
	pf_gunzip_free(NULL);
	free(in);
}

/* ---- secrets ---- */

static void write_text(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	fputs(s, f);
	fclose(f);
}

static void test_secret(void)
{
	char dir[] = "/tmp/pfsecret.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[64], other[64];
	snprintf(path, sizeof path, "%s/tok", dir);
	snprintf(other, sizeof other, "%s/tok2", dir);
	write_text(path, "first\n\n");
	pf_secret s;
	const char *v = NULL;
	CHECK(pf_secret_init(&s, path, NULL) == 0);
	CHECK(pf_secret_get(&s, &v) == 0);
	CHECK_STR(v, "first");
	/* replaced (a new inode, as a Kubernetes secret update): read again */
	write_text(other, "second-token\r\n");
	CHECK(rename(other, path) == 0);
	CHECK(pf_secret_get(&s, &v) == 0);
	CHECK_STR(v, "second-token");
	/* gone: an error, the last value kept */
	unlink(path);
	CHECK(pf_secret_get(&s, &v) == -ENOENT);
	CHECK_STR(v, "second-token");
	pf_secret_free(&s);
	/* a fixed value */
	CHECK(pf_secret_init(&s, NULL, "fixed") == 0);
	CHECK(pf_secret_get(&s, &v) == 0);
	CHECK_STR(v, "fixed");
	pf_secret_free(&s);
	rmdir(dir);
}

int main(void)
{
	test_escape();
	test_urls_v1();
	test_urls_v2();
	test_precision();
	test_classify();
	test_message();
	test_gzip();
	test_gunzip();
	test_secret();
	if (failures) {
		fprintf(stderr, "test_influx: %d failures\n", failures);
		return 1;
	}
	printf("test_influx: ok\n");
	return 0;
}
