"""A whole simulated run, drawn from one seed, and the runner that plays it.

``draw(seed)`` picks the settings (a poll interval from 5 s to a day), the
AmiStores (how their AMIs, buckets and accounts overlap), AWS's behaviour (task
durations from seconds to many hours, failures, visibility delay, capacity,
rejected and denied AMIs, throttling, lost answers), the API server's (watch
lag, refused and lost writes) and what people do meanwhile (spec edits, specs
the operator rejects, retry annotations (mostly the time they are set, as the
docs tell; some free-form, some oversize), account map reloads, operator
crashes). Every run ends with a quiet tail without faults or
edits, long enough for every export to start and finish. ``draw(seed, verify=True)``
and ``draw(seed, cleanup=True)`` add verification and cleanup (``afterExport``) on top of
the same runs, each from its own generator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import fnmatch
import logging
import math
import random
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import looptime
from amistore_operator.core import accounts, export, images, timestamps
from amistore_operator.core import spec as specs_
from amistore_operator.kube import handlers

from tests.sim import fakeaws, fakeimages, fakekube, world

T = TypeVar("T")
REGION = "eu-west-1"
OTHER_ACCOUNT = "111111111111"
BUCKETS = ("archive-a", "archive-b")
INTERVALS = (5, 10, 30, 60, 120, 240, 300, 600, 900, 3600, 21600, 86400)


@dataclasses.dataclass(frozen=True)
class Action:
    """Something that happens at ``t`` (virtual seconds)."""

    t: float
    kind: str  # edit | retry | crash | reload
    key: str = ""
    spec: Mapping[str, Any] | None = None
    value: str = ""
    namespaces: tuple[str, ...] = ()  # reload: who may use OTHER_ACCOUNT


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Everything one run does, drawn from ``seed``."""

    seed: int
    interval: float
    specs: Mapping[str, Mapping[str, Any]]  # key -> the AmiStore's first spec
    amis: tuple[str, ...]
    invalid: tuple[str, ...]
    denied: tuple[str, ...]
    durations: Mapping[str, float]
    fails: tuple[str, ...]
    visibility: float  # the longest delay before a new task is listed
    capacity: int
    max_concurrent: int
    lag: float  # the longest watch lag
    aws_faults: fakeaws.Faults
    write_faults: fakekube.WriteFaults
    namespaces: tuple[str, ...]  # who may use OTHER_ACCOUNT at the start
    allowed_buckets: tuple[str, ...]
    actions: tuple[Action, ...]
    active: float  # faults and edits happen before this
    horizon: float  # the run ends here
    missing: tuple[str, ...] = ()  # AMIs whose exported objects S3 does not show
    # Cleanup (afterExport): the AMIs' traits (plain when absent), the buckets whose lifecycle
    # rule expires objects, and the operator's flags.
    images: Mapping[str, fakeimages.Traits] = dataclasses.field(default_factory=dict)
    expiring: tuple[str, ...] = ()
    cleanup: world.CleanupFlags = dataclasses.field(default_factory=world.CleanupFlags)


def retry_stamp(t: float) -> str:
    """A retry value as the docs tell people to set it: the time it is set, to the second."""
    return timestamps.format_time(fakeaws.EPOCH + datetime.timedelta(seconds=int(t)))


def _spec(rng: random.Random, amis: tuple[str, ...], interval: float) -> dict[str, Any]:
    chosen = sorted(rng.sample(amis, rng.randint(1, min(len(amis), 6))))
    spec: dict[str, Any] = {
        "imageIds": chosen,
        "bucket": rng.choice(BUCKETS),
        "createTasks": rng.random() < 0.9,
        "pollIntervalSeconds": interval,
    }
    if rng.random() < 0.3:
        spec["account"] = OTHER_ACCOUNT
    return spec


def draw(seed: int, *, verify: bool = False, cleanup: bool = False) -> Scenario:
    """The scenario of ``seed``; ``verify``: some AmiStores with ``verifyObjects`` too;
    ``cleanup``: some with ``afterExport``, and AMIs and buckets that block it.

    Each is drawn from its own generator, on top of the same scenario, so the seeds
    without it run exactly as before it existed.
    """
    drawn = _draw(seed)
    drawn = _with_verify(drawn) if verify else drawn
    return _with_cleanup(drawn) if cleanup else drawn


def _with_verify(sc: Scenario) -> Scenario:
    """``sc`` with ``verifyObjects`` on some specs (and edits) and some objects missing."""
    rng = random.Random(sc.seed * 1_000_003 + 17)

    def maybe(spec: Mapping[str, Any]) -> dict[str, Any]:
        return {**spec, "verifyObjects": True} if rng.random() < 0.6 else dict(spec)

    specs = {key: maybe(spec) for key, spec in sc.specs.items()}
    actions = tuple(
        dataclasses.replace(a, spec=maybe(a.spec)) if a.spec is not None else a for a in sc.actions
    )
    missing = tuple(a for a in sc.amis if rng.random() < 0.15)
    return dataclasses.replace(sc, specs=specs, actions=actions, missing=missing)


# The longest afterExportDelaySeconds drawn: every cleanup ends within the 30 minutes (and
# three intervals) past the last task's end that ``invariants.quiet_at_the_end`` allows.
MAX_DELAY = 1200
CLEANUP_TAIL_INTERVALS = 14
_AFTER_EXPORT = ("Deregister", "DeregisterAndDeleteSnapshots", "Keep", None)  # None: absent
_DEREGISTER_NAMESPACES = (("*",), ("*",), ("*",), ("team-a",), ("team-*",), ("ops",))
SHARED_WITH = ("333333333333", "arn:aws:organizations::333333333333:organization/o-example")
REFERENCE_ARNS = {
    "ec2:Instance": "arn:aws:ec2:{region}:{owner}:instance/i-{n:017x}",
    "ec2:LaunchTemplate": "arn:aws:ec2:{region}:{owner}:launch-template/lt-{n:017x}",
    "ssm:Parameter": "arn:aws:ssm:{region}:{owner}:parameter/golden/ami-{n}",
    "imagebuilder:ImageRecipe": "arn:aws:imagebuilder:{region}:{owner}:image-recipe/r{n}/1.0.0",
    "imagebuilder:ContainerRecipe": (
        "arn:aws:imagebuilder:{region}:{owner}:container-recipe/c{n}/1.0.0"
    ),
}


def _with_cleanup(sc: Scenario) -> Scenario:
    """``sc`` with ``afterExport`` on some specs (and edits), and blockers that come and go.

    Static blockers (public, shared, protected, another account's) keep an AMI for good;
    references live in windows that end before ``active``, so they go away; some buckets'
    lifecycle rules expire objects; the operator's flags allow some namespaces, or none.
    The quiet tail grows by the delay and the intervals an AMI found blocked may wait
    before it is looked at again (``cleanuprules.LOOK_AGAIN``).
    """
    rng = random.Random(sc.seed * 1_000_003 + 29)

    def after(spec: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(spec)
        if not out.get("imageIds"):
            return out
        choice = rng.choices(_AFTER_EXPORT, weights=(8, 7, 2, 3))[0]
        if choice is not None:
            out["afterExport"] = choice
        own = float(out["pollIntervalSeconds"])
        out["afterExportDelaySeconds"] = min(MAX_DELAY, int(own * rng.choice((0, 0, 0.5, 1, 3))))
        return out

    specs = {key: after(spec) for key, spec in sc.specs.items()}
    longest = max(float(spec["pollIntervalSeconds"]) for spec in specs.values())
    actions = tuple(
        dataclasses.replace(a, spec=after(a.spec)) if a.spec is not None else a for a in sc.actions
    )
    traits = {ami: _traits(rng, sc) for ami in sc.amis}
    flags = world.CleanupFlags(
        allow_deregister=rng.random() < 0.85,
        deregister_namespaces=rng.choice(_DEREGISTER_NAMESPACES),
    )
    return dataclasses.replace(
        sc,
        specs=specs,
        actions=actions,
        images={ami: t for ami, t in traits.items() if t != fakeimages.PLAIN},
        expiring=tuple(b for b in BUCKETS if rng.random() < 0.15),
        cleanup=flags,
        horizon=sc.horizon + MAX_DELAY + CLEANUP_TAIL_INTERVALS * longest,
        aws_faults=dataclasses.replace(
            sc.aws_faults, lost_deregister_rate=rng.choice((0.0, 0.0, 0.2))
        ),
    )


def _traits(rng: random.Random, sc: Scenario) -> fakeimages.Traits:
    """One AMI's blockers: mostly none."""
    references = []
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        kind = rng.choice(images.REFERENCE_TYPES)
        arn = REFERENCE_ARNS[kind].format(
            region=REGION, owner=world.OWN_ACCOUNT, n=rng.randrange(16**8)
        )
        start = rng.uniform(0, sc.active)
        end = min(sc.active, start + rng.uniform(1, 5) * sc.interval)
        references.append(fakeimages.Reference(kind, arn, start, end))
    protected = rng.random() < 0.06
    return fakeimages.Traits(
        public=rng.random() < 0.04,
        shared=(rng.choice(SHARED_WITH),) if rng.random() < 0.05 else (),
        protection=rng.choice(("enabled", "enabled-with-cooldown")) if protected else "disabled",
        references=tuple(references),
        foreign=rng.random() < 0.04,
    )


def _draw(seed: int) -> Scenario:
    rng = random.Random(seed)
    interval = float(rng.choice(INTERVALS))
    amis = tuple(f"ami-{i:08x}" for i in range(rng.randint(1, 10)))
    specs: dict[str, dict[str, Any]] = {}
    for i in range(rng.randint(1, 4)):
        namespace = rng.choice(("team-a", "team-b"))
        own = interval * rng.choice((1, 1, 1, 1, 2, 10))  # the longest is at most 10 times
        specs[f"{namespace}/store-{i}"] = _spec(rng, amis, min(86400.0, own))
    longest = max(5.0, min(interval * rng.uniform(0.2, 20), 12 * 3600))
    durations = {a: math.exp(rng.uniform(math.log(5), math.log(longest))) for a in amis}
    active = interval * rng.randint(3, 12)
    actions: list[Action] = []
    for _ in range(rng.randint(0, 8)):
        t = rng.uniform(0, active)
        key = rng.choice(sorted(specs))
        kind = rng.choice(("edit", "edit", "retry", "retry", "crash", "crash", "reload"))
        if kind == "edit":
            spec = _spec(rng, amis, specs[key]["pollIntervalSeconds"])
            if rng.random() < 0.2:
                spec["bucket"] = "a..b"  # the CRD accepts it, the operator rejects it
            elif rng.random() < 0.1:
                spec["region"] = "eu-west-100"
            actions.append(Action(t, kind, key, spec=spec))
        elif kind == "retry":
            # Mostly as the docs tell (the time it is set), some free-form, some oversize.
            if rng.random() < 0.15:
                value = "x" * 300
            else:
                number = rng.randint(0, 10**6)
                value = f"retry-{number}" if number % 4 == 0 else retry_stamp(t)
            actions.append(Action(t, kind, key, value=value))
        elif kind == "reload":
            allowed = rng.choice((("*",), ("team-a",), ("team-b",), ()))
            actions.append(Action(t, kind, namespaces=allowed))
        else:
            actions.append(Action(t, kind))

    def windows() -> list[tuple[float, float]]:
        out = []
        for _ in range(rng.randint(0, 2)):
            start = rng.uniform(0, active)
            out.append((start, min(active, start + rng.uniform(1, 3) * interval)))
        return out

    longest_interval = max(float(s["pollIntervalSeconds"]) for s in specs.values())
    quiet = max(durations.values()) * 1.2 + 12 * longest_interval + 20 * interval + 3600
    return Scenario(
        seed=seed,
        interval=interval,
        specs=specs,
        amis=amis,
        invalid=tuple(a for a in amis if rng.random() < 0.1),
        denied=tuple(a for a in amis if rng.random() < 0.1),
        durations=durations,
        fails=tuple(a for a in amis if rng.random() < 0.25),
        visibility=rng.choice((0.0, 2.0, 10.0, 30.0, 120.0)),
        capacity=rng.choice((2, 5, 20, 100)),
        max_concurrent=rng.choice((0, 2, 20)),
        lag=rng.choice((0.0, 0.5, 2.0, 10.0, 60.0)),
        aws_faults=fakeaws.Faults(
            throttle=windows(),
            unavailable=windows(),
            lost_create_rate=rng.choice((0.0, 0.0, 0.2)),
        ),
        write_faults=fakekube.WriteFaults(refused=windows(), lost=windows()),
        namespaces=rng.choice((("*",), ("*",), ("team-a",))),
        allowed_buckets=rng.choice((("archive-*",), ("archive-a",))),
        actions=tuple(sorted(actions, key=lambda a: a.t)),
        active=active,
        horizon=active + quiet,
    )


@dataclasses.dataclass
class Log:
    """What happened in one run: the inputs to every invariant."""

    scenario: Scenario
    ec2: fakeaws.FakeEc2
    kube: fakekube.FakeApiServer
    posted: list[world.Posted]
    maps: list[tuple[float, accounts.AccountMap]]  # the account map from each time on
    crashes: list[float]
    tracebacks: list[logging.LogRecord]
    end: float

    def exportable(self, key: str, raw: dict[str, Any]) -> bool:
        """Whether the operator may export for ``key``'s spec ``raw`` at the end of the run."""
        try:
            parsed = specs_.parse_spec(raw, default_region=REGION, default_interval=60)
        except specs_.SpecError:
            return False
        if not parsed.create_tasks or parsed.region != REGION:
            return False
        if not any(
            fnmatch.fnmatchcase(parsed.bucket or "", p) for p in self.scenario.allowed_buckets
        ):
            return False
        return self.maps[-1][1].denial(key.split("/")[0], parsed.account) is None


def account_map(namespaces: tuple[str, ...]) -> accounts.AccountMap:
    """A map that lets ``namespaces`` use OTHER_ACCOUNT, and everyone the own identity."""
    entry = accounts.AccountEntry(
        OTHER_ACCOUNT, f"arn:aws:iam::{OTHER_ACCOUNT}:role/amistore", None, namespaces
    )
    return accounts.AccountMap(accounts={OTHER_ACCOUNT: entry})


def run(scenario: Scenario) -> Log:
    """Play ``scenario`` on a fresh virtual-time loop."""
    return on_virtual_clock(_play(scenario))


def on_virtual_clock(play: Coroutine[Any, Any, T]) -> T:
    """Run ``play`` on a fresh looptime loop whose clock starts at 0 and jumps to each timer."""
    loop = looptime.new_event_loop(start=0.0)
    try:
        return loop.run_until_complete(play)
    finally:
        loop.close()


async def _play(sc: Scenario) -> Log:
    played = Run(sc)
    await played.start()
    try:
        for action in sc.actions:
            await played.advance_to(action.t)
            await played.act(action)
        await played.advance_to(sc.horizon)
    finally:
        log = await played.finish()
    return log


class Run:
    """One run of a scenario's world, driven a step at a time on the running loop.

    ``_play`` drives it from a drawn scenario; the stateful test (``test_stateful``)
    drives it rule by rule, with ``sc.actions`` empty and ``active`` set when its
    quiet tail starts. The fakes take their randomness from ``sc.seed``.
    """

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.active = sc.active  # the watch lags until then, and not in the quiet tail
        self.keys = sorted(sc.specs)
        self.maps = [(0.0, account_map(sc.namespaces))]
        self.posted: list[world.Posted] = []
        self.crashes: list[float] = []
        self.tracebacks = world.Traceback()
        self._generation = 0

    async def start(self) -> None:
        """Build the fakes, store the AmiStores, start the first process."""
        sc = self.sc
        self.loop = loop = asyncio.get_running_loop()
        self.rng = rng = random.Random(sc.seed * 7919 + 1)
        self.ec2 = fakeaws.FakeEc2(
            now=loop.time,
            rng=rng,
            amis=sc.amis,
            invalid=sc.invalid,
            denied=sc.denied,
            duration=lambda ami: sc.durations[ami],
            fails=lambda ami: ami in sc.fails,
            visibility=lambda: rng.uniform(0, sc.visibility),
            capacity=sc.capacity,
            faults=sc.aws_faults,
            images=sc.images,
        )
        self.ec2.missing = set(sc.missing)
        self.ec2.expiring = set(sc.expiring)
        self.kube = fakekube.FakeApiServer(now=loop.time, rng=rng)
        self.kube.faults = sc.write_faults
        logging.getLogger("amistore_operator").addHandler(self.tracebacks)
        self.config = world.Config(
            region=REGION,
            interval=sc.interval,
            permission=export.Permission(True, sc.allowed_buckets, ("*",)),
            max_concurrent=sc.max_concurrent,
            cleanup=sc.cleanup,
        )
        self.proc = self._process()
        self.kube.on_event = self._deliver
        for key, spec in sc.specs.items():
            self.kube.create(key, spec)
        self.proc.start(self.keys)

    def _lag(self) -> float:
        return self.rng.uniform(0, self.sc.lag) if self.loop.time() < self.active else 0.0

    def _process(self) -> world.Process:
        self._generation += 1
        return world.Process(
            config=self.config,
            ec2=self.ec2,
            kube=self.kube,
            account_map=lambda: self.maps[-1][1],
            lag=self._lag,
            seed=self.sc.seed * 31 + self._generation,
            posted=self.posted,
        )

    def _deliver(self, key: str) -> None:
        version = self.kube.current(key)
        target = self.proc
        self.loop.call_later(self._lag(), lambda: target.observe(key, version))

    async def advance_to(self, t: float) -> None:
        """Let the world run until virtual time ``t``."""
        await asyncio.sleep(max(0.0, t - self.loop.time()))

    async def act(self, action: Action) -> None:
        """Do ``action`` now (its ``t`` is not looked at)."""
        if action.kind == "edit":
            self.kube.edit(action.key, action.spec or {})
        elif action.kind == "retry":
            self.kube.annotate(action.key, handlers.RETRY_ANNOTATION, action.value)
        elif action.kind == "reload":
            self.maps.append((self.loop.time(), account_map(action.namespaces)))
            self.proc.svc.accounts_changed()
        elif action.kind == "crash":
            self.crashes.append(self.loop.time())
            await self.proc.crash()
            self.proc = self._process()
            self.proc.start(self.keys)

    def log(self, sc: Scenario | None = None) -> Log:
        """What happened so far (the run's scenario unless ``sc`` is given)."""
        return Log(
            sc or self.sc,
            self.ec2,
            self.kube,
            self.posted,
            self.maps,
            self.crashes,
            self.tracebacks.records,
            self.loop.time(),
        )

    async def finish(self) -> Log:
        """The process exits; what happened."""
        try:
            await self.proc.crash()
        finally:
            logging.getLogger("amistore_operator").removeHandler(self.tracebacks)
        return self.log()


def make(
    specs: Mapping[str, Mapping[str, Any]],
    *,
    seed: int = 1,
    interval: float = 60.0,
    durations: Mapping[str, float] | None = None,
    actions: tuple[Action, ...] = (),
    active: float | None = None,
    **settings: Any,
) -> Scenario:
    """A hand-written scenario: these AmiStores, no faults unless given, a quiet tail."""
    amis = tuple(sorted({a for s in specs.values() for a in s.get("imageIds", ())}))
    durations = dict(durations or dict.fromkeys(amis, 60.0))
    active = active if active is not None else max([interval * 3, *(a.t for a in actions)])
    longest = max(float(s.get("pollIntervalSeconds", interval)) for s in specs.values())
    fields: dict[str, Any] = {
        "seed": seed,
        "interval": interval,
        "specs": specs,
        "amis": amis,
        "invalid": (),
        "denied": (),
        "durations": durations,
        "fails": (),
        "visibility": 0.0,
        "capacity": 100,
        "max_concurrent": 20,
        "lag": 0.0,
        "aws_faults": fakeaws.Faults(),
        "write_faults": fakekube.WriteFaults(),
        "namespaces": ("*",),
        "allowed_buckets": ("archive-*",),
        "actions": actions,
        "active": active,
        "horizon": active + max(durations.values()) * 1.2 + 12 * longest + 3600,
    }
    fields.update(settings)
    return Scenario(**fields)
