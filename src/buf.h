/*
 * buf.h: a growable byte buffer with a hard size cap.
 *
 * Modelled on curl's dynbuf: every buffer has a maximum; an append that
 * would pass it fails with -E2BIG and leaves the buffer as it was, so a
 * caller can report "body too large" instead of exhausting memory.
 * The buffer owns its storage; pf_buf_free() releases it.
 */
#ifndef PF_BUF_H
#define PF_BUF_H

#include <stddef.h>

typedef struct pf_buf {
	char *data;  /* owned; NUL-terminated when len > 0 (not counted in len) */
	size_t len;
	size_t cap;
	size_t max;  /* hard cap on len */
} pf_buf;

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void pf_buf_init(pf_buf *b, size_t max);

/* Appends n bytes. Returns 0, -ENOMEM, or -E2BIG when max would be passed. */
int pf_buf_append(pf_buf *b, const void *p, size_t n);
int pf_buf_putc(pf_buf *b, char c);
int pf_buf_puts(pf_buf *b, const char *s);

/* Makes room for n more bytes and returns a pointer to them (not yet counted
 * in len: call pf_buf_commit() with what was written), or NULL on failure. */
char *pf_buf_reserve(pf_buf *b, size_t n);
void pf_buf_commit(pf_buf *b, size_t n);

/* Forgets the content, keeps the storage. */
static inline void pf_buf_reset(pf_buf *b) { b->len = 0; }

/* Releases the storage; the buffer is empty and reusable afterwards. */
void pf_buf_free(pf_buf *b);

#endif
