"""The EC2 image side of the fake (``spec.afterExport``): AMIs, snapshots, DeregisterImage.

Per (account, region), each AMI of the scenario exists, owned by that account, unless
the scenario marks it ``foreign`` (another account owns it and shares it). Per AMI, as
drawn (``Traits``): public, shared (with accounts or organizations), deregistration
protection, references (each live in a window of virtual time, so a blocker can go
away) and two snapshots whose sizes follow from the AMI's number. ``deregister`` acts
as DeregisterImage does: refused under protection, ``InvalidAMIID.NotFound`` once gone;
otherwise the AMI is gone from then on in that account and region, and its snapshots
are deleted with it when asked (no snapshot is shared between AMIs here: each answers
``success``). Faults, lost answers and the call log are ``fakeaws.Client``'s.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Collection, Mapping, Sequence

from amistore_operator.aws import errors
from amistore_operator.core import images

OWN_ACCOUNT = "000000000000"  # the operator's own identity (the fake's account "")
FOREIGN_OWNER = "222222222222"  # who owns a ``foreign`` AMI
SNAPSHOTS_PER_IMAGE = 2
GIB = 2**30
EXPIRY_DAYS = 30  # a bucket's lifecycle rule deletes an object this long after it is written
# DeregisterImage under protection: what the project's EC2 simulator answers
# (tests/sandbox/ec2sim/imageactions.py; AWS documents no code for it).
PROTECTED_CODE = "OperationNotPermitted"


@dataclasses.dataclass(frozen=True)
class Reference:
    """A resource using an AMI from ``start`` until before ``end`` (virtual seconds)."""

    resource_type: str  # one of images.REFERENCE_TYPES
    arn: str
    start: float
    end: float

    def live(self, now: float) -> bool:
        """Whether the resource uses the AMI at ``now``."""
        return self.start <= now < self.end


@dataclasses.dataclass(frozen=True)
class Traits:
    """What a scenario says of one AMI (the same in every account that has it)."""

    public: bool = False
    shared: tuple[str, ...] = ()  # account IDs and organization ARNs it is shared with
    protection: str = images.PROTECTION_DISABLED  # disabled | enabled | enabled-with-cooldown
    references: tuple[Reference, ...] = ()
    foreign: bool = False  # owned by FOREIGN_OWNER, whoever asks

    def live_references(self, now: float) -> tuple[Reference, ...]:
        """The references that exist at ``now``."""
        return tuple(r for r in self.references if r.live(now))


PLAIN = Traits()


def snapshot_ids(ami: str) -> tuple[str, ...]:
    """The AMI's snapshots: ``snap-`` + its 8 hex digits + the index (17 digits in all)."""
    return tuple(f"snap-{ami[4:]}{i:09x}" for i in range(SNAPSHOTS_PER_IMAGE))


def image_of(snapshot_id: str) -> str:
    """The AMI whose snapshot ``snapshot_id`` is."""
    return f"ami-{snapshot_id[5:13]}"


def snapshot_bytes(snapshot_id: str) -> int:
    """A snapshot's full size: GiB from its AMI's number and its index."""
    number, index = int(snapshot_id[5:13], 16), int(snapshot_id[13:], 16)
    return (8 * (index + 1) + number % 24) * GIB


def image_bytes(ami: str) -> int:
    """The full size of all the AMI's snapshots (what deleting them frees)."""
    return sum(snapshot_bytes(s) for s in snapshot_ids(ami))


def expiration(written: datetime.datetime) -> str:
    """The ``x-amz-expiration`` S3 sends for an object a lifecycle rule will delete."""
    expiry = (written + datetime.timedelta(days=EXPIRY_DAYS + 1)).date()
    stamp = expiry.strftime("%a, %d %b %Y 00:00:00 GMT")
    return f'expiry-date="{stamp}", rule-id="archive-expiry"'


def not_found(ami: str) -> errors.AwsError:
    """InvalidAMIID.NotFound for one AMI, worded as AWS does."""
    return errors.AwsError(
        errors.reason_for_code("InvalidAMIID.NotFound"),
        "InvalidAMIID.NotFound",
        f"The image id '[{ami}]' does not exist",
    )


class FakeImages:
    """The AMIs and snapshots of every (account, region), and what was deregistered when."""

    def __init__(
        self, *, now: Callable[[], float], amis: Collection[str], traits: Mapping[str, Traits]
    ) -> None:
        self.now = now
        self.amis = amis  # the AMIs that exist (in every account that asks)
        self.traits = traits
        self.deregistered: dict[tuple[str, str], dict[str, float]] = {}  # -> AMI -> when
        self.deleted: dict[tuple[str, str], set[str]] = {}  # snapshot IDs deleted

    def of(self, ami: str) -> Traits:
        """The AMI's traits (plain unless the scenario says otherwise)."""
        return self.traits.get(ami, PLAIN)

    def owner(self, account: str, ami: str) -> str:
        """The account ID that owns ``ami`` as ``account`` sees it."""
        return FOREIGN_OWNER if self.of(ami).foreign else (account or OWN_ACCOUNT)

    def deregistered_at(self, account: str, region: str, ami: str) -> float | None:
        """When ``ami`` was deregistered in (account, region); None: it was not."""
        return self.deregistered.get((account, region), {}).get(ami)

    def gone(self, account: str, region: str, ami: str, deregistered: bool = True) -> bool:
        """Whether (account, region) has no such AMI now (``deregistered``: or had, once)."""
        if ami not in self.amis:
            return True
        return deregistered and self.deregistered_at(account, region, ami) is not None

    def describe(self, account: str, region: str, ids: Sequence[str]) -> dict[str, images.Image]:
        """DescribeImages by ID, as ``ImageClient.images`` returns it: a gone AMI is absent."""
        return {
            ami: images.Image(
                image_id=ami,
                owner_id=self.owner(account, ami),
                state="available",
                public=self.of(ami).public,
                protection=self.of(ami).protection,
                snapshot_ids=snapshot_ids(ami),
                name=f"image {ami}",
            )
            for ami in dict.fromkeys(ids)
            if not self.gone(account, region, ami)
        }

    def _owned(self, account: str, region: str, ami: str) -> Traits:
        """The traits of the caller's own AMI; the error EC2 gives for any other."""
        if self.gone(account, region, ami):
            raise not_found(ami)
        traits = self.of(ami)
        if traits.foreign:
            code = "AuthFailure"
            raise errors.AwsError(
                errors.reason_for_code(code), code, f"Not authorized for image:{ami}"
            )
        return traits

    def launch_permissions(self, account: str, region: str, ami: str) -> images.LaunchPermissions:
        """DescribeImageAttribute(launchPermission): the owner's only."""
        traits = self._owned(account, region, ami)
        return images.LaunchPermissions(
            public=traits.public,
            accounts=tuple(s for s in traits.shared if s.isdigit()),
            organizations=tuple(s for s in traits.shared if not s.isdigit()),
        )

    def references(self, account: str, region: str, ids: Sequence[str]) -> list[images.Reference]:
        """DescribeImageReferences (at most 10 AMIs): the live references of those not gone."""
        if len(ids) > images.REFERENCES_PER_CALL:
            raise ValueError(f"DescribeImageReferences takes at most 10 image IDs, got {len(ids)}")
        now = self.now()
        return [
            images.Reference(ami, r.resource_type, r.arn)
            for ami in dict.fromkeys(ids)
            if not self.gone(account, region, ami)
            for r in self.of(ami).live_references(now)
        ]

    def snapshots(
        self, account: str, region: str, ids: Sequence[str]
    ) -> dict[str, images.Snapshot]:
        """DescribeSnapshots: the account's snapshots not deleted (another's are absent)."""
        deleted = self.deleted.get((account, region), set())
        return {
            s: images.Snapshot(s, snapshot_bytes(s))
            for s in dict.fromkeys(ids)
            if image_of(s) in self.amis and not self.of(image_of(s)).foreign and s not in deleted
        }

    def deregister(
        self, account: str, region: str, ami: str, delete_snapshots: bool
    ) -> images.Deregistered:
        """DeregisterImage: the owner's AMI, unless its deregistration protection is on."""
        traits = self._owned(account, region, ami)
        if traits.protection != images.PROTECTION_DISABLED:
            raise errors.AwsError(
                errors.reason_for_code(PROTECTED_CODE),
                PROTECTED_CODE,
                f"The image {ami} cannot be deregistered: its deregistration protection "
                f"is {traits.protection}.",
            )
        self.deregistered.setdefault((account, region), {})[ami] = self.now()
        if not delete_snapshots:
            return images.Deregistered(returned=True)
        self.deleted.setdefault((account, region), set()).update(snapshot_ids(ami))
        return images.Deregistered(
            returned=True,
            snapshots=tuple((s, images.SNAPSHOT_DELETED) for s in snapshot_ids(ami)),
        )
