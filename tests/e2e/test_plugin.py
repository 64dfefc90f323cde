"""``kubectl amistore`` (the plugin) through the real kubectl and a real kubeconfig.

Each watch ends in its exit code: 0 Complete, 1 a task Failed, 2 timeout, 3 any other error.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pexpect
import pytest
import yaml

from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox import cluster, tools
from tests.sandbox.ec2sim import control
from tests.sandbox.kubeapi import kubeconfig

pytestmark = pytest.mark.e2e

AMI_A = "ami-0a1b2c3d4e5f60718"
AMI_B = "ami-0b1b2c3d4e5f60718"
BUCKET = "acme-ami-archive"
REASON = "Access Denied for bucket acme-locked-bucket"
VENV_BIN = str(pathlib.Path(sys.executable).parent)
BAR = re.compile(r"(█*)░*\s+(\d+)%")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plugin_env(config: pathlib.Path | None, **extra: str) -> dict[str, str]:
    """The environment of a user with the plugin on PATH and this kubeconfig."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **extra}
    env.pop("KUBECONFIG", None)
    if config is not None:
        env["KUBECONFIG"] = str(config)
    return env


def amistore(
    config: pathlib.Path | None, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``kubectl amistore ARGS`` with stdout a pipe, as in CI."""
    return subprocess.run(
        [tools.kubectl_path(), "amistore", *args],
        env=plugin_env(config, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 3 and said why in one line, no traceback."""
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_list_and_status_show_bars_tasks_conditions_and_events(
    sandbox: cluster.Sandbox,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=100, state="Completed")
    ec2.create_task(AMI_B, BUCKET, progress=35, state="Failed", failure_reason=REASON)
    start_operator()
    kubectl.apply(harness.amistore("golden", imageIds=[AMI_A], bucket=BUCKET))
    kubectl.apply(harness.amistore("broken", imageIds=[AMI_B], bucket=BUCKET))
    harness.wait_until(
        lambda: (
            kubectl.status("broken").get("state") == "Failed"
            and kubectl.status("golden").get("state") == "Completed"
        ),
        timeout=30,
        what="both resources settled",
    )

    listed = amistore(sandbox.kubeconfig, "-n", kubectl.namespace, "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert listed.stdout.split()[:7] == [
        "NAME",
        "STATE",
        "PROGRESS",
        "COMPLETED",
        "ETA",
        "SYNCED",
        "AGE",
    ]
    assert rows["golden"][1:5] == ["Completed", "█" * 20, "100%", "1/1"]
    assert rows["broken"][1:5] == ["Failed", "███████░░░░░░░░░░░░░", "35%", "0/1"]
    assert rows["golden"][5] == "True"  # Synced; the ETA column is blank when finished

    everywhere = amistore(sandbox.kubeconfig, "list", "-A")
    assert everywhere.stdout.startswith("NAMESPACE")
    # Other tests' AmiStores may be listed too, and widen the NAMESPACE column.
    assert [kubectl.namespace, "golden"] in [
        line.split()[:2] for line in everywhere.stdout.splitlines()
    ]

    status = amistore(sandbox.kubeconfig, "-n", kubectl.namespace, "status", "broken")
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert re.search(r"State:\s+Failed", text)
    assert re.search(rf"{AMI_B}\s+Failed\s+███████░+\s+35%\s+{REASON}", text)
    assert re.search(rf"Failed\s+True\s+TasksFailed\s+{AMI_B}: {REASON}", text)
    assert re.search(r"Synced\s+True\s+Polled", text)
    assert re.search(rf"Warning\s+StoreFailed\s+\S+\s+{AMI_B}", text)
    assert "\x1b[" not in text  # no terminal, no escape codes


def test_watch_exits_0_on_complete_with_one_plain_line_per_change(
    sandbox: cluster.Sandbox,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
) -> None:
    ec2.create_task(AMI_A, BUCKET, duration_seconds=10)
    start_operator()
    kubectl.apply(harness.amistore("golden", imageIds=[AMI_A], bucket=BUCKET))

    result = amistore(sandbox.kubeconfig, "watch", "golden", "-n", kubectl.namespace)

    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[-1] == 'amistore "golden" is Complete'
    heads = [line for line in lines if re.match(r"\d\d:\d\d:\d\d golden ", line)]
    percents = [int(re.search(r" (\d+)% ", line).group(1)) for line in heads]  # type: ignore[union-attr]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert len(set(percents)) >= 3, heads  # it followed the progress, one line per change
    assert any(f"  {AMI_A} InProgress" in line for line in lines)
    assert "\x1b[" not in result.stdout


def test_watch_exits_1_on_a_failed_task_with_the_reason(
    sandbox: cluster.Sandbox,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
) -> None:
    ec2.create_task(AMI_B, BUCKET, duration_seconds=20, fail_at_percent=30, failure_reason=REASON)
    start_operator()
    kubectl.apply(harness.amistore("broken", imageIds=[AMI_B], bucket=BUCKET))

    result = amistore(sandbox.kubeconfig, "-n", kubectl.namespace, "watch", "broken")

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[-2:] == [
        'amistore "broken" has failed tasks:',
        f"  {AMI_B}: {REASON}",
    ]


def test_watch_exits_2_on_timeout_and_ignores_a_stale_complete(
    sandbox: cluster.Sandbox, kubectl: harness.Kubectl
) -> None:
    # No operator: the test writes the status itself, so "stale" is exact.
    kubectl.apply(harness.amistore("edited", imageIds=[AMI_A], bucket=BUCKET))
    complete = {
        "state": "Completed",
        "progressPercentage": 100,
        "tasksTotal": 1,
        "tasksCompleted": 1,
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Complete",
                "status": "True",
                "reason": "AllTasksCompleted",
                "message": "All 1 store tasks completed",
                "lastTransitionTime": "2026-11-27T04:00:00Z",
            }
        ],
    }
    patch = yaml.safe_dump({"status": complete})
    kubectl.run("patch", "amistore", "edited", "--subresource=status", "--type=merge", "-p", patch)
    ns = ["-n", kubectl.namespace]
    assert amistore(sandbox.kubeconfig, *ns, "watch", "edited").returncode == 0

    kubectl.run(
        "patch",
        "amistore",
        "edited",
        "--type=merge",
        "-p",
        f'{{"spec": {{"imageIds": ["{AMI_A}", "{AMI_B}"]}}}}',
    )
    assert kubectl.get("amistore", "edited")["metadata"]["generation"] == 2
    started = time.monotonic()
    result = amistore(sandbox.kubeconfig, *ns, "watch", "edited", "--timeout", "3s")
    took = time.monotonic() - started
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert 3 <= took < 15  # the timeout, plus starting kubectl and the plugin
    assert 'timed out waiting for amistore "edited" (state Completed, 100%)' in result.stderr

    # The operator catching up (observedGeneration 2) ends a running watch at once.
    watcher = subprocess.Popen(
        [tools.kubectl_path(), "amistore", *ns, "watch", "edited", "--timeout", "60s"],
        env=plugin_env(sandbox.kubeconfig),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[1:3] == ["edited", "Completed"]
        caught_up = yaml.safe_dump({"status": {**complete, "observedGeneration": 2}})
        kubectl.run(
            "patch", "amistore", "edited", "--subresource=status", "--type=merge", "-p", caught_up
        )
        assert watcher.wait(timeout=15) == 0
    finally:
        watcher.kill()
        watcher.wait()


def test_errors_are_one_line_and_exit_3(
    sandbox: cluster.Sandbox, kubectl: harness.Kubectl, tmp_path: pathlib.Path
) -> None:
    ns = ["-n", kubectl.namespace]
    missing = one_error_line(amistore(sandbox.kubeconfig, *ns, "watch", "nope"))
    assert missing == f'error: amistore "nope" not found in namespace "{kubectl.namespace}"'
    one_error_line(amistore(sandbox.kubeconfig, *ns, "status", "nope"))
    assert "--timeout" in one_error_line(
        amistore(sandbox.kubeconfig, "watch", "x", "--timeout", "soon")
    )
    assert "NAME" in one_error_line(amistore(sandbox.kubeconfig, "watch"))
    assert "-A" in one_error_line(amistore(sandbox.kubeconfig, "-A", "status", "x"))
    one_error_line(amistore(sandbox.kubeconfig, "frobnicate"))
    assert "kubeconfig" in one_error_line(amistore(tmp_path / "absent", "list"))
    assert "context" in one_error_line(amistore(sandbox.kubeconfig, "--context", "nope", "list"))

    closed = tmp_path / "closed"
    kubeconfig.write_kubeconfig(closed, f"http://127.0.0.1:{harness.free_port()}", None)
    unreachable = one_error_line(amistore(closed, "list"))
    assert unreachable.startswith("error: cannot reach the cluster at http://127.0.0.1:")

    helped = amistore(None, "--help")
    assert helped.returncode == 0
    assert "kubectl amistore -n NS list" in helped.stdout
    assert "not: kubectl -n NS amistore list" in helped.stdout


def test_missing_crd_is_one_line(tmp_path: pathlib.Path) -> None:
    ready = tmp_path / "ready"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sandbox.kubeapi", "--ready-file", str(ready)],
        cwd=harness.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        harness.wait_until(lambda: ready.exists() and ready.read_text(), timeout=30, what="ready")
        config = tmp_path / "kubeconfig"
        kubeconfig.write_kubeconfig(config, json.loads(ready.read_text())["url"], None)
        for args in (["list"], ["-A", "list"], ["watch", "x"]):
            line = one_error_line(amistore(config, *args))
            assert line == (
                "error: the server has no AmiStore resource type: "
                "is the CRD amistores.amistore.io installed?"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_kubeconfig_flags_and_context_namespace(
    sandbox: cluster.Sandbox, kubectl: harness.Kubectl, tmp_path: pathlib.Path
) -> None:
    kubectl.apply(harness.amistore("mine", imageIds=[AMI_A]))
    real = yaml.safe_load(sandbox.kubeconfig.read_text())
    config = tmp_path / "two-contexts"
    kubeconfig.write_kubeconfig(config, f"http://127.0.0.1:{harness.free_port()}", None)
    both = yaml.safe_load(config.read_text())
    # The sandbox's cluster and user as they are (a CA and a token on the real server).
    both["clusters"].append({"name": "real", "cluster": real["clusters"][0]["cluster"]})
    both["users"].append({"name": "real", "user": real["users"][0]["user"]})
    both["contexts"].append(
        {
            "name": "team",
            "context": {"cluster": "real", "user": "real", "namespace": kubectl.namespace},
        }
    )
    config.write_text(yaml.safe_dump(both))

    # --kubeconfig wins over KUBECONFIG; --context picks the context and its namespace.
    result = amistore(tmp_path / "absent", "--kubeconfig", str(config), "--context", "team", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == "mine"
    # The current context points at a closed port.
    one_error_line(amistore(config, "list"))


def test_watch_under_a_terminal_moves_the_bars(
    sandbox: cluster.Sandbox,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
) -> None:
    ec2.create_task(AMI_A, BUCKET, duration_seconds=12)
    start_operator()
    kubectl.apply(harness.amistore("golden", imageIds=[AMI_A], bucket=BUCKET))
    harness.wait_until(
        lambda: kubectl.status("golden").get("state") == "InProgress", timeout=30, what="start"
    )

    child = pexpect.spawn(
        tools.kubectl_path(),
        ["amistore", "-n", kubectl.namespace, "watch", "golden"],
        env=plugin_env(sandbox.kubeconfig, TERM="xterm-256color", COLUMNS="120"),
        encoding="utf-8",
        dimensions=(30, 120),
        timeout=60,
    )
    seen: list[tuple[int, int]] = []  # (filled cells, percent) of each frame's task bar
    while True:
        index = child.expect([rf"{AMI_A}\S*\s+\S*(InProgress|Completed)", pexpect.EOF])
        if index == 1:
            break
        child.expect(r"\d+%")
        frame = ANSI.sub("", child.before + child.after)
        match = BAR.search(frame)
        if match:
            seen.append((len(match.group(1)), int(match.group(2))))
    child.close()
    assert child.exitstatus == 0, child.before
    assert seen[-1] == (20, 100)
    cells = [filled for filled, _ in seen]
    assert cells == sorted(cells)
    assert len(set(cells)) >= 3, seen  # the bar grew on screen, redrawn in place
    assert "is Complete" in child.before


def test_no_color_flag_and_variable(sandbox: cluster.Sandbox, kubectl: harness.Kubectl) -> None:
    kubectl.apply(harness.amistore("plain", imageIds=[AMI_A]))
    ns = ["-n", kubectl.namespace]

    def on_terminal(*args: str, **extra: str) -> str:
        command = " ".join([tools.kubectl_path(), "amistore", *ns, "list", *args])
        output = pexpect.run(
            command,
            env=plugin_env(sandbox.kubeconfig, TERM="xterm-256color", **extra),
            encoding="utf-8",
            dimensions=(30, 150),
        )
        assert "plain" in output, output
        return str(output)

    assert "\x1b[" in on_terminal()  # a terminal gets colour
    assert "\x1b[" not in on_terminal("--no-color")
    assert "\x1b[" not in on_terminal(NO_COLOR="1")
