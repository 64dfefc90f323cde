"""The export scenario: AmiStores with ``createTasks`` drain a queue through AWS's capacity.

1,000 AMIs (``--quick``: 100) in two AmiStores with ``createTasks: true``, none
with a store task yet, in the bench namespace. The EC2 simulator refuses store
work over 1,200 GB in progress (60 GB AMIs: 20 at a time), keeps a new task out
of DescribeStoreImageTasks for a moment (EC2's eventual consistency) and runs
each task for a few seconds. At AWS's rates (creates: 50 calls, 0.1 a second,
our assumption; DescribeStoreImageTasks: 50, 0.5 a second) and a 60-second
interval 1,000 exports take hours, so the scenario scales time down: a 3-second
interval, and each budget faster, with the same numbers in the simulator's
throttle and in the operator's flags (``--ec2-rate``/``--ec2-burst``,
``--ec2-create-rate``/``--ec2-create-burst``); bench/README.md says why.

Measured, from the simulator's call log and the emulator's request log: creates
per AMI (exactly 1 each), refusals for capacity, throttles (0), DryRuns, the most
tasks in progress at once (at most 20), the time from the operator's start until
both AmiStores are Completed against the capacity bound (``ceil(AMIs / 20)``
task durations, the fastest AWS could go), status writes per AmiStore and
describe calls per interval during the drain, then a steady window after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import pathlib
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from bench import accounts, observe, report, sandboxrun, workload
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

BUCKET = "amis-bench-export"
ALLOWED_BUCKETS = "amis-bench-*"
CREATE = "CreateStoreImageTask"
RLE = "RequestLimitExceeded"
CAPACITY_REFUSED = "ResourceLimitExceeded"
DRY_RUN = "DryRunOperation"
AMI_SIZE_GB = 60.0
STATUS_SUFFIX = "/status"
BENCH_AGENT = "amistore-bench"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the export scenario runs."""

    amis: int  # in all, split evenly over ``resources`` AmiStores
    task_seconds: float  # how long each store task runs in the simulator
    interval: float  # the operator's --poll-interval
    capacity: int = 20  # AMIs AWS stores at once: 1,200 GB of 60 GB AMIs
    max_concurrent: int | None = None  # --max-concurrent-stores; None: the operator's (20)
    resources: int = 2
    create_rate: float = 5.0  # the simulator's and the operator's create bucket: per second
    create_burst: int = 10
    describe_rate: float = 10.0  # the simulator's and the operator's Describe bucket
    describe_burst: int = 50
    visibility_delay: float = 2.0  # seconds a new task stays unlisted
    steady_intervals: int = 3  # measured after the drain
    python: str = sys.executable
    drain_timeout: float = 1800.0

    @property
    def name(self) -> str:
        """``default`` (the operator's cap) or ``cap-N`` (``cap-0``: AWS's capacity alone)."""
        return "default" if self.max_concurrent is None else f"cap-{self.max_concurrent}"


def ami_ids(count: int) -> list[str]:
    """``count`` distinct AMI IDs: ami-e0000000, ami-e0000001, ..."""
    return [f"ami-e{n:07x}" for n in range(count)]


def split(ids: Sequence[str], parts: int) -> list[list[str]]:
    """``ids`` in ``parts`` contiguous chunks whose sizes differ by at most one."""
    size, extra = divmod(len(ids), parts)
    chunks: list[list[str]] = []
    start = 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        chunks.append(list(ids[start:end]))
        start = end
    return chunks


def capacity_bound(amis: int, capacity: int, task_seconds: float) -> float:
    """The fastest AWS could store ``amis``: waves of ``capacity`` tasks, one after another."""
    return math.ceil(amis / capacity) * task_seconds


def create_budget_bound(amis: int, rate: float, burst: int) -> float:
    """The fastest the operator's create bucket pays ``amis`` creates (it keeps one in reserve)."""
    return max(0, amis - max(0, burst - 1)) / rate


@dataclasses.dataclass(frozen=True)
class Creates:
    """CreateStoreImageTask in the call log, by outcome, and per AMI."""

    per_ami: dict[str, int]  # tasks AWS started per AMI (0 for an AMI it never started)
    capacity_refusals: int  # ResourceLimitExceeded
    throttled: int  # RequestLimitExceeded
    dry_runs: int  # the preflight: DryRunOperation
    other_errors: dict[str, int]  # any other error code

    @property
    def taken(self) -> int:
        """Tasks AWS started."""
        return sum(self.per_ami.values())

    @property
    def exactly_once(self) -> bool:
        """Whether AWS started exactly one task for every AMI."""
        return bool(self.per_ami) and set(self.per_ami.values()) == {1}


def creates(calls: Iterable[Mapping[str, Any]], amis: Sequence[str]) -> Creates:
    """The creates of ``calls`` for ``amis``: only an answer without error started a task."""
    taken = dict.fromkeys(amis, 0)
    codes: Counter[str] = Counter()
    for call in calls:
        if call["action"] != CREATE:
            continue
        code = call.get("error_code")
        if code:
            codes[str(code)] += 1
            continue
        ami = str(call["params"].get("ImageId", ""))
        taken[ami] = taken.get(ami, 0) + 1
    known = {CAPACITY_REFUSED, RLE, DRY_RUN}
    return Creates(
        per_ami=taken,
        capacity_refusals=codes[CAPACITY_REFUSED],
        throttled=codes[RLE],
        dry_runs=codes[DRY_RUN],
        other_errors={code: n for code, n in sorted(codes.items()) if code not in known},
    )


def task_starts(calls: Iterable[Mapping[str, Any]]) -> list[float]:
    """When (the simulator's clock) each task AWS started began."""
    return [
        float(call["sim_time"])
        for call in calls
        if call["action"] == CREATE and not call.get("error_code")
    ]


def most_in_progress(starts: Iterable[float], duration: float) -> int:
    """The most tasks running at once, each from its start for ``duration`` (end excluded)."""
    # At equal times an end sorts before a start: a task ending frees its place at once.
    moments = sorted([(t, 1) for t in starts] + [(t + duration, -1) for t in starts])
    running = most = 0
    for _, step in moments:
        running += step
        most = max(most, running)
    return most


def throttles(calls: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """RequestLimitExceeded answers per action."""
    found: Counter[str] = Counter(
        str(call["action"]) for call in calls if call.get("error_code") == RLE
    )
    return dict(sorted(found.items()))


def calls_between(
    calls: Iterable[Mapping[str, Any]], action: str, *, start: float, end: float
) -> int:
    """Calls of ``action`` in [start, end), whatever their answer."""
    return sum(1 for c in calls if c["action"] == action and start <= float(c["time"]) < end)


def status_writes(
    entries: Iterable[Mapping[str, Any]], names: Sequence[str], *, start: float, end: float
) -> dict[str, int]:
    """The operator's PATCHes of each AmiStore's status in [start, end) (the driver's aside)."""
    writes = dict.fromkeys(names, 0)
    for entry in entries:
        if not start <= float(entry["time"]) < end or entry["method"] != "PATCH":
            continue
        if str(entry.get("user_agent", "")).startswith(BENCH_AGENT):
            continue
        path = str(entry["path"])
        if "/amistores/" not in path or not path.endswith(STATUS_SUFFIX):
            continue
        name = path[: -len(STATUS_SUFFIX)].rsplit("/", 1)[-1]
        if name in writes:
            writes[name] += 1
    return writes


def manifest(name: str, images: Sequence[str]) -> dict[str, Any]:
    """An AmiStore exporting ``images`` into the bench's export bucket."""
    return {
        "apiVersion": "amistore.io/v1alpha1",
        "kind": "AmiStore",
        "metadata": {"name": name, "namespace": workload.NAMESPACE},
        "spec": {"imageIds": list(images), "bucket": BUCKET, "createTasks": True},
    }


def operator_args(plan: Plan) -> list[str]:
    """The operator's flags: export allowed into the bench bucket, the scaled create budget."""
    args = ["--namespace", workload.NAMESPACE, "--poll-interval", f"{plan.interval:g}"]
    args += ["--allow-create", "--allowed-buckets", ALLOWED_BUCKETS]
    args += ["--ec2-rate", f"{plan.describe_rate:g}", "--ec2-burst", str(plan.describe_burst)]
    args += ["--ec2-create-rate", f"{plan.create_rate:g}"]
    args += ["--ec2-create-burst", str(plan.create_burst)]
    if plan.max_concurrent is not None:
        args += ["--max-concurrent-stores", str(plan.max_concurrent)]
    return args


async def run(plan: Plan, workdir: pathlib.Path) -> dict[str, Any]:
    """Run ``plan`` in a fresh sandbox under ``workdir`` and return its measurements."""
    return await sandboxrun.timed(workdir, lambda sandbox: _run(plan, sandbox, workdir))


async def _run(plan: Plan, sandbox: cluster.Sandbox, workdir: pathlib.Path) -> dict[str, Any]:
    sim = control.Ec2SimControl(sandbox.ec2_url, timeout=120)
    images = ami_ids(plan.amis)
    await asyncio.to_thread(sim.register_amis, images)
    await asyncio.to_thread(
        sim.configure,
        create_duration_seconds=plan.task_seconds,
        store_capacity_gb=plan.capacity * AMI_SIZE_GB,
        ami_size_gb=AMI_SIZE_GB,
        visibility_delay_seconds=plan.visibility_delay,
    )
    for action, burst, rate in (
        (CREATE, plan.create_burst, plan.create_rate),
        (observe.DESCRIBE, plan.describe_burst, plan.describe_rate),
    ):
        await asyncio.to_thread(sim.set_throttle, action, burst=burst, rate=rate)
    parts = split(images, plan.resources)
    names = [f"export-{k}" for k in range(1, plan.resources + 1)]
    await _create(sandbox.kube_url, [manifest(n, p) for n, p in zip(names, parts, strict=True)])
    await sandboxrun.clear_logs(sim, sandbox.kube_url)

    t0 = time.time()
    args = operator_args(plan)
    operator = harness.OperatorProcess(
        sandbox.env(), args, workdir / "operator.log", python=plan.python
    )
    result: dict[str, Any] = {
        "variant": plan.name,
        "amis": plan.amis,
        "amistores": plan.resources,
        "capacity_tasks": plan.capacity,
        "task_seconds": plan.task_seconds,
        "visibility_delay_seconds": plan.visibility_delay,
        "interval_seconds": plan.interval,
        "create_rate": plan.create_rate,
        "create_burst": plan.create_burst,
        "operator_args": args,
        "capacity_bound_seconds": capacity_bound(plan.amis, plan.capacity, plan.task_seconds),
        "create_budget_bound_seconds": round(
            create_budget_bound(plan.amis, plan.create_rate, plan.create_burst), 1
        ),
        "describe_rate": plan.describe_rate,
        "describe_burst": plan.describe_burst,
        "describe_budget_per_interval": plan.describe_rate * plan.interval,
    }
    try:
        drained = await _drained(sandbox.kube_url, names, t0 + plan.drain_timeout, operator)
        result["drain_seconds"] = None if drained is None else round(drained - t0, 1)
        end = time.time() if drained is None else drained
        if drained is not None:
            # The steady window: a measurement of fixed length, not a wait for a condition.
            await asyncio.sleep(plan.steady_intervals * plan.interval)
        tail = time.time()
        calls = await asyncio.to_thread(sim.calls)
        requests = await asyncio.to_thread(observe.kube_requests, sandbox.kube_url)
        scrape = await asyncio.to_thread(sandboxrun.scrape, operator)
        result.update(_figures(plan, images, names, calls, requests, t0=t0, end=end, tail=tail))
        result.update(accounts.operator_report(operator, scrape))
    finally:
        result["exit_code"] = operator.stop(timeout=30)
    return result


def _figures(
    plan: Plan,
    images: Sequence[str],
    names: Sequence[str],
    calls: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    *,
    t0: float,
    end: float,
    tail: float,
) -> dict[str, Any]:
    """The figures from both logs: the drain is [t0, end), the steady window [end, tail)."""
    draining = [c for c in calls if t0 <= float(c["time"]) < end]
    made = creates(calls, images)
    per_ami = list(made.per_ami.values())
    drain = end - t0
    intervals = drain / plan.interval if drain > 0 else 0.0
    describes = calls_between(draining, observe.DESCRIBE, start=t0, end=end)
    writes = status_writes(requests, names, start=t0, end=end)
    steady_writes = status_writes(requests, names, start=end, end=tail)
    bound = capacity_bound(plan.amis, plan.capacity, plan.task_seconds)
    return {
        "creates_per_ami_mean": round(made.taken / len(images), 3) if images else None,
        "creates_per_ami_min": min(per_ami, default=0),
        "creates_per_ami_max": max(per_ami, default=0),
        "exactly_once": made.exactly_once,
        "amis_not_started": sum(1 for n in per_ami if n == 0),
        "capacity_refusals": made.capacity_refusals,
        "request_limit_exceeded": sum(throttles(calls).values()),
        "request_limit_exceeded_by_action": throttles(calls),
        "dry_runs": made.dry_runs,
        "other_create_errors": made.other_errors,
        "most_in_progress": most_in_progress(task_starts(calls), plan.task_seconds),
        "drain_to_bound": round(drain / bound, 2) if bound else None,
        "describe_calls_in_drain": describes,
        "describe_calls_per_interval": round(describes / intervals, 2) if intervals else None,
        "status_writes_in_drain": writes,
        "status_writes_per_amistore": round(sum(writes.values()) / len(names), 1),
        "steady_window_seconds": round(tail - end, 1),
        "steady_creates": calls_between(calls, CREATE, start=end, end=tail),
        "steady_status_writes": sum(steady_writes.values()),
        "steady_describe_calls": calls_between(calls, observe.DESCRIBE, start=end, end=tail),
    }


async def _create(kube_url: str, manifests: Sequence[Mapping[str, Any]]) -> None:
    url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
    headers = {"Content-Type": "application/json", "User-Agent": BENCH_AGENT}
    async with aiohttp.ClientSession() as session:
        await workload.create_namespace(session, kube_url)
        for body in manifests:
            async with session.post(url, data=json.dumps(body), headers=headers) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"creating {body['metadata']['name']}: {resp.status}")


async def _drained(
    kube_url: str, names: Sequence[str], deadline: float, operator: harness.OperatorProcess
) -> float | None:
    """When every AmiStore was first seen Completed (None: not by ``deadline``)."""
    while time.time() < deadline and operator.process.poll() is None:
        states = await asyncio.to_thread(_states, kube_url)
        if all(states.get(name) == "Completed" for name in names):
            return time.time()
        await asyncio.sleep(0.5)
    return None


def _states(kube_url: str) -> dict[str, str]:
    url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
    req = urllib.request.Request(url, headers={"User-Agent": BENCH_AGENT})
    with urllib.request.urlopen(req, timeout=60) as resp:
        items = json.loads(resp.read())["items"]
    return {
        str(item["metadata"]["name"]): str((item.get("status") or {}).get("state", ""))
        for item in items
    }


COLUMNS = (
    ("variant", "variant"),
    ("AMIs", "amis"),
    ("creates/AMI", "creates_per_ami_mean"),
    ("min", "creates_per_ami_min"),
    ("max", "creates_per_ami_max"),
    ("capacity refusals", "capacity_refusals"),
    ("RLE", "request_limit_exceeded"),
    ("DryRuns", "dry_runs"),
    ("most in progress", "most_in_progress"),
    ("drain s", "drain_seconds"),
    ("bound s", "capacity_bound_seconds"),
    ("drain/bound", "drain_to_bound"),
    ("Describe/int", "describe_calls_per_interval"),
    ("writes/AmiStore", "status_writes_per_amistore"),
    ("steady creates", "steady_creates"),
    ("steady writes", "steady_status_writes"),
)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table, one row per variant, then what the variants ran under."""
    head = [title for title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(report.cell(row.get(key)) for _, key in COLUMNS) + " |")
    if rows:
        first = rows[0]
        lines.append("")
        lines.append(
            f"export: {first.get('amis')} AMIs in {first.get('amistores')} AmiStores, capacity "
            f"{first.get('capacity_tasks')} at a time, "
            f"tasks of {report.cell(first.get('task_seconds'))} s, "
            f"visibility delay {report.cell(first.get('visibility_delay_seconds'))} s, interval "
            f"{report.cell(first.get('interval_seconds'))} s, create bucket "
            f"{first.get('create_burst')} at {report.cell(first.get('create_rate'))}/s (its bound "
            f"{report.cell(first.get('create_budget_bound_seconds'))} s), Describe budget "
            f"{report.cell(first.get('describe_budget_per_interval'))}/int"
        )
        for row in rows:
            lines.append(
                f"{row.get('variant')}: exactly once {report.cell(row.get('exactly_once'))}, "
                f"steady window {report.cell(row.get('steady_window_seconds'))} s, "
                f"Traceback in log: {report.cell(row.get('traceback_in_log'))}, "
                f"exit code {report.cell(row.get('exit_code'))}, "
                f"{report.cell(row.get('seconds'))} s in all"
            )
    return "\n".join(lines)
