#!/usr/bin/python3
"""float_g.py: pf_fmt_float_g() against an independent model of Go's
strconv.FormatFloat(v, 'g', -1, 64).

The digits come from Python's repr(), which is also the shortest text that
reads back and, among those, the closest to the value: the same digits Go's
shortest algorithm picks. The layout is Go's %g with shortest precision:
exponent form when the decimal exponent is below -4 or at least 6, with at
least two exponent digits. Checked on a fixed pseudo-random sample of bit
patterns, every power of two (where the rounding interval is lopsided),
powers of ten and their neighbours, and integers around the cut-offs.
Each result must also be accepted by pf_lp_float_text_ok() and read back
exactly. Prints each failure and a final count; exits 1 on failure.
"""
import math
import os
import random
import struct
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lpcommon import fbits, hx, run_driver  # noqa: E402


def go_g(v):
    if math.isnan(v):
        return 'NaN'
    if math.isinf(v):
        return '+Inf' if v > 0 else '-Inf'
    neg = math.copysign(1.0, v) < 0
    sign = '-' if neg else ''
    if v == 0:
        return sign + '0'
    t = Decimal(repr(abs(v))).as_tuple()
    ds = ''.join(map(str, t.digits)).rstrip('0') or '0'
    # value = 0.ds * 10^dp
    dp = len(t.digits) + t.exponent
    x = dp - 1
    if x < -4 or x >= 6:
        m = ds[0] + ('.' + ds[1:] if len(ds) > 1 else '')
        return '%s%se%s%02d' % (sign, m, '-' if x < 0 else '+', abs(x))
    if dp <= 0:
        return sign + '0.' + '0' * (-dp) + ds
    if len(ds) <= dp:
        return sign + ds + '0' * (dp - len(ds))
    return sign + ds[:dp] + '.' + ds[dp:]


def sample():
    rnd = random.Random(20240601)
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324,
            2.2250738585072014e-308, 2.225073858507201e-308,
            1.7976931348623157e+308, 0.1, 0.2, 0.3, 0.1 + 0.2, 1 / 3, 2 / 3,
            123456789.0, 9007199254740992.0, 9007199254740993.0,
            9007199254740991.0, 1e23, 8.41e21, 5e-310]
    for e in range(-1074, 1024):
        p = math.ldexp(1.0, e)
        vals += [p, -p]
        if e > -1074:
            vals.append(math.nextafter(p, 0.0))
        vals.append(math.nextafter(p, math.inf))
    for e in range(-325, 309):
        try:
            p = float('1e%d' % e)
        except OverflowError:
            continue
        vals += [p, math.nextafter(p, 0.0), math.nextafter(p, math.inf),
                 float('1.5e%d' % e), float('9.999999e%d' % e)]
    for n in list(range(0, 2000)) + [99999, 100000, 100001, 999999, 1000000,
                                     1000001, 1234567, 10**15, 10**16 + 2]:
        vals += [float(n), -float(n), n / 1000.0, n * 1e-7]
    for _ in range(40000):
        b = rnd.getrandbits(64)
        v = struct.unpack('>d', b.to_bytes(8, 'big'))[0]
        vals.append(v)
    for _ in range(10000):
        vals.append(round(rnd.uniform(-1e7, 1e7), rnd.randint(0, 9)))
    return vals


def main():
    vals = sample()
    out = run_driver(['G ' + fbits(v) for v in vals])
    texts = [o.split(' ', 1)[1] for o in out]
    back = run_driver(['T ' + hx(t) for t in texts])
    passed = failed = 0
    for v, got, b in zip(vals, texts, back):
        want = go_g(v)
        why = None
        if got != want:
            why = 'want %r, got %r' % (want, got)
        elif math.isfinite(v):
            _, ok, bits = b.split(' ')
            if ok != '1' or bits != fbits(v):
                why = '%r: accepted=%s, reads back as bits %s (want %s)' % (
                    got, ok, bits, fbits(v))
        if why:
            failed += 1
            if failed <= 50:
                print('FAIL %r (bits %s): %s' % (v, fbits(v), why))
        else:
            passed += 1
    print('pf_fmt_float_g: %d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
