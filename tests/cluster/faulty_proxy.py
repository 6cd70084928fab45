"""A fault-injecting HTTP proxy in front of the real Iceberg REST catalog (tests only).

Every request is passed to the catalog unchanged, except those matching a rule, which get
one of the failures a catalog behind a load balancer produces:

- ``refuse``: answered 503 without reaching the catalog (a catalog pod restarting);
- ``lose-answer``: forwarded (so the catalog applies it), then answered 502 (a gateway that
  lost the catalog's reply: the client cannot know whether it was applied);
- ``cut``: forwarded, then the connection is closed with no answer at all.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

MODES = ("refuse", "lose-answer", "cut")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Rule:
    """Fail the next `times` requests with this method whose path ends with `suffix`."""

    method: str
    suffix: str
    mode: str
    times: int
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.applied < self.times
            and method == self.method
            and path.split("?", 1)[0].endswith(self.suffix)
        )


class FaultyProxy:
    """Listens on 127.0.0.1 (ephemeral port) and forwards to `upstream` (http://host:port)."""

    def __init__(self, upstream: str):
        up = urlparse(upstream)
        self.upstream = (up.hostname, up.port or 80)
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: pytest shows failures anyway
                pass

            def handle_any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, method: str, suffix: str, mode: str, times: int) -> Rule:
        assert mode in MODES, mode
        rule = Rule(method, suffix, mode, times)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.applied += 1
                    return rule
        return None

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else None
        rule = self._rule_for(req.command, req.path)
        if rule is not None and rule.mode == "refuse":
            self._answer(req, 503, {"Content-Type": "text/plain"}, b"catalog restarting")
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(req.command, req.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, resp_headers = resp.status, dict(resp.getheaders())
        finally:
            conn.close()
        if rule is not None and rule.mode == "lose-answer":
            self._answer(req, 502, {"Content-Type": "text/plain"}, b"bad gateway")
            return
        if rule is not None and rule.mode == "cut":
            req.close_connection = True
            return
        keep = {k: v for k, v in resp_headers.items() if k.lower() not in HOP_BY_HOP}
        self._answer(req, status, keep, data)

    @staticmethod
    def _answer(req: BaseHTTPRequestHandler, status: int, headers: dict, data: bytes) -> None:
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)
