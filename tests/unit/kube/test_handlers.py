"""The kopf handlers as registered: those that touch the service run on the event loop."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, cast

import kopf
from amistore_operator.kube import handlers
from amistore_operator.reconcile import service


def registered(registry: kopf.OperatorRegistry) -> Iterator[Any]:
    """Every handler on a registry, of every kind (kopf keeps one sub-registry per kind)."""
    for kind in ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks"):
        yield from getattr(registry, kind).get_all_handlers()


def touches(fn: Callable[..., Any], target: object, seen: frozenset[int] = frozenset()) -> bool:
    """Whether ``fn`` closes over ``target``, directly or through a function it closes over."""
    if id(fn) in seen or not inspect.isfunction(fn):
        return False
    closed = inspect.getclosurevars(fn)
    values = [*closed.nonlocals.values(), *closed.globals.values()]
    return any(value is target for value in values) or any(
        touches(value, target, seen | {id(fn)}) for value in values if inspect.isfunction(value)
    )


def test_every_handler_that_touches_the_service_is_a_coroutine_function() -> None:
    # kopf runs a plain ``def`` in its thread pool, where it would change the poller's dicts
    # and resolve asyncio futures while the event loop uses them.
    svc = cast(service.AmiStoreService, object())
    registry = kopf.OperatorRegistry()
    handlers.register(registry, svc, cluster_wide=False)

    users = {h.fn.__name__: h.fn for h in registered(registry) if touches(h.fn, svc)}

    # The daemon, the watch handler and the cleanup all use it: the check above sees them.
    assert {"poll", "watched", "close"} <= set(users), sorted(users)
    threaded = sorted(name for name, fn in users.items() if not inspect.iscoroutinefunction(fn))
    assert threaded == [], f"handlers kopf would run in a thread: {threaded}"


class Observed:
    """A service that records the watch events it is handed."""

    def __init__(self) -> None:
        self.snapshots: list[Any] = []

    def observe(self, ref: Any, generation: int, snap: Any = None) -> None:
        self.snapshots.append(snap)


async def test_a_watch_event_hands_the_service_the_retry_annotation() -> None:
    # The service notes when a new retry value first arrives: the watch delivers it long
    # before a poll at a long interval reads it.
    svc = Observed()
    registry = kopf.OperatorRegistry()
    handlers.register(registry, cast(service.AmiStoreService, svc), cluster_wide=False)
    watched = next(h.fn for h in registered(registry) if h.fn.__name__ == "watched")
    metadata = {"namespace": "team", "name": "golden", "generation": 3}
    for marked, value in (({handlers.RETRY_ANNOTATION: "retry-1"}, "retry-1"), ({}, None)):
        raw = {"metadata": {**metadata, "annotations": marked}, "spec": {}}
        body = kopf.Body(cast(kopf.RawBody, raw))
        await watched(type="MODIFIED", body=body, meta=body.metadata)
        snap = svc.snapshots[-1]
        assert (snap.generation, snap.retry_requested) == (3, value)
