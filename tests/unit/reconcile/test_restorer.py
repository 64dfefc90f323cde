"""AmiRestore through its service: the name written first, one create, then the image followed."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from amistore_operator.core import restorepermission
from amistore_operator.core import restoreview as rv
from amistore_operator.reconcile import resource, restorer

from tests.sim import fakerestore
from tests.sim.fakeaws import EPOCH

# Each poll after the first waits its interval: on a virtual clock (looptime), at once.
pytestmark = pytest.mark.looptime

BUCKET, KEY = "amis-archive", "ami-0123456789abcdef0.bin"
RAW: dict[str, Any] = {"bucket": BUCKET, "objectKey": KEY, "pollIntervalSeconds": 30}
REF = resource.ResourceRef("team", "web", "uid-1")
ALLOW = restorepermission.Permission(True, ("*",), ("amis-*",))


async def inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


class World:
    """One AWS fake, and the statuses an API server stores, across operator restarts."""

    def __init__(self, storage_class: str = "STANDARD", **fake: Any) -> None:
        self.t = 0.0
        obj = fakerestore.StoredObj(BUCKET, KEY, 8.0, storage_class, ami_name="web-2026")
        self.aws = fakerestore.FakeRestoreAws(
            now=lambda: self.t, rng=random.Random(1), objects=[obj], **fake
        )
        self.status: dict[str, Any] | None = None
        self.retry: str | None = None
        self.events: list[str] = []
        self.start()

    def start(self, permission: restorepermission.Permission = ALLOW) -> None:
        """A (re)started operator: it knows only what is stored."""
        self.svc = restorer.RestoreService(
            clients=self.aws.client,
            permission=permission,
            default_region="eu-west-1",
            default_interval=60,
            clock=lambda: EPOCH + datetime.timedelta(seconds=int(self.t)),
            runner=inline,
        )

    async def poll(self, raw: Mapping[str, Any] = RAW, *, stored: bool = True) -> Any:
        snap = resource.Snapshot(raw, self.status, 1, retry_requested=self.retry)
        outcome = await self.svc.poll(REF, lambda: snap)
        if outcome.changed and stored:
            self.status = outcome.status
            self.svc.written(REF)
        self.events += [e.reason for e in outcome.events]
        return outcome

    def creates(self) -> list[fakerestore.Call]:
        return [c for c in self.aws.calls if c.op == "create" and c.outcome in ("acted", "lost")]

    def condition(self, kind: str) -> dict[str, Any]:
        assert self.status is not None
        return next(c for c in self.status["conditions"] if c["type"] == kind)


async def test_the_name_is_stored_before_the_one_create_then_the_image_is_followed() -> None:
    world = World(durations={KEY: 60.0})
    await world.poll()
    assert world.status is not None
    assert (world.status["phase"], world.status["imageName"]) == ("Pending", "web-2026")
    assert world.status["requestedTime"]
    assert world.creates() == []
    await world.poll()
    assert len(world.creates()) == 1
    assert world.creates()[0].uid == "uid-1"
    assert world.status["phase"] == "Restoring"
    world.t += 30
    await world.poll()
    assert world.status["progressPercentage"] == 50
    world.t += 40
    await world.poll()
    assert world.status["phase"] == "Available"
    assert world.condition("Complete")["status"] == "True"
    assert world.events == ["RestoreRequested", "RestoreCompleted"]
    calls = len(world.aws.calls)
    for _ in range(5):  # steady: no call, no write
        world.t += 60
        assert not (await world.poll()).changed
    world.start()  # and across a restart
    assert not (await world.poll()).changed
    assert len(world.aws.calls) == calls
    assert len(world.creates()) == 1


async def test_a_lost_answer_or_a_crash_is_adopted_by_name_never_asked_twice() -> None:
    world = World(faults=fakerestore.Faults(lost=[(1.0, 2.0)]), visibility=20.0)
    await world.poll()
    world.t = 1.0
    await world.poll()  # AWS acted; the answer was lost
    assert world.status is not None
    assert "imageId" not in world.status
    assert world.condition("Synced")["reason"] == "AwsUnavailable"
    world.start()  # a restart: the recorded name is looked up first
    world.t = 5.0
    await world.poll()  # not listed yet: the create is asked again, AWS says the name is taken
    world.t = 30.0
    await world.poll()
    assert world.status["phase"] in ("Restoring", "Available")
    assert world.status["imageId"] == world.creates()[0].image_id
    assert len(world.creates()) == 1
    assert world.events.count("RestoreRequested") == 1


async def test_an_image_of_its_uid_is_adopted_though_the_status_lost_its_name() -> None:
    # The restore simulation's renames: a restart reads a status older than the stored
    # name, and spec.name was edited meanwhile; the name alone would restore a second AMI.
    world = World()
    await world.poll({**RAW, "name": "first"})
    await world.poll({**RAW, "name": "first"})
    assert [c.name for c in world.creates()] == ["first"]
    world.status = None  # what the restarted operator reads
    world.start()
    await world.poll({**RAW, "name": "second"})
    assert world.status is not None
    assert world.status["imageName"] == "first"  # the image's, not the edited spec's
    await world.poll({**RAW, "name": "second"})
    assert world.status["phase"] == "Restoring"
    assert world.status["imageId"] == world.creates()[0].image_id
    assert len(world.creates()) == 1
    world.t += 600
    await world.poll({**RAW, "name": "second"})
    assert world.status["phase"] == "Available"
    calls = len(world.aws.calls)
    for restarted in (False, False, False, True, False):  # steady, and across a restart
        if restarted:
            world.start()
        world.t += 60
        assert not (await world.poll({**RAW, "name": "second"})).changed
    assert len(world.aws.calls) == calls
    assert len(world.creates()) == 1
    assert [c.op for c in world.aws.calls].count("image_of") == 2  # only before a name


async def test_an_archived_object_is_thawed_once_then_restored() -> None:
    world = World("DEEP_ARCHIVE")
    await world.poll()
    assert world.status is not None
    assert world.condition("Synced")["reason"] == "ObjectArchived"
    assert "spec.thaw" in world.condition("Synced")["message"]
    assert not any(c.op in ("thaw", "create") for c in world.aws.calls)
    raw = {**RAW, "thaw": {"days": 3, "tier": "Bulk"}}
    await world.poll(raw)
    assert world.status["phase"] == "Thawing"
    for _ in range(3):
        world.t += 3600
        await world.poll(raw)
    assert [c.op for c in world.aws.calls].count("thaw") == 1
    world.t += 48 * 3600
    await world.poll(raw)
    assert world.status["imageName"] == "web-2026"
    assert not world.creates()
    await world.poll(raw)
    assert len(world.creates()) == 1
    assert world.events[:2] == ["ObjectThawing", "RestoreRequested"]


async def test_a_refused_restore_makes_no_call() -> None:
    for permission, reason in (
        (restorepermission.Permission(), "RestoreNotAllowed"),
        (restorepermission.Permission(True, ("prod-*",), ("*",)), "NamespaceNotAllowed"),
        (restorepermission.Permission(True, ("*",), ("other-*",)), "BucketNotAllowed"),
    ):
        world = World()
        world.start(permission)
        for _ in range(3):
            await world.poll()
            world.t += 60
        assert world.condition("Synced")["reason"] == reason
        assert world.aws.calls == []


async def test_a_name_another_ami_holds_fails_and_names_it() -> None:
    other = fakerestore.Image("ami-00000000000000abc", "web-2026", -100.0)
    world = World(images=[other])
    await world.poll()
    await world.poll()  # the create: AWS says the name is taken, by an AMI not ours
    assert world.status is not None
    assert world.status["phase"] == "Failed"
    assert "ami-00000000000000abc" in world.status["failureReason"]
    assert world.condition("Failed")["status"] == "True"
    assert world.events == ["RestoreFailed"]


async def test_a_retry_deregisters_only_its_failed_image_then_asks_once_more() -> None:
    world = World(failing={KEY: 1}, durations={KEY: 10.0})
    for _ in range(3):
        await world.poll()
        world.t += 20
    assert world.status is not None
    assert world.status["phase"] == "Failed"
    failed = world.status["imageId"]
    world.retry = "2026-01-01T01:00:00Z"
    for _ in range(5):
        await world.poll()
        world.t += 20
    assert [c.image_id for c in world.aws.calls if c.op == "deregister"] == [failed]
    assert world.status["phase"] == "Available"
    assert world.status["imageId"] != failed
    assert world.status["lastHandledRetryAt"] == world.retry
    assert len(world.creates()) == 2
    for _ in range(3):  # the same value asks nothing more
        world.t += 60
        assert not (await world.poll()).changed
    assert len(world.creates()) == 2


async def test_the_restore_limit_waits_with_backoff() -> None:
    busy = fakerestore.Image("ami-00000000000000abc", "big", 0.0, 10_000.0, uid="x", size_gb=595)
    world = World(images=[busy])
    await world.poll()
    await world.poll()
    assert world.status is not None
    assert world.condition("Synced")["reason"] == "RestoreLimitExceeded"
    assert world.status["phase"] == "Pending"
    world.t += 30
    await world.poll()  # within the backoff: no call
    assert [c.outcome for c in world.aws.calls if c.op == "create"] == ["limit"]
    world.t += 20_000  # the big restore is done
    await world.poll()
    assert len(world.creates()) == 1
    assert world.condition("Synced")["status"] == "True"


def test_the_uid_tag_marks_an_image_as_this_restores() -> None:
    image = rv.RestoredImage("ami-1", "n", "pending", tags=((rv.RESTORE_UID_TAG, "uid-1"),))
    assert image.tag(rv.RESTORE_UID_TAG) == "uid-1"
