"""Export mode through the service: a request is called only once its status is stored."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any, cast

from amistore_operator.aws import errors
from amistore_operator.core import accounts, export, model
from amistore_operator.observe import metrics
from amistore_operator.reconcile import exporter, resource, service

from tests.unit.reconcile.test_exporter import ALLOW, Clock, FakeCreate, inline
from tests.unit.reconcile.test_service import AMI, NOW, FakeHub

REF = resource.ResourceRef(namespace="team", name="golden")
RAW = {"imageIds": [AMI], "bucket": "amis-prod", "createTasks": True, "pollIntervalSeconds": 60}
ACCOUNT = "111111111111"
MAP = accounts.parse(
    {
        "accounts": {
            ACCOUNT: {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/amistore", "namespaces": ["ops"]},
        },
        "defaultNamespaces": ["team"],
    }
)


class NoTaskHub(FakeHub):
    """AWS lists no store task for any AMI."""

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        await super().view(key, spec, known, awaiting=awaiting)
        return model.ResourceView(tasks=dict.fromkeys(spec.image_ids), error=None)


class FailedHub(FakeHub):
    """AWS lists each AMI's store task Failed, one that started ten seconds after NOW."""

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        await super().view(key, spec, known, awaiting=awaiting)
        started = NOW + datetime.timedelta(seconds=10)
        failed = model.StoreTask(AMI, model.TaskState.FAILED, 0, spec.bucket, start_time=started)
        return model.ResourceView(tasks=dict.fromkeys(spec.image_ids, failed), error=None)


def make(
    hub: FakeHub | None = None,
) -> tuple[service.AmiStoreService, FakeHub, FakeCreate, list[datetime.datetime]]:
    hub, fake, clock = hub or NoTaskHub(), FakeCreate(), [NOW]
    exports = exporter.Exporter(
        permission=ALLOW,
        client_factory=lambda account, region: fake,
        rate=0.1,
        burst=50,
        runner=inline,
        monotonic=Clock(),
    )
    svc = service.AmiStoreService(
        hub=cast(Any, hub),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=60,
        clock=lambda: clock[0],
        account_map=lambda: MAP,
        exports=exports,
    )
    return svc, hub, fake, clock


def snapshot(
    previous: Mapping[str, Any] | None, raw: Mapping[str, Any] = RAW, retry: str | None = None
) -> Any:
    return lambda: resource.Snapshot(raw, previous, 1, retry)


def created(fake: FakeCreate) -> list[str]:
    return [c[1] for c in fake.calls if c[0] == "create"]


def export_ready(outcome: Any) -> tuple[str, str]:
    found = next(c for c in outcome.status["conditions"] if c["type"] == "ExportReady")
    return found["status"], found["reason"]


async def test_a_request_is_called_right_after_its_write_is_confirmed() -> None:
    svc, hub, fake, clock = make()
    first = await svc.poll(REF, snapshot(None))
    assert first.changed
    assert first.status["tasks"][0]["state"] == "Queued"
    assert first.status["tasks"][0]["requestedTime"]
    assert created(fake) == []
    assert hub.refreshed == []  # not before the write is confirmed
    svc.written(REF)
    assert hub.refreshed == [("team/golden", (AMI,))]  # polled at once, whatever the interval
    clock[0] = NOW + datetime.timedelta(seconds=2)
    await svc.poll(REF, snapshot(first.status))
    assert created(fake) == [AMI]
    assert hub.awaiting[-1] == {AMI}  # polled every interval until AWS lists its task


async def test_a_refused_write_is_never_called_for() -> None:
    svc, hub, fake, clock = make()
    await svc.poll(REF, snapshot(None))
    svc.unwritten(REF)
    assert hub.refreshed == []
    clock[0] = NOW + datetime.timedelta(seconds=2)
    again = await svc.poll(REF, snapshot(None))  # the API holds no status yet
    assert created(fake) == []
    assert again.changed  # recorded anew, for the next write
    assert again.status["tasks"][0]["requestedTime"] == "2026-11-27T04:00:02Z"


async def test_an_account_the_map_refuses_gets_account_not_allowed_and_no_aws_call() -> None:
    svc, hub, fake, _ = make()
    outcome = await svc.poll(REF, snapshot(None, {**RAW, "account": ACCOUNT}))
    assert export_ready(outcome) == ("False", "AccountNotAllowed")
    assert fake.calls == []  # not even the DryRun
    assert hub.views == []


async def test_an_oversize_retry_value_is_recorded_as_its_digest() -> None:
    svc, _, _, _ = make()
    value = "2026-11-27T04:00:00Z " + "x" * 300
    first = await svc.poll(REF, snapshot(None, retry=value))
    handled = first.status["lastHandledRetryAt"]
    assert handled == export.retry_token(value)
    assert len(handled) <= export.MAX_RETRY_VALUE
    svc.written(REF)
    again = await svc.poll(REF, snapshot(first.status, retry=value))
    assert again.status["lastHandledRetryAt"] == handled


async def test_a_spec_rejected_later_releases_its_count_in_the_capacity() -> None:
    svc, _, _, _ = make()
    exports = svc._exports
    assert exports is not None
    first = await svc.poll(REF, snapshot(None))
    assert exports.counted(REF.key)
    svc.written(REF)
    bad = {**RAW, "region": "eu-west-100"}  # the CRD accepts it, the operator does not
    rejected = await svc.poll(REF, lambda: resource.Snapshot(bad, first.status, 2))
    assert rejected.status["conditions"][0]["reason"] == "InvalidSpec"
    assert not exports.counted(REF.key)


async def test_a_create_refused_for_good_polls_its_ami_again_at_once() -> None:
    # The refusal holds for the (account, region, bucket, AMI): every AmiStore naming that
    # AMI shows it, so each must poll again within seconds, not at its next interval.
    svc, hub, fake, clock = make()
    fake.refuse[AMI] = errors.AwsError(
        model.PollErrorReason.ACCESS_DENIED, "UnauthorizedOperation", "not authorized"
    )
    first = await svc.poll(REF, snapshot(None))
    svc.written(REF)
    assert hub.refreshed == [("team/golden", (AMI,))]
    clock[0] = NOW + datetime.timedelta(seconds=2)
    refused = await svc.poll(REF, snapshot(first.status))
    assert refused.status["tasks"][0]["state"] == "Failed"
    assert hub.refreshed[1:] == [("team/golden", (AMI,))]  # before its write is confirmed


async def test_a_request_of_an_amistore_that_stops_exporting_stays_in_its_records() -> None:
    # A restarted operator learns the request from exportRecords, whatever the spec says.
    for stopped in ({**RAW, "bucket": "a..b"}, {**RAW, "createTasks": False}):
        svc, _, _, clock = make()
        first = await svc.poll(REF, snapshot(None))
        svc.written(REF)
        clock[0] = NOW + datetime.timedelta(seconds=2)
        moved = resource.Snapshot(stopped, first.status, 2)
        later = await svc.poll(REF, functools.partial(lambda snap: snap, moved))
        requested = first.status["tasks"][0]["requestedTime"]
        assert later.status["exportRecords"] == [
            {
                "amiId": AMI,
                "region": "eu-west-1",
                "bucket": "amis-prod",
                "state": "Queued",
                "requestedTime": requested,
                "expiresTime": later.status["exportRecords"][0]["expiresTime"],
            }
        ]


async def test_a_free_form_retry_value_retries_no_task_started_after_it_was_watched() -> None:
    # The watch delivers the value at NOW; the poll reads it a minute later, when the task
    # that started ten seconds after NOW has failed: the value does not ask to retry it. A
    # value the poll reads first retries what it sees.
    for watched, state in ((True, "Failed"), (False, "Queued")):
        svc, _, _, clock = make(FailedHub())
        if watched:
            svc.observe(REF, 1, resource.Snapshot(RAW, None, 1, "retry-1"))
        clock[0] = NOW + datetime.timedelta(minutes=1)
        outcome = await svc.poll(REF, snapshot(None, retry="retry-1"))
        assert outcome.status["lastHandledRetryAt"] == "retry-1"
        assert outcome.status["tasks"][0]["state"] == state, watched


async def test_a_restart_learns_a_request_whose_spec_was_edited_unwatched() -> None:
    # Another AmiStore's stored status, polled in the own account, shows AMI requested into
    # amis-prod; its spec was then edited to one the operator rejects, and no process saw
    # it. A restarted operator must read that request where the status was polled, or this
    # AmiStore, naming AMI in amis-prod too, would start it a second time.
    other = resource.ResourceRef(namespace="team", name="old")
    requested = NOW - datetime.timedelta(seconds=10)
    stored = {
        "observedGeneration": 1,
        "region": "eu-west-1",
        "account": "000000000000",  # the own identity, by ID (not in the map)
        "tasks": [
            {
                "amiId": AMI,
                "state": "Queued",
                "progressPercentage": 0,
                "bucket": "amis-prod",
                "requestedTime": requested.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ],
    }
    svc, _, fake, clock = make()
    svc.observe(other, 2, resource.Snapshot({**RAW, "bucket": "a..b"}, stored, 2, None))
    first = await svc.poll(REF, snapshot(None))
    svc.written(REF)
    clock[0] = NOW + datetime.timedelta(seconds=2)
    await svc.poll(REF, snapshot(first.status))
    assert created(fake) == []
    assert "requestedTime" not in first.status["tasks"][0]  # no request of its own
