"""Tests against the real kube-apiserver and etcd of ``make realkube`` (marker ``realkube``).

They use the session's sandbox and the end-to-end fixtures (a namespace per test, kubectl,
the real operator process, the EC2 simulator); every test here needs ``real_sandbox``,
which fails it with one line when the servers are not built, and skips it when the
session runs against the emulator or a cluster of the user's.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import api_requests, ec2, kubectl, namespace, start_operator
from tests.sandbox import cluster

__all__ = ["api_requests", "ec2", "kubectl", "namespace", "start_operator"]


@pytest.fixture(autouse=True)
def _needs_the_real_server(real_sandbox: cluster.Sandbox) -> None:
    """Each test here runs on the real API server, or fails or skips saying why."""
