/*
 * h1answer.c: an HTTP/1.x answer read as its bytes come (see h1answer.h).
 */
#include "h1answer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum chunk_state { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };

void pf_h1_answer_init(pf_h1_answer *a)
{
	a->status = 0;
	a->http10 = a->conn_close = a->keep_alive = 0;
	a->body = PF_H1_NONE;
	a->reason[0] = a->retry_after[0] = a->location[0] = a->ctype[0] = '\0';
	a->bytes = a->body_bytes = 0;
	a->error = NULL;
	a->bad_head = 0;
	a->head_len = 0;
	a->in_body = 0;
	a->left = 0;
	a->ch = CH_SIZE;
	a->ch_digits = 0;
}

int pf_h1_answer_ends_at_eof(const pf_h1_answer *a)
{
	return a->in_body && a->body == PF_H1_CLOSE;
}

static int ieq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	return an == bn && strncasecmp(a, b, an) == 0;
}

/* Copies v[0..n) without its blanks at either end into dst (cap). */
static void keep(char *dst, size_t cap, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Whether the comma-separated list s has the token t (any case). */
static int has_token(const char *s, const char *t)
{
	size_t tn = strlen(t);
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		size_t n = strcspn(s, ", \t");
		if (n == tn && strncasecmp(s, t, n) == 0)
			return 1;
		s += n;
	}
	return 0;
}

/* Parses a->head[0..head_len) (a whole head, '\0'-terminated). Returns 0
 * or -1 (a->error set). */
static int parse_head(pf_h1_answer *a)
{
	char *s = a->head, *end = s + a->head_len;
	char *eol = memchr(s, '\n', (size_t)(end - s));
	if (!eol || eol - s < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ') {
		a->error = "not an HTTP/1.x answer";
		return -1;
	}
	a->http10 = s[7] == '0';
	const char *st = s + 9;
	if (st[0] < '1' || st[0] > '9' || st[1] < '0' || st[1] > '9' || st[2] < '0' || st[2] > '9' ||
	    (st[3] != ' ' && st[3] != '\r' && st[3] != '\n')) {
		a->error = "not an HTTP/1.x answer: a bad status code";
		return -1;
	}
	a->status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
	keep(a->reason, sizeof a->reason, st + 3, (size_t)(eol - st - 3));
	a->conn_close = a->keep_alive = 0;
	a->retry_after[0] = a->location[0] = a->ctype[0] = '\0';
	int chunked = 0, have_len = 0;
	uint64_t len = 0;
	for (char *l = eol + 1; l < end;) {
		char *le = memchr(l, '\n', (size_t)(end - l));
		if (!le)
			break;
		char *c = memchr(l, ':', (size_t)(le - l));
		if (c) {
			size_t nl = (size_t)(c - l);
			const char *v = c + 1;
			size_t vn = (size_t)(le - v);
			char tmp[128];
			if (ieq(l, nl, "content-length")) {
				keep(tmp, sizeof tmp, v, vn);
				char *e;
				errno = 0;
				unsigned long long x = strtoull(tmp, &e, 10);
				if (tmp[0] < '0' || tmp[0] > '9' || *e != '\0' || errno != 0 ||
				    (have_len && x != len)) {
					a->error = "not an HTTP/1.x answer: a bad Content-Length";
					return -1;
				}
				len = x;
				have_len = 1;
			} else if (ieq(l, nl, "transfer-encoding")) {
				keep(tmp, sizeof tmp, v, vn);
				size_t tl = strlen(tmp);
				chunked = tl >= 7 && strcasecmp(tmp + tl - 7, "chunked") == 0;
			} else if (ieq(l, nl, "connection")) {
				keep(tmp, sizeof tmp, v, vn);
				a->conn_close |= has_token(tmp, "close");
				a->keep_alive |= has_token(tmp, "keep-alive");
			} else if (ieq(l, nl, "retry-after")) {
				keep(a->retry_after, sizeof a->retry_after, v, vn);
			} else if (ieq(l, nl, "location")) {
				keep(a->location, sizeof a->location, v, vn);
			} else if (ieq(l, nl, "content-type")) {
				keep(a->ctype, sizeof a->ctype, v, vn);
			}
		}
		l = le + 1;
	}
	if (a->status == 204 || a->status == 304 || a->status < 200)
		a->body = PF_H1_NONE;
	else if (chunked)
		a->body = PF_H1_CHUNKED;
	else if (have_len)
		a->body = len ? PF_H1_LENGTH : PF_H1_NONE;
	else
		a->body = PF_H1_CLOSE;
	a->left = len;
	a->ch = CH_SIZE;
	a->ch_digits = 0;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void body(pf_h1_answer *a, const char *p, size_t n, void (*on_body)(void *, const char *, size_t),
		 void *ud)
{
	a->body_bytes += n;
	if (on_body && n)
		on_body(ud, p, n);
}

/* Up to a->left body bytes of *p (n of them), handed over and passed;
 * returns what is left of a->left. */
static uint64_t take_left(pf_h1_answer *a, const char **p, size_t *n, void (*on_body)(void *, const char *, size_t),
			  void *ud)
{
	size_t take = *n < a->left ? *n : (size_t)a->left;
	body(a, *p, take, on_body, ud);
	*p += take;
	*n -= take;
	a->left -= take;
	return a->left;
}

/* The chunked body's bytes. Returns 1 at its end, 0 for more, -1. */
static int chunked(pf_h1_answer *a, const char **pp, size_t *np, void (*on_body)(void *, const char *, size_t),
		   void *ud)
{
	const char *p = *pp;
	size_t n = *np;
	int ret = 0;
	while (n > 0 && ret == 0) {
		if (a->ch == CH_DATA) {
			if (take_left(a, &p, &n, on_body, ud) == 0)
				a->ch = CH_DATA_CR;
			continue;
		}
		char ch = *p++;
		n--;
		switch (a->ch) {
		case CH_SIZE:
			if (hexval(ch) >= 0 && a->ch_digits < 15) {
				a->left = a->left * 16 + (uint64_t)hexval(ch);
				a->ch_digits++;
			} else if (a->ch_digits == 0) {
				ret = -1;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				a->ch = CH_EXT;
			} else if (ch == '\r') {
				a->ch = CH_SIZE_LF;
			} else if (ch == '\n') {
				a->ch = a->left ? CH_DATA : CH_TRAILER;
				a->head_len = 0;
			} else {
				ret = -1;
			}
			break;
		case CH_EXT:
		case CH_SIZE_LF:
			if (ch == '\n') {
				a->ch = a->left ? CH_DATA : CH_TRAILER;
				a->head_len = 0; /* counts a trailer line's bytes */
			} else if (a->ch == CH_SIZE_LF) {
				ret = -1;
			}
			break;
		case CH_DATA_CR:
		case CH_DATA_LF:
			/* CRLF, or a bare LF, after a chunk's data. */
			if (ch == '\r' && a->ch == CH_DATA_CR) {
				a->ch = CH_DATA_LF;
			} else if (ch == '\n') {
				a->ch = CH_SIZE;
				a->ch_digits = 0;
				a->left = 0;
			} else {
				ret = -1;
			}
			break;
		case CH_TRAILER:
			/* Lines up to an empty one. */
			if (ch == '\n') {
				if (a->head_len == 0)
					ret = 1;
				a->head_len = 0;
			} else if (ch != '\r') {
				a->head_len++;
			}
			break;
		default:
			break;
		}
	}
	if (ret < 0) {
		a->error = "a malformed chunk in the answer";
		a->bad_head = 0;
	}
	*pp = p;
	*np = n;
	return ret;
}

int pf_h1_answer_feed(pf_h1_answer *a, const char *p, size_t n, void (*on_head)(void *ud),
		      void (*on_body)(void *ud, const char *p, size_t n), void *ud)
{
	a->bytes += n;
	while (n > 0) {
		if (!a->in_body) {
			size_t room = sizeof a->head - 1 - a->head_len;
			int whole = 0;
			/* Up to the empty line that ends the head. */
			while (n > 0 && room > 0) {
				char ch = *p++;
				n--;
				room--;
				a->head[a->head_len++] = ch;
				if (ch == '\n' && a->head_len >= 2 &&
				    (a->head[a->head_len - 2] == '\n' ||
				     (a->head_len >= 3 && a->head[a->head_len - 2] == '\r' &&
				      a->head[a->head_len - 3] == '\n'))) {
					whole = 1;
					break;
				}
			}
			if (!whole) {
				if (room > 0)
					return 0;
				a->error = "the answer's head is over 16 KiB";
				a->bad_head = 1;
				return -1;
			}
			a->head[a->head_len] = '\0';
			if (parse_head(a) != 0) {
				a->bad_head = 1;
				return -1;
			}
			a->head_len = 0;
			if (a->status < 200)
				continue; /* 1xx: the answer follows */
			if (on_head)
				on_head(ud);
			if (a->body == PF_H1_NONE)
				return 1;
			a->in_body = 1;
			continue;
		}
		switch (a->body) {
		case PF_H1_LENGTH:
			if (take_left(a, &p, &n, on_body, ud) == 0)
				return 1;
			break;
		case PF_H1_CLOSE:
			body(a, p, n, on_body, ud);
			n = 0;
			break;
		case PF_H1_CHUNKED: {
			int rc = chunked(a, &p, &n, on_body, ud);
			if (rc != 0)
				return rc;
			break;
		}
		case PF_H1_NONE:
			return 1;
		}
	}
	return 0;
}
