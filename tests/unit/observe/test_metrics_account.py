"""The account label: on per-task series, amistore_resource_synced and the EC2 health metrics."""

from __future__ import annotations

import prometheus_client
from amistore_operator.observe import metrics

ACCOUNT = "111111111111"
TASK = {"amiId": "ami-0000000a", "state": "InProgress", "progressPercentage": 5}


def test_per_task_and_resource_series_carry_the_account() -> None:
    registry = prometheus_client.CollectorRegistry()
    collector = metrics.TaskCollector()
    registry.register(collector)
    collector.set_resource("ns", "store", "eu-west-1", [TASK], synced=True, account=ACCOUNT)
    resource = {"namespace": "ns", "name": "store", "region": "eu-west-1", "account": ACCOUNT}
    task = {**resource, "ami_id": "ami-0000000a"}
    assert registry.get_sample_value("amistore_task_progress_percent", task) == 5
    assert registry.get_sample_value("amistore_resource_synced", resource) == 1


def test_health_metrics_carry_the_account() -> None:
    registry = prometheus_client.CollectorRegistry()
    health = metrics.OperatorMetrics(registry)
    health.observe_ec2_call("eu-west-1", "DescribeStoreImageTasks", "throttled", 0.1, ACCOUNT)
    health.set_poll_success("eu-west-1", 5.0, ACCOUNT)
    health.set_effective_interval("eu-west-1", 60.0, ACCOUNT)
    health.set_budget("eu-west-1", 3.0, ACCOUNT)
    where = {"account": ACCOUNT, "region": "eu-west-1"}
    call = {**where, "operation": "DescribeStoreImageTasks"}
    get = registry.get_sample_value
    assert get("amistore_ec2_requests_total", {**call, "outcome": "throttled"}) == 1
    assert get("amistore_ec2_request_duration_seconds_count", call) == 1
    assert get("amistore_poll_last_success_timestamp_seconds", where) == 5
    assert get("amistore_poll_effective_interval_seconds", where) == 60
    assert get("amistore_ec2_budget_tokens", where) == 3
