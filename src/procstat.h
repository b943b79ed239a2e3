/*
 * procstat.h: the process figures Prometheus client libraries export as
 * process_* (the "process collector"), read from Linux /proc.
 *
 *   process_cpu_seconds_total           cpu_user_s + cpu_system_s
 *   process_resident_memory_bytes       resident_bytes
 *   process_virtual_memory_bytes        virtual_bytes
 *   process_open_fds                    open_fds
 *   process_max_fds                     max_fds
 *   process_start_time_seconds          start_time_s
 *   process_threads (Go: go_threads)    threads
 *
 * Ownership: nothing is kept; each call reads the files again. The start
 * time depends only on the boot time and the process' start tick, so a
 * caller may read it once and keep it.
 */
#ifndef PF_PROCSTAT_H
#define PF_PROCSTAT_H

#include <stdint.h>

typedef struct pf_procstat {
	double cpu_user_s;      /* user CPU time, seconds (clock-tick resolution) */
	double cpu_system_s;    /* system CPU time, seconds */
	uint64_t resident_bytes;
	uint64_t virtual_bytes;
	uint64_t open_fds;      /* entries of /proc/self/fd, without the one
				 * used to list them */
	uint64_t max_fds;       /* RLIMIT_NOFILE soft limit; UINT64_MAX when
				 * unlimited */
	double start_time_s;    /* seconds since the epoch, clock-tick resolution */
	uint64_t threads;
} pf_procstat;

/* Fills *ps from /proc/self/stat, /proc/stat (boot time), /proc/self/fd
 * and getrlimit(). Returns 0, or a negative errno (-ENOENT without /proc,
 * -EPROTO when a file does not read as expected); *ps is then zeroed. */
int pf_procstat_read(pf_procstat *ps);

/* Writes the families above (names, types and HELP texts as Prometheus'
 * client libraries write them; process_threads as the Rust client does)
 * to b in the text format. Returns 0, -E2BIG or -ENOMEM (b as it was). */
struct pf_buf;
int pf_procstat_write(struct pf_buf *b, const pf_procstat *ps);

#endif
