/*
 * test_hash.c: unit test of pf_hash_bytes() (src/hash.h).
 *
 * Its tail (the last 1-7 bytes) is read with one overlapping 8-byte load
 * when the key has 8 bytes or more. What must hold: the value is the one
 * the plain definition gives (each 8 bytes, then the rest, as a
 * little-endian number), for every length and address, and no byte outside
 * the key is read (each key sits alone in a malloc() block of its exact
 * size, which the ASan build checks).
 */
#include "hash.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                          \
			failures++;                                        \
		}                                                          \
	} while (0)

/* The definition, a byte at a time. */
static uint64_t le_word(const unsigned char *p, size_t n)
{
	uint64_t w = 0;
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

static uint64_t reference(uint64_t seed, const unsigned char *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
	for (; n >= 8; p += 8, n -= 8) {
		h = (h ^ le_word(p, 8)) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	h = (h ^ le_word(p, n)) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

int main(void)
{
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	printf("SKIP: the reference is little-endian\n");
	return 77;
#else
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	int checked = 0;
	for (size_t n = 0; n <= 70; n++) {
		for (int round = 0; round < 50; round++) {
			unsigned char *k = malloc(n ? n : 1);
			if (k == NULL)
				return 2;
			for (size_t i = 0; i < n; i++) {
				r ^= r << 13, r ^= r >> 7, r ^= r << 17;
				k[i] = (unsigned char)r;
			}
			uint64_t seed = round % 2 ? PF_FNV_OFFSET : r;
			CHECK(pf_hash_bytes(seed, (const char *)k, n) == reference(seed, k, n));
			/* A key that differs in its last byte hashes apart. */
			if (n > 0) {
				uint64_t h = pf_hash_bytes(seed, (const char *)k, n);
				k[n - 1] ^= 1;
				CHECK(pf_hash_bytes(seed, (const char *)k, n) != h);
			}
			free(k);
			checked++;
		}
	}
	printf("%d keys checked\n", checked);
	return failures ? 1 : 0;
#endif
}
