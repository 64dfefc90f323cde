"""The CRD's cleanup rules (afterExport, its delay, the per-task cleanup status fields),
checked by the sandbox's schema, with defaults filled in first as the API server does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox.kubeapi import cel, schema

CRD = Path(__file__).resolve().parents[2] / "crds" / "amistores.amistore.io.yaml"
A = "ami-0123456789abcdef0"
LISTED = {"imageIds": [A], "bucket": "amis-prod"}
NEEDS = "afterExport other than Keep needs imageIds"
AT_MOST = "afterExport other than Keep allows at most 500 imageIds"


@pytest.fixture(scope="module")
def openapi() -> Any:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def defaulted(openapi: Any, spec: dict[str, Any]) -> dict[str, Any]:
    obj = {"spec": copy.deepcopy(spec)}
    schema.apply_defaults(obj, openapi)
    return obj


def errors(openapi: Any, spec: dict[str, Any]) -> list[str]:
    return [e.text() for e in schema.validate(defaulted(openapi, spec), openapi)]


def test_the_server_fills_in_keep_and_a_day(openapi: Any) -> None:
    assert defaulted(openapi, {})["spec"] == {
        "afterExport": "Keep",
        "afterExportDelaySeconds": 86400,
    }
    assert errors(openapi, {}) == []  # a whole-bucket listing keeps its AMIs: no rule bites


def test_every_rule_compiles(openapi: Any) -> None:
    rules = openapi["properties"]["spec"]["x-kubernetes-validations"]
    assert [cel.check_compiles(rule["rule"]) for rule in rules] == [None] * len(rules)
    assert schema.check_structural(openapi, "spec.validation.openAPIV3Schema") == []


@pytest.mark.parametrize("value", ["Keep", "Deregister", "DeregisterAndDeleteSnapshots"])
def test_cleanup_of_listed_amis_into_a_bucket_is_accepted(openapi: Any, value: str) -> None:
    assert errors(openapi, {**LISTED, "afterExport": value}) == []
    assert errors(openapi, {**LISTED, "afterExport": value, "afterExportDelaySeconds": 0}) == []
    many = {"imageIds": [f"ami-{i:08x}" for i in range(500)], "bucket": "amis-prod"}
    assert errors(openapi, {**many, "afterExport": value, "createTasks": True}) == []


def test_keep_needs_nothing_listed(openapi: Any) -> None:
    assert errors(openapi, {"afterExport": "Keep", "bucket": "amis-prod"}) == []
    assert errors(openapi, {"afterExport": "Keep", "taskStates": ["Completed"]}) == []
    assert errors(openapi, {"imageIds": [f"ami-{i:08x}" for i in range(501)]}) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"afterExport": "Deregister"}, NEEDS),
        ({"afterExport": "Deregister", "bucket": "amis-prod"}, NEEDS),
        ({"afterExport": "Deregister", "bucket": "amis-prod", "imageIds": []}, NEEDS),
        ({"afterExport": "DeregisterAndDeleteSnapshots", "imageIds": [A]}, NEEDS),
        ({"afterExport": "Deregister", "taskStates": ["Completed"], "bucket": "b-1"}, NEEDS),
        (
            {
                "afterExport": "DeregisterAndDeleteSnapshots",
                "bucket": "amis-prod",
                "imageIds": [f"ami-{i:08x}" for i in range(501)],
            },
            AT_MOST,
        ),
        ({**LISTED, "afterExport": "Delete"}, 'Unsupported value: "Delete"'),
        ({**LISTED, "afterExport": "keep"}, 'Unsupported value: "keep"'),
        ({**LISTED, "afterExportDelaySeconds": -1}, "greater than or equal to 0"),
        ({**LISTED, "afterExportDelaySeconds": 2592001}, "less than or equal to 2592000"),
        ({**LISTED, "afterExportDelaySeconds": "1d"}, "must be of type integer"),
    ],
)
def test_cleanup_mistakes_are_refused_with_a_clear_message(
    openapi: Any, spec: dict[str, Any], expected: str
) -> None:
    found = errors(openapi, spec)
    assert any(expected in text for text in found), found


def test_the_cleanup_messages_say_what_to_change(openapi: Any) -> None:
    found = errors(openapi, {"afterExport": "Deregister", "imageIds": [A]})
    assert found == [
        "spec: Invalid value: afterExport other than Keep needs imageIds (the AMIs to clean up, "
        "never every AMI exported to a bucket) and bucket (where their objects are verified)"
    ]


def test_cleanup_entries_are_valid_status(openapi: Any) -> None:
    entries = [
        {"amiId": A, "state": "Completed", "cleanupState": "Waiting"},
        {"amiId": A, "state": "Completed", "cleanupState": "Blocked", "cleanupReason": "in use"},
        {"amiId": A, "state": "Completed", "cleanupState": "Deregistering"},
        {
            "amiId": A,
            "state": "Completed",
            "cleanupState": "Deregistered",
            "deregisteredTime": "2026-01-01T00:00:00Z",
            "freedSnapshotBytes": 8589934592,
        },
        {"amiId": A, "state": "Completed", "cleanupState": "Gone", "freedSnapshotBytes": 0},
    ]
    for entry in entries:
        assert schema.validate({"status": {"tasks": [entry]}}, openapi) == [], entry
    # Nothing the cleanup writes is pruned by the schema.
    status = {"status": {"tasks": copy.deepcopy(entries)}}
    assert schema.prune(status, openapi) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("cleanupState", "Archived", 'Unsupported value: "Archived"'),
        ("cleanupReason", "x" * 1025, "may not be more than 1024"),
        ("freedSnapshotBytes", -1, "greater than or equal to 0"),
        ("deregisteredTime", 5, "must be of type string"),
    ],
)
def test_cleanup_entry_mistakes_are_refused(
    openapi: Any, field: str, value: Any, expected: str
) -> None:
    entry = {"amiId": A, "state": "Completed", field: value}
    found = [e.text() for e in schema.validate({"status": {"tasks": [entry]}}, openapi)]
    assert any(expected in text for text in found), found
