"""The simulator's state: a movable clock, AMIs, and scripted store tasks with a sorted index."""

from __future__ import annotations

import bisect
import dataclasses
import re
import time
from collections.abc import Callable, Iterable

AMI_ID_RE = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
STATES = ("InProgress", "Completed", "Failed")
WINDOW_SECONDS = 31 * 24 * 3600.0
"""AWS shows store tasks of the last 31 days only."""
DEFAULT_PAGE_SIZE = 1000
"""Page size without MaxResults (AWS does not publish one; 1000 is EC2's usual default)."""

IndexKey = tuple[float, str]
"""(-start_time, ami_id): ascending order is newest first, ties broken by AMI ID."""


class SimClock:
    """Real time plus an offset that tests move forward, or a frozen instant."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0
        self._frozen_at: float | None = None

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still."""
        return self._frozen_at is not None

    @property
    def offset(self) -> float:
        """Seconds between the simulated clock and real time."""
        return self.now() - self._wall()

    def now(self) -> float:
        """The simulated time as Unix seconds."""
        if self._frozen_at is not None:
            return self._frozen_at
        return self._wall() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds

    def set(self, when: float) -> None:
        """Jump to a Unix time; the clock keeps running from there unless frozen."""
        if self._frozen_at is not None:
            self._frozen_at = when
        else:
            self._offset = when - self._wall()

    def freeze(self, frozen: bool = True) -> None:
        """Stop the clock at the current instant, or let it run again from there."""
        if frozen and self._frozen_at is None:
            self._frozen_at = self.now()
        elif not frozen and self._frozen_at is not None:
            self._offset = self._frozen_at - self._wall()
            self._frozen_at = None


@dataclasses.dataclass
class StoreTask:
    """A store task as scripted: linear progress over `duration`, or fixed progress."""

    ami_id: str
    bucket: str
    start_time: float
    duration: float | None = 60.0
    """Seconds from 0 to 100 percent; None means `progress` stays where it is."""
    progress: int = 0
    queued_seconds: float = 0.0
    """Seconds at 0 percent after `start_time` before the task moves (AWS's queue)."""
    segments: tuple[tuple[float, float], ...] = ()
    """A curve instead of the linear `duration`: (up to percent, over seconds) pieces."""
    steps: tuple[int, ...] = ()
    """The only percentages reported, each once reached (uneven steps); empty: every one."""
    fail_at: int | None = None
    """Percentage at which the task fails with `failure_reason`."""
    failure_reason: str = ""
    forced_state: str | None = None
    """A state set through the control API; wins over the script."""
    object_key: str = ""
    tags: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    visible_from: float = 0.0
    """Simulated time before which DescribeStoreImageTasks does not show the task yet."""

    def __post_init__(self) -> None:
        if not self.object_key:
            self.object_key = f"{self.ami_id}.bin"

    @property
    def key(self) -> IndexKey:
        """This task's position in the newest-first index."""
        return (-self.start_time, self.ami_id)


@dataclasses.dataclass(frozen=True)
class TaskView:
    """What DescribeStoreImageTasks reports for a task at a given instant."""

    ami_id: str
    bucket: str
    object_key: str
    start_time: float
    state: str
    progress: int
    failure_reason: str | None

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of a task."""
        return {
            "ami_id": self.ami_id,
            "bucket": self.bucket,
            "s3_object_key": self.object_key,
            "start_time": self.start_time,
            "state": self.state,
            "progress": self.progress,
            "failure_reason": self.failure_reason,
        }


def view(task: StoreTask, now: float) -> TaskView:
    """Evaluate a task's script at `now`."""
    raw = task.progress if task.duration is None else percent_at(task, now)
    raw = max(0, min(100, raw))
    state, reason = "InProgress", None
    if task.fail_at is not None and raw >= task.fail_at:
        state, raw, reason = "Failed", task.fail_at, task.failure_reason
    elif raw >= 100:
        state = "Completed"
    if task.forced_state is not None:
        state = task.forced_state
        reason = task.failure_reason if state == "Failed" else None
        if state == "Completed":
            raw = 100
    return TaskView(task.ami_id, task.bucket, task.object_key, task.start_time, state, raw, reason)


def percent_at(task: StoreTask, now: float) -> int:
    """The whole percent a scripted task reports at `now`: queue, curve, then steps."""
    assert task.duration is not None
    elapsed = now - task.start_time - task.queued_seconds
    if task.segments:
        raw = _along(task.segments, elapsed)
    elif task.duration <= 0:
        raw = 100
    else:
        raw = int(elapsed / task.duration * 100)
    if task.steps and raw < 100:
        raw = max((s for s in task.steps if s <= raw), default=0)
    return raw


def _along(segments: tuple[tuple[float, float], ...], elapsed: float) -> int:
    """The whole percent reached `elapsed` seconds into a piecewise-linear curve."""
    done, at = 0.0, 0.0
    for until, seconds in segments:
        if elapsed < at + seconds:
            return int(done + (until - done) * max(0.0, elapsed - at) / seconds)
        done, at = until, at + seconds
    return 100 if done >= 100 else int(done)


@dataclasses.dataclass
class CreateSettings:
    """How CreateStoreImageTask behaves: one set per simulator, shared by every account."""

    create_duration: float = 60.0
    """Seconds the tasks it starts take from 0 to 100 percent."""
    store_capacity_gb: float | None = 1200.0
    """GB of snapshot data an account may have in store tasks in progress (None: no limit).

    AWS documents 1,200 GB per account (earlier versions of its guide said 600).
    """
    ami_size_gb: float = 60.0
    """The snapshot data of an AMI without a size of its own."""
    visibility_delay: float = 0.0
    """Seconds a task it starts stays out of DescribeStoreImageTasks (eventual consistency)."""
    bucket_regions: dict[str, str] = dataclasses.field(default_factory=dict)
    """The region of each S3 bucket a test names; a bucket not named is anywhere."""


class SimModel:
    """AMIs and the latest store task per AMI, indexed newest first."""

    def __init__(
        self, clock: SimClock | None = None, settings: CreateSettings | None = None
    ) -> None:
        self.clock = clock or SimClock()
        self.settings = settings or CreateSettings()
        self.amis: dict[str, bool] = {}
        """AMI ID -> registered (False once deregistered)."""
        self.ami_sizes: dict[str, float] = {}
        """AMI ID -> GB of snapshot data, for AMIs not of `settings.ami_size_gb`."""
        self.tasks: dict[str, StoreTask] = {}
        self._index: list[IndexKey] = []
        self.superseded: list[tuple[StoreTask, float]] = []
        """Replaced tasks and when, so the S3 objects they wrote outlive them (see objects)."""

    def size_gb(self, ami_id: str) -> float:
        """The AMI's snapshot data in GB, which its store task counts against capacity."""
        return self.ami_sizes.get(ami_id, self.settings.ami_size_gb)

    def register(self, ami_ids: Iterable[str]) -> None:
        """Register AMIs (again, if they were deregistered)."""
        for ami_id in ami_ids:
            self.amis[ami_id] = True

    def deregister(self, ami_ids: Iterable[str]) -> None:
        """Deregister AMIs: EC2 then answers InvalidAMIID.NotFound for them."""
        for ami_id in ami_ids:
            self.amis[ami_id] = False

    def is_registered(self, ami_id: str) -> bool:
        """Whether the AMI exists and is not deregistered."""
        return self.amis.get(ami_id, False)

    def put(self, task: StoreTask) -> None:
        """Store a task; it replaces the AMI's previous one (a new task supersedes it)."""
        old = self.tasks.get(task.ami_id)
        if old is not None:
            pos = bisect.bisect_left(self._index, old.key)
            del self._index[pos]
            self.superseded.append((old, self.clock.now()))
        self.tasks[task.ami_id] = task
        bisect.insort(self._index, task.key)

    def put_many(self, tasks: Iterable[StoreTask]) -> int:
        """Store many tasks at once, rebuilding the index once; returns how many."""
        count = 0
        for task in tasks:
            if (old := self.tasks.get(task.ami_id)) is not None:
                self.superseded.append((old, self.clock.now()))
            self.tasks[task.ami_id] = task
            count += 1
        self._index = sorted(t.key for t in self.tasks.values())
        return count

    def reindex(self, task: StoreTask, start_time: float) -> None:
        """Move a stored task to a new start time."""
        pos = bisect.bisect_left(self._index, task.key)
        del self._index[pos]
        task.start_time = start_time
        bisect.insort(self._index, task.key)

    def visible(self, task: StoreTask, now: float) -> bool:
        """Whether AWS would show the task: its AMI exists, it is listed yet, in the window."""
        return (
            self.is_registered(task.ami_id)
            and task.visible_from <= now
            and task.start_time >= now - WINDOW_SECONDS
        )

    def by_ids(self, ami_ids: Iterable[str]) -> list[TaskView]:
        """The visible latest task of each AMI given, newest first."""
        now = self.clock.now()
        found = [t for a in ami_ids if (t := self.tasks.get(a)) is not None]
        found = [t for t in found if self.visible(t, now)]
        found.sort(key=lambda t: t.key)
        return [view(t, now) for t in found]

    def page(
        self,
        states: set[str] | None,
        buckets: set[str] | None,
        limit: int,
        after: IndexKey | None,
    ) -> tuple[list[TaskView], IndexKey | None]:
        """One page of the filtered listing after `after`; the key to continue from, if any."""
        now = self.clock.now()
        cutoff = -(now - WINDOW_SECONDS)
        start = 0 if after is None else bisect.bisect_right(self._index, after)
        items: list[TaskView] = []
        tasks = self.tasks
        for pos in range(start, len(self._index)):
            key = self._index[pos]
            if key[0] > cutoff:
                break
            task = tasks[key[1]]
            if buckets is not None and task.bucket not in buckets:
                continue
            if not self.amis.get(task.ami_id, False) or task.visible_from > now:
                continue
            item = view(task, now)
            if states is not None and item.state not in states:
                continue
            if len(items) == limit:
                last = items[-1]
                return items, (-last.start_time, last.ami_id)
            items.append(item)
        return items, None
