#!/usr/bin/python3
"""test_k8s_yaml.py: the Kubernetes example (docker/kubernetes/*.yaml) agrees
with itself and with promflux.

No cluster runs here, so what a cluster would find out at apply time or at
the first probe is checked by reading the manifests:

  check   every document parses and has apiVersion, kind, metadata.name; the
          promflux container's probes hit the port and paths that `listen`
          in the ConfigMap's promflux.ini serves, on an address the kubelet
          can reach; the config file is where the ConfigMap is mounted (as a
          directory, so updates reach it), every file the config names
          (token_file, password_file, tls_*, file outputs) is under a mount,
          a Secret's file is a key of that Secret, the state directory is a
          writable volume; every ${VAR} of the config is set in the
          container's env and each Secret/ConfigMap key it references
          exists; the security context is locked down; the grace period
          outlasts the daemon's stop; the memory limit holds the output
          buffers; the scraped localhost port is a port of the pod. Then
          `$PROMFLUX -n` loads the ConfigMap's promflux.ini with exactly the
          env the Deployment sets (fake values for fieldRefs, the Secret's
          placeholder). Each rule is also shown to fail: a broken copy of
          the manifests (wrong probe port, subPath mount, missing Secret
          key, ...) must be reported, and -n without the env must fail.
  schema  every field of every document is a field of the Kubernetes API
          (python3-kubernetes' models, API 1.22: a typo such as
          `readinesProbe` is silently dropped by an old kubectl), of the
          right type, required fields present. Exit 77 (skip) without
          python3-kubernetes.
Usage: test_k8s_yaml.py check|schema   (env: PF_SRC, PROMFLUX)
"""
import copy
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

SRC = os.environ.get("PF_SRC") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PROMFLUX = os.environ.get("PROMFLUX", "")
K8S_DIR = os.path.join(SRC, "docker", "kubernetes")
DOCKERFILE = os.path.join(SRC, "docker", "Dockerfile")

DEFAULT_CONFIG = "/etc/promflux/promflux.ini"  # promflux's -c default
STATE_DIR = "/var/lib/promflux"
# How long promflux may take to stop: scrapes in flight get at most 5 s,
# then each InfluxDB output shutdown_timeout (README "Signals").
SCRAPE_GRACE_S = 5
DEFAULT_SHUTDOWN_S = 10
# Memory: RSS of the daemon scraping one node_exporter-sized target,
# measured at 11-12 MB (docker/README.md), rounded up; plus per InfluxDB
# output its buffer_limit and the batches in flight (batch_bytes *
# max_in_flight, once raw and once gzipped).
BASELINE_RSS = 16 << 20
# Keys whose value is a file promflux reads or writes.
FILE_KEYS = {"token_file", "password_file", "bearer_token_file", "tls_ca", "tls_cert", "tls_key"}


# ---------------------------------------------------------------- parsing --

def load_docs():
    files = sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml")) + glob.glob(os.path.join(K8S_DIR, "*.yml")))
    if not files:
        sys.exit("no YAML file in %s" % K8S_DIR)
    docs = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for d in yaml.safe_load_all(fh):
                if d is not None:
                    docs.append((os.path.basename(f), d))
    return docs


def parse_ini(text):
    """The subset of promflux's INI syntax the check needs: sections, keys,
    repeated keys as lists, ';'/'#' comment lines and ' ;' comments after a
    value, one pair of quotes around a value removed."""
    ini = {}
    sec = None
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in ";#":
            continue
        if s.startswith("["):
            sec = s[1:s.index("]")].strip()
            ini.setdefault(sec, {})
            continue
        if "=" not in s or sec is None:
            continue
        k, v = s.split("=", 1)
        v = re.split(r"[ \t];", v, maxsplit=1)[0].strip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        ini[sec].setdefault(k.strip(), []).append(v)
    return ini


def one(ini, sec, key, default=None):
    v = ini.get(sec, {}).get(key)
    return v[-1] if v else default


def duration_s(text):
    """Go-style duration (10s, 1m30s, 500ms) in seconds."""
    if text == "0":
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError("bad duration %r" % text)
    return sum(float(a) * units[b] for a, b in parts)


def size_bytes(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?", text)
    if not m:
        raise ValueError("bad size %r" % text)
    mult = {None: 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    return int(float(m.group(1)) * mult[m.group(2)])


def quantity(text):
    """Kubernetes quantity (64Mi, 100m, 1) as a number (bytes or cores)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?", str(text))
    if not m:
        raise ValueError("bad quantity %r" % text)
    mult = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return float(m.group(1)) * mult[m.group(2)]


def dockerfile_user():
    with open(DOCKERFILE, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*USER\s+(\d+)", line)
            if m:
                return int(m.group(1))
    return None


def under(path, mount):
    return path == mount or path.startswith(mount.rstrip("/") + "/")


# ---------------------------------------------------------------- checks --

def secret_keys(sec):
    return set((sec.get("data") or {}).keys()) | set((sec.get("stringData") or {}).keys())


def secret_value(sec, key):
    import base64
    if key in (sec.get("stringData") or {}):
        return str(sec["stringData"][key])
    return base64.b64decode(sec["data"][key]).decode()


def find(docs, kind, name):
    for _, d in docs:
        if d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name:
            return d
    return None


def analyse(docs):
    """Checks the manifests; returns (problems, ini text, env for promflux)."""
    P = []
    for f, d in docs:
        for key in ("apiVersion", "kind"):
            if not d.get(key):
                P.append("%s: a document has no %s" % (f, key))
        if not (d.get("metadata") or {}).get("name"):
            P.append("%s: %s without metadata.name" % (f, d.get("kind")))
        if d.get("kind") == "ConfigMap" and not isinstance(d.get("data"), dict):
            P.append("%s: ConfigMap %s has no data" % (f, d["metadata"].get("name")))
        if d.get("kind") == "Secret" and not secret_keys(d):
            P.append("%s: Secret %s has no key" % (f, d["metadata"].get("name")))

    work = [d for _, d in docs if d.get("kind") in ("Deployment", "Pod")]
    if len(work) != 1:
        P.append("expected one Deployment or Pod, found %d" % len(work))
        return P, None, None
    w = work[0]
    if w["kind"] == "Deployment":
        spec = w["spec"]["template"]["spec"]
        tl = (w["spec"]["template"].get("metadata") or {}).get("labels") or {}
        sel = (w["spec"].get("selector") or {}).get("matchLabels") or {}
        if not sel or any(tl.get(k) != v for k, v in sel.items()):
            P.append("Deployment: selector.matchLabels %r do not select the template's labels %r" % (sel, tl))
    else:
        spec = w["spec"]
    containers = spec.get("containers") or []
    pf = [c for c in containers if c.get("name") == "promflux" or "promflux" in str(c.get("image", ""))]
    if len(pf) != 1:
        P.append("expected one promflux container, found %d" % len(pf))
        return P, None, None
    pf = pf[0]
    apps = [c for c in containers if c is not pf]
    if not apps:
        P.append("no application container beside promflux: it is meant as a sidecar")

    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = pf.get("volumeMounts") or []
    for m in mounts:
        if m["name"] not in volumes:
            P.append("promflux mounts volume %r, which the pod does not define" % m["name"])

    # The configuration file: -c PATH (or the default) inside a ConfigMap
    # mounted as a directory.
    args = list(pf.get("command") or []) + list(pf.get("args") or [])
    cfg_path = DEFAULT_CONFIG
    if "-c" in args:
        cfg_path = args[args.index("-c") + 1]
    cfg_mount = [m for m in mounts if under(cfg_path, m["mountPath"])]
    ini_text = None
    if not cfg_mount:
        P.append("config file %s is under no volumeMount of promflux" % cfg_path)
    else:
        m = max(cfg_mount, key=lambda x: len(x["mountPath"]))
        vol = volumes.get(m["name"], {})
        if m.get("subPath"):
            P.append("config volume %r is mounted with subPath: ConfigMap updates never reach it" % m["name"])
        if "configMap" not in vol:
            P.append("config file %s is not in a ConfigMap volume" % cfg_path)
        else:
            cm = find(docs, "ConfigMap", vol["configMap"]["name"])
            rel = cfg_path[len(m["mountPath"].rstrip("/")) + 1:]
            key = rel
            for it in vol["configMap"].get("items") or []:
                if it["path"] == rel:
                    key = it["key"]
            if cm is None:
                P.append("ConfigMap %r (volume %r) is not among the manifests" % (vol["configMap"]["name"], m["name"]))
            elif key not in (cm.get("data") or {}):
                P.append("ConfigMap %r has no key %r for %s" % (cm["metadata"]["name"], key, cfg_path))
            else:
                ini_text = cm["data"][key]
    if ini_text is None:
        return P, None, None
    ini = parse_ini(ini_text)

    # listen and the probes.
    listen = one(ini, "global", "listen", "127.0.0.1:9465")
    ports = {p.get("name"): p["containerPort"] for p in pf.get("ports") or []}
    if listen == "off":
        P.append("[global] listen = off: the probes have no endpoint")
    else:
        host, _, port = listen.rpartition(":")
        if host not in ("0.0.0.0", "[::]", "::", ""):
            P.append("[global] listen = %s: the kubelet probes the pod IP, so listen on 0.0.0.0" % listen)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/ready")):
            pr = pf.get(probe)
            if not pr or "httpGet" not in pr:
                P.append("promflux has no %s.httpGet" % probe)
                continue
            hg = pr["httpGet"]
            pport = hg.get("port")
            if isinstance(pport, str):
                if pport not in ports:
                    P.append("%s port %r is not a named port of promflux" % (probe, pport))
                pport = ports.get(pport)
            if str(pport) != port:
                P.append("%s probes port %s, promflux listens on %s" % (probe, pport, listen))
            if hg.get("path") != path:
                P.append("%s path %r, expected %s" % (probe, hg.get("path"), path))
            if hg.get("scheme", "HTTP") != "HTTP":
                P.append("%s scheme %s: the endpoint is plain HTTP" % (probe, hg.get("scheme")))
        if port not in [str(p) for p in ports.values()]:
            P.append("listen port %s is not a containerPort of promflux" % port)
    if one(ini, "global", "watch_config", "off").lower() not in ("on", "true", "yes", "1"):
        P.append("[global] watch_config is not on: a ConfigMap update would wait for a SIGHUP")

    # Files the config names, and the state directory.
    def mount_of(path):
        ms = [m for m in mounts if under(path, m["mountPath"])]
        return max(ms, key=lambda x: len(x["mountPath"])) if ms else None

    for sec, keys in ini.items():
        for k, vals in keys.items():
            is_out_path = k == "path" and sec.startswith("output") and one(ini, sec, "type") == "file"
            if k not in FILE_KEYS and not is_out_path:
                continue
            for v in vals:
                if "${" in v:
                    continue
                m = mount_of(v)
                if m is None:
                    P.append("[%s] %s = %s is under no volumeMount of promflux (read-only root)" % (sec, k, v))
                    continue
                vol = volumes.get(m["name"], {})
                if is_out_path and m.get("readOnly"):
                    P.append("[%s] path = %s is on a read-only mount" % (sec, v))
                if "secret" in vol:
                    s = find(docs, "Secret", vol["secret"]["secretName"])
                    rel = v[len(m["mountPath"].rstrip("/")) + 1:]
                    key = rel
                    for it in vol["secret"].get("items") or []:
                        if it["path"] == rel:
                            key = it["key"]
                    if s is None or key not in secret_keys(s):
                        P.append("[%s] %s = %s: Secret %r has no key %r" % (sec, k, v, vol["secret"]["secretName"], key))
    sm = mount_of(STATE_DIR)
    if sm is None or sm["mountPath"].rstrip("/") != STATE_DIR:
        P.append("%s (the state directory) is not a volumeMount of promflux" % STATE_DIR)
    else:
        vol = volumes.get(sm["name"], {})
        if sm.get("readOnly") or not ("emptyDir" in vol or "persistentVolumeClaim" in vol):
            P.append("%s must be a writable emptyDir or PVC" % STATE_DIR)

    # Environment: every ${VAR} set, every referenced key present.
    env = {}
    for e in pf.get("env") or []:
        name = e["name"]
        if "value" in e:
            env[name] = str(e["value"])
            continue
        vf = e.get("valueFrom") or {}
        if "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            s = find(docs, "Secret", ref["name"])
            if s is None or ref["key"] not in secret_keys(s):
                P.append("env %s: Secret %r has no key %r" % (name, ref["name"], ref["key"]))
            else:
                env[name] = secret_value(s, ref["key"])
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            c = find(docs, "ConfigMap", ref["name"])
            if c is None or ref["key"] not in (c.get("data") or {}):
                P.append("env %s: ConfigMap %r has no key %r" % (name, ref["name"], ref["key"]))
            else:
                env[name] = str(c["data"][ref["key"]])
        elif "fieldRef" in vf or "resourceFieldRef" in vf:
            env[name] = "fake-" + name.lower().replace("_", "-")
        else:
            P.append("env %s has neither value nor a known valueFrom" % name)
    for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", ini_text):
        if var not in env:
            P.append("promflux.ini uses ${%s}, which the container's env does not set" % var)

    # Security context: the container's settings over the pod's.
    psc = spec.get("securityContext") or {}
    csc = pf.get("securityContext") or {}

    def eff(key):
        return csc[key] if key in csc else psc.get(key)
    if eff("runAsNonRoot") is not True:
        P.append("securityContext.runAsNonRoot is not true")
    uid = eff("runAsUser")
    if uid is not None and uid == 0:
        P.append("securityContext.runAsUser is 0")
    duid = dockerfile_user()
    if uid is not None and duid is not None and uid != duid:
        P.append("runAsUser %s differs from the image's USER %s (the state directory's owner)" % (uid, duid))
    if csc.get("readOnlyRootFilesystem") is not True:
        P.append("securityContext.readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        P.append("securityContext.allowPrivilegeEscalation is not false")
    if csc.get("privileged"):
        P.append("securityContext.privileged is set")
    caps = csc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
        P.append("securityContext.capabilities must drop ALL and add none")
    if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
        P.append("seccompProfile is not RuntimeDefault")

    # Stop deadline.
    shutdown = max([duration_s(one(ini, "global", "shutdown_timeout", "%ds" % DEFAULT_SHUTDOWN_S))] + [0])
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= SCRAPE_GRACE_S + shutdown:
        P.append("terminationGracePeriodSeconds %s is not above %ss of scrape grace + shutdown_timeout %ss"
                 % (grace, SCRAPE_GRACE_S, shutdown))

    # Resources: the memory limit holds the baseline and every buffer.
    res = pf.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(kind) or {}) and not (kind == "limits" and r == "cpu"):
                P.append("promflux resources.%s.%s is not set" % (kind, r))
    try:
        need = BASELINE_RSS
        for sec in ini:
            if sec.startswith("output") and (one(ini, sec, "type") or "").startswith("influxdb"):
                need += size_bytes(one(ini, sec, "buffer_limit", "64MiB"))
                need += 2 * size_bytes(one(ini, sec, "batch_bytes", "1MiB")) * int(one(ini, sec, "max_in_flight", "2"))
        lim = quantity((res.get("limits") or {}).get("memory", "0"))
        req = quantity((res.get("requests") or {}).get("memory", "0"))
        if lim < need:
            P.append("memory limit %s is below the %d MiB the baseline and the output buffers need"
                     % (res["limits"].get("memory"), need >> 20))
        if req > lim:
            P.append("memory request above the limit")
        if "cpu" in (res.get("limits") or {}) and quantity(res["requests"]["cpu"]) > quantity(res["limits"]["cpu"]):
            P.append("cpu request above the limit")
    except (ValueError, KeyError, TypeError) as e:
        P.append("resources: %s" % e)

    # The scraped URLs are on localhost, on a port of the pod's other containers.
    app_ports = {str(p["containerPort"]) for c in apps for p in c.get("ports") or []}
    for sec in ini:
        if not sec.startswith("job"):
            continue
        for url in ini[sec].get("url", []):
            m = re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/", url)
            if not m:
                P.append("[%s] url %s is not on localhost: a sidecar scrapes its own pod" % (sec, url))
            elif m.group(2) not in app_ports:
                P.append("[%s] url %s: port %s is no containerPort of the application" % (sec, url, m.group(2)))
    return P, ini_text, env


def promflux_check(ini_text, env):
    """promflux -n on the ConfigMap's file with exactly ENV."""
    with tempfile.TemporaryDirectory(prefix="pf-k8s-") as d:
        path = os.path.join(d, "promflux.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ini_text)
        p = subprocess.run([PROMFLUX, "-n", "-c", path], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return p.returncode, p.stdout.decode("utf-8", "replace")


# Broken copies of the manifests, each of which must be reported.
def _pf(docs):
    d = next(d for _, d in docs if d["kind"] in ("Deployment", "Pod"))
    spec = d["spec"]["template"]["spec"] if d["kind"] == "Deployment" else d["spec"]
    return spec, next(c for c in spec["containers"] if c["name"] == "promflux")


def _cm(docs):
    return next(d for _, d in docs if d["kind"] == "ConfigMap")


def _set_ini(docs, f):
    cm = _cm(docs)
    k = next(iter(cm["data"]))
    cm["data"][k] = f(cm["data"][k])


def _no_state(docs):
    s, c = _pf(docs)
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != STATE_DIR]


MUTATIONS = [
    ("liveness probe on another port", r"livenessProbe probes port",
     lambda d: _pf(d)[1]["livenessProbe"]["httpGet"].__setitem__("port", 9466)),
    ("readiness path /healthz", r"readinessProbe path",
     lambda d: _pf(d)[1]["readinessProbe"]["httpGet"].__setitem__("path", "/healthz")),
    ("listen on loopback", r"listen = 127\.0\.0\.1:9465",
     lambda d: _set_ini(d, lambda t: t.replace("listen = 0.0.0.0:9465", "listen = 127.0.0.1:9465"))),
    ("config mounted with subPath", r"subPath",
     lambda d: _pf(d)[1]["volumeMounts"][0].__setitem__("subPath", "promflux.ini")),
    ("no state volume", re.escape(STATE_DIR), _no_state),
    ("Secret key renamed", r"Secret .* has no key",
     lambda d: next(x for _, x in d if x["kind"] == "Secret").__setitem__("stringData", {"tok": "x"})),
    ("writable root", r"readOnlyRootFilesystem",
     lambda d: _pf(d)[1]["securityContext"].__setitem__("readOnlyRootFilesystem", False)),
    ("capability added", r"capabilities",
     lambda d: _pf(d)[1]["securityContext"]["capabilities"].__setitem__("add", ["NET_RAW"])),
    ("short grace period", r"terminationGracePeriodSeconds",
     lambda d: _pf(d)[0].__setitem__("terminationGracePeriodSeconds", 12)),
    ("buffer larger than the memory limit", r"memory limit",
     lambda d: _set_ini(d, lambda t: t.replace("buffer_limit = 16MiB", "buffer_limit = 64MiB"))),
    ("scrape of a port no container has", r"no containerPort of the application",
     lambda d: _set_ini(d, lambda t: t.replace("127.0.0.1:8080/", "127.0.0.1:8081/"))),
    ("token_file outside every mount", r"token_file = /run/secrets/influx-token is under no volumeMount",
     lambda d: _set_ini(d, lambda t: t.replace("token = ${INFLUX_TOKEN}", "token_file = /run/secrets/influx-token"))),
    ("variable without env", r"\$\{EXTRA_TAG\}",
     lambda d: _set_ini(d, lambda t: t.replace("[global]", "[global]\ntag = extra=${EXTRA_TAG}"))),
]


def main_check():
    docs = load_docs()
    failures = []
    P, ini_text, env = analyse(docs)
    failures += P
    print("manifests: %d documents (%s); %d problems" % (
        len(docs), ", ".join(d.get("kind", "?") for _, d in docs), len(P)))

    for what, pattern, mutate in MUTATIONS:
        d2 = copy.deepcopy(docs)
        try:
            mutate(d2)
        except (StopIteration, KeyError, IndexError) as e:
            failures.append("mutation %r does not apply to the manifests (%r): update the test" % (what, e))
            continue
        P2, _, _ = analyse(d2)
        new = [p for p in P2 if p not in P]
        if not any(re.search(pattern, p) for p in new):
            failures.append("a broken copy (%s) is not reported (%r expected, got %r)" % (what, pattern, new))
    print("broken copies reported: %d checked" % len(MUTATIONS))

    if ini_text is not None:
        if not PROMFLUX:
            failures.append("PROMFLUX is not set")
        else:
            rc, out = promflux_check(ini_text, env)
            if rc != 0 or "configuration OK" not in out:
                failures.append("promflux -n on the ConfigMap's promflux.ini with the Deployment's env "
                                "%s: exit %d: %s" % (sorted(env), rc, out.strip()))
            else:
                print("promflux -n with env %s: configuration OK" % sorted(env))
            # The env matters: without the Secret's variable the file must not load.
            secret_vars = [v for v in re.findall(r"\$\{([A-Za-z_]\w*)\}", ini_text) if v in env]
            for v in secret_vars[:1]:
                env2 = {k: x for k, x in env.items() if k != v}
                rc, out = promflux_check(ini_text, env2)
                if rc == 0 or v not in out:
                    failures.append("promflux -n without %s: exit %d, %r (expected an error naming it)" % (v, rc, out))

    for f in failures:
        print("FAIL: " + f)
    print("%s: %s" % ("test_k8s_yaml check", "FAILED" if failures else "OK"))
    return 1 if failures else 0


# ----------------------------------------------------------------- schema --

def main_schema():
    try:
        from kubernetes.client import ApiClient
        from kubernetes.client import models
    except ImportError:
        print("SKIP: python3-kubernetes is not installed (apt-get install python3-kubernetes)")
        return 77
    kinds = {("v1", "ConfigMap"): "V1ConfigMap", ("v1", "Secret"): "V1Secret",
             ("v1", "Pod"): "V1Pod", ("apps/v1", "Deployment"): "V1Deployment",
             ("v1", "Service"): "V1Service", ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
             ("apps/v1", "StatefulSet"): "V1StatefulSet"}
    problems = []

    def walk(value, typ, where):
        if value is None:
            return
        m = re.fullmatch(r"list\[(.+)\]", typ)
        if m:
            if not isinstance(value, list):
                problems.append("%s: a list expected, got %r" % (where, value))
                return
            for i, v in enumerate(value):
                walk(v, m.group(1), "%s[%d]" % (where, i))
            return
        m = re.fullmatch(r"dict\(str, (.+)\)", typ)
        if m:
            if not isinstance(value, dict):
                problems.append("%s: a map expected" % where)
                return
            for k, v in value.items():
                # Quantities (resources) may be written as numbers.
                if m.group(1) == "str" and where.endswith(("limits", "requests")) and isinstance(v, (int, float)):
                    continue
                walk(v, m.group(1), "%s.%s" % (where, k))
            return
        if typ in ("str", "int", "bool", "float"):
            ok = {"str": isinstance(value, str), "int": isinstance(value, int) and not isinstance(value, bool),
                  "bool": isinstance(value, bool), "float": isinstance(value, (int, float))}[typ]
            if not ok:
                problems.append("%s: %s expected, got %r" % (where, typ, value))
            return
        if typ in ("object", "datetime", "date"):
            return
        cls = getattr(models, typ, None)
        if cls is None:
            problems.append("%s: unknown model %s" % (where, typ))
            return
        if not isinstance(value, dict):
            problems.append("%s: an object (%s) expected, got %r" % (where, typ, value))
            return
        by_json = {j: p for p, j in cls.attribute_map.items()}
        for k, v in value.items():
            if k not in by_json:
                problems.append("%s: unknown field %r of %s" % (where, k, typ))
                continue
            walk(v, cls.openapi_types[by_json[k]], "%s.%s" % (where, k))

    api = ApiClient()
    docs = load_docs()
    for f, d in docs:
        key = (d.get("apiVersion"), d.get("kind"))
        where = "%s:%s/%s" % (f, d.get("kind"), (d.get("metadata") or {}).get("name"))
        if key not in kinds:
            problems.append("%s: apiVersion/kind %s/%s not known to this test" % (where, key[0], key[1]))
            continue
        walk(d, kinds[key], where)
        try:
            api._ApiClient__deserialize(d, kinds[key])  # required fields and enums
        except (ValueError, TypeError) as e:
            problems.append("%s: %s" % (where, e))
    # The checker itself: a typo must be caught.
    before = len(problems)
    walk({"spec": {"template": {"spec": {"containers": [{"name": "x", "readinesProbe": {}}]}}}},
         "V1Deployment", "selftest")
    if len(problems) != before + 1:
        problems.append("the schema walk did not catch the field 'readinesProbe'")
    else:
        problems.pop()
    print("schema: %d documents checked against python3-kubernetes models" % len(docs))
    for p in problems:
        print("FAIL: " + p)
    print("test_k8s_yaml schema: %s" % ("FAILED" if problems else "OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    sys.exit(main_check() if mode == "check" else main_schema())
