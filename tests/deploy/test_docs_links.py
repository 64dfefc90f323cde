"""The docs' links: every relative link and every URL into the repository reaches a heading."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy import markdown, tools

DOCS = [
    tools.REPO / "README.md",
    tools.REPO / "CONTRIBUTING.md",
    tools.REPO / "bench" / "README.md",
    *sorted((tools.REPO / "docs").glob("*.md")),
]


def text_files() -> list[Path]:
    """The repository's files that git tracks or would track, binary ones left out."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=tools.REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = [tools.REPO / name for name in listed.split("\0") if name]
    return [path for path in paths if path.is_file() and b"\0" not in path.read_bytes()]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(tools.REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = [
        f"{target}: {why}"
        for target in markdown.links(doc)
        if (why := markdown.problem(doc, target)) is not None
    ]
    assert not broken, f"broken links in {doc.relative_to(tools.REPO)}:\n" + "\n".join(broken)


def test_urls_into_the_repository_resolve() -> None:
    broken = []
    for path in text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for why in markdown.repo_url_problems(text):
            broken.append(f"{path.relative_to(tools.REPO)}: {why}")
    assert not broken, "broken URLs:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page() -> None:
    readme = tools.REPO / "README.md"
    linked = {target.partition("#")[0] for target in markdown.links(readme)}
    pages = {str(page.relative_to(tools.REPO)) for page in DOCS[3:]}
    assert pages, "no docs/*.md"
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


def test_anchors_follow_githubs_rules(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Estimated completion (ETA)\n"
        "## Runbook: AmiStoreTaskFailed\n"
        "```sh\n# not a heading\n```\n"
        "## `kubectl amistore` and snake_case\n"
        "## Status\n### Status\n## Status ##\n"
    )
    assert markdown.anchors(page) == {
        "estimated-completion-eta",
        "runbook-amistoretaskfailed",
        "kubectl-amistore-and-snake_case",
        "status",
        "status-1",
        "status-2",
    }
