"""Pure rendering of AmiRestores: rows, the status's fields and plain lines from dicts."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable

from amistore_operator.core import timestamps
from amistore_operator.plugin import durations, render

Obj = render.Obj
AVAILABLE, FAILED = "Available", "Failed"


def phase(obj: Obj) -> str:
    """The AmiRestore's phase; ``Unknown`` before the operator's first status."""
    return str(render.status_of(obj).get("phase") or "Unknown")


def percent(obj: Obj) -> int:
    """The restore's progress: the status's, 100 once Available."""
    return 100 if phase(obj) == AVAILABLE else render.percent(render.status_of(obj))


def source(obj: Obj) -> str:
    """``s3://BUCKET/KEY``, as the spec names the object."""
    spec = obj.get("spec") or {}
    return f"s3://{spec.get('bucket', '')}/{spec.get('objectKey', '')}"


def synced_problem(obj: Obj) -> str:
    """``REASON: message`` while Synced is False (the operator cannot act), else blank."""
    synced = render.condition(obj, "Synced")
    if synced.get("status") != "False":
        return ""
    reason, message = str(synced.get("reason") or ""), str(synced.get("message") or "")
    return f"{reason}: {message}" if reason and message else reason or message


def failure(obj: Obj) -> str:
    """Why a restore Failed: the status's reason, else the Failed condition's message."""
    status = render.status_of(obj)
    failed = render.condition(obj, "Failed")
    return str(status.get("failureReason") or failed.get("message") or "no reason given")


@dataclasses.dataclass(frozen=True)
class RestoreRow:
    """One AmiRestore in ``kubectl amistore list``."""

    namespace: str
    name: str
    phase: str
    percent: int
    image: str
    source: str
    synced: str
    age: str


def list_rows(items: Iterable[Obj], now: datetime.datetime) -> list[RestoreRow]:
    """One row per AmiRestore, sorted by namespace and name."""
    rows = []
    for obj in items:
        meta, status = obj.get("metadata", {}), render.status_of(obj)
        created = timestamps.parse_time(meta.get("creationTimestamp"))
        rows.append(
            RestoreRow(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                phase=phase(obj),
                percent=percent(obj),
                image=str(status.get("imageId") or ""),
                source=source(obj),
                synced=str(render.condition(obj, "Synced").get("status", "")),
                age=durations.age(created, now),
            )
        )
    return sorted(rows, key=lambda row: (row.namespace, row.name))


def moment(value: object, now: datetime.datetime) -> str:
    """An RFC 3339 time as written, with how long ago (or ahead) it is; ``-`` without one."""
    parsed = timestamps.parse_time(value)
    if parsed is None:
        return "-"
    gap = (now - parsed).total_seconds()
    ago = f"{durations.short(gap)} ago" if gap >= 0 else f"in {durations.short(-gap)}"
    return f"{value} ({ago})"


def _thaw(obj: Obj, now: datetime.datetime) -> str:
    thaw = (obj.get("spec") or {}).get("thaw") or {}
    expiry = render.status_of(obj).get("thawExpiryTime")
    asked = f"{thaw.get('days')} days, {thaw.get('tier') or 'Standard'}" if thaw else "-"
    return f"{asked}; thawed copy expires {moment(expiry, now)}" if expiry else asked


def summary(obj: Obj, now: datetime.datetime) -> list[tuple[str, str]]:
    """The headline fields of ``status amirestore/NAME``, as (label, value) pairs."""
    meta, status, spec = obj.get("metadata", {}), render.status_of(obj), obj.get("spec") or {}
    image = str(status.get("imageId") or "-")
    name = status.get("imageName") or spec.get("name")
    pairs = [
        ("Name", str(meta.get("name", ""))),
        ("Namespace", str(meta.get("namespace", ""))),
        ("Phase", phase(obj)),
        ("Progress", f"{percent(obj)}%"),
        ("Image", f"{image} ({name})" if name else image),
        ("Source", source(obj)),
        ("Storage class", str(status.get("objectStorageClass") or "-")),
        ("Thaw", _thaw(obj, now)),
        ("Region", str(status.get("region") or spec.get("region") or "-")),
    ]
    account = status.get("account") or spec.get("account")
    pairs += [("Account", str(account))] if account else []
    pairs += [
        ("Requested", moment(status.get("requestedTime"), now)),
        ("Completed", moment(status.get("completedTime"), now)),
    ]
    if phase(obj) == FAILED:
        pairs.append(("Failure", failure(obj)))
    if synced_problem(obj):
        pairs.append(("Not synced", synced_problem(obj)))
    poll = timestamps.parse_time(status.get("lastPollTime"))
    pairs.append(("Last poll", f"{durations.age(poll, now)} ago" if poll else "-"))
    if status and status.get("observedGeneration") != meta.get("generation"):
        pairs.append(("Note", "the operator has not acted on the latest spec yet"))
    return pairs


def plain_lines(obj: Obj, now: datetime.datetime) -> list[str]:
    """An AmiRestore as plain lines, for logs: the phase line, then why it waits or failed."""
    status = render.status_of(obj)
    name = obj.get("metadata", {}).get("name", "")
    head = f"{name} {phase(obj)} {percent(obj)}%"
    image = status.get("imageId")
    lines = [f"{head} {image}" if image else head]
    if synced_problem(obj):
        lines.append(f"  not synced: {synced_problem(obj)}")
    if phase(obj) == FAILED:
        lines.append(f"  failed: {failure(obj)}")
    return lines
