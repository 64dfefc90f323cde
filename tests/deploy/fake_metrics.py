"""A loopback HTTP server serving realistic amistore_* exposition text (stand-in operator)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TASK_LABELS = ["namespace", "name", "ami_id", "region"]
STATES = ("InProgress", "Completed", "Failed", "Pending")
# (namespace, name, ami_id, region, state, progress, failure reason)
TASKS = [
    ("team-a", "nightly", "ami-0123456789abcdef0", "eu-west-1", "InProgress", 42, ""),
    ("team-a", "nightly", "ami-0123456789abcdef1", "eu-west-1", "Completed", 100, ""),
    ("team-a", "nightly", "ami-0123456789abcdef2", "eu-west-1", "Failed", 13, "AccessDenied"),
    ("team-b", "golden", "ami-12345678", "us-east-1", "Pending", 0, ""),
    ("team-b", "golden", "ami-87654321", "us-east-1", "InProgress", 7, ""),
    ("team-b", "golden", "ami-abcdef01", "us-east-1", "Failed", 55, "InternalError"),
]
REGIONS = ("eu-west-1", "us-east-1")


def build_registry() -> tuple[CollectorRegistry, Counter, Histogram]:
    """A registry holding one sample of every amistore_* metric the operator exposes."""
    registry = CollectorRegistry()
    progress = Gauge("amistore_task_progress_percent", "", TASK_LABELS, registry=registry)
    state = Gauge("amistore_task_state", "", [*TASK_LABELS, "state"], registry=registry)
    failure = Gauge("amistore_task_failure_info", "", [*TASK_LABELS, "reason"], registry=registry)
    start = Gauge("amistore_task_start_time_seconds", "", TASK_LABELS, registry=registry)
    info = Gauge(
        "amistore_task_info", "", [*TASK_LABELS, "bucket", "s3_object_key"], registry=registry
    )
    synced = Gauge(
        "amistore_resource_synced", "", ["namespace", "name", "region"], registry=registry
    )
    for index, (ns, name, ami, region, current, pct, reason) in enumerate(TASKS):
        labels = (ns, name, ami, region)
        progress.labels(*labels).set(pct)
        for each in STATES:
            state.labels(*labels, each).set(1 if each == current else 0)
        if current == "Failed":
            failure.labels(*labels, reason).set(1)
        if current != "Pending":
            start.labels(*labels).set(1_760_000_000 + 60 * index)
            info.labels(*labels, f"{ns}-amis", f"{ami}.bin").set(1)
    synced.labels("team-a", "nightly", "eu-west-1").set(1)
    synced.labels("team-b", "golden", "us-east-1").set(0)

    requests = Counter(
        "amistore_ec2_requests", "", ["region", "operation", "outcome"], registry=registry
    )
    duration = Histogram(
        "amistore_ec2_request_duration_seconds", "", ["region", "operation"], registry=registry
    )
    for name, value in (
        ("amistore_poll_last_success_timestamp_seconds", None),
        ("amistore_poll_effective_interval_seconds", 60.0),
        ("amistore_ec2_budget_tokens", 42.5),
    ):
        gauge = Gauge(name, "", ["region"], registry=registry)
        for region in REGIONS:
            if value is None:
                gauge.labels(region).set_to_current_time()
            else:
                gauge.labels(region).set(value)
    return registry, requests, duration


class MetricsServer:
    """Serves /metrics on 127.0.0.1; every scrape advances the counters like live traffic."""

    def __init__(self) -> None:
        self.registry, self._requests, self._duration = build_registry()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """URL of the metrics endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def render(self) -> bytes:
        """Advance the simulated traffic by one step and return the exposition text."""
        with self._lock:
            op = "DescribeStoreImageTasks"
            for region in REGIONS:
                self._requests.labels(region, op, "success").inc(3)
                self._requests.labels(region, op, "throttled").inc(1)
                self._duration.labels(region, op).observe(0.12)
                self._duration.labels(region, op).observe(0.8)
            self._requests.labels("us-east-1", op, "server_error").inc(1)
            return generate_latest(self.registry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = outer.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

        return Handler
