/*
 * procstat.c: process figures from /proc (see procstat.h).
 *
 * Plain open/read instead of stdio so that every failure keeps its errno,
 * and numbers are read by hand (no locale, no scanf surprises with a
 * command name holding spaces or parentheses).
 */
#include "procstat.h"

#include "promtext.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads up to cap - 1 bytes of path into buf, NUL-terminated. Returns the
 * length or a negative errno. */
static long read_small(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

/* Reads an unsigned decimal at *p and moves past it and one following
 * blank. Returns 0 or -EPROTO. */
static int take_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EPROTO;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
		s++;
	}
	if (*s == ' ')
		s++;
	*p = s;
	*out = v;
	return 0;
}

/* Skips one blank-separated field (which may be negative, e.g. priority). */
static int skip_field(const char **p)
{
	const char *s = *p;

	if (*s == '\0' || *s == ' ')
		return -EPROTO;
	while (*s && *s != ' ')
		s++;
	if (*s == ' ')
		s++;
	*p = s;
	return 0;
}

/* The boot time ("btime N" in /proc/stat), in seconds since the epoch.
 * /proc/stat may be long (one "cpuN" line per CPU, a long "intr" line):
 * it is read in blocks and only line starts are looked at. */
static int boot_time(uint64_t *out)
{
	char blk[4096], line[32];
	size_t ll = 0;
	int at_start = 1, fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, blk, sizeof blk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EPROTO;
			close(fd);
			return e;
		}
		for (ssize_t i = 0; i < r; i++) {
			char c = blk[i];
			if (c == '\n') {
				line[ll] = '\0';
				if (at_start && strncmp(line, "btime ", 6) == 0) {
					const char *p = line + 6;
					close(fd);
					return take_u64(&p, out) == 0 && *p == '\0' ? 0 : -EPROTO;
				}
				ll = 0;
				at_start = 1;
			} else if (at_start) {
				if (ll < sizeof line - 1)
					line[ll++] = c;
				else
					at_start = 0; /* too long to be the btime line */
			}
		}
	}
}

/* Open descriptors: the entries of /proc/self/fd, less the one that
 * lists them. */
static int count_fds(uint64_t *out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	*out = n ? n - 1 : 0;
	return 0;
}

int pf_procstat_read(pf_procstat *ps)
{
	char buf[4096];
	const char *p;
	uint64_t f[25], btime = 0;
	long len, tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	int rc, i;

	memset(ps, 0, sizeof *ps);
	if (tck <= 0 || page <= 0)
		return -EPROTO;
	len = read_small("/proc/self/stat", buf, sizeof buf);
	if (len < 0)
		return (int)len;
	/* The command name sits in parentheses and may hold any byte, ")"
	 * and blanks included: the fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -EPROTO;
	p += 2;
	/* Field 3 (state) is a letter; fields 4..24 are numbers, some of
	 * which may be negative (priority, nice): only the ones used here are
	 * read as numbers. */
	if (skip_field(&p) < 0)
		return -EPROTO;
	for (i = 4; i <= 24; i++) {
		if (i == 14 || i == 15 || i == 20 || i == 22 || i == 23 || i == 24) {
			if (take_u64(&p, &f[i]) < 0)
				goto bad;
		} else if (skip_field(&p) < 0) {
			goto bad;
		}
	}
	rc = boot_time(&btime);
	if (rc < 0)
		goto fail;
	rc = count_fds(&ps->open_fds);
	if (rc < 0)
		goto fail;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		rc = -errno;
		goto fail;
	}
	ps->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	ps->cpu_user_s = (double)f[14] / (double)tck;
	ps->cpu_system_s = (double)f[15] / (double)tck;
	ps->threads = f[20];
	ps->start_time_s = (double)btime + (double)f[22] / (double)tck;
	ps->virtual_bytes = f[23];
	ps->resident_bytes = f[24] * (uint64_t)page;
	return 0;
bad:
	rc = -EPROTO;
fail:
	memset(ps, 0, sizeof *ps);
	return rc;
}

int pf_procstat_write(pf_buf *b, const pf_procstat *ps)
{
	size_t len0 = b->len;
	int rc = 0;

	rc = rc ? rc : pf_prom_family(b, "process_cpu_seconds_total", PF_PROM_COUNTER,
				      "Total user and system CPU time spent in seconds.");
	rc = rc ? rc : pf_prom_sample(b, "process_cpu_seconds_total", NULL, NULL, 0,
				      ps->cpu_user_s + ps->cpu_system_s);
	rc = rc ? rc : pf_prom_family(b, "process_open_fds", PF_PROM_GAUGE,
				      "Number of open file descriptors.");
	rc = rc ? rc : pf_prom_sample_u64(b, "process_open_fds", NULL, NULL, 0, ps->open_fds);
	rc = rc ? rc : pf_prom_family(b, "process_max_fds", PF_PROM_GAUGE,
				      "Maximum number of open file descriptors.");
	rc = rc ? rc : pf_prom_sample_u64(b, "process_max_fds", NULL, NULL, 0, ps->max_fds);
	rc = rc ? rc : pf_prom_family(b, "process_virtual_memory_bytes", PF_PROM_GAUGE,
				      "Virtual memory size in bytes.");
	rc = rc ? rc : pf_prom_sample_u64(b, "process_virtual_memory_bytes", NULL, NULL, 0,
					  ps->virtual_bytes);
	rc = rc ? rc : pf_prom_family(b, "process_resident_memory_bytes", PF_PROM_GAUGE,
				      "Resident memory size in bytes.");
	rc = rc ? rc : pf_prom_sample_u64(b, "process_resident_memory_bytes", NULL, NULL, 0,
					  ps->resident_bytes);
	rc = rc ? rc : pf_prom_family(b, "process_start_time_seconds", PF_PROM_GAUGE,
				      "Start time of the process since unix epoch in seconds.");
	rc = rc ? rc : pf_prom_sample(b, "process_start_time_seconds", NULL, NULL, 0,
				      ps->start_time_s);
	rc = rc ? rc : pf_prom_family(b, "process_threads", PF_PROM_GAUGE,
				      "Number of OS threads in the process.");
	rc = rc ? rc : pf_prom_sample_u64(b, "process_threads", NULL, NULL, 0, ps->threads);
	if (rc < 0) {
		b->len = len0;
		if (b->data)
			b->data[len0] = '\0';
	}
	return rc;
}
