/*
 * config_key.c: checks one configuration value by its key's type and
 * stores it where the key table says (see config_int.h).
 *
 * The syntax of each type is cfgval.c's; this file adds the messages, the
 * storage (strings, counted arrays, enums) and the checks that look at the
 * file system, which relative paths resolve against the configuration
 * file's directory for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgval.h"
#include "config_int.h"

/* Enums are stored through an int (PF_V_ENUM). */
_Static_assert(sizeof(enum pf_schema) == sizeof(int) && sizeof(enum pf_on_error) == sizeof(int) &&
		       sizeof(enum pf_format) == sizeof(int) && sizeof(enum pf_log_level) == sizeof(int) &&
		       sizeof(enum pf_output_type) == sizeof(int) && sizeof(enum pf_precision) == sizeof(int),
	       "enums have the size of an int");

#define FIELD(T, base, kd) ((T *)(void *)((base) + (kd)->off))

const char *pf_cfg_key_list(const pf_cfg_key *t, size_t n, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", t[i].name);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	return buf;
}

/* ---- files ---- */

/* Resolves a relative path against the configuration file's directory. */
static char *resolve(pf_cfg_loader *ld, const char *p)
{
	if (p[0] == '/')
		return pf_cfg_strdup(ld, p);
	size_t n = strlen(ld->dir) + 1 + strlen(p) + 1;
	char *r = malloc(n);
	if (!r) {
		ld->oom = 1;
		return NULL;
	}
	snprintf(r, n, "%s/%s", ld->dir, p);
	return r;
}

/* A file that must be readable now: returns its resolved path or NULL. */
static char *readable_file(pf_cfg_loader *ld, unsigned long line, const char *key, const char *v)
{
	char *p = resolve(ld, v);
	if (!p)
		return NULL;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		pf_cfg_errf(ld, line, key, "cannot read %s: %s; the file must exist and be readable", p,
			    strerror(errno));
		free(p);
		return NULL;
	}
	struct stat st;
	int bad = fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
	close(fd);
	if (bad) {
		pf_cfg_errf(ld, line, key, "%s is not a regular file; a file path is expected", p);
		free(p);
		return NULL;
	}
	return p;
}

/* An output file: it may not exist yet, its directory must. */
static char *output_file(pf_cfg_loader *ld, unsigned long line, const char *key, const char *v)
{
	char *p = resolve(ld, v);
	if (!p)
		return NULL;
	struct stat st;
	if (stat(p, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			pf_cfg_errf(ld, line, key, "%s is a directory; a file path is expected", p);
		else if (access(p, W_OK) != 0)
			pf_cfg_errf(ld, line, key, "cannot write %s: %s", p, strerror(errno));
		else
			return p;
		free(p);
		return NULL;
	}
	char *slash = strrchr(p, '/');
	if (slash[1] == '\0') {
		pf_cfg_errf(ld, line, key, "%s names a directory; a file path is expected", p);
		free(p);
		return NULL;
	}
	*slash = '\0';
	const char *dir = slash == p ? "/" : p;
	int ok = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		pf_cfg_errf(ld, line, key, "directory %s does not exist; the file's directory must exist", dir);
	else if (access(dir, W_OK) != 0)
		pf_cfg_errf(ld, line, key, "cannot create files in %s: %s", dir, strerror(errno));
	else
		ok = 1;
	*slash = '/';
	if (!ok) {
		free(p);
		return NULL;
	}
	return p;
}

/* ---- typed values ---- */

/* KEY=VALUE (tag) or Name: value (header) appended to a pf_kv array. */
static int set_kv(pf_cfg_loader *ld, unsigned long line, const pf_cfg_key *kd, char *base, const char *v)
{
	const char *key = kd->name, *why;
	int tag = kd->type == PF_V_TAG;
	pf_kv **arr = FIELD(pf_kv *, base, kd);
	size_t *n = (size_t *)(void *)(base + kd->noff);
	const char *sep = strchr(v, tag ? '=' : ':');
	if (!sep) {
		pf_cfg_errf(ld, line, key,
			    tag ? "\"%s\" is not KEY=VALUE, e.g. tag = env=prod"
				: "\"%s\" is not Name: value, e.g. header = X-Scope: prod",
			    v);
		return -1;
	}
	char *k = pf_cfg_trim_dup(ld, v, (size_t)(sep - v));
	char *val = pf_cfg_trim_dup(ld, sep + 1, strlen(sep + 1));
	if (!k || !val)
		goto fail;
	if (tag) {
		if ((why = pf_cfg_tag_key_problem(k)) != NULL) {
			pf_cfg_errf(ld, line, key, "%s in \"%s\", allowed: KEY=VALUE", why, v);
			goto fail;
		}
		if (!*val) {
			pf_cfg_errf(ld, line, key, "empty tag value in \"%s\" (InfluxDB has no empty tags)", v);
			goto fail;
		}
		for (size_t i = 0; i < *n; i++) {
			if (strcmp((*arr)[i].key, k) == 0) {
				pf_cfg_errf(ld, line, key, "tag %s set twice in this section, allowed once", k);
				goto fail;
			}
		}
	} else {
		if (!pf_cfg_is_token(k)) {
			pf_cfg_errf(ld, line, key, "bad header name \"%s\", allowed: letters, digits and !#$%%&'*+-.^_`|~",
				    k);
			goto fail;
		}
		if (!*val) {
			pf_cfg_errf(ld, line, key, "empty value for header %s", k);
			goto fail;
		}
	}
	if (pf_cfg_push(ld, arr, n, sizeof **arr) < 0)
		goto fail;
	(*arr)[*n - 1] = (pf_kv){ k, val };
	return 0;
fail:
	free(k);
	free(val);
	return -1;
}

/* A URL or a glob appended to a string array, once. */
static int set_list(pf_cfg_loader *ld, unsigned long line, const pf_cfg_key *kd, char *base, const char *v)
{
	const char *key = kd->name, *why;
	char ***arr = FIELD(char **, base, kd);
	size_t *n = (size_t *)(void *)(base + kd->noff);
	if (kd->type == PF_V_URL && (why = pf_cfg_url_problem(v)) != NULL) {
		pf_cfg_errf(ld, line, key, "%s in \"%s\", " PF_CFG_URL_ALLOWED, why, v);
		return -1;
	}
	if (kd->type == PF_V_GLOB && (why = pf_cfg_glob_problem(v)) != NULL) {
		pf_cfg_errf(ld, line, key, "%s in \"%s\", allowed: a glob with * ? [...] (fnmatch)", why, v);
		return -1;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*arr)[i], v) == 0) {
			pf_cfg_errf(ld, line, key, "\"%s\" listed twice in this section, allowed once", v);
			return -1;
		}
	}
	char *d = pf_cfg_strdup(ld, v);
	if (!d || pf_cfg_push(ld, arr, n, sizeof **arr) < 0) {
		free(d);
		return -1;
	}
	(*arr)[*n - 1] = d;
	return 0;
}

static int set_enum(pf_cfg_loader *ld, unsigned long line, const pf_cfg_key *kd, char *base, const char *v)
{
	const pf_cfg_enum *en = kd->en;
	int x = -1;
	if (en->names) {
		for (size_t i = 0; i < en->nnames && x < 0; i++)
			if (strcmp(v, en->names[i]) == 0)
				x = (int)i;
	} else if (en->parse(v, &x) < 0) {
		x = -1;
	}
	if (x < 0) {
		if (en->what)
			pf_cfg_errf(ld, line, kd->name, "unknown %s \"%s\", allowed: %s", en->what, v, en->allowed);
		else
			pf_cfg_errf(ld, line, kd->name, "%s %s is not supported by this version; supported: %s",
				    kd->name, v, en->allowed);
		return -1;
	}
	*FIELD(int, base, kd) = x;
	return 0;
}

/* Replaces a string field; NULL s (already reported) leaves it alone. */
static int set_str(char *base, const pf_cfg_key *kd, char *s)
{
	if (!s)
		return -1;
	char **dst = FIELD(char *, base, kd);
	free(*dst);
	*dst = s;
	return 0;
}

int pf_cfg_set_value(pf_cfg_loader *ld, unsigned long line, const pf_cfg_key *kd, char *base, const char *v)
{
	const char *key = kd->name;
	const char *why;
	uint64_t u;
	int b;

	if (*v == '\0' && kd->type != PF_V_TAGKEY) {
		pf_cfg_errf(ld, line, key, "empty value");
		return -1;
	}
	switch (kd->type) {
	case PF_V_DUR:
	case PF_V_DUR0:
		if (pf_duration_parse(v, &u) < 0) {
			pf_cfg_errf(ld, line, key,
				    "bad duration \"%s\", allowed: a number with a unit (ns, us, ms, s, m, h) in whole milliseconds, e.g. 10s, 1m30s, 500ms, 1.5s",
				    v);
			return -1;
		}
		if (kd->type == PF_V_DUR && u == 0) {
			pf_cfg_errf(ld, line, key, "must be longer than 0");
			return -1;
		}
		*FIELD(uint64_t, base, kd) = u;
		return 0;
	case PF_V_COUNT:
	case PF_V_UCOUNT:
		if (pf_cfg_uint_parse(v, &u) < 0 || u < kd->min || u > kd->max) {
			pf_cfg_errf(ld, line, key, "bad number \"%s\", allowed: a whole number from %llu to %llu", v,
				    (unsigned long long)kd->min, (unsigned long long)kd->max);
			return -1;
		}
		if (kd->type == PF_V_COUNT)
			*FIELD(uint64_t, base, kd) = u;
		else
			*FIELD(unsigned, base, kd) = (unsigned)u;
		return 0;
	case PF_V_SIZE:
	case PF_V_SIZE0:
		if (pf_size_parse(v, &u) < 0 || (u == 0 && kd->type == PF_V_SIZE)) {
			pf_cfg_errf(ld, line, key,
				    "bad size \"%s\", allowed: a number%s with an optional unit B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)",
				    v, kd->type == PF_V_SIZE ? " above 0" : "");
			return -1;
		}
		*FIELD(uint64_t, base, kd) = u;
		return 0;
	case PF_V_BOOL:
		if (pf_cfg_bool_parse(v, &b) < 0) {
			pf_cfg_errf(ld, line, key, "bad boolean \"%s\", allowed: true, false, yes, no, on, off, 1, 0", v);
			return -1;
		}
		*FIELD(int, base, kd) = b;
		return 0;
	case PF_V_HOSTNAME:
		if (pf_cfg_has_ctl(v, 1)) {
			pf_cfg_errf(ld, line, key, "blank or control character in \"%s\", a host name is expected", v);
			return -1;
		}
		return set_str(base, kd, pf_cfg_strdup(ld, v));
	case PF_V_TAGKEY:
		if (*v && (why = pf_cfg_tag_key_problem(v)) != NULL) {
			pf_cfg_errf(ld, line, key, "%s: \"%s\"", why, v);
			return -1;
		}
		return set_str(base, kd, pf_cfg_strdup(ld, v));
	case PF_V_STR:
		return set_str(base, kd, pf_cfg_strdup(ld, v));
	case PF_V_TAG:
	case PF_V_HEADER:
		return set_kv(ld, line, kd, base, v);
	case PF_V_URL:
	case PF_V_GLOB:
		return set_list(ld, line, kd, base, v);
	case PF_V_PROXY:
		if ((why = pf_cfg_proxy_problem(v)) != NULL) {
			pf_cfg_errf(ld, line, key,
				    "%s in \"%s\", allowed: http://HOST:PORT, https://, socks4://, socks4a://, socks5://, socks5h://",
				    why, v);
			return -1;
		}
		return set_str(base, kd, pf_cfg_strdup(ld, v));
	case PF_V_RFILE:
		return set_str(base, kd, readable_file(ld, line, key, v));
	case PF_V_OPATH:
		return set_str(base, kd, output_file(ld, line, key, v));
	case PF_V_ENUM:
		return set_enum(ld, line, kd, base, v);
	}
	return -1;
}
