"""What AWS shows of one restore (``AmiRestore``), as plain values, and the calls that read
and make it: the ``aws`` layer fills them (``aws.restores``), ``restore`` decides.

Nothing here is cached past the poll that read it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Protocol

# S3 storage classes whose objects must be thawed (RestoreObject) before EC2 can read
# them; INTELLIGENT_TIERING only when x-amz-archive-status names an archive tier.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
DEEP_ARCHIVE_CLASSES = frozenset({"DEEP_ARCHIVE"})  # and the DEEP_ARCHIVE_ACCESS tier
DEEP_ARCHIVE_ACCESS = "DEEP_ARCHIVE_ACCESS"
RESTORE_UID_TAG = "amistore.io/restore-uid"
# CreateRestoreImageTask's answers the operator acts on (AWS's codes).
NAME_TAKEN = "InvalidAMIName.Duplicate"
LIMIT_EXCEEDED = "ResourceLimitExceeded"  # restores in progress: wait and ask again
RESTORE_IN_PROGRESS = "RestoreAlreadyInProgress"  # S3 RestoreObject: counts as success


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """HeadObject of the object a store task wrote (``s3://bucket/ami-....bin``)."""

    size: int
    storage_class: str  # STANDARD when S3 names none
    archive_status: str | None = None  # x-amz-archive-status (INTELLIGENT_TIERING)
    thaw_ongoing: bool | None = None  # x-amz-restore ongoing-request; None: no header
    thaw_expiry: datetime.datetime | None = None  # x-amz-restore expiry-date
    ami_name: str | None = None  # user metadata ami-name: the stored AMI's name

    @property
    def archived(self) -> bool:
        """Whether EC2 can read it only once a RestoreObject has thawed it."""
        if self.storage_class in ARCHIVE_CLASSES:
            return True
        return self.storage_class == INTELLIGENT_TIERING and bool(self.archive_status)

    @property
    def deep(self) -> bool:
        """Deep Archive (or its Intelligent-Tiering tier): no Expedited thaw."""
        return (
            self.storage_class in DEEP_ARCHIVE_CLASSES or self.archive_status == DEEP_ARCHIVE_ACCESS
        )

    @property
    def thawed(self) -> bool:
        """Whether a thawed copy is readable now (an expired one has no header left)."""
        return self.thaw_ongoing is False


@dataclasses.dataclass(frozen=True)
class RestoredImage:
    """The AMI DescribeImages (owner self) shows under a name."""

    image_id: str
    name: str
    state: str  # pending | available | failed | ...
    state_reason: str = ""  # StateReason "Code: Message", for a failed image
    snapshot_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, key: str) -> str | None:
        """The value of the image's tag ``key``."""
        return dict(self.tags).get(key)


class RestoreApi(Protocol):
    """The blocking calls of one (account, region); each failure raises ``AwsError``."""

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """S3 HeadObject (None: no such object)."""
        ...

    def thaw(self, bucket: str, key: str, days: int, tier: str, *, days_apply: bool) -> None:
        """S3 RestoreObject (``days_apply`` False: an INTELLIGENT_TIERING object, which takes
        no Days); RestoreAlreadyInProgress is success."""
        ...

    def image_named(self, name: str) -> RestoredImage | None:
        """DescribeImages, owner self, filter name (None: no such AMI registered)."""
        ...

    def image_of(self, uid: str) -> RestoredImage | None:
        """DescribeImages, owner self, filter ``tag:amistore.io/restore-uid``: the AMI an
        AmiRestore of this uid made that has not failed (None: none registered)."""
        ...

    def progress(self, snapshot_ids: Sequence[str]) -> int | None:
        """DescribeSnapshots: their mean Progress percent (None: none found)."""
        ...

    def create(self, bucket: str, key: str, name: str, tags: Mapping[str, str]) -> str:
        """CreateRestoreImageTask, one attempt, the tags on the image and its snapshots:
        the new AMI's ID."""
        ...

    def deregister(self, image_id: str) -> None:
        """DeregisterImage, one attempt (a failed restored image, for a retry)."""
        ...
