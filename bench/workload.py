"""The benchmark's workload: store tasks in the EC2 simulator and one AmiStore per AMI.

10% of the AMIs have an in-progress task (progress pinned, moved by the driver
each interval), 5% a failed one and the rest a completed one, with start times
spread over the last days as a real account would show them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from typing import Any

import aiohttp

from tests.sandbox.ec2sim import control

GROUP_PATH = "/apis/amistore.io/v1alpha1"
NAMESPACE = "bench"
BUCKET = "amistore-bench"
FAILURE_REASON = f"Access Denied for bucket {BUCKET}"
DAY = 86_400.0


@dataclasses.dataclass
class Workload:
    """Which AmiStore tracks which AMI, and which of them are in progress."""

    names: list[str]  # AmiStore names, index-aligned with ``amis``
    amis: list[str]
    in_progress: list[int]  # indexes into names/amis
    progress: dict[int, int]  # pinned progress of the in-progress tasks
    account: str = ""  # spec.account of its AmiStores ("": the operator's own identity)

    @property
    def size(self) -> int:
        """How many AmiStores."""
        return len(self.names)


def seed_ec2(sim: control.Ec2SimControl, size: int, in_progress_share: float = 0.1) -> Workload:
    """Create ``size`` AMIs with one store task each (in progress, failed or completed)."""
    n_ip = min(size, max(1, round(size * in_progress_share)))
    n_fail = min(size // 20, size - n_ip)
    n_done = size - n_ip - n_fail
    amis: list[str] = []
    progress: dict[int, int] = {}
    # Newest first, as AWS lists them: in-progress tasks started in the last hour.
    made = sim.bulk(n_ip, BUCKET, progress=10, started_seconds_ago=60, spread_seconds=3600)
    amis += made["ami_ids"]
    for i in range(n_ip):
        progress[i] = 10
    if n_fail:
        made = sim.bulk(
            n_fail,
            BUCKET,
            state="Failed",
            progress=35,
            failure_reason=FAILURE_REASON,
            started_seconds_ago=DAY,
            spread_seconds=DAY,
        )
        amis += made["ami_ids"]
    if n_done:
        made = sim.bulk(
            n_done, BUCKET, state="Completed", started_seconds_ago=2 * DAY, spread_seconds=5 * DAY
        )
        amis += made["ami_ids"]
    names = [f"ams-{i:05d}" for i in range(size)]
    return Workload(names=names, amis=amis, in_progress=list(range(n_ip)), progress=progress)


def manifest(name: str, ami: str, account: str = "") -> dict[str, Any]:
    """One AmiStore tracking one AMI into the bench bucket (in ``account``, if given)."""
    spec: dict[str, Any] = {"imageIds": [ami], "bucket": BUCKET}
    if account:
        spec["account"] = account
    return {
        "apiVersion": "amistore.io/v1alpha1",
        "kind": "AmiStore",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


async def create_namespace(session: aiohttp.ClientSession, kube_url: str) -> None:
    """Create the bench namespace (idempotent)."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    async with session.post(f"{kube_url}/api/v1/namespaces", json=body) as resp:
        if resp.status not in (200, 201, 409):
            raise RuntimeError(f"creating namespace: {resp.status} {await resp.text()}")


async def create_amistores(kube_url: str, workload: Workload, concurrency: int = 16) -> None:
    """POST every AmiStore to the emulator, ``concurrency`` at a time."""
    url = f"{kube_url}{GROUP_PATH}/namespaces/{NAMESPACE}/amistores"
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in zip(workload.names, workload.amis, strict=True):
        queue.put_nowait(item)
    headers = {"Content-Type": "application/json", "User-Agent": "amistore-bench"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            name, ami = queue.get_nowait()
            data = json.dumps(manifest(name, ami, workload.account))
            async with session.post(url, data=data, headers=headers) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"creating {name}: {resp.status} {await resp.text()}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await create_namespace(session, kube_url)
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def change_set(workload: Workload, interval_no: int, share: float = 0.1) -> list[int]:
    """The in-progress AMIs whose progress moves in interval ``interval_no`` (rotating)."""
    ip = workload.in_progress
    count = max(1, round(len(ip) * share))
    start = (interval_no * count) % len(ip)
    return [ip[(start + k) % len(ip)] for k in range(min(count, len(ip)))]


def schedule(
    workload: Workload, intervals: int, interval: float, rng: random.Random
) -> list[tuple[float, int]]:
    """Every change of the window: (seconds after its start, AMI index), in time order.

    Interval ``k``'s changes (``change_set(workload, k)``) each fall at their own
    uniformly drawn moment of ``[k * interval, (k + 1) * interval)``, so the lags
    sample every phase of the operator's polling, not one moment per interval.
    """
    moves = [
        (k * interval + rng.random() * interval, i)
        for k in range(intervals)
        for i in change_set(workload, k)
    ]
    return sorted(moves)


def step(workload: Workload, index: int) -> int:
    """Move one task's pinned progress one step (it stays InProgress); the new progress."""
    workload.progress[index] = min(99, workload.progress[index] + 1)
    return workload.progress[index]


def push(sim: control.Ec2SimControl, workload: Workload, index: int) -> None:
    """Set one task's progress in EC2 (in the workload's account) to its pinned value."""
    sim.for_account(workload.account).update_task(
        workload.amis[index], progress=workload.progress[index]
    )
