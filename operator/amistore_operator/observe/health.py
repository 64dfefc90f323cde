"""The operator's health metrics: its EC2 calls, its polls and its request budget.

Registered on the registry handed in (``metrics.build_registry`` builds it).
"""

from __future__ import annotations

import prometheus_client

OUTCOMES = (
    "success",
    "throttled",
    "client_error",
    "server_error",
    "connection_error",
    "dry_run",
    "capacity",
)
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OperatorMetrics:
    """Operator-health metrics, registered on the given registry."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self._requests = prometheus_client.Counter(
            "amistore_ec2_requests",
            "HTTP attempts of EC2 API calls made by the operator (each retry counts), by "
            "outcome (success, throttled, client_error, server_error, connection_error; for "
            "CreateStoreImageTask also dry_run, a DryRun AWS allowed, and capacity, a create "
            "refused because AWS's store capacity is in use).",
            ("account", "region", "operation", "outcome"),
            registry=registry,
        )
        self._duration = prometheus_client.Histogram(
            "amistore_ec2_request_duration_seconds",
            "Seconds each HTTP attempt of an EC2 API call took, from sending the request to "
            "its response or error; each retry is observed on its own, and the wait for the "
            "client-side request budget is not included.",
            ("account", "region", "operation"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._s3_requests = prometheus_client.Counter(
            "amistore_s3_requests",
            "HTTP attempts of S3 API calls made by the operator (HeadObject, for "
            "verifyObjects; each retry counts), by outcome as for amistore_ec2_requests "
            "(a missing object is a client_error).",
            ("account", "region", "operation", "outcome"),
            registry=registry,
        )
        self._last_success = prometheus_client.Gauge(
            "amistore_poll_last_success_timestamp_seconds",
            "Unix time of the last successful DescribeStoreImageTasks poll in the region.",
            ("account", "region"),
            registry=registry,
        )
        self._interval = prometheus_client.Gauge(
            "amistore_poll_effective_interval_seconds",
            "Interval the poller actually achieves in the region; above the configured one "
            "when the EC2 request budget forces it to stretch.",
            ("account", "region"),
            registry=registry,
        )
        self._budget = prometheus_client.Gauge(
            "amistore_ec2_budget_tokens",
            "DescribeStoreImageTasks calls the operator may still make in the region now "
            "(its client-side token bucket, refilled at --ec2-rate up to --ec2-burst).",
            ("account", "region"),
            registry=registry,
        )

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        """Count one EC2 call of ``account`` ("": unknown) and record its duration."""
        self._requests.labels(account, region, operation, outcome).inc()
        self._duration.labels(account, region, operation).observe(seconds)

    def observe_s3_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        """Count one S3 call of ``account`` ("": unknown)."""
        self._s3_requests.labels(account, region, operation, outcome).inc()

    def set_poll_success(self, region: str, timestamp: float, account: str = "") -> None:
        """Record the Unix time of a successful poll of the account in the region."""
        self._last_success.labels(account, region).set(timestamp)

    def set_effective_interval(self, region: str, seconds: float, account: str = "") -> None:
        """Record the polling interval actually achieved for the account in the region."""
        self._interval.labels(account, region).set(seconds)

    def set_budget(self, region: str, tokens: float, account: str = "") -> None:
        """Record the level of the account's client-side request token bucket in the region."""
        self._budget.labels(account, region).set(tokens)
