"""Security: no credential, token or signature ever leaves the operator; /metrics only."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI = fs.ami(0xF001)
TOKEN = "FwoGZXIvYXdzEBaaSESSIONTOKENsandbox"


def test_no_secret_in_logs_events_status_or_metrics(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI, fs.BUCKET, duration_seconds=3600)
    # The most talkative the operator gets, with a session token in the chain too.
    operator = start_operator("--log-level", "debug", env={"AWS_SESSION_TOKEN": TOKEN})
    kubectl.apply(harness.amistore("secret", imageIds=[AMI]))
    fs.wait_synced(kubectl, "secret", "True")
    # Errors carry AWS's text and botocore's exceptions: the likeliest place for a leak.
    for kind in ("AuthFailure", "RequestExpired", "drop"):
        ec2.inject_fault(kind, fs.DESCRIBE)
        fs.wait_synced(kubectl, "secret", "False")
        ec2.clear_faults()
        fs.wait_synced(kubectl, "secret", "True", timeout=20)

    places = {
        "logs": operator.logs(),
        "events": kubectl.run("get", "events", "-o", "json").stdout,
        "status": kubectl.run("get", "amistore", "secret", "-o", "json").stdout,
        "metrics": operator.metrics(),
    }
    assert "SyncFailed" in places["events"]
    assert "DescribeStoreImageTasks" in places["metrics"]
    for where, text in places.items():
        for secret in (*fs.SECRETS, TOKEN):
            assert secret not in text, f"{secret!r} found in {where}"


NOT_METRICS = [
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/metrics/x"),
    ("GET", "/debug/pprof"),
    ("POST", "/metrics"),
]


def test_metrics_endpoint_serves_only_metrics(start_operator: OperatorFactory) -> None:
    operator = start_operator()
    assert operator.metrics().startswith("#")
    for method, path in NOT_METRICS:
        url = f"http://127.0.0.1:{operator.metrics_port}{path}"
        data = b"" if method == "POST" else None
        request = urllib.request.Request(url, method=method, data=data)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404, (method, path)
        assert "amistore_" not in refused.value.read().decode()
