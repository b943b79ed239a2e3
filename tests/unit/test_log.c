/* test_log.c: every log call writes exactly one logfmt line, whatever the
 * message holds (quotes, newlines, control bytes) and however long the
 * key=value prefix is (a long target URL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int main(void)
{
	char path[] = "/tmp/pf-test-log-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || freopen(path, "w", stderr) == NULL)
		return 2;
	unsetenv("JOURNAL_STREAM");
	static char kv[20000];
	memset(kv, 'u', sizeof(kv) - 1);
	memcpy(kv, "target=", 7);
	pf_log(PF_LOG_WARN, "job=a", "say \"hi\"\nnext\x01 back\\slash");
	pf_log(PF_LOG_WARN, kv, "after a long prefix");
	pf_log(PF_LOG_DEBUG, NULL, "not written at level info");
	fflush(stderr);

	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int lines = 0, bad = 0;
	ssize_t n;
	while (f && (n = getline(&line, &cap, f)) > 0) {
		lines++;
		if (lines == 1 && strcmp(line, "level=warn job=a msg=\"say \\\"hi\\\"\\nnext\\x01 back\\\\slash\"\n") != 0) {
			fprintf(stdout, "line 1: %s", line);
			bad++;
		}
		if (lines == 2 && (strncmp(line, "level=warn target=uuu", 21) != 0 ||
				   strstr(line, "msg=\"after a long prefix\"\n") == NULL || n > 2000)) {
			fprintf(stdout, "line 2 (%zd bytes) wrong\n", n);
			bad++;
		}
	}
	if (lines != 2) {
		fprintf(stdout, "%d lines, expected 2\n", lines);
		bad++;
	}
	free(line);
	if (f)
		fclose(f);
	remove(path);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad != 0;
}
