"""The EC2 calls of AMI cleanup (``spec.afterExport``), as ``core.images`` values.

One ``ImageClient`` per (account, region) makes them on two boto3 clients: the
reads (DescribeImages, DescribeImageAttribute, DescribeImageReferences,
DescribeSnapshots) with botocore's standard retries, and DeregisterImage on one
that never retries: a deregistration whose answer was lost may have happened, and
whether to ask again is the caller's to decide. Every attempt pays the caller's
bucket (``on_read_attempt``, ``on_write_attempt``) and is counted in
``amistore_ec2_requests_total`` by operation and outcome; every failure is one
``errors.AwsError``. An AMI or snapshot AWS no longer has is absent from the answer,
not an error, although AWS fails a whole batch for one such ID.

The model: a session from ``ec2.new_session()`` loads the subset of EC2's model the
operator calls, export's (``ec2model``) and these (``imagemodel``), not botocore's
whole model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import boto3.session

from amistore_operator.aws import create, ec2, errors, goneids
from amistore_operator.core import images as core_images

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import (
        DescribeImageReferencesRequestTypeDef,
        ImageTypeDef,
        ResourceTypeRequestTypeDef,
    )

READS = ("DescribeImages", "DescribeImageAttribute", "DescribeImageReferences", "DescribeSnapshots")
DEREGISTER = "DeregisterImage"
GIB = 2**30
# AWS fails a whole describe when one of its IDs is gone (or going).
_GONE_IMAGE = goneids.GONE_IMAGE
_GONE_SNAPSHOT = goneids.GONE_SNAPSHOT
# Explicit options replace IncludeAllResourceTypes' defaults for the type; the default depth
# looks at a launch template's newest 10 versions only.
_DEEP_TEMPLATES: list[ResourceTypeRequestTypeDef] = [
    {
        "ResourceType": "ec2:LaunchTemplate",
        "ResourceTypeOptions": [
            {
                "OptionName": "version-depth",
                "OptionValues": [str(core_images.LAUNCH_TEMPLATE_VERSION_DEPTH)],
            }
        ],
    }
]
_T = TypeVar("_T")


class ImageClient:
    """Blocking cleanup calls for one (account, region); DeregisterImage is never retried."""

    def __init__(
        self, region: str, client: EC2Client, write_client: EC2Client, endpoint: errors.Endpoint
    ) -> None:
        self.region = region
        self.client = client  # the reads, retried
        self.write_client = write_client  # DeregisterImage, one attempt
        self.endpoint = endpoint

    def images(self, image_ids: Sequence[str]) -> dict[str, core_images.Image]:
        """The AMIs AWS shows, deprecated and disabled ones too, by ID; a gone one is absent."""
        found = self._present(image_ids, self._describe_images, _GONE_IMAGE)
        return {image.image_id: image for image in found}

    def launch_permissions(self, image_id: str) -> core_images.LaunchPermissions:
        """Who else may launch the AMI (its owner may ask). Raises ``errors.AwsError``."""
        try:
            response = self.client.describe_image_attribute(
                ImageId=image_id, Attribute="launchPermission"
            )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        granted = response.get("LaunchPermissions", [])
        return core_images.LaunchPermissions(
            public=any(p.get("Group") == "all" for p in granted),
            accounts=tuple(p["UserId"] for p in granted if p.get("UserId")),
            organizations=tuple(p["OrganizationArn"] for p in granted if p.get("OrganizationArn")),
            units=tuple(
                p["OrganizationalUnitArn"] for p in granted if p.get("OrganizationalUnitArn")
            ),
        )

    def references(self, image_ids: Sequence[str]) -> list[core_images.Reference]:
        """Every resource of every type that uses the AMIs (a gone AMI has none)."""
        unique = list(dict.fromkeys(image_ids))
        step = core_images.REFERENCES_PER_CALL
        found: list[core_images.Reference] = []
        for start in range(0, len(unique), step):
            batch = unique[start : start + step]
            found += self._present(batch, self._describe_references, _GONE_IMAGE)
        return found

    def snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, core_images.Snapshot]:
        """The snapshots AWS shows by ID; a gone one (or another account's) is absent."""
        found = self._present(snapshot_ids, self._describe_snapshots, _GONE_SNAPSHOT)
        return {snapshot.snapshot_id: snapshot for snapshot in found}

    def deregister(self, image_id: str, delete_snapshots: bool) -> core_images.Deregistered:
        """DeregisterImage, once; with ``delete_snapshots``, each snapshot's result too."""
        try:
            response = self.write_client.deregister_image(
                ImageId=image_id, DeleteAssociatedSnapshots=delete_snapshots
            )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        return core_images.Deregistered(
            returned=bool(response.get("Return")),
            snapshots=tuple(
                (str(r.get("SnapshotId", "")), str(r.get("ReturnCode", "")))
                for r in response.get("DeleteSnapshotResults", [])
            ),
        )

    def _present(
        self, ids: Sequence[str], describe: Callable[[list[str]], list[_T]], gone: frozenset[str]
    ) -> list[_T]:
        return goneids.present(ids, describe, gone, self.endpoint)

    def _describe_images(self, ids: list[str]) -> list[core_images.Image]:
        response = self.client.describe_images(
            ImageIds=ids, IncludeDeprecated=True, IncludeDisabled=True
        )
        return [to_image(raw) for raw in response.get("Images", [])]

    def _describe_references(self, ids: list[str]) -> list[core_images.Reference]:
        found: list[core_images.Reference] = []
        request: DescribeImageReferencesRequestTypeDef = {
            "ImageIds": ids,
            "IncludeAllResourceTypes": True,
            "ResourceTypes": _DEEP_TEMPLATES,
        }
        while True:
            response = self.client.describe_image_references(**request)
            found += [
                core_images.Reference(
                    str(r.get("ImageId", "")), str(r.get("ResourceType", "")), r.get("Arn", "")
                )
                for r in response.get("ImageReferences", [])
            ]
            token = response.get("NextToken")
            if not token:
                return found
            request["NextToken"] = token

    def _describe_snapshots(self, ids: list[str]) -> list[core_images.Snapshot]:
        response = self.client.describe_snapshots(SnapshotIds=ids)
        return [
            core_images.Snapshot(str(s.get("SnapshotId", "")), int(s.get("VolumeSize", 0)) * GIB)
            for s in response.get("Snapshots", [])
        ]


def to_image(raw: ImageTypeDef) -> core_images.Image:
    """One DescribeImages ``Image``: its EBS snapshots, protection None when AWS says none."""
    return core_images.Image(
        image_id=str(raw.get("ImageId", "")),
        owner_id=str(raw.get("OwnerId", "")),
        state=str(raw.get("State", "")),
        public=bool(raw.get("Public", False)),
        protection=raw.get("DeregistrationProtection") or None,
        snapshot_ids=tuple(
            str(ebs["SnapshotId"])
            for mapping in raw.get("BlockDeviceMappings", [])
            if (ebs := mapping.get("Ebs")) and ebs.get("SnapshotId")
        ),
        name=str(raw.get("Name", "")),
    )


def make_client(
    region: str,
    *,
    session: boto3.session.Session | None = None,
    on_read_attempt: Callable[[], None] | None = None,
    on_write_attempt: Callable[[], None] | None = None,
    metrics: ec2.Ec2CallObserver | None = None,
    read_timeout: float = 20.0,
    account: ec2.AccountLabel = "",
) -> ImageClient:
    """A cleanup client for ``region``: reads pay ``on_read_attempt``, DeregisterImage the other."""
    if session is None:
        session = ec2.new_session()
    reads = session.client("ec2", region_name=region, config=ec2.client_config(read_timeout))
    # CreateStoreImageTask's config: one attempt, the reads' timeouts and user agent.
    writes = session.client("ec2", region_name=region, config=create.client_config(read_timeout))
    for operation in READS:
        _hook(reads, ec2.AttemptHooks(region, on_read_attempt, metrics, account, operation))
    _hook(writes, ec2.AttemptHooks(region, on_write_attempt, metrics, account, DEREGISTER))
    endpoint = ec2.endpoint_of(session, region, reads.meta.endpoint_url)
    return ImageClient(region, reads, writes, endpoint)


def _hook(client: EC2Client, hooks: ec2.AttemptHooks) -> None:
    client.meta.events.register(f"before-send.ec2.{hooks.operation}", hooks.before_send)
    client.meta.events.register(f"response-received.ec2.{hooks.operation}", hooks.response_received)
