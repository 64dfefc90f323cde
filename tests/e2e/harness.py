"""Driving the real things in end-to-end tests: kubectl, the operator process, bounded waits."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tests.sandbox import auditlog, cluster, httpjson, tools

T = TypeVar("T")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> T:
    """Call ``probe`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Kubectl:
    """The real kubectl against the sandbox (or a real cluster)."""

    kubeconfig: pathlib.Path
    namespace: str = "default"

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with our kubeconfig and namespace; raise with its stderr on failure."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            [tools.kubectl_path(), "--namespace", self.namespace, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def apply(self, manifest: str) -> str:
        """``kubectl apply -f -`` and return its output."""
        return self.run("apply", "-f", "-", stdin=manifest).stdout

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """One object as JSON."""
        return dict(json.loads(self.run("get", kind, name, "-o", "json").stdout))

    def status(self, name: str) -> dict[str, Any]:
        """An AmiStore's status (empty before the first write)."""
        return dict(self.get("amistore", name).get("status") or {})

    def write_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge-patch an AmiStore's status subresource, as the operator does."""
        self.run(
            "patch",
            "amistore",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        """Events about the named object."""
        out = self.run(
            "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
        ).stdout
        return list(json.loads(out)["items"])


class ApiRequests:
    """The requests the session's Kubernetes served since ``clear()``: the real API server's
    audit log, or the emulator's request log (a cluster of the user's has neither)."""

    def __init__(self, sandbox: cluster.Sandbox) -> None:
        if sandbox.real is None and not sandbox.emulated:
            raise ValueError("a cluster of the user's has no request log to read")
        self.sandbox = sandbox
        self._since = 0

    def clear(self) -> None:
        """Count only what comes after now."""
        if self.sandbox.audit is not None:
            self._since = self.sandbox.audit.mark()
        else:
            httpjson.call(f"{self.sandbox.kube_url}/_sandbox/requests", "DELETE")

    def all(self) -> list[auditlog.Request]:
        """Every request since ``clear()``, in order."""
        if self.sandbox.audit is not None:
            return self.sandbox.audit.requests(self._since)
        entries = httpjson.call(f"{self.sandbox.kube_url}/_sandbox/requests", "GET")
        return [auditlog.from_emulator(entry) for entry in entries]

    def by_operator(self) -> list[auditlog.Request]:
        """Those the operator (kopf's client) made."""
        return [r for r in self.all() if r.user_agent.startswith("kopf")]

    def status_writes(self, name: str | None = None) -> list[auditlog.Request]:
        """Writes to AmiStores' status (of the one named, if given)."""
        return [
            r
            for r in self.all()
            if r.is_write and r.resource == "amistores/status" and (name is None or r.name == name)
        ]


def delete_namespace(kubeconfig: pathlib.Path, name: str) -> None:
    """Delete a test's namespace, its AmiStores first, their finalizer cleared.

    The operators are stopped by then, so nothing would remove the finalizer, and the
    namespace would stay Terminating with them for good on any cluster (and they would be
    listed by every later ``-A``, and polled by every later cluster-wide operator). The
    real API server here runs no controller manager at all, so no test waits for a
    namespace to be gone.
    """
    kubectl = Kubectl(kubeconfig, name)
    left = kubectl.run("get", "amistores", "-o", "name", check=False).stdout.split()
    if left:
        unblock = json.dumps({"metadata": {"finalizers": None}})
        kubectl.run("patch", *left, "--type=merge", "-p", unblock, check=False)
        kubectl.run("delete", *left, "--wait=false", check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def amirestore(resource_name: str, **spec: Any) -> str:
    """An AmiRestore manifest as JSON (which is YAML)."""
    meta = {"name": resource_name}
    body = {"apiVersion": "amistore.io/v1alpha1", "kind": "AmiRestore", "metadata": meta}
    return json.dumps({**body, "spec": spec})


def amistore(name: str, **spec: Any) -> str:
    """An AmiStore manifest as JSON (which is YAML)."""
    return json.dumps(
        {
            "apiVersion": "amistore.io/v1alpha1",
            "kind": "AmiStore",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


# An ERROR (or CRITICAL) record of the operator's own modules in the text format, where
# kopf prints ``[time] logger-name-cut-at-20 [LEVEL   ] message``.
_OWN_ERROR = re.compile(r"^\[[^\]]*\] amistore_operator[\w.]*\s+\[(ERROR|CRITICAL)")
_OWN_LOGGER = "amistore_operator"


def log_problems(text: str) -> list[str]:
    """What in an operator's log is a bug: each traceback and each error record of its own.

    Text lines and ``--log-format json`` lines are both read. A JSON record names its logger
    only when the format adds one; an error record that names none counts, as the safe side.
    """
    found: list[str] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "Traceback" in line:
            found.append("\n".join(lines[max(0, number - 1) : number + 40]))
        elif _OWN_ERROR.match(line) or _json_error(line):
            found.append(line)
    return found


def _json_error(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict) or record.get("severity") not in {"error", "fatal"}:
        return False
    logger = record.get("name") or record.get("logger") or _OWN_LOGGER
    return str(logger).startswith(_OWN_LOGGER)


class OperatorProcess:
    """The real ``amistore-operator`` command in its own process."""

    def __init__(
        self,
        env: dict[str, str],
        args: Sequence[str],
        log_path: pathlib.Path,
        *,
        inherit_env: bool = True,
        python: str = sys.executable,
    ) -> None:
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "amistore_operator",
                "--metrics-port",
                str(self.metrics_port),
                "--liveness-port",
                str(self.liveness_port),
                *args,
            ],
            # inherit_env=False: exactly ``env``, e.g. to prove the absence of a variable.
            env={**os.environ, **env} if inherit_env else env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )

    def logs(self) -> str:
        """Everything it has printed so far."""
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        """The text of GET /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /healthz answers 200 (kopf is up and watching)."""

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"operator exited early:\n{self.logs()[-3000:]}")
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(healthy, timeout=timeout, what="the operator's /healthz")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Signal it and return its exit code (fails if it takes longer than ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"operator did not exit within {timeout}s") from None
        self._log.close()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL, as a node failure would."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        self._log.close()
