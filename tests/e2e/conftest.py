"""Fixtures for end-to-end tests: the sandbox (or a real cluster), the CRD, the operator.

Set ``AMISTORE_E2E_KUBECONFIG`` to run these tests against a real cluster (kind,
EKS, ...): the CRD is applied there, each test gets its own namespace, and only
the EC2 simulator runs locally. Tests that read the emulator's request log
are skipped there, saying so.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping

import pytest

from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

CRDS = harness.ROOT / "crds"
POLL_INTERVAL = 2


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.Sandbox]:
    """The EC2 simulator, plus the Kubernetes API emulator unless a real cluster is given."""
    external = os.environ.get("AMISTORE_E2E_KUBECONFIG")
    with cluster.running(
        tmp_path_factory.mktemp("sandbox"),
        external_kubeconfig=pathlib.Path(external) if external else None,
    ) as running:
        kubectl = harness.Kubectl(running.kubeconfig)
        kubectl.run("apply", "-k", str(CRDS))
        kubectl.run(
            "wait", "--for=condition=Established", "crd/amistores.amistore.io", "--timeout=60s"
        )
        yield running


@pytest.fixture
def ec2(sandbox: cluster.Sandbox) -> control.Ec2SimControl:
    """The simulator's control API, reset for each test."""
    sim = control.Ec2SimControl(sandbox.ec2_url)
    sim.reset()
    return sim


@pytest.fixture
def namespace(sandbox: cluster.Sandbox) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl = harness.Kubectl(sandbox.kubeconfig)
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def kubectl(sandbox: cluster.Sandbox, namespace: str) -> harness.Kubectl:
    """kubectl bound to the test's namespace."""
    return harness.Kubectl(sandbox.kubeconfig, namespace)


OperatorFactory = Callable[..., harness.OperatorProcess]


EXPECT_ERRORS = "expect_operator_errors"


@pytest.fixture
def start_operator(
    request: pytest.FixtureRequest,
    sandbox: cluster.Sandbox,
    namespace: str,
    tmp_path: pathlib.Path,
) -> Iterator[OperatorFactory]:
    """Start the real operator for the test's namespace; every one started is stopped after.

    ``env`` adds variables, ``drop`` removes some (e.g. to run without credentials),
    ``namespaced=False`` watches all namespaces, ``wait=False`` skips waiting for /healthz.

    At teardown every operator's log is read: a traceback, or an ERROR record of the
    operator's own modules, fails the test unless it is marked
    ``@pytest.mark.expect_operator_errors("why")``.
    """
    started: list[harness.OperatorProcess] = []

    def start(
        *extra: str,
        env: Mapping[str, str] | None = None,
        drop: Iterable[str] = (),
        namespaced: bool = True,
        wait: bool = True,
    ) -> harness.OperatorProcess:
        full = {**os.environ, **sandbox.env(), **(env or {})}
        for key in drop:
            full.pop(key, None)
        scope = ["--namespace", namespace] if namespaced else []
        process = harness.OperatorProcess(
            full,
            [*scope, "--poll-interval", str(POLL_INTERVAL), *extra],
            tmp_path / f"operator-{len(started)}.log",
            inherit_env=False,
        )
        started.append(process)
        if wait:
            process.wait_ready()
        return process

    yield start
    slow = []
    for process in started:
        try:
            process.stop()  # also closes its log when it already exited
        except AssertionError as exc:  # one slow to stop must not leave the others running
            slow.append(str(exc))
    check_logs(request.node, started)
    if slow:
        pytest.fail("; ".join(slow), pytrace=False)


def check_logs(node: pytest.Item, processes: Iterable[harness.OperatorProcess]) -> None:
    """Fail the test for a traceback or an own ERROR record in any operator's log."""
    if node.get_closest_marker(EXPECT_ERRORS) is not None:
        return
    for process in processes:
        problems = harness.log_problems(process.logs())
        if problems:
            shown = "\n---\n".join(problems[:5])
            pytest.fail(
                f"{len(problems)} traceback(s) or error record(s) in {process.log_path.name}"
                f" (mark the test {EXPECT_ERRORS}(reason) if expected):\n{shown}",
                pytrace=False,
            )


@pytest.fixture
def emulated(sandbox: cluster.Sandbox) -> cluster.Sandbox:
    """The sandbox, for tests that need the emulator's request log (skipped on a real cluster)."""
    if not sandbox.emulated:
        pytest.skip("reads the Kubernetes API emulator's request log; a real cluster has none")
    return sandbox
