/*
 * queue.h: the memory buffer of one output: line protocol cut into batches,
 * bounded in bytes, oldest batch dropped when full.
 *
 * Lines come in through pf_queue_append() (one scrape's worth at a time)
 * and fill the open batch; a batch is sealed when one more line would pass
 * batch_lines or batch_bytes, or when the writer's flush interval calls
 * pf_queue_cut(). Sealed batches wait in order; the writer pops the oldest
 * (it is then "in flight"), and answers for it with exactly one of
 * pf_queue_done() (delivered or given up: freed or recycled), pf_queue_requeue() (back
 * to its place at the front, so a retry keeps the order) or
 * pf_queue_split() (a 413: two halves in its place).
 *
 * A batch is an immutable byte buffer of whole lines, each ending in '\n',
 * with its line count: what a disk spool (issue 5/6) writes and reads back
 * as it is. The spool's hook is `evict`: when the limit is passed, the
 * oldest waiting batch is offered to it before it is dropped.
 *
 * The limit counts every byte the queue holds or lent out: waiting
 * batches, the open batch and the batches in flight. Only waiting batches
 * can be dropped, so memory stays below max(limit, the open batch plus
 * the batches in flight); the configuration keeps limit >= batch_bytes.
 *
 * Ownership: the queue owns its batches; a popped batch is lent to the
 * caller until it hands it back with one of the three calls above.
 * Not thread-safe (one loop thread).
 */
#ifndef PF_QUEUE_H
#define PF_QUEUE_H

#include <stddef.h>
#include <stdint.h>

/* A block of a batch made of parts: bytes p[0..n) of a malloc() block of
 * cap bytes, owned by the batch. */
typedef struct pf_part {
	char *p;
	size_t n;
	size_t cap;
} pf_part;

typedef struct pf_batch {
	struct pf_batch *next;  /* the queue's link; do not touch */
	uint64_t seq;           /* creation order ... */
	uint64_t off;           /* ... and byte offset in the original (halves
				 * of a split keep seq): the order key */
	size_t len;             /* bytes of data, whole lines */
	size_t lines;           /* lines (= points) in data */
	size_t cap;             /* bytes allocated for data (>= len; 0 with parts) */
	/* NULL: the bytes are data[0..len). Else they are parts[0..nparts)
	 * one after the other (each whole lines) and data[] is empty: a
	 * scrape's line protocol taken as it is (pf_queue_append_buf()).
	 * Only the writer's send reads parts; everything else that needs the
	 * bytes in one piece calls pf_batch_flat() first. */
	pf_part *parts;
	size_t nparts;
	char data[];
} pf_batch;

/* b with its bytes in data[]: b itself when it has no parts, else a copy
 * in one piece with the same fields, which the caller frees (b is left as
 * it was). NULL when out of memory. */
pf_batch *pf_batch_flat(pf_batch *b);

/* Frees a batch and its parts. NULL: no-op. */
void pf_batch_free(pf_batch *b);

typedef struct pf_queue pf_queue;

typedef struct pf_queue_opts {
	size_t batch_lines;     /* > 0 */
	size_t batch_bytes;     /* > 0; a single longer line is a batch of its own */
	uint64_t limit;         /* bytes held in all (see above); > 0 */
	/* Offered the oldest waiting batch when the limit is passed. Returns 0
	 * when it took the batch (ownership passes), -1 to have it dropped.
	 * NULL: always dropped. */
	int (*evict)(void *ud, pf_batch *b);
	void *ud;
} pf_queue_opts;

typedef struct pf_queue_stats {
	uint64_t bytes;          /* held: waiting + open + in flight */
	uint64_t waiting_bytes;  /* sealed, waiting */
	uint64_t waiting_batches;
	uint64_t waiting_lines;
	uint64_t open_bytes;     /* the batch being filled */
	uint64_t open_lines;
	uint64_t inflight_bytes; /* popped, not handed back */
	uint64_t inflight_batches;
	uint64_t dropped_batches; /* to the limit (oldest first) */
	uint64_t dropped_lines;
	uint64_t evicted_batches; /* taken by evict */
	uint64_t evicted_lines;
} pf_queue_stats;

/* Returns an empty queue, or NULL (bad options, no memory). */
pf_queue *pf_queue_new(const pf_queue_opts *o);

/* Frees the queue and every batch it holds. Batches in flight belong to
 * nobody afterwards: hand them back first, or free() them. NULL: no-op. */
void pf_queue_free(pf_queue *q);

/* Appends n bytes of lines (borrowed for the call). A last line without
 * '\n' gets one. Empty lines are skipped. May seal batches and drop the
 * oldest. lines: 0, or the number of lines when lp is known to be exactly
 * that many non-empty lines each ending in '\n' (what the encoder writes):
 * then, when they all fit the open batch, they go in with one copy and no
 * search for line ends. A wrong count miscounts batches (their line
 * limit, the counters) but loses no byte. Returns 0, or -ENOMEM (lines not
 * appended are lost and counted as dropped). */
int pf_queue_append(pf_queue *q, const char *lp, size_t n, size_t lines);

/* As pf_queue_append(q, out->data, out->len, lines), then empties out;
 * when the lines are counted, end in '\n', fill at least
 * PF_QUEUE_TAKE_MIN bytes and half of out's block, and all fit in the
 * open batch (or in an empty one, when the open batch is at least half
 * full: it is then sealed as it is), the queue takes out's block as a part
 * of the open batch instead of copying it, and gives out another block at
 * least as large (of a delivered batch, or new; or none when out of
 * memory: out then grows anew). out's max is kept. */
#define PF_QUEUE_TAKE_MIN (4u * 1024u)
struct pf_buf;
int pf_queue_append_buf(pf_queue *q, struct pf_buf *out, size_t lines);

/* Seals the open batch, if it holds any line. */
void pf_queue_cut(pf_queue *q);

/* A reload: moves every batch of src that is not in flight (the open one
 * sealed first) to dst, in order, and has dst's later batches ordered after
 * them. dst must hold nothing yet (else -EBUSY, nothing moved); its limit
 * applies at once. Returns 0. src keeps its batches in flight. */
int pf_queue_take(pf_queue *dst, pf_queue *src);

/* The oldest waiting batch, now in flight; NULL when none waits. */
pf_batch *pf_queue_pop(pf_queue *q);

/* Hands back a batch in flight that is finished with (delivered, rejected,
 * dropped by the caller): it is freed, or kept to be filled again (at most
 * two, of about the size a full batch needs; not counted in the limit,
 * freed with the queue); a batch of parts gives its blocks to the ones
 * pf_queue_append_buf() hands out (at most PF_QUEUE_BLOCKS of together
 * at most 2 x batch_bytes, not counted in the limit either). */
#define PF_QUEUE_BLOCKS 16
void pf_queue_done(pf_queue *q, pf_batch *b);

/* Hands back a batch in flight to be sent again: it goes back among the
 * waiting ones at its place by order key (before every newer batch), so
 * the order holds whatever order retries come back in. */
void pf_queue_requeue(pf_queue *q, pf_batch *b);

/* Hands a batch in flight of from to to (which took from's batches with
 * pf_queue_take(), so order keys compare): it waits there at its place. */
void pf_queue_hand_over(pf_queue *from, pf_queue *to, pf_batch *b);

/* Hands back a batch in flight split in two halves by lines (the first
 * half ceil(lines/2)), both waiting at its place (a batch of parts is made
 * one piece first). Returns 0 (b is freed),
 * -EINVAL when b holds a single line, or -ENOMEM (b is still the caller's
 * in either case). */
int pf_queue_split(pf_queue *q, pf_batch *b);

/* Frees every waiting batch and the open one (a shutdown that ran out of
 * time). Returns their lines, which the caller counts: they are not in
 * dropped_*, which is the limit's. */
uint64_t pf_queue_clear(pf_queue *q);

const pf_queue_stats *pf_queue_get_stats(const pf_queue *q);

#endif
