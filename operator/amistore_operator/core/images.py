"""What EC2 says of an AMI the operator may deregister (``afterExport``), as plain values.

The ``aws`` layer fills them from DescribeImages, DescribeImageAttribute
(launchPermission), DescribeImageReferences, DescribeSnapshots and DeregisterImage;
``cleanup`` decides from them. Nothing here is cached past the poll that read it.
"""

from __future__ import annotations

import dataclasses

PROTECTION_DISABLED = "disabled"
# DeregisterImage's per-snapshot results (DeleteSnapshotResult.DeleteSnapshotReturnCode).
SNAPSHOT_DELETED = "success"
SNAPSHOT_SKIPPED = "skipped"  # another AMI still uses it
REFERENCE_TYPES = (
    "ec2:Instance",
    "ec2:LaunchTemplate",
    "ssm:Parameter",
    "imagebuilder:ImageRecipe",
    "imagebuilder:ContainerRecipe",
)
REFERENCES_PER_CALL = 10  # DescribeImageReferences takes at most 10 image IDs
LAUNCH_TEMPLATE_VERSION_DEPTH = 10000  # its default looks at the newest 10 versions only


@dataclasses.dataclass(frozen=True)
class Image:
    """One AMI as DescribeImages shows it (owner self or not)."""

    image_id: str
    owner_id: str
    state: str  # available | pending | failed | deregistered | ...
    public: bool  # Image.Public
    # DeregistrationProtection: "disabled", "enabled", "enabled-with-cooldown" and more;
    # None when AWS does not say (older images): taken as not "disabled".
    protection: str | None
    snapshot_ids: tuple[str, ...]  # BlockDeviceMappings[].Ebs.SnapshotId
    name: str = ""


@dataclasses.dataclass(frozen=True)
class LaunchPermissions:
    """DescribeImageAttribute(launchPermission): who else may launch the AMI."""

    public: bool = False  # Group "all"
    accounts: tuple[str, ...] = ()  # UserId
    organizations: tuple[str, ...] = ()  # OrganizationArn
    units: tuple[str, ...] = ()  # OrganizationalUnitArn

    @property
    def shared(self) -> bool:
        """Whether anyone but the owner may launch it."""
        return self.public or bool(self.accounts or self.organizations or self.units)


@dataclasses.dataclass(frozen=True)
class Reference:
    """One resource DescribeImageReferences says uses an AMI."""

    image_id: str
    resource_type: str  # one of REFERENCE_TYPES
    arn: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One snapshot as DescribeSnapshots shows it."""

    snapshot_id: str
    size_bytes: int  # VolumeSize (GiB) * 2**30: the full size, not what is billed


@dataclasses.dataclass(frozen=True)
class Deregistered:
    """DeregisterImage's answer: whether it returned true, and each snapshot's result."""

    returned: bool
    snapshots: tuple[tuple[str, str], ...] = ()  # (snapshot ID, return code)

    def deleted(self) -> tuple[str, ...]:
        """The snapshots deleted with the AMI (``success``)."""
        return tuple(s for s, code in self.snapshots if code == SNAPSHOT_DELETED)

    def kept(self) -> tuple[tuple[str, str], ...]:
        """The snapshots not deleted, with why (``skipped``, ``missing-permissions``, ...)."""
        return tuple((s, code) for s, code in self.snapshots if code != SNAPSHOT_DELETED)
