"""The PrometheusRule: promtool accepts it and its unit tests fire and stay quiet as meant."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import markdown, tools

ALERTS = {
    "AmiStoreTaskFailed",
    "AmiStoreTaskStalled",
    "AmiStorePollingFailing",
    "AmiStoreResourceNotSynced",
    "AmiStoreThrottled",
    "AmiStoreExportRefused",
    "AmiStoreCleanupBlocked",
    "AmiStoreOperatorDown",
    "AmiRestoreFailed",
}
RULE = tools.DEPLOY / "base" / "prometheusrule.yaml"
ALERTS_TEST = tools.FIXTURES / "alerts-test.yaml"
RUNBOOKS = "docs/metrics.md"  # every alert's runbook_url points at its heading here


def rules() -> list[dict[str, Any]]:
    """The alerting rules of the PrometheusRule."""
    spec = yaml.safe_load(RULE.read_text())["spec"]
    return [rule for group in spec["groups"] for rule in group["rules"]]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A temp dir with the rule spec as amistore-rules.yaml next to the promtool test file."""
    spec = yaml.safe_load(RULE.read_text())["spec"]
    (tmp_path / "amistore-rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copyfile(ALERTS_TEST, tmp_path / "alerts-test.yaml")
    return tmp_path


def test_promtool_check_rules(rules_dir: Path) -> None:
    result = tools.run(
        [tools.tool("promtool"), "check", "rules", "amistore-rules.yaml"], cwd=rules_dir
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_test_rules(rules_dir: Path) -> None:
    result = tools.run([tools.tool("promtool"), "test", "rules", "alerts-test.yaml"], cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == ALERTS
    assert quiet == ALERTS


def test_alerts_are_documented() -> None:
    assert {rule["alert"] for rule in rules()} == ALERTS
    for rule in rules():
        annotations = rule["annotations"]
        assert annotations["summary"]
        assert annotations["description"]
        anchor = "runbook-" + rule["alert"].lower()
        assert annotations["runbook_url"] == f"{markdown.BLOB}{RUNBOOKS}#{anchor}"
        assert markdown.blob_problem(RUNBOOKS, anchor) is None, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}


def test_alert_exprs_use_only_operator_metrics() -> None:
    allowed = {
        "amistore_task_failure_info", "amistore_task_state", "amistore_task_progress_percent",
        "amistore_poll_last_success_timestamp_seconds", "amistore_resource_synced",
        "amistore_poll_effective_interval_seconds",
        "amistore_task_last_progress_timestamp_seconds", "amistore_task_stalled",
        "amistore_ec2_requests_total", "amistore_task_cleanup_state", "amistore_restore_phase",
        "up",
    }  # fmt: skip
    for rule in rules():
        used = set(re.findall(r"\b(amistore_\w+|up)\{", rule["expr"]))
        used |= set(re.findall(r"\((amistore_\w+)\)", rule["expr"]))
        assert used, rule["alert"]
        assert used <= allowed, rule["alert"]
