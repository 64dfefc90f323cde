"""The AmiRestore CRD: names, printer columns, and its spec and status rules, checked by the
sandbox's schema with defaults filled in first as the API server does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox.kubeapi import cel, schema

CRD = Path(__file__).resolve().parents[2] / "crds" / "amirestores.amistore.io.yaml"
MINIMAL = {"bucket": "amis-archive", "objectKey": "ami-0123456789abcdef0.bin"}
FULL = {
    **MINIMAL,
    "name": "web (restored 2026-01-02) [v1.2] O'Brien@team_a./x",
    "region": "eu-west-1",
    "account": "111122223333",
    "tags": {"team": "infra", "cost-center": "", "k" * 128: "v" * 256},
    "thaw": {"days": 7, "tier": "Bulk"},
    "pollIntervalSeconds": 300,
}
TAG_KEYS = "tags keys must be 1 to 128 characters and must not start with aws: or amistore.io/"


@pytest.fixture(scope="module")
def crd() -> Any:
    return yaml.safe_load(CRD.read_text())


@pytest.fixture(scope="module")
def openapi(crd: Any) -> Any:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def defaulted(openapi: Any, spec: dict[str, Any]) -> dict[str, Any]:
    obj = {"spec": copy.deepcopy(spec)}
    schema.apply_defaults(obj, openapi)
    return obj


def errors(openapi: Any, spec: dict[str, Any]) -> list[str]:
    return [e.text() for e in schema.validate(defaulted(openapi, spec), openapi)]


def test_names_follow_the_contract(crd: Any) -> None:
    assert crd["metadata"]["name"] == "amirestores.amistore.io"
    assert crd["spec"]["group"] == "amistore.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"] == {
        "kind": "AmiRestore",
        "listKind": "AmiRestoreList",
        "plural": "amirestores",
        "singular": "amirestore",
        "shortNames": ["amr"],
        "categories": ["aws"],
    }
    [version] = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_printer_columns_follow_the_contract(crd: Any) -> None:
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = [(c["name"], c["type"], c["jsonPath"]) for c in columns if "priority" not in c]
    assert shown == [
        ("Phase", "string", ".status.phase"),
        ("Image", "string", ".status.imageId"),
        ("Progress", "integer", ".status.progressPercentage"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    wide = [(c["name"], c["jsonPath"]) for c in columns if c.get("priority") == 1]
    assert wide == [
        ("Region", ".status.region"),
        ("Bucket", ".spec.bucket"),
        ("Key", ".spec.objectKey"),
        ("Account", ".status.account"),
        ("Synced", '.status.conditions[?(@.type=="Synced")].status'),
    ]


def test_the_schema_is_structural_and_every_rule_compiles(openapi: Any) -> None:
    assert schema.check_structural(openapi, "spec.validation.openAPIV3Schema") == []
    tags = openapi["properties"]["spec"]["properties"]["tags"]
    rules = [rule["rule"] for rule in tags["x-kubernetes-validations"]]
    assert [cel.check_compiles(rule) for rule in rules] == [None] * len(rules)


def test_a_minimal_and_a_full_restore_are_accepted(openapi: Any) -> None:
    assert errors(openapi, MINIMAL) == []
    assert errors(openapi, FULL) == []
    assert errors(openapi, {**MINIMAL, "objectKey": "ami-0123abcd.bin"}) == []
    for tier in ("Standard", "Bulk", "Expedited"):
        assert errors(openapi, {**MINIMAL, "thaw": {"days": 30000, "tier": tier}}) == []
    assert errors(openapi, {**MINIMAL, "tags": {f"k{i}": "v" for i in range(40)}}) == []


def test_thaw_tier_defaults_to_standard(openapi: Any) -> None:
    filled = defaulted(openapi, {**MINIMAL, "thaw": {"days": 1}})
    assert filled["spec"]["thaw"] == {"days": 1, "tier": "Standard"}
    assert defaulted(openapi, MINIMAL)["spec"] == MINIMAL  # no thaw is made up


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"objectKey": MINIMAL["objectKey"]}, "spec.bucket: Required value"),
        ({"bucket": "amis-archive"}, "spec.objectKey: Required value"),
        ({**MINIMAL, "bucket": "Amis_Archive"}, "spec.bucket in body should match"),
        ({**MINIMAL, "objectKey": "ami-0123.bin"}, "spec.objectKey in body should match"),
        ({**MINIMAL, "objectKey": "amis/ami-0123456789abcdef0.bin"}, "should match"),
        ({**MINIMAL, "objectKey": "ami-0123456789ABCDEF0.bin"}, "should match"),
        ({**MINIMAL, "objectKey": "ami-0123456789abcdef0"}, "should match"),
        ({**MINIMAL, "name": "ab"}, "spec.name in body should be at least 3 chars long"),
        ({**MINIMAL, "name": "a" * 129}, "spec.name: Too long"),
        ({**MINIMAL, "name": "web!prod"}, "spec.name in body should match"),
        ({**MINIMAL, "name": "web\nprod"}, "spec.name in body should match"),
        ({**MINIMAL, "region": "Europe"}, "spec.region in body should match"),
        ({**MINIMAL, "account": "1234"}, "spec.account in body should match"),
        ({**MINIMAL, "thaw": {"tier": "Bulk"}}, "spec.thaw.days: Required value"),
        ({**MINIMAL, "thaw": {}}, "spec.thaw.days: Required value"),
        ({**MINIMAL, "thaw": {"days": 0}}, "greater than or equal to 1"),
        ({**MINIMAL, "thaw": {"days": 30001}}, "less than or equal to 30000"),
        ({**MINIMAL, "thaw": {"days": 7, "tier": "Fast"}}, 'Unsupported value: "Fast"'),
        ({**MINIMAL, "thaw": {"days": 7, "tier": "bulk"}}, 'Unsupported value: "bulk"'),
        ({**MINIMAL, "tags": {"aws:x": "v"}}, TAG_KEYS),
        ({**MINIMAL, "tags": {"amistore.io/restore-uid": "u"}}, TAG_KEYS),
        ({**MINIMAL, "tags": {"": "v"}}, TAG_KEYS),
        ({**MINIMAL, "tags": {"k" * 129: "v"}}, TAG_KEYS),
        ({**MINIMAL, "tags": {"k": "v" * 257}}, "Too long"),
        ({**MINIMAL, "tags": {f"k{i}": "v" for i in range(41)}}, "Too many"),
        ({**MINIMAL, "pollIntervalSeconds": 4}, "greater than or equal to 5"),
        ({**MINIMAL, "pollIntervalSeconds": 86401}, "less than or equal to 86400"),
    ],
)
def test_restore_mistakes_are_refused_with_a_clear_message(
    openapi: Any, spec: dict[str, Any], expected: str
) -> None:
    found = errors(openapi, spec)
    assert any(expected in text for text in found), found


def test_the_tag_message_says_what_to_change(openapi: Any) -> None:
    found = errors(openapi, {**MINIMAL, "tags": {"aws:x": "v"}})
    assert found == [f"spec.tags: Invalid value: {TAG_KEYS}"]


def test_the_spec_stays_editable(openapi: Any) -> None:
    # No transition rule: a wrong name or a missing thaw is fixed by editing the resource.
    old = defaulted(openapi, MINIMAL)
    new = defaulted(openapi, {**FULL, "bucket": "amis-other"})
    assert schema.validate(new, openapi, old) == []


STATUS = {
    "phase": "Available",
    "imageId": "ami-0fedcba987654321f",
    "imageName": "web (restored)",
    "requestedTime": "2026-01-01T00:00:00Z",
    "completedTime": "2026-01-01T00:40:00Z",
    "progressPercentage": 100,
    "failureReason": "",
    "objectStorageClass": "DEEP_ARCHIVE",
    "thawExpiryTime": "2026-01-08T00:00:00Z",
    "region": "eu-west-1",
    "account": "111122223333",
    "observedGeneration": 2,
    "lastPollTime": "2026-01-01T00:41:00Z",
    "lastHandledRetryAt": "2026-01-01T00:00:00Z",
    "conditions": [
        {
            "type": "Complete",
            "status": "True",
            "reason": "Available",
            "message": "ami-0fedcba987654321f is available",
            "lastTransitionTime": "2026-01-01T00:40:00Z",
        },
        {
            "type": "Synced",
            "status": "False",
            "reason": "ObjectArchived",
            "message": "add spec.thaw",
            "lastTransitionTime": "2026-01-01T00:40:00Z",
            "observedGeneration": 2,
        },
    ],
}


@pytest.mark.parametrize("phase", ["Pending", "Thawing", "Restoring", "Available", "Failed"])
def test_everything_the_operator_writes_is_valid_status(openapi: Any, phase: str) -> None:
    status = {"spec": MINIMAL, "status": {**copy.deepcopy(STATUS), "phase": phase}}
    assert schema.validate(status, openapi) == []
    # Nothing the operator writes is pruned by the schema.
    assert schema.prune(status, openapi) == []


def test_an_unknown_status_field_is_pruned(openapi: Any) -> None:
    # Pruning is the default; kube-apiserver refuses an explicit
    # x-kubernetes-preserve-unknown-fields: false ("must be true or undefined").
    assert "x-kubernetes-preserve-unknown-fields" not in openapi["properties"]["status"]
    status = {"spec": MINIMAL, "status": {"phase": "Pending", "tasks": []}}
    assert schema.prune(status, openapi) == ["status.tasks"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("phase", "Completed", 'Unsupported value: "Completed"'),
        ("progressPercentage", 101, "less than or equal to 100"),
        ("progressPercentage", -1, "greater than or equal to 0"),
        ("requestedTime", 5, "must be of type string"),
        ("lastHandledRetryAt", "x" * 257, "Too long"),
    ],
)
def test_status_mistakes_are_refused(openapi: Any, field: str, value: Any, expected: str) -> None:
    found = [e.text() for e in schema.validate({"status": {field: value}}, openapi)]
    assert any(expected in text for text in found), found
