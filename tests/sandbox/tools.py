"""Where the sandbox finds its external tools."""

from __future__ import annotations

import os
import pathlib
import shutil

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def kubectl_path() -> str:
    """``$KUBECTL``, else the one ``make install`` pins in ``.venv``, else ``kubectl`` on PATH.

    The pinned one is the real API server's minor version (kubectl supports one minor
    either side), whatever an older ``kubectl`` on PATH would say.
    """
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    pinned = REPO_ROOT / ".venv" / "bin" / "kubectl"
    if pinned.exists():
        return str(pinned)
    return shutil.which("kubectl") or str(pinned)
