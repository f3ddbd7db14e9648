#!/usr/bin/env python3
"""Rescans of unchanged data (docs/SCAN-REUSE.md) with `dsx-connect serve --fs` (embedded store)
and the built-in engine (DSXA reports no version, so its verdicts are never reused): a fresh full
scan, a rescan of the unchanged tree, then a rescan after touching 1 % of the files. Files/s from
the trigger to the job's completion; reads and reuse outcomes from the core's `/metrics`.

    bench/rescan.py --files 20000
    bench/rescan.py --files 20000 --bin-dir target/debug     # numbers of a debug build
"""
import argparse
import os
import re
import time
import urllib.request

from harness import Rig, make_tree, peak_rss_mb

SERIES = re.compile(r'^(dsx_connect_verdict_reuse_total\{outcome="(\w+)"\}|dsx_connect_read_duration_seconds_count) (\S+)$')


def counters(api):
    """Reuse outcomes by name and `reads` (read_file calls answered), from the core's metrics."""
    with urllib.request.urlopen(f"{api}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = SERIES.match(line)
        if m:
            out[m.group(2) or "reads"] = int(float(m.group(3)))
    return out


def timed_scan(rig, query=""):
    """Runs a full scan; returns seconds, the job and the counter deltas."""
    before = counters(rig.api)
    start = time.monotonic()
    job = rig.full_scan(rig.connectors[0], query)
    j = rig.wait_completed(job)
    secs = time.monotonic() - start
    after = counters(rig.api)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return secs, j, delta


def line(name, files, secs, j, d):
    return (f"{name}: files={files} seconds={secs:.2f} files_per_s={files / secs:.0f} "
            f"processed={j['processed_count']} failed={j['failed_count']} reads={d.get('reads', 0)} "
            f"reused={d.get('hit', 0)} remembered={d.get('remembered', 0)} too_recent={d.get('too_recent', 0)} "
            f"remember_retried={d.get('remember_retried', 0)} remember_failed={d.get('remember_failed', 0)} "
            f"lookup_failed={d.get('lookup_failed', 0)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--touch-percent", type=float, default=1.0)
    ap.add_argument("--bin-dir", default=None, help="where dsx-connect and dsxa-stub are (default target/release)")
    ap.add_argument("--env", action="append", default=[])
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(tree) for f in fs)
    # Files changed less than 2 s before their read are not remembered (timestamp granularity):
    # a tree made just now would leave its last files out of the memory.
    newest = max(max(os.lstat(f).st_mtime, os.lstat(f).st_ctime) for f in files)
    while time.time() - newest < 2.5:
        time.sleep(0.1)
    env = ["DSXCONNECT_SCANNER__ENGINE=embedded"] + a.env
    with Rig([tree], env=env, bin_dir=a.bin_dir) as rig:
        n = len(files)
        secs, j, d = timed_scan(rig)
        print(line("fresh", n, secs, j, d))
        secs, j, d = timed_scan(rig)
        print(line("rescan", n, secs, j, d))
        k = max(1, int(n * a.touch_percent / 100))
        touched = files[:: n // k][:k]
        for f in touched:
            os.utime(f)
        secs, j, d = timed_scan(rig)
        print(line(f"touched_{len(touched)}", n, secs, j, d))
        secs, j, d = timed_scan(rig, "?rescan_all=true")
        print(line("rescan_all", n, secs, j, d))
        print(f"peak_rss_mb={peak_rss_mb(rig.serve.pid):.1f} extra_env={' '.join(a.env) or '-'}")


if __name__ == "__main__":
    main()
