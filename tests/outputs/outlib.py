"""outlib.py: shared pieces of the outputs' tests.

Starts our servers (tests/servers/writeserver.py, faultserver.py) and the
daemon with a generated configuration, reads line protocol the way
InfluxDB 1.x and VictoriaMetrics read it, and checks that what the daemon
wrote to a file output (the oracle: every point goes to every output) was
delivered to a server exactly once.
"""
import atexit
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.environ["PF_SRC"], "tests", "integration"))
import servers  # noqa: E402

PROMFLUX = os.environ["PROMFLUX"]
SRV_DIR = os.path.join(os.environ["PF_SRC"], "tests", "servers")
CONFORMANCE = os.environ["PF_CONFORMANCE"]
PYTHON = "/usr/bin/python3"
SYNTHETIC = ("up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_body_size_bytes")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def note(*a):
    print(*a, flush=True)


def version():
    out = subprocess.run([PROMFLUX, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+\.\d+\.\d+\S*)", out)
    return m.group(1) if m else out.strip()


# ---- our servers ----

class _PyServer:
    script_name = None

    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        self.proc = subprocess.Popen([PYTHON, os.path.join(SRV_DIR, self.script_name)] + self.args,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError("%s did not start: %r" % (self.script_name, line))
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port
        return self

    def __exit__(self, *exc):
        servers.stop_process(self.proc)
        return False


class FaultServer(_PyServer):
    """faultserver.py serving a payload at /metrics."""
    script_name = "faultserver.py"

    def __enter__(self):
        super().__enter__()
        self.url = self.base + "/metrics"
        return self


class WriteServer(_PyServer):
    """writeserver.py: records the writes and answers from a script."""
    script_name = "writeserver.py"

    def _post(self, path, obj):
        st, body = servers.http("POST", self.base + path, json.dumps(obj).encode(),
                                {"Content-Type": "application/json"})
        assert st == 200, (path, st, body)

    def script(self, answers):
        self._post("/_script", answers)

    def config(self, **kw):
        self._post("/_config", kw)

    def requests(self, since=0):
        st, body = servers.http("GET", "%s/_requests?since=%d" % (self.base, since))
        return json.loads(body)

    def writes(self):
        return [r for r in self.requests() if r["path"].endswith("write")]

    def stats(self):
        return json.loads(servers.http("GET", self.base + "/_stats")[1])


# ---- the daemon ----

class Daemon:
    """promflux in daemon mode with a configuration text; stop() sends SIGTERM."""

    def __init__(self, d, conf_text, name="promflux.ini", level="debug"):
        self.dir = d
        self.conf = os.path.join(d, name)
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.logpath = os.path.join(d, name + ".log")
        self.level = level
        self.rc = None

    def __enter__(self):
        self.t0 = time.monotonic()
        # Each daemon its own state directory (the outputs' spools), as
        # systemd's StateDirectory= gives it; a restart in the same
        # directory finds what the previous run spooled.
        env = dict(os.environ, STATE_DIRECTORY=os.path.join(self.dir, "state"))
        self.proc = subprocess.Popen([PROMFLUX, "-c", self.conf, "--log-level", self.level],
                                     stdout=subprocess.DEVNULL, stderr=open(self.logpath, "w"), env=env)
        return self

    def log(self):
        with open(self.logpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self, pred, deadline_s, what):
        # Under valgrind (tests/faults/valgrind-wrap) everything takes
        # longer; a deadline only matters when the condition never comes.
        if os.environ.get("PF_VALGRIND") == "1":
            deadline_s *= 3
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                check(False, "%s: daemon exited early (%d): %s" % (what, self.proc.returncode, self.log()[-1500:]))
                return False
            if pred():
                return True
            time.sleep(0.1)
        check(False, "%s: not within %gs" % (what, deadline_s))
        return False

    def stop(self, timeout=30):
        """SIGTERM; returns (exit status, seconds the exit took)."""
        if self.rc is None:
            t = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.rc = self.proc.wait()
                check(False, "daemon did not exit within %ds of SIGTERM" % timeout)
            self.stop_s = time.monotonic() - t
            log = self.log()
            check("runtime error" not in log and "Sanitizer" not in log,
                  "sanitizer report in the daemon's log: %s" % log[-3000:])
        return self.rc

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False


def run_once(d, conf_text):
    """promflux --once with a configuration; returns (rc, stdout, stderr)."""
    path = os.path.join(d, "once.ini")
    with open(path, "w") as f:
        f.write(conf_text)
    p = subprocess.run([PROMFLUX, "-c", path, "--once"], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def read_lines(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    # A line being written is not a line yet.
    return [line for line in text.split("\n")[:-1] if line.strip()]


# ---- line protocol as the servers read it ----

def split_unescaped(s, seps, quotes=False, maxsplit=-1):
    """Splits s at separators not escaped (nor inside quotes); the parts keep
    their escapes. As InfluxDB's scanner (models/points.go), a separator is
    escaped when the byte before it is a backslash, however many precede it:
    the encoder writes a label value "a\\," as a\\\, and means the comma."""
    parts, start, inq = [], 0, False
    for i, c in enumerate(s):
        if i > 0 and s[i - 1] == "\\":
            continue
        if quotes and c == '"':
            inq = not inq
        elif c in seps and not inq and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def unescape_influx(s, chars):
    """InfluxDB 1.x (models/points.go): only the escapes of its separators are undone."""
    for c in chars:
        s = s.replace("\\" + c, c)
    return s


def unescape_vm(s, chars):
    """VictoriaMetrics 1.79 also turns \\\\ into one backslash (checked against it);
    other backslashes (\\n, \\") stay as written."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and (s[i + 1] in chars or s[i + 1] == "\\"):
            out.append(s[i + 1])
            i += 2
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


def field_value(v):
    if v.endswith("i") or v.endswith("u"):
        return int(v[:-1])
    if v in ("t", "T", "true", "True", "TRUE"):
        return True
    if v in ("f", "F", "false", "False", "FALSE"):
        return False
    if v.startswith('"'):
        return v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return float(v)


def parse_line(line, flavour="influx"):
    """(measurement, {tag: value}, {field: value}, timestamp or None)."""
    un = unescape_influx if flavour == "influx" else unescape_vm
    # Quotes only mean something in string field values, not in tags.
    key, rest = split_unescaped(line, " ", maxsplit=1)
    parts = split_unescaped(rest, " ", quotes=True)
    fields_s = parts[0]
    ts = int(parts[1]) if len(parts) > 1 and parts[1] != "" else None
    kp = split_unescaped(key, ",")
    meas = un(kp[0], ", ")
    tags = {}
    for t in kp[1:]:
        k, v = split_unescaped(t, "=", maxsplit=1)
        tags[un(k, ",= ")] = un(v, ",= ")
    fields = {}
    for f in split_unescaped(fields_s, ",", quotes=True):
        k, v = split_unescaped(f, "=", maxsplit=1)
        fields[un(k, ",= ")] = field_value(v)
    return meas, tags, fields, ts


def is_synthetic(line):
    """A synthetic series' line in any schema (telegraf-v2: its field name)."""
    meas, _, fields, _ = parse_line(line)
    return meas in SYNTHETIC or (meas == "prometheus" and any(f in SYNTHETIC for f in fields))


def normalize(line):
    """A line without its timestamp; a synthetic series also without its value
    (scrape duration and body size change between scrapes)."""
    head = line.rsplit(" ", 1)[0]
    if is_synthetic(line):
        return split_unescaped(head, " ", maxsplit=1)[0]
    return head


# ---- delivery checks ----

def write_lines(req):
    return [line for line in req["body"].split("\n") if line.strip()]


def check_delivery(what, file_lines, writes, dropped=()):
    """Every line of the file output was accepted by the server exactly once,
    except the lines in dropped, which must never be accepted; nothing else
    was accepted."""
    accepted = collections.Counter()
    for r in writes:
        if r["accepted"]:
            accepted.update(write_lines(r))
    want = collections.Counter(file_lines)
    dropped = set(dropped)
    for line in dropped:
        want.pop(line, None)
    missing = [line for line in want if accepted[line] < want[line]]
    dup = [line for line in want if accepted[line] > want[line]]
    extra = [line for line in accepted if line not in want]
    bad_drop = [line for line in dropped if accepted[line]]
    ok = bool(check(want, "%s: the file output has lines" % what))
    ok &= check(not missing, "%s: %d of %d lines never accepted, e.g. %r" % (what, len(missing), len(want), missing[:2]))
    ok &= check(not dup, "%s: %d lines accepted more than once, e.g. %r" % (what, len(dup), dup[:2]))
    ok &= check(not extra, "%s: %d accepted lines not in the file output, e.g. %r" % (what, len(extra), extra[:2]))
    ok &= check(not bad_drop, "%s: %d lines accepted that the server had refused" % (what, len(bad_drop)))
    return ok


def log_lines(text, *needles):
    """The log lines containing every needle."""
    return [line for line in text.splitlines() if all(n in line for n in needles)]


_tmpdirs = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="pf-outputs-")
    _tmpdirs.append(d)
    return d


@atexit.register
def _cleanup():
    # A failed case keeps its directories (configuration, logs, file output).
    if failures:
        print("kept for inspection: %s" % " ".join(_tmpdirs), flush=True)
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def url_query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# ---- the daemon's own endpoint ----

def free_port():
    """A loopback port free now (for listen = 127.0.0.1:PORT): servers.free_port()."""
    return servers.free_port()


def own_get(port, path):
    """(status, body) of GET http://127.0.0.1:PORT/PATH; (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def own_metrics(port, required=True):
    """{(name, frozenset(labels.items())): value} from the daemon's /metrics,
    read with prometheus_client's own text parser (so the body is also
    checked to be valid Prometheus text). required: a failed request is a
    test failure; else {} (for polling while the daemon starts)."""
    from prometheus_client.parser import text_string_to_metric_families
    st, body = own_get(port, "/metrics")
    if st != 200:
        if required:
            check(False, "own /metrics answers 200 (got %r: %s)" % (st, body[:200]))
        return {}
    out = {}
    for fam in text_string_to_metric_families(body):
        for smp in fam.samples:
            out[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return out
