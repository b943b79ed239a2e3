/*
 * config_output.c: the [output "NAME"] section: its keys, their defaults,
 * and the rules between keys and between outputs.
 *
 * An output whose type this version does not support (influxdb_v1, say, in
 * a file written for a later version) gets that error, and not also one
 * "unknown key" for each key of that type (database, token, ...), nor the
 * checks between outputs, which would take it for the default stdout. What
 * is wrong whatever the type (a bad precision, an overlong line) is still
 * reported.
 */
#include <string.h>

#include "config_int.h"

static const char *const type_names[] = { "stdout", "file" };
static const char *const precision_names[] = { "ns", "us", "ms", "s" };
_Static_assert(PF_OUTPUT_FILE == 1 && PF_PREC_US == 1 && PF_PREC_MS == 2 && PF_PREC_S == 3, "enum order");

static const pf_cfg_enum types = { NULL, "stdout, file", type_names, 2, NULL };
static const pf_cfg_enum precisions = { "precision", "ns, us, ms, s", precision_names, 4, NULL };

#define F(f) offsetof(pf_output, f)

enum { OK_TYPE, OK_PATH, OK_PRECISION, OK_N };
static const pf_cfg_key okeys[OK_N] = {
	[OK_TYPE] = { "type", PF_V_ENUM, 0, F(type), 0, 0, 0, &types },
	[OK_PATH] = { "path", PF_V_OPATH, 0, F(path), 0, 0, 0, NULL },
	[OK_PRECISION] = { "precision", PF_V_ENUM, 0, F(precision), 0, 0, 0, &precisions },
};

static void output_defaults(pf_cfg_loader *ld, void *elem)
{
	pf_output *o = elem;
	(void)ld;
	o->type = PF_OUTPUT_STDOUT;
	o->precision = PF_PREC_MS;
}

/* An unsupported type (not an empty one): its keys are unknown to us
 * before and after its line. */
static void output_after_key(pf_cfg_loader *ld, size_t k, unsigned long line, const char *v, int stored)
{
	if (k != OK_TYPE || stored || !*v)
		return;
	pf_cfg_seen_of(ld, &pf_cfg_output, ld->cur)->mark = line;
	pf_cfg_forget_unknown_keys(ld, ld->sec_errs);
	ld->quiet_unknown = 1;
}

static void check_output(pf_cfg_loader *ld, size_t i)
{
	pf_output *o = &ld->c->outputs[i];
	const pf_cfg_seen *s = pf_cfg_seen_of(ld, &pf_cfg_output, i);
	if (s->mark)
		return;
	char label[300];
	pf_cfg_label(label, sizeof label, "output", o->name);
	if (!s->at[OK_TYPE]) {
		pf_cfg_errf(ld, o->line, label, "no type, allowed: type = stdout, type = file");
		return;
	}
	if (o->type == PF_OUTPUT_FILE && !s->at[OK_PATH])
		pf_cfg_errf(ld, o->line, label, "type = file needs path = FILE");
	if (o->type == PF_OUTPUT_STDOUT && s->at[OK_PATH])
		pf_cfg_errf(ld, s->at[OK_PATH], "path", "set for type = stdout, path applies only to type = file");
	for (size_t k = 0; k < i; k++) {
		const pf_output *p = &ld->c->outputs[k];
		const pf_cfg_seen *ps = pf_cfg_seen_of(ld, &pf_cfg_output, k);
		if (ps->mark)
			continue;
		if (o->type == PF_OUTPUT_STDOUT && p->type == PF_OUTPUT_STDOUT && ps->at[OK_TYPE]) {
			pf_cfg_errf(ld, s->at[OK_TYPE], "type",
				    "a second stdout output (first [output \"%s\"] at line %lu), allowed one", p->name,
				    p->line);
			break;
		}
		if (o->type == PF_OUTPUT_FILE && p->type == PF_OUTPUT_FILE && o->path && p->path &&
		    strcmp(o->path, p->path) == 0) {
			pf_cfg_errf(ld, s->at[OK_PATH], "path", "%s is also the path of [output \"%s\"] (line %lu)",
				    o->path, p->name, p->line);
			break;
		}
	}
}

const pf_cfg_section pf_cfg_output = {
	.kind = "output",
	.id = 1,
	.keys = okeys,
	.nkeys = OK_N,
	.arr_off = offsetof(pf_config, outputs),
	.n_off = offsetof(pf_config, noutputs),
	.elem = sizeof(pf_output),
	.name_off = offsetof(pf_output, name),
	.line_off = offsetof(pf_output, line),
	.defaults = output_defaults,
	.after_key = output_after_key,
	.check = check_output,
};
