"""Durations as kubectl users type and read them: ``90s``, ``5m``, ``1h20m``, ``2d3h``."""

from __future__ import annotations

import datetime
import re

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``5m``, ``1h30m`` or a bare number of seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _PART.findall(text)
    if not text or not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 5m, 1h30m)")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def short(seconds: float) -> str:
    """A duration in at most two units: ``45s``, ``3m12s``, ``1h20m``, ``2d3h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def eta(estimate: datetime.datetime | None, now: datetime.datetime) -> str:
    """``in 1h20m`` before an estimated completion, ``overdue 5m`` after it, blank without."""
    if estimate is None:
        return ""
    left = (estimate - now).total_seconds()
    return f"in {short(left)}" if left >= 0 else f"overdue {short(-left)}"


def age(created: datetime.datetime | None, now: datetime.datetime) -> str:
    """How long ago, as kubectl's AGE column shows it; ``<unknown>`` without a time."""
    if created is None:
        return "<unknown>"
    return short((now - created).total_seconds())
