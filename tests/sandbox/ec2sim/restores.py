"""AMIs restored by CreateRestoreImageTask: how each gets from ``pending`` to its end.

A restored AMI is ``pending`` from the call for ``RestoreSettings.duration``
seconds, its snapshots ``pending`` with a Progress rising linearly from 0% to
100%, then ``available`` with its snapshots ``completed``. A test may pin the
progress, complete the restore at once, or fail it with a StateReason: the AMI
is then ``failed`` and its snapshots ``error``, at the progress they had. AWS
publishes no duration, progress curve or failure reasons for restores: all ours.
"""

from __future__ import annotations

import dataclasses

STATES = ("pending", "available", "failed")
SNAPSHOT_STATES = {"pending": "pending", "available": "completed", "failed": "error"}
"""A snapshot's State for each state of the AMI restored with it."""
DEFAULT_FAILURE = ("Server.InternalError", "An internal error occurred while restoring the AMI.")


@dataclasses.dataclass
class RestoreSettings:
    """How CreateRestoreImageTask behaves: one set per simulator, shared by every account."""

    duration: float = 60.0
    """Seconds a restored AMI stays pending."""
    capacity_gb: float | None = 600.0
    """GB of snapshot data an account may have in restores in progress (None: no limit).

    AWS's guide: 600 GB per account for restores, as against 1,200 GB for stores.
    """


@dataclasses.dataclass
class Restore:
    """One restored AMI's script, shared by the AMI and its snapshots."""

    bucket: str
    key: str
    start: float
    duration: float
    size_gb: float
    """The stored object's size in GiB, which the restore counts against capacity."""
    pinned: int | None = None
    """A progress a test set, which the clock no longer moves."""
    forced: str | None = None
    """``available`` or ``failed``, set by a test; wins over the script."""
    reason: tuple[str, str] | None = None
    """The StateReason (code, message) of a failed restore."""

    def progress_at(self, now: float) -> int:
        """The snapshots' whole percent at ``now``."""
        if self.forced == "available":
            return 100
        if self.pinned is not None:
            return self.pinned
        if self.duration <= 0:
            return 100
        return max(0, min(100, int((now - self.start) / self.duration * 100)))

    def state_at(self, now: float) -> str:
        """The AMI's state at ``now``: pending, available or failed."""
        if self.forced is not None:
            return self.forced
        return "available" if self.progress_at(now) >= 100 else "pending"

    def fail(self, now: float, reason: tuple[str, str] = DEFAULT_FAILURE) -> None:
        """Fail the restore now, its snapshots stopped where they are."""
        self.pinned = self.progress_at(now)
        self.forced, self.reason = "failed", reason

    def complete(self) -> None:
        """Finish the restore now."""
        self.pinned, self.forced, self.reason = None, "available", None

    def resume(self, now: float, duration: float | None = None) -> None:
        """Back to pending, moving on the clock from where it is (over ``duration`` if given)."""
        done = min(self.progress_at(now), 99)
        if duration is not None:
            self.duration = duration
        self.start = now - self.duration * done / 100
        self.pinned, self.forced, self.reason = None, None, None
