/*
 * fuzz_config.c: libFuzzer target over the configuration loader,
 * pf_config_load() (src/config*.c, src/envexp.c, src/cfgval.c, inih).
 *
 * The input is written as an INI file (in /dev/shm when there is one, else
 * TMPDIR) and loaded; ${VAR} expansion reads the environment, which holds
 * a few PF_FUZZ_* variables set once at start (one empty, one with
 * characters a value must not smuggle through: a newline, a quote, ${...}).
 *
 * Beyond "no crash, leak or undefined behaviour", it checks what config.h
 * promises: a configuration comes back exactly when no error was reported;
 * *nerrors is the number of error lines the callback received; each error
 * is one line (no newline) and names the file. A broken promise aborts.
 *
 * Seeds (corpus-config/): conf/promflux.ini and the configurations of
 * tests/config/test_config.c (make-config-seeds.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char path[256];
static unsigned reported;

static void fail(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_config: broken promise: %s%s%s\n", what, msg ? ": " : "", msg ? msg : "");
	abort();
}

static void on_err(void *ud, const char *msg)
{
	(void)ud;
	if (!msg)
		fail("a NULL error message", NULL);
	if (strchr(msg, '\n'))
		fail("an error message is not one line", msg);
	if (strncmp(msg, path, strlen(path)) != 0)
		fail("an error message does not start with the file name", msg);
	reported++;
}

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/pf-fuzz-config.%ld.ini", t && *t ? t : "/tmp", (long)getpid());
	atexit(remove_file);
	setenv("PF_FUZZ_HOST", "127.0.0.1:8086", 1);
	setenv("PF_FUZZ_EMPTY", "", 1);
	setenv("PF_FUZZ_NASTY", "a\nb\"c ${PF_FUZZ_HOST} $$ ;#", 1);
	setenv("PF_FUZZ_TOKEN", "s3cr3t-token", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	if (size && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);
	reported = 0;
	unsigned n = 12345;
	pf_config *c = pf_config_load(path, on_err, NULL, &n);
	if ((c == NULL) != (n > 0))
		fail("a configuration with errors, or no configuration without", NULL);
	if (n != reported)
		fail("*nerrors differs from the errors reported", NULL);
	pf_config_free(c);
	return 0;
}
