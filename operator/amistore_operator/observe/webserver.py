"""The metrics endpoint: ``GET /metrics`` and nothing else."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref import simple_server

import prometheus_client
from prometheus_client import registry as prom_registry

StartResponse = Callable[..., Any]


class _ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def metrics_only(registry: prom_registry.CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """A WSGI app serving the registry at /metrics and 404 everywhere else."""
    render = prometheus_client.make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics" and environ.get("REQUEST_METHOD") in {
            "GET",
            "HEAD",
        }:
            return render(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found: metrics are at /metrics\n"]

    return app


def serve_metrics(
    registry: prom_registry.CollectorRegistry, *, port: int, host: str = "0.0.0.0"
) -> simple_server.WSGIServer:
    """Serve /metrics on a background thread; ``shutdown()`` stops it. Raises OSError if taken."""
    server = simple_server.make_server(
        host, port, metrics_only(registry), _ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
