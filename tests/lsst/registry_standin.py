"""A STAND-IN for a Confluent schema registry, for tests only (no real registry can be
installed here). It serves what `ateda ingest --schema-registry URL` asks of one:

- `GET /schemas/ids/{id}` -> 200 `{"schema": "<schema JSON text>"}` for the bundled Rubin
  schemas (`crates/ateda-schema/schemas/lsst-M.m.avsc`, id `M * 100 + m`) and any extra
  schema added under an extra id; an unknown id -> 404
  `{"error_code": 40403, "message": "Schema not found"}`, like Confluent's;
- anything else -> 404 `{"error_code": 404, "message": "HTTP 404 Not Found"}`.

It listens on 127.0.0.1 (a free port), counts requests per path, and can fail its first N
requests with 503 (a registry restarting). Run it by hand with
`python tests/lsst/registry_standin.py [--port 8081]`.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parents[2] / "crates" / "ateda-schema" / "schemas"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def schema_id(version: str) -> int:
    """Rubin's schema id of a version: `9.0` -> 900."""
    major, minor = version.split(".")
    return int(major) * 100 + int(minor)


def bundled_schemas() -> dict[int, str]:
    """The bundled Rubin writer schemas (JSON text) by schema id."""
    out = {}
    for path in SCHEMAS.glob("lsst-*.avsc"):
        version = path.name.removeprefix("lsst-").removesuffix(".avsc")
        out[schema_id(version)] = path.read_text()
    assert len(out) == 9, sorted(out)
    return out


class RegistryStandin:
    """The stand-in registry; a context manager (started on enter, stopped on exit)."""

    def __init__(self, extra: dict[int, str] | None = None, fail_first: int = 0):
        self.schemas = bundled_schemas() | dict(extra or {})
        self.fail_first = fail_first
        self.requests: Counter[str] = Counter()
        self.failed = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what the tests configure and read ---------------------------------------------

    def add(self, schema_id: int, schema: str | dict) -> None:
        """Serves `schema` (JSON text or a parsed schema) under `schema_id`."""
        self.schemas[schema_id] = schema if isinstance(schema, str) else json.dumps(schema)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def schema_requests(self) -> dict[int, int]:
        """Requests per schema id asked (`/schemas/ids/{id}`), failed ones included."""
        with self._lock:
            return {
                int(path.rsplit("/", 1)[1]): n
                for path, n in self.requests.items()
                if path.startswith("/schemas/ids/") and path.rsplit("/", 1)[1].isdigit()
            }

    # --- serving -----------------------------------------------------------------------

    def answer(self, path: str) -> tuple[int, dict]:
        """Counts the request and gives the status and JSON body to answer with."""
        with self._lock:
            self.requests[path] += 1
            if self.failed < self.fail_first:
                self.failed += 1
                return 503, {"error_code": 50003, "message": "stand-in: failing on purpose"}
        parts = path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            text = self.schemas.get(int(parts[2]))
            if text is None:
                return 404, {"error_code": 40403, "message": "Schema not found"}
            return 200, {"schema": text}
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def start(self, port: int = 0) -> RegistryStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, body = standin.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RegistryStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    standin = RegistryStandin(fail_first=args.fail_first).start(args.port)
    print(f"schema registry stand-in at {standin.url} (ids {sorted(standin.schemas)})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
