#!/usr/bin/python3
"""run_h1_test.py: starts h1server.py, then the C test of h1post.

    run_h1_test.py TEST_BINARY H1SERVER

Passes the server's port (PF_H1_PORT) and a loopback port where nothing
listens (PF_CLOSED_PORT) through the environment. The binary's TAP output
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
        return subprocess.run([binary], env=env).returncode
    finally:
        sp.kill()
        sp.wait()


if __name__ == "__main__":
    sys.exit(main())
