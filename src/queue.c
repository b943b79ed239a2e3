/*
 * queue.c: batches of line protocol for one output (see queue.h).
 *
 * Lines are copied into the open batch in runs (one memcpy per run of
 * lines that fit, not one per line); the only per-line work is the memchr
 * that finds each line's end, which the line count needs anyway, and
 * which a caller that knows the count spares when its lines fit. The
 * waiting batches are a singly linked list in order-key order; a requeued
 * batch is inserted by a walk from the head, which is short because retries
 * go back near the front.
 */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* First capacity of an open batch: most scrapes fit, and a small batch
 * (a few targets, short flush interval) does not reserve batch_bytes. */
#define OPEN_MIN_CAP (64u * 1024u)

/* Delivered batches kept to be filled again. At a high rate every batch
 * fills up (batch_lines or batch_bytes); growing each from OPEN_MIN_CAP by
 * realloc, then freeing it, copied each byte once more and faulted in
 * fresh pages for every batch: about a quarter of the daemon's CPU at
 * 1,000 targets every 5 s (perf; page faults are dear under
 * virtualisation). So a new batch starts at the size the last full one
 * reached, and delivered ones of that size are recycled; two cover the
 * default of two writes in flight. */
#define SPARES 2

struct pf_queue {
	pf_queue_opts o;
	pf_batch *head, *tail;  /* waiting, in order-key order */
	pf_batch *open;         /* being filled; not in the list */
	pf_batch *spare[SPARES]; /* recycled, cap >= full_cap */
	size_t nspare;
	size_t full_cap;        /* what the last batch sealed full needed, plus
				 * 1/8: where a new one starts */
	pf_part blocks[PF_QUEUE_BLOCKS]; /* of delivered batches of parts, for
				 * pf_queue_append_buf() to hand out */
	size_t nblocks;
	size_t blocks_bytes;    /* their cap, at most 2 x batch_bytes */
	int parts_mode;         /* a buffer was taken: new batches are of parts,
				 * so that copies and takes mix in one */
	uint64_t next_seq;
	pf_queue_stats st;
};

static void sync_total(pf_queue *q)
{
	q->st.bytes = q->st.waiting_bytes + q->st.open_bytes + q->st.inflight_bytes;
}

pf_queue *pf_queue_new(const pf_queue_opts *o)
{
	if (!o || o->batch_lines == 0 || o->batch_bytes == 0 || o->limit == 0)
		return NULL;
	pf_queue *q = calloc(1, sizeof *q);
	if (q)
		q->o = *o;
	return q;
}

void pf_queue_free(pf_queue *q)
{
	if (!q)
		return;
	pf_queue_clear(q);
	while (q->nspare > 0)
		free(q->spare[--q->nspare]);
	while (q->nblocks > 0)
		free(q->blocks[--q->nblocks].p);
	free(q);
}

static int key_less(const pf_batch *a, const pf_batch *b)
{
	return a->seq < b->seq || (a->seq == b->seq && a->off < b->off);
}

/* Puts b among the waiting batches at its place by order key. */
static void insert_waiting(pf_queue *q, pf_batch *b)
{
	pf_batch *prev = NULL, *cur = q->head;
	while (cur && key_less(cur, b)) {
		prev = cur;
		cur = cur->next;
	}
	b->next = cur;
	if (prev)
		prev->next = b;
	else
		q->head = b;
	if (!cur)
		q->tail = b;
	q->st.waiting_batches++;
	q->st.waiting_bytes += b->len;
	q->st.waiting_lines += b->lines;
}

static pf_batch *take_head(pf_queue *q)
{
	pf_batch *b = q->head;
	if (!b)
		return NULL;
	q->head = b->next;
	if (!q->head)
		q->tail = NULL;
	b->next = NULL;
	q->st.waiting_batches--;
	q->st.waiting_bytes -= b->len;
	q->st.waiting_lines -= b->lines;
	return b;
}

/* Drops (or hands to evict) the oldest waiting batches while more than
 * the limit is held. */
static void enforce_limit(pf_queue *q)
{
	sync_total(q);
	while (q->st.bytes > q->o.limit && q->head) {
		pf_batch *b = take_head(q);
		size_t lines = b->lines;
		if (q->o.evict && q->o.evict(q->o.ud, b) == 0) {
			q->st.evicted_batches++;
			q->st.evicted_lines += lines;
		} else {
			q->st.dropped_batches++;
			q->st.dropped_lines += lines;
			pf_batch_free(b);
		}
		sync_total(q);
	}
}

/* Seals the open batch: it joins the waiting ones (the newest). full: it
 * is sealed for reaching batch_lines or batch_bytes (not cut by time). */
static void seal(pf_queue *q, int full)
{
	pf_batch *b = q->open;
	if (!b || b->lines == 0)
		return;
	if (full) {
		size_t c = b->len + b->len / 8;
		q->full_cap = c < q->o.batch_bytes ? c : q->o.batch_bytes;
	}
	/* Give back what was reserved beyond a quarter (a batch cut by the
	 * flush interval, mostly): waiting batches are counted by their
	 * length. In place, no copy; a failed shrink keeps the larger block,
	 * which is still correct. */
	if (!b->parts && b->cap - b->len > 4096 && b->cap - b->len > b->cap / 4) {
		pf_batch *s = realloc(b, sizeof *b + b->len);
		if (s) {
			b = s;
			b->cap = b->len;
		}
	}
	/* A batch of parts: a block less than half used (a copy's, mostly;
	 * a taken one is at least half used) gives back the rest, so that a
	 * waiting batch never holds more than twice its length. */
	for (size_t i = 0; b->parts && i < b->nparts; i++) {
		pf_part *pt = &b->parts[i];
		if (pt->cap - pt->n > 4096 && pt->n < pt->cap / 2) {
			char *p = realloc(pt->p, pt->n);
			if (p) {
				pt->p = p;
				pt->cap = pt->n;
			}
		}
	}
	q->open = NULL;
	q->st.open_bytes = 0;
	q->st.open_lines = 0;
	b->seq = q->next_seq++;
	b->off = 0;
	b->next = NULL;
	/* The newest: append at the tail (no walk). */
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->st.waiting_batches++;
	q->st.waiting_bytes += b->len;
	q->st.waiting_lines += b->lines;
}

/* Makes room for `more` data bytes in the open batch (created if needed). */
static int reserve_open(pf_queue *q, size_t more)
{
	size_t used = q->open ? q->open->len : 0;
	if (q->open && q->open->cap - used >= more)
		return 0;
	size_t want = used + more;
	if (!q->open && q->nspare > 0 && want <= q->spare[q->nspare - 1]->cap) {
		pf_batch *b = q->spare[--q->nspare];
		size_t cap = b->cap;
		memset(b, 0, sizeof *b);
		b->cap = cap;
		q->open = b;
		return 0;
	}
	size_t cap = q->open ? q->open->cap : q->full_cap > OPEN_MIN_CAP ? q->full_cap : OPEN_MIN_CAP;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	/* Normal batches never need more than batch_bytes; a single long line
	 * gets exactly its size. */
	if (cap > q->o.batch_bytes && want <= q->o.batch_bytes)
		cap = q->o.batch_bytes;
	if (cap < want)
		cap = want;
	pf_batch *b = realloc(q->open, sizeof *b + cap);
	if (!b)
		return -ENOMEM;
	if (!q->open)
		memset(b, 0, sizeof *b);
	b->cap = cap;
	q->open = b;
	return 0;
}

static size_t count_lines(const char *p, const char *end)
{
	size_t n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;
		if (le - p > 1 || !nl)
			n++;
		p = le;
	}
	return n;
}

/* Copies a run of k lines [s, e) into the open batch, plus the '\n' the
 * input's last line lacked. */
static void put_run(pf_queue *q, const char *s, const char *e, size_t k, int add_nl)
{
	pf_batch *b = q->open;
	size_t n = (size_t)(e - s);
	memcpy(b->data + b->len, s, n);
	if (add_nl)
		b->data[b->len + n++] = '\n';
	b->len += n;
	b->lines += k;
	q->st.open_bytes = b->len;
	q->st.open_lines = b->lines;
}

/* A new open batch of parts, with none yet (parts is never NULL in one). */
static pf_batch *open_parts(pf_queue *q)
{
	pf_batch *b = calloc(1, sizeof *b);
	if (b != NULL && (b->parts = malloc(sizeof *b->parts)) == NULL) {
		free(b);
		b = NULL;
	}
	q->open = b;
	return b;
}

/* put_run() for an open batch of parts: into the last part's spare room
 * when it has enough, else into a new part (a block handed back by a
 * delivered batch, or a new one). Returns 0 or -ENOMEM. */
static int put_run_parts(pf_queue *q, const char *s, const char *e, size_t k, int add_nl)
{
	pf_batch *b = q->open;
	size_t n = (size_t)(e - s), need = n + (size_t)add_nl;
	pf_part *last = b->nparts ? &b->parts[b->nparts - 1] : NULL;
	if (last == NULL || last->cap - last->n < need) {
		pf_part *np = realloc(b->parts, (b->nparts + 1) * sizeof *np);
		if (np == NULL)
			return -ENOMEM;
		b->parts = np;
		size_t cap;
		char *p;
		if (q->nblocks > 0 && q->blocks[q->nblocks - 1].cap >= need) {
			p = q->blocks[--q->nblocks].p;
			cap = q->blocks[q->nblocks].cap;
			q->blocks_bytes -= cap;
		} else {
			cap = need < OPEN_MIN_CAP ? OPEN_MIN_CAP : need;
			if ((p = malloc(cap)) == NULL)
				return -ENOMEM;
		}
		last = &b->parts[b->nparts++];
		*last = (pf_part){ p, 0, cap };
	}
	memcpy(last->p + last->n, s, n);
	if (add_nl)
		last->p[last->n + n] = '\n';
	last->n += need;
	b->len += need;
	b->lines += k;
	q->st.open_bytes = b->len;
	q->st.open_lines = b->lines;
	return 0;
}

/* What the open batch (or a new one) still takes: bytes and lines. */
static void open_room(const pf_queue *q, size_t *bytes, size_t *lines)
{
	size_t used = q->open ? q->open->len : 0, nlines = q->open ? q->open->lines : 0;
	*bytes = q->o.batch_bytes > used ? q->o.batch_bytes - used : 0;
	*lines = q->o.batch_lines - nlines;
}

int pf_queue_append(pf_queue *q, const char *lp, size_t n, size_t lines)
{
	const char *p = lp, *end = lp + n;
	/* Counted by the caller: when they all fit, one run and no memchr
	 * per line (at 1,000 targets most scrapes fit the open batch). */
	int counted = lines > 0 && n > 0 && lp[n - 1] == '\n';
	while (p < end) {
		if (*p == '\n') { /* an empty line: nothing to send */
			p++;
			continue;
		}
		size_t room, lines_room;
		open_room(q, &room, &lines_room);
		const char *s = p;
		size_t k = 0, bytes = 0;
		int add_nl = 0;
		if (counted && p == lp && n <= room && lines <= lines_room) {
			k = lines;
			bytes = n;
			p = end;
		}
		/* Else the longest run of lines that fits the open batch. */
		while (p < end && k < lines_room) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *le = nl ? nl + 1 : end;
			size_t ll = (size_t)(le - p) + (nl ? 0 : 1);
			if (nl && le - p == 1)
				break; /* an empty line ends the run; skipped above */
			if (bytes + ll > room)
				break;
			bytes += ll;
			add_nl = !nl;
			p = le;
			k++;
		}
		if (k == 0) {
			if (q->open && q->open->lines > 0) { /* full: the next line starts a new batch */
				seal(q, 1);
				continue;
			}
			/* An empty batch and no room: a line longer than
			 * batch_bytes. It travels alone (a 413 then drops it). */
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *le = nl ? nl + 1 : end;
			bytes = (size_t)(le - p) + (nl ? 0 : 1);
			add_nl = !nl;
			p = le;
			k = 1;
		}
		if (q->open == NULL && q->parts_mode)
			(void)open_parts(q); /* else one piece, as before */
		int rc = q->open && q->open->parts ? put_run_parts(q, s, p, k, add_nl) : reserve_open(q, bytes);
		if (rc < 0) {
			size_t lost = k + count_lines(p, end);
			q->st.dropped_lines += lost;
			enforce_limit(q);
			return -ENOMEM;
		}
		if (!q->open->parts)
			put_run(q, s, p, k, add_nl);
		if (q->open->lines >= q->o.batch_lines || q->open->len >= q->o.batch_bytes)
			seal(q, 1);
		enforce_limit(q);
	}
	sync_total(q);
	return 0;
}

void pf_queue_cut(pf_queue *q)
{
	seal(q, 0);
	sync_total(q);
}

int pf_queue_take(pf_queue *dst, pf_queue *src)
{
	if (dst->head || (dst->open && dst->open->lines) || dst->st.inflight_batches)
		return -EBUSY;
	seal(src, 0);
	pf_batch *b;
	while ((b = take_head(src)) != NULL)
		insert_waiting(dst, b); /* in order: each goes to the tail */
	if (dst->next_seq < src->next_seq)
		dst->next_seq = src->next_seq;
	sync_total(src);
	enforce_limit(dst);
	return 0;
}

pf_batch *pf_queue_pop(pf_queue *q)
{
	pf_batch *b = take_head(q);
	if (b) {
		q->st.inflight_batches++;
		q->st.inflight_bytes += b->len;
	}
	sync_total(q);
	return b;
}

static void lent_back(pf_queue *q, const pf_batch *b)
{
	q->st.inflight_batches--;
	q->st.inflight_bytes -= b->len;
}

/* Keeps an empty batch in one piece to be filled again, if it is of
 * about the size a full batch needs now (a larger line mix makes the next
 * grow once, in place when it can) and there is room; else frees it. */
static void keep_spare(pf_queue *q, pf_batch *b)
{
	if (q->full_cap > 0 && b->cap >= q->full_cap - q->full_cap / 4 && b->cap <= q->o.batch_bytes &&
	    q->nspare < SPARES)
		q->spare[q->nspare++] = b;
	else
		free(b);
}

void pf_queue_done(pf_queue *q, pf_batch *b)
{
	lent_back(q, b);
	if (b->parts) {
		/* The blocks go back to the scrapes, as many as the bounds keep. */
		for (size_t i = 0; i < b->nparts; i++) {
			pf_part *pt = &b->parts[i];
			if (q->nblocks < PF_QUEUE_BLOCKS && pt->cap >= PF_QUEUE_TAKE_MIN &&
			    q->blocks_bytes + pt->cap <= 2 * q->o.batch_bytes) {
				q->blocks[q->nblocks++] = (pf_part){ pt->p, 0, pt->cap };
				q->blocks_bytes += pt->cap;
				pt->p = NULL;
			}
		}
		pf_batch_free(b);
		sync_total(q);
		return;
	}
	keep_spare(q, b);
	sync_total(q);
}

void pf_queue_requeue(pf_queue *q, pf_batch *b)
{
	lent_back(q, b);
	insert_waiting(q, b);
	/* A requeued batch may put the total over a limit that scrapes
	 * reached while it was away. */
	enforce_limit(q);
}

void pf_queue_hand_over(pf_queue *from, pf_queue *to, pf_batch *b)
{
	lent_back(from, b);
	sync_total(from);
	insert_waiting(to, b);
	enforce_limit(to);
}

int pf_queue_split(pf_queue *q, pf_batch *b)
{
	if (b->lines < 2)
		return -EINVAL;
	pf_batch *whole = b;
	if (b->parts && (b = pf_batch_flat(whole)) == NULL)
		return -ENOMEM;
	size_t want = (b->lines + 1) / 2, seen = 0, cut = 0;
	while (seen < want) {
		const char *nl = memchr(b->data + cut, '\n', b->len - cut);
		cut = (size_t)(nl - b->data) + 1;
		seen++;
	}
	pf_batch *x = malloc(sizeof *x + cut);
	pf_batch *y = malloc(sizeof *y + (b->len - cut));
	if (!x || !y) {
		free(x);
		free(y);
		if (b != whole)
			free(b);
		return -ENOMEM;
	}
	*x = (pf_batch){ .seq = b->seq, .off = b->off, .len = cut, .lines = want, .cap = cut };
	*y = (pf_batch){ .seq = b->seq, .off = b->off + cut, .len = b->len - cut, .lines = b->lines - want,
			 .cap = b->len - cut };
	memcpy(x->data, b->data, cut);
	memcpy(y->data, b->data + cut, b->len - cut);
	lent_back(q, whole);
	if (b != whole)
		free(b);
	pf_batch_free(whole);
	insert_waiting(q, x);
	insert_waiting(q, y);
	sync_total(q);
	return 0;
}

uint64_t pf_queue_clear(pf_queue *q)
{
	uint64_t lines = 0;
	pf_batch *b;
	while ((b = take_head(q)) != NULL) {
		lines += b->lines;
		pf_batch_free(b);
	}
	if (q->open) {
		lines += q->open->lines;
		pf_batch_free(q->open);
		q->open = NULL;
		q->st.open_bytes = 0;
		q->st.open_lines = 0;
	}
	sync_total(q);
	return lines;
}

const pf_queue_stats *pf_queue_get_stats(const pf_queue *q)
{
	return &q->st;
}

pf_batch *pf_batch_flat(pf_batch *b)
{
	if (b->parts == NULL)
		return b;
	pf_batch *f = malloc(sizeof *f + (b->len ? b->len : 1));
	if (f == NULL)
		return NULL;
	*f = *b;
	f->parts = NULL;
	f->nparts = 0;
	f->cap = b->len;
	size_t off = 0;
	for (size_t i = 0; i < b->nparts; i++) {
		memcpy(f->data + off, b->parts[i].p, b->parts[i].n);
		off += b->parts[i].n;
	}
	return f;
}

void pf_batch_free(pf_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nparts; i++)
		free(b->parts[i].p);
	free(b->parts);
	free(b);
}

/* Whether out's lines are worth taking rather than copying (see
 * pf_queue_append_buf()). */
static int worth_taking(const pf_buf *out, size_t lines)
{
	return lines > 0 && out->len >= PF_QUEUE_TAKE_MIN && out->len >= out->cap / 2 &&
	       out->data[out->len - 1] == '\n';
}

/* Whether n bytes of lines fit the open batch (or a new one) as a part: a
 * batch in one piece that holds lines stays so. */
static int fits_as_part(const pf_queue *q, size_t n, size_t lines)
{
	if (q->open && q->open->lines > 0 && q->open->parts == NULL)
		return 0;
	size_t room, lines_room;
	open_room(q, &room, &lines_room);
	return n <= room && lines <= lines_room;
}

/* A buffer worth taking that does not fit the open batch of parts but
 * fits an empty one, when the open batch is at least half full (in lines
 * or bytes): the open batch is sealed as it is, and the buffer starts the
 * next, instead of being copied line by line across the two (one scrape
 * in five at 1,000 targets: 2% of the daemon's CPU). A batch sealed so
 * holds whole scrapes and at least half its limit. Returns whether it
 * sealed. */
static int seal_early(pf_queue *q, size_t n, size_t lines)
{
	const pf_batch *b = q->open;
	if (b == NULL || b->parts == NULL || n > q->o.batch_bytes || lines > q->o.batch_lines)
		return 0;
	if (b->lines < q->o.batch_lines / 2 && b->len < q->o.batch_bytes / 2)
		return 0;
	seal(q, 1);
	return 1;
}

int pf_queue_append_buf(pf_queue *q, pf_buf *out, size_t lines)
{
	int worth = worth_taking(out, lines);
	if (worth)
		q->parts_mode = 1; /* batches of parts from now on */
	if (!worth || (!fits_as_part(q, out->len, lines) && !seal_early(q, out->len, lines)))
		goto copy;
	pf_batch *b = q->open;
	if (b != NULL && b->parts == NULL) {
		keep_spare(q, b); /* empty, in one piece */
		q->open = b = NULL;
	}
	if (b == NULL && (b = open_parts(q)) == NULL)
		goto copy;
	pf_part *np = realloc(b->parts, (b->nparts + 1) * sizeof *np);
	if (np == NULL)
		goto copy;
	b->parts = np;
	b->parts[b->nparts++] = (pf_part){ out->data, out->len, out->cap };
	b->len += out->len;
	b->lines += lines;
	q->st.open_bytes = b->len;
	q->st.open_lines = b->lines;
	/* out gets a block at least as large as the one taken (the next
	 * scrape would otherwise grow it again, copying as it grows): a
	 * delivered batch's, or a new one. */
	size_t want = out->cap;
	out->data = NULL;
	out->cap = 0;
	out->len = 0;
	for (size_t i = q->nblocks; i-- > 0;) {
		if (q->blocks[i].cap >= want) {
			out->data = q->blocks[i].p;
			out->cap = q->blocks[i].cap;
			q->blocks_bytes -= out->cap;
			q->blocks[i] = q->blocks[--q->nblocks];
			break;
		}
	}
	if (out->data == NULL && (out->data = malloc(want)) != NULL)
		out->cap = want;
	if (b->lines >= q->o.batch_lines || b->len >= q->o.batch_bytes)
		seal(q, 1);
	enforce_limit(q);
	return 0;
copy:
	{
		int rc = pf_queue_append(q, out->data, out->len, lines);
		pf_buf_reset(out);
		return rc;
	}
}
