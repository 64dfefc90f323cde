"""The AWS calls of one restore (``AmiRestore``), as ``core.restoreview`` values.

One ``RestoreClient`` per (account, region) makes them on three boto3 clients: the
EC2 reads (DescribeImages, DescribeSnapshots) with botocore's standard retries;
CreateRestoreImageTask and DeregisterImage on one that never retries, as a create
whose answer was lost may have happened (the caller looks the image up by name
before asking again); and S3's HeadObject and RestoreObject, retried (a repeated
RestoreObject answers RestoreAlreadyInProgress or extends the copy, both harmless).
Every EC2 attempt pays the caller's bucket (``on_read_attempt``, ``on_write_attempt``)
and is counted in ``amistore_ec2_requests_total``; every S3 attempt in
``amistore_s3_requests_total``; every failure is one ``errors.AwsError``.

The model: a session from ``ec2.new_session()`` loads restore's part (``restoremodel``)
with export's and cleanup's.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import boto3.session

from amistore_operator.aws import create, ec2, errors, goneids, objects
from amistore_operator.core import model, restoreview

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef, TagSpecificationTypeDef, TagTypeDef
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import TierType
    from mypy_boto3_s3.type_defs import RestoreRequestTypeDef

CREATE = "CreateRestoreImageTask"
READS = ("DescribeImages", "DescribeSnapshots")
WRITES = (CREATE, "DeregisterImage")
HEAD = objects.OPERATION
THAW = "RestoreObject"
_ONGOING = re.compile(r'ongoing-request="(true|false)"')
_EXPIRY = re.compile(r'expiry-date="([^"]+)"')


class RestoreClient:
    """Blocking restore calls for one (account, region); the writes are never retried."""

    def __init__(
        self,
        region: str,
        client: EC2Client,
        write_client: EC2Client,
        s3: S3Client,
        endpoint: errors.Endpoint,
        s3_endpoint: errors.Endpoint,
    ) -> None:
        self.region = region
        self.client = client  # the EC2 reads, retried
        self.write_client = write_client  # CreateRestoreImageTask and DeregisterImage, once
        self.s3 = s3
        self.endpoint = endpoint
        self.s3_endpoint = s3_endpoint

    def head(self, bucket: str, key: str) -> restoreview.StoredObject | None:
        """S3 HeadObject (None: no such object)."""
        response = objects.head_object(self.s3, bucket, key, self.s3_endpoint)
        if response is None:
            return None
        ongoing, expiry = parse_restore(response.get("Restore"))
        return restoreview.StoredObject(
            size=int(response.get("ContentLength", 0)),
            storage_class=response.get("StorageClass") or "STANDARD",
            archive_status=response.get("ArchiveStatus") or None,
            thaw_ongoing=ongoing,
            thaw_expiry=expiry,
            ami_name=response.get("Metadata", {}).get("ami-name") or None,
        )

    def thaw(self, bucket: str, key: str, days: int, tier: str, *, days_apply: bool) -> None:
        """S3 RestoreObject; an INTELLIGENT_TIERING object (``days_apply`` False) takes no Days,
        as S3 refuses them for it. RestoreAlreadyInProgress is success."""
        request: RestoreRequestTypeDef = {"GlacierJobParameters": {"Tier": cast("TierType", tier)}}
        if days_apply:
            request["Days"] = days
        try:
            self.s3.restore_object(Bucket=bucket, Key=key, RestoreRequest=request)
        except Exception as exc:
            error = errors.to_aws_error(exc, self.s3_endpoint)
            if error.code != restoreview.RESTORE_IN_PROGRESS:
                raise error from None

    def image_named(self, name: str) -> restoreview.RestoredImage | None:
        """The account's AMI named ``name`` (None: none registered); a deregistered one, still
        listed for a while, is none."""
        found = [raw for raw in self._own_images("name", name) if raw.get("Name") == name]
        # Names are unique per account and region: more than one should not happen.
        return _first(found)

    def image_of(self, uid: str) -> restoreview.RestoredImage | None:
        """The account's AMI tagged with this AmiRestore's uid that has not failed (None:
        none registered): one an earlier request made, whatever name it got."""
        tag = restoreview.RESTORE_UID_TAG
        found = [
            raw
            for raw in self._own_images(f"tag:{tag}", uid)
            if raw.get("State") != "failed"
            and any(t.get("Key") == tag and t.get("Value") == uid for t in raw.get("Tags", []))
        ]
        return _first(found)

    def _own_images(self, field: str, value: str) -> list[ImageTypeDef]:
        """DescribeImages, owner self, one filter; a deregistered image, still listed for a
        while, left out."""
        try:
            response = self.client.describe_images(
                Owners=["self"],
                Filters=[{"Name": field, "Values": [value]}],
                IncludeDeprecated=True,
                IncludeDisabled=True,
            )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        return [raw for raw in response.get("Images", []) if raw.get("State") != "deregistered"]

    def progress(self, snapshot_ids: Sequence[str]) -> int | None:
        """The snapshots' mean Progress percent (None: none found)."""
        found = goneids.present(
            snapshot_ids, self._describe_progress, goneids.GONE_SNAPSHOT, self.endpoint
        )
        return sum(found) // len(found) if found else None

    def create(self, bucket: str, key: str, name: str, tags: Mapping[str, str]) -> str:
        """CreateRestoreImageTask, one attempt, ``tags`` on the image and its snapshots: the
        new AMI's ID."""
        specs: list[TagSpecificationTypeDef] = []
        if tags:
            tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in tags.items()]
            specs = [
                {"ResourceType": "image", "Tags": tag_list},
                {"ResourceType": "snapshot", "Tags": tag_list},
            ]
        try:
            if specs:
                response = self.write_client.create_restore_image_task(
                    Bucket=bucket, ObjectKey=key, Name=name, TagSpecifications=specs
                )
            else:
                response = self.write_client.create_restore_image_task(
                    Bucket=bucket, ObjectKey=key, Name=name
                )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        image_id = response.get("ImageId")
        if not image_id:  # it may still have been made: the caller looks for it by name
            raise errors.AwsError(
                model.PollErrorReason.AWS_UNAVAILABLE,
                "NoImageId",
                "CreateRestoreImageTask answered without an ImageId",
            )
        return str(image_id)

    def deregister(self, image_id: str) -> None:
        """DeregisterImage, one attempt."""
        try:
            self.write_client.deregister_image(ImageId=image_id)
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None

    def _describe_progress(self, ids: list[str]) -> list[int]:
        response = self.client.describe_snapshots(SnapshotIds=ids)
        return [percent(s.get("Progress")) for s in response.get("Snapshots", [])]


def percent(progress: str | None) -> int:
    """A snapshot's ``Progress`` (``"42%"``) as a whole percent, 0 when AWS gives none."""
    try:
        return max(0, min(100, int(str(progress or "0").strip().rstrip("%"))))
    except ValueError:
        return 0


def parse_restore(header: str | None) -> tuple[bool | None, datetime.datetime | None]:
    """``x-amz-restore`` (``ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00
    GMT"``) as (ongoing, expiry); (None, None) without the header."""
    if not header:
        return None, None
    ongoing = _ONGOING.search(header)
    expiry = _EXPIRY.search(header)
    when = None
    if expiry is not None:
        try:
            when = email.utils.parsedate_to_datetime(expiry[1]).astimezone(datetime.UTC)
        except (TypeError, ValueError):
            when = None
    return (ongoing[1] == "true" if ongoing else None), when


def _first(found: list[ImageTypeDef]) -> restoreview.RestoredImage | None:
    if not found:
        return None
    return to_restored_image(min(found, key=lambda raw: str(raw.get("ImageId", ""))))


def to_restored_image(raw: ImageTypeDef) -> restoreview.RestoredImage:
    """One DescribeImages ``Image`` as restore reads it."""
    reason = raw.get("StateReason") or {}
    code, message = reason.get("Code", ""), reason.get("Message", "")
    return restoreview.RestoredImage(
        image_id=str(raw.get("ImageId", "")),
        name=str(raw.get("Name", "")),
        state=str(raw.get("State", "")),
        state_reason=f"{code}: {message}" if code and message else code or message,
        snapshot_ids=tuple(
            str(ebs["SnapshotId"])
            for mapping in raw.get("BlockDeviceMappings", [])
            if (ebs := mapping.get("Ebs")) and ebs.get("SnapshotId")
        ),
        tags=tuple((str(t.get("Key", "")), str(t.get("Value", ""))) for t in raw.get("Tags", [])),
    )


def make_client(
    region: str,
    *,
    session: boto3.session.Session | None = None,
    on_read_attempt: Callable[[], None] | None = None,
    on_write_attempt: Callable[[], None] | None = None,
    metrics: ec2.Ec2CallObserver | None = None,
    s3_metrics: objects.S3CallObserver | None = None,
    read_timeout: float = 20.0,
    account: ec2.AccountLabel = "",
) -> RestoreClient:
    """A restore client for ``region``: EC2 reads pay ``on_read_attempt``, the create and the
    deregistration ``on_write_attempt``; S3 pays neither (its request rates are its own)."""
    if session is None:
        session = ec2.new_session()
    reads = session.client("ec2", region_name=region, config=ec2.client_config(read_timeout))
    writes = session.client("ec2", region_name=region, config=create.client_config(read_timeout))
    s3 = session.client("s3", region_name=region, config=ec2.client_config(read_timeout))
    for operation in READS:
        _hook(reads, "ec2", ec2.AttemptHooks(region, on_read_attempt, metrics, account, operation))
    for operation in WRITES:
        hooks = ec2.AttemptHooks(region, on_write_attempt, metrics, account, operation)
        _hook(writes, "ec2", hooks)
    observer = objects.S3Observer(s3_metrics)
    for operation in (HEAD, THAW):
        _hook(s3, "s3", ec2.AttemptHooks(region, None, observer, account, operation))
    return RestoreClient(
        region,
        reads,
        writes,
        s3,
        ec2.endpoint_of(session, region, reads.meta.endpoint_url),
        ec2.endpoint_of(session, region, s3.meta.endpoint_url),
    )


def _hook(client: Any, service: str, hooks: ec2.AttemptHooks) -> None:
    client.meta.events.register(f"before-send.{service}.{hooks.operation}", hooks.before_send)
    client.meta.events.register(
        f"response-received.{service}.{hooks.operation}", hooks.response_received
    )
