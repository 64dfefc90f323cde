"""Validation of the cleanup fields: afterExport, afterExportDelaySeconds."""

from __future__ import annotations

from typing import Any

import pytest
from amistore_operator.core import model, spec

A = "ami-0123456789abcdef0"
LISTED = {"imageIds": [A], "bucket": "amis-prod"}


def parse(raw: Any) -> model.AmiStoreSpec:
    return spec.parse_spec(raw, default_region="eu-west-1", default_interval=60)


def error_of(raw: Any) -> str:
    with pytest.raises(spec.SpecError) as caught:
        parse(raw)
    return str(caught.value)


def test_after_export_keeps_by_default_a_day_later_and_verifies_only_if_asked() -> None:
    parsed = parse({})
    assert parsed.after_export == model.AFTER_EXPORT_KEEP == "Keep"
    assert parsed.after_export_delay == 86400
    assert not parsed.cleans_up
    assert not parsed.verifies
    assert parse({**LISTED, "verifyObjects": True}).verifies
    assert model.AmiStoreSpec((), None, (), "eu-west-1", 60).after_export_delay == 86400


@pytest.mark.parametrize(
    "value", [model.AFTER_EXPORT_DEREGISTER, model.AFTER_EXPORT_DELETE_SNAPSHOTS]
)
def test_cleanup_needs_no_create_tasks_and_always_verifies(value: str) -> None:
    parsed = parse({**LISTED, "afterExport": value})
    assert parsed.after_export == value
    assert parsed.cleans_up
    assert parsed.verifies  # the object is checked before any AMI goes
    assert parsed.verify_objects is False  # what the user wrote stays as written
    assert parsed.create_tasks is False  # exported by other means: still verified, cleaned up


def test_the_constants_are_the_crds_values() -> None:
    assert model.AFTER_EXPORT_VALUES == ("Keep", "Deregister", "DeregisterAndDeleteSnapshots")


def test_keep_needs_nothing_listed() -> None:
    assert parse({"afterExport": "Keep"}).after_export == "Keep"  # a whole-bucket listing too
    assert parse({"afterExport": "Keep", "taskStates": ["Completed"]}).cleans_up is False


@pytest.mark.parametrize("value", [0, 1, 3600, 2592000, 60.0])
def test_delay_bounds_accept(value: float) -> None:
    parsed = parse({**LISTED, "afterExport": "Deregister", "afterExportDelaySeconds": value})
    assert parsed.after_export_delay == float(value)


def test_delay_is_read_with_keep_too() -> None:
    assert parse({"afterExportDelaySeconds": 0}).after_export_delay == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "spec.afterExportDelaySeconds: must be between 0 and 2592000 seconds, got -1"),
        (
            2592001,
            "spec.afterExportDelaySeconds: must be between 0 and 2592000 seconds, got 2592001",
        ),
        (1.5, "spec.afterExportDelaySeconds: must be an integer, got 1.5"),
        ("86400", "spec.afterExportDelaySeconds: must be an integer, got '86400'"),
        (True, "spec.afterExportDelaySeconds: must be an integer, got True"),
        (float("inf"), "spec.afterExportDelaySeconds: must be an integer, got inf"),
    ],
)
def test_delay_errors(value: Any, message: str) -> None:
    assert error_of({"afterExportDelaySeconds": value}) == message


@pytest.mark.parametrize(
    ("value", "shown"),
    [("keep", '"keep"'), ("Delete", '"Delete"'), ("", '""'), (True, "a boolean"), ([], "a list")],
)
def test_after_export_must_be_one_of_the_three(value: Any, shown: str) -> None:
    assert error_of({**LISTED, "afterExport": value}) == (
        "spec.afterExport: must be one of Keep, Deregister, DeregisterAndDeleteSnapshots, "
        f"got {shown}"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"bucket": "amis-prod", "afterExport": "Deregister"},
            'spec.afterExport "Deregister": needs spec.imageIds (the AMIs to clean up: '
            "never every AMI exported to a bucket)",
        ),
        (
            {"imageIds": [], "bucket": "amis-prod", "afterExport": "DeregisterAndDeleteSnapshots"},
            'spec.afterExport "DeregisterAndDeleteSnapshots": needs spec.imageIds',
        ),
        (
            {"taskStates": ["Completed"], "bucket": "b-1", "afterExport": "Deregister"},
            'spec.afterExport "Deregister": needs spec.imageIds',
        ),
        (
            {"imageIds": [A], "afterExport": "Deregister"},
            'spec.afterExport "Deregister": needs spec.bucket (where their exported objects '
            "are verified)",
        ),
        (
            {
                "imageIds": [f"ami-{i:08x}" for i in range(501)],
                "bucket": "amis-prod",
                "afterExport": "Deregister",
            },
            'spec.imageIds: 501 IDs, at most 500 with spec.afterExport "Deregister" '
            "(every AMI's record must fit in the status)",
        ),
    ],
)
def test_cleanup_needs_listed_amis_and_a_bucket(raw: dict[str, Any], message: str) -> None:
    assert error_of(raw).startswith(message)


def test_five_hundred_amis_may_be_cleaned_up() -> None:
    many = [f"ami-{i:08x}" for i in range(500)]
    parsed = parse({"imageIds": many, "bucket": "amis-prod", "afterExport": "Deregister"})
    assert len(parsed.image_ids) == 500
    assert parse({"imageIds": [*many, A], "bucket": "amis-prod"}).after_export == "Keep"


def test_create_tasks_keeps_its_own_messages() -> None:
    assert error_of({"createTasks": True, "imageIds": [A]}) == (
        "spec.createTasks: needs spec.bucket (where to export them)"
    )
    assert error_of({"createTasks": True, "bucket": "amis-prod"}) == (
        "spec.createTasks: needs spec.imageIds (the AMIs to export)"
    )
