"""The accounts scenario: one operator, several AWS accounts through AssumeRole, a budget each.

3 accounts with 1,000 AmiStores each (``--quick``: 50 each) in the bench
namespace, each AmiStore naming its account in ``spec.account``; the store
tasks are seeded per account in the simulator (the size rows' mix: 10% in
progress, 5% failed, the rest completed), whose throttle buckets are per
account as AWS's are. The operator runs with ``--accounts`` mapping each
account to a role the simulator lets it assume. Reported per (account,
region): DescribeStoreImageTasks per steady interval against the budget,
RequestLimitExceeded answers, AssumeRole calls, start to all status, and
status writes of changed and unchanged resources.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
import random
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench import observe, report, sandboxrun, workload
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
ROLE_NAME = "amistore-bench"
EC2_RATE = 0.5  # the operator's default --ec2-rate, per (account, region): AWS's refill
ASSUME_ROLE = "AssumeRole"
RLE = "RequestLimitExceeded"
STATUS_SUFFIX = "/status"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the accounts scenario runs."""

    accounts: int
    size: int  # AmiStores per account
    interval: float
    intervals: int  # steady-state intervals measured
    python: str = sys.executable
    startup_timeout: float = 600.0


def account_ids(count: int) -> list[str]:
    """``count`` distinct 12-digit account IDs: 111111111111, 222222222222, ..."""
    if not 0 < count <= 9:
        raise ValueError("between 1 and 9 accounts")
    return [str(k) * 12 for k in range(1, count + 1)]


def role_arn(account: str) -> str:
    """The role the operator assumes in ``account``."""
    return f"arn:aws:iam::{account}:role/{ROLE_NAME}"


def account_map(accounts: Sequence[str], namespace: str) -> dict[str, Any]:
    """The admin's map: every account to its role, usable from ``namespace`` alone."""
    return {
        "accounts": {a: {"roleArn": role_arn(a), "namespaces": [namespace]} for a in accounts},
        "defaultNamespaces": [namespace],
    }


def renamed(wl: workload.Workload, prefix: str, account: str) -> workload.Workload:
    """The workload with its AmiStores named ``PREFIX-ams-NNNNN`` and pointing at ``account``."""
    names = [f"{prefix}-{name}" for name in wl.names]
    return dataclasses.replace(wl, names=names, account=account)


@dataclasses.dataclass(frozen=True)
class AccountCalls:
    """One account's calls in the simulator's log within a window."""

    describe: int
    throttled: int  # RequestLimitExceeded answers, any action
    assume_role: int


def calls_by_account(
    calls: Iterable[Mapping[str, Any]], accounts: Sequence[str], *, start: float, end: float
) -> dict[str, AccountCalls]:
    """Describe calls, throttles and AssumeRole calls per account in [start, end).

    An EC2 call counts for the account whose key signed it; an AssumeRole call
    (signed with the operator's own key) for the account of the role it asks for.
    """
    describe = dict.fromkeys(accounts, 0)
    throttled = dict.fromkeys(accounts, 0)
    assumed = dict.fromkeys(accounts, 0)
    arns = {role_arn(a): a for a in accounts}
    for call in calls:
        if not start <= float(call["time"]) < end:
            continue
        if call["action"] == ASSUME_ROLE:
            account = arns.get(str(call["params"].get("RoleArn", "")))
            if account is not None:
                assumed[account] += 1
            continue
        account = str(call.get("account", ""))
        if account not in describe:
            continue
        if call["action"] == observe.DESCRIBE:
            describe[account] += 1
        if call.get("error_code") == RLE:
            throttled[account] += 1
    return {a: AccountCalls(describe[a], throttled[a], assumed[a]) for a in accounts}


def status_writes_by_account(
    entries: Iterable[Mapping[str, Any]],
    account_of: Mapping[str, str],
    changed_names: set[str],
    *,
    start: float,
    end: float,
) -> dict[str, observe.Writes]:
    """The operator's status PATCHes in [start, end) per account, changed or unchanged.

    ``account_of`` maps each AmiStore name to its account; the driver's own
    requests (user agent ``amistore-bench``) do not count. ``other_writes`` is 0:
    only status writes can be told apart by account.
    """
    changed = dict.fromkeys(set(account_of.values()), 0)
    unchanged = dict.fromkeys(set(account_of.values()), 0)
    for entry in entries:
        if not start <= float(entry["time"]) < end:
            continue
        if str(entry.get("user_agent", "")).startswith("amistore-bench"):
            continue
        path = str(entry["path"])
        if entry["method"] != "PATCH" or "/amistores/" not in path:
            continue
        if not path.endswith(STATUS_SUFFIX):
            continue
        name = path[: -len(STATUS_SUFFIX)].rsplit("/", 1)[-1]
        account = account_of.get(name)
        if account is None:
            continue
        if name in changed_names:
            changed[account] += 1
        else:
            unchanged[account] += 1
    return {a: observe.Writes(changed[a], unchanged[a], 0) for a in sorted(changed)}


def operator_report(operator: harness.OperatorProcess, scrape: str) -> dict[str, Any]:
    """What a scenario reports of the operator itself: its own EC2 request counts by
    (account, region), the first problems its log shows, and whether it has a Traceback."""
    logs = operator.logs()
    return {
        "operator_ec2_requests": {
            f"{account or 'own'}/{region}": counts
            for (account, region), counts in ec2_requests(scrape).items()
        },
        "log_problems": harness.log_problems(logs)[:5],
        "traceback_in_log": "Traceback" in logs,
    }


def ec2_requests(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """``amistore_ec2_requests_total`` from a scrape: (account, region) -> "operation outcome"."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    prefix = "amistore_ec2_requests_total{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels_text, value = line[len(prefix) :].rsplit("} ", 1)
        labels = dict(
            (part.split("=", 1)[0], part.split("=", 1)[1].strip('"'))
            for part in labels_text.split('",')
            if "=" in part
        )
        key = (labels.get("account", ""), labels.get("region", ""))
        found.setdefault(key, {})[f"{labels.get('operation')} {labels.get('outcome')}"] = float(
            value
        )
    return found


async def run(plan: Plan, workdir: pathlib.Path) -> dict[str, Any]:
    """Run ``plan`` in a fresh sandbox under ``workdir`` and return its measurements."""
    return await sandboxrun.timed(workdir, lambda sandbox: _run(plan, sandbox, workdir))


async def _run(plan: Plan, sandbox: cluster.Sandbox, workdir: pathlib.Path) -> dict[str, Any]:
    sim = control.Ec2SimControl(sandbox.ec2_url, timeout=120)
    accounts = account_ids(plan.accounts)
    workloads: dict[str, workload.Workload] = {}
    for k, account in enumerate(accounts, start=1):
        await asyncio.to_thread(sim.put_role, role_arn(account))
        seeded = await asyncio.to_thread(workload.seed_ec2, sim.for_account(account), plan.size)
        workloads[account] = renamed(seeded, f"a{k}", account)
    for wl in workloads.values():
        await workload.create_amistores(sandbox.kube_url, wl)
    map_path = workdir / "accounts.yaml"
    map_text = json.dumps(account_map(accounts, workload.NAMESPACE), indent=2)  # JSON is YAML
    await asyncio.to_thread(map_path.write_text, map_text + "\n")
    account_of = {name: a for a, wl in workloads.items() for name in wl.names}
    watcher = observe.StatusWatcher(sandbox.kube_url)
    watcher.start()
    await sandboxrun.clear_logs(sim, sandbox.kube_url)

    t0 = time.time()
    args = ["--namespace", workload.NAMESPACE, "--poll-interval", f"{plan.interval:g}"]
    args += ["--accounts", str(map_path)]
    operator = harness.OperatorProcess(
        sandbox.env(), args, workdir / "operator.log", python=plan.python
    )
    result: dict[str, Any] = {
        "accounts": plan.accounts,
        "amistores_per_account": plan.size,
        "interval_seconds": plan.interval,
        "steady_intervals": plan.intervals,
        "region": cluster.REGION,
        "describe_budget_per_interval": EC2_RATE * plan.interval,
    }
    try:
        await sandboxrun.all_have_status(
            watcher, len(account_of), t0 + plan.startup_timeout, operator
        )
        await asyncio.sleep(min(plan.interval / 2, 30))
        start = time.time()
        changed = await _move_tasks(plan, sim, workloads, watcher, start)
        end = start + plan.intervals * plan.interval
        await asyncio.sleep(max(0.0, end - time.time()))
        await watcher.wait_pending(plan.interval + 10)
        tail = time.time()
        calls = await asyncio.to_thread(sim.calls)
        requests = await asyncio.to_thread(observe.kube_requests, sandbox.kube_url)
        scrape = await asyncio.to_thread(sandboxrun.scrape, operator)
        steady = calls_by_account(calls, accounts, start=start, end=end)
        since_start = calls_by_account(calls, accounts, start=t0, end=tail)
        writes = status_writes_by_account(requests, account_of, changed, start=start, end=tail)
        metrics = ec2_requests(scrape)
        rows = []
        for account, wl in workloads.items():
            firsts = [watcher.first_status.get(name) for name in wl.names]
            seen = [t for t in firsts if t is not None]
            rows.append(
                {
                    "account": account,
                    "region": cluster.REGION,
                    "amistores": wl.size,
                    "with_status": len(seen),
                    "start_to_all_status_seconds": (
                        round(max(seen) - t0, 1) if len(seen) == wl.size else None
                    ),
                    "describe_calls_per_interval": round(
                        steady[account].describe / plan.intervals, 2
                    ),
                    "describe_calls_since_start": since_start[account].describe,
                    "request_limit_exceeded": since_start[account].throttled,
                    "assume_role_calls_in_window": steady[account].assume_role,
                    "assume_role_calls_since_start": since_start[account].assume_role,
                    "status_writes_changed_per_interval": round(
                        writes[account].changed / plan.intervals, 2
                    ),
                    "status_writes_unchanged": writes[account].unchanged,
                    "within_budget": steady[account].describe / plan.intervals
                    <= EC2_RATE * plan.interval,
                    "operator_ec2_requests": metrics.get((account, cluster.REGION), {}),
                }
            )
        result["per_account"] = rows
        result["window_seconds"] = round(end - start, 1)
        result["changes"] = len(changed)
        result["changes_not_seen"] = watcher.pending
        result["freshness_p50_seconds"] = _round(observe.percentile(watcher.lags, 0.5))
        result["freshness_p95_seconds"] = _round(observe.percentile(watcher.lags, 0.95))
        result["other_accounts_in_metrics"] = sorted(
            f"{a}/{r}" for a, r in metrics if a not in accounts
        )
        result["traceback_in_log"] = "Traceback" in operator.logs()
    finally:
        result["exit_code"] = operator.stop(timeout=30)
        await watcher.stop()
    return result


async def _move_tasks(
    plan: Plan,
    sim: control.Ec2SimControl,
    workloads: Mapping[str, workload.Workload],
    watcher: observe.StatusWatcher,
    start: float,
) -> set[str]:
    """The size rows' changes, in every account: 10% of its in-progress tasks per interval."""
    rng = random.Random(plan.size)
    moves = sorted(
        (offset, account, i)
        for account, wl in workloads.items()
        for offset, i in workload.schedule(wl, plan.intervals, plan.interval, rng)
    )
    changed: set[str] = set()
    for offset, account, i in moves:
        await asyncio.sleep(max(0.0, start + offset - time.time()))
        wl = workloads[account]
        watcher.expect(wl.names[i], workload.step(wl, i), time.time())
        await asyncio.to_thread(workload.push, sim, wl, i)
        changed.add(wl.names[i])
    return changed


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


COLUMNS = (
    ("account", "account"),
    ("region", "region"),
    ("AmiStores", "amistores"),
    ("Describe/int", "describe_calls_per_interval"),
    ("RLE", "request_limit_exceeded"),
    ("AssumeRole in window", "assume_role_calls_in_window"),
    ("AssumeRole since start", "assume_role_calls_since_start"),
    ("start->all status s", "start_to_all_status_seconds"),
    ("writes chg/int", "status_writes_changed_per_interval"),
    ("writes unchg", "status_writes_unchanged"),
    ("within budget", "within_budget"),
)


def table(result: Mapping[str, Any]) -> str:
    """A Markdown table: one row per (account, region), then the budget and the window."""
    head = [title for title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result.get("per_account", []):
        cells = [report.cell(row.get(key)) for _, key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"{result.get('accounts')} accounts x {result.get('amistores_per_account')} AmiStores, "
        f"interval {result.get('interval_seconds')} s, {result.get('steady_intervals')} steady "
        f"intervals ({result.get('window_seconds')} s); Describe budget per (account, region) "
        f"{result.get('describe_budget_per_interval')}/int; changes {result.get('changes')}, "
        f"not seen {result.get('changes_not_seen')}; freshness p50 / p95 "
        f"{result.get('freshness_p50_seconds')} / {result.get('freshness_p95_seconds')} s; "
        f"Traceback in log: {'yes' if result.get('traceback_in_log') else 'no'}; "
        f"exit code {result.get('exit_code')}; {result.get('seconds')} s in all"
    )
    return "\n".join(lines)
