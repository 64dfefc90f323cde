"""Where the sandbox finds its external tools."""

from __future__ import annotations

import os
import pathlib
import shutil

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def kubectl_path() -> str:
    """``$KUBECTL``, else ``kubectl`` on PATH, else the one installed in ``.venv``."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    found = shutil.which("kubectl")
    if found:
        return found
    return str(REPO_ROOT / ".venv" / "bin" / "kubectl")
