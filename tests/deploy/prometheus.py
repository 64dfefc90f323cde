"""Start a real Prometheus server on loopback, query it, stop it (reusable by other tests)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Sample = dict[str, Any]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrometheusServer:
    """One Prometheus process scraping `scrape_url` every second, with its own temp storage."""

    binary: str
    workdir: Path
    scrape_url: str
    job: str = "amistore-operator"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server's HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        """Write the config, start the process and wait until it reports ready."""
        target = urllib.parse.urlsplit(self.scrape_url)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": self.job,
                    # As the ServiceMonitor: keep the AmiStore's own `namespace` label.
                    "honor_labels": True,
                    "metrics_path": target.path or "/metrics",
                    "static_configs": [{"targets": [target.netloc]}],
                }
            ],
        }
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until(self._ready, timeout, "Prometheus to become ready")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        """The server's own output, for failure messages."""
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def query(self, expr: str) -> list[Sample]:
        """Evaluate an instant query now; raises AssertionError on a query error."""
        params = urllib.parse.urlencode({"query": expr})
        body = self._get(f"/api/v1/query?{params}")
        assert body["status"] == "success", f"query {expr!r} failed: {body}"
        result: list[Sample] = body["data"]["result"]
        return result

    def label_values(self, label: str, match: str) -> list[str]:
        """Values of `label` on series matching `match` (Grafana's label_values())."""
        params = urllib.parse.urlencode({"match[]": match})
        body = self._get(f"/api/v1/label/{label}/values?{params}")
        values: list[str] = body["data"]
        return values

    def wait_for(self, expr: str, timeout: float = 30) -> list[Sample]:
        """Poll an instant query until it returns at least one sample, within `timeout`."""
        found: list[Sample] = []

        def has_data() -> bool:
            found[:] = self.query(expr)
            return bool(found)

        self.wait_until(has_data, timeout, f"data for {expr!r}")
        return found

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Check `condition` every 0.2 s until true; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"Prometheus exited while waiting for {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def _get(self, path: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        return body
