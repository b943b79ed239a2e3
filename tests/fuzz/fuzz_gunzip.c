/*
 * fuzz_gunzip.c: libFuzzer target for pf_gunzip_run, the whole-body gunzip
 * of gzip scrape responses (src/gzip.h).
 *
 * Byte 0 sets the limit: max_out = byte * 4099 + (byte & 7), from 0 to
 * about 1 MiB, so the limit falls anywhere against the data, exactly on
 * it included; the rest is the body as a target would send it. Checked
 * beyond "no crash, leak or UB": only the documented results (0, -EFBIG,
 * -EBADMSG, -ENOMEM); on success at most max_out bytes, and the same bytes
 * again from a second call with the limit at exactly the length (the
 * growth from the trailer's guess must not change the result); on -EFBIG,
 * the same with a limit one byte larger is never a success smaller than
 * the first limit; out is NULL on every error.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gzip.h"

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_gunzip: broken promise: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pf_gunzip *u;
	if (!u && !(u = pf_gunzip_new()))
		return 0;
	if (size == 0)
		return 0;
	size_t max_out = (size_t)data[0] * 4099 + (data[0] & 7);
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	char *out = (char *)1;
	size_t len = 12345;
	int rc = pf_gunzip_run(u, in, n, max_out, &out, &len);
	if (rc != 0 && rc != -EFBIG && rc != -EBADMSG && rc != -ENOMEM)
		broken("an undocumented result");
	if (rc != 0) {
		if (out != NULL)
			broken("out is not NULL after an error");
		if (rc == -EFBIG) {
			char *o2 = NULL;
			size_t l2 = 0;
			if (pf_gunzip_run(u, in, n, max_out + 1, &o2, &l2) == 0 && l2 <= max_out)
				broken("too big at max_out but fits in max_out + 1 with fewer bytes");
			free(o2);
		}
		return 0;
	}
	if (out == NULL || len > max_out)
		broken("a success over max_out or without a buffer");
	char *o2 = NULL;
	size_t l2 = 0;
	if (pf_gunzip_run(u, in, n, len, &o2, &l2) != 0 || l2 != len || (len && memcmp(out, o2, len) != 0))
		broken("not the same bytes with the limit at exactly their length");
	free(o2);
	free(out);
	return 0;
}
