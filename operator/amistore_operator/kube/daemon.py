"""One AmiStore's poll loop, without kopf: poll, write the status if it changed, post events.

``handlers.register`` runs it as the resource's kopf daemon with kopf's status writer
and event poster; the deterministic simulation (``tests/sim``) runs the very same loop
on a virtual clock against a fake API server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from amistore_operator.core import status, statusevents
from amistore_operator.reconcile import resource

logger = logging.getLogger(__name__)

# Writes ``status``; False when the object is gone, WriteRefusedError when the API refused.
Writer = Callable[[Mapping[str, Any]], Awaitable[bool]]
Poster = Callable[[statusevents.Event], None]


class Polled(Protocol):
    """A service whose resources this loop polls (AmiStore's and AmiRestore's)."""

    @property
    def closed(self) -> bool: ...

    async def poll(
        self, ref: resource.ResourceRef, read: Callable[[], resource.Snapshot]
    ) -> status.Outcome: ...

    def patch(self, ref: resource.ResourceRef, new: Mapping[str, Any], watched: Any) -> Any: ...

    def written(self, ref: resource.ResourceRef) -> None: ...

    def unwritten(self, ref: resource.ResourceRef, *, ambiguous: bool = False) -> None: ...

    def forget(self, ref: resource.ResourceRef) -> None: ...


class WriteRefusedError(Exception):
    """The API server refused (or did not answer: ``ambiguous``) a status write."""

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


async def run(
    svc: Polled,
    ref: resource.ResourceRef,
    read: Callable[[], resource.Snapshot],
    write: Writer,
    post: Poster,
    stopped: Callable[[], bool],
) -> None:
    """Poll until ``stopped`` or the service closes; the service forgets the resource after."""
    try:
        while not stopped() and not svc.closed:
            outcome = await svc.poll(ref, read)
            if outcome.changed:
                try:
                    written = await write(svc.patch(ref, outcome.status, read().status))
                except WriteRefusedError as exc:
                    # Not written: the next poll computes it again from the stored status,
                    # with the same events, so none is posted for a change nobody can see.
                    logger.warning("Status of %s not written, retrying next poll: %s", ref.key, exc)
                    svc.unwritten(ref, ambiguous=exc.ambiguous)
                    continue
                if not written:
                    continue
                svc.written(ref)
            for event in outcome.events:
                post(event)
    finally:
        svc.forget(ref)
