"""The real kopf, logged in through the kubernetes client and a kubeconfig, runs against us."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import kopf
import kubernetes.config.kube_config
import pytest
import yaml

from tests.sandbox.kubeapi import kubeconfig, server

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "kubeapi"
WIDGETS = "/apis/example.io/v1/namespaces/default/widgets"
TOKEN = "kopf-token"


def make_registry(seen: list[tuple[str, str]]) -> kopf.OperatorRegistry:
    """A tiny operator: records events and writes status.phase."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.create("example.io", "v1", "widgets", registry=registry)
    def created(name: str, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        seen.append(("create", name))
        kopf.info(body, reason="WidgetSeen", message=f"widget {name} seen")
        patch.status["phase"] = "Created"

    @kopf.on.update("example.io", "v1", "widgets", field="spec", registry=registry)
    def updated(name: str, new: Any, patch: kopf.Patch, **_: Any) -> None:
        seen.append(("update", name))
        patch.status["phase"] = f"Size{new['size']}"

    @kopf.on.delete("example.io", "v1", "widgets", registry=registry)
    def deleted(name: str, **_: Any) -> None:
        seen.append(("delete", name))

    return registry


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 20) -> None:
    """Poll a condition every 50 ms, failing after ``limit`` seconds."""
    for _ in range(int(limit / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {limit}s: {what}")


@pytest.fixture
async def emulator(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[server.KubeApiServer]:
    api = server.KubeApiServer(token=TOKEN)
    await api.start()
    config = tmp_path / "kubeconfig"
    kubeconfig.write_kubeconfig(config, api.url, TOKEN)
    monkeypatch.setenv("KUBECONFIG", str(config))
    # The client reads $KUBECONFIG once, at import; a real operator process sets it before that.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))
    crd = yaml.safe_load((FIXTURES / "widgets-crd.yaml").read_text())
    crds_url = f"{api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session,
        session.post(crds_url, json=crd) as rsp,
    ):
        assert rsp.status == 201
    yield api
    await api.stop()


async def test_kopf_handles_create_update_delete_and_survives_410(
    emulator: server.KubeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seen: list[tuple[str, str]] = []
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    settings.watching.server_timeout = 30
    settings.posting.level = logging.INFO
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=make_registry(seen),
            settings=settings,
            standalone=True,
            namespaces=["default"],
            stop_flag=stop,
        )
    )
    session = aiohttp.ClientSession(
        base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}
    )

    async def get(name: str) -> dict[str, Any] | None:
        async with session.get(f"{WIDGETS}/{name}") as rsp:
            return await rsp.json() if rsp.status == 200 else None

    async def phase_is(name: str, phase: str) -> bool:
        body = await get(name)
        return body is not None and body.get("status", {}).get("phase") == phase

    async def watching() -> bool:
        async with session.get("/_sandbox/state") as rsp:
            state = await rsp.json()
        return any(w["resource"] == "widgets" for w in state["watches"])

    try:
        await eventually(watching, "kopf watches widgets")
        widget = {
            "apiVersion": "example.io/v1",
            "kind": "Widget",
            "metadata": {"name": "k1"},
            "spec": {"size": 1},
        }
        async with session.post(WIDGETS, json=widget) as rsp:
            assert rsp.status == 201
        await eventually(lambda: phase_is("k1", "Created"), "create handled")
        body = await get("k1")
        assert body is not None
        assert "kopf.zalando.org/KopfFinalizerMarker" in body["metadata"]["finalizers"]

        patch = {"spec": {"size": 7}}
        hdrs = {"Content-Type": "application/merge-patch+json"}
        async with session.patch(f"{WIDGETS}/k1", data=json.dumps(patch), headers=hdrs) as rsp:
            assert rsp.status == 200
        await eventually(lambda: phase_is("k1", "Size7"), "update handled")

        async with session.post("/_sandbox/expire") as rsp:
            assert rsp.status == 200
        widget["metadata"] = {"name": "k2"}
        async with session.post(WIDGETS, json=widget) as rsp:
            assert rsp.status == 201
        await eventually(lambda: phase_is("k2", "Created"), "create handled after a 410")

        async with session.delete(f"{WIDGETS}/k1") as rsp:
            assert rsp.status == 200

        async def k1_gone() -> bool:
            return await get("k1") is None

        await eventually(k1_gone, "delete handled and finalizer removed")
        assert ("delete", "k1") in seen
        assert seen.count(("create", "k1")) == 1

        async def event_posted() -> bool:
            async with session.get("/api/v1/namespaces/default/events") as rsp:
                events = (await rsp.json())["items"]
            return any(
                (e["involvedObject"]["name"], e["reason"]) == ("k1", "WidgetSeen") for e in events
            )

        await eventually(event_posted, "kopf posted a core v1 Event about k1")
        async with session.get("/_sandbox/requests") as rsp:
            log = await rsp.json()
        relists = [
            e
            for e in log
            if e["path"] == WIDGETS and "watch" not in e["query"] and e["method"] == "GET"
        ]
        assert len(relists) >= 2  # the initial list and the re-list after 410
        assert all(e["status"] != 401 for e in log)
    finally:
        stop.set()
        await asyncio.wait_for(operator, 15)
        await session.close()
