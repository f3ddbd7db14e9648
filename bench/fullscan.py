#!/usr/bin/env python3
"""End-to-end full-scan benchmark of `dsx-connect serve --fs` (embedded store) against the DSXA
stub on loopback: files/s from the trigger to the job's completion, and the serve process's peak
RSS (VmHWM).

    bench/fullscan.py --files 20000 --delay-ms 0
    bench/fullscan.py --files 20000 --delay-ms 20
    bench/fullscan.py --files 100000 --delay-ms 0
    bench/fullscan.py --files 20000 --stuck-sse        # one SSE client that never reads
    bench/fullscan.py --files 20000 --env DSXCONNECT_WORKERS__CONCURRENCY=64
"""
import argparse
import socket
import time
import urllib.parse

from harness import Rig, make_tree, peak_rss_mb


def stuck_sse_client(api):
    """Opens the scan-result stream and never reads from it (its buffers fill up)."""
    u = urllib.parse.urlparse(api)
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET {u.path}/subscribe/scan-result HTTP/1.1\r\nHost: {u.hostname}\r\n\r\n".encode())
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--stuck-sse", action="store_true")
    ap.add_argument("--env", action="append", default=[])
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    with Rig([tree], a.delay_ms, env=a.env) as rig:
        stuck = stuck_sse_client(rig.api) if a.stuck_sse else None
        start = time.monotonic()
        job = rig.full_scan(rig.connectors[0])
        j = rig.wait_completed(job)
        secs = time.monotonic() - start
        files = a.files + 1
        print(f"files={files} delay_ms={a.delay_ms} seconds={secs:.2f} files_per_s={files / secs:.0f} "
              f"peak_rss_mb={peak_rss_mb(rig.serve.pid):.1f} processed={j['processed_count']} "
              f"failed={j['failed_count']} stuck_sse={'yes' if stuck else 'no'} extra_env={' '.join(a.env) or '-'}")


if __name__ == "__main__":
    main()
