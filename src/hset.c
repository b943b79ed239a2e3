/*
 * hset.c: the set of 64-bit keys declared in hash.h.
 *
 * Linear probing in a table kept at most half full, indexed by the low
 * bits of the key: the keys are already hashes, so they are used as they
 * are.
 */
#include "hash.h"

#include <stdlib.h>
#include <string.h>

void pf_hset_clear(pf_hset *s)
{
	if (s->n)
		memset(s->k, 0, s->cap * sizeof(*s->k));
	s->n = 0;
}

void pf_hset_free(pf_hset *s)
{
	free(s->k);
	s->k = NULL;
	s->cap = s->n = 0;
}

int pf_hset_add(pf_hset *s, uint64_t key)
{
	if (key == 0)
		key = 1;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *nk = calloc(ncap, sizeof(*nk));
		if (nk == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (s->k[i] == 0)
				continue;
			size_t j = (size_t)s->k[i] & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = s->k[i];
		}
		free(s->k);
		s->k = nk;
		s->cap = ncap;
	}
	size_t j = (size_t)key & (s->cap - 1);
	while (s->k[j]) {
		if (s->k[j] == key)
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	s->k[j] = key;
	s->n++;
	return 0;
}

int pf_hset_has(const pf_hset *s, uint64_t key)
{
	if (key == 0)
		key = 1;
	if (s->cap == 0)
		return 0;
	size_t j = (size_t)key & (s->cap - 1);
	while (s->k[j]) {
		if (s->k[j] == key)
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	return 0;
}
