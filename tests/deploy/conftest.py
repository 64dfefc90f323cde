"""Fixtures for the deploy checks: rendered manifests, a metrics endpoint, a real Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import fake_metrics, prometheus, tools


@pytest.fixture(scope="session")
def render_tree() -> Path:
    """Root of the tree the kustomizations are rendered from."""
    return tools.REPO


@pytest.fixture(scope="session")
def base_objects(render_tree: Path) -> list[dict[str, Any]]:
    """Objects of `kubectl kustomize deploy/`."""
    return tools.kustomize(render_tree, "deploy")


@pytest.fixture(scope="session")
def overlay_objects(render_tree: Path) -> list[dict[str, Any]]:
    """Objects of `kubectl kustomize deploy/overlays/namespaced`."""
    return tools.kustomize(render_tree, "deploy/overlays/namespaced")


@pytest.fixture(scope="session")
def operator_metrics_url() -> Iterator[str]:
    """URL of an operator metrics endpoint (for now a stand-in serving realistic samples)."""
    server = fake_metrics.MetricsServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prometheus_server(
    operator_metrics_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[prometheus.PrometheusServer]:
    """A real Prometheus scraping `operator_metrics_url` every second, stopped at the end."""
    server = prometheus.PrometheusServer(
        binary=tools.tool("prometheus"),
        workdir=tmp_path_factory.mktemp("prometheus"),
        scrape_url=operator_metrics_url,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
