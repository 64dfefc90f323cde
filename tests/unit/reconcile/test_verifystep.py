"""verifyObjects through the service: one HeadObject per Completed task, never past the gate."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, cast

from amistore_operator.aws import errors
from amistore_operator.core import accounts, model, verify
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, service

from tests.unit.reconcile.test_exporter import inline
from tests.unit.reconcile.test_service import AMI, NOW, REF, FakeHub

RAW = {"imageIds": [AMI], "bucket": "amis-prod", "verifyObjects": True}
FOUND = verify.Head(size=1024, storage_class="GLACIER", etag='"e1"')


class CompletedHub(FakeHub):
    """AWS lists the AMI's store task Completed into amis-prod."""

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        await super().view(key, spec, known, awaiting=awaiting)
        done = model.StoreTask(
            AMI, model.TaskState.COMPLETED, 100, "amis-prod", f"{AMI}.bin", start_time=NOW
        )
        return model.ResourceView(tasks={AMI: done}, error=None)


class FakeObjects:
    """HeadObject answers, one per call, and the calls made."""

    def __init__(self, *answers: verify.Head | errors.AwsError | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, str, str]] = []  # account, region, bucket, key
        self.account = ""

    def factory(self, account: str, region: str) -> FakeObjects:
        self.account = account
        return self

    def head(self, bucket: str, key: str) -> verify.Head | None:
        self.calls.append((self.account, "", bucket, key))
        answer = self.answers.pop(0)
        if isinstance(answer, errors.AwsError):
            raise answer
        return answer


def make(
    fake: FakeObjects,
    account_map: accounts.AccountMap = accounts.NO_MAP,
    hub: FakeHub | None = None,
) -> tuple[service.AmiStoreService, list[datetime.datetime]]:
    clock = [NOW]
    svc = service.AmiStoreService(
        hub=cast(Any, hub or CompletedHub()),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=60,
        clock=lambda: clock[0],
        account_map=lambda: account_map,
        objects=fake.factory,
        runner=inline,
    )
    return svc, clock


def snapshot(previous: Mapping[str, Any] | None, raw: Mapping[str, Any] = RAW) -> Any:
    return lambda: resource.Snapshot(raw, previous, 1, None)


async def test_a_completed_task_s_object_is_looked_at_once() -> None:
    fake = FakeObjects(FOUND)
    svc, clock = make(fake)
    first = await svc.poll(REF, snapshot(None))
    task = first.status["tasks"][0]
    assert task["objectSizeBytes"] == 1024
    assert task["objectStorageClass"] == "GLACIER"
    assert task["verifiedTime"] == "2026-11-27T04:00:00Z"
    assert [e.reason for e in first.events].count("ExportVerified") == 1
    for minutes in (1, 2, 30):  # steady: no more calls, no write, no Event
        clock[0] = NOW + datetime.timedelta(minutes=minutes)
        again = await svc.poll(REF, snapshot(first.status))
        assert not again.changed
        assert not again.events
    assert fake.calls == [("", "", "amis-prod", f"{AMI}.bin")]


async def test_without_verify_objects_no_call_is_made() -> None:
    fake = FakeObjects()
    svc, _ = make(fake)
    raw = {k: v for k, v in RAW.items() if k != "verifyObjects"}
    outcome = await svc.poll(REF, snapshot(None, raw))
    assert "verifiedTime" not in outcome.status["tasks"][0]
    assert fake.calls == []


async def test_cleanup_verifies_without_verify_objects() -> None:
    fake = FakeObjects(FOUND)
    svc, _ = make(fake)
    raw = {"imageIds": [AMI], "bucket": "amis-prod", "afterExport": "Deregister"}
    outcome = await svc.poll(REF, snapshot(None, raw))
    assert outcome.status["tasks"][0]["verifiedTime"]
    assert fake.calls == [("", "", "amis-prod", f"{AMI}.bin")]


async def test_a_missing_object_warns_once_and_is_asked_for_again_ten_intervals_later() -> None:
    denied = errors.AwsError(model.PollErrorReason.ACCESS_DENIED, "403", "Forbidden")
    fake = FakeObjects(None, denied, FOUND)
    svc, clock = make(fake)
    first = await svc.poll(REF, snapshot(None))
    assert "verifiedTime" not in first.status["tasks"][0]
    warned = [e for e in first.events if e.reason == "ObjectUnverified"]
    assert [e.type for e in warned] == ["Warning"]
    assert "not found" in warned[0].message
    clock[0] = NOW + datetime.timedelta(minutes=9)
    quiet = await svc.poll(REF, snapshot(first.status))
    assert len(fake.calls) == 1
    assert not quiet.events
    clock[0] = NOW + datetime.timedelta(minutes=10)
    second = await svc.poll(REF, snapshot(first.status))
    assert "could not be checked: 403" in second.events[0].message
    clock[0] = NOW + datetime.timedelta(minutes=20)
    third = await svc.poll(REF, snapshot(second.status))
    assert third.status["tasks"][0]["objectETag"] == '"e1"'
    assert len(fake.calls) == 3


async def test_a_namespace_the_account_map_refuses_makes_no_call() -> None:
    other = "111111111111"
    mapped = accounts.parse(
        {"accounts": {other: {"roleArn": f"arn:aws:iam::{other}:role/x", "namespaces": ["ops"]}}}
    )
    fake = FakeObjects(FOUND)
    svc, _ = make(fake, mapped)
    await svc.poll(REF, snapshot(None, {**RAW, "account": other}))
    assert fake.calls == []


class ListingHub(FakeHub):
    """A whole-bucket listing: 1,000 Completed tasks, past the status's 500 entries."""

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        await super().view(key, spec, known, awaiting=awaiting)
        tasks: dict[str, model.StoreTask | None] = {}
        for n in range(1000):
            ami = f"ami-{n:017x}"
            started = NOW - datetime.timedelta(seconds=n)
            tasks[ami] = model.StoreTask(
                ami, model.TaskState.COMPLETED, 100, "amis-prod", f"{ami}.bin", start_time=started
            )
        return model.ResourceView(tasks=tasks, error=None)


async def test_past_the_500_entry_cap_each_object_is_looked_at_once() -> None:
    fake = FakeObjects(*[FOUND] * 1000)
    svc, clock = make(fake, hub=ListingHub())
    raw = {"bucket": "amis-prod", "verifyObjects": True}
    previous: Mapping[str, Any] | None = None
    for poll in range(25):  # 50 a poll: 20 polls verify all; the rest must ask for none
        clock[0] = NOW + datetime.timedelta(minutes=poll)
        outcome = await svc.poll(REF, snapshot(previous, raw))
        previous = outcome.status
    assert len(fake.calls) == 1000
    assert len({call[3] for call in fake.calls}) == 1000
    assert previous is not None
    assert all(e.get("verifiedTime") for e in previous["tasks"])  # the 500 the status holds


async def test_a_thousand_missing_objects_warn_in_a_few_events_not_a_thousand() -> None:
    fake = FakeObjects(*[None] * 1000)
    svc, _ = make(fake, hub=ListingHub())
    outcome = await svc.poll(REF, snapshot(None, {"bucket": "amis-prod", "verifyObjects": True}))
    warned = [e for e in outcome.events if e.reason == "ObjectUnverified"]
    assert len(fake.calls) == 50
    assert len(warned) <= 21
    assert warned[-1].message.startswith("and 30 more task changes (30 objects not found)")
