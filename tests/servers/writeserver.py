#!/usr/bin/python3
"""writeserver.py: a fault-injecting InfluxDB write endpoint and counting sink.

The outputs' tests need to see the exact requests promflux sends and to
answer each of them as a real server might on a bad day (413, 429 with
Retry-After, partial writes, 401, missing database, a connection reset in
the middle of the body). Real InfluxDB does none of this on demand; this
server does. Standard library only, one thread per connection, HTTP/1.1
keep-alive.

    writeserver.py [--port N] [--script JSON] [--no-record]
                   [--strict-db] [--db NAME ...]
                   [--user U --password P] [--token T]

Binds 127.0.0.1 (port 0 = a free port), prints "READY <port>" on stdout
when it accepts connections, and serves until killed. A path prefix
(http://host/prefix/write) is served as the path without it.

InfluxDB paths:
  POST /write            v1 write (db, rp, precision, consistency, u, p)
  POST /api/v2/write     v2 write (org, bucket, precision)
  GET|HEAD /ping         204 with X-Influxdb-Version
  GET /health            200 {"status":"pass"}
  GET /api/v2/buckets    200, the bucket asked for (?name=) as existing
  GET|POST /query        CREATE DATABASE "x" (remembered), SHOW DATABASES;
                         q from the query string or a form body

Answers. A write is answered from the script: a list of answers, each
consumed by the first request of its kind ("on": "write" (default): a
write with lines; "check": a write of no lines, as a v2 start check;
"query"; "ping" (also /health, /api/v2/buckets); "any"), in order:
  {"status": 204}                       any status; "body" and "headers"
                                        ({"Name": "value"}) optional
  {"status": 429, "retry_after": "2"}   adds Retry-After
  {"reset": true}                       reads half the body, then RST
  {"hang": true}                        reads the body, then never answers:
                                        the connection is held until the
                                        client closes it (recorded at once,
                                        "answer": "hang")
  {"delay_ms": N, ...}                  waits N ms before answering
  {"times": N, ...}                     this answer N times (-1: always)
When the script is empty a write is accepted (204) and its lines counted.
--strict-db: a v1 write to a database not created (CREATE DATABASE or
--db) gets 404 {"error":"database not found: \\"x\\""}, as InfluxDB 1.x.
--user/--password: v1 requests need them (Basic auth or u/p parameters);
--token: v2 requests need "Authorization: Token T"; else 401.

Control paths:
  POST /_script          JSON list: replaces the script
  POST /_config          JSON {"strict_db": bool, "dbs": [...], "user":..,
                         "password":.., "token":..}
  GET  /_requests[?since=N]  the recorded requests from index N, JSON list:
                         {"i", "t" (wall clock, s), "mono" (monotonic, s),
                         "method", "path", "query" {name: value},
                         "done" (monotonic, when answered),
                         "headers" {lower-case name: value}, "gzip" (body was
                         gzip), "body" (decompressed, UTF-8 text; invalid
                         bytes as U+FFFD), "body_bytes" (as received),
                         "lines", "answer" (status, or "reset"), "accepted"}
  GET  /_stats           {"requests", "writes", "accepted_writes",
                         "lines" (accepted), "bytes" (as received),
                         "body_bytes" (decompressed)}
  POST /_clear           forgets requests, stats and script
--no-record: keep no request bodies (counting sink for benchmarks).
"""
import argparse
import base64
import gzip
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler

WRITE_PATHS = ("/write", "/api/v2/write")


class State:
    """Everything the handlers share, under one lock."""

    def __init__(self, a):
        self.lock = threading.Lock()
        self.script = list(a.script)
        self.record = not a.no_record
        self.strict_db = a.strict_db
        self.dbs = set(a.db or [])
        self.user, self.password, self.token = a.user, a.password, a.token
        self.clear()

    def clear(self):
        self.requests = []
        self.stats = {"requests": 0, "writes": 0, "accepted_writes": 0,
                      "lines": 0, "bytes": 0, "body_bytes": 0}

    def take(self, kind, pred=None):
        """The first scripted answer for a request of this kind (when pred,
        only if pred accepts it), or None."""
        with self.lock:
            for i, ans in enumerate(self.script):
                if ans.get("on", "write") in (kind, "any"):
                    if pred is not None and not pred(ans):
                        return None
                    n = ans.get("times", 1)
                    if n == 1:
                        return self.script.pop(i)
                    if n > 1:
                        ans["times"] = n - 1
                    return ans
        return None


def count_lines(body):
    # Blank lines are not points (line protocol allows them).
    return sum(1 for line in body.split(b"\n") if line.strip())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "writeserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    @property
    def st(self):
        return self.server.state

    # -- helpers --

    def send(self, code, body=b"", ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Influxdb-Version", "1.8.10-writeserver")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self, limit=None):
        """The request body as sent (Content-Length or chunked); limit: read at most that."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            out = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        if limit is not None:
            n = min(n, limit)
        return self.rfile.read(n) if n else b""

    def reset(self):
        # SO_LINGER with a zero timeout turns close() into an RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def hang(self):
        # Whatever else the client sends is read and ignored; it is the one
        # to give up (its timeout), and then recv sees the end.
        self.close_connection = True
        try:
            self.connection.settimeout(None)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def control_json(self):
        return json.loads(self.read_body().decode() or "null")

    # -- dispatch --

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        t, mono = time.time(), time.monotonic()
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        p = u.path
        if p.startswith("/_"):
            return self.control(p, q)
        # A url with a path prefix (http://host/influx) is served as without it.
        for end in ("/api/v2/write", "/api/v2/buckets", "/write", "/ping", "/health", "/query"):
            if p.endswith(end):
                p = end
                break
        kind = "write" if p in WRITE_PATHS else "query" if p == "/query" else "ping"
        rec = {"t": t, "mono": mono, "method": self.command, "path": u.path, "query": q,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "gzip": False, "body": "", "body_bytes": 0, "lines": 0,
               "answer": None, "accepted": False}
        ans = None
        if kind != "write":
            ans = self.st.take(kind)
        elif ("chunked" in self.headers.get("Transfer-Encoding", "").lower()
              or int(self.headers.get("Content-Length", "0")) > 64):
            # A reset must come before the body is read; a write this small
            # (a v2 start check writes no lines) is never the one reset.
            ans = self.st.take("write", lambda a: a.get("reset"))
        if ans and ans.get("reset"):
            if ans.get("delay_ms"):
                time.sleep(ans["delay_ms"] / 1000.0)
            self.read_body(limit=max(1, int(self.headers.get("Content-Length", "2")) // 2))
            rec["answer"] = "reset"
            self.save(rec, kind)
            return self.reset()
        raw = self.read_body() if self.command == "POST" else b""
        body = raw
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            rec["gzip"] = True
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as e:
                rec["body_error"] = "bad gzip: %s" % e
                body = b""
        rec["body_bytes"] = len(raw)
        rec["lines"] = count_lines(body)
        if self.st.record:
            rec["body"] = body.decode("utf-8", "replace")
        if kind == "write":
            # A write of no lines (a start check) takes only "check" answers.
            ans = self.st.take("write" if rec["lines"] else "check")
        if ans and ans.get("delay_ms"):
            time.sleep(ans["delay_ms"] / 1000.0)
        if ans and ans.get("reset"):
            # A small body was read whole: the reset comes instead of the answer.
            rec["answer"] = "reset"
            self.save(rec, kind)
            return self.reset()
        if ans and ans.get("hang"):
            rec["answer"] = "hang"
            self.save(rec, kind, len(raw), len(body))
            return self.hang()
        status, rbody, headers = self.answer(kind, p, q, body, ans)
        rec["answer"] = status
        rec["accepted"] = kind == "write" and 200 <= status < 300
        self.save(rec, kind, len(raw), len(body))
        self.send(status, rbody, headers=headers)

    def save(self, rec, kind, nraw=0, nbody=0):
        rec["done"] = time.monotonic()
        with self.st.lock:
            s = self.st.stats
            s["requests"] += 1
            s["bytes"] += nraw
            s["body_bytes"] += nbody
            if kind == "write":
                s["writes"] += 1
                if rec["accepted"]:
                    s["accepted_writes"] += 1
                    s["lines"] += rec["lines"]
            if self.st.record:
                rec["i"] = len(self.st.requests)
                self.st.requests.append(rec)

    def authorized(self, p, q):
        st = self.st
        auth = self.headers.get("Authorization", "")
        if p == "/api/v2/write" or p.startswith("/api/v2/"):
            return st.token is None or auth == "Token " + st.token
        if st.user is None:
            return True
        basic = "Basic " + base64.b64encode(("%s:%s" % (st.user, st.password)).encode()).decode()
        return auth == basic or (q.get("u") == st.user and q.get("p") == st.password)

    def answer(self, kind, p, q, body, ans):
        """(status, body, headers) for a request."""
        if ans is not None:
            headers = dict(ans.get("headers", {}))
            if "retry_after" in ans:
                headers["Retry-After"] = str(ans["retry_after"])
            return int(ans.get("status", 204)), ans.get("body", ""), headers
        if p not in ("/ping", "/health") and not self.authorized(p, q):
            return 401, '{"error":"authorization failed"}', {}
        if p == "/ping":
            return 204, "", {}
        if p == "/health":
            return 200, '{"name":"writeserver","status":"pass"}', {}
        if p == "/api/v2/buckets":
            name = q.get("name", "")
            return 200, json.dumps({"buckets": [{"name": name, "id": "0000000000000001"}] if name else []}), {}
        if p == "/query":
            stmt = q.get("q")
            if stmt is None and body:
                stmt = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))).get("q", "")
            return self.query(stmt or "")
        if p == "/write":
            db = q.get("db", "")
            with self.st.lock:
                missing = self.st.strict_db and db not in self.st.dbs
            if missing:
                return 404, json.dumps({"error": "database not found: \"%s\"" % db}), {}
            return 204, "", {}
        if p == "/api/v2/write":
            return 204, "", {}
        return 404, '{"error":"not found"}', {}

    def query(self, stmt):
        s = stmt.strip()
        up = s.upper()
        if up.startswith("CREATE DATABASE"):
            name = s[len("CREATE DATABASE"):].strip()
            if name.startswith('"') and name.endswith('"') and len(name) >= 2:
                name = name[1:-1].replace('\\"', '"')
            with self.st.lock:
                self.st.dbs.add(name)
            return 200, '{"results":[{"statement_id":0}]}', {}
        if up.startswith("SHOW DATABASES"):
            with self.st.lock:
                vals = [[d] for d in sorted(self.st.dbs)]
            return 200, json.dumps({"results": [{"statement_id": 0, "series": [
                {"name": "databases", "columns": ["name"], "values": vals}]}]}), {}
        return 400, json.dumps({"error": "unsupported query: %s" % s[:100]}), {}

    def control(self, p, q):
        st = self.st
        if p == "/_script" and self.command == "POST":
            script = self.control_json()
            with st.lock:
                st.script = list(script)
            return self.send(200, '{"ok":true}')
        if p == "/_config" and self.command == "POST":
            c = self.control_json()
            with st.lock:
                if "strict_db" in c:
                    st.strict_db = bool(c["strict_db"])
                if "dbs" in c:
                    st.dbs = set(c["dbs"])
                for k in ("user", "password", "token"):
                    if k in c:
                        setattr(st, k, c[k])
            return self.send(200, '{"ok":true}')
        if p == "/_requests":
            since = int(q.get("since", "0"))
            with st.lock:
                out = json.dumps(st.requests[since:])
            return self.send(200, out)
        if p == "/_stats":
            with st.lock:
                out = json.dumps(dict(st.stats, script_left=sum(
                    a.get("times", 1) if a.get("times", 1) >= 0 else 10**9 for a in st.script)))
            return self.send(200, out)
        if p == "/_clear" and self.command == "POST":
            self.read_body()
            with st.lock:
                st.clear()
                st.script = []
            return self.send(200, '{"ok":true}')
        return self.send(404, '{"error":"unknown control path"}')


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description="fault-injecting InfluxDB write endpoint")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", type=json.loads, default=[],
                    help="JSON list of answers, consumed in order")
    ap.add_argument("--no-record", action="store_true", help="count only, keep no bodies")
    ap.add_argument("--strict-db", action="store_true", help="404 for a v1 write to an unknown db")
    ap.add_argument("--db", action="append", help="a database that exists (repeatable)")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--token")
    a = ap.parse_args()
    srv = TCPServer(("127.0.0.1", a.port), Handler)
    srv.state = State(a)
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
