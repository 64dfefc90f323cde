"""One poll of one resource: spec -> poller -> core -> metrics, with a fake poller."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest
from amistore_operator.core import model, status
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, service

AMI = "ami-0123456789abcdef0"
NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
REF = resource.ResourceRef(namespace="team", name="golden")


class FakeHub:
    """Records what the service asks of the poller and answers with a fixed task."""

    def __init__(self) -> None:
        self.views: list[tuple[str, model.AmiStoreSpec, Mapping[str, model.StoreTask]]] = []
        self.woken: list[str] = []
        self.retired: list[tuple[tuple[str, str], str]] = []
        self.forgotten: list[str] = []
        self.awaiting: list[frozenset[str]] = []  # what each view was asked to poll every interval
        self.refreshed: list[tuple[str, tuple[str, ...]]] = []
        self.on_view: Any = None
        self.progress = 40
        self.read_known = False
        self.listing: dict[str, model.StoreTask | None] = {}  # a spec without imageIds
        self.stretched: float | None = None  # the region's budget-stretched interval

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        self.views.append((key, spec, known))
        self.awaiting.append(awaiting)
        if self.on_view is not None:
            on_view, self.on_view = self.on_view, None
            on_view()
        if self.read_known:
            known.get(AMI)
        task = model.StoreTask(
            ami_id=AMI, state=model.TaskState.IN_PROGRESS, progress=self.progress
        )
        if not spec.image_ids:
            return model.ResourceView(tasks=dict(self.listing), error=None)
        return model.ResourceView(tasks={ami: task for ami in spec.image_ids}, error=None)

    def stretched_interval(self, key: str) -> float | None:
        return self.stretched

    def wake(self, key: str) -> None:
        self.woken.append(key)

    def retire(self, where: tuple[str, str], ami: str) -> None:
        self.retired.append((where, ami))

    def refresh(self, key: str, amis: tuple[str, ...]) -> None:
        self.refreshed.append((key, amis))

    def forget(self, key: str) -> None:
        self.forgotten.append(key)

    async def close(self) -> None:
        """Nothing to stop."""


def reader(
    raw_spec: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None = None,
    generation: list[int] | None = None,
) -> Callable[[], resource.Snapshot]:
    """The resource as a daemon reads it: ``generation`` may be bumped by the test."""
    gen = generation if generation is not None else [1]
    return lambda: resource.Snapshot(raw_spec, previous, gen[0])


def make() -> tuple[service.AmiStoreService, FakeHub, metrics.TaskCollector]:
    hub = FakeHub()
    collector = metrics.TaskCollector()
    svc = service.AmiStoreService(
        hub=cast(Any, hub),
        collector=collector,
        default_region="eu-west-1",
        default_interval=60,
        clock=lambda: NOW,
    )
    return svc, hub, collector


async def test_a_poll_renders_status_and_series() -> None:
    svc, hub, collector = make()
    outcome = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert outcome.changed
    assert outcome.status["state"] == "InProgress"
    assert outcome.status["region"] == "eu-west-1"
    assert [key for key, _, _ in hub.views] == ["team/golden"]
    assert hub.views[0][1].poll_interval == 60
    names = {s.labels.get("name") for m in collector.collect() for s in m.samples}
    assert names == {"golden"}


async def test_the_next_poll_starts_from_what_was_written() -> None:
    svc, hub, _ = make()
    first = await svc.poll(REF, reader({"imageIds": [AMI]}))
    # The watched body may not show our write yet: the service remembers it.
    again = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert not again.changed
    assert again.events == ()
    assert again.status == first.status
    assert AMI in hub.views[1][2]


async def test_a_quiet_poll_skips_the_core_and_a_new_view_does_not() -> None:
    svc, hub, _ = make()
    first = await svc.poll(REF, reader({"imageIds": [AMI]}))
    again = await svc.poll(REF, reader({"imageIds": [AMI]}))
    # The same view on top of the status it produced: that very status, unchanged.
    assert again.status is first.status
    assert not again.changed
    hub.progress = 55
    moved = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert moved.changed
    assert moved.status["tasks"][0]["progressPercentage"] == 55
    # A refused write: the next poll starts again from the stored status.
    svc.unwritten(REF)
    stored = await svc.poll(REF, reader({"imageIds": [AMI]}, previous=first.status))
    assert stored.changed
    assert stored.status["tasks"][0]["progressPercentage"] == 55


async def test_known_tasks_are_parsed_only_when_the_poller_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[object] = []
    real = status.known_tasks

    def counted(prior: Any, generation: int) -> dict[str, model.StoreTask]:
        parsed.append(prior)
        return real(prior, generation)

    monkeypatch.setattr(status, "known_tasks", counted)
    previous = {
        "observedGeneration": 1,
        "tasks": [{"amiId": AMI, "state": "Completed", "progressPercentage": 100}],
    }
    svc, hub, _ = make()
    await svc.poll(REF, reader({"imageIds": [AMI]}, previous=previous))
    assert parsed == []  # a quiet poll: the poller never looked
    svc, hub, _ = make()
    hub.read_known = True  # e.g. after a restart: the poller seeds a new AMI entry
    await svc.poll(REF, reader({"imageIds": [AMI]}, previous=previous))
    assert parsed == [previous]
    assert hub.views[0][2][AMI].state == model.TaskState.COMPLETED


async def test_a_status_of_an_earlier_spec_tells_the_poller_no_task() -> None:
    # Written for another bucket, it shows the tasks that bucket matched: a later task
    # into the bucket the spec names now may hide behind them.
    previous = {
        "observedGeneration": 1,
        "tasks": [{"amiId": AMI, "state": "Completed", "progressPercentage": 100}],
    }
    svc, hub, _ = make()
    hub.read_known = True
    await svc.poll(REF, reader({"imageIds": [AMI]}, previous=previous, generation=[2]))
    assert dict(hub.views[0][2]) == {}


async def test_an_invalid_spec_is_rejected_without_polling() -> None:
    svc, hub, collector = make()
    outcome = await svc.poll(REF, reader({"imageIds": ["ami-12"]}, generation=[3]))
    synced = next(c for c in outcome.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "InvalidSpec")
    assert "ami-12" in synced["message"]
    assert hub.views == []
    assert hub.forgotten == ["team/golden"]
    samples = [s for m in collector.collect() for s in m.samples]
    assert {(s.name, s.value) for s in samples} == {
        ("amistore_resource_synced", 0.0),
        ("amistore_task_series_omitted", 0.0),
    }


async def test_a_rejected_spec_keeps_its_own_region_in_the_metrics() -> None:
    svc, _, collector = make()
    await svc.poll(REF, reader({"imageIds": ["ami-12"], "region": "us-east-2"}))
    regions = {s.labels["region"] for m in collector.collect() for s in m.samples}
    assert regions == {"us-east-2"}


def many_tasks(count: int, **changed: model.StoreTask) -> dict[str, model.StoreTask | None]:
    """``count`` finished tasks, one minute apart, the first the oldest."""
    tasks: dict[str, model.StoreTask | None] = {}
    for n in range(count):
        ami_id = f"ami-{n:017x}"
        tasks[ami_id] = model.StoreTask(
            ami_id=ami_id,
            state=model.TaskState.COMPLETED,
            progress=100,
            start_time=NOW - datetime.timedelta(minutes=count - n),
        )
    tasks.update(changed)
    return tasks


async def test_tasks_past_the_cap_keep_their_entries_series_and_single_events() -> None:
    svc, hub, collector = make()
    hub.listing = many_tasks(600)
    first = await svc.poll(REF, reader({}))
    assert len(first.status["tasks"]) == status.MAX_TASK_ENTRIES
    assert first.status["tasksTotal"] == 600
    oldest = f"ami-{0:017x}"
    failed = model.StoreTask(
        ami_id=oldest,
        state=model.TaskState.FAILED,
        progress=3,
        start_time=NOW - datetime.timedelta(minutes=600),
        failure_reason="Access Denied",
    )
    hub.listing = many_tasks(600, **{oldest: failed})
    changed = await svc.poll(REF, reader({}))
    assert [(e.reason, e.message) for e in changed.events] == [
        ("StoreFailed", f"{oldest}: store task failed: Access Denied")
    ]
    state = [s for m in collector.collect() for s in m.samples if s.name == "amistore_task_state"]
    assert len({s.labels["ami_id"] for s in state}) == 600  # every task, not the first 500
    assert any(
        s.labels["ami_id"] == oldest and s.labels["state"] == "Failed" and s.value == 1
        for s in state
    )
    # AWS forgets the oldest tasks (its 31 days): past the cap, they go, silently.
    for n in range(50):
        del hub.listing[f"ami-{n:017x}"]
    forgotten = await svc.poll(REF, reader({}))
    assert forgotten.events == ()
    assert forgotten.status["tasksTotal"] == 550
    state = [s for m in collector.collect() for s in m.samples if s.name == "amistore_task_state"]
    assert len({s.labels["ami_id"] for s in state}) == 550


async def waiting_on_a_rejected_spec(
    svc: service.AmiStoreService,
) -> tuple[asyncio.Future[status.Outcome], Callable[[], None]]:
    """A poll waiting after its spec (generation 3) was rejected; and the edit that fixes it."""
    generation = [3]
    spec: list[dict[str, Any]] = [{"imageIds": ["ami-12"]}]

    def read() -> resource.Snapshot:
        return resource.Snapshot(spec[0], None, generation[0])

    def edit() -> None:
        generation[0], spec[0] = 4, {"imageIds": [AMI]}
        svc.observe(REF, 4)

    await svc.poll(REF, read)
    waiting = asyncio.ensure_future(svc.poll(REF, read))
    for _ in range(20):
        await asyncio.sleep(0)
    return waiting, edit


async def test_a_rejected_spec_waits_for_an_edit_before_the_next_poll() -> None:
    svc, hub, _ = make()
    waiting, edit = await waiting_on_a_rejected_spec(svc)
    assert not waiting.done()  # reported already: no busy loop on an unchanged bad spec
    edit()
    outcome = await asyncio.wait_for(waiting, 5)
    assert outcome.status["state"] == "InProgress"
    assert outcome.status["observedGeneration"] == 4
    assert [key for key, _, _ in hub.views] == ["team/golden"]


async def test_a_poll_cancelled_as_an_edit_arrives_stops_and_polls_nothing() -> None:
    # Python 3.11's wait_for returns a future's result when the cancel comes in the same
    # loop turn that the future completes (CPython gh-86296): the poll went on after kopf
    # (or a crash) cancelled it. The cancel must win.
    svc, hub, _ = make()
    waiting, edit = await waiting_on_a_rejected_spec(svc)
    edit()  # the edit arrives ...
    waiting.cancel()  # ... and the cancel, in the same loop turn
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert hub.views == []


async def test_a_refused_rejection_is_computed_again_without_waiting() -> None:
    svc, _, _ = make()
    read = reader({"imageIds": ["ami-12"]})
    first = await svc.poll(REF, read)
    svc.unwritten(REF)
    again = await asyncio.wait_for(svc.poll(REF, read), 5)
    assert again.changed
    assert again.status == first.status


async def test_a_spec_edited_during_the_wait_is_polled_again_at_once() -> None:
    svc, hub, _ = make()
    generation = [1]
    spec = [{"imageIds": [AMI]}]
    other = "ami-0fedcba9876543210"

    def edit() -> None:
        generation[0], spec[0] = 2, {"imageIds": [AMI, other]}

    hub.on_view = edit
    outcome = await svc.poll(REF, lambda: resource.Snapshot(spec[0], None, generation[0]))
    assert len(hub.views) == 2
    assert hub.views[1][1].image_ids == (AMI, other)  # the edited spec, not the old one
    assert outcome.status["observedGeneration"] == 2


def test_a_new_generation_wakes_the_poller_and_forget_drops_everything() -> None:
    svc, hub, collector = make()
    svc.observe(REF, 1)
    assert hub.woken == []  # never polled yet: its first poll is due anyway
    collector.set_resource("team", "golden", "eu-west-1", [], synced=True)
    svc.forget(REF)
    assert hub.forgotten == ["team/golden"]
    assert [s for m in collector.collect() for s in m.samples] == []


async def test_a_watch_event_with_a_new_generation_wakes_the_poller() -> None:
    svc, hub, _ = make()
    await svc.poll(REF, reader({"imageIds": [AMI]}))
    svc.observe(REF, 1)  # our own status write comes back as an event: same generation
    assert hub.woken == []
    svc.observe(REF, 2)
    assert hub.woken == ["team/golden"]


async def test_a_refused_write_past_the_cap_posts_its_event_with_the_next_write() -> None:
    svc, hub, _ = make()
    hub.listing = many_tasks(600)
    first = await svc.poll(REF, reader({}))
    oldest = f"ami-{0:017x}"
    done = hub.listing[oldest]
    assert done is not None
    hub.listing = many_tasks(600, **{oldest: dataclasses.replace(done, start_time=NOW)})
    refused = await svc.poll(REF, reader({}))
    assert [e.reason for e in refused.events] == ["StoreCompleted"]  # a new task, done
    svc.unwritten(REF)
    # The API still holds the first status (read back as an equal copy): the next poll
    # computes the same change and the same Event from it, with what it remembers.
    again = await svc.poll(REF, reader({}, previous=copy.deepcopy(first.status)))
    assert again.changed
    assert again.events == refused.events


def make_clocked(
    start: datetime.datetime = NOW, **options: Any
) -> tuple[service.AmiStoreService, FakeHub, list[datetime.datetime]]:
    """A service whose clock the test moves: ``clock[0]`` is now."""
    hub = FakeHub()
    clock = [start]
    svc = service.AmiStoreService(
        hub=cast(Any, hub),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=60,
        clock=lambda: clock[0],
        **options,
    )
    return svc, hub, clock


def stalled(outcome: status.Outcome) -> str:
    found: str = next(c["status"] for c in outcome.status["conditions"] if c["type"] == "Stalled")
    return found


async def test_time_alone_stalls_a_task_once_through_the_quiet_poll_shortcut() -> None:
    svc, hub, clock = make_clocked(default_stall_after=600)
    first = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert stalled(first) == "False"
    prior = first.status
    for minute in range(1, 10):  # the same view every interval: the core is skipped
        clock[0] = NOW + datetime.timedelta(minutes=minute)
        quiet = await svc.poll(REF, reader({"imageIds": [AMI]}))
        assert quiet.status is prior
        assert not quiet.changed
    clock[0] = NOW + datetime.timedelta(minutes=10)  # the stall deadline: the core runs again
    flipped = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert flipped.changed
    assert stalled(flipped) == "True"
    assert [e.reason for e in flipped.events] == ["StoreStalled"]
    for minute in range(11, 30):  # exactly once: nothing after it
        clock[0] = NOW + datetime.timedelta(minutes=minute)
        after = await svc.poll(REF, reader({"imageIds": [AMI]}))
        assert not after.changed
        assert after.events == ()
    hub.progress = 41
    resumed = await svc.poll(REF, reader({"imageIds": [AMI]}))
    assert stalled(resumed) == "False"
    assert [e.reason for e in resumed.events] == ["StoreResumed"]


async def test_spec_stall_after_beats_the_default_and_a_stretched_region_raises_it() -> None:
    svc, hub, clock = make_clocked(default_stall_after=600)
    spec = {"imageIds": [AMI], "stallAfterSeconds": 900}
    await svc.poll(REF, reader(spec))
    clock[0] = NOW + datetime.timedelta(seconds=600)
    assert stalled(await svc.poll(REF, reader(spec))) == "False"
    # The region's budget stretches its cycles to 700 s (read as the steady 800 s): 2 x 800 s.
    hub.stretched = 700.0
    clock[0] = NOW + datetime.timedelta(seconds=900)
    assert stalled(await svc.poll(REF, reader(spec))) == "False"
    clock[0] = NOW + datetime.timedelta(seconds=1599)
    assert stalled(await svc.poll(REF, reader(spec))) == "False"
    clock[0] = NOW + datetime.timedelta(seconds=1600)
    outcome = await svc.poll(REF, reader(spec))
    assert stalled(outcome) == "True"
    assert "26m40s" in next(
        c["message"] for c in outcome.status["conditions"] if c["type"] == "Stalled"
    )
