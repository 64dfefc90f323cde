"""The official kubernetes client's watches work against the emulator (the kubectl plugin's)."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

from kubernetes import client, config, watch

from tests.sandbox.kubeapi import kubeconfig, server


def _watch_namespaces(path: pathlib.Path) -> list[Any]:
    api = client.CoreV1Api(config.new_client_from_config(str(path)))
    api.create_namespace({"metadata": {"name": "watched"}})
    # The client sends ``watch=True`` (Python's spelling); the apiserver parses it as a bool.
    return list(watch.Watch().stream(api.list_namespace, timeout_seconds=1))


async def test_kubernetes_client_watch_streams_events(tmp_path: pathlib.Path) -> None:
    api = server.KubeApiServer()
    await api.start()
    try:
        path = tmp_path / "kubeconfig"
        kubeconfig.write_kubeconfig(path, api.url, None)
        events = await asyncio.to_thread(_watch_namespaces, path)
    finally:
        await api.stop()
    assert any(e["type"] == "ADDED" and e["object"].metadata.name == "watched" for e in events), (
        events
    )
