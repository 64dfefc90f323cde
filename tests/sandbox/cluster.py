"""Bring the whole test sandbox up and down: Kubernetes and the EC2 simulator.

Kubernetes is the API emulator (``kube="emulator"``), the real kube-apiserver and
etcd that ``make realkube`` builds (``kube="real"``, see ``realkube.py``), or a
cluster of the user's (``external_kubeconfig``). Each server runs as its own
process on free loopback ports. ``Sandbox.up()`` waits until each is ready,
writes a kubeconfig and returns the environment a client needs (``KUBECONFIG``,
``AWS_ENDPOINT_URL_EC2``, ``_STS`` and ``_S3``, fake AWS credentials and a region);
``operator_env()`` is the same for the operator, which on the real server logs in
as its service account, with ``deploy/``'s RBAC only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from tests.sandbox import auditlog, realkube
from tests.sandbox.kubeapi import kubeconfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
# Fake credentials: the simulator checks that requests are SigV4-signed, never the secret.
FAKE_ACCESS_KEY = "AKIASANDBOX000000000"
FAKE_SECRET_KEY = "sandbox-secret-not-a-real-key"


@dataclasses.dataclass
class Sandbox:
    """A running sandbox: where it lives and how to reach it."""

    directory: pathlib.Path
    kube_url: str
    ec2_url: str
    pids: dict[str, int]
    external_kubeconfig: pathlib.Path | None = None
    real: realkube.RealKube | None = None

    @property
    def kubeconfig(self) -> pathlib.Path:
        """The kubeconfig the real kubectl, kopf and the kubernetes client use (an admin's)."""
        if self.real is not None:
            return self.real.admin_kubeconfig
        return self.external_kubeconfig or self.directory / "kubeconfig"

    @property
    def emulated(self) -> bool:
        """True when Kubernetes is the emulator (False: a real API server or cluster)."""
        return self.external_kubeconfig is None and self.real is None

    @property
    def audit(self) -> auditlog.AuditLog | None:
        """The real API server's audit log (None on the emulator or a user's cluster)."""
        return auditlog.AuditLog(self.real.audit_log) if self.real is not None else None

    def operator_env(self) -> dict[str, str]:
        """``env()`` for the operator: on the real server, its service account's login."""
        env = self.env()
        if self.real is not None:
            env["KUBECONFIG"] = str(self.real.operator_kubeconfig)
        return env

    def env(self) -> dict[str, str]:
        """The environment variables a client of the sandbox needs."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "AWS_ENDPOINT_URL_EC2": self.ec2_url,
            "AWS_ENDPOINT_URL_STS": self.ec2_url,  # the simulator answers STS too
            "AWS_ENDPOINT_URL_S3": self.ec2_url,  # and S3's HeadObject (verifyObjects)
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AMISTORE_SANDBOX_KUBEAPI": self.kube_url,
            "AMISTORE_SANDBOX_EC2": self.ec2_url,
        }

    @classmethod
    def up(
        cls,
        directory: pathlib.Path,
        *,
        throttle: bool = True,
        timeout: float = 30,
        external_kubeconfig: pathlib.Path | None = None,
        kube: str = "emulator",
    ) -> Sandbox:
        """Start the servers, write the kubeconfig and the state file, and return the sandbox.

        With ``external_kubeconfig`` (a real cluster), only the EC2 simulator starts.
        ``kube="real"``: the real kube-apiserver and etcd, with the CRD and ``deploy/``'s
        RBAC installed (``realkube.NotBuiltError`` if ``make realkube`` was not run).
        """
        if kube not in ("emulator", "real"):
            raise ValueError(f"kube must be 'emulator' or 'real', not {kube!r}")
        if kube == "real" and not realkube.built():
            raise realkube.NotBuiltError(realkube.NOT_BUILT)
        directory.mkdir(parents=True, exist_ok=True)
        logs = directory / "logs"
        logs.mkdir(exist_ok=True)
        kube_ready = directory / "kubeapi.ready"
        ec2_ready = directory / "ec2sim.ready"
        for ready in (kube_ready, ec2_ready):
            ready.unlink(missing_ok=True)
        pids: dict[str, int] = {}
        ec2_args = ["tests.sandbox.ec2sim", "--ready-file", str(ec2_ready)]
        if not throttle:
            ec2_args.append("--no-throttle")
        ec2 = _spawn(ec2_args, logs / "ec2sim.log")
        pids["ec2sim"] = ec2.pid
        kube_url = ""
        real = None
        try:
            if external_kubeconfig is None and kube == "real":
                real = realkube.RealKube.up(directory / "realkube")
                pids.update(real.pids)
                kube_url = real.url
                realkube.install_project(real.admin_kubeconfig)
            elif external_kubeconfig is None:
                emulator = _spawn(
                    # No token: kubectl sends credentials only over HTTPS.
                    ["tests.sandbox.kubeapi", "--ready-file", str(kube_ready)],
                    logs / "kubeapi.log",
                )
                pids["kubeapi"] = emulator.pid
                kube_url = _wait_ready(kube_ready, emulator, timeout)
            ec2_url = _wait_ready(ec2_ready, ec2, timeout)
        except BaseException:
            if real is not None:
                real.down()
            _stop_pids(pids)
            raise
        sandbox = cls(directory, kube_url, ec2_url, pids, external_kubeconfig, real)
        if sandbox.emulated:
            kubeconfig.write_kubeconfig(sandbox.kubeconfig, kube_url, None)
        (directory / "state.json").write_text(
            json.dumps(
                {
                    "kube_url": kube_url,
                    "ec2_url": ec2_url,
                    "pids": pids,
                    "external_kubeconfig": str(external_kubeconfig or ""),
                    "kube": "real" if real is not None else "emulator",
                }
            )
        )
        (directory / "env").write_text(
            "".join(f"export {key}={value}\n" for key, value in sandbox.env().items())
        )
        return sandbox

    @classmethod
    def load(cls, directory: pathlib.Path) -> Sandbox:
        """The sandbox a previous ``up`` left in ``directory``."""
        state = json.loads((directory / "state.json").read_text())
        external = state.get("external_kubeconfig") or None
        real = None
        if state.get("kube") == "real":
            real = realkube.RealKube.load(directory / "realkube")
        return cls(
            directory,
            state["kube_url"],
            state["ec2_url"],
            dict(state["pids"]),
            pathlib.Path(external) if external else None,
            real,
        )

    def down(self) -> None:
        """Stop the servers (SIGTERM, then SIGKILL after 10 s; etcd after kube-apiserver)."""
        if self.real is not None:
            self.real.down()
        _stop_pids({k: v for k, v in self.pids.items() if k not in ("etcd", "kube-apiserver")})
        (self.directory / "state.json").unlink(missing_ok=True)


@contextlib.contextmanager
def running(
    directory: pathlib.Path,
    *,
    throttle: bool = True,
    external_kubeconfig: pathlib.Path | None = None,
    kube: str = "emulator",
) -> Iterator[Sandbox]:
    """A sandbox for the duration of a ``with`` block."""
    sandbox = Sandbox.up(
        directory, throttle=throttle, external_kubeconfig=external_kubeconfig, kube=kube
    )
    try:
        yield sandbox
    finally:
        sandbox.down()


def _spawn(module_args: list[str], log: pathlib.Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args, "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_ready(ready: pathlib.Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return str(json.loads(ready.read_text())["url"])
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before ready")
        time.sleep(0.05)
    raise TimeoutError(f"{process.args!r} not ready within {timeout}s")


def _stop_pids(pids: dict[str, int]) -> None:
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in pids.values():
        while time.monotonic() < deadline and realkube.alive(pid):
            time.sleep(0.05)
        if realkube.alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
