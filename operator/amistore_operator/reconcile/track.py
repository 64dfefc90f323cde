"""The status of one poll, and the metrics that follow it.

The core folds AWS's view and the steps' parts into the new status. It is
idempotent: the same view and parts on top of the status it produced last give
that status back. That is every quiet poll, so the last output and its inputs
are kept, and the core runs again only when one of them changes, or from the
moment the output changes by time alone (a task stalls: ``Outcome.stall_due``).
Each status the core computes is remembered (``statusmemory``) and its entries
rendered as metric series, unless they are the ones rendered already.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import conditions, status
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, statusmemory, step


class Tracker:
    """Runs the core on a poll's inputs and parts, unless it would return the same status."""

    def __init__(
        self, *, memory: statusmemory.StatusMemory, collector: metrics.TaskCollector
    ) -> None:
        self._memory = memory
        self._collector = collector
        # The last reconcile's output and inputs, and when that output changes by time alone.
        self._reconciled: dict[
            str, tuple[dict[str, Any], tuple[Any, ...], datetime.datetime | None]
        ] = {}

    def track(self, inputs: step.PollInputs, parts: Sequence[step.Part]) -> status.Outcome:
        """The new status (the prior, unchanged, when the core would return it)."""
        view = inputs.view
        shares = step.status_args(parts)  # every step's share of the status
        compared = (
            inputs.snap.generation,
            inputs.wanted,
            view.tasks,
            view.error,
            view.account,
            inputs.stretched,
            shares,  # all of it: a quiet poll compares everything the core would read
        )
        key = inputs.ref.key
        last = self._reconciled.get(key)
        if (
            last is not None
            and last[0] is inputs.prior
            and last[1] == compared
            and (last[2] is None or inputs.now < last[2])
        ):
            # Same data on top of the status it produced: the core would return it unchanged.
            return status.Outcome(status=last[0], changed=False, events=())
        outcome = status.reconcile(
            inputs.prior,
            inputs.wanted,
            view,
            generation=inputs.snap.generation,
            now=inputs.now,
            previous_entries=inputs.entries,
            stretched_interval=inputs.stretched,
            **shares,
        )
        self.record(inputs.ref, inputs.wanted.region, outcome)
        self._reconciled[key] = (outcome.status, compared, outcome.stall_due)
        return outcome

    def forget(self, key: str) -> None:
        """The resource is gone."""
        self._reconciled.pop(key, None)

    def record(self, ref: resource.ResourceRef, region: str, outcome: status.Outcome) -> None:
        """Remember a status the core computed; its entries' series follow it."""
        if not self._memory.record(ref, outcome):
            return  # the same entries render the same series: skip them
        self._collector.set_resource(
            ref.namespace,
            ref.name,
            region,
            outcome.entries,
            synced=_synced(outcome.status),
            account=outcome.status.get("account") or "",
            export=any(
                c.get("type") == "ExportReady" for c in outcome.status.get("conditions", ())
            ),
        )


def _synced(current: Mapping[str, Any]) -> bool | None:
    value = (conditions.synced(current) or {}).get("status")
    return True if value == "True" else False if value == "False" else None
