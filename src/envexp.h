/*
 * envexp.h: ${VAR} expansion of configuration values from the environment.
 *
 * ${NAME} is the variable's value, ${NAME:-default} the default when NAME
 * is unset or empty, $$ a literal $. A $NAME without braces is refused
 * (it would silently stay as written in other tools' syntax), and so is an
 * unset ${NAME} without a default. A $ before anything else is a $.
 */
#ifndef PF_ENVEXP_H
#define PF_ENVEXP_H

#include <stddef.h>

/* Expands v. Returns a new string (the caller frees it), or NULL: then why
 * holds what is wrong, one line cut to whycap, or "" when memory ran out. */
char *pf_env_expand(const char *v, char *why, size_t whycap);

#endif
