#!/usr/bin/python3
"""test_httpd.py: the own-metrics HTTP server (src/httpd.c) from the outside.

    test_httpd.py HTTPD_SERVER

HTTPD_SERVER (tests/selfmon/httpd_server.c) runs a pf_httpd on a libuv
loop. This script talks raw HTTP/1.x over sockets to it: routing, methods,
keep-alive, pipelining, HEAD, the head limit, garbage, resets, half-closed
clients, slow clients (the deadline), the connection cap, the listen
addresses, and a clean stop (the server exits 0 only when uv_loop_close()
succeeds, and under AddressSanitizer only without leaks).
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

SERVER = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


class Server:
    def __init__(self, listen="127.0.0.1:0", timeout_ms=0, max_conns=0):
        self.p = subprocess.Popen([SERVER, listen, str(timeout_ms), str(max_conns)],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"port (\d+)", line)
        if not m:
            raise RuntimeError("server did not start: %r" % line)
        self.port = int(m.group(1))

    def conn(self, timeout=10):
        return Conn(self.port, timeout)

    def stats(self):
        c = self.conn()
        r = c.request("GET", "/stats")
        c.close()
        return {k: int(v) for k, v in (ln.split() for ln in r.body.decode().splitlines())}

    def stop(self, how="term"):
        """Stops the server; returns (exit status, its output)."""
        if how == "term":
            self.p.send_signal(signal.SIGTERM)
        try:
            out, _ = self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
            return -1, out
        return self.p.returncode, out


class Response:
    def __init__(self, status, headers, body, head):
        self.status, self.headers, self.body, self.head = status, headers, body, head


class Conn:
    def __init__(self, port, timeout=10, family=socket.AF_INET, host="127.0.0.1"):
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def read_response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(int(m.group(1)), headers, body, head)

    def request(self, method, path, version="HTTP/1.1", headers=()):
        hdr = "".join("%s\r\n" % h for h in headers)
        self.send(("%s %s %s\r\nHost: x\r\n%s\r\n" % (method, path, version, hdr)).encode())
        return self.read_response(head_only=(method == "HEAD"))

    def closed(self, within=5.0):
        """True when the server closes (EOF or reset) within the time,
        with nothing more sent."""
        self.s.settimeout(within)
        try:
            d = self.s.recv(65536)
            return d == b"" and self.buf == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def reset(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()

    def close(self):
        self.s.close()


def t_routes(srv):
    c = srv.conn()
    r = c.request("GET", "/metrics")
    check(r.status == 200, "GET /metrics 200 (got %d)" % r.status)
    check(r.headers.get("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          "/metrics content type: %r" % r.headers.get("content-type"))
    text = r.body.decode()
    check("# TYPE httpd_requests_total counter\n" in text, "/metrics body: %r" % text[:200])
    check(re.search(r'^httpd_body_bytes_bucket\{listener="test",le="\+Inf"\} \d+$', text, re.M),
          "/metrics histogram: %r" % text)
    check(int(r.headers["content-length"]) == len(r.body), "content-length matches")
    r = c.request("GET", "/healthz")
    check(r.status == 200 and r.body == b"ok\n", "/healthz")
    r = c.request("GET", "/ready")
    check(r.status == 503 and r.body == b"not ready\n", "/ready 503")
    r = c.request("GET", "/nope")
    check(r.status == 404, "404 (got %d)" % r.status)
    r = c.request("GET", "/healthz?probe=1&x=%20")
    check(r.status == 200 and r.body == b"ok\n", "query string ignored for routing")
    r = c.request("GET", "/healthz#frag")
    check(r.status == 200, "fragment ignored")
    r = c.request("GET", "http://example.org:9465/healthz?x")
    check(r.status == 200 and r.body == b"ok\n", "absolute-form target")
    r = c.request("GET", "/fail")
    check(r.status == 500 and r.body == b"", "handler error: empty 500 (%d %r)" % (r.status, r.body))
    r = c.request("GET", "/badct")
    check(r.status == 500 and b"X-Injected" not in r.head, "content type with CR LF refused")
    # Every response above came on one connection: keep-alive.
    r = c.request("GET", "/healthz")
    check(r.status == 200 and "connection" not in r.headers, "still alive after 10 requests")
    c.close()


def t_methods(srv):
    c = srv.conn()
    for m in ("POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH"):
        r = c.request(m, "/metrics")
        check(r.status == 405, "%s: 405 (got %d)" % (m, r.status))
        check(r.headers.get("allow") == "GET, HEAD", "%s: Allow (%r)" % (m, r.headers.get("allow")))
    # A 405 without a body keeps the connection.
    r = c.request("GET", "/healthz")
    check(r.status == 200, "alive after 405s")
    # A request with a body is answered, then the connection closes (the
    # body is never read, so the next request could not be found).
    c.send(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    r = c.read_response()
    check(r.status == 405 and r.headers.get("connection") == "close", "POST with body: 405 + close")
    check(c.closed(), "closed after a request with a body")
    c.close()


def t_head(srv):
    c = srv.conn()
    g = c.request("GET", "/big?n=1234")
    check(g.status == 200 and len(g.body) == 1234, "GET /big")
    # HEAD then GET pipelined: the GET's status line follows the HEAD's
    # head at once, so HEAD sent no body.
    c.send(b"HEAD /big?n=1234 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    h = c.read_response(head_only=True)
    check(h.status == 200 and h.headers.get("content-length") == "1234",
          "HEAD: status and Content-Length of the GET (%r)" % h.headers)
    check(c.buf.startswith(b"HTTP/1.1 200") or c.buf == b"", "HEAD: no body bytes (%r)" % c.buf[:40])
    r = c.read_response()
    check(r.status == 200 and r.body == b"ok\n", "GET after HEAD")
    r = c.request("HEAD", "/nope")
    check(r.status == 404, "HEAD 404")
    c.close()


def t_keepalive(srv):
    c = srv.conn()
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    a = c.read_response()
    c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    b = c.read_response()
    check(a.status == 200 and b.status == 200, "two requests on one connection")
    # Connection: close is honoured.
    r = c.request("GET", "/healthz", headers=["Connection: close"])
    check(r.status == 200 and r.headers.get("connection") == "close", "Connection: close answered")
    check(c.closed(), "Connection: close closes")
    c.close()
    # HTTP/1.0: closes by default, keeps when asked.
    c = srv.conn()
    r = c.request("GET", "/healthz", version="HTTP/1.0")
    check(r.status == 200 and r.headers.get("connection") == "close", "HTTP/1.0 closes")
    check(c.closed(), "HTTP/1.0 connection closed")
    c.close()
    c = srv.conn()
    r = c.request("GET", "/healthz", version="HTTP/1.0", headers=["Connection: Keep-Alive"])
    check(r.headers.get("connection") == "keep-alive", "HTTP/1.0 keep-alive answered")
    r = c.request("GET", "/healthz", version="HTTP/1.0", headers=["Connection: keep-alive"])
    check(r.status == 200, "HTTP/1.0 keep-alive: second request")
    c.close()
    # Blank lines before a request line are ignored; bare LF line ends work.
    c = srv.conn()
    c.send(b"\r\n\r\nGET /healthz HTTP/1.1\nHost: x\n\n")
    r = c.read_response()
    check(r.status == 200, "leading blank lines and bare LF")
    c.close()


def t_pipeline(srv):
    c = srv.conn()
    reqs = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /big?n=300000 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"]
    c.send(b"".join(reqs) * 3)
    got = [c.read_response() for _ in range(12)]
    want = [200, 404, 200, 503] * 3
    check([r.status for r in got] == want, "pipelined answered in order: %r" % [r.status for r in got])
    check(len(got[2].body) == 300000, "pipelined big body")
    # Pipelined requests sent one byte at a time.
    data = b"".join(reqs[:2])
    for i in range(len(data)):
        c.send(data[i:i + 1])
    got = [c.read_response().status for _ in range(2)]
    check(got == [200, 404], "byte-by-byte requests: %r" % got)
    # The last of a pipeline with Connection: close: earlier ones answered.
    c.send(reqs[0] + b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n" + reqs[0])
    a, b = c.read_response(), c.read_response()
    check(a.status == 200 and b.headers.get("connection") == "close", "pipeline ending in close")
    check(c.closed(), "nothing answered after Connection: close")
    c.close()


def t_head_limit(srv):
    c = srv.conn()
    # Just under 8 KiB: answered.
    pad = "X-Pad: " + "a" * (8192 - 200)
    r = c.request("GET", "/healthz", headers=[pad])
    check(r.status == 200, "head of about 8000 bytes accepted (%d)" % r.status)
    c.close()
    c = srv.conn()
    try:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = c.read_response()
    check(r.status == 431 and r.headers.get("connection") == "close", "431 (got %d)" % r.status)
    check(c.closed(), "closed after 431")
    c.close()
    # A never-ending header line with no CRLF at all.
    c = srv.conn()
    try:
        c.send(b"GET /" + b"a" * 20000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = c.read_response()
    check(r.status == 431, "431 for an endless request line")
    c.close()


GARBAGE = [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\n\r\n", 400),
    (b"GET / FTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET /\x00x HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\n\r\n", 400),
    (b"GET ftp://x/ HTTP/1.1\r\n\r\n", 400),
    (b"\xff\xfe\xfd\r\n\r\n", 400),
]


def t_garbage(srv):
    for data, status in GARBAGE:
        c = srv.conn()
        c.send(data)
        try:
            r = c.read_response()
            check(r.status == status, "%r: %d (got %d)" % (data[:30], status, r.status))
            check(r.headers.get("connection") == "close", "%r: close" % data[:30])
            check(c.closed(), "%r: closed" % data[:30])
        except (EOFError, ValueError, ConnectionResetError) as e:
            check(False, "%r: no response (%r)" % (data[:30], e))
        c.close()
    # Random bytes without a head end, then close: nothing to answer.
    c = srv.conn()
    c.send(os.urandom(3000).replace(b"\n", b"x"))
    c.close()
    check(srv.conn().request("GET", "/healthz").status == 200, "alive after garbage")


def t_resets(srv):
    # Reset with half a request in.
    c = srv.conn()
    c.send(b"GET /metr")
    c.reset()
    # Reset while a large response is being written.
    c = srv.conn()
    c.send(b"GET /big?n=8000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    c.s.recv(1000)
    c.reset()
    # Reset right after a pipeline of requests.
    c = srv.conn()
    c.send(b"GET /big?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    c.reset()
    # Half-closed: the request, then our write side shut; the answer comes.
    c = srv.conn()
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    c.s.shutdown(socket.SHUT_WR)
    r = c.read_response()
    check(r.status == 200 and r.body == b"ok\n", "half-closed client answered")
    check(c.closed(), "half-closed client then closed")
    c.close()
    # Half-closed with two pipelined requests: both answered.
    c = srv.conn()
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    c.s.shutdown(socket.SHUT_WR)
    got = [c.read_response().status for _ in range(2)]
    check(got == [200, 404], "half-closed pipeline: %r" % got)
    c.close()
    # Half-closed in the middle of a head: closed without an answer.
    c = srv.conn()
    c.send(b"GET /healthz HTTP/1.1\r\nHo")
    c.s.shutdown(socket.SHUT_WR)
    check(c.closed(), "half a head then EOF: closed")
    c.close()
    time.sleep(0.2)
    check(srv.conn().request("GET", "/healthz").status == 200, "alive after resets")


def t_many_requests(srv):
    """Several hundred requests across connections: no slot leaks."""
    for _ in range(20):
        c = srv.conn()
        for _ in range(10):
            c.request("GET", "/metrics")
        c.close()
    time.sleep(0.3)
    st = srv.stats()
    check(st["open"] == 1, "every closed connection released (open %d)" % st["open"])


def t_cap_default(srv):
    """The default cap: 64 connections; the 65th is closed at once."""
    before = srv.stats()
    conns = [srv.conn() for _ in range(63)]
    # The 64th asks for the figures.
    c64 = srv.conn()
    r = c64.request("GET", "/stats")
    st = dict(ln.split() for ln in r.body.decode().splitlines())
    check(st["open"] == "64", "64 connections open (%s)" % st["open"])
    extra = srv.conn()
    check(extra.closed(within=3), "65th connection closed at once")
    extra.close()
    r = c64.request("GET", "/stats")
    st = dict(ln.split() for ln in r.body.decode().splitlines())
    check(int(st["refused"]) == before["refused"] + 1, "refused counted (%s)" % st["refused"])
    for c in conns:
        c.close()
    c64.close()
    time.sleep(0.3)
    check(srv.conn().request("GET", "/healthz").status == 200, "serving again below the cap")


def t_deadline(srv_short):
    """Server with a 600 ms deadline and a cap of 4."""
    srv = srv_short
    t0 = srv.stats()["timeouts"]
    # Slow loris: a header line every 150 ms never completes the head.
    c = srv.conn()
    start = time.monotonic()
    c.send(b"GET /healthz HTTP/1.1\r\n")
    closed = False
    try:
        for i in range(40):
            time.sleep(0.15)
            c.send(b"X-%d: y\r\n" % i)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    took = time.monotonic() - start
    if not closed:
        closed = c.closed(within=3)
    check(closed, "slow loris closed")
    check(took < 3.0, "slow loris closed by the deadline (%.2f s)" % took)
    c.close()
    # An idle connection goes too (without counting as a timeout).
    c = srv.conn()
    start = time.monotonic()
    check(c.closed(within=5), "idle connection closed")
    took = time.monotonic() - start
    check(0.4 < took < 3.0, "idle closed after about 600 ms (%.2f s)" % took)
    c.close()
    # A keep-alive connection gets the deadline again after each response:
    # 0.9 s in all, past the 600 ms deadline, with 450 ms to spare at each.
    c = srv.conn()
    for _ in range(6):
        time.sleep(0.15)
        check(c.request("GET", "/healthz").status == 200, "keep-alive within the deadline")
    c.close()
    # A client that does not read a large response is cut.
    c = srv.conn()
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(b"GET /big?n=20000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)
    got = 0
    try:
        c.s.settimeout(5)
        while True:
            d = c.s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except ConnectionResetError:
        pass
    check(got < 20000000, "untaken response cut (%d bytes arrived)" % got)
    c.close()
    st = srv.stats()
    check(st["timeouts"] == t0 + 2, "slow loris and slow reader counted (%d -> %d)"
          % (t0, st["timeouts"]))
    # The cap of 4: the fifth is closed at once, the four still work.
    cs = [srv.conn() for _ in range(4)]
    check(cs[0].request("GET", "/healthz").status == 200, "4 open")
    x = srv.conn()
    check(x.closed(within=2), "5th closed at once")
    x.close()
    check(cs[3].request("GET", "/healthz").status == 200, "the 4 still answered")
    for c in cs:
        c.close()


def t_stop_with_open_connections(srv):
    """SIGTERM with idle, half-sent and mid-write connections open."""
    idle = srv.conn()
    half = srv.conn()
    half.send(b"GET /heal")
    big = srv.conn()
    big.send(b"GET /big?n=30000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    big.s.recv(100)
    time.sleep(0.2)
    rc, out = srv.stop()
    check(rc == 0, "clean stop: exit %d, output %r" % (rc, out))
    check("closed done=1" in out, "done called once: %r" % out)
    for c in (idle, half, big):
        c.close()


def t_close_in_handler():
    srv = Server()
    c = srv.conn()
    c.send(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
    check(c.closed(), "handler closing the server: connection closed without an answer")
    c.close()
    rc, out = srv.stop(how="wait")
    check(rc == 0 and "closed done=1" in out, "close from the handler: exit %d %r" % (rc, out))


def try_listen(addr):
    p = subprocess.run([SERVER, "--try", addr], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout.strip()


def has_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def t_listen():
    for addr in ("127.0.0.1:0", "localhost:0", "0.0.0.0:0", ":0"):
        rc, out = try_listen(addr)
        check(rc == 0 and re.match(r"port [1-9]\d*$", out), "%s: %d %r" % (addr, rc, out))
    if has_ipv6():
        for addr in ("[::1]:0", "[::]:0"):
            rc, out = try_listen(addr)
            check(rc == 0 and out.startswith("port "), "%s: %d %r" % (addr, rc, out))
    bad = {"127.0.0.1": "host:port", "1.2.3:80": "not an IPv4 address",
           "example.org:80": "not an IPv4 address", "127.0.0.1:65536": "port",
           "127.0.0.1:x": "port", "127.0.0.1:": "port", "::1:80": "brackets",
           "[::1]80": "[IPv6 address]:port", "[nope]:80": "not an IPv6 address",
           "": "host:port"}
    for addr, why in bad.items():
        rc, out = try_listen(addr)
        check(rc == 2 and out.startswith("error listen ") and why in out,
              "%r refused saying %r: %d %r" % (addr, why, rc, out))
    # Address in use.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    rc, out = try_listen("127.0.0.1:%d" % port)
    check(rc == 2 and "address already in use" in out, "in use: %d %r" % (rc, out))
    s.close()
    # ":port" takes IPv4 and IPv6 clients (dual stack).
    srv = Server(listen=":0")
    check(Conn(srv.port).request("GET", "/healthz").status == 200, ":0 over IPv4")
    if has_ipv6():
        c = Conn(srv.port, family=socket.AF_INET6, host="::1")
        check(c.request("GET", "/healthz").status == 200, ":0 over IPv6")
        c.close()
    rc, out = srv.stop()
    check(rc == 0, "dual-stack server stops cleanly (%d %r)" % (rc, out))


def main():
    t_listen()
    srv = Server()
    for t in (t_routes, t_methods, t_head, t_keepalive, t_pipeline, t_head_limit,
              t_garbage, t_resets, t_many_requests, t_cap_default):
        print("#", t.__name__, flush=True)
        try:
            t(srv)
        except Exception as e:  # a broken exchange fails that test, not the run
            check(False, "%s raised %r" % (t.__name__, e))
    st = srv.stats()
    print("# stats", st, flush=True)
    check(st["bad_requests"] >= len(GARBAGE) + 2, "bad requests counted (%d)" % st["bad_requests"])
    t_stop_with_open_connections(srv)

    short = Server(timeout_ms=600, max_conns=4)
    print("# t_deadline", flush=True)
    try:
        t_deadline(short)
    except Exception as e:
        check(False, "t_deadline raised %r" % e)
    rc, out = short.stop()
    check(rc == 0, "short server stops cleanly (%d %r)" % (rc, out))
    t_close_in_handler()
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("httpd: all passed")


if __name__ == "__main__":
    main()
