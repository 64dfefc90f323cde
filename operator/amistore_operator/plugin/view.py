"""Terminal output with rich: tables for ``list`` and ``status``, live bars for ``watch``,
for AmiStores and AmiRestores.

The only module that imports rich. What it shows comes from ``render`` (pure); this module
adds layout and colour. Without a terminal rich writes no colour or cursor codes.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from typing import IO, Any

from rich import console, live, table, text
from rich.console import Group, RenderableType

from amistore_operator.plugin import render, restorerender

STATE_STYLES = {
    "Completed": "green",
    "Available": "green",
    "InProgress": "cyan",
    "Restoring": "cyan",
    "Thawing": "blue",
    "Failed": "bold red",
    "Pending": "yellow",
    "Queued": "yellow",
    "Unknown": "dim",
}
Console = console.Console
PLAIN_WIDTH = 250  # no terminal: do not wrap lines at 80 columns


def make_console(*, no_color: bool, file: IO[str] | None = None) -> console.Console:
    """A console that honours ``--no-color`` and ``NO_COLOR``; wide lines without a terminal."""
    terminal = console.Console(file=file).is_terminal
    colorless = no_color or bool(os.environ.get("NO_COLOR"))
    return console.Console(
        file=file,
        highlight=False,
        emoji=False,
        color_system=None if colorless else "auto",
        width=None if terminal else PLAIN_WIDTH,
    )


def ascii_only(out: console.Console) -> bool:
    """Bars in ASCII where the output cannot encode block characters."""
    return not out.encoding.lower().startswith("utf")


def _table(*headers: str) -> table.Table:
    grid = table.Table(box=None, pad_edge=False, padding=(0, 3, 0, 0))
    grid.header_style = "bold"
    for header in headers:
        grid.add_column(header, no_wrap=header != "MESSAGE" and header != "REASON")
    return grid


def _state(value: str) -> text.Text:
    return text.Text(value, style=STATE_STYLES.get(value, ""))


def _bar(percent: int, state: str, ascii_bars: bool) -> text.Text:
    shown = text.Text(render.bar(percent, ascii_only=ascii_bars), style=STATE_STYLES.get(state, ""))
    return shown.append(f" {percent:>3}%", style="")


def list_table(
    rows: Sequence[render.ListRow], *, namespaces: bool, ascii_bars: bool
) -> table.Table:
    """``kubectl amistore list``."""
    headers = ["NAME", "STATE", "PROGRESS", "COMPLETED", "ETA", "SYNCED", "AGE"]
    grid = _table(*(["NAMESPACE", *headers] if namespaces else headers))
    for row in rows:
        cells: list[Any] = [row.name, _state(row.state), _bar(row.percent, row.state, ascii_bars)]
        cells += [row.done, row.eta, row.synced, row.age]
        grid.add_row(*([row.namespace, *cells] if namespaces else cells))
    return grid


def tasks_table(obj: render.Obj, now: datetime.datetime, ascii_bars: bool) -> table.Table:
    """One row per task: AMI, state, bar, ETA, failure reason (and the object once verified,
    the cleanup state with afterExport)."""
    rows = render.task_rows(obj, now)
    objects, cleanups = any(row.object for row in rows), any(row.cleanup for row in rows)
    extra = [*(["OBJECT"] if objects else []), *(["CLEANUP"] if cleanups else [])]
    grid = _table("AMI", "STATE", "PROGRESS", "ETA", *extra, "REASON")
    for row in rows:
        cells: list[Any] = [row.ami, _state(row.state), _bar(row.percent, row.state, ascii_bars)]
        cells += [row.eta, *([row.object] if objects else []), *([row.cleanup] if cleanups else [])]
        grid.add_row(*cells, text.Text(row.reason, style="red"))
    return grid


def summary_grid(obj: render.Obj, now: datetime.datetime) -> table.Table:
    """The headline fields, as ``kubectl describe`` lists them."""
    grid = table.Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in render.summary(obj, now):
        grid.add_row(f"{label}:", _state(value) if label == "State" else value)
    return grid


def restore_list_table(
    rows: Sequence[restorerender.RestoreRow], *, namespaces: bool, ascii_bars: bool
) -> table.Table:
    """The AmiRestores of ``kubectl amistore list``."""
    headers = ["NAME", "PHASE", "PROGRESS", "IMAGE", "SOURCE", "SYNCED", "AGE"]
    grid = _table(*(["NAMESPACE", *headers] if namespaces else headers))
    for row in rows:
        cells: list[Any] = [row.name, _state(row.phase), _bar(row.percent, row.phase, ascii_bars)]
        cells += [row.image or "-", row.source, row.synced, row.age]
        grid.add_row(*([row.namespace, *cells] if namespaces else cells))
    return grid


def restore_summary(obj: render.Obj, now: datetime.datetime, ascii_bars: bool) -> table.Table:
    """An AmiRestore's fields, with its progress as a bar."""
    grid = table.Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    phase = restorerender.phase(obj)
    for label, value in restorerender.summary(obj, now):
        shown: Any = value
        if label == "Phase":
            shown = _state(value)
        elif label == "Progress":
            shown = _bar(restorerender.percent(obj), phase, ascii_bars)
        elif label in ("Failure", "Not synced"):
            shown = text.Text(value, style="red" if label == "Failure" else "yellow")
        grid.add_row(f"{label}:", shown)
    return grid


def restore_status_view(
    obj: render.Obj, events: Sequence[render.Obj], now: datetime.datetime, ascii_bars: bool
) -> RenderableType:
    """``kubectl amistore status amirestore/NAME``: fields, conditions, last Events."""
    return Group(
        restore_summary(obj, now, ascii_bars), "", *_conditions_and_events(obj, events, now)
    )


def _conditions_and_events(
    obj: render.Obj, events: Sequence[render.Obj], now: datetime.datetime
) -> list[RenderableType]:
    conditions = _table("CONDITION", "STATUS", "REASON", "MESSAGE")
    for row in render.condition_rows(obj):
        conditions.add_row(*row)
    recent = _table("TYPE", "REASON", "AGE", "MESSAGE")
    for kind, reason, age, message in render.event_rows(events, now):
        recent.add_row(
            text.Text(kind, style="yellow" if kind == "Warning" else ""), reason, age, message
        )
    return [
        conditions,
        "",
        "Events:" if events else "Events: <none>",
        *([recent] if events else []),
    ]


def status_view(
    obj: render.Obj, events: Sequence[render.Obj], now: datetime.datetime, ascii_bars: bool
) -> RenderableType:
    """``kubectl amistore status``: summary, tasks, conditions, last Events."""
    parts: list[RenderableType] = [summary_grid(obj, now), "", tasks_table(obj, now, ascii_bars)]
    return Group(*parts, "", *_conditions_and_events(obj, events, now))


Screen = Callable[[render.Obj, datetime.datetime, bool], RenderableType]


def store_screen(obj: render.Obj, now: datetime.datetime, ascii_bars: bool) -> RenderableType:
    """An AmiStore's watch screen: summary and one bar per task."""
    return Group(summary_grid(obj, now), "", tasks_table(obj, now, ascii_bars))


class LiveView:
    """The watch's screen: summary and bars, redrawn on each change (ETAs tick every second)."""

    def __init__(
        self,
        out: console.Console,
        clock: Callable[[], datetime.datetime],
        screen: Screen = store_screen,
    ) -> None:
        self._out, self._clock, self._screen = out, clock, screen
        self._obj: render.Obj = {}
        self._live = live.Live(console=out, refresh_per_second=2, get_renderable=self._render)

    def _render(self) -> RenderableType:
        return self._screen(self._obj, self._clock(), ascii_only(self._out))

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def show(self, obj: render.Obj) -> None:
        """Draw this version of the resource now."""
        self._obj = obj
        self._live.refresh()
