"""The requests a real kube-apiserver served, read from its JSON audit log.

The emulator keeps a request log of its own (``/_sandbox/requests``); a real API
server has its audit log instead, written by ``tests.sandbox.realkube`` with one
event per request at Metadata level. ``AuditLog.requests()`` turns those events
into one ``Request`` per API request (a watch still open counts once it started),
and ``mark()``/``since`` count only what came after a point in a test.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

# Each request's events, in order: ResponseStarted (watches only), ResponseComplete or Panic.
_DONE_STAGES = ("ResponseComplete", "Panic")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclasses.dataclass(frozen=True)
class Request:
    """One API request as the server saw it."""

    verb: str  # Kubernetes' verb: get, list, watch, create, update, patch, delete, ...
    path: str
    query: str
    user: str
    user_agent: str
    code: int  # 0 while a watch is still open
    group: str = ""
    resource: str = ""  # the plural, "/subresource" appended: "amistores/status"
    namespace: str = ""
    name: str = ""

    @property
    def is_write(self) -> bool:
        """Whether the request changes something."""
        return self.verb in WRITE_VERBS


def from_event(event: Mapping[str, Any]) -> Request:
    """The Request one audit event describes."""
    uri = urllib.parse.urlsplit(str(event.get("requestURI", "")))
    ref = event.get("objectRef") or {}
    resource = str(ref.get("resource", ""))
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    user = event.get("user") or {}
    # An impersonated request acts as the impersonated user.
    acting = event.get("impersonatedUser") or user
    return Request(
        verb=str(event.get("verb", "")),
        path=uri.path,
        query=uri.query,
        user=str(acting.get("username", "")),
        user_agent=str(event.get("userAgent", "")),
        code=int((event.get("responseStatus") or {}).get("code") or 0)
        if event.get("stage") in _DONE_STAGES
        else 0,
        group=str(ref.get("apiGroup", "")),
        resource=resource,
        namespace=str(ref.get("namespace", "")),
        name=str(ref.get("name", "")),
    )


def watch_param(query: str) -> bool:
    """Whether ``?watch=`` asks for a watch as kube-apiserver reads it: any value but "0",
    "false" or none at all."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get("watch")
    return values is not None and values[0] not in ("0", "false")


def from_emulator(entry: Mapping[str, Any]) -> Request:
    """The Request one entry of the emulator's request log describes (verb and object
    worked out from the path, as kube-apiserver's request info resolver does)."""
    path, query = str(entry["path"]), str(entry.get("query", ""))
    parts = path.strip("/").split("/")
    group = resource = namespace = name = ""
    if parts[0] == "api" and len(parts) > 2:
        rest = parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        rest = []  # discovery, /version, /openapi: not a resource
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if rest:
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        if len(rest) > 2:
            resource = f"{resource}/{rest[2]}"
    method = str(entry["method"])
    if method == "GET":
        verb = "get" if name else "watch" if watch_param(query) else "list"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
        if method == "DELETE":
            verb = "delete" if name else "deletecollection"
    return Request(
        verb=verb,
        path=path,
        query=query,
        user="",  # the emulator authenticates no one
        user_agent=str(entry.get("user_agent", "")),
        code=int(entry.get("status") or 0),
        group=group,
        resource=resource,
        namespace=namespace,
        name=name,
    )


class AuditLog:
    """A kube-apiserver's JSON audit log file."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def mark(self) -> int:
        """A point in the log: pass it as ``since`` to see only what came after."""
        return self.path.stat().st_size if self.path.exists() else 0

    def requests(self, since: int = 0) -> list[Request]:
        """Every request with an event after ``since``, once each, in the order they started."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(since)
            data = log.read()
        # The last line may still be being written: only whole lines count.
        data = data[: data.rfind(b"\n") + 1]
        by_id: dict[str, Request] = {}
        for line in data.splitlines():
            event = json.loads(line)
            audit_id = str(event.get("auditID", ""))
            if audit_id in by_id and event.get("stage") not in _DONE_STAGES:
                continue
            by_id[audit_id] = from_event(event)
        return list(by_id.values())
