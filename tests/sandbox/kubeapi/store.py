"""Objects, the global resourceVersion counter, watch history and open watches."""

from __future__ import annotations

import asyncio
import builtins
import collections
import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from tests.sandbox.kubeapi import errors

Obj = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)


@dataclasses.dataclass(frozen=True)
class Event:
    """One change in the history: the object as it was right after the change."""

    rv: int
    type_key: TypeKey
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj


def now_rfc3339() -> str:
    """The current time as the apiserver writes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What a watcher's queue carries: an event, or a close marker (with an ERROR status or not).
WatchItem = tuple[str, Obj] | None


class Watcher:
    """One open watch: a queue fed by the store, filtered by namespace and a predicate."""

    def __init__(self, type_key: TypeKey, namespace: str | None, match: Callable[[Obj], bool]):
        self.type_key = type_key
        self.namespace = namespace
        self.match = match
        self.queue: asyncio.Queue[WatchItem] = asyncio.Queue()

    def wants(self, event: Event) -> bool:
        """Whether this watch should see the event."""
        if event.type_key != self.type_key:
            return False
        if self.namespace and event.obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.match(event.obj)

    def offer(self, event: Event) -> None:
        """Queue the event if the watch wants it."""
        if self.wants(event):
            self.queue.put_nowait((event.type, event.obj))

    def close(self, error: Obj | None = None) -> None:
        """End the stream, optionally after an ERROR event."""
        if error is not None:
            self.queue.put_nowait(("ERROR", error))
        self.queue.put_nowait(None)


class Store:
    """In-memory objects with a monotonic resourceVersion and bounded history."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 0
        self.objects: dict[TypeKey, dict[ObjKey, Obj]] = {}
        self.history: collections.deque[Event] = collections.deque()
        self.history_size = history_size
        # Watches starting before this resourceVersion have lost history: 410 Gone.
        self.compacted_rv = 0
        self.watchers: set[Watcher] = set()

    def bucket(self, type_key: TypeKey) -> dict[ObjKey, Obj]:
        """The objects of one resource type."""
        return self.objects.setdefault(type_key, {})

    def get(self, type_key: TypeKey, namespace: str, name: str) -> Obj | None:
        """One object or None."""
        return self.objects.get(type_key, {}).get((namespace, name))

    def list(self, type_key: TypeKey, namespace: str | None) -> list[Obj]:
        """Objects sorted by namespace and name, as etcd's key order has them."""
        bucket = self.objects.get(type_key, {})
        keys = sorted(k for k in bucket if not namespace or k[0] == namespace)
        return [bucket[k] for k in keys]

    def put(self, type_key: TypeKey, obj: Obj, event_type: str) -> Obj:
        """Store a new or changed object, stamping the next resourceVersion."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        self.bucket(type_key)[(meta.get("namespace", ""), meta["name"])] = obj
        self._record(Event(self.rv, type_key, event_type, obj))
        return obj

    def remove(
        self, type_key: TypeKey, namespace: str, name: str, last: Obj | None = None
    ) -> Obj | None:
        """Delete an object; the DELETED event carries ``last`` (or the stored object)."""
        stored = self.objects.get(type_key, {}).pop((namespace, name), None)
        if stored is None:
            return None
        obj = last if last is not None else stored
        self.rv += 1
        final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        self._record(Event(self.rv, type_key, "DELETED", final))
        return final

    def drop_type(self, type_key: TypeKey) -> None:
        """Delete every object of a type (its CRD went away)."""
        for namespace, name in list(self.objects.get(type_key, {})):
            self.remove(type_key, namespace, name)
        self.objects.pop(type_key, None)

    def _record(self, event: Event) -> None:
        if len(self.history) >= self.history_size:
            self.compacted_rv = self.history.popleft().rv
        self.history.append(event)
        for watcher in self.watchers:
            watcher.offer(event)

    def check_fresh(self, rv: int) -> None:
        """Raise 410 Gone if history since ``rv`` is no longer kept."""
        if rv < self.compacted_rv:
            raise errors.gone(f"too old resource version: {rv} ({self.compacted_rv})")

    def events_since(self, rv: int) -> builtins.list[Event]:
        """Events newer than ``rv`` (raises 410 Gone when they are no longer all kept)."""
        self.check_fresh(rv)
        newer: builtins.list[Event] = []
        for event in reversed(self.history):
            if event.rv <= rv:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def expire(self) -> None:
        """Forget all history and end every open watch with a 410 ERROR event."""
        self.rv += 1
        self.compacted_rv = self.rv
        self.history.clear()
        status = errors.gone("too old resource version: expired by the sandbox").status()
        for watcher in list(self.watchers):
            watcher.close(status)
        self.watchers.clear()

    def close_watches(self) -> None:
        """End every open watch without an error, as an apiserver restart would."""
        for watcher in list(self.watchers):
            watcher.close()
        self.watchers.clear()
