"""verifyObjects in the core: which objects to look at, and what the status keeps of them."""

from __future__ import annotations

import dataclasses
import datetime

from amistore_operator.core import model, status, verify

from tests.unit.core.test_status import A, B, at, entry, spec, stamp, task, view

HEAD = verify.Head(size=8_589_934_592, storage_class=None, etag='"abc"')


def verifying(*amis: str) -> model.AmiStoreSpec:
    parsed: model.AmiStoreSpec = spec(*amis, bucket="bkt")
    return dataclasses.replace(parsed, verify_objects=True)


def test_only_completed_tasks_into_the_bucket_are_looked_at_and_only_with_verify_objects() -> None:
    tasks = {
        A: task(A, "Completed", 100),
        B: task(B, "InProgress", 50),
        "ami-0000000c": task("ami-0000000c", "Completed", 100, bucket="other"),
    }
    wanted = verify.wanted(verifying(A, B, "ami-0000000c"), tasks, {}, {}, at(5))
    assert wanted == [verify.Target(A, "bkt", f"{A}.bin", stamp(0))]
    assert verify.wanted(spec(A, bucket="bkt"), tasks, {}, {}, at(5)) == []


def test_cleanup_verifies_without_verify_objects() -> None:
    tasks = {A: task(A, "Completed", 100)}
    cleaning = dataclasses.replace(
        spec(A, bucket="bkt"), after_export=model.AFTER_EXPORT_DEREGISTER
    )
    assert verify.wanted(cleaning, tasks, {}, {}, at(5)) == [
        verify.Target(A, "bkt", f"{A}.bin", stamp(0))
    ]


def test_a_task_is_looked_at_once_and_a_new_task_of_the_ami_again() -> None:
    done = {"amiId": A, "state": "Completed", "taskStartTime": stamp(0), "verifiedTime": stamp(1)}
    tasks = {A: task(A, "Completed", 100)}
    assert verify.wanted(verifying(A), tasks, {A: done}, {}, at(5)) == []
    later = {A: task(A, "Completed", 100, started=3)}
    assert len(verify.wanted(verifying(A), later, {A: done}, {}, at(5))) == 1


def test_an_object_s3_did_not_show_waits_its_retry_time() -> None:
    tasks = {A: task(A, "Completed", 100)}
    target = verify.Target(A, "bkt", f"{A}.bin", stamp(0))
    retry = verify.retry_at(at(1), 60)
    assert retry == at(1) + datetime.timedelta(minutes=verify.RETRY_INTERVALS)
    assert verify.wanted(verifying(A), tasks, {}, {target: retry}, at(5)) == []
    assert verify.wanted(verifying(A), tasks, {}, {target: retry}, at(11)) == [target]


def test_the_fields_found_stay_on_the_entry_of_the_same_task_and_announce_once() -> None:
    the_spec = verifying(A)
    the_view = view({A: task(A, "Completed", 100)})
    first = status.reconcile(None, the_spec, the_view, generation=1, now=at(1))
    assert "verifiedTime" not in entry(first, A)
    found = {A: (stamp(0), verify.fields(HEAD, at(2)))}
    second = status.reconcile(
        first.status, the_spec, the_view, generation=1, now=at(2), verified=found
    )
    assert second.changed
    assert {k: entry(second, A)[k] for k in verify.FIELDS} == {
        "objectSizeBytes": 8_589_934_592,
        "objectStorageClass": "STANDARD",
        "objectETag": '"abc"',
        "verifiedTime": stamp(2),
    }
    assert [(e.reason, e.type) for e in second.events] == [("ExportVerified", "Normal")]
    assert f"s3://bkt/{A}.bin" in second.events[0].message
    third = status.reconcile(second.status, the_spec, the_view, generation=1, now=at(3))
    assert not third.changed
    assert not third.events
    assert entry(third, A)["verifiedTime"] == stamp(2)


def test_fields_found_for_an_older_task_are_not_put_on_a_newer_one() -> None:
    the_view = view({A: task(A, "Completed", 100, started=5)})
    found = {A: (stamp(0), verify.fields(HEAD, at(6)))}
    outcome = status.reconcile(
        None, verifying(A), the_view, generation=1, now=at(6), verified=found
    )
    assert "verifiedTime" not in entry(outcome, A)


def test_a_new_task_of_the_ami_drops_what_was_found_of_the_old_one() -> None:
    the_spec = verifying(A)
    old = view({A: task(A, "Completed", 100)})
    found = {A: (stamp(0), verify.fields(HEAD, at(1)))}
    first = status.reconcile(None, the_spec, old, generation=1, now=at(1), verified=found)
    assert entry(first, A)["verifiedTime"] == stamp(1)
    new = view({A: task(A, "InProgress", 10, started=2)})
    second = status.reconcile(first.status, the_spec, new, generation=1, now=at(3))
    assert not set(verify.FIELDS) & set(entry(second, A))


def test_many_objects_verified_at_once_are_summed_up_in_one_event() -> None:
    # Failed first with StopIteration: the summary knew no ExportVerified (at scale only).
    many = [f"ami-{n:08x}" for n in range(30)]
    the_spec = verifying(*many)
    the_view = view({a: task(a, "Completed", 100) for a in many})
    first = status.reconcile(None, the_spec, the_view, generation=1, now=at(1))
    found = {a: (stamp(0), verify.fields(HEAD, at(2))) for a in many}
    second = status.reconcile(
        first.status, the_spec, the_view, generation=1, now=at(2), verified=found
    )
    assert len(second.events) == 21
    assert second.events[-1].message == "and 10 more task changes (10 verified); see status.tasks"


def test_a_completed_task_hidden_behind_a_later_one_into_another_bucket_is_looked_at() -> None:
    # Failed first in the simulation (verify seeds 144, 1085...): AWS lists the AMI's later
    # task into another bucket; the entry keeps the Completed one, never verified.
    entry = {"amiId": A, "state": "Completed", "bucket": "bkt", "taskStartTime": stamp(0)}
    later = {A: task(A, "InProgress", 10, started=5, bucket="other")}
    assert verify.wanted(verifying(A), later, {A: entry}, {}, at(6)) == [
        verify.Target(A, "bkt", f"{A}.bin", stamp(0))
    ]
    same_bucket = {A: task(A, "InProgress", 10, started=5)}  # a new task of its own: wait
    assert verify.wanted(verifying(A), same_bucket, {A: entry}, {}, at(6)) == []
    assert verify.wanted(verifying(A), {}, {A: entry}, {}, at(6)) == []  # no fresh answer


def test_an_entry_without_its_object_key_is_verified_as_ami_bin() -> None:
    # Failed first in the simulation (verify seed 682): an entry without s3ObjectKey was
    # looked at every poll and never given its fields.
    entry = {"amiId": A, "state": "Completed", "bucket": "bkt", "taskStartTime": stamp(0)}
    found = {A: (stamp(0), verify.fields(HEAD, at(1)))}
    [applied] = verify.apply([entry], found)
    assert applied["verifiedTime"] == stamp(1)
    assert verify.target_of(entry) == verify.Target(A, "bkt", f"{A}.bin", stamp(0))


def test_an_ami_deregistered_by_someone_else_still_has_its_object_verified() -> None:
    # Failed first in the simulation (cleanup seed 1077): another AmiStore deregistered the
    # AMI before this one's verification was stored; the AMI is never polled again, and its
    # entry stayed unverified, though the object is still in S3.
    entry = {"amiId": A, "state": "Completed", "bucket": "bkt", "taskStartTime": stamp(0)}
    gone = {**entry, "cleanupState": "Gone"}
    target = verify.Target(A, "bkt", f"{A}.bin", stamp(0))
    assert verify.wanted(verifying(A), {}, {A: gone}, {}, at(6), retired={A}) == [target]
    assert verify.wanted(verifying(A), {}, {A: entry}, {}, at(6)) == []  # no fresh answer
    verified = {**gone, "verifiedTime": stamp(2)}
    assert verify.wanted(verifying(A), {}, {A: verified}, {}, at(6), retired={A}) == []
    other_bucket = {**gone, "bucket": "other"}
    assert verify.wanted(verifying(A), {}, {A: other_bucket}, {}, at(6), retired={A}) == []
