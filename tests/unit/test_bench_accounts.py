"""The accounts scenario's pure parts: the map, the manifests, and counting per account."""

from typing import Any

import pytest

from bench import accounts, workload
from tests.unit import bench_requests

A, B = "111111111111", "222222222222"


def _call(t: float, action: str, account: str, error: str | None = None, **params: Any) -> Any:
    return {"time": t, "action": action, "account": account, "error_code": error, "params": params}


def test_the_map_grants_each_account_to_the_bench_namespace_only() -> None:
    ids = accounts.account_ids(3)

    made = accounts.account_map(ids, "bench")

    assert ids == ["111111111111", "222222222222", "333333333333"]
    assert made == {
        "accounts": {
            a: {"roleArn": f"arn:aws:iam::{a}:role/amistore-bench", "namespaces": ["bench"]}
            for a in ids
        },
        "defaultNamespaces": ["bench"],
    }


@pytest.mark.parametrize("count", [0, 10])
def test_account_ids_refuse_a_count_they_cannot_make_distinct(count: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 9"):
        accounts.account_ids(count)


def test_a_renamed_workload_names_its_account_in_every_manifest() -> None:
    wl = workload.Workload(names=["ams-00000"], amis=["ami-1"], in_progress=[0], progress={0: 10})

    moved = accounts.renamed(wl, "a2", B)

    assert moved.names == ["a2-ams-00000"]
    assert moved.amis == ["ami-1"]
    assert workload.manifest(moved.names[0], "ami-1", moved.account)["spec"] == {
        "imageIds": ["ami-1"],
        "bucket": workload.BUCKET,
        "account": B,
    }
    assert "account" not in workload.manifest("ams-00000", "ami-1")["spec"]


def test_calls_count_for_the_signing_account_and_assume_role_for_the_roles_account() -> None:
    own = "123456789012"
    calls = [
        _call(9.0, "DescribeStoreImageTasks", A),  # before the window
        _call(10.0, "DescribeStoreImageTasks", A),
        _call(11.0, "DescribeStoreImageTasks", A, "RequestLimitExceeded"),
        _call(12.0, "DescribeStoreImageTasks", B),
        _call(13.0, "DescribeStoreImageTasks", own),  # not a benchmarked account
        _call(14.0, "AssumeRole", own, RoleArn=accounts.role_arn(B)),
        _call(15.0, "AssumeRole", own, RoleArn="arn:aws:iam::999999999999:role/other"),
        _call(16.0, "GetCallerIdentity", own),
        _call(20.0, "DescribeStoreImageTasks", B),  # the window's end is open
    ]

    counted = accounts.calls_by_account(calls, [A, B], start=10.0, end=20.0)

    assert counted == {
        A: accounts.AccountCalls(describe=2, throttled=1, assume_role=0),
        B: accounts.AccountCalls(describe=1, throttled=0, assume_role=1),
    }


def test_status_writes_split_by_account_and_by_change() -> None:
    account_of = {"a1-x": A, "a1-y": A, "a2-x": B}
    entries = [
        bench_requests.patch(10.0, "a1-x"),
        bench_requests.patch(11.0, "a1-y"),
        bench_requests.patch(12.0, "a1-y"),
        bench_requests.patch(13.0, "a2-x", suffix=""),  # metadata (a finalizer), not the status
        bench_requests.patch(14.0, "a2-x", agent="amistore-bench"),  # the driver's own
        bench_requests.patch(5.0, "a2-x"),  # before the window
        {"time": 15.0, "method": "GET", "path": "/apis/.../amistores/a2-x/status"},
    ]

    writes = accounts.status_writes_by_account(entries, account_of, {"a1-x"}, start=10.0, end=20.0)

    assert {a: (w.changed, w.unchanged) for a, w in writes.items()} == {A: (1, 2), B: (0, 0)}


def test_the_operators_request_counter_is_read_per_account_and_region() -> None:
    text = "\n".join(
        [
            "# HELP amistore_ec2_requests_total HTTP attempts",
            'amistore_ec2_requests_total{account="111111111111",operation="DescribeStoreImageTasks",'
            'outcome="success",region="eu-west-1"} 12.0',
            'amistore_ec2_requests_total{account="111111111111",operation="DescribeStoreImageTasks",'
            'outcome="throttled",region="eu-west-1"} 1.0',
            'amistore_ec2_requests_created{account="111111111111",operation="x",'
            'outcome="success",region="eu-west-1"} 1.7e9',
        ]
    )

    assert accounts.ec2_requests(text) == {
        (A, "eu-west-1"): {
            "DescribeStoreImageTasks success": 12.0,
            "DescribeStoreImageTasks throttled": 1.0,
        }
    }


def test_the_table_has_one_row_per_account_and_says_what_is_missing() -> None:
    result = {
        "accounts": 2,
        "amistores_per_account": 50,
        "interval_seconds": 10.0,
        "per_account": [
            {"account": A, "region": "eu-west-1", "amistores": 50, "within_budget": True},
            {"account": B, "describe_calls_per_interval": 1.5, "within_budget": False},
        ],
    }

    lines = accounts.table(result).splitlines()

    assert lines[0].startswith("| account | region | AmiStores | Describe/int | RLE |")
    assert lines[0].endswith("| writes unchg | within budget |")
    assert lines[2] == f"| {A} | eu-west-1 | 50 | - | - | - | - | - | - | - | yes |"
    assert lines[3] == f"| {B} | - | - | 1.5 | - | - | - | - | - | - | no |"
    assert lines[4] == ""
    assert lines[5].startswith("2 accounts x 50 AmiStores, interval 10.0 s")
