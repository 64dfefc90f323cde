"""DescribeStoreImageTasks through real boto3 against the simulator."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.ec2sim import model
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, boto3_client

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

DAY = 86400.0


def ami(n: int) -> str:
    return f"ami-{n:08x}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response["Error"]
    status = exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return err["Code"], status, err["Message"]


def test_every_field_parses_into_documented_keys_and_types(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.set_clock(1_700_000_000.0, frozen=True)
    ctl.create_task(ami(1), "bucket-a", duration_seconds=200, started_seconds_ago=100.25)
    ctl.create_task(
        ami(2),
        "bucket-b",
        duration_seconds=10,
        fail_at_percent=40,
        failure_reason="Access Denied for bucket bucket-b",
        started_seconds_ago=200,
    )
    results = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
    assert [r["AmiId"] for r in results] == [ami(1), ami(2)]
    first, failed = results
    assert first == {
        "AmiId": ami(1),
        "TaskStartTime": datetime.fromtimestamp(1_700_000_000.0 - 100.25, UTC),
        "Bucket": "bucket-a",
        "S3objectKey": f"{ami(1)}.bin",
        "ProgressPercentage": 50,
        "StoreTaskState": "InProgress",
    }
    assert isinstance(first["ProgressPercentage"], int)
    assert isinstance(first["TaskStartTime"], datetime)
    assert failed["StoreTaskState"] == "Failed"
    assert failed["StoreTaskFailureReason"] == "Access Denied for bucket bucket-b"
    assert failed["ProgressPercentage"] == 40


def test_empty_listing_is_an_empty_list_without_token(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    response = ec2.describe_store_image_tasks()
    assert response["StoreImageTaskResults"] == []
    assert "NextToken" not in response


def test_paginator_walks_pages_newest_first(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_clock(frozen=True)
    ctl.create_tasks(
        [{"ami_id": ami(i), "bucket": "b", "started_seconds_ago": i * 60} for i in range(1, 24)]
    )
    pages = list(
        ec2.get_paginator("describe_store_image_tasks").paginate(PaginationConfig={"PageSize": 5})
    )
    assert [len(p["StoreImageTaskResults"]) for p in pages] == [5, 5, 5, 5, 3]
    ids = [r["AmiId"] for p in pages for r in p["StoreImageTaskResults"]]
    assert ids == [ami(i) for i in range(1, 24)]
    calls = ctl.calls("DescribeStoreImageTasks")
    assert [c["params"].get("MaxResults") for c in calls] == [5] * 5
    assert "NextToken" not in calls[0]["params"]
    assert all("NextToken" in c["params"] for c in calls[1:])


def test_token_is_stable_when_newer_tasks_arrive(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_clock(frozen=True)
    ctl.create_tasks(
        [{"ami_id": ami(i), "bucket": "b", "started_seconds_ago": i * 60} for i in range(1, 7)]
    )
    first = ec2.describe_store_image_tasks(MaxResults=3)
    ctl.create_task(ami(99), "b")  # newer than all: must not shift the next page
    second = ec2.describe_store_image_tasks(MaxResults=3, NextToken=first["NextToken"])
    assert [r["AmiId"] for r in second["StoreImageTaskResults"]] == [ami(4), ami(5), ami(6)]
    assert "NextToken" not in second


def test_bad_token_is_rejected(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(MaxResults=5, NextToken="not-a-token")
    assert error_of(exc)[:2] == ("InvalidPaginationToken", 400)


def test_default_page_size(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.bulk(model.DEFAULT_PAGE_SIZE + 5, bucket="b", spread_seconds=3600)
    first = ec2.describe_store_image_tasks()
    assert len(first["StoreImageTaskResults"]) == model.DEFAULT_PAGE_SIZE
    rest = ec2.describe_store_image_tasks(NextToken=first["NextToken"])
    assert len(rest["StoreImageTaskResults"]) == 5


def test_filters_task_state_and_bucket(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(ami(1), "b1", progress=10)
    ctl.create_task(ami(2), "b1", state="Completed")
    ctl.create_task(ami(3), "b2", fail_at_percent=0, failure_reason="boom")
    ctl.create_task(ami(4), "b2", state="Completed")

    def listed(filters: list[dict[str, list[str] | str]]) -> set[str]:
        response = ec2.describe_store_image_tasks(Filters=filters)  # type: ignore[arg-type]
        return {r["AmiId"] for r in response["StoreImageTaskResults"]}

    assert listed([{"Name": "task-state", "Values": ["Completed"]}]) == {ami(2), ami(4)}
    assert listed([{"Name": "bucket", "Values": ["b2"]}]) == {ami(3), ami(4)}
    assert listed(
        [
            {"Name": "bucket", "Values": ["b1"]},
            {"Name": "task-state", "Values": ["InProgress", "Failed"]},
        ]
    ) == {ami(1)}
    with pytest.raises(ClientError) as exc:
        listed([{"Name": "owner", "Values": ["me"]}])
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)


def test_image_ids_ignore_filters_and_return_latest_task(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.create_task(ami(1), "old-bucket", state="Completed", started_seconds_ago=500)
    ctl.create_task(ami(1), "new-bucket", progress=7, started_seconds_ago=10)
    ctl.create_task(ami(2), "b", state="Completed", started_seconds_ago=100)
    ctl.register_amis([ami(3)])  # exists, but no store task
    response = ec2.describe_store_image_tasks(
        ImageIds=[ami(2), ami(1), ami(3)],
        Filters=[{"Name": "bucket", "Values": ["nothing-matches"]}],
    )
    results = response["StoreImageTaskResults"]
    assert [(r["AmiId"], r["Bucket"]) for r in results] == [(ami(1), "new-bucket"), (ami(2), "b")]
    listing = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
    assert [r["AmiId"] for r in listing] == [ami(1), ami(2)]


def test_more_than_twenty_image_ids_rejected(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ids = [ami(i) for i in range(21)]
    ctl.register_amis(ids)
    assert ec2.describe_store_image_tasks(ImageIds=ids[:20])["StoreImageTaskResults"] == []
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(ImageIds=ids)
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)


def test_image_ids_with_max_results_rejected(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([ami(1)])
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(ImageIds=[ami(1)], MaxResults=5)
    assert error_of(exc)[:2] == ("InvalidParameterCombination", 400)


@pytest.mark.parametrize("value", [0, 201])
def test_max_results_out_of_range(sim: ThreadedEc2Sim, ctl: Ec2SimControl, value: int) -> None:
    # botocore checks the model's minimum client-side; switch that off to reach the server.
    raw = boto3_client(sim.url, parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.describe_store_image_tasks(MaxResults=value)
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)


@pytest.mark.parametrize("bad", ["ami-123", "ami-1234567g", "img-12345678", "ami-0123456789abcdef"])
def test_malformed_id(ctl: Ec2SimControl, ec2: EC2Client, bad: str) -> None:
    ctl.register_amis([ami(1)])
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(ImageIds=[ami(1), bad])
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidAMIID.Malformed", 400)
    assert bad in message


def test_not_found_names_every_missing_id(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(ami(1), "b", progress=1)
    ctl.create_task(ami(2), "b", progress=1)
    ctl.deregister_amis([ami(2)])
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(ImageIds=[ami(1), ami(2), ami(3)])
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidAMIID.NotFound", 400)
    assert message == f"The image ids '[{ami(2)}, {ami(3)}]' do not exist"
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(ImageIds=[ami(3)])
    assert error_of(exc)[2] == f"The image id '[{ami(3)}]' does not exist"
    listing = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
    assert [r["AmiId"] for r in listing] == [ami(1)]


def test_dry_run(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks(DryRun=True)
    assert error_of(exc)[:2] == ("DryRunOperation", 412)


def test_only_the_last_31_days(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_clock(frozen=True)
    ctl.create_task(ami(1), "b", state="Completed", started_seconds_ago=30 * DAY)
    ctl.create_task(ami(2), "b", state="Completed", started_seconds_ago=40 * DAY)
    listed = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
    assert [r["AmiId"] for r in listed] == [ami(1)]
    by_id = ec2.describe_store_image_tasks(ImageIds=[ami(1), ami(2)])["StoreImageTaskResults"]
    assert [r["AmiId"] for r in by_id] == [ami(1)]
    ctl.advance(2 * DAY)
    assert ec2.describe_store_image_tasks()["StoreImageTaskResults"] == []


def _raw_describe(url: str, params: dict[str, str]) -> bytes:
    form = {"Action": "DescribeStoreImageTasks", "Version": "2016-11-15", **params}
    request = urllib.request.Request(
        url + "/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIASANDBOX/20240101/x"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
    return body


def test_listing_ten_thousand_tasks_is_fast(
    sim: ThreadedEc2Sim, ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    created = ctl.bulk(10_000, bucket="bench", duration_seconds=3600, spread_seconds=7200)
    assert created["count"] == 10_000
    # The worst case: a filter that matches nothing makes the server evaluate every task.
    for params in ({}, {"Filter.1.Name": "task-state", "Filter.1.Value.1": "Failed"}):
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            body = _raw_describe(sim.url, params)
            timings.append(time.perf_counter() - started)
        assert b"<storeImageTaskResultSet>" in body
        assert min(timings) < 0.1, (params, timings)
    listed = ec2.describe_store_image_tasks(MaxResults=200)["StoreImageTaskResults"]
    assert len(listed) == 200
