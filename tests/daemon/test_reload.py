#!/usr/bin/python3
"""test_reload.py: reloading the configuration, and the own endpoint.

    test_reload.py CASE

Cases:
  endpoint      /healthz, /ready, /metrics (parsed with
                prometheus_client's own text parser: every family and the
                per-target series), 404 elsewhere
  targets       SIGHUP adds a job (its target is scraped, the kept target's
                counters carry on), removes one (no more of its lines), an
                invalid file is reported FILE:LINE and changes nothing,
                reload counters in /metrics
  output        an InfluxDB output that fails everything holds points; a
                reload pointing it at a working server delivers every point
                the file output recorded, exactly once (nothing held or in
                flight is lost); the endpoint moves to a new listen address
  watch         watch_config = on: an atomic rename of a new file reloads
                without a signal; touching it without a change does not
  storm         50 SIGHUPs in a row while scraping and writing: still one
                scrape at a time per target, every point delivered once,
                clean exit
"""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "outputs"))
from outlib import (Daemon, FaultServer, WriteServer, check, check_delivery, failures,  # noqa: E402
                    free_port, log_lines, note, own_get, own_metrics, read_lines, tmpdir)


def get(port, path):
    return own_get(port, path)


def metrics(port):
    return own_metrics(port)


def mval(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


def write_conf(path, text):
    """Atomically, as an editor or a ConfigMap update does."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def reload(daemon, n_before):
    """SIGHUP, then wait for the (n_before + 1)th reload to be logged done."""
    daemon.proc.send_signal(signal.SIGHUP)
    return daemon.wait(lambda: len(reload_ends(daemon.log())) > n_before, 10, "reload %d logged" % (n_before + 1))


def reload_ends(log):
    return [line for line in log.splitlines() if "msg=\"reloaded:" in line or "msg=reloaded:" in line
            or "reload of" in line and "failed" in line]


def lines_of(path, url):
    return [line for line in read_lines(path) if url.replace(":", "\\:") in line or url in line]


def conf(port, jobs, outputs, extra_global=""):
    text = "[global]\ninterval = 1s\nhostname = pfhost\nlisten = 127.0.0.1:%d\n%s\n" % (port, extra_global)
    for name, url in jobs:
        text += '[job "%s"]\nurl = %s\nschema = influxdb-prom\n\n' % (name, url)
    return text + outputs


def file_output(d, name="f", fname="out.lp"):
    return '[output "%s"]\ntype = file\npath = %s\nprecision = ms\n\n' % (name, os.path.join(d, fname))


def case_endpoint():
    d = tmpdir()
    port = free_port()
    with FaultServer("--payload", payload(d)) as fs:
        with Daemon(d, conf(port, [("a", fs.url)], file_output(d))) as dm:
            dm.wait(lambda: get(port, "/healthz")[0] == 200, 10, "/healthz answers")
            st, body = get(port, "/healthz")
            check(st == 200 and body.strip() == "ok", "/healthz: 200 ok (got %r %r)" % (st, body))
            dm.wait(lambda: lines_of(os.path.join(d, "out.lp"), fs.url), 10, "a scrape written")
            st, body = get(port, "/ready")
            check(st == 200, "/ready: 200 with a file output (got %r %r)" % (st, body))
            st, _ = get(port, "/nope")
            check(st == 404, "unknown path: 404 (got %r)" % st)
            m = metrics(port)
            check(mval(m, "promflux_target_up", job="a", target=fs.url) == 1, "promflux_target_up{job=a} = 1")
            ok = mval(m, "promflux_target_scrapes_total", job="a", target=fs.url, result="ok")
            check(ok is not None and ok >= 1, "promflux_target_scrapes_total{result=ok} >= 1 (got %r)" % ok)
            check(mval(m, "promflux_scrape_duration_seconds_count", job="a") == ok,
                  "the job's duration histogram counts every scrape (%r vs %r)"
                  % (mval(m, "promflux_scrape_duration_seconds_count", job="a"), ok))
            rss = mval(m, "process_resident_memory_bytes")
            check(rss is not None and rss > 1e6, "process_resident_memory_bytes plausible (%r)" % rss)
            check(mval(m, "promflux_output_up", output="f") == 1, "promflux_output_up{output=f} = 1")
            check(mval(m, "promflux_output_bytes_total", output="f") > 0, "bytes written to the file counted")
            check(any(k[0] == "promflux_build_info" for k in m), "promflux_build_info present")
            scraped = mval(m, "promflux_samples_scraped_total")
            check(scraped is not None and scraped >= 20 * ok,
                  "promflux_samples_scraped_total counts the payload's 20 samples a scrape (%r, %r scrapes)"
                  % (scraped, ok))
            check(mval(m, "promflux_samples_dropped_total", reason="filtered") == 0, "nothing filtered")
            check(dm.stop() == 0, "exit 0")


def payload(d):
    path = os.path.join(d, "payload.txt")
    with open(path, "w") as f:
        f.write("# TYPE pf_gauge gauge\n")
        for i in range(20):
            f.write('pf_gauge{i="%d"} %d\n' % (i, i))
    return path


def case_targets():
    d = tmpdir()
    port = free_port()
    out = os.path.join(d, "out.lp")
    p = payload(d)
    with FaultServer("--payload", p) as fa, FaultServer("--payload", p) as fb:
        with Daemon(d, conf(port, [("a", fa.url)], file_output(d))) as dm:
            dm.wait(lambda: len(lines_of(out, fa.url)) > 0, 10, "job a scraped")
            dm.wait(lambda: (mval(metrics(port), "promflux_target_scrapes_total", job="a", target=fa.url,
                                  result="ok") or 0) >= 2, 10, "two scrapes of a")
            before = mval(metrics(port), "promflux_target_scrapes_total", job="a", target=fa.url, result="ok")
            # Add job b.
            write_conf(dm.conf, conf(port, [("a", fa.url), ("b", fb.url)], file_output(d)))
            reload(dm, 0)
            dm.wait(lambda: len(lines_of(out, fb.url)) > 0, 10, "job b scraped after the reload")
            m = metrics(port)
            after = mval(m, "promflux_target_scrapes_total", job="a", target=fa.url, result="ok")
            check(after is not None and after >= before,
                  "the kept target's counter carries on over the reload (%r -> %r)" % (before, after))
            check(mval(m, "promflux_config_reloads_total", result="ok") == 1, "one reload counted")
            check(mval(m, "promflux_targets") == 2, "two targets")
            log = dm.log()
            check(log_lines(log, "outputs: 1 kept, 0 changed, 0 added, 0 removed"),
                  "the unchanged file output is kept")
            # An invalid file: reported with FILE:LINE, nothing changes.
            bad = conf(port, [("a", fa.url)], file_output(d)) + "bogus_key = 1\n"
            write_conf(dm.conf, bad)
            reload(dm, 1)
            log = dm.log()
            nline = bad.splitlines().index("bogus_key = 1") + 1
            check(log_lines(log, "reload: %s:%d" % (dm.conf, nline), "bogus_key"),
                  "the bad key is reported as FILE:%d" % nline)
            check(log_lines(log, "running configuration is kept"), "the failed reload says the old one runs on")
            nb = len(lines_of(out, fb.url))
            dm.wait(lambda: len(lines_of(out, fb.url)) >= nb + 2, 10, "job b still scraped after a failed reload")
            m = metrics(port)
            check(mval(m, "promflux_config_reloads_total", result="failed") == 1, "the failed reload counted")
            # Remove job a.
            write_conf(dm.conf, conf(port, [("b", fb.url)], file_output(d)))
            reload(dm, 2)
            time.sleep(1.5)  # a scrape of a in flight at the reload may still land
            na = len(lines_of(out, fa.url))
            nb = len(lines_of(out, fb.url))
            time.sleep(2.5)
            check(len(lines_of(out, fa.url)) == na, "no more lines of the removed job")
            check(len(lines_of(out, fb.url)) > nb, "job b goes on")
            check(mval(metrics(port), "promflux_targets") == 1, "one target after the removal")
            check(dm.stop() == 0, "exit 0")
            busy = log_lines(dm.log(), "scrape not started: the previous one is still running")
            check(not busy, "never two scrapes of one target at once: %r" % busy[:2])


def influx_output(ws, extra=""):
    # An inline password: a kept output must not borrow it from the
    # configuration a reload frees (ASan found that once).
    return ('[output "w"]\ntype = influxdb_v1\nurl = %s\ndatabase = pf\nprecision = ms\n'
            'username = u\npassword = inline-secret\n'
            'flush_interval = 200ms\nretry_max_backoff = 1s\n%s\n' % (ws.base, extra))


def case_output():
    d = tmpdir()
    port, port2 = free_port(), free_port()
    out = os.path.join(d, "out.lp")
    p = payload(d)
    with FaultServer("--payload", p) as fs, \
            WriteServer("--script", '[{"status": 503, "times": -1}]') as bad, WriteServer() as good:
        outputs = file_output(d)
        with Daemon(d, conf(port, [("a", fs.url)], influx_output(bad) + outputs)) as dm:
            dm.wait(lambda: len(bad.writes()) >= 3, 15, "writes refused by the failing server")
            m = metrics(port)
            check(mval(m, "promflux_output_up", output="w") == 0, "a server answering 503 is not up")
            check((mval(m, "promflux_output_retries_total", output="w") or 0) >= 1, "retries counted")
            held = (mval(m, "promflux_output_buffer_bytes", output="w") or 0) + \
                (mval(m, "promflux_output_spool_pending_points", output="w") or 0)
            check(held > 0, "points held in the buffer or the spool")
            # The output now points to a working server, and the endpoint moves.
            text = conf(port2, [("a", fs.url)], influx_output(good) + outputs)
            write_conf(dm.conf, text)
            reload(dm, 0)
            dm.wait(lambda: get(port2, "/healthz")[0] == 200, 10, "the endpoint on its new address")
            check(get(port, "/healthz")[0] is None, "the old address is closed")
            check(log_lines(dm.log(), "took over", "points held by the previous configuration"),
                  "the new output says it took the held points")
            dm.wait(lambda: len(good.writes()) >= 2, 10, "writes to the new server")
            time.sleep(1.5)
            st = dm.stop()
            check(st == 0, "exit 0")
            writes = [w for w in good.writes()]
            check_delivery("changed output", read_lines(out), writes)
            check(not any(w["accepted"] for w in bad.writes()), "the failing server accepted nothing")


def case_watch():
    d = tmpdir()
    port = free_port()
    out = os.path.join(d, "out.lp")
    p = payload(d)
    with FaultServer("--payload", p) as fa, FaultServer("--payload", p) as fb:
        with Daemon(d, conf(port, [("a", fa.url)], file_output(d), "watch_config = on")) as dm:
            dm.wait(lambda: len(lines_of(out, fa.url)) > 0, 10, "job a scraped")
            check(log_lines(dm.log(), "watching", d), "says which directory it watches")
            # Touching without a change: no reload.
            os.utime(dm.conf)
            time.sleep(1.5)
            check(not reload_ends(dm.log()), "a touch without a change does not reload")
            write_conf(dm.conf, conf(port, [("a", fa.url), ("b", fb.url)], file_output(d), "watch_config = on"))
            dm.wait(lambda: len(reload_ends(dm.log())) >= 1, 10, "the change reloads without a signal")
            check(log_lines(dm.log(), "the file changed"), "the reload names its cause")
            dm.wait(lambda: len(lines_of(out, fb.url)) > 0, 10, "job b scraped after the watched reload")
            check(dm.stop() == 0, "exit 0")


def case_storm():
    d = tmpdir()
    port = free_port()
    out = os.path.join(d, "out.lp")
    p = payload(d)
    with FaultServer("--payload", p) as fa, FaultServer("--payload", p) as fb, WriteServer() as ws:
        outputs = influx_output(ws) + file_output(d)
        texts = [conf(port, [("a", fa.url)], outputs).replace("interval = 1s", "interval = 200ms"),
                 conf(port, [("a", fa.url), ("b", fb.url)], outputs).replace("interval = 1s", "interval = 200ms")]
        with Daemon(d, texts[0]) as dm:
            dm.wait(lambda: len(read_lines(out)) > 0, 10, "scraped")
            for i in range(50):
                write_conf(dm.conf, texts[i % 2])
                dm.proc.send_signal(signal.SIGHUP)
                time.sleep(0.05)
            dm.wait(lambda: len(reload_ends(dm.log())) >= 1, 10, "reloads done")
            time.sleep(1.5)
            check(dm.proc.poll() is None, "still running after 50 SIGHUPs")
            check(get(port, "/healthz")[0] == 200, "/healthz after the storm")
            check(dm.stop() == 0, "exit 0")
            log = dm.log()
            # The scheduler's "a tick was skipped ... still running" is allowed (a
            # scrape under valgrind may outlast 200 ms); the scraper refusing a
            # start it was asked for is not.
            check(not log_lines(log, "scrape not started: the previous one is still running"),
                  "never two scrapes of one target at once")
            check_delivery("reload storm", read_lines(out), ws.writes())
            n = len(reload_ends(log))
            note("%d reloads logged for 50 SIGHUPs" % n)
            check(n >= 10, "the reloads happened (%d logged)" % n)


CASES = {"endpoint": case_endpoint, "targets": case_targets, "output": case_output, "watch": case_watch,
         "storm": case_storm}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: test_reload.py {%s}" % "|".join(CASES))
    CASES[sys.argv[1]]()
    if failures:
        print("FAILED: %d check(s)" % len(failures))
        sys.exit(1)
    print("ok")
