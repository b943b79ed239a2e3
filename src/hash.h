/*
 * hash.h: the 64-bit hashing shared by the parser and the schema mapper,
 * and a set of 64-bit hashes (the parser's "names and groups seen").
 *
 * The hashes only pick slots and spot repeats; nothing stores them across
 * processes, so they may change with the code. Not for untrusted keys where
 * collisions could be forced at will: the parser accepts that a collision
 * makes a rare false report, the mapper compares labels after a hash hit.
 */
#ifndef PF_HASH_H
#define PF_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "str.h"

#define PF_FNV_OFFSET 0xcbf29ce484222325ULL /* FNV-1a 64-bit offset basis */
#define PF_FNV_PRIME 0x100000001b3ULL

/* FNV-1a of p[0..n), continuing from h (start with PF_FNV_OFFSET). */
static inline uint64_t pf_fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * PF_FNV_PRIME;
	return h;
}

/* Hash of a whole string, 8 bytes at a time (several times faster than
 * FNV's byte loop on names and label values). Unlike pf_fnv1a it cannot
 * continue a hash: use it only where every key is hashed in one piece.
 * Its low bits hardly see the last bytes of the last 8 (a product's low
 * bits depend only on its factors' low bits): keys that differ only
 * there, such as URLs that differ in a port's last digit, share them.
 * Pass it through pf_mix64() before taking a few low bits of such keys. */
static inline uint64_t pf_hash_bytes(uint64_t seed, const char *p, size_t n)
{
	const size_t len = n;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (n && len >= 8) {
		/* The last 8 bytes, which overlap the words done, shifted down
		 * to the n left: the value memcpy(&w, p, n) gives, without a
		 * call for a length known only at run time. */
		memcpy(&w, p + n - 8, 8);
		w >>= 8 * (8 - n);
	} else
#endif
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)(unsigned char)p[i] << (8 * i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/* MurmurHash3's finaliser: spreads every input bit over the whole word,
 * so that a sum of such hashes stays well spread. */
static inline uint64_t pf_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Hash of one label (name and value). A label set's hash is the sum of its
 * labels' hashes, so the same labels in another order hash the same. */
static inline uint64_t pf_hash_label(pf_str name, pf_str value)
{
	/* The name's hash seeds the value's: a="bc" and ab="c" differ. */
	return pf_mix64(pf_hash_bytes(pf_hash_bytes(PF_FNV_OFFSET, name.p, name.n), value.p, value.n));
}

/* An open-addressing set of 64-bit keys. Zero-initialise it; free it with
 * pf_hset_free(). Key 0 is stored as 1 (the empty-slot mark), so 0 and 1
 * are one key. */
typedef struct pf_hset {
	uint64_t *k; /* 0 marks an empty slot */
	size_t cap;  /* a power of two, or 0 */
	size_t n;
} pf_hset;

/* Adds key. Returns 1 if it was present, 0 if added, -1 when out of memory
 * (the set is unchanged). */
int pf_hset_add(pf_hset *s, uint64_t key);

/* Returns 1 if key is in the set, else 0. */
int pf_hset_has(const pf_hset *s, uint64_t key);

/* Empties the set, keeping its memory. */
void pf_hset_clear(pf_hset *s);

/* Frees the set's memory; it is then empty and may be reused. */
void pf_hset_free(pf_hset *s);

#endif
