"""What every benchmark scenario does around its own measurement.

A fresh sandbox with the CRD established, under the scenario's work folder, and
the operator's metrics read without failing the run when it already exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator

from tests.e2e import harness
from tests.sandbox import cluster

CRDS = harness.ROOT / "crds"


@contextlib.asynccontextmanager
async def fresh(workdir: pathlib.Path) -> AsyncIterator[tuple[cluster.Sandbox, harness.Kubectl]]:
    """A new sandbox under ``workdir`` with the AmiStore CRD installed and established."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    with cluster.running(workdir / "sandbox") as sandbox:
        kubectl = harness.Kubectl(sandbox.kubeconfig)
        kubectl.run("apply", "-k", str(CRDS))
        kubectl.run("wait", "--for=condition=Established", "crd/amistores.amistore.io")
        yield sandbox, kubectl


def scrape(operator: harness.OperatorProcess) -> str:
    """The operator's /metrics text; empty when it no longer answers."""
    try:
        return operator.metrics()
    except OSError:
        return ""
