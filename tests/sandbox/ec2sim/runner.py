"""Run an Ec2SimServer on its own event loop in a thread, for synchronous tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

from tests.sandbox.ec2sim import server

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


class ThreadedEc2Sim:
    """A context manager: the simulator serves from a background thread while inside."""

    def __init__(self, throttle: bool = True, host: str = "127.0.0.1") -> None:
        self.server = server.Ec2SimServer(host, 0, throttle=throttle)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """The endpoint URL."""
        return self.server.url

    def start(self) -> ThreadedEc2Sim:
        """Start the thread and wait (bounded) until the server listens."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ThreadedEc2Sim:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def boto3_client(
    url: str,
    total_max_attempts: int = 1,
    mode: Literal["legacy", "standard", "adaptive"] = "standard",
    parameter_validation: bool = True,
    read_timeout: float = 10.0,
) -> EC2Client:
    """A real boto3 EC2 client for `url` with fake credentials; no retries by default."""
    return boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url=url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="sandbox-secret-not-real",
        config=Config(
            retries={"mode": mode, "total_max_attempts": total_max_attempts},
            parameter_validation=parameter_validation,
            connect_timeout=5,
            read_timeout=read_timeout,
        ),
    )


def session_client(url: str, credentials: Mapping[str, Any]) -> EC2Client:
    """A real boto3 EC2 client for `url` signing with AssumeRole's `Credentials`; no retries."""
    return boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url=url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
