"""The benchmark's table: one row per size, the baseline ratios, stretch, export, cleanup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLUMNS = (
    ("N", "n"),
    ("interval s", "interval_seconds"),
    ("Describe/int", "describe_calls_per_interval"),
    ("start-up Describe", "startup_describe_calls"),
    ("RLE", "request_limit_exceeded"),
    ("writes chg/int", "status_writes_changed_per_interval"),
    ("writes unchg/int", "status_writes_unchanged_per_interval"),
    ("fresh p50 s", "freshness_p50_seconds"),
    ("fresh p95 s", "freshness_p95_seconds"),
    ("fresh max s", "freshness_max_seconds"),
    ("CPU s/int", "cpu_seconds_per_interval"),
    ("CPU %core", "cpu_percent_of_one_core"),
    ("peak RSS MiB", "peak_rss_mib"),
    ("start->all status s", "start_to_all_status_seconds"),
    ("SIGTERM->exit s", "stop_seconds"),
)
NAIVE = (
    ("naive Describe/int", "describe_calls_per_interval"),
    ("naive throttled %", "throttled_percent"),
    ("naive writes/int", "status_writes_per_interval"),
)


def cell(value: Any) -> str:
    """A table cell: "-" for no value, yes/no, numbers without trailing zeros."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or not theirs:
        return "-"
    return f"{ours / theirs:.3f}"


def naive_interval(naive: dict[str, Any]) -> str:
    """The baseline's interval, and its longest pass when one took longer than that."""
    interval = naive.get("interval_seconds")
    if not isinstance(interval, int | float):
        return "-"
    longest = max(naive.get("pass_seconds") or [0.0])
    if longest > interval:
        return f"{interval:g} (took {longest:.1f})"
    return f"{interval:g}"


def table(results: dict[str, Any]) -> str:
    """A Markdown table of every size, then the stretch case in one line."""
    head = [c[0] for c in COLUMNS] + ["naive interval s"] + [c[0] for c in NAIVE]
    head += ["calls ratio", "writes ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results.get("sizes", []):
        naive = row.get("naive") or {}
        ours_writes = (row.get("status_writes_changed_per_interval") or 0) + (
            row.get("status_writes_unchanged_per_interval") or 0
        )
        cells = [cell(row.get(key)) for _, key in COLUMNS]
        cells.append(naive_interval(naive) if naive else "-")
        cells += [cell(naive.get(key)) for _, key in NAIVE]
        cells.append(
            _ratio(row.get("describe_calls_per_interval"), naive.get("describe_calls_per_interval"))
        )
        cells.append(_ratio(ours_writes, naive.get("status_writes_per_interval")))
        lines.append("| " + " | ".join(cells) + " |")
    machine = results.get("machine", {})
    lines.append("")
    for row in results.get("sizes", []):
        if row.get("changes_not_seen"):
            lines.append(
                f"N={row.get('n')}: {row['changes_not_seen']} of {row.get('changes')} changes "
                "never reached a status (left out of the freshness figures)"
            )
    load = machine.get("load_average_at_start")
    lines.append(f"cores: {machine.get('cores')}; load average at start {load}")
    stretch = results.get("stretch")
    if stretch:
        lines.append(
            "stretch case (100 in-progress AMIs, --poll-interval 2, --ec2-rate 0.1 --ec2-burst 2): "
            f"effective interval {cell(stretch.get('effective_interval_seconds'))} s, "
            f"log line {'yes' if stretch.get('stretch_logged') else 'no'}, "
            f"Describe/int {cell(stretch.get('describe_calls_per_interval'))}, "
            f"RLE {cell(stretch.get('request_limit_exceeded'))}, "
            f"Synced=False {cell(stretch.get('synced_false'))}, "
            f"freshness p50 / p95 / max {cell(stretch.get('freshness_p50_seconds'))} / "
            f"{cell(stretch.get('freshness_p95_seconds'))} / "
            f"{cell(stretch.get('freshness_max_seconds'))} s"
        )
    for row in results.get("export", []):
        lines.append(export_line(row))
    if results.get("cleanup"):
        lines.append(cleanup_line(results["cleanup"]))
    return "\n".join(lines)


def export_line(row: Mapping[str, Any]) -> str:
    """One export variant against its targets: once per AMI, no throttle, within capacity."""
    capacity = row.get("capacity_tasks")
    most = row.get("most_in_progress")
    within = isinstance(most, int) and isinstance(capacity, int) and most <= capacity
    return (
        f"export {row.get('variant')} ({cell(row.get('amis'))} AMIs): creates per AMI "
        f"{cell(row.get('creates_per_ami_mean'))} (min {cell(row.get('creates_per_ami_min'))}, "
        f"max {cell(row.get('creates_per_ami_max'))}; exactly once "
        f"{'yes' if row.get('exactly_once') else 'no'}), RLE "
        f"{cell(row.get('request_limit_exceeded'))}, capacity refusals "
        f"{cell(row.get('capacity_refusals'))}, most in progress {cell(most)} of "
        f"{cell(capacity)} ({'within' if within else 'NOT within'}), drain "
        f"{cell(row.get('drain_seconds'))} s = {cell(row.get('drain_to_bound'))} x the "
        f"capacity bound {cell(row.get('capacity_bound_seconds'))} s; after it "
        f"{cell(row.get('steady_creates'))} creates, "
        f"{cell(row.get('steady_status_writes'))} status writes"
    )


def cleanup_line(row: Mapping[str, Any]) -> str:
    """The cleanup scenario against its targets: one DeregisterImage per AMI, quiet after."""
    per_ami = row.get("calls_per_ami") or {}
    failed = row.get("failed_checks")
    return (
        f"cleanup ({cell(row.get('amis'))} AMIs): archived in {cell(row.get('archived_seconds'))} "
        f"s; per AMI HeadObject {cell(per_ami.get('HeadObject'))}, DescribeImages "
        f"{cell(per_ami.get('DescribeImages'))}, DescribeImageAttribute "
        f"{cell(per_ami.get('DescribeImageAttribute'))}, DescribeImageReferences "
        f"{cell(per_ami.get('DescribeImageReferences'))}, DescribeSnapshots "
        f"{cell(per_ami.get('DescribeSnapshots'))}, DeregisterImage "
        f"{cell(per_ami.get('DeregisterImage'))} (exactly once "
        f"{'yes' if row.get('deregister_exactly_once') else 'no'}); RLE "
        f"{cell(row.get('request_limit_exceeded'))}; after it "
        f"{cell(row.get('steady_status_writes'))} status writes, "
        f"{cell(row.get('steady_cleanup_calls'))} cleanup calls; checks "
        f"{'met' if failed == [] else 'FAILED: ' + ', '.join(failed or ['-'])}"
    )
