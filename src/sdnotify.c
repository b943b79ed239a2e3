/*
 * sdnotify.c: the systemd notify protocol over $NOTIFY_SOCKET (see
 * sdnotify.h). Owns nothing between calls: each message opens a datagram
 * socket, sends once and closes it.
 *
 * The address rules are systemd's (sd_notify(3)): "/path" is a socket in
 * the file system, "@name" an abstract socket (the '@' becomes the leading
 * NUL byte and the name is not NUL-terminated). The vsock addresses of
 * newer systemd are for virtual machines and not supported here.
 */
#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fills *sa from NOTIFY_SOCKET's value; returns the address length or
 * -EINVAL when the value is neither an absolute path nor "@name", or does
 * not fit in sun_path. */
static int notify_addr(const char *e, struct sockaddr_un *sa)
{
	size_t n = strlen(e);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (e[0] == '/') {
		if (n + 1 > sizeof(sa->sun_path))
			return -EINVAL;
		memcpy(sa->sun_path, e, n + 1);
		return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	if (e[0] == '@' && n >= 2) {
		if (n > sizeof(sa->sun_path))
			return -EINVAL;
		/* sun_path[0] stays NUL: the abstract namespace. */
		memcpy(sa->sun_path + 1, e + 1, n - 1);
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return -EINVAL;
}

int pf_sdnotify(const char *state)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	ssize_t sent;
	size_t len;
	int alen, fd, err = 0;

	if (e == NULL)
		return 0;
	if (state == NULL || state[0] == '\0')
		return -EINVAL;
	alen = notify_addr(e, &sa);
	if (alen < 0)
		return alen;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	len = strlen(state);
	/* MSG_NOSIGNAL: a vanished receiver must not kill us with SIGPIPE
	 * (the daemon ignores SIGPIPE too, but this is a library). */
	do
		sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
			      (socklen_t)alen);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		err = -errno;
	else if ((size_t)sent != len)
		err = -EMSGSIZE;  /* a datagram is never cut; this cannot happen */
	close(fd);
	return err;
}

int pf_sdnotifyf(const char *fmt, ...)
{
	char small[512];
	char *msg = small;
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(small)) {
		msg = malloc((size_t)n + 1);
		if (msg == NULL)
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	r = pf_sdnotify(msg);
	if (msg != small)
		free(msg);
	return r;
}

/* Parses a decimal number made of digits only (no sign, blank or suffix:
 * strtoull would accept " +12" and, with a locale, more). Returns 0 or -1
 * on an empty, malformed or overflowing value. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

uint64_t pf_sdnotify_watchdog_usec(void)
{
	const char *pid_s = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	/* WATCHDOG_PID names the process the watchdog is meant for: a child
	 * that inherited the environment must not take it for its own. */
	if (pid_s != NULL) {
		if (parse_u64(pid_s, &pid) < 0 || pid == 0 || pid != (uint64_t)getpid())
			return 0;
	}
	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0)
		return 0;
	/* 0 and UINT64_MAX (systemd's USEC_INFINITY) both mean "no watchdog". */
	if (usec == 0 || usec == UINT64_MAX)
		return 0;
	return usec;
}

uint64_t pf_sdnotify_monotonic_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
