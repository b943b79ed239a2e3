#!/usr/bin/python3
"""test_faults.py: the daemon against targets and outputs that misbehave.

    test_faults.py CASE

promflux runs in daemon mode ($PROMFLUX, generated configuration, own
endpoint on a free port, SIGTERM at the end) next to a fast, healthy target
that must keep its interval whatever the others do. Targets are
tests/servers/faultserver.py, outputs tests/servers/writeserver.py (see
tests/outputs/outlib.py). Every case also checks: exit 0 within a bound
after SIGTERM, no sanitizer report, and the daemon's peak RSS (VmHWM, read
from /proc/PID/status just before the stop).

Cases (what tests/daemon and tests/http already assert is not repeated: a
target whose headers never come, body_limit and garbage under --once, and
the client-level versions of these faults):
  slow          a slow-loris target (headers, then one byte a second) and
                an endless chunked body: each scrape cut at the job's
                timeout (its duration), up=0, one log line per target for
                the whole run, counted as result="timeout"
  big           a target that streams 1 GiB (chunked, and with a
                Content-Length): cut at body_limit (default 64 MiB, and
                4 MiB), up=0, "body larger than N bytes", result=
                "body_limit"; peak RSS bounded (numbers printed)
  dns           http://promflux-test.invalid:9100/metrics: fails at once
                with "cannot resolve host" naming the host; and a name whose
                resolution hangs (a private mount namespace whose
                resolv.conf points at a server that never answers; needs
                root, skipped otherwise): cut at the timeout; SIGTERM is
                not held up by the resolver thread
  output-hang   an InfluxDB output that accepts the connection and never
                answers: each write times out at the output's timeout and is
                retried; the other output keeps receiving on time; once the
                server answers, every point arrives exactly once; with the
                server still hanging, SIGTERM exits within shutdown_timeout
                plus a margin, saying what was lost
  reset-garbage a target that resets the connection mid-body and one that
                answers random bytes (on_error skip and reject): counted
                per result, logged at most once (rate limit), no crash
"""
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "outputs"))
from outlib import (Daemon, FaultServer, WriteServer, check, check_delivery, failures,  # noqa: E402
                    free_port, log_lines, note, own_get, own_metrics, parse_line, read_lines, tmpdir)

# Under tests/faults/valgrind-wrap the daemon is slower and its RSS is
# valgrind's: timing and memory bounds are then loosened or not checked.
SLOW = os.environ.get("PF_VALGRIND") == "1"


def _sanitized():
    """True in a -Db_sanitize build (ASan's shadow memory is in the RSS)."""
    import json
    try:
        with open(os.path.join(os.environ["PF_BUILD"], "meson-info", "intro-buildoptions.json")) as f:
            opts = json.load(f)
    except (OSError, ValueError, KeyError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "", []) for o in opts)


SANITIZED = _sanitized()
SLACK = 4.0 if SLOW else 1.5 if SANITIZED else 1.0
# Memory bounds hold for a plain build only.
MEASURE_RSS = not SLOW and not SANITIZED

GiB = 1 << 30
MiB = 1 << 20


def mval(m, name, **labels):
    """The sum of the series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= set(ls))


def vm_hwm_kib(pid):
    """Peak resident set size of pid (VmHWM), KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


class Run:
    """A daemon with a configuration: jobs text, outputs text, and a fast
    healthy job "fast" (500 ms) that every case watches."""

    def __init__(self, name, fast, jobs, outputs="", global_keys="", prefix=()):
        self.name = name
        self.d = tmpdir()
        self.port = free_port()
        self.path = os.path.join(self.d, "out.lp")
        self.fast = fast
        text = """[global]
hostname = pfhost
listen = 127.0.0.1:%d
%s
[job "fast"]
url = %s
interval = 500ms
timeout = 400ms
schema = influxdb-prom
%s
[output "f"]
type = file
path = %s
precision = ms
%s""" % (self.port, global_keys, fast, jobs, self.path, outputs)
        self.daemon = Daemon(self.d, text)
        self.prefix = list(prefix)

    def __enter__(self):
        if self.prefix:
            # Daemon runs $PROMFLUX; a prefix (unshare ...) goes in front.
            self.daemon.t0 = time.monotonic()
            self.daemon.proc = subprocess.Popen(
                self.prefix + [os.environ["PROMFLUX"], "-c", self.daemon.conf, "--log-level", self.daemon.level],
                stdout=subprocess.DEVNULL, stderr=open(self.daemon.logpath, "w"))
        else:
            self.daemon.__enter__()
        # The endpoint answers once the daemon runs: it opens just before
        # the schedule starts, so the cases' windows (sleep_until) count
        # from there, not from a start that takes a second under valgrind.
        self.daemon.wait(lambda: own_get(self.port, "/healthz")[0] == 200, 10 * SLACK, self.name + ": /healthz")
        self.t0 = time.monotonic()
        return self

    def lines(self):
        return [parse_line(x) for x in read_lines(self.path)]

    def series(self, name, url):
        """[(timestamp ms, fields)] of a series of one target, in file order."""
        return [(ts, f) for m, t, f, ts in self.lines() if m == name and t.get("url") == url]

    def sleep_until(self, t):
        """Sleeps until t seconds after the start, checking the daemon lives."""
        while time.monotonic() < self.t0 + t:
            if self.daemon.proc.poll() is not None:
                check(False, "%s: daemon died (%r): %s" % (self.name, self.daemon.proc.returncode,
                                                          self.daemon.log()[-2000:]))
                return False
            time.sleep(0.1)
        return True

    def stop(self, within):
        """Reads VmHWM, sends SIGTERM; checks exit 0 within `within` s."""
        pid = self.daemon.proc.pid
        self.hwm = vm_hwm_kib(pid) if self.daemon.proc.poll() is None else -1
        self.metrics = own_metrics(self.port)
        rc = self.daemon.stop(timeout=within * SLACK + 10)
        took = self.daemon.stop_s
        check(rc == 0, "%s: exit 0 after SIGTERM (got %r)" % (self.name, rc))
        check(took <= within * SLACK, "%s: exit %.2f s after SIGTERM, want <= %g s" % (self.name, took, within * SLACK))
        self.log = self.daemon.log()
        note("%s: exit %.2f s after SIGTERM, VmHWM %.1f MiB" % (self.name, took, self.hwm / 1024.0))
        return rc

    def check_fast(self, max_gap_ms=650, strict=True):
        """The healthy target: up=1 every 500 ms all along (not strict: only
        that it kept being scraped, for a build too slow to keep time)."""
        ts = sorted(t for t, f in self.series("up", self.fast))
        ups = [f["value"] for t, f in self.series("up", self.fast)]
        span = (ts[-1] - ts[0]) / 1000.0 if len(ts) > 1 else 0
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        check(len(ts) >= 2 and len(ts) >= (span / 0.5 - 1 if strict else span / 2),
              "%s: fast target scraped every 500 ms (%d in %.1f s)" % (self.name, len(ts), span))
        if strict:
            check(all(v == 1 for v in ups), "%s: fast target up=1 every time (%r)" % (self.name, ups[:20]))
            check(gaps and max(gaps) <= max_gap_ms * SLACK, "%s: fast target keeps its 500 ms interval (max gap %s ms)"
                  % (self.name, max(gaps) if gaps else None))
        note("%s: fast target %d scrapes, gaps %d..%d ms" % (self.name, len(ts), min(gaps or [0]), max(gaps or [0])))

    def __exit__(self, *exc):
        self.daemon.__exit__(*exc)
        if failures:
            note("--- daemon log (%s) ---\n%s" % (self.name, self.daemon.log()[-5000:]))
        return False


def failed_lines(log, url):
    return [x for x in log.splitlines() if "target=%s " % url in x and "scrape failed" in x]


def check_failing(run, url, what, result, msg_re, min_scrapes, dur=None):
    """A target that fails every scrape: up=0 each time with no samples,
    one log line matching msg_re, counted as result."""
    ups = run.series("up", url)
    check(len(ups) >= min_scrapes, "%s: %s scraped %d times (want >= %d)" % (run.name, what, len(ups), min_scrapes))
    check(all(f["value"] == 0 for t, f in ups), "%s: %s up=0 every time (%r)" % (run.name, what, ups))
    samples = [m for m, t, f, ts in run.lines() if t.get("url") == url and m not in (
        "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
        "scrape_body_size_bytes")]
    check(not samples, "%s: %s: no samples written (%d)" % (run.name, what, len(samples)))
    lines = failed_lines(run.log, url)
    check(len(lines) == 1, "%s: %s logged once for %d failed scrapes (%d lines: %r)"
          % (run.name, what, len(ups), len(lines), lines[:3]))
    check(lines and re.search(msg_re, lines[0]), "%s: %s: the log says %r: %r" % (run.name, what, msg_re, lines[:1]))
    # The counters are read just before the stop: a scrape may end after.
    n = mval(run.metrics, "promflux_target_scrapes_total", target=url, result=result)
    check(n >= min(len(ups) - 1, min_scrapes), "%s: %s counted as result=%s (%g)" % (run.name, what, result, n))
    if dur is not None:
        ds = [f["value"] for t, f in run.series("scrape_duration_seconds", url)]
        check(ds and all(dur[0] <= x <= dur[1] * SLACK for x in ds),
              "%s: %s: each scrape took %g..%g s (%r)" % (run.name, what, dur[0], dur[1], ds))
        note("%s: %s: %d scrapes, durations %s s; %s" % (run.name, what, len(ups),
                                                         ", ".join("%.3f" % x for x in ds[:6]), lines[:1]))
    return lines


# ---- cases ----

def case_slow():
    with FaultServer() as fs:
        loris = fs.base + "/trickle?ms=1000"
        loris_c = fs.base + "/trickle?ms=200&chunked=1"
        endless = fs.base + "/endless?ms=20&lines=50"
        jobs = """[job "slow"]
url = %s
url = %s
url = %s
interval = 2s
timeout = 1500ms
schema = influxdb-prom
""" % (loris, loris_c, endless)
        with Run("slow", fs.url, jobs) as run:
            run.sleep_until(7.3)
            # A scrape in flight at the stop may run out its 1.5 s timeout.
            run.stop(within=2.5)
        run.check_fast()
        for url, what in ((loris, "slow loris"), (loris_c, "slow loris, chunked"), (endless, "endless body")):
            check_failing(run, url, what, "timeout", r"timed out after 1500 ms", 3, dur=(1.45, 1.9))
        hw = run.hwm
        if MEASURE_RSS:
            check(0 < hw < 64 * 1024, "slow: peak RSS %d KiB < 64 MiB" % hw)


# The big job's interval and timeout, and how long it runs (3 scrapes of
# each target): under ASan the parser reads about 20 MB/s, and 64 MiB must
# arrive (and be cut at the limit) within the timeout.
BIG_INTERVAL, BIG_TIMEOUT, BIG_RUN = (7, 6.5, 24) if SANITIZED else (3, 2.5, 9.5)


def big_run(name, limit_keys, limit, bound_mib):
    with FaultServer() as fs:
        chunked = fs.base + "/big?bytes=%d&chunked=1" % GiB
        sized = fs.base + "/big?bytes=%d" % GiB
        jobs = """[job "big"]
url = %s
url = %s
interval = %ds
timeout = %dms
%s
schema = influxdb-prom
""" % (chunked, sized, BIG_INTERVAL, BIG_TIMEOUT * 1000, limit_keys)
        with Run(name, fs.url, jobs) as run:
            run.daemon.wait(lambda: run.series("up", chunked), 10 * SLACK, name + ": a first big scrape")
            first_hwm = vm_hwm_kib(run.daemon.proc.pid)
            run.sleep_until(BIG_RUN)
            run.stop(within=BIG_TIMEOUT + 1)
        # A big body is taken 1 MiB a turn of the loop (src/http.c,
        # TURN_BUDGET), so the fast target keeps its 500 ms; before, libcurl
        # read all 64 MiB in one call and the loop stood still for 1.4 s.
        run.check_fast(max_gap_ms=650, strict=not SANITIZED)
        msg = r"body larger than %d bytes" % limit
        check_failing(run, chunked, "1 GiB chunked", "body_limit", msg, 3)
        check_failing(run, sized, "1 GiB with Content-Length", "body_limit", msg, 3)
        ds = [f["value"] for t, f in run.series("scrape_duration_seconds", chunked)]
        # Cut at the limit, not read to the end (1 GiB would take longer than the timeout).
        check(ds and max(ds) < BIG_TIMEOUT - 0.1, "%s: the 1 GiB scrape is cut early (%r s)" % (name, ds))
        note("%s: body_limit %d: durations %r s, VmHWM %.1f MiB after the first big scrape, %.1f MiB at the end"
             % (name, limit, ds, first_hwm / 1024.0, run.hwm / 1024.0))
        if MEASURE_RSS:
            check(0 < run.hwm < bound_mib * 1024, "%s: peak RSS %.1f MiB < %d MiB" % (name, run.hwm / 1024.0, bound_mib))
            # The peak is about the first big scrape's: later ones reuse the
            # memory (allowing for the allocator's fragmentation).
            check(run.hwm <= first_hwm * 1.5 + limit // 1024, "%s: peak RSS does not grow with more scrapes "
                  "(%.1f MiB after the first, %.1f MiB after %d)" % (name, first_hwm / 1024.0, run.hwm / 1024.0,
                                                                    len(ds)))
        return run.hwm


def case_big():
    # A scrape's line protocol is held whole until the scrape ends (a failed
    # one writes no samples), and a sample's line is longer than its text:
    # here about 3 bytes of memory per byte of body (see the notes printed).
    small = big_run("big-4MiB", "body_limit = 4MiB", 4 * MiB, 48)
    large = big_run("big-default", "", 64 * MiB, 16 + 4 * 64)
    note("big: VmHWM %.1f MiB with body_limit = 4MiB, %.1f MiB with the default 64 MiB"
         % (small / 1024.0, large / 1024.0))


class Blackhole:
    """A DNS server that reads every query and never answers (UDP and TCP,
    port 53 on a loopback address of its own)."""

    def __enter__(self):
        for last in range(53, 254):
            addr = "127.0.53.%d" % last
            try:
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.udp.bind((addr, 53))
                self.tcp = socket.socket()
                self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.tcp.bind((addr, 53))
                self.tcp.listen(16)
                self.addr = addr
                return self
            except OSError:
                self.udp.close()
                continue
        raise OSError("no loopback address with a free port 53")

    def __exit__(self, *exc):
        self.udp.close()
        self.tcp.close()
        return False


def case_dns():
    with FaultServer() as fs:
        nx = "http://promflux-test.invalid:9100/metrics"
        jobs = """[job "nx"]
url = %s
interval = 2s
timeout = 1500ms
schema = influxdb-prom
""" % nx
        with Run("dns-nx", fs.url, jobs) as run:
            run.sleep_until(5.3)
            run.stop(within=2.5)
        run.check_fast()
        lines = check_failing(run, nx, "unresolvable name", "transfer", r"cannot resolve host", 2, dur=(0, 1.0))
        check(lines and re.search(r"cannot resolve host: .*promflux-test\.invalid", lines[0]),
              "dns-nx: the message itself names the host: %r" % lines[:1])

        # A resolution that hangs: root can give the daemon its own
        # resolv.conf in a private mount namespace.
        if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            note("dns: SKIPPED the hanging resolver part (needs root and unshare -m)")
            return
        with Blackhole() as bh:
            d = tmpdir()
            resolv = os.path.join(d, "resolv.conf")
            with open(resolv, "w") as f:
                f.write("nameserver %s\noptions timeout:30 attempts:1\n" % bh.addr)
            hang = "http://promflux-hang.example:9100/metrics"
            jobs = """[job "hang"]
url = %s
interval = 2s
timeout = 1500ms
schema = influxdb-prom
""" % hang
            # getent in the same namespace proves the resolver hangs there.
            probe = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && '
                                    'exec timeout 3 getent hosts promflux-hang.example', resolv],
                                   capture_output=True, text=True)
            check(probe.returncode == 124, "dns-hang: getent hangs in the namespace (rc %d %s)"
                  % (probe.returncode, probe.stderr))
            prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && shift && exec "$@"',
                      resolv, "--"]
            with Run("dns-hang", fs.url, jobs, prefix=prefix) as run:
                run.sleep_until(5.3)
                # The resolver thread of a scrape is still waiting (30 s): the
                # stop must not wait for it.
                run.stop(within=2.5)
            run.check_fast()
            lines = check_failing(run, hang, "hanging resolver", "timeout", r"timed out after 1500 ms", 2,
                                  dur=(1.45, 1.9))
            check(lines and re.search(r"resolv", lines[0], re.I),
                  "dns-hang: the message says the name did not resolve: %r" % lines[:1])


def case_output_hang():
    # Three outputs: "hang" never answers, "w" answers, the file is the record.
    with FaultServer() as fs, WriteServer("--script", '[{"hang": true, "times": -1}]') as hang, \
            WriteServer() as good:
        outputs = """[output "hang"]
type = influxdb_v1
url = %s
database = pf
precision = ms
flush_interval = 200ms
timeout = 1s
retry_max_backoff = 1s
[output "w"]
type = influxdb_v1
url = %s
database = pf
precision = ms
flush_interval = 200ms
""" % (hang.base, good.base)
        with Run("output-hang", fs.url, "", outputs, "shutdown_timeout = 5s") as run:
            run.sleep_until(7)
            # Output w keeps up while the other hangs: what the file has
            # now reaches w within a flush and a write (2 s; were w held
            # by the hanging output, never while it hangs).
            n_file = len(read_lines(run.path))
            run.daemon.wait(lambda: good.stats()["lines"] >= n_file - 2 * 10, 2 * SLACK,
                            "output-hang: output w keeps up while the other hangs")
            n_good = good.stats()["lines"]
            hangs = [r for r in hang.writes() if r["answer"] == "hang"]
            # The server answers again: everything held arrives.
            hang.script([])
            run.daemon.wait(lambda: hang.stats()["lines"] >= len(read_lines(run.path)) - 10, 15 * SLACK,
                            "output-hang: the held points delivered after the server answers")
            time.sleep(0.6)
            m_mid = own_metrics(run.port)
            run.stop(within=3)
        run.check_fast()
        check(n_good >= n_file - 2 * 10, "output-hang: output w kept up while the other hung (%d of %d lines)"
              % (n_good, n_file))
        check(len(hangs) >= 3, "output-hang: writes kept coming to the hanging server (%d)" % len(hangs))
        arr = [r["mono"] for r in hangs]
        gaps = [b - a for a, b in zip(arr, arr[1:])]
        # At most max_in_flight (2) writes open at once, each given up after
        # its 1 s timeout, then one probe at a time: so at most about two
        # attempts a second over the 7 s (a count, not the gaps between
        # them, which scheduling under valgrind shifts).
        span = (arr[-1] - arr[0]) if len(arr) > 1 else 0
        check(len(arr) <= 2 * span + 2, "output-hang: attempts are bounded by the timeout and backoff "
              "(%d attempts in %.1f s)" % (len(arr), span))
        in_window = max((sum(1 for t in arr if a <= t < a + 1.0) for a in arr), default=0)
        check(in_window <= 3, "output-hang: at most max_in_flight writes plus one probe start within a "
              "second (%d did)" % in_window)
        first = set(x for x in hangs[0]["body"].split("\n") if x.strip()) if hangs else set()
        again = [r for r in hangs[1:] + hang.writes() if set(x for x in r["body"].split("\n") if x.strip()) & first
                 and r is not hangs[0]]
        check(first and again, "output-hang: the batch that got no answer was sent again")
        tl = log_lines(run.log, "hang", "write failed")
        check(tl and re.search(r"time", tl[0], re.I), "output-hang: the timeout is logged with the output: %r" % tl[:1])
        note("output-hang: %d hanging writes, gaps %s s; log: %r" % (len(hangs), ["%.2f" % g for g in gaps[:6]], tl[:1]))
        check(tl and "waiting for the response" in tl[0],
              "output-hang: the timeout says the server did not answer (not resolving or connecting): %r" % tl[:1])
        check(mval(m_mid, "promflux_output_retries_total", output="hang") >= 2,
              "output-hang: retries counted (%g)" % mval(m_mid, "promflux_output_retries_total", output="hang"))
        lines = read_lines(run.path)
        check_delivery("output-hang (the hung output)", lines, hang.writes())
        check_delivery("output-hang (the other output)", lines, good.writes())

    # SIGTERM while the server still hangs: out within shutdown_timeout.
    with FaultServer() as fs, WriteServer("--script", '[{"hang": true, "times": -1}]') as hang:
        outputs = """[output "hang"]
type = influxdb_v2
url = %s
org = o
bucket = b
token = t
precision = ms
flush_interval = 200ms
timeout = 10s
""" % hang.base
        with Run("output-hang-stop", fs.url, "", outputs, "shutdown_timeout = 2s") as run:
            run.daemon.wait(lambda: any(r["answer"] == "hang" for r in hang.writes()), 10 * SLACK,
                            "output-hang-stop: a write hangs")
            run.sleep_until(3)
            run.stop(within=2 + 1.5)
        lost = [x for x in run.log.splitlines() if "hang" in x and re.search(r"not delivered|dropp|lost|gave up", x)]
        check(lost, "output-hang-stop: the points given up at the stop are logged: %r" % run.log[-1500:])
        note("output-hang-stop: %r" % lost[:2])


def case_reset_garbage():
    with FaultServer() as fs:
        reset = fs.base + "/reset"
        skip = fs.base + "/garbage?bytes=20000&seed=7"
        reject = fs.base + "/garbage?bytes=20000&seed=8"
        jobs = """[job "reset"]
url = %s
interval = 500ms
schema = influxdb-prom
[job "skip"]
url = %s
interval = 500ms
schema = influxdb-prom
[job "reject"]
url = %s
interval = 500ms
on_error = reject
schema = influxdb-prom
""" % (reset, skip, reject)
        with Run("reset-garbage", fs.url, jobs) as run:
            run.sleep_until(5.3)
            run.stop(within=1.5)
        run.check_fast()
        check_failing(run, reset, "reset mid-body", "transfer", r"reset|closed|partial|transfer", 8)
        check_failing(run, reject, "garbage, on_error=reject", "rejected", r"reject.*:\d+:\d+: ", 8)
        ups = [f["value"] for t, f in run.series("up", skip)]
        check(len(ups) >= 8 and all(v == 1 for v in ups), "reset-garbage: garbage with on_error=skip is up=1 (%r)" % ups)
        perr = [x for x in run.log.splitlines() if "target=" + skip in x and re.search(r":\d+:\d+: ", x)]
        # At most 5 parse error lines a minute per target, however many scrapes.
        check(1 <= len(perr) <= 5, "reset-garbage: parse errors logged at most 5 times in the run (%d)" % len(perr))
        pe = mval(run.metrics, "promflux_parse_errors_total")
        check(pe >= 8 * len(perr), "reset-garbage: parse errors counted (%g)" % pe)
        n = mval(run.metrics, "promflux_target_scrapes_total", target=skip, result="ok")
        check(n >= 8, "reset-garbage: the skipped garbage counts as ok scrapes (%g)" % n)
        check(not [x for x in run.log.splitlines() if "up again" in x and ("reset" in x or "garbage" in x)],
              "reset-garbage: no flapping 'up again' lines")
        note("reset-garbage: %d scrapes of each, parse errors %g, %d logged; reset: %r"
             % (len(ups), pe, len(perr), failed_lines(run.log, reset)[:1]))
        if MEASURE_RSS:
            check(0 < run.hwm < 64 * 1024, "reset-garbage: peak RSS %d KiB < 64 MiB" % run.hwm)


CASES = {
    "slow": case_slow,
    "big": case_big,
    "dns": case_dns,
    "output-hang": case_output_hang,
    "reset-garbage": case_reset_garbage,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_faults.py CASE (%s)" % ", ".join(CASES))
        return 2
    t = time.monotonic()
    CASES[sys.argv[1]]()
    print("%s: %s (%.1f s)" % (sys.argv[1], "FAILED (%d)" % len(failures) if failures else "ok",
                               time.monotonic() - t))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
