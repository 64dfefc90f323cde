"""CreateStoreImageTask (export mode): the call, its DryRun preflight, its own client.

CreateStoreImageTask takes no idempotency token, so a retried attempt after a
timeout could start a second task: this client never retries (botocore's
``total_max_attempts`` is 1). An ambiguous failure (throttled, timed out, AWS
unavailable) leaves the AMI ``Queued``; the core's grace period decides when
asking again is safe. Every attempt pays the (account, region)'s create bucket,
apart from the describe bucket, as AWS budgets them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import boto3.session
import botocore.config

from amistore_operator import __version__
from amistore_operator.aws import ec2, errors

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import S3ObjectTagTypeDef

OPERATION = "CreateStoreImageTask"


class CreateClient:
    """Blocking CreateStoreImageTask calls for one (account, region), never retried."""

    def __init__(self, region: str, client: EC2Client, endpoint: errors.Endpoint) -> None:
        self.region = region
        self.client = client
        self.endpoint = endpoint

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str:
        """Start a store task; AWS's object key (``ami-....bin``). Raises ``errors.AwsError``."""
        tag_list: list[S3ObjectTagTypeDef] = [{"Key": k, "Value": v} for k, v in tags]
        try:
            response = self.client.create_store_image_task(
                ImageId=ami_id, Bucket=bucket, S3ObjectTags=tag_list
            )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        return str(response.get("ObjectKey") or f"{ami_id}.bin")

    def preflight(self, ami_id: str, bucket: str) -> None:
        """A DryRun create: returns when IAM allows the action, else raises ``AwsError``.

        DryRun checks only the EC2 action: S3, EBS and KMS problems show up later
        as the task's failure reason.
        """
        try:
            self.client.create_store_image_task(ImageId=ami_id, Bucket=bucket, DryRun=True)
        except Exception as exc:
            error = errors.to_aws_error(exc, self.endpoint)
            if error.code == errors.DRY_RUN_OK:
                return
            raise error from None
        raise errors.AwsError(
            errors.reason_for_code("DryRunIgnored"),
            "DryRunIgnored",
            "the endpoint answered a DryRun create without DryRunOperation",
        )


def client_config(read_timeout: float = 20.0) -> botocore.config.Config:
    """No retries (no idempotency token), the same timeouts and user agent as reads."""
    return botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=read_timeout,
        user_agent_extra=f"amistore-operator/{__version__}",
    )


def make_client(
    region: str,
    *,
    session: boto3.session.Session | None = None,
    on_attempt: Callable[[], None] | None = None,
    metrics: ec2.Ec2CallObserver | None = None,
    read_timeout: float = 20.0,
    account: ec2.AccountLabel = "",
) -> CreateClient:
    """A create client for ``region``, paying ``on_attempt`` (the create bucket) per attempt."""
    if session is None:
        session = ec2.new_session()
    client = session.client("ec2", region_name=region, config=client_config(read_timeout))
    hooks = ec2.AttemptHooks(region, on_attempt, metrics, account, OPERATION)
    client.meta.events.register(f"before-send.ec2.{OPERATION}", hooks.before_send)
    client.meta.events.register(f"response-received.ec2.{OPERATION}", hooks.response_received)
    return CreateClient(region, client, ec2.endpoint_of(session, region, client.meta.endpoint_url))
