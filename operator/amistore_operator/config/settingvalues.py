"""Parsing one setting's text: ports, intervals, rates, counts, choices, booleans, namespaces.

Each parser takes the flag or variable it read (``source``) and raises
``SettingsError`` with one line that names it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

_NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class SettingsError(Exception):
    """A bad flag or variable; the message is one line naming it."""


def namespace_list(source: str, names: Sequence[str]) -> tuple[str, ...]:
    """Valid namespace names, repeats dropped, order kept."""
    for name in names:
        if not _NAMESPACE_PATTERN.fullmatch(name):
            raise SettingsError(f'{source}: "{name}" is not a valid namespace name')
    return tuple(dict.fromkeys(names))  # drop repeats, keep the order


def port(source: str, text: str) -> int:
    """A TCP port number."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise SettingsError(f'{source}: must be a port number from 1 to 65535, got "{text}"')
    return port


def number(source: str, text: str, requirement: str) -> float:
    """A finite number; ``requirement`` completes the error message."""
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f'{source}: must be a number {requirement}, got "{text}"') from None
    if not math.isfinite(value):
        raise SettingsError(f'{source}: must be a number {requirement}, got "{text}"')
    return value


def interval(source: str, text: str) -> float:
    """Seconds, at least 1."""
    value = number(source, text, ">= 1")
    if value < 1:
        raise SettingsError(f'{source}: must be a number >= 1, got "{text}"')
    return value


def rate(source: str, text: str) -> float:
    """A number above 0."""
    value = number(source, text, "> 0")
    if value <= 0:
        raise SettingsError(f'{source}: must be a number > 0, got "{text}"')
    return value


def burst(source: str, text: str) -> int:
    """A whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f'{source}: must be a whole number >= 1, got "{text}"')
    return value


def count(source: str, text: str) -> int:
    """A whole number, at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f'{source}: must be a whole number >= 0, got "{text}"')
    return value


def choice(options: Sequence[str]) -> Callable[[str, str], str]:
    """A parser that accepts one of ``options``, case-insensitively."""

    def parse(source: str, text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise SettingsError(f'{source}: must be one of {", ".join(options)}, got "{text}"')
        return value

    return parse


def boolean(source: str, text: str) -> bool:
    """true/false, 1/0, yes/no, on/off; empty is false."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f'{source}: must be true or false, got "{text}"')


def patterns(source: str, texts: Sequence[str]) -> tuple[str, ...]:
    """Comma-separated shell-style patterns from one or more texts; repeats dropped."""
    found = [p.strip() for text in texts for p in text.split(",") if p.strip()]
    if not found:
        raise SettingsError(f"{source}: must list at least one pattern")
    return tuple(dict.fromkeys(found))
