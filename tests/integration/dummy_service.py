"""A tiny stand-in service for supervisor tests: stdlib only, starts in milliseconds.

Run as ``python tests/integration/dummy_service.py --name alpha``; it reads the environment
the stack passes (``ALPHA_HOST``, ``ALPHA_PORT``, ``ALPHA_REPLICA``, ...) and answers:

- ``GET /healthz``, ``GET /readyz`` (503 for ``ALPHA_LOAD_TIME_S`` seconds after start);
- ``GET /env``: the environment variables it was given that the tests look at;
- ``POST /crash?code=N``: exit with code N;  ``POST /leak?mb=N``: hold N more megabytes.

``ALPHA_CRASH_STARTS=N`` makes the first N starts exit with code 3 at once (a crash loop);
the count is kept next to the process's faults file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HELD: list[bytearray] = []


def count_start(faults_file: str | None) -> int:
    if not faults_file:
        return 1
    path = Path(faults_file + ".starts")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="dummy")
    args = parser.parse_args()
    prefix = args.name.upper() + "_"
    env = os.environ
    host = env.get(prefix + "HOST", "127.0.0.1")
    port = int(env.get(prefix + "PORT", "0"))
    load_s = float(env.get(prefix + "LOAD_TIME_S", "0"))
    crash_starts = int(env.get(prefix + "CRASH_STARTS", "0"))
    start = count_start(env.get("GAMEDAY_FAULTS_FILE"))
    if start <= crash_starts:
        print(f"{args.name}: crashing on start {start} of {crash_starts}", file=sys.stderr)
        sys.exit(3)
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # quiet
            pass

        def reply(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server API
            path = urlparse(self.path).path
            if path == "/healthz":
                self.reply(200, {"status": "ok"})
            elif path == "/readyz":
                ready = time.monotonic() - started >= load_s
                self.reply(200 if ready else 503, {"ready": ready})
            elif path == "/env":
                keys = [k for k in env if k.startswith(prefix) or k.startswith("GAMEDAY_")
                        or k.endswith("_URL") or k.endswith("_URLS")]
                self.reply(200, {k: env[k] for k in keys} | {"pid": os.getpid()})
            else:
                self.reply(404, {"detail": "not found"})

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            q = parse_qs(url.query)
            if url.path == "/crash":
                code = int(q.get("code", ["1"])[0])
                self.reply(200, {"exiting": code})
                self.wfile.flush()
                threading.Timer(0.05, os._exit, (code,)).start()
            elif url.path == "/leak":
                mb = int(q.get("mb", ["10"])[0])
                HELD.append(bytearray(b"\x5a") * (mb * 1024 * 1024))
                self.reply(200, {"held_mb": sum(len(b) for b in HELD) // (1024 * 1024)})
            else:
                self.reply(404, {"detail": "not found"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"{args.name}: listening on {host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
