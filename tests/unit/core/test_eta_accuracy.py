"""The accuracy study (bench/eta_accuracy.py): the goal where it holds, the docs in step."""

from __future__ import annotations

import pathlib

import pytest

from bench import eta_accuracy

# The ETA section of the resource page shows the study's table.
RESOURCES = pathlib.Path(__file__).resolve().parents[3] / "docs" / "resources.md"
MEETS_GOAL = (
    "linear",
    "queued 45 min at 0%",
    "uneven steps (2 to 12 points)",
    "first seen half-way",
)
CURVES = {curve.name: curve for curve in eta_accuracy.CURVES}


@pytest.mark.parametrize("name", MEETS_GOAL)
@pytest.mark.parametrize("interval", [60.0, 300.0])
def test_the_goal_holds_once_a_quarter_is_done(name: str, interval: float) -> None:
    bands = eta_accuracy.study(CURVES[name], interval)
    for band, seen in bands.items():
        assert seen.met, (name, band, seen)
    assert sum(seen.samples for seen in bands.values()) > 0


def test_a_rate_that_changes_ahead_is_where_it_misses() -> None:
    # No estimate from the past knows a change to come: docs/resources.md says so.
    missed = {c.name for c in eta_accuracy.CURVES if not _met(c)}
    assert missed == set(CURVES) - set(MEETS_GOAL)
    for name in missed:
        assert "slowing" in name or "speeding" in name


def test_the_docs_show_the_study_as_it_runs_today() -> None:
    text = RESOURCES.read_text(encoding="utf-8")
    for line in eta_accuracy.table().splitlines():
        assert line in text


def _met(curve: eta_accuracy.Curve) -> bool:
    return all(seen.met for seen in eta_accuracy.study(curve).values())
