/* test_sdnotify.c: the notify protocol against real Unix datagram sockets
 * bound here (one in a temporary directory, one abstract): every message
 * arrives as one datagram, byte for byte; no NOTIFY_SOCKET sends nothing and
 * returns 0; bad addresses are -EINVAL; WATCHDOG_USEC/WATCHDOG_PID parsing;
 * no descriptor is left open. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			failures++;                                       \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);       \
			printf(__VA_ARGS__);                              \
			printf("\n");                                     \
		}                                                         \
	} while (0)

/* Binds a datagram socket to sa (alen bytes); returns the fd or -1. */
static int bind_dgram(const struct sockaddr_un *sa, socklen_t alen)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)sa, alen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The next queued datagram (without waiting: a Unix datagram is queued
 * by the time sendto() returns) into buf; its length, or -1 when none. */
static ssize_t next_dgram(int fd, char *buf, size_t cap)
{
	return recv(fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Sends each message through fd's address (already in NOTIFY_SOCKET) and
 * checks it arrives whole, exactly once. */
static void exchange(int fd, const char *where)
{
	static char big[3000];
	static char got[8192];
	const char *msgs[] = {
		"READY=1",
		"STOPPING=1",
		"WATCHDOG=1",
		"STATUS=scraping 3 targets, 2 outputs",
		"RELOADING=1\nMONOTONIC_USEC=123456789",
	};
	ssize_t n;
	int r;

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		r = pf_sdnotify(msgs[i]);
		CHECK(r == 0, "%s: pf_sdnotify(%s) = %d", where, msgs[i], r);
		n = next_dgram(fd, got, sizeof(got));
		CHECK(n == (ssize_t)strlen(msgs[i]) && memcmp(got, msgs[i], (size_t)n) == 0,
		      "%s: sent %s, got %zd bytes '%.*s'", where, msgs[i], n, n > 0 ? (int)n : 0, got);
		n = next_dgram(fd, got, sizeof(got));
		CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
		      "%s: one datagram per message (%zd more bytes)", where, n);
	}

	/* The printf variant, short and longer than its stack buffer. */
	uint64_t now = pf_sdnotify_monotonic_usec();
	char want[128];
	snprintf(want, sizeof(want), "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now);
	r = pf_sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now);
	CHECK(r == 0, "%s: pf_sdnotifyf = %d", where, r);
	n = next_dgram(fd, got, sizeof(got));
	CHECK(n == (ssize_t)strlen(want) && memcmp(got, want, (size_t)n) == 0,
	      "%s: formatted: got %zd bytes '%.*s'", where, n, n > 0 ? (int)n : 0, got);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r = pf_sdnotifyf("STATUS=%s;%d", big, 42);
	CHECK(r == 0, "%s: long pf_sdnotifyf = %d", where, r);
	n = next_dgram(fd, got, sizeof(got));
	CHECK(n == (ssize_t)(7 + sizeof(big) - 1 + 3) && memcmp(got, "STATUS=xxx", 10) == 0 &&
	      memcmp(got + n - 3, ";42", 3) == 0,
	      "%s: long formatted message: %zd bytes", where, n);
}

static void test_path_socket(void)
{
	char dir[] = "/tmp/pf-sdnotify-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[sizeof(sa.sun_path)];

	CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/notify", dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = bind_dgram(&sa, sizeof(sa));
	CHECK(fd >= 0, "bind %s: %s", path, strerror(errno));
	if (fd >= 0) {
		setenv("NOTIFY_SOCKET", path, 1);
		exchange(fd, "path");

		/* The receiver gone: an error, not a signal or a hang. */
		close(fd);
		unlink(path);
		int r = pf_sdnotify("READY=1");
		CHECK(r == -ENOENT || r == -ECONNREFUSED, "no receiver: %d", r);
	}
	rmdir(dir);
}

static void test_abstract_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64];

	/* Unique per run: abstract names are machine-wide (per network
	 * namespace) and tests may run in parallel. */
	snprintf(name, sizeof(name), "@pf-sdnotify-%ld-%ld", (long)getpid(), (long)time(NULL));
	size_t n = strlen(name);
	memcpy(sa.sun_path + 1, name + 1, n - 1);
	int fd = bind_dgram(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	CHECK(fd >= 0, "bind %s: %s", name, strerror(errno));
	if (fd < 0)
		return;
	setenv("NOTIFY_SOCKET", name, 1);
	exchange(fd, "abstract");

	/* Nothing sent without NOTIFY_SOCKET, and that is success. */
	char got[64];
	unsetenv("NOTIFY_SOCKET");
	CHECK(pf_sdnotify("READY=1") == 0, "unset: not 0");
	CHECK(pf_sdnotifyf("STATUS=%d", 1) == 0, "unset (f): not 0");
	ssize_t r = next_dgram(fd, got, sizeof(got));
	CHECK(r < 0 && errno == EAGAIN, "unset: %zd bytes sent anyway", r);

	/* The same name with a NUL appended is another address: the
	 * abstract name must be sent without a terminating NUL, or the
	 * message goes nowhere (checked above by its arrival). An empty
	 * message is refused rather than sent. */
	setenv("NOTIFY_SOCKET", name, 1);
	CHECK(pf_sdnotify("") == -EINVAL, "empty message accepted");
	CHECK(pf_sdnotify(NULL) == -EINVAL, "NULL message accepted");
	r = next_dgram(fd, got, sizeof(got));
	CHECK(r < 0 && errno == EAGAIN, "empty message: %zd bytes sent", r);
	close(fd);
}

static void test_bad_addresses(void)
{
	char longpath[300];
	const char *bad[] = { "", "relative/notify", "notify", "@", "vsock:2:1234", longpath };

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		int r = pf_sdnotify("READY=1");
		CHECK(r == -EINVAL, "NOTIFY_SOCKET='%.20s': %d, expected -EINVAL", bad[i], r);
	}
	/* A long abstract name that does not fit either. */
	longpath[0] = '@';
	setenv("NOTIFY_SOCKET", longpath, 1);
	CHECK(pf_sdnotify("READY=1") == -EINVAL, "long abstract name accepted");
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void)
{
	char pid[32], other[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	struct {
		const char *usec, *pid;
		uint64_t want;
	} cases[] = {
		{ NULL, NULL, 0 },
		{ "400000", NULL, 400000 },
		{ "30000000", pid, 30000000 },
		{ "30000000", other, 0 },          /* meant for another process */
		{ "30000000", "", 0 },
		{ "30000000", "12x", 0 },
		{ "30000000", "0", 0 },
		{ "1", NULL, 1 },
		{ "0", NULL, 0 },                  /* off */
		{ "", NULL, 0 },
		{ "-5", NULL, 0 },
		{ "+5", NULL, 0 },
		{ " 5", NULL, 0 },
		{ "5 ", NULL, 0 },
		{ "5s", NULL, 0 },
		{ "0x10", NULL, 0 },
		{ "18446744073709551615", NULL, 0 },   /* USEC_INFINITY */
		{ "18446744073709551614", NULL, 18446744073709551614u },
		{ "18446744073709551616", NULL, 0 },   /* overflow */
		{ "99999999999999999999999", NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].usec)
			setenv("WATCHDOG_USEC", cases[i].usec, 1);
		else
			unsetenv("WATCHDOG_USEC");
		if (cases[i].pid)
			setenv("WATCHDOG_PID", cases[i].pid, 1);
		else
			unsetenv("WATCHDOG_PID");
		uint64_t got = pf_sdnotify_watchdog_usec();
		CHECK(got == cases[i].want, "WATCHDOG_USEC=%s WATCHDOG_PID=%s: %llu, expected %llu",
		      cases[i].usec ? cases[i].usec : "(unset)", cases[i].pid ? cases[i].pid : "(unset)",
		      (unsigned long long)got, (unsigned long long)cases[i].want);
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void test_monotonic(void)
{
	struct timespec ts;
	uint64_t a = pf_sdnotify_monotonic_usec();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mid = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	uint64_t b = pf_sdnotify_monotonic_usec();
	CHECK(a > 0 && a <= mid && mid <= b, "monotonic: %llu %llu %llu", (unsigned long long)a,
	      (unsigned long long)mid, (unsigned long long)b);
	CHECK(b - a >= 20000 && b - a < 5000000, "monotonic: 20 ms sleep measured as %llu us",
	      (unsigned long long)(b - a));
}

int main(void)
{
	int fds = count_fds();

	test_path_socket();
	test_abstract_socket();
	test_bad_addresses();
	test_watchdog();
	test_monotonic();
	CHECK(count_fds() == fds, "descriptors: %d before, %d after", fds, count_fds());
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
