"""Accounts in the service: the map decides before any AWS call; a reload applies at once."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from amistore_operator.core import accounts
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, service

from tests.unit.reconcile.test_service import AMI, NOW, FakeHub, reader

A = "111111111111"
OWN = "999999999999"
MAP = accounts.parse(
    {
        "accounts": {
            A: {"roleArn": f"arn:aws:iam::{A}:role/amistore", "namespaces": ["team"]},
        },
        "defaultNamespaces": ["team"],
    }
)
TEAM = resource.ResourceRef(namespace="team", name="golden")
OTHER = resource.ResourceRef(namespace="other", name="golden")
OWN_ID = resource.ResourceRef(namespace="other", name="own")


def make(current: list[accounts.AccountMap]) -> tuple[service.AmiStoreService, FakeHub]:
    hub = FakeHub()
    svc = service.AmiStoreService(
        hub=cast(Any, hub),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=0.05,
        clock=lambda: NOW,
        account_map=lambda: current[0],
        own_account=lambda: OWN,
    )
    return svc, hub


def synced(outcome: Any) -> tuple[str, str, str]:
    condition = outcome.status["conditions"][0]
    return condition["status"], condition["reason"], condition["message"]


async def test_an_allowed_account_is_polled_and_shown() -> None:
    svc, hub = make([MAP])
    outcome = await svc.poll(TEAM, reader({"imageIds": [AMI], "account": A}))
    assert synced(outcome)[:2] == ("True", "Polled")
    assert outcome.status["account"] == A
    assert hub.views[0][1].account == A


async def test_without_spec_account_the_status_shows_the_operators_own() -> None:
    svc, _ = make([MAP])
    outcome = await svc.poll(TEAM, reader({"imageIds": [AMI]}))
    assert outcome.status["account"] == OWN


async def test_an_own_account_learnt_while_the_first_poll_waits_is_in_its_status() -> None:
    # STS names the operator's own account a moment after the start; the first polls are
    # waiting for the poller's data by then. Their status names it at once, not one
    # interval later in a second write that no change in AWS or the spec asked for.
    own = [""]
    hub = FakeHub()
    svc = service.AmiStoreService(
        hub=cast(Any, hub),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=0.05,
        clock=lambda: NOW,
        account_map=lambda: MAP,
        own_account=lambda: own[0],
    )
    hub.on_view = lambda: own.__setitem__(0, OWN)  # STS answers during the wait
    outcome = await svc.poll(TEAM, reader({"imageIds": [AMI]}))
    assert outcome.status["account"] == OWN


async def test_a_denied_namespace_gets_account_not_allowed_and_no_aws_call() -> None:
    svc, hub = make([MAP])
    for ref, raw in (
        (OTHER, {"imageIds": [AMI], "account": A}),  # namespace not allowed
        (TEAM, {"imageIds": [AMI], "account": "222222222222"}),  # account not in the map
        (OWN_ID, {"imageIds": [AMI]}),  # not in defaultNamespaces
    ):
        outcome = await svc.poll(ref, reader(raw))
        assert synced(outcome)[:2] == ("False", "AccountNotAllowed")
    assert hub.views == []
    assert synced(outcome)[2] == (
        'namespace "other" may not use the operator\'s own AWS identity (not in '
        "defaultNamespaces of the operator's account map); set spec.account"
    )


async def test_a_denied_resource_is_looked_at_again_quietly() -> None:
    svc, hub = make([MAP])
    raw = {"imageIds": [AMI], "account": A}
    first = await svc.poll(OTHER, reader(raw))
    again = await svc.poll(OTHER, reader(raw, first.status))  # waits one interval (0.05 s)
    assert not again.changed
    assert hub.views == []


async def test_a_reload_that_revokes_ends_the_wait_and_marks_it() -> None:
    current = [MAP]
    svc, hub = make(current)
    raw = {"imageIds": [AMI], "account": A}
    first = await svc.poll(TEAM, reader(raw))
    assert synced(first)[0] == "True"

    def revoke() -> None:
        current[0] = accounts.NO_MAP
        svc.accounts_changed()

    hub.on_view = revoke  # the map changes while the resource waits for its refresh
    outcome = await svc.poll(TEAM, reader(raw, first.status))
    assert synced(outcome)[:2] == ("False", "AccountNotAllowed")
    assert "team/golden" in hub.forgotten
    assert outcome.status["tasks"] == first.status["tasks"]  # what is known is kept


async def test_a_reload_that_allows_wakes_a_denied_resource() -> None:
    current = [accounts.NO_MAP]
    svc, hub = make(current)
    svc._default_interval = 60  # only the reload may end this wait
    raw = {"imageIds": [AMI], "account": A}
    first = await svc.poll(TEAM, reader(raw))
    polling = asyncio.ensure_future(svc.poll(TEAM, reader(raw, first.status)))
    await asyncio.sleep(0.01)
    assert not polling.done()
    current[0] = MAP
    svc.accounts_changed()
    outcome = await asyncio.wait_for(polling, timeout=5)
    assert synced(outcome)[0] == "True"
    assert [key for key, _, _ in hub.views] == ["team/golden"]


async def test_the_watch_starts_with_the_first_poll_and_stops_with_the_service() -> None:
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def watch(on_change: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    svc = service.AmiStoreService(
        hub=cast(Any, FakeHub()),
        collector=metrics.TaskCollector(),
        default_region="eu-west-1",
        default_interval=60,
        clock=lambda: NOW,
        watch_accounts=watch,
    )
    await svc.poll(TEAM, reader({"imageIds": [AMI]}))
    await asyncio.wait_for(started.wait(), timeout=5)
    await svc.close()
    assert stopped.is_set()
