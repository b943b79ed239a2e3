"""lpcommon.py: talks to lp_driver (see lp_driver.c for the protocol)."""
import os
import struct
import subprocess
import sys


def hx(b):
    """Hex word for a str or bytes; '-' for the empty string."""
    if isinstance(b, str):
        b = b.encode('utf-8', 'surrogatepass')
    return b.hex() if b else '-'


def fbits(x):
    return struct.pack('>d', x).hex()


def bits2f(h):
    return struct.unpack('>d', bytes.fromhex(h))[0]


def write_req(prec, time_ns, meas, tags, fields):
    """One W request. fields: [(key, kind, value[, text])], kind in
    'float' 'int' 'uint' 'bool' 'string'; time_ns None for no time."""
    w = ['W', prec, '0' if time_ns is None else '1',
         '0' if time_ns is None else str(time_ns), hx(meas), str(len(tags))]
    for k, v in tags:
        w += [hx(k), hx(v)]
    w.append(str(len(fields)))
    for f in fields:
        k, kind, v = f[0], f[1], f[2]
        if kind == 'float':
            w += [hx(k), 'f', fbits(v), hx(f[3] if len(f) > 3 else '')]
        elif kind == 'int':
            w += [hx(k), 'i', str(int(v))]
        elif kind == 'uint':
            w += [hx(k), 'u', str(int(v))]
        elif kind == 'bool':
            w += [hx(k), 'b', '1' if v else '0']
        elif kind == 'string':
            w += [hx(k), 's', hx(v)]
        else:
            raise ValueError(kind)
    return ' '.join(w)


def run_driver(reqs):
    """Runs every request through the driver at once; returns the replies."""
    drv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ['PF_BUILD'], 'tests', 'lineproto', 'lp_driver')
    r = subprocess.run([drv], input='\n'.join(reqs) + '\n', capture_output=True,
                       text=True, check=False)
    out = r.stdout.split('\n')
    if out and out[-1] == '':
        out.pop()
    if r.returncode != 0 or len(out) != len(reqs):
        sys.stderr.write(r.stderr)
        raise SystemExit('lp_driver failed: rc %d, %d replies to %d requests'
                         % (r.returncode, len(out), len(reqs)))
    return out


def parse_w(reply):
    """('ok', line_bytes) | ('skip', None) | ('err', (rc, msg)) | (other, reply)."""
    w = reply.split(' ')
    if w[0] == 'OK':
        return 'ok', (b'' if w[1] == '-' else bytes.fromhex(w[1]))
    if w[0] == 'SKIP':
        return 'skip', None
    if w[0] == 'ERR':
        msg = b'' if w[2] == '-' else bytes.fromhex(w[2])
        return 'err', (int(w[1]), msg.decode('utf-8', 'replace'))
    return w[0].lower(), reply
