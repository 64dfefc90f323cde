"""Watch streams: replay from a resourceVersion, live events, bookmarks, timeouts, 410."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from tests.sandbox.kubeapi import discovery, errors, selectors, store, table

Obj = dict[str, Any]
_CLIENT_CHECK_SECONDS = 5.0


class Stream(store.Watcher):
    """A watcher that also knows how to render bookmarks for its type."""

    def __init__(
        self,
        rt: discovery.ResourceType,
        namespace: str | None,
        match: selectors.Predicate,
        bookmarks: bool,
    ) -> None:
        super().__init__(rt.key, namespace, match)
        self.rt = rt
        self.bookmarks = bookmarks

    def bookmark(self, rv: int, initial_end: bool = False) -> None:
        """Queue a BOOKMARK at ``rv`` (when the client allowed them)."""
        if not self.bookmarks:
            return
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        body = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": meta}
        self.queue.put_nowait(("BOOKMARK", body))


async def serve(
    request: web.Request,
    cluster_store: store.Store,
    rt: discovery.ResourceType,
    namespace: str | None,
    bookmark_interval: float,
) -> web.StreamResponse:
    """Stream watch events until the timeout, a close, or the client going away."""
    query = request.query
    match = selectors.combine(
        selectors.label_predicate(query.get("labelSelector")),
        selectors.field_predicate(query.get("fieldSelector")),
    )
    stream = Stream(rt, namespace, match, query.get("allowWatchBookmarks", "").lower() == "true")
    rv_text = query.get("resourceVersion") or ""
    initial = query.get("sendInitialEvents", "").lower() == "true"
    # Register before reading the backlog: nothing can change in between (no await).
    cluster_store.watchers.add(stream)
    try:
        if not rv_text or rv_text == "0" or initial:
            for obj in cluster_store.list(rt.key, namespace):
                if match(obj):
                    stream.queue.put_nowait(("ADDED", obj))
            if initial:
                stream.bookmark(cluster_store.rv, initial_end=True)
        else:
            try:
                since = int(rv_text)
            except ValueError as exc:
                raise errors.bad_request(f"invalid resource version: {rv_text}") from exc
            try:
                backlog = cluster_store.events_since(since)
            except errors.ApiError as exc:
                stream.close(exc.status())
                backlog = []
            for event in backlog:
                stream.offer(event)
        return await _pump(request, stream, rt, query, bookmark_interval, cluster_store)
    finally:
        cluster_store.watchers.discard(stream)


async def _pump(
    request: web.Request,
    stream: Stream,
    rt: discovery.ResourceType,
    query: Any,
    bookmark_interval: float,
    cluster_store: store.Store,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    as_table = table.wants_table(request.headers.get("Accept", ""))
    timeout = float(query.get("timeoutSeconds") or 1800)
    deadline = time.monotonic() + timeout
    first_table = True
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        now = time.monotonic()
        if now >= deadline or request.transport is None or request.transport.is_closing():
            break  # timed out, or the client went away (aiohttp does not cancel handlers)
        if now >= next_bookmark:
            stream.bookmark(cluster_store.rv)
            next_bookmark = now + bookmark_interval
        wait = min(deadline, next_bookmark) - now
        try:
            item = await asyncio.wait_for(stream.queue.get(), min(wait, _CLIENT_CHECK_SECONDS))
        except TimeoutError:
            continue
        if item is None:
            break
        event_type, obj = item
        if as_table and event_type not in ("ERROR", "BOOKMARK"):
            obj = table.render(
                [obj],
                list(rt.printer_columns),
                obj["metadata"]["resourceVersion"],
                query.get("includeObject", "Metadata"),
                first_table,
            )
            first_table = False
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n"
        try:
            await response.write(line.encode())
        except (ConnectionResetError, RuntimeError):
            break
    return response
