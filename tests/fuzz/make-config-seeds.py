#!/usr/bin/python3
"""make-config-seeds.py: writes seeds for fuzz_config into OUTDIR: the
reference file conf/promflux.ini and every configuration text given to
OK(...), ERR(...), ERR_ANY(...) in tests/config/test_config.c (string
literals and the JOB/V1/V2 macros they are built from; the rest is skipped).
The committed seeds are in tests/fuzz/corpus-config/.

Usage: make-config-seeds.py SRC_ROOT OUTDIR
"""
import ast
import hashlib
import os
import re
import sys


def c_string(tok):
    # A C string literal -> bytes (the escapes used in the tests are also
    # Python's).
    return ast.literal_eval('b' + tok)


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    src = open(os.path.join(root, 'tests/config/test_config.c'), encoding='utf-8').read()
    macros = {}
    for m in re.finditer(r'^#define (JOB|V1|V2) ((?:(?:JOB|"(?:[^"\\]|\\.)*")\s*)+)$', src, re.M):
        parts = re.findall(r'JOB|"(?:[^"\\]|\\.)*"', m.group(2))
        macros[m.group(1)] = b''.join(macros.get(p, b'') if p in macros else c_string(p) for p in parts)
    texts = []
    call = re.compile(r'\b(?:OK|ERR|ERR_ANY)\(\s*((?:(?:JOB|V1|V2|"(?:[^"\\]|\\.)*")\s*)+)[,)]', re.S)
    for m in call.finditer(src):
        parts = re.findall(r'JOB|V1|V2|"(?:[^"\\]|\\.)*"', m.group(1))
        texts.append(b''.join(macros.get(p, b'') if p in macros else c_string(p) for p in parts))
    with open(os.path.join(out, 'promflux.ini'), 'wb') as f:
        f.write(open(os.path.join(root, 'conf/promflux.ini'), 'rb').read())
    seen = set()
    for t in texts:
        h = hashlib.sha1(t).hexdigest()[:12]
        if h in seen:
            continue
        seen.add(h)
        with open(os.path.join(out, 'cfg-' + h), 'wb') as f:
            f.write(t)
    print('make-config-seeds: %d seeds' % (len(seen) + 1))


if __name__ == '__main__':
    main()
