"""The fake's image side (``fakeimages`` through ``fakeaws.Client``), and the cleanup rules
each failing on a log that breaks it, so that none can pass by finding nothing to check.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import pytest
from amistore_operator.aws import errors
from amistore_operator.core import images, model

from tests.sim import cleanuprules, fakeaws, fakeimages, fakekube, scenario, world

A, B = "ami-0000000a", "ami-0000000b"
REGION = scenario.REGION
ARN = "arn:aws:ec2:eu-west-1:000000000000:instance/i-0123456789abcdef0"


class Clock:
    """A settable virtual clock."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def fake(
    traits: dict[str, fakeimages.Traits] | None = None, **faults: Any
) -> tuple[fakeaws.FakeEc2, Clock]:
    """A fake EC2 with A and B, and its clock."""
    clock = Clock()
    ec2 = fakeaws.FakeEc2(
        now=clock,
        rng=random.Random(1),
        amis=(A, B),
        duration=lambda ami: 60.0,
        fails=lambda ami: False,
        visibility=lambda: 0.0,
        faults=fakeaws.Faults(**faults),
        images=traits or {},
    )
    return ec2, clock


def raised(call: Callable[[], Any]) -> errors.AwsError:
    """The AwsError ``call`` raises."""
    with pytest.raises(errors.AwsError) as caught:
        call()
    return caught.value


def outcomes(ec2: fakeaws.FakeEc2, op: str) -> list[str]:
    return [c.outcome for c in ec2.calls if c.op == op]


def test_protection_refuses_with_the_sandbox_simulators_code_and_changes_nothing() -> None:
    ec2, _ = fake({A: fakeimages.Traits(protection="enabled-with-cooldown")})
    client = ec2.client("", REGION)
    error = raised(lambda: client.deregister(A, True))
    assert (error.code, error.reason) == (
        "OperationNotPermitted",
        model.PollErrorReason.INVALID_REQUEST,
    )
    assert "deregistration protection is enabled-with-cooldown" in str(error)
    assert outcomes(ec2, "deregister") == ["OperationNotPermitted"]
    assert set(client.images([A])) == {A}
    assert len(client.snapshots(fakeimages.snapshot_ids(A))) == 2


def test_a_deregistration_deletes_its_snapshots_when_asked_and_is_gone_after() -> None:
    ec2, clock = fake()
    client = ec2.client("", REGION)
    clock.t = 50.0
    answer = client.deregister(A, True)
    ids = fakeimages.snapshot_ids(A)
    assert answer == images.Deregistered(True, tuple((s, "success") for s in ids))
    assert sum(fakeimages.snapshot_bytes(s) for s in answer.deleted()) == fakeimages.image_bytes(A)
    assert client.deregister(B, False) == images.Deregistered(True)
    assert client.images([A, B]) == {}
    assert client.snapshots([*ids, *fakeimages.snapshot_ids(B)]).keys() == set(
        fakeimages.snapshot_ids(B)
    )
    assert raised(lambda: client.deregister(A, True)).code == "InvalidAMIID.NotFound"
    assert raised(lambda: client.launch_permissions(A)).code == "InvalidAMIID.NotFound"
    assert ec2.images.deregistered_at("", REGION, A) == 50.0
    # Another account has its own A.
    assert set(ec2.client(scenario.OTHER_ACCOUNT, REGION).images([A])) == {A}


def test_a_lost_answer_is_a_5xx_after_aws_acted() -> None:
    ec2, clock = fake(lost_deregister_rate=1.0)
    clock.t = 7.0
    error = raised(lambda: ec2.client("", REGION).deregister(A, False))
    assert (error.reason, error.code) == (model.PollErrorReason.AWS_UNAVAILABLE, "InternalError")
    assert outcomes(ec2, "deregister") == ["lost"]
    assert ec2.images.deregistered_at("", REGION, A) == 7.0


def test_a_deregistered_ami_fails_a_whole_describe_ids_batch_in_its_account_only() -> None:
    ec2, clock = fake()
    client = ec2.client("", REGION)
    client.create(A, "archive-a")
    clock.t = 100.0
    client.deregister(A, False)
    clock.t = 101.0
    error = raised(lambda: client.describe_ids([B, A]))
    assert (error.code, error.reason) == (
        "InvalidAMIID.NotFound",
        model.PollErrorReason.INVALID_IMAGE_ID,
    )
    assert outcomes(ec2, "describe_ids") == ["InvalidAMIID.NotFound"]
    assert client.describe_ids([B]) == []
    assert ec2.client(scenario.OTHER_ACCOUNT, REGION).describe_ids([A, B]) == []
    # Its exported object stays in S3.
    head = client.head("archive-a", f"{A}.bin")
    assert head is not None
    assert head.expiration is None


def test_a_bucket_with_a_lifecycle_rule_names_the_objects_expiry() -> None:
    ec2, clock = fake()
    ec2.expiring = {"archive-b"}
    client = ec2.client("", REGION)
    client.create(A, "archive-b")
    clock.t = 100.0
    head = client.head("archive-b", f"{A}.bin")
    assert head is not None
    assert (
        head.expiration == 'expiry-date="Sun, 01 Feb 2026 00:00:00 GMT", rule-id="archive-expiry"'
    )


def test_references_exist_in_their_windows_only() -> None:
    window = fakeimages.Reference("ec2:Instance", ARN, 10.0, 20.0)
    ec2, clock = fake({A: fakeimages.Traits(references=(window,))})
    client = ec2.client("", REGION)
    seen = {}
    for t in (5.0, 10.0, 19.9, 20.0):
        clock.t = t
        seen[t] = client.references([A, B])
    shown = [images.Reference(A, "ec2:Instance", ARN)]
    assert seen == {5.0: [], 10.0: shown, 19.9: shown, 20.0: []}


def test_references_are_asked_ten_amis_a_call_as_aws_takes_them() -> None:
    many = [f"ami-{i:08x}" for i in range(1, 12)]
    ec2, _ = fake()
    ec2.images.amis = set(many)
    window = fakeimages.Reference("ec2:Instance", ARN, 0.0, 10.0)
    ec2.images.traits = {many[-1]: fakeimages.Traits(references=(window,))}
    found = ec2.client("", REGION).references([*many, many[0]])
    assert found == [images.Reference(many[-1], "ec2:Instance", ARN)]
    assert [c.amis for c in ec2.calls] == [tuple(many[:10]), (many[-1],)]
    with pytest.raises(ValueError, match="at most 10"):
        ec2.images.references("", REGION, many)


def test_owner_public_and_shared_as_describe_calls_show_them() -> None:
    org = "arn:aws:organizations::333333333333:organization/o-example"
    ec2, _ = fake(
        {
            A: fakeimages.Traits(foreign=True),
            B: fakeimages.Traits(public=True, shared=("333333333333", org)),
        }
    )
    client = ec2.client(scenario.OTHER_ACCOUNT, REGION)
    shown = client.images([A, B])
    assert (shown[A].owner_id, shown[B].owner_id) == (
        fakeimages.FOREIGN_OWNER,
        scenario.OTHER_ACCOUNT,
    )
    assert shown[B].public
    assert shown[B].protection == "disabled"
    assert shown[B].snapshot_ids == fakeimages.snapshot_ids(B)
    assert ec2.client("", REGION).images([B])[B].owner_id == world.OWN_ACCOUNT
    assert raised(lambda: client.launch_permissions(A)).code == "AuthFailure"
    assert raised(lambda: client.deregister(A, False)).code == "AuthFailure"
    assert client.snapshots(fakeimages.snapshot_ids(A)) == {}  # another account's
    permissions = client.launch_permissions(B)
    assert permissions == images.LaunchPermissions(True, ("333333333333",), (org,))
    assert permissions.shared


def test_faults_and_the_log_apply_to_the_image_calls() -> None:
    ec2, _ = fake(throttle=[(0.0, 10.0)], fault_rate=1.0)
    client = ec2.client("", REGION)
    assert raised(lambda: client.images([A])).code == "RequestLimitExceeded"
    assert raised(lambda: client.deregister(A, False)).code == "RequestLimitExceeded"
    assert ec2.images.deregistered_at("", REGION, A) is None
    snapshots = fakeimages.snapshot_ids(A)
    assert raised(lambda: client.snapshots(snapshots)).code == "RequestLimitExceeded"
    assert [(c.op, c.amis) for c in ec2.calls] == [
        ("describe_images", (A,)),
        ("deregister", (A,)),
        ("describe_snapshots", (A,)),
    ]


def test_cleanup_draws_leave_the_plain_and_verify_scenarios_as_they_were() -> None:
    for seed in range(20):
        plain, verify = scenario.draw(seed), scenario.draw(seed, verify=True)
        both = scenario.draw(seed, verify=True, cleanup=True)
        assert scenario.draw(seed, cleanup=True).amis == plain.amis
        assert dataclasses.replace(both, specs=verify.specs, actions=verify.actions) == (
            dataclasses.replace(
                verify,
                images=both.images,
                expiring=both.expiring,
                cleanup=both.cleanup,
                aws_faults=both.aws_faults,
                horizon=both.horizon,
            )
        )
        for key, spec in both.specs.items():
            assert {k: v for k, v in spec.items() if not k.startswith("afterExport")} == (
                verify.specs[key]
            )
            assert 0 <= spec["afterExportDelaySeconds"] <= scenario.MAX_DELAY


# The rules, each on a log that breaks it. The runs keep their AMIs (afterExport Keep, or
# flags that refuse), so whatever the operator does, the log is then made to break a rule.
KEY = "team-a/s"


def run(after: str = "Keep", **settings: Any) -> scenario.Log:
    """One AmiStore exporting and verifying A and B; what happened."""
    spec = {
        "imageIds": [A, B],
        "bucket": "archive-a",
        "createTasks": True,
        "verifyObjects": True,
        "pollIntervalSeconds": 60,
        "afterExport": after,
        "afterExportDelaySeconds": 0,
    }
    return scenario.run(scenario.make({KEY: spec}, **settings))


def deregister(log: scenario.Log, t: float, ami: str = A, outcome: str = "ok") -> None:
    """AWS receives a DeregisterImage of ``ami`` at ``t`` (and acts, unless refused)."""
    log.ec2.calls.append(fakeaws.Call(t, "", REGION, "deregister", (ami,), None, outcome))
    if outcome in cleanuprules.ACTED:
        log.ec2.images.deregistered.setdefault(("", REGION), {})[ami] = t


def store_version(log: scenario.Log, t: float, state: str, **spec: Any) -> None:
    """A new stored version of KEY at ``t``: A's entry in ``state``, the spec's ``spec`` changes."""
    last = log.kube.current(KEY)
    status = dict(last.status or {})
    status["tasks"] = [
        {**e, "cleanupState": state} if e["amiId"] == A else e for e in status["tasks"]
    ]
    version = fakekube.Version(t, last.generation, {**last.spec, **spec}, last.annotations, status)
    log.kube.objects[KEY].append(version)


def asked(log: scenario.Log) -> float:
    """The log made to show a justified DeregisterImage of A: cleanup asked and allowed."""
    log.scenario = dataclasses.replace(log.scenario, cleanup=world.CleanupFlags(True))
    store_version(log, log.end + 1, "Deregistering", afterExport="Deregister")
    deregister(log, log.end + 2)
    return log.end + 2


def test_a_justified_deregistration_passes_the_guards_rule() -> None:
    log = run()
    asked(log)
    entry = cleanuprules._entry(log.kube.current(KEY).status, A, "archive-a")
    assert entry["verifiedTime"]
    assert entry["taskStartTime"]
    assert cleanuprules.deregistered_only_when_every_guard_held(log) == []


def _public(log: scenario.Log) -> None:
    log.ec2.images.traits = {A: fakeimages.Traits(public=True)}


def _in_use(log: scenario.Log) -> None:
    reference = fakeimages.Reference("ec2:Instance", ARN, 0.0, log.end + 100)
    log.ec2.images.traits = {A: fakeimages.Traits(references=(reference,))}


def _kept_elsewhere(log: scenario.Log) -> None:
    spec = {"imageIds": [A], "bucket": "archive-b"}
    log.kube.objects["team-b/keeps"] = [fakekube.Version(0.0, 1, spec, {}, None)]


def _flags_off(log: scenario.Log) -> None:
    log.scenario = dataclasses.replace(log.scenario, cleanup=world.CleanupFlags(False))


def _namespace_refused(log: scenario.Log) -> None:
    flags = world.CleanupFlags(True, ("team-b",))
    log.scenario = dataclasses.replace(log.scenario, cleanup=flags)


def _not_written_first(log: scenario.Log) -> None:
    store_version(log, log.end + 1.5, "Waiting")


def _delay_not_past(log: scenario.Log) -> None:
    last = log.kube.objects[KEY].pop()
    spec = {**last.spec, "afterExportDelaySeconds": 10 * 86400}
    log.kube.objects[KEY].append(dataclasses.replace(last, spec=spec))


def _object_expires(log: scenario.Log) -> None:
    log.ec2.expiring = {"archive-a"}


def _object_gone(log: scenario.Log) -> None:
    log.ec2.missing = {A}


@pytest.mark.parametrize(
    "tamper",
    [
        _public,
        _in_use,
        _kept_elsewhere,
        _flags_off,
        _namespace_refused,
        _not_written_first,
        _delay_not_past,
        _object_expires,
        _object_gone,
    ],
)
def test_the_guards_rule_fails_for_each_guard_broken(
    tamper: Callable[[scenario.Log], None],
) -> None:
    log = run()
    asked(log)
    tamper(log)
    assert cleanuprules.deregistered_only_when_every_guard_held(log)


def test_the_guards_rule_fails_without_an_amistore_asking() -> None:
    log = run()
    log.scenario = dataclasses.replace(log.scenario, cleanup=world.CleanupFlags(True))
    deregister(log, log.end + 2, B)
    found = cleanuprules.deregistered_only_when_every_guard_held(log)
    assert [f.split(", which ")[1] for f in found] == [
        f"{KEY} keeps (afterExport Keep)",
        f"no AmiStore allowed ({KEY}: afterExport Keep)",
    ]


def test_never_deregistered_twice_fails_on_a_second_call_even_refused() -> None:
    log = run()
    deregister(log, log.end + 1, outcome="InternalError")  # AWS did not act: may ask again
    deregister(log, log.end + 2, outcome="lost")
    assert cleanuprules.never_deregistered_twice(log) == []
    deregister(log, log.end + 3, outcome="InvalidAMIID.NotFound")
    found = cleanuprules.never_deregistered_twice(log)
    assert len(found) == 1
    assert "after AWS acted on one" in found[0]


def test_never_polled_after_deregistered_fails_on_a_batch_naming_it() -> None:
    log = run()
    polls = [c.t for c in log.ec2.calls if c.op == "describe_ids" and A in c.amis]
    log.ec2.images.deregistered = {("", REGION): {A: log.end + 1}}
    assert polls
    assert cleanuprules.never_polled_after_deregistered(log) == []
    log.ec2.images.deregistered = {("", REGION): {A: polls[-1] - 1}}
    assert cleanuprules.never_polled_after_deregistered(log)


def test_every_archive_finishes_fails_when_an_allowed_ami_is_kept() -> None:
    # Flags that refuse: the operator leaves A and B; the rule is then told they allowed.
    log = run("Deregister", cleanup=world.CleanupFlags(False))
    assert cleanuprules.every_archive_finishes(log) == []
    log.scenario = dataclasses.replace(log.scenario, cleanup=world.CleanupFlags(True))
    found = cleanuprules.every_archive_finishes(log)
    assert len(found) == 2
    assert all("never deregistered" in f for f in found)
    # AWS deregistered A: the status must say so.
    log.ec2.images.deregistered = {("", REGION): {A: 100.0, B: 100.0}}
    found = cleanuprules.every_archive_finishes(log)
    assert len(found) == 2
    assert all("its status shows" in f for f in found)


def test_every_archive_finishes_fails_on_a_status_showing_deregistered_too_early() -> None:
    log = run()
    store_version(log, log.end + 1, "Deregistered")
    found = cleanuprules.every_archive_finishes(log)
    assert len(found) == 1
    assert "AWS still has it" in found[0]
    log.kube.objects[KEY].pop()
    deregister(log, log.end + 1)
    store_version(log, log.end + 1, "Deregistered")
    assert cleanuprules.every_archive_finishes(log) == []


def test_cleanup_quiet_at_the_end_fails_on_a_late_call_or_cleanup_write() -> None:
    log = run()
    assert cleanuprules.cleanup_quiet_at_the_end(log) == []
    store_version(log, log.end - 1, "Blocked")
    assert len(cleanuprules.cleanup_quiet_at_the_end(log)) == 1
    log.kube.objects[KEY].pop()
    deregister(log, log.end - 1, outcome="OperationNotPermitted")
    assert len(cleanuprules.cleanup_quiet_at_the_end(log)) == 1
