#!/usr/bin/python3
"""edge_cases.py: inputs the upstream suites lack.

For each $PF_CONFORMANCE/edge-cases/*.prom|*.om (format from the
extension) we assert that the parser never crashes, that it ends with a
return code and either samples or errors located at a line and a column,
that --reject agrees with the default skip policy, that feeding it in
small chunks gives the same output, and that our verdict and sample count
are the ones checked in tests/conformance/edge_expected.json
{case: {"valid": bool, "samples": N}} (a case missing there fails).
The table printed at the end sets our verdict beside what three real
parsers did (observed.json: observations, not a spec).
Usage: edge_cases.py PFPARSE [--write-expected FILE]
  --write-expected writes our current verdicts as a draft of that file.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfcommon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PARSERS = [("oracle", "py-client"), ("expfmt_0_39", "expfmt"), ("prometheus_2_42_scrape", "prom-2.42")]


def observed_cell(obs):
    if obs is None:
        return "-"
    n = obs.get("samples", obs.get("samples_stored"))
    if isinstance(n, list):
        n = len(n)
    return "%s/%s" % ("ok" if obs.get("valid") else "bad", n)


def strip(r):
    """The output records that must not depend on chunking."""
    return (r.samples, r.errors, r.rc)


def check(pfparse, path, fmt):
    """Returns (result, [problems])."""
    problems = []
    r = pfcommon.run(pfparse, path, fmt=fmt)
    if r.crashed:
        return r, ["CRASH: " + r.crashed]
    if r.rc != 0 and not r.errors:
        problems.append("rc=%d without an error" % r.rc)
    if r.end["stat_errors"] != len(r.errors):
        problems.append("stats.errors %d != %d errors reported" % (r.end["stat_errors"], len(r.errors)))
    for e in r.errors:
        if e["line"] <= 0 or e["col"] <= 0:
            problems.append("error not located: %s" % json.dumps(e))
        if not e["msg"]:
            problems.append("error without a message at %d:%d" % (e["line"], e["col"]))
    rj = pfcommon.run(pfparse, path, fmt=fmt, reject=True)
    if rj.crashed:
        problems.append("CRASH with --reject: " + rj.crashed)
    elif rj.valid != r.valid:
        problems.append("--reject verdict %s but skip policy verdict %s" % (rj.valid, r.valid))
    elif r.valid and rj.samples != r.samples:
        problems.append("--reject gives other samples than the skip policy")
    elif not rj.valid and len(rj.errors) != 1:
        problems.append("--reject reported %d errors, expected the first only" % len(rj.errors))
    size = os.path.getsize(path)
    for chunk in ([1, 3, 4096] if size < 100000 else [4096, 65536]):
        rc = pfcommon.run(pfparse, path, fmt=fmt, chunk=chunk)
        if rc.crashed:
            problems.append("CRASH with --chunk %d: %s" % (chunk, rc.crashed))
        elif strip(rc) != strip(r):
            problems.append("--chunk %d gives other output than one feed" % chunk)
    return r, problems


def main():
    pfparse = sys.argv[1]
    write_to = None
    if len(sys.argv) > 3 and sys.argv[2] == "--write-expected":
        write_to = sys.argv[3]
    root = os.path.join(pfcommon.conformance_dir(), "edge-cases")
    with open(os.path.join(root, "observed.json")) as f:
        observed = {c["name"]: c for c in json.load(f)["cases"]}
    exp_path = os.path.join(HERE, "edge_expected.json")
    expected = {}
    if os.path.exists(exp_path):
        with open(exp_path) as f:
            expected = json.load(f)
    files = sorted(f for f in os.listdir(root) if f.endswith((".prom", ".om")))
    failures, missing, draft, rows = [], [], {}, []
    for fn in files:
        name = os.path.splitext(fn)[0]
        fmt = "openmetrics" if fn.endswith(".om") else "prometheus"
        r, problems = check(pfparse, os.path.join(root, fn), fmt)
        for p in problems:
            failures.append("%s: %s" % (name, p))
        ours = {"valid": r.valid, "samples": len(r.samples)}
        draft[name] = ours
        exp = expected.get(name)
        if exp is None:
            missing.append(name)
            verdict = "MISSING"
        elif exp.get("valid") != ours["valid"] or exp.get("samples") != ours["samples"]:
            failures.append("%s: we %s with %d samples, edge_expected.json says %s with %s%s" % (
                name, "accept" if ours["valid"] else "reject", ours["samples"],
                "accept" if exp.get("valid") else "reject", exp.get("samples"),
                "" if r.valid else " (our first error: %s)" % r.first_error()))
            verdict = "WRONG"
        else:
            verdict = "ok"
        obs = observed.get(name, {})
        rows.append([name, fmt[:4], "%s/%d" % ("ok" if ours["valid"] else "bad", ours["samples"])]
                    + [observed_cell(obs.get(k)) for k, _ in PARSERS] + [verdict,
                    "" if r.valid else (r.first_error() or "")[:70]])
    head = ["case", "fmt", "promflux"] + [label for _, label in PARSERS] + ["check", "our first error"]
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head) - 1)]
    for row in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + str(row[-1]))
    for name in sorted(set(expected) - set(draft)):
        failures.append("%s: in edge_expected.json but no such input" % name)
    if write_to:
        with open(write_to, "w") as f:
            json.dump(draft, f, indent=1, sort_keys=True)
            f.write("\n")
        print("draft written to %s" % write_to)
    for f in failures:
        print("FAIL " + f)
    if missing:
        print("FAIL missing from edge_expected.json: " + ", ".join(missing))
    print("edge cases: %d inputs, %d failures, %d missing from edge_expected.json" % (
        len(files), len(failures), len(missing)))
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
