"""One benchmark scenario: a fresh sandbox, the workload, the real operator, then the baseline."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import random
import subprocess
import sys
import time
import urllib.request
from typing import Any

from bench import naive, observe, sandboxrun, workload
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one scenario runs."""

    size: int
    interval: float
    intervals: int  # steady-state intervals measured
    naive_interval: float
    naive_intervals: int  # 0: no baseline
    in_progress_share: float = 0.1
    extra_args: tuple[str, ...] = ()  # more operator flags (the stretch case)
    startup_timeout: float = 600.0
    env: tuple[tuple[str, str], ...] = ()  # more operator environment
    python: str = sys.executable  # whose amistore_operator (and dependencies) run


async def run(plan: Plan, workdir: pathlib.Path) -> dict[str, Any]:
    """Run ``plan`` in a fresh sandbox under ``workdir`` and return its measurements."""
    async with sandboxrun.fresh(workdir) as (sandbox, _):
        return await _run(plan, sandbox, workdir)


async def _run(plan: Plan, sandbox: cluster.Sandbox, workdir: pathlib.Path) -> dict[str, Any]:
    sim = control.Ec2SimControl(sandbox.ec2_url, timeout=120)
    load_before = os.getloadavg()
    wl = await asyncio.to_thread(workload.seed_ec2, sim, plan.size, plan.in_progress_share)
    t_create = time.time()
    await workload.create_amistores(sandbox.kube_url, wl)
    created_in = time.time() - t_create
    watcher = observe.StatusWatcher(sandbox.kube_url)
    watcher.start()
    await sandboxrun.clear_logs(sim, sandbox.kube_url)

    t0 = time.time()
    args = ["--namespace", workload.NAMESPACE, "--poll-interval", f"{plan.interval:g}"]
    args += plan.extra_args
    env = {**sandbox.env(), **dict(plan.env)}
    operator = harness.OperatorProcess(env, args, workdir / "operator.log", python=plan.python)
    sampler = observe.ProcessSampler(operator.process.pid)
    sampling = asyncio.create_task(_sample(sampler))
    result: dict[str, Any] = {
        "n": plan.size,
        "interval_seconds": plan.interval,
        "steady_intervals": plan.intervals,
        "in_progress": len(wl.in_progress),
        "operator_args": args,
        "create_amistores_seconds": round(created_in, 1),
    }
    try:
        t_all = await sandboxrun.all_have_status(
            watcher, plan.size, t0 + plan.startup_timeout, operator
        )
        result["start_to_all_status_seconds"] = None if t_all is None else round(t_all - t0, 1)
        result["with_status_at_timeout"] = len(watcher.first_status)
        result["startup_rss_mib"] = round(sampler.sample() / 2**20, 1)
        await asyncio.sleep(min(plan.interval / 2, 30))
        result.update(await _steady(plan, sim, wl, watcher, sampler, sandbox, t0, t_all))
        scrape = await asyncio.to_thread(_scrape, operator.metrics_port)
        result["metrics_scrape_seconds"] = scrape[1]
        result["effective_interval_seconds"] = _metric(
            scrape[0], "amistore_poll_effective_interval_seconds"
        )
        result["stretch_logged"] = "EC2 budget exceeded" in operator.logs()
        result["synced_false"] = await asyncio.to_thread(_synced_false, sandbox.kube_url)
    finally:
        sampling.cancel()
        result["peak_rss_mib"] = round(sampler.sample() / 2**20, 1)
        stopping = time.monotonic()
        result["exit_code"] = operator.stop(timeout=30)
        result["stop_seconds"] = round(time.monotonic() - stopping, 1)
        await watcher.stop()
    if plan.naive_intervals:
        result["naive"] = await _naive(plan, sim, sandbox, workdir)
    result["load_average_before"] = [round(x, 2) for x in load_before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


async def _sample(sampler: observe.ProcessSampler) -> None:
    while True:
        sampler.sample()
        await asyncio.sleep(1.0)


async def _steady(
    plan: Plan,
    sim: control.Ec2SimControl,
    wl: workload.Workload,
    watcher: observe.StatusWatcher,
    sampler: observe.ProcessSampler,
    sandbox: cluster.Sandbox,
    t0: float,
    t_all: float | None,
) -> dict[str, Any]:
    """Move some tasks each interval; count calls, writes, CPU and freshness.

    ``t0`` is the operator's start, ``t_all`` when every AmiStore had a status (None:
    not by the start-up timeout); the calls between them are the start-up's.
    """
    rng = random.Random(plan.size)
    start = time.time()
    cpu_start = sampler.cpu_seconds()
    changed: set[str] = set()
    moves = workload.schedule(wl, plan.intervals, plan.interval, rng)
    for offset, i in moves:
        await _sleep_until(start + offset)
        # Expected before it is made: no status can show the change before the watcher knows it.
        watcher.expect(wl.names[i], workload.step(wl, i), time.time())
        await asyncio.to_thread(workload.push, sim, wl, i)
        changed.add(wl.names[i])
    end = start + plan.intervals * plan.interval
    await _sleep_until(end)
    cpu = sampler.cpu_seconds() - cpu_start
    # Let the last changes arrive (bounded: one interval and some), then read both logs.
    await watcher.wait_pending(plan.interval + 10)
    tail = time.time()
    calls = await asyncio.to_thread(sim.calls)
    requests = await asyncio.to_thread(observe.kube_requests, sandbox.kube_url)
    aws = observe.describe_calls(calls, start=start, end=end)
    aws_all = observe.describe_calls(calls, start=t0, end=tail)
    startup = None if t_all is None else observe.describe_calls(calls, start=t0, end=t_all)
    writes = observe.status_writes(requests, start=start, end=tail, changed_names=changed)
    n = plan.intervals
    changes = len(moves)
    lags = watcher.lags
    return {
        "describe_calls_per_interval": round(aws.calls / n, 2),
        "startup_describe_calls": None if startup is None else startup.calls,
        "startup_request_limit_exceeded": None if startup is None else startup.throttled,
        "describe_calls_since_start": aws_all.calls,
        "request_limit_exceeded": aws_all.throttled,
        "throttled_calls": [
            {"seconds_after_start": round(c["time"] - t0, 1), "params": c["params"]}
            for c in calls
            if c["error_code"] == "RequestLimitExceeded" and c["time"] < tail
        ][:10],
        "changes": changes,
        "changes_not_seen": watcher.pending,
        "status_writes_changed_per_interval": round(writes.changed / n, 2),
        "status_writes_unchanged_per_interval": round(writes.unchanged / n, 2),
        "status_writes_per_change": round(writes.changed / changes, 2) if changes else None,
        "other_operator_writes_in_window": writes.other_writes,
        "status_writes_refused_in_window": writes.refused,
        "freshness_p50_seconds": _round(observe.percentile(lags, 0.5)),
        "freshness_p95_seconds": _round(observe.percentile(lags, 0.95)),
        "freshness_max_seconds": _round(max(lags, default=None)),
        "cpu_seconds_per_interval": round(cpu / n, 3),
        "cpu_percent_of_one_core": round(100 * cpu / (end - start), 2),
    }


async def _naive(
    plan: Plan, sim: control.Ec2SimControl, sandbox: cluster.Sandbox, workdir: pathlib.Path
) -> dict[str, Any]:
    """The baseline on the same workload, with a fresh EC2 budget."""
    await asyncio.to_thread(sim.set_throttle, reset=True)
    start = time.time()
    args = [
        sys.executable,
        "-m",
        "bench.naive",
        "--kube-url",
        sandbox.kube_url,
        "--interval",
        f"{plan.naive_interval:g}",
        "--intervals",
        str(plan.naive_intervals),
    ]
    log_path = workdir / "naive.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *args, env={**os.environ, **sandbox.env()}, stdout=log, stderr=subprocess.STDOUT
        )
        code = await proc.wait()
    end = time.time()
    passes = naive.read_passes(await asyncio.to_thread(log_path.read_text))
    calls = await asyncio.to_thread(sim.calls)
    requests = await asyncio.to_thread(observe.kube_requests, sandbox.kube_url)
    aws = observe.describe_calls(calls, start=start, end=end)
    writes = observe.status_writes(
        requests, start=start, end=end, changed_names=set(), user_agent_prefix="naive"
    )
    n = plan.naive_intervals
    return {
        "interval_seconds": plan.naive_interval,
        "intervals": n,
        "exit_code": code,
        "describe_calls_per_interval": round(aws.calls / n, 2),
        "request_limit_exceeded_per_interval": round(aws.throttled / n, 2),
        "throttled_percent": aws.throttled_percent,
        "status_writes_per_interval": round(writes.unchanged / n, 2),
        "pass_seconds": passes,
        "seconds": round(end - start, 1),
    }


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.time()))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _scrape(port: int) -> tuple[str, float | None]:
    """GET /metrics (slow at 10,000 resources: a generous timeout; "" if it fails)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
            text = resp.read().decode()
    except OSError:
        return "", None
    return text, round(time.monotonic() - started, 2)


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return round(float(line.rsplit(" ", 1)[1]), 1)
    return None


def _synced_false(kube_url: str) -> int:
    url = f"{kube_url}{workload.GROUP_PATH}/namespaces/{workload.NAMESPACE}/amistores"
    with urllib.request.urlopen(url, timeout=300) as resp:
        items = json.loads(resp.read())["items"]
    return sum(
        1
        for item in items
        for cond in (item.get("status") or {}).get("conditions", [])
        if cond.get("type") == "Synced" and cond.get("status") == "False"
    )
