/*
 * schema.c: maps Prometheus samples to InfluxDB points (see schema.h).
 *
 * Counters, gauges, untyped samples and OpenMetrics info samples map
 * straight through: one sample, one point, built in arrays the mapper owns
 * and reuses, so nothing is allocated per sample.
 *
 * Histograms, summaries (and, for telegraf-v1, OpenMetrics statesets) are
 * grouped per label set within their family, because Telegraf writes one
 * point per series with a field per bucket or quantile. The samples of one
 * family arrive contiguously, so only the open family is held: its label
 * sets, keys and value texts are copied into one arena (a pf_buf, so they
 * are kept as offsets: the arena may move while it grows) and the family is
 * written out when the next family starts or at pf_mapper_finish(). The
 * arena and the arrays keep their memory across families.
 *
 * A family with very many series would hold them all. So once the held
 * family passes FLUSH_AT bytes, the groups are written out early at the
 * start of a new series, provided every group held is complete (has its
 * count and sum): with series written one after the other, as exporters
 * do, memory stays bounded by one series; with series interleaved (a group
 * still waiting for samples) nothing is cut.
 *
 * What Telegraf does is the reference for both telegraf schemas: its
 * prometheus parser (prometheus/common expfmt + metric_version 1 or 2) for
 * text 0.0.4, its openmetrics parser for OpenMetrics. The places where we
 * deliberately differ are listed in tests/schema/DEVIATIONS.md.
 */
#include "schema.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "hash.h"

#define NONE ((size_t)-1)

/* The open family's copies are bounded so that a hostile body cannot grow
 * them without limit; the caller's body limit is normally far smaller. */
#define ARENA_MAX ((size_t)1 << 30)
#define KBUF_MAX ((size_t)1 << 24)
#define FLUSH_AT ((size_t)256 << 10)

/* A string in the arena. */
typedef struct aref {
	size_t off;
	size_t len;
} aref;

/* One bucket, quantile or state of a group. */
typedef struct ent {
	aref key;      /* field key (v1) or le/quantile tag value (v2) */
	double bound;  /* upper bound or quantile; unused for states */
	double v;
	aref text;     /* the value's source text, may be empty */
	int kind;      /* PF_FIELD_FLOAT or PF_FIELD_BOOL */
	size_t next;   /* next entry of the same group, or NONE */
} ent;

/* A value that a group has at most once (count, sum, created). */
typedef struct scalar {
	int has;
	double v;
	aref text;
} scalar;

/* One label set of the open family. */
typedef struct group {
	size_t lab;    /* first label in m->glab */
	size_t nlab;
	uint64_t hash;
	size_t head, tail; /* entries */
	int anybound;
	double maxbound;   /* largest bound so far: a bigger one is no duplicate */
	int inf_seen;
	int complete;      /* has its count and sum */
	scalar count, sum, created;
	int has_ts;
	int64_t ts;
} group;

typedef struct glabel {
	aref name;
	aref value;
} glabel;

/* A bound already formatted: the same few le/quantile texts come back in
 * every series, and formatting them Go's way is not cheap. */
typedef struct bcache {
	unsigned char tlen; /* 0: empty */
	char text[31];
	char key[32];
	double bound;
} bcache;

#define BCACHE_SIZE 64

typedef struct slot {
	uint32_t gen;
	uint32_t idx;
} slot;

enum gkind {
	G_NONE = 0,
	G_HISTOGRAM,
	G_SUMMARY,
	G_STATESET,
};

struct pf_mapper {
	pf_map_opts o;
	pf_point_fn fn;
	void *ud;

	/* Scratch for building one point. */
	pf_tag *tags;
	size_t tcap;
	pf_tag *base; /* a group's tags, copied into tags for each point */
	pf_tag *xtags; /* the extra tags, prepared by pf_lp_tag_prepare() */
	size_t xcap;
	pf_buf xbuf;   /* their escaped values */
	pf_tag *xsorted; /* those with a value, sorted by key: pf_point.extra */
	size_t nxsorted, xscap;
	int direct;    /* xsorted is usable: every extra tag raw, no key twice */
	pf_str *xtext; /* ",key=value" of each of xsorted, in xjoin: pf_direct.extra_text */
	size_t xtcap;
	pf_buf xjoin;
	size_t bcap;
	pf_tag *stags; /* a grouped sample's labels */
	size_t scap;
	pf_field *fields;
	size_t fcap;
	pf_buf kbuf;  /* derived keys ("<name>_info", ...) */

	/* The open grouped family. */
	enum gkind gk;
	enum pf_mtype gtype;
	aref fam;
	aref unit;
	pf_buf arena;
	size_t arena_base; /* arena length with the family's name and unit */
	size_t nincomplete; /* groups without their count and sum yet */
	group *groups;
	size_t ngroups, gcap;
	ent *ents;
	size_t nents, ecap;
	glabel *glab;
	size_t nglab, glcap;
	slot *table;       /* label-set hash -> group, open addressing */
	size_t tsize;      /* power of two, or 0 */
	uint32_t gen;      /* slots of other generations are empty */
	size_t last;       /* the group used last, or NONE */
	bcache bc[BCACHE_SIZE];
};

/* Grows an array to hold at least n elements. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < n)
		c *= 2;
	if (c > SIZE_MAX / elem)
		return -ENOMEM;
	void *p = realloc(*arr, c * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static int arena_put(pf_mapper *m, pf_str s, aref *out)
{
	out->off = m->arena.len;
	out->len = s.n;
	return pf_buf_append(&m->arena, s.p, s.n);
}

static pf_str aget(const pf_mapper *m, aref r)
{
	return (pf_str){ r.len ? m->arena.data + r.off : "", r.len };
}

static int is_telegraf(const pf_mapper *m)
{
	return m->o.schema != PF_SCHEMA_INFLUXDB_PROM;
}

static int is_om(const pf_mapper *m)
{
	return m->o.format == PF_FORMAT_OPENMETRICS;
}

/* The sample's timestamp as the schema reads it. Telegraf's prometheus
 * parser takes only positive timestamps; its openmetrics parser any. */
static int sample_ts(const pf_mapper *m, const pf_sample *s, int64_t *ts)
{
	if (m->o.ignore_timestamps || !s->has_ts)
		return 0;
	if (is_telegraf(m) && !is_om(m) && s->ts_ns <= 0)
		return 0;
	*ts = s->ts_ns;
	return 1;
}

/* ---- tags ---- */

/* pf_str_eq() for tag keys: keys of one length mostly differ in their
 * first byte ("host", "mode"), which spares most memcmp() calls. */
static inline int key_eq(pf_str a, pf_str b)
{
	return a.n == b.n && (a.n == 0 || (a.p[0] == b.p[0] && memcmp(a.p, b.p, a.n) == 0));
}

/* Appends key=value to t[*n], the last of equal keys winning (Telegraf
 * builds a map). Empty values are not tags: such a label neither shows up
 * nor hides an extra tag of its name. */
static inline void tag_set(pf_tag *t, size_t *n, pf_str k, pf_str v, unsigned char raw)
{
	for (size_t i = 0; i < *n; i++) {
		if (key_eq(t[i].key, k)) {
			t[i].value = v;
			t[i].raw = raw && t[i].raw;
			return;
		}
	}
	t[*n] = (pf_tag){ k, v, raw };
	(*n)++;
}

/* Collects a sample's labels as tags into t (room for nlabels), leaving
 * out empty values and the label named skip (le, quantile, the state). */
static size_t labels_to_tags(const pf_sample *s, pf_str skip, pf_tag *t)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nlabels; i++) {
		const pf_label *l = &s->labels[i];
		if (l->value.n == 0 || (skip.n && pf_str_eq(l->name, skip)))
			continue;
		if (n == 0 || i == 0) {
			t[n] = (pf_tag){ l->name, l->value, 0 };
			n++;
		} else {
			tag_set(t, &n, l->name, l->value, 0);
		}
	}
	return n;
}

/* Adds the extra tags a label has not already taken, then the OpenMetrics
 * unit, which Telegraf sets last (it wins over a label named unit). */
static void add_extra(const pf_mapper *m, pf_tag *t, size_t *n, pf_str unit)
{
	size_t nl = *n, nt = *n;
	for (size_t i = 0; i < m->o.ntags; i++) {
		const pf_tag *x = &m->xtags[i];
		size_t j;
		if (x->value.n == 0)
			continue;
		for (j = 0; j < nt; j++)
			if (key_eq(t[j].key, x->key))
				break;
		if (j < nl)
			continue; /* a label has it */
		if (j < nt) {
			/* An earlier extra tag of that key: as tag_set(). */
			t[j].value = x->value;
			t[j].raw = x->raw && t[j].raw;
		} else {
			t[nt++] = *x;
		}
	}
	*n = nt;
	if (unit.n && is_telegraf(m) && is_om(m))
		tag_set(t, n, PF_STR_LIT("unit"), unit, 0);
}

/* Room for a point's tags: labels, extra tags, unit, le/quantile. */
static int tags_room(pf_mapper *m, size_t nlabels)
{
	size_t n = nlabels + m->o.ntags + 2;
	int rc = grow((void **)&m->tags, &m->tcap, n, sizeof(pf_tag));
	if (rc == 0)
		rc = grow((void **)&m->base, &m->bcap, n, sizeof(pf_tag));
	if (rc == 0)
		rc = grow((void **)&m->stags, &m->scap, n, sizeof(pf_tag));
	return rc;
}

/* ---- straight-through samples ---- */

/* Hands one point to fn: its tags are the ntags collected in m->tags; or,
 * with plain set (a sample whose labels are lp_plain), that sample's
 * labels and the sorted extra tags, which the encoder merges and copies
 * (pf_point.plain): what labels_to_tags() + add_extra() + the encoder's
 * sort and escaping come to for such labels. */
static int emit(pf_mapper *m, pf_str meas, size_t ntags, const pf_sample *plain, size_t nfields,
		int has_ts, int64_t ts)
{
	pf_point p = {
		.measurement = meas,
		.tags = m->tags,
		.ntags = plain ? 0 : ntags,
		.plain = plain ? plain->labels : NULL,
		.nplain = plain ? plain->nlabels : 0,
		.extra = plain ? m->xsorted : NULL,
		.nextra = plain ? m->nxsorted : 0,
		/* A plain sample's name is a metric name (the parser's
		 * lp_plain), and so is every measurement and field key made
		 * from it (its family's name, "_info" added) or fixed. */
		.names_plain = plain != NULL,
		.fields = m->fields,
		.nfields = nfields,
		.has_time = 1,
		.time_ns = has_ts ? ts : m->o.now_ns,
	};
	return m->fn(m->ud, &p);
}

/* Whether s may be emitted as plain. */
static int plain_ok(const pf_mapper *m, const pf_sample *s)
{
	return s->lp_plain && m->direct && s->unit.n == 0;
}

static void field_float(pf_field *f, pf_str key, double v, pf_str text)
{
	f->key = key;
	f->kind = PF_FIELD_FLOAT;
	f->v.f = v;
	f->text = text;
	f->text_ok = 0;
}

/* A field with a sample's value; what the parser learnt about its text
 * spares the encoder a second look (pf_sample.value_text_lp). */
static void field_sample(pf_field *f, pf_str key, const pf_sample *s)
{
	field_float(f, key, s->value, s->value_text);
	f->text_ok = s->value_text_lp;
}

/* Builds "<a><b>" in kbuf, with spaces in b turned into '_' when
 * underscore is set (Telegraf's stateset field names). The result stays
 * valid until the next call. */
static int kbuf_join(pf_mapper *m, pf_str a, const char *sep, pf_str b,
		     int underscore, pf_str *out)
{
	size_t sl = strlen(sep);
	pf_buf_reset(&m->kbuf);
	char *d = pf_buf_reserve(&m->kbuf, a.n + sl + b.n);
	if (d == NULL)
		return m->kbuf.max - m->kbuf.len < a.n + sl + b.n ? -E2BIG : -ENOMEM;
	if (a.n)
		memcpy(d, a.p, a.n);
	memcpy(d + a.n, sep, sl);
	for (size_t i = 0; i < b.n; i++)
		d[a.n + sl + i] = (underscore && b.p[i] == ' ') ? '_' : b.p[i];
	pf_buf_commit(&m->kbuf, a.n + sl + b.n);
	*out = (pf_str){ m->kbuf.data, a.n + sl + b.n };
	return 0;
}

/* The value of the label named k, or an empty slice. */
static pf_str label_value(const pf_sample *s, pf_str k)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (pf_str_eq(s->labels[i].name, k))
			return s->labels[i].value;
	return (pf_str){ "", 0 };
}

/* influxdb-prom: measurement = sample name, field value, every label a tag. */
static int map_influxdb(pf_mapper *m, const pf_sample *s)
{
	int64_t ts = 0;
	int has_ts = sample_ts(m, s, &ts);
	field_sample(&m->fields[0], PF_STR_LIT("value"), s);
	if (plain_ok(m, s))
		return emit(m, s->name, 0, s, 1, has_ts, ts);
	size_t n = labels_to_tags(s, (pf_str){ NULL, 0 }, m->tags);
	add_extra(m, m->tags, &n, (pf_str){ NULL, 0 });
	return emit(m, s->name, n, NULL, 1, has_ts, ts);
}

/* A counter, gauge, untyped, info or (telegraf-v2) stateset sample.
 * name is the metric name Telegraf uses: the measurement in v1, the field
 * key in v2. */
static int map_simple(pf_mapper *m, const pf_sample *s, enum pf_mtype type,
		      pf_str name)
{
	int64_t ts = 0;
	int has_ts = sample_ts(m, s, &ts);
	int v1 = m->o.schema == PF_SCHEMA_TELEGRAF_V1;
	pf_str skip = { NULL, 0 };
	pf_field *f = &m->fields[0];
	int rc;

	int plain = type != PF_MT_STATESET && plain_ok(m, s);
	size_t n = 0;
	if (type == PF_MT_STATESET)
		skip = s->family; /* the label holding the state's name */
	if (!plain) {
		n = labels_to_tags(s, skip, m->tags);
		add_extra(m, m->tags, &n, s->unit);
	}

	switch (type) {
	case PF_MT_INFO:
		/* Telegraf writes 1 as an unsigned field, whatever the value. */
		if (v1) {
			f->key = PF_STR_LIT("info");
		} else if ((rc = kbuf_join(m, name, "_info", (pf_str){ "", 0 }, 0, &f->key)) != 0) {
			return rc;
		}
		f->kind = PF_FIELD_UINT;
		f->v.u = 1;
		f->text = (pf_str){ NULL, 0 };
		break;
	case PF_MT_STATESET: /* v2 only: one point per state */
		rc = kbuf_join(m, name, "_", label_value(s, s->family), 1, &f->key);
		if (rc)
			return rc;
		f->kind = PF_FIELD_BOOL;
		f->v.b = s->value > 0;
		f->text = (pf_str){ NULL, 0 };
		break;
	case PF_MT_COUNTER:
		field_sample(f, v1 ? PF_STR_LIT("counter") : name, s);
		break;
	case PF_MT_GAUGE:
		field_sample(f, v1 ? PF_STR_LIT("gauge") : name, s);
		break;
	default:
		field_sample(f, v1 ? PF_STR_LIT("value") : name, s);
		break;
	}
	pf_str meas = v1 ? name : is_om(m) ? PF_STR_LIT("openmetric") : PF_STR_LIT("prometheus");
	return emit(m, meas, n, plain ? s : NULL, 1, has_ts, ts);
}

/* ---- grouped families ---- */

/* Order-insensitive hash of a label set: a sum of mixed per-label hashes,
 * since the same series may list its labels in another order. */
static uint64_t hash_tags(const pf_tag *t, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += pf_hash_label(t[i].key, t[i].value);
	return sum;
}

static int labels_equal(const pf_mapper *m, const group *g, const pf_tag *t, size_t n)
{
	if (g->nlab != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		/* Usually the labels come in the same order: try that first. */
		const glabel *l = &m->glab[g->lab + i];
		if (pf_str_eq(aget(m, l->name), t[i].key) && pf_str_eq(aget(m, l->value), t[i].value))
			continue;
		size_t j;
		for (j = 0; j < n; j++) {
			l = &m->glab[g->lab + j];
			if (pf_str_eq(aget(m, l->name), t[i].key)) {
				if (!pf_str_eq(aget(m, l->value), t[i].value))
					return 0;
				break;
			}
		}
		if (j == n)
			return 0;
	}
	return 1;
}

static int group_matches(const pf_mapper *m, const group *g, uint64_t h,
			 const pf_tag *t, size_t n)
{
	return g->hash == h && labels_equal(m, g, t, n);
}

static void table_insert(pf_mapper *m, uint64_t h, size_t idx)
{
	size_t mask = m->tsize - 1;
	size_t i = (size_t)h & mask;
	while (m->table[i].gen == m->gen)
		i = (i + 1) & mask;
	m->table[i].gen = m->gen;
	m->table[i].idx = (uint32_t)idx;
}

/* Keeps the table at most half full. */
static int table_room(pf_mapper *m)
{
	if ((m->ngroups + 1) * 2 <= m->tsize)
		return 0;
	size_t ns = m->tsize ? m->tsize * 2 : 64;
	if (ns > SIZE_MAX / sizeof(slot) || m->ngroups >= UINT32_MAX)
		return -ENOMEM;
	slot *t = calloc(ns, sizeof(slot));
	if (t == NULL)
		return -ENOMEM;
	free(m->table);
	m->table = t;
	m->tsize = ns;
	m->gen = 1;
	for (size_t i = 0; i < m->ngroups; i++)
		table_insert(m, m->groups[i].hash, i);
	return 0;
}

/* Finds the group of the label set t[0..n) with hash h, or NULL. */
static group *lookup_group(pf_mapper *m, uint64_t h, const pf_tag *t, size_t n)
{
	if (m->last != NONE && group_matches(m, &m->groups[m->last], h, t, n))
		return &m->groups[m->last];
	if (m->tsize) {
		size_t mask = m->tsize - 1;
		for (size_t i = (size_t)h & mask; m->table[i].gen == m->gen; i = (i + 1) & mask) {
			group *g = &m->groups[m->table[i].idx];
			if (group_matches(m, g, h, t, n)) {
				m->last = m->table[i].idx;
				return g;
			}
		}
	}
	return NULL;
}

/* Makes a new group for the label set t[0..n) with hash h. */
static int new_group(pf_mapper *m, uint64_t h, const pf_tag *t, size_t n, group **out)
{
	int rc;

	if ((rc = table_room(m)) != 0 ||
	    (rc = grow((void **)&m->groups, &m->gcap, m->ngroups + 1, sizeof(group))) != 0 ||
	    (rc = grow((void **)&m->glab, &m->glcap, m->nglab + n, sizeof(glabel))) != 0)
		return rc;
	group *g = &m->groups[m->ngroups];
	memset(g, 0, sizeof(*g));
	g->lab = m->nglab;
	g->nlab = n;
	g->hash = h;
	g->head = g->tail = NONE;
	for (size_t i = 0; i < n; i++) {
		glabel *l = &m->glab[m->nglab + i];
		if ((rc = arena_put(m, t[i].key, &l->name)) != 0 ||
		    (rc = arena_put(m, t[i].value, &l->value)) != 0)
			return rc;
	}
	m->nglab += n;
	m->nincomplete++;
	table_insert(m, h, m->ngroups);
	m->last = m->ngroups++;
	*out = g;
	return 0;
}

static int scalar_set(pf_mapper *m, scalar *sc, double v, pf_str text)
{
	sc->has = 1;
	sc->v = v;
	return arena_put(m, text, &sc->text);
}

/* Adds (or, for a key seen before, overwrites: Telegraf's v1 fields are a
 * map) a bucket, quantile or state. */
static int group_add(pf_mapper *m, group *g, pf_str key, double bound,
		     int numeric, int kind, double v, pf_str text)
{
	int rc;
	if (!numeric || (g->anybound && !(bound > g->maxbound))) {
		for (size_t i = g->head; i != NONE; i = m->ents[i].next) {
			ent *e = &m->ents[i];
			if (pf_str_eq(aget(m, e->key), key)) {
				e->v = v;
				e->kind = kind;
				return arena_put(m, text, &e->text);
			}
		}
	}
	if (numeric && (!g->anybound || bound > g->maxbound)) {
		g->anybound = 1;
		g->maxbound = bound;
	}
	if ((rc = grow((void **)&m->ents, &m->ecap, m->nents + 1, sizeof(ent))) != 0)
		return rc;
	ent *e = &m->ents[m->nents];
	e->bound = bound;
	e->v = v;
	e->kind = kind;
	e->next = NONE;
	if ((rc = arena_put(m, key, &e->key)) != 0 || (rc = arena_put(m, text, &e->text)) != 0)
		return rc;
	if (g->tail == NONE)
		g->head = m->nents;
	else
		m->ents[g->tail].next = m->nents;
	g->tail = m->nents++;
	return 0;
}

/* Telegraf (through expfmt and its openmetrics parser) keeps counts as
 * uint64: a count is truncated towards zero. The source text is kept only
 * when that changed nothing. */
static void count_value(double v, pf_str text, double *out, pf_str *outtext)
{
	if (v >= 0 && v < 18446744073709551616.0) {
		double t = trunc(v);
		*out = t;
		*outtext = t == v ? text : (pf_str){ NULL, 0 };
	} else {
		*out = v;
		*outtext = text;
	}
}

/* Parses an le/quantile bound and formats it as Go's FormatFloat(v, 'g',
 * -1, 64) does, which is how Telegraf names fields and tags. */
static int bound_key(pf_mapper *m, pf_str text, double *bound, char *dst)
{
	bcache *c = NULL;
	if (text.n > 0 && text.n <= sizeof(c->text)) {
		/* Bounds differ in any byte ("0.005", "0.025"): hash them all. */
		c = &m->bc[pf_hash_bytes(PF_FNV_OFFSET, text.p, text.n) % BCACHE_SIZE];
		if (c->tlen == text.n && memcmp(c->text, text.p, text.n) == 0) {
			*bound = c->bound;
			memcpy(dst, c->key, sizeof(c->key));
			return 0;
		}
	}
	if (pf_parse_float(text.p, text.n, bound) != 0)
		return -1;
	pf_fmt_float_g(dst, *bound);
	if (c != NULL) {
		c->tlen = (unsigned char)text.n;
		memcpy(c->text, text.p, text.n);
		memcpy(c->key, dst, sizeof(c->key));
		c->bound = *bound;
	}
	return 0;
}

static int open_family(pf_mapper *m, const pf_sample *s, enum gkind gk)
{
	int rc;
	m->gk = gk;
	m->gtype = s->type;
	if ((rc = arena_put(m, s->family, &m->fam)) != 0 ||
	    (rc = arena_put(m, s->unit, &m->unit)) != 0)
		return rc;
	m->arena_base = m->arena.len;
	return 0;
}

/* Forgets the groups, keeping the family open. */
static void clear_groups(pf_mapper *m)
{
	m->arena.len = m->arena_base;
	m->ngroups = 0;
	m->nents = 0;
	m->nglab = 0;
	m->nincomplete = 0;
	m->last = NONE;
	if (++m->gen == 0) {
		/* After 2^32 families the stamps wrap: clear them for real. */
		if (m->tsize)
			memset(m->table, 0, m->tsize * sizeof(slot));
		m->gen = 1;
	}
}

static void close_family(pf_mapper *m)
{
	m->gk = G_NONE;
	m->arena_base = 0;
	clear_groups(m);
}

static int emit_groups(pf_mapper *m);

static void mark_complete(pf_mapper *m, group *g)
{
	if (!g->complete && g->count.has && g->sum.has) {
		g->complete = 1;
		m->nincomplete--;
	}
}

/* A grouped sample: histogram/summary part, or a v1 stateset state. */
static int map_grouped(pf_mapper *m, const pf_sample *s, enum gkind gk)
{
	pf_str skip = gk == G_HISTOGRAM ? PF_STR_LIT("le")
		    : gk == G_SUMMARY ? PF_STR_LIT("quantile")
		    : s->family;
	char key[32];
	double bound = 0, v;
	pf_str text;
	group *g;
	int rc;

	/* The parser reports a bucket or quantile whose bound does not parse
	 * and never hands it on (both formats); this only guards the mapper's
	 * own callers. */
	if (gk == G_HISTOGRAM && s->suffix == PF_SFX_BUCKET) {
		if (bound_key(m, label_value(s, skip), &bound, key) != 0)
			return 0;
	} else if (gk == G_SUMMARY && s->suffix == PF_SFX_NONE) {
		pf_str q = label_value(s, skip);
		if (q.n == 0 || bound_key(m, q, &bound, key) != 0)
			return 0;
	}

	if (m->gk != G_NONE && (m->gk != gk || !pf_str_eq(aget(m, m->fam), s->family))) {
		if ((rc = pf_mapper_finish(m)) != 0)
			return rc;
	}
	if (m->gk == G_NONE && (rc = open_family(m, s, gk)) != 0)
		return rc;

	size_t n = labels_to_tags(s, skip, m->stags);
	/* Most samples continue the series before them: no need to hash. */
	uint64_t h = 0;
	g = NULL;
	if (m->last != NONE && labels_equal(m, &m->groups[m->last], m->stags, n)) {
		g = &m->groups[m->last];
	} else {
		h = hash_tags(m->stags, n);
		g = lookup_group(m, h, m->stags, n);
	}
	if (g == NULL) {
		/* A new series: the time to write out a large family early,
		 * when nothing held still waits for samples. */
		if (m->arena.len - m->arena_base >= FLUSH_AT && m->nincomplete == 0) {
			rc = emit_groups(m);
			clear_groups(m);
			if (rc)
				return rc;
		}
		if ((rc = new_group(m, h, m->stags, n, &g)) != 0)
			return rc;
	}
	int64_t ts = 0;
	if (sample_ts(m, s, &ts)) {
		/* expfmt keeps the last timestamp of a series' samples. */
		g->has_ts = 1;
		g->ts = ts;
	}

	switch (s->suffix) {
	case PF_SFX_BUCKET:
		count_value(s->value, s->value_text, &v, &text);
		if (isinf(bound) && bound > 0)
			g->inf_seen = 1;
		return group_add(m, g, pf_str_c(key), bound, 1, PF_FIELD_FLOAT, v, text);
	case PF_SFX_COUNT:
	case PF_SFX_GCOUNT:
		count_value(s->value, s->value_text, &v, &text);
		rc = scalar_set(m, &g->count, v, text);
		mark_complete(m, g);
		return rc;
	case PF_SFX_SUM:
	case PF_SFX_GSUM:
		rc = scalar_set(m, &g->sum, s->value, s->value_text);
		mark_complete(m, g);
		return rc;
	case PF_SFX_CREATED:
		return scalar_set(m, &g->created, s->value, s->value_text);
	default:
		break;
	}
	if (gk == G_SUMMARY)
		return group_add(m, g, pf_str_c(key), bound, 1, PF_FIELD_FLOAT, s->value, s->value_text);
	/* A state: its name with spaces as '_' (Telegraf), true when > 0. */
	pf_str state = label_value(s, s->family);
	if ((rc = kbuf_join(m, (pf_str){ "", 0 }, "", state, 1, &text)) != 0)
		return rc;
	return group_add(m, g, text, 0, 0, PF_FIELD_BOOL, s->value > 0, (pf_str){ NULL, 0 });
}

/* Builds the tags of group g into m->base; returns how many. */
static size_t group_tags(pf_mapper *m, const group *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nlab; i++) {
		m->base[n] = (pf_tag){ aget(m, m->glab[g->lab + i].name),
				       aget(m, m->glab[g->lab + i].value), 0 };
		n++;
	}
	add_extra(m, m->base, &n, aget(m, m->unit));
	return n;
}

static void field_scalar(pf_mapper *m, pf_field *f, pf_str key, const scalar *sc)
{
	field_float(f, key, sc->has ? sc->v : 0, sc->has ? aget(m, sc->text) : (pf_str){ NULL, 0 });
}

static int emit_group_v1(pf_mapper *m, const group *g, size_t nt)
{
	size_t nf = 0;
	for (size_t i = g->head; i != NONE; i = m->ents[i].next) {
		const ent *e = &m->ents[i];
		pf_field *f = &m->fields[nf++];
		if (e->kind == PF_FIELD_BOOL) {
			f->key = aget(m, e->key);
			f->kind = PF_FIELD_BOOL;
			f->v.b = e->v > 0;
			f->text = (pf_str){ NULL, 0 };
		} else {
			field_float(f, aget(m, e->key), e->v, aget(m, e->text));
		}
	}
	if (m->gk != G_STATESET) {
		/* Prometheus text always has a count and a sum for Telegraf
		 * (0 when missing); its openmetrics parser writes a sum only
		 * when there is one. */
		field_scalar(m, &m->fields[nf++], PF_STR_LIT("count"), &g->count);
		if (g->sum.has || !is_om(m))
			field_scalar(m, &m->fields[nf++], PF_STR_LIT("sum"), &g->sum);
		if (g->created.has && is_om(m))
			field_scalar(m, &m->fields[nf++], PF_STR_LIT("created"), &g->created);
	}
	memcpy(m->tags, m->base, nt * sizeof(pf_tag));
	return emit(m, aget(m, m->fam), nt, NULL, nf, g->has_ts, g->ts);
}

/* One v2 point with the group's tags plus tag k=v and one float field. */
static int emit_v2_one(pf_mapper *m, const group *g, size_t nt, pf_str meas,
		       pf_str tk, pf_str tv, pf_str fk, double v, pf_str text)
{
	size_t n = nt;
	memcpy(m->tags, m->base, nt * sizeof(pf_tag));
	tag_set(m->tags, &n, tk, tv, 0);
	field_float(&m->fields[0], fk, v, text);
	return emit(m, meas, n, NULL, 1, g->has_ts, g->ts);
}

static int emit_group_v2(pf_mapper *m, const group *g, size_t nt, const pf_str *k)
{
	pf_str meas = is_om(m) ? PF_STR_LIT("openmetric") : PF_STR_LIT("prometheus");
	pf_str tk = m->gk == G_HISTOGRAM ? PF_STR_LIT("le") : PF_STR_LIT("quantile");
	size_t nf = 0;
	int rc;

	/* k: _count, _sum, _created, _bucket (histogram) or the name. */
	field_scalar(m, &m->fields[nf++], k[0], &g->count);
	if (g->sum.has || !is_om(m))
		field_scalar(m, &m->fields[nf++], k[1], &g->sum);
	if (g->created.has && is_om(m))
		field_scalar(m, &m->fields[nf++], k[2], &g->created);
	memcpy(m->tags, m->base, nt * sizeof(pf_tag));
	if ((rc = emit(m, meas, nt, NULL, nf, g->has_ts, g->ts)) != 0)
		return rc;

	for (size_t i = g->head; i != NONE; i = m->ents[i].next) {
		const ent *e = &m->ents[i];
		rc = emit_v2_one(m, g, nt, meas, tk, aget(m, e->key), k[3], e->v, aget(m, e->text));
		if (rc)
			return rc;
	}
	if (m->gk == G_HISTOGRAM && !g->inf_seen) {
		/* Telegraf adds the +Inf bucket a histogram needs: the count. */
		pf_str text = g->count.has ? aget(m, g->count.text) : (pf_str){ NULL, 0 };
		rc = emit_v2_one(m, g, nt, meas, tk, PF_STR_LIT("+Inf"), k[3],
				 g->count.has ? g->count.v : 0, text);
	}
	return rc;
}

/* Writes out the groups held (the family stays open). */
static int emit_groups(pf_mapper *m)
{
	pf_str k[4];
	size_t maxe = 0, maxl = 0;
	int rc = 0;

	if (m->gk == G_NONE)
		return 0;
	/* Count what the widest point needs, before any pointer is taken. */
	for (size_t i = 0; i < m->ngroups; i++)
		if (m->groups[i].nlab > maxl)
			maxl = m->groups[i].nlab;
	maxe = m->nents + 3;
	if ((rc = tags_room(m, maxl)) != 0 ||
	    (rc = grow((void **)&m->fields, &m->fcap, maxe, sizeof(pf_field))) != 0)
		goto out;

	if (m->o.schema == PF_SCHEMA_TELEGRAF_V2) {
		/* The derived keys live side by side in kbuf. */
		static const char *const sfx[4] = { "_count", "_sum", "_created", "_bucket" };
		pf_str fam = aget(m, m->fam);
		size_t off[4];
		pf_buf_reset(&m->kbuf);
		for (int i = 0; i < 4; i++) {
			off[i] = m->kbuf.len;
			if ((rc = pf_buf_append(&m->kbuf, fam.p, fam.n)) != 0)
				goto out;
			if (i < 3 || m->gk == G_HISTOGRAM)
				rc = pf_buf_puts(&m->kbuf, sfx[i]);
			if (rc)
				goto out;
		}
		for (int i = 0; i < 4; i++)
			k[i] = (pf_str){ m->kbuf.data + off[i],
					 (i < 3 ? off[i + 1] : m->kbuf.len) - off[i] };
	}

	for (size_t i = 0; i < m->ngroups && rc == 0; i++) {
		const group *g = &m->groups[i];
		size_t nt = group_tags(m, g);
		if (m->o.schema == PF_SCHEMA_TELEGRAF_V1)
			rc = emit_group_v1(m, g, nt);
		else
			rc = emit_group_v2(m, g, nt, k);
	}
out:
	return rc;
}

/* Writes out the open family and closes it. */
static int flush(pf_mapper *m)
{
	int rc = emit_groups(m);
	close_family(m);
	return rc;
}

/* ---- API ---- */

int pf_mapper_sample(pf_mapper *m, const pf_sample *s)
{
	enum pf_mtype type = s->type;
	pf_str name = s->name;
	enum gkind gk = G_NONE;
	int rc;

	if ((rc = tags_room(m, s->nlabels)) != 0 ||
	    (rc = grow((void **)&m->fields, &m->fcap, 4, sizeof(pf_field))) != 0)
		return rc;

	if (!is_telegraf(m)) {
		/* Nothing is grouped; a grouped family cannot be open. */
		return map_influxdb(m, s);
	}

	if (is_om(m)) {
		/* Telegraf's openmetrics parser: names are family names. */
		name = s->family;
		switch (type) {
		case PF_MT_COUNTER:
			/* Only _total carries the value; Telegraf writes no
			 * counter _created. */
			if (s->suffix != PF_SFX_TOTAL)
				return 0;
			break;
		case PF_MT_HISTOGRAM:
		case PF_MT_GAUGEHISTOGRAM:
			if (s->suffix == PF_SFX_NONE || s->suffix == PF_SFX_TOTAL || s->suffix == PF_SFX_INFO)
				return 0;
			gk = G_HISTOGRAM;
			break;
		case PF_MT_SUMMARY:
			if (s->suffix != PF_SFX_NONE && s->suffix != PF_SFX_COUNT &&
			    s->suffix != PF_SFX_SUM && s->suffix != PF_SFX_CREATED)
				return 0;
			gk = G_SUMMARY;
			break;
		case PF_MT_STATESET:
			if (m->o.schema == PF_SCHEMA_TELEGRAF_V1)
				gk = G_STATESET;
			break;
		default:
			break;
		}
	} else {
		/* expfmt: a sample belongs to a typed family only by the
		 * names it knows (name, name_bucket/_sum/_count); anything
		 * else is an untyped metric of its own name. */
		int ok;
		switch (type) {
		case PF_MT_COUNTER:
		case PF_MT_GAUGE:
			ok = pf_str_eq(s->name, s->family);
			break;
		case PF_MT_HISTOGRAM:
			ok = s->suffix == PF_SFX_BUCKET || s->suffix == PF_SFX_SUM ||
			     s->suffix == PF_SFX_COUNT;
			gk = G_HISTOGRAM;
			break;
		case PF_MT_SUMMARY:
			ok = s->suffix == PF_SFX_NONE || s->suffix == PF_SFX_SUM ||
			     s->suffix == PF_SFX_COUNT;
			gk = G_SUMMARY;
			break;
		default:
			ok = 0;
			break;
		}
		if (!ok) {
			type = PF_MT_UNTYPED;
			gk = G_NONE;
		}
	}

	if (gk != G_NONE)
		return map_grouped(m, s, gk);
	if (m->gk != G_NONE && !pf_str_eq(aget(m, m->fam), s->family)) {
		if ((rc = flush(m)) != 0)
			return rc;
	}
	return map_simple(m, s, type, name);
}

int pf_mapper_finish(pf_mapper *m)
{
	return flush(m);
}

/* Takes the options and prepares the extra tags, which are the same on
 * every line, so that the encoder copies their escaped values instead of
 * escaping them again (pf_lp_tag_prepare). Without memory for that, the
 * mapper has no extra tags to add rather than wrong ones: it reports it. */
static int set_opts(pf_mapper *m, const pf_map_opts *opts)
{
	m->o = *opts;
	if (m->o.tags == NULL)
		m->o.ntags = 0;
	size_t need = 0;
	for (size_t i = 0; i < m->o.ntags; i++)
		need += 2 * m->o.tags[i].value.n;
	pf_buf_reset(&m->xbuf);
	if (grow((void **)&m->xtags, &m->xcap, m->o.ntags, sizeof(pf_tag)) != 0 ||
	    (need && pf_buf_reserve(&m->xbuf, need) == NULL)) {
		m->o.ntags = 0;
		return -ENOMEM;
	}
	/* Reserved once: the prepared values never move while we append. */
	for (size_t i = 0; i < m->o.ntags; i++)
		pf_lp_tag_prepare(m->o.tags[i].key, m->o.tags[i].value, &m->xbuf, &m->xtags[i]);
	/* The extra tags as pf_point.extra, for samples whose labels are
	 * lp_plain: what add_extra() would add, in key order. Only when each
	 * is raw and no key comes twice; otherwise every sample goes the long
	 * way, where add_extra()'s rules for those cases live. */
	m->nxsorted = 0;
	m->direct = grow((void **)&m->xsorted, &m->xscap, m->o.ntags ? m->o.ntags : 1, sizeof(pf_tag)) == 0;
	for (size_t i = 0; m->direct && i < m->o.ntags; i++) {
		pf_tag x = m->xtags[i];
		if (x.value.n == 0)
			continue;
		if (!x.raw) {
			m->direct = 0;
			break;
		}
		size_t j = m->nxsorted;
		for (; j > 0 && pf_str_cmp(m->xsorted[j - 1].key, x.key) > 0; j--)
			m->xsorted[j] = m->xsorted[j - 1];
		if (j > 0 && pf_str_eq(m->xsorted[j - 1].key, x.key))
			m->direct = 0;
		m->xsorted[j] = x;
		m->nxsorted++;
	}
	/* Each as the direct way writes it, in one piece, all in xjoin. */
	size_t jn = 0;
	for (size_t i = 0; i < m->nxsorted; i++)
		jn += 2 + m->xsorted[i].key.n + m->xsorted[i].value.n;
	pf_buf_reset(&m->xjoin);
	char *w = NULL;
	if (m->direct && (grow((void **)&m->xtext, &m->xtcap, m->nxsorted ? m->nxsorted : 1, sizeof(pf_str)) != 0 ||
			  (jn && (w = pf_buf_reserve(&m->xjoin, jn)) == NULL)))
		m->direct = 0;
	for (size_t i = 0; m->direct && i < m->nxsorted; i++) {
		const pf_tag *x = &m->xsorted[i];
		m->xtext[i] = (pf_str){ w, 2 + x->key.n + x->value.n };
		*w++ = ',';
		memcpy(w, x->key.p, x->key.n);
		w += x->key.n;
		*w++ = '=';
		memcpy(w, x->value.p, x->value.n);
		w += x->value.n;
	}
	if (m->direct && jn)
		pf_buf_commit(&m->xjoin, jn);
	return 0;
}

pf_mapper *pf_mapper_new(const pf_map_opts *opts, pf_point_fn fn, void *ud)
{
	pf_mapper *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->fn = fn;
	m->ud = ud;
	m->last = NONE;
	m->gen = 1;
	pf_buf_init(&m->arena, ARENA_MAX);
	pf_buf_init(&m->kbuf, KBUF_MAX);
	pf_buf_init(&m->xbuf, ARENA_MAX);
	pf_buf_init(&m->xjoin, ARENA_MAX);
	if (set_opts(m, opts) != 0) {
		pf_mapper_free(m);
		return NULL;
	}
	return m;
}

int pf_mapper_reset(pf_mapper *m, const pf_map_opts *opts)
{
	close_family(m);
	return set_opts(m, opts);
}

void pf_mapper_free(pf_mapper *m)
{
	if (m == NULL)
		return;
	free(m->tags);
	free(m->xtags);
	free(m->xsorted);
	pf_buf_free(&m->xbuf);
	free(m->xtext);
	pf_buf_free(&m->xjoin);
	free(m->base);
	free(m->stags);
	free(m->fields);
	free(m->groups);
	free(m->ents);
	free(m->glab);
	free(m->table);
	pf_buf_free(&m->arena);
	pf_buf_free(&m->kbuf);
	free(m);
}

int pf_mapper_direct(const pf_mapper *m, pf_direct *d)
{
	if (!m->direct || m->o.format != PF_FORMAT_PROMETHEUS)
		return 0;
	/* map_simple() and map_influxdb() for such a sample. */
	static const pf_str none = { NULL, 0 };
	switch (m->o.schema) {
	case PF_SCHEMA_TELEGRAF_V1:
		d->meas = none;
		d->field[0] = PF_STR_LIT("value");
		d->field[1] = PF_STR_LIT("counter");
		d->field[2] = PF_STR_LIT("gauge");
		break;
	case PF_SCHEMA_TELEGRAF_V2:
		d->meas = PF_STR_LIT("prometheus");
		d->field[0] = d->field[1] = d->field[2] = none;
		break;
	default:
		d->meas = none;
		d->field[0] = d->field[1] = d->field[2] = PF_STR_LIT("value");
		break;
	}
	/* sample_ts() */
	d->ignore_ts = m->o.ignore_timestamps;
	d->ts_positive = is_telegraf(m);
	d->extra = m->xsorted;
	d->extra_text = m->xtext;
	d->nextra = m->nxsorted;
	d->extra_bytes = m->xjoin.len;
	/* Every extra tag's key, with a value or not: relabelling renames a
	 * label of that name (relabel.h), and a label meets an extra tag. */
	d->keys = m->o.tags;
	d->nkeys = m->o.ntags;
	memset(d->key_first, 0, sizeof(d->key_first));
	for (size_t i = 0; i < m->o.ntags; i++) {
		if (m->o.tags[i].key.n == 0)
			return 0;
		d->key_first[(unsigned char)m->o.tags[i].key.p[0]] = 1;
	}
	return 1;
}

int pf_mapper_idle(const pf_mapper *m)
{
	return m->gk == G_NONE;
}

static const char *const schema_names[] = {
	[PF_SCHEMA_TELEGRAF_V1] = "telegraf-v1",
	[PF_SCHEMA_TELEGRAF_V2] = "telegraf-v2",
	[PF_SCHEMA_INFLUXDB_PROM] = "influxdb-prom",
};

int pf_schema_parse(const char *s, enum pf_schema *out)
{
	for (size_t i = 0; i < sizeof(schema_names) / sizeof(schema_names[0]); i++) {
		if (s != NULL && strcmp(s, schema_names[i]) == 0) {
			*out = (enum pf_schema)i;
			return 0;
		}
	}
	return -1;
}

const char *pf_schema_name(enum pf_schema s)
{
	if ((size_t)s < sizeof(schema_names) / sizeof(schema_names[0]))
		return schema_names[s];
	return "unknown";
}
