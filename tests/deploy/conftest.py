"""Fixtures for the deploy checks: rendered manifests, a metrics endpoint, a real Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import prometheus, tools
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control


@pytest.fixture(scope="session")
def render_tree() -> Path:
    """Root of the tree the kustomizations are rendered from."""
    return tools.REPO


@pytest.fixture(scope="session")
def base_objects(render_tree: Path) -> list[dict[str, Any]]:
    """Objects of `kubectl kustomize deploy/`."""
    return tools.kustomize(render_tree, "deploy")


@pytest.fixture(scope="session")
def overlay_objects(render_tree: Path) -> list[dict[str, Any]]:
    """Objects of `kubectl kustomize deploy/overlays/namespaced`."""
    return tools.kustomize(render_tree, "deploy/overlays/namespaced")


# Live AmiStores for the dashboard: a task in each state, and one AMI AWS rejects.
LIVE_TASKS: dict[str, dict[str, Any]] = {
    "ami-0d000000000000001": {"duration_seconds": 3600, "started_seconds_ago": 600},
    "ami-0d000000000000002": {"progress": 100, "state": "Completed"},
    "ami-0d000000000000003": {
        "progress": 35,
        "state": "Failed",
        "failure_reason": "Access Denied for bucket dash-bucket",
    },
}
PENDING_AMI = "ami-0d000000000000004"
STALLED_AMI = "ami-0d000000000000006"  # pinned at 0 % (no ETA): stalled after --stall-after
DEREGISTERED_AMI = "ami-0d000000000000005"
# Export mode: an AmiStore whose AMIs the operator exports itself (one DryRun, one create each).
EXPORT_AMISTORE = "archive"
EXPORT_AMIS = ["ami-0d000000000000007", "ami-0d000000000000008"]
EXPORT_BUCKET = "dash-archive"


@pytest.fixture(scope="session")
def operator_metrics_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """/metrics of the real operator in the sandbox, tracking live AmiStores in every state."""
    workdir = tmp_path_factory.mktemp("dashboard-sandbox")
    with cluster.running(workdir / "sandbox") as sandbox:
        kubectl = harness.Kubectl(sandbox.kubeconfig)
        kubectl.run("apply", "-k", str(tools.REPO / "crds"))
        kubectl.run("wait", "--for=condition=Established", "crd/amistores.amistore.io")
        ec2 = control.Ec2SimControl(sandbox.ec2_url)
        ec2.create_tasks(
            [{"ami_id": ami, "bucket": "dash-bucket", **spec} for ami, spec in LIVE_TASKS.items()]
        )
        ec2.create_task(STALLED_AMI, "dash-bucket", progress=0)
        ec2.register_amis([PENDING_AMI, DEREGISTERED_AMI, *EXPORT_AMIS])
        ec2.configure(create_duration_seconds=2)  # exports finish before the queries run
        ec2.deregister_amis([DEREGISTERED_AMI])
        operator = harness.OperatorProcess(
            sandbox.env(),
            [
                "--all-namespaces",
                "--poll-interval",
                "2",
                "--stall-after",
                "6",
                "--allow-create",
                "--allowed-buckets",
                EXPORT_BUCKET,
                "--allow-deregister",
            ],
            workdir / "operator.log",
        )
        try:
            operator.wait_ready()
            kubectl.apply(
                "\n---\n".join(
                    [
                        # Its live task moves a step every 36 s: not stalled within the hour.
                        harness.amistore(
                            "exports",
                            imageIds=[*LIVE_TASKS, PENDING_AMI],
                            stallAfterSeconds=3600,
                        ),
                        harness.amistore("stuck", imageIds=[STALLED_AMI]),
                        harness.amistore("gone", imageIds=[DEREGISTERED_AMI]),
                        harness.amistore(
                            EXPORT_AMISTORE,
                            imageIds=EXPORT_AMIS,
                            bucket=EXPORT_BUCKET,
                            createTasks=True,
                            verifyObjects=True,  # the Archived objects panel
                            # and the Snapshot storage freed panel
                            afterExport="DeregisterAndDeleteSnapshots",
                            afterExportDelaySeconds=0,
                            stallAfterSeconds=3600,
                        ),
                    ]
                )
            )
            harness.wait_until(
                lambda: (
                    "amistore_resource_synced{" in operator.metrics()
                    and 'state="Failed"} 1.0' in operator.metrics()
                    and f'ami_id="{STALLED_AMI}"' in _stalled(operator.metrics())
                    # Exported and finished: no InProgress task of its own in the ETA panel.
                    and kubectl.status(EXPORT_AMISTORE).get("state") == "Completed"
                    and "amistore_export_queued{" in operator.metrics()
                    and "amistore_task_object_bytes{" in operator.metrics()
                    and "amistore_task_freed_snapshot_bytes{" in operator.metrics()
                ),
                timeout=60,
                what="the operator to publish the live AmiStores",
            )
            yield f"http://127.0.0.1:{operator.metrics_port}/metrics"
        finally:
            operator.stop()


def _stalled(text: str) -> str:
    """The lines of the tasks the operator calls stalled."""
    lines = text.splitlines()
    return "\n".join(
        x for x in lines if x.startswith("amistore_task_stalled{") and x.endswith(" 1.0")
    )


@pytest.fixture(scope="session")
def prometheus_server(
    operator_metrics_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[prometheus.PrometheusServer]:
    """A real Prometheus scraping `operator_metrics_url` every second, stopped at the end."""
    server = prometheus.PrometheusServer(
        binary=tools.tool("prometheus"),
        workdir=tmp_path_factory.mktemp("prometheus"),
        scrape_url=operator_metrics_url,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
