"""A real kube-apiserver and etcd on loopback, built by ``make realkube`` into ``.realkube/bin``.

``RealKube.up(directory)`` starts etcd and kube-apiserver on free ports with
everything in ``directory``: etcd's data, a self-signed serving certificate
(``--cert-dir``), a service-account key made for this run, a token file with two
users, an audit log, and a kubeconfig for each user:

- ``admin`` (group ``system:masters``): what tests and kubectl use;
- the operator, as its service account ``system:serviceaccount:amistore-system:amistore-operator``
  in ``system:serviceaccounts`` and ``system:serviceaccounts:amistore-system``, so that
  ``deploy/``'s RBAC binds it exactly as in a cluster, and it can do nothing else;
- the operator of a namespaced install (``deploy/overlays/namespaced``) in ``amistore-team``,
  bound by nothing until a test applies that overlay's Role there.

There is no controller manager: a deleted namespace stays ``Terminating`` and
nothing is garbage-collected, so no test may wait for either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.sandbox import tools
from tests.sandbox.kubeapi import kubeconfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / ".realkube" / "bin"
APISERVER = BIN / "kube-apiserver"
ETCD = BIN / "etcd"
OPERATOR_NAMESPACE = "amistore-system"
OPERATOR_ACCOUNT = "amistore-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
OPERATOR_GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{OPERATOR_NAMESPACE}")
# The operator installed with deploy/overlays/namespaced into this namespace: its service
# account has only the overlay's Role there (tests apply it), no ClusterRole.
TEAM_NAMESPACE = "amistore-team"
TEAM_USER = f"system:serviceaccount:{TEAM_NAMESPACE}:{OPERATOR_ACCOUNT}"
NOT_BUILT = (
    "the real kube-apiserver and etcd are not built: run 'make realkube' (it needs Go: "
    "https://go.dev/doc/install)"
)

# Every request at Metadata level (who, what, which object, the answer), once it is
# answered; a watch also when it starts, so an open one is seen. The API server's own
# loopback client is left out: it is not what any test counts.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:apiserver"]
  - level: Metadata
"""


class NotBuiltError(RuntimeError):
    """``make realkube`` has not been run (or Go is missing)."""


def built() -> bool:
    """Whether both binaries are there."""
    return all(os.access(path, os.X_OK) for path in (APISERVER, ETCD))


@dataclasses.dataclass
class RealKube:
    """A running etcd and kube-apiserver: where they listen and how to log in."""

    directory: pathlib.Path
    url: str
    etcd_url: str
    pids: dict[str, int]

    @property
    def admin_kubeconfig(self) -> pathlib.Path:
        """A kubeconfig for ``admin`` (``system:masters``)."""
        return self.directory / "kubeconfig"

    @property
    def operator_kubeconfig(self) -> pathlib.Path:
        """A kubeconfig for the operator's service account user (only deploy/'s RBAC)."""
        return self.directory / "kubeconfig-operator"

    @property
    def team_kubeconfig(self) -> pathlib.Path:
        """A kubeconfig for the namespaced install's operator in ``TEAM_NAMESPACE``."""
        return self.directory / "kubeconfig-team"

    @property
    def audit_log(self) -> pathlib.Path:
        """The API server's audit log (JSON lines, one event per request stage)."""
        return self.directory / "audit.log"

    @property
    def ca_file(self) -> pathlib.Path:
        """The self-signed serving certificate and its CA, as the API server wrote them."""
        return self.directory / "certs" / "apiserver.crt"

    @classmethod
    def up(cls, directory: pathlib.Path, *, timeout: float = 90) -> RealKube:
        """Start etcd and kube-apiserver, wait until ready, write both kubeconfigs."""
        if not built():
            raise NotBuiltError(NOT_BUILT)
        directory.mkdir(parents=True, exist_ok=True)
        logs = directory / "logs"
        logs.mkdir(exist_ok=True)
        pids: dict[str, int] = {}
        try:
            etcd_url = _start_etcd(directory, logs, pids)
            _wait_http(f"{etcd_url}/health", pids, "etcd", timeout)
            tokens = _write_auth(directory)
            port = free_port()
            url = f"https://127.0.0.1:{port}"
            pids["kube-apiserver"] = _spawn(
                [str(APISERVER), *_apiserver_args(directory, port, etcd_url)],
                logs / "kube-apiserver.log",
            )
            real = cls(directory, url, etcd_url, pids)
            kubeconfig.write_kubeconfig(
                real.admin_kubeconfig, url, tokens["admin"], ca_file=real.ca_file
            )
            kubeconfig.write_kubeconfig(
                real.operator_kubeconfig, url, tokens["operator"], ca_file=real.ca_file
            )
            kubeconfig.write_kubeconfig(
                real.team_kubeconfig, url, tokens["team"], TEAM_NAMESPACE, ca_file=real.ca_file
            )
            real.wait_ready(tokens["admin"], timeout)
        except BaseException:
            stop_pids(pids)
            raise
        (directory / "realkube.json").write_text(
            json.dumps({"url": url, "etcd_url": etcd_url, "pids": pids})
        )
        return real

    @classmethod
    def load(cls, directory: pathlib.Path) -> RealKube:
        """The servers a previous ``up`` left running in ``directory``."""
        state = json.loads((directory / "realkube.json").read_text())
        return cls(directory, state["url"], state["etcd_url"], dict(state["pids"]))

    def wait_ready(self, token: str, timeout: float) -> None:
        """Until ``/readyz`` answers ok (every post-start hook done, CRDs served)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            _check_alive(self.pids, self.directory / "logs")
            if self.ca_file.exists():
                try:
                    context = ssl.create_default_context(cafile=str(self.ca_file))
                    request = urllib.request.Request(
                        f"{self.url}/readyz", headers={"Authorization": f"Bearer {token}"}
                    )
                    with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                        if answer.status == 200:
                            return
                except (OSError, ssl.SSLError) as exc:
                    last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(f"kube-apiserver not ready within {timeout}s: {last}")

    def another_apiserver(self, name: str, *flags: str, timeout: float = 90) -> RealKube:
        """One more kube-apiserver on the same etcd (as in an HA control plane), with ``flags``.

        It shares the token file and service-account key; it has its own folder
        (``name``), certificate, audit log and kubeconfigs. ``down()`` stops only it.
        """
        directory = self.directory / name
        (directory / "logs").mkdir(parents=True, exist_ok=True)
        for shared in ("tokens.csv", "service-account.key", "audit-policy.yaml"):
            shutil.copy2(self.directory / shared, directory / shared)
        tokens = {
            line.split(",")[1]: line.split(",")[0]
            for line in (directory / "tokens.csv").read_text().splitlines()
        }
        port = free_port()
        pid = _spawn(
            [str(APISERVER), *_apiserver_args(directory, port, self.etcd_url), *flags],
            directory / "logs" / "kube-apiserver.log",
        )
        other = RealKube(
            directory, f"https://127.0.0.1:{port}", self.etcd_url, {"kube-apiserver": pid}
        )
        try:
            for path, user in (
                (other.admin_kubeconfig, "admin"),
                (other.operator_kubeconfig, OPERATOR_USER),
            ):
                kubeconfig.write_kubeconfig(path, other.url, tokens[user], ca_file=other.ca_file)
            other.wait_ready(tokens["admin"], timeout)
        except BaseException:
            other.down()
            raise
        return other

    def compact(self) -> int:
        """Compact etcd at its current revision (what the API server does every 5 minutes)."""
        revision = int(_etcd_call(self.etcd_url, "kv/range", {"key": "AA=="})["header"]["revision"])
        _etcd_call(self.etcd_url, "kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def down(self) -> None:
        """Stop kube-apiserver, then etcd (SIGTERM, SIGKILL after 10 s)."""
        stop_pids({"kube-apiserver": self.pids.get("kube-apiserver", 0)})
        stop_pids({"etcd": self.pids.get("etcd", 0)})
        (self.directory / "realkube.json").unlink(missing_ok=True)


def install_project(admin_kubeconfig: pathlib.Path, timeout: float = 60) -> None:
    """What a cluster admin installs, as shipped: ``crds/``, the namespace and ``deploy/``'s RBAC.

    Returns once the CRD is Established and the operator's user may watch AmiStores.
    """

    def kubectl(*args: str, config: pathlib.Path = admin_kubeconfig) -> str:
        result = subprocess.run(
            [tools.kubectl_path(), "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0 and args[:2] != ("auth", "can-i"):
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    kubectl("apply", "-f", str(ROOT / "crds"))
    kubectl("apply", "-f", str(ROOT / "deploy" / "namespace.yaml"))
    kubectl("apply", "-f", str(ROOT / "deploy" / "rbac.yaml"))
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/amistores.amistore.io",
        f"--timeout={int(timeout)}s",
    )
    operator = admin_kubeconfig.with_name("kubeconfig-operator")
    deadline = time.monotonic() + timeout
    can_watch = ("auth", "can-i", "watch", "amistores.amistore.io", "--all-namespaces")
    while kubectl(*can_watch, config=operator) != "yes":
        if time.monotonic() > deadline:
            raise TimeoutError("deploy/rbac.yaml does not let the operator watch AmiStores")
        time.sleep(0.2)


@contextlib.contextmanager
def running(directory: pathlib.Path) -> Iterator[RealKube]:
    """Both servers for the duration of a ``with`` block."""
    real = RealKube.up(directory)
    try:
        yield real
    finally:
        real.down()


def _start_etcd(directory: pathlib.Path, logs: pathlib.Path, pids: dict[str, int]) -> str:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    pids["etcd"] = _spawn(
        [
            str(ETCD),
            "--name=realkube",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=realkube={peer_url}",
            "--unsafe-no-fsync",  # a test server: durability across power loss is not needed
            "--log-level=warn",
        ],
        logs / "etcd.log",
    )
    return url


def _write_auth(directory: pathlib.Path) -> dict[str, str]:
    """The token file (two users), the service-account key and the audit policy."""
    tokens = {name: secrets.token_hex(16) for name in ("admin", "operator", "team")}
    groups = ",".join(OPERATOR_GROUPS)
    team_groups = f"system:serviceaccounts,system:serviceaccounts:{TEAM_NAMESPACE}"
    (directory / "tokens.csv").write_text(
        f'{tokens["admin"]},admin,admin,"system:masters"\n'
        f'{tokens["operator"]},{OPERATOR_USER},operator-uid,"{groups}"\n'
        f'{tokens["team"]},{TEAM_USER},team-uid,"{team_groups}"\n'
    )
    (directory / "tokens.csv").chmod(0o600)
    key = directory / "service-account.key"
    if not key.exists():
        openssl = shutil.which("openssl")
        if openssl is None:
            raise NotBuiltError("openssl is needed to make the service-account key: not on PATH")
        subprocess.run(
            [openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
        )
    (directory / "audit-policy.yaml").write_text(AUDIT_POLICY)
    return tokens


def _apiserver_args(directory: pathlib.Path, port: int, etcd_url: str) -> list[str]:
    key = directory / "service-account.key"
    return [
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        # No node network: the kubernetes Service gets no endpoints (a loopback address
        # may not be one).
        "--endpoint-reconciler-type=none",
        f"--secure-port={port}",
        f"--etcd-servers={etcd_url}",
        f"--cert-dir={directory / 'certs'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={key}",
        f"--service-account-signing-key-file={key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        f"--token-auth-file={directory / 'tokens.csv'}",
        f"--audit-policy-file={directory / 'audit-policy.yaml'}",
        f"--audit-log-path={directory / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking-strict",  # each event written before the answer
        "--profiling=false",
        "--v=0",
    ]


def _spawn(args: list[str], log: pathlib.Path) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process.pid


def _wait_http(url: str, pids: dict[str, int], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(pids, None)
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout}s at {url}")


def _check_alive(pids: dict[str, int], logs: pathlib.Path | None) -> None:
    for name, pid in pids.items():
        if not alive(pid):
            tail = ""
            if logs is not None and (logs / f"{name}.log").exists():
                tail = (logs / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited before it was ready:\n{tail}")


def _etcd_call(etcd_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{etcd_url}/v3/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_pids(pids: dict[str, int]) -> None:
    """SIGTERM each process, SIGKILL one still there after 10 s; reap our children."""
    for pid in pids.values():
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in pids.values():
        while pid and time.monotonic() < deadline and alive(pid):
            time.sleep(0.05)
        if pid and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether the process runs (reaping it if it is our exited child)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return waited == 0
