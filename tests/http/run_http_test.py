#!/usr/bin/python3
"""run_http_test.py: starts the fault servers, then the C test of pf_http.

    run_http_test.py TEST_BINARY FAULTSERVER [TEST-NAME-FILTER]

Makes a throw-away CA, a server certificate for localhost/127.0.0.1 and a
client certificate with the openssl CLI, writes a payload, starts four
faultserver.py instances (plain HTTP, TLS, TLS requiring a client
certificate, a Unix socket) and runs TEST_BINARY with their addresses in the
environment. The binary's TAP output is passed through; its exit status is
ours. PF_HTTP_WRAPPER (e.g. "valgrind --leak-check=full --error-exitcode=9")
runs the binary under a tool.
"""
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certs(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=promflux test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, cn, ext in [
        ("server", "localhost",
         "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "promflux test client", "extendedKeyUsage=clientAuth\n"),
    ]:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n" + ext)
        openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                "-extfile", name + ".ext", cwd=d)


def make_payload(path):
    """About 60 KB of exposition text: compressible, several families."""
    lines = []
    for fam in range(20):
        lines.append("# HELP fam_%d_total Family %d." % (fam, fam))
        lines.append("# TYPE fam_%d_total counter" % fam)
        for i in range(40):
            lines.append('fam_%d_total{instance="host-%d",path="/api/v1/item/%d"} %d'
                         % (fam, i, i * 7, fam * 1000 + i))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(faultserver, args, log):
    p = subprocess.Popen([sys.executable, faultserver, *args], stdout=subprocess.PIPE,
                         stderr=log, text=True)
    line = p.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        p.kill()
        raise RuntimeError("faultserver %s did not start: %r" % (args, line))
    return p, line[1]


def main():
    binary, faultserver = sys.argv[1], sys.argv[2]
    d = tempfile.mkdtemp(prefix="pf-http-")
    procs = []
    try:
        make_certs(d)
        payload = os.path.join(d, "payload.txt")
        make_payload(payload)
        log = open(os.path.join(d, "servers.log"), "w")
        base = ["--payload", payload]
        tls = ["--tls-cert", os.path.join(d, "server.pem"),
               "--tls-key", os.path.join(d, "server.key")]
        p, http_port = start_server(faultserver, base, log)
        procs.append(p)
        p, https_port = start_server(faultserver, base + tls, log)
        procs.append(p)
        p, mtls_port = start_server(faultserver, base + tls + [
            "--client-ca", os.path.join(d, "ca.pem")], log)
        procs.append(p)
        sock = os.path.join(d, "fault.sock")
        p, _ = start_server(faultserver, base + ["--unix", sock], log)
        procs.append(p)

        env = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                  "all_proxy", "NO_PROXY", "no_proxy"):
            env.pop(k, None)
        env.update(PF_HTTP_PORT=http_port, PF_HTTPS_PORT=https_port,
                   PF_MTLS_PORT=mtls_port, PF_UNIX_SOCK=sock,
                   PF_CLOSED_PORT=str(closed_port()), PF_CERTS=d, PF_PAYLOAD=payload)
        cmd = shlex.split(os.environ.get("PF_HTTP_WRAPPER", "")) + [binary] + sys.argv[3:]
        rc = subprocess.run(cmd, env=env).returncode
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
