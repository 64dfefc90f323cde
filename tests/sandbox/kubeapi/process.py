"""Run the emulator as a real subprocess (for tests and the sandbox scripts)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from types import TracebackType

from tests.sandbox.kubeapi import kubeconfig

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


class KubeApiProcess:
    """``python -m tests.sandbox.kubeapi`` on a free port, with a kubeconfig in ``workdir``."""

    def __init__(
        self, workdir: pathlib.Path, token: str | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.workdir = workdir
        self.token = token
        self.extra_args = extra_args
        self.url = ""
        self.kubeconfig = workdir / "kubeconfig"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start it and wait (bounded) for its ready file."""
        ready = self.workdir / "kubeapi.ready.json"
        ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "tests.sandbox.kubeapi", "--host", "127.0.0.1", "--port", "0"]
        args += ["--ready-file", str(ready), *self.extra_args]
        if self.token:
            args += ["--token", self.token]
        log = (self.workdir / "kubeapi.log").open("wb")
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"kubeapi did not start: {(self.workdir / 'kubeapi.log').read_text()}"
                )
            time.sleep(0.05)
        self.url = json.loads(ready.read_text())["url"]
        kubeconfig.write_kubeconfig(self.kubeconfig, self.url, self.token)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def env(self) -> dict[str, str]:
        """Environment for kubectl/kopf: KUBECONFIG and a private kubectl cache."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.workdir / "kube-cache"),
        }

    def __enter__(self) -> KubeApiProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
