"""The Grafana dashboard: current schema, and every query returns data from a real Prometheus."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy import conftest, prometheus, tools

DASHBOARD = tools.DEPLOY / "grafana" / "amistore-dashboard.json"
METRICS = {
    "amistore_task_progress_percent", "amistore_task_state", "amistore_task_failure_info",
    "amistore_task_start_time_seconds", "amistore_task_info", "amistore_resource_synced",
    "amistore_ec2_requests_total", "amistore_ec2_request_duration_seconds_bucket",
    "amistore_poll_last_success_timestamp_seconds", "amistore_poll_effective_interval_seconds",
    "amistore_ec2_budget_tokens", "amistore_task_estimated_completion_timestamp_seconds",
    "amistore_task_last_progress_timestamp_seconds", "amistore_task_stalled",
    "amistore_export_queued", "amistore_task_object_bytes", "amistore_task_freed_snapshot_bytes",
}  # fmt: skip
# What Grafana would put in: All for the multi-value variables, short windows for a 1 s scrape.
SUBSTITUTIONS = {
    "$namespace": ".*",
    "$region": ".*",
    "$account": ".*",
    "$__rate_interval": "10s",
    "$__range": "1m",
    "$snapshot_price": "0.05",
}


def dashboard() -> dict[str, Any]:
    """The dashboard JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def targets() -> list[tuple[str, str]]:
    """(panel title + refId, expr) of every query in the dashboard."""
    return [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in dashboard()["panels"]
        for target in panel["targets"]
    ]


def substitute(expr: str) -> str:
    """The query as Grafana would send it with the default variable values."""
    for variable in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(variable, SUBSTITUTIONS[variable])
    assert "$" not in expr, expr
    return expr


def test_dashboard_has_current_grafana_structure() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"]
    assert board["title"]
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        assert all(target["expr"] for target in panel["targets"])
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "region", "account"):
        assert variables[name]["type"] == "query"
        assert variables[name]["definition"].startswith("label_values(")
        assert variables[name]["query"]["query"] == variables[name]["definition"]


def test_panels_cover_the_brief() -> None:
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert {
        "Tasks by state", "Progress per task", "Failed tasks and reasons",
        "Time since last successful poll", "EC2 calls by outcome",
        "Effective poll interval vs EC2 budget", "Time remaining per task", "Stalled tasks",
        "Export queue", "Export creates by outcome", "Archived objects", "Snapshot storage freed",
    } <= titles  # fmt: skip


@pytest.mark.parametrize(("where", "expr"), targets())
def test_queries_use_only_operator_metrics(where: str, expr: str) -> None:
    used = set(re.findall(r"\bamistore_\w+", expr))
    assert used, where
    assert used <= METRICS, where


def test_every_query_returns_data(prometheus_server: prometheus.PrometheusServer) -> None:
    # rate() needs two scrapes in its window: wait for them once, then every query must answer.
    prometheus_server.wait_for("count_over_time(amistore_ec2_requests_total[10s]) > 2")
    empty = [where for where, expr in targets() if not prometheus_server.query(substitute(expr))]
    assert not empty, f"queries without data: {empty}"


def test_failure_table_lists_reasons(prometheus_server: prometheus.PrometheusServer) -> None:
    expr = next(expr for where, expr in targets() if where.startswith("Failed tasks"))
    samples = prometheus_server.wait_for(substitute(expr))
    assert all(sample["metric"]["reason"] for sample in samples)


def test_variables_have_values(prometheus_server: prometheus.PrometheusServer) -> None:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
        assert match, variable["definition"]
        prometheus_server.wait_for(match[1])
        assert prometheus_server.label_values(match[2], match[1]), variable["name"]


def test_time_remaining_counts_down_to_the_estimate(
    prometheus_server: prometheus.PrometheusServer,
) -> None:
    # The live InProgress task is 10 minutes into its hour: about 50 minutes left.
    expr = next(expr for where, expr in targets() if where.startswith("Time remaining"))
    samples = prometheus_server.wait_for(substitute(expr))
    assert len(samples) == 1
    assert 40 * 60 < float(samples[0]["value"][1]) <= 55 * 60  # whole percents: a bit late


def test_time_remaining_says_overdue_below_zero() -> None:
    panel = next(p for p in dashboard()["panels"] if p["title"] == "Time remaining per task")
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert mapping["options"]["to"] == 0
    assert mapping["options"]["result"]["text"] == "overdue"


def test_stalled_tasks_lists_only_the_stuck_task(
    prometheus_server: prometheus.PrometheusServer,
) -> None:
    # The pinned task is stalled; the live one moves (and its AmiStore's threshold is an hour).
    expr = next(expr for where, expr in targets() if where.startswith("Stalled tasks"))
    samples = prometheus_server.wait_for(substitute(expr))
    assert [sample["metric"]["ami_id"] for sample in samples] == [conftest.STALLED_AMI]
    assert float(samples[0]["value"][1]) >= 6  # seconds since it last moved: the threshold


def test_export_queue_shows_only_export_amistores(
    prometheus_server: prometheus.PrometheusServer,
) -> None:
    # Only the AmiStore with createTasks has a queue; its AMIs all started, so it is drained.
    expr = next(expr for where, expr in targets() if where.startswith("Export queue"))
    samples = prometheus_server.wait_for(substitute(expr))
    assert [(s["metric"]["name"], float(s["value"][1])) for s in samples] == [
        (conftest.EXPORT_AMISTORE, 0.0)
    ]


def test_export_creates_by_outcome_counts_only_creates(
    prometheus_server: prometheus.PrometheusServer,
) -> None:
    # The DryRun preflight, then one create per AMI; describe calls are not in this panel.
    expr = next(expr for where, expr in targets() if where.startswith("Export creates"))
    samples = prometheus_server.wait_for(substitute(expr))
    assert {sample["metric"]["outcome"] for sample in samples} == {"dry_run", "success"}
    totals = prometheus_server.query(
        'sum by (outcome) (amistore_ec2_requests_total{operation="CreateStoreImageTask"})'
    )
    counts = {s["metric"]["outcome"]: float(s["value"][1]) for s in totals}
    assert counts["success"] == len(conftest.EXPORT_AMIS)  # each AMI exported once
    assert counts["dry_run"] >= 1
