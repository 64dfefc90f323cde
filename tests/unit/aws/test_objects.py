"""HeadObject (verifyObjects): what S3 shows of an object, a missing one, a refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from amistore_operator.aws import errors, objects
from amistore_operator.core import model, verify
from botocore.stub import Stubber

from tests.unit.aws import stubs

KEY = "ami-0123456789abcdef0.bin"


@pytest.fixture
def stubbed(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[objects.ObjectClient, Stubber]]:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with stubs.stubbed(objects.make_client("eu-west-1")) as pair:
        yield pair


def test_an_object_s3_shows(stubbed: tuple[objects.ObjectClient, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "head_object",
        {"ContentLength": 8_589_934_592, "ETag": '"9b2cf535f27731c974343645a3985328"'},
        {"Bucket": "amis-prod", "Key": KEY},
    )
    stubber.add_response(
        "head_object",
        {"ContentLength": 10, "ETag": '"e"', "StorageClass": "DEEP_ARCHIVE"},
        {"Bucket": "amis-prod", "Key": KEY},
    )
    assert client.head("amis-prod", KEY) == verify.Head(
        8_589_934_592, None, '"9b2cf535f27731c974343645a3985328"'
    )
    assert client.head("amis-prod", KEY) == verify.Head(10, "DEEP_ARCHIVE", '"e"')


def test_a_missing_object_is_an_answer_not_an_error(
    stubbed: tuple[objects.ObjectClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("head_object", "404", "Not Found", http_status_code=404)
    assert client.head("amis-prod", KEY) is None


def test_a_refusal_is_access_denied(stubbed: tuple[objects.ObjectClient, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("head_object", "403", "Forbidden", http_status_code=403)
    with pytest.raises(errors.AwsError) as caught:
        client.head("amis-prod", KEY)
    assert caught.value.reason == model.PollErrorReason.ACCESS_DENIED


def test_a_lifecycle_expiration_is_kept_as_s3_sends_it(
    stubbed: tuple[objects.ObjectClient, Stubber],
) -> None:
    client, stubber = stubbed
    expiration = 'expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'
    stubber.add_response(
        "head_object",
        {"ContentLength": 10, "ETag": '"e"', "Expiration": expiration},
        {"Bucket": "amis-prod", "Key": KEY},
    )
    stubber.add_response(
        "head_object", {"ContentLength": 10, "ETag": '"e"'}, {"Bucket": "amis-prod", "Key": KEY}
    )
    assert client.head("amis-prod", KEY) == verify.Head(10, None, '"e"', expiration)
    assert client.head("amis-prod", KEY) == verify.Head(10, None, '"e"', None)
