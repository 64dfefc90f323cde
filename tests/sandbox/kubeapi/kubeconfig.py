"""A kubeconfig pointing at the emulator (or the real API server of ``make realkube``)."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import yaml

NAME = "amistore-sandbox"


def write_kubeconfig(
    path: str | os.PathLike[str],
    url: str,
    token: str | None,
    namespace: str = "default",
    *,
    ca_file: str | os.PathLike[str] | None = None,
) -> None:
    """Write a kubeconfig with cluster, context and user ``amistore-sandbox``.

    ``ca_file``: the CA bundle that signs an HTTPS server's certificate.
    """
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}
        ],
        "current-context": NAME,
        "preferences": {},
    }
    pathlib.Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
