"""What one poll is about: which AmiStore, what was last watched of it, its known tasks.

These are the values a kopf handler hands the service (``kube/handlers.py``
builds them from the watched body), so the service never sees kopf.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from amistore_operator.core import model, spec


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """Which AmiStore: the poller and the metrics key on namespace/name."""

    namespace: str
    name: str
    uid: str = ""  # tells a re-created object of the same name from the one we wrote to

    @property
    def key(self) -> str:
        """The poller's subscription key."""
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The resource as last watched: what one poll reads."""

    raw_spec: Mapping[str, Any] | None
    status: Mapping[str, Any] | None
    generation: int
    retry_requested: str | None = None  # the amistore.io/retry-requested-at annotation


class LazyTasks(Mapping[str, model.StoreTask]):
    """Known tasks by AMI, computed on first use (most polls never read them)."""

    def __init__(self, load: Callable[[], dict[str, model.StoreTask]]) -> None:
        self._load: Callable[[], dict[str, model.StoreTask]] | None = load
        self._data: dict[str, model.StoreTask] = {}

    def _get(self) -> dict[str, model.StoreTask]:
        if self._load is not None:
            self._data, self._load = self._load(), None
        return self._data

    def __getitem__(self, key: str) -> model.StoreTask:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def region_named(raw_spec: Mapping[str, Any] | None, default: str) -> str:
    """The region a spec names, even one rejected for another reason; else ``default``."""
    region = raw_spec.get("region") if isinstance(raw_spec, Mapping) else None
    if isinstance(region, str) and spec.is_valid_region(region):
        return region
    return default
