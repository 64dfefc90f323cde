"""The operator process: SIGKILL mid-poll, SIGTERM mid-call, ports taken, bad settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e
launch = fs.launch

DONE = [fs.ami(0xD000 + i) for i in range(100)]
BUSY = fs.ami(0xDB00)


def test_sigkill_mid_poll_then_restart_regresses_nothing_and_does_not_burst(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_tasks(
        [{"ami_id": a, "bucket": fs.BUCKET, "progress": 100, "state": "Completed"} for a in DONE]
        + [{"ami_id": BUSY, "bucket": fs.BUCKET, "duration_seconds": 3600}]
    )
    first = start_operator()
    kubectl.apply(harness.amistore("fleet", imageIds=[*DONE, BUSY]))
    before = harness.wait_until(
        lambda: (s := kubectl.status("fleet")).get("tasksCompleted") == 100 and s,
        timeout=fs.WAIT,
        what="100 Completed",
    )
    # Every task change of the first process posted (100 completed, 1 started), or the kill
    # can come before they land.
    events_before = len(fs.wait_task_events(kubectl, "fleet", 101))
    # Hold the next call in the simulator and kill while it is provably in flight.
    seq = fs.last_seq(ec2)
    ec2.hold(fs.DESCRIBE)
    harness.wait_until(
        lambda: ec2.held().get(fs.DESCRIBE, 0) >= 1,
        timeout=fs.WAIT,
        what="a DescribeStoreImageTasks call held in flight",
    )
    first.kill()
    released = ec2.release()
    assert released >= 1
    # The held calls are answered (to a dead socket) and logged before the restart.
    fs.wait_calls(ec2, released, since_seq=seq)

    seq = fs.last_seq(ec2)
    second = start_operator()
    calls = fs.wait_calls(ec2, 1, since_seq=seq)
    # Two intervals after its first call: the restarted operator's first steps.
    window_end = calls[0]["time"] + 2 * POLL_INTERVAL
    harness.wait_until(
        lambda: time.time() > window_end + 1, timeout=10, what="two intervals to pass"
    )
    early = [c for c in ec2.calls(fs.DESCRIBE) if c["seq"] > seq and c["time"] <= window_end]
    rechecked = {i for c in early for i in c["params"].get("ImageIds", [])} & set(DONE)
    # Terminal tasks are re-checked spread over about 10 intervals, not all at once (that
    # would be all 100 in five calls now); the in-progress one is polled at once.
    assert len(rechecked) < 50, len(rechecked)
    # By its ID or by the listing of every running task, which finds it.
    assert any(BUSY in c["params"].get("ImageIds", []) or fs.lists_in_progress(c) for c in early), [
        c["params"] for c in early
    ]
    after = kubectl.status("fleet")
    fs.assert_not_regressed(before, after)
    assert after["tasksCompleted"] == 100
    assert fs.condition(after, "Synced") == fs.condition(before, "Synced")
    assert len(kubectl.events("fleet")) == events_before
    assert second.process.poll() is None


def test_sigterm_during_a_slow_call_exits_cleanly_within_ten_seconds(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(BUSY, fs.BUCKET, duration_seconds=3600)
    operator = start_operator()
    kubectl.apply(harness.amistore("busy", imageIds=[BUSY]))
    harness.wait_until(
        lambda: kubectl.status("busy").get("state") == "InProgress",
        timeout=fs.WAIT,
        what="InProgress",
    )
    seq = fs.last_seq(ec2)
    ec2.inject_fault("delay", fs.DESCRIBE, delay_seconds=15)
    # Evidence a call is hanging: the next poll is due and no answer is logged yet.
    harness.wait_until(
        lambda: time.time() > ec2.calls(fs.DESCRIBE)[-1]["time"] + POLL_INTERVAL + 1,
        timeout=10,
        what="a poll to be overdue",
    )
    assert fs.last_seq(ec2) == seq
    started = time.monotonic()
    assert operator.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - started < 10
    assert "Traceback" not in operator.logs()


@pytest.mark.parametrize("flag", ["--metrics-port", "--liveness-port"])
def test_port_already_taken_is_one_clear_line(
    sandbox: cluster.Sandbox, launch: fs.Launcher, flag: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        operator = launch(flag, str(port), wait=False)
        code = operator.process.wait(timeout=60)
    output = operator.logs()
    assert code == 1
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    expected = f"amistore-operator: error: {flag} {port}: cannot listen (Address already in use)"
    assert errors == [expected]
    assert "Traceback" not in output


BAD_SETTINGS = [
    (["--poll-interval", "0"], {}, "--poll-interval"),
    (["--log-format", "xml"], {}, "--log-format"),
    (["--namespace", "Not_A_Namespace"], {}, "--namespace"),
    (["--region", "moon"], {}, "--region"),
    (["--ec2-burst", "lots"], {}, "--ec2-burst"),
    (["--no-such-flag"], {}, "--no-such-flag"),
    ([], {"AMISTORE_EC2_RATE": "fast"}, "AMISTORE_EC2_RATE"),
    ([], {"AMISTORE_METRICS_PORT": "99999"}, "AMISTORE_METRICS_PORT"),
    ([], {"AMISTORE_EC2_READ_TIMEOUT": "-1"}, "AMISTORE_EC2_READ_TIMEOUT"),
    ([], {"AMISTORE_ALL_NAMESPACES": "maybe"}, "AMISTORE_ALL_NAMESPACES"),
    ([], {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "region"),
]


@pytest.mark.parametrize(("args", "env", "named"), BAD_SETTINGS)
def test_bad_flags_and_variables_are_one_clear_line(
    args: list[str], env: dict[str, str], named: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMISTORE_", "AWS_"))}
    result = subprocess.run(
        [sys.executable, "-m", "amistore_operator", *args],
        env={**clean, "AWS_REGION": "eu-west-1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("amistore-operator: error: ")
    assert named in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
