"""The S3 objects store tasks leave, per account, as HeadObject reports them.

A store task that completes leaves ``s3://{bucket}/{object_key}`` in the account
that created it, written when its script reached 100 percent (a task forced to
Completed: its start plus its duration, at the latest now): that is its
Last-Modified. Its size is the AMI's snapshot data (the sum of its snapshots'
VolumeSize in bytes; AWS does not publish how the stored object's size relates
to it) unless a test sets one; its ETag is a quoted MD5-like hex that changes with
every write. A later export of the same AMI into the same key overwrites it.

Objects are made when looked at (HeadObject, the control API) from the tasks
there are, and from the tasks replaced since (``SimModel.superseded``), so a
million scripted tasks cost nothing until then. Nothing deletes an object but a
test: the simulator has no lifecycle engine, so an expiration or a transition is
only the header a test sets. A restore is what a test sets, or the thaw a
RestoreObject started (see ``thaw``), which moves ``x-amz-restore`` on the clock.
An object a store task wrote records the AMI's name and volumes, which
CreateRestoreImageTask gives the AMI it restores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools

from tests.sandbox.ec2sim import images, model, thaw

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
)
ARCHIVE_STATUSES = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")
"""x-amz-archive-status values, for INTELLIGENT_TIERING objects in an archive tier."""

Key = tuple[str, str]
"""(bucket, object key)."""


@dataclasses.dataclass
class S3Object:
    """One object, with what HeadObject says of it."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    storage_class: str = "STANDARD"
    expiration: tuple[float, str] | None = None
    """(expiry date, lifecycle rule ID) for x-amz-expiration."""
    restore: tuple[bool, float | None] | None = None
    """(ongoing, expiry date of the restored copy) for x-amz-restore."""
    archive_status: str | None = None
    source: tuple[str, float] | None = None
    """(AMI, start time) of the store task that wrote it; None for a test's write."""
    thawing: thaw.Thaw | None = None
    """The thaw a RestoreObject started, which sets ``restore`` (and the archive tier)."""
    ami_name: str | None = None
    """The stored AMI's name, when a store task wrote the object; None: no AMI in it."""
    volumes: tuple[int, ...] = ()
    """The stored AMI's volume sizes in GiB, the snapshots a restore of it makes."""

    def refresh(self, now: float) -> None:
        """Move ``restore`` (and an archive tier) to where the thaw is at ``now``."""
        thawed = self.thawing
        if thawed is None:
            return
        if now < thawed.ready_at:
            self.restore = (True, None)
        elif thawed.expires_at is None:  # INTELLIGENT_TIERING: back in Frequent Access
            self.restore, self.archive_status = (False, None), None
        elif now < thawed.expires_at:
            self.restore = (False, thawed.expires_at)
        else:  # the restored copy is gone, and so is the header
            self.restore, self.thawing = None, None

    def archive(self) -> str | None:
        """The archive the object is in (GLACIER or DEEP_ARCHIVE), None if it is readable."""
        return thaw.archive_of(self.storage_class, self.archive_status)

    def readable(self, now: float) -> bool:
        """Whether its data can be read: in no archive, or a restored copy is there now."""
        if self.archive() is None:
            return True
        restore = self.restore
        return restore is not None and not restore[0] and (restore[1] is None or now < restore[1])

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of an object."""
        expiration = restore = None
        if self.expiration is not None:
            expiration = {"expiry_date": self.expiration[0], "rule_id": self.expiration[1]}
        if self.restore is not None:
            restore = {"ongoing": self.restore[0], "expiry_date": self.restore[1]}
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "storage_class": self.storage_class,
            "expiration": expiration,
            "restore": restore,
            "archive_status": self.archive_status,
            "from_task": self.source is not None,
            "thaw": None if self.thawing is None else self.thawing.to_json(),
            "ami_name": self.ami_name,
        }


def completion_time(task: model.StoreTask, now: float, default_duration: float) -> float | None:
    """When the task reached 100 percent, if it is Completed at ``now``."""
    if model.view(task, now).state != "Completed":
        return None
    if task.segments:
        length = sum(seconds for _, seconds in task.segments)
    else:
        length = default_duration if task.duration is None else task.duration
    return min(now, task.start_time + task.queued_seconds + length)


class ObjectStore:
    """One account's objects, the objects tests deleted, and the buckets it may not read."""

    def __init__(self) -> None:
        self.objects: dict[Key, S3Object] = {}
        self.deleted: dict[Key, float] = {}
        """When a test deleted each key, so an older write does not bring it back."""
        self.denied: set[str] = set()
        self._writes = itertools.count(1)

    def write(
        self, bucket: str, key: str, size: int, when: float, source: tuple[str, float] | None
    ) -> S3Object:
        """Put (or overwrite) an object: a new ETag, Last-Modified ``when``."""
        digest = hashlib.md5(f"{bucket}/{key}#{next(self._writes)}".encode()).hexdigest()
        obj = S3Object(bucket, key, size, f'"{digest}"', when, source=source)
        self.objects[(bucket, key)] = obj
        self.deleted.pop((bucket, key), None)
        return obj

    def delete(self, bucket: str, key: str, now: float) -> bool:
        """Delete an object; whether there was one."""
        self.deleted[(bucket, key)] = now
        return self.objects.pop((bucket, key), None) is not None

    def settle(self, sim: model.SimModel, book: images.ImageBook, only: Key | None = None) -> None:
        """Write the objects of the tasks completed since last looked (of one key, or all)."""
        now = sim.clock.now()
        for task, replaced_at in sim.superseded:
            self._from_task(sim, book, task, replaced_at)
        sim.superseded.clear()
        if only is None:
            tasks = list(sim.tasks.values())
        else:
            direct = sim.tasks.get(only[1].removesuffix(".bin"))
            if direct is not None and (direct.bucket, direct.object_key) == only:
                tasks = [direct]
            else:
                tasks = [t for t in sim.tasks.values() if (t.bucket, t.object_key) == only]
        for task in tasks:
            self._from_task(sim, book, task, now)
        looked = self.objects.values() if only is None else [self.objects.get(only)]
        for obj in looked:
            if obj is not None:
                obj.refresh(now)

    def _from_task(
        self, sim: model.SimModel, book: images.ImageBook, task: model.StoreTask, now: float
    ) -> None:
        when = completion_time(task, now, sim.settings.create_duration)
        if when is None:
            return
        key = (task.bucket, task.object_key)
        source = (task.ami_id, task.start_time)
        current = self.objects.get(key)
        if current is not None and (current.source == source or current.last_modified >= when):
            return  # written already, or overwritten since
        if self.deleted.get(key, when - 1) >= when:
            return  # a test deleted it after this write
        image = book.get(task.ami_id, when)
        size = image.size_bytes() if image is not None else images.DEFAULT_SNAPSHOT_GIB * 2**30
        obj = self.write(task.bucket, task.object_key, size, when, source)
        if image is None:
            obj.ami_name, obj.volumes = f"image-{task.ami_id}", (images.DEFAULT_SNAPSHOT_GIB,)
        else:
            obj.ami_name, obj.volumes = image.name, tuple(d.size_gib for d in image.devices)

    def head(
        self, sim: model.SimModel, book: images.ImageBook, bucket: str, key: str
    ) -> S3Object | None:
        """The object at the key now, if there is one."""
        self.settle(sim, book, (bucket, key))
        return self.objects.get((bucket, key))
