"""pfcommon.py: shared helpers of the conformance harnesses.

Runs the pfparse driver on a file (or on bytes, through a temporary file)
and returns what the parser reported: samples, errors and the end record.
"""
import json
import math
import os
import subprocess
import sys
import tempfile


def conformance_dir():
    d = os.environ.get("PF_CONFORMANCE")
    if not d or not os.path.isdir(d):
        sys.exit("PF_CONFORMANCE is not set or not a directory: %r" % d)
    return d


class Result:
    """What one pfparse run reported."""

    def __init__(self, samples, errors, end, crashed, stderr):
        self.samples = samples
        self.errors = errors
        self.end = end
        self.crashed = crashed
        self.stderr = stderr

    @property
    def rc(self):
        return self.end["rc"] if self.end else None

    @property
    def valid(self):
        """The parser accepted the whole input: rc 0 and no error reported."""
        return not self.crashed and self.rc == 0 and not self.errors

    def first_error(self):
        if self.errors:
            e = self.errors[0]
            return "%d:%d: %s" % (e["line"], e["col"], e["msg"])
        if self.crashed:
            return "CRASH: " + self.crashed
        if self.rc:
            return "rc=%d without an error message" % self.rc
        return None


def run(pfparse, path, fmt="prometheus", reject=False, chunk=None, timeout=60):
    args = [pfparse, "--format", fmt]
    if reject:
        args.append("--reject")
    if chunk:
        args += ["--chunk", str(chunk)]
    args.append(path)
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result([], [], None, "timeout after %ds" % timeout, "")
    out = p.stdout.decode("utf-8", errors="surrogateescape")
    err = p.stderr.decode("utf-8", errors="replace")
    samples, errors, end = [], [], None
    crashed = None
    for ln in out.splitlines():
        try:
            rec = json.loads(ln)
        except ValueError:
            crashed = "unparsable driver output: %r" % ln[:200]
            break
        t = rec.get("t")
        if t == "s":
            samples.append(rec)
        elif t == "e":
            errors.append(rec)
        elif t == "end":
            end = rec
    if p.returncode != 0:
        crashed = "driver exit status %d: %s" % (p.returncode, err.strip()[-2000:])
    elif end is None and crashed is None:
        crashed = "no end record"
    elif end is not None and crashed is None:
        # The parser's own counters must agree with what it handed out.
        if end["stat_samples"] != end["samples"]:
            crashed = "stats.samples %d != %d samples handed out" % (
                end["stat_samples"], end["samples"])
        elif len(samples) != end["samples"]:
            crashed = "driver printed %d samples, counted %d" % (len(samples), end["samples"])
    return Result(samples, errors, end, crashed, err)


def run_bytes(pfparse, data, **kw):
    with tempfile.NamedTemporaryFile(prefix="pfconf-", delete=False) as f:
        f.write(data)
        name = f.name
    try:
        return run(pfparse, name, **kw)
    finally:
        os.unlink(name)


def to_float(v):
    """A JSON number, or "NaN", "+Inf", "-Inf" (and our repr strings)."""
    if isinstance(v, (int, float)):
        return float(v)
    return float(v)


def same_float(a, b):
    a, b = to_float(a), to_float(b)
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b
