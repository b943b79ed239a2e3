#!/usr/bin/python3
"""influx_roundtrip.py: the tricky payloads through a real InfluxDB 1.x.

`promflux convert --schema influxdb-prom` turns payloads/python_client.txt
(every metric type; label values with quotes, backslashes, newlines, tabs,
unicode, commas, '=', spaces; NaN and +Inf) into line protocol, a real
influxd (Debian's 1.x, started here on a free loopback port) ingests it,
and every point is read back and compared with an independent reading of
the same payload by Debian's python3-prometheus-client parser:
measurement, every tag, value (as a double) and timestamp.

The expectation applies promflux's documented encodings (README.md, "Line
protocol"), the only places where what InfluxDB stores differs from the
label: LF, CR, TAB and FF are written as the two characters \\n \\r \\t \\f
(as Telegraf does), trailing backslashes are removed (InfluxDB refuses a tag
value that ends in one), empty label values are left out (InfluxDB has no
empty tags), and NaN/+Inf/-Inf samples are not written.
"""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

NOW_NS = 1700000000000000000


def encode_tag(v):
    for raw, esc in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\f", "\\f")):
        v = v.replace(raw, esc)
    return v.rstrip("\\")


def expected_points(text):
    pts = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if math.isnan(s.value) or math.isinf(s.value):
                continue
            tags = {}
            for k, v in s.labels.items():
                v = encode_tag(v)
                if v != "":
                    tags[k] = v
            ts = NOW_NS if s.timestamp is None else int(round(float(s.timestamp) * 1000)) * 1000000
            pts.append((s.name, tuple(sorted(tags.items())), s.value, ts))
    return pts


def main():
    conf = os.environ["PF_CONFORMANCE"]
    promflux = os.environ["PROMFLUX"]
    path = os.path.join(conf, "payloads", "python_client.txt")
    text = open(path, encoding="utf-8", newline="").read()
    want = expected_points(text)
    if len(want) < 60:
        print("oracle found only %d points" % len(want))
        return 1

    conv = subprocess.run([promflux, "convert", "--schema", "influxdb-prom", "--format", "prometheus",
                           "--precision", "ns", "--time", str(NOW_NS), path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if conv.returncode != 0:
        print("convert exited %d: %s" % (conv.returncode, conv.stderr.decode(errors="replace")))
        return 1
    lines = conv.stdout

    failures = 0
    with servers.InfluxDB1() as db:
        db.query("CREATE DATABASE pf")
        st, body = db.write("pf", lines)
        if st != 204:
            print("write refused: HTTP %d %s" % (st, body[:1000]))
            return 1
        res = json.loads(db.query('SELECT "value"::field FROM /.*/ GROUP BY *', db="pf"))
        got = []
        for series in res["results"][0].get("series", []):
            tags = tuple(sorted((k, v) for k, v in series.get("tags", {}).items() if v != ""))
            ti = series["columns"].index("time")
            vi = series["columns"].index("value")
            for row in series["values"]:
                got.append((series["name"], tags, float(row[vi]), int(row[ti])))

    def key(p):
        return (p[0], p[1], p[3])

    got_by = {}
    for p in got:
        got_by.setdefault(key(p), []).append(p[2])
    for p in want:
        vals = got_by.get(key(p))
        if not vals:
            print("MISSING %s %s ts=%d value=%r" % (p[0], dict(p[1]), p[3], p[2]))
            failures += 1
            continue
        v = vals.pop(0)
        if v != p[2] and not (v == 0 and p[2] == 0):
            print("VALUE %s %s: want %r got %r" % (p[0], dict(p[1]), p[2], v))
            failures += 1
    extra = [(k, v) for k, vs in got_by.items() for v in vs]
    for k, v in extra:
        print("EXTRA %s %s ts=%d value=%r" % (k[0], dict(k[1]), k[2], v))
        failures += 1
    print("influxdb round trip: %d points expected, %d read back, %d failures" % (len(want), len(got), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
