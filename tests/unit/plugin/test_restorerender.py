"""Pure rendering of AmiRestores: list rows, the status's fields and plain lines."""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.plugin import restorerender

NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
IMAGE = "ami-0fedcba9876543210"


def restore(name: str = "back", ns: str = "team", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": 1,
            "creationTimestamp": "2026-11-27T03:55:00Z",
        },
        "spec": {"bucket": "acme-ami-archive", "objectKey": "ami-0123456789abcdef0.bin"},
        "status": status,
    }


SYNCED_FALSE = {
    "type": "Synced",
    "status": "False",
    "reason": "ObjectArchived",
    "message": "the object is in DEEP_ARCHIVE: add spec.thaw",
}


def test_list_rows_sorted_with_image_source_synced_and_age() -> None:
    restoring = restore(
        "b",
        phase="Restoring",
        progressPercentage=40,
        imageId=IMAGE,
        conditions=[{"type": "Synced", "status": "True"}],
    )
    rows = restorerender.list_rows([restoring, restore("a"), restore("c", ns="alpha")], NOW)
    assert [(r.namespace, r.name) for r in rows] == [("alpha", "c"), ("team", "a"), ("team", "b")]
    assert rows[2] == restorerender.RestoreRow(
        "team",
        "b",
        "Restoring",
        40,
        IMAGE,
        "s3://acme-ami-archive/ami-0123456789abcdef0.bin",
        "True",
        "5m",
    )
    assert (rows[1].phase, rows[1].percent, rows[1].image, rows[1].synced) == ("Unknown", 0, "", "")


def test_available_is_100_percent_whatever_the_status_last_said() -> None:
    assert restorerender.percent(restore(phase="Available", progressPercentage=97)) == 100
    assert restorerender.percent(restore(phase="Failed", progressPercentage=35)) == 35


def test_summary_of_a_thawed_restore_in_progress() -> None:
    obj = restore(
        phase="Restoring",
        progressPercentage=40,
        imageId=IMAGE,
        imageName="golden-2026",
        requestedTime="2026-11-27T03:58:00Z",
        objectStorageClass="DEEP_ARCHIVE",
        thawExpiryTime="2026-11-30T04:00:00Z",
        region="eu-west-1",
        observedGeneration=1,
        lastPollTime="2026-11-27T03:59:58Z",
    )
    obj["spec"]["thaw"] = {"days": 3}
    assert restorerender.summary(obj, NOW) == [
        ("Name", "back"),
        ("Namespace", "team"),
        ("Phase", "Restoring"),
        ("Progress", "40%"),
        ("Image", f"{IMAGE} (golden-2026)"),
        ("Source", "s3://acme-ami-archive/ami-0123456789abcdef0.bin"),
        ("Storage class", "DEEP_ARCHIVE"),
        ("Thaw", "3 days, Standard; thawed copy expires 2026-11-30T04:00:00Z (in 3d)"),
        ("Region", "eu-west-1"),
        ("Requested", "2026-11-27T03:58:00Z (2m ago)"),
        ("Completed", "-"),
        ("Last poll", "2s ago"),
    ]


def test_summary_of_a_failed_one_names_the_reason_the_account_and_a_stale_spec() -> None:
    obj = restore(
        phase="Failed",
        failureReason="Client.InvalidObject: not an AMI export",
        account="123456789012",
        observedGeneration=1,
        conditions=[SYNCED_FALSE],
    )
    obj["metadata"]["generation"] = 2
    fields = dict(restorerender.summary(obj, NOW))
    assert fields["Failure"] == "Client.InvalidObject: not an AMI export"
    assert fields["Account"] == "123456789012"
    assert fields["Image"] == "-"
    assert fields["Thaw"] == "-"
    assert fields["Not synced"] == "ObjectArchived: the object is in DEEP_ARCHIVE: add spec.thaw"
    assert "not acted on the latest spec" in fields["Note"]
    assert "Account" not in dict(restorerender.summary(restore(), NOW))


def test_failure_falls_back_to_the_failed_condition() -> None:
    failed = {"type": "Failed", "status": "True", "message": "image ami-1 failed"}
    assert restorerender.failure(restore(phase="Failed", conditions=[failed])) == (
        "image ami-1 failed"
    )
    assert restorerender.failure(restore(phase="Failed")) == "no reason given"


def test_plain_lines_say_the_phase_image_and_why_it_waits_or_failed() -> None:
    waiting = restore(phase="Pending", conditions=[SYNCED_FALSE])
    assert restorerender.plain_lines(waiting, NOW) == [
        "back Pending 0%",
        "  not synced: ObjectArchived: the object is in DEEP_ARCHIVE: add spec.thaw",
    ]
    done = restore(phase="Available", imageId=IMAGE)
    assert restorerender.plain_lines(done, NOW) == [f"back Available 100% {IMAGE}"]
    failed = restore(phase="Failed", progressPercentage=35, imageId=IMAGE, failureReason="boom")
    assert restorerender.plain_lines(failed, NOW) == [f"back Failed 35% {IMAGE}", "  failed: boom"]
