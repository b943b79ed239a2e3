/*
 * secret.c: secrets in files, re-read when they change (see secret.h).
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pf_secret_init(pf_secret *s, const char *path, const char *fixed)
{
	memset(s, 0, sizeof *s);
	if (fixed && (s->fixed = strdup(fixed)) == NULL)
		return -ENOMEM;
	if (path && (s->path = strdup(path)) == NULL)
		return -ENOMEM;
	return 0;
}

void pf_secret_wipe(char *v)
{
	if (v == NULL)
		return;
	/* volatile: a memset before free may be optimised away. */
	for (volatile char *p = v; *p; p++)
		*p = '\0';
	free(v);
}

void pf_secret_free(pf_secret *s)
{
	free(s->path);
	pf_secret_wipe(s->fixed);
	pf_secret_wipe(s->value);
	memset(s, 0, sizeof *s);
}

int pf_secret_read(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	char *b = malloc(PF_SECRET_MAX + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, PF_SECRET_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(b);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > PF_SECRET_MAX) {
			close(fd);
			free(b);
			return -EFBIG;
		}
	}
	close(fd);
	while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	b[n] = '\0';
	*out = b;
	return 0;
}

int pf_secret_get(pf_secret *s, const char **out)
{
	if (!s->path) {
		*out = s->fixed;
		return 0;
	}
	struct stat st;
	*out = s->value;
	if (stat(s->path, &st) != 0)
		return -errno;
	if (s->value && st.st_mtim.tv_sec == s->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec &&
	    st.st_size == s->st.st_size && st.st_ino == s->st.st_ino && st.st_dev == s->st.st_dev)
		return 0;
	char *v = NULL;
	int rc = pf_secret_read(s->path, &v);
	if (rc != 0)
		return rc;
	pf_secret_wipe(s->value);
	s->value = v;
	s->st = st;
	*out = v;
	return 0;
}
