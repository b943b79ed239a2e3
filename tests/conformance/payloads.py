#!/usr/bin/python3
"""payloads.py: real /metrics bodies parse completely, in any chunking.

Every $PF_CONFORMANCE/payloads/*.txt body (not the *.headers.txt files)
is parsed in its format: OpenMetrics for *.openmetrics.txt and for bodies
whose captured headers say Content-Type application/openmetrics-text,
Prometheus text otherwise. We assert zero errors and exactly as many
samples as the body has lines that are neither blank nor comments
(counted here, independently of the parser), the same output when fed in
chunks of 1, 7 and 4096 bytes, and, for python_client*, that the tricky
label values (python_client.labels.json) come back byte for byte.
Usage: payloads.py PFPARSE
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfcommon  # noqa: E402


def payload_format(root, fn):
    if fn.endswith(".openmetrics.txt"):
        return "openmetrics"
    headers = os.path.join(root, fn[:-len(".txt")] + ".headers.txt")
    if os.path.exists(headers):
        with open(headers, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-type" and "application/openmetrics-text" in v.lower():
                    return "openmetrics"
    return "prometheus"


def count_samples(data):
    n = 0
    for line in data.split(b"\n"):
        s = line.strip(b" \t")
        if s and not s.startswith(b"#"):
            n += 1
    return n


def main():
    pfparse = sys.argv[1]
    root = os.path.join(pfcommon.conformance_dir(), "payloads")
    with open(os.path.join(root, "python_client.labels.json"), encoding="utf-8") as f:
        tricky = json.load(f)
    files = sorted(f for f in os.listdir(root)
                   if f.endswith(".txt") and not f.endswith(".headers.txt"))
    failures = []
    for fn in files:
        path = os.path.join(root, fn)
        fmt = payload_format(root, fn)
        with open(path, "rb") as f:
            data = f.read()
        want = count_samples(data)
        r = pfcommon.run(pfparse, path, fmt=fmt)
        if r.crashed:
            failures.append("%s: CRASH: %s" % (fn, r.crashed))
            continue
        ok = True
        if r.errors or r.rc != 0:
            failures.append("%s (%s): %d errors, rc=%s, first: %s" % (
                fn, fmt, len(r.errors), r.rc, r.first_error()))
            ok = False
        if len(r.samples) != want:
            failures.append("%s (%s): %d samples, the body has %d sample lines" % (
                fn, fmt, len(r.samples), want))
            ok = False
        for chunk in (1, 7, 4096):
            rc = pfcommon.run(pfparse, path, fmt=fmt, chunk=chunk)
            if rc.crashed:
                failures.append("%s: CRASH with --chunk %d: %s" % (fn, chunk, rc.crashed))
                ok = False
            elif (rc.samples, rc.errors, rc.end) != (r.samples, r.errors, r.end):
                diff = next((i for i, (a, b) in enumerate(zip(rc.samples, r.samples)) if a != b), None)
                failures.append("%s: --chunk %d differs from one feed (first differing sample: %s)" % (
                    fn, chunk, diff))
                ok = False
        if fn.startswith("python_client"):
            seen = set()
            for s in r.samples:
                lab = dict(s["labels"])
                k = lab.get("kind")
                if k in tricky and "value" in lab:
                    seen.add(k)
                    if lab["value"] != tricky[k]:
                        failures.append("%s line %d: label value for kind=%s is %r, expected %r" % (
                            fn, s["line"], k, lab["value"], tricky[k]))
                        ok = False
            if seen != set(tricky):
                failures.append("%s: no sample for kinds %s" % (fn, sorted(set(tricky) - seen)))
                ok = False
        print("%-45s %-11s %5d samples (%d expected) %s" % (fn, fmt, len(r.samples), want,
                                                          "ok" if ok else "FAIL"))
    for f in failures:
        print("FAIL " + f)
    print("payloads: %d files, %d failures" % (len(files), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
