/*
 * config_int.h: what the parts of the configuration loader share. Only
 * config*.c include it; config.h is the contract for everyone else.
 *
 * The loader is split by purpose:
 *   config.c         runs a load, owns the error list, frees; [global]
 *   config_ini.c     reads raw lines for libinih, parses section headers,
 *                    finds each key in its section's table
 *   config_key.c     checks one value by its key's type and stores it
 *   config_job.c     [job "NAME"]: keys, defaults, cross-key checks
 *   config_output.c  [output "NAME"]: the same
 * The value syntax (cfgval.h) and ${VAR} expansion (envexp.h) are modules
 * of their own that know nothing of the loader.
 */
#ifndef PF_CONFIG_INT_H
#define PF_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* How a key's value is checked and where it is stored. */
enum pf_cfg_vtype {
	PF_V_DUR,      /* duration > 0 (uint64_t ms) */
	PF_V_DUR0,     /* duration >= 0 */
	PF_V_COUNT,    /* whole number (uint64_t) within [min, max] */
	PF_V_UCOUNT,   /* same, stored as unsigned */
	PF_V_SIZE,     /* size > 0 (uint64_t bytes) */
	PF_V_SIZE0,    /* size >= 0 */
	PF_V_BOOL,     /* int */
	PF_V_STR,      /* non-empty string */
	PF_V_HOSTNAME, /* non-empty, no blanks */
	PF_V_TAGKEY,   /* a tag key or "" (none) */
	PF_V_TAG,      /* k=v into pf_kv[] */
	PF_V_HEADER,   /* Name: value into pf_kv[] */
	PF_V_URL,      /* target URL into char *[] */
	PF_V_PROXY,    /* proxy URL */
	PF_V_RFILE,    /* a file readable now; path resolved */
	PF_V_GLOB,     /* glob into char *[] */
	PF_V_OPATH,    /* output file: its directory exists */
	PF_V_ENUM,     /* one of a set of names, stored as an enum (int) */
};

/* The names a PF_V_ENUM key takes. */
typedef struct pf_cfg_enum {
	const char *what;    /* message: unknown WHAT "v", allowed: ...;
			      * NULL: KEY v is not supported by this version */
	const char *allowed; /* the list the message shows */
	const char *const *names; /* names[i] is value i ... */
	size_t nnames;
	int (*parse)(const char *v, int *out); /* ... or, when names is NULL, this */
} pf_cfg_enum;

typedef struct pf_cfg_key {
	const char *name;
	enum pf_cfg_vtype type;
	int repeat;      /* may appear more than once */
	size_t off;      /* field in pf_config / pf_job / pf_output */
	size_t noff;     /* its count, for arrays */
	uint64_t min, max;           /* PF_V_COUNT, PF_V_UCOUNT */
	const pf_cfg_enum *en;       /* PF_V_ENUM */
} pf_cfg_key;

#define PF_CFG_MAXKEYS 40

#define PF_CFG_URL_ALLOWED \
	"allowed: http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, unix:///SOCKET?path=/PATH"

/* Where each key of one section was set (0 = not set), for duplicate and
 * cross-key messages. */
typedef struct pf_cfg_seen {
	unsigned long at[PF_CFG_MAXKEYS];
	unsigned long mark;   /* the section's own: job: first Authorization
			       * header; output: a type not taken
			       * (unsupported, empty or bad) */
} pf_cfg_seen;

typedef struct pf_cfg_loader pf_cfg_loader;

/* A kind of section. Named ones ([job "x"], [output "x"]) are elements of
 * an array in pf_config with a name and a line. */
typedef struct pf_cfg_section {
	const char *kind;            /* "global", "job", "output" */
	int id;                      /* named: index into pf_cfg_loader.seen; -1: global */
	const pf_cfg_key *keys;
	size_t nkeys;
	size_t arr_off, n_off, elem; /* named: the array, its count, element size */
	size_t name_off, line_off;   /* named: the element's name and line */
	/* Sets the defaults of a new element (global: of the pf_config). */
	void (*defaults)(pf_cfg_loader *ld, void *elem);
	/* After a key's value was handled (v expanded); stored: whether it was taken. */
	void (*after_key)(pf_cfg_loader *ld, size_t k, unsigned long line, const char *v, int stored);
	/* Whole-file checks of element i, once every section is read. */
	void (*check)(pf_cfg_loader *ld, size_t i);
} pf_cfg_section;

extern const pf_cfg_section pf_cfg_global, pf_cfg_job, pf_cfg_output;

typedef struct pf_cfg_err {
	unsigned long line; /* 0: about the whole file, sorted last */
	size_t seq;
	char *msg;
	int unknown_key;    /* "unknown key": see pf_cfg_forget_unknown_keys() */
} pf_cfg_err;

struct pf_cfg_loader {
	const char *path;
	char *dir;               /* where relative paths in values start */
	FILE *f;
	pf_config *c;
	char *raw;               /* the current raw line */
	size_t rawcap;
	unsigned long lineno;    /* of the line last handed to inih */
	int key_line;            /* that line is a key line ... */
	int handled;             /* ... and inih called the handler for it */
	int read_errno;
	const pf_cfg_section *sec; /* NULL: before any section, or in a bad one */
	int skip;                /* keys are not checked: a bad section header */
	int quiet_unknown;       /* unknown keys are not reported in this section */
	size_t cur;              /* index of the current job / output */
	size_t sec_errs;         /* errors recorded before this section began */
	char *sec_label;         /* `[job "x"]` for messages */
	unsigned long global_line;
	int job_header;          /* a [job ...] header was seen, good or bad */
	pf_cfg_seen global;
	pf_cfg_seen *seen[2];    /* by section id, parallel to c->jobs, c->outputs */
	size_t nseen[2];
	pf_cfg_err *errs;
	size_t nerrs, errcap;
	int oom;
};

/* ---- config.c ---- */

/* Records "FILE:LINE: key: message" (or "FILE: key: message" for line 0). */
void pf_cfg_errf(pf_cfg_loader *ld, unsigned long line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Withdraws the "unknown key" errors recorded since the from-th error. */
void pf_cfg_forget_unknown_keys(pf_cfg_loader *ld, size_t from);

/* strdup / a trimmed copy of n bytes; NULL (and ld->oom) without memory. */
char *pf_cfg_strdup(pf_cfg_loader *ld, const char *s);
char *pf_cfg_trim_dup(pf_cfg_loader *ld, const char *s, size_t n);

/* Appends a zeroed element to a (pointer, count) array whose capacity is
 * the count rounded up to a power of two: no capacity field needed in the
 * public structs. Returns 0, or -1 (and ld->oom). */
int pf_cfg_push(pf_cfg_loader *ld, void *arrp, size_t *n, size_t elem);

/* Where the keys of element i of a section were set. */
static inline pf_cfg_seen *pf_cfg_seen_of(pf_cfg_loader *ld, const pf_cfg_section *sec, size_t i)
{
	return sec->id < 0 ? &ld->global : &ld->seen[sec->id][i];
}

/* "[kind]" or "[kind "name"]" into buf, cut to cap. */
void pf_cfg_label(char *buf, size_t cap, const char *kind, const char *name);

/* "%llums is longer than the interval (%llums), ..." when timeout > interval. */
void pf_cfg_check_timeout(pf_cfg_loader *ld, unsigned long line, uint64_t timeout, uint64_t interval);

/* ---- config_ini.c ---- */

/* Reads the open file ld->f through libinih, calling pf_cfg_set_value()
 * for each key line. */
void pf_cfg_parse(pf_cfg_loader *ld);

/* ---- config_key.c ---- */

/* Checks value v (expanded) of key kd and stores it into the struct at
 * base. Returns 0 when stored, -1 when reported (or out of memory). */
int pf_cfg_set_value(pf_cfg_loader *ld, unsigned long line, const pf_cfg_key *kd, char *base, const char *v);

/* "a, b, c": the names of a key table, for messages; cut to cap. */
const char *pf_cfg_key_list(const pf_cfg_key *t, size_t n, char *buf, size_t cap);

#endif
