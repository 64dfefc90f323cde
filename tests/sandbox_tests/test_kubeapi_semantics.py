"""apiserver semantics over HTTP against the in-process emulator."""

from __future__ import annotations

import asyncio
import json
import pathlib
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml

from tests.sandbox.kubeapi import objects, server

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "kubeapi"
WIDGETS = "/apis/example.io/v1/namespaces/default/widgets"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}

Obj = dict[str, Any]


class Api:
    """A tiny JSON client for the emulator."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        async with self.session.request(method, self.url + path, data=data, headers=hdrs) as rsp:
            text = await rsp.text()
            return rsp.status, json.loads(text) if text.startswith(("{", "[")) else text

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Obj:
        status, payload = await self.call(method, path, body, **kw)
        assert status < 300, payload
        assert isinstance(payload, dict)
        return payload


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    emulator = server.KubeApiServer(token="tok", bookmark_interval=3600)
    await emulator.start()
    headers = {"Authorization": "Bearer tok"}
    async with aiohttp.ClientSession(headers=headers) as session:
        client = Api(session, emulator.url)
        crd = yaml.safe_load((FIXTURES / "widgets-crd.yaml").read_text())
        await client.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        yield client
    await emulator.stop()


def widget(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "example.io/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_crd_is_established_and_discovered(api: Api) -> None:
    crd = await api.ok(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io"
    )
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    listing = await api.ok("GET", "/apis/example.io/v1")
    names = {r["name"]: r for r in listing["resources"]}
    assert names["widgets"]["shortNames"] == ["wdg"]
    assert names["widgets"]["namespaced"] is True
    assert names["widgets/status"]["verbs"] == ["get", "patch", "update"]
    groups = await api.ok("GET", "/apis")
    assert "example.io" in [g["name"] for g in groups["groups"]]
    assert (await api.ok("GET", "/version"))["minor"] == "37"
    root = await api.ok("GET", "/openapi/v3")
    doc = await api.ok("GET", root["paths"]["apis/example.io/v1"]["serverRelativeURL"])
    params = doc["paths"]["/apis/example.io/v1/namespaces/{namespace}/widgets/{name}"]["parameters"]
    assert "fieldValidation" in [p["name"] for p in params]


async def test_deleting_the_crd_stops_serving_and_deletes_objects(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget("w"))
    await api.ok(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io"
    )
    status, _ = await api.call("GET", WIDGETS)
    assert status == 404
    status, _ = await api.call("GET", "/apis/example.io/v1")
    assert status == 404


async def test_token_is_required_except_for_control_endpoints(api: Api) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(api.url + WIDGETS) as rsp:
            assert rsp.status == 401
            assert (await rsp.json())["reason"] == "Unauthorized"
        async with anonymous.get(api.url + "/_sandbox/requests") as rsp:
            assert rsp.status == 200
            log = await rsp.json()
    assert {k: log[-1][k] for k in ("method", "path", "status")} == {
        "method": "GET",
        "path": WIDGETS,
        "status": 401,
    }
    assert "Python" in log[-1]["user_agent"]
    await api.ok("DELETE", "/_sandbox/requests")
    assert (await api.call("GET", "/_sandbox/requests"))[1] == []


async def test_generation_resource_version_and_status_subresource(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, {**widget("g", size=2), "status": {"phase": "x"}})
    assert "status" not in created  # ignored on create with the subresource
    assert created["metadata"]["generation"] == 1
    rv1 = int(created["metadata"]["resourceVersion"])

    same = await api.ok("PATCH", f"{WIDGETS}/g", {"spec": {"size": 2}}, headers=MERGE)
    assert same["metadata"]["resourceVersion"] == str(rv1)  # no-op: no new version

    spec = await api.ok(
        "PATCH", f"{WIDGETS}/g", {"spec": {"size": 3}, "status": {"phase": "y"}}, headers=MERGE
    )
    assert spec["metadata"]["generation"] == 2
    assert "status" not in spec
    assert int(spec["metadata"]["resourceVersion"]) > rv1

    status = await api.ok(
        "PATCH",
        f"{WIDGETS}/g/status",
        {"spec": {"size": 50}, "status": {"phase": "Up"}},
        headers=MERGE,
    )
    assert status["status"] == {"phase": "Up"}
    assert status["spec"]["size"] == 3  # spec is ignored on /status
    assert status["metadata"]["generation"] == 2

    labels = await api.ok(
        "PATCH", f"{WIDGETS}/g", {"metadata": {"labels": {"a": "b"}}}, headers=MERGE
    )
    assert labels["metadata"]["generation"] == 2  # metadata changes do not bump it


async def test_stale_resource_version_conflicts(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget("c", size=1))
    await api.ok("PATCH", f"{WIDGETS}/c", {"spec": {"size": 2}}, headers=MERGE)
    stale = {**created, "spec": {"size": 9}}
    status, body = await api.call("PUT", f"{WIDGETS}/c", stale)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert (
        "the object has been modified; please apply your changes to the latest version"
        in body["message"]
    )
    patch = {
        "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
        "spec": {"size": 5},
    }
    status, body = await api.call("PATCH", f"{WIDGETS}/c", patch, headers=MERGE)
    assert status == 409
    status, body = await api.call("PUT", f"{WIDGETS}/c", {**widget("c", size=3)})
    assert status == 422  # custom resources need a resourceVersion on update
    status, body = await api.call("POST", WIDGETS, widget("c", size=1))
    assert (status, body["reason"]) == (409, "AlreadyExists")


async def test_json_patch_test_failure_and_bad_path_are_422(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget("j", size=1))
    rv = created["metadata"]["resourceVersion"]
    ops: list[Obj] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "replace", "path": "/spec/size", "value": 2},
    ]
    status, body = await api.call("PATCH", f"{WIDGETS}/j", ops, headers=JSON_PATCH)
    assert (status, body["reason"]) == (422, "Invalid")
    status, _ = await api.call(
        "PATCH", f"{WIDGETS}/j", [{"op": "remove", "path": "/spec/nope"}], headers=JSON_PATCH
    )
    assert status == 422
    ops[0]["value"] = rv
    patched = await api.ok("PATCH", f"{WIDGETS}/j", ops, headers=JSON_PATCH)
    assert patched["spec"]["size"] == 2
    smp = {"Content-Type": "application/strategic-merge-patch+json"}
    status, body = await api.call("PATCH", f"{WIDGETS}/j", {"spec": {"size": 3}}, headers=smp)
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


async def test_validation_errors_read_like_the_apiserver(api: Api) -> None:
    status, body = await api.call("POST", WIDGETS, widget("v", parts=["part-0001", "bad"], size=0))
    assert status == 422
    assert body["message"].startswith('Widget.example.io "v" is invalid: [')
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert causes["spec.parts[1]"]["reason"] == "FieldValueInvalid"
    assert (
        causes["spec.size"]["message"]
        == "Invalid value: 0: spec.size in body should be greater than or equal to 1"
    )
    status, body = await api.call(
        "POST", WIDGETS + "?fieldValidation=Strict", widget("v", size=1, foo=1)
    )
    assert (status, body["message"]) == (
        400,
        'Widget in version "v1" cannot be handled as a Widget: '
        'strict decoding error: unknown field "spec.foo"',
    )
    async with api.session.post(api.url + WIDGETS, json=widget("v", size=1, foo=1)) as rsp:
        assert rsp.status == 201  # default Warn: pruned, with a warning
        assert rsp.headers["Warning"] == '299 - "unknown field \\"spec.foo\\""'
        assert (await rsp.json())["spec"] == {"size": 1}


async def test_missing_namespace_and_generate_name(api: Api) -> None:
    status, body = await api.call(
        "POST", "/apis/example.io/v1/namespaces/nope/widgets", widget("x")
    )
    assert (status, body["message"]) == (404, 'namespaces "nope" not found')
    body = widget("")
    body["metadata"] = {"generateName": "auto-"}
    created = await api.ok("POST", WIDGETS, body)
    assert created["metadata"]["name"].startswith("auto-")
    assert len(created["metadata"]["name"]) == len("auto-") + 5


async def test_a_colliding_generated_name_is_drawn_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As kube-apiserver 1.30+ does (RetryGenerateName): up to 8 draws, then 409.
    draws = iter(["bbbbb", "bbbbb", "ccccc"] + ["bbbbb"] * objects.GENERATE_NAME_TRIES)
    monkeypatch.setattr(random, "choices", lambda chars, k: list(next(draws)))
    body = widget("")
    body["metadata"] = {"generateName": "auto-"}
    assert (await api.ok("POST", WIDGETS, body))["metadata"]["name"] == "auto-bbbbb"
    body["metadata"] = {"generateName": "auto-"}
    assert (await api.ok("POST", WIDGETS, body))["metadata"]["name"] == "auto-ccccc"
    body["metadata"] = {"generateName": "auto-"}
    status, answer = await api.call("POST", WIDGETS, body)
    assert (status, answer["reason"]) == (409, "AlreadyExists")


async def test_selectors_and_pagination(api: Api) -> None:
    for name, tier in [("a", "web"), ("b", "db"), ("c", "web"), ("d", None)]:
        body = widget(name)
        if tier:
            body["metadata"]["labels"] = {"tier": tier}
        await api.ok("POST", WIDGETS, body)

    async def names(query: str) -> list[str]:
        listing = await api.ok("GET", f"{WIDGETS}?{query}")
        return [o["metadata"]["name"] for o in listing["items"]]

    assert await names("labelSelector=tier%3Dweb") == ["a", "c"]
    assert await names("labelSelector=tier%21%3Dweb") == ["b", "d"]
    assert await names("labelSelector=tier+in+(db,web)") == ["a", "b", "c"]
    assert await names("labelSelector=tier+notin+(web)") == ["b", "d"]
    assert await names("labelSelector=tier") == ["a", "b", "c"]
    assert await names("labelSelector=%21tier") == ["d"]
    assert await names("fieldSelector=metadata.name%3Db") == ["b"]
    assert await names("fieldSelector=metadata.name%21%3Db") == ["a", "c", "d"]
    first = await api.ok("GET", f"{WIDGETS}?limit=3")
    assert [o["metadata"]["name"] for o in first["items"]] == ["a", "b", "c"]
    token = first["metadata"]["continue"]
    rest = await api.ok("GET", f"{WIDGETS}?limit=3&continue={token}")
    assert [o["metadata"]["name"] for o in rest["items"]] == ["d"]
    await api.ok("POST", "/_sandbox/expire")
    status, body = await api.call("GET", f"{WIDGETS}?limit=3&continue={token}")
    assert (status, body["reason"]) == (410, "Expired")


async def read_events(rsp: aiohttp.ClientResponse, count: int) -> list[Obj]:
    events: list[Obj] = []
    async with asyncio.timeout(10):
        while len(events) < count:
            line = await rsp.content.readline()
            assert line, f"stream ended after {events}"
            events.append(json.loads(line))
    return events


async def test_watch_replays_from_resource_version_then_streams(api: Api) -> None:
    first = await api.ok("POST", WIDGETS, widget("w1"))
    await api.ok("PATCH", f"{WIDGETS}/w1", {"spec": {"size": 4}}, headers=MERGE)
    await api.ok("POST", WIDGETS, widget("w2"))
    rv = first["metadata"]["resourceVersion"]
    async with api.session.get(f"{api.url}{WIDGETS}?watch=true&resourceVersion={rv}") as rsp:
        replay = await read_events(rsp, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in replay] == [
            ("MODIFIED", "w1"),
            ("ADDED", "w2"),
        ]
        await api.ok("DELETE", f"{WIDGETS}/w2")
        (deleted,) = await read_events(rsp, 1)
        assert (deleted["type"], deleted["object"]["metadata"]["name"]) == ("DELETED", "w2")
        assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
            replay[-1]["object"]["metadata"]["resourceVersion"]
        )


async def test_watch_without_version_lists_first_and_filters(api: Api) -> None:
    await api.ok(
        "POST", WIDGETS, {**widget("x1"), "metadata": {"name": "x1", "labels": {"k": "v"}}}
    )
    await api.ok("POST", WIDGETS, widget("x2"))
    async with api.session.get(
        f"{api.url}{WIDGETS}?watch=1&labelSelector=k%3Dv&timeoutSeconds=1"
    ) as rsp:
        events = [json.loads(line) async for line in rsp.content]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "x1")]


async def test_bookmarks_on_demand(api: Api) -> None:
    listing = await api.ok("GET", WIDGETS)
    rv = listing["metadata"]["resourceVersion"]
    url = f"{api.url}{WIDGETS}?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
    async with api.session.get(url) as rsp:
        await api.ok("POST", WIDGETS, widget("b1"))
        await api.ok("POST", "/_sandbox/bookmarks")
        added, bookmark = await read_events(rsp, 2)
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "Widget"
    assert (
        bookmark["object"]["metadata"]["resourceVersion"]
        == added["object"]["metadata"]["resourceVersion"]
    )


async def test_forced_expiry_sends_410_and_old_versions_stay_gone(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget("e1"))
    rv = created["metadata"]["resourceVersion"]
    async with api.session.get(f"{api.url}{WIDGETS}?watch=true&resourceVersion={rv}") as rsp:
        await api.ok("POST", "/_sandbox/expire")
        (error,) = await read_events(rsp, 1)
        assert await rsp.content.readline() == b""  # closed
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
    async with api.session.get(f"{api.url}{WIDGETS}?watch=true&resourceVersion={rv}") as rsp:
        (again,) = await read_events(rsp, 1)
    assert again["object"]["code"] == 410
    fresh = await api.ok("GET", WIDGETS)
    url = f"{api.url}{WIDGETS}?watch=true&resourceVersion={fresh['metadata']['resourceVersion']}"
    async with api.session.get(url) as rsp:
        await api.ok("PATCH", f"{WIDGETS}/e1", {"spec": {"size": 9}}, headers=MERGE)
        (modified,) = await read_events(rsp, 1)
    assert modified["type"] == "MODIFIED"


async def test_history_window_expires_old_versions(api: Api) -> None:
    emulator = server.KubeApiServer(history_size=3)
    await emulator.start()
    try:
        small = Api(api.session, emulator.url)
        for index in range(5):
            await small.ok("POST", "/api/v1/namespaces", {"metadata": {"name": f"ns{index}"}})
        async with api.session.get(
            f"{emulator.url}/api/v1/namespaces?watch=true&resourceVersion=1"
        ) as rsp:
            (error,) = await read_events(rsp, 1)
        assert error["object"]["code"] == 410
    finally:
        await emulator.stop()


async def test_finalizers_hold_deletion_until_removed(api: Api) -> None:
    body = widget("f")
    body["metadata"]["finalizers"] = ["example.io/hold"]
    await api.ok("POST", WIDGETS, body)
    marked = await api.ok("DELETE", f"{WIDGETS}/f")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    gone = await api.ok("PATCH", f"{WIDGETS}/f", {"metadata": {"finalizers": None}}, headers=MERGE)
    assert gone["metadata"]["name"] == "f"
    status, _ = await api.call("GET", f"{WIDGETS}/f")
    assert status == 404


async def test_table_output_with_columns_and_include_object(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget("t", size=5, color="blue"))
    await api.ok(
        "PATCH",
        f"{WIDGETS}/t/status",
        {
            "status": {
                "conditions": [
                    {"type": "Other", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ]
            }
        },
        headers=MERGE,
    )
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    table = await api.ok("GET", f"{WIDGETS}?includeObject=Object", headers=accept)
    assert table["kind"] == "Table"
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", 0),
        ("Size", 0),
        ("Ready", 0),
        ("Color", 1),
        ("Age", 0),
    ]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["t", 5, "True", "blue"]
    assert cells[4].endswith("s")
    assert table["rows"][0]["object"]["spec"]["size"] == 5
    table = await api.ok("GET", f"{WIDGETS}/t", headers=accept)
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    table = await api.ok("GET", f"{WIDGETS}?includeObject=None", headers=accept)
    assert "object" not in table["rows"][0]


async def test_crd_schema_must_be_structural(api: Api) -> None:
    crd = yaml.safe_load((FIXTURES / "widgets-crd.yaml").read_text())
    crd["metadata"]["name"] = "gizmos.example.io"
    crd["spec"]["names"] = {"kind": "Gizmo", "plural": "gizmos"}
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    props["spec"]["properties"]["parts"]["uniqueItems"] = True
    del props["status"]["type"]
    status, body = await api.call(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
    )
    assert status == 422
    assert body["message"].startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "gizmos.example.io" is invalid: ['
    )
    assert (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[parts].uniqueItems: "
        "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
        "quadratic"
    ) in body["message"]
    assert "openAPIV3Schema.properties[status].type: Required value" in body["message"]
