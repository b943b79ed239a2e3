#!/usr/bin/python3
"""h1server.py: a scripted HTTP/1.x server on raw sockets, for test_h1post.

    h1server.py PORT_FILE

Listens on a free loopback port, writes it to PORT_FILE, and serves until
killed. Each connection gets a number (1, 2, ...). Each request is read whole
(head, then Content-Length bytes) except where the path says otherwise, and
answered by its path, byte for byte as written here, so that what a real
server will not do on demand can be tested:

  /ok          204, kept alive
  /id          200 "conn=N req=M" (M: requests on this connection so far)
  /echo        200, the body is the request's head, a line "--", its body
  /chunked     400, chunked (extensions, a trailer whose end comes 50 ms
               later), an InfluxDB-style error
  /continue    100 Continue, 102 Processing, then 204
  /close       204 with Connection: close, then closes 0.5 s later
  /http10      HTTP/1.0 500, no length: the body ends with the connection
  /early       413 after reading the head only, then closes (the client is
               still sending the body)
  /retry       429 with Retry-After: 7
  /idleclose   /id's answer, then the connection is closed 100 ms later
               (a server's idle timeout)
  /reset       reads the request, then resets the connection
  /garbage     "SSH-2.0-nothing" and closes
  /hang        reads the request and never answers
  /dropsecond  /id's answer to a connection's first request; on its second
               the connection is closed without an answer (a server that
               closed a kept connection as the client reused it)
  /redirect    307 to /id (relative Location)
"""
import socket
import struct
import sys
import threading
import time

lock = threading.Lock()
conns = [0]


def read_head(f):
    lines = []
    while True:
        line = f.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        lines.append(line)


def serve(sock):
    with lock:
        conns[0] += 1
        cid = conns[0]
    f = sock.makefile("rb")
    nreq = 0
    try:
        while True:
            head = read_head(f)
            if head is None:
                return
            nreq += 1
            first = head.split(b"\r\n", 1)[0].decode("latin-1")
            path = first.split(" ")[1] if len(first.split(" ")) > 1 else "/"
            path = path.split("?")[0]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            if path == "/early":
                b = b'{"error":"request too large"}'
                sock.sendall(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(b), b))
                time.sleep(0.2)
                sock.close()
                return
            body = f.read(length) if length else b""
            if path == "/ok":
                sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path in ("/id", "/idleclose"):
                b = ("conn=%d req=%d" % (cid, nreq)).encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
                if path == "/idleclose":
                    time.sleep(0.1)
                    sock.close()
                    return
            elif path == "/echo":
                b = head + b"--\r\n" + body
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(b), b))
            elif path == "/chunked":
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\nX-Influxdb-Error: partial write\r\n\r\n"
                             b"c;ext=1\r\n{\"error\":\"pa\r\n"
                             b"12\r\nrtial write: field\r\n"
                             b"0A\r\n type conf\r\n"
                             b"6\r\nlict\"}\r\n"
                             b"0\r\nX-Trailer: yes\r\n")
                time.sleep(0.05)
                sock.sendall(b"\r\n")  # the trailer's end comes on its own
            elif path == "/continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                             b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path == "/close":
                sock.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                time.sleep(0.5)  # a client that reused it would wait
                sock.close()
                return
            elif path == "/http10":
                sock.sendall(b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n"
                             b"engine failure")
                sock.close()
                return
            elif path == "/retry":
                sock.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow")
            elif path == "/reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return
            elif path == "/garbage":
                sock.sendall(b"SSH-2.0-nothing\r\n\r\n")
                sock.close()
                return
            elif path == "/hang":
                time.sleep(30)
                return
            elif path == "/dropsecond" and nreq >= 2:
                sock.close()
                return
            elif path == "/dropsecond":
                b = ("conn=%d req=%d" % (cid, nreq)).encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
            elif path == "/redirect":
                sock.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: id?from=redirect\r\n"
                             b"Content-Length: 0\r\n\r\n")
            else:
                sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


if __name__ == "__main__":
    main()
