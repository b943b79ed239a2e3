#!/usr/bin/python3
"""test_dockerfile.py: docker/Dockerfile's steps, run without an engine.

No container engine runs here, so the image is never built; what can be
run is run:
  - the Dockerfile is parsed: two stages FROM the same Debian 12 base,
    every RUN of the builder stage is a call of docker/build.sh (copied
    where the RUN expects it, before the source when it is `deps`), the
    runtime stage's RUN is build.sh's `runtime` through a bind mount of it,
    USER is numeric, not root and build.sh's uid, the state directory is a
    VOLUME, EXPOSE matches the default config's `listen`, STOPSIGNAL
    SIGTERM, ENTRYPOINT/CMD name files the stage COPYs, no ADD, no
    HEALTHCHECK (nothing in the image could run one);
  - Dockerfile.dockerignore leaves no tracked file out of the context;
  - `build.sh deps` and `build.sh build DESTDIR` run exactly as the
    Dockerfile runs them (deps installs nothing when all is there);
  - every file the runtime stage COPYs exists (from DESTDIR or the
    context); the binary runs --version (the project's version) and
    `-n -c` accepts each COPYed configuration;
  - every library the binary loads (ldd) belongs to a package the runtime
    stage installs, or to one those depend on (dpkg -S, dpkg-query
    Depends), the libraries it links directly to those named ones or libc6;
  - as root: the installed binary runs as the image would, as uid 65532
    with no passwd entry, no new privileges, an empty capability bounding
    set, every mount read-only but a tmpfs on its working (state)
    directory, with the default config and env; it scrapes a local target
    and writes the points to stdout, answers /healthz and /ready on the
    EXPOSEd listen address, and exits 0 on STOPSIGNAL.
Usage: test_dockerfile.py   (env: PF_SRC; PF_JOBS for ninja, default 2)
"""
import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.path.abspath(os.environ.get("PF_SRC") or os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(SRC, "docker", "Dockerfile")
IGNORE = DOCKERFILE + ".dockerignore"
BUILD_SH = os.path.join(SRC, "docker", "build.sh")
BASE = "debian:bookworm-slim"
STATE_DIR = "/var/lib/promflux"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def sh(*args, env=None, timeout=60):
    p = subprocess.run(["sh", BUILD_SH] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


# ------------------------------------------------------------ Dockerfile --

def parse_dockerfile(path):
    """[(instruction, rest, lineno)]: continuation lines joined, comments
    and parser directives dropped."""
    out = []
    cur, start = "", 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if cur and s.lstrip().startswith("#"):
                continue
            if not cur:
                start = n
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            ins, _, rest = cur.strip().partition(" ")
            out.append((ins.upper(), rest.strip(), start))
            cur = ""
    return out


def stages(instrs):
    """[{name, from, instrs}] with ARG defaults of the global scope applied."""
    args = {}
    st = []
    for ins, rest, n in instrs:
        if ins == "ARG" and not st:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        elif ins == "FROM":
            words = rest.split()
            img = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            st.append({"name": name, "from": img, "instrs": [], "line": n})
        elif st:
            st[-1]["instrs"].append((ins, rest, n))
        else:
            failures.append("Dockerfile:%d: %s before the first FROM" % (n, ins))
    return st


def flags_and_words(rest):
    """COPY/RUN arguments: (--flag=value dict, remaining words)."""
    words = shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags.setdefault(k, []).append(v)
    return flags, words


def check_dockerfile(path=DOCKERFILE):
    """Returns what the later steps need: DESTDIR, the COPYs of the runtime
    stage, entrypoint, cmd, user, exposed ports."""
    st = stages(parse_dockerfile(path))
    if not check(len(st) == 2, "Dockerfile: expected 2 stages (builder, runtime), found %d" % len(st)):
        sys.exit("\n".join("FAIL: " + f for f in failures))
    builder, runtime = st
    check(builder["name"] == "builder", "Dockerfile: the first stage is not named builder")
    for s in st:
        check(s["from"] == BASE, "Dockerfile:%d: FROM %s, expected %s for both stages" % (s["line"], s["from"], BASE))

    # Builder: COPYs into the source tree, every RUN is `sh <build.sh> ...`.
    copied = {}      # destination -> source, in the order seen
    script = None
    destdir = None
    steps = []
    for ins, rest, n in builder["instrs"]:
        if ins == "COPY":
            flags, words = flags_and_words(rest)
            copied[words[-1].rstrip("/") or "/"] = words[:-1]
            if words[:-1] == ["docker/build.sh"]:
                script = words[-1]
        elif ins == "RUN":
            flags, words = flags_and_words(rest)
            ok = len(words) >= 3 and words[0] == "sh" and script is not None and words[1] == script
            check(ok, "Dockerfile:%d: builder RUN %r is not `sh <the COPYed docker/build.sh> ...`" % (n, rest))
            if not ok:
                continue
            steps.append(words[2])
            whole_tree = any(src == ["."] and script.startswith(dst.rstrip("/") + "/docker/")
                             for dst, src in copied.items())
            if words[2] == "build":
                check(len(words) == 4, "Dockerfile:%d: build takes one DESTDIR" % n)
                destdir = words[3]
                check(whole_tree, "Dockerfile:%d: build runs before the source tree is COPYed around %s"
                      % (n, script))
            elif words[2] == "deps":
                check(len(words) == 3, "Dockerfile:%d: deps takes no argument" % n)
            else:
                failures.append("Dockerfile:%d: builder runs build.sh %s (expected deps, build)" % (n, words[2]))
        elif ins in ("ADD",):
            failures.append("Dockerfile:%d: ADD (use COPY)" % n)
    check(steps == ["deps", "build"], "Dockerfile: builder steps %r, expected deps then build" % steps)

    # Runtime stage.
    info = {"copies": [], "user": None, "volumes": [], "expose": [], "stopsignal": None,
            "entrypoint": None, "cmd": None, "destdir": destdir, "healthcheck": None, "workdir": None}
    for ins, rest, n in runtime["instrs"]:
        if ins == "RUN":
            flags, words = flags_and_words(rest)
            target = None
            for m in flags.get("mount", []):
                kv = dict(x.split("=", 1) for x in m.split(","))
                if kv.get("type") == "bind" and kv.get("source") == "docker/build.sh":
                    target = kv.get("target")
            check(target is not None and words == ["sh", target, "runtime"],
                  "Dockerfile:%d: runtime RUN %r is not `sh <bind-mounted docker/build.sh> runtime`" % (n, rest))
        elif ins == "COPY":
            flags, words = flags_and_words(rest)
            frm = (flags.get("from") or [None])[0]
            check(frm in (None, "builder"), "Dockerfile:%d: COPY --from=%s" % (n, frm))
            check(len(words) == 2, "Dockerfile:%d: one source per COPY expected" % n)
            info["copies"].append((frm, words[0], words[1], n))
        elif ins == "USER":
            info["user"] = rest
        elif ins == "VOLUME":
            info["volumes"] += json.loads(rest) if rest.startswith("[") else rest.split()
        elif ins == "EXPOSE":
            info["expose"] += rest.split()
        elif ins == "STOPSIGNAL":
            info["stopsignal"] = rest
        elif ins == "ENTRYPOINT":
            info["entrypoint"] = json.loads(rest)
        elif ins == "CMD":
            info["cmd"] = json.loads(rest)
        elif ins == "WORKDIR":
            info["workdir"] = rest
        elif ins == "HEALTHCHECK":
            info["healthcheck"] = rest
        elif ins == "ADD":
            failures.append("Dockerfile:%d: ADD (use COPY)" % n)

    rc, uid = sh("uid")
    uid = uid.strip()
    check(rc == 0 and uid.isdigit() and int(uid) != 0, "build.sh uid: %r" % uid)
    check(info["user"] == "%s:%s" % (uid, uid), "Dockerfile: USER %r, expected %s:%s (numeric, build.sh's uid)"
          % (info["user"], uid, uid))
    info["uid"] = int(uid) if uid.isdigit() else 65532
    check(STATE_DIR in info["volumes"], "Dockerfile: %s is not a VOLUME" % STATE_DIR)
    check(info["workdir"] == STATE_DIR, "Dockerfile: WORKDIR %r, expected the state directory" % info["workdir"])
    check(info["stopsignal"] == "SIGTERM", "Dockerfile: STOPSIGNAL %r" % info["stopsignal"])
    check(info["healthcheck"] in (None, "NONE"), "Dockerfile: a HEALTHCHECK, but no HTTP client is in the image")
    dests = {d for _, _, d, _ in info["copies"]}
    ep, cmd = info["entrypoint"] or [], info["cmd"] or []
    check(len(ep) == 1 and ep[0] in dests, "Dockerfile: ENTRYPOINT %r is not the COPYed binary" % ep)
    check(len(cmd) == 2 and cmd[0] == "-c" and cmd[1] in dests, "Dockerfile: CMD %r is not -c <a COPYed config>" % cmd)
    return info


# ----------------------------------------------------- .dockerignore --

def ignored(path, patterns):
    for p in patterns:
        neg = p.startswith("!")
        p = p.lstrip("!").strip("/")
        hit = (path == p or path.startswith(p + "/") or fnmatch.fnmatch(path, p)
               or (p.startswith("**/") and any(fnmatch.fnmatch("/".join(path.split("/")[i:]), p[3:])
                                                for i in range(len(path.split("/"))))))
        if hit and not neg:
            return p
    return None


def check_ignore(copies):
    with open(IGNORE, encoding="utf-8") as f:
        pats = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    p = subprocess.run(["git", "-C", SRC, "ls-files"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        print("note: no git tree, .dockerignore checked against the COPY sources only")
        files = []
    else:
        files = p.stdout.decode().split()
    out = [(f, ignored(f, pats)) for f in files]
    out = [(f, p) for f, p in out if p]
    check(not out, "Dockerfile.dockerignore leaves tracked files out of the context: %r" % out[:5])
    for frm, s, _, n in copies:
        if frm is None:
            check(ignored(s, pats) is None, "Dockerfile:%d: COPY %s, which .dockerignore excludes" % (n, s))
    check(ignored(".git/HEAD", pats) and ignored("build/normal/build.ninja", pats),
          "Dockerfile.dockerignore does not leave .git and build/ out")
    return len(files)


# --------------------------------------------------------- libraries --

def dpkg_owner(path):
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/"):
            cands.append(c[4:])
        else:
            cands.append("/usr" + c)
    for c in cands:
        p = subprocess.run(["dpkg", "-S", c], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if p.returncode == 0:
            return p.stdout.decode().split(":")[0].split(",")[0].strip()
    return None


def dep_closure(pkgs):
    """Installed packages reachable from PKGS through Depends/Pre-Depends."""
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        q = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if q.returncode != 0:
            continue        # a virtual package, or not installed here
        seen.add(p)
        for alt in q.stdout.decode().split(","):
            for a in alt.split("|"):
                name = a.strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
    return seen


def check_libraries(binary, runtime=None):
    rc, out = sh("runtime-deps")
    runtime = runtime if runtime is not None else out.split()
    check(rc == 0 and runtime, "build.sh runtime-deps printed nothing")
    named = set(runtime) | {"libc6"}    # libc6: in the base image
    closure = dep_closure(named)
    missing = [p for p in runtime if p not in closure]
    check(not missing, "runtime packages not installed here, cannot check: %r" % missing)
    ldd = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    libs = {}
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if not m:
            continue
        name, path = (m.group(1), m.group(2)) if m.lastindex == 2 else (os.path.basename(m.group(1)), m.group(1))
        check(path != "not", "ldd: %s not found" % name)
        libs[name] = path
    check(len(libs) >= 5, "ldd found only %r" % libs)
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                            subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE).stdout.decode()))
    owners = {}
    for name, path in libs.items():
        o = dpkg_owner(path)
        owners[name] = o
        if not check(o is not None, "ldd: %s (%s) is owned by no package" % (name, path)):
            continue
        check(o in closure, "ldd: %s comes from %s, which the runtime stage does not install" % (name, o))
        if name in needed:
            check(o in named, "the binary links %s directly, from %s: name it in RUNTIME_DEPS" % (name, o))
    check(needed and needed <= set(libs), "NEEDED %r not all resolved by ldd" % needed)
    return runtime, owners, needed


# --------------------------------------------------- read-only run --

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Target(http.server.BaseHTTPRequestHandler):
    body = b"# TYPE pf_docker_test gauge\npf_docker_test{via=\"sidecar\"} 42\n"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return None, str(e)


def readonly_run(root, info, config):
    """The installed binary as the image runs it (see the module comment)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        print("SKIPPED: the read-only, non-root run needs root, unshare and setpriv")
        return "skipped"
    uid = info["uid"]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = free_port()
    work = tempfile.mkdtemp(prefix="pf-ro-state-")
    binary = os.path.join(root, info["entrypoint"][0].lstrip("/"))
    script = r"""
set -e
# Every mount of this private namespace read-only, as --read-only makes the
# image's root; then the state volume, writable by the image's user only.
awk '{print $5}' /proc/self/mountinfo | grep -v '\\' | sort -u | while read -r m; do
	mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -o remount,bind,ro /
if touch /pf-ro-probe 2>/dev/null; then echo "root is writable" >&2; exit 99; fi
mount -t tmpfs -o size=8m,mode=0750,uid=$PF_UID,gid=$PF_UID tmpfs "$PF_STATE"
cd "$PF_STATE"
exec setpriv --reuid=$PF_UID --regid=$PF_UID --clear-groups --no-new-privs --bounding-set=-all \
	--inh-caps=-all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	PROMFLUX_TARGET="$PROMFLUX_TARGET" PROMFLUX_LISTEN="$PROMFLUX_LISTEN" PROMFLUX_INTERVAL=1s \
	"$PF_BIN" "$@"
"""
    env = dict(os.environ, PF_UID=str(uid), PF_STATE=work, PF_BIN=binary,
               PROMFLUX_TARGET="http://127.0.0.1:%d/metrics" % srv.server_address[1],
               PROMFLUX_LISTEN="0.0.0.0:%d" % port)
    args = list(info["cmd"])
    args[1] = config
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + args,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, errs = [], []
    threading.Thread(target=lambda: [lines.append(l.decode("utf-8", "replace")) for l in p.stdout],
                     daemon=True).start()
    threading.Thread(target=lambda: [errs.append(l.decode("utf-8", "replace")) for l in p.stderr],
                     daemon=True).start()
    try:
        deadline = time.monotonic() + 15
        got = None
        while time.monotonic() < deadline and p.poll() is None:
            got = next((l for l in lines if l.startswith("pf_docker_test,")), None)
            if got:
                break
            time.sleep(0.1)
        check(got and "via=sidecar" in got and " gauge=42 " in got,
              "read-only run: no pf_docker_test point on stdout in 15 s (stdout %r, stderr %r)"
              % (lines[:3], "".join(errs)[-800:]))
        for path, want in (("/healthz", 200), ("/ready", 200)):
            code = None
            end = time.monotonic() + 5
            while time.monotonic() < end:
                code, body = http_get("http://127.0.0.1:%d%s" % (port, path))
                if code == want:
                    break
                time.sleep(0.2)
            check(code == want, "read-only run: GET %s on the listen port answered %r" % (path, code))
        code, body = http_get("http://127.0.0.1:%d/metrics" % port)
        check(code == 200 and "# TYPE" in body, "read-only run: GET /metrics answered %r" % code)
        if p.poll() is None:
            os.kill(p.pid, getattr(signal, info["stopsignal"]))
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout"
        time.sleep(0.1)
        err = "".join(errs)
        check(rc == 0, "read-only run: exit %r after %s (stderr %r)" % (rc, info["stopsignal"], err[-800:]))
        check("Read-only file system" not in err and "level=error" not in err and "level=crit" not in err,
              "read-only run: errors logged: %r" % err[-800:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return "ran"


# Broken copies of the Dockerfile, each of which must be reported.
DOCKERFILE_MUTATIONS = [
    ("apt-get in the builder", "RUN sh /src/docker/build.sh deps\n",
     "RUN sh /src/docker/build.sh deps\nRUN apt-get update\n", r"builder RUN 'apt-get update'"),
    ("build before the source", "COPY . /src\nRUN sh /src/docker/build.sh build /out\n",
     "RUN sh /src/docker/build.sh build /out\nCOPY . /src\n", r"before the source tree"),
    ("root user", "USER 65532:65532", "USER root", r"USER 'root'"),
    ("no state volume", 'VOLUME ["/var/lib/promflux"]', 'VOLUME ["/data"]', r"is not a VOLUME"),
    ("a HEALTHCHECK", "ENTRYPOINT", "HEALTHCHECK CMD curl -f http://127.0.0.1:9465/healthz\nENTRYPOINT",
     r"HEALTHCHECK"),
    ("another base", "ARG BASE=debian:bookworm-slim", "ARG BASE=debian:bookworm", r"FROM debian:bookworm,"),
    ("CMD config never COPYed", '"/etc/promflux/promflux.ini"]', '"/etc/promflux/other.ini"]', r"CMD"),
]


def check_mutations():
    global failures
    with open(DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    saved = failures
    for what, old, new, pattern in DOCKERFILE_MUTATIONS:
        if old not in text:
            saved.append("Dockerfile mutation %r does not apply: update the test" % what)
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
            f.write(text.replace(old, new, 1))
        failures = []
        try:
            check_dockerfile(f.name)
        except SystemExit:
            pass
        finally:
            os.unlink(f.name)
        got, failures = failures, saved
        if not any(re.search(pattern, g) for g in got):
            failures.append("a broken Dockerfile (%s) is not reported (%r expected, got %r)" % (what, pattern, got))
    return len(DOCKERFILE_MUTATIONS)


# -------------------------------------------------------------- main --

def main():
    t0 = time.monotonic()
    info = check_dockerfile()
    nfiles = check_ignore(info["copies"])
    print("broken Dockerfiles reported: %d checked" % check_mutations())
    print("Dockerfile: 2 stages on %s, builder RUNs are build.sh deps/build %s; %d tracked files in the context"
          % (BASE, info["destdir"], nfiles))

    rc, out = sh("deps", timeout=900)
    check(rc == 0, "build.sh deps: exit %d: %s" % (rc, out[-1500:]))
    check("apt-get" not in out and "already installed" in out,
          "build.sh deps ran apt-get here (a build dependency is missing?): %s" % out[-500:])

    with tempfile.TemporaryDirectory(prefix="pf-docker-") as tmp:
        destdir = info["destdir"] or "/out"
        tree = os.path.join(tmp, destdir.lstrip("/"))
        env = dict(os.environ, PF_JOBS=os.environ.get("PF_JOBS", "2"), TMPDIR=tmp)
        t1 = time.monotonic()
        rc, out = sh("build", tree, env=env, timeout=900)
        build_s = time.monotonic() - t1
        if not check(rc == 0, "build.sh build %s: exit %d:\n%s" % (tree, rc, out[-3000:])):
            return finish(t0)
        print("build.sh build: %.1f s" % build_s)

        # The runtime stage's files, where the image would have them.
        os.chmod(tmp, 0o755)    # the image's user must reach them
        root = os.path.join(tmp, "image")
        image = {}
        for frm, s, d, n in info["copies"]:
            src = os.path.join(tree, s[len(destdir):].lstrip("/")) if frm == "builder" else os.path.join(SRC, s)
            if frm == "builder":
                check(s.startswith(destdir.rstrip("/") + "/"), "Dockerfile:%d: COPY --from=builder %s is outside %s"
                      % (n, s, destdir))
            if check(os.path.isfile(src), "Dockerfile:%d: COPY source %s does not exist after the build" % (n, src)):
                # Laid out as in the image: COPY keeps the mode, owner root.
                dst = os.path.join(root, d.lstrip("/"))
                os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
                shutil.copy2(src, dst)
                image[d] = dst
        binary = image.get(info["entrypoint"][0])
        if not binary:
            return finish(t0)
        check(os.access(binary, os.X_OK), "%s is not executable" % binary)

        with open(os.path.join(SRC, "meson.build"), encoding="utf-8") as f:
            version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
        p = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(p.returncode == 0 and version in p.stdout.decode(),
              "%s --version: exit %d, %r (expected %s)" % (binary, p.returncode, p.stdout, version))
        for d, s in image.items():
            if d.endswith(".ini"):
                p = subprocess.run([binary, "-n", "-c", s], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env={"PATH": "/usr/bin:/bin"})
                check(p.returncode == 0 and b"configuration OK" in p.stdout,
                      "promflux -n -c %s (the image's %s): %s" % (s, d, p.stdout.decode().strip()))
        # EXPOSE matches the default configuration's listen port.
        with open(image[info["cmd"][1]], encoding="utf-8") as f:
            m = re.search(r"^listen\s*=\s*(?:\$\{\w+:-)?([^}\s;]+)", f.read(), re.M)
        lport = m.group(1).rpartition(":")[2] if m else None
        check(m and not m.group(1).startswith("127.") and info["expose"] == [lport],
              "EXPOSE %r vs the default config's listen %r" % (info["expose"], m and m.group(1)))

        runtime, owners, needed = check_libraries(binary)
        # The library check can fail: without libuv1 in the list it must.
        global failures
        saved, failures = failures, []
        check_libraries(binary, [p for p in runtime if p != "libuv1"])
        got, failures = failures, saved
        check(any("libuv.so.1" in g and "libuv1" in g for g in got),
              "the library check misses libuv.so.1 when libuv1 is not installed: %r" % got)
        print("libraries: %d loaded (%d linked directly), from %d packages, all within %s + libc6"
              % (len(owners), len(needed), len(set(owners.values())), " ".join(runtime)))

        before = len(failures)
        how = readonly_run(root, info, image[info["cmd"][1]])
        if how == "ran" and len(failures) == before:
            print("read-only run as uid %d: scraped, /healthz /ready /metrics answered, %s: exit 0"
                  % (info["uid"], info["stopsignal"]))
    return finish(t0)


def finish(t0):
    for f in failures:
        print("FAIL: " + f)
    print("test_dockerfile: %s in %.1f s" % ("FAILED" if failures else "OK", time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
