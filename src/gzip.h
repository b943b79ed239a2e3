/*
 * gzip.h: gzip of whole request bodies (one batch each) and gunzip of
 * whole response bodies (one scrape each), with libdeflate.
 *
 * A batch is complete in memory before it is sent, so a whole-buffer
 * compressor fits and no streaming state is needed. Measured on 1 MiB
 * batches of our line protocol (node_exporter, live and the conformance
 * payload in the three schemas; one core of an AMD EPYC, Debian 12's
 * zlib 1.2.13 and libdeflate 1.14):
 *
 *   level 1: zlib 322-500 MB/s, ratio 6.5-9.8; libdeflate 713-1102 MB/s,
 *            ratio 7.3-10.9 (2.2x faster, smaller)
 *   level 6: zlib 120-176 MB/s, ratio 7.8-11.6; libdeflate 264-465 MB/s,
 *            ratio 8.1-11.7 (2.2-2.6x faster, smaller)
 *
 * (the lower figures are live node_exporter scrapes, whose values change
 * between scrapes; the higher ones repeat the same payload). The default
 * level is 1: libdeflate's level 1 costs about 1.4 ms of CPU per MiB and
 * sends 10% more bytes than its level 6, which costs 3-4 ms; CPU is what
 * a relay runs short of, not bandwidth to its database.
 */
#ifndef PF_GZIP_H
#define PF_GZIP_H

#include <stddef.h>

typedef struct pf_gzip pf_gzip;

/* A compressor for level 1-9 (out of range: clamped), or NULL. */
pf_gzip *pf_gzip_new(int level);

/* NULL: no-op. */
void pf_gzip_free(pf_gzip *z);

/* Compresses n bytes into a new malloc'd buffer (the caller frees it) of
 * *out_len bytes, a complete gzip member. Returns it, or NULL. */
char *pf_gzip_compress(pf_gzip *z, const char *in, size_t n, size_t *out_len);

/*
 * Scrape bodies that come gzipped (node_exporter and every client_golang
 * exporter answer Accept-Encoding: gzip) are decompressed whole once the
 * response is in: libdeflate inflates 2.3x as fast as zlib, which libcurl
 * uses as the body streams in (115 KB of node_exporter text gzipped at
 * level 6: 51 us against 115-120 us with zlib's 16 KB steps; at 1,000
 * targets zlib was a quarter of the daemon's CPU). The cost is that a gzip
 * body is held whole, compressed and then decompressed, before parsing.
 */
typedef struct pf_gunzip pf_gunzip;

/* A decompressor, or NULL. Not thread-safe: one per loop. */
pf_gunzip *pf_gunzip_new(void);

/* NULL: no-op. */
void pf_gunzip_free(pf_gunzip *z);

/* Decompresses the gzip member(s) in[0..n) into a new malloc'd buffer
 * (the caller frees it; *out is NULL on error) of *out_len bytes.
 * Returns 0; -EFBIG: more than max_out bytes (nothing is decompressed
 * beyond max_out); -EBADMSG: not gzip, corrupt, truncated, a wrong CRC or
 * length, or bytes after the last member; -ENOMEM. */
int pf_gunzip_run(pf_gunzip *z, const void *in, size_t n, size_t max_out, char **out, size_t *out_len);

#endif
