"""afterExport through the service: guards read, the entry marked, then one DeregisterImage."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any, cast

from amistore_operator.aws import errors
from amistore_operator.core import cleanuppermission, model, verify
from amistore_operator.core import images as amis
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, service

from tests.unit.reconcile.test_exporter import inline
from tests.unit.reconcile.test_service import AMI, NOW, REF, FakeHub
from tests.unit.reconcile.test_verifystep import FOUND, FakeObjects

OWN = "111122223333"
BUSY = "ami-0fedcba9876543210"
RAW = {
    "imageIds": [AMI, BUSY],
    "bucket": "amis-prod",
    "afterExport": "DeregisterAndDeleteSnapshots",
    "afterExportDelaySeconds": 0,
}
IMAGE = amis.Image(AMI, OWN, "available", False, "disabled", ("snap-1", "snap-2"))
ALLOW = cleanuppermission.Permission(allow_deregister=True)
MINUTE = datetime.timedelta(minutes=1)


class ArchiveHub(FakeHub):
    """AMI's export Completed into amis-prod; BUSY's still running."""

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        await super().view(key, spec, known, awaiting=awaiting)
        tasks: dict[str, model.StoreTask | None] = {}
        for ami in spec.image_ids:
            done = ami == AMI
            state = model.TaskState.COMPLETED if done else model.TaskState.IN_PROGRESS
            tasks[ami] = model.StoreTask(
                ami, state, 100 if done else 30, "amis-prod", f"{ami}.bin", start_time=NOW
            )
        return model.ResourceView(tasks=tasks, error=None)


class FakeImages:
    """EC2's answers for the cleanup calls, and the calls made."""

    def __init__(self) -> None:
        self.image: amis.Image | None = IMAGE
        self.permissions = amis.LaunchPermissions()
        self.refs: list[amis.Reference] = []
        self.fail_deregister: errors.AwsError | None = None
        self.calls: list[str] = []

    def factory(self, account: str, region: str) -> FakeImages:
        return self

    def images(self, image_ids: Sequence[str]) -> dict[str, amis.Image]:
        self.calls.append("DescribeImages")
        return {AMI: self.image} if self.image is not None and AMI in image_ids else {}

    def launch_permissions(self, image_id: str) -> amis.LaunchPermissions:
        self.calls.append("DescribeImageAttribute")
        return self.permissions

    def references(self, image_ids: Sequence[str]) -> list[amis.Reference]:
        self.calls.append("DescribeImageReferences")
        return [r for r in self.refs if r.image_id in image_ids]

    def snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, amis.Snapshot]:
        self.calls.append("DescribeSnapshots")
        return {s: amis.Snapshot(s, 8 * 2**30) for s in snapshot_ids}

    def deregister(self, image_id: str, delete_snapshots: bool) -> amis.Deregistered:
        self.calls.append(f"DeregisterImage {delete_snapshots}")
        self.image = None  # AWS acted, whatever it answers
        if self.fail_deregister is not None:
            raise self.fail_deregister
        return amis.Deregistered(True, (("snap-1", "success"), ("snap-2", "skipped")))


class Run:
    """One service over the fakes, and its polls."""

    def __init__(self, ec2: FakeImages, permission: cleanuppermission.Permission = ALLOW) -> None:
        self.hub = ArchiveHub()
        self.clock = [NOW]
        self.objects = FakeObjects(*([FOUND] * 20))
        self.svc = service.AmiStoreService(
            hub=cast(Any, self.hub),
            collector=metrics.TaskCollector(),
            default_region="eu-west-1",
            default_interval=60,
            clock=lambda: self.clock[0],
            own_account=lambda: OWN,
            objects=self.objects.factory,
            images=ec2.factory,
            cleanup=permission,
            runner=inline,
        )
        self.status: dict[str, Any] | None = None

    async def poll(self, raw: Mapping[str, Any] = RAW) -> Any:
        previous = self.status
        outcome = await self.svc.poll(REF, lambda: resource.Snapshot(raw, previous, 1, None))
        self.svc.written(REF)
        self.status = outcome.status
        self.clock[0] += MINUTE
        return outcome

    def entry(self) -> dict[str, Any]:
        assert self.status is not None
        return next(e for e in self.status["tasks"] if e["amiId"] == AMI)

    def archived(self) -> dict[str, Any]:
        assert self.status is not None
        return next(c for c in self.status["conditions"] if c["type"] == "Archived")


async def test_marked_first_then_deregistered_once_then_no_longer_polled() -> None:
    ec2 = FakeImages()
    run = Run(ec2)
    await run.poll()  # verified
    assert run.entry()["verifiedTime"]
    marked = await run.poll()
    assert run.entry()["cleanupState"] == "Deregistering"
    assert "DeregisterImage True" not in ec2.calls  # not before the mark is stored
    assert marked.changed
    done = await run.poll()
    entry = run.entry()
    assert entry["cleanupState"] == "Deregistered"
    assert entry["freedSnapshotBytes"] == 8 * 2**30  # snap-2 was kept (skipped)
    assert [e.reason for e in done.events] == ["ImageDeregistered"]
    assert "snapshots kept: snap-2 (skipped)" in done.events[0].message
    assert ec2.calls.count("DeregisterImage True") == 1
    assert run.archived()["reason"] == "Exporting"  # BUSY's export still runs
    calls = len(ec2.calls)
    for _ in range(5):  # steady: no call, no write, never in ImageIds again
        quiet = await run.poll()
        assert not quiet.changed
        assert not quiet.events
    assert len(ec2.calls) == calls
    assert all(AMI not in spec.image_ids for _, spec, _ in run.hub.views[-5:])
    assert run.entry()["cleanupState"] == "Deregistered"


async def test_a_lost_answer_is_not_asked_again_the_ami_gone_is_deregistered() -> None:
    ec2 = FakeImages()
    ec2.fail_deregister = errors.AwsError(
        model.PollErrorReason.AWS_UNAVAILABLE, "InternalError", "no answer"
    )
    run = Run(ec2)
    for _ in range(3):
        await run.poll()
    assert run.entry()["cleanupState"] == "Deregistering"  # AWS may have acted
    await run.poll()
    assert run.entry()["cleanupState"] == "Deregistered"
    assert "freedSnapshotBytes" not in run.entry()  # the answer with the sizes was lost
    assert ec2.calls.count("DeregisterImage True") == 1


async def test_each_guard_blocks_and_the_ami_proceeds_when_its_blocker_goes() -> None:
    ec2 = FakeImages()
    ref = amis.Reference(AMI, "ec2:LaunchTemplate", "arn:aws:ec2:eu-west-1:1:lt/lt-1")
    ec2.refs = [ref]
    run = Run(ec2)
    await run.poll()
    blocked = await run.poll()
    assert run.entry()["cleanupState"] == "Blocked"
    assert run.entry()["cleanupReason"].startswith("ImageInUse: used by ec2:LaunchTemplate")
    assert [e.reason for e in blocked.events] == ["CleanupBlocked"]
    assert run.archived()["reason"] == "ImageInUse"
    ec2.refs = []
    for _ in range(12):  # looked at again within ten intervals, spread
        await run.poll()
    assert run.entry()["cleanupState"] == "Deregistered"
    assert ec2.calls.count("DeregisterImage True") == 1


async def test_no_call_without_the_flag() -> None:
    ec2 = FakeImages()
    run = Run(ec2, cleanuppermission.Permission())
    for _ in range(3):
        await run.poll()
    assert run.entry()["cleanupState"] == "Blocked"
    assert run.entry()["cleanupReason"].startswith("DeregisterNotAllowed: ")
    assert ec2.calls == []


async def test_protection_shared_and_not_owned_block() -> None:
    for image, perms, reason in (
        (dataclasses.replace(IMAGE, protection="enabled"), None, "DeregistrationProtected"),
        (IMAGE, amis.LaunchPermissions(accounts=("444455556666",)), "ImageShared"),
        (dataclasses.replace(IMAGE, owner_id="999999999999"), None, "NotOwned"),
    ):
        ec2 = FakeImages()
        ec2.image = image
        if perms is not None:
            ec2.permissions = perms
        run = Run(ec2)
        for _ in range(3):
            await run.poll()
        assert run.entry()["cleanupReason"].split(":")[0] == reason
        assert not any(c.startswith("DeregisterImage") for c in ec2.calls)


async def test_a_changed_object_blocks() -> None:
    ec2 = FakeImages()
    run = Run(ec2)
    await run.poll()
    run.objects.answers = [verify.Head(1024, None, '"other"')] * 5
    await run.poll()
    assert run.entry()["cleanupReason"].startswith("ObjectMissing: ")
    assert not any(c.startswith("DeregisterImage") for c in ec2.calls)


async def test_an_ami_another_amistore_still_exports_elsewhere_is_not_deregistered() -> None:
    # Its export into its own bucket has not Completed: deregistering now would leave it
    # with no AMI to export, ever.
    ec2 = FakeImages()
    run = Run(ec2)
    other = resource.ResourceRef(namespace="other", name="exporter")
    raw = {**RAW, "imageIds": [AMI], "bucket": "amis-other", "createTasks": True}
    await run.svc.poll(other, lambda: resource.Snapshot(raw, None, 1, None))
    for _ in range(3):
        await run.poll()
    assert run.entry()["cleanupReason"] == (
        "KeptByAnotherAmiStore: other/exporter still exports it into amis-other"
    )
    assert ec2.calls == []


async def test_an_ami_another_amistore_keeps_is_not_deregistered() -> None:
    ec2 = FakeImages()
    run = Run(ec2)
    keeper = resource.ResourceRef(namespace="other", name="keeper")
    kept = {"imageIds": [AMI], "bucket": "amis-prod"}  # afterExport: Keep, the default
    await run.svc.poll(keeper, lambda: resource.Snapshot(kept, None, 1, None))
    for _ in range(3):
        await run.poll()
    assert run.entry()["cleanupReason"] == (
        "KeptByAnotherAmiStore: other/keeper keeps it (afterExport: Keep)"
    )
    assert ec2.calls == []


async def test_a_status_of_another_account_teaches_nothing_of_this_one() -> None:
    # Another AmiStore, edited to this account, still shows the AMI it deregistered in
    # the account it was polled in: that AMI ID is another account's image.
    ec2 = FakeImages()
    run = Run(ec2)
    other = resource.ResourceRef(namespace="other", name="moved")
    gone = {"amiId": AMI, "state": "Completed", "bucket": "amis-prod"}
    gone |= {"taskStartTime": "2026-01-01T00:00:00Z", "cleanupState": "Deregistered"}
    stored = {"account": "222233334444", "region": "eu-west-1", "tasks": [gone]}
    run.svc.observe(other, 2, resource.Snapshot({**RAW, "imageIds": [AMI]}, stored, 2))
    for _ in range(4):
        await run.poll()
    assert run.entry()["cleanupState"] == "Deregistered"
    assert ec2.calls.count("DeregisterImage True") == 1


async def test_an_ami_listed_after_another_amistore_deregistered_it_shows_gone() -> None:
    # Cleanup seed 523: edited to list an AMI another AmiStore had deregistered. AWS
    # shows it no task (it is never polled again), so its entry is Pending: that entry
    # says Gone (Archived counts it so), and stays so with no write.
    ec2 = FakeImages()
    run = Run(ec2)
    gone_ami = "ami-0aaaabbbbccccdddd"
    other = resource.ResourceRef(namespace="other", name="done")
    gone = {"amiId": gone_ami, "state": "Completed", "bucket": "amis-prod"}
    gone |= {"taskStartTime": "2026-01-01T00:00:00Z", "cleanupState": "Deregistered"}
    stored = {"region": "eu-west-1", "tasks": [gone]}
    run.svc.observe(other, 2, resource.Snapshot({**RAW, "imageIds": [gone_ami]}, stored, 2))
    raw = {**RAW, "imageIds": [AMI, BUSY, gone_ami]}
    for _ in range(4):
        await run.poll(raw)
    assert run.status is not None
    shown = next(e for e in run.status["tasks"] if e["amiId"] == gone_ami)
    assert (shown["state"], shown["cleanupState"]) == ("Pending", "Gone")
    assert run.entry()["cleanupState"] == "Deregistered"
    assert run.archived()["reason"] == "Exporting"  # BUSY's export still runs
    for _ in range(5):
        quiet = await run.poll(raw)
        assert not quiet.changed
    shown = next(e for e in run.status["tasks"] if e["amiId"] == gone_ami)
    assert shown["cleanupState"] == "Gone"
