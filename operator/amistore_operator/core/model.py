"""Plain value types shared by the core, the poller and the handlers.

Nothing here does IO. AWS results come in as ``StoreTask``; a resource's wish
comes in as ``AmiStoreSpec``; what the poller knows about one resource comes
out as ``ResourceView``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum


class TaskState(enum.StrEnum):
    """State of one AMI's store task, as shown in ``status.tasks[].state``."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    PENDING = "Pending"  # AWS shows no store task for this AMI (in this bucket)
    QUEUED = "Queued"  # the operator will start, or asked AWS to start, a task not listed yet


TERMINAL_STATES = frozenset({TaskState.COMPLETED, TaskState.FAILED})
AWS_TASK_STATES = ("InProgress", "Completed", "Failed")

# spec.afterExport: what becomes of an AMI once its exported object is verified.
AFTER_EXPORT_KEEP = "Keep"
AFTER_EXPORT_DEREGISTER = "Deregister"
AFTER_EXPORT_DELETE_SNAPSHOTS = "DeregisterAndDeleteSnapshots"
AFTER_EXPORT_VALUES = (AFTER_EXPORT_KEEP, AFTER_EXPORT_DEREGISTER, AFTER_EXPORT_DELETE_SNAPSHOTS)


class PollErrorReason(enum.StrEnum):
    """CamelCase reasons of ``Synced=False``."""

    THROTTLED = "Throttled"
    ACCESS_DENIED = "AccessDenied"
    INVALID_CREDENTIALS = "InvalidCredentials"
    INVALID_IMAGE_ID = "InvalidImageId"
    AWS_UNAVAILABLE = "AwsUnavailable"
    UNKNOWN_REGION = "UnknownRegion"  # not a region botocore knows, and its endpoint is unreachable
    INVALID_SPEC = "InvalidSpec"
    INVALID_REQUEST = "InvalidRequest"
    ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"  # the account map denies it: no AWS call made
    ASSUME_ROLE_FAILED = "AssumeRoleFailed"  # STS refused the account's role


@dataclasses.dataclass(frozen=True)
class StoreTask:
    """One StoreImageTaskResult as AWS reports it."""

    ami_id: str
    state: TaskState  # never PENDING: AWS has no such state
    progress: int  # 0..100
    bucket: str | None = None
    s3_object_key: str | None = None
    start_time: datetime.datetime | None = None  # timezone-aware UTC
    failure_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class AmiStoreSpec:
    """A validated ``spec`` with the operator's defaults filled in."""

    image_ids: tuple[str, ...]  # empty: track every task matching bucket/task_states
    bucket: str | None
    task_states: tuple[str, ...]  # subset of AWS_TASK_STATES; empty when image_ids is set
    region: str
    poll_interval: float  # seconds
    account: str = ""  # spec.account; "": the operator's own identity
    stall_after: float = 7200.0  # spec.stallAfterSeconds, else --stall-after (seconds)
    create_tasks: bool = False  # spec.createTasks: start a store task for each AMI without one
    s3_object_tags: tuple[tuple[str, str], ...] = ()  # spec.s3ObjectTags, sorted by key
    verify_objects: bool = False  # spec.verifyObjects: HeadObject each Completed task's object
    after_export: str = AFTER_EXPORT_KEEP  # spec.afterExport, one of AFTER_EXPORT_VALUES
    after_export_delay: float = 86400.0  # spec.afterExportDelaySeconds: after verification

    @property
    def cleans_up(self) -> bool:
        """Whether the AMIs are deregistered once their objects are verified."""
        return self.after_export != AFTER_EXPORT_KEEP

    @property
    def verifies(self) -> bool:
        """Whether each Completed task's object is verified: asked for, or needed by cleanup."""
        return self.verify_objects or self.cleans_up


@dataclasses.dataclass(frozen=True)
class PollError:
    """Why the last AWS poll for a resource failed."""

    reason: PollErrorReason
    message: str  # AWS's own message where there is one


@dataclasses.dataclass(frozen=True)
class ResourceView:
    """What the poller knows for one resource after a refresh.

    ``tasks`` maps every AMI the resource tracks to AWS's latest task for it
    (``None``: AWS shows no task, i.e. Pending). With ``image_ids`` every ID is
    a key; without, the keys are the tasks the listing matched. When ``error``
    is set, ``tasks`` holds only what is known to be fresh (possibly nothing),
    and the core keeps the previous status for the rest.
    """

    tasks: dict[str, StoreTask | None]
    error: PollError | None
    account: str = ""  # the AWS account the data is from, when known (status.account)

    @property
    def answered(self) -> bool:
        """Whether every AMI had a fresh answer, bar the IDs AWS rejects."""
        return self.error is None or self.error.reason == PollErrorReason.INVALID_IMAGE_ID
