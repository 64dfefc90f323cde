"""The aiohttp application: routing, auth, request log, control endpoints under /_sandbox/."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.sandbox.kubeapi import (
    discovery,
    errors,
    objects,
    openapi,
    protobuf,
    requestlog,
    selectors,
    table,
    watch,
)

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger(__name__)
_CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )
    for warning in warnings or []:
        response.headers.add("Warning", f"299 - {json.dumps(warning)}")
    return response


def _error(exc: errors.ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


class KubeApiServer:
    """The emulator: ``await start()``, use ``.url``, ``await stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        bookmark_interval: float = 60.0,
        history_size: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.cluster = objects.Cluster(history_size)
        self.requests = requestlog.RequestLog()
        self.write_faults: list[WriteFault] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    # ----- lifecycle -----

    def make_app(self) -> web.Application:
        """The aiohttp application (one catch-all route, dispatched by path)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one) and set ``url``."""
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """End open watches and stop listening."""
        self.cluster.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----- middleware: auth and the request log -----

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        status = 500
        # A watch streams for minutes: log it when it starts, or tests reading the log
        # while it is open would never see it.
        watching = request.query.get("watch", "").lower() in {"true", "t", "1"}  # Go ParseBool
        if watching:
            self._record(request, 200)
        try:
            if (
                self.token
                and not request.path.startswith("/_sandbox/")
                and request.headers.get("Authorization") != f"Bearer {self.token}"
            ):
                status = 401
                return _json(errors.ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
            response: web.StreamResponse
            try:
                response = await handler(request)
            except errors.ApiError as exc:
                response = _error(exc)
            status = response.status
            return response
        finally:
            if not watching and not request.path.startswith("/_sandbox/requests"):
                self._record(request, status)

    def _record(self, request: web.Request, status: int) -> None:
        self.requests.record(
            request.method,
            request.path,
            request.query_string,
            request.headers.get("Content-Type", ""),
            status,
            request.headers.get("User-Agent", ""),
        )

    # ----- routing -----

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_sandbox/"):
            return await self._control(request, path)
        self._take_write_fault(request.method, path)
        static = self._static(path)
        if static is not None:
            return static
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            return await self._resource(request, "", parts[1], parts[2:])
        if parts[0] == "apis" and len(parts) >= 3:
            return await self._resource(request, parts[1], parts[2], parts[3:])
        if parts[0] == "apis" and len(parts) == 2:
            group = discovery.api_group(self.cluster.registry, parts[1])
            if group is not None:
                return _json(group)
        if parts[0] == "openapi" and parts[1:2] == ["v3"] and len(parts) > 2:
            doc = self._openapi_doc(parts[2:])
            if doc is not None:
                return _json(doc)
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")

    def _take_write_fault(self, method: str, path: str) -> None:
        """Fail this write if an injected write fault matches its path (and use it up)."""
        if method not in _WRITE_METHODS:
            return
        for fault in self.write_faults:
            if fault.path in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.write_faults.remove(fault)
                raise fault.error(path)

    def _static(self, path: str) -> web.Response | None:
        registry = self.cluster.registry
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(discovery.VERSION)
        if path == "/api":
            return _json(discovery.api_versions(f"{self.host}:{self.port}"))
        if path == "/apis":
            return _json(discovery.api_group_list(registry))
        if path == "/openapi/v3":
            return _json(openapi.root(registry))
        if path == "/openapi/v2":
            return openapi.v2_document()
        return None

    def _openapi_doc(self, parts: list[str]) -> Obj | None:
        if parts[0] == "api" and len(parts) == 2:
            return openapi.group_version_doc(self.cluster.registry, "", parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return openapi.group_version_doc(self.cluster.registry, parts[1], parts[2])
        return None

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        registry = self.cluster.registry
        if not rest:
            listing = discovery.resource_list(registry, group, version)
            if listing is None:
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return _json(listing)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = registry.find(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = registry.find(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and not (subresource == "status" and rt.status_subresource):
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if rt.namespaced and name is not None and namespace is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return await self._verb(request, rt, namespace, name, subresource)

    async def _verb(
        self,
        request: web.Request,
        rt: discovery.ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
    ) -> web.StreamResponse:
        cluster = self.cluster
        method = request.method
        validation = request.query.get("fieldValidation", "Warn")
        ns = namespace or ""
        if name is None:
            if method == "GET" and request.query.get("watch", "").lower() in ("true", "t", "1"):
                return await watch.serve(
                    request, cluster.store, rt, namespace, self.bookmark_interval
                )
            if method == "GET":
                return self._list(request, rt, namespace)
            if method == "POST":
                obj, warnings = cluster.create(rt, ns, await _body(request), validation)
                return _json(cluster.render(rt, obj), 201, warnings)
            raise errors.ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        if method == "GET":
            obj = cluster.get(rt, ns, name)
            return self._one(request, rt, obj)
        if method == "PUT":
            obj, warnings = cluster.replace(
                rt, ns, name, await _body(request), subresource, validation
            )
            return _json(cluster.render(rt, obj), 200, warnings)
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            raw = await request.read()
            obj, warnings = cluster.patch(rt, ns, name, content_type, raw, subresource, validation)
            return _json(cluster.render(rt, obj), 200, warnings)
        if method == "DELETE" and subresource is None:
            raw = await request.read()
            is_json = "json" in request.headers.get("Content-Type", "application/json")
            options = json.loads(raw) if raw.strip() and is_json else None
            return _json(cluster.render(rt, cluster.delete(rt, ns, name, options)))
        raise errors.ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _one(self, request: web.Request, rt: discovery.ResourceType, obj: Obj) -> web.Response:
        obj = self.cluster.render(rt, obj)
        if table.wants_table(request.headers.get("Accept", "")):
            include = request.query.get("includeObject", "Metadata")
            return _json(
                table.render(
                    [obj], list(rt.printer_columns), obj["metadata"]["resourceVersion"], include
                )
            )
        return _json(obj)

    def _list(
        self, request: web.Request, rt: discovery.ResourceType, namespace: str | None
    ) -> web.Response:
        query = request.query
        store = self.cluster.store
        match = selectors.combine(
            selectors.label_predicate(query.get("labelSelector")),
            selectors.field_predicate(query.get("fieldSelector")),
        )
        items = [obj for obj in store.list(rt.key, namespace) if match(obj)]
        list_rv = store.rv
        token = query.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = tuple(state["start"])
                list_rv = int(state["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request("continue key is not valid") from exc
            if list_rv < store.compacted_rv:
                raise errors.gone(_CONTINUE_TOO_OLD)
            items = [o for o in items if _sort_key(o) > start]
        meta: Obj = {"resourceVersion": str(list_rv)}
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            last = _sort_key(items[limit - 1])
            meta["remainingItemCount"] = len(items) - limit
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": list_rv, "start": list(last)}).encode()
            ).decode()
            items = items[:limit]
        items = [self.cluster.render(rt, o) for o in items]
        if table.wants_table(request.headers.get("Accept", "")):
            include = query.get("includeObject", "Metadata")
            return _json(
                table.render(items, list(rt.printer_columns), str(list_rv), include, list_meta=meta)
            )
        return _json(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": items,
            }
        )

    # ----- control endpoints -----

    async def _control(self, request: web.Request, path: str) -> web.Response:
        store = self.cluster.store
        action = (request.method, path)
        if action == ("GET", "/_sandbox/requests"):
            return _json(self.requests.to_list())
        if action == ("DELETE", "/_sandbox/requests"):
            self.requests.clear()
            return _json({"cleared": True})
        if action == ("POST", "/_sandbox/expire"):
            store.expire()
            return _json({"compactedResourceVersion": str(store.compacted_rv)})
        if action == ("POST", "/_sandbox/close-watches"):
            store.close_watches()
            return _json({"closed": True})
        if action == ("POST", "/_sandbox/bookmarks"):
            for stream in list(store.watchers):
                if isinstance(stream, watch.Stream):
                    stream.bookmark(store.rv)
            return _json({"resourceVersion": str(store.rv)})
        if action == ("POST", "/_sandbox/fail-writes"):
            fault = WriteFault.from_json(await _body(request))
            self.write_faults.append(fault)
            return _json(fault.to_json())
        if action == ("GET", "/_sandbox/fail-writes"):
            return _json({"faults": [f.to_json() for f in self.write_faults]})
        if action == ("DELETE", "/_sandbox/fail-writes"):
            cleared, self.write_faults = len(self.write_faults), []
            return _json({"cleared": cleared})
        if action == ("GET", "/_sandbox/state"):
            watches = [
                {"group": w.type_key[0], "resource": w.type_key[1], "namespace": w.namespace}
                for w in store.watchers
            ]
            return _json(
                {
                    "resourceVersion": str(store.rv),
                    "compactedResourceVersion": str(store.compacted_rv),
                    "watches": watches,
                }
            )
        raise errors.ApiError(404, "NotFound", f"no control endpoint {request.method} {path}")


@dataclasses.dataclass
class WriteFault:
    """Answer the next ``remaining`` writes whose path contains ``path`` with ``code``."""

    path: str
    remaining: int
    code: int

    @classmethod
    def from_json(cls, body: Obj) -> WriteFault:
        """Parse ``{"path": "...", "count": N, "code": 409|422}`` (a 400 when malformed)."""
        path, count, code = body.get("path"), body.get("count", 1), body.get("code", 409)
        if not isinstance(path, str) or not path:
            raise errors.bad_request("fail-writes: path must be a non-empty string")
        if not isinstance(count, int) or count < 1:
            raise errors.bad_request("fail-writes: count must be a whole number >= 1")
        if code not in _WRITE_FAULTS:
            raise errors.bad_request(f"fail-writes: code must be one of {sorted(_WRITE_FAULTS)}")
        return cls(path, count, int(code))

    def to_json(self) -> Obj:
        """The control endpoint's JSON shape."""
        return {"path": self.path, "remaining": self.remaining, "code": self.code}

    def error(self, path: str) -> errors.ApiError:
        """The apiserver's own answer for this code."""
        name = path.rsplit("/status", 1)[0].rsplit("/", 1)[-1]
        if self.code == 409:
            return errors.conflict("resource", name)
        return errors.invalid(
            "resource",
            "",
            name,
            [{"reason": "FieldValueInvalid", "message": "injected", "field": "status"}],
            ["status: Invalid value: injected by /_sandbox/fail-writes"],
        )


_WRITE_FAULTS = frozenset({409, 422})
_WRITE_METHODS = frozenset({"PUT", "PATCH", "POST"})


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


async def _body(request: web.Request) -> Obj:
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(await request.read())
    if content_type not in ("application/json", "application/yaml", ""):
        # Protobuf and CBOR bodies: the apiserver's own answer for media types it cannot decode.
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (got {content_type})",
        )
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request(
            f"the body of the request was in an unknown format: {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request is not an object")
    return body
