#!/usr/bin/python3
"""test_cli.py: the command line's contract.

Exit statuses (0 converted, 1 bad input, 2 usage error), messages that say
which option and what is allowed, --version and --help, and the convert
behaviour that does not depend on a schema's details: streaming from a
file and from stdin gives the same output, --time/--precision set the
timestamp of samples without one, --tag adds a tag, a bad line is
reported as FILE:LINE:COL and the rest is still converted, --reject writes
nothing for a bad input.
Usage: test_cli.py PROMFLUX
"""
import os
import re
import subprocess
import sys
import tempfile

PROMFLUX = sys.argv[1]
failures = []


def run(args, stdin=b""):
    p = subprocess.run([PROMFLUX] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(cond, what, detail=""):
    if not cond:
        failures.append(what + (": " + detail if detail else ""))


def expect(args, code, out_re=None, err_re=None, stdin=b""):
    rc, out, err = run(args, stdin)
    what = "promflux %s" % " ".join(args)
    check(rc == code, what, "exit %d, expected %d; stderr %r" % (rc, code, err[-500:]))
    if out_re:
        check(re.search(out_re, out, re.M), what, "stdout %r does not match %r" % (out[:500], out_re))
    if err_re:
        check(re.search(err_re, err, re.M), what, "stderr %r does not match %r" % (err[:500], err_re))
    return rc, out, err


def write_tmp(data):
    f = tempfile.NamedTemporaryFile(prefix="pfcli-", suffix=".prom", delete=False)
    f.write(data)
    f.close()
    return f.name


def main():
    with open(os.path.join(os.environ["PF_BUILD"], "pf_version.h")) as f:
        version = re.search(r'PF_VERSION "([^"]+)"', f.read()).group(1)
    expect(["--version"], 0, out_re=r"^promflux %s$" % re.escape(version))
    expect(["--help"], 0, out_re=r"promflux convert")
    expect([], 2, err_re=r"usage")
    expect(["frobnicate"], 2, err_re=r"frobnicate")
    expect(["convert", "--help"], 0, out_re=r"--schema")
    expect(["convert", "--bogus"], 2, err_re=r"--bogus")
    expect(["convert", "--schema", "nope"], 2, err_re=r"nope.*telegraf-v1")
    expect(["convert", "--schema=nope"], 2, err_re=r"nope.*influxdb-prom")
    expect(["convert", "--format", "json"], 2, err_re=r"json.*prometheus.*openmetrics.*auto")
    expect(["convert", "--precision", "h"], 2, err_re=r"'h'.*ns, us, ms, s")
    expect(["convert", "--time", "12x"], 2, err_re=r"--time.*12x")
    expect(["convert", "--tag", "novalue"], 2, err_re=r"--tag.*novalue")
    expect(["convert", "--tag", "=v"], 2, err_re=r"--tag")
    expect(["convert", "--schema"], 2, err_re=r"--schema needs a value")
    expect(["convert", "a", "b"], 2, err_re=r"only one input")
    expect(["convert", "/nonexistent/x.prom"], 1, err_re=r"/nonexistent/x.prom")

    # Conversion. One untyped sample without a timestamp, one with.
    good = b"# TYPE g gauge\ng{host=\"a\"} 1.5\nu 2 1700000000123\n"
    path = write_tmp(good)
    bad_path = write_tmp(b"ok 1\nbad{ 2\nalso_ok 3\n")
    try:
        t = "1700000000987654321"
        rc, out, err = expect(["convert", "--time", t, "--precision", "ns", path], 0)
        lines = out.splitlines()
        check(len(lines) == 2, "two samples give two lines", repr(out))
        check(any(l.startswith("g,") and "host=a" in l and l.endswith(" " + t) for l in lines),
              "gauge line with label tag and --time in ns", repr(out))
        check(any(l.endswith(" 1700000000123000000") for l in lines),
              "sample timestamp kept (ms -> ns)", repr(out))
        check(err == "", "no stderr on good input", repr(err))

        rc, out_s, _ = expect(["convert", "--time", t, "--precision", "s", path], 0)
        check(any(l.startswith("g,") and l.endswith(" 1700000000") for l in out_s.splitlines()),
              "--precision s", repr(out_s))
        rc, out_ms, _ = expect(["convert", "--time", t, path], 0)
        check(any(l.startswith("g,") and l.endswith(" 1700000000987") for l in out_ms.splitlines()),
              "default precision ms", repr(out_ms))
        rc, out_ig, _ = expect(["convert", "--time", t, "--ignore-timestamps", path], 0)
        check(out_ig.count(" 1700000000987\n") == 2, "--ignore-timestamps", repr(out_ig))

        rc, out_stdin, _ = expect(["convert", "--time", t, "--precision", "ns", "-"], 0, stdin=good)
        check(out_stdin == out, "stdin and file give the same output", repr(out_stdin))
        rc, out_stdin2, _ = expect(["convert", "--time", t, "--precision", "ns"], 0, stdin=good)
        check(out_stdin2 == out, "no FILE reads stdin", repr(out_stdin2))

        rc, out_tag, _ = expect(["convert", "--time", t, "--tag", "dc=eu1", "--tag=rack=r 2", path], 0)
        for l in out_tag.splitlines():
            check(",dc=eu1" in l and "rack=r\\ 2" in l, "--tag on every line", l)

        # A bad line: reported with its location, the rest still converted.
        rc, out_bad, err_bad = expect(["convert", "--time", t, bad_path], 1,
                                      err_re=r"^%s:2:\d+: " % re.escape(bad_path))
        check(len(out_bad.splitlines()) == 2, "good lines around a bad one are converted", repr(out_bad))
        rc, _, err_stdin = expect(["convert", "--time", t], 1, stdin=b"ok 1\nbad{ 2\n",
                                  err_re=r"^<stdin>:2:\d+: ")
        rc, out_rej, _ = expect(["convert", "--reject", "--time", t, bad_path], 1,
                                err_re=r"^%s:2:\d+: " % re.escape(bad_path))
        check(out_rej == "", "--reject writes nothing for a bad input", repr(out_rej))
        rc, out_rej_ok, _ = expect(["convert", "--reject", "--time", t, "--precision", "ns", path], 0)
        check(out_rej_ok == out, "--reject on good input writes the same", repr(out_rej_ok))

        # --format auto: '# EOF' at the end means OpenMetrics, whose
        # timestamps are seconds; without it the same digits are 0.0.4 ms.
        om = b"# TYPE c counter\nc_total 1 1700000000.5\n# EOF\n"
        rc, out_om, _ = expect(["convert", "--format", "auto", "--precision", "ns", "-"], 0, stdin=om)
        check(out_om.rstrip("\n").endswith(" 1700000000500000000"), "--format auto detects OpenMetrics",
              repr(out_om))
        rc, out_om2, _ = expect(["convert", "--format", "openmetrics", "--precision", "ns", "-"], 0, stdin=om)
        check(out_om2 == out_om, "--format auto equals --format openmetrics on '# EOF' input", repr(out_om2))
        rc, out_p, _ = expect(["convert", "--format", "auto", "--time", t, "--precision", "ns", path], 0)
        check(out_p == out, "--format auto reads 0.0.4 without '# EOF'", repr(out_p))
        expect(["convert", "--format", "prometheus", "-"], 1, stdin=om)
        # NaN and Inf cannot be stored: not written, said on stderr, not an error.
        rc, out_nan, _ = expect(["convert", "--format", "prometheus", "--time", t, "-"], 0,
                                err_re=r"<stdin>: 0 lines rejected, 0 points not encodable, 2 NaN/Inf values "
                                       r"not written .*, 2 points left without a field",
                                stdin=b"a NaN\nb +Inf\nc 1\n")
        check(out_nan.startswith("c value=1 "), "only the finite sample is written", repr(out_nan))
        rc, out_def, _ = expect(["convert", "--precision", "ns", "-"], 0, stdin=om)
        check(out_def == out_om, "without --format, '# EOF' input is read as OpenMetrics", repr(out_def))

        # A body larger than one 64 KiB read, fed from a pipe: every sample arrives.
        big = b"".join(b"m_%d{i=\"%d\"} %d\n" % (i % 7, i, i) for i in range(20000))
        rc, out_big, err_big = expect(["convert", "--schema", "influxdb-prom", "--time", t, "-"], 0, stdin=big)
        check(len(out_big.splitlines()) == 20000, "20000 samples in, 20000 lines out",
              "%d lines; %r" % (len(out_big.splitlines()), err_big[:300]))
    finally:
        os.unlink(path)
        os.unlink(bad_path)

    for f in failures:
        print("FAIL " + f)
    print("cli: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
