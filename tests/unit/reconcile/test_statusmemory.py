"""What the service remembers of each status: the last written, the last the API stored."""

from __future__ import annotations

from typing import Any

from amistore_operator.core import status
from amistore_operator.reconcile import resource, statusmemory

REF = resource.ResourceRef(namespace="team", name="golden", uid="uid-1")
WATCHED: dict[str, Any] = {"tasks": [], "note": "the watched body, behind our writes"}


def outcome(note: str) -> status.Outcome:
    entries = ({"amiId": "ami-0000000a", "state": "Queued", "note": note},)
    return status.Outcome(status={"note": note}, changed=True, events=(), entries=entries)


def test_the_last_status_written_beats_the_watched_body() -> None:
    memory = statusmemory.StatusMemory()
    first = outcome("first")
    memory.record(REF, first)
    assert memory.prior(REF, WATCHED) is first.status


def test_a_refused_write_falls_back_to_the_last_status_the_api_stored() -> None:
    memory = statusmemory.StatusMemory()
    first, second = outcome("first"), outcome("second")
    memory.record(REF, first)
    memory.stored(REF.key)
    memory.record(REF, second)
    memory.refused(REF.key)
    # Not the watched body, which may predate the stored write (its event still on the way).
    prior = memory.prior(REF, WATCHED)
    assert prior is first.status
    assert memory.entries(REF, prior) == first.entries


def test_a_refused_write_with_none_stored_falls_back_to_the_watched_body() -> None:
    memory = statusmemory.StatusMemory()
    memory.record(REF, outcome("first"))
    memory.refused(REF.key)
    assert memory.prior(REF, WATCHED) is WATCHED


def test_stored_confirms_only_what_was_written_last() -> None:
    memory = statusmemory.StatusMemory()
    first, second, third = outcome("first"), outcome("second"), outcome("third")
    memory.record(REF, first)
    memory.stored(REF.key)
    memory.record(REF, second)
    memory.stored(REF.key)
    memory.record(REF, third)
    memory.refused(REF.key)
    assert memory.prior(REF, WATCHED) is second.status


def test_a_recreated_object_starts_from_its_own_body() -> None:
    memory = statusmemory.StatusMemory()
    memory.record(REF, outcome("first"))
    memory.stored(REF.key)
    again = resource.ResourceRef(namespace="team", name="golden", uid="uid-2")
    assert memory.prior(again, WATCHED) is WATCHED


def test_forget_drops_the_stored_status_too() -> None:
    memory = statusmemory.StatusMemory()
    memory.record(REF, outcome("first"))
    memory.stored(REF.key)
    memory.forget(REF.key)
    memory.refused(REF.key)
    assert memory.prior(REF, WATCHED) is WATCHED


def test_a_write_that_got_no_answer_has_its_fields_deleted_by_the_next_one() -> None:
    # The write with no answer may be stored: a merge patch that did not name its
    # retry value would leave it beside entries that never asked for that retry.
    memory = statusmemory.StatusMemory()
    memory.record(REF, outcome("first"))
    memory.stored(REF.key)
    lost = status.Outcome(
        status={"note": "lost", "lastHandledRetryAt": "r1"}, changed=True, events=()
    )
    memory.record(REF, lost)
    memory.refused(REF.key, ambiguous=True)
    patch = memory.patch(REF, {"note": "next"}, watched=None)
    assert patch == {"note": "next", "lastHandledRetryAt": None}
    memory.record(REF, status.Outcome(status={"note": "next"}, changed=True, events=()))
    memory.stored(REF.key)  # the next one stored: the API holds exactly it
    assert memory.patch(REF, {"note": "after"}, watched=None) == {"note": "after"}


def test_fields_of_the_watched_body_the_new_status_lacks_are_deleted() -> None:
    # After a restart, or a refusal with no write confirmed, the status is built on a
    # watched body that may lag what the API holds.
    memory = statusmemory.StatusMemory()
    watched = {"note": "old", "estimatedCompletionTime": "t", "kopf": {"progress": {}}}
    assert memory.patch(REF, {"note": "new"}, watched=watched) == {
        "note": "new",
        "estimatedCompletionTime": None,
    }


def test_many_writes_with_no_answer_are_all_deleted_by_the_next_one() -> None:
    memory = statusmemory.StatusMemory()
    for n in range(3):
        lost = {"note": "lost", f"field{n}": n}
        memory.record(REF, status.Outcome(status=lost, changed=True, events=()))
        memory.refused(REF.key, ambiguous=True)
    assert memory.patch(REF, {"note": "next"}, watched=None) == {
        "note": "next",
        "field0": None,
        "field1": None,
        "field2": None,
    }
