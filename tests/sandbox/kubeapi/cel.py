"""``x-kubernetes-validations`` rules evaluated with celpy (unsupported extensions: README)."""

from __future__ import annotations

import functools
import re
from typing import Any

import celpy
from celpy import adapter, celtypes, evaluation

_ENV = celpy.Environment()
_OLD_SELF = re.compile(r"\boldSelf\b")


class RuleError(Exception):
    """A rule that does not compile."""


@functools.lru_cache(maxsize=1024)
def _program(expr: str) -> Any:
    try:
        return _ENV.program(_ENV.compile(expr))
    except Exception as exc:  # celpy raises its own parse errors
        raise RuleError(str(exc)) from exc


def check_compiles(expr: str) -> str | None:
    """None when the rule compiles, else the compiler's message."""
    try:
        _program(expr)
    except RuleError as exc:
        return str(exc)
    return None


def is_transition_rule(expr: str) -> bool:
    """Whether the rule uses ``oldSelf`` (evaluated on updates only)."""
    return bool(_OLD_SELF.search(expr))


def evaluate(expr: str, value: Any, old_value: Any = None) -> tuple[bool, str | None]:
    """(passed, error) for one rule; ``error`` is set when evaluation itself failed."""
    activation: dict[str, Any] = {"self": adapter.json_to_cel(value)}
    if old_value is not None:
        activation["oldSelf"] = adapter.json_to_cel(old_value)
    try:
        result = _program(expr).evaluate(activation)
    except RuleError as exc:
        return False, f"compilation failed: {exc}"
    except Exception as exc:  # celpy raises for some runtime errors instead of returning them
        return False, str(exc)
    if isinstance(result, evaluation.CELEvalError):
        return False, str(result.args[0] if result.args else result)
    if isinstance(result, celtypes.BoolType):
        return bool(result), None
    return False, f"rule did not evaluate to a bool: {result!r}"


def evaluate_message(expr: str, value: Any) -> str | None:
    """The string a ``messageExpression`` produces, or None if it does not."""
    try:
        result = _program(expr).evaluate({"self": adapter.json_to_cel(value)})
    except Exception:
        return None
    return str(result) if isinstance(result, celtypes.StringType) else None
