/*
 * sdnotify.h: the systemd notify protocol (sd_notify(3)) without libsystemd.
 *
 * Under Type=notify systemd passes $NOTIFY_SOCKET, a Unix datagram socket;
 * the service sends newline-separated VAR=value assignments to it, one
 * datagram per message: READY=1 when started, RELOADING=1 plus
 * MONOTONIC_USEC= when a reload begins (then READY=1 when it is done),
 * STOPPING=1, WATCHDOG=1 at least every WATCHDOG_USEC, STATUS=text.
 * The calls are rare (start, reload, stop, a few watchdog pings a
 * minute), so each one opens and closes its own socket: no state, no fd to
 * leak across a fork or to keep open across a reload.
 * Nothing here logs: the caller decides whether a failed notify matters.
 */
#ifndef PF_SDNOTIFY_H
#define PF_SDNOTIFY_H

#include <stdint.h>

/* Sends state ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1",
 * "WATCHDOG=1", "STATUS=...") to $NOTIFY_SOCKET as one datagram. Returns 0
 * when sent or when NOTIFY_SOCKET is unset (not under systemd), a negative
 * errno otherwise. Supports abstract sockets ('@' prefix) and absolute
 * paths; anything else: -EINVAL. */
int pf_sdnotify(const char *state);

/* printf-style variant of pf_sdnotify() (C locale numbers: format integers
 * only). -ENOMEM when the message cannot be formatted. */
int pf_sdnotifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog period in microseconds from WATCHDOG_USEC (only when
 * WATCHDOG_PID is unset or equals getpid()), 0 when the watchdog is off or
 * the values are malformed. Send WATCHDOG=1 at about half this period. */
uint64_t pf_sdnotify_watchdog_usec(void);

/* CLOCK_MONOTONIC now in microseconds (for MONOTONIC_USEC=). */
uint64_t pf_sdnotify_monotonic_usec(void);

#endif
