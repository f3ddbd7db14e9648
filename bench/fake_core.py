"""A recording fake core for connector benchmarks: answers registration, single and batch scan
requests, `enqueue_done` and unregistration like the core (docs/reference/CONNECTORS.md,
"Test fakes"), and records when each scanned location arrived. Built to cost little per request
(keep-alive, no JSON parsing of batch bodies beyond the locations) so the connector is what gets
measured."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCATION = re.compile(rb'"location":"((?:[^"\\]|\\.)*)"')


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.arrivals = {}  # location -> [monotonic arrival times]
        self.items = 0
        self.requests = 0
        self.done = {}  # job id -> (monotonic time, body)
        self.registered = threading.Event()

    def record(self, body):
        now = time.monotonic()
        locs = [json.loads(b'"' + m + b'"') for m in LOCATION.findall(body)]
        with self.lock:
            self.requests += 1
            self.items += len(locs)
            for loc in locs:
                self.arrivals.setdefault(loc, []).append(now)
        return len(locs)


def start(recorder):
    """Serves on a free loopback port in a background thread; returns the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One segment per answer, sent at once: headers and body written separately would meet
        # the client's delayed ACK (40 ms per request) and measure TCP, not the connector.
        disable_nagle_algorithm = True
        wbufsize = -1

        def log_message(self, *args):
            pass

        def answer(self, code, payload):
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            self.answer(200, {"status": "alive"})

        def do_DELETE(self):
            self.body()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.body()
            path = self.path
            if path.endswith("/connectors/register"):
                first = not recorder.registered.is_set()
                recorder.registered.set()
                self.answer(201 if first else 200, {"status": "success", "message": "registered"})
            elif path.endswith("/scan/request/batch"):
                n = recorder.record(body)
                items = ",".join(f'{{"index":{i},"id":"t{i}","status":"success","http_status":202}}' for i in range(n))
                self.answer(202, ('{"status":"success","items":[' + items + "]}").encode())
            elif path.endswith("/scan/request"):
                recorder.record(body)
                self.answer(202, {"status": "success", "message": "queued", "id": "t"})
            elif path.endswith("/enqueue_done"):
                job = path.split("/scan/jobs/")[1].split("/")[0]
                with recorder.lock:
                    recorder.done[job] = (time.monotonic(), json.loads(body or b"{}"))
                self.answer(200, {"ok": True})
            else:
                self.answer(200, {"status": "success"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"
