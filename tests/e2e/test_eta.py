"""The ETA end to end: status, the wide column, the metric, the plugin, and no write of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox import cluster, tools
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI = fs.ami(0xE7A1)
QUEUED = 6.0  # seconds at 0%, as AWS queues a task
DURATION = 100.0  # then 0 to 100%, reported in uneven steps
STEPS = [4, 7, 13, 16, 22, 25, 31, 36, 40, 47, 52, 55, 63, 66, 71, 78, 82, 86, 93, 97]
QUIET_POLLS = 3
ETA_METRIC = "amistore_task_estimated_completion_timestamp_seconds"


def entry(status: dict[str, Any]) -> dict[str, Any]:
    return fs.task_entries(status).get(AMI, {})


def plugin_status(kubeconfig: Path, namespace: str, name: str) -> str:
    """``kubectl amistore status NAME``, as a user with the plugin on PATH runs it."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [tools.kubectl_path(), "amistore", "-n", namespace, "status", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_queued_task_in_uneven_steps_gets_a_sensible_eta_and_no_write_of_its_own(
    sandbox: cluster.Sandbox,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
) -> None:
    task = ec2.create_task(
        AMI, fs.BUCKET, duration_seconds=DURATION, queued_seconds=QUEUED, steps=STEPS
    )
    end = task["start_time"] + QUEUED + DURATION
    operator = start_operator()
    kubectl.apply(harness.amistore("eta", imageIds=[AMI], bucket=fs.BUCKET))
    fs.wait_status(
        kubectl,
        "eta",
        lambda s: entry(s).get("progressPercentage", 0) >= 30,
        "30% done",
        timeout=QUEUED + DURATION * 0.4 + fs.WAIT,
    )
    # Freeze it where the simulator has it, so that what follows reads one status.
    pinned = ec2.task(AMI)["progress"]
    ec2.update_task(AMI, progress=pinned)
    status = fs.wait_status(
        kubectl, "eta", lambda s: entry(s).get("progressPercentage") == pinned, "the pinned value"
    )
    estimate, moved = entry(status)["estimatedCompletionTime"], entry(status)["lastProgressTime"]
    assert status["estimatedCompletionTime"] == estimate  # the only running task
    # Measured on a queue and uneven steps at a 2 s interval, whole-second stamps and a
    # busy machine: within a fifth of the time left at the move, or three intervals.
    left = end - fs.unix(moved)
    assert abs(fs.unix(estimate) - end) <= max(0.2 * left, 3 * POLL_INTERVAL), (estimate, end)

    wide = kubectl.run("get", "amistores", "eta", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "ETA"
    assert wide[1].split()[-1] == estimate
    harness.wait_until(
        lambda: [v for _, v in fs.samples(operator.metrics(), ETA_METRIC)] == [fs.unix(estimate)],
        timeout=fs.WAIT,
        what="the ETA metric",
    )
    shown = plugin_status(sandbox.kubeconfig, kubectl.namespace, "eta")
    assert re.search(r"ETA:?\s+in \d+m?\d*s?", shown), shown

    # Polls that see no progress change write nothing, ETA included.
    fs.assert_quiet(kubectl, ec2, "eta", AMI, QUIET_POLLS)
    assert kubectl.status("eta") == status
