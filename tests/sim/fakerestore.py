"""A fake EC2 and S3 for AmiRestore, on the simulation's virtual clock (``RestoreApi``).

Objects (storage classes, thaws that take their tier's time and expire after their days),
AMIs registered under unique names (``CreateRestoreImageTask`` answers
``InvalidAMIName.Duplicate`` for a name taken, ``ResourceLimitExceeded`` past the
account's capacity, and refuses an archived object not thawed), restored images
``pending`` until their duration ends, then ``available`` or ``failed``; a new image is
listed by DescribeImages only after a visibility delay, as EC2's reads are eventually
consistent. Faults: windows where every call fails (5xx), and creates whose answer is
lost after AWS acted. Every call is logged, with what AWS did.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Callable, Mapping, Sequence

from amistore_operator.aws import errors
from amistore_operator.core import model
from amistore_operator.core import restoreview as rv

from tests.sim.fakeaws import EPOCH

Reason = model.PollErrorReason
THAW_SECONDS = {"Expedited": 300.0, "Standard": 5 * 3600.0, "Bulk": 12 * 3600.0}
DEEP_THAW_SECONDS = {"Standard": 12 * 3600.0, "Bulk": 48 * 3600.0}


@dataclasses.dataclass
class StoredObj:
    """One object a store task wrote, as S3 keeps it."""

    bucket: str
    key: str
    size_gb: float
    storage_class: str = "STANDARD"
    archive_status: str | None = None
    ami_name: str | None = None
    thawed_at: float | None = None  # when the running thaw ends
    expires_at: float | None = None  # the thawed copy's end

    def head(self, now: float) -> rv.StoredObject:
        """HeadObject at ``now``."""
        ongoing: bool | None = None
        expiry = None
        if self.thawed_at is not None:
            if now < self.thawed_at:
                ongoing = True
            elif self.expires_at is not None and now < self.expires_at:
                ongoing, expiry = False, EPOCH + datetime.timedelta(seconds=self.expires_at)
        return rv.StoredObject(
            size=int(self.size_gb * 2**30),
            storage_class=self.storage_class,
            archive_status=self.archive_status,
            thaw_ongoing=ongoing,
            thaw_expiry=expiry,
            ami_name=self.ami_name,
        )

    def readable(self, now: float) -> bool:
        """Whether EC2 can read it now."""
        return not self.head(now).archived or self.head(now).thawed


@dataclasses.dataclass
class Image:
    """One AMI of the account: a restored one (``uid`` tagged) or another that holds a name."""

    image_id: str
    name: str
    created: float
    duration: float = 0.0
    fails: bool = False
    uid: str | None = None
    size_gb: float = 0.0
    visible_at: float = 0.0
    deregistered_at: float | None = None

    def state(self, now: float) -> str:
        """AWS's state at ``now``."""
        if now < self.created + self.duration:
            return "pending"
        return "failed" if self.fails else "available"


@dataclasses.dataclass(frozen=True)
class Call:
    """One call the operator made, and what AWS did."""

    t: float
    op: str  # head | thaw | image_named | image_of | progress | create | deregister
    bucket: str = ""
    key: str = ""
    name: str = ""
    uid: str = ""
    outcome: str = "ok"  # ok | acted | lost (acted, no answer) | refused | down
    image_id: str = ""


@dataclasses.dataclass
class Faults:
    """Windows (virtual seconds) where calls fail, and creates whose answer is lost."""

    down: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    lost: list[tuple[float, float]] = dataclasses.field(default_factory=list)


class FakeRestoreAws:
    """One account and region's objects and images, and the calls made to them."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        rng: random.Random,
        objects: Sequence[StoredObj],
        images: Sequence[Image] = (),
        durations: Mapping[str, float] | None = None,  # by object key
        failing: Mapping[str, int] | None = None,  # by object key: how many restores fail
        capacity_gb: float = 600.0,
        visibility: float = 0.0,
        day_seconds: float = 86400.0,
        thaw_scale: float = 1.0,
        faults: Faults | None = None,
    ) -> None:
        self.now = now
        self.rng = rng
        self.objects = {(o.bucket, o.key): o for o in objects}
        self.images = list(images)
        self.durations = dict(durations or {})
        self.failing = dict(failing or {})
        self.capacity_gb = capacity_gb
        self.visibility = visibility
        self.day_seconds = day_seconds
        self.thaw_scale = thaw_scale  # a thaw takes its tier's time times this
        self.faults = faults or Faults()
        self.calls: list[Call] = []
        self._ids = 0

    def client(self, account: str, region: str) -> FakeRestoreAws:
        """The client of (account, region): one account here."""
        return self

    def _in(self, windows: list[tuple[float, float]]) -> bool:
        return any(a <= self.now() < b for a, b in windows)

    def _down(self, call: Call) -> None:
        if self._in(self.faults.down):
            self.calls.append(dataclasses.replace(call, outcome="down"))
            raise errors.AwsError(Reason.AWS_UNAVAILABLE, "InternalError", "try again")

    def _registered(self, name: str) -> Image | None:
        return next((i for i in self.images if i.name == name and i.deregistered_at is None), None)

    def head(self, bucket: str, key: str) -> rv.StoredObject | None:
        self._down(Call(self.now(), "head", bucket, key))
        self.calls.append(Call(self.now(), "head", bucket, key))
        obj = self.objects.get((bucket, key))
        return obj.head(self.now()) if obj is not None else None

    def thaw(self, bucket: str, key: str, days: int, tier: str, *, days_apply: bool) -> None:
        call = Call(self.now(), "thaw", bucket, key)
        self._down(call)
        obj = self.objects.get((bucket, key))
        if obj is None:
            self.calls.append(dataclasses.replace(call, outcome="refused"))
            raise errors.AwsError(Reason.INVALID_REQUEST, "NoSuchKey", f"s3://{bucket}/{key}")
        now, seen = self.now(), obj.head(self.now())
        if seen.thaw_ongoing:
            self.calls.append(dataclasses.replace(call, outcome="in-progress"))
            return  # RestoreAlreadyInProgress: success
        table = DEEP_THAW_SECONDS if seen.deep else THAW_SECONDS
        if tier not in table:
            self.calls.append(dataclasses.replace(call, outcome="refused"))
            raise errors.AwsError(Reason.INVALID_REQUEST, "InvalidArgument", f"no {tier} tier")
        obj.thawed_at = now + table[tier] * self.thaw_scale
        obj.expires_at = obj.thawed_at + days * self.day_seconds
        self.calls.append(dataclasses.replace(call, outcome="acted"))

    def image_named(self, name: str) -> rv.RestoredImage | None:
        self._down(Call(self.now(), "image_named", name=name))
        self.calls.append(Call(self.now(), "image_named", name=name))
        return self._shown(self._registered(name))

    def image_of(self, uid: str) -> rv.RestoredImage | None:
        self._down(Call(self.now(), "image_of", uid=uid))
        self.calls.append(Call(self.now(), "image_of", uid=uid))
        mine = [i for i in self.images if i.uid == uid and i.deregistered_at is None]
        shown = [s for s in map(self._shown, mine) if s is not None and s.state != "failed"]
        return min(shown, key=lambda s: s.image_id, default=None)

    def _shown(self, image: Image | None) -> rv.RestoredImage | None:
        """What DescribeImages shows of ``image`` now (None: not yet, or no image)."""
        if image is None or self.now() < image.visible_at:
            return None
        tags = ((rv.RESTORE_UID_TAG, image.uid),) if image.uid else ()
        reason = "Server.InternalError: restore failed" if image.fails else ""
        return rv.RestoredImage(
            image.image_id,
            image.name,
            image.state(self.now()),
            reason,
            (f"snap-{image.image_id}",),
            tags,
        )

    def progress(self, snapshot_ids: Sequence[str]) -> int | None:
        self._down(Call(self.now(), "progress"))
        self.calls.append(Call(self.now(), "progress"))
        for image in self.images:
            if f"snap-{image.image_id}" in snapshot_ids and image.duration > 0:
                return min(100, int(100 * (self.now() - image.created) / image.duration))
        return None

    def create(self, bucket: str, key: str, name: str, tags: Mapping[str, str]) -> str:
        uid = tags.get(rv.RESTORE_UID_TAG, "")
        call = Call(self.now(), "create", bucket, key, name, uid)
        self._down(call)
        obj = self.objects.get((bucket, key))
        holder = self._registered(name)
        if obj is None or not obj.readable(self.now()):
            self.calls.append(dataclasses.replace(call, outcome="refused"))
            raise errors.AwsError(Reason.INVALID_REQUEST, "InvalidParameterValue", "not readable")
        if holder is not None:
            self.calls.append(dataclasses.replace(call, outcome="duplicate"))
            message = f"AMI name {name} is already in use by AMI {holder.image_id}"
            raise errors.AwsError(Reason.INVALID_REQUEST, rv.NAME_TAKEN, message)
        busy = sum(
            i.size_gb for i in self.images
            if i.deregistered_at is None and i.state(self.now()) == "pending"
        )  # fmt: skip
        if busy > 0 and busy + obj.size_gb > self.capacity_gb:
            self.calls.append(dataclasses.replace(call, outcome="limit"))
            raise errors.AwsError(Reason.INVALID_REQUEST, rv.LIMIT_EXCEEDED, "600 GB in progress")
        self._ids += 1
        image_id = f"ami-{self._ids:017x}"
        fails = self.failing.get(key, 0) > 0
        if fails:
            self.failing[key] -= 1
        now = self.now()
        self.images.append(
            Image(
                image_id, name, now, self.durations.get(key, 60.0), fails, uid, obj.size_gb,
                now + self.rng.uniform(0, self.visibility),
            )
        )  # fmt: skip
        lost = self._in(self.faults.lost)
        self.calls.append(
            dataclasses.replace(call, outcome="lost" if lost else "acted", image_id=image_id)
        )
        if lost:
            raise errors.AwsError(Reason.AWS_UNAVAILABLE, "RequestTimeout", "no answer")
        return image_id

    def deregister(self, image_id: str) -> None:
        call = Call(self.now(), "deregister", image_id=image_id)
        self._down(call)
        for image in self.images:
            if image.image_id == image_id and image.deregistered_at is None:
                image.deregistered_at = self.now()
                self.calls.append(dataclasses.replace(call, outcome="acted"))
                return
        self.calls.append(dataclasses.replace(call, outcome="refused"))
        raise errors.AwsError(Reason.INVALID_REQUEST, "InvalidAMIID.NotFound", image_id)
