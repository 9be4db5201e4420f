"""Lab only: a tiny HTTP forward proxy that adds ``X-Forwarded-For``, as many proxies do.

Started by ``_lab.Lab.proxy()`` inside a lab namespace as ``python _proxy.py PORT``; it listens
on 127.0.0.1:PORT of that namespace, prints ``ready`` and then one JSON line per request it
forwards (``{"method": ..., "url": ..., "status": ...}``), so a test sees exactly which tool
used it. Real IMDS answers a token PUT that carries ``X-Forwarded-For`` with 403, and so does
the simulator. It stops when stdin closes or on SIGTERM, and never outlives ``MAX_LIFETIME``.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MAX_LIFETIME = 900.0
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te"}


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        status, reply_headers, reply = 502, [("Content-Type", "text/plain")], b"bad gateway\n"
        if target.scheme == "http" and target.hostname:
            upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=5)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path or "/", body=body, headers=headers)
                answer = upstream.getresponse()
                status, reply = answer.status, answer.read()
                reply_headers = [
                    (k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP
                ]
            except OSError:
                pass
            finally:
                upstream.close()
        print(json.dumps({"method": self.command, "url": self.path, "status": status}), flush=True)
        self.send_response(status)
        for name, value in reply_headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.close_connection = True

    do_GET = do_PUT = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the JSON lines on stdout are the log."""


def main(argv: list[str]) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[1])), _Forward)
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    stop.wait(MAX_LIFETIME)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
