"""A whole simulated run of AmiRestores, drawn from one seed, and the runner that plays it.

``draw(seed)`` picks the poll interval (5 s to a day), the AmiRestores (objects in every
storage class, names given or the object's, names another AMI holds, two restores of one
object, buckets and namespaces the flags refuse), AWS (restore and thaw durations scaled to
the interval, failing restores, the 600 GB limit, a visibility delay, outages, creates
whose answer is lost, thawed copies that expire), the API server (watch lag, refused and
lost writes) and people (retries of failed restores, operator crashes). The operator is
the real ``RestoreService`` in the real poll loop of ``kube/daemon.py`` on a virtual
clock; every run ends with a quiet tail long enough for every restore to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from amistore_operator.core import restorepermission, statusevents
from amistore_operator.kube import daemon, handlers
from amistore_operator.reconcile import resource, restorer

from tests.sim import fakekube, fakerestore, scenario, world
from tests.sim.fakeaws import EPOCH

T = TypeVar("T")
INTERVALS = (5, 10, 30, 60, 120, 300, 600, 900, 3600, 21600, 86400)
CLASSES = (
    ("STANDARD", None),
    ("STANDARD", None),
    ("GLACIER_IR", None),
    ("GLACIER", None),
    ("DEEP_ARCHIVE", None),
    ("INTELLIGENT_TIERING", "ARCHIVE_ACCESS"),
    ("INTELLIGENT_TIERING", None),
)
TAKEN = "taken-by-another"  # a name an AMI not restored here holds


@dataclasses.dataclass(frozen=True)
class Action:
    """Something that happens at ``t``: a create, a retry annotation, a rename, or a crash."""

    t: float
    kind: str  # create | retry | crash | rename
    key: str = ""
    value: str = ""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Everything one run does."""

    seed: int
    interval: float
    specs: Mapping[str, Mapping[str, Any]]
    objects: tuple[fakerestore.StoredObj, ...]
    durations: Mapping[str, float]  # by object key
    failing: Mapping[str, int]
    permission: restorepermission.Permission
    thaw_scale: float
    day_seconds: float
    visibility: float
    lag: float
    aws_faults: fakerestore.Faults
    write_faults: fakekube.WriteFaults
    actions: tuple[Action, ...]
    active: float
    horizon: float


def draw(seed: int) -> Scenario:
    """The scenario of ``seed``."""
    rng = random.Random(seed * 104_729 + 3)
    interval = float(rng.choice(INTERVALS))
    scale = min(1.0, interval / 3600.0)  # about as many polls at every interval
    count = rng.randint(1, 5)
    objects, specs = [], {}
    for i in range(count):
        key = f"ami-{i + 1:017x}.bin"
        storage, tier = rng.choice(CLASSES)
        size = rng.choice([8.0, 30.0, 120.0, 300.0])
        objects.append(fakerestore.StoredObj("archive-a", key, size, storage, tier, f"web-{i}"))
    for i in range(count + rng.randint(0, 2)):
        obj = objects[i % count]
        spec: dict[str, Any] = {"bucket": obj.bucket, "objectKey": obj.key}
        if rng.random() < 0.1:
            spec["bucket"] = "refused-bucket"
        roll = rng.random()
        if roll < 0.4:
            spec["name"] = f"restored-{i}"
        elif roll < 0.5:
            spec["name"] = TAKEN
        if rng.random() < 0.85:
            spec["thaw"] = {
                "days": rng.randint(1, 3),
                "tier": rng.choice(["Standard", "Bulk", "Expedited"]),
            }
        if rng.random() < 0.3:
            spec["pollIntervalSeconds"] = int(
                rng.choice([i for i in INTERVALS if i <= interval * 4])
            )
        namespace = "team-b" if rng.random() < 0.2 else "team-a"
        specs[f"{namespace}/restore-{i}"] = spec
    active = interval * rng.uniform(3, 12) + 600
    durations = {o.key: rng.uniform(10, 48 * 3600) * scale for o in objects}
    failing = {o.key: 1 for o in objects if rng.random() < 0.25}
    actions = [Action(rng.uniform(0, active), "crash") for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    later = [key for key in specs if rng.random() < 0.5]  # the others exist at the start
    actions += [Action(rng.uniform(0, active), "create", key) for key in later]
    for key in specs:
        for _ in range(rng.choice([0, 0, 1, 2])):
            t = rng.uniform(0, active)
            value = (EPOCH + datetime.timedelta(seconds=int(t))).strftime("%Y-%m-%dT%H:%M:%SZ")
            actions.append(Action(t, "retry", key, value))
    actions += _renames(seed, specs, active)
    faults = fakerestore.Faults(down=_windows(rng, active, 0.4), lost=_windows(rng, active, 0.7))
    writes = fakekube.WriteFaults(
        refused=_windows(rng, active, 0.4), lost=_windows(rng, active, 0.3), rate=0.5
    )
    longest = max(
        [interval, *(float(s.get("pollIntervalSeconds", interval)) for s in specs.values())]
    )
    tail = 60 * 3600 * scale + max(durations.values()) + 12 * longest + 4 * 3600
    return Scenario(
        seed=seed,
        interval=interval,
        specs=specs,
        objects=tuple(objects),
        durations=durations,
        failing=failing,
        permission=restorepermission.Permission(
            rng.random() < 0.95, ("team-a",) if rng.random() < 0.3 else ("*",), ("archive-*",)
        ),
        thaw_scale=scale,
        day_seconds=rng.choice([86400.0, 3600.0 * scale + 1800]),  # over 2 looks (THAW_POLL)
        visibility=rng.choice([0.0, 5.0, 60.0]),
        lag=rng.choice([0.0, 2.0, 30.0]),
        aws_faults=faults,
        write_faults=writes,
        actions=tuple(sorted(actions, key=lambda a: a.t)),
        active=active,
        horizon=active + tail,
    )


def _renames(seed: int, specs: Mapping[str, Any], active: float) -> list[Action]:
    """People editing ``spec.name`` (a name taken, a typo): drawn apart, so that the rest of
    each seed's scenario is what it was before renames were drawn."""
    rng = random.Random(seed * 15_485_863 + 7)
    found = []
    for key in specs:
        for n in range(rng.choice([0, 0, 0, 1, 2])):
            found.append(Action(rng.uniform(0, active), "rename", key, f"renamed-{key[-1]}-{n}"))
    return found


def _windows(rng: random.Random, active: float, chance: float) -> list[tuple[float, float]]:
    found = []
    while rng.random() < chance:
        start = rng.uniform(0, active)
        found.append((start, start + rng.uniform(5, max(900.0, active / 3))))
    return found


@dataclasses.dataclass
class Log:
    """What happened in one run."""

    scenario: Scenario
    aws: fakerestore.FakeRestoreAws
    kube: fakekube.FakeApiServer
    posted: list[world.Posted]
    crashes: list[float]
    tracebacks: list[logging.LogRecord]
    end: float


class Process:
    """One run of the operator's restore side, from start to exit or crash."""

    def __init__(self, sc: Scenario, aws: fakerestore.FakeRestoreAws, run: Run) -> None:
        self._run = run
        self._kube = run.kube
        self._stopped = False
        self._tasks: list[asyncio.Task[None]] = []
        self._started = run.loop.time()
        self.svc = restorer.RestoreService(
            clients=aws.client,
            permission=sc.permission,
            default_region="eu-west-1",
            default_interval=sc.interval,
            clock=self._utcnow,
            runner=self._call,
        )

    def _utcnow(self) -> datetime.datetime:
        return EPOCH + datetime.timedelta(seconds=int(self._run.loop.time()))

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking AWS call: half the latency out, AWS acts, half back."""
        await asyncio.sleep(0.1)
        result = fn(*args, **kwargs)
        await asyncio.sleep(0.1)
        return result

    def ref(self, key: str) -> resource.ResourceRef:
        namespace, name = key.split("/")
        return resource.ResourceRef(namespace, name, self._kube.uids[key])

    def snapshot(self, version: fakekube.Version) -> resource.Snapshot:
        retry = version.annotations.get(handlers.RETRY_ANNOTATION)
        return resource.Snapshot(version.spec, version.status, version.generation, retry or None)

    def start(self, keys: list[str]) -> None:
        for key in keys:
            self.observe(key)
        for key in keys:
            self._tasks.append(asyncio.create_task(self._daemon(key)))

    def observe(self, key: str, version: fakekube.Version | None = None) -> None:
        if not self._stopped:
            seen = version or self._kube.current(key)
            self.svc.observe(self.ref(key), seen.generation, self.snapshot(seen))

    async def _daemon(self, key: str) -> None:
        ref, lag = self.ref(key), self._run.lag()

        def read() -> resource.Snapshot:
            since = self._run.loop.time() - self._started
            return self.snapshot(self._kube.watched(key, min(lag, since)))

        async def write(current: Mapping[str, Any]) -> bool:
            return await self._kube.write_status(key, current)

        def post(event: statusevents.Event) -> None:
            self._run.posted.append(world.Posted(self._run.loop.time(), key, event))

        while not self._stopped:
            try:
                await daemon.run(self.svc, ref, read, write, post, lambda: self._stopped)
            except Exception:
                logging.getLogger("amistore_operator.kube.handlers").exception("daemon %s", key)
                await asyncio.sleep(handlers.RETRY_SECONDS)

    async def crash(self) -> None:
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Run:
    """One run of a scenario's world on the running loop."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        later = {a.key for a in sc.actions if a.kind == "create"}
        self.keys = sorted(k for k in sc.specs if k not in later)
        self.posted: list[world.Posted] = []
        self.crashes: list[float] = []
        self.tracebacks = world.Traceback()

    def lag(self) -> float:
        return self.rng.uniform(0, self.sc.lag) if self.loop.time() < self.sc.active else 0.0

    async def start(self) -> None:
        sc = self.sc
        self.loop = asyncio.get_running_loop()
        self.rng = random.Random(sc.seed * 7919 + 5)
        self.aws = fakerestore.FakeRestoreAws(
            now=self.loop.time,
            rng=self.rng,
            objects=[dataclasses.replace(o) for o in sc.objects],
            images=[fakerestore.Image("ami-0000000000000ffff", TAKEN, -1.0)],
            durations=sc.durations,
            failing=sc.failing,
            visibility=sc.visibility,
            day_seconds=sc.day_seconds,
            thaw_scale=sc.thaw_scale,
            faults=sc.aws_faults,
        )
        self.kube = fakekube.FakeApiServer(
            now=self.loop.time, rng=self.rng, crd=fakekube.RESTORE_CRD
        )
        self.kube.faults = sc.write_faults
        logging.getLogger("amistore_operator").addHandler(self.tracebacks)
        self.proc = Process(sc, self.aws, self)
        self.kube.on_event = self._deliver
        for key in self.keys:
            self.kube.create(key, sc.specs[key])
        self.proc.start(self.keys)

    def _deliver(self, key: str) -> None:
        version, target = self.kube.current(key), self.proc
        self.loop.call_later(self.lag(), lambda: target.observe(key, version))

    async def act(self, action: Action) -> None:
        if action.kind == "create":
            self.kube.create(action.key, self.sc.specs[action.key])
            self.keys.append(action.key)
            self.proc.start([action.key])
        elif action.kind == "rename" and action.key in self.keys:
            spec = self.kube.current(action.key).spec
            self.kube.edit(action.key, {**spec, "name": action.value})
        elif action.kind == "retry" and action.key in self.keys:
            self.kube.annotate(action.key, handlers.RETRY_ANNOTATION, action.value)
        elif action.kind == "crash":
            self.crashes.append(self.loop.time())
            await self.proc.crash()
            self.proc = Process(self.sc, self.aws, self)
            self.proc.start(self.keys)

    async def finish(self) -> Log:
        try:
            await self.proc.crash()
        finally:
            logging.getLogger("amistore_operator").removeHandler(self.tracebacks)
        return Log(
            self.sc, self.aws, self.kube, self.posted, self.crashes, self.tracebacks.records,
            self.loop.time(),
        )  # fmt: skip


def run(sc: Scenario) -> Log:
    """Play ``sc`` on a fresh virtual-time loop."""
    return scenario.on_virtual_clock(_play(sc))


async def _play(sc: Scenario) -> Log:
    played = Run(sc)
    await played.start()
    try:
        for action in sc.actions:
            await asyncio.sleep(max(0.0, action.t - played.loop.time()))
            await played.act(action)
        await asyncio.sleep(max(0.0, sc.horizon - played.loop.time()))
    finally:
        log = await played.finish()
    return log
