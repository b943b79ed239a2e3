#!/usr/bin/python3
"""faultserver.py: a small HTTP server that misbehaves on request.

Real exporters do not stall, lie or explode on demand; this one does, so the
HTTP client and the scraper can be tested against each failure. Standard
library only, one thread per connection, HTTP/1.1 keep-alive.

    faultserver.py [--port N | --unix PATH] [--payload FILE]
                   [--tls-cert F --tls-key F [--client-ca F]]

Binds 127.0.0.1 (port 0 = a free port) or a Unix socket, prints one line
"READY <port>" (or "READY unix:<path>") on stdout when it accepts
connections, and serves until killed.

Paths (query parameters in brackets):
  /metrics                 the payload (--payload, default a small exposition)
  /openmetrics             an OpenMetrics body ending in "# EOF"
  /slow-headers[?ms=]      waits ms (default 5000) before the status line
  /slow-body[?ms=]         sends half the payload, waits ms, sends the rest
  /status?code=N           answers status N with a short text body
  /redirect?to=P[&code=]   a 302 (or code) to P
  /redirect-chain?n=K[&close=1]
                           K redirects in a row, then /metrics; close=1: each
                           redirect closes its connection (Connection: close)
  /gzip[?form=]            the payload gzip-encoded if the client accepts gzip;
                           form=members: as two gzip members, corrupt: a
                           flipped byte in the deflate data, truncated: no
                           trailer, br: the plain payload labelled
                           Content-Encoding: br
  /gzip-bomb[?mb=]         a small gzip body that inflates to mb MiB (200) of zeros
  /big?bytes=N[&chunked=1][&gzip=1]
                           N bytes of exposition-like text (chunked: no
                           length; gzip: gzip-encoded if the client accepts it)
  /garbage[?bytes=&seed=]  pseudo-random bytes; x = x*1103515245+12345 (mod
                           2^32), byte = (x >> 16) & 255, x starts at seed
  /reset                   announces 100000 bytes, sends 1000, then RST
  /trickle[?ms=&length=&chunked=1]
                           slow loris: the headers (Content-Length length,
                           default 100000, or chunked), then one byte of
                           exposition text every ms (1000) until the client
                           goes away (or length bytes were sent)
  /endless[?ms=&lines=]    a chunked body that never ends: lines (100)
                           exposition lines every ms (10), until the client
                           goes away; nothing is kept in memory
  /auth-basic              401 unless Basic --user:--password
  /auth-bearer             401 unless Bearer --token
  /headers                 the request headers as exposition samples:
                           request_header{name="x-a",value="b"} 1, plus
                           request_sni{value=".."} 1 under TLS
  /conn[?idle_ms=]          "connection_id N": N counts accepted connections;
                           idle_ms: the server closes the connection when no
                           next request comes within idle_ms
"""
import argparse
import gzip
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler

DEFAULT_PAYLOAD = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="400",method="post"} 3
# HELP temperature_celsius A gauge.
# TYPE temperature_celsius gauge
temperature_celsius{room="a b"} 21.5
"""

OPENMETRICS = b"""# TYPE requests counter
# HELP requests Requests.
requests_total{path="/"} 17
# TYPE build_info info
build_info_info{version="1.2"} 1
# EOF
"""

_conn_lock = threading.Lock()
_conn_count = 0
_bomb_lock = threading.Lock()
_bombs = {}


def gzip_bomb(mb):
    """Gzip of mb MiB of zeros, made once per size (about 1 KiB per MiB)."""
    with _bomb_lock:
        if mb not in _bombs:
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            chunk = bytes(1 << 20)
            parts = [c.compress(chunk) for _ in range(mb)]
            parts.append(c.flush())
            _bombs[mb] = b"".join(parts)
        return _bombs[mb]


def lcg_bytes(n, seed):
    out = bytearray(n)
    x = seed & 0xFFFFFFFF
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def label_escape(s):
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultserver/1"

    def setup(self):
        global _conn_count
        with _conn_lock:
            _conn_count += 1
            self.conn_id = _conn_count
        self.sni = None
        if self.request.family == socket.AF_INET:
            # Headers and body are separate writes: with Nagle on, the body
            # waits for the client's delayed ACK (40 ms a request).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = self.server.tls
        if ctx is not None:
            # The handshake runs here, in the connection's thread, so a
            # client that never finishes it cannot block accept().
            self.request.settimeout(10)
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.tls_failed = True
                self.rfile = self.wfile = None
                return
            self.request.settimeout(None)
            self.sni = getattr(self.request, "pf_sni", None)
        self.tls_failed = False
        super().setup()

    def handle(self):
        if getattr(self, "tls_failed", False):
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass

    def finish(self):
        if getattr(self, "tls_failed", False):
            return
        try:
            super().finish()
        except (ConnectionError, ssl.SSLError):
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("faultserver: " + (fmt % args) + "\n")

    def address_string(self):
        return "unix" if isinstance(self.client_address, (str, bytes)) else self.client_address[0]

    # -- helpers --

    def send(self, code, body, ctype="text/plain; version=0.0.4; charset=utf-8", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def payload(self):
        return self.server.payload

    # -- dispatch --

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        route = {
            "/metrics": self.r_metrics,
            "/openmetrics": self.r_openmetrics,
            "/slow-headers": self.r_slow_headers,
            "/slow-body": self.r_slow_body,
            "/status": self.r_status,
            "/redirect": self.r_redirect,
            "/redirect-chain": self.r_redirect_chain,
            "/gzip": self.r_gzip,
            "/gzip-bomb": self.r_gzip_bomb,
            "/big": self.r_big,
            "/garbage": self.r_garbage,
            "/reset": self.r_reset,
            "/trickle": self.r_trickle,
            "/endless": self.r_endless,
            "/auth-basic": self.r_auth_basic,
            "/auth-bearer": self.r_auth_bearer,
            "/headers": self.r_headers,
            "/conn": self.r_conn,
        }.get(u.path)
        if route is None:
            self.send(404, b"not found\n", "text/plain")
            return
        route(q)

    def r_metrics(self, q):
        self.send(200, self.payload())

    def r_openmetrics(self, q):
        self.send(200, OPENMETRICS,
                  "application/openmetrics-text; version=1.0.0; charset=utf-8")

    def r_slow_headers(self, q):
        time.sleep(int(q.get("ms", "5000")) / 1000.0)
        self.send(200, self.payload())

    def r_slow_body(self, q):
        body = self.payload()
        half = len(body) // 2
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:half])
        self.wfile.flush()
        time.sleep(int(q.get("ms", "5000")) / 1000.0)
        self.wfile.write(body[half:])

    def r_status(self, q):
        code = int(q.get("code", "500"))
        self.send(code, ("status %d\n" % code).encode(), "text/plain")

    def r_redirect(self, q):
        code = int(q.get("code", "302"))
        self.send(code, b"moved\n", "text/plain", [("Location", q.get("to", "/metrics"))])

    def r_redirect_chain(self, q):
        n = int(q.get("n", "1"))
        close = q.get("close") == "1"
        to = "/metrics" if n <= 1 else "/redirect-chain?n=%d%s" % (n - 1, "&close=1" if close else "")
        self.send(302, b"moved\n", "text/plain",
                  [("Location", to)] + ([("Connection", "close")] if close else []))

    def r_gzip(self, q):
        body = self.payload()
        form = q.get("form", "")
        if form == "br":
            self.send(200, body, extra=[("Content-Encoding", "br")])
        elif "gzip" in self.headers.get("Accept-Encoding", ""):
            if form == "members":
                half = len(body) // 2
                z = gzip.compress(body[:half]) + gzip.compress(body[half:])
            else:
                z = bytearray(gzip.compress(body))
                if form == "corrupt":
                    z[len(z) // 2] ^= 0x55
                elif form == "truncated":
                    z = z[:-8]
                z = bytes(z)
            self.send(200, z, extra=[("Content-Encoding", "gzip")])
        else:
            self.send(200, body)

    def r_gzip_bomb(self, q):
        self.send(200, gzip_bomb(int(q.get("mb", "200"))),
                  extra=[("Content-Encoding", "gzip")])

    def r_big(self, q):
        n = int(q.get("bytes", "1000000"))
        line = b"big_metric_total{label=\"value\"} 12345\n"
        block = line * (65536 // len(line) + 1)
        chunked = q.get("chunked") == "1"
        if q.get("gzip") == "1" and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = (line * (n // len(line) + 1))[:n]
            self.send(200, gzip.compress(body, 1), "text/plain; version=0.0.4",
                      [("Content-Encoding", "gzip")])
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        left = n
        while left > 0:
            part = block[:min(left, len(block))]
            if chunked:
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            else:
                self.wfile.write(part)
            left -= len(part)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def r_garbage(self, q):
        self.send(200, lcg_bytes(int(q.get("bytes", "4096")), int(q.get("seed", "1"))),
                  "application/octet-stream")

    def r_reset(self, q):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"# partial\n" * 100)
        self.wfile.flush()
        # SO_LINGER with a zero timeout turns close() into an RST.
        raw = self.connection
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        self.close_connection = True

    def r_trickle(self, q):
        ms = int(q.get("ms", "1000"))
        chunked = q.get("chunked") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", q.get("length", "100000"))
        self.end_headers()
        self.wfile.flush()
        text = b"# slow loris: one byte at a time\ntrickle_total 1\n"
        i = 0
        self.close_connection = True
        while chunked or i < int(q.get("length", "100000")):
            b = text[i % len(text):i % len(text) + 1]
            # A write to a closed connection raises (handled in handle()).
            self.wfile.write(b"1\r\n" + b + b"\r\n" if chunked else b)
            self.wfile.flush()
            i += 1
            time.sleep(ms / 1000.0)

    def r_endless(self, q):
        ms = int(q.get("ms", "10"))
        n = int(q.get("lines", "100"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        i = 0
        while True:
            part = b"".join(b'endless_total{i="%d"} %d\n' % (i + k, i + k) for k in range(n))
            i += n
            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.flush()
            time.sleep(ms / 1000.0)

    def unauthorized(self, scheme):
        self.send(401, b"unauthorized\n", "text/plain",
                  [("WWW-Authenticate", '%s realm="faultserver"' % scheme)])

    def r_auth_basic(self, q):
        import base64
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (self.server.user, self.server.password)).encode()).decode()
        if self.headers.get("Authorization") == want:
            self.send(200, self.payload())
        else:
            self.unauthorized("Basic")

    def r_auth_bearer(self, q):
        if self.headers.get("Authorization") == "Bearer " + self.server.token:
            self.send(200, self.payload())
        else:
            self.unauthorized("Bearer")

    def r_headers(self, q):
        lines = ["# TYPE request_header gauge"]
        for k, v in self.headers.items():
            lines.append('request_header{name="%s",value="%s"} 1'
                         % (label_escape(k.lower()), label_escape(v)))
        if self.sni is not None:
            lines.append('request_sni{value="%s"} 1' % label_escape(self.sni))
        self.send(200, ("\n".join(lines) + "\n").encode())

    def r_conn(self, q):
        self.send(200, b"connection_id %d\n" % self.conn_id)
        if "idle_ms" in q:
            # http.server closes a connection whose next request line
            # does not come within the socket's timeout.
            self.request.settimeout(int(q["idle_ms"]) / 1000.0)


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP test server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix")
    ap.add_argument("--payload")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    ap.add_argument("--user", default="user")
    ap.add_argument("--password", default="pass")
    ap.add_argument("--token", default="secret-token")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    tls = None
    if a.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
        if a.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(a.client_ca)

        def on_sni(sock, name, ctx):
            sock.pf_sni = name
        tls.sni_callback = on_sni

    if a.unix:
        if os.path.exists(a.unix):
            os.unlink(a.unix)
        srv = UnixServer(a.unix, Handler)
        where = "unix:" + a.unix
    else:
        srv = TCPServer(("127.0.0.1", a.port), Handler)
        where = str(srv.server_address[1])
    srv.tls = tls
    srv.verbose = a.verbose
    srv.user, srv.password, srv.token = a.user, a.password, a.token
    if a.payload:
        with open(a.payload, "rb") as f:
            srv.payload = f.read()
    else:
        srv.payload = DEFAULT_PAYLOAD
    print("READY " + where, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
