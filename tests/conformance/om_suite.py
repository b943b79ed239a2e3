#!/usr/bin/python3
"""om_suite.py: the OpenMetrics parser suite, all 211 cases.

Each case in $PF_CONFORMANCE/openmetrics/cases/<name>/ holds the input
(metrics) and test.json with shouldParse. We parse with --format
openmetrics --reject and require: shouldParse <=> rc == 0 and no error.
Usage: om_suite.py PFPARSE
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfcommon  # noqa: E402


def main():
    pfparse = sys.argv[1]
    root = os.path.join(pfcommon.conformance_dir(), "openmetrics", "cases")
    names = sorted(os.listdir(root))
    wrong, crashed, ran = [], [], 0
    for name in names:
        case = os.path.join(root, name)
        with open(os.path.join(case, "test.json")) as f:
            spec = json.load(f)
        if spec.get("type") != "text":
            continue
        path = os.path.join(case, spec.get("file", "metrics"))
        r = pfcommon.run(pfparse, path, fmt="openmetrics", reject=True)
        ran += 1
        if r.crashed:
            crashed.append((name, r.crashed))
            continue
        if r.valid != spec["shouldParse"]:
            with open(path, "rb") as f:
                data = f.read()
            wrong.append((name, spec["shouldParse"], data, r.first_error()))
    for name, should, data, err in wrong:
        print("WRONG %s: shouldParse=%s, we %s" % (
            name, should, "rejected it: " + str(err) if should else "accepted it"))
        print("  input: %r" % data[:400])
    for name, why in crashed:
        print("CRASH %s: %s" % (name, why))
    print("openmetrics suite: %d cases, %d right, %d wrong, %d crashed" % (
        ran, ran - len(wrong) - len(crashed), len(wrong), len(crashed)))
    if ran != 211:
        print("expected 211 text cases, found %d" % ran)
        return 1
    return 1 if wrong or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
