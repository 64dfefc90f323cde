"""HeadObject (``spec.verifyObjects``): what S3 shows of the object a store task left.

One client per (account, region), on the account's shared session (the role the
account map names), so the same credentials that exported the AMI look at its
object. HeadObject changes nothing, so botocore's standard retries are safe. A
missing object is an answer, not an error (``None``): S3 answers a HEAD for it with
404 and no body. Anything else raises ``errors.AwsError``. Each HTTP attempt is
counted in ``amistore_s3_requests_total`` by outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import boto3.session
import botocore.exceptions

from amistore_operator.aws import ec2, errors
from amistore_operator.core import verify

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

OPERATION = "HeadObject"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3CallObserver(Protocol):
    """What counts S3 calls (``observe.health.OperatorMetrics``)."""

    def observe_s3_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None: ...


class ObjectClient:
    """Blocking HeadObject calls for one (account, region)."""

    def __init__(self, region: str, client: S3Client, endpoint: errors.Endpoint) -> None:
        self.region = region
        self.client = client
        self.endpoint = endpoint

    def head(self, bucket: str, key: str) -> verify.Head | None:
        """The object ``s3://bucket/key`` (None: S3 has none). Raises ``errors.AwsError``."""
        response = head_object(self.client, bucket, key, self.endpoint)
        if response is None:
            return None
        return verify.Head(
            size=int(response.get("ContentLength", 0)),
            storage_class=response.get("StorageClass") or None,
            etag=str(response.get("ETag", "")),
            expiration=response.get("Expiration") or None,
        )


def head_object(
    client: S3Client, bucket: str, key: str, endpoint: errors.Endpoint
) -> dict[str, Any] | None:
    """S3 HeadObject's answer (None: no such object). Raises ``errors.AwsError``."""
    try:
        return dict(client.head_object(Bucket=bucket, Key=key))
    except botocore.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
            return None
        raise errors.to_aws_error(exc, endpoint) from None
    except Exception as exc:
        raise errors.to_aws_error(exc, endpoint) from None


def make_client(
    region: str,
    *,
    session: boto3.session.Session | None = None,
    metrics: S3CallObserver | None = None,
    read_timeout: float = 20.0,
    account: ec2.AccountLabel = "",
) -> ObjectClient:
    """A HeadObject client for ``region``: S3's request rates are its own, not EC2's budget."""
    if session is None:
        session = ec2.new_session()
    # The reads' retries, timeouts and user agent (a HEAD is safe to repeat); botocore picks
    # the addressing (virtual-hosted on AWS, path-style on an endpoint such as the sandbox).
    config = ec2.client_config(read_timeout)
    client = session.client("s3", region_name=region, config=config)
    hooks = ec2.AttemptHooks(region, None, S3Observer(metrics), account, OPERATION)
    client.meta.events.register(f"before-send.s3.{OPERATION}", hooks.before_send)
    client.meta.events.register(f"response-received.s3.{OPERATION}", hooks.response_received)
    return ObjectClient(region, client, ec2.endpoint_of(session, region, client.meta.endpoint_url))


class S3Observer:
    """Hands ``AttemptHooks``' EC2-shaped observations to the S3 counter."""

    def __init__(self, metrics: S3CallObserver | None) -> None:
        self._metrics = metrics

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        if self._metrics is not None:
            self._metrics.observe_s3_call(region, operation, outcome, seconds, account)
