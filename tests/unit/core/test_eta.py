"""The ETA: measured between observed moves, kept between them, and the resource's latest."""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.core import eta, model, status

T0 = datetime.datetime(2026, 11, 27, 4, 0, 0, tzinfo=datetime.UTC)
A = "ami-0000000a"
B = "ami-0000000b"
# Stall detection off the scale of these curves: a stall is a write of its own (core.stall).
SPEC = model.AmiStoreSpec((A, B), "bkt", (), "eu-west-1", 60, stall_after=604800)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return status.format_time(at(minutes))


def aws(progress: int, state: str = "InProgress", started: float = 0) -> model.StoreTask:
    return model.StoreTask(
        A, model.TaskState(state), progress, "bkt", f"{A}.bin", start_time=at(started)
    )


class Poller:
    """The core run poll after poll for one task, as the operator runs it."""

    def __init__(self) -> None:
        self.status: dict[str, Any] | None = None
        self.writes = 0

    def poll(
        self, minute: float, task: model.StoreTask | None, other: model.StoreTask | None = None
    ) -> dict[str, Any]:
        view = model.ResourceView({A: task, B: other}, None)
        outcome = status.reconcile(self.status, SPEC, view, generation=1, now=at(minute))
        self.writes += outcome.changed
        self.status = outcome.status
        return next(e for e in outcome.status["tasks"] if e["amiId"] == A)


def test_no_estimate_from_a_first_sighting_at_zero() -> None:
    seen = Poller().poll(0, aws(0))
    assert "estimatedCompletionTime" not in seen
    assert "rateSinceTime" not in seen


def test_the_rate_is_measured_from_the_first_move_not_from_a_queue() -> None:
    # Queued 60 minutes at 0%, then 1% a minute: done at minute 160.
    poller = Poller()
    for minute in range(0, 61):
        poller.poll(minute, aws(0))
    first_move = poller.poll(61, aws(1))
    assert (first_move["rateSinceTime"], first_move["rateSincePercentage"]) == (stamp(61), 1)
    entry = {}
    for minute in range(62, 61 + 30):
        entry = poller.poll(minute, aws(minute - 60))
    assert entry["progressPercentage"] == 30
    assert entry["estimatedCompletionTime"] == stamp(160)


def test_before_ten_points_were_seen_the_average_since_the_start_stands_in() -> None:
    poller = Poller()
    seen = poller.poll(30, aws(50, started=0))  # first seen half-way, 30 minutes in
    assert seen["estimatedCompletionTime"] == stamp(60)
    assert "rateSinceTime" not in seen  # nothing measured yet


def test_the_window_slides_to_follow_a_change_of_rate() -> None:
    poller = Poller()
    for minute in range(0, 31):
        poller.poll(minute, aws(minute))  # 1% a minute up to 30%
    for minute in range(32, 32 + 2 * 50, 2):
        entry = poller.poll(minute, aws(30 + (minute - 30) // 2))  # then half as fast
    assert entry["progressPercentage"] == 80
    assert entry["rateSincePercentage"] == 80 - eta.WINDOW  # slid along
    # Done at minute 170. The average since the first move (79 points in 129 minutes)
    # would say minute 162; the window has nearly forgotten the faster start.
    estimate = status.parse_time(entry["estimatedCompletionTime"])
    assert estimate is not None
    assert at(170 - 4) <= estimate <= at(170)  # within a tenth of the 40 minutes left


def test_no_write_and_no_new_estimate_between_moves_even_when_overdue() -> None:
    poller = Poller()
    for minute in range(0, 21):
        entry = poller.poll(minute, aws(minute))
    estimate = entry["estimatedCompletionTime"]
    assert estimate == stamp(100)
    writes = poller.writes
    for minute in range(21, 200):  # frozen at 20% far past the estimate
        entry = poller.poll(minute, aws(20))
    assert poller.writes == writes
    assert entry["estimatedCompletionTime"] == estimate  # overdue, not rewritten
    assert poller.status is not None
    assert poller.status["estimatedCompletionTime"] == estimate
    moved = poller.poll(200, aws(21))
    assert moved["estimatedCompletionTime"] != estimate
    assert poller.writes == writes + 1


def test_a_finished_task_has_no_estimate_and_the_resource_drops_its_own() -> None:
    poller = Poller()
    for minute in range(0, 21):
        poller.poll(minute, aws(minute))
    assert poller.status is not None
    assert "estimatedCompletionTime" in poller.status
    done = poller.poll(30, aws(100, "Completed"))
    assert not set(eta.FIELDS) & set(done)
    # null, so the merge patch deletes the stored value; then nothing more to write.
    assert poller.status["estimatedCompletionTime"] is None
    writes = poller.writes
    poller.poll(31, aws(100, "Completed"))
    assert poller.writes == writes


def test_the_estimate_survives_a_restart_through_the_status() -> None:
    poller = Poller()
    for minute in range(0, 21):
        poller.poll(minute, aws(minute))
    assert poller.status is not None
    restarted = Poller()
    restarted.status = {**poller.status}  # only what the API holds
    entry = restarted.poll(22, aws(22))
    assert entry["rateSinceTime"] == poller.poll(22, aws(22))["rateSinceTime"]
    assert entry["estimatedCompletionTime"] == stamp(100)


def test_the_resource_estimate_is_the_latest_once_each_running_task_has_one() -> None:
    def entry(state: str, estimate: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"state": state}
        if estimate:
            found["estimatedCompletionTime"] = estimate
        return found

    assert eta.resource_estimate([]) is None
    assert eta.resource_estimate([entry("Completed"), entry("Pending")]) is None
    running = [entry("InProgress", stamp(50)), entry("InProgress", stamp(90))]
    assert eta.resource_estimate([*running, entry("Completed")]) == stamp(90)
    assert eta.resource_estimate([*running, entry("InProgress")]) is None
