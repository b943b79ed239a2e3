#!/usr/bin/python3
"""test_real.py: the InfluxDB outputs against real servers.

    test_real.py e2e-telegraf-v1 | e2e-telegraf-v2 | e2e-influxdb-prom | outage

e2e-SCHEMA: the daemon scrapes a real node_exporter and faultserver.py
serving payloads/python_client.txt (quotes, backslashes, newlines, unicode,
commas, '=', spaces, extreme floats, old and negative timestamps) and writes
to a real InfluxDB 1.x (v1 API, database created by promflux), to
VictoriaMetrics through the v2 API and through the v1 API, and to a file.
The file is the record of what went in (every point goes to every output);
the lines of the fixed payload must also equal what `promflux --once` writes
for it. Both servers are read back: every point, tag, field and value of the
file must be there exactly, and nothing else.

How each server reads a line (checked against them, see outlib.py):
- InfluxDB 1.x undoes only the escapes of its separators (\\, \\= \\space);
  "\\n" written for a newline stays the two characters.
- VictoriaMetrics 1.79 names a series MEASUREMENT_FIELD, tags become
  labels (the v1 path adds db=DATABASE, the v2 path no label), and it also
  reads "\\\\" as one backslash. It stores values as decimals: a value keeps
  about 15 significant digits (1.7956932852462952e+09 may come back with
  the last digit changed) and subnormal doubles read back as 0, so values
  are compared with a relative tolerance of 1e-12 (absolute 1e-300).
  It cannot store timestamps before 1970 (the payload's -1500 ms sample is
  left out of its expectation) and reads a timestamp of 0 as none (the
  sample is stored at its arrival time: expected once, at any time); it is
  started with a 100-year retention so the 2023 timestamps are kept.
  Duplicate samples are kept, so the count of each (series, time) must
  match the file's exactly.
- VictoriaMetrics reads "\\\\," in a tag as an escaped backslash and a
  separator, where InfluxDB (and the encoder) mean a backslash and an
  escaped comma; it skips such a line (payload label value q"\\,= ...).
  Those lines are left out of its expectation and counted in the output.

outage: InfluxDB (SIGKILL) and VictoriaMetrics (SIGTERM: a SIGKILL would
lose what it had acknowledged but not flushed, its own doing) are down for
30 s while the daemon scrapes a fixed payload every second, then started
again on the same port and data directory. Every point the daemon scraped
arrives: the up points per timestamp are counted in both servers (once
each; VictoriaMetrics keeps duplicates, so a point sent twice would show).
"""
import collections
import json
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outlib import (Daemon, FaultServer, check, failures, normalize, note, parse_line,  # noqa: E402
                    read_lines, run_once, servers, split_unescaped, tmpdir, CONFORMANCE)

TRICKY = os.path.join(CONFORMANCE, "payloads", "python_client.txt")


def influx_points(db, name):
    """{(measurement, tags, ts): {field: value}} read back from InfluxDB 1.x."""
    res = json.loads(db.query("SELECT * FROM /.*/ GROUP BY *", db=name, epoch="ms"))
    r0 = res["results"][0]
    check("error" not in r0, "influx query: %r" % r0.get("error"))
    out = {}
    for s in r0.get("series", []):
        tags = frozenset((k, v) for k, v in s.get("tags", {}).items() if v != "")
        cols = s["columns"]
        for row in s["values"]:
            fields = {c: v for c, v in zip(cols, row) if c != "time" and v is not None}
            out.setdefault((s["name"], tags, row[0]), {}).update(fields)
    return out


def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return float(a) == float(b)


def compare_influx(what, lines, got):
    want = {}
    for line in lines:
        m, tags, fields, ts = parse_line(line, "influx")
        want.setdefault((m, frozenset(tags.items()), ts), {}).update(fields)
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [(k, want[k], got[k]) for k in want if k in got and (
        set(want[k]) != set(got[k]) or not all(same_value(want[k][f], got[k][f]) for f in want[k]))]
    check(len(want) > 100, "%s: points in the file output (%d)" % (what, len(want)))
    check(not missing, "%s: %d of %d points missing, e.g. %r" % (what, len(missing), len(want), missing[:2]))
    check(not extra, "%s: %d points not in the file output, e.g. %r" % (what, len(extra), extra[:2]))
    check(not wrong, "%s: %d points with other fields or values, e.g. %r" % (what, len(wrong), wrong[:2]))
    note("%s: %d points compared, %d missing, %d extra, %d differ" %
         (what, len(want), len(missing), len(extra), len(wrong)))


def vm_samples(vm, match):
    """Counter of (name, labels, ts) and their values, from VictoriaMetrics."""
    got = collections.defaultdict(list)
    for labels, samples in vm.export(match):
        labels = dict(labels)
        name = labels.pop("__name__")
        key = (name, frozenset(labels.items()))
        for ts, v in samples:
            got[key + (ts,)].append(v)
    return got


def vm_expected(lines, extra_labels):
    """What VictoriaMetrics should hold for the lines: {(name, labels, ts): [values]};
    ts None: any time (see vm_unreadable and the module comment)."""
    want = collections.defaultdict(list)
    for line in lines:
        if vm_unreadable(line):
            continue
        m, tags, fields, ts = parse_line(line, "vm")
        if ts is None or ts < 0:
            continue  # before 1970: VictoriaMetrics cannot store it
        if ts == 0:
            ts = None  # VictoriaMetrics reads 0 as "no timestamp": the time it arrives
        labels = dict(tags)
        labels.update(extra_labels)
        for f, v in fields.items():
            if isinstance(v, bool):
                v = 1.0 if v else 0.0
            want[(m + "_" + f, frozenset(labels.items()), ts)].append(float(v))
    return want


def vm_unreadable(line):
    """VictoriaMetrics 1.79 reads a backslash before an escaped separator in a
    tag ("a\\\\,b" for the label value "a\\,b") as an escaped backslash and
    then a separator; it skips the line (logged, HTTP 204). InfluxDB reads it
    as the encoder means it. Those lines are left out of its expectation."""
    key = split_unescaped(line, " ", maxsplit=1)[0]
    return re.search(r"\\\\[,= ]", key) is not None


def vm_close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def compare_vm(what, want, got):
    missing, extra, wrong = [], [], []
    got = {k: list(v) for k, v in got.items()}
    for k, vals in want.items():
        if k[2] is None:
            continue
        g = got.get(k, [])
        if len(g) < len(vals):
            missing.append((k, len(vals), len(g)))
        elif len(g) > len(vals):
            extra.append((k, len(vals), len(g)))
        elif not all(any(vm_close(a, b) for b in g) for a in vals):
            wrong.append((k, vals, g))
        got.pop(k, None)
    # Points written with timestamp 0: one sample each at some other time.
    for k, vals in want.items():
        if k[2] is not None:
            continue
        times = sorted(t for (n, lab, t) in got if (n, lab) == k[:2])
        if len(times) < len(vals):
            missing.append((k, len(vals), len(times)))
        for t in times[:len(vals)]:
            v = got.pop((k[0], k[1], t))
            if not all(vm_close(v[0], a) for a in vals[:1]):
                wrong.append((k, vals, v))
    extra += [(k, 0, len(v)) for k, v in got.items()]
    n = sum(len(v) for v in want.values())
    check(n > 100, "%s: samples expected (%d)" % (what, n))
    check(not missing, "%s: %d of %d series/times missing or short, e.g. %r" % (what, len(missing), len(want), missing[:2]))
    check(not extra, "%s: %d series/times extra or duplicated, e.g. %r" % (what, len(extra), extra[:2]))
    check(not wrong, "%s: %d values differ, e.g. %r" % (what, len(wrong), wrong[:2]))
    note("%s: %d samples compared, %d missing, %d extra, %d differ" % (what, n, len(missing), len(extra), len(wrong)))


def vm_wait(vm, match, n, deadline_s=20):
    """VictoriaMetrics makes new rows searchable about a second after they come."""
    end = time.monotonic() + deadline_s
    got = {}
    while time.monotonic() < end:
        got = vm_samples(vm, match)
        if sum(len(v) for v in got.values()) >= n:
            time.sleep(1.5)
            return vm_samples(vm, match)
        time.sleep(0.5)
    return got


def count_ups(lines):
    return sum(1 for line in lines if parse_line(line)[0] == "up" or (
        parse_line(line)[0] == "prometheus" and "up" in parse_line(line)[2]))


def case_e2e(schema):
    d = tmpdir()
    run = schema.replace("-", "_")
    with servers.InfluxDB1() as idb, servers.VictoriaMetrics(retention="100y") as vm, \
            servers.NodeExporter() as ne, FaultServer("--payload", TRICKY) as fs:
        out = os.path.join(d, "out.lp")
        jobs = """[job "node"]
url = %s
schema = %s
[job "tricky"]
url = %s
schema = %s
""" % (ne.url, schema, fs.url, schema)
        conf = """[global]
interval = 1s
hostname = pfhost
tag = run=%s
%s
[output "influx"]
type = influxdb_v1
url = %s
database = pf_%s
precision = ms
flush_interval = 200ms
[output "vm2"]
type = influxdb_v2
url = %s
org = o
bucket = b
token = unused
precision = ms
flush_interval = 200ms
[output "vm1"]
type = influxdb_v1
url = %s
database = vmdb
precision = ms
flush_interval = 200ms
[output "f"]
type = file
path = %s
precision = ms
""" % (run, jobs, idb.url, run, vm.url, vm.url, out)
        with Daemon(d, conf) as daemon:
            daemon.wait(lambda: count_ups(read_lines(out)) >= 6, 20, "e2e-%s: three scrapes of both targets" % schema)
            time.sleep(0.5)
            rc = daemon.stop()
            check(rc == 0, "e2e-%s: exit 0 (got %r)" % (schema, rc))
            log = daemon.log()
        lines = read_lines(out)
        # The fixed payload's lines are what --once writes for it.
        rc, once, err = run_once(d, "[global]\nhostname = pfhost\ntag = run=%s\n[job \"tricky\"]\nurl = %s\n"
                                 "schema = %s\n" % (run, fs.url, schema))
        check(rc == 0, "e2e-%s: --once exit 0: %s" % (schema, err[-300:]))
        mine = {normalize(line) for line in lines if parse_line(line)[1].get("url") == fs.url}
        ref = {normalize(line) for line in once.split("\n") if line.strip()}
        check(len(ref) > 20 and mine == ref, "e2e-%s: file lines of the fixed payload = --once's: missing %r extra %r"
              % (schema, sorted(ref - mine)[:2], sorted(mine - ref)[:2]))

        compare_influx("e2e-%s influxdb-1.x v1" % schema, lines, influx_points(idb, "pf_" + run))
        skipped = sum(1 for line in lines if vm_unreadable(line))
        note("e2e-%s: %d lines VictoriaMetrics cannot read (label value with a backslash before , = or space)"
             % (schema, skipped))
        want2 = vm_expected(lines, {})
        want1 = vm_expected(lines, {"db": "vmdb"})
        n = sum(len(v) for v in want1.values())
        vm_wait(vm, '{run="%s",db="vmdb"}' % run, n)
        got = vm_samples(vm, '{run="%s"}' % run)
        got1 = {k: v for k, v in got.items() if ("db", "vmdb") in k[1]}
        got2 = {k: v for k, v in got.items() if not any(lk == "db" for lk, _ in k[1])}
        compare_vm("e2e-%s victoriametrics v2" % schema, want2, got2)
        compare_vm("e2e-%s victoriametrics v1" % schema, want1, got1)
        if failures:
            note("--- daemon log ---\n" + log[-3000:])


OUTAGE_PAYLOAD = b"""# TYPE pf_outage gauge
pf_outage{k="a"} 1
pf_outage{k="b"} 2.5
"""


def case_outage():
    d = tmpdir()
    payload = os.path.join(d, "payload.txt")
    with open(payload, "wb") as f:
        f.write(OUTAGE_PAYLOAD)
    with servers.InfluxDB1() as idb, servers.VictoriaMetrics() as vm, FaultServer("--payload", payload) as fs:
        out = os.path.join(d, "out.lp")
        conf = """[global]
interval = 1s
hostname = pfhost
shutdown_timeout = 15s
[job "t"]
url = %s
schema = influxdb-prom
[output "influx"]
type = influxdb_v1
url = %s
database = pf
precision = ms
flush_interval = 200ms
retry_max_backoff = 2s
timeout = 2s
[output "vm"]
type = influxdb_v2
url = %s
org = o
bucket = b
token = unused
precision = ms
flush_interval = 200ms
retry_max_backoff = 2s
timeout = 2s
[output "f"]
type = file
path = %s
precision = ms
""" % (fs.url, idb.url, vm.url, out)

        def ups_influx():
            try:
                res = json.loads(idb.query('SELECT count("value") FROM "up"', db="pf", epoch="ms"))
                s = res["results"][0].get("series")
                return s[0]["values"][0][1] if s else 0
            except (RuntimeError, OSError, KeyError, ValueError):
                return 0

        def ups_vm():
            try:
                return sum(len(v) for v in vm_samples(vm, '{__name__="up_value"}').values())
            except (RuntimeError, OSError, KeyError, ValueError):
                return 0

        with Daemon(d, conf) as daemon:
            daemon.wait(lambda: ups_influx() >= 4, 20, "outage: written before the outage")
            before = count_ups(read_lines(out))
            idb.kill()
            vm.proc.terminate()
            vm.proc.wait(30)
            t_down = time.monotonic()
            time.sleep(30)
            during = count_ups(read_lines(out)) - before
            idb.start()
            vm.start()
            note("outage: down %.1f s, %d scrapes during it" % (time.monotonic() - t_down, during))
            check(during >= 25, "outage: the daemon kept scraping (%d scrapes in 30 s)" % during)
            total = count_ups(read_lines(out))
            daemon.wait(lambda: ups_influx() >= total, 30, "outage: the backlog reached InfluxDB")
            # Each output recovers on its own backoff; a stop before the VM
            # output's replay keeps its backlog in the spool (delivered at
            # the next start, see test_spool), which is not what this counts.
            daemon.wait(lambda: ups_vm() >= total, 30, "outage: the backlog reached VictoriaMetrics")
            rc = daemon.stop()
            check(rc == 0, "outage: exit 0 (got %r)" % rc)
            log = daemon.log()
        lines = read_lines(out)
        want_ts = collections.Counter(parse_line(line)[3] for line in lines if parse_line(line)[0] == "up")
        res = json.loads(idb.query('SELECT "value" FROM "up"', db="pf", epoch="ms"))
        s = res["results"][0].get("series") or [{"values": []}]
        influx_ts = collections.Counter(row[0] for row in s[0]["values"])
        check(set(influx_ts) == set(want_ts), "outage: InfluxDB has every up point (%d of %d; missing %r)" %
              (len(set(influx_ts) & set(want_ts)), len(want_ts), sorted(set(want_ts) - set(influx_ts))[:5]))
        check(all(n == 1 for n in want_ts.values()), "outage: one up point per timestamp in the file")
        compare_influx("outage influxdb", lines, influx_points(idb, "pf"))
        vm_wait(vm, '{__name__="up_value"}', len(want_ts))
        got = vm_samples(vm, '{__name__="up_value"}')
        vm_ts = collections.Counter()
        for (name, labels, ts), vals in got.items():
            vm_ts[ts] += len(vals)
        dup = {t: n for t, n in vm_ts.items() if n > 1}
        check(set(vm_ts) == set(want_ts), "outage: VictoriaMetrics has every up point (%d of %d)" %
              (len(set(vm_ts) & set(want_ts)), len(want_ts)))
        check(not dup, "outage: VictoriaMetrics got no up point twice (%d twice)" % len(dup))
        compare_vm("outage victoriametrics", vm_expected(lines, {}), vm_samples(vm, '{__name__!=""}'))
        note("outage: %d up points, InfluxDB %d, VictoriaMetrics %d" % (len(want_ts), sum(influx_ts.values()),
                                                                      sum(vm_ts.values())))
        if failures:
            note("--- daemon log ---\n" + log[-3000:])


def main():
    case = sys.argv[1] if len(sys.argv) == 2 else ""
    if case.startswith("e2e-") and case[4:] in ("telegraf-v1", "telegraf-v2", "influxdb-prom"):
        case_e2e(case[4:])
    elif case == "outage":
        case_outage()
    else:
        print("usage: test_real.py e2e-telegraf-v1|e2e-telegraf-v2|e2e-influxdb-prom|outage")
        return 2
    print("%s: %s" % (case, "FAILED (%d)" % len(failures) if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
