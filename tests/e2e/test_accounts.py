"""Many AWS accounts from one operator: the admin's map, AssumeRole sessions, a budget each.

Two accounts besides the operator's own and three namespaces: ``both`` may use
either account and the operator's own identity, ``only-a`` account A alone,
``denied`` nothing. The map is a ConfigMap-style folder (files behind a
``..data`` symlink the kubelet swaps), so a reload is seen as in a cluster.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control, sts

pytestmark = pytest.mark.e2e

A, B = "111111111111", "222222222222"
OWN = sts.DEFAULT_ACCOUNT
ROLE_A = f"arn:aws:iam::{A}:role/amistore-operator"
ROLE_B = f"arn:aws:iam::{B}:role/amistore-operator"
EXTERNAL_ID = "amistore-b-7f3e"
WAIT = 30.0


class Setup:
    """The namespaces, the map's folder and a kubectl per namespace."""

    def __init__(self, sandbox: cluster.Sandbox, both: str, folder: pathlib.Path) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.both, self.only_a, self.denied = both, f"only-a-{suffix}", f"denied-{suffix}"
        self.folder = folder
        self.version = 0
        self.kubeconfig = sandbox.kubeconfig
        for name in (self.only_a, self.denied):
            harness.Kubectl(sandbox.kubeconfig).run("create", "namespace", name)

    def kubectl(self, namespace: str) -> harness.Kubectl:
        return harness.Kubectl(self.kubeconfig, namespace)

    def write_map(
        self, *, a_namespaces: list[str] | None = None, b_external_id: str = EXTERNAL_ID
    ) -> pathlib.Path:
        """Write the map as the kubelet updates a ConfigMap volume: new folder, ``..data`` swap."""
        account_map = {
            "accounts": {
                A: {"roleArn": ROLE_A, "namespaces": a_namespaces or [self.both, self.only_a]},
                B: {"roleArn": ROLE_B, "externalId": b_external_id, "namespaces": [self.both]},
            },
            "defaultNamespaces": [self.both],
        }
        self.version += 1
        data = self.folder / f"..2026_{self.version}"
        data.mkdir(parents=True)
        (data / "accounts.yaml").write_text(json.dumps(account_map))  # JSON is YAML
        link = self.folder / "..data_tmp"
        link.symlink_to(data.name)
        os.replace(link, self.folder / "..data")
        visible = self.folder / "accounts.yaml"
        if not visible.is_symlink():
            visible.symlink_to("..data/accounts.yaml")
        return visible

    def cleanup(self) -> None:
        for name in (self.only_a, self.denied):
            harness.delete_namespace(self.kubeconfig, name)


@pytest.fixture
def setup(
    sandbox: cluster.Sandbox, namespace: str, tmp_path: pathlib.Path, ec2: control.Ec2SimControl
) -> Iterator[Setup]:
    ec2.put_role(ROLE_A)
    ec2.put_role(ROLE_B, external_id=EXTERNAL_ID)
    made = Setup(sandbox, namespace, tmp_path / "accounts")
    yield made
    made.cleanup()


def store(kubectl: harness.Kubectl, name: str, ami: str, account: str | None = None) -> None:
    spec: dict[str, Any] = {"imageIds": [ami]}
    if account is not None:
        spec["account"] = account
    kubectl.apply(harness.amistore(name, **spec))


def start(start_operator: OperatorFactory, path: pathlib.Path) -> harness.OperatorProcess:
    return start_operator("--accounts", str(path), namespaced=False)


def bucket_of(kubectl: harness.Kubectl, name: str) -> str | None:
    tasks = kubectl.status(name).get("tasks") or [{}]
    bucket = tasks[0].get("bucket")
    return str(bucket) if bucket is not None else None


def test_each_namespace_reaches_only_the_accounts_the_map_grants(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    mine, denied = fs.ami(0xACC1), fs.ami(0xACC2)
    for account, bucket in ((A, "bucket-a"), (B, "bucket-b"), ("", "bucket-own")):
        for ami in (mine, denied):
            ec2.for_account(account).create_task(ami, bucket, progress=30)
    path = setup.write_map()
    operator = start(start_operator, path)
    both, only_a, nowhere = (setup.kubectl(n) for n in (setup.both, setup.only_a, setup.denied))
    store(both, "in-a", mine, A)
    store(both, "in-b", mine, B)
    store(both, "own", mine)
    store(only_a, "in-a", mine, A)
    store(only_a, "in-b", denied, B)
    store(only_a, "own", denied)
    store(nowhere, "in-a", denied, A)

    for kubectl, name, account, bucket in (
        (both, "in-a", A, "bucket-a"),
        (both, "in-b", B, "bucket-b"),
        (both, "own", OWN, "bucket-own"),
        (only_a, "in-a", A, "bucket-a"),
    ):
        fs.wait_synced(kubectl, name, "True", "Polled", timeout=WAIT)
        assert kubectl.status(name)["account"] == account
        assert bucket_of(kubectl, name) == bucket  # that account's task, no other
    messages = [
        (only_a, "in-b", f'namespace "{setup.only_a}" may not use account {B}'),
        (only_a, "own", f'namespace "{setup.only_a}" may not use the operator\'s own AWS'),
        (nowhere, "in-a", f'namespace "{setup.denied}" may not use account {A}'),
    ]
    for kubectl, name, message in messages:
        cond = fs.wait_synced(kubectl, name, "False", "AccountNotAllowed", timeout=WAIT)
        assert cond["message"].startswith(message)

    # No STS or EC2 call was made for a denied resource: its AMI was never asked about.
    described = [c for c in ec2.calls("DescribeStoreImageTasks")]
    assert not any(denied in json.dumps(c["params"]) for c in described)
    assert {c["account"] for c in described} == {A, B, OWN}
    assumed = ec2.calls("AssumeRole")
    assert {c["params"]["RoleArn"] for c in assumed} == {ROLE_A, ROLE_B}
    assert all(c["params"]["RoleSessionName"] == "amistore-operator" for c in assumed)
    assert all(
        c["params"].get("ExternalId") == (EXTERNAL_ID if c["params"]["RoleArn"] == ROLE_B else None)
        for c in assumed
    )
    assert len(assumed) == 2, "one session per account, shared by its resources"

    wide = both.run("get", "amistores", "-o", "wide").stdout.splitlines()
    column = wide[0].index("ACCOUNT")  # cells line up under their header (some are blank)
    assert {row.split()[0]: row[column:].split()[0] for row in wide[1:]} == {
        "in-a": A,
        "in-b": B,
        "own": OWN,
    }
    text = operator.metrics()
    synced = {
        (labels["namespace"], labels["name"]): (labels["account"], value)
        for labels, value in fs.samples(text, "amistore_resource_synced")
    }
    assert synced[(setup.both, "in-b")] == (B, 1.0)
    assert synced[(setup.denied, "in-a")] == (A, 0.0)
    requests = {labels["account"] for labels, _ in fs.samples(text, "amistore_ec2_requests_total")}
    assert requests == {A, B, OWN}


def test_sessions_are_refreshed_before_they_expire_without_a_failed_poll(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    # botocore refreshes 15 minutes before expiry: a 904-second session every ~4 seconds.
    ec2.sts(session_seconds=904)
    ami = fs.ami(0xACC3)
    ec2.for_account(A).create_task(ami, "bucket-a", duration_seconds=3600)
    start(start_operator, setup.write_map())
    both = setup.kubectl(setup.both)
    store(both, "in-a", ami, A)
    fs.wait_synced(both, "in-a", "True", "Polled", timeout=WAIT)
    started, first = time.monotonic(), len(ec2.calls("AssumeRole"))

    def refreshed_three_times() -> bool:
        assert fs.synced(both, "in-a")["status"] == "True"  # no poll fails meanwhile
        return len(ec2.calls("AssumeRole")) - first >= 3

    harness.wait_until(refreshed_three_times, timeout=40, what="three session refreshes")
    elapsed = time.monotonic() - started
    refreshes = len(ec2.calls("AssumeRole")) - first
    described = [c for c in ec2.calls("DescribeStoreImageTasks") if c["account"] == A]
    assert all(c["status"] == 200 for c in described), "a call with an expired key"
    assert elapsed >= 2 * 4 - 1, "one AssumeRole per refresh (~4 s), not one per call"
    assert refreshes <= elapsed / 4 + 2
    assert len(described) > refreshes
    newest = ec2.calls("AssumeRole")[-1]["seq"]
    fs.wait_calls(ec2, 1, since_seq=newest, where=lambda c: c["account"] == A, timeout=WAIT)
    assert fs.synced(both, "in-a")["status"] == "True"  # the refreshed key works too
    assert fs.sync_events(both, "in-a") == []


def test_a_throttled_account_never_slows_another(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    ami = fs.ami(0xACC4)
    for account, bucket in ((A, "bucket-a"), (B, "bucket-b")):
        ec2.for_account(account).create_task(ami, bucket, progress=10)
    operator = start(start_operator, setup.write_map())
    both = setup.kubectl(setup.both)
    store(both, "in-a", ami, A)
    store(both, "in-b", ami, B)
    fs.wait_synced(both, "in-b", "True", "Polled", timeout=WAIT)
    fs.wait_synced(both, "in-a", "True", "Polled", timeout=WAIT)
    ec2.set_throttle(enabled=True)
    ec2.for_account(A).set_throttle("DescribeStoreImageTasks", burst=1, rate=0, enabled=True)
    fs.wait_synced(both, "in-a", "False", "Throttled", timeout=WAIT)
    for progress in (20, 35, 50):
        ec2.for_account(B).update_task(ami, progress=progress)
        changed = time.monotonic()

        def current(progress: int = progress) -> bool:
            assert fs.synced(both, "in-b")["status"] == "True"
            return bool(both.status("in-b")["progressPercentage"] == progress)

        harness.wait_until(current, timeout=WAIT, what=f"in-b at {progress}%")
        assert time.monotonic() - changed <= 2 * POLL_INTERVAL + 1.5  # B keeps its interval
    assert fs.synced(both, "in-a")["reason"] == "Throttled"
    throttled = {
        labels["account"]
        for labels, value in fs.samples(operator.metrics(), "amistore_ec2_requests_total")
        if labels["outcome"] == "throttled" and value > 0
    }
    assert throttled == {A}


def test_a_refused_role_fails_its_account_only_and_recovers(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    ami = fs.ami(0xACC5)
    for account, bucket in ((A, "bucket-a"), (B, "bucket-b")):
        ec2.for_account(account).create_task(ami, bucket, progress=10)
    ec2.put_role(ROLE_B, external_id=EXTERNAL_ID, refuse="Roles may not be assumed by this caller")
    start(start_operator, setup.write_map())
    both = setup.kubectl(setup.both)
    store(both, "in-a", ami, A)
    store(both, "in-b", ami, B)
    cond = fs.wait_synced(both, "in-b", "False", "AssumeRoleFailed", timeout=WAIT)
    assert cond["message"] == (
        f"AssumeRole {ROLE_B} failed: Roles may not be assumed by this caller"
    )
    fs.wait_synced(both, "in-a", "True", "Polled", timeout=WAIT)
    assert not any(c["account"] == B for c in ec2.calls("DescribeStoreImageTasks"))
    ec2.put_role(ROLE_B, external_id=EXTERNAL_ID)  # the admin fixes the trust policy
    fixed = time.monotonic()
    fs.wait_synced(both, "in-b", "True", "Polled", timeout=WAIT)
    assert time.monotonic() - fixed <= 2 * POLL_INTERVAL + 1.5  # within about one interval
    assert bucket_of(both, "in-b") == "bucket-b"


def test_a_reloaded_map_revokes_a_namespace_within_an_interval(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    ami = fs.ami(0xACC6)
    ec2.for_account(A).create_task(ami, "bucket-a", progress=10)
    operator = start(start_operator, setup.write_map())
    both, only_a = setup.kubectl(setup.both), setup.kubectl(setup.only_a)
    store(both, "in-a", ami, A)
    store(only_a, "in-a", ami, A)
    fs.wait_synced(both, "in-a", "True", "Polled", timeout=WAIT)
    fs.wait_synced(only_a, "in-a", "True", "Polled", timeout=WAIT)

    setup.write_map(a_namespaces=[setup.only_a])  # "both" loses account A
    revoked = time.monotonic()
    cond = fs.wait_synced(both, "in-a", "False", "AccountNotAllowed", timeout=WAIT)
    # The file is checked every interval (at most every 10 s), then one interval at most.
    assert time.monotonic() - revoked <= 2 * POLL_INTERVAL + 1.5
    assert cond["message"].startswith(f'namespace "{setup.both}" may not use account {A}')
    assert bucket_of(both, "in-a") == "bucket-a"  # what was known is kept
    assert "Account map reloaded" in operator.logs()

    # Steady state: the other namespace keeps polling A, the revoked one stays as it is.
    before = both.status("in-a")
    seq = fs.last_seq(ec2)
    fs.wait_calls(ec2, 3, since_seq=seq, timeout=WAIT)
    assert both.status("in-a") == before
    assert fs.synced(only_a, "in-a")["status"] == "True"
    assert fs.sync_events(both, "in-a") == ["SyncFailed"]


def test_a_reloaded_external_id_is_sent_from_the_next_poll(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    ami = fs.ami(0xACC8)
    ec2.for_account(B).create_task(ami, "bucket-b", progress=10)
    start(start_operator, setup.write_map())
    both = setup.kubectl(setup.both)
    store(both, "in-b", ami, B)
    fs.wait_synced(both, "in-b", "True", "Polled", timeout=WAIT)

    # The admin rotates B's external ID: the trust policy, then the map. The session
    # assumed with the old ID is valid for 16 more minutes; it signs no further call.
    rotated = "amistore-b-rotated"
    ec2.put_role(ROLE_B, external_id=rotated)
    setup.write_map(b_external_id=rotated)
    changed = time.monotonic()

    def assumed_with_the_new_id() -> bool:
        return any(c["params"].get("ExternalId") == rotated for c in ec2.calls("AssumeRole"))

    harness.wait_until(assumed_with_the_new_id, timeout=WAIT, what="AssumeRole, the new ID")
    # The file is checked every interval (at most every 10 s), then one interval at most.
    assert time.monotonic() - changed <= 2 * POLL_INTERVAL + 1.5
    seq = fs.last_seq(ec2)
    fs.wait_calls(ec2, 2, since_seq=seq, where=lambda c: c["account"] == B, timeout=WAIT)
    assert fs.synced(both, "in-b")["status"] == "True"
    assert fs.sync_events(both, "in-b") == []


def test_a_malformed_reload_keeps_the_last_good_map(
    setup: Setup, ec2: control.Ec2SimControl, start_operator: OperatorFactory
) -> None:
    ami = fs.ami(0xACC7)
    ec2.for_account(A).create_task(ami, "bucket-a", progress=10)
    path = setup.write_map()
    operator = start(start_operator, path)
    both = setup.kubectl(setup.both)
    store(both, "in-a", ami, A)
    fs.wait_synced(both, "in-a", "True", "Polled", timeout=WAIT)
    data = setup.folder / "..bad"
    data.mkdir()
    (data / "accounts.yaml").write_text("accounts:\n  12345: {}\n")
    link = setup.folder / "..data_tmp"
    link.symlink_to(data.name)
    os.replace(link, setup.folder / "..data")
    harness.wait_until(
        lambda: "keeping the last good one" in operator.logs(), timeout=WAIT, what="a warning"
    )
    assert '"12345" is not an account ID' in operator.logs()
    seq = fs.last_seq(ec2)
    fs.wait_calls(ec2, 2, since_seq=seq, timeout=WAIT)
    assert fs.synced(both, "in-a")["status"] == "True"


def test_a_malformed_map_at_start_is_one_line_and_exit_2(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text('accounts:\n  "111111111111": {roleArn: nope, namespaces: ["*"]}\n')
    result = subprocess.run(
        [sys.executable, "-m", "amistore_operator", "--accounts", str(path)],
        env={**os.environ, "AWS_REGION": "eu-west-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert result.stderr.strip() == (
        f'amistore-operator: error: --accounts {path}: accounts.111111111111.roleArn: "nope" '
        "is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
    )
