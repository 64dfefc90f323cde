"""The metrics endpoint serves /metrics and nothing else."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from amistore_operator.observe import webserver
from prometheus_client import CollectorRegistry, Gauge


@pytest.fixture
def url() -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("amistore_test_gauge", "A test gauge.", registry=registry).set(7)
    server = webserver.serve_metrics(registry, port=0, host="127.0.0.1")
    host, port = server.socket.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_are_served(url: str) -> None:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert response.status == 200
    assert "amistore_test_gauge 7.0" in body


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics/../etc/passwd", "/debug"])
def test_everything_else_is_not_found(url: str, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}{path}", timeout=5)
    assert info.value.code == 404
    assert b"amistore_test_gauge" not in info.value.read()


def test_a_taken_port_raises_oserror(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="in use"):
        webserver.serve_metrics(CollectorRegistry(), port=port, host="127.0.0.1")
