#!/usr/bin/env python3
"""What an API token costs per request: the same route on two `dsx-connect serve` processes of
one binary, one with authentication off and one with it on (requests carry
`Authorization: Bearer dsx_…`), requests interleaved one by one over kept-alive connections so
both see the same machine load. Reports each side's latency percentiles and the difference.

Also measures what one Argon2id password hash costs with the documented parameters (a login).

    bench/bearer_overhead.py --requests 10000
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from harness import OUT, ROOT, free_port


def start(bin_dir, data, auth):
    port = free_port()
    env = dict(os.environ, DSXCONNECT_HOST="127.0.0.1", DSXCONNECT_PORT=str(port),
               DSXCONNECT_DATA_DIR=data, DSXCONNECT_LOG_LEVEL="warn")
    if auth:
        env["DSXCONNECT_AUTH__ENABLED"] = "true"
    log = open(os.path.join(OUT, f"bearer-{'on' if auth else 'off'}.log"), "w")
    proc = subprocess.Popen([os.path.join(bin_dir, "dsx-connect"), "serve"], env=env, stdout=log, stderr=log)
    token = None
    if auth:
        out = subprocess.run([os.path.join(bin_dir, "dsx-connect"), "token", "create", "--name", "bench",
                              "--role", "viewer"], env=env, capture_output=True, text=True, check=True)
        token = out.stdout.strip()
    deadline = time.time() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/dsx-connect/api/v1/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit("core did not start")
        time.sleep(0.1)
    return proc, port, token


def percentile(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--path", default="/dsx-connect/api/v1/meta")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    dirs = [tempfile.mkdtemp(prefix="dsx-bench-bearer-") for _ in range(2)]
    procs = []
    try:
        off, port_off, _ = start(a.bin_dir, dirs[0], False)
        on, port_on, token = start(a.bin_dir, dirs[1], True)
        procs += [off, on]
        conns = {
            False: (http.client.HTTPConnection("127.0.0.1", port_off, timeout=10), {}),
            True: (http.client.HTTPConnection("127.0.0.1", port_on, timeout=10),
                   {"Authorization": f"Bearer {token}"}),
        }
        times = {False: [], True: []}
        for i in range(a.requests + 500):
            for auth in ((False, True) if i % 2 == 0 else (True, False)):
                conn, headers = conns[auth]
                t = time.perf_counter()
                conn.request("GET", a.path, headers=headers)
                r = conn.getresponse()
                r.read()
                dt = time.perf_counter() - t
                if r.status != 200:
                    raise SystemExit(f"auth={auth}: HTTP {r.status}")
                if i >= 500:  # warm-up excluded
                    times[auth].append(dt * 1000)
        for auth in (False, True):
            v = times[auth]
            print(f"auth={'on' if auth else 'off'} requests={len(v)} p50_ms={percentile(v, 50):.3f} "
                  f"p99_ms={percentile(v, 99):.3f} mean_ms={statistics.mean(v):.3f}")
        d50 = percentile(times[True], 50) - percentile(times[False], 50)
        d99 = percentile(times[True], 99) - percentile(times[False], 99)
        print(f"bearer_cost_p50_ms={d50:.3f} bearer_cost_p99_ms={d99:.3f} target_p99_ms=0.100 "
              f"{'PASS' if d99 < 0.1 else 'FAIL'}")
        # What a password login costs: one Argon2id verification with the documented parameters.
        env = dict(os.environ, DSXCONNECT_DATA_DIR=dirs[1])
        subprocess.run([os.path.join(a.bin_dir, "dsx-connect"), "user", "add", "bench", "--role", "viewer",
                        "--password-stdin"], input="correct horse battery\n", env=env, check=True,
                       capture_output=True, text=True)
        conn, _ = conns[True]
        body = json.dumps({"username": "bench", "password": "correct horse battery"})
        logins = []
        for _ in range(20):
            t = time.perf_counter()
            conn.request("POST", "/dsx-connect/api/v1/auth/login", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"login: HTTP {r.status}")
            logins.append((time.perf_counter() - t) * 1000)
        print(f"argon2id m=19456KiB t=2 p=1: login_ms_median={statistics.median(logins):.1f} "
              f"login_ms_p99={percentile(logins, 99):.1f}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
