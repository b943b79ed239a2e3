/*
 * config_ini.c: reads the configuration file through Debian's libinih:
 * the raw line reader, section headers, and the handler that finds each
 * key in its section's table.
 *
 * libinih does the key = value splitting, the trimming and the inline
 * comments, through ini_parse_stream() with our own reader. The reader sees
 * every raw line first, which gives us what the library does not: the line
 * number of each key (Debian's handler gets none), sections we parse
 * ourselves (inih keeps at most 49 bytes of a section name and never
 * reports a section without keys), lines that do not fit the line buffer,
 * and lines inih rejected (a key line for which the handler was never
 * called). inih only ever sees key lines; every other line reaches it as an
 * empty line so that line numbers stay aligned.
 */
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "cfgval.h"
#include "config_int.h"
#include "envexp.h"

/* Longest line we accept (bytes, without the line end). Debian builds inih
 * with a 200-byte buffer (INI_MAX_LINE) but, as we found by experiment with
 * both its shared and static library, sizes that buffer at run time from
 * the global ini_max_line (a VLA on inih's stack); we set it to this plus
 * one for the NUL (our reader hands over lines without their line end).
 * Should a library ignore the setting, the reader still sees the real
 * buffer size and reports the line instead of letting inih cut it. */
#define PF_CONFIG_MAX_LINE 8192

/* ---- keys ---- */

/* Drops one pair of double quotes around a value: TOML habit (Telegraf),
 * and the way to write an empty url_tag. No escapes. Then expands ${VAR}.
 * Returns the new value or NULL (reported). */
static char *value_of(pf_cfg_loader *ld, unsigned long line, const char *name, const char *value)
{
	char *unq = NULL;
	size_t vl = strlen(value);
	if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
		unq = strndup(value + 1, vl - 2);
		if (!unq) {
			ld->oom = 1;
			return NULL;
		}
		value = unq;
	}
	char why[1024];
	char *v = pf_env_expand(value, why, sizeof why);
	free(unq);
	if (!v) {
		if (*why)
			pf_cfg_errf(ld, line, name, "%s", why);
		else
			ld->oom = 1;
	}
	return v;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	pf_cfg_loader *ld = user;
	const pf_cfg_section *sec = ld->sec;
	unsigned long line = ld->lineno;
	(void)section; /* ours is better: not cut at 49 bytes, sees empty sections */
	ld->handled = 1;
	if (ld->skip)
		return 1; /* reported already: the section header, or the output's type */
	if (!sec) {
		pf_cfg_errf(ld, line, *name ? name : "(empty key)",
			    "key outside any section, put it under [global], [job \"NAME\"] or [output \"NAME\"]");
		return 1;
	}
	size_t k;
	for (k = 0; k < sec->nkeys; k++)
		if (strcmp(sec->keys[k].name, name) == 0)
			break;
	if (k == sec->nkeys) {
		char list[512];
		pf_cfg_key_list(sec->keys, sec->nkeys, list, sizeof list);
		if (!*name) {
			pf_cfg_errf(ld, line, "(empty key)", "no key name before =, allowed in %s: %s", ld->sec_label,
				    list);
		} else if (!ld->quiet_unknown) {
			size_t before = ld->nerrs;
			pf_cfg_errf(ld, line, name, "unknown key in %s, allowed: %s", ld->sec_label, list);
			if (ld->nerrs > before)
				ld->errs[before].unknown_key = 1;
		}
		return 1;
	}
	unsigned long *at = pf_cfg_seen_of(ld, sec, ld->cur)->at;
	if (at[k] && !sec->keys[k].repeat) {
		pf_cfg_errf(ld, line, name, "set twice in %s (first at line %lu), allowed once", ld->sec_label, at[k]);
		return 1;
	}
	if (!at[k])
		at[k] = line;
	char *v = value_of(ld, line, name, value);
	if (!v)
		return 1;
	char *base = (char *)ld->c;
	if (sec->id >= 0)
		base = *(char **)(void *)(base + sec->arr_off) + ld->cur * sec->elem;
	int stored = pf_cfg_set_value(ld, line, &sec->keys[k], base, v) == 0;
	if (sec->after_key)
		sec->after_key(ld, k, line, v, stored);
	free(v);
	return 1;
}

/* ---- section headers ---- */

/* Appends a new element to a named section's array and enters it. */
static void enter_named(pf_cfg_loader *ld, const pf_cfg_section *sec, char *nm, unsigned long line,
			const char *shown)
{
	char **arr = (char **)(void *)((char *)ld->c + sec->arr_off);
	size_t *n = (size_t *)(void *)((char *)ld->c + sec->n_off);
	for (size_t i = 0; i < *n; i++) {
		const char *e = *arr + i * sec->elem;
		if (strcmp(*(char *const *)(const void *)(e + sec->name_off), nm) == 0) {
			pf_cfg_errf(ld, line, shown, "duplicate %s name (first at line %lu), names must be unique",
				    sec->kind, *(const unsigned long *)(const void *)(e + sec->line_off));
			free(nm);
			return;
		}
	}
	size_t *nseen = &ld->nseen[sec->id];
	if (pf_cfg_push(ld, &ld->seen[sec->id], nseen, sizeof **ld->seen) < 0) {
		free(nm);
		return;
	}
	if (pf_cfg_push(ld, arr, n, sec->elem) < 0) {
		(*nseen)--;
		free(nm);
		return;
	}
	char *e = *arr + (*n - 1) * sec->elem;
	*(char **)(void *)(e + sec->name_off) = nm;
	*(unsigned long *)(void *)(e + sec->line_off) = line;
	sec->defaults(ld, e);
	ld->cur = *n - 1;
	ld->sec = sec;
	ld->skip = 0;
}

static void set_label(pf_cfg_loader *ld, const char *kind, const char *name)
{
	free(ld->sec_label);
	size_t n = strlen(kind) + (name ? strlen(name) + 4 : 0) + 3;
	ld->sec_label = malloc(n);
	if (!ld->sec_label) {
		ld->oom = 1;
		return;
	}
	pf_cfg_label(ld->sec_label, n, kind, name);
}

/* Parses a section header line (starting at '[') and enters the section. */
static void section_line(pf_cfg_loader *ld, const char *s)
{
	unsigned long line = ld->lineno;
	const char *p = s + 1;
	char shown[96];
	const char *rb = strrchr(s, ']');
	size_t sl = rb ? (size_t)(rb - s) + 1 : strlen(s);
	while (sl && pf_cfg_is_blank(s[sl - 1]))
		sl--;
	snprintf(shown, sizeof shown, "%.*s%s", (int)(sl > 80 ? 80 : sl), s, sl > 80 ? "..." : "");

	ld->sec = NULL;
	ld->skip = 1;
	ld->quiet_unknown = 0;
	while (pf_cfg_is_blank(*p))
		p++;
	const char *kw = p;
	while (pf_cfg_is_alnum((unsigned char)*p) || *p == '_' || *p == '-')
		p++;
	size_t kwlen = (size_t)(p - kw);
	while (pf_cfg_is_blank(*p))
		p++;
	const char *name = NULL;
	size_t nlen = 0;
	if (*p == '"') {
		name = p + 1;
		const char *q = strchr(name, '"');
		if (!q) {
			pf_cfg_errf(ld, line, shown, "unterminated name, write [job \"NAME\"]");
			return;
		}
		nlen = (size_t)(q - name);
		p = q + 1;
		while (pf_cfg_is_blank(*p))
			p++;
	}
	if (*p != ']') {
		if (!*p)
			pf_cfg_errf(ld, line, shown,
				    "missing ], a section header is [global], [job \"NAME\"] or [output \"NAME\"]");
		else
			pf_cfg_errf(ld, line, shown,
				    "unexpected text in section header, allowed: [global], [job \"NAME\"], [output \"NAME\"]");
		return;
	}
	p++;
	while (pf_cfg_is_blank(*p))
		p++;
	if (*p && *p != ';' && *p != '#') {
		pf_cfg_errf(ld, line, shown, "text after ], only a ; or # comment may follow");
		return;
	}

	static const pf_cfg_section *const kinds[] = { &pf_cfg_global, &pf_cfg_job, &pf_cfg_output };
	const pf_cfg_section *sec = NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strlen(kinds[i]->kind) == kwlen && strncmp(kw, kinds[i]->kind, kwlen) == 0)
			sec = kinds[i];
	if (!sec) {
		pf_cfg_errf(ld, line, shown, "unknown section, allowed: [global], [job \"NAME\"], [output \"NAME\"]");
		return;
	}
	if (sec == &pf_cfg_global) {
		if (name) {
			pf_cfg_errf(ld, line, shown, "[global] takes no name");
			return;
		}
		if (ld->global_line) {
			pf_cfg_errf(ld, line, shown, "[global] appears twice (first at line %lu), allowed once",
				    ld->global_line);
			return;
		}
		ld->global_line = line;
		ld->sec = sec;
		ld->skip = 0;
		set_label(ld, sec->kind, NULL);
		return;
	}
	const char *kind = sec->kind;
	if (sec == &pf_cfg_job)
		ld->job_header = 1;
	if (!name) {
		pf_cfg_errf(ld, line, shown, "%s needs a name in double quotes: [%s \"NAME\"]",
			    sec == &pf_cfg_job ? "a job" : "an output", kind);
		return;
	}
	if (nlen == 0) {
		pf_cfg_errf(ld, line, shown, "empty %s name, write [%s \"NAME\"]", kind, kind);
		return;
	}
	char *nm = pf_cfg_trim_dup(ld, name, nlen);
	if (!nm)
		return;
	if (strlen(nm) != nlen || pf_cfg_has_ctl(nm, 0)) {
		pf_cfg_errf(ld, line, shown, "%s name with blanks around it or control characters", kind);
		free(nm);
		return;
	}
	enter_named(ld, sec, nm, line, shown);
	if (ld->sec)
		set_label(ld, kind, nm);
	ld->sec_errs = ld->nerrs;
}

/* ---- lines ---- */

/* The key name of a raw line, for messages about the line itself. */
static void raw_key(const char *s, char *out, size_t cap)
{
	while (pf_cfg_is_blank(*s))
		s++;
	size_t n = 0;
	while (s[n] && (pf_cfg_is_alnum((unsigned char)s[n]) || s[n] == '_') && n + 1 < cap && n < 40)
		n++;
	const char *r = s + n;
	while (pf_cfg_is_blank(*r))
		r++;
	if (n == 0 || (*r != '=' && *r != ':'))
		snprintf(out, cap, "line");
	else
		snprintf(out, cap, "%.*s", (int)n, s);
}

/* A key line inih did not hand to the handler: it found no = or :. */
static void check_handled(pf_cfg_loader *ld)
{
	if (ld->key_line && !ld->handled) {
		char k[48];
		raw_key(ld->raw, k, sizeof k);
		pf_cfg_errf(ld, ld->lineno, k, "not a key = value line, a [section] or a ; or # comment");
	}
	ld->key_line = 0;
}

/* inih's fgets: one raw line per call, classified before inih sees it. */
static char *reader(char *str, int num, void *stream)
{
	pf_cfg_loader *ld = stream;
	check_handled(ld);
	errno = 0;
	ssize_t len = getline(&ld->raw, &ld->rawcap, ld->f);
	if (len < 0) {
		if (ferror(ld->f))
			ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ld->lineno++;
	char *s = ld->raw;
	size_t n = (size_t)len;
	if (n && s[n - 1] == '\n')
		n--;
	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n)) {
		pf_cfg_errf(ld, ld->lineno, "line", "NUL byte in the line, the file must be text");
		goto blank;
	}
	s[n] = '\0';
	if (ld->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		n -= 3;
	}
	/* inih's buffer holds num - 1 bytes and the NUL. */
	if (num < 2 || n > (size_t)num - 1) {
		char k[48];
		raw_key(s, k, sizeof k);
		if (num <= 200)
			pf_cfg_errf(ld, ld->lineno, k,
				    "line is longer than %d bytes, the limit of Debian's libinih: put the value in a file (password_file, bearer_token_file) or an environment variable (${VAR})",
				    num - 1);
		else
			pf_cfg_errf(ld, ld->lineno, k,
				    "line is %zu bytes, longer than the limit of %d: put the value in a file (password_file, bearer_token_file) or an environment variable (${VAR})",
				    n, num - 1);
		goto blank;
	}
	const char *t = s;
	while (pf_cfg_is_blank(*t))
		t++;
	if (*t == '\0' || *t == ';' || *t == '#')
		goto blank;
	if (*t == '[') {
		section_line(ld, t);
		goto blank;
	}
	ld->key_line = 1;
	ld->handled = 0;
	memcpy(str, s, n);
	str[n] = '\0';
	return str;
blank:
	/* An empty line keeps inih's line count in step with ours. */
	str[0] = '\0';
	return str;
}

/* Applies our reader's needs to libinih's run-time settings (Debian's
 * build has them as globals). The line buffer lives on inih's stack,
 * sized by ini_max_line at each call. */
static void ini_setup(void)
{
	static char inline_prefix[] = ";";
	ini_max_line = PF_CONFIG_MAX_LINE + 1;
	ini_use_stack = true;
	ini_allow_multiline = false; /* an indented key is a key, not a continuation */
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = inline_prefix;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_allow_bom = true;
}

void pf_cfg_parse(pf_cfg_loader *ld)
{
	ini_setup();
	ini_parse_stream(reader, ld, handler, ld);
	check_handled(ld);
}
