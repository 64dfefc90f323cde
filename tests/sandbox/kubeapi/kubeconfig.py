"""A kubeconfig pointing at the emulator."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import yaml

NAME = "amistore-sandbox"


def write_kubeconfig(
    path: str | os.PathLike[str], url: str, token: str | None, namespace: str = "default"
) -> None:
    """Write a kubeconfig with cluster, context and user ``amistore-sandbox``."""
    user: dict[str, Any] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": {"server": url}}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}
        ],
        "current-context": NAME,
        "preferences": {},
    }
    pathlib.Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
