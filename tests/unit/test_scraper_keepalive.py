"""The embedded scraper keeps its connections to targets alive between scrapes, as
Prometheus does: a target whose event loop is busy with a surge answers a kept connection
in time where a new one waits to be accepted first (src/gameday/engine/scraper.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gameday.engine.scraper import Scraper, targets_from_urls
from gameday.engine.store import SampleStore

BODY = b"# TYPE demo_total counter\ndemo_total 3\n"


def serve() -> tuple[ThreadingHTTPServer, dict]:
    seen = {"connections": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the client closes

        def setup(self):
            seen["connections"] += 1
            super().setup()

        def do_GET(self):  # noqa: N802 (http.server's naming)
            seen["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_scrapes_reuse_one_connection_per_target_and_stop_closes_it():
    server, seen = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    store = SampleStore()
    scraper = Scraper(targets_from_urls({"demo": [url]}), store)
    try:
        for i in range(5):
            [scrape] = scraper.scrape_once(1000.0 + i)
            assert scrape.samples is not None
    finally:
        scraper.stop()
        server.shutdown()
        server.server_close()
    assert seen == {"connections": 1, "requests": 5}
    assert scraper.failures == 0 and scraper._client is None
