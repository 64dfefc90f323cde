"""Label and field selectors, parsed once per request into a predicate."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.sandbox.kubeapi import errors

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*([^\s]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    if match := _SET_RE.match(term):
        key, op, raw = match.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_RE.match(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_RE.match(term):
        negate, key = match.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise errors.bad_request(f"unable to parse requirement: {term!r}")


def label_predicate(selector: str | None) -> Predicate | None:
    """A predicate for ``labelSelector`` (=, ==, !=, in, notin, exists, !exists)."""
    if not selector:
        return None
    terms = [_label_term(t) for t in _split_terms(selector)]

    def match(obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return match


def _field_value(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_predicate(selector: str | None) -> Predicate | None:
    """A predicate for ``fieldSelector`` (dotted paths such as metadata.name, =, ==, !=)."""
    if not selector:
        return None
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        match = _EQ_RE.match(term)
        if not match:
            raise errors.bad_request(f"invalid selector: {selector!r}")
        path, op, value = match.groups()
        checks.append((path, op != "!=", value))

    def check(obj: Obj) -> bool:
        return all((_field_value(obj, path) == value) == eq for path, eq, value in checks)

    return check


def combine(*predicates: Predicate | None) -> Predicate:
    """All the given predicates (None means match everything)."""
    active = [p for p in predicates if p is not None]
    if not active:
        return lambda obj: True
    return lambda obj: all(p(obj) for p in active)
