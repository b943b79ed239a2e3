#!/usr/bin/python3
"""telegraf_cases.py: promflux's telegraf-v1/v2 schemas against Telegraf's own
parser test cases ($PF_CONFORMANCE/telegraf/{prometheus,openmetrics}/*).

For every case and both schemas it runs
  $PROMFLUX convert --schema telegraf-vN --format F --precision ns --time T
                    [--tag k=v ...] [--ignore-timestamps] input.txt
and compares the line protocol with expected_vN.out. Both sides are parsed
as line protocol (escapes included); the `_type` tag, which only Telegraf's
test harness adds, is dropped from the expected side. Points are compared as
multisets: measurement, tag set and field keys byte for byte, field values
equal as doubles and of the same type (float, int, uint, bool, string),
timestamps equal where the expected line has one. For the case that sets
prometheus_ignore_timestamp, Telegraf's harness ignores time; here the
timestamps must be T, the time we passed.

Documented deviations (tests/schema/DEVIATIONS.md) are applied to the
expected side before comparing, each one checked to still apply.

  telegraf_cases.py              run every case (needs PROMFLUX, PF_CONFORMANCE)
  telegraf_cases.py --self-test  check the comparison logic itself on the
                                 expected files (needs PF_CONFORMANCE only)
Exit status: 0 when everything passed, 1 otherwise.
"""
import math
import os
import re
import subprocess
import sys

# The scrape time handed to promflux (Unix ns).
NOW_NS = 1700000000000000000

# Deviations from Telegraf, documented in DEVIATIONS.md, as edits of the
# expected file: (case, version) -> [(old text, new text)]. An old text
# that no longer occurs is itself a failure, so that a stale entry shows.
DEVIATIONS = {
    # Telegraf's openmetrics parser adds the nanoseconds of the _created
    # timestamp as whole seconds in metric_version 2 (1705509488 +
    # 300000000); we write the sample's value.
    ("openmetrics/valid_summary", 2): [
        ("http_request_duration_microseconds_created=2005509488",
         "http_request_duration_microseconds_created=1705509488.3"),
    ],
    # Samples without metadata after a counter family
    # (dovecot_imap_command_count, dovecot_imap_command_duration_seconds_sum):
    # OpenMetrics makes each a family of its own, type unknown; Telegraf
    # files them under the counter family before them and drops them.
    ("openmetrics/dovecot", 1): [
        ("dovecot_auth_success,_type=counter counter=892\n",
         "dovecot_auth_success,_type=counter counter=892\n"
         "dovecot_imap_command_count,_type=untyped value=7840\n"
         "dovecot_imap_command_duration_seconds_sum,_type=untyped value=2.719657\n"),
    ],
    ("openmetrics/dovecot", 2): [
        ("openmetric,_type=counter dovecot_auth_success=892\n",
         "openmetric,_type=counter dovecot_auth_success=892\n"
         "openmetric,_type=untyped dovecot_imap_command_count=7840\n"
         "openmetric,_type=untyped dovecot_imap_command_duration_seconds_sum=2.719657\n"),
    ],
    # An info family whose sample lacks the _info suffix is not valid
    # OpenMetrics: the parser reports it and the sample maps as an
    # unknown-type sample; Telegraf takes it as the info value.
    ("openmetrics/valid_info", 1): [
        ("(Core) info=1u", "(Core) value=1"),
    ],
    ("openmetrics/valid_info", 2): [
        ("(Core) cadvisor_version_info=1u", "(Core) cadvisor_version=1"),
    ],
}


class LPError(Exception):
    pass


# ---- line protocol ----

def _read_token(s, i, stops, escapable):
    """Reads from s[i] up to the first unescaped char in stops. A backslash
    before a char in escapable stands for that char; any other backslash
    is literal. Returns (text, index of the stop or len(s))."""
    out = []
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in escapable:
            out.append(s[i + 1])
            i += 2
            continue
        if c in stops:
            break
        out.append(c)
        i += 1
    return "".join(out), i


_FLOAT_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+i$")
_UINT_RE = re.compile(r"^\d+u$")
_TRUE = {"t", "T", "true", "True", "TRUE"}
_FALSE = {"f", "F", "false", "False", "FALSE"}


def _field_value(s, i):
    """Parses a field value at s[i]; returns ((type, value), next index)."""
    if i < len(s) and s[i] == '"':
        out = []
        i += 1
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s) and s[i + 1] in '"\\':
                out.append(s[i + 1])
                i += 2
                continue
            if c == '"':
                return ("string", "".join(out)), i + 1
            out.append(c)
            i += 1
        raise LPError("unterminated string field")
    j = i
    while j < len(s) and s[j] not in ", ":
        j += 1
    raw = s[i:j]
    if _INT_RE.match(raw):
        return ("int", int(raw[:-1])), j
    if _UINT_RE.match(raw):
        return ("uint", int(raw[:-1])), j
    if raw in _TRUE:
        return ("bool", True), j
    if raw in _FALSE:
        return ("bool", False), j
    if _FLOAT_RE.match(raw):
        return ("float", float(raw)), j
    raise LPError("bad field value %r" % raw)


def parse_line(line):
    """Parses one line of line protocol into
    (measurement, {tag: value}, {field: (type, value)}, time or None)."""
    meas, i = _read_token(line, 0, ", ", ", \\")
    if not meas:
        raise LPError("empty measurement")
    tags = {}
    while i < len(line) and line[i] == ",":
        k, i = _read_token(line, i + 1, "=, ", ",= \\")
        if i >= len(line) or line[i] != "=":
            raise LPError("tag without '='")
        v, i = _read_token(line, i + 1, ", ", ",= \\")
        if not k or not v:
            raise LPError("empty tag key or value")
        if k in tags:
            raise LPError("duplicate tag %r" % k)
        tags[k] = v
    if i >= len(line) or line[i] != " ":
        raise LPError("no fields")
    i += 1
    fields = {}
    while True:
        k, i = _read_token(line, i, "=, ", ",= \\")
        if not k or i >= len(line) or line[i] != "=":
            raise LPError("bad field key")
        val, i = _field_value(line, i + 1)
        if k in fields:
            raise LPError("duplicate field %r" % k)
        fields[k] = val
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    ts = None
    if i < len(line):
        if line[i] != " ":
            raise LPError("junk after fields at %d" % i)
        rest = line[i + 1:]
        if not re.match(r"^-?\d+$", rest):
            raise LPError("bad timestamp %r" % rest)
        ts = int(rest)
    return meas, tags, fields, ts


def parse_lp(text, drop_tags=()):
    points = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            m, tags, fields, ts = parse_line(line)
        except LPError as e:
            raise LPError("line %d: %s: %s" % (n, e, line))
        for t in drop_tags:
            tags.pop(t, None)
        points.append((m, tags, fields, ts, line))
    return points


# ---- comparison ----

def _values_equal(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "float":
        return a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1]))
    return a[1] == b[1]


def _point_key(p):
    m, tags, fields, _, _ = p
    return (m, tuple(sorted(tags.items())), tuple(sorted(fields)))


def point_matches(exp, got):
    if _point_key(exp) != _point_key(got):
        return False
    for k, v in exp[2].items():
        if not _values_equal(v, got[2][k]):
            return False
    return exp[3] is None or exp[3] == got[3]


def compare(expected, actual):
    """Multiset comparison; returns a list of difference lines (empty when
    equal)."""
    left = list(actual)
    missing = []
    for e in expected:
        for j, a in enumerate(left):
            if point_matches(e, a):
                del left[j]
                break
        else:
            missing.append(e)
    diffs = []
    for e in missing:
        near = [a for a in left if _point_key(a) == _point_key(e)]
        diffs.append("  missing: %s" % e[4])
        for a in near:
            diffs.append("     ours: %s" % a[4])
    shown = {id(a) for e in missing for a in left if _point_key(a) == _point_key(e)}
    for a in left:
        if id(a) not in shown:
            diffs.append("    extra: %s" % a[4])
    return diffs


# ---- cases ----

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def case_options(conf):
    """What the case's telegraf.conf asks for: format, default tags,
    ignore-timestamp."""
    fmt = None
    m = re.search(r'data_format\s*=\s*"([^"]+)"', conf)
    if m:
        fmt = m.group(1)
    ignore = bool(re.search(r"(prometheus|openmetrics)_ignore_timestamp\s*=\s*true", conf))
    tags = []
    section = None
    for line in conf.splitlines():
        s = line.strip()
        if s.startswith("["):
            section = s
            continue
        if section and section.endswith(".default_tag_defs]"):
            m = re.match(r'^([A-Za-z0-9_.-]+)\s*=\s*"([^"]*)"\s*$', s)
            if m:
                tags.append((m.group(1), m.group(2)))
    return fmt, ignore, tags


def list_cases(root):
    cases = []
    for kind in ("prometheus", "openmetrics"):
        d = os.path.join(root, "telegraf", kind)
        for name in sorted(os.listdir(d)):
            cdir = os.path.join(d, name)
            if not os.path.isfile(os.path.join(cdir, "input.txt")):
                continue
            for v in (1, 2):
                if os.path.isfile(os.path.join(cdir, "expected_v%d.out" % v)):
                    cases.append((kind + "/" + name, cdir, v))
    return cases


def expected_points(cid, cdir, v, ignore):
    text = read(os.path.join(cdir, "expected_v%d.out" % v))
    if not text.endswith("\n"):
        text += "\n"
    for old, new in DEVIATIONS.get((cid, v), []):
        if old not in text:
            raise LPError("stale deviation entry: %r not in expected_v%d.out" % (old, v))
        text = text.replace(old, new)
    pts = parse_lp(text, drop_tags=("_type",))
    if ignore:
        # Telegraf's harness ignores time here; ours must be the scrape time.
        pts = [(m, t, f, NOW_NS, line) for (m, t, f, _, line) in pts]
    return pts


def run_case(promflux, cid, cdir, v):
    conf = read(os.path.join(cdir, "telegraf.conf"))
    fmt, ignore, tags = case_options(conf)
    if fmt is None:
        fmt = cid.split("/")[0]
    cmd = [promflux, "convert", "--schema", "telegraf-v%d" % v, "--format", fmt,
           "--precision", "ns", "--time", str(NOW_NS)]
    for k, val in tags:
        cmd += ["--tag", "%s=%s" % (k, val)]
    if ignore:
        cmd.append("--ignore-timestamps")
    cmd.append(os.path.join(cdir, "input.txt"))
    diffs = []
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return ["  cannot run %s: %s" % (" ".join(cmd), e)]
    err = p.stderr.decode("utf-8", "replace").strip()
    # Exit 1 means "some line was bad": the comparison shows what that
    # cost; anything else is a failure of its own.
    if p.returncode not in (0, 1):
        diffs.append("  exit status %d: %s" % (p.returncode, err))
    elif err:
        print("  note (%s v%d, exit %d): %s" % (cid, v, p.returncode, err.replace("\n", "\n        ")))
    try:
        exp = expected_points(cid, cdir, v, ignore)
        got = parse_lp(p.stdout.decode("utf-8"))
    except (LPError, UnicodeDecodeError) as e:
        return diffs + ["  %s" % e]
    return diffs + compare(exp, got)


def run_all(root, promflux):
    passed = failed = 0
    for cid, cdir, v in list_cases(root):
        diffs = run_case(promflux, cid, cdir, v)
        if diffs:
            failed += 1
            print("FAIL %s telegraf-v%d" % (cid, v))
            print("\n".join(diffs))
        else:
            passed += 1
            print("ok   %s telegraf-v%d" % (cid, v))
    print("%d passed, %d failed" % (passed, failed))
    return failed == 0 and passed > 0


# ---- self-test of the comparison ----

def self_test(root):
    bad = []

    def check(cond, what):
        if not cond:
            bad.append(what)

    # The parser on escapes and types.
    m, t, f, ts = parse_line(r'my\ meas\,x,a\ b=c\,d\=e,k=v f\=1="q\"\\",i=-3i,u=4u,b=T,x=1e-3 12')
    check(m == "my meas,x", "measurement escapes")
    check(t == {"a b": "c,d=e", "k": "v"}, "tag escapes")
    check(f == {"f=1": ("string", 'q"\\'), "i": ("int", -3), "u": ("uint", 4),
                "b": ("bool", True), "x": ("float", 0.001)}, "field types")
    check(ts == 12, "timestamp")
    check(parse_line(r"m,p=C:\x v=1")[1] == {"p": "C:\\x"}, "literal backslash")
    for badline in ("m", "m v", "m,k v=1", "m v=1 x", "m v=1i2", ",k=v v=1", "m,k=v,k=w v=1"):
        try:
            parse_line(badline)
            bad.append("accepted bad line %r" % badline)
        except LPError:
            pass

    # Every expected file against itself, with its deviations applied, and
    # against mutations that must be caught.
    ncases = 0
    for cid, cdir, v in list_cases(root):
        ncases += 1
        conf = read(os.path.join(cdir, "telegraf.conf"))
        _, ignore, _ = case_options(conf)
        exp = expected_points(cid, cdir, v, ignore)
        check(len(exp) > 0, "%s v%d: no points" % (cid, v))
        check(compare(exp, list(reversed(exp))) == [], "%s v%d: self, reordered" % (cid, v))
        check(compare(exp, exp[1:]) != [], "%s v%d: a point missing goes unseen" % (cid, v))
        check(compare(exp[1:], exp) != [], "%s v%d: an extra point goes unseen" % (cid, v))
        m, tags, fields, ts, line = exp[0]
        k0 = sorted(fields)[0]
        typ, val = fields[k0]
        if typ == "float":
            f2 = dict(fields)
            f2[k0] = ("float", val + 1 if val == val else 0.0)
            check(compare(exp, [(m, tags, f2, ts, line)] + exp[1:]) != [],
                  "%s v%d: a changed value goes unseen" % (cid, v))
            f3 = dict(fields)
            f3[k0] = ("int", int(val)) if val == val and not math.isinf(val) else ("bool", True)
            check(compare(exp, [(m, tags, f3, ts, line)] + exp[1:]) != [],
                  "%s v%d: a changed type goes unseen" % (cid, v))
        t2 = dict(tags)
        t2["extra"] = "x"
        check(compare(exp, [(m, t2, fields, ts, line)] + exp[1:]) != [],
              "%s v%d: an extra tag goes unseen" % (cid, v))
        if ts is not None:
            check(compare(exp, [(m, tags, fields, ts + 1, line)] + exp[1:]) != [],
                  "%s v%d: a changed time goes unseen" % (cid, v))
        # The expected lines have _type; the parsed expected side must not.
        check(all("_type" not in p[1] for p in exp), "%s v%d: _type kept" % (cid, v))
    check(ncases >= 30, "only %d cases found" % ncases)
    # A value that differs only in spelling is equal.
    a = parse_lp("m x=1.0,y=1e+06")
    b = parse_lp("m y=1000000,x=1")
    check(compare(a, b) == [], "float spellings")
    check(compare(parse_lp("m x=1u"), parse_lp("m x=1")) != [], "uint vs float")
    check(compare(parse_lp("m x=1 5"), parse_lp("m x=1 6")) != [], "time compared")
    check(compare(parse_lp("m x=1"), parse_lp("m x=1 6")) == [], "time optional on expected side")
    for b_ in bad:
        print("SELF-TEST FAIL: %s" % b_)
    print("self-test: %d cases, %d problems" % (ncases, len(bad)))
    return not bad


def main():
    root = os.environ.get("PF_CONFORMANCE")
    if not root:
        print("PF_CONFORMANCE is not set")
        return 1
    if not self_test(root):
        return 1
    if "--self-test" in sys.argv[1:]:
        return 0
    promflux = os.environ.get("PROMFLUX")
    if not promflux:
        print("PROMFLUX is not set")
        return 1
    return 0 if run_all(root, promflux) else 1


if __name__ == "__main__":
    sys.exit(main())
