"""The cleanup scenario's pure parts: calls per AMI, the statuses, the checks, the table."""

from typing import Any

from bench import cleanup, report

DESCRIBE = "DescribeStoreImageTasks"
DEREGISTER = "DeregisterImage"
RLE = "RequestLimitExceeded"


def _call(t: float, action: str, error: str | None = None, **params: Any) -> Any:
    return {"time": t, "sim_time": t, "action": action, "params": params, "error_code": error}


def _deregister(t: float, ami: str, error: str | None = None) -> Any:
    return _call(t, DEREGISTER, error, ImageId=ami, DeleteAssociatedSnapshots=True)


def _describe(t: float, *amis: str) -> Any:
    return _call(t, DESCRIBE, ImageIds=list(amis))


def test_every_ami_gets_a_completed_task_into_the_archive_bucket() -> None:
    specs = cleanup.task_specs(["ami-1", "ami-2"])

    assert [s["ami_id"] for s in specs] == ["ami-1", "ami-2"]
    assert {s["state"] for s in specs} == {"Completed"}
    assert {s["bucket"] for s in specs} == {cleanup.BUCKET}
    assert all(s["started_seconds_ago"] > 0 for s in specs)


def test_the_manifest_deregisters_with_snapshots_and_no_delay() -> None:
    body = cleanup.manifest("archive-1", ["ami-1", "ami-2"])

    assert body["metadata"] == {"name": "archive-1", "namespace": "bench"}
    assert body["spec"] == {
        "imageIds": ["ami-1", "ami-2"],
        "bucket": cleanup.BUCKET,
        "afterExport": "DeregisterAndDeleteSnapshots",
        "afterExportDelaySeconds": 0,
    }


def test_operator_args_allow_deregistration_within_the_scaled_budgets() -> None:
    args = cleanup.operator_args(cleanup.Plan(amis=10, interval=2.0, create_rate=2.5))

    assert args == [
        "--namespace",
        "bench",
        "--poll-interval",
        "2",
        "--allow-deregister",
        "--ec2-rate",
        "10",
        "--ec2-burst",
        "50",
        "--ec2-create-rate",
        "2.5",
        "--ec2-create-burst",
        "10",
    ]


def test_operations_count_answers_and_errors_with_throttles_apart() -> None:
    calls = [
        _call(1.0, "HeadObject", Bucket="b", Key="ami-1.bin"),
        _call(2.0, "HeadObject", "SlowDown", Bucket="b", Key="ami-1.bin"),
        _call(3.0, "DescribeImages", ImageIds=["ami-1", "ami-2"]),
        _call(4.0, "DescribeImages", RLE, ImageIds=["ami-1"]),
        _call(5.0, "DescribeImages", "InvalidAMIID.NotFound", ImageIds=["ami-3"]),
        _describe(6.0, "ami-1"),  # not asked for
    ]

    counted = cleanup.operations(calls, ("HeadObject", "DescribeImages", DEREGISTER))

    assert counted["HeadObject"] == cleanup.Operation(calls=1, throttled=1, errors={})
    assert counted["DescribeImages"] == cleanup.Operation(
        calls=2, throttled=1, errors={"InvalidAMIID.NotFound": 1}
    )
    assert counted[DEREGISTER] == cleanup.Operation(calls=0, throttled=0, errors={})
    assert cleanup.per_ami(counted, 4) == {
        "HeadObject": 0.25,
        "DescribeImages": 0.5,
        DEREGISTER: 0.0,
    }
    assert cleanup.per_ami(counted, 0)["HeadObject"] is None


def test_deregistrations_are_exactly_once_only_when_every_ami_was_asked_once() -> None:
    amis = ["ami-1", "ami-2"]
    once = [_deregister(1.0, "ami-1"), _deregister(2.0, "ami-2", RLE), _deregister(3.0, "ami-2")]
    twice = [*once, _deregister(4.0, "ami-1", "InvalidAMIID.NotFound")]
    missing = [_deregister(1.0, "ami-1")]
    stray = [*once, _deregister(5.0, "ami-9")]

    assert cleanup.deregistrations(once, amis).per_ami == {"ami-1": 1, "ami-2": 1}
    assert cleanup.deregistrations(once, amis).exactly_once
    assert cleanup.deregistrations(twice, amis).per_ami == {"ami-1": 2, "ami-2": 1}
    assert not cleanup.deregistrations(twice, amis).exactly_once
    assert cleanup.deregistrations(missing, amis).per_ami == {"ami-1": 1, "ami-2": 0}
    assert not cleanup.deregistrations(missing, amis).exactly_once
    assert cleanup.deregistrations(stray, amis).others == 1
    assert not cleanup.deregistrations(stray, amis).exactly_once
    assert not cleanup.deregistrations([], []).exactly_once


def test_a_describe_naming_an_ami_counts_only_after_its_deregistration_was_answered() -> None:
    calls = [
        _describe(1.0, "ami-1", "ami-2"),  # before: both still there
        _deregister(2.0, "ami-1", RLE),  # throttled: AWS did nothing
        _describe(3.0, "ami-1"),
        _deregister(4.0, "ami-1"),
        _describe(5.0, "ami-2"),
        _describe(6.0, "ami-1", "ami-2"),  # names ami-1: one
        _deregister(7.0, "ami-2"),
        _describe(8.0, "ami-1", "ami-2"),  # names both: two
        _call(9.0, DESCRIBE),  # without ImageIds
    ]

    assert cleanup.named_after_deregistration(calls) == 3


def test_naming_counts_the_describes_that_name_any_of_the_amis() -> None:
    calls = [
        _describe(1.0, "ami-1", "ami-2"),
        _describe(2.0, "ami-3"),
        _call(3.0, DESCRIBE),
        _call(4.0, "DescribeImages", ImageIds=["ami-1"]),
    ]

    assert cleanup.naming(calls, ["ami-1", "ami-2"]) == 1
    assert cleanup.naming(calls, ["ami-9"]) == 0


def test_action_times_are_the_answered_calls_of_the_action() -> None:
    calls = [_deregister(1.0, "ami-1", RLE), _deregister(2.0, "ami-1"), _describe(3.0, "ami-2")]

    assert cleanup.action_times(calls, DEREGISTER) == [2.0]


def _item(name: str, states: list[str | None], archived: str | None) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    for k, state in enumerate(states):
        entry: dict[str, Any] = {"amiId": f"ami-{k}"}
        if state:
            entry["cleanupState"] = state
        if state == "Deregistered":
            entry["freedSnapshotBytes"] = 8 * 2**30
        tasks.append(entry)
    conditions = [{"type": "Synced", "status": "True"}]
    if archived is not None:
        conditions.append({"type": "Archived", "status": archived})
    return {"metadata": {"name": name}, "status": {"tasks": tasks, "conditions": conditions}}


def test_standing_counts_the_cleanup_states_archived_and_the_bytes_freed() -> None:
    items = [
        _item("archive-1", ["Deregistered", "Deregistering", None], "False"),
        _item("archive-2", ["Deregistered", "Blocked"], None),
        {"metadata": {"name": "archive-3"}},  # no status yet
    ]

    found = cleanup.standing(items)

    assert found.states == {"": 1, "Blocked": 1, "Deregistered": 2, "Deregistering": 1}
    assert found.archived == {"archive-1": "False", "archive-2": "", "archive-3": ""}
    assert found.freed_bytes == 2 * 8 * 2**30
    assert not found.done(2)


def test_done_needs_every_ami_deregistered_and_every_amistore_archived() -> None:
    all_done = [
        _item("archive-1", ["Deregistered"] * 2, "True"),
        _item("archive-2", ["Deregistered"], "True"),
    ]
    not_archived = [*all_done[:1], _item("archive-2", ["Deregistered"], "False")]

    assert cleanup.standing(all_done).done(3)
    assert not cleanup.standing(all_done).done(4)
    assert not cleanup.standing(not_archived).done(3)


GOOD = {
    "amis": 1000,
    "archived_seconds": 300.5,
    "deregister_exactly_once": True,
    "describe_naming_deregistered": 0,
    "steady_status_writes": 0,
    "steady_cleanup_calls": 0,
    "steady_describe_naming_amis": 0,
    "traceback_in_log": False,
}


def test_checks_are_met_only_when_every_target_is() -> None:
    assert set(cleanup.checks(GOOD).values()) == {True}
    once = cleanup.checks({**GOOD, "deregister_exactly_once": False})
    assert once == {**cleanup.checks(GOOD), "deregister_exactly_once": False}
    assert not cleanup.checks({**GOOD, "archived_seconds": None})["all_archived"]
    assert not cleanup.checks({**GOOD, "steady_status_writes": 2})["steady_no_status_writes"]
    assert not cleanup.checks({**GOOD, "steady_cleanup_calls": 1})["steady_no_cleanup_calls"]
    assert not cleanup.checks({**GOOD, "describe_naming_deregistered": 3})[
        "no_describe_naming_deregistered"
    ]
    assert not cleanup.checks({**GOOD, "traceback_in_log": None})["no_traceback"]
    assert not any(cleanup.checks({}).values())


def test_the_table_has_one_row_and_says_what_is_missing_and_which_checks_failed() -> None:
    row = {
        **GOOD,
        "calls_per_ami": {"HeadObject": 3.0, "DeregisterImage": 1.0},
        "deregister_per_ami_max": 1,
        "failed_checks": ["steady_no_status_writes"],
    }

    lines = cleanup.table(row).splitlines()

    assert lines[0].startswith("| AMIs | archived s | HeadObject/AMI | Images/AMI |")
    assert lines[2] == "| 1000 | 300.5 | 3 | - | - | - | - | 1 | - | 1 | - | - | - | 0 | 0 |"
    assert lines[4].startswith("cleanup: 1000 AMIs in - AmiStores")
    assert lines[5].startswith("checks: FAILED steady_no_status_writes;")
    assert cleanup.table({**row, "failed_checks": []}).splitlines()[5].startswith("checks: all met")


def test_the_summary_line_says_whether_each_target_was_met() -> None:
    row = {
        **GOOD,
        "calls_per_ami": {a: 1.0 for a in cleanup.OPERATIONS},
        "request_limit_exceeded": 0,
        "failed_checks": [],
    }
    failed = {**row, "deregister_exactly_once": False, "failed_checks": ["deregister_exactly_once"]}

    assert report.cleanup_line(row) == (
        "cleanup (1000 AMIs): archived in 300.5 s; per AMI HeadObject 1, DescribeImages 1, "
        "DescribeImageAttribute 1, DescribeImageReferences 1, DescribeSnapshots 1, "
        "DeregisterImage 1 (exactly once yes); RLE 0; after it 0 status writes, "
        "0 cleanup calls; checks met"
    )
    assert "(exactly once no)" in report.cleanup_line(failed)
    assert report.cleanup_line(failed).endswith("checks FAILED: deregister_exactly_once")
    assert report.table({"cleanup": row}).splitlines()[-1] == report.cleanup_line(row)
