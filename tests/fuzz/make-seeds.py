#!/usr/bin/python3
"""make-seeds.py: writes the seed corpora of the fuzz targets.

Usage: make-seeds.py CONFORMANCE_DIR PIPELINE_DIR LINEPROTO_DIR [GUNZIP_DIR]

Pipeline seeds are the conformance inputs with the three selector bytes
that fuzz_pipeline.c reads in front (see the table there): each input once
per schema in its own format, with a different chunk size each time, and
once with the format left to the pipeline ("auto") followed by a second pass
in the other format. Line-protocol seeds are the encode cases of the line
protocol suite, in the piece layout fuzz_lineproto.c reads. Gunzip seeds
are the payloads gzipped (levels 1 and 9, one and two members, a cut
trailer), behind the limit byte fuzz_gunzip.c reads.
"""
import base64
import glob
import gzip
import hashlib
import json
import os
import struct
import sys

PROM, OM, AUTO = 0, 1, 2
# Chunk-size selector bytes: whole body, 1 byte, 7 bytes, 64 bytes, 4 KiB.
CHUNKS = [0, 1, 7, 64, 0x87]


def inputs(conf):
    """Yields (path, native format) for every conformance input."""
    for p in sorted(glob.glob(os.path.join(conf, 'openmetrics/cases/*/metrics'))):
        yield p, OM
    for p in sorted(glob.glob(os.path.join(conf, 'edge-cases/*.prom'))):
        yield p, PROM
    for p in sorted(glob.glob(os.path.join(conf, 'edge-cases/*.om'))):
        yield p, OM
    for p in sorted(glob.glob(os.path.join(conf, 'payloads/*.txt'))):
        if p.endswith('.headers.txt'):
            continue
        # The exporters answer in 0.0.4 even when asked for OpenMetrics;
        # only a body that ends in "# EOF" is OpenMetrics.
        with open(p, 'rb') as f:
            body = f.read()
        yield p, OM if body.rstrip(b'\n').endswith(b'# EOF') else PROM
    for p in sorted(glob.glob(os.path.join(conf, 'telegraf/prometheus/*/input.txt'))):
        yield p, PROM
    for p in sorted(glob.glob(os.path.join(conf, 'telegraf/openmetrics/*/input.txt'))):
        yield p, OM


def write_seed(d, data):
    # Named by content, as libFuzzer names its own corpus files.
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def pipeline_seeds(conf, out):
    n = 0
    for i, (path, fmt) in enumerate(inputs(conf)):
        with open(path, 'rb') as f:
            body = f.read()
        for schema in range(3):
            # byte 0: format | schema << 2; on_error, timestamps and precision
            # vary with the file so that the seeds cover them too.
            sel = fmt | (schema << 2) | ((i & 1) << 4) | (((i >> 1) & 1) << 5) | (((i >> 2) & 3) << 6)
            # byte 2 bits 3-4: the extra tags, one set per schema in turn.
            write_seed(out, bytes([sel, CHUNKS[(i + schema) % len(CHUNKS)], ((i + schema) % 4) << 3]) + body)
            n += 1
        # Auto-detected format, then a second pass after a reset in the
        # other format.
        write_seed(out, bytes([AUTO, CHUNKS[i % len(CHUNKS)], 1 | ((1 - fmt) << 1)]) + body)
        n += 1
    if n == 0:
        sys.exit('make-seeds: no conformance input found under %s' % conf)
    return n


KINDS = {'float': 0, 'int': 1, 'uint': 2, 'bool': 3, 'string': 4}
PRECISIONS = {'1ns': 0, 'ns': 0, '1µs': 1, '1us': 1, 'us': 1, '1ms': 2, 'ms': 2, '1s': 3, 's': 3}


def enc(s):
    # Strings that are not UTF-8 are stored as {"b64": ...}.
    if isinstance(s, dict):
        return base64.b64decode(s['b64'])
    return s.encode('utf-8', 'surrogateescape')


def lineproto_seeds(conf, out):
    with open(os.path.join(conf, 'lineprotocol/cases.json'), encoding='utf-8') as f:
        cases = json.load(f)['encode_cases']
    n = 0
    for c in cases:
        tags = c.get('tags') or []
        fields = c.get('fields') or []
        if len(tags) > 7 or not 1 <= len(fields) <= 4:
            continue
        ts = c.get('timestamp_ns')
        if not isinstance(ts, (int, type(None))):
            continue  # a time outside int64 ns, given as RFC 3339
        prec = PRECISIONS.get(c.get('precision') or '1ns', 0)
        ctl = bytes([len(tags) | ((len(fields) - 1) << 3), prec | (4 if ts is not None else 0)])
        ctl += struct.pack('<q', ts if ts is not None else 0)
        ctl += struct.pack('<d', 0.1 * n)
        pieces = [enc(c.get('measurement') or '')]
        for t in tags:
            pieces += [enc(t['key']), enc(t['value'])]
        for fl in fields:
            (kind, v), = fl['value'].items()
            if kind == 'float':
                val = repr(float(v)).encode() if not isinstance(v, str) else enc(v)
            elif kind == 'int':
                val = struct.pack('<q', int(v))
            elif kind == 'uint':
                val = struct.pack('<Q', int(v))
            elif kind == 'bool':
                val = bytes([1 if v else 0])
            else:
                val = enc(v)
            pieces += [enc(fl['key']), bytes([KINDS[kind]]) + val]
        if any(0xFE in p for p in pieces):
            continue
        write_seed(out, ctl + b'\xfe'.join(pieces))
        n += 1
    return n


def gunzip_seeds(conf, out):
    """The payloads gzipped, each behind a limit byte: under, at and over
    their size."""
    n = 0
    for p in sorted(glob.glob(os.path.join(conf, 'payloads/*.txt'))):
        if p.endswith('.headers.txt'):
            continue
        with open(p, 'rb') as f:
            body = f.read()[:200000]
        half = len(body) // 2
        forms = [gzip.compress(body, 1), gzip.compress(body, 9),
                 gzip.compress(body[:half], 6) + gzip.compress(body[half:], 6),
                 gzip.compress(body, 6)[:-8]]
        fit = min(255, len(body) // 4099 + 1)
        for i, z in enumerate(forms):
            limit = [fit, max(0, fit - 1), 255, fit][i]
            write_seed(out, bytes([limit]) + z)
            n += 1
    return n


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    conf, pdir, ldir = sys.argv[1:4]
    os.makedirs(pdir, exist_ok=True)
    os.makedirs(ldir, exist_ok=True)
    np = pipeline_seeds(conf, pdir)
    nl = lineproto_seeds(conf, ldir)
    ng = 0
    if len(sys.argv) == 5:
        os.makedirs(sys.argv[4], exist_ok=True)
        ng = gunzip_seeds(conf, sys.argv[4])
    print('make-seeds: %d pipeline seeds, %d line-protocol seeds, %d gunzip seeds' % (np, nl, ng))


if __name__ == '__main__':
    main()
