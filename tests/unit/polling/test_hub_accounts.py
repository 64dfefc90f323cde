"""One poller and one budget per (account, region): accounts never share or slow each other."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from amistore_operator.core import model
from amistore_operator.polling import hub as poller_hub

from tests.unit.polling.test_poller import (
    REGION,
    FakeAwsError,
    FakeClock,
    FakeEc2,
    FakeMetrics,
    inline,
)

A, B = "111111111111", "222222222222"
AMI = "ami-0000000000000000a"


def spec(account: str, ami: str = AMI) -> model.AmiStoreSpec:
    return model.AmiStoreSpec((ami,), None, (), REGION, 60.0, account=account)


class LabelledMetrics(FakeMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[str] = []

    def set_poll_success(self, region: str, ts: float, account: str = "") -> None:
        self.accounts.append(account)


def accounts_hub(
    clock: FakeClock, clients: dict[str, FakeEc2], *, rate: float, burst: int
) -> poller_hub.PollerHub:
    """A hub whose client for each account is ``clients[account]``, seeded and inline."""
    return poller_hub.PollerHub(
        client_factory=lambda account, region: clients[account],
        rate=rate,
        burst=burst,
        metrics=FakeMetrics(),
        clock=clock,
        rng=random.Random(1),
        runner=inline,
    )


async def drive(clock: FakeClock, *tasks: asyncio.Task[Any], within: float = 10.0) -> None:
    limit = clock.now() + within
    await clock.settle()
    while not all(t.done() for t in tasks) and clock.now() < limit:
        await clock.advance(0.5)
    assert all(t.done() for t in tasks)


async def test_each_account_has_its_own_client_budget_and_poller() -> None:
    clock = FakeClock()
    clients = {account: FakeEc2(clock) for account in ("", A, B)}
    for client in clients.values():
        client.put(AMI, "InProgress")
    asked: list[tuple[str, str]] = []

    def factory(account: str, region: str) -> FakeEc2:
        asked.append((account, region))
        return clients[account]

    metrics = LabelledMetrics()
    hub = poller_hub.PollerHub(
        client_factory=factory,
        rate=1.0,
        burst=5,
        metrics=metrics,
        account_label=lambda account: account or "999999999999",
        clock=clock,
        rng=random.Random(1),
        runner=inline,
    )
    try:
        views = [
            asyncio.create_task(hub.view(f"ns/{n}", spec(account), {}))
            for n, account in (("own", ""), ("a", A), ("b", B))
        ]
        await drive(clock, *views)
        assert sorted(asked) == [("", REGION), (A, REGION), (B, REGION)]
        assert all(len(c.calls) == 1 for c in clients.values())  # one call each, never shared
        assert hub.budget(REGION, A) is not hub.budget(REGION, B)
        assert hub.budget(REGION) is not hub.budget(REGION, A)
        assert sorted(metrics.accounts) == ["111111111111", "222222222222", "999999999999"]
    finally:
        await hub.close()


async def test_a_throttled_account_does_not_slow_another() -> None:
    clock = FakeClock()
    clients = {A: FakeEc2(clock), B: FakeEc2(clock)}
    for client in clients.values():
        client.put(AMI, "InProgress")
    clients[A].fail = FakeAwsError(model.PollErrorReason.THROTTLED, "Rate exceeded")
    hub = accounts_hub(clock, clients, rate=0.5, burst=2)
    try:
        for _ in range(5):
            views = [
                asyncio.create_task(hub.view(f"ns/{n}", spec(account), {}))
                for n, account in (("a", A), ("b", B))
            ]
            await drive(clock, *views, within=130)
            a, b = (v.result() for v in views)
            assert a.error is not None
            assert a.error.reason is model.PollErrorReason.THROTTLED
            assert b.error is None
            assert b.tasks == {AMI: clients[B].tasks[AMI]}
        # B kept its interval: one call per poll, its budget untouched by A's retries.
        assert len(clients[B].calls) == 5
    finally:
        await hub.close()


async def test_changing_the_account_moves_the_resource() -> None:
    clock = FakeClock()
    clients = {A: FakeEc2(clock), B: FakeEc2(clock)}
    hub = accounts_hub(clock, clients, rate=1.0, burst=5)
    try:
        first = asyncio.create_task(hub.view("ns/x", spec(A), {}))
        await drive(clock, first)
        second = asyncio.create_task(hub.view("ns/x", spec(B), {}))
        await drive(clock, second)
        assert "ns/x" not in hub.region(REGION, A).subs
        assert "ns/x" in hub.region(REGION, B).subs
    finally:
        await hub.close()
