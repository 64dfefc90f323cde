"""Pure pieces of the emulator: JSONPath, schema validation, CEL, ages, protobuf."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.kubeapi import cel, jsonpath, protobuf, schema, selectors, table

OBJ = {
    "metadata": {"name": "a", "labels": {"x": "1"}},
    "status": {
        "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
        "tasks": [{"amiId": "ami-1", "progress": 5}, {"amiId": "ami-2", "progress": 50}],
    },
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (".metadata.name", ["a"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Synced"]),
        (".status.tasks[1].amiId", ["ami-2"]),
        (".status.tasks[-1].progress", [50]),
        (".status.tasks[*].amiId", ["ami-1", "ami-2"]),
        (".status.tasks[?(@.progress > 10)].amiId", ["ami-2"]),
        ("{.metadata.labels['x']}", ["1"]),
        (".spec.missing", []),
    ],
)
def test_jsonpath(expr: str, expected: list[Any]) -> None:
    assert jsonpath.evaluate(expr, OBJ) == expected


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "x-kubernetes-validations": [
                {"rule": "self.name == oldSelf.name", "message": "name is immutable"}
            ],
            "properties": {
                "name": {"type": "string", "maxLength": 3},
                "count": {"type": "integer", "default": 2},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    },
}


def test_prune_defaults_and_validate() -> None:
    obj: dict[str, Any] = {"spec": {"name": "abc", "extra": 1, "free": {"any": 1}}, "zzz": 1}
    assert schema.prune(obj, SCHEMA) == ["spec.extra", "zzz"]
    schema.apply_defaults(obj, SCHEMA)
    assert obj == {"spec": {"name": "abc", "count": 2, "free": {"any": 1}}}
    assert schema.validate(obj, SCHEMA) == []
    errors = schema.validate({"spec": {"name": "abcd", "count": "x"}}, SCHEMA)
    assert [e.text() for e in errors] == [
        "spec.name: Too long: may not be more than 3 bytes",
        'spec.count: Invalid value: "string": spec.count in body must be of type integer: "string"',
        f"<nil>: Invalid value: null: {schema.NOT_CHECKED}",  # no rule runs after these
    ]
    assert [e.text() for e in schema.validate({"spec": {}}, SCHEMA)] == [
        "spec.name: Required value",
        f"<nil>: Invalid value: null: {schema.NOT_CHECKED}",
    ]


def test_transition_rules_use_old_self_on_update_only() -> None:
    new = {"spec": {"name": "b"}}
    assert schema.validate(new, SCHEMA) == []
    errors = schema.validate(new, SCHEMA, old={"spec": {"name": "a"}})
    assert [e.text() for e in errors] == ["spec: Invalid value: name is immutable"]


def test_cel_reports_unsupported_extensions_as_errors() -> None:
    passed, problem = cel.evaluate('self.split(",").size() == 2', "a,b")
    assert not passed
    assert problem is not None
    assert cel.evaluate("self.all(x, x.startsWith('ami-'))", ["ami-1", "ami-2"]) == (True, None)
    assert cel.check_compiles("self.(") is not None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (50 * 3600, "2d2h"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert table.human_duration(seconds) == text


def test_selectors() -> None:
    match = selectors.label_predicate("x in (1,2),!y")
    assert match is not None
    assert match(OBJ)
    field = selectors.field_predicate("metadata.name!=a")
    assert field is not None
    assert not field(OBJ)


def test_protobuf_namespace_body() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"team-a") + field(11, field(1, b"k") + field(2, b"v"))
    raw = (
        protobuf.MAGIC
        + field(1, field(1, b"v1") + field(2, b"Namespace"))
        + field(2, field(1, meta))
    )
    assert protobuf.decode(raw) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"k": "v"}},
    }
