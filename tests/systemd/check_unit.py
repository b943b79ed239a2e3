#!/usr/bin/python3
"""check_unit.py: the generated systemd unit, checked by systemd itself.

    check_unit.py verify UNIT BINARY MANPAGE
        `systemd-analyze verify` must accept UNIT without a word: exit 0 and
        no output (unknown keys and bad values are only warnings, exit 0).
        verify needs ExecStart's binary to exist, and the installed path
        does not exist before `meson install`: the check runs on a copy of
        UNIT whose ExecStart binary is BINARY (the built one), every other
        byte the same. Documentation=man:promflux(8) is checked too, with
        MANPATH pointing at MANPAGE alone.
    check_unit.py security UNIT
        `systemd-analyze security --offline=true` on UNIT as generated; the
        overall exposure must be 2.0 or lower. Prints every line that
        scores, and the overall level.

Exit 77 (skipped) when systemd-analyze is not installed (Debian: systemd).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ANALYZE = shutil.which("systemd-analyze")
ENV = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")
MAX_EXPOSURE = 2.0


def verify(unit, binary, manpage):
    text = open(unit, encoding="utf-8").read()
    execs = re.findall(r"^ExecStart=(\S+)", text, re.M)
    if len(execs) != 1 or not execs[0].endswith("/promflux") or not execs[0].startswith("/"):
        print("FAIL: expected one ExecStart=/.../promflux, found %r" % execs)
        return 1
    with tempfile.TemporaryDirectory(prefix="pf-unit-") as tmp:
        copy = os.path.join(tmp, "promflux.service")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("ExecStart=" + execs[0] + " ", "ExecStart=" + os.path.abspath(binary) + " ", 1))
        args = [ANALYZE, "verify"]
        env = dict(ENV)
        if shutil.which("man"):
            os.makedirs(os.path.join(tmp, "man", "man8"))
            shutil.copy(manpage, os.path.join(tmp, "man", "man8", "promflux.8"))
            env["MANPATH"] = os.path.join(tmp, "man")
        else:
            args.append("--man=no")
            print("man is not installed: Documentation= not checked")
        p = subprocess.run(args + [copy], env=env, capture_output=True, text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        print("$ %s\nexit %d\n%s" % (" ".join(args + [copy]), p.returncode, out))
        if p.returncode != 0 or out:
            print("FAIL: systemd-analyze verify is not silent")
            return 1
    print("ok: systemd-analyze verify accepts the unit without a warning")
    return 0


def security(unit):
    args = [ANALYZE, "security", "--offline=true", "--no-pager", os.path.abspath(unit)]
    p = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    # Lines that add to the exposure end with their weight, e.g.
    # "✗ PrivateNetwork=   Service has access to the host's network   0.5".
    for line in out.splitlines():
        if re.search(r"\s\d+\.\d+\s*$", line):
            print(re.sub(r"\s{2,}", "  ", line.strip()))
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    if not m:
        print(out)
        print("FAIL: no overall exposure level in the output (exit %d)" % p.returncode)
        return 1
    level = float(m.group(1))
    print("overall exposure: %.1f (must be <= %.1f)" % (level, MAX_EXPOSURE))
    if level > MAX_EXPOSURE:
        print("FAIL: exposure too high")
        return 1
    return 0


def main():
    if ANALYZE is None:
        print("systemd-analyze not found (Debian package systemd): skipped")
        return 77
    if sys.argv[1:2] == ["verify"] and len(sys.argv) == 5:
        return verify(*sys.argv[2:])
    if sys.argv[1:2] == ["security"] and len(sys.argv) == 3:
        return security(sys.argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
