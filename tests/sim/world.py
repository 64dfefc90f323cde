"""One simulated operator process over the fake AWS and API server, and its restarts.

The operator is assembled as ``cli.run`` assembles it (hub, exporter, service) with
the virtual clock, a runner that calls the fake in the event loop's thread (a
call takes ``latency`` virtual seconds: AWS acts half-way, so a crash can land
before or after it does), and the real poll loop of ``kube/daemon.py`` per
AmiStore. A crash cancels every task of the process at whatever await it is in;
the next process starts from what the API server stored, and nothing else. Cleanup
(``afterExport``) gets the fake's image calls and the run's flags once the service
takes them (``cleanup_arguments``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from amistore_operator.core import accounts, cleanuppermission, export, exportready, statusevents
from amistore_operator.kube import daemon, handlers
from amistore_operator.observe import metrics
from amistore_operator.polling import hub as poller_hub
from amistore_operator.reconcile import exporter, resource, service

from tests.sim import fakeaws, fakeimages, fakekube

T = TypeVar("T")
OWN_ACCOUNT = fakeimages.OWN_ACCOUNT
CREATE_RATE, CREATE_BURST = 2.0, 20  # the exporter's create bucket per (account, region)
ALLOW_ALL = export.Permission(True, ("*",), ("*",))


class SimClock:
    """The poller's clock on the virtual loop: Unix seconds from ``fakeaws.EPOCH``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoch = fakeaws.EPOCH.timestamp()

    def now(self) -> float:
        """Virtual Unix seconds."""
        return self._epoch + self._loop.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep in virtual time."""
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run ``callback`` after ``seconds`` of virtual time."""
        return self._loop.call_later(seconds, callback)

    def utcnow(self) -> datetime.datetime:
        """The service's clock: virtual UTC, to the second."""
        moment = fakeaws.EPOCH + datetime.timedelta(seconds=self._loop.time())
        return moment.replace(microsecond=0)


@dataclasses.dataclass(frozen=True)
class CleanupFlags:
    """The operator's ``--allow-deregister`` and ``--deregister-namespaces`` (off by default).

    The fields of ``core.cleanuppermission.Permission``, which the service is given.
    """

    allow_deregister: bool = False
    deregister_namespaces: tuple[str, ...] = ("*",)

    def allows(self, namespace: str) -> bool:
        """Whether the flags let the operator deregister AMIs for ``namespace``."""
        return self.allow_deregister and exportready.matches_any(
            namespace, self.deregister_namespaces
        )


def cleanup_arguments(ec2: fakeaws.FakeEc2, flags: CleanupFlags) -> dict[str, Any]:
    """The service's ``images=`` (the fake's clients) and ``cleanup=`` (the flags)."""
    permission = cleanuppermission.Permission(**dataclasses.asdict(flags))
    return {"images": ec2.client, "cleanup": permission}


@dataclasses.dataclass(frozen=True)
class Config:
    """The operator's settings in one run."""

    region: str = "eu-west-1"
    interval: float = 60.0
    permission: export.Permission = ALLOW_ALL
    max_concurrent: int = 20
    latency: float = 0.2
    cleanup: CleanupFlags = CleanupFlags()


@dataclasses.dataclass(frozen=True)
class Posted:
    """One Event the operator posted."""

    t: float
    key: str
    event: statusevents.Event


class Traceback(logging.Handler):
    """Keeps every log record with a traceback, and every ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


class Process:
    """One run of the operator, from start to exit or crash."""

    def __init__(
        self,
        *,
        config: Config,
        ec2: fakeaws.FakeEc2,
        kube: fakekube.FakeApiServer,
        account_map: Callable[[], accounts.AccountMap],
        lag: Callable[[], float],
        seed: int,
        posted: list[Posted],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.clock = SimClock(loop)
        self._kube = kube
        self._lag = lag
        self._posted = posted
        self._latency = config.latency
        self._tasks: list[asyncio.Task[None]] = []
        self._started = loop.time()
        self._stopped = False
        _, collector, health = metrics.build_registry()
        self.hub = poller_hub.PollerHub(
            client_factory=ec2.client,
            rate=0.5,
            burst=49,
            metrics=health,
            clock=self.clock,
            rng=random.Random(seed),
            runner=self._run,
        )
        self.exports = exporter.Exporter(
            permission=config.permission,
            client_factory=ec2.client,
            rate=CREATE_RATE,
            burst=CREATE_BURST,
            runner=self._run,
            monotonic=loop.time,
            max_concurrent=config.max_concurrent,
        )
        self.svc = service.AmiStoreService(
            hub=self.hub,
            collector=collector,
            default_region=config.region,
            default_interval=config.interval,
            clock=self.clock.utcnow,
            account_map=account_map,
            own_account=lambda: OWN_ACCOUNT,
            exports=self.exports,
            objects=ec2.client,
            runner=self._run,
            **cleanup_arguments(ec2, config.cleanup),
        )

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking AWS call: half the latency out, AWS acts, half back."""
        await asyncio.sleep(self._latency / 2)
        result = fn(*args, **kwargs)
        await asyncio.sleep(self._latency / 2)
        return result

    def start(self, keys: list[str]) -> None:
        """The initial list: every AmiStore's watch event, then its daemon."""
        for key in keys:
            self.observe(key)
        for key in keys:
            self._tasks.append(asyncio.create_task(self._daemon(key), name=f"daemon {key}"))

    def ref(self, key: str) -> resource.ResourceRef:
        """The resource reference of ``key``."""
        namespace, name = key.split("/")
        return resource.ResourceRef(namespace, name, self._kube.uids[key])

    def snapshot(self, version: fakekube.Version) -> resource.Snapshot:
        """What a kopf body of ``version`` hands the service."""
        retry = version.annotations.get(handlers.RETRY_ANNOTATION)
        return resource.Snapshot(
            version.spec, version.status, version.generation, retry_requested=retry or None
        )

    def observe(self, key: str, version: fakekube.Version | None = None) -> None:
        """A watch event (``handlers.watched``)."""
        if self._stopped:
            return
        seen = version or self._kube.current(key)
        ref = self.ref(key)
        self.svc.observe(
            resource.ResourceRef(ref.namespace, ref.name), seen.generation, self.snapshot(seen)
        )

    async def _daemon(self, key: str) -> None:
        ref = self.ref(key)
        lag = self._lag()

        def read() -> resource.Snapshot:
            # The initial list is consistent: the lag applies to events after the start.
            since_start = self.clock._loop.time() - self._started
            return self.snapshot(self._kube.watched(key, min(lag, since_start)))

        async def write(current: Mapping[str, Any]) -> bool:
            return await self._kube.write_status(key, current)

        def post(event: statusevents.Event) -> None:
            self._posted.append(Posted(self.clock._loop.time(), key, event))

        while not self._stopped:
            # kopf restarts a daemon that raised, after its backoff (handlers.RETRY_SECONDS).
            try:
                await daemon.run(self.svc, ref, read, write, post, lambda: self._stopped)
            except Exception:
                logging.getLogger("amistore_operator.kube.handlers").exception(
                    "daemon of %s failed", key
                )
                await asyncio.sleep(handlers.RETRY_SECONDS)

    async def crash(self) -> None:
        """The process dies at whatever await each of its tasks is in."""
        self._stopped = True
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
