#!/usr/bin/env python3
"""Superlog benchmarks (issue 7), release binaries.

    bench/superlog.py throughput --events 50000
        events/s delivered to each local receiver (rsyslog UDP, TCP and TLS; a Splunk HEC
        receiver; moto's CloudWatch Logs; an Azure Logs Ingestion receiver) and the emitting
        process's CPU time per 1,000 events, driven by the `superlog_emit` example.

    bench/superlog.py scan --files 20000 --runs 3
        a full scan with no destination vs. the same scan with a Splunk destination that is
        down for the whole scan (connection refused; afterwards the receiver comes up on that
        port and the kept events are delivered) vs. one that is up; checks
        sent + dropped + failed == results.

Build first: cargo build --release --bins --example superlog_emit (BIN_DIR= another folder holding
dsx-connect, dsxa-stub and superlog_emit).
"""
import argparse
import http.server
import json
import os
import shutil
import socketserver
import statistics
import subprocess
import tempfile
import threading
import time

from harness import OUT, ROOT, Rig, free_port, get, make_tree

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("BIN_DIR", os.path.join(TARGET, "release"))
EMIT = next((p for p in (os.path.join(BIN, "examples", "superlog_emit"), os.path.join(BIN, "superlog_emit"))
             if os.path.exists(p)), "superlog_emit")
OK = b'{"text":"Success","code":0}'


class Receiver(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Splunk HEC, Entra ID token endpoint and Azure DCE in one: answers every POST, counts
    the events it received (HEC envelopes are LF-separated, Azure records a JSON array)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        self.events = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/oauth2/v2.0/token"):
            return self.answer(200, json.dumps({"access_token": "t", "expires_in": 3600}).encode())
        if self.path.startswith("/dataCollectionRules/"):
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip
                body = gzip.decompress(body)
            n = len(json.loads(body))
            status, out = 204, b""
        else:
            n = body.count(b"\n") + 1 if body else 0
            status, out = 200, OK
        with self.server.lock:
            self.server.events += n
        self.answer(status, out)

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def pki(d):
    """A CA and a server certificate for 127.0.0.1 (openssl)."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench CA",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr")
    with open(f"{d}/ext", "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext", "-out", f"{d}/server.pem")


def rsyslog(kind, d):
    """rsyslogd on a free loopback port writing %rawmsg% lines; returns (process, port, file)."""
    port = free_port()
    out = f"{d}/{kind}.log"
    glob = f'global(workDirectory="{d}" maxMessageSize="64k"'
    if kind == "tls":
        glob += (f' DefaultNetstreamDriverCAFile="{d}/ca.pem" DefaultNetstreamDriverCertFile="{d}/server.pem"'
                 f' DefaultNetstreamDriverKeyFile="{d}/server.key"')
        mod = 'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")'
        inp = f'input(type="imtcp" address="127.0.0.1" port="{port}")'
    elif kind == "tcp":
        mod, inp = 'module(load="imtcp")', f'input(type="imtcp" address="127.0.0.1" port="{port}")'
    else:
        mod, inp = 'module(load="imudp")', f'input(type="imudp" address="127.0.0.1" port="{port}" rcvbufSize="16m")'
    conf = f"{d}/{kind}.conf"
    with open(conf, "w") as f:
        f.write(f'{glob})\n{mod}\n{inp}\ntemplate(name="raw" type="string" string="%rawmsg%\\n")\n'
                f'action(type="omfile" file="{out}" template="raw" asyncWriting="on" ioBufferSize="1m" flushOnTXEnd="off")\n')
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", f"{d}/{kind}.pid"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return p, port, out


def lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def emit(env, events):
    e = dict(os.environ, DSXCONNECT_SUPERLOG__HOSTNAME="bench", DSXCONNECT_SUPERLOG__BUFFER_EVENTS="1000000",
             DSXCONNECT_LOG_LEVEL="warn", **env)
    out = subprocess.run([EMIT, str(events)], env=e, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return out.stdout.strip()


def throughput(a):
    d = tempfile.mkdtemp(prefix="superlog-bench-")
    pki(d)
    for kind in ("udp", "tcp", "tls"):
        p, port, out = rsyslog(kind, d)
        env = {"DSXCONNECT_SUPERLOG__DESTINATIONS": "syslog", "DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT": kind,
               "DSXCONNECT_SUPERLOG__SYSLOG__PORT": str(port)}
        if kind == "tls":
            env["DSXCONNECT_SUPERLOG__SYSLOG__TLS_CA_FILE"] = f"{d}/ca.pem"
        line = emit(env, a.events)
        time.sleep(2)
        p.terminate()
        p.wait()
        print(f"{line} received={lines(out)}")
    port = free_port()
    rx = Receiver(port)
    line = emit({"DSXCONNECT_SUPERLOG__DESTINATIONS": "splunk", "DSXCONNECT_SUPERLOG__SPLUNK__URL": f"http://127.0.0.1:{port}",
                 "DSXCONNECT_SUPERLOG__SPLUNK__TOKEN": "bench"}, a.events)
    print(f"{line} received={rx.events}")
    rx.events = 0
    line = emit({"DSXCONNECT_SUPERLOG__DESTINATIONS": "sentinel",
                 "DSXCONNECT_SUPERLOG__SENTINEL__DCE_URL": f"http://127.0.0.1:{port}",
                 "DSXCONNECT_SUPERLOG__SENTINEL__AUTHORITY_HOST": f"http://127.0.0.1:{port}",
                 "DSXCONNECT_SUPERLOG__SENTINEL__DCR_IMMUTABLE_ID": "dcr-00112233445566778899aabbccddeeff",
                 "DSXCONNECT_SUPERLOG__SENTINEL__STREAM_NAME": "Custom-DSXConnect_CL",
                 "DSXCONNECT_SUPERLOG__SENTINEL__TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                 "DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_ID": "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10",
                 "DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_SECRET": "bench"}, a.events)
    print(f"{line} received={rx.events}")
    rx.shutdown()
    mport = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(mport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    line = emit({"DSXCONNECT_SUPERLOG__DESTINATIONS": "cloudwatch",
                 "DSXCONNECT_SUPERLOG__CLOUDWATCH__LOG_GROUP": "/dsx/bench",
                 "DSXCONNECT_SUPERLOG__CLOUDWATCH__ENDPOINT_URL": f"http://127.0.0.1:{mport}",
                 "DSXCONNECT_SUPERLOG__CLOUDWATCH__REGION": "us-east-1",
                 "DSXCONNECT_SUPERLOG__CLOUDWATCH__BATCH_MAX_EVENTS": "10000",
                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_EC2_METADATA_DISABLED": "true"}, a.cloudwatch_events)
    print(f"{line} receiver=moto_server")
    moto.terminate()
    shutil.rmtree(d, ignore_errors=True)


def scan_once(tree, files, env, receiver_port=None, up=False):
    """One full scan; with `receiver_port`, a HEC receiver listens there during the scan (`up`) or
    only after it (down for the whole scan), and the kept events are counted once delivered."""
    rx = Receiver(receiver_port) if up else None
    with Rig([tree], 0, env=env, bin_dir=BIN) as rig:
        start = time.monotonic()
        job = rig.full_scan(rig.connectors[0])
        j = rig.wait_completed(job)
        secs = time.monotonic() - start
        extra = ""
        if receiver_port:
            d = get(f"{rig.api}/superlog/status")["destinations"][0]
            buffered = d["buffered"]
            rx = rx or Receiver(receiver_port)
            t = time.monotonic()
            while d["buffered"] > 0 or d["sent"] + d["dropped"] + d["failed"] < int(j["processed_count"]):
                time.sleep(0.1)
                d = get(f"{rig.api}/superlog/status")["destinations"][0]
            total = d["sent"] + d["dropped"] + d["failed"]
            extra = (f" buffered_at_end={buffered} dropped={d['dropped']} sent={d['sent']} failed={d['failed']}"
                     f" received={rx.events} delivered_after_s={time.monotonic() - t:.1f}"
                     f" sent+dropped+failed==results:{'yes' if total == int(j['processed_count']) else 'NO'}")
            rx.shutdown()
            rx.server_close()
        return files / secs, (f"files={files} seconds={secs:.2f} files_per_s={files / secs:.0f} "
                              f"processed={j['processed_count']} failed={j['failed_count']}{extra}")


def scan(a):
    tree = make_tree(f"tree-{a.files}", a.files)
    rates = {"none": [], "down": [], "up": []}
    for _ in range(a.runs):
        for name in ("none", "down", "up"):
            port = free_port()
            env = [] if name == "none" else [
                "DSXCONNECT_SUPERLOG__DESTINATIONS=splunk", f"DSXCONNECT_SUPERLOG__SPLUNK__URL=http://127.0.0.1:{port}",
                "DSXCONNECT_SUPERLOG__SPLUNK__TOKEN=bench", "DSXCONNECT_SUPERLOG__MAX_ATTEMPTS=100",
                "DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS=2000"]
            rate, line = scan_once(tree, a.files + 1, env, None if name == "none" else port, up=name == "up")
            rates[name].append(rate)
            print(f"superlog={name} {line}", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"median files/s: none={med['none']:.0f} destination_down={med['down']:.0f} "
          f"destination_up={med['up']:.0f} ratio_down={med['down'] / med['none']:.3f} "
          f"ratio_up={med['up'] / med['none']:.3f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--events", type=int, default=50000)
    t.add_argument("--cloudwatch-events", type=int, default=20000)
    s = sub.add_parser("scan")
    s.add_argument("--files", type=int, default=20000)
    s.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    throughput(a) if a.cmd == "throughput" else scan(a)


if __name__ == "__main__":
    main()
