#!/usr/bin/env python3
"""Full-scan enumeration of the standalone filesystem connector against a recording fake core:
items/s handed to the core's batch endpoint, from the trigger to `enqueue_done`, and the
connector's peak RSS (VmHWM). The filter keeps one half of the tree and prunes the other.

    bench/connector_enum.py --files 200000
"""
import argparse
import os
import subprocess
import tempfile
import time

import fake_core
from harness import OUT, free_port, get, peak_rss_mb, post, ROOT


def make_tree(n):
    """n empty files, half under keep/ and half under skip/ (cached under bench/out)."""
    path = os.path.join(OUT, f"enum-{n}")
    marker = os.path.join(path, ".complete")
    if os.path.exists(marker):
        return path
    for i in range(n):
        half = "keep" if i % 2 == 0 else "skip"
        d = os.path.join(path, half, f"d{(i // 2) % 200:03d}", f"e{(i // 400) % 25:02d}")
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, f"f{i:07d}.dat"), "wb").close()
    open(marker, "w").close()
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--filter", default="keep")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "dsx-connect"))
    a = ap.parse_args()
    tree = make_tree(a.files)
    rec = fake_core.Recorder()
    core = fake_core.start(rec)
    port = free_port()
    data = tempfile.mkdtemp(prefix="dsx-bench-conn-")
    env = dict(os.environ, DSXCONNECTOR_ASSET=tree, DSXCONNECTOR_FILTER=a.filter,
               DSXCONNECTOR_DSX_CONNECT_URL=core, DSXCONNECTOR_CONNECTOR_URL=f"http://127.0.0.1:{port}",
               DSXCONNECTOR_LISTEN_ADDR=f"127.0.0.1:{port}", DSXCONNECTOR_DATA_DIR=data,
               DSXCONNECTOR_LOG_LEVEL="warn", DSXCONNECTOR_ITEM_ACTION="nothing")
    proc = subprocess.Popen([a.bin, "connector", "filesystem"], env=env)
    try:
        base = f"http://127.0.0.1:{port}/filesystem-connector"
        for _ in range(200):
            try:
                get(f"{base}/readyz")
                break
            except OSError:
                time.sleep(0.05)
        start = time.monotonic()
        post(f"{base}/full_scan?job_id=bench")
        while "bench" not in rec.done:
            time.sleep(0.01)
        end, body = rec.done["bench"]
        secs = end - start
        n = body["enqueued_total"]
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        print(f"files={a.files} filter={a.filter!r} enqueued={n} distinct={len(rec.arrivals)} "
              f"requests={rec.requests} seconds={secs:.2f} items_per_s={n / secs:.0f} "
              f"connector_cpu_s={cpu:.2f} connector_peak_rss_mb={peak_rss_mb(proc.pid):.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
