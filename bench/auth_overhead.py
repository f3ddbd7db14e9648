#!/usr/bin/env python3
"""What connector trust costs: the same full scan of a generated tree through `dsx-connect serve`
and a standalone filesystem connector, with authentication off and on, alternating, in one run.

With authentication on the connector enrolls with a token, every scan request it sends is
DSX-HMAC signed and verified (with the replay check), every `read_file` the core sends is signed
and verified by the connector, and the scan is started with an operator API token.

    bench/auth_overhead.py --files 20000 --rounds 3
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
import json

from harness import OUT, ROOT, free_port, make_tree

TOKEN = "bench-enrollment-token-0001"


def call(method, url, bearer=None, timeout=30):
    req = urllib.request.Request(url, method=method)
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers, json.loads(r.read() or b"null")


def run_once(bin_dir, tree, files, auth, delay_ms):
    data = tempfile.mkdtemp(prefix="dsx-bench-auth-")
    procs = []
    try:
        stub = subprocess.Popen([os.path.join(bin_dir, "dsxa-stub"), "--delay-ms", str(delay_ms), "--no-capture"],
                                stdout=subprocess.PIPE, text=True)
        procs.append(stub)
        stub_url = "http://" + stub.stdout.readline().strip().removeprefix("listening on ")
        port = free_port()
        env = dict(os.environ, DSXCONNECT_HOST="127.0.0.1", DSXCONNECT_PORT=str(port),
                   DSXCONNECT_DATA_DIR=os.path.join(data, "core"), DSXCONNECT_LOG_LEVEL="warn",
                   DSXCONNECT_SCANNER__SCAN_BINARY_URL=f"{stub_url}/scan/binary/v2")
        if auth:
            env.update(DSXCONNECT_AUTH__ENABLED="true", DSXCONNECT_AUTH__ENROLLMENT_TOKEN=TOKEN)
        log = open(os.path.join(OUT, f"auth-{'on' if auth else 'off'}-serve.log"), "w")
        procs.append(subprocess.Popen([os.path.join(bin_dir, "dsx-connect"), "serve"], env=env, stdout=log, stderr=log))
        api = f"http://127.0.0.1:{port}/dsx-connect/api/v1"
        bearer = None
        if auth:
            out = subprocess.run([os.path.join(bin_dir, "dsx-connect"), "token", "create", "--name", "bench",
                                  "--role", "operator"], env=env, capture_output=True, text=True, check=True)
            bearer = out.stdout.strip()
        listen = f"127.0.0.1:{free_port()}"
        cenv = dict(os.environ, DSXCONNECTOR_CONNECTOR_URL=f"http://{listen}", DSXCONNECTOR_LOG_LEVEL="warn")
        if auth:
            cenv["DSXCONNECT_ENROLLMENT_TOKEN"] = TOKEN
        clog = open(os.path.join(OUT, f"auth-{'on' if auth else 'off'}-connector.log"), "w")
        procs.append(subprocess.Popen(
            [os.path.join(bin_dir, "dsx-connect"), "connector", "filesystem", "--listen", listen,
             "--action", "nothing", "--core-url", f"http://127.0.0.1:{port}", "--asset", tree,
             "--data-dir", os.path.join(data, "connector")], env=cenv, stdout=clog, stderr=clog))
        uuid = None
        for _ in range(600):
            try:
                _, _, lst = call("GET", f"{api}/connectors/list", bearer)
                if lst:
                    uuid = lst[0]["uuid"]
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not uuid:
            raise SystemExit("the connector did not register")
        start = time.monotonic()
        _, headers, _ = call("POST", f"{api}/connectors/full_scan/{uuid}", bearer)
        job = headers["X-Job-Id"]
        while True:
            _, _, j = call("GET", f"{api}/scan/jobs/{job}", bearer)
            if j["status"] in ("completed", "cancelled"):
                break
            time.sleep(0.1)
        secs = time.monotonic() - start
        if int(j["processed_count"]) != files + 1 or int(j["failed_count"]) != 0:
            raise SystemExit(f"inexact job: {j}")
        return (files + 1) / secs
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
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    tree = make_tree(f"tree-{a.files}", a.files)
    rates = {False: [], True: []}
    for r in range(a.rounds):
        for auth in (False, True):
            rate = run_once(a.bin_dir, tree, a.files, auth, a.delay_ms)
            rates[auth].append(rate)
            print(f"round={r + 1} auth={'on' if auth else 'off'} files_per_s={rate:.0f}", flush=True)
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"files={a.files} rounds={a.rounds} median_off={off:.0f} median_on={on:.0f} "
          f"cost={(off - on) / off * 100:.1f}%")


if __name__ == "__main__":
    main()
