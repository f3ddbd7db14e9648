#!/usr/bin/env python3
"""Scale-out benchmark on Redis: one `dsx-connect api`, 1, 2 and 4 `dsx-connect worker`
processes with a fixed concurrency each, a standalone filesystem connector and the DSXA stub at
20 ms per scan, all sharing a private `redis-server`. For each worker count: files/s from the
trigger to the job's completion, the speed-up relative to one worker, and per item the Redis
round trips of the API and worker processes (each process reports its requests — commands,
pipelines and scripts — in `readyz`) and the commands Redis executed (INFO commandstats, which
also counts the commands run inside scripts). With the scanner as the limit, the speed-up
follows the worker count.

    bench/redis_scale.py --files 10000 --concurrency 4 --delay-ms 20
"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import OUT, ROOT, free_port, get, make_tree, post

BIN = os.path.join(ROOT, "target", "release")


def redis_cmd(port, *args):
    """One RESP command over a raw socket, answered by a bulk string (no client library needed)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = str(a).encode()
            parts.append(f"${len(a)}\r\n".encode() + a + b"\r\n")
        s.sendall(b"".join(parts))
        f = s.makefile("rb")
        header = f.readline()
        if not header.startswith(b"$"):
            raise SystemExit(f"unexpected Redis answer {header!r}")
        return f.read(int(header[1:]) + 2).decode(errors="replace")


def total_commands(port):
    info = redis_cmd(port, "INFO", "commandstats")
    total = 0
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            total += int(fields["calls"])
    return total


def wait(url, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def run(workers, tree, a, stub_url):
    procs = []
    data = tempfile.mkdtemp(prefix="dsx-bench-redis-")
    try:
        rport = free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL))
        time.sleep(0.3)
        env = dict(os.environ, DSXCONNECT_REDIS_URL=f"redis://127.0.0.1:{rport}", DSXCONNECT_HOST="127.0.0.1",
                   DSXCONNECT_SCANNER__SCAN_BINARY_URL=f"{stub_url}/scan/binary/v2", DSXCONNECT_LOG_LEVEL="warn",
                   DSXCONNECT_WORKERS__CONCURRENCY=str(a.concurrency))
        api_port = free_port()
        procs.append(subprocess.Popen([os.path.join(BIN, "dsx-connect"), "api"],
                                      env=dict(env, DSXCONNECT_PORT=str(api_port)), stderr=subprocess.DEVNULL))
        health = [f"http://127.0.0.1:{api_port}/dsx-connect/api/v1/readyz"]
        for _ in range(workers):
            port = free_port()
            procs.append(subprocess.Popen([os.path.join(BIN, "dsx-connect"), "worker"],
                                          env=dict(env, DSXCONNECT_PORT=str(port)), stderr=subprocess.DEVNULL))
            health.append(f"http://127.0.0.1:{port}/dsx-connect/api/v1/readyz")
        api = f"http://127.0.0.1:{api_port}/dsx-connect/api/v1"
        for h in health:
            wait(h)

        def round_trips():
            return sum(get(h)["redis_round_trips"] for h in health)

        cport = free_port()
        cenv = dict(os.environ, DSXCONNECTOR_ASSET=tree, DSXCONNECTOR_DSX_CONNECT_URL=f"http://127.0.0.1:{api_port}",
                    DSXCONNECTOR_CONNECTOR_URL=f"http://127.0.0.1:{cport}", DSXCONNECTOR_LISTEN_ADDR=f"127.0.0.1:{cport}",
                    DSXCONNECTOR_DATA_DIR=data, DSXCONNECTOR_ITEM_ACTION="nothing", DSXCONNECTOR_LOG_LEVEL="warn")
        procs.append(subprocess.Popen([os.path.join(BIN, "dsx-connect"), "connector", "filesystem"], env=cenv))
        uuid = None
        for _ in range(300):
            lst = get(f"{api}/connectors/list")
            if lst:
                uuid = lst[0]["uuid"]
                break
            time.sleep(0.1)
        if uuid is None:
            raise SystemExit("the connector did not register")
        before = total_commands(rport)
        trips_before = round_trips()
        start = time.monotonic()
        _, headers, _ = post(f"{api}/connectors/full_scan/{uuid}")
        job_id = headers["X-Job-Id"]
        while True:
            j = get(f"{api}/scan/jobs/{job_id}")
            if j["status"] in ("completed", "cancelled"):
                break
            time.sleep(0.25)
        secs = time.monotonic() - start
        done = int(j["processed_count"])
        commands = total_commands(rport) - before
        trips = round_trips() - trips_before
        return done, secs, commands, trips
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--workers", default="1,2,4")
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    stub = subprocess.Popen([os.path.join(BIN, "dsxa-stub"), "--no-capture", "--delay-ms", str(a.delay_ms)],
                            stdout=subprocess.PIPE, text=True)
    stub_url = "http://" + stub.stdout.readline().strip().removeprefix("listening on ")
    os.makedirs(OUT, exist_ok=True)
    base = None
    try:
        for n in [int(x) for x in a.workers.split(",")]:
            done, secs, commands, trips = run(n, tree, a, stub_url)
            rate = done / secs
            base = base or rate
            print(f"workers={n} concurrency_per_worker={a.concurrency} delay_ms={a.delay_ms} files={done} "
                  f"seconds={secs:.2f} files_per_s={rate:.0f} speedup={rate / base:.2f} "
                  f"round_trips_per_item={trips / max(done, 1):.1f} "
                  f"redis_commands_per_item={commands / max(done, 1):.1f}", flush=True)
    finally:
        stub.terminate()
        stub.wait(timeout=15)


if __name__ == "__main__":
    main()
