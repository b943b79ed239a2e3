/*
 * fuzz_h1answer.c: libFuzzer target for the HTTP/1.x answer reader
 * (src/h1answer.h), which reads what an InfluxDB output's server sends.
 *
 * Byte 0 sets the piece size (1 to 256 bytes) the rest is fed in, as reads
 * would cut it. Checked beyond "no crash, leak or UB": only the documented
 * results (-1, 0, 1); after -1 an error text; on_head at most once and
 * before any body byte, with a status of 200-599 (1xx skipped); the body
 * bytes handed over add up to body_bytes; and the same bytes fed in one
 * piece give the same outcome (result, status, body, the framing) as in
 * pieces: the reader must not depend on where reads cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1answer.h"

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_h1answer: broken promise: %s\n", what);
	abort();
}

typedef struct run {
	pf_h1_answer a;
	int rc, heads;
	uint64_t body_n, body_hash;
} run;

static void on_head(void *ud)
{
	run *r = ud;
	if (r->heads++)
		broken("on_head twice");
	if (r->body_n)
		broken("body bytes before the head");
	if (r->a.status < 200 || r->a.status > 999)
		broken("a final status outside 200-999");
}

static void on_body(void *ud, const char *p, size_t n)
{
	run *r = ud;
	if (!r->heads)
		broken("body bytes without a head");
	for (size_t i = 0; i < n; i++)
		r->body_hash = (r->body_hash ^ (unsigned char)p[i]) * 1099511628211u;
	r->body_n += n;
}

static void feed(run *r, const uint8_t *d, size_t n, size_t piece)
{
	pf_h1_answer_init(&r->a);
	r->rc = 0;
	r->heads = 0;
	r->body_n = 0;
	r->body_hash = 14695981039346656037u;
	for (size_t i = 0; i < n && r->rc == 0; i += piece) {
		size_t k = n - i < piece ? n - i : piece;
		r->rc = pf_h1_answer_feed(&r->a, (const char *)d + i, k, on_head, on_body, r);
		if (r->rc < -1 || r->rc > 1)
			broken("an undocumented result");
	}
	if (r->rc < 0 && (r->a.error == NULL || r->a.error[0] == '\0'))
		broken("-1 without an error");
	if (r->body_n != r->a.body_bytes)
		broken("body_bytes is not what on_body got");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static run one, many;
	if (size == 0)
		return 0;
	size_t piece = (size_t)data[0] + 1;
	feed(&many, data + 1, size - 1, piece);
	feed(&one, data + 1, size - 1, size);
	if (one.rc != many.rc || one.heads != many.heads || one.body_n != many.body_n ||
	    one.body_hash != many.body_hash)
		broken("the outcome depends on how the bytes were cut");
	if (one.heads && (one.a.status != many.a.status || one.a.body != many.a.body ||
			  one.a.conn_close != many.a.conn_close || strcmp(one.a.retry_after, many.a.retry_after) != 0))
		broken("the head depends on how the bytes were cut");
	if (one.rc > 0 && pf_h1_answer_ends_at_eof(&one.a))
		broken("complete, yet waiting for the end of the connection");
	return 0;
}
