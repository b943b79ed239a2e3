/*
 * h1answer.h: an HTTP/1.x answer read as its bytes come.
 *
 * The status line and the headers (up to PF_H1_HEAD_MAX bytes, ended by an
 * empty line, CRLF or bare LF), then the body, framed by chunked transfer
 * coding (extensions and trailers read and dropped), else Content-Length,
 * else the end of the connection (pf_h1_answer_ends_at_eof()); 204, 304
 * and 1xx have none, and a 1xx is skipped for the answer that follows. Of
 * the headers it keeps what a client of InfluxDB needs: Content-Length,
 * Transfer-Encoding, Connection, Retry-After, Location, Content-Type.
 *
 * No I/O and no allocation: h1post.c feeds it what it reads, and
 * tests/fuzz/fuzz_h1answer.c feeds it anything, in any pieces.
 *
 * Ownership: the caller owns the struct (about 17 kB: the head is kept in
 * it while it comes); the callbacks get pointers valid only during the call.
 */
#ifndef PF_H1ANSWER_H
#define PF_H1ANSWER_H

#include <stddef.h>
#include <stdint.h>

#define PF_H1_HEAD_MAX 16384

typedef enum pf_h1_body {
	PF_H1_NONE,      /* no body */
	PF_H1_LENGTH,    /* Content-Length bytes */
	PF_H1_CHUNKED,   /* Transfer-Encoding: chunked */
	PF_H1_CLOSE,     /* up to the end of the connection */
} pf_h1_body;

typedef struct pf_h1_answer {
	/* The final answer's head: set when on_head is called. */
	long status;
	int http10;          /* "HTTP/1.0" */
	int conn_close;      /* Connection: close */
	int keep_alive;      /* Connection: keep-alive */
	pf_h1_body body;
	char reason[64];     /* the reason phrase, cut */
	char retry_after[64];
	char location[1024];
	char ctype[128];
	uint64_t bytes;      /* bytes fed */
	uint64_t body_bytes; /* body bytes handed to on_body (chunk framing not counted) */
	const char *error;   /* after -1: what is wrong, for a log line */
	int bad_head;        /* after -1: 1 the head, 0 the chunk framing */

	/* The reader's own state. */
	char head[PF_H1_HEAD_MAX];
	size_t head_len;
	int in_body;
	uint64_t left;
	int ch, ch_digits;
} pf_h1_answer;

/* Ready for an answer. */
void pf_h1_answer_init(pf_h1_answer *a);

/*
 * Feeds n more bytes of the answer. on_head(ud) is called once the final
 * head is read (after any 1xx), on_body(ud, p, n) with the body's bytes
 * (either may be NULL). Returns 1 when the answer is complete (bytes after
 * its end are left unread), 0 when more is needed, -1 when it is not an
 * HTTP/1.x answer (a->error, a->bad_head say why); after 1 or -1, no more
 * bytes may be fed.
 */
int pf_h1_answer_feed(pf_h1_answer *a, const char *p, size_t n, void (*on_head)(void *ud),
		      void (*on_body)(void *ud, const char *p, size_t n), void *ud);

/* Whether the connection's end completes the answer (a body read up to
 * the end of the connection is under way). */
int pf_h1_answer_ends_at_eof(const pf_h1_answer *a);

#endif
