"""The exporter carries out the export decision: calls, preflight, budget, with fakes."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from amistore_operator import exporter
from amistore_operator.aws import errors
from amistore_operator.core import export, model

A = "ami-0000000a"
B = "ami-0000000b"
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


class FakeCreate:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.refuse: dict[str, errors.AwsError] = {}
        self.denied: errors.AwsError | None = None

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str:
        self.calls.append(("create", ami_id, bucket, *(f"{k}={v}" for k, v in tags)))
        if ami_id in self.refuse:
            raise self.refuse[ami_id]
        return f"{ami_id}.bin"

    def preflight(self, ami_id: str, bucket: str) -> None:
        self.calls.append(("preflight", ami_id, bucket))
        if self.denied is not None:
            raise self.denied


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
) -> exporter.Step:
    result = asyncio.run(ex.step("ns/store", namespace, SPEC, view, previous, now))
    assert result is not None
    return result


def creates(fake: FakeCreate) -> list[tuple[str, ...]]:
    return [c for c in fake.calls if c[0] == "create"]


def test_record_first_then_one_create_per_ami() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = step(ex, {}, T0)
    assert creates(fake) == []  # the status is the record, written before any create
    assert fake.calls == [("preflight", A, BUCKET)]
    assert {e["state"] for e in first.entries.values()} == {"Queued"}
    assert first.condition is not None
    assert first.condition[1] == "True"
    second = step(ex, first.entries, T0 + 2 * SECOND)
    assert creates(fake) == [
        ("create", A, BUCKET, "team=infra"),
        ("create", B, BUCKET, "team=infra"),
    ]
    assert [e.reason for e in second.events] == ["StoreRequested", "StoreRequested"]
    assert second.entries == first.entries  # still Queued until AWS lists the tasks
    # AWS does not list them yet (visibility delay): no second create, several polls long.
    for n in range(3, 8):
        later = step(ex, second.entries, T0 + 2 * n * SECOND)
        assert later.events == ()
    assert len(creates(fake)) == 2


def test_a_restarted_process_never_calls_for_a_request_it_did_not_record() -> None:
    fake = FakeCreate()
    first = step(make(fake), {}, T0)
    restarted = make(fake)
    again = step(restarted, first.entries, T0 + 2 * SECOND)
    assert creates(fake) == []
    assert again.entries == first.entries
    # After the grace, with still nothing listed, the request is recorded anew, then called.
    late = T0 + export.DEFAULT_GRACE
    renewed = step(restarted, first.entries, late)
    assert creates(fake) == []
    step(restarted, renewed.entries, late + 2 * SECOND)
    assert len(creates(fake)) == 2


def test_an_unwritten_status_cancels_its_requests() -> None:
    fake = FakeCreate()
    ex = make(fake)
    first = step(ex, {}, T0)
    ex.unwritten("ns/store")
    step(ex, first.entries, T0 + 2 * SECOND)
    assert creates(fake) == []


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
    first = step(ex, {}, T0, namespace=namespace)
    step(ex, first.entries, T0 + 2 * SECOND, namespace=namespace)
    assert fake.calls == []
    assert first.condition is not None
    assert first.condition[1:3] == ("False", reason)
    assert first.entries == {}


def test_access_denied_by_the_preflight_then_recovered() -> None:
    fake = FakeCreate()
    fake.denied = errors.AwsError(
        model.PollErrorReason.ACCESS_DENIED, "UnauthorizedOperation", "not authorized"
    )
    clock = Clock()
    ex = make(fake, clock=clock)
    first = step(ex, {}, T0)
    assert first.condition is not None
    assert first.condition[1:3] == ("False", "AccessDenied")
    assert "ec2:CreateStoreImageTask" in first.condition[3]
    assert first.entries == {}
    clock.now = 5.0
    step(ex, {}, T0 + 5 * SECOND)
    assert fake.calls == [("preflight", A, BUCKET)]  # not before ten intervals
    fake.denied = None
    clock.now = 10 * SPEC.poll_interval
    recovered = step(ex, {}, T0 + 20 * SECOND)
    assert recovered.condition is not None
    assert recovered.condition[1] == "True"
    assert [c[0] for c in fake.calls] == ["preflight", "preflight"]
    assert creates(fake) == []


def test_a_refused_create_fails_the_task_and_is_not_repeated() -> None:
    fake = FakeCreate()
    fake.refuse[A] = errors.AwsError(
        model.PollErrorReason.INVALID_REQUEST, "InvalidParameter", "bucket in another region"
    )
    ex = make(fake)
    first = step(ex, {}, T0)
    second = step(ex, first.entries, T0 + 2 * SECOND)
    assert second.entries[A]["state"] == "Failed"
    assert second.entries[A]["failureReason"] == "InvalidParameter: bucket in another region"
    assert second.entries[B]["state"] == "Queued"
    step(ex, second.entries, T0 + export.DEFAULT_GRACE * 2)
    assert [c[1] for c in creates(fake)] == [A, B]


def test_a_throttled_create_is_called_again_an_unsure_one_is_not() -> None:
    fake = FakeCreate()
    throttled = errors.AwsError(model.PollErrorReason.THROTTLED, "RequestLimitExceeded", "slow")
    fake.refuse[A] = throttled
    ex = make(fake)
    first = step(ex, {}, T0)
    step(ex, first.entries, T0 + 2 * SECOND)
    assert [c[1] for c in creates(fake)] == [A]  # B waits for the next poll
    fake.refuse[A] = errors.AwsError(
        model.PollErrorReason.AWS_UNAVAILABLE, "ReadTimeoutError", "timed out"
    )
    step(ex, first.entries, T0 + 4 * SECOND)
    assert [c[1] for c in creates(fake)] == [A, A]  # throttled: AWS did nothing, ask again
    step(ex, first.entries, T0 + 6 * SECOND)
    # Timed out: AWS may have acted; never a second call for that request. B goes on.
    assert [c[1] for c in creates(fake)] == [A, A, B]


def test_listed_tasks_are_never_created() -> None:
    fake = FakeCreate()
    listed = model.StoreTask(A, model.TaskState.COMPLETED, 100, bucket=BUCKET, start_time=T0)
    view = model.ResourceView(tasks={A: listed, B: None}, error=None)
    first = step(make(fake), {}, T0, view=view)
    assert set(first.entries) == {B}
