"""The benchmark's pure measurements: freshness lags, call counts, throttled share, percentiles."""

from typing import Any

from bench import observe
from tests.sandbox.ec2sim import control


def _call(t: float, action: str = observe.DESCRIBE, error: str | None = None) -> control.CallInfo:
    return {
        "seq": 0,
        "time": t,
        "sim_time": t,
        "action": action,
        "params": {},
        "status": 400 if error else 200,
        "error_code": error,
    }


def test_a_status_settles_every_change_up_to_its_progress() -> None:
    waiting = [observe.Change(11, 100.0), observe.Change(12, 130.0), observe.Change(13, 150.0)]

    lags, rest = observe.settle(waiting, progress=12, now=160.0)

    assert lags == [60.0, 30.0]
    assert rest == [observe.Change(13, 150.0)]


def test_an_older_progress_settles_nothing() -> None:
    waiting = [observe.Change(11, 100.0)]

    assert observe.settle(waiting, progress=10, now=160.0) == ([], waiting)


def test_the_watcher_times_two_changes_of_one_task_seen_in_one_event() -> None:
    watcher = observe.StatusWatcher("http://unused")
    watcher.expect("ams-1", 11, 100.0)
    watcher.expect("ams-1", 12, 110.0)
    watcher.expect("ams-2", 11, 105.0)
    assert watcher.pending == 3

    event: dict[str, Any] = {
        "type": "MODIFIED",
        "object": {
            "metadata": {"name": "ams-1", "resourceVersion": "7"},
            "status": {"lastPollTime": "x", "tasks": [{"progressPercentage": 12}]},
        },
    }
    watcher._event(event)

    assert len(watcher.lags) == 2
    assert watcher.lags[0] - watcher.lags[1] == 10.0
    assert watcher.pending == 1
    assert list(watcher.expected) == ["ams-2"]


def test_describe_calls_counts_the_window_and_its_throttled_share() -> None:
    calls = [
        _call(9.9),
        _call(10.0),
        _call(11.0, error="RequestLimitExceeded"),
        _call(12.0, action="DescribeImages"),
        _call(13.0, error="RequestLimitExceeded"),
        _call(14.0),
        _call(20.0),
    ]

    aws = observe.describe_calls(calls, start=10.0, end=20.0)

    assert (aws.calls, aws.throttled) == (4, 2)
    assert aws.throttled_percent == 50.0


def test_the_throttled_share_of_no_call_is_unknown_and_rounds_to_a_tenth() -> None:
    assert observe.AwsCalls(0, 0).throttled_percent is None
    assert observe.AwsCalls(10, 0).throttled_percent == 0.0
    assert observe.AwsCalls(1000, 949).throttled_percent == 94.9
    assert observe.AwsCalls(3, 2).throttled_percent == 66.7


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]

    assert observe.percentile(values, 0.5) == 50.0
    assert observe.percentile(values, 0.95) == 95.0
    assert observe.percentile(values, 1.0) == 100.0
    assert observe.percentile([3.0], 0.5) == 3.0
    assert observe.percentile([], 0.5) is None


def test_status_writes_split_changed_unchanged_and_refused() -> None:
    def patch(t: float, name: str, status: int = 200) -> dict[str, Any]:
        path = f"/apis/amistore.io/v1alpha1/namespaces/bench/amistores/{name}/status"
        return {"time": t, "method": "PATCH", "path": path, "status": status, "user_agent": "op"}

    entries = [
        patch(1.0, "a"),
        patch(2.0, "a", 500),  # the API server stored nothing
        patch(2.5, "b"),
        patch(9.0, "a"),  # outside the window
        {
            "time": 3.0,
            "method": "POST",
            "path": "/api/v1/events",
            "status": 201,
            "user_agent": "op",
        },
    ]
    writes = observe.status_writes(entries, start=0.0, end=5.0, changed_names={"a"})
    assert (writes.changed, writes.unchanged, writes.refused, writes.other_writes) == (1, 1, 1, 1)
