"""Fixtures for end-to-end tests: a namespace, kubectl, the operator; the sandbox is the session's.

The session's ``sandbox`` (``tests/conftest.py``) is the real kube-apiserver and etcd
of ``make realkube`` when built, else the API emulator. Set ``AMISTORE_E2E_KUBECONFIG``
to run these tests against a cluster of yours (kind, EKS, ...): the CRD is applied
there, each test gets its own namespace, and only the EC2 simulator runs locally.
Tests that count API requests read the real server's audit log or the emulator's
request log, and are skipped on a cluster of yours, saying so.
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

POLL_INTERVAL = 2


@pytest.fixture
def ec2(sandbox: cluster.Sandbox) -> control.Ec2SimControl:
    """The simulator's control API, reset for each test."""
    sim = control.Ec2SimControl(sandbox.ec2_url)
    sim.reset()
    return sim


@pytest.fixture
def namespace(sandbox: cluster.Sandbox) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards with its AmiStores (see
    ``harness.delete_namespace``: no test waits for it to be gone)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    harness.Kubectl(sandbox.kubeconfig).run("create", "namespace", name)
    yield name
    harness.delete_namespace(sandbox.kubeconfig, name)


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
        # On the real server the operator logs in as its service account: deploy/'s RBAC only.
        full = {**os.environ, **sandbox.operator_env(), **(env or {})}
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
def api_requests(sandbox: cluster.Sandbox) -> harness.ApiRequests:
    """The API requests the session's server served (skipped on a cluster of the user's)."""
    if sandbox.real is None and not sandbox.emulated:
        pytest.skip(
            "counts API requests from the real server's audit log or the emulator's request "
            "log; AMISTORE_E2E_KUBECONFIG's cluster gives the tests neither"
        )
    return harness.ApiRequests(sandbox)
