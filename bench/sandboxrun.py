"""What every benchmark scenario does around its own measurement.

A fresh sandbox with the CRD established, under the scenario's work folder (timed
as a whole where the scenario reports it); both request logs cleared where the
measurement starts; the wait for every AmiStore's first status; and the
operator's metrics read without failing the run when it already exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bench import observe
from tests.e2e import harness
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

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


async def timed(
    workdir: pathlib.Path, measure: Callable[[cluster.Sandbox], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """``measure`` in a fresh sandbox under ``workdir``, its result with the seconds it all took."""
    began = time.monotonic()
    async with fresh(workdir) as (sandbox, _):
        result = await measure(sandbox)
    result["seconds"] = round(time.monotonic() - began, 1)  # the whole scenario, sandbox included
    return result


async def clear_logs(sim: control.Ec2SimControl, kube_url: str) -> None:
    """Forget the set-up's EC2 calls and Kubernetes requests: the measurement starts here."""
    await asyncio.to_thread(sim.clear_calls)
    await asyncio.to_thread(observe.clear_kube_requests, kube_url)


async def all_have_status(
    watcher: observe.StatusWatcher, size: int, deadline: float, operator: harness.OperatorProcess
) -> float | None:
    """When the last of ``size`` AmiStores first had a status (None: not by ``deadline``,
    or the operator exited first)."""
    while len(watcher.first_status) < size:
        if time.time() > deadline or operator.process.poll() is not None:
            return None
        await asyncio.sleep(0.2)
    return max(watcher.first_status.values())


def scrape(operator: harness.OperatorProcess) -> str:
    """The operator's /metrics text; empty when it no longer answers."""
    try:
        return operator.metrics()
    except OSError:
        return ""
