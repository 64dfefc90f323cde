"""The status as the merge patch that stores exactly it."""

from __future__ import annotations

from amistore_operator.core import statuspatch


def test_a_field_only_an_earlier_status_has_is_named_null() -> None:
    new = {"state": "Completed", "tasks": []}
    old = {"state": "InProgress", "estimatedCompletionTime": "t", "tasks": [{"a": 1}]}
    assert statuspatch.exact(new, old) == {
        "state": "Completed",
        "tasks": [],
        "estimatedCompletionTime": None,
    }


def test_objects_are_compared_field_by_field_and_lists_replace() -> None:
    new = {"summary": {"a": 1}, "tasks": [{"x": 1}]}
    older = {"summary": {"a": 0, "b": 2}, "tasks": [{"x": 1, "y": 2}]}
    assert statuspatch.exact(new, older) == {"summary": {"a": 1, "b": None}, "tasks": [{"x": 1}]}


def test_kopfs_own_field_and_fields_already_null_are_left_alone() -> None:
    new = {"note": "n", "estimatedCompletionTime": None}
    old = {"kopf": {"progress": {}}, "estimatedCompletionTime": "t"}
    assert statuspatch.exact(new, old, None) == new


def test_the_status_itself_is_not_changed() -> None:
    new = {"note": "n"}
    statuspatch.exact(new, {"gone": 1})
    assert new == {"note": "n"}


def test_the_union_of_two_statuses_has_every_field_of_both() -> None:
    first = {"a": 1, "summary": {"x": 1}, "tasks": [1]}
    second = {"b": 2, "summary": {"y": 2}, "tasks": [2]}
    assert statuspatch.union(first, second) == {
        "a": 1,
        "b": 2,
        "summary": {"x": 1, "y": 2},
        "tasks": [2],
    }
    assert statuspatch.exact({"tasks": []}, statuspatch.union(None, first)) == {
        "tasks": [],
        "a": None,
        "summary": None,
    }
