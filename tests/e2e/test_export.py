"""Export mode end to end: the real operator creates store tasks, exactly once, if allowed."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-export"
AMIS = [f"ami-0e{n:06x}" for n in range(8)]
CREATE = "CreateStoreImageTask"
WAIT = 60.0
ALLOW = ("--allow-create", "--allowed-buckets", "amis-*")


def creates(ec2: control.Ec2SimControl) -> Counter[str]:
    """Successful creates per AMI (a DryRun answers 412 DryRunOperation, not counted)."""
    done = [c for c in ec2.calls(CREATE) if c["status"] == 200]
    return Counter(str(c["params"].get("ImageId")) for c in done)


def dry_runs(ec2: control.Ec2SimControl) -> int:
    return sum(1 for c in ec2.calls(CREATE) if c["error_code"] == "DryRunOperation")


def three_more_polls(ec2: control.Ec2SimControl, what: str = "three more polls") -> None:
    """Until the simulator logged three more calls than now: the operator polled on."""
    seen = len(ec2.calls())
    harness.wait_until(
        lambda: len(ec2.calls()) >= seen + 3,
        timeout=WAIT,
        what=what,
        interval=POLL_INTERVAL,
    )


def test_each_ami_is_exported_exactly_once_and_never_again(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.register_amis(AMIS)
    ec2.configure(create_duration_seconds=8)
    operator = start_operator(*ALLOW)
    kubectl.apply(
        harness.amistore(
            "export",
            imageIds=AMIS,
            bucket=BUCKET,
            createTasks=True,
            s3ObjectTags={"team": "infra"},
        )
    )
    seen_states: dict[str, list[str]] = {ami: [] for ami in AMIS}

    def completed() -> bool:
        status = kubectl.status("export")
        for task in status.get("tasks", []):
            states = seen_states[task["amiId"]]
            if not states or states[-1] != task["state"]:
                states.append(task["state"])
            if task["state"] == "Queued":
                assert task["requestedTime"]
        if status.get("tasks"):
            assert fs.condition(status, "ExportReady")["reason"] == "Ready"
        return status.get("state") == "Completed"

    harness.wait_until(completed, timeout=WAIT, what="every export completed", interval=0.1)
    # The status is the record: Queued (with its request time) first, then AWS's task.
    # A poll may land between InProgress and Completed or not, so either order of sightings
    # ending in Completed is fine, but Queued always comes first.
    for ami, states in seen_states.items():
        assert states[0] == "Queued", (ami, states)
        assert states[-1] == "Completed", (ami, states)
        assert set(states) <= {"Queued", "InProgress", "Completed"}, (ami, states)
    assert any("InProgress" in states for states in seen_states.values()), seen_states
    assert creates(ec2) == Counter(dict.fromkeys(AMIS, 1))
    assert dry_runs(ec2) == 1
    tagged = [c["params"] for c in ec2.calls(CREATE) if c["status"] == 200]
    assert all("team" in str(p) for p in tagged), tagged[:1]
    assert f'operation="{CREATE}",outcome="success"' in operator.metrics()
    reasons = [e["reason"] for e in kubectl.events("export")]
    assert reasons.count("StoreRequested") == len(AMIS)
    assert "RequestLimitExceeded" not in {c["error_code"] for c in ec2.calls()}

    # Steady state: no further create over several intervals, nor after a restart.
    three_more_polls(ec2)
    operator.stop()
    restarted = start_operator(*ALLOW)
    restarted.wait_ready()
    three_more_polls(ec2, "three polls after the restart")
    assert creates(ec2) == Counter(dict.fromkeys(AMIS, 1))
    assert kubectl.status("export")["state"] == "Completed"
    # The restarted operator checks IAM once more (DryRun), and creates nothing.
    assert f'operation="{CREATE}",outcome="success"' not in restarted.metrics()
    assert dry_runs(ec2) == 2


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ((), "CreateNotAllowed"),
        (("--allow-create", "--allowed-buckets", "other-*"), "BucketNotAllowed"),
        ((*ALLOW, "--create-namespaces", "ops"), "NamespaceNotAllowed"),
    ],
)
def test_a_refused_export_makes_no_call(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    flags: tuple[str, ...],
    reason: str,
) -> None:
    ec2.register_amis(AMIS[:2])
    start_operator(*flags)
    kubectl.apply(harness.amistore("refused", imageIds=AMIS[:2], bucket=BUCKET, createTasks=True))
    status = harness.wait_until(
        lambda: (s := kubectl.status("refused")).get("conditions") and s,
        timeout=WAIT,
        what="the first status",
    )
    ready = fs.condition(status, "ExportReady")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    three_more_polls(ec2)
    assert ec2.calls(CREATE) == []
    assert {t["state"] for t in kubectl.status("refused")["tasks"]} == {"Pending"}
