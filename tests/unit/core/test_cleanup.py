"""The cleanup guards with plain values: when an exported AMI may be deregistered, and why not."""

from __future__ import annotations

import dataclasses
import datetime

from amistore_operator.core import cleanup, images, model, timestamps, verify

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
A, B = "ami-0000000a", "ami-0000000b"
ACCOUNT = "111122223333"
ETAG = '"9b2cf535f27731c974343645a3985328"'
SPEC = model.AmiStoreSpec(
    image_ids=(A, B),
    bucket="amis-archive",
    task_states=(),
    region="eu-west-1",
    poll_interval=60.0,
    create_tasks=True,
    after_export=model.AFTER_EXPORT_DELETE_SNAPSHOTS,
    after_export_delay=86400.0,
)
ENTRY = {
    "amiId": A,
    "state": "Completed",
    "bucket": "amis-archive",
    "s3ObjectKey": f"{A}.bin",
    "taskStartTime": "2025-12-30T00:00:00Z",
    "objectSizeBytes": 8_589_934_592,
    "objectETag": ETAG,
    "verifiedTime": timestamps.format_time(T0),
}
HEAD = verify.Head(8_589_934_592, None, ETAG)
IMAGE = images.Image(A, ACCOUNT, "available", False, "disabled", ("snap-1", "snap-2"))


def test_keep_never_cleans_up() -> None:
    keep = dataclasses.replace(SPEC, after_export=model.AFTER_EXPORT_KEEP)
    assert not cleanup.deregisters(keep)
    assert cleanup.archived(keep, {A: ENTRY}) is None
    assert cleanup.deregisters(SPEC)


def test_the_local_guards_in_order() -> None:
    later = T0 + DAY
    assert cleanup.local(SPEC, ENTRY, later, refusal=None).holds
    refused = ("DeregisterNotAllowed", "The operator does not deregister AMIs")
    assert cleanup.local(SPEC, ENTRY, later, refusal=refused).reason == cleanup.NOT_ALLOWED
    running = {**ENTRY, "state": "InProgress"}
    assert cleanup.local(SPEC, running, later, refusal=None).reason == cleanup.EXPORTING
    elsewhere = {**ENTRY, "bucket": "other"}
    assert cleanup.local(SPEC, elsewhere, later, refusal=None).reason == cleanup.EXPORTING
    unverified = {k: v for k, v in ENTRY.items() if k != "verifiedTime"}
    assert cleanup.local(SPEC, unverified, later, refusal=None).reason == cleanup.VERIFYING
    kept = cleanup.local(SPEC, ENTRY, later, refusal=None, kept_by=("team-b/keep",))
    assert (kept.reason, kept.message) == (cleanup.KEPT, "team-b/keep keeps it (afterExport: Keep)")
    exporting = cleanup.local(
        SPEC, ENTRY, later, refusal=None, exporting=(("team-b/x", "b2"), ("team-a/y", "b3"))
    )
    assert (exporting.reason, exporting.message) == (
        cleanup.KEPT,
        "team-a/y still exports it into b3; team-b/x still exports it into b2",
    )


def test_the_delay_counts_from_verification() -> None:
    early = cleanup.local(SPEC, ENTRY, T0 + DAY - datetime.timedelta(seconds=1), refusal=None)
    assert early.reason == cleanup.DELAY
    assert early.until == T0 + DAY
    assert cleanup.local(SPEC, ENTRY, T0 + DAY, refusal=None).holds


def test_the_object_must_be_the_one_verified_whole_and_not_expiring() -> None:
    assert cleanup.object_guard(ENTRY, HEAD).holds
    assert cleanup.object_guard(ENTRY, None).reason == cleanup.OBJECT_MISSING
    empty = dataclasses.replace(HEAD, size=0)
    assert cleanup.object_guard(ENTRY, empty).reason == cleanup.OBJECT_MISSING
    other = dataclasses.replace(HEAD, etag='"0"')
    assert "ETag changed" in cleanup.object_guard(ENTRY, other).message
    expiring = dataclasses.replace(HEAD, expiration='expiry-date="Fri, 23 Dec 2026", rule-id="r"')
    assert cleanup.object_guard(ENTRY, expiring).reason == cleanup.OBJECT_EXPIRING


def test_the_image_guards() -> None:
    none = images.LaunchPermissions()
    assert cleanup.image_guard(IMAGE, ACCOUNT, none, []).holds
    assert cleanup.image_guard(IMAGE, "999999999999", none, []).reason == cleanup.NOT_OWNED
    public = dataclasses.replace(IMAGE, public=True)
    assert cleanup.image_guard(public, ACCOUNT, None, None).reason == cleanup.IMAGE_SHARED
    for protection in ("enabled", "enabled-with-cooldown", None):
        guarded = dataclasses.replace(IMAGE, protection=protection)
        assert cleanup.image_guard(guarded, ACCOUNT, none, []).reason == cleanup.PROTECTED
    shared = images.LaunchPermissions(organizations=("arn:aws:organizations::1:organization/o",))
    verdict = cleanup.image_guard(IMAGE, ACCOUNT, shared, [])
    assert verdict.reason == cleanup.IMAGE_SHARED
    assert "organization/o" in verdict.message
    arns = [f"arn:aws:ec2:eu-west-1:1:lt/lt-{i}" for i in range(7)]
    used = [images.Reference(A, "ec2:LaunchTemplate", arn) for arn in arns]
    verdict = cleanup.image_guard(IMAGE, ACCOUNT, none, used)
    assert verdict.reason == cleanup.IMAGE_IN_USE
    assert verdict.message.endswith("lt/lt-4 and 2 more")


def test_what_is_read_later_is_not_judged_before() -> None:
    assert cleanup.image_guard(IMAGE, ACCOUNT, None, None).holds


def test_entries_record_the_reason_and_the_outcome() -> None:
    later = cleanup.local(SPEC, ENTRY, T0, refusal=None)
    waiting = cleanup.blocked(ENTRY, later)
    assert waiting["cleanupState"] == cleanup.WAITING
    assert waiting["cleanupReason"].startswith("Waiting: deregistered after ")
    blocked = cleanup.blocked(ENTRY, cleanup.Verdict(cleanup.IMAGE_IN_USE, "used by x"))
    assert blocked["cleanupState"] == "Blocked"
    assert blocked["cleanupReason"] == "ImageInUse: used by x"
    marked = cleanup.deregistering(blocked)
    assert marked["cleanupState"] == cleanup.DEREGISTERING
    assert "cleanupReason" not in marked
    done = cleanup.deregistered(marked, T0 + DAY, 16 * 2**30)
    assert done["deregisteredTime"] == timestamps.format_time(T0 + DAY)
    assert done["freedSnapshotBytes"] == 16 * 2**30
    assert "freedSnapshotBytes" not in cleanup.deregistered(marked, T0, None)
    assert cleanup.deregistered(marked, T0, None, gone=True)["cleanupState"] == cleanup.GONE


def test_freed_bytes_count_the_snapshots_deleted_only() -> None:
    result = images.Deregistered(True, (("snap-1", "success"), ("snap-2", "skipped")))
    sizes = {
        "snap-1": images.Snapshot("snap-1", 8 * 2**30),
        "snap-2": images.Snapshot("snap-2", 30 * 2**30),
    }
    assert cleanup.freed_bytes(result, sizes) == 8 * 2**30
    assert cleanup.freed_bytes(result, {}) is None
    assert result.kept() == (("snap-2", "skipped"),)


def test_archived_is_true_once_every_ami_is_deregistered_or_gone() -> None:
    done = cleanup.deregistered(ENTRY, T0, None)
    gone = cleanup.deregistered({**ENTRY, "amiId": B}, T0, None, gone=True)
    assert cleanup.archived(SPEC, {A: done, B: gone})[1:3] == ("True", "Archived")  # type: ignore[index]


def test_archived_is_false_with_the_least_progressed_reason() -> None:
    waiting = cleanup.blocked(ENTRY, cleanup.Verdict(cleanup.DELAY, "deregistered after x"))
    in_use = cleanup.blocked({**ENTRY, "amiId": B}, cleanup.Verdict(cleanup.IMAGE_IN_USE, "used"))
    condition = cleanup.archived(SPEC, {A: waiting, B: in_use})
    assert condition is not None
    assert condition[1:3] == ("False", cleanup.IMAGE_IN_USE)
    assert condition[3] == "2 of 2 AMIs not deregistered yet; ami-0000000b: ImageInUse: used"
    exporting = cleanup.archived(SPEC, {A: waiting})
    assert exporting is not None
    assert exporting[2] == cleanup.EXPORTING
