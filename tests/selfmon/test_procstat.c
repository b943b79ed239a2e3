/*
 * test_procstat.c: the process figures (src/procstat.c) against what this
 * test process knows about itself: descriptors it opens, a thread it
 * starts, CPU it burns, memory it touches, when it started.
 */
#include "procstat.h"
#include "promtext.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

static int failures;

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,  \
				__LINE__, #cond);                               \
			failures++;                                             \
		}                                                               \
	} while (0)

static volatile int thread_stop;
/* Where the big block is kept, so that the compiler cannot drop the
 * malloc/memset/free (clang does when nothing reads the block). */
static char *volatile sink;

static void idle_thread(void *arg)
{
	(void)arg;
	while (!thread_stop)
		uv_sleep(1);
}

static double cpu(const pf_procstat *p)
{
	return p->cpu_user_s + p->cpu_system_s;
}

int main(void)
{
	pf_procstat a, b;
	struct rlimit rl;
	struct timespec now;
	int fds[5];
	uv_thread_t th;

	CHECK(pf_procstat_read(&a) == 0);
	clock_gettime(CLOCK_REALTIME, &now);
	printf("cpu=%.2f rss=%llu vsz=%llu fds=%llu max=%llu start=%.2f threads=%llu\n", cpu(&a),
	       (unsigned long long)a.resident_bytes, (unsigned long long)a.virtual_bytes,
	       (unsigned long long)a.open_fds, (unsigned long long)a.max_fds, a.start_time_s,
	       (unsigned long long)a.threads);
	CHECK(a.resident_bytes > 0);
	CHECK(a.virtual_bytes >= a.resident_bytes);
	CHECK(a.open_fds >= 3);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK(a.max_fds == (rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur));
	/* Started within the last hour and not in the future (a tick of
	 * rounding allowed). */
	CHECK(a.start_time_s <= (double)now.tv_sec + 1.0);
	CHECK(a.start_time_s > (double)now.tv_sec - 3600.0);
	CHECK(a.threads >= 1);
	CHECK(cpu(&a) >= 0);

	/* Five more descriptors are seen as five more. */
	for (int i = 0; i < 5; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(pf_procstat_read(&b) == 0);
	CHECK(b.open_fds == a.open_fds + 5);
	for (int i = 0; i < 5; i++)
		close(fds[i]);

	/* One more thread. */
	CHECK(uv_thread_create(&th, idle_thread, NULL) == 0);
	CHECK(pf_procstat_read(&b) == 0);
	CHECK(b.threads == a.threads + 1);
	thread_stop = 1;
	uv_thread_join(&th);

	/* Touching 64 MiB raises the resident size by most of it. */
	size_t big = 64u << 20;
	char *m = malloc(big);
	sink = m;
	CHECK(m != NULL);
	if (m) {
		memset(m, 1, big);
		CHECK(pf_procstat_read(&b) == 0);
		CHECK(b.resident_bytes >= a.resident_bytes + big / 2);
		CHECK(b.virtual_bytes >= a.virtual_bytes + big / 2);
		free(m);
	}

	/* 0.3 s of CPU burnt (measured by the process CPU clock, so a busy
	 * machine only makes it take longer) shows as CPU time; ticks are
	 * 10 ms and the clock and /proc round differently, hence 0.2. */
	struct timespec c0, c1;
	volatile unsigned long x = 0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	do {
		for (int i = 0; i < 100000; i++)
			x++;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	} while ((double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9 < 0.3);
	CHECK(pf_procstat_read(&b) == 0);
	printf("cpu after busy loop: %.2f -> %.2f\n", cpu(&a), cpu(&b));
	CHECK(cpu(&b) >= cpu(&a) + 0.2);
	/* The start time does not move. */
	CHECK(b.start_time_s == a.start_time_s);

	/* The text form: every family once, values as read. */
	pf_procstat w = { .cpu_user_s = 1.25, .cpu_system_s = 0.5, .resident_bytes = 4096,
			  .virtual_bytes = 8192, .open_fds = 7, .max_fds = 1024,
			  .start_time_s = 1700000000.5, .threads = 3 };
	pf_buf t;
	pf_buf_init(&t, 1 << 16);
	CHECK(pf_procstat_write(&t, &w) == 0);
	CHECK(t.len > 0 && strcmp(t.data,
		"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total 1.75\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds 7\n"
		"# HELP process_max_fds Maximum number of open file descriptors.\n"
		"# TYPE process_max_fds gauge\n"
		"process_max_fds 1024\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes 8192\n"
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes 4096\n"
		"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds 1.7000000005e+09\n" /* as Go writes it */
		"# HELP process_threads Number of OS threads in the process.\n"
		"# TYPE process_threads gauge\n"
		"process_threads 3\n") == 0);
	/* Too small a buffer: nothing written. */
	pf_buf s;
	pf_buf_init(&s, 300);
	CHECK(pf_procstat_write(&s, &w) == -E2BIG);
	CHECK(s.len == 0);
	pf_buf_free(&s);
	pf_buf_free(&t);

	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("procstat: all passed\n");
	return 0;
}
