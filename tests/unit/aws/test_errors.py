"""EC2's errors as users see them: botocore's exceptions and the endpoint they name."""

from __future__ import annotations

import botocore.exceptions
import pytest
from amistore_operator.aws import errors
from amistore_operator.core import model

R = model.PollErrorReason


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (botocore.exceptions.NoCredentialsError(), R.INVALID_CREDENTIALS),
        (
            botocore.exceptions.CredentialRetrievalError(provider="sts", error_msg="x"),
            R.INVALID_CREDENTIALS,
        ),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (ValueError("odd"), R.INVALID_REQUEST),
    ],
)
def test_botocore_exceptions_map_to_reasons(exc: Exception, reason: model.PollErrorReason) -> None:
    error = errors.to_aws_error(exc)
    assert error.reason is reason
    assert error.code == type(exc).__name__


NOWHERE = errors.Endpoint("xx-nowhere-1", "https://ec2.xx-nowhere-1.amazonaws.com", False)
IRELAND = errors.Endpoint("eu-west-1", "https://ec2.eu-west-1.amazonaws.com", True)
CUSTOM = errors.Endpoint("xx-nowhere-1", "http://127.0.0.1:9", False)  # AWS_ENDPOINT_URL_EC2


@pytest.mark.parametrize(
    ("exc", "endpoint", "reason"),
    [
        # The region's own endpoint never answered and botocore has no such region.
        (botocore.exceptions.EndpointConnectionError(endpoint_url=NOWHERE.url), NOWHERE,
         R.UNKNOWN_REGION),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url=NOWHERE.url), NOWHERE,
         R.UNKNOWN_REGION),
        # It answered, then failed: the region exists.
        (botocore.exceptions.ReadTimeoutError(endpoint_url=NOWHERE.url), NOWHERE,
         R.AWS_UNAVAILABLE),
        # A region botocore knows is only unavailable, whatever the failure.
        (botocore.exceptions.EndpointConnectionError(endpoint_url=IRELAND.url), IRELAND,
         R.AWS_UNAVAILABLE),
        # Every region goes to a custom endpoint: the endpoint is at fault, not the region.
        (botocore.exceptions.EndpointConnectionError(endpoint_url=CUSTOM.url), CUSTOM,
         R.AWS_UNAVAILABLE),
    ],
)  # fmt: skip
def test_connection_failures_name_the_endpoint(
    exc: Exception, endpoint: errors.Endpoint, reason: model.PollErrorReason
) -> None:
    error = errors.to_aws_error(exc, endpoint)
    assert error.reason is reason
    assert endpoint.url in error.message
    assert error.code == type(exc).__name__
    assert (f"'{endpoint.region}'" in error.message) is (reason is R.UNKNOWN_REGION)


def test_a_connection_failure_without_a_url_gets_the_endpoint() -> None:
    exc = botocore.exceptions.HTTPClientError(error="socket closed")
    error = errors.to_aws_error(exc, IRELAND)
    assert error.reason is R.AWS_UNAVAILABLE
    assert error.message == f"{exc} (endpoint {IRELAND.url})"
