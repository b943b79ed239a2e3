/*
 * convert.h: the `promflux convert` subcommand.
 */
#ifndef PF_CONVERT_H
#define PF_CONVERT_H

#include <stdio.h>

/* Runs `promflux convert ARGS...`; argv[0] is "convert". Returns the exit
 * status: 0 converted, 1 some input was bad or could not be converted,
 * 2 usage error. */
int pf_cmd_convert(int argc, char **argv);

/* Prints the convert usage to f. */
void pf_convert_usage(FILE *f);

#endif
