#!/usr/bin/python3
"""test_notify_daemon.py: the daemon speaks systemd's notify protocol.

promflux ($PROMFLUX) runs as systemd would run it under Type=notify and
WatchdogSec=: NOTIFY_SOCKET names a Unix datagram socket bound here,
WATCHDOG_USEC=1000000 and no WATCHDOG_PID. Its configuration has one job
scraping a local http.server (a small exposition file) and one stdout
output. Asserted, in order:
  - READY=1 after start, once the configuration is loaded (and scrapes
    then reach stdout);
  - WATCHDOG=1 at about half the period: at least 5 in 3 s, never a gap
    of a whole period (a period of 1 s leaves 500 ms for a loaded
    machine's stalls, of the daemon or of this script's receiver);
  - SIGHUP: RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now), then
    READY=1; the same with an invalid configuration, after which the old
    one keeps scraping;
  - SIGTERM: STOPPING=1, then exit status 0.
"""
import functools
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PROMFLUX = os.environ["PROMFLUX"]
WATCHDOG_USEC = 1000000
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


class Notifications:
    """Receives datagrams on a socket bound in tmp; keeps (time, {VAR: value})."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.cond = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            t = time.monotonic()
            text = data.decode("utf-8", "replace")
            kv = {}
            for line in text.split("\n"):
                if line:
                    k, _, v = line.partition("=")
                    kv[k] = v
            with self.cond:
                self.msgs.append((t, kv, text))
                self.cond.notify_all()

    def wait_for(self, pred, start, timeout):
        """Index of the first message from index start on that satisfies pred."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.msgs)):
                    if pred(self.msgs[i][1]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def serve(directory):
    handler = functools.partial(QuietHandler, directory=directory)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def non_watchdog(msgs, start, end):
    """The state messages in msgs[start:end]: watchdog pings and STATUS=
    texts (free to come at any time) left out."""
    return [m[2] for m in msgs[start:end] if not set(m[1]) <= {"WATCHDOG", "STATUS"}]


def main():
    tmp = tempfile.mkdtemp(prefix="pf-notify-")
    with open(os.path.join(tmp, "metrics"), "w") as f:
        f.write("# TYPE pf_notify_test gauge\npf_notify_test{a=\"b\"} 42\n")
    srv = serve(tmp)
    conf = os.path.join(tmp, "promflux.ini")
    with open(conf, "w") as f:
        f.write("[global]\ninterval = 1s\nlisten = off\n\n"
                "[job \"local\"]\nurl = http://127.0.0.1:%d/metrics\n\n"
                "[output \"console\"]\ntype = stdout\n" % srv.server_address[1])
    notes = Notifications(tmp)
    env = dict(os.environ, NOTIFY_SOCKET=notes.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    env.pop("WATCHDOG_PID", None)
    out = open(os.path.join(tmp, "stdout"), "w+")
    err = open(os.path.join(tmp, "stderr"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen([PROMFLUX, "-c", conf], env=env, stdout=out, stderr=err)
    try:
        run(p, notes, out, t0, conf)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        notes.close()
        srv.shutdown()
        err.seek(0)
        print("---- promflux stderr ----\n" + err.read())
        out.close()
        err.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("messages received:", [m[2] for m in notes.msgs][:12], "... %d in all" % len(notes.msgs))
    if failures:
        print("%d FAILED" % len(failures))
        return 1
    print("all ok")
    return 0


def run(p, notes, out, t0, conf):
    # ---- start ----
    i = notes.wait_for(lambda kv: kv.get("READY") == "1", 0, 15)
    if not check(i is not None, "READY=1 after start"):
        return
    check(non_watchdog(notes.msgs, 0, i) == [], "READY=1 is the first state message (before it: %r)"
          % non_watchdog(notes.msgs, 0, i))
    print("READY=1 %.2f s after start" % (notes.msgs[i][0] - t0))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "pf_notify_test" not in open(out.name).read():
        time.sleep(0.1)
    check("pf_notify_test" in open(out.name).read(), "the daemon scrapes and writes to stdout")

    # ---- watchdog: observe 3 s ----
    w0 = time.monotonic()
    time.sleep(3)
    with notes.cond:
        pings = [t for t, kv, _ in notes.msgs if kv.get("WATCHDOG") == "1" and t >= w0]
    check(len(pings) >= 5, "WATCHDOG=1 at about half the period (%d in 3 s)" % len(pings))
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    if gaps:
        gaps_ms = ["%.0f" % (g * 1000) for g in gaps]
        check(max(gaps) < WATCHDOG_USEC / 1e6, "no gap between pings reaches the period (ms: %s)"
              % " ".join(gaps_ms))
        avg = sum(gaps) / len(gaps)
        check(0.25 <= avg <= 0.75, "pings about every half period (mean %.0f ms, period %d ms)"
              % (avg * 1000, WATCHDOG_USEC // 1000))

    # ---- reload ----
    with notes.cond:
        start = len(notes.msgs)
    hup = time.monotonic()
    p.send_signal(signal.SIGHUP)
    r = notes.wait_for(lambda kv: "RELOADING" in kv, start, 10)
    if check(r is not None, "RELOADING=1 after SIGHUP"):
        kv = notes.msgs[r][1]
        check(kv.get("RELOADING") == "1", "RELOADING=1 (got %r)" % notes.msgs[r][2])
        mono = kv.get("MONOTONIC_USEC", "")
        ok = re.fullmatch(r"[0-9]+", mono) is not None
        check(ok, "MONOTONIC_USEC= in the same datagram (got %r)" % notes.msgs[r][2])
        if ok:
            # Python's time.monotonic() is CLOCK_MONOTONIC on Linux.
            v = int(mono) / 1e6
            check(hup - 0.5 <= v <= notes.msgs[r][0] + 0.5,
                  "MONOTONIC_USEC is CLOCK_MONOTONIC at the reload (%.3f, signal at %.3f)" % (v, hup))
        check(non_watchdog(notes.msgs, start, r) == [], "nothing else before RELOADING=1")
        rd = notes.wait_for(lambda kv: kv.get("READY") == "1", r + 1, 10)
        check(rd is not None, "READY=1 after RELOADING=1")
    check(p.poll() is None, "still running after the reload")

    # ---- a reload with an invalid configuration: reported, old one kept ----
    with open(conf, "w") as f:
        f.write("[job \"broken\"\nurl = \n")
    with notes.cond:
        start = len(notes.msgs)
    p.send_signal(signal.SIGHUP)
    r = notes.wait_for(lambda kv: kv.get("RELOADING") == "1", start, 10)
    if check(r is not None, "RELOADING=1 after SIGHUP with an invalid configuration"):
        rd = notes.wait_for(lambda kv: kv.get("READY") == "1", r + 1, 10)
        check(rd is not None, "READY=1 after a failed reload (the old configuration runs on)")
    size = os.path.getsize(out.name)
    time.sleep(2.5)  # interval 1s: the old job keeps scraping
    check(p.poll() is None and os.path.getsize(out.name) > size,
          "still running and scraping after the failed reload")

    # ---- stop ----
    with notes.cond:
        start = len(notes.msgs)
    p.send_signal(signal.SIGTERM)
    s = notes.wait_for(lambda kv: kv.get("STOPPING") == "1", start, 20)
    check(s is not None, "STOPPING=1 after SIGTERM")
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "exit status 0 after SIGTERM (got %r)" % rc)
    if s is not None:
        check(non_watchdog(notes.msgs, start, s) == [], "nothing but pings before STOPPING=1 (%r)"
              % non_watchdog(notes.msgs, start, s))
        time.sleep(0.3)  # a late datagram would be queued by now
        check(non_watchdog(notes.msgs, s + 1, len(notes.msgs)) == [], "no state message after STOPPING=1")


if __name__ == "__main__":
    sys.exit(main())
