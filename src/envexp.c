/*
 * envexp.c: ${VAR} expansion from the environment (see envexp.h).
 *
 * Values that hold secrets (tokens, passwords) come from the environment
 * this way, and so can any value longer than a configuration line.
 */
#include "envexp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int name_start(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int name_char(int ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* The variable's value; NULL with why set when it cannot be had. For
 * ${NAME:-default}, *dflt and *dlen get the default when it applies. */
static const char *lookup(const char *n, const char *close, const char **dflt, size_t *dlen, char *why,
			  size_t whycap)
{
	const char *e = n;
	if (name_start((unsigned char)*e))
		while (name_char((unsigned char)*e))
			e++;
	if (e == n || (e != close && strncmp(e, ":-", 2) != 0)) {
		snprintf(why, whycap,
			 "bad variable reference ${%.*s}, allowed: ${NAME}, ${NAME:-default} (NAME of letters, digits, _)",
			 (int)(close - n), n);
		return NULL;
	}
	char name[256];
	if ((size_t)(e - n) >= sizeof name) {
		snprintf(why, whycap, "variable name longer than %zu bytes", sizeof name - 1);
		return NULL;
	}
	memcpy(name, n, (size_t)(e - n));
	name[e - n] = '\0';
	const char *val = getenv(name);
	if (e != close) { /* ${NAME:-default}: unset or empty takes the default */
		if (!val || !*val) {
			*dflt = e + 2;
			*dlen = (size_t)(close - *dflt);
			return "";
		}
	} else if (!val) {
		snprintf(why, whycap, "environment variable %s is not set (write ${%s:-default} to give a default)",
			 name, name);
		return NULL;
	}
	return val;
}

char *pf_env_expand(const char *v, char *why, size_t whycap)
{
	pf_buf b;
	pf_buf_init(&b, SIZE_MAX / 2);
	why[0] = '\0';
	if (pf_buf_append(&b, "", 0) < 0)
		goto fail;
	for (const char *s = v; *s;) {
		const char *d = strchr(s, '$');
		size_t lit = d ? (size_t)(d - s) : strlen(s);
		if (pf_buf_append(&b, s, lit) < 0)
			goto fail;
		if (!d)
			break;
		if (d[1] == '$' || (d[1] != '{' && !name_start((unsigned char)d[1]))) {
			/* $$, or a lone $ before anything but a name */
			if (pf_buf_putc(&b, '$') < 0)
				goto fail;
			s = d + (d[1] == '$' ? 2 : 1);
			continue;
		}
		if (d[1] != '{') {
			size_t l = 1;
			while (name_char((unsigned char)d[1 + l]))
				l++;
			snprintf(why, whycap,
				 "$%.*s is not expanded: write ${%.*s} for the environment variable, or $$ for a literal $",
				 (int)l, d + 1, (int)l, d + 1);
			goto fail;
		}
		const char *n = d + 2;
		const char *close = strchr(n, '}');
		if (!close) {
			snprintf(why, whycap, "unterminated ${, allowed: ${NAME}, ${NAME:-default}, $$ for a literal $");
			goto fail;
		}
		const char *dflt = NULL;
		size_t dlen = 0;
		const char *val = lookup(n, close, &dflt, &dlen, why, whycap);
		if (!val || pf_buf_append(&b, dflt ? dflt : val, dflt ? dlen : strlen(val)) < 0)
			goto fail;
		s = close + 1;
	}
	return b.data;
fail:
	pf_buf_free(&b);
	return NULL;
}
