"""The session's sandbox, shared by the end-to-end and the real-API-server tests.

Kubernetes is, in this order: the user's cluster (``AMISTORE_E2E_KUBECONFIG``);
the real kube-apiserver and etcd of ``make realkube`` when they are built (or
``AMISTORE_E2E_KUBE=real``); else the API emulator (or ``AMISTORE_E2E_KUBE=emulator``).
One server for the whole pytest session: each test works in a namespace of its own.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest

from tests.e2e import harness
from tests.sandbox import cluster, realkube

CRDS = harness.ROOT / "crds"


def kube_choice() -> str:
    """``real`` or ``emulator``: what this session's tests run against."""
    chosen = os.environ.get("AMISTORE_E2E_KUBE", "")
    if chosen:
        return chosen
    return "real" if realkube.built() else "emulator"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.Sandbox]:
    """The EC2 simulator and Kubernetes (see the module's docstring), the CRD installed."""
    external = os.environ.get("AMISTORE_E2E_KUBECONFIG")
    kube = "emulator" if external else kube_choice()  # "emulator": no server of ours
    if kube == "real" and not external and not realkube.built():
        pytest.fail(realkube.NOT_BUILT, pytrace=False)
    with cluster.running(
        tmp_path_factory.mktemp("sandbox"),
        external_kubeconfig=pathlib.Path(external) if external else None,
        kube=kube,
    ) as running:
        if running.real is None:  # the real server's set-up installed it already
            kubectl = harness.Kubectl(running.kubeconfig)
            kubectl.run("apply", "-k", str(CRDS))
            kubectl.run(
                "wait", "--for=condition=Established", "crd/amistores.amistore.io", "--timeout=60s"
            )
        yield running


@pytest.fixture(scope="session")
def real_sandbox(sandbox: cluster.Sandbox) -> cluster.Sandbox:
    """The sandbox, for tests that need the real API server (``make realkube``)."""
    if sandbox.real is None:
        if not realkube.built():
            pytest.fail(realkube.NOT_BUILT, pytrace=False)
        other = "the emulator" if sandbox.emulated else "AMISTORE_E2E_KUBECONFIG's cluster"
        pytest.skip(f"needs the real API server of 'make realkube'; this session runs on {other}")
    return sandbox
