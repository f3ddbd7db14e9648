#!/usr/bin/env python3
"""S3 full-scan benchmark against a local S3 API: the same 20,000 small files as `fullscan.py` in
a bucket, then, in one `dsx-connect serve --fs TREE --s3 BUCKET/PREFIX` process against the DSXA
stub, a full scan of the folder and of the bucket (files/s from the trigger to the job's
completion); and listing throughput alone: the standalone S3 connector enumerating the bucket
into a recording fake core (keys/s to `enqueue_done`). The S3 server's own CPU time during each
phase is printed, to show which side is the limit.

Servers: `moto_server` (PyPI; objects uploaded with boto3) or `s3s-fs` (Rust, serves a folder;
installed on first use under bench/out/tools with `cargo install s3s-fs@0.14.1`).

    bench/s3_fullscan.py --files 20000 --server moto
    bench/s3_fullscan.py --files 20000 --server s3s-fs
"""
import argparse
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import urllib.error
import urllib.request

from harness import OUT, ROOT, Rig, cpu_seconds, free_port, make_tree, peak_rss_mb, standalone_listing

CREDS = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", DSXCONNECTOR_S3_REGION="us-east-1")


S3S_FS = os.path.join(OUT, "tools", "bin", "s3s-fs")


def wait_http(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it listens
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_s3s_fs(bucket, tree):
    """s3s-fs serving a fresh root whose bucket holds a copy of the tree under `bench/`."""
    if not os.path.exists(S3S_FS):
        subprocess.run(["cargo", "install", "s3s-fs@0.14.1", "--locked", "--features", "binary",
                        "--root", os.path.join(OUT, "tools")], check=True)
    root = os.path.join(OUT, "s3s-root")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(tree, os.path.join(root, bucket, "bench"), ignore=shutil.ignore_patterns(".complete"))
    port = free_port()
    log = open(os.path.join(OUT, "s3s-fs.log"), "w")
    proc = subprocess.Popen([S3S_FS, "--host", "127.0.0.1", "--port", str(port), "--access-key", "testing",
                             "--secret-key", "testing", root], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_http(url)
    return proc, url


def start_moto():
    port = free_port()
    log = open(os.path.join(OUT, "moto.log"), "w")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/data.json")
    return proc, url


def upload(endpoint, bucket, tree):
    """Every file of the tree as `bench/<relative path>`; returns the object count."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(max_pool_connections=32))
    s3.create_bucket(Bucket=bucket)
    files = []
    for d, _, names in os.walk(tree):
        files += [os.path.join(d, n) for n in names if n != ".complete"]

    def put(path):
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key="bench/" + os.path.relpath(path, tree), Body=f.read())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--server", choices=["moto", "s3s-fs"], default="moto")
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    bucket = "bench-s3"
    if a.server == "moto":
        server, endpoint = start_moto()
        t = time.monotonic()
        n = upload(endpoint, bucket, tree)
        print(f"server=moto uploaded objects={n} seconds={time.monotonic() - t:.1f}")
    else:
        server, endpoint = start_s3s_fs(bucket, tree)
        print(f"server=s3s-fs objects={a.files} (a copy of the tree)")
    try:
        asset = f"{bucket}/bench"
        binary = os.path.join(ROOT, "target", "release", "dsx-connect")
        before = cpu_seconds(server.pid)
        env = dict(CREDS, DSXCONNECTOR_S3_ENDPOINT_URL=endpoint)
        listed, secs, cpu, rss = standalone_listing(binary, "s3", "aws-s3-connector", asset, env)
        print(f"listing_alone keys={listed} seconds={secs:.2f} keys_per_s={listed / secs:.0f} "
              f"listing_cpu_s={cpu:.2f} connector_peak_rss_mb={rss:.1f} "
              f"server_cpu_s={cpu_seconds(server.pid) - before:.2f}")
        env = [f"DSXCONNECTOR_S3_ENDPOINT_URL={endpoint}"] + [f"{k}={v}" for k, v in CREDS.items()]
        with Rig([tree], a.delay_ms, env=env, s3_assets=[asset]) as rig:
            fs_uuid, s3_uuid = rig.connectors
            for label, uuid in (("filesystem", fs_uuid), ("s3", s3_uuid)):
                before = cpu_seconds(server.pid)
                start = time.monotonic()
                j = rig.wait_completed(rig.full_scan(uuid))
                secs = time.monotonic() - start
                done = int(j["processed_count"])
                print(f"{label} files={done} failed={j['failed_count']} seconds={secs:.2f} "
                      f"files_per_s={done / secs:.0f} delay_ms={a.delay_ms} "
                      f"s3_server_cpu_s={cpu_seconds(server.pid) - before:.1f}")
            print(f"serve_peak_rss_mb={peak_rss_mb(rig.serve.pid):.1f}")
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
