"""The CRD's export rules (createTasks, s3ObjectTags, Queued), checked by the sandbox's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox.kubeapi import schema

CRD = Path(__file__).resolve().parents[2] / "crds" / "amistores.amistore.io.yaml"
A = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def openapi() -> Any:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def errors(openapi: Any, spec: dict[str, Any]) -> list[str]:
    return [e.text() for e in schema.validate({"spec": spec}, openapi)]


def test_create_tasks_with_ids_and_bucket_is_accepted(openapi: Any) -> None:
    spec = {"createTasks": True, "imageIds": [A], "bucket": "amis-prod"}
    assert errors(openapi, {**spec, "s3ObjectTags": {"team": "infra"}}) == []
    assert errors(openapi, {"createTasks": False}) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"createTasks": True, "bucket": "amis-prod"}, "createTasks needs imageIds"),
        ({"createTasks": True, "imageIds": [A]}, "createTasks needs imageIds"),
        (
            {
                "createTasks": True,
                "bucket": "amis-prod",
                "imageIds": [f"ami-{i:08x}" for i in range(501)],
            },
            "at most 500 imageIds",
        ),
        ({"s3ObjectTags": {"aws:x": "v"}}, "must not start with aws:"),
        ({"s3ObjectTags": {"k": "v" * 257}}, "256"),
    ],
)
def test_export_mistakes_are_refused_with_a_clear_message(
    openapi: Any, spec: dict[str, Any], expected: str
) -> None:
    found = errors(openapi, spec)
    assert any(expected in text for text in found), found


def test_queued_entries_with_requested_time_are_valid_status(openapi: Any) -> None:
    entry = {"amiId": A, "state": "Queued", "requestedTime": "2026-01-01T00:00:00Z"}
    assert schema.validate({"status": {"tasks": [entry]}}, openapi) == []
