"""Status writes through kopf's API client, against a small HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from amistore_operator.kube import statuswriter
from kopf._cogs.clients import auth
from kopf._cogs.structs import credentials

PATH = "/apis/amistore.io/v1alpha1/namespaces/team/amistores/golden"


class Api:
    """Answers each PATCH with the next queued (status, body); records what it got."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    async def patch(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.content_type, await request.json()))
        code, body = self.answers.pop(0) if self.answers else (200, {})
        return web.json_response(body, status=code)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    fake = Api()
    app = web.Application()
    app.router.add_patch("/{tail:.*}", fake.patch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    vault = credentials.Vault()
    await vault.populate({"test": kopf.ConnectionInfo(server=str(server.make_url("/")))})
    token = auth.vault_var.set(vault)  # what kopf sets for its own tasks after login
    try:
        yield fake
    finally:
        auth.vault_var.reset(token)
        await vault.close()
        await server.close()


def refusal(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "status": "Failure", "reason": reason, "message": message}


async def test_a_status_is_merge_patched_on_the_status_subresource(api: Api) -> None:
    written = await statuswriter.write_status(kopf.OperatorSettings(), PATH, {"state": "Failed"})
    assert written
    assert api.requests == [
        (f"{PATH}/status", "application/merge-patch+json", {"status": {"state": "Failed"}})
    ]


async def test_a_refusal_names_its_code_and_the_apis_message(api: Api) -> None:
    api.answers.append(refusal(409, "Conflict", "the object has been modified"))
    with pytest.raises(statuswriter.StatusWriteError) as caught:
        await statuswriter.write_status(kopf.OperatorSettings(), PATH, {"state": "Failed"})
    assert str(caught.value) == "409 Conflict: the object has been modified"
    assert len(api.requests) == 1  # a refusal is not retried here: the next poll writes


async def test_a_deleted_object_is_not_an_error(api: Api) -> None:
    api.answers.append(refusal(404, "NotFound", 'amistores "golden" not found'))
    assert not await statuswriter.write_status(kopf.OperatorSettings(), PATH, {})


async def test_a_server_error_is_retried_briefly_then_reported(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statuswriter, "RETRY_BACKOFFS", (0.01, 0.01))
    api.answers += [refusal(503, "ServiceUnavailable", "etcd is busy")] * 2
    assert await statuswriter.write_status(kopf.OperatorSettings(), PATH, {"state": "Completed"})
    assert len(api.requests) == 3
    api.answers += [refusal(500, "InternalError", "boom")] * 3
    with pytest.raises(statuswriter.StatusWriteError, match=r"^500 Internal Server Error: boom$"):
        await statuswriter.write_status(kopf.OperatorSettings(), PATH, {})
    assert json.dumps(api.requests[-1][2]) == '{"status": {}}'
