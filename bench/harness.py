"""Shared pieces of the benchmarks: generated trees, the DSXA stub, `dsx-connect serve` with
built-in connectors, and the few API calls the benchmarks make. One Python process drives a
benchmark so that measuring costs almost nothing."""
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")


def make_tree(name, n, seed=42):
    """n files of 1–64 KiB under bench/out/<name> (cached), plus a `.complete` marker file."""
    path = os.path.join(OUT, name)
    marker = os.path.join(path, ".complete")
    if os.path.exists(marker):
        return path
    shutil.rmtree(path, ignore_errors=True)
    rnd = random.Random(seed)
    for i in range(n):
        d = os.path.join(path, f"d{i % 100:02d}", f"e{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(1024, 65536)))
    open(marker, "w").close()
    return path


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def post(url, timeout=30):
    req = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers, r.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def standalone_listing(binary, kind, route, asset, env):
    """Listing alone: `dsx-connect connector <kind>` for `asset` enumerating into a recording fake
    core (no scanning). Returns (items enqueued, seconds from the trigger to `enqueue_done`,
    connector CPU seconds over that span, connector peak RSS in MB); the CPU of start-up (settings,
    TLS, registration) is left out so that the figure is the listing's."""
    import fake_core

    rec = fake_core.Recorder()
    core = fake_core.start(rec)
    port = free_port()
    data = tempfile.mkdtemp(prefix=f"dsx-bench-{kind}-")
    e = dict(os.environ, DSXCONNECTOR_ASSET=asset, DSXCONNECTOR_DSX_CONNECT_URL=core,
             DSXCONNECTOR_CONNECTOR_URL=f"http://127.0.0.1:{port}", DSXCONNECTOR_LISTEN_ADDR=f"127.0.0.1:{port}",
             DSXCONNECTOR_DATA_DIR=data, DSXCONNECTOR_LOG_LEVEL="warn", DSXCONNECTOR_ITEM_ACTION="nothing", **env)
    proc = subprocess.Popen([binary, "connector", kind], env=e)
    try:
        base = f"http://127.0.0.1:{port}/{route}"
        for _ in range(600):
            try:
                get(f"{base}/readyz")
                break
            except OSError:
                time.sleep(0.05)
        cpu_before, start = cpu_seconds(proc.pid), time.monotonic()
        post(f"{base}/full_scan?job_id=bench")
        while "bench" not in rec.done:
            if proc.poll() is not None:
                raise SystemExit(f"the {kind} connector exited with {proc.returncode}")
            time.sleep(0.01)
        end, body = rec.done["bench"]
        cpu = cpu_seconds(proc.pid) - cpu_before
        return body["enqueued_total"], end - start, cpu, peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(data, ignore_errors=True)


def builtin_order(connector):
    """Sort key of built-in connector names: `filesystem-connector`, `-2`, … then the cloud ones."""
    name = connector["name"]
    base, _, n = name.rpartition("-")
    index = int(n) if n.isdigit() else 1
    return (not name.startswith("filesystem"), index)


class Rig:
    """The stub and a serve process with one built-in connector per tree."""

    def __init__(self, trees, delay_ms=0, capture=False, env=(), bin_dir=None, s3_assets=(), cloud_assets=()):
        """`cloud_assets`: (serve flag, asset) pairs, e.g. ("--azure", "container/prefix")."""
        self.bin = bin_dir or os.path.join(ROOT, "target", "release")
        self.data = tempfile.mkdtemp(prefix="dsx-bench-")
        self.procs = []
        args = [os.path.join(self.bin, "dsxa-stub"), "--delay-ms", str(delay_ms)]
        if not capture:
            args.append("--no-capture")
        self.stub = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.procs.append(self.stub)
        self.stub_url = "http://" + self.stub.stdout.readline().strip().removeprefix("listening on ")
        port = free_port()
        e = dict(os.environ, DSXCONNECT_HOST="127.0.0.1", DSXCONNECT_PORT=str(port), DSXCONNECT_DATA_DIR=self.data,
                 DSXCONNECT_SCANNER__SCAN_BINARY_URL=f"{self.stub_url}/scan/binary/v2", DSXCONNECT_LOG_LEVEL="warn")
        for kv in env:
            k, v = kv.split("=", 1)
            e[k] = v
        cmd = [os.path.join(self.bin, "dsx-connect"), "serve", "--action", "nothing"]
        for t in trees:
            cmd += ["--fs", t]
        cloud_assets = [("--s3", a) for a in s3_assets] + list(cloud_assets)
        for flag, asset in cloud_assets:
            cmd += [flag, asset]
        os.makedirs(OUT, exist_ok=True)
        self.log = open(os.path.join(OUT, "serve.log"), "w")
        self.serve = subprocess.Popen(cmd, env=e, stdout=self.log, stderr=self.log)
        self.procs.append(self.serve)
        self.api = f"http://127.0.0.1:{port}/dsx-connect/api/v1"
        self.connectors = self._wait_connectors(len(trees) + len(cloud_assets))

    def _wait_connectors(self, n):
        """The built-in connectors' uuids, filesystem ones first, each group in asset order."""
        for _ in range(300):
            try:
                lst = get(f"{self.api}/connectors/list")
                if len(lst) >= n:
                    lst.sort(key=builtin_order)
                    return [c["uuid"] for c in lst]
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the built-in connectors did not register")

    def full_scan(self, uuid, query=""):
        _, headers, _ = post(f"{self.api}/connectors/full_scan/{uuid}{query}")
        return headers["X-Job-Id"]

    def job(self, job_id):
        return get(f"{self.api}/scan/jobs/{job_id}")

    def wait_completed(self, job_id, poll=0.25):
        while True:
            j = self.job(job_id)
            if j["status"] in ("completed", "cancelled"):
                return j
            time.sleep(poll)

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
