"""What every AmiStore's cleanup knows of each AMI: claims, ended AMIs, exports elsewhere."""

from __future__ import annotations

from amistore_operator.core import model
from amistore_operator.reconcile import cleanupbook

HERE = ("", "eu-west-1")
AMI = "ami-0123456789abcdef0"


def test_a_claim_goes_when_its_amistore_no_longer_lists_the_ami() -> None:
    # Marked Deregistering, then edited out of its spec before the call: another
    # AmiStore listing the AMI must not wait for it for ever.
    book = cleanupbook.CleanupBook()
    book.learn("team/a", HERE, [{"amiId": AMI, "cleanupState": "Deregistering"}])
    assert book.held_by_other("team/b", HERE, AMI)
    book.release("team/a", HERE, [AMI])  # still listed: still held
    assert book.held_by_other("team/b", HERE, AMI)
    book.release("team/a", HERE, [])
    assert not book.held_by_other("team/b", HERE, AMI)
    assert book.claim("team/b", HERE, AMI)


def test_a_claim_in_another_account_goes_with_an_account_edit() -> None:
    book = cleanupbook.CleanupBook()
    book.learn(
        "team/a", ("111122223333", "eu-west-1"), [{"amiId": AMI, "cleanupState": "Deregistering"}]
    )
    book.release("team/a", HERE, [AMI])
    assert not book.held_by_other("team/b", ("111122223333", "eu-west-1"), AMI)


def test_a_watched_status_is_learnt_where_it_was_polled() -> None:
    ended: list[tuple[tuple[str, str], str]] = []
    book = cleanupbook.CleanupBook(lambda where, ami: ended.append((where, ami)), str)
    gone = {"amiId": AMI, "state": "Completed", "cleanupState": "Deregistered"}
    status = {"account": "222233334444", "region": "eu-west-1", "tasks": [gone]}
    book.learn_status("team/a", {"imageIds": [AMI]}, status)  # its spec names no account now
    assert ended == [(("222233334444", "eu-west-1"), AMI)]
    assert not book.ended(HERE, AMI)


def test_an_export_elsewhere_is_done_once_completed_or_behind_a_later_task() -> None:
    # AWS lists an AMI's latest task only: an InProgress entry older than this AmiStore's
    # own Completed task ended before it started, though its AmiStore never saw the end.
    book = cleanupbook.CleanupBook()
    older, mine, newer = "2026-01-01T00:00:56Z", "2026-01-01T00:01:04Z", "2026-01-01T00:02:00Z"
    running = {"amiId": AMI, "state": "InProgress", "bucket": "b2", "taskStartTime": older}
    book.learn("team/other", HERE, [running])
    assert book.exported("team/other", HERE, AMI, "b2", mine)
    book.learn("team/other", HERE, [{**running, "taskStartTime": newer}])
    assert not book.exported("team/other", HERE, AMI, "b2", mine)  # still running: keeps it
    book.learn("team/other", HERE, [{"amiId": AMI, "state": "Queued", "bucket": "b2"}])
    assert not book.exported("team/other", HERE, AMI, "b2", mine)
    book.learn("team/other", HERE, [{**running, "state": "Completed", "taskStartTime": newer}])
    assert book.exported("team/other", HERE, AMI, "b2", mine)
    assert not book.exported("team/other", HERE, AMI, "b3", mine)  # not into its bucket


def test_a_rejected_spec_keeps_what_it_lists_whatever_it_last_had_accepted() -> None:
    # Cleanup seed 744: an AmiStore edited to list the AMI in another account, with the
    # default Keep, but its bucket invalid. Its last accepted spec cleaned up other AMIs
    # in the own account; the AmiStore that deregisters this one must still see it kept.
    book = cleanupbook.CleanupBook()
    theirs = ("111122223333", "eu-west-1")
    mine = model.AmiStoreSpec(
        image_ids=(AMI,),
        bucket="b1",
        task_states=(),
        poll_interval=60.0,
        account=theirs[0],
        region=theirs[1],
        after_export=model.AFTER_EXPORT_DEREGISTER,
    )
    accepted = model.AmiStoreSpec(
        image_ids=("ami-00000000000000001",),
        bucket="b1",
        task_states=(),
        poll_interval=60.0,
        region=theirs[1],
        after_export=model.AFTER_EXPORT_DEREGISTER,
    )
    parsed = {"team/other": (None, accepted)}
    raw = {"imageIds": [AMI], "bucket": "a..b", "account": theirs[0]}
    assert book.others("team/mine", mine, AMI, parsed, "") == ([], [])
    book.rejected("team/other", raw, theirs[1])
    assert book.others("team/mine", mine, AMI, parsed, "") == (["team/other"], [])
    # Asking plainly for cleanup, or fixed and accepted, it keeps nothing of its own.
    book.rejected("team/other", {**raw, "afterExport": "Deregister"}, theirs[1])
    assert book.others("team/mine", mine, AMI, parsed, "") == ([], [])
    book.rejected("team/other", raw, theirs[1])
    book.accepted("team/other")
    assert book.others("team/mine", mine, AMI, parsed, "") == ([], [])
    # Another region's, or deleted: none.
    book.rejected("team/other", raw, "us-east-1")
    assert book.others("team/mine", mine, AMI, parsed, "") == ([], [])
    book.rejected("team/other", raw, theirs[1])
    book.release("team/other")
    assert book.others("team/mine", mine, AMI, parsed, "") == ([], [])
