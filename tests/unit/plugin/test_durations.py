"""Durations of the kubectl plugin: what users type (--timeout) and read (ETA, AGE)."""

from __future__ import annotations

import datetime

import pytest
from amistore_operator.plugin import durations

NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1.5s", 1.5),
        ("500ms", 0.5),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5", "1h 30m", "-5s", "5m!"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        durations.parse(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45.9, "45s"),
        (60, "1m"),
        (192, "3m12s"),
        (4800, "1h20m"),
        (7200, "2h"),
        (183600, "2d3h"),
        (86400, "1d"),
        (-5, "0s"),
    ],
)
def test_short(seconds: float, text: str) -> None:
    assert durations.short(seconds) == text


def test_eta_future_past_and_absent() -> None:
    assert durations.eta(NOW + datetime.timedelta(hours=1, minutes=20), NOW) == "in 1h20m"
    assert durations.eta(NOW - datetime.timedelta(minutes=5), NOW) == "overdue 5m"
    assert durations.eta(NOW, NOW) == "in 0s"
    assert durations.eta(None, NOW) == ""


def test_age() -> None:
    assert durations.age(NOW - datetime.timedelta(seconds=51), NOW) == "51s"
    assert durations.age(None, NOW) == "<unknown>"
