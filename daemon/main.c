/*
 * main.c: the promflux executable's entry point.
 *
 * Dispatches to a subcommand. Only `convert` exists so far; the daemon
 * itself (scraping on a schedule) comes later, so `promflux` without a
 * subcommand only prints the usage and fails.
 */
#include <stdio.h>
#include <string.h>

#include "convert.h"
#include "pf_version.h"

static void usage(FILE *f)
{
	fputs("usage: promflux COMMAND [ARGS]\n"
	      "       promflux --version | --help\n"
	      "\n"
	      "commands:\n"
	      "  convert   read Prometheus/OpenMetrics exposition text, write InfluxDB line protocol\n"
	      "\n", f);
	pf_convert_usage(f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("promflux %s\n", PF_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "convert") == 0)
		return pf_cmd_convert(argc - 1, argv + 1);
	fprintf(stderr, "promflux: unknown command '%s' (known: convert; see promflux --help)\n", cmd);
	return 2;
}
