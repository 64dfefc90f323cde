"""Validation of AmiStore specs: every rule, and messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from amistore_operator.core import spec

A = "ami-0123456789abcdef0"
B = "ami-0abcdef1"


def parse(raw: Any) -> Any:
    return spec.parse_spec(raw, default_region="eu-west-1", default_interval=60)


def error_of(raw: Any) -> str:
    with pytest.raises(spec.SpecError) as caught:
        parse(raw)
    return str(caught.value)


def test_empty_spec_gets_the_operator_defaults() -> None:
    raw: dict[str, Any] | None
    for raw in (None, {}):
        parsed = parse(raw)
        assert parsed.image_ids == ()
        assert parsed.bucket is None
        assert parsed.task_states == ()
        assert parsed.region == "eu-west-1"
        assert parsed.poll_interval == 60


def test_full_spec_keeps_the_users_order() -> None:
    parsed = parse(
        {
            "imageIds": [B, A],
            "bucket": "my.bucket-1",
            "region": "us-gov-west-1",
            "pollIntervalSeconds": 300,
            "somethingNew": True,  # unknown keys are ignored
        }
    )
    assert parsed.image_ids == (B, A)
    assert parsed.bucket == "my.bucket-1"
    assert parsed.region == "us-gov-west-1"
    assert parsed.poll_interval == 300.0


def test_listing_spec_with_task_states() -> None:
    parsed = parse({"taskStates": ["Failed", "InProgress"], "bucket": "bkt"})
    assert parsed.task_states == ("Failed", "InProgress")
    assert parsed.image_ids == ()


def test_bad_image_id_is_named_with_its_index() -> None:
    assert error_of({"imageIds": [A, B, "ami-12"]}) == (
        'spec.imageIds[2]: "ami-12" is not a valid AMI ID (ami- followed by 8 or 17 hex digits)'
    )


@pytest.mark.parametrize("bad", ["ami-0ABCDEF1", "ami-0abcdef12", "AMI-0abcdef1", " ami-0abcdef1"])
def test_image_id_pattern(bad: str) -> None:
    assert error_of({"imageIds": [bad]}).startswith("spec.imageIds[0]: ")


def test_duplicate_image_id() -> None:
    assert error_of({"imageIds": [A, B, A]}) == (
        f'spec.imageIds[2]: "{A}" is listed twice (also at index 0)'
    )


def test_at_most_1000_image_ids() -> None:
    ids = [f"ami-{i:08x}" for i in range(1001)]
    assert error_of({"imageIds": ids}) == "spec.imageIds: 1001 IDs, at most 1000 are allowed"
    assert len(parse({"imageIds": ids[:1000]}).image_ids) == 1000


def test_image_ids_must_be_a_list_of_strings() -> None:
    assert error_of({"imageIds": B}) == "spec.imageIds: must be a list, got a string"
    assert error_of({"imageIds": [B, 7]}) == "spec.imageIds[1]: must be a string, got a number"


@pytest.mark.parametrize(
    ("bucket", "problem"),
    [
        ("ab", "must be 3 to 63 characters long, got 2"),
        ("a" * 64, "must be 3 to 63 characters long, got 64"),
        ("My-Bucket", "may hold only lowercase letters"),
        ("bucket_1", "may hold only lowercase letters"),
        ("-bucket", "must begin and end with a letter or digit"),
        ("my..bucket", "must not contain two adjacent dots"),
        ("192.168.5.4", "must not be formatted as an IP address"),
    ],
)
def test_bucket_name_rules(bucket: str, problem: str) -> None:
    message = error_of({"bucket": bucket})
    assert message.startswith(f'spec.bucket: "{bucket}" is not a valid S3 bucket name: ')
    assert problem in message


def test_bucket_must_be_a_string() -> None:
    assert error_of({"bucket": 5}) == "spec.bucket: must be a string, got a number"


def test_task_states_rules() -> None:
    assert error_of({"taskStates": ["Done"]}) == (
        'spec.taskStates[0]: "Done" is not a task state (one of InProgress, Completed, Failed)'
    )
    assert error_of({"taskStates": ["Failed", "Failed"]}) == (
        'spec.taskStates[1]: "Failed" is listed twice'
    )
    assert error_of({"taskStates": ["Pending"]}).startswith("spec.taskStates[0]: ")


def test_task_states_cannot_go_with_image_ids() -> None:
    assert error_of({"imageIds": [A], "taskStates": ["Failed"]}).startswith(
        "spec.taskStates: cannot be combined with spec.imageIds"
    )
    assert parse({"imageIds": [A], "taskStates": []}).image_ids == (A,)


@pytest.mark.parametrize(
    "region", ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2", "us-isob-east-1"]
)
def test_valid_regions(region: str) -> None:
    assert parse({"region": region}).region == region


@pytest.mark.parametrize("region", ["eu-west", "EU-WEST-1", "euwest1", "eu-west-1a", ""])
def test_invalid_regions(region: str) -> None:
    assert error_of({"region": region}).startswith(f'spec.region: "{region}" is not an AWS region')


@pytest.mark.parametrize("value", [5, 86400, 60.0])
def test_poll_interval_bounds_accept(value: float) -> None:
    assert parse({"pollIntervalSeconds": value}).poll_interval == float(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (4, "spec.pollIntervalSeconds: must be between 5 and 86400 seconds, got 4"),
        (86401, "spec.pollIntervalSeconds: must be between 5 and 86400 seconds, got 86401"),
        (7.5, "spec.pollIntervalSeconds: must be an integer, got 7.5"),
        ("60", "spec.pollIntervalSeconds: must be an integer, got '60'"),
        (True, "spec.pollIntervalSeconds: must be an integer, got True"),
        (float("nan"), "spec.pollIntervalSeconds: must be an integer, got nan"),
    ],
)
def test_poll_interval_errors(value: Any, message: str) -> None:
    assert error_of({"pollIntervalSeconds": value}) == message


def test_spec_must_be_an_object() -> None:
    assert error_of(["x"]) == "spec: must be an object, got a list"


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(spec.SpecError, ValueError)


def test_account_is_twelve_digits_and_absent_means_the_operators_own() -> None:
    assert parse({}).account == ""
    assert parse({"account": "012345678901"}).account == "012345678901"
    assert error_of({"account": "12345"}) == (
        'spec.account: "12345" is not an AWS account ID (12 digits)'
    )
    assert error_of({"account": 123456789012}) == (
        "spec.account: must be a string of 12 digits, got a number"
    )


def test_stall_after_defaults_to_the_operators_setting() -> None:
    assert parse({}).stall_after == 7200
    parsed = spec.parse_spec(
        {}, default_region="eu-west-1", default_interval=60, default_stall_after=900
    )
    assert parsed.stall_after == 900


@pytest.mark.parametrize("value", [60, 604800, 3600.0])
def test_stall_after_bounds_accept(value: float) -> None:
    assert parse({"stallAfterSeconds": value}).stall_after == float(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (59, "spec.stallAfterSeconds: must be between 60 and 604800 seconds, got 59"),
        (604801, "spec.stallAfterSeconds: must be between 60 and 604800 seconds, got 604801"),
        (90.5, "spec.stallAfterSeconds: must be an integer, got 90.5"),
        ("7200", "spec.stallAfterSeconds: must be an integer, got '7200'"),
        (False, "spec.stallAfterSeconds: must be an integer, got False"),
    ],
)
def test_stall_after_errors(value: Any, message: str) -> None:
    assert error_of({"stallAfterSeconds": value}) == message
