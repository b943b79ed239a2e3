"""servers.py: start real servers for integration tests, on free loopback ports.

Each server gets a temporary directory and is stopped by PID when the test
ends (use as a context manager). Only 127.0.0.1 is ever used.
"""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback port free now, for a server or a listen address bound later.

    Picked below the kernel's ephemeral range, where the port-0 binds of
    servers started meanwhile never land, and never twice in one process:
    with bind(0) here, a fault server started between free_port() and the
    daemon's start got the daemon's listen port (tests/daemon reload-output,
    under ASan in CI)."""
    rnd = random.SystemRandom()
    hi = max(_ephemeral_low(), 20001)
    for _ in range(500):
        p = rnd.randrange(20000, hi)
        if p in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _handed_out.add(p)
        return p
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, data=None, headers=None, timeout=10):
    """Returns (status, body bytes); never raises for HTTP errors."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url, want, deadline_s=30, proc=None, log=None):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited early: %s" % (open(log).read()[-2000:] if log else ""))
        try:
            st, _ = http("GET", url, timeout=2)
            if st == want:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server at %s not ready in %ds" % (url, deadline_s))


class InfluxDB1:
    """A real InfluxDB 1.x (Debian's influxd) on a free port."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pf-influxd-")
        self.port = free_port()
        rpc = free_port()
        conf = os.path.join(self.dir, "influxd.conf")
        with open(conf, "w") as f:
            f.write("""reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  max-series-per-database = 0
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
""" % (rpc, self.dir, self.dir, self.dir, self.port))
        self.conf = conf
        self.log = os.path.join(self.dir, "influxd.log")
        self.url = "http://127.0.0.1:%d" % self.port
        self.start()
        return self

    def start(self):
        """Starts influxd (again, after kill(): same port, same data)."""
        self.proc = subprocess.Popen(["influxd", "-config", self.conf],
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        wait_http(self.url + "/ping", 204, proc=self.proc, log=self.log)

    def kill(self):
        """Stops influxd at once (SIGKILL: an outage, not a clean stop)."""
        self.proc.kill()
        self.proc.wait()

    def query(self, q, db=None, epoch="ns"):
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        st, body = http("POST", self.url + "/query", urllib.parse.urlencode(params).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})
        if st != 200:
            raise RuntimeError("query %r: HTTP %d %s" % (q, st, body[:500]))
        return body

    def write(self, db, lines, precision="ns"):
        return http("POST", "%s/write?db=%s&precision=%s" % (self.url, db, precision), lines)

    def __exit__(self, *exc):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class _Exporter:
    """Common start/stop of a real exporter listening on a free port."""

    name = "exporter"

    def argv(self):
        raise NotImplementedError

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pf-%s-" % self.name)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/metrics" % self.port
        self.log = os.path.join(self.dir, "%s.log" % self.name)
        self.proc = subprocess.Popen(self.argv(), stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        wait_http(self.url, 200, proc=self.proc, log=self.log)
        return self

    def __exit__(self, *exc):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class NodeExporter(_Exporter):
    """Debian's prometheus-node-exporter; .url is its /metrics."""

    name = "node-exporter"

    def argv(self):
        return ["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % self.port]


class Prometheus(_Exporter):
    """A real Prometheus server (its own /metrics), scraping nothing."""

    name = "prometheus"

    def argv(self):
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
        return ["prometheus", "--config.file=" + conf, "--web.listen-address=127.0.0.1:%d" % self.port,
                "--storage.tsdb.path=" + os.path.join(self.dir, "data")]


class VictoriaMetrics:
    """A real VictoriaMetrics (Debian's victoria-metrics) on a free port.

    It takes line protocol on /write (v1, adds a db label) and
    /api/v2/write (v2, no label for org or bucket); a point's series is
    named measurement_field and its tags become labels.
    """

    def __init__(self, retention="1d"):
        # A long retention keeps samples with old timestamps (payloads carry
        # some from 1970 and 2023); VictoriaMetrics drops those outside it.
        self.retention = retention

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pf-vm-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = os.path.join(self.dir, "vm.log")
        self.start()
        return self

    def start(self):
        """Starts victoria-metrics (again, after kill(): same port, same data)."""
        self.proc = subprocess.Popen(
            ["victoria-metrics", "-httpListenAddr=127.0.0.1:%d" % self.port,
             "-storageDataPath=" + os.path.join(self.dir, "data"), "-retentionPeriod=" + self.retention,
             "-search.latencyOffset=0s", "-loggerLevel=WARN"],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        wait_http(self.url + "/health", 200, proc=self.proc, log=self.log)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def export(self, match='{__name__!=""}'):
        """Every raw sample (duplicates kept): [(labels dict incl. __name__, [(ts ms, value)])]."""
        import json
        http("POST", self.url + "/internal/force_flush")
        st, body = http("POST", self.url + "/api/v1/export",
                        urllib.parse.urlencode({"match[]": match}).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
        if st != 200:
            raise RuntimeError("export: HTTP %d %s" % (st, body[:500]))
        out = []
        for line in body.decode("utf-8").splitlines():
            if line.strip():
                j = json.loads(line)
                out.append((j["metric"], list(zip(j["timestamps"], j["values"]))))
        return out

    def __exit__(self, *exc):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
