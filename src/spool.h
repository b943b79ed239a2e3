/*
 * spool.h: the disk spool of one output: batches the output could not
 * deliver, kept on disk in append-only segment files, bounded in bytes,
 * replayed oldest first with an acknowledgment.
 *
 * Ownership: a pf_spool owns its directory while open (an exclusive
 * flock(2) on it: a second pf_spool_open() of the same directory, from this
 * process or another, fails with EBUSY; a reload must hand the open spool
 * over, or close it before opening it again). Batches returned by
 * pf_spool_peek() are the caller's to free(). Not thread-safe (one loop
 * thread); every call does plain synchronous file I/O, bounded by one
 * record (append, peek), one segment header (roll-over) or one small cursor
 * write (ack); only pf_spool_open() reads the whole directory.
 *
 * On disk, in DIR (created 0700 when missing; its parent must exist):
 *
 *   SSSSSSSSSSSSSSSS.seg  a segment: 16 lowercase hex digits, the sequence
 *                         number of its first record, so names sort in
 *                         record order. A 16-byte header, then records:
 *       segment header  u32 magic "PFSG", u32 version 1, u64 id (= the name)
 *       record header   u32 magic "PFRC", u32 len, u64 seq, u64 lines,
 *                       u64 wall time of the append (ms since the epoch),
 *                       u32 crc32 of the data, u32 crc32 of the 36 header
 *                       bytes before it                        (40 bytes)
 *       record data     len bytes: whole lines of line protocol, each
 *                       ending in '\n', `lines` of them
 *     All integers little-endian; crc32 is zlib's (libdeflate_crc32).
 *     seq grows by one per append, across segments and restarts.
 *   cursor                the acknowledged position: two 32-byte slots at
 *                         offsets 0 and 512, each u32 magic "PFCU", u32
 *                         version 1, u64 generation, u64 acked seq, u32
 *                         crc32 of those 24 bytes, u32 zero. An ack
 *                         overwrites the older slot in place (one pwrite,
 *                         no rename), so a torn write leaves the other slot,
 *                         the previous position, valid; the slot with the
 *                         higher generation wins.
 *   anything else         left alone, never deleted.
 *
 * What open does: it takes the lock, reads the cursor, and scans the
 * segments in order. Each record header is checked (magic, header crc, seq
 * above the previous one, data inside the file); in the LAST segment the
 * data is checked as well (data crc, whole lines, line count), since that is
 * where a crash mid-write leaves a torn record. At the first bad record the
 * segment is truncated there: what was cut (file, offset, bytes, why) is
 * logged at warn and counted (corrupt_cuts, corrupt_bytes). A segment whose
 * own header is bad, or that holds no record, is deleted and reported.
 * Segments whose records are all acked (a crash between the cursor write
 * and the unlink) are deleted; records up to the acked seq are skipped.
 *
 * A corrupt record in the middle (the data of a record before the last
 * segment, found bad by the crc check of pf_spool_peek()): the rest of that
 * segment is skipped and the segment deleted, reported at error and counted
 * in corrupt_cuts, corrupt_bytes and corrupt_records/lines (the records
 * whose headers were read); the next segment is replayed. A bad record
 * cannot be resynchronised on safely (its length is not to be trusted), and
 * a segment is at most segment_bytes.
 *
 * Acknowledgment and what a crash costs: pf_spool_ack() writes the acked
 * seq to the cursor at once (every policy; the fsync follows the policy),
 * then deletes a segment that is all acked. A process crash (SIGKILL) keeps
 * every completed write: a restart re-sends at most the record that was in
 * flight (peeked, not acked), and loses nothing that was appended. A crash
 * mid-append leaves a torn record that the next open cuts off: that batch
 * was never acknowledged as spooled (pf_spool_append() had not returned).
 * A power loss loses what was not fsynced: with FSYNC_BATCH nothing that
 * was appended or acked; with FSYNC_INTERVAL the appends and acks since the
 * last pf_spool_sync() (lost acks are re-sent, lost appends are gone); with
 * FSYNC_OFF whatever the kernel had not written back.
 *
 * The bound: max_bytes counts the segment files' sizes (acked records of the
 * oldest segment included until it is deleted). When an append would pass
 * it, whole segments are dropped oldest first, logged at warn and counted
 * in dropped_records/lines. segment_bytes is capped at max_bytes / 4 so
 * that a drop frees at most about a quarter of the spool.
 */
#ifndef PF_SPOOL_H
#define PF_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "queue.h"

enum pf_spool_fsync {
	PF_SPOOL_FSYNC_BATCH = 0, /* fdatasync after each append and each ack (default) */
	PF_SPOOL_FSYNC_INTERVAL,  /* only in pf_spool_sync() (the caller's timer) and close */
	PF_SPOOL_FSYNC_OFF,       /* never: the kernel writes back when it likes */
};

#define PF_SPOOL_SEGMENT_DEFAULT (4u << 20)

typedef struct pf_spool_opts {
	const char *dir;          /* one directory per output */
	uint64_t max_bytes;       /* the bound, > 0; at least PF_SPOOL_MIN_BYTES */
	uint64_t segment_bytes;   /* roll-over size; 0: 4 MiB; capped at max_bytes / 4 */
	enum pf_spool_fsync fsync;
	/* Receives what the spool cannot return to a caller: cuts at open,
	 * corrupt records skipped at peek, segments dropped to the bound,
	 * failed syncs. One line, no newline. NULL: pf_log() with
	 * "spool=DIR" as the key-value part. */
	void (*log)(void *ud, enum pf_log_level lvl, const char *msg);
	void *log_ud;
} pf_spool_opts;

/* Smallest max_bytes: a segment header and a record of a few lines. */
#define PF_SPOOL_MIN_BYTES 4096u

typedef struct pf_spool_stats {
	uint64_t bytes;            /* segment files' sizes on disk */
	uint64_t segments;
	uint64_t pending_records;  /* appended, not yet acked */
	uint64_t pending_lines;
	uint64_t pending_bytes;    /* their data bytes */
	uint64_t oldest_ms;        /* wall time (ms since the epoch) the oldest
				    * pending record was appended; 0: none */
	uint64_t appended_records; /* since open */
	uint64_t appended_lines;
	uint64_t replayed_records; /* acked since open */
	uint64_t replayed_lines;
	uint64_t dropped_records;  /* whole oldest segments, to the bound */
	uint64_t dropped_lines;
	uint64_t dropped_segments;
	uint64_t corrupt_cuts;     /* torn tails cut, bad headers, corrupt records skipped */
	uint64_t corrupt_bytes;    /* bytes cut or skipped */
	uint64_t corrupt_records;  /* records with a valid header skipped because of it */
	uint64_t corrupt_lines;
	uint64_t write_errors;     /* failed appends (-ENOSPC...), syncs, cursor writes */
} pf_spool_stats;

typedef struct pf_spool pf_spool;

/* Opens (creating DIR when missing) and scans the spool; see above. Returns
 * the spool, or NULL with a one-line reason in err (errno is set:
 * EINVAL bad options, EBUSY locked, or the failing call's). */
pf_spool *pf_spool_open(const pf_spool_opts *o, char *err, size_t errcap);

/* Syncs per policy (BATCH and INTERVAL: everything; OFF: nothing), closes
 * the files, releases the lock, frees. NULL: no-op. */
void pf_spool_close(pf_spool *s);

/* Appends one batch as one record: len bytes of whole lines (the last one
 * ending in '\n'), `lines` of them (borrowed for the call). May drop the
 * oldest segments to stay within max_bytes. Returns 0, or:
 *   -EINVAL   len 0, data not ending in '\n', or lines not its '\n' count
 *   -EMSGSIZE the record could never fit in max_bytes
 *   -ENOSPC, -EDQUOT, -EFBIG, -EIO...  the write (or its fsync) failed; the
 *             partly written record was cut back, the spool is as before
 *             (the caller counts the batch as dropped); the next append
 *             tries again, so the spool recovers when space returns.
 *   -ENOMEM */
int pf_spool_append(pf_spool *s, const char *data, size_t len, size_t lines);

/* The oldest record not yet acked, read and checked, as a malloc'd batch
 * (*out, the caller's; seq, off and next are 0). Peeking again without an
 * ack returns the same record. A corrupt record is skipped (see above) and
 * the next one returned. Returns 0, -ENOENT (nothing pending, *out NULL),
 * -ENOMEM or -EIO (a read failed: the record stays, try later). */
int pf_spool_peek(pf_spool *s, pf_batch **out);

/* The record returned by the last pf_spool_peek() was delivered: it is
 * acked (the cursor written, fsynced per policy) and a segment all acked is
 * deleted. Returns 0; -ENOENT when nothing was peeked since the last ack;
 * -ESTALE when that record was dropped to the bound meanwhile (nothing
 * acked: just free the batch); or the cursor write's negative errno (the
 * ack holds in memory; after a restart the record may be sent again). */
int pf_spool_ack(pf_spool *s);

/* Records appended and not yet acked. */
uint64_t pf_spool_pending(const pf_spool *s);

/* Fsyncs what is not yet (segment data, cursor, directory). For
 * FSYNC_INTERVAL, from the caller's timer; harmless otherwise. Returns 0
 * or the first failure's negative errno. */
int pf_spool_sync(pf_spool *s);

const pf_spool_stats *pf_spool_get_stats(const pf_spool *s);

#endif
