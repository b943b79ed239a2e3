#!/usr/bin/python3
"""run_h1_test.py: starts h1server.py, then the C test of h1post.

    run_h1_test.py TEST_BINARY H1SERVER

Passes the server's port (PF_H1_PORT) and a loopback port where nothing
listens (PF_CLOSED_PORT) through the environment. As root, where unshare -m
works, the binary runs in a private mount namespace with its own /etc/hosts,
in which PF_MULTI_HOST names ::1 and 127.0.0.2 (nothing of ours listens
there) before 127.0.0.1 (the server): the test of trying each address. The binary's TAP output
is passed through; its exit status is ours.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time


def main():
    binary, server = sys.argv[1], sys.argv[2]
    d = tempfile.mkdtemp(prefix="pf-h1-")
    pf = os.path.join(d, "port")
    sp = subprocess.Popen([sys.executable, server, pf])
    try:
        for _ in range(200):
            if os.path.exists(pf):
                break
            time.sleep(0.025)
        else:
            print("Bail out! h1server.py did not start")
            return 1
        with open(pf) as f:
            port = f.read().strip()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        s.close()  # nothing listens there now
        env = dict(os.environ, PF_H1_PORT=port, PF_CLOSED_PORT=str(closed))
        cmd = [binary]
        if os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"],
                                                capture_output=True).returncode == 0:
            hosts = os.path.join(d, "hosts")
            with open(hosts, "w") as f:
                f.write("127.0.0.1 localhost\n::1 pf-multi.test\n127.0.0.2 pf-multi.test\n"
                        "127.0.0.1 pf-multi.test\n")
            cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, binary]
            env["PF_MULTI_HOST"] = "pf-multi.test"
        return subprocess.run(cmd, env=env).returncode
    finally:
        sp.kill()
        sp.wait()


if __name__ == "__main__":
    sys.exit(main())
