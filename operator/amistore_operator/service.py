"""The work of one poll, between the kopf handlers and the core: no kopf in here.

A handler hands over the resource's identity, spec and previous status; the
service validates the spec, asks the shared poller for fresh AWS data, lets the
pure core compute the new status, and keeps the metrics in step.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from amistore_operator import conditions, metrics, model, poller, spec, status

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """Which AmiStore: the poller and the metrics key on namespace/name."""

    namespace: str
    name: str
    uid: str = ""  # tells a re-created object of the same name from the one we wrote to

    @property
    def key(self) -> str:
        """The poller's subscription key."""
        return f"{self.namespace}/{self.name}"


def utcnow() -> datetime.datetime:
    """Now, timezone-aware, to the second (status times are RFC 3339 seconds)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


class AmiStoreService:
    """Polls AmiStores through the shared poller and renders their status and metrics."""

    def __init__(
        self,
        *,
        hub: poller.PollerHub,
        collector: metrics.TaskCollector,
        default_region: str,
        default_interval: float,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self._hub = hub
        self._collector = collector
        self._default_region = default_region
        self._default_interval = default_interval
        self._clock = clock
        # What we last wrote, per resource, with the uid of the object it went to: fresher
        # than the watched body until its watch event arrives (we are the status's only
        # writer); a re-created object of the same name (its DELETED event missed, e.g. the
        # apiserver lost its objects) has another uid and starts from its own status.
        self._written: dict[str, tuple[str, dict[str, Any]]] = {}
        self._generations: dict[str, int] = {}

    def parse(self, raw_spec: Mapping[str, Any] | None) -> model.AmiStoreSpec:
        """Validate a spec with the operator's defaults (raises spec.SpecError)."""
        return spec.parse_spec(
            raw_spec,
            default_region=self._default_region,
            default_interval=self._default_interval,
        )

    async def poll(
        self,
        ref: ResourceRef,
        *,
        raw_spec: Mapping[str, Any] | None,
        previous: Mapping[str, Any] | None,
        generation: int,
        current_generation: Callable[[], int],
    ) -> status.Outcome:
        """One tick: wait for fresh data (at most about one interval) and compute the status."""
        self._generations[ref.key] = generation
        uid, written = self._written.get(ref.key, (ref.uid, None))
        prior = written if written is not None and uid == ref.uid else previous
        try:
            wanted = self.parse(raw_spec)
        except spec.SpecError as exc:
            self._hub.forget(ref.key)
            outcome = status.reject_spec(prior, str(exc), generation=generation, now=self._clock())
            self._record(ref, self._default_region, outcome)
            return outcome
        view = await self._hub.view(ref.key, wanted, status.known_tasks(prior))
        if current_generation() != generation:
            # The spec changed while we waited: act on the new one within seconds.
            return await self.poll(
                ref,
                raw_spec=raw_spec,
                previous=previous,
                generation=current_generation(),
                current_generation=current_generation,
            )
        outcome = status.reconcile(prior, wanted, view, generation=generation, now=self._clock())
        self._record(ref, wanted.region, outcome)
        return outcome

    def observe(self, ref: ResourceRef, generation: int) -> None:
        """A watch event: a new generation (spec change) is polled within seconds."""
        seen = self._generations.get(ref.key)
        if seen is not None and seen != generation:
            self._generations[ref.key] = generation
            self._hub.wake(ref.key)

    def forget(self, ref: ResourceRef) -> None:
        """The resource is being deleted: drop its subscription and its series at once."""
        self._hub.forget(ref.key)
        self._collector.forget(ref.namespace, ref.name)
        self._written.pop(ref.key, None)
        self._generations.pop(ref.key, None)

    def unwritten(self, ref: ResourceRef) -> None:
        """The last status was refused by the API: compute the next from the stored one."""
        self._written.pop(ref.key, None)

    async def close(self) -> None:
        """Stop the poller's loops (operator shutdown)."""
        await self._hub.close()

    def _record(self, ref: ResourceRef, region: str, outcome: status.Outcome) -> None:
        before = self._written.get(ref.key)
        self._written[ref.key] = (ref.uid, outcome.status)
        if before is not None and before[0] == ref.uid and not outcome.changed:
            return  # the same status renders the same series: skip it on every quiet tick
        self._collector.set_resource(
            ref.namespace,
            ref.name,
            region,
            outcome.status.get("tasks", []),
            synced=_synced(outcome.status),
        )


def _synced(current: Mapping[str, Any]) -> bool | None:
    value = (conditions.synced(current) or {}).get("status")
    return True if value == "True" else False if value == "False" else None
