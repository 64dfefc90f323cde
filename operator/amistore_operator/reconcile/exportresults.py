"""What one export step gathers and hands back: the ``Poll`` it fills, the ``Step`` it returns.

The calls note what came of them in the poll's ``Poll``; ``settle`` hands that back to the
core once (``core.exportentries``), counts the resource's stores in flight for the cap,
and makes the ``Step`` the service writes into the status, with the records it keeps
beyond its entries (``core.exportrecords``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import export, exportentries, exportrecords, model, statusevents
from amistore_operator.reconcile import exportbook, exportcapacity


@dataclasses.dataclass
class Poll:
    """What one step gathers as it carries the decision out."""

    recorded: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    withdrawn: list[str] = dataclasses.field(default_factory=list)
    events: list[statusevents.Event] = dataclasses.field(default_factory=list)
    final: list[str] = dataclasses.field(default_factory=list)  # refused for good, any AMI


@dataclasses.dataclass(frozen=True)
class Step:
    """Export mode's part of one poll's status: condition, entries, events."""

    condition: export.Condition | None
    entries: dict[str, dict[str, Any]]
    events: tuple[statusevents.Event, ...] = ()
    retry_handled: str | None = None  # the retry annotation value handled, for the status
    # Poll these right after the write: new requests, and calls put off until it is stored.
    requested: tuple[str, ...] = ()
    awaiting: tuple[str, ...] = ()  # AMIs with a live request: polled every interval
    records: tuple[dict[str, Any], ...] = ()  # status.exportRecords (``core.exportrecords``)
    # AMIs AWS refused for good this poll: the refusal holds for their (account, region,
    # bucket), so every AmiStore naming them shows it; poll them again at once.
    refused: tuple[str, ...] = ()
    refresh: tuple[str, ...] = ()  # AMIs to poll at once: a new retry value waits for them


def settle(
    inputs: export.Inputs,
    decision: export.Decision,
    poll: Poll,
    condition: export.Condition | None,
    kept: Sequence[exportrecords.Record],
    book: exportbook.Book,
    capacity: exportcapacity.Capacity,
    verdicts: Mapping[exportbook.Target, export.Verdict],
) -> Step:
    """Hand the results back to the core once: the entries, the counts for the cap."""
    spec = inputs.spec
    target: exportbook.Target = (spec.account, spec.region, spec.bucket or "")
    live = book.requests.get(target, {})
    results = exportentries.Results(
        recorded=tuple(poll.recorded),
        refused=poll.refused,
        withdrawn=tuple(poll.withdrawn),
        requests=live,
    )
    unrecorded = [a for a in decision.queue if a not in poll.recorded]
    verdict = verdicts.get(target)
    if verdict is not None and verdict.denied is None and unrecorded:
        decision = dataclasses.replace(decision, wait=(*decision.wait, *unrecorded))
    elif decision.preflight is not None and unrecorded:
        # The DryRun did not pass: a new retry value that asked for them waits for a poll
        # that records their requests (else it would be recorded handled, and lost), and
        # those waiting (perhaps to retry) wait on.
        waiting = [a for a in unrecorded if export.is_waiting(inputs.previous.get(a) or {})]
        decision = dataclasses.replace(
            decision, retry_handled=inputs.retry_handled, wait=(*decision.wait, *waiting)
        )
    shown = exportentries.entries(inputs, decision, results)
    wanting = decision.candidates > len(poll.recorded)
    capacity.tally(inputs.key, target[:2], exportentries.in_flight(inputs, shown), wanting=wanting)
    awaiting = tuple(a for a in spec.image_ids if a in live and live[a].owner == inputs.key)
    records = _records(book, inputs, target, poll.recorded, kept)
    return Step(
        condition,
        shown,
        tuple(poll.events),
        decision.retry_handled,
        requested=(*poll.recorded, *decision.deferred),
        awaiting=awaiting,
        records=tuple(exportrecords.render(records)),
        refused=tuple(poll.final),
        refresh=decision.refresh,
    )


def _records(
    book: exportbook.Book,
    inputs: export.Inputs,
    target: exportbook.Target,
    recorded: Sequence[str],
    kept: Sequence[exportrecords.Record],
) -> list[exportrecords.Record]:
    """What the status records beyond its entries, so no restart starts it again.

    The tasks it recorded before; its live requests its entries do not show (an edit
    moved them to another account, region or bucket, or dropped the AMI); and for
    each AMI it requests now, the tasks seen into other buckets, which the new one
    will hide (AWS lists an AMI's latest task only).
    """
    records = [r for r in kept if r.state != model.TaskState.QUEUED]
    shown = set(inputs.spec.image_ids)
    for record in book.live(inputs.key, inputs.now):
        if record.target != target or record.ami_id not in shown:
            records.append(record)
    for other, seen in book.seen.items():
        if other[:2] != target[:2] or other == target:
            continue
        for ami_id in recorded:
            if ami_id in seen:
                start, state = seen[ami_id]
                records.append(exportrecords.task(ami_id, other, start, state))
    return records
