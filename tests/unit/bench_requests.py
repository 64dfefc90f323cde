"""Kubernetes request-log records as the bench's scenarios read them, for ``test_bench_*``."""

from typing import Any


def patch(t: float, name: str, suffix: str = "/status", agent: str = "kopf/1") -> Any:
    """A PATCH of the bench namespace's AmiStore ``name`` (its status, unless ``suffix``)."""
    path = f"/apis/amistore.io/v1alpha1/namespaces/bench/amistores/{name}{suffix}"
    return {"time": t, "method": "PATCH", "path": path, "user_agent": agent}
