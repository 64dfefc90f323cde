"""The AmiRestore ``kubectl amistore restore`` creates, and the flags it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from amistore_operator.plugin import errors, restorerequest
from amistore_operator.plugin.restorerequest import Request

URL = "s3://acme-ami-archive/ami-0123456789abcdef0.bin"


def test_the_least_is_bucket_key_and_a_name_from_the_key() -> None:
    assert restorerequest.body(Request(URL, "team")) == {
        "apiVersion": "amistore.io/v1alpha1",
        "kind": "AmiRestore",
        "metadata": {"name": "restore-ami-0123456789abcdef0", "namespace": "team"},
        "spec": {"bucket": "acme-ami-archive", "objectKey": "ami-0123456789abcdef0.bin"},
    }


def test_every_flag_lands_in_its_field() -> None:
    request = Request(
        URL,
        "team",
        ami_name="golden (restored) 2026-11-27",
        resource_name="golden-back",
        region="eu-west-1",
        account="123456789012",
        thaw_days=3,
        thaw_tier="Bulk",
    )
    made = restorerequest.body(request)
    assert made["metadata"] == {"name": "golden-back", "namespace": "team"}
    assert made["spec"] == {
        "bucket": "acme-ami-archive",
        "objectKey": "ami-0123456789abcdef0.bin",
        "name": "golden (restored) 2026-11-27",
        "region": "eu-west-1",
        "account": "123456789012",
        "thaw": {"days": 3, "tier": "Bulk"},
    }


def test_thaw_days_alone_leave_the_tier_to_the_default() -> None:
    made = restorerequest.body(Request(URL, "team", thaw_days=30000))
    assert made["spec"]["thaw"] == {"days": 30000}


def test_an_eight_digit_ami_key() -> None:
    bucket, key = restorerequest.parse_url("s3://a.b-c/ami-0123abcd.bin")
    assert (bucket, key) == ("a.b-c", "ami-0123abcd.bin")
    assert restorerequest.default_name(key) == "restore-ami-0123abcd"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("acme-ami-archive/ami-0123456789abcdef0.bin", "is not an S3 URL"),
        ("https://acme-ami-archive/ami-0123456789abcdef0.bin", "is not an S3 URL"),
        ("s3://acme-ami-archive", "is not an S3 URL"),
        ("s3://acme-ami-archive/", "is not an S3 URL"),
        ("s3://Acme_Archive/ami-0123456789abcdef0.bin", "is not an S3 bucket name"),
        ("s3://acme-ami-archive/ami-0123456789abcdef0", "is not the key of a store task's"),
        ("s3://acme-ami-archive/dir/ami-0123456789abcdef0.bin", "is not the key of a store"),
        ("s3://acme-ami-archive/ami-XYZ.bin", "is not the key of a store task's"),
    ],
)
def test_a_url_not_of_a_store_task_is_refused(url: str, says: str) -> None:
    with pytest.raises(errors.PluginError, match=says):
        restorerequest.body(Request(url, "team"))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ({"thaw_tier": "Bulk"}, "--thaw-tier needs --thaw-days"),
        ({"thaw_days": 0}, "--thaw-days must be 1 to 30000, got 0"),
        ({"thaw_days": 30001}, "--thaw-days must be 1 to 30000, got 30001"),
        ({"thaw_days": 1, "thaw_tier": "Fast"}, "--thaw-tier must be one of Standard, Bulk"),
        ({"ami_name": "ab"}, "--ami-name 'ab' is not valid"),
        ({"ami_name": "a" * 129}, "--ami-name"),
        ({"ami_name": "golden:1"}, "--ami-name 'golden:1' is not valid"),
        ({"region": "Europe"}, "--region 'Europe' is not valid"),
        ({"account": "12345"}, "--account '12345' is not valid: 12 digits"),
        ({"resource_name": "Golden"}, "--resource-name 'Golden' is not valid"),
        ({"resource_name": "a" * 254}, "--resource-name is longer than 253"),
    ],
)
def test_bad_flags_are_refused_before_any_request(flags: dict[str, Any], says: str) -> None:
    with pytest.raises(errors.PluginError, match=says.replace("(", r"\(")):
        restorerequest.body(Request(URL, "team", **flags))
