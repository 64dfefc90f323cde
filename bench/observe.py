"""What the benchmark watches: AmiStore statuses, the operator's process, both request logs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import pathlib
import time
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Any

import aiohttp
import psutil

from bench import workload
from tests.sandbox.ec2sim import control

STATUS_SUFFIX = "/status"
DESCRIBE = "DescribeStoreImageTasks"


@dataclasses.dataclass(frozen=True)
class Change:
    """One move of a task's progress in EC2, and when the driver made it."""

    progress: int
    at: float


def settle(
    waiting: Sequence[Change], progress: int, now: float
) -> tuple[list[float], list[Change]]:
    """The lags of the changes a status showing ``progress`` at ``now`` covers, and the rest.

    Progress only grows, so a status at 12 shows the change to 11 too (two changes
    of one task can fall into one poll).
    """
    lags = [now - change.at for change in waiting if change.progress <= progress]
    return lags, [change for change in waiting if change.progress > progress]


class StatusWatcher:
    """One watch on the bench namespace: when each AmiStore first had status, and progress."""

    def __init__(self, kube_url: str) -> None:
        self._url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
        self.first_status: dict[str, float] = {}  # name -> when lastPollTime first appeared
        self.progress: dict[str, int] = {}  # name -> the first task's progress now
        self.expected: dict[str, list[Change]] = {}  # name -> changes not yet in its status
        self.lags: list[float] = []  # seconds from an EC2 change to the status showing it
        self._task: asyncio.Task[None] | None = None
        self._rv = ""

    def start(self) -> None:
        """Begin watching (in the background on the running loop)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def expect(self, name: str, progress: int, changed_at: float) -> None:
        """The driver changes ``name``'s task in EC2 at ``changed_at``: time its arrival.

        Call it before the change is made, so no status can show the change first.
        """
        self.expected.setdefault(name, []).append(Change(progress, changed_at))

    @property
    def pending(self) -> int:
        """Changes that no status has shown yet."""
        return sum(len(changes) for changes in self.expected.values())

    async def wait_pending(self, seconds: float) -> None:
        """Until every expected change showed in a status, or ``seconds`` from now passed."""
        deadline = time.time() + seconds
        while self.pending and time.time() < deadline:  # noqa: ASYNC110 (a bounded poll)
            await asyncio.sleep(0.2)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                params = {"watch": "true", "timeoutSeconds": "3600"}
                if self._rv:
                    params["resourceVersion"] = self._rv
                try:
                    async with session.get(self._url, params=params) as resp:
                        async for line in resp.content:
                            if line.strip():
                                self._event(json.loads(line))
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)

    def _event(self, event: dict[str, Any]) -> None:
        now = time.time()
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        self._rv = str(meta.get("resourceVersion") or self._rv)
        if event.get("type") not in ("ADDED", "MODIFIED"):
            return
        name = str(meta.get("name", ""))
        status = obj.get("status") or {}
        if status.get("lastPollTime") and name not in self.first_status:
            self.first_status[name] = now
        tasks = status.get("tasks") or []
        if not tasks:
            return
        progress = int(tasks[0].get("progressPercentage", -1))
        self.progress[name] = progress
        waiting = self.expected.get(name)
        if waiting:
            lags, rest = settle(waiting, progress, now)
            self.lags += lags
            if rest:
                self.expected[name] = rest
            else:
                del self.expected[name]


class ProcessSampler:
    """CPU seconds and peak RSS of one process (no children)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._proc = psutil.Process(pid)
        self.peak_rss = 0

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds so far."""
        times = self._proc.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> int:
        """Update and return the peak RSS in bytes (the kernel's high-water mark on Linux)."""
        hwm = _vm_hwm(self.pid)
        rss = hwm if hwm is not None else int(self._proc.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        return self.peak_rss


def _vm_hwm(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def kube_requests(kube_url: str) -> list[dict[str, Any]]:
    """The emulator's request log."""
    with urllib.request.urlopen(f"{kube_url}/_sandbox/requests", timeout=60) as resp:
        data = json.loads(resp.read())
    return list(data["requests"] if isinstance(data, dict) else data)


def clear_kube_requests(kube_url: str) -> None:
    """Empty the emulator's request log (it keeps the newest 100,000)."""
    req = urllib.request.Request(f"{kube_url}/_sandbox/requests", method="DELETE")
    with urllib.request.urlopen(req, timeout=60):
        pass


@dataclasses.dataclass(frozen=True)
class Writes:
    """Status writes in a window, split by whether the resource's task changed."""

    changed: int
    unchanged: int
    other_writes: int  # every other non-GET request of the operator (events, finalizers)
    refused: int = 0  # status PATCHes the API server answered with an error (not stored)


def status_writes(
    entries: Iterable[dict[str, Any]],
    *,
    start: float,
    end: float,
    changed_names: set[str],
    user_agent_prefix: str | None = None,
) -> Writes:
    """Count PATCHes of AmiStore status in [start, end) by changed / unchanged resource.

    A PATCH the API server answered with an error stored nothing: it counts as refused.
    """
    changed = unchanged = other = refused = 0
    for entry in entries:
        if not start <= float(entry["time"]) < end:
            continue
        if user_agent_prefix and not str(entry.get("user_agent", "")).startswith(user_agent_prefix):
            continue
        method, path = str(entry["method"]), str(entry["path"])
        if method == "GET" or str(entry.get("user_agent", "")).startswith("amistore-bench"):
            continue
        if method == "PATCH" and "/amistores/" in path and path.endswith(STATUS_SUFFIX):
            name = path[: -len(STATUS_SUFFIX)].rsplit("/", 1)[-1]
            if not 200 <= int(entry.get("status", 200)) < 300:
                refused += 1
            elif name in changed_names:
                changed += 1
            else:
                unchanged += 1
        else:
            other += 1
    return Writes(changed, unchanged, other, refused)


@dataclasses.dataclass(frozen=True)
class AwsCalls:
    """DescribeStoreImageTasks calls in a window and how many were throttled."""

    calls: int
    throttled: int

    @property
    def throttled_percent(self) -> float | None:
        """The share of the calls answered RequestLimitExceeded, in percent (None: no call)."""
        return round(100 * self.throttled / self.calls, 1) if self.calls else None


def describe_calls(calls: Iterable[control.CallInfo], *, start: float, end: float) -> AwsCalls:
    """Count DescribeStoreImageTasks calls (and RequestLimitExceeded answers) in [start, end)."""
    n = throttled = 0
    for call in calls:
        if call["action"] != DESCRIBE or not start <= float(call["time"]) < end:
            continue
        n += 1
        if call.get("error_code") == "RequestLimitExceeded":
            throttled += 1
    return AwsCalls(n, throttled)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by nearest rank, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
