"""The Grafana dashboard: current schema, and every query returns data from a real Prometheus."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import conftest, prometheus, tools

DASHBOARD = tools.DEPLOY / "grafana" / "amistore-dashboard.json"
METRICS_DOC = tools.REPO / "docs" / "metrics.md"
METRICS = {
    "amistore_task_progress_percent", "amistore_task_state", "amistore_task_failure_info",
    "amistore_task_start_time_seconds", "amistore_task_info", "amistore_resource_synced",
    "amistore_ec2_requests_total", "amistore_ec2_request_duration_seconds_bucket",
    "amistore_poll_last_success_timestamp_seconds", "amistore_poll_effective_interval_seconds",
    "amistore_ec2_budget_tokens", "amistore_task_estimated_completion_timestamp_seconds",
    "amistore_task_last_progress_timestamp_seconds", "amistore_task_stalled",
    "amistore_export_queued", "amistore_task_object_bytes", "amistore_task_freed_snapshot_bytes",
    "amistore_restore_phase", "amistore_restore_progress_percent",
}  # fmt: skip
# The Restores row's panels: checked against fixed series (RESTORE_SERIES below), since the
# live sandbox of conftest.py restores nothing.
RESTORE_PANELS = {"Restores by phase", "Progress per restore", "Failed restores"}
# The price variables' documented defaults: AWS's published us-east-1 prices per GB-month,
# as of December 2026 (docs/metrics.md).
PRICES = {
    "snapshot_price": "0.05",
    "s3_standard_price": "0.023",
    "s3_standard_ia_price": "0.0125",
    "s3_onezone_ia_price": "0.01",
    "s3_glacier_ir_price": "0.004",
    "s3_glacier_price": "0.0036",
    "s3_deep_archive_price": "0.00099",
    "s3_intelligent_tiering_price": "0.023",
}
# What Grafana would put in: All for the multi-value variables, short windows for a 1 s scrape.
SUBSTITUTIONS = {
    "namespace": ".*",
    "region": ".*",
    "account": ".*",
    "__rate_interval": "10s",
    "__range": "1m",
    **PRICES,
}
GRAFANA_BUILTINS = {"__rate_interval", "__range"}


def dashboard() -> dict[str, Any]:
    """The dashboard JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """The dashboard's panels that query, without its row headers."""
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def targets() -> list[tuple[str, str]]:
    """(panel title + refId, expr) of every query in the dashboard."""
    return [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in panels()
        for target in panel["targets"]
    ]


def panel_expr(title: str) -> str:
    """The query of the panel with this title (its only one)."""
    (expr,) = [expr for where, expr in targets() if where.split("/")[0] == title]
    return expr


def used_variables(expr: str) -> set[str]:
    """The variables a query refers to, as `$name` or `${name}`."""
    return set(re.findall(r"\$\{?(\w+)", expr))


def substitute(expr: str, **values: str) -> str:
    """The query as Grafana would send it: the default variable values, else `values`."""
    table = {**SUBSTITUTIONS, **values}
    expr = re.sub(r"\$\{?(\w+)\}?", lambda match: table[match[1]], expr)
    assert "$" not in expr, expr
    return expr


def test_dashboard_has_current_grafana_structure() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"]
    assert board["title"]
    everything = board["panels"]
    assert len({panel["id"] for panel in everything}) == len(everything)
    for panel in everything:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    for panel in panels():
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
        "Archived objects monthly cost", "Net monthly saving", *RESTORE_PANELS,
    } <= titles  # fmt: skip


def test_the_restores_row_heads_its_panels() -> None:
    board = dashboard()["panels"]
    [row] = [panel for panel in board if panel["type"] == "row"]
    assert row["title"] == "Restores"
    assert row["collapsed"] is False
    assert row["gridPos"]["w"] == 24
    # The row is the dashboard's last: below it only its own panels.
    below = {p["title"] for p in board if p["gridPos"]["y"] > row["gridPos"]["y"]}
    assert below == RESTORE_PANELS


@pytest.mark.parametrize(("where", "expr"), targets())
def test_queries_use_only_operator_metrics(where: str, expr: str) -> None:
    used = set(re.findall(r"\bamistore_\w+", expr))
    assert used, where
    assert used <= METRICS, where


def test_every_query_returns_data(prometheus_server: prometheus.PrometheusServer) -> None:
    # rate() needs two scrapes in its window: wait for them once, then every query must answer.
    prometheus_server.wait_for("count_over_time(amistore_ec2_requests_total[10s]) > 2")
    live = [(where, expr) for where, expr in targets() if where.split("/")[0] not in RESTORE_PANELS]
    empty = [where for where, expr in live if not prometheus_server.query(substitute(expr))]
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


def test_queries_use_only_defined_variables() -> None:
    defined = {variable["name"] for variable in dashboard()["templating"]["list"]}
    for where, expr in targets():
        assert used_variables(expr) - GRAFANA_BUILTINS <= defined, where


def test_price_variables_default_to_the_documented_prices() -> None:
    variables = {var["name"]: var for var in dashboard()["templating"]["list"]}
    priced = {var["name"] for var in variables.values() if var["type"] in {"textbox", "constant"}}
    assert priced == set(PRICES)
    used = set().union(*(used_variables(expr) for _, expr in targets()))
    section = METRICS_DOC.read_text().partition("\n## Dashboard\n")[2].partition("\n## ")[0]
    assert "December 2026" in section
    assert "upper bound" in section
    for name, price in PRICES.items():
        variable = variables[name]
        assert name in used, name
        assert variable["query"] == variable["current"]["value"] == price, name
        assert [option["value"] for option in variable["options"]] == [price], name
        assert f"${price} per GB-month, as of December 2026" in variable["description"], name
        rows = [line for line in section.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1, f"{name}: no row of its own in the docs' dashboard section"
        assert f"| {price} |" in rows[0], name


def test_savings_panels_say_they_are_upper_bounds() -> None:
    panels = {panel["title"]: panel for panel in dashboard()["panels"]}
    for title in ("Snapshot storage freed", "Net monthly saving"):
        assert "An upper bound" in panels[title]["description"], title
        assert "at most" in panels[title]["targets"][-1]["legendFormat"], title
    for title in ("Archived objects monthly cost", "Net monthly saving"):
        assert panels[title]["fieldConfig"]["defaults"]["unit"] == "currencyUSD", title


# Fixed series for the cost panels, one namespace per case: (namespace, storage class, GiB);
# storage class None is an AMI whose snapshots were deleted, with their full size.
GIB = 1 << 30
COST_SERIES = [
    ("two-classes", "STANDARD", 2),
    ("two-classes", "DEEP_ARCHIVE", 4),
    ("two-classes", "DEEP_ARCHIVE", 6),
    ("two-classes", None, 60),
    ("two-classes", None, 40),
    ("every-class", "STANDARD", 1),
    ("every-class", "STANDARD_IA", 2),
    ("every-class", "ONEZONE_IA", 3),
    ("every-class", "GLACIER_IR", 4),
    ("every-class", "GLACIER", 5),
    ("every-class", "DEEP_ARCHIVE", 6),
    ("every-class", "INTELLIGENT_TIERING", 7),
    ("every-class", "REDUCED_REDUNDANCY", 8),  # no variable of its own: the Standard price
    ("freed-only", None, 20),
]
# (namespace, S3 cost a month, net saving a month) at the default prices, worked by hand.
COST_CASES = [
    # 2 GiB x 0.023 + 10 GiB x 0.00099; 100 GiB x 0.05 - that.
    ("two-classes", 0.0559, 4.9441),
    # 1 x 0.023 + 2 x 0.0125 + 3 x 0.01 + 4 x 0.004 + 5 x 0.0036 + 6 x 0.00099 + 7 x 0.023
    # + 8 x 0.023; no snapshots freed.
    ("every-class", 0.46294, -0.46294),
    ("freed-only", 0.0, 1.0),  # 20 GiB x 0.05, no objects: 0, not "no data"
    ("no-such-namespace", 0.0, 0.0),
]
# The GiB each S3 price variable applies to in "every-class".
PRICED_GIB = {
    "s3_standard_price": 1 + 8,
    "s3_standard_ia_price": 2,
    "s3_onezone_ia_price": 3,
    "s3_glacier_ir_price": 4,
    "s3_glacier_price": 5,
    "s3_deep_archive_price": 6,
    "s3_intelligent_tiering_price": 7,
}


def cost_exposition() -> str:
    """COST_SERIES in the Prometheus text format, as the operator would publish them."""
    lines = []
    for number, (namespace, storage_class, gib) in enumerate(COST_SERIES):
        labels = (
            f'namespace="{namespace}",name="archive",ami_id="ami-{number:017x}",'
            'region="us-east-1",account="111111111111"'
        )
        if storage_class is None:
            lines.append(f"amistore_task_freed_snapshot_bytes{{{labels}}} {gib * GIB}")
        else:
            labels += f',storage_class="{storage_class}"'
            lines.append(f"amistore_task_object_bytes{{{labels}}} {gib * GIB}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def scraping(body: str, workdir: Path, first: str) -> Iterator[prometheus.PrometheusServer]:
    """A real Prometheus scraping `body` from a loopback endpoint until `first` has data."""
    encoded = body.encode()

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics) as endpoint:
        thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
        thread.start()
        server = prometheus.PrometheusServer(
            binary=tools.tool("prometheus"),
            workdir=workdir,
            scrape_url=f"http://127.0.0.1:{endpoint.server_address[1]}/metrics",
        )
        server.start()
        try:
            server.wait_for(first)  # one scrape brings every series
            yield server
        finally:
            server.stop()
            endpoint.shutdown()
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def priced_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[prometheus.PrometheusServer]:
    """A real Prometheus scraping COST_SERIES from a loopback endpoint, stopped at the end."""
    workdir = tmp_path_factory.mktemp("prometheus-prices")
    with scraping(cost_exposition(), workdir, "amistore_task_object_bytes") as server:
        yield server


def only_value(samples: list[prometheus.Sample]) -> float:
    """The value of the one sample a sum answers with."""
    assert len(samples) == 1, samples
    return float(samples[0]["value"][1])


@pytest.mark.parametrize(("namespace", "s3_cost", "net_saving"), COST_CASES)
def test_cost_panels_price_each_storage_class(
    priced_prometheus: prometheus.PrometheusServer,
    namespace: str,
    s3_cost: float,
    net_saving: float,
) -> None:
    cost = panel_expr("Archived objects monthly cost")
    net = panel_expr("Net monthly saving")
    got_cost = only_value(priced_prometheus.query(substitute(cost, namespace=namespace)))
    got_net = only_value(priced_prometheus.query(substitute(net, namespace=namespace)))
    assert got_cost == pytest.approx(s3_cost, rel=1e-9, abs=1e-12)
    assert got_net == pytest.approx(net_saving, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("variable", sorted(PRICED_GIB))
def test_each_price_variable_prices_its_storage_classes(
    priced_prometheus: prometheus.PrometheusServer, variable: str
) -> None:
    # Price one variable at $1 and the others at $0: the cost is then that variable's GiB.
    prices = {name: "1" if name == variable else "0" for name in PRICED_GIB}
    cost = panel_expr("Archived objects monthly cost")
    expr = substitute(cost, namespace="every-class", **prices)
    assert only_value(priced_prometheus.query(expr)) == PRICED_GIB[variable]


# Fixed AmiRestores for the Restores row, as the operator publishes them: one series per phase,
# 1 for the current one (namespace, name, region, account, phase, progress); account "" is
# the operator's own identity (Prometheus stores no empty label).
PHASES = ["Pending", "Thawing", "Restoring", "Available", "Failed"]
RESTORES = [
    ("team-a", "web", "eu-west-1", "", "Restoring", 40),
    ("team-a", "db", "eu-west-1", "111122223333", "Available", 100),
    ("team-b", "golden", "us-east-1", "", "Failed", 35),
    ("team-b", "cold", "us-east-1", "444455556666", "Thawing", 0),
]


def restore_exposition() -> str:
    """RESTORES in the Prometheus text format."""
    lines = []
    for namespace, name, region, account, phase, progress in RESTORES:
        labels = f'namespace="{namespace}",name="{name}",region="{region}",account="{account}"'
        lines.append(f"amistore_restore_progress_percent{{{labels}}} {progress}")
        for each in PHASES:
            value = 1 if each == phase else 0
            lines.append(f'amistore_restore_phase{{{labels},phase="{each}"}} {value}')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def restore_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[prometheus.PrometheusServer]:
    """A real Prometheus scraping RESTORES from a loopback endpoint, stopped at the end."""
    workdir = tmp_path_factory.mktemp("prometheus-restores")
    with scraping(restore_exposition(), workdir, "amistore_restore_phase") as server:
        yield server


def test_restores_by_phase_counts_each_phase(
    restore_prometheus: prometheus.PrometheusServer,
) -> None:
    samples = restore_prometheus.query(substitute(panel_expr("Restores by phase")))
    counts = {s["metric"]["phase"]: float(s["value"][1]) for s in samples}
    assert counts == {"Pending": 0, "Thawing": 1, "Restoring": 1, "Available": 1, "Failed": 1}
    team_a = restore_prometheus.query(
        substitute(panel_expr("Restores by phase"), namespace="team-a")
    )
    assert {s["metric"]["phase"]: float(s["value"][1]) for s in team_a} == {
        "Pending": 0, "Thawing": 0, "Restoring": 1, "Available": 1, "Failed": 0,
    }  # fmt: skip


def test_progress_per_restore_shows_each_restore(
    restore_prometheus: prometheus.PrometheusServer,
) -> None:
    samples = restore_prometheus.query(substitute(panel_expr("Progress per restore")))
    progress = {
        (s["metric"]["namespace"], s["metric"]["name"]): float(s["value"][1]) for s in samples
    }
    assert progress == {(r[0], r[1]): r[5] for r in RESTORES}
    account = restore_prometheus.query(
        substitute(panel_expr("Progress per restore"), account="111122223333")
    )
    assert [s["metric"]["name"] for s in account] == ["db"]


def test_failed_restores_lists_only_the_failed_one(
    restore_prometheus: prometheus.PrometheusServer,
) -> None:
    samples = restore_prometheus.query(substitute(panel_expr("Failed restores")))
    assert [s["metric"] for s in samples] == [
        {"namespace": "team-b", "name": "golden", "region": "us-east-1"}
    ]
    assert not restore_prometheus.query(
        substitute(panel_expr("Failed restores"), namespace="team-a")
    )
