"""A fault-injecting proxy in front of the real kube-apiserver, for faults it won't make on cue.

Everything is passed through (watches streamed as they come), except what a test asks for:

- ``fail_writes(path, count, code)``: the next ``count`` writes (PUT, PATCH, POST) whose
  path contains ``path`` are answered 409 Conflict or 422 Invalid, with the Status body
  kube-apiserver sends for those, and never reach the server;
- ``expire()``: every open watch ends with the ERROR event kube-apiserver sends a watcher
  that fell behind its watch cache (410 Expired), and the stream closes.

It listens on plain HTTP on loopback and forwards to the server over TLS; the client's
own credentials (its bearer token) go through, so RBAC still judges every request.
It runs in a thread of the test process: ``with FaultProxy(url, ca_file) as proxy:``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import threading
from typing import Any

import aiohttp
from aiohttp import web

from tests.sandbox import auditlog

_WRITES = frozenset({"PUT", "PATCH", "POST"})
# What kube-apiserver answers an expired watch with (a watch cache's "too old" error).
_EXPIRED = {
    "type": "ERROR",
    "object": {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version: injected by the fault proxy",
        "reason": "Expired",
        "code": 410,
    },
}
_PASSED_HEADERS = ("Authorization", "Content-Type", "Accept", "User-Agent", "Accept-Encoding")


@dataclasses.dataclass
class _WriteFault:
    path: str
    remaining: int
    code: int


def _status(code: int, path: str) -> dict[str, Any]:
    """The Status kube-apiserver sends for a write refused with ``code``."""
    name = path.rsplit("/status", 1)[0].rsplit("/", 1)[-1]
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    if code == 409:
        message = (
            f'Operation cannot be fulfilled on amistores.amistore.io "{name}": the object has '
            "been modified; please apply your changes to the latest version and try again"
        )
        return {**body, "status": "Failure", "message": message, "reason": "Conflict",
                "details": {"name": name, "group": "amistore.io", "kind": "amistores"},
                "code": 409}  # fmt: skip
    message = f'AmiStore.amistore.io "{name}" is invalid: status: Invalid value: injected'
    cause = {"reason": "FieldValueInvalid", "message": "Invalid value: injected", "field": "status"}
    return {**body, "status": "Failure", "message": message, "reason": "Invalid",
            "details": {"name": name, "group": "amistore.io", "kind": "AmiStore",
                        "causes": [cause]},
            "code": 422}  # fmt: skip


class FaultProxy:
    """The proxy: ``start()``, ``.url``, the fault methods, ``stop()``."""

    def __init__(self, upstream: str, ca_file: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca_file = ca_file
        self.url = ""
        self.refused: list[tuple[str, str, int]] = []  # (method, path, code) answered by us
        self._faults: list[_WriteFault] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._expired: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free loopback port."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        """End every stream and stop listening."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def fail_writes(self, path: str, count: int, code: int) -> None:
        """Answer the next ``count`` writes whose path contains ``path`` with ``code``."""
        if code not in (409, 422):
            raise ValueError("code must be 409 or 422")
        with self._lock:
            self._faults.append(_WriteFault(path, count, code))

    def faults_left(self) -> int:
        """How many injected write failures are still to be answered."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def expire(self) -> None:
        """End every open watch with 410 Expired."""
        asyncio.run_coroutine_threadsafe(self._expire(), self._loop).result(timeout=10)

    async def _start(self) -> None:
        context = ssl.create_default_context(cafile=self.ca_file)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        self._expired = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        await self._expire()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _expire(self) -> None:
        if self._expired is not None:
            self._expired.set()
        self._expired = asyncio.Event()

    def _take_fault(self, method: str, path: str) -> int | None:
        if method not in _WRITES:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path in path:
                    fault.remaining -= 1
                    self.refused.append((method, path, fault.code))
                    return fault.code
        return None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        assert self._expired is not None
        code = self._take_fault(request.method, request.path)
        if code is not None:
            await request.read()
            return web.json_response(_status(code, request.path), status=code)
        # Only a watch is ended by expire(): a list or get in flight completes.
        expired = self._expired if auditlog.watch_param(request.query_string) else None
        headers = {k: request.headers[k] for k in _PASSED_HEADERS if k in request.headers}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read() if request.can_read_body else None,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key in ("Content-Type", "Content-Encoding", "Warning", "Audit-Id"):
                for value in upstream.headers.getall(key, []):
                    response.headers.add(key, value)
            await response.prepare(request)
            await self._pump(upstream, response, expired)
            await response.write_eof()
            return response

    async def _pump(
        self,
        upstream: aiohttp.ClientResponse,
        response: web.StreamResponse,
        expired: asyncio.Event | None,
    ) -> None:
        """Copy the body as it comes; on a watch's expiry, end it with 410 Expired instead."""
        ended = asyncio.ensure_future(expired.wait() if expired else asyncio.Event().wait())
        try:
            while True:
                chunk = asyncio.ensure_future(upstream.content.readany())
                done, _ = await asyncio.wait({chunk, ended}, return_when=asyncio.FIRST_COMPLETED)
                if chunk not in done:
                    chunk.cancel()
                    if "json" in response.headers.get("Content-Type", ""):
                        await response.write(json.dumps(_EXPIRED).encode() + b"\n")
                    return
                data = chunk.result()
                if not data:
                    return
                await response.write(data)
        finally:
            ended.cancel()
