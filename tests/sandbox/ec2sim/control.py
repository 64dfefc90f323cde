"""A small typed client of the simulator's control API (urllib; no event loop needed)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NotRequired, TypedDict, cast

from tests.sandbox import httpjson
from tests.sandbox.ec2sim import (
    control_images,
    control_objects,
    control_references,
    control_restore,
)


class TaskInfo(TypedDict):
    """A task as the control API reports it."""

    ami_id: str
    bucket: str
    s3_object_key: str
    start_time: float
    state: str
    progress: int
    failure_reason: str | None


class CallInfo(TypedDict):
    """One logged EC2 call: params hold ImageIds, Filters, MaxResults, NextToken, ..."""

    seq: int
    time: float
    sim_time: float
    action: str
    params: dict[str, Any]
    status: int
    error_code: str | None
    account: NotRequired[str]  # whose key signed it


class ControlError(Exception):
    """The control API refused a request."""


class Ec2SimControl(
    control_images.ImageControl,
    control_references.ReferenceControl,
    control_objects.ObjectControl,
    control_restore.RestoreControl,
):
    """Drive a running simulator: `Ec2SimControl("http://127.0.0.1:PORT")`.

    The calls for images, references, S3 objects and restores are in the mixed-in classes.
    """

    def __init__(self, url: str, timeout: float = 30.0, account: str = "") -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.account = account  # "": the default account (the operator's own identity)

    def for_account(self, account: str) -> Ec2SimControl:
        """A client acting on ``account``'s tasks and throttle buckets."""
        return Ec2SimControl(self.url, self.timeout, account)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self.account:
            path += ("&" if "?" in path else "?") + f"account={self.account}"
        try:
            return httpjson.call(f"{self.url}/_sim/{path}", method, body, self.timeout)
        except urllib.error.HTTPError as exc:
            raise ControlError(f"{method} /_sim/{path}: {exc.code} {exc.read().decode()}") from exc

    def reset(self) -> None:
        """Forget everything: AMIs, tasks, clock offset, throttling, faults, calls."""
        self._call("POST", "reset", {})

    def state(self) -> dict[str, Any]:
        """Counts and settings: clock, amis, tasks, throttle, faults, calls."""
        return cast(dict[str, Any], self._call("GET", "state"))

    def register_amis(self, ami_ids: list[str]) -> None:
        """Register AMIs so EC2 knows them."""
        self._call("POST", "amis", {"ami_ids": ami_ids})

    def deregister_amis(self, ami_ids: list[str]) -> None:
        """Deregister AMIs: EC2 answers InvalidAMIID.NotFound for them."""
        self._call("POST", "amis/deregister", {"ami_ids": ami_ids})

    def create_task(
        self,
        ami_id: str,
        bucket: str,
        *,
        duration_seconds: float | None = None,
        progress: int | None = None,
        fail_at_percent: int | None = None,
        failure_reason: str | None = None,
        started_seconds_ago: float = 0.0,
        state: str | None = None,
        register: bool = True,
        queued_seconds: float | None = None,
        segments: list[tuple[float, float]] | None = None,
        steps: list[int] | None = None,
    ) -> TaskInfo:
        """Create (or replace) an AMI's store task; `progress` alone pins the progress."""
        spec: dict[str, Any] = {
            "ami_id": ami_id,
            "bucket": bucket,
            "started_seconds_ago": started_seconds_ago,
            "register": register,
        }
        optional = {
            "duration_seconds": duration_seconds,
            "progress": progress,
            "fail_at_percent": fail_at_percent,
            "failure_reason": failure_reason,
            "state": state,
            "queued_seconds": queued_seconds,
            "segments": [list(piece) for piece in segments] if segments else None,
            "steps": steps,
        }
        spec.update({k: v for k, v in optional.items() if v is not None})
        return self.create_tasks([spec])[0]

    def create_tasks(self, specs: list[dict[str, Any]]) -> list[TaskInfo]:
        """Create many tasks from raw specs (the keys `create_task` takes)."""
        return cast(list[TaskInfo], self._call("POST", "tasks", {"tasks": specs})["tasks"])

    def tasks(self) -> list[dict[str, Any]]:
        """Every stored task, newest first, each with `visible` (what EC2 would show)."""
        return cast(list[dict[str, Any]], self._call("GET", "tasks")["tasks"])

    def task(self, ami_id: str) -> TaskInfo:
        """One AMI's task as EC2 would report it now."""
        return cast(TaskInfo, self._call("GET", f"tasks/{urllib.parse.quote(ami_id)}"))

    def update_task(self, ami_id: str, **fields: Any) -> TaskInfo:
        """Set progress, state (None clears), failure_reason, fail_at_percent, bucket, ..."""
        return cast(TaskInfo, self._call("POST", f"tasks/{urllib.parse.quote(ami_id)}", fields))

    def bulk(self, count: int, bucket: str = "amistore-bench", **spec: Any) -> dict[str, Any]:
        """Create `count` AMIs with a task each; returns count, first/last and all AMI IDs."""
        return cast(
            dict[str, Any], self._call("POST", "bulk", {"count": count, "bucket": bucket, **spec})
        )

    def clock(self) -> dict[str, Any]:
        """now, now_iso, frozen, offset_seconds."""
        return cast(dict[str, Any], self._call("GET", "clock"))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock forward."""
        return cast(dict[str, Any], self._call("POST", "clock", {"advance_seconds": seconds}))

    def set_clock(self, when: float | None = None, *, frozen: bool | None = None) -> dict[str, Any]:
        """Jump to a Unix time and/or freeze (True) or unfreeze (False) the clock."""
        body: dict[str, Any] = {}
        if frozen is not None:
            body["freeze"] = frozen
        if when is not None:
            body["set"] = when
        return cast(dict[str, Any], self._call("POST", "clock", body))

    def throttle(self) -> dict[str, Any]:
        """enabled, and per action burst, rate and tokens now."""
        return cast(dict[str, Any], self._call("GET", "throttle"))

    def set_throttle(
        self,
        action: str | None = None,
        burst: float = 50,
        rate: float = 0.5,
        *,
        enabled: bool | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Give an action a new full bucket, switch throttling on/off, or reset to AWS's."""
        body: dict[str, Any] = {"reset": reset}
        if action is not None:
            body["actions"] = {action: {"burst": burst, "rate": rate}}
        if enabled is not None:
            body["enabled"] = enabled
        return cast(dict[str, Any], self._call("POST", "throttle", body))

    def inject_fault(
        self,
        kind: str,
        action: str | None = None,
        count: int | None = None,
        delay_seconds: float | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Inject an error code, `delay` or `drop` for `count` calls (None: until cleared)."""
        body: dict[str, Any] = {"kind": kind, "action": action, "count": count}
        if delay_seconds is not None:
            body["delay_seconds"] = delay_seconds
        if message is not None:
            body["message"] = message
        return cast(dict[str, Any], self._call("POST", "faults", body))

    def faults(self) -> list[dict[str, Any]]:
        """The active faults."""
        return cast(list[dict[str, Any]], self._call("GET", "faults")["faults"])

    def clear_faults(self, action: str | None = None) -> int:
        """Clear all faults, or those of one action."""
        query = "" if action is None else "?" + urllib.parse.urlencode({"action": action})
        return int(self._call("DELETE", f"faults{query}")["cleared"])

    def calls(self, action: str | None = None) -> list[CallInfo]:
        """The call log, oldest first, optionally of one action."""
        query = "" if action is None else "?" + urllib.parse.urlencode({"action": action})
        return cast(list[CallInfo], self._call("GET", f"calls{query}")["calls"])

    def clear_calls(self) -> int:
        """Empty the call log."""
        return int(self._call("DELETE", "calls")["cleared"])

    def hold(self, action: str) -> None:
        """Keep every later call of ``action`` in flight until ``release``."""
        self._call("POST", "hold", {"action": action})

    def held(self) -> dict[str, int]:
        """The calls held in flight now, per action."""
        return cast(dict[str, int], self._call("GET", "hold")["held"])

    def release(self, action: str | None = None) -> int:
        """Answer the held calls (of one action, or all) and stop holding; how many waited."""
        query = "" if action is None else "?" + urllib.parse.urlencode({"action": action})
        return int(self._call("DELETE", f"hold{query}")["released"])

    def configure(
        self,
        create_duration_seconds: float | None = None,
        *,
        store_capacity_gb: float | None = None,
        ami_size_gb: float | None = None,
        visibility_delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Change how CreateStoreImageTask behaves; only the settings given change.

        ``create_duration_seconds``: how long the tasks it starts take (default 60).
        ``store_capacity_gb``: GB of store work in progress an account may have
        (default 1200, AWS's documented limit; 0 means unlimited).
        ``ami_size_gb``: the size of an AMI without its own (default 60).
        ``visibility_delay_seconds``: how long a new task stays out of
        DescribeStoreImageTasks (default 0).
        Settings are simulator-wide (every account); ``reset()`` restores them.
        Returns the settings now, as ``config()``.
        """
        given = {
            "create_duration_seconds": create_duration_seconds,
            "store_capacity_gb": store_capacity_gb,
            "ami_size_gb": ami_size_gb,
            "visibility_delay_seconds": visibility_delay_seconds,
        }
        body = {k: v for k, v in given.items() if v is not None}
        return cast(dict[str, Any], self._call("POST", "config", body))

    def set_ami_sizes(self, sizes: dict[str, float]) -> dict[str, Any]:
        """Give AMIs of this client's account their own size in GB of snapshot data."""
        return cast(dict[str, Any], self._call("POST", "config", {"ami_sizes": sizes}))

    def set_bucket_regions(self, regions: dict[str, str]) -> dict[str, Any]:
        """Place S3 buckets in regions: a create into one from another region is refused."""
        return cast(dict[str, Any], self._call("POST", "config", {"bucket_regions": regions}))

    def config(self) -> dict[str, Any]:
        """The settings above, this account's ``ami_sizes`` and its ``in_progress_gb`` now."""
        return cast(dict[str, Any], self._call("GET", "config"))

    def sts(
        self, *, session_seconds: float | None = None, default_account: str | None = None
    ) -> dict[str, Any]:
        """STS: set how long AssumeRole sessions last; see roles and sessions issued."""
        body: dict[str, Any] = {}
        if session_seconds is not None:
            body["session_seconds"] = session_seconds
        if default_account is not None:
            body["default_account"] = default_account
        return cast(dict[str, Any], self._call("POST", "sts", body))

    def put_role(
        self, role_arn: str, *, external_id: str | None = None, refuse: str | None = None
    ) -> None:
        """Register a role AssumeRole accepts (with the external ID its trust requires);
        ``refuse``: refuse AssumeRole with this message (AccessDenied) until set back to None."""
        body = {"role_arn": role_arn, "external_id": external_id, "refuse": refuse}
        self._call("POST", "sts/roles", body)
