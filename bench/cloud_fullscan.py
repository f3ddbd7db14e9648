#!/usr/bin/env python3
"""Cloud connector benchmark (docs/BENCHMARKS.md, "Azure Blob and GCS connectors beside S3"):
the same 20,000 files of 1–64 KiB as
`fullscan.py` in moto (S3, the baseline), Azurite (Azure Blob) and fake-gcs-server (GCS), each
started as the test harness starts it (tests/it/common/{moto,azurite,gcs}.rs). Per server:

- plain listing: a minimal paged client of the raw List API on the same emulator, same page size
  and same query as the connector (ListObjectsV2 with continuation tokens, List Blobs with
  `NextMarker` and `include=metadata`, objects.list with `pageToken`), keys/s;
- listing alone: the standalone connector enumerating into the recording fake core, keys/s from
  the trigger to `enqueue_done`, its CPU seconds (/proc/PID/stat) and the emulator's;
- full scan: `dsx-connect serve --s3|--azure|--gcs BUCKET/bench` against the DSXA stub at 0 ms,
  files/s from the trigger to the job's completion.

After one untimed pass of each, plain and connector listings alternate `--repeat` times and the
medians are compared, so a passing spike of load on the shared machine moves both sides alike.
Seeding is untimed (moto and Azurite: uploads with 16 writers; fake-gcs-server: `-data` with a
hard-linked copy of the tree).

    bench/cloud_fullscan.py --files 20000 --server all --bin-dir target/release
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

from harness import OUT, ROOT, Rig, cpu_seconds, free_port, make_tree, peak_rss_mb, standalone_listing
from s3_fullscan import CREDS, start_moto, upload, wait_http

AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZ_VERSION = "2024-08-04"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def tree_files(tree):
    """(absolute path, `bench/<relative path>`) of every file of the tree."""
    out = []
    for d, _, names in os.walk(tree):
        out += [(os.path.join(d, n), "bench/" + os.path.relpath(os.path.join(d, n), tree))
                for n in names if n != ".complete"]
    return out


def connection(endpoint):
    u = urllib.parse.urlsplit(endpoint)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def fetch(conn, method, path, headers=None, body=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return data


# --- Azure: Shared Key as the connector signs it (src/connectors/azure/sign.rs) ---------------

def az_headers(method, path, query, length=0, extra=None):
    """The signed headers of a request to Azurite's path-style endpoint (`path` starts with
    `/devstoreaccount1`)."""
    h = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": AZ_VERSION, **(extra or {})}
    ms = "".join(f"{k}:{v}\n" for k, v in sorted((k.lower(), v) for k, v in h.items() if k.lower().startswith("x-ms-")))
    ctype = h.get("Content-Type", "")
    canon = f"/{AZ_ACCOUNT}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    to_sign = f"{method}\n\n\n{length or ''}\n\n{ctype}\n\n\n\n\n\n\n{ms}{canon}"
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    h["Authorization"] = f"SharedKey {AZ_ACCOUNT}:{sig}"
    return h


def az_call(conn, method, path, query, body=None, extra=None):
    h = az_headers(method, path, query, len(body or b""), extra)
    if body is not None:
        h["Content-Length"] = str(len(body))
    qs = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return fetch(conn, method, f"{path}?{qs}" if qs else path, h, body)


def seed_azurite(endpoint, container, tree):
    conn = connection(endpoint)
    az_call(conn, "PUT", f"/{AZ_ACCOUNT}/{container}", {"restype": "container"})
    local = threading.local()

    def put(entry):
        path, name = entry
        if not hasattr(local, "conn"):
            local.conn = connection(endpoint)
        with open(path, "rb") as f:
            body = f.read()
        az_call(local.conn, "PUT", f"/{AZ_ACCOUNT}/{container}/{urllib.parse.quote(name)}", {}, body,
                {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})

    files = tree_files(tree)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def start_azurite():
    binary = os.path.join(ROOT, "tests", "azurite", "node_modules", ".bin", "azurite-blob")
    if not os.path.exists(binary):
        raise SystemExit("Azurite is missing: run scripts/setup.sh (npm ci --prefix tests/azurite)")
    port = free_port()
    work = tempfile.mkdtemp(prefix="dsx-bench-azurite-")
    log = open(os.path.join(OUT, "azurite.log"), "w")
    proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                             "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
                            cwd=work, stdout=log, stderr=log)
    wait_http(f"http://127.0.0.1:{port}/{AZ_ACCOUNT}?comp=list")
    return proc, f"http://127.0.0.1:{port}/{AZ_ACCOUNT}"


def start_fake_gcs(bucket, tree):
    """fake-gcs-server preloaded (`-data`) with a bucket holding the tree under `bench/`."""
    binary = shutil.which("fake-gcs-server")
    if not binary:
        raise SystemExit("fake-gcs-server is missing: run scripts/setup.sh")
    data = os.path.join(OUT, "fake-gcs-data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(os.path.join(data, bucket))
    # Hard links: no second copy of the tree on disk.
    shutil.copytree(tree, os.path.join(data, bucket, "bench"), copy_function=os.link,
                    ignore=shutil.ignore_patterns(".complete"))
    port = free_port()
    log = open(os.path.join(OUT, "fake-gcs.log"), "w")
    proc = subprocess.Popen([binary, "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                             "-public-host", f"127.0.0.1:{port}", "-log-level", "error", "-data", data],
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/storage/v1/b")
    return proc, url


# --- The plain listers: one keep-alive connection, one page after the other ------------------

def plain_s3(endpoint, bucket, prefix):
    conn, keys, token = connection(endpoint), [], None
    while True:
        q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        root = ET.fromstring(fetch(conn, "GET", f"/{bucket}?{urllib.parse.urlencode(q)}"))
        keys += [c.findtext(f"{S3_NS}Key") for c in root.iter(f"{S3_NS}Contents")]
        token = root.findtext(f"{S3_NS}NextContinuationToken")
        if root.findtext(f"{S3_NS}IsTruncated") != "true" or not token:
            return keys


def plain_azure(endpoint, container, prefix):
    conn, names, marker = connection(endpoint), [], None
    while True:
        q = {"restype": "container", "comp": "list", "prefix": prefix, "maxresults": "5000", "include": "metadata"}
        if marker:
            q["marker"] = marker
        root = ET.fromstring(az_call(conn, "GET", f"/{AZ_ACCOUNT}/{container}", q))
        names += [b.findtext("Name") for b in root.iter("Blob")]
        marker = root.findtext("NextMarker")
        if not marker:
            return names


def plain_gcs(endpoint, bucket, prefix):
    conn, names, token = connection(endpoint), [], None
    while True:
        q = {"prefix": prefix, "maxResults": "1000", "fields": "items(name,size,generation),nextPageToken"}
        if token:
            q["pageToken"] = token
        page = json.loads(fetch(conn, "GET", f"/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(q)}"))
        names += [o["name"] for o in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            return names


class Server:
    """One emulator and how each side reaches it."""

    def __init__(self, name, bucket, kind, route, flag, plain):
        self.name, self.bucket, self.kind, self.route, self.flag, self.plain = name, bucket, kind, route, flag, plain
        self.proc = self.endpoint = None

    def start(self, tree):
        start = time.monotonic()
        if self.name == "moto":
            self.proc, self.endpoint = start_moto()
            n = upload(self.endpoint, self.bucket, tree)
        elif self.name == "azurite":
            self.proc, self.endpoint = start_azurite()
            n = seed_azurite(self.endpoint, self.bucket, tree)
        else:
            self.proc, self.endpoint = start_fake_gcs(self.bucket, tree)
            n = len(tree_files(tree))
        print(f"server={self.name} seeded objects={n} seconds={time.monotonic() - start:.1f}", flush=True)

    def env(self):
        """The connector's settings toward the emulator (as tests/it/common sets them)."""
        if self.name == "moto":
            return dict(CREDS, DSXCONNECTOR_S3_ENDPOINT_URL=self.endpoint)
        if self.name == "azurite":
            return {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};"
                                                       f"AccountKey={AZ_KEY};BlobEndpoint={self.endpoint};"}
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


SERVERS = {
    "moto": Server("moto", "bench-s3", "s3", "aws-s3-connector", "--s3", plain_s3),
    "azurite": Server("azurite", "bench-az", "azure-blob", "azure-blob-storage-connector", "--azure", plain_azure),
    "fake-gcs": Server("fake-gcs", "bench-gcs", "gcs", "google-cloud-storage-connector", "--gcs", plain_gcs),
}


def load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def measure(server, files, repeat, bin_dir):
    binary = os.path.join(bin_dir, "dsx-connect")
    asset = f"{server.bucket}/bench"
    # One untimed pass of each side first: the emulators' first listing after seeding is slower
    # (fake-gcs-server: 1.7 s, then 0.7 s, in a trial run).
    server.plain(server.endpoint, server.bucket, "bench/")
    standalone_listing(binary, server.kind, server.route, asset, server.env())
    plain, conn = [], []
    for i in range(repeat):
        before, start = cpu_seconds(server.proc.pid), time.monotonic()
        keys = server.plain(server.endpoint, server.bucket, "bench/")
        secs = time.monotonic() - start
        assert len(keys) == files, f"the plain lister saw {len(keys)} of {files}"
        plain.append(len(keys) / secs)
        print(f"  {server.name} run={i} plain keys={len(keys)} seconds={secs:.2f} keys_per_s={len(keys) / secs:.0f} "
              f"server_cpu_s={cpu_seconds(server.proc.pid) - before:.2f} load={load()}", flush=True)
        before = cpu_seconds(server.proc.pid)
        n, secs, cpu, rss = standalone_listing(binary, server.kind, server.route, asset, server.env())
        assert n == files, f"the connector enqueued {n} of {files}"
        conn.append((n / secs, cpu, rss))
        print(f"  {server.name} run={i} connector keys={n} seconds={secs:.2f} keys_per_s={n / secs:.0f} "
              f"listing_cpu_s={cpu:.2f} connector_peak_rss_mb={rss:.1f} "
              f"server_cpu_s={cpu_seconds(server.proc.pid) - before:.2f} load={load()}", flush=True)
    row = dict(server=server.name, plain=statistics.median(plain), connector=statistics.median(c[0] for c in conn),
               cpu=statistics.median(c[1] for c in conn) * 20000 / files, rss=max(c[2] for c in conn))
    env = [f"{k}={v}" for k, v in server.env().items()]
    with Rig([], 0, env=env, bin_dir=bin_dir, cloud_assets=[(server.flag, asset)]) as rig:
        before, start = cpu_seconds(server.proc.pid), time.monotonic()
        j = rig.wait_completed(rig.full_scan(rig.connectors[0]))
        secs = time.monotonic() - start
        done = int(j["processed_count"])
        print(f"  {server.name} full_scan files={done} failed={j['failed_count']} seconds={secs:.2f} "
              f"files_per_s={done / secs:.0f} server_cpu_s={cpu_seconds(server.proc.pid) - before:.1f} "
              f"serve_peak_rss_mb={peak_rss_mb(rig.serve.pid):.1f} load={load()}", flush=True)
        assert done == files, f"the full scan processed {done} of {files}"
        row.update(scan=done / secs, scan_secs=secs)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--server", choices=["all", *SERVERS], default="all")
    ap.add_argument("--repeat", type=int, default=5, help="plain/connector listing pairs per server")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    print(f"files={a.files} bin_dir={a.bin_dir} nproc={os.cpu_count()} load={load()}", flush=True)
    rows = []
    for name in SERVERS if a.server == "all" else [a.server]:
        server = SERVERS[name]
        server.start(tree)
        try:
            rows.append(measure(server, a.files, a.repeat, a.bin_dir))
        finally:
            server.stop()
    print()
    print("| server | plain lister | connector listing | connector / plain | connector CPU per 20,000 | "
          "connector peak RSS | full scan |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['server']} | {r['plain']:,.0f} keys/s | {r['connector']:,.0f} keys/s | "
              f"{100 * r['connector'] / r['plain']:.0f} % | {r['cpu']:.2f} s | {r['rss']:.1f} MB | "
              f"{r['scan']:,.0f} files/s ({r['scan_secs']:.1f} s) |")
    print(f"load={load()}")


if __name__ == "__main__":
    main()
