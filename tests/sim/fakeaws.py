"""A fake EC2 (store tasks) for the simulation: what AWS does, on the virtual clock.

Per (account, region): AMIs, their store tasks, and the account's store capacity.
A new task is listed only after a visibility delay (EC2 is eventually
consistent); its progress grows with time; it ends Completed or Failed as drawn.
Faults: throttling and 5xx windows, AMI IDs AWS rejects, AMIs an IAM policy
denies (per AMI, as a tag-scoped policy does), and creates and deregistrations whose
answer is lost after AWS acted (the caller sees a 5xx). AMIs themselves: ``fakeimages``.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from amistore_operator.aws import errors
from amistore_operator.core import images as core_images
from amistore_operator.core import model, verify

from tests.sim import fakeimages

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
Reason = model.PollErrorReason
T = TypeVar("T")


@dataclasses.dataclass
class Task:
    """One store task as AWS keeps it."""

    ami: str
    bucket: str
    start: float  # virtual seconds
    duration: float
    fails: bool
    visible_at: float

    def state(self, now: float) -> model.TaskState:
        """AWS's state of the task at ``now``."""
        if now < self.start + self.duration:
            return model.TaskState.IN_PROGRESS
        return model.TaskState.FAILED if self.fails else model.TaskState.COMPLETED

    def render(self, now: float) -> model.StoreTask:
        """The task as DescribeStoreImageTasks shows it at ``now``."""
        state = self.state(now)
        progress = 100 if state == model.TaskState.COMPLETED else 0
        if state == model.TaskState.IN_PROGRESS:
            progress = min(99, int(100 * (now - self.start) / self.duration))
        start = EPOCH + datetime.timedelta(seconds=int(self.start))
        return model.StoreTask(
            ami_id=self.ami,
            state=state,
            progress=progress,
            bucket=self.bucket,
            s3_object_key=f"{self.ami}.bin",
            start_time=start,
            failure_reason="simulated failure" if state == model.TaskState.FAILED else None,
        )


@dataclasses.dataclass(frozen=True)
class Call:
    """One call AWS received (DryRuns included)."""

    t: float
    account: str
    region: str
    op: str  # describe_ids | describe_page | create | preflight | head_object (S3) | ...
    amis: tuple[str, ...]
    bucket: str | None
    outcome: str  # ok | an error code


@dataclasses.dataclass
class Faults:
    """What goes wrong, and when (virtual seconds)."""

    throttle: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    unavailable: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    fault_rate: float = 0.5  # share of calls refused inside a window
    lost_create_rate: float = 0.0  # creates AWS acts on but whose answer is lost
    lost_deregister_rate: float = 0.0  # deregistrations AWS acts on, answer lost


class FakeEc2:
    """Every (account, region) of the simulated AWS."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        rng: random.Random,
        amis: Sequence[str],
        invalid: Sequence[str] = (),
        denied: Sequence[str] = (),
        duration: Callable[[str], float],
        fails: Callable[[str], bool],
        visibility: Callable[[], float],
        capacity: int = 20,
        faults: Faults | None = None,
        images: Mapping[str, fakeimages.Traits] | None = None,
    ) -> None:
        self.now = now
        self.rng = rng
        self.amis = set(amis)
        self.invalid = set(invalid)  # AWS rejects these IDs (InvalidAMIID.NotFound)
        self.denied = set(denied)  # IAM denies creating these (UnauthorizedOperation)
        self.duration = duration
        self.fails = fails
        self.visibility = visibility
        self.capacity = capacity  # store tasks in progress per (account, region)
        self.faults = faults or Faults()
        self.tasks: dict[tuple[str, str], dict[str, list[Task]]] = {}
        self.calls: list[Call] = []
        self.missing: set[str] = set()  # AMIs whose objects S3 does not show (deleted)
        self.expiring: set[str] = set()  # buckets whose lifecycle rule expires objects
        self.images = fakeimages.FakeImages(
            now=now, amis=self.amis - self.invalid, traits=images or {}
        )

    def object_of(self, account: str, region: str, bucket: str, key: str) -> Task | None:
        """The Completed task whose object ``s3://bucket/key`` is now (the latest wins)."""
        ami = key.removesuffix(".bin")
        if ami in self.missing:
            return None
        now = self.now()
        done = [
            t
            for t in self.region_tasks(account, region).get(ami, [])
            if t.bucket == bucket and t.state(now) == model.TaskState.COMPLETED
        ]
        return max(done, key=lambda t: t.start + t.duration, default=None)

    @staticmethod
    def size_of(task: Task) -> int:
        """The size of the object a task wrote (from its AMI and start: a new one per task)."""
        return 1_000_000 * (1 + int(task.ami[-4:], 16)) + int(task.start)

    def client(self, account: str, region: str) -> Client:
        """The blocking client of (account, region)."""
        return Client(self, account, region)

    def region_tasks(self, account: str, region: str) -> dict[str, list[Task]]:
        """Every task of (account, region) by AMI, oldest first."""
        return self.tasks.setdefault((account, region), {})

    def in_progress(self, account: str, region: str) -> int:
        """Store tasks of (account, region) running now."""
        now = self.now()
        return sum(
            1
            for tasks in self.region_tasks(account, region).values()
            for t in tasks
            if t.state(now) == model.TaskState.IN_PROGRESS
        )

    def fault(self, op: str) -> errors.AwsError | None:
        """The fault a call made now meets, if any."""
        now = self.now()
        for start, end in self.faults.throttle:
            if start <= now < end and self.rng.random() < self.faults.fault_rate:
                return errors.AwsError(Reason.THROTTLED, "RequestLimitExceeded", "Rate exceeded")
        for start, end in self.faults.unavailable:
            if start <= now < end and self.rng.random() < self.faults.fault_rate:
                return errors.AwsError(Reason.AWS_UNAVAILABLE, "InternalError", f"{op} failed")
        return None


class Client:
    """``calls.StoreTaskApi``, ``exporter.CreateApi`` and ``images.ImageClient`` of one region."""

    def __init__(self, ec2: FakeEc2, account: str, region: str) -> None:
        self.ec2 = ec2
        self.account = account
        self.region = region

    def _log(self, op: str, amis: Sequence[str], bucket: str | None, outcome: str) -> None:
        self.ec2.calls.append(
            Call(self.ec2.now(), self.account, self.region, op, tuple(amis), bucket, outcome)
        )

    def _check(self, op: str, amis: Sequence[str], bucket: str | None, gone: bool = True) -> None:
        error = self.ec2.fault(op)
        if error is None:
            # A deregistered AMI is gone (but not its objects in S3: ``gone`` False).
            bad = [a for a in amis if self.ec2.images.gone(self.account, self.region, a, gone)]
            if bad:
                error = errors.AwsError(
                    Reason.INVALID_IMAGE_ID,
                    "InvalidAMIID.NotFound",
                    f"The image id '[{bad[0]}]' does not exist",
                )
        if error is not None:
            self._log(op, amis, bucket, error.code)
            raise error

    def _latest_visible(self) -> dict[str, Task]:
        now = self.ec2.now()
        latest: dict[str, Task] = {}
        for ami, tasks in self.ec2.region_tasks(self.account, self.region).items():
            seen = [t for t in tasks if t.visible_at <= now]
            if seen:
                latest[ami] = seen[-1]
        return latest

    def describe_ids(self, image_ids: Sequence[str]) -> list[model.StoreTask]:
        """DescribeStoreImageTasks with ImageIds: the latest visible task of each."""
        self._check("describe_ids", image_ids, None)
        self._log("describe_ids", image_ids, None, "ok")
        latest = self._latest_visible()
        now = self.ec2.now()
        return [latest[a].render(now) for a in image_ids if a in latest]

    def describe_page(
        self,
        *,
        task_states: Sequence[str] = (),
        bucket: str | None = None,
        max_results: int = 200,
        next_token: str | None = None,
    ) -> tuple[list[model.StoreTask], str | None]:
        """DescribeStoreImageTasks with filters, newest first, a page at a time."""
        self._check("describe_page", (), bucket)
        self._log("describe_page", (), bucket, "ok")
        now = self.ec2.now()
        found = [
            t.render(now)
            for t in sorted(self._latest_visible().values(), key=lambda t: (-t.start, t.ami))
            if (not task_states or t.state(now).value in task_states)
            and (bucket is None or t.bucket == bucket)
        ]
        start = int(next_token or 0)
        end = start + max_results
        return found[start:end], (str(end) if end < len(found) else None)

    def preflight(self, ami_id: str, bucket: str) -> None:
        """A DryRun CreateStoreImageTask: returns when IAM allows it."""
        self._check("preflight", (ami_id,), bucket)
        if ami_id in self.ec2.denied:
            self._log("preflight", (ami_id,), bucket, "UnauthorizedOperation")
            raise errors.AwsError(
                Reason.ACCESS_DENIED,
                "UnauthorizedOperation",
                f"You are not authorized to perform this operation on {ami_id}.",
            )
        self._log("preflight", (ami_id,), bucket, "ok")

    def head(self, bucket: str, key: str) -> verify.Head | None:
        """HeadObject (S3) of the object a store task wrote (None: S3 has none)."""
        ami = key.removesuffix(".bin")
        self._check("head_object", (ami,), bucket, gone=False)
        task = self.ec2.object_of(self.account, self.region, bucket, key)
        self._log("head_object", (ami,), bucket, "ok" if task is not None else "404")
        if task is None:
            return None
        written = EPOCH + datetime.timedelta(seconds=task.start + task.duration)
        expiry = fakeimages.expiration(written) if bucket in self.ec2.expiring else None
        return verify.Head(self.ec2.size_of(task), None, f'"{int(task.start)}"', expiry)

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str:
        """CreateStoreImageTask: a new task, listed after the visibility delay."""
        self._check("create", (ami_id,), bucket)
        if ami_id in self.ec2.denied:
            self._log("create", (ami_id,), bucket, "UnauthorizedOperation")
            raise errors.AwsError(
                Reason.ACCESS_DENIED,
                "UnauthorizedOperation",
                f"You are not authorized to perform this operation on {ami_id}.",
            )
        if self.ec2.in_progress(self.account, self.region) >= self.ec2.capacity:
            self._log("create", (ami_id,), bucket, "ResourceLimitExceeded")
            raise errors.AwsError(
                Reason.INVALID_REQUEST, "ResourceLimitExceeded", "Store capacity exceeded"
            )
        now = self.ec2.now()
        task = Task(
            ami=ami_id,
            bucket=bucket,
            start=now,
            duration=self.ec2.duration(ami_id),
            fails=self.ec2.fails(ami_id),
            visible_at=now + self.ec2.visibility(),
        )
        self.ec2.region_tasks(self.account, self.region).setdefault(ami_id, []).append(task)
        if self.ec2.rng.random() < self.ec2.faults.lost_create_rate:
            self._log("create", (ami_id,), bucket, "lost")
            raise errors.AwsError(Reason.AWS_UNAVAILABLE, "InternalError", "no answer")
        self._log("create", (ami_id,), bucket, "ok")
        return f"{ami_id}.bin"

    def _image_call(
        self, op: str, amis: Sequence[str], act: Callable[..., T], *args: Any, lost: float = 0.0
    ) -> T:
        """The image side's call: a window's fault, else ``act``'s answer (lost at ``lost``)."""
        try:
            if (error := self.ec2.fault(op)) is not None:
                raise error
            result = act(self.account, self.region, *args)
        except errors.AwsError as exc:
            self._log(op, amis, None, exc.code)
            raise
        outcome = "lost" if lost and self.ec2.rng.random() < lost else "ok"
        self._log(op, amis, None, outcome)
        if outcome == "lost":
            raise errors.AwsError(Reason.AWS_UNAVAILABLE, "InternalError", "no answer")
        return result

    def images(self, image_ids: Sequence[str]) -> dict[str, core_images.Image]:
        """DescribeImages by ID; a gone AMI is absent."""
        return self._image_call("describe_images", image_ids, self.ec2.images.describe, image_ids)

    def launch_permissions(self, image_id: str) -> core_images.LaunchPermissions:
        """DescribeImageAttribute(launchPermission)."""
        act = self.ec2.images.launch_permissions
        return self._image_call("describe_image_attribute", (image_id,), act, image_id)

    def references(self, image_ids: Sequence[str]) -> list[core_images.Reference]:
        """DescribeImageReferences, ten AMIs a call (AWS takes no more), as ImageClient does."""
        ids, step = list(dict.fromkeys(image_ids)), core_images.REFERENCES_PER_CALL
        found: list[core_images.Reference] = []
        for batch in (ids[i : i + step] for i in range(0, len(ids), step)):
            act = self.ec2.images.references
            found += self._image_call("describe_image_references", batch, act, batch)
        return found

    def snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, core_images.Snapshot]:
        """DescribeSnapshots, logged with the snapshots' AMIs."""
        amis = tuple(dict.fromkeys(fakeimages.image_of(s) for s in snapshot_ids))
        return self._image_call("describe_snapshots", amis, self.ec2.images.snapshots, snapshot_ids)

    def deregister(self, image_id: str, delete_snapshots: bool) -> core_images.Deregistered:
        """DeregisterImage, its answer lost at the drawn rate."""
        act, lost = self.ec2.images.deregister, self.ec2.faults.lost_deregister_rate
        return self._image_call(
            "deregister", (image_id,), act, image_id, delete_snapshots, lost=lost
        )
