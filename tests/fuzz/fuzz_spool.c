/*
 * fuzz_spool.c: libFuzzer target over the disk spool's reader (src/spool.c):
 * whatever lies in a spool directory after a crash, a bad disk or a stray
 * copy, pf_spool_open() and the replay must neither crash, leak nor return
 * garbage.
 *
 * The input becomes the files of a spool directory (in /dev/shm when there
 * is one, else TMPDIR), emptied before each run:
 *
 *   byte 0  bits 0-1  fsync policy, value % 3 (batch, interval, off)
 *           bit 2     name each segment after the id in its header (bytes
 *                     8-15, what the spool itself does), else 1, 2, 3...
 *           bit 3     half-way through the replay, append three records,
 *                     close, reopen and replay the rest (a restart)
 *           bits 4-6  max_bytes: 4096 << value (4 KiB .. 512 KiB), so that
 *                     the appends also drop segments to the bound
 *   rest    sections separated by FUZZ_SEP: the first is the cursor file
 *           (none when empty), each further one a segment file
 *
 * make-spool-seeds (tests/fuzz/meson.build) writes seeds in this layout
 * from spools made by pf_spool_append(); corpus-spool/ holds them.
 *
 * Beyond "no crash, leak or undefined behaviour", the target checks what
 * spool.h promises: open succeeds on any content (bad records are cut, not
 * fatal); every batch peek returns is whole lines ending in '\n', as many
 * as its line count; each ack succeeds and lowers the pending count by
 * one; an append raises it by one less what the bound dropped; a clean
 * close and reopen keeps the pending count; at the end nothing is pending
 * and no segment is left. A broken promise aborts.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

#define FUZZ_SEP "#PFFILE#"
#define FUZZ_SEP_LEN 8
#define FUZZ_MAX_FILES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_spool: broken promise: %s\n", what);
	abort();
}

static void quiet(void *ud, enum pf_log_level lvl, const char *msg)
{
	(void)ud;
	(void)lvl;
	if (!msg || strchr(msg, '\n'))
		fail("a log message is not one line");
}

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[600];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static pf_spool *reopen(const pf_spool_opts *o)
{
	char err[256];
	pf_spool *s = pf_spool_open(o, err, sizeof err);
	if (!s) {
		fprintf(stderr, "fuzz_spool: open: %s\n", err);
		fail("open failed on a readable directory");
	}
	return s;
}

static void check_batch(const pf_batch *b)
{
	if (b->len == 0 || b->data[b->len - 1] != '\n')
		fail("a batch is not whole lines");
	size_t nl = 0;
	for (size_t i = 0; i < b->len; i++)
		nl += b->data[i] == '\n';
	if (nl != b->lines)
		fail("a batch's line count does not match its data");
}

static void append_some(pf_spool *s, unsigned k)
{
	const pf_spool_stats *st = pf_spool_get_stats(s);
	for (unsigned i = 0; i < 3; i++) {
		char line[96];
		int n = snprintf(line, sizeof line, "fuzz,k=%u,i=%u v=%ui\nfuzz v=2\n", k, i, i);
		uint64_t before = pf_spool_pending(s), dropped = st->dropped_records;
		int r = pf_spool_append(s, line, (size_t)n, 2);
		if (r != 0)
			fail("append failed on a tmpfs with room");
		if (pf_spool_pending(s) != before + 1 - (st->dropped_records - dropped))
			fail("append: pending is not before + 1 - dropped");
	}
}

static void remove_dir(void)
{
	empty_dir();
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!dir[0]) {
		const char *t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/pf-fuzz-spool.%ld", t && *t ? t : "/tmp", (long)getpid());
		mkdir(dir, 0700);
		atexit(remove_dir);
	}
	empty_dir();
	uint8_t sel = data[0];
	const uint8_t *p = data + 1, *end = data + size;

	/* Sections: cursor, then segments. */
	unsigned nfile = 0;
	while (nfile < FUZZ_MAX_FILES) {
		const uint8_t *q = memmem(p, (size_t)(end - p), FUZZ_SEP, FUZZ_SEP_LEN);
		const uint8_t *e = q ? q : end;
		size_t n = (size_t)(e - p);
		if (nfile == 0) {
			if (n > 0)
				put_file("cursor", p, n);
		} else {
			uint64_t id = nfile;
			if ((sel & 4) && n >= 16) {
				id = 0;
				for (int i = 7; i >= 0; i--)
					id = id << 8 | p[8 + i];
			}
			char name[32];
			snprintf(name, sizeof name, "%016llx.seg", (unsigned long long)id);
			put_file(name, p, n);
		}
		nfile++;
		if (!q)
			break;
		p = q + FUZZ_SEP_LEN;
	}

	pf_spool_opts o = {
		.dir = dir,
		.max_bytes = (uint64_t)4096 << ((sel >> 4) & 7),
		.segment_bytes = 0,
		.fsync = (enum pf_spool_fsync)((sel & 3) % 3),
		.log = quiet,
	};
	pf_spool *s = reopen(&o);
	const pf_spool_stats *st = pf_spool_get_stats(s);
	uint64_t pending = pf_spool_pending(s);
	uint64_t budget = pending + 16, restart_at = (sel & 8) ? pending / 2 : UINT64_MAX;
	uint64_t steps = 0;
	for (;;) {
		if (steps == restart_at) {
			append_some(s, (unsigned)steps);
			uint64_t before = pf_spool_pending(s);
			pf_spool_close(s);
			s = reopen(&o);
			st = pf_spool_get_stats(s);
			if (pf_spool_pending(s) != before)
				fail("a clean close and reopen changed the pending count");
			budget += 8;
		}
		pf_batch *b = NULL;
		uint64_t before = pf_spool_pending(s);
		int r = pf_spool_peek(s, &b);
		if (r == -ENOENT) {
			if (b || pf_spool_pending(s) != 0)
				fail("peek: -ENOENT while records are pending");
			break;
		}
		if (r != 0 || !b)
			fail("peek failed on a readable file");
		check_batch(b);
		free(b);
		if (pf_spool_pending(s) > before)
			fail("peek raised the pending count");
		before = pf_spool_pending(s);
		if (pf_spool_ack(s) != 0)
			fail("ack failed");
		if (pf_spool_pending(s) != before - 1)
			fail("ack did not lower the pending count by one");
		if (++steps > budget)
			fail("more batches replayed than were pending");
	}
	if (st->pending_records || st->pending_lines || st->pending_bytes || st->segments || st->bytes ||
	    st->oldest_ms)
		fail("all replayed, yet the stats show something pending");
	pf_spool_close(s);
	return 0;
}
