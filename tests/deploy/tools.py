"""Locating the check tools and rendering the kustomizations for the deploy checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CRDS = REPO / "crds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOOLS_VENV = REPO / ".venv-tools"
INSTALL_HINT = "run scripts/install-check-tools.sh first"


def tool(name: str) -> str:
    """Path of a check tool: .venv-tools/bin first, then PATH; fails the test if missing."""
    candidate = TOOLS_VENV / "bin" / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: {INSTALL_HINT}", pytrace=False)
    return found


def kubectl() -> str:
    """The kubectl to render with: $KUBECTL, else the one on PATH (or in .venv/bin)."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(REPO / ".venv" / "bin"))
    if found is None:
        pytest.fail(
            "kubectl not found: put it on PATH or set KUBECTL (make install)", pytrace=False
        )
    return found


def run(
    args: list[str], *, cwd: Path = REPO, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def kustomize(root: Path, path: str) -> list[dict[str, Any]]:
    """`kubectl kustomize root/path` parsed into its objects; fails the test on error."""
    result = run([kubectl(), "kustomize", str(root / path)])
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of this kind (and name); fails if there is not exactly one."""
    matches = [
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]
