#!/usr/bin/python3
"""conformance.py: influxdata/line-protocol's cases through our encoder.

Runs every one of the 125 encode_cases in $PF_CONFORMANCE/lineprotocol/
cases.json through pf_lp_write() (via lp_driver):
  - expected_line: our line must be exactly that;
  - expected_error(_regexp): we must refuse with -EINVAL and a message
    matching it;
  - except the cases where our documented policy differs on purpose: those
    are listed in DEVIATIONS below AND in DEVIATIONS.md (the two lists must
    agree), and we assert our own documented output exactly.
Then the value_cases and decode_cases that fit an encoder:
  - every float text of a valid decode case that pf_lp_float_text_ok()
    accepts must read back (strtod) as the value the case expects, and the
    fallback text pf_fmt_float_g() writes for that value must be accepted
    and read back too;
  - every field value text a decode case rejects as a value (bad float
    syntax, out of range, unrecognised type) must be refused by
    pf_lp_float_text_ok();
  - value_cases: our canonical texts match the Go encoder's.
Prints one line per failure and a final count; exits 1 on any failure.
"""
import base64
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lpcommon import bits2f, fbits, hx, parse_w, run_driver, write_req  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(os.environ.get('PF_CONFORMANCE', os.path.join(
    HERE, '..', '..', '..', 'shared', 'conformance')), 'lineprotocol', 'cases.json')

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# Where we differ from the Go encoder on purpose. name -> (kind, our output).
# kind 'line': we write this exact line; 'unrepresentable': the input
# cannot be put into a pf_point at all. Keep in step with DEVIATIONS.md.
DEVIATIONS = {
    'encoder_test.go:encoderDataErrorTests/InvalidTagValue':
        ('line', b'm f=1i'),
    'corpus.json:encode/72fe529da6084a44692fe27cc2f105d1':
        ('line', b'cpu value=42 0'),
    'encoder_test.go:encoderDataErrorTests/OutOfOrderTag':
        ('line', b'm,a=1,x=1 f=1i'),
    'encoder_test.go:encoderDataErrorTests/TimeStampTooEarly':
        ('unrepresentable', None),
    'encoder_test.go:encoderDataErrorTests/TimeStampTooLate':
        ('unrepresentable', None),
}


def sval(v):
    """A case string: plain JSON text, or {"b64": ...} for exact bytes."""
    if isinstance(v, dict):
        return base64.b64decode(v['b64'])
    return v.encode('utf-8')


def rfc3339_ns(s):
    """Nanoseconds since the epoch as an unbounded Python int."""
    t = datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    d = t - epoch
    return (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000


def documented_deviations():
    """Case names in the table of DEVIATIONS.md."""
    names = set()
    with open(os.path.join(HERE, 'DEVIATIONS.md'), encoding='utf-8') as f:
        for line in f:
            m = re.match(r'\|\s*`([^`]+)`\s*\|', line)
            if m:
                names.add(m.group(1))
    return names


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, name, why):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print('FAIL %s: %s' % (name, why))
        return cond


def encode_cases(data, tally):
    reqs, plan = [], []
    for c in data['encode_cases']:
        name = c['name']
        ts = c['timestamp_ns']
        if isinstance(ts, dict):
            ts = rfc3339_ns(ts['rfc3339'])
        if ts is not None and not INT64_MIN <= ts <= INT64_MAX:
            plan.append((c, None, ts))
            continue
        fields = []
        for f in c['fields']:
            (kind, v), = f['value'].items()
            if kind == 'string':
                v = sval(v)
            fields.append((sval(f['key']), kind, v))
        tags = [(sval(t['key']), sval(t['value'])) for t in c['tags']]
        plan.append((c, len(reqs), ts))
        reqs.append(write_req(c['precision'], ts, sval(c['measurement']),
                              tags, fields))
    replies = run_driver(reqs)

    ndev = 0
    for c, idx, ts in plan:
        name = c['name']
        dev = DEVIATIONS.get(name)
        if idx is None:
            # A time outside int64 nanoseconds cannot reach the encoder:
            # pf_point.time_ns is an int64. Go refuses it; so do we, by type.
            ok = tally.ok(dev is not None and dev[0] == 'unrepresentable'
                          and c['expected_line'] is None, name,
                          'time %d is outside int64 but the case is not a '
                          'documented unrepresentable error' % ts)
            ndev += ok
            continue
        kind, val = parse_w(replies[idx])
        if dev is not None:
            ndev += 1
            tally.ok(dev[0] == 'line' and kind == 'ok' and val == dev[1], name,
                     'documented deviation: want %r, got %s %r'
                     % (dev[1], kind, val))
            continue
        if c['expected_line'] is not None:
            want = c['expected_line'].encode('utf-8')
            tally.ok(kind == 'ok' and val == want, name,
                     'want %r, got %s %r' % (want, kind, val))
            continue
        rx = c.get('expected_error_regexp') or re.escape(c.get('expected_error') or '')
        tally.ok(kind == 'err' and val[0] == -22 and re.search(rx, val[1]), name,
                 'want -EINVAL matching /%s/, got %s %r' % (rx, kind, val))
    return ndev


# ---- decode cases: a small line-protocol tokenizer, enough to find the raw
# text of each field value (the cases give the parsed values only). ----

def tokenize(buf):
    """Yields, per entry, the list of raw field value texts (bytes)."""
    i, n = 0, len(buf)
    while i < n:
        while i < n and buf[i] in b' \t\r\n':
            i += 1
        if i >= n:
            return
        if buf[i] == ord('#'):
            while i < n and buf[i] != ord('\n'):
                i += 1
            continue
        while i < n and buf[i] not in b' \n':          # measurement, tags
            i += 2 if buf[i] == ord('\\') else 1
        while i < n and buf[i] == ord(' '):
            i += 1
        vals = []
        while i < n and buf[i] not in b' \n\r':
            while i < n and buf[i] != ord('='):         # field key
                i += 2 if buf[i] == ord('\\') else 1
            i += 1
            st = i
            if i < n and buf[i] == ord('"'):
                i += 1
                while i < n and buf[i] != ord('"'):
                    i += 2 if buf[i] == ord('\\') else 1
                i += 1
            else:
                while i < n and buf[i] not in b', \n\r':
                    i += 1
            vals.append(buf[st:i])
            if i < n and buf[i] == ord(','):
                i += 1
        while i < n and buf[i] != ord('\n'):            # timestamp
            i += 1
        yield vals


ERR_RX = re.compile(r'at line (\d+):(\d+): (?:cannot parse value for field key .*?: '
                    r'(?:invalid float value syntax|line-protocol value out of range)'
                    r'|field value has unrecognized type'
                    r'|value for field .* has unrecognized type)')


def decode_cases(data, tally):
    pairs, rejected = [], []
    for c in data['decode_cases']:
        buf = base64.b64decode(c['line_b64'])
        if c['valid']:
            entries = list(tokenize(buf))
            pts = c['points']
            if not tally.ok(len(entries) == len(pts), c['name'],
                            'tokenizer found %d entries, case has %d points'
                            % (len(entries), len(pts))):
                continue
            for texts, p in zip(entries, pts):
                if not tally.ok(len(texts) == len(p['fields']), c['name'],
                                'tokenizer found %d fields, case has %d'
                                % (len(texts), len(p['fields']))):
                    continue
                for t, (_, v) in zip(texts, p['fields']):
                    if 'float' in v:
                        pairs.append((c['name'], t, float(v['float'])))
        errs = [c.get('error') or '']
        for p in c.get('points') or []:
            errs += p.get('errors') or []
        rows = buf.split(b'\n')
        for e in errs:
            for m in ERR_RX.finditer(e):
                row, col = int(m.group(1)), int(m.group(2))
                s = rows[row - 1][col - 1:]
                t = re.match(rb'[^, \n\r]*', s).group(0)
                rejected.append((c['name'], t))

    reqs = ['T ' + hx(t) for _, t, _ in pairs]
    reqs += ['G ' + fbits(v) for _, _, v in pairs]
    reqs += ['T ' + hx(t) for _, t in rejected]
    out = run_driver(reqs)
    n = len(pairs)
    gtexts = [o.split(' ', 1)[1] for o in out[n:2 * n]]
    back = run_driver(['T ' + hx(g) for g in gtexts])
    nok = 0
    for (name, t, v), r, g, gb in zip(pairs, out[:n], gtexts, back):
        _, ok, bits = r.split(' ')
        if ok == '1':
            nok += 1
            # Compared as doubles: the cases write the value of '-0.' and
            # '-0e-4' as 0.0 (Go's ParseFloat, like strtod, keeps the sign).
            got = bits2f(bits)
            tally.ok(got == v and (v == 0 or bits == fbits(v)), name,
                     'float text %r accepted but reads back as %r, the case '
                     'says %r' % (t, got, v))
        _, gok, gbits = gb.split(' ')
        tally.ok(gok == '1' and gbits == fbits(v), name,
                 'fallback text %r for %r: accepted=%s, reads back as %r'
                 % (g, v, gok, bits2f(gbits)))
    for (name, t), r in zip(rejected, out[2 * n:]):
        tally.ok(r.split(' ')[1] == '0', name,
                 'value text %r is refused by the decoder but accepted by '
                 'pf_lp_float_text_ok' % t)
    return len(pairs), nok, len(rejected)


def value_cases(data, tally):
    reqs, plan = [], []
    for c in data['value_cases']:
        kind, text = c['kind'], c['text']
        if kind == 'float':
            plan.append((c, 'T', len(reqs)))
            reqs.append('T ' + hx(text))
            if c['valid']:
                plan.append((c, 'G', len(reqs)))
                reqs.append('G ' + fbits(float(text)))
        elif c['valid'] and kind in ('int', 'uint', 'bool', 'string'):
            v = {'int': int, 'uint': int, 'bool': lambda s: s == 'true',
                 'string': lambda s: s.encode()}[kind](text)
            plan.append((c, 'W', len(reqs)))
            reqs.append(write_req('ns', None, 'm', [], [('f', kind, v)]))
        else:
            # Text that never reaches an encoder: our fields are typed values.
            plan.append((c, None, None))
    out = run_driver(reqs)
    na = 0
    for c, what, idx in plan:
        name = c['name']
        if what is None:
            na += 1
            continue
        r = out[idx]
        if what == 'T':
            ok = r.split(' ')[1] == '1'
            tally.ok(ok == c['valid'], name, 'pf_lp_float_text_ok(%r) = %d, want %d'
                     % (c['text'], ok, c['valid']))
        elif what == 'G':
            got = r.split(' ', 1)[1]
            tally.ok(got == c['canonical'], name, 'pf_fmt_float_g: want %r, got %r'
                     % (c['canonical'], got))
        else:
            kind, line = parse_w(r)
            want = b'm f=' + c['canonical'].encode()
            tally.ok(kind == 'ok' and line == want, name, 'want %r, got %s %r'
                     % (want, kind, line))
    return na


def main():
    with open(CASES, encoding='utf-8') as f:
        data = json.load(f)
    tally = Tally()

    documented = documented_deviations()
    tally.ok(documented == set(DEVIATIONS), 'DEVIATIONS.md',
             'table lists %s, harness asserts %s'
             % (sorted(documented - set(DEVIATIONS)),
                sorted(set(DEVIATIONS) - documented)))
    e0 = tally.failed
    ndev = encode_cases(data, tally)
    print('encode_cases: %d run, %d failed, %d documented deviations'
          % (len(data['encode_cases']), tally.failed - e0, ndev))

    d0 = tally.failed
    npairs, nok, nrej = decode_cases(data, tally)
    print('decode_cases: %d float texts (%d written as is), %d rejected value '
          'texts, %d failed' % (npairs, nok, nrej, tally.failed - d0))

    v0 = tally.failed
    na = value_cases(data, tally)
    print('value_cases: %d, %d not encoder inputs, %d failed'
          % (len(data['value_cases']), na, tally.failed - v0))

    print('%d passed, %d failed' % (tally.passed, tally.failed))
    return 1 if tally.failed else 0


if __name__ == '__main__':
    sys.exit(main())
