"""One poll of one resource: spec -> poller -> core -> metrics, with a fake poller."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, cast

from amistore_operator import metrics, model, service

AMI = "ami-0123456789abcdef0"
NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
REF = service.ResourceRef(namespace="team", name="golden")


class FakeHub:
    """Records what the service asks of the poller and answers with a fixed task."""

    def __init__(self) -> None:
        self.views: list[tuple[str, model.AmiStoreSpec, Mapping[str, model.StoreTask]]] = []
        self.woken: list[str] = []
        self.forgotten: list[str] = []
        self.on_view: Any = None

    async def view(
        self, key: str, spec: model.AmiStoreSpec, known: Mapping[str, model.StoreTask]
    ) -> model.ResourceView:
        self.views.append((key, spec, known))
        if self.on_view is not None:
            self.on_view()
        task = model.StoreTask(ami_id=AMI, state=model.TaskState.IN_PROGRESS, progress=40)
        return model.ResourceView(
            tasks={ami: task for ami in spec.image_ids}, error=None, fetched_at=NOW
        )

    def wake(self, key: str) -> None:
        self.woken.append(key)

    def forget(self, key: str) -> None:
        self.forgotten.append(key)

    async def close(self) -> None:
        """Nothing to stop."""


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
    outcome = await svc.poll(
        REF,
        raw_spec={"imageIds": [AMI]},
        previous=None,
        generation=1,
        current_generation=lambda: 1,
    )
    assert outcome.changed
    assert outcome.status["state"] == "InProgress"
    assert outcome.status["region"] == "eu-west-1"
    assert [key for key, _, _ in hub.views] == ["team/golden"]
    assert hub.views[0][1].poll_interval == 60
    names = {s.labels.get("name") for m in collector.collect() for s in m.samples}
    assert names == {"golden"}


async def test_the_next_poll_starts_from_what_was_written() -> None:
    svc, hub, _ = make()
    first = await svc.poll(
        REF,
        raw_spec={"imageIds": [AMI]},
        previous=None,
        generation=1,
        current_generation=lambda: 1,
    )
    # The watched body may not show our write yet: the service remembers it.
    again = await svc.poll(
        REF,
        raw_spec={"imageIds": [AMI]},
        previous=None,
        generation=1,
        current_generation=lambda: 1,
    )
    assert not again.changed
    assert again.events == ()
    assert again.status == first.status
    assert AMI in hub.views[1][2]


async def test_an_invalid_spec_is_rejected_without_polling() -> None:
    svc, hub, collector = make()
    outcome = await svc.poll(
        REF,
        raw_spec={"imageIds": ["ami-12"]},
        previous=None,
        generation=3,
        current_generation=lambda: 3,
    )
    synced = next(c for c in outcome.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "InvalidSpec")
    assert "ami-12" in synced["message"]
    assert hub.views == []
    assert hub.forgotten == ["team/golden"]
    samples = [s for m in collector.collect() for s in m.samples]
    assert [(s.name, s.value) for s in samples] == [("amistore_resource_synced", 0.0)]


async def test_a_spec_edited_during_the_wait_is_polled_again_at_once() -> None:
    svc, hub, _ = make()
    generation = [1]
    hub.on_view = lambda: generation.__setitem__(0, 2)
    outcome = await svc.poll(
        REF,
        raw_spec={"imageIds": [AMI]},
        previous=None,
        generation=1,
        current_generation=lambda: generation[0],
    )
    assert len(hub.views) == 2
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
    await svc.poll(
        REF,
        raw_spec={"imageIds": [AMI]},
        previous=None,
        generation=1,
        current_generation=lambda: 1,
    )
    svc.observe(REF, 1)  # our own status write comes back as an event: same generation
    assert hub.woken == []
    svc.observe(REF, 2)
    assert hub.woken == ["team/golden"]
