"""The export scenario's pure parts: the bounds, counting creates, overlap, writes, the table."""

from typing import Any

import pytest

from bench import export, report
from tests.unit import bench_requests

CREATE = "CreateStoreImageTask"
DESCRIBE = "DescribeStoreImageTasks"


def _call(t: float, action: str, ami: str = "", error: str | None = None) -> Any:
    params = {"ImageId": ami} if ami else {}
    return {"time": t, "sim_time": t, "action": action, "params": params, "error_code": error}


def test_ami_ids_are_distinct_and_well_formed() -> None:
    ids = export.ami_ids(1000)

    assert ids[:2] == ["ami-e0000000", "ami-e0000001"]
    assert len(set(ids)) == 1000
    assert all(len(i) == len("ami-") + 8 for i in ids)


@pytest.mark.parametrize(
    ("count", "parts", "sizes"), [(1000, 2, [500, 500]), (7, 2, [4, 3]), (3, 4, [1, 1, 1, 0])]
)
def test_split_keeps_every_id_once_in_order(count: int, parts: int, sizes: list[int]) -> None:
    ids = export.ami_ids(count)

    chunks = export.split(ids, parts)

    assert [len(c) for c in chunks] == sizes
    assert [i for c in chunks for i in c] == ids


def test_the_capacity_bound_counts_whole_waves() -> None:
    assert export.capacity_bound(1000, 20, 10.0) == 500.0
    assert export.capacity_bound(1001, 20, 10.0) == 510.0
    assert export.capacity_bound(5, 20, 10.0) == 10.0


def test_the_create_budget_bound_leaves_one_token_of_the_burst_in_reserve() -> None:
    assert export.create_budget_bound(1000, 2.0, 10) == pytest.approx(495.5)
    assert export.create_budget_bound(5, 2.0, 10) == 0.0


def test_only_an_answer_without_error_started_a_task() -> None:
    calls = [
        _call(1.0, CREATE, "ami-1", "DryRunOperation"),
        _call(2.0, CREATE, "ami-1"),
        _call(3.0, CREATE, "ami-2", "ResourceLimitExceeded"),
        _call(4.0, CREATE, "ami-2", "RequestLimitExceeded"),
        _call(5.0, CREATE, "ami-2"),
        _call(6.0, CREATE, "ami-3", "InvalidParameter"),
        _call(7.0, DESCRIBE, error="RequestLimitExceeded"),
    ]

    made = export.creates(calls, ["ami-1", "ami-2", "ami-3"])

    assert made.per_ami == {"ami-1": 1, "ami-2": 1, "ami-3": 0}
    assert (made.dry_runs, made.capacity_refusals, made.throttled) == (1, 1, 1)
    assert made.other_errors == {"InvalidParameter": 1}
    assert made.taken == 2
    assert not made.exactly_once


def test_exactly_once_fails_on_a_duplicate_and_holds_when_every_ami_has_one() -> None:
    once = export.creates(
        [_call(1.0, CREATE, "ami-1"), _call(2.0, CREATE, "ami-2")], ["ami-1", "ami-2"]
    )
    twice = export.creates([_call(1.0, CREATE, "ami-1"), _call(2.0, CREATE, "ami-1")], ["ami-1"])

    assert once.exactly_once
    assert not twice.exactly_once
    assert twice.per_ami == {"ami-1": 2}


def test_task_starts_are_the_successful_creates_on_the_simulators_clock() -> None:
    calls = [
        _call(1.0, CREATE, "ami-1", "DryRunOperation"),
        {**_call(2.0, CREATE, "ami-1"), "sim_time": 102.0},
        _call(3.0, DESCRIBE),
    ]

    assert export.task_starts(calls) == [102.0]


def test_most_in_progress_is_the_largest_overlap_and_an_ending_task_frees_its_place() -> None:
    # Tasks of 10 s: [0, 10), [5, 15), [10, 20), [12, 22): at most 3 at once (12 to 15).
    assert export.most_in_progress([0.0, 5.0, 10.0, 12.0], 10.0) == 3
    assert export.most_in_progress([0.0, 10.0, 20.0], 10.0) == 1
    assert export.most_in_progress([], 10.0) == 0


def test_throttles_count_every_action() -> None:
    calls = [
        _call(1.0, DESCRIBE, error="RequestLimitExceeded"),
        _call(2.0, DESCRIBE, error="RequestLimitExceeded"),
        _call(3.0, CREATE, "ami-1", "RequestLimitExceeded"),
        _call(4.0, CREATE, "ami-1", "ResourceLimitExceeded"),
    ]

    assert export.throttles(calls) == {CREATE: 1, DESCRIBE: 2}


def test_calls_between_count_every_answer_in_a_half_open_window() -> None:
    calls = [
        _call(9.0, CREATE, "ami-1"),
        _call(10.0, CREATE, "ami-1", "DryRunOperation"),
        _call(15.0, DESCRIBE),
        _call(20.0, CREATE, "ami-2"),
    ]

    assert export.calls_between(calls, CREATE, start=10.0, end=20.0) == 1
    assert export.calls_between(calls, DESCRIBE, start=10.0, end=20.0) == 1


def test_status_writes_count_the_operators_status_patches_per_amistore() -> None:
    entries = [
        bench_requests.patch(10.0, "export-1"),
        bench_requests.patch(11.0, "export-1"),
        bench_requests.patch(12.0, "export-2"),
        bench_requests.patch(13.0, "export-2", suffix=""),  # metadata, not the status
        bench_requests.patch(14.0, "export-2", agent="amistore-bench"),  # the driver's own
        bench_requests.patch(15.0, "other"),  # not one of the scenario's
        bench_requests.patch(20.0, "export-1"),  # the window's end is open
        {"time": 16.0, "method": "GET", "path": "/apis/.../amistores/export-1/status"},
    ]

    writes = export.status_writes(entries, ["export-1", "export-2"], start=10.0, end=20.0)

    assert writes == {"export-1": 2, "export-2": 1}


def test_the_manifest_exports_into_the_allowed_bucket() -> None:
    body = export.manifest("export-1", ["ami-e0000000"])

    assert body["metadata"] == {"name": "export-1", "namespace": "bench"}
    assert body["spec"] == {
        "imageIds": ["ami-e0000000"],
        "bucket": export.BUCKET,
        "createTasks": True,
    }
    assert export.BUCKET.startswith(export.ALLOWED_BUCKETS.rstrip("*"))


def test_operator_args_give_the_cap_only_when_the_plan_sets_one() -> None:
    default = export.Plan(amis=10, task_seconds=5.0, interval=2.0, create_rate=2.5)
    uncapped = export.Plan(amis=10, task_seconds=5.0, interval=2.0, max_concurrent=0)

    assert export.operator_args(default) == [
        "--namespace",
        "bench",
        "--poll-interval",
        "2",
        "--allow-create",
        "--allowed-buckets",
        "amis-bench-*",
        "--ec2-rate",
        "10",
        "--ec2-burst",
        "50",
        "--ec2-create-rate",
        "2.5",
        "--ec2-create-burst",
        "10",
    ]
    assert export.operator_args(uncapped)[-2:] == ["--max-concurrent-stores", "0"]
    assert (default.name, uncapped.name) == ("default", "cap-0")


def test_the_table_has_one_row_per_variant_and_says_what_is_missing() -> None:
    rows = [
        {
            "variant": "default",
            "amis": 100,
            "amistores": 2,
            "creates_per_ami_mean": 1.0,
            "drain_seconds": 111.3,
            "exactly_once": True,
        },
        {"variant": "cap-0", "capacity_refusals": 4, "drain_seconds": None},
    ]

    lines = export.table(rows).splitlines()

    assert lines[0].startswith("| variant | AMIs | creates/AMI | min | max | capacity refusals |")
    assert (
        lines[2] == "| default | 100 | 1 | - | - | - | - | - | - | 111.3 | - | - | - | - | - | - |"
    )
    assert lines[3] == "| cap-0 | - | - | - | - | 4 | - | - | - | - | - | - | - | - | - | - |"
    assert lines[5].startswith("export: 100 AMIs in 2 AmiStores")
    assert lines[6].startswith("default: exactly once yes,")
    assert lines[7].startswith("cap-0: exactly once -,")
    assert export.table([]) == "| " + " | ".join(
        t for t, _ in export.COLUMNS
    ) + " |\n" + "|" + "---|" * len(export.COLUMNS)


def test_the_summary_line_says_whether_each_target_was_met() -> None:
    row = {
        "variant": "cap-0",
        "amis": 1000,
        "creates_per_ami_mean": 1.0,
        "creates_per_ami_min": 1,
        "creates_per_ami_max": 1,
        "exactly_once": True,
        "request_limit_exceeded": 0,
        "capacity_refusals": 7,
        "most_in_progress": 20,
        "capacity_tasks": 20,
        "drain_seconds": 640.5,
        "drain_to_bound": 1.28,
        "capacity_bound_seconds": 500.0,
        "steady_creates": 0,
        "steady_status_writes": 0,
    }
    over = {**row, "most_in_progress": 21, "exactly_once": False, "creates_per_ami_max": 2}

    assert report.export_line(row) == (
        "export cap-0 (1000 AMIs): creates per AMI 1 (min 1, max 1; exactly once yes), RLE 0, "
        "capacity refusals 7, most in progress 20 of 20 (within), drain 640.5 s = 1.28 x the "
        "capacity bound 500 s; after it 0 creates, 0 status writes"
    )
    assert "max 2; exactly once no" in report.export_line(over)
    assert "21 of 20 (NOT within)" in report.export_line(over)
    assert report.table({"export": [row]}).splitlines()[-1] == report.export_line(row)
