"""The cleanup scenario: archived AMIs deregistered by ``afterExport``, then a quiet operator.

1,000 AMIs (``--quick``: 100), each with a Completed store task into one bucket
(its object there, an 8 GiB snapshot behind the AMI), listed by two AmiStores of
500 (``afterExport`` needs ``imageIds``, at most 500) with ``afterExport:
DeregisterAndDeleteSnapshots`` and ``afterExportDelaySeconds: 0``. The operator
runs with ``--allow-deregister`` and the export scenario's scaled time (a 3-second
interval, its Describe budget, which also pays the image reads, and its create
budget, which pays DeregisterImage); bench/README.md says why.

Measured, from the simulator's call log and the emulator's request log: the time
from the operator's start until every AMI is ``cleanupState: Deregistered`` and
every AmiStore ``Archived``; the calls per AMI of each operation of verification
and cleanup (DeregisterImage: exactly 1 each), RequestLimitExceeded apart;
DescribeStoreImageTasks per interval and any naming an AMI already deregistered;
status writes per AmiStore; then a steady window of ``steady_intervals`` in which
no status write and no cleanup call is expected.
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

from bench import accounts, export, observe, report, sandboxrun, workload
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

BUCKET = "amis-bench-archive"
AFTER_EXPORT = "DeregisterAndDeleteSnapshots"
DEREGISTER = "DeregisterImage"
# Verification and cleanup, in the order a poll makes them.
OPERATIONS = (
    "HeadObject",
    "DescribeImages",
    "DescribeImageAttribute",
    "DescribeImageReferences",
    "DescribeSnapshots",
    DEREGISTER,
)
THROTTLED = frozenset({export.RLE, "SlowDown"})  # EC2's code, S3's
DEREGISTERED = "Deregistered"
ARCHIVED = "Archived"
MAX_IMAGE_IDS = 500  # afterExport other than Keep: imageIds of at most 500
SNAPSHOT_BYTES = 8 * 2**30  # the simulator's default snapshot of an AMI


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the cleanup scenario runs."""

    amis: int  # in all, split evenly over ``resources`` AmiStores
    interval: float = 3.0  # the operator's --poll-interval
    resources: int = 2
    describe_rate: float = 10.0  # the simulator's and the operator's Describe bucket
    describe_burst: int = 50
    create_rate: float = 5.0  # the operator's create bucket: DeregisterImage pays it
    create_burst: int = 10
    steady_intervals: int = 10  # measured after all are archived: a blocked AMI's recheck
    python: str = sys.executable
    archive_timeout: float = 1800.0


def task_specs(amis: Sequence[str]) -> list[dict[str, Any]]:
    """A Completed store task into the bench bucket per AMI, ten minutes old (AMI registered)."""
    return [
        {"ami_id": a, "bucket": BUCKET, "state": "Completed", "started_seconds_ago": 600}
        for a in amis
    ]


def manifest(name: str, images: Sequence[str]) -> dict[str, Any]:
    """An AmiStore deregistering ``images`` (and their snapshots) as soon as verified."""
    return {
        "apiVersion": "amistore.io/v1alpha1",
        "kind": "AmiStore",
        "metadata": {"name": name, "namespace": workload.NAMESPACE},
        "spec": {
            "imageIds": list(images),
            "bucket": BUCKET,
            "afterExport": AFTER_EXPORT,
            "afterExportDelaySeconds": 0,
        },
    }


def operator_args(plan: Plan) -> list[str]:
    """The operator's flags: deregistration allowed, the export scenario's scaled budgets."""
    args = ["--namespace", workload.NAMESPACE, "--poll-interval", f"{plan.interval:g}"]
    args += ["--allow-deregister"]
    args += ["--ec2-rate", f"{plan.describe_rate:g}", "--ec2-burst", str(plan.describe_burst)]
    args += ["--ec2-create-rate", f"{plan.create_rate:g}"]
    args += ["--ec2-create-burst", str(plan.create_burst)]
    return args


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation's calls in the call log, by answer."""

    calls: int  # answered, error or not, throttles aside
    throttled: int  # RequestLimitExceeded (S3: SlowDown)
    errors: dict[str, int]  # the answered calls' error codes


def operations(calls: Iterable[Mapping[str, Any]], actions: Sequence[str]) -> dict[str, Operation]:
    """Each of ``actions``' calls: those AWS answered, those it throttled, the errors."""
    answered: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    codes: dict[str, Counter[str]] = {a: Counter() for a in actions}
    for call in calls:
        action = str(call["action"])
        if action not in codes:
            continue
        code = call.get("error_code")
        if code in THROTTLED:
            throttled[action] += 1
            continue
        answered[action] += 1
        if code:
            codes[action][str(code)] += 1
    return {
        a: Operation(answered[a], throttled[a], dict(sorted(codes[a].items()))) for a in actions
    }


def per_ami(counted: Mapping[str, Operation], amis: int) -> dict[str, float | None]:
    """Each operation's answered calls divided by the AMIs (None without AMIs)."""
    return {a: round(op.calls / amis, 3) if amis else None for a, op in counted.items()}


@dataclasses.dataclass(frozen=True)
class Deregistrations:
    """DeregisterImage calls AWS answered, per AMI of the scenario."""

    per_ami: dict[str, int]  # 0 for an AMI never asked
    others: int  # calls naming an AMI not of the scenario

    @property
    def exactly_once(self) -> bool:
        """Whether every AMI was asked exactly once, and nothing else was."""
        return bool(self.per_ami) and set(self.per_ami.values()) == {1} and not self.others


def deregistrations(calls: Iterable[Mapping[str, Any]], amis: Sequence[str]) -> Deregistrations:
    """The DeregisterImage calls of ``calls``: each answered one counts, an error too."""
    asked = dict.fromkeys(amis, 0)
    others = 0
    for call in calls:
        if call["action"] != DEREGISTER or call.get("error_code") in THROTTLED:
            continue
        ami = str(call["params"].get("ImageId", ""))
        if ami in asked:
            asked[ami] += 1
        else:
            others += 1
    return Deregistrations(asked, others)


def named_after_deregistration(calls: Iterable[Mapping[str, Any]]) -> int:
    """AMIs DescribeStoreImageTasks named after their answered DeregisterImage (log order)."""
    gone: set[str] = set()
    named = 0
    for call in calls:
        if call["action"] == DEREGISTER and call.get("error_code") not in THROTTLED:
            gone.add(str(call["params"].get("ImageId", "")))
        elif call["action"] == observe.DESCRIBE:
            named += len(gone.intersection(call["params"].get("ImageIds") or ()))
    return named


def naming(calls: Iterable[Mapping[str, Any]], amis: Iterable[str]) -> int:
    """DescribeStoreImageTasks calls whose ImageIds name any of ``amis``."""
    wanted = set(amis)
    return sum(
        1
        for c in calls
        if c["action"] == observe.DESCRIBE
        and wanted.intersection(c["params"].get("ImageIds") or ())
    )


def action_times(calls: Iterable[Mapping[str, Any]], action: str) -> list[float]:
    """When (wall clock) each answered call of ``action`` was logged, throttles aside."""
    return [
        float(c["time"])
        for c in calls
        if c["action"] == action and c.get("error_code") not in THROTTLED
    ]


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where the AmiStores stand, from their statuses."""

    states: dict[str, int]  # cleanupState over every entry ("": none yet)
    archived: dict[str, str]  # each AmiStore's Archived condition status ("": none)
    freed_bytes: int  # freedSnapshotBytes over every entry

    def done(self, amis: int) -> bool:
        """Whether all ``amis`` are Deregistered and every AmiStore is Archived."""
        return self.states.get(DEREGISTERED, 0) == amis and all(
            status == "True" for status in self.archived.values()
        )


def standing(items: Iterable[Mapping[str, Any]]) -> Standing:
    """The cleanup states, ``Archived`` conditions and freed bytes of AmiStore ``items``."""
    states: Counter[str] = Counter()
    archived: dict[str, str] = {}
    freed = 0
    for item in items:
        status = item.get("status") or {}
        for entry in status.get("tasks") or ():
            states[str(entry.get("cleanupState") or "")] += 1
            freed += int(entry.get("freedSnapshotBytes") or 0)
        found = [c for c in status.get("conditions") or () if c.get("type") == ARCHIVED]
        archived[str(item["metadata"]["name"])] = str(found[0].get("status") or "") if found else ""
    return Standing(dict(sorted(states.items())), archived, freed)


def checks(row: Mapping[str, Any]) -> dict[str, bool]:
    """The scenario's targets, each met or not."""
    return {
        "all_archived": row.get("archived_seconds") is not None,
        "deregister_exactly_once": bool(row.get("deregister_exactly_once")),
        "no_describe_naming_deregistered": row.get("describe_naming_deregistered") == 0,
        "steady_no_status_writes": row.get("steady_status_writes") == 0,
        "steady_no_cleanup_calls": row.get("steady_cleanup_calls") == 0,
        "steady_no_describe_naming_deregistered": row.get("steady_describe_naming_amis") == 0,
        "no_traceback": row.get("traceback_in_log") is False,
    }


async def run(plan: Plan, workdir: pathlib.Path) -> dict[str, Any]:
    """Run ``plan`` in a fresh sandbox under ``workdir`` and return its measurements."""
    result = await sandboxrun.timed(workdir, lambda sandbox: _run(plan, sandbox, workdir))
    result["checks"] = checks(result)
    result["failed_checks"] = [name for name, met in result["checks"].items() if not met]
    return result


async def _run(plan: Plan, sandbox: cluster.Sandbox, workdir: pathlib.Path) -> dict[str, Any]:
    if math.ceil(plan.amis / plan.resources) > MAX_IMAGE_IDS:
        raise ValueError(f"{plan.amis} AMIs need more than {plan.resources} AmiStores of 500")
    sim = control.Ec2SimControl(sandbox.ec2_url, timeout=120)
    images = export.ami_ids(plan.amis)
    await asyncio.to_thread(sim.create_tasks, task_specs(images))
    await asyncio.to_thread(
        sim.set_throttle, observe.DESCRIBE, burst=plan.describe_burst, rate=plan.describe_rate
    )
    names = [f"archive-{k}" for k in range(1, plan.resources + 1)]
    parts = export.split(images, plan.resources)
    manifests = [manifest(n, p) for n, p in zip(names, parts, strict=True)]
    await _create(sandbox.kube_url, manifests)
    await sandboxrun.clear_logs(sim, sandbox.kube_url)

    t0 = time.time()
    args = operator_args(plan)
    operator = harness.OperatorProcess(
        sandbox.env(), args, workdir / "operator.log", python=plan.python
    )
    result: dict[str, Any] = {
        "amis": plan.amis,
        "amistores": plan.resources,
        "interval_seconds": plan.interval,
        "describe_rate": plan.describe_rate,
        "describe_burst": plan.describe_burst,
        "create_rate": plan.create_rate,
        "create_burst": plan.create_burst,
        "operator_args": args,
    }
    try:
        done = await _archived(sandbox.kube_url, plan.amis, t0 + plan.archive_timeout, operator)
        result["archived_seconds"] = None if done is None else round(done - t0, 1)
        end = time.time() if done is None else done
        if done is not None:
            # The steady window: a measurement of fixed length, not a wait for a condition.
            await asyncio.sleep(plan.steady_intervals * plan.interval)
        tail = time.time()
        calls = await asyncio.to_thread(sim.calls)
        requests = await asyncio.to_thread(observe.kube_requests, sandbox.kube_url)
        scrape = await asyncio.to_thread(sandboxrun.scrape, operator)
        final = standing(await asyncio.to_thread(_items, sandbox.kube_url))
        result.update(_figures(plan, images, names, calls, requests, t0=t0, end=end, tail=tail))
        result.update(_standing_figures(final, plan.amis))
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
    """The figures from both logs: the cleanup is [t0, end), the steady window [end, tail)."""
    running = [c for c in calls if t0 <= float(c["time"]) < end]
    steady = [c for c in calls if end <= float(c["time"]) < tail]
    counted = operations(running, OPERATIONS)
    asked = deregistrations(running, images)
    once = list(asked.per_ami.values())
    intervals = (end - t0) / plan.interval
    describes = operations(running, (observe.DESCRIBE,))[observe.DESCRIBE]
    writes = export.status_writes(requests, names, start=t0, end=end)
    stamps = action_times(running, DEREGISTER)
    return {
        "first_deregister_seconds": round(min(stamps) - t0, 1) if stamps else None,
        "last_deregister_seconds": round(max(stamps) - t0, 1) if stamps else None,
        "calls_per_ami": per_ami(counted, len(images)),
        "calls": {a: dataclasses.asdict(op) for a, op in counted.items()},
        "deregister_per_ami_min": min(once, default=0),
        "deregister_per_ami_max": max(once, default=0),
        "deregister_exactly_once": asked.exactly_once,
        "amis_not_deregistered": sum(1 for n in once if n == 0),
        "request_limit_exceeded": sum(export.throttles(calls).values()),
        "request_limit_exceeded_by_action": export.throttles(calls),
        "describe_calls": dataclasses.asdict(describes),
        "describe_calls_per_interval": round(describes.calls / intervals, 2) if intervals else None,
        "describe_naming_deregistered": named_after_deregistration(calls),
        "status_writes": writes,
        "status_writes_per_amistore": round(sum(writes.values()) / len(names), 1),
        "steady_window_seconds": round(tail - end, 1),
        "steady_status_writes": sum(
            export.status_writes(requests, names, start=end, end=tail).values()
        ),
        "steady_cleanup_calls": sum(
            op.calls + op.throttled for op in operations(steady, OPERATIONS).values()
        ),
        "steady_describe_calls": export.calls_between(
            steady, observe.DESCRIBE, start=end, end=tail
        ),
        "steady_describe_naming_amis": naming(steady, images),
    }


def _standing_figures(final: Standing, amis: int) -> dict[str, Any]:
    """What the statuses say at the end: the cleanup states, Archived, the bytes freed."""
    return {
        "final_cleanup_states": final.states,
        "final_archived": final.archived,
        "freed_snapshot_bytes": final.freed_bytes,
        "freed_snapshot_bytes_expected": amis * SNAPSHOT_BYTES,
    }


async def _archived(
    kube_url: str, amis: int, deadline: float, operator: harness.OperatorProcess
) -> float | None:
    """When every AMI was first seen Deregistered and every AmiStore Archived (None: not by
    ``deadline``, or the operator exited first)."""
    while time.time() < deadline and operator.process.poll() is None:
        if standing(await asyncio.to_thread(_items, kube_url)).done(amis):
            return time.time()
        await asyncio.sleep(1.0)  # a list of 1,000 entries: not every half second
    return None


async def _create(kube_url: str, manifests: Sequence[Mapping[str, Any]]) -> None:
    url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
    headers = {"Content-Type": "application/json", "User-Agent": export.BENCH_AGENT}
    async with aiohttp.ClientSession() as session:
        await workload.create_namespace(session, kube_url)
        for body in manifests:
            async with session.post(url, data=json.dumps(body), headers=headers) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"creating {body['metadata']['name']}: {resp.status}")


def _items(kube_url: str) -> list[dict[str, Any]]:
    url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
    req = urllib.request.Request(url, headers={"User-Agent": export.BENCH_AGENT})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return list(json.loads(resp.read())["items"])


SHORT = {
    "HeadObject": "HeadObject",
    "DescribeImages": "Images",
    "DescribeImageAttribute": "Attribute",
    "DescribeImageReferences": "References",
    "DescribeSnapshots": "Snapshots",
    DEREGISTER: "Deregister",
}
COLUMNS = (
    ("AMIs", "amis"),
    ("archived s", "archived_seconds"),
    *((f"{SHORT[a]}/AMI", f"calls_per_ami.{a}") for a in OPERATIONS),
    ("Deregister min", "deregister_per_ami_min"),
    ("max", "deregister_per_ami_max"),
    ("RLE", "request_limit_exceeded"),
    ("Describe/int", "describe_calls_per_interval"),
    ("writes/AmiStore", "status_writes_per_amistore"),
    ("steady writes", "steady_status_writes"),
    ("steady cleanup calls", "steady_cleanup_calls"),
)


def value(row: Mapping[str, Any], key: str) -> Any:
    """``row``'s ``key``, a dotted key looked up one level down."""
    outer, _, inner = key.partition(".")
    found = row.get(outer)
    if inner:
        return found.get(inner) if isinstance(found, Mapping) else None
    return found


def table(row: Mapping[str, Any]) -> str:
    """A Markdown table of one row, then the setup and the checks."""
    head = [title for title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.append("| " + " | ".join(report.cell(value(row, key)) for _, key in COLUMNS) + " |")
    lines.append("")
    lines.append(
        f"cleanup: {report.cell(row.get('amis'))} AMIs in {report.cell(row.get('amistores'))} "
        f"AmiStores ({AFTER_EXPORT}, no delay), interval "
        f"{report.cell(row.get('interval_seconds'))} s, Describe budget "
        f"{report.cell(row.get('describe_burst'))} at {report.cell(row.get('describe_rate'))}/s, "
        f"create budget {report.cell(row.get('create_burst'))} at "
        f"{report.cell(row.get('create_rate'))}/s; DeregisterImage from "
        f"{report.cell(row.get('first_deregister_seconds'))} to "
        f"{report.cell(row.get('last_deregister_seconds'))} s; steady window "
        f"{report.cell(row.get('steady_window_seconds'))} s, "
        f"{report.cell(row.get('steady_describe_calls'))} DescribeStoreImageTasks in it"
    )
    failed = row.get("failed_checks")
    lines.append(
        f"checks: {'all met' if failed == [] else 'FAILED ' + ', '.join(failed or ['-'])}; "
        f"Traceback in log: {report.cell(row.get('traceback_in_log'))}, exit code "
        f"{report.cell(row.get('exit_code'))}, {report.cell(row.get('seconds'))} s in all"
    )
    return "\n".join(lines)
