"""``kubectl amistore watch``: follow one AmiStore or AmiRestore through watch events until
it ends (``restore --wait`` too).

The loop updates on the API's watch events (no polling); each stream lasts at most
``WINDOW`` seconds or the time left, then resumes from the last resourceVersion.
A stream the server ends within a second with no change (a refused or dropped
watch, client-go's "very short watch") is followed by a wait, 0.8 s doubling to
30 s as client-go's reflector backs off, reset by a stream that brings a change.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Iterator
from typing import IO, Protocol

from amistore_operator.plugin import cluster, errors, kinds, render, verdict

WINDOW = 300  # seconds per watch request; a longer wait is several requests
SHORT_WATCH = 1.0  # a stream that ends sooner with no change was cut short, not quiet
FIRST_WAIT, MAX_WAIT = 0.8, 30.0  # seconds after a short watch, doubling (client-go's)


class Display(Protocol):
    """Where each observed version of the resource goes."""

    def show(self, obj: render.Obj) -> None: ...


Lines = Callable[[render.Obj, datetime.datetime], list[str]]
Reader = Callable[[cluster.Cluster, str, str], tuple[render.Obj, str]]
Watcher = Callable[[cluster.Cluster, str, str, str, int], Iterator[tuple[str, render.Obj]]]


class PlainLines:
    """No terminal: print the lines that changed since the last version, for CI logs."""

    def __init__(
        self,
        out: IO[str],
        clock: Callable[[], datetime.datetime],
        lines: Lines = render.plain_lines,
    ) -> None:
        self._out, self._clock, self._last, self._lines = out, clock, [""], lines

    def show(self, obj: render.Obj) -> None:
        """Print the summary line if it changed, and each detail line that changed."""
        stamp = self._clock().strftime("%H:%M:%S")
        lines = self._lines(obj, self._clock())
        previous = set(self._last)
        if lines[0] != self._last[0] or any(line not in previous for line in lines[1:]):
            print(f"{stamp} {lines[0]}", file=self._out)
        for line in lines[1:]:
            if line not in previous:
                print(f"{stamp} {line}", file=self._out)
        self._out.flush()
        self._last = lines


def _calls(kind: kinds.Kind) -> tuple[Reader, Watcher]:
    """The cluster's read and watch of one kind, looked up at each follow (tests replace them)."""
    if kind == kinds.AMIRESTORE:
        return cluster.get_amirestore, cluster.watch_amirestore
    return cluster.get_amistore, cluster.watch_amistore


def follow(
    api: cluster.Cluster,
    namespace: str,
    name: str,
    display: Display,
    timeout: float | None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    kind: kinds.Kind = kinds.AMISTORE,
) -> tuple[verdict.Verdict | None, render.Obj]:
    """The verdict that ended the watch and the last version seen; None when time ran out."""
    deadline = None if timeout is None else monotonic() + timeout
    get, changes = _calls(kind)
    judge = verdict.judge_for(kind)
    obj, version = get(api, namespace, name)
    display.show(obj)
    wait, due = FIRST_WAIT, 0.0
    while True:
        judged = judge(obj)
        if judged in verdict.EXIT_CODES:
            return judged, obj
        left = WINDOW if deadline is None else deadline - monotonic()
        if left <= 0:
            return None, obj
        if due:
            sleep(min(due, left))  # never past the deadline
            due = 0.0
            continue
        started, changed = monotonic(), False
        try:
            seconds = max(1, math.ceil(min(left, WINDOW)))
            for event, new in changes(api, namespace, name, version, seconds):
                if event == "DELETED":
                    raise errors.PluginError(f'{kind.singular} "{name}" was deleted while watching')
                if event in ("ADDED", "MODIFIED"):
                    changed = True
                    obj, version = new, str(new["metadata"].get("resourceVersion", version))
                    display.show(obj)
                    if judge(obj) in verdict.EXIT_CODES:
                        break
                if deadline is not None and monotonic() >= deadline:
                    break
        except errors.WatchExpiredError:
            obj, version = get(api, namespace, name)
            display.show(obj)
        if changed or monotonic() - started >= SHORT_WATCH:
            wait = FIRST_WAIT
        else:  # the server ends watches at once: back off, or this loop floods it
            due, wait = wait, min(2 * wait, MAX_WAIT)
