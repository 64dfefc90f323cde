"""Security and style scanners on the rendered manifests and the Dockerfile: all clean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import tools

CHECKOV_CONFIG = tools.REPO / ".checkov.yaml"
DOCKERFILE = tools.REPO / "Dockerfile"


def checkov(target: list[str], framework: str) -> tuple[int, int]:
    """Run checkov with the repo's config; returns (passed, failed) after asserting success."""
    result = tools.run(
        [
            tools.tool("checkov"),
            "--config-file",
            str(CHECKOV_CONFIG),
            "--framework",
            framework,
            *target,
        ]
    )
    output = result.stdout + result.stderr
    counts = re.search(r"Passed checks: (\d+), Failed checks: (\d+)", output)
    assert counts, output
    assert result.returncode == 0, output
    return int(counts[1]), int(counts[2])


def test_checkov_kubernetes_is_clean(
    base_objects: list[dict[str, Any]], overlay_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump_all(base_objects))
    (tmp_path / "namespaced.yaml").write_text(yaml.safe_dump_all(overlay_objects))
    passed, failed = checkov(["--directory", str(tmp_path)], "kubernetes")
    assert failed == 0
    assert passed > 100  # both renders were scanned


def test_checkov_dockerfile_is_clean() -> None:
    passed, failed = checkov(["--file", str(DOCKERFILE)], "dockerfile")
    assert failed == 0
    assert passed > 0


def test_checkov_skips_name_their_reason() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    source = CHECKOV_CONFIG.read_text()
    for check in config.get("skip-check", []):
        assert re.search(rf"^  # {check} \S.*\n(  # .*\n)*  - {check}$", source, re.M), check


def test_hadolint_is_clean() -> None:
    config = tools.REPO / ".hadolint.yaml"
    result = tools.run([tools.tool("hadolint"), "--config", str(config), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_shape() -> None:
    """Multi-stage, pinned base tag, numeric non-root user, the operator as entrypoint."""
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base) for base in bases)
    assert "COPY --from=builder /opt/amistore /opt/amistore" in lines
    assert [line for line in lines if line.startswith("USER ")] == ["USER 65532:65532"]
    assert lines[-1] == 'ENTRYPOINT ["amistore-operator"]'
    assert "HEALTHCHECK NONE" in lines
    assert any("--no-cache-dir" in line for line in lines)
