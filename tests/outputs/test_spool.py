#!/usr/bin/python3
"""test_spool.py: the InfluxDB outputs' disk spool, end to end.

    test_spool.py kill | restart | diskfull | corrupt | split

kill: a real InfluxDB 1.x and VictoriaMetrics (v2 API) are down for a
  minute while the daemon scrapes every second; the test then stops the
  target (scrapes go on, failing: up = 0), waits two flush intervals, and
  kills promflux with SIGKILL. Every line the file output (the record of
  what was scraped) holds from before that pause was sealed into a batch,
  so it is in the spool: after a restart and the servers' return, every one
  arrives, in InfluxDB (counted by querying) and in VictoriaMetrics exactly
  once (it keeps duplicates, so a batch sent twice would show).
restart: the server refuses every write (503); SIGTERM stops the daemon
  within shutdown_timeout and keeps what it holds in the spool; a restart
  with a working server delivers every line of the record exactly once,
  paced by spool_replay_rate.
diskfull: the state directory is a 1 MiB tmpfs; the server is down, the
  spool fills, its oldest segments are dropped (logged, counted in
  /metrics), then the disk fills (appends fail: logged, the batches stay in
  memory); no crash; when space returns (a bigger tmpfs under the same
  path) and the server is back, writes flow again.
split: a 413 for a batch replayed from the spool: its halves are spooled
  again and every line arrives exactly once.
corrupt: a spool with a torn record at its tail, a flipped byte in an
  earlier segment and a stray file: the daemon reports each (file, what was
  cut), sends every intact record exactly once, and never sends garbage.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outlib import (Daemon, FaultServer, WriteServer, check, check_delivery, failures, log_lines,  # noqa: E402
                    free_port, note, own_metrics, parse_line, read_lines, servers, tmpdir, write_lines)


def payload(d, n=30):
    path = os.path.join(d, "payload.txt")
    with open(path, "w") as f:
        f.write("# TYPE pf_gauge gauge\n")
        for i in range(n):
            f.write('pf_gauge{i="%d"} %d\n' % (i, i))
    return path


def metrics(port):
    return own_metrics(port, required=False)


def spool_dir(d, name="w", prec="ms"):
    return os.path.join(d, "state", "spool", "%s-%s" % (name, prec))


def case_kill():
    d = tmpdir()
    p = payload(d)
    out = os.path.join(d, "out.lp")
    with servers.InfluxDB1() as idb, servers.VictoriaMetrics(retention="100y") as vm:
        fs = FaultServer("--payload", p).__enter__()
        conf = """[global]
interval = 1s
hostname = pfhost
listen = off
[job "t"]
url = %s
schema = influxdb-prom
[output "influx"]
type = influxdb_v1
url = %s
database = pf
precision = ms
flush_interval = 500ms
retry_max_backoff = 2s
timeout = 2s
[output "vm"]
type = influxdb_v2
url = %s
org = o
bucket = b
token = unused
precision = ms
flush_interval = 500ms
retry_max_backoff = 2s
timeout = 2s
[output "f"]
type = file
path = %s
precision = ms
""" % (fs.url, idb.url, vm.url, out)

        def influx_ups():
            try:
                res = json.loads(idb.query('SELECT "value" FROM "up"', db="pf", epoch="ms"))
                s = res["results"][0].get("series")
                return sorted(row[0] for row in s[0]["values"]) if s else []
            except (RuntimeError, OSError, KeyError, ValueError):
                return []

        dm = Daemon(d, conf).__enter__()
        try:
            dm.wait(lambda: len(influx_ups()) >= 3, 20, "kill: written before the outage")
            idb.kill()
            vm.proc.terminate()
            vm.proc.wait(30)
            time.sleep(55)
            # The known set: stop the target, wait for the last good scrape's
            # batch to be sealed (two flush intervals), then SIGKILL.
            fs.__exit__(None, None, None)
            time.sleep(1.2)
            record = read_lines(out)
            want = sorted(parse_line(line)[3] for line in record
                          if parse_line(line)[0] == "up" and parse_line(line)[2].get("value") == 1.0)
            time.sleep(1.0)
            dm.proc.kill()
            dm.proc.wait()
            log = dm.log()
            check(log_lines(log, "batches go to the spool"), "kill: the outputs said they spool")
            n_seg = sum(len([f for f in os.listdir(spool_dir(d, o)) if f.endswith(".seg")])
                        for o in ("influx", "vm"))
            check(n_seg >= 2, "kill: segment files on disk at the kill (%d)" % n_seg)
            note("kill: %d good scrapes in the record before the kill" % len(want))
        finally:
            dm.__exit__(None, None, None)
        idb.start()
        vm.start()
        with Daemon(d, conf, name="promflux.ini") as dm2:
            dm2.wait(lambda: set(want) <= set(influx_ups()), 60, "kill: every spooled up point in InfluxDB")
            log2 = dm2.log()
            check(log_lines(log2, "from before: replaying"), "kill: the restart says it replays the spool")
            time.sleep(2)
            check(dm2.stop() == 0, "kill: exit 0 after the replay")
        got = influx_ups()
        missing = sorted(set(want) - set(got))
        check(not missing, "kill: InfluxDB has every up point sealed before the kill (%d of %d; missing %r)"
              % (len(set(want) & set(got)), len(want), missing[:5]))
        # VictoriaMetrics keeps duplicates: each good up point exactly once.
        q = servers.http("GET", vm.url + "/api/v1/export?match[]=" + "up_value")[1].decode()
        counts = {}
        for row in q.splitlines():
            r = json.loads(row)
            for ts, v in zip(r["timestamps"], r["values"]):
                if v == 1:
                    counts[ts] = counts.get(ts, 0) + 1
        missing_vm = [ts for ts in want if ts not in counts]
        twice = {ts: n for ts, n in counts.items() if n > 1}
        check(not missing_vm, "kill: VictoriaMetrics has every up point sealed before the kill (missing %d)"
              % len(missing_vm))
        check(not twice, "kill: VictoriaMetrics got no point twice (%d twice)" % len(twice))
        note("kill: InfluxDB %d, VictoriaMetrics %d up points; %d expected" % (len(got), len(counts), len(want)))


def wconf(fs, ws, out, extra_out="", extra_global="", port=None):
    return """[global]
interval = 500ms
hostname = pfhost
listen = 127.0.0.1:%d
shutdown_timeout = 2s
%s
[job "t"]
url = %s
schema = influxdb-prom
[output "w"]
type = influxdb_v1
url = %s
database = pf
precision = ms
flush_interval = 200ms
retry_max_backoff = 500ms
timeout = 2s
%s
[output "f"]
type = file
path = %s
precision = ms
""" % (port or free_port(), extra_global, fs.url, ws.base, extra_out, out)


def case_restart():
    d = tmpdir()
    p = payload(d)
    out = os.path.join(d, "out.lp")
    with FaultServer("--payload", p) as fs, WriteServer("--script", '[{"status": 503, "times": -1}]') as bad:
        conf = wconf(fs, bad, out)
        with Daemon(d, conf) as dm:
            dm.wait(lambda: len(bad.writes()) >= 3, 15, "restart: writes refused")
            time.sleep(2)
            t = time.monotonic()
            check(dm.stop() == 0, "restart: exit 0")
            check(time.monotonic() - t < 5, "restart: the stop does not wait on a dead server beyond its deadline")
            log = dm.log()
            check(log_lines(log, "kept in the spool"), "restart: what was held is kept in the spool")
        record = read_lines(out)
        nbytes = sum(len(line.encode()) + 1 for line in record)
        rate = 8192
        with WriteServer() as good:
            t0 = time.monotonic()
            with Daemon(d, wconf(fs, good, out.replace("out.lp", "out2.lp"),
                                 "spool_replay_rate = %d\n" % rate)) as dm2:
                dm2.wait(lambda: log_lines(dm2.log(), "spool replayed"), 30, "restart: the spool replayed")
                took = time.monotonic() - t0
                # The first batch leaves at once, the others paced.
                check(took >= 0.5 * nbytes / rate - 1.0,
                      "restart: the replay is paced by spool_replay_rate (%d bytes at %d/s in %.1f s)"
                      % (nbytes, rate, took))
                note("restart: replayed %d bytes in %.1f s at spool_replay_rate %d" % (nbytes, took, rate))
                time.sleep(1)
                check(dm2.stop() == 0, "restart: exit 0 after the replay")
            record2 = read_lines(out.replace("out.lp", "out2.lp"))
            check_delivery("restart", record + record2, good.writes())


def case_diskfull():
    if os.geteuid() != 0:
        note("diskfull: needs root to mount a tmpfs: skipped")
        sys.exit(77)
    d = tmpdir()
    p = payload(d, 200)
    out = os.path.join(d, "out.lp")
    state = os.path.join(d, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", state], check=True)
    try:
        with FaultServer("--payload", p) as fs, \
                WriteServer("--script", '[{"status": 503, "times": -1}]') as ws:
            port = free_port()
            conf = wconf(fs, ws, out, "spool_limit = 512KiB\nbuffer_limit = 4MiB\nbatch_bytes = 8KiB\n", port=port)
            with Daemon(d, conf) as dm:
                key = ("promflux_output_spool_dropped_points_total", frozenset({("output", "w")}))
                dm.wait(lambda: metrics(port).get(key, 0) > 0, 40, "diskfull: the bound drops oldest segments")
                # Fill the disk under the spool: appends now fail.
                filler = os.path.join(state, "filler")
                subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k", "count=100"],
                               stderr=subprocess.DEVNULL)
                dm.wait(lambda: log_lines(dm.log(), "spool", "No space left on device"), 30,
                        "diskfull: a full disk is logged")
                m = metrics(port)
                check(m.get(("promflux_output_spool_write_errors_total", frozenset({("output", "w")})), 0) > 0,
                      "diskfull: failed appends counted")
                check(dm.proc.poll() is None, "diskfull: still running with a full disk")
                # Space returns, the server too.
                os.unlink(filler)
                ws.script([])
                dm.wait(lambda: sum(1 for w in ws.writes() if w["accepted"]) >= 5, 30,
                        "diskfull: writes flow again once space and server are back")
                key_p = ("promflux_output_spool_pending_points", frozenset({("output", "w")}))
                dm.wait(lambda: metrics(port).get(key_p, 1) == 0, 30, "diskfull: the spool drains")
                check(dm.stop() == 0, "diskfull: exit 0")
                log = dm.log()
                check(log_lines(log, "dropped"), "diskfull: the dropped segments are logged")
                check("Sanitizer" not in log and "runtime error" not in log, "diskfull: no sanitizer report")
    finally:
        subprocess.run(["umount", "-l", state])


def case_corrupt():
    d = tmpdir()
    p = payload(d)
    out = os.path.join(d, "out.lp")
    # 1. Make a spool: the server refuses, the daemon stops (keeping it).
    with FaultServer("--payload", p) as fs, WriteServer("--script", '[{"status": 503, "times": -1}]') as bad:
        with Daemon(d, wconf(fs, bad, out, "spool_limit = 64KiB\nbatch_bytes = 4KiB\n")) as dm:
            sd = spool_dir(d)
            dm.wait(lambda: os.path.isdir(sd) and len([f for f in os.listdir(sd) if f.endswith(".seg")]) >= 3,
                    40, "corrupt: several segments spooled")
            check(dm.stop() == 0, "corrupt: exit 0")
    segs = sorted(f for f in os.listdir(sd) if f.endswith(".seg"))
    # 2. Damage it: a flipped byte in the data of the first segment's last
    # record region, a torn tail in the last segment, a stray file.
    first, last = os.path.join(sd, segs[0]), os.path.join(sd, segs[-1])
    with open(first, "r+b") as f:
        size = os.path.getsize(first)
        f.seek(size - 10)
        b = f.read(1)
        f.seek(size - 10)
        f.write(bytes([b[0] ^ 0x40]))
    size_last = os.path.getsize(last)
    with open(last, "r+b") as f:
        f.truncate(size_last - 7)
    with open(os.path.join(sd, "notes.txt"), "w") as f:
        f.write("not a segment\n")
    # 3. Restart with a working server: intact records arrive once, no garbage.
    with FaultServer("--payload", p) as fs2, WriteServer() as good:
        with Daemon(d, wconf(fs2, good, os.path.join(d, "out2.lp"))) as dm2:
            dm2.wait(lambda: log_lines(dm2.log(), "spool replayed"), 30, "corrupt: the spool replays")
            time.sleep(1)
            check(dm2.stop() == 0, "corrupt: exit 0")
            log = dm2.log()
        record = set(read_lines(out))
        sent = [line for w in good.writes() if w["accepted"] for line in write_lines(w)]
        check(sent, "corrupt: intact records were sent")
        foreign = [line for line in sent if line not in record and line not in set(read_lines(os.path.join(d, "out2.lp")))]
        check(not foreign, "corrupt: nothing but recorded lines sent (%d others, e.g. %r)" % (len(foreign), foreign[:2]))
        check(len(sent) == len(set(sent)), "corrupt: no line sent twice")
        check(log_lines(log, segs[-1]) and any(w in log for w in ("cut", "trunc")),
              "corrupt: the torn tail of %s is reported" % segs[-1])
        check(log_lines(log, segs[0]), "corrupt: the corrupt record in %s is reported" % segs[0])
        check(os.path.exists(os.path.join(sd, "notes.txt")), "corrupt: the stray file is left alone")


def case_split():
    """A 413 for a batch replayed from the spool: its halves go back to the
    spool, every line is delivered exactly once."""
    d = tmpdir()
    p = payload(d)
    out = os.path.join(d, "out.lp")
    script = [{"status": 503, "times": 4}, {"status": 413, "times": 2}]
    with FaultServer("--payload", p) as fs, WriteServer("--script", json.dumps(script)) as ws:
        with Daemon(d, wconf(fs, ws, out)) as dm:
            dm.wait(lambda: ws.stats()["script_left"] == 0, 20, "split: the 503s and 413s answered")
            dm.wait(lambda: log_lines(dm.log(), "spool replayed"), 20, "split: the spool replayed")
            time.sleep(1)
            check(dm.stop() == 0, "split: exit 0")
            log = dm.log()
        writes = ws.writes()
        refused = [w for w in writes if w["answer"] == 413]
        check(len(refused) == 2, "split: two writes answered 413 (%d)" % len(refused))
        if refused:
            # The first refused batch arrives as two smaller writes.
            lines = set(write_lines(refused[0]))
            parts = [w for w in writes if w["accepted"] and set(write_lines(w)) & lines]
            check(len(parts) >= 2 and all(len(write_lines(w)) < len(lines) for w in parts),
                  "split: the refused batch went out in halves (%r lines of %d)"
                  % ([len(write_lines(w)) for w in parts], len(lines)))
        check("Sanitizer" not in log, "split: no sanitizer report")
        check_delivery("split", read_lines(out), writes)


CASES = {"kill": case_kill, "restart": case_restart, "diskfull": case_diskfull, "corrupt": case_corrupt,
         "split": case_split}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: test_spool.py {%s}" % "|".join(CASES))
    CASES[sys.argv[1]]()
    if failures:
        print("FAILED: %d check(s)" % len(failures))
        sys.exit(1)
    print("ok")
