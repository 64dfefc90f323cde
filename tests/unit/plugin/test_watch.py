"""The watch loop of ``kubectl amistore watch``, with the cluster replaced by scripted events."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from amistore_operator.plugin import cluster, errors, kinds, restorerender, watch
from amistore_operator.plugin.verdict import Verdict

NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
API = cluster.Cluster(api=None, namespace="default", host="http://cluster")


def version(rv: int, generation: int = 1, observed: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "x", "generation": generation, "resourceVersion": str(rv)},
        "status": {"observedGeneration": observed, "state": "InProgress", **status},
    }


DONE = {"conditions": [{"type": "Complete", "status": "True"}], "state": "Completed"}


class Recorder:
    def __init__(self) -> None:
        self.shown: list[Mapping[str, Any]] = []

    def show(self, obj: Mapping[str, Any]) -> None:
        self.shown.append(obj)


class Clock:
    """Virtual time: ``sleep`` moves it on and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class FakeCluster:
    """get_amistore returns ``initial``; each watch call plays the next scripted stream.

    A float in a stream is time passing on ``clock`` while the request is open.
    """

    def __init__(self, initial: list[dict[str, Any]], streams: list[list[Any]]) -> None:
        self.initial, self.streams = initial, streams
        self.watched_from: list[tuple[str, int]] = []
        self.clock = Clock()

    def get(self, api: Any, namespace: str, name: str) -> tuple[dict[str, Any], str]:
        obj = self.initial.pop(0)
        return obj, obj["metadata"]["resourceVersion"]

    def watch(self, api: Any, ns: str, name: str, rv: str, seconds: int) -> Iterator[Any]:
        self.watched_from.append((rv, seconds))
        for item in self.streams.pop(0):
            if isinstance(item, Exception):
                raise item
            if isinstance(item, float):
                self.clock.now += item
                continue
            yield item

    def follow(self, timeout: float | None) -> tuple[Verdict | None, Mapping[str, Any]]:
        """``watch.follow`` on this cluster's virtual clock."""
        clock = self.clock
        return watch.follow(
            API, "default", "x", Recorder(), timeout, monotonic=clock.monotonic, sleep=clock.sleep
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    scripted = FakeCluster([], [])
    monkeypatch.setattr(cluster, "get_amistore", scripted.get)
    monkeypatch.setattr(cluster, "watch_amistore", scripted.watch)
    return scripted


def test_a_stale_complete_waits_for_the_current_generation(fake: FakeCluster) -> None:
    fake.initial = [version(5, generation=2, observed=1, **DONE)]
    fake.streams = [[("MODIFIED", version(6, generation=2, observed=2, **DONE))]]
    shown = Recorder()
    judged, last = watch.follow(API, "default", "x", shown, timeout=None)
    assert judged is Verdict.COMPLETE
    assert last["metadata"]["resourceVersion"] == "6"
    assert fake.watched_from == [("5", watch.WINDOW)]
    assert len(shown.shown) == 2


def test_streams_resume_from_the_last_version_and_410_relists(fake: FakeCluster) -> None:
    fake.initial = [version(1), version(9)]
    fake.streams = [
        [("MODIFIED", version(3, progressPercentage=10))],  # the stream ends: resume from 3
        [errors.WatchExpiredError("gone")],
        [("MODIFIED", version(10, tasks=[{"amiId": "ami-1", "state": "Failed"}]))],
    ]
    judged, _ = watch.follow(API, "default", "x", Recorder(), timeout=None)
    assert judged is Verdict.FAILED
    assert [rv for rv, _ in fake.watched_from] == ["1", "3", "9"]


def test_timeout_returns_none_with_the_last_version(fake: FakeCluster) -> None:
    fake.initial = [version(1)]
    fake.streams = [[7.5, ("MODIFIED", version(2)), 2.5]]
    judged, last = fake.follow(timeout=10.0)
    assert judged is None
    assert last["metadata"]["resourceVersion"] == "2"
    assert fake.watched_from == [("1", 10)]


def test_deletion_is_an_error(fake: FakeCluster) -> None:
    fake.initial = [version(1)]
    fake.streams = [[("DELETED", version(2))]]
    with pytest.raises(errors.PluginError, match="deleted while watching"):
        watch.follow(API, "default", "x", Recorder(), timeout=None)


def test_plain_lines_print_only_what_changed() -> None:
    out = io.StringIO()
    lines = watch.PlainLines(out, lambda: NOW)
    task = {"amiId": "ami-1", "state": "InProgress", "progressPercentage": 10}
    lines.show(version(1, progressPercentage=10, tasks=[task]))
    lines.show(version(2, progressPercentage=10, tasks=[task]))  # e.g. only metadata changed
    lines.show(version(3, progressPercentage=20, tasks=[{**task, "progressPercentage": 20}]))
    assert out.getvalue().splitlines() == [
        "04:00:00 x InProgress 10% 0/0 completed",
        "04:00:00   ami-1 InProgress 10%",
        "04:00:00 x InProgress 20% 0/0 completed",
        "04:00:00   ami-1 InProgress 20%",
    ]


AT_ONCE = [0.001]  # a watch the server ends after a millisecond, with no event


def test_watches_that_end_at_once_back_off_as_client_go_does(fake: FakeCluster) -> None:
    """The issue's hot loop (76,000 requests in 90 s): waits of 0.8 s doubling to 30 s."""
    fake.initial = [version(1)]
    fake.streams = [list(AT_ONCE) for _ in range(200_000)]
    judged, last = fake.follow(timeout=90)
    assert judged is None
    assert last["metadata"]["resourceVersion"] == "1"
    requests = len(fake.watched_from)
    assert requests < 15, f"{requests} watch requests in 90 virtual seconds"
    waits = fake.clock.waits
    assert waits[:-1] == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30])
    assert 0 < waits[-1] <= 30
    assert fake.clock.now == pytest.approx(90), "the last wait ends at the deadline, not past it"


def test_a_watch_that_delivers_an_event_resets_the_back_off(fake: FakeCluster) -> None:
    fake.initial = [version(1)]
    fake.streams = [
        list(AT_ONCE),
        list(AT_ONCE),
        [0.5, ("MODIFIED", version(2, progressPercentage=10))],
        list(AT_ONCE),
        [("MODIFIED", version(3, 1, 1, **DONE))],
    ]
    judged, _ = fake.follow(timeout=None)
    assert judged is Verdict.COMPLETE
    assert fake.clock.waits == pytest.approx([0.8, 1.6, 0.8])
    assert [rv for rv, _ in fake.watched_from] == ["1", "1", "1", "2", "2"]


def test_a_quiet_window_is_followed_by_the_next_at_once(fake: FakeCluster) -> None:
    """A watch that lasts its window with no change is the normal case, not a refusal."""
    fake.initial = [version(1)]
    fake.streams = [[float(watch.WINDOW)], [60.0], [("MODIFIED", version(2, 1, 1, **DONE))]]
    judged, _ = fake.follow(timeout=None)
    assert judged is Verdict.COMPLETE
    assert fake.clock.waits == []
    assert len(fake.watched_from) == 3


def test_a_410_at_once_backs_off_too(fake: FakeCluster) -> None:
    fake.initial = [version(1), version(1), version(1), version(1, 1, 1, **DONE)]
    fake.streams = [[errors.WatchExpiredError("gone")] for _ in range(3)]
    judged, _ = fake.follow(timeout=None)
    assert judged is Verdict.COMPLETE  # the relist shows it, without a wait first
    assert fake.clock.waits == pytest.approx([0.8, 1.6])


def restore_version(rv: int, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "back", "generation": 1, "resourceVersion": str(rv)},
        "status": {"observedGeneration": 1, **status},
    }


def test_a_restore_is_followed_through_its_own_calls_to_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted = FakeCluster(
        [restore_version(1, phase="Pending")],
        [
            [
                ("MODIFIED", restore_version(2, phase="Restoring", progressPercentage=40)),
                ("MODIFIED", restore_version(3, phase="Available", imageId="ami-1")),
            ]
        ],
    )
    monkeypatch.setattr(cluster, "get_amirestore", scripted.get)
    monkeypatch.setattr(cluster, "watch_amirestore", scripted.watch)
    monkeypatch.setattr(cluster, "get_amistore", None)  # never the AmiStore's calls
    shown = Recorder()
    judged, last = watch.follow(API, "default", "back", shown, None, kind=kinds.AMIRESTORE)
    assert judged is Verdict.COMPLETE
    assert last["status"]["imageId"] == "ami-1"
    assert [obj["status"]["phase"] for obj in shown.shown] == ["Pending", "Restoring", "Available"]


def test_a_deleted_restore_is_named_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = FakeCluster([restore_version(1, phase="Pending")], [[("DELETED", {})]])
    monkeypatch.setattr(cluster, "get_amirestore", scripted.get)
    monkeypatch.setattr(cluster, "watch_amirestore", scripted.watch)
    with pytest.raises(errors.PluginError, match='amirestore "back" was deleted while watching'):
        watch.follow(API, "default", "back", Recorder(), None, kind=kinds.AMIRESTORE)


def test_plain_lines_of_a_restore() -> None:
    out = io.StringIO()
    lines = watch.PlainLines(out, lambda: NOW, restorerender.plain_lines)
    lines.show(restore_version(1, phase="Restoring", progressPercentage=40, imageId="ami-1"))
    lines.show(restore_version(2, phase="Restoring", progressPercentage=40, imageId="ami-1"))
    lines.show(restore_version(3, phase="Failed", progressPercentage=40, failureReason="boom"))
    assert out.getvalue().splitlines() == [
        "04:00:00 back Restoring 40% ami-1",
        "04:00:00 back Failed 40%",
        "04:00:00   failed: boom",
    ]
