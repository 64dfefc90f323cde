"""The watch loop of ``kubectl amistore watch``, with the cluster replaced by scripted events."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from amistore_operator.plugin import cluster, errors, watch
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


class FakeCluster:
    """get_amistore returns ``initial``; each watch call plays the next scripted stream."""

    def __init__(self, initial: list[dict[str, Any]], streams: list[list[Any]]) -> None:
        self.initial, self.streams = initial, streams
        self.watched_from: list[tuple[str, int]] = []

    def get(self, api: Any, namespace: str, name: str) -> tuple[dict[str, Any], str]:
        obj = self.initial.pop(0)
        return obj, obj["metadata"]["resourceVersion"]

    def watch(self, api: Any, ns: str, name: str, rv: str, seconds: int) -> Iterator[Any]:
        self.watched_from.append((rv, seconds))
        for item in self.streams.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


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
    clock = iter([0.0, 0.0, 7.5, 10.0])
    fake.initial = [version(1)]
    fake.streams = [[("MODIFIED", version(2))]]
    judged, last = watch.follow(
        API, "default", "x", Recorder(), 10.0, monotonic=lambda: next(clock)
    )
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
