"""The shape of a step of one poll: what it reads (``PollInputs``), what it returns (``Part``).

A poll fetches AWS's view (``fetch``), then runs each step on the same inputs: a
step acts for its capability (export's creates today, cleanup and restore next)
and returns its ``Part``: its share of the status (keyword arguments of
``core.status.reconcile``), its Events, and what the poller should poll again.
The service folds the parts into the status (``track``) and does what they ask
of the poller; a step never sees the poller or the metrics.

A step is also told of the resource's life between polls: a watch event, a
rejected spec, a status stored or refused, the resource gone. The hooks do
nothing unless a step keeps something of its own.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from amistore_operator.core import model, statusevents
from amistore_operator.reconcile import resource


@dataclasses.dataclass(frozen=True)
class PollInputs:
    """What every step of one poll reads: the resource, its spec and status, AWS's view, now."""

    ref: resource.ResourceRef
    snap: resource.Snapshot  # as read after the wait: its retry annotation is current
    wanted: model.AmiStoreSpec  # the parsed spec
    prior: Mapping[str, Any] | None  # the status to build on (``statusmemory``)
    entries: tuple[dict[str, Any], ...] | None  # all of prior's entries, if computed here
    view: model.ResourceView  # the poller's data, or the account gate's refusal
    denial: str | None  # why the account map refuses the namespace its account
    stretched: float | None  # the poll interval while the EC2 budget stretches it
    now: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Part:
    """One step's part of a poll: its share of the status, its Events, what to poll again."""

    # Keyword arguments of ``core.status.reconcile`` (of ``reject_spec`` for a rejected spec).
    status: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    events: tuple[statusevents.Event, ...] = ()  # announced whether or not the status changed
    refresh: tuple[str, ...] = ()  # AMIs the poller polls again at once
    requested: tuple[str, ...] = ()  # AMIs it polls right after the status is stored
    wake_at: datetime.datetime | None = None  # when the status changes by time alone


class Step:
    """One capability's part of every poll: a step implements ``run``, and the hooks it needs.

    The hooks keep what a step remembers of a resource in step with its life.
    """

    async def run(self, inputs: PollInputs) -> Part:
        """Its part of this poll (it may call AWS)."""
        raise NotImplementedError

    def rejected(
        self, ref: resource.ResourceRef, prior: Mapping[str, Any] | None, now: datetime.datetime
    ) -> Part:
        """The spec is invalid: what of its status to keep (its ``status``: of ``reject_spec``)."""
        return Part()

    def observe(self, ref: resource.ResourceRef, snap: resource.Snapshot) -> None:
        """A watch event delivered the resource (before its first poll, after a restart)."""

    def written(self, key: str) -> None:
        """The status of the last poll is stored."""

    def unwritten(self, key: str, *, ambiguous: bool = True) -> None:
        """The status of the last poll was refused by the API (``ambiguous``: or got no
        answer, and may be stored after all)."""

    def forget(self, key: str) -> None:
        """The resource is gone."""


def status_args(parts: Iterable[Part]) -> dict[str, Any]:
    """The parts' shares of the status, as keyword arguments of the core."""
    return {name: value for part in parts for name, value in part.status.items()}
