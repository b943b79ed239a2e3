/*
 * cfgval.h: the syntax of configuration values, as pure functions.
 *
 * Each check either parses a value or names what is wrong with it in a
 * short phrase ("bad port, allowed 1-65535") that the configuration loader
 * puts into its "FILE:LINE: key: ..." message. Nothing here allocates,
 * touches the file system or depends on the locale. pf_duration_parse()
 * and pf_size_parse() are declared in config.h.
 */
#ifndef PF_CFGVAL_H
#define PF_CFGVAL_H

#include <stdint.h>

/* Character classes of the configuration syntax (ASCII only). */
int pf_cfg_is_blank(int ch);   /* space, tab */
int pf_cfg_is_alnum(int ch);

/* s starts with pre, ignoring ASCII case. */
int pf_cfg_prefix_i(const char *s, const char *pre);

/* a equals b, ignoring ASCII case. */
int pf_cfg_eq_i(const char *a, const char *b);

/* s holds a control character (below 0x20, or 0x7f); with blank, also a space. */
int pf_cfg_has_ctl(const char *s, int blank);

/* A whole decimal number, no sign, no blanks. Returns 0 or -1 (also on overflow). */
int pf_cfg_uint_parse(const char *s, uint64_t *v);

/* A non-empty RFC 9110 token (an HTTP header name). */
int pf_cfg_is_token(const char *s);

/* true/yes/on/1, false/no/off/0 in any case. Returns 0 or -1. */
int pf_cfg_bool_parse(const char *s, int *out);

/* Each returns NULL when the value is fine, else what is wrong. */
const char *pf_cfg_tag_key_problem(const char *k);  /* an InfluxDB tag key */
const char *pf_cfg_glob_problem(const char *g);     /* an fnmatch pattern */
const char *pf_cfg_url_problem(const char *u);      /* a scrape target */
const char *pf_cfg_proxy_problem(const char *u);    /* a proxy URL */

#endif
