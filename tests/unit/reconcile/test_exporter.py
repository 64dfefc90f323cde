"""The exporter carries out the export decision: calls, preflight, budget, with fakes."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from amistore_operator.aws import errors
from amistore_operator.core import export, model
from amistore_operator.reconcile import exporter

A = "ami-0000000a"
B = "ami-0000000b"
C = "ami-0000000c"
KEY = "team-a/store"
BUCKET = "amis-prod"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)
ALLOW = export.Permission(allow_create=True, allowed_buckets=("amis-*",))
SPEC = model.AmiStoreSpec(
    image_ids=(A, B),
    bucket=BUCKET,
    task_states=(),
    region="eu-west-1",
    poll_interval=2,
    create_tasks=True,
    s3_object_tags=(("team", "infra"),),
)
NOTHING = model.ResourceView(tasks={A: None, B: None}, error=None)
# How long a request lives at SPEC's interval (2 s).
GRACE = export.grace(export.DEFAULT_GRACE, export.DEFAULT_CALL_WINDOW, SPEC.poll_interval)
UNAUTHORIZED = errors.AwsError(
    model.PollErrorReason.ACCESS_DENIED, "UnauthorizedOperation", "not authorized"
)


class FakeCreate:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.refuse: dict[str, errors.AwsError] = {}  # create, per AMI
        self.denied: errors.AwsError | None = None  # every DryRun
        self.probe_refuse: dict[str, errors.AwsError] = {}  # DryRun, per AMI

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str:
        self.calls.append(("create", ami_id, bucket, *(f"{k}={v}" for k, v in tags)))
        if ami_id in self.refuse:
            raise self.refuse[ami_id]
        return f"{ami_id}.bin"

    def preflight(self, ami_id: str, bucket: str) -> None:
        self.calls.append(("preflight", ami_id, bucket))
        if self.denied is not None:
            raise self.denied
        if ami_id in self.probe_refuse:
            raise self.probe_refuse[ami_id]


async def inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    fake: FakeCreate, permission: export.Permission = ALLOW, clock: Clock | None = None
) -> exporter.Exporter:
    return exporter.Exporter(
        permission=permission,
        client_factory=lambda account, region: fake,
        rate=0.1,
        burst=50,
        runner=inline,
        monotonic=clock or Clock(),
    )


def step(
    ex: exporter.Exporter,
    previous: dict[str, Any],
    now: datetime.datetime,
    view: model.ResourceView = NOTHING,
    namespace: str = "team-a",
    key: str = KEY,
    spec: model.AmiStoreSpec = SPEC,
    **options: Any,
) -> exporter.Step:
    """One poll's export step; its status is not stored yet (see ``stored``)."""
    result = asyncio.run(ex.step(key, namespace, spec, view, previous, now, **options))
    assert result is not None
    return result


def stored(
    ex: exporter.Exporter,
    previous: dict[str, Any],
    now: datetime.datetime,
    *,
    key: str = KEY,
    **options: Any,
) -> exporter.Step:
    """One poll's export step whose status the API then stored."""
    result = step(ex, previous, now, key=key, **options)
    ex.written(key)
    return result


def creates(fake: FakeCreate) -> list[tuple[str, ...]]:
    return [c for c in fake.calls if c[0] == "create"]


def created(fake: FakeCreate) -> list[str]:
    return [c[1] for c in creates(fake)]


def test_record_first_then_one_create_per_ami() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = stored(ex, {}, T0)
    assert creates(fake) == []  # the status is the record, written before any create
    assert fake.calls == [("preflight", A, BUCKET)]
    assert {e["state"] for e in first.entries.values()} == {"Queued"}
    assert first.requested == (A, B)
    assert first.condition is not None
    assert first.condition[1] == "True"
    second = stored(ex, first.entries, T0 + 2 * SECOND)
    assert creates(fake) == [
        ("create", A, BUCKET, "team=infra"),
        ("create", B, BUCKET, "team=infra"),
    ]
    assert [e.reason for e in second.events] == ["StoreRequested", "StoreRequested"]
    assert second.entries == first.entries  # still Queued until AWS lists the tasks
    # AWS does not list them yet (visibility delay): no second create, several polls long.
    for n in range(3, 8):
        later = stored(ex, second.entries, T0 + 2 * n * SECOND)
        assert later.events == ()
    assert len(creates(fake)) == 2


def test_a_request_is_called_right_after_its_status_is_stored_and_not_before() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = step(ex, {}, T0)
    second = step(ex, first.entries, T0 + SECOND)
    assert creates(fake) == []  # the write is not confirmed yet
    assert second.requested == ()  # nothing new to record
    ex.written(KEY)
    step(ex, first.entries, T0 + 2 * SECOND)
    assert created(fake) == [A, B]


def test_a_refused_write_never_calls_for_its_requests() -> None:
    fake = FakeCreate()
    ex = make(fake)
    step(ex, {}, T0)
    ex.unwritten(KEY)
    again = step(ex, {}, T0 + 2 * SECOND)  # the stored status holds no request
    assert creates(fake) == []
    assert again.requested == (A, B)  # recorded anew, for the next write
    ex.written(KEY)
    step(ex, again.entries, T0 + 4 * SECOND)
    assert created(fake) == [A, B]


def test_a_request_dropped_unanswered_is_requested_again_though_its_write_was_stored() -> None:
    # The write recording A's and B's requests got no answer: dropped, never called. The API
    # stored it all the same, and A went into another bucket a second later (AWS then lists
    # that task only). Neither request started a task: no grace to wait out, nothing hidden.
    fake = FakeCreate()
    ex = make(fake)
    lost = step(ex, {}, T0)
    ex.unwritten(KEY)
    start = T0 + SECOND
    elsewhere = model.StoreTask(A, model.TaskState.FAILED, 0, bucket="amis-other", start_time=start)
    view = model.ResourceView(tasks={A: elsewhere, B: None}, error=None)
    again = stored(ex, lost.entries, T0 + 2 * SECOND, view=view)
    assert creates(fake) == []
    assert again.requested == (A, B)
    stored(ex, again.entries, T0 + 4 * SECOND, view=view)
    assert created(fake) == [A, B]


def test_each_request_dropped_unanswered_is_requested_again_whichever_status_shows() -> None:
    # Two writes got no answer: the first recorded A's and B's requests at T0, the next (its
    # poll read no status yet) new ones at T0 + 2 s. A late watch then shows the first; A went
    # into another bucket meanwhile. Neither request started a task: nothing hidden.
    fake = FakeCreate()
    ex = make(fake)
    first = step(ex, {}, T0)
    ex.unwritten(KEY)
    step(ex, {}, T0 + 2 * SECOND)
    ex.unwritten(KEY)
    start = T0 + 3 * SECOND
    elsewhere = model.StoreTask(A, model.TaskState.FAILED, 0, bucket="amis-other", start_time=start)
    view = model.ResourceView(tasks={A: elsewhere, B: None}, error=None)
    again = stored(ex, first.entries, T0 + 4 * SECOND, view=view)
    assert creates(fake) == []
    assert again.requested == (A, B)


def test_a_restarted_process_never_calls_for_a_request_it_did_not_record() -> None:
    fake = FakeCreate()
    first = stored(make(fake), {}, T0)
    restarted = make(fake)
    again = stored(restarted, first.entries, T0 + 2 * SECOND)
    assert creates(fake) == []
    assert again.entries == first.entries
    assert again.requested == ()
    # After the grace, with still nothing listed, the request is recorded anew, then called.
    renewed = stored(restarted, first.entries, T0 + GRACE)
    assert creates(fake) == []
    assert renewed.requested == (A, B)
    stored(restarted, renewed.entries, T0 + GRACE + 2 * SECOND)
    assert created(fake) == [A, B]


def test_requested_amis_are_awaited_until_aws_lists_their_task() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = stored(ex, {}, T0)
    assert first.awaiting == (A, B)
    called = stored(ex, first.entries, T0 + 2 * SECOND)
    assert called.awaiting == (A, B)
    started = model.StoreTask(A, model.TaskState.IN_PROGRESS, 1, bucket=BUCKET, start_time=T0)
    listed = model.ResourceView(tasks={A: started, B: None}, error=None)
    seen = stored(ex, called.entries, T0 + 4 * SECOND, view=listed)
    assert seen.awaiting == (B,)


def test_at_a_long_interval_the_next_poll_still_calls() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = stored(ex, {}, T0, interval=300.0)
    # The next poll comes one interval and some slack later: past the base call window.
    stored(ex, first.entries, T0 + 305 * SECOND, interval=300.0)
    assert created(fake) == [A, B]


@pytest.mark.parametrize(
    ("permission", "namespace", "reason"),
    [
        (export.Permission(), "team-a", "CreateNotAllowed"),
        (export.Permission(True, ("other-*",)), "team-a", "BucketNotAllowed"),
        (export.Permission(True, ("amis-*",), ("ops",)), "team-a", "NamespaceNotAllowed"),
    ],
)
def test_not_allowed_makes_no_call_at_all(
    permission: export.Permission, namespace: str, reason: str
) -> None:
    fake = FakeCreate()
    ex = make(fake, permission)
    first = stored(ex, {}, T0, namespace=namespace)
    stored(ex, first.entries, T0 + 2 * SECOND, namespace=namespace)
    assert fake.calls == []
    assert first.condition is not None
    assert first.condition[1:3] == ("False", reason)
    assert first.entries == {}


def test_an_account_the_map_refuses_gets_no_dry_run_and_account_not_allowed() -> None:
    fake = FakeCreate()
    ex = make(fake)
    why = 'namespace "team-a" may not use account 111111111111'
    first = stored(ex, {}, T0, account_denied=why)
    stored(ex, first.entries, T0 + 2 * SECOND, account_denied=why)
    assert fake.calls == []
    assert first.condition == ("ExportReady", "False", "AccountNotAllowed", why)
    assert first.entries == {}
    assert first.requested == ()


def test_access_denied_by_the_preflight_tries_another_ami_then_waits_ten_intervals() -> None:
    fake = FakeCreate()
    fake.denied = UNAUTHORIZED
    clock = Clock()
    ex = make(fake, clock=clock)
    first = stored(ex, {}, T0)
    assert first.condition is not None
    assert first.condition[1:3] == ("False", "AccessDenied")
    assert "ec2:CreateStoreImageTask" in first.condition[3]
    assert first.entries == {}
    clock.now = 2.0
    stored(ex, {}, T0 + 2 * SECOND)  # IAM may be scoped per AMI: B's DryRun
    clock.now = 4.0
    stored(ex, {}, T0 + 4 * SECOND)  # every AMI tried: wait
    assert fake.calls == [("preflight", A, BUCKET), ("preflight", B, BUCKET)]
    fake.denied = None
    clock.now = 2.0 + 10 * SPEC.poll_interval
    recovered = stored(ex, {}, T0 + 30 * SECOND)
    assert recovered.condition is not None
    assert recovered.condition[1] == "True"
    assert [c[0] for c in fake.calls] == ["preflight", "preflight", "preflight"]
    assert creates(fake) == []
    assert recovered.requested == (A, B)


def test_a_dry_run_allowed_for_another_ami_records_the_requests() -> None:
    fake = FakeCreate()
    fake.probe_refuse[A] = UNAUTHORIZED  # an IAM policy scoped by image tag
    ex = make(fake)
    first = stored(ex, {}, T0)
    assert first.condition is not None
    assert first.condition[1:3] == ("False", "AccessDenied")
    second = stored(ex, {}, T0 + 2 * SECOND)
    assert fake.calls[-1] == ("preflight", B, BUCKET)
    assert second.condition is not None
    assert second.condition[1] == "True"
    assert second.requested == (A, B)


def test_an_invalid_ami_refused_by_the_dry_run_is_refused_alone_and_another_probed() -> None:
    fake = FakeCreate()
    fake.probe_refuse[A] = errors.AwsError(
        model.PollErrorReason.INVALID_IMAGE_ID, "InvalidAMIID.NotFound", "no such image"
    )
    ex = make(fake)
    first = stored(ex, {}, T0)
    assert first.entries[A]["state"] == "Failed"
    assert first.entries[A]["failureReason"] == "InvalidAMIID.NotFound: no such image"
    assert first.condition is not None
    assert first.condition[1] == "True"  # IAM said nothing against it
    second = stored(ex, first.entries, T0 + 2 * SECOND)
    assert fake.calls == [("preflight", A, BUCKET), ("preflight", B, BUCKET)]
    assert second.requested == (B,)
    assert second.entries[A] == first.entries[A]
    stored(ex, second.entries, T0 + 4 * SECOND)
    assert created(fake) == [B]


def test_a_refused_create_fails_the_task_and_is_not_repeated() -> None:
    fake = FakeCreate()
    fake.refuse[A] = errors.AwsError(
        model.PollErrorReason.INVALID_REQUEST, "InvalidParameter", "bucket in another region"
    )
    ex = make(fake)
    first = stored(ex, {}, T0)
    second = stored(ex, first.entries, T0 + 2 * SECOND)
    assert second.entries[A]["state"] == "Failed"
    assert second.entries[A]["failureReason"] == "InvalidParameter: bucket in another region"
    assert second.entries[B]["state"] == "Queued"
    stored(ex, second.entries, T0 + GRACE * 2)
    assert created(fake) == [A, B]


def test_an_unauthorized_create_refuses_that_ami_alone() -> None:
    fake = FakeCreate()
    fake.refuse[A] = UNAUTHORIZED  # e.g. an IAM policy scoped by image tag
    ex = make(fake)
    first = stored(ex, {}, T0)
    second = stored(ex, first.entries, T0 + 2 * SECOND)
    assert created(fake) == [A, B]
    assert second.entries[A]["failureReason"] == "UnauthorizedOperation: not authorized"
    assert second.entries[B]["state"] == "Queued"
    assert second.condition is not None
    assert second.condition[1] == "True"
    # Neither this AmiStore's later polls nor another namespace's AmiStore are denied.
    later = stored(ex, second.entries, T0 + 4 * SECOND)
    assert later.condition is not None
    assert later.condition[1] == "True"
    theirs = model.AmiStoreSpec(**{**SPEC.__dict__, "image_ids": (C,)})
    nothing = model.ResourceView(tasks={C: None}, error=None)
    other = stored(ex, {}, T0 + 4 * SECOND, view=nothing, spec=theirs, key="team-b/store")
    assert other.condition is not None
    assert other.condition[1] == "True"
    assert other.requested == (C,)
    stored(ex, other.entries, T0 + 6 * SECOND, view=nothing, spec=theirs, key="team-b/store")
    assert created(fake) == [A, B, C]


def test_one_request_per_ami_and_bucket_across_two_amistores() -> None:
    fake = FakeCreate()
    ex = make(fake)
    shared = model.AmiStoreSpec(**{**SPEC.__dict__, "image_ids": (A,)})
    view = model.ResourceView(tasks={A: None}, error=None)
    mine = stored(ex, {}, T0, view=view, spec=shared, key="team-a/one")
    theirs = stored(ex, {}, T0, view=view, spec=shared, key="team-b/two", namespace="team-b")
    assert mine.requested == (A,)
    assert theirs.requested == ()
    for n in range(1, 6):
        now = T0 + 2 * n * SECOND
        mine = stored(ex, mine.entries, now, view=view, spec=shared, key="team-a/one")
        theirs = stored(
            ex, theirs.entries, now, view=view, spec=shared, key="team-b/two", namespace="team-b"
        )
        assert theirs.requested == ()
    assert created(fake) == [A]


def test_a_throttled_create_is_called_again_an_unsure_one_is_not() -> None:
    fake = FakeCreate()
    throttled = errors.AwsError(model.PollErrorReason.THROTTLED, "RequestLimitExceeded", "slow")
    fake.refuse[A] = throttled
    ex = make(fake)
    first = stored(ex, {}, T0)
    stored(ex, first.entries, T0 + 2 * SECOND)
    assert created(fake) == [A]  # B waits for the next poll
    fake.refuse[A] = errors.AwsError(
        model.PollErrorReason.AWS_UNAVAILABLE, "ReadTimeoutError", "timed out"
    )
    stored(ex, first.entries, T0 + 4 * SECOND)
    assert created(fake) == [A, A]  # throttled: AWS did nothing, ask again
    stored(ex, first.entries, T0 + 6 * SECOND)
    # Timed out: AWS may have acted; never a second call for that request. B goes on.
    assert created(fake) == [A, A, B]
    stored(ex, first.entries, T0 + 8 * SECOND)
    assert created(fake) == [A, A, B]


def test_listed_tasks_are_never_created() -> None:
    fake = FakeCreate()
    listed = model.StoreTask(A, model.TaskState.COMPLETED, 100, bucket=BUCKET, start_time=T0)
    view = model.ResourceView(tasks={A: listed, B: None}, error=None)
    ex = make(fake)
    first = stored(ex, {}, T0, view=view)
    assert set(first.entries) == {B}
    stored(ex, first.entries, T0 + 2 * SECOND, view=view)
    assert created(fake) == [B]


def test_a_rejected_spec_records_its_live_requests_for_a_restarted_process() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = stored(ex, {}, T0)
    stored(ex, first.entries, T0 + 2 * SECOND)  # called for A and B
    ex.forget(KEY)  # its spec is rejected: no more polls
    task = {"amiId": C, "region": "eu-west-1", "bucket": "other", "state": "Completed"}
    kept = [{**task, "taskStartTime": "2025-12-31T00:00:00Z"}]
    held = ex.held(KEY, kept, T0 + 3 * SECOND)
    assert sorted((r["amiId"], r["bucket"], r["state"]) for r in held) == [
        (A, BUCKET, "Queued"),
        (B, BUCKET, "Queued"),
        (C, "other", "Completed"),
    ]
    # A restarted process recalls them: another AmiStore naming A and the bucket waits.
    restarted = make(fake)
    restarted.recall(KEY, list(held), SPEC.poll_interval)
    other = stored(restarted, {}, T0 + 4 * SECOND, key="team-b/store", namespace="team-b")
    stored(restarted, other.entries, T0 + 6 * SECOND, key="team-b/store", namespace="team-b")
    assert created(fake) == [A, B]
    assert ex.held(KEY, kept, T0 + GRACE) == tuple(kept)  # the requests' grace is over
