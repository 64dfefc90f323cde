"""`python -m tests.sandbox.ec2sim` as a process: ready file, boto3 over HTTP, clean exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import boto3_client

ROOT = Path(__file__).resolve().parents[2]


def wait_for_file(
    path: Path, proc: subprocess.Popen[bytes], timeout: float = 15
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            data: dict[str, object] = json.loads(path.read_text())
            return data
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_runs_as_a_module_and_exits_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sandbox.ec2sim",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--no-throttle",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        info = wait_for_file(ready, proc)
        assert info["pid"] == proc.pid
        url = str(info["url"])
        assert url.startswith("http://127.0.0.1:")
        assert [p.name for p in tmp_path.iterdir()] == ["ready.json"]  # no temp file left

        control = Ec2SimControl(url)
        assert control.throttle()["enabled"] is False
        control.create_task("ami-12345678", "b", progress=5)
        # The way the operator reaches it: only AWS_ENDPOINT_URL_EC2 in the environment.
        os.environ["AWS_ENDPOINT_URL_EC2"] = url
        try:
            import boto3

            ec2 = boto3.client(
                "ec2",
                region_name="eu-west-1",
                aws_access_key_id="AKIASANDBOXEXAMPLE00",
                aws_secret_access_key="not-a-secret",
            )
            tasks = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
        finally:
            del os.environ["AWS_ENDPOINT_URL_EC2"]
        assert [(t["AmiId"], t["ProgressPercentage"]) for t in tasks] == [("ami-12345678", 5)]
        assert boto3_client(url).describe_store_image_tasks()["StoreImageTaskResults"]

        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
