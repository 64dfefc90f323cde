"""Export where the poll interval is long compared with store tasks (issue 18's user story).

A new user tried two AmiStores with ``createTasks`` at ``pollIntervalSeconds`` 240 and
300 against store tasks of about a minute: one AMI listed by both, one whose export
fails. At 240 s every AMI was created twice; at 300 s nothing was ever created; every
AMI stayed ``Queued``. Here the same story runs with time scaled down, the real
operator, kubectl and boto3 against the sandbox: intervals of 40 s and 50 s, tasks of
3 s that EC2 lists only 3 s after their create, and the export grace scaled with them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.e2e.test_export import ALLOW, CREATE, creates, dry_runs
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-export"
INTERVALS = {"alpha": 40, "beta": 50}  # pollIntervalSeconds of each AmiStore
ONLY_ALPHA = fs.ami(0x18A1)
ONLY_BETA = fs.ami(0x18B1)
SHARED = fs.ami(0x18C1)  # listed by both AmiStores: one request, one task
FAILING = fs.ami(0x18F1)  # its task fails
IMAGES = {"alpha": [ONLY_ALPHA, SHARED], "beta": [ONLY_BETA, SHARED, FAILING]}
AMIS = [ONLY_ALPHA, ONLY_BETA, SHARED, FAILING]
TASK_SECONDS = 3.0  # the simulator's store tasks: the story's minute, scaled down
VISIBLE_AFTER = 3.0  # EC2's visibility delay for a new task
# The story's production grace (10 minutes against 240-300 s intervals), scaled the same
# way, so intervals of 40-50 s weigh on it as 240-300 s weigh on 600 s.
GRACE = 60
FIRST_CREATE = 15.0  # seconds from apply: at the first poll, not an interval later
# Seen late by at most this much past one interval: the grid's slack (5 s at these
# intervals), the status write, and this test's sampling.
LATE = 10.0
QUIET = 2 * max(INTERVALS.values())  # the steady-state window: two longer intervals
PAST = 5.0  # the window ends at a poll this far past it, so its writes have landed
FAILURE = "Access Denied for bucket amis-export"


@dataclasses.dataclass
class Sighting:
    """One state an AmiStore's status showed for an AMI, and when this test first saw it."""

    state: str
    at: float
    requested: bool


@dataclasses.dataclass
class Timeline:
    """What ``kubectl get amistores`` showed, per (AmiStore, AMI), in order."""

    kubectl: harness.Kubectl
    seen: dict[tuple[str, str], list[Sighting]] = dataclasses.field(default_factory=dict)

    def sample(self) -> dict[str, dict[str, Any]]:
        """Read both AmiStores with one ``kubectl get``; note every new state; their statuses."""
        out = self.kubectl.run("get", "amistores", "-o", "json").stdout
        now = time.time()
        statuses = {
            item["metadata"]["name"]: dict(item.get("status") or {})
            for item in json.loads(out)["items"]
        }
        for name, status in statuses.items():
            for task in status.get("tasks", []):
                states = self.seen.setdefault((name, task["amiId"]), [])
                if not states or states[-1].state != task["state"]:
                    states.append(Sighting(task["state"], now, bool(task.get("requestedTime"))))
        return statuses

    def settled(self) -> bool:
        """Whether every AMI of both AmiStores shows its final state."""
        self.sample()
        return all(
            (states := self.seen.get((name, ami))) and states[-1].state == final(ami)
            for name, images in IMAGES.items()
            for ami in images
        )


def final(ami: str) -> str:
    return "Failed" if ami == FAILING else "Completed"


def status_writes(sandbox: cluster.Sandbox, namespace: str) -> Counter[str]:
    """Status writes per AmiStore of the namespace, from the emulator's request log."""
    prefix = f"/namespaces/{namespace}/amistores/"
    return Counter(
        r["path"].split("/")[-2]
        for r in fs.request_log(sandbox.kube_url)
        if r["method"] in {"PATCH", "PUT"} and prefix in r["path"] and r["path"].endswith("/status")
    )


def created_at(ec2: control.Ec2SimControl) -> dict[str, float]:
    """When AWS took each AMI's create (its first, if there were more)."""
    taken: dict[str, float] = {}
    for call in ec2.calls(CREATE):
        if call["status"] == 200:
            taken.setdefault(str(call["params"].get("ImageId")), call["time"])
    return taken


def create_attempts(ec2: control.Ec2SimControl) -> int:
    """Every CreateStoreImageTask but a DryRun: taken, refused or failed."""
    return sum(1 for c in ec2.calls(CREATE) if c["error_code"] != "DryRunOperation")


def test_long_intervals_export_each_ami_once_promptly_and_then_stay_quiet(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    sandbox: cluster.Sandbox,
    namespace: str,
) -> None:
    ec2.register_amis(AMIS)
    ec2.configure(create_duration_seconds=TASK_SECONDS, visibility_delay_seconds=VISIBLE_AFTER)
    start_operator(*ALLOW, env={"AMISTORE_EXPORT_GRACE": str(GRACE)})
    timeline = Timeline(kubectl)
    applied_at = time.time()
    fs.apply_all(
        kubectl,
        [
            harness.amistore(
                name,
                imageIds=IMAGES[name],
                bucket=BUCKET,
                createTasks=True,
                pollIntervalSeconds=INTERVALS[name],
            )
            for name in IMAGES
        ],
    )

    # The first creates: at each AmiStore's first poll, not an interval later.
    def all_created() -> dict[str, float] | None:
        timeline.sample()
        taken = created_at(ec2)
        return taken if set(taken) == set(AMIS) else None

    try:
        taken = harness.wait_until(
            all_created, timeout=FIRST_CREATE + 15, what="a create for every AMI", interval=0.2
        )
    except AssertionError as exc:
        so_far = {ami: round(at - applied_at, 1) for ami, at in created_at(ec2).items()}
        raise AssertionError(f"{exc}; creates so far (s after apply): {so_far}") from None
    late = {ami: round(at - applied_at, 1) for ami, at in taken.items()}
    assert max(late.values()) <= FIRST_CREATE, late
    ec2.update_task(FAILING, state="Failed", failure_reason=FAILURE)
    ended = {ami: at + max(TASK_SECONDS, VISIBLE_AFTER) for ami, at in taken.items()}
    ended[FAILING] = time.time()

    # Every AMI leaves Queued, and shows its task's end within about one interval of it.
    harness.wait_until(
        timeline.settled,
        timeout=max(INTERVALS.values()) + LATE + 30,
        what="every AMI Completed, or Failed for the failing one",
        interval=0.5,
    )
    settled_at = time.time()
    print(f"\ncreates (s after apply): {late}")
    for (name, ami), states in sorted(timeline.seen.items()):
        shown = [(s.state, round(s.at - applied_at, 1), s.requested) for s in states]
        print(f"{name} {ami}: {shown}")
        # Forward only. Pending: a status before the export's decision, or (the shared AMI
        # in the AmiStore that did not record its request) no task listed yet.
        order = ["Pending", "Queued", "InProgress", final(ami)]
        ranks = [order.index(s.state) if s.state in order else -1 for s in states]
        assert min(ranks) >= 0, (name, ami, shown)
        assert ranks == sorted(ranks), (name, ami, shown)
        assert states[-1].state == final(ami), (name, ami, shown)
        seen_end = states[-1].at - ended[ami]
        assert seen_end <= INTERVALS[name] + LATE, (name, ami, round(seen_end, 1), shown)
    # One request per AMI across both AmiStores (the shared one recorded by one only), and
    # the AmiStore that recorded it showed it Queued with its requestedTime.
    requesters = Counter(
        ami
        for (_, ami), states in timeline.seen.items()
        if any(s.state == "Queued" and s.requested for s in states)
    )
    assert requesters == Counter(dict.fromkeys(AMIS, 1)), requesters
    statuses = timeline.sample()
    failed = next(t for t in statuses["beta"]["tasks"] if t["amiId"] == FAILING)
    assert FAILURE in failed.get("failureReason", ""), failed
    assert creates(ec2) == Counter(dict.fromkeys(AMIS, 1))
    assert create_attempts(ec2) == len(AMIS)
    assert dry_runs(ec2) == 1  # IAM asked once for the bucket, for both AmiStores

    # Steady state: no create and no status write for two more intervals of the longer
    # one, while the operator keeps polling (its last poll in the window well past them).
    before = {name: kubectl.get("amistore", name)["metadata"]["resourceVersion"] for name in IMAGES}
    writes = status_writes(sandbox, namespace) if sandbox.emulated else Counter()
    calls = len(ec2.calls(CREATE))  # DryRuns included
    seq = fs.last_seq(ec2)
    fs.wait_calls(
        ec2,
        1,
        since_seq=seq,
        where=lambda c: c["time"] >= settled_at + QUIET + PAST,
        timeout=QUIET + max(INTERVALS.values()) + fs.WAIT,
    )
    print(
        f"status writes until settled: {dict(writes)}; quiet for {time.time() - settled_at:.0f} s"
    )
    assert len(ec2.calls(CREATE)) == calls
    after = {name: kubectl.get("amistore", name)["metadata"]["resourceVersion"] for name in IMAGES}
    assert after == before
    if sandbox.emulated:
        assert status_writes(sandbox, namespace) == writes
    assert timeline.settled()
