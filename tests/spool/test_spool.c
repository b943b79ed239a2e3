/*
 * test_spool.c: unit test of the disk spool (src/spool.c).
 *
 * What the writer leans on: batches come back in the order they were
 * appended, across segments and restarts; an ack survives a restart (and
 * a SIGKILL), so only the batch in flight is sent again; the bound drops
 * whole oldest segments and counts them; a torn or corrupted record is cut
 * or skipped and reported, never returned; files that are not the spool's
 * are left alone; a full disk fails one append and leaves the spool as it
 * was, and appends work again once there is space; the fsync policy decides
 * how often fdatasync runs.
 *
 * fdatasync is wrapped (-Wl,--wrap=fdatasync, see meson.build) to count the
 * calls the spool makes. ENOSPC comes from a 256 KiB tmpfs when the test can
 * mount one (root), EFBIG from RLIMIT_FSIZE always.
 */
#define _GNU_SOURCE

#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			failures++;                                            \
		}                                                              \
	} while (0)

/* ---- fdatasync counter ---- */

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
static unsigned long n_fdatasync;

int __wrap_fdatasync(int fd)
{
	n_fdatasync++;
	return __real_fdatasync(fd);
}

/* ---- log capture ---- */

static char logbuf[16384];
static unsigned log_lines;

static void capture(void *ud, enum pf_log_level lvl, const char *msg)
{
	(void)ud;
	(void)lvl;
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
	log_lines++;
}

static void log_reset(void)
{
	logbuf[0] = '\0';
	log_lines = 0;
}

/* ---- helpers ---- */

static char base[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh spool directory path (not created). */
static const char *fresh_dir(const char *name)
{
	static char p[512];
	snprintf(p, sizeof p, "%s/%s", base, name);
	rm_rf(p);
	return p;
}

static pf_spool *open_spool(const char *dir, uint64_t max, uint64_t seg, enum pf_spool_fsync f)
{
	pf_spool_opts o = { .dir = dir, .max_bytes = max, .segment_bytes = seg, .fsync = f,
			    .log = capture };
	char err[256];
	pf_spool *s = pf_spool_open(&o, err, sizeof err);
	if (!s)
		fprintf(stderr, "open %s: %s\n", dir, err);
	return s;
}

/* Record i: 1 + i % 3 lines, padded to about `pad` bytes. */
static size_t make_rec(unsigned i, size_t pad, char *out, size_t cap, size_t *lines)
{
	size_t n = 0;
	*lines = 1 + i % 3;
	for (size_t l = 0; l < *lines; l++) {
		int k = snprintf(out + n, cap - n, "m,rec=%u,line=%zu v=%ui", i, l, i);
		n += (size_t)k;
		while (l + 1 == *lines && n + 1 < pad && n + 1 < cap)
			out[n++] = 'x';
		out[n++] = '\n';
	}
	return n;
}

static int append_rec(pf_spool *s, unsigned i, size_t pad)
{
	char b[8192];
	size_t lines, n = make_rec(i, pad, b, sizeof b, &lines);
	return pf_spool_append(s, b, n, lines);
}

/* Peeks and checks that the oldest record is record i; acks it when ack. */
static int expect_rec(pf_spool *s, unsigned i, size_t pad, int ack)
{
	char b[8192];
	size_t lines, n = make_rec(i, pad, b, sizeof b, &lines);
	pf_batch *got = NULL;
	int r = pf_spool_peek(s, &got);
	if (r != 0) {
		fprintf(stderr, "peek for record %u: %s\n", i, strerror(-r));
		return 0;
	}
	int ok = got->len == n && got->lines == lines && memcmp(got->data, b, n) == 0;
	if (!ok)
		fprintf(stderr, "record %u: got %zu bytes %.*s\n", i, got->len,
			(int)(got->len > 60 ? 60 : got->len), got->data);
	free(got);
	if (ack)
		ok &= pf_spool_ack(s) == 0;
	return ok;
}

static unsigned count_files(const char *dir, const char *suffix)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "ls -1 '%s' | grep -c '%s$'", dir, suffix);
	FILE *f = popen(cmd, "r");
	unsigned n = 0;
	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		pclose(f);
	}
	return n;
}

static char *seg_path(const char *dir, uint64_t id)
{
	static char p[600];
	snprintf(p, sizeof p, "%s/%016llx.seg", dir, (unsigned long long)id);
	return p;
}

static off_t file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static int read_file(const char *p, char **out, size_t *n)
{
	FILE *f = fopen(p, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc((size_t)sz + 1);
	*n = fread(*out, 1, (size_t)sz, f);
	fclose(f);
	return 0;
}

static void write_file(const char *p, const char *d, size_t n)
{
	FILE *f = fopen(p, "wb");
	if (f) {
		fwrite(d, 1, n, f);
		fclose(f);
	}
}

/* ---- tests ---- */

static void test_order_across_segments(void)
{
	const char *dir = fresh_dir("order");
	pf_spool *s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 0);
	pf_batch *b = (pf_batch *)1;
	CHECK(pf_spool_peek(s, &b) == -ENOENT && b == NULL);
	CHECK(pf_spool_ack(s) == -ENOENT);
	size_t lines_total = 0;
	for (unsigned i = 0; i < 60; i++) {
		CHECK(append_rec(s, i, 200) == 0);
		lines_total += 1 + i % 3;
	}
	const pf_spool_stats *st = pf_spool_get_stats(s);
	CHECK(st->segments >= 3);
	CHECK(st->segments == count_files(dir, ".seg"));
	CHECK(st->pending_records == 60 && st->appended_records == 60);
	CHECK(st->pending_lines == lines_total && st->appended_lines == lines_total);
	CHECK(st->oldest_ms > 1600000000000ull);
	/* A peek without an ack returns the same record again. */
	CHECK(expect_rec(s, 0, 200, 0));
	CHECK(expect_rec(s, 0, 200, 1));
	for (unsigned i = 1; i < 60; i++)
		CHECK(expect_rec(s, i, 200, 1));
	CHECK(pf_spool_pending(s) == 0);
	CHECK(pf_spool_peek(s, &b) == -ENOENT);
	CHECK(st->replayed_records == 60 && st->replayed_lines == lines_total);
	CHECK(st->segments == 0 && st->bytes == 0 && st->oldest_ms == 0);
	CHECK(count_files(dir, ".seg") == 0); /* acked segments are deleted */
	CHECK(st->dropped_records == 0 && st->corrupt_cuts == 0 && st->write_errors == 0);
	/* Appends after everything was acked go on with a new segment. */
	CHECK(append_rec(s, 100, 10) == 0);
	CHECK(expect_rec(s, 100, 10, 1));
	pf_spool_close(s);
	/* Bad appends. */
	s = open_spool(dir, PF_SPOOL_MIN_BYTES, 0, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_append(s, "a v=1i", 6, 1) == -EINVAL);
	CHECK(pf_spool_append(s, "a v=1i\n", 7, 2) == -EINVAL);
	CHECK(pf_spool_append(s, "", 0, 0) == -EINVAL);
	char big[PF_SPOOL_MIN_BYTES];
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\n';
	CHECK(pf_spool_append(s, big, sizeof big, 1) == -EMSGSIZE);
	CHECK(pf_spool_pending(s) == 0 && pf_spool_get_stats(s)->write_errors == 0);
	pf_spool_close(s);
}

static void test_restart_partial_acks(void)
{
	const char *dir = fresh_dir("restart");
	pf_spool *s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	for (unsigned i = 0; i < 40; i++)
		CHECK(append_rec(s, i, 300) == 0);
	for (unsigned i = 0; i < 17; i++)
		CHECK(expect_rec(s, i, 300, 1));
	pf_spool_close(s);

	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 23);
	CHECK(pf_spool_get_stats(s)->corrupt_cuts == 0);
	CHECK(expect_rec(s, 17, 300, 1));
	CHECK(expect_rec(s, 18, 300, 0)); /* in flight at the close */
	/* The lock: the same directory cannot be opened twice. */
	pf_spool_opts o = { .dir = dir, .max_bytes = 1 << 20, .log = capture };
	char err[256];
	errno = 0;
	CHECK(pf_spool_open(&o, err, sizeof err) == NULL && errno == EBUSY);
	CHECK(strstr(err, "in use") != NULL);
	pf_spool_close(s);

	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 22);
	/* Appends after a restart come after the old records. */
	CHECK(append_rec(s, 40, 300) == 0);
	for (unsigned i = 18; i <= 40; i++)
		CHECK(expect_rec(s, i, 300, 1));
	CHECK(pf_spool_pending(s) == 0);
	pf_spool_close(s);

	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 0);
	CHECK(append_rec(s, 41, 10) == 0);
	CHECK(expect_rec(s, 41, 10, 1)); /* nothing acked comes back */
	pf_spool_close(s);
}

/* A SIGKILL keeps every completed write, whatever the policy. */
static void test_sigkill(enum pf_spool_fsync f)
{
	const char *dir = fresh_dir("kill");
	pid_t pid = fork();
	if (pid == 0) {
		pf_spool *s = open_spool(dir, 1 << 20, 4096, f);
		if (!s)
			_exit(1);
		for (unsigned i = 0; i < 30; i++)
			if (append_rec(s, i, 300) != 0)
				_exit(1);
		for (unsigned i = 0; i < 11; i++)
			if (!expect_rec(s, i, 300, 1))
				_exit(1);
		if (!expect_rec(s, 11, 300, 0))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	pf_spool *s = open_spool(dir, 1 << 20, 4096, f);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 19);
	for (unsigned i = 11; i < 30; i++)
		CHECK(expect_rec(s, i, 300, 1));
	pf_spool_close(s);
}

static void test_bound(void)
{
	const char *dir = fresh_dir("bound");
	log_reset();
	pf_spool *s = open_spool(dir, 16384, 0, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	const pf_spool_stats *st = pf_spool_get_stats(s);
	size_t lines_total = 0;
	for (unsigned i = 0; i < 100; i++) {
		CHECK(append_rec(s, i, 500) == 0);
		lines_total += 1 + i % 3;
		CHECK(st->bytes <= 16384);
	}
	CHECK(st->dropped_segments > 0 && st->dropped_records > 0);
	CHECK(st->dropped_records + st->pending_records == 100);
	CHECK(st->dropped_lines + st->pending_lines == lines_total);
	CHECK(strstr(logbuf, "spool full") != NULL && strstr(logbuf, "dropped the oldest segment") != NULL);
	/* segment_bytes 0 means 4 MiB, capped at a quarter of the bound. */
	CHECK(st->segments >= 3);
	/* What is left is the newest records, in order. */
	unsigned first = (unsigned)st->dropped_records;
	for (unsigned i = first; i < 100; i++)
		CHECK(expect_rec(s, i, 500, 1));

	/* A record in flight dropped to the bound: its ack is refused. */
	for (unsigned i = 200; i < 210; i++)
		CHECK(append_rec(s, i, 500) == 0);
	uint64_t dropped = st->dropped_records;
	CHECK(expect_rec(s, 200, 500, 0));
	unsigned i = 210;
	while (st->dropped_records == dropped && i < 300)
		CHECK(append_rec(s, i++, 500) == 0);
	CHECK(st->dropped_records > dropped);
	CHECK(pf_spool_ack(s) == -ESTALE);
	CHECK(pf_spool_ack(s) == -ENOENT);
	pf_batch *b = NULL;
	CHECK(pf_spool_peek(s, &b) == 0);
	free(b);
	CHECK(pf_spool_ack(s) == 0);
	CHECK(st->replayed_records == 100 - first + 1);
	pf_spool_close(s);
}

/* Writes records 0..n-1 in one segment and returns where each starts. */
static int one_segment(const char *dir, unsigned n, off_t *starts, enum pf_spool_fsync f)
{
	pf_spool *s = open_spool(dir, 1 << 20, 1 << 18, f);
	if (!s)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		starts[i] = file_size(seg_path(dir, 1)) < 0 ? 16 : file_size(seg_path(dir, 1));
		if (append_rec(s, i, 100) != 0)
			return -1;
	}
	starts[n] = file_size(seg_path(dir, 1));
	pf_spool_close(s);
	return 0;
}

static void test_torn_tail(void)
{
	const char *dir = fresh_dir("torn");
	off_t st4[4];
	CHECK(one_segment(dir, 3, st4, PF_SPOOL_FSYNC_OFF) == 0);
	char *orig;
	size_t n;
	CHECK(read_file(seg_path(dir, 1), &orig, &n) == 0);
	CHECK((off_t)n == st4[3]);
	unsigned bad = 0;
	for (off_t cut = st4[2]; cut < st4[3]; cut++) {
		write_file(seg_path(dir, 1), orig, (size_t)cut);
		log_reset();
		pf_spool *s = open_spool(dir, 1 << 20, 1 << 18, PF_SPOOL_FSYNC_OFF);
		if (!s) {
			bad++;
			continue;
		}
		const pf_spool_stats *st = pf_spool_get_stats(s);
		int ok = pf_spool_pending(s) == 2 && file_size(seg_path(dir, 1)) == st4[2] &&
			 st->corrupt_cuts == (cut > st4[2]) && st->corrupt_bytes == (uint64_t)(cut - st4[2]);
		if (cut > st4[2]) {
			char want[128];
			snprintf(want, sizeof want, "at offset %lld: %lld bytes", (long long)st4[2],
				 (long long)(cut - st4[2]));
			ok &= strstr(logbuf, want) != NULL && strstr(logbuf, "0000000000000001.seg") != NULL;
		}
		ok &= expect_rec(s, 0, 100, 0);
		/* An append after the cut is whole and comes next. */
		ok &= append_rec(s, 7, 100) == 0;
		ok &= expect_rec(s, 0, 100, 1) && expect_rec(s, 1, 100, 1) && expect_rec(s, 7, 100, 1);
		ok &= pf_spool_pending(s) == 0;
		pf_spool_close(s);
		if (!ok) {
			fprintf(stderr, "torn tail at %lld: %s", (long long)cut, logbuf);
			bad++;
		}
		/* The acks removed the segment; the cursor says 3 (record 7 had
		 * seq 3): remove it so that the next round starts at seq 1. */
		char cp[600];
		snprintf(cp, sizeof cp, "%s/cursor", dir);
		unlink(cp);
	}
	CHECK(bad == 0);
	free(orig);
}

static void test_corrupt_byte(void)
{
	const char *dir = fresh_dir("corrupt");
	off_t st4[4];
	CHECK(one_segment(dir, 3, st4, PF_SPOOL_FSYNC_OFF) == 0);
	char *orig;
	size_t n;
	CHECK(read_file(seg_path(dir, 1), &orig, &n) == 0);
	/* Every byte of the middle record, in the last segment: open cuts the
	 * segment there, record 0 stays. */
	unsigned bad = 0;
	for (off_t at = st4[1]; at < st4[2]; at++) {
		orig[at] ^= 0x20;
		write_file(seg_path(dir, 1), orig, n);
		orig[at] ^= 0x20;
		pf_spool *s = open_spool(dir, 1 << 20, 1 << 18, PF_SPOOL_FSYNC_OFF);
		if (!s) {
			bad++;
			continue;
		}
		int ok = pf_spool_pending(s) == 1 && pf_spool_get_stats(s)->corrupt_cuts == 1 &&
			 file_size(seg_path(dir, 1)) == st4[1] && expect_rec(s, 0, 100, 0);
		pf_spool_close(s);
		if (!ok) {
			fprintf(stderr, "corrupt byte at %lld\n", (long long)at);
			bad++;
		}
	}
	CHECK(bad == 0);
	free(orig);

	/* A corrupt data byte in a segment that is not the last one passes the
	 * header scan at open; peek finds it, skips the rest of that segment,
	 * counts and reports it, and goes on with the next segment. */
	dir = fresh_dir("corrupt2");
	pf_spool *s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	unsigned i = 0;
	while (pf_spool_get_stats(s)->segments < 2)
		CHECK(append_rec(s, i++, 300) == 0);
	unsigned in_first = i - 1; /* records in segment 1 */
	CHECK(in_first >= 3);
	for (unsigned k = 0; k < 5; k++)
		CHECK(append_rec(s, i++, 300) == 0);
	unsigned total = i;
	pf_spool_close(s);
	CHECK(read_file(seg_path(dir, 1), &orig, &n) == 0);
	/* Record 1's data: header 16 + record 0 (40 + len) + 40 + 5. */
	char b0[8192];
	size_t l0, len0 = make_rec(0, 300, b0, sizeof b0, &l0);
	orig[16 + 40 + len0 + 40 + 5] ^= 1;
	write_file(seg_path(dir, 1), orig, n);
	free(orig);
	log_reset();
	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	const pf_spool_stats *st = pf_spool_get_stats(s);
	CHECK(pf_spool_pending(s) == total && st->corrupt_cuts == 0);
	CHECK(expect_rec(s, 0, 300, 1));
	CHECK(expect_rec(s, in_first, 300, 1)); /* records 1.. of segment 1 skipped */
	CHECK(st->corrupt_cuts == 1 && st->corrupt_records == in_first - 1);
	CHECK(strstr(logbuf, "corrupt record in") && strstr(logbuf, "checksum mismatch"));
	CHECK(file_size(seg_path(dir, 1)) < 0);
	for (unsigned k = in_first + 1; k < total; k++)
		CHECK(expect_rec(s, k, 300, 1));
	CHECK(pf_spool_pending(s) == 0);
	pf_spool_close(s);
}

static void test_garbage_files(void)
{
	const char *dir = fresh_dir("garbage");
	CHECK(mkdir(dir, 0700) == 0);
	char p[700];
	const char *keep[] = { "README", "0000000000000001.seg.tmp", "xyz.seg", "00000000000000AB.seg",
			       "cursor.tmp" };
	for (size_t k = 0; k < sizeof keep / sizeof *keep; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, keep[k]);
		write_file(p, "hello\n", 6);
	}
	snprintf(p, sizeof p, "%s/0000000000000009.seg", dir);
	CHECK(mkdir(p, 0700) == 0); /* a directory named like a segment */
	snprintf(p, sizeof p, "%s/00000000000000ff.seg", dir);
	write_file(p, "garbage garbage garbage\n", 24); /* ours by name, bad header */
	snprintf(p, sizeof p, "%s/0000000000000100.seg", dir);
	write_file(p, "", 0); /* a crash between create and header */
	log_reset();
	pf_spool *s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 0);
	CHECK(strstr(logbuf, "00000000000000ff.seg: bad segment header") != NULL);
	CHECK(log_lines == 1); /* the empty one is deleted quietly */
	CHECK(file_size(seg_path(dir, 0xff)) < 0 && file_size(seg_path(dir, 0x100)) < 0);
	for (unsigned i = 0; i < 20; i++)
		CHECK(append_rec(s, i, 300) == 0);
	for (unsigned i = 0; i < 20; i++)
		CHECK(expect_rec(s, i, 300, 1));
	pf_spool_close(s);
	for (size_t k = 0; k < sizeof keep / sizeof *keep; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, keep[k]);
		CHECK(file_size(p) == 6);
	}
	snprintf(p, sizeof p, "%s/0000000000000009.seg", dir);
	struct stat st;
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));

	/* The cursor: a torn newest slot falls back to the older one (the
	 * last ack is replayed once more); no valid slot replays everything. */
	dir = fresh_dir("cursor");
	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	for (unsigned i = 0; i < 6; i++)
		CHECK(append_rec(s, i, 50) == 0);
	for (unsigned i = 0; i < 3; i++)
		CHECK(expect_rec(s, i, 50, 1));
	pf_spool_close(s);
	snprintf(p, sizeof p, "%s/cursor", dir);
	char *c;
	size_t cn;
	CHECK(read_file(p, &c, &cn) == 0 && cn == 544);
	/* Spoil the newer slot's acked seq (generation at bytes 8-15). */
	unsigned long long g0 = 0, g1 = 0;
	for (int k = 7; k >= 0; k--) {
		g0 = g0 << 8 | (unsigned char)c[8 + k];
		g1 = g1 << 8 | (unsigned char)c[512 + 8 + k];
	}
	CHECK(g0 != g1);
	c[(g1 > g0 ? 512 : 0) + 20] ^= 1;
	write_file(p, c, cn);
	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL && pf_spool_pending(s) == 4);
	if (s)
		CHECK(expect_rec(s, 2, 50, 0));
	pf_spool_close(s);
	memset(c, 0x55, cn);
	write_file(p, c, cn);
	free(c);
	log_reset();
	s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL && pf_spool_pending(s) == 6);
	CHECK(strstr(logbuf, "holds no valid position") != NULL);
	if (s)
		CHECK(expect_rec(s, 0, 50, 1));
	pf_spool_close(s);
}

/* Sum of the segment files' sizes. */
static uint64_t seg_bytes_on_disk(const char *dir)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "cat '%s'/*.seg 2>/dev/null | wc -c", dir);
	FILE *f = popen(cmd, "r");
	unsigned long long n = 0;
	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		pclose(f);
	}
	return n;
}

/* Fills the spool until an append fails with want (or another errno in
 * alt), checks the spool is as before, frees space with free_space(), and
 * checks appends work again and everything replays whole. */
static void fill_until_full(const char *dir, int want, void (*free_space)(void), uint64_t max)
{
	pf_spool *s = open_spool(dir, max, 16384, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	const pf_spool_stats *st = pf_spool_get_stats(s);
	unsigned i = 0;
	int r = 0;
	log_reset();
	while (i < 2000 && (r = append_rec(s, i, 3000)) == 0)
		i++;
	CHECK(r == want);
	if (r != want)
		fprintf(stderr, "append %u: %s, want %s\n", i, strerror(-r), strerror(-want));
	CHECK(i > 5);
	CHECK(st->write_errors == 1 && st->pending_records == i);
	CHECK(seg_bytes_on_disk(dir) == st->bytes); /* the partial record was cut back */
	CHECK(st->segments == count_files(dir, ".seg"));
	/* Still full: fails again, the same way, and stays consistent. */
	CHECK(append_rec(s, i, 3000) == want);
	CHECK(seg_bytes_on_disk(dir) == st->bytes && st->pending_records == i);
	/* Replay a few while full (acks need no new space). */
	CHECK(expect_rec(s, 0, 3000, 1));
	CHECK(expect_rec(s, 1, 3000, 1));
	free_space();
	unsigned j = i + 100;
	for (unsigned k = 0; k < 3; k++)
		CHECK(append_rec(s, j + k, 3000) == 0);
	pf_spool_close(s);
	s = open_spool(dir, max, 16384, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_get_stats(s)->corrupt_cuts == 0);
	CHECK(pf_spool_pending(s) == i - 2 + 3);
	for (unsigned k = 2; k < i; k++)
		CHECK(expect_rec(s, k, 3000, 1));
	for (unsigned k = 0; k < 3; k++)
		CHECK(expect_rec(s, j + k, 3000, 1));
	pf_spool_close(s);
}

static char filler[400];

static void remove_filler(void)
{
	CHECK(unlink(filler) == 0);
}

static void test_enospc_tmpfs(void)
{
	char mnt[300];
	snprintf(mnt, sizeof mnt, "%s/tmpfs", base);
	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
		printf("# tmpfs ENOSPC test skipped: mount: %s\n", strerror(errno));
		return;
	}
	/* A filler takes a part of the space, so that deleting it frees some. */
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	char *z = calloc(1, 64 << 10);
	write_file(filler, z, 64 << 10);
	free(z);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/spool", mnt);
	fill_until_full(dir, -ENOSPC, remove_filler, 1 << 20);
	umount2(mnt, MNT_DETACH);
	printf("# tmpfs ENOSPC test ran\n");
}

static struct rlimit saved_fsize;

static void raise_limit(void)
{
	CHECK(setrlimit(RLIMIT_FSIZE, &saved_fsize) == 0);
	signal(SIGXFSZ, SIG_DFL);
}

static void test_efbig_rlimit(void)
{
	const char *dir = fresh_dir("efbig");
	/* Files may not grow past 40000 bytes: the segment (1 MiB) reaches that
	 * first, and the write that would pass it fails with EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &saved_fsize);
	struct rlimit lim = { 40000, saved_fsize.rlim_max };
	pf_spool *s = open_spool(dir, 1 << 22, 1 << 20, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	unsigned i = 0;
	int r = 0;
	while (i < 100 && (r = append_rec(s, i, 3000)) == 0)
		i++;
	CHECK(r == -EFBIG);
	const pf_spool_stats *st = pf_spool_get_stats(s);
	CHECK(st->write_errors == 1 && st->pending_records == i && i > 5);
	CHECK(seg_bytes_on_disk(dir) == st->bytes);
	raise_limit();
	CHECK(append_rec(s, 500, 3000) == 0);
	pf_spool_close(s);
	s = open_spool(dir, 1 << 22, 1 << 20, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_get_stats(s)->corrupt_cuts == 0 && pf_spool_pending(s) == i + 1);
	for (unsigned k = 0; k < i; k++)
		CHECK(expect_rec(s, k, 3000, 1));
	CHECK(expect_rec(s, 500, 3000, 1));
	pf_spool_close(s);
}

static void test_fsync_policies(void)
{
	/* batch: one fdatasync per append and per ack. */
	const char *dir = fresh_dir("fsync");
	pf_spool *s = open_spool(dir, 1 << 20, 4096, PF_SPOOL_FSYNC_BATCH);
	CHECK(s != NULL);
	if (!s)
		return;
	unsigned long before = n_fdatasync;
	for (unsigned i = 0; i < 10; i++)
		CHECK(append_rec(s, i, 100) == 0);
	CHECK(n_fdatasync - before == 10);
	before = n_fdatasync;
	for (unsigned i = 0; i < 4; i++)
		CHECK(expect_rec(s, i, 100, 1));
	CHECK(n_fdatasync - before == 4);
	pf_spool_close(s);

	/* interval: none until pf_spool_sync(), then the segment and cursor. */
	s = open_spool(dir, 1 << 20, 1 << 18, PF_SPOOL_FSYNC_INTERVAL);
	CHECK(s != NULL);
	if (!s)
		return;
	before = n_fdatasync;
	for (unsigned i = 10; i < 20; i++)
		CHECK(append_rec(s, i, 100) == 0);
	for (unsigned i = 4; i < 8; i++)
		CHECK(expect_rec(s, i, 100, 1));
	CHECK(n_fdatasync == before);
	CHECK(pf_spool_sync(s) == 0);
	CHECK(n_fdatasync - before == 2);
	before = n_fdatasync;
	CHECK(pf_spool_sync(s) == 0); /* nothing new: nothing to do */
	CHECK(n_fdatasync == before);
	CHECK(append_rec(s, 20, 100) == 0);
	pf_spool_close(s); /* close syncs */
	CHECK(n_fdatasync - before == 1);

	/* off: never, not even at close. */
	s = open_spool(dir, 1 << 20, 1 << 18, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	before = n_fdatasync;
	for (unsigned i = 21; i < 30; i++)
		CHECK(append_rec(s, i, 100) == 0);
	for (unsigned i = 8; i < 12; i++)
		CHECK(expect_rec(s, i, 100, 1));
	pf_spool_close(s);
	CHECK(n_fdatasync == before);

	/* Whatever the policy, everything is there after a clean close. */
	s = open_spool(dir, 1 << 20, 1 << 18, PF_SPOOL_FSYNC_OFF);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(pf_spool_pending(s) == 30 - 12);
	for (unsigned i = 12; i < 30; i++)
		CHECK(expect_rec(s, i, 100, 1));
	pf_spool_close(s);
}

static void test_bad_options(void)
{
	char err[256];
	pf_spool_opts o = { .dir = fresh_dir("opts"), .max_bytes = 100 };
	CHECK(pf_spool_open(&o, err, sizeof err) == NULL && errno == EINVAL && err[0]);
	o.max_bytes = 1 << 20;
	o.fsync = (enum pf_spool_fsync)7;
	CHECK(pf_spool_open(&o, err, sizeof err) == NULL && errno == EINVAL);
	char p[600];
	snprintf(p, sizeof p, "%s/no/such/parent", base);
	o.dir = p;
	o.fsync = PF_SPOOL_FSYNC_BATCH;
	CHECK(pf_spool_open(&o, err, sizeof err) == NULL && errno == ENOENT);
	CHECK(strstr(err, "cannot create directory") != NULL);
	/* Created 0700. */
	o.dir = fresh_dir("mode");
	pf_spool *s = pf_spool_open(&o, err, sizeof err);
	CHECK(s != NULL);
	struct stat st;
	CHECK(stat(o.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	pf_spool_close(s);
	pf_spool_close(NULL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base, sizeof base, "%s/pf-spool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	test_order_across_segments();
	test_restart_partial_acks();
	test_sigkill(PF_SPOOL_FSYNC_BATCH);
	test_sigkill(PF_SPOOL_FSYNC_OFF);
	test_bound();
	test_torn_tail();
	test_corrupt_byte();
	test_garbage_files();
	test_enospc_tmpfs();
	test_efbig_rlimit();
	test_fsync_policies();
	test_bad_options();
	rm_rf(base);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
