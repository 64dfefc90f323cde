"""AmiRestore end to end: the real operator restores from Standard and from Deep Archive (a
thaw first, the create only after), once, across a SIGKILL just after the create; a failed
restore and its retry; a refused bucket; ``kubectl wait``; quiet afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-archive"
AMI_A, AMI_B, AMI_C = "ami-0a1b2c3d4e5f60701", "ami-0a1b2c3d4e5f60702", "ami-0a1b2c3d4e5f60703"
CREATE = "CreateRestoreImageTask"
WAIT = 60.0


def status(kubectl: harness.Kubectl, name: str) -> dict[str, Any]:
    return dict(kubectl.get("amirestore", name).get("status") or {})


def condition(kubectl: harness.Kubectl, name: str, kind: str) -> dict[str, Any]:
    found = status(kubectl, name).get("conditions") or []
    return next((c for c in found if c.get("type") == kind), {})


def creates(ec2: control.Ec2SimControl, key: str) -> list[control.CallInfo]:
    return [c for c in ec2.calls(CREATE) if c["params"].get("ObjectKey") == key]


def quiet_for(ec2: control.Ec2SimControl, intervals: int) -> None:
    """Wait for ``intervals`` more polls of the AmiStore "ticker" (its describe calls): the
    operator runs, and had as many chances to do more for its AmiRestores."""
    seen = len(ec2.calls("DescribeStoreImageTasks"))
    harness.wait_until(
        lambda: len(ec2.calls("DescribeStoreImageTasks")) >= seen + intervals,
        timeout=WAIT,
        what=f"{intervals} more polls",
        interval=POLL_INTERVAL / 2,
    )


def ticker(kubectl: harness.Kubectl, ami: str) -> None:
    kubectl.apply(harness.amistore("ticker", imageIds=[ami], bucket=BUCKET))


def complete(kubectl: harness.Kubectl, name: str) -> None:
    """``kubectl wait --for=condition=Complete`` as a user runs it: exit 0."""
    waited = kubectl.run(
        "wait", "--for=condition=Complete", f"amirestore/{name}", f"--timeout={WAIT:.0f}s",
        check=False, timeout=WAIT + 10,
    )  # fmt: skip
    assert waited.returncode == 0, (waited.stderr, status(kubectl, name))


def stored(ec2: control.Ec2SimControl, amis: list[str]) -> None:
    ec2.register_amis(amis)
    for ami in amis:
        ec2.create_task(ami, BUCKET, state="Completed", started_seconds_ago=600)


def test_restores_from_standard_and_deep_archive_once_then_quiet_across_a_restart(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    stored(ec2, [AMI_A, AMI_B])
    ec2.restore_settings(restore_duration_seconds=6, thaw_seconds={"DEEP_ARCHIVE": {"Bulk": 6}})
    ec2.set_storage_class(BUCKET, f"{AMI_B}.bin", "DEEP_ARCHIVE")
    operator = start_operator("--allow-restore", "--allowed-buckets", BUCKET)
    # Named: the source AMIs still exist, and hold the names their objects record.
    standard = harness.amirestore(
        "standard", bucket=BUCKET, objectKey=f"{AMI_A}.bin", name="web-a2"
    )
    kubectl.apply(standard)
    deep = {"days": 1, "tier": "Bulk"}
    kubectl.apply(
        harness.amirestore(
            "deep", bucket=BUCKET, objectKey=f"{AMI_B}.bin", thaw=deep, name="web-b2"
        )
    )
    for name in ("standard", "deep"):
        complete(kubectl, name)
    thawed = [c for c in ec2.restore_object_calls() if AMI_B in str(c["params"])]
    assert len(thawed) == 1
    assert len(creates(ec2, f"{AMI_A}.bin")) == 1
    [deep_create] = creates(ec2, f"{AMI_B}.bin")
    assert deep_create["time"] > thawed[0]["time"]  # the create only once it could read it
    for name, ami in (("standard", AMI_A), ("deep", AMI_B)):
        found = status(kubectl, name)
        assert found["phase"] == "Available"
        assert found["progressPercentage"] == 100
        image = ec2.restored_image(found["imageId"])
        assert image["state"] == "available"
        assert ami in image.get("key", ami)
        reasons = [e["reason"] for e in kubectl.events(name)]
        assert reasons.count("RestoreRequested") == 1
        assert reasons.count("RestoreCompleted") == 1
    assert "ObjectThawing" in [e["reason"] for e in kubectl.events("deep")]
    # Done: nothing more, across a restart too.
    ticker(kubectl, AMI_A)
    operator.stop()
    restores = ("CreateRestoreImageTask", "DescribeImages", "DescribeSnapshots")
    before = ([len(ec2.calls(op)) for op in restores], status(kubectl, "standard"))
    before_deep = status(kubectl, "deep")
    start_operator("--allow-restore", "--allowed-buckets", BUCKET)
    quiet_for(ec2, 4)
    after = ([len(ec2.calls(op)) for op in restores], status(kubectl, "standard"))
    assert after == before
    assert status(kubectl, "deep") == before_deep
    assert len(ec2.restore_object_calls()) == 1
    for name in ("standard", "deep"):
        reasons = [e["reason"] for e in kubectl.events(name)]
        assert reasons.count("RestoreCompleted") == 1


def test_a_sigkill_after_the_create_a_failure_its_retry_and_a_refused_bucket(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    stored(ec2, [AMI_C])
    ec2.restore_settings(restore_duration_seconds=3600)
    operator = start_operator("--allow-restore", "--allowed-buckets", BUCKET)
    kubectl.apply(
        harness.amirestore("killed", bucket=BUCKET, objectKey=f"{AMI_C}.bin", name="c-restored")
    )
    kubectl.apply(harness.amirestore("refused", bucket="other-bucket", objectKey=f"{AMI_C}.bin"))
    harness.wait_until(lambda: creates(ec2, f"{AMI_C}.bin"), timeout=WAIT, what="the create")
    operator.kill()  # just after the create: its answer may never have been written
    operator = start_operator("--allow-restore", "--allowed-buckets", BUCKET)
    harness.wait_until(
        lambda: status(kubectl, "killed").get("imageId"), timeout=WAIT, what="the adopted image"
    )
    first = status(kubectl, "killed")["imageId"]
    assert [c["error_code"] for c in creates(ec2, f"{AMI_C}.bin")] == [None]  # found by name
    refused = condition(kubectl, "refused", "Synced")
    assert refused["reason"] == "BucketNotAllowed"
    assert not [c for c in ec2.calls() if "other-bucket" in str(c["params"])]
    # It fails; a retry deregisters that image (it is ours, and failed), then asks once more.
    ec2.fail_restore(first, "Client.InvalidSnapshot.NotFound", "a snapshot went missing")
    harness.wait_until(
        lambda: condition(kubectl, "killed", "Failed").get("status") == "True",
        timeout=WAIT,
        what="Failed",
    )
    assert "snapshot went missing" in status(kubectl, "killed")["failureReason"]
    kubectl.run(
        "annotate", "amirestore", "killed", "amistore.io/retry-requested-at=2026-12-06T00:00:00Z"
    )
    harness.wait_until(
        lambda: status(kubectl, "killed").get("imageId") not in (None, first),
        timeout=WAIT,
        what="the retried restore",
    )
    second = status(kubectl, "killed")["imageId"]
    deregistered = [c["params"].get("ImageId") for c in ec2.calls("DeregisterImage")]
    assert deregistered == [first]
    assert len([c for c in creates(ec2, f"{AMI_C}.bin") if c["error_code"] is None]) == 2
    ec2.complete_restore(second)
    complete(kubectl, "killed")
    ticker(kubectl, AMI_C)
    calls = len(ec2.calls(CREATE))
    quiet_for(ec2, 4)
    assert len(ec2.calls(CREATE)) == calls
    assert status(kubectl, "killed")["phase"] == "Available"
