"""An AmiStore tracking more tasks than its status holds: no Event twice, a series per task.

The status keeps 500 task entries; a resource without ``imageIds`` tracks every
task of the region. Over several polls, after a change inside and past the cap,
and across a restart, an unchanged task never posts an Event, a change past the
cap posts exactly its one, nothing unchanged is written, and every task has
its metric series.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

NAME = "whole-region"
BUCKET = "amis-archive"
FINISHED = 599  # plus one in progress: 600 tasks, three listing pages of 200
QUIET_POLLS = 3
WAIT = 60
# Enough budget for a full listing every 2 s interval: the throttle is not under test here.
FAST = ("--ec2-rate", "10", "--ec2-burst", "50")


def listings(ec2: control.Ec2SimControl) -> int:
    """How many full listings (first pages) the operator has started since the log was cleared."""
    return sum(
        1
        for call in ec2.calls("DescribeStoreImageTasks")
        if "NextToken" not in call["params"] and "ImageIds" not in call["params"]
    )


def quiet_polls(ec2: control.Ec2SimControl) -> None:
    """Let QUIET_POLLS complete listings (and their reconciles) pass from now."""
    ec2.clear_calls()
    harness.wait_until(
        lambda: listings(ec2) > QUIET_POLLS,
        timeout=WAIT,
        what=f"{QUIET_POLLS} more listings",
    )


def task_series(operator: harness.OperatorProcess) -> dict[str, str]:
    """The current state of each task of the resource, from /metrics."""
    current: dict[str, str] = {}
    for line in operator.metrics().splitlines():
        if line.startswith("amistore_task_state{") and f'name="{NAME}"' in line:
            labels, value = line.rsplit(" ", 1)
            if float(value) == 1:
                fields = dict(
                    part.split("=", 1) for part in labels.split("{", 1)[1].rstrip("}").split(",")
                )
                current[fields["ami_id"].strip('"')] = fields["state"].strip('"')
    return current


def event_names(kubectl: harness.Kubectl) -> set[str]:
    """The Events posted about the AmiStore, by name (one per post)."""
    return {e["metadata"]["name"] for e in kubectl.events(NAME)}


def new_events(kubectl: harness.Kubectl, posted: set[str]) -> list[tuple[str, str]]:
    """Reason and message of each Event posted about the AmiStore but not in ``posted``."""
    return [
        (e["reason"], e["message"])
        for e in kubectl.events(NAME)
        if e["metadata"]["name"] not in posted
    ]


def omitted(operator: harness.OperatorProcess) -> float | None:
    for line in operator.metrics().splitlines():
        if line.startswith("amistore_task_series_omitted{") and f'name="{NAME}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_six_hundred_tasks_post_each_event_once_and_have_every_series(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    ec2.set_throttle(enabled=False)
    finished = ec2.bulk(
        FINISHED,
        bucket=BUCKET,
        first_id=0x10000,
        state="Completed",
        progress=100,
        started_seconds_ago=3600,
        spread_seconds=FINISHED * 60,
    )["ami_ids"]
    oldest = finished[-1]  # the last of a bulk started longest ago: far past the cap
    running = f"ami-{0x20000:017x}"
    ec2.create_task(running, BUCKET, progress=10)  # pinned: it moves only when told
    every = {*finished, running}

    operator = start_operator(*FAST)
    kubectl.apply(harness.amistore(NAME))
    harness.wait_until(
        lambda: kubectl.status(NAME).get("tasksTotal") == len(every),
        timeout=WAIT,
        what="the status to count every task",
    )
    status = kubectl.status(NAME)
    assert len(status["tasks"]) == 500
    assert oldest not in {t["amiId"] for t in status["tasks"]}
    # The first poll announces 600 tasks: at most 20 Events and one summary.
    harness.wait_until(
        lambda: any("more task changes" in e["message"] for e in kubectl.events(NAME)),
        timeout=WAIT,
        what="the first poll's summary Event",
    )
    posted = event_names(kubectl)
    assert len(posted) <= 21

    def settles(expected: list[tuple[str, str]], after: Callable[[], None] | None = None) -> None:
        """Over QUIET_POLLS polls from now: no status write, and only ``expected`` Events."""
        nonlocal posted
        api_requests.clear()
        if after is not None:
            after()
        quiet_polls(ec2)
        assert new_events(kubectl, posted) == expected
        assert api_requests.status_writes(NAME) == []
        posted = event_names(kubectl)

    # Steady: several polls, nothing posted, nothing written.
    settles([])

    # A task inside the cap moves: one write, no Event (no task changed state).
    ec2.update_task(running, progress=50)
    harness.wait_until(
        lambda: (
            next(
                t["progressPercentage"]
                for t in kubectl.status(NAME)["tasks"]
                if t["amiId"] == running
            )
            == 50
        ),
        timeout=WAIT,
        what="the new progress in the status",
    )
    settles([])

    # The oldest task, past the cap, fails: exactly its one Event, and nothing after it.
    ec2.update_task(oldest, state="Failed", failure_reason="Access Denied for bucket")
    harness.wait_until(
        lambda: kubectl.status(NAME).get("tasksFailed") == 1,
        timeout=WAIT,
        what="the failure past the cap to be counted",
    )
    harness.wait_until(
        lambda: event_names(kubectl) - posted, timeout=WAIT, what="the failure's Event"
    )
    settles([("StoreFailed", f"{oldest}: store task failed: Access Denied for bucket")])
    series = task_series(operator)
    assert set(series) == every  # a series for every task, not only the 500 in the status
    assert series[oldest] == "Failed"
    assert omitted(operator) == 0

    # A restart: the new process knows only the 500 entries of the status; it re-announces
    # nothing and writes nothing, even when it polls before STS names its own account.
    assert operator.stop() == 0

    def restart() -> None:
        ec2.hold("GetCallerIdentity")
        restarted = start_operator(*FAST)
        harness.wait_until(
            lambda: set(task_series(restarted)) == every,
            timeout=WAIT,
            what="the restarted operator's series for every task",
        )
        assert ec2.held().get("GetCallerIdentity", 0) >= 1  # polled with the account unknown
        ec2.release("GetCallerIdentity")

    settles([], after=restart)
