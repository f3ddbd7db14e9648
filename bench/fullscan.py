#!/usr/bin/env python3
"""End-to-end full-scan benchmark of `dsx-connect serve --fs` (embedded store) against the DSXA
stub on loopback.

Generates N files of 1–64 KiB (cached under bench/out), starts the stub with a per-scan delay and
`serve`, triggers a full scan and waits for the job to complete. Reports files/s from the trigger
to the completion and the peak RSS (VmHWM) of the serve process. One process drives everything so
the measurement itself costs almost nothing.

    bench/fullscan.py --files 20000 --delay-ms 0
    bench/fullscan.py --files 20000 --delay-ms 20
    bench/fullscan.py --files 100000 --delay-ms 0
    bench/fullscan.py --files 20000 --env DSXCONNECT_WORKERS__CONCURRENCY=64
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_tree(path, n):
    marker = os.path.join(path, ".complete")
    if os.path.exists(marker):
        return
    shutil.rmtree(path, ignore_errors=True)
    rnd = random.Random(42)
    for i in range(n):
        d = os.path.join(path, f"d{i % 100:02d}", f"e{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(1024, 65536)))
    open(marker, "w").close()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for serve")
    a = ap.parse_args()
    tree = os.path.join(ROOT, "bench", "out", f"tree-{a.files}")
    make_tree(tree, a.files)
    files = a.files + 1  # the .complete marker is a file of the tree too
    data = tempfile.mkdtemp(prefix="dsx-bench-")
    procs = []
    try:
        stub = subprocess.Popen([os.path.join(a.bin_dir, "dsxa-stub"), "--no-capture", "--delay-ms", str(a.delay_ms)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(stub)
        stub_addr = stub.stdout.readline().strip().removeprefix("listening on ")
        port = free_port()
        env = dict(os.environ, DSXCONNECT_HOST="127.0.0.1", DSXCONNECT_PORT=str(port), DSXCONNECT_DATA_DIR=data,
                   DSXCONNECT_SCANNER__SCAN_BINARY_URL=f"http://{stub_addr}/scan/binary/v2", DSXCONNECT_LOG_LEVEL="warn")
        for kv in a.env:
            k, v = kv.split("=", 1)
            env[k] = v
        log = open(os.path.join(ROOT, "bench", "out", "serve.log"), "w")
        serve = subprocess.Popen([os.path.join(a.bin_dir, "dsx-connect"), "serve", "--action", "nothing", "--fs", tree],
                                 env=env, stdout=log, stderr=log)
        procs.append(serve)
        api = f"http://127.0.0.1:{port}/dsx-connect/api/v1"
        uuid = None
        for _ in range(300):
            try:
                lst = get(f"{api}/connectors/list")
                if lst:
                    uuid = lst[0]["uuid"]
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not uuid:
            sys.exit("the built-in connector did not register")
        start = time.monotonic()
        req = urllib.request.Request(f"{api}/connectors/full_scan/{uuid}", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            job = r.headers["X-Job-Id"]
        while True:
            j = get(f"{api}/scan/jobs/{job}")
            if j["status"] == "completed":
                break
            time.sleep(0.25)
        secs = time.monotonic() - start
        rss = peak_rss_mb(serve.pid)
        print(f"files={files} delay_ms={a.delay_ms} seconds={secs:.2f} files_per_s={files / secs:.0f} "
              f"peak_rss_mb={rss:.1f} processed={j['processed_count']} failed={j['failed_count']} "
              f"extra_env={' '.join(a.env) or '-'}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
