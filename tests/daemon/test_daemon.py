#!/usr/bin/python3
"""test_daemon.py: the promflux daemon end to end.

    test_daemon.py CASE     CASE: once-real, once-refused, daemon-file, check, faults

Real servers (Debian's prometheus-node-exporter and prometheus) and our
fault-injecting server (tests/servers/faultserver.py) run on free loopback
ports; promflux runs with a generated configuration. Each case asserts what
promflux wrote (line protocol, parsed here), its exit status and its log.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ["PF_SRC"], "tests", "integration"))
import servers  # noqa: E402

PROMFLUX = os.environ["PROMFLUX"]
# Under tests/faults/valgrind-wrap the daemon is 10-50 times slower.
SLOW = os.environ.get("PF_VALGRIND") == "1"
FAULTSERVER = os.path.join(os.environ["PF_SRC"], "tests", "servers", "faultserver.py")
SYNTHETIC = ("up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_body_size_bytes")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


# ---- exposition text (what the servers serve) ----

def parse_labels(s, i):
    """Parses {a="b",...} from s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        while s[i] in " ,":
            i += 1
        if s[i] == "}":
            return labels, i + 1
        j = s.index("=", i)
        name = s[i:j].strip()
        i = s.index('"', j) + 1
        v = []
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
                v.append({"n": "\n", "\\": "\\", '"': '"'}.get(s[i], "\\" + s[i]))
            else:
                v.append(s[i])
            i += 1
        labels[name] = "".join(v)
        i += 1


def exposition_ids(text):
    """The set of (sample name, frozenset of non-empty labels) of a 0.0.4 body."""
    ids = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        name, rest = m.group(0), line[m.end():]
        labels = {}
        if rest.startswith("{"):
            labels, _ = parse_labels(rest, 0)
        value = rest.split("}")[-1].split()[0] if rest.startswith("{") else rest.split()[0]
        if value.lower() in ("nan", "+inf", "-inf", "inf"):
            continue  # not representable as a field: dropped and counted by design
        ids.add((name, frozenset((k, v) for k, v in labels.items() if v != "")))
    return ids


# ---- line protocol (what promflux wrote) ----

def lp_split(s, seps):
    """Splits at unescaped separators; returns the parts, escapes undone."""
    parts, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i + 1])
            i += 2
            continue
        if c in seps:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def parse_lp(text):
    """Returns [(measurement, {tags}, {fields: str}, time)], asserting the syntax."""
    points = []
    for line in text.splitlines():
        if not line:
            continue
        # measurement+tags ends at the first unescaped space.
        i = 0
        while True:
            j = line.index(" ", i)
            if line[j - 1] != "\\":
                break
            i = j + 1
        head, rest = line[:j], line[j + 1:]
        ts = rest.rsplit(" ", 1)
        check(len(ts) == 2 and re.fullmatch(r"-?\d+", ts[1]), "line has a timestamp: %r" % line[:200])
        parts = lp_split(head, ",")
        tags = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            tags[k] = v
        fields = {}
        for f in re.findall(r'([^,=]+)=("(?:[^"\\]|\\.)*"|[^,]+)', ts[0]):
            fields[f[0]] = f[1]
        check(fields, "line has fields: %r" % line[:200])
        points.append((parts[0], tags, fields, int(ts[1]) if len(ts) == 2 else 0))
    return points


def run(args, timeout=60):
    p = subprocess.run([PROMFLUX] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def file_lines(path):
    """The complete lines of a file the daemon writes ([] before it exists)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return text.split("\n")[:-1]


def wait_until(p, pred, secs, what):
    """Polls pred() until it holds or secs pass (daemon p still running);
    checks it held. Waiting for what must happen, not sleeping a guess,
    keeps a slow start (valgrind) from failing a test."""
    end = time.monotonic() + secs
    while time.monotonic() < end and p.poll() is None:
        if pred():
            return True
        time.sleep(0.05)
    ok = pred()
    check(ok, "%s (not within %g s%s)" % (what, secs, "" if p.poll() is None else ": the daemon exited"))
    return ok


def write_conf(d, text, name="promflux.ini"):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def synthetic(points, url, field="value"):
    """The synthetic series of url: {name: float value}."""
    out = {}
    for m, tags, fields, _ in points:
        if m in SYNTHETIC and tags.get("url") == url:
            out[m] = float(fields[field])
    return out


# ---- cases ----

def case_once_real(d):
    with servers.NodeExporter() as ne, servers.Prometheus() as pr:
        urls = [ne.url, pr.url]
        # A first fetch creates the series that only exist once /metrics was
        # served; a series in both fetches must be in promflux's scrape,
        # which happens in between (values may change, identities do not).
        before = {u: exposition_ids(servers.http("GET", u)[1].decode()) for u in urls}
        conf = write_conf(d, """[global]
interval = 10s
[job "node"]
url = %s
schema = influxdb-prom
[job "prom"]
url = %s
schema = influxdb-prom
""" % (ne.url, pr.url))
        rc, out, err = run(["-c", conf, "--once"])
        after = {u: exposition_ids(servers.http("GET", u)[1].decode()) for u in urls}
        check(rc == 0, "once-real: exit 0 (got %d): %s" % (rc, err[-2000:]))
        points = parse_lp(out)
        for u in urls:
            want = before[u] & after[u]
            got = set()
            for m, tags, fields, _ in points:
                if tags.get("url") != u or m in SYNTHETIC:
                    continue
                check(set(fields) == {"value"}, "influxdb-prom: one field 'value': %r" % (fields,))
                got.add((m, frozenset((k, v) for k, v in tags.items() if k not in ("host", "url"))))
            missing = want - got
            check(len(want) > 30, "once-real: %s served samples (%d)" % (u, len(want)))
            check(not missing, "once-real: %s: %d served samples missing, e.g. %r" %
                  (u, len(missing), sorted(missing)[:3]))
            syn = synthetic(points, u)
            check(set(syn) == set(SYNTHETIC), "once-real: synthetic series of %s: %r" % (u, syn))
            check(syn.get("up") == 1, "once-real: up=1 for %s" % u)
            check(syn.get("scrape_samples_scraped", 0) >= len(want), "once-real: scrape_samples_scraped")
            check(syn.get("scrape_samples_post_metric_relabeling") == syn.get("scrape_samples_scraped"),
                  "once-real: post-relabel count equals scraped without filters")
            check(syn.get("scrape_body_size_bytes", 0) > 1000, "once-real: body size")
            check(0 < syn.get("scrape_duration_seconds", -1) < 10, "once-real: duration")
            check(re.search(r"^scrape_duration_seconds,[^ ]*url=%s[^ ]* value=\d+\.\d{6} " % re.escape(u), out, re.M),
                  "once-real: the duration in seconds with six decimals (microseconds): %r" % out[-600:])
            ntags = {frozenset(t.items()) for m, t, f, _ in points if t.get("url") == u}
            check(all(dict(t).get("host") for t in ntags), "once-real: every point has a host tag")
        check("starting (--once)" in err and "targets" in err, "once-real: start line logged: %r" % err[:300])
        # telegraf-v1: the same scrape in Telegraf's layout must be valid line protocol.
        conf = write_conf(d, """[job "node"]
url = %s
schema = telegraf-v1
[job "prom"]
url = %s
schema = telegraf-v1
""" % (ne.url, pr.url), "v1.ini")
        rc, out, err = run(["-c", conf, "--once"])
        check(rc == 0, "once-real telegraf-v1: exit 0: %s" % err[-1000:])
        points = parse_lp(out)
        check(len(points) > 100, "once-real telegraf-v1: points written (%d)" % len(points))
        for u in urls:
            syn = synthetic(points, u, "gauge")
            check(syn.get("up") == 1, "telegraf-v1: up gauge=1 for %s (%r)" % (u, syn))
        check(any(m == "node_cpu_seconds_total" and "counter" in f for m, t, f, _ in points),
              "telegraf-v1: counters as field 'counter'")


def case_once_refused(d):
    url = "http://127.0.0.1:%d/metrics" % servers.free_port()
    conf = write_conf(d, """[job "gone"]
url = %s
schema = influxdb-prom
""" % url)
    rc, out, err = run(["-c", conf, "--once"])
    check(rc == 1, "refused: exit 1 (got %d)" % rc)
    lines = [l for l in err.splitlines() if "target=" + url in l]
    check(lines and re.search(r"connection refused", lines[0], re.I),
          "refused: stderr names the target and says connection refused: %r" % err)
    check(lines and lines[0].startswith("level=warn"), "refused: logfmt level")
    syn = synthetic(parse_lp(out), url)
    check(syn.get("up") == 0, "refused: up=0 written (%r)" % out)
    check(syn.get("scrape_samples_scraped") == 0, "refused: no samples")
    check(set(syn) == set(SYNTHETIC), "refused: all synthetic series written")


def case_daemon_file(d):
    with servers.NodeExporter() as ne:
        path = os.path.join(d, "out.lp")
        port = servers.free_port()
        conf = write_conf(d, """[global]
interval = 1s
listen = 127.0.0.1:%d
[job "node"]
url = %s
[output "file"]
type = file
path = %s
""" % (port, ne.url, path))
        errf = open(os.path.join(d, "err.log"), "w+")
        p = subprocess.Popen([PROMFLUX, "-c", conf], stdout=subprocess.PIPE, stderr=errf)

        def ups():
            return len([x for x in file_lines(path) if x.startswith("up,") or x.startswith("up ")])

        # Two scrapes at 1 s, however long the start takes.
        wait_until(p, lambda: ups() >= 2, 30, "daemon: two scrapes at 1 s")
        os.rename(path, path + ".1")
        p.send_signal(signal.SIGHUP)
        wait_until(p, lambda: ups() >= 1, 15, "daemon: a scrape after the SIGHUP, in the new file")
        # A tick the reload skipped (the old configuration's scrape still
        # ran: README "Reload") leaves a gap of two intervals; say so.
        try:
            m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
            sk = re.search(r'^promflux_scrape_ticks_skipped_total\{reason="reload"\} (\d+)', m, re.M)
            skipped = int(sk.group(1)) if sk else -1
        except OSError as e:
            skipped = -1
            check(False, "daemon: /metrics answers (%s)" % e)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(8)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        took = time.monotonic() - t0
        errf.seek(0)
        err = errf.read()
        out = p.stdout.read().decode()
        check(rc == 0, "daemon: SIGTERM exits 0 (got %d): %s" % (rc, err[-2000:]))
        check(took < 2.0, "daemon: stops quickly (%.2fs)" % took)
        check(out == "", "daemon: nothing on stdout with a file output")
        old = parse_lp(open(path + ".1").read())
        check(os.path.exists(path), "daemon: SIGHUP after the rename made a new file")
        new = parse_lp(open(path).read()) if os.path.exists(path) else []
        ups_old = [f for m, t, f, _ in old if m == "up"]
        ups_new = [f for m, t, f, _ in new if m == "up"]
        check(len(ups_old) >= 2, "daemon: several scrapes at 1 s before the rename (%d)" % len(ups_old))
        check(len(ups_new) >= 1, "daemon: scrapes after the reopen go to the new file (%d)" % len(ups_new))
        check(all(f == {"gauge": "1"} for f in ups_old + ups_new), "daemon: up gauge=1 each time")
        times = sorted({ts for m, t, f, ts in old + new if m == "up"})
        gaps = [b - a for a, b in zip(times, times[1:])]
        long_gaps = [g for g in gaps if not 800 <= g <= 1300]
        check(len(long_gaps) <= max(skipped, 0) and all(1800 <= g <= 2300 for g in long_gaps),
              "daemon: scrapes 1 s apart, or 2 s across a tick the reload skipped (ms gaps %r, %d skipped)"
              % (gaps, skipped))
        check(len([m for m, t, f, _ in old if m != "up"]) > 500 * len(ups_old) // 2,
              "daemon: node_exporter samples written")
        check("reopened" in err and "stopping: SIGTERM" in err and "stopped:" in err,
              "daemon: reopen and stop logged: %r" % err[-1500:])


def case_check(d):
    good = write_conf(d, """[global]
interval = 5s
tag = env=test
[job "a"]
url = http://127.0.0.1:9/metrics
[output "o"]
type = file
path = %s/x.lp
""" % d, "good.ini")
    rc, out, err = run(["-n", "-c", good])
    check(rc == 0 and out.strip() == "configuration OK", "check: good config OK (%d %r %r)" % (rc, out, err))
    check(not os.path.exists(os.path.join(d, "x.lp")), "check: -n opens no output")
    bad = write_conf(d, """[global]
interval = 5s
bogus_key = 1
[job "a"]
url = http://127.0.0.1:9/metrics
interval = soon
""", "bad.ini")
    rc, out, err = run(["-n", "-c", bad])
    check(rc == 1, "check: bad config exits 1 (got %d)" % rc)
    check("configuration OK" not in out + err, "check: bad config is not OK")
    check(re.search(r"bad\.ini:3:.*bogus_key", err), "check: unknown key with FILE:LINE: %r" % err)
    check(re.search(r"bad\.ini:6:.*interval", err), "check: bad value with FILE:LINE (every error): %r" % err)
    rc, out, err = run(["-n", "-c", os.path.join(d, "missing.ini")])
    check(rc == 1 and "missing.ini" in err, "check: missing file (%d %r)" % (rc, err))
    rc, out, err = run(["-c", bad, "--once"])
    check(rc == 1 and "bogus_key" in err and out == "", "check: a bad config does not start")
    rc, out, err = run(["--log-level", "loud", "-c", good])
    check(rc == 2 and "loud" in err, "check: bad --log-level is a usage error")


class FaultServer:
    def __init__(self, payload=None):
        self.payload = payload

    def __enter__(self):
        args = ["/usr/bin/python3", FAULTSERVER, "--port", "0"]
        if self.payload:
            args += ["--payload", self.payload]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"READY (\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("faultserver did not start: %r" % line)
        self.base = "http://127.0.0.1:%s" % m.group(1)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


def case_faults(d):
    payload = os.path.join(d, "labels.prom")
    with open(payload, "w") as f:
        f.write('# TYPE clash gauge\nclash{host="scraped",url="x",env="e",keep="k"} 1\n'
                '# TYPE other_total counter\nother_total{method="get",code="200"} 5\n'
                'other_total{method="post",code="200"} 6\n'
                '# TYPE temp_celsius gauge\ntemp_celsius 21.5\n'
                '# TYPE lat summary\nlat{quantile="0.5"} 1\nlat_sum 2\nlat_count 3\n')
    with FaultServer() as fs, FaultServer(payload) as lab:
        # 1. A hung target does not delay a fast one.
        path = os.path.join(d, "fast.lp")
        conf = write_conf(d, """[global]
omit_hostname = true
[job "slow"]
url = %s/slow-headers?ms=8000
interval = 2s
timeout = 1500ms
schema = influxdb-prom
[job "fast"]
url = %s/metrics
interval = 500ms
timeout = 400ms
schema = influxdb-prom
[output "f"]
type = file
path = %s
""" % (fs.base, fs.base, path), "slow.ini")
        errf = open(os.path.join(d, "slow.err"), "w+")
        p = subprocess.Popen([PROMFLUX, "-c", conf], stderr=errf)
        # Eight fast scrapes (3.5 s at 500 ms, once the start is done: it
        # takes a second or more under valgrind), next to the hung one.
        def fast_ups():
            return len([x for x in file_lines(path) if x.startswith("up,") and "/metrics" in x])

        wait_until(p, lambda: fast_ups() >= 8, 30, "faults: the fast target kept scraping next to a hung one")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
        errf.seek(0)
        err = errf.read()
        check(rc == 0, "faults: daemon exits 0: %s" % err[-1000:])
        pts = parse_lp(open(path).read())
        fast = sorted(ts for m, t, f, ts in pts if m == "up" and t["url"].endswith("/metrics"))
        slow = [f for m, t, f, ts in pts if m == "up" and "slow" in t["url"]]
        gaps = [b - a for a, b in zip(fast, fast[1:])]
        check(len(fast) >= 8, "faults: the fast target kept scraping next to a hung one (%d)" % len(fast))
        # Held by the hung target (its timeout is 1.5 s), a gap would be
        # 1,500 ms or more; valgrind's own delays take up to 200 ms more.
        check(gaps and max(gaps) <= (1000 if SLOW else 650),
              "faults: fast scrapes keep their 500 ms interval (gaps %r)" % gaps)
        check(slow and all(f["value"] == "0" for f in slow), "faults: the hung target is up=0 (%r)" % slow)
        slow_log = [l for l in err.splitlines() if "slow-headers" in l and "scrape failed" in l]
        check(len(slow_log) == 1, "faults: the hung target is logged once, not per scrape (%d)" % len(slow_log))
        check(slow_log and re.search(r"time", slow_log[0], re.I), "faults: the log says timeout: %r" % slow_log)

        # 2. --once with one target per failure and per relabel rule.
        big = fs.base + "/big?bytes=300000"
        st500 = fs.base + "/status?code=500"
        conf = write_conf(d, """[global]
hostname = ourhost
tag = env=prod
[job "big"]
url = %(big)s
body_limit = 100KiB
schema = influxdb-prom
[job "s500"]
url = %(st500)s
schema = influxdb-prom
[job "limit"]
url = %(fs)s/metrics?limit
sample_limit = 2
schema = influxdb-prom
[job "nolimit"]
url = %(fs)s/metrics?nolimit
sample_limit = 3
schema = influxdb-prom
[job "rename"]
url = %(lab)s/metrics?rename
schema = influxdb-prom
[job "honor"]
url = %(lab)s/metrics?honor
honor_labels = true
schema = influxdb-prom
[job "include"]
url = %(lab)s/metrics?include
metric_include = temp_*
metric_include = clash
schema = influxdb-prom
[job "exclude"]
url = %(lab)s/metrics?exclude
metric_exclude = other_total
metric_exclude = lat
label_drop = kee?
schema = influxdb-prom
[job "drop"]
url = %(lab)s/metrics?drop
label_drop = method
schema = influxdb-prom
[job "garbage"]
url = %(fs)s/garbage?bytes=20000&seed=7
schema = influxdb-prom
[job "reject"]
url = %(fs)s/garbage?bytes=20000&seed=8
on_error = reject
schema = influxdb-prom
[job "gzon"]
url = %(fs)s/headers?gzon
schema = influxdb-prom
[job "gzoff"]
url = %(fs)s/headers?gzoff
enable_compression = false
schema = influxdb-prom
[job "gzmembers"]
url = %(lab)s/gzip?form=members
schema = influxdb-prom
[job "gzcorrupt"]
url = %(lab)s/gzip?form=corrupt
schema = influxdb-prom
""" % {"big": big, "st500": st500, "fs": fs.base, "lab": lab.base}, "once.ini")
        rc, out, err = run(["-c", conf, "--once"])
        check(rc == 1, "faults: --once with failing targets exits 1")
        pts = parse_lp(out)

        def of(suffix):
            return [(m, t, f) for m, t, f, _ in pts if t.get("url", "").endswith(suffix)]

        def up(url):
            v = [f["value"] for m, t, f in of(url) if m == "up"]
            return v[0] if len(v) == 1 else v

        def log_of(url):
            return [l for l in err.splitlines() if "target=" + url in l]

        check(up(big) == "0" and not [1 for m, t, f in of(big) if m not in SYNTHETIC],
              "faults: body over the limit is up=0 without samples")
        check(any("102400" in l and "body" in l for l in log_of(big)), "faults: body limit logged: %r" % log_of(big))
        check(up(st500) == "0", "faults: HTTP 500 is up=0")
        check(any("500" in l for l in log_of(st500)), "faults: the status is in the log: %r" % log_of(st500))
        check(up("?limit") == "0" and not [1 for m, t, f in of("?limit") if m not in SYNTHETIC],
              "faults: sample_limit exceeded is up=0 with no samples")
        check(any("sample_limit" in l for l in log_of(fs.base + "/metrics?limit")), "faults: sample_limit logged")
        check(up("?nolimit") == "1" and len([1 for m, t, f in of("?nolimit") if m not in SYNTHETIC]) == 3,
              "faults: sample_limit equal to the count passes")

        clash = [t for m, t, f in of("?rename") if m == "clash"]
        check(len(clash) == 1 and clash[0].get("host") == "ourhost" and clash[0].get("exported_host") == "scraped"
              and clash[0].get("url", "").endswith("?rename") and clash[0].get("exported_url") == "x"
              and clash[0].get("env") == "prod" and clash[0].get("exported_env") == "e"
              and clash[0].get("keep") == "k",
              "faults: honor_labels=false renames clashing labels exported_*: %r" % clash)
        syn = [t for m, t, f in of("?rename") if m == "up"]
        check(syn and "exported_host" not in syn[0], "faults: synthetic series carry our tags only")
        hon = [t for m, t, f, _ in pts if m == "clash" and t.get("exported_url") is None and t.get("url") == "x"]
        check(len(hon) == 1 and hon[0].get("host") == "scraped" and hon[0].get("env") == "e"
              and "exported_host" not in hon[0], "faults: honor_labels=true keeps the scraped labels: %r" % hon)
        inc = sorted({m for m, t, f in of("?include") if m not in SYNTHETIC})
        check(inc == ["clash", "temp_celsius"], "faults: metric_include (%r)" % inc)
        exc = [(m, t) for m, t, f in of("?exclude") if m not in SYNTHETIC]
        check(sorted({m for m, t in exc}) == ["clash", "temp_celsius"], "faults: metric_exclude (a summary by its family name): %r" % exc)
        check(all("keep" not in t for m, t in exc), "faults: label_drop glob")
        inc_syn = {m: f["value"] for m, t, f in of("?include") if m in SYNTHETIC}
        check(inc_syn.get("scrape_samples_scraped") == "7" and inc_syn.get("scrape_samples_post_metric_relabeling") == "2",
              "faults: scraped vs post-relabel counts (%r)" % inc_syn)
        drop = [t for m, t, f in of("?drop") if m == "other_total"]
        check(len(drop) == 2 and all("method" not in t and t.get("code") == "200" for t in drop),
              "faults: label_drop removes the label (%r)" % drop)

        # Garbage: skipped line by line (up=1), each error with URL:LINE:COL,
        # at most 5 lines a minute per target; on_error = reject fails it.
        gurl = fs.base + "/garbage?bytes=20000&seed=7"
        glog = [l for l in log_of(gurl) if re.search(re.escape(gurl) + r":\d+:\d+: ", l)]
        check(up("seed=7") == "1", "faults: garbage with on_error=skip is up=1")
        check(1 <= len(glog) <= 5, "faults: parse errors rate-limited to 5 (%d)" % len(glog))
        check(glog and re.search(re.escape(gurl) + r":\d+:\d+: ", glog[0]),
              "faults: a parse error says URL:LINE:COL: %r" % glog[:1])
        check(any(re.search(r"\d+ more parse errors in this scrape not logged", l) for l in log_of(gurl)),
              "faults: parse errors not logged are counted in a summary: %r" % log_of(gurl)[-1:])
        rurl = fs.base + "/garbage?bytes=20000&seed=8"
        rlog = [l for l in log_of(rurl) if "scrape failed" in l]
        check(up("seed=8") == "0" and not [1 for m, t, f in of("seed=8") if m not in SYNTHETIC],
              "faults: garbage with on_error=reject is up=0 without samples")
        check(rlog and re.search(r"reject.*:\d+:\d+: ", rlog[0]), "faults: the rejection says where: %r" % rlog)

        # Compression: asked for by default, not with enable_compression =
        # false; a gzip body (two members) is decompressed whole; a corrupt
        # one fails the scrape and says so.
        def enc(suffix):
            return [t.get("value") for m, t, f in of(suffix)
                    if m == "request_header" and t.get("name") == "accept-encoding"]
        check(enc("?gzon") == ["gzip"], "faults: Accept-Encoding: gzip by default (%r)" % enc("?gzon"))
        check(up("?gzon") == "1" and up("?gzoff") == "1" and enc("?gzoff") == [],
              "faults: enable_compression = false sends no Accept-Encoding (%r)" % enc("?gzoff"))
        gz = sorted(m for m, t, f in of("form=members") if m not in SYNTHETIC)
        plain = sorted(m for m, t, f in of("?rename") if m not in SYNTHETIC)
        check(up("form=members") == "1" and gz == plain and len(gz) >= 5,
              "faults: a gzip body in two members gives the same samples (%r vs %r)" % (gz, plain))
        gzlog = log_of(lab.base + "/gzip?form=corrupt")
        check(up("form=corrupt") == "0" and any("gzip body is corrupt" in l for l in gzlog),
              "faults: a corrupt gzip body is up=0 and logged as such: %r" % gzlog)


def case_stop(d):
    """SIGTERM with a scrape in flight: it may finish for min(timeout, 5 s), then is cancelled."""
    with FaultServer() as fs:
        url = fs.base + "/slow-headers?ms=20000"
        conf = write_conf(d, """[job "slow"]
url = %s
interval = 30s
timeout = 2s
""" % url)
        p = subprocess.Popen([PROMFLUX, "-c", conf, "--once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
        took = time.monotonic() - t0
        err = err.decode()
        check(1.2 <= took <= 3.5, "stop: waits for the scrape at most its timeout (%.2fs)" % took)
        check("stopping: SIGTERM" in err, "stop: logged: %r" % err)
        check(p.returncode == 1, "stop: --once with an unfinished scrape exits 1 (%d)" % p.returncode)
        check(out == b"" or b"up," in out, "stop: either up=0 from its timeout or nothing")


def case_conns(d):
    """Targets of one origin (paths of one exporter) share its keep-alive connection."""
    with FaultServer() as fs:
        urls = ["%s/conn?t=%d" % (fs.base, i) for i in range(4)]
        path = os.path.join(d, "conns.lp")
        conf = write_conf(d, """[job "conns"]
interval = 1s
%s
[output "f"]
type = file
path = %s
""" % ("\n".join("url = " + u for u in urls), path))
        p = subprocess.Popen([PROMFLUX, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def scraped_twice():
            n = {}
            for x in file_lines(path):
                if x.startswith("connection_id,"):
                    u = re.search(r",url=(\S+?)[, ]", x)
                    n[u and u.group(1)] = n.get(u and u.group(1), 0) + 1
            return len(n) == len(urls) and all(v >= 2 for v in n.values())

        wait_until(p, scraped_twice, 30, "conns: each target scraped twice")
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
        with open(path) as f:
            out = f.read()
        ids = {}
        for m, tags, fields, _ in parse_lp(out):
            if m == "connection_id":
                ids.setdefault(tags.get("url"), []).append(int(float(fields["value"])))
        check(sorted(ids) == sorted(urls) and all(len(v) >= 2 for v in ids.values()),
              "conns: each target scraped at least twice: %r %r" % (ids, err.decode()[-800:]))
        # Four targets at their own phases of 1 s, each scrape a few ms
        # (more under valgrind): their connections serve one another; a
        # connection per target never would. Overlapping scrapes may open
        # a second one, so the check is that some connection served more
        # than one target, and that there are fewer than four.
        served = {}
        for u, v in ids.items():
            for c in v:
                served.setdefault(c, set()).add(u)
        check(any(len(us) > 1 for us in served.values()) and len(served) < len(urls),
              "conns: the origin's targets share connections, got %r" % ids)


def case_auth(d):
    """Credentials from files: the bearer token file is re-read when it
    changes (a rotated Kubernetes token), the password file at each scrape."""
    token = os.path.join(d, "token")
    pw = os.path.join(d, "password")
    with open(token, "w") as f:
        f.write("secret-token\n")
    with open(pw, "w") as f:
        f.write("pass\n")
    with FaultServer() as fs:
        path = os.path.join(d, "auth.lp")
        conf = write_conf(d, """[global]
omit_hostname = true
interval = 300ms
[job "bearer"]
url = %(b)s/auth-bearer
bearer_token_file = %(token)s
schema = influxdb-prom
[job "basic"]
url = %(b)s/auth-basic
username = user
password_file = %(pw)s
schema = influxdb-prom
[output "f"]
type = file
path = %(path)s
""" % {"b": fs.base, "token": token, "pw": pw, "path": path}, "auth.ini")
        errf = open(os.path.join(d, "auth.err"), "w+")
        p = subprocess.Popen([PROMFLUX, "-c", conf], stderr=errf)

        def ups(kind):
            try:
                pts = parse_lp(open(path).read())
            except FileNotFoundError:
                return []
            return [f["value"] for m, t, f, ts in pts if m == "up" and t["url"].endswith(kind)]

        def wait_for(kind, value, what):
            end = time.monotonic() + 5
            n0 = len(ups(kind))
            while time.monotonic() < end:
                got = ups(kind)[n0:]
                if got and got[-1] == value:
                    return True
                time.sleep(0.1)
            check(False, "auth: %s (ups %r)" % (what, ups(kind)[-6:]))
            return False

        wait_for("/auth-bearer", "1", "the token from bearer_token_file is accepted")
        wait_for("/auth-basic", "1", "the password from password_file is accepted")
        # Rotate both to wrong values: the next scrapes must use them (401, up=0) ...
        time.sleep(0.05)
        with open(token, "w") as f:
            f.write("rotated-but-wrong-token-of-another-length\n")
        with open(pw, "w") as f:
            f.write("wrong\n")
        wait_for("/auth-bearer", "0", "a changed token file is re-read")
        wait_for("/auth-basic", "0", "the password file is read at each scrape")
        # ... and back to the right ones.
        with open(token, "w") as f:
            f.write("secret-token\n")
        with open(pw, "w") as f:
            f.write("pass\n")
        wait_for("/auth-bearer", "1", "the token file is re-read again")
        wait_for("/auth-basic", "1", "the password file is read again")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
        errf.seek(0)
        err = errf.read()
        check(rc == 0, "auth: daemon exits 0")
        check(re.search(r"auth-bearer.*401", err) is not None,
              "auth: the 401 is logged with the target: %r" % err[-800:])


CASES = {
    "once-real": case_once_real,
    "once-refused": case_once_refused,
    "daemon-file": case_daemon_file,
    "check": case_check,
    "faults": case_faults,
    "stop": case_stop,
    "auth": case_auth,
    "conns": case_conns,
}


def main():
    name = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="pf-daemon-") as d:
        CASES[name](d)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
