#!/usr/bin/env python3
"""Pause latency with a 20,000-item job in flight: the time from `POST …/pause` to the last
dispatch of that job, measured as the arrival of the job's last scan at the DSXA stub (an
over-estimate: it adds the read and upload of the items dispatched just before the pause).
Repeats pause → measure → resume, then prints p50/p99/max.

    bench/pause_latency.py [--rounds 40] [--delay-ms 20]
"""
import argparse
import time

from harness import Rig, get, make_tree, post


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--delay-ms", type=int, default=20)
    a = ap.parse_args()
    tree = make_tree("tree-20000", 20000)
    with Rig([tree], a.delay_ms, capture=True) as rig:
        job = rig.full_scan(rig.connectors[0])
        while int(rig.job(job)["processed_count"]) < 1000:
            time.sleep(0.1)
        lat = []
        for _ in range(a.rounds):
            t0 = time.time() * 1000
            post(f"{rig.api}/scan/jobs/{job}/pause")
            time.sleep(0.4)
            arrivals = get(f"{rig.stub_url}/__captured?since_ms={int(t0)}")["requests"]
            last = max((r["at_ms"] for r in arrivals), default=t0)
            lat.append(max(0.0, last - t0))
            post(f"{rig.api}/scan/jobs/{job}/resume")
            time.sleep(0.2)
        j = rig.job(job)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print(f"rounds={len(lat)} items=20001 stub_delay_ms={a.delay_ms} pause_to_last_dispatch_ms "
              f"p50={p(0.5):.1f} p99={p(0.99):.1f} max={lat[-1]:.1f} processed_at_end={j['processed_count']}")


if __name__ == "__main__":
    main()
