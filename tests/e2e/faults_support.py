"""Helpers shared by the fault-injection suite (``test_faults_*.py``), and by the other
e2e and realkube tests that read statuses, metrics and the simulator's call log.

Fixtures defined here are imported by the test modules that use them; the
session sandbox and the per-test namespace come from ``conftest.py``.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
import yaml
from amistore_operator.core import timestamps
from prometheus_client import parser

from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL
from tests.sandbox import cluster, faultproxy, httpjson
from tests.sandbox.ec2sim import control
from tests.sandbox.kubeapi import kubeconfig
from tests.sandbox.kubeapi import process as kubeapi_process

WAIT = 30.0
BUCKET = "acme-ami-archive"
DESCRIBE = "DescribeStoreImageTasks"
# What must never leave the operator: the sandbox's fake credentials and SigV4 material.
SECRETS = (
    cluster.FAKE_SECRET_KEY,
    cluster.FAKE_ACCESS_KEY,
    "Signature=",
    "AWS4-HMAC-SHA256",
    "Authorization",
)


def ami(number: int) -> str:
    """A well-formed 17-digit AMI ID."""
    return f"ami-{number:017x}"


def unix(text: str) -> float:
    """Unix seconds of an RFC 3339 status time."""
    moment = timestamps.parse_time(text)
    assert moment is not None, text
    return moment.timestamp()


def samples(text: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric in a Prometheus exposition text."""
    return [
        (dict(sample.labels), sample.value)
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
    ]


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """One condition of a status, or {}."""
    return next((dict(c) for c in status.get("conditions", []) if c["type"] == kind), {})


def synced(kubectl: harness.Kubectl, name: str) -> dict[str, Any]:
    """The resource's Synced condition, or {}."""
    return condition(kubectl.status(name), "Synced")


def wait_synced(
    kubectl: harness.Kubectl,
    name: str,
    status: str,
    reason: str | None = None,
    timeout: float = WAIT,
) -> dict[str, Any]:
    """Until Synced has ``status`` (and ``reason``); returns the condition."""

    def probe() -> dict[str, Any] | None:
        cond = synced(kubectl, name)
        if cond.get("status") == status and reason in (None, cond.get("reason")):
            return cond
        return None

    return harness.wait_until(probe, timeout=timeout, what=f"{name}: Synced={status} {reason}")


def sync_events(kubectl: harness.Kubectl, name: str) -> list[str]:
    """The resource's SyncFailed/SyncRecovered event reasons, oldest first."""
    events = sorted(
        kubectl.events(name),
        # eventTime has microseconds; lastTimestamp only whole seconds on kube-apiserver.
        key=lambda e: (e.get("eventTime") or e.get("lastTimestamp") or "", e["metadata"]["name"]),
    )
    return [e["reason"] for e in events if e["reason"] in ("SyncFailed", "SyncRecovered")]


TASK_EVENT_REASONS = ("StoreStarted", "StoreCompleted", "StoreFailed")


def task_changes(events: Iterable[Mapping[str, Any]]) -> int:
    """How many task changes these Events tell of: one each, or N for "and N more ..."."""
    total = 0
    for event in events:
        if event["reason"] not in TASK_EVENT_REASONS:
            continue
        summary = re.match(r"and (\d+) more task changes", event["message"])
        total += int(summary.group(1)) if summary else 1
    return total


def wait_task_events(kubectl: harness.Kubectl, name: str, changes: int) -> list[dict[str, Any]]:
    """Until the Events of ``changes`` task changes are posted; returns every Event.

    kopf posts Events from a queue after the status write, so a count read right after a
    status is seen may miss some (and a kill then loses them)."""

    def probe() -> list[dict[str, Any]] | None:
        events = kubectl.events(name)
        return events if task_changes(events) == changes else None

    return harness.wait_until(
        probe,
        timeout=WAIT,
        what=f"{name}: the Events of {changes} task changes",
    )


def wait_calls(
    ec2: control.Ec2SimControl,
    count: int,
    *,
    since_seq: int = -1,
    where: Callable[[control.CallInfo], bool] = lambda call: True,
    timeout: float = WAIT,
) -> list[control.CallInfo]:
    """Until the simulator logged ``count`` matching DescribeStoreImageTasks calls after a seq."""

    def probe() -> list[control.CallInfo] | None:
        calls = [c for c in ec2.calls(DESCRIBE) if c["seq"] > since_seq and where(c)]
        return calls if len(calls) >= count else None

    return harness.wait_until(probe, timeout=timeout, what=f"{count} {DESCRIBE} calls")


def wait_polls_naming(ec2: control.Ec2SimControl, ami: str, polls: int) -> None:
    """Until ``polls`` whole polls from now asked for ``ami`` by ID (``polls`` + 1 calls)."""
    wait_calls(
        ec2,
        polls + 1,
        since_seq=last_seq(ec2),
        where=lambda c: ami in c["params"].get("ImageIds", []),
        timeout=(polls + 2) * POLL_INTERVAL + WAIT,
    )


def assert_quiet(
    kubectl: harness.Kubectl, ec2: control.Ec2SimControl, name: str, ami: str, polls: int
) -> None:
    """Over ``polls`` polls of ``ami`` that see nothing new, nothing is written to ``name``."""
    version = kubectl.get("amistore", name)["metadata"]["resourceVersion"]
    wait_polls_naming(ec2, ami, polls)
    assert kubectl.get("amistore", name)["metadata"]["resourceVersion"] == version


def wait_intervals(ec2: control.Ec2SimControl, intervals: int) -> None:
    """Until the operator has polled EC2 for ``intervals`` more intervals, and once after."""
    seq = last_seq(ec2)
    first = wait_calls(ec2, 1, since_seq=seq)[0]
    wait_calls(
        ec2,
        1,
        since_seq=seq,
        where=lambda c: c["time"] >= first["time"] + (intervals + 0.5) * POLL_INTERVAL,
        timeout=(intervals + 1) * POLL_INTERVAL + WAIT,
    )


def lists_in_progress(call: control.CallInfo) -> bool:
    """Whether the call lists every InProgress task of the region (no ImageIds, no bucket)."""
    filters = {f["Name"]: f["Values"] for f in call["params"].get("Filters", [])}
    return "ImageIds" not in call["params"] and filters == {"task-state": ["InProgress"]}


def last_seq(ec2: control.Ec2SimControl) -> int:
    """The sequence number of the newest logged call (-1: none)."""
    calls = ec2.calls()
    return calls[-1]["seq"] if calls else -1


def task_entries(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """status.tasks by AMI ID."""
    return {t["amiId"]: dict(t) for t in status.get("tasks", [])}


def assert_not_regressed(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Every task known before is still there, in the same or a later state, progress kept."""
    rank = {"Pending": 0, "InProgress": 1, "Completed": 2, "Failed": 2}
    old, new = task_entries(before), task_entries(after)
    for ami_id, entry in old.items():
        assert ami_id in new, f"{ami_id} vanished from status.tasks"
        assert rank[new[ami_id]["state"]] >= rank[entry["state"]], (entry, new[ami_id])
        if new[ami_id]["state"] == entry["state"]:
            assert new[ami_id]["progressPercentage"] >= entry["progressPercentage"]


def apply_all(kubectl: harness.Kubectl, manifests: Iterable[str]) -> None:
    """Apply many manifests with one kubectl call (one YAML stream)."""
    kubectl.apply("\n---\n".join(manifests))


def sandbox_control(kube_url: str, method: str, path: str, body: Any = None) -> Any:
    """Call one of the Kubernetes API emulator's /_sandbox/ control endpoints."""
    return httpjson.call(f"{kube_url}/_sandbox/{path}", method, body)


def request_log(kube_url: str) -> list[dict[str, Any]]:
    """The emulator's request log, oldest first."""
    entries: list[dict[str, Any]] = sandbox_control(kube_url, "GET", "requests")
    return entries


Launcher = Callable[..., harness.OperatorProcess]


@pytest.fixture
def launch(start_operator: Launcher) -> Launcher:
    """The operator factory of ``start_operator`` (drop variables, add flags, skip the wait)."""
    return start_operator


class KubeFaults:
    """Kubernetes faults on cue, for the operator started with ``operator_kubeconfig``.

    On the real API server a fault proxy (``tests/sandbox/faultproxy.py``) stands between
    the operator and kube-apiserver; on the emulator its own control endpoints do it.
    """

    def __init__(self, sandbox: cluster.Sandbox, workdir: pathlib.Path) -> None:
        self.sandbox = sandbox
        self.proxy: faultproxy.FaultProxy | None = None
        self.operator_kubeconfig = sandbox.kubeconfig
        if sandbox.real is not None:
            self.proxy = faultproxy.FaultProxy(sandbox.real.url, str(sandbox.real.ca_file))
            self.proxy.start()
            config = yaml.safe_load(sandbox.real.operator_kubeconfig.read_text())
            token = config["users"][0]["user"]["token"]
            self.operator_kubeconfig = workdir / "kubeconfig-through-proxy"
            kubeconfig.write_kubeconfig(self.operator_kubeconfig, self.proxy.url, token)

    def expire(self) -> None:
        """End every open watch with 410 Expired."""
        if self.proxy is not None:
            self.proxy.expire()
        else:
            sandbox_control(self.sandbox.kube_url, "POST", "expire")

    def fail_writes(self, path: str, count: int, code: int) -> None:
        """Answer the next ``count`` writes whose path contains ``path`` with ``code``."""
        if self.proxy is not None:
            self.proxy.fail_writes(path, count, code)
        else:
            body = {"path": path, "count": count, "code": code}
            sandbox_control(self.sandbox.kube_url, "POST", "fail-writes", body)

    def faults_left(self) -> int:
        """Injected write failures not answered yet."""
        if self.proxy is not None:
            return self.proxy.faults_left()
        faults = sandbox_control(self.sandbox.kube_url, "GET", "fail-writes")["faults"]
        return sum(int(f["remaining"]) for f in faults)

    def refused(self, path: str, code: int) -> int:
        """How many writes to a path ending in ``path`` were answered ``code``."""
        if self.proxy is not None:
            return sum(1 for _, p, c in self.proxy.refused if p.endswith(path) and c == code)
        log = request_log(self.sandbox.kube_url)
        return sum(1 for r in log if r["path"].endswith(path) and r["status"] == code)

    def close(self) -> None:
        """Stop the proxy, if any."""
        if self.proxy is not None:
            self.proxy.stop()


@pytest.fixture
def kube_faults(sandbox: cluster.Sandbox, tmp_path: pathlib.Path) -> Iterator[KubeFaults]:
    """Kubernetes faults on cue (skipped on a cluster of the user's)."""
    if sandbox.real is None and not sandbox.emulated:
        pytest.skip(
            "injects faults through the real server's fault proxy or the emulator; "
            "AMISTORE_E2E_KUBECONFIG's cluster has neither"
        )
    faults = KubeFaults(sandbox, tmp_path)
    try:
        yield faults
    finally:
        faults.close()


class PrivateCluster:
    """A Kubernetes API emulator of the test's own, with the CRD, restartable on its port."""

    def __init__(self, workdir: pathlib.Path, namespace: str, *, lax_ids: bool = False) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = kubeapi_process.KubeApiProcess(workdir)
        self.namespace = namespace
        self.lax_ids = lax_ids
        crd_file = workdir / "crd.json"
        crd_file.write_text(self.crd())
        self._crd_args = ("--crd", str(crd_file))
        self.process.extra_args = self._crd_args

    @property
    def kubeconfig(self) -> pathlib.Path:
        """Its kubeconfig (the same file, and URL, across restarts)."""
        return self.process.kubeconfig

    @property
    def url(self) -> str:
        """Its base URL."""
        return self.process.url

    def kubectl(self) -> harness.Kubectl:
        """kubectl bound to the test's namespace in this cluster."""
        return harness.Kubectl(self.kubeconfig, self.namespace)

    def start(self) -> None:
        """Start it (again) with the CRD, as etcd keeps CRDs, and create the namespace."""
        self.process.start()
        kubectl = self.kubectl()
        kubectl.apply(self.crd())
        kubectl.run("wait", "--for=condition=Established", "crd/amistores.amistore.io")
        kubectl.run("create", "namespace", self.namespace)

    def restart(self) -> None:
        """Stop it (every object is lost: it is in memory) and start it again on its port.

        The resourceVersion continues past the old one, as etcd's would, so clients'
        watches get 410 Gone and re-list rather than wait for versions that never come.
        """
        state = sandbox_control(self.url, "GET", "state")
        self.process.stop()
        base = (*self._crd_args, "--port", self.url.rsplit(":", 1)[1])
        after = str(int(state["resourceVersion"]) + 1000)
        self.process.extra_args = (*base, "--initial-resource-version", after)
        self.start()

    def stop(self) -> None:
        """Stop it for good."""
        self.process.stop()

    def crd(self) -> str:
        """The product's CRD; with ``lax_ids``, without the AMI ID pattern."""
        crd = yaml.safe_load((harness.ROOT / "crds" / "amistores.amistore.io.yaml").read_text())
        if self.lax_ids:
            for version in crd["spec"]["versions"]:
                spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                spec["properties"]["imageIds"]["items"].pop("pattern", None)
        return json.dumps(crd)


@pytest.fixture
def private_cluster(
    tmp_path: pathlib.Path, namespace: str
) -> Iterator[Callable[..., PrivateCluster]]:
    """Start PrivateClusters for a test; all are stopped after it."""
    made: list[PrivateCluster] = []

    def make(*, lax_ids: bool = False) -> PrivateCluster:
        private = PrivateCluster(tmp_path / f"kubeapi-{len(made)}", namespace, lax_ids=lax_ids)
        made.append(private)
        private.start()
        return private

    yield make
    for private in made:
        private.stop()


def wait_status(
    kubectl: harness.Kubectl,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = WAIT,
) -> dict[str, Any]:
    """Until the resource's status passes ``check``; returns that status."""

    def probe() -> dict[str, Any] | None:
        status = kubectl.status(name)
        return status if check(status) else None

    return harness.wait_until(probe, timeout=timeout, what=f"{name}: {what}")
