"""verifyObjects end to end: the real operator finds each export's object with HeadObject, once."""

from __future__ import annotations

import pathlib

import pexpect
import pytest

from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.e2e.test_plugin import ANSI, plugin_env
from tests.sandbox import cluster, tools
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

BUCKET = "amis-archive"
AMIS = [f"ami-0f{n:06x}" for n in range(3)]
HEAD = "HeadObject"
WAIT = 60.0


def entries(kubectl: harness.Kubectl) -> dict[str, dict[str, object]]:
    tasks = kubectl.status("verified").get("tasks") or []
    return {str(e["amiId"]): e for e in tasks}


def screen_of_status(config: pathlib.Path, namespace: str, name: str = "verified") -> str:
    """What ``kubectl amistore status NAME`` shows a person at a terminal."""
    child = pexpect.spawn(
        tools.kubectl_path(),
        ["amistore", "-n", namespace, "status", name],
        env=plugin_env(config, TERM="xterm-256color", COLUMNS="140"),
        encoding="utf-8",
        dimensions=(40, 140),
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return ANSI.sub("", str(child.before))


def test_each_export_is_verified_once_across_a_restart_and_a_missing_one_warned(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    sandbox: cluster.Sandbox,
) -> None:
    ec2.register_amis(AMIS)
    for ami in AMIS:
        ec2.create_task(ami, BUCKET, state="Completed", started_seconds_ago=600)
    ec2.delete_object(BUCKET, f"{AMIS[2]}.bin")  # e.g. a lifecycle rule removed it
    operator = start_operator()
    kubectl.apply(harness.amistore("verified", imageIds=AMIS, bucket=BUCKET, verifyObjects=True))

    def verified() -> bool:
        found = entries(kubectl)
        return all(found.get(ami, {}).get("verifiedTime") for ami in AMIS[:2])

    harness.wait_until(verified, timeout=WAIT, what="both objects verified")
    found = entries(kubectl)
    for ami in AMIS[:2]:
        obj = ec2.object(BUCKET, f"{ami}.bin")
        assert found[ami]["objectSizeBytes"] == obj["size"]
        assert found[ami]["objectETag"] == obj["etag"]
        assert found[ami]["objectStorageClass"] == "STANDARD"
    assert "verifiedTime" not in found[AMIS[2]]
    reasons = [e["reason"] for e in kubectl.events("verified")]
    assert reasons.count("ExportVerified") == 2
    harness.wait_until(
        lambda: "ObjectUnverified" in [e["reason"] for e in kubectl.events("verified")],
        timeout=WAIT,
        what="the missing object's Warning",
    )
    ok = [c for c in ec2.calls(HEAD) if c["status"] == 200]
    assert len(ok) == 2
    screen = screen_of_status(sandbox.kubeconfig, kubectl.namespace)
    assert "OBJECT" in screen
    assert "8.0 GiB STANDARD" in screen  # the sandbox's default AMI: one 8 GiB snapshot

    # Steady, then across a restart: the verified objects are never asked for again.
    operator.stop()
    operator = start_operator()
    seen = len(ec2.calls())
    harness.wait_until(
        lambda: len(ec2.calls()) >= seen + 3,
        timeout=WAIT,
        what="three more calls: the restarted operator polled on",
        interval=POLL_INTERVAL,
    )
    assert len([c for c in ec2.calls(HEAD) if c["status"] == 200]) == 2
    assert entries(kubectl)[AMIS[0]]["verifiedTime"] == found[AMIS[0]]["verifiedTime"]
