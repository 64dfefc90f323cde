"""``make bench``: what the operator costs at 10 to 10,000 AmiStores, against a naive baseline.

    python -m bench.run [--sizes 10,100,1000,5000,10000] [--interval 60] [--intervals 3]
                        [--small-interval 10] [--naive-interval 20] [--naive-intervals 1]
                        [--no-accounts] [--no-export] [--no-cleanup] [--no-stretch] [--quick]
                        [--out bench/results/]

Each size runs in a fresh sandbox (the EC2 simulator's real throttle on) with
the real ``amistore-operator`` process; sizes under 1,000 use
``--small-interval`` so the run ends in minutes. Then the stretch case: the
operator's budget set far below demand (``--ec2-rate 0.1 --ec2-burst 2``, 100
in-progress AMIs, a 2-second interval). Between them, the accounts scenario
(``bench/accounts.py``): 3 AWS accounts with 1,000 AmiStores each through
AssumeRole, one budget per (account, region); then the export scenario
(``bench/export.py``): 1,000 AMIs in two AmiStores with ``createTasks`` through
AWS's capacity for 20 at a time, with the operator's default cap and without one
(``--max-concurrent-stores 0``); then the cleanup scenario (``bench/cleanup.py``):
1,000 archived AMIs in two AmiStores with ``afterExport: DeregisterAndDeleteSnapshots``,
deregistered once each, then a quiet steady window. Prints a table and writes
``results.json`` with the machine's core count.

``--quick`` checks the harness, not the operator: shorter intervals (5 s, 20 s
from 1,000), 2 steady intervals, 3 accounts x 50 AmiStores at 10 s, 100 AMIs to
export, 100 AMIs to clean up, a shorter stretch case, and the results in a
new temporary folder unless ``--out`` says where, so ``bench/results/`` keeps
the last full run. Flags given with it still win.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from bench import accounts, cleanup, export, report, scenario

OUT = "bench/results/"
# What the full run and --quick use for every flag not given.
FULL = {"interval": 60.0, "small_interval": 10.0, "intervals": 3, "naive_interval": 20.0}
QUICK = {"interval": 20.0, "small_interval": 5.0, "intervals": 2, "naive_interval": 5.0}
QUICK_STRETCH_INTERVALS = 10
# The accounts scenario: (accounts, AmiStores per account, interval); --quick: a smaller one.
ACCOUNTS = (3, 1000, 60.0)
QUICK_ACCOUNTS = (3, 50, 10.0)
# The export scenario, time scaled down 20 times (see bench/README.md); --quick: 100 AMIs.
EXPORT = export.Plan(amis=1000, task_seconds=10.0, interval=3.0)
QUICK_EXPORT_AMIS = 100
EXPORT_CAPS = (None, 0)  # the operator's default cap (20), then AWS's capacity alone
# The cleanup scenario, on the export scenario's scaled time; --quick: 100 AMIs (2 x 50).
CLEANUP = cleanup.Plan(amis=1000)
QUICK_CLEANUP_AMIS = 100
STRETCH = scenario.Plan(
    size=100,
    interval=2,
    intervals=30,
    naive_interval=0,
    naive_intervals=0,
    in_progress_share=1.0,
    extra_args=("--ec2-rate", "0.1", "--ec2-burst", "2"),
    startup_timeout=120,
)


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run every size, then the stretch case; save after each so a crash keeps the rest."""
    out = pathlib.Path(args.out)
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": "python -m bench.run " + " ".join(args.argv),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="amistore-bench-") as tmp:
        for size in args.sizes:
            interval = args.interval if size >= 1000 else args.small_interval
            plan = scenario.Plan(
                size=size,
                interval=interval,
                intervals=args.intervals,
                naive_interval=min(interval, args.naive_interval),
                naive_intervals=args.naive_intervals,
                python=args.operator_python,
            )
            print(f"==> N={size}, interval {interval:g}s", flush=True)
            row = await scenario.run(plan, pathlib.Path(tmp) / f"n{size}")
            results["sizes"].append(row)
            print(json.dumps(row), flush=True)
            _save(out, results)
        if args.accounts:
            count, size, interval = QUICK_ACCOUNTS if args.quick else ACCOUNTS
            print(f"==> accounts: {count} x {size} AmiStores, interval {interval:g}s", flush=True)
            accounts_plan = accounts.Plan(
                accounts=count,
                size=size,
                interval=interval,
                intervals=args.intervals,
                python=args.operator_python,
            )
            results["accounts"] = await accounts.run(accounts_plan, pathlib.Path(tmp) / "accounts")
            print(json.dumps(results["accounts"]), flush=True)
            _save(out, results)
        if args.export:
            results["export"] = []
            for cap in EXPORT_CAPS:
                variant = dataclasses.replace(
                    EXPORT, max_concurrent=cap, python=args.operator_python
                )
                if args.quick:
                    variant = dataclasses.replace(variant, amis=QUICK_EXPORT_AMIS)
                print(f"==> export: {variant.amis} AMIs, {variant.name}", flush=True)
                row = await export.run(variant, pathlib.Path(tmp) / f"export-{variant.name}")
                results["export"].append(row)
                print(json.dumps(row), flush=True)
                _save(out, results)
        if args.cleanup:
            cleaning = dataclasses.replace(CLEANUP, python=args.operator_python)
            if args.quick:
                cleaning = dataclasses.replace(cleaning, amis=QUICK_CLEANUP_AMIS)
            print(f"==> cleanup: {cleaning.amis} archived AMIs", flush=True)
            results["cleanup"] = await cleanup.run(cleaning, pathlib.Path(tmp) / "cleanup")
            print(json.dumps(results["cleanup"]), flush=True)
            _save(out, results)
        if args.stretch:
            print("==> stretch case: --ec2-rate 0.1 --ec2-burst 2, 100 in progress", flush=True)
            stretch = dataclasses.replace(STRETCH, python=args.operator_python)
            if args.quick:
                stretch = dataclasses.replace(stretch, intervals=QUICK_STRETCH_INTERVALS)
            results["stretch"] = await scenario.run(stretch, pathlib.Path(tmp) / "stretch")
            print(json.dumps(results["stretch"]), flush=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    _save(out, results)
    return results


def _save(out: pathlib.Path, results: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000,5000,10000")
    parser.add_argument("--interval", type=float, help="for N >= 1000 (60; --quick: 20)")
    parser.add_argument("--small-interval", type=float, help="for N < 1000 (10; --quick: 5)")
    parser.add_argument("--intervals", type=int, help="steady-state intervals (3; --quick: 2)")
    parser.add_argument("--naive-interval", type=float, help="at most (20; --quick: 5)")
    parser.add_argument("--naive-intervals", type=int, default=1)
    parser.add_argument("--no-stretch", dest="stretch", action="store_false")
    parser.add_argument(
        "--no-accounts",
        dest="accounts",
        action="store_false",
        help="skip the accounts scenario (3 accounts x 1,000 AmiStores; --quick: x 50)",
    )
    parser.add_argument(
        "--no-export",
        dest="export",
        action="store_false",
        help="skip the export scenario (1,000 AMIs through a capacity of 20; --quick: 100)",
    )
    parser.add_argument(
        "--no-cleanup",
        dest="cleanup",
        action="store_false",
        help="skip the cleanup scenario (1,000 archived AMIs deregistered; --quick: 100)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="check the harness: short intervals, temporary --out"
    )
    parser.add_argument("--out", help="where results.json goes (bench/results/)")
    parser.add_argument(
        "--operator-python",
        default=sys.executable,
        help="the Python whose amistore_operator runs (make bench: a venv with only the "
        "runtime dependencies, as the container image has)",
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="amistore-bench-quick-") if args.quick else OUT
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse(sys.argv[1:] if argv is None else argv)
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so every sandbox and operator is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
    results = asyncio.run(main_async(args))
    print()
    print(report.table(results))
    if "accounts" in results:
        print()
        print(accounts.table(results["accounts"]))
    if results.get("export"):
        print()
        print(export.table(results["export"]))
    if "cleanup" in results:
        print()
        print(cleanup.table(results["cleanup"]))
    print(f"\nresults: {pathlib.Path(args.out) / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
