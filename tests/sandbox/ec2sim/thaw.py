"""S3's archive storage and its thaw (RestoreObject), on the simulator's clock.

An object in GLACIER or DEEP_ARCHIVE, or INTELLIGENT_TIERING in an archive access
tier (``x-amz-archive-status``), cannot be read until a RestoreObject has thawed
it. A thaw takes the tier's time (``ThawSettings.thaw_seconds``: by default the
upper end of each range AWS's S3 User Guide gives, since it publishes no
exact figure), then the restored copy of a GLACIER or DEEP_ARCHIVE object lasts
its Days: S3 adds them to the time the restore completed and rounds up to the
next midnight UTC. A test scales a day down (``day_seconds``) to see a copy
expire. An INTELLIGENT_TIERING object has no copy: once thawed it is back in the
Frequent Access tier, with no expiry.
"""

from __future__ import annotations

import dataclasses
import math

ARCHIVES = ("GLACIER", "DEEP_ARCHIVE")
"""The two kinds of archive, each with its own thaw durations."""
TIERS = ("Expedited", "Standard", "Bulk")
DEFAULT_TIER = "Standard"
DAY_SECONDS = 86_400.0


def default_thaw_seconds() -> dict[str, dict[str, float]]:
    """AWS's documented upper bounds: Flexible Retrieval (and Intelligent-Tiering's Archive
    Access) 1-5 minutes, 3-5 hours, 5-12 hours; Deep Archive (and Deep Archive Access) 12
    and 48 hours, with no Expedited retrieval."""
    return {
        "GLACIER": {"Expedited": 5 * 60.0, "Standard": 5 * 3600.0, "Bulk": 12 * 3600.0},
        "DEEP_ARCHIVE": {"Standard": 12 * 3600.0, "Bulk": 48 * 3600.0},
    }


@dataclasses.dataclass
class ThawSettings:
    """How RestoreObject behaves: one set per simulator, shared by every account."""

    thaw_seconds: dict[str, dict[str, float]] = dataclasses.field(
        default_factory=default_thaw_seconds
    )
    """Archive kind -> tier -> seconds a thaw takes; a tier missing is not offered."""
    day_seconds: float = DAY_SECONDS
    """How long one of RestoreObject's Days lasts on the simulator's clock."""

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of the settings."""
        return {
            "thaw_seconds": {kind: dict(tiers) for kind, tiers in self.thaw_seconds.items()},
            "day_seconds": self.day_seconds,
        }


def archive_of(storage_class: str, archive_status: str | None) -> str | None:
    """The archive an object is in (GLACIER or DEEP_ARCHIVE), or None: readable as it is."""
    if storage_class in ARCHIVES:
        return storage_class
    if storage_class == "INTELLIGENT_TIERING" and archive_status is not None:
        return "DEEP_ARCHIVE" if archive_status == "DEEP_ARCHIVE_ACCESS" else "GLACIER"
    return None


def expiry(completed: float, days: int, day_seconds: float) -> float:
    """When a restored copy goes: ``days`` after ``completed``, up to the next midnight UTC."""
    return math.ceil((completed + days * day_seconds) / day_seconds) * day_seconds


@dataclasses.dataclass
class Thaw:
    """One RestoreObject's thaw of one object."""

    tier: str
    requested_at: float
    ready_at: float
    """When the restore completes (``ongoing-request`` turns false)."""
    expires_at: float | None
    """When the restored copy goes; None for INTELLIGENT_TIERING, which keeps no copy."""

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of a thaw."""
        return dataclasses.asdict(self)
