#!/usr/bin/env python3
"""Ten concurrent jobs of 2,000 items each (ten built-in connectors, all triggered at once)
against one job of 20,000 items: total files/s of each, and their ratio (target ≥ 0.9).

    bench/concurrent_jobs.py [--delay-ms 0]
"""
import argparse
import time

from harness import Rig, make_tree


def run(trees, delay):
    with Rig(trees, delay) as rig:
        start = time.monotonic()
        jobs = [rig.full_scan(u) for u in rig.connectors]
        total = sum(int(rig.wait_completed(j)["processed_count"]) for j in jobs)
        return total, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=int, default=0)
    a = ap.parse_args()
    one_n, one_s = run([make_tree("tree-20000", 20000)], a.delay_ms)
    ten = [make_tree(f"tree-2000-{i}", 2000, seed=i) for i in range(10)]
    ten_n, ten_s = run(ten, a.delay_ms)
    one_rate, ten_rate = one_n / one_s, ten_n / ten_s
    print(f"delay_ms={a.delay_ms} one_job files={one_n} files_per_s={one_rate:.0f} | ten_jobs files={ten_n} "
          f"files_per_s={ten_rate:.0f} | ratio={ten_rate / one_rate:.2f}")


if __name__ == "__main__":
    main()
