/*
 * test_resume.c: a 0.0.4 family split by another one (src/expfmt.c,
 * family_resume()).
 *
 * expfmt and Telegraf merge the samples of a family that comes back after
 * other families: the later samples keep the type its TYPE line gave, and a
 * histogram's or summary's _bucket/_sum/_count keep their suffix. The
 * parser notes TYPE lines as it meets them and looks them up only when a
 * sample does not continue the current family; this checks the lookup
 * sees every TYPE line before it, however many, and nothing after.
 */
#include "expfmt.h"

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

typedef struct seen {
	char name[32], family[32];
	enum pf_mtype type;
	enum pf_suffix suffix;
} seen;

typedef struct ctx {
	seen s[128];
	int n, errors;
} ctx;

static int on_sample(void *ud, const pf_sample *s)
{
	ctx *c = ud;
	if (c->n < 128) {
		seen *x = &c->s[c->n];
		snprintf(x->name, sizeof x->name, "%.*s", (int)s->name.n, s->name.p);
		snprintf(x->family, sizeof x->family, "%.*s", (int)s->family.n, s->family.p);
		x->type = s->type;
		x->suffix = s->suffix;
	}
	c->n++;
	return 0;
}

static void on_error(void *ud, const pf_parse_error *e)
{
	(void)e;
	((ctx *)ud)->errors++;
}

static void parse(ctx *c, const char *text)
{
	memset(c, 0, sizeof *c);
	pf_parser_ops ops = { on_sample, on_error };
	pf_parser *p = pf_parser_new(PF_FORMAT_PROMETHEUS, PF_ON_ERROR_SKIP, &ops, c);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK(pf_parser_feed(p, text, strlen(text)) == 0);
	CHECK(pf_parser_finish(p) == 0);
	pf_parser_free(p);
}

int main(void)
{
	ctx c;
	/* A counter and a histogram, each split by 100 other families. */
	char *t = malloc(20000);
	if (t == NULL)
		return 2;
	size_t n = 0;
	n += (size_t)sprintf(t + n, "# TYPE a counter\na{x=\"1\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(t + n, "# TYPE g%d gauge\ng%d %d\n", i, i, i);
	n += (size_t)sprintf(t + n, "a{x=\"2\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 4\nh_count 2\n");
	/* TYPE after its samples: not a declaration of them. */
	n += (size_t)sprintf(t + n, "late 1\n# TYPE b gauge\nb 1\nlate 2\n# TYPE late counter\n");
	parse(&c, t);
	CHECK(c.errors == 0);
	CHECK(c.n == 109);
	if (c.n == 109) {
		seen *a = &c.s[102], *hb = &c.s[103], *hs = &c.s[104], *hc = &c.s[105];
		CHECK(strcmp(a->name, "a") == 0 && strcmp(a->family, "a") == 0 && a->type == PF_MT_COUNTER);
		CHECK(strcmp(hb->family, "h") == 0 && hb->type == PF_MT_HISTOGRAM && hb->suffix == PF_SFX_BUCKET);
		CHECK(strcmp(hs->family, "h") == 0 && hs->type == PF_MT_HISTOGRAM && hs->suffix == PF_SFX_SUM);
		CHECK(strcmp(hc->family, "h") == 0 && hc->type == PF_MT_HISTOGRAM && hc->suffix == PF_SFX_COUNT);
		CHECK(c.s[106].type == PF_MT_UNTYPED && c.s[108].type == PF_MT_UNTYPED);
	}
	free(t);
	if (failures) {
		fprintf(stderr, "test_resume: %d failures\n", failures);
		return 1;
	}
	printf("test_resume: ok\n");
	return 0;
}
