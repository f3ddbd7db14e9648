#!/usr/bin/env python3
"""The filesystem connector's folder monitor against a recording fake core:

1. latency: files written one at a time (spaced out); for each, the time from its close to the
   arrival of its scan request, minus the debounce window (p50, p95, max);
2. burst: N files written as fast as possible; every one must produce exactly one request.

    bench/monitor_latency.py --samples 100 --burst 10000 --debounce-ms 500
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import fake_core
from harness import free_port, get, peak_rss_mb, ROOT


def wait_ready(base):
    for _ in range(400):
        try:
            get(f"{base}/readyz")
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the connector did not become ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--spacing-ms", type=int, default=150)
    ap.add_argument("--burst", type=int, default=10000)
    ap.add_argument("--debounce-ms", type=int, default=500)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "dsx-connect"))
    a = ap.parse_args()
    asset = tempfile.mkdtemp(prefix="dsx-bench-mon-")
    data = tempfile.mkdtemp(prefix="dsx-bench-mon-data-")
    rec = fake_core.Recorder()
    core = fake_core.start(rec)
    port = free_port()
    env = dict(os.environ, DSXCONNECTOR_ASSET=asset, DSXCONNECTOR_DSX_CONNECT_URL=core,
               DSXCONNECTOR_CONNECTOR_URL=f"http://127.0.0.1:{port}", DSXCONNECTOR_LISTEN_ADDR=f"127.0.0.1:{port}",
               DSXCONNECTOR_DATA_DIR=data, DSXCONNECTOR_LOG_LEVEL="warn", DSXCONNECTOR_ITEM_ACTION="nothing",
               DSXCONNECTOR_MONITOR="true", DSXCONNECTOR_MONITOR_DEBOUNCE_MS=str(a.debounce_ms))
    proc = subprocess.Popen([a.bin, "connector", "filesystem"], env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/filesystem-connector")
        debounce = a.debounce_ms / 1000
        # 1. Latency of single files.
        closed = {}
        os.makedirs(os.path.join(asset, "lat"))
        for i in range(a.samples):
            p = os.path.join(asset, "lat", f"s{i:04d}.txt")
            with open(p, "wb") as f:
                f.write(b"sample %d" % i)
            closed[p] = time.monotonic()
            time.sleep(a.spacing_ms / 1000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(p in rec.arrivals for p in closed):
            time.sleep(0.05)
        lat = sorted((rec.arrivals[p][0] - t - debounce) * 1000 for p, t in closed.items() if p in rec.arrivals)
        missing = len(closed) - len(lat)
        if len(lat) < 2:
            raise SystemExit(f"only {len(lat)} of {len(closed)} files were requested")
        q = statistics.quantiles(lat, n=100)
        print(f"latency samples={len(lat)} missing={missing} debounce_ms={a.debounce_ms} "
              f"beyond_debounce_ms p50={q[49]:.0f} p95={q[94]:.0f} max={max(lat):.0f}")

        # 2. A burst: every file exactly once.
        before = rec.requests
        burst = os.path.join(asset, "burst")
        start = time.monotonic()
        paths = []
        for i in range(a.burst):
            d = os.path.join(burst, f"d{i % 50:02d}")
            if i < 50:
                os.makedirs(d, exist_ok=True)
            p = os.path.join(d, f"b{i:06d}.bin")
            with open(p, "wb") as f:
                f.write(b"x" * 64)
            paths.append(p)
        written = time.monotonic() - start
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(1 for p in paths if p in rec.arrivals) < len(paths):
            time.sleep(0.1)
        all_seen = time.monotonic() - start
        time.sleep(3 * debounce + 2)  # anything late or duplicated would arrive now
        seen = [len(rec.arrivals.get(p, [])) for p in paths]
        print(f"burst files={a.burst} written_in_s={written:.2f} all_requested_after_s={all_seen:.2f} "
              f"exactly_once={sum(1 for c in seen if c == 1)} missing={seen.count(0)} "
              f"duplicated={sum(1 for c in seen if c > 1)} http_requests={rec.requests - before} "
              f"connector_peak_rss_mb={peak_rss_mb(proc.pid):.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(asset, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
