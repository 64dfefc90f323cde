"""The book of export requests: one export of an AMI at a time across buckets, including a
request dropped uncalled whose status a write that got no answer may have stored."""

from __future__ import annotations

import datetime

from amistore_operator.core import exportrequests, model
from amistore_operator.reconcile import exportbook

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LIVE = datetime.timedelta(minutes=20)
MINUTE = datetime.timedelta(minutes=1)
A, B = "ami-0000000a", "ami-0000000b"
INTO_A: exportbook.Target = ("", "eu-west-1", "archive-a")
INTO_B: exportbook.Target = ("", "eu-west-1", "archive-b")


def book() -> exportbook.Book:
    return exportbook.Book(
        grace=exportrequests.DEFAULT_GRACE, call_window=exportrequests.DEFAULT_CALL_WINDOW
    )


def test_a_request_dropped_uncalled_keeps_other_buckets_off_the_ami_to_its_grace_end() -> None:
    shared = book()
    assert shared.record("ns/one", INTO_A, [A, B], {A: None, B: None}, T0, LIVE) == [A, B]
    shared.abandon("ns/one")  # its write got no answer: it may be stored, it is never called
    assert shared.requests[INTO_A] == {}
    # Another bucket's export of A would hide, for good, the task a restarted operator
    # could think that stored request started.
    assert shared.busy_elsewhere(INTO_B, [A, B], T0 + LIVE / 2) == {A, B}
    assert shared.record("ns/two", INTO_B, [A], {A: None}, T0 + LIVE / 2, LIVE) == []
    # Its own bucket may ask again at once, and the others once its grace is over.
    assert shared.busy_elsewhere(INTO_A, [A], T0 + LIVE / 2) == frozenset()
    assert shared.busy_elsewhere(INTO_B, [A], T0 + LIVE) == frozenset()
    assert shared.record("ns/two", INTO_B, [A], {A: None}, T0 + LIVE, LIVE) == [A]


def test_a_confirmed_request_is_not_kept_as_one_dropped() -> None:
    shared = book()
    shared.record("ns/one", INTO_A, [A], {A: None}, T0, LIVE)
    shared.confirm("ns/one")
    shared.abandon("ns/one")  # nothing pending: the stored request stays live, as it is
    assert A in shared.requests[INTO_A]
    del shared.requests[INTO_A][A]  # AWS listed its task: the request ended
    assert shared.busy_elsewhere(INTO_B, [A], T0 + MINUTE) == frozenset()


def test_a_request_withdrawn_for_capacity_is_dropped_uncalled_and_keeps_other_buckets_off() -> None:
    # Seed 6150: its status was stored, then AWS had no room and it was never called. Read
    # back from that status, it was taken for one that may have started a task; another
    # bucket's export then hid whatever it did, and the AMI stayed Queued for good.
    shared = book()
    shared.record("ns/one", INTO_A, [A], {A: None}, T0, LIVE)
    shared.confirm("ns/one")
    stamp = shared.requests[INTO_A][A].requested_time
    shared.withdraw(INTO_A, A)
    assert A not in shared.requests[INTO_A]
    assert shared.busy_elsewhere(INTO_B, [A], T0 + LIVE / 2) == {A}
    stored = {A: {"amiId": A, "state": "Queued", "bucket": "archive-a", "requestedTime": stamp}}
    spec = model.AmiStoreSpec((A,), "archive-a", (), "eu-west-1", 60.0, create_tasks=True)
    seen = shared.learn("ns/one", spec, stored)
    assert "requestedTime" not in seen[A]  # waiting, not a request that may have been called
    assert A not in shared.requests[INTO_A]
