#!/usr/bin/python3
"""test_install.py: `meson install` puts together what the unit needs.

Installs the build ($PF_BUILD) into a temporary DESTDIR, twice, and checks:
the binary, the man page, the reference configuration and the unit are
installed; the unit's ExecStart binary and its -c configuration are the
installed ones (the prefix went through configure_file); the installed
configuration is conf/promflux.ini and passes `promflux -n`; a second
install keeps a configuration edited in between.
"""
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ["PF_BUILD"]
SRC = os.environ["PF_SRC"]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def install(meson, dest):
    p = subprocess.run([meson, "install", "-C", BUILD, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
    return p.returncode == 0


def main():
    meson = shutil.which("meson")
    if meson is None:
        print("meson not found: skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="pf-install-") as dest:
        if not check(install(meson, dest), "meson install into %s" % dest):
            return 1
        files = sorted(os.path.relpath(os.path.join(d, f), dest)
                       for d, _, fs in os.walk(dest) for f in fs)
        print("\n".join("  /" + f for f in files if "bench" not in f))
        units = [f for f in files if re.search(r"lib/systemd/system/promflux\.service$", f)]
        check(len(units) == 1, "the unit is installed in a systemd unit directory")
        check(any(re.search(r"share/man/man8/promflux\.8$", f) for f in files), "the man page")
        check(any(re.search(r"share/doc/promflux/promflux\.ini$", f) for f in files),
              "the reference configuration")
        if not units:
            return 1
        unit = open(os.path.join(dest, units[0]), encoding="utf-8").read()
        m = re.search(r"^ExecStart=(/\S+) -c (/\S+)$", unit, re.M)
        if not check(m is not None, "ExecStart=BINARY -c CONFIG with absolute paths"):
            return 1
        binary, conf = dest + m.group(1), dest + m.group(2)
        check(os.access(binary, os.X_OK), "ExecStart's binary %s is installed" % m.group(1))
        check(os.path.isfile(conf) and filecmp.cmp(conf, os.path.join(SRC, "conf", "promflux.ini"),
                                                   shallow=False),
              "ExecStart's configuration %s is conf/promflux.ini" % m.group(2))
        if os.access(binary, os.X_OK) and os.path.isfile(conf):
            p = subprocess.run([binary, "-n", "-c", conf], capture_output=True, text=True, timeout=30)
            check(p.returncode == 0 and "configuration OK" in p.stdout,
                  "the installed binary accepts the installed configuration (%r)" % (p.stdout + p.stderr))
        # A reinstall (an upgrade) keeps the administrator's configuration.
        with open(conf, "a") as f:
            f.write("; edited by the administrator\n")
        check(install(meson, dest), "second meson install")
        check(open(conf).read().endswith("; edited by the administrator\n"),
              "the edited configuration is kept by a second install")
    if failures:
        print("%d FAILED" % len(failures))
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
