"""The Kubernetes JSONPath subset printer columns use: fields, indexes, ``*`` and filters."""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable
from typing import Any

Step = Callable[[list[Any]], list[Any]]

_NAME = re.compile(r"[A-Za-z0-9_\-$]+")
_FILTER = re.compile(r"^\?\(\s*@((?:\.[A-Za-z0-9_\-]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


class JsonPathError(ValueError):
    """An expression this subset cannot parse."""


def _field(name: str) -> Step:
    return lambda nodes: [n[name] for n in nodes if isinstance(n, dict) and name in n]


def _index(index: int) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        out = []
        for node in nodes:
            if isinstance(node, list) and -len(node) <= index < len(node):
                out.append(node[index])
        return out

    return step


def _wildcard(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if isinstance(node, list):
            out.extend(node)
        elif isinstance(node, dict):
            out.extend(node.values())
    return out


def _lookup(node: Any, path: str) -> tuple[bool, Any]:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JsonPathError(f"bad literal {text!r}") from exc


def _filter(expr: str) -> Step:
    match = _FILTER.match(expr)
    if not match:
        raise JsonPathError(f"unsupported filter {expr!r}")
    path, op, raw = match.groups()
    expected = _literal(raw) if op else None

    def keep(item: Any) -> bool:
        found, value = _lookup(item, path or "")
        if not op:
            return found
        try:
            return found and _OPS[op](value, expected)
        except TypeError:
            return False

    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            items = node if isinstance(node, list) else [node]
            out.extend(item for item in items if keep(item))
        return out

    return step


@functools.lru_cache(maxsize=256)
def compile_path(expr: str) -> tuple[Step, ...]:
    """Parse an expression such as ``.status.conditions[?(@.type=="Ready")].status``."""
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.removeprefix("$")
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == ".":
            match = _NAME.match(text, pos + 1)
            if not match:
                raise JsonPathError(f"bad field at {pos} in {expr!r}")
            steps.append(_field(match.group()))
            pos = match.end()
        elif char == "[":
            end = _closing_bracket(text, pos)
            inner = text[pos + 1 : end].strip()
            steps.append(_bracket(inner))
            pos = end + 1
        else:
            raise JsonPathError(f"unexpected {char!r} at {pos} in {expr!r}")
    return tuple(steps)


def _closing_bracket(text: str, start: int) -> int:
    quote = ""
    for pos in range(start + 1, len(text)):
        char = text[pos]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "]":
            return pos
    raise JsonPathError(f"unclosed [ in {text!r}")


def _bracket(inner: str) -> Step:
    if inner == "*":
        return _wildcard
    if inner.startswith("?"):
        return _filter(inner)
    if inner[:1] in "'\"":
        return _field(inner[1:-1])
    try:
        return _index(int(inner))
    except ValueError as exc:
        raise JsonPathError(f"unsupported subscript [{inner}]") from exc


def evaluate(expr: str, obj: Any) -> list[Any]:
    """All values the expression selects from ``obj``."""
    nodes = [obj]
    for step in compile_path(expr):
        nodes = step(nodes)
    return nodes
