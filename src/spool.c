/*
 * spool.c: the disk spool of one output (see spool.h for the format, the
 * cursor and what a crash costs).
 *
 * In memory the spool is the list of its segments, oldest first, with per
 * segment its size, records, lines and data bytes (from the scan at open,
 * then kept up to date), and a read position inside the oldest segment.
 * The newest segment may be open for appending (wfd); the oldest is open for
 * reading (rfd). Only the record at the read position ("the head") has its
 * header in memory: records are never held, each peek reads one from disk.
 *
 * Ownership: the spool owns its file descriptors and the segment list;
 * batches returned by pf_spool_peek() are the caller's.
 */
#define _GNU_SOURCE /* O_DIRECTORY, O_CLOEXEC, flock, fdatasync, pwritev */

#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SEG_HDR 16u
#define REC_HDR 40u
#define CUR_SLOT 32u
#define CUR_SLOT_OFF 512u
#define SEG_MAGIC 0x47534650u /* "PFSG" little-endian */
#define REC_MAGIC 0x43524650u /* "PFRC" */
#define CUR_MAGIC 0x55434650u /* "PFCU" */
#define VERSION 1u
#define SEG_NAME_LEN 20 /* 16 hex digits + ".seg" */
#define CURSOR_NAME "cursor"
#define SCAN_CHUNK (64u << 10)

struct seg {
	uint64_t id;       /* = the seq of its first record, and its name */
	uint64_t size;     /* valid bytes; the file is this long */
	uint64_t nrecs;
	uint64_t lines;
	uint64_t data;     /* data bytes of its records */
	uint64_t last_seq;
};

struct rec {
	uint32_t len;
	uint64_t seq;
	uint64_t lines;
	uint64_t time_ms;
	uint32_t dcrc;
};

struct pf_spool {
	char *dir;
	char *kv;          /* "spool=DIR" for pf_log */
	int dfd;           /* the directory, flocked */
	int cfd;           /* the cursor; -1 until the first ack creates it */
	int wfd;           /* the newest segment, appended to; -1: none */
	int rfd;           /* the oldest segment, read; -1: not open yet */
	uint64_t max_bytes;
	uint64_t seg_bytes;
	enum pf_spool_fsync fsync;
	void (*log)(void *ud, enum pf_log_level lvl, const char *msg);
	void *log_ud;

	struct seg *segs;
	size_t nsegs, capsegs;

	/* Read position in segs[0] and what lies before it (acked). */
	uint64_t rd_off, rd_recs, rd_lines, rd_data;
	int head_ok;       /* head holds the header at rd_off */
	struct rec head;
	int peeked;        /* the head was returned by peek and not yet acked */
	int stale;         /* ... and was dropped to the bound since */

	uint64_t next_seq;
	uint64_t acked_seq;
	uint64_t cursor_gen;
	int dirty_seg, dirty_cursor, dirty_dir;

	pf_spool_stats st;
};

/* ---- little helpers ---------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t crc(const void *p, size_t n)
{
	return libdeflate_crc32(0, p, n);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void seg_name(char out[SEG_NAME_LEN + 1], uint64_t id)
{
	snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", id);
}

/* 1 and *id when name is a segment's name. */
static int parse_seg_name(const char *name, uint64_t *id)
{
	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return 0;
		v = v << 4 | d;
	}
	*id = v;
	return 1;
}

static void report(pf_spool *s, enum pf_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(pf_spool *s, enum pf_log_level lvl, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s->log)
		s->log(s->log_ud, lvl, msg);
	else
		pf_log(lvl, s->kv, "%s", msg);
}

/* Reads up to n bytes at off: the count read (short only at end of file)
 * or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Writes all of iov[0..n) at off. Returns 0 or -errno. A write that makes
 * no progress without an error (it should not happen) is -EIO. */
static int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwritev(fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		size_t left = (size_t)r;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static void encode_rec(unsigned char h[REC_HDR], const struct rec *r)
{
	put32(h, REC_MAGIC);
	put32(h + 4, r->len);
	put64(h + 8, r->seq);
	put64(h + 16, r->lines);
	put64(h + 24, r->time_ms);
	put32(h + 32, r->dcrc);
	put32(h + 36, crc(h, 36));
}

/* NULL when h is a well-formed record header, else why not. */
static const char *decode_rec(const unsigned char h[REC_HDR], struct rec *r)
{
	if (get32(h) != REC_MAGIC)
		return "bad record magic";
	if (get32(h + 36) != crc(h, 36))
		return "record header checksum mismatch";
	r->len = get32(h + 4);
	r->seq = get64(h + 8);
	r->lines = get64(h + 16);
	r->time_ms = get64(h + 24);
	r->dcrc = get32(h + 32);
	if (r->len == 0)
		return "empty record";
	return NULL;
}

/* Checks a record's data against its header: NULL or why not. */
static const char *check_data(const struct rec *r, uint32_t dcrc, uint64_t nl, unsigned char last)
{
	if (dcrc != r->dcrc)
		return "record data checksum mismatch";
	if (last != '\n')
		return "record data does not end in a newline";
	if (nl != r->lines)
		return "record line count does not match its data";
	return NULL;
}

static uint64_t count_nl(const unsigned char *p, size_t n)
{
	uint64_t c = 0;
	const unsigned char *e = p + n;
	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

/* Reads a record's data in chunks and checks it: NULL, why not, or sets
 * *ioerr to -errno. */
static const char *scan_data(int fd, uint64_t off, const struct rec *r, unsigned char *buf, int *ioerr)
{
	uint32_t c = 0;
	uint64_t nl = 0;
	unsigned char last = 0;
	uint64_t left = r->len;
	while (left > 0) {
		size_t n = left < SCAN_CHUNK ? (size_t)left : SCAN_CHUNK;
		ssize_t got = pread_full(fd, buf, n, off);
		if (got < 0) {
			*ioerr = (int)got;
			return "read error";
		}
		if ((size_t)got < n)
			return "record data shorter than its length";
		c = libdeflate_crc32(c, buf, n);
		nl += count_nl(buf, n);
		last = buf[n - 1];
		off += n;
		left -= n;
	}
	return check_data(r, c, nl, last);
}

static void update_pending(pf_spool *s)
{
	if (s->st.pending_records == 0)
		s->st.oldest_ms = 0;
}

/* ---- segments ---------------------------------------------------------- */

static int push_seg(pf_spool *s, const struct seg *g)
{
	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? s->capsegs * 2 : 8;
		struct seg *n = realloc(s->segs, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		s->segs = n;
		s->capsegs = cap;
	}
	s->segs[s->nsegs++] = *g;
	s->st.segments = s->nsegs;
	s->st.bytes += g->size;
	return 0;
}

static void unlink_seg(pf_spool *s, uint64_t id)
{
	char name[SEG_NAME_LEN + 1];
	seg_name(name, id);
	if (unlinkat(s->dfd, name, 0) != 0 && errno != ENOENT)
		report(s, PF_LOG_ERROR, "cannot delete %s/%s: %s", s->dir, name, strerror(errno));
	s->dirty_dir = 1;
}

/* Removes the oldest segment from disk and memory; the pending counters of
 * what it still held are the caller's to settle. */
static void remove_seg0(pf_spool *s)
{
	struct seg *g = &s->segs[0];
	if (s->rfd >= 0) {
		close(s->rfd);
		s->rfd = -1;
	}
	if (s->nsegs == 1 && s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
		s->dirty_seg = 0;
	}
	unlink_seg(s, g->id);
	s->st.bytes -= g->size;
	memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
	s->nsegs--;
	s->st.segments = s->nsegs;
	s->rd_off = SEG_HDR;
	s->rd_recs = s->rd_lines = s->rd_data = 0;
	s->head_ok = 0;
}

/* What segs[0] still holds past the read position, off the pending counts. */
static void unpend_seg0(pf_spool *s, uint64_t *recs, uint64_t *lines)
{
	const struct seg *g = &s->segs[0];
	*recs = g->nrecs - s->rd_recs;
	*lines = g->lines - s->rd_lines;
	s->st.pending_records -= *recs;
	s->st.pending_lines -= *lines;
	s->st.pending_bytes -= g->data - s->rd_data;
	update_pending(s);
}

/* The bound: the oldest segment goes, counted and logged. */
static void drop_oldest(pf_spool *s)
{
	uint64_t recs, lines, id = s->segs[0].id;
	unpend_seg0(s, &recs, &lines);
	if (s->peeked) {
		s->peeked = 0;
		s->stale = 1;
	}
	s->st.dropped_records += recs;
	s->st.dropped_lines += lines;
	s->st.dropped_segments++;
	report(s, PF_LOG_WARN,
	       "spool full (max_bytes %" PRIu64 "): dropped the oldest segment %016" PRIx64
	       ".seg, %" PRIu64 " batches, %" PRIu64 " lines",
	       s->max_bytes, id, recs, lines);
	remove_seg0(s);
}

/* A corrupt record at the read position: the rest of segs[0] is skipped. */
static void skip_rest(pf_spool *s, const char *why)
{
	uint64_t recs, lines, off = s->rd_off, bytes = s->segs[0].size - s->rd_off, id = s->segs[0].id;
	unpend_seg0(s, &recs, &lines);
	s->st.corrupt_cuts++;
	s->st.corrupt_bytes += bytes;
	s->st.corrupt_records += recs;
	s->st.corrupt_lines += lines;
	report(s, PF_LOG_ERROR,
	       "corrupt record in %s/%016" PRIx64 ".seg at offset %" PRIu64 " (%s): skipped the rest of "
	       "the segment, %" PRIu64 " bytes, %" PRIu64 " batches, %" PRIu64 " lines",
	       s->dir, id, off, why, bytes, recs, lines);
	remove_seg0(s);
}

/* Makes head the header at the read position, deleting segments that hold
 * nothing pending and skipping corrupt ones. Returns 0 (head_ok, or nothing
 * pending) or -errno (a read failed; try again later). */
static int load_head(pf_spool *s)
{
	while (!s->head_ok && s->nsegs > 0) {
		struct seg *g = &s->segs[0];
		if (s->rd_off >= g->size) {
			remove_seg0(s);
			continue;
		}
		if (s->rfd < 0) {
			char name[SEG_NAME_LEN + 1];
			seg_name(name, g->id);
			s->rfd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
			if (s->rfd < 0) {
				if (errno == ENOENT) {
					skip_rest(s, "segment file vanished");
					continue;
				}
				return -errno;
			}
		}
		unsigned char h[REC_HDR];
		ssize_t got = pread_full(s->rfd, h, REC_HDR, s->rd_off);
		if (got < 0)
			return (int)got;
		const char *why = (size_t)got < REC_HDR ? "record header past the end of the file"
							: decode_rec(h, &s->head);
		if (!why && s->head.seq <= s->acked_seq)
			why = "record sequence number not above the acked one";
		if (!why && REC_HDR + (uint64_t)s->head.len > g->size - s->rd_off)
			why = "record data past the end of the segment";
		if (why) {
			skip_rest(s, why);
			continue;
		}
		s->head_ok = 1;
		s->st.oldest_ms = s->head.time_ms;
	}
	update_pending(s);
	return 0;
}

/* ---- cursor ------------------------------------------------------------ */

static void read_cursor(pf_spool *s)
{
	int fd = openat(s->dfd, CURSOR_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			report(s, PF_LOG_WARN, "cannot open %s/" CURSOR_NAME ": %s; every record is replayed",
			       s->dir, strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		report(s, PF_LOG_WARN, "%s/" CURSOR_NAME " is not a regular file; every record is replayed",
		       s->dir);
		close(fd);
		return;
	}
	unsigned char b[CUR_SLOT_OFF + CUR_SLOT];
	memset(b, 0, sizeof b);
	ssize_t got = pread_full(fd, b, sizeof b, 0);
	int found = 0;
	for (unsigned i = 0; got > 0 && i < 2; i++) {
		const unsigned char *p = b + i * CUR_SLOT_OFF;
		if (get32(p) != CUR_MAGIC || get32(p + 4) != VERSION || get32(p + 24) != crc(p, 24))
			continue;
		uint64_t gen = get64(p + 8);
		if (!found || gen > s->cursor_gen) {
			s->cursor_gen = gen;
			s->acked_seq = get64(p + 16);
		}
		found = 1;
	}
	if (!found && st.st_size > 0)
		report(s, PF_LOG_WARN,
		       "%s/" CURSOR_NAME " holds no valid position; every record is replayed (some may be "
		       "sent twice)",
		       s->dir);
	s->cfd = fd;
}

static int write_cursor(pf_spool *s)
{
	if (s->cfd < 0) {
		s->cfd = openat(s->dfd, CURSOR_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (s->cfd < 0)
			return -errno;
		s->dirty_dir = 1;
	}
	unsigned char p[CUR_SLOT];
	uint64_t gen = s->cursor_gen + 1;
	put32(p, CUR_MAGIC);
	put32(p + 4, VERSION);
	put64(p + 8, gen);
	put64(p + 16, s->acked_seq);
	put32(p + 24, crc(p, 24));
	put32(p + 28, 0);
	struct iovec iov = { p, sizeof p };
	int r = pwritev_full(s->cfd, &iov, 1, (gen & 1) * CUR_SLOT_OFF);
	if (r < 0)
		return r;
	s->cursor_gen = gen;
	if (s->fsync == PF_SPOOL_FSYNC_BATCH) {
		if (fdatasync(s->cfd) != 0)
			return -errno;
		if (s->dirty_dir) {
			if (fsync(s->dfd) != 0)
				return -errno;
			s->dirty_dir = 0;
		}
	} else {
		s->dirty_cursor = 1;
	}
	return 0;
}

/* ---- open -------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists the segment ids in DIR, sorted. Returns 0 or -errno. */
static int list_segs(pf_spool *s, uint64_t **ids, size_t *n)
{
	int fd = dup(s->dfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	rewinddir(d);
	size_t cap = 0;
	*ids = NULL;
	*n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t id;
		if (!parse_seg_name(e->d_name, &id))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *m = realloc(*ids, cap * sizeof *m);
			if (!m) {
				closedir(d);
				return -ENOMEM;
			}
			*ids = m;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof **ids, cmp_id);
	return 0;
}

/* Scans one segment: checks it, cuts it at its first bad record, and adds
 * it to the list when it holds anything pending. *prev_seq is the last
 * seq seen so far; full: check the data too (the last segment). Returns 0
 * or -errno (open fails). On success *fdp is the segment opened for
 * writing when it was kept and is_last, else -1. */
static int scan_seg(pf_spool *s, uint64_t id, int full, uint64_t *prev_seq, unsigned char *buf, int *fdp)
{
	char name[SEG_NAME_LEN + 1];
	seg_name(name, id);
	*fdp = -1;
	int fd = openat(s->dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		/* A symlink, a directory, a fifo or so: not ours, left alone. */
		if (errno == ELOOP || errno == EISDIR || errno == ENXIO)
			return 0;
		return -errno;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	uint64_t size = (uint64_t)st.st_size;
	unsigned char h[REC_HDR];
	ssize_t got = pread_full(fd, h, SEG_HDR, 0);
	if (got < 0) {
		close(fd);
		return (int)got;
	}
	if ((size_t)got < SEG_HDR || get32(h) != SEG_MAGIC || get32(h + 4) != VERSION || get64(h + 8) != id) {
		/* Named like ours, unreadable as ours: most likely a crash between
		 * creating the file and writing its header. */
		if (size > 0) {
			s->st.corrupt_cuts++;
			s->st.corrupt_bytes += size;
			report(s, PF_LOG_WARN, "deleted %s/%s: %s (%" PRIu64 " bytes)", s->dir, name,
			       (size_t)got < SEG_HDR ? "shorter than a segment header" : "bad segment header",
			       size);
		}
		close(fd);
		unlink_seg(s, id);
		return 0;
	}

	struct seg g = { .id = id, .size = SEG_HDR };
	uint64_t acked_off = SEG_HDR, acked_recs = 0, acked_lines = 0, acked_data = 0;
	const char *why = NULL;
	while (g.size < size) {
		struct rec r;
		got = pread_full(fd, h, REC_HDR, g.size);
		if (got < 0) {
			close(fd);
			return (int)got;
		}
		if ((size_t)got < REC_HDR) {
			why = "record header past the end of the file";
			break;
		}
		if ((why = decode_rec(h, &r)) != NULL)
			break;
		if (r.seq <= *prev_seq) {
			why = "record sequence number out of order";
			break;
		}
		if (g.nrecs == 0 && r.seq != id) {
			why = "first record's sequence number is not the segment's name";
			break;
		}
		if (REC_HDR + (uint64_t)r.len > size - g.size) {
			why = "record data shorter than its length";
			break;
		}
		if (full) {
			int ioerr = 0;
			why = scan_data(fd, g.size + REC_HDR, &r, buf, &ioerr);
			if (ioerr) {
				close(fd);
				return ioerr;
			}
			if (why)
				break;
		}
		*prev_seq = r.seq;
		g.size += REC_HDR + r.len;
		g.nrecs++;
		g.lines += r.lines;
		g.data += r.len;
		g.last_seq = r.seq;
		if (r.seq <= s->acked_seq) {
			acked_off = g.size;
			acked_recs = g.nrecs;
			acked_lines = g.lines;
			acked_data = g.data;
		}
	}
	if (why) {
		s->st.corrupt_cuts++;
		s->st.corrupt_bytes += size - g.size;
		report(s, PF_LOG_WARN, "cut %s/%s at offset %" PRIu64 ": %" PRIu64 " bytes (%s)", s->dir, name,
		       g.size, size - g.size, why);
		if (ftruncate(fd, (off_t)g.size) != 0) {
			/* The tail stays on disk; memory says where the good part ends
			 * and nothing is appended to this segment. */
			report(s, PF_LOG_ERROR, "cannot truncate %s/%s: %s", s->dir, name, strerror(errno));
			s->st.write_errors++;
			full = 0;
		}
	}
	if (g.nrecs == 0 || g.last_seq <= s->acked_seq) {
		/* Empty, or every record acked (a crash between the cursor write
		 * and the delete): nothing left to replay. */
		close(fd);
		unlink_seg(s, id);
		return 0;
	}
	if (s->nsegs == 0) {
		s->rd_off = acked_off;
		s->rd_recs = acked_recs;
		s->rd_lines = acked_lines;
		s->rd_data = acked_data;
	}
	int r = push_seg(s, &g);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* acked_* are 0 but in the first segment kept (seq only grows). */
	s->st.pending_records += g.nrecs - acked_recs;
	s->st.pending_lines += g.lines - acked_lines;
	s->st.pending_bytes += g.data - acked_data;
	if (full)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	if (!err || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

pf_spool *pf_spool_open(const pf_spool_opts *o, char *err, size_t errcap)
{
	set_err(err, errcap, "%s", "");
	if (!o || !o->dir || !o->dir[0]) {
		set_err(err, errcap, "spool: no directory");
		errno = EINVAL;
		return NULL;
	}
	if (o->max_bytes < PF_SPOOL_MIN_BYTES || (unsigned)o->fsync > PF_SPOOL_FSYNC_OFF) {
		set_err(err, errcap, "spool %s: max_bytes must be at least %u, fsync batch, interval or off",
			o->dir, PF_SPOOL_MIN_BYTES);
		errno = EINVAL;
		return NULL;
	}
	pf_spool *s = calloc(1, sizeof *s);
	if (!s)
		goto nomem;
	s->dfd = s->cfd = s->wfd = s->rfd = -1;
	s->dir = strdup(o->dir);
	size_t kvn = strlen(o->dir) + sizeof "spool=";
	s->kv = malloc(kvn);
	if (!s->dir || !s->kv)
		goto nomem;
	snprintf(s->kv, kvn, "spool=%s", o->dir);
	s->max_bytes = o->max_bytes;
	s->seg_bytes = o->segment_bytes ? o->segment_bytes : PF_SPOOL_SEGMENT_DEFAULT;
	if (s->seg_bytes > s->max_bytes / 4)
		s->seg_bytes = s->max_bytes / 4;
	s->fsync = o->fsync;
	s->log = o->log;
	s->log_ud = o->log_ud;
	s->rd_off = SEG_HDR;

	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		int e = errno;
		set_err(err, errcap, "spool: cannot create directory %s: %s", o->dir, strerror(e));
		pf_spool_close(s);
		errno = e;
		return NULL;
	}
	s->dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		int e = errno;
		set_err(err, errcap, "spool: cannot open directory %s: %s", o->dir, strerror(e));
		pf_spool_close(s);
		errno = e;
		return NULL;
	}
	if (flock(s->dfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno == EWOULDBLOCK ? EBUSY : errno;
		set_err(err, errcap, "spool: %s is in use by another spool (this or another process)%s%s",
			o->dir, e == EBUSY ? "" : ": ", e == EBUSY ? "" : strerror(e));
		pf_spool_close(s);
		errno = e;
		return NULL;
	}

	read_cursor(s);
	uint64_t *ids = NULL;
	size_t n = 0;
	int r = list_segs(s, &ids, &n);
	unsigned char *buf = r == 0 ? malloc(SCAN_CHUNK) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	uint64_t prev_seq = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		int fd;
		r = scan_seg(s, ids[i], i + 1 == n, &prev_seq, buf, &fd);
		if (r == 0 && fd >= 0)
			s->wfd = fd;
		if (r < 0)
			set_err(err, errcap, "spool: cannot read %s/%016" PRIx64 ".seg: %s", o->dir, ids[i],
				strerror(-r));
	}
	free(buf);
	free(ids);
	if (r == 0 && s->wfd >= 0 && s->segs[s->nsegs - 1].size >= s->seg_bytes) {
		close(s->wfd); /* full: the next append rolls over */
		s->wfd = -1;
	}
	if (r < 0) {
		if (r == -ENOMEM && (!err || !err[0]))
			set_err(err, errcap, "spool %s: out of memory", o->dir);
		pf_spool_close(s);
		errno = -r;
		return NULL;
	}
	s->next_seq = (prev_seq > s->acked_seq ? prev_seq : s->acked_seq) + 1;
	/* The cursor is made now, while there may be space: an ack on a full
	 * disk then only overwrites it. */
	if (s->cfd < 0 && (r = write_cursor(s)) < 0)
		report(s, PF_LOG_WARN, "cannot create %s/" CURSOR_NAME ": %s", o->dir, strerror(-r));
	r = load_head(s);
	if (r < 0) {
		set_err(err, errcap, "spool: cannot read %s: %s", o->dir, strerror(-r));
		pf_spool_close(s);
		errno = -r;
		return NULL;
	}
	if (s->dirty_dir && s->fsync != PF_SPOOL_FSYNC_OFF && fsync(s->dfd) == 0)
		s->dirty_dir = 0;
	return s;

nomem:
	set_err(err, errcap, "spool: out of memory");
	pf_spool_close(s);
	errno = ENOMEM;
	return NULL;
}

/* ---- close, sync ------------------------------------------------------- */

int pf_spool_sync(pf_spool *s)
{
	int ret = 0;
	if (s->dirty_seg && s->wfd >= 0) {
		if (fdatasync(s->wfd) != 0)
			ret = -errno;
		else
			s->dirty_seg = 0;
	}
	if (s->dirty_cursor && s->cfd >= 0) {
		if (fdatasync(s->cfd) != 0) {
			if (!ret)
				ret = -errno;
		} else {
			s->dirty_cursor = 0;
		}
	}
	if (s->dirty_dir && s->dfd >= 0) {
		if (fsync(s->dfd) != 0) {
			if (!ret)
				ret = -errno;
		} else {
			s->dirty_dir = 0;
		}
	}
	if (ret) {
		s->st.write_errors++;
		report(s, PF_LOG_ERROR, "fsync of %s failed: %s", s->dir, strerror(-ret));
	}
	return ret;
}

void pf_spool_close(pf_spool *s)
{
	if (!s)
		return;
	if (s->fsync != PF_SPOOL_FSYNC_OFF && s->dfd >= 0)
		pf_spool_sync(s);
	if (s->wfd >= 0)
		close(s->wfd);
	if (s->rfd >= 0)
		close(s->rfd);
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->dfd >= 0)
		close(s->dfd); /* releases the flock */
	free(s->segs);
	free(s->dir);
	free(s->kv);
	free(s);
}

/* ---- append ------------------------------------------------------------ */

/* A failed append: the segment is cut back to what it held before; a
 * segment left without records is deleted. Returns e. */
static int append_failed(pf_spool *s, int e, const char *what)
{
	struct seg *g = &s->segs[s->nsegs - 1];
	char name[SEG_NAME_LEN + 1];
	seg_name(name, g->id);
	s->st.write_errors++;
	if (ftruncate(s->wfd, (off_t)g->size) != 0) {
		/* The tail stays; nothing more is appended here, and the next
		 * open cuts it (it does not pass the record checks). */
		report(s, PF_LOG_ERROR, "cannot cut back %s/%s after a failed %s: %s", s->dir, name, what,
		       strerror(errno));
		close(s->wfd);
		s->wfd = -1;
		s->dirty_seg = 0;
	}
	if (g->nrecs == 0) {
		if (s->wfd >= 0)
			close(s->wfd);
		s->wfd = -1;
		s->dirty_seg = 0;
		if (s->nsegs == 1 && s->rfd >= 0) {
			close(s->rfd);
			s->rfd = -1;
		}
		unlink_seg(s, g->id);
		s->st.bytes -= g->size;
		s->nsegs--;
		s->st.segments = s->nsegs;
	}
	return e;
}

/* A new newest segment, named after the next record's seq. */
static int roll(pf_spool *s)
{
	if (s->wfd >= 0) {
		if (s->dirty_seg && fdatasync(s->wfd) != 0) {
			s->st.write_errors++;
			report(s, PF_LOG_ERROR, "fsync of %s failed: %s", s->dir, strerror(errno));
		}
		close(s->wfd);
		s->wfd = -1;
		s->dirty_seg = 0;
	}
	char name[SEG_NAME_LEN + 1];
	seg_name(name, s->next_seq);
	/* A file of that name is not in the list, so it is nothing to keep:
	 * one that could not be deleted, or a stray. */
	int fd = openat(s->dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		s->st.write_errors++;
		return -errno;
	}
	unsigned char h[SEG_HDR];
	put32(h, SEG_MAGIC);
	put32(h + 4, VERSION);
	put64(h + 8, s->next_seq);
	struct iovec iov = { h, sizeof h };
	int r = pwritev_full(fd, &iov, 1, 0);
	if (r == 0 && s->fsync == PF_SPOOL_FSYNC_BATCH && fsync(s->dfd) != 0)
		r = -errno;
	if (r < 0) {
		s->st.write_errors++;
		close(fd);
		unlinkat(s->dfd, name, 0);
		return r;
	}
	if (s->fsync != PF_SPOOL_FSYNC_BATCH)
		s->dirty_dir = 1;
	struct seg g = { .id = s->next_seq, .size = SEG_HDR };
	r = push_seg(s, &g);
	if (r < 0) {
		close(fd);
		unlinkat(s->dfd, name, 0);
		return r;
	}
	s->wfd = fd;
	return 0;
}

int pf_spool_append(pf_spool *s, const char *data, size_t len, size_t lines)
{
	if (len == 0 || data[len - 1] != '\n')
		return -EINVAL;
	uint64_t rec = REC_HDR + (uint64_t)len;
	if (len > UINT32_MAX || SEG_HDR + rec > s->max_bytes)
		return -EMSGSIZE;
	/* A wrong count would make the record fail its check at replay. */
	if (count_nl((const unsigned char *)data, len) != lines)
		return -EINVAL;
	int need_new = s->wfd < 0 ||
		       (s->segs[s->nsegs - 1].nrecs > 0 && s->segs[s->nsegs - 1].size + rec > s->seg_bytes);
	while (s->nsegs > 0 && s->st.bytes + rec + (need_new ? SEG_HDR : 0) > s->max_bytes) {
		if (s->nsegs == 1 && s->wfd >= 0)
			need_new = 1; /* the only segment goes: a new one follows */
		drop_oldest(s);
	}
	if (need_new) {
		int r = roll(s);
		if (r < 0) {
			report(s, PF_LOG_ERROR, "cannot create a segment in %s: %s", s->dir, strerror(-r));
			return r;
		}
	}
	struct seg *g = &s->segs[s->nsegs - 1];
	struct rec r = {
		.len = (uint32_t)len,
		.seq = s->next_seq,
		.lines = lines,
		.time_ms = wall_ms(),
		.dcrc = crc(data, len),
	};
	unsigned char h[REC_HDR];
	encode_rec(h, &r);
	struct iovec iov[2] = { { h, REC_HDR }, { (void *)data, len } };
	int e = pwritev_full(s->wfd, iov, 2, g->size);
	if (e < 0)
		return append_failed(s, e, "write");
	if (s->fsync == PF_SPOOL_FSYNC_BATCH) {
		if (fdatasync(s->wfd) != 0)
			return append_failed(s, -errno, "fsync");
	} else {
		s->dirty_seg = 1;
	}
	g->size += rec;
	g->nrecs++;
	g->lines += lines;
	g->data += len;
	g->last_seq = r.seq;
	s->next_seq++;
	s->st.bytes += rec;
	s->st.pending_records++;
	s->st.pending_lines += lines;
	s->st.pending_bytes += len;
	s->st.appended_records++;
	s->st.appended_lines += lines;
	if (!s->head_ok)
		load_head(s); /* a failure shows at the next peek */
	return 0;
}

/* ---- replay ------------------------------------------------------------ */

int pf_spool_peek(pf_spool *s, pf_batch **out)
{
	*out = NULL;
	for (;;) {
		int r = load_head(s);
		if (r < 0)
			return r;
		if (!s->head_ok)
			return -ENOENT;
		pf_batch *b = malloc(sizeof *b + s->head.len);
		if (!b)
			return -ENOMEM;
		ssize_t got = pread_full(s->rfd, b->data, s->head.len, s->rd_off + REC_HDR);
		if (got < 0) {
			free(b);
			return (int)got;
		}
		const char *why = (size_t)got < s->head.len
					  ? "record data shorter than its length"
					  : check_data(&s->head, crc(b->data, s->head.len),
						       count_nl((unsigned char *)b->data, s->head.len),
						       (unsigned char)b->data[s->head.len - 1]);
		if (why) {
			free(b);
			s->peeked = 0;
			skip_rest(s, why);
			continue;
		}
		b->next = NULL;
		b->seq = 0;
		b->off = 0;
		b->len = s->head.len;
		b->cap = s->head.len;
		b->lines = (size_t)s->head.lines;
		b->parts = NULL;
		b->nparts = 0;
		s->peeked = 1;
		s->stale = 0;
		*out = b;
		return 0;
	}
}

int pf_spool_ack(pf_spool *s)
{
	if (!s->peeked) {
		int stale = s->stale;
		s->stale = 0;
		return stale ? -ESTALE : -ENOENT;
	}
	struct seg *g = &s->segs[0];
	s->peeked = 0;
	s->rd_off += REC_HDR + s->head.len;
	s->rd_recs++;
	s->rd_lines += s->head.lines;
	s->rd_data += s->head.len;
	s->st.pending_records--;
	s->st.pending_lines -= s->head.lines;
	s->st.pending_bytes -= s->head.len;
	s->st.replayed_records++;
	s->st.replayed_lines += s->head.lines;
	s->acked_seq = s->head.seq;
	s->head_ok = 0;
	int r = write_cursor(s);
	if (r < 0) {
		s->st.write_errors++;
		report(s, PF_LOG_ERROR, "cannot write %s/" CURSOR_NAME ": %s; after a restart the acked "
		       "batches may be sent again", s->dir, strerror(-r));
	}
	/* The cursor first, then the delete: a crash in between leaves a
	 * segment that open finds all acked and deletes. */
	if (s->rd_off >= g->size)
		remove_seg0(s);
	load_head(s); /* a failure shows at the next peek */
	update_pending(s);
	return r;
}

uint64_t pf_spool_pending(const pf_spool *s)
{
	return s->st.pending_records;
}

const pf_spool_stats *pf_spool_get_stats(const pf_spool *s)
{
	return &s->st;
}
