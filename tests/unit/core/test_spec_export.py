"""Validation of the export fields: createTasks, s3ObjectTags."""

from __future__ import annotations

from typing import Any

import pytest
from amistore_operator.core import spec

A = "ami-0123456789abcdef0"


def parse(raw: Any) -> Any:
    return spec.parse_spec(raw, default_region="eu-west-1", default_interval=60)


def error_of(raw: Any) -> str:
    with pytest.raises(spec.SpecError) as caught:
        parse(raw)
    return str(caught.value)


def test_create_tasks_is_off_by_default() -> None:
    parsed = parse({"imageIds": [A], "bucket": "amis-prod"})
    assert parsed.create_tasks is False
    assert parsed.s3_object_tags == ()


def test_create_tasks_with_ids_bucket_and_tags() -> None:
    parsed = parse(
        {
            "imageIds": [A],
            "bucket": "amis-prod",
            "createTasks": True,
            "s3ObjectTags": {"team": "infra", "env": ""},
        }
    )
    assert parsed.create_tasks is True
    assert parsed.s3_object_tags == (("env", ""), ("team", "infra"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"createTasks": "yes", "imageIds": [A], "bucket": "b-1"}, "spec.createTasks: must be"),
        ({"createTasks": True, "bucket": "amis-prod"}, "spec.createTasks: needs spec.imageIds"),
        ({"createTasks": True, "imageIds": [A]}, "spec.createTasks: needs spec.bucket"),
        (
            {
                "createTasks": True,
                "bucket": "b-1",
                "imageIds": [f"ami-{i:08x}" for i in range(501)],
            },
            "spec.imageIds: 501 IDs, at most 500 with spec.createTasks",
        ),
        ({"s3ObjectTags": ["a"]}, "spec.s3ObjectTags: must be an object"),
        ({"s3ObjectTags": {"a": 1}}, 'spec.s3ObjectTags["a"]: must be a string'),
        ({"s3ObjectTags": {"": "x"}}, "spec.s3ObjectTags: a key must be 1 to 128 characters"),
        ({"s3ObjectTags": {"k" * 129: "x"}}, "a key must be 1 to 128 characters"),
        ({"s3ObjectTags": {"k": "v" * 257}}, 'spec.s3ObjectTags["k"]: a value must be at most 256'),
        ({"s3ObjectTags": {"aws:x": "v"}}, 'spec.s3ObjectTags["aws:x"]: the aws: prefix'),
        (
            {"s3ObjectTags": {f"k{i}": "v" for i in range(11)}},
            "spec.s3ObjectTags: 11 tags, at most 10",
        ),
    ],
)
def test_export_fields_are_checked(raw: dict[str, Any], expected: str) -> None:
    assert expected in error_of(raw)


def test_verify_objects_is_off_by_default_and_takes_a_boolean() -> None:
    assert parse({"imageIds": [A]}).verify_objects is False
    assert parse({"imageIds": [A], "verifyObjects": True}).verify_objects is True
    assert parse({"verifyObjects": False}).verify_objects is False  # a whole-bucket listing too
    assert "spec.verifyObjects: must be true or false" in error_of({"verifyObjects": "yes"})
