"""How far the ETA is off, on progress curves the estimator was not built on.

Each curve is a simulator task script (``tests/sandbox/ec2sim/model.py``: a queue
at 0%, a piecewise-linear rate, uneven reported steps). The operator's core is
run on it the way the operator sees it: one poll every interval, whole percent
as the simulator reports them, the status carried from poll to poll; repeated
with the first poll at several offsets into the interval. At every poll once
25% is done, the error is the estimate minus the moment the task really
completes, held against the goal max(15% of the remaining time, two poll
intervals). The table shows the worst error per curve and per progress band.

    .venv/bin/python -m bench.eta_accuracy
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from typing import Any

from amistore_operator.core import model as core_model
from amistore_operator.core import status

from tests.sandbox.ec2sim import model as sim_model

AMI = "ami-0000000a"
HOUR = 3600.0
BANDS = ((25, 50), (50, 75), (75, 100))
GOAL_SHARE = 0.15  # of the remaining time
GOAL_INTERVALS = 2  # poll intervals


@dataclasses.dataclass(frozen=True)
class Curve:
    """A task script, and how long it ran before the operator's first poll."""

    name: str
    script: dict[str, Any]  # StoreTask fields: duration, queued_seconds, segments, steps
    seen_after: float = 0.0


CURVES = (
    Curve("linear", {"duration": 3 * HOUR}),
    Curve("queued 45 min at 0%", {"duration": 2.5 * HOUR, "queued_seconds": 0.75 * HOUR}),
    Curve("slowing down (rate 1 : 1/2 : 1/3)", {"segments": ((40, 2400), (70, 3600), (100, 5400))}),
    Curve("speeding up (rate 1 : 2 : 3)", {"segments": ((30, 5400), (60, 2700), (100, 2400))}),
    Curve("slowing gently (rate 1 : 4/5)", {"segments": ((50, 4800), (100, 6000))}),
    Curve("speeding gently (rate 1 : 5/4)", {"segments": ((50, 6000), (100, 4800))}),
    Curve(
        "uneven steps (2 to 12 points)",
        {"duration": 3 * HOUR, "steps": (2, 5, 11, 14, 23, 27, 38, 41, 50, 62, 66, 71, 80, 88, 93)},
    ),
    Curve("first seen half-way", {"duration": 3 * HOUR}, seen_after=1.5 * HOUR),
)


@dataclasses.dataclass
class Band:
    """The worst error seen in one progress band."""

    samples: int = 0
    worst_error: float = 0.0  # seconds, absolute
    worst_share: float = 0.0  # of the goal: above 1.0 misses it
    unestimated: int = 0  # polls without an estimate

    @property
    def met(self) -> bool:
        """Whether every poll in the band had an estimate within the goal."""
        return self.unestimated == 0 and self.worst_share <= 1.0


T0 = datetime.datetime(2026, 11, 27, 0, 0, 0, tzinfo=datetime.UTC)


def _task(curve: Curve) -> sim_model.StoreTask:
    script = dict(curve.script)
    if "segments" in script:
        script["duration"] = sum(seconds for _, seconds in script["segments"])
    return sim_model.StoreTask(ami_id=AMI, bucket="bkt", start_time=T0.timestamp(), **script)


def _end(task: sim_model.StoreTask) -> float:
    assert task.duration is not None
    return task.start_time + task.queued_seconds + task.duration


def run(curve: Curve, interval: float, offset: float) -> dict[tuple[int, int], Band]:
    """One pass over a curve with polls every ``interval`` from ``offset`` seconds in."""
    task = _task(curve)
    end = _end(task)
    spec = core_model.AmiStoreSpec((AMI,), "bkt", (), "eu-west-1", interval)
    bands = {band: Band() for band in BANDS}
    previous: dict[str, Any] | None = None
    now = task.start_time + curve.seen_after + offset
    while True:
        seen = sim_model.view(task, now)
        aws = core_model.StoreTask(
            AMI,
            core_model.TaskState(seen.state),
            seen.progress,
            "bkt",
            seen.object_key,
            datetime.datetime.fromtimestamp(seen.start_time, datetime.UTC),
        )
        when = datetime.datetime.fromtimestamp(now, datetime.UTC)
        outcome = status.reconcile(
            previous,
            spec,
            core_model.ResourceView({AMI: aws}, None),
            generation=1,
            now=when,
        )
        previous = outcome.status
        if seen.state != "InProgress":
            return bands
        band = next((b for b in BANDS if b[0] <= seen.progress < b[1]), None)
        if band is not None:
            _score(bands[band], outcome.status, now, end, interval)
        now += interval


def _score(band: Band, current: dict[str, Any], now: float, end: float, interval: float) -> None:
    band.samples += 1
    estimate = status.parse_time(current.get("estimatedCompletionTime"))
    if estimate is None:
        band.unestimated += 1
        return
    error = abs(estimate.timestamp() - end)
    goal = max(GOAL_SHARE * (end - now), GOAL_INTERVALS * interval)
    band.worst_error = max(band.worst_error, error)
    band.worst_share = max(band.worst_share, error / goal)


def study(curve: Curve, interval: float = 60.0, offsets: int = 6) -> dict[tuple[int, int], Band]:
    """The worst error per band over ``offsets`` first-poll offsets into the interval."""
    worst = {band: Band() for band in BANDS}
    for k in range(offsets):
        for band, seen in run(curve, interval, interval * k / offsets).items():
            total = worst[band]
            total.samples += seen.samples
            total.unestimated += seen.unestimated
            total.worst_error = max(total.worst_error, seen.worst_error)
            total.worst_share = max(total.worst_share, seen.worst_share)
    return worst


def table(interval: float = 60.0) -> str:
    """The table in docs/resources.md: worst error, in minutes and as a share of the goal."""
    head = "| Curve | " + " | ".join(f"{lo}-{hi}% done" for lo, hi in BANDS) + " | Goal met |"
    lines = [head, "|" + "---|" * (len(BANDS) + 2)]
    for curve in CURVES:
        bands = study(curve, interval)
        cells = [_cell(bands[band]) for band in BANDS]
        met = "yes" if all(b.met for b in bands.values()) else "no"
        lines.append(f"| {curve.name} | " + " | ".join(cells) + f" | {met} |")
    return "\n".join(lines)


def _cell(band: Band) -> str:
    if band.samples == 0:
        return "n/a"
    text = f"{band.worst_error / 60:.1f} min ({band.worst_share:.0%} of goal)"
    if band.unestimated:
        text += f", {band.unestimated} polls without one"
    return text


def main() -> None:
    """Print the table for one poll interval."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval, seconds")
    args = parser.parse_args()
    print(f"Poll interval {args.interval:g} s; worst |ETA error| per progress band.\n")
    print(table(args.interval))


if __name__ == "__main__":
    main()
