#!/usr/bin/env python3
"""A local folder with a local clamd, beside `clamdscan` (issue 20): the same N files of 1–64 KiB
(seeded, cached under `bench/out/`), the same clamd on a unix socket (one custom signature
database, `MaxThreads` 8), scanned by `clamdscan --multiscan --fdpass DIR` and by `dsx-connect
scan DIR` with `DSXCONNECT_SCANNER__ENGINE=clamd`. One line per run: wall seconds, files/s, the
scanning client's CPU per file (user + system) and clamd's CPU per file over the run.

    bench/clamd_local.py --files 20000
    bench/clamd_local.py --files 20000 --env DSXCONNECT_SCANNER__CLAMD_FDPASS_MAX_SIZE=0   # INSTREAM
    bench/clamd_local.py --bin-dir target/profiling --perf out.data   # perf record of dsx-connect
"""
import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import time

from harness import ROOT, make_tree

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def start_clamd(work):
    """clamd on a unix socket with one hash signature (EICAR's MD5), 8 scanning threads."""
    db = os.path.join(work, "db")
    os.makedirs(db)
    with open(os.path.join(db, "custom.hdb"), "w") as f:
        f.write(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature.Bench\n")
    sock = os.path.join(work, "clamd.sock")
    conf = os.path.join(work, "clamd.conf")
    with open(conf, "w") as f:
        f.write(f"DatabaseDirectory {db}\nLocalSocket {sock}\nForeground yes\nMaxThreads 8\n"
                f"MaxQueue 200\nStreamMaxLength 25M\nLogFile {work}/clamd.log\n")
    proc = subprocess.Popen(["clamd", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not os.path.exists(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("clamd did not start")
        time.sleep(0.05)
    return proc, conf, sock


def cpu_secs(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(label, cmd, env, clamd, files):
    """Runs `cmd` to its end; prints wall time, files/s, its CPU and clamd's per file."""
    c0, k0, t0 = children_cpu(), cpu_secs(clamd.pid), time.monotonic()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    secs = time.monotonic() - t0
    ours, theirs = children_cpu() - c0, cpu_secs(clamd.pid) - k0
    if out.returncode not in (0, 1):
        raise SystemExit(f"{label} failed ({out.returncode}): {out.stderr[-2000:]}")
    print(f"client={label} files={files} seconds={secs:.2f} files_per_s={files / secs:.0f} "
          f"client_cpu_ms_per_file={ours * 1e3 / files:.3f} clamd_cpu_ms_per_file={theirs * 1e3 / files:.3f} "
          f"exit={out.returncode}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for dsx-connect")
    ap.add_argument("--perf", help="record dsx-connect with `perf record -g` into this file")
    ap.add_argument("--skip-clamdscan", action="store_true")
    a = ap.parse_args()
    tree = make_tree(f"tree-{a.files}", a.files)
    files = a.files + 1  # the tree's marker file
    # Both clients read a warm page cache: read the tree once first.
    for d, _, names in os.walk(tree):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                f.read()
    work = tempfile.mkdtemp(prefix="dsx-clamd-bench-")
    clamd, conf, sock = start_clamd(work)
    try:
        if not a.skip_clamdscan:
            run("clamdscan", ["clamdscan", f"--config-file={conf}", "--multiscan", "--fdpass", "--no-summary",
                              "--quiet", tree], dict(os.environ), clamd, files)
        env = dict(os.environ, DSXCONNECT_SCANNER__ENGINE="clamd", DSXCONNECT_SCANNER__CLAMD_ADDRESS=f"unix://{sock}",
                   DSXCONNECT_LOG_LEVEL="warn")
        for kv in a.env:
            k, v = kv.split("=", 1)
            env[k] = v
        data = os.path.join(work, "scan-data")
        cmd = [os.path.join(a.bin_dir, "dsx-connect"), "scan", "--no-progress", "-q", "--data-dir", data, tree]
        if a.perf:
            cmd = ["perf", "record", "-F", "499", "--call-graph", "dwarf,32768", "-o", a.perf, "--"] + cmd
        run("dsx-connect", cmd, env, clamd, files)
    finally:
        clamd.terminate()
        clamd.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
