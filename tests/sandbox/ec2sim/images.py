"""AMIs as DescribeImages sees them: name, sharing, deregistration protection and snapshots.

Each account has its own book over its registered AMIs (``model.SimModel.amis``
stays the one record of which are registered); the account is the AMIs' owner. A
record is made the first time an AMI is looked at, with defaults (name
``image-<id>``, private, protection ``disabled``, one 8 GiB EBS snapshot), so the
AMIs the store-task endpoints register, a million of them in a benchmark, cost
nothing until a call or a test looks at them (a listing, DescribeImages without
IDs or DescribeSnapshots, looks at every one). A record keeps its block device mapping
after deregistration; the snapshots themselves are the book's, and go only when
deleted (DeregisterImage with DeleteAssociatedSnapshots).

An AMI CreateRestoreImageTask made carries its ``restores.Restore``, which moves it
and its snapshots from ``pending`` on the clock; every other AMI is ``available``
and every snapshot ``completed``.

Deregistration protection follows EC2's User Guide: ``enabled`` and
``enabled-with-cooldown`` refuse DeregisterImage; turning an
``enabled-with-cooldown`` protection off leaves it ``disabled-until-<time>`` for
24 hours, which still refuses.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping

from tests.sandbox.ec2sim import protocol, restores

DEFAULT_SNAPSHOT_GIB = 8
COOLDOWN_SECONDS = 24 * 3600.0
"""How long an AMI protected with cooldown stays protected after protection is turned off."""
PROTECTIONS = ("disabled", "enabled", "enabled-with-cooldown")
DELETE_FAULTS = ("missing-permissions", "internal-error", "client-error")
"""DeregisterImage's per-snapshot ReturnCodes other than success and skipped."""
SNAPSHOT_ID_RE = re.compile(r"^snap-([0-9a-f]{8}|[0-9a-f]{17})$")
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
DEVICE_NAMES = ("/dev/xvda", *(f"/dev/sd{letter}" for letter in "bcdefghijklmnop"))


class IdSource:
    """Simulator-wide IDs, so no two accounts' snapshots or instances share one."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def make(self, prefix: str) -> str:
        """A new ID: ``snap-``, ``i-`` or ``lt-`` and 17 hex digits."""
        return f"{prefix}-{next(self._next):017x}"


@dataclasses.dataclass
class ImageSettings:
    """How images behave: one set per simulator, shared by every account."""

    deregistered_visible_seconds: float = 0.0
    """How long DescribeImages still lists a deregistered AMI, as ``deregistered``.

    EC2 lists recently deregistered AMIs "for a short interval" it does not bound.
    """


@dataclasses.dataclass
class Snapshot:
    """An EBS snapshot the account owns."""

    snapshot_id: str
    size_gib: int
    start_time: float
    delete_result: str | None = None
    """A fault (one of DELETE_FAULTS) DeregisterImage reports for it instead of deleting it."""
    tags: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    restored: restores.Restore | None = None
    """The restore that is making it, if an AMI restore made it."""

    def status_at(self, now: float) -> tuple[str, int]:
        """(State, whole percent of Progress) as DescribeSnapshots reports them at ``now``."""
        restore = self.restored
        if restore is None:
            return "completed", 100
        return restores.SNAPSHOT_STATES[restore.state_at(now)], restore.progress_at(now)


@dataclasses.dataclass(frozen=True)
class BlockDevice:
    """One EBS volume of an AMI's block device mapping."""

    device_name: str
    snapshot_id: str
    size_gib: int


@dataclasses.dataclass
class Image:
    """What EC2 knows of one AMI beyond whether it is registered."""

    ami_id: str
    name: str
    creation_time: float
    devices: list[BlockDevice] = dataclasses.field(default_factory=list)
    public: bool = False
    user_ids: list[str] = dataclasses.field(default_factory=list)
    organization_arns: list[str] = dataclasses.field(default_factory=list)
    organizational_unit_arns: list[str] = dataclasses.field(default_factory=list)
    protection: str = "disabled"
    cooldown_until: float | None = None
    deregistered_at: float | None = None
    tags: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    restored: restores.Restore | None = None
    """How CreateRestoreImageTask is making it; None for an AMI made any other way."""

    def state_at(self, now: float) -> str:
        """The state of the registered AMI at ``now``: available, or a restore's state."""
        return "available" if self.restored is None else self.restored.state_at(now)

    def state_reason(self, now: float) -> tuple[str, str] | None:
        """The StateReason (code, message) of a failed restore."""
        restore = self.restored
        return restore.reason if restore is not None and restore.state_at(now) == "failed" else None

    def protection_at(self, now: float) -> str:
        """DeregistrationProtection as EC2 reports it at ``now``."""
        until = self.cooldown_until
        if self.protection == "disabled" and until is not None and now < until:
            return f"disabled-until-{protocol.timestamp(until)}"
        return self.protection

    def set_protection(self, value: str, now: float) -> None:
        """Turn protection on or off as Enable/DisableImageDeregistrationProtection do."""
        if value not in PROTECTIONS:
            raise ValueError(f"protection must be one of {', '.join(PROTECTIONS)}")
        if value == "disabled" and self.protection == "enabled-with-cooldown":
            self.cooldown_until = now + COOLDOWN_SECONDS
        elif value != "disabled":
            self.cooldown_until = None
        self.protection = value

    def launchable_by(self, account: str) -> bool:
        """Whether another account may use it: public, or shared with that account.

        Organization and OU grants are kept and reported, but the simulator has no
        Organizations, so they never grant anything.
        """
        return self.public or account in self.user_ids

    def size_bytes(self) -> int:
        """The snapshot data of its block device mapping, in bytes."""
        return sum(d.size_gib for d in self.devices) * 2**30


class ImageBook:
    """One account's image records and snapshots."""

    def __init__(self, amis: Mapping[str, bool], ids: IdSource, settings: ImageSettings) -> None:
        self.amis = amis
        """The account's registration flags (``SimModel.amis``), read only here."""
        self.ids = ids
        self.settings = settings
        self.records: dict[str, Image] = {}
        self.snapshots: dict[str, Snapshot] = {}

    def registered(self, ami_id: str) -> bool:
        """Whether the account has the AMI registered now."""
        return self.amis.get(ami_id, False)

    def get(self, ami_id: str, now: float) -> Image | None:
        """The AMI's record, made with defaults if it is registered and has none yet."""
        record = self.records.get(ami_id)
        if record is not None and record.deregistered_at is not None and self.registered(ami_id):
            record = None  # registered again since: a new AMI under the same ID
        if record is None and self.registered(ami_id):
            record = Image(ami_id, f"image-{ami_id}", now)
            self.set_devices(record, [(None, DEFAULT_SNAPSHOT_GIB)], now)
            self.records[ami_id] = record
        return record

    def registered_images(self, now: float) -> list[Image]:
        """Every registered AMI's record, made where missing."""
        return [r for a, on in self.amis.items() if on and (r := self.get(a, now)) is not None]

    def set_devices(
        self, image: Image, volumes: Iterable[tuple[str | None, int]], now: float
    ) -> None:
        """Give the AMI these (snapshot ID or None for a new one, GiB) volumes.

        A snapshot ID the account already has is shared with the AMIs using it (its
        size is the snapshot's); another ID makes a new snapshot under that ID. A
        snapshot the AMI no longer maps goes unless another AMI maps it.
        """
        devices = []
        for name, (snapshot_id, size) in zip(DEVICE_NAMES, volumes, strict=False):
            snapshot = self.snapshots.get(snapshot_id or "")
            if snapshot is None:
                snapshot = Snapshot(snapshot_id or self.ids.make("snap"), size, now)
                self.snapshots[snapshot.snapshot_id] = snapshot
            devices.append(BlockDevice(name, snapshot.snapshot_id, snapshot.size_gib))
        dropped = {d.snapshot_id for d in image.devices} - {d.snapshot_id for d in devices}
        image.devices = devices
        for snapshot_id in dropped:
            mapped = (d.snapshot_id for r in self.records.values() for d in r.devices)
            if snapshot_id not in mapped:
                self.snapshots.pop(snapshot_id, None)

    def used_elsewhere(self, snapshot_id: str, ami_id: str) -> bool:
        """Whether another registered AMI of the account still maps the snapshot."""
        return any(
            d.snapshot_id == snapshot_id
            for other, record in self.records.items()
            if other != ami_id and record.deregistered_at is None and self.registered(other)
            for d in record.devices
        )

    def mark_deregistered(self, ami_ids: Iterable[str], now: float) -> None:
        """Note when AMIs were deregistered (their registration flags are already off)."""
        for ami_id in ami_ids:
            record = self.records.get(ami_id)
            if record is not None and record.deregistered_at is None:
                record.deregistered_at = now

    def delete_snapshots(self, image: Image) -> list[tuple[str, str]]:
        """DeregisterImage's DeleteAssociatedSnapshots: (snapshot ID, ReturnCode) for each.

        A snapshot another registered AMI still uses is ``skipped`` (AWS keeps it);
        one with a scripted fault answers that fault and stays.
        """
        results: list[tuple[str, str]] = []
        for snapshot_id in dict.fromkeys(d.snapshot_id for d in image.devices):
            snapshot = self.snapshots.get(snapshot_id)
            if snapshot is None:
                continue  # deleted already, with another AMI
            if self.used_elsewhere(snapshot_id, image.ami_id):
                results.append((snapshot_id, "skipped"))
            elif snapshot.delete_result is not None:
                results.append((snapshot_id, snapshot.delete_result))
            else:
                del self.snapshots[snapshot_id]
                results.append((snapshot_id, "success"))
        return results

    def shown_deregistered(self, ami_id: str, now: float) -> Image | None:
        """The record of an AMI deregistered so recently that EC2 still lists it."""
        record = self.records.get(ami_id)
        if record is None or record.deregistered_at is None or self.registered(ami_id):
            return None
        if now < record.deregistered_at + self.settings.deregistered_visible_seconds:
            return record
        return None
