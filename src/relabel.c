/*
 * relabel.c: the per-job sample filter (see relabel.h).
 *
 * fnmatch() wants NUL-terminated strings, so a name is copied into scratch
 * space before matching; the decision for the last sample name is cached,
 * since a histogram's buckets arrive one after another under one name.
 */
#include "relabel.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define EXPORTED "exported_"

struct pf_relabel {
	pf_relabel_opts o;
	char **keys;          /* our tag keys, owned */
	pf_str *ourk;         /* the same as slices, compared with each label name */
	/* The last name matched and whether it was kept. */
	char *last;
	size_t last_len, last_cap;
	int last_keep;
	char *tmp;            /* NUL-terminated copy of a name for fnmatch */
	size_t tmp_cap;
	pf_sample out;        /* the rewritten sample */
	pf_label *labels;
	size_t lcap;
	char *names;          /* exported_<name> texts */
	size_t ncap;
};

static int reserve(void **p, size_t *cap, size_t n, size_t size)
{
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < n)
		c *= 2;
	void *q = realloc(*p, c * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

pf_relabel *pf_relabel_new(const pf_relabel_opts *o)
{
	pf_relabel *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->o = *o;
	r->last_keep = -1;
	if (o->nour_keys) {
		r->keys = calloc(o->nour_keys, sizeof(char *));
		if (r->keys == NULL)
			goto fail;
		r->ourk = calloc(o->nour_keys, sizeof(pf_str));
		if (r->ourk == NULL)
			goto fail;
		for (size_t i = 0; i < o->nour_keys; i++) {
			if ((r->keys[i] = strdup(o->our_keys[i])) == NULL)
				goto fail;
			r->ourk[i] = pf_str_c(r->keys[i]);
		}
	}
	r->o.our_keys = (const char *const *)r->keys;
	return r;
fail:
	pf_relabel_free(r);
	return NULL;
}

int pf_relabel_is_noop(const pf_relabel *r)
{
	return r->o.ninclude == 0 && r->o.nexclude == 0 && r->o.nlabel_drop == 0 &&
	       (r->o.honor_labels || r->o.nour_keys == 0);
}

int pf_relabel_renames_only(const pf_relabel *r)
{
	return r->o.ninclude == 0 && r->o.nexclude == 0 && r->o.nlabel_drop == 0;
}

/* s as a C string in r->tmp, or NULL. */
static const char *cstr(pf_relabel *r, pf_str s)
{
	if (reserve((void **)&r->tmp, &r->tmp_cap, s.n + 1, 1) != 0)
		return NULL;
	memcpy(r->tmp, s.p, s.n);
	r->tmp[s.n] = '\0';
	return r->tmp;
}

static int any_match(const char *const *globs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], name, 0) == 0)
			return 1;
	return 0;
}

/* 1 when the sample's name passes include/exclude; -1 out of memory. */
static int name_kept(pf_relabel *r, const pf_sample *s)
{
	if (r->o.ninclude == 0 && r->o.nexclude == 0)
		return 1;
	if (r->last_keep >= 0 && r->last_len == s->name.n && memcmp(r->last, s->name.p, s->name.n) == 0)
		return r->last_keep;
	const char *name = cstr(r, s->name);
	if (name == NULL)
		return -1;
	int inc = r->o.ninclude == 0 || any_match(r->o.include, r->o.ninclude, name);
	int exc = any_match(r->o.exclude, r->o.nexclude, name);
	if (!pf_str_eq(s->name, s->family)) {
		const char *fam = cstr(r, s->family);
		if (fam == NULL)
			return -1;
		inc = inc || any_match(r->o.include, r->o.ninclude, fam);
		exc = exc || any_match(r->o.exclude, r->o.nexclude, fam);
	}
	int keep = inc && !exc;
	if (reserve((void **)&r->last, &r->last_cap, s->name.n + 1, 1) == 0) {
		memcpy(r->last, s->name.p, s->name.n);
		r->last_len = s->name.n;
		r->last_keep = keep;
	} else {
		r->last_keep = -1;
	}
	return keep;
}

static int is_ours(const pf_relabel *r, pf_str name)
{
	for (size_t i = 0; i < r->o.nour_keys; i++)
		if (pf_str_eq(name, r->ourk[i]))
			return 1;
	return 0;
}

static int dropped(pf_relabel *r, pf_str name)
{
	if (r->o.nlabel_drop == 0)
		return 0;
	const char *c = cstr(r, name);
	return c != NULL && any_match(r->o.label_drop, r->o.nlabel_drop, c);
}

const pf_sample *pf_relabel_sample(void *ud, const pf_sample *s)
{
	pf_relabel *r = ud;
	int keep = name_kept(r, s);
	if (keep <= 0)
		return NULL; /* out of memory drops the sample rather than mislabel it */
	int rename = !r->o.honor_labels && r->o.nour_keys;
	if (r->o.nlabel_drop == 0 && !rename)
		return s;
	/* Is there anything to change? Most samples have no clash. */
	size_t i;
	for (i = 0; i < s->nlabels; i++)
		if ((rename && is_ours(r, s->labels[i].name)) || dropped(r, s->labels[i].name))
			break;
	if (i == s->nlabels)
		return s;

	if (reserve((void **)&r->labels, &r->lcap, s->nlabels ? s->nlabels : 1, sizeof(pf_label)) != 0)
		return NULL;
	size_t n = 0, need = 0;
	for (i = 0; i < s->nlabels; i++) {
		if (dropped(r, s->labels[i].name))
			continue;
		r->labels[n++] = s->labels[i];
		if (rename && is_ours(r, s->labels[i].name))
			need += sizeof(EXPORTED) - 1 + s->labels[i].name.n;
	}
	if (need && reserve((void **)&r->names, &r->ncap, need, 1) != 0)
		return NULL;
	size_t off = 0;
	for (i = 0; i < n; i++) {
		pf_str nm = r->labels[i].name;
		if (!rename || !is_ours(r, nm))
			continue;
		char *d = r->names + off;
		memcpy(d, EXPORTED, sizeof(EXPORTED) - 1);
		memcpy(d + sizeof(EXPORTED) - 1, nm.p, nm.n);
		r->labels[i].name = (pf_str){ d, sizeof(EXPORTED) - 1 + nm.n };
		off += r->labels[i].name.n;
	}
	r->out = *s;
	r->out.labels = r->labels;
	r->out.nlabels = n;
	r->out.lp_plain = 0; /* renamed labels may be out of order */
	return &r->out;
}

void pf_relabel_free(pf_relabel *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->keys && i < r->o.nour_keys; i++)
		free(r->keys[i]);
	free(r->keys);
	free(r->ourk);
	free(r->last);
	free(r->tmp);
	free(r->labels);
	free(r->names);
	free(r);
}
