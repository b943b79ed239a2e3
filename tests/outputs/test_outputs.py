#!/usr/bin/python3
"""test_outputs.py: the InfluxDB outputs against our fault-injecting server.

    test_outputs.py CASE

promflux (daemon mode, generated configuration, SIGTERM at the end) scrapes
tests/servers/faultserver.py and writes to tests/servers/writeserver.py,
which records every request and answers from a script. Each configuration
also has a file output: every point goes to every output, so the file is
the record of what had to be delivered, and the test checks that each of
its lines was accepted by the server exactly once (or, for an answer that
refuses lines, never).

Cases:
  req-v1, req-v1-file   path, query parameters, Basic auth (password,
                        password_file), gzip body, User-Agent; body lines =
                        what `promflux --once` writes for the same job
  req-v2, req-v2-file   /api/v2/write, org/bucket/precision, Token auth
  req-plain             gzip = false: a plain body
  ans-413               the batch is split in two halves, both delivered
  ans-429               Retry-After: 2 -> the retry comes 2 s later or more
  ans-503-date          Retry-After as an HTTP date is honoured
  ans-400               partial write: not retried, logged once
  ans-401               logged loudly with the output name, kept, delivered
  ans-404               database not found -> CREATE DATABASE, then delivered
  ans-404-nocreate      create_database = false: no CREATE, kept until the
                        database exists, then delivered
  ans-reset             connection reset mid-body: retried, delivered once
  ans-5xx               503, 500, 502, 504: retried, delivered once
  ans-timeout           no answer within timeout: retried, delivered once
  start-badauth         wrong credentials: logged at start, kept running,
                        delivered once the server accepts them
  shutdown-flush        SIGTERM flushes what the flush interval still held
  shutdown-deadline     SIGTERM with a dead server: exit within
                        shutdown_timeout
  buffer-limit          buffer full while the server fails (no disk
                        spool): the oldest batches are dropped (and
                        logged), the rest delivered
  batch-limits          batch_lines and batch_bytes bound every write
  in-flight             max_in_flight = 2: two slow writes at once, not more
  isolation             an output that hangs and one that refuses do not
                        delay the others
"""
import base64
import collections
import email.utils
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outlib import (Daemon, FaultServer, WriteServer, check, check_delivery, failures,  # noqa: E402
                    log_lines, normalize, note, parse_line, read_lines, run_once, tmpdir,
                    version, write_lines, CONFORMANCE)

NSERIES = 100


def payload_file(d):
    """100 gauges: one scrape is a batch worth splitting."""
    path = os.path.join(d, "payload.txt")
    with open(path, "w") as f:
        f.write("# TYPE pf_gauge gauge\n")
        for i in range(NSERIES):
            f.write('pf_gauge{i="%d",name="a b,c=d"} %d.5\n' % (i, i))
    return path


def conf(fault, ws, d, output_keys, job_keys="", global_keys="", otype="influxdb_v1", extra_outputs=""):
    base = {"influxdb_v1": "database = pf\n", "influxdb_v2": "org = o\nbucket = b\ntoken = t\n"}[otype]
    # Keys given by the case replace the defaults above.
    given = {line.split("=")[0].strip() for line in output_keys.splitlines() if "=" in line}
    if "token_file" in given:
        given.add("token")
    base = "".join(line + "\n" for line in base.splitlines() if line.split("=")[0].strip() not in given)
    # The file output (the record) writes at the same precision, so its lines
    # equal the ones sent.
    prec = [line.split("=")[1].strip() for line in output_keys.splitlines() if line.split("=")[0].strip() == "precision"]
    return """[global]
interval = 1s
hostname = pfhost
%s
[job "t"]
url = %s
schema = influxdb-prom
%s
[output "w"]
type = %s
url = %s
%s%s
[output "f"]
type = file
path = %s
precision = %s
%s""" % (global_keys, fault.url, job_keys, otype, ws.base, base, output_keys, os.path.join(d, "out.lp"),
         prec[0] if prec else "ms", extra_outputs)


DEFAULT_OUT = "precision = ms\nflush_interval = 200ms\nretry_max_backoff = 2s\n"


class Run:
    """A fault server, a write server with a script and the daemon."""

    def __init__(self, name, script=(), out_keys=DEFAULT_OUT, ws_args=(), otype="influxdb_v1",
                 payload=None, job_keys="", global_keys="", extra_outputs=""):
        self.name = name
        self.d = tmpdir()
        self.payload = payload or payload_file(self.d)
        self.script = list(script)
        self.out_keys, self.ws_args, self.otype = out_keys, list(ws_args), otype
        self.job_keys, self.global_keys = job_keys, global_keys
        self.extra_outputs = extra_outputs

    def __enter__(self):
        import json
        self.fs = FaultServer("--payload", self.payload).__enter__()
        self.ws = WriteServer("--script", json.dumps(self.script), *self.ws_args).__enter__()
        self.conf_text = conf(self.fs, self.ws, self.d, self.out_keys, self.job_keys, self.global_keys, self.otype,
                              self.extra_outputs.replace("@D@", self.d))
        self.daemon = Daemon(self.d, self.conf_text).__enter__()
        return self

    def file_lines(self):
        return read_lines(os.path.join(self.d, "out.lp"))

    def script_done_and_accepted(self, n_after=1):
        """Waits until the script is used up and n_after writes were accepted after that."""
        st = {}

        def done():
            if not st:
                s = self.ws.stats()
                if s["script_left"] == 0:
                    st["from"] = s["requests"]
                return False
            rs = self.ws.requests(st["from"])
            return sum(1 for r in rs if r["accepted"]) >= n_after
        return done

    def stop(self):
        rc = self.daemon.stop()
        check(rc == 0, "%s: exit 0 after SIGTERM (got %r): %s" % (self.name, rc, self.daemon.log()[-1500:]))
        self.log = self.daemon.log()
        self.writes = self.ws.writes()
        self.reqs = self.ws.requests()
        return rc

    def __exit__(self, *exc):
        self.daemon.__exit__(*exc)
        self.ws.__exit__(*exc)
        self.fs.__exit__(*exc)
        if failures:
            note("--- daemon log (%s) ---\n%s" % (self.name, self.daemon.log()[-4000:]))
        return False


def common_request_checks(r, what):
    check(r["method"] == "POST", "%s: POST (got %s)" % (what, r["method"]))
    check(r["headers"].get("user-agent") == "promflux/" + version(),
          "%s: User-Agent promflux/%s (got %r)" % (what, version(), r["headers"].get("user-agent")))
    check("body_error" not in r, "%s: %s" % (what, r.get("body_error")))


def once_lines(run):
    """What `promflux --once` writes for the same job (outputs are ignored by --once)."""
    rc, out, err = run_once(run.d, run.conf_text)
    check(rc == 0, "--once exit 0 (got %d): %s" % (rc, err[-500:]))
    return [line for line in out.split("\n") if line.strip()]


def req_case(name, otype, out_keys, want_path, want_query, want_auth, want_gzip=True, payload=None):
    with Run(name, out_keys=out_keys, otype=otype, payload=payload) as run:
        run.daemon.wait(lambda: sum(1 for r in run.ws.writes() if r["accepted"]) >= 2, 15, name + ": two writes")
        run.stop()
        once = once_lines(run)
    writes = run.writes
    check(writes, name + ": writes arrived")
    for r in writes:
        what = "%s: write %d" % (name, r["i"])
        common_request_checks(r, what)
        check(r["path"] == want_path, "%s: path %s (got %s)" % (what, want_path, r["path"]))
        check(r["query"] == want_query, "%s: query %r (got %r)" % (what, want_query, r["query"]))
        check(r["headers"].get("authorization") == want_auth,
              "%s: Authorization %r (got %r)" % (what, want_auth, r["headers"].get("authorization")))
        ce = r["headers"].get("content-encoding")
        if r["lines"] == 0:
            continue  # a start check (v2: a write of no lines)
        if want_gzip:
            check(ce == "gzip" and r["gzip"], "%s: Content-Encoding gzip (got %r)" % (what, ce))
        else:
            check(ce in (None, "identity") and not r["gzip"], "%s: no Content-Encoding (got %r)" % (what, ce))
        check(r["answer"] == 204, "%s: accepted (got %r)" % (what, r["answer"]))
        check(not r["body"].startswith("\x1f\x8b"), "%s: body decoded" % what)
    # The body holds exactly the lines --once prints for the same job (up to
    # timestamps, and the values of the synthetic series).
    sent = {normalize(line) for r in writes for line in write_lines(r)}
    want = {normalize(line) for line in once}
    check(len(want) > 10, "%s: --once wrote lines (%d)" % (name, len(want)))
    check(sent == want, "%s: body lines equal --once's: missing %r, extra %r" %
          (name, sorted(want - sent)[:3], sorted(sent - want)[:3]))
    check_delivery(name, run.file_lines(), writes)
    pre = [r for r in run.reqs if not r["path"].endswith("write")]
    note("%s: %d writes, %d other requests (%s)" % (name, len(writes), len(pre),
                                                     sorted({r["path"] for r in pre})))


def case_req_v1():
    tricky = os.path.join(CONFORMANCE, "payloads", "python_client.txt")
    req_case("req-v1", "influxdb_v1",
             "precision = s\nretention_policy = autogen\nconsistency = quorum\nusername = alice\n"
             "password = s3cr=t:x\ngzip_level = 9\nflush_interval = 200ms\n",
             "/write", {"db": "pf", "rp": "autogen", "precision": "s", "consistency": "quorum"},
             "Basic " + base64.b64encode(b"alice:s3cr=t:x").decode(), payload=tricky)


def case_req_v1_file():
    d = tmpdir()
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write("from-file\n")
    req_case("req-v1-file", "influxdb_v1",
             "database = my db\nusername = bob\npassword_file = %s\nflush_interval = 200ms\n" % pw,
             "/write", {"db": "my db", "precision": "ms"},
             "Basic " + base64.b64encode(b"bob:from-file").decode())


def case_req_v2():
    tricky = os.path.join(CONFORMANCE, "payloads", "python_client.txt")
    req_case("req-v2", "influxdb_v2",
             "org = my org\nbucket = b/1\ntoken = t0k-EN==\nprecision = ns\nflush_interval = 200ms\n",
             "/api/v2/write", {"org": "my org", "bucket": "b/1", "precision": "ns"},
             "Token t0k-EN==", payload=tricky)


def case_req_v2_file():
    d = tmpdir()
    tf = os.path.join(d, "token")
    with open(tf, "w") as f:
        f.write("file-token\n")
    req_case("req-v2-file", "influxdb_v2",
             "org = o\nbucket = b\ntoken_file = %s\nflush_interval = 200ms\n" % tf,
             "/api/v2/write", {"org": "o", "bucket": "b", "precision": "ms"}, "Token file-token")


def case_req_plain():
    req_case("req-plain", "influxdb_v1", "gzip = false\nflush_interval = 200ms\n",
             "/write", {"db": "pf", "precision": "ms"}, None, want_gzip=False)


def loud_for_w(line):
    """A warn/error log line that names the output "w"."""
    return ("level=error" in line or "level=warn" in line) and ('output="w"' in line or "output=w " in line
                                                                 or line.endswith("output=w"))


def first(writes, status):
    for r in writes:
        if r["answer"] == status:
            return r
    return None


def retries_of(writes, r0):
    """The later writes that carry exactly r0's lines."""
    want = collections.Counter(write_lines(r0))
    rs = [r for r in writes if r["mono"] > r0["mono"] and collections.Counter(write_lines(r)) == want]
    return sorted(rs, key=lambda r: r["mono"])


def answer_case(name, script, out_keys=DEFAULT_OUT, ws_args=(), n_after=2, extra=None):
    with Run(name, script=script, out_keys=out_keys, ws_args=ws_args) as run:
        run.daemon.wait(run.script_done_and_accepted(n_after), 40, name + ": script used and writes accepted after")
        if extra:
            extra(run)
        run.stop()
    return run


def case_ans_413():
    run = answer_case("ans-413", [{"status": 413, "body": '{"error":"Request Entity Too Large"}'}])
    r0 = first(run.writes, 413)
    if check(r0, "ans-413: a write got 413"):
        lines0 = collections.Counter(write_lines(r0))
        n = sum(lines0.values())
        later = [r for r in run.writes if r["i"] > r0["i"]]
        halves = None
        for a in later:
            for b in later:
                if b["i"] > a["i"] and collections.Counter(write_lines(a)) + collections.Counter(write_lines(b)) == lines0:
                    halves = (a, b)
        check(n > 2, "ans-413: the refused batch had lines (%d)" % n)
        if check(halves, "ans-413: two later writes that together are the refused batch (%d lines)" % n):
            a, b = halves
            check(abs(a["lines"] - b["lines"]) <= 1, "ans-413: halves by lines (%d + %d)" % (a["lines"], b["lines"]))
            check(a["accepted"] and b["accepted"], "ans-413: both halves accepted")
    check_delivery("ans-413", run_file(run), run.writes)


def case_ans_307():
    # A write redirected: curl sends the same body again, at once, to the
    # new location (a batch of scrapes' buffers is read again from its
    # start: http.c's seek callback; a failed rewind ends the request: "write
    # failed", and a retry after a backoff of 100 ms).
    # gzip off: the body is the batch's parts as they are, no gzip copy.
    run = answer_case("ans-307", [{"status": 307, "headers": {"Location": "/write?db=pf&precision=ms"}}],
                      out_keys=DEFAULT_OUT + "gzip = false\n")
    r0 = first(run.writes, 307)
    if check(r0, "ans-307: a write got 307"):
        want = collections.Counter(write_lines(r0))
        check(r0["lines"] > 0, "ans-307: the redirected write had lines")
        after = [r for r in run.reqs if r["i"] > r0["i"] and r["method"] == "POST"
                 and collections.Counter(write_lines(r)) == want]
        if check(after, "ans-307: the same lines POSTed again after the redirect"):
            r1 = after[0]
            check(r1["path"] == "/write" and r1["query"].get("db") == "pf",
                  "ans-307: to the Location (got %s %r)" % (r1["path"], r1["query"]))
            # A retry would come after the 100 ms backoff and log "write
            # failed" (checked below); 0.5 s leaves room for a loaded machine.
            check(r1["mono"] - r0["done"] < 0.5, "ans-307: followed at once, not retried later (%.3f s)"
                  % (r1["mono"] - r0["done"]))
            check(r1["accepted"], "ans-307: accepted at the new location")
    check(not log_lines(run.log, "write failed"), "ans-307: no failed write in the log: %s"
          % log_lines(run.log, "write failed")[:1])
    check_delivery("ans-307", run_file(run), run.writes)


def run_file(run):
    return read_lines(os.path.join(run.d, "out.lp"))


def case_ans_429():
    run = answer_case("ans-429", [{"status": 429, "retry_after": "2", "body": '{"error":"too many requests"}'}])
    r0 = first(run.writes, 429)
    if check(r0, "ans-429: a write got 429"):
        rs = retries_of(run.writes, r0)
        if check(rs, "ans-429: the batch was sent again"):
            dt = rs[0]["mono"] - r0["mono"]
            check(dt >= 2.0, "ans-429: retry %.3f s after the 429, want >= 2 s (Retry-After)" % dt)
            check(dt < 8.0, "ans-429: retry not far later than Retry-After (%.3f s)" % dt)
            note("ans-429: retry after %.3f s" % dt)
    check_delivery("ans-429", run_file(run), run.writes)


def case_ans_503_date():
    # An HTTP date about 3 s ahead; written when the script is set, the daemon
    # meets it within a second, so it asks for 2-3 s.
    when = int(time.time()) + 3
    date = email.utils.formatdate(when, usegmt=True)
    run = answer_case("ans-503-date", [{"status": 503, "retry_after": date}])
    r0 = first(run.writes, 503)
    if check(r0, "ans-503-date: a write got 503"):
        rs = retries_of(run.writes, r0)
        if check(rs, "ans-503-date: the batch was sent again"):
            check(rs[0]["t"] >= when - 0.01, "ans-503-date: retry at %.3f, want >= %d (Retry-After: %s)" %
                  (rs[0]["t"], when, date))
            note("ans-503-date: retry %.3f s after the Retry-After date" % (rs[0]["t"] - when))
    check_delivery("ans-503-date", run_file(run), run.writes)


PARTIAL = '{"error":"partial write: field type conflict: input field \\"value\\" on measurement ' \
          '\\"pf_gauge\\" is type integer, already exists as type float dropped=3"}'


def case_ans_400():
    run = answer_case("ans-400", [{"status": 400, "body": PARTIAL}])
    r0 = first(run.writes, 400)
    if check(r0, "ans-400: a write got 400"):
        check(not retries_of(run.writes, r0), "ans-400: the refused batch was not sent again")
        msg = log_lines(run.log, "partial write")
        check(len(msg) == 1, "ans-400: the server's message logged once (got %d): %r" % (len(msg), msg[:3]))
        check(msg and loud_for_w(msg[0]),
              "ans-400: logged as warn/error naming the output: %r" % msg[:1])
        # The count is the server's dropped=3, not the batch's line count.
        check(msg and re.search(r"\b3\b", msg[0].split("partial write")[0]),
              "ans-400: the 3 dropped points counted in the log line: %r" % msg[:1])
        note("ans-400 log: %r" % msg[:1])
        check_delivery("ans-400", run_file(run), run.writes, dropped=write_lines(r0))


def case_ans_400_big():
    # InfluxDB quotes every refused line in a 400: a body far over the
    # writer's 64 KiB reading limit must still be a 400 (not retried), not a
    # transfer error (which would be retried forever).
    big = '{"error":"partial write: unable to parse \'%s\': bad dropped=3"}' % ("x" * 100000)
    run = answer_case("ans-400-big", [{"status": 400, "body": big}])
    r0 = first(run.writes, 400)
    if check(r0, "ans-400-big: a write got 400"):
        check(not retries_of(run.writes, r0), "ans-400-big: the refused batch was not sent again")
        check_delivery("ans-400-big", run_file(run), run.writes, dropped=write_lines(r0))


def case_ans_401():
    script = [{"status": 401, "body": '{"error":"authorization failed"}'}] * 3
    run = answer_case("ans-401", script)
    r0 = first(run.writes, 401)
    if check(r0, "ans-401: a write got 401"):
        rs = retries_of(run.writes, r0)
        check(len(rs) >= 3 and rs[-1]["accepted"], "ans-401: kept and retried until accepted (%d retries)" % len(rs))
        loud = [line for line in log_lines(run.log, "401") if loud_for_w(line)]
        check(loud, "ans-401: a warn/error log line with output=w and 401: %r" % log_lines(run.log, "401")[:2])
    check_delivery("ans-401", run_file(run), run.writes)


def creates(reqs, db="pf"):
    out = []
    for r in reqs:
        if r["path"].endswith("/query"):
            q = r["query"].get("q") or dict(urllib.parse.parse_qsl(r["body"])).get("q", "")
            if q.strip().upper().startswith("CREATE DATABASE") and db in q:
                out.append((r, q))
    return out


def case_ans_404():
    run = answer_case("ans-404", [], ws_args=["--strict-db"])
    cr = creates(run.reqs)
    if check(cr, "ans-404: CREATE DATABASE sent"):
        check(cr[0][1].strip() == 'CREATE DATABASE "pf"', "ans-404: statement %r" % cr[0][1])
        nf = first(run.writes, 404)
        if nf:
            check(any(r["i"] > nf["i"] for r, _ in cr), "ans-404: CREATE DATABASE after the 404")
    check(any(r["accepted"] for r in run.writes), "ans-404: writes accepted")
    check_delivery("ans-404", run_file(run), run.writes)


def case_ans_404_again():
    # CREATE DATABASE answers 200, yet writes keep getting "database not
    # found" (InfluxDB answers a CREATE it refuses with 200 and an error in
    # the body): one CREATE, then backoff and a loud line, not a tight
    # write -> 404 -> CREATE loop.
    nf = {"status": 404, "body": '{"error":"database not found: \\"pf\\""}', "times": 12}
    run = answer_case("ans-404-again", [nf], out_keys="precision = ms\nflush_interval = 200ms\n"
                      "retry_max_backoff = 300ms\n")
    cr = creates(run.reqs)
    check(len(cr) == 1, "ans-404-again: one CREATE DATABASE, not one per refused write (got %d)" % len(cr))
    loud = [line for line in run.log.splitlines() if "still not found" in line and loud_for_w(line)]
    check(loud, "ans-404-again: 'still not found after CREATE DATABASE' logged loudly")
    check_delivery("ans-404-again", run_file(run), run.writes)


def case_ans_404_nocreate():
    def later(run):
        ok = run.daemon.wait(lambda: sum(1 for r in run.ws.writes() if r["answer"] == 404) >= 3, 20,
                             "ans-404-nocreate: writes refused with 404")
        if ok:
            run.ws.config(dbs=["pf"])
            run.daemon.wait(lambda: sum(1 for r in run.ws.writes() if r["accepted"]) >= 2, 20,
                            "ans-404-nocreate: delivered once the database exists")
    run = answer_case("ans-404-nocreate", [], out_keys=DEFAULT_OUT + "create_database = false\n",
                      ws_args=["--strict-db"], n_after=0, extra=later)
    check(not creates(run.reqs), "ans-404-nocreate: no CREATE DATABASE")
    loud = [line for line in run.log.splitlines()
            if ("404" in line or "database not found" in line) and loud_for_w(line)]
    check(loud, "ans-404-nocreate: 404 logged as warn/error")
    check_delivery("ans-404-nocreate", run_file(run), run.writes)


def case_ans_reset():
    run = answer_case("ans-reset", [{"reset": True}, {"reset": True}])
    check(sum(1 for r in run.writes if r["answer"] == "reset") == 2, "ans-reset: two resets given")
    check_delivery("ans-reset", run_file(run), run.writes)


def case_ans_5xx():
    run = answer_case("ans-5xx", [{"status": s, "body": "{\"error\":\"overloaded\"}"} for s in (503, 500, 502, 504)])
    check(sum(1 for r in run.writes if isinstance(r["answer"], int) and r["answer"] >= 500) == 4,
          "ans-5xx: four 5xx answers given")
    check_delivery("ans-5xx", run_file(run), run.writes)


def case_ans_timeout():
    def slow_answer_saved(run):
        # The server records a request when it answers it, 3 s after it came.
        run.daemon.wait(lambda: first(run.ws.writes(), 503), 10, "ans-timeout: the slow answer given")
    run = answer_case("ans-timeout", [{"delay_ms": 3000, "status": 503}],
                      out_keys=DEFAULT_OUT + "timeout = 1s\n", extra=slow_answer_saved)
    r0 = first(run.writes, 503)
    if check(r0, "ans-timeout: the slow answer was recorded"):
        rs = retries_of(run.writes, r0)
        # "mono" is the arrival; the slow answer came 3 s later.
        if check(rs, "ans-timeout: the batch was sent again"):
            dt = rs[0]["mono"] - r0["mono"]
            check(0.9 <= dt < 3.0, "ans-timeout: retried %.2f s after, want after the 1 s timeout and "
                  "before the slow answer" % dt)
    check_delivery("ans-timeout", run_file(run), run.writes)


def case_start_badauth():
    with Run("start-badauth", out_keys=DEFAULT_OUT + "username = alice\npassword = wrong\n",
             ws_args=["--user", "alice", "--password", "right"]) as run:
        run.daemon.wait(lambda: any(
            loud_for_w(line) and ("401" in line or "credential" in line or "auth" in line)
            for line in run.daemon.log().splitlines()), 10, "start-badauth: wrong credentials logged")
        time.sleep(1.5)
        check(run.daemon.proc.poll() is None, "start-badauth: still running")
        run.ws.config(password="wrong")
        run.daemon.wait(lambda: sum(1 for r in run.ws.writes() if r["accepted"]) >= 2, 20,
                        "start-badauth: delivered once the server takes the credentials")
        run.stop()
    first_req = run.reqs[0] if run.reqs else None
    check(first_req is not None and first_req["mono"] - run.daemon.t0 < 3,
          "start-badauth: the output was checked at start")
    note("start-badauth: first requests %r" % [(r["path"], r["query"].get("q"), r["answer"]) for r in run.reqs[:3]])
    check_delivery("start-badauth", run_file(run), run.writes)


def case_shutdown_flush():
    with Run("shutdown-flush", out_keys="precision = ms\nflush_interval = 60s\nbatch_lines = 100000\n"
             "batch_bytes = 64MiB\n", global_keys="shutdown_timeout = 10s") as run:
        run.daemon.wait(lambda: len(run.file_lines()) >= 3 * NSERIES, 15, "shutdown-flush: three scrapes")
        early = run.ws.stats()["accepted_writes"]
        run.stop()
        took = run.daemon.stop_s
    check(early == 0, "shutdown-flush: nothing sent before the flush interval (%d writes)" % early)
    check(took < 10, "shutdown-flush: exit within shutdown_timeout (%.1f s)" % took)
    check_delivery("shutdown-flush", run_file(run), run.writes)


def case_shutdown_deadline():
    script = [{"status": 503, "times": -1}]
    with Run("shutdown-deadline", script=script, global_keys="shutdown_timeout = 2s") as run:
        run.daemon.wait(lambda: run.ws.stats()["writes"] >= 2, 15, "shutdown-deadline: writes refused")
        run.stop()
        took = run.daemon.stop_s
    # 2 s for the outputs plus at most 5 s for scrapes in flight (README).
    check(took < 7.5, "shutdown-deadline: exit %.1f s after SIGTERM, want about shutdown_timeout = 2 s" % took)
    note("shutdown-deadline: exit %.2f s after SIGTERM" % took)


def case_buffer_limit():
    script = [{"status": 503, "times": -1}]

    def outage(run):
        time.sleep(8)
        run.ws.script([])
        run.daemon.wait(lambda: sum(1 for r in run.ws.writes() if r["accepted"]) >= 3, 20,
                        "buffer-limit: writes accepted after the outage")
        time.sleep(1)
    with Run("buffer-limit", script=script,
             out_keys=DEFAULT_OUT + "buffer_limit = 16KiB\nbatch_bytes = 8KiB\nspool = false\n") as run:
        outage(run)
        run.stop()
    lines = run_file(run)
    accepted = collections.Counter(line for r in run.writes if r["accepted"] for line in write_lines(r))
    dup = [k for k, n in accepted.items() if n > 1]
    check(not dup, "buffer-limit: no line accepted twice (%d)" % len(dup))
    check(all(k in set(lines) for k in accepted), "buffer-limit: accepted lines come from the file output")
    missing = [line for line in lines if not accepted[line]]
    check(missing, "buffer-limit: some lines dropped while the server failed (buffer 16KiB)")
    if missing:
        newest_missing = max(parse_line(line)[3] for line in missing)
        later = [line for line in lines if parse_line(line)[3] > newest_missing and not accepted[line]]
        check(not later, "buffer-limit: only the oldest were dropped")
        kept = [line for line in lines if parse_line(line)[3] > newest_missing]
        check(kept, "buffer-limit: the newest lines were delivered")
        note("buffer-limit: %d of %d lines dropped" % (len(missing), len(lines)))
    loud = [line for line in run.log.splitlines() if "drop" in line and ("level=warn" in line or "level=error" in line)]
    check(loud, "buffer-limit: the drop is logged")


def case_buffer_spool():
    # Every answer takes 700 ms, one write at a time, batches of 8 KiB: the
    # scrapes make more than that, the 16 KiB buffer overflows and, with
    # the spool on (the default), batches go to disk instead of away; once
    # the answers are quick, every line arrives exactly once.
    script = [{"delay_ms": 700, "status": 204, "times": -1}]
    with Run("buffer-spool", script=script,
             out_keys=DEFAULT_OUT + "buffer_limit = 16KiB\nbatch_bytes = 8KiB\nmax_in_flight = 1\n") as run:
        run.daemon.wait(lambda: "batches go to the spool" in run.daemon.log(), 20,
                        "buffer-spool: the buffer overflowed into the spool")
        time.sleep(2)
        run.ws.script([])
        run.daemon.wait(lambda: "spool replayed" in run.daemon.log(), 30, "buffer-spool: the spool replayed")
        time.sleep(1.5)
        run.stop()
    said = [line for line in run.log.splitlines() if "buffer_limit (16384 bytes) reached" in line]
    check(said and "level=warn" in said[0] and "batches go to the spool" in said[0],
          "buffer-spool: a warning says the buffer overflowed into the spool: %r" % said[:1])
    check(not [line for line in run.log.splitlines() if "dropped the oldest" in line],
          "buffer-spool: nothing dropped at buffer_limit while the spool takes it")
    check_delivery("buffer-spool", run_file(run), run.writes)


def case_batch_limits():
    with Run("batch-limits", out_keys=DEFAULT_OUT + "batch_lines = 30\nbatch_bytes = 2KiB\n") as run:
        run.daemon.wait(lambda: len(run.file_lines()) >= 3 * NSERIES, 15, "batch-limits: three scrapes")
        run.stop()
    sizes = [(r["lines"], len(r["body"].encode())) for r in run.writes]
    check(sizes and max(n for n, _ in sizes) <= 30, "batch-limits: at most 30 lines a write: %r" % sizes[:8])
    check(sizes and max(b for _, b in sizes) <= 2048, "batch-limits: at most 2 KiB a write: %r" % sizes[:8])
    check(sizes and max(n for n, _ in sizes) >= 10, "batch-limits: batches are not single lines: %r" % sizes[:8])
    note("batch-limits: %d writes, lines/bytes %r" % (len(sizes), sizes[:6]))
    check_delivery("batch-limits", run_file(run), run.writes)


def max_overlap(reqs):
    ev = sorted([(r["mono"], 1) for r in reqs] + [(r["done"], -1) for r in reqs])
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def case_in_flight():
    # Every answer takes 1 s; a scrape makes 4 batches a second: the queue
    # grows and the daemon has as many writes in flight as it may.
    script = [{"delay_ms": 1000, "status": 204, "times": -1}]
    with Run("in-flight", script=script,
             out_keys=DEFAULT_OUT + "batch_lines = 30\nmax_in_flight = 2\n") as run:
        run.daemon.wait(lambda: run.ws.stats()["accepted_writes"] >= 8, 20, "in-flight: writes answered")
        run.ws.script([])
        time.sleep(1.5)
        run.stop()
    m = max_overlap(run.writes)
    check(m == 2, "in-flight: at most and at last 2 writes at once with max_in_flight = 2 (saw %d)" % m)
    check_delivery("in-flight", run_file(run), run.writes)


def case_isolation():
    # A second output that never answers within its timeout and a third whose
    # port refuses: the first output still gets every scrape within a second.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    with WriteServer("--script", json.dumps([{"delay_ms": 30000, "status": 204, "times": -1}])) as slow:
        extra = """[output "slow"]
type = influxdb_v1
url = %s
database = pf
precision = ms
timeout = 20s
[output "dead"]
type = influxdb_v2
url = http://127.0.0.1:%d
org = o
bucket = b
token = t
precision = ms
""" % (slow.base, dead)
        with Run("isolation", extra_outputs=extra, global_keys="shutdown_timeout = 3s") as run:
            run.daemon.wait(lambda: len(run.file_lines()) >= 5 * (NSERIES + 5), 15, "isolation: five scrapes")
            time.sleep(1.0)
            n_file = len(run.file_lines())
            n_acc = run.ws.stats()["lines"]
            check(n_acc >= n_file - 2 * (NSERIES + 5),
                  "isolation: output w keeps up while the others hang or refuse (%d of %d lines)" % (n_acc, n_file))
            run.ws.script([])
            rc = run.daemon.stop()
            run.log = run.daemon.log()
            run.writes = run.ws.writes()
        check(rc == 0, "isolation: exit 0")
    check_delivery("isolation", run_file(run), run.writes)


CASES = {
    "batch-limits": case_batch_limits, "in-flight": case_in_flight, "isolation": case_isolation,
    "req-v1": case_req_v1, "req-v1-file": case_req_v1_file, "req-v2": case_req_v2,
    "req-v2-file": case_req_v2_file, "req-plain": case_req_plain,
    "ans-413": case_ans_413, "ans-307": case_ans_307, "ans-429": case_ans_429, "ans-503-date": case_ans_503_date,
    "ans-400": case_ans_400, "ans-400-big": case_ans_400_big, "ans-401": case_ans_401, "ans-404": case_ans_404,
    "ans-404-nocreate": case_ans_404_nocreate, "ans-404-again": case_ans_404_again, "ans-reset": case_ans_reset, "ans-5xx": case_ans_5xx,
    "ans-timeout": case_ans_timeout, "start-badauth": case_start_badauth,
    "shutdown-flush": case_shutdown_flush, "shutdown-deadline": case_shutdown_deadline,
    "buffer-limit": case_buffer_limit, "buffer-spool": case_buffer_spool,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_outputs.py CASE (%s)" % ", ".join(CASES))
        return 2
    CASES[sys.argv[1]]()
    print("%s: %s" % (sys.argv[1], "FAILED (%d)" % len(failures) if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
