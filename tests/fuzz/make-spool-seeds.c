/*
 * make-spool-seeds.c: writes seeds for fuzz_spool in its input layout (see
 * fuzz_spool.c): a selector byte, the cursor file, then each segment file,
 * separated by "#PFFILE#". The spools are made by pf_spool_append() and
 * pf_spool_ack() themselves, so the seeds start the fuzzer from valid
 * segments. Usage: make-spool-seeds OUTDIR (the committed seeds are in
 * tests/fuzz/corpus-spool/).
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

static const char *out;

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void cat_file(FILE *o, const char *dir, const char *name, long cut)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		return;
	char buf[4096];
	size_t n;
	long total = 0;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (cut >= 0 && total + (long)n > cut)
			n = (size_t)(cut - total);
		fwrite(buf, 1, n, o);
		total += (long)n;
	}
	fclose(f);
}

/* Packs DIR into OUT/NAME; the last segment is cut to cut_last bytes less
 * (0: whole). Then empties DIR. */
static void pack(const char *dir, const char *name, unsigned char sel, long cut_last)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", out, name);
	FILE *o = fopen(p, "wb");
	if (!o) {
		perror(p);
		exit(1);
	}
	fputc(sel, o);
	cat_file(o, dir, "cursor", -1);
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name);
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		size_t l = strlen(e);
		if (l > 4 && strcmp(e + l - 4, ".seg") == 0) {
			long cut = -1;
			if (cut_last && i == n - 1) {
				struct stat st;
				snprintf(p, sizeof p, "%s/%s", dir, e);
				if (stat(p, &st) == 0)
					cut = (long)st.st_size - cut_last;
			}
			fputs("#PFFILE#", o);
			cat_file(o, dir, e, cut);
		}
		snprintf(p, sizeof p, "%s/%s", dir, e);
		if (e[0] != '.')
			unlink(p);
		free(ents[i]);
	}
	free(ents);
	fclose(o);
}

static pf_spool *open_dir(const char *dir, uint64_t max)
{
	pf_spool_opts o = { .dir = dir, .max_bytes = max, .fsync = PF_SPOOL_FSYNC_OFF };
	char err[256];
	pf_spool *s = pf_spool_open(&o, err, sizeof err);
	if (!s) {
		fprintf(stderr, "make-spool-seeds: %s\n", err);
		exit(1);
	}
	return s;
}

static void fill(pf_spool *s, unsigned n, unsigned width)
{
	for (unsigned i = 0; i < n; i++) {
		char b[2048];
		size_t len = 0, lines = 1 + i % 3;
		for (size_t l = 0; l < lines; l++)
			len += (size_t)snprintf(b + len, sizeof b - len, "cpu,host=h%u,cpu=cpu%zu usage=%u.5,n=%ui %u000\n",
						i, l, i * 7 % 100, i, 1700000000u + i);
		while (len < width && len + 16 < sizeof b)
			len += (size_t)snprintf(b + len, sizeof b - len, "pad v=%zui\n", len), lines++;
		if (pf_spool_append(s, b, len, lines) != 0) {
			fprintf(stderr, "make-spool-seeds: append failed\n");
			exit(1);
		}
	}
}

static void ack(pf_spool *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		pf_batch *b;
		if (pf_spool_peek(s, &b) != 0 || pf_spool_ack(s) != 0) {
			fprintf(stderr, "make-spool-seeds: replay failed\n");
			exit(1);
		}
		free(b);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-spool-seeds OUTDIR\n");
		return 2;
	}
	out = argv[1];
	mkdir(out, 0755);
	char dir[] = "/tmp/pf-spool-seeds.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char sd[64];
	snprintf(sd, sizeof sd, "%s/s", dir);

	/* sel: bit 2 names segments by their header; bits 4-6 max_bytes. */
	pf_spool *s = open_dir(sd, 1 << 20);
	fill(s, 3, 0);
	pf_spool_close(s);
	pack(sd, "one-segment", 0x74, 0);

	s = open_dir(sd, 16384); /* 4 KiB segments */
	fill(s, 24, 300);
	ack(s, 5);
	pf_spool_close(s);
	pack(sd, "segments-acked", 0x24, 0);

	s = open_dir(sd, 16384);
	fill(s, 12, 300);
	ack(s, 2);
	pf_spool_close(s);
	pack(sd, "restart-small-bound", 0x0c, 0); /* 4 KiB bound, restart */

	s = open_dir(sd, 1 << 20);
	fill(s, 4, 100);
	pf_spool_close(s);
	pack(sd, "torn-tail", 0x76, 17);

	s = open_dir(sd, 16384);
	fill(s, 16, 200);
	ack(s, 1);
	pf_spool_close(s);
	pack(sd, "by-index", 0x39, 0); /* named 1, 2, ...: most do not match */

	rmdir(sd);
	rmdir(dir);
	return 0;
}
