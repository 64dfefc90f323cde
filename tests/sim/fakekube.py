"""A fake API server for the simulation: AmiStores (or AmiRestores), status writes, watch lag.

Status writes are JSON merge patches of ``/status``, checked against the CRD's
status schema (an invalid one is refused with 422, as kube-apiserver does).
Faults: writes refused (409, 5xx) or lost after they were stored (a timeout),
and watch events that arrive late: what the operator reads of a resource is
the version stored ``lag`` seconds ago.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import random
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from amistore_operator.kube import daemon

from tests.sandbox.kubeapi import patch, schema

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
CRD = CRDS / "amistores.amistore.io.yaml"
RESTORE_CRD = CRDS / "amirestores.amistore.io.yaml"


@functools.cache
def status_schema(crd_file: pathlib.Path = CRD) -> Any:
    """The CRD's schema of ``status``."""
    crd = yaml.safe_load(crd_file.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


@dataclasses.dataclass
class Version:
    """One stored version of an AmiStore."""

    t: float
    generation: int
    spec: dict[str, Any]
    annotations: dict[str, str]
    status: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Write:
    """One status write the operator made."""

    t: float
    key: str
    status: dict[str, Any]
    outcome: str  # stored | refused | lost (stored, but the caller saw a timeout) | invalid
    unchanged: bool  # its content equals the status stored before it
    errors: tuple[str, ...] = ()
    result: dict[str, Any] | None = None  # the status stored after it (stored, lost)


@dataclasses.dataclass
class WriteFaults:
    """Windows (virtual seconds) in which status writes fail."""

    refused: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    lost: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    rate: float = 0.5


class FakeApiServer:
    """The AmiStores of the simulated cluster and their history."""

    def __init__(
        self, *, now: Callable[[], float], rng: random.Random, crd: pathlib.Path = CRD
    ) -> None:
        self.crd = crd
        self.now = now
        self.rng = rng
        self.objects: dict[str, list[Version]] = {}
        self.uids: dict[str, str] = {}
        self.writes: list[Write] = []
        self.lag: Callable[[], float] = lambda: 0.0
        self.faults = WriteFaults()
        self.on_event: Callable[[str], None] = lambda key: None

    def create(self, key: str, spec: Mapping[str, Any]) -> None:
        """A new AmiStore."""
        self.uids[key] = f"uid-{len(self.uids)}"
        self._store(key, Version(self.now(), 1, dict(spec), {}, None))

    def edit(self, key: str, spec: Mapping[str, Any]) -> None:
        """A spec edit (a new generation)."""
        last = self.current(key)
        self._store(
            key,
            dataclasses.replace(
                last, t=self.now(), generation=last.generation + 1, spec=dict(spec)
            ),
        )

    def annotate(self, key: str, name: str, value: str) -> None:
        """A metadata change (no new generation)."""
        last = self.current(key)
        annotations = {**last.annotations, name: value}
        self._store(key, dataclasses.replace(last, t=self.now(), annotations=annotations))

    def current(self, key: str) -> Version:
        """The version stored now."""
        return self.objects[key][-1]

    def watched(self, key: str, lag: float) -> Version:
        """What a watcher ``lag`` seconds behind has seen."""
        cutoff = self.now() - lag
        versions = self.objects[key]
        for version in reversed(versions):
            if version.t <= cutoff:
                return version
        return versions[0]

    def _store(self, key: str, version: Version) -> None:
        self.objects.setdefault(key, []).append(version)
        self.on_event(key)

    def _in(self, windows: list[tuple[float, float]]) -> bool:
        now = self.now()
        return any(a <= now < b for a, b in windows) and self.rng.random() < self.faults.rate

    async def write_status(self, key: str, status: Mapping[str, Any]) -> bool:
        """The operator's merge patch of ``/status``."""
        last = self.current(key)
        new = patch.merge_patch(last.status or {}, dict(status))
        unchanged = new == (last.status or {})
        found = schema.validate(new, status_schema(self.crd))
        if found:
            problems = tuple(e.text() for e in found)
            self.writes.append(Write(self.now(), key, dict(status), "invalid", unchanged, problems))
            raise daemon.WriteRefusedError(f"422 Unprocessable Entity: {problems[0]}")
        if self._in(self.faults.refused):
            self.writes.append(Write(self.now(), key, dict(status), "refused", unchanged))
            raise daemon.WriteRefusedError("409 Conflict")
        lost = self._in(self.faults.lost)
        self.writes.append(
            Write(self.now(), key, dict(status), "lost" if lost else "stored", unchanged, (), new)
        )
        self._store(key, dataclasses.replace(last, t=self.now(), status=new))
        if lost:
            raise daemon.WriteRefusedError("no answer from the API server: timeout", ambiguous=True)
        return True
