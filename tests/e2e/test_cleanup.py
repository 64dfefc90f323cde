"""afterExport end to end: the real operator deregisters archived AMIs, guarded, via the sandbox."""

from __future__ import annotations

import pytest
from amistore_operator.core import timestamps

from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.e2e.test_verify import screen_of_status
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-archive"
FREE, OLD_TEMPLATE, PROTECTED, ELSEWHERE = (f"ami-0c{n:06x}" for n in range(4))
AMIS = [FREE, OLD_TEMPLATE, PROTECTED]
DEREGISTER = "DeregisterImage"
WAIT = 90.0


def entries(kubectl: harness.Kubectl, name: str = "archive") -> dict[str, dict[str, object]]:
    return {str(e["amiId"]): e for e in kubectl.status(name).get("tasks") or []}


def state_of(kubectl: harness.Kubectl, ami: str) -> object:
    return entries(kubectl).get(ami, {}).get("cleanupState")


def test_an_archive_is_deregistered_guarded_once_and_quiet_across_a_restart(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    sandbox: cluster.Sandbox,
) -> None:
    ec2.register_amis([*AMIS, ELSEWHERE])
    for ami in [*AMIS, ELSEWHERE]:
        ec2.create_task(ami, BUCKET, state="Completed", started_seconds_ago=600)
    ec2.set_snapshots(FREE, [8, 30])
    # The oldest of twelve versions names it: the default depth (newest 10) would miss it.
    template = ec2.add_launch_template([OLD_TEMPLATE, *([None] * 11)], name="web")
    ec2.set_protection(PROTECTED, "enabled")
    operator = start_operator("--allow-deregister")
    kubectl.apply(
        harness.amistore(
            "archive",
            imageIds=AMIS,
            bucket=BUCKET,
            afterExport="DeregisterAndDeleteSnapshots",
            afterExportDelaySeconds=0,
        )
    )
    kubectl.apply(harness.amistore("keeper", imageIds=[ELSEWHERE], bucket=BUCKET))

    harness.wait_until(
        lambda: state_of(kubectl, FREE) == "Deregistered", timeout=WAIT, what="FREE deregistered"
    )
    done = entries(kubectl)[FREE]
    assert done["freedSnapshotBytes"] == 38 * 2**30
    image = ec2.image(FREE)
    assert image["state"] == "deregistered"
    assert not any(snapshot["exists"] for snapshot in image["snapshots"])
    events = [e for e in kubectl.events("archive") if e["reason"] == "ImageDeregistered"]
    assert len(events) == 1
    assert "snapshots deleted" in events[0]["message"]
    harness.wait_until(
        lambda: (
            state_of(kubectl, OLD_TEMPLATE) == "Blocked"
            and state_of(kubectl, PROTECTED) == "Blocked"
        ),
        timeout=WAIT,
        what="the other two blocked",
    )
    found = entries(kubectl)
    assert str(found[OLD_TEMPLATE]["cleanupReason"]).startswith(
        "ImageInUse: used by ec2:LaunchTemplate"
    )
    assert str(found[PROTECTED]["cleanupReason"]).startswith("DeregistrationProtected: ")
    archived = next(c for c in kubectl.status("archive")["conditions"] if c["type"] == "Archived")
    assert archived["status"] == "False"
    assert archived["reason"] == "DeregistrationProtected"  # a person must act on it first
    blocked = [e for e in kubectl.events("archive") if e["reason"] == "CleanupBlocked"]
    assert len(blocked) == 2
    screen = screen_of_status(sandbox.kubeconfig, kubectl.namespace, "archive")
    assert "CLEANUP" in screen
    assert "Deregistered" in screen
    assert "Blocked: ImageInUse" in screen
    assert "Blocked: DeregistrationProtected" in screen

    # The template moves on (its old version deleted): the AMI proceeds by itself.
    ec2.remove_reference("launch-template", template)
    harness.wait_until(
        lambda: state_of(kubectl, OLD_TEMPLATE) == "Deregistered",
        timeout=WAIT + 10 * POLL_INTERVAL,
        what="the AMI freed of its template deregistered",
    )
    assert len(ec2.calls(DEREGISTER)) == 2  # FREE and OLD_TEMPLATE, once each

    # Across a restart: no second DeregisterImage, no Event, no ImageIds naming them.
    operator.stop()
    events_before = len(kubectl.events("archive"))
    seq = max(c["seq"] for c in ec2.calls())
    operator = start_operator("--allow-deregister")
    harness.wait_until(
        lambda: len([c for c in ec2.calls("DescribeStoreImageTasks") if c["seq"] > seq]) >= 4,
        timeout=WAIT,
        what="four polls of the restarted operator",
    )
    assert len(ec2.calls(DEREGISTER)) == 2
    named = {
        ami
        for c in ec2.calls("DescribeStoreImageTasks")
        if c["seq"] > seq
        for ami in c["params"].get("ImageIds", [])
    }
    assert not named & {FREE, OLD_TEMPLATE}
    assert len(kubectl.events("archive")) == events_before
    assert state_of(kubectl, PROTECTED) == "Blocked"
    assert ec2.image(ELSEWHERE)["state"] == "available"  # its AmiStore says Keep: untouched
    assert "Traceback" not in operator.logs()


def test_a_sigkill_while_deregister_image_is_in_flight_never_calls_it_twice(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.register_amis([FREE, ELSEWHERE])
    ec2.create_task(FREE, BUCKET, state="Completed", started_seconds_ago=600)
    ec2.create_task(ELSEWHERE, BUCKET, duration_seconds=3600)  # still exporting: polled on
    ec2.hold(DEREGISTER)
    first = start_operator("--allow-deregister")
    kubectl.apply(
        harness.amistore(
            "archive", imageIds=[FREE, ELSEWHERE], bucket=BUCKET, afterExport="Deregister",
            afterExportDelaySeconds=0,
        )
    )  # fmt: skip
    harness.wait_until(
        lambda: ec2.held().get(DEREGISTER, 0) >= 1,
        timeout=WAIT,
        what="a DeregisterImage held in flight",
    )
    assert state_of(kubectl, FREE) == "Deregistering"  # the mark was stored before the call
    first.kill()
    assert ec2.release() == 1  # AWS acts on it; the answer goes to a dead process
    harness.wait_until(
        lambda: ec2.image(FREE)["state"] == "deregistered", timeout=WAIT, what="AWS acted"
    )
    second = start_operator("--allow-deregister")
    harness.wait_until(
        lambda: state_of(kubectl, FREE) == "Deregistered",
        timeout=WAIT,
        what="the restarted operator to see it gone and record it",
    )
    assert len(ec2.calls(DEREGISTER)) == 1
    assert "freedSnapshotBytes" not in entries(kubectl)[FREE]  # the answer was lost
    seq = max(c["seq"] for c in ec2.calls())
    polls = harness.wait_until(
        lambda: [c for c in ec2.calls("DescribeStoreImageTasks") if c["seq"] > seq][2:],
        timeout=WAIT,
        what="three more polls",
    )
    assert len(ec2.calls(DEREGISTER)) == 1
    assert all(FREE not in c["params"].get("ImageIds", []) for c in polls)
    assert "Traceback" not in second.logs()


def test_a_namespace_not_allowed_then_a_missing_object_and_the_delay(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    missing, later = FREE, OLD_TEMPLATE
    ec2.register_amis([missing, later])
    for ami in (missing, later):
        ec2.create_task(ami, BUCKET, state="Completed", started_seconds_ago=600)
    delay = 15
    refused = start_operator("--allow-deregister", "--deregister-namespaces", "someone-else")
    kubectl.apply(
        harness.amistore(
            "archive", imageIds=[missing, later], bucket=BUCKET, afterExport="Deregister",
            afterExportDelaySeconds=delay,
        )
    )  # fmt: skip

    def reasons() -> list[str]:
        found = entries(kubectl)
        why = [str(found.get(a, {}).get("cleanupReason", "")) for a in (missing, later)]
        return [reason.split(":")[0] for reason in why]

    harness.wait_until(
        lambda: reasons() == ["DeregisterNotAllowed"] * 2, timeout=WAIT, what="both refused"
    )
    assert ec2.calls("DescribeImages") == []  # a refusal reads nothing of the image
    assert ec2.calls(DEREGISTER) == []
    refused.stop()

    ec2.delete_object(BUCKET, f"{missing}.bin")  # e.g. someone emptied the bucket meanwhile
    allowed = start_operator("--allow-deregister")
    harness.wait_until(
        lambda: state_of(kubectl, later) == "Deregistered", timeout=WAIT, what="deregistered"
    )
    harness.wait_until(
        lambda: reasons()[0] == "ObjectMissing", timeout=WAIT, what="the missing object blocks"
    )
    done = entries(kubectl)[later]
    verified = timestamps.parse_time(str(done["verifiedTime"]))
    deregistered = timestamps.parse_time(str(done["deregisteredTime"]))
    assert verified is not None
    assert deregistered is not None
    assert (deregistered - verified).total_seconds() >= delay
    assert len(ec2.calls(DEREGISTER)) == 1
    assert ec2.image(missing)["state"] == "available"
    assert "Traceback" not in refused.logs() + allowed.logs()
