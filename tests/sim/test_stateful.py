"""The simulation driven step by step by Hypothesis's stateful testing, which shrinks a failure.

``SimMachine`` builds the world ``scenario.Run`` builds for a seed, from settings
Hypothesis draws (``worlds``), then runs one rule at a time on the same looptime
loop: the actions of a drawn scenario (spec edits, bucket moves, export off and
on, specs the operator rejects, retry values, account map reloads, crashes),
fault windows of AWS and the API server, and waits of a drawn length. The rules
that can break at any step (``STEPWISE``) are checked after every step, so a
shrunk failure ends at the step that broke one; after a quiet tail as long as a
drawn scenario's, every rule in ``invariants`` is checked. A step that never
ends (a task of a crashed process that lives on after its cancellation) fails too.

``make test`` runs a few derandomized examples (the same ones on every run);
``make sim-stateful EXAMPLES=N`` (``AMISTORE_SIM_EXAMPLES=N``) draws N new ones.
A failure prints its steps, shrunk, as a program to read or to paste into a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import looptime
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from tests.sim import fakeaws, fakekube, invariants, scenario

T = TypeVar("T")
AMIS = tuple(f"ami-{i:08x}" for i in range(6))
NAMESPACES = ("team-a", "team-b")
STEP_SLACK = 60.0  # virtual seconds a step may run past its own length (an action: none)
# Every rule a run can break before its end: checked after each step.
STEPWISE = (
    invariants.never_twice,
    invariants.no_call_through_refused_account,
    invariants.statuses_valid,
    invariants.no_idle_write,
    invariants.no_traceback,
)


def _log_scale(low: float, high: float) -> st.SearchStrategy[float]:
    """Seconds from ``low`` to ``high``, as likely in each decade."""
    return st.floats(math.log(low), math.log(high)).map(lambda x: round(math.exp(x), 1))


@st.composite
def specs(draw: st.DrawFn, interval: float) -> dict[str, Any]:
    """An export-mode AmiStore's spec, as ``scenario._spec`` draws one (``export`` turns it off)."""
    spec: dict[str, Any] = {
        "imageIds": sorted(draw(st.lists(st.sampled_from(AMIS), min_size=1, unique=True))),
        "bucket": draw(st.sampled_from(scenario.BUCKETS)),
        "createTasks": True,
        "pollIntervalSeconds": interval,
    }
    if draw(st.sampled_from(("own", "own", "other"))) == "other":
        spec["account"] = scenario.OTHER_ACCOUNT
    return spec


@st.composite
def worlds(draw: st.DrawFn) -> scenario.Scenario:
    """The settings of one run: the scenario ``draw`` would pick, without its actions."""
    interval = float(round(draw(_log_scale(5, 86400))))
    stores: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 4))):
        own = min(86400.0, interval * draw(st.sampled_from((1, 2, 10))))
        stores[f"{draw(st.sampled_from(NAMESPACES))}/store-{i}"] = draw(specs(own))
    longest = max(5.0, min(20 * interval, 12 * 3600))

    def some(most: int) -> st.SearchStrategy[tuple[str, ...]]:
        amis = st.lists(st.sampled_from(AMIS), max_size=most, unique=True)
        return amis.map(lambda chosen: tuple(sorted(chosen)))

    return scenario.Scenario(
        seed=draw(st.integers(0, 2**16)),  # the fakes' coin flips: visibility, lag, faults
        interval=interval,
        specs=stores,
        amis=AMIS,
        invalid=draw(some(1)),
        denied=draw(some(1)),
        durations={a: draw(_log_scale(5, longest)) for a in AMIS},
        fails=draw(some(2)),
        visibility=draw(st.sampled_from((0.0, 2.0, 10.0, 30.0, 120.0))),
        capacity=draw(st.sampled_from((100, 20, 5, 2))),
        max_concurrent=draw(st.sampled_from((20, 2, 0))),
        lag=draw(st.sampled_from((0.0, 0.5, 2.0, 10.0, 60.0))),
        aws_faults=fakeaws.Faults(lost_create_rate=draw(st.sampled_from((0.0, 0.2)))),
        write_faults=fakekube.WriteFaults(),
        namespaces=draw(st.sampled_from((("*",), ("*",), ("team-a",)))),
        allowed_buckets=draw(st.sampled_from((("archive-*",), ("archive-a",)))),
        actions=(),
        active=math.inf,  # the watch lags until the quiet tail, set at the end
        horizon=math.inf,
    )


def _awaits(task: asyncio.Task[Any]) -> str:
    """Where ``task`` waits: its chain of coroutines, outermost first."""
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None)
    return " > ".join(chain)


class SimMachine(RuleBasedStateMachine):
    """One run of the simulated world, a step at a time."""

    stores = Bundle("stores")

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.run: scenario.Run | None = None
        self.actions: list[scenario.Action] = []
        self.windows: list[tuple[float, float]] = []
        self.clean = True  # every step so far ended, keeping every rule

    @property
    def world(self) -> scenario.Run:
        assert self.run is not None
        return self.run

    def _drive(self, step: Coroutine[Any, Any, T], seconds: float = 0.0) -> T:
        """Run the loop until ``step`` ends; ``clean`` stays False if it raises.

        A step fails if it runs ``STEP_SLACK`` virtual seconds past its length: a crash
        ends every task of the process at once, and a task that swallowed its
        cancellation would keep it waiting forever.
        """
        loop = self.loop
        assert loop is not None
        self.clean = False
        task = loop.create_task(step)
        stuck: list[str] = []

        def overdue() -> None:
            survivors = [t for t in asyncio.all_tasks(loop) if t.cancelling() and t is not task]
            stuck.extend(f"{t.get_name()} in {_awaits(t)}" for t in survivors)
            stuck.append(f"(virtual time {loop.time():.1f})")
            task.cancel()

        timer = loop.call_later(seconds + STEP_SLACK, overdue)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        timer.cancel()
        # Raised here, not in the handler: the same failure, however the task was cancelled.
        assert not stuck, (
            f"a step still runs {STEP_SLACK:.0f} virtual seconds past its end; tasks "
            f"cancelled that live on: {'; '.join(stuck)}"
        )
        result = task.result()
        self.clean = True
        return result

    def now(self) -> float:
        """Virtual seconds since the run started."""
        return self.world.loop.time()

    def _act(self, kind: str, key: str = "", **fields: Any) -> None:
        action = scenario.Action(self.now(), kind, key, **fields)
        self.actions.append(action)
        self._drive(self.world.act(action))

    def _spec(self, key: str) -> dict[str, Any]:
        return dict(self.world.kube.current(key).spec)

    @initialize(target=stores, sc=worlds())
    def setup(self, sc: scenario.Scenario) -> MultipleResults[str]:
        self.loop = looptime.new_event_loop(start=0.0)
        self.run = scenario.Run(sc)
        self._drive(self.run.start())
        return multiple(*sc.specs)

    @rule(key=stores, data=st.data())
    def edit(self, key: str, data: st.DataObject) -> None:
        """A new spec: AMIs, bucket, account."""
        interval = float(self._spec(key)["pollIntervalSeconds"])
        self._act("edit", key, spec=data.draw(specs(interval), label="spec"))

    @rule(key=stores, bucket=st.sampled_from(scenario.BUCKETS))
    def move(self, key: str, bucket: str) -> None:
        """The same AMIs into another bucket."""
        self._act("edit", key, spec={**self._spec(key), "bucket": bucket})

    @rule(key=stores, on=st.booleans())
    def export(self, key: str, on: bool) -> None:
        """``createTasks`` off or on."""
        self._act("edit", key, spec={**self._spec(key), "createTasks": on})

    @rule(key=stores, field=st.sampled_from(("bucket", "region")))
    def reject(self, key: str, field: str) -> None:
        """A spec the CRD accepts and the operator rejects."""
        bad = {"bucket": "a..b", "region": "eu-west-100"}[field]
        self._act("edit", key, spec={**self._spec(key), field: bad})

    @rule(key=stores, kind=st.sampled_from(("time", "free-form", "oversize")), n=st.integers(0, 9))
    def retry(self, key: str, kind: str, n: int) -> None:
        """A new retry value: the time it is set (as the docs tell), free-form, or oversize."""
        value = {
            "time": scenario.retry_stamp(self.now()),
            "free-form": f"retry-{n}",
            "oversize": "x" * 300,
        }[kind]
        self._act("retry", key, value=value)

    @rule(namespaces=st.sampled_from((("*",), ("team-a",), ("team-b",), ())))
    def reload(self, namespaces: tuple[str, ...]) -> None:
        """A new account map: who may use the other account."""
        self._act("reload", namespaces=namespaces)

    @rule()
    def crash(self) -> None:
        """The operator dies; a new process starts from the stored statuses."""
        self._act("crash")

    @rule(
        fault=st.sampled_from(("throttle", "unavailable", "refused", "lost")),
        intervals=st.floats(1, 3),
    )
    def fault(self, fault: str, intervals: float) -> None:
        """For the next few intervals, AWS throttles or fails, or status writes fail."""
        world = self.world
        window = (self.now(), self.now() + intervals * world.sc.interval)
        self.windows.append(window)
        windows = {
            "throttle": world.ec2.faults.throttle,
            "unavailable": world.ec2.faults.unavailable,
            "refused": world.kube.faults.refused,  # 409 or 5xx
            "lost": world.kube.faults.lost,  # stored, but the answer times out
        }
        windows[fault].append(window)

    @rule(intervals=st.floats(0, 3))
    def wait(self, intervals: float) -> None:
        """Time passes: up to three intervals."""
        seconds = intervals * self.world.sc.interval
        self._drive(self.world.advance_to(self.now() + seconds), seconds)

    @rule(seconds=st.floats(0, 2))
    def nudge(self, seconds: float) -> None:
        """Time passes: up to two seconds, a few calls' latency."""
        self._drive(self.world.advance_to(self.now() + seconds), seconds)

    @invariant()
    def stepwise(self) -> None:
        """The rules a run can break before its end (``STEPWISE``), after every step."""
        self.clean = False
        log = self.world.log()
        broken = {f.__name__: found for f in STEPWISE if (found := f(log))}
        assert not broken, broken
        self.clean = True

    def teardown(self) -> None:
        """After a quiet tail as long as a drawn scenario's, every rule."""
        if self.loop is None:
            return
        try:
            if self.run is not None and self.clean:
                self._settle(self.run)
            elif self.run is not None:
                # A step broke: stop the world quietly, so that the step's error stands.
                with contextlib.suppress(Exception):
                    self._drive(self.run.finish())
        finally:
            self.loop.close()

    def _settle(self, run: scenario.Run) -> None:
        sc = run.sc
        active = max([self.now(), *(end for _, end in self.windows)])
        run.active = active  # the watch lags no more from then on, as in a drawn scenario
        longest = max(float(s["pollIntervalSeconds"]) for s in sc.specs.values())
        quiet = max(sc.durations.values()) * 1.2 + 12 * longest + 20 * sc.interval + 3600
        ended = dataclasses.replace(
            sc, actions=tuple(self.actions), active=active, horizon=active + quiet
        )
        self._drive(run.advance_to(ended.horizon), ended.horizon - self.now())
        self._drive(run.finish())
        broken = invariants.check(run.log(ended))
        assert not broken, broken


EXAMPLES = int(os.environ.get("AMISTORE_SIM_EXAMPLES") or 0)
STEPS = int(os.environ.get("AMISTORE_SIM_STEPS") or 20)


# Hypothesis shrinks a failure for up to 5 minutes: time enough to print the shrunk steps
# (no limit when drawing more examples).
@pytest.mark.timeout(0 if EXAMPLES else 900)
class TestSimMachine(SimMachine.TestCase):  # type: ignore[misc,valid-type]
    """The state machine as a test."""

    settings = settings(
        max_examples=EXAMPLES or 25,
        stateful_step_count=STEPS,
        deadline=None,
        # make test: the same examples on every run. More examples: new ones each time,
        # and a failure prints its shrunk steps and the @reproduce_failure that replays it.
        derandomize=not EXAMPLES,
        database=None,
        print_blob=bool(EXAMPLES),
        suppress_health_check=[HealthCheck.too_slow],
    )
