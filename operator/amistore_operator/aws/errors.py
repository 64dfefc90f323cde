"""EC2's errors (and S3's, for HeadObject), classified: every failure is one ``AwsError``.

AWS's error codes and botocore's exceptions map to the ``PollErrorReason`` users see
in ``Synced=False``; a connection failure names the endpoint it could not reach. S3
answers a HEAD without a body, so botocore names its error by the HTTP status alone.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

import botocore
import botocore.exceptions

from amistore_operator.core import model

THROTTLED_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown"}
)
_ACCESS_DENIED = frozenset(
    {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "403"}
)
_BAD_CREDENTIALS = frozenset(
    {
        "AuthFailure",
        "RequestExpired",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)
# AWS's answer to a DryRun the caller may make: the action is allowed.
DRY_RUN_OK = "DryRunOperation"
# CreateStoreImageTask refused because the account's store work in progress is at AWS's
# quota (1,200 GB of snapshot data per account and Region). AWS documents the refusal but
# not its code; this is the code EC2 gives its other in-progress task limits.
CAPACITY_CODES = frozenset({"ResourceLimitExceeded"})
_UNAVAILABLE = frozenset(
    {"InternalError", "InternalFailure", "Unavailable", "ServiceUnavailable", "500", "503"}
)
# botocore raises these before or instead of an HTTP response.
_CREDENTIAL_EXCEPTIONS: tuple[type[Exception], ...] = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.NoAuthTokenError,
    botocore.exceptions.TokenRetrievalError,
    botocore.exceptions.UnauthorizedSSOTokenError,
    botocore.exceptions.RefreshWithMFAUnsupportedError,
    botocore.exceptions.MetadataRetrievalError,
)
_CONNECTION_EXCEPTIONS: tuple[type[Exception], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)
# Nothing answered at all: the host did not resolve, refused, or never accepted.
_UNREACHABLE: tuple[type[Exception], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
)


class AwsError(Exception):
    """One failed EC2 call, classified for ``Synced=False``."""

    def __init__(self, reason: model.PollErrorReason, code: str, message: str) -> None:
        super().__init__(f"{reason}: {code}: {message}")
        self.reason = reason
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a client sends its calls, for naming it when it cannot be reached."""

    region: str
    url: str
    region_known: bool  # botocore lists the region for EC2 (a newer one may still work)

    @property
    def is_regions_own(self) -> bool:
        """The URL was derived from the region (no ``AWS_ENDPOINT_URL_EC2``-style override)."""
        host = urllib.parse.urlsplit(self.url).hostname or ""
        return self.region in host.split(".")


def reason_for_code(code: str, status: int | None = None) -> model.PollErrorReason:
    """Map an AWS error code (and HTTP status) to a ``PollErrorReason``."""
    if code in THROTTLED_CODES:
        return model.PollErrorReason.THROTTLED
    if code in _ACCESS_DENIED:
        return model.PollErrorReason.ACCESS_DENIED
    if code in _BAD_CREDENTIALS:
        return model.PollErrorReason.INVALID_CREDENTIALS
    if code.startswith("InvalidAMIID."):
        return model.PollErrorReason.INVALID_IMAGE_ID
    if code in _UNAVAILABLE or (status is not None and status >= 500):
        return model.PollErrorReason.AWS_UNAVAILABLE
    return model.PollErrorReason.INVALID_REQUEST


def to_aws_error(exc: Exception, endpoint: Endpoint | None = None) -> AwsError:
    """Classify any exception from a boto3 call; messages never carry request headers.

    With ``endpoint``, a connection failure names the endpoint, and an unreachable
    endpoint of a region botocore does not know is ``UnknownRegion``: there is no such
    region (or it is newer than this botocore), which no retry will fix.
    """
    if isinstance(exc, AwsError):
        return exc
    if endpoint is not None and isinstance(exc, _CONNECTION_EXCEPTIONS):
        message = str(exc)
        if endpoint.url not in message:
            message = f"{message} (endpoint {endpoint.url})"
        if isinstance(exc, _UNREACHABLE) and not endpoint.region_known and endpoint.is_regions_own:
            message = (
                f"region {endpoint.region!r} is not an EC2 region botocore "
                f"{botocore.__version__} knows, and its endpoint {endpoint.url} "
                f"cannot be reached: {message}"
            )
            return AwsError(model.PollErrorReason.UNKNOWN_REGION, type(exc).__name__, message)
        return AwsError(model.PollErrorReason.AWS_UNAVAILABLE, type(exc).__name__, message)
    if isinstance(exc, botocore.exceptions.ClientError):
        error: Mapping[str, Any] = exc.response.get("Error", {})
        meta: Mapping[str, Any] = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or code)
        reason = reason_for_code(code, meta.get("HTTPStatusCode"))
    elif isinstance(exc, _CREDENTIAL_EXCEPTIONS):
        code, message = type(exc).__name__, str(exc)
        reason = model.PollErrorReason.INVALID_CREDENTIALS
    elif isinstance(exc, _CONNECTION_EXCEPTIONS):
        code, message = type(exc).__name__, str(exc)
        reason = model.PollErrorReason.AWS_UNAVAILABLE
    else:
        code, message = type(exc).__name__, str(exc)
        reason = model.PollErrorReason.INVALID_REQUEST
    return AwsError(reason, code, message)
