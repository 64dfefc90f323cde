"""Export mode at its limits: AWS's store capacity, our own cap, crashes, retries, IAM.

The simulator enforces AWS's in-progress capacity (refusing with ResourceLimitExceeded),
hides new tasks for a moment (EC2 is eventually consistent) and throttles
CreateStoreImageTask with its own bucket, which the operator is told to match.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-export"
CREATE = "CreateStoreImageTask"
ALLOW = ("--allow-create", "--allowed-buckets", "amis-*")
# The simulator's create bucket and the operator's: the same numbers, as in production.
CREATE_BUDGET = ("--ec2-create-rate", "2", "--ec2-create-burst", "10")
GRACE = 20.0  # AMISTORE_EXPORT_GRACE in these tests (10 minutes in production)
WAIT = 180.0


def amis(prefix: str, count: int) -> list[str]:
    return [f"ami-{prefix}{n:06x}" for n in range(count)]


def creates(ec2: control.Ec2SimControl) -> Counter[str]:
    """Creates AWS took, per AMI (DryRuns and refusals are not counted)."""
    done = [c for c in ec2.calls(CREATE) if c["status"] == 200]
    return Counter(str(c["params"].get("ImageId")) for c in done)


def refusals(ec2: control.Ec2SimControl, code: str) -> list[control.CallInfo]:
    return [c for c in ec2.calls(CREATE) if c["error_code"] == code]


def quiet_for(ec2: control.Ec2SimControl, intervals: int) -> None:
    """Wait until the operator has polled ``intervals`` more times (describe calls)."""
    seen = len(ec2.calls("DescribeStoreImageTasks"))
    harness.wait_until(
        lambda: len(ec2.calls("DescribeStoreImageTasks")) >= seen + intervals,
        timeout=WAIT,
        what=f"{intervals} more polls",
        interval=POLL_INTERVAL / 2,
    )


def sim_setup(ec2: control.Ec2SimControl, ami_ids: list[str], capacity_tasks: int) -> None:
    ec2.register_amis(ami_ids)
    ec2.configure(
        create_duration_seconds=3,
        store_capacity_gb=60 * capacity_tasks,
        ami_size_gb=60,
        visibility_delay_seconds=3,
    )
    ec2.set_throttle(CREATE, burst=10, rate=2)


def completed(kubectl: harness.Kubectl, name: str) -> bool:
    return kubectl.status(name).get("state") == "Completed"


def test_fifty_amis_drain_through_aws_capacity_each_exported_once(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    images = amis("0c", 50)
    sim_setup(ec2, images, capacity_tasks=10)
    operator = start_operator(*ALLOW, *CREATE_BUDGET, "--max-concurrent-stores", "0")
    kubectl.apply(harness.amistore("fifty", imageIds=images, bucket=BUCKET, createTasks=True))
    harness.wait_until(
        lambda: completed(kubectl, "fifty"), timeout=WAIT, what="all 50 exported", interval=1
    )
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))
    refused = refusals(ec2, "ResourceLimitExceeded")
    assert refused, "AWS's capacity (10 at a time) never refused a create"
    # At most one refused create per interval for the region.
    times = sorted(c["time"] for c in refused)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= POLL_INTERVAL * 0.9 for gap in gaps), gaps
    assert refusals(ec2, "RequestLimitExceeded") == []
    metrics = operator.metrics()
    assert f'operation="{CREATE}",outcome="capacity"' in metrics
    assert f'operation="{CREATE}",outcome="dry_run"' in metrics
    reasons = Counter(e["reason"] for e in kubectl.events("fifty"))
    assert reasons["StoreRequested"] == 50
    assert reasons["StoreRequestFailed"] == 0
    # Steady: no create or refusal for several intervals after the queue drained.
    calls = len(ec2.calls(CREATE))
    quiet_for(ec2, 4)
    assert len(ec2.calls(CREATE)) == calls


def running_at_once(ec2: control.Ec2SimControl, duration: float) -> int:
    """How many tasks run now by the creates AWS took (each runs ``duration`` seconds)."""
    now = time.time()
    taken = [c["time"] for c in ec2.calls(CREATE) if c["status"] == 200]
    return sum(1 for t in taken if now - duration <= t <= now)


def apply_halves(kubectl: harness.Kubectl, images: list[str]) -> None:
    """Two AmiStores exporting ``images``: "left" the first half, "right" the rest."""
    half = len(images) // 2
    for name, part in (("left", images[:half]), ("right", images[half:])):
        kubectl.apply(harness.amistore(name, imageIds=part, bucket=BUCKET, createTasks=True))


def drain_both(ec2: control.Ec2SimControl, kubectl: harness.Kubectl, duration: float) -> int:
    """Until "left" and "right" completed; the most tasks (of ``duration``) running at once."""
    most = 0

    def drained() -> bool:
        nonlocal most
        most = max(most, running_at_once(ec2, duration))
        return completed(kubectl, "left") and completed(kubectl, "right")

    harness.wait_until(drained, timeout=WAIT, what="both AmiStores exported", interval=0.2)
    return most


def test_the_operators_own_cap_keeps_aws_from_ever_refusing(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    images = amis("0d", 16)
    sim_setup(ec2, images, capacity_tasks=10)
    start_operator(*ALLOW, *CREATE_BUDGET, "--max-concurrent-stores", "4")
    apply_halves(kubectl, images)
    most = drain_both(ec2, kubectl, 3.0)
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))
    assert refusals(ec2, "ResourceLimitExceeded") == []
    assert 1 <= most <= 4, most


def test_the_cap_holds_across_a_restart(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    images = amis("0e", 8)
    sim_setup(ec2, images, capacity_tasks=10)
    ec2.configure(create_duration_seconds=15)  # longer than a restart
    flags = (*ALLOW, *CREATE_BUDGET, "--max-concurrent-stores", "4")
    first = start_operator(*flags)
    apply_halves(kubectl, images)
    harness.wait_until(
        lambda: sum(creates(ec2).values()) >= 4, timeout=WAIT, what="four stores started"
    )
    first.stop()
    # The new process counts both AmiStores' stores from their statuses before either
    # is polled, so it starts nothing until one of the four finishes.
    start_operator(*flags)
    most = drain_both(ec2, kubectl, 15.0)
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))
    assert most == 4, most


@pytest.mark.parametrize("moment", ["before", "after"])
def test_sigkill_around_the_create_still_makes_exactly_one_task(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    moment: str,
) -> None:
    images = amis("0f" if moment == "before" else "1f", 3)
    sim_setup(ec2, images, capacity_tasks=10)
    env = {"AMISTORE_EXPORT_GRACE": str(GRACE)}
    if moment == "before":
        # One token: the DryRun takes it, so the recorded requests wait for a token the
        # operator never gets before it is killed: the status holds them, no call was made.
        first = start_operator(
            *ALLOW, "--ec2-create-rate", "0.001", "--ec2-create-burst", "1", env=env
        )
    else:
        first = start_operator(*ALLOW, *CREATE_BUDGET, env=env)
    kubectl.apply(harness.amistore("crash", imageIds=images, bucket=BUCKET, createTasks=True))

    def requested() -> bool:
        tasks = kubectl.status("crash").get("tasks", [])
        return len(tasks) == 3 and all(t.get("requestedTime") for t in tasks)

    harness.wait_until(requested, timeout=WAIT, what="the requests recorded", interval=0.2)
    if moment == "after":
        ec2.hold(CREATE)
        harness.wait_until(
            lambda: ec2.held().get(CREATE, 0) >= 1, timeout=WAIT, what="a create in flight"
        )
        first.stop(signal.SIGKILL)
        ec2.release(CREATE)  # AWS acts on the call its caller never hears back from
    else:
        quiet_for(ec2, 2)
        assert creates(ec2) == Counter()
        first.stop(signal.SIGKILL)
    killed_at = time.time()
    start_operator(*ALLOW, *CREATE_BUDGET, env=env)
    harness.wait_until(
        lambda: completed(kubectl, "crash"), timeout=WAIT, what="all exported", interval=0.5
    )
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))
    if moment == "before":
        # The restarted operator never calls for a request it did not record: it waits
        # out the grace from the request, then asks anew.
        first_create = min(c["time"] for c in ec2.calls(CREATE) if c["status"] == 200)
        assert first_create >= killed_at + GRACE / 2, first_create - killed_at
    # Past the grace of every request, and then some, nothing more.
    quiet_for(ec2, int(GRACE / POLL_INTERVAL) + 3)
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))


def test_a_failed_export_is_retried_once_per_annotation_value(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    (image,) = amis("2a", 1)
    sim_setup(ec2, [image], capacity_tasks=10)
    start_operator(*ALLOW, *CREATE_BUDGET)
    kubectl.apply(harness.amistore("retry", imageIds=[image], bucket=BUCKET, createTasks=True))
    harness.wait_until(lambda: creates(ec2)[image] == 1, timeout=WAIT, what="the first create")
    harness.wait_until(
        lambda: ec2.tasks() and ec2.tasks()[0]["visible"], timeout=WAIT, what="the task listed"
    )
    ec2.update_task(image, state="Failed", failure_reason="Access denied by the KMS key")

    def failed() -> bool:
        return kubectl.status("retry").get("state") == "Failed"

    harness.wait_until(failed, timeout=WAIT, what="the task Failed")
    quiet_for(ec2, 3)
    assert creates(ec2)[image] == 1  # never retried by itself

    def annotate(value: str) -> None:
        kubectl.run(
            "annotate",
            "amistore",
            "retry",
            f"amistore.io/retry-requested-at={value}",
            "--overwrite",
        )

    annotate("first")
    harness.wait_until(
        lambda: completed(kubectl, "retry"), timeout=WAIT, what="the retried export completed"
    )
    assert creates(ec2)[image] == 2
    assert kubectl.status("retry")["lastHandledRetryAt"] == "first"
    # The same value again, or time passing: nothing more.
    ec2.update_task(image, state="Failed", failure_reason="Access denied by the KMS key")
    harness.wait_until(failed, timeout=WAIT, what="the task Failed again")
    annotate("first")
    quiet_for(ec2, 4)
    assert creates(ec2)[image] == 2
    annotate("second")
    harness.wait_until(lambda: creates(ec2)[image] == 3, timeout=WAIT, what="the second retry")
    harness.wait_until(
        lambda: kubectl.status("retry").get("lastHandledRetryAt") == "second",
        timeout=WAIT,
        what="the second value recorded",
    )
    quiet_for(ec2, 3)
    assert creates(ec2)[image] == 3


@pytest.mark.expect_operator_errors("none: AccessDenied is logged as a warning")
def test_export_ready_recovers_once_iam_allows_the_create(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    images = amis("3b", 2)
    sim_setup(ec2, images, capacity_tasks=10)
    ec2.inject_fault("UnauthorizedOperation", action=CREATE)
    start_operator(*ALLOW, *CREATE_BUDGET)
    kubectl.apply(harness.amistore("iam", imageIds=images, bucket=BUCKET, createTasks=True))

    def ready() -> tuple[str, str]:
        found = fs.condition(kubectl.status("iam"), "ExportReady")
        return (found.get("status", ""), found.get("reason", ""))

    harness.wait_until(
        lambda: ready() == ("False", "AccessDenied"), timeout=WAIT, what="AccessDenied"
    )
    assert (
        "ec2:CreateStoreImageTask" in fs.condition(kubectl.status("iam"), "ExportReady")["message"]
    )
    quiet_for(ec2, 3)
    assert creates(ec2) == Counter()
    ec2.clear_faults(CREATE)
    # Checked again within ten intervals, without a restart.
    harness.wait_until(
        lambda: ready() == ("True", "Ready"),
        timeout=12 * POLL_INTERVAL + 10,
        what="ExportReady recovered",
    )
    harness.wait_until(
        lambda: completed(kubectl, "iam"), timeout=WAIT, what="exported after the fix"
    )
    assert creates(ec2) == Counter(dict.fromkeys(images, 1))


def test_a_create_refused_for_good_fails_the_task_until_fixed_and_retried(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    (image,) = amis("4c", 1)
    sim_setup(ec2, [image], capacity_tasks=10)
    ec2.set_bucket_regions({BUCKET: "ap-southeast-2"})  # not the region the AmiStore polls
    operator = start_operator(*ALLOW, *CREATE_BUDGET)
    kubectl.apply(harness.amistore("elsewhere", imageIds=[image], bucket=BUCKET, createTasks=True))
    # What a user runs: kubectl wait ends on the Failed condition.
    kubectl.run("wait", "--for=condition=Failed", "amistore/elsewhere", "--timeout=60s")
    status = kubectl.status("elsewhere")
    (task,) = status["tasks"]
    assert task["state"] == "Failed"
    assert task["failureReason"].startswith("InvalidParameter: The S3 bucket amis-export is in")
    ready = fs.condition(status, "ExportReady")
    assert ready["reason"] == "Ready"  # IAM allows; AWS refused this one
    assert f'operation="{CREATE}",outcome="client_error"' in operator.metrics()
    quiet_for(ec2, 4)
    assert len(refusals(ec2, "InvalidParameter")) == 1  # never repeated by itself
    warnings = [e for e in kubectl.events("elsewhere") if e["reason"] == "StoreRequestFailed"]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert "InvalidParameter" in warnings[0]["message"]
    # The admin moves the bucket (here: the simulator's map), the user asks for a retry.
    ec2.set_bucket_regions({BUCKET: status["region"]})
    kubectl.run(
        "annotate", "amistore", "elsewhere", "amistore.io/retry-requested-at=fixed", "--overwrite"
    )
    harness.wait_until(
        lambda: completed(kubectl, "elsewhere"), timeout=WAIT, what="exported after the fix"
    )
    assert creates(ec2) == Counter({image: 1})
    assert len(refusals(ec2, "InvalidParameter")) == 1
