#!/usr/bin/python3
"""prom_cases.py: the 182 Prometheus parser cases.

$PF_CONFORMANCE/prometheus-textparse/cases.json holds cases transcribed
from three Go parsers: textparse PromParser and OpenMetricsParser (what a
Prometheus server scrapes with) and common/expfmt TextParser. We parse each
input (exact bytes from input_b64) with --reject in the case's format and
require our verdict (rc == 0 and no error) to equal the case's `valid`,
except for the cases listed in prom_deviations.json {name: reason}, where
our verdict deliberately differs (and must still differ: a stale entry
fails too). For valid cases with `expected` samples we also compare name,
labels, value (as a double, NaN == NaN) and timestamp; for a valid case we
deliberately reject, every sample that the default skip policy still hands
out must be one of Go's (those on the rejected lines are missing: noted).

How the Go expectations are read:
- OpenMetricsParser runs with _created series skipped (reported as start
  timestamps), so our samples with suffix "created" are left out.
- textparse and expfmt normalise le/quantile label values ("1" -> "1.0"),
  so those two labels are compared as doubles when both parse as one.
- expfmt groups samples into families: order is not significant when
  expected_ordered is false, and for the samples of its summary and
  histogram families (expected_families) the timestamp is the last one
  seen for a label set, so it is not compared.
- Fields listed in an entry's _unchecked are not checked by the source
  test and not by us either.
Usage: prom_cases.py PFPARSE
"""
import base64
import collections
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfcommon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def jstr(v):
    """A string field of cases.json: str, or {"b64": ...} when not UTF-8."""
    if isinstance(v, dict) and "b64" in v:
        return base64.b64decode(v["b64"]).decode("utf-8", errors="surrogateescape")
    return v


def float_or_none(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def same_label_value(key, ours, theirs):
    if ours == theirs:
        return True
    if key in ("le", "quantile"):
        a, b = float_or_none(ours), float_or_none(theirs)
        if a is not None and b is not None:
            return a == b or (math.isnan(a) and math.isnan(b))
    return False


def grouped_names(case):
    """expfmt only: the sample names of its summary and histogram families,
    whose timestamps expfmt merges (the last one seen wins)."""
    names = set()
    if not case["parser"].startswith("prometheus/common"):
        return names
    for fam in case.get("expected_families") or []:
        if fam.get("type") in ("summary", "histogram"):
            n = jstr(fam["name"])
            names.update([n, n + "_sum", n + "_count", n + "_bucket"])
    return names


def compare_sample(ours, exp, fmt, grouped):
    """Returns None when ours matches the expected entry, else why not."""
    unchecked = set(exp.get("_unchecked") or [])
    if "name" not in unchecked and ours["name"] != jstr(exp["name"]):
        return "name %r != %r" % (ours["name"], jstr(exp["name"]))
    if "labels" not in unchecked:
        mine = collections.OrderedDict()
        for k, v in ours["labels"]:
            if k in mine:
                return "duplicate label %r" % k
            mine[k] = v
        theirs = {jstr(k): jstr(v) for k, v in exp["labels"].items()}
        if set(mine) != set(theirs):
            return "labels %r != %r" % (dict(mine), theirs)
        for k in theirs:
            if not same_label_value(k, mine[k], theirs[k]):
                return "label %s=%r != %r" % (k, mine[k], theirs[k])
    if "value" not in unchecked and not pfcommon.same_float(ours["value"], exp["value"]):
        return "value %s != %s" % (ours["value"], exp["value"])
    if "timestamp_ms" not in unchecked:
        if ours["name"] in grouped:
            return None
        ms = exp["timestamp_ms"]
        ns = ours["ts_ns"]
        if (ms is None) != (ns is None):
            return "timestamp %s ns != %s ms" % (ns, ms)
        if ms is not None:
            if fmt == "openmetrics":
                # Float seconds: textparse keeps whole milliseconds.
                ok = abs(ns - ms * 1000000) < 1000000
            else:
                ok = ns == ms * 1000000
            if not ok:
                return "timestamp %d ns != %d ms" % (ns, ms)
    return None


def compare_subset(case, samples):
    """For a case we deliberately reject: every sample the skip policy still
    hands out must be one of Go's (in Go's order when ordered); samples on
    the lines we reject may be missing. Returns (why or None, missing)."""
    fmt = case["format"]
    grouped = grouped_names(case)
    if fmt == "openmetrics":
        samples = [s for s in samples if s["suffix"] != "created"]
    expected = list(case["expected"])
    ordered = case.get("expected_ordered", True)
    for s in samples:
        for i, e in enumerate(expected):
            if compare_sample(s, e, fmt, grouped) is None:
                if ordered:
                    del expected[:i + 1]
                else:
                    del expected[i]
                break
        else:
            return "sample at line %d (%s %s) is not among Go's%s" % (
                s["line"], s["name"], s["labels"], " in that order" if ordered else ""), 0
    return None, len(case["expected"]) - len(samples)


def compare_samples(case, samples):
    fmt = case["format"]
    grouped = grouped_names(case)
    if fmt == "openmetrics":
        samples = [s for s in samples if s["suffix"] != "created"]
    expected = case["expected"]
    if len(samples) != len(expected):
        return "%d samples, expected %d" % (len(samples), len(expected))
    if case.get("expected_ordered", True):
        for i, (s, e) in enumerate(zip(samples, expected)):
            why = compare_sample(s, e, fmt, grouped)
            if why:
                return "sample %d (line %d): %s" % (i + 1, s["line"], why)
        return None
    unused = list(samples)
    for e in expected:
        for i, s in enumerate(unused):
            if compare_sample(s, e, fmt, grouped) is None:
                del unused[i]
                break
        else:
            return "no sample matches expected %s" % json.dumps(e)
    return None


def main():
    pfparse = sys.argv[1]
    with open(os.path.join(pfcommon.conformance_dir(), "prometheus-textparse", "cases.json")) as f:
        cases = json.load(f)["cases"]
    with open(os.path.join(HERE, "prom_deviations.json")) as f:
        deviations = json.load(f)
    names = {c["name"] for c in cases}
    failures = []
    for name in sorted(deviations):
        if name not in names:
            failures.append((name, "?", "listed in prom_deviations.json but no such case", b""))
        elif not isinstance(deviations[name], str) or not deviations[name].strip():
            failures.append((name, "?", "prom_deviations.json entry needs a reason", b""))
    tally = collections.Counter()
    notes = []
    for case in cases:
        name = case["name"]
        if "input_b64" in case:
            data = base64.b64decode(case["input_b64"])
        else:
            data = case["input"].encode("utf-8")
        r = pfcommon.run_bytes(pfparse, data, fmt=case["format"], reject=True)
        parser = case["parser"].split(" (")[0]
        tally[(parser, "ran")] += 1
        if r.crashed:
            failures.append((name, parser, "CRASH: " + r.crashed, data))
            continue
        want = case["valid"]
        dev = name in deviations
        if dev:
            want = not want
        if r.valid != want:
            if dev:
                why = "listed as a deviation (%s) but we agree with the case (valid=%s)" % (
                    deviations[name], case["valid"])
            elif want:
                why = "valid, we rejected it: %s" % r.first_error()
            else:
                why = "invalid (Go: %r), we accepted it" % case.get("error_substring")
            failures.append((name, parser, why, data))
            continue
        if case["valid"] and case.get("expected") is not None:
            if dev:
                # We reject a case Go accepts; what the skip policy still
                # hands out must be Go's samples.
                r = pfcommon.run_bytes(pfparse, data, fmt=case["format"])
                why, missing = ("CRASH: " + r.crashed, 0) if r.crashed else compare_subset(case, r.samples)
                if missing:
                    notes.append("%s: %d of Go's %d samples are on lines we reject (%s)" % (
                        name, missing, len(case["expected"]),
                        "; ".join(sorted({e["msg"] for e in r.errors}))[:300]))
                tag = "samples differ (skip policy): "
            else:
                why = "CRASH: " + r.crashed if r.crashed else compare_samples(case, r.samples)
                tag = "samples differ: "
            if why:
                failures.append((name, parser, tag + why, data))
                continue
        tally[(parser, "ok")] += 1
    for n in notes:
        print("note " + n)
    for name, parser, why, data in failures:
        print("FAIL %s [%s]: %s" % (name, parser, why))
        if data:
            print("  input: %r" % data[:300])
    for parser in sorted({p for p, _ in tally}):
        print("%s: %d of %d right" % (parser, tally[(parser, "ok")], tally[(parser, "ran")]))
    print("prometheus cases: %d, deviations listed: %d, failures: %d" % (
        len(cases), len(deviations), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
